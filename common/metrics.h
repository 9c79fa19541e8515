/* metrics.h — the process's metrics registry, rendered as Prometheus text.
 *
 * Counters, gauges and histograms live in one global registry.  Register
 * once (usually at module start) and keep the pointer: registration takes a
 * mutex, the verbs (inc/add/set/observe) are lock-free C11 atomics that any
 * thread may call.  Metrics are never freed while the process runs (only
 * metrics_reset, for tests and exit), so pointers stay valid.
 * A family is a name with one HELP/TYPE; each distinct constant label set
 * ("reason=not_json,type=login") is its own series in it.  Registering the
 * same name + labels again returns the same series.  Invalid names/labels,
 * a kind or help or bucket clash with the family, or passing
 * METRICS_MAX_SERIES, returns NULL and logs why; every verb takes NULL as a
 * no-op, so a bad registration never crashes the hot path.
 */
#ifndef LOGFLEET_METRICS_H
#define LOGFLEET_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define METRICS_MAX_SERIES 4096
#define METRICS_MAX_BUCKETS 64

struct metrics_counter;
struct metrics_gauge;
struct metrics_histogram;

/* labels: NULL/"" or "name=value,name=value"; values may not hold ','.
 * Label names match [a-zA-Z_][a-zA-Z0-9_]*, no "__" prefix, no "le" on
 * histograms; the set is sorted by name, so the order given does not matter. */
struct metrics_counter *metrics_counter(const char *name, const char *help, const char *labels);
struct metrics_gauge *metrics_gauge(const char *name, const char *help, const char *labels);
/* bounds: strictly increasing finite upper bounds (1..METRICS_MAX_BUCKETS);
 * +Inf is implied.  Every series of a family must use the same bounds. */
struct metrics_histogram *metrics_histogram(const char *name, const char *help, const char *labels,
                                            const double *bounds, size_t nbounds);

void metrics_counter_inc(struct metrics_counter *c);
void metrics_counter_add(struct metrics_counter *c, uint64_t v);
uint64_t metrics_counter_get(const struct metrics_counter *c);

void metrics_gauge_set(struct metrics_gauge *g, double v);
void metrics_gauge_add(struct metrics_gauge *g, double v);   /* negative to decrease */
double metrics_gauge_get(const struct metrics_gauge *g);

void metrics_histogram_observe(struct metrics_histogram *h, double v);

/* Appends the exposition text (format 0.0.4) of every family, sorted by
 * name, series sorted by label text.  0, or -E2BIG if out's maximum is
 * reached (out then holds a truncated prefix). */
int metrics_render(struct buf *out);

/* 1 if name matches [a-zA-Z_:][a-zA-Z0-9_:]*. */
int metrics_name_valid(const char *name);

/* Frees every metric.  Only when no thread holds a metric pointer. */
void metrics_reset(void);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
