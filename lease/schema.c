/* schema.c — numbered migrations of the coordination schema.
 *
 * To add a migration append one string to `migrations`; its version is its
 * position + 1.  Never edit or reorder a released entry.  Each string may
 * hold several statements and runs in one transaction with search_path set
 * to the target schema.
 */
#include "lease/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "lease/sql.h"

static const char *const migrations[] = {
    /* 1: leases and the worker registry (KCL lease table, reference/kcl.md B.1). */
    "CREATE TABLE leases ("
    "  app text NOT NULL,"
    "  lease_key text NOT NULL,"
    "  lease_owner text,"
    "  lease_counter bigint NOT NULL DEFAULT 0,"
    "  checkpoint text NOT NULL,"
    "  checkpoint_sub bigint NOT NULL DEFAULT 0,"
    "  owner_switches bigint NOT NULL DEFAULT 0,"
    "  parent_keys text[] NOT NULL DEFAULT '{}',"
    "  child_keys text[] NOT NULL DEFAULT '{}',"
    "  checkpoint_owner text,"
    "  hash_start numeric,"
    "  hash_end numeric,"
    "  throughput_kbps double precision NOT NULL DEFAULT 0,"
    "  updated_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (app, lease_key));"
    "CREATE INDEX leases_owner_idx ON leases (app, lease_owner);"
    "CREATE TABLE workers ("
    "  app text NOT NULL,"
    "  worker_id text NOT NULL,"
    "  started_at timestamptz NOT NULL DEFAULT now(),"
    "  heartbeat_at timestamptz NOT NULL DEFAULT now(),"
    "  leases_held int NOT NULL DEFAULT 0,"
    "  draining boolean NOT NULL DEFAULT false,"
    "  PRIMARY KEY (app, worker_id));",
    /* 2: the object ledger, manifests, loads and dead-letter counts (DESIGN.md,
     * "The router path" and "Manifests and loads").  An object holds records of
     * ONE shard and one (type, day): [first, last] is its sequence range, and
     * every record of that shard, type and day inside the range is in it. */
    "CREATE TABLE objects ("
    "  object_id bigserial PRIMARY KEY,"
    "  app text NOT NULL,"
    "  key text NOT NULL UNIQUE,"
    "  log_type text NOT NULL,"
    "  day date NOT NULL,"
    "  shard text NOT NULL,"
    "  first_seq numeric NOT NULL,"
    "  first_sub bigint NOT NULL,"
    "  last_seq numeric NOT NULL,"
    "  last_sub bigint NOT NULL,"
    "  records bigint NOT NULL,"
    "  bytes bigint NOT NULL,"
    "  raw_bytes bigint NOT NULL,"
    "  dead boolean NOT NULL DEFAULT false,"
    "  worker_id text NOT NULL,"
    "  manifest_id bigint,"
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX objects_shard_idx ON objects (app, shard, last_seq);"
    "CREATE INDEX objects_unmanifested_idx ON objects (app, log_type, day)"
    "  WHERE manifest_id IS NULL AND NOT dead;"
    "CREATE TABLE manifests ("
    "  manifest_id bigserial PRIMARY KEY,"
    "  app text NOT NULL,"
    "  key text NOT NULL UNIQUE,"
    "  log_type text NOT NULL,"
    "  day date NOT NULL,"
    "  objects int NOT NULL,"
    "  records bigint NOT NULL,"
    "  bytes bigint NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE loads ("
    "  manifest_id bigint NOT NULL REFERENCES manifests,"
    "  backend text NOT NULL,"
    "  state text NOT NULL DEFAULT 'pending'"
    "    CHECK (state IN ('pending', 'running', 'done', 'failed')),"
    "  attempts int NOT NULL DEFAULT 0,"
    "  last_error text,"
    "  first_attempt_at timestamptz,"
    "  next_attempt_at timestamptz NOT NULL DEFAULT now(),"
    "  rows_loaded bigint,"
    "  updated_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (manifest_id, backend));"
    "CREATE INDEX loads_queue_idx ON loads (backend, state, next_attempt_at);"
    "CREATE TABLE dead_letters ("
    "  app text NOT NULL,"
    "  reason text NOT NULL,"
    "  records bigint NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (app, reason));",
};

#define NMIGRATIONS ((int)(sizeof migrations / sizeof *migrations))

bool lease_ident_valid(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || *s == '_')) return false;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok || n >= 63) return false;
    }
    return true;
}

int lease_schema_latest(void) { return NMIGRATIONS; }

/* Runs a parameterless script (several statements allowed). */
static int script(PGconn *pg, const char *sql, struct err *e)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
        msg[strcspn(msg, "\n")] = 0;
        rc = err_set(e, -1, lease_sql_class(pg, r), "migrate: %s", msg);
    }
    PQclear(r);
    return rc;
}

/* Applies migration v (1-based) in one transaction unless already recorded. */
static int apply_one(PGconn *pg, const char *schema, int v, struct err *e)
{
    char ver[16];
    snprintf(ver, sizeof ver, "%d", v);
    const char *p[] = {ver};
    char *set_path = xasprintf("BEGIN; SET LOCAL search_path TO %s", schema);
    char *check = xasprintf("SELECT 1 FROM %s.schema_migrations WHERE version = $1", schema);
    char *record = xasprintf("INSERT INTO %s.schema_migrations (version) VALUES ($1)", schema);
    int rc = script(pg, set_path, e);
    PGresult *r = NULL;
    if (rc == 0) r = lease_sql_exec(pg, check, 1, p, -1, e);
    if (!r) rc = -1;
    else if (PQntuples(r) == 0) {
        rc = script(pg, migrations[v - 1], e);
        if (rc == 0) rc = lease_sql_cmd(pg, record, 1, p, -1, e);
        if (rc == 0) log_info("lease", "migrated schema=%s version=%d", schema, v);
    }
    PQclear(r);
    if (rc == 0) rc = script(pg, "COMMIT", e);
    else PQclear(PQexec(pg, "ROLLBACK"));
    free(set_path);
    free(check);
    free(record);
    return rc;
}

int lease_migrate(const char *dsn, const char *schema, struct err *e)
{
    if (!schema) schema = LEASE_SCHEMA_DEFAULT;
    if (!lease_ident_valid(schema))
        return err_set(e, -22, ERR_PERMANENT, "migrate: invalid schema name \"%s\"", schema);
    PGconn *pg;
    if (lease_sql_connect(dsn, 10000, &pg, e) < 0) return -1;
    char key[24];
    lease_sql_lock_key("migrate", schema, NULL, key);
    const char *p[] = {key};
    int rc = lease_sql_cmd(pg, "SELECT pg_advisory_lock($1::bigint)", 1, p, -1, e);
    if (rc == 0) {
        char *boot = xasprintf("CREATE SCHEMA IF NOT EXISTS %s;"
                               "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
                               "  version int PRIMARY KEY,"
                               "  applied_at timestamptz NOT NULL DEFAULT now())",
                               schema, schema);
        rc = script(pg, boot, e);
        free(boot);
        for (int v = 1; rc == 0 && v <= NMIGRATIONS; v++) rc = apply_one(pg, schema, v, e);
        struct err ignore;
        lease_sql_cmd(pg, "SELECT pg_advisory_unlock($1::bigint)", 1, p, -1, &ignore);
    }
    PQfinish(pg);
    return rc;
}
