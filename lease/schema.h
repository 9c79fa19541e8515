/* schema.h — the coordination schema in PostgreSQL and its migrations.
 *
 * Tables live in one schema (default "logfleet"): leases, workers and
 * schema_migrations, plus whatever later migrations add.  lease_migrate
 * applies the numbered migrations (the array in schema.c: append a string to
 * add one) in order, each in its own transaction, under a session advisory
 * lock derived from the schema name, so concurrent callers are safe and each
 * version is recorded once.  Migration SQL runs with search_path set to the
 * schema: write table names unqualified.  Thread-safe (no shared state).
 */
#ifndef LOGFLEET_LEASE_SCHEMA_H
#define LOGFLEET_LEASE_SCHEMA_H

#include <stdbool.h>

#include "common/err.h"

#define LEASE_SCHEMA_DEFAULT "logfleet"

/* True if s matches ^[a-z_][a-z0-9_]{0,62}$ (safe to splice as an identifier). */
bool lease_ident_valid(const char *s);
/* Number of the newest migration. */
int lease_schema_latest(void);
/* Creates the schema if needed and applies every missing migration.
 * schema NULL means LEASE_SCHEMA_DEFAULT. */
int lease_migrate(const char *dsn, const char *schema, struct err *e);

#endif
