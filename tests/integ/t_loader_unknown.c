/* t_loader_unknown.c — a load whose COMMIT reply is lost (UNKNOWN_OUTCOME)
 * is retried and the warehouse ledger says it already committed: nothing
 * loads twice.  And a connection lost mid-COPY commits nothing: the retry
 * loads it, once.
 *
 * The cut is made by a tiny loopback TCP proxy between the loader and wh_b
 * that follows the PostgreSQL wire protocol from the client side: armed, it
 * forwards the chosen message (the simple-query COMMIT, or the first
 * CopyData), discards everything the server sends from then on, waits for
 * the server to act on it, and closes both sides.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/mem.h"
#include "sinks/loader.h"
#include "sinks/manifest.h"
#include "tests/integ/t_loader_fix.h"
#include "tests/t.h"

#define PG_PROTOCOL_3 196608

struct proxy {
    int lfd, port, upstream;
    _Atomic int arm;        /* 0 off, 'C' cut after COMMIT, 'd' cut after CopyData */
    _Atomic int cuts;
    _Atomic int stop;
    pthread_t th;
};

struct pconn {
    struct proxy *p;
    int cfd, sfd;
};

static int write_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w <= 0) return -1;
        b += w, n -= (size_t)w;
    }
    return 0;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Consumes complete client messages from buf; 1 when one of kind armed
 * ('C': a simple-query COMMIT, 'd': CopyData) passed. */
static int scan_client(int armed, struct buf *in, int *typed)
{
    size_t off = 0;
    int hit = 0;
    for (;;) {
        const unsigned char *m = (const unsigned char *)in->data + off;
        size_t left = in->len - off, hdr = *typed ? 5 : 4;
        if (left < hdr) break;
        size_t len = *typed ? 1 + be32(m + 1) : be32(m);
        if (left < len) break;
        if (!*typed && len >= 8 && be32(m + 4) == PG_PROTOCOL_3) *typed = 1;
        else if (*typed && armed == 'C' && m[0] == 'Q' && !strncasecmp((const char *)m + 5, "COMMIT", 6))
            hit = 1;
        else if (*typed && armed == 'd' && m[0] == 'd')
            hit = 1;
        off += len;
    }
    memmove(in->data, in->data + off, in->len - off);
    in->len -= off;
    return hit;
}

static void *relay(void *arg)
{
    struct pconn *c = arg;
    struct buf in;
    buf_init(&in, 1 << 26);
    int typed = 0, cut = 0;
    char chunk[65536];
    while (!cut && !c->p->stop) {
        struct pollfd pf[2] = {{c->cfd, POLLIN, 0}, {c->sfd, POLLIN, 0}};
        if (poll(pf, 2, 200) <= 0) continue;
        if (pf[1].revents) {
            ssize_t n = read(c->sfd, chunk, sizeof chunk);
            if (n <= 0 || write_all(c->cfd, chunk, (size_t)n)) break;
        }
        if (pf[0].revents) {
            ssize_t n = read(c->cfd, chunk, sizeof chunk);
            if (n <= 0) break;
            buf_append(&in, chunk, (size_t)n);
            int armed = c->p->arm;
            cut = scan_client(armed, &in, &typed) && armed;
            if (write_all(c->sfd, chunk, (size_t)n)) break;
        }
    }
    if (cut) {
        c->p->arm = 0;
        /* the server acts on the message; its answer is never read */
        lf_sleep_ms(500);
        c->p->cuts++;
    }
    close(c->cfd);
    close(c->sfd);
    buf_free(&in);
    free(c);
    return NULL;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *acceptor(void *arg)
{
    struct proxy *p = arg;
    while (!p->stop) {
        struct pollfd pf = {p->lfd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0) continue;
        int cfd = accept(p->lfd, NULL, NULL);
        if (cfd < 0) continue;
        struct pconn *c = xcalloc(1, sizeof *c);
        c->p = p;
        c->cfd = cfd;
        c->sfd = dial(p->upstream);
        if (c->sfd < 0) {
            close(cfd);
            free(c);
            continue;
        }
        pthread_t t;
        pthread_create(&t, NULL, relay, c);
        pthread_detach(t);
    }
    return NULL;
}

static void proxy_start(struct proxy *p, int upstream)
{
    memset(p, 0, sizeof *p);
    p->upstream = upstream;
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    ASSERT_TRUE(bind(p->lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(p->lfd, 16) == 0);
    ASSERT_TRUE(getsockname(p->lfd, (struct sockaddr *)&a, &al) == 0);
    p->port = ntohs(a.sin_port);
    pthread_create(&p->th, NULL, acceptor, p);
}

static void proxy_stop(struct proxy *p)
{
    p->stop = 1;
    pthread_join(p->th, NULL);
    close(p->lfd);
    lf_sleep_ms(300); /* relays notice stop within a poll period */
}

/* One manifest of two objects (120 records) for wh_b behind the proxy. */
static void setup(struct lf_fix *f, struct proxy *p)
{
    proxy_start(p, (int)strtol(t_env("PG_B_PORT"), NULL, 10));
    char *dsn = xasprintf("postgresql://postgres@127.0.0.1:%d/wh_b?sslmode=disable"
                          "&gssencmode=disable", p->port);
    struct lf_opts o = {.only_backend = "wh_b", .b_dsn = dsn};
    lf_open(f, &o);
    free(dsn);
    lf_put_object(f, 0, 1, "shard-0", 70, 11);
    lf_put_object(f, 0, 1, "shard-1", 50, 12);
    struct manifest_result mr = {0};
    struct err e = {0};
    ASSERT_OK(manifest_build_once(&f->cfg, &mr, &e), e);
    ASSERT_TRUE(mr.manifests == 1);
}

static long long day_rows(struct lf_fix *f)
{
    char ymd[9];
    wh_day_ymd(f->days[1], ymd);
    return lf_qi(f->wh_b, "SELECT count(*) FROM @W.login_%s", ymd);
}

ITEST_T(loader_unknown_outcome_commit_lost, 120)
{
    struct lf_fix f;
    struct proxy p;
    setup(&f, &p);
    struct loader_run_result r1 = {0}, r2 = {0};
    struct err e = {0};
    p.arm = 'C';
    ASSERT_OK(loader_run_once(&f.cfg, "wh_b", 0, &r1, &e), e);
    EXPECT_EQ_INT(p.cuts, 1);
    EXPECT_EQ_INT(r1.attempted, 1);
    EXPECT_EQ_INT(r1.retried, 1);
    EXPECT_EQ_INT(r1.done, 0);
    char *last = lf_q(f.coord, "SELECT last_error FROM @C.loads");
    EXPECT_CONTAINS(last, "commit");
    free(last);
    /* the loader could not know, but the COMMIT went through */
    EXPECT_EQ_INT(day_rows(&f), 120);
    EXPECT_EQ_INT(lf_qi(f.wh_b, "SELECT count(*) FROM @W.logfleet_loads"), 1);
    lf_sleep_ms(600); /* past the backoff */
    ASSERT_OK(loader_run_once(&f.cfg, "wh_b", 0, &r2, &e), e);
    EXPECT_EQ_INT(r2.attempted, 1);
    EXPECT_EQ_INT(r2.already, 1);
    EXPECT_EQ_INT(r2.done, 0);
    EXPECT_EQ_INT(lf_loads(&f, "wh_b", "done"), 1);
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT attempts FROM @C.loads"), 2);
    EXPECT_EQ_INT(lf_qi(f.coord, "SELECT rows_loaded FROM @C.loads"), 120);
    EXPECT_EQ_INT(day_rows(&f), 120);
    char ymd[9];
    wh_day_ymd(f.days[1], ymd);
    EXPECT_EQ_INT(lf_qi(f.wh_b, "SELECT count(DISTINCT (_shard, _seq)) FROM @W.login_%s", ymd), 120);
    proxy_stop(&p);
    lf_close(&f);
}

ITEST_T(loader_connection_lost_mid_copy, 120)
{
    struct lf_fix f;
    struct proxy p;
    setup(&f, &p);
    struct loader_run_result r1 = {0}, r2 = {0};
    struct err e = {0};
    p.arm = 'd';
    ASSERT_OK(loader_run_once(&f.cfg, "wh_b", 0, &r1, &e), e);
    EXPECT_EQ_INT(p.cuts, 1);
    EXPECT_EQ_INT(r1.retried, 1);
    EXPECT_EQ_INT(day_rows(&f), 0);                 /* rolled back with the session */
    EXPECT_EQ_INT(lf_qi(f.wh_b, "SELECT count(*) FROM @W.logfleet_loads"), 0);
    lf_sleep_ms(600);
    ASSERT_OK(loader_run_once(&f.cfg, "wh_b", 0, &r2, &e), e);
    EXPECT_EQ_INT(r2.done, 1);
    EXPECT_EQ_INT(r2.rows, 120);
    EXPECT_EQ_INT(day_rows(&f), 120);
    proxy_stop(&p);
    lf_close(&f);
}
