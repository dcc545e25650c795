/*
 * cli-conn.c - kemari(1)'s connection to the control socket (see
 * cli-conn.h)
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli-conn.h"

G_DEFINE_QUARK(cliconn-error-quark, cliconn_error)

/* A full line plus its '\n' fits; one byte more without '\n' is too long. */
#define BUF_SIZE (CTLPROTO_MAX_LINE + 1)

struct cliconn {
    int fd;
    char *path;                 /* owned: for messages */
    int64_t next_id;            /* id of the next request, from 1 */
    char *buf;                  /* owned: BUF_SIZE bytes, not terminated */
    size_t len;                 /* bytes in buf not yet returned */
};

static bool G_GNUC_PRINTF(3, 4)
conn_fail(GError **error, enum ctlproto_exit code, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, CLICONN_ERROR, (int)code, msg);
    return false;
}

struct cliconn *
cliconn_open(const char *path, GError **error)
{
    struct sockaddr_un sa;
    struct cliconn *c;
    int fd, e;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
        conn_fail(error, CTLPROTO_EXIT_UNAVAILABLE,
                  "cannot reach kemarid at %s: socket path empty or longer "
                  "than %zu bytes", path, sizeof(sa.sun_path) - 1);
        return NULL;
    }
    memcpy(sa.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        e = errno;
        conn_fail(error, CTLPROTO_EXIT_FAILURE, "socket: %s", g_strerror(e));
        return NULL;
    }
    /* a UNIX socket connect does not block on a live listener */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED) {
            conn_fail(error, CTLPROTO_EXIT_UNAVAILABLE,
                      "cannot reach kemarid at %s: %s (is kemarid running?)",
                      path, g_strerror(e));
        } else if (e == EACCES || e == EPERM) {
            conn_fail(error, CTLPROTO_EXIT_PERMISSION,
                      "cannot reach kemarid at %s: %s (only root and the "
                      "members of kemari.conf's control-group may use it)",
                      path, g_strerror(e));
        } else {
            conn_fail(error, CTLPROTO_EXIT_UNAVAILABLE,
                      "cannot reach kemarid at %s: %s", path,
                      g_strerror(e));
        }
        return NULL;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        e = errno;
        close(fd);
        conn_fail(error, CTLPROTO_EXIT_FAILURE, "fcntl: %s", g_strerror(e));
        return NULL;
    }
    c = g_new0(struct cliconn, 1);
    c->fd = fd;
    c->path = g_strdup(path);
    c->next_id = 1;
    c->buf = g_malloc(BUF_SIZE);
    return c;
}

void
cliconn_close(struct cliconn *c)
{
    if (!c) {
        return;
    }
    close(c->fd);
    g_free(c->path);
    g_free(c->buf);
    g_free(c);
}

const char *
cliconn_path(const struct cliconn *c)
{
    return c->path;
}

/* Milliseconds left until DEADLINE (monotonic us; -1: none), for poll. */
static int
ms_left(gint64 deadline)
{
    gint64 left;

    if (deadline < 0) {
        return -1;
    }
    left = deadline - g_get_monotonic_time();
    if (left <= 0) {
        return 0;
    }
    return (int)MIN((left + 999) / 1000, G_MAXINT);
}

static gint64
deadline_in(int timeout_ms)
{
    return timeout_ms < 0 ? -1
                          : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
}

/*
 * Waits until the socket is ready for EVENTS.  Returns false with an
 * error on timeout or poll failure.
 */
static bool
wait_fd(struct cliconn *c, short events, gint64 deadline, int timeout_ms,
        GError **error)
{
    struct pollfd p = { .fd = c->fd, .events = events };
    int r;

    for (;;) {
        r = poll(&p, 1, ms_left(deadline));
        if (r > 0) {
            return true;
        }
        if (r == 0) {
            return conn_fail(error, CTLPROTO_EXIT_UNAVAILABLE,
                             "kemarid at %s did not answer within %d.%03d s",
                             c->path, timeout_ms / 1000, timeout_ms % 1000);
        }
        if (errno != EINTR) {
            int e = errno;

            return conn_fail(error, CTLPROTO_EXIT_FAILURE, "poll: %s",
                             g_strerror(e));
        }
    }
}

bool
cliconn_send(struct cliconn *c, struct ctlproto_request *req, int timeout_ms,
             GError **error)
{
    g_autofree char *line = NULL;
    gint64 deadline = deadline_in(timeout_ms);
    size_t len, off = 0;

    req->id = c->next_id++;
    line = ctlproto_request_format(req);
    len = strlen(line);
    while (off < len) {
        ssize_t n = send(c->fd, line + off, len - off, MSG_NOSIGNAL);

        if (n >= 0) {
            off += (size_t)n;
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_fd(c, POLLOUT, deadline, timeout_ms, error)) {
                return false;
            }
            continue;
        }
        {
            int e = errno;

            return conn_fail(error, CTLPROTO_EXIT_UNAVAILABLE,
                             "lost kemarid at %s: %s", c->path,
                             g_strerror(e));
        }
    }
    return true;
}

bool
cliconn_recv(struct cliconn *c, struct ctlproto_reply *out, int timeout_ms,
             GError **error)
{
    gint64 deadline = deadline_in(timeout_ms);
    char *nl;

    memset(out, 0, sizeof(*out));
    while (!(nl = memchr(c->buf, '\n', c->len))) {
        ssize_t n;

        if (c->len >= BUF_SIZE) {
            return conn_fail(error, CTLPROTO_EXIT_PROTOCOL,
                             "malformed reply from kemarid at %s: line "
                             "longer than %d bytes", c->path,
                             CTLPROTO_MAX_LINE);
        }
        n = read(c->fd, c->buf + c->len, BUF_SIZE - c->len);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n == 0) {
            if (c->len > 0) {
                return conn_fail(error, CTLPROTO_EXIT_PROTOCOL,
                                 "malformed reply from kemarid at %s: "
                                 "connection closed in the middle of a "
                                 "line", c->path);
            }
            return conn_fail(error, CTLPROTO_EXIT_UNAVAILABLE,
                             "kemarid at %s closed the connection",
                             c->path);
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_fd(c, POLLIN, deadline, timeout_ms, error)) {
                return false;
            }
            continue;
        }
        {
            int e = errno;

            return conn_fail(error, CTLPROTO_EXIT_UNAVAILABLE,
                             "lost kemarid at %s: %s", c->path,
                             g_strerror(e));
        }
    }
    {
        size_t line_len = (size_t)(nl - c->buf);
        g_autoptr(GError) perr = NULL;
        bool ok = ctlproto_reply_parse(c->buf, line_len, out, &perr);

        c->len -= line_len + 1;
        memmove(c->buf, nl + 1, c->len);
        if (!ok) {
            /* "malformed reply: ..." or "reply is not JSON: ..." */
            return conn_fail(error, CTLPROTO_EXIT_PROTOCOL,
                             "bad reply from kemarid at %s: %s", c->path,
                             perr->message);
        }
    }
    return true;
}

bool
cliconn_call(struct cliconn *c, struct ctlproto_request *req,
             struct ctlproto_reply *out, int timeout_ms, GError **error)
{
    int t = CLICONN_REPLY_TIMEOUT_MS;

    if (timeout_ms >= 0 && timeout_ms < t) {
        t = timeout_ms;
    }
    memset(out, 0, sizeof(*out));
    if (!cliconn_send(c, req, t, error)) {
        /*
         * kemarid may have refused this client (permission-denied, too
         * many clients) and hung up before reading the request: its
         * error reply can still be waiting in the socket.
         */
        g_autoptr(GError) late = NULL;

        if (cliconn_recv(c, out, 1000, &late) &&
            out->kind == CTLPROTO_REPLY_ERROR && out->id == -1) {
            g_clear_error(error);
            return true;
        }
        ctlproto_reply_clear(out);
        return false;
    }
    if (!cliconn_recv(c, out, t, error)) {
        return false;
    }
    /* an unreadable request is answered with "id":null */
    if (out->kind == CTLPROTO_REPLY_EVENT ||
        (out->id != req->id &&
         !(out->kind == CTLPROTO_REPLY_ERROR && out->id == -1))) {
        g_autofree char *got = out->kind == CTLPROTO_REPLY_EVENT
            ? g_strdup_printf("an event '%s'", out->event)
            : g_strdup_printf("a reply with id %" G_GINT64_FORMAT, out->id);

        ctlproto_reply_clear(out);
        return conn_fail(error, CTLPROTO_EXIT_PROTOCOL,
                         "bad reply from kemarid at %s: expected the reply "
                         "to request %" G_GINT64_FORMAT ", got %s", c->path,
                         req->id, got);
    }
    return true;
}
