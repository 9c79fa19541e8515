/* fuzz_kpl.c — libFuzzer target for KPL de-aggregation (untrusted bytes from
 * the stream).  Not part of the test binary (the Makefile does not glob
 * tests/fuzz/).  Build and run from the repo root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I. \
 *     tests/fuzz/fuzz_kpl.c worker/kpl.c worker/kpl.pb-c.c common/err.c \
 *     common/mem.c common/buf.c $(pkg-config --cflags --libs libprotobuf-c) \
 *     -lcrypto -o build/fuzz_kpl
 *   mkdir -p build/fuzz_kpl_corpus
 *   build/fuzz_kpl -max_total_time=20 build/fuzz_kpl_corpus
 *
 * Most random bytes die at the magic or the MD5 check, so the target also
 * re-frames the input (magic + input + md5(input)) to drive the protobuf
 * decoder and the index checks; and whatever decodes is re-aggregated and
 * must de-aggregate to the same records.
 */
#include "common/buf.h"
#include "worker/kpl.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_result(const struct kpl_result *r)
{
    if (r->n == 0) abort();
    struct kpl_record_in *in = calloc(r->n, sizeof *in);
    if (!in) return;
    for (size_t i = 0; i < r->n; i++) {
        if (r->recs[i].subseq != i || !r->recs[i].partition_key) abort();
        in[i] = (struct kpl_record_in){r->recs[i].partition_key, r->recs[i].explicit_hash_key,
                                       r->recs[i].data, r->recs[i].len};
        volatile size_t sum = 0;   /* touch every byte: ASan checks the bounds */
        for (size_t k = 0; k < r->recs[i].len; k++) sum += ((const unsigned char *)r->recs[i].data)[k];
        (void)sum;
    }
    struct buf b;
    buf_init(&b, 64u << 20);
    struct kpl_result again;
    if (kpl_aggregate(in, r->n, &b, NULL) != 0) abort();
    if (kpl_deaggregate(b.data, b.len, &again, NULL) != 0 || again.n != r->n) abort();
    for (size_t i = 0; i < r->n; i++) {
        if (again.recs[i].len != r->recs[i].len) abort();
        if (r->recs[i].len && memcmp(again.recs[i].data, r->recs[i].data, r->recs[i].len)) abort();
        if (strcmp(again.recs[i].partition_key, r->recs[i].partition_key)) abort();
        if (!again.recs[i].explicit_hash_key != !r->recs[i].explicit_hash_key) abort();
    }
    kpl_result_free(&again);
    buf_free(&b);
    free(in);
}

static void try_one(const uint8_t *p, size_t n)
{
    struct kpl_result r;
    struct err e;
    if (!kpl_is_aggregated(p, n)) {
        if (kpl_deaggregate(p, n, &r, &e) == 0) abort();   /* must refuse */
        return;
    }
    if (kpl_deaggregate(p, n, &r, &e) == 0) {
        check_result(&r);
        kpl_result_free(&r);
    } else if (r.n != 0 || r.recs != NULL || r.msg != NULL || strncmp(e.msg, "kpl: ", 5) != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_one(data, size);
    static const uint8_t magic[4] = {0xF3, 0x89, 0x9A, 0xC2};
    uint8_t *f = malloc(size + 20);
    if (!f) return 0;
    unsigned int mdlen = 0;
    memcpy(f, magic, 4);
    memcpy(f + 4, data, size);
    EVP_Digest(data, size, f + 4 + size, &mdlen, EVP_md5(), NULL);
    try_one(f, size + 20);
    free(f);
    return 0;
}
