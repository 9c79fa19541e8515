/* t_lease_fix.h — fixtures for the lease/ integration tests.
 *
 * Each test gets its own schema (lt_<random>) migrated fresh, so tests run
 * in any order and against shared stacks.  Helpers abort the test on
 * failure.
 */
#ifndef LOGFLEET_T_LEASE_FIX_H
#define LOGFLEET_T_LEASE_FIX_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "lease/lease.h"

#define LT_APP "app1"

/* Creates and migrates a fresh schema; returns its name (static). */
const char *lt_schema(void);
/* Name of the schema made by lt_schema. */
const char *lt_schema_name(void);
/* Drops the schema made by lt_schema. */
void lt_drop(void);
/* Runs SQL; "@." is replaced by "<schema>."; returns the first value of the
 * first row as a new string ("" if no row, "(null)" for NULL). */
char *lt_q(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs sql on pg; the first value of the first row as a new string ("" if
 * no row, "(null)" for NULL).  A failed statement exits, naming who. */
char *lt_first_value(PGconn *pg, const char *sql, const char *who);
/* lt_q's answer as an integer. */
long long lt_qi(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Inserts n unowned leases "shard-000".."shard-<n-1>" at TRIM_HORIZON. */
void lt_leases(int n);

struct lt_opts {
    const char *worker;
    const char *app;        /* NULL: LT_APP */
    int64_t duration_ms;
    bool graceful;
    int max_steal;
    int max_leases;
    int64_t handoff_timeout_ms;
};
/* A registered coordinator on COORD_DSN and the fixture schema. */
struct lease_coord *lt_coord(const struct lt_opts *o);

/* Leases in state st (st < 0: any) in c's snapshot. */
int lt_count(struct lease_coord *c, int st);
/* State of key in c's snapshot, or -1 if not there. */
int lt_state(struct lease_coord *c, const char *key);
/* Token of key in c's snapshot ("" if absent), into out[33]. */
void lt_token(struct lease_coord *c, const char *key, char out[33]);
/* Sorts a space separated word list in place. */
void lt_sort_words(char *list);
/* Number of pending events of kind, consuming all events; the keys of the
 * matching ones go to keys (space separated, sorted) if keys != NULL. */
int lt_events(struct lease_coord *c, int kind, char *keys, size_t cap);
void lt_sleep_ms(int64_t ms);
int64_t lt_now_ms(void);

#endif
