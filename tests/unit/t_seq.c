/* t_seq.c — sequence-number ordering and the checkpoint tracker (KCL rules). */
#include "checkpoint/seq.h"
#include "checkpoint/tracker.h"
#include "tests/t.h"

#include <errno.h>

/* Two real-looking 56-digit sequence numbers (far beyond 64 bits). */
#define S1 "49590338271490256608559692538361571095921575989136588898"
#define S2 "49590338271490256608559692538361571095921575989136588899"
#define S3 "49590338271490256608559692540361571095921575989136588898"

TEST(seq_valid)
{
    EXPECT_TRUE(ckpt_seq_valid(S1));
    EXPECT_TRUE(ckpt_seq_valid("0"));
    EXPECT_TRUE(ckpt_seq_valid("TRIM_HORIZON"));
    EXPECT_TRUE(ckpt_seq_valid("LATEST"));
    EXPECT_TRUE(ckpt_seq_valid("AT_TIMESTAMP"));
    EXPECT_TRUE(ckpt_seq_valid("SHARD_END"));
    EXPECT_TRUE(!ckpt_seq_valid(""));
    EXPECT_TRUE(!ckpt_seq_valid(NULL));
    EXPECT_TRUE(!ckpt_seq_valid("12a"));
    EXPECT_TRUE(!ckpt_seq_valid("-5"));
    EXPECT_TRUE(!ckpt_seq_valid("+5"));
    EXPECT_TRUE(!ckpt_seq_valid(" 5"));
    EXPECT_TRUE(!ckpt_seq_valid("latest"));
    EXPECT_TRUE(!ckpt_seq_is_digits("LATEST"));
}

TEST(seq_cmp_sentinels_and_big_numbers)
{
    const char *order[] = {"AT_TIMESTAMP", "TRIM_HORIZON", "LATEST", "0", "7",
                           "18446744073709551615", "18446744073709551616", S1, S2, S3,
                           "SHARD_END"};
    size_t n = sizeof order / sizeof *order;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c = ckpt_seq_cmp(order[i], 0, order[j], 0);
            int want = (i > j) - (i < j);
            if (((c > 0) - (c < 0)) != want) {
                fprintf(stderr, "  cmp(%s, %s) = %d, want %d\n", order[i], order[j], c, want);
                t_fail();
            }
        }
}

/* The digits-only comparison agrees with ckpt_seq_cmp on every pair. */
TEST(seq_cmp_digits_matches_general)
{
    const char *v[] = {"0", "00", "7", "007", "10", "0100", "99", "18446744073709551615",
                       "18446744073709551616", S1, S2, S3};
    size_t n = sizeof v / sizeof *v;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            for (int64_t sa = 0; sa < 2; sa++) {
                int want = ckpt_seq_cmp(v[i], sa, v[j], 1);
                int got = ckpt_seq_cmp_digits(v[i], strlen(v[i]), sa, v[j], strlen(v[j]), 1);
                if (((got > 0) - (got < 0)) != ((want > 0) - (want < 0))) {
                    fprintf(stderr, "  cmp_digits(%s/%d, %s/1) = %d, want %d\n", v[i], (int)sa, v[j],
                            got, want);
                    t_fail();
                }
            }
}

TEST(seq_cmp_leading_zeros_and_subsequence)
{
    EXPECT_EQ_INT(ckpt_seq_cmp("007", 0, "7", 0), 0);
    EXPECT_EQ_INT(ckpt_seq_cmp("000", 0, "0", 0), 0);
    EXPECT_EQ_INT(ckpt_seq_cmp("0100", 0, "99", 0), 1);
    EXPECT_EQ_INT(ckpt_seq_cmp(S1, 3, S1, 2), 1);
    EXPECT_EQ_INT(ckpt_seq_cmp(S1, 2, S1, 3), -1);
    EXPECT_EQ_INT(ckpt_seq_cmp(S1, 9, S2, 0), -1);
    /* sentinels other than SHARD_END still order by subsequence, as KCL */
    EXPECT_EQ_INT(ckpt_seq_cmp("TRIM_HORIZON", 1, "TRIM_HORIZON", 0), 1);
    EXPECT_EQ_INT(ckpt_seq_cmp("SHARD_END", 5, "SHARD_END", 0), 0);
    EXPECT_EQ_INT(ckpt_seq_cmp("SHARD_END", 0, S3, 99), 1);
    /* invalid strings sort below everything, never equal to a valid one */
    EXPECT_EQ_INT(ckpt_seq_cmp("bogus", 0, "AT_TIMESTAMP", 0), -1);
    EXPECT_EQ_INT(ckpt_seq_cmp(NULL, 0, "0", 0), -1);
}

TEST(seq_tracker_range_check)
{
    struct ckpt_tracker t;
    ckpt_tracker_init(&t, S1, 0);
    /* nothing newer delivered yet: only the current checkpoint is in range */
    EXPECT_EQ_INT(ckpt_tracker_validate(&t, S1, 0), CKPT_OK);
    EXPECT_EQ_INT(ckpt_tracker_validate(&t, S2, 0), CKPT_ILLEGAL_ARGUMENT);
    EXPECT_EQ_INT(ckpt_tracker_delivered(&t, S2, 0), 0);
    EXPECT_EQ_INT(ckpt_tracker_delivered(&t, S2, 4), 0);
    EXPECT_EQ_INT(ckpt_tracker_delivered(&t, S1, 7), 0); /* older: largest stays */
    EXPECT_EQ_STR(t.largest, S2);
    EXPECT_EQ_INT(t.largest_sub, 4);
    EXPECT_EQ_INT(ckpt_tracker_validate(&t, S2, 4), CKPT_OK);
    EXPECT_EQ_INT(ckpt_tracker_validate(&t, S2, 5), CKPT_ILLEGAL_ARGUMENT);
    EXPECT_EQ_INT(ckpt_tracker_validate(&t, S3, 0), CKPT_ILLEGAL_ARGUMENT);
    EXPECT_EQ_INT(ckpt_tracker_validate(&t, "TRIM_HORIZON", 0), CKPT_ILLEGAL_ARGUMENT);
    EXPECT_EQ_INT(ckpt_tracker_validate(&t, "49590338271490256608559692538361571095921575989136588897", 0),
                  CKPT_ILLEGAL_ARGUMENT);
    EXPECT_EQ_INT(ckpt_tracker_validate(&t, S2, -1), CKPT_ILLEGAL_ARGUMENT);
    EXPECT_EQ_INT(ckpt_tracker_validate(&t, "12x", 0), CKPT_ILLEGAL_ARGUMENT);
    EXPECT_EQ_INT(ckpt_tracker_validate(&t, "SHARD_END", 0), CKPT_ILLEGAL_ARGUMENT);
    EXPECT_EQ_INT(ckpt_tracker_delivered(&t, "LATEST", 0), -EINVAL);
    EXPECT_EQ_INT(ckpt_tracker_delivered(&t, S3, -2), -EINVAL);
    EXPECT_EQ_STR(t.largest, S2);
    ckpt_tracker_free(&t);
}

TEST(seq_tracker_resolve_and_advance)
{
    struct ckpt_tracker t;
    struct ckpt_target tg;
    ckpt_tracker_init(&t, "TRIM_HORIZON", 0);
    /* null before any record: the initial value, which is a no-op */
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, NULL, 0, &tg), CKPT_OK);
    EXPECT_EQ_STR(tg.seq, "TRIM_HORIZON");
    EXPECT_TRUE(!tg.write);
    ckpt_tracker_delivered(&t, S1, 0);
    ckpt_tracker_delivered(&t, S2, 0);
    /* null: the largest delivered */
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, NULL, 0, &tg), CKPT_OK);
    EXPECT_EQ_STR(tg.seq, S2);
    EXPECT_EQ_INT(tg.sub, 0);
    EXPECT_TRUE(tg.write);
    /* explicit, then going backwards is refused */
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, S1, 0, &tg), CKPT_OK);
    EXPECT_TRUE(tg.write);
    ckpt_tracker_advanced(&t, &tg);
    EXPECT_EQ_STR(t.last, S1);
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, "TRIM_HORIZON", 0, &tg), CKPT_ILLEGAL_ARGUMENT);
    /* repeating the current checkpoint is accepted and writes nothing */
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, S1, 0, &tg), CKPT_OK);
    EXPECT_TRUE(!tg.write);
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, "0" S1, 0, &tg), CKPT_OK); /* same value */
    EXPECT_TRUE(!tg.write);
    ckpt_tracker_free(&t);
}

TEST(seq_tracker_shard_end)
{
    struct ckpt_tracker t;
    struct ckpt_target tg;
    ckpt_tracker_init(&t, S1, 0);
    ckpt_tracker_delivered(&t, S2, 0);
    ckpt_tracker_delivered(&t, S2, 1);
    ckpt_tracker_shard_end(&t);
    EXPECT_EQ_STR(t.largest, "SHARD_END");
    /* the last delivered record is recorded as SHARD_END */
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, S2, 1, &tg), CKPT_OK);
    EXPECT_EQ_STR(tg.seq, "SHARD_END");
    EXPECT_TRUE(tg.write);
    /* an earlier record is still itself */
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, S2, 0, &tg), CKPT_OK);
    EXPECT_EQ_STR(tg.seq, S2);
    /* null: SHARD_END */
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, NULL, 0, &tg), CKPT_OK);
    EXPECT_EQ_STR(tg.seq, "SHARD_END");
    EXPECT_TRUE(tg.write);
    ckpt_tracker_advanced(&t, &tg);
    EXPECT_EQ_STR(t.last, "SHARD_END");
    /* never twice: null again is a no-op; the last record is now below last */
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, NULL, 0, &tg), CKPT_OK);
    EXPECT_TRUE(!tg.write);
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, S2, 1, &tg), CKPT_ILLEGAL_ARGUMENT);
    EXPECT_EQ_INT(ckpt_tracker_resolve(&t, "SHARD_END", 0, &tg), CKPT_OK);
    EXPECT_TRUE(!tg.write);
    ckpt_tracker_free(&t);
}
