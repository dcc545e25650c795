/*
 * test-kemarid-ctlproto.c - the control-socket protocol codec and the
 * peer-credential policy
 *
 * Valid requests of every command; a table of malformed requests, each
 * with its error code, exact message and the id the error reply carries;
 * start's replicated devices (every refusal, the exact line written);
 * request format/parse and reply format/parse round trips; malformed
 * replies; the exit-code mapping; the credential policy on hand-made
 * credentials and SO_PEERCRED on a real socket pair.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctlproto.h"

static bool
parse(const char *line, struct ctlproto_request *req, GError **err)
{
    return ctlproto_request_parse(line, strlen(line), req, err);
}

static void
test_valid_requests(void **state)
{
    struct ctlproto_request r;
    g_autoptr(GError) err = NULL;

    (void)state;
    assert_true(parse("{\"version\":1,\"id\":0,\"command\":\"status\"}", &r,
                      &err));
    assert_int_equal(r.command, CTLPROTO_CMD_STATUS);
    assert_int_equal(r.id, 0);
    assert_string_equal(r.vm, "");

    assert_true(parse(" {\"command\":\"status\",\"args\":{\"vm\":\"web1\"},"
                      "\"id\":9007199254740991,\"version\":1} ", &r, &err));
    assert_string_equal(r.vm, "web1");
    assert_true(r.id == CTLPROTO_ID_MAX);

    assert_true(parse("{\"version\":1,\"id\":3,\"command\":\"start\","
                      "\"args\":{\"vm\":\"web1\",\"peer\":\"node-b\"}}", &r,
                      &err));
    assert_int_equal(r.command, CTLPROTO_CMD_START);
    assert_string_equal(r.vm, "web1");
    assert_string_equal(r.peer, "node-b");
    assert_int_equal(r.n_replicate, 0);

    assert_true(parse("{\"version\":1,\"id\":3,\"command\":\"start\","
                      "\"args\":{\"replicate\":[\"virtio-disk0\","
                      "\"scsi0-0-0-0\"],\"vm\":\"web1\"}}", &r, &err));
    assert_int_equal(r.command, CTLPROTO_CMD_START);
    assert_string_equal(r.vm, "web1");
    assert_string_equal(r.peer, "");
    assert_int_equal(r.n_replicate, 2);
    assert_string_equal(r.replicate[0], "virtio-disk0");
    assert_string_equal(r.replicate[1], "scsi0-0-0-0");

    assert_true(parse("{\"version\":1,\"id\":4,\"command\":\"stop\","
                      "\"args\":{\"vm\":\"db\"}}", &r, &err));
    assert_int_equal(r.command, CTLPROTO_CMD_STOP);
    assert_true(parse("{\"version\":1,\"id\":5,\"command\":\"failover\","
                      "\"args\":{\"vm\":\"db\"}}", &r, &err));
    assert_int_equal(r.command, CTLPROTO_CMD_FAILOVER);
    assert_true(parse("{\"version\":1,\"id\":6,\"command\":\"nodes\","
                      "\"args\":{}}", &r, &err));
    assert_int_equal(r.command, CTLPROTO_CMD_NODES);
    assert_true(parse("{\"version\":1,\"id\":8,\"command\":\"fenced\","
                      "\"args\":{\"node\":\"node-b\"}}", &r, &err));
    assert_int_equal(r.command, CTLPROTO_CMD_FENCED);
    assert_string_equal(r.peer, "node-b");
    assert_string_equal(r.vm, "");

    assert_true(parse("{\"version\":1,\"id\":7,"
                      "\"command\":\"stats-subscribe\"}", &r, &err));
    assert_int_equal(r.command, CTLPROTO_CMD_STATS_SUBSCRIBE);
    assert_int_equal(r.interval_ms, CTLPROTO_INTERVAL_DEFAULT);
    assert_true(parse("{\"version\":1,\"id\":7,"
                      "\"command\":\"stats-subscribe\",\"args\":"
                      "{\"vm\":\"a\",\"interval-ms\":100}}", &r, &err));
    assert_int_equal(r.interval_ms, 100);
    assert_null(err);
}

struct bad_case {
    const char *line;
    enum ctlproto_error_code code;
    int64_t id;                 /* the id the error reply must carry */
    const char *message;        /* exact, or prefix when ending in '*' */
};

static const struct bad_case bad_requests[] = {
    { "", CTLPROTO_ERROR_BAD_REQUEST, -1, "request is not JSON: offset 0: "
      "value expected, end of text found" },
    { "[1,2]", CTLPROTO_ERROR_BAD_REQUEST, -1,
      "request is not a JSON object" },
    { "\"status\"", CTLPROTO_ERROR_BAD_REQUEST, -1,
      "request is not a JSON object" },
    { "{\"version\":1,", CTLPROTO_ERROR_BAD_REQUEST, -1,
      "request is not JSON: *" },
    { "{\"version\":1,\"id\":1,\"command\":\"status\"} {}",
      CTLPROTO_ERROR_BAD_REQUEST, -1, "request is not JSON: offset 40: "
      "text after the value" },
    { "{\"version\":1,\"id\":1,\"id\":2,\"command\":\"status\"}",
      CTLPROTO_ERROR_BAD_REQUEST, -1, "request is not JSON: offset 21: "
      "duplicate member name" },
    { "\xff{}", CTLPROTO_ERROR_BAD_REQUEST, -1, "request is not UTF-8" },
    { "{\"version\":1}", CTLPROTO_ERROR_BAD_REQUEST, -1,
      "request has no member 'id' with an integer from 0 to 2^53-1" },
    { "{\"version\":1,\"id\":-1}", CTLPROTO_ERROR_BAD_REQUEST, -1,
      "request has no member 'id' with an integer from 0 to 2^53-1" },
    { "{\"version\":1,\"id\":9007199254740992}", CTLPROTO_ERROR_BAD_REQUEST,
      -1, "request has no member 'id' with an integer from 0 to 2^53-1" },
    { "{\"version\":1,\"id\":1.5}", CTLPROTO_ERROR_BAD_REQUEST, -1,
      "request has no member 'id' with an integer from 0 to 2^53-1" },
    { "{\"version\":1,\"id\":\"1\"}", CTLPROTO_ERROR_BAD_REQUEST, -1,
      "request has no member 'id' with an integer from 0 to 2^53-1" },
    { "{\"id\":4,\"command\":\"status\"}", CTLPROTO_ERROR_BAD_REQUEST, 4,
      "request has no integer member 'version'" },
    { "{\"version\":\"1\",\"id\":4}", CTLPROTO_ERROR_BAD_REQUEST, 4,
      "request has no integer member 'version'" },
    { "{\"version\":2,\"id\":5,\"command\":\"status\"}",
      CTLPROTO_ERROR_VERSION, 5,
      "request protocol version 2 not supported (kemarid speaks 1)" },
    { "{\"version\":1,\"id\":6,\"command\":\"status\",\"extra\":1}",
      CTLPROTO_ERROR_BAD_REQUEST, 6,
      "request has an unknown member 'extra'" },
    { "{\"version\":1,\"id\":7}", CTLPROTO_ERROR_BAD_REQUEST, 7,
      "request has no string member 'command'" },
    { "{\"version\":1,\"id\":7,\"command\":3}", CTLPROTO_ERROR_BAD_REQUEST, 7,
      "request has no string member 'command'" },
    { "{\"version\":1,\"id\":8,\"command\":\"reboot\"}",
      CTLPROTO_ERROR_UNKNOWN_COMMAND, 8, "unknown command 'reboot' (known: "
      "status, start, stop, failover, nodes, stats-subscribe, hook-event, "
      "fenced)" },
    { "{\"version\":1,\"id\":97,\"command\":\"fenced\"}",
      CTLPROTO_ERROR_BAD_REQUEST, 97, "command 'fenced': *" },
    { "{\"version\":1,\"id\":96,\"command\":\"fenced\",\"args\":"
      "{\"node\":\"-x\"}}", CTLPROTO_ERROR_BAD_REQUEST, 96,
      "command 'fenced': argument 'node': invalid name *" },
    { "{\"version\":1,\"id\":99,\"command\":\"hook-event\",\"args\":"
      "{\"vm\":\"web1\",\"op\":\"exploded\"}}", CTLPROTO_ERROR_BAD_REQUEST, 99,
      "command 'hook-event': argument 'op' must be one of started, stopped, "
      "release" },
    { "{\"version\":1,\"id\":98,\"command\":\"hook-event\",\"args\":"
      "{\"vm\":\"web1\"}}", CTLPROTO_ERROR_BAD_REQUEST, 98,
      "command 'hook-event': *" },
    { "{\"version\":1,\"id\":9,\"command\":\"start\",\"args\":[]}",
      CTLPROTO_ERROR_BAD_REQUEST, 9, "command 'start': 'args' must be an "
      "object" },
    { "{\"version\":1,\"id\":10,\"command\":\"start\",\"args\":"
      "{\"peer\":\"node-b\"}}", CTLPROTO_ERROR_BAD_REQUEST, 10,
      "command 'start': missing argument 'vm'" },
    { "{\"version\":1,\"id\":11,\"command\":\"stop\"}",
      CTLPROTO_ERROR_BAD_REQUEST, 11, "command 'stop': missing argument "
      "'vm'" },
    { "{\"version\":1,\"id\":12,\"command\":\"stop\",\"args\":{\"vm\":1}}",
      CTLPROTO_ERROR_BAD_REQUEST, 12, "command 'stop': argument 'vm' must "
      "be a string" },
    { "{\"version\":1,\"id\":13,\"command\":\"failover\",\"args\":"
      "{\"vm\":\"../etc\"}}", CTLPROTO_ERROR_BAD_REQUEST, 13,
      "command 'failover': argument 'vm': invalid name (1 to 64 of A-Z a-z "
      "0-9 _ . -, not starting with . or -)" },
    { "{\"version\":1,\"id\":14,\"command\":\"nodes\",\"args\":"
      "{\"vm\":\"x\"}}", CTLPROTO_ERROR_BAD_REQUEST, 14,
      "command 'nodes': unknown argument 'vm'" },
    { "{\"version\":1,\"id\":15,\"command\":\"status\",\"args\":"
      "{\"vm\":\"x\",\"peer\":\"y\"}}", CTLPROTO_ERROR_BAD_REQUEST, 15,
      "command 'status': unknown argument 'peer'" },
    { "{\"version\":1,\"id\":16,\"command\":\"stats-subscribe\",\"args\":"
      "{\"interval-ms\":99}}", CTLPROTO_ERROR_BAD_REQUEST, 16,
      "command 'stats-subscribe': argument 'interval-ms' must be an integer "
      "from 100 to 60000" },
    { "{\"version\":1,\"id\":17,\"command\":\"stats-subscribe\",\"args\":"
      "{\"interval-ms\":\"fast\"}}", CTLPROTO_ERROR_BAD_REQUEST, 17,
      "command 'stats-subscribe': argument 'interval-ms' must be an integer "
      "from 100 to 60000" },
    /* start's replicated devices */
    { "{\"version\":1,\"id\":18,\"command\":\"start\",\"args\":"
      "{\"vm\":\"web1\",\"replicate\":[]}}", CTLPROTO_ERROR_BAD_REQUEST, 18,
      "command 'start': argument 'replicate' must be an array of 1 to 16 "
      "device ids" },
    { "{\"version\":1,\"id\":19,\"command\":\"start\",\"args\":"
      "{\"vm\":\"web1\",\"replicate\":\"disk0\"}}",
      CTLPROTO_ERROR_BAD_REQUEST, 19, "command 'start': argument 'replicate' "
      "must be an array of 1 to 16 device ids" },
    { "{\"version\":1,\"id\":20,\"command\":\"start\",\"args\":"
      "{\"vm\":\"web1\",\"replicate\":{\"disk0\":true}}}",
      CTLPROTO_ERROR_BAD_REQUEST, 20, "command 'start': argument 'replicate' "
      "must be an array of 1 to 16 device ids" },
    { "{\"version\":1,\"id\":21,\"command\":\"start\",\"args\":"
      "{\"vm\":\"web1\",\"replicate\":[\"disk0\",null]}}",
      CTLPROTO_ERROR_BAD_REQUEST, 21, "command 'start': argument "
      "'replicate[1]' must be a string" },
    { "{\"version\":1,\"id\":22,\"command\":\"start\",\"args\":"
      "{\"vm\":\"web1\",\"replicate\":[[\"disk0\"]]}}",
      CTLPROTO_ERROR_BAD_REQUEST, 22, "command 'start': argument "
      "'replicate[0]' must be a string" },
    { "{\"version\":1,\"id\":23,\"command\":\"start\",\"args\":"
      "{\"vm\":\"web1\",\"replicate\":[\"disk0\",\"disk/1\"]}}",
      CTLPROTO_ERROR_BAD_REQUEST, 23, "command 'start': argument "
      "'replicate[1]': invalid device id (1 to 64 of A-Z a-z 0-9 _ . -, not "
      "starting with . or -)" },
    { "{\"version\":1,\"id\":24,\"command\":\"start\",\"args\":"
      "{\"vm\":\"web1\",\"replicate\":[\"\"]}}",
      CTLPROTO_ERROR_BAD_REQUEST, 24, "command 'start': argument "
      "'replicate[0]': invalid device id (1 to 64 of A-Z a-z 0-9 _ . -, not "
      "starting with . or -)" },
    { "{\"version\":1,\"id\":25,\"command\":\"start\",\"args\":"
      "{\"vm\":\"web1\",\"replicate\":[\"d0\",\"d1\",\"d0\"]}}",
      CTLPROTO_ERROR_BAD_REQUEST, 25, "command 'start': argument 'replicate': "
      "device id 'd0' appears twice" },
    { "{\"version\":1,\"id\":26,\"command\":\"start\",\"args\":"
      "{\"vm\":\"web1\",\"replicate\":[\"d0\",\"d1\",\"d2\",\"d3\","
      "\"d4\",\"d5\",\"d6\",\"d7\",\"d8\",\"d9\",\"d10\",\"d11\",\"d12\","
      "\"d13\",\"d14\",\"d15\",\"d16\"]}}", CTLPROTO_ERROR_BAD_REQUEST, 26,
      "command 'start': argument 'replicate' has 17 device ids (at most "
      "16)" },
    { "{\"version\":1,\"id\":27,\"command\":\"stop\",\"args\":"
      "{\"vm\":\"web1\",\"replicate\":[\"disk0\"]}}",
      CTLPROTO_ERROR_BAD_REQUEST, 27, "command 'stop': unknown argument "
      "'replicate'" },
    { "{\"version\":1,\"id\":28,\"command\":\"start\",\"args\":"
      "{\"replicate\":[\"disk0\"]}}", CTLPROTO_ERROR_BAD_REQUEST, 28,
      "command 'start': missing argument 'vm'" },
};

static void
check_bad(const char *line, size_t len, const struct bad_case *c)
{
    struct ctlproto_request r;
    g_autoptr(GError) err = NULL;
    size_t mlen = strlen(c->message);

    if (ctlproto_request_parse(line, len, &r, &err)) {
        fail_msg("accepted: %s", line);
    }
    assert_true(err->domain == CTLPROTO_ERROR);
    if (err->code != (int)c->code) {
        fail_msg("%s: code %d (%s), expected %d", line, err->code,
                 err->message, c->code);
    }
    if (c->message[mlen - 1] == '*') {
        assert_true(strncmp(err->message, c->message, mlen - 1) == 0);
    } else {
        assert_string_equal(err->message, c->message);
    }
    assert_true(r.id == c->id);
}

static void
test_malformed_requests(void **state)
{
    unsigned i;
    static const struct bad_case nul = {
        NULL, CTLPROTO_ERROR_BAD_REQUEST, -1, "NUL byte in request" };
    static const struct bad_case too_long = {
        NULL, CTLPROTO_ERROR_BAD_REQUEST, -1,
        "request too long: 65537 bytes (at most 65536)" };
    g_autofree char *big = g_malloc(CTLPROTO_MAX_LINE + 1);

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(bad_requests); i++) {
        check_bad(bad_requests[i].line, strlen(bad_requests[i].line),
                  &bad_requests[i]);
    }
    check_bad("{\"version\":1,\"id\":1,\"command\":\"st\0tus\"}", 39, &nul);
    memset(big, ' ', CTLPROTO_MAX_LINE + 1);
    check_bad(big, CTLPROTO_MAX_LINE + 1, &too_long);
}

/* A long unknown command is cut in the message, on a UTF-8 boundary. */
static void
test_unknown_command_cut(void **state)
{
    GString *line = g_string_new("{\"version\":1,\"id\":1,\"command\":\"");
    struct ctlproto_request r;
    g_autoptr(GError) err = NULL;
    unsigned i;

    (void)state;
    for (i = 0; i < 100; i++) {
        g_string_append(line, "\xc3\xa9");      /* é */
    }
    g_string_append(line, "\"}");
    assert_false(ctlproto_request_parse(line->str, line->len, &r, &err));
    assert_int_equal(err->code, CTLPROTO_ERROR_UNKNOWN_COMMAND);
    assert_true(g_utf8_validate(err->message, -1, NULL));
    assert_int_equal(g_utf8_strlen(err->message, -1),
                     strlen("unknown command '' (known: status, start, "
                            "stop, failover, nodes, stats-subscribe, "
                            "hook-event, fenced)") + 64);
    g_string_free(line, TRUE);
}

static void
test_request_round_trip(void **state)
{
    unsigned c;

    (void)state;
    for (c = 0; c < CTLPROTO_CMD_COUNT; c++) {
        struct ctlproto_request in, out;
        g_autofree char *line = NULL;
        g_autoptr(GError) err = NULL;

        memset(&in, 0, sizeof(in));
        in.id = 40 + c;
        in.command = c;
        in.interval_ms = CTLPROTO_INTERVAL_DEFAULT;
        if (c == CTLPROTO_CMD_STATS_SUBSCRIBE) {
            in.interval_ms = 250;
        }
        if (c != CTLPROTO_CMD_NODES && c != CTLPROTO_CMD_FENCED) {
            g_strlcpy(in.vm, "web1", sizeof(in.vm));
        }
        if (c == CTLPROTO_CMD_START || c == CTLPROTO_CMD_FENCED) {
            g_strlcpy(in.peer, "node-b", sizeof(in.peer));
        }
        if (c == CTLPROTO_CMD_HOOK_EVENT) {
            g_strlcpy(in.op, "stopped", sizeof(in.op));
        }
        if (c == CTLPROTO_CMD_START) {
            g_strlcpy(in.replicate[0], "virtio-disk0",
                      sizeof(in.replicate[0]));
            g_strlcpy(in.replicate[1], "scsi0-0-0-0",
                      sizeof(in.replicate[1]));
            in.n_replicate = 2;
        }
        line = ctlproto_request_format(&in);
        assert_non_null(line);
        assert_true(g_str_has_suffix(line, "\n"));
        /* exactly one line */
        assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
        if (!ctlproto_request_parse(line, strlen(line) - 1, &out, &err)) {
            fail_msg("%s: %s", line, err->message);
        }
        assert_true(out.id == in.id);
        assert_int_equal(out.command, in.command);
        assert_string_equal(out.vm, in.vm);
        assert_string_equal(out.peer, in.peer);
        assert_string_equal(out.op, in.op);
        assert_int_equal(out.interval_ms, in.interval_ms);
        assert_int_equal(out.n_replicate, in.n_replicate);
        assert_string_equal(out.replicate[0], in.replicate[0]);
        assert_string_equal(out.replicate[1], in.replicate[1]);
    }
}

/*
 * start's "replicate": written only when there are devices, in their
 * order; the most devices, of the longest ids, come back.
 */
static void
test_request_replicate(void **state)
{
    struct ctlproto_request in, out;
    g_autoptr(GError) err = NULL;
    char *line;
    unsigned i;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.id = 3;
    in.command = CTLPROTO_CMD_START;
    in.interval_ms = CTLPROTO_INTERVAL_DEFAULT;
    g_strlcpy(in.vm, "web1", sizeof(in.vm));
    g_strlcpy(in.peer, "node-b", sizeof(in.peer));
    line = ctlproto_request_format(&in);
    assert_string_equal(line, "{\"version\":1,\"id\":3,\"command\":"
                        "\"start\",\"args\":{\"vm\":\"web1\","
                        "\"peer\":\"node-b\"}}\n");
    g_free(line);

    g_strlcpy(in.replicate[0], "virtio-disk1", sizeof(in.replicate[0]));
    g_strlcpy(in.replicate[1], "virtio-disk0", sizeof(in.replicate[1]));
    in.n_replicate = 2;
    line = ctlproto_request_format(&in);
    assert_string_equal(line, "{\"version\":1,\"id\":3,\"command\":"
                        "\"start\",\"args\":{\"vm\":\"web1\","
                        "\"peer\":\"node-b\",\"replicate\":"
                        "[\"virtio-disk1\",\"virtio-disk0\"]}}\n");
    g_free(line);

    for (i = 0; i < CTLPROTO_MAX_REPLICATE; i++) {
        /* 64 characters, the last two distinct */
        g_autofree char *id = g_strdup_printf("%062d%02u", 0, i);

        g_strlcpy(in.replicate[i], id, sizeof(in.replicate[i]));
        assert_int_equal(strlen(in.replicate[i]), CTLPROTO_NAME_MAX);
    }
    in.n_replicate = CTLPROTO_MAX_REPLICATE;
    line = ctlproto_request_format(&in);
    if (!ctlproto_request_parse(line, strlen(line) - 1, &out, &err)) {
        fail_msg("%s: %s", line, err->message);
    }
    g_free(line);
    assert_int_equal(out.n_replicate, CTLPROTO_MAX_REPLICATE);
    for (i = 0; i < CTLPROTO_MAX_REPLICATE; i++) {
        assert_string_equal(out.replicate[i], in.replicate[i]);
    }
}

static void
test_reply_round_trip(void **state)
{
    g_autoptr(JsonNode) result = json_from_string(
        "{\"vms\":[{\"name\":\"web1\",\"state\":\"PROTECTED\"}]}", NULL);
    g_autofree char *ok = ctlproto_reply_ok(12, result);
    g_autofree char *empty = ctlproto_reply_ok(13, NULL);
    g_autofree char *er = ctlproto_reply_error(-1, CTLPROTO_ERROR_REFUSED,
                                               "no quorum");
    g_autofree char *ev = ctlproto_reply_event(14, "stats", result);
    struct ctlproto_reply r;
    g_autoptr(GError) err = NULL;

    (void)state;
    assert_string_equal(ok, "{\"version\":1,\"id\":12,\"ok\":true,"
                        "\"result\":{\"vms\":[{\"name\":\"web1\","
                        "\"state\":\"PROTECTED\"}]}}\n");
    assert_true(ctlproto_reply_parse(ok, strlen(ok), &r, &err));
    assert_int_equal(r.kind, CTLPROTO_REPLY_OK);
    assert_true(r.id == 12);
    assert_true(json_node_equal(r.body, result));
    ctlproto_reply_clear(&r);

    assert_true(ctlproto_reply_parse(empty, strlen(empty), &r, &err));
    assert_int_equal(json_object_get_size(json_node_get_object(r.body)), 0);
    ctlproto_reply_clear(&r);

    assert_string_equal(er, "{\"version\":1,\"id\":null,\"ok\":false,"
                        "\"error\":{\"code\":\"refused\","
                        "\"message\":\"no quorum\"}}\n");
    assert_true(ctlproto_reply_parse(er, strlen(er), &r, &err));
    assert_int_equal(r.kind, CTLPROTO_REPLY_ERROR);
    assert_true(r.id == -1);
    assert_int_equal(r.code, CTLPROTO_ERROR_REFUSED);
    assert_string_equal(r.code_name, "refused");
    assert_string_equal(r.message, "no quorum");
    ctlproto_reply_clear(&r);

    assert_true(ctlproto_reply_parse(ev, strlen(ev), &r, &err));
    assert_int_equal(r.kind, CTLPROTO_REPLY_EVENT);
    assert_string_equal(r.event, "stats");
    assert_true(json_node_equal(r.body, result));
    ctlproto_reply_clear(&r);
    assert_null(err);
}

static void
test_reply_unknown_code_and_malformed(void **state)
{
    static const char *const bad[] = {
        "{\"version\":1,\"id\":1}",
        "{\"version\":1,\"id\":1,\"ok\":1,\"result\":{}}",
        "{\"version\":1,\"id\":1,\"ok\":true}",
        "{\"version\":1,\"id\":1,\"ok\":true,\"result\":[]}",
        "{\"version\":1,\"id\":1,\"ok\":true,\"result\":{},\"x\":0}",
        "{\"version\":1,\"id\":1,\"ok\":false,\"result\":{}}",
        "{\"version\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"x\"}}",
        "{\"version\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"x\","
        "\"message\":\"m\",\"hint\":\"h\"}}",
        "{\"version\":1,\"id\":1,\"event\":\"\",\"data\":{}}",
        "{\"version\":1,\"id\":1,\"event\":\"stats\"}",
        "{\"version\":1,\"id\":1,\"event\":\"stats\",\"data\":{},\"ok\":true}",
        "{\"version\":1,\"id\":-2,\"ok\":true,\"result\":{}}",
        "{\"id\":1,\"ok\":true,\"result\":{}}",
        "not json",
    };
    static const char unknown[] = "{\"version\":1,\"id\":2,\"ok\":false,"
        "\"error\":{\"code\":\"quota-exceeded\",\"message\":\"later\"}}";
    static const char v2[] = "{\"version\":2,\"id\":2,\"ok\":true,"
        "\"result\":{}}";
    struct ctlproto_reply r;
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;

        if (ctlproto_reply_parse(bad[i], strlen(bad[i]), &r, &err)) {
            fail_msg("accepted: %s", bad[i]);
        }
        assert_int_equal(err->code, CTLPROTO_ERROR_BAD_REPLY);
        assert_null(r.body);
        assert_null(r.message);
    }
    {
        g_autoptr(GError) err = NULL;

        assert_false(ctlproto_reply_parse(v2, strlen(v2), &r, &err));
        assert_int_equal(err->code, CTLPROTO_ERROR_VERSION);
        assert_string_equal(err->message, "reply protocol version 2 not "
                            "supported (kemari speaks 1)");
    }
    assert_true(ctlproto_reply_parse(unknown, strlen(unknown), &r, NULL));
    assert_int_equal(r.code, CTLPROTO_ERROR_INTERNAL);
    assert_string_equal(r.code_name, "quota-exceeded");
    assert_int_equal(ctlproto_exit_code(r.code), CTLPROTO_EXIT_FAILURE);
    ctlproto_reply_clear(&r);
}

static void
test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(ctlproto_exit_code(CTLPROTO_ERROR_BAD_REQUEST), 2);
    assert_int_equal(ctlproto_exit_code(CTLPROTO_ERROR_NOT_FOUND), 3);
    assert_int_equal(ctlproto_exit_code(CTLPROTO_ERROR_REFUSED), 4);
    assert_int_equal(ctlproto_exit_code(CTLPROTO_ERROR_PERMISSION), 5);
    assert_int_equal(ctlproto_exit_code(CTLPROTO_ERROR_UNAVAILABLE), 6);
    assert_int_equal(ctlproto_exit_code(CTLPROTO_ERROR_VERSION), 7);
    assert_int_equal(ctlproto_exit_code(CTLPROTO_ERROR_BAD_REPLY), 7);
    assert_int_equal(ctlproto_exit_code(CTLPROTO_ERROR_INTERNAL), 1);
    assert_int_equal(ctlproto_exit_code(CTLPROTO_ERROR_COUNT), 1);
    assert_string_equal(ctlproto_error_name(CTLPROTO_ERROR_PERMISSION),
                        "permission-denied");
    assert_string_equal(ctlproto_command_name(CTLPROTO_CMD_STATS_SUBSCRIBE),
                        "stats-subscribe");
    assert_string_equal(ctlproto_command_name(CTLPROTO_CMD_COUNT), "?");
}

static void
test_cred_policy(void **state)
{
    gid_t groups[] = { 24, 1001, 27 };
    struct ctlproto_cred root = { 1, 0, 0, NULL, 0 };
    struct ctlproto_cred user = { 2, 1000, 1000, groups, 3 };
    struct ctlproto_cred primary = { 3, 1002, 1001, NULL, 0 };
    g_autoptr(GError) err = NULL;

    (void)state;
    assert_true(ctlproto_cred_allowed(&root, false, 0, NULL, &err));
    assert_true(ctlproto_cred_allowed(&root, true, 1001, "kemari", &err));
    /* supplementary and primary group membership both count */
    assert_true(ctlproto_cred_allowed(&user, true, 1001, "kemari", &err));
    assert_true(ctlproto_cred_allowed(&primary, true, 1001, "kemari", &err));
    assert_null(err);

    assert_false(ctlproto_cred_allowed(&user, true, 1005, "kemari", &err));
    assert_true(g_error_matches(err, CTLPROTO_ERROR,
                                CTLPROTO_ERROR_PERMISSION));
    assert_string_equal(err->message, "permission denied: uid 1000 is "
                        "neither root nor a member of group 'kemari' "
                        "(gid 1005)");
    g_clear_error(&err);
    assert_false(ctlproto_cred_allowed(&user, false, 0, NULL, &err));
    assert_string_equal(err->message, "permission denied: only root may use "
                        "kemarid's control socket (uid 1000); control-group "
                        "in kemari.conf can allow a group");
}

/* SO_PEERCRED/SO_PEERGROUPS on a real socket pair: ourselves. */
static void
test_peer_cred_socketpair(void **state)
{
    int sv[2];
    struct ctlproto_cred cred;
    g_autoptr(GError) err = NULL;
    gid_t mine[256];
    int n, i;
    unsigned j;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_true(ctlproto_peer_cred(sv[0], &cred, &err));
    assert_int_equal(cred.pid, getpid());
    assert_int_equal(cred.uid, geteuid());
    assert_int_equal(cred.gid, getegid());
    n = getgroups(G_N_ELEMENTS(mine), mine);
    assert_true(n >= 0);
    assert_int_equal(cred.n_groups, n);
    for (i = 0; i < n; i++) {
        for (j = 0; j < cred.n_groups; j++) {
            if (cred.groups[j] == mine[i]) {
                break;
            }
        }
        assert_true(j < cred.n_groups);
    }
    ctlproto_cred_clear(&cred);
    close(sv[0]);
    close(sv[1]);

    /* a closed descriptor: an error naming the option, not a crash */
    assert_false(ctlproto_peer_cred(sv[0], &cred, &err));
    assert_true(err->domain == G_IO_ERROR);
    assert_true(g_str_has_prefix(err->message, "control socket peer "
                                 "credentials (SO_PEERCRED): "));
    assert_null(cred.groups);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_requests),
        cmocka_unit_test(test_malformed_requests),
        cmocka_unit_test(test_unknown_command_cut),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_request_replicate),
        cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_reply_unknown_code_and_malformed),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_cred_policy),
        cmocka_unit_test(test_peer_cred_socketpair),
    };

    return cmocka_run_group_tests_name("kemarid-ctlproto", tests, NULL,
                                       NULL);
}
