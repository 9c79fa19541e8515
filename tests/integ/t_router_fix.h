/* t_router_fix.h — fixtures for the router integration tests.
 *
 * Each test gets its own coordination schema (rt_<random>, migrated), app
 * name and S3 prefix ("t-<random>/"), a config built from the stack's env
 * plus tests/data/types30.conf, lease rows owned by the test's worker, a
 * checkpointer that writes the lease row (and checks that checkpoints only
 * move forward), a deterministic record feed per shard (worker/loggen plus
 * injected bad records of known reasons), and a reader that takes every
 * object under the prefix — or only the ledgered ones — back out of S3.
 * Helpers abort the test on infrastructure failures.
 */
#ifndef LOGFLEET_T_ROUTER_FIX_H
#define LOGFLEET_T_ROUTER_FIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "worker/processor.h"
#include "worker/router.h"

#define RT_WORKER "rt-worker-1"

struct rt_env {
    char schema[32];
    char app[32];
    char prefix[32];
    struct lf_config cfg;
};

/* Settings a test may change (0 / NULL: the fixture's default). */
struct rt_opts {
    int buffer_bytes;          /* default 262144 */
    int buffer_age_ms;         /* default 500 */
    int64_t memory_limit;      /* default 64 MiB */
    int upload_threads;        /* default 2 */
    int grace_ms;              /* default 60000 */
    int retry_cap_ms;          /* default 1000 */
    int max_record_bytes;      /* default 1048576 */
    int64_t multipart_bytes;   /* default 16 MiB */
    bool direct_s3;            /* s3rver itself (S3_DIRECT_ENDPOINT), without the
                                  SigV4 proxy and If-None-Match: see t_router_kill.c */
    const char *extra;         /* appended config text */
};

/* Fresh schema, app and prefix; config loaded; leases for shards[0..n)
 * owned by RT_WORKER at TRIM_HORIZON. */
void rt_setup(struct rt_env *env, const struct rt_opts *o, const char *const *shards, size_t n);
/* Loads the config again (same schema/app/prefix), e.g. in a child. */
void rt_reload(struct rt_env *env, const struct rt_opts *o);
void rt_teardown(struct rt_env *env);

/* Runs SQL ("@." = "<schema>."); first value of the first row ("" if none). */
char *rt_q(const struct rt_env *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
long long rt_qi(const struct rt_env *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- checkpointer writing the lease row ------------------------------------------- */

struct rt_ckpt {
    struct checkpointer cp;
    const struct rt_env *env;
    const char *shard;
    void *pg;                  /* PGconn */
    char seq[128];             /* last checkpoint written ("" none) */
    int64_t sub;
    char delivered[128];       /* the last record delivered (set by rt_feed) */
    int64_t delivered_sub;
    bool shard_end;
    int writes;
    int bad;                   /* checkpoints that went backwards or past delivery */
};

void rt_ckpt_init(struct rt_ckpt *c, const struct rt_env *env, const char *shard);
void rt_ckpt_free(struct rt_ckpt *c);
/* The lease row's checkpoint into seq[128], sub. */
void rt_lease_checkpoint(const struct rt_env *env, const char *shard, char *seq, int64_t *sub);

/* ---- the deterministic feed ---------------------------------------------------------- */

/* What a generated record is expected to become. */
struct rt_expect {
    int type;                  /* loggen type index, or -1 for a dead letter */
    int reason;                /* enum router_reason when type == -1 */
};

struct rt_rec {
    char seq[64];
    int64_t sub;
    int64_t arrival_ms;
    struct rt_expect want;
    size_t off, len;           /* into rt_feed.data */
};

struct rt_feed {
    char shard[64];
    struct rt_rec *recs;
    size_t n;
    char *data;
    size_t cap, dlen, dcap;    /* rt_feed_add's growth */
};

/* n records of shard (seed-determined): loggen records with event times
 * around midnight (so two days appear), grouped into KPL-like aggregates
 * (several sub-sequence numbers per sequence number), and every
 * `bad_every`-th record (0: none) a dead letter of a known reason. */
void rt_feed_make(struct rt_feed *f, const char *shard, size_t n, uint64_t seed, int bad_every);
void rt_feed_free(struct rt_feed *f);
/* An empty feed to fill with rt_feed_add: each record gets the next
 * sequence number (sub-sequence 0). */
void rt_feed_begin(struct rt_feed *f, const char *shard);
void rt_feed_add(struct rt_feed *f, const void *p, size_t n, int64_t arrival_ms,
                 struct rt_expect want);
/* Index of the first record after (seq, sub) (0 for a sentinel or ""). */
size_t rt_feed_after(const struct rt_feed *f, const char *seq, int64_t sub);
/* Delivers records [from, to) in batches of 1..max_batch (rng-sized),
 * calling process_records; returns its first failure (0 if none).
 * sleep_us > 0 naps between batches. */
int rt_feed_run(struct rt_feed *f, size_t from, size_t to, struct processor *p, struct rt_ckpt *c,
                size_t max_batch, uint64_t *rng, int sleep_us);

/* ---- reading back ----------------------------------------------------------------------- */

/* One record found in an object. */
struct rt_found {
    char shard[64];
    char seq[64];
    int64_t sub;
    int type;                  /* loggen type index of an archive record; -1 dead */
    int reason;                /* dead letters */
    bool type_dir_ok;          /* archive: the key's <type>/ matches the record's type */
};

struct rt_read {
    struct rt_found *v;
    size_t n, cap;
    size_t objects;            /* objects read */
    size_t dead_objects;
    size_t bad_lines;          /* unparseable lines or wrong lineage */
    size_t count_mismatch;     /* ledgered objects whose line count != records */
    size_t lineage_mismatch;   /* records whose _seq/_subseq fall outside the object's range */
};

/* Every object under the env's prefix (ledgered or not). */
void rt_read_all(const struct rt_env *env, struct rt_read *out);
/* Only objects in the ledger (checked against its records / range columns). */
void rt_read_ledgered(const struct rt_env *env, struct rt_read *out);
void rt_read_free(struct rt_read *r);
/* Number of S3 objects under the prefix. */
size_t rt_count_objects(const struct rt_env *env);

/* Checks that every record of feeds[0..nf) appears exactly once in r, with
 * the expected type (archive) or reason (dead letter), and nothing else
 * does.  Prints the first few problems; returns how many there were. */
size_t rt_check_exactly_once(const struct rt_read *r, struct rt_feed *const *feeds, size_t nf);

/* A splitmix64 step. */
uint64_t rt_rand(uint64_t *s);
int64_t rt_now_ms(void);
/* Peak RSS of this process in KiB (getrusage). */
long rt_peak_rss_kb(void);
/* Current RSS in KiB (/proc/self/statm). */
long rt_rss_kb(void);

/* ---- driving processors like the daemon ---------------------------------------------- */

/* One shard's consumer thread: create, initialize at the lease's
 * checkpoint, feed the rest of the feed, shutdown_requested, destroy. */
struct rt_run {
    struct rt_env *env;
    struct router *r;
    struct rt_feed *f;
    uint64_t rng;
    size_t max_batch;
    int sleep_us;
    int rc;
    struct rt_ckpt ck;
    size_t from;               /* where the feed resumed */
};

/* Runs feeds[0..n) on one thread each through router r and joins them. */
void rt_run_shards(struct rt_env *env, struct router *r, struct rt_feed **feeds, size_t n,
                   struct rt_run *runs, size_t max_batch, int sleep_us);

#endif
