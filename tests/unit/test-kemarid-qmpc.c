/*
 * test-kemarid-qmpc.c - the QMP client
 *
 * The pure layer (line parser, line splitter) with tables of valid and
 * malformed input; then the client on a GLib main loop against the
 * scripted fake QEMU: greeting and negotiation, replies matched by id
 * (also out of order), error replies, events split across reads and
 * batched in one read, reconnection with back-off after the socket
 * closes or QEMU talks nonsense, an over-long line, a QEMU that never
 * greets, and closing with commands pending.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "qmpc.h"
#include "test-kemarid-fakeqemu.h"

/* ------------------------------------------------------------------ */
/* The line parser */

static void
test_parse_valid(void **state)
{
    struct qmpc_msg m;
    g_autoptr(GError) err = NULL;
    g_autofree char *s = NULL;

    (void)state;
    assert_true(qmpc_parse_line(FQ_GREETING, strlen(FQ_GREETING) - 1, &m,
                                &err));
    assert_int_equal(m.kind, QMPC_MSG_GREETING);
    assert_true(JSON_NODE_HOLDS_OBJECT(m.value));
    qmpc_msg_clear(&m);

#define LINE(t) t, strlen(t)
    assert_true(qmpc_parse_line(LINE("{\"return\": {}, \"id\": 7}"), &m,
                                &err));
    assert_int_equal(m.kind, QMPC_MSG_RETURN);
    assert_int_equal(m.id, 7);
    qmpc_msg_clear(&m);

    assert_true(qmpc_parse_line(LINE("{\"return\": [1, 2]}"), &m, &err));
    assert_int_equal(m.id, -1);
    assert_true(JSON_NODE_HOLDS_ARRAY(m.value));
    qmpc_msg_clear(&m);

    assert_true(qmpc_parse_line(LINE("{\"id\": 3, \"error\": {\"class\": "
                                     "\"GenericError\", \"desc\": \"no\"}}"),
                                &m, &err));
    assert_int_equal(m.kind, QMPC_MSG_ERROR);
    assert_string_equal(m.error_class, "GenericError");
    assert_string_equal(m.error_desc, "no");
    qmpc_msg_clear(&m);

    assert_true(qmpc_parse_line(LINE("{\"timestamp\": {\"seconds\": 1700000000,"
                                     " \"microseconds\": 5}, \"event\": "
                                     "\"KEMARI_STATE_CHANGE\", \"data\": "
                                     "{\"role\": \"primary\", \"state\": "
                                     "\"protected\", \"reason\": \"\"}}"),
                                &m, &err));
    assert_int_equal(m.kind, QMPC_MSG_EVENT);
    assert_string_equal(m.event, "KEMARI_STATE_CHANGE");
    assert_true(m.ts_sec == 1700000000);
    assert_true(m.ts_usec == 5);
    s = json_to_string(m.value, FALSE);
    assert_string_equal(s, "{\"role\":\"primary\",\"state\":\"protected\","
                        "\"reason\":\"\"}");
    qmpc_msg_clear(&m);

    /* no data: an empty object; unknown members ignored */
    assert_true(qmpc_parse_line(LINE("{\"event\": \"STOP\", \"x\": 1}"), &m,
                                &err));
    assert_int_equal(json_object_get_size(json_node_get_object(m.value)), 0);
    assert_true(m.ts_sec == -1);
    qmpc_msg_clear(&m);
    assert_null(err);
}

static void
test_parse_invalid(void **state)
{
    static const struct {
        const char *line;
        const char *message;
    } bad[] = {
        { "", "QMP line is not JSON: offset 0: value expected, end of text "
          "found" },
        { "{\"return\": {}} {}", "QMP line is not JSON: offset 15: text after "
          "the value" },
        { "[1]", "QMP line is not a JSON object" },
        { "{}", "QMP message with none of QMP, return, error, event" },
        { "{\"return\": 1, \"event\": \"X\"}", "QMP message with more than "
          "one of QMP, return, error, event" },
        { "{\"return\": 1, \"id\": \"k1\"}", "QMP reply id is not a "
          "non-negative integer (kemarid only sends those)" },
        { "{\"return\": 1, \"id\": -4}", "QMP reply id is not a non-negative "
          "integer (kemarid only sends those)" },
        { "{\"QMP\": {\"version\": {}}}", "malformed QMP greeting (needs an "
          "object 'QMP' with 'version' and 'capabilities')" },
        { "{\"QMP\": []}", "malformed QMP greeting (needs an object 'QMP' "
          "with 'version' and 'capabilities')" },
        { "{\"error\": {\"class\": \"X\"}}", "malformed QMP error (needs an "
          "object 'error' with strings 'class' and 'desc')" },
        { "{\"error\": \"bad\"}", "malformed QMP error (needs an object "
          "'error' with strings 'class' and 'desc')" },
        { "{\"event\": \"\"}", "malformed QMP event (needs a non-empty "
          "string 'event')" },
        { "{\"event\": 5}", "malformed QMP event (needs a non-empty string "
          "'event')" },
        { "{\"event\": \"STOP\", \"data\": []}", "QMP event STOP: 'data' is "
          "not an object" },
        { "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1}}",
          "QMP event STOP: malformed 'timestamp'" },
    };
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        struct qmpc_msg m;
        g_autoptr(GError) err = NULL;

        if (qmpc_parse_line(bad[i].line, strlen(bad[i].line), &m, &err)) {
            fail_msg("accepted %s", bad[i].line);
        }
        assert_true(g_error_matches(err, QMPC_ERROR, QMPC_ERROR_PROTOCOL));
        if (strcmp(err->message, bad[i].message) != 0) {
            fail_msg("%s: \"%s\", expected \"%s\"", bad[i].line,
                     err->message, bad[i].message);
        }
        assert_null(m.value);
        assert_null(m.event);
    }
}

/* ------------------------------------------------------------------ */
/* The splitter */

struct lines {
    GPtrArray *got;
    unsigned stop_after;        /* 0: never stop */
};

static bool
collect(const char *line, size_t len, void *opaque)
{
    struct lines *l = opaque;

    g_ptr_array_add(l->got, g_strndup(line, len));
    return l->stop_after == 0 || l->got->len < l->stop_after;
}

static void
test_splitter(void **state)
{
    struct qmpc_splitter s;
    struct lines l = { g_ptr_array_new_with_free_func(g_free), 0 };
    g_autoptr(GError) err = NULL;

    (void)state;
    qmpc_splitter_init(&s, 10);
    assert_true(qmpc_splitter_feed(&s, "ab", 2, collect, &l, &err));
    assert_int_equal(l.got->len, 0);
    assert_true(qmpc_splitter_feed(&s, "c\r\nde\n\nfg", 9, collect, &l,
                                   &err));
    assert_int_equal(l.got->len, 3);
    assert_string_equal(l.got->pdata[0], "abc");
    assert_string_equal(l.got->pdata[1], "de");
    assert_string_equal(l.got->pdata[2], "");
    assert_true(qmpc_splitter_feed(&s, "hij\n", 4, collect, &l, &err));
    assert_string_equal(l.got->pdata[3], "fghij");

    /* exactly max_line is fine, one more is not, across chunks too */
    assert_true(qmpc_splitter_feed(&s, "0123456789\n", 11, collect, &l,
                                   &err));
    assert_true(qmpc_splitter_feed(&s, "012345", 6, collect, &l, &err));
    assert_false(qmpc_splitter_feed(&s, "67890", 5, collect, &l, &err));
    assert_true(g_error_matches(err, QMPC_ERROR, QMPC_ERROR_PROTOCOL));
    assert_string_equal(err->message, "QMP line longer than 10 bytes");
    g_clear_error(&err);
    /* the splitter was reset */
    assert_true(qmpc_splitter_feed(&s, "x\n", 2, collect, &l, &err));
    assert_string_equal(l.got->pdata[l.got->len - 1], "x");

    /* a callback can stop the feed; the rest of the chunk is dropped */
    l.stop_after = l.got->len + 1;
    assert_false(qmpc_splitter_feed(&s, "a\nb\nc", 5, collect, &l, &err));
    assert_null(err);
    assert_string_equal(l.got->pdata[l.got->len - 1], "a");
    assert_int_equal(s.pending->len, 0);

    qmpc_splitter_clear(&s);
    g_ptr_array_free(l.got, TRUE);
}

/* ------------------------------------------------------------------ */
/* The client against the fake QEMU */

struct fixture {
    char *dir;
    char *path;
    guint tick;
    /* what the callbacks saw */
    unsigned connected;
    unsigned disconnected;
    int last_disconnect_code;
    GPtrArray *events;          /* "NAME {data}" */
    bool close_in_event;        /* qmpc_close() from the event callback */
};

struct reply {
    bool done;
    int code;                   /* -1 on success */
    char *message;
    char *value;                /* return value as JSON text */
    char *error_class;
};

static void
quiet(enum log_level level, const char *msg, void *opaque)
{
    (void)level;
    (void)msg;
    (void)opaque;
}

static gboolean
tick(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

static int
setup(void **state)
{
    struct fixture *fx = g_new0(struct fixture, 1);

    log_init("test-kemarid-qmpc", 1, LOG_LEVEL_DEBUG);
    log_set_sink(quiet, NULL);      /* connection failures are expected */
    fx->dir = g_dir_make_tmp("kemarid-qmpc-XXXXXX", NULL);
    assert_non_null(fx->dir);
    fx->path = g_build_filename(fx->dir, "qmp.sock", NULL);
    /* g_main_context_iteration() never sleeps for long */
    fx->tick = g_timeout_add(10, tick, NULL);
    fx->events = g_ptr_array_new_with_free_func(g_free);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    /* let sources of closed objects go away */
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    g_source_remove(fx->tick);
    unlink(fx->path);
    rmdir(fx->dir);
    g_free(fx->path);
    g_free(fx->dir);
    g_ptr_array_free(fx->events, TRUE);
    g_free(fx);
    return 0;
}

#define RUN_UNTIL(cond)                                                   \
    do {                                                                  \
        gint64 end_ = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;        \
        while (!(cond)) {                                                 \
            if (g_get_monotonic_time() > end_) {                          \
                fail_msg("timed out waiting for %s", #cond);              \
            }                                                             \
            g_main_context_iteration(NULL, TRUE);                         \
        }                                                                 \
    } while (0)

/* Turns the loop for MS milliseconds. */
static void
run_for(unsigned ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, TRUE);
    }
}

static void
on_connected(struct qmpc *q, JsonNode *greeting, void *opaque)
{
    struct fixture *fx = opaque;

    assert_non_null(greeting);
    assert_true(JSON_NODE_HOLDS_OBJECT(greeting));
    fx->connected++;
}

static void
on_disconnected(struct qmpc *q, const GError *why, void *opaque)
{
    struct fixture *fx = opaque;

    fx->disconnected++;
    fx->last_disconnect_code = why->code;
}

static void
on_event(struct qmpc *q, const struct qmpc_msg *ev, void *opaque)
{
    struct fixture *fx = opaque;
    g_autofree char *data = json_to_string(ev->value, FALSE);

    g_ptr_array_add(fx->events, g_strdup_printf("%s %s", ev->event, data));
    if (fx->close_in_event) {
        qmpc_close(q);
    }
}

static const struct qmpc_callbacks callbacks = {
    on_connected, on_disconnected, on_event,
};

static struct qmpc *
client(struct fixture *fx, const struct qmpc_params *params)
{
    static const struct qmpc_params fast = { 10, 40, 2000, 0 };
    g_autoptr(GError) err = NULL;
    struct qmpc *q = qmpc_new(fx->path, "web1", &callbacks, fx,
                              params ? params : &fast, &err);

    assert_non_null(q);
    qmpc_start(q);
    return q;
}

static void
on_reply(struct qmpc *q, const struct qmpc_msg *m, const GError *error,
         void *opaque)
{
    struct reply *r = opaque;

    assert_false(r->done);
    r->done = true;
    r->code = error ? error->code : -1;
    r->message = error ? g_strdup(error->message) : NULL;
    if (m && m->kind == QMPC_MSG_RETURN) {
        r->value = json_to_string(m->value, FALSE);
    }
    if (m && m->kind == QMPC_MSG_ERROR) {
        r->error_class = g_strdup(m->error_class);
    }
}

static void
reply_clear(struct reply *r)
{
    g_free(r->message);
    g_free(r->value);
    g_free(r->error_class);
    memset(r, 0, sizeof(*r));
}

static void
assert_script_ok(struct fakeqemu *f)
{
    if (fakeqemu_error(f)) {
        fail_msg("fake QEMU: %s", fakeqemu_error(f));
    }
}

static void
test_command_reply(void **state)
{
    static const struct fq_step script[] = {
        FQ_HANDSHAKE,
        { FQ_EXPECT, "{\"execute\": \"query-kemari\"}", 0 },
        { FQ_REPLY, "{\"return\": {\"role\": \"primary\", \"state\": "
          "\"protected\"}}", 0 },
        { FQ_EXPECT, "{\"execute\": \"migrate-set-parameters\", "
          "\"arguments\": {\"x-kemari-mode\": \"event\"}}", 0 },
        { FQ_REPLY, "{\"return\": {}}", 0 },
        { FQ_END, NULL, 0 },
    };
    struct fixture *fx = *state;
    struct fakeqemu *f = fakeqemu_new(fx->path, script);
    g_autoptr(qmpc) q = client(fx, NULL);
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(GError) err = NULL;
    struct reply r1 = { 0 }, r2 = { 0 };

    /* nothing can be sent before the session is negotiated */
    assert_false(qmpc_command(q, "query-kemari", NULL, on_reply, &r1, &err));
    assert_true(g_error_matches(err, QMPC_ERROR, QMPC_ERROR_NOT_CONNECTED));
    g_clear_error(&err);

    RUN_UNTIL(qmpc_is_ready(q));
    assert_int_equal(fx->connected, 1);
    assert_true(qmpc_command(q, "query-kemari", NULL, on_reply, &r1, &err));
    json_object_set_string_member(args, "x-kemari-mode", "event");
    assert_true(qmpc_command(q, "migrate-set-parameters", args, on_reply,
                             &r2, &err));
    RUN_UNTIL(r1.done && r2.done);
    assert_int_equal(r1.code, -1);
    assert_string_equal(r1.value, "{\"role\":\"primary\","
                        "\"state\":\"protected\"}");
    assert_int_equal(r2.code, -1);
    assert_string_equal(r2.value, "{}");
    assert_true(fakeqemu_done(f));
    assert_script_ok(f);
    assert_false(qmpc_command(q, "bad name", NULL, NULL, NULL, &err));
    assert_true(g_error_matches(err, QMPC_ERROR, QMPC_ERROR_PROTOCOL));
    reply_clear(&r1);
    reply_clear(&r2);
    fakeqemu_free(f);
}

static void
test_error_reply_and_out_of_order(void **state)
{
    static const struct fq_step script[] = {
        FQ_HANDSHAKE,
        { FQ_EXPECT, "{\"execute\": \"x-kemari-failover\"}", 0 },
        { FQ_EXPECT, "{\"execute\": \"query-kemari\"}", 0 },
        /* the second request is answered first */
        { FQ_REPLY, "{\"return\": {\"state\": \"standby\"}}", 0 },
        { FQ_REPLY, "{\"error\": {\"class\": \"GenericError\", "
          "\"desc\": \"no complete checkpoint\"}}", 1 },
        { FQ_END, NULL, 0 },
    };
    struct fixture *fx = *state;
    struct fakeqemu *f = fakeqemu_new(fx->path, script);
    g_autoptr(qmpc) q = client(fx, NULL);
    struct reply r1 = { 0 }, r2 = { 0 };

    RUN_UNTIL(qmpc_is_ready(q));
    assert_true(qmpc_command(q, "x-kemari-failover", NULL, on_reply, &r1,
                             NULL));
    assert_true(qmpc_command(q, "query-kemari", NULL, on_reply, &r2, NULL));
    RUN_UNTIL(r1.done && r2.done);
    assert_int_equal(r1.code, QMPC_ERROR_COMMAND);
    assert_string_equal(r1.message, "x-kemari-failover: GenericError: no "
                        "complete checkpoint");
    assert_string_equal(r1.error_class, "GenericError");
    assert_int_equal(r2.code, -1);
    assert_string_equal(r2.value, "{\"state\":\"standby\"}");
    assert_script_ok(f);
    /* a command error does not end the session */
    assert_true(qmpc_is_ready(q));
    assert_int_equal(fx->disconnected, 0);
    reply_clear(&r1);
    reply_clear(&r2);
    fakeqemu_free(f);
}

static void
test_events_split_and_batched(void **state)
{
    static const struct fq_step script[] = {
        FQ_HANDSHAKE,
        /* one event trickling in three bytes per read */
        { FQ_SEND_SPLIT, "{\"event\": \"KEMARI_STATE_CHANGE\", \"data\": "
          "{\"role\": \"primary\", \"state\": \"degraded\", \"reason\": "
          "\"ack timeout\"}, \"timestamp\": {\"seconds\": 1, "
          "\"microseconds\": 2}}\r\n", 3 },
        /* two events and a reply in one write */
        { FQ_EXPECT, "{\"execute\": \"query-kemari\"}", 0 },
        { FQ_SEND, "{\"event\": \"STOP\"}\n{\"event\": \"RESUME\", "
          "\"data\": {}}\n", 0 },
        { FQ_REPLY, "{\"return\": {}}", 0 },
        { FQ_END, NULL, 0 },
    };
    struct fixture *fx = *state;
    struct fakeqemu *f = fakeqemu_new(fx->path, script);
    g_autoptr(qmpc) q = client(fx, NULL);
    struct reply r = { 0 };

    RUN_UNTIL(qmpc_is_ready(q));
    RUN_UNTIL(fx->events->len == 1);
    assert_string_equal(fx->events->pdata[0], "KEMARI_STATE_CHANGE "
                        "{\"role\":\"primary\",\"state\":\"degraded\","
                        "\"reason\":\"ack timeout\"}");
    assert_true(qmpc_command(q, "query-kemari", NULL, on_reply, &r, NULL));
    RUN_UNTIL(r.done);
    assert_int_equal(fx->events->len, 3);
    assert_string_equal(fx->events->pdata[1], "STOP {}");
    assert_string_equal(fx->events->pdata[2], "RESUME {}");
    assert_script_ok(f);
    reply_clear(&r);
    fakeqemu_free(f);
}

/* The socket closes with a command pending: it fails, the client comes
 * back on its own, commands work again. */
static void
test_reconnect_after_close(void **state)
{
    static const struct fq_step script[] = {
        FQ_HANDSHAKE,
        { FQ_EXPECT, "{\"execute\": \"query-kemari\"}", 0 },
        { FQ_CLOSE, NULL, 0 },
        FQ_HANDSHAKE,
        { FQ_EXPECT, "{\"execute\": \"query-kemari\"}", 0 },
        { FQ_REPLY, "{\"return\": {\"state\": \"protected\"}}", 0 },
        { FQ_END, NULL, 0 },
    };
    struct fixture *fx = *state;
    struct fakeqemu *f = fakeqemu_new(fx->path, script);
    g_autoptr(qmpc) q = client(fx, NULL);
    struct reply r1 = { 0 }, r2 = { 0 };

    RUN_UNTIL(qmpc_is_ready(q));
    assert_true(qmpc_command(q, "query-kemari", NULL, on_reply, &r1, NULL));
    RUN_UNTIL(r1.done);
    assert_int_equal(r1.code, QMPC_ERROR_DISCONNECTED);
    assert_string_equal(r1.message, "query-kemari: QEMU closed the QMP "
                        "socket");
    assert_int_equal(fx->disconnected, 1);
    assert_int_equal(fx->last_disconnect_code, QMPC_ERROR_DISCONNECTED);
    RUN_UNTIL(fx->connected == 2);
    assert_true(qmpc_command(q, "query-kemari", NULL, on_reply, &r2, NULL));
    RUN_UNTIL(r2.done);
    assert_int_equal(r2.code, -1);
    assert_int_equal(fakeqemu_connections(f), 2);
    assert_script_ok(f);
    reply_clear(&r1);
    reply_clear(&r2);
    fakeqemu_free(f);
}

/* Nothing listens yet: the client keeps trying, with back-off. */
static void
test_retry_until_listening(void **state)
{
    static const struct fq_step script[] = {
        FQ_HANDSHAKE,
        { FQ_END, NULL, 0 },
    };
    struct fixture *fx = *state;
    g_autoptr(qmpc) q = client(fx, NULL);
    struct fakeqemu *f;

    run_for(100);
    assert_false(qmpc_is_ready(q));
    assert_int_equal(fx->connected, 0);
    f = fakeqemu_new(fx->path, script);
    RUN_UNTIL(qmpc_is_ready(q));
    assert_int_equal(fx->connected, 1);
    /* failed attempts before a session are not disconnections */
    assert_int_equal(fx->disconnected, 0);
    assert_script_ok(f);
    fakeqemu_free(f);
}

/*
 * Plays SCRIPT, in which QEMU misbehaves once and then accepts a second
 * session: the first ends with a protocol error, the client reconnects
 * on its own, no event of the bad session is delivered.
 */
static void
expect_protocol_reset(struct fixture *fx, const struct fq_step *script,
                      const struct qmpc_params *params)
{
    struct fakeqemu *f = fakeqemu_new(fx->path, script);
    g_autoptr(qmpc) q = client(fx, params);

    RUN_UNTIL(fx->connected == 2);
    assert_int_equal(fx->disconnected, 1);
    assert_int_equal(fx->last_disconnect_code, QMPC_ERROR_PROTOCOL);
    assert_int_equal(fx->events->len, 0);
    assert_script_ok(f);
    fakeqemu_free(f);
}

/* Garbage from QEMU ends the session. */
static void
test_garbage_resets_session(void **state)
{
    static const struct fq_step script[] = {
        FQ_HANDSHAKE,
        { FQ_SEND, "this is not JSON\n", 0 },
        FQ_HANDSHAKE,
        { FQ_END, NULL, 0 },
    };

    expect_protocol_reset(*state, script, NULL);
}

/* A reply to a command never sent is a protocol error too. */
static void
test_unknown_id_resets_session(void **state)
{
    static const struct fq_step script[] = {
        FQ_HANDSHAKE,
        { FQ_SEND, "{\"return\": {}, \"id\": 999}\n", 0 },
        FQ_HANDSHAKE,
        { FQ_END, NULL, 0 },
    };

    expect_protocol_reset(*state, script, NULL);
}

/* A line longer than the cap, arriving in pieces. */
static void
test_overlong_line(void **state)
{
    /* longer than the greeting, shorter than the event */
    static const struct qmpc_params small = { 10, 40, 2000, 160 };
    static const struct fq_step script[] = {
        FQ_HANDSHAKE,
        { FQ_SEND_SPLIT, "{\"event\": \"X\", \"data\": {\"pad\": \""
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}\n", 16 },
        FQ_HANDSHAKE,
        { FQ_END, NULL, 0 },
    };

    expect_protocol_reset(*state, script, &small);
}

/* QEMU accepts but never greets: timeout, then a fresh attempt. */
static void
test_greeting_timeout(void **state)
{
    static const struct qmpc_params impatient = { 10, 40, 50, 0 };
    static const struct fq_step script[] = {
        { FQ_ACCEPT, NULL, 0 },
        FQ_HANDSHAKE,
        { FQ_END, NULL, 0 },
    };
    struct fixture *fx = *state;
    struct fakeqemu *f = fakeqemu_new(fx->path, script);
    g_autoptr(qmpc) q = client(fx, &impatient);

    RUN_UNTIL(qmpc_is_ready(q));
    assert_int_equal(fakeqemu_connections(f), 2);
    assert_int_equal(fx->connected, 1);
    assert_script_ok(f);
    fakeqemu_free(f);
}

/* Closing fails pending commands with CANCELLED and stops everything;
 * closing from inside a callback is safe. */
static void
test_close_cancels(void **state)
{
    static const struct fq_step script[] = {
        FQ_HANDSHAKE,
        { FQ_EXPECT, "{\"execute\": \"query-kemari\"}", 0 },
        { FQ_SEND, "{\"event\": \"STOP\"}\n", 0 },
        { FQ_ACCEPT, NULL, 0 },
        { FQ_END, NULL, 0 },
    };
    struct fixture *fx = *state;
    struct fakeqemu *f = fakeqemu_new(fx->path, script);
    struct qmpc *q = client(fx, NULL);
    struct reply r = { 0 };
    g_autoptr(GError) err = NULL;

    RUN_UNTIL(qmpc_is_ready(q));
    fx->close_in_event = true;
    assert_true(qmpc_command(q, "query-kemari", NULL, on_reply, &r, NULL));
    RUN_UNTIL(r.done);
    assert_int_equal(r.code, QMPC_ERROR_CANCELLED);
    assert_int_equal(fx->events->len, 1);
    assert_false(qmpc_is_ready(q));
    assert_false(qmpc_command(q, "query-kemari", NULL, on_reply, &r, &err));
    /* no reconnection after a close */
    run_for(100);
    assert_int_equal(fakeqemu_connections(f), 1);
    assert_int_equal(fx->disconnected, 0);
    qmpc_unref(q);
    assert_script_ok(f);
    reply_clear(&r);
    fakeqemu_free(f);
}

static void
test_bad_path(void **state)
{
    g_autoptr(GError) err = NULL;
    char longpath[200];

    (void)state;
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_null(qmpc_new(longpath, "web1", &callbacks, NULL, NULL, &err));
    assert_true(g_error_matches(err, QMPC_ERROR, QMPC_ERROR_CONNECT));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_splitter),
        cmocka_unit_test_setup_teardown(test_command_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_reply_and_out_of_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_split_and_batched, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retry_until_listening, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_garbage_resets_session, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_id_resets_session,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlong_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_greeting_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels, setup, teardown),
        cmocka_unit_test(test_bad_path),
    };

    return cmocka_run_group_tests_name("kemarid-qmpc", tests, NULL, NULL);
}
