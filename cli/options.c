/* options.c: what the commands share: the error line, the option-value parsers, the device choice. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "common/error.h"

static void vsay(const char *cmd, const char *fmt, va_list ap) {
    fprintf(stderr, "userec %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(cmd, fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_exit_code(int failure) {
    switch (failure) {
    case USEREC_ERR_IO: return EXIT_NOINPUT;
    case USEREC_ERR_FORMAT:
    case USEREC_ERR_UNSUPPORTED:
    case USEREC_ERR_INPUT: return EXIT_DATAERR;
    case USEREC_ERR_NOMEM: return EXIT_OSERR;
    case USEREC_ERR_DEVICE: return EXIT_UNAVAILABLE;
    case FAIL_OUTPUT: return EXIT_IOERR;
    case FAIL_LOCKED: return EXIT_TEMPFAIL;
    default: return EXIT_SOFTWARE;
    }
}

int cli_failed(const char *cmd, int failure, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(cmd, fmt, ap);
    va_end(ap);
    return cli_exit_code(failure);
}

int cli_uint_option(const char *cmd, const char *option, const char *arg, uint64_t min, uint64_t max, uint64_t *out) {
    char *end;
    errno = 0;
    const unsigned long long v = strtoull(arg, &end, 10);
    /* strtoull skips blanks and accepts a sign (negating "-1" into a huge value): only digits are a number here */
    if (arg[0] < '0' || arg[0] > '9' || *end || errno == ERANGE || v < min || v > max)
        return cli_fail(cmd, "%s wants an integer from %llu to %llu, not '%s'", option, (unsigned long long)min,
                        (unsigned long long)max, arg);
    *out = v;
    return 0;
}

int cli_size_option(const char *cmd, const char *option, const char *arg, size_t min, size_t max, size_t *out) {
    uint64_t v = 0;
    if (cli_uint_option(cmd, option, arg, min, max, &v)) return EXIT_USAGE;
    *out = (size_t)v;
    return 0;
}

int cli_int_option(const char *cmd, const char *option, const char *arg, int min, int max, int *out) {
    uint64_t v = 0;
    if (min < 0) return cli_fail(cmd, "%s: negative ranges are not parsed here", option); /* none exist yet */
    if (cli_uint_option(cmd, option, arg, (uint64_t)min, (uint64_t)max, &v)) return EXIT_USAGE;
    *out = (int)v;
    return 0;
}

int cli_real_option(const char *cmd, const char *option, const char *arg, double min, double max, double *out) {
    char *end;
    errno = 0;
    const double v = strtod(arg, &end);
    if (end == arg || *end || errno == ERANGE || !isfinite(v) || v < min || v > max)
        return cli_fail(cmd, "%s wants a number from %g to %g, not '%s'", option, min, max, arg);
    *out = v;
    return 0;
}

int cli_threads_option(const char *cmd, const char *arg, int *threads) {
    return cli_int_option(cmd, "--threads", arg, 1, CLI_MAX_THREADS, threads);
}

int cli_device_option(const char *cmd, const char *arg, userec_device *device) {
    return userec_device_parse(arg, device, NULL) ? cli_fail(cmd, "--device wants cpu, cuda or auto, not '%s'", arg) : 0;
}

int cli_devices_option(const char *cmd, const char *arg, userec_devices *devices) {
    userec_error err;
    return userec_devices_parse(arg, devices, &err) ? cli_fail(cmd, "--device: %s", err.message) : 0;
}

int cli_device_groups(const char *cmd, const char *arg, userec_devices *groups, int max, int *n) {
    *n = 0;
    char *copy = strdup(arg), *save = NULL, group[256] = "";
    if (!copy) return cli_failed(cmd, USEREC_ERR_NOMEM, "out of memory");
    int rc = 0;
    /* a number continues the list before it (cuda:0,1); a name starts the next one */
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        const int more = *tok >= '0' && *tok <= '9' && *group;
        if (!more && *group) {
            rc = *n == max ? cli_fail(cmd, "--device: at most %d lists", max)
                           : cli_devices_option(cmd, group, &groups[(*n)++]);
            *group = 0;
        }
        const size_t used = strlen(group);
        if (snprintf(group + used, sizeof group - used, "%s%s", more ? "," : "", tok) >= (int)(sizeof group - used))
            rc = cli_fail(cmd, "--device: '%s' is too long", arg);
    }
    if (!rc && *group)
        rc = *n == max ? cli_fail(cmd, "--device: at most %d lists", max) : cli_devices_option(cmd, group, &groups[(*n)++]);
    if (!rc && !*n) rc = cli_fail(cmd, "--device: no device in '%s'", arg);
    free(copy);
    return rc;
}

int cli_precision_option(const char *cmd, const char *arg, userec_precision *precision) {
    return userec_precision_parse(arg, precision, NULL)
               ? cli_fail(cmd, "--precision wants fp32, tf32 or bf16, not '%s'", arg)
               : 0;
}

int cli_choose_devices(const char *cmd, const userec_devices *wanted, userec_devices *chosen) {
    userec_error err;
    if (userec_devices_choose(wanted, stderr, chosen, &err)) return cli_failed(cmd, err.status, "%s", err.message);
    return 0;
}

int cli_outputs_spare_inputs(const char *cmd, const cli_file *inputs, size_t n_inputs, const cli_file *outputs,
                             size_t n_outputs) {
    for (size_t o = 0; o < n_outputs; o++) {
        struct stat out;
        if (!outputs[o].path || !strcmp(outputs[o].path, "-") || stat(outputs[o].path, &out)) continue; /* new file */
        for (size_t i = 0; i < n_inputs; i++) {
            struct stat in;
            if (!inputs[i].path || !strcmp(inputs[i].path, "-") || stat(inputs[i].path, &in)) continue;
            if (in.st_dev != out.st_dev || in.st_ino != out.st_ino) continue;
            if (o == 0)
                return cli_fail(cmd, "%s %s is the %s file (%s): an output must not replace an input; choose another %s",
                                outputs[0].option, outputs[0].path, inputs[i].option, inputs[i].path, outputs[0].option);
            return cli_fail(cmd, "%s %s would also write %s, which is the %s file (%s): an output must not replace an "
                            "input; choose another %s", outputs[0].option, outputs[0].path, outputs[o].path,
                            inputs[i].option, inputs[i].path, outputs[0].option);
        }
    }
    return 0;
}
