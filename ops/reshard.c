/* reshard.c — `logfleetctl reshard`: split, merge or rescale the stream.
 *
 * Thin wrappers over kin_split_shard / kin_merge_shards /
 * kin_update_shard_count.  A split without HASHKEY splits at the midpoint of
 * the shard's hash range, computed on the decimal strings (hash keys go up
 * to 2^128 - 1).  Then, unless --no-wait, waits for the stream to be ACTIVE
 * again and prints its open shards.  The daemons pick the children up
 * themselves (lease/shardsync.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/kinesis.h"
#include "ops/ctl.h"
#include "ops/ctlutil.h"

static const char usage[] =
    "usage: logfleetctl reshard [--stream S] [--no-wait] split SHARD [HASHKEY]\n"
    "       logfleetctl reshard [--stream S] [--no-wait] merge SHARD ADJACENT_SHARD\n"
    "       logfleetctl reshard [--stream S] [--no-wait] count N\n"
    "  split  at HASHKEY (decimal; default the midpoint of SHARD's hash range)\n"
    "  merge  two shards with adjacent hash ranges\n"
    "  count  UpdateShardCount (UNIFORM_SCALING) to N open shards\n"
    "  --stream S  the stream (default kinesis.stream)\n"
    "  --no-wait   do not wait for the stream to be ACTIVE again\n";

#define DEC_MAX 48 /* 2^128 has 39 digits */

/* ---- decimal strings -------------------------------------------------------- */

static bool dec_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 40) return false; /* keeps a sum of two inside DEC_MAX */
    return strspn(s, "0123456789") == n;
}

static const char *dec_trim(const char *s)
{
    while (s[0] == '0' && s[1]) s++;
    return s;
}

static int dec_cmp(const char *a, const char *b)
{
    a = dec_trim(a), b = dec_trim(b);
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) return la < lb ? -1 : 1;
    int c = strcmp(a, b);
    return (c > 0) - (c < 0);
}

/* out = a + b + carry_in (out has DEC_MAX bytes; a, b valid). */
static void dec_add(const char *a, const char *b, int carry, char out[DEC_MAX])
{
    char tmp[DEC_MAX];
    size_t la = strlen(a), lb = strlen(b), k = DEC_MAX - 1;
    tmp[k] = 0;
    for (size_t i = 0; i < la || i < lb || carry; i++) {
        int d = carry + (i < la ? a[la - 1 - i] - '0' : 0) + (i < lb ? b[lb - 1 - i] - '0' : 0);
        tmp[--k] = (char)('0' + d % 10);
        carry = d / 10;
    }
    if (k == DEC_MAX - 1) tmp[--k] = '0';
    memmove(out, tmp + k, DEC_MAX - k);
}

/* out = a / 2, rounded down. */
static void dec_half(const char *a, char out[DEC_MAX])
{
    size_t k = 0;
    int rem = 0;
    for (const char *p = a; *p; p++) {
        int d = rem * 10 + (*p - '0');
        out[k++] = (char)('0' + d / 2);
        rem = d % 2;
    }
    out[k] = 0;
    memmove(out, dec_trim(out), strlen(dec_trim(out)) + 1);
}

/* The first hash key of the upper half of [start, end]: (start + end + 1) / 2. */
static void dec_midpoint(const char *start, const char *end, char out[DEC_MAX])
{
    char sum[DEC_MAX];
    dec_add(start, end, 1, sum);
    dec_half(sum, out);
}

/* ---- the commands ------------------------------------------------------------- */

struct rctx {
    struct kin *k;
    const char *stream;
};

static int print_shards(struct rctx *x, struct err *e)
{
    struct kin_shard_list l = {0};
    if (kin_list_shards(x->k, x->stream, 0, &l, e)) return -1;
    struct ctl_table t;
    ctl_table_init(&t, 5);
    const char *head[] = {"SHARD", "HASH_START", "HASH_END", "PARENT", "ADJACENT_PARENT"};
    ctl_table_add(&t, head);
    size_t open = 0;
    for (size_t i = 0; i < l.n; i++) {
        const struct kin_shard *s = &l.v[i];
        if (s->seq_end[0]) continue;
        const char *row[] = {s->id, s->hash_start, s->hash_end, s->parent[0] ? s->parent : NULL,
                             s->adjacent_parent[0] ? s->adjacent_parent : NULL};
        ctl_table_add(&t, row);
        open++;
    }
    printf("stream %s: %zu open shards\n", x->stream, open);
    ctl_table_print(stdout, &t);
    ctl_table_free(&t);
    kin_shard_list_free(&l);
    return 0;
}

static int wait_active(struct rctx *x, struct err *e)
{
    int64_t deadline = ctl_mono_ms() + 120000;
    for (;;) {
        struct kin_stream_summary s = {0};
        if (kin_describe_stream_summary(x->k, x->stream, &s, e)) return -1;
        if (!strcmp(s.status, "ACTIVE")) return 0;
        if (ctl_mono_ms() > deadline)
            return err_set(e, -1, ERR_RETRY, "stream %s still %s after 120 s", x->stream, s.status);
        nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    }
}

/* The split point: the given key, or the midpoint of the shard's range. */
static int split_key(struct rctx *x, const char *shard, const char *given, char out[DEC_MAX],
                     struct err *e)
{
    struct kin_shard_list l = {0};
    if (kin_list_shards(x->k, x->stream, 0, &l, e)) return -1;
    const struct kin_shard *s = NULL;
    for (size_t i = 0; i < l.n && !s; i++)
        if (!strcmp(l.v[i].id, shard)) s = &l.v[i];
    int rc = 0;
    if (!s)
        rc = err_set(e, KIN_E_NOT_FOUND, ERR_PERMANENT, "no shard %s in %s", shard, x->stream);
    else if (s->seq_end[0])
        rc = err_set(e, -1, ERR_PERMANENT, "shard %s is closed", shard);
    else if (!dec_valid(s->hash_start) || !dec_valid(s->hash_end))
        rc = err_set(e, -1, ERR_PERMANENT, "shard %s: bad hash range", shard);
    else if (given)
        snprintf(out, DEC_MAX, "%s", given);
    else
        dec_midpoint(s->hash_start, s->hash_end, out);
    if (rc == 0 && (dec_cmp(out, s->hash_start) <= 0 || dec_cmp(out, s->hash_end) > 0))
        rc = err_set(e, -1, ERR_PERMANENT, "hash key %s is not inside (%s, %s] of %s", out,
                     s->hash_start, s->hash_end, shard);
    kin_shard_list_free(&l);
    return rc;
}

static int do_split(struct rctx *x, const char *shard, const char *given, struct err *e)
{
    char key[DEC_MAX];
    if (split_key(x, shard, given, key, e) || kin_split_shard(x->k, x->stream, shard, key, e))
        return -1;
    printf("split %s at %s\n", shard, key);
    return 0;
}

static int do_merge(struct rctx *x, const char *a, const char *b, struct err *e)
{
    if (kin_merge_shards(x->k, x->stream, a, b, e)) return -1;
    printf("merge %s + %s\n", a, b);
    return 0;
}

static int do_count(struct rctx *x, int n, struct err *e)
{
    if (kin_update_shard_count(x->k, x->stream, n, e)) return -1;
    printf("update shard count to %d\n", n);
    return 0;
}

/* Checks the verb's arguments: 0, or the usage error (2). */
static int check_args(int n, char **v, int64_t *count)
{
    const char *verb = v[0];
    if (!strcmp(verb, "split")) {
        if (n < 2 || n > 3) return ctl_usage_error("reshard", usage, "split takes SHARD [HASHKEY]");
        if (n == 3 && !dec_valid(v[2]))
            return ctl_usage_error("reshard", usage, "HASHKEY must be decimal digits, got \"%s\"",
                                   v[2]);
    } else if (!strcmp(verb, "merge")) {
        if (n != 3) return ctl_usage_error("reshard", usage, "merge takes SHARD ADJACENT_SHARD");
    } else if (!strcmp(verb, "count")) {
        if (n != 2 || ctl_parse_i64(v[1], 1, 100000, count))
            return ctl_usage_error("reshard", usage, "count takes N, a shard count >= 1");
    } else {
        return ctl_usage_error("reshard", usage, "unknown action \"%s\"", verb);
    }
    return 0;
}

static int run(const struct lf_config *c, const char *stream, bool wait, int n, char **v,
               int64_t count)
{
    struct aws_creds_provider *cp = NULL;
    struct rctx x = {NULL, stream};
    struct err e = {0};
    int rc = ctl_creds_new(c, &cp, &e);
    if (rc == 0) rc = ctl_kin_new(c, cp, &x.k, &e);
    if (rc == 0) {
        if (!strcmp(v[0], "split"))
            rc = do_split(&x, v[1], n == 3 ? v[2] : NULL, &e);
        else if (!strcmp(v[0], "merge"))
            rc = do_merge(&x, v[1], v[2], &e);
        else
            rc = do_count(&x, (int)count, &e);
    }
    if (rc == 0 && wait) rc = wait_active(&x, &e);
    if (rc == 0 && wait) rc = print_shards(&x, &e);
    if (rc) fprintf(stderr, "logfleetctl reshard: %s\n", e.msg);
    kin_free(x.k);
    aws_creds_provider_free(cp);
    return rc ? 1 : 0;
}

static int cmd_reshard(const struct lf_config *c, int argc, char **argv)
{
    static const struct option lo[] = {{"stream", required_argument, NULL, 's'},
                                       {"no-wait", no_argument, NULL, 'n'},
                                       {NULL, 0, NULL, 0}};
    const char *stream = c->kinesis.stream;
    bool wait = true;
    ctl_getopt_reset();
    for (int ch; (ch = getopt_long(argc, argv, "+:", lo, NULL)) != -1;) {
        if (ch == 's')
            stream = optarg;
        else if (ch == 'n')
            wait = false;
        else
            return ctl_bad_option(usage, ch, argv);
    }
    if (optind >= argc) return ctl_usage_error(argv[0], usage, "an action is missing");
    if (!*stream) return ctl_usage_error(argv[0], usage, "no stream (--stream or kinesis.stream)");
    int64_t count = 0;
    int rc = check_args(argc - optind, argv + optind, &count);
    return rc ? rc : run(c, stream, wait, argc - optind, argv + optind, count);
}

CTL_COMMAND(reshard, "reshard", true, cmd_reshard,
            "split / merge shards or set the shard count of the stream")
