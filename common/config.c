/* config.c — every configuration key, in one declarative table.
 *
 * How to add a key:
 *   1. add the field to its struct in common/config.h (a new group is a new
 *      struct lf_<group>_config member of struct lf_config);
 *   2. add one row below, next to the other keys of its group (rows of a group
 *      must stay together), with a help text a reader of docs/config.md
 *      understands; a new group also gets a line in group_docs[];
 *   3. cross-key rules go in validate_config (or the element's validator);
 *   4. `make` regenerates docs/config.md; tests/unit/t_config.c checks the
 *      table (unique names, contiguous groups, valid defaults).
 * The field macros check at compile time that the field has the C type the
 * kind stores.  A list of groups (like `backends`) is a GROUPS row pointing at
 * its own table of element keys.  The engine (parsing, environment, errors)
 * is config_load.c; printing and the Markdown reference are config_doc.c.
 */
#include "common/config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* offsetof, failing to compile unless T.f has C type ctype. */
#define OFF(T, f, ctype) (offsetof(T, f) + 0 * sizeof(_Generic(((T *)0)->f, ctype: 1)))
#define K_STRING(T, f) .kind = CONFIG_KIND_STRING, .offset = OFF(T, f, char *)
#define K_INT(T, f) .kind = CONFIG_KIND_INT, .offset = OFF(T, f, int)
#define K_INT64(T, f) .kind = CONFIG_KIND_INT64, .offset = OFF(T, f, int64_t)
#define K_BOOL(T, f) .kind = CONFIG_KIND_BOOL, .offset = OFF(T, f, bool)
#define K_MS(T, f) .kind = CONFIG_KIND_DURATION, .offset = OFF(T, f, int)
#define K_ENUM(T, f, etype, vals) \
    .kind = CONFIG_KIND_ENUM, .offset = OFF(T, f, etype), .values = vals
#define K_STRINGS(T, f, nf) \
    .kind = CONFIG_KIND_STRINGS, .offset = OFF(T, f, char **), .count_offset = OFF(T, nf, size_t)
#define K_GROUPS(T, f, nf, etype, subtable) \
    .kind = CONFIG_KIND_GROUPS, .offset = OFF(T, f, etype *), \
    .count_offset = OFF(T, nf, size_t), .sub = &(subtable)

/* The engine stores every enum through an int. */
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum lf_dialect) == sizeof(int), "enum size");
_Static_assert(sizeof(enum lf_initial_position) == sizeof(int), "enum size");

/* ---- value checks -------------------------------------------------------- */

static bool name_like(const char *v, const char *first)
{
    size_t n = strlen(v);
    if (n < 1 || n > 63 || !strchr(first, v[0])) return false;
    return strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* SQL schema names: they are spliced into statements. */
static bool ok_schema(const char *v)
{
    return name_like(v, "abcdefghijklmnopqrstuvwxyz_");
}

/* Backend and log-type names: they become table names. */
static bool ok_name(const char *v)
{
    return name_like(v, "abcdefghijklmnopqrstuvwxyz");
}

static bool ok_url(const char *v)
{
    return !*v || (!strncmp(v, "http://", 7) && v[7]) || (!strncmp(v, "https://", 8) && v[8]);
}

static bool ok_bucket(const char *v)
{
    size_t n = strlen(v);
    if (n < 3 || n > 63 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n) return false;
    return v[0] != '.' && v[0] != '-' && v[n - 1] != '.' && v[n - 1] != '-';
}

static bool ok_port(const char *p)
{
    size_t n = strlen(p);
    if (n < 1 || n > 5 || strspn(p, "0123456789") != n) return false;
    return strtol(p, NULL, 10) <= 65535;
}

/* "host:port", "[v6]:port" or "" (disabled). */
static bool ok_listen(const char *v)
{
    if (!*v) return true;
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || !ok_port(colon + 1)) return false;
    size_t hl = (size_t)(colon - v);
    if (v[0] == '[') return hl > 2 && v[hl - 1] == ']';
    return strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == hl;
}

int lf_column_parse(const char *spec, struct lf_column *out)
{
    static const char *const names[] = {"text", "varchar", "int", "bigint", "double",
                                        "boolean", "timestamp"};
    memset(out, 0, sizeof *out);
    const char *c1 = strchr(spec, ':');
    if (!c1 || (size_t)(c1 - spec) >= sizeof out->name) return -1;
    memcpy(out->name, spec, (size_t)(c1 - spec));
    if (!ok_name(out->name)) return -1;
    const char *t = c1 + 1, *c2 = strchr(t, ':');
    size_t tl = c2 ? (size_t)(c2 - t) : strlen(t);
    if (c2 && strcmp(c2 + 1, "required") != 0) return -1;
    out->required = c2 != NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t nl = strlen(names[i]);
        if (strncmp(t, names[i], nl) != 0) continue;
        if (i == LF_COL_VARCHAR) {
            char *end;
            if (t[nl] != '(') return -1;
            long n = strtol(t + nl + 1, &end, 10);
            if (n < 1 || n > 65535 || *end != ')' || (size_t)(end + 1 - t) != tl) return -1;
            out->length = (int)n;
        } else if (nl != tl) {
            continue;
        }
        out->type = (enum lf_col_type)i;
        return 0;
    }
    return -1;
}

static bool ok_column(const char *v)
{
    struct lf_column c;
    return lf_column_parse(v, &c) == 0;
}

static bool ok_prefix(const char *v)
{
    size_t n = strlen(v);
    return n > 0 && n < 200 && v[n - 1] == '/' && v[0] != '/' &&
           strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.-") == n;
}

static bool ok_app(const char *v)
{
    size_t n = strlen(v);
    return n > 0 && n < 128 &&
           strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static bool ok_field(const char *v)
{
    size_t n = strlen(v);
    return n > 0 && n < 128 && !strpbrk(v, "\"\\");
}

const struct lf_type *lf_type_find(const struct lf_config *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n_types; i++)
        if (strlen(c->types[i].name) == len && !memcmp(c->types[i].name, name, len))
            return &c->types[i];
    return NULL;
}

static const struct config_check check_column = {
    ok_column, "a column \"name:type\" or \"name:type:required\" (type: text, varchar(N), int, "
               "bigint, double, boolean, timestamp)"};
static const struct config_check check_prefix = {
    ok_prefix, "a key prefix ending in '/' (A-Z a-z 0-9 / _ . -)"};
static const struct config_check check_app = {
    ok_app, "an application name (1-127 of A-Z a-z 0-9 _ . -)"};
static const struct config_check check_field = {
    ok_field, "a JSON key (1-127 bytes, no quote or backslash)"};

static const struct config_check check_schema = {
    ok_schema, "a name matching ^[a-z_][a-z0-9_]{0,62}$"};
static const struct config_check check_name = {
    ok_name, "a name matching ^[a-z][a-z0-9_]{0,62}$"};
static const struct config_check check_url = {
    ok_url, "an http:// or https:// URL, or \"\""};
static const struct config_check check_bucket = {
    ok_bucket, "a bucket name (3-63 of a-z 0-9 . -, no s3:// prefix)"};
static const struct config_check check_listen = {
    ok_listen, "host:port (port 0-65535, [v6]:port for IPv6) or \"\""};

static int problem(struct config_problem *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int problem(struct config_problem *p, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
    p->key = key;
    return -1;
}

/* ---- backends: one element of the list ----------------------------------- */

static const char *const dialects[] = {
    [LF_DIALECT_REDSHIFT] = "redshift", [LF_DIALECT_POSTGRES] = "postgres", NULL};

static int validate_backend(const void *obj, struct config_problem *p)
{
    const struct lf_backend *b = obj;
    if (b->dialect == LF_DIALECT_REDSHIFT && !*b->copy_credentials)
        return problem(p, "copy_credentials",
                       "required for dialect redshift (e.g. \"IAM_ROLE default\")");
    if (b->dialect != LF_DIALECT_REDSHIFT && *b->copy_credentials)
        return problem(p, "copy_credentials", "only used with dialect redshift");
    return 0;
}

#define B struct lf_backend
static const struct config_entry backend_entries[] = {
    {.name = "name", K_STRING(B, name), .check = &check_name,
     .flags = CONFIG_F_REQUIRED | CONFIG_F_UNIQUE,
     .help = "Names the backend in logs, metrics and `loads`; unique."},
    {.name = "dialect", K_ENUM(B, dialect, enum lf_dialect, dialects), .flags = CONFIG_F_REQUIRED,
     .help = "`redshift` loads with COPY ... MANIFEST; `postgres` streams each object "
             "through COPY FROM STDIN."},
    {.name = "dsn", K_STRING(B, dsn), .flags = CONFIG_F_SECRET,
     .help = "libpq connection string of the warehouse; empty uses the PG* environment."},
    {.name = "pool_size", K_INT(B, pool_size), .min = 1, .max = 64, .def = "2",
     .help = "Connections (and loader threads) of this backend's own pool."},
    {.name = "types", K_STRINGS(B, types, n_types), .check = &check_name,
     .help = "Log types loaded into this backend; empty means every type."},
    {.name = "copy_credentials", K_STRING(B, copy_credentials), .flags = CONFIG_F_SECRET,
     .help = "redshift only, required there: the COPY authorization clause, e.g. "
             "`IAM_ROLE 'arn:aws:iam::123456789012:role/load'`."},
    {.name = "schema", K_STRING(B, schema), .check = &check_schema, .def = "public",
     .help = "Schema of the day tables and views."},
};
#undef B

static const struct config_table backend_table = {
    backend_entries, sizeof backend_entries / sizeof backend_entries[0],
    sizeof(struct lf_backend), validate_backend};

/* ---- types: one element of the list -------------------------------------- */

#define T struct lf_type
static const struct config_entry type_entries[] = {
    {.name = "name", K_STRING(T, name), .check = &check_name,
     .flags = CONFIG_F_REQUIRED | CONFIG_F_UNIQUE,
     .help = "The log type as it appears in the type field; also its table and view name."},
    {.name = "columns", K_STRINGS(T, columns, n_columns), .check = &check_column,
     .help = "Columns as \"name:type[:required]\"; a record missing a required column or "
             "holding a value of the wrong JSON kind is a dead letter. Empty: the generic "
             "table (event_time, payload)."},
};
#undef T

static const struct config_table type_table = {
    type_entries, sizeof type_entries / sizeof type_entries[0], sizeof(struct lf_type), NULL};

/* ---- the top level ------------------------------------------------------- */

static const char *const log_levels[] = {
    [LOG_DEBUG] = "debug", [LOG_INFO] = "info", [LOG_WARN] = "warn", [LOG_ERROR] = "error", NULL};
static const char *const positions[] = {
    [LF_POSITION_TRIM_HORIZON] = "TRIM_HORIZON", [LF_POSITION_LATEST] = "LATEST",
    [LF_POSITION_AT_TIMESTAMP] = "AT_TIMESTAMP", NULL};

static const char *const payload_signings[] = {
    [LF_PAYLOAD_AUTO] = "auto", [LF_PAYLOAD_SIGNED] = "signed",
    [LF_PAYLOAD_UNSIGNED] = "unsigned", NULL};

bool lf_s3_unsigned_payload(const struct lf_config *c)
{
    switch (c->s3.payload_signing) {
    case LF_PAYLOAD_SIGNED: return false;
    case LF_PAYLOAD_UNSIGNED: return true;
    case LF_PAYLOAD_AUTO: break;
    }
    const char *ep = c->s3.endpoint ? c->s3.endpoint : "";
    return !*ep || strncasecmp(ep, "https://", 8) == 0;
}

static int validate_config(const void *obj, struct config_problem *p)
{
    const struct lf_config *c = obj;
    const struct lf_aws_config *a = &c->aws;
    if (a->retry_base_ms > a->retry_cap_ms)
        return problem(p, "aws.retry_base_ms", "must not exceed aws.retry_cap_ms (%d), got %d",
                       a->retry_cap_ms, a->retry_base_ms);
    if (*a->access_key_id && !*a->secret_access_key)
        return problem(p, "aws.secret_access_key", "required when aws.access_key_id is set");
    if (!*a->access_key_id && (*a->secret_access_key || *a->session_token))
        return problem(p, "aws.access_key_id", "required when aws.%s is set",
                       *a->secret_access_key ? "secret_access_key" : "session_token");
    if (c->loader.retry_base_ms > c->loader.retry_cap_ms)
        return problem(p, "loader.retry_base_ms", "must not exceed loader.retry_cap_ms (%d), got %d",
                       c->loader.retry_cap_ms, c->loader.retry_base_ms);
    if ((int64_t)c->router.buffer_bytes > c->router.memory_limit_bytes)
        return problem(p, "router.buffer_bytes",
                       "must not exceed router.memory_limit_bytes (%lld), got %d",
                       (long long)c->router.memory_limit_bytes, c->router.buffer_bytes);
    if (c->kinesis.initial_position == LF_POSITION_AT_TIMESTAMP && c->kinesis.initial_timestamp == 0)
        return problem(p, "kinesis.initial_timestamp",
                       "must be set when kinesis.initial_position is AT_TIMESTAMP");
    return 0;
}

#define C struct lf_config
static const struct config_entry entries[] = {
    {.name = "log_level", K_ENUM(C, log_level, enum log_level, log_levels), .def = "info",
     .help = "Lowest level logged on stderr."},
    {.name = "app", K_STRING(C, app), .check = &check_app, .def = "logfleet",
     .help = "Application name (KCL applicationName): leases, checkpoints and the object "
             "ledger of one app are separate from another's in the same database."},
    {.name = "worker_id", K_STRING(C, worker_id),
     .help = "This worker's name in the lease table; empty means `<hostname>-<pid>`."},

    {.name = "coord.dsn", K_STRING(C, coord.dsn), .flags = CONFIG_F_REQUIRED | CONFIG_F_SECRET,
     .help = "libpq connection string of the coordination database."},
    {.name = "coord.schema", K_STRING(C, coord.schema), .check = &check_schema, .def = "logfleet",
     .help = "Schema holding leases, workers, the object ledger, manifests and loads."},

    {.name = "aws.region", K_STRING(C, aws.region), .def = "us-east-1",
     .help = "Region used for signing and for the default S3 and Kinesis endpoints."},
    {.name = "aws.access_key_id", K_STRING(C, aws.access_key_id),
     .help = "Static access key; empty uses the credentials chain (environment, "
             "shared files, ECS, IMDSv2)."},
    {.name = "aws.secret_access_key", K_STRING(C, aws.secret_access_key), .flags = CONFIG_F_SECRET,
     .help = "Secret of the static access key."},
    {.name = "aws.session_token", K_STRING(C, aws.session_token), .flags = CONFIG_F_SECRET,
     .help = "Session token of temporary static keys."},
    {.name = "aws.profile", K_STRING(C, aws.profile),
     .help = "Shared credentials/config profile; empty uses `AWS_PROFILE` or `default`."},
    {.name = "aws.imds_endpoint", K_STRING(C, aws.imds_endpoint), .check = &check_url,
     .help = "EC2 instance metadata endpoint; empty uses http://169.254.169.254."},
    {.name = "aws.ecs_endpoint", K_STRING(C, aws.ecs_endpoint), .check = &check_url,
     .help = "ECS container credentials endpoint; empty uses http://169.254.170.2."},
    {.name = "aws.imds_disabled", K_BOOL(C, aws.imds_disabled), .def = "false",
     .help = "Never ask the EC2 instance metadata service for credentials."},
    {.name = "aws.connect_timeout_ms", K_MS(C, aws.connect_timeout_ms), .min = 100, .max = 60000,
     .def = "3000", .help = "TCP/TLS connect timeout of one AWS request."},
    {.name = "aws.request_timeout_ms", K_MS(C, aws.request_timeout_ms), .min = 1000,
     .max = 600000, .def = "30000", .help = "Whole-request timeout of one AWS attempt."},
    {.name = "aws.max_attempts", K_INT(C, aws.max_attempts), .min = 1, .max = 20, .def = "5",
     .help = "Tries per AWS request, the first included."},
    {.name = "aws.retry_base_ms", K_MS(C, aws.retry_base_ms), .min = 1, .max = 10000, .def = "100",
     .help = "Base of the full-jitter exponential backoff; at most `aws.retry_cap_ms`."},
    {.name = "aws.retry_cap_ms", K_MS(C, aws.retry_cap_ms), .min = 10, .max = 300000,
     .def = "20000", .help = "Longest backoff between two tries."},

    {.name = "s3.endpoint", K_STRING(C, s3.endpoint), .check = &check_url,
     .help = "S3 endpoint (path-style when set); empty uses AWS's for the region."},
    {.name = "s3.bucket", K_STRING(C, s3.bucket), .check = &check_bucket,
     .flags = CONFIG_F_REQUIRED, .help = "Bucket of the archive, manifests and dead letters."},
    {.name = "s3.prefix", K_STRING(C, s3.prefix),
     .help = "Key prefix for everything logfleet writes, e.g. `prod/`."},
    {.name = "s3.if_none_match", K_BOOL(C, s3.if_none_match), .def = "true",
     .help = "Send `If-None-Match: *` on uploads so an object is never overwritten; turn "
             "off only for stores that reject the header."},
    {.name = "s3.payload_signing",
     K_ENUM(C, s3.payload_signing, enum lf_payload_signing, payload_signings), .def = "auto",
     .help = "How upload bodies are protected: `signed` (SigV4 covers the body's SHA-256), "
             "`unsigned` (`UNSIGNED-PAYLOAD` with `x-amz-checksum-crc32`, which S3 checks; "
             "what the AWS SDKs send over HTTPS, a fraction of the CPU), or `auto`: "
             "unsigned for an https:// or the default endpoint, signed over plain http. Choose "
             "`signed` for an S3-compatible store that rejects checksum headers."},

    {.name = "kinesis.endpoint", K_STRING(C, kinesis.endpoint), .check = &check_url,
     .help = "Kinesis endpoint; empty uses AWS's for the region."},
    {.name = "kinesis.stream", K_STRING(C, kinesis.stream), .flags = CONFIG_F_REQUIRED,
     .help = "Name of the stream to consume."},
    {.name = "kinesis.initial_position",
     K_ENUM(C, kinesis.initial_position, enum lf_initial_position, positions),
     .def = "TRIM_HORIZON",
     .help = "Where a shard without a checkpoint starts: oldest record, newest, or "
             "`kinesis.initial_timestamp`."},
    {.name = "kinesis.initial_timestamp", K_INT64(C, kinesis.initial_timestamp), .min = 0,
     .max = INT64_C(253402300799), .def = "0",
     .help = "Epoch seconds to start from with AT_TIMESTAMP (required then)."},
    {.name = "kinesis.max_records", K_INT(C, kinesis.max_records), .min = 1, .max = 10000,
     .def = "10000", .help = "Records per GetRecords call."},
    {.name = "kinesis.idle_between_reads_ms", K_MS(C, kinesis.idle_between_reads_ms), .min = 0,
     .max = 60000, .def = "1000",
     .help = "Pause after a GetRecords call that returned nothing new."},

    {.name = "lease.duration_ms", K_MS(C, lease.duration_ms), .min = 1000, .max = 600000,
     .def = "10000",
     .help = "A lease whose counter has not moved for this long is expired "
             "(KCL failoverTimeMillis); owners renew at a third of it."},
    {.name = "lease.max_leases", K_INT(C, lease.max_leases), .min = 0, .max = 100000, .def = "0",
     .help = "Most leases this worker holds; 0 means no limit."},
    {.name = "lease.max_steal", K_INT(C, lease.max_steal), .min = 1, .max = 100, .def = "1",
     .help = "Most leases taken from other workers in one balancing round."},
    {.name = "lease.shard_sync_ms", K_MS(C, lease.shard_sync_ms), .min = 1000, .max = 3600000,
     .def = "60000", .help = "How often the shard list is compared with the lease table."},
    {.name = "lease.graceful_handoff", K_BOOL(C, lease.graceful_handoff), .def = "true",
     .help = "A moved lease is checkpointed by its old owner before the new one starts."},
    {.name = "lease.handoff_timeout_ms", K_MS(C, lease.handoff_timeout_ms), .min = 1000,
     .max = 600000, .def = "30000",
     .help = "How long a new owner waits for a graceful handoff before taking the lease."},

    {.name = "shutdown.grace_ms", K_MS(C, shutdown.grace_ms), .min = 0, .max = 600000,
     .def = "30000",
     .help = "On SIGTERM: time to flush, upload, checkpoint and release leases."},

    {.name = "http.listen", K_STRING(C, http.listen), .check = &check_listen, .def = "127.0.0.1:0",
     .help = "Address of /healthz, /readyz and /metrics; port 0 picks a free one; "
             "empty disables."},

    {.name = "router.type_field", K_STRING(C, router.type_field), .check = &check_field,
     .def = "type", .help = "Top-level JSON key whose string value is the record's log type."},
    {.name = "router.time_field", K_STRING(C, router.time_field), .check = &check_field,
     .def = "ts",
     .help = "Top-level JSON key of the event time (ISO-8601, epoch s or ms); missing: "
             "arrival time."},
    {.name = "router.max_record_bytes", K_INT(C, router.max_record_bytes), .min = 256,
     .max = 10485760, .def = "1048576", .help = "Larger records are dead letters (too_large)."},
    {.name = "router.max_depth", K_INT(C, router.max_depth), .min = 1, .max = 1000, .def = "64",
     .help = "Deeper JSON nesting is a dead letter (too_deep)."},
    {.name = "router.retention_days", K_INT(C, router.retention_days), .min = 1, .max = 3650,
     .def = "30", .help = "Event times older than arrival minus this are dead letters."},
    {.name = "router.future_skew_s", K_INT(C, router.future_skew_s), .min = 0, .max = 31536000,
     .def = "86400", .help = "Event times newer than arrival plus this are dead letters."},
    {.name = "router.buffer_bytes", K_INT(C, router.buffer_bytes), .min = 4096,
     .max = 1073741824, .def = "16777216",
     .help = "Raw bytes a (shard, type, day) buffer holds before it is flushed."},
    {.name = "router.buffer_age_ms", K_MS(C, router.buffer_age_ms), .min = 100, .max = 3600000,
     .def = "30000", .help = "A buffer is flushed when its first record is this old."},
    {.name = "router.memory_limit_bytes", K_INT64(C, router.memory_limit_bytes),
     .min = 1048576, .max = INT64_C(68719476736), .def = "134217728",
     .help = "Bytes the router holds: open buffers (compressed so far, plus a bound for "
             "staged lines) and objects not yet uploaded; above it, fetching pauses."},
    {.name = "router.upload_threads", K_INT(C, router.upload_threads), .min = 1, .max = 64,
     .def = "4", .help = "S3 upload threads."},
    {.name = "router.multipart_bytes", K_INT64(C, router.multipart_bytes), .min = 5242880,
     .max = INT64_C(5368709120), .def = "16777216",
     .help = "Objects at least this big are uploaded by multipart."},
    {.name = "router.gzip_level", K_INT(C, router.gzip_level), .min = 0, .max = 3, .def = "1",
     .help = "igzip level (0-3); the zlib fallback build maps it to zlib 1-4."},
    {.name = "router.object_prefix", K_STRING(C, router.object_prefix), .check = &check_prefix,
     .def = "objects/", .help = "Under s3.prefix: the archive objects."},
    {.name = "router.dead_letter_prefix", K_STRING(C, router.dead_letter_prefix),
     .check = &check_prefix, .def = "dead/",
     .help = "Under s3.prefix: records that could not be routed, with their reason."},

    {.name = "manifest.interval_ms", K_MS(C, manifest.interval_ms), .min = 100,
     .max = 86400000, .def = "60000", .help = "How often ledgered objects become manifests."},
    {.name = "manifest.max_objects", K_INT(C, manifest.max_objects), .min = 1, .max = 10000,
     .def = "500", .help = "Objects per manifest at most."},
    {.name = "manifest.prefix", K_STRING(C, manifest.prefix), .check = &check_prefix,
     .def = "manifests/", .help = "Under s3.prefix: the Redshift manifests."},
    {.name = "manifest.error_prefix", K_STRING(C, manifest.error_prefix), .check = &check_prefix,
     .def = "errors/", .help = "Under s3.prefix: manifests of loads that failed for good."},

    {.name = "loader.retry_window_s", K_INT(C, loader.retry_window_s), .min = 0, .max = 604800,
     .def = "3600",
     .help = "A load still failing this long after its first attempt is marked failed."},
    {.name = "loader.retry_base_ms", K_MS(C, loader.retry_base_ms), .min = 10, .max = 600000,
     .def = "1000", .help = "Base of the jittered backoff between load attempts."},
    {.name = "loader.retry_cap_ms", K_MS(C, loader.retry_cap_ms), .min = 100, .max = 3600000,
     .def = "300000", .help = "Longest wait between two load attempts."},
    {.name = "loader.breaker_failures", K_INT(C, loader.breaker_failures), .min = 1, .max = 1000,
     .def = "3", .help = "Consecutive failures that open a backend's circuit breaker."},
    {.name = "loader.breaker_open_ms", K_MS(C, loader.breaker_open_ms), .min = 100,
     .max = 3600000, .def = "30000", .help = "How long an open breaker waits before a probe."},
    {.name = "loader.poll_ms", K_MS(C, loader.poll_ms), .min = 10, .max = 600000, .def = "1000",
     .help = "How often an idle loader looks for work."},

    {.name = "tables.days_ahead", K_INT(C, tables.days_ahead), .min = 0, .max = 30, .def = "2",
     .help = "`logfleetctl rotate` creates day tables for today .. today+N."},
    {.name = "tables.retention_days", K_INT(C, tables.retention_days), .min = 1, .max = 3650,
     .def = "30", .help = "Views span, and tables are kept for, this many days."},

    {.name = "types", K_GROUPS(C, types, n_types, struct lf_type, type_table),
     .help = "The log types routed (an allowlist); records of other types are dead letters."},
    {.name = "backends", K_GROUPS(C, backends, n_backends, struct lf_backend, backend_table),
     .help = "Warehouse backends, each loaded by its own pool"},
};
#undef C

static const struct config_table table = {
    entries, sizeof entries / sizeof entries[0], sizeof(struct lf_config), validate_config};

static const struct config_group_doc group_docs[] = {
    {"", "General", "Keys outside any group."},
    {"coord", "Coordination database",
     "PostgreSQL holding leases, checkpoints, the object ledger, manifests and loads. "
     "`logfleetctl init` creates the schema; workers migrate it idempotently at start."},
    {"aws", "AWS client",
     "Credentials, timeouts and retries shared by the S3 and Kinesis clients. With "
     "`access_key_id` empty, credentials come from the chain the AWS CLI uses: environment "
     "(`AWS_ACCESS_KEY_ID` ...), shared credentials/config files and profile, the ECS "
     "container endpoint, then EC2 IMDSv2."},
    {"s3", "S3 archive",
     "Where records land: `objects/<type>/<yyyy>/<mm>/<dd>/...json.gz`, manifests under "
     "`manifests/`, dead letters and error manifests beside them."},
    {"kinesis", "Kinesis source", "The stream consumed, one lease per shard."},
    {"lease", "Leases", "KCL lease semantics over the coordination database."},
    {"shutdown", "Shutdown", "What SIGTERM is given."},
    {"http", "HTTP endpoint", "Health and Prometheus metrics."},
    {"router", "Router",
     "The built-in processor: records are routed by log type into per-(shard, type, day) "
     "gzip buffers, uploaded to S3 and ledgered; checkpoints follow the ledger."},
    {"manifest", "Manifests", "Ledgered objects become Redshift manifests per (type, day)."},
    {"loader", "Loaders", "Each backend's loads: retries, backoff and circuit breaker."},
    {"tables", "Day tables", "Rotating `<type>_<yyyymmdd>` tables behind a view `<type>`."},
    {"types", "Log types",
     "A list of groups, one per log type. Example:\n\n"
     "    types = (\n"
     "      { name = \"login\"; columns = [\"player_id:varchar(64):required\", "
     "\"ts:timestamp:required\", \"platform:varchar(16)\"]; },\n"
     "      { name = \"chat\"; }   # generic: event_time + payload\n"
     "    );"},
    {"backends", "Warehouse backends",
     "A list of groups, one per warehouse; each has its own queue, connection pool and "
     "circuit breaker, so a dead backend only grows its own backlog. Example:\n\n"
     "    backends = (\n"
     "      { name = \"wh_a\"; dialect = \"redshift\"; dsn = \"host=... dbname=dw\";\n"
     "        copy_credentials = \"IAM_ROLE 'arn:aws:iam::123456789012:role/load'\"; },\n"
     "      { name = \"wh_b\"; dialect = \"postgres\"; dsn = \"host=... dbname=logs\";\n"
     "        pool_size = 4; types = [\"login\", \"purchase\"]; }\n"
     "    );"},
};

const struct config_table *config_table(void)
{
    return &table;
}

const struct config_group_doc *config_group_docs(size_t *n)
{
    *n = sizeof group_docs / sizeof group_docs[0];
    return group_docs;
}
