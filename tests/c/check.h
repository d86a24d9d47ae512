/* check.h: the few macros C tests use; tests/run.py reads the lines they print. */
#ifndef USEREC_CHECK_H
#define USEREC_CHECK_H
#include <stdio.h>
#include <stdlib.h>

static int check_failures;

/* One named check: prints `ok NAME` or `not ok NAME: detail`. */
#define CHECK(cond, name, ...)                                              \
    do {                                                                    \
        if (cond) {                                                         \
            printf("ok %s\n", name);                                        \
        } else {                                                            \
            check_failures++;                                               \
            printf("not ok %s: %s:%d: ", name, __FILE__, __LINE__);         \
            printf(__VA_ARGS__);                                            \
            printf("\n");                                                   \
        }                                                                   \
        fflush(stdout);                                                     \
    } while (0)

#define SKIP(name, reason) printf("skip %s: %s\n", name, reason)

#define CHECK_DONE() return check_failures ? 1 : 0

#endif
