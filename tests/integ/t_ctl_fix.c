/* t_ctl_fix.c — fixtures for the logfleetctl integration tests. */
#include "tests/integ/t_ctl_fix.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"
#include "tests/t.h"

extern char **environ;

static char *slurp(const char *path, size_t *len)
{
    struct buf b;
    struct err e = {0};
    buf_init(&b, (size_t)1 << 30);
    if (buf_read_file(&b, path, &e)) {
        fprintf(stderr, "  %s\n", e.msg);
        exit(1);
    }
    return buf_steal(&b, len);
}

void ctl_run(struct ctl_result *r, const char *in_path, ...)
{
    static int seq;
    char bin[512], outp[512], errp[512];
    snprintf(bin, sizeof bin, "%s/logfleetctl", t_env("LOGFLEET_BIN"));
    t_env("LOGFLEET_CONF");
    snprintf(outp, sizeof outp, "%s/ctl_out.%d", t_tmpdir(), seq);
    snprintf(errp, sizeof errp, "%s/ctl_err.%d", t_tmpdir(), seq++);
    const char *argv[64] = {bin};
    int argc = 1;
    va_list ap;
    va_start(ap, in_path);
    for (const char *a; argc < 63 && (a = va_arg(ap, const char *));) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        fprintf(stderr, "  cannot run %s: %s\n", bin, strerror(rc));
        exit(1);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
    }
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r->out = slurp(outp, &r->out_len);
    r->err = slurp(errp, NULL);
}

void ctl_result_free(struct ctl_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void ctl_unique(const char *prefix, char out[40])
{
    unsigned char b[6];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) exit(1);
    snprintf(out, 40, "%s%02x%02x%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3], b[4], b[5]);
}

/* ---- streams ------------------------------------------------------------------------ */

void ctl_stream_wait(struct ctl_stream *s, int want_open)
{
    struct kin_stream_summary sum = {0};
    struct err e = {0};
    for (int i = 0; i < 400; i++) {
        err_clear(&e);
        if (kin_describe_stream_summary(s->k, s->name, &sum, &e) == 0 &&
            !strcmp(sum.status, "ACTIVE") && (want_open == 0 || sum.open_shards == want_open))
            return;
        usleep(50 * 1000);
    }
    T_REPORT_("stream %s not ACTIVE with %d open shards: status=%s open=%d err=%s", s->name,
              want_open, sum.status, sum.open_shards, e.msg);
    exit(1);
}

void ctl_stream_new(struct ctl_stream *s, int shards)
{
    struct aws_creds_opts co = {.access_key = t_env("AWS_ACCESS_KEY_ID"),
                                .secret_key = t_env("AWS_SECRET_ACCESS_KEY"),
                                .imds_disabled = 1};
    struct err e = {0};
    ASSERT_OK(aws_creds_provider_new(&co, &s->cp, &e), e);
    struct aws_client_opts o = {.region = t_env("AWS_REGION"),
                                .endpoint = t_env("KINESIS_ENDPOINT"),
                                .creds = s->cp,
                                .timeout_ms = 10000,
                                .max_attempts = 3};
    ASSERT_OK(kin_new(&o, &s->k, &e), e);
    char id[40];
    ctl_unique("t_ctl_", id);
    snprintf(s->name, sizeof s->name, "%s", id);
    ASSERT_OK(kin_create_stream(s->k, s->name, shards, &e), e);
    ctl_stream_wait(s, shards);
    setenv("LOGFLEET_KINESIS_STREAM", s->name, 1);
}

void ctl_stream_free(struct ctl_stream *s)
{
    struct err e = {0};
    if (s->k) kin_delete_stream(s->k, s->name, &e);
    kin_free(s->k);
    aws_creds_provider_free(s->cp);
    s->k = NULL;
    s->cp = NULL;
}

static void read_shard(struct ctl_stream *s, const char *shard, struct ctl_rec **v, size_t *n,
                       size_t *cap)
{
    struct kin_iter_from from = {KIN_TRIM_HORIZON, NULL, 0};
    char *it = NULL;
    struct err e = {0};
    ASSERT_OK(kin_get_shard_iterator(s->k, s->name, shard, &from, &it, &e), e);
    for (int round = 0; it && round < 10000; round++) {
        struct kin_records r;
        ASSERT_OK(kin_get_records(s->k, it, 0, &r, &e), e);
        free(it);
        it = r.next_iterator ? xstrdup(r.next_iterator) : NULL;
        for (size_t i = 0; i < r.n; i++) {
            if (*n == *cap) *v = xrealloc(*v, (*cap = *cap ? *cap * 2 : 256) * sizeof **v);
            struct ctl_rec *c = &(*v)[(*n)++];
            c->data = xmalloc(r.v[i].len + 1);
            memcpy(c->data, r.v[i].data, r.v[i].len);
            c->data[r.v[i].len] = 0;
            c->len = r.v[i].len;
            strlcpy_(c->pk, r.v[i].partition_key, sizeof c->pk);
            strlcpy_(c->seq, r.v[i].seq, sizeof c->seq);
            strlcpy_(c->shard, shard, sizeof c->shard);
        }
        bool idle = r.n == 0 && r.millis_behind <= 0;
        kin_records_free(&r);
        if (idle) break; /* an open shard read to its tip */
    }
    free(it);
}

size_t ctl_read_all(struct ctl_stream *s, struct ctl_rec **out)
{
    struct kin_shard_list l = {0};
    struct err e = {0};
    ASSERT_OK(kin_list_shards(s->k, s->name, 0, &l, &e), e);
    struct ctl_rec *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < l.n; i++) read_shard(s, l.v[i].id, &v, &n, &cap);
    kin_shard_list_free(&l);
    *out = v;
    return n;
}

void ctl_recs_free(struct ctl_rec *v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i].data);
    free(v);
}
