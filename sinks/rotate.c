/* rotate.c — daily creation, view replacement and expiry of day tables. */
#include "sinks/rotate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"

#define ECHO_MAX (64u << 20)

void rotate_window(const struct lf_config *c, int date, int *lo, int *hi)
{
    *lo = date - c->tables.retention_days + 1;
    *hi = date + c->tables.days_ahead;
}

static bool has_day(const int *days, size_t n, int d)
{
    for (size_t i = 0; i < n; i++)
        if (days[i] == d) return true;
    return false;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* (existing U extra[0..n_extra)) within [lo, hi], ascending, no repeats. */
static int *view_days(const int *existing, size_t n, const int *extra, size_t n_extra, int lo,
                      int hi, size_t *out_n)
{
    int *v = xcalloc(n + n_extra + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n + n_extra; i++) {
        int d = i < n ? existing[i] : extra[i - n];
        if (d >= lo && d <= hi && !has_day(v, k, d)) v[k++] = d;
    }
    qsort(v, k, sizeof *v, cmp_int);
    *out_n = k;
    return v;
}

static void ddl_lock_name(char *out, size_t n, const struct lf_config *c,
                          const struct lf_backend *b, const char *type)
{
    char what[160];
    snprintf(what, sizeof what, "ddl/%s", b->name);
    wh_lock_name(out, n, c, what, type, NULL);
}

/* The view over vdays (or no view when empty) and the drops, in one
 * transaction where the dialect allows it. */
static int publish(struct wh_sql *x, const struct dialect_ops *ops, const struct dialect_target *t,
                   const int *vdays, size_t nv, const int *drops, size_t nd,
                   struct rotate_result *r, struct err *e)
{
    int rc = ops->transactional_ddl ? wh_sql_run(x, "BEGIN", 0, NULL, NULL, e) : 0;
    if (rc == 0)
        rc = nv ? ops->create_or_replace_view(x, t, vdays, nv, e) : ops->drop_view(x, t, e);
    for (size_t i = 0; rc == 0 && i < nd; i++) rc = ops->drop_table(x, t, drops[i], e);
    if (ops->transactional_ddl && rc == 0) rc = wh_sql_commit(x, e);
    else if (ops->transactional_ddl) wh_sql_rollback(x);
    if (rc == 0) r->views_replaced += nv > 0, r->tables_dropped += (int)nd;
    return rc;
}

/* Steps 1-3 for one (backend, type); the caller holds the locks. */
static int rotate_type(const struct lf_config *c, struct wh_sql *x, const struct dialect_ops *ops,
                       const struct dialect_target *t, int date, struct rotate_result *r,
                       struct err *e)
{
    int *have = NULL, lo, hi;
    size_t n = 0;
    rotate_window(c, date, &lo, &hi);
    int rc = ops->list_day_tables(x, t, &have, &n, e);
    int ahead[32], n_ahead = 0; /* days_ahead <= 30 */
    for (int d = date; rc == 0 && d <= hi; d++) {
        ahead[n_ahead++] = d;
        if (has_day(have, n, d)) continue;
        rc = ops->create_day_table(x, t, d, e);
        if (rc == 0) r->tables_created++;
    }
    int *drops = xcalloc(n + 1, sizeof *drops);
    size_t nd = 0, nv = 0;
    for (size_t i = 0; i < n; i++)
        if (have[i] < lo) drops[nd++] = have[i];
    int *v = view_days(have, n, ahead, (size_t)n_ahead, lo, hi, &nv);
    if (rc == 0) rc = publish(x, ops, t, v, nv, drops, nd, r, e);
    free(v);
    free(drops);
    free(have);
    return rc;
}

/* Every type b loads; dry-run statements appended to x->echo. */
static int rotate_backend(const struct lf_config *c, const struct lf_backend *b, PGconn *coord,
                          struct wh_sql *x, int date, bool locks, struct rotate_result *r,
                          FILE *out, struct err *e)
{
    const struct dialect_ops *ops = dialect_for(b->dialect);
    int rc = ops->ensure_ledger(x, b->schema, e);
    for (size_t i = 0; rc == 0 && i < c->n_types; i++) {
        if (!wh_backend_has_type(b, c->types[i].name)) continue;
        struct dialect_type t;
        if ((rc = dialect_type_init(&t, &c->types[i], c->router.time_field, e))) break;
        struct dialect_target tg = {b->schema, &t, b->copy_credentials};
        char lock[320];
        ddl_lock_name(lock, sizeof lock, c, b, t.name);
        struct rotate_result before = *r;
        if (locks) rc = pg_advisory_lock(coord, lock, e);
        if (rc == 0) rc = rotate_type(c, x, ops, &tg, date, r, e);
        struct err ignore;
        if (locks) pg_advisory_unlock(coord, lock, &ignore);
        if (rc == 0 && out)
            fprintf(out, "rotate backend=%s type=%s created=%d dropped=%d view=%s\n", b->name,
                    t.name, r->tables_created - before.tables_created,
                    r->tables_dropped - before.tables_dropped,
                    r->views_replaced > before.views_replaced ? "replaced" : "dropped");
        dialect_type_free(&t);
    }
    return rc;
}

/* Connects to b and rotates it; the dry-run SQL goes to o->out. */
static int rotate_one(const struct lf_config *c, const struct lf_backend *b, PGconn *coord,
                      const struct rotate_opts *o, struct rotate_result *r, struct err *e)
{
    PGconn *wh = NULL;
    if (wh_connect(b, dialect_for(b->dialect)->session_sql, &wh, e)) return -1;
    struct buf echo;
    buf_init(&echo, ECHO_MAX);
    struct wh_sql x = {.pg = o->dry_run ? NULL : wh, .catalog = wh,
                       .echo = o->dry_run ? &echo : NULL};
    int rc = rotate_backend(c, b, coord, &x, o->date, !o->dry_run, r, o->dry_run ? NULL : o->out,
                            e);
    if (o->dry_run && o->out) {
        fprintf(o->out, "-- backend %s (%s)\n%s", b->name, dialect_for(b->dialect)->name,
                echo.data ? echo.data : "");
    }
    buf_free(&echo);
    PQfinish(wh);
    return rc;
}

/* The app-wide rotation lock: try, else say so and wait. */
static int take_run_lock(const struct lf_config *c, PGconn *coord, const char *name,
                         struct rotate_result *r, struct err *e)
{
    int got = 0;
    if (wh_try_lock(coord, name, &got, e)) return -1;
    if (got) return 0;
    r->waited = true;
    log_info("rotate", "waiting reason=\"another rotate run holds the lock\" app=%s", c->app);
    return pg_advisory_lock(coord, name, e);
}

int rotate_run(const struct lf_config *c, const struct rotate_opts *o, struct rotate_result *r,
               struct err *e)
{
    memset(r, 0, sizeof *r);
    if (o->backend && !wh_backend_find(c, o->backend))
        return err_set(e, -ENOENT, ERR_PERMANENT, "rotate: no backend named \"%s\"", o->backend);
    PGconn *coord = NULL;
    char lock[256];
    wh_lock_name(lock, sizeof lock, c, "rotate", NULL, NULL);
    if (!o->dry_run && wh_coord_connect(c, &coord, e)) return -1;
    if (coord && take_run_lock(c, coord, lock, r, e)) {
        PQfinish(coord);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < c->n_backends; i++) {
        const struct lf_backend *b = &c->backends[i];
        if (o->backend && strcmp(o->backend, b->name) != 0) continue;
        struct err be = {0};
        if (rotate_one(c, b, coord, o, r, &be) == 0) continue;
        r->backends_failed++;
        log_error("rotate", "backend_failed backend=%s class=%s err=\"%s\"", b->name,
                  err_class_name(be.cls), be.msg);
        if (rc == 0) *e = be;
        rc = -1;
    }
    struct err ignore;
    if (coord) pg_advisory_unlock(coord, lock, &ignore);
    if (coord) PQfinish(coord);
    return rc;
}

int rotate_ensure_day(const struct lf_config *c, const struct lf_backend *b, PGconn *coord,
                      PGconn *wh, const struct dialect_type *t, int day, int *created,
                      struct err *e)
{
    const struct dialect_ops *ops = dialect_for(b->dialect);
    struct dialect_target tg = {b->schema, t, b->copy_credentials};
    struct wh_sql x = {.pg = wh, .catalog = wh};
    char lock[320];
    ddl_lock_name(lock, sizeof lock, c, b, t->name);
    *created = 0;
    if (pg_advisory_lock(coord, lock, e)) return -1;
    int *have = NULL, lo, hi;
    size_t n = 0, nv = 0;
    rotate_window(c, wh_today(), &lo, &hi);
    int rc = ops->list_day_tables(&x, &tg, &have, &n, e);
    if (rc == 0 && !has_day(have, n, day)) {
        rc = ops->create_day_table(&x, &tg, day, e);
        *created = rc == 0;
        int *v = view_days(have, n, &day, 1, lo, hi, &nv);
        if (rc == 0 && day >= lo && day <= hi) rc = ops->create_or_replace_view(&x, &tg, v, nv, e);
        free(v);
    }
    free(have);
    struct err ignore;
    pg_advisory_unlock(coord, lock, &ignore);
    return rc;
}
