/* aws_fixture.c — see aws_fixture.h. */
#include "tests/unit/aws_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/mem.h"
#include "tests/t.h"
#include "tests/unit/sigv4_ref.h"

void aws_fx_env_reset(void)
{
    static const char *const vars[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
    char p[512];
    setenv("HOME", t_tmpdir(), 1);
    snprintf(p, sizeof p, "%s/none-credentials", t_tmpdir());
    setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
    snprintf(p, sizeof p, "%s/none-config", t_tmpdir());
    setenv("AWS_CONFIG_FILE", p, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

int aws_fx_closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        perror("closed_port");
        exit(1);
    }
    close(fd); /* bound, never listened: connecting is refused */
    return ntohs(a.sin_port);
}

const char *aws_fx_write(const char *name, const char *text)
{
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 512, "%s/%s", t_tmpdir(), name);
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        perror(p);
        exit(1);
    }
    return p;
}

/* Copies the value of "key=" (up to ',' or end) from the Authorization. */
static int auth_field(const char *auth, const char *key, char *out, size_t cap)
{
    const char *p = strstr(auth, key);
    if (!p) return -1;
    p += strlen(key);
    size_t n = strcspn(p, ", ");
    if (n >= cap) return -1;
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

int aws_fx_verify_sig(const struct fakehttp_req *q, const char *akid, const char *region,
                      const char *service, const char *secret, char *why, size_t why_len)
{
    const char *auth = fakehttp_header(q, "authorization");
    const char *date = fakehttp_header(q, "x-amz-date");
    char cred[256], signed_hdrs[512], sig[80], want_cred[256], mine[65], canon_list[512];
    if (!auth || !date || strncmp(auth, "AWS4-HMAC-SHA256 ", 17) ||
        auth_field(auth, "Credential=", cred, sizeof cred) ||
        auth_field(auth, "SignedHeaders=", signed_hdrs, sizeof signed_hdrs) ||
        auth_field(auth, "Signature=", sig, sizeof sig)) {
        snprintf(why, why_len, "malformed: auth=%s date=%s", auth ? auth : "-", date ? date : "-");
        return -1;
    }
    snprintf(want_cred, sizeof want_cred, "%s/%.8s/%s/%s/aws4_request", akid, date, region,
             service);
    if (strcmp(cred, want_cred)) {
        snprintf(why, why_len, "credential %s, want %s", cred, want_cred);
        return -1;
    }
    struct sigv4_ref_hdr *h = xcalloc(q->n_headers + 1, sizeof *h);
    for (size_t i = 0; i < q->n_headers; i++)
        h[i] = (struct sigv4_ref_hdr){q->headers[i].name, q->headers[i].value};
    struct sigv4_ref_req r = {
        .method = q->method, .path = q->path, .query = q->query, .headers = h,
        .n_headers = q->n_headers, .signed_headers = signed_hdrs, .body = q->body,
        .body_len = q->body_len, .amz_date = date, .region = region, .service = service,
        .secret = secret};
    struct buf creq;
    buf_init(&creq, 1 << 24);
    int rc = sigv4_ref_sign(&r, mine, &creq, NULL, canon_list);
    free(h);
    if (rc || strcmp(canon_list, signed_hdrs)) {
        snprintf(why, why_len, "signed headers %s (canonical %s): one not sent or unsorted",
                 signed_hdrs, canon_list);
        buf_free(&creq);
        return -1;
    }
    int match = !strcmp(mine, sig);
    snprintf(why, why_len, "got %s, reference %s; canonical request:\n%s", sig, mine,
             creq.data ? creq.data : "");
    buf_free(&creq);
    return match;
}
