/*
 * test-log.c - the logging API: levels, strerror, the per-VM prefix.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"

static char last[2048];
static enum log_level last_level;
static int count;

static void
capture(enum log_level level, const char *msg, void *opaque)
{
    (void)opaque;
    snprintf(last, sizeof(last), "%s", msg);
    last_level = level;
    count++;
}

static int
setup(void **state)
{
    (void)state;
    log_init("test-log", 1, LOG_LEVEL_INFO);
    log_set_sink(capture, NULL);
    last[0] = '\0';
    count = 0;
    return 0;
}

static void
test_levels(void **state)
{
    (void)state;
    log_info("hello %d", 42);
    assert_string_equal(last, "hello 42");
    assert_int_equal(last_level, LOG_LEVEL_INFO);
    log_debug("hidden");
    assert_int_equal(count, 1);
    log_set_verbosity(LOG_LEVEL_DEBUG);
    log_debug("shown");
    assert_string_equal(last, "shown");
    assert_int_equal(count, 2);
}

static void
test_warn_appends_strerror_and_keeps_errno(void **state)
{
    (void)state;
    errno = ENOENT;
    log_warn("open %s", "x");
    assert_string_equal(last, "open x: No such file or directory");
    assert_int_equal(last_level, LOG_LEVEL_ERR);
    assert_int_equal(errno, ENOENT);
    log_warnx("plain");
    assert_string_equal(last, "plain");
}

static void
test_vm_prefix(void **state)
{
    (void)state;
    vm_log_info("web1", "state %s -> %s", "SYNCING", "PROTECTED");
    assert_string_equal(last, "vm=web1: state SYNCING -> PROTECTED");
    vm_log_warnx("db", "lost");
    assert_string_equal(last, "vm=db: lost");
}

static void
test_long_message_truncated_not_overflowed(void **state)
{
    char big[4096];

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_info("%s", big);
    assert_true(strlen(last) < sizeof(big));
    assert_true(strlen(last) > 500);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_levels, setup),
        cmocka_unit_test_setup(test_warn_appends_strerror_and_keeps_errno,
                               setup),
        cmocka_unit_test_setup(test_vm_prefix, setup),
        cmocka_unit_test_setup(test_long_message_truncated_not_overflowed,
                               setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
