/* deadletter.c — dead-letter JSON lines. */
#include "sinks/deadletter.h"

#include <errno.h>
#include <string.h>

#include "worker/router_route.h"

int deadletter_b64(struct buf *out, const void *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *w = buf_reserve(out, (n + 2) / 3 * 4);
    if (!w) return -E2BIG;
    const unsigned char *s = p;
    char *start = w;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        *w++ = tab[v >> 18], *w++ = tab[v >> 12 & 63], *w++ = tab[v >> 6 & 63], *w++ = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
        *w++ = tab[v >> 18], *w++ = tab[v >> 12 & 63];
        *w++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *w++ = '=';
    }
    out->len += (size_t)(w - start);
    out->data[out->len] = 0;
    return 0;
}

size_t deadletter_line_max(size_t shard_len, size_t seq_len, size_t n)
{
    return 160 + shard_len * 6 + seq_len + (n + 2) / 3 * 4;
}

int deadletter_line(struct buf *out, const char *reason, const char *shard, const char *seq,
                    int64_t subseq, int64_t arrival_ms, const void *data, size_t n)
{
    size_t mark = out->len;
    int rc = buf_printf(out, "{\"reason\":\"%s\",\"shard\":\"", reason);
    if (rc == 0) rc = router_json_escape(out, shard, strlen(shard));
    if (rc == 0)
        rc = buf_printf(out, "\",\"seq\":\"%s\",\"subseq\":%lld,\"arrival\":%lld,\"data_b64\":\"",
                        seq, (long long)subseq, (long long)arrival_ms);
    if (rc == 0) rc = deadletter_b64(out, data, n);
    if (rc == 0) rc = buf_append(out, "\"}\n", 3);
    if (rc) {
        out->len = mark;
        if (out->data) out->data[mark] = 0;
        return -E2BIG;
    }
    return 0;
}
