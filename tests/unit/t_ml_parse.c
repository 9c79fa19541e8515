/* t_ml_parse.c — the multilang child-line parser (kcl.md §A.3, §A.5). */
#include "worker/multilang.h"
#include "tests/t.h"

static int parse(const char *s, struct ml_msg *m)
{
    return ml_parse_line(s, strlen(s), m);
}

TEST(ml_parse_status_and_checkpoint)
{
    struct ml_msg m;
    EXPECT_EQ_INT(parse("{\"action\":\"status\",\"responseFor\":\"processRecords\"}", &m), 0);
    EXPECT_EQ_INT(m.type, ML_MSG_STATUS);
    EXPECT_EQ_STR(m.response_for, "processRecords");
    ml_msg_free(&m);
    /* lenient about extra keys and whitespace */
    EXPECT_EQ_INT(parse(" {\"foo\":1, \"action\" : \"status\", \"responseFor\":\"x\"} ", &m), 0);
    EXPECT_EQ_STR(m.response_for, "x");
    ml_msg_free(&m);
    EXPECT_EQ_INT(parse("{\"action\":\"status\"}", &m), 0);
    EXPECT_TRUE(m.response_for == NULL);
    ml_msg_free(&m);

    EXPECT_EQ_INT(parse("{\"action\":\"checkpoint\",\"sequenceNumber\":\"4959\",\"subSequenceNumber\":3}", &m), 0);
    EXPECT_EQ_INT(m.type, ML_MSG_CHECKPOINT);
    EXPECT_EQ_STR(m.seq, "4959");
    EXPECT_TRUE(m.has_sub);
    EXPECT_EQ_INT(m.sub, 3);
    ml_msg_free(&m);
    /* Node omits subSequenceNumber; null means "largest delivered" */
    EXPECT_EQ_INT(parse("{\"action\":\"checkpoint\",\"sequenceNumber\":null}", &m), 0);
    EXPECT_TRUE(m.seq == NULL && !m.has_sub);
    ml_msg_free(&m);
    EXPECT_EQ_INT(parse("{\"action\":\"checkpoint\"}", &m), 0);
    EXPECT_TRUE(m.seq == NULL && !m.has_sub);
    ml_msg_free(&m);
    /* Jackson-style coercions */
    EXPECT_EQ_INT(parse("{\"action\":\"checkpoint\",\"sequenceNumber\":123,\"subSequenceNumber\":\"-2\"}", &m), 0);
    EXPECT_EQ_STR(m.seq, "123");
    EXPECT_EQ_INT(m.sub, -2);
    ml_msg_free(&m);
    /* other registered actions are recognised (and ignored by the daemon) */
    EXPECT_EQ_INT(parse("{\"action\":\"initialize\",\"shardId\":\"s\"}", &m), 0);
    EXPECT_EQ_INT(m.type, ML_MSG_OTHER);
    EXPECT_EQ_STR(m.action, "initialize");
    ml_msg_free(&m);
}

TEST(ml_parse_rejects_non_messages)
{
    const char *bad[] = {
        "", "not json", "[1,2]", "\"status\"", "42", "{}", "{\"action\":\"bogus\"}",
        "{\"action\":\"record\"}", "{\"action\":\"Status\",\"responseFor\":\"x\"}",
        "{\"action\":7}", "{\"action\":\"status\",\"responseFor\":{}}",
        "{\"action\":\"checkpoint\",\"sequenceNumber\":{\"x\":1}}",
        "{\"action\":\"checkpoint\",\"sequenceNumber\":\"1\",\"subSequenceNumber\":1.5}",
        "{\"action\":\"checkpoint\",\"subSequenceNumber\":\"1x\"}",
        "{\"action\":\"checkpoint\",\"checkpoint\":\"123\"} trailing",
        "{\"action\":\"status\",\"responseFor\":\"x\"", "{\"action\":\"status\"}{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct ml_msg m;
        if (parse(bad[i], &m) != -1) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            t_fail();
        }
        EXPECT_TRUE(m.seq == NULL && m.response_for == NULL);
    }
    /* an embedded NUL is not JSON text */
    struct ml_msg m;
    EXPECT_EQ_INT(ml_parse_line("{\"action\":\"status\"}\0x", 21, &m), -1);
    /* the outdated Javadoc's "checkpoint" field: skipped (Java rejects the
     * unknown property), never read as a null "largest delivered" request */
    EXPECT_EQ_INT(parse("{\"action\":\"checkpoint\",\"checkpoint\":\"123\"}", &m), -1);
    EXPECT_EQ_INT(parse("{\"action\":\"checkpoint\",\"checkpoint\":\"1\",\"sequenceNumber\":\"2\"}", &m), 0);
    EXPECT_EQ_STR(m.seq, "2");
    ml_msg_free(&m);
}
