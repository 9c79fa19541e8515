/* kpl.c — KPL aggregate de-aggregation and building, over protobuf-c. */
#include "worker/kpl.h"

#include "common/mem.h"
#include "worker/kpl.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static const unsigned char magic[KPL_MAGIC_LEN] = {0xF3, 0x89, 0x9A, 0xC2};

/* protobuf-c allocations abort on OOM like the rest of logfleet, so a decode
 * failure always means corrupt bytes, never memory pressure. */
static void *pb_alloc(void *ud, size_t n)
{
    (void)ud;
    return xmalloc(n);
}

static void pb_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

static int md5(const void *p, size_t n, unsigned char out[KPL_MD5_LEN])
{
    unsigned int len = 0;
    if (EVP_Digest(p, n, out, &len, EVP_md5(), NULL) != 1 || len != KPL_MD5_LEN) return -1;
    return 0;
}

int kpl_is_aggregated(const void *p, size_t n)
{
    /* KCL's rule: the magic, then more than an MD5's worth of bytes. */
    return n > KPL_MAGIC_LEN + KPL_MD5_LEN && memcmp(p, magic, KPL_MAGIC_LEN) == 0;
}

void kpl_result_free(struct kpl_result *r)
{
    if (!r) return;
    if (r->msg) protobuf_c_message_free_unpacked(r->msg, &pb_allocator);
    free(r->recs);
    memset(r, 0, sizeof *r);
}

/* Checks every index and fills out->recs from the decoded message. */
static int fill_records(const Kpl__AggregatedRecord *m, struct kpl_result *out, struct err *e)
{
    if (m->n_records == 0) return err_set(e, -EBADMSG, ERR_PERMANENT, "kpl: aggregate has no records");
    out->recs = xcalloc(m->n_records, sizeof *out->recs);
    for (size_t i = 0; i < m->n_records; i++) {
        const Kpl__Record *r = m->records[i];
        if (r->partition_key_index >= m->n_partition_key_table)
            return err_set(e, -EBADMSG, ERR_PERMANENT,
                           "kpl: partition_key_index %llu out of range (%zu keys) in record %zu",
                           (unsigned long long)r->partition_key_index,
                           m->n_partition_key_table, i);
        if (r->has_explicit_hash_key_index &&
            r->explicit_hash_key_index >= m->n_explicit_hash_key_table)
            return err_set(e, -EBADMSG, ERR_PERMANENT,
                           "kpl: explicit_hash_key_index %llu out of range (%zu keys) in record %zu",
                           (unsigned long long)r->explicit_hash_key_index,
                           m->n_explicit_hash_key_table, i);
        struct kpl_user_record *u = &out->recs[i];
        u->partition_key = m->partition_key_table[r->partition_key_index];
        u->explicit_hash_key = r->has_explicit_hash_key_index
                                   ? m->explicit_hash_key_table[r->explicit_hash_key_index]
                                   : NULL;
        u->data = r->data.data ? (const void *)r->data.data : (const void *)"";
        u->len = r->data.len;
        u->subseq = i;
    }
    out->n = m->n_records;
    return 0;
}

int kpl_deaggregate(const void *p, size_t n, struct kpl_result *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (!kpl_is_aggregated(p, n))
        return err_set(e, -EBADMSG, ERR_PERMANENT, "kpl: not an aggregate (%zu bytes)", n);
    const unsigned char *body = (const unsigned char *)p + KPL_MAGIC_LEN;
    size_t blen = n - KPL_MAGIC_LEN - KPL_MD5_LEN;
    unsigned char sum[KPL_MD5_LEN];
    if (md5(body, blen, sum) != 0)
        return err_set(e, -EIO, ERR_PERMANENT, "kpl: md5 unavailable in libcrypto");
    if (memcmp(sum, body + blen, KPL_MD5_LEN) != 0)
        return err_set(e, -EBADMSG, ERR_PERMANENT, "kpl: md5 mismatch");
    Kpl__AggregatedRecord *m = kpl__aggregated_record__unpack(&pb_allocator, blen, body);
    if (!m)
        return err_set(e, -EBADMSG, ERR_PERMANENT, "kpl: protobuf decode failed (%zu bytes)", blen);
    out->msg = m;
    int rc = fill_records(m, out, e);
    if (rc != 0) kpl_result_free(out);
    return rc;
}

/* A string → index table for the partition / explicit hash key tables:
 * open addressing over FNV-1a, so building stays linear in n. */
struct keytab {
    char **keys;      /* distinct keys in first-seen order (borrowed) */
    size_t n;
    size_t *slots;    /* index + 1; 0 = empty */
    size_t cap;       /* power of two, > 2 * max keys */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void keytab_init(struct keytab *t, size_t max)
{
    t->cap = 16;
    while (t->cap < 2 * max + 1) t->cap *= 2;
    t->keys = xcalloc(max ? max : 1, sizeof *t->keys);
    t->slots = xcalloc(t->cap, sizeof *t->slots);
    t->n = 0;
}

static void keytab_free(struct keytab *t)
{
    free(t->keys);
    free(t->slots);
}

static size_t keytab_index(struct keytab *t, const char *key)
{
    size_t i = (size_t)fnv1a(key) & (t->cap - 1);
    while (t->slots[i]) {
        if (strcmp(t->keys[t->slots[i] - 1], key) == 0) return t->slots[i] - 1;
        i = (i + 1) & (t->cap - 1);
    }
    t->keys[t->n] = (char *)key;   /* protobuf-c's field is non-const; pack only reads */
    t->slots[i] = ++t->n;
    return t->n - 1;
}

/* Packs m with magic and MD5 into out; the caller's tables stay borrowed. */
static int pack_framed(const Kpl__AggregatedRecord *m, struct buf *out, struct err *e)
{
    size_t plen = kpl__aggregated_record__get_packed_size(m);
    size_t total = KPL_MAGIC_LEN + plen + KPL_MD5_LEN;   /* plen < input size: no overflow */
    unsigned char *w = (unsigned char *)buf_reserve(out, total);
    if (!w)
        return err_set(e, -E2BIG, ERR_PERMANENT,
                       "kpl: aggregate of %zu bytes passes the buffer maximum", total);
    memcpy(w, magic, KPL_MAGIC_LEN);
    kpl__aggregated_record__pack(m, w + KPL_MAGIC_LEN);
    if (md5(w + KPL_MAGIC_LEN, plen, w + KPL_MAGIC_LEN + plen) != 0)
        return err_set(e, -EIO, ERR_PERMANENT, "kpl: md5 unavailable in libcrypto");
    out->len += total;
    out->data[out->len] = 0;
    return 0;
}

int kpl_aggregate(const struct kpl_record_in *recs, size_t n, struct buf *out, struct err *e)
{
    if (n == 0) return err_set(e, -EINVAL, ERR_PERMANENT, "kpl: cannot aggregate zero records");
    for (size_t i = 0; i < n; i++)
        if (!recs[i].partition_key)
            return err_set(e, -EINVAL, ERR_PERMANENT, "kpl: record %zu has no partition key", i);
    struct keytab pk, ehk;
    keytab_init(&pk, n);
    keytab_init(&ehk, n);
    Kpl__Record *rs = xcalloc(n, sizeof *rs);
    Kpl__Record **rp = xcalloc(n, sizeof *rp);
    for (size_t i = 0; i < n; i++) {
        kpl__record__init(&rs[i]);
        rs[i].partition_key_index = keytab_index(&pk, recs[i].partition_key);
        if (recs[i].explicit_hash_key) {
            rs[i].has_explicit_hash_key_index = 1;
            rs[i].explicit_hash_key_index = keytab_index(&ehk, recs[i].explicit_hash_key);
        }
        rs[i].data.data = (uint8_t *)recs[i].data;   /* pack only reads */
        rs[i].data.len = recs[i].len;
        rp[i] = &rs[i];
    }
    Kpl__AggregatedRecord m;
    kpl__aggregated_record__init(&m);
    m.n_partition_key_table = pk.n;
    m.partition_key_table = pk.keys;
    m.n_explicit_hash_key_table = ehk.n;
    m.explicit_hash_key_table = ehk.keys;
    m.n_records = n;
    m.records = rp;
    int rc = pack_framed(&m, out, e);
    free(rp);
    free(rs);
    keytab_free(&pk);
    keytab_free(&ehk);
    return rc;
}
