/*
 * kemarixml.c - <kemari> metadata and device vetting (see kemarixml.h)
 *
 * The only file that includes libxml2.  The parser refuses DTDs and
 * entity declarations outright (SAX hooks stop it), never touches the
 * network and keeps entity references unexpanded, so a hostile document
 * costs at most its size.  <kemari> is validated table-driven, like
 * kemari.conf (daemon/conf.c); devices against rules[], the table that
 * README.md shows.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/vfs.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "kemarixml.h"
#include "pairproto.h"

G_DEFINE_QUARK(kemarixml-error-quark, kemarixml_error)

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"
#define SHOWN_MAX 64            /* longer values are cut in messages */
/* VM_NAME and NODE_NAME of daemon/PROTOCOL.md: pairproto_name_valid() */
#define NAME_RULE "1 to 64 of A-Z a-z 0-9 _ . -, not starting with . or -"
/* target_valid() */
#define TARGET_RULE "a lowercase letter, then 1 to 31 letters or digits"

struct kemarixml_doc {
    xmlDocPtr doc;              /* owned */
    xmlNodePtr root;            /* <domain>, owned by doc */
    char *name;                 /* owned, "" when absent */
};

/* ------------------------------------------------------------------ */
/* Messages */

static void G_GNUC_PRINTF(2, 3)
problem(GPtrArray *problems, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_ptr_array_add(problems, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

/* V as shown in messages: at most SHOWN_MAX characters, escaped. */
static char *
shown(const char *v)
{
    size_t n = strlen(v);
    g_autofree char *cut = NULL;
    g_autofree char *esc = NULL;

    if (g_utf8_validate(v, -1, NULL) && g_utf8_strlen(v, -1) > SHOWN_MAX) {
        cut = g_utf8_substring(v, 0, SHOWN_MAX);
    } else {
        cut = g_strndup(v, MIN(n, SHOWN_MAX));
    }
    esc = g_strescape(cut, "");
    return g_strdup_printf("%s%s", esc, strlen(cut) < n ? "..." : "");
}

/* An attribute's value; "" for an attribute without children. */
static char *
attr_value(xmlAttrPtr a)
{
    xmlChar *v = xmlNodeListGetString(a->doc, a->children, 1);
    char *s = g_strdup(v ? (const char *)v : "");

    xmlFree(v);
    return s;
}

/* "node", "xml:lang" */
static char *
attr_name(xmlAttrPtr a)
{
    if (a->ns && a->ns->prefix) {
        return g_strdup_printf("%s:%s", a->ns->prefix, a->name);
    }
    return g_strdup((const char *)a->name);
}

/* "<interface type='vhostuser'>": the start tag, values shortened. */
static char *
tag_text(xmlNodePtr n)
{
    GString *s = g_string_new("<");
    xmlAttrPtr a;

    if (n->ns && n->ns->prefix) {
        g_string_append_printf(s, "%s:", n->ns->prefix);
    }
    g_string_append(s, (const char *)n->name);
    for (a = n->properties; a; a = a->next) {
        g_autofree char *name = attr_name(a);
        g_autofree char *v = attr_value(a);
        g_autofree char *sv = shown(v);

        g_string_append_printf(s, " %s='%s'", name, sv);
    }
    g_string_append_c(s, '>');
    return g_string_free(s, FALSE);
}

/* The first element child of N named NAME (no namespace), or NULL. */
static xmlNodePtr
child_element(xmlNodePtr n, const char *name)
{
    xmlNodePtr c;

    for (c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && !c->ns &&
            strcmp((const char *)c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

/* The value of N's attribute NAME (no namespace), or NULL.  Caller frees. */
static char *
elem_attr(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    char *s;

    if (!v) {
        return NULL;
    }
    s = g_strdup((const char *)v);
    xmlFree(v);
    return s;
}

/* The value of attribute NAME of N's child CHILD, or NULL.  Caller frees. */
static char *
child_attr(xmlNodePtr n, const char *child, const char *name)
{
    xmlNodePtr c = child_element(n, child);

    return c ? elem_attr(c, name) : NULL;
}

/*
 * " (target vda)", " (mac 52:54:00:..)", " (alias net0)" or " (#2)" (the
 * position among its siblings of the same name) for a device; "" for
 * <emulator> and elements outside <devices>.
 */
static char *
device_id(xmlNodePtr n)
{
    static const char *const ids[][2] = {
        { "target", "dev" }, { "target", "dir" }, { "mac", "address" },
        { "alias", "name" },
    };
    xmlNodePtr c;
    unsigned i, pos = 0;

    if (!n->parent || n->parent->type != XML_ELEMENT_NODE ||
        strcmp((const char *)n->parent->name, "devices") != 0 ||
        strcmp((const char *)n->name, "emulator") == 0) {
        return g_strdup("");
    }
    for (i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_autofree char *v = child_attr(n, ids[i][0], ids[i][1]);

        if (v) {
            g_autofree char *sv = shown(v);

            return g_strdup_printf(" (%s %s)", ids[i][0], sv);
        }
    }
    for (c = n->parent->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE &&
            strcmp((const char *)c->name, (const char *)n->name) == 0) {
            pos++;
        }
        if (c == n) {
            break;
        }
    }
    return g_strdup_printf(" (#%u)", pos);
}

/* ------------------------------------------------------------------ */
/* Parsing */

/* What the SAX hooks below found; the parser context's _private. */
struct parse_guard {
    const char *refused;        /* why parsing was stopped, or NULL */
};

static void
refuse_parse(void *ctx, const char *why)
{
    xmlParserCtxtPtr ctxt = ctx;
    struct parse_guard *g = ctxt->_private;

    if (!g->refused) {
        g->refused = why;
    }
    xmlStopParser(ctxt);
}

static void
on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext_id,
                   const xmlChar *sys_id)
{
    refuse_parse(ctx, "a DOCTYPE is not allowed in domain XML");
}

static void
on_entity_decl(void *ctx, const xmlChar *name, int type,
               const xmlChar *public_id, const xmlChar *system_id,
               xmlChar *content)
{
    refuse_parse(ctx, "entity declarations are not allowed in domain XML");
}

/* libxml2 must print nothing: every error is returned. */
static void G_GNUC_PRINTF(2, 3)
silent(void *ctx, const char *msg, ...)
{
}

static void
init_once(void)
{
    static gsize done;

    if (g_once_init_enter(&done)) {
        xmlInitParser();
        xmlSetGenericErrorFunc(NULL, silent);
        g_once_init_leave(&done, 1);
    }
}

/* libxml2's message M as one line of UTF-8. */
static char *
one_line(const char *m)
{
    char *s = g_utf8_make_valid(m, -1);
    char *p;

    for (p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = ' ';
        }
    }
    return g_strstrip(s);
}

static bool G_GNUC_PRINTF(3, 4)
parse_fail(GError **error, enum kemarixml_error_code code, const char *fmt,
           ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, KEMARIXML_ERROR, code, "domain XML: %s", msg);
    return false;
}

struct kemarixml_doc *
kemarixml_parse(const char *xml, size_t len, GError **error)
{
    struct parse_guard guard = { NULL };
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;
    xmlNodePtr root, name;
    struct kemarixml_doc *d;
    bool ok;

    init_once();
    if (len > KEMARIXML_MAX_SIZE) {
        parse_fail(error, KEMARIXML_ERROR_TOO_LARGE,
                   "%zu bytes (allowed: at most %d)", len,
                   KEMARIXML_MAX_SIZE);
        return NULL;
    }
    if (len == 0) {
        parse_fail(error, KEMARIXML_ERROR_SYNTAX,
                   "empty (allowed: a <domain> element)");
        return NULL;
    }
    ctxt = xmlCreateMemoryParserCtxt(xml, (int)len);
    if (!ctxt) {
        g_error("kemarixml: cannot allocate a parser");
    }
    /* no network, no DTD loading, no entity substitution, quiet */
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR |
                      XML_PARSE_NOWARNING);
    ctxt->_private = &guard;
    ctxt->sax->internalSubset = on_internal_subset;
    ctxt->sax->entityDecl = on_entity_decl;
    xmlParseDocument(ctxt);
    ok = ctxt->wellFormed && ctxt->nsWellFormed && !guard.refused;
    doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    if (!ok) {
        if (guard.refused) {
            parse_fail(error, KEMARIXML_ERROR_SYNTAX, "%s", guard.refused);
        } else {
            const xmlError *e = &ctxt->lastError;
            g_autofree char *msg = one_line(e->message ? e->message
                                            : "not well-formed");

            parse_fail(error, KEMARIXML_ERROR_SYNTAX, "line %d: %s",
                       e->line, msg);
        }
        xmlFreeParserCtxt(ctxt);
        xmlFreeDoc(doc);
        return NULL;
    }
    xmlFreeParserCtxt(ctxt);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || root->ns || strcmp((const char *)root->name, "domain")) {
        g_autofree char *tag = root ? tag_text(root) : g_strdup("nothing");

        parse_fail(error, KEMARIXML_ERROR_NOT_DOMAIN,
                   "the root element is %s (allowed: <domain>)", tag);
        xmlFreeDoc(doc);
        return NULL;
    }
    d = g_new0(struct kemarixml_doc, 1);
    d->doc = doc;
    d->root = root;
    name = child_element(root, "name");
    if (name) {
        xmlChar *v = xmlNodeGetContent(name);

        d->name = g_strdup(v ? (const char *)v : "");
        xmlFree(v);
    } else {
        d->name = g_strdup("");
    }
    return d;
}

void
kemarixml_doc_free(struct kemarixml_doc *d)
{
    if (!d) {
        return;
    }
    xmlFreeDoc(d->doc);
    g_free(d->name);
    g_free(d);
}

const char *
kemarixml_doc_name(const struct kemarixml_doc *d)
{
    return d->name;
}

static bool
in_our_ns(xmlNodePtr n)
{
    return n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, KEMARIXML_NS) == 0;
}

static bool
named(xmlNodePtr n, const char *name)
{
    return strcmp((const char *)n->name, name) == 0;
}

bool
kemarixml_doc_has_kemari(const struct kemarixml_doc *d)
{
    xmlNodePtr m, c;

    for (m = d->root->children; m; m = m->next) {
        if (m->type != XML_ELEMENT_NODE || m->ns || !named(m, "metadata")) {
            continue;
        }
        for (c = m->children; c; c = c->next) {
            if (c->type == XML_ELEMENT_NODE &&
                (in_our_ns(c) || named(c, "kemari"))) {
                return true;
            }
        }
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* <kemari> */

enum elem {
    E_KEMARI, E_PEER, E_CHECKPOINT, E_STORAGE, E_FAILOVER, E_DISK, E_COUNT
};

/* <kemari:kemari> and its descendants: where each may appear, how often. */
static const struct {
    const char *name;
    enum elem parent;           /* E_COUNT for <kemari:kemari> itself */
    unsigned max;               /* in one parent */
} elem_defs[E_COUNT] = {
    [E_KEMARI] = { "kemari", E_COUNT, 1 },
    [E_PEER] = { "peer", E_KEMARI, KEMARIXML_MAX_PEERS },
    [E_CHECKPOINT] = { "checkpoint", E_KEMARI, 1 },
    [E_STORAGE] = { "storage", E_KEMARI, 1 },
    [E_FAILOVER] = { "failover", E_KEMARI, 1 },
    [E_DISK] = { "disk", E_STORAGE, KEMARIXML_MAX_DISKS },
};

enum attr_type {
    A_NAME,                     /* pairproto_name_valid() */
    A_TARGET,                   /* target_valid() */
    A_ENUM,                     /* one of choices[]: value = index */
    A_UINT,                     /* decimal, min..max */
};

struct attr_def {
    enum elem elem;
    const char *name;
    enum attr_type type;
    const char *const *choices; /* A_ENUM: NULL-terminated */
    unsigned min, max;          /* A_UINT */
    bool required;
};

static const char *const ckpt_modes[] = { "event", "periodic", NULL };
static const char *const storage_modes[] = { "shared", "replicated", NULL };
static const char *const failover_policies[] = {
    "standalone", "pacemaker", NULL,
};

/* Indexes into attr_defs[]. */
enum {
    A_PEER_NODE, A_CKPT_MODE, A_CKPT_MIN, A_CKPT_MAX, A_CKPT_ACK,
    A_STORAGE_MODE, A_DISK_TARGET, A_DISK_MODE, A_FAILOVER_POLICY, N_ATTRS
};

static const struct attr_def attr_defs[N_ATTRS] = {
    [A_PEER_NODE] = { E_PEER, "node", A_NAME, NULL, 0, 0, true },
    [A_CKPT_MODE] = { E_CHECKPOINT, "mode", A_ENUM, ckpt_modes, 0, 0,
                      false },
    [A_CKPT_MIN] = { E_CHECKPOINT, "min-interval-ms", A_UINT, NULL, 0,
                     KEMARIXML_MIN_INTERVAL_MAX, false },
    [A_CKPT_MAX] = { E_CHECKPOINT, "max-interval-ms", A_UINT, NULL,
                     KEMARIXML_MAX_INTERVAL_MIN, KEMARIXML_MAX_INTERVAL_MAX,
                     false },
    [A_CKPT_ACK] = { E_CHECKPOINT, "ack-timeout-ms", A_UINT, NULL,
                     KEMARIXML_ACK_TIMEOUT_MIN, KEMARIXML_ACK_TIMEOUT_MAX,
                     false },
    [A_STORAGE_MODE] = { E_STORAGE, "mode", A_ENUM, storage_modes, 0, 0,
                         false },
    [A_DISK_TARGET] = { E_DISK, "target", A_TARGET, NULL, 0, 0, true },
    [A_DISK_MODE] = { E_DISK, "mode", A_ENUM, storage_modes, 0, 0, true },
    [A_FAILOVER_POLICY] = { E_FAILOVER, "policy", A_ENUM, failover_policies,
                            0, 0, true },
};

/* The values read from one element: valid ones only. */
struct attr_values {
    bool set[N_ATTRS];
    unsigned num[N_ATTRS];      /* A_ENUM index, A_UINT value */
    char *str[N_ATTRS];         /* owned: A_NAME, A_TARGET */
};

static void
attr_values_clear(struct attr_values *v)
{
    unsigned i;

    for (i = 0; i < N_ATTRS; i++) {
        g_free(v->str[i]);
    }
}

static char *
allowed_text(const struct attr_def *a)
{
    switch (a->type) {
    case A_NAME:
        return g_strdup("a node name: " NAME_RULE);
    case A_TARGET:
        return g_strdup("a disk's target dev: " TARGET_RULE);
    case A_ENUM:
        return g_strjoinv(", ", (char **)a->choices);
    case A_UINT:
        return g_strdup_printf("an integer from %u to %u", a->min, a->max);
    }
    g_assert_not_reached();
}

/* "mode, min-interval-ms, ..." or "none" */
static char *
attr_names(enum elem e)
{
    GString *s = g_string_new(NULL);
    unsigned i;

    for (i = 0; i < N_ATTRS; i++) {
        if (attr_defs[i].elem == e) {
            g_string_append_printf(s, "%s%s", s->len ? ", " : "",
                                   attr_defs[i].name);
        }
    }
    if (!s->len) {
        g_string_append(s, "none");
    }
    return g_string_free(s, FALSE);
}

/* A <kemari:disk target>: what libvirt's QEMU driver takes as a disk's
 * <target dev> (vda, sdb, hdc, vdaa...). */
static bool
target_valid(const char *v)
{
    size_t i, n = strlen(v);

    if (n < 2 || n > KEMARIXML_TARGET_MAX || !g_ascii_islower(v[0])) {
        return false;
    }
    for (i = 1; i < n; i++) {
        if (!g_ascii_isalnum(v[i])) {
            return false;
        }
    }
    return true;
}

static bool
uint_value(const char *v, unsigned min, unsigned max, unsigned *out)
{
    guint64 n;

    /* digits only: no sign, no blanks, no 0x, no exponent */
    if (!g_ascii_isdigit(v[0]) ||
        !g_ascii_string_to_unsigned(v, 10, min, max, &n, NULL)) {
        return false;
    }
    *out = (unsigned)n;
    return true;
}

/* Reads the attributes of N, a <kemari:E>; problems for bad ones. */
static void
read_attrs(xmlNodePtr n, enum elem e, struct attr_values *out,
           GPtrArray *problems)
{
    const char *en = elem_defs[e].name;
    xmlAttrPtr a;
    unsigned i, k;

    for (a = n->properties; a; a = a->next) {
        g_autofree char *name = attr_name(a);
        g_autofree char *v = attr_value(a);
        g_autofree char *sv = shown(v);
        g_autofree char *allowed = NULL;
        const struct attr_def *def = NULL;

        for (i = 0; !a->ns && i < N_ATTRS; i++) {
            if (attr_defs[i].elem == e &&
                strcmp(attr_defs[i].name, name) == 0) {
                def = &attr_defs[i];
                break;
            }
        }
        if (!def) {
            g_autofree char *names = attr_names(e);

            problem(problems, "<kemari:%s>: unknown attribute '%s' "
                    "(allowed: %s)", en, name, names);
            continue;
        }
        switch (def->type) {
        case A_NAME:
        case A_TARGET:
            if (def->type == A_NAME ? pairproto_name_valid(v)
                                    : target_valid(v)) {
                out->str[i] = g_steal_pointer(&v);
                out->set[i] = true;
                continue;
            }
            break;
        case A_ENUM:
            for (k = 0; def->choices[k]; k++) {
                if (strcmp(v, def->choices[k]) == 0) {
                    out->num[i] = k;
                    out->set[i] = true;
                    break;
                }
            }
            break;
        case A_UINT:
            out->set[i] = uint_value(v, def->min, def->max, &out->num[i]);
            break;
        }
        if (!out->set[i]) {
            allowed = allowed_text(def);
            problem(problems, "<kemari:%s> attribute '%s': bad value '%s' "
                    "(allowed: %s)", en, name, sv, allowed);
        }
    }
    for (i = 0; i < N_ATTRS; i++) {
        if (attr_defs[i].elem == e && attr_defs[i].required &&
            !out->set[i] &&
            !xmlHasProp(n, (const xmlChar *)attr_defs[i].name)) {
            g_autofree char *allowed = allowed_text(&attr_defs[i]);

            problem(problems, "<kemari:%s>: missing attribute '%s' "
                    "(allowed: %s)", en, attr_defs[i].name, allowed);
        }
    }
}

/* What reading <kemari:kemari> collects before it goes into the config. */
struct lists {
    GPtrArray *peers;           /* char *, owned */
    GArray *disks;              /* struct kemarixml_disk, owned */
};

static void
disk_clear(gpointer p)
{
    struct kemarixml_disk *disk = p;

    g_free(disk->target);
}

static enum kemarixml_storage
storage_mode(unsigned index)
{
    return index == 0 ? KEMARIXML_STORAGE_SHARED
                      : KEMARIXML_STORAGE_REPLICATED;
}

/* Stores the valid attributes of one <kemari:E> in C or L. */
static void
store_attrs(struct kemarixml_config *c, enum elem e, struct attr_values *v,
            struct lists *l, GPtrArray *problems)
{
    struct kemarixml_disk disk;
    unsigned i;

    switch (e) {
    case E_KEMARI:
        break;
    case E_PEER:
        if (!v->set[A_PEER_NODE]) {
            return;
        }
        for (i = 0; i < l->peers->len; i++) {
            if (strcmp(g_ptr_array_index(l->peers, i),
                       v->str[A_PEER_NODE]) == 0) {
                problem(problems, "<kemari:peer> attribute 'node': '%s' is "
                        "given twice (allowed: each node once)",
                        v->str[A_PEER_NODE]);
                return;
            }
        }
        g_ptr_array_add(l->peers, g_steal_pointer(&v->str[A_PEER_NODE]));
        break;
    case E_CHECKPOINT:
        if (v->set[A_CKPT_MODE]) {
            c->ckpt_mode = v->num[A_CKPT_MODE] == 0 ? KEMARIXML_CKPT_EVENT
                                                    : KEMARIXML_CKPT_PERIODIC;
        }
        if (v->set[A_CKPT_MIN]) {
            c->min_interval_ms = (int)v->num[A_CKPT_MIN];
        }
        if (v->set[A_CKPT_MAX]) {
            c->max_interval_ms = (int)v->num[A_CKPT_MAX];
        }
        if (v->set[A_CKPT_ACK]) {
            c->ack_timeout_ms = (int)v->num[A_CKPT_ACK];
        }
        if (c->min_interval_ms >= 0 && c->max_interval_ms >= 0 &&
            c->min_interval_ms > c->max_interval_ms) {
            problem(problems, "<kemari:checkpoint> attribute "
                    "'min-interval-ms': %d is above max-interval-ms %d "
                    "(allowed: at most max-interval-ms)",
                    c->min_interval_ms, c->max_interval_ms);
        }
        break;
    case E_STORAGE:
        if (v->set[A_STORAGE_MODE]) {
            c->storage = storage_mode(v->num[A_STORAGE_MODE]);
        }
        break;
    case E_DISK:
        /* a disk with a bad mode is kept: a later one with its target is
         * still a duplicate (and C is not returned anyway) */
        if (!v->set[A_DISK_TARGET]) {
            return;
        }
        for (i = 0; i < l->disks->len; i++) {
            if (strcmp(g_array_index(l->disks, struct kemarixml_disk,
                                     i).target,
                       v->str[A_DISK_TARGET]) == 0) {
                problem(problems, "<kemari:disk> attribute 'target': '%s' "
                        "is given twice (allowed: each disk once)",
                        v->str[A_DISK_TARGET]);
                return;
            }
        }
        disk.target = g_steal_pointer(&v->str[A_DISK_TARGET]);
        disk.mode = v->set[A_DISK_MODE] ? storage_mode(v->num[A_DISK_MODE])
                                        : KEMARIXML_STORAGE_SHARED;
        g_array_append_val(l->disks, disk);
        break;
    case E_FAILOVER:
        if (v->set[A_FAILOVER_POLICY]) {
            c->failover = v->num[A_FAILOVER_POLICY] == 0
                              ? KEMARIXML_FAILOVER_STANDALONE
                              : KEMARIXML_FAILOVER_PACEMAKER;
        }
        break;
    case E_COUNT:
        g_assert_not_reached();
    }
}

/* What a <kemari:PARENT> may hold: "peer, checkpoint, storage, failover" */
static char *
elem_names(enum elem parent)
{
    GString *s = g_string_new(NULL);
    unsigned e;

    for (e = 0; e < E_COUNT; e++) {
        if (elem_defs[e].parent == parent) {
            g_string_append_printf(s, "%s%s", s->len ? ", " : "",
                                   elem_defs[e].name);
        }
    }
    return g_string_free(s, FALSE);
}

/* Whether elements of E may have child elements. */
static bool
has_children(enum elem e)
{
    unsigned i;

    for (i = 0; i < E_COUNT; i++) {
        if (elem_defs[i].parent == e) {
            return true;
        }
    }
    return false;
}

/* Whether N has child elements or text other than blanks. */
static bool
has_content(xmlNodePtr n)
{
    xmlNodePtr c;

    for (c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE || c->type == XML_ENTITY_REF_NODE) {
            return true;
        }
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
            strspn((const char *)c->content, " \t\r\n") !=
                strlen((const char *)c->content)) {
            return true;
        }
    }
    return false;
}

/*
 * Validates the children of P, a <kemari:PE>, and theirs, into C and L.
 * COUNT[E] receives how many <kemari:E> P has.
 */
static void
read_children(xmlNodePtr p, enum elem pe, struct kemarixml_config *c,
              struct lists *l, unsigned count[E_COUNT], GPtrArray *problems)
{
    const char *pn = elem_defs[pe].name;
    xmlNodePtr n;
    unsigned e;

    for (n = p->children; n; n = n->next) {
        struct attr_values v;

        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            g_autofree char *text = g_strdup((const char *)n->content);
            g_autofree char *st = NULL;

            if (*g_strstrip(text)) {
                st = shown(text);
                problem(problems, "<kemari:%s>: text '%s' is not allowed "
                        "(allowed: elements only)", pn, st);
            }
            continue;
        }
        if (n->type == XML_ENTITY_REF_NODE) {
            problem(problems, "<kemari:%s>: entity reference &%s; is not "
                    "allowed (allowed: elements only)", pn, n->name);
            continue;
        }
        if (n->type != XML_ELEMENT_NODE) {
            continue;           /* comments, processing instructions */
        }
        if (!in_our_ns(n)) {
            g_autofree char *tag = tag_text(n);
            g_autofree char *href = n->ns && n->ns->href
                ? shown((const char *)n->ns->href) : NULL;

            if (href) {
                problem(problems, "<kemari:%s>: element %s is in namespace "
                        "'%s' (allowed: <kemari:%s> in namespace "
                        KEMARIXML_NS ")", pn, tag, href, n->name);
            } else {
                problem(problems, "<kemari:%s>: element %s has no namespace "
                        "(allowed: <kemari:%s> in namespace " KEMARIXML_NS
                        ")", pn, tag, n->name);
            }
            continue;
        }
        for (e = 0; e < E_COUNT; e++) {
            if (elem_defs[e].parent == pe && named(n, elem_defs[e].name)) {
                break;
            }
        }
        if (e == E_COUNT) {
            g_autofree char *names = elem_names(pe);
            g_autofree char *sn = shown((const char *)n->name);

            problem(problems, "<kemari:%s>: unknown element <kemari:%s> "
                    "(allowed: %s)", pn, sn, names);
            continue;
        }
        if (++count[e] == elem_defs[e].max + 1) {
            problem(problems, "<kemari:%s>: more than %u <kemari:%s> "
                    "(allowed: %s%u)", pn, elem_defs[e].max,
                    elem_defs[e].name, e == E_PEER ? "1 to " : "at most ",
                    elem_defs[e].max);
        }
        if (count[e] > elem_defs[e].max) {
            continue;
        }
        if (!has_children(e) && has_content(n)) {
            problem(problems, "<kemari:%s>: content is not allowed "
                    "(allowed: an empty element)", elem_defs[e].name);
        }
        memset(&v, 0, sizeof(v));
        read_attrs(n, e, &v, problems);
        store_attrs(c, e, &v, l, problems);
        attr_values_clear(&v);
        if (has_children(e)) {
            unsigned sub[E_COUNT] = { 0 };

            read_children(n, e, c, l, sub, problems);
        }
    }
}

/* Validates K, a <kemari:kemari>, into C. */
static void
read_kemari(xmlNodePtr k, struct kemarixml_config *c, GPtrArray *problems)
{
    g_autoptr(GPtrArray) peers = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) disks = g_array_new(FALSE, TRUE,
                                          sizeof(struct kemarixml_disk));
    struct lists l = { peers, disks };
    unsigned count[E_COUNT] = { 0 };
    struct attr_values v;

    g_array_set_clear_func(disks, disk_clear);
    memset(&v, 0, sizeof(v));
    read_attrs(k, E_KEMARI, &v, problems);
    attr_values_clear(&v);
    read_children(k, E_KEMARI, c, &l, count, problems);
    if (count[E_PEER] == 0) {
        problem(problems, "<kemari:kemari>: no <kemari:peer> (allowed: 1 to "
                "%u <kemari:peer node=\"NAME\"/>)", KEMARIXML_MAX_PEERS);
    }
    g_ptr_array_add(peers, NULL);
    c->peers = (char **)g_ptr_array_steal(peers, NULL);
    c->n_disks = disks->len;
    c->disks = c->n_disks ? g_array_steal(disks, NULL) : NULL;
}

void
kemarixml_config_free(struct kemarixml_config *c)
{
    size_t i;

    if (!c) {
        return;
    }
    g_strfreev(c->peers);
    for (i = 0; i < c->n_disks; i++) {
        g_free(c->disks[i].target);
    }
    g_free(c->disks);
    g_free(c);
}

struct kemarixml_config *
kemarixml_config_get(const struct kemarixml_doc *d, GPtrArray *problems)
{
    g_autoptr(kemarixml_config) c = NULL;
    xmlNodePtr m, n, k = NULL;
    unsigned before = problems->len, found = 0;

    for (m = d->root->children; m; m = m->next) {
        if (m->type != XML_ELEMENT_NODE || m->ns || !named(m, "metadata")) {
            continue;
        }
        for (n = m->children; n; n = n->next) {
            if (n->type != XML_ELEMENT_NODE) {
                continue;
            }
            if (in_our_ns(n) && named(n, "kemari")) {
                if (++found == 1) {
                    k = n;
                }
            } else if (in_our_ns(n)) {
                g_autofree char *sn = shown((const char *)n->name);

                problem(problems, "<metadata>: unknown element <kemari:%s> "
                        "(allowed: kemari)", sn);
            } else if (named(n, "kemari") && n->ns && n->ns->href) {
                g_autofree char *href = shown((const char *)n->ns->href);

                problem(problems, "<metadata>: element <kemari> is in "
                        "namespace '%s' (allowed: namespace " KEMARIXML_NS
                        ")", href);
            } else if (named(n, "kemari")) {
                problem(problems, "<metadata>: element <kemari> has no "
                        "namespace (allowed: namespace " KEMARIXML_NS ")");
            }
        }
    }
    if (found > 1) {
        problem(problems, "<metadata>: <kemari:kemari> given %u times "
                "(allowed: once)", found);
    }
    if (!k) {
        return NULL;
    }
    c = g_new0(struct kemarixml_config, 1);
    c->min_interval_ms = -1;
    c->max_interval_ms = -1;
    c->ack_timeout_ms = -1;
    read_kemari(k, c, problems);
    return problems->len == before ? g_steal_pointer(&c) : NULL;
}

enum kemarixml_storage
kemarixml_disk_storage(const struct kemarixml_config *c, const char *target)
{
    size_t i;

    if (!c) {
        return KEMARIXML_STORAGE_SHARED;
    }
    for (i = 0; i < c->n_disks; i++) {
        if (strcmp(c->disks[i].target, target) == 0) {
            return c->disks[i].mode;
        }
    }
    return c->storage;
}

/* The <disk> elements of D's <devices>, in document order (owned by D). */
static GPtrArray *
domain_disks(const struct kemarixml_doc *d)
{
    GPtrArray *disks = g_ptr_array_new();
    xmlNodePtr devs, n;

    for (devs = d->root->children; devs; devs = devs->next) {
        if (devs->type != XML_ELEMENT_NODE || devs->ns ||
            !named(devs, "devices")) {
            continue;
        }
        for (n = devs->children; n; n = n->next) {
            if (n->type == XML_ELEMENT_NODE && !n->ns && named(n, "disk")) {
                g_ptr_array_add(disks, n);
            }
        }
    }
    return disks;
}

/* Whether the <disk> N is written and replicated under C. */
static bool
disk_replicated(xmlNodePtr n, const struct kemarixml_config *c)
{
    g_autofree char *device = elem_attr(n, "device");
    g_autofree char *target = child_attr(n, "target", "dev");

    /* writable disks only: read-only ones, CD-ROMs and floppies are never
     * written, so there is nothing to replicate (and the hook refuses
     * LUNs) */
    return (!device || strcmp(device, "disk") == 0) &&
           !child_element(n, "readonly") &&
           kemarixml_disk_storage(c, target ? target : "") ==
               KEMARIXML_STORAGE_REPLICATED;
}

static void
image_free(gpointer p)
{
    struct kemarixml_image *im = p;

    g_free(im->target);
    g_free(im->file);
    g_free(im->format);
    g_free(im);
}

GPtrArray *
kemarixml_replicated_images(const struct kemarixml_doc *d,
                            const struct kemarixml_config *c)
{
    g_autoptr(GPtrArray) disks = domain_disks(d);
    GPtrArray *images = g_ptr_array_new_with_free_func(image_free);
    unsigned i;

    for (i = 0; i < disks->len; i++) {
        xmlNodePtr n = g_ptr_array_index(disks, i);
        g_autofree char *type = elem_attr(n, "type");
        struct kemarixml_image *im;

        if (!disk_replicated(n, c)) {
            continue;
        }
        im = g_new0(struct kemarixml_image, 1);
        im->target = child_attr(n, "target", "dev");
        if (type && strcmp(type, "file") == 0) {
            im->file = child_attr(n, "source", "file");
        }
        im->format = child_attr(n, "driver", "type");
        g_ptr_array_add(images, im);
    }
    return images;
}

char **
kemarixml_replicated_disks(const struct kemarixml_doc *d,
                           const struct kemarixml_config *c,
                           GPtrArray *problems)
{
    g_autoptr(GPtrArray) disks = domain_disks(d);
    GPtrArray *ids = g_ptr_array_new();
    unsigned i;

    for (i = 0; i < disks->len; i++) {
        xmlNodePtr n = g_ptr_array_index(disks, i);
        g_autofree char *alias = NULL;

        if (!disk_replicated(n, c)) {
            continue;
        }
        alias = child_attr(n, "alias", "name");
        if (alias && *alias) {
            g_ptr_array_add(ids, g_steal_pointer(&alias));
        } else if (problems) {
            g_autofree char *tag = tag_text(n);
            g_autofree char *id = device_id(n);

            problem(problems, "%s%s: replicated disk without <alias "
                    "name>, the id QEMU knows it by (allowed: the XML of a "
                    "running domain, where libvirt names every device)",
                    tag, id);
        }
    }
    g_ptr_array_add(ids, NULL);
    return (char **)g_ptr_array_free(ids, FALSE);
}

/* ------------------------------------------------------------------ */
/* The device table */

static char *check_emulator(const struct kemarixml_host *host,
                            const char *value);
static char *check_file_disk(const struct kemarixml_host *host,
                             const char *value);
static char *check_name(const struct kemarixml_host *host,
                        const char *value);

#define CHARDEVS "devices/*[self::serial or self::parallel or " \
    "self::console or self::channel]"
#define TAP_NIC_TYPES "@type='network' or @type='bridge' or " \
    "@type='direct' or @type='ethernet'"
/* the disks whose storage mode is replicated (xpath_storage_mode()) */
#define REPLICATED_DISKS \
    "devices/disk[kemari:storage-mode(target/@dev) = 'replicated']"

static const struct kemarixml_rule rules[] = {
    /* the domain itself */
    { "domain name", "name", KEMARIXML_CHECKED,
      "kemarid and its peers name the VM by it (the VM_NAME rule of "
      "daemon/PROTOCOL.md)", check_name, "string(.)" },
    /* the emulator */
    { "domain without <emulator>", "self::domain[not(devices/emulator)]",
      KEMARIXML_REFUSED,
      "libvirt would start the distribution's QEMU, which has no "
      "checkpoint engine; name the Kemari QEMU in <emulator>", NULL, NULL },
    { "emulator", "devices/emulator", KEMARIXML_CHECKED,
      "must be the Kemari QEMU: only it has the checkpoint engine and the "
      "output taps", check_emulator, "string(.)" },
    /* anything that adds devices behind libvirt's back */
    { "kemarid's incoming mode (qemu:commandline -incoming defer)",
      "qemu:commandline[count(*) = 2 and qemu:arg[1]/@value = '-incoming' "
      "and qemu:arg[2]/@value = 'defer']", KEMARIXML_ALLOWED,
      "how kemarid starts a secondary through libvirt: it adds no device "
      "and only makes QEMU wait for the checkpoint stream", NULL, NULL },
    { "QEMU command-line passthrough", "qemu:commandline",
      KEMARIXML_REFUSED,
      "arguments given straight to QEMU can add devices that cannot be "
      "vetted", NULL, NULL },
    { "QEMU device property override", "qemu:override", KEMARIXML_REFUSED,
      "properties set behind libvirt's back (e.g. vhost=on) cannot be "
      "vetted", NULL, NULL },
    /* NICs: only through a tap (or socket) and QEMU's net layer */
    { "vhost-user NIC", "devices/interface[@type='vhostuser']",
      KEMARIXML_REFUSED,
      "packets pass between the guest and a user-space switch through "
      "shared memory, never through QEMU's net layer", NULL, NULL },
    { "SR-IOV NIC (interface type='hostdev')",
      "devices/interface[@type='hostdev']", KEMARIXML_REFUSED,
      "a VF assigned by VFIO DMAs into guest memory and sends packets "
      "itself, outside QEMU", NULL, NULL },
    { "vDPA NIC", "devices/interface[@type='vdpa']", KEMARIXML_REFUSED,
      "the datapath is in the device (or the kernel), outside QEMU's net "
      "layer", NULL, NULL },
    { "macvtap passthrough",
      "devices/interface[@type='direct'][source/@mode='passthrough']",
      KEMARIXML_REFUSED,
      "the whole host NIC (often an SR-IOV VF) is handed to the guest and "
      "configured from inside it, state that is not in the checkpoint; "
      "use mode='bridge'", NULL, NULL },
    { "vhost-net", "devices/interface[driver/@name='vhost']",
      KEMARIXML_REFUSED,
      "the kernel moves packets between the guest and the tap, outside "
      "QEMU's net layer; use <driver name='qemu'/>", NULL, NULL },
    { "virtio NIC without <driver name='qemu'/>",
      "devices/interface[" TAP_NIC_TYPES "]"
      "[starts-with(model/@type, 'virtio')][not(driver/@name='qemu')]",
      KEMARIXML_REFUSED,
      "libvirt turns vhost-net on by default for virtio NICs; add "
      "<driver name='qemu'/>", NULL, NULL },
    { "user-mode NIC (slirp)", "devices/interface[@type='user']",
      KEMARIXML_REFUSED,
      "its connections are host sockets of the primary's QEMU, not in the "
      "checkpoint: they would not survive a failover", NULL, NULL },
    { "TCP socket NIC",
      "devices/interface[@type='server' or @type='client']",
      KEMARIXML_REFUSED,
      "the TCP connection belongs to the primary's QEMU and breaks on "
      "failover", NULL, NULL },
    { "bridged NIC", "devices/interface[@type='bridge']", KEMARIXML_ALLOWED,
      "a tap read and written by QEMU's net layer, where packets are held",
      NULL, NULL },
    { "NIC on a libvirt network", "devices/interface[@type='network']",
      KEMARIXML_ALLOWED,
      "a tap or macvtap as for type='bridge'; a network in forward mode "
      "hostdev or passthrough cannot be seen at prepare without calling "
      "libvirt (the engine refuses VFIO devices when protection starts)",
      NULL, NULL },
    { "macvtap NIC (bridge, vepa, private)",
      "devices/interface[@type='direct']", KEMARIXML_ALLOWED,
      "QEMU reads and writes the macvtap through its net layer", NULL,
      NULL },
    { "tap NIC (type='ethernet')", "devices/interface[@type='ethernet']",
      KEMARIXML_ALLOWED, "a tap read and written by QEMU's net layer", NULL,
      NULL },
    { "UDP or multicast socket NIC",
      "devices/interface[@type='udp' or @type='mcast']", KEMARIXML_ALLOWED,
      "datagrams go through QEMU's net layer; no connection state", NULL,
      NULL },
    { "other NIC types", "devices/interface", KEMARIXML_REFUSED,
      "not known to go through QEMU's net layer (allowed: bridge, network, "
      "direct, ethernet, udp, mcast)", NULL, NULL },
    /* host devices */
    { "PCI device assignment (VFIO)", "devices/hostdev[@type='pci']",
      KEMARIXML_REFUSED,
      "the device DMAs into guest memory and talks to the world without "
      "QEMU; its state is in the hardware", NULL, NULL },
    { "mediated device (vfio-mdev)", "devices/hostdev[@type='mdev']",
      KEMARIXML_REFUSED,
      "a slice of a host device (vGPU): DMA and state outside QEMU", NULL,
      NULL },
    { "USB host device", "devices/hostdev[@type='usb']", KEMARIXML_REFUSED,
      "a device of this host only, with its state in the device", NULL,
      NULL },
    { "SCSI host device", "devices/hostdev[@type='scsi']",
      KEMARIXML_REFUSED,
      "SCSI commands go to a host device, not through the block layer "
      "where writes are held", NULL, NULL },
    { "vhost-scsi", "devices/hostdev[@type='scsi_host']", KEMARIXML_REFUSED,
      "the kernel serves the SCSI target, outside QEMU's block layer", NULL,
      NULL },
    { "other host devices", "devices/hostdev", KEMARIXML_REFUSED,
      "device assignment bypasses QEMU", NULL, NULL },
    { "USB redirection", "devices/redirdev", KEMARIXML_REFUSED,
      "the device lives on a remote client, outside the checkpoint, and "
      "its traffic bypasses both taps", NULL, NULL },
    { "host input passthrough", "devices/input[@type='passthrough']",
      KEMARIXML_REFUSED,
      "the guest drives an input device of this host, which the other host "
      "does not have", NULL, NULL },
    /* shared memory */
    { "ivshmem", "devices/shmem", KEMARIXML_REFUSED,
      "memory shared with the host or other guests is written outside the "
      "checkpoint and is a channel to the world that bypasses the taps",
      NULL, NULL },
    { "NVDIMM or virtio-pmem",
      "devices/memory[@model='nvdimm' or @model='virtio-pmem']",
      KEMARIXML_REFUSED,
      "guest writes go straight to a host file through a shared mapping, "
      "bypassing the block layer's taps", NULL, NULL },
    { "shared guest RAM", "memoryBacking/access[@mode='shared']",
      KEMARIXML_REFUSED,
      "RAM mapped shared is read and written by other processes (vhost-user, "
      "virtiofsd) outside QEMU", NULL, NULL },
    { "shared guest RAM (NUMA cell)",
      "cpu/numa/cell[@memAccess='shared']", KEMARIXML_REFUSED,
      "as memoryBacking access mode='shared'", NULL, NULL },
    { "vsock (vhost-vsock)", "devices/vsock", KEMARIXML_REFUSED,
      "the guest talks to host sockets through the kernel, bypassing "
      "QEMU's net layer", NULL, NULL },
    { "virtiofs", "devices/filesystem[driver/@type='virtiofs']",
      KEMARIXML_REFUSED,
      "virtiofsd writes host files itself, bypassing the block layer's "
      "taps, and needs shared RAM", NULL, NULL },
    { "9p file system", "devices/filesystem", KEMARIXML_REFUSED,
      "the guest writes host files through QEMU's fsdev, not the block "
      "layer: the writes are not held", NULL, NULL },
    /* disks in either storage mode */
    { "SCSI LUN passthrough", "devices/disk[@device='lun']",
      KEMARIXML_REFUSED,
      "SCSI commands (SG_IO) bypass the block layer where writes are held",
      NULL, NULL },
    /* disks in replicated mode: an image of its own on each host, so the
     * shared-storage rows below do not apply to them */
    { "replicated file or block disk",
      REPLICATED_DISKS "[@type='file' or @type='block' or not(@type)]",
      KEMARIXML_ALLOWED,
      "each host opens an image of its own (same path, same size) and the "
      "engine copies the guest's writes to the other host's image with "
      "each checkpoint; a read-only disk or CD-ROM is never written, so it "
      "is not replicated: both hosts' images must hold the same data",
      NULL, NULL },
    { "replicated disk of another type", REPLICATED_DISKS,
      KEMARIXML_REFUSED,
      "replicated mode needs an image of its own on each host that QEMU "
      "opens as a file or block device (allowed: type='file' or 'block', "
      "or <kemari:disk mode='shared'> for this disk)", NULL, NULL },
    /* disks in shared mode: both hosts open the same image */
    { "vhost-user disk", "devices/disk[@type='vhostuser']",
      KEMARIXML_REFUSED,
      "a storage daemon serves the disk through shared memory, outside "
      "QEMU's block layer", NULL, NULL },
    { "NVMe disk (VFIO)", "devices/disk[@type='nvme']", KEMARIXML_REFUSED,
      "a PCI controller of this host assigned to QEMU: the other host "
      "cannot open it", NULL, NULL },
    { "directory as disk (vvfat)", "devices/disk[@type='dir']",
      KEMARIXML_REFUSED,
      "QEMU's virtual FAT cannot be migrated, so it cannot be checkpointed",
      NULL, NULL },
    { "storage pool volume", "devices/disk[@type='volume']",
      KEMARIXML_REFUSED,
      "a pool volume cannot be resolved without calling libvirt, so it "
      "cannot be checked; give its path (type='file' or 'block') or use a "
      "network disk", NULL, NULL },
    { "empty removable drive", "devices/disk[not(source)]",
      KEMARIXML_ALLOWED, "no medium: nothing to share", NULL, NULL },
    { "network disk", "devices/disk[@type='network']", KEMARIXML_ALLOWED,
      "RBD, iSCSI, NBD, Gluster...: both hosts reach the same storage "
      "through QEMU's block layer", NULL, NULL },
    { "block device disk", "devices/disk[@type='block']",
      KEMARIXML_ALLOWED,
      "the operator vouches that both hosts see the same device (SAN LUN, "
      "multipath, RBD, DRBD dual-primary): it cannot be told from here",
      NULL, NULL },
    { "file disk", "devices/disk[@type='file' or not(@type)]",
      KEMARIXML_CHECKED,
      "the file must be on a file system both hosts mount (NFS, CIFS/SMB, "
      "GFS2, OCFS2, CephFS, AFS, Lustre), checked with statfs()",
      check_file_disk, "string(source/@file)" },
    { "other disk types", "devices/disk", KEMARIXML_REFUSED,
      "not known to be on storage both hosts open through QEMU's block "
      "layer (allowed: file, block, network)", NULL, NULL },
    /* character devices: outputs that are not held */
    { "network character device",
      CHARDEVS "[@type='tcp' or @type='udp']", KEMARIXML_REFUSED,
      "bytes leave the host straight from the chardev, outside the net "
      "layer's taps: the world could see output of a checkpoint that is "
      "never acknowledged", NULL, NULL },
    { "host serial or parallel port", CHARDEVS "[@type='dev']",
      KEMARIXML_REFUSED,
      "a port of this host only, and its output is not held", NULL, NULL },
    { "local character device (pty, unix, file, spice...)", CHARDEVS,
      KEMARIXML_ALLOWED,
      "management channels (console, guest agent); not held, so a reader "
      "may see output that a failover makes the guest redo", NULL, NULL },
    /* TPM */
    { "host TPM passthrough", "devices/tpm[backend/@type='passthrough']",
      KEMARIXML_REFUSED, "the TPM chip of this host: the other host has "
      "another", NULL, NULL },
};

const struct kemarixml_rule *
kemarixml_rules(size_t *n)
{
    *n = G_N_ELEMENTS(rules);
    return rules;
}

static const char *
verdict_name(enum kemarixml_verdict v)
{
    switch (v) {
    case KEMARIXML_ALLOWED:
        return "allowed";
    case KEMARIXML_REFUSED:
        return "refused";
    case KEMARIXML_CHECKED:
        return "checked";
    }
    g_assert_not_reached();
}

/*
 * A Markdown table cell: '|' escaped (it would end the cell), "<tag>" in
 * backquotes (it would be taken for HTML).
 */
static char *
cell(const char *s)
{
    GString *out = g_string_new(NULL);
    const char *p, *end;

    for (p = s; *p; p++) {
        if (*p == '<' && (end = strchr(p, '>')) != NULL) {
            g_string_append_c(out, '`');
            g_string_append_len(out, p, end - p + 1);
            g_string_append_c(out, '`');
            p = end;
        } else if (*p == '|') {
            g_string_append(out, "\\|");
        } else {
            g_string_append_c(out, *p);
        }
    }
    return g_string_free(out, FALSE);
}

char *
kemarixml_rules_markdown(void)
{
    GString *s = g_string_new("| # | kind | recognized by (XPath from "
                              "`/domain`) | verdict | reason |\n"
                              "|---|---|---|---|---|\n");
    unsigned i;

    for (i = 0; i < G_N_ELEMENTS(rules); i++) {
        g_autofree char *kind = cell(rules[i].kind);
        g_auto(GStrv) parts = g_strsplit(rules[i].xpath, "|", -1);
        g_autofree char *xpath = g_strjoinv("\\|", parts);
        g_autofree char *reason = cell(rules[i].reason);

        g_string_append_printf(s, "| %u | %s | `%s` | %s | %s |\n", i + 1,
                               kind, xpath, verdict_name(rules[i].verdict),
                               reason);
    }
    return g_string_free(s, FALSE);
}

/* ------------------------------------------------------------------ */
/* Checks */

static char *
check_emulator(const struct kemarixml_host *host, const char *value)
{
    g_autofree char *sv = NULL;

    if (strcmp(value, host->emulator) == 0) {
        return NULL;
    }
    sv = shown(value);
    return g_strdup_printf("'%s' is not the Kemari QEMU (allowed: %s)", sv,
                           host->emulator);
}

static char *
check_name(const struct kemarixml_host *host, const char *value)
{
    g_autofree char *sv = NULL;

    if (pairproto_name_valid(value)) {
        return NULL;
    }
    sv = shown(value);
    return g_strdup_printf("'%s' cannot be a protected VM's name (allowed: "
                           NAME_RULE ")", sv);
}

static char *
check_file_disk(const struct kemarixml_host *host, const char *value)
{
    if (!*value) {
        return NULL;            /* <source/> without a file: no medium */
    }
    if (host->path_shared) {
        return host->path_shared(value, host->opaque);
    }
    return kemarixml_path_shared_statfs(value, NULL);
}

#define SHARED_FS_TEXT "allowed: a file on NFS, CIFS/SMB, GFS2, OCFS2, " \
    "CephFS, AFS or Lustre, mounted on both hosts"

static const struct {
    unsigned long magic;
    const char *name;
    bool shared;
} fs_types[] = {
    { 0x6969, "NFS", true },
    { 0x517B, "SMB", true },
    { 0xFF534D42, "CIFS", true },
    { 0xFE534D42, "SMB2", true },
    { 0x01161970, "GFS2", true },
    { 0x7461636F, "OCFS2", true },
    { 0x00C36400, "CephFS", true },
    { 0x5346414F, "AFS", true },
    { 0x6B414653, "AFS", true },
    { 0x0BD00BD0, "Lustre", true },
    { 0xEF53, "ext2/3/4", false },
    { 0x58465342, "XFS", false },
    { 0x9123683E, "Btrfs", false },
    { 0x01021994, "tmpfs", false },
    { 0x858458F6, "ramfs", false },
    { 0x794C7630, "overlay", false },
    { 0x2FC12FC1, "ZFS", false },
    { 0xF2F52010, "F2FS", false },
    { 0x9FA0, "proc", false },
    { 0x62656572, "sysfs", false },
    { 0x65735546, "FUSE", false },
};

char *
kemarixml_path_shared_statfs(const char *path, void *opaque)
{
    g_autofree char *sp = shown(path);
    struct statfs sf;
    unsigned long magic;
    unsigned i;

    if (statfs(path, &sf) < 0) {
        int e = errno;

        return g_strdup_printf("cannot check where %s is: %s (%s)", sp,
                               g_strerror(e), SHARED_FS_TEXT);
    }
    magic = (unsigned long)sf.f_type & 0xffffffffUL;
    for (i = 0; i < G_N_ELEMENTS(fs_types); i++) {
        if (fs_types[i].magic == magic) {
            if (fs_types[i].shared) {
                return NULL;
            }
            return g_strdup_printf("%s is on a local %s file system (%s)",
                                   sp, fs_types[i].name, SHARED_FS_TEXT);
        }
    }
    return g_strdup_printf("%s is on a local file system (type 0x%lx) "
                           "(%s)", sp, magic, SHARED_FS_TEXT);
}

/* ------------------------------------------------------------------ */
/* Vetting */

/* The string value of XPath EXPR evaluated at N.  Caller frees. */
static char *
xpath_string(xmlXPathContextPtr ctx, xmlNodePtr n, const char *expr)
{
    xmlXPathObjectPtr obj;
    char *s;

    ctx->node = n;
    obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    if (!obj) {
        g_error("kemarixml: bad XPath %s", expr);
    }
    s = g_strdup(obj->type == XPATH_STRING && obj->stringval
                 ? (const char *)obj->stringval : "");
    xmlXPathFreeObject(obj);
    return s;
}

/*
 * kemari:storage-mode(TARGET), for the rows: 'shared' or 'replicated',
 * kemarixml_disk_storage() of the configuration being vetted (the XPath
 * context's userData, NULL when there is none).
 */
static void
xpath_storage_mode(xmlXPathParserContextPtr ctxt, int nargs)
{
    const struct kemarixml_config *c = ctxt->context->userData;
    xmlChar *target;
    enum kemarixml_storage mode;

    CHECK_ARITY(1);
    target = xmlXPathPopString(ctxt);
    if (!target) {
        XP_ERROR(XPATH_MEMORY_ERROR);
    }
    mode = kemarixml_disk_storage(c, (const char *)target);
    xmlFree(target);
    xmlXPathReturnString(ctxt, xmlStrdup((const xmlChar *)
        (mode == KEMARIXML_STORAGE_REPLICATED ? "replicated" : "shared")));
}

/* Each <kemari:disk> of C names a <disk> of D. */
static void
vet_disk_targets(const struct kemarixml_doc *d,
                 const struct kemarixml_config *c, GPtrArray *problems)
{
    g_autoptr(GPtrArray) disks = domain_disks(d);
    g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func(g_free);
    size_t i;
    unsigned j;

    for (j = 0; j < disks->len; j++) {
        char *t = child_attr(g_ptr_array_index(disks, j), "target", "dev");

        if (t) {
            g_ptr_array_add(targets, t);
        }
    }
    for (i = 0; c && i < c->n_disks; i++) {
        GString *allowed;

        for (j = 0; j < targets->len; j++) {
            if (strcmp(g_ptr_array_index(targets, j),
                       c->disks[i].target) == 0) {
                break;
            }
        }
        if (j < targets->len) {
            continue;
        }
        allowed = g_string_new(NULL);
        for (j = 0; j < targets->len; j++) {
            g_autofree char *st = shown(g_ptr_array_index(targets, j));

            g_string_append_printf(allowed, "%s%s", j ? ", " : "", st);
        }
        problem(problems, "<kemari:disk> attribute 'target': no <disk> of "
                "the domain has target dev '%s' (allowed: %s)",
                c->disks[i].target,
                allowed->len ? allowed->str
                             : "a disk's target dev; the domain has none");
        g_string_free(allowed, TRUE);
    }
}

void
kemarixml_vet(const struct kemarixml_doc *d,
              const struct kemarixml_config *config,
              const struct kemarixml_host *host, GPtrArray *problems,
              unsigned *hits)
{
    g_autoptr(GHashTable) decided = g_hash_table_new(NULL, NULL);
    xmlXPathContextPtr ctx;
    unsigned i;
    int j;

    vet_disk_targets(d, config, problems);
    ctx = xmlXPathNewContext(d->doc);
    if (!ctx) {
        g_error("kemarixml: cannot allocate an XPath context");
    }
    xmlXPathRegisterNs(ctx, (const xmlChar *)"kemari",
                       (const xmlChar *)KEMARIXML_NS);
    xmlXPathRegisterNs(ctx, (const xmlChar *)"qemu",
                       (const xmlChar *)QEMU_NS);
    ctx->userData = (void *)config;
    if (xmlXPathRegisterFuncNS(ctx, (const xmlChar *)"storage-mode",
                               (const xmlChar *)KEMARIXML_NS,
                               xpath_storage_mode) != 0) {
        g_error("kemarixml: cannot register an XPath function");
    }
    for (i = 0; i < G_N_ELEMENTS(rules); i++) {
        const struct kemarixml_rule *r = &rules[i];
        xmlXPathObjectPtr obj;
        xmlNodeSetPtr set;

        ctx->node = d->root;
        obj = xmlXPathEvalExpression((const xmlChar *)r->xpath, ctx);
        if (!obj) {
            g_error("kemarixml: bad XPath in row %u: %s", i + 1, r->xpath);
        }
        set = obj->type == XPATH_NODESET ? obj->nodesetval : NULL;
        for (j = 0; set && j < set->nodeNr; j++) {
            xmlNodePtr n = set->nodeTab[j];
            g_autofree char *detail = NULL;
            g_autofree char *tag = NULL;
            g_autofree char *id = NULL;

            if (n->type != XML_ELEMENT_NODE ||
                g_hash_table_contains(decided, n)) {
                continue;
            }
            g_hash_table_add(decided, n);
            if (hits) {
                hits[i]++;
            }
            if (r->verdict == KEMARIXML_ALLOWED) {
                continue;
            }
            if (r->verdict == KEMARIXML_CHECKED) {
                g_autofree char *v = xpath_string(ctx, n, r->check_value);

                detail = r->check(host, v);
                if (!detail) {
                    continue;
                }
            }
            tag = tag_text(n);
            id = device_id(n);
            problem(problems, "%s%s: refused: %s: %s", tag, id, r->kind,
                    detail ? detail : r->reason);
        }
        xmlXPathFreeObject(obj);
    }
    xmlXPathFreeContext(ctx);
}

bool
kemarixml_check(const char *xml, size_t len,
                const struct kemarixml_host *host, GPtrArray *problems)
{
    g_autoptr(kemarixml_doc) d = NULL;
    g_autoptr(kemarixml_config) c = NULL;
    g_autoptr(GError) err = NULL;

    /* every <kemari> (even in a misspelled namespace) says "kemari" */
    if (!memmem(xml, MIN(len, (size_t)KEMARIXML_MAX_SIZE), "kemari", 6)) {
        return false;
    }
    d = kemarixml_parse(xml, len, &err);
    if (!d) {
        problem(problems, "%s", err->message);
        return true;
    }
    if (!kemarixml_doc_has_kemari(d)) {
        return false;
    }
    c = kemarixml_config_get(d, problems);
    kemarixml_vet(d, c, host, problems, NULL);
    return true;
}
