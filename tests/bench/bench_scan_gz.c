/* bench_scan_gz.c — the router's hot path on one core, all figures from one run.
 *
 *   build/rel/bench/bench_scan_gz [MiB]     (default 200)
 *
 * Generates MiB of ~1 KB game log records in memory (worker/loggen; not
 * timed), then measures, single-threaded, in thread CPU time (so other load
 * on a shared machine does not count), median of 3 where cheap:
 *   scan_record (type + ts extracted, ts parsed; with a key index and a
 *     key memo, as the router scans)                    MiB/s, records/s
 *   jansson json_loadb + json_object_get("type")      MiB/s
 *   gz writer (ISA-L igzip or the zlib fallback) over the raw stream, fed
 *     64 KiB at a time and fed one record at a time      MiB/s, ratio
 *   zlib deflate level 1 (gzip wrapper), 64 KiB feeds   MiB/s, ratio
 *   scan + splice lineage + route to 30 per-type gz writers through 64 KiB
 *     staging buffers (what the router does)             MiB/s, ratio
 *   the same into one writer (the cost of 30 codec states in cache)
 * and the line "scan+gz / raw gz = X%" (combined over raw 64 KiB gz speed;
 * the two are measured alternately so they see the same machine).
 * Input MiB are the records' bytes.  Figures, never assertions.
 */
#include "common/buf.h"
#include "common/mem.h"
#include "sinks/gz.h"
#include "tests/bench/bench_util.h"
#include "worker/loggen.h"
#include "worker/scan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define REPS 3
#define MEMBER_BYTES (64u << 20) /* one gzip member (S3 object) per 64 MiB in */
#define STAGE_BYTES (64u << 10)

/* ---- the measured loops; each returns CPU seconds ---- */

static double run_scan(const struct corpus *c, size_t *bad)
{
    static char scratch[1 << 16];
    /* as the router scans: a key index and a key memo of its own */
    static const struct scan_field want[2] = {{"type", 4, 0, 0, 0}, {"ts", 2, 0, 0, 0}};
    struct scan_keys *keys = scan_keys_new(want, 2);
    struct scan_key_memo *memo = scan_key_memo_new();
    struct scan_opts o = {.max_size = sizeof scratch, .scratch = scratch,
                          .scratch_len = sizeof scratch, .keys = keys, .memo = memo};
    size_t fails = 0;
    int64_t sum = 0;
    double t0 = thread_cpu_s();
    for (size_t i = 0; i < c->n; i++) {
        struct scan_field f[2] = {{"type", 4, 0, 0, 0}, {"ts", 2, 0, 0, 0}};
        struct scan_result r;
        int64_t ms;
        if (scan_record(c->data + c->off[i], corpus_rec_len(c, i), f, 2, &r, &o) ||
            scan_time_ms(f[1].type, f[1].val, f[1].val_len, &ms))
            fails++;
        else
            sum += ms + (int64_t)f[0].val_len;
    }
    double t = thread_cpu_s() - t0;
    *bad = fails + (sum == 42); /* keeps the work observable */
    scan_key_memo_free(memo);
    scan_keys_free(keys);
    return t;
}

static double run_jansson(const struct corpus *c)
{
    size_t found = 0;
    double t0 = thread_cpu_s();
    for (size_t i = 0; i < c->n; i++) {
        json_t *j = json_loadb(c->data + c->off[i], corpus_rec_len(c, i), 0, NULL);
        if (j && json_string_value(json_object_get(j, "type"))) found++;
        json_decref(j);
    }
    double t = thread_cpu_s() - t0;
    if (found != c->n) fprintf(stderr, "jansson: %zu of %zu parsed\n", found, c->n);
    return t;
}

/* gz writer over the raw stream, `feed` bytes per write (0: per record). */
static double run_gz(const struct corpus *c, size_t feed, size_t *out_total)
{
    struct gz *g;
    struct buf out;
    if (gz_new(GZ_LEVEL_DEFAULT, &g)) exit(1);
    buf_init(&out, MEMBER_BYTES);
    size_t total = 0, in_member = 0;
    double t0 = thread_cpu_s();
    for (size_t i = 0, pos = 0; pos < c->len;) {
        size_t k = feed ? (c->len - pos < feed ? c->len - pos : feed) : c->off[i + 1] - pos;
        if (gz_write(g, c->data + pos, k, &out)) exit(1);
        pos += k, i++, in_member += k;
        if (in_member >= MEMBER_BYTES || pos == c->len) {
            if (gz_finish(g, &out)) exit(1);
            total += out.len;
            buf_reset(&out);
            gz_reset(g);
            in_member = 0;
        }
    }
    double t = thread_cpu_s() - t0;
    *out_total = total;
    gz_free(g);
    buf_free(&out);
    return t;
}

static double run_zlib(const struct corpus *c, size_t *out_total)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) exit(1);
    static unsigned char out[1 << 17];
    size_t total = 0;
    double t0 = thread_cpu_s();
    for (size_t pos = 0; pos < c->len;) {
        size_t k = c->len - pos < 65536 ? c->len - pos : 65536;
        z.next_in = (Bytef *)(c->data + pos);
        z.avail_in = (uInt)k;
        pos += k;
        int flush = pos == c->len ? Z_FINISH : Z_NO_FLUSH, rc;
        do {
            z.next_out = out;
            z.avail_out = sizeof out;
            rc = deflate(&z, flush);
            total += sizeof out - z.avail_out;
        } while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    }
    double t = thread_cpu_s() - t0;
    deflateEnd(&z);
    *out_total = total;
    return t;
}

/* ---- scan + splice + route: the router's per-record work ---- */

struct lane {
    struct gz *g;
    struct buf stage, out;
    size_t in_member, total;
};

static void lane_flush(struct lane *l, int end)
{
    if (l->stage.len && gz_write(l->g, l->stage.data, l->stage.len, &l->out)) exit(1);
    l->in_member += l->stage.len;
    buf_reset(&l->stage);
    if (end || l->in_member >= MEMBER_BYTES) {
        if (gz_finish(l->g, &l->out)) exit(1);
        l->total += l->out.len;
        buf_reset(&l->out);
        gz_reset(l->g);
        l->in_member = 0;
    }
}

static char *put_u64(char *w, uint64_t v)
{
    char t[24];
    int i = 24;
    do t[--i] = (char)('0' + v % 10); while (v /= 10);
    memcpy(w, t + i, (size_t)(24 - i));
    return w + (24 - i);
}

/* Appends rec with lineage fields spliced before its closing brace. */
static void splice(struct buf *stage, const char *rec, const struct scan_result *r, uint64_t seq,
                   int64_t arrival)
{
    static const char shard[] = "\"_shard\":\"shardId-000000000007\",\"_seq\":\"4965123456789012345678901234567890";
    char *w = buf_reserve(stage, r->close_off + 192);
    if (!w) exit(1);
    char *s = w;
    memcpy(w, rec, r->close_off), w += r->close_off;
    if (!r->empty) *w++ = ',';
    memcpy(w, shard, sizeof shard - 1), w += sizeof shard - 1;
    w = put_u64(w, seq);
    memcpy(w, "\",\"_subseq\":0,\"_arrival\":", 25), w += 25;
    w = put_u64(w, (uint64_t)arrival);
    *w++ = '}', *w++ = '\n';
    stage->len += (size_t)(w - s);
}

/* nlanes 1 sends every type to one writer (isolates the cost of 30). */
static double run_router(const struct corpus *c, int nlanes, size_t *out_total, size_t *bad)
{
    static char scratch[1 << 16];
    struct lane lanes[LOGGEN_NTYPES];
    for (int i = 0; i < LOGGEN_NTYPES; i++) {
        if (gz_new(GZ_LEVEL_DEFAULT, &lanes[i].g)) exit(1);
        buf_init(&lanes[i].stage, STAGE_BYTES + 8192);
        buf_init(&lanes[i].out, MEMBER_BYTES);
        lanes[i].in_member = lanes[i].total = 0;
    }
    static const struct scan_field want[2] = {{"type", 4, 0, 0, 0}, {"ts", 2, 0, 0, 0}};
    struct scan_keys *keys = scan_keys_new(want, 2);
    struct scan_key_memo *memo = scan_key_memo_new();
    struct scan_opts o = {.max_size = sizeof scratch, .scratch = scratch,
                          .scratch_len = sizeof scratch, .keys = keys, .memo = memo};
    size_t fails = 0;
    double t0 = thread_cpu_s();
    for (size_t i = 0; i < c->n; i++) {
        const char *rec = c->data + c->off[i];
        struct scan_field f[2] = {{"type", 4, 0, 0, 0}, {"ts", 2, 0, 0, 0}};
        struct scan_result r;
        int64_t ms;
        if (scan_record(rec, corpus_rec_len(c, i), f, 2, &r, &o) ||
            scan_time_ms(f[1].type, f[1].val, f[1].val_len, &ms)) {
            fails++;
            continue;
        }
        int t = -1; /* the type allowlist lookup */
        for (int k = 0; k < LOGGEN_NTYPES && t < 0; k++) {
            const char *name = loggen_type_name(k);
            if (strlen(name) == f[0].val_len && memcmp(name, f[0].val, f[0].val_len) == 0) t = k;
        }
        if (t < 0) {
            fails++;
            continue;
        }
        if (nlanes == 1) t = 0;
        splice(&lanes[t].stage, rec, &r, i, ms + 250);
        if (lanes[t].stage.len >= STAGE_BYTES) lane_flush(&lanes[t], 0);
    }
    size_t total = 0;
    for (int i = 0; i < LOGGEN_NTYPES; i++) {
        lane_flush(&lanes[i], 1);
        total += lanes[i].total;
    }
    double t = thread_cpu_s() - t0;
    for (int i = 0; i < LOGGEN_NTYPES; i++) {
        gz_free(lanes[i].g);
        buf_free(&lanes[i].stage), buf_free(&lanes[i].out);
    }
    scan_key_memo_free(memo);
    scan_keys_free(keys);
    *out_total = total;
    *bad = fails;
    return t;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 200;
    if (mib == 0 || mib > 4096) {
        fprintf(stderr, "usage: %s [MiB 1..4096]\n", argv[0]);
        return 2;
    }
    struct corpus c;
    corpus_make(&c, mib << 20, 20261122, INT64_C(1795305600000));
    double mb = (double)c.len / (1 << 20), ts[REPS], t;
    size_t bad = 0, bad_router = 0, gzo = 0, gzr = 0, zo = 0, ro = 0;
    printf("bench_scan_gz: %zu records, %.1f MiB, avg %.0f B/record, gz backend %s, "
           "one core, thread CPU time, median of %d\n",
           c.n, mb, (double)c.len / (double)c.n, gz_backend(), REPS);

    for (int i = 0; i < REPS; i++) ts[i] = run_scan(&c, &bad);
    double scan_s = bench_median(ts, REPS);
    printf("scan_record+ts     %8.1f MiB/s  %6.2f M records/s  (%zu rejected)\n", mb / scan_s,
           (double)c.n / scan_s / 1e6, bad);

    t = run_jansson(&c);
    printf("jansson json_loadb %8.1f MiB/s  %6.2f M records/s  (scanner is %.0fx)\n", mb / t,
           (double)c.n / t / 1e6, t / scan_s);

    /* raw gz and the router path alternate, so the ratio compares like with
     * like on a machine whose speed drifts */
    double rts[REPS], r1s[REPS];
    size_t r1o = 0;
    for (int i = 0; i < REPS; i++) {
        ts[i] = run_gz(&c, 65536, &gzo);
        rts[i] = run_router(&c, LOGGEN_NTYPES, &ro, &bad_router);
        r1s[i] = run_router(&c, 1, &r1o, &bad_router);
    }
    double gz_s = bench_median(ts, REPS), rt = bench_median(rts, REPS), r1 = bench_median(r1s, REPS);
    printf("gz %s -1, 64K feed %8.1f MiB/s  ratio %.2f\n", gz_backend(), mb / gz_s,
           (double)c.len / (double)gzo);

    for (int i = 0; i < REPS; i++) ts[i] = run_gz(&c, 0, &gzr);
    t = bench_median(ts, REPS);
    printf("gz %s -1, per rec  %8.1f MiB/s  ratio %.2f\n", gz_backend(), mb / t,
           (double)c.len / (double)gzr);

    for (int i = 0; i < REPS; i++) ts[i] = run_zlib(&c, &zo);
    t = bench_median(ts, REPS);
    printf("zlib -1, 64K feed  %8.1f MiB/s  ratio %.2f\n", mb / t, (double)c.len / (double)zo);

    printf("scan+splice+gz     %8.1f MiB/s  ratio %.2f  (30 type lanes, 64 KiB staging, "
           "%.2f M records/s, %zu rejected)\n",
           mb / rt, (double)c.len / (double)ro, (double)c.n / rt / 1e6, bad_router);
    printf("same, one lane     %8.1f MiB/s  ratio %.2f  (every type into one writer)\n",
           mb / r1, (double)c.len / (double)r1o);
    printf("scan+gz / raw gz = %.0f%%  (one lane: %.0f%%)\n", 100.0 * gz_s / rt, 100.0 * gz_s / r1);
    corpus_free(&c);
    return 0;
}
