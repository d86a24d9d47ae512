/* main.c: ./userec dispatches to one command per file (cli/<command>.c; what they share is in cli/options.c);
 * `userec help [COMMAND]` and `userec --version`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "output/temp_files.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"info", cmd_info, "show a .usew model: hyper-parameters, tensors, provenance, checksums"},
    {"embed", cmd_embed, "embed sentences into a .npy file"},
    {"bench", cmd_bench, "time the encoder on each device: tokens/s, sentences/s and MFU against its peak"},
    {"devices", cmd_devices, "list the CPU and the CUDA GPUs this build can encode on"},
    {"related", cmd_related, "the k most similar items of every item (or query vector), to CSV or JSONL"},
    {"merge", cmd_merge, "join the parts of a sharded embed or related job (--shard) into one run's files"},
    {"update", cmd_update, "the nightly job: a catalogue to a store of vectors and related lists, incrementally"},
    {"query", cmd_query, "embed a text and print the catalogue items closest to it"},
    {"tokenize", cmd_tokenize, "print the token ids (spm or tfjs) of texts, one line each"},
    {"report", cmd_report, "an HTML page of a catalogue's related items: map, scores, sample lists, duplicates"},
    {"eval", cmd_eval, "quality figures on labelled data: product matching, sentence similarity, co-liked movies"},
    {"verify", cmd_verify, "check a converted model against the real USE-lite's published outputs"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *to) {
    fprintf(to, "usage: userec COMMAND [options]   (userec help COMMAND, or userec COMMAND --help, for its options)\n"
                "       userec --version\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "  %-10s %s\n", "help", "this list, or one command's options");
    fprintf(to, "\nexit codes: 0 done; %d bad options or arguments; %d malformed input or too many rejected rows;\n"
                "%d an input is missing or unreadable; %d the device cannot run it (no usable GPU, no CPU bf16);\n"
                "%d out of memory; %d an output could not be written; %d the store is locked by another update;\n"
                "%d an unclassified failure (a bug)\n"
                "documentation: README.md and docs/ (docs/cli.md lists every command and exit code)\n",
            EXIT_USAGE, EXIT_DATAERR, EXIT_NOINPUT, EXIT_UNAVAILABLE, EXIT_OSERR, EXIT_IOERR, EXIT_TEMPFAIL,
            EXIT_SOFTWARE);
}

static int find_command(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, commands[i].name)) return (int)i;
    return -1;
}

/* `userec help` and `userec help COMMAND` (the command's own --help). */
static int help(int argc, char **argv) {
    if (argc < 3) {
        usage(stdout);
        return 0;
    }
    const int c = find_command(argv[2]);
    if (c < 0) {
        fprintf(stderr, "userec help: unknown command '%s'\n", argv[2]);
        usage(stderr);
        return EXIT_USAGE;
    }
    char *args[] = {argv[2], "--help", NULL};
    return commands[c].run(2, args);
}

/* Other threads share the cores with OpenMP's: embed's reader and tokenizer pool, OpenBLAS's in bench's
 * sgemm probe. libgomp's default lets idle OpenMP workers spin between parallel regions, stealing those
 * threads' cores (when OpenBLAS still did the encoder's products: 1.78x slower on 2 vCPUs, bench/history.md).
 * libgomp reads the policy once, when it loads, so the CLI sets it and runs itself again, unless the user
 * chose a policy. */
static void prefer_passive_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1)) return;
    execv("/proc/self/exe", argv); /* returns only on failure: then run as we are */
}

int main(int argc, char **argv) {
    prefer_passive_openmp(argv);
    temp_cleanup_on_signals(); /* SIGINT, SIGTERM, SIGHUP remove the temp files of outputs being written */
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("userec %s (library %s, %s)\n", USEREC_VERSION, userec_version(),
#ifdef USEREC_CUDA
               "with CUDA"
#else
               "without CUDA"
#endif
        );
        return 0;
    }
    if (!strcmp(argv[1], "help")) return help(argc, argv);
    const int c = find_command(argv[1]);
    if (c >= 0) return commands[c].run(argc - 1, argv + 1);
    fprintf(stderr, "userec: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
