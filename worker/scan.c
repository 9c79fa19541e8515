/* scan.c — one-pass validating JSON scanner for router records.
 *
 * The structure is an explicit state machine (labels value / key / after)
 * over a bit stack of open containers, so depth costs no C stack.  Strings,
 * which are most of a log record's bytes, are skipped 16 bytes at a time with
 * SSE2 (a plain byte loop elsewhere) until a quote, backslash, control byte
 * or non-ASCII byte; only those take the slow path, and a value that closes
 * within its first 16 bytes never leaves the parse loop.  A key is first
 * compared with the key the same ordinal held in recent records (the
 * caller's scan_key_memo): equal bytes skip both the scan and the lookup.
 * Numbers are checked for the grammar (digit runs 16 bytes at a time) and
 * for jansson's range limits without converting them, except for the rare
 * real whose magnitude is within one decade of DBL_MAX.
 */
#include "worker/scan.h"
#include "common/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- byte tables ---- */

/* Non-zero for JSON whitespace; 2 for the line breaks a splice must not
 * copy into an NDJSON line as they are. */
static const unsigned char ws_tab[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 2, ['\r'] = 2,
};

/* 1 for bytes a string run may contain without a closer look. */
static unsigned char plain_tab[256];
/* hex digit value, or 0xff. */
static unsigned char hex_tab[256];

__attribute__((constructor)) static void tables_init(void)
{
    for (int c = 0; c < 256; c++) {
        plain_tab[c] = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
        hex_tab[c] = 0xff;
    }
    for (int c = '0'; c <= '9'; c++) hex_tab[c] = (unsigned char)(c - '0');
    for (int c = 'a'; c <= 'f'; c++) hex_tab[c] = (unsigned char)(c - 'a' + 10);
    for (int c = 'A'; c <= 'F'; c++) hex_tab[c] = (unsigned char)(c - 'A' + 10);
}

static const char *const reason_names[SCAN_E_COUNT_] = {
    [SCAN_OK] = "ok",
    [SCAN_E_NOT_JSON] = "not_json",
    [SCAN_E_NOT_OBJECT] = "not_object",
    [SCAN_E_BAD_UTF8] = "bad_utf8",
    [SCAN_E_BAD_ESCAPE] = "bad_escape",
    [SCAN_E_NUL] = "nul_byte",
    [SCAN_E_NUMBER_RANGE] = "number_range",
    [SCAN_E_TOO_DEEP] = "too_deep",
    [SCAN_E_TOO_LARGE] = "too_large",
    [SCAN_E_TRAILING] = "trailing_data",
    [SCAN_E_TRUNCATED] = "truncated",
    [SCAN_E_BAD_TIME] = "bad_time",
    [SCAN_E_NO_TIME] = "no_time",
    [SCAN_E_ARG] = "bad_argument",
};

const char *scan_reason_name(int reason)
{
    if (reason < 0) reason = -reason;
    if (reason >= SCAN_E_COUNT_) return "unknown";
    return reason_names[reason];
}

/* ---- scanner state ---- */

typedef const unsigned char *uptr;

struct st {
    uptr base, end;
    int reason;
    uptr err_at;
    struct scan_field *fields;
    size_t nfields;
    const struct scan_keys *keys;
    struct scan_key_memo *memo;
    unsigned ws;        /* ws_tab bits of the whitespace seen */
    char *scratch;      /* next free scratch byte */
    size_t members;
    uptr close;
};

static uptr fail(struct st *s, uptr at, int reason)
{
    s->reason = reason;
    s->err_at = at;
    return NULL;
}

static inline uptr skip_ws(struct st *s, uptr p, uptr end)
{
    /* compact JSON has no whitespace: one compare, no table load */
    while (p < end && *p <= ' ' && ws_tab[*p]) s->ws |= ws_tab[*p++];
    return p;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid,
 * -1 if valid so far but cut by end. */
static int utf8_len(uptr p, uptr end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    int len;
    if (c < 0xC2) return 0;
    if (c < 0xE0) len = 2;
    else if (c < 0xF0) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;       /* overlong */
        if (c == 0xED) hi = 0x9F;       /* UTF-16 surrogates */
    } else if (c < 0xF5) {
        len = 4;
        if (c == 0xF0) lo = 0x90;       /* overlong */
        if (c == 0xF4) hi = 0x8F;       /* > U+10FFFF */
    } else
        return 0;
    for (int i = 1; i < len; i++) {
        if (p + i >= end) return -1;
        unsigned b = p[i];
        if (b < lo || b > hi) return 0;
        lo = 0x80, hi = 0xBF;
    }
    return len;
}

/* The reason for an unexpected byte at p. */
static int bad_byte(uptr p, uptr end)
{
    if (*p == 0) return SCAN_E_NUL;
    if (*p >= 0x80 && utf8_len(p, end) <= 0) return SCAN_E_BAD_UTF8;
    return SCAN_E_NOT_JSON;
}

static inline int hex4(uptr p)
{
    unsigned a = hex_tab[p[0]], b = hex_tab[p[1]], c = hex_tab[p[2]], d = hex_tab[p[3]];
    if ((a | b | c | d) & 0xf0) return -1;
    return (int)(a << 12 | b << 8 | c << 4 | d);
}

/* Validates the escape at p (p[0] == '\\'); returns the byte after it. */
static uptr scan_escape(struct st *s, uptr p)
{
    uptr end = s->end;
    if (end - p < 2) return fail(s, p, SCAN_E_TRUNCATED);
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return p + 2;
    case 'u': break;
    default: return fail(s, p, SCAN_E_BAD_ESCAPE);
    }
    for (int i = 2; i < 6; i++) {
        if (p + i >= end) return fail(s, p, SCAN_E_TRUNCATED);
        if (hex_tab[p[i]] == 0xff) return fail(s, p, SCAN_E_BAD_ESCAPE);
    }
    int u = hex4(p + 2);
    if (u == 0) return fail(s, p, SCAN_E_NUL);
    if (u >= 0xDC00 && u <= 0xDFFF) return fail(s, p, SCAN_E_BAD_ESCAPE);
    if (u < 0xD800 || u > 0xDBFF) return p + 6;
    /* a high surrogate: the next escape must be a low one */
    for (int i = 6; i < 12; i++) {
        if (p + i >= end) return fail(s, p, SCAN_E_TRUNCATED);
        int ok = i == 6 ? p[i] == '\\' : i == 7 ? p[i] == 'u' : hex_tab[p[i]] != 0xff;
        if (!ok) return fail(s, p, SCAN_E_BAD_ESCAPE);
    }
    int lo = hex4(p + 8);
    if (lo < 0xDC00 || lo > 0xDFFF) return fail(s, p, SCAN_E_BAD_ESCAPE);
    return p + 12;
}

/* Skips to the next byte that is not plain string content (or end). */
#ifdef __SSE2__
/* Bit i set when p[i] (of 16) is not plain string content. */
static inline unsigned not_plain16(uptr p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    /* signed compare: control bytes and every byte >= 0x80 are < 0x20 */
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                          _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                             _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

static inline uptr skip_plain(uptr p, uptr end)
{
#ifdef __SSE2__
    while (end - p >= 16) {
        unsigned mask = not_plain16(p);
        if (mask) return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p < end && plain_tab[*p]) p++;
    return p;
}

/* p is just past the opening quote.  Returns the byte after the closing
 * quote; *esc is set when the string holds escapes. */
static uptr scan_string(struct st *s, uptr p, int *esc)
{
    uptr end = s->end;
    *esc = 0;
    for (;;) {
        p = skip_plain(p, end);
        if (p >= end) return fail(s, p, SCAN_E_TRUNCATED);
        unsigned c = *p;
        if (c == '"') return p + 1;
        if (c == '\\') {
            *esc = 1;
            if (!(p = scan_escape(s, p))) return NULL;
        } else if (c < 0x20) {
            return fail(s, p, c == 0 ? SCAN_E_NUL : SCAN_E_NOT_JSON);
        } else {
            int len = utf8_len(p, end);
            if (len <= 0) return fail(s, p, len < 0 ? SCAN_E_TRUNCATED : SCAN_E_BAD_UTF8);
            p += len;
        }
    }
}

/* scan_string with the common case inline: the closing quote within the
 * next 16 bytes and nothing but plain bytes before it. */
static inline __attribute__((always_inline)) uptr scan_string_fast(struct st *s, uptr p, int *esc)
{
#ifdef __SSE2__
    if (s->end - p >= 16) {
        unsigned mask = not_plain16(p);
        if (mask) {
            uptr q = p + __builtin_ctz(mask);
            if (*q == '"') {
                *esc = 0;
                return q + 1;
            }
        }
    }
#endif
    return scan_string(s, p, esc);
}

/* ---- numbers ---- */

/* 1 if the real 0.<digits> x 10^309 rounds to infinity.  Keeping the first
 * 400 significant digits decides it exactly: the rounding boundary
 * (2^1024 - 2^970) is an integer of 309 digits. */
static int overflows_e309(uptr ip, size_t ilen, uptr fp, size_t flen)
{
    char buf[420];
    size_t k = 0;
    buf[k++] = '0', buf[k++] = '.';
    for (size_t i = 0; i < ilen + flen && k < 402; i++) {
        char d = (char)(i < ilen ? ip[i] : fp[i - ilen]);
        if (k == 2 && d == '0') continue; /* leading zeros */
        buf[k++] = d;
    }
    memcpy(buf + k, "e309", 5);
    return isinf(strtod(buf, NULL));
}

/* Range checks as jansson: strtoll for integers, strtod overflow for reals. */
static int number_in_range(int neg, uptr ip, size_t ilen, uptr fp, size_t flen, int64_t x,
                           int is_real)
{
    if (!is_real) {
        if (ilen < 19) return 1;
        if (ilen > 19) return 0;
        return memcmp(ip, neg ? "9223372036854775808" : "9223372036854775807", 19) <= 0;
    }
    /* value = 0.S x 10^E with S the significant digits */
    int64_t e;
    if (ilen == 1 && ip[0] == '0') {
        size_t z = 0;
        while (z < flen && fp[z] == '0') z++;
        if (z == flen) return 1; /* zero */
        e = x - (int64_t)z;
    } else {
        e = (int64_t)ilen + x;
    }
    if (e <= 308) return 1;
    if (e >= 310) return 0;
    return !overflows_e309(ip, ilen, fp, flen);
}

#define IS_DIGIT(c) ((unsigned)((c) - '0') < 10u)

/* The first byte at or after p that is not an ASCII digit (or end). */
static inline uptr skip_digits(uptr p, uptr end)
{
#ifdef __SSE2__
    if (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i m = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8('0')),
                                 _mm_cmpgt_epi8(v, _mm_set1_epi8('9')));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask) return p + __builtin_ctz(mask);
        p += 16; /* a number this long is rare: the byte loop finishes it */
    }
#endif
    while (p < end && IS_DIGIT(*p)) p++;
    return p;
}

/* p at '-' or a digit.  Returns the byte after the number. */
static uptr scan_number(struct st *s, uptr p)
{
    uptr end = s->end, start = p;
    int neg = 0, is_real = 0;
    if (*p == '-') {
        neg = 1;
        if (++p >= end) return fail(s, p, SCAN_E_TRUNCATED);
    }
    uptr ip = p;
    if (*p == '0')
        p++;
    else if (IS_DIGIT(*p))
        p = skip_digits(p, end);
    else
        return fail(s, start, bad_byte(p, end));
    size_t ilen = (size_t)(p - ip), flen = 0;
    uptr fp = p;
    int64_t x = 0;
    if (p < end && *p == '.') {
        is_real = 1;
        fp = ++p;
        if (p >= end) return fail(s, p, SCAN_E_TRUNCATED);
        if (!IS_DIGIT(*p)) return fail(s, p, bad_byte(p, end));
        p = skip_digits(p, end);
        flen = (size_t)(p - fp);
    }
    if (p < end && (*p | 0x20) == 'e') {
        int eneg = 0;
        is_real = 1;
        if (++p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= end) return fail(s, p, SCAN_E_TRUNCATED);
        if (!IS_DIGIT(*p)) return fail(s, p, bad_byte(p, end));
        for (; p < end && IS_DIGIT(*p); p++)
            if (x < 1000000000) x = x * 10 + (*p - '0'); /* saturates, still decisive */
        if (eneg) x = -x;
    }
    if (!number_in_range(neg, ip, ilen, fp, flen, x, is_real))
        return fail(s, start, SCAN_E_NUMBER_RANGE);
    return p;
}

/* ---- decoding (only for requested fields) ---- */

static size_t put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | cp >> 6), d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | cp >> 12), d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | cp >> 18), d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes an already validated string body src[0..n) into d; returns the
 * decoded length (never more than n). */
static size_t decode(uptr src, size_t n, char *d)
{
    uptr p = src, end = src + n;
    char *o = d;
    while (p < end) {
        uptr q = memchr(p, '\\', (size_t)(end - p));
        if (!q) q = end;
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        if (q == end) break;
        static const char simple[128] = {
            ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b',
            ['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t',
        };
        if (q[1] != 'u') {
            *o++ = simple[q[1]];
            p = q + 2;
            continue;
        }
        unsigned cp = (unsigned)hex4(q + 2);
        p = q + 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned)hex4(q + 8) - 0xDC00);
            p = q + 12;
        }
        o += put_utf8(o, cp);
    }
    return (size_t)(o - d);
}

/* ---- fields ---- */

/* Open addressing over at least four times as many slots as keys; a slot holds
 * its key's hash, length and index + 1 (0: empty). */
struct scan_keys {
    uint32_t mask;
    struct key_slot {
        uint32_t hash, len;
        int idx1;
        const char *key;
    } slot[];
};

/* The length and the first two and last two bytes: cheap, and column
 * names that share a prefix ("player_id", "player_level") or a suffix
 * ("player_id", "event_id") still differ in one of them or the length. */
static inline uint32_t key_hash(const char *k, size_t n)
{
    const unsigned char *u = (const unsigned char *)k;
    uint32_t w = n == 0 ? 0 : n == 1 ? u[0] : (uint32_t)u[0] | (uint32_t)u[1] << 8 |
                                                (uint32_t)u[n - 2] << 16 | (uint32_t)u[n - 1] << 24;
    uint32_t h = (w ^ (uint32_t)n * 0x9E3779B1u) * 0x85EBCA6Bu;
    return h ^ h >> 15;
}

/* a[0..n) == b[0..n), without a library call for the short keys JSON logs
 * have (loads stay inside both ranges) */
static inline int key_eq(const char *a, const char *b, size_t n)
{
    uint64_t x, y, x2, y2;
    if (n >= 8) {
        memcpy(&x, a, 8), memcpy(&y, b, 8);
        memcpy(&x2, a + n - 8, 8), memcpy(&y2, b + n - 8, 8);
        return x == y && x2 == y2 && (n <= 16 || memcmp(a + 8, b + 8, n - 16) == 0);
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* The slot holding k[0..n) (hash h), or the empty slot where it would go. */
static uint32_t keys_slot(const struct scan_keys *t, const char *k, size_t n, uint32_t h)
{
    for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const struct key_slot *e = &t->slot[i];
        if (!e->idx1 || (e->hash == h && e->len == n && key_eq(e->key, k, n))) return i;
    }
}

int scan_keys_find(const struct scan_keys *t, const char *k, size_t n)
{
    return t->slot[keys_slot(t, k, n, key_hash(k, n))].idx1 - 1;
}

struct scan_keys *scan_keys_new(const struct scan_field *fields, size_t nfields)
{
    size_t cap = 8;
    while (cap < 4 * nfields) cap *= 2;
    struct scan_keys *t = xcalloc(1, sizeof *t + cap * sizeof t->slot[0]);
    t->mask = (uint32_t)(cap - 1);
    for (size_t i = 0; i < nfields; i++) {
        const char *k = fields[i].key;
        size_t n = fields[i].key_len;
        uint32_t h = key_hash(k, n);
        struct key_slot *e = &t->slot[keys_slot(t, k, n, h)];
        if (!e->idx1) *e = (struct key_slot){h, (uint32_t)n, (int)i + 1, k}; /* first index wins */
    }
    return t;
}

void scan_keys_free(struct scan_keys *k) { free(k); }

/* Index of the requested field named by the key body ks[0..n), or -1. */
static int match_key(struct st *s, uptr ks, size_t n, int esc)
{
    const char *k = (const char *)ks;
    if (esc) {
        /* decode into free scratch without claiming it: the key's raw bytes
         * are disjoint from every value decoded so far, so it fits */
        n = decode(ks, n, s->scratch);
        k = s->scratch;
    }
    if (s->keys) return scan_keys_find(s->keys, k, n);
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].key_len == n && memcmp(s->fields[i].key, k, n) == 0) return (int)i;
    return -1;
}

/* ---- the key memo ---- */

#define MEMO_KEYS 128   /* key ordinals remembered */
#define MEMO_LEN 30     /* longest key remembered: its bytes and '"' fit 32 */
#define MEMO_NO_IDX INT32_MIN

struct scan_key_memo {
    struct memo_key {
        _Alignas(16) unsigned char b[32]; /* the key's raw bytes, then '"' */
        uint32_t n1;                      /* their count (key + quote); 0: none */
        int32_t idx;                      /* its field index, -1, or MEMO_NO_IDX */
    } k[MEMO_KEYS];
};

struct scan_key_memo *scan_key_memo_new(void) { return xcalloc(1, sizeof(struct scan_key_memo)); }

void scan_key_memo_free(struct scan_key_memo *m) { free(m); }

/* 1 if the string body at k (just past its opening quote) is the memo's
 * key and ends there. */
static inline int memo_eq(uptr k, uptr end, const struct memo_key *m)
{
#ifdef __SSE2__
    if (end - k >= 32) {
        const __m128i *b = (const __m128i *)(const void *)m->b;
        uint32_t want = ((uint32_t)1 << m->n1) - 1;
        uint32_t eq = (uint32_t)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)k), _mm_load_si128(b)));
        if (m->n1 > 16) /* most keys and their quote fit the first 16 bytes */
            eq |= (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
                      _mm_loadu_si128((const __m128i *)(const void *)(k + 16)), _mm_load_si128(b + 1)))
                  << 16;
        return (eq & want) == want;
    }
#endif
    return (size_t)(end - k) >= m->n1 && memcmp(k, m->b, m->n1) == 0;
}

/* Remembers the key k[0..n) that scanned clean; one with escapes or too
 * long for a compare is forgotten instead. */
static void memo_put(struct memo_key *m, uptr k, size_t n, int esc, int idx)
{
    if (esc || n > MEMO_LEN) {
        m->n1 = 0;
        return;
    }
    memcpy(m->b, k, n);
    m->b[n] = '"';
    m->n1 = (uint32_t)n + 1;
    m->idx = idx;
}

static void set_field(struct st *s, int idx, int type, uptr v, size_t n, int esc)
{
    struct scan_field *f = &s->fields[idx];
    f->type = type;
    f->val = (const char *)v;
    f->val_len = n;
    if (esc) {
        f->val = s->scratch;
        f->val_len = decode(v, n, s->scratch);
        s->scratch += f->val_len;
    }
}

/* ---- the state machine ---- */

#define FAIL(at, r) return fail(s, (at), (r))
#define TOP_IS_OBJ() ((stk[(nest - 1) >> 6] >> ((nest - 1) & 63)) & 1)

/* Parses one JSON value starting at p (whitespace allowed before it);
 * returns the byte after it.  *top_obj reports whether it was an object.
 * One long function on purpose: its labels are the parser's states (value,
 * key, closed, after), and splitting it would pass the cursor, the container
 * stack and the field cursor through a call on every token. */
static uptr parse(struct st *s, uptr p, unsigned max_depth, int *top_obj)
{
    uptr end = s->end, cstart = NULL;
    uint64_t stk[SCAN_MAX_DEPTH / 64];
    unsigned nest = 0, nkeys = 0; /* nkeys: keys seen so far, at any depth */
    int cur = -1, esc, in_obj = 0; /* in_obj: the innermost open container is an object */
    struct memo_key *memo = s->memo ? s->memo->k : NULL;

    p = skip_ws(s, p, end);
    *top_obj = p < end && *p == '{';
value:
    p = skip_ws(s, p, end);
    if (p >= end) FAIL(p, SCAN_E_TRUNCATED);
    if (nest >= max_depth) FAIL(p, SCAN_E_TOO_DEEP);
    switch (*p) {
    case '{':
    case '[': {
        int obj = *p == '{';
        if (nest == 1 && cur >= 0) cstart = p;
        if (obj) stk[nest >> 6] |= 1ull << (nest & 63);
        else stk[nest >> 6] &= ~(1ull << (nest & 63));
        nest++;
        in_obj = obj;
        p = skip_ws(s, p + 1, end);
        if (p < end && *p == (obj ? '}' : ']')) {
            p++;
            goto closed;
        }
        if (obj) goto key;
        goto value;
    }
    case '"': {
        uptr v = p + 1;
        if (!(p = scan_string_fast(s, v, &esc))) return NULL;
        if (nest == 1 && cur >= 0) set_field(s, cur, SCAN_T_STRING, v, (size_t)(p - 1 - v), esc);
        goto after;
    }
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': {
        uptr v = p;
        if (!(p = scan_number(s, p))) return NULL;
        if (nest == 1 && cur >= 0) set_field(s, cur, SCAN_T_NUMBER, v, (size_t)(p - v), 0);
        goto after;
    }
    case 't': case 'f': case 'n': {
        static const char *const lit[3] = {"true", "false", "null"};
        static const int typ[3] = {SCAN_T_TRUE, SCAN_T_FALSE, SCAN_T_NULL};
        int i = *p == 't' ? 0 : *p == 'f' ? 1 : 2;
        size_t len = i == 1 ? 5 : 4, have = (size_t)(end - p);
        uint32_t w, want;
        if (have >= len) { /* one word compare ("fals" + 'e') */
            memcpy(&w, p + len - 4, 4), memcpy(&want, lit[i] + len - 4, 4);
            if (w != want || (i == 1 && p[0] != 'f')) FAIL(p, SCAN_E_NOT_JSON);
        } else {
            if (memcmp(p, lit[i], have) != 0) FAIL(p, SCAN_E_NOT_JSON);
            FAIL(end, SCAN_E_TRUNCATED);
        }
        if (nest == 1 && cur >= 0) set_field(s, cur, typ[i], p, len, 0);
        p += len;
        goto after;
    }
    default:
        FAIL(p, bad_byte(p, end));
    }

key:
    if (p >= end) FAIL(p, SCAN_E_TRUNCATED);
    if (*p != '"') FAIL(p, bad_byte(p, end));
    {
        uptr k = p + 1;
        struct memo_key *mk = memo && nkeys < MEMO_KEYS ? memo + nkeys : NULL;
        nkeys++;
        if (mk && mk->n1 && memo_eq(k, end, mk)) {
            p = k + mk->n1; /* the same bytes as a key that scanned clean */
            if (nest == 1) {
                s->members++;
                if (mk->idx == MEMO_NO_IDX) mk->idx = s->nfields ? match_key(s, k, mk->n1 - 1, 0) : -1;
                cur = mk->idx;
            }
        } else {
            if (!(p = scan_string(s, k, &esc))) return NULL;
            size_t n = (size_t)(p - 1 - k);
            if (nest == 1) {
                s->members++;
                cur = s->nfields ? match_key(s, k, n, esc) : -1;
            }
            if (mk) memo_put(mk, k, n, esc, nest == 1 ? cur : MEMO_NO_IDX);
        }
    }
    if (p < end && *p == ':') { /* compact JSON */
        p++;
        goto value;
    }
    p = skip_ws(s, p, end);
    if (p >= end) FAIL(p, SCAN_E_TRUNCATED);
    if (*p != ':') FAIL(p, bad_byte(p, end));
    p++;
    goto value;

closed: /* a container ended just before p */
    nest--;
    in_obj = nest && TOP_IS_OBJ();
    if (nest == 1 && cur >= 0)
        set_field(s, cur, p[-1] == '}' ? SCAN_T_OBJECT : SCAN_T_ARRAY, cstart,
                  (size_t)(p - cstart), 0);
    if (nest == 0) s->close = p - 1;
after: /* a value ended just before p */
    if (nest == 0) return p;
    if (in_obj && end - p >= 2 && p[0] == ',' && p[1] == '"') { /* compact JSON */
        p++;
        goto key;
    }
    p = skip_ws(s, p, end);
    if (p >= end) FAIL(p, SCAN_E_TRUNCATED);
    if (in_obj) {
        if (*p == ',') {
            p = skip_ws(s, p + 1, end);
            goto key;
        }
        if (*p == '}') {
            p++;
            goto closed;
        }
    } else {
        if (*p == ',') {
            p++;
            goto value;
        }
        if (*p == ']') {
            p++;
            goto closed;
        }
    }
    FAIL(p, bad_byte(p, end));
}

int scan_record(const char *p, size_t n, struct scan_field *fields, size_t nfields,
                struct scan_result *res, const struct scan_opts *o)
{
    static const struct scan_opts defaults = {0};
    if (!o) o = &defaults;
    memset(res, 0, sizeof *res);
    unsigned depth = o->max_depth > 0 ? (unsigned)o->max_depth : SCAN_DEFAULT_DEPTH;
    int r = SCAN_OK;
    uptr at = (uptr)p;
    if (o->max_depth < 0 || depth > SCAN_MAX_DEPTH || (nfields && (!o->scratch || o->scratch_len < n)))
        r = SCAN_E_ARG;
    else if (o->max_size && n > o->max_size)
        r = SCAN_E_TOO_LARGE;
    if (r) goto out;
    for (size_t i = 0; i < nfields; i++) {
        fields[i].type = SCAN_T_MISSING;
        fields[i].val = NULL;
        fields[i].val_len = 0;
    }
    struct st s = {
        .base = (uptr)p, .end = (uptr)p + n, .fields = fields, .nfields = nfields,
        .keys = o->keys, .memo = o->memo, .scratch = o->scratch,
    };
    int obj;
    uptr q = parse(&s, (uptr)p, depth, &obj);
    unsigned ws = s.ws; /* not the whitespace after the object */
    if (!q) {
        r = s.reason;
        at = s.err_at;
    } else if ((q = skip_ws(&s, q, s.end)) < s.end) {
        r = *q == 0 ? SCAN_E_NUL : SCAN_E_TRAILING;
        at = q;
    } else if (!obj) {
        r = SCAN_E_NOT_OBJECT;
    } else {
        res->close_off = (size_t)(s.close - (uptr)p);
        res->empty = s.members == 0;
        res->members = s.members;
        res->raw_newline = (ws & 2) != 0;
        return 0;
    }
out:
    res->reason = r;
    res->err_off = (size_t)(at - (uptr)p);
    return -r;
}

/* ---- event time ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly k digits at *p; -1 if not digits. */
static int digits(const char **p, const char *end, int k)
{
    int v = 0;
    if (end - *p < k) return -1;
    for (int i = 0; i < k; i++) {
        if (!IS_DIGIT((*p)[i])) return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += k;
    return v;
}

#define MIN_MS INT64_C(-62167219200000) /* 0000-01-01T00:00:00.000Z */
#define MAX_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

/* Parses the zone at p..end into *off_min; 0 ok. */
static int parse_zone(const char *p, const char *end, int *off_min)
{
    *off_min = 0;
    if (p == end) return 0;
    if ((*p == 'Z' || *p == 'z') && p + 1 == end) return 0;
    if (*p != '+' && *p != '-') return -1;
    int sign = *p++ == '-' ? -1 : 1, hh = digits(&p, end, 2), mm = 0;
    if (hh < 0 || hh > 23) return -1;
    if (p < end && *p == ':' && ++p == end) return -1;
    if (p < end && (mm = digits(&p, end, 2)) < 0) return -1;
    if (p != end || mm > 59) return -1;
    *off_min = sign * (hh * 60 + mm);
    return 0;
}

static int parse_iso(const char *p, const char *end, int64_t *ms)
{
    static const unsigned char mdays[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = digits(&p, end, 4), mo, d, hh = 0, mi = 0, ss = 0, frac = 0, off = 0;
    if (y < 0 || p >= end || *p++ != '-' || (mo = digits(&p, end, 2)) < 1 || mo > 12)
        return -1;
    if (p >= end || *p++ != '-' || (d = digits(&p, end, 2)) < 1 || d > mdays[mo]) return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return -1;
    if (p < end) {
        if (*p != 'T' && *p != 't' && *p != ' ') return -1;
        p++;
        if ((hh = digits(&p, end, 2)) < 0 || hh > 23 || p >= end || *p++ != ':') return -1;
        if ((mi = digits(&p, end, 2)) < 0 || mi > 59) return -1;
        if (p < end && *p == ':') {
            p++;
            if ((ss = digits(&p, end, 2)) < 0 || ss > 60) return -1;
            if (p < end && (*p == '.' || *p == ',')) {
                const char *f = ++p;
                for (; p < end && IS_DIGIT(*p); p++)
                    if (p - f < 3) frac = frac * 10 + (*p - '0');
                if (p == f) return -1;
                for (ptrdiff_t k = p - f; k < 3; k++) frac *= 10;
            }
            if (ss == 60) ss = 59, frac = 999;
        }
        if (parse_zone(p, end, &off)) return -1;
    }
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = ((days * 86400 + hh * 3600 + mi * 60 + ss) - (int64_t)off * 60) * 1000 + frac;
    return *ms < MIN_MS || *ms > MAX_MS ? -1 : 0; /* an offset can leave 0000-9999 */
}

/* Epoch seconds or ms from a non-negative decimal with optional fraction and
 * exponent (JSON number grammar, or plain digits in a string). */
static int parse_epoch(const char *p, const char *end, int is_number, int64_t *ms)
{
    const char *ip = p, *fp;
    if (p < end && *p == '-') return -1;
    while (p < end && IS_DIGIT(*p)) p++;
    size_t ilen = (size_t)(p - ip), flen = 0;
    if (ilen == 0) return -1;
    fp = p;
    if (p < end && *p == '.') {
        fp = ++p;
        while (p < end && IS_DIGIT(*p)) p++;
        flen = (size_t)(p - fp);
        if (!flen) return -1;
    }
    int64_t x = 0;
    if (is_number && p < end && (*p | 0x20) == 'e') {
        int eneg = 0;
        if (++p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= end) return -1;
        for (; p < end && IS_DIGIT(*p); p++)
            if (x < 1000) x = x * 10 + (*p - '0');
        if (eneg) x = -x;
    }
    if (p != end) return -1;
    /* value = digits D = ip|fp with the decimal point after `point` of them */
    int64_t point = (int64_t)ilen + x, ipart = 0, L = (int64_t)(ilen + flen);
#define DIG(i) ((i) < 0 || (i) >= L ? 0 : ((i) < (int64_t)ilen ? ip[i] : fp[(i) - (int64_t)ilen]) - '0')
    for (int64_t i = 0; i < point; i++) {
        if (ipart > MAX_MS / 10) return -1;
        ipart = ipart * 10 + DIG(i);
    }
    int64_t f3 = 0;
    for (int64_t j = 0; j < 3; j++) f3 = f3 * 10 + DIG(point + j);
#undef DIG
    *ms = ipart > INT64_C(100000000000) ? ipart : ipart * 1000 + f3;
    return *ms > MAX_MS ? -1 : 0;
}

int scan_time_ms(int type, const char *val, size_t len, int64_t *ms)
{
    int bad = -SCAN_E_BAD_TIME;
    if (type == SCAN_T_MISSING || type == SCAN_T_NULL) return -SCAN_E_NO_TIME;
    if (!val) return bad;
    const char *end = val + len; /* not before the NULL check: NULL + 0 is UB */
    if (type == SCAN_T_NUMBER) return parse_epoch(val, end, 1, ms) ? bad : 0;
    if (type != SCAN_T_STRING) return bad;
    size_t i = 0;
    while (i < len && (IS_DIGIT(val[i]) || val[i] == '.')) i++;
    if (i == len) return parse_epoch(val, end, 0, ms) ? bad : 0;
    return parse_iso(val, end, ms) ? bad : 0;
}
