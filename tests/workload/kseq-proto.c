/*
 * kseq-proto.c - see kseq-proto.h
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "kseq-proto.h"

static const uint8_t kseq_magic[4] = { 'K', 'S', 'Q', '1' };

static void
put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, v >> 32);
    put_be32(p + 4, (uint32_t)v);
}

static uint32_t
get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

uint32_t
kseq_crc32(const uint8_t *buf, size_t len)
{
    uint32_t crc = 0xffffffffu;
    size_t i;
    int bit;

    for (i = 0; i < len; i++) {
        crc ^= buf[i];
        for (bit = 0; bit < 8; bit++) {
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
        }
    }
    return ~crc;
}

uint64_t
kseq_payload_hash(const uint8_t payload[KSEQ_PAYLOAD_SIZE])
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;

    for (i = 0; i < KSEQ_PAYLOAD_SIZE; i++) {
        h ^= payload[i];
        h *= 0x100000001b3ull;
    }
    /* 0 marks "not seen" in the checker: keep it out of the range. */
    return h ? h : 1;
}

void
kseq_encode(const struct kseq_rec *rec, uint8_t buf[KSEQ_REC_SIZE])
{
    memset(buf, 0, KSEQ_REC_SIZE);
    memcpy(buf, kseq_magic, sizeof(kseq_magic));
    buf[4] = (uint8_t)rec->kind;
    buf[5] = KSEQ_VERSION;
    put_be64(buf + 8, rec->seq);
    put_be64(buf + 16, rec->stream);
    memcpy(buf + 24, rec->payload, KSEQ_PAYLOAD_SIZE);
    put_be32(buf + 56, kseq_crc32(buf, 56));
}

enum kseq_decode_err
kseq_decode(const uint8_t *buf, size_t len, struct kseq_rec *rec)
{
    if (len < KSEQ_REC_SIZE) {
        return KSEQ_ERR_SHORT;
    }
    if (memcmp(buf, kseq_magic, sizeof(kseq_magic)) != 0) {
        return KSEQ_ERR_MAGIC;
    }
    if (get_be32(buf + 56) != kseq_crc32(buf, 56)) {
        return KSEQ_ERR_CRC;
    }
    if (buf[5] != KSEQ_VERSION) {
        return KSEQ_ERR_VERSION;
    }
    if (buf[4] < KSEQ_KIND_UDP || buf[4] > KSEQ_KIND_MAX) {
        return KSEQ_ERR_KIND;
    }
    if (buf[6] || buf[7] || get_be32(buf + 60)) {
        return KSEQ_ERR_RESERVED;
    }
    rec->kind = (enum kseq_kind)buf[4];
    rec->seq = get_be64(buf + 8);
    rec->stream = get_be64(buf + 16);
    memcpy(rec->payload, buf + 24, KSEQ_PAYLOAD_SIZE);
    return KSEQ_OK;
}

const char *
kseq_strerror(enum kseq_decode_err err)
{
    switch (err) {
    case KSEQ_OK:
        return "ok";
    case KSEQ_ERR_SHORT:
        return "record too short";
    case KSEQ_ERR_MAGIC:
        return "bad magic";
    case KSEQ_ERR_VERSION:
        return "unknown version";
    case KSEQ_ERR_KIND:
        return "unknown record kind";
    case KSEQ_ERR_RESERVED:
        return "reserved bytes not zero";
    case KSEQ_ERR_CRC:
        return "checksum mismatch";
    }
    return "unknown error";
}

int
kseq_checker_init(struct kseq_checker *c, uint64_t max_seq)
{
    memset(c, 0, sizeof(*c));
    c->max_seq = max_seq;
    return 0;
}

void
kseq_checker_free(struct kseq_checker *c)
{
    free(c->hashes);
    c->hashes = NULL;
    c->cap = 0;
}

/* Makes hashes[seq] addressable; returns 0 or -1. */
static int
checker_reserve(struct kseq_checker *c, uint64_t seq)
{
    uint64_t ncap;
    uint64_t *n;

    if (seq < c->cap) {
        return 0;
    }
    ncap = c->cap ? c->cap : 4096;
    while (ncap <= seq) {
        ncap *= 2;
    }
    if (ncap > c->max_seq + 1) {
        ncap = c->max_seq + 1;
    }
    if (ncap > SIZE_MAX / sizeof(*n)) {
        return -1;
    }
    n = realloc(c->hashes, ncap * sizeof(*n));
    if (!n) {
        return -1;
    }
    memset(n + c->cap, 0, (ncap - c->cap) * sizeof(*n));
    c->hashes = n;
    c->cap = ncap;
    return 0;
}

int
kseq_checker_add(struct kseq_checker *c, const struct kseq_rec *rec)
{
    uint64_t h = kseq_payload_hash(rec->payload);

    c->received++;
    if (c->received == 1) {
        c->stream = rec->stream;
    } else if (rec->stream != c->stream) {
        c->other_stream++;
        return -1;
    }
    if (rec->seq > c->max_seq) {
        c->too_high++;
        return -1;
    }
    if (checker_reserve(c, rec->seq) < 0) {
        return -1;
    }
    if (c->received > 1 && rec->seq < c->last) {
        c->out_of_order++;
    }
    c->last = rec->seq;
    if (c->hashes[rec->seq] == 0) {
        c->hashes[rec->seq] = h;
        if (c->distinct == 0 || rec->seq > c->highest) {
            c->highest = rec->seq;
        }
        c->distinct++;
        return 0;
    }
    if (c->hashes[rec->seq] == h) {
        c->duplicates++;
        return 1;
    }
    if (c->mismatches == 0) {
        c->first_mismatch = rec->seq;
    }
    c->mismatches++;
    return 2;
}

uint64_t
kseq_checker_missing(const struct kseq_checker *c)
{
    if (c->distinct == 0) {
        return 0;
    }
    return c->highest + 1 - c->distinct;
}

uint64_t
kseq_checker_hash(const struct kseq_checker *c, uint64_t seq)
{
    return seq < c->cap ? c->hashes[seq] : 0;
}
