/* cli.h: the commands of ./userec, one file each (cli/<command>.c), and what they share (cli/options.c): the
 * error line, the exit codes, and one parser for every option value. */
#ifndef USEREC_CLI_H
#define USEREC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "topk/topk.h"
#include "userec.h"

/* Exit codes, the same for every command (docs/cli.md), those of BSD's sysexits.h, so that cron wrappers and
 * monitoring can tell a bad export from a full disk from a busy store. */
#define EXIT_USAGE 64       /* EX_USAGE: bad options or arguments: nothing was read or written */
#define EXIT_DATAERR 65     /* EX_DATAERR: an input is malformed (model, catalogue, vectors, ids, lists), too many rows
                               were rejected, or a model does not compute what it should (verify) */
#define EXIT_NOINPUT 66     /* EX_NOINPUT: an input does not exist or cannot be read */
#define EXIT_UNAVAILABLE 69 /* EX_UNAVAILABLE: the device cannot run it: no usable GPU (or it failed), no CPU bf16, USEREC_CPU_ISA */
#define EXIT_SOFTWARE 70    /* EX_SOFTWARE: a failure userec did not classify: a bug, please report it */
#define EXIT_OSERR 71       /* EX_OSERR: out of memory (or another resource the system refused) */
#define EXIT_IOERR 74       /* EX_IOERR: an output could not be written (a full disk, permissions, a failed rename) */
#define EXIT_TEMPFAIL 75    /* EX_TEMPFAIL: another `update` holds the store's lock; try again later */

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
int cmd_update(int argc, char **argv);

/* Prints "userec <cmd>: <message>" to stderr and returns EXIT_USAGE. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same line, for a job that ran and failed: returns the exit code of the failure's class (cli_exit_code). */
int cli_failed(const char *cmd, int failure, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The exit code of a failure's class (common/error.h): USEREC_ERR_IO -> EXIT_NOINPUT, USEREC_ERR_FORMAT,
 * USEREC_ERR_UNSUPPORTED and USEREC_ERR_INPUT -> EXIT_DATAERR, USEREC_ERR_NOMEM -> EXIT_OSERR, USEREC_ERR_DEVICE ->
 * EXIT_UNAVAILABLE, FAIL_OUTPUT -> EXIT_IOERR, FAIL_LOCKED -> EXIT_TEMPFAIL; anything else (-1: unclassified) -> EXIT_SOFTWARE. */
int cli_exit_code(int failure);

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
 * 0, or EXIT_UNAVAILABLE after saying why a GPU asked for cannot run. */
int cli_choose_devices(const char *cmd, const userec_devices *wanted, userec_devices *chosen);

/* Loads item vectors (`embed`'s ITEMS.npy) and, when ids_path is given, their ids (topk_load_vectors,
 * topk_read_ids); the ids must be unique (topk_ids_unique). When a manifest beside the vectors lists them
 * (ITEMS.embed.json, or manifest.json in a store generation: output/publish.h), checks that the vectors, and the ids
 * when it lists them too, are the very files of that run; a run publishing meanwhile makes it read them again, up
 * to three times. Returns 0, or the failure's class with err set. */
int cli_load_vectors(const char *npy_path, const char *ids_path, topk_matrix *m, topk_ids *ids, size_t *n_scaled,
                     size_t *n_zero, char *err, size_t err_len);


#endif
