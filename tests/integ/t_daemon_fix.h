/* t_daemon_fix.h — fixtures for the logfleetd integration tests.
 *
 * Each test gets its own Kinesis stream (kinesalite behind the SigV4 proxy),
 * coordination schema (t_lease_fix's lt_schema), application name and temp
 * dir, and starts real logfleetd processes ($LOGFLEET_BIN/logfleetd, the
 * build under test) running the KCL apps of tests/data/kcl/.  Every child
 * of every worker appends to one output file (KCL_OUT) with one write per
 * event, so the file's order is the processing order:
 *   R <shard> <seq> <subseq> <data>     a record delivered
 *   C <shard> <seq> ...                 a checkpoint and its outcome
 *   E <event> <shard> [...]             initialize / leaseLost / ...
 * Workers still running when the test ends (or fails) are stopped by an
 * atexit hook; their logs are printed when the test failed.
 */
#ifndef LOGFLEET_T_DAEMON_FIX_H
#define LOGFLEET_T_DAEMON_FIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/kinesis.h"

#define DF_MAX_WORKERS 8
#define DF_MAX_PUT 4096

struct df_put {
    char data[32];                 /* "<key>:<n>", unique */
    char pk[16];                   /* partition key "pk<key>" */
    char seq[KIN_SEQ_MAX];
    char shard[KIN_SHARD_ID_MAX];
};

struct df_worker {
    char name[32];
    pid_t pid;                     /* 0: not running */
    int status;                    /* waitpid status once reaped */
    char log[600];
};

struct df {
    struct aws_creds_provider *cp;
    struct kin *k;
    char stream[96];
    char app[64];
    const char *schema;
    char dir[512];
    char out[600];                 /* KCL_OUT */
    struct df_put *put;            /* every record put, in put order */
    size_t nput;
    int counter[64];               /* per key: next payload counter */
    struct df_worker w[DF_MAX_WORKERS];
    int nw;
};

/* A record line of the output file. */
struct df_rec {
    char shard[KIN_SHARD_ID_MAX];
    char seq[KIN_SEQ_MAX];
    long sub;
    char data[32];
};

struct df_out {
    struct df_rec *r;
    size_t n;
    char *text;                    /* the whole file */
};

/* Stream with shards, schema, app "<tag>_<random>", output file. */
void df_open(struct df *f, const char *tag, int shards);
/* Stops workers, deletes the stream, drops the schema. */
void df_close(struct df *f);
/* Writes <dir>/<name> as a .properties file: the test defaults (short
 * lease times, this stream and app, executableName = exe), then extra
 * ("key = value\n" lines, may be NULL).  Returns its path (static per call
 * site: copy it if needed). */
const char *df_props(struct df *f, const char *name, const char *exe, const char *extra);
/* The command line of a test app: "python3 <root>/tests/data/kcl/app.py"
 * or "node <root>/tests/data/kcl/consumer.js". */
const char *df_python_app(void);
const char *df_node_app(void);
const char *df_root(void);

/* Starts logfleetd as worker name with props; env: NULL-terminated
 * "NAME=value" extras (may be NULL); cwd NULL: the test's temp dir.
 * Returns the worker index. */
int df_start(struct df *f, const char *name, const char *props, const char *const *env,
             const char *cwd);
void df_signal(struct df *f, int i, int sig);
/* Waits up to ms for worker i to exit; its exit code, 128+signal, or -1
 * on timeout. */
int df_wait_exit(struct df *f, int i, int64_t ms);

/* Puts n records with keys 0..nkeys-1 round robin ("<key>:<n>" with a
 * per-key counter, partition key "pk<key>"), recording seq and shard. */
void df_put_records(struct df *f, int n, int nkeys);
/* Puts n records, all to the shard owning the hash key hash (decimal). */
void df_put_to_hash(struct df *f, int n, int key, const char *hash);

void df_read(const struct df *f, struct df_out *o);
void df_out_free(struct df_out *o);
/* Times (shard, seq, data) of p appears as a record line in o. */
int df_count(const struct df_out *o, const struct df_put *p);
/* Waits until every record put so far appears at least once; true if so. */
bool df_wait_all(struct df *f, int64_t ms);
/* Lines of o starting with prefix. */
int df_lines(const struct df_out *o, const char *prefix);

/* Lease table rows of the app owned by owner (NULL: unowned). */
int df_owned(struct df *f, const char *owner);
/* Leases whose graceful handoff has not completed (checkpoint_owner set):
 * lease_owner already names the new owner while the old one still works. */
int df_handoffs_pending(struct df *f);
/* Checkpoint of a lease (new string; "" if no such lease). */
char *df_checkpoint(struct df *f, const char *shard);

/* GET http://127.0.0.1:<worker i's ops port><path>: the status (-1 if
 * it failed) and the body in *body (new string). */
long df_http_get(const struct df *f, int i, const char *path, char **body);

int64_t df_now_ms(void);
void df_sleep_ms(int64_t ms);

#endif
