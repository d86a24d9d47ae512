/* bench.c: `userec bench`: steady-state encoder throughput on the CPU and the GPU, next to each device's
 * ceiling (the CPU's: the throughput of its widest fma, or of its bf16 dot product, probed; the card's dense
 * peak). Load time is measured separately from the timed runs; each figure is the median of several runs after
 * a warm-up, with the spread (min..max) beside it. What is being timed goes to stderr as it starts. */
#include <cblas.h>
#include <errno.h>
#include <stdarg.h>
#include <ctype.h>
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/clock.h"
#include "cpu/cpu_gemm.h"
#include "cpu/cpu_ops.h"
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

/* Whose product product_probe times. */
typedef enum { PRODUCT_USEREC, PRODUCT_USEREC_BF16, PRODUCT_OPENBLAS } product_kind;

/* The rate of one product on the encoder's largest shape ([rows, 512] x [512, 1536]), through userec's GEMM
 * (the encoder's, on kernels k, fp32 or bf16 weights) or OpenBLAS's sgemm (its peer, also what Debian's PyTorch
 * on the CPU runs): GFLOP/s of each repeat (at most 64). */
static timing product_probe(const cpu_kernels *k, int rows, int repeats, product_kind kind) {
    const int depth = 512, n = 1536;
    float *a = malloc(sizeof(float) * (size_t)rows * depth), *b = malloc(sizeof(float) * (size_t)depth * n),
          *c = malloc(sizeof(float) * (size_t)rows * n), *bias = calloc(n, sizeof(float));
    for (size_t i = 0; i < (size_t)rows * depth; i++) a[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < (size_t)depth * n; i++) b[i] = (float)((i * 40503u) % 1000) / 1000.0f - 0.5f;
    gemm_weights packed;
    double secs[64], flops = 2.0 * rows * depth * n;
    int ok = !(kind == PRODUCT_USEREC_BF16 ? gemm_weights_pack_bf16 : gemm_weights_pack)(b, bias, depth, n, &packed);
    for (int r = -1; r < repeats && ok; r++) { /* r = -1: the warm-up */
        double t = now_seconds();
        if (kind == PRODUCT_OPENBLAS)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, depth, 1, a, depth, b, n, 0, c, n);
        else
            ok = !gemm_dense(k, a, (size_t)rows, NULL, &packed, c, GEMM_BIAS);
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
                "                    [--ids FILE] [--texts FILE] [--batch N] [--repeat 5] [--threads N] [--json] [--quiet]\n"
                "  without --model: weights/use-lite.usew, else the test weights build/testdata/use-lite-seed1.usew\n"
                "  (`make test-model`; same shapes and cost as the real model, meaningless vectors)\n"
                "  --texts FILE: one text per line, tokenised (timed), encoded (timed) and searched all-pairs for\n"
                "  their 10 nearest (timed): the time split of the whole job, tokenise / encode / top-k\n"
                "  times the encoder on --batch sentences of random token ids per length, and on the sentences of FILE\n"
                "  (token-id lines, e.g. a tokenised catalogue), on each device and precision: tokens/s, sentences/s,\n"
                "  GFLOP/s and MFU (CPU: of this CPU's peak probed with its widest fma, or with its bf16 dot product for\n"
                "  bf16; GPU: of the card's dense peak for the precision), the GPU's time split between copies and\n"
                "  kernels, and GPU/CPU ratios when both devices run.\n"
                "  --batch defaults to 256 sentences on the CPU, 16384 on a GPU. The CPU runs fp32, and bf16 where it has\n"
                "  avx512_bf16; its kernels are the widest ISA it has unless USEREC_CPU_ISA=generic|avx2|avx512 says lower.\n"
                "  --device cuda:all (or cuda:0,1,..): each GPU alone, then all together on --batch sentences per GPU:\n"
                "  each one's share, the total sentences/s and the scaling efficiency (together / the sum alone).\n"
                "  --quiet: no progress lines on stderr\n");
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
    int alone; /* one device of a list, timed alone: no GPU/CPU ratio */
    char workload[64];
    userec_precision precision;
    double sentences_s;
} result;

#define MAX_RESULTS 256

typedef struct {
    const char *model_path;
    int batch, repeats, json, quiet;
    const userec_model *model;
    userec_model_info info;
    const cpu_kernels *kernels;      /* what the CPU encoder runs (USEREC_CPU_ISA or the widest); NULL: refused */
    const cpu_kernels *peak_kernels; /* the widest this CPU has: the peak is probed with its instructions */
    double cpu_peak_gflops;      /* 0 until the probes ran: the fp32 fma ceiling, the MFU denominator; rises as later probes do */
    double cpu_bf16_peak_gflops; /* the same for the bf16 dot product (0 where the CPU has none) */
    double isa_peak_gflops[CPU_ISAS]; /* every ISA's fp32 probe, for the record (0: the CPU lacks it) */
    double cpu_gemm_gflops;      /* userec's GEMM on the largest product shape */
    double cpu_gemm_bf16_gflops; /* the same with bf16 weights (0 where the CPU has none) */
    double cpu_sgemm_gflops;     /* OpenBLAS's sgemm on the same, the peer */
    const char *texts_file;
    workload texts;         /* --texts, tokenised once for every device */
    double tokenize_s;
    size_t text_bytes;
    result results[MAX_RESULTS];
    int n_results, printed;
    int gpus;  /* distinct GPUs of the list being timed: its peak is theirs together */
    int alone; /* timing one device of a list by itself */
    char *scaling;       /* --json: the "scaling" array's entries, printed after the results */
    size_t scaling_size;
    FILE *scaling_json;  /* writes them (open_memstream) */
} bench_run;

/* A progress line on stderr: what is about to be timed. */
__attribute__((format(printf, 2, 3))) static void progress(const bench_run *b, const char *fmt, ...) {
    if (b->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* The CPU's ceiling for precision p: the fp32 fma's or the bf16 dot product's. */
static double *cpu_peak_of(bench_run *b, userec_precision p) {
    return p == USEREC_BF16 ? &b->cpu_bf16_peak_gflops : &b->cpu_peak_gflops;
}

/* Times one workload on enc: a warm-up, then the median of repeats; prints one row. With vectors, hands
 * over the output (the caller frees it) and the median encode time. */
static int time_workload(bench_run *b, userec_encoder *enc, userec_precision p, const workload *w, float **vectors,
                         double *encode_s) {
    const int gpu = userec_encoder_device(enc) == USEREC_DEVICE_CUDA;
    float *out = malloc(w->n * b->info.dim * sizeof *out);
    if (!out) return cli_failed("bench", USEREC_ERR_NOMEM, "out of memory for %zu output rows", w->n);
    userec_error err;
    userec_counts counts = {0};
    progress(b, "%s, %s: %zu sentences, a warm-up then %d timed runs", userec_encoder_name(enc),
             isdigit((unsigned char)w->label[0]) ? "random ids" : w->label, w->n, b->repeats);
    int rc = userec_encoder_encode(enc, w->ids, w->offsets, w->n, out, &counts, &err) ? cli_failed("bench", err.status, "%s", err.message) : 0;
    userec_encoder_stats_reset(enc); /* the split covers the timed runs only */
    double secs[64];
    for (int r = 0; r < b->repeats && !rc; r++) {
        if (!gpu) {
            /* One more fma probe right before each timed run: a shared machine's speed drifts (the other vCPU's
             * host core busy for seconds), and a ceiling probed only at the start could then sit below a run
             * that met a quieter spell, putting its MFU over 100%. */
            const double probe = cpu_peak_gflops(b->peak_kernels, p == USEREC_BF16, 1);
            if (probe > *cpu_peak_of(b, p)) *cpu_peak_of(b, p) = probe;
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
    const double per_token = gpu ? b->info.flops_per_token : cpu_flops_per_token(b->model);
    const double gflops = (tokens_s * per_token + sentences_s * b->info.flops_per_sentence) / 1e9;
    const char *device = userec_encoder_name(enc);
    const double peak = gpu ? 1000 * gpu_peak_tflops(device, p) * (b->alone ? 1 : b->gpus) : *cpu_peak_of(b, p);
    userec_encoder_stats split = {0};
    userec_encoder_stats_get(enc, &split);
    const double per_run = 1.0 / b->repeats;
    if (b->json) {
        printf("%s{\"device\": \"%s\", \"precision\": \"%s\", \"workload\": \"%s\", \"sentences\": %zu, \"tokens\": %zu, "
               "\"seconds_median\": %.6f, \"seconds_min\": %.6f, \"seconds_max\": %.6f, \"tokens_per_s\": %.3f, "
               "\"sentences_per_s\": %.3f, \"gflops\": %.4f, \"peak_gflops\": %.2f, \"mfu\": %.4f",
               b->printed++ ? ", " : "", device, userec_precision_name(p), w->label, w->n, counts.tokens, t.median, t.min,
               t.max, tokens_s, sentences_s, gflops, peak, peak > 0 ? gflops / peak : 0);
        if (!gpu)
            printf(", \"isa\": \"%s\", \"peak_isa\": \"%s\", \"peak_kind\": \"%s\"", b->kernels->name,
                   b->peak_kernels->name, p == USEREC_BF16 ? "bf16 dot product" : "fp32 fma");
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
        *r = (result){.on_gpu = gpu, .alone = b->alone, .precision = p, .sentences_s = sentences_s};
        snprintf(r->workload, sizeof r->workload, "%s", w->label);
    }
    return 0;
}

/* Several devices: each alone on the workload, then all together (the pieces of every call handed out as the
 * devices free up); prints each device's share and the scaling efficiency, the list's sentences/s over the sum
 * of its devices' alone. */
static int time_scaling(bench_run *b, userec_encoder *enc, userec_precision p, const workload *w) {
    userec_device_work work[USEREC_MAX_DEVICES];
    const size_t n = userec_encoder_work(enc, work, USEREC_MAX_DEVICES);
    double alone = 0;
    int rc = 0;
    b->alone = 1;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = time_workload(b, userec_encoder_part(enc, i), p, w, NULL, NULL);
        if (!rc) alone += b->results[b->n_results - 1].sentences_s;
    }
    b->alone = 0;
    if (rc || (rc = time_workload(b, enc, p, w, NULL, NULL))) return rc;
    const double together = b->results[b->n_results - 1].sentences_s;
    userec_encoder_work(enc, work, USEREC_MAX_DEVICES); /* over the timed runs together */
    size_t sentences = 0;
    for (size_t i = 0; i < n; i++) sentences += work[i].sentences;
    if (b->json) {
        FILE *f = b->scaling_json;
        fprintf(f, "%s{\"device\": \"%s\", \"precision\": \"%s\", \"workload\": \"%s\", \"devices\": %zu, "
                "\"sentences_per_s\": %.3f, \"alone_sum_sentences_per_s\": %.3f, \"scaling_efficiency\": %.4f, "
                "\"shares\": [", ftell(f) ? ", " : "", userec_encoder_name(enc), userec_precision_name(p), w->label, n,
                together, alone, together / alone);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s{\"device\": \"%s\", \"sentences\": %zu, \"busy_s\": %.6f}", i ? ", " : "", work[i].name,
                    work[i].sentences, work[i].busy_s);
        fprintf(f, "]}");
        return 0;
    }
    printf("%34s %zu devices together: %.1f sentences/s, %.1f%% of the %.1f of each alone added up (scaling "
           "efficiency)\n", "", n, together, 100 * together / alone, alone);
    for (size_t i = 0; i < n; i++)
        printf("%34s   %-40s %5.1f%% of the sentences, busy %.3f s of the timed runs\n", "", work[i].name,
               sentences ? 100.0 * (double)work[i].sentences / (double)sentences : 0, work[i].busy_s);
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
    progress(b, "%s: all-pairs top-%zu of the %zu texts' vectors", userec_encoder_name(enc), k, n);
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

/* The distinct GPUs of a chosen list. */
static int distinct_gpus(const userec_devices *d) {
    int n = 0;
    for (int i = 0; i < d->count && d->kind == USEREC_DEVICE_CUDA; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = d->index[j] == d->index[i];
        n += !seen;
    }
    return n;
}

/* Runs every workload on one device (or list of devices) and precision. */
static int bench_device(bench_run *b, const userec_devices *d, userec_precision p, const char *seq_lens,
                        const char *ids_file) {
    userec_error err;
    userec_devices chosen;
    const int rc_devices = cli_choose_devices("bench", d, &chosen);
    if (rc_devices) return rc_devices;
    userec_encoder *enc = userec_encoder_open_on(b->model, &chosen, p, stderr, &err);
    if (!enc) return cli_failed("bench", err.status, "%s", err.message);
    b->gpus = distinct_gpus(&chosen);
    const size_t parts = userec_encoder_work(enc, NULL, 0);
    const int on_gpu = userec_encoder_device(enc) == USEREC_DEVICE_CUDA;
    /* per device: a list gets as many sentences as its devices would take alone */
    const int batch = (b->batch ? b->batch : on_gpu ? 16384 : 256) * (int)parts;
    if (!on_gpu && !b->cpu_peak_gflops) {
        /* The best run of each: a shared machine only ever slows a run down. At least PROBE_RUNS runs however
         * few the timed repeats, so that one unlucky probe cannot make the MFU of a lucky call exceed 100%. */
        const int runs = 2 * b->repeats < PROBE_RUNS ? PROBE_RUNS : 2 * b->repeats > 64 ? 64 : 2 * b->repeats;
        const int bf16 = b->peak_kernels->bf16 != NULL;
        progress(b, "probing the CPU's peak: %s fp32 fma%s, best of %d runs on %d threads", b->peak_kernels->name,
                 bf16 ? " and bf16 dot product" : "", runs, omp_get_max_threads());
        b->cpu_peak_gflops = cpu_peak_gflops(b->peak_kernels, 0, runs);
        if (bf16) b->cpu_bf16_peak_gflops = cpu_peak_gflops(b->peak_kernels, 1, runs);
        for (int isa = 0; isa < CPU_ISAS; isa++) {
            const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
            b->isa_peak_gflops[isa] = k == b->peak_kernels ? b->cpu_peak_gflops : k ? cpu_peak_gflops(k, 0, runs) : 0;
        }
        progress(b, "timing [8192, 512] x [512, 1536]: userec's GEMM (%s fp32%s) and OpenBLAS's sgemm, best of %d runs",
                 b->kernels->name, b->kernels->bf16 ? ", bf16" : "", runs);
        b->cpu_gemm_gflops = best(product_probe(b->kernels, 256 * 32, runs, PRODUCT_USEREC));
        if (b->kernels->bf16) b->cpu_gemm_bf16_gflops = best(product_probe(b->kernels, 256 * 32, runs, PRODUCT_USEREC_BF16));
        b->cpu_sgemm_gflops = best(product_probe(b->kernels, 256 * 32, runs, PRODUCT_OPENBLAS));
    }
    char *lens = strdup(seq_lens), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(lens, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        int len;
        if ((rc = cli_int_option("bench", "--seq-len", tok, 1, (int)b->info.max_len, &len))) break;
        workload w = {0};
        rc = random_workload(&w, len, batch, b->info.vocab_rows) ? cli_failed("bench", USEREC_ERR_NOMEM, "out of memory")
             : parts > 1 ? time_scaling(b, enc, p, &w) : time_workload(b, enc, p, &w, NULL, NULL);
        workload_free(&w);
    }
    if (!rc && ids_file) {
        workload w = {0};
        if (!(rc = file_workload(&w, ids_file, b->info.vocab_rows)))
            rc = parts > 1 ? time_scaling(b, enc, p, &w) : time_workload(b, enc, p, &w, NULL, NULL);
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
        for (int j = 0; j < b->n_results && g->on_gpu && !g->alone; j++) {
            const result *c = &b->results[j];
            if (c->on_gpu || c->alone || strcmp(c->workload, g->workload)) continue;
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
                                             {"quiet", no_argument, 0, 'q'},       {"help", no_argument, 0, 'h'},
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
        case 'q': b.quiet = 1; break;
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
    userec_devices device_list[8];
    userec_precision precision_list[USEREC_PRECISIONS];
    int n_devices = 0, n_precisions = 0;
    if (cli_device_groups("bench", devices, device_list, 8, &n_devices)) return EXIT_USAGE;
    char *prec_copy = strdup(precisions), *save = NULL;
    for (char *tok = strtok_r(prec_copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (n_precisions == USEREC_PRECISIONS || userec_precision_parse(tok, &precision_list[n_precisions++], NULL))
            return free(prec_copy), cli_fail("bench", "--precision wants a list of fp32, tf32, bf16; not '%s'", tok);
    free(prec_copy);
    if (threads > 0) omp_set_num_threads(threads), openblas_set_num_threads(threads);
    char isa_refused[200] = "", cpu_name[96];
    b.kernels = cpu_kernels_choose(isa_refused, sizeof isa_refused);
    b.peak_kernels = cpu_kernels_for(cpu_isa_best());
    cpu_model_name(cpu_name, sizeof cpu_name);
    progress(&b, "loading %s", b.model_path);
    double t0 = now_seconds();
    userec_error err;
    userec_model *m = userec_load(b.model_path, &err);
    if (!m) return cli_failed("bench", err.status, "%s", err.message);
    const double load_s = now_seconds() - t0;
    b.model = m;
    b.info = userec_info(m);
    if (b.texts_file) progress(&b, "tokenising %s (timed, one thread)", b.texts_file);
    int failed = b.texts_file ? text_workload(&b.texts, b.texts_file, m, &b.tokenize_s, &b.text_bytes) : 0;
    if (failed) {
        workload_free(&b.texts);
        userec_free(m);
        return failed;
    }
    if (b.json && !(b.scaling_json = open_memstream(&b.scaling, &b.scaling_size))) {
        userec_free(m);
        return cli_failed("bench", USEREC_ERR_NOMEM, "out of memory");
    }
    if (b.json)
        printf("{\"model\": \"%s\", \"threads\": %d, \"load_s\": %.4f, \"cpu_model\": \"%s\", \"cpu_isa\": \"%s\", "
               "\"cpu_peak_isa\": \"%s\", \"results\": [",
               b.model_path, omp_get_max_threads(), load_s, cpu_name, b.kernels ? b.kernels->name : "refused",
               b.peak_kernels->name);
    else
        printf("model %s loaded in %.3f s; %d CPU threads; FLOPs count the matrix products (attention excluded)\n"
               "CPU %s: kernels %s%s%s (widest here: %s%s)\n"
               "%-34s %-5s %-10s %8s %12s %12s %10s %7s\n",
               b.model_path, load_s, omp_get_max_threads(), cpu_name, b.kernels ? b.kernels->name : "refused: ",
               isa_refused, b.kernels && b.kernels != b.peak_kernels ? ", forced by USEREC_CPU_ISA" : "",
               b.peak_kernels->name, b.peak_kernels->bf16 ? ", with avx512_bf16" : "", "device", "prec", "workload",
               "batch", "tokens/s", "sentences/s", "GFLOP/s", "MFU");
    int rc = 0;
    for (int d = 0; d < n_devices && !rc; d++)
        for (int p = 0; p < n_precisions && !rc; p++) {
            const userec_precision prec = precision_list[p];
            if (device_list[d].kind == USEREC_DEVICE_CPU && b.kernels && (prec == USEREC_TF32 || (prec == USEREC_BF16 && !b.kernels->bf16))) {
                fprintf(stderr, "bench: skipping cpu %s: %s\n", userec_precision_name(prec),
                        prec == USEREC_TF32 ? "tf32 is a GPU precision" : "these CPU kernels have no bf16 products (avx512_bf16)");
                continue;
            }
            rc = bench_device(&b, &device_list[d], precision_list[p], seq_lens, ids_file);
        }
    if (!b.json && b.cpu_peak_gflops) {
        printf("CPU peak (the MFU denominator, %s probes): fp32 fma %.1f GFLOP/s", b.peak_kernels->name, b.cpu_peak_gflops);
        if (b.cpu_bf16_peak_gflops) printf(", bf16 dot product %.1f GFLOP/s", b.cpu_bf16_peak_gflops);
        printf(" (fp32 probe per ISA:");
        for (int isa = 0; isa < CPU_ISAS; isa++)
            if (b.isa_peak_gflops[isa]) printf(" %s %.1f", cpu_isa_name((cpu_isa)isa), b.isa_peak_gflops[isa]);
        printf(")");
        printf("; [8192, 512] x [512, 1536]: userec GEMM (%s) fp32 %.1f GFLOP/s", b.kernels->name, b.cpu_gemm_gflops);
        if (b.cpu_gemm_bf16_gflops) printf(", bf16 %.1f GFLOP/s", b.cpu_gemm_bf16_gflops);
        printf(", OpenBLAS sgemm %.1f GFLOP/s (best runs)\n", b.cpu_sgemm_gflops);
    }
    if (b.json) printf("], \"ratios\": [");
    print_ratios(&b);
    if (b.json) {
        fclose(b.scaling_json);
        printf("], \"scaling\": [%s], \"cpu_peak_gflops\": %.2f, \"cpu_bf16_peak_gflops\": %.2f, \"cpu_isa_peak_gflops\": {",
               b.scaling, b.cpu_peak_gflops, b.cpu_bf16_peak_gflops);
        free(b.scaling);
        for (int isa = 0, listed = 0; isa < CPU_ISAS; isa++)
            if (b.isa_peak_gflops[isa])
                printf("%s\"%s\": %.2f", listed++ ? ", " : "", cpu_isa_name((cpu_isa)isa), b.isa_peak_gflops[isa]);
        printf("}, \"cpu_gemm_gflops\": %.2f, \"cpu_gemm_bf16_gflops\": %.2f, \"cpu_sgemm_gflops\": %.2f}\n",
               b.cpu_gemm_gflops, b.cpu_gemm_bf16_gflops, b.cpu_sgemm_gflops);
    }
    workload_free(&b.texts);
    userec_free(m);
    return rc;
}
