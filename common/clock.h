/* clock.h — the monotonic clock in milliseconds.
 *
 * Every timeout, backoff, lease expiry and rate limit is measured on this
 * clock (CLOCK_MONOTONIC: never jumps with the wall clock).  Thread-safe.
 */
#ifndef LOGFLEET_CLOCK_H
#define LOGFLEET_CLOCK_H

#include <stdint.h>

int64_t clock_mono_ms(void);

#endif
