/* fuzz_kin_records.c — libFuzzer target for the Kinesis answer parsers
 * (GetRecords with its base64 decoder, ListShards) in common/kinesis.c.  Not
 * part of the test binary.  Build and run from the repo root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I. \
 *     tests/fuzz/fuzz_kin_records.c common/kinesis.c common/aws.c common/aws_creds.c \
 *     common/err.c common/mem.c common/buf.c common/log.c \
 *     $(pkg-config --cflags --libs jansson libcurl libcrypto) -lm -lpthread \
 *     -o build/fuzz_kin_records
 *   mkdir -p build/fuzz_kin_records_corpus
 *   build/fuzz_kin_records -max_total_time=30 build/fuzz_kin_records_corpus
 *
 * Properties: each parser ends with 0 or -EBADMSG and leaves nothing behind
 * on failure; every record's bytes lie inside the batch's arena; the base64
 * decoder never writes past decoded_max and accepts only lengths that are a
 * multiple of 4.
 */
#include "common/kinesis.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void records(const char *s, size_t n)
{
    struct kin_records r;
    struct err e;
    int rc = kin_parse_records(s, n, &r, &e);
    if (rc != 0 && rc != -EBADMSG) abort();
    if (rc != 0 && (r.v || r.arena || r.next_iterator || r.children)) abort();
    for (size_t i = 0; rc == 0 && i < r.n; i++) {
        volatile unsigned char sink = 0;
        for (size_t j = 0; j < r.v[i].len; j++) sink ^= r.v[i].data[j];
        if (strlen(r.v[i].partition_key) > n || strlen(r.v[i].seq) > n) abort();
        (void)sink;
    }
    kin_records_free(&r);
}

static void shards(const char *s, size_t n)
{
    struct kin_shard_list l = {0};
    char *next = NULL;
    struct err e;
    int rc = kin_parse_shards(s, n, &l, &next, &e);
    if (rc != 0 && rc != -EBADMSG) abort();
    free(next);
    kin_shard_list_free(&l);
}

static void base64(const char *s, size_t n)
{
    size_t max = kin_base64_decoded_max(n);
    unsigned char *out = malloc(max ? max : 1);
    long got = kin_base64_decode(s, n, out);
    if (got >= 0 && ((size_t)got > max || n % 4)) abort();
    if (got < 0 && got != -EINVAL) abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    records(s, size);
    shards(s, size);
    base64(s, size);
    return 0;
}
