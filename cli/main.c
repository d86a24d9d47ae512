/* main.c: ./userec dispatches to one subcommand per file (engine/cli_<name>.c; what they share is in
 * engine/cli_common.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"info", cmd_info, "show a .usew model: hyper-parameters, tensors, provenance, checksums"},
    {"embed", cmd_embed, "embed sentences into a .npy file"},
    {"bench", cmd_bench, "time the encoder against this machine's sgemm rate"},
    {"devices", cmd_devices, "list the CPU and the CUDA GPUs this build can encode on"},
    {"related", cmd_related, "the k most similar items of every item (or query vector), to CSV or JSONL"},
    {"query", cmd_query, "embed a text and print the catalogue items closest to it"},
    {"tokenize", cmd_tokenize, "print the token ids (spm or tfjs) of texts, one line each"},
};

static void usage(FILE *to) {
    fprintf(to, "usage: userec COMMAND [options]   (userec COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

/* Other threads share the cores with OpenMP's: embed's reader and tokenizer pool, OpenBLAS's in bench's
 * sgemm probe. libgomp's default lets idle OpenMP workers spin between parallel regions, stealing those
 * threads' cores (when OpenBLAS still did the encoder's products: 1.78x slower on 2 vCPUs, docs/perf.md).
 * libgomp reads the policy once, when it loads, so the CLI sets it and runs itself again, unless the user
 * chose a policy. */
static void prefer_passive_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1)) return;
    execv("/proc/self/exe", argv); /* returns only on failure: then run as we are */
}

int main(int argc, char **argv) {
    prefer_passive_openmp(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "userec: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
