/* router_route.c — routing decisions and the lineage splice (the hot path). */
#include "worker/router_route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "sinks/keys.h"
#include "worker/scan.h"

struct rcol {
    int field;              /* index into the scanner's fields */
    enum lf_col_type kind;
    int required;
};

struct rtype {
    char *name;
    size_t len;
    size_t ncols;
    struct rcol *cols;
};

struct router_rules {
    size_t ntypes;
    struct rtype *types;
    struct scan_keys *type_index; /* type name -> index */
    size_t nfields;         /* [0] the type field, then the time field and columns */
    char **field_names;
    int time_field;         /* index of the time field */
    size_t max_record;
    int max_depth;
    int64_t retention_ms, skew_ms;
};

struct router_scratch {
    struct scan_field *fields;
    size_t nfields;
    struct scan_keys *keys;
    struct scan_key_memo *memo;
    char *text;
    struct scan_opts opts;
};

static const char *const reason_names[ROUTER_REASON_COUNT] = {
    "ok",           "not_json",       "not_object", "bad_utf8",      "bad_escape",
    "nul_byte",     "number_range",   "too_deep",   "too_large",     "trailing_data",
    "truncated",    "no_type",        "bad_type_name", "unknown_type", "schema_mismatch",
    "bad_time",     "out_of_window",
};

const char *router_reason_name(int reason)
{
    return reason >= 0 && reason < ROUTER_REASON_COUNT ? reason_names[reason] : "invalid";
}

/* Index of name in the field list, adding it if new; -1 when full. */
static int field_index(struct router_rules *r, const char *name)
{
    for (size_t i = 0; i < r->nfields; i++)
        if (strcmp(r->field_names[i], name) == 0) return (int)i;
    if (r->nfields == ROUTER_MAX_FIELDS) return -1;
    r->field_names[r->nfields] = xstrdup(name);
    return (int)r->nfields++;
}

static int add_type(struct router_rules *r, const struct lf_type *t, struct rtype *rt,
                    struct err *e)
{
    rt->name = xstrdup(t->name);
    rt->len = strlen(t->name);
    rt->cols = xcalloc(t->n_columns ? t->n_columns : 1, sizeof *rt->cols);
    for (size_t k = 0; k < t->n_columns; k++) {
        struct lf_column c;
        if (lf_column_parse(t->columns[k], &c))
            return err_set(e, -EINVAL, ERR_PERMANENT, "router: type %s: bad column \"%s\"",
                           t->name, t->columns[k]);
        int fi = field_index(r, c.name);
        if (fi < 0)
            return err_set(e, -EINVAL, ERR_PERMANENT, "router: more than %d distinct fields",
                           ROUTER_MAX_FIELDS);
        rt->cols[rt->ncols++] = (struct rcol){fi, c.type, c.required};
    }
    return 0;
}

/* Type names are looked up through the scanner's key index, which points
 * at r->types[i].name (alive as long as the rules). */
static void build_type_index(struct router_rules *r)
{
    struct scan_field *f = xcalloc(r->ntypes ? r->ntypes : 1, sizeof *f);
    for (size_t i = 0; i < r->ntypes; i++)
        f[i] = (struct scan_field){.key = r->types[i].name, .key_len = r->types[i].len};
    r->type_index = scan_keys_new(f, r->ntypes);
    free(f);
}

int router_rules_new(const struct lf_config *c, struct router_rules **out, struct err *e)
{
    struct router_rules *r = xcalloc(1, sizeof *r);
    r->field_names = xcalloc(ROUTER_MAX_FIELDS, sizeof *r->field_names);
    field_index(r, c->router.type_field);
    r->time_field = field_index(r, c->router.time_field);
    r->max_record = (size_t)c->router.max_record_bytes;
    r->max_depth = c->router.max_depth;
    r->retention_ms = (int64_t)c->router.retention_days * 86400000;
    r->skew_ms = (int64_t)c->router.future_skew_s * 1000;
    r->types = xcalloc(c->n_types ? c->n_types : 1, sizeof *r->types);
    int rc = 0;
    for (size_t i = 0; i < c->n_types && rc == 0; i++, r->ntypes++)
        rc = add_type(r, &c->types[i], &r->types[i], e);
    if (rc) {
        router_rules_free(r);
        return rc;
    }
    build_type_index(r);
    *out = r;
    return 0;
}

void router_rules_free(struct router_rules *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->ntypes; i++) {
        free(r->types[i].name);
        free(r->types[i].cols);
    }
    for (size_t i = 0; i < r->nfields; i++) free(r->field_names[i]);
    free(r->field_names);
    free(r->types);
    scan_keys_free(r->type_index);
    free(r);
}

size_t router_rules_ntypes(const struct router_rules *r) { return r->ntypes; }

const char *router_rules_type_name(const struct router_rules *r, size_t i)
{
    return i < r->ntypes ? r->types[i].name : NULL;
}

size_t router_rules_max_record(const struct router_rules *r) { return r->max_record; }

struct router_scratch *router_scratch_new(const struct router_rules *r)
{
    struct router_scratch *s = xcalloc(1, sizeof *s);
    s->nfields = r->nfields;
    s->fields = xcalloc(r->nfields, sizeof *s->fields);
    for (size_t i = 0; i < r->nfields; i++) {
        s->fields[i].key = r->field_names[i];
        s->fields[i].key_len = strlen(r->field_names[i]);
    }
    s->keys = scan_keys_new(s->fields, s->nfields);
    s->memo = scan_key_memo_new();
    s->text = xmalloc(r->max_record + 1);
    s->opts = (struct scan_opts){.max_size = r->max_record, .max_depth = r->max_depth,
                                 .scratch = s->text, .scratch_len = r->max_record,
                                 .keys = s->keys, .memo = s->memo};
    return s;
}

void router_scratch_free(struct router_scratch *s)
{
    if (!s) return;
    scan_keys_free(s->keys);
    scan_key_memo_free(s->memo);
    free(s->fields);
    free(s->text);
    free(s);
}

static int scan_to_reason(int scan_reason)
{
    switch (scan_reason) {
    case SCAN_E_NOT_JSON: return ROUTER_NOT_JSON;
    case SCAN_E_NOT_OBJECT: return ROUTER_NOT_OBJECT;
    case SCAN_E_BAD_UTF8: return ROUTER_BAD_UTF8;
    case SCAN_E_BAD_ESCAPE: return ROUTER_BAD_ESCAPE;
    case SCAN_E_NUL: return ROUTER_NUL_BYTE;
    case SCAN_E_NUMBER_RANGE: return ROUTER_NUMBER_RANGE;
    case SCAN_E_TOO_DEEP: return ROUTER_TOO_DEEP;
    case SCAN_E_TOO_LARGE: return ROUTER_TOO_LARGE;
    case SCAN_E_TRAILING: return ROUTER_TRAILING_DATA;
    case SCAN_E_TRUNCATED: return ROUTER_TRUNCATED;
    default: return ROUTER_NOT_JSON;
    }
}

/* A record whose first non-blank byte cannot start any JSON value (a KPL
 * aggregate's magic, binary garbage, nothing at all) is not JSON, whatever
 * the scanner tripped on first (an invalid UTF-8 lead byte, a NUL...). */
static int json_start(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
    return i < n && strchr("{[\"-0123456789tfn", p[i]) != NULL && p[i] != 0;
}

static int name_valid(const char *s, size_t n)
{
    if (n < 1 || n > 63 || s[0] < 'a' || s[0] > 'z') return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

/* The text of a JSON number (the scanner checked its grammar) is an integer
 * literal (no fraction, no exponent) within [lo, hi], lo < 0 <= hi. */
static int integer_ok(const char *v, size_t n, int64_t lo, int64_t hi)
{
    size_t i = n > 0 && v[0] == '-';
    if (i == n || n - i > 19) return 0; /* 20 digits overflow any int64 */
    uint64_t x = 0;
    for (size_t k = i; k < n; k++) {
        unsigned d = (unsigned)((unsigned char)v[k] - '0');
        if (d > 9) return 0; /* '.', 'e' or 'E' */
        x = x * 10 + d;      /* 19 digits fit in 64 bits */
    }
    return i ? x <= (uint64_t)(-(lo + 1)) + 1 : x <= (uint64_t)hi;
}

/* time_rc: scan_time_ms's verdict on this column's field when it is the
 * event time field (parsed once per record), else 1. */
static int column_ok(const struct rcol *c, const struct scan_field *f, int time_rc)
{
    if (f->type == SCAN_T_MISSING || f->type == SCAN_T_NULL) return !c->required;
    int64_t ms;
    if (c->kind == LF_COL_TIMESTAMP && time_rc != 1) return time_rc == 0;
    switch (c->kind) {
    case LF_COL_TEXT: return 1;
    case LF_COL_VARCHAR: return f->type == SCAN_T_STRING;
    case LF_COL_INT:
        return f->type == SCAN_T_NUMBER && integer_ok(f->val, f->val_len, INT32_MIN, INT32_MAX);
    case LF_COL_BIGINT:
        return f->type == SCAN_T_NUMBER && integer_ok(f->val, f->val_len, INT64_MIN, INT64_MAX);
    case LF_COL_DOUBLE: return f->type == SCAN_T_NUMBER;
    case LF_COL_BOOLEAN: return f->type == SCAN_T_TRUE || f->type == SCAN_T_FALSE;
    case LF_COL_TIMESTAMP: return scan_time_ms(f->type, f->val, f->val_len, &ms) == 0;
    }
    return 0;
}

static int dead(struct router_route *out, int reason, int64_t arrival_ms)
{
    out->reason = reason;
    out->type = -1;
    out->day = keys_day_of_ms(arrival_ms);
    return reason;
}

/* The type of a scanned record, or a reason (negated). */
static int record_type(const struct router_rules *r, const struct scan_field *f)
{
    if (f->type == SCAN_T_MISSING || f->type == SCAN_T_NULL) return -ROUTER_NO_TYPE;
    if (f->type != SCAN_T_STRING || !name_valid(f->val, f->val_len)) return -ROUTER_BAD_TYPE_NAME;
    int t = scan_keys_find(r->type_index, f->val, f->val_len);
    return t < 0 ? -ROUTER_UNKNOWN_TYPE : t;
}

void router_route(const struct router_rules *r, struct router_scratch *s, const char *p, size_t n,
                  int64_t arrival_ms, struct router_route *out)
{
    memset(out, 0, sizeof *out);
    out->event_ms = arrival_ms;
    if (n > r->max_record) {
        dead(out, ROUTER_TOO_LARGE, arrival_ms);
        return;
    }
    struct scan_result res;
    if (scan_record(p, n, s->fields, s->nfields, &res, &s->opts) != 0) {
        dead(out, json_start(p, n) ? scan_to_reason(res.reason) : ROUTER_NOT_JSON, arrival_ms);
        return;
    }
    int t = record_type(r, &s->fields[0]);
    if (t < 0) {
        dead(out, -t, arrival_ms);
        return;
    }
    const struct scan_field *tf = &s->fields[r->time_field];
    int64_t ms = arrival_ms;
    int trc = scan_time_ms(tf->type, tf->val, tf->val_len, &ms);
    if (trc == -SCAN_E_NO_TIME) ms = arrival_ms;
    else if (trc != 0) {
        dead(out, ROUTER_BAD_TIME, arrival_ms);
        return;
    }
    if (ms < arrival_ms - r->retention_ms || ms > arrival_ms + r->skew_ms) {
        dead(out, ROUTER_OUT_OF_WINDOW, arrival_ms);
        return;
    }
    const struct rtype *rt = &r->types[t];
    for (size_t i = 0; i < rt->ncols; i++)
        if (!column_ok(&rt->cols[i], &s->fields[rt->cols[i].field],
                       rt->cols[i].field == r->time_field ? trc : 1)) {
            dead(out, ROUTER_SCHEMA_MISMATCH, arrival_ms);
            return;
        }
    out->type = t;
    out->event_ms = ms;
    out->day = keys_day_of_ms(ms);
    out->close_off = res.close_off;
    out->empty = res.empty;
    out->raw_newline = res.raw_newline;
}

/* ---- the splice ------------------------------------------------------------ */

static char *put_i64(char *w, int64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char t[24];
    int i = 24;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) { /* two digits a division: arrival times have 13 */
        i -= 2;
        memcpy(t + i, pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (u >= 10) i -= 2, memcpy(t + i, pairs + 2 * u, 2);
    else t[--i] = (char)('0' + u);
    if (v < 0) t[--i] = '-';
    memcpy(w, t + i, (size_t)(24 - i));
    return w + (24 - i);
}

static char *put(char *w, const void *p, size_t n)
{
    memcpy(w, p, n);
    return w + n;
}

int router_splice(struct buf *out, const char *p, size_t n, const struct router_route *rt,
                  const struct router_lineage *l)
{
    size_t seqlen = l->seq_len ? l->seq_len : strlen(l->seq), head = rt->close_off;
    char *w = buf_reserve(out, head + l->shard_len + seqlen + 96);
    if (!w || head >= n) return -E2BIG;
    char *start = w;
    w = put(w, p, head);
    if (rt->raw_newline) /* whitespace between tokens: a blank keeps the JSON */
        for (char *c = start; c < w; c++)
            if (*c == '\n' || *c == '\r') *c = ' ';
    w = put(w, rt->empty ? "\"_shard\":\"" : ",\"_shard\":\"", rt->empty ? 10 : 11);
    w = put(w, l->shard_json, l->shard_len);
    w = put(w, "\",\"_seq\":\"", 10);
    w = put(w, l->seq, seqlen);
    w = put(w, "\",\"_subseq\":", 12);
    w = put_i64(w, l->subseq);
    w = put(w, ",\"_arrival\":", 12);
    w = put_i64(w, l->arrival_ms);
    w = put(w, "}\n", 2);
    out->len += (size_t)(w - start);
    out->data[out->len] = 0;
    return 0;
}

int router_json_escape(struct buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = buf_append(out, esc, 2);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc = buf_append(out, esc, 6);
        } else {
            rc = buf_append(out, &s[i], 1);
        }
    }
    return rc;
}
