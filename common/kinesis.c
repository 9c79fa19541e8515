/* kinesis.c — Kinesis Data Streams JSON 1.1 calls over aws_request. */
#include "common/kinesis.h"
#include "common/clock.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/mem.h"

#define SMALL_RESP_MAX (4u << 20)
/* GetRecords: up to 10 MiB of data, base64 (4/3) plus JSON around it. */
#define RECORDS_RESP_MAX (32u << 20)
#define ITERATOR_MAX 4096
#define LIST_PAGES_MAX 10000
#define PUT_BYTES_MAX (5u << 20)
#define RECORD_MAX (1u << 20)

struct kin {
    struct aws_client *c;
};

int kin_new(const struct aws_client_opts *o, struct kin **out, struct err *e)
{
    struct aws_client_opts co = *o;
    co.service = "kinesis";
    struct kin *k = xcalloc(1, sizeof *k);
    int rc = aws_client_new(&co, &k->c, e);
    if (rc) {
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void kin_free(struct kin *k)
{
    if (!k) return;
    aws_client_free(k->c);
    free(k);
}

/* ---- calls -------------------------------------------------------------- */

static const struct {
    const char *type;
    int code;
} known_errors[] = {
    {"ExpiredIteratorException", KIN_E_EXPIRED_ITERATOR},
    {"ResourceNotFoundException", KIN_E_NOT_FOUND},
    {"ResourceInUseException", KIN_E_IN_USE},
};

/* Whether msg (aws_request's "... 400 <Code>: text") names error type. */
static int has_code(const char *msg, const char *type)
{
    size_t n = strlen(type);
    for (const char *p = strstr(msg, type); p; p = strstr(p + 1, type))
        if (p > msg && p[-1] == ' ' && (p[n] == ':' || p[n] == 0)) return 1;
    return 0;
}

/* Gives the errors callers act on their own code; the class stays as
 * aws_request judged it (PERMANENT for these 400s), except that an expired
 * iterator is always PERMANENT: only a new iterator helps. */
static void map_error(struct err *e)
{
    if (!e) return;
    for (size_t i = 0; i < sizeof known_errors / sizeof known_errors[0]; i++) {
        if (!has_code(e->msg, known_errors[i].type)) continue;
        e->code = known_errors[i].code;
        if (e->code == KIN_E_EXPIRED_ITERATOR) e->cls = ERR_PERMANENT;
        return;
    }
}

/* POSTs req (consumed) as operation op; the answer body goes to *resp when
 * resp is not NULL (caller frees with buf_free). */
static int call(struct kin *k, const char *op, json_t *req, int idempotent, size_t resp_max,
                struct buf *resp, struct err *e)
{
    char target[64];
    snprintf(target, sizeof target, "Kinesis_20131202.%s", op);
    char *body = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(16));
    json_decref(req);
    if (!body) return err_set(e, -ENOMEM, ERR_PERMANENT, "kinesis %s: cannot encode", op);
    struct aws_header h[2] = {{"X-Amz-Target", target},
                              {"Content-Type", "application/x-amz-json-1.1"}};
    struct aws_req r = {.method = "POST", .path = "/", .headers = h, .n_headers = 2,
                        .body = body, .body_len = strlen(body), .idempotent = idempotent};
    struct aws_resp a;
    aws_resp_init(&a);
    a.body.max = resp_max;
    int rc = aws_request(k->c, &r, &a, e);
    free(body);
    if (rc && e) {
        map_error(e);
        rc = e->code;
    }
    if (rc == 0 && resp) {
        *resp = a.body;
        buf_init(&a.body, 0);
    }
    aws_resp_free(&a);
    return rc;
}

static int bad_answer(struct err *e, const char *op, const char *what)
{
    return err_set(e, -EBADMSG, ERR_PERMANENT, "kinesis %s: bad answer: %s", op, what);
}

static int load(const char *op, const char *text, size_t len, json_t **root, struct err *e)
{
    json_error_t je;
    *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!*root) return err_set(e, -EBADMSG, ERR_PERMANENT, "kinesis %s: bad JSON: %s", op, je.text);
    if (!json_is_object(*root)) {
        json_decref(*root);
        return bad_answer(e, op, "not an object");
    }
    return 0;
}

/* A member, with JSON null counted as absent. */
static json_t *member(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_null(v) ? NULL : v;
}

/* Copies string member k into dst[n]: 0 ok (or absent and optional: ""),
 * -1 if required and absent, not a string, or too long. */
static int copy_str(char *dst, size_t n, const json_t *o, const char *k, int required)
{
    json_t *v = member(o, k);
    dst[0] = 0;
    if (!v) return required ? -1 : 0;
    if (!json_is_string(v) || json_string_length(v) >= n) return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return memchr(dst, 0, json_string_length(v)) ? -1 : 0;
}

/* ---- streams ------------------------------------------------------------ */

int kin_create_stream(struct kin *k, const char *stream, int shards, struct err *e)
{
    json_t *req = json_pack("{s:s, s:i}", "StreamName", stream, "ShardCount", shards);
    return call(k, "CreateStream", req, 0, SMALL_RESP_MAX, NULL, e);
}

int kin_delete_stream(struct kin *k, const char *stream, struct err *e)
{
    json_t *req = json_pack("{s:s}", "StreamName", stream);
    return call(k, "DeleteStream", req, 0, SMALL_RESP_MAX, NULL, e);
}

static int parse_summary(const json_t *root, struct kin_stream_summary *out)
{
    json_t *s = member(root, "StreamDescriptionSummary");
    if (!json_is_object(s)) return -1;
    json_t *open = member(s, "OpenShardCount"), *ret = member(s, "RetentionPeriodHours");
    if (copy_str(out->status, sizeof out->status, s, "StreamStatus", 1) ||
        copy_str(out->arn, sizeof out->arn, s, "StreamARN", 0) || !json_is_integer(open))
        return -1;
    out->open_shards = (int)json_integer_value(open);
    out->retention_hours = json_is_integer(ret) ? (int)json_integer_value(ret) : 0;
    return 0;
}

int kin_describe_stream_summary(struct kin *k, const char *stream,
                                struct kin_stream_summary *out, struct err *e)
{
    struct buf b;
    json_t *root;
    json_t *req = json_pack("{s:s}", "StreamName", stream);
    int rc = call(k, "DescribeStreamSummary", req, 1, SMALL_RESP_MAX, &b, e);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    rc = load("DescribeStreamSummary", b.data, b.len, &root, e);
    buf_free(&b);
    if (rc) return rc;
    if (parse_summary(root, out)) rc = bad_answer(e, "DescribeStreamSummary", "summary");
    json_decref(root);
    return rc;
}

/* ---- shards ------------------------------------------------------------- */

static int parse_range(const json_t *o, const char *name, const char *lo, const char *hi,
                       char *a, size_t an, char *b, size_t bn, int hi_required)
{
    json_t *r = member(o, name);
    if (!json_is_object(r)) return -1;
    return copy_str(a, an, r, lo, 1) || copy_str(b, bn, r, hi, hi_required) ? -1 : 0;
}

static int parse_shard(const json_t *j, struct kin_shard *s)
{
    memset(s, 0, sizeof *s);
    if (!json_is_object(j) || copy_str(s->id, sizeof s->id, j, "ShardId", 1) ||
        copy_str(s->parent, sizeof s->parent, j, "ParentShardId", 0) ||
        copy_str(s->adjacent_parent, sizeof s->adjacent_parent, j, "AdjacentParentShardId", 0))
        return -1;
    if (parse_range(j, "HashKeyRange", "StartingHashKey", "EndingHashKey", s->hash_start,
                    sizeof s->hash_start, s->hash_end, sizeof s->hash_end, 1))
        return -1;
    return parse_range(j, "SequenceNumberRange", "StartingSequenceNumber",
                       "EndingSequenceNumber", s->seq_start, sizeof s->seq_start, s->seq_end,
                       sizeof s->seq_end, 0);
}

int kin_parse_shards(const char *json, size_t len, struct kin_shard_list *out, char **next,
                     struct err *e)
{
    json_t *root;
    *next = NULL;
    int rc = load("ListShards", json, len, &root, e);
    if (rc) return rc;
    json_t *arr = member(root, "Shards"), *tok = member(root, "NextToken");
    if ((arr && !json_is_array(arr)) || (tok && !json_is_string(tok)))
        rc = bad_answer(e, "ListShards", "Shards/NextToken");
    size_t n0 = out->n, na = json_array_size(arr);
    if (rc == 0 && na) out->v = xrealloc(out->v, (n0 + na) * sizeof *out->v);
    for (size_t i = 0; rc == 0 && i < na; i++) {
        if (parse_shard(json_array_get(arr, i), &out->v[n0 + i]))
            rc = bad_answer(e, "ListShards", "shard");
        else
            out->n++;
    }
    if (rc == 0 && tok && json_string_length(tok)) *next = xstrdup(json_string_value(tok));
    json_decref(root);
    return rc;
}

void kin_shard_list_free(struct kin_shard_list *l)
{
    if (!l) return;
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* One ListShards page.  With a NextToken the StreamName must not be sent. */
static int list_page(struct kin *k, const char *stream, const char *token, int page_size,
                     struct kin_shard_list *out, char **next, struct err *e)
{
    json_t *req = token ? json_pack("{s:s}", "NextToken", token)
                        : json_pack("{s:s}", "StreamName", stream);
    if (page_size > 0) json_object_set_new(req, "MaxResults", json_integer(page_size));
    struct buf b;
    int rc = call(k, "ListShards", req, 1, SMALL_RESP_MAX, &b, e);
    if (rc) return rc;
    rc = kin_parse_shards(b.data, b.len, out, next, e);
    buf_free(&b);
    return rc;
}

int kin_list_shards(struct kin *k, const char *stream, int page_size,
                    struct kin_shard_list *out, struct err *e)
{
    char *token = NULL, *next = NULL;
    int rc = 0, pages = 0;
    memset(out, 0, sizeof *out);
    do {
        if (++pages > LIST_PAGES_MAX)
            rc = err_set(e, -ELOOP, ERR_PERMANENT, "kinesis ListShards: over %d pages",
                         LIST_PAGES_MAX);
        if (rc == 0) rc = list_page(k, stream, token, page_size, out, &next, e);
        out->pages = pages;
        if (rc == 0 && next && token && strcmp(next, token) == 0)
            rc = bad_answer(e, "ListShards", "NextToken repeats");
        free(token);
        token = next;
        next = NULL;
    } while (rc == 0 && token);
    free(token);
    if (rc) kin_shard_list_free(out);
    return rc;
}

int kin_split_shard(struct kin *k, const char *stream, const char *shard,
                    const char *new_starting_hash_key, struct err *e)
{
    json_t *req = json_pack("{s:s, s:s, s:s}", "StreamName", stream, "ShardToSplit", shard,
                            "NewStartingHashKey", new_starting_hash_key);
    return call(k, "SplitShard", req, 0, SMALL_RESP_MAX, NULL, e);
}

int kin_merge_shards(struct kin *k, const char *stream, const char *shard,
                     const char *adjacent_shard, struct err *e)
{
    json_t *req = json_pack("{s:s, s:s, s:s}", "StreamName", stream, "ShardToMerge", shard,
                            "AdjacentShardToMerge", adjacent_shard);
    return call(k, "MergeShards", req, 0, SMALL_RESP_MAX, NULL, e);
}

int kin_update_shard_count(struct kin *k, const char *stream, int target, struct err *e)
{
    json_t *req = json_pack("{s:s, s:i, s:s}", "StreamName", stream, "TargetShardCount",
                            target, "ScalingType", "UNIFORM_SCALING");
    return call(k, "UpdateShardCount", req, 0, SMALL_RESP_MAX, NULL, e);
}

/* ---- reading ------------------------------------------------------------ */

static const char *iter_type_name(enum kin_iter_type t)
{
    switch (t) {
    case KIN_TRIM_HORIZON: return "TRIM_HORIZON";
    case KIN_LATEST: return "LATEST";
    case KIN_AT_SEQUENCE_NUMBER: return "AT_SEQUENCE_NUMBER";
    case KIN_AFTER_SEQUENCE_NUMBER: return "AFTER_SEQUENCE_NUMBER";
    case KIN_AT_TIMESTAMP: return "AT_TIMESTAMP";
    }
    return NULL;
}

static json_t *iterator_request(const char *stream, const char *shard,
                                const struct kin_iter_from *from)
{
    json_t *req = json_pack("{s:s, s:s, s:s}", "StreamName", stream, "ShardId", shard,
                            "ShardIteratorType", iter_type_name(from->type));
    if (from->type == KIN_AT_SEQUENCE_NUMBER || from->type == KIN_AFTER_SEQUENCE_NUMBER)
        json_object_set_new(req, "StartingSequenceNumber", json_string(from->seq));
    if (from->type == KIN_AT_TIMESTAMP)
        json_object_set_new(req, "Timestamp", json_real(from->timestamp));
    return req;
}

static int parse_iterator(const struct buf *b, char **iterator, struct err *e)
{
    json_t *root;
    int rc = load("GetShardIterator", b->data, b->len, &root, e);
    if (rc) return rc;
    json_t *it = member(root, "ShardIterator");
    if (it && (!json_is_string(it) || json_string_length(it) == 0 ||
               json_string_length(it) > ITERATOR_MAX))
        rc = bad_answer(e, "GetShardIterator", "ShardIterator");
    else if (it)
        *iterator = xstrdup(json_string_value(it));
    json_decref(root);
    return rc;
}

int kin_get_shard_iterator(struct kin *k, const char *stream, const char *shard,
                           const struct kin_iter_from *from, char **iterator,
                           struct err *e)
{
    *iterator = NULL;
    if (!iter_type_name(from->type) ||
        ((from->type == KIN_AT_SEQUENCE_NUMBER || from->type == KIN_AFTER_SEQUENCE_NUMBER) &&
         (!from->seq || !*from->seq)))
        return err_set(e, -EINVAL, ERR_PERMANENT, "kinesis GetShardIterator: bad position");
    struct buf b;
    int rc = call(k, "GetShardIterator", iterator_request(stream, shard, from), 1,
                  SMALL_RESP_MAX, &b, e);
    if (rc) return rc;
    rc = parse_iterator(&b, iterator, e);
    buf_free(&b);
    return rc;
}

/* Bytes the arena needs for one record; 0 if the record is malformed. */
static size_t record_need(const json_t *r)
{
    json_t *d = member(r, "Data"), *pk = member(r, "PartitionKey"),
           *sq = member(r, "SequenceNumber");
    if (!json_is_object(r) || !json_is_string(d) || !json_is_string(pk) || !json_is_string(sq))
        return 0;
    return kin_base64_decoded_max(json_string_length(d)) + json_string_length(pk) +
           json_string_length(sq) + 2;
}

static char *arena_str(char **w, const json_t *s)
{
    char *p = *w;
    memcpy(p, json_string_value(s), json_string_length(s) + 1);
    *w += json_string_length(s) + 1;
    return p;
}

static int parse_record(const json_t *j, struct kin_record *r, char **w)
{
    json_t *d = member(j, "Data"), *ts = member(j, "ApproximateArrivalTimestamp");
    long n = kin_base64_decode(json_string_value(d), json_string_length(d),
                               (unsigned char *)*w);
    if (n < 0 || (ts && !json_is_number(ts))) return -1;
    r->data = (const unsigned char *)*w;
    r->len = (size_t)n;
    *w += n;
    r->partition_key = arena_str(w, member(j, "PartitionKey"));
    r->seq = arena_str(w, member(j, "SequenceNumber"));
    r->arrival_ms = ts ? llround(json_number_value(ts) * 1000.0) : -1;
    return 0;
}

static int parse_record_array(const json_t *arr, struct kin_records *out)
{
    size_t n = json_array_size(arr), need = 1;
    for (size_t i = 0; i < n; i++) {
        size_t one = record_need(json_array_get(arr, i));
        if (!one) return -1;
        need += one;
    }
    out->arena = xmalloc(need);
    out->v = xcalloc(n ? n : 1, sizeof *out->v);
    char *w = out->arena;
    for (size_t i = 0; i < n; i++, out->n++)
        if (parse_record(json_array_get(arr, i), &out->v[i], &w)) return -1;
    return 0;
}

static int parse_child(const json_t *j, struct kin_child_shard *c)
{
    memset(c, 0, sizeof *c);
    json_t *ps = member(j, "ParentShards");
    if (!json_is_object(j) || copy_str(c->id, sizeof c->id, j, "ShardId", 1) ||
        (ps && (!json_is_array(ps) || json_array_size(ps) > 2)))
        return -1;
    for (size_t i = 0; i < json_array_size(ps); i++) {
        json_t *p = json_array_get(ps, i);
        if (!json_is_string(p) || json_string_length(p) >= sizeof c->parents[i]) return -1;
        memcpy(c->parents[i], json_string_value(p), json_string_length(p) + 1);
    }
    return parse_range(j, "HashKeyRange", "StartingHashKey", "EndingHashKey", c->hash_start,
                       sizeof c->hash_start, c->hash_end, sizeof c->hash_end, 1);
}

static int parse_children(const json_t *arr, struct kin_records *out)
{
    if (!arr) return 0;
    if (!json_is_array(arr)) return -1;
    size_t n = json_array_size(arr);
    out->children = xcalloc(n ? n : 1, sizeof *out->children);
    for (size_t i = 0; i < n; i++, out->n_children++)
        if (parse_child(json_array_get(arr, i), &out->children[i])) return -1;
    return 0;
}

static int parse_records_root(const json_t *root, struct kin_records *out)
{
    json_t *recs = member(root, "Records"), *it = member(root, "NextShardIterator"),
           *mb = member(root, "MillisBehindLatest");
    if ((recs && !json_is_array(recs)) || (it && !json_is_string(it)) ||
        (mb && !json_is_integer(mb)))
        return -1;
    if (it && (json_string_length(it) == 0 || json_string_length(it) > ITERATOR_MAX)) return -1;
    out->millis_behind = mb ? json_integer_value(mb) : -1;
    if (parse_record_array(recs, out) || parse_children(member(root, "ChildShards"), out))
        return -1;
    if (it) out->next_iterator = xstrdup(json_string_value(it));
    return 0;
}

int kin_parse_records(const char *json, size_t len, struct kin_records *out, struct err *e)
{
    json_t *root;
    memset(out, 0, sizeof *out);
    int rc = load("GetRecords", json, len, &root, e);
    if (rc) return rc;
    if (parse_records_root(root, out)) {
        kin_records_free(out);
        rc = bad_answer(e, "GetRecords", "records");
    }
    json_decref(root);
    return rc;
}

void kin_records_free(struct kin_records *r)
{
    if (!r) return;
    free(r->v);
    free(r->arena);
    free(r->next_iterator);
    free(r->children);
    memset(r, 0, sizeof *r);
}

int kin_get_records(struct kin *k, const char *iterator, int limit, struct kin_records *out,
                    struct err *e)
{
    memset(out, 0, sizeof *out);
    json_t *req = json_pack("{s:s}", "ShardIterator", iterator);
    if (limit > 0) json_object_set_new(req, "Limit", json_integer(limit));
    struct buf b;
    int rc = call(k, "GetRecords", req, 1, RECORDS_RESP_MAX, &b, e);
    if (rc) return rc;
    rc = kin_parse_records(b.data, b.len, out, e);
    buf_free(&b);
    return rc;
}

/* ---- writing ------------------------------------------------------------ */

static json_t *put_entry(const struct kin_put_entry *p)
{
    size_t n = 4 * ((p->len + 2) / 3) + 1;
    char *b64 = xmalloc(n);
    int m = EVP_EncodeBlock((unsigned char *)b64, p->data, (int)p->len);
    json_t *o = json_object();
    json_object_set_new(o, "Data", json_stringn(b64, (size_t)m));
    json_object_set_new(o, "PartitionKey", json_string(p->partition_key));
    if (p->explicit_hash_key)
        json_object_set_new(o, "ExplicitHashKey", json_string(p->explicit_hash_key));
    free(b64);
    return o;
}

static int put_check(const struct kin_put_entry *in, size_t n, struct err *e)
{
    size_t total = 0;
    if (n == 0 || n > KIN_PUT_MAX)
        return err_set(e, -EINVAL, ERR_PERMANENT, "kinesis PutRecords: %zu records", n);
    for (size_t i = 0; i < n; i++) {
        size_t pk = in[i].partition_key ? strlen(in[i].partition_key) : 0;
        if (pk == 0 || pk > 256 || in[i].len > RECORD_MAX)
            return err_set(e, -EINVAL, ERR_PERMANENT,
                           "kinesis PutRecords: record %zu: key %zu chars, %zu bytes", i, pk,
                           in[i].len);
        total += in[i].len + pk;
    }
    if (total > PUT_BYTES_MAX)
        return err_set(e, -EINVAL, ERR_PERMANENT, "kinesis PutRecords: %zu bytes > 5 MiB",
                       total);
    return 0;
}

static int parse_put_result(const json_t *j, struct kin_put_result *r)
{
    memset(r, 0, sizeof *r);
    if (!json_is_object(j) || copy_str(r->error_code, sizeof r->error_code, j, "ErrorCode", 0))
        return -1;
    if (r->error_code[0]) {
        json_t *m = member(j, "ErrorMessage");
        if (json_is_string(m)) strlcpy_(r->error_message, json_string_value(m),
                                        sizeof r->error_message);
        return 0;
    }
    return copy_str(r->seq, sizeof r->seq, j, "SequenceNumber", 1) ||
           copy_str(r->shard, sizeof r->shard, j, "ShardId", 1) ? -1 : 0;
}

static int parse_put(const struct buf *b, size_t n, struct kin_put_result *out, size_t *failed,
                     struct err *e)
{
    json_t *root;
    int rc = load("PutRecords", b->data, b->len, &root, e);
    if (rc) return rc;
    json_t *arr = member(root, "Records");
    if (!json_is_array(arr) || json_array_size(arr) != n)
        rc = bad_answer(e, "PutRecords", "Records count");
    *failed = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (parse_put_result(json_array_get(arr, i), &out[i]))
            rc = bad_answer(e, "PutRecords", "record result");
        else if (out[i].error_code[0])
            (*failed)++;
    }
    json_decref(root);
    return rc;
}

int kin_put_records(struct kin *k, const char *stream, const struct kin_put_entry *in,
                    size_t n, struct kin_put_result *out, size_t *failed, struct err *e)
{
    int rc = put_check(in, n, e);
    if (rc) return rc;
    json_t *recs = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(recs, put_entry(&in[i]));
    json_t *req = json_pack("{s:s, s:o}", "StreamName", stream, "Records", recs);
    struct buf b;
    rc = call(k, "PutRecords", req, 0, SMALL_RESP_MAX, &b, e);
    if (rc) return rc;
    rc = parse_put(&b, n, out, failed, e);
    buf_free(&b);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

struct put_state {
    size_t *idx;                 /* pending entries (indexes into in/out) */
    size_t m;
    struct kin_put_entry *sub;
    struct kin_put_result *res;
};

/* One PutRecords of the pending entries; keeps only the failed ones. */
static int put_round(struct kin *k, const char *stream, const struct kin_put_entry *in,
                     struct kin_put_result *out, struct put_state *st, struct err *e)
{
    size_t failed = 0, m2 = 0;
    for (size_t j = 0; j < st->m; j++) st->sub[j] = in[st->idx[j]];
    int rc = kin_put_records(k, stream, st->sub, st->m, st->res, &failed, e);
    if (rc) return rc;
    for (size_t j = 0; j < st->m; j++) {
        out[st->idx[j]] = st->res[j];
        if (st->res[j].error_code[0]) st->idx[m2++] = st->idx[j];
    }
    st->m = m2;
    return 0;
}

static int put_give_up(const struct put_state *st, size_t n, const struct kin_put_result *out,
                       const struct err *last, int tries, struct err *e)
{
    const struct kin_put_result *f = st->m ? &out[st->idx[0]] : NULL;
    return err_set(e, -ETIMEDOUT, ERR_RETRY,
                   "kinesis PutRecords: %zu of %zu records unwritten after %d tries: %s %s",
                   st->m, n, tries, f && f->error_code[0] ? f->error_code : last->msg,
                   f && f->error_code[0] ? f->error_message : "");
}

int kin_put_records_all(struct kin *k, const char *stream, const struct kin_put_entry *in,
                        size_t n, struct kin_put_result *out, const struct kin_put_retry *o,
                        struct err *e)
{
    struct kin_put_retry d = {30000, 100, 5000, 0};
    if (o) d = *o;
    int rc = put_check(in, n, e);
    if (rc) return rc;
    struct put_state st = {xmalloc(n * sizeof(size_t)), n, xmalloc(n * sizeof *st.sub),
                           xmalloc(n * sizeof *st.res)};
    for (size_t i = 0; i < n; i++) st.idx[i] = i;
    memset(out, 0, n * sizeof *out);
    long long t0 = clock_mono_ms();
    struct err last;
    err_clear(&last);
    for (int tries = 1;; tries++) {
        rc = put_round(k, stream, in, out, &st, &last);
        if (rc == 0 && st.m == 0) break;
        if (rc && last.cls != ERR_RETRY &&
            !(last.cls == ERR_UNKNOWN_OUTCOME && d.resend_unknown)) {
            if (e) *e = last;
            break;
        }
        long left = d.deadline_ms - (long)(clock_mono_ms() - t0);
        if (left <= 0) {
            rc = put_give_up(&st, n, out, &last, tries, e);
            break;
        }
        long wait = aws_backoff_ms(tries - 1, d.base_ms, d.cap_ms);
        sleep_ms(wait < left ? wait : left);
    }
    free(st.idx);
    free(st.sub);
    free(st.res);
    return rc;
}

/* ---- base64 ------------------------------------------------------------- */

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* The final quantum: "xx==", "xxx=" or "xxxx"; unused bits must be zero. */
static long b64_last(const char *q, unsigned char *out)
{
    int pad = (q[3] == '=') + (q[2] == '=');
    if (q[2] == '=' && q[3] != '=') return -EINVAL;
    int v[4] = {b64_val((unsigned char)q[0]), b64_val((unsigned char)q[1]),
                pad >= 2 ? 0 : b64_val((unsigned char)q[2]),
                pad >= 1 ? 0 : b64_val((unsigned char)q[3])};
    if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0) return -EINVAL;
    unsigned long w = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
                      (unsigned long)v[2] << 6 | (unsigned long)v[3];
    if ((pad == 2 && (w & 0xFFFF)) || (pad == 1 && (w & 0xFF))) return -EINVAL;
    out[0] = (unsigned char)(w >> 16);
    if (pad < 2) out[1] = (unsigned char)(w >> 8);
    if (pad < 1) out[2] = (unsigned char)w;
    return 3 - pad;
}

long kin_base64_decode(const char *in, size_t n, unsigned char *out)
{
    if (n % 4) return -EINVAL;
    if (n == 0) return 0;
    size_t o = 0;
    for (size_t i = 0; i + 4 < n; i += 4) {
        int a = b64_val((unsigned char)in[i]), b = b64_val((unsigned char)in[i + 1]),
            c = b64_val((unsigned char)in[i + 2]), d = b64_val((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0) return -EINVAL;
        out[o++] = (unsigned char)(a << 2 | b >> 4);
        out[o++] = (unsigned char)((b & 0xF) << 4 | c >> 2);
        out[o++] = (unsigned char)((c & 0x3) << 6 | d);
    }
    long last = b64_last(in + n - 4, out + o);
    return last < 0 ? last : (long)o + last;
}
