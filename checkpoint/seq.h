/* seq.h — Kinesis sequence-number ordering, KCL's rules.
 *
 * A checkpoint value is a decimal digit string of any length (Kinesis
 * sequence numbers exceed 64 bits) or one of the sentinels AT_TIMESTAMP,
 * TRIM_HORIZON, LATEST, SHARD_END, paired with a sub-sequence number (the
 * index inside a KPL aggregate).  Order, as KCL's ExtendedSequenceNumber:
 *   AT_TIMESTAMP < TRIM_HORIZON < LATEST < digits (by value) < SHARD_END,
 * then by sub-sequence number; SHARD_END equals SHARD_END whatever the
 * sub-sequence.  Pure functions, thread-safe, no allocation.
 */
#ifndef LOGFLEET_CKPT_SEQ_H
#define LOGFLEET_CKPT_SEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CKPT_SEQ_AT_TIMESTAMP "AT_TIMESTAMP"
#define CKPT_SEQ_TRIM_HORIZON "TRIM_HORIZON"
#define CKPT_SEQ_LATEST "LATEST"
#define CKPT_SEQ_SHARD_END "SHARD_END"

/* True for a non-empty string of ASCII digits. */
bool ckpt_seq_is_digits(const char *s);
/* True for digits or one of the four sentinels (exact case). */
bool ckpt_seq_valid(const char *s);
/* <0, 0, >0 as (a, asub) sorts before, with, after (b, bsub).  Both should
 * be ckpt_seq_valid; an invalid string (or NULL) sorts below every valid
 * one, and two invalid strings compare by strcmp, so the order stays total. */
int ckpt_seq_cmp(const char *a, int64_t asub, const char *b, int64_t bsub);
/* ckpt_seq_cmp for two digit strings of known lengths (a record's sequence
 * number against the last one: no rank, no strlen). */
int ckpt_seq_cmp_digits(const char *a, size_t alen, int64_t asub, const char *b, size_t blen,
                        int64_t bsub);

#endif
