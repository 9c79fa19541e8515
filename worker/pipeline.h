/* pipeline.h — logfleetd's built-in path: router + manifest builder + loaders.
 *
 * pipeline_start migrates the coordination schema, builds the router (the
 * proc_factory the daemon hands each shard), starts the manifest builder and
 * one loader pool per configured backend; pipeline_stop stops them in
 * reverse order.  The router is freed only when the daemon shut down
 * cleanly (a consumer stuck past the grace may still use it; the process
 * exits right after).  Main thread only.
 */
#ifndef LOGFLEET_PIPELINE_H
#define LOGFLEET_PIPELINE_H

#include <stdbool.h>

#include "common/config.h"
#include "common/err.h"
#include "worker/proc_factory.h"

struct pipeline;

int pipeline_start(const struct lf_config *c, const char *worker_id, struct pipeline **out,
                   struct err *e);
/* The factory to put in daemon_cfg.consumer.factory; owned by p. */
struct proc_factory *pipeline_factory(struct pipeline *p);
void pipeline_stop(struct pipeline *p, bool clean);

#endif
