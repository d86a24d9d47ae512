/* cli.h: the commands of ./userec, one file each (cli/<command>.c), and what they share (cli/options.c): the
 * error line, the exit codes, and one parser for every option value. */
#ifndef USEREC_CLI_H
#define USEREC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "userec.h"

/* Exit codes, the same for every command (docs/cli.md). */
#define EXIT_USAGE 2  /* bad options or arguments: nothing was done */
#define EXIT_FAILED 1 /* the job ran and failed (unreadable input, a bad model, too many rejects, a GPU error) */

int cmd_info(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_related(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_merge(int argc, char **argv);

/* Prints "userec <cmd>: <message>" to stderr and returns EXIT_USAGE. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same line, returning EXIT_FAILED: for a job that ran and failed. */
int cli_failed(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option values. Each parses the whole of arg (no sign where none belongs, no trailing garbage, no overflow),
 * checks it against [min, max], and returns 0, or cli_fail's EXIT_USAGE with a message naming the option, the
 * range and the value given. */
int cli_uint_option(const char *cmd, const char *option, const char *arg, uint64_t min, uint64_t max, uint64_t *out);
int cli_size_option(const char *cmd, const char *option, const char *arg, size_t min, size_t max, size_t *out);
int cli_int_option(const char *cmd, const char *option, const char *arg, int min, int max, int *out);
int cli_real_option(const char *cmd, const char *option, const char *arg, double min, double max, double *out);

/* The most threads any --threads may ask for: more only adds scheduling cost (docs/cli.md). */
#define CLI_MAX_THREADS 1024
int cli_threads_option(const char *cmd, const char *arg, int *threads);
/* --device cpu|cuda|auto and --precision fp32|tf32|bf16. */
int cli_device_option(const char *cmd, const char *arg, userec_device *device);
/* --device as a list of devices for one job: cpu, cuda, auto, cuda:0,1,3, cuda:all, cpu:0,0 (userec_devices). */
int cli_devices_option(const char *cmd, const char *arg, userec_devices *devices);
/* bench's --device: several lists, each timed on its own: "cpu,cuda:0,1" is cpu, then cuda:0,1 together. */
int cli_device_groups(const char *cmd, const char *arg, userec_devices *groups, int max, int *n);
int cli_precision_option(const char *cmd, const char *arg, userec_precision *precision);

/* A file a command reads or writes, with the option that named it (for messages). */
typedef struct {
    const char *option; /* "--model", "-o" */
    const char *path;   /* NULL (not given) and "-" (stdin/stdout) are skipped */
} cli_file;

/* The one check that no output of a command replaces one of its inputs (the atomic rename would put the output
 * where the input was): files are compared by device and inode, so another path to the same file (a hard or
 * symbolic link, ./x for x) is caught too. outputs[0] is what -o named; later outputs are files written beside
 * it. Returns 0, or cli_fail's EXIT_USAGE naming the output, the input and its option. */
int cli_outputs_spare_inputs(const char *cmd, const cli_file *inputs, size_t n_inputs, const cli_file *outputs,
                             size_t n_outputs);

/* What --device `wanted` runs on (userec_devices_choose, its notes on stderr), decided before any work; returns
 * 0, or EXIT_FAILED after saying why a GPU asked for cannot run. */
int cli_choose_devices(const char *cmd, const userec_devices *wanted, userec_devices *chosen);

/* Writes one CSV field, RFC 4180: a field holding a comma, quote or line break is quoted, its quotes doubled. */
void cli_csv_field(FILE *f, const char *s);

#endif
