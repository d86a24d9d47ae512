/* cli.h: the subcommands of ./userec, one file each (engine/cli_<name>.c). */
#ifndef USEREC_CLI_H
#define USEREC_CLI_H

int cmd_info(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_related(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

/* Prints "userec <cmd>: <message>" to stderr and returns 2 (the exit code for usage and input errors). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
