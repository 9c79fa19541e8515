/* manifest.h — ledgered objects become Redshift manifests, per (type, day).
 *
 * A build pass looks at the object ledger (coordination DB, `objects`) for
 * ledgered, non-dead objects with manifest_id NULL and, per (type, day),
 * under a per-type transaction advisory lock (so concurrent builders in
 * any number of processes never share an object):
 *   1. takes up to manifest.max_objects of them, oldest first;
 *   2. allocates the manifest id (nextval), so the key is deterministic:
 *      <s3.prefix><manifest.prefix><type>/<yyyy>/<mm>/<dd>/<type>-<yyyymmdd>-<id>.manifest
 *      and PUTs the manifest there (If-None-Match: *);
 *   3. in the same PG transaction inserts the manifests row, sets
 *      objects.manifest_id, and inserts one `loads` row (pending) per backend
 *      whose `types` include the type.
 * A crash between the PUT and the COMMIT leaves an unledgered manifest
 * object that nothing loads; the objects stay free for the next pass.
 *
 * Threads: manifest_builder_start runs one thread that builds every
 * manifest.interval_ms, and sooner for a (type, day) that has max_objects
 * pending (checked every min(interval, 500 ms)).  manifest_build_once is one
 * full pass with its own connections, for tests and tools; both may run at
 * the same time as other builders anywhere.
 */
#ifndef LOGFLEET_MANIFEST_H
#define LOGFLEET_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/err.h"

/* One data object of a manifest. */
struct manifest_entry {
    const char *key;       /* relative to the bucket */
    int64_t bytes;         /* its size in S3 (meta.content_length) */
};

/* Appends the manifest JSON (no whitespace):
 *   {"entries":[{"url":"s3://<bucket>/<key>","mandatory":true,
 *                "meta":{"content_length":N}},...]}
 * With error_json (a JSON object text) it becomes an error manifest: the same
 * entries, then ,"error":<error_json>.  0, or -E2BIG past out's max. */
int manifest_json(struct buf *out, const char *bucket, const struct manifest_entry *v, size_t n,
                  const char *error_json);

/* The key of manifest id for (type, day) under prefix (manifest.prefix or
 * manifest.error_prefix); suffix (NULL: none) goes before ".manifest",
 * e.g. ".wh_b" for a backend's error manifest. */
void manifest_key(char *out, size_t n, const struct lf_config *c, const char *prefix,
                  const char *type, int day, int64_t id, const char *suffix);

struct manifest_result {
    int manifests;           /* built (ledgered) */
    int64_t objects;
    int64_t records;
    int64_t bytes;
    int types_busy;          /* types skipped: another builder held the lock */
};

/* One full pass over every pending (type, day); adds to *r (zero it first).
 * c is borrowed for the call. */
int manifest_build_once(const struct lf_config *c, struct manifest_result *r, struct err *e);

struct manifest_builder;

/* Starts the builder thread.  c is borrowed and must outlive the builder. */
int manifest_builder_start(const struct lf_config *c, struct manifest_builder **out,
                           struct err *e);
/* Stops the thread (after its current pass), joins and frees.  NULL-safe. */
void manifest_builder_stop(struct manifest_builder *b);
/* Totals since start.  Any thread. */
void manifest_builder_stats(struct manifest_builder *b, struct manifest_result *total);

#endif
