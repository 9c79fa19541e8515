/* t_buf.c — bounded buffer behaviour. */
#include "common/buf.h"
#include "common/err.h"
#include "tests/t.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The one file reader of config, properties and KCL app files: whole
 * files (past one 8 KB chunk), and each failure named with the path. */
TEST(buf_read_file_reads_whole_files_and_names_failures)
{
    char path[] = "/tmp/t_buf_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    FILE *f = fdopen(fd, "w");
    ASSERT_TRUE(f != NULL);
    for (int i = 0; i < 3000; i++) fprintf(f, "line %04d\n", i); /* 30000 bytes */
    fclose(f);
    struct buf b;
    struct err e = {0};
    buf_init(&b, 1 << 20);
    ASSERT_OK(buf_read_file(&b, path, &e), e);
    EXPECT_EQ_INT(b.len, 30000);
    EXPECT_TRUE(strncmp(b.data + 29990, "line 2999\n", 10) == 0 && b.data[30000] == 0);
    buf_free(&b);

    buf_init(&b, 10000); /* the buffer's max is the file size limit */
    EXPECT_EQ_INT(buf_read_file(&b, path, &e), -E2BIG);
    char want[256];
    snprintf(want, sizeof want, "%s: larger than 10000 bytes", path);
    EXPECT_EQ_STR(e.msg, want);
    EXPECT_EQ_INT(e.cls, ERR_PERMANENT);
    buf_free(&b);
    unlink(path);

    buf_init(&b, 1 << 20);
    EXPECT_EQ_INT(buf_read_file(&b, path, &e), -ENOENT);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    EXPECT_EQ_STR(e.msg, want);
    EXPECT_EQ_INT(buf_read_file(&b, "/", &e), -EIO); /* a directory opens but cannot be read */
    EXPECT_EQ_STR(e.msg, "/: cannot read: Is a directory");
    buf_free(&b);
}
