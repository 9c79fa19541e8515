/* s3.h — the S3 object calls logfleet needs, over common/aws.h.
 *
 * struct s3 holds one aws_client (service "s3", path-style URLs
 * endpoint/bucket/key) and a bucket; like the client it is used by one thread
 * at a time, so make one per thread.  Keys are percent-encoded here (RFC 3986,
 * '/' kept) and query strings are built canonical, as libcurl 7.88 signs them
 * as given.  Results are caller-owned structs; _free functions release what
 * the calls allocated.  Failures are classified RETRY / PERMANENT /
 * UNKNOWN_OUTCOME in the struct err (see aws.h); the S3 error code (NoSuchKey,
 * SignatureDoesNotMatch ...) is in e->msg, and "not found" also sets
 * e->code = -ENOENT.
 */
#ifndef LOGFLEET_S3_H
#define LOGFLEET_S3_H

#include <stddef.h>

#include "common/aws.h"
#include "common/buf.h"
#include "common/err.h"

#define S3_KEY_MAX 1024

struct s3;

/* o->service is forced to "s3"; the other client options are used as given. */
int s3_new(const struct aws_client_opts *o, const char *bucket, struct s3 **out,
           struct err *e);
void s3_free(struct s3 *s);
const char *s3_bucket(const struct s3 *s);
/* How request bodies are protected (off by default: signed).  Signed, the
 * SigV4 signature covers the body's SHA-256 (x-amz-content-sha256), which
 * costs a SHA-256 pass over every upload.  Unsigned sends
 * `x-amz-content-sha256: UNSIGNED-PAYLOAD` with `x-amz-checksum-crc32`
 * instead: S3 still rejects a damaged body (400 BadDigest), TLS keeps it
 * private and unforged, and CRC-32 costs a fraction of SHA-256.  This is
 * what the AWS SDKs do over HTTPS; over plain HTTP keep the signature.
 * Multipart uploads then declare CRC32 at create, checksum every part and
 * list the parts' checksums at complete. */
void s3_set_unsigned_payload(struct s3 *s, int on);

/* ---- single objects ----------------------------------------------------- */

struct s3_put_opts {
    const char *content_type;  /* NULL: application/octet-stream */
    int if_none_match;         /* create only if absent (If-None-Match: *) */
    int content_md5;           /* send Content-MD5 so S3 checks the body */
};

struct s3_put_result {
    int existed;        /* 1: If-None-Match said the key already exists (412);
                           nothing was written by this call's last attempt */
    char etag[128];     /* ETag of what we wrote, quotes kept ("" if existed) */
    int attempts;       /* > 1 with existed = 1 means an earlier attempt of this
                           very call may have been the writer: HEAD and compare */
};

/* PutObject.  With if_none_match the request is safe to retry (a repeat
 * cannot overwrite), so lost replies are retried; returns 0 with existed = 1
 * when the key was already there.  o may be NULL. */
int s3_put(struct s3 *s, const char *key, const void *body, size_t len,
           const struct s3_put_opts *o, struct s3_put_result *res, struct err *e);

/* GetObject into out (reset first); an object larger than out->max fails
 * with -E2BIG, PERMANENT. */
int s3_get(struct s3 *s, const char *key, struct buf *out, struct err *e);

struct s3_head_result {
    int exists;
    long long size;
    char etag[128];
};

/* HeadObject; a missing key is not an error: exists = 0. */
int s3_head(struct s3 *s, const char *key, struct s3_head_result *res, struct err *e);

/* DeleteObject (S3 answers 204 for a missing key too). */
int s3_delete(struct s3 *s, const char *key, struct err *e);

/* ---- listing (ListObjectsV2) -------------------------------------------- */

struct s3_object {
    char *key;
    long long size;
    char etag[128];
};

struct s3_list_opts {
    const char *prefix;       /* NULL: whole bucket */
    const char *start_after;  /* NULL: from the start */
    int max_keys;             /* per page; 0: S3's default (1000) */
};

struct s3_list_page {
    struct s3_object *objs;
    size_t n;
    int truncated;
    char *next_token;         /* NULL on the last page */
};

/* One page; token is NULL for the first, then page->next_token. */
int s3_list_page(struct s3 *s, const struct s3_list_opts *o, const char *token,
                 struct s3_list_page *page, struct err *e);
void s3_list_page_free(struct s3_list_page *p);

/* Every object, following NextContinuationToken while IsTruncated.  A
 * non-zero return from cb stops the walk and is returned. */
typedef int (*s3_list_cb)(void *ctx, const struct s3_object *obj);
int s3_list(struct s3 *s, const struct s3_list_opts *o, s3_list_cb cb, void *ctx,
            struct err *e);

/* ---- multipart upload ---------------------------------------------------- */

struct s3_part {
    int number;         /* 1..10000 */
    char etag[128];
    char crc32[16];     /* base64 CRC-32 sent with the part, "" when signed */
};

/* CreateMultipartUpload; *upload_id is owned by the caller (free()). */
int s3_mpu_create(struct s3 *s, const char *key, const char *content_type,
                  char **upload_id, struct err *e);
/* UploadPart; fills part->number, part->etag and part->crc32. */
int s3_mpu_part(struct s3 *s, const char *key, const char *upload_id, int number,
                const void *body, size_t len, struct s3_part *part, struct err *e);
/* CompleteMultipartUpload with parts in ascending order.  A lost reply is
 * UNKNOWN_OUTCOME (the upload may have completed).  With if_none_match a
 * 412 gives existed = 1. */
int s3_mpu_complete(struct s3 *s, const char *key, const char *upload_id,
                    const struct s3_part *parts, size_t n, int if_none_match,
                    struct s3_put_result *res, struct err *e);
/* AbortMultipartUpload. */
int s3_mpu_abort(struct s3 *s, const char *key, const char *upload_id, struct err *e);

#endif
