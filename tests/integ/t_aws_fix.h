/* t_aws_fix.h — fixtures shared by the AWS-client integration tests
 * (t_s3, t_kinesis, t_daemon_reshard, t_ctl_ops): credentials for the test
 * stack, a scripted fake endpoint with static credentials, and Kinesis's
 * 128-bit decimal hash keys.
 * Test code only; helpers abort the test on failure.
 */
#ifndef LOGFLEET_T_AWS_FIX_H
#define LOGFLEET_T_AWS_FIX_H

#include <stddef.h>

#include "common/aws.h"
#include "tests/integ/fakehttp.h"

/* Starts a fakehttp, makes *cp (static keys AKID/SECRET, no IMDS) and fills
 * *o to point a client at the fake with fast retries (3 attempts, 1-5 ms).
 * The caller frees the fake and *cp. */
struct fakehttp *af_fake(struct aws_creds_provider **cp, struct aws_client_opts *o);

/* Makes *cp from the stack's keys in the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY; secret, when not NULL, replaces the secret key). */
void af_stack_creds(const char *secret, struct aws_creds_provider **cp);

/* A decimal hash key as a number, and back into out (n bytes; 48 fit any). */
unsigned __int128 af_u128(const char *s);
void af_u128_fmt(unsigned __int128 v, char *out, size_t n);

#endif
