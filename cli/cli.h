/* cli.h: the subcommands of ./userec, one file each (engine/cli_<name>.c). */
#ifndef USEREC_CLI_H
#define USEREC_CLI_H

#include "gpu.h"
#include "topk.h"

int cmd_info(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_related(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

/* Prints "userec <cmd>: <message>" to stderr and returns 2 (the exit code for usage and input errors). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --device cpu|cuda|auto into *device (gpu.h); returns 0, or cli_fail's 2 naming the bad value. */
int cli_device_option(const char *cmd, const char *arg, userec_device *device);
/* Where the top-k search runs for --device `wanted` (userec_device_choose, its notes on stderr); returns 0, or 1
 * (the exit code of a failed run) after saying why --device cuda cannot run. */
int cli_search_device(const char *cmd, userec_device wanted, topk_device *where);

#endif
