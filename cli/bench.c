/* bench.c: `userec bench`: steady-state encoder throughput on the CPU and the GPU, next to each device's
 * ceiling (the CPU's fma throughput, probed; the card's dense peak). Load time is measured separately from the timed
 * runs; each figure is the median of several runs after a warm-up, with the spread (min..max) beside it. */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/clock.h"
#include "gpu/gpu.h"
#include "model/model.h"
#include "topk/topk.h"
#include "userec.h"

void openblas_set_num_threads(int);

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double median, min, max;
} timing;

static timing summarize(double *secs, int n) {
    qsort(secs, (size_t)n, sizeof *secs, by_value);
    return (timing){.median = n % 2 ? secs[n / 2] : 0.5 * (secs[n / 2 - 1] + secs[n / 2]), .min = secs[0], .max = secs[n - 1]};
}

/* The rate of one product on the encoder's largest shape ([rows, 512] x [512, 1536]), through userec's GEMM
 * (the encoder's) or OpenBLAS's sgemm (its peer, also what PyTorch on the CPU runs): GFLOP/s of each repeat
 * (at most 64). */
static timing product_probe(int rows, int repeats, int openblas) {
    const int k = 512, n = 1536;
    float *a = malloc(sizeof(float) * (size_t)rows * k), *b = malloc(sizeof(float) * (size_t)k * n),
          *c = malloc(sizeof(float) * (size_t)rows * n), *bias = calloc(n, sizeof(float));
    for (size_t i = 0; i < (size_t)rows * k; i++) a[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)((i * 40503u) % 1000) / 1000.0f - 0.5f;
    gemm_weights packed;
    double secs[64], flops = 2.0 * rows * k * n;
    int ok = !gemm_weights_pack(b, bias, k, n, &packed);
    for (int r = -1; r < repeats && ok; r++) { /* r = -1: the warm-up */
        double t = now_seconds();
        if (openblas)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, k, 1, a, k, b, n, 0, c, n);
        else
            ok = !gemm_dense(a, (size_t)rows, &packed, c, GEMM_BIAS);
        if (r >= 0) secs[r] = now_seconds() - t;
    }
    gemm_weights_free(&packed);
    free(a), free(b), free(c), free(bias);
    if (!ok) return (timing){0}; /* out of memory: no figure */
    timing t = summarize(secs, repeats);
    return (timing){.median = flops / t.median / 1e9, .min = flops / t.max / 1e9, .max = flops / t.min / 1e9};
}

static double best(timing t) { return t.max; }

#define PROBE_RUNS 10 /* the fewest runs of each CPU probe (30-100 ms each) */

static void usage(FILE *to) {
    fprintf(to, "usage: userec bench [--model MODEL.usew] [--device cpu,cuda] [--precision fp32,tf32,bf16] [--seq-len 32,128]\n"
                "                    [--ids FILE] [--texts FILE] [--batch N] [--repeat 5] [--threads N] [--json]\n"
                "  without --model: weights/use-lite.usew, else the test weights build/testdata/use-lite-seed1.usew\n"
                "  (`make test-model`; same shapes and cost as the real model, meaningless vectors)\n"
                "  --texts FILE: one text per line, tokenised (timed), encoded (timed) and searched all-pairs for\n"
                "  their 10 nearest (timed): the time split of the whole job, tokenise / encode / top-k\n"
                "  times the encoder on --batch sentences of random token ids per length, and on the sentences of FILE\n"
                "  (token-id lines, e.g. a tokenised catalogue), on each device and precision: tokens/s, sentences/s,\n"
                "  GFLOP/s and MFU (CPU: of this CPU's probed fma peak; GPU: of the card's dense peak for the precision),\n"
                "  the GPU's time split between copies and kernels, and GPU/CPU ratios when both devices run.\n"
                "  --batch defaults to 256 sentences on the CPU, 16384 on a GPU; the CPU runs fp32 only.\n");
}

/* The sentences of one timed encode call. */
typedef struct {
    char label[64];
    int32_t *ids;
    size_t *offsets, n;
} workload;

static void workload_free(workload *w) { free(w->ids), free(w->offsets); }

/* batch sentences of len random ordinary pieces (not control ids). */
static int random_workload(workload *w, int len, int batch, uint32_t vocab_rows) {
    snprintf(w->label, sizeof w->label, "%d", len);
    w->n = (size_t)batch;
    w->ids = malloc((size_t)batch * len * sizeof *w->ids);
    w->offsets = malloc(((size_t)batch + 1) * sizeof *w->offsets);
    if (!w->ids || !w->offsets) return -1;
    uint64_t state = 12345;
    for (size_t i = 0; i < (size_t)batch * len; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        w->ids[i] = (int32_t)(6 + (state >> 33) % (vocab_rows - 8));
    }
    for (int s = 0; s <= batch; s++) w->offsets[s] = (size_t)s * len;
    return 0;
}

/* Every line of path as one sentence of space-separated token ids (`embed --format ids` input). Returns 0 or the
 * exit code, after saying what failed. */
static int file_workload(workload *w, const char *path, uint32_t vocab_rows) {
    FILE *f = fopen(path, "r");
    if (!f) return cli_failed("bench", USEREC_ERR_IO, "--ids %s: cannot open: %s", path, strerror(errno));
    const char *base = strrchr(path, '/');
    snprintf(w->label, sizeof w->label, "%s", base ? base + 1 : path);
    size_t cap_ids = 0, cap_rows = 0, n_ids = 0;
    char *line = NULL;
    size_t line_cap = 0;
    int rc = 0;
    while (!rc && getline(&line, &line_cap, f) >= 0) {
        if (w->n + 2 > cap_rows) {
            size_t *o = realloc(w->offsets, (cap_rows = 2 * cap_rows + 1024) * sizeof *o);
            if (!o) rc = -1;
            else w->offsets = o;
        }
        for (char *p = line, *end; !rc; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            if (v < 0 || v >= (long)vocab_rows)
                rc = cli_failed("bench", USEREC_ERR_FORMAT, "--ids %s: line %zu: id %ld is outside 0..%u", path, w->n + 1, v,
                                vocab_rows - 1);
            if (n_ids == cap_ids) {
                int32_t *ids = realloc(w->ids, (cap_ids = 2 * cap_ids + 65536) * sizeof *ids);
                if (!ids) rc = -1;
                else w->ids = ids;
            }
            if (!rc) w->ids[n_ids++] = (int32_t)v;
        }
        if (!rc) w->offsets[0] = 0, w->offsets[++w->n] = n_ids;
    }
    free(line);
    fclose(f);
    if (rc < 0) return cli_failed("bench", USEREC_ERR_NOMEM, "--ids %s: out of memory", path);
    if (!rc && !w->n) rc = cli_failed("bench", USEREC_ERR_FORMAT, "--ids %s: no sentences", path);
    return rc;
}

/* Every line of path as one text, tokenised with the model's default tokenizer; *secs gets the time taken. Returns
 * 0 or the exit code, after saying what failed. */
static int text_workload(workload *w, const char *path, const userec_model *m, double *secs, size_t *bytes) {
    userec_error err;
    const tokenizer *tok = model_tokenizer(m, USEW_TOK_NONE, &err);
    if (!tok) return cli_failed("bench", err.status, "--texts: %s", err.message);
    FILE *f = fopen(path, "r");
    if (!f) return cli_failed("bench", USEREC_ERR_IO, "--texts %s: cannot open: %s", path, strerror(errno));
    const char *base = strrchr(path, '/');
    snprintf(w->label, sizeof w->label, "%s", base ? base + 1 : path);
    tok_scratch *scratch = tok_scratch_new();
    size_t cap_ids = 0, cap_rows = 0, n_ids = 0, line_cap = 0;
    char *line = NULL, msg[256];
    ssize_t len;
    int rc = scratch ? 0 : -1;
    *secs = 0;
    *bytes = 0;
    while (!rc && (len = getline(&line, &line_cap, f)) >= 0) {
        if (len && line[len - 1] == '\n') line[--len] = 0;
        double t = now_seconds();
        tok_result r;
        if (tokenizer_encode(tok, line, (size_t)len, 0, scratch, &r, msg, sizeof msg))
            rc = cli_failed("bench", USEREC_ERR_NOMEM, "%s", msg); /* the tokenizer fails only for memory */
        *secs += now_seconds() - t;
        *bytes += (size_t)len;
        if (!rc && w->n + 2 > cap_rows) {
            size_t *o = realloc(w->offsets, (cap_rows = 2 * cap_rows + 1024) * sizeof *o);
            if (!o) rc = -1;
            else w->offsets = o;
        }
        if (!rc && n_ids + r.n_ids > cap_ids) {
            while (n_ids + r.n_ids > cap_ids) cap_ids = 2 * cap_ids + 65536;
            int32_t *ids = realloc(w->ids, cap_ids * sizeof *ids);
            if (!ids) rc = -1;
            else w->ids = ids;
        }
        if (!rc) {
            memcpy(w->ids + n_ids, r.ids, r.n_ids * sizeof *r.ids);
            n_ids += r.n_ids;
            w->offsets[0] = 0, w->offsets[++w->n] = n_ids;
        }
    }
    free(line);
    fclose(f);
    tok_scratch_free(scratch);
    if (rc < 0) return cli_failed("bench", USEREC_ERR_NOMEM, "--texts %s: out of memory", path);
    if (!rc && !w->n) rc = cli_failed("bench", USEREC_ERR_FORMAT, "--texts %s: no texts", path);
    return rc;
}

/* One measured (device, precision, workload). */
typedef struct {
    int on_gpu;
    char workload[64];
    userec_precision precision;
    double sentences_s;
} result;

#define MAX_RESULTS 256

typedef struct {
    const char *model_path;
    int batch, repeats, json;
    const userec_model *model;
    userec_model_info info;
    double cpu_peak_gflops;   /* 0 until the probes ran: the fma ceiling, the MFU denominator; rises as later probes do */
    double cpu_gemm_gflops;   /* userec's GEMM on the largest product shape */
    double cpu_sgemm_gflops;  /* OpenBLAS's sgemm on the same, the peer */
    const char *texts_file;
    workload texts;         /* --texts, tokenised once for every device */
    double tokenize_s;
    size_t text_bytes;
    result results[MAX_RESULTS];
    int n_results, printed;
} bench_run;

/* Times one workload on enc: a warm-up, then the median of repeats; prints one row. With vectors, hands
 * over the output (the caller frees it) and the median encode time. */
static int time_workload(bench_run *b, userec_encoder *enc, userec_precision p, const workload *w, float **vectors,
                         double *encode_s) {
    const int gpu = userec_encoder_device(enc) == USEREC_DEVICE_CUDA;
    float *out = malloc(w->n * b->info.dim * sizeof *out);
    if (!out) return cli_failed("bench", USEREC_ERR_NOMEM, "out of memory for %zu output rows", w->n);
    userec_error err;
    userec_counts counts = {0};
    int rc = userec_encoder_encode(enc, w->ids, w->offsets, w->n, out, &counts, &err)
                 ? cli_failed("bench", err.status, "%s", err.message)
                 : 0;
    userec_encoder_stats_reset(enc); /* the split covers the timed runs only */
    double secs[64];
    for (int r = 0; r < b->repeats && !rc; r++) {
        if (!gpu) {
            /* One more fma probe right before each timed run: a shared machine's speed drifts (the other vCPU's
             * host core busy for seconds), and a ceiling probed only at the start could then sit below a run
             * that met a quieter spell, putting its MFU over 100%. */
            const double probe = cpu_fma_peak_gflops(1);
            if (probe > b->cpu_peak_gflops) b->cpu_peak_gflops = probe;
        }
        double t = now_seconds();
        if (userec_encoder_encode(enc, w->ids, w->offsets, w->n, out, NULL, &err))
            rc = cli_failed("bench", err.status, "%s", err.message);
        secs[r] = now_seconds() - t;
    }
    if (rc || !vectors) free(out);
    if (rc) return rc;
    const timing t = summarize(secs, b->repeats);
    if (vectors) *vectors = out, *encode_s = t.median;
    const double tokens_s = (double)counts.tokens / t.median, sentences_s = (double)w->n / t.median;
    const double gflops = (tokens_s * b->info.flops_per_token + sentences_s * b->info.flops_per_sentence) / 1e9;
    const char *device = userec_encoder_name(enc);
    const double peak = gpu ? 1000 * gpu_peak_tflops(device, p) : b->cpu_peak_gflops;
    userec_encoder_stats split = {0};
    userec_encoder_stats_get(enc, &split);
    const double per_run = 1.0 / b->repeats;
    if (b->json) {
        printf("%s{\"device\": \"%s\", \"precision\": \"%s\", \"workload\": \"%s\", \"sentences\": %zu, \"tokens\": %zu, "
               "\"seconds_median\": %.6f, \"seconds_min\": %.6f, \"seconds_max\": %.6f, \"tokens_per_s\": %.3f, "
               "\"sentences_per_s\": %.3f, \"gflops\": %.4f, \"peak_gflops\": %.2f, \"mfu\": %.4f",
               b->printed++ ? ", " : "", device, userec_precision_name(p), w->label, w->n, counts.tokens, t.median, t.min,
               t.max, tokens_s, sentences_s, gflops, peak, peak > 0 ? gflops / peak : 0);
        if (gpu)
            printf(", \"upload_ms\": %.3f, \"kernels_ms\": %.3f, \"download_ms\": %.3f, \"chunks\": %.1f, \"graph_replays\": %.1f",
                   split.upload_ms * per_run, split.kernels_ms * per_run, split.download_ms * per_run,
                   split.chunks * per_run, split.graph_replays * per_run);
        printf("}");
    } else {
        char mfu[16] = "n/a";
        if (peak > 0) snprintf(mfu, sizeof mfu, "%.1f%%", 100 * gflops / peak);
        printf("%-34s %-5s %-10s %8zu %12.0f %12.1f %10.1f %7s   (%.4f s median, %.4f..%.4f)\n", device,
               userec_precision_name(p), w->label, w->n, tokens_s, sentences_s, gflops, mfu, t.median, t.min, t.max);
        if (gpu)
            printf("%34s per run: upload %.3f ms, kernels %.3f ms, download %.3f ms (events; they overlap), "
                   "%.1f chunks, %.1f from a CUDA graph\n", "", split.upload_ms * per_run, split.kernels_ms * per_run,
                   split.download_ms * per_run, split.chunks * per_run, split.graph_replays * per_run);
    }
    if (b->n_results < MAX_RESULTS) {
        result *r = &b->results[b->n_results++];
        *r = (result){.on_gpu = gpu, .precision = p, .sentences_s = sentences_s};
        snprintf(r->workload, sizeof r->workload, "%s", w->label);
    }
    return 0;
}

/* The whole job on --texts: tokenising (measured once, on the CPU), encoding, and all-pairs top-10 on the same
 * device; prints where the time goes. */
static int time_text_job(bench_run *b, userec_encoder *enc, userec_precision p, int on_gpu) {
    float *vectors = NULL;
    double encode_s = 0;
    int rc = time_workload(b, enc, p, &b->texts, &vectors, &encode_s);
    if (rc) return rc;
    const size_t n = b->texts.n, k = 10;
    int32_t *index = malloc(n * k * sizeof *index);
    float *score = malloc(n * k * sizeof *score);
    userec_topk_options opt = {.k = k, .exclude_self = 1, .device = on_gpu ? USEREC_DEVICE_CUDA : USEREC_DEVICE_CPU,
                        .precision = on_gpu && p == USEREC_BF16 ? USEREC_BF16 : USEREC_FP32};
    userec_error err;
    double t = now_seconds();
    if (!index || !score) rc = cli_failed("bench", USEREC_ERR_NOMEM, "out of memory for the top-k of %zu texts", n);
    else if (userec_topk_search(vectors, n, vectors, n, b->info.dim, &opt, index, score, &err))
        rc = cli_failed("bench", err.status, "%s", err.message);
    const double topk_s = now_seconds() - t, total = b->tokenize_s + encode_s + topk_s;
    if (!rc && b->json)
        printf(", {\"device\": \"%s\", \"precision\": \"%s\", \"workload\": \"%s job\", \"texts\": %zu, \"bytes\": %zu, "
               "\"tokenize_s\": %.6f, \"encode_s\": %.6f, \"topk_s\": %.6f, \"topk_k\": %zu}",
               userec_encoder_name(enc), userec_precision_name(p), b->texts.label, n, b->text_bytes, b->tokenize_s,
               encode_s, topk_s, k);
    else if (!rc)
        printf("%34s job on %zu texts (%.1f MB): tokenise %.3f s (%.0f%%, 1 thread), encode %.3f s (%.0f%%), "
               "all-pairs top-%zu %.3f s (%.0f%%)\n", "", n, b->text_bytes / 1e6, b->tokenize_s,
               100 * b->tokenize_s / total, encode_s, 100 * encode_s / total, k, topk_s, 100 * topk_s / total);
    free(vectors), free(index), free(score);
    return rc;
}

/* Runs every workload on one device and precision. */
static int bench_device(bench_run *b, userec_device d, userec_precision p, const char *seq_lens, const char *ids_file) {
    userec_error err;
    userec_encoder *enc = userec_encoder_open(b->model, d, p, stderr, &err);
    if (!enc) return cli_failed("bench", err.status, "%s", err.message);
    const int on_gpu = userec_encoder_device(enc) == USEREC_DEVICE_CUDA, batch = b->batch ? b->batch : on_gpu ? 16384 : 256;
    if (!on_gpu && !b->cpu_peak_gflops) {
        /* The best run of each: a shared machine only ever slows a run down. At least PROBE_RUNS runs however
         * few the timed repeats, so that one unlucky probe cannot make the MFU of a lucky call exceed 100%. */
        const int runs = 2 * b->repeats < PROBE_RUNS ? PROBE_RUNS : 2 * b->repeats > 64 ? 64 : 2 * b->repeats;
        b->cpu_peak_gflops = cpu_fma_peak_gflops(runs);
        b->cpu_gemm_gflops = best(product_probe(256 * 32, runs, 0));
        b->cpu_sgemm_gflops = best(product_probe(256 * 32, runs, 1));
    }
    char *lens = strdup(seq_lens), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(lens, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        int len;
        if ((rc = cli_int_option("bench", "--seq-len", tok, 1, (int)b->info.max_len, &len))) break;
        workload w = {0};
        rc = random_workload(&w, len, batch, b->info.vocab_rows) ? cli_failed("bench", USEREC_ERR_NOMEM, "out of memory")
                                                                 : time_workload(b, enc, p, &w, NULL, NULL);
        workload_free(&w);
    }
    if (!rc && ids_file) {
        workload w = {0};
        if (!(rc = file_workload(&w, ids_file, b->info.vocab_rows))) rc = time_workload(b, enc, p, &w, NULL, NULL);
        workload_free(&w);
    }
    if (!rc && b->texts_file) rc = time_text_job(b, enc, p, on_gpu);
    free(lens);
    userec_encoder_close(enc);
    return rc;
}

/* GPU sentences/s over CPU sentences/s, per workload and GPU precision. */
static void print_ratios(const bench_run *b) {
    int printed = 0;
    for (int i = 0; i < b->n_results; i++) {
        const result *g = &b->results[i];
        for (int j = 0; j < b->n_results && g->on_gpu; j++) {
            const result *c = &b->results[j];
            if (c->on_gpu || strcmp(c->workload, g->workload)) continue;
            if (b->json)
                printf("%s{\"precision\": \"%s\", \"workload\": \"%s\", \"gpu_over_cpu\": %.2f}", printed++ ? ", " : "",
                       userec_precision_name(g->precision), g->workload, g->sentences_s / c->sentences_s);
            else
                printf("GPU %s / CPU fp32, workload %s: %.1fx the sentences/s\n", userec_precision_name(g->precision),
                       g->workload, g->sentences_s / c->sentences_s);
        }
    }
}

int cmd_bench(int argc, char **argv) {
    static const struct option longopts[] = {{"model", required_argument, 0, 'm'}, {"seq-len", required_argument, 0, 's'},
                                             {"batch", required_argument, 0, 'b'}, {"repeat", required_argument, 0, 'r'},
                                             {"threads", required_argument, 0, 't'}, {"json", no_argument, 0, 'j'},
                                             {"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, 'p'},
                                             {"ids", required_argument, 0, 'i'},   {"texts", required_argument, 0, 'x'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *seq_lens = "32,128", *devices = "cpu", *precisions = "fp32", *ids_file = NULL;
    bench_run b = {.repeats = 5};
    int threads = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': b.model_path = optarg; break;
        case 's': seq_lens = optarg; break;
        case 'b':
            if (cli_int_option("bench", "--batch", optarg, 1, 1 << 24, &b.batch)) return EXIT_USAGE;
            break;
        case 'r':
            if (cli_int_option("bench", "--repeat", optarg, 1, 64, &b.repeats)) return EXIT_USAGE;
            break;
        case 't':
            if (cli_threads_option("bench", optarg, &threads)) return EXIT_USAGE;
            break;
        case 'j': b.json = 1; break;
        case 'd': devices = optarg; break;
        case 'p': precisions = optarg; break;
        case 'i': ids_file = optarg; break;
        case 'x': b.texts_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail("bench", "unexpected argument '%s'", argv[optind]);
    if (!b.model_path) {
        static const char *defaults[] = {"weights/use-lite.usew", "build/testdata/use-lite-seed1.usew"};
        for (int i = 0; i < 2 && !b.model_path; i++)
            if (!access(defaults[i], R_OK)) b.model_path = defaults[i];
        if (!b.model_path)
            return cli_fail("bench", "no --model, and neither %s (`make weights`) nor %s (`make test-model`) exists",
                            defaults[0], defaults[1]);
        fprintf(stderr, "bench: no --model: using %s%s\n", b.model_path,
                b.model_path == defaults[1] ? " (the TEST weights: the real model's shapes and cost)" : "");
    }
    /* Both lists are checked whole before anything runs. */
    userec_device device_list[8];
    userec_precision precision_list[USEREC_PRECISIONS];
    int n_devices = 0, n_precisions = 0;
    char *dev_copy = strdup(devices), *prec_copy = strdup(precisions), *save = NULL;
    for (char *tok = strtok_r(dev_copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (n_devices == 8 || userec_device_parse(tok, &device_list[n_devices++], NULL))
            return free(dev_copy), free(prec_copy), cli_fail("bench", "--device wants a list of cpu, cuda, auto; not '%s'", tok);
    for (char *tok = strtok_r(prec_copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (n_precisions == USEREC_PRECISIONS || userec_precision_parse(tok, &precision_list[n_precisions++], NULL))
            return free(dev_copy), free(prec_copy), cli_fail("bench", "--precision wants a list of fp32, tf32, bf16; not '%s'", tok);
    free(dev_copy), free(prec_copy);
    if (threads > 0) omp_set_num_threads(threads), openblas_set_num_threads(threads);
    double t0 = now_seconds();
    userec_error err;
    userec_model *m = userec_load(b.model_path, &err);
    if (!m) return cli_failed("bench", err.status, "%s", err.message);
    const double load_s = now_seconds() - t0;
    b.model = m;
    b.info = userec_info(m);
    int failed = b.texts_file ? text_workload(&b.texts, b.texts_file, m, &b.tokenize_s, &b.text_bytes) : 0;
    if (failed) {
        workload_free(&b.texts);
        userec_free(m);
        return failed;
    }
    if (b.json)
        printf("{\"model\": \"%s\", \"threads\": %d, \"load_s\": %.4f, \"results\": [", b.model_path, omp_get_max_threads(), load_s);
    else
        printf("model %s loaded in %.3f s; %d CPU threads; FLOPs count the matrix products (attention excluded)\n"
               "%-34s %-5s %-10s %8s %12s %12s %10s %7s\n",
               b.model_path, load_s, omp_get_max_threads(), "device", "prec", "workload", "batch", "tokens/s", "sentences/s",
               "GFLOP/s", "MFU");
    int rc = 0;
    for (int d = 0; d < n_devices && !rc; d++)
        for (int p = 0; p < n_precisions && !rc; p++) {
            if (device_list[d] == USEREC_DEVICE_CPU && precision_list[p] != USEREC_FP32) {
                fprintf(stderr, "bench: the CPU computes fp32 only: skipping cpu %s\n", userec_precision_name(precision_list[p]));
                continue;
            }
            rc = bench_device(&b, device_list[d], precision_list[p], seq_lens, ids_file);
        }
    if (!b.json && b.cpu_peak_gflops)
        printf("CPU peak (fma probe, the MFU denominator): %.1f GFLOP/s; [8192, 512] x [512, 1536]: userec GEMM %.1f GFLOP/s, "
               "OpenBLAS sgemm %.1f GFLOP/s (best runs)\n",
               b.cpu_peak_gflops, b.cpu_gemm_gflops, b.cpu_sgemm_gflops);
    if (b.json) printf("], \"ratios\": [");
    print_ratios(&b);
    if (b.json)
        printf("], \"cpu_peak_gflops\": %.2f, \"cpu_gemm_gflops\": %.2f, \"cpu_sgemm_gflops\": %.2f}\n", b.cpu_peak_gflops,
               b.cpu_gemm_gflops, b.cpu_sgemm_gflops);
    workload_free(&b.texts);
    userec_free(m);
    return rc;
}
