# doc/local.mk
EXTRA_DIST += doc/README.md doc/engine.md daemon/README.md \
	libvirt-driver/README.md \
	ocf-agents/README.md
