/* metrics.c — global registry (families → series) and the text renderer.
 *
 * Locking: `mu` guards the family list, each family's series list and
 * nseries (registration, render, reset).  Metric values are atomics read and
 * written without the lock, with relaxed ordering: totals are exact, and a
 * render sees each value at some recent instant.
 */
#include "common/metrics.h"

#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 16

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };
static const char *const kind_names[] = {"counter", "gauge", "histogram"};

struct metrics_counter {
    _Atomic uint64_t v;
};

struct metrics_gauge {
    _Atomic uint64_t bits;   /* a double's bits: C11 has no fetch_add on double */
};

struct metrics_histogram {
    const double *bounds;    /* the family's, immutable */
    size_t nbounds;
    _Atomic uint64_t sum_bits;
    _Atomic uint64_t *counts; /* per bucket, not cumulative; [nbounds] is +Inf */
};

struct series {
    struct series *next;     /* sorted by labels */
    char *labels;            /* canonical text between the braces, "" if none */
    union {
        struct metrics_counter c;
        struct metrics_gauge g;
        struct metrics_histogram h;
    } u;
};

struct family {
    struct family *next;     /* sorted by name */
    char *name, *help;
    enum kind kind;
    double *bounds;
    size_t nbounds;
    struct series *series;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct family *families;
static size_t nseries;

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- the verbs (lock-free) ---- */

void metrics_counter_inc(struct metrics_counter *c)
{
    if (c) atomic_fetch_add_explicit(&c->v, 1, memory_order_relaxed);
}

void metrics_counter_add(struct metrics_counter *c, uint64_t v)
{
    if (c) atomic_fetch_add_explicit(&c->v, v, memory_order_relaxed);
}

uint64_t metrics_counter_get(const struct metrics_counter *c)
{
    return c ? atomic_load_explicit(&((struct metrics_counter *)c)->v, memory_order_relaxed) : 0;
}

void metrics_gauge_set(struct metrics_gauge *g, double v)
{
    if (g) atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

static void add_double(_Atomic uint64_t *bits, double v)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void metrics_gauge_add(struct metrics_gauge *g, double v)
{
    if (g) add_double(&g->bits, v);
}

double metrics_gauge_get(const struct metrics_gauge *g)
{
    if (!g) return 0;
    return bitsd(atomic_load_explicit(&((struct metrics_gauge *)g)->bits, memory_order_relaxed));
}

void metrics_histogram_observe(struct metrics_histogram *h, double v)
{
    if (!h) return;
    size_t lo = 0, hi = h->nbounds;   /* first bound >= v; NaN lands in +Inf */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= h->bounds[mid]) hi = mid;
        else lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
    add_double(&h->sum_bits, v);
}

/* ---- names and labels ---- */

int metrics_name_valid(const char *name)
{
    if (!name || !*name) return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                 (p != name && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

static int label_name_valid(const char *s, size_t n)
{
    if (n == 0 || (n >= 2 && s[0] == '_' && s[1] == '_')) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

struct label {
    const char *name, *value;
    size_t nlen, vlen;
};

static int label_cmp(const void *a, const void *b)
{
    const struct label *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

/* Appends s[0..n) escaped per the exposition format: \\ and \n always, \"
 * too inside label values. */
static int put_escaped(struct buf *b, const char *s, size_t n, int quote)
{
    for (size_t i = 0; i < n; i++) {
        const char *rep = s[i] == '\\' ? "\\\\" : s[i] == '\n' ? "\\n"
                        : (quote && s[i] == '"') ? "\\\"" : NULL;
        int rc = rep ? buf_puts(b, rep) : buf_append(b, &s[i], 1);
        if (rc) return rc;
    }
    return 0;
}

/* Parses "a=1,b=2" into the canonical `a="1",b="2"` (sorted by name).
 * Returns NULL with *why set when the spec is invalid. */
static char *labels_canon(const char *spec, int histogram, const char **why)
{
    struct label ls[MAX_LABELS];
    size_t n = 0;
    for (const char *p = spec; p && *p;) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq) return *why = "label without '='", NULL;
        if (n == MAX_LABELS) return *why = "too many labels", NULL;
        ls[n] = (struct label){p, eq + 1, (size_t)(eq - p), (size_t)(end - eq - 1)};
        if (!label_name_valid(ls[n].name, ls[n].nlen)) return *why = "invalid label name", NULL;
        if (histogram && ls[n].nlen == 2 && memcmp(ls[n].name, "le", 2) == 0)
            return *why = "label 'le' is reserved for histograms", NULL;
        n++;
        p = *end ? end + 1 : end;
    }
    if (n == 0) return xstrdup("");
    qsort(ls, n, sizeof ls[0], label_cmp);
    struct buf b;
    buf_init(&b, 64 * 1024);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && label_cmp(&ls[i - 1], &ls[i]) == 0) {
            buf_free(&b);
            return *why = "duplicate label name", NULL;
        }
        buf_printf(&b, "%s%.*s=\"", i ? "," : "", (int)ls[i].nlen, ls[i].name);
        put_escaped(&b, ls[i].value, ls[i].vlen, 1);
        buf_puts(&b, "\"");
    }
    return buf_steal(&b, NULL);
}

/* ---- registration (under mu) ---- */

/* Would `name` collide with a histogram's _bucket/_sum/_count lines? */
static int suffix_clash(const char *a, const char *b)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    size_t la = strlen(a), lb = strlen(b);
    for (int i = 0; i < 3; i++) {
        size_t ls = strlen(sfx[i]);
        if (lb == la + ls && strncmp(b, a, la) == 0 && strcmp(b + la, sfx[i]) == 0) return 1;
        if (la == lb + ls && strncmp(a, b, lb) == 0 && strcmp(a + lb, sfx[i]) == 0) return 1;
    }
    return 0;
}

static struct family *family_get(const char *name, const char *help, enum kind k,
                                 const double *bounds, size_t nb, const char **why)
{
    struct family **pp = &families;
    for (struct family *f = families; f; f = f->next) {
        if (strcmp(f->name, name) == 0) {
            if (f->kind != k) return *why = "registered before as another type", NULL;
            if (strcmp(f->help, help) != 0) return *why = "registered before with another help", NULL;
            if (f->nbounds != nb || (nb && memcmp(f->bounds, bounds, nb * sizeof *bounds) != 0))
                return *why = "registered before with other buckets", NULL;
            return f;
        }
        if ((f->kind == KIND_HISTOGRAM || k == KIND_HISTOGRAM) && suffix_clash(f->name, name))
            return *why = "clashes with a histogram's _bucket/_sum/_count", NULL;
    }
    while (*pp && strcmp((*pp)->name, name) < 0) pp = &(*pp)->next;
    struct family *f = xcalloc(1, sizeof *f);
    f->name = xstrdup(name);
    f->help = xstrdup(help);
    f->kind = k;
    if (nb) {
        f->bounds = xmalloc(nb * sizeof *bounds);
        memcpy(f->bounds, bounds, nb * sizeof *bounds);
    }
    f->nbounds = nb;
    f->next = *pp;
    *pp = f;
    return f;
}

static struct series *series_new(struct family *f, char *labels)
{
    struct series *s = xcalloc(1, sizeof *s);
    s->labels = labels;
    switch (f->kind) {
    case KIND_COUNTER: atomic_init(&s->u.c.v, 0); break;
    case KIND_GAUGE: atomic_init(&s->u.g.bits, dbits(0.0)); break;
    case KIND_HISTOGRAM:
        s->u.h.bounds = f->bounds;
        s->u.h.nbounds = f->nbounds;
        atomic_init(&s->u.h.sum_bits, dbits(0.0));
        s->u.h.counts = xcalloc(f->nbounds + 1, sizeof *s->u.h.counts);
        for (size_t i = 0; i <= f->nbounds; i++) atomic_init(&s->u.h.counts[i], 0);
        break;
    }
    return s;
}

static int bounds_valid(const double *b, size_t n)
{
    if (n == 0 || n > METRICS_MAX_BUCKETS || !b) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(b[i]) || (i && !(b[i] > b[i - 1]))) return 0;
    return 1;
}

/* Finds or creates the series; NULL (logged) if anything is invalid. */
static struct series *reg(const char *name, const char *help, const char *labels, enum kind k,
                          const double *bounds, size_t nb)
{
    const char *why = NULL;
    char *canon = NULL;
    struct series *s = NULL;
    if (!metrics_name_valid(name)) why = "invalid metric name";
    else if (!help) why = "no help text";
    else if (k == KIND_HISTOGRAM && !bounds_valid(bounds, nb)) why = "invalid bucket bounds";
    else canon = labels_canon(labels, k == KIND_HISTOGRAM, &why);
    if (why) goto out;
    pthread_mutex_lock(&mu);
    struct family *f = family_get(name, help, k, bounds, nb, &why);
    struct series **pp = f ? &f->series : NULL;
    while (pp && *pp && strcmp((*pp)->labels, canon) < 0) pp = &(*pp)->next;
    if (pp && *pp && strcmp((*pp)->labels, canon) == 0) s = *pp;
    else if (pp && nseries >= METRICS_MAX_SERIES) why = "too many series";
    else if (pp) {
        s = series_new(f, canon);
        canon = NULL;
        s->next = *pp;
        *pp = s;
        nseries++;
    }
    pthread_mutex_unlock(&mu);
out:
    if (why) log_error("metrics", "rejected name=%s labels=\"%s\" reason=\"%s\"", name ? name : "(null)",
                       labels ? labels : "", why);
    free(canon);
    return s;
}

struct metrics_counter *metrics_counter(const char *name, const char *help, const char *labels)
{
    struct series *s = reg(name, help, labels, KIND_COUNTER, NULL, 0);
    return s ? &s->u.c : NULL;
}

struct metrics_gauge *metrics_gauge(const char *name, const char *help, const char *labels)
{
    struct series *s = reg(name, help, labels, KIND_GAUGE, NULL, 0);
    return s ? &s->u.g : NULL;
}

struct metrics_histogram *metrics_histogram(const char *name, const char *help, const char *labels,
                                            const double *bounds, size_t nbounds)
{
    struct series *s = reg(name, help, labels, KIND_HISTOGRAM, bounds, nbounds);
    return s ? &s->u.h : NULL;
}

/* ---- rendering ---- */

/* Shortest %g text that reads back as v; Prometheus spellings for the rest. */
static void fmt_double(char *out, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(out, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, n, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

/* `name{labels,extra}` with the braces left out when both are empty. */
static int put_series_name(struct buf *b, const char *name, const char *sfx, const char *labels,
                           const char *extra)
{
    int rc = buf_printf(b, "%s%s", name, sfx);
    if (rc == 0 && (*labels || *extra))
        rc = buf_printf(b, "{%s%s%s}", labels, *labels && *extra ? "," : "", extra);
    return rc;
}

static int render_histogram(struct buf *b, const struct family *f, const struct series *s)
{
    char num[64], le[80];
    uint64_t cum = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i <= f->nbounds; i++) {
        cum += atomic_load_explicit(&s->u.h.counts[i], memory_order_relaxed);
        if (i < f->nbounds) fmt_double(num, sizeof num, f->bounds[i]);
        snprintf(le, sizeof le, "le=\"%s\"", i < f->nbounds ? num : "+Inf");
        rc = put_series_name(b, f->name, "_bucket", s->labels, le);
        if (rc == 0) rc = buf_printf(b, " %" PRIu64 "\n", cum);
    }
    fmt_double(num, sizeof num, bitsd(atomic_load_explicit(&s->u.h.sum_bits, memory_order_relaxed)));
    if (rc == 0) rc = put_series_name(b, f->name, "_sum", s->labels, "");
    if (rc == 0) rc = buf_printf(b, " %s\n", num);
    if (rc == 0) rc = put_series_name(b, f->name, "_count", s->labels, "");
    if (rc == 0) rc = buf_printf(b, " %" PRIu64 "\n", cum);   /* = the +Inf bucket */
    return rc;
}

static int render_series(struct buf *b, const struct family *f, const struct series *s)
{
    char num[64];
    int rc;
    switch (f->kind) {
    case KIND_COUNTER:
        rc = put_series_name(b, f->name, "", s->labels, "");
        return rc ? rc : buf_printf(b, " %" PRIu64 "\n", metrics_counter_get(&s->u.c));
    case KIND_GAUGE:
        fmt_double(num, sizeof num, metrics_gauge_get(&s->u.g));
        rc = put_series_name(b, f->name, "", s->labels, "");
        return rc ? rc : buf_printf(b, " %s\n", num);
    case KIND_HISTOGRAM: return render_histogram(b, f, s);
    }
    return -EINVAL;
}

int metrics_render(struct buf *out)
{
    int rc = 0;
    pthread_mutex_lock(&mu);
    for (const struct family *f = families; rc == 0 && f; f = f->next) {
        if (!f->series) continue;   /* its only series was refused */
        rc = buf_printf(out, "# HELP %s ", f->name);
        if (rc == 0) rc = put_escaped(out, f->help, strlen(f->help), 0);
        if (rc == 0) rc = buf_printf(out, "\n# TYPE %s %s\n", f->name, kind_names[f->kind]);
        for (const struct series *s = f->series; rc == 0 && s; s = s->next)
            rc = render_series(out, f, s);
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    while (families) {
        struct family *f = families;
        families = f->next;
        while (f->series) {
            struct series *s = f->series;
            f->series = s->next;
            if (f->kind == KIND_HISTOGRAM) free(s->u.h.counts);
            free(s->labels);
            free(s);
        }
        free(f->name);
        free(f->help);
        free(f->bounds);
        free(f);
    }
    nseries = 0;
    pthread_mutex_unlock(&mu);
}
