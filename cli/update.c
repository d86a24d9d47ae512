/* update.c: `userec update`: options, the store's lock, the summary line and status file, the exit code. The job
 * is engine/jobs/update_job.c, the store engine/store/. */
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "catalogue_input.h"
#include "cli.h"
#include "common/error.h"
#include "jobs/update_job.h"
#include "output/run_facts.h"

typedef struct {
    update_job job;
    catalogue_names names;
    const char *store, *status_file;
    double wait_s;
    userec_devices devices;
    userec_precision precision;
    int threads, quiet;
} update_options;

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec update --store DIR --model MODEL.usew --input CATALOGUE [input options] [-k 10] [options]\n"
            "Brings the store DIR up to date with today's catalogue: a new generation DIR/gen-N with vectors.npy,\n"
            "vectors.ids, related.csv (as `embed` + `related` would write them), rejects.tsv, changes.jsonl (what\n"
            "changed since the live generation) and manifest.json; DIR/current links to it. Only new and changed\n"
            "rows are embedded, only the lists they touch are searched; the result is the same, bit for bit.\n"
            "input (as for embed):\n"
            CATALOGUE_USAGE
            "  --max-reject-rate F    fail (exit 65, no new generation) when more than this share of rows is\n"
            "                         rejected (default 0.01)\n"
            "lists:\n"
            "  -k N                   neighbours per item (default 10)\n"
            "  --related-format csv|jsonl|both   related.csv, related.jsonl or both (default csv)\n"
            "store:\n"
            "  --keep N               old generations kept besides the live one (default 2)\n"
            "  --wait S               wait up to S seconds for another update of the store to finish (default 0:\n"
            "                         exit 75 at once, naming it)\n"
            "  --full                 reuse nothing from the live generation: embed and search everything\n"
            "  --status-file F        write the run's summary as JSON to F (atomically), whatever the outcome\n"
            "running:\n"
            "  --device cpu|cuda|auto where to encode (default cpu; auto: the GPU when usable, else the CPU);\n"
            "                         cuda:0,1,3 or cuda:all: several GPUs, one encoder each\n"
            "  --precision fp32|tf32|bf16  arithmetic (default fp32): tf32 on a GPU, bf16 on a GPU or a CPU with avx512_bf16\n"
            "  --batch-tokens N       tokens per encoder call (default: the device's)\n"
            "  --threads N            CPU threads (default: all)\n"
            "  --quiet                no progress and no summary line (failures are still reported)\n"
            "One summary line on stdout per run. Exit codes: docs/cli.md (0 done or nothing to do, 64 usage, 65 bad\n"
            "data or too many rejects, 66 missing input, 69 no GPU, 74 cannot write, 75 the store is locked).\n");
}

static int parse_options(int argc, char **argv, update_options *opt) {
    enum { O_STORE = 256, O_RELATED_FORMAT, O_MAX_REJECT, O_KEEP, O_WAIT, O_FULL, O_STATUS, O_DEVICE, O_PRECISION,
           O_BATCH_TOKENS, O_THREADS };
    static const struct option longopts[] = {
        CATALOGUE_LONGOPTS,
        {"store", required_argument, 0, O_STORE},     {"model", required_argument, 0, 'm'},
        {"related-format", required_argument, 0, O_RELATED_FORMAT},
        {"max-reject-rate", required_argument, 0, O_MAX_REJECT}, {"keep", required_argument, 0, O_KEEP},
        {"wait", required_argument, 0, O_WAIT},       {"full", no_argument, 0, O_FULL},
        {"status-file", required_argument, 0, O_STATUS}, {"device", required_argument, 0, O_DEVICE},
        {"precision", required_argument, 0, O_PRECISION}, {"batch-tokens", required_argument, 0, O_BATCH_TOKENS},
        {"threads", required_argument, 0, O_THREADS}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    *opt = (update_options){.devices = {.kind = USEREC_DEVICE_CPU, .count = 1}, .precision = USEREC_FP32};
    update_job *job = &opt->job;
    job->k = 10, job->related_csv = 1, job->max_reject_rate = 0.01, job->keep = 2;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:k:qh", longopts, NULL)) != -1) {
        const int taken = catalogue_option("update", c, optarg, &job->embed, &opt->names);
        if (taken != 1) {
            if (taken) return taken;
            continue;
        }
        switch (c) {
        case O_STORE: opt->store = optarg; break;
        case 'm': job->model_path = optarg; break;
        case 'k':
            if (cli_size_option("update", "-k", optarg, 1, 10000, &job->k)) return EXIT_USAGE;
            break;
        case O_RELATED_FORMAT:
            job->related_csv = !strcmp(optarg, "csv") || !strcmp(optarg, "both");
            job->related_jsonl = !strcmp(optarg, "jsonl") || !strcmp(optarg, "both");
            if (!job->related_csv && !job->related_jsonl)
                return cli_fail("update", "--related-format wants csv, jsonl or both, not '%s'", optarg);
            break;
        case O_MAX_REJECT:
            if (cli_real_option("update", "--max-reject-rate", optarg, 0, 1, &job->max_reject_rate)) return EXIT_USAGE;
            break;
        case O_KEEP: {
            size_t keep;
            if (cli_size_option("update", "--keep", optarg, 0, 1000, &keep)) return EXIT_USAGE;
            job->keep = (unsigned)keep;
            break;
        }
        case O_WAIT:
            if (cli_real_option("update", "--wait", optarg, 0, 7 * 86400, &opt->wait_s)) return EXIT_USAGE;
            break;
        case O_FULL: job->full = 1; break;
        case O_STATUS: opt->status_file = optarg; break;
        case O_DEVICE:
            if (cli_devices_option("update", optarg, &opt->devices)) return EXIT_USAGE;
            break;
        case O_PRECISION:
            if (cli_precision_option("update", optarg, &opt->precision)) return EXIT_USAGE;
            break;
        case O_BATCH_TOKENS:
            if (cli_size_option("update", "--batch-tokens", optarg, 1, (size_t)1 << 30, &job->embed.batch_tokens))
                return EXIT_USAGE;
            break;
        case O_THREADS:
            if (cli_threads_option("update", optarg, &opt->threads)) return EXIT_USAGE;
            break;
        case 'q': opt->quiet = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail("update", "unexpected argument '%s'", argv[optind]);
    if (!opt->store || !job->model_path || !job->embed.input) {
        usage(stderr);
        return cli_fail("update", "--store, --model and --input are required");
    }
    return catalogue_options_check("update", &job->embed, &opt->names);
}

/* The one line for cron mail (stdout). */
static void summary_line(FILE *f, const update_options *opt, const update_summary *s) {
    if (s->unchanged) {
        fprintf(f, "update: %s: nothing changed (same catalogue and options as generation %llu, %zu items); no new "
                   "generation (%.2f s)\n", opt->store, (unsigned long long)s->generation, s->items, s->wall_s);
        return;
    }
    fprintf(f, "update: %s: generation %llu live: %zu items (%zu added, %zu changed, %zu removed), %zu rejected; "
               "%zu embedded, %zu reused; %zu lists changed, %zu searched%s; %.2f s\n",
            opt->store, (unsigned long long)s->generation, s->items, s->added, s->changed, s->removed, s->rejected,
            s->encoded, s->reused, s->lists_changed, s->lists_searched, s->full_search ? " (all)" : "", s->wall_s);
}

/* --status-file: the run's summary as JSON, written atomically whatever the outcome. */
static void write_status(const update_options *opt, const update_summary *s, int exit_code, const char *error) {
    run_facts rf;
    char err[512];
    if (run_facts_open(&rf, opt->status_file, "update", err, sizeof err)) {
        fprintf(stderr, "userec update: warning: --status-file: %s\n", err);
        return;
    }
    run_facts_string(&rf, "store", opt->store);
    run_facts_count(&rf, "exit_code", (size_t)exit_code);
    run_facts_string(&rf, "error", error);
    run_facts_bool(&rf, "unchanged", s->unchanged);
    run_facts_count(&rf, "generation", s->generation);
    run_facts_count(&rf, "parent", s->parent);
    update_summary_facts(&rf, s);
    run_facts_count(&rf, "ties_at_boundary", s->ties);
    run_facts_string(&rf, "invalidated", s->invalidated[0] ? s->invalidated : NULL);
    run_facts_number(&rf, "write_seconds", s->write_s);
    run_facts_number(&rf, "seconds", s->wall_s);
    if (run_facts_commit(&rf, err, sizeof err)) fprintf(stderr, "userec update: warning: --status-file: %s\n", err);
}

int cmd_update(int argc, char **argv) {
    update_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) return rc;
    update_job *job = &opt.job;
    if (opt.threads) omp_set_num_threads(opt.threads);
    job->embed.threads = opt.threads ? opt.threads : omp_get_max_threads();
    job->embed.progress = progress_style_for_stderr(opt.quiet);
    const cli_file inputs[] = {{"--model", job->model_path}, {"--input", job->embed.input}};
    const cli_file outputs[] = {{"--status-file", opt.status_file}};
    if ((rc = cli_outputs_spare_inputs("update", inputs, 2, outputs, 1))) return rc;
    update_summary sum = {0};
    char err[1024] = "";
    store st;
    int failure = store_open(&st, opt.store, opt.wait_s, err, sizeof err);
    userec_model *m = NULL;
    userec_encoder *enc = NULL;
    int test_weights;
    if (!failure) {
        const size_t cleaned = store_clean(&st);
        if (cleaned && !opt.quiet)
            fprintf(stderr, "update: %s: removed %zu leftovers of an interrupted run\n", opt.store, cleaned);
        rc = catalogue_encoder_open("update", job->model_path, &job->embed, &opt.names, &opt.devices, opt.precision, &m,
                                    &enc, &test_weights);
        if (rc) {
            store_close(&st);
            if (opt.status_file) write_status(&opt, &sum, rc, "the model or device could not be opened (see stderr)");
            return rc;
        }
        if (!job->embed.batch_tokens) job->embed.batch_tokens = userec_encoder_batch_tokens(enc);
        const userec_model_info info = userec_info(m);
        failure = update_job_run(job, &st, enc, info.dim, info.vocab_rows, &sum, err, sizeof err);
        userec_encoder_close(enc);
        userec_free(m);
        store_close(&st);
    }
    rc = failure ? cli_failed("update", failure, "%s", err) : 0;
    if (failure && sum.first_rejects[0])
        fprintf(stderr, "The first rejected rows (line, id, reason):\n%s", sum.first_rejects);
    if (!failure && !opt.quiet) summary_line(stdout, &opt, &sum);
    if (!failure && !opt.quiet && sum.invalidated[0]) fprintf(stderr, "update: %s\n", sum.invalidated);
    if (opt.status_file) write_status(&opt, &sum, rc, failure ? err : NULL);
    return rc;
}
