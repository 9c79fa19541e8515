/* fuzz_scan.c — libFuzzer target: worker/scan.c must agree with jansson 2.14.
 *
 * Build and run (60 s, from the repo root):
 *   mkdir -p build/fuzz/corpus_scan
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=undefined tests/fuzz/fuzz_scan.c worker/scan.c common/mem.c \
 *       -ljansson -lm -o build/fuzz/fuzz_scan
 *   build/fuzz/fuzz_scan -max_total_time=60 -max_len=4096 \
 *       -artifact_prefix=build/fuzz/ build/fuzz/corpus_scan
 * Any input where the two disagree (tests/unit/t_scan_oracle.h) aborts with
 * the record printed; a crash or out-of-bounds access aborts under ASan.  The
 * scratch buffer is exactly n bytes so an overrun of the documented bound is
 * caught too.  Also runs scan_time_ms on every extracted field and on the
 * raw input, which must not crash and must stay within years 0000-9999.
 */
#include "tests/unit/t_scan_oracle.h"

#include <stdint.h>

static void check_time(int type, const char *v, size_t n)
{
    int64_t ms = 0;
    int rc = scan_time_ms(type, v, n, &ms);
    if (rc == 0 && (ms < INT64_C(-62167219200000) || ms > INT64_C(253402300799999))) {
        fprintf(stderr, "time out of range: %lld\n", (long long)ms);
        abort();
    }
    if (rc != 0 && rc != -SCAN_E_BAD_TIME && rc != -SCAN_E_NO_TIME) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    char *scratch = malloc(size ? size : 1);
    struct tally t = {0};
    if (check(p, size, scratch, &t)) abort();

    struct scan_field f[NKEYS];
    memcpy(f, want_keys, sizeof f);
    struct scan_result res;
    struct scan_opts o = {.scratch = scratch, .scratch_len = size};
    if (scan_record(p, size, f, NKEYS, &res, &o) == 0)
        for (size_t i = 0; i < NKEYS; i++) check_time(f[i].type, f[i].val, f[i].val_len);
    check_time(SCAN_T_STRING, p, size);
    check_time(SCAN_T_NUMBER, p, size);
    free(scratch);
    return 0;
}
