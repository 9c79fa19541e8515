/* t_loader_fix.h — fixtures for the manifest, loader and rotation tests.
 *
 * A fixture is one isolated world on the running stack: its own app name,
 * coordination schema (migrated), S3 prefix and warehouse schema on wh_a
 * and wh_b, a config (in memory and as a file for logfleetctl), and a
 * producer of real objects: gzip NDJSON records from worker/loggen.h with
 * lineage fields, PUT to S3 and ledgered in `objects` as the router would.
 * It counts what it wrote per (type, day) so tests can compare.  Helpers
 * abort the test on failure.  One thread uses a fixture at a time, except
 * lf_put_object, which is thread-safe.
 */
#ifndef LOGFLEET_T_LOADER_FIX_H
#define LOGFLEET_T_LOADER_FIX_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "sinks/warehouse.h"

#define LF_TYPES 3          /* login (typed), battle (typed), chat (generic) */
#define LF_DAYS 2

struct lf_opts {
    int max_objects;          /* manifest.max_objects; 0: 10 */
    int interval_ms;          /* manifest.interval_ms; 0: 200 */
    int retry_window_s;       /* -1: 0 s; 0: 60 s */
    int retry_base_ms;        /* 0: 50 */
    int retry_cap_ms;         /* 0: 400 */
    int breaker_failures;     /* 0: 3 */
    int breaker_open_ms;      /* 0: 1000 */
    int pool_size;            /* 0: 2 */
    int days_ahead;           /* -1: 0; 0: 1 */
    int retention_days;       /* 0: 7 */
    const char *b_dsn;        /* wh_b's DSN; NULL: $WH_B_DSN */
    const char *b_types;      /* wh_b's types list, e.g. "\"login\", \"chat\""; NULL: all */
    const char *only_backend; /* "wh_a" / "wh_b": configure just that one */
};

struct lf_fix {
    char id[32];
    char app[48], coord_schema[48], wh_schema[48], prefix[96];
    char conf_path[512];
    struct lf_config cfg;
    PGconn *coord, *wh_a, *wh_b;       /* for the test's own queries */
    struct wh_s3 s3;
    pthread_mutex_t mu;                 /* guards the counters and seq */
    int64_t seq;                        /* next lineage sequence number */
    int64_t written[LF_TYPES][LF_DAYS]; /* records ledgered per (type, day index) */
    int64_t objects;
    int days[LF_DAYS];                  /* day numbers: today-1, today */
};

extern const char *const lf_type_names[LF_TYPES];

/* Sets everything up (and migrates); o may be NULL. */
void lf_open(struct lf_fix *f, const struct lf_opts *o);
/* Drops the schemas, closes connections, frees the config. */
void lf_close(struct lf_fix *f);

/* Writes one object of n records of (type ti, day index di, shard) to S3
 * and ledgers it.  Returns its object_id.  Thread-safe. */
int64_t lf_put_object(struct lf_fix *f, int ti, int di, const char *shard, int n, uint64_t seed);
/* Ledgers an object row of n records whose S3 object is NOT written (for
 * failure tests); its key into key_out.  Returns its object_id. */
int64_t lf_ledger_only(struct lf_fix *f, int ti, int di, const char *shard, int n,
                       char *key_out, size_t key_n);
/* Writes n fresh records of day index di as the object at key (overwrites). */
void lf_upload(struct lf_fix *f, const char *key, int di, const char *shard, int n, uint64_t seed);

/* First value of a query's first row as integer / string ("" no row).
 * "@C." is replaced by the coordination schema, "@W." by the warehouse one. */
long long lf_qi(PGconn *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *lf_q(PGconn *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Loads of the fixture's app in state st (NULL: any) of backend (NULL: any). */
long long lf_loads(struct lf_fix *f, const char *backend, const char *st);
/* Runs logfleetctl with the fixture's config: "rotate --date ..." etc.
 * Returns the exit status; stdout (if out) into out (reset first). */
int lf_ctl(struct lf_fix *f, struct buf *out, const char *args_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Waits until every load of the app is done; false at the deadline. */
bool lf_wait_all_done(struct lf_fix *f, int64_t timeout_ms);
/* Each (type, day) table of wh holds exactly what was written, each lineage
 * key once, event times inside the table's day, and the views see it all.
 * has_battle: wh loads the battle type (else its tables must not exist). */
void lf_check_warehouse(struct lf_fix *f, PGconn *wh, const char *name, bool has_battle);

int64_t lf_now_ms(void);
void lf_sleep_ms(int64_t ms);
/* Environment integer with a default (for scalable tests). */
long lf_env_long(const char *name, long def);

#endif
