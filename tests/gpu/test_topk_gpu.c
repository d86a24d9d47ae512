/* test_topk_gpu.c: the CUDA top-k (kernels/topk_fused.cu) against the CPU path (engine/topk_cpu.c), which
 * tests/test_topk.py checks against a float64 brute force.
 *
 * fp32: both paths sum every score as the same fma chain (docs/topk.md), so the GPU must return the CPU's
 * indices and scores bit for bit; each case is also checked on its own, FAISS-style, against float64 (so a
 * failure of the first alone says "exact but not bit-identical"). bf16: recall@k >= 0.99 against fp32.
 * Cases cover k > n, self exclusion, k = 1024 (lists on chip, 16-query tiles), k = 2500 (lists in global
 * memory), few queries against many items (many splits, merged), and a memory cap that forces the items and
 * the queries to stream through in chunks (USEREC_TOPK_GPU_MEMORY_MB).
 * Skips, saying why, when there is no usable GPU or the build has no CUDA. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gpu/gpu.h"
#include "topk/topk.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static double uniform(void) { /* xorshift64*, in (0, 1) */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return ((double)((rng * 2685821657736338717ull) >> 11) + 0.5) / 9007199254740992.0;
}

/* n unit vectors of dim gaussian components, rows [dups_from, n) copying earlier rows (exact ties). */
static float *unit_vectors(size_t n, size_t dim, size_t dups_from) {
    float *x = malloc(n * dim * sizeof *x);
    for (size_t r = 0; r < n; r++) {
        if (r >= dups_from) {
            memcpy(x + r * dim, x + (size_t)(uniform() * (double)dups_from) * dim, dim * sizeof *x);
            continue;
        }
        double sq = 0;
        for (size_t c = 0; c < dim; c++) {
            const double g = sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
            x[r * dim + c] = (float)g;
            sq += g * g;
        }
        for (size_t c = 0; c < dim; c++) x[r * dim + c] = (float)(x[r * dim + c] / sqrt(sq));
    }
    return x;
}

typedef struct {
    int32_t *index;
    float *score;
} result;

static int search(const float *q, size_t nq, const float *x, size_t n, size_t dim, size_t k, int exclude_self,
                  userec_device device, userec_precision precision, result *r, char *err, size_t err_len) {
    r->index = malloc(nq * k * sizeof *r->index);
    r->score = malloc(nq * k * sizeof *r->score);
    const userec_topk_options opt = {.k = k, .exclude_self = exclude_self, .device = device, .precision = precision};
    userec_error e;
    if (!userec_topk_search(q, nq, x, n, dim, &opt, r->index, r->score, &e)) return 0;
    snprintf(err, err_len, "%s", e.message);
    return -1;
}

static void result_free(result *r) {
    free(r->index);
    free(r->score);
}

/* FAISS-style against float64: count, no repeats, no self, order, scores within the fp32 bound, nothing left
 * out beating the k-th by more than twice the bound. Returns NULL or what is wrong. */
static const char *check_exact(const float *q, size_t nq, const float *x, size_t n, size_t dim, size_t k,
                               int exclude_self, const result *r, char *why, size_t why_len) {
    const double tol = (double)(dim + 16) / 16777216.0;
    const size_t want = k < n - (exclude_self ? 1 : 0) ? k : n - (exclude_self ? 1 : 0);
    double *truth = malloc(n * sizeof *truth);
    char *taken = malloc(n);
    const char *bad = NULL;
    for (size_t i = 0; i < nq && !bad; i++) {
        for (size_t j = 0; j < n; j++) {
            double dot = 0;
            for (size_t c = 0; c < dim; c++) dot += (double)q[i * dim + c] * x[j * dim + c];
            truth[j] = dot;
        }
        memset(taken, 0, n);
        double worst_taken = INFINITY;
        for (size_t rank = 0; rank < k && !bad; rank++) {
            const int32_t j = r->index[i * k + rank];
            const float s = r->score[i * k + rank];
            if (rank >= want) {
                if (j != USEREC_TOPK_EMPTY || s != -INFINITY) snprintf(why, why_len, "query %zu rank %zu: %d, %g where none exists", i, rank, j, s), bad = why;
                continue;
            }
            if (j < 0 || (size_t)j >= n || taken[j] || (exclude_self && (size_t)j == i))
                snprintf(why, why_len, "query %zu rank %zu: index %d is out of range, repeated or self", i, rank, j), bad = why;
            else if (fabs(s - truth[j]) > tol)
                snprintf(why, why_len, "query %zu rank %zu: score %.9g, float64 %.9g", i, rank, s, truth[j]), bad = why;
            else if (rank && (s > r->score[i * k + rank - 1] || (s == r->score[i * k + rank - 1] && j < r->index[i * k + rank - 1])))
                snprintf(why, why_len, "query %zu rank %zu: out of (score desc, index asc) order", i, rank), bad = why;
            else {
                taken[j] = 1;
                if (truth[j] < worst_taken) worst_taken = truth[j];
            }
        }
        for (size_t j = 0; j < n && !bad; j++)
            if (!taken[j] && !(exclude_self && j == i) && truth[j] > worst_taken + 2 * tol)
                snprintf(why, why_len, "query %zu: item %zu (%.9g) was left out, the k-th scores %.9g", i, j, truth[j], worst_taken), bad = why;
    }
    free(truth);
    free(taken);
    return bad;
}

/* Fraction of the reference's neighbours that the other result found. */
static double recall(const result *got, const result *ref, size_t nq, size_t k) {
    size_t hits = 0, total = 0;
    for (size_t i = 0; i < nq; i++)
        for (size_t a = 0; a < k; a++) {
            const int32_t want = ref->index[i * k + a];
            if (want == USEREC_TOPK_EMPTY) continue;
            total++;
            for (size_t b = 0; b < k; b++)
                if (got->index[i * k + b] == want) {
                    hits++;
                    break;
                }
        }
    return total ? (double)hits / (double)total : 1;
}

typedef struct {
    const char *name;
    size_t n_queries, n_items, k; /* n_queries 0: all-pairs */
    const char *memory_mb;        /* USEREC_TOPK_GPU_MEMORY_MB, or NULL */
    int check_float64;            /* the float64 check costs n_queries * n_items * dim on the CPU */
} fp32_case;

static void run_fp32_case(const fp32_case *c) {
    const size_t dim = 512, n = c->n_items, nq = c->n_queries ? c->n_queries : n, k = c->k;
    const int all_pairs = !c->n_queries;
    float *x = unit_vectors(n, dim, n - n / 10), *q = all_pairs ? x : unit_vectors(nq, dim, nq);
    char err[512] = "", name[200], why[300];
    result cpu = {0}, gpu = {0};
    if (c->memory_mb) setenv("USEREC_TOPK_GPU_MEMORY_MB", c->memory_mb, 1);
    int rc_cpu = search(q, nq, x, n, dim, k, all_pairs, USEREC_DEVICE_CPU, USEREC_FP32, &cpu, err, sizeof err);
    int rc_gpu = rc_cpu ? -1 : search(q, nq, x, n, dim, k, all_pairs, USEREC_DEVICE_CUDA, USEREC_FP32, &gpu, err, sizeof err);
    unsetenv("USEREC_TOPK_GPU_MEMORY_MB");
    snprintf(name, sizeof name, "fp32 %s: runs", c->name);
    CHECK(!rc_cpu && !rc_gpu, name, "%s", err);
    if (!rc_cpu && !rc_gpu) {
        size_t first = nq * k;
        for (size_t i = 0; i < nq * k && first == nq * k; i++)
            if (cpu.index[i] != gpu.index[i] || memcmp(&cpu.score[i], &gpu.score[i], sizeof(float))) first = i;
        snprintf(name, sizeof name, "fp32 %s: GPU equals CPU bit for bit", c->name);
        CHECK(first == nq * k, name, "first difference at query %zu rank %zu: gpu %d %.9g, cpu %d %.9g", first / k, first % k,
              gpu.index[first], gpu.score[first], cpu.index[first], cpu.score[first]);
        if (c->check_float64) {
            const char *bad = check_exact(q, nq, x, n, dim, k, all_pairs, &gpu, why, sizeof why);
            snprintf(name, sizeof name, "fp32 %s: GPU exact against float64", c->name);
            CHECK(!bad, name, "%s", bad);
        }
    }
    result_free(&cpu);
    result_free(&gpu);
    if (q != x) free(q);
    free(x);
}

static void run_bf16_recall(size_t n, size_t k) {
    const size_t dim = 512;
    float *x = unit_vectors(n, dim, n);
    char err[512] = "", name[100];
    result ref = {0}, got = {0};
    const int rc_ref = search(x, n, x, n, dim, k, 1, USEREC_DEVICE_CUDA, USEREC_FP32, &ref, err, sizeof err);
    const int rc_got = rc_ref ? -1 : search(x, n, x, n, dim, k, 1, USEREC_DEVICE_CUDA, USEREC_BF16, &got, err, sizeof err);
    snprintf(name, sizeof name, "bf16 all-pairs n=%zu k=%zu: recall@k >= 0.99 against fp32", n, k);
    const double r = rc_got ? 0 : recall(&got, &ref, n, k);
    if (!rc_got) printf("    bf16 recall@%zu over %zu queries: %.5f\n", k, n, r);
    CHECK(!rc_got && r >= 0.99, name, "%s recall %.5f", err, r);
    result_free(&ref);
    result_free(&got);
    free(x);
}

int main(void) {
    userec_error uerr = {0};
    if (gpu_list(NULL, 0, &uerr) == 0) {
        SKIP("topk gpu", uerr.message);
        return 0;
    }
    static const fp32_case cases[] = {
        {"all-pairs n=1 k=1", 0, 1, 1, NULL, 1},
        {"all-pairs n=5 k=10 (k > n)", 0, 5, 10, NULL, 1},
        {"all-pairs n=3000 k=10", 0, 3000, 10, NULL, 1},
        {"all-pairs n=3000 k=1024 (16-query tiles)", 0, 3000, 1024, NULL, 1},
        {"200 queries x 3000 k=2500 (lists in global memory)", 200, 3000, 2500, NULL, 1},
        {"3 queries x 100000 k=100 (many splits, merged)", 3, 100000, 100, NULL, 1},
        {"all-pairs n=20000 k=10, 40 MiB cap (items and queries in chunks)", 0, 20000, 10, "40", 0},
        {"700 queries x 30000 k=300, 48 MiB cap", 700, 30000, 300, "48", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_fp32_case(&cases[i]);
    run_bf16_recall(20000, 10);
    run_bf16_recall(5000, 1024);
    CHECK_DONE();
}
