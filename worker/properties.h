/* properties.h — KCL MultiLangDaemon .properties files (reference/kcl.md §A.2).
 *
 * kcl_props_scan parses the java.util.Properties text format (key = value,
 * key: value, key value; # and ! comments; trailing-backslash continuation;
 * \uXXXX and \t \n \r \f escapes; keys case-sensitive; quotes kept) and
 * hands each key/value pair to a callback.  kcl_props_parse maps the keys
 * logfleetd supports onto struct kcl_props through one table (properties.c)
 * and keeps unknown keys so the caller can log them at debug.  Input bytes
 * are taken as UTF-8 (Java reads the file as ISO-8859-1; only non-ASCII
 * values differ) and \uXXXX escapes are encoded as UTF-8.
 * The caller owns struct kcl_props and frees it with kcl_props_free.
 * Pure functions, no global state.
 */
#ifndef LOGFLEET_PROPERTIES_H
#define LOGFLEET_PROPERTIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum kcl_initial_pos {
    KCL_POS_TRIM_HORIZON = 0,
    KCL_POS_LATEST,
    KCL_POS_AT_TIMESTAMP,    /* from initialPositionInStreamExtended */
};

struct kcl_kv {
    char *key;
    char *value;
    int line;
};

struct kcl_props {
    char *executable_name;         /* required; see kcl_props_split_command */
    char *application_name;        /* required */
    char *stream_name;             /* required (or taken from stream_arn) */
    char *stream_arn;              /* wins over streamName when both are set */
    char *table_name;              /* default: application_name */
    char *region_name;             /* NULL: the AWS client's default chain */
    char *kinesis_endpoint;
    char *worker_id;               /* NULL: logfleetd picks one */
    char *credentials_provider;    /* AwsCredentialsProvider: recorded, unused */
    /* Default TRIM_HORIZON.  (Java KCL, when the key is unset, uses
     * TRIM_HORIZON for new leases but LATEST for retrieval; we pick the one
     * that never skips records.) */
    enum kcl_initial_pos initial_position;
    int64_t initial_timestamp_ms;  /* AT_TIMESTAMP; the file gives seconds */
    int64_t failover_time_ms;                    /* 10000 */
    int64_t max_records;                         /* 10000, at most 10000 */
    int64_t idle_time_between_reads_ms;          /* 1500 */
    int64_t shard_sync_interval_ms;              /* 60000 */
    int64_t timeout_s;                           /* 0: no per-action timeout */
    int64_t shutdown_grace_ms;                   /* 0 */
    bool call_process_records_even_for_empty_record_list; /* false */
    int64_t parent_shard_poll_interval_ms;       /* 10000 */
    bool cleanup_leases_upon_shard_completion;   /* true */
    int64_t max_leases_for_worker;               /* INT32_MAX: unlimited */
    int64_t max_leases_to_steal_at_one_time;     /* 1 */
    int64_t task_backoff_time_ms;                /* 500 */
    bool graceful_lease_handoff_enabled;         /* true */
    int64_t graceful_lease_handoff_timeout_ms;   /* 30000 */

    struct kcl_kv *unknown;        /* keys not in the table, file order */
    size_t n_unknown;
    char **warnings;               /* accepted-but-odd values, "file:line: ..." */
    size_t n_warnings;
};

/* Called once per key/value pair in file order; line is where the logical
 * line starts.  A non-zero return stops the scan and is returned. */
typedef int (*kcl_props_cb)(void *ctx, const char *key, const char *value, int line,
                            struct err *e);

/* name is used in error messages ("name:line: ...").  Returns 0 or the
 * callback's / a parse error's negative code (malformed \uXXXX). */
int kcl_props_scan(const char *text, size_t len, const char *name, kcl_props_cb cb, void *ctx,
                   struct err *e);

/* Fills *p (defaults, then the file).  Errors name file:line, the key and
 * what was expected; missing required keys name the file. */
int kcl_props_parse(const char *text, size_t len, const char *name, struct kcl_props *p,
                    struct err *e);
int kcl_props_load(const char *path, struct kcl_props *p, struct err *e);
void kcl_props_free(struct kcl_props *p);

/* Splits executableName on runs of spaces, as the Java daemon does (no
 * shell, no quoting, tabs are not separators).  *argv_out is a new
 * NULL-terminated array freed with kcl_props_free_argv.  Returns argc (>0)
 * or a negative code if the command is empty. */
int kcl_props_split_command(const char *cmd, char ***argv_out, struct err *e);
void kcl_props_free_argv(char **argv);

#endif
