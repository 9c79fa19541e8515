/* pipeline.c — start and stop the router, manifest builder and loaders. */
#include "worker/pipeline.h"

#include "common/log.h"
#include "common/mem.h"
#include "lease/schema.h"
#include "sinks/loader.h"
#include "sinks/manifest.h"
#include "worker/router.h"

#include <stdlib.h>

struct pipeline {
    struct router *router;
    struct manifest_builder *builder;
    struct loader *loader;
    struct proc_factory factory;
};

int pipeline_start(const struct lf_config *c, const char *worker_id, struct pipeline **out,
                   struct err *e)
{
    struct pipeline *p = xcalloc(1, sizeof *p);
    if (lease_migrate(c->coord.dsn, c->coord.schema, e) < 0) goto fail;
    if (router_new(c, worker_id, &p->router, e) < 0) goto fail;
    if (manifest_builder_start(c, &p->builder, e) < 0) goto fail;
    if (loader_start(c, &p->loader, e) < 0) goto fail;
    p->factory = (struct proc_factory){.name = "router",
                                       .create = router_create_processor,
                                       .ctx = p->router,
                                       .call_empty = true};
    log_info("pipeline", "started types=%zu backends=%zu", c->n_types, c->n_backends);
    *out = p;
    return 0;
fail:
    pipeline_stop(p, true);
    return -1;
}

struct proc_factory *pipeline_factory(struct pipeline *p)
{
    return &p->factory;
}

void pipeline_stop(struct pipeline *p, bool clean)
{
    if (!p) return;
    loader_stop(p->loader);
    manifest_builder_stop(p->builder);
    if (clean) router_free(p->router);
    free(p);
}
