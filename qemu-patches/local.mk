# qemu-patches/local.mk - the Kemari QEMU: Debian's QEMU plus our series.
#
# build-qemu.sh does the work and caches the binary outside the clone
# (in $(kemaricachedir)/qemu/KEY), so this rule costs a hash when nothing
# changed.  The build tree gets qemu/qemu-system-x86_64 as a link to the
# cached binary; `make install` installs it as
# $(pkglibexecdir)/qemu-system-x86_64, beside and never instead of the
# distribution's QEMU.

EXTRA_DIST += qemu-patches/BASE qemu-patches/series \
	qemu-patches/build-qemu.sh qemu-patches/dev-tree.sh \
	qemu-patches/configure-flags

# The patches themselves: whatever `series` names.
dist-hook: dist-qemu-patches
dist-qemu-patches:
	@for p in $$(sed -e 's/#.*//' -e '/^[[:space:]]*$$/d' \
	        $(srcdir)/qemu-patches/series); do \
	    cp -p $(srcdir)/qemu-patches/$$p $(distdir)/qemu-patches/ || exit 1; \
	done
.PHONY: dist-qemu-patches

kemari_qemu = qemu/qemu-system-x86_64

# Always asks build-qemu.sh: it knows from the hash whether to rebuild.
kemari-qemu:
	@$(MKDIR_P) qemu
	@bin=$$(KEMARI_CACHE='$(kemaricachedir)' \
	    $(SHELL) $(srcdir)/qemu-patches/build-qemu.sh | tail -n 1) && \
	  test -x "$$bin" && ln -sf "$$bin" $(kemari_qemu) && \
	  ln -sf "$$(dirname "$$bin")/migration-test" qemu/migration-test && \
	  ln -sf "$$(dirname "$$bin")/test-kemari-wire" qemu/test-kemari-wire
.PHONY: kemari-qemu

if BUILD_QEMU
all-local: kemari-qemu

install-exec-local: kemari-qemu
	$(MKDIR_P) '$(DESTDIR)$(pkglibexecdir)'
	$(INSTALL_PROGRAM) $(kemari_qemu) \
	    '$(DESTDIR)$(pkglibexecdir)/qemu-system-x86_64'

uninstall-local:
	rm -f '$(DESTDIR)$(pkglibexecdir)/qemu-system-x86_64'
endif

CLEANFILES += $(kemari_qemu) qemu/migration-test
