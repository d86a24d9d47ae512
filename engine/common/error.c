/* error.c: the library's status names, its version, and set_error (error.h). */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>

userec_status set_error(userec_error *err, userec_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *userec_status_name(userec_status status) {
    switch (status) {
    case USEREC_OK: return "ok";
    case USEREC_ERR_IO: return "I/O error";
    case USEREC_ERR_FORMAT: return "bad model file";
    case USEREC_ERR_UNSUPPORTED: return "unsupported model";
    case USEREC_ERR_INPUT: return "bad input";
    case USEREC_ERR_NOMEM: return "out of memory";
    case USEREC_ERR_DEVICE: return "GPU or CUDA error";
    }
    return "unknown status";
}

/* The Makefile passes its VERSION; userec.h's USEREC_VERSION must agree (tests/test_install.py checks). */
const char *userec_version(void) { return USEREC_VERSION_STRING; }
