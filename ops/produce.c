/* produce.c — `logfleetctl produce`: a load generator for the stream.
 *
 * The main thread makes records (synthetic game logs from worker/loggen.h,
 * or the lines of an NDJSON file), paces them with a token bucket, and packs
 * them into PutRecords batches (500 entries, 5 MiB), optionally of KPL
 * aggregates (worker/kpl.h: up to 100 records / 50 KiB each, one partition
 * key per aggregate so KCL's hash-range check keeps every user record).
 * --threads put threads, each with its own Kinesis client, take batches off
 * a bounded queue and send them with kin_put_records_all (failed entries
 * are retried).  --stdout writes the records as NDJSON instead.
 *
 * Threads: the queue (struct queue) is the only shared state; its mutex
 * guards every field.  SIGINT/SIGTERM stop the main thread's loop; what was
 * made is still sent, then the summary line is printed on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/kinesis.h"
#include "common/log.h"
#include "common/mem.h"
#include "ops/ctl.h"
#include "ops/ctlutil.h"
#include "worker/kpl.h"
#include "worker/loggen.h"

static const char usage[] =
    "usage: logfleetctl produce [--stream S] [--count N] [--rate R] [--kpl] [--file F]\n"
    "                           [--stdout] [--seed N] [--types a,b,...] [--batch N]\n"
    "                           [--threads N] [--key player|random]\n"
    "  --stream S     stream to put to (default kinesis.stream)\n"
    "  --count N      records to produce (default 1000; 0 = until interrupted;\n"
    "                 with --file: at most N lines, default all)\n"
    "  --rate R       records per second (default 0 = as fast as possible)\n"
    "  --kpl          put KPL aggregates (up to 100 records / 50 KiB each)\n"
    "  --file F       replay an NDJSON file, one record per line (\"-\" = stdin)\n"
    "  --stdout       print the records as NDJSON instead of putting them\n"
    "  --seed N       generator seed (default: random); same seed, same records\n"
    "  --types LIST   only these log types (comma separated)\n"
    "  --batch N      records (or aggregates) per PutRecords, 1-500 (default 500)\n"
    "  --threads N    concurrent PutRecords calls, 1-64 (default 4)\n"
    "  --key K        partition key: the record's player_id (default) or random\n";

#define RECORD_MAX (1u << 20)    /* Kinesis: 1 MiB per record */
#define PUT_BYTES_MAX (5u << 20) /* Kinesis: 5 MiB per PutRecords */
#define AGG_RECORDS 100
#define AGG_BYTES (50u << 10)
#define KEY_MAX 256
#define LINGER_MS 100 /* a paced partial batch waits at most this long */

struct popts {
    const char *stream;
    int64_t count; /* 0: until interrupted / whole file */
    double rate;   /* records/s; 0: unpaced */
    bool kpl, to_stdout, random_keys;
    const char *file;
    uint64_t seed;
    uint32_t types; /* bit per loggen type; 0: all */
    int batch, threads;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* ---- options ---------------------------------------------------------------- */

static int type_index(const char *name, size_t n)
{
    for (int i = 0; i < LOGGEN_NTYPES; i++) {
        const char *t = loggen_type_name(i);
        if (strlen(t) == n && !memcmp(t, name, n)) return i;
    }
    return -1;
}

static int parse_types(const char *s, uint32_t *mask)
{
    *mask = 0;
    for (const char *p = s;;) {
        size_t n = strcspn(p, ",");
        int i = type_index(p, n);
        if (i < 0) return -1;
        *mask |= 1u << i;
        if (!p[n]) return 0;
        p += n + 1;
    }
}

static int set_opt(struct popts *o, int ch, char **argv, bool *count_set, bool *seed_set)
{
    const char *a = optarg;
    int64_t v;
    switch (ch) {
    case 's': o->stream = a; return 0;
    case 'n':
        *count_set = true;
        if (ctl_parse_i64(a, 0, INT64_MAX, &o->count))
            return ctl_usage_error(argv[0], usage, "--count: expected an integer >= 0, got \"%s\"",
                                   a);
        return 0;
    case 'r':
        if (ctl_parse_double(a, 0, 1e9, &o->rate))
            return ctl_usage_error(argv[0], usage, "--rate: expected records/s >= 0, got \"%s\"",
                                   a);
        return 0;
    case 'k': o->kpl = true; return 0;
    case 'f': o->file = a; return 0;
    case 'o': o->to_stdout = true; return 0;
    case 'S':
        *seed_set = true;
        if (ctl_parse_u64(a, &o->seed))
            return ctl_usage_error(argv[0], usage,
                                   "--seed: expected an unsigned integer, got \"%s\"", a);
        return 0;
    case 't':
        if (parse_types(a, &o->types))
            return ctl_usage_error(argv[0], usage, "--types: unknown log type in \"%s\"", a);
        return 0;
    case 'b':
        if (ctl_parse_i64(a, 1, KIN_PUT_MAX, &v))
            return ctl_usage_error(argv[0], usage, "--batch: expected 1-500, got \"%s\"", a);
        o->batch = (int)v;
        return 0;
    case 'T':
        if (ctl_parse_i64(a, 1, 64, &v))
            return ctl_usage_error(argv[0], usage, "--threads: expected 1-64, got \"%s\"", a);
        o->threads = (int)v;
        return 0;
    case 'K':
        if (strcmp(a, "player") && strcmp(a, "random"))
            return ctl_usage_error(argv[0], usage, "--key: expected player or random, got \"%s\"",
                                   a);
        o->random_keys = !strcmp(a, "random");
        return 0;
    default: return ctl_bad_option(usage, ch, argv);
    }
}

static int parse_opts(const struct lf_config *c, int argc, char **argv, struct popts *o)
{
    static const struct option lo[] = {
        {"stream", required_argument, NULL, 's'}, {"count", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},   {"kpl", no_argument, NULL, 'k'},
        {"file", required_argument, NULL, 'f'},   {"stdout", no_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 'S'},   {"types", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'},  {"threads", required_argument, NULL, 'T'},
        {"key", required_argument, NULL, 'K'},    {NULL, 0, NULL, 0}};
    *o = (struct popts){
        .stream = c->kinesis.stream, .count = 1000, .batch = KIN_PUT_MAX, .threads = 4};
    bool count_set = false, seed_set = false;
    ctl_getopt_reset();
    for (int ch; (ch = getopt_long(argc, argv, "+:", lo, NULL)) != -1;) {
        int rc = set_opt(o, ch, argv, &count_set, &seed_set);
        if (rc) return rc;
    }
    if (optind < argc)
        return ctl_usage_error(argv[0], usage, "unexpected argument \"%s\"", argv[optind]);
    if (o->kpl && o->to_stdout)
        return ctl_usage_error(argv[0], usage, "--kpl and --stdout exclude each other");
    if (o->file && o->types)
        return ctl_usage_error(argv[0], usage, "--types applies to generated records, not --file");
    if (!o->to_stdout && !*o->stream)
        return ctl_usage_error(argv[0], usage, "no stream (--stream or kinesis.stream)");
    if (o->file && !count_set) o->count = 0;
    if (!seed_set && getentropy(&o->seed, sizeof o->seed)) o->seed = (uint64_t)ctl_now_ms();
    return 0;
}

/* ---- records ------------------------------------------------------------------ */

struct source {
    struct loggen *g; /* records, and random partition keys */
    FILE *f;          /* --file, or NULL */
    bool close_f;
    char *line;
    size_t cap;
    long lineno;
    uint32_t types;
    int set[LOGGEN_NTYPES], nset; /* the allowed types, when restricted */
    struct buf scratch;
};

static int source_open(struct source *s, const struct popts *o, struct err *e)
{
    *s = (struct source){.g = loggen_new(o->seed), .types = o->types};
    buf_init(&s->scratch, RECORD_MAX + 256);
    for (int i = 0; i < LOGGEN_NTYPES; i++)
        if (o->types & (1u << i)) s->set[s->nset++] = i;
    if (!o->file) return 0;
    s->f = strcmp(o->file, "-") ? fopen(o->file, "rb") : stdin;
    if (!s->f) return err_set(e, -errno, ERR_PERMANENT, "%s: %s", o->file, strerror(errno));
    s->close_f = s->f != stdin;
    return 0;
}

static void source_close(struct source *s)
{
    if (s->close_f) fclose(s->f);
    free(s->line);
    buf_free(&s->scratch);
    loggen_free(s->g);
}

/* Replaces the "type" value of a generated record with one of the allowed
 * types (uniformly chosen), keeping the rest byte for byte.  Out-of-set
 * records are relabelled rather than skipped so that rare types alone (e.g.
 * iap_refund, 1 in 2,500) are still produced at full speed. */
static void retype(struct source *s, struct buf *rec)
{
    const char *t = memmem(rec->data, rec->len < 64 ? rec->len : 64, "\"type\":\"", 8);
    if (!t) return;
    size_t at = (size_t)(t - rec->data) + 8;
    const char *end = memchr(rec->data + at, '"', rec->len - at);
    if (!end) return;
    const char *name = loggen_type_name(s->set[loggen_rand(s->g) % (uint64_t)s->nset]);
    buf_reset(&s->scratch);
    buf_append(&s->scratch, rec->data, at);
    buf_puts(&s->scratch, name);
    buf_append(&s->scratch, end, rec->len - (size_t)(end - rec->data));
    struct buf tmp = *rec;
    *rec = s->scratch;
    s->scratch = tmp;
}

/* The next line of the file (newline and a CR before it removed, empty
 * lines skipped) into rec: 1, 0 at the end, or -1. */
static int next_line(struct source *s, struct buf *rec, struct err *e)
{
    for (;;) {
        errno = 0;
        ssize_t n = getline(&s->line, &s->cap, s->f);
        if (n < 0) {
            if (errno && errno != EINTR)
                return err_set(e, -errno, ERR_PERMANENT, "read: %s", strerror(errno));
            return 0;
        }
        s->lineno++;
        if (n && s->line[n - 1] == '\n') n--;
        if (n && s->line[n - 1] == '\r') n--;
        if (n == 0) continue;
        if ((size_t)n > RECORD_MAX)
            return err_set(e, -E2BIG, ERR_PERMANENT, "line %ld: %zd bytes, more than 1 MiB",
                           s->lineno, n);
        buf_reset(rec);
        buf_append(rec, s->line, (size_t)n);
        return 1;
    }
}

static int source_next(struct source *s, struct buf *rec, struct err *e)
{
    if (s->f) return next_line(s, rec, e);
    buf_reset(rec);
    int type = loggen_record(s->g, ctl_now_ms(), rec);
    if (type < 0) return err_set(e, type, ERR_PERMANENT, "loggen: record too large");
    if (s->types && !(s->types & (1u << type))) retype(s, rec);
    return 1;
}

/* The record's "player_id" (printable ASCII, 1-256 chars), else a random key. */
static void record_key(const struct buf *rec, struct loggen *g, bool random, char out[KEY_MAX + 1])
{
    const char *k = random ? NULL : memmem(rec->data, rec->len, "\"player_id\":\"", 13);
    if (k) {
        k += 13;
        size_t n = 0, left = rec->len - (size_t)(k - rec->data);
        while (n < left && n <= KEY_MAX && k[n] != '"' && k[n] != '\\' && k[n] >= 0x20 &&
               k[n] < 0x7f)
            n++;
        if (n >= 1 && n <= KEY_MAX && n < left && k[n] == '"') {
            memcpy(out, k, n);
            out[n] = 0;
            return;
        }
    }
    snprintf(out, KEY_MAX + 1, "%016" PRIx64 "%016" PRIx64, loggen_rand(g), loggen_rand(g));
}

/* ---- batches and the queue ------------------------------------------------------- */

struct batch {
    struct buf data; /* entries then their keys (NUL-ended), back to back */
    size_t n, users, user_bytes, put_bytes;
    size_t off[KIN_PUT_MAX], len[KIN_PUT_MAX], koff[KIN_PUT_MAX];
    struct batch *next;
};

struct queue {
    pthread_mutex_t mu; /* guards every field below */
    pthread_cond_t cv;
    struct batch *head, *tail, *spare;
    size_t depth, max;
    bool closed, failed;
    struct err err;                /* the first put failure */
    uint64_t records, bytes, puts; /* confirmed: user records, their bytes, Kinesis records */
};

static void batch_reset(struct batch *b)
{
    buf_reset(&b->data);
    b->n = b->users = b->user_bytes = b->put_bytes = 0;
    b->next = NULL;
}

static struct batch *q_get_spare(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    struct batch *b = q->spare;
    if (b) q->spare = b->next;
    pthread_mutex_unlock(&q->mu);
    if (!b) {
        b = xcalloc(1, sizeof *b);
        buf_init(&b->data, PUT_BYTES_MAX + KIN_PUT_MAX * (KEY_MAX + 1) + 4096);
    }
    batch_reset(b);
    return b;
}

/* Blocks while the queue is full; -1 (batch recycled) once a put failed. */
static int q_push(struct queue *q, struct batch *b)
{
    pthread_mutex_lock(&q->mu);
    while (q->depth >= q->max && !q->failed) pthread_cond_wait(&q->cv, &q->mu);
    int rc = q->failed ? -1 : 0;
    if (rc) {
        b->next = q->spare;
        q->spare = b;
    } else {
        b->next = NULL;
        if (q->tail)
            q->tail->next = b;
        else
            q->head = b;
        q->tail = b;
        q->depth++;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* The next batch, or NULL once closed and empty, or failed. */
static struct batch *q_pop(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (!q->head && !q->closed && !q->failed) pthread_cond_wait(&q->cv, &q->mu);
    struct batch *b = q->failed ? NULL : q->head;
    if (b) {
        q->head = b->next;
        if (!q->head) q->tail = NULL;
        q->depth--;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return b;
}

static void q_recycle(struct queue *q, struct batch *b)
{
    pthread_mutex_lock(&q->mu);
    b->next = q->spare;
    q->spare = b;
    pthread_mutex_unlock(&q->mu);
}

static void q_done(struct queue *q, struct batch *b, int rc, const struct err *e)
{
    pthread_mutex_lock(&q->mu);
    if (rc == 0) {
        q->records += b->users;
        q->bytes += b->user_bytes;
        q->puts += b->n;
    } else if (!q->failed) {
        q->failed = true;
        q->err = *e;
    }
    b->next = q->spare;
    q->spare = b;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void q_close(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void q_free(struct queue *q)
{
    for (struct batch *l[] = {q->head, q->spare}, **p = l; p < l + 2; p++)
        for (struct batch *b = *p, *nx; b; b = nx) {
            nx = b->next;
            buf_free(&b->data);
            free(b);
        }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

/* ---- put threads ---------------------------------------------------------------------- */

struct sender {
    pthread_t t;
    struct queue *q;
    struct kin *k;
    const char *stream;
};

static void *send_loop(void *arg)
{
    struct sender *s = arg;
    struct kin_put_entry *in = xcalloc(KIN_PUT_MAX, sizeof *in);
    struct kin_put_result *res = xcalloc(KIN_PUT_MAX, sizeof *res);
    const struct kin_put_retry retry = {30000, 100, 5000, 0};
    for (struct batch *b; (b = q_pop(s->q));) {
        for (size_t i = 0; i < b->n; i++)
            in[i] = (struct kin_put_entry){b->data.data + b->off[i], b->len[i],
                                           b->data.data + b->koff[i], NULL};
        struct err e = {0};
        int rc = kin_put_records_all(s->k, s->stream, in, b->n, res, &retry, &e);
        q_done(s->q, b, rc, &e);
    }
    free(in);
    free(res);
    return NULL;
}

/* ---- the producer ------------------------------------------------------------------------ */

struct agg {         /* the KPL aggregate being filled */
    struct buf data; /* user records back to back */
    size_t off[AGG_RECORDS], len[AGG_RECORDS], n;
    char key[KEY_MAX + 1];
    struct buf out;
};

struct producer {
    const struct popts *o;
    struct queue q;
    struct batch *cur; /* being filled, or NULL */
    struct agg agg;
    double tokens;      /* token bucket (--rate) */
    int64_t pending_ms; /* when the oldest unsent record was made */
    int64_t refill_ms;
    uint64_t out_records, out_bytes; /* --stdout */
};

/* Queues the current batch if it has entries (an empty one goes back). */
static int push_batch(struct producer *p)
{
    struct batch *b = p->cur;
    p->cur = NULL;
    if (b && b->n) return q_push(&p->q, b);
    if (b) q_recycle(&p->q, b);
    return 0;
}

/* Adds one Kinesis record (a plain record or an aggregate) to the batch. */
static int emit(struct producer *p, const void *data, size_t len, const char *key, size_t users,
                size_t user_bytes)
{
    size_t klen = strlen(key);
    if (p->cur && p->cur->put_bytes + len + klen > PUT_BYTES_MAX && push_batch(p)) return -1;
    if (!p->cur) p->cur = q_get_spare(&p->q);
    struct batch *b = p->cur;
    b->off[b->n] = b->data.len;
    b->len[b->n] = len;
    buf_append(&b->data, data, len);
    b->koff[b->n] = b->data.len;
    buf_append(&b->data, key, klen + 1);
    b->n++;
    b->users += users;
    b->user_bytes += user_bytes;
    b->put_bytes += len + klen;
    return b->n == (size_t)p->o->batch ? push_batch(p) : 0;
}

/* Packs the pending records into one aggregate and adds it to the batch.
 * Only a lone record close to 1 MiB can pass the limit once framed (agg_add
 * starts a new aggregate past AGG_BYTES): it goes as a plain record, as the
 * KPL itself does. */
static int agg_flush(struct producer *p, struct err *e)
{
    struct agg *a = &p->agg;
    if (!a->n) return 0;
    struct kpl_record_in in[AGG_RECORDS];
    for (size_t i = 0; i < a->n; i++)
        in[i] = (struct kpl_record_in){a->key, NULL, a->data.data + a->off[i], a->len[i]};
    buf_reset(&a->out);
    int rc = kpl_aggregate(in, a->n, &a->out, e);
    bool plain = rc == 0 && a->out.len > RECORD_MAX;
    if (plain && emit(p, a->data.data, a->data.len, a->key, 1, a->data.len)) rc = -1;
    if (rc == 0 && !plain && emit(p, a->out.data, a->out.len, a->key, a->n, a->data.len)) rc = -1;
    a->n = 0;
    buf_reset(&a->data);
    return rc;
}

static int agg_add(struct producer *p, const struct buf *rec, const char *key, struct err *e)
{
    struct agg *a = &p->agg;
    if (a->n && (a->n == AGG_RECORDS || a->data.len + rec->len > AGG_BYTES) && agg_flush(p, e))
        return -1;
    if (!a->n) strlcpy_(a->key, key, sizeof a->key);
    a->off[a->n] = a->data.len;
    a->len[a->n++] = rec->len;
    buf_append(&a->data, rec->data, rec->len);
    return 0;
}

/* Sends what is pending (aggregate and batch) now. */
static int flush_pending(struct producer *p, struct err *e)
{
    if (agg_flush(p, e)) return -1;
    return push_batch(p);
}

/* Takes one token, sleeping as needed; a partial batch that would wait
 * longer than LINGER_MS is sent before the sleep. */
static int pace(struct producer *p, struct err *e)
{
    double r = p->o->rate;
    if (r <= 0) return 0;
    int64_t now = ctl_mono_ms();
    double burst = r / 20 > 1 ? r / 20 : 1;
    p->tokens += (double)(now - p->refill_ms) * r / 1000;
    if (p->tokens > burst) p->tokens = burst;
    p->refill_ms = now;
    if (p->tokens >= 1) {
        p->tokens -= 1;
        return 0;
    }
    double wait_ms = (1 - p->tokens) * 1000 / r;
    bool pending = (p->cur && p->cur->n) || p->agg.n;
    if (pending && (double)(now - p->pending_ms) + wait_ms >= LINGER_MS && flush_pending(p, e))
        return -1;
    p->tokens -= 1; /* negative now; the refill after the sleep brings it back to ~0 */
    int64_t ns = (int64_t)(wait_ms * 1e6);
    nanosleep(&(struct timespec){ns / 1000000000, ns % 1000000000}, NULL);
    return 0;
}

static int put_one(struct producer *p, struct source *s, const struct buf *rec, struct err *e)
{
    if (p->o->to_stdout) {
        fwrite(rec->data, 1, rec->len, stdout);
        if (fputc('\n', stdout) == EOF)
            return err_set(e, -EIO, ERR_PERMANENT, "stdout: %s", strerror(errno));
        p->out_records++;
        p->out_bytes += rec->len;
        return 0;
    }
    char key[KEY_MAX + 1];
    record_key(rec, s->g, p->o->random_keys, key);
    if (!(p->cur && p->cur->n) && !p->agg.n) p->pending_ms = ctl_mono_ms();
    if (p->o->kpl) return agg_add(p, rec, key, e);
    return emit(p, rec->data, rec->len, key, 1, rec->len);
}

/* The main thread's loop: 0 at the end of the records, -1 on an error
 * (e filled; a put failure is reported through the queue). */
static int produce_loop(struct producer *p, struct source *s, struct err *e)
{
    struct buf rec;
    buf_init(&rec, RECORD_MAX + 256);
    int rc = 0;
    p->refill_ms = ctl_mono_ms();
    for (int64_t made = 0; !stop_flag && (p->o->count == 0 || made < p->o->count); made++) {
        rc = pace(p, e);
        if (rc == 0 && !stop_flag) rc = source_next(s, &rec, e);
        if (rc <= 0) break;
        rc = put_one(p, s, &rec, e);
        if (rc) break;
    }
    if (rc >= 0 && !p->o->to_stdout) rc = flush_pending(p, e);
    buf_free(&rec);
    return rc < 0 ? -1 : 0;
}

static int start_senders(const struct lf_config *c, const struct popts *o, struct producer *p,
                         struct aws_creds_provider **cp, struct sender *s, struct err *e)
{
    if (ctl_creds_new(c, cp, e)) return -1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals go to the main thread */
    int rc = 0, i = 0;
    for (; rc == 0 && i < o->threads; i++) {
        s[i] = (struct sender){.q = &p->q, .stream = o->stream};
        rc = ctl_kin_new(c, *cp, &s[i].k, e);
        if (rc == 0 && pthread_create(&s[i].t, NULL, send_loop, &s[i])) {
            kin_free(s[i].k);
            s[i].k = NULL;
            rc = err_set(e, -EAGAIN, ERR_PERMANENT, "cannot start a put thread");
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static void stop_senders(const struct popts *o, struct producer *p, struct sender *s)
{
    q_close(&p->q);
    for (int i = 0; i < o->threads; i++) {
        if (!s[i].k) continue;
        pthread_join(s[i].t, NULL);
        kin_free(s[i].k);
    }
}

static void summary(const struct popts *o, const struct producer *p, int64_t t0)
{
    double t = (double)(ctl_mono_ms() - t0) / 1000;
    uint64_t n = o->to_stdout ? p->out_records : p->q.records;
    uint64_t bytes = o->to_stdout ? p->out_bytes : p->q.bytes;
    fprintf(stderr,
            "produced %" PRIu64 " records (%" PRIu64 " bytes) to %s in %.3f s: %.0f rec/s\n", n,
            bytes, o->to_stdout ? "stdout" : o->stream, t, t > 0 ? (double)n / t : 0.0);
    if (o->kpl) fprintf(stderr, "in %" PRIu64 " Kinesis records (KPL aggregates)\n", p->q.puts);
}

static int run(const struct lf_config *c, const struct popts *o)
{
    struct producer p = {.o = o, .q = {.max = (size_t)o->threads * 2}};
    pthread_mutex_init(&p.q.mu, NULL);
    pthread_cond_init(&p.q.cv, NULL);
    buf_init(&p.agg.data, AGG_BYTES + RECORD_MAX);
    buf_init(&p.agg.out, 2 * RECORD_MAX + 4096);
    struct sender *s = xcalloc((size_t)o->threads, sizeof *s);
    struct aws_creds_provider *cp = NULL;
    struct source src;
    struct err e = {0};
    int64_t t0 = ctl_mono_ms();
    int rc = source_open(&src, o, &e);
    if (rc == 0 && !o->to_stdout) rc = start_senders(c, o, &p, &cp, s, &e);
    bool started = rc == 0;
    if (started) {
        log_info("produce",
                 "start stream=%s count=%" PRId64 " rate=%g kpl=%d threads=%d seed=%" PRIu64,
                 o->to_stdout ? "-" : o->stream, o->count, o->rate, o->kpl, o->threads, o->seed);
        rc = produce_loop(&p, &src, &e);
    }
    if (!o->to_stdout) stop_senders(o, &p, s);
    if (o->to_stdout && fflush(stdout))
        rc = err_set(&e, -EIO, ERR_PERMANENT, "stdout: write failed");
    if (p.q.failed) {
        e = p.q.err;
        rc = -1;
    }
    if (started) summary(o, &p, t0);
    if (rc) fprintf(stderr, "logfleetctl produce: %s\n", e.msg);
    if (p.cur) q_recycle(&p.q, p.cur); /* left over after an error */
    source_close(&src);
    q_free(&p.q);
    buf_free(&p.agg.data);
    buf_free(&p.agg.out);
    free(s);
    aws_creds_provider_free(cp);
    return rc ? 1 : 0;
}

static int cmd_produce(const struct lf_config *c, int argc, char **argv)
{
    struct popts o;
    int rc = parse_opts(c, argc, argv, &o);
    if (rc) return rc;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = (int)SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return run(c, &o);
}

CTL_COMMAND(produce, "produce", true, cmd_produce,
            "load generator: put synthetic or NDJSON records (--kpl, --rate, --stdout)")
