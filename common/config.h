/* config.h — logfleet's configuration: one libconfig file for both programs.
 *
 * Every key is a row of one declarative table (common/config.c: name, type,
 * field offset, bounds, default, help, secret flag, environment variable);
 * the table drives parsing, validation, printing and docs/config.md.
 * Values come from, in rising precedence: the table's default, the file,
 * the environment (LOGFLEET_<PATH>, e.g. LOGFLEET_AWS_MAX_ATTEMPTS).
 * struct lf_config is plain data owned by the caller: fill it with
 * config_load, read the fields directly, release it with config_free.
 * Loading is not thread-safe (it reads the environment); a loaded config
 * is read-only and may be shared by every thread.
 */
#ifndef LOGFLEET_CONFIG_H
#define LOGFLEET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "common/log.h"

/* ---- the configuration, as other modules read it ----------------------- */

enum lf_initial_position {
    LF_POSITION_TRIM_HORIZON = 0,
    LF_POSITION_LATEST,
    LF_POSITION_AT_TIMESTAMP,
};

enum lf_payload_signing {
    LF_PAYLOAD_AUTO = 0,   /* unsigned over https (and AWS's default endpoint), else signed */
    LF_PAYLOAD_SIGNED,     /* SigV4 covers the body's SHA-256 */
    LF_PAYLOAD_UNSIGNED,   /* UNSIGNED-PAYLOAD + x-amz-checksum-crc32 */
};

enum lf_dialect {
    LF_DIALECT_REDSHIFT = 0,
    LF_DIALECT_POSTGRES,
};

/* One warehouse backend: an element of the `backends` list. */
struct lf_backend {
    char *name;                  /* [a-z][a-z0-9_]{0,62}, unique */
    enum lf_dialect dialect;
    char *dsn;                   /* libpq DSN; secret */
    int pool_size;
    size_t n_types;              /* 0 = every configured type */
    char **types;
    char *copy_credentials;      /* redshift COPY authorization; secret */
    char *schema;
};

/* One log type: an element of the `types` list.  Column specs are
 * "name:type" or "name:type:required", type one of text, varchar(N), int,
 * bigint, double, boolean, timestamp (see lf_column_parse). */
struct lf_type {
    char *name;                  /* [a-z][a-z0-9_]{0,62}, unique; a table name */
    size_t n_columns;            /* 0 = generic: event_time + payload */
    char **columns;
};

struct lf_router_config {
    char *type_field;            /* top-level JSON key naming the log type */
    char *time_field;            /* top-level JSON key of the event time */
    int max_record_bytes;
    int max_depth;
    int retention_days;          /* event time older than arrival - this: dead letter */
    int future_skew_s;           /* event time newer than arrival + this: dead letter */
    int buffer_bytes;            /* raw bytes per (shard, type, day) buffer before a flush */
    int buffer_age_ms;           /* oldest record in a buffer before a flush */
    int64_t memory_limit_bytes;  /* buffered + in-flight bytes of the whole worker */
    int upload_threads;
    int64_t multipart_bytes;     /* objects at least this big go by multipart */
    int gzip_level;
    char *object_prefix;
    char *dead_letter_prefix;
};

struct lf_manifest_config {
    int interval_ms;             /* build manifests this often */
    int max_objects;             /* objects per manifest */
    char *prefix;
    char *error_prefix;
};

struct lf_loader_config {
    int retry_window_s;          /* then the load is failed and an error manifest written */
    int retry_base_ms;
    int retry_cap_ms;
    int breaker_failures;        /* consecutive failures that open a backend's breaker */
    int breaker_open_ms;         /* how long it stays open before a probe */
    int poll_ms;
};

struct lf_tables_config {
    int days_ahead;              /* rotate creates today .. today+N */
    int retention_days;          /* views cover, and tables are kept, this many days */
};

struct lf_coord_config {
    char *dsn;                   /* libpq DSN; secret */
    char *schema;
};

struct lf_aws_config {
    char *region;
    char *access_key_id;
    char *secret_access_key;     /* secret */
    char *session_token;         /* secret */
    char *profile;
    char *imds_endpoint;
    char *ecs_endpoint;
    bool imds_disabled;
    int connect_timeout_ms;
    int request_timeout_ms;
    int max_attempts;
    int retry_base_ms;
    int retry_cap_ms;
};

struct lf_s3_config {
    char *endpoint;
    char *bucket;
    char *prefix;
    bool if_none_match;
    enum lf_payload_signing payload_signing;
};

struct lf_kinesis_config {
    char *endpoint;
    char *stream;
    enum lf_initial_position initial_position;
    int64_t initial_timestamp;   /* epoch seconds, for AT_TIMESTAMP */
    int max_records;
    int idle_between_reads_ms;
};

struct lf_lease_config {
    int duration_ms;
    int max_leases;              /* 0 = unlimited */
    int max_steal;
    int shard_sync_ms;
    bool graceful_handoff;
    int handoff_timeout_ms;
};

struct lf_shutdown_config {
    int grace_ms;
};

struct lf_http_config {
    char *listen;                /* "host:port"; "" = disabled */
};

/* Strings are never NULL after a successful load ("" when unset). */
struct lf_config {
    enum log_level log_level;
    char *worker_id;             /* "" = hostname-pid, decided at runtime */
    struct lf_coord_config coord;
    struct lf_aws_config aws;
    struct lf_s3_config s3;
    struct lf_kinesis_config kinesis;
    struct lf_lease_config lease;
    struct lf_shutdown_config shutdown;
    struct lf_http_config http;
    size_t n_backends;
    struct lf_backend *backends;
    char *app;                   /* application name: lease and ledger namespace */
    struct lf_router_config router;
    struct lf_manifest_config manifest;
    struct lf_loader_config loader;
    struct lf_tables_config tables;
    size_t n_types;
    struct lf_type *types;
};

/* ---- loading ------------------------------------------------------------ */

/* Defaults, then the file at path (NULL: none, environment only), then the
 * environment; validates everything.  On failure e->msg names the file,
 * line and key ("logfleet.conf:7: aws.max_attempts: expected an integer in
 * [1, 20], got 0") and *out is left zeroed. */
int config_load(const char *path, struct lf_config *out, struct err *e);
/* The same for text in memory; name stands for the file in messages. */
int config_load_string(const char *text, const char *name, struct lf_config *out,
                       struct err *e);
/* Frees every owned field and zeroes c.  NULL-safe. */
void config_free(struct lf_config *c);

/* Writes c in libconfig syntax that config_load reads back; non-empty
 * secrets are written as "***".  Returns 0, or -1 on a write error. */
int config_print(FILE *f, const struct lf_config *c);
/* Writes the Markdown reference (docs/config.md).  Returns 0 or -1. */
int config_doc_markdown(FILE *f);

/* A parsed column spec of a log type. */
enum lf_col_type {
    LF_COL_TEXT = 0,
    LF_COL_VARCHAR,
    LF_COL_INT,
    LF_COL_BIGINT,
    LF_COL_DOUBLE,
    LF_COL_BOOLEAN,
    LF_COL_TIMESTAMP,
};
struct lf_column {
    char name[64];
    enum lf_col_type type;
    int length;                  /* varchar(N) */
    bool required;
};
/* Parses "name:type[:required]"; 0 or -1. */
int lf_column_parse(const char *spec, struct lf_column *out);
/* The type's row in c->types, or NULL. */
/* Whether S3 uploads go UNSIGNED-PAYLOAD with a CRC-32 (s3.payload_signing,
 * "auto" resolved against s3.endpoint). */
bool lf_s3_unsigned_payload(const struct lf_config *c);
const struct lf_type *lf_type_find(const struct lf_config *c, const char *name, size_t len);

/* ---- the table (for the engine, docs and tests) ------------------------- */

enum config_kind {
    CONFIG_KIND_STRING,          /* char *, owned */
    CONFIG_KIND_INT,             /* int, in [min, max] */
    CONFIG_KIND_INT64,           /* int64_t, in [min, max] */
    CONFIG_KIND_BOOL,            /* bool */
    CONFIG_KIND_DOUBLE,          /* double, in [dmin, dmax] */
    CONFIG_KIND_ENUM,            /* a C enum; the index into values */
    CONFIG_KIND_DURATION,        /* int milliseconds, in [min, max] */
    CONFIG_KIND_STRINGS,         /* char ** + size_t count */
    CONFIG_KIND_GROUPS,          /* array of structs (sub) + size_t count */
};

#define CONFIG_F_SECRET 0x1u     /* never printed, logged or echoed */
#define CONFIG_F_REQUIRED 0x2u   /* must be set (strings: and non-empty) */
#define CONFIG_F_UNIQUE 0x4u     /* in a list of groups: no two elements equal */

/* An extra check on a string value (and on each string of a list). */
struct config_check {
    bool (*ok)(const char *v);
    const char *expect;          /* "a name matching ^[a-z_][a-z0-9_]{0,62}$" */
};

/* Cross-key validation reports one problem: the key (relative to the
 * table) and what is wrong with it. */
struct config_problem {
    const char *key;
    char msg[160];
};

struct config_table;

struct config_entry {
    const char *name;            /* dotted path inside its table: "aws.region" */
    enum config_kind kind;
    size_t offset;               /* of the field in the table's struct */
    size_t count_offset;         /* STRINGS, GROUPS: of the size_t count */
    int64_t min, max;            /* INT, INT64, DURATION */
    double dmin, dmax;           /* DOUBLE */
    const char *def;             /* default as text, as in the environment;
                                    NULL: "" / 0 / empty list */
    unsigned flags;              /* CONFIG_F_* */
    const char *const *values;   /* ENUM: allowed values in enum order, NULL-ended */
    const struct config_check *check; /* STRING, STRINGS */
    const struct config_table *sub;   /* GROUPS: the element's keys */
    const char *env;             /* NULL: LOGFLEET_<NAME>; top-level table only */
    const char *help;
};

struct config_table {
    const struct config_entry *entries;
    size_t n;
    size_t size;                 /* sizeof the struct the offsets point into */
    /* Cross-key checks on a filled struct: 0, or -1 with *p filled. */
    int (*validate)(const void *obj, struct config_problem *p);
};

/* A heading for the docs: keys "name.*" (name "" = ungrouped keys). */
struct config_group_doc {
    const char *name;
    const char *title;
    const char *help;
};

const struct config_table *config_table(void);
const struct config_group_doc *config_group_docs(size_t *n);
/* The environment variable that overrides a top-level entry. */
void config_env_name(const struct config_entry *en, char *out, size_t n);

#endif
