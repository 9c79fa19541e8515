/* t_loader_fix.c — isolated worlds for the manifest, loader and rotation tests. */
#include "tests/integ/t_loader_fix.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/pg.h"
#include "lease/schema.h"
#include "sinks/gz.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"
#include "worker/loggen.h"

const char *const lf_type_names[LF_TYPES] = {"login", "battle", "chat"};

static const char types_conf[] =
    "types = (\n"
    "  { name = \"login\"; columns = [\"ts:timestamp:required\", \"player_id:varchar(64):required\","
    " \"platform:varchar(16)\", \"level:int\", \"gold:bigint\"]; },\n"
    "  { name = \"battle\"; columns = [\"ts:timestamp:required\", \"player_id:varchar(64)\","
    " \"region:varchar(32)\", \"xp:bigint\", \"chat:text\", \"server:varchar(8)\"]; },\n"
    "  { name = \"chat\"; }\n"
    ");\n";

int64_t lf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lf_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

long lf_env_long(const char *name, long def)
{
    const char *v = getenv(name);
    char *end;
    long n = v && *v ? strtol(v, &end, 10) : def;
    return v && *v && *end == 0 && n > 0 ? n : def;
}

/* The fixture whose schemas "@C." and "@W." name (the last one opened). */
static struct lf_fix *current;

static int pick(int v, int def) { return v ? v : def; }

static void backend_conf(struct buf *b, const struct lf_fix *f, const struct lf_opts *o,
                         const char *name, const char *dsn, const char *types)
{
    if (o->only_backend && strcmp(o->only_backend, name) != 0) return;
    if (b->data[b->len - 1] == '}') buf_puts(b, ",\n");
    buf_printf(b, "  { name = \"%s\"; dialect = \"postgres\"; dsn = \"%s\"; pool_size = %d;"
                  " schema = \"%s\"; types = [%s]; }", name, dsn, pick(o->pool_size, 2),
               f->wh_schema, types ? types : "");
}

static char *config_text(const struct lf_fix *f, const struct lf_opts *o)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    buf_printf(&b, "app = \"%s\";\nlog_level = \"warn\";\n", f->app);
    buf_printf(&b, "coord: { dsn = \"%s\"; schema = \"%s\"; };\n", t_env("COORD_DSN"),
               f->coord_schema);
    buf_printf(&b, "aws: { region = \"%s\"; access_key_id = \"%s\"; secret_access_key = \"%s\";"
                   " imds_disabled = true; max_attempts = 3; retry_base_ms = 20;"
                   " retry_cap_ms = 200; };\n",
               t_env("AWS_REGION"), t_env("AWS_ACCESS_KEY_ID"), t_env("AWS_SECRET_ACCESS_KEY"));
    buf_printf(&b, "s3: { endpoint = \"%s\"; bucket = \"%s\"; prefix = \"%s\"; };\n",
               t_env("S3_ENDPOINT"), t_env("BUCKET"), f->prefix);
    buf_puts(&b, "kinesis: { stream = \"logs\"; };\nrouter: { time_field = \"ts\"; };\n");
    buf_printf(&b, "manifest: { interval_ms = %d; max_objects = %d; };\n",
               pick(o->interval_ms, 200), pick(o->max_objects, 10));
    buf_printf(&b, "loader: { retry_window_s = %d; retry_base_ms = %d; retry_cap_ms = %d;"
                   " breaker_failures = %d; breaker_open_ms = %d; poll_ms = 50; };\n",
               o->retry_window_s < 0 ? 0 : pick(o->retry_window_s, 60), pick(o->retry_base_ms, 50),
               pick(o->retry_cap_ms, 400), pick(o->breaker_failures, 3),
               pick(o->breaker_open_ms, 1000));
    buf_printf(&b, "tables: { days_ahead = %d; retention_days = %d; };\n",
               o->days_ahead < 0 ? 0 : pick(o->days_ahead, 1), pick(o->retention_days, 7));
    buf_puts(&b, types_conf);
    buf_puts(&b, "backends = (\n");
    backend_conf(&b, f, o, "wh_a", t_env("WH_A_DSN"), NULL);
    backend_conf(&b, f, o, "wh_b", o->b_dsn ? o->b_dsn : t_env("WH_B_DSN"), o->b_types);
    buf_puts(&b, "\n);\n");
    return buf_steal(&b, NULL);
}

static PGconn *connect_or_die(const char *dsn)
{
    PGconn *pg;
    struct err e = {0};
    ASSERT_OK(pg_connect(dsn, 5, &pg, &e), e);
    PQclear(PQexec(pg, "SET client_min_messages TO warning"));
    return pg;
}

void lf_open(struct lf_fix *f, const struct lf_opts *o)
{
    static const struct lf_opts none = {0};
    memset(f, 0, sizeof *f);
    if (!o) o = &none;
    unsigned char r[4];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) exit(1);
    snprintf(f->id, sizeof f->id, "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
    snprintf(f->app, sizeof f->app, "t_%s", f->id);
    snprintf(f->coord_schema, sizeof f->coord_schema, "lfc_%s", f->id);
    snprintf(f->wh_schema, sizeof f->wh_schema, "lfw_%s", f->id);
    snprintf(f->prefix, sizeof f->prefix, "t_wh/%s/", f->id);
    snprintf(f->conf_path, sizeof f->conf_path, "%s/logfleet.conf", t_tmpdir());
    pthread_mutex_init(&f->mu, NULL);
    char *text = config_text(f, o);
    FILE *cf = fopen(f->conf_path, "w");
    ASSERT_TRUE(cf && fputs(text, cf) >= 0 && fclose(cf) == 0);
    struct err e = {0};
    ASSERT_OK(config_load_string(text, "test.conf", &f->cfg, &e), e);
    free(text);
    log_set_level(LOG_WARN);
    ASSERT_OK(lease_migrate(t_env("COORD_DSN"), f->coord_schema, &e), e);
    ASSERT_OK(wh_s3_open(&f->cfg, &f->s3, &e), e);
    f->coord = connect_or_die(t_env("COORD_DSN"));
    f->wh_a = connect_or_die(t_env("WH_A_DSN"));
    f->wh_b = connect_or_die(t_env("WH_B_DSN"));
    f->days[1] = wh_today();
    f->days[0] = f->days[1] - 1;
    f->seq = 1000;
    current = f;
}

void lf_close(struct lf_fix *f)
{
    if (t_failed() && getenv("LOGFLEET_T_KEEP")) {
        fprintf(stderr, "  kept: app %s, schemas %s (coord) %s (warehouses)\n", f->app,
                f->coord_schema, f->wh_schema);
        return;
    }
    free(lf_q(f->coord, "DROP SCHEMA IF EXISTS %s CASCADE", f->coord_schema));
    free(lf_q(f->wh_a, "DROP SCHEMA IF EXISTS %s CASCADE", f->wh_schema));
    if (PQstatus(f->wh_b) != CONNECTION_OK) PQreset(f->wh_b);
    if (PQstatus(f->wh_b) == CONNECTION_OK)
        free(lf_q(f->wh_b, "DROP SCHEMA IF EXISTS %s CASCADE", f->wh_schema));
    PQfinish(f->coord);
    PQfinish(f->wh_a);
    PQfinish(f->wh_b);
    wh_s3_close(&f->s3);
    config_free(&f->cfg);
    pthread_mutex_destroy(&f->mu);
}

/* ---- queries ------------------------------------------------------------------- */

__attribute__((format(printf, 3, 0))) static char *vq(struct lf_fix *f, PGconn *pg,
                                                      const char *fmt, va_list ap)
{
    char *raw = NULL;
    if (vasprintf(&raw, fmt, ap) < 0) exit(1);
    struct buf b;
    buf_init(&b, 1 << 20);
    for (const char *s = raw; *s; s++) {
        if (f && s[0] == '@' && (s[1] == 'C' || s[1] == 'W') && s[2] == '.') {
            buf_printf(&b, "%s.", s[1] == 'C' ? f->coord_schema : f->wh_schema);
            s += 2;
        } else {
            buf_append(&b, s, 1);
        }
    }
    free(raw);
    char *out = lt_first_value(pg, b.data, "query");
    buf_free(&b);
    return out;
}


char *lf_q(PGconn *pg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vq(current, pg, fmt, ap);
    va_end(ap);
    return s;
}

long long lf_qi(PGconn *pg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vq(current, pg, fmt, ap);
    va_end(ap);
    long long v = strtoll(s, NULL, 10);
    free(s);
    return v;
}

long long lf_loads(struct lf_fix *f, const char *backend, const char *st)
{
    current = f;
    return lf_qi(f->coord,
                 "SELECT count(*) FROM @C.loads l JOIN @C.manifests m USING (manifest_id)"
                 " WHERE m.app = '%s' AND ('%s' = '' OR l.backend = '%s')"
                 " AND ('%s' = '' OR l.state = '%s')",
                 f->app, backend ? backend : "", backend ? backend : "", st ? st : "",
                 st ? st : "");
}

int lf_ctl(struct lf_fix *f, struct buf *out, const char *args_fmt, ...)
{
    char *args = NULL;
    va_list ap;
    va_start(ap, args_fmt);
    if (vasprintf(&args, args_fmt, ap) < 0) exit(1);
    va_end(ap);
    char *cmd = xasprintf("%s/logfleetctl -c %s %s", t_env("LOGFLEET_BIN"), f->conf_path, args);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    ASSERT_TRUE(p != NULL);
    if (out) buf_reset(out);
    char chunk[4096];
    for (size_t n; (n = fread(chunk, 1, sizeof chunk, p)) > 0;)
        if (out) buf_append(out, chunk, n);
    int st = pclose(p);
    free(cmd);
    free(args);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---- objects --------------------------------------------------------------------- */

/* n records of (ti, di), lineage appended, gzip'd into gz. */
static void make_records(struct lf_fix *f, int di, const char *shard, int n, uint64_t seed,
                         int64_t first_seq, struct buf *gz, size_t *raw_len)
{
    struct loggen *g = loggen_new(seed);
    struct gz *z;
    ASSERT_TRUE(gz_new(1, &z) == 0);
    struct buf rec;
    buf_init(&rec, 1 << 20);
    *raw_len = 0;
    int64_t day0 = (int64_t)f->days[di] * 86400000;
    for (int i = 0; i < n; i++) {
        buf_reset(&rec);
        ASSERT_TRUE(loggen_record(g, day0 + (int64_t)(loggen_rand(g) % 86400000u), &rec) >= 0);
        rec.len--; /* the closing brace */
        buf_printf(&rec, ",\"_shard\":\"%s\",\"_seq\":\"%" PRId64 "\",\"_subseq\":0,"
                         "\"_arrival\":%" PRId64 "}\n", shard, first_seq + i, lf_now_ms());
        ASSERT_TRUE(gz_write(z, rec.data, rec.len, gz) == 0);
        *raw_len += rec.len;
    }
    ASSERT_TRUE(gz_finish(z, gz) == 0);
    buf_free(&rec);
    gz_free(z);
    loggen_free(g);
}

static int64_t ledger_row(struct lf_fix *f, PGconn *pg, int ti, int di, const char *shard,
                          const char *key, int64_t first, int n, size_t bytes, size_t raw)
{
    char day[11], fs[24], ls[24], ns[16], bs[24], rs[24];
    wh_day_iso(f->days[di], day);
    snprintf(fs, sizeof fs, "%" PRId64, first);
    snprintf(ls, sizeof ls, "%" PRId64, first + n - 1);
    snprintf(ns, sizeof ns, "%d", n);
    snprintf(bs, sizeof bs, "%zu", bytes);
    snprintf(rs, sizeof rs, "%zu", raw);
    const char *p[] = {f->app, key, lf_type_names[ti], day, shard, fs, ls, ns, bs, rs};
    char *sql = xasprintf("INSERT INTO %s.objects (app, key, log_type, day, shard, first_seq,"
                          " first_sub, last_seq, last_sub, records, bytes, raw_bytes, worker_id)"
                          " VALUES ($1, $2, $3, $4::date, $5, $6::numeric, 0, $7::numeric, 0,"
                          " $8::bigint, $9::bigint, $10::bigint, 'test') RETURNING object_id",
                          f->coord_schema);
    PGresult *r;
    struct err e = {0};
    ASSERT_OK(pg_execp(pg, sql, 10, p, &r, &e), e);
    int64_t id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    free(sql);
    return id;
}

static int64_t take_seq(struct lf_fix *f, int n)
{
    pthread_mutex_lock(&f->mu);
    int64_t s = f->seq;
    f->seq += n;
    pthread_mutex_unlock(&f->mu);
    return s;
}

static void object_key(struct lf_fix *f, int ti, int di, const char *shard, int64_t first,
                       char *out, size_t n)
{
    char path[11];
    wh_day_path(f->days[di], path);
    snprintf(out, n, "%sobjects/%s/%s/%s-%" PRId64 ".json.gz", f->prefix, lf_type_names[ti],
             path, shard, first);
}

int64_t lf_put_object(struct lf_fix *f, int ti, int di, const char *shard, int n, uint64_t seed)
{
    int64_t first = take_seq(f, n);
    struct buf gz;
    buf_init(&gz, 64u << 20);
    size_t raw;
    make_records(f, di, shard, n, seed, first, &gz, &raw);
    char key[512];
    object_key(f, ti, di, shard, first, key, sizeof key);
    struct wh_s3 s3;
    struct err e = {0};
    ASSERT_OK(wh_s3_open(&f->cfg, &s3, &e), e);
    struct s3_put_opts po = {.content_type = "application/gzip", .if_none_match = 1};
    struct s3_put_result pr;
    ASSERT_OK(s3_put(s3.s3, key, gz.data, gz.len, &po, &pr, &e), e);
    wh_s3_close(&s3);
    PGconn *pg = connect_or_die(t_env("COORD_DSN"));
    int64_t id = ledger_row(f, pg, ti, di, shard, key, first, n, gz.len, raw);
    PQfinish(pg);
    buf_free(&gz);
    pthread_mutex_lock(&f->mu);
    f->written[ti][di] += n;
    f->objects++;
    pthread_mutex_unlock(&f->mu);
    return id;
}

int64_t lf_ledger_only(struct lf_fix *f, int ti, int di, const char *shard, int n,
                       char *key_out, size_t key_n)
{
    int64_t first = take_seq(f, n);
    object_key(f, ti, di, shard, first, key_out, key_n);
    PGconn *pg = connect_or_die(t_env("COORD_DSN"));
    int64_t id = ledger_row(f, pg, ti, di, shard, key_out, first, n, 1000, 4000);
    PQfinish(pg);
    return id;
}

void lf_upload(struct lf_fix *f, const char *key, int di, const char *shard, int n, uint64_t seed)
{
    struct buf gz;
    buf_init(&gz, 64u << 20);
    size_t raw;
    make_records(f, di, shard, n, seed, take_seq(f, n), &gz, &raw);
    struct err e = {0};
    struct s3_put_opts po = {.content_type = "application/gzip"};
    struct s3_put_result pr;
    ASSERT_OK(s3_put(f->s3.s3, key, gz.data, gz.len, &po, &pr, &e), e);
    buf_free(&gz);
}

/* ---- checks ---------------------------------------------------------------------- */

/* Waits until every load of the app is done (or the deadline). */
bool lf_wait_all_done(struct lf_fix *f, int64_t timeout_ms)
{
    int64_t end = lf_now_ms() + timeout_ms;
    while (lf_now_ms() < end) {
        if (lf_loads(f, NULL, NULL) > 0 && lf_loads(f, NULL, "done") == lf_loads(f, NULL, NULL))
            return true;
        lf_sleep_ms(100);
    }
    return false;
}

/* Each (type, day) table of wh holds what was written, once. */
void lf_check_warehouse(struct lf_fix *f, PGconn *wh, const char *name, bool has_battle)
{
    for (int ti = 0; ti < LF_TYPES; ti++) {
        bool loaded = ti != 1 || has_battle;
        long long total = 0;
        for (int di = 0; di < LF_DAYS; di++) {
            char ymd[9];
            wh_day_ymd(f->days[di], ymd);
            long long want = loaded ? f->written[ti][di] : 0;
            total += want;
            if (!loaded) {
                char *reg = lf_q(wh, "SELECT to_regclass('@W.%s_%s')::text", lf_type_names[ti], ymd);
                EXPECT_EQ_STR(reg, "(null)");
                free(reg);
                continue;
            }
            long long got = lf_qi(wh, "SELECT count(*) FROM @W.%s_%s", lf_type_names[ti], ymd);
            if (got != want) fprintf(stderr, "  %s %s_%s\n", name, lf_type_names[ti], ymd);
            EXPECT_EQ_INT(got, want);
            EXPECT_EQ_INT(lf_qi(wh, "SELECT count(DISTINCT (_shard, _seq, _subseq)) FROM @W.%s_%s",
                                lf_type_names[ti], ymd), want);
            char iso[11];
            wh_day_iso(f->days[di], iso);
            const char *tcol = ti == 2 ? "event_time" : "ts";
            EXPECT_EQ_INT(lf_qi(wh, "SELECT count(*) FROM @W.%s_%s WHERE %s IS NULL"
                                    " OR (%s AT TIME ZONE 'UTC')::date <> '%s'",
                                lf_type_names[ti], ymd, tcol, tcol, iso), 0);
        }
        if (loaded) EXPECT_EQ_INT(lf_qi(wh, "SELECT count(*) FROM @W.%s", lf_type_names[ti]), total);
    }
}

