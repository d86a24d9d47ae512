/* error.h: how the engine reports failures. Public functions fill a userec_error (userec.h) through
 * set_error. Internal helpers below them (readers, writers, parsers) return 0 or -1 and write their message
 * into a (char *err, size_t err_len) buffer through ERR and SYS_ERR (common/util.h); the public function that
 * calls them turns that message into a userec_error with the status that fits. */
#ifndef USEREC_ERROR_H
#define USEREC_ERROR_H

#include "userec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets err (when not NULL) to status and the formatted message; returns status, so callers can
 * `return set_error(err, USEREC_ERR_INPUT, "...")`. */
userec_status set_error(userec_error *err, userec_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
