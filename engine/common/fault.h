/* fault.h: named points where a test may have the process killed (SIGKILL, as a crash or `kill -9` would), to check
 * that no moment of a run leaves a half-published result: USEREC_FAULT_AT=NAME kills the process on reaching NAME
 * (tests/test_update.py). Without the variable it is one getenv per point, a handful per run. */
#ifndef USEREC_FAULT_H
#define USEREC_FAULT_H

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static inline void fault_point(const char *name) {
    const char *at = getenv("USEREC_FAULT_AT");
    if (at && !strcmp(at, name)) raise(SIGKILL);
}

#endif
