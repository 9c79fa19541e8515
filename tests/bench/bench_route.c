/* bench_route.c — the router's per-record CPU without the codec, one core.
 *
 *   build/rel/bench/bench_route [MiB] [repetitions]     (default 64 7)
 *
 * Loads tests/data/types30.conf (through LOGFLEET_ROOT, else the working
 * directory) into a config that names no reachable server (nothing here
 * opens a socket), generates MiB of ~1 KB game records with loggen (not
 * timed), then times, in thread CPU time, what a shard thread does to each
 * record before the gzip writer sees it:
 *   route   router_route: scan, type, time, window, the type's columns
 *   splice  route + router_splice of the lineage fields into a stage
 * Each is run `repetitions` times, alternating; prints the median and the
 * range in ns per record and MiB/s.  bench_router gives the whole path's
 * figure; this one is steady enough to compare two builds of the scanner
 * (A/B by alternating binaries) where the whole path's run-to-run drift
 * hides a 2% change.  Figures only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/mem.h"
#include "tests/bench/bench_util.h"
#include "worker/router_route.h"

/* One pass over the corpus; returns thread CPU seconds, counts dead ones. */
static double pass(const struct router_rules *r, struct router_scratch *s, const struct corpus *c,
                   struct buf *stage, int splice, size_t *dead)
{
    char seq[32] = "49600000000000000000001000000";
    size_t seqlen = strlen(seq);
    struct router_lineage l = {"shardId-000000000000", 20, seq, 0, INT64_C(1795435200000), seqlen};
    double t0 = thread_cpu_s();
    for (size_t i = 0; i < c->n; i++) {
        const char *p = c->data + c->off[i];
        size_t n = corpus_rec_len(c, i);
        struct router_route rt;
        router_route(r, s, p, n, l.arrival_ms, &rt);
        if (rt.type < 0) {
            ++*dead;
            continue;
        }
        if (!splice) continue;
        for (size_t d = seqlen; d-- > 0 && ++seq[d] > '9';) seq[d] = '0';
        l.arrival_ms++;
        if (stage->len > (64u << 10)) buf_reset(stage);
        if (router_splice(stage, p, n, &rt, &l)) {
            fprintf(stderr, "bench_route: splice failed\n");
            exit(1);
        }
    }
    return thread_cpu_s() - t0;
}

static void report(const char *what, double *v, int reps, const struct corpus *c)
{
    double med = bench_median(v, reps); /* and v sorted */
    double mib = (double)c->len / (1 << 20);
    printf("%-7s %7.1f ns/record [%.1f-%.1f]  %7.1f MiB/s  %5.2f M records/s\n", what,
           med * 1e9 / (double)c->n, v[0] * 1e9 / (double)c->n,
           v[reps - 1] * 1e9 / (double)c->n, mib / med, (double)c->n / med / 1e6);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    if (mib < 1 || mib > 4096 || reps < 1 || reps > 99 || argc > 3) {
        fprintf(stderr, "usage: bench_route [MiB 1-4096] [repetitions 1-99]\n");
        return 2;
    }
    char *types = bench_types30("bench_route");
    char *text = xasprintf("app = \"bench\";\ncoord: { dsn = \"postgresql://127.0.0.1:1/none\"; };\n"
                           "aws: { region = \"us-east-1\"; imds_disabled = true; };\n"
                           "s3: { endpoint = \"http://127.0.0.1:1\"; bucket = \"none\"; };\n"
                           "kinesis: { stream = \"bench\"; };\n%s",
                           types);
    struct lf_config cfg;
    struct err e = {0};
    struct router_rules *r = NULL;
    if (config_load_string(text, "bench_route.conf", &cfg, &e) || router_rules_new(&cfg, &r, &e)) {
        fprintf(stderr, "bench_route: config: %s\n", e.msg);
        return 2;
    }
    struct router_scratch *s = router_scratch_new(r);
    struct corpus c;
    corpus_make(&c, mib << 20, 42, INT64_C(1795435200000));
    struct buf stage;
    buf_init(&stage, 1 << 20);
    printf("%zu records of 30 types (avg %zu B), %zu MiB, thread CPU time, median of %d\n", c.n,
           c.len / c.n, mib, reps);
    double *tr = xcalloc((size_t)reps, sizeof *tr), *ts = xcalloc((size_t)reps, sizeof *ts);
    size_t dead = 0;
    for (int i = 0; i < reps; i++) {
        tr[i] = pass(r, s, &c, &stage, 0, &dead);
        ts[i] = pass(r, s, &c, &stage, 1, &dead);
    }
    report("route", tr, reps, &c);
    report("splice", ts, reps, &c);
    if (dead) printf("(%zu dead letters: the corpus and types30.conf disagree)\n", dead);
    free(tr);
    free(ts);
    buf_free(&stage);
    corpus_free(&c);
    router_scratch_free(s);
    router_rules_free(r);
    config_free(&cfg);
    free(text);
    free(types);
    return 0;
}
