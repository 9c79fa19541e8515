/* t_gz.c — the streaming gzip writer and the inflater (both backends). */
#include "sinks/gz.h"
#include "sinks/buffer.h"
#include "worker/loggen.h"
#include "tests/t.h"

#include <errno.h>
#include <stdint.h>

static uint64_t rs = 88172645463325252ull;
static uint64_t xr(void)
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return rs;
}

/* n bytes of log lines (newline-terminated). */
static void log_data(struct buf *b, size_t n, uint64_t seed)
{
    struct loggen *g = loggen_new(seed);
    int64_t ts = INT64_C(1795305600000);
    while (b->len < n) {
        ASSERT_TRUE(loggen_record(g, ts += 37, b) >= 0);
        ASSERT_TRUE(buf_append(b, "\n", 1) == 0);
    }
    b->len = n;
    loggen_free(g);
}

static void random_data(struct buf *b, size_t n)
{
    char *w = buf_reserve(b, n);
    ASSERT_TRUE(w != NULL);
    for (size_t i = 0; i < n; i++) w[i] = (char)(xr() >> 56);
    b->len += n;
}

/* Compresses in[0..n) in `step`-byte writes as one member of g into out. */
static void compress(struct gz *g, const char *in, size_t n, size_t step, struct buf *out)
{
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        ASSERT_TRUE(gz_write(g, in + off, k, out) == 0);
    }
    ASSERT_TRUE(gz_finish(g, out) == 0);
}

/* 1 if gz[0..n) inflates to exactly want[0..wn). */
static int inflates_to(const char *gz, size_t n, const char *want, size_t wn)
{
    struct buf o;
    struct err e = {0};
    buf_init(&o, wn + 1024);
    int rc = gz_inflate_all(gz, n, &o, &e);
    if (rc) fprintf(stderr, "  inflate: %s\n", e.msg);
    int same = rc == 0 && o.len == wn && (wn == 0 || memcmp(o.data, want, wn) == 0);
    buf_free(&o);
    return same;
}

TEST(gz_round_trip_many_write_sizes)
{
    struct buf logs, rnd;
    buf_init(&logs, 8 << 20), buf_init(&rnd, 8 << 20);
    log_data(&logs, 3 << 20, 7);
    random_data(&rnd, 1 << 20);
    static const size_t steps[] = {1, 7, 100, 1000, 4096, 65536, 1 << 20, SIZE_MAX};
    struct gz *g;
    ASSERT_TRUE(gz_new(GZ_LEVEL_DEFAULT, &g) == 0);
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        for (int d = 0; d < 2; d++) {
            const struct buf *in = d ? &rnd : &logs;
            /* tiny writes on a 256 KiB prefix keep the test fast */
            size_t n = steps[s] < 100 ? 256 * 1024 : in->len;
            struct buf out;
            buf_init(&out, 16 << 20);
            gz_reset(g);
            compress(g, in->data, n, steps[s], &out);
            EXPECT_EQ_INT(gz_bytes_in(g), n);
            if (!inflates_to(out.data, out.len, in->data, n))
                T_REPORT_("round trip failed: %s data, %zu-byte writes", d ? "random" : "log",
                          steps[s]);
            if (!d && n == logs.len) EXPECT_LE_INT(out.len * 100 / n, 40); /* compresses */
            if (d && n == rnd.len) EXPECT_LE_INT(out.len, n + n / 50);    /* bounded growth */
            buf_free(&out);
        }
    }
    gz_free(g);
    buf_free(&logs), buf_free(&rnd);
}

TEST(gz_all_levels_round_trip)
{
    struct buf logs;
    buf_init(&logs, 4 << 20);
    log_data(&logs, 1 << 20, 9);
    for (int level = GZ_LEVEL_MIN; level <= GZ_LEVEL_MAX; level++) {
        struct gz *g;
        struct buf out;
        ASSERT_TRUE(gz_new(level, &g) == 0);
        buf_init(&out, 4 << 20);
        compress(g, logs.data, logs.len, 4096, &out);
        EXPECT_TRUE(inflates_to(out.data, out.len, logs.data, logs.len));
        EXPECT_LE_INT(out.len * 100 / logs.len, 45);
        buf_free(&out);
        gz_free(g);
    }
    struct gz *g = NULL;
    EXPECT_EQ_INT(gz_new(-1, &g), -EINVAL);
    EXPECT_EQ_INT(gz_new(GZ_LEVEL_MAX + 1, &g), -EINVAL);
    EXPECT_TRUE(g == NULL);
    gz_free(NULL);
    buf_free(&logs);
}

/* The regression test for the ISA-L 2.30 quirk: every member after a
 * gz_reset must carry its own gzip header and decompress on its own. */
TEST(gz_three_members_from_one_writer)
{
    struct buf in[3], out[3], all, cat;
    struct gz *g;
    ASSERT_TRUE(gz_new(GZ_LEVEL_DEFAULT, &g) == 0);
    buf_init(&all, 8 << 20), buf_init(&cat, 8 << 20);
    for (int i = 0; i < 3; i++) {
        buf_init(&in[i], 1 << 20), buf_init(&out[i], 1 << 20);
        log_data(&in[i], 100000 + 50000 * (size_t)i, 100 + (uint64_t)i);
        if (i) gz_reset(g);
        compress(g, in[i].data, in[i].len, 1000, &out[i]);
        EXPECT_TRUE(out[i].len > 18);
        EXPECT_EQ_INT((unsigned char)out[i].data[0], 0x1f); /* gzip magic, deflate */
        EXPECT_EQ_INT((unsigned char)out[i].data[1], 0x8b);
        EXPECT_EQ_INT((unsigned char)out[i].data[2], 8);
        if (!inflates_to(out[i].data, out[i].len, in[i].data, in[i].len))
            T_REPORT_("member %d does not decompress on its own", i);
        buf_append(&all, out[i].data, out[i].len);
        buf_append(&cat, in[i].data, in[i].len);
    }
    /* concatenated members are one valid .gz of the concatenated data */
    EXPECT_TRUE(inflates_to(all.data, all.len, cat.data, cat.len));
    for (int i = 0; i < 3; i++) buf_free(&in[i]), buf_free(&out[i]);
    buf_free(&all), buf_free(&cat);
    gz_free(g);
}

TEST(gz_empty_member)
{
    struct gz *g;
    struct buf out;
    ASSERT_TRUE(gz_new(GZ_LEVEL_DEFAULT, &g) == 0);
    buf_init(&out, 1024);
    EXPECT_EQ_INT(gz_finish(g, &out), 0);
    EXPECT_GE_INT(out.len, 20); /* 10 header + empty block + 8 trailer */
    EXPECT_TRUE(inflates_to(out.data, out.len, "", 0));
    size_t first = out.len;
    gz_reset(g);
    EXPECT_EQ_INT(gz_write(g, "", 0, &out), 0);
    EXPECT_EQ_INT(gz_finish(g, &out), 0);
    EXPECT_TRUE(inflates_to(out.data + first, out.len - first, "", 0));
    EXPECT_TRUE(inflates_to(out.data, out.len, "", 0));
    buf_free(&out);
    gz_free(g);
}

TEST(gz_output_readable_by_gzip_tool)
{
    struct buf in, out;
    struct gz *g;
    buf_init(&in, 4 << 20), buf_init(&out, 4 << 20);
    log_data(&in, 1 << 20, 5);
    ASSERT_TRUE(gz_new(GZ_LEVEL_DEFAULT, &g) == 0);
    size_t third = in.len / 3;
    for (int i = 0; i < 3; i++) { /* three members, as objects appended by a reader */
        if (i) gz_reset(g);
        size_t n = i < 2 ? third : in.len - 2 * third;
        compress(g, in.data + (size_t)i * third, n, 1024, &out);
    }
    gz_reset(g);
    ASSERT_TRUE(gz_finish(g, &out) == 0); /* and an empty one */
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/x.json.gz", t_tmpdir());
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f && fwrite(out.data, 1, out.len, f) == out.len && fclose(f) == 0);
    snprintf(cmd, sizeof cmd, "gzip -t '%s'", path);
    EXPECT_EQ_INT(system(cmd), 0);
    /* and it holds exactly the input */
    snprintf(path, sizeof path, "%s/x.json", t_tmpdir());
    f = fopen(path, "wb");
    ASSERT_TRUE(f && fwrite(in.data, 1, in.len, f) == in.len && fclose(f) == 0);
    snprintf(cmd, sizeof cmd, "gzip -dc '%s.gz' | cmp -s - '%s'", path, path);
    EXPECT_EQ_INT(system(cmd), 0);
    /* a corrupt file fails gzip -t: the check above can fail */
    out.data[out.len / 2] ^= 0x55;
    snprintf(path, sizeof path, "%s/bad.json.gz", t_tmpdir());
    f = fopen(path, "wb");
    ASSERT_TRUE(f && fwrite(out.data, 1, out.len, f) == out.len && fclose(f) == 0);
    snprintf(cmd, sizeof cmd, "gzip -t '%s' 2>/dev/null", path);
    EXPECT_NE_INT(system(cmd), 0);
    buf_free(&in), buf_free(&out);
    gz_free(g);
}

TEST(gz_writer_limits_and_misuse)
{
    struct buf in, out;
    struct gz *g;
    buf_init(&in, 1 << 20);
    random_data(&in, 200000);
    ASSERT_TRUE(gz_new(GZ_LEVEL_DEFAULT, &g) == 0);
    buf_init(&out, 1000); /* far too small for 200 kB of noise */
    int rc = gz_write(g, in.data, in.len, &out);
    if (rc == 0) rc = gz_finish(g, &out);
    EXPECT_EQ_INT(rc, -E2BIG);
    EXPECT_LE_INT(out.len, 1000);
    /* after reset the writer works again */
    gz_reset(g);
    buf_free(&out);
    buf_init(&out, 1 << 20);
    compress(g, in.data, in.len, 50000, &out);
    EXPECT_TRUE(inflates_to(out.data, out.len, in.data, in.len));
    EXPECT_EQ_INT(gz_write(g, "x", 1, &out), -EINVAL); /* finished: reset first */
    EXPECT_EQ_INT(gz_finish(g, &out), -EINVAL);
    buf_free(&in), buf_free(&out);
    gz_free(g);
    EXPECT_TRUE(strcmp(gz_backend(), "isal") == 0 || strcmp(gz_backend(), "zlib") == 0);
}

TEST(gz_inflate_rejects_bad_input)
{
    struct buf in, gzb, o;
    struct gz *g;
    struct err e = {0};
    buf_init(&in, 1 << 20), buf_init(&gzb, 1 << 20), buf_init(&o, 1 << 20);
    log_data(&in, 300000, 3);
    ASSERT_TRUE(gz_new(GZ_LEVEL_DEFAULT, &g) == 0);
    compress(g, in.data, in.len, 8192, &gzb);
    EXPECT_EQ_INT(gz_inflate_all(gzb.data, gzb.len, &o, &e), 0);
    EXPECT_EQ_INT(o.len, in.len);
    /* truncated at several points */
    size_t cuts[] = {1, 5, 10, gzb.len / 2, gzb.len - 8, gzb.len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        buf_reset(&o);
        EXPECT_EQ_INT(gz_inflate_all(gzb.data, cuts[i], &o, &e), -EBADMSG);
    }
    EXPECT_CONTAINS(e.msg, "truncated");
    /* CRC and ISIZE are checked */
    for (size_t at = gzb.len - 8; at < gzb.len; at += 4) {
        gzb.data[at] ^= 1;
        buf_reset(&o);
        EXPECT_EQ_INT(gz_inflate_all(gzb.data, gzb.len, &o, &e), -EBADMSG);
        gzb.data[at] ^= 1;
    }
    /* corrupt body */
    gzb.data[gzb.len / 3] ^= 0xff;
    buf_reset(&o);
    EXPECT_EQ_INT(gz_inflate_all(gzb.data, gzb.len, &o, &e), -EBADMSG);
    gzb.data[gzb.len / 3] ^= 0xff;
    /* trailing garbage, empty input, not gzip */
    buf_append(&gzb, "junk", 4);
    buf_reset(&o);
    EXPECT_EQ_INT(gz_inflate_all(gzb.data, gzb.len, &o, &e), -EBADMSG);
    EXPECT_CONTAINS(e.msg, "no gzip header");
    EXPECT_EQ_INT(gz_inflate_all("", 0, &o, &e), -EBADMSG);
    EXPECT_EQ_INT(gz_inflate_all("{\"a\":1}", 7, &o, &e), -EBADMSG);
    /* a bomb stops at the output max */
    struct buf small;
    buf_init(&small, 1000);
    EXPECT_EQ_INT(gz_inflate_all(gzb.data, gzb.len - 4, &small, &e), -E2BIG);
    EXPECT_LE_INT(small.len, 1000);
    /* exactly at the max is fine */
    buf_free(&small);
    buf_init(&small, in.len);
    EXPECT_EQ_INT(gz_inflate_all(gzb.data, gzb.len - 4, &small, &e), 0);
    EXPECT_EQ_INT(small.len, in.len);
    buf_free(&small);
    buf_free(&in), buf_free(&gzb), buf_free(&o);
    gz_free(g);
}

/* Short matches at long distances: the most expensive tokens deflate has. */
static void mixed_data(struct buf *b, size_t n)
{
    random_data(b, 32 * 1024);
    while (b->len < n) {
        char m[6];
        size_t from = (size_t)(xr() % (b->len - 8)), k = 3 + (size_t)(xr() % 3);
        memcpy(m, b->data + from, k); /* buf_append may move b->data */
        ASSERT_TRUE(buf_append(b, m, k) == 0);
        char c = (char)(xr() >> 56);
        ASSERT_TRUE(buf_append(b, &c, 1) == 0);
    }
    b->len = n;
}

/* What writing U more bytes and finishing adds to a member after a prefix P
 * stays within gz_finish_bound, at every level, on log, random and mixed
 * data: the router's memory budget relies on it (worker/router.c). */
TEST(gz_finish_bound_holds)
{
    static const size_t prefix[] = {0, 64 * 1024 + 5, 400 * 1024};
    static const size_t unfed[] = {0, 150 * 1024};
    struct buf data[3], out;
    const char *names[3] = {"log", "random", "mixed"};
    for (int k = 0; k < 3; k++) buf_init(&data[k], 1 << 20);
    log_data(&data[0], 560 * 1024, 5);
    random_data(&data[1], 560 * 1024);
    mixed_data(&data[2], 560 * 1024);
    buf_init(&out, 4 << 20);
    for (int level = GZ_LEVEL_MIN; level <= GZ_LEVEL_MAX; level++) {
        double worst = 0;
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < 3; i++)
                for (size_t j = 0; j < 2; j++) {
                    struct gz *g;
                    ASSERT_TRUE(gz_new(level, &g) == 0);
                    buf_reset(&out);
                    for (size_t off = 0; off < prefix[i]; off += 64 * 1024) {
                        size_t n = prefix[i] - off < 64 * 1024 ? prefix[i] - off : 64 * 1024;
                        ASSERT_TRUE(gz_write(g, data[k].data + off, n, &out) == 0);
                    }
                    size_t before = out.len;
                    ASSERT_TRUE(gz_write(g, data[k].data + prefix[i], unfed[j], &out) == 0);
                    ASSERT_TRUE(gz_finish(g, &out) == 0);
                    size_t added = out.len - before;
                    size_t bound = gz_finish_bound(level, prefix[i] > 0, unfed[j]);
                    if (added > bound || added * 10 > bound * 8)
                        fprintf(stderr, "  level %d %s: prefix %zu unfed %zu: added %zu, bound %zu\n",
                                level, names[k], prefix[i], unfed[j], added, bound);
                    EXPECT_LE_INT(added, bound);
                    if ((double)added / (double)bound > worst) worst = (double)added / (double)bound;
                    gz_free(g);
                }
        fprintf(stderr, "  level %d: at most %.0f%% of the bound\n", level, 100 * worst);
    }
    for (int k = 0; k < 3; k++) buf_free(&data[k]);
    buf_free(&out);
}

/* The router's budget view of an open buffer (sinks/buffer.h): an append
 * raises buffer_held by at most buffer_append_bound of the line, and the
 * sealed body is never longer than buffer_held was just before. */
TEST(buffer_held_bounds_growth_and_sealed_body)
{
    struct buf data;
    buf_init(&data, 1 << 20);
    random_data(&data, 300 * 1024);
    log_data(&data, 900 * 1024, 9); /* random first, then log lines */
    struct buffer_pool pool;
    struct err e = {0};
    ASSERT_TRUE(buffer_pool_init(&pool, GZ_LEVEL_DEFAULT, 2, &e) == 0);
    struct buffer *b = buffer_new(&pool, 64 * 1024, 8192, 4 << 20, 0);
    for (int round = 0; round < 2; round++) {
        ASSERT_TRUE(buffer_start(b, 0, 1, "1", 0, 0, 0) == 0);
        size_t held = buffer_held(b), worst = 0;
        for (size_t off = 0, k = 0; off < data.len; off += k) {
            k = 200 + (size_t)(xr() % 3000);
            if (k > data.len - off) k = data.len - off;
            ASSERT_TRUE(buf_append(buffer_stage(b), data.data + off, k) == 0);
            ASSERT_TRUE(buffer_added(b, "2", 0, k) == 0);
            size_t now = buffer_held(b);
            if (now > held) {
                EXPECT_LE_INT(now - held, buffer_append_bound(&pool, k));
                if (now - held > worst) worst = now - held;
            }
            held = now;
        }
        struct buf body;
        ASSERT_TRUE(buffer_seal(b, &body) == 0);
        EXPECT_LE_INT(body.len, held);
        EXPECT_TRUE(inflates_to(body.data, body.len, data.data, data.len));
        fprintf(stderr, "  body %zu of held %zu; largest rise %zu\n", body.len, held, worst);
        buf_free(&body);
    }
    buffer_free(b);
    buffer_pool_free(&pool);
    buf_free(&data);
}
