/* coordinator.c — the renew/take thread and the shard-sync thread (see
 * coordinator.h; reference/kcl.md §B.2, §B.3, §B.6). */
#include "worker/coordinator.h"
#include "common/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/kinesis.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "lease/shardsync.h"

#define EPSILON_MS 25   /* KCL's epsilonMillis */

struct coordinator {
    const struct coordinator_cfg *cfg;
    struct lease_coord *lc;
    int notify_fd;
    int stop_fd, stop_sync_fd;     /* eventfds: readable once asked to stop */
    pthread_t lease_th, sync_th;
    bool lease_running, sync_running;
    atomic_bool ready;
    struct kin *kin;               /* the sync thread's */
    uint64_t rng;
};

static struct {
    struct metrics_counter *renew_err, *take_err, *sync_ok, *sync_err, *created, *cleaned;
} M;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_init(void)
{
#define ERRS "Lease coordination rounds that failed, by kind."
    M.renew_err = metrics_counter("logfleet_coord_errors_total", ERRS, "round=renew");
    M.take_err = metrics_counter("logfleet_coord_errors_total", ERRS, "round=take");
    M.sync_err = metrics_counter("logfleet_coord_errors_total", ERRS, "round=shard_sync");
    M.sync_ok = metrics_counter("logfleet_coord_shard_syncs_total", "Shard syncs completed.", NULL);
    M.created = metrics_counter("logfleet_coord_leases_created_total",
                                "Leases created by shard sync.", NULL);
    M.cleaned = metrics_counter("logfleet_coord_leases_cleaned_total",
                                "Finished parent leases deleted.", NULL);
}

/* Waits until deadline or until fd is readable; true if readable. */
static bool wait_until(int fd, int64_t deadline)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left < 0) left = 0;
        int r = poll(&pf, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0) return true;
        if (r == 0 && clock_mono_ms() >= deadline) return false;
    }
}

static void poke(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) < 0) {} /* EAGAIN: already readable */
}

/* The next taker interval: (duration + epsilon) * 2, ±10%. */
static int64_t take_interval(struct coordinator *co)
{
    uint64_t x = co->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    co->rng = x;
    int64_t base = (co->cfg->lease_ms + EPSILON_MS) * 2;
    return base * 9 / 10 + (int64_t)(x % (uint64_t)(base / 5 + 1));
}

static void *lease_main(void *arg)
{
    struct coordinator *co = arg;
    int64_t renew_every = co->cfg->lease_ms / 3 - EPSILON_MS;
    if (renew_every < 50) renew_every = 50;
    int64_t next_renew = clock_mono_ms(), next_take = next_renew;
    do {
        struct err e = {0};
        int64_t t = clock_mono_ms();
        if (t >= next_renew) {
            next_renew = t + renew_every;
            if (lease_renew(co->lc, &e) < 0) {
                metrics_counter_inc(M.renew_err);
                log_warn("coord", "renew failed err=\"%s\"", e.msg);
            }
        }
        if (t >= next_take) {
            next_take = clock_mono_ms() + take_interval(co);
            err_clear(&e);
            if (lease_take(co->lc, &e) < 0) {
                metrics_counter_inc(M.take_err);
                log_warn("coord", "take failed err=\"%s\"", e.msg);
            } else {
                atomic_store(&co->ready, true);
            }
        }
        poke(co->notify_fd);
    } while (!wait_until(co->stop_fd, next_renew < next_take ? next_renew : next_take));
    return NULL;
}

/* ListShards -> lease_sync_shards -> lease_cleanup. */
static void sync_once(struct coordinator *co)
{
    struct kin_shard_list l = {0};
    struct err e = {0};
    size_t created = 0, deleted = 0, cleaned = 0;
    int rc = kin_list_shards(co->kin, co->cfg->stream, 0, &l, &e);
    if (rc == 0) {
        struct lease_shard *v = xcalloc(l.n + 1, sizeof *v);
        for (size_t i = 0; i < l.n; i++) {
            const struct kin_shard *s = &l.v[i];
            v[i] = (struct lease_shard){s->id, s->parent[0] ? s->parent : NULL,
                                        s->adjacent_parent[0] ? s->adjacent_parent : NULL,
                                        s->hash_start[0] ? s->hash_start : NULL,
                                        s->hash_end[0] ? s->hash_end : NULL, s->seq_end[0] != 0};
        }
        rc = lease_sync_shards(co->lc, v, l.n, co->cfg->initial_position, &created, &deleted, &e);
        free(v);
    }
    if (rc == 0 && co->cfg->cleanup) rc = lease_cleanup(co->lc, &cleaned, &e);
    if (rc < 0) {
        metrics_counter_inc(M.sync_err);
        log_warn("coord", "shard sync failed stream=%s err=\"%s\"", co->cfg->stream, e.msg);
    } else {
        metrics_counter_inc(M.sync_ok);
        metrics_counter_add(M.created, created);
        metrics_counter_add(M.cleaned, cleaned);
        if (created || deleted || cleaned)
            log_info("coord", "shard sync stream=%s shards=%zu created=%zu deleted=%zu cleaned=%zu",
                     co->cfg->stream, l.n, created, deleted, cleaned);
    }
    kin_shard_list_free(&l);
}

static void *sync_main(void *arg)
{
    struct coordinator *co = arg;
    while (!wait_until(co->stop_sync_fd, clock_mono_ms() + co->cfg->shard_sync_ms)) sync_once(co);
    return NULL;
}

bool coordinator_ready(const struct coordinator *co) { return atomic_load(&co->ready); }

int coordinator_start(const struct coordinator_cfg *cfg, struct lease_coord *lc, int notify_fd,
                      struct coordinator **out, struct err *e)
{
    pthread_once(&metrics_once, metrics_init);
    struct coordinator *co = xcalloc(1, sizeof *co);
    co->cfg = cfg;
    co->lc = lc;
    co->notify_fd = notify_fd;
    co->rng = (uint64_t)clock_mono_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
    if (!co->rng) co->rng = 1;
    co->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    co->stop_sync_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int rc = co->stop_fd < 0 || co->stop_sync_fd < 0 ? -errno : 0;
    if (rc == 0) rc = kin_new(&cfg->kin, &co->kin, e);
    else err_set(e, rc, ERR_PERMANENT, "coordinator: eventfd: %s", strerror(-rc));
    if (rc == 0) {
        sync_once(co);
        rc = -pthread_create(&co->sync_th, NULL, sync_main, co);
        co->sync_running = rc == 0;
        if (rc == 0) pthread_setname_np(co->sync_th, "lf-shardsync");
    }
    if (rc == 0) {
        rc = -pthread_create(&co->lease_th, NULL, lease_main, co);
        co->lease_running = rc == 0;
        if (rc == 0) pthread_setname_np(co->lease_th, "lf-lease");
    }
    if (rc < 0) {
        if (e && !e->code) err_set(e, rc, ERR_PERMANENT, "coordinator: %s", strerror(-rc));
        coordinator_free(co);
        return rc;
    }
    *out = co;
    return 0;
}

void coordinator_stop_sync(struct coordinator *co)
{
    if (!co || !co->sync_running) return;
    poke(co->stop_sync_fd);
    pthread_join(co->sync_th, NULL);
    co->sync_running = false;
}

void coordinator_free(struct coordinator *co)
{
    if (!co) return;
    coordinator_stop_sync(co);
    if (co->lease_running) {
        poke(co->stop_fd);
        pthread_join(co->lease_th, NULL);
    }
    if (co->stop_fd >= 0) close(co->stop_fd);
    if (co->stop_sync_fd >= 0) close(co->stop_sync_fd);
    kin_free(co->kin);
    free(co);
}
