/* test_topk.c: the top-k C API (engine/topk.h) on the CPU, where tests/test_topk.py (through the CLI) cannot
 * look: the score tile against a scalar fma chain bit for bit, the empty-rank markers, argument errors, the
 * all-pairs (symmetric) path against the plain one, and float16 decoding. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "output/npy.h"
#include "topk/topk.h"
#include "topk/topk_tile.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float uniform_pm1(void) { /* xorshift64*, in [-1, 1) */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (float)((double)((rng * 2685821657736338717ull) >> 40) / 8388608.0 - 1.0);
}

static float *random_unit(size_t n, size_t dim) {
    float *x = malloc(n * dim * sizeof *x);
    for (size_t r = 0; r < n; r++) {
        double sq = 0;
        for (size_t c = 0; c < dim; c++) x[r * dim + c] = uniform_pm1(), sq += (double)x[r * dim + c] * x[r * dim + c];
        for (size_t c = 0; c < dim; c++) x[r * dim + c] = (float)(x[r * dim + c] / sqrt(sq));
    }
    return x;
}

/* Every tile score equals the scalar chain fmaf(q[d-1], x[d-1], ... fmaf(q[0], x[0], 0)), wherever it sits, on
 * every ISA this CPU runs. */
static void test_tile_is_a_plain_fma_chain(const cpu_kernels *k) {
    const size_t rows = 37, cols = 75, dim = 300; /* partial micro-panels and a partial k chunk */
    float *q = random_unit(rows, dim), *x = random_unit(cols, dim);
    topk_tile t;
    char name[96];
    snprintf(name, sizeof name, "tile (%s): every score is the scalar fma chain, bit for bit", k->name);
    CHECK(!topk_tile_init(&t, k, 64, 80, dim), "tile: init", "out of memory");
    topk_tile_score(&t, q, rows, x, cols);
    size_t bad = 0, first_i = 0, first_j = 0;
    float got = 0, want = 0;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            float chain = 0;
            for (size_t c = 0; c < dim; c++) chain = fmaf(q[i * dim + c], x[j * dim + c], chain);
            if (memcmp(&chain, &t.scores[i * t.ld + j], sizeof chain) && !bad++)
                first_i = i, first_j = j, got = t.scores[i * t.ld + j], want = chain;
        }
    CHECK(!bad, name, "%zu differ, first (%zu, %zu): %.9g vs %.9g", bad, first_i, first_j, got, want);
    topk_tile_free(&t);
    free(q);
    free(x);
}

/* userec_topk_search, its message copied into err (256 bytes); returns 0 or -1. */
static int topk_search(const float *q, size_t nq, const float *x, size_t n, size_t dim, const userec_topk_options *opt,
                       int32_t *index, float *score, char *err) {
    userec_error e;
    if (!userec_topk_search(q, nq, x, n, dim, opt, index, score, &e)) return 0;
    snprintf(err, 256, "%.255s", e.message);
    return -1;
}

static int search(const float *q, size_t nq, const float *x, size_t n, size_t dim, size_t k, int exclude_self,
                  int32_t *index, float *score, char *err) {
    const userec_topk_options opt = {.k = k, .exclude_self = exclude_self};
    return topk_search(q, nq, x, n, dim, &opt, index, score, err);
}

static void test_empty_ranks(void) {
    const size_t n = 3, dim = 8, k = 5;
    float *x = random_unit(n, dim);
    int32_t index[15];
    float score[15];
    char err[256] = "";
    int rc = search(x, n, x, n, dim, k, 1, index, score, err);
    int ok = !rc;
    for (size_t q = 0; q < n && ok; q++)
        for (size_t r = 0; r < k; r++) {
            const int empty = index[q * k + r] == USEREC_TOPK_EMPTY && score[q * k + r] == -INFINITY;
            ok &= r < 2 ? !empty && index[q * k + r] != (int32_t)q : empty;
        }
    CHECK(ok, "k > n: two neighbours each (self excluded), then ranks marked -1 / -inf", "rc %d %s; query 0: %d %d %d %d %d",
          rc, err, index[0], index[1], index[2], index[3], index[4]);
    rc = search(x, n, x, 0, dim, 2, 0, index, score, err);
    CHECK(!rc && index[0] == USEREC_TOPK_EMPTY && index[5] == USEREC_TOPK_EMPTY && score[5] == -INFINITY,
          "no items: every rank empty", "rc %d %s", rc, err);
    free(x);
}

static void test_argument_errors(void) {
    float x[8] = {1, 0, 0, 0, 0, 1, 0, 0};
    int32_t index[8];
    float score[8];
    char err[256] = "";
    CHECK(search(x, 2, x, 2, 4, 0, 0, index, score, err) && strstr(err, "k must be"), "k = 0 is refused", "'%s'", err);
    err[0] = 0;
    CHECK(search(x, 2, x, 1, 4, 1, 1, index, score, err) && strstr(err, "2 queries and only 1 items"),
          "excluding self with more queries than items is refused", "'%s'", err);
    const userec_topk_options bf16_cpu = {.k = 1, .precision = USEREC_BF16};
    err[0] = 0;
    CHECK(topk_search(x, 2, x, 2, 4, &bf16_cpu, index, score, err) && strstr(err, "fp32 only"),
          "bf16 on the CPU is refused", "'%s'", err);
}

/* All-pairs takes the symmetric path (queries == items); the same rows through a copy take the plain one. */
static void test_symmetric_equals_plain(void) {
    const size_t n = 2100, dim = 64, k = 7; /* five blocks of 512, the last partial */
    float *x = random_unit(n, dim), *copy = malloc(n * dim * sizeof *copy);
    for (size_t r = 1900; r < n; r++) memcpy(x + r * dim, x + (r - 1900) * 9 * dim, dim * sizeof *x); /* ties */
    memcpy(copy, x, n * dim * sizeof *x);
    int32_t *ia = malloc(n * k * sizeof *ia), *ib = malloc(n * k * sizeof *ib);
    float *sa = malloc(n * k * sizeof *sa), *sb = malloc(n * k * sizeof *sb);
    char err[256] = "";
    int rc = search(x, n, x, n, dim, k, 1, ia, sa, err) || search(copy, n, x, n, dim, k, 1, ib, sb, err);
    size_t first = n * k;
    for (size_t i = 0; !rc && i < n * k && first == n * k; i++)
        if (ia[i] != ib[i] || memcmp(&sa[i], &sb[i], sizeof *sa)) first = i;
    CHECK(!rc && first == n * k, "all-pairs (symmetric tiles) equals the plain path bit for bit",
          "rc %d %s; first difference at %zu: %d %.9g vs %d %.9g", rc, err, first, ia[first % (n * k)], sa[first % (n * k)],
          ib[first % (n * k)], sb[first % (n * k)]);
    free(x), free(copy), free(ia), free(ib), free(sa), free(sb);
}

/* float16 rows, subnormals included, come back as the values they encode (then scaled to unit length). */
static void test_float16_decoding(void) {
    char path[] = "/tmp/userec-test-topk-XXXXXX.npy", err[256] = "";
    int fd = mkstemps(path, 4);
    if (fd >= 0) close(fd);
    const float rows[3][2] = {{0x1p-20f, 0x1p-22f}, {65504.0f, -0.5f}, {0.75f, 0.0f}}; /* exact in float16 */
    npy_writer w;
    int rc = npy_writer_open(&w, path, NPY_F16, 2, err, sizeof err);
    if (!rc && (rc = npy_writer_append(&w, &rows[0][0], 3, err, sizeof err))) npy_writer_abort(&w);
    if (!rc) rc = npy_writer_commit(&w, err, sizeof err);
    topk_matrix m = {0};
    size_t scaled = 0, zero = 0;
    if (!rc) rc = topk_load_vectors(path, &m, &scaled, &zero, NULL, err, sizeof err);
    double worst = rc ? INFINITY : 0;
    for (size_t r = 0; r < 3 && !rc; r++) {
        const double norm = hypot(rows[r][0], rows[r][1]);
        for (size_t c = 0; c < 2; c++) worst = fmax(worst, fabs(m.data[r * 2 + c] - rows[r][c] / norm));
    }
    CHECK(!rc && worst < 1e-7 && scaled == 3 && zero == 0, "float16 .npy: values decoded exactly, rows scaled to unit",
          "rc %d %s; max error %g; %zu scaled", rc, err, worst, scaled);
    topk_matrix_free(&m);
    unlink(path);
}

int main(void) {
    for (int isa = 0; isa < CPU_ISAS; isa++) {
        const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
        if (k) test_tile_is_a_plain_fma_chain(k);
        else SKIP(cpu_isa_name((cpu_isa)isa), "this CPU does not run these kernels");
    }
    test_empty_ranks();
    test_argument_errors();
    test_symmetric_equals_plain();
    test_float16_decoding();
    CHECK_DONE();
}
