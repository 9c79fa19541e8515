/* t_buf.c — bounded buffer behaviour. */
#include "common/buf.h"
#include "tests/t.h"

#include <errno.h>

TEST(buf_append_respects_max)
{
    struct buf b;
    buf_init(&b, 8);
    EXPECT_EQ_INT(buf_puts(&b, "abcd"), 0);
    EXPECT_EQ_INT(buf_printf(&b, "%d", 1234), 0);
    EXPECT_EQ_INT(buf_puts(&b, "x"), -E2BIG);
    EXPECT_EQ_STR(b.data, "abcd1234");
    EXPECT_EQ_INT(b.len, 8);
    buf_free(&b);
}

TEST(buf_steal_empty_is_terminated)
{
    struct buf b;
    buf_init(&b, 16);
    size_t n = 99;
    char *s = buf_steal(&b, &n);
    EXPECT_EQ_INT(n, 0);
    EXPECT_EQ_STR(s, "");
    free(s);
}
