/*
 * fuzz-ctlproto.c - libFuzzer harness for the control protocol
 *
 * The input is tried as a request and as a reply.  An accepted request
 * must survive format -> parse with the same fields; an accepted reply
 * must come back the same through the reply formatters.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"
#include "fuzz.h"

static void
check_request(const char *text, size_t size)
{
    struct ctlproto_request r, r2;
    GError *err = NULL;
    char *line;
    unsigned i;

    if (!ctlproto_request_parse(text, size, &r, &err)) {
        if (!err || (unsigned)err->code >= CTLPROTO_ERROR_COUNT) {
            abort();
        }
        g_error_free(err);
        return;
    }
    line = ctlproto_request_format(&r);
    if (!ctlproto_request_parse(line, strlen(line) - 1, &r2, NULL) ||
        r.id != r2.id || r.command != r2.command ||
        strcmp(r.vm, r2.vm) != 0 || strcmp(r.peer, r2.peer) != 0 ||
        r.interval_ms != r2.interval_ms ||
        r.n_replicate != r2.n_replicate ||
        r.n_replicate > CTLPROTO_MAX_REPLICATE) {
        abort();
    }
    for (i = 0; i < r.n_replicate; i++) {
        if (strcmp(r.replicate[i], r2.replicate[i]) != 0) {
            abort();
        }
    }
    g_free(line);
}

static void
check_reply(const char *text, size_t size)
{
    struct ctlproto_reply r, r2;
    char *line = NULL;

    if (!ctlproto_reply_parse(text, size, &r, NULL)) {
        return;
    }
    switch (r.kind) {
    case CTLPROTO_REPLY_OK:
        line = ctlproto_reply_ok(r.id, r.body);
        break;
    case CTLPROTO_REPLY_ERROR:
        line = ctlproto_reply_error(r.id, r.code, r.message);
        break;
    case CTLPROTO_REPLY_EVENT:
        line = ctlproto_reply_event(r.id, r.event, r.body);
        break;
    }
    if (!line || !ctlproto_reply_parse(line, strlen(line) - 1, &r2, NULL) ||
        r2.kind != r.kind || r2.id != r.id ||
        (r.body && !json_node_equal(r.body, r2.body))) {
        abort();
    }
    ctlproto_reply_clear(&r);
    ctlproto_reply_clear(&r2);
    g_free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_request((const char *)data, size);
    check_reply((const char *)data, size);
    return 0;
}
