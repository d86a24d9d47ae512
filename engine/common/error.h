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

/* Failure classes, for the exit codes of the CLI (docs/cli.md). The internal functions on a command's paths return
 * 0 or the class of their failure: a userec_status (USEREC_ERR_IO: an input could not be opened or read;
 * USEREC_ERR_FORMAT or USEREC_ERR_INPUT: an input's content is malformed; USEREC_ERR_NOMEM; USEREC_ERR_DEVICE), or
 * FAIL_OUTPUT: an output could not be written (a full disk, a failed rename), or FAIL_LOCKED. Every class is nonzero, so
 * `if (f(...))` tests them as it tests -1. The class is decided where the failure happens, never guessed later.
 * FAIL_AS(class, ERR(...)) formats the message and returns the class. */
#define FAIL_OUTPUT 64
#define FAIL_LOCKED 65 /* another process holds a lock we need (a store's: engine/store/store.h) */
#define FAIL_AS(status, message_call) ((void)(message_call), (int)(status))

#ifdef __cplusplus
}
#endif
#endif
