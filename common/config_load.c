/* config_load.c — the table-driven engine behind config_load.
 *
 * For a table (the top level, or the element of a list of groups) and the
 * struct it describes: set the defaults, reject unknown keys, read each key
 * present in the libconfig group, then (top level only) the environment,
 * then check required keys and the table's cross-key rules.  Every error
 * names where the value came from ("file:line" or "env VAR"), the key, what
 * was expected and what was found; secret values are never echoed.
 */
#include "common/buf.h"
#include "common/config.h"
#include "common/mem.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FILE_BYTES (4u << 20) /* a bigger config file is a mistake */
#define KEY_MAX 160               /* longest key path in messages */

/* One load: where values come from, for messages. */
struct ctx {
    const char *name; /* the file (or what stands for it) */
    const char *env;  /* the variable being read, or NULL */
    struct err *e;
};

static void *field(void *obj, size_t off)
{
    return (char *)obj + off;
}

static const char *setting_file(const struct ctx *x, const config_setting_t *s)
{
    const char *f = s ? config_setting_source_file(s) : NULL;
    return f ? f : x->name;
}

/* "<where>: [<path>: ]<msg>", where is "env VAR", "file:line" or "file". */
static int failv(const struct ctx *x, const char *file, int line, const char *path,
                 const char *fmt, va_list ap)
{
    char msg[256], where[192];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (x->env) snprintf(where, sizeof where, "env %s", x->env);
    else if (line > 0) snprintf(where, sizeof where, "%s:%d", file, line);
    else snprintf(where, sizeof where, "%s", file);
    if (path && *path)
        return err_set(x->e, -EINVAL, ERR_PERMANENT, "%s: %s: %s", where, path, msg);
    return err_set(x->e, -EINVAL, ERR_PERMANENT, "%s: %s", where, msg);
}

static int fail(const struct ctx *x, const config_setting_t *s, const char *path,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(const struct ctx *x, const config_setting_t *s, const char *path,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int line = s ? (int)config_setting_source_line(s) : 0;
    int rc = failv(x, setting_file(x, s), line, path, fmt, ap);
    va_end(ap);
    return rc;
}

static int fail_line(const struct ctx *x, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_line(const struct ctx *x, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(x, file, line, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

/* snprintf for key paths: a path too long for the buffer is cut short. */
static void pathf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

static void join(char *out, size_t n, const char *prefix, const char *name)
{
    pathf(out, n, "%s%s%s", prefix, *prefix && *name ? "." : "", name);
}

static const char *type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    case CONFIG_TYPE_GROUP: return "a group";
    }
    return "nothing";
}

/* What a value of en must be, for "expected ...". */
static const char *describe(const struct config_entry *en, char *out, size_t n)
{
    switch (en->kind) {
    case CONFIG_KIND_STRING: return "a string";
    case CONFIG_KIND_INT:
    case CONFIG_KIND_INT64:
        snprintf(out, n, "an integer in [%lld, %lld]", (long long)en->min, (long long)en->max);
        return out;
    case CONFIG_KIND_DURATION:
        snprintf(out, n, "an integer (milliseconds) in [%lld, %lld]", (long long)en->min,
                 (long long)en->max);
        return out;
    case CONFIG_KIND_BOOL: return "true or false";
    case CONFIG_KIND_DOUBLE:
        snprintf(out, n, "a number in [%g, %g]", en->dmin, en->dmax);
        return out;
    case CONFIG_KIND_ENUM: {
        size_t used = (size_t)snprintf(out, n, "one of ");
        for (size_t i = 0; en->values[i] && used < n; i++)
            used += (size_t)snprintf(out + used, n - used, "%s%s", i ? ", " : "", en->values[i]);
        return out;
    }
    case CONFIG_KIND_STRINGS: return "a list of strings";
    case CONFIG_KIND_GROUPS: return "a list of groups";
    }
    return "?";
}

static int mismatch(const struct ctx *x, const struct config_entry *en, const config_setting_t *s,
                    const char *path)
{
    char d[192];
    return fail(x, s, path, "expected %s, got %s", describe(en, d, sizeof d), type_name(s));
}

/* How a string value is shown in a message: quoted, or hidden if secret. */
static const char *shown(const struct config_entry *en, const char *v, char *out, size_t n)
{
    if (en->flags & CONFIG_F_SECRET) return "a value not shown (secret)";
    snprintf(out, n, "\"%.80s%s\"", v, strlen(v) > 80 ? "..." : "");
    return out;
}

/* ---- storing typed values ------------------------------------------------ */

static int store_string(const struct ctx *x, const struct config_entry *en, void *obj,
                        const char *v, const config_setting_t *s, const char *path)
{
    char g[96], d[192];
    if (en->kind == CONFIG_KIND_ENUM) {
        for (int i = 0; en->values[i]; i++)
            if (!strcmp(v, en->values[i])) {
                *(int *)field(obj, en->offset) = i;
                return 0;
            }
        return fail(x, s, path, "expected %s, got %s", describe(en, d, sizeof d),
                    shown(en, v, g, sizeof g));
    }
    if ((en->flags & CONFIG_F_REQUIRED) && !*v)
        return fail(x, s, path, "expected a non-empty string, got \"\"");
    if (en->check && !en->check->ok(v))
        return fail(x, s, path, "expected %s, got %s", en->check->expect, shown(en, v, g, sizeof g));
    char **slot = field(obj, en->offset);
    free(*slot);
    *slot = xstrdup(v);
    return 0;
}

static int store_int(const struct ctx *x, const struct config_entry *en, void *obj, int64_t v,
                     const config_setting_t *s, const char *path, const char *got)
{
    char d[192];
    if (v < en->min || v > en->max)
        return fail(x, s, path, "expected %s, got %s", describe(en, d, sizeof d), got);
    if (en->kind == CONFIG_KIND_INT64) *(int64_t *)field(obj, en->offset) = v;
    else *(int *)field(obj, en->offset) = (int)v;
    return 0;
}

static int store_double(const struct ctx *x, const struct config_entry *en, void *obj, double v,
                        const config_setting_t *s, const char *path, const char *got)
{
    char d[192];
    if (!isfinite(v) || v < en->dmin || v > en->dmax)
        return fail(x, s, path, "expected %s, got %s", describe(en, d, sizeof d), got);
    *(double *)field(obj, en->offset) = v;
    return 0;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void free_table(const struct config_table *t, void *obj);

/* Releases what en owns in obj and leaves the field empty. */
static void free_value(const struct config_entry *en, void *obj)
{
    void **slot = field(obj, en->offset);
    size_t *count = field(obj, en->count_offset);
    switch (en->kind) {
    case CONFIG_KIND_STRING: free(*slot); break;
    case CONFIG_KIND_STRINGS: free_strings(*slot, *count); break;
    case CONFIG_KIND_GROUPS:
        for (size_t i = 0; i < *count; i++)
            free_table(en->sub, (char *)*slot + i * en->sub->size);
        free(*slot);
        break;
    default: return;
    }
    *slot = NULL;
    if (en->kind != CONFIG_KIND_STRING) *count = 0;
}

static void free_table(const struct config_table *t, void *obj)
{
    for (size_t i = 0; i < t->n; i++) free_value(&t->entries[i], obj);
}

/* Checks each string (s: the list's setting, for lines) and takes ownership. */
static int store_strings(const struct ctx *x, const struct config_entry *en, void *obj,
                         char **v, size_t n, const config_setting_t *s, const char *path)
{
    char g[96];
    for (size_t i = 0; en->check && i < n; i++) {
        if (en->check->ok(v[i])) continue;
        const config_setting_t *es = s ? config_setting_get_elem(s, (unsigned)i) : NULL;
        char p[KEY_MAX];
        pathf(p, sizeof p, "%s[%zu]", path ? path : "", i);
        int rc = fail(x, es, path ? p : NULL, "expected %s, got %s", en->check->expect,
                      shown(en, v[i], g, sizeof g));
        free_strings(v, n);
        return rc;
    }
    free_value(en, obj);
    *(char ***)field(obj, en->offset) = v;
    *(size_t *)field(obj, en->count_offset) = n;
    return 0;
}

/* ---- values from a libconfig setting ------------------------------------- */

static int load_table(const struct ctx *x, const struct config_table *t, void *obj,
                      const config_setting_t *node, const char *prefix, bool with_env);

static int set_strings(const struct ctx *x, const struct config_entry *en, void *obj,
                       const config_setting_t *s, const char *path)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) return mismatch(x, en, s, path);
    size_t n = (size_t)config_setting_length(s);
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *es = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(es) == CONFIG_TYPE_STRING) continue;
        char p[KEY_MAX];
        pathf(p, sizeof p, "%s[%zu]", path, i);
        return fail(x, es, p, "expected a string, got %s", type_name(es));
    }
    char **v = n ? xcalloc(n, sizeof *v) : NULL;
    for (size_t i = 0; i < n; i++) v[i] = xstrdup(config_setting_get_string_elem(s, (int)i));
    return store_strings(x, en, obj, v, n, s, path);
}

/* Elements whose CONFIG_F_UNIQUE strings repeat an earlier element's. */
static int check_unique(const struct ctx *x, const struct config_entry *en, const char *arr,
                        size_t n, const config_setting_t *s, const char *path)
{
    const struct config_table *sub = en->sub;
    for (size_t k = 0; k < sub->n; k++) {
        const struct config_entry *u = &sub->entries[k];
        if (!(u->flags & CONFIG_F_UNIQUE) || u->kind != CONFIG_KIND_STRING) continue;
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++) {
                const char *a = *(char **)(arr + i * sub->size + u->offset);
                const char *b = *(char **)(arr + j * sub->size + u->offset);
                if (strcmp(a, b)) continue;
                const config_setting_t *si = config_setting_get_member(
                    config_setting_get_elem(s, (unsigned)i), u->name);
                const config_setting_t *sj = config_setting_get_member(
                    config_setting_get_elem(s, (unsigned)j), u->name);
                char p[KEY_MAX], at[32] = "";
                pathf(p, sizeof p, "%s[%zu].%s", path, i, u->name);
                if (sj && !x->env)
                    snprintf(at, sizeof at, " (line %u)", config_setting_source_line(sj));
                return fail(x, si, p, "\"%s\" is already used by %s[%zu]%s", a, path, j, at);
            }
    }
    return 0;
}

static int set_groups(const struct ctx *x, const struct config_entry *en, void *obj,
                      const config_setting_t *s, const char *path)
{
    int t = config_setting_type(s);
    int len = config_setting_length(s);
    if (t != CONFIG_TYPE_LIST && !(t == CONFIG_TYPE_ARRAY && len == 0))
        return mismatch(x, en, s, path);
    free_value(en, obj);
    size_t n = (size_t)len, sz = en->sub->size;
    char *arr = n ? xcalloc(n, sz) : NULL;
    *(void **)field(obj, en->offset) = arr;
    *(size_t *)field(obj, en->count_offset) = n;
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *es = config_setting_get_elem(s, (unsigned)i);
        char p[KEY_MAX];
        pathf(p, sizeof p, "%s[%zu]", path, i);
        if (config_setting_type(es) != CONFIG_TYPE_GROUP)
            return fail(x, es, p, "expected a group, got %s", type_name(es));
        int rc = load_table(x, en->sub, arr + i * sz, es, p, false);
        if (rc) return rc;
    }
    return check_unique(x, en, arr, n, s, path);
}

static int set_from_setting(const struct ctx *x, const struct config_entry *en, void *obj,
                            const config_setting_t *s, const char *path)
{
    int t = config_setting_type(s);
    bool is_int = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
    char got[48];
    switch (en->kind) {
    case CONFIG_KIND_STRING:
    case CONFIG_KIND_ENUM:
        if (t != CONFIG_TYPE_STRING) return mismatch(x, en, s, path);
        return store_string(x, en, obj, config_setting_get_string(s), s, path);
    case CONFIG_KIND_INT:
    case CONFIG_KIND_INT64:
    case CONFIG_KIND_DURATION: {
        if (!is_int) return mismatch(x, en, s, path);
        long long v = config_setting_get_int64(s);
        snprintf(got, sizeof got, "%lld", v);
        return store_int(x, en, obj, v, s, path, got);
    }
    case CONFIG_KIND_BOOL:
        if (t != CONFIG_TYPE_BOOL) return mismatch(x, en, s, path);
        *(bool *)field(obj, en->offset) = config_setting_get_bool(s);
        return 0;
    case CONFIG_KIND_DOUBLE: {
        if (!is_int && t != CONFIG_TYPE_FLOAT) return mismatch(x, en, s, path);
        double v = is_int ? (double)config_setting_get_int64(s) : config_setting_get_float(s);
        snprintf(got, sizeof got, "%g", v);
        return store_double(x, en, obj, v, s, path, got);
    }
    case CONFIG_KIND_STRINGS: return set_strings(x, en, obj, s, path);
    case CONFIG_KIND_GROUPS: return set_groups(x, en, obj, s, path);
    }
    return mismatch(x, en, s, path);
}

/* ---- the unknown-key walk ------------------------------------------------ */

static const struct config_entry *find_entry(const struct config_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->entries[i].name, name)) return &t->entries[i];
    return NULL;
}

/* Is name a group on the way to some key ("aws" for "aws.region")? */
static bool is_group(const struct config_table *t, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < t->n; i++)
        if (!strncmp(t->entries[i].name, name, n) && t->entries[i].name[n] == '.') return true;
    return false;
}

/* Optimal string alignment distance (a swap of neighbours counts 1). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (lb >= KEY_MAX) return SIZE_MAX;
    size_t rows[3][KEY_MAX], *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best) best = prev[j] + 1;
            if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1;
            cur[j] = best;
        }
        size_t *t = pp;
        pp = prev, prev = cur, cur = t;
    }
    return prev[lb];
}

/* The known key or group nearest to name, if near enough to be a typo. */
static bool suggest(const struct config_table *t, const char *name, char *out, size_t n)
{
    size_t best = strlen(name) / 3 > 1 ? strlen(name) / 3 : 1;
    bool found = false;
    for (size_t i = 0; i < t->n; i++) {
        const char *k = t->entries[i].name;
        for (const char *dot = k;; dot++) { /* every group on the way, then the key */
            if (*dot && *dot != '.') continue;
            char cand[KEY_MAX];
            pathf(cand, sizeof cand, "%.*s", (int)(dot - k), k);
            size_t d = distance(name, cand);
            if (d < best || (d == best && !found)) {
                best = d;
                found = true;
                snprintf(out, n, "%s", cand);
            }
            if (!*dot) break;
        }
    }
    return found;
}

static int check_unknown(const struct ctx *x, const struct config_table *t,
                         const config_setting_t *node, const char *rel, const char *prefix)
{
    int n = config_setting_length(node);
    for (int i = 0; i < n; i++) {
        const config_setting_t *c = config_setting_get_elem(node, (unsigned)i);
        char name[KEY_MAX], full[KEY_MAX], near[KEY_MAX], sp[KEY_MAX];
        join(name, sizeof name, rel, config_setting_name(c));
        if (find_entry(t, name)) continue;
        join(full, sizeof full, prefix, name);
        if (is_group(t, name)) {
            if (config_setting_type(c) != CONFIG_TYPE_GROUP)
                return fail(x, c, full, "expected a group, got %s", type_name(c));
            int rc = check_unknown(x, t, c, name, prefix);
            if (rc) return rc;
            continue;
        }
        if (!suggest(t, name, near, sizeof near))
            return fail(x, c, NULL, "unknown key \"%s\"", full);
        join(sp, sizeof sp, prefix, near);
        return fail(x, c, NULL, "unknown key \"%s\" (did you mean \"%s\"?)", full, sp);
    }
    return 0;
}

/* The setting at a dotted path below node, or NULL. */
static const config_setting_t *lookup(const config_setting_t *node, const char *path)
{
    char buf[KEY_MAX];
    pathf(buf, sizeof buf, "%s", path);
    const config_setting_t *s = node;
    for (char *p = buf, *dot; s && p; p = dot ? dot + 1 : NULL) {
        dot = strchr(p, '.');
        if (dot) *dot = 0;
        if (config_setting_type(s) != CONFIG_TYPE_GROUP) return NULL;
        s = config_setting_get_member(s, p);
    }
    return s;
}

/* ---- values from text (the environment, the table's defaults) ------------ */

static bool parse_int64(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long r = strtoll(s, &end, 10);
    if (errno || end == s || *end || isspace((unsigned char)*s)) return false;
    *v = r;
    return true;
}

static bool parse_bool(const char *s, bool *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
            *v = !strcasecmp(s, yes[i]);
            return true;
        }
    }
    return false;
}

/* "a, b,c" -> {"a", "b", "c"}; empty items are skipped. */
static char **split_list(const char *s, size_t *n)
{
    char **v = xcalloc(strlen(s) / 2 + 1, sizeof *v);
    *n = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        const char *a = s, *b = s + len;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (b > a) v[(*n)++] = xstrndup(a, (size_t)(b - a));
        s += len + (s[len] == ',');
    }
    return v;
}

static int check_wide_ints(const struct ctx *x, const char *text);

/* A list of groups in libconfig syntax: "( { ... }, ... )". */
static int groups_from_text(const struct ctx *x, const struct config_entry *en, void *obj,
                            const char *text)
{
    size_t n = strlen(text);
    while (n && (isspace((unsigned char)text[n - 1]) || text[n - 1] == ';')) n--;
    char *doc = xasprintf("value = %.*s;\n", (int)n, text);
    int rc = check_wide_ints(x, doc);
    config_t cf;
    config_init(&cf);
    if (!rc && !config_read_string(&cf, doc))
        rc = fail_line(x, x->name, 0, "%s", config_error_text(&cf));
    if (!rc) rc = set_groups(x, en, obj, config_lookup(&cf, "value"), en->name);
    config_destroy(&cf);
    free(doc);
    return rc;
}

static int set_from_text(const struct ctx *x, const struct config_entry *en, void *obj,
                         const char *text, const char *path)
{
    char got[96], d[192];
    shown(en, text, got, sizeof got);
    int64_t i;
    bool b;
    char *end;
    switch (en->kind) {
    case CONFIG_KIND_STRING:
    case CONFIG_KIND_ENUM: return store_string(x, en, obj, text, NULL, path);
    case CONFIG_KIND_INT:
    case CONFIG_KIND_INT64:
    case CONFIG_KIND_DURATION:
        if (!parse_int64(text, &i))
            return fail(x, NULL, path, "expected %s, got %s", describe(en, d, sizeof d), got);
        return store_int(x, en, obj, i, NULL, path, got);
    case CONFIG_KIND_BOOL:
        if (!parse_bool(text, &b)) return fail(x, NULL, path, "expected true or false, got %s", got);
        *(bool *)field(obj, en->offset) = b;
        return 0;
    case CONFIG_KIND_DOUBLE: {
        double v = strtod(text, &end);
        if (end == text || *end) v = NAN;
        return store_double(x, en, obj, v, NULL, path, got);
    }
    case CONFIG_KIND_STRINGS: {
        size_t n;
        char **v = split_list(text, &n);
        return store_strings(x, en, obj, v, n, NULL, path);
    }
    case CONFIG_KIND_GROUPS: return groups_from_text(x, en, obj, text);
    }
    return -EINVAL;
}

void config_env_name(const struct config_entry *en, char *out, size_t n)
{
    if (en->env) {
        snprintf(out, n, "%s", en->env);
        return;
    }
    size_t k = (size_t)snprintf(out, n, "LOGFLEET_");
    for (const char *p = en->name; *p && k + 1 < n; p++)
        out[k++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
    out[k < n ? k : n - 1] = 0;
}

/* ---- one table ------------------------------------------------------------ */

static int set_defaults(const struct ctx *x, const struct config_table *t, void *obj)
{
    struct ctx dx = {"built-in default", NULL, x->e};
    for (size_t i = 0; i < t->n; i++) {
        const struct config_entry *en = &t->entries[i];
        int rc = 0;
        if (en->def) rc = set_from_text(&dx, en, obj, en->def, en->name);
        else if (en->kind == CONFIG_KIND_STRING) *(char **)field(obj, en->offset) = xstrdup("");
        if (rc) return rc;
    }
    return 0;
}

static int read_env(const struct ctx *x, const struct config_table *t, void *obj, bool *seen)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct config_entry *en = &t->entries[i];
        char var[KEY_MAX];
        config_env_name(en, var, sizeof var);
        const char *v = getenv(var);
        if (!v) continue;
        struct ctx ex = {x->name, var, x->e};
        int rc = set_from_text(&ex, en, obj, v, NULL);
        if (rc) return rc;
        seen[i] = true;
    }
    return 0;
}

static int read_node(const struct ctx *x, const struct config_table *t, void *obj,
                     const config_setting_t *node, const char *prefix, bool *seen)
{
    int rc = check_unknown(x, t, node, "", prefix);
    for (size_t i = 0; !rc && i < t->n; i++) {
        const struct config_entry *en = &t->entries[i];
        const config_setting_t *s = lookup(node, en->name);
        if (!s) continue;
        char path[KEY_MAX];
        join(path, sizeof path, prefix, en->name);
        rc = set_from_setting(x, en, obj, s, path);
        seen[i] = true;
    }
    return rc;
}

static int check_table(const struct ctx *x, const struct config_table *t, const void *obj,
                       const config_setting_t *node, const char *prefix, const bool *seen)
{
    char path[KEY_MAX];
    for (size_t i = 0; i < t->n; i++) {
        if (seen[i] || !(t->entries[i].flags & CONFIG_F_REQUIRED)) continue;
        join(path, sizeof path, prefix, t->entries[i].name);
        return fail(x, node, path, "required key missing");
    }
    struct config_problem p = {0};
    if (!t->validate || !t->validate(obj, &p)) return 0;
    join(path, sizeof path, prefix, p.key);
    const config_setting_t *s = node ? lookup(node, p.key) : NULL;
    return fail(x, s ? s : node, path, "%s", p.msg);
}

/* Fills obj (zeroed) from defaults, node (may be NULL) and the environment. */
static int load_table(const struct ctx *x, const struct config_table *t, void *obj,
                      const config_setting_t *node, const char *prefix, bool with_env)
{
    bool *seen = xcalloc(t->n, sizeof *seen);
    int rc = set_defaults(x, t, obj);
    if (!rc && node) rc = read_node(x, t, obj, node, prefix, seen);
    if (!rc && with_env) rc = read_env(x, t, obj, seen);
    if (!rc) rc = check_table(x, t, obj, node, prefix, seen);
    free(seen);
    return rc;
}

/* ---- integer literals libconfig 1.5 would truncate ------------------------ */

static const char *skip_quoted(const char *p, int *line)
{
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) p++;
        if (*p == '\n') ++*line;
    }
    return *p ? p : p - 1;
}

static const char *skip_comment(const char *p, int *line)
{
    if (*p == '#' || p[1] == '/') {
        while (p[1] && p[1] != '\n') p++;
        return p;
    }
    for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
        if (*p == '\n') ++*line;
    return *p ? p + 1 : p - 1;
}

/* Is the integer literal at p (negative if neg) wider than 32 bits without
 * an L suffix?  *end is set past its digits; floats are never too wide. */
static bool too_wide(const char *p, bool neg, const char **end)
{
    const char *q = p;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        for (q = p + 2; *q == '0'; q++) {}
        const char *h = q;
        while (isxdigit((unsigned char)*q)) q++;
        *end = q;
        return q - h > 8 && *q != 'L';
    }
    while (isdigit((unsigned char)*q)) q++;
    *end = q;
    if (*q == '.' || *q == 'e' || *q == 'E' || *q == 'L') return false;
    errno = 0;
    long long v = strtoll(p, NULL, 10);
    return errno || v > (neg ? (long long)INT_MAX + 1 : INT_MAX);
}

static bool name_char(char c)
{
    return c && (isalnum((unsigned char)c) || strchr("_*-.", c));
}

/* libconfig 1.5 silently wraps an integer past 32 bits unless it ends in L:
 * refuse such literals instead of loading a wrong number. */
static int check_wide_ints(const struct ctx *x, const char *text)
{
    int line = 1;
    for (const char *p = text; *p; p++) {
        const char *end;
        if (*p == '\n') {
            line++;
        } else if (*p == '"') {
            p = skip_quoted(p, &line);
        } else if (*p == '#' || (*p == '/' && (p[1] == '/' || p[1] == '*'))) {
            p = skip_comment(p, &line);
        } else if (isalpha((unsigned char)*p) || *p == '*' || *p == '.') {
            while (name_char(p[1])) p++; /* a name, true/false, or a float's tail */
        } else if (isdigit((unsigned char)*p)) {
            if (too_wide(p, p > text && p[-1] == '-', &end))
                return fail_line(x, x->name, line,
                                 "integer %.*s does not fit in 32 bits; write it as %.*sL",
                                 (int)(end - p), p, (int)(end - p), p);
            p = end - 1;
        }
    }
    return 0;
}

/* ---- entry points --------------------------------------------------------- */

static int load_text(const char *text, const char *name, const char *dir, struct lf_config *out,
                     struct err *e)
{
    struct ctx x = {name, NULL, e};
    memset(out, 0, sizeof *out);
    config_t cf;
    config_init(&cf);
    if (dir) config_set_include_dir(&cf, dir);
    int rc = text ? check_wide_ints(&x, text) : 0;
    /* On a text ending inside a string, libconfig 1.5 leaks its scanner
     * buffer (tens of bytes, once per failed load). */
    if (!rc && text && !config_read_string(&cf, text)) {
        const char *f = config_error_file(&cf);
        rc = fail_line(&x, f ? f : name, config_error_line(&cf), "%s", config_error_text(&cf));
    }
    if (!rc)
        rc = load_table(&x, config_table(), out, text ? config_root_setting(&cf) : NULL, "", true);
    config_destroy(&cf);
    if (rc) config_free(out);
    return rc;
}

int config_load_string(const char *text, const char *name, struct lf_config *out, struct err *e)
{
    return load_text(text, name, NULL, out, e);
}

int config_load(const char *path, struct lf_config *out, struct err *e)
{
    if (!path) return load_text(NULL, "environment", NULL, out, e);
    struct buf b;
    buf_init(&b, MAX_FILE_BYTES);
    int rc = buf_read_file(&b, path, e);
    if (!rc) {
        char *dir = xstrdup(path), *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        rc = load_text(b.data ? b.data : "", path, slash ? dir : NULL, out, e);
        free(dir);
    } else {
        memset(out, 0, sizeof *out);
    }
    buf_free(&b);
    return rc;
}

void config_free(struct lf_config *c)
{
    if (!c) return;
    free_table(config_table(), c);
    memset(c, 0, sizeof *c);
}
