/*
 * cli-conn.h - kemari(1)'s connection to kemarid's control socket
 *
 * A blocking client: every write and read waits with poll() for at most
 * a timeout, so kemari(1) never hangs on a daemon that stopped
 * answering.  Requests get increasing ids starting at 1; a reply line
 * longer than CTLPROTO_MAX_LINE is a protocol error.  The codec is
 * ctlproto's.
 *
 * Errors are in the CLICONN_ERROR domain and their code is the exit
 * status kemari(1) returns for them (enum ctlproto_exit): 6 when the
 * daemon cannot be reached or stops answering, 5 when the socket's
 * permissions keep us out, 7 on a malformed reply.
 */
#ifndef KEMARI_DAEMON_CLI_CONN_H
#define KEMARI_DAEMON_CLI_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "ctlproto.h"

#define CLICONN_REPLY_TIMEOUT_MS 30000  /* default wait for one reply */

#define CLICONN_ERROR (cliconn_error_quark())
GQuark cliconn_error_quark(void);

struct cliconn;

/*
 * Connects to the control socket at PATH.  Returns NULL with a
 * CLICONN_ERROR on failure; its message names PATH and, when nothing
 * listens there, asks whether kemarid is running.
 */
struct cliconn *cliconn_open(const char *path, GError **error);
void cliconn_close(struct cliconn *c);
typedef struct cliconn cliconn;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cliconn, cliconn_close)

/* The path given to cliconn_open(); owned by C. */
const char *cliconn_path(const struct cliconn *c);

/*
 * Sends REQ with the next request id (stored in req->id), waiting at
 * most TIMEOUT_MS for the socket to take it.
 */
bool cliconn_send(struct cliconn *c, struct ctlproto_request *req,
                  int timeout_ms, GError **error);

/*
 * Reads and parses the next reply or event, waiting at most TIMEOUT_MS
 * (-1: forever) for it.  Call ctlproto_reply_clear(OUT) afterwards.
 */
bool cliconn_recv(struct cliconn *c, struct ctlproto_reply *out,
                  int timeout_ms, GError **error);

/*
 * Sends REQ and reads its reply (CLICONN_REPLY_TIMEOUT_MS for each, or
 * less when TIMEOUT_MS is smaller and not negative).  An error reply
 * is a success here: OUT->kind says which it is.  A reply with another
 * id, or an event, is a protocol error.
 */
bool cliconn_call(struct cliconn *c, struct ctlproto_request *req,
                  struct ctlproto_reply *out, int timeout_ms,
                  GError **error);

#endif /* KEMARI_DAEMON_CLI_CONN_H */
