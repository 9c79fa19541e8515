/* registry.h — the worker registry and the lease table as ops see them.
 *
 * These work from a DSN with a short-lived connection of their own (for
 * logfleetctl: `leases`, `workers`, `drain WORKER`); the coordinator's own
 * registration and heartbeat (lease_worker_register/_deregister, heartbeat
 * in lease_renew) are declared in lease/lease.h.  Results are owned by the
 * caller.  Thread-safe (no shared state).
 */
#ifndef LOGFLEET_LEASE_REGISTRY_H
#define LOGFLEET_LEASE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct lease_row {
    char *key;
    char *owner;              /* NULL: unowned */
    char *checkpoint_owner;   /* NULL unless a handoff is in progress */
    int64_t counter;
    char *checkpoint;
    int64_t checkpoint_sub;
    int64_t owner_switches;
    char **parents;
    size_t nparents;
    char **children;
    size_t nchildren;
    double throughput_kbps;
    char *updated_at;         /* ISO 8601, UTC */
};

struct lease_worker_row {
    char *worker_id;
    char *started_at, *heartbeat_at; /* ISO 8601, UTC */
    int leases_held;
    bool draining;
};

/* Every lease of app, ordered by key.  schema NULL: "logfleet". */
int lease_list(const char *dsn, const char *schema, const char *app, struct lease_row **out,
               size_t *n, struct err *e);
void lease_rows_free(struct lease_row *v, size_t n);
int lease_workers_list(const char *dsn, const char *schema, const char *app,
                       struct lease_worker_row **out, size_t *n, struct err *e);
void lease_worker_rows_free(struct lease_worker_row *v, size_t n);
/* Sets a worker's draining flag; the worker sees it at its next renew and
 * hands all its leases off.  LEASE_E_NOTFOUND if no such worker. */
int lease_worker_set_draining(const char *dsn, const char *schema, const char *app,
                              const char *worker_id, bool draining, struct err *e);

#endif
