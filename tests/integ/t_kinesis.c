/* t_kinesis.c — common/kinesis against kinesalite behind the SigV4-verifying
 * proxy (KINESIS_ENDPOINT), kinesis-local (KINESIS_LOCAL_ENDPOINT: resharding
 * with UpdateShardCount, ChildShards, paging, AT_TIMESTAMP), and fakehttp for
 * the error classes. */
#include "common/kinesis.h"
#include "common/mem.h"
#include "tests/integ/t_aws_fix.h"
#include "tests/t.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

struct kfix {
    struct aws_creds_provider *cp;
    struct kin *k;
    char stream[96];
};

static void kfix_open(struct kfix *f, const char *endpoint, const char *secret, long timeout_ms,
                      int max_attempts)
{
    af_stack_creds(secret, &f->cp);
    struct err e;
    err_clear(&e);
    struct aws_client_opts o = {.region = t_env("AWS_REGION"), .endpoint = endpoint,
                                .creds = f->cp, .timeout_ms = timeout_ms,
                                .max_attempts = max_attempts, .retry_base_ms = 20,
                                .retry_cap_ms = 200};
    ASSERT_OK(kin_new(&o, &f->k, &e), e);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(f->stream, sizeof f->stream, "t_kin_%d_%ld%09ld", (int)getpid(), (long)ts.tv_sec,
             ts.tv_nsec);
}

static void kfix_close(struct kfix *f)
{
    kin_free(f->k);
    aws_creds_provider_free(f->cp);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wait_active(struct kfix *f, int want_open)
{
    struct kin_stream_summary s = {0};
    struct err e;
    for (int i = 0; i < 200; i++) {
        err_clear(&e);
        if (kin_describe_stream_summary(f->k, f->stream, &s, &e) == 0 &&
            !strcmp(s.status, "ACTIVE") && (want_open == 0 || s.open_shards == want_open))
            return;
        usleep(50 * 1000);
    }
    T_REPORT_("stream %s not ACTIVE with %d open shards: status=%s open=%d err=%s", f->stream,
              want_open, s.status, s.open_shards, e.msg);
    exit(1);
}

/* Creates f's stream with n shards, waits for it, lists its shards into l. */
static void create_stream(struct kfix *f, int n, struct kin_shard_list *l)
{
    struct err e;
    err_clear(&e);
    ASSERT_OK(kin_create_stream(f->k, f->stream, n, &e), e);
    wait_active(f, n);
    ASSERT_OK(kin_list_shards(f->k, f->stream, 0, l, &e), e);
    ASSERT_TRUE(l->n == (size_t)n);
}

/* Sequence numbers are decimal strings of varying length. */
static int seq_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
}

static const struct kin_shard *shard_by_id(const struct kin_shard_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].id, id)) return &l->v[i];
    return NULL;
}

/* Reads a shard from it until no records are left (open shard) or the
 * shard ends (closed); appends copies of the records to a flat log. */
struct readlog {
    char seq[1024][KIN_SEQ_MAX];
    char pk[1024][64];
    unsigned char data[1024][64];
    size_t len[1024];
    long long arrival[1024];
    size_t n;
    int ended;                       /* saw next_iterator == NULL */
    size_t children;                 /* ChildShards in the last answer */
    char child_parent[KIN_SHARD_ID_MAX];
};

static void read_shard(struct kin *k, char *it, int limit, struct readlog *rl)
{
    struct err e;
    err_clear(&e);
    for (int round = 0; round < 200 && it; round++) {
        struct kin_records r;
        ASSERT_OK(kin_get_records(k, it, limit, &r, &e), e);
        free(it);
        it = r.next_iterator ? xstrdup(r.next_iterator) : NULL;
        for (size_t i = 0; i < r.n && rl->n < 1024; i++, rl->n++) {
            strlcpy_(rl->seq[rl->n], r.v[i].seq, KIN_SEQ_MAX);
            strlcpy_(rl->pk[rl->n], r.v[i].partition_key, 64);
            rl->len[rl->n] = r.v[i].len < 64 ? r.v[i].len : 64;
            memcpy(rl->data[rl->n], r.v[i].data, rl->len[rl->n]);
            rl->arrival[rl->n] = r.v[i].arrival_ms;
        }
        rl->children = r.n_children;
        if (r.n_children) strlcpy_(rl->child_parent, r.children[0].parents[0], KIN_SHARD_ID_MAX);
        int idle = r.n == 0 && r.millis_behind == 0;
        kin_records_free(&r);
        if (idle) break; /* an open shard, read to its tip */
    }
    rl->ended = it == NULL;
    free(it);
}

static char *iter(struct kfix *f, const char *shard, enum kin_iter_type t, const char *seq,
                  double ts)
{
    struct kin_iter_from from = {t, seq, ts};
    char *it = NULL;
    struct err e;
    err_clear(&e);
    ASSERT_OK(kin_get_shard_iterator(f->k, f->stream, shard, &from, &it, &e), e);
    ASSERT_TRUE(it != NULL);
    return it;
}

#define NREC 500

struct putset {
    struct kin_put_entry in[NREC];
    struct kin_put_result out[NREC];
    unsigned char data[NREC][24];
    char pk[NREC][24];
};

static void make_records(struct putset *p, int n, int salt)
{
    for (int i = 0; i < n; i++) {
        int m = snprintf((char *)p->data[i], 20, "r%d-%03d:", salt, i);
        p->data[i][m] = 0;               /* binary bytes too */
        p->data[i][m + 1] = 0xff;
        p->data[i][m + 2] = (unsigned char)i;
        snprintf(p->pk[i], sizeof p->pk[i], "key-%d", i % 37);
        p->in[i] = (struct kin_put_entry){p->data[i], (size_t)m + 3, p->pk[i], NULL};
    }
}

/* Every record read from shard sid matches, in order, what was put there. */
static void check_shard_log(const struct putset *p, int n, const char *sid,
                            const struct readlog *rl, size_t *matched)
{
    size_t j = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(p->out[i].shard, sid)) continue;
        if (j >= rl->n) {
            T_REPORT_("shard %s: record %d missing", sid, i);
            return;
        }
        EXPECT_EQ_STR(rl->seq[j], p->out[i].seq);
        EXPECT_EQ_STR(rl->pk[j], p->pk[i]);
        EXPECT_EQ_INT(rl->len[j], p->in[i].len);
        EXPECT_TRUE(memcmp(rl->data[j], p->data[i], p->in[i].len) == 0);
        if (j) EXPECT_TRUE(seq_cmp(rl->seq[j - 1], rl->seq[j]) < 0);
        j++;
    }
    EXPECT_EQ_INT(rl->n, j);
    *matched += j;
}

static void put_all(struct kfix *f, struct putset *p, int n)
{
    struct err e;
    err_clear(&e);
    struct kin_put_retry ro = {.deadline_ms = 20000};
    ASSERT_OK(kin_put_records_all(f->k, f->stream, p->in, (size_t)n, p->out, &ro, &e), e);
    for (int i = 0; i < n; i++) EXPECT_TRUE(p->out[i].seq[0] && p->out[i].shard[0]);
}

static void read_back_everything(struct kfix *f, const struct kin_shard_list *l,
                                 const struct putset *p, double t0, double t1)
{
    size_t matched = 0;
    struct readlog *rl = xcalloc(1, sizeof *rl);
    for (size_t s = 0; s < l->n; s++) {
        memset(rl, 0, sizeof *rl);
        read_shard(f->k, iter(f, l->v[s].id, KIN_TRIM_HORIZON, NULL, 0), 100, rl);
        EXPECT_EQ_INT(rl->ended, 0); /* open shard: an iterator is always handed back */
        check_shard_log(p, NREC, l->v[s].id, rl, &matched);
        for (size_t i = 0; i < rl->n; i++) {
            EXPECT_GE_INT(rl->arrival[i], (long long)(t0 * 1000) - 2000);
            EXPECT_LE_INT(rl->arrival[i], (long long)(t1 * 1000) + 2000);
        }
    }
    EXPECT_EQ_INT(matched, NREC);
    free(rl);
}

/* AT_ and AFTER_SEQUENCE_NUMBER on the k-th record put into shard sid. */
static void check_seq_iterators(struct kfix *f, const struct putset *p, const char *sid)
{
    int idx[NREC], m = 0;
    for (int i = 0; i < NREC; i++)
        if (!strcmp(p->out[i].shard, sid)) idx[m++] = i;
    ASSERT_TRUE(m >= 3);
    int k = m / 2;
    struct readlog *rl = xcalloc(1, sizeof *rl);
    read_shard(f->k, iter(f, sid, KIN_AT_SEQUENCE_NUMBER, p->out[idx[k]].seq, 0), 1000, rl);
    EXPECT_EQ_INT(rl->n, m - k);
    EXPECT_EQ_STR(rl->seq[0], p->out[idx[k]].seq);
    memset(rl, 0, sizeof *rl);
    read_shard(f->k, iter(f, sid, KIN_AFTER_SEQUENCE_NUMBER, p->out[idx[k]].seq, 0), 1000, rl);
    EXPECT_EQ_INT(rl->n, m - k - 1);
    EXPECT_EQ_STR(rl->seq[0], p->out[idx[k + 1]].seq);
    free(rl);
}

/* LATEST sees only what arrives after it was taken. */
static void check_latest(struct kfix *f, const struct kin_shard *sh)
{
    char *it = iter(f, sh->id, KIN_LATEST, NULL, 0);
    struct putset *p = xcalloc(1, sizeof *p);
    make_records(p, 3, 9);
    for (int i = 0; i < 3; i++) p->in[i].explicit_hash_key = sh->hash_start;
    put_all(f, p, 3);
    struct readlog *rl = xcalloc(1, sizeof *rl);
    read_shard(f->k, it, 1000, rl);
    size_t matched = 0;
    check_shard_log(p, 3, sh->id, rl, &matched);
    EXPECT_EQ_INT(matched, 3);
    free(rl);
    free(p);
}

ITEST_T(kin_kinesalite_put_read_iterators, 120)
{
    struct kfix f;
    kfix_open(&f, t_env("KINESIS_ENDPOINT"), NULL, 5000, 3);
    struct err e;
    err_clear(&e);
    struct kin_shard_list l;
    create_stream(&f, 3, &l);
    for (size_t i = 0; i < l.n; i++) EXPECT_EQ_STR(l.v[i].seq_end, "");
    EXPECT_EQ_STR(l.v[0].hash_start, "0");

    struct putset *p = xcalloc(1, sizeof *p);
    make_records(p, NREC, 1);
    double t0 = now_s();
    put_all(&f, p, NREC);
    double t1 = now_s();
    read_back_everything(&f, &l, p, t0, t1);
    check_seq_iterators(&f, p, l.v[1].id);
    check_latest(&f, &l.v[2]);
    free(p);
    kin_shard_list_free(&l);
    ASSERT_OK(kin_delete_stream(f.k, f.stream, &e), e);
    kfix_close(&f);
}

static void split_midpoint(const struct kin_shard *s, char *out, size_t n)
{
    unsigned __int128 a = af_u128(s->hash_start), b = af_u128(s->hash_end);
    af_u128_fmt(a + (b - a) / 2 + 1, out, n);
}

/* The two open children of parent (lower hash range first). */
static void children_of(const struct kin_shard_list *l, const char *parent,
                        const struct kin_shard *c[2])
{
    size_t m = 0;
    for (size_t i = 0; i < l->n && m < 2; i++)
        if (!strcmp(l->v[i].parent, parent)) c[m++] = &l->v[i];
    ASSERT_TRUE(m == 2);
    if (af_u128(c[0]->hash_start) > af_u128(c[1]->hash_start)) {
        const struct kin_shard *t = c[0];
        c[0] = c[1], c[1] = t;
    }
}

ITEST_T(kin_kinesalite_split_merge_and_closed_shard_end, 120)
{
    struct kfix f;
    kfix_open(&f, t_env("KINESIS_ENDPOINT"), NULL, 5000, 3);
    struct err e;
    err_clear(&e);
    struct kin_shard_list l;
    create_stream(&f, 2, &l);
    struct kin_shard s0 = l.v[0];
    kin_shard_list_free(&l);

    struct putset *p = xcalloc(1, sizeof *p);
    make_records(p, 40, 2);
    for (int i = 0; i < 40; i++) p->in[i].explicit_hash_key = s0.hash_start;
    put_all(&f, p, 40);

    char mid[48];
    split_midpoint(&s0, mid, sizeof mid);
    ASSERT_OK(kin_split_shard(f.k, f.stream, s0.id, mid, &e), e);
    wait_active(&f, 3);
    ASSERT_OK(kin_list_shards(f.k, f.stream, 0, &l, &e), e);
    const struct kin_shard *parent = shard_by_id(&l, s0.id), *c[2];
    ASSERT_TRUE(parent != NULL);
    EXPECT_TRUE(parent->seq_end[0] != 0);
    EXPECT_TRUE(seq_cmp(parent->seq_start, parent->seq_end) < 0);
    children_of(&l, s0.id, c);
    EXPECT_EQ_STR(c[1]->hash_start, mid);
    char a[KIN_SHARD_ID_MAX], b[KIN_SHARD_ID_MAX];
    strlcpy_(a, c[0]->id, sizeof a);
    strlcpy_(b, c[1]->id, sizeof b);
    kin_shard_list_free(&l);

    ASSERT_OK(kin_merge_shards(f.k, f.stream, a, b, &e), e);
    wait_active(&f, 2);
    ASSERT_OK(kin_list_shards(f.k, f.stream, 0, &l, &e), e);
    EXPECT_EQ_INT(l.n, 5);
    EXPECT_TRUE(shard_by_id(&l, a) && shard_by_id(&l, a)->seq_end[0]);
    EXPECT_TRUE(shard_by_id(&l, b) && shard_by_id(&l, b)->seq_end[0]);
    const struct kin_shard *merged = NULL;
    for (size_t i = 0; i < l.n; i++)
        if (!strcmp(l.v[i].parent, a)) merged = &l.v[i];
    ASSERT_TRUE(merged != NULL);
    EXPECT_EQ_STR(merged->adjacent_parent, b);
    EXPECT_EQ_STR(merged->seq_end, "");
    EXPECT_EQ_STR(merged->hash_start, s0.hash_start);
    EXPECT_EQ_STR(merged->hash_end, s0.hash_end);
    kin_shard_list_free(&l);

    /* the closed parent reads to its end: every record, then no iterator */
    struct readlog *rl = xcalloc(1, sizeof *rl);
    read_shard(f.k, iter(&f, s0.id, KIN_TRIM_HORIZON, NULL, 0), 7, rl);
    EXPECT_EQ_INT(rl->ended, 1);
    size_t matched = 0;
    check_shard_log(p, 40, s0.id, rl, &matched);
    EXPECT_EQ_INT(matched, 40);
    free(rl);
    free(p);
    ASSERT_OK(kin_delete_stream(f.k, f.stream, &e), e);
    kfix_close(&f);
}

ITEST_T(kin_kinesalite_at_timestamp_hang_is_a_timeout, 60)
{
    struct kfix f;
    kfix_open(&f, t_env("KINESIS_ENDPOINT"), NULL, 1000, 1);
    struct err e;
    err_clear(&e);
    struct kin_shard_list l;
    create_stream(&f, 1, &l);
    struct putset *p = xcalloc(1, sizeof *p);
    make_records(p, 2, 3);
    double before = now_s() - 5;
    put_all(&f, p, 2);

    /* an older timestamp works on kinesalite */
    struct readlog *rl = xcalloc(1, sizeof *rl);
    read_shard(f.k, iter(&f, l.v[0].id, KIN_AT_TIMESTAMP, NULL, before), 100, rl);
    EXPECT_EQ_INT(rl->n, 2);
    free(rl);

    /* after the last record (but not in the future, which it refuses)
     * kinesalite never answers: the client timeout turns that into a
     * RETRY-class error in about timeout_ms */
    usleep(300 * 1000);
    struct kin_iter_from from = {KIN_AT_TIMESTAMP, NULL, now_s() - 0.1};
    char *it = NULL;
    long long t0 = mono_ms();
    err_clear(&e);
    int rc = kin_get_shard_iterator(f.k, f.stream, l.v[0].id, &from, &it, &e);
    long long took = mono_ms() - t0;
    EXPECT_EQ_INT(rc, -ETIMEDOUT);
    EXPECT_EQ_INT(e.cls, ERR_RETRY);
    EXPECT_TRUE(it == NULL);
    EXPECT_GE_INT(took, 900);
    EXPECT_LE_INT(took, 2500);
    EXPECT_CONTAINS(e.msg, "timed out");
    free(p);
    kin_shard_list_free(&l);
    ASSERT_OK(kin_delete_stream(f.k, f.stream, &e), e);
    kfix_close(&f);
}

ITEST_T(kin_wrong_secret_is_invalid_signature, 30)
{
    struct kfix f;
    kfix_open(&f, t_env("KINESIS_ENDPOINT"), "WRONG", 5000, 3);
    struct err e;
    err_clear(&e);
    struct kin_stream_summary s;
    EXPECT_NE_INT(kin_describe_stream_summary(f.k, t_env("STREAM"), &s, &e), 0);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_CONTAINS(e.msg, "InvalidSignatureException");
    kfix_close(&f);
}

ITEST_T(kin_missing_stream_is_not_found, 30)
{
    struct kfix f;
    kfix_open(&f, t_env("KINESIS_ENDPOINT"), NULL, 5000, 3);
    struct err e;
    err_clear(&e);
    struct kin_stream_summary s;
    EXPECT_EQ_INT(kin_describe_stream_summary(f.k, f.stream, &s, &e), KIN_E_NOT_FOUND);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_CONTAINS(e.msg, "ResourceNotFoundException");
    kfix_close(&f);
}

/* ---- kinesis-local: UpdateShardCount, ChildShards, paging, AT_TIMESTAMP -- */

/* Two records, a pause, two more, all into s0: AT_TIMESTAMP between the
 * pairs reads exactly the second pair. */
static void local_at_timestamp(struct kfix *f, const struct kin_shard *s0)
{
    struct putset *p1 = xcalloc(1, sizeof *p1), *p2 = xcalloc(1, sizeof *p2);
    make_records(p1, 2, 5);
    make_records(p2, 2, 6);
    for (int i = 0; i < 2; i++)
        p1->in[i].explicit_hash_key = p2->in[i].explicit_hash_key = s0->hash_start;
    put_all(f, p1, 2);
    usleep(300 * 1000);
    double mid = now_s();
    usleep(300 * 1000);
    put_all(f, p2, 2);
    struct readlog *rl = xcalloc(1, sizeof *rl);
    read_shard(f->k, iter(f, s0->id, KIN_AT_TIMESTAMP, NULL, mid), 100, rl);
    size_t matched = 0;
    check_shard_log(p2, 2, s0->id, rl, &matched);
    EXPECT_EQ_INT(matched, 2);
    for (size_t i = 0; i < rl->n; i++) EXPECT_GE_INT(rl->arrival[i], (long long)(mid * 1000));
    /* after the last record: an iterator with nothing behind it (no hang,
     * unlike kinesalite) */
    usleep(300 * 1000);
    memset(rl, 0, sizeof *rl);
    read_shard(f->k, iter(f, s0->id, KIN_AT_TIMESTAMP, NULL, now_s() - 0.1), 100, rl);
    EXPECT_EQ_INT(rl->n, 0);
    free(rl);
    free(p1);
    free(p2);
}

static void expect_unique_ids(const struct kin_shard_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = i + 1; j < l->n; j++)
            if (!strcmp(l->v[i].id, l->v[j].id)) T_REPORT_("shard %s twice", l->v[i].id);
}

ITEST_T(kin_local_update_shard_count_paging_child_shards, 180)
{
    struct kfix f;
    kfix_open(&f, t_env("KINESIS_LOCAL_ENDPOINT"), NULL, 10000, 3);
    struct err e;
    err_clear(&e);
    struct kin_shard_list l;
    create_stream(&f, 2, &l);
    struct kin_shard s0 = l.v[0];
    kin_shard_list_free(&l);
    local_at_timestamp(&f, &s0);

    ASSERT_OK(kin_update_shard_count(f.k, f.stream, 4, &e), e);
    wait_active(&f, 4);
    struct kin_shard_list all, paged;
    ASSERT_OK(kin_list_shards(f.k, f.stream, 0, &all, &e), e);
    ASSERT_OK(kin_list_shards(f.k, f.stream, 2, &paged, &e), e);
    EXPECT_GE_INT(all.n, 6); /* 2 closed parents + 4 open children */
    EXPECT_EQ_INT(paged.n, all.n);
    EXPECT_GE_INT(paged.pages, (int)(all.n + 1) / 2);
    expect_unique_ids(&paged);
    for (size_t i = 0; i < all.n; i++)
        EXPECT_TRUE(shard_by_id(&paged, all.v[i].id) != NULL);
    const struct kin_shard *p0 = shard_by_id(&all, s0.id);
    ASSERT_TRUE(p0 != NULL);
    EXPECT_TRUE(p0->seq_end[0] != 0);

    /* the end of the closed parent: no iterator, and ChildShards naming it */
    struct readlog *rl = xcalloc(1, sizeof *rl);
    read_shard(f.k, iter(&f, s0.id, KIN_TRIM_HORIZON, NULL, 0), 100, rl);
    EXPECT_EQ_INT(rl->ended, 1);
    EXPECT_EQ_INT(rl->n, 4);
    EXPECT_GE_INT(rl->children, 1);
    EXPECT_EQ_STR(rl->child_parent, s0.id);
    free(rl);
    kin_shard_list_free(&all);
    kin_shard_list_free(&paged);
    ASSERT_OK(kin_delete_stream(f.k, f.stream, &e), e);
    kfix_close(&f);
}

/* ---- error classes, against the scripted fake ---------------------------- */

static struct fakehttp *fake_kin(struct kfix *f)
{
    struct aws_client_opts o;
    struct fakehttp *fh = af_fake(&f->cp, &o);
    struct err e;
    ASSERT_OK(kin_new(&o, &f->k, &e), e);
    return fh;
}

ITEST_T(kin_expired_iterator_has_its_own_code, 30)
{
    struct kfix f;
    struct fakehttp *fh = fake_kin(&f);
    fakehttp_push(fh, 400, NULL,
                  "{\"__type\":\"ExpiredIteratorException\",\"message\":\"Iterator expired\"}");
    struct kin_records r;
    struct err e;
    err_clear(&e);
    EXPECT_EQ_INT(kin_get_records(f.k, "AAAA", 10, &r, &e), KIN_E_EXPIRED_ITERATOR);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_EQ_INT(fakehttp_count(fh), 1);
    const struct fakehttp_req *q = fakehttp_req_at(fh, 0);
    ASSERT_TRUE(q != NULL);
    EXPECT_EQ_STR(q->path, "/");
    EXPECT_EQ_STR(fakehttp_header(q, "X-Amz-Target"), "Kinesis_20131202.GetRecords");
    EXPECT_EQ_STR(fakehttp_header(q, "Content-Type"), "application/x-amz-json-1.1");
    EXPECT_EQ_STR(q->body, "{\"ShardIterator\":\"AAAA\",\"Limit\":10}");
    fakehttp_free(fh);
    kfix_close(&f);
}

ITEST_T(kin_error_codes_callers_act_on, 30)
{
    struct kfix f;
    struct fakehttp *fh = fake_kin(&f);
    fakehttp_push(fh, 400, NULL, "{\"__type\":\"ResourceInUseException\",\"message\":\"busy\"}");
    fakehttp_push(fh, 400, NULL, "{\"__type\":\"ResourceNotFoundException\"}");
    fakehttp_push(fh, 400, NULL, "{\"__type\":\"ValidationException\"}");
    struct err e;
    err_clear(&e);
    EXPECT_EQ_INT(kin_split_shard(f.k, "s", "sh", "1", &e), KIN_E_IN_USE);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_EQ_INT(kin_merge_shards(f.k, "s", "a", "b", &e), KIN_E_NOT_FOUND);
    EXPECT_EQ_INT(kin_update_shard_count(f.k, "s", 4, &e), -EIO);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    EXPECT_EQ_INT(e.http_status, 400);
    const struct fakehttp_req *q = fakehttp_req_at(fh, 2);
    ASSERT_TRUE(q != NULL);
    EXPECT_EQ_STR(fakehttp_header(q, "X-Amz-Target"), "Kinesis_20131202.UpdateShardCount");
    EXPECT_EQ_STR(q->body, "{\"StreamName\":\"s\",\"TargetShardCount\":4,"
                           "\"ScalingType\":\"UNIFORM_SCALING\"}");
    fakehttp_free(fh);
    kfix_close(&f);
}

ITEST_T(kin_shard_iterator_request_bodies, 30)
{
    struct kfix f;
    struct fakehttp *fh = fake_kin(&f);
    for (int i = 0; i < 4; i++) fakehttp_push(fh, 200, NULL, "{\"ShardIterator\":\"IT\"}");
    fakehttp_push(fh, 200, NULL, "{\"ShardIterator\":null}");
    struct kin_iter_from from[5] = {{KIN_TRIM_HORIZON, NULL, 0},
                                    {KIN_AFTER_SEQUENCE_NUMBER, "4968", 0},
                                    {KIN_AT_TIMESTAMP, NULL, 1795303094.725},
                                    {KIN_AT_TIMESTAMP, NULL, 1795303094.0},
                                    {KIN_LATEST, NULL, 0}};
    static const char *const want[4] = {
        "{\"StreamName\":\"s\",\"ShardId\":\"sh\",\"ShardIteratorType\":\"TRIM_HORIZON\"}",
        "{\"StreamName\":\"s\",\"ShardId\":\"sh\",\"ShardIteratorType\":"
        "\"AFTER_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":\"4968\"}",
        "{\"StreamName\":\"s\",\"ShardId\":\"sh\",\"ShardIteratorType\":\"AT_TIMESTAMP\","
        "\"Timestamp\":1795303094.725}",
        "{\"StreamName\":\"s\",\"ShardId\":\"sh\",\"ShardIteratorType\":\"AT_TIMESTAMP\","
        "\"Timestamp\":1795303094.0}"};
    struct err e;
    err_clear(&e);
    for (int i = 0; i < 5; i++) {
        char *it = NULL;
        ASSERT_OK(kin_get_shard_iterator(f.k, "s", "sh", &from[i], &it, &e), e);
        if (i < 4) {
            EXPECT_EQ_STR(it, "IT");
            const struct fakehttp_req *q = fakehttp_req_at(fh, (size_t)i);
            ASSERT_TRUE(q != NULL);
            EXPECT_EQ_STR(q->body, want[i]);
        } else {
            EXPECT_TRUE(it == NULL); /* null iterator: nothing to read */
        }
        free(it);
    }
    /* a sequence-number type without a sequence number never leaves */
    struct kin_iter_from noseq = {KIN_AT_SEQUENCE_NUMBER, NULL, 0};
    char *it = NULL;
    EXPECT_EQ_INT(kin_get_shard_iterator(f.k, "s", "sh", &noseq, &it, &e), -EINVAL);
    EXPECT_EQ_INT(fakehttp_count(fh), 5);
    fakehttp_free(fh);
    kfix_close(&f);
}

ITEST_T(kin_throughput_exceeded_is_retried, 30)
{
    struct kfix f;
    struct fakehttp *fh = fake_kin(&f);
    fakehttp_push(fh, 400, NULL, "{\"__type\":\"ProvisionedThroughputExceededException\"}");
    fakehttp_push(fh, 400, NULL, "{\"__type\":\"LimitExceededException\"}");
    fakehttp_push(fh, 200, NULL, "{\"MillisBehindLatest\":5,\"NextShardIterator\":\"B\","
                                 "\"Records\":[]}");
    struct kin_records r;
    struct err e;
    err_clear(&e);
    ASSERT_OK(kin_get_records(f.k, "A", 0, &r, &e), e);
    EXPECT_EQ_STR(r.next_iterator, "B");
    EXPECT_EQ_INT(r.millis_behind, 5);
    EXPECT_EQ_INT(fakehttp_count(fh), 3);
    kin_records_free(&r);
    fakehttp_free(fh);
    kfix_close(&f);
}

ITEST_T(kin_put_records_all_resends_only_failed_entries, 30)
{
    struct kfix f;
    struct fakehttp *fh = fake_kin(&f);
    fakehttp_push(fh, 200, NULL,
                  "{\"FailedRecordCount\":2,\"Records\":["
                  "{\"SequenceNumber\":\"11\",\"ShardId\":\"shardId-000000000000\"},"
                  "{\"ErrorCode\":\"ProvisionedThroughputExceededException\",\"ErrorMessage\":"
                  "\"slow down\"},"
                  "{\"ErrorCode\":\"InternalFailure\",\"ErrorMessage\":\"oops\"}]}");
    fakehttp_push(fh, 500, NULL, "{\"__type\":\"InternalFailure\"}");
    fakehttp_push(fh, 200, NULL,
                  "{\"FailedRecordCount\":1,\"Records\":["
                  "{\"SequenceNumber\":\"12\",\"ShardId\":\"shardId-000000000001\"},"
                  "{\"ErrorCode\":\"InternalFailure\",\"ErrorMessage\":\"again\"}]}");
    fakehttp_push(fh, 200, NULL,
                  "{\"FailedRecordCount\":0,\"Records\":["
                  "{\"SequenceNumber\":\"13\",\"ShardId\":\"shardId-000000000001\"}]}");
    struct kin_put_entry in[3] = {{"a", 1, "pa", NULL}, {"bb", 2, "pb", NULL},
                                  {"ccc", 3, "pc", "42"}};
    struct kin_put_result out[3];
    struct kin_put_retry ro = {.deadline_ms = 5000, .base_ms = 1, .cap_ms = 5};
    struct err e;
    err_clear(&e);
    ASSERT_OK(kin_put_records_all(f.k, "s", in, 3, out, &ro, &e), e);
    EXPECT_EQ_STR(out[0].seq, "11");
    EXPECT_EQ_STR(out[1].seq, "12");
    EXPECT_EQ_STR(out[2].seq, "13");
    EXPECT_EQ_STR(out[2].error_code, "");
    /* 1 PutRecords + 500 retried inside aws_request + 2 more rounds */
    EXPECT_EQ_INT(fakehttp_count(fh), 4);
    const struct fakehttp_req *q = fakehttp_req_at(fh, 2);
    ASSERT_TRUE(q != NULL);
    EXPECT_EQ_STR(q->body, "{\"StreamName\":\"s\",\"Records\":["
                           "{\"Data\":\"YmI=\",\"PartitionKey\":\"pb\"},"
                           "{\"Data\":\"Y2Nj\",\"PartitionKey\":\"pc\","
                           "\"ExplicitHashKey\":\"42\"}]}");
    q = fakehttp_req_at(fh, 3);
    ASSERT_TRUE(q != NULL);
    EXPECT_EQ_STR(q->body, "{\"StreamName\":\"s\",\"Records\":["
                           "{\"Data\":\"Y2Nj\",\"PartitionKey\":\"pc\","
                           "\"ExplicitHashKey\":\"42\"}]}");
    fakehttp_free(fh);
    kfix_close(&f);
}

static void always_throttle(const struct fakehttp_req *req, struct fakehttp_reply *rep, void *arg)
{
    (void)req, (void)arg;
    rep->status = 200;
    rep->body = "{\"FailedRecordCount\":1,\"Records\":[{\"ErrorCode\":"
                "\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"Rate exceeded\"}]}";
    rep->body_len = FAKEHTTP_STRLEN;
}

ITEST_T(kin_put_records_all_gives_up_at_the_deadline, 30)
{
    struct kfix f;
    struct fakehttp *fh = fake_kin(&f);
    fakehttp_set_handler(fh, always_throttle, NULL);
    struct kin_put_entry in[1] = {{"a", 1, "pa", NULL}};
    struct kin_put_result out[1];
    struct kin_put_retry ro = {.deadline_ms = 300, .base_ms = 10, .cap_ms = 50};
    struct err e;
    err_clear(&e);
    long long t0 = mono_ms();
    EXPECT_EQ_INT(kin_put_records_all(f.k, "s", in, 1, out, &ro, &e), -ETIMEDOUT);
    long long took = mono_ms() - t0;
    EXPECT_EQ_INT(e.cls, ERR_RETRY);
    EXPECT_CONTAINS(e.msg, "ProvisionedThroughputExceededException");
    EXPECT_GE_INT(took, 300);
    EXPECT_LE_INT(took, 1500);
    EXPECT_GE_INT(fakehttp_count(fh), 3);
    EXPECT_EQ_STR(out[0].error_code, "ProvisionedThroughputExceededException");
    fakehttp_free(fh);
    kfix_close(&f);
}

#define SHARD_JSON                                                                      \
    "{\"ShardId\":\"shardId-00000000000%d\",\"HashKeyRange\":{\"StartingHashKey\":"        \
    "\"0\",\"EndingHashKey\":\"1\"},\"SequenceNumberRange\":{"                             \
    "\"StartingSequenceNumber\":\"1\",\"EndingSequenceNumber\":null}}"

ITEST_T(kin_list_shards_sends_no_stream_name_with_next_token, 30)
{
    struct kfix f;
    struct fakehttp *fh = fake_kin(&f);
    char b1[512], b2[512], s1[256], s2[256];
    snprintf(s1, sizeof s1, SHARD_JSON, 0);
    snprintf(s2, sizeof s2, SHARD_JSON, 1);
    snprintf(b1, sizeof b1, "{\"NextToken\":\"T1\",\"Shards\":[%s]}", s1);
    snprintf(b2, sizeof b2, "{\"NextToken\":null,\"Shards\":[%s]}", s2);
    fakehttp_push(fh, 200, NULL, b1);
    fakehttp_push(fh, 200, NULL, b2);
    struct kin_shard_list l;
    struct err e;
    err_clear(&e);
    ASSERT_OK(kin_list_shards(f.k, "logs", 1, &l, &e), e);
    EXPECT_EQ_INT(l.n, 2);
    EXPECT_EQ_INT(l.pages, 2);
    const struct fakehttp_req *q0 = fakehttp_req_at(fh, 0), *q1 = fakehttp_req_at(fh, 1);
    ASSERT_TRUE(q0 && q1);
    EXPECT_EQ_STR(q0->body, "{\"StreamName\":\"logs\",\"MaxResults\":1}");
    EXPECT_EQ_STR(q1->body, "{\"NextToken\":\"T1\",\"MaxResults\":1}");
    kin_shard_list_free(&l);

    /* a server that hands back the same token forever is caught */
    snprintf(b1, sizeof b1, "{\"NextToken\":\"T1\",\"Shards\":[]}");
    fakehttp_push(fh, 200, NULL, b1);
    fakehttp_push(fh, 200, NULL, b1);
    EXPECT_EQ_INT(kin_list_shards(f.k, "logs", 1, &l, &e), -EBADMSG);
    EXPECT_EQ_INT(l.n, 0);
    fakehttp_free(fh);
    kfix_close(&f);
}
