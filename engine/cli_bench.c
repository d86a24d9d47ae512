/* cli_bench.c: `userec bench`: steady-state encoder throughput next to the machine's own sgemm rate.
 * Load time is measured separately from the timed runs; each figure is the median of several runs after a
 * warm-up, with the spread (min..max) printed beside it. */
#include <cblas.h>
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "userec.h"

void openblas_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

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

/* The CPU's practical peak: sgemm GFLOP/s on the encoder's largest product shape ([rows, 512] x [512, 1536]).
 * The peak is the best of the repeats (a shared machine only ever slows a run down), so MFU stays <= 100%. */
static timing sgemm_probe(int rows, int repeats) {
    const int k = 512, n = 1536;
    float *a = malloc(sizeof(float) * (size_t)rows * k), *b = malloc(sizeof(float) * (size_t)k * n),
          *c = malloc(sizeof(float) * (size_t)rows * n);
    for (size_t i = 0; i < (size_t)rows * k; i++) a[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)((i * 40503u) % 1000) / 1000.0f - 0.5f;
    double secs[64], flops = 2.0 * rows * k * n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, k, 1, a, k, b, n, 0, c, n); /* warm-up */
    for (int r = 0; r < repeats; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, k, 1, a, k, b, n, 0, c, n);
        secs[r] = now() - t;
    }
    free(a), free(b), free(c);
    timing t = summarize(secs, repeats);
    return (timing){.median = flops / t.median / 1e9, .min = flops / t.max / 1e9, .max = flops / t.min / 1e9};
}

static double best(timing t) { return t.max; }

static void usage(FILE *to) {
    fprintf(to, "usage: userec bench --model MODEL.usew [--seq-len 32,128] [--batch 256] [--repeat 5] [--threads N] [--json]\n"
                "  times the fp32 CPU encoder on random token ids of each length, next to the sgemm rate of this CPU\n");
}

int cmd_bench(int argc, char **argv) {
    static const struct option longopts[] = {{"model", required_argument, 0, 'm'}, {"seq-len", required_argument, 0, 's'},
                                             {"batch", required_argument, 0, 'b'}, {"repeat", required_argument, 0, 'r'},
                                             {"threads", required_argument, 0, 't'}, {"json", no_argument, 0, 'j'},
                                             {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *model_path = NULL, *seq_lens = "32,128";
    int batch = 256, repeats = 5, threads = 0, json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 's': seq_lens = optarg; break;
        case 'b': batch = atoi(optarg); break;
        case 'r': repeats = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!model_path || batch < 1 || repeats < 1 || repeats > 64 || optind < argc) {
        usage(stderr);
        return cli_fail("bench", "--model is required; --batch >= 1; --repeat 1..64");
    }
    if (threads > 0) omp_set_num_threads(threads), openblas_set_num_threads(threads);
    double t0 = now();
    userec_error err;
    userec_model *m = userec_load(model_path, &err);
    if (!m) return cli_fail("bench", "%s", err.message), 1;
    const double load_s = now() - t0;
    const userec_model_info info = userec_info(m);
    const timing peak = sgemm_probe(batch * 32, 2 * repeats);
    if (json)
        printf("{\"model\": \"%s\", \"threads\": %d, \"load_s\": %.4f, \"cpu_sgemm_gflops\": %.2f, \"results\": [", model_path,
               omp_get_max_threads(), load_s, best(peak));
    else
        printf("model %s loaded in %.3f s; %d threads; CPU sgemm probe best %.1f GFLOP/s (median %.1f, worst %.1f)\n"
               "%-7s %-7s %8s %12s %12s %10s %10s\n",
               model_path, load_s, omp_get_max_threads(), peak.max, peak.median, peak.min, "device", "seq_len",
               "batch", "tokens/s", "sentences/s", "GFLOP/s", "of sgemm");
    char *lens = strdup(seq_lens), *save = NULL;
    int first = 1, rc = 0;
    for (char *tok = strtok_r(lens, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        int len = atoi(tok);
        if (len < 1 || (unsigned)len > info.max_len) {
            rc = cli_fail("bench", "--seq-len %s: lengths run from 1 to %u", tok, info.max_len);
            break;
        }
        size_t n_ids = (size_t)batch * len;
        int32_t *ids = malloc(n_ids * sizeof *ids);
        size_t *offsets = malloc(((size_t)batch + 1) * sizeof *offsets);
        float *out = malloc((size_t)batch * info.dim * sizeof *out);
        uint64_t state = 12345;
        for (size_t i = 0; i < n_ids; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            ids[i] = (int32_t)(6 + (state >> 33) % (info.vocab_rows - 8)); /* ordinary pieces, not control ids */
        }
        for (int s = 0; s <= batch; s++) offsets[s] = (size_t)s * len;
        double secs[64];
        userec_encode_ids(m, ids, offsets, (size_t)batch, out, NULL, &err); /* warm-up */
        for (int r = 0; r < repeats && !rc; r++) {
            double t = now();
            if (userec_encode_ids(m, ids, offsets, (size_t)batch, out, NULL, &err)) rc = cli_fail("bench", "%s", err.message);
            secs[r] = now() - t;
        }
        if (!rc) {
            timing t = summarize(secs, repeats);
            double tokens_s = (double)n_ids / t.median, sentences_s = batch / t.median;
            double gflops = (tokens_s * info.flops_per_token + sentences_s * info.flops_per_sentence) / 1e9;
            if (json)
                printf("%s{\"device\": \"cpu\", \"precision\": \"fp32\", \"seq_len\": %d, \"batch\": %d, \"seconds_median\": %.6f, "
                       "\"seconds_min\": %.6f, \"seconds_max\": %.6f, \"tokens_per_s\": %.1f, \"sentences_per_s\": %.1f, "
                       "\"gflops\": %.2f, \"peak_gflops\": %.2f, \"mfu\": %.4f}",
                       first ? "" : ", ", len, batch, t.median, t.min, t.max, tokens_s, sentences_s, gflops, best(peak),
                       gflops / best(peak));
            else
                printf("%-7s %-7d %8d %12.0f %12.1f %10.1f %9.0f%%   (%.3f s median, %.3f..%.3f)\n", "cpu", len, batch,
                       tokens_s, sentences_s, gflops, 100 * gflops / best(peak), t.median, t.min, t.max);
            first = 0;
        }
        free(ids), free(offsets), free(out);
    }
    if (json) printf("]}\n");
    free(lens);
    userec_free(m);
    return rc;
}
