/*
 * test-kemarid-fakeqemu.h - a scripted fake QEMU QMP server for tests
 *
 * Listens on a UNIX socket and plays a script on the GLib main loop of
 * the test: accept a connection, send lines (whole or in small chunks,
 * one per main-loop turn), expect requests (compared as JSON, ignoring
 * "id"), answer them with the id of an expected request, close the
 * connection.  Any deviation is recorded and reported by
 * fakeqemu_error(); the test asserts it is NULL.  Used by the QMP
 * client's tests now and by the direct backend's later.
 */
#ifndef KEMARI_TEST_FAKEQEMU_H
#define KEMARI_TEST_FAKEQEMU_H

#include <stdbool.h>

enum fq_op {
    FQ_END = 0,         /* script done; further requests are errors */
    FQ_ACCEPT,          /* wait for (the next) connection */
    FQ_SEND,            /* send text as is (add the '\n' yourself) */
    FQ_SEND_SPLIT,      /* send text in chunks of arg bytes */
    FQ_EXPECT,          /* wait for a request equal to text, id aside */
    FQ_REPLY,           /* send text (a JSON object) with "id" set to
                         * that of the arg-th last expected request
                         * (0 = the last one) */
    FQ_CLOSE,           /* close the connection */
};

struct fq_step {
    enum fq_op op;
    const char *text;
    unsigned arg;
};

#define FQ_GREETING                                                       \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "    \
    "\"major\": 7}, \"package\": \"kemari\"}, \"capabilities\": "         \
    "[\"oob\"]}}\n"

/* The usual opening: accept, greet, negotiate. */
#define FQ_HANDSHAKE                                                      \
    { FQ_ACCEPT, NULL, 0 },                                               \
    { FQ_SEND, FQ_GREETING, 0 },                                          \
    { FQ_EXPECT, "{\"execute\": \"qmp_capabilities\"}", 0 },              \
    { FQ_REPLY, "{\"return\": {}}", 0 }

struct fakeqemu;

/* Listens on PATH (removed first) and starts playing SCRIPT, which must
 * live as long as the fake.  Aborts the test on socket errors. */
struct fakeqemu *fakeqemu_new(const char *path, const struct fq_step *script);
void fakeqemu_free(struct fakeqemu *f);

/* Whether the script reached FQ_END. */
bool fakeqemu_done(const struct fakeqemu *f);
/* The first deviation from the script, or NULL. */
const char *fakeqemu_error(const struct fakeqemu *f);
/* Connections accepted so far. */
unsigned fakeqemu_connections(const struct fakeqemu *f);

#endif /* KEMARI_TEST_FAKEQEMU_H */
