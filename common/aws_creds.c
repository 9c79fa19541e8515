/* aws_creds.c — the AWS credentials chain and refresh of temporary keys.
 *
 * aws_creds_provider_new walks the chain once (static keys, environment,
 * shared files + profile, ECS container endpoint, EC2 IMDSv2) and remembers
 * the source; temporary keys (ECS, IMDS) are fetched again from that source
 * refresh_before_s ahead of their Expiration.  p->mu guards p->cur and
 * p->next_try; everything else is written only in _new and then read-only.
 * A refresh runs under the lock: other threads wait for the fresh keys
 * (bounded by the metadata timeout) rather than sign with stale ones.
 */
#include "common/aws.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/log.h"
#include "common/mem.h"

#define SUB "aws_creds"
#define MD_MAX (64 * 1024)  /* metadata answers are a few hundred bytes */
#define MD_ATTEMPTS 2       /* one retry for metadata calls */

enum src { SRC_STATIC, SRC_ENV, SRC_PROFILE, SRC_ECS, SRC_IMDS };

struct aws_creds_provider {
    pthread_mutex_t mu;
    struct aws_creds cur;        /* guarded by mu */
    time_t next_try;             /* guarded by mu: no refresh before (after a failure) */
    enum src src;
    char *ecs_url;               /* SRC_ECS */
    char *ecs_token;             /* AWS_CONTAINER_AUTHORIZATION_TOKEN */
    char *ecs_token_file;        /* ..._TOKEN_FILE, re-read at each refresh */
    char *imds;                  /* SRC_IMDS endpoint */
    long timeout_ms, refresh_before_s;
};

/* ---- small parsers ------------------------------------------------------ */

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int copy_key(char *dst, size_t cap, const char *v, const char *what, struct err *e)
{
    if (strlen(v) >= cap)
        return err_set(e, -E2BIG, ERR_PERMANENT, "aws credentials: %s too long", what);
    strlcpy_(dst, v, cap);
    return 0;
}

/* Fills c from the three strings (token may be NULL). */
static int creds_set(struct aws_creds *c, const char *ak, const char *sk, const char *tok,
                     const char *source, struct err *e)
{
    memset(c, 0, sizeof *c);
    int rc = copy_key(c->access_key, sizeof c->access_key, ak, "access key", e);
    if (!rc) rc = copy_key(c->secret_key, sizeof c->secret_key, sk, "secret key", e);
    if (!rc && tok) rc = copy_key(c->token, sizeof c->token, tok, "session token", e);
    strlcpy_(c->source, source, sizeof c->source);
    return rc;
}

/* "2026-11-21T12:34:56Z", optional fraction, "Z" or "+hh:mm". */
static int parse_iso8601(const char *s, time_t *out)
{
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    const char *p = s + n;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++) {}
    long off = 0;
    if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2) return -1;
        off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z' && *p != 'z') {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    *out = t - off;
    return 0;
}

/* {AccessKeyId, SecretAccessKey, Token, Expiration[, Code]} from ECS or IMDS. */
static int parse_creds_json(const struct buf *b, const char *source, struct aws_creds *c,
                            struct err *e)
{
    json_error_t je;
    json_t *j = json_loadb(b->data ? b->data : "", b->len, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return err_set(e, -EPROTO, ERR_RETRY, "%s credentials: not a JSON object", source);
    }
    const char *code = json_string_value(json_object_get(j, "Code"));
    const char *ak = json_string_value(json_object_get(j, "AccessKeyId"));
    const char *sk = json_string_value(json_object_get(j, "SecretAccessKey"));
    const char *tok = json_string_value(json_object_get(j, "Token"));
    const char *exp = json_string_value(json_object_get(j, "Expiration"));
    int rc = 0;
    if (code && strcmp(code, "Success"))
        rc = err_set(e, -EPROTO, ERR_RETRY, "%s credentials: Code %.64s", source, code);
    else if (!ak || !*ak || !sk || !*sk)
        rc = err_set(e, -EPROTO, ERR_RETRY, "%s credentials: no AccessKeyId/SecretAccessKey",
                     source);
    else
        rc = creds_set(c, ak, sk, tok, source, e);
    if (!rc && exp && parse_iso8601(exp, &c->expires))
        rc = err_set(e, -EPROTO, ERR_RETRY, "%s credentials: bad Expiration %.40s", source, exp);
    json_decref(j);
    return rc;
}

/* ---- shared credentials / config files ---------------------------------- */

struct ini_want {
    const char *section;         /* exact section name wanted */
    const char *alt;             /* another accepted name, or NULL */
    char ak[128], sk[128], tok[2048];
    int found;                   /* the section exists */
};

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) *--end = 0;
    return s;
}

/* " profile  name " -> "profile name": trimmed, inner blanks squeezed. */
static void section_name(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    int gap = 0;
    for (; *s && o + 2 < cap; s++) {
        if (*s == ' ' || *s == '\t') {
            gap = o > 0;
            continue;
        }
        if (gap) out[o++] = ' ';
        gap = 0;
        out[o++] = *s;
    }
    out[o] = 0;
}

static void ini_line(char *line, int *in, struct ini_want *w)
{
    /* An indented line continues the previous value (botocore reads nested
     * settings such as "s3 =\n  max_concurrent_requests = 20" so): skipped. */
    if (isspace((unsigned char)line[0]) && *trim(line)) return;
    char *s = trim(line);
    if (!*s || *s == '#' || *s == ';') return;
    if (*s == '[') {
        char *end = strchr(s, ']');
        char name[256];
        if (!end) { *in = 0; return; }
        *end = 0;
        section_name(s + 1, name, sizeof name);
        *in = !strcmp(name, w->section) || (w->alt && !strcmp(name, w->alt));
        if (*in) w->found = 1;
        return;
    }
    char *eq = strchr(s, '=');
    if (!*in || !eq) return;
    *eq = 0;
    char *k = trim(s), *v = eq + 1;
    for (char *c = v; *c; c++) /* inline comment: " #" or " ;" */
        if ((*c == '#' || *c == ';') && c > v && isspace((unsigned char)c[-1])) {
            *c = 0;
            break;
        }
    v = trim(v);
    if (!strcmp(k, "aws_access_key_id")) strlcpy_(w->ak, v, sizeof w->ak);
    else if (!strcmp(k, "aws_secret_access_key")) strlcpy_(w->sk, v, sizeof w->sk);
    else if (!strcmp(k, "aws_session_token")) strlcpy_(w->tok, v, sizeof w->tok);
}

/* Reads section w->section of file; returns 0 if the file was readable. */
static int ini_read(const char *path, struct ini_want *w)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    int in = 0;
    while (getline(&line, &cap, f) >= 0) ini_line(line, &in, w);
    free(line);
    fclose(f);
    return 0;
}

struct profile_paths {
    char *profile, *creds_file, *config_file;
    int explicit_profile;
};

static void profile_paths(const struct aws_creds_opts *o, struct profile_paths *pp)
{
    const char *home = getenv("HOME");
    const char *prof = o->profile && *o->profile ? o->profile : env_nonempty("AWS_PROFILE");
    pp->explicit_profile = prof != NULL;
    pp->profile = xstrdup(prof ? prof : "default");
    const char *cf = o->credentials_file ? o->credentials_file
                                         : env_nonempty("AWS_SHARED_CREDENTIALS_FILE");
    const char *gf = o->config_file ? o->config_file : env_nonempty("AWS_CONFIG_FILE");
    pp->creds_file = cf ? xstrdup(cf) : home ? xasprintf("%s/.aws/credentials", home) : NULL;
    pp->config_file = gf ? xstrdup(gf) : home ? xasprintf("%s/.aws/config", home) : NULL;
}

static void profile_paths_free(struct profile_paths *pp)
{
    free(pp->profile);
    free(pp->creds_file);
    free(pp->config_file);
}

/* 1 found (c filled), 0 not there, <0 error. */
static int from_profile(const struct profile_paths *pp, struct aws_creds *c, struct err *e)
{
    char source[32], cfg_section[256];
    snprintf(source, sizeof source, "profile:%.23s", pp->profile);
    struct ini_want w = {.section = pp->profile};
    if (pp->creds_file && ini_read(pp->creds_file, &w) == 0 && w.ak[0] && w.sk[0]) {
        int rc = creds_set(c, w.ak, w.sk, w.tok[0] ? w.tok : NULL, source, e);
        explicit_bzero(&w, sizeof w);
        return rc ? rc : 1;
    }
    int found = w.found;
    snprintf(cfg_section, sizeof cfg_section, "profile %s", pp->profile);
    struct ini_want g = {.section = cfg_section,
                         .alt = strcmp(pp->profile, "default") ? NULL : "default"};
    explicit_bzero(&w, sizeof w);
    if (pp->config_file && ini_read(pp->config_file, &g) == 0 && g.ak[0] && g.sk[0]) {
        int rc = creds_set(c, g.ak, g.sk, g.tok[0] ? g.tok : NULL, source, e);
        explicit_bzero(&g, sizeof g);
        return rc ? rc : 1;
    }
    found |= g.found;
    explicit_bzero(&g, sizeof g);
    if (pp->explicit_profile && !found)
        return err_set(e, -ENOENT, ERR_PERMANENT,
                       "AWS profile %s not found in %s or %s", pp->profile,
                       pp->creds_file ? pp->creds_file : "(no HOME)",
                       pp->config_file ? pp->config_file : "(no HOME)");
    return 0;
}

/* ---- metadata HTTP (ECS, IMDS) ------------------------------------------ */

static size_t md_body(char *p, size_t sz, size_t n, void *arg)
{
    return buf_append(arg, p, sz * n) ? 0 : sz * n;
}

static size_t md_read_none(char *p, size_t sz, size_t n, void *arg)
{
    (void)p, (void)sz, (void)n, (void)arg;
    return 0;
}

/* One metadata call with a retry on transport errors and 5xx.  Returns 0
 * with *status and out filled, or <0 (ERR_RETRY) when unreachable. */
static int md_call(CURL *h, const char *method, const char *url, struct curl_slist *hdrs,
                   long timeout_ms, struct buf *out, long *status, struct err *e)
{
    char cerr[CURL_ERROR_SIZE];
    CURLcode cc = CURLE_OK;
    for (int attempt = 0; attempt < MD_ATTEMPTS; attempt++) {
        buf_reset(out);
        *status = 0;
        cerr[0] = 0;
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never through a proxy */
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, md_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        if (!strcmp(method, "PUT")) {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, md_read_none);
        }
        cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        if (cc == CURLE_OK && *status < 500) return 0;
    }
    if (cc == CURLE_OK) return 0; /* a 5xx twice: the caller reports the status */
    return err_set(e, -EHOSTUNREACH, ERR_RETRY, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
}

/* Appends "name: value" (value may be secret: the copy is wiped). */
static struct curl_slist *slist_add(struct curl_slist *l, const char *name, const char *v)
{
    char *line = xasprintf("%s: %s", name, v);
    struct curl_slist *n = curl_slist_append(l, line);
    explicit_bzero(line, strlen(line));
    free(line);
    if (!n) abort();
    return n;
}

/* Reads the ECS authorization token (file wins over the variable). */
static int ecs_auth(const struct aws_creds_provider *p, char **out, struct err *e)
{
    *out = NULL;
    if (p->ecs_token_file) {
        FILE *f = fopen(p->ecs_token_file, "r");
        if (!f)
            return err_set(e, -errno, ERR_PERMANENT, "ecs credentials: cannot read %s: %s",
                           p->ecs_token_file, strerror(errno));
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, f);
        fclose(f);
        if (n < 0) {
            free(line);
            return err_set(e, -EINVAL, ERR_PERMANENT, "ecs credentials: %s is empty",
                           p->ecs_token_file);
        }
        line[strcspn(line, "\r\n")] = 0;
        *out = line;
    } else if (p->ecs_token) {
        *out = xstrdup(p->ecs_token);
    }
    if (*out && strpbrk(*out, "\r\n")) {
        free(*out);
        *out = NULL;
        return err_set(e, -EINVAL, ERR_PERMANENT, "ecs credentials: bad authorization token");
    }
    return 0;
}

static int fetch_ecs(struct aws_creds_provider *p, CURL *h, struct aws_creds *c, struct err *e)
{
    char *tok;
    int rc = ecs_auth(p, &tok, e);
    if (rc) return rc;
    struct curl_slist *hdrs = tok ? slist_add(NULL, "Authorization", tok) : NULL;
    if (tok) explicit_bzero(tok, strlen(tok));
    free(tok);
    struct buf b;
    buf_init(&b, MD_MAX);
    long status = 0;
    struct err me = {0};
    rc = md_call(h, "GET", p->ecs_url, hdrs, p->timeout_ms, &b, &status, &me);
    if (rc)
        err_set(e, rc, ERR_RETRY, "ecs credentials from %s: %s", p->ecs_url, me.msg);
    else if (status != 200)
        rc = err_set(e, -EIO, status >= 500 ? ERR_RETRY : ERR_PERMANENT,
                     "ecs credentials from %s: HTTP %ld", p->ecs_url, status);
    else
        rc = parse_creds_json(&b, "ecs", c, e);
    curl_slist_free_all(hdrs);
    if (b.data) explicit_bzero(b.data, b.len);
    buf_free(&b);
    return rc;
}

/* GETs an IMDS path with the session token; 0 only on HTTP 200. */
static int imds_get(struct aws_creds_provider *p, CURL *h, const char *token, const char *path,
                    struct buf *b, struct err *e)
{
    char *url = xasprintf("%s%s", p->imds, path);
    struct curl_slist *hdrs = slist_add(NULL, "X-aws-ec2-metadata-token", token);
    long status = 0;
    struct err me = {0};
    int rc = md_call(h, "GET", url, hdrs, p->timeout_ms, b, &status, &me);
    if (rc)
        err_set(e, rc, ERR_RETRY, "imds %s: %s", p->imds, me.msg);
    else if (status != 200)
        rc = err_set(e, -EIO, status == 404 ? ERR_PERMANENT : ERR_RETRY, "imds GET %s: HTTP %ld",
                     path, status);
    curl_slist_free_all(hdrs);
    free(url);
    return rc;
}

static int fetch_imds(struct aws_creds_provider *p, CURL *h, struct aws_creds *c, struct err *e)
{
    static const char creds_path[] = "/latest/meta-data/iam/security-credentials/";
    struct buf tok, b;
    buf_init(&tok, MD_MAX);
    buf_init(&b, MD_MAX);
    char *url = xasprintf("%s/latest/api/token", p->imds), *path = NULL;
    struct curl_slist *hdrs =
        curl_slist_append(NULL, "X-aws-ec2-metadata-token-ttl-seconds: 21600");
    long status = 0;
    struct err me = {0};
    int rc = md_call(h, "PUT", url, hdrs, p->timeout_ms, &tok, &status, &me);
    if (rc) {
        err_set(e, rc, ERR_RETRY, "imds %s: %s", p->imds, me.msg);
        goto out;
    }
    if (status != 200 || !tok.len || strpbrk(tok.data, "\r\n")) {
        rc = err_set(e, -EIO, ERR_RETRY, "imds %s: token PUT answered HTTP %ld", p->imds,
                     status);
        goto out;
    }
    rc = imds_get(p, h, tok.data, creds_path, &b, e);
    if (rc) goto out;
    b.data[strcspn(b.data, "\r\n")] = 0; /* first role */
    if (!b.data[0] || strpbrk(b.data, "/?# ")) {
        rc = err_set(e, -EPROTO, ERR_PERMANENT, "imds %s: no instance role", p->imds);
        goto out;
    }
    path = xasprintf("%s%s", creds_path, b.data);
    rc = imds_get(p, h, tok.data, path, &b, e);
    if (!rc) rc = parse_creds_json(&b, "imds", c, e);
out:
    curl_slist_free_all(hdrs);
    if (tok.data) explicit_bzero(tok.data, tok.len);
    if (b.data) explicit_bzero(b.data, b.len);
    buf_free(&tok);
    buf_free(&b);
    free(url);
    free(path);
    return rc;
}

/* Fetches temporary keys from p->src (ECS or IMDS). */
static int fetch_temp(struct aws_creds_provider *p, struct aws_creds *c, struct err *e)
{
    CURL *h = curl_easy_init();
    if (!h) return err_set(e, -ENOMEM, ERR_RETRY, "curl_easy_init failed");
    int rc = p->src == SRC_ECS ? fetch_ecs(p, h, c, e) : fetch_imds(p, h, c, e);
    curl_easy_cleanup(h);
    return rc;
}

/* ---- configuring the ECS and IMDS sources ------------------------------- */

/* The SDKs accept a FULL_URI only over https or to a loopback / container
 * metadata host, so a stray variable cannot send the token anywhere. */
static int full_uri_allowed(const char *uri)
{
    if (!strncasecmp(uri, "https://", 8)) return 1;
    if (strncasecmp(uri, "http://", 7)) return 0;
    const char *h = uri + 7, *end;
    if (*h == '[') {
        end = strchr(h, ']');
        if (!end) return 0;
        end++;
    } else {
        end = h + strcspn(h, ":/?#");
    }
    char host[64];
    size_t n = (size_t)(end - h);
    if (n == 0 || n >= sizeof host || memchr(h, '@', strcspn(h, "/?#"))) return 0;
    memcpy(host, h, n);
    host[n] = 0;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t ip = ntohl(a4.s_addr);
        return (ip >> 24) == 127 || ip == 0xA9FEAA02u /* 169.254.170.2 */ ||
               ip == 0xA9FEAA17u /* 169.254.170.23 */;
    }
    return !strcasecmp(host, "localhost") || !strcmp(host, "[::1]") ||
           !strcasecmp(host, "[fd00:ec2::23]");
}

/* 1 configured, 0 not, <0 error. */
static int ecs_configure(struct aws_creds_provider *p, const struct aws_creds_opts *o,
                         struct err *e)
{
    const char *rel = env_nonempty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env_nonempty("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (rel) {
        const char *host = o->ecs_endpoint ? o->ecs_endpoint : "http://169.254.170.2";
        p->ecs_url = xasprintf("%s%s%s", host, rel[0] == '/' ? "" : "/", rel);
    } else if (full) {
        if (!full_uri_allowed(full))
            return err_set(e, -EINVAL, ERR_PERMANENT,
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback "
                           "host: %.120s", full);
        p->ecs_url = xstrdup(full);
    } else {
        return 0;
    }
    const char *tf = env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *tk = env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (tf) p->ecs_token_file = xstrdup(tf);
    else if (tk) p->ecs_token = xstrdup(tk);
    return 1;
}

static int imds_disabled(const struct aws_creds_opts *o)
{
    const char *v = env_nonempty("AWS_EC2_METADATA_DISABLED");
    return o->imds_disabled || (v && !strcasecmp(v, "true"));
}

static void imds_configure(struct aws_creds_provider *p, const struct aws_creds_opts *o)
{
    const char *ep = o->imds_endpoint ? o->imds_endpoint
                                      : env_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    p->imds = xstrdup(ep ? ep : "http://169.254.169.254");
    size_t n = strlen(p->imds);
    while (n > 0 && p->imds[n - 1] == '/') p->imds[--n] = 0;
}

/* ---- the chain ---------------------------------------------------------- */

/* Static keys from opts, then the environment.  1 found, 0 not, <0 error. */
static int from_static_or_env(struct aws_creds_provider *p, const struct aws_creds_opts *o,
                              struct err *e)
{
    if (o->access_key || o->secret_key) {
        if (!o->access_key || !*o->access_key || !o->secret_key || !*o->secret_key)
            return err_set(e, -EINVAL, ERR_PERMANENT,
                           "aws credentials: config gives only one of access and secret key");
        p->src = SRC_STATIC;
        int rc = creds_set(&p->cur, o->access_key, o->secret_key,
                           o->session_token && *o->session_token ? o->session_token : NULL,
                           "config", e);
        return rc ? rc : 1;
    }
    const char *ak = env_nonempty("AWS_ACCESS_KEY_ID");
    const char *sk = env_nonempty("AWS_SECRET_ACCESS_KEY");
    if (ak && sk) {
        p->src = SRC_ENV;
        int rc = creds_set(&p->cur, ak, sk, env_nonempty("AWS_SESSION_TOKEN"), "env", e);
        return rc ? rc : 1;
    }
    return 0;
}

/* Tries ECS then IMDS; tried gets their part of the "nothing found" text. */
static int from_metadata(struct aws_creds_provider *p, const struct aws_creds_opts *o,
                         char *tried, size_t cap, struct err *e)
{
    int rc = ecs_configure(p, o, e);
    if (rc < 0) return rc;
    if (rc == 1) {
        p->src = SRC_ECS;
        rc = fetch_temp(p, &p->cur, e);
        return rc ? rc : 1; /* a configured container endpoint is not skipped */
    }
    size_t n = strlen(tried);
    if (imds_disabled(o)) {
        snprintf(tried + n, cap - n, ", ecs (not configured), imds (disabled)");
        return 0;
    }
    imds_configure(p, o);
    p->src = SRC_IMDS;
    struct err ie = {0};
    if (fetch_temp(p, &p->cur, &ie) == 0) return 1;
    snprintf(tried + n, cap - n, ", ecs (not configured), imds (%s)", ie.msg);
    return 0;
}

int aws_creds_provider_new(const struct aws_creds_opts *o, struct aws_creds_provider **out,
                           struct err *e)
{
    static const struct aws_creds_opts none;
    *out = NULL;
    if (!o) o = &none;
    int rc = aws_global_init(e);
    if (rc) return rc;
    struct aws_creds_provider *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 1000;
    p->refresh_before_s = o->refresh_before_s > 0 ? o->refresh_before_s : 300;
    struct profile_paths pp;
    profile_paths(o, &pp);
    char tried[512];
    rc = from_static_or_env(p, o, e);
    if (rc == 0) {
        p->src = SRC_PROFILE;
        rc = from_profile(&pp, &p->cur, e);
    }
    if (rc == 0) {
        snprintf(tried, sizeof tried,
                 "no AWS credentials: tried config, env, profile %s in %s and %s",
                 pp.profile, pp.creds_file ? pp.creds_file : "(no HOME)",
                 pp.config_file ? pp.config_file : "(no HOME)");
        rc = from_metadata(p, o, tried, sizeof tried, e);
        if (rc == 0) rc = err_set(e, -ENOENT, ERR_PERMANENT, "%s", tried);
    }
    profile_paths_free(&pp);
    if (rc < 0) {
        aws_creds_provider_free(p);
        return rc;
    }
    log_info(SUB, "credentials source=%s expires_in_s=%lld", p->cur.source,
             p->cur.expires ? (long long)(p->cur.expires - time(NULL)) : -1LL);
    *out = p;
    return 0;
}

void aws_creds_provider_free(struct aws_creds_provider *p)
{
    if (!p) return;
    pthread_mutex_destroy(&p->mu);
    explicit_bzero(&p->cur, sizeof p->cur);
    free(p->ecs_url);
    if (p->ecs_token) explicit_bzero(p->ecs_token, strlen(p->ecs_token));
    free(p->ecs_token);
    free(p->ecs_token_file);
    free(p->imds);
    free(p);
}

/* Refreshes p->cur if due.  Called with p->mu held. */
static int refresh_locked(struct aws_creds_provider *p, time_t now, struct err *e)
{
    if (!p->cur.expires || now < p->cur.expires - p->refresh_before_s) return 0;
    if (now < p->next_try && now < p->cur.expires) return 0;
    struct aws_creds fresh;
    struct err fe = {0};
    if (fetch_temp(p, &fresh, &fe) == 0) {
        p->cur = fresh;
        p->next_try = 0;
        explicit_bzero(&fresh, sizeof fresh);
        log_info(SUB, "refreshed source=%s expires_in_s=%lld", p->cur.source,
                 (long long)(p->cur.expires - now));
        return 0;
    }
    if (now < p->cur.expires) { /* still valid: keep signing with them */
        long left = (long)(p->cur.expires - now);
        p->next_try = now + (left / 4 < 10 ? (left / 4 > 0 ? left / 4 : 1) : 10);
        log_warn(SUB, "refresh_failed source=%s valid_for_s=%ld err=\"%s\"", p->cur.source,
                 left, fe.msg);
        return 0;
    }
    if (e) *e = fe;
    return fe.code ? fe.code : -EIO;
}

int aws_creds_get(struct aws_creds_provider *p, struct aws_creds *out, struct err *e)
{
    pthread_mutex_lock(&p->mu);
    int rc = refresh_locked(p, time(NULL), e);
    if (!rc) *out = p->cur;
    pthread_mutex_unlock(&p->mu);
    return rc;
}
