/* daemon.c — logfleetd's run loop and consumer manager (see daemon.h). */
#include "worker/daemon.h"
#include "common/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "common/httpd.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "lease/registry.h"
#include "lease/schema.h"

#define TICK_MS 200          /* manager pass without news from the coordinator */
#define MAX_FAILURES 5       /* processor failures in a row before a lease is released */
#define ABORT_WAIT_MS 4000   /* after the grace: consumers' calls are cancelled */

enum phase { PH_STARTING, PH_RUNNING, PH_STOPPING };

struct daemon {
    const struct daemon_cfg *cfg;
    struct consumer_cfg ccfg;          /* cfg's, with the credentials provider */
    struct coordinator_cfg kcfg;
    struct aws_creds_provider *creds;
    struct lease_coord *lc;
    struct coordinator *co;
    struct httpd *http;
    int sig_fd, notify_fd;
    struct consumer **cons;
    size_t ncons, capcons;
    int64_t deadline;                  /* PH_STOPPING: end of the grace */
    bool aborted;
    /* read by the HTTP thread */
    atomic_int phase;
    atomic_int held, processing;
    atomic_bool draining, coord_ready;
    struct metrics_gauge *g_held, *g_cons;
};

/* ---- config ------------------------------------------------------------- */

static const char *const positions[] = {"TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"};

void daemon_cfg_init(struct daemon_cfg *d, const struct lf_config *c)
{
    memset(d, 0, sizeof *d);
    if (*c->worker_id) strlcpy_(d->worker_id_buf, c->worker_id, sizeof d->worker_id_buf);
    else {
        char host[200] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(d->worker_id_buf, sizeof d->worker_id_buf, "%s-%d", host, (int)getpid());
    }
    d->lease = (struct lease_opts){
        .dsn = c->coord.dsn, .schema = c->coord.schema, .app = c->app, .worker_id = d->worker_id_buf,
        .duration_ms = c->lease.duration_ms, .max_leases = c->lease.max_leases,
        .max_steal = c->lease.max_steal, .graceful_handoff = c->lease.graceful_handoff,
        .handoff_timeout_ms = c->lease.handoff_timeout_ms};
    struct aws_client_opts kin = {
        .service = "kinesis", .region = c->aws.region,
        .endpoint = *c->kinesis.endpoint ? c->kinesis.endpoint : NULL,
        .connect_timeout_ms = c->aws.connect_timeout_ms, .timeout_ms = c->aws.request_timeout_ms,
        .max_attempts = c->aws.max_attempts, .retry_base_ms = c->aws.retry_base_ms,
        .retry_cap_ms = c->aws.retry_cap_ms};
    const char *pos = positions[c->kinesis.initial_position];
    d->coord = (struct coordinator_cfg){
        .lease_ms = c->lease.duration_ms, .shard_sync_ms = c->lease.shard_sync_ms,
        .stream = c->kinesis.stream, .initial_position = pos, .cleanup = true, .kin = kin};
    /* Consumers retry reads themselves, with waits a stop request cuts
     * short: their client makes one attempt per call.  Parent polling and
     * the task backoff have no logfleet.conf key: KCL's defaults. */
    struct aws_client_opts kin1 = kin;
    kin1.max_attempts = 1;
    d->consumer = (struct consumer_cfg){
        .stream = c->kinesis.stream, .kin = kin1, .initial_position = pos,
        .initial_timestamp_s = (double)c->kinesis.initial_timestamp,
        .max_records = c->kinesis.max_records, .idle_ms = c->kinesis.idle_between_reads_ms,
        .parent_poll_ms = 10000, .task_backoff_ms = 500, .max_failures = MAX_FAILURES};
    d->creds = (struct aws_creds_opts){
        .access_key = *c->aws.access_key_id ? c->aws.access_key_id : NULL,
        .secret_key = *c->aws.secret_access_key ? c->aws.secret_access_key : NULL,
        .session_token = *c->aws.session_token ? c->aws.session_token : NULL,
        .profile = *c->aws.profile ? c->aws.profile : NULL,
        .ecs_endpoint = *c->aws.ecs_endpoint ? c->aws.ecs_endpoint : NULL,
        .imds_endpoint = *c->aws.imds_endpoint ? c->aws.imds_endpoint : NULL,
        .imds_disabled = c->aws.imds_disabled};
    d->shutdown_grace_ms = c->shutdown.grace_ms;
    d->http_listen = c->http.listen;
}

/* ---- readiness ------------------------------------------------------------ */

static int ready(void *arg, char *reason, size_t n)
{
    struct daemon *d = arg;
    const char *why = NULL;
    if (atomic_load(&d->phase) == PH_STOPPING) why = "shutting down";
    else if (!atomic_load(&d->coord_ready)) why = "starting";
    else if (atomic_load(&d->draining)) why = "draining";
    else if (atomic_load(&d->held) > 0 && atomic_load(&d->processing) == 0) why = "starting consumers";
    if (why) snprintf(reason, n, "%s", why);
    return why == NULL;
}

/* ---- consumer manager --------------------------------------------------------- */

static struct consumer *find(struct daemon *d, const char *key)
{
    for (size_t i = 0; i < d->ncons; i++)
        if (!strcmp(consumer_key(d->cons[i]), key)) return d->cons[i];
    return NULL;
}

static void start_consumer(struct daemon *d, const struct lease_info *li)
{
    struct consumer *c;
    struct err e = {0};
    if (consumer_start(&d->ccfg, d->lc, li, &c, &e) < 0) {
        log_error("daemon", "consumer not started shard=%s err=\"%s\"", li->key, e.msg);
        return;
    }
    if (d->ncons == d->capcons) {
        d->capcons = d->capcons ? 2 * d->capcons : 16;
        d->cons = xrealloc(d->cons, d->capcons * sizeof *d->cons);
    }
    d->cons[d->ncons++] = c;
}

/* Events name what happened since the last pass, with the tenure's token. */
static void on_events(struct daemon *d)
{
    struct lease_event *ev;
    size_t n;
    lease_events_take(d->lc, &ev, &n);
    for (size_t i = 0; i < n; i++) {
        struct consumer *c = find(d, ev[i].key);
        if (!c || strcmp(consumer_token(c), ev[i].token)) continue;
        if (ev[i].kind == LEASE_EV_HANDOFF_REQUESTED) consumer_signal(c, CONSUMER_HANDOFF);
        else if (ev[i].kind != LEASE_EV_ACQUIRED) consumer_signal(c, CONSUMER_LOST);
    }
    lease_events_free(ev, n);
}

/* The held set is authoritative: start, stop and hand on from it. */
static void on_snapshot(struct daemon *d)
{
    struct lease_info *v;
    size_t n;
    int held = 0;
    lease_held_snapshot(d->lc, &v, &n);
    for (size_t i = 0; i < n; i++) {
        struct consumer *c = find(d, v[i].key);
        held += v[i].state != LEASE_PENDING_HANDOFF_IN;
        if (c && strcmp(consumer_token(c), v[i].token)) consumer_signal(c, CONSUMER_LOST);
        else if (v[i].state == LEASE_HELD && !c && atomic_load(&d->phase) != PH_STOPPING)
            start_consumer(d, &v[i]);
        else if (v[i].state == LEASE_HANDOFF_REQUESTED && c) consumer_signal(c, CONSUMER_HANDOFF);
        else if (v[i].state == LEASE_HANDOFF_REQUESTED) { /* nothing to shut down */
            struct err e = {0};
            if (lease_handoff_complete(d->lc, v[i].key, &e) < 0 && e.code != LEASE_E_LOST)
                log_warn("daemon", "handoff failed shard=%s err=\"%s\"", v[i].key, e.msg);
        }
    }
    for (size_t k = 0; k < d->ncons; k++) {
        bool there = false;
        for (size_t i = 0; i < n && !there; i++)
            there = !strcmp(v[i].key, consumer_key(d->cons[k])) &&
                    !strcmp(v[i].token, consumer_token(d->cons[k]));
        if (!there) consumer_signal(d->cons[k], CONSUMER_LOST);
    }
    lease_info_free(v, n);
    atomic_store(&d->held, held);
    metrics_gauge_set(d->g_held, held);
}

static void reap(struct daemon *d)
{
    int processing = 0;
    for (size_t i = d->ncons; i-- > 0;) {
        if (!consumer_done(d->cons[i])) {
            processing += consumer_processing(d->cons[i]);
            continue;
        }
        consumer_join(d->cons[i]);
        d->cons[i] = d->cons[--d->ncons];
    }
    atomic_store(&d->processing, processing);
    metrics_gauge_set(d->g_cons, (double)d->ncons);
}

static void manage(struct daemon *d)
{
    reap(d);
    on_events(d);
    on_snapshot(d);
    atomic_store(&d->draining, lease_draining(d->lc));
    atomic_store(&d->coord_ready, coordinator_ready(d->co));
    if (atomic_load(&d->phase) == PH_STARTING && coordinator_ready(d->co)) {
        atomic_store(&d->phase, PH_RUNNING);
        log_info("daemon", "running worker=%s leases=%d", d->cfg->lease.worker_id,
                 atomic_load(&d->held));
    }
}

/* ---- shutdown ----------------------------------------------------------------- */

static void begin_shutdown(struct daemon *d, int sig)
{
    if (atomic_load(&d->phase) == PH_STOPPING) { /* a second signal: no more grace */
        log_warn("daemon", "second signal: abandoning the grace period signal=%s", sigabbrev_np(sig));
        d->deadline = clock_mono_ms();
        return;
    }
    atomic_store(&d->phase, PH_STOPPING);
    d->deadline = clock_mono_ms() + d->cfg->shutdown_grace_ms;
    log_info("daemon", "shutting down signal=%s consumers=%zu grace_ms=%" PRId64, sigabbrev_np(sig),
             d->ncons, d->cfg->shutdown_grace_ms);
    coordinator_stop_sync(d->co);
    struct err e = {0};
    if (lease_drain(d->lc, &e) < 0) log_warn("daemon", "drain failed err=\"%s\"", e.msg);
    /* flagged, other workers stop counting us at once and take what we hand back */
    const struct lease_opts *lo = &d->cfg->lease;
    err_clear(&e);
    if (lease_worker_set_draining(lo->dsn, lo->schema, lo->app, lo->worker_id, true, &e) < 0)
        log_warn("daemon", "draining flag not set err=\"%s\"", e.msg);
    for (size_t i = 0; i < d->ncons; i++) consumer_signal(d->cons[i], CONSUMER_HANDOFF);
}

/* Grace over: cancel every processor's call in progress. */
static void abort_consumers(struct daemon *d)
{
    d->aborted = true;
    log_warn("daemon", "grace period over: cancelling consumers=%zu", d->ncons);
    for (size_t i = 0; i < d->ncons; i++) consumer_signal(d->cons[i], CONSUMER_ABORT);
    d->deadline = clock_mono_ms() + ABORT_WAIT_MS;
}

/* Last resort for consumers stuck past the abort: kill their children. */
static void kill_leftovers(struct daemon *d)
{
    for (size_t i = 0; i < d->ncons; i++) {
        pid_t pg = consumer_child_pgid(d->cons[i]);
        log_error("daemon", "consumer stuck at exit shard=%s child_pgid=%d", consumer_key(d->cons[i]),
                  (int)pg);
        if (pg > 0) kill(-pg, SIGKILL);
    }
}

static void on_signal(struct daemon *d)
{
    struct signalfd_siginfo si;
    while (read(d->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) begin_shutdown(d, (int)si.ssi_signo);
}

/* The manager loop; returns when stopped. */
static void loop(struct daemon *d)
{
    for (;;) {
        struct pollfd pf[2] = {{.fd = d->sig_fd, .events = POLLIN},
                               {.fd = d->notify_fd, .events = POLLIN}};
        int tmo = TICK_MS;
        if (atomic_load(&d->phase) == PH_STOPPING) {
            int64_t left = d->deadline - clock_mono_ms();
            tmo = left <= 0 ? 0 : left < TICK_MS ? (int)left : TICK_MS;
        }
        if (poll(pf, 2, tmo) > 0) {
            if (pf[0].revents) on_signal(d);
            uint64_t x;
            if (pf[1].revents && read(d->notify_fd, &x, sizeof x) < 0) {}
        }
        manage(d);
        if (atomic_load(&d->phase) != PH_STOPPING) continue;
        if (d->ncons == 0) return;
        if (clock_mono_ms() < d->deadline) continue;
        if (d->aborted) {
            kill_leftovers(d);
            return;
        }
        abort_consumers(d);
    }
}

/* ---- setup and teardown ---------------------------------------------------------- */

static void shutdown_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

void daemon_block_signals(void)
{
    sigset_t set;
    shutdown_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread started later */
}

static int open_signals(struct daemon *d, struct err *e)
{
    sigset_t set;
    shutdown_signals(&set);
    daemon_block_signals();
    signal(SIGPIPE, SIG_IGN);               /* children get default dispositions back */
    d->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    d->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->sig_fd < 0 || d->notify_fd < 0)
        return err_set(e, -errno, ERR_PERMANENT, "signalfd/eventfd: %s", strerror(errno));
    return 0;
}

static int open_http(struct daemon *d, struct err *e)
{
    if (!d->cfg->http_listen || !*d->cfg->http_listen) return 0;
    struct httpd_opts ho = {d->cfg->http_listen};
    int rc = httpd_new(&ho, &d->http, e);
    if (rc == -ENOTSUP) { /* built without libmicrohttpd */
        log_warn("daemon", "no http endpoint addr=%s err=\"%s\"", d->cfg->http_listen, e->msg);
        err_clear(e);
        return 0;
    }
    if (rc < 0) return rc;
    httpd_set_ready_fn(d->http, ready, d);
    log_info("daemon", "http listening addr=%s port=%d", d->cfg->http_listen, httpd_port(d->http));
    return 0;
}

static int setup(struct daemon *d, struct err *e)
{
    const struct daemon_cfg *c = d->cfg;
    int rc = open_signals(d, e);
    if (rc == 0) rc = aws_global_init(e);
    if (rc == 0) rc = aws_creds_provider_new(&c->creds, &d->creds, e);
    d->ccfg.kin.creds = d->kcfg.kin.creds = d->creds;
    if (rc == 0) rc = lease_migrate(c->lease.dsn, c->lease.schema, e);
    if (rc == 0) rc = lease_coord_new(&c->lease, &d->lc, e);
    if (rc == 0) rc = lease_worker_register(d->lc, e);
    if (rc == 0) rc = open_http(d, e);
    if (rc == 0) rc = coordinator_start(&d->kcfg, d->lc, d->notify_fd, &d->co, e);
    return rc;
}

static void log_start(const struct daemon *d)
{
    const struct daemon_cfg *c = d->cfg;
    const struct consumer_cfg *k = &c->consumer;
    log_info("daemon",
             "starting worker=%s app=%s schema=%s stream=%s kinesis=%s region=%s position=%s "
             "lease_ms=%" PRId64 " max_leases=%d max_steal=%d graceful_handoff=%d handoff_timeout_ms=%" PRId64
             " shard_sync_ms=%" PRId64 " max_records=%d idle_ms=%" PRId64 " parent_poll_ms=%" PRId64
             " task_backoff_ms=%" PRId64 " grace_ms=%" PRId64 " processor=%s %s",
             c->lease.worker_id, c->lease.app, c->lease.schema ? c->lease.schema : LEASE_SCHEMA_DEFAULT,
             k->stream, k->kin.endpoint ? k->kin.endpoint : "aws", k->kin.region ? k->kin.region : "-",
             k->initial_position, c->lease.duration_ms, c->lease.max_leases, c->lease.max_steal,
             c->lease.graceful_handoff, c->lease.handoff_timeout_ms, c->coord.shard_sync_ms,
             k->max_records, k->idle_ms, k->parent_poll_ms, k->task_backoff_ms, c->shutdown_grace_ms,
             k->factory->name, c->processor_desc ? c->processor_desc : "");
}

/* Stops what setup started.  With consumers still running (stuck past the
 * abort), the objects they use stay allocated: the process is exiting. */
static int teardown(struct daemon *d)
{
    int rc = d->aborted ? 1 : 0;
    coordinator_free(d->co);
    struct err e = {0};
    if (d->lc && lease_release_all(d->lc, &e) < 0) {
        log_error("daemon", "releasing leases failed err=\"%s\"", e.msg);
        rc = 1;
    }
    if (d->lc && lease_worker_deregister(d->lc, &e) < 0)
        log_warn("daemon", "deregister failed err=\"%s\"", e.msg);
    httpd_free(d->http);
    if (d->ncons == 0) {
        lease_coord_free(d->lc);
        aws_creds_provider_free(d->creds);
        free(d->cons);
    }
    if (d->sig_fd >= 0) close(d->sig_fd);
    if (d->notify_fd >= 0) close(d->notify_fd);
    return rc;
}

int daemon_run(const struct daemon_cfg *cfg, struct err *e)
{
    struct daemon d = {.cfg = cfg, .ccfg = cfg->consumer, .kcfg = cfg->coord, .sig_fd = -1,
                       .notify_fd = -1};
    atomic_init(&d.phase, PH_STARTING);
    d.g_held = metrics_gauge("logfleet_leases_held", "Leases this worker holds.", NULL);
    d.g_cons = metrics_gauge("logfleet_consumers", "Shard consumer threads running.", NULL);
    log_start(&d);
    int rc = setup(&d, e);
    if (rc == 0) {
        loop(&d);
        log_info("daemon", "stopping worker=%s graceful=%d", cfg->lease.worker_id, !d.aborted);
    }
    int trc = teardown(&d);
    if (rc < 0) return rc;
    log_info("daemon", "stopped worker=%s exit=%d", cfg->lease.worker_id, trc);
    return trc;
}
