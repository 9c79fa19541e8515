/* ctlutil.h — small helpers shared by logfleetctl's subcommands.
 *
 * Strict parsing of numeric arguments, the usage-error convention (one line
 * with the reason, the command's usage, exit status 2), and AWS clients
 * built from the loaded configuration.  The credentials provider is
 * thread-safe and may be shared; each struct kin is used by one thread at a
 * time (make one per thread).  Results are owned by the caller.
 */
#ifndef LOGFLEET_CTLUTIL_H
#define LOGFLEET_CTLUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/aws.h"
#include "common/config.h"
#include "common/kinesis.h"

/* Whole-string decimal integer in [min, max]: 0, or -1. */
int ctl_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Whole-string unsigned decimal integer: 0, or -1. */
int ctl_parse_u64(const char *s, uint64_t *out);
/* Whole-string finite number in [min, max]: 0, or -1. */
int ctl_parse_double(const char *s, double min, double max, double *out);

/* Prints "logfleetctl <cmd>: <reason>" and the command's usage to stderr;
 * returns 2, so a run function can `return ctl_usage_error(...)`. */
int ctl_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets getopt so a subcommand can parse its own argv (argv[0] = name),
 * silently: use optstrings starting with "+:" and report what getopt_long
 * returned for a bad option ('?' or ':') with ctl_bad_option. */
void ctl_getopt_reset(void);
/* The usage error for a bad option; returns 2. */
int ctl_bad_option(const char *usage, int ch, char **argv);

/* The credentials chain as the config describes it (aws.*). */
int ctl_creds_new(const struct lf_config *c, struct aws_creds_provider **out, struct err *e);
/* A Kinesis client on kinesis.endpoint with the config's timeouts and
 * retries; cp is borrowed and must outlive the client. */
int ctl_kin_new(const struct lf_config *c, struct aws_creds_provider *cp, struct kin **out,
                struct err *e);

/* Wall-clock and monotonic time in milliseconds. */
int64_t ctl_now_ms(void);
int64_t ctl_mono_ms(void);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" (as lease/registry.h returns) to epoch
 * ms: 0, or -1. */
int ctl_iso8601_ms(const char *s, int64_t *out);

/* A plain text table: columns padded to their widest cell, two spaces
 * apart.  Cells are copied. */
struct ctl_table {
    size_t ncols, nrows, cap;
    char **cells;
};
void ctl_table_init(struct ctl_table *t, size_t ncols);
/* Appends a row of ncols cells (NULL cells print as "-"). */
void ctl_table_add(struct ctl_table *t, const char *const *row);
void ctl_table_print(FILE *f, const struct ctl_table *t);
void ctl_table_free(struct ctl_table *t);

#endif
