/* t_kpl.c — KPL aggregates: wire bytes, round trips, and each corruption. */
#include "common/buf.h"
#include "common/mem.h"
#include "tests/t.h"
#include "worker/kpl.h"
#include "worker/kpl.pb-c.h"

#include <errno.h>
#include <openssl/evp.h>

/* Frames arbitrary protobuf bytes as an aggregate: magic, body, md5(body). */
static void frame(const void *body, size_t blen, struct buf *out)
{
    static const unsigned char magic[4] = {0xF3, 0x89, 0x9A, 0xC2};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ASSERT_TRUE(EVP_Digest(body, blen, md, &mdlen, EVP_md5(), NULL) == 1);
    buf_init(out, 1 << 20);
    buf_append(out, magic, 4);
    buf_append(out, body, blen);
    buf_append(out, md, mdlen);
}

/* Packs a hand-built message (so tests can write what kpl_aggregate won't). */
static void frame_msg(const Kpl__AggregatedRecord *m, struct buf *out)
{
    size_t n = kpl__aggregated_record__get_packed_size(m);
    uint8_t *b = xmalloc(n);
    kpl__aggregated_record__pack(m, b);
    frame(b, n, out);
    free(b);
}

static void expect_reject(const struct buf *agg, const char *reason)
{
    struct kpl_result r;
    struct err e = {0};
    EXPECT_EQ_INT(kpl_deaggregate(agg->data, agg->len, &r, &e), -EBADMSG);
    EXPECT_EQ_STR(err_class_name(e.cls), "permanent");
    EXPECT_CONTAINS(e.msg, reason);
    EXPECT_EQ_INT(r.n, 0);
    EXPECT_TRUE(r.recs == NULL && r.msg == NULL);
}

TEST(kpl_wire_bytes_match_kpl_format)
{
    /* Written by hand from the protobuf encoding rules: table key "pk",
     * one Record {partition_key_index: 0, data: "hi"}. */
    static const unsigned char want[] = {0x0a, 0x02, 'p', 'k', 0x1a, 0x06, 0x08,
                                         0x00, 0x1a, 0x02, 'h',  'i'};
    struct buf exp, got;
    struct err e = {0};
    frame(want, sizeof want, &exp);
    buf_init(&got, 1 << 20);
    struct kpl_record_in in = {"pk", NULL, "hi", 2};
    ASSERT_OK(kpl_aggregate(&in, 1, &got, &e), e);
    EXPECT_EQ_INT(got.len, exp.len);
    EXPECT_TRUE(got.len == exp.len && memcmp(got.data, exp.data, exp.len) == 0);
    EXPECT_EQ_INT(kpl_is_aggregated(got.data, got.len), 1);
    buf_free(&exp);
    buf_free(&got);
}

/* Aggregates n records (keys cycle over 7, every third has an explicit hash
 * key, sizes vary, record 0 may be empty) and checks the round trip. */
static void round_trip(size_t n)
{
    struct kpl_record_in *in = xcalloc(n, sizeof *in);
    char **keys = xcalloc(n, sizeof *keys), **data = xcalloc(n, sizeof *data);
    for (size_t i = 0; i < n; i++) {
        keys[i] = xasprintf("user-%zu", i % 7);
        data[i] = xasprintf("{\"type\":\"login\",\"i\":%zu,\"pad\":\"%.*s\"}", i, (int)(i % 50),
                            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        in[i] = (struct kpl_record_in){keys[i], i % 3 == 0 ? "170141183460469231731687303715884105728" : NULL,
                                       data[i], strlen(data[i])};
    }
    struct buf agg;
    struct err e = {0};
    buf_init(&agg, 1 << 20);
    ASSERT_OK(kpl_aggregate(in, n, &agg, &e), e);
    ASSERT_TRUE(kpl_is_aggregated(agg.data, agg.len));

    struct kpl_result r;
    ASSERT_OK(kpl_deaggregate(agg.data, agg.len, &r, &e), e);
    EXPECT_EQ_INT(r.n, n);
    for (size_t i = 0; i < r.n && i < n; i++) {
        EXPECT_EQ_STR(r.recs[i].partition_key, keys[i]);
        if (in[i].explicit_hash_key) EXPECT_EQ_STR(r.recs[i].explicit_hash_key, in[i].explicit_hash_key);
        else EXPECT_TRUE(r.recs[i].explicit_hash_key == NULL);
        EXPECT_EQ_INT(r.recs[i].len, in[i].len);
        EXPECT_TRUE(memcmp(r.recs[i].data, data[i], in[i].len) == 0);
        EXPECT_EQ_INT(r.recs[i].subseq, i);
    }
    /* Keys are stored once: the table has min(n, 7) partition keys. */
    Kpl__AggregatedRecord *m = r.msg;
    EXPECT_EQ_INT(m->n_partition_key_table, n < 7 ? n : 7);
    EXPECT_EQ_INT(m->n_explicit_hash_key_table, 1);
    kpl_result_free(&r);
    EXPECT_TRUE(r.recs == NULL && r.n == 0);
    kpl_result_free(&r);   /* twice is harmless */
    for (size_t i = 0; i < n; i++) free(keys[i]), free(data[i]);
    free(keys), free(data), free(in);
    buf_free(&agg);
}

TEST(kpl_round_trip_1) { round_trip(1); }
TEST(kpl_round_trip_3) { round_trip(3); }
TEST(kpl_round_trip_500) { round_trip(500); }

TEST(kpl_round_trip_empty_and_binary_data)
{
    unsigned char bin[256];
    for (int i = 0; i < 256; i++) bin[i] = (unsigned char)i;
    struct kpl_record_in in[2] = {{"a", NULL, "", 0}, {"b", NULL, bin, sizeof bin}};
    struct buf agg;
    struct err e = {0};
    struct kpl_result r;
    buf_init(&agg, 1 << 20);
    ASSERT_OK(kpl_aggregate(in, 2, &agg, &e), e);
    ASSERT_OK(kpl_deaggregate(agg.data, agg.len, &r, &e), e);
    ASSERT_TRUE(r.n == 2);
    EXPECT_EQ_INT(r.recs[0].len, 0);
    EXPECT_TRUE(r.recs[0].data != NULL);
    EXPECT_EQ_INT(r.recs[1].len, 256);
    EXPECT_TRUE(memcmp(r.recs[1].data, bin, 256) == 0);
    kpl_result_free(&r);
    buf_free(&agg);
}

TEST(kpl_plain_records_are_not_aggregates)
{
    struct kpl_result r;
    struct err e = {0};
    EXPECT_EQ_INT(kpl_is_aggregated("{\"type\":\"login\"}", 16), 0);
    EXPECT_EQ_INT(kpl_is_aggregated("", 0), 0);
    /* Magic followed by no more than an MD5's worth: KCL delivers it plain. */
    unsigned char shortagg[20] = {0xF3, 0x89, 0x9A, 0xC2};
    EXPECT_EQ_INT(kpl_is_aggregated(shortagg, sizeof shortagg), 0);
    EXPECT_EQ_INT(kpl_deaggregate(shortagg, sizeof shortagg, &r, &e), -EBADMSG);
    EXPECT_CONTAINS(e.msg, "kpl: not an aggregate (20 bytes)");
    EXPECT_EQ_INT(kpl_deaggregate("{\"a\":1} and more text", 22, &r, &e), -EBADMSG);
    EXPECT_CONTAINS(e.msg, "not an aggregate");
}

TEST(kpl_rejects_md5_mismatch)
{
    struct kpl_record_in in[2] = {{"a", NULL, "one", 3}, {"b", NULL, "two", 3}};
    struct buf agg;
    struct err e = {0};
    buf_init(&agg, 1 << 20);
    ASSERT_OK(kpl_aggregate(in, 2, &agg, &e), e);
    agg.data[agg.len - 1] ^= 0x01;          /* the digest itself */
    expect_reject(&agg, "kpl: md5 mismatch");
    agg.data[agg.len - 1] ^= 0x01;
    agg.data[agg.len - 17] ^= 0x40;         /* the last protobuf byte */
    expect_reject(&agg, "kpl: md5 mismatch");
    buf_free(&agg);
}

TEST(kpl_rejects_protobuf_garbage)
{
    /* Field 3 (records) claims 5 bytes but 1 follows; then a missing required
     * field (Record without data); then a wire type that is not protobuf. */
    static const unsigned char truncated[] = {0x0a, 0x01, 'k', 0x1a, 0x05, 0x08};
    static const unsigned char no_data[] = {0x0a, 0x01, 'k', 0x1a, 0x02, 0x08, 0x00};
    static const unsigned char bad_wire[] = {0x0f, 0xff, 0xff, 0xff, 0xff};
    const unsigned char *cases[] = {truncated, no_data, bad_wire};
    size_t lens[] = {sizeof truncated, sizeof no_data, sizeof bad_wire};
    for (int i = 0; i < 3; i++) {
        struct buf agg;
        frame(cases[i], lens[i], &agg);
        expect_reject(&agg, "kpl: protobuf decode failed");
        buf_free(&agg);
    }
}

TEST(kpl_rejects_partition_key_index_out_of_range)
{
    char *keys[3] = {"a", "b", "c"};
    Kpl__Record r0 = KPL__RECORD__INIT, r1 = KPL__RECORD__INIT;
    r0.partition_key_index = 2;
    r0.data = (ProtobufCBinaryData){1, (uint8_t *)"x"};
    r1.partition_key_index = 7;
    r1.data = (ProtobufCBinaryData){1, (uint8_t *)"y"};
    Kpl__Record *rs[2] = {&r0, &r1};
    Kpl__AggregatedRecord m = KPL__AGGREGATED_RECORD__INIT;
    m.n_partition_key_table = 3;
    m.partition_key_table = keys;
    m.n_records = 2;
    m.records = rs;
    struct buf agg;
    frame_msg(&m, &agg);
    expect_reject(&agg, "kpl: partition_key_index 7 out of range (3 keys) in record 1");
    buf_free(&agg);
}

TEST(kpl_rejects_explicit_hash_key_index_out_of_range)
{
    char *keys[1] = {"a"};
    Kpl__Record r0 = KPL__RECORD__INIT;
    r0.data = (ProtobufCBinaryData){1, (uint8_t *)"x"};
    r0.has_explicit_hash_key_index = 1;
    r0.explicit_hash_key_index = 0;     /* table is empty */
    Kpl__Record *rs[1] = {&r0};
    Kpl__AggregatedRecord m = KPL__AGGREGATED_RECORD__INIT;
    m.n_partition_key_table = 1;
    m.partition_key_table = keys;
    m.n_records = 1;
    m.records = rs;
    struct buf agg;
    frame_msg(&m, &agg);
    expect_reject(&agg, "kpl: explicit_hash_key_index 0 out of range (0 keys) in record 0");
    buf_free(&agg);
}

TEST(kpl_rejects_empty_records)
{
    char *keys[2] = {"a", "b"};
    Kpl__AggregatedRecord m = KPL__AGGREGATED_RECORD__INIT;
    m.n_partition_key_table = 2;
    m.partition_key_table = keys;
    struct buf agg;
    frame_msg(&m, &agg);
    expect_reject(&agg, "kpl: aggregate has no records");
    buf_free(&agg);
}

TEST(kpl_aggregate_refuses_bad_input_and_respects_max)
{
    struct kpl_record_in in[2] = {{"a", NULL, "one", 3}, {NULL, NULL, "two", 3}};
    struct buf out;
    struct err e = {0};
    buf_init(&out, 64);
    buf_puts(&out, "keep");
    EXPECT_EQ_INT(kpl_aggregate(in, 0, &out, &e), -EINVAL);
    EXPECT_EQ_INT(kpl_aggregate(in, 2, &out, &e), -EINVAL);
    EXPECT_CONTAINS(e.msg, "record 1 has no partition key");
    char big[100] = {0};
    struct kpl_record_in one = {"k", NULL, big, sizeof big};
    EXPECT_EQ_INT(kpl_aggregate(&one, 1, &out, &e), -E2BIG);
    EXPECT_EQ_STR(out.data, "keep");
    EXPECT_EQ_INT(out.len, 4);
    /* Appends after what is there. */
    ASSERT_OK(kpl_aggregate(in, 1, &out, &e), e);
    EXPECT_TRUE(kpl_is_aggregated(out.data + 4, out.len - 4));
    buf_free(&out);
}
