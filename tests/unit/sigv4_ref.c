/* sigv4_ref.c — reference SigV4 signer (see sigv4_ref.h). */
#include "tests/unit/sigv4_ref.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/mem.h"

#define REF_MAX ((size_t)1 << 24)

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = h[d[i] >> 4];
        out[2 * i + 1] = h[d[i] & 15];
    }
    out[2 * n] = 0;
}

static void sha_hex(const void *d, size_t n, char out[65])
{
    unsigned char md[32];
    SHA256(d ? d : (const void *)"", n, md);
    hex(md, 32, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

static int unhex(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string ('+' stays '+', as AWS does). */
static char *decode(const char *s, size_t n)
{
    char *o = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
            o[j++] = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = 0;
    return o;
}

/* RFC 3986: unreserved characters stay, everything else %XX (uppercase). */
static void encode(struct buf *b, const char *s, int keep_slash)
{
    static const char h[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            buf_append(b, s, 1);
        } else {
            char e[3] = {'%', h[c >> 4], h[c & 15]};
            buf_append(b, e, 3);
        }
    }
}

static void canonical_path(struct buf *b, const char *path, const char *service)
{
    char *raw = decode(path, strlen(path));
    if (!strcmp(service, "s3")) {
        encode(b, raw, 1);
    } else { /* every other service: each segment encoded twice */
        struct buf once;
        buf_init(&once, REF_MAX);
        encode(&once, raw, 1);
        encode(b, once.data ? once.data : "", 1);
        buf_free(&once);
    }
    if (!b->len) buf_append(b, "/", 1);
    free(raw);
}

struct qpair {
    char *k, *v; /* encoded */
};

static int qpair_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static void canonical_query(struct buf *b, const char *q)
{
    if (!q || !*q) return;
    size_t n = 1;
    for (const char *p = q; *p; p++) n += *p == '&';
    struct qpair *pairs = xcalloc(n, sizeof *pairs);
    size_t np = 0;
    for (const char *p = q;;) {
        size_t len = strcspn(p, "&");
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t kl = eq ? (size_t)(eq - p) : len;
            char *k = decode(p, kl), *v = eq ? decode(eq + 1, len - kl - 1) : xstrdup("");
            struct buf kb, vb;
            buf_init(&kb, REF_MAX);
            buf_init(&vb, REF_MAX);
            encode(&kb, k, 0);
            encode(&vb, v, 0);
            pairs[np].k = xstrdup(kb.data ? kb.data : "");
            pairs[np].v = xstrdup(vb.data ? vb.data : "");
            buf_free(&kb);
            buf_free(&vb);
            np++;
            free(k);
            free(v);
        }
        if (!p[len]) break;
        p += len + 1;
    }
    qsort(pairs, np, sizeof *pairs, qpair_cmp);
    for (size_t i = 0; i < np; i++) {
        buf_printf(b, "%s%s=%s", i ? "&" : "", pairs[i].k, pairs[i].v);
        free(pairs[i].k);
        free(pairs[i].v);
    }
    free(pairs);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lowercase names to sign, sorted; returns the count or -1. */
static int signed_names(const struct sigv4_ref_req *r, char ***out)
{
    char **names = xcalloc(r->n_headers + 64, sizeof *names);
    int n = 0;
    if (r->signed_headers) {
        const char *p = r->signed_headers;
        while (*p && n < (int)r->n_headers + 64) {
            size_t len = strcspn(p, ";");
            names[n++] = xstrndup(p, len);
            p += len + (p[len] == ';');
        }
    } else {
        for (size_t i = 0; i < r->n_headers; i++) {
            int dup = 0;
            for (int j = 0; j < n; j++) dup |= !strcasecmp(names[j], r->headers[i].name);
            if (!dup) names[n++] = xstrdup(r->headers[i].name);
        }
    }
    for (int i = 0; i < n; i++)
        for (char *c = names[i]; *c; c++) *c = (char)tolower((unsigned char)*c);
    qsort(names, (size_t)n, sizeof *names, str_cmp);
    *out = names;
    return n;
}

/* Appends a value trimmed, inner runs of spaces squeezed to one. */
static void squeeze(struct buf *b, const char *v)
{
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    int sp = 0;
    for (size_t i = 0; i < n; i++) {
        int is = v[i] == ' ' || v[i] == '\t';
        if (is && sp) continue;
        buf_append(b, is ? " " : &v[i], 1);
        sp = is;
    }
}

/* "name:v1,v2\n" for each name; -1 if one is absent. */
static int canonical_headers(struct buf *b, const struct sigv4_ref_req *r, char **names, int n)
{
    for (int i = 0; i < n; i++) {
        int found = 0;
        buf_printf(b, "%s:", names[i]);
        for (size_t j = 0; j < r->n_headers; j++) {
            if (strcasecmp(r->headers[j].name, names[i])) continue;
            if (found++) buf_append(b, ",", 1);
            squeeze(b, r->headers[j].value);
        }
        if (!found) return -1;
        buf_append(b, "\n", 1);
    }
    return 0;
}

/* HMAC chain: kDate, kRegion, kService, kSigning, then the string to sign. */
static void signature(const struct sigv4_ref_req *r, const char *sts, char sig[65])
{
    unsigned char k[32], k2[32];
    char *key = xasprintf("AWS4%s", r->secret), date[9];
    snprintf(date, sizeof date, "%.8s", r->amz_date);
    hmac(key, strlen(key), date, k);
    hmac(k, 32, r->region, k2);
    hmac(k2, 32, r->service, k);
    hmac(k, 32, "aws4_request", k2);
    hmac(k2, 32, sts, k);
    hex(k, 32, sig);
    explicit_bzero(key, strlen(key));
    free(key);
}

int sigv4_ref_sign(const struct sigv4_ref_req *r, char sig[65], struct buf *creq_out,
                   struct buf *sts_out, char *signed_out)
{
    if (!r->method || !r->path || !r->amz_date || strlen(r->amz_date) != 16) return -1;
    struct buf c, s, list;
    buf_init(&c, REF_MAX);
    buf_init(&s, REF_MAX);
    buf_init(&list, 4096);
    char **names, body_hash[65], creq_hash[65], scope[128];
    int n = signed_names(r, &names), rc = 0;
    for (int i = 0; i < n; i++) buf_printf(&list, "%s%s", i ? ";" : "", names[i]);
    buf_printf(&c, "%s\n", r->method);
    canonical_path(&c, r->path, r->service);
    buf_append(&c, "\n", 1);
    canonical_query(&c, r->query);
    buf_append(&c, "\n", 1);
    if (canonical_headers(&c, r, names, n)) rc = -1;
    sha_hex(r->body, r->body_len, body_hash);
    for (size_t i = 0; i < r->n_headers && !strcmp(r->service, "s3"); i++)
        if (!strcasecmp(r->headers[i].name, "x-amz-content-sha256") &&
            !strcmp(r->headers[i].value, "UNSIGNED-PAYLOAD")) /* S3's opt-out */
            snprintf(body_hash, sizeof body_hash, "UNSIGNED-PAYLOAD");
    buf_printf(&c, "\n%s\n%s", list.data ? list.data : "", body_hash);
    sha_hex(c.data, c.len, creq_hash);
    snprintf(scope, sizeof scope, "%.8s/%s/%s/aws4_request", r->amz_date, r->region, r->service);
    buf_printf(&s, "AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, scope, creq_hash);
    signature(r, s.data, sig);
    if (signed_out) snprintf(signed_out, 512, "%s", list.data ? list.data : "");
    if (creq_out) buf_append(creq_out, c.data, c.len);
    if (sts_out) buf_append(sts_out, s.data, s.len);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    buf_free(&c);
    buf_free(&s);
    buf_free(&list);
    return rc;
}
