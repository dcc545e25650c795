/*
 * kseq-proto.h - the records the test workload sends and writes
 *
 * The guest's workload programs produce numbered records: UDP datagrams,
 * a TCP stream, disk blocks, and reports of what reached the disk.
 * Observers outside the VM decode them and feed them to a sequence
 * checker, which answers the questions every failover test asks: did
 * every number up to the highest one arrive, and did any number ever
 * arrive with two different payloads (which would mean the world saw the
 * guest go back in time and redo an output differently)?
 *
 * Each record is KSEQ_REC_SIZE bytes, explicitly encoded (big-endian, no
 * raw structs on the wire):
 *
 *   off size field
 *     0    4 magic "KSQ1"
 *     4    1 kind (enum kseq_kind)
 *     5    1 version (KSEQ_VERSION)
 *     6    2 reserved, zero
 *     8    8 seq: 0, 1, 2, ... per stream
 *    16    8 stream: random id chosen when the producer starts
 *    24   32 payload: generation time and random bytes, never the same
 *              for two generations of the same seq
 *    56    4 crc32 (IEEE) of bytes 0..55
 *    60    4 reserved, zero
 */
#ifndef KSEQ_PROTO_H
#define KSEQ_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define KSEQ_REC_SIZE 64
#define KSEQ_PAYLOAD_SIZE 32
#define KSEQ_VERSION 1

/* Disk records occupy one sector each, the record at its start. */
#define KSEQ_DISK_BLOCK 512

enum kseq_kind {
    KSEQ_KIND_UDP = 1,          /* datagram of the UDP sequence sender */
    KSEQ_KIND_TCP = 2,          /* record in the TCP sequence stream */
    KSEQ_KIND_DISK = 3,         /* record written to the disk */
    KSEQ_KIND_DISK_REPORT = 4,  /* "this disk record is durable" datagram */
    KSEQ_KIND_MAX = KSEQ_KIND_DISK_REPORT,
};

struct kseq_rec {
    enum kseq_kind kind;
    uint64_t seq;
    uint64_t stream;
    uint8_t payload[KSEQ_PAYLOAD_SIZE];
};

/* Why kseq_decode() refused a buffer. */
enum kseq_decode_err {
    KSEQ_OK = 0,
    KSEQ_ERR_SHORT,       /* fewer than KSEQ_REC_SIZE bytes */
    KSEQ_ERR_MAGIC,       /* does not start with "KSQ1" */
    KSEQ_ERR_VERSION,     /* a version this build does not know */
    KSEQ_ERR_KIND,        /* kind out of range */
    KSEQ_ERR_RESERVED,    /* reserved bytes not zero */
    KSEQ_ERR_CRC,         /* checksum mismatch */
};

/* Writes exactly KSEQ_REC_SIZE bytes to buf. */
void kseq_encode(const struct kseq_rec *rec, uint8_t buf[KSEQ_REC_SIZE]);

/* Decodes len bytes of buf into *rec; returns KSEQ_OK or the reason. */
enum kseq_decode_err kseq_decode(const uint8_t *buf, size_t len,
                                 struct kseq_rec *rec);

/* A constant human-readable description of err. */
const char *kseq_strerror(enum kseq_decode_err err);

uint32_t kseq_crc32(const uint8_t *buf, size_t len);

/* 64-bit FNV-1a of a payload: what the checker remembers per seq. */
uint64_t kseq_payload_hash(const uint8_t payload[KSEQ_PAYLOAD_SIZE]);

/*
 * The sequence checker.  Feed it every record an observer receives, in
 * arrival order; it remembers a hash of the first payload seen per seq.
 * Sequence numbers above max_seq are counted as "too_high" and otherwise
 * ignored, which bounds the memory a misbehaving producer can make the
 * observer use (8 bytes per tracked number).
 */
struct kseq_checker {
    uint64_t max_seq;       /* highest seq that can be tracked */
    uint64_t *hashes;       /* hashes[seq]; 0 = not seen (see below) */
    uint64_t cap;           /* allocated entries in hashes */
    uint64_t received;      /* records fed in */
    uint64_t distinct;      /* distinct seq numbers seen */
    uint64_t duplicates;    /* repeats with the same payload */
    uint64_t mismatches;    /* repeats with a different payload */
    uint64_t out_of_order;  /* records whose seq is below an earlier one */
    uint64_t too_high;      /* records above max_seq */
    uint64_t other_stream;  /* records of a stream other than the first */
    uint64_t highest;       /* highest seq seen (valid if distinct > 0) */
    uint64_t last;          /* seq of the previous record */
    uint64_t stream;        /* the stream being checked */
    uint64_t first_mismatch;/* seq of the first mismatch */
};

/* Returns 0, or -1 if memory for max_seq cannot be had. */
int kseq_checker_init(struct kseq_checker *c, uint64_t max_seq);
void kseq_checker_free(struct kseq_checker *c);

/*
 * Records one arrival.  Returns 0 for a new number, 1 for a repeat with
 * the same payload, 2 for a repeat with a different payload, -1 for a
 * record the checker cannot track (other stream, too high, no memory).
 */
int kseq_checker_add(struct kseq_checker *c, const struct kseq_rec *rec);

/* Numbers in [0, highest] never received. */
uint64_t kseq_checker_missing(const struct kseq_checker *c);

/* Payload hash recorded for seq, or 0 if none. */
uint64_t kseq_checker_hash(const struct kseq_checker *c, uint64_t seq);

#endif /* KSEQ_PROTO_H */
