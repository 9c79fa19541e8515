/* buffer.c — staged gzip members for the router. */
#include "sinks/buffer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "sinks/gz.h"

int buffer_pool_init(struct buffer_pool *p, int level, size_t keep, struct err *e)
{
    memset(p, 0, sizeof *p);
    if (level < GZ_LEVEL_MIN || level > GZ_LEVEL_MAX)
        return err_set(e, -EINVAL, ERR_PERMANENT, "buffer: bad gzip level %d", level);
    p->level = level;
    p->keep = keep;
    p->idle = xcalloc(keep ? keep : 1, sizeof *p->idle);
    return 0;
}

void buffer_pool_free(struct buffer_pool *p)
{
    for (size_t i = 0; i < p->n; i++) gz_free(p->idle[i]);
    free(p->idle);
    memset(p, 0, sizeof *p);
}

static struct gz *pool_get(struct buffer_pool *p)
{
    if (p->n) return p->idle[--p->n];
    struct gz *g = NULL;
    if (gz_new(p->level, &g) < 0) abort(); /* the level was checked at init */
    return g;
}

static void pool_put(struct buffer_pool *p, struct gz *g)
{
    gz_reset(g);
    if (p->n < p->keep) p->idle[p->n++] = g;
    else gz_free(g);
}

struct buffer *buffer_new(struct buffer_pool *pool, size_t stage_cap, size_t line_max,
                          size_t out_max, size_t out_hint)
{
    struct buffer *b = xcalloc(1, sizeof *b);
    b->pool = pool;
    b->out_hint = out_hint < out_max ? out_hint : out_max;
    b->stage_cap = stage_cap;
    buf_init(&b->stage, stage_cap + line_max);
    /* the stage's room in one piece: growing it by doubling would copy it
     * over and over (pages are touched only as lines land) */
    buf_reserve(&b->stage, stage_cap + (line_max < 65536 ? line_max : 65536));
    buf_init(&b->out, out_max);
    b->type = -1;
    return b;
}

void buffer_free(struct buffer *b)
{
    if (!b) return;
    if (b->gz) pool_put(b->pool, b->gz);
    buf_free(&b->stage);
    buf_free(&b->out);
    free(b);
}

static int copy_seq(char dst[BUFFER_SEQ_MAX], const char *seq)
{
    size_t n = strlen(seq);
    if (n >= BUFFER_SEQ_MAX) return -EINVAL;
    memcpy(dst, seq, n + 1);
    return 0;
}

int buffer_start(struct buffer *b, int type, int32_t day, const char *seq, int64_t sub,
                 int64_t event_ms, int64_t now_ms)
{
    if (copy_seq(b->first_seq, seq)) return -EINVAL;
    b->type = type;
    b->day = day;
    b->first_sub = sub;
    b->first_event_ms = event_ms;
    b->opened_ms = now_ms;
    b->records = b->raw_bytes = 0;
    memset(b->reasons, 0, sizeof b->reasons);
    return 0;
}

static int compress_stage(struct buffer *b)
{
    if (b->stage.len == 0) return 0;
    if (!b->gz) b->gz = pool_get(b->pool);
    /* The member's room in one piece from the start: growing by doubling
     * would copy it over and over.  Pages never written are never touched,
     * and buffer_seal trims the rest. */
    if (!b->out.data && b->out_hint) buf_reserve(&b->out, b->out_hint);
    int rc = gz_write(b->gz, b->stage.data, b->stage.len, &b->out);
    buf_reset(&b->stage);
    return rc;
}

int buffer_added(struct buffer *b, const char *seq, int64_t sub, size_t raw)
{
    if (copy_seq(b->last_seq, seq)) return -EINVAL;
    b->last_sub = sub;
    b->records++;
    b->raw_bytes += raw;
    return b->stage.len >= b->stage_cap ? compress_stage(b) : 0;
}

int buffer_seal(struct buffer *b, struct buf *body)
{
    int rc = compress_stage(b);
    if (rc == 0 && !b->gz) b->gz = pool_get(b->pool); /* an empty member */
    if (rc == 0) rc = gz_finish(b->gz, &b->out);
    if (rc) {
        buffer_discard(b);
        return rc;
    }
    *body = b->out;
    body->data = xrealloc(body->data, body->len + 1); /* what it holds is what it costs */
    body->cap = body->len + 1;
    buf_init(&b->out, b->out.max);
    pool_put(b->pool, b->gz);
    b->gz = NULL;
    b->records = b->raw_bytes = 0;
    return 0;
}

size_t buffer_held(const struct buffer *b)
{
    return b->out.len + gz_finish_bound(b->pool->level, b->gz != NULL, b->stage.len);
}

size_t buffer_append_bound(const struct buffer_pool *pool, size_t line)
{
    /* a line adds at most its own bound; a stage feed may turn a pending
     * block into output beyond the fed lines' share (gz_finish_bound's
     * pending part) */
    return gz_finish_bound(pool->level, 1, line);
}

void buffer_discard(struct buffer *b)
{
    buf_reset(&b->stage);
    buf_free(&b->out);
    if (b->gz) pool_put(b->pool, b->gz);
    b->gz = NULL;
    b->records = b->raw_bytes = 0;
}
