/* keys.c — object keys and UTC calendar arithmetic (H. Hinnant's algorithms). */
#include "sinks/keys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MS_PER_DAY INT64_C(86400000)

int32_t keys_day_of_ms(int64_t ms)
{
    int64_t d = ms >= 0 ? ms / MS_PER_DAY : -((-ms + MS_PER_DAY - 1) / MS_PER_DAY);
    return (int32_t)d;
}

int keys_hour_of_ms(int64_t ms)
{
    int64_t rem = ms - (int64_t)keys_day_of_ms(ms) * MS_PER_DAY;
    return (int)(rem / 3600000);
}

void keys_civil(int32_t day, int *y, int *m, int *d)
{
    int64_t z = (int64_t)day + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static int32_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int64_t)doe - 719468);
}

/* Writes v as exactly w digits. */
static void digits(char *p, int v, int w)
{
    for (int i = w - 1; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
}

void keys_day_text(int32_t day, char out[11])
{
    int y, m, d;
    keys_civil(day, &y, &m, &d);
    if (y < 0) y = 0;
    if (y > 9999) y = 9999;
    digits(out, y, 4);
    out[4] = '-';
    digits(out + 5, m, 2);
    out[7] = '-';
    digits(out + 8, d, 2);
    out[10] = 0;
}

static int num(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

int keys_day_parse(const char *s, int32_t *day)
{
    int y, m, d;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || num(s, 4, &y) || num(s + 5, 2, &m) ||
        num(s + 8, 2, &d) || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    *day = days_from_civil(y, m, d);
    return 0;
}

static int safe_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

int keys_shard(struct buf *out, const char *shard)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)shard; *p; p++) {
        char esc[3] = {'~', hex[*p >> 4], hex[*p & 15]};
        int rc = safe_char(*p) ? buf_append(out, p, 1) : buf_append(out, esc, 3);
        if (rc) return rc;
    }
    return 0;
}

int keys_object(struct buf *out, const struct keys_object *k)
{
    int y, m, d;
    keys_civil(k->day, &y, &m, &d);
    buf_reset(out);
    int rc = buf_printf(out, "%s%s", k->s3_prefix ? k->s3_prefix : "", k->prefix);
    if (rc == 0 && k->type) rc = buf_printf(out, "%s/", k->type);
    if (rc == 0) rc = buf_printf(out, "%04d/%02d/%02d/", y, m, d);
    if (rc == 0 && k->type) rc = buf_printf(out, "%02d/", keys_hour_of_ms(k->first_event_ms));
    if (rc == 0) rc = keys_shard(out, k->shard);
    if (rc == 0) rc = buf_printf(out, "-%s-%lld", k->first_seq, (long long)k->first_sub);
    if (rc == 0 && k->attempt > 0) rc = buf_printf(out, "-r%d", k->attempt);
    if (rc == 0) rc = buf_puts(out, ".json.gz");
    return rc ? -E2BIG : 0;
}
