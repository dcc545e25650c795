# tools/kvm-check/local.mk - kemari-kvm-check, the KVM host check, and
# kvm-patches/ (the upstream KVM selftest and its documentation)

sbin_PROGRAMS += tools/kvm-check/kemari-kvm-check
tools_kvm_check_kemari_kvm_check_SOURCES = \
	tools/kvm-check/main.c \
	tools/kvm-check/probe.c tools/kvm-check/probe.h \
	tools/kvm-check/guest.c tools/kvm-check/guest.h \
	tools/kvm-check/verdict.c tools/kvm-check/verdict.h \
	tools/kvm-check/report.c tools/kvm-check/report.h
tools_kvm_check_kemari_kvm_check_LDADD = common/libkemari-common.a

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-kvm-check
UNIT_TESTS += tests/unit/test-kvm-check
tests_unit_test_kvm_check_SOURCES = \
	tests/unit/test-kvm-check.c \
	tools/kvm-check/verdict.c tools/kvm-check/verdict.h \
	tools/kvm-check/report.c tools/kvm-check/report.h \
	tools/kvm-check/guest.c tools/kvm-check/guest.h
tests_unit_test_kvm_check_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kvm_check_LDADD = $(CMOCKA_LIBS)
endif

INTEGRATION_TESTS += tests/integration/kvm-check.sh

EXTRA_DIST += \
	tests/integration/kvm-check.sh \
	kvm-patches/README.md \
	kvm-patches/BASE \
	kvm-patches/series \
	kvm-patches/check-selftest.sh \
	kvm-patches/0000-cover-letter.patch \
	kvm-patches/0001-KVM-selftests-Add-a-test-for-completion-of-userspace.patch
