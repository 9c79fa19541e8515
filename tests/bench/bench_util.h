/* bench_util.h — what the benchmark programs share: a corpus of generated
 * game records in memory, thread CPU time, the median of repeated runs,
 * and the text of tests/data/types30.conf.
 * Each benchmark is one program built from one .c (Makefile), so these are
 * static inline functions: include this from that .c.
 */
#ifndef LOGFLEET_BENCH_UTIL_H
#define LOGFLEET_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"
#include "worker/loggen.h"

struct corpus {
    char *data;      /* records, each followed by '\n' */
    size_t len;
    size_t *off;     /* record i is data[off[i] .. off[i+1]-1), '\n' included */
    size_t n;
};

/* About `bytes` of loggen records (seed), event times from start_ms on in
 * 3 ms steps.  Not timed by any benchmark. */
static inline void corpus_make(struct corpus *c, size_t bytes, uint64_t seed, int64_t start_ms)
{
    struct loggen *g = loggen_new(seed);
    struct buf b;
    size_t cap = bytes / 512 + 16;
    buf_init(&b, bytes + (1 << 20));
    c->off = xmalloc(cap * sizeof *c->off);
    c->n = 0;
    int64_t ts = start_ms;
    while (b.len < bytes) {
        if (c->n + 2 > cap) c->off = xrealloc(c->off, (cap *= 2) * sizeof *c->off);
        c->off[c->n++] = b.len;
        if (loggen_record(g, ts += 3, &b) < 0 || buf_append(&b, "\n", 1)) break;
    }
    c->off[c->n] = b.len;
    c->data = buf_steal(&b, &c->len);
    loggen_free(g);
}

static inline void corpus_free(struct corpus *c)
{
    free(c->data);
    free(c->off);
}

/* Record i's length without its '\n'. */
static inline size_t corpus_rec_len(const struct corpus *c, size_t i)
{
    return c->off[i + 1] - c->off[i] - 1;
}

/* This thread's CPU seconds so far. */
static inline double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v[0..n) (n >= 1) and returns its median. */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* tests/data/types30.conf (through LOGFLEET_ROOT, else the working
 * directory) as text; "prog: <path>: cannot open: ..." and exit 2 when it
 * cannot be read. */
static inline char *bench_types30(const char *prog)
{
    const char *root = getenv("LOGFLEET_ROOT");
    char *path = xasprintf("%s/tests/data/types30.conf", root && *root ? root : ".");
    struct buf b;
    struct err e = {0};
    buf_init(&b, 1 << 20);
    if (buf_read_file(&b, path, &e)) {
        fprintf(stderr, "%s: %s\n", prog, e.msg);
        exit(2);
    }
    free(path);
    return buf_steal(&b, NULL);
}

#endif
