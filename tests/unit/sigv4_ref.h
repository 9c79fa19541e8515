/* sigv4_ref.h — a reference AWS Signature Version 4 signer for tests.
 *
 * Written from the AWS SigV4 specification over OpenSSL HMAC-SHA256, sharing
 * no code with common/aws.c (its own URI encoder too), so that the signatures
 * libcurl puts on our requests can be checked independently.  It takes a
 * request as seen on the wire and canonicalises it as a server would:
 * path and query percent-decoded and re-encoded (RFC 3986; S3 paths once,
 * other services twice), query sorted, header values trimmed and squeezed,
 * payload hash computed from the body (for S3, "UNSIGNED-PAYLOAD" when the
 * x-amz-content-sha256 header says so).  Test code only.
 */
#ifndef LOGFLEET_SIGV4_REF_H
#define LOGFLEET_SIGV4_REF_H

#include <stddef.h>

#include "common/buf.h"

struct sigv4_ref_hdr {
    const char *name;
    const char *value;
};

struct sigv4_ref_req {
    const char *method;
    const char *path;                 /* as on the wire, e.g. "/b/a%3Db" */
    const char *query;                /* as on the wire without '?'; NULL or "" = none */
    const struct sigv4_ref_hdr *headers;
    size_t n_headers;
    const char *signed_headers;       /* "host;x-amz-date" or NULL = every header given */
    const void *body;
    size_t body_len;
    const char *amz_date;             /* "20150830T123600Z" */
    const char *region;
    const char *service;
    const char *secret;
};

/* Computes the hex signature into sig.  creq / sts (may be NULL) receive the
 * canonical request and the string to sign; signed_out (may be NULL, 512
 * bytes) the canonical SignedHeaders list.  Returns 0, or -1 if a header to
 * sign is missing from the request or the input is malformed. */
int sigv4_ref_sign(const struct sigv4_ref_req *r, char sig[65], struct buf *creq,
                   struct buf *sts, char *signed_out);

#endif
