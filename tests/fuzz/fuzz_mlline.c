/* fuzz_mlline.c — libFuzzer target for the multilang child-line parser
 * (ml_parse_line: bytes a KCL child writes on stdout, untrusted).
 *
 * Build and run (from the repo root, ~20 s):
 *   mkdir -p build/fuzz && clang -g -O1 -std=c11 -D_GNU_SOURCE -I. \
 *     -fsanitize=fuzzer,address,undefined $(pkg-config --cflags jansson) \
 *     -o build/fuzz/fuzz_mlline tests/fuzz/fuzz_mlline.c worker/multilang.c \
 *     worker/processor.c checkpoint/seq.c checkpoint/tracker.c common/err.c \
 *     common/mem.c common/buf.c common/log.c $(pkg-config --libs jansson) -lpthread
 *   build/fuzz/fuzz_mlline -max_total_time=20 -max_len=4096
 * Each input is split on \n / \r like the daemon's reader and every piece is
 * parsed; a parsed checkpoint is also pushed through the tracker's checks. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint/seq.h"
#include "checkpoint/tracker.h"
#include "worker/multilang.h"

static void one(const char *line, size_t n, struct ckpt_tracker *t)
{
    struct ml_msg m;
    if (ml_parse_line(line, n, &m) != 0) return;
    if (m.type == ML_MSG_CHECKPOINT) {
        struct ckpt_target tg;
        if (ckpt_tracker_resolve(t, m.seq, m.has_sub ? m.sub : 0, &tg) == CKPT_OK && tg.write)
            ckpt_tracker_advanced(t, &tg);
        if (m.seq) (void)ckpt_seq_cmp(m.seq, m.sub, "SHARD_END", 0);
    }
    if (m.type == ML_MSG_STATUS && m.response_for) (void)strlen(m.response_for);
    ml_msg_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ckpt_tracker t;
    ckpt_tracker_init(&t, "TRIM_HORIZON", 0);
    ckpt_tracker_delivered(&t, "49590338271490256608559692538361571095921575989136588899", 3);
    const char *p = (const char *)data;
    one(p, size, &t); /* the whole input as one line */
    size_t start = 0;
    for (size_t i = 0; i <= size; i++)
        if (i == size || p[i] == '\n' || p[i] == '\r') {
            one(p + start, i - start, &t);
            start = i + 1;
        }
    ckpt_tracker_shard_end(&t);
    ckpt_tracker_free(&t);
    return 0;
}
