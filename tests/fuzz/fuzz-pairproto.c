/*
 * fuzz-pairproto.c - libFuzzer harness for the pair protocol decoder
 *
 * Any input: the decoder must not crash or read out of bounds.  An
 * accepted input must re-encode, and encoding is a fixed point:
 * encode(decode(encode(decode(x)))) == encode(decode(x)).
 */
#include "config.h"

#include <stdlib.h>

#include "fuzz.h"
#include "pairproto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pairproto_msg m, m2;
    GError *err = NULL;
    GBytes *b, *b2;
    gsize len;
    const void *p;

    if (!pairproto_decode(data, size, &m, &err)) {
        if (!err || !err->message[0]) {
            abort();            /* every rejection says why */
        }
        g_error_free(err);
        return 0;
    }
    b = pairproto_encode(&m, NULL);
    if (!b) {
        abort();
    }
    p = g_bytes_get_data(b, &len);
    if (!pairproto_decode(p, len, &m2, NULL)) {
        abort();
    }
    b2 = pairproto_encode(&m2, NULL);
    if (!b2 || !g_bytes_equal(b, b2)) {
        abort();
    }
    g_bytes_unref(b);
    g_bytes_unref(b2);
    pairproto_msg_clear(&m);
    pairproto_msg_clear(&m2);
    return 0;
}
