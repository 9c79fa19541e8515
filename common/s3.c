/* s3.c — S3 object, listing and multipart calls over aws_request. */
#include "common/s3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/mem.h"
#include "common/s3xml.h"

#define S3_XML_MAX (16u << 20) /* a ListObjectsV2 page of 1000 keys is ~0.5 MB */
#define UPLOAD_ID_MAX 1024

struct s3 {
    struct aws_client *c;
    char *bucket;
    int unsigned_payload; /* see s3_set_unsigned_payload */
};

int s3_new(const struct aws_client_opts *o, const char *bucket, struct s3 **out,
           struct err *e)
{
    if (!bucket || !*bucket || strchr(bucket, '/'))
        return err_set(e, -EINVAL, ERR_PERMANENT, "s3: bad bucket name");
    struct aws_client_opts co = *o;
    co.service = "s3";
    struct s3 *s = xcalloc(1, sizeof *s);
    int rc = aws_client_new(&co, &s->c, e);
    if (rc) {
        free(s);
        return rc;
    }
    s->bucket = xstrdup(bucket);
    *out = s;
    return 0;
}

void s3_free(struct s3 *s)
{
    if (!s) return;
    aws_client_free(s->c);
    free(s->bucket);
    free(s);
}

const char *s3_bucket(const struct s3 *s) { return s->bucket; }

void s3_set_unsigned_payload(struct s3 *s, int on) { s->unsigned_payload = on != 0; }

/* Adds the payload headers of an upload to h[*nh]: nothing when signed
 * (aws_request hashes the body), else UNSIGNED-PAYLOAD and the body's CRC-32
 * (computed into crc). */
static void payload_headers(const struct s3 *s, const void *body, size_t len,
                            struct aws_header *h, size_t *nh, char crc[16])
{
    crc[0] = 0;
    if (!s->unsigned_payload) return;
    aws_crc32_base64(body, len, crc);
    h[(*nh)++] = (struct aws_header){"x-amz-content-sha256", "UNSIGNED-PAYLOAD"};
    h[(*nh)++] = (struct aws_header){"x-amz-checksum-crc32", crc};
}

/* ---- request helpers ---------------------------------------------------- */

/* Rejects keys S3 or libcurl would treat specially: empty, too long, with a
 * "." or ".." segment (curl would normalise the path). */
static int key_check(const char *key, struct err *e)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > S3_KEY_MAX)
        return err_set(e, -EINVAL, ERR_PERMANENT, "s3: key length %zu not in 1..%d", n,
                       S3_KEY_MAX);
    for (const char *seg = key;; seg++) {
        size_t len = strcspn(seg, "/");
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return err_set(e, -EINVAL, ERR_PERMANENT, "s3: key has a dot segment");
        seg += len;
        if (!*seg) return 0;
    }
}

/* "/<bucket>/<key percent-encoded, '/' kept>" into p. */
static int obj_path(const struct s3 *s, const char *key, struct buf *p, struct err *e)
{
    int rc = key_check(key, e);
    if (rc) return rc;
    buf_init(p, 3 * S3_KEY_MAX + 256);
    if (buf_puts(p, "/") || aws_uri_encode(p, s->bucket, strlen(s->bucket), 0) ||
        buf_puts(p, "/") || aws_uri_encode(p, key, strlen(key), 1)) {
        buf_free(p);
        return err_set(e, -E2BIG, ERR_PERMANENT, "s3: path too long");
    }
    return 0;
}

/* Appends "name=<encoded value>" to a query being built in sorted order. */
static int qparam(struct buf *q, const char *name, const char *val)
{
    if (q->len && buf_puts(q, "&")) return -E2BIG;
    if (buf_puts(q, name) || buf_puts(q, "=")) return -E2BIG;
    return aws_uri_encode(q, val, strlen(val), 0);
}

static int request(struct s3 *s, const struct aws_req *req, struct aws_resp *r,
                   struct err *e)
{
    int rc = aws_request(s->c, req, r, e);
    if (rc && e && (e->http_status == 404 || r->status == 404)) e->code = -ENOENT;
    return rc;
}

/* Sends req and discards the answer but for status and ETag. */
static int request_simple(struct s3 *s, const struct aws_req *req, struct aws_resp *r,
                          struct err *e)
{
    aws_resp_init(r);
    int rc = request(s, req, r, e);
    buf_free(&r->body);
    return rc;
}

static void md5_base64(const void *data, size_t n, char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, n, md, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

/* An error document inside a 2xx answer (CompleteMultipartUpload does
 * that): classified by its code. */
static int error_in_body(const struct aws_resp *r, const char *what, struct err *e)
{
    char code[128], msg[160];
    struct err xe;
    err_clear(&xe);
    if (r->body.len == 0) return 0;
    if (s3xml_find(r->body.data, r->body.len, "Error/Code", code, sizeof code, &xe) != 1)
        return 0;
    if (s3xml_find(r->body.data, r->body.len, "Error/Message", msg, sizeof msg, &xe) != 1)
        msg[0] = 0;
    /* classified by the code alone: InternalError retries, InvalidPart not */
    err_set(e, -EIO, aws_classify_http(400, code), "s3 %s: %s: %s", what, code, msg);
    if (e) e->http_status = (int)r->status;
    return -EIO;
}

static int too_long(struct err *e, const char *what)
{
    return err_set(e, -E2BIG, ERR_PERMANENT, "s3: %s too long", what);
}

static int parse_fail(struct err *e, const char *what)
{
    char m[sizeof e->msg];
    strlcpy_(m, e ? e->msg : "", sizeof m);
    return err_set(e, -EBADMSG, ERR_PERMANENT, "s3 %s: bad answer: %.180s", what, m);
}

/* ---- single objects ----------------------------------------------------- */

int s3_put(struct s3 *s, const char *key, const void *body, size_t len,
           const struct s3_put_opts *o, struct s3_put_result *res, struct err *e)
{
    struct buf p;
    int rc = obj_path(s, key, &p, e);
    if (rc) return rc;
    char md5[32], crc[16];
    struct aws_header h[5];
    size_t nh = 0;
    h[nh++] = (struct aws_header){"Content-Type", o && o->content_type
                                                      ? o->content_type
                                                      : "application/octet-stream"};
    if (o && o->if_none_match) h[nh++] = (struct aws_header){"If-None-Match", "*"};
    if (o && o->content_md5) {
        md5_base64(body, len, md5);
        h[nh++] = (struct aws_header){"Content-MD5", md5};
    }
    payload_headers(s, body, len, h, &nh, crc);
    /* PUT replaces the whole object with these bytes, so repeating it after a
     * lost reply is harmless; with If-None-Match a repeat cannot overwrite. */
    struct aws_req req = {.method = "PUT", .path = p.data, .headers = h, .n_headers = nh,
                          .body = body, .body_len = len, .idempotent = 1};
    struct aws_resp r;
    rc = request_simple(s, &req, &r, e);
    buf_free(&p);
    if (rc) return rc;
    memset(res, 0, sizeof *res);
    res->existed = r.status == 412;
    res->attempts = r.attempts;
    if (!res->existed) strlcpy_(res->etag, r.etag, sizeof res->etag);
    return 0;
}

int s3_get(struct s3 *s, const char *key, struct buf *out, struct err *e)
{
    struct buf p;
    int rc = obj_path(s, key, &p, e);
    if (rc) return rc;
    struct aws_req req = {.method = "GET", .path = p.data, .idempotent = 1};
    struct aws_resp r;
    aws_resp_init(&r);
    r.body.max = out->max;
    rc = request(s, &req, &r, e);
    buf_free(&p);
    if (rc == -E2BIG) /* aws_request stopped reading at our max */
        rc = err_set(e, -E2BIG, ERR_PERMANENT, "s3 get %s: object of %lld bytes > max %zu",
                     key, r.content_length, out->max);
    if (rc == 0) {
        size_t max = out->max;
        buf_free(out);
        *out = r.body;
        out->max = max;
        buf_init(&r.body, 0);
    }
    aws_resp_free(&r);
    return rc;
}

int s3_head(struct s3 *s, const char *key, struct s3_head_result *res, struct err *e)
{
    struct buf p;
    int rc = obj_path(s, key, &p, e);
    if (rc) return rc;
    struct aws_req req = {.method = "HEAD", .path = p.data, .idempotent = 1};
    struct aws_resp r;
    rc = request_simple(s, &req, &r, e);
    buf_free(&p);
    memset(res, 0, sizeof *res);
    if (rc && e && e->code == -ENOENT) {
        err_clear(e);
        return 0;
    }
    if (rc) return rc;
    res->exists = 1;
    res->size = r.content_length;
    strlcpy_(res->etag, r.etag, sizeof res->etag);
    return 0;
}

int s3_delete(struct s3 *s, const char *key, struct err *e)
{
    struct buf p;
    int rc = obj_path(s, key, &p, e);
    if (rc) return rc;
    struct aws_req req = {.method = "DELETE", .path = p.data, .idempotent = 1};
    struct aws_resp r;
    rc = request_simple(s, &req, &r, e);
    buf_free(&p);
    return rc;
}

/* ---- listing ------------------------------------------------------------ */

struct list_ctx {
    struct s3_list_page *page;
    size_t cap;
    struct s3_object cur;
    int have_key, bad;
};

static long long parse_size(const char *t)
{
    char *end;
    errno = 0;
    long long v = strtoll(t, &end, 10);
    return (errno || end == t || *end || v < 0) ? -1 : v;
}

/* A finished <Contents>: append it to the page. */
static int list_push(struct list_ctx *l)
{
    struct s3_list_page *pg = l->page;
    if (!l->have_key || l->cur.size < 0) return l->bad = 1;
    if (pg->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        pg->objs = xrealloc(pg->objs, l->cap * sizeof *pg->objs);
    }
    pg->objs[pg->n++] = l->cur;
    memset(&l->cur, 0, sizeof l->cur);
    l->cur.size = -1; /* a Contents without Size is refused */
    l->have_key = 0;
    return 0;
}

static int list_cb(void *ctx, const char *path, const char *text, size_t len, int leaf)
{
    struct list_ctx *l = ctx;
    (void)len, (void)leaf;
    if (strcmp(path, "ListBucketResult") == 0) return 0;
    if (strncmp(path, "ListBucketResult/", 17) != 0) return l->bad = 1;
    path += 17;
    if (strcmp(path, "Contents/Key") == 0) {
        if (l->have_key) return l->bad = 1;
        l->cur.key = xstrdup(text);
        l->have_key = 1;
    } else if (strcmp(path, "Contents/Size") == 0) {
        l->cur.size = parse_size(text);
    } else if (strcmp(path, "Contents/ETag") == 0) {
        strlcpy_(l->cur.etag, text, sizeof l->cur.etag);
    } else if (strcmp(path, "Contents") == 0) {
        return list_push(l);
    } else if (strcmp(path, "IsTruncated") == 0) {
        l->page->truncated = strcmp(text, "true") == 0;
    } else if (strcmp(path, "NextContinuationToken") == 0 && *text) {
        free(l->page->next_token);
        l->page->next_token = xstrdup(text);
    }
    return 0;
}

static int list_query(const struct s3_list_opts *o, const char *token, struct buf *q)
{
    char mk[16];
    /* Sorted by name, as the signature needs. */
    if (token && qparam(q, "continuation-token", token)) return -E2BIG;
    if (qparam(q, "list-type", "2")) return -E2BIG;
    snprintf(mk, sizeof mk, "%d", o && o->max_keys > 0 ? o->max_keys : 1000);
    if (qparam(q, "max-keys", mk)) return -E2BIG;
    if (o && o->prefix && qparam(q, "prefix", o->prefix)) return -E2BIG;
    if (o && o->start_after && qparam(q, "start-after", o->start_after)) return -E2BIG;
    return 0;
}

static int list_parse(const struct aws_resp *r, struct s3_list_page *page, struct err *e)
{
    struct list_ctx l = {.page = page, .cur = {.size = -1}};
    int rc = s3xml_parse(r->body.data, r->body.len, list_cb, &l, e);
    free(l.cur.key);
    if (l.bad) rc = err_set(e, -EBADMSG, ERR_PERMANENT, "not a ListBucketResult, or a "
                                                       "Contents without Key or Size");
    if (rc == 0 && page->truncated && !page->next_token)
        rc = err_set(e, -EBADMSG, ERR_PERMANENT, "truncated page without a token");
    return rc ? parse_fail(e, "list") : 0;
}

int s3_list_page(struct s3 *s, const struct s3_list_opts *o, const char *token,
                 struct s3_list_page *page, struct err *e)
{
    memset(page, 0, sizeof *page);
    struct buf p, q;
    buf_init(&p, 1024);
    buf_init(&q, 8192);
    if (buf_puts(&p, "/") || aws_uri_encode(&p, s->bucket, strlen(s->bucket), 0) ||
        list_query(o, token, &q)) {
        buf_free(&p);
        buf_free(&q);
        return err_set(e, -E2BIG, ERR_PERMANENT, "s3 list: prefix or token too long");
    }
    struct aws_req req = {.method = "GET", .path = p.data, .query = q.data, .idempotent = 1};
    struct aws_resp r;
    aws_resp_init(&r);
    r.body.max = S3_XML_MAX;
    int rc = request(s, &req, &r, e);
    if (rc == 0) rc = list_parse(&r, page, e);
    if (rc) s3_list_page_free(page);
    aws_resp_free(&r);
    buf_free(&p);
    buf_free(&q);
    return rc;
}

void s3_list_page_free(struct s3_list_page *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) free(p->objs[i].key);
    free(p->objs);
    free(p->next_token);
    memset(p, 0, sizeof *p);
}

int s3_list(struct s3 *s, const struct s3_list_opts *o, s3_list_cb cb, void *ctx,
            struct err *e)
{
    char *token = NULL;
    int rc = 0;
    do {
        struct s3_list_page pg;
        rc = s3_list_page(s, o, token, &pg, e);
        free(token);
        token = NULL;
        if (rc) break;
        for (size_t i = 0; i < pg.n && rc == 0; i++) rc = cb(ctx, &pg.objs[i]);
        if (pg.truncated) token = pg.next_token, pg.next_token = NULL;
        s3_list_page_free(&pg);
    } while (rc == 0 && token);
    free(token);
    return rc;
}

/* ---- multipart ---------------------------------------------------------- */

int s3_mpu_create(struct s3 *s, const char *key, const char *content_type,
                  char **upload_id, struct err *e)
{
    struct buf p;
    int rc = obj_path(s, key, &p, e);
    if (rc) return rc;
    struct aws_header h[2] = {
        {"Content-Type", content_type ? content_type : "application/octet-stream"},
        {"x-amz-checksum-algorithm", "CRC32"}}; /* the parts will carry CRC-32s */
    /* A repeat after a lost reply only leaves an unused upload behind, which
     * the bucket's AbortIncompleteMultipartUpload rule reclaims. */
    struct aws_req req = {.method = "POST", .path = p.data, .query = "uploads=",
                          .headers = h, .n_headers = s->unsigned_payload ? 2 : 1,
                          .idempotent = 1};
    struct aws_resp r;
    aws_resp_init(&r);
    r.body.max = 64 * 1024;
    rc = request(s, &req, &r, e);
    char id[UPLOAD_ID_MAX] = "";
    int found = rc ? 0 : s3xml_find(r.body.data, r.body.len,
                                    "InitiateMultipartUploadResult/UploadId", id, sizeof id, e);
    if (found < 0) rc = parse_fail(e, "create multipart upload");
    if (rc == 0 && !id[0])
        rc = err_set(e, -EBADMSG, ERR_PERMANENT, "s3 create multipart upload: no UploadId");
    if (rc == 0) *upload_id = xstrdup(id);
    aws_resp_free(&r);
    buf_free(&p);
    return rc;
}

/* "partNumber=N&uploadId=..." (sorted) or just "uploadId=..." (number 0). */
static int upload_query(const char *upload_id, int number, struct buf *q)
{
    char n[16];
    snprintf(n, sizeof n, "%d", number);
    if (number && qparam(q, "partNumber", n)) return -E2BIG;
    return qparam(q, "uploadId", upload_id);
}

int s3_mpu_part(struct s3 *s, const char *key, const char *upload_id, int number,
                const void *body, size_t len, struct s3_part *part, struct err *e)
{
    if (number < 1 || number > 10000)
        return err_set(e, -EINVAL, ERR_PERMANENT, "s3: part number %d not in 1..10000",
                       number);
    struct buf p, q;
    int rc = obj_path(s, key, &p, e);
    if (rc) return rc;
    buf_init(&q, 4 * UPLOAD_ID_MAX);
    if (upload_query(upload_id, number, &q)) rc = too_long(e, "upload id");
    struct aws_header h[2];
    size_t nh = 0;
    char crc[16];
    payload_headers(s, body, len, h, &nh, crc);
    /* Uploading a part again replaces it: idempotent. */
    struct aws_req req = {.method = "PUT", .path = p.data, .query = q.data, .headers = h,
                          .n_headers = nh, .body = body, .body_len = len, .idempotent = 1};
    struct aws_resp r;
    if (rc == 0) rc = request_simple(s, &req, &r, e);
    if (rc == 0 && !r.etag[0]) rc = err_set(e, -EBADMSG, ERR_PERMANENT, "s3: part without ETag");
    if (rc == 0) {
        part->number = number;
        strlcpy_(part->etag, r.etag, sizeof part->etag);
        memcpy(part->crc32, crc, sizeof part->crc32);
    }
    buf_free(&p);
    buf_free(&q);
    return rc;
}

static int xml_escaped(struct buf *b, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        switch (*s) {
        case '&': rc = buf_puts(b, "&amp;"); break;
        case '<': rc = buf_puts(b, "&lt;"); break;
        case '>': rc = buf_puts(b, "&gt;"); break;
        case '"': rc = buf_puts(b, "&quot;"); break;
        default: rc = buf_append(b, s, 1);
        }
    }
    return rc;
}

static int complete_body(const struct s3_part *parts, size_t n, struct buf *b)
{
    int rc = buf_puts(b, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (parts[i].number < 1 || (i && parts[i].number <= parts[i - 1].number))
            return -EINVAL;
        rc = buf_printf(b, "<Part><PartNumber>%d</PartNumber><ETag>", parts[i].number);
        if (rc == 0) rc = xml_escaped(b, parts[i].etag);
        if (rc == 0) rc = buf_puts(b, "</ETag>");
        if (rc == 0 && parts[i].crc32[0]) /* base64: nothing to escape */
            rc = buf_printf(b, "<ChecksumCRC32>%s</ChecksumCRC32>", parts[i].crc32);
        if (rc == 0) rc = buf_puts(b, "</Part>");
    }
    return rc ? rc : buf_puts(b, "</CompleteMultipartUpload>");
}

static int complete_result(const struct aws_resp *r, struct s3_put_result *res,
                           struct err *e)
{
    memset(res, 0, sizeof *res);
    res->attempts = r->attempts;
    if (r->status == 412) return res->existed = 1, 0;
    int rc = error_in_body(r, "complete multipart upload", e);
    if (rc) return rc;
    if (s3xml_find(r->body.data, r->body.len, "CompleteMultipartUploadResult/ETag", res->etag,
                   sizeof res->etag, e) < 0)
        return parse_fail(e, "complete multipart upload");
    return 0;
}

int s3_mpu_complete(struct s3 *s, const char *key, const char *upload_id,
                    const struct s3_part *parts, size_t n, int if_none_match,
                    struct s3_put_result *res, struct err *e)
{
    if (n == 0 || n > 10000)
        return err_set(e, -EINVAL, ERR_PERMANENT, "s3: %zu parts not in 1..10000", n);
    struct buf p, q, body;
    int rc = obj_path(s, key, &p, e);
    if (rc) return rc;
    buf_init(&q, 4 * UPLOAD_ID_MAX);
    buf_init(&body, 64 + n * 256);
    if (upload_query(upload_id, 0, &q) || complete_body(parts, n, &body))
        rc = err_set(e, -EINVAL, ERR_PERMANENT, "s3: bad part list or upload id");
    struct aws_header h[2] = {{"Content-Type", "application/xml"}, {"If-None-Match", "*"}};
    struct aws_req req = {.method = "POST", .path = p.data, .query = q.data, .headers = h,
                          .n_headers = if_none_match ? 2 : 1, .body = body.data,
                          .body_len = body.len, .idempotent = 0};
    struct aws_resp r;
    aws_resp_init(&r);
    r.body.max = 64 * 1024;
    if (rc == 0) rc = request(s, &req, &r, e);
    if (rc == 0) rc = complete_result(&r, res, e);
    aws_resp_free(&r);
    buf_free(&p);
    buf_free(&q);
    buf_free(&body);
    return rc;
}

int s3_mpu_abort(struct s3 *s, const char *key, const char *upload_id, struct err *e)
{
    struct buf p, q;
    int rc = obj_path(s, key, &p, e);
    if (rc) return rc;
    buf_init(&q, 4 * UPLOAD_ID_MAX);
    if (upload_query(upload_id, 0, &q)) rc = too_long(e, "upload id");
    struct aws_req req = {.method = "DELETE", .path = p.data, .query = q.data, .idempotent = 1};
    struct aws_resp r;
    if (rc == 0) rc = request_simple(s, &req, &r, e);
    buf_free(&p);
    buf_free(&q);
    return rc;
}
