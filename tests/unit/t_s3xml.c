/* t_s3xml.c — the strict S3 XML extractor, on good and hostile input. */
#include "common/s3xml.h"
#include "common/buf.h"
#include "common/mem.h"
#include "tests/t.h"

#include <errno.h>

struct seen {
    char log[2048];
    size_t len;
};

static int record_cb(void *ctx, const char *path, const char *text, size_t len, int leaf)
{
    struct seen *s = ctx;
    int n = snprintf(s->log + s->len, sizeof s->log - s->len, "%s%s=%.*s|", leaf ? "" : "+",
                     path, (int)len, text);
    if (n > 0 && (size_t)n < sizeof s->log - s->len) s->len += (size_t)n;
    return 0;
}

static int parse(const char *doc, struct seen *s, struct err *e)
{
    memset(s, 0, sizeof *s);
    err_clear(e);
    return s3xml_parse(doc, strlen(doc), record_cb, s, e);
}

static const char list_doc[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\">"
    "<IsTruncated>true</IsTruncated>"
    "<Contents><Key>a&amp;b &lt;c&gt; &quot;q&quot; &apos;&#x2F;&#47;&#233;&#x1F600;</Key>"
    "<Size>12</Size><ETag>&quot;9b2c&quot;</ETag></Contents>\n"
    "<!-- a comment -->"
    "<Contents><Key><![CDATA[x<y>&z]]></Key><Size>0</Size><Owner/></Contents>"
    "<NextContinuationToken>1CEa+/=</NextContinuationToken>"
    "</ListBucketResult>";

TEST(s3xml_list_paths_text_and_entities)
{
    struct seen s;
    struct err e;
    EXPECT_OK(parse(list_doc, &s, &e), e);
    EXPECT_EQ_STR(s.log,
                  "ListBucketResult/IsTruncated=true|"
                  "ListBucketResult/Contents/Key=a&b <c> \"q\" '//\xC3\xA9\xF0\x9F\x98\x80|"
                  "ListBucketResult/Contents/Size=12|"
                  "ListBucketResult/Contents/ETag=\"9b2c\"|"
                  "+ListBucketResult/Contents=|"
                  "ListBucketResult/Contents/Key=x<y>&z|"
                  "ListBucketResult/Contents/Size=0|"
                  "ListBucketResult/Contents/Owner=|"
                  "+ListBucketResult/Contents=|"
                  "ListBucketResult/NextContinuationToken=1CEa+/=|"
                  "+ListBucketResult=|");
}

TEST(s3xml_find_error_code_and_limits)
{
    const char *doc = "<Error><Code>NoSuchKey</Code><Message>The specified key does not "
                      "exist.</Message><Key>k</Key></Error>";
    char out[64];
    struct err e;
    err_clear(&e);
    EXPECT_EQ_INT(s3xml_find(doc, strlen(doc), "Error/Code", out, sizeof out, &e), 1);
    EXPECT_EQ_STR(out, "NoSuchKey");
    EXPECT_EQ_INT(s3xml_find(doc, strlen(doc), "Error/Nope", out, sizeof out, &e), 0);
    EXPECT_EQ_STR(out, "");
    EXPECT_EQ_INT(s3xml_find(doc, strlen(doc), "Error/Message", out, 8, &e), -E2BIG);
    /* found early, but a broken document is still refused when not found */
    const char *bad = "<Error><Code>X</Code><Oops></Error>";
    EXPECT_EQ_INT(s3xml_find(bad, strlen(bad), "Error/Message", out, sizeof out, &e),
                  -EBADMSG);
}

TEST(s3xml_every_truncation_is_refused)
{
    size_t n = strlen(list_doc);
    int refused = 0;
    for (size_t i = 0; i < n; i++) {
        struct err e;
        err_clear(&e);
        char *cut = xstrndup(list_doc, i); /* a copy, so ASan sees reads past i */
        int rc = s3xml_parse(cut, i, NULL, NULL, &e);
        free(cut);
        if (rc == -EBADMSG && e.cls == ERR_PERMANENT) refused++;
        else fprintf(stderr, "  prefix %zu accepted (rc=%d)\n", i, rc);
    }
    EXPECT_EQ_INT(refused, n);
}

static void expect_bad(const char *doc, const char *why)
{
    struct seen s;
    struct err e;
    int rc = parse(doc, &s, &e);
    if (rc != -EBADMSG) {
        fprintf(stderr, "  accepted: %s\n", doc);
        t_fail();
    }
    EXPECT_CONTAINS(e.msg, why);
}

TEST(s3xml_malformed_documents)
{
    expect_bad("", "no root element");
    expect_bad("<?xml version=\"1.0\"?>  ", "no root element");
    expect_bad("<a><b></a></b>", "mismatched end tag");
    expect_bad("<a></b>", "mismatched end tag");
    expect_bad("<a></ab>", "mismatched end tag");
    expect_bad("<ab></a>", "mismatched end tag");
    expect_bad("</a>", "end tag without start");
    expect_bad("<a/><b/>", "more than one root");
    expect_bad("x<a/>", "text outside the root");
    expect_bad("<a/>x", "text outside the root");
    expect_bad("<a/>&amp;", "text outside the root");
    expect_bad("<a>one<b/>two</a>", "text mixed with elements");
    expect_bad("<a><b/>two</a>", "text mixed with elements");
    expect_bad("<a>&foo;</a>", "unknown entity");
    expect_bad("<a>&amp</a>", "bad entity");
    expect_bad("<a>&ampamp", "truncated entity");
    expect_bad("<a>a & b</a>", "bad entity");
    expect_bad("<a>&;</a>", "unknown entity");
    expect_bad("<a>&#;</a>", "unknown entity");
    expect_bad("<a>&#x;</a>", "unknown entity");
    expect_bad("<a>&#0;</a>", "unknown entity");
    expect_bad("<a>&#x1;</a>", "unknown entity");
    expect_bad("<a>&#xD800;</a>", "unknown entity");
    expect_bad("<a>&#x110000;</a>", "unknown entity");
    expect_bad("<a>&#99999999999;</a>", "bad entity");
    expect_bad("<a>&#x-1;</a>", "bad entity");
    expect_bad("<a>&#12a;</a>", "unknown entity");
    expect_bad("<a>&am", "truncated entity");
    expect_bad("<!DOCTYPE a [<!ENTITY x \"yyyy\">]><a>&x;</a>", "declarations are not allowed");
    expect_bad("<a><!ENTITY x \"y\"></a>", "declarations are not allowed");
    expect_bad("<a b=c></a>", "unquoted attribute");
    expect_bad("<a b=\"<\"></a>", "'<' in attribute");
    expect_bad("<a b></a>", "bad attribute");
    expect_bad("<a b=\"1\"c=\"2\"></a>", "bad tag");
    expect_bad("<a b=\"1></a>", "truncated");
    expect_bad("< a></a>", "bad element name");
    expect_bad("<1a></1a>", "bad element name");
    expect_bad("<a>\x01</a>", "control character");
    expect_bad("<a><![CDATA[x]]", "truncated");
    expect_bad("<![CDATA[x]]><a/>", "CDATA outside");
    expect_bad("<a><!-- never closed </a>", "truncated");
    expect_bad("<a><?pi never closed</a>", "truncated");
    expect_bad("<", "truncated");
    expect_bad("<a", "truncated");
    expect_bad("<a>x</a", "truncated");
    expect_bad("<a/", "truncated");
}

TEST(s3xml_nul_byte_in_text_is_refused)
{
    const char doc[] = "<a>x\0y</a>";
    struct err e;
    EXPECT_EQ_INT(s3xml_parse(doc, sizeof doc - 1, NULL, NULL, &e), -EBADMSG);
}

static char *nested(int depth)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < depth; i++) buf_puts(&b, "<n>");
    buf_puts(&b, "x");
    for (int i = 0; i < depth; i++) buf_puts(&b, "</n>");
    return buf_steal(&b, NULL);
}

TEST(s3xml_depth_path_and_text_bounds)
{
    struct seen s;
    struct err e;
    char *ok = nested(S3XML_MAX_DEPTH), *deep = nested(S3XML_MAX_DEPTH + 1);
    EXPECT_OK(parse(ok, &s, &e), e);
    EXPECT_EQ_INT(parse(deep, &s, &e), -EBADMSG);
    EXPECT_CONTAINS(e.msg, "nested too deep");
    free(ok);
    free(deep);

    struct buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "<a><");
    for (int i = 0; i < S3XML_MAX_PATH; i++) buf_puts(&b, "n");
    buf_puts(&b, "/></a>");
    EXPECT_EQ_INT(parse(b.data, &s, &e), -EBADMSG);
    EXPECT_CONTAINS(e.msg, "path too long");

    buf_reset(&b);
    buf_puts(&b, "<a>");
    for (int i = 0; i < S3XML_MAX_TEXT; i++) buf_puts(&b, "t");
    buf_puts(&b, "</a>");
    EXPECT_OK(parse(b.data, &s, &e), e);
    buf_reset(&b);
    buf_puts(&b, "<a>");
    for (int i = 0; i <= S3XML_MAX_TEXT; i++) buf_puts(&b, "&amp;");
    buf_puts(&b, "</a>");
    EXPECT_EQ_INT(parse(b.data, &s, &e), -EBADMSG);
    EXPECT_CONTAINS(e.msg, "text too long");
    buf_free(&b);
}

TEST(s3xml_huge_flat_document_is_linear)
{
    /* 200k sibling elements: must be accepted, in one pass, without recursion */
    struct buf b;
    buf_init(&b, 8 << 20);
    buf_puts(&b, "<r>");
    for (int i = 0; i < 200000; i++) buf_puts(&b, "<k>v</k>");
    buf_puts(&b, "</r>");
    struct err e;
    EXPECT_OK(s3xml_parse(b.data, b.len, NULL, NULL, &e), e);
    buf_free(&b);
}

static int stop_cb(void *ctx, const char *path, const char *text, size_t len, int leaf)
{
    (void)ctx, (void)text, (void)len, (void)leaf;
    return strcmp(path, "a/b") == 0 ? 7 : 0;
}

TEST(s3xml_callback_can_stop)
{
    const char *doc = "<a><b>1</b><c>2</c></a>";
    struct err e;
    EXPECT_EQ_INT(s3xml_parse(doc, strlen(doc), stop_cb, NULL, &e), 7);
}

TEST(s3xml_random_mutations_never_crash)
{
    /* Flip bytes of a real answer; each result must be a clean accept or
     * refuse (ASan/UBSan builds check the memory side). */
    size_t n = strlen(list_doc);
    unsigned seed = 12345;
    static const char alphabet[] = "<>/&;#x\"'=![]-? aZ0\x00\xff";
    int refused = 0;
    for (int iter = 0; iter < 20000; iter++) {
        char *d = xmalloc(n);
        memcpy(d, list_doc, n);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % n;
            d[pos] = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
        }
        struct err e;
        err_clear(&e);
        int rc = s3xml_parse(d, n, NULL, NULL, &e);
        if (rc != 0 && rc != -EBADMSG) T_REPORT_("unexpected rc %d", rc);
        refused += rc != 0;
        free(d);
    }
    EXPECT_GE_INT(refused, 1000); /* most mutations break the document */
}
