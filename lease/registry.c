/* registry.c — workers table (register, heartbeat, drain flag) and the
 * ops views of leases and workers.
 */
#include "lease/registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "lease/lease_int.h"
#include "lease/schema.h"
#include "lease/sql.h"

#define SQL_REGISTER                                                                     \
    "INSERT INTO @.workers (app, worker_id, started_at, heartbeat_at, leases_held, draining)" \
    " VALUES ($1, $2, now(), now(), $3, false)"                                         \
    " ON CONFLICT (app, worker_id) DO UPDATE SET started_at = now(), heartbeat_at = now()," \
    " leases_held = $3, draining = false"

#define SQL_HEARTBEAT                                                                    \
    "UPDATE @.workers SET heartbeat_at = now(), leases_held = $3"                       \
    " WHERE app = $1 AND worker_id = $2 RETURNING draining"

#define SQL_DEREGISTER "DELETE FROM @.workers WHERE app = $1 AND worker_id = $2"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static int count_held(struct lease_coord *c, char out[16])
{
    size_t n = 0;
    for (size_t i = 0; i < c->nheld; i++) n += c->held[i].state != LEASE_PENDING_HANDOFF_IN;
    snprintf(out, 16, "%zu", n);
    return (int)n;
}

int lease_worker_register(struct lease_coord *c, struct err *e)
{
    lease_lock(c);
    char n[16];
    count_held(c, n);
    const char *p[] = {c->app, c->me, n};
    PGresult *r = lease_q(c, SQL_REGISTER, 3, p, e);
    if (r) {
        c->draining = false;
        log_info("lease", "worker_registered worker=%s app=%s", c->me, c->app);
    }
    PQclear(r);
    lease_unlock(c);
    return r ? 0 : LEASE_E_STORE;
}

int lease_worker_deregister(struct lease_coord *c, struct err *e)
{
    lease_lock(c);
    const char *p[] = {c->app, c->me};
    PGresult *r = lease_q(c, SQL_DEREGISTER, 2, p, e);
    PQclear(r);
    lease_unlock(c);
    return r ? 0 : LEASE_E_STORE;
}

int lease_heartbeat_locked(struct lease_coord *c, struct err *e)
{
    char n[16];
    count_held(c, n);
    const char *p[] = {c->app, c->me, n};
    PGresult *r = lease_q(c, SQL_HEARTBEAT, 3, p, e);
    if (!r) return LEASE_E_STORE;
    bool drain = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    int rows = PQntuples(r);
    PQclear(r);
    if (rows == 0) { /* row deleted under us (or never registered): re-register */
        r = lease_q(c, SQL_REGISTER, 3, p, e);
        if (!r) return LEASE_E_STORE;
        PQclear(r);
        if (c->draining) { /* keep the registry truthful while we drain */
            const char *q[] = {c->app, c->me};
            r = lease_q(c, "UPDATE @.workers SET draining = true WHERE app = $1 AND worker_id = $2",
                        2, q, e);
            if (!r) return LEASE_E_STORE;
            PQclear(r);
        }
    }
    if (drain && !c->draining) lease_drain_locked(c);
    return 0;
}

/* ---- ops views ---------------------------------------------------------- */

/* Runs one statement on a fresh connection; "@." becomes "<schema>.". */
static PGresult *ops_query(const char *dsn, const char *schema, const char *sql, int n,
                           const char *const *p, struct err *e)
{
    if (!schema) schema = LEASE_SCHEMA_DEFAULT;
    if (!lease_ident_valid(schema)) {
        err_set(e, LEASE_E_INVAL, ERR_PERMANENT, "invalid schema name \"%s\"", schema);
        return NULL;
    }
    struct buf b;
    buf_init(&b, 1 << 16);
    for (const char *s = sql; *s; s++) {
        if (s[0] == '@' && s[1] == '.') buf_puts(&b, schema);
        else buf_append(&b, s, 1);
    }
    PGconn *pg;
    PGresult *r = NULL;
    if (lease_sql_connect(dsn, 10000, &pg, e) == 0) {
        r = lease_sql_exec(pg, b.data, n, p, LEASE_E_STORE, e);
        PQfinish(pg);
    } else if (e) e->code = LEASE_E_STORE;
    buf_free(&b);
    return r;
}

static char *dup_or_null(const PGresult *r, int i, int c)
{
    const char *s = lease_sql_get(r, i, c);
    return s ? xstrdup(s) : NULL;
}

int lease_list(const char *dsn, const char *schema, const char *app, struct lease_row **out,
               size_t *n, struct err *e)
{
    *out = NULL;
    *n = 0;
    const char *p[] = {app};
    PGresult *r = ops_query(dsn, schema,
                            "SELECT lease_key, lease_owner, checkpoint_owner, lease_counter,"
                            " checkpoint, checkpoint_sub, owner_switches, parent_keys, child_keys,"
                            " throughput_kbps, " TS("updated_at")
                            " FROM @.leases WHERE app = $1 ORDER BY lease_key COLLATE \"C\"",
                            1, p, e);
    if (!r) return LEASE_E_STORE;
    size_t k = (size_t)PQntuples(r);
    struct lease_row *v = k ? xcalloc(k, sizeof *v) : NULL;
    for (int i = 0; i < (int)k; i++) {
        v[i].key = xstrdup(PQgetvalue(r, i, 0));
        v[i].owner = dup_or_null(r, i, 1);
        v[i].checkpoint_owner = dup_or_null(r, i, 2);
        v[i].counter = lease_sql_get_i64(r, i, 3);
        v[i].checkpoint = xstrdup(PQgetvalue(r, i, 4));
        v[i].checkpoint_sub = lease_sql_get_i64(r, i, 5);
        v[i].owner_switches = lease_sql_get_i64(r, i, 6);
        lease_sql_parse_array(PQgetvalue(r, i, 7), &v[i].parents, &v[i].nparents);
        lease_sql_parse_array(PQgetvalue(r, i, 8), &v[i].children, &v[i].nchildren);
        v[i].throughput_kbps = strtod(PQgetvalue(r, i, 9), NULL);
        v[i].updated_at = xstrdup(PQgetvalue(r, i, 10));
    }
    PQclear(r);
    *out = v;
    *n = k;
    return 0;
}

void lease_rows_free(struct lease_row *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].owner);
        free(v[i].checkpoint_owner);
        free(v[i].checkpoint);
        lease_sql_strv_free(v[i].parents, v[i].nparents);
        lease_sql_strv_free(v[i].children, v[i].nchildren);
        free(v[i].updated_at);
    }
    free(v);
}

int lease_workers_list(const char *dsn, const char *schema, const char *app,
                       struct lease_worker_row **out, size_t *n, struct err *e)
{
    *out = NULL;
    *n = 0;
    const char *p[] = {app};
    PGresult *r = ops_query(dsn, schema,
                            "SELECT worker_id, " TS("started_at") ", " TS("heartbeat_at")
                            ", leases_held, draining FROM @.workers WHERE app = $1"
                            " ORDER BY worker_id COLLATE \"C\"",
                            1, p, e);
    if (!r) return LEASE_E_STORE;
    size_t k = (size_t)PQntuples(r);
    struct lease_worker_row *v = k ? xcalloc(k, sizeof *v) : NULL;
    for (int i = 0; i < (int)k; i++) {
        v[i].worker_id = xstrdup(PQgetvalue(r, i, 0));
        v[i].started_at = xstrdup(PQgetvalue(r, i, 1));
        v[i].heartbeat_at = xstrdup(PQgetvalue(r, i, 2));
        v[i].leases_held = (int)lease_sql_get_i64(r, i, 3);
        v[i].draining = PQgetvalue(r, i, 4)[0] == 't';
    }
    PQclear(r);
    *out = v;
    *n = k;
    return 0;
}

void lease_worker_rows_free(struct lease_worker_row *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].worker_id);
        free(v[i].started_at);
        free(v[i].heartbeat_at);
    }
    free(v);
}

int lease_worker_set_draining(const char *dsn, const char *schema, const char *app,
                              const char *worker_id, bool draining, struct err *e)
{
    const char *p[] = {app, worker_id, draining ? "true" : "false"};
    PGresult *r = ops_query(dsn, schema,
                            "UPDATE @.workers SET draining = $3::boolean"
                            " WHERE app = $1 AND worker_id = $2",
                            3, p, e);
    if (!r) return LEASE_E_STORE;
    bool found = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    if (!found)
        return err_set(e, LEASE_E_NOTFOUND, ERR_PERMANENT, "no worker %s in app %s", worker_id, app);
    return 0;
}
