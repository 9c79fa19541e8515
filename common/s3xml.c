/* s3xml.c — strict, bounded XML walk for S3 answers (see s3xml.h). */
#include "common/s3xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"

struct px {
    const char *start, *p, *end;
    char path[S3XML_MAX_PATH + 1];
    size_t plen;
    size_t mark[S3XML_MAX_DEPTH];  /* path length before each open element */
    int had_child[S3XML_MAX_DEPTH];
    int depth;
    int roots;
    struct buf text;               /* text since the last tag */
    s3xml_cb cb;
    void *ctx;
    struct err *e;
};

static int bad(struct px *x, const char *what)
{
    return err_set(x->e, -EBADMSG, ERR_PERMANENT, "s3 xml: %s at byte %zu", what,
                   (size_t)(x->p - x->start));
}

static int starts(const struct px *x, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(x->end - x->p) >= n && memcmp(x->p, s, n) == 0;
}

static int skip_past(struct px *x, const char *term)
{
    size_t n = strlen(term);
    const char *q = memmem(x->p, (size_t)(x->end - x->p), term, n);
    if (!q) return bad(x, "truncated");
    x->p = q + n;
    return 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int all_ws(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_ws(s[i])) return 0;
    return 1;
}

static int name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' ||
           c >= 0x80;
}

static int name_char(unsigned char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* Reads an XML name at x->p; returns its length (0 if none). */
static size_t read_name(struct px *x)
{
    const char *s = x->p;
    if (s >= x->end || !name_start((unsigned char)*s)) return 0;
    while (s < x->end && name_char((unsigned char)*s)) s++;
    size_t n = (size_t)(s - x->p);
    x->p = s;
    return n;
}

static void skip_ws(struct px *x)
{
    while (x->p < x->end && is_ws(*x->p)) x->p++;
}

static int utf8_put(struct buf *b, unsigned long cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12)), n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18)), n = 4;
    }
    for (size_t i = 1; i < n; i++)
        u[i] = (unsigned char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3F));
    return buf_append(b, u, n);
}

static int xml_char_ok(unsigned long cp)
{
    if (cp == 0x9 || cp == 0xA || cp == 0xD) return 1;
    if (cp < 0x20 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return cp != 0xFFFE && cp != 0xFFFF && cp <= 0x10FFFF;
}

/* Parses "#123" / "#x1F" (without & and ;) into *cp. */
static int char_ref(const char *s, size_t n, unsigned long *cp)
{
    int hex = n > 1 && s[1] == 'x';
    size_t i = hex ? 2 : 1;
    if (i >= n || n - i > 8) return -1;
    unsigned long v = 0;
    for (; i < n; i++) {
        char c = s[i];
        int d = (c >= '0' && c <= '9') ? c - '0'
                : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (hex && c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * (hex ? 16 : 10) + (unsigned long)d;
    }
    if (!xml_char_ok(v)) return -1;
    *cp = v;
    return 0;
}

static int entity_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '#';
}

/* Decodes one entity at x->p ('&') into the text buffer. */
static int entity(struct px *x)
{
    static const struct { const char *name; char c; } named[] = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    const char *s = x->p + 1, *q = s;
    while (q < x->end && q - s <= 10 && entity_char(*q)) q++;
    if (q >= x->end) return bad(x, "truncated entity");
    if (*q != ';' || q - s > 10) return bad(x, "bad entity");
    size_t n = (size_t)(q - s);
    x->p = q + 1;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strlen(named[i].name) == n && memcmp(named[i].name, s, n) == 0)
            return buf_append(&x->text, &named[i].c, 1) ? bad(x, "text too long") : 0;
    unsigned long cp;
    if (n == 0 || s[0] != '#' || char_ref(s, n, &cp) != 0) return bad(x, "unknown entity");
    return utf8_put(&x->text, cp) ? bad(x, "text too long") : 0;
}

/* Character data up to the next '<'. */
static int chars(struct px *x)
{
    while (x->p < x->end && *x->p != '<') {
        unsigned char c = (unsigned char)*x->p;
        if (c == '&') {
            int rc = entity(x);
            if (rc) return rc;
            continue;
        }
        if (c < 0x20 && !is_ws((char)c)) return bad(x, "control character");
        if (buf_append(&x->text, x->p, 1)) return bad(x, "text too long");
        x->p++;
    }
    if (x->depth == 0 && !all_ws(x->text.data ? x->text.data : "", x->text.len))
        return bad(x, "text outside the root element");
    return 0;
}

static int cdata(struct px *x)
{
    if (x->depth == 0) return bad(x, "CDATA outside the root element");
    x->p += strlen("<![CDATA[");
    const char *q = memmem(x->p, (size_t)(x->end - x->p), "]]>", 3);
    if (!q) return bad(x, "truncated");
    if (buf_append(&x->text, x->p, (size_t)(q - x->p))) return bad(x, "text too long");
    if (memchr(x->p, 0, (size_t)(q - x->p))) return bad(x, "NUL in CDATA");
    x->p = q + 3;
    return 0;
}

/* One attribute value, quoted; entities are checked but not kept. */
static int attribute(struct px *x)
{
    if (!read_name(x)) return bad(x, "bad attribute name");
    skip_ws(x);
    if (x->p >= x->end) return bad(x, "truncated");
    if (*x->p != '=') return bad(x, "bad attribute");
    x->p++;
    skip_ws(x);
    if (x->p >= x->end) return bad(x, "truncated");
    char q = *x->p++;
    if (q != '"' && q != '\'') return bad(x, "unquoted attribute");
    const char *close = memchr(x->p, q, (size_t)(x->end - x->p));
    if (!close) return bad(x, "truncated");
    if (memchr(x->p, '<', (size_t)(close - x->p))) return bad(x, "'<' in attribute");
    x->p = close + 1;
    return 0;
}

static int emit(struct px *x, int leaf)
{
    const char *t = leaf && x->text.data ? x->text.data : "";
    size_t n = leaf ? x->text.len : 0;
    x->path[x->plen] = 0;
    int rc = x->cb ? x->cb(x->ctx, x->path, t, n, leaf) : 0;
    buf_reset(&x->text);
    return rc;
}

static int push(struct px *x, const char *name, size_t n)
{
    if (x->depth >= S3XML_MAX_DEPTH) return bad(x, "nested too deep");
    if (x->depth == 0 && ++x->roots > 1) return bad(x, "more than one root element");
    if (x->depth > 0) {
        if (!all_ws(x->text.data ? x->text.data : "", x->text.len))
            return bad(x, "text mixed with elements");
        x->had_child[x->depth - 1] = 1;
    }
    size_t need = x->plen + (x->depth > 0) + n;
    if (need > S3XML_MAX_PATH) return bad(x, "path too long");
    x->mark[x->depth] = x->plen;
    if (x->depth > 0) x->path[x->plen++] = '/';
    memcpy(x->path + x->plen, name, n);
    x->plen += n;
    x->had_child[x->depth++] = 0;
    buf_reset(&x->text);
    return 0;
}

static int pop(struct px *x)
{
    int leaf = !x->had_child[x->depth - 1];
    if (!leaf && !all_ws(x->text.data ? x->text.data : "", x->text.len))
        return bad(x, "text mixed with elements");
    int rc = emit(x, leaf);
    x->plen = x->mark[--x->depth];
    return rc;
}

static int open_tag(struct px *x)
{
    x->p++;
    const char *name = x->p;
    size_t n = read_name(x);
    if (!n) return bad(x, x->p >= x->end ? "truncated" : "bad element name");
    int rc = push(x, name, n);
    while (rc == 0) {
        const char *before = x->p;
        skip_ws(x);
        if (x->p >= x->end) return bad(x, "truncated");
        if (*x->p == '>') return x->p++, 0;
        if (*x->p == '/' && x->p + 1 >= x->end) return bad(x, "truncated");
        if (starts(x, "/>")) return x->p += 2, pop(x);
        if (x->p == before) return bad(x, "bad tag");
        rc = attribute(x);
    }
    return rc;
}

static int close_tag(struct px *x)
{
    x->p += 2;
    const char *name = x->p;
    size_t n = read_name(x);
    skip_ws(x);
    if (x->p >= x->end) return bad(x, "truncated");
    if (!n || *x->p != '>') return bad(x, "bad end tag");
    if (x->depth == 0) return bad(x, "end tag without start");
    size_t start = x->mark[x->depth - 1] + (x->depth > 1);
    if (x->plen - start != n || memcmp(x->path + start, name, n) != 0)
        return bad(x, "mismatched end tag");
    x->p++;
    return pop(x);
}

static int markup(struct px *x)
{
    if (starts(x, "<?")) return skip_past(x, "?>");
    if (starts(x, "<!--")) return skip_past(x, "-->");
    if (starts(x, "<![CDATA[")) return cdata(x);
    if (starts(x, "<!")) return bad(x, "declarations are not allowed");
    if (starts(x, "</")) return close_tag(x);
    if (x->end - x->p < 2) return bad(x, "truncated");
    return open_tag(x);
}

int s3xml_parse(const char *doc, size_t len, s3xml_cb cb, void *ctx, struct err *e)
{
    struct px *x = xcalloc(1, sizeof *x);
    x->start = x->p = doc;
    x->end = doc + len;
    x->cb = cb;
    x->ctx = ctx;
    x->e = e;
    buf_init(&x->text, S3XML_MAX_TEXT);
    if (len >= 3 && memcmp(doc, "\xEF\xBB\xBF", 3) == 0) x->p += 3;
    int rc = 0;
    while (rc == 0 && x->p < x->end)
        rc = *x->p == '<' ? markup(x) : chars(x);
    if (rc == 0 && x->depth > 0) rc = bad(x, "truncated");
    if (rc == 0 && x->roots == 0) rc = bad(x, "no root element");
    buf_free(&x->text);
    free(x);
    return rc;
}

struct find_ctx {
    const char *path;
    char *out;
    size_t outsz;
    int too_long;
};

static int find_cb(void *ctx, const char *path, const char *text, size_t len, int leaf)
{
    struct find_ctx *f = ctx;
    (void)leaf;
    if (strcmp(path, f->path) != 0) return 0;
    if (len >= f->outsz) return f->too_long = 1;
    memcpy(f->out, text, len + 1);
    return 1;
}

int s3xml_find(const char *doc, size_t len, const char *path, char *out, size_t outsz,
               struct err *e)
{
    struct find_ctx f = {path, out, outsz, 0};
    if (outsz) out[0] = 0;
    int rc = s3xml_parse(doc, len, find_cb, &f, e);
    if (f.too_long)
        return err_set(e, -E2BIG, ERR_PERMANENT, "s3 xml: %s longer than %zu bytes", path,
                       outsz - 1);
    return rc;
}
