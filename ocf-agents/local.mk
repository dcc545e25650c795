# ocf-agents/local.mk - the Pacemaker OCF resource agent
# ocf:kemari:KemariDomain (installed under $(ocfrootdir), which configure's
# --with-ocf-root sets and distcheck redirects), its admin guide and its
# offline tests (no root, no daemons: fakes and crm_simulate).

ocfkemaridir = $(ocfrootdir)/resource.d/kemari
dist_ocfkemari_SCRIPTS = ocf-agents/KemariDomain
dist_doc_DATA += doc/pacemaker.md

# meta-data against the OCF 1.0 DTD and 1.1 schema; every action against
# fake kemari/virsh/crm_attribute; the promotion rules in crm_simulate
OCF_UNIT_TESTS = tests/unit/check-ocf-metadata.sh \
	tests/unit/check-ocf-actions.sh \
	tests/unit/check-ocf-promotion.sh
UNIT_TESTS += $(OCF_UNIT_TESTS)
EXTRA_DIST += $(OCF_UNIT_TESTS) \
	tests/unit/ocf/fake-kemari.sh tests/unit/ocf/fake-virsh.sh \
	tests/unit/ocf/fake-crm_attribute.sh tests/unit/ocf/make-cibs.sh \
	tests/unit/ocf/fresh.xml tests/unit/ocf/running.xml \
	tests/unit/ocf/lost-insync.xml tests/unit/ocf/lost-stale.xml

# ocf-tester on the agent against live corosync, libvirtd and kemarid
INTEGRATION_TESTS += tests/integration/ocf-tester.sh
