/* safe.c — safe checkpoint positions from outstanding objects and batch ends.
 *
 * Outstanding objects live in a FIFO in handle order (= first-record
 * order); a completed one is flagged and popped once it reaches the front,
 * so the front is always the smallest outstanding first record.  Batch ends
 * are a FIFO too, in processing order.
 */
#include "checkpoint/safe.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint/seq.h"
#include "common/mem.h"

struct pos {
    char *seq;
    int64_t sub;
};

struct obj {
    struct pos first;
    bool done;
};

struct ckpt_safe {
    struct obj *objs;         /* ring of outstanding objects, handles base.. */
    size_t ocap, ohead, on;
    uint64_t base;            /* handle of objs[ohead] */
    struct pos *ends;         /* ring of batch ends */
    size_t ecap, ehead, en;
    struct pos last_taken;    /* seq NULL: nothing taken yet */
    struct pos pending;       /* what peek returned */
    size_t pending_ends;      /* batch ends covered by pending */
};

struct ckpt_safe *ckpt_safe_new(void)
{
    struct ckpt_safe *s = xcalloc(1, sizeof *s);
    s->ocap = s->ecap = 16;
    s->objs = xcalloc(s->ocap, sizeof *s->objs);
    s->ends = xcalloc(s->ecap, sizeof *s->ends);
    s->base = 1;
    return s;
}

void ckpt_safe_free(struct ckpt_safe *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->on; i++) free(s->objs[(s->ohead + i) % s->ocap].first.seq);
    for (size_t i = 0; i < s->en; i++) free(s->ends[(s->ehead + i) % s->ecap].seq);
    free(s->objs);
    free(s->ends);
    free(s->last_taken.seq);
    free(s);
}

/* Doubles a ring, unrolling it so the head is at 0. */
static void *grow(void *ring, size_t *cap, size_t *head, size_t n, size_t size)
{
    char *nr = xcalloc(*cap * 2, size), *r = ring;
    for (size_t i = 0; i < n; i++) memcpy(nr + i * size, r + ((*head + i) % *cap) * size, size);
    free(ring);
    *cap *= 2;
    *head = 0;
    return nr;
}

uint64_t ckpt_safe_open(struct ckpt_safe *s, const char *seq, int64_t sub)
{
    if (s->on == s->ocap) s->objs = grow(s->objs, &s->ocap, &s->ohead, s->on, sizeof *s->objs);
    struct obj *o = &s->objs[(s->ohead + s->on) % s->ocap];
    o->first = (struct pos){xstrdup(seq), sub};
    o->done = false;
    return s->base + s->on++;
}

void ckpt_safe_done(struct ckpt_safe *s, uint64_t id)
{
    if (id < s->base || id >= s->base + s->on) return;
    s->objs[(s->ohead + (id - s->base)) % s->ocap].done = true;
    while (s->on && s->objs[s->ohead].done) {
        free(s->objs[s->ohead].first.seq);
        s->objs[s->ohead].first.seq = NULL;
        s->ohead = (s->ohead + 1) % s->ocap;
        s->on--;
        s->base++;
    }
}

void ckpt_safe_batch_end(struct ckpt_safe *s, const char *seq, int64_t sub)
{
    if (s->en == s->ecap) s->ends = grow(s->ends, &s->ecap, &s->ehead, s->en, sizeof *s->ends);
    s->ends[(s->ehead + s->en) % s->ecap] = (struct pos){xstrdup(seq), sub};
    s->en++;
}

size_t ckpt_safe_outstanding(const struct ckpt_safe *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->on; i++) n += !s->objs[(s->ohead + i) % s->ocap].done;
    return n;
}

bool ckpt_safe_peek(struct ckpt_safe *s, const char **seq, int64_t *sub)
{
    const struct pos *min = s->on ? &s->objs[s->ohead].first : NULL;
    size_t k = 0; /* batch ends strictly below min */
    while (k < s->en) {
        const struct pos *e = &s->ends[(s->ehead + k) % s->ecap];
        if (min && ckpt_seq_cmp(e->seq, e->sub, min->seq, min->sub) >= 0) break;
        k++;
    }
    if (k == 0) return false;
    s->pending = s->ends[(s->ehead + k - 1) % s->ecap];
    s->pending_ends = k;
    *seq = s->pending.seq;
    *sub = s->pending.sub;
    return true;
}

void ckpt_safe_take(struct ckpt_safe *s)
{
    if (s->pending_ends == 0) return;
    free(s->last_taken.seq);
    s->last_taken.seq = NULL;
    for (size_t i = 0; i < s->pending_ends; i++) {
        struct pos *e = &s->ends[s->ehead];
        if (i + 1 == s->pending_ends) s->last_taken = *e;
        else free(e->seq);
        e->seq = NULL;
        s->ehead = (s->ehead + 1) % s->ecap;
        s->en--;
    }
    s->pending_ends = 0;
}
