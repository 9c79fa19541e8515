/* t.h — logfleet's in-tree test harness.
 *
 * TEST(name) registers a unit test; ITEST(name) an integration test that needs
 * the local stack (tests/stack/up; its env file is sourced by tests/run).
 * Each test runs in its own forked process with a timeout, so a crash or hang
 * fails only that test.  EXPECT_* record a failure and go on; ASSERT_* end the
 * test.  Both print the two values with file:line.  The runner's last line is
 * "N passed, N failed".
 */
#ifndef LOGFLEET_T_H
#define LOGFLEET_T_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct t_case {
    const char *name;
    void (*fn)(void);
    int integration;
    int timeout_s;
    struct t_case *next;
};

void t_register(struct t_case *c);
void t_fail(void);
int t_failed(void);
/* Environment value of the running stack; fails the test if missing. */
const char *t_env(const char *name);
/* A fresh empty temp dir for this test (removed by the runner's parent). */
const char *t_tmpdir(void);

#define T_REG_(name, integ, tmo)                                              \
    static void t_fn_##name(void);                                            \
    static struct t_case t_case_##name = {#name, t_fn_##name, integ, tmo, 0}; \
    __attribute__((constructor)) static void t_reg_##name(void)               \
    {                                                                         \
        t_register(&t_case_##name);                                           \
    }                                                                         \
    static void t_fn_##name(void)

#define TEST(name) T_REG_(name, 0, 60)
#define ITEST(name) T_REG_(name, 1, 300)
/* Integration test with its own timeout in seconds. */
#define ITEST_T(name, secs) T_REG_(name, 1, secs)

#define T_REPORT_(...)                                  \
    do {                                                \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                   \
        fputc('\n', stderr);                            \
        t_fail();                                       \
    } while (0)

#define EXPECT_TRUE(c)                                      \
    do {                                                    \
        if (!(c)) T_REPORT_("expected true: %s", #c);       \
    } while (0)
#define EXPECT_EQ_INT(a, b)                                                   \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_)                                                         \
            T_REPORT_("%s == %s: got %lld, want %lld", #a, #b, a_, b_);       \
    } while (0)
#define EXPECT_NE_INT(a, b)                                                   \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ == b_) T_REPORT_("%s != %s: both %lld", #a, #b, a_);           \
    } while (0)
#define EXPECT_GE_INT(a, b)                                                   \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ < b_) T_REPORT_("%s >= %s: got %lld < %lld", #a, #b, a_, b_);  \
    } while (0)
#define EXPECT_LE_INT(a, b)                                                   \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ > b_) T_REPORT_("%s <= %s: got %lld > %lld", #a, #b, a_, b_);  \
    } while (0)
#define EXPECT_EQ_STR(a, b)                                                   \
    do {                                                                      \
        const char *a_ = (a), *b_ = (b);                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                \
            T_REPORT_("%s == %s:\n    got  \"%s\"\n    want \"%s\"", #a, #b,  \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                \
    } while (0)
#define EXPECT_CONTAINS(hay, needle)                                          \
    do {                                                                      \
        const char *h_ = (hay), *n_ = (needle);                               \
        if (!h_ || !strstr(h_, n_))                                           \
            T_REPORT_("%s contains \"%s\": got \"%s\"", #hay, n_,             \
                      h_ ? h_ : "(null)");                                    \
    } while (0)
/* rc is an int return (0 ok); e a struct err. */
#define EXPECT_OK(rc, e)                                                      \
    do {                                                                      \
        int r_ = (rc);                                                        \
        if (r_ != 0) T_REPORT_("%s: rc=%d err=%s", #rc, r_, (e).msg);         \
    } while (0)

#define ASSERT_TRUE(c)                                                        \
    do {                                                                      \
        if (!(c)) { T_REPORT_("assert: %s", #c); exit(1); }                   \
    } while (0)
#define ASSERT_OK(rc, e)                                                      \
    do {                                                                      \
        int r_ = (rc);                                                        \
        if (r_ != 0) {                                                        \
            T_REPORT_("%s: rc=%d err=%s", #rc, r_, (e).msg);                  \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

#endif
