/* merge.c: `userec merge`: the parts of a sharded embed or related job joined into the files one run writes.
 * The work is engine/jobs/merge.c. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jobs/merge.h"
#include "jobs/shard.h"

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec merge -o OUT [--parts N] [--max-reject-rate F] [--quiet]\n"
            "  joins OUT.part-1-of-N.* .. OUT.part-N-of-N.* (written by embed --shard or related --shard with -o OUT)\n"
            "  into the files one run writes: OUT.npy (or .jsonl) + OUT.ids + OUT.rejects.tsv, or OUT.csv / OUT.jsonl,\n"
            "  byte for byte, and the facts file beside them; after checking that all N parts are there, complete and\n"
            "  from the same input, model and options. Nothing is written when a part is missing or foreign.\n"
            "  --parts N              the job's number of parts, when parts of several jobs lie beside OUT\n"
            "  --max-reject-rate F    embed: fail (exit 65, writing nothing) when more than this share of all rows was\n"
            "                         rejected (default 0.01); run the shards with --max-reject-rate 1 to judge the job whole\n"
            "  --quiet                no summary\n");
}

int cmd_merge(int argc, char **argv) {
    static const struct option longopts[] = {{"output", required_argument, 0, 'o'}, {"parts", required_argument, 0, 'p'},
                                             {"max-reject-rate", required_argument, 0, 'r'},
                                             {"quiet", no_argument, 0, 'q'},      {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    merge_job job = {.max_reject_rate = 0.01};
    int quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': job.out = optarg; break;
        case 'p':
            if (cli_size_option("merge", "--parts", optarg, 1, SHARD_MAX_COUNT, &job.parts)) return EXIT_USAGE;
            break;
        case 'r':
            if (cli_real_option("merge", "--max-reject-rate", optarg, 0, 1, &job.max_reject_rate)) return EXIT_USAGE;
            break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail("merge", "unexpected argument '%s'", argv[optind]);
    if (!job.out) {
        usage(stderr);
        return cli_fail("merge", "-o is required");
    }
    char err[1024];
    merge_summary sum;
    const int rc = merge_run(&job, &sum, err, sizeof err);
    if (rc) return cli_failed("merge", rc, "%s", err);
    const int embed = !strcmp(sum.command, "embed");
    if (!quiet) {
        fprintf(stderr, "merge: %zu parts of %s -> %s: %zu %s", sum.parts, sum.command, job.out, sum.rows,
                embed ? "rows" : "lists");
        if (embed) fprintf(stderr, ", %zu embedded, %zu rejected", sum.embedded, sum.rejected);
        fprintf(stderr, "; %.1f MB of parts copied in %.2f s\n", (double)sum.bytes / 1e6, sum.wall_s);
    }
    return 0;
}
