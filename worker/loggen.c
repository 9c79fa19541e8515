/* loggen.c — realistic game log records from a seeded PRNG. */
#include "worker/loggen.h"
#include "common/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NPLAYERS 50000
#define NMATCHES 5000

static const char *const type_names[LOGGEN_NTYPES] = {
    "login", "logout", "purchase", "battle", "gacha", "chat", "page_view", "level_up",
    "quest_start", "quest_complete", "item_craft", "item_sell", "friend_add", "guild_join",
    "guild_leave", "match_start", "match_end", "ad_view", "iap_refund", "tutorial_step",
    "achievement", "daily_reward", "pvp_rank", "boss_kill", "trade", "mail_send",
    "session_start", "session_end", "error_report", "config_fetch",
};

/* Relative frequencies, roughly what a live game sees. */
static const unsigned type_weight[LOGGEN_NTYPES] = {
    900, 700, 180, 1600, 400, 1200, 1400, 250, 300, 280, 150, 140, 90, 40,
    20, 800, 790, 500, 5, 60, 120, 350, 110, 130, 100, 80, 650, 640, 30, 300,
};

static const char *const platforms[] = {"ios", "android", "pc", "switch", "ps5", "xbox"};
static const char *const regions[] = {"ap-northeast-1", "us-east-1", "eu-west-1",
                                      "ap-southeast-1", "sa-east-1", "us-west-2"};
static const char *const models[] = {"iPhone15,2", "Pixel 8", "SM-S918B", "Switch",
                                     "PS5", "Xbox Series X", "Desktop", "Redmi Note 12"};
static const char *const oses[] = {"iOS 17.1", "Android 14", "Android 13", "Windows 11",
                                   "HorizonOS 17", "Orbis 8.20"};
static const char *const locales[] = {"ja_JP", "en_US", "ko_KR", "zh_TW", "de_DE",
                                      "pt_BR", "fr_FR", "es_ES"};
static const char *const items[] = {"iron_sword", "health_potion", "gem_pack_s", "gem_pack_l",
                                    "dragon_egg", "stamina_refill", "skin_neon", "battle_pass",
                                    "mythic_shard", "gold_chest"};
static const char *const words[] = {
    "gg", "wp", "lol", "nice", "team", "push", "mid", "top", "bot", "heal", "need", "help",
    "boss", "raid", "tonight", "anyone", "guild", "join", "trade", "sell", "buy", "gems",
    "lag", "again", "why", "is", "the", "server", "so", "slow", "ok", "thanks", "later",
    "ready", "go", "wait", "for", "me", "one", "more", "match", "rank", "up", "down",
    "legendary", "drop", "finally", "got", "it", "no", "way", "event", "ends", "soon",
    "what", "time", "reset", "daily", "quest", "done", "carry", "pls", "afk", "brb",
};
/* Non-ASCII chat, as UTF-8 (emoji are outside the BMP: surrogate pairs when
 * \u-escaped). */
static const char *const uwords[] = {
    "こんにちは", "ありがとう", "안녕하세요", "謝謝", "привет", "ñandú", "café", "👍",
    "🔥🔥", "😂", "Größe", "żółw",
};

#define N_(a) (sizeof(a) / sizeof((a)[0]))

struct player {
    char id[33];
    char session[37];
    char ip[16];
    uint8_t platform, region, model, os, locale, ver_minor;
    uint32_t level, xp, gold;
};

struct loggen {
    uint64_t s;
    unsigned type_cum[LOGGEN_NTYPES];
    struct player *players;
};

/* splitmix64: small, fast, good enough for synthetic data */
uint64_t loggen_rand(struct loggen *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned rnd(struct loggen *g, unsigned n) { return (unsigned)(loggen_rand(g) % n); }
static double unit(struct loggen *g) { return (double)(loggen_rand(g) >> 11) * 0x1p-53; }

static void hex(struct loggen *g, char *d, int n)
{
    static const char x[] = "0123456789abcdef";
    for (int i = 0; i < n; i++) d[i] = x[rnd(g, 16)];
    d[n] = 0;
}

static void uuid(struct loggen *g, char d[37])
{
    hex(g, d, 36);
    d[8] = d[13] = d[18] = d[23] = '-';
    d[14] = '4';
}

static void new_session(struct loggen *g, struct player *p) { uuid(g, p->session); }

/* 203.0.a.b (a documentation range), written without printf. */
static void make_ip(struct loggen *g, char d[16])
{
    unsigned v[2] = {rnd(g, 256), 1 + rnd(g, 254)};
    int k = 0;
    memcpy(d, "203.0.", 6), k = 6;
    for (int i = 0; i < 2; i++) {
        if (i) d[k++] = '.';
        if (v[i] >= 100) d[k++] = (char)('0' + v[i] / 100);
        if (v[i] >= 10) d[k++] = (char)('0' + v[i] / 10 % 10);
        d[k++] = (char)('0' + v[i] % 10);
    }
    d[k] = 0;
}

struct loggen *loggen_new(uint64_t seed)
{
    struct loggen *g = xcalloc(1, sizeof *g);
    g->s = seed;
    unsigned c = 0;
    for (int i = 0; i < LOGGEN_NTYPES; i++) g->type_cum[i] = c += type_weight[i];
    g->players = xcalloc(NPLAYERS, sizeof *g->players);
    for (int i = 0; i < NPLAYERS; i++) {
        struct player *p = &g->players[i];
        hex(g, p->id, 32);
        new_session(g, p);
        make_ip(g, p->ip);
        p->platform = (uint8_t)rnd(g, N_(platforms));
        p->region = (uint8_t)rnd(g, N_(regions));
        p->model = (uint8_t)rnd(g, N_(models));
        p->os = (uint8_t)rnd(g, N_(oses));
        p->locale = (uint8_t)rnd(g, N_(locales));
        p->ver_minor = (uint8_t)rnd(g, 20);
        p->level = 1 + rnd(g, 80);
        p->xp = p->level * 1000 + rnd(g, 1000);
        p->gold = rnd(g, 100000);
    }
    return g;
}

void loggen_free(struct loggen *g)
{
    if (!g) return;
    free(g->players);
    free(g);
}

const char *loggen_type_name(int i)
{
    return i >= 0 && i < LOGGEN_NTYPES ? type_names[i] : NULL;
}

/* ---- output helpers: append, remembering the first failure ---- */

struct w {
    struct buf *b;
    int err;
};

static void put(struct w *w, const char *s, size_t n)
{
    if (!w->err) w->err = buf_append(w->b, s, n);
}
static void puts_(struct w *w, const char *s) { put(w, s, strlen(s)); }

static void put_u(struct w *w, uint64_t v)
{
    char t[24];
    int i = 24;
    do t[--i] = (char)('0' + v % 10); while (v /= 10);
    put(w, t + i, (size_t)(24 - i));
}

/* A fixed-point decimal with `dec` digits after the point. */
static void put_fixed(struct w *w, int64_t v, int dec)
{
    if (v < 0) put(w, "-", 1), v = -v;
    uint64_t p = 1;
    for (int i = 0; i < dec; i++) p *= 10;
    put_u(w, (uint64_t)v / p);
    put(w, ".", 1);
    char t[20];
    uint64_t f = (uint64_t)v % p;
    for (int i = dec - 1; i >= 0; i--) t[i] = (char)('0' + f % 10), f /= 10;
    put(w, t, (size_t)dec);
}

static void put_kv_s(struct w *w, const char *k, const char *v)
{
    put(w, ",\"", 2), puts_(w, k), put(w, "\":\"", 3), puts_(w, v), put(w, "\"", 1);
}
static void put_kv_u(struct w *w, const char *k, uint64_t v)
{
    put(w, ",\"", 2), puts_(w, k), put(w, "\":", 2), put_u(w, v);
}

/* Writes a \uXXXX escape (or a surrogate pair) for code point cp. */
static void put_uesc(struct w *w, unsigned cp)
{
    static const char x[] = "0123456789abcdef";
    if (cp >= 0x10000) {
        cp -= 0x10000;
        put_uesc(w, 0xD800 + (cp >> 10));
        put_uesc(w, 0xDC00 + (cp & 0x3FF));
        return;
    }
    char t[6] = {'\\', 'u', x[cp >> 12 & 15], x[cp >> 8 & 15], x[cp >> 4 & 15], x[cp & 15]};
    put(w, t, 6);
}

/* Appends UTF-8 text s as a JSON string body, \u-escaping non-ASCII when
 * ascii_only. */
static void put_text(struct w *w, const char *s, int ascii_only)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x80 || !ascii_only) {
            put(w, (const char *)p, 1);
            p++;
            continue;
        }
        unsigned cp, n = *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : 2;
        cp = *p & (n == 4 ? 0x07 : n == 3 ? 0x0F : 0x1F);
        for (unsigned i = 1; i < n; i++) cp = cp << 6 | (p[i] & 0x3F);
        put_uesc(w, cp);
        p += n;
    }
}

static void put_chat(struct loggen *g, struct w *w, int ascii_only)
{
    unsigned n = 8 + rnd(g, 41);
    put(w, ",\"chat\":\"", 9);
    for (unsigned i = 0; i < n; i++) {
        if (i) put(w, " ", 1);
        unsigned r = rnd(g, 1000);
        if (r < 40) put_text(w, uwords[rnd(g, N_(uwords))], ascii_only);
        else if (r < 44) puts_(w, "\\\"quoted\\\"");
        else if (r < 46) puts_(w, "line\\nbreak");
        else if (r < 47) puts_(w, "tab\\there");
        else if (r < 48) puts_(w, "back\\\\slash");
        else puts_(w, words[rnd(g, N_(words))]);
    }
    put(w, "\"", 1);
}

void loggen_iso8601(int64_t ms, char out[25])
{
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    /* civil_from_days (H. Hinnant) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    unsigned v[7] = {(unsigned)y, m, d, (unsigned)(rem / 3600000), (unsigned)(rem / 60000 % 60),
                     (unsigned)(rem / 1000 % 60), (unsigned)(rem % 1000)};
    static const char fmt[] = "YYYY-MM-DDThh:mm:ss.fffZ";
    memcpy(out, fmt, sizeof fmt);
    static const int at[7] = {0, 5, 8, 11, 14, 17, 20}, width[7] = {4, 2, 2, 2, 2, 2, 3};
    for (int i = 0; i < 7; i++)
        for (int k = width[i] - 1, x = (int)v[i]; k >= 0; k--, x /= 10)
            out[at[i] + k] = (char)('0' + x % 10);
}

static unsigned pick_type(struct loggen *g)
{
    unsigned r = rnd(g, g->type_cum[LOGGEN_NTYPES - 1]), i = 0;
    while (g->type_cum[i] <= r) i++;
    return i;
}

static struct player *pick_player(struct loggen *g)
{
    double u = unit(g);
    unsigned i = (unsigned)(NPLAYERS * u * u * u); /* a few players are most active */
    struct player *p = &g->players[i < NPLAYERS ? i : NPLAYERS - 1];
    if (rnd(g, 200) == 0) new_session(g, p);
    p->xp += rnd(g, 300);
    if (p->xp > p->level * 1000 + 1000) p->level++;
    p->gold = p->gold + rnd(g, 500) - (p->gold > 250 ? 250 : p->gold);
    return p;
}

static void put_payload(struct loggen *g, struct w *w)
{
    char q[16] = "q_";
    put(w, ",\"payload\":{\"item\":\"", 20), puts_(w, items[rnd(g, N_(items))]);
    put(w, "\"", 1);
    put_kv_u(w, "qty", 1 + rnd(g, 10));
    put(w, ",\"price\":", 9), put_fixed(w, 99 + rnd(g, 9900), 2);
    put(w, ",\"match_id\":\"m-", 15), put_u(w, rnd(g, NMATCHES)), put(w, "\"", 1);
    put_kv_u(w, "duration_ms", rnd(g, 1800000));
    put_kv_u(w, "score", rnd(g, 100000));
    put_kv_u(w, "kills", rnd(g, 30));
    put_kv_u(w, "deaths", rnd(g, 15));
    put_kv_u(w, "assists", rnd(g, 40));
    hex(g, q + 2, 6);
    put_kv_s(w, "quest", q);
    put(w, ",\"achievement\":\"ach_", 20), put_u(w, rnd(g, 500)), put(w, "\"}", 2);
}

static void put_device(struct loggen *g, struct w *w, const struct player *p)
{
    put(w, ",\"device\":{", 11);
    put(w, "\"model\":\"", 9), puts_(w, models[p->model]), put(w, "\"", 1);
    put_kv_s(w, "os", oses[p->os]);
    put_kv_u(w, "ram_mb", 2048u << rnd(g, 4));
    put_kv_s(w, "locale", locales[p->locale]);
    put(w, ",\"battery\":", 11), put_fixed(w, rnd(g, 1001), 3);
    put(w, ",\"jailbroken\":", 14), puts_(w, rnd(g, 50) ? "false" : "true");
    put(w, "}", 1);
}

int loggen_record(struct loggen *g, int64_t ts_ms, struct buf *out)
{
    struct w w = {out, 0};
    size_t start = out->len;
    unsigned type = pick_type(g);
    struct player *p = pick_player(g);
    int ascii_only = rnd(g, 100) < 5; /* python json.dumps style producers */
    char ts[25], id[37];

    loggen_iso8601(ts_ms, ts);
    put(&w, "{\"ts\":\"", 7), put(&w, ts, 24), put(&w, "\"", 1);
    put_kv_s(&w, "type", type_names[type]);
    uuid(g, id);
    put_kv_s(&w, "event_id", id);
    put_kv_s(&w, "player_id", p->id);
    put_kv_s(&w, "session_id", p->session);
    put_kv_s(&w, "platform", platforms[p->platform]);
    put_kv_s(&w, "region", regions[p->region]);
    put(&w, ",\"client_version\":\"3.", 21), put_u(&w, p->ver_minor), put(&w, ".2\"", 3);
    put_kv_s(&w, "ip", p->ip);
    put(&w, ",\"server\":\"gs-", 14), puts_(&w, regions[p->region]), put(&w, "-", 1);
    put_u(&w, rnd(g, 64)), put(&w, "\"", 1);
    put_kv_u(&w, "level", p->level);
    put_kv_u(&w, "xp", p->xp);
    put_kv_u(&w, "gold", p->gold);
    put(&w, ",\"pos\":{\"x\":", 12), put_fixed(&w, (int64_t)rnd(g, 200000) - 100000, 2);
    put(&w, ",\"y\":", 5), put_fixed(&w, (int64_t)rnd(g, 200000) - 100000, 2);
    put(&w, ",\"z\":", 5), put_fixed(&w, (int64_t)rnd(g, 10000), 2), put(&w, "}", 1);
    put_payload(g, &w);
    put_chat(g, &w, ascii_only);
    put_device(g, &w, p);
    put(&w, ",\"ab\":{\"new_shop\":", 18), puts_(&w, rnd(g, 2) ? "true" : "false");
    put(&w, ",\"fast_match\":", 14), puts_(&w, rnd(g, 2) ? "true" : "false");
    put(&w, ",\"bucket\":", 10), put_u(&w, rnd(g, 100)), put(&w, "}", 1);
    hex(g, id, 32);
    put_kv_s(&w, "trace_id", id);
    put(&w, "}", 1);
    if (w.err) {
        out->len = start;
        if (out->data) out->data[start] = 0;
        return w.err;
    }
    return (int)type;
}
