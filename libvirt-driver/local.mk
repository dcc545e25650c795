# libvirt-driver/local.mk - the libvirt integration: the <kemari> metadata
# library (libkemarixml.a, the only user of libxml2), the QEMU hook, their
# unit tests and fuzz harness.  Paths are relative to the top of the tree.
# Uses KEMARID_* from daemon/local.mk.

LIBVIRT_DRIVER_CFLAGS = $(KEMARID_CFLAGS) $(LIBXML_CFLAGS)
LIBVIRT_DRIVER_CPPFLAGS = $(KEMARID_CPPFLAGS) \
	-I$(top_srcdir)/libvirt-driver
LIBVIRT_DRIVER_LIBS = libvirt-driver/libkemarixml.a $(KEMARID_LIBS) \
	$(LIBXML_LIBS)

noinst_LIBRARIES += libvirt-driver/libkemarixml.a
libvirt_driver_libkemarixml_a_SOURCES = \
	libvirt-driver/kemarixml.c libvirt-driver/kemarixml.h
libvirt_driver_libkemarixml_a_CPPFLAGS = $(LIBVIRT_DRIVER_CPPFLAGS)
libvirt_driver_libkemarixml_a_CFLAGS = $(LIBVIRT_DRIVER_CFLAGS)

# The hook.  Built as kemari-hook, installed as hooks/qemu.d/kemari.
noinst_PROGRAMS += libvirt-driver/kemari-hook
libvirt_driver_kemari_hook_SOURCES = libvirt-driver/hook.c
libvirt_driver_kemari_hook_CPPFLAGS = $(LIBVIRT_DRIVER_CPPFLAGS)
libvirt_driver_kemari_hook_CFLAGS = $(LIBVIRT_DRIVER_CFLAGS)
libvirt_driver_kemari_hook_LDADD = $(LIBVIRT_DRIVER_LIBS)

install-exec-hook: install-kemari-hook
uninstall-hook: uninstall-kemari-hook
install-kemari-hook: libvirt-driver/kemari-hook$(EXEEXT)
	$(MKDIR_P) '$(DESTDIR)$(libvirthookdir)'
	$(INSTALL_PROGRAM) libvirt-driver/kemari-hook$(EXEEXT) \
	    '$(DESTDIR)$(libvirthookdir)/kemari'
uninstall-kemari-hook:
	rm -f '$(DESTDIR)$(libvirthookdir)/kemari'
.PHONY: install-kemari-hook uninstall-kemari-hook

# The schema and the documented example ship with the docs.
kemarixmldir = $(datadir)/kemari/libvirt
dist_kemarixml_DATA = libvirt-driver/kemari.rng \
	libvirt-driver/examples/protected-domain.xml
EXTRA_DIST += libvirt-driver/README.md \
	tests/unit/golden/kemarixml-errors.out \
	tests/unit/golden/kemari-hook-domains.out \
	tests/unit/hook-domains

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-kemarixml
UNIT_TESTS += tests/unit/test-kemarixml
tests_unit_test_kemarixml_SOURCES = tests/unit/test-kemarixml.c \
	tests/unit/golden-file.c tests/unit/golden-file.h
tests_unit_test_kemarixml_CPPFLAGS = $(LIBVIRT_DRIVER_CPPFLAGS) \
	-DKEMARI_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_kemarixml_CFLAGS = $(LIBVIRT_DRIVER_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kemarixml_LDADD = $(LIBVIRT_DRIVER_LIBS) $(CMOCKA_LIBS)

# Runs the built hook as libvirt does: argv, the domain XML on stdin.
check_PROGRAMS += tests/unit/test-kemari-hook
UNIT_TESTS += tests/unit/test-kemari-hook
tests_unit_test_kemari_hook_SOURCES = tests/unit/test-kemari-hook.c \
	tests/unit/golden-file.c tests/unit/golden-file.h
tests_unit_test_kemari_hook_CPPFLAGS = $(LIBVIRT_DRIVER_CPPFLAGS) \
	-DKEMARI_TOP_SRCDIR='"$(abs_top_srcdir)"' \
	-DKEMARI_HOOK='"$(abs_top_builddir)/libvirt-driver/kemari-hook$(EXEEXT)"'
tests_unit_test_kemari_hook_CFLAGS = $(LIBVIRT_DRIVER_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kemari_hook_LDADD = $(LIBVIRT_DRIVER_LIBS) $(CMOCKA_LIBS)
EXTRA_tests_unit_test_kemari_hook_DEPENDENCIES = \
	libvirt-driver/kemari-hook$(EXEEXT)
endif

# The example domain passes libvirt's schema (virt-xml-validate) and its
# <kemari> ours (xmllint --relaxng); skips when the tools are missing.
UNIT_TESTS += tests/unit/check-libvirt-xml.sh
EXTRA_DIST += tests/unit/check-libvirt-xml.sh

# The XML parser's fuzz harness (run-fuzz.sh builds it with clang); its
# replay program feeds it the checked-in corpus.
check_PROGRAMS += tests/fuzz/replay-kemarixml
UNIT_TESTS += tests/fuzz/replay-kemarixml
tests_fuzz_replay_kemarixml_SOURCES = tests/fuzz/replay.c \
	tests/fuzz/fuzz-kemarixml.c
tests_fuzz_replay_kemarixml_CPPFLAGS = $(LIBVIRT_DRIVER_CPPFLAGS) \
	-I$(top_srcdir)/tests/fuzz -DKEMARI_TOP_SRCDIR='"$(abs_top_srcdir)"' \
	-DFUZZ_NAME='"kemarixml"'
tests_fuzz_replay_kemarixml_CFLAGS = $(LIBVIRT_DRIVER_CFLAGS)
tests_fuzz_replay_kemarixml_LDADD = $(LIBVIRT_DRIVER_LIBS)

# One libvirtd per simulated node (tests/lib/libvirt.sh), proven with the
# test guest under a real libvirtd.
INTEGRATION_TESTS += tests/integration/libvirt-nodes.sh
EXTRA_DIST += tests/lib/libvirt.sh

# kemarid's libvirt backend with real libvirtd, hook and corosync.
INTEGRATION_TESTS += tests/integration/kemarid-libvirt.sh

# The virsh front: kemari-start/-stop/-status/-failover, everything else
# to the system's virsh.  Opt in: PATH=$(pkglibexecdir)/bin:$PATH.
EXTRA_DIST += libvirt-driver/virsh-kemari
install-exec-hook: install-virsh-front
uninstall-hook: uninstall-virsh-front
install-virsh-front:
	$(MKDIR_P) '$(DESTDIR)$(pkglibexecdir)/bin'
	$(INSTALL_SCRIPT) $(srcdir)/libvirt-driver/virsh-kemari \
	    '$(DESTDIR)$(pkglibexecdir)/bin/virsh'
uninstall-virsh-front:
	rm -f '$(DESTDIR)$(pkglibexecdir)/bin/virsh'
.PHONY: install-virsh-front uninstall-virsh-front
UNIT_TESTS += tests/unit/check-virsh-front.sh
EXTRA_DIST += tests/unit/check-virsh-front.sh
