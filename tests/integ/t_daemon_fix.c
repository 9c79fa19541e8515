/* t_daemon_fix.c — fixtures for the logfleetd integration tests. */
#include "tests/integ/t_daemon_fix.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"
#include "tests/integ/t_lease_fix.h"
#include "tests/t.h"
#include "tests/unit/t_files.h"

static struct df *live; /* stopped by the atexit hook */

int64_t df_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void df_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

/* $LOGFLEET_ROOT, else the directory above the test binary that holds
 * tests/data/kcl, else the working directory. */
const char *df_root(void)
{
    static char root[PATH_MAX];
    if (!root[0]) t_root_find("tests/data/kcl/app.py", root, sizeof root);
    return root;
}

const char *df_python_app(void)
{
    static char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "python3 %s/tests/data/kcl/app.py", df_root());
    return cmd;
}

const char *df_node_app(void)
{
    static char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "node %s/tests/data/kcl/consumer.js", df_root());
    return cmd;
}

/* ---- workers ------------------------------------------------------------- */

static void print_tail(const char *path, int lines)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    const char *p = buf + n;
    for (int k = 0; p > buf && k <= lines;) k += *--p == '\n';
    fprintf(stderr, "  ---- %s (last %d lines)\n%s\n", path, lines, p);
}

/* SIGTERM to every worker still running; with check, each must exit 0
 * (a clean shutdown; under ASan also no leak or error report). */
static void stop_workers(struct df *f, bool check)
{
    bool running[DF_MAX_WORKERS] = {0};
    for (int i = 0; i < f->nw; i++)
        if (f->w[i].pid > 0) running[i] = kill(f->w[i].pid, SIGTERM) == 0;
    for (int i = 0; i < f->nw; i++) {
        if (!running[i]) continue;
        int rc = df_wait_exit(f, i, 20000);
        if (rc < 0) {
            kill(f->w[i].pid, SIGKILL);
            df_wait_exit(f, i, 5000);
        }
        if (check && rc != 0) T_REPORT_("worker %s: exit %d after SIGTERM, want 0", f->w[i].name, rc);
    }
    if (t_failed())
        for (int i = 0; i < f->nw; i++) print_tail(f->w[i].log, 40);
}

/* DF_KEEP=DIR: copy each test's temp dir (logs, output) there, for debugging. */
static void keep(const struct df *f)
{
    const char *to = getenv("DF_KEEP");
    if (!to || !*to) return;
    char *cmd = xasprintf("mkdir -p %s && cp -r %s %s/%s", to, f->dir, to, f->app);
    if (system(cmd) != 0) fprintf(stderr, "  DF_KEEP: copy failed\n");
    free(cmd);
}

static void at_exit(void)
{
    if (live) stop_workers(live, false);
    if (live) keep(live);
    live = NULL;
}

int df_start(struct df *f, const char *name, const char *props, const char *const *env,
             const char *cwd)
{
    ASSERT_TRUE(f->nw < DF_MAX_WORKERS);
    struct df_worker *w = &f->w[f->nw];
    snprintf(w->name, sizeof w->name, "%s", name);
    snprintf(w->log, sizeof w->log, "%.500s/%.31s.log", f->dir, name);
    char *bin = xasprintf("%s/logfleetd", t_env("LOGFLEET_BIN"));
    const char *conf = t_env("LOGFLEET_CONF");
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        int fd = open(w->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd < 0 || nul < 0 || chdir(cwd ? cwd : f->dir) < 0) _exit(126);
        dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("LOGFLEET_COORD_SCHEMA", f->schema, 1);
        setenv("LOGFLEET_WORKER_ID", name, 1);
        setenv("KCL_OUT", f->out, 1);
        for (size_t i = 0; env && env[i]; i++) putenv((char *)env[i]);
        execl(bin, "logfleetd", "-c", conf, "--properties", props, (char *)NULL);
        _exit(127);
    }
    free(bin);
    w->pid = pid;
    return f->nw++;
}

void df_signal(struct df *f, int i, int sig)
{
    if (f->w[i].pid > 0) kill(f->w[i].pid, sig);
}

int df_wait_exit(struct df *f, int i, int64_t ms)
{
    struct df_worker *w = &f->w[i];
    int64_t end = df_now_ms() + ms;
    while (w->pid > 0) {
        pid_t r = waitpid(w->pid, &w->status, WNOHANG);
        if (r == w->pid || (r < 0 && errno == ECHILD)) {
            w->pid = 0;
            break;
        }
        if (df_now_ms() >= end) return -1;
        df_sleep_ms(20);
    }
    return WIFEXITED(w->status) ? WEXITSTATUS(w->status) : 128 + WTERMSIG(w->status);
}

/* ---- stream, schema, files ------------------------------------------------ */

static void wait_active(struct df *f, int shards)
{
    struct kin_stream_summary s = {0};
    struct err e;
    for (int i = 0; i < 400; i++) {
        err_clear(&e);
        if (kin_describe_stream_summary(f->k, f->stream, &s, &e) == 0 && !strcmp(s.status, "ACTIVE") &&
            (shards == 0 || s.open_shards == shards))
            return;
        df_sleep_ms(50);
    }
    T_REPORT_("stream %s not ACTIVE: %s %s", f->stream, s.status, e.msg);
    exit(1);
}

void df_open(struct df *f, const char *tag, int shards)
{
    memset(f, 0, sizeof *f);
    struct aws_creds_opts co = {.access_key = t_env("AWS_ACCESS_KEY_ID"),
                                .secret_key = t_env("AWS_SECRET_ACCESS_KEY"), .imds_disabled = 1};
    struct err e;
    err_clear(&e);
    ASSERT_OK(aws_creds_provider_new(&co, &f->cp, &e), e);
    struct aws_client_opts o = {.region = t_env("AWS_REGION"), .endpoint = t_env("KINESIS_ENDPOINT"),
                                .creds = f->cp, .timeout_ms = 10000, .max_attempts = 5,
                                .retry_base_ms = 50, .retry_cap_ms = 500};
    ASSERT_OK(kin_new(&o, &f->k, &e), e);
    unsigned char r[4];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) exit(1);
    snprintf(f->app, sizeof f->app, "%s_%02x%02x%02x%02x", tag, r[0], r[1], r[2], r[3]);
    snprintf(f->stream, sizeof f->stream, "d_%s", f->app);
    snprintf(f->dir, sizeof f->dir, "%s", t_tmpdir());
    snprintf(f->out, sizeof f->out, "%s/out.txt", f->dir);
    f->schema = lt_schema();
    f->put = xcalloc(DF_MAX_PUT, sizeof *f->put);
    ASSERT_OK(kin_create_stream(f->k, f->stream, shards, &e), e);
    wait_active(f, shards);
    live = f;
    static bool hooked;
    if (!hooked) atexit(at_exit);
    hooked = true;
}

void df_close(struct df *f)
{
    stop_workers(f, true);
    keep(f);
    live = NULL;
    struct err e;
    err_clear(&e);
    kin_delete_stream(f->k, f->stream, &e);
    lt_drop();
    kin_free(f->k);
    aws_creds_provider_free(f->cp);
    free(f->put);
}

const char *df_props(struct df *f, const char *name, const char *exe, const char *extra)
{
    static char path[700];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    ASSERT_TRUE(fp != NULL);
    fprintf(fp,
            "# written by t_daemon_fix.c\n"
            "executableName = %s\n"
            "streamName = %s\n"
            "applicationName = %s\n"
            "AwsCredentialsProvider = DefaultCredentialsProvider\n"
            "initialPositionInStream = TRIM_HORIZON\n"
            "failoverTimeMillis = 2000\n"
            "shardSyncIntervalMillis = 1000\n"
            "idleTimeBetweenReadsInMillis = 100\n"
            "parentShardPollIntervalMillis = 200\n"
            "taskBackoffTimeMillis = 200\n"
            "shutdownGraceMillis = 15000\n"
            "gracefulLeaseHandoffTimeoutMillis = 10000\n"
            "maxRecords = 100\n"
            "%s",
            exe, f->stream, f->app, extra ? extra : "");
    fclose(fp);
    return path;
}

/* ---- records ---------------------------------------------------------------- */

static void put(struct df *f, int n, int nkeys, const char *hash, int key0)
{
    ASSERT_TRUE(f->nput + (size_t)n <= DF_MAX_PUT && nkeys <= 64);
    for (int done = 0; done < n;) {
        int m = n - done < KIN_PUT_MAX ? n - done : KIN_PUT_MAX;
        struct kin_put_entry *in = xcalloc((size_t)m, sizeof *in);
        struct kin_put_result *res = xcalloc((size_t)m, sizeof *res);
        for (int i = 0; i < m; i++) {
            struct df_put *p = &f->put[f->nput + (size_t)i];
            int key = hash ? key0 : (int)((f->nput + (size_t)i) % (size_t)nkeys);
            snprintf(p->data, sizeof p->data, "%d:%d", key, f->counter[key]++);
            snprintf(p->pk, sizeof p->pk, "pk%d", key);
            in[i] = (struct kin_put_entry){p->data, strlen(p->data), p->pk, hash};
        }
        struct err e;
        err_clear(&e);
        ASSERT_OK(kin_put_records_all(f->k, f->stream, in, (size_t)m, res, NULL, &e), e);
        for (int i = 0; i < m; i++) {
            struct df_put *p = &f->put[f->nput + (size_t)i];
            strlcpy_(p->seq, res[i].seq, sizeof p->seq);
            strlcpy_(p->shard, res[i].shard, sizeof p->shard);
        }
        f->nput += (size_t)m;
        done += m;
        free(in);
        free(res);
    }
}

void df_put_records(struct df *f, int n, int nkeys) { put(f, n, nkeys, NULL, 0); }
void df_put_to_hash(struct df *f, int n, int key, const char *hash) { put(f, n, 1, hash, key); }

/* ---- the output file ------------------------------------------------------------ */

void df_read(const struct df *f, struct df_out *o)
{
    memset(o, 0, sizeof *o);
    o->text = t_slurp(f->out);
    size_t cap = 0;
    for (const char *l = o->text; *l;) {
        const char *end = strchrnul(l, '\n');
        if (l[0] == 'R' && l[1] == ' ') {
            if (o->n == cap) o->r = xrealloc(o->r, (cap = cap ? 2 * cap : 1024) * sizeof *o->r);
            struct df_rec *r = &o->r[o->n];
            char *line = xstrndup(l, (size_t)(end - l));
            if (sscanf(line, "R %129s %129s %ld %31s", r->shard, r->seq, &r->sub, r->data) == 4) o->n++;
            free(line);
        }
        l = *end ? end + 1 : end;
    }
}

void df_out_free(struct df_out *o)
{
    free(o->r);
    free(o->text);
    memset(o, 0, sizeof *o);
}

int df_count(const struct df_out *o, const struct df_put *p)
{
    int k = 0;
    for (size_t i = 0; i < o->n; i++)
        k += !strcmp(o->r[i].data, p->data) && !strcmp(o->r[i].seq, p->seq) &&
             !strcmp(o->r[i].shard, p->shard);
    return k;
}

int df_lines(const struct df_out *o, const char *prefix)
{
    int k = 0;
    size_t n = strlen(prefix);
    for (const char *l = o->text; l && *l;) {
        k += !strncmp(l, prefix, n);
        l = strchr(l, '\n');
        if (l) l++;
    }
    return k;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every put record's data is among the delivered records'. */
static bool all_seen(const struct df *f, const struct df_out *o)
{
    char **seen = xcalloc(o->n + 1, sizeof *seen);
    for (size_t i = 0; i < o->n; i++) seen[i] = o->r[i].data;
    qsort(seen, o->n, sizeof *seen, cmp_str);
    bool all = true;
    for (size_t i = 0; i < f->nput && all; i++) {
        const char *d = f->put[i].data;
        all = o->n && bsearch(&d, seen, o->n, sizeof *seen, cmp_str);
    }
    free(seen);
    return all;
}

bool df_wait_all(struct df *f, int64_t ms)
{
    int64_t end = df_now_ms() + ms;
    for (;;) {
        struct df_out o;
        df_read(f, &o);
        bool all = all_seen(f, &o);
        df_out_free(&o);
        if (all) return true;
        if (df_now_ms() >= end) return false;
        df_sleep_ms(200);
    }
}

/* ---- the lease table ---------------------------------------------------------------- */

int df_owned(struct df *f, const char *owner)
{
    if (!owner)
        return (int)lt_qi("SELECT count(*) FROM @.leases WHERE app = '%s' AND lease_owner IS NULL "
                          "AND checkpoint <> 'SHARD_END'", f->app);
    return (int)lt_qi("SELECT count(*) FROM @.leases WHERE app = '%s' AND lease_owner = '%s'", f->app,
                      owner);
}

int df_handoffs_pending(struct df *f)
{
    return (int)lt_qi("SELECT count(*) FROM @.leases WHERE app = '%s' AND checkpoint_owner IS NOT NULL",
                      f->app);
}

char *df_checkpoint(struct df *f, const char *shard)
{
    return lt_q("SELECT checkpoint FROM @.leases WHERE app = '%s' AND lease_key = '%s'", f->app, shard);
}

/* ---- the ops endpoint ------------------------------------------------------------- */

/* The port worker i logged ("http listening ... port=N"), or 0. */
static int http_port(const struct df *f, int i)
{
    char *log = t_slurp(f->w[i].log);
    const char *p = strstr(log, "msg=\"http listening\"");
    const char *q = p ? strstr(p, " port=") : NULL;
    int port = q ? (int)strtol(q + 6, NULL, 10) : 0;
    free(log);
    return port;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct buf *b = ud;
    buf_append(b, p, sz * n);
    return sz * n;
}

long df_http_get(const struct df *f, int i, const char *path, char **body)
{
    *body = xstrdup("");
    int port = http_port(f, i);
    if (!port) return -1;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct buf b;
    buf_init(&b, 4u << 20);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    free(*body);
    *body = xstrdup(b.data ? b.data : "");
    buf_free(&b);
    return status;
}
