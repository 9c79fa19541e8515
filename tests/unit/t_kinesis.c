/* t_kinesis.c — base64 decoding and the ListShards / GetRecords parsers,
 * fed the stand-ins' shapes (kinesis-local writes explicit nulls). */
#include "common/kinesis.h"
#include "common/mem.h"
#include "tests/t.h"

#include <errno.h>

#include <openssl/evp.h>

static long dec(const char *in, unsigned char *out)
{
    return kin_base64_decode(in, strlen(in), out);
}

TEST(kin_base64_rfc4648_vectors)
{
    static const char *const v[][2] = {{"", ""},         {"Zg==", "f"},     {"Zm8=", "fo"},
                                       {"Zm9v", "foo"},  {"Zm9vYg==", "foob"},
                                       {"Zm9vYmE=", "fooba"}, {"Zm9vYmFy", "foobar"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        unsigned char out[16] = {0};
        long n = dec(v[i][0], out);
        EXPECT_EQ_INT(n, strlen(v[i][1]));
        EXPECT_EQ_STR((char *)out, v[i][1]);
    }
}

TEST(kin_base64_all_bytes_roundtrip)
{
    unsigned char raw[256], back[256 + 3];
    char enc[4 * 86 + 1];
    for (int i = 0; i < 256; i++) raw[i] = (unsigned char)(255 - i);
    for (int len = 0; len <= 256; len += 1) {
        int m = EVP_EncodeBlock((unsigned char *)enc, raw, len);
        EXPECT_LE_INT(kin_base64_decoded_max((size_t)m), sizeof back);
        long n = kin_base64_decode(enc, (size_t)m, back);
        EXPECT_EQ_INT(n, len);
        if (n == len) EXPECT_TRUE(memcmp(raw, back, (size_t)len) == 0);
    }
}

TEST(kin_base64_refuses_invalid)
{
    static const char *const bad[] = {
        "Zg",       /* no padding */
        "Zg=",      /* short */
        "Zm9vY",    /* length not a multiple of 4 */
        "Zm9v\n",   /* whitespace */
        "Zm 9",     /* space */
        "Zm9-",     /* url-safe alphabet */
        "Zm9_",     /* url-safe alphabet */
        "Zg==Zg==", /* padding in the middle */
        "Z===",     /* too much padding */
        "====",     /* only padding */
        "Zg=a",     /* '=' then data */
        "Zh==",     /* non-zero bits under the padding */
        "Zm9=",     /* non-zero bits under the padding */
        "Zm9v\x80xyz",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char out[16];
        long n = dec(bad[i], out);
        if (n != -EINVAL) T_REPORT_("\"%s\" gave %ld, want -EINVAL", bad[i], n);
    }
    unsigned char out[4];
    EXPECT_EQ_INT(kin_base64_decode("Zm\0v", 4, out), -EINVAL);
}

/* A kinesis-local ListShards page: explicit nulls everywhere. */
static const char shards_local[] =
    "{\"NextToken\":null,\"Shards\":["
    "{\"AdjacentParentShardId\":null,\"HashKeyRange\":{\"EndingHashKey\":"
    "\"170141183460469231731687303715884105726\",\"StartingHashKey\":\"0\"},"
    "\"ParentShardId\":null,\"SequenceNumberRange\":{\"EndingSequenceNumber\":"
    "\"9223372036854775807\",\"StartingSequenceNumber\":\"4968\"},\"ShardId\":"
    "\"shardId-000000000000\"},"
    "{\"AdjacentParentShardId\":\"shardId-000000000002\",\"HashKeyRange\":{\"EndingHashKey\":"
    "\"340282366920938463463374607431768211455\",\"StartingHashKey\":"
    "\"170141183460469231731687303715884105727\"},\"ParentShardId\":\"shardId-000000000001\","
    "\"SequenceNumberRange\":{\"EndingSequenceNumber\":null,\"StartingSequenceNumber\":"
    "\"4969\"},\"ShardId\":\"shardId-000000000003\"}]}";

TEST(kin_parse_shards_with_explicit_nulls)
{
    struct kin_shard_list l = {0};
    char *next = (char *)"sentinel";
    struct err e;
    err_clear(&e);
    ASSERT_OK(kin_parse_shards(shards_local, strlen(shards_local), &l, &next, &e), e);
    EXPECT_TRUE(next == NULL);
    ASSERT_TRUE(l.n == 2);
    EXPECT_EQ_STR(l.v[0].id, "shardId-000000000000");
    EXPECT_EQ_STR(l.v[0].parent, "");
    EXPECT_EQ_STR(l.v[0].adjacent_parent, "");
    EXPECT_EQ_STR(l.v[0].hash_start, "0");
    EXPECT_EQ_STR(l.v[0].hash_end, "170141183460469231731687303715884105726");
    EXPECT_EQ_STR(l.v[0].seq_start, "4968");
    EXPECT_EQ_STR(l.v[0].seq_end, "9223372036854775807");
    EXPECT_EQ_STR(l.v[1].id, "shardId-000000000003");
    EXPECT_EQ_STR(l.v[1].parent, "shardId-000000000001");
    EXPECT_EQ_STR(l.v[1].adjacent_parent, "shardId-000000000002");
    EXPECT_EQ_STR(l.v[1].seq_end, "");

    /* a second page appends; its token is returned */
    const char *page2 = "{\"NextToken\":\"s::shardId-000000000004\",\"Shards\":[{\"ShardId\":"
                        "\"shardId-000000000004\",\"HashKeyRange\":{\"StartingHashKey\":\"1\","
                        "\"EndingHashKey\":\"2\"},\"SequenceNumberRange\":{"
                        "\"StartingSequenceNumber\":\"5\"}}]}";
    ASSERT_OK(kin_parse_shards(page2, strlen(page2), &l, &next, &e), e);
    EXPECT_EQ_INT(l.n, 3);
    EXPECT_EQ_STR(next, "s::shardId-000000000004");
    EXPECT_EQ_STR(l.v[2].id, "shardId-000000000004");
    free(next);
    kin_shard_list_free(&l);
}

TEST(kin_parse_shards_refuses_malformed)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"Shards\":{}}",
        "{\"Shards\":[1]}",
        "{\"NextToken\":5,\"Shards\":[]}",
        "{\"Shards\":[{\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"1\"},"
        "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\"}}]}", /* no ShardId */
        "{\"Shards\":[{\"ShardId\":7,\"HashKeyRange\":{\"StartingHashKey\":\"0\","
        "\"EndingHashKey\":\"1\"},\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\"}}]}",
        "{\"Shards\":[{\"ShardId\":\"s\",\"SequenceNumberRange\":{\"StartingSequenceNumber\":"
        "\"1\"}}]}", /* no HashKeyRange */
        "{\"Shards\":[{\"ShardId\":\"s\",\"HashKeyRange\":{\"StartingHashKey\":\"0\","
        "\"EndingHashKey\":null},\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\"}}]}",
        "{\"Shards\":[],\"Shards\":[]}", /* duplicate key */
        "{\"Shards\":[]", /* truncated */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kin_shard_list l = {0};
        char *next = NULL;
        struct err e;
        err_clear(&e);
        int rc = kin_parse_shards(bad[i], strlen(bad[i]), &l, &next, &e);
        if (rc != -EBADMSG || e.cls != ERR_PERMANENT)
            T_REPORT_("accepted (rc=%d): %s", rc, bad[i]);
        free(next);
        kin_shard_list_free(&l);
    }
    /* an over-long sequence number is refused, not truncated */
    char big[512];
    char digits[KIN_SEQ_MAX + 1];
    memset(digits, '9', KIN_SEQ_MAX);
    digits[KIN_SEQ_MAX] = 0;
    snprintf(big, sizeof big,
             "{\"Shards\":[{\"ShardId\":\"s\",\"HashKeyRange\":{\"StartingHashKey\":\"0\","
             "\"EndingHashKey\":\"1\"},\"SequenceNumberRange\":{\"StartingSequenceNumber\":"
             "\"%s\"}}]}", digits);
    struct kin_shard_list l = {0};
    char *next = NULL;
    struct err e;
    EXPECT_EQ_INT(kin_parse_shards(big, strlen(big), &l, &next, &e), -EBADMSG);
    kin_shard_list_free(&l);
}

TEST(kin_parse_records_kinesalite_shape)
{
    /* "aGVsbG8=" = hello; "AP8A" = 00 ff 00 */
    const char *j =
        "{\"MillisBehindLatest\":0,\"NextShardIterator\":\"AAAA==\",\"Records\":["
        "{\"PartitionKey\":\"player-1\",\"Data\":\"aGVsbG8=\",\"ApproximateArrivalTimestamp\":"
        "1795303094.725,\"SequenceNumber\":"
        "\"49680442854508790833731138305519315861503268972407029762\"},"
        "{\"PartitionKey\":\"k2\",\"Data\":\"AP8A\",\"ApproximateArrivalTimestamp\":1795303095,"
        "\"SequenceNumber\":\"49680442854508790833731138305519315861503268972407029763\"},"
        "{\"PartitionKey\":\"k3\",\"Data\":\"\",\"SequenceNumber\":\"5\"}]}";
    struct kin_records r;
    struct err e;
    ASSERT_OK(kin_parse_records(j, strlen(j), &r, &e), e);
    ASSERT_TRUE(r.n == 3);
    EXPECT_EQ_INT(r.v[0].len, 5);
    EXPECT_TRUE(memcmp(r.v[0].data, "hello", 5) == 0);
    EXPECT_EQ_STR(r.v[0].partition_key, "player-1");
    EXPECT_EQ_STR(r.v[0].seq, "49680442854508790833731138305519315861503268972407029762");
    EXPECT_EQ_INT(r.v[0].arrival_ms, 1795303094725LL);
    EXPECT_EQ_INT(r.v[1].len, 3);
    EXPECT_TRUE(memcmp(r.v[1].data, "\0\xff\0", 3) == 0);
    EXPECT_EQ_INT(r.v[1].arrival_ms, 1795303095000LL);
    EXPECT_EQ_INT(r.v[2].len, 0);
    EXPECT_EQ_INT(r.v[2].arrival_ms, -1);
    EXPECT_EQ_STR(r.next_iterator, "AAAA==");
    EXPECT_EQ_INT(r.millis_behind, 0);
    EXPECT_EQ_INT(r.n_children, 0);
    kin_records_free(&r);

    /* a closed shard's end on kinesalite: no NextShardIterator key at all */
    const char *end = "{\"MillisBehindLatest\":11990,\"Records\":[]}";
    ASSERT_OK(kin_parse_records(end, strlen(end), &r, &e), e);
    EXPECT_EQ_INT(r.n, 0);
    EXPECT_TRUE(r.next_iterator == NULL);
    EXPECT_EQ_INT(r.millis_behind, 11990);
    kin_records_free(&r);
}

TEST(kin_parse_records_local_shape_with_nulls_and_children)
{
    const char *j =
        "{\"ChildShards\":[{\"HashKeyRange\":{\"EndingHashKey\":\"5\",\"StartingHashKey\":\"0\"},"
        "\"ParentShards\":[\"shardId-000000000000\"],\"ShardId\":\"shardId-000000000004\"},"
        "{\"HashKeyRange\":{\"EndingHashKey\":\"9\",\"StartingHashKey\":\"6\"},\"ParentShards\":"
        "[\"shardId-000000000000\",\"shardId-000000000001\"],"
        "\"ShardId\":\"shardId-000000000005\"}],"
        "\"MillisBehindLatest\":null,\"NextShardIterator\":null,\"Records\":[]}";
    struct kin_records r;
    struct err e;
    ASSERT_OK(kin_parse_records(j, strlen(j), &r, &e), e);
    EXPECT_TRUE(r.next_iterator == NULL);
    EXPECT_EQ_INT(r.millis_behind, -1);
    ASSERT_TRUE(r.n_children == 2);
    EXPECT_EQ_STR(r.children[0].id, "shardId-000000000004");
    EXPECT_EQ_STR(r.children[0].parents[0], "shardId-000000000000");
    EXPECT_EQ_STR(r.children[0].parents[1], "");
    EXPECT_EQ_STR(r.children[0].hash_end, "5");
    EXPECT_EQ_STR(r.children[1].parents[1], "shardId-000000000001");
    kin_records_free(&r);

    const char *nulls = "{\"ChildShards\":null,\"NextShardIterator\":\"it\",\"Records\":null}";
    ASSERT_OK(kin_parse_records(nulls, strlen(nulls), &r, &e), e);
    EXPECT_EQ_INT(r.n, 0);
    EXPECT_EQ_INT(r.n_children, 0);
    EXPECT_EQ_STR(r.next_iterator, "it");
    kin_records_free(&r);
}

TEST(kin_parse_records_refuses_malformed)
{
    static const char *const bad[] = {
        "{\"Records\":[{\"PartitionKey\":\"k\",\"Data\":\"aGVsbG8\",\"SequenceNumber\":\"1\"}]}",
        "{\"Records\":[{\"PartitionKey\":\"k\",\"Data\":\"aGVs bG8=\",\"SequenceNumber\":\"1\"}]}",
        "{\"Records\":[{\"PartitionKey\":\"k\",\"Data\":\"aGVsbG8=\"}]}",
        "{\"Records\":[{\"Data\":\"aGVsbG8=\",\"SequenceNumber\":\"1\"}]}",
        "{\"Records\":[{\"PartitionKey\":\"k\",\"Data\":null,\"SequenceNumber\":\"1\"}]}",
        "{\"Records\":[{\"PartitionKey\":\"k\",\"Data\":\"\",\"SequenceNumber\":\"1\","
        "\"ApproximateArrivalTimestamp\":\"soon\"}]}",
        "{\"Records\":[7]}",
        "{\"Records\":{}}",
        "{\"Records\":[],\"NextShardIterator\":5}",
        "{\"Records\":[],\"NextShardIterator\":\"\"}",
        "{\"Records\":[],\"MillisBehindLatest\":\"0\"}",
        "{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"s\"}]}",
        "{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"s\",\"ParentShards\":[\"a\",\"b\",\"c\"],"
        "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"1\"}}]}",
        "{\"Records\":[],\"ChildShards\":{}}",
        "null",
        "{\"Records\":[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kin_records r;
        struct err e;
        err_clear(&e);
        int rc = kin_parse_records(bad[i], strlen(bad[i]), &r, &e);
        if (rc != -EBADMSG || e.cls != ERR_PERMANENT)
            T_REPORT_("accepted (rc=%d): %s", rc, bad[i]);
        EXPECT_TRUE(r.v == NULL && r.arena == NULL && r.next_iterator == NULL);
        kin_records_free(&r);
    }
}
