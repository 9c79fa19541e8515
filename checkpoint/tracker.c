/* tracker.c — KCL's checkpoint range check and SHARD_END mapping. */
#include "checkpoint/tracker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/seq.h"
#include "common/mem.h"

static void set(char **dst, int64_t *dsub, const char *seq, int64_t sub)
{
    char *copy = seq ? xstrdup(seq) : NULL; /* seq may alias *dst */
    free(*dst);
    *dst = copy;
    *dsub = sub;
}

void ckpt_tracker_init(struct ckpt_tracker *t, const char *seq, int64_t sub)
{
    memset(t, 0, sizeof *t);
    set(&t->last, &t->last_sub, seq, sub);
    set(&t->largest, &t->largest_sub, seq, sub);
}

void ckpt_tracker_free(struct ckpt_tracker *t)
{
    if (!t) return;
    free(t->last);
    free(t->largest);
    free(t->at_end);
    memset(t, 0, sizeof *t);
}

int ckpt_tracker_delivered(struct ckpt_tracker *t, const char *seq, int64_t sub)
{
    if (!ckpt_seq_is_digits(seq) || sub < 0) return -EINVAL;
    if (!t->largest || ckpt_seq_cmp(seq, sub, t->largest, t->largest_sub) > 0)
        set(&t->largest, &t->largest_sub, seq, sub);
    return 0;
}

void ckpt_tracker_shard_end(struct ckpt_tracker *t)
{
    if (t->largest && strcmp(t->largest, CKPT_SEQ_SHARD_END) != 0)
        set(&t->at_end, &t->at_end_sub, t->largest, t->largest_sub);
    set(&t->largest, &t->largest_sub, CKPT_SEQ_SHARD_END, 0);
}

enum ckpt_result ckpt_tracker_validate(const struct ckpt_tracker *t, const char *seq, int64_t sub)
{
    if (sub < 0 || !ckpt_seq_valid(seq)) return CKPT_ILLEGAL_ARGUMENT;
    if (t->last && ckpt_seq_cmp(t->last, t->last_sub, seq, sub) > 0) return CKPT_ILLEGAL_ARGUMENT;
    if (!t->largest || ckpt_seq_cmp(seq, sub, t->largest, t->largest_sub) > 0)
        return CKPT_ILLEGAL_ARGUMENT;
    return CKPT_OK;
}

enum ckpt_result ckpt_tracker_resolve(const struct ckpt_tracker *t, const char *seq, int64_t sub,
                                      struct ckpt_target *out)
{
    if (seq) {
        enum ckpt_result r = ckpt_tracker_validate(t, seq, sub);
        if (r != CKPT_OK) return r;
    } else {
        seq = t->largest;
        sub = t->largest_sub;
    }
    out->seq = seq;
    out->sub = sub;
    /* As KCL: "already checkpointed" is judged on the value asked for,
     * before the SHARD_END mapping. */
    out->write = seq && !(t->last && ckpt_seq_cmp(seq, sub, t->last, t->last_sub) == 0);
    if (seq && t->at_end && ckpt_seq_cmp(seq, sub, t->at_end, t->at_end_sub) == 0) {
        out->seq = CKPT_SEQ_SHARD_END;
        out->sub = 0;
    }
    return CKPT_OK;
}

void ckpt_tracker_advanced(struct ckpt_tracker *t, const struct ckpt_target *tg)
{
    if (tg->seq) set(&t->last, &t->last_sub, tg->seq, tg->sub);
}
