/* taker.h — the taker's arithmetic, exposed for unit tests and ops.
 * Pure functions; lease_take itself is declared in lease/lease.h.
 */
#ifndef LOGFLEET_LEASE_TAKER_H
#define LOGFLEET_LEASE_TAKER_H

#include <stddef.h>

/* Leases per worker: 1 if workers >= leases, else ceil(leases / workers),
 * capped at max_leases when it is > 0. */
int lease_target(size_t nleases, size_t nworkers, int max_leases);
/* How many leases to steal from the most loaded worker (KCL B.3 step 8):
 * above target: min(needed, count - target); at target with needed > 1: 1;
 * capped at max_steal; max_steal < 0 disables stealing. */
int lease_steal_count(int victim_count, int target, int needed, int max_steal);

#endif
