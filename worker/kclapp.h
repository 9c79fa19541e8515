/* kclapp.h — a KCL MultiLangDaemon app run by logfleetd (--properties).
 *
 * kclapp_load reads the app's .properties (worker/properties.h); unknown
 * keys are logged at debug, odd values at warn.  kclapp_apply lays the keys
 * the file sets over the daemon settings taken from logfleet.conf: a key the
 * file does not set keeps logfleet.conf's value (so shutdown.grace_ms applies
 * unless shutdownGraceMillis is given), and settings logfleet.conf has no
 * key for take KCL's defaults (parentShardPollIntervalMillis,
 * taskBackoffTimeMillis, timeoutInSeconds, ...).  applicationName (or
 * tableName) is the lease namespace, streamName/streamArn the stream.
 * The app's factory makes one multilang processor (a child process) per
 * shard.
 *
 * Where the child runs.  KCL splits executableName on spaces and runs it in
 * the daemon's working directory (a bare program name is looked up on
 * PATH); logfleetd does the same, except that when a relative path in the
 * command (the program, or an argument such as `app.py`) does not exist from
 * the daemon's working directory but does from the properties file's
 * directory, the child runs in the properties file's directory (and a bare
 * program name found there but not on PATH runs as `./name`).  So
 * `executableName = python3 app.py` next to app.properties works from any
 * working directory.
 *
 * Ownership: struct kclapp owns everything it points to; the daemon_cfg
 * filled by kclapp_apply borrows from it, so free it after daemon_run.
 * Not thread-safe to load; the factory's create() may run on any thread.
 */
#ifndef LOGFLEET_KCLAPP_H
#define LOGFLEET_KCLAPP_H

#include <stdio.h>

#include "common/err.h"
#include "worker/daemon.h"

struct kclapp;

int kclapp_load(const char *path, struct kclapp **out, struct err *e);
void kclapp_apply(struct kclapp *a, struct daemon_cfg *d);
/* The app's settings as libconfig comments (for --print-config). */
void kclapp_print(FILE *f, const struct kclapp *a);
void kclapp_free(struct kclapp *a);

#endif
