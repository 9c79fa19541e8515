/* t_ctl_fix.h — fixtures for the logfleetctl integration tests.
 *
 * ctl_run starts $LOGFLEET_BIN/logfleetctl (the build under test; config
 * from $LOGFLEET_CONF, overridden per test through LOGFLEET_* variables set
 * with setenv — each test is its own process) and captures its exit status,
 * stdout and stderr.  ctl_stream gives a test a fresh Kinesis stream on
 * KINESIS_ENDPOINT and reads every record back.  Helpers abort the test on
 * a fixture failure.
 */
#ifndef LOGFLEET_T_CTL_FIX_H
#define LOGFLEET_T_CTL_FIX_H

#include <stddef.h>

#include "common/kinesis.h"

struct ctl_result {
    int status; /* exit status; -1 if killed by a signal */
    char *out;  /* stdout, NUL-terminated */
    size_t out_len;
    char *err; /* stderr, NUL-terminated */
};

/* Runs logfleetctl with the NULL-ended arguments; stdin from in_path (NULL:
 * /dev/null).  Free with ctl_result_free. */
void ctl_run(struct ctl_result *r, const char *in_path, ...) __attribute__((sentinel));
void ctl_result_free(struct ctl_result *r);

struct ctl_stream {
    struct aws_creds_provider *cp;
    struct kin *k;
    char name[96];
};

/* Creates a stream of n shards, waits until it is ACTIVE, and points
 * logfleetctl at it (LOGFLEET_KINESIS_STREAM). */
void ctl_stream_new(struct ctl_stream *s, int shards);
/* Deletes the stream (best effort) and frees the clients. */
void ctl_stream_free(struct ctl_stream *s);
/* Waits until the stream is ACTIVE with want_open open shards (0: any). */
void ctl_stream_wait(struct ctl_stream *s, int want_open);

struct ctl_rec {
    char *data;
    size_t len;
    char pk[257];
    char seq[KIN_SEQ_MAX];
    char shard[KIN_SHARD_ID_MAX];
};

/* Every record of every shard from TRIM_HORIZON, shard by shard in
 * ListShards order, each shard in sequence order. */
size_t ctl_read_all(struct ctl_stream *s, struct ctl_rec **out);
void ctl_recs_free(struct ctl_rec *v, size_t n);

/* A fresh random identifier with the given prefix, into out[40]. */
void ctl_unique(const char *prefix, char out[40]);

#endif
