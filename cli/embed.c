/* embed.c: `userec embed`: options, model and device set-up, the summary and the exit code. The work itself
 * is engine/jobs/embed_job.c. */
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "jobs/embed_job.h"
#include "model/model.h"
#include "model/provenance.h"
#include "shards.h"
#include "output/run_facts.h"
#include "common/util.h"

typedef struct {
    const char *model, *format, *format_out, *tokenizer;
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
            "  --format lines|csv|tsv|jsonl|ids   (default: from the extension: .txt .csv .tsv .jsonl/.json .ids;\n"
            "                         a gzip-compressed input, FILE.csv.gz say, is read as it is inflated)\n"
            "                         lines: one text per line; ids: space-separated token ids per line\n"
            "  --text-col A[,B..]     csv/tsv/jsonl: the column(s) whose values, joined by spaces, are the text\n"
            "  --id-col C             the column holding each row's id (default: the 0-based row number)\n"
            "  --delimiter X          csv field delimiter (default ','; e.g. ';')\n"
            "  --no-header            csv/tsv without a header row: name columns by number, from 1\n"
            "  --tokenizer spm|tfjs   (default: the model's; spm when it has a SentencePiece model)\n"
            "  --strict               reject rows with invalid UTF-8 instead of repairing them (U+FFFD)\n"
            "output:\n"
            "  -o OUT.npy             float32 [rows, dim] + OUT.ids (one id per line, same order)\n"
            "  --dtype float32|float16\n"
            "  --format-out npy|jsonl {\"id\": ..., \"embedding\": [...]} lines in OUT instead (default: by -o's extension)\n"
            "  OUT.rejects.tsv (line, id, reason) lists every row that could not be embedded\n"
            "  --max-reject-rate F    exit 1 when more than this share of rows is rejected (default 0.01)\n"
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
    enum { O_TEXT_COL = 256, O_ID_COL, O_DELIM, O_NO_HEADER, O_TOKENIZER, O_STRICT, O_DTYPE, O_FORMAT_OUT, O_DEVICE,
           O_PRECISION, O_BATCH_TOKENS, O_THREADS, O_MAX_REJECT, O_SHARD };
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},         {"input", required_argument, 0, 'i'},
        {"format", required_argument, 0, 'f'},        {"output", required_argument, 0, 'o'},
        {"text-col", required_argument, 0, O_TEXT_COL}, {"id-col", required_argument, 0, O_ID_COL},
        {"delimiter", required_argument, 0, O_DELIM}, {"no-header", no_argument, 0, O_NO_HEADER},
        {"tokenizer", required_argument, 0, O_TOKENIZER}, {"strict", no_argument, 0, O_STRICT},
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
        switch (c) {
        case 'm': opt->model = optarg; break;
        case 'i': job->input = optarg; break;
        case 'f': opt->format = optarg; break;
        case 'o': job->out = optarg; break;
        case O_TEXT_COL: job->in.text_cols = optarg; break;
        case O_ID_COL: job->in.id_col = optarg; break;
        case O_DELIM:
            if (strlen(optarg) != 1) return cli_fail("embed", "--delimiter wants one character, not '%s'", optarg);
            job->in.delimiter = optarg[0];
            break;
        case O_NO_HEADER: job->in.no_header = 1; break;
        case O_TOKENIZER: opt->tokenizer = optarg; break;
        case O_STRICT: job->strict = 1; break;
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
    if (opt->format) {
        if (input_format_parse(opt->format, &job->in.format))
            return cli_fail("embed", "--format wants lines, csv, tsv, jsonl or ids, not '%s'", opt->format);
    } else if (input_guess_format(job->input, &job->in.format)) {
        return cli_fail("embed", "cannot tell the format of '%s' from its name: give --format lines|csv|tsv|jsonl|ids",
                        job->input);
    }
    const char *ext = strrchr(job->out, '.');
    if (!opt->format_out) opt->format_out = ext && !strcmp(ext, ".jsonl") ? "jsonl" : "npy";
    if (!strcmp(opt->format_out, "jsonl")) job->jsonl = 1;
    else if (strcmp(opt->format_out, "npy")) return cli_fail("embed", "--format-out wants npy or jsonl, not '%s'", opt->format_out);
    if (!job->jsonl && !(ext && !strcmp(ext, ".npy")))
        return cli_fail("embed", "-o must name a .npy file (or use --format-out jsonl), not '%s'", job->out);
    int tabular = job->in.format == INPUT_CSV || job->in.format == INPUT_TSV || job->in.format == INPUT_JSONL;
    if (tabular && !job->in.text_cols)
        return cli_fail("embed", "--format %s needs --text-col naming the text column(s)", input_format_name(job->in.format));
    if (!tabular && (job->in.text_cols || job->in.id_col))
        return cli_fail("embed", "--text-col and --id-col apply to csv, tsv and jsonl input, not %s",
                        input_format_name(job->in.format));
    if (opt->tokenizer && strcmp(opt->tokenizer, "spm") && strcmp(opt->tokenizer, "tfjs"))
        return cli_fail("embed", "--tokenizer wants spm or tfjs, not '%s'", opt->tokenizer);
    if (opt->shard.count && !strcmp(job->input, "-"))
        return cli_fail("embed", "--shard reads its block of a file that every shard reads: --input - (stdin) cannot "
                                 "be shared");
    const char *out = job->out;
    if (opt->shard.count && !(job->out = shard_part_path(out, &opt->shard)))
        return cli_fail("embed", "--shard names its parts after -o's extension: -o %s has none", out);
    return 0;
}

static void print_summary(const embed_summary *s, const embed_options *opt, const userec_model_info *info) {
    fprintf(stderr,
            "embed: %zu rows read, %zu embedded, %zu rejected, %zu clipped to %u tokens, %zu repaired (invalid UTF-8); "
            "%zu tokens in %.2f s (%.0f rows/s; reading+tokenising %.2f s, encoding %.2f s, writing %.2f s) -> %s\n",
            s->read, s->embedded, s->rejected, s->clipped, info->max_len, s->repaired, s->tokens, s->wall_s,
            s->wall_s > 0 ? (double)s->read / s->wall_s : 0, s->tokenize_s, s->encode_s, s->write_s, opt->job.out);
}

/* OUT.embed.json: how the vectors were made, for `userec report`. */
static int write_facts(const embed_options *opt, const embed_summary *s, const userec_encoder *enc, int test_weights,
                       char *err, size_t err_len) {
    const embed_job *job = &opt->job;
    run_facts rf;
    if (run_facts_open_beside(&rf, job->out, ".embed.json", "embed", err, err_len)) return -1;
    run_facts_string(&rf, "input", job->input);
    run_facts_string(&rf, "format", input_format_name(job->in.format));
    run_facts_string(&rf, "text_col", job->in.text_cols);
    run_facts_string(&rf, "id_col", job->in.id_col);
    run_facts_string(&rf, "output", job->out);
    run_facts_string(&rf, "model", opt->model);
    run_facts_bool(&rf, "test_weights", test_weights);
    run_facts_string(&rf, "tokenizer", job->tok ? tokenizer_kind_name(tokenizer_kind(job->tok)) : "none (token ids)");
    run_facts_string(&rf, "encoder", userec_encoder_name(enc));
    run_facts_string(&rf, "device", userec_device_name(userec_encoder_device(enc)));
    run_facts_string(&rf, "precision", userec_precision_name(opt->precision));
    run_facts_string(&rf, "dtype", job->jsonl ? "jsonl" : job->dtype == NPY_F16 ? "float16" : "float32");
    run_facts_count(&rf, "threads", (size_t)job->threads);
    run_facts_count(&rf, "rows_read", s->read);
    run_facts_count(&rf, "embedded", s->embedded);
    run_facts_count(&rf, "rejected", s->rejected);
    run_facts_count(&rf, "clipped", s->clipped);
    run_facts_count(&rf, "repaired", s->repaired);
    run_facts_count(&rf, "tokens", s->tokens);
    run_facts_number(&rf, "seconds", s->wall_s);
    run_facts_number(&rf, "tokenize_seconds", s->tokenize_s);
    run_facts_number(&rf, "encode_seconds", s->encode_s);
    run_facts_number(&rf, "write_seconds", s->write_s);
    return run_facts_commit(&rf, err, err_len);
}

/* -o and the files written beside it (the manifest too, with --shard) must not be the model or the input. */
static int check_outputs(const embed_options *opt) {
    char *paths[EMBED_JOB_MAX_OUTPUTS + 1];
    size_t n = embed_job_outputs(&opt->job, paths);
    if (n && opt->shard.count && !(paths[n++] = shard_manifest_path(opt->job.out, "embed"))) n--;
    if (!n) return cli_failed("embed", "out of memory");
    cli_file outputs[EMBED_JOB_MAX_OUTPUTS + 1];
    for (size_t i = 0; i < n; i++) outputs[i] = (cli_file){"-o", paths[i]};
    const cli_file inputs[] = {{"--model", opt->model}, {"--input", opt->job.input}};
    const int rc = cli_outputs_spare_inputs("embed", inputs, 2, outputs, n);
    for (size_t i = 0; i < n; i++) free(paths[i]);
    return rc;
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
    userec_error uerr;
    userec_model *m = userec_load(opt.model, &uerr);
    if (!m) return cli_failed("embed", "%s", uerr.message);
    const userec_model_info info = userec_info(m);
    const int test_weights = usew_is_test_weights(m->file);
    if (test_weights) fprintf(stderr, "embed: warning: %s: %s\n", opt.model, USEW_TEST_WEIGHTS_WARNING);
    if (job->in.format != INPUT_IDS) {
        enum usew_tokenizer kind = !opt.tokenizer ? USEW_TOK_NONE : !strcmp(opt.tokenizer, "spm") ? USEW_TOK_SPM : USEW_TOK_TFJS;
        if (!(job->tok = model_tokenizer(m, kind, &uerr))) {
            userec_free(m);
            return cli_failed("embed", "%s", uerr.message);
        }
    }
    char err[1024];
    shard_file input = {0};
    size_t lo = 0, hi = 0;
    if (opt.shard.count && cli_embed_shard_begin(&opt.shard, job, &input, &lo, &hi, err, sizeof err)) {
        userec_free(m);
        return cli_failed("embed", "%s", err);
    }
    userec_encoder *enc = userec_encoder_open_on(m, &opt.devices, opt.precision, stderr, &uerr);
    if (!enc) {
        userec_free(m);
        return cli_failed("embed", "%s", uerr.message);
    }
    if (!job->batch_tokens) job->batch_tokens = userec_encoder_batch_tokens(enc);
    if (!opt.quiet)
        fprintf(stderr, "embed: %s on %s%s%s\n", job->input, userec_encoder_name(enc), job->tok ? ", tokenizer " : "",
                job->tok ? tokenizer_kind_name(tokenizer_kind(job->tok)) : "");
    embed_summary sum;
    rc = embed_job_run(job, enc, info.dim, info.vocab_rows, &sum, err, sizeof err);
    const int facts_rc = rc ? 0 : write_facts(&opt, &sum, enc, test_weights, err, sizeof err);
    const embed_shard_facts shard = {.model_path = opt.model, .model = m, .precision = opt.precision,
                                     .device = userec_encoder_device(enc), .input = &input, .byte_start = lo,
                                     .byte_end = hi};
    const int manifest_rc = rc || facts_rc || !opt.shard.count ? 0 : cli_embed_manifest(&opt.shard, job, &shard, &sum,
                                                                                            err, sizeof err);
    userec_encoder_close(enc);
    userec_free(m);
    if (rc) return cli_failed("embed", "%s (nothing was written)", err);
    if (facts_rc) return cli_failed("embed", "the vectors were written, but their facts file was not: %s", err);
    if (manifest_rc) return cli_failed("embed", "the vectors were written, but the shard's manifest was not: %s", err);
    if (!opt.quiet) print_summary(&sum, &opt, &info);
    if (sum.ids_repaired)
        fprintf(stderr, "embed: warning: %zu ids held invalid UTF-8; JSON must be Unicode, so the JSONL writes those bytes "
                        "as U+FFFD (the .npy output keeps ids byte for byte)\n", sum.ids_repaired);
    double reject_rate = sum.read ? (double)sum.rejected / (double)sum.read : 0;
    if (reject_rate > opt.max_reject_rate) {
        fprintf(stderr, "embed: failing: %zu of %zu rows (%.2f%%) were rejected, more than --max-reject-rate %g "
                        "(%.2f%%); the rows are listed in the rejects file\n",
                sum.rejected, sum.read, 100 * reject_rate, opt.max_reject_rate, 100 * opt.max_reject_rate);
        return EXIT_FAILED;
    }
    return 0;
}
