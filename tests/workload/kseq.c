/*
 * kseq.c - the test workload: numbered outputs produced inside the guest
 * and checked outside it.
 *
 * One program, built twice: statically for the test guest, natively for
 * the observers on the host.  Every record it sends or writes is a
 * kseq-proto.h record whose payload holds the time it was generated, so a
 * guest that goes back in time and produces number N again produces a
 * different payload, which the observers detect.
 *
 * In the guest:
 *   kseq udp-send ADDR PORT [--gap-us N] [--count N]
 *   kseq tcp-serve PORT [--gap-us N] [--disk DEVICE]
 *   kseq disk-write DEVICE ADDR PORT [--gap-us N]
 * Outside:
 *   kseq udp-recv PORT [--kind udp|disk] [--log FILE] [--status FILE]
 *                 [--duration S] [--expect-min N]
 *   kseq tcp-check ADDR PORT [--duration S] [--expect-min N]
 *                  [--status FILE]
 *   kseq rr ADDR PORT [--count N] [--pages N] [--page-bytes B]
 *              [--size BYTES]
 *   kseq bulk ADDR PORT [--duration S]
 *   kseq dwrite ADDR PORT [--bytes N] [--block B]
 *   kseq disk-verify IMAGE [--reports LOGFILE] [--expect-min N]
 * On the host alone (a floor for the engine benchmark):
 *   kseq tcpfloor [--bytes N] [--count N]
 * Between two programs (damages a stream for robustness tests):
 *   kseq proxy LISTEN-PORT ADDR PORT [--flip-after N] [--cut-after N]
 *              [--spoil-checkpoint BYTE] [--fuzz-outputs SEED]
 *              [--fuzz-header SEED] [--fuzz-vmstate SEED --fuzz-at STRING]
 *              [--marker STRING --marker-count K]
 *
 * Observers print one summary line of key=value pairs and exit 0 only
 * when what they saw is consistent (no gap, no payload mismatch, no
 * malformed record, at least --expect-min records).  Usage errors exit 2.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kseq-proto.h"

#define KSEQ_MAX_TRACKED (64ull * 1024 * 1024)
#define RR_HDR 16               /* rr request/response header */
#define RR_MAX_SIZE 65536
#define RR_MAX_PAGES 4096
#define PAGE 4096
#define DWRITE_HDR 12           /* dwrite request: bytes (8), block (4) */
#define DWRITE_MIN_BLOCK 4096
#define DWRITE_MAX_BLOCK (4L << 20)
#define DWRITE_MAX_BYTES (64L << 30)

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void
die_usage(const char *msg)
{
    fprintf(stderr, "kseq: %s (see the comment at the top of kseq.c)\n",
            msg);
    exit(2);
}

static uint64_t
now_ns(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: payload filler; the time stamps carry the uniqueness. */
static uint64_t rng_state;

static uint64_t
rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void
rng_seed(void)
{
    rng_state = now_ns(CLOCK_REALTIME) ^ now_ns(CLOCK_MONOTONIC) << 17 ^
                (uint64_t)getpid() << 40;
    if (!rng_state) {
        rng_state = 1;
    }
}

/* A fresh record: payload = monotonic ns, realtime ns, 16 random bytes. */
static void
make_rec(struct kseq_rec *r, enum kseq_kind kind, uint64_t stream,
         uint64_t seq)
{
    uint64_t v[4] = {
        now_ns(CLOCK_MONOTONIC), now_ns(CLOCK_REALTIME), rng_next(),
        rng_next(),
    };
    int i, b;

    r->kind = kind;
    r->stream = stream;
    r->seq = seq;
    for (i = 0; i < 4; i++) {
        for (b = 0; b < 8; b++) {
            r->payload[i * 8 + b] = (uint8_t)(v[i] >> (56 - 8 * b));
        }
    }
}

static void
sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_requested) {
    }
}

static long
parse_num(const char *s, const char *what, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max) {
        fprintf(stderr, "kseq: bad %s '%s' (allowed %ld..%ld)\n", what, s,
                min, max);
        exit(2);
    }
    return v;
}

static struct sockaddr_in
parse_addr(const char *host, const char *port)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)parse_num(port, "port", 1, 65535));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "kseq: bad IPv4 address '%s'\n", host);
        exit(2);
    }
    return sa;
}

/* Common options; each command accepts the subset it documents. */
struct opts {
    long gap_us;
    long count;          /* 0 = unlimited */
    long duration_s;     /* 0 = until SIGINT/SIGTERM */
    long expect_min;
    long pages;
    long page_bytes;     /* rr: bytes written in each dirtied page */
    long size;
    long flip_after;     /* proxy: flip a byte at this offset (-1: never) */
    long cut_after;      /* proxy: close after this many bytes (-1) */
    long spoil;          /* proxy: spoil a Kemari checkpoint (0: never) */
    long fuzz_seed;      /* proxy: mutate a checkpoint's outputs (-1) */
    long fuzz_header;    /* proxy: mutate a checkpoint's header (-1) */
    long fuzz_vmstate;   /* proxy: mutate a checkpoint's vmstate (-1)... */
    const char *fuzz_at; /* ...around this string in it */
    const char *marker;  /* proxy: offsets count from this string's... */
    long marker_count;   /* ...K-th occurrence (default 1) */
    const char *log;
    const char *status;
    const char *reports;
    const char *disk;    /* tcp-serve: the device DWRITE writes to */
    long bytes;          /* dwrite: bytes to write; tcpfloor: per message */
    int bytes_set;       /* --bytes was given */
    long block;          /* dwrite: bytes per write */
    enum kseq_kind kind;
};

/* Parses --options from argv[first..]; returns the positional args. */
static int
parse_opts(int argc, char **argv, struct opts *o, char **pos, int maxpos)
{
    int i, n = 0;

    memset(o, 0, sizeof(*o));
    o->kind = KSEQ_KIND_UDP;
    o->count = 0;
    o->pages = 0;
    o->size = RR_HDR;
    o->flip_after = -1;
    o->cut_after = -1;
    o->fuzz_seed = -1;
    o->fuzz_header = -1;
    o->fuzz_vmstate = -1;
    o->bytes = 64L << 20;
    o->block = 64L << 10;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (a[0] != '-' || a[1] != '-') {
            if (n == maxpos) {
                die_usage("too many arguments");
            }
            pos[n++] = argv[i];
            continue;
        }
        if (!v) {
            fprintf(stderr, "kseq: option %s needs a value\n", a);
            exit(2);
        }
        i++;
        if (!strcmp(a, "--gap-us")) {
            o->gap_us = parse_num(v, "--gap-us", 0, 60000000);
        } else if (!strcmp(a, "--count")) {
            o->count = parse_num(v, "--count", 1, LONG_MAX);
        } else if (!strcmp(a, "--duration")) {
            o->duration_s = parse_num(v, "--duration", 1, 86400);
        } else if (!strcmp(a, "--expect-min")) {
            o->expect_min = parse_num(v, "--expect-min", 0, LONG_MAX);
        } else if (!strcmp(a, "--pages")) {
            o->pages = parse_num(v, "--pages", 0, RR_MAX_PAGES);
        } else if (!strcmp(a, "--page-bytes")) {
            o->page_bytes = parse_num(v, "--page-bytes", 1, PAGE);
        } else if (!strcmp(a, "--size")) {
            o->size = parse_num(v, "--size", RR_HDR, RR_MAX_SIZE);
        } else if (!strcmp(a, "--flip-after")) {
            o->flip_after = parse_num(v, "--flip-after", 0, LONG_MAX);
        } else if (!strcmp(a, "--marker")) {
            if (!*v || strlen(v) > 64) {
                die_usage("--marker is 1 to 64 bytes");
            }
            o->marker = v;
        } else if (!strcmp(a, "--marker-count")) {
            o->marker_count = parse_num(v, "--marker-count", 1, LONG_MAX);
        } else if (!strcmp(a, "--spoil-checkpoint")) {
            o->spoil = parse_num(v, "--spoil-checkpoint", 1, 255);
        } else if (!strcmp(a, "--fuzz-outputs")) {
            o->fuzz_seed = parse_num(v, "--fuzz-outputs", 0, LONG_MAX);
        } else if (!strcmp(a, "--fuzz-header")) {
            o->fuzz_header = parse_num(v, "--fuzz-header", 0, LONG_MAX);
        } else if (!strcmp(a, "--fuzz-vmstate")) {
            o->fuzz_vmstate = parse_num(v, "--fuzz-vmstate", 0, LONG_MAX);
        } else if (!strcmp(a, "--fuzz-at")) {
            if (!*v) {
                die_usage("--fuzz-at needs a string");
            }
            o->fuzz_at = v;
        } else if (!strcmp(a, "--cut-after")) {
            o->cut_after = parse_num(v, "--cut-after", 0, LONG_MAX);
        } else if (!strcmp(a, "--log")) {
            o->log = v;
        } else if (!strcmp(a, "--status")) {
            o->status = v;
        } else if (!strcmp(a, "--reports")) {
            o->reports = v;
        } else if (!strcmp(a, "--disk")) {
            o->disk = v;
        } else if (!strcmp(a, "--bytes")) {
            o->bytes = parse_num(v, "--bytes", DWRITE_MIN_BLOCK,
                                 DWRITE_MAX_BYTES);
            o->bytes_set = 1;
        } else if (!strcmp(a, "--block")) {
            o->block = parse_num(v, "--block", DWRITE_MIN_BLOCK,
                                 DWRITE_MAX_BLOCK);
            if (o->block % DWRITE_MIN_BLOCK) {
                die_usage("--block is a multiple of 4096");
            }
        } else if (!strcmp(a, "--kind")) {
            if (!strcmp(v, "udp")) {
                o->kind = KSEQ_KIND_UDP;
            } else if (!strcmp(v, "disk")) {
                o->kind = KSEQ_KIND_DISK_REPORT;
            } else {
                die_usage("--kind is udp or disk");
            }
        } else {
            fprintf(stderr, "kseq: unknown option %s\n", a);
            exit(2);
        }
    }
    return n;
}

static void
install_stop_handlers(long duration_s)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;     /* no SA_RESTART: blocking calls return */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (duration_s > 0) {
        alarm((unsigned)duration_s);
    }
}

/* Writes every byte or fails; returns 0 or -1 (errno set). */
static int
write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR && !stop_requested) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes; returns 1, 0 at a clean EOF, -1 on error. */
static int
read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);

        if (n == 0) {
            if (got == 0) {
                return 0;
            }
            errno = EPROTO;
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR && !stop_requested) {
                continue;
            }
            return -1;
        }
        got += (size_t)n;
    }
    return 1;
}

/* Sends one datagram; retries the same bytes on transient errors. */
static int
send_dgram(int fd, const uint8_t *buf, const struct sockaddr_in *to)
{
    while (sendto(fd, buf, KSEQ_REC_SIZE, 0, (const struct sockaddr *)to,
                  sizeof(*to)) < 0) {
        if (stop_requested) {
            return -1;
        }
        if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN ||
            errno == ENETUNREACH || errno == EHOSTUNREACH ||
            errno == ECONNREFUSED) {
            /* never skip a number: the same datagram goes again */
            sleep_us(1000);
            continue;
        }
        perror("kseq: sendto");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- guest */

static int
cmd_udp_send(int argc, char **argv)
{
    char *pos[2];
    struct opts o;
    struct sockaddr_in to;
    uint64_t stream, seq;
    int fd;

    if (parse_opts(argc, argv, &o, pos, 2) != 2) {
        die_usage("udp-send ADDR PORT");
    }
    to = parse_addr(pos[0], pos[1]);
    install_stop_handlers(0);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("kseq: socket");
        return 1;
    }
    /*
     * Without IP_RECVERR Linux drops a datagram its queueing discipline
     * has no room for and sendto() still succeeds; with it, sendto()
     * says ENOBUFS and send_dgram() sends the same number again, so a
     * gap the observer sees was lost outside this guest.
     */
    if (setsockopt(fd, IPPROTO_IP, IP_RECVERR, &(int){ 1 }, sizeof(int)) < 0) {
        perror("kseq: IP_RECVERR");
    }
    stream = rng_next();
    for (seq = 0; !stop_requested; seq++) {
        struct kseq_rec r;
        uint8_t buf[KSEQ_REC_SIZE];

        if (o.count && seq >= (uint64_t)o.count) {
            break;
        }
        make_rec(&r, KSEQ_KIND_UDP, stream, seq);
        kseq_encode(&r, buf);
        if (send_dgram(fd, buf, &to) < 0) {
            break;
        }
        if (o.gap_us) {
            sleep_us(o.gap_us);
        }
    }
    close(fd);
    return 0;
}

/* SEQ: an endless stream of consecutive TCP records. */
static void
serve_seq(int fd, long gap_us)
{
    uint64_t stream = rng_next(), seq;

    for (seq = 0;; seq++) {
        struct kseq_rec r;
        uint8_t buf[KSEQ_REC_SIZE];

        make_rec(&r, KSEQ_KIND_TCP, stream, seq);
        kseq_encode(&r, buf);
        if (write_all(fd, buf, sizeof(buf)) < 0) {
            return;
        }
        if (gap_us) {
            sleep_us(gap_us);
        }
    }
}

static uint32_t
be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

/*
 * ECHO: request/response.  A request is RR_HDR bytes: seq (8, echoed
 * back), pages to dirty (4: the low 16 bits, at most RR_MAX_PAGES; the
 * high 16 bits are the bytes to write in each page minus one), response
 * size (4, RR_HDR..RR_MAX_SIZE).  The server writes that many bytes at
 * the start of each of that many pages of a private buffer, then answers
 * with the response size, the request's header first.  Malformed
 * requests end the connection.
 */
static void
serve_echo(int fd)
{
    size_t bufsize = (size_t)RR_MAX_PAGES * PAGE;
    uint8_t *mem = mmap(NULL, bufsize, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static uint8_t resp[RR_MAX_SIZE];
    uint8_t req[RR_HDR];
    uint8_t tick = 0;

    if (mem == MAP_FAILED) {
        return;
    }
    while (read_all(fd, req, sizeof(req)) == 1) {
        uint32_t pages = be32_at(req + 8) & 0xffff, size = be32_at(req + 12);
        uint32_t bytes = (be32_at(req + 8) >> 16) + 1, i;

        if (pages > RR_MAX_PAGES || bytes > PAGE || size < RR_HDR ||
            size > RR_MAX_SIZE) {
            break;
        }
        tick++;
        for (i = 0; i < pages; i++) {
            memset(mem + (size_t)i * PAGE, tick, bytes);
        }
        memcpy(resp, req, RR_HDR);
        if (write_all(fd, resp, size) < 0) {
            break;
        }
    }
    munmap(mem, bufsize);
}

/* BULK: as many bytes as the connection takes. */
static void
serve_bulk(int fd)
{
    static uint8_t chunk[65536];

    memset(chunk, 0x5a, sizeof(chunk));
    while (write_all(fd, chunk, sizeof(chunk)) == 0) {
    }
}

static uint64_t
be64_at(const uint8_t *p)
{
    return (uint64_t)be32_at(p) << 32 | be32_at(p + 4);
}

/*
 * DWRITE: a disk write benchmark inside the guest, like fio's sequential
 * direct writes at queue depth 1.  The request is DWRITE_HDR bytes: the
 * bytes to write (8) and the bytes per write (4, a multiple of 4096, at
 * most DWRITE_MAX_BLOCK).  The server writes them to DISK with O_DIRECT
 * from offset 0 (wrapping at its end), then fdatasync()s, and answers
 * with the bytes written (8).  The client times the exchange from the
 * outside, so the answer, like any output, only leaves a protected guest
 * once the writes before it are safe.  Malformed requests or a disk
 * that cannot be written end the connection.
 */
static void
serve_dwrite(int fd, const char *disk)
{
    uint8_t req[DWRITE_HDR], resp[8];
    uint64_t total, done = 0;
    uint32_t block;
    off_t size, off = 0;
    void *buf = NULL;
    int dfd, i;

    if (!disk || read_all(fd, req, sizeof(req)) != 1) {
        return;
    }
    total = be64_at(req);
    block = be32_at(req + 8);
    if (block < DWRITE_MIN_BLOCK || block > DWRITE_MAX_BLOCK ||
        block % DWRITE_MIN_BLOCK || total > (uint64_t)DWRITE_MAX_BYTES) {
        return;
    }
    dfd = open(disk, O_WRONLY | O_DIRECT);
    if (dfd < 0 || (size = lseek(dfd, 0, SEEK_END)) < (off_t)block ||
        posix_memalign(&buf, DWRITE_MIN_BLOCK, block)) {
        perror("kseq: dwrite");
        if (dfd >= 0) {
            close(dfd);
        }
        return;
    }
    memset(buf, 0xa5, block);
    while (done < total) {
        if (off + (off_t)block > size) {
            off = 0;
        }
        ((uint8_t *)buf)[0]++;          /* each block differs */
        if (pwrite(dfd, buf, block, off) != (ssize_t)block) {
            perror("kseq: dwrite");
            break;
        }
        off += block;
        done += block;
    }
    if (fdatasync(dfd) < 0) {
        perror("kseq: dwrite: fdatasync");
        done = 0;
    }
    close(dfd);
    free(buf);
    for (i = 0; i < 8; i++) {
        resp[i] = (uint8_t)(done >> (56 - 8 * i));
    }
    write_all(fd, resp, sizeof(resp));
}

/*
 * Reads the command line the client opens with: "SEQ", "ECHO", "BULK",
 * "DWRITE".
 */
static void
serve_conn(int fd, long gap_us, const char *disk)
{
    char line[16];
    size_t n = 0;
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (n < sizeof(line) - 1) {
        if (read(fd, line + n, 1) != 1) {
            return;
        }
        if (line[n] == '\n') {
            break;
        }
        n++;
    }
    line[n] = '\0';
    if (!strcmp(line, "SEQ")) {
        serve_seq(fd, gap_us);
    } else if (!strcmp(line, "ECHO")) {
        serve_echo(fd);
    } else if (!strcmp(line, "BULK")) {
        serve_bulk(fd);
    } else if (!strcmp(line, "DWRITE")) {
        serve_dwrite(fd, disk);
    } else {
        static const char err[] = "ERR unknown command\n";

        write_all(fd, err, sizeof(err) - 1);
    }
}

static int
cmd_tcp_serve(int argc, char **argv)
{
    char *pos[1];
    struct opts o;
    struct sockaddr_in sa;
    int lfd, one = 1;

    if (parse_opts(argc, argv, &o, pos, 1) != 1) {
        die_usage("tcp-serve PORT");
    }
    sa = parse_addr("0.0.0.0", pos[0]);
    signal(SIGCHLD, SIG_IGN);       /* no zombies */
    signal(SIGPIPE, SIG_IGN);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) {
        perror("kseq: socket");
        return 1;
    }
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 16) < 0) {
        perror("kseq: bind/listen");
        return 1;
    }
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        pid_t pid;

        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("kseq: accept");
            sleep_us(100000);
            continue;
        }
        pid = fork();
        if (pid == 0) {
            close(lfd);
            rng_seed();
            serve_conn(fd, o.gap_us, o.disk);
            _exit(0);
        }
        close(fd);
    }
}

static int
cmd_disk_write(int argc, char **argv)
{
    char *pos[3];
    struct opts o;
    struct sockaddr_in to;
    uint64_t stream, seq, nblocks;
    struct stat st;
    off_t size;
    int dfd, sfd;

    if (parse_opts(argc, argv, &o, pos, 3) != 3) {
        die_usage("disk-write DEVICE ADDR PORT");
    }
    to = parse_addr(pos[1], pos[2]);
    install_stop_handlers(0);
    dfd = open(pos[0], O_RDWR);
    if (dfd < 0 || fstat(dfd, &st) < 0) {
        fprintf(stderr, "kseq: %s: %s\n", pos[0], strerror(errno));
        return 1;
    }
    size = lseek(dfd, 0, SEEK_END);
    if (size < KSEQ_DISK_BLOCK) {
        fprintf(stderr, "kseq: %s: too small\n", pos[0]);
        return 1;
    }
    nblocks = (uint64_t)size / KSEQ_DISK_BLOCK;
    sfd = socket(AF_INET, SOCK_DGRAM, 0);
    if (sfd < 0) {
        perror("kseq: socket");
        return 1;
    }
    stream = rng_next();
    for (seq = 0; seq < nblocks && !stop_requested; seq++) {
        static uint8_t block[KSEQ_DISK_BLOCK];
        struct kseq_rec r;
        uint8_t rep[KSEQ_REC_SIZE];

        make_rec(&r, KSEQ_KIND_DISK, stream, seq);
        kseq_encode(&r, block);
        if (pwrite(dfd, block, sizeof(block),
                   (off_t)(seq * KSEQ_DISK_BLOCK)) != sizeof(block) ||
            fdatasync(dfd) < 0) {
            fprintf(stderr, "kseq: write %s: %s\n", pos[0],
                    strerror(errno));
            return 1;
        }
        /* durable: now, and only now, tell the world */
        r.kind = KSEQ_KIND_DISK_REPORT;
        kseq_encode(&r, rep);
        if (send_dgram(sfd, rep, &to) < 0) {
            break;
        }
        if (o.gap_us) {
            sleep_us(o.gap_us);
        }
    }
    if (seq == nblocks) {
        fprintf(stderr, "kseq: %s full after %" PRIu64 " records\n",
                pos[0], seq);
    }
    return 0;
}

/* ------------------------------------------------------------- observers */

static void
write_status(const char *path, const char *line)
{
    char tmp[PATH_MAX];
    FILE *f;

    if (!path) {
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f) {
        return;
    }
    fprintf(f, "%s\n", line);
    if (fclose(f) == 0) {
        rename(tmp, path);
    }
}

static void
checker_summary(const struct kseq_checker *c, uint64_t bad, char *buf,
                size_t len)
{
    snprintf(buf, len,
             "received=%" PRIu64 " distinct=%" PRIu64 " highest=%" PRId64
             " missing=%" PRIu64 " duplicates=%" PRIu64
             " mismatches=%" PRIu64 " out_of_order=%" PRIu64
             " bad=%" PRIu64 " other_stream=%" PRIu64,
             c->received, c->distinct,
             c->distinct ? (int64_t)c->highest : (int64_t)-1,
             kseq_checker_missing(c), c->duplicates, c->mismatches,
             c->out_of_order, bad, c->other_stream + c->too_high);
}

/* Names the first gaps (for the log of a failing test). */
static void
report_gaps(const struct kseq_checker *c, const char *what)
{
    uint64_t seq, start = 0;
    unsigned shown = 0;
    bool in_gap = false;

    if (c->distinct == 0 || kseq_checker_missing(c) == 0) {
        return;
    }
    for (seq = 0; seq <= c->highest && seq < c->cap && shown < 16; seq++) {
        bool seen = kseq_checker_hash(c, seq) != 0;

        if (!seen && !in_gap) {
            start = seq;
            in_gap = true;
        } else if (seen && in_gap) {
            fprintf(stderr, "kseq: %s: missing %" PRIu64 "..%" PRIu64 "\n",
                    what, start, seq - 1);
            in_gap = false;
            shown++;
        }
    }
}

static int
cmd_udp_recv(int argc, char **argv)
{
    char *pos[1];
    struct opts o;
    struct sockaddr_in sa;
    struct kseq_checker c;
    uint64_t bad = 0, last_status = 0;
    FILE *log = NULL;
    char line[512];
    int fd, big = 16 << 20, ok;

    if (parse_opts(argc, argv, &o, pos, 1) != 1) {
        die_usage("udp-recv PORT");
    }
    sa = parse_addr("0.0.0.0", pos[0]);
    install_stop_handlers(o.duration_s);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("kseq: socket");
        return 1;
    }
    /* A fast guest must not overflow us: as large a buffer as allowed. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("kseq: bind");
        return 1;
    }
    if (o.log && !(log = fopen(o.log, "w"))) {
        fprintf(stderr, "kseq: %s: %s\n", o.log, strerror(errno));
        return 1;
    }
    kseq_checker_init(&c, KSEQ_MAX_TRACKED);
    while (!stop_requested) {
        uint8_t buf[2048];
        struct kseq_rec r;
        enum kseq_decode_err err;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        uint64_t t;

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("kseq: recv");
            break;
        }
        err = kseq_decode(buf, (size_t)n, &r);
        if (err == KSEQ_OK && (n != KSEQ_REC_SIZE || r.kind != o.kind)) {
            err = KSEQ_ERR_KIND;
        }
        if (err != KSEQ_OK) {
            bad++;
            fprintf(stderr, "kseq: bad datagram (%zd bytes): %s\n", n,
                    kseq_strerror(err));
            continue;
        }
        switch (kseq_checker_add(&c, &r)) {
        case 0:
            if (log) {
                fprintf(log, "%" PRIu64 " %016" PRIx64 " %016" PRIx64 "\n",
                        r.seq, r.stream, kseq_payload_hash(r.payload));
            }
            break;
        case 1:
            if (c.duplicates <= 10) {
                fprintf(stderr, "kseq: seq %" PRIu64 " received again"
                        " (highest so far %" PRIu64 ")\n", r.seq, c.highest);
            }
            break;
        default:
            break;
        }
        t = now_ns(CLOCK_MONOTONIC);
        if (o.status && t - last_status > 50000000ull) {
            if (log) {
                fflush(log);
            }
            checker_summary(&c, bad, line, sizeof(line));
            write_status(o.status, line);
            last_status = t;
        }
    }
    if (log) {
        fclose(log);
    }
    checker_summary(&c, bad, line, sizeof(line));
    write_status(o.status, line);
    printf("udp-recv: %s\n", line);
    report_gaps(&c, "udp-recv");
    ok = kseq_checker_missing(&c) == 0 && c.mismatches == 0 && bad == 0 &&
         c.other_stream == 0 && c.too_high == 0 &&
         c.distinct >= (uint64_t)o.expect_min;
    kseq_checker_free(&c);
    return ok ? 0 : 1;
}

static int
tcp_connect(const struct sockaddr_in *sa, const char *cmd)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        perror("kseq: connect");
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (write_all(fd, cmd, strlen(cmd)) < 0) {
        perror("kseq: write");
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * Holds one connection and checks the stream: records consecutive from 0,
 * one stream, no malformed record.  Ending early (EOF, reset) fails.
 */
static int
cmd_tcp_check(int argc, char **argv)
{
    char *pos[2];
    struct opts o;
    struct sockaddr_in sa;
    uint64_t expect = 0, stream = 0, last_status = 0;
    const char *why = NULL;
    char line[256];
    int fd;

    if (parse_opts(argc, argv, &o, pos, 2) != 2) {
        die_usage("tcp-check ADDR PORT");
    }
    sa = parse_addr(pos[0], pos[1]);
    install_stop_handlers(o.duration_s);
    fd = tcp_connect(&sa, "SEQ\n");
    if (fd < 0) {
        return 1;
    }
    while (!stop_requested) {
        uint8_t buf[KSEQ_REC_SIZE];
        struct kseq_rec r;
        enum kseq_decode_err err;
        int rc = read_all(fd, buf, sizeof(buf));
        uint64_t t;

        if (rc <= 0) {
            if (!stop_requested) {
                why = rc == 0 ? "connection closed by the guest"
                              : strerror(errno);
            }
            break;
        }
        err = kseq_decode(buf, sizeof(buf), &r);
        if (err != KSEQ_OK || r.kind != KSEQ_KIND_TCP) {
            why = err != KSEQ_OK ? kseq_strerror(err) : "wrong record kind";
            break;
        }
        if (expect == 0) {
            stream = r.stream;
        }
        if (r.stream != stream || r.seq != expect) {
            snprintf(line, sizeof(line),
                     "expected record %" PRIu64 ", got %" PRIu64, expect,
                     r.seq);
            why = line;
            break;
        }
        expect++;
        t = now_ns(CLOCK_MONOTONIC);
        if (o.status && t - last_status > 50000000ull) {
            char st[64];

            snprintf(st, sizeof(st), "records=%" PRIu64, expect);
            write_status(o.status, st);
            last_status = t;
        }
    }
    close(fd);
    if (!why && expect < (uint64_t)o.expect_min) {
        why = "fewer records than --expect-min";
    }
    {
        char st[64];

        snprintf(st, sizeof(st), "records=%" PRIu64, expect);
        write_status(o.status, st);
    }
    printf("tcp-check: records=%" PRIu64 " result=%s%s%s\n", expect,
           why ? "FAIL" : "ok", why ? " reason=" : "", why ? why : "");
    return why ? 1 : 0;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Request/response round trips; prints p50/p99/max in microseconds. */
static int
cmd_rr(int argc, char **argv)
{
    char *pos[2];
    struct opts o;
    struct sockaddr_in sa;
    static uint8_t resp[RR_MAX_SIZE];
    uint64_t *lat;
    long i, n;
    int fd;

    if (parse_opts(argc, argv, &o, pos, 2) != 2) {
        die_usage("rr ADDR PORT");
    }
    n = o.count ? o.count : 1000;
    sa = parse_addr(pos[0], pos[1]);
    install_stop_handlers(o.duration_s);
    fd = tcp_connect(&sa, "ECHO\n");
    lat = calloc((size_t)n, sizeof(*lat));
    if (fd < 0 || !lat) {
        return 1;
    }
    for (i = 0; i < n && !stop_requested; i++) {
        uint8_t req[RR_HDR];
        uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        int b;

        for (b = 0; b < 8; b++) {
            req[b] = (uint8_t)((uint64_t)i >> (56 - 8 * b));
        }
        for (b = 0; b < 4; b++) {
            uint32_t dirty = (uint32_t)o.pages |
                             (uint32_t)(o.page_bytes ? o.page_bytes - 1 : 0)
                             << 16;

            req[8 + b] = (uint8_t)(dirty >> (24 - 8 * b));
            req[12 + b] = (uint8_t)((uint32_t)o.size >> (24 - 8 * b));
        }
        if (write_all(fd, req, sizeof(req)) < 0 ||
            read_all(fd, resp, (size_t)o.size) != 1) {
            perror("kseq: rr");
            return 1;
        }
        if (memcmp(resp, req, 8) != 0) {
            fprintf(stderr, "kseq: rr: response %ld out of step\n", i);
            return 1;
        }
        lat[i] = now_ns(CLOCK_MONOTONIC) - t0;
    }
    n = i;
    if (n == 0) {
        return 1;
    }
    qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
    printf("rr: count=%ld pages=%ld page_bytes=%ld size=%ld p50_us=%.1f "
           "p99_us=%.1f max_us=%.1f\n", n, o.pages,
           o.page_bytes ? o.page_bytes : 1, o.size, lat[n / 2] / 1e3,
           lat[(n * 99) / 100] / 1e3, lat[n - 1] / 1e3);
    free(lat);
    close(fd);
    return 0;
}

/*
 * The floor under a checkpoint's transfer on this host: one process sends
 * --bytes (default 4.5 MB) over loopback TCP in pieces of 256 KiB, another
 * reads them into a buffer and answers one byte, --count times (default
 * 200); prints the round trips' p50/p99/min in microseconds.  Both ends
 * set TCP_NODELAY, as the Kemari QEMUs do.
 */
static int
cmd_tcpfloor(int argc, char **argv)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t salen = sizeof(sa);
    struct opts o;
    uint64_t *lat;
    uint8_t *buf;
    size_t len;
    long i, n;
    int lfd, fd, one = 1, status;
    pid_t pid;
    char ack = 'A';

    if (parse_opts(argc, argv, &o, NULL, 0) != 0) {
        die_usage("tcpfloor [--bytes N] [--count N]");
    }
    len = o.bytes_set ? (size_t)o.bytes : 4500000;
    n = o.count ? o.count : 200;
    if (len > (1u << 30)) {
        die_usage("tcpfloor: --bytes at most 1 GiB");
    }
    buf = malloc(len);
    lat = calloc((size_t)n, sizeof(*lat));
    if (!buf || !lat) {
        perror("kseq: tcpfloor");
        return 1;
    }
    memset(buf, 0x5a, len);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
        perror("kseq: tcpfloor: listen");
        return 1;
    }
    pid = fork();
    if (pid < 0) {
        perror("kseq: tcpfloor: fork");
        return 1;
    }
    if (pid == 0) {
        /* the receiver: whole messages into its buffer, one byte back */
        close(lfd);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            _exit(1);
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        while (read_all(fd, buf, len) == 1) {
            if (write_all(fd, &ack, 1) < 0) {
                _exit(1);
            }
        }
        _exit(0);
    }
    fd = accept(lfd, NULL, NULL);
    close(lfd);
    if (fd < 0) {
        perror("kseq: tcpfloor: accept");
        return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (i = 0; i < n; i++) {
        uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        size_t off;

        for (off = 0; off < len; off += 256 * 1024) {
            size_t k = len - off < 256 * 1024 ? len - off : 256 * 1024;

            if (write_all(fd, buf + off, k) < 0) {
                perror("kseq: tcpfloor: write");
                return 1;
            }
        }
        if (read_all(fd, &ack, 1) != 1) {
            perror("kseq: tcpfloor: read");
            return 1;
        }
        lat[i] = now_ns(CLOCK_MONOTONIC) - t0;
        usleep(2000);
    }
    close(fd);
    waitpid(pid, &status, 0);
    qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
    printf("tcpfloor: bytes=%zu count=%ld p50_us=%.1f p99_us=%.1f "
           "min_us=%.1f\n", len, n, lat[n / 2] / 1e3,
           lat[(n * 99) / 100] / 1e3, lat[0] / 1e3);
    free(lat);
    free(buf);
    return 0;
}

/* Disk write throughput inside the guest, timed outside; prints MiB/s. */
static int
cmd_dwrite(int argc, char **argv)
{
    char *pos[2];
    struct opts o;
    struct sockaddr_in sa;
    uint8_t req[DWRITE_HDR], resp[8];
    uint64_t t0, done = 0;
    double secs;
    int fd, i;

    if (parse_opts(argc, argv, &o, pos, 2) != 2) {
        die_usage("dwrite ADDR PORT");
    }
    sa = parse_addr(pos[0], pos[1]);
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < 8; i++) {
        req[i] = (uint8_t)((uint64_t)o.bytes >> (56 - 8 * i));
    }
    for (i = 0; i < 4; i++) {
        req[8 + i] = (uint8_t)((uint32_t)o.block >> (24 - 8 * i));
    }
    t0 = now_ns(CLOCK_MONOTONIC);
    fd = tcp_connect(&sa, "DWRITE\n");
    if (fd < 0) {
        return 1;
    }
    if (write_all(fd, req, sizeof(req)) < 0 ||
        read_all(fd, resp, sizeof(resp)) != 1) {
        fprintf(stderr, "kseq: dwrite: no answer from the guest\n");
        close(fd);
        return 1;
    }
    secs = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    close(fd);
    done = be64_at(resp);
    printf("dwrite: bytes=%" PRIu64 " block=%ld seconds=%.2f mib_s=%.2f\n",
           done, o.block, secs,
           secs > 0 ? (double)done / secs / (1 << 20) : 0.0);
    return done == (uint64_t)o.bytes ? 0 : 1;
}

/* Bulk receive from the guest; prints Mbit/s. */
static int
cmd_bulk(int argc, char **argv)
{
    char *pos[2];
    struct opts o;
    struct sockaddr_in sa;
    static uint8_t buf[65536];
    uint64_t bytes = 0, t0;
    double secs;
    int fd;

    if (parse_opts(argc, argv, &o, pos, 2) != 2) {
        die_usage("bulk ADDR PORT");
    }
    sa = parse_addr(pos[0], pos[1]);
    install_stop_handlers(o.duration_s ? o.duration_s : 5);
    fd = tcp_connect(&sa, "BULK\n");
    if (fd < 0) {
        return 1;
    }
    t0 = now_ns(CLOCK_MONOTONIC);
    while (!stop_requested) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0) {
            break;
        }
        bytes += (uint64_t)n;
    }
    secs = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    printf("bulk: bytes=%" PRIu64 " seconds=%.2f mbit_s=%.2f\n", bytes, secs,
           secs > 0 ? (double)bytes * 8 / secs / 1e6 : 0.0);
    close(fd);
    return bytes ? 0 : 1;
}

/*
 * Scans a disk image written by disk-write: records in blocks 0, 1, ...
 * until the first all-zero block.  Every record must be a disk record of
 * one stream whose seq equals its block.  With --reports (udp-recv --kind
 * disk --log), every reported record must be on the disk with the payload
 * that was reported.
 */
static int
cmd_disk_verify(int argc, char **argv)
{
    char *pos[1];
    struct opts o;
    struct kseq_checker c;
    uint64_t block = 0, reported = 0, unmatched = 0, stream = 0;
    const char *why = NULL;
    char whybuf[160];
    FILE *img, *rep;

    if (parse_opts(argc, argv, &o, pos, 1) != 1) {
        die_usage("disk-verify IMAGE");
    }
    img = fopen(pos[0], "rb");
    if (!img) {
        fprintf(stderr, "kseq: %s: %s\n", pos[0], strerror(errno));
        return 1;
    }
    kseq_checker_init(&c, KSEQ_MAX_TRACKED);
    for (;; block++) {
        static const uint8_t zero[KSEQ_DISK_BLOCK];
        uint8_t buf[KSEQ_DISK_BLOCK];
        struct kseq_rec r;
        enum kseq_decode_err err;

        if (fread(buf, 1, sizeof(buf), img) != sizeof(buf) ||
            !memcmp(buf, zero, sizeof(buf))) {
            break;
        }
        err = kseq_decode(buf, sizeof(buf), &r);
        if (err != KSEQ_OK || r.kind != KSEQ_KIND_DISK || r.seq != block ||
            (block && r.stream != stream)) {
            snprintf(whybuf, sizeof(whybuf), "block %" PRIu64 ": %s", block,
                     err != KSEQ_OK ? kseq_strerror(err)
                                    : "not the next record");
            why = whybuf;
            break;
        }
        stream = r.stream;
        kseq_checker_add(&c, &r);
    }
    fclose(img);
    if (!why && o.reports) {
        char line[128];

        rep = fopen(o.reports, "r");
        if (!rep) {
            fprintf(stderr, "kseq: %s: %s\n", o.reports, strerror(errno));
            return 1;
        }
        while (fgets(line, sizeof(line), rep)) {
            uint64_t seq, st, h;

            if (sscanf(line, "%" SCNu64 " %" SCNx64 " %" SCNx64, &seq, &st,
                       &h) != 3) {
                why = "malformed reports file";
                break;
            }
            reported++;
            if (st != stream || kseq_checker_hash(&c, seq) != h) {
                if (!unmatched) {
                    snprintf(whybuf, sizeof(whybuf),
                             "reported record %" PRIu64
                             " is not on the disk as reported", seq);
                    why = whybuf;
                }
                unmatched++;
            }
        }
        fclose(rep);
    }
    if (!why && block < (uint64_t)o.expect_min) {
        why = "fewer records than --expect-min";
    }
    printf("disk-verify: records=%" PRIu64 " reported=%" PRIu64
           " unmatched=%" PRIu64 " result=%s%s%s\n", block, reported,
           unmatched, why ? "FAIL" : "ok", why ? " reason=" : "",
           why ? why : "");
    kseq_checker_free(&c);
    return why ? 1 : 0;
}

/* CRC-32 as zlib's crc32(0, P, LEN) computes it (the header checksum). */
static uint32_t
crc32_of(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffffu;
    int b;

    while (len--) {
        crc ^= *p++;
        for (b = 0; b < 8; b++) {
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1u));
        }
    }
    return ~crc;
}

static void
put_be32_at(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/*
 * The checksum of one piece of a Kemari checkpoint's payload,
 * kemari_sum() in migration/kemari.c: the XXH64 construction, seeded so
 * that sums chain.
 */
#define SUM_P1 0x9e3779b185ebca87ULL
#define SUM_P2 0xc2b2ae3d27d4eb4fULL
#define SUM_P3 0x165667b19e3779f9ULL
#define SUM_P4 0x85ebca77c2b2ae63ULL
#define SUM_P5 0x27d4eb2f165667c5ULL

static uint64_t
rotl64(uint64_t v, unsigned r)
{
    return (v << r) | (v >> (64 - r));
}

static uint64_t
le64_at(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t
sum_round(uint64_t acc, uint64_t in)
{
    return rotl64(acc + in * SUM_P2, 31) * SUM_P1;
}

static uint64_t
kmri_sum(uint64_t seed, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint64_t h, v[4];
    int i;

    if (len >= 32) {
        v[0] = seed + SUM_P1 + SUM_P2;
        v[1] = seed + SUM_P2;
        v[2] = seed;
        v[3] = seed - SUM_P1;
        do {
            for (i = 0; i < 4; i++) {
                v[i] = sum_round(v[i], le64_at(p + 8 * i));
            }
            p += 32;
        } while (end - p >= 32);
        h = rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) +
            rotl64(v[3], 18);
        for (i = 0; i < 4; i++) {
            h = (h ^ sum_round(0, v[i])) * SUM_P1 + SUM_P4;
        }
    } else {
        h = seed + SUM_P5;
    }
    h += len;
    for (; end - p >= 8; p += 8) {
        h ^= sum_round(0, le64_at(p));
        h = rotl64(h, 27) * SUM_P1 + SUM_P4;
    }
    if (end - p >= 4) {
        h ^= ((uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
              (uint64_t)p[3] << 24) * SUM_P1;
        h = rotl64(h, 23) * SUM_P2 + SUM_P3;
        p += 4;
    }
    for (; p < end; p++) {
        h ^= *p * SUM_P5;
        h = rotl64(h, 11) * SUM_P1;
    }
    h ^= h >> 33;
    h *= SUM_P2;
    h ^= h >> 29;
    h *= SUM_P3;
    return h ^ (h >> 32);
}

/*
 * The checksum of a checkpoint's payload (stream version 3): kmri_sum()
 * chained over the vmstate in pieces of 256 KiB, then over the outputs
 * in such pieces, as both QEMUs compute it while the bytes pass.
 */
#define KMRI_SUM_PIECE (256 * 1024)

static uint64_t
kmri_sum_pieces(uint64_t sum, const uint8_t *p, uint64_t len)
{
    while (len) {
        size_t n = len < KMRI_SUM_PIECE ? (size_t)len : KMRI_SUM_PIECE;

        sum = kmri_sum(sum, p, n);
        p += n;
        len -= n;
    }
    return sum;
}

static void
put_be64_at(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/*
 * --spoil-checkpoint: the Kemari message after the marked one (its
 * header read as it passes, which gives where the next one starts) is
 * held back whole, the last byte of its vmstate (the device state's end
 * of file) replaced, its checksum recomputed, and sent on: a checkpoint
 * that passes every check of the wire format and cannot be applied.
 * Header (migration/kemari.c, stream version 3): type at 8 (2: a
 * checkpoint), vmstate length at 32, outputs length at 40, header CRC-32
 * over the first 60 bytes at 60; a checkpoint's payload (vmstate, then
 * outputs) is followed by its 64-bit checksum (kmri_sum_pieces()).
 *
 * --fuzz-outputs SEED does the same with the checkpoint's outputs (the
 * held packets and disk requests, which the secondary parses before it
 * acknowledges): 1 to 4 bytes, chosen from SEED, are replaced: half of
 * them among the first 24 bytes (the first section's header and its
 * first record's), a quarter among the first 256, a quarter anywhere;
 * then the checksum is recomputed.
 *
 * --fuzz-header SEED replaces 1 to 4 bytes of that checkpoint's header
 * between its magic and version and its CRC (type, flags, epoch,
 * released, lengths, reserved fields), and recomputes the CRC, so that
 * the secondary's checks of the fields themselves are reached.  A length
 * changed that way frames the stream differently: what follows is read
 * as something else, which must be refused too.
 *
 * --fuzz-vmstate SEED --fuzz-at STRING does it to the first checkpoint
 * from there on whose vmstate holds STRING (e.g. a replicated disk's id,
 * in its records): 1 to 4 bytes from 2 before STRING to 12 after it
 * (record type, id length, id, offset, length) are replaced and the
 * checksum recomputed; the secondary acknowledges such a checkpoint and
 * must then refuse to apply it, or apply it, and stay up.
 */
#define KMRI_HDR 64
#define KMRI_CHECKPOINT 2

/* The length of the message whose header is HDR, header included. */
static uint64_t
kmri_msg_len(const uint8_t *hdr)
{
    uint64_t n = KMRI_HDR + be64_at(hdr + 32) + be64_at(hdr + 40);

    return be32_at(hdr + 8) == KMRI_CHECKPOINT ? n + 8 : n;
}

/* Recomputes the trailing checksum of the whole checkpoint at MSG. */
static void
kmri_resum(uint8_t *msg)
{
    uint64_t vm = be64_at(msg + 32), total = kmri_msg_len(msg);

    put_be64_at(msg + total - 8,
                kmri_sum_pieces(kmri_sum_pieces(0, msg + KMRI_HDR, vm),
                                msg + KMRI_HDR + vm,
                                total - KMRI_HDR - vm - 8));
}

enum fuzz_kind {
    FUZZ_NONE,
    FUZZ_OUTPUTS,           /* --fuzz-outputs */
    FUZZ_HEADER,            /* --fuzz-header */
    FUZZ_VMSTATE,           /* --fuzz-vmstate around at */
};

struct spoiler {
    int byte;               /* the replacement; 0: off */
    enum fuzz_kind fuzz;
    const char *at;
    uint64_t rng;           /* its xorshift state */
    int done;
    int skipped;            /* --fuzz-vmstate: messages passed on */
    uint8_t hdr[KMRI_HDR];  /* the marked message's header */
    int target_known;
    uint64_t target;        /* stream offset of the message to spoil */
    uint8_t *hold;
    size_t len, cap;
};

/* Bytes [0, return value) of BUF (at stream offset OFF) go on now. */
static size_t
spoiler_feed(struct spoiler *sp, const uint8_t *buf, size_t n, uint64_t off,
             uint64_t base)
{
    size_t k;

    for (k = 0; k < n; k++) {
        uint64_t at = off + k;

        if (sp->target_known && at >= sp->target) {
            break;
        }
        if (at >= base && at < base + KMRI_HDR) {
            sp->hdr[at - base] = buf[k];
            if (at == base + KMRI_HDR - 1) {
                sp->target = base + kmri_msg_len(sp->hdr);
                sp->target_known = 1;
            }
        }
    }
    if (k < n) {
        if (sp->len + (n - k) > sp->cap) {
            sp->cap = (sp->len + (n - k)) * 2;
            sp->hold = realloc(sp->hold, sp->cap);
            if (!sp->hold) {
                perror("kseq: proxy");
                exit(1);
            }
        }
        memcpy(sp->hold + sp->len, buf + k, n - k);
        sp->len += n - k;
    }
    return k;
}

/* The next number of --fuzz-outputs' generator (xorshift64*). */
static uint64_t
fuzz_next(struct spoiler *sp)
{
    sp->rng ^= sp->rng >> 12;
    sp->rng ^= sp->rng << 25;
    sp->rng ^= sp->rng >> 27;
    return sp->rng * 0x2545f4914f6cdd1dULL;
}

/* Replaces the byte at P as random number R says: bits flipped, 0xff, 0. */
static void
fuzz_byte(uint8_t *p, uint64_t r)
{
    switch ((r >> 4) % 3) {
    case 0:
        *p ^= (uint8_t)(1 + (r >> 40) % 255);
        break;
    case 1:
        *p = 0xff;
        break;
    default:
        *p = 0;
        break;
    }
}

/* Where STRING first occurs in LEN bytes at P, or NULL. */
static uint8_t *
find_bytes(uint8_t *p, uint64_t len, const char *string)
{
    size_t slen = strlen(string);
    uint64_t k;

    for (k = 0; len >= slen && k <= len - slen; k++) {
        if (!memcmp(p + k, string, slen)) {
            return p + k;
        }
    }
    return NULL;
}

/*
 * --fuzz-vmstate: the held messages that are complete, in order, are
 * sent on to FD untouched until a checkpoint has STRING in its vmstate
 * far enough from both ends; that one is mutated and the rest held kept
 * for the caller to send.  Gives up after 200 messages.  Returns 1 when
 * done, 0 while waiting for more bytes, -1 when FD fails.
 */
static int
spoiler_ready_vmstate(struct spoiler *sp, int fd)
{
    size_t alen = strlen(sp->at);

    while (sp->len >= KMRI_HDR && sp->len >= kmri_msg_len(sp->hold)) {
        uint64_t vm = be64_at(sp->hold + 32), total = kmri_msg_len(sp->hold);
        uint8_t *hit = NULL;
        int m, nm;

        if (be32_at(sp->hold + 8) == KMRI_CHECKPOINT) {
            hit = find_bytes(sp->hold + KMRI_HDR, vm, sp->at);
        }
        if (hit && hit - sp->hold >= KMRI_HDR + 2 &&
            (uint64_t)(hit - sp->hold) + alen + 12 <= KMRI_HDR + vm) {
            nm = 1 + (int)(fuzz_next(sp) % 4);
            for (m = 0; m < nm; m++) {
                uint64_t r = fuzz_next(sp);
                uint8_t *at = hit - 2 + (r >> 8) % (alen + 14);
                uint8_t was = *at;

                fuzz_byte(at, r);
                fprintf(stderr, "kseq proxy: vmstate byte %+d from \"%s\" "
                        "in the message at byte %" PRIu64 ": 0x%02x -> "
                        "0x%02x\n", (int)(at - hit), sp->at, sp->target, was,
                        *at);
            }
            kmri_resum(sp->hold);
            sp->done = 1;
            return 1;
        }
        if (++sp->skipped >= 200) {
            fprintf(stderr, "kseq proxy: \"%s\" in none of 200 messages: "
                    "not mutated\n", sp->at);
            sp->done = 1;
            return 1;
        }
        if (write_all(fd, sp->hold, (size_t)total) < 0) {
            return -1;
        }
        memmove(sp->hold, sp->hold + total, sp->len - (size_t)total);
        sp->len -= (size_t)total;
        sp->target += total;
    }
    return 0;
}

/* Whether the held message is complete; if so, spoils it. */
static int
spoiler_ready(struct spoiler *sp)
{
    uint64_t vm, total;

    if (sp->len < KMRI_HDR) {
        return 0;
    }
    vm = be64_at(sp->hold + 32);
    total = kmri_msg_len(sp->hold);
    if (sp->len < total) {
        return 0;
    }
    if (be32_at(sp->hold + 8) != KMRI_CHECKPOINT) {
        fprintf(stderr, "kseq proxy: the message at byte %" PRIu64
                " is no checkpoint: left alone\n", sp->target);
        sp->done = 1;
        return 1;
    }
    if (sp->fuzz == FUZZ_HEADER) {
        int m, nm = 1 + (int)(fuzz_next(sp) % 4);

        for (m = 0; m < nm; m++) {
            uint64_t r = fuzz_next(sp);
            size_t at = 8 + (size_t)((r >> 8) % 52);
            uint8_t was = sp->hold[at];

            fuzz_byte(sp->hold + at, r);
            fprintf(stderr, "kseq proxy: header byte %zu: 0x%02x -> 0x%02x\n",
                    at, was, sp->hold[at]);
        }
        put_be32_at(sp->hold + 60, crc32_of(sp->hold, 60));
    } else if (sp->fuzz == FUZZ_OUTPUTS && total > KMRI_HDR + vm + 8) {
        uint64_t olen = total - KMRI_HDR - vm - 8;
        int m, nm = 1 + (int)(fuzz_next(sp) % 4);

        for (m = 0; m < nm; m++) {
            uint64_t r = fuzz_next(sp);
            uint64_t span = r % 4 == 0 ? olen : r % 4 == 1 ? 256 : 24;
            uint64_t at = KMRI_HDR + vm +
                          (r >> 8) % (span < olen ? span : olen);
            uint8_t was = sp->hold[at];

            fuzz_byte(sp->hold + at, r);
            fprintf(stderr, "kseq proxy: outputs byte %" PRIu64 " of %"
                    PRIu64 ": 0x%02x -> 0x%02x\n", at - KMRI_HDR - vm, olen,
                    was, sp->hold[at]);
        }
        kmri_resum(sp->hold);
    } else if (sp->fuzz == FUZZ_OUTPUTS) {
        fprintf(stderr, "kseq proxy: the message at byte %" PRIu64
                " has no outputs: not mutated\n", sp->target);
    } else if (vm > 0) {
        sp->hold[KMRI_HDR + vm - 1] = (uint8_t)sp->byte;
        kmri_resum(sp->hold);
        fprintf(stderr, "kseq proxy: spoiled the checkpoint at byte %" PRIu64
                " (%" PRIu64 " bytes of vmstate)\n", sp->target, vm);
    } else {
        fprintf(stderr, "kseq proxy: the message at byte %" PRIu64
                " has no vmstate: not spoiled\n", sp->target);
    }
    sp->done = 1;
    return 1;
}

/*
 * Forwards one TCP connection from LISTEN-PORT to ADDR:PORT, both ways.
 * In the client-to-server direction it can flip one byte (--flip-after)
 * or close both sides after a number of bytes (--cut-after), to show
 * that the receiver refuses a damaged stream.  With --marker, offsets
 * count from the start of the marker's K-th occurrence in that direction
 * (e.g. the magic of a message header) instead of from the start.
 * Prints what it did.
 */
static int
cmd_proxy(int argc, char **argv)
{
    char *pos[3];
    struct opts o;
    struct sockaddr_in la, ta;
    struct pollfd p[2];
    uint64_t fwd = 0, back = 0, base = 0;
    size_t mlen = 0, matched = 0;
    long seen = 0;
    int lfd, cfd, sfd, one = 1, flipped = 0, cut = 0, armed, r;
    struct spoiler sp = { 0 };

    if (parse_opts(argc, argv, &o, pos, 3) != 3) {
        die_usage("proxy LISTEN-PORT ADDR PORT");
    }
    la = parse_addr("127.0.0.1", pos[0]);
    ta = parse_addr(pos[1], pos[2]);
    install_stop_handlers(0);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&la, sizeof(la)) < 0 ||
        listen(lfd, 1) < 0) {
        perror("kseq: proxy bind");
        return 1;
    }
    cfd = accept(lfd, NULL, NULL);
    if (cfd < 0) {
        perror("kseq: proxy accept");
        return 1;
    }
    sfd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sfd, (struct sockaddr *)&ta, sizeof(ta)) < 0) {
        perror("kseq: proxy connect");
        return 1;
    }
    if (o.marker) {
        mlen = strlen(o.marker);
        if (!o.marker_count) {
            o.marker_count = 1;
        }
    }
    armed = !o.marker;
    sp.byte = (int)o.spoil;
    if ((o.fuzz_seed >= 0) + (o.fuzz_header >= 0) + (o.fuzz_vmstate >= 0) >
        1) {
        fprintf(stderr, "kseq: one of --fuzz-outputs, --fuzz-header, "
                "--fuzz-vmstate\n");
        return 2;
    }
    if ((o.fuzz_vmstate >= 0) != !!o.fuzz_at) {
        fprintf(stderr, "kseq: --fuzz-vmstate and --fuzz-at go together\n");
        return 2;
    }
    sp.fuzz = o.fuzz_seed >= 0 ? FUZZ_OUTPUTS :
              o.fuzz_header >= 0 ? FUZZ_HEADER :
              o.fuzz_vmstate >= 0 ? FUZZ_VMSTATE : FUZZ_NONE;
    sp.at = o.fuzz_at;
    sp.rng = 0x9e3779b97f4a7c15ULL ^
             (uint64_t)(sp.fuzz == FUZZ_HEADER ? o.fuzz_header :
                        sp.fuzz == FUZZ_VMSTATE ? o.fuzz_vmstate :
                        o.fuzz_seed);
    if (o.marker && (sp.byte || sp.fuzz)) {
        /* the marker is the header's first bytes, maybe split off */
        memcpy(sp.hdr, o.marker, mlen < KMRI_HDR ? mlen : KMRI_HDR);
    }
    p[0].fd = cfd;
    p[1].fd = sfd;
    p[0].events = p[1].events = POLLIN;
    while (!stop_requested && !cut) {
        static uint8_t buf[65536];
        ssize_t n;
        int i;

        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                cut = 1;
                break;
            }
            if (i == 0) {
                ssize_t k, end = n;

                for (k = 0; !armed && k < n; k++) {
                    /* naive matcher: restart on mismatch */
                    matched = buf[k] == (uint8_t)o.marker[matched] ?
                              matched + 1 :
                              buf[k] == (uint8_t)o.marker[0];
                    if (matched == mlen && ++seen == o.marker_count) {
                        armed = 1;
                        base = fwd + (uint64_t)k + 1 - mlen;
                    } else if (matched == mlen) {
                        matched = 0;
                    }
                }
                if (armed && (sp.byte || sp.fuzz) && !sp.done) {
                    size_t now = spoiler_feed(&sp, buf, (size_t)n, fwd, base);

                    fwd += (uint64_t)n;
                    if (now > 0 && write_all(p[1].fd, buf, now) < 0) {
                        cut = 1;
                        break;
                    }
                    r = sp.fuzz == FUZZ_VMSTATE
                        ? spoiler_ready_vmstate(&sp, p[1].fd)
                        : spoiler_ready(&sp);
                    if (r < 0) {
                        cut = 1;
                        break;
                    }
                    if (r) {
                        if (write_all(p[1].fd, sp.hold, sp.len) < 0) {
                            cut = 1;
                            break;
                        }
                        free(sp.hold);
                        sp.hold = NULL;
                    }
                    continue;
                }
                if (armed && o.flip_after >= 0 && !flipped &&
                    fwd + (uint64_t)n > base + (uint64_t)o.flip_after) {
                    buf[base + o.flip_after - fwd] ^= 0xff;
                    flipped = 1;
                    fprintf(stderr, "kseq proxy: flipped byte %" PRIu64
                            "\n", base + o.flip_after);
                }
                if (armed && o.cut_after >= 0 &&
                    fwd + (uint64_t)n >= base + (uint64_t)o.cut_after) {
                    end = (ssize_t)(base + o.cut_after - fwd);
                    cut = 1;
                    fprintf(stderr, "kseq proxy: cut after %" PRIu64
                            " bytes\n", base + o.cut_after);
                }
                n = end;
                fwd += (uint64_t)n;
            } else {
                back += (uint64_t)n;
            }
            if (n > 0 && write_all(p[1 - i].fd, buf, (size_t)n) < 0) {
                cut = 1;
                break;
            }
        }
    }
    close(cfd);
    close(sfd);
    printf("proxy: forwarded=%" PRIu64 " returned=%" PRIu64 " flipped=%d "
           "cut=%d spoiled=%d\n", fwd, back, flipped, cut,
           sp.done && (sp.byte || sp.fuzz));
    free(sp.hold);
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} kseq_cmds[] = {
    { "udp-send", cmd_udp_send },
    { "tcp-serve", cmd_tcp_serve },
    { "disk-write", cmd_disk_write },
    { "udp-recv", cmd_udp_recv },
    { "tcp-check", cmd_tcp_check },
    { "rr", cmd_rr },
    { "bulk", cmd_bulk },
    { "dwrite", cmd_dwrite },
    { "disk-verify", cmd_disk_verify },
    { "proxy", cmd_proxy },
    { "tcpfloor", cmd_tcpfloor },
};

int
main(int argc, char **argv)
{
    size_t i;

    rng_seed();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2) {
        for (i = 0; i < sizeof(kseq_cmds) / sizeof(kseq_cmds[0]); i++) {
            if (!strcmp(argv[1], kseq_cmds[i].name)) {
                return kseq_cmds[i].fn(argc - 2, argv + 2);
            }
        }
    }
    fprintf(stderr, "usage: kseq COMMAND ...; commands:");
    for (i = 0; i < sizeof(kseq_cmds) / sizeof(kseq_cmds[0]); i++) {
        fprintf(stderr, " %s", kseq_cmds[i].name);
    }
    fprintf(stderr, "\n");
    return 2;
}
