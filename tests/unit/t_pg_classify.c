/* t_pg_classify.c — the PG failure classification table and lock keys. */
#include "common/pg.h"
#include "tests/t.h"

TEST(pg_classify_table)
{
    struct { const char *st; int ok, commit; const char *want; } cases[] = {
        {"08006", 1, 0, "retry"},   {"08001", 1, 0, "retry"},     {"40001", 1, 0, "retry"},
        {"40P01", 1, 0, "retry"},   {"53300", 1, 0, "retry"},     {"53100", 1, 0, "retry"},
        {"57P01", 1, 0, "retry"},   {"57P02", 1, 0, "retry"},     {"57P03", 1, 0, "retry"},
        {"55P03", 1, 0, "retry"},   {NULL, 0, 0, "retry"},        {"42601", 0, 0, "retry"},
        {"42601", 1, 0, "permanent"}, {"42P01", 1, 0, "permanent"}, {"23505", 1, 0, "permanent"},
        {"23503", 1, 0, "permanent"}, {"22P02", 1, 0, "permanent"}, {"40002", 1, 0, "permanent"},
        {"55000", 1, 0, "permanent"}, {"57014", 1, 0, "permanent"}, {NULL, 1, 0, "permanent"},
        {"", 1, 0, "permanent"},
        /* COMMIT: a lost reply is unknown; a real answer is not. */
        {NULL, 0, 1, "unknown_outcome"}, {NULL, 1, 1, "unknown_outcome"},
        {"08006", 1, 1, "unknown_outcome"}, {"57P01", 0, 1, "unknown_outcome"},
        {"57P02", 1, 1, "unknown_outcome"}, {"40001", 1, 1, "retry"},
        {"23505", 1, 1, "permanent"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = err_class_name(pg_classify(cases[i].st, cases[i].ok, cases[i].commit));
        if (strcmp(got, cases[i].want) != 0)
            T_REPORT_("case %zu (%s ok=%d commit=%d): got %s want %s", i,
                      cases[i].st ? cases[i].st : "NULL", cases[i].ok, cases[i].commit, got,
                      cases[i].want);
    }
}

TEST(pg_lock_key_is_fnv1a_64)
{
    EXPECT_EQ_INT(pg_lock_key(""), (int64_t)0xcbf29ce484222325ULL);
    EXPECT_EQ_INT(pg_lock_key("a"), (int64_t)0xaf63dc4c8601ec8cULL);
    EXPECT_NE_INT(pg_lock_key("logfleet.rotate"), pg_lock_key("logfleet.rotatf"));
}
