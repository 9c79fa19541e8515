/* init.c — `logfleetctl init`: create or migrate the coordination schema.
 *
 * Runs lease_migrate (idempotent, advisory-locked) and reports which
 * migration versions this run applied, by reading schema_migrations before
 * and after.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/mem.h"
#include "common/pg.h"
#include "lease/schema.h"
#include "ops/ctl.h"
#include "ops/ctlutil.h"

static const char usage[] = "usage: logfleetctl init\n"
                            "  creates the coordination schema (coord.schema) and applies every\n"
                            "  missing migration; safe to run again\n";

/* Bitmask of recorded migration versions (1..63); 0 if the table is absent. */
static int recorded(const char *dsn, const char *schema, uint64_t *mask, struct err *e)
{
    PGconn *pg;
    *mask = 0;
    if (pg_connect(dsn, 10, &pg, e)) return -1;
    char *rel = xasprintf("%s.schema_migrations", schema);
    char *sql = xasprintf("SELECT version FROM %s.schema_migrations", schema);
    const char *p[] = {rel};
    PGresult *r = NULL;
    int rc = pg_execp(pg, "SELECT to_regclass($1) IS NOT NULL", 1, p, &r, e);
    int exists = rc == 0 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    r = NULL;
    if (rc == 0 && exists) rc = pg_execp(pg, sql, 0, NULL, &r, e);
    for (int i = 0; r && i < PQntuples(r); i++) {
        long v = strtol(PQgetvalue(r, i, 0), NULL, 10);
        if (v >= 1 && v <= 63) *mask |= 1ull << v;
    }
    PQclear(r);
    PQfinish(pg);
    free(rel);
    free(sql);
    return rc ? -1 : 0;
}

static int cmd_init(const struct lf_config *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) return ctl_usage_error("init", usage, "unexpected argument \"%s\"", argv[1]);
    const char *schema = c->coord.schema;
    struct err e = {0};
    uint64_t before, after;
    if (recorded(c->coord.dsn, schema, &before, &e) || lease_migrate(c->coord.dsn, schema, &e) ||
        recorded(c->coord.dsn, schema, &after, &e)) {
        fprintf(stderr, "logfleetctl init: %s\n", e.msg);
        return 1;
    }
    int applied = 0, latest = lease_schema_latest();
    for (int v = 1; v <= latest && v <= 63; v++) {
        if ((after & (1ull << v)) && !(before & (1ull << v))) {
            printf("applied migration %d to schema %s\n", v, schema);
            applied++;
        }
    }
    if (!applied)
        printf("schema %s is up to date (version %d)\n", schema, latest);
    else
        printf("schema %s is at version %d\n", schema, latest);
    return 0;
}

CTL_COMMAND(init, "init", true, cmd_init, "create or migrate the coordination schema")
