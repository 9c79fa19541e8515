/* fuzz_s3xml.c — libFuzzer target for the S3 XML extractor (common/s3xml.c)
 * and the ListObjectsV2 page it feeds.  Not part of the test binary.  Build
 * and run from the repo root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I. \
 *     tests/fuzz/fuzz_s3xml.c common/s3xml.c common/err.c common/mem.c \
 *     common/buf.c -o build/fuzz_s3xml
 *   mkdir -p build/fuzz_s3xml_corpus
 *   build/fuzz_s3xml -max_total_time=30 build/fuzz_s3xml_corpus
 *
 * Properties: the parse ends with 0 or -EBADMSG (never another value, never
 * a read outside the input); every path handed to the callback is within
 * S3XML_MAX_PATH, every text within S3XML_MAX_TEXT and NUL-terminated at its
 * length; s3xml_find agrees with a full walk on whether Error/Code exists.
 */
#include "common/s3xml.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct walk {
    int saw_code;
};

static int cb(void *ctx, const char *path, const char *text, size_t len, int leaf)
{
    struct walk *w = ctx;
    if (strlen(path) > S3XML_MAX_PATH || len > S3XML_MAX_TEXT || text[len] != 0) abort();
    if (!leaf && len) abort();
    if (!w->saw_code && !strcmp(path, "Error/Code")) w->saw_code = 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err e;
    struct walk w = {0};
    int rc = s3xml_parse((const char *)data, size, cb, &w, &e);
    if (rc != 0 && rc != -EBADMSG) abort();
    char code[64];
    int f = s3xml_find((const char *)data, size, "Error/Code", code, sizeof code, &e);
    if (rc == 0 && w.saw_code && f != 1 && f != -E2BIG) abort();
    if (rc == 0 && !w.saw_code && f != 0) abort();
    return 0;
}
