/* t_scan_oracle.h — jansson 2.14 as the oracle for worker/scan.c.
 *
 * check() scans one record with max_depth 2048 (jansson's
 * JSON_PARSER_MAX_DEPTH) and compares with json_loadb(flags 0): the same
 * accept/reject (not_object only for valid non-object JSON), and for accepted
 * records the same values for the keys in want_keys, a '}' at close_off with
 * only whitespace after it, the same emptiness, and at the default depth no
 * difference but too_deep; the same verdict, fields and result again
 * through a key index and a key memo kept across records, and raw_newline exactly when a '\n' or '\r' precedes
 * the close.  Shared by tests/unit/t_scan_diff.c and
 * tests/fuzz/fuzz_scan.c (static functions: include from one .c each).
 */
#ifndef LOGFLEET_T_SCAN_ORACLE_H
#define LOGFLEET_T_SCAN_ORACLE_H

#include "worker/scan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct scan_field want_keys[] = {
    {"type", 4, 0, 0, 0}, {"ts", 2, 0, 0, 0}, {"a", 1, 0, 0, 0}, {"", 0, 0, 0, 0},
    {"\xC3\xA9", 2, 0, 0, 0},
};
#define NKEYS (sizeof want_keys / sizeof want_keys[0])

/* Returns NULL if the field matches jansson's member value, else why not. */
static const char *field_differs(const struct scan_field *f, json_t *v)
{
    char t[64];
    if (!v) return f->type == SCAN_T_MISSING ? NULL : "expected missing";
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (f->type != SCAN_T_STRING) return "expected string";
        if (f->val_len != json_string_length(v) ||
            memcmp(f->val, json_string_value(v), f->val_len) != 0)
            return "string value";
        return NULL;
    case JSON_INTEGER:
    case JSON_REAL:
        if (f->type != SCAN_T_NUMBER) return "expected number";
        if (f->val_len >= sizeof t) {
            if (json_is_integer(v)) return "long integer text";
            /* long real: compare through strtod of a heap copy */
            char *c = strndup(f->val, f->val_len);
            double d = strtod(c, NULL);
            free(c);
            return d == json_real_value(v) ? NULL : "real value";
        }
        memcpy(t, f->val, f->val_len), t[f->val_len] = 0;
        if (json_is_integer(v)) return strtoll(t, NULL, 10) == json_integer_value(v) ? NULL : "int";
        return strtod(t, NULL) == json_real_value(v) ? NULL : "real value";
    case JSON_TRUE: return f->type == SCAN_T_TRUE ? NULL : "expected true";
    case JSON_FALSE: return f->type == SCAN_T_FALSE ? NULL : "expected false";
    case JSON_NULL: return f->type == SCAN_T_NULL ? NULL : "expected null";
    case JSON_OBJECT:
    case JSON_ARRAY: {
        int want = json_is_object(v) ? SCAN_T_OBJECT : SCAN_T_ARRAY;
        if (f->type != want) return "expected container";
        json_t *w = json_loadb(f->val, f->val_len, JSON_DECODE_ANY, NULL);
        int same = w && json_equal(w, v);
        json_decref(w);
        return same ? NULL : "container span";
    }
    }
    return "?";
}

static void dump(const char *why, const char *p, size_t n)
{
    fprintf(stderr, "  disagreement (%s) on %zu bytes: \"", why, n);
    for (size_t i = 0; i < n && i < 600; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') fputc(c, stderr);
        else fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "\"\n");
}

/* Splices lineage members before close_off as the router does; NULL if
 * jansson loads the result with those values and the record's other
 * members unchanged. */
static const char *splice_differs(const char *p, size_t n, const struct scan_result *r, json_t *j)
{
    static const char lin[] = "\"_shard\":\"s-1\",\"_seq\":\"42\"}";
    char *q = malloc(n + sizeof lin + 1);
    size_t k = r->close_off;
    memcpy(q, p, k);
    if (!r->empty) q[k++] = ',';
    memcpy(q + k, lin, sizeof lin - 1), k += sizeof lin - 1;
    json_t *s = json_loadb(q, k, 0, NULL);
    free(q);
    if (!s) return "spliced record does not load";
    const char *sh = json_string_value(json_object_get(s, "_shard"));
    const char *sq = json_string_value(json_object_get(s, "_seq"));
    int ok = sh && sq && strcmp(sh, "s-1") == 0 && strcmp(sq, "42") == 0;
    json_object_del(s, "_shard"), json_object_del(s, "_seq");
    json_t *o = json_deep_copy(j);
    json_object_del(o, "_shard"), json_object_del(o, "_seq");
    ok = ok && json_equal(o, s);
    json_decref(o), json_decref(s);
    return ok ? NULL : "spliced record differs";
}

/* Scans again through a key index (scan_keys) and a key memo kept across
 * all records checked (so earlier records' keys are what it predicts), into
 * its own scratch; NULL if the verdict (rc, reason and error offset), the
 * fields and the result are the same as the plain scan's (rc, f, r). */
static const char *keyed_differs(const char *p, size_t n, int rc, const struct scan_field *f,
                                 const struct scan_result *r)
{
    static struct scan_keys *keys;
    static struct scan_key_memo *memo;
    if (!keys) keys = scan_keys_new(want_keys, NKEYS);
    if (!memo) memo = scan_key_memo_new();
    struct scan_field g[NKEYS];
    memcpy(g, want_keys, sizeof g);
    struct scan_result res;
    char *scratch = malloc(n + 1);
    struct scan_opts o = {.max_depth = 2048, .scratch = scratch, .scratch_len = n, .keys = keys,
                          .memo = memo};
    const char *why = NULL;
    int krc = scan_record(p, n, g, NKEYS, &res, &o);
    if (rc != 0 || krc != 0) {
        free(scratch);
        if (krc != rc || res.reason != r->reason || res.err_off != r->err_off)
            return "keyed scan verdict";
        return NULL;
    }
    if (res.close_off != r->close_off || res.empty != r->empty ||
             res.members != r->members || res.raw_newline != r->raw_newline)
        why = "keyed scan result";
    for (size_t i = 0; !why && i < NKEYS; i++)
        if (g[i].type != f[i].type || g[i].val_len != f[i].val_len ||
            (f[i].val_len && memcmp(g[i].val, f[i].val, f[i].val_len) != 0))
            why = "keyed scan field";
    free(scratch);
    return why;
}

/* NULL if raw_newline says whether a line break precedes close_off. */
static const char *newline_differs(const char *p, const struct scan_result *r)
{
    int nl = memchr(p, '\n', r->close_off) || memchr(p, '\r', r->close_off);
    return nl == r->raw_newline ? NULL : "raw_newline";
}

struct tally {
    size_t accepted, rejected, reasons[SCAN_E_COUNT_], bytes, fails, nul_quirk;
};

static int check(const char *p, size_t n, char *scratch, struct tally *t);

/* jansson 2.14 drops a NUL byte that follows a number or a literal (its
 * lexer un-reads the NUL, and stream_get takes a NUL in its buffer for "empty"
 * and reads on).  The scanner rejects the NUL (nul_byte) on purpose.  Returns
 * 1 if that is the whole difference: without that byte both agree and
 * jansson sees the same document. */
static int is_nul_quirk(const char *p, size_t n, size_t at, json_t *j, char *scratch,
                        struct tally *t)
{
    if (at == 0 || at >= n || p[at] != 0) return 0;
    unsigned char c = (unsigned char)p[at - 1];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return 0;
    char *q = malloc(n);
    memcpy(q, p, at), memcpy(q + at, p + at + 1, n - at - 1);
    json_t *k = json_loadb(q, n - 1, 0, NULL);
    int same = k && json_equal(j, k) && check(q, n - 1, scratch, t) == 0;
    json_decref(k);
    free(q);
    if (same) t->nul_quirk++;
    return same;
}

/* Compares one record; returns 0 if scanner and jansson agree. */
static int check(const char *p, size_t n, char *scratch, struct tally *t)
{
    struct scan_field f[NKEYS];
    memcpy(f, want_keys, sizeof f);
    struct scan_result res;
    struct scan_opts o = {.max_depth = 2048, .scratch = scratch, .scratch_len = n};
    int rc = scan_record(p, n, f, NKEYS, &res, &o);
    json_error_t je;
    json_t *j = json_loadb(p, n, 0, &je);
    const char *why = NULL;
    t->bytes += n;
    if (rc == 0) {
        t->accepted++;
        if (!j) why = "scanner accepts, jansson rejects";
        else if (!json_is_object(j)) why = "accepted a non-object";
        else if (p[res.close_off] != '}') why = "close_off";
        else if (res.empty != (json_object_size(j) == 0)) why = "empty flag";
        for (size_t i = 0; !why && i < NKEYS; i++)
            why = field_differs(&f[i], json_object_getn(j, f[i].key, f[i].key_len));
        if (!why) why = splice_differs(p, n, &res, j);
        if (!why) why = newline_differs(p, &res);
        if (!why) why = keyed_differs(p, n, rc, f, &res);
        for (size_t i = res.close_off + 1; !why && i < n; i++)
            if (!strchr(" \t\r\n", p[i]) || !p[i]) why = "junk after close_off";
        /* the production depth only adds too_deep rejections */
        struct scan_opts d = {.scratch = scratch, .scratch_len = n};
        int rc64 = scan_record(p, n, f, NKEYS, &res, &d);
        if (!why && rc64 != 0 && rc64 != -SCAN_E_TOO_DEEP) why = "default depth differs";
    } else {
        t->rejected++;
        t->reasons[-rc]++;
        why = keyed_differs(p, n, rc, f, &res);
        if (rc == -SCAN_E_NOT_OBJECT) {
            /* valid JSON, not an object: jansson parses it as "any" */
            json_t *any = json_loadb(p, n, JSON_DECODE_ANY, NULL);
            if (!why && (!any || json_is_object(any) || (j && !json_is_array(j))))
                why = "not_object but jansson disagrees";
            json_decref(any);
        } else if (!why && j && !(rc == -SCAN_E_NUL && is_nul_quirk(p, n, res.err_off, j, scratch, t))) {
            why = "scanner rejects, jansson accepts";
        }
    }
    if (why) {
        if (t->fails++ < 5) {
            dump(why, p, n);
            fprintf(stderr, "    scanner: %s at %zu; jansson: %s\n", scan_reason_name(rc),
                    res.err_off, j ? "ok" : je.text);
        }
    }
    json_decref(j);
    return why != NULL;
}

#endif
