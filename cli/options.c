/* cli_common.c: what several subcommands share: the error line and the values of common options. */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "userec %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

int cli_device_option(const char *cmd, const char *arg, userec_device *device) {
    return userec_device_parse(arg, device) ? cli_fail(cmd, "--device wants cpu, cuda or auto, not '%s'", arg) : 0;
}

int cli_search_device(const char *cmd, userec_device wanted, topk_device *where) {
    userec_device chosen;
    userec_error err;
    if (userec_device_choose(wanted, stderr, &chosen, &err)) return cli_fail(cmd, "%s", err.message), 1;
    *where = chosen == USEREC_DEVICE_CUDA ? TOPK_CUDA : TOPK_CPU;
    return 0;
}
