/* embed.c: `userec embed`: options, model and device set-up, the summary and the exit code. The work itself
 * is engine/jobs/embed_job.c. */
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalogue_input.h"
#include "cli.h"
#include "jobs/embed_job.h"
#include "model/model.h"
#include "model/provenance.h"
#include "output/run_facts.h"
#include "shards.h"
#include "common/error.h"
#include "common/util.h"

typedef struct {
    const char *model, *format_out;
    catalogue_names names;
    embed_job job;
    userec_devices devices;
    userec_precision precision;
    shard_spec shard; /* --shard: this block of the input, written to OUT.part-I-of-N.* */
    int threads, quiet;
    double max_reject_rate;
} embed_options;

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec embed --model MODEL.usew --input FILE|- -o OUT.npy [options]\n"
            "input:\n"
            CATALOGUE_USAGE
            "output:\n"
            "  -o OUT.npy             float32 [rows, dim] + OUT.ids (one id per line, same order)\n"
            "  --dtype float32|float16\n"
            "  --format-out npy|jsonl {\"id\": ..., \"embedding\": [...]} lines in OUT instead (default: by -o's extension)\n"
            "  OUT.rejects.tsv (line, id, reason) lists every row that could not be embedded (for -o X.jsonl:\n"
            "                         X.jsonl.rejects.tsv); OUT.embed.json, the run's facts, lists every output's\n"
            "                         size and SHA-256. The outputs appear together, only when the job succeeds.\n"
            "  --max-reject-rate F    fail (exit 65, publishing nothing) when more than this share of rows is\n"
            "                         rejected (default 0.01)\n"
            "running:\n"
            "  --device cpu|cuda|auto where to encode (default cpu; auto: the GPU when usable, else the CPU);\n"
            "                         cuda:0,1,3 or cuda:all: several GPUs, one encoder each\n"
            "  --precision fp32|tf32|bf16  arithmetic (default fp32): tf32 on a GPU, bf16 on a GPU or a CPU with avx512_bf16\n"
            "  --batch-tokens N       tokens per encoder call (default: the device's)\n"
            "  --threads N            CPU threads for tokenising and the CPU encoder (default: all)\n"
            "  --quiet                no progress and no summary\n"
            "  --shard I/N|slurm      embed the I-th of N blocks of the input's rows, to OUT.part-I-of-N.* and a\n"
            "                         manifest; `userec merge -o OUT` joins the parts (docs/scale.md)\n");
}

static int parse_options(int argc, char **argv, embed_options *opt) {
    enum { O_DTYPE = 256, O_FORMAT_OUT, O_DEVICE, O_PRECISION, O_BATCH_TOKENS, O_THREADS, O_MAX_REJECT, O_SHARD };
    static const struct option longopts[] = {
        CATALOGUE_LONGOPTS,
        {"model", required_argument, 0, 'm'},         {"output", required_argument, 0, 'o'},
        {"dtype", required_argument, 0, O_DTYPE},     {"format-out", required_argument, 0, O_FORMAT_OUT},
        {"device", required_argument, 0, O_DEVICE},   {"precision", required_argument, 0, O_PRECISION},
        {"batch-tokens", required_argument, 0, O_BATCH_TOKENS}, {"threads", required_argument, 0, O_THREADS},
        {"max-reject-rate", required_argument, 0, O_MAX_REJECT}, {"quiet", no_argument, 0, 'q'},
        {"shard", required_argument, 0, O_SHARD},     {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    *opt = (embed_options){.max_reject_rate = 0.01, .devices = {.kind = USEREC_DEVICE_CPU, .count = 1},
                           .precision = USEREC_FP32};
    char err[256];
    embed_job *job = &opt->job;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        const int taken = catalogue_option("embed", c, optarg, job, &opt->names);
        if (taken != 1) {
            if (taken) return taken;
            continue;
        }
        switch (c) {
        case 'm': opt->model = optarg; break;
        case 'o': job->out = optarg; break;
        case O_DTYPE:
            if (!strcmp(optarg, "float32")) job->dtype = NPY_F32;
            else if (!strcmp(optarg, "float16")) job->dtype = NPY_F16;
            else return cli_fail("embed", "--dtype wants float32 or float16, not '%s'", optarg);
            break;
        case O_FORMAT_OUT: opt->format_out = optarg; break;
        case O_DEVICE:
            if (cli_devices_option("embed", optarg, &opt->devices)) return EXIT_USAGE;
            break;
        case O_SHARD:
            if (shard_parse(optarg, &opt->shard, err, sizeof err)) return cli_fail("embed", "%s", err);
            break;
        case O_PRECISION:
            if (cli_precision_option("embed", optarg, &opt->precision)) return EXIT_USAGE;
            break;
        case O_BATCH_TOKENS:
            if (cli_size_option("embed", "--batch-tokens", optarg, 1, (size_t)1 << 30, &job->batch_tokens))
                return EXIT_USAGE;
            break;
        case O_THREADS:
            if (cli_threads_option("embed", optarg, &opt->threads)) return EXIT_USAGE;
            break;
        case O_MAX_REJECT:
            if (cli_real_option("embed", "--max-reject-rate", optarg, 0, 1, &opt->max_reject_rate)) return EXIT_USAGE;
            break;
        case 'q': opt->quiet = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail("embed", "unexpected argument '%s'", argv[optind]);
    if (!opt->model || !job->input || !job->out) {
        usage(stderr);
        return cli_fail("embed", "--model, --input and -o are required");
    }
    if (catalogue_options_check("embed", job, &opt->names)) return EXIT_USAGE;
    const char *ext = strrchr(job->out, '.');
    if (!opt->format_out) opt->format_out = ext && !strcmp(ext, ".jsonl") ? "jsonl" : "npy";
    if (!strcmp(opt->format_out, "jsonl")) job->jsonl = 1;
    else if (strcmp(opt->format_out, "npy")) return cli_fail("embed", "--format-out wants npy or jsonl, not '%s'", opt->format_out);
    if (!job->jsonl && !(ext && !strcmp(ext, ".npy")))
        return cli_fail("embed", "-o must name a .npy file (or use --format-out jsonl), not '%s'", job->out);
    if (opt->shard.count && !strcmp(job->input, "-"))
        return cli_fail("embed", "--shard reads its block of a file that every shard reads: --input - (stdin) cannot "
                                 "be shared");
    const char *out = job->out;
    if (opt->shard.count && !(job->out = shard_part_path(out, &opt->shard)))
        return cli_fail("embed", "--shard names its parts after -o's extension: -o %s has none", out);
    return 0;
}

static void print_summary(const embed_summary *s, const embed_options *opt, const userec_model_info *info) {
    char duplicates[96] = "";
    if (s->duplicates && opt->job.on_duplicate != DUP_REJECT)
        snprintf(duplicates, sizeof duplicates, ", %zu dropped as repeated ids (%s)", s->duplicates,
                 dup_policy_name(opt->job.on_duplicate));
    else if (s->duplicates)
        snprintf(duplicates, sizeof duplicates, " (%zu of them for a repeated id)", s->duplicates);
    fprintf(stderr,
            "embed: %zu rows read, %zu embedded, %zu rejected%s, %zu clipped to %u tokens, %zu repaired (invalid UTF-8); "
            "%zu tokens in %.2f s (%.0f rows/s; reading+tokenising %.2f s, encoding %.2f s, writing %.2f s) -> %s\n",
            s->read, s->embedded, s->rejected, duplicates, s->clipped, info->max_len, s->repaired, s->tokens, s->wall_s,
            s->wall_s > 0 ? (double)s->read / s->wall_s : 0, s->tokenize_s, s->encode_s, s->write_s, opt->job.out);
}

/* OUT.embed.json, opened in *rf: how the vectors were made, for `userec report`; the run's manifest, which
 * embed_outputs_publish completes and commits with the outputs. */
static int write_facts(const embed_options *opt, const embed_summary *s, const userec_encoder *enc, int test_weights,
                       run_facts *rf, char *err, size_t err_len) {
    const embed_job *job = &opt->job;
    const int rc = run_facts_open_beside(rf, job->out, ".embed.json", "embed", err, err_len);
    if (rc) return rc;
    run_facts_string(rf, "input", job->input);
    run_facts_string(rf, "format", input_format_name(job->in.format));
    run_facts_string(rf, "text_col", job->in.text_cols);
    run_facts_string(rf, "id_col", job->in.id_col);
    run_facts_string(rf, "output", job->out);
    run_facts_string(rf, "model", opt->model);
    run_facts_bool(rf, "test_weights", test_weights);
    run_facts_string(rf, "tokenizer", job->tok ? tokenizer_kind_name(tokenizer_kind(job->tok)) : "none (token ids)");
    run_facts_string(rf, "encoder", userec_encoder_name(enc));
    run_facts_string(rf, "device", userec_device_name(userec_encoder_device(enc)));
    run_facts_string(rf, "precision", userec_precision_name(opt->precision));
    run_facts_string(rf, "dtype", job->jsonl ? "jsonl" : job->dtype == NPY_F16 ? "float16" : "float32");
    run_facts_count(rf, "threads", (size_t)job->threads);
    run_facts_count(rf, "rows_read", s->read);
    run_facts_count(rf, "embedded", s->embedded);
    run_facts_count(rf, "rejected", s->rejected);
    run_facts_count(rf, "clipped", s->clipped);
    run_facts_count(rf, "repaired", s->repaired);
    run_facts_count(rf, "tokens", s->tokens);
    run_facts_number(rf, "seconds", s->wall_s);
    run_facts_number(rf, "tokenize_seconds", s->tokenize_s);
    run_facts_number(rf, "encode_seconds", s->encode_s);
    run_facts_number(rf, "write_seconds", s->write_s);
    run_facts_string(rf, "on_duplicate_id", dup_policy_name(job->on_duplicate));
    run_facts_count(rf, "duplicates", s->duplicates);
    return 0;
}

/* -o and the files written beside it (the manifest too, with --shard) must not be the model or the input. */
static int check_outputs(const embed_options *opt) {
    char *paths[EMBED_JOB_MAX_OUTPUTS + 1];
    size_t n = embed_job_outputs(&opt->job, paths);
    if (n && opt->shard.count && !(paths[n++] = shard_manifest_path(opt->job.out, "embed"))) n--;
    if (!n) return cli_failed("embed", USEREC_ERR_NOMEM, "out of memory");
    cli_file outputs[EMBED_JOB_MAX_OUTPUTS + 1];
    for (size_t i = 0; i < n; i++) outputs[i] = (cli_file){"-o", paths[i]};
    const cli_file inputs[] = {{"--model", opt->model}, {"--input", opt->job.input}};
    const int rc = cli_outputs_spare_inputs("embed", inputs, 2, outputs, n);
    for (size_t i = 0; i < n; i++) free(paths[i]);
    return rc;
}

/* A run that rejected too many rows publishes nothing: its message shows the first rejected rows instead. */
static int fail_on_rejects(const embed_options *opt, const char *too_many, embed_outputs *out) {
    char first[2048];
    embed_outputs_first_rejects(out, 10, first, sizeof first);
    embed_outputs_discard(out);
    fprintf(stderr, "userec embed: %s (%.2f%%): nothing was written, the previous outputs are untouched. The first "
                    "rejected rows (line, id, reason):\n%s(to list them all without replacing the outputs: the same "
                    "command with -o elsewhere and --max-reject-rate 1)\n",
            too_many, 100 * opt->max_reject_rate, first);
    return EXIT_DATAERR;
}

int cmd_embed(int argc, char **argv) {
    embed_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (!rc) rc = check_outputs(&opt);
    if (rc) return rc;
    if (opt.threads) omp_set_num_threads(opt.threads);
    embed_job *job = &opt.job;
    job->threads = opt.threads ? opt.threads : omp_get_max_threads();
    job->progress = progress_style_for_stderr(opt.quiet);
    char err[1024];
    shard_file input = {0};
    size_t lo = 0, hi = 0;
    if (opt.shard.count && (rc = cli_embed_shard_begin(&opt.shard, job, &input, &lo, &hi, err, sizeof err)))
        return cli_failed("embed", rc, "%s", err);
    userec_model *m;
    userec_encoder *enc;
    int test_weights;
    if ((rc = catalogue_encoder_open("embed", opt.model, job, &opt.names, &opt.devices, opt.precision, &m, &enc,
                                     &test_weights)))
        return rc;
    const userec_model_info info = userec_info(m);
    if (!job->batch_tokens) job->batch_tokens = userec_encoder_batch_tokens(enc);
    if (!opt.quiet)
        fprintf(stderr, "embed: %s on %s%s%s\n", job->input, userec_encoder_name(enc), job->tok ? ", tokenizer " : "",
                job->tok ? tokenizer_kind_name(tokenizer_kind(job->tok)) : "");
    embed_summary sum;
    embed_outputs out;
    rc = embed_job_run(job, enc, info.dim, info.vocab_rows, &sum, &out, err, sizeof err);
    if (rc) {
        userec_encoder_close(enc);
        userec_free(m);
        return cli_failed("embed", rc, "%s (nothing was written)", err);
    }
    char too_many[160];
    if (embed_rejects_over(sum.rejected, sum.read, opt.max_reject_rate, too_many, sizeof too_many)) {
        userec_encoder_close(enc);
        userec_free(m);
        return fail_on_rejects(&opt, too_many, &out);
    }
    run_facts facts;
    rc = write_facts(&opt, &sum, enc, test_weights, &facts, err, sizeof err);
    const embed_shard_facts shard = {.model_path = opt.model, .model = m, .precision = opt.precision,
                                     .device = userec_encoder_device(enc), .input = &input, .byte_start = lo,
                                     .byte_end = hi};
    userec_encoder_close(enc);
    if (rc) {
        userec_free(m);
        embed_outputs_discard(&out);
        return cli_failed("embed", rc, "%s (nothing was written)", err);
    }
    rc = embed_outputs_publish(&out, &facts, err, sizeof err);
    /* A shard's manifest comes last: merge takes a part with one as complete. */
    if (!rc && opt.shard.count && cli_embed_manifest(&opt.shard, job, &shard, &sum, err, sizeof err)) {
        rc = FAIL_OUTPUT;
        snprintf(err + strlen(err), sizeof err - strlen(err), " (the part's outputs were written, its manifest not)");
    }
    userec_free(m);
    if (rc) return cli_failed("embed", rc, "%s", err);
    if (!opt.quiet) print_summary(&sum, &opt, &info);
    if (sum.ids_repaired)
        fprintf(stderr, "embed: warning: %zu ids held invalid UTF-8; JSON must be Unicode, so the JSONL writes those bytes "
                        "as U+FFFD (the .npy output keeps ids byte for byte)\n", sum.ids_repaired);
    return 0;
}
