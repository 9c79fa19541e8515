/* aws_fixture.h — shared helpers for tests of the AWS client.
 *
 * aws_fx_env_reset() makes the credentials chain see nothing from the host:
 * every AWS_* variable it reads is cleared, HOME and the shared files point
 * into t_tmpdir(), and IMDS is disabled, so no test can reach 169.254.169.254.
 * aws_fx_verify_sig() recomputes the SigV4 signature of a request captured by
 * fakehttp with the reference signer (tests/unit/sigv4_ref.h).
 */
#ifndef LOGFLEET_AWS_FIXTURE_H
#define LOGFLEET_AWS_FIXTURE_H

#include <stddef.h>

#include "tests/integ/fakehttp.h"

void aws_fx_env_reset(void);
/* A loopback port with nothing listening on it. */
int aws_fx_closed_port(void);
/* Writes text to <t_tmpdir()>/name and returns the path (static storage per call). */
const char *aws_fx_write(const char *name, const char *text);

/* Checks q's Authorization header against the reference signer with the
 * given secret: 1 = signature matches, 0 = it does not, -1 = malformed (no
 * Authorization / X-Amz-Date, wrong scope, a signed header not sent, or the
 * SignedHeaders list differs from the canonical one).  why gets a reason. */
int aws_fx_verify_sig(const struct fakehttp_req *q, const char *akid, const char *region,
                      const char *service, const char *secret, char *why, size_t why_len);

#endif
