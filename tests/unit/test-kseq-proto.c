/*
 * test-kseq-proto.c - the workload's record codec and sequence checker.
 * The checker is the oracle of every failover test, so it is tested here
 * against the cases those tests rely on: gaps, replays, rewritten numbers.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kseq-proto.h"

static struct kseq_rec
rec(uint64_t seq, uint8_t fill)
{
    struct kseq_rec r;

    memset(&r, 0, sizeof(r));
    r.kind = KSEQ_KIND_UDP;
    r.seq = seq;
    r.stream = 0x1122334455667788ull;
    memset(r.payload, fill, sizeof(r.payload));
    r.payload[0] = (uint8_t)seq;
    return r;
}

static void
test_roundtrip(void **state)
{
    struct kseq_rec in = rec(0x0102030405060708ull, 0xab), out;
    uint8_t buf[KSEQ_REC_SIZE];

    (void)state;
    kseq_encode(&in, buf);
    /* the layout is the documented one */
    assert_memory_equal(buf, "KSQ1", 4);
    assert_int_equal(buf[4], KSEQ_KIND_UDP);
    assert_int_equal(buf[5], KSEQ_VERSION);
    assert_int_equal(buf[8], 0x01);
    assert_int_equal(buf[15], 0x08);
    assert_int_equal(buf[16], 0x11);
    assert_int_equal(kseq_decode(buf, sizeof(buf), &out), KSEQ_OK);
    assert_int_equal(out.kind, in.kind);
    assert_true(out.seq == in.seq);
    assert_true(out.stream == in.stream);
    assert_memory_equal(out.payload, in.payload, KSEQ_PAYLOAD_SIZE);
}

static void
test_crc_known_value(void **state)
{
    (void)state;
    /* the IEEE CRC-32 check value */
    assert_int_equal(kseq_crc32((const uint8_t *)"123456789", 9),
                     0xcbf43926u);
}

/* Every single flipped bit in a record is caught. */
static void
test_every_bitflip_rejected(void **state)
{
    struct kseq_rec in = rec(42, 0x5a), out;
    uint8_t buf[KSEQ_REC_SIZE];
    size_t i;
    int bit;

    (void)state;
    for (i = 0; i < KSEQ_REC_SIZE; i++) {
        for (bit = 0; bit < 8; bit++) {
            kseq_encode(&in, buf);
            buf[i] ^= (uint8_t)(1u << bit);
            assert_int_not_equal(kseq_decode(buf, sizeof(buf), &out),
                                 KSEQ_OK);
        }
    }
}

/* Well-formed checksum but bad fields: each gets its own error. */
static void
test_field_errors(void **state)
{
    struct kseq_rec in = rec(1, 1), out;
    uint8_t buf[KSEQ_REC_SIZE];
    uint32_t crc;

    (void)state;
    kseq_encode(&in, buf);
    assert_int_equal(kseq_decode(buf, KSEQ_REC_SIZE - 1, &out),
                     KSEQ_ERR_SHORT);
    assert_int_equal(kseq_decode(buf, 0, &out), KSEQ_ERR_SHORT);

#define RESEAL()                                                         \
    do {                                                                 \
        crc = kseq_crc32(buf, 56);                                       \
        buf[56] = crc >> 24; buf[57] = crc >> 16;                        \
        buf[58] = crc >> 8; buf[59] = crc;                               \
    } while (0)

    kseq_encode(&in, buf);
    buf[5] = KSEQ_VERSION + 1;
    RESEAL();
    assert_int_equal(kseq_decode(buf, sizeof(buf), &out), KSEQ_ERR_VERSION);

    kseq_encode(&in, buf);
    buf[4] = 0;
    RESEAL();
    assert_int_equal(kseq_decode(buf, sizeof(buf), &out), KSEQ_ERR_KIND);
    buf[4] = KSEQ_KIND_MAX + 1;
    RESEAL();
    assert_int_equal(kseq_decode(buf, sizeof(buf), &out), KSEQ_ERR_KIND);

    kseq_encode(&in, buf);
    buf[6] = 1;
    RESEAL();
    assert_int_equal(kseq_decode(buf, sizeof(buf), &out),
                     KSEQ_ERR_RESERVED);

    kseq_encode(&in, buf);
    buf[0] = 'X';
    assert_int_equal(kseq_decode(buf, sizeof(buf), &out), KSEQ_ERR_MAGIC);
    assert_string_equal(kseq_strerror(KSEQ_ERR_MAGIC), "bad magic");
#undef RESEAL
}

static void
test_checker_clean_run(void **state)
{
    struct kseq_checker c;
    uint64_t i;

    (void)state;
    kseq_checker_init(&c, 1000000);
    for (i = 0; i < 10000; i++) {
        struct kseq_rec r = rec(i, 3);

        assert_int_equal(kseq_checker_add(&c, &r), 0);
    }
    assert_true(c.distinct == 10000);
    assert_true(c.highest == 9999);
    assert_true(kseq_checker_missing(&c) == 0);
    assert_true(c.mismatches == 0 && c.duplicates == 0);
    kseq_checker_free(&c);
}

/* A replay of the last epoch's outputs: same payloads, allowed. */
static void
test_checker_replay_is_duplicate(void **state)
{
    struct kseq_checker c;
    uint64_t i;

    (void)state;
    kseq_checker_init(&c, 1000);
    for (i = 0; i < 10; i++) {
        struct kseq_rec r = rec(i, 7);

        kseq_checker_add(&c, &r);
    }
    for (i = 6; i < 12; i++) {
        struct kseq_rec r = rec(i, 7);

        kseq_checker_add(&c, &r);
    }
    assert_true(c.duplicates == 4);
    assert_true(c.mismatches == 0);
    assert_true(c.out_of_order == 1);
    assert_true(kseq_checker_missing(&c) == 0);
    assert_true(c.highest == 11);
    kseq_checker_free(&c);
}

/* The guest went back in time and produced number 5 again, differently. */
static void
test_checker_rewrite_is_mismatch(void **state)
{
    struct kseq_checker c;
    struct kseq_rec r;
    uint64_t i;

    (void)state;
    kseq_checker_init(&c, 1000);
    for (i = 0; i < 8; i++) {
        r = rec(i, 1);
        kseq_checker_add(&c, &r);
    }
    r = rec(5, 2);
    assert_int_equal(kseq_checker_add(&c, &r), 2);
    assert_true(c.mismatches == 1);
    assert_true(c.first_mismatch == 5);
    kseq_checker_free(&c);
}

static void
test_checker_gap(void **state)
{
    struct kseq_checker c;
    struct kseq_rec r;

    (void)state;
    kseq_checker_init(&c, 1000);
    r = rec(0, 1);
    kseq_checker_add(&c, &r);
    r = rec(1, 1);
    kseq_checker_add(&c, &r);
    r = rec(4, 1);                 /* 2 and 3 lost */
    kseq_checker_add(&c, &r);
    assert_true(kseq_checker_missing(&c) == 2);
    r = rec(2, 1);                 /* late arrival closes part of the gap */
    kseq_checker_add(&c, &r);
    assert_true(kseq_checker_missing(&c) == 1);
    kseq_checker_free(&c);
}

/* A producer cannot make the observer allocate without bound. */
static void
test_checker_bounds(void **state)
{
    struct kseq_checker c;
    struct kseq_rec r;

    (void)state;
    kseq_checker_init(&c, 100);
    r = rec(0, 1);
    kseq_checker_add(&c, &r);
    r = rec(UINT64_MAX, 1);
    assert_int_equal(kseq_checker_add(&c, &r), -1);
    r = rec(101, 1);
    assert_int_equal(kseq_checker_add(&c, &r), -1);
    assert_true(c.too_high == 2);
    assert_true(c.cap <= 101);
    r = rec(100, 1);
    assert_int_equal(kseq_checker_add(&c, &r), 0);
    r = rec(1, 1);
    r.stream++;
    assert_int_equal(kseq_checker_add(&c, &r), -1);
    assert_true(c.other_stream == 1);
    assert_true(kseq_checker_hash(&c, 100) != 0);
    assert_true(kseq_checker_hash(&c, 5000) == 0);
    kseq_checker_free(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_crc_known_value),
        cmocka_unit_test(test_every_bitflip_rejected),
        cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_checker_clean_run),
        cmocka_unit_test(test_checker_replay_is_duplicate),
        cmocka_unit_test(test_checker_rewrite_is_mismatch),
        cmocka_unit_test(test_checker_gap),
        cmocka_unit_test(test_checker_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
