/* clock.h: the engine's one clock: seconds on the monotonic clock, for durations. */
#ifndef USEREC_CLOCK_H
#define USEREC_CLOCK_H

#include <time.h>

static inline double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
