# doc/local.mk
EXTRA_DIST += doc/README.md daemon/README.md libvirt-driver/README.md \
	ocf-agents/README.md
