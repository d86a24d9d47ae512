/* clock.h: the engine's clocks: seconds on the monotonic clock, for durations; the wall-clock time in UTC, for
 * records. */
#ifndef USEREC_CLOCK_H
#define USEREC_CLOCK_H

#include <time.h>

static inline double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The wall-clock time now, "2026-11-28T03:15:00Z". */
#define UTC_TIMESTAMP_LEN 32
static inline void utc_timestamp(char out[UTC_TIMESTAMP_LEN]) {
    const time_t now = time(NULL);
    struct tm utc;
    strftime(out, UTC_TIMESTAMP_LEN, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &utc));
}

#endif
