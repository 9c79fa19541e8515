/* kclapp.c — a KCL app's .properties over logfleet.conf, and its multilang
 * processor factory (see kclapp.h). */
#include "worker/kclapp.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "worker/multilang.h"
#include "worker/properties.h"

#define PROPS_MAX (4u << 20)

struct kclapp {
    char *path, *dir;              /* the file and its directory (absolute) */
    struct kcl_props p;
    char **present;                /* keys the file sets */
    size_t npresent;
    char **argv;                   /* executableName, split */
    char *cwd;                     /* child's working directory; NULL: ours */
    char *desc;
    struct proc_factory factory;
};

/* ---- the factory ----------------------------------------------------------- */

static int ml_create(void *ctx, const char *shard_id, int cancel_fd, struct processor *out,
                     struct err *e)
{
    const struct kclapp *a = ctx;
    struct ml_opts o = {
        .argv = (const char *const *)a->argv,
        .cwd = a->cwd,
        .shard_id = shard_id,
        .action_timeout_ms = a->p.timeout_s * 1000,
        .call_empty = a->p.call_process_records_even_for_empty_record_list,
        .cancel_fd = cancel_fd,
    };
    return ml_processor_new(&o, out, e);
}

static pid_t ml_pgid(void *ctx, const struct processor *p)
{
    (void)ctx;
    return ml_processor_pid(p);
}

/* ---- loading ------------------------------------------------------------------ */

static int note_key(void *ctx, const char *key, const char *value, int line, struct err *e)
{
    (void)value, (void)line, (void)e;
    struct kclapp *a = ctx;
    a->present = xrealloc(a->present, (a->npresent + 1) * sizeof *a->present);
    a->present[a->npresent++] = xstrdup(key);
    return 0;
}

static bool has(const struct kclapp *a, const char *key)
{
    for (size_t i = 0; i < a->npresent; i++)
        if (!strcmp(a->present[i], key)) return true;
    return false;
}

/* rel exists from dir (NULL: our working directory). */
static bool exists_from(const char *dir, const char *rel)
{
    struct stat st;
    if (!dir) return stat(rel, &st) == 0;
    char *p = xasprintf("%s/%s", dir, rel);
    bool ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path) path = "/bin:/usr/bin";
    for (const char *d = path;; d++) {
        const char *end = strchrnul(d, ':');
        char *cand = xasprintf("%.*s/%s", (int)(end - d), end > d ? d : ".", name);
        bool ok = access(cand, X_OK) == 0;
        free(cand);
        if (ok) return true;
        if (!*end) return false;
        d = end;
    }
}

/* KCL's rule, plus the properties file's directory as a fallback (kclapp.h). */
static void resolve_cwd(struct kclapp *a)
{
    char here[PATH_MAX];
    if (!getcwd(here, sizeof here) || !strcmp(here, a->dir)) return;
    bool use_dir = false;
    for (size_t i = 0; a->argv[i]; i++) {
        const char *s = a->argv[i];
        if (s[0] == '/' || (i > 0 && s[0] == '-')) continue;
        if (i == 0 && !strchr(s, '/')) {
            if (on_path(s) || !exists_from(a->dir, s)) continue;
            char *dot = xasprintf("./%s", s);
            free(a->argv[0]);
            a->argv[0] = dot;
            use_dir = true;
        } else if (!exists_from(NULL, s) && exists_from(a->dir, s)) {
            use_dir = true;
        }
    }
    if (use_dir) a->cwd = xstrdup(a->dir);
}

static int locate(struct kclapp *a, const char *path, struct err *e)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs)) return err_set(e, -errno, ERR_PERMANENT, "%s: %s", path, strerror(errno));
    a->path = xstrdup(abs);
    char *slash = strrchr(abs, '/');
    if (slash == abs) slash[1] = '\0';
    else *slash = '\0';
    a->dir = xstrdup(abs);
    return 0;
}

static void log_props(const struct kclapp *a)
{
    for (size_t i = 0; i < a->p.n_warnings; i++) log_warn("kclapp", "%s", a->p.warnings[i]);
    for (size_t i = 0; i < a->p.n_unknown; i++)
        log_debug("kclapp", "ignoring key file=%s line=%d key=%s", a->path, a->p.unknown[i].line,
                  a->p.unknown[i].key);
}

int kclapp_load(const char *path, struct kclapp **out, struct err *e)
{
    *out = NULL;
    struct kclapp *a = xcalloc(1, sizeof *a);
    struct buf b;
    buf_init(&b, PROPS_MAX);
    int rc = locate(a, path, e);
    if (rc == 0) rc = buf_read_file(&b, a->path, e);
    if (rc == 0) rc = kcl_props_parse(b.data ? b.data : "", b.len, path, &a->p, e);
    if (rc == 0) rc = kcl_props_scan(b.data ? b.data : "", b.len, path, note_key, a, e);
    if (rc == 0) rc = kcl_props_split_command(a->p.executable_name, &a->argv, e) < 0 ? -EINVAL : 0;
    buf_free(&b);
    if (rc < 0) {
        kclapp_free(a);
        return rc;
    }
    resolve_cwd(a);
    a->desc = xasprintf("cmd=\"%s\" cwd=%s timeout_s=%" PRId64 " properties=%s", a->p.executable_name,
                        a->cwd ? a->cwd : ".", a->p.timeout_s, a->path);
    a->factory = (struct proc_factory){"multilang", ml_create, ml_pgid, a,
                                       a->p.call_process_records_even_for_empty_record_list};
    log_props(a);
    *out = a;
    return 0;
}

void kclapp_free(struct kclapp *a)
{
    if (!a) return;
    kcl_props_free(&a->p);
    for (size_t i = 0; i < a->npresent; i++) free(a->present[i]);
    free(a->present);
    kcl_props_free_argv(a->argv);
    free(a->cwd);
    free(a->desc);
    free(a->path);
    free(a->dir);
    free(a);
}

/* ---- over logfleet.conf -------------------------------------------------------- */

static const char *position(const struct kcl_props *p)
{
    return p->initial_position == KCL_POS_LATEST ? "LATEST"
           : p->initial_position == KCL_POS_AT_TIMESTAMP ? "AT_TIMESTAMP" : "TRIM_HORIZON";
}

static int clamp_int(int64_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

void kclapp_apply(struct kclapp *a, struct daemon_cfg *d)
{
    const struct kcl_props *p = &a->p;
    d->lease.app = p->table_name;
    d->coord.stream = d->consumer.stream = p->stream_name;
    if (p->region_name) d->coord.kin.region = d->consumer.kin.region = p->region_name;
    if (p->kinesis_endpoint) d->coord.kin.endpoint = d->consumer.kin.endpoint = p->kinesis_endpoint;
    if (p->worker_id) d->lease.worker_id = p->worker_id;
    if (has(a, "initialPositionInStream") || has(a, "initialPositionInStreamExtended")) {
        d->coord.initial_position = d->consumer.initial_position = position(p);
        d->consumer.initial_timestamp_s = (double)p->initial_timestamp_ms / 1000.0;
    }
    if (has(a, "failoverTimeMillis")) d->lease.duration_ms = d->coord.lease_ms = p->failover_time_ms;
    if (has(a, "maxRecords")) d->consumer.max_records = (int)p->max_records;
    if (has(a, "idleTimeBetweenReadsInMillis")) d->consumer.idle_ms = p->idle_time_between_reads_ms;
    if (has(a, "shardSyncIntervalMillis")) d->coord.shard_sync_ms = p->shard_sync_interval_ms;
    if (has(a, "shutdownGraceMillis")) d->shutdown_grace_ms = p->shutdown_grace_ms;
    if (has(a, "maxLeasesForWorker"))
        d->lease.max_leases = p->max_leases_for_worker >= INT32_MAX ? 0 : clamp_int(p->max_leases_for_worker);
    if (has(a, "maxLeasesToStealAtOneTime"))
        d->lease.max_steal = clamp_int(p->max_leases_to_steal_at_one_time);
    if (has(a, "isGracefulLeaseHandoffEnabled"))
        d->lease.graceful_handoff = p->graceful_lease_handoff_enabled;
    if (has(a, "gracefulLeaseHandoffTimeoutMillis"))
        d->lease.handoff_timeout_ms = p->graceful_lease_handoff_timeout_ms;
    d->consumer.parent_poll_ms = p->parent_shard_poll_interval_ms;
    d->consumer.task_backoff_ms = p->task_backoff_time_ms;
    d->coord.cleanup = p->cleanup_leases_upon_shard_completion;
    d->consumer.factory = &a->factory;
    d->processor_desc = a->desc;
}

void kclapp_print(FILE *f, const struct kclapp *a)
{
    fprintf(f, "# KCL app %s (keys set there override the settings above)\n", a->path);
    fprintf(f, "#   applicationName = %s\n#   streamName = %s\n", a->p.application_name,
            a->p.stream_name);
    fprintf(f, "#   executableName = %s\n#   child working directory = %s\n",
            a->p.executable_name, a->cwd ? a->cwd : "(logfleetd's)");
    for (size_t i = 0; i < a->npresent; i++) {
        const char *k = a->present[i];
        bool unknown = false;
        for (size_t j = 0; j < a->p.n_unknown && !unknown; j++) unknown = !strcmp(a->p.unknown[j].key, k);
        if (strcmp(k, "executableName") && strcmp(k, "applicationName") && strcmp(k, "streamName"))
            fprintf(f, "#   set: %s%s\n", k, unknown ? " (not a key logfleetd reads: ignored)" : "");
    }
}
