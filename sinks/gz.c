/* gz.c — streaming gzip members over ISA-L igzip (or zlib), and inflate. */
#include "sinks/gz.h"
#include "common/mem.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

/* Output room asked of the caller's buffer per codec call, beyond the input. */
#define GZ_OUT_SLACK (16 * 1024)
/* Largest single codec feed (both codecs count in 32 bits). */
#define GZ_FEED_MAX (1u << 30)

struct gz {
    int finished;
    uint64_t in;
#ifdef HAVE_ISAL
    struct isal_zstream s;
    uint8_t *level_buf;
#else
    z_stream z;
#endif
};

/* Makes room in out for the next codec call; NULL when out is at its max. */
static unsigned char *out_room(struct buf *out, size_t in_left, uint32_t *room)
{
    size_t want = (in_left < GZ_OUT_SLACK ? GZ_OUT_SLACK : in_left) + 1024;
    size_t left = out->max > out->len ? out->max - out->len : 0;
    if (want > left) want = left;
    if (want > GZ_FEED_MAX) want = GZ_FEED_MAX;
    if (want == 0) return NULL;
    *room = (uint32_t)want;
    return (unsigned char *)buf_reserve(out, want);
}

static void out_commit(struct buf *out, size_t produced)
{
    out->len += produced;
    out->data[out->len] = 0;
}

uint64_t gz_bytes_in(const struct gz *g) { return g->in; }

static size_t pending_tokens(int level);

size_t gz_finish_bound(int level, int fed, size_t unfed)
{
    /* a token costs at most 15 + 5 + 15 + 13 bits (length and distance
     * codes with their extra bits); incompressible input goes out stored,
     * 5 bytes of framing per 64 KB at most, far less than 1/16 */
    size_t pending = fed ? pending_tokens(level) * 6 : 0;
    /* ISA-L level 0 codes with a fixed table: up to 9 bits a literal and
     * ~1.23x on random bytes (t_gz.c) */
    size_t expand = level <= 0 ? unfed / 3 : unfed / 16;
    return pending + unfed + expand + 1024;
}

#ifdef HAVE_ISAL

/* Level 1 takes the SMALL level buffer (16 K intermediate tokens per block
 * instead of 64 K): the same speed and ratio on log lines (bench_scan_gz,
 * 30 lanes), 192 KB less per writer, and a quarter of the pending output
 * an open member can still produce at gz_finish. */
static const uint32_t level_buf_size[GZ_LEVEL_MAX + 1] = {
    ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_SMALL, ISAL_DEF_LVL2_DEFAULT,
    ISAL_DEF_LVL3_DEFAULT,
};
static const uint32_t level_buf_req[GZ_LEVEL_MAX + 1] = {
    0, ISAL_DEF_LVL1_REQ, ISAL_DEF_LVL2_REQ, ISAL_DEF_LVL3_REQ,
};

/* Tokens a block can hold before it is written out (levels 1-3 keep 4-byte
 * intermediate tokens in the level buffer; level 0 writes as it goes, but
 * may hold its 64 KB history buffer's worth of input). */
static size_t pending_tokens(int level)
{
    if (level <= 0) return 2 * IGZIP_HIST_SIZE + ISAL_LOOK_AHEAD;
    return (level_buf_size[level] - level_buf_req[level]) / ISAL_DEF_LVL1_TOKEN_SIZE;
}

const char *gz_backend(void) { return "isal"; }

/* Sets the per-member fields.  ISA-L 2.30: writing the header flips
 * gzip_flag to IGZIP_GZIP_NO_HDR and isal_deflate_reset() leaves it so;
 * without setting IGZIP_GZIP again every later member lacks its header. */
static void member_start(struct gz *g)
{
    g->s.gzip_flag = IGZIP_GZIP;
    g->s.flush = NO_FLUSH;
    g->s.end_of_stream = 0;
    g->finished = 0;
    g->in = 0;
}

int gz_new(int level, struct gz **out)
{
    if (level < GZ_LEVEL_MIN || level > GZ_LEVEL_MAX) return -EINVAL;
    struct gz *g = xcalloc(1, sizeof *g);
    isal_deflate_init(&g->s);
    g->s.level = (uint32_t)level;
    if (level_buf_size[level]) {
        /* zeroed: level 3's hash tables are read before they are written
         * (harmless for the output, but it is what valgrind flagged) */
        g->level_buf = xcalloc(1, level_buf_size[level]);
        g->s.level_buf = g->level_buf;
        g->s.level_buf_size = level_buf_size[level];
    }
    member_start(g);
    *out = g;
    return 0;
}

void gz_free(struct gz *g)
{
    if (!g) return;
    free(g->level_buf);
    free(g);
}

void gz_reset(struct gz *g)
{
    isal_deflate_reset(&g->s);
    member_start(g);
}

/* Runs the codec until the input is consumed (or, finishing, the trailer is
 * out). */
static int pump(struct gz *g, struct buf *out, int finish)
{
    g->s.end_of_stream = (uint16_t)finish;
    for (int stalls = 0; stalls < 2;) {
        uint32_t room;
        unsigned char *w = out_room(out, g->s.avail_in, &room);
        if (!w) return -E2BIG;
        uint32_t in_before = g->s.avail_in;
        g->s.next_out = w;
        g->s.avail_out = room;
        int rc = isal_deflate(&g->s);
        out_commit(out, room - g->s.avail_out);
        if (rc != COMP_OK) return -EIO;
        if (finish ? g->s.internal_state.state == ZSTATE_END
                   : g->s.avail_in == 0 && g->s.avail_out > 0)
            return 0;
        stalls = g->s.avail_out == room && g->s.avail_in == in_before ? stalls + 1 : 0;
    }
    return -EIO;
}

int gz_write(struct gz *g, const void *p, size_t n, struct buf *out)
{
    if (g->finished) return -EINVAL;
    const unsigned char *in = p;
    while (n) {
        uint32_t k = n > GZ_FEED_MAX ? GZ_FEED_MAX : (uint32_t)n;
        g->s.next_in = (uint8_t *)(uintptr_t)in;
        g->s.avail_in = k;
        int rc = pump(g, out, 0);
        g->in += k - g->s.avail_in;
        if (rc) return rc;
        in += k, n -= k;
    }
    return 0;
}

int gz_finish(struct gz *g, struct buf *out)
{
    if (g->finished) return -EINVAL;
    g->s.next_in = NULL;
    g->s.avail_in = 0;
    int rc = pump(g, out, 1);
    if (rc == 0) g->finished = 1;
    return rc;
}

#else /* zlib */

/* deflate holds up to lit_bufsize (16 K at memLevel 8) symbols per block
 * and up to MIN_LOOKAHEAD input bytes it has not tokenised yet. */
static size_t pending_tokens(int level)
{
    (void)level;
    return 16 * 1024 + 262;
}

const char *gz_backend(void) { return "zlib"; }

int gz_new(int level, struct gz **out)
{
    if (level < GZ_LEVEL_MIN || level > GZ_LEVEL_MAX) return -EINVAL;
    struct gz *g = xcalloc(1, sizeof *g);
    /* zlib level 0 stores; ISA-L level 0 still compresses, so 0 -> 1 */
    int zl = level < 1 ? 1 : level;
    if (deflateInit2(&g->z, zl, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(g);
        return -ENOMEM;
    }
    *out = g;
    return 0;
}

void gz_free(struct gz *g)
{
    if (!g) return;
    deflateEnd(&g->z);
    free(g);
}

void gz_reset(struct gz *g)
{
    deflateReset(&g->z);
    g->finished = 0;
    g->in = 0;
}

static int pump(struct gz *g, struct buf *out, int flush)
{
    for (int stalls = 0; stalls < 2;) {
        uint32_t room;
        unsigned char *w = out_room(out, g->z.avail_in, &room);
        if (!w) return -E2BIG;
        uInt in_before = g->z.avail_in;
        g->z.next_out = w;
        g->z.avail_out = room;
        int rc = deflate(&g->z, flush);
        out_commit(out, room - g->z.avail_out);
        if (rc == Z_STREAM_END) return 0;
        if (rc != Z_OK && rc != Z_BUF_ERROR) return -EIO;
        if (flush == Z_NO_FLUSH && g->z.avail_in == 0 && g->z.avail_out > 0) return 0;
        stalls = g->z.avail_out == room && g->z.avail_in == in_before ? stalls + 1 : 0;
    }
    return -EIO;
}

int gz_write(struct gz *g, const void *p, size_t n, struct buf *out)
{
    if (g->finished) return -EINVAL;
    const unsigned char *in = p;
    while (n) {
        uInt k = n > GZ_FEED_MAX ? GZ_FEED_MAX : (uInt)n;
        g->z.next_in = (Bytef *)(uintptr_t)in;
        g->z.avail_in = k;
        int rc = pump(g, out, Z_NO_FLUSH);
        g->in += k - g->z.avail_in;
        if (rc) return rc;
        in += k, n -= k;
    }
    return 0;
}

int gz_finish(struct gz *g, struct buf *out)
{
    if (g->finished) return -EINVAL;
    g->z.next_in = NULL;
    g->z.avail_in = 0;
    int rc = pump(g, out, Z_FINISH);
    if (rc == 0) g->finished = 1;
    return rc;
}

#endif

/* ---- inflate ---- */

/* Inflates one member starting at *in; advances *in / *left past it. */
static int inflate_member(z_stream *z, const unsigned char **in, size_t *left,
                          struct buf *out, struct err *e)
{
    for (;;) {
        unsigned char spare;
        size_t room = out->max > out->len ? out->max - out->len : 0;
        size_t want = room < 256 * 1024 ? room : 256 * 1024;
        unsigned char *w = want ? (unsigned char *)buf_reserve(out, want) : &spare;
        uInt avail = want ? (uInt)want : 1; /* 1 spare byte: detects overflow */
        z->next_in = (Bytef *)(uintptr_t)*in;
        z->avail_in = *left > UINT_MAX ? UINT_MAX : (uInt)*left;
        z->next_out = w;
        z->avail_out = avail;
        int rc = inflate(z, Z_NO_FLUSH);
        size_t got = avail - z->avail_out, used = (size_t)(z->next_in - *in);
        *in += used, *left -= used;
        if (!want && got)
            return err_set(e, -E2BIG, ERR_PERMANENT, "gzip: output over %zu bytes", out->max);
        if (want) out_commit(out, got);
        if (rc == Z_STREAM_END) return 0;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return err_set(e, -EBADMSG, ERR_PERMANENT, "gzip: corrupt data (%s)",
                           z->msg ? z->msg : "?");
        if (*left == 0 && z->avail_out > 0)
            return err_set(e, -EBADMSG, ERR_PERMANENT, "gzip: truncated input");
    }
}

int gz_inflate_all(const void *p, size_t n, struct buf *out, struct err *e)
{
    const unsigned char *in = p;
    size_t left = n;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (n == 0) return err_set(e, -EBADMSG, ERR_PERMANENT, "gzip: empty input");
    if (inflateInit2(&z, 15 + 32) != Z_OK)
        return err_set(e, -ENOMEM, ERR_PERMANENT, "gzip: inflateInit2 failed");
    int rc = 0;
    while (left && rc == 0) {
        if (left < 2 || in[0] != 0x1f || in[1] != 0x8b) {
            rc = err_set(e, -EBADMSG, ERR_PERMANENT, "gzip: no gzip header at offset %zu",
                         n - left);
            break;
        }
        inflateReset(&z);
        rc = inflate_member(&z, &in, &left, out, e);
    }
    inflateEnd(&z);
    return rc;
}
