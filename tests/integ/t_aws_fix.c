/* t_aws_fix.c — fixtures shared by the AWS-client integration tests. */
#include "tests/integ/t_aws_fix.h"

#include <stdio.h>

#include "tests/t.h"

struct fakehttp *af_fake(struct aws_creds_provider **cp, struct aws_client_opts *o)
{
    struct fakehttp *fh = fakehttp_start();
    ASSERT_TRUE(fh != NULL);
    struct aws_creds_opts co = {.access_key = "AKID", .secret_key = "SECRET",
                                .imds_disabled = 1};
    struct err e;
    ASSERT_OK(aws_creds_provider_new(&co, cp, &e), e);
    *o = (struct aws_client_opts){.region = "us-east-1", .endpoint = fakehttp_url(fh),
                                  .creds = *cp, .timeout_ms = 1000, .max_attempts = 3,
                                  .retry_base_ms = 1, .retry_cap_ms = 5};
    return fh;
}

void af_stack_creds(const char *secret, struct aws_creds_provider **cp)
{
    struct aws_creds_opts co = {.access_key = t_env("AWS_ACCESS_KEY_ID"),
                                .secret_key = secret ? secret : t_env("AWS_SECRET_ACCESS_KEY"),
                                .imds_disabled = 1};
    struct err e;
    err_clear(&e);
    ASSERT_OK(aws_creds_provider_new(&co, cp, &e), e);
}

unsigned __int128 af_u128(const char *s)
{
    unsigned __int128 v = 0;
    for (; *s; s++) v = v * 10 + (unsigned)(*s - '0');
    return v;
}

void af_u128_fmt(unsigned __int128 v, char *out, size_t n)
{
    char tmp[48];
    size_t i = sizeof tmp;
    tmp[--i] = 0;
    do {
        tmp[--i] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    snprintf(out, n, "%s", tmp + i);
}
