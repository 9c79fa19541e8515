/* seq.c — KCL sequence-number ordering (see seq.h). */
#include "checkpoint/seq.h"

#include <string.h>

bool ckpt_seq_is_digits(const char *s)
{
    if (!s || !*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* Rank of a value's kind: invalid 0, the sentinels below digits 1..3,
 * digits 4, SHARD_END 5. */
static int rank(const char *s)
{
    if (ckpt_seq_is_digits(s)) return 4;
    if (!s) return 0;
    if (!strcmp(s, CKPT_SEQ_AT_TIMESTAMP)) return 1;
    if (!strcmp(s, CKPT_SEQ_TRIM_HORIZON)) return 2;
    if (!strcmp(s, CKPT_SEQ_LATEST)) return 3;
    if (!strcmp(s, CKPT_SEQ_SHARD_END)) return 5;
    return 0;
}

bool ckpt_seq_valid(const char *s)
{
    return rank(s) != 0;
}

/* Compares two digit strings as arbitrary-precision integers. */
static int digits_cmp_n(const char *a, size_t la, const char *b, size_t lb)
{
    while (la > 1 && *a == '0') a++, la--;
    while (lb > 1 && *b == '0') b++, lb--;
    if (la != lb) return la < lb ? -1 : 1;
    int c = memcmp(a, b, la);
    return (c > 0) - (c < 0);
}

static int digits_cmp(const char *a, const char *b) { return digits_cmp_n(a, strlen(a), b, strlen(b)); }

int ckpt_seq_cmp_digits(const char *a, size_t alen, int64_t asub, const char *b, size_t blen,
                        int64_t bsub)
{
    int c = digits_cmp_n(a, alen, b, blen);
    return c ? c : (asub > bsub) - (asub < bsub);
}

int ckpt_seq_cmp(const char *a, int64_t asub, const char *b, int64_t bsub)
{
    int ra = rank(a), rb = rank(b);
    if (ra != rb) return ra < rb ? -1 : 1;
    if (ra == 0) {
        int c = strcmp(a ? a : "", b ? b : "");
        if (c) return (c > 0) - (c < 0);
    }
    if (ra == 5) return 0; /* SHARD_END == SHARD_END, as KCL */
    if (ra == 4) {
        int c = digits_cmp(a, b);
        if (c) return c;
    }
    return (asub > bsub) - (asub < bsub);
}
