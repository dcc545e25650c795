/*
 * fuzz-qmp-line.c - libFuzzer harness for the QMP wire parser
 *
 * The input is fed to the line splitter in two pieces (the first byte
 * says where to cut), with a small line cap, and every line goes to
 * qmpc_parse_line(); the whole input is also parsed as one line.
 */
#include "config.h"

#include <stdlib.h>

#include "fuzz.h"
#include "qmpc.h"

static bool
on_line(const char *line, size_t len, void *opaque)
{
    struct qmpc_msg m;
    unsigned *lines = opaque;

    if (qmpc_parse_line(line, len, &m, NULL)) {
        if (!m.value) {
            abort();            /* every accepted message has a value */
        }
        qmpc_msg_clear(&m);
    }
    (*lines)++;
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qmpc_splitter s;
    struct qmpc_msg m;
    GError *err = NULL;
    unsigned lines = 0;
    size_t cut;

    if (qmpc_parse_line((const char *)data, size, &m, NULL)) {
        qmpc_msg_clear(&m);
    }
    if (size == 0) {
        return 0;
    }
    cut = data[0] % size;
    qmpc_splitter_init(&s, 4096);
    if (qmpc_splitter_feed(&s, (const char *)data, cut, on_line, &lines,
                           &err)) {
        qmpc_splitter_feed(&s, (const char *)data + cut, size - cut, on_line,
                           &lines, &err);
    }
    if (err) {
        g_error_free(err);
    }
    qmpc_splitter_clear(&s);
    return 0;
}
