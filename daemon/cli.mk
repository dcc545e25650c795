# daemon/cli.mk - kemari(1), the command line tool talking to kemarid's
# control socket, its unit test and the man pages of the daemon side.
# Uses KEMARID_* from daemon/local.mk.

bin_PROGRAMS += daemon/kemari
daemon_kemari_SOURCES = daemon/kemari.c \
	daemon/cli-conn.c daemon/cli-conn.h \
	daemon/cli-table.c daemon/cli-table.h
daemon_kemari_CPPFLAGS = $(KEMARID_CPPFLAGS)
daemon_kemari_CFLAGS = $(KEMARID_CFLAGS)
daemon_kemari_LDADD = $(KEMARID_LIBS)

dist_man_MANS = doc/kemari.1 doc/kemari.conf.5 doc/kemarid.8

if HAVE_CMOCKA
# Runs the built kemari against a fake kemarid (a thread serving a UNIX
# socket with scripted replies).
check_PROGRAMS += tests/unit/test-kemari-cli
UNIT_TESTS += tests/unit/test-kemari-cli
tests_unit_test_kemari_cli_SOURCES = tests/unit/test-kemari-cli.c
tests_unit_test_kemari_cli_CPPFLAGS = $(KEMARID_CPPFLAGS) \
	-DKEMARI_CLI='"$(abs_top_builddir)/daemon/kemari$(EXEEXT)"'
tests_unit_test_kemari_cli_CFLAGS = $(KEMARID_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kemari_cli_LDADD = $(KEMARID_LIBS) $(CMOCKA_LIBS)
EXTRA_tests_unit_test_kemari_cli_DEPENDENCIES = daemon/kemari$(EXEEXT)
endif

# The man pages pass groff's and man's checks.
UNIT_TESTS += tests/unit/check-man-pages.sh
EXTRA_DIST += tests/unit/check-man-pages.sh
