/* t_router_fix.c — fixtures for the router integration tests. */
#include "tests/integ/t_router_fix.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/seq.h"
#include "common/aws.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/s3.h"
#include "lease/schema.h"
#include "sinks/gz.h"
#include "worker/loggen.h"
#include "worker/router_route.h"
#include "tests/t.h"

uint64_t rt_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int64_t rt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long rt_peak_rss_kb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

long rt_rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- SQL ------------------------------------------------------------------------- */

__attribute__((format(printf, 2, 0))) static char *vq(const struct rt_env *env, const char *fmt,
                                                      va_list ap)
{
    char *raw = NULL;
    if (vasprintf(&raw, fmt, ap) < 0) exit(1);
    struct buf b;
    buf_init(&b, 1 << 20);
    for (const char *s = raw; *s; s++) {
        if (s[0] == '@' && s[1] == '.') buf_printf(&b, "%s.", env->schema), s++;
        else buf_append(&b, s, 1);
    }
    free(raw);
    PGconn *pg = PQconnectdb(t_env("COORD_DSN"));
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "  rt_q connect: %s", PQerrorMessage(pg));
        exit(1);
    }
    PQclear(PQexec(pg, "SET client_min_messages TO warning"));
    PGresult *res = PQexec(pg, b.data);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "  rt_q %s: %s", b.data, PQresultErrorMessage(res));
        exit(1);
    }
    char *out = xstrdup(st == PGRES_TUPLES_OK && PQntuples(res) && !PQgetisnull(res, 0, 0)
                            ? PQgetvalue(res, 0, 0)
                            : "");
    PQclear(res);
    PQfinish(pg);
    buf_free(&b);
    return out;
}

char *rt_q(const struct rt_env *env, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vq(env, fmt, ap);
    va_end(ap);
    return s;
}

long long rt_qi(const struct rt_env *env, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vq(env, fmt, ap);
    va_end(ap);
    long long v = strtoll(s, NULL, 10);
    free(s);
    return v;
}

/* ---- setup ---------------------------------------------------------------------------- */

static char *read_file(const char *path)
{
    struct buf b;
    struct err e = {0};
    buf_init(&b, 1 << 24);
    if (buf_read_file(&b, path, &e)) {
        fprintf(stderr, "  %s\n", e.msg);
        exit(1);
    }
    return buf_steal(&b, NULL);
}

static char *root_path(const char *rel)
{
    const char *root = getenv("LOGFLEET_ROOT");
    return xasprintf("%s/%s", root && *root ? root : ".", rel);
}

void rt_reload(struct rt_env *env, const struct rt_opts *o)
{
    static const struct rt_opts none;
    if (!o) o = &none;
    char *path = root_path("tests/data/types30.conf");
    char *types = read_file(path);
    free(path);
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_printf(&b, "app = \"%s\";\nworker_id = \"%s\";\n", env->app, RT_WORKER);
    buf_printf(&b, "coord: { dsn = \"%s\"; schema = \"%s\"; };\n", t_env("COORD_DSN"), env->schema);
    buf_printf(&b,
               "aws: { region = \"%s\"; access_key_id = \"%s\"; secret_access_key = \"%s\";"
               " imds_disabled = true; retry_base_ms = 20; retry_cap_ms = %d; max_attempts = 2;"
               " connect_timeout_ms = 1000; request_timeout_ms = 15000; };\n",
               t_env("AWS_REGION"), t_env("AWS_ACCESS_KEY_ID"), t_env("AWS_SECRET_ACCESS_KEY"),
               o->retry_cap_ms ? o->retry_cap_ms : 1000);
    buf_printf(&b, "s3: { endpoint = \"%s\"; bucket = \"%s\"; prefix = \"%s\";"
               " if_none_match = %s; };\n",
               t_env(o->direct_s3 ? "S3_DIRECT_ENDPOINT" : "S3_ENDPOINT"), t_env("BUCKET"),
               env->prefix, o->direct_s3 ? "false" : "true");
    buf_printf(&b, "kinesis: { stream = \"unused\"; };\n");
    buf_printf(&b,
               "router: { buffer_bytes = %d; buffer_age_ms = %d; memory_limit_bytes = %lldL;"
               " upload_threads = %d; max_record_bytes = %d; multipart_bytes = %lldL; };\n",
               o->buffer_bytes ? o->buffer_bytes : 262144,
               o->buffer_age_ms ? o->buffer_age_ms : 500,
               (long long)(o->memory_limit ? o->memory_limit : 64 << 20),
               o->upload_threads ? o->upload_threads : 2,
               o->max_record_bytes ? o->max_record_bytes : 1048576,
               (long long)(o->multipart_bytes ? o->multipart_bytes : 16 << 20));
    buf_printf(&b, "shutdown: { grace_ms = %d; };\n", o->grace_ms ? o->grace_ms : 60000);
    buf_puts(&b, types);
    if (o->extra) buf_puts(&b, o->extra);
    free(types);
    config_free(&env->cfg);
    struct err e = {0};
    ASSERT_OK(config_load_string(b.data, "router-test.conf", &env->cfg, &e), e);
    buf_free(&b);
}

void rt_setup(struct rt_env *env, const struct rt_opts *o, const char *const *shards, size_t n)
{
    memset(env, 0, sizeof *env);
    unsigned char r[6];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) exit(1);
    char hex[13];
    for (int i = 0; i < 6; i++) snprintf(hex + 2 * i, 3, "%02x", r[i]);
    snprintf(env->schema, sizeof env->schema, "rt_%s", hex);
    snprintf(env->app, sizeof env->app, "rtapp_%s", hex);
    snprintf(env->prefix, sizeof env->prefix, "t-%s/", hex);
    struct err e = {0};
    ASSERT_OK(lease_migrate(t_env("COORD_DSN"), env->schema, &e), e);
    rt_reload(env, o);
    for (size_t i = 0; i < n; i++)
        free(rt_q(env,
                  "INSERT INTO @.leases (app, lease_key, lease_owner, lease_counter, checkpoint)"
                  " VALUES ('%s', '%s', '%s', 1, 'TRIM_HORIZON')",
                  env->app, shards[i], RT_WORKER));
}

void rt_teardown(struct rt_env *env)
{
    free(rt_q(env, "DROP SCHEMA %s CASCADE", env->schema));
    config_free(&env->cfg);
}

/* ---- the checkpointer -------------------------------------------------------------------- */

static enum ckpt_result ck_write(struct checkpointer *cp, const char *seq, int64_t sub)
{
    struct rt_ckpt *c = cp->ctx;
    const char *s = seq ? seq : CKPT_SEQ_SHARD_END;
    if (seq) {
        if (c->seq[0] && ckpt_seq_cmp(seq, sub, c->seq, c->sub) < 0) c->bad++;
        if (!c->delivered[0] || ckpt_seq_cmp(seq, sub, c->delivered, c->delivered_sub) > 0) c->bad++;
    }
    char subs[24];
    snprintf(subs, sizeof subs, "%" PRId64, seq ? sub : 0);
    char *sql = xasprintf("UPDATE %s.leases SET checkpoint = $1, checkpoint_sub = $2"
                          " WHERE app = $3 AND lease_key = $4 AND ((lease_owner = $5 AND"
                          " checkpoint_owner IS NULL) OR checkpoint_owner = $5)",
                          c->env->schema);
    const char *p[] = {s, subs, c->env->app, c->shard, RT_WORKER};
    PGresult *r = PQexecParams(c->pg, sql, 5, NULL, p, NULL, NULL, 0);
    free(sql);
    enum ckpt_result res = CKPT_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) res = CKPT_DEPENDENCY;
    else if (strcmp(PQcmdTuples(r), "1") != 0) res = CKPT_SHUTDOWN;
    PQclear(r);
    if (res != CKPT_OK) return res;
    snprintf(c->seq, sizeof c->seq, "%s", s);
    c->sub = seq ? sub : 0;
    c->shard_end = seq == NULL;
    c->writes++;
    return CKPT_OK;
}

static const struct checkpointer_ops ck_ops = {ck_write};

void rt_ckpt_init(struct rt_ckpt *c, const struct rt_env *env, const char *shard)
{
    memset(c, 0, sizeof *c);
    c->cp.ops = &ck_ops;
    c->cp.ctx = c;
    c->env = env;
    c->shard = shard;
    c->pg = PQconnectdb(t_env("COORD_DSN"));
    if (PQstatus(c->pg) != CONNECTION_OK) {
        fprintf(stderr, "  checkpointer connect: %s", PQerrorMessage(c->pg));
        exit(1);
    }
}

void rt_ckpt_free(struct rt_ckpt *c)
{
    if (c->pg) PQfinish(c->pg);
    c->pg = NULL;
}

void rt_lease_checkpoint(const struct rt_env *env, const char *shard, char *seq, int64_t *sub)
{
    char *s = rt_q(env, "SELECT checkpoint FROM @.leases WHERE app = '%s' AND lease_key = '%s'",
                   env->app, shard);
    snprintf(seq, 128, "%s", s);
    free(s);
    *sub = rt_qi(env, "SELECT checkpoint_sub FROM @.leases WHERE app = '%s' AND lease_key = '%s'",
                 env->app, shard);
}

/* ---- the feed ---------------------------------------------------------------------------- */

/* A bad record of kind k (see rt_feed_make) into b; returns its reason. */
static int bad_record(int k, int64_t arrival, struct loggen *g, struct buf *b)
{
    char iso[25];
    loggen_iso8601(arrival - 1000, iso);
    switch (k) {
    case 0:
        buf_printf(b, "{\"ts\":\"%s\",\"type\":\"unknown_thing\",\"x\":1}", iso);
        return ROUTER_UNKNOWN_TYPE;
    case 1:
        buf_puts(b, "not json at all {");
        return ROUTER_NOT_JSON;
    case 2:
        buf_printf(b, "{\"ts\":\"%s\",\"player_id\":\"p\"}", iso);
        return ROUTER_NO_TYPE;
    case 3:
        buf_printf(b, "{\"ts\":\"%s\",\"type\":\"login; DROP TABLE x\"}", iso);
        return ROUTER_BAD_TYPE_NAME;
    case 4:
        loggen_record(g, arrival - INT64_C(40) * 86400000, b); /* retention is 30 days */
        return ROUTER_OUT_OF_WINDOW;
    case 5:
        buf_printf(b, "{\"ts\":\"%s\",\"type\":\"level_up\",\"event_id\":\"e\",\"player_id\":\"p\"}",
                   iso);
        return ROUTER_SCHEMA_MISMATCH;
    default:
        buf_puts(b, "{\"ts\":\"yesterday\",\"type\":\"login\"}");
        return ROUTER_BAD_TIME;
    }
}

void rt_feed_make(struct rt_feed *f, const char *shard, size_t n, uint64_t seed, int bad_every)
{
    memset(f, 0, sizeof *f);
    snprintf(f->shard, sizeof f->shard, "%s", shard);
    f->recs = xcalloc(n ? n : 1, sizeof *f->recs);
    struct loggen *g = loggen_new(seed);
    uint64_t rng = seed ^ 0x5eed;
    struct buf b;
    buf_init(&b, (size_t)1 << 32);
    const int64_t step = 2;
    int64_t midnight = (INT64_C(1795305600000) / 86400000 + 1) * 86400000;
    int64_t arrival = midnight - (int64_t)n * step / 2;
    uint64_t agg = 1000003;
    int left_in_agg = 0, sub = 0;
    for (size_t i = 0; i < n; i++, arrival += step) {
        struct rt_rec *r = &f->recs[i];
        if (left_in_agg == 0) {
            agg += 1 + rt_rand(&rng) % 50;
            left_in_agg = 1 + (int)(rt_rand(&rng) % 3);
            sub = 0;
        }
        snprintf(r->seq, sizeof r->seq, "49%054" PRIu64, agg);
        r->sub = sub++;
        left_in_agg--;
        r->arrival_ms = arrival;
        r->off = b.len;
        if (bad_every && i % (size_t)bad_every == (size_t)bad_every - 1) {
            r->want.type = -1;
            r->want.reason = bad_record((int)(i / (size_t)bad_every % 7), arrival, g, &b);
        } else {
            r->want.type = loggen_record(g, arrival - (int64_t)(rt_rand(&rng) % 3000), &b);
        }
        r->len = b.len - r->off;
    }
    f->n = n;
    f->data = buf_steal(&b, NULL);
    loggen_free(g);
}

void rt_feed_free(struct rt_feed *f)
{
    free(f->recs);
    free(f->data);
    memset(f, 0, sizeof *f);
}

void rt_feed_begin(struct rt_feed *f, const char *shard)
{
    memset(f, 0, sizeof *f);
    snprintf(f->shard, sizeof f->shard, "%s", shard);
}

void rt_feed_add(struct rt_feed *f, const void *p, size_t n, int64_t arrival_ms,
                 struct rt_expect want)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->recs = xrealloc(f->recs, f->cap * sizeof *f->recs);
    }
    if (f->dlen + n + 1 > f->dcap) {
        while (f->dlen + n + 1 > f->dcap) f->dcap = f->dcap ? f->dcap * 2 : 1 << 16;
        f->data = xrealloc(f->data, f->dcap);
    }
    struct rt_rec *r = &f->recs[f->n];
    memset(r, 0, sizeof *r);
    snprintf(r->seq, sizeof r->seq, "49%054zu", 5000000 + f->n * 10);
    r->arrival_ms = arrival_ms;
    r->want = want;
    r->off = f->dlen;
    r->len = n;
    if (n) memcpy(f->data + f->dlen, p, n);
    f->dlen += n;
    f->n++;
}

size_t rt_feed_after(const struct rt_feed *f, const char *seq, int64_t sub)
{
    if (!ckpt_seq_is_digits(seq)) return 0;
    size_t i = 0;
    while (i < f->n && ckpt_seq_cmp(f->recs[i].seq, f->recs[i].sub, seq, sub) <= 0) i++;
    return i;
}

int rt_feed_run(struct rt_feed *f, size_t from, size_t to, struct processor *p, struct rt_ckpt *c,
                size_t max_batch, uint64_t *rng, int sleep_us)
{
    struct proc_record *v = xcalloc(max_batch, sizeof *v);
    int rc = 0;
    while (from < to && rc == 0) {
        size_t k = 1 + rt_rand(rng) % max_batch;
        if (k > to - from) k = to - from;
        for (size_t i = 0; i < k; i++) {
            const struct rt_rec *r = &f->recs[from + i];
            v[i] = (struct proc_record){.data = f->data + r->off, .len = r->len,
                                        .partition_key = "pk", .seq = r->seq,
                                        .subseq = r->sub, .arrival_ms = r->arrival_ms};
        }
        snprintf(c->delivered, sizeof c->delivered, "%s", v[k - 1].seq);
        c->delivered_sub = v[k - 1].subseq;
        struct proc_batch b = {v, k, 0};
        struct err e = {0};
        rc = p->ops->process_records(p, &b, &c->cp, &e);
        if (rc) fprintf(stderr, "  process_records: %s\n", e.msg);
        from += k;
        if (sleep_us) usleep((useconds_t)sleep_us);
    }
    free(v);
    return rc;
}

/* ---- reading back -------------------------------------------------------------------------- */

struct reader {
    struct aws_creds_provider *creds;
    struct s3 *s3;
};

static void reader_open(struct reader *rd)
{
    struct err e = {0};
    struct aws_creds_opts co = {.access_key = t_env("AWS_ACCESS_KEY_ID"),
                                .secret_key = t_env("AWS_SECRET_ACCESS_KEY"), .imds_disabled = 1};
    ASSERT_OK(aws_creds_provider_new(&co, &rd->creds, &e), e);
    struct aws_client_opts o = {.service = "s3", .region = t_env("AWS_REGION"),
                                .endpoint = t_env("S3_ENDPOINT"), .creds = rd->creds,
                                .max_attempts = 5, .retry_base_ms = 50};
    ASSERT_OK(s3_new(&o, t_env("BUCKET"), &rd->s3, &e), e);
}

static void reader_close(struct reader *rd)
{
    s3_free(rd->s3);
    aws_creds_provider_free(rd->creds);
}

static int type_index(const char *name)
{
    for (int i = 0; i < LOGGEN_NTYPES; i++)
        if (strcmp(loggen_type_name(i), name) == 0) return i;
    return -2;
}

static int reason_index(const char *name)
{
    for (int i = 0; i < ROUTER_REASON_COUNT; i++)
        if (strcmp(router_reason_name(i), name) == 0) return i;
    return -2;
}

static struct rt_found *push(struct rt_read *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 4096;
        r->v = xrealloc(r->v, r->cap * sizeof *r->v);
    }
    memset(&r->v[r->n], 0, sizeof r->v[r->n]);
    return &r->v[r->n++];
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* One line of an object into r; false if it does not parse. */
static bool parse_line(struct rt_read *r, const char *line, size_t n, bool dead,
                       const char *type_dir)
{
    json_t *j = json_loadb(line, n, 0, NULL);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return false;
    }
    struct rt_found *f = push(r);
    bool ok = true;
    if (dead) {
        snprintf(f->shard, sizeof f->shard, "%s", jstr(j, "shard"));
        snprintf(f->seq, sizeof f->seq, "%s", jstr(j, "seq"));
        f->sub = json_integer_value(json_object_get(j, "subseq"));
        f->type = -1;
        f->reason = reason_index(jstr(j, "reason"));
        ok = json_is_string(json_object_get(j, "data_b64"));
    } else {
        snprintf(f->shard, sizeof f->shard, "%s", jstr(j, "_shard"));
        snprintf(f->seq, sizeof f->seq, "%s", jstr(j, "_seq"));
        f->sub = json_integer_value(json_object_get(j, "_subseq"));
        f->type = type_index(jstr(j, "type"));
        f->type_dir_ok = type_dir && strcmp(type_dir, jstr(j, "type")) == 0;
        ok = json_is_integer(json_object_get(j, "_arrival"));
    }
    json_decref(j);
    return ok && f->seq[0];
}

/* Reads one object; returns its line count, or -1 if unreadable. */
static long read_object(struct reader *rd, const struct rt_env *env, const char *key,
                        struct rt_read *r)
{
    struct buf gz, raw;
    buf_init(&gz, (size_t)1 << 31);
    buf_init(&raw, (size_t)1 << 32);
    struct err e = {0};
    long lines = -1;
    if (s3_get(rd->s3, key, &gz, &e) == 0 && gz_inflate_all(gz.data, gz.len, &raw, &e) == 0) {
        size_t pl = strlen(env->prefix);
        const char *rest = key + pl;
        bool dead = strncmp(rest, env->cfg.router.dead_letter_prefix,
                            strlen(env->cfg.router.dead_letter_prefix)) == 0;
        char type_dir[80] = "";
        if (!dead) {
            const char *t = rest + strlen(env->cfg.router.object_prefix);
            size_t tl = strcspn(t, "/");
            snprintf(type_dir, sizeof type_dir, "%.*s", (int)tl, t);
        }
        lines = 0;
        for (size_t s = 0; s < raw.len;) {
            const char *nl = memchr(raw.data + s, '\n', raw.len - s);
            size_t end = nl ? (size_t)(nl - raw.data) : raw.len;
            if (!parse_line(r, raw.data + s, end - s, dead, type_dir)) r->bad_lines++;
            lines++;
            s = end + 1;
        }
        r->objects++;
        r->dead_objects += dead;
    } else {
        fprintf(stderr, "  read %s: %s\n", key, e.msg);
    }
    buf_free(&gz);
    buf_free(&raw);
    return lines;
}

struct keylist {
    char **v;
    size_t n;
};

static int add_key(void *ctx, const struct s3_object *o)
{
    struct keylist *k = ctx;
    k->v = xrealloc(k->v, (k->n + 1) * sizeof *k->v);
    k->v[k->n++] = xstrdup(o->key);
    return 0;
}

static void list_keys(struct reader *rd, const struct rt_env *env, struct keylist *k)
{
    struct err e = {0};
    struct s3_list_opts o = {.prefix = env->prefix};
    memset(k, 0, sizeof *k);
    ASSERT_OK(s3_list(rd->s3, &o, add_key, k, &e), e);
}

static void keys_free(struct keylist *k)
{
    for (size_t i = 0; i < k->n; i++) free(k->v[i]);
    free(k->v);
}

size_t rt_count_objects(const struct rt_env *env)
{
    struct reader rd;
    reader_open(&rd);
    struct keylist k;
    list_keys(&rd, env, &k);
    size_t n = k.n;
    keys_free(&k);
    reader_close(&rd);
    return n;
}

void rt_read_all(const struct rt_env *env, struct rt_read *out)
{
    memset(out, 0, sizeof *out);
    struct reader rd;
    reader_open(&rd);
    struct keylist k;
    list_keys(&rd, env, &k);
    for (size_t i = 0; i < k.n; i++)
        if (read_object(&rd, env, k.v[i], out) < 0) out->bad_lines++;
    keys_free(&k);
    reader_close(&rd);
}

void rt_read_ledgered(const struct rt_env *env, struct rt_read *out)
{
    memset(out, 0, sizeof *out);
    struct reader rd;
    reader_open(&rd);
    PGconn *pg = PQconnectdb(t_env("COORD_DSN"));
    char *sql = xasprintf("SELECT key, records, first_seq::text, first_sub, last_seq::text,"
                          " last_sub FROM %s.objects WHERE app = $1 ORDER BY key",
                          env->schema);
    const char *p[] = {env->app};
    PGresult *res = PQexecParams(pg, sql, 1, NULL, p, NULL, NULL, 0);
    free(sql);
    ASSERT_TRUE(PQresultStatus(res) == PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(res); i++) {
        size_t before = out->n;
        long lines = read_object(&rd, env, PQgetvalue(res, i, 0), out);
        if (lines < 0) {
            out->bad_lines++;
            continue;
        }
        if (lines != strtol(PQgetvalue(res, i, 1), NULL, 10)) out->count_mismatch++;
        const char *fs = PQgetvalue(res, i, 2), *ls = PQgetvalue(res, i, 4);
        int64_t fsub = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        int64_t lsub = strtoll(PQgetvalue(res, i, 5), NULL, 10);
        for (size_t k = before; k < out->n; k++)
            if (ckpt_seq_cmp(out->v[k].seq, out->v[k].sub, fs, fsub) < 0 ||
                ckpt_seq_cmp(out->v[k].seq, out->v[k].sub, ls, lsub) > 0)
                out->lineage_mismatch++;
    }
    PQclear(res);
    PQfinish(pg);
    reader_close(&rd);
}

void rt_read_free(struct rt_read *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* ---- the exactly-once check --------------------------------------------------------------- */

struct slot {
    const struct rt_feed *f;   /* NULL: empty */
    size_t i;
    int seen;
};

static uint64_t rec_hash(const char *shard, const char *seq, int64_t sub)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *s = shard; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = (h ^ '|') * 1099511628211ull;
    for (const char *s = seq; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ (uint64_t)sub) * 1099511628211ull;
}

static struct slot *lookup(struct slot *t, size_t mask, const char *shard, const char *seq,
                           int64_t sub, bool add)
{
    for (size_t h = rec_hash(shard, seq, sub) & mask;; h = (h + 1) & mask) {
        struct slot *s = &t[h];
        if (!s->f) return add ? s : NULL;
        const struct rt_rec *r = &s->f->recs[s->i];
        if (r->sub == sub && strcmp(r->seq, seq) == 0 && strcmp(s->f->shard, shard) == 0) return s;
    }
}

size_t rt_check_exactly_once(const struct rt_read *r, struct rt_feed *const *feeds, size_t nf)
{
    size_t total = 0, problems = 0;
    for (size_t k = 0; k < nf; k++) total += feeds[k]->n;
    size_t cap = 16;
    while (cap < total * 2) cap *= 2;
    struct slot *t = xcalloc(cap, sizeof *t);
    for (size_t k = 0; k < nf; k++)
        for (size_t i = 0; i < feeds[k]->n; i++) {
            const struct rt_rec *rec = &feeds[k]->recs[i];
            struct slot *s = lookup(t, cap - 1, feeds[k]->shard, rec->seq, rec->sub, true);
            s->f = feeds[k];
            s->i = i;
        }
    for (size_t i = 0; i < r->n; i++) {
        const struct rt_found *f = &r->v[i];
        struct slot *s = lookup(t, cap - 1, f->shard, f->seq, f->sub, false);
        const char *why = NULL;
        if (!s) why = "not produced";
        else if (++s->seen > 1) why = "duplicate";
        else if (s->f->recs[s->i].want.type != f->type) why = "wrong type";
        else if (f->type < 0 && s->f->recs[s->i].want.reason != f->reason) why = "wrong reason";
        else if (f->type >= 0 && !f->type_dir_ok) why = "under another type's prefix";
        if (why && problems++ < 10)
            fprintf(stderr, "  record %s/%s/%lld: %s\n", f->shard, f->seq, (long long)f->sub, why);
    }
    for (size_t h = 0; h < cap; h++)
        if (t[h].f && t[h].seen == 0 && problems++ < 10)
            fprintf(stderr, "  record %s/%s/%lld: missing\n", t[h].f->shard,
                    t[h].f->recs[t[h].i].seq, (long long)t[h].f->recs[t[h].i].sub);
    free(t);
    return problems;
}

/* ---- driving processors -------------------------------------------------------------------- */

static void *run_main(void *arg)
{
    struct rt_run *s = arg;
    struct processor p = {0};
    struct err e = {0};
    rt_ckpt_init(&s->ck, s->env, s->f->shard);
    char seq[128];
    int64_t sub;
    rt_lease_checkpoint(s->env, s->f->shard, seq, &sub);
    snprintf(s->ck.seq, sizeof s->ck.seq, "%s", ckpt_seq_is_digits(seq) ? seq : "");
    s->ck.sub = sub;
    s->rc = router_create_processor(s->r, s->f->shard, -1, &p, &e);
    if (s->rc == 0) s->rc = p.ops->initialize(&p, s->f->shard, seq, sub, &e);
    if (s->rc == 0) {
        s->from = rt_feed_after(s->f, seq, sub);
        s->rc = rt_feed_run(s->f, s->from, s->f->n, &p, &s->ck, s->max_batch, &s->rng, s->sleep_us);
    }
    if (s->rc == 0) s->rc = p.ops->shutdown_requested(&p, &s->ck.cp, &e);
    if (s->rc) fprintf(stderr, "  shard %s: rc=%d %s\n", s->f->shard, s->rc, e.msg);
    processor_free(&p);
    rt_ckpt_free(&s->ck);
    return NULL;
}

void rt_run_shards(struct rt_env *env, struct router *r, struct rt_feed **feeds, size_t n,
                   struct rt_run *runs, size_t max_batch, int sleep_us)
{
    pthread_t t[16];
    for (size_t i = 0; i < n && i < 16; i++) {
        runs[i] = (struct rt_run){.env = env, .r = r, .f = feeds[i], .rng = 7 + i + (uint64_t)rt_now_ms(),
                                  .max_batch = max_batch, .sleep_us = sleep_us};
        pthread_create(&t[i], NULL, run_main, &runs[i]);
    }
    for (size_t i = 0; i < n && i < 16; i++) pthread_join(t[i], NULL);
}
