/* test_gemm.c: the CPU dense layers (engine/cpu/cpu_gemm.h) against their definition, on every ISA this CPU
 * runs (the others are skipped, saying so): every output is one fp32 fma chain in ascending k started from the
 * bias (plus the residual), so the expected values are computed by a scalar loop and must match bit for bit,
 * whatever the ISA, the shape, the thread count or the row's position. A float64 product bounds the chain's
 * rounding, as a check on the definition itself; the fused feed-forward block must give the bits of its two
 * products, and the pooled first product the bits of the product then the pool; a layer norm fused into a
 * product's packing, the bits of cpu_layer_norm then the product. bf16 weights (where the CPU has
 * avx512_bf16): within fp32 summation error of the float64 product of the bf16-rounded operands, and the same
 * position independence and fusions, bit for bit. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu_gemm.h"
#include "cpu/cpu_ops.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float uniform_pm1(void) { /* xorshift64*, in [-1, 1) */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (float)((double)((rng * 2685821657736338717ull) >> 40) / 8388608.0 - 1.0);
}

static float *random_floats(size_t n) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = uniform_pm1();
    return x;
}

static const cpu_kernels *K; /* the ISA under test */
static int BF16;             /* bf16 weights (K->bf16) */

static int pack(const float *w, const float *b, uint32_t in, uint32_t out, gemm_weights *packed) {
    return (BF16 ? gemm_weights_pack_bf16 : gemm_weights_pack)(w, b, in, out, packed);
}

/* What the bf16 products multiply: the value rounded to bf16. */
static float bf16(float x) {
    const uint32_t bits = (uint32_t)gemm_bf16_round(x) << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static const char *epilogue_name(gemm_epilogue e) {
    return e == GEMM_BIAS ? "bias" : e == GEMM_BIAS_RELU ? "bias+relu" : "bias+residual";
}

/* y = epilogue(x . w + b) through gemm_dense against the scalar chain (bit for bit) and float64 (tolerance). */
static void check_dense(size_t rows, uint32_t in, uint32_t out, gemm_epilogue epilogue, int threads) {
    float *x = random_floats(rows * in), *w = random_floats((size_t)in * out), *b = random_floats(out);
    float *y = random_floats(rows * out), *residual = malloc(rows * out * sizeof *residual);
    memcpy(residual, y, rows * out * sizeof *y);
    gemm_weights packed;
    char name[160];
    snprintf(name, sizeof name, "%s %s: dense %zu x %u -> %u, %s, %d threads", K->name, BF16 ? "bf16" : "fp32", rows,
             in, out, epilogue_name(epilogue), threads);
    if (pack(w, b, in, out, &packed)) {
        CHECK(0, name, "out of memory");
        return;
    }
    omp_set_num_threads(threads);
    const int failed = gemm_dense(K, x, rows, NULL, &packed, y, epilogue);
    size_t differ = 0, at = 0, beyond = 0;
    float first_want[3] = {0};
    double max_err = 0, tol_at_max = 0;
    float want_at = 0, got_at = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < out; c++) {
            float chain = (epilogue == GEMM_BIAS_ADD ? residual[r * out + c] : 0.0f) + b[c];
            double exact = (epilogue == GEMM_BIAS_ADD ? residual[r * out + c] : 0.0) + b[c];
            for (size_t k = 0; k < in; k++) {
                chain = fmaf(x[r * in + k], w[k * out + c], chain);
                exact += BF16 ? (double)bf16(x[r * in + k]) * bf16(w[k * out + c]) : (double)x[r * in + k] * w[k * out + c];
            }
            if (epilogue == GEMM_BIAS_RELU) chain = chain > 0 ? chain : 0.0f, exact = exact > 0 ? exact : 0.0;
            if (r == 0 && c < 3) first_want[c] = chain;
            const float got = y[r * out + c];
            if (!BF16 && memcmp(&got, &chain, sizeof got) && !differ++) at = r * out + c, want_at = chain, got_at = got;
            /* fp32 sums of `in` steps: |error| <= in * 2^-24 * sum |terms|, bounded here by atol + |exact| * eps
             * (random signs keep the partial sums small). bf16: against the exact sum of the bf16-rounded operands'
             * products, which fp32 sums reach as closely (operands left unrounded would miss by ~2^-9 relative). */
            const double err = fabs((double)got - exact), tol = 1e-6 * (in + 1) + fabs(exact) * 1e-6;
            beyond += err > tol;
            if (err > max_err) max_err = err, tol_at_max = tol;
        }
    if (!BF16)
        CHECK(!failed && !differ, name, "failed %d; %zu outputs differ from the fma chain, first [%zu, %zu]: got %.9g, want %.9g",
              failed, differ, at / out, at % out, got_at, want_at);
    snprintf(name + strlen(name), sizeof name - strlen(name), ": within float64 tolerance");
    CHECK(!failed && !beyond, name, "failed %d, %zu outputs beyond the tolerance", failed, beyond);
    printf("# %s %s %zu x %u -> %u %s: max |error| vs float64 %.3g (tolerance there %.3g); first values got/fp32 chain:",
           K->name, BF16 ? "bf16" : "fp32", rows, in, out, epilogue_name(epilogue), max_err, tol_at_max);
    for (size_t c = 0; c < 3 && c < out; c++) printf(" %.9g/%.9g", y[c], first_want[c]);
    printf("\n");
    gemm_weights_free(&packed);
    free(x), free(w), free(b), free(y), free(residual);
}

/* A row gets the same bits alone and anywhere inside a large batch (the encoder's batch invariance). */
static void check_row_position_independence(void) {
    const size_t rows = 333;
    const uint32_t in = 520, out = 70;
    float *x = random_floats(rows * in), *w = random_floats((size_t)in * out), *b = random_floats(out);
    float *batch = malloc(rows * out * sizeof *batch), alone[70];
    gemm_weights packed;
    char name[96];
    snprintf(name, sizeof name, "%s %s: dense: a row alone equals the row in a batch", K->name, BF16 ? "bf16" : "fp32");
    if (pack(w, b, in, out, &packed)) {
        CHECK(0, name, "out of memory");
        return;
    }
    omp_set_num_threads(2);
    size_t differ = gemm_dense(K, x, rows, NULL, &packed, batch, GEMM_BIAS_RELU) != 0;
    for (size_t r = 0; r < rows; r += 7)
        differ += gemm_dense(K, x + r * in, 1, NULL, &packed, alone, GEMM_BIAS_RELU) || memcmp(alone, batch + r * out, sizeof alone);
    CHECK(!differ, name, "%zu of %zu rows differ", differ, (rows + 6) / 7);
    gemm_weights_free(&packed);
    free(x), free(w), free(b), free(batch);
}

/* A layer norm's scale and bias of width w, and x's rows normalised by it with cpu_layer_norm: what a product
 * given that gemm_norm must see. */
#define NORM_EPS 1e-6f
static gemm_norm random_norm(const float *x, size_t rows, uint32_t w, float *normed) {
    float *scale = random_floats(w), *bias = random_floats(w);
    cpu_layer_norm(K, x, rows, w, &(layer_norm){scale, bias}, NORM_EPS, normed);
    return (gemm_norm){scale, bias, NORM_EPS};
}

static void norm_free(gemm_norm *norm) { free((float *)norm->scale), free((float *)norm->bias); }

/* gemm_mlp gives the bits of its two gemm_dense calls, for batches below, at and above a block per thread; with a
 * layer norm (and y = x, as the encoder calls it), the bits of cpu_layer_norm then the two products. */
static void check_mlp_equals_two_products(size_t rows, int threads, int normed) {
    const uint32_t d = 40, hidden = 100;
    float *x = random_floats(rows * d), *w_up = random_floats((size_t)d * hidden), *b_up = random_floats(hidden);
    float *w_down = random_floats((size_t)hidden * d), *b_down = random_floats(d), *xn = malloc(rows * d * sizeof *xn);
    float *fused = random_floats(rows * d), *apart = malloc(rows * d * sizeof *apart), *mid = malloc(rows * hidden * sizeof *mid);
    gemm_norm norm = {0};
    if (normed) norm = random_norm(x, rows, d, xn), memcpy(fused, x, rows * d * sizeof *x);
    else memcpy(xn, x, rows * d * sizeof *x);
    memcpy(apart, fused, rows * d * sizeof *fused);
    gemm_weights up, down;
    char name[160];
    snprintf(name, sizeof name, "%s %s: mlp: %zu rows, %d threads, %sequals relu-product then residual product", K->name,
             BF16 ? "bf16" : "fp32", rows, threads, normed ? "layer norm in place: " : "");
    omp_set_num_threads(threads);
    int failed = pack(w_up, b_up, d, hidden, &up) || pack(w_down, b_down, hidden, d, &down) ||
                 gemm_mlp(K, normed ? fused : x, rows, normed ? &norm : NULL, NULL, &up, &down, fused) ||
                 gemm_dense(K, xn, rows, NULL, &up, mid, GEMM_BIAS_RELU) ||
                 gemm_dense(K, mid, rows, NULL, &down, apart, GEMM_BIAS_ADD);
    size_t differ = 0;
    for (size_t i = 0; i < rows * d; i++) differ += memcmp(&fused[i], &apart[i], sizeof *fused) != 0;
    CHECK(!failed && !differ, name, "failed %d, %zu of %zu outputs differ", failed, differ, rows * d);
    gemm_weights_free(&up), gemm_weights_free(&down);
    if (normed) norm_free(&norm);
    free(x), free(xn), free(w_up), free(b_up), free(w_down), free(b_down), free(fused), free(apart), free(mid);
}

/* gemm_dense with a layer norm gives the bits of cpu_layer_norm then the product, with the columns split among
 * the threads (few rows) and not. */
static void check_dense_normed(size_t rows, int threads) {
    const uint32_t in = 300, out = 200;
    float *x = random_floats(rows * in), *w = random_floats((size_t)in * out), *b = random_floats(out);
    float *xn = malloc(rows * in * sizeof *xn), *fused = malloc(rows * out * sizeof *fused), *apart = malloc(rows * out * sizeof *apart);
    gemm_norm norm = random_norm(x, rows, in, xn);
    gemm_weights packed;
    char name[128];
    snprintf(name, sizeof name, "%s %s: dense with layer norm: %zu rows, %d threads, equals layer norm then product",
             K->name, BF16 ? "bf16" : "fp32", rows, threads);
    omp_set_num_threads(threads);
    int failed = pack(w, b, in, out, &packed) || gemm_dense(K, x, rows, &norm, &packed, fused, GEMM_BIAS) ||
                 gemm_dense(K, xn, rows, NULL, &packed, apart, GEMM_BIAS);
    CHECK(!failed && !memcmp(fused, apart, rows * out * sizeof *fused), name, "failed %d, or the outputs differ", failed);
    gemm_weights_free(&packed);
    norm_free(&norm);
    free(x), free(w), free(b), free(xn), free(fused), free(apart);
}

/* gemm_relu_mean gives the bits of gemm_dense(.., GEMM_BIAS_RELU) then cpu_mean_pool, for sentences that are
 * empty, shorter than a row block, as long as several, and crossing blocks; with a layer norm, the bits of
 * cpu_layer_norm then those. */
static void check_relu_mean_equals_product_then_pool(int threads, int normed) {
    const size_t lens[] = {3, 0, 1, 150, 72, 0, 40, 41, 7, 128, 0, 5};
    const size_t n = sizeof lens / sizeof *lens;
    const uint32_t in = 40, out = 100;
    size_t starts[sizeof lens / sizeof *lens + 1] = {0};
    for (size_t s = 0; s < n; s++) starts[s + 1] = starts[s] + lens[s];
    const size_t rows = starts[n];
    float *x = random_floats(rows * in), *w = random_floats((size_t)in * out), *b = random_floats(out);
    float *fused = random_floats(n * out), *apart = malloc(n * out * sizeof *apart), *mid = malloc(rows * out * sizeof *mid);
    float *xn = malloc(rows * in * sizeof *xn);
    gemm_norm norm = {0};
    if (normed) norm = random_norm(x, rows, in, xn);
    else memcpy(xn, x, rows * in * sizeof *x);
    gemm_weights packed;
    char name[160];
    snprintf(name, sizeof name, "%s %s: relu_mean: %zu sentences, %zu rows, %d threads, equals %sproduct then mean pool",
             K->name, BF16 ? "bf16" : "fp32", n, rows, threads, normed ? "layer norm then " : "");
    omp_set_num_threads(threads);
    int failed = pack(w, b, in, out, &packed) || gemm_relu_mean(K, x, starts, n, normed ? &norm : NULL, &packed, fused) ||
                 gemm_dense(K, xn, rows, NULL, &packed, mid, GEMM_BIAS_RELU);
    if (!failed) cpu_mean_pool(mid, starts, n, out, apart);
    size_t differ = 0;
    for (size_t i = 0; i < n * out; i++) differ += memcmp(&fused[i], &apart[i], sizeof *fused) != 0;
    CHECK(!failed && !differ, name, "failed %d, %zu of %zu outputs differ; first: %.9g vs %.9g", failed, differ, n * out,
          fused[0], apart[0]);
    gemm_weights_free(&packed);
    if (normed) norm_free(&norm);
    free(x), free(xn), free(w), free(b), free(fused), free(apart), free(mid);
}

/* Every check above on the kernels K (fp32 or bf16 weights). */
static void check_kernels(void) {
    /* Shapes around every edge: one output, partial micro-tiles (rows % mr, out % 16 and % 32), partial k chunks
     * (in % kc), odd k (bf16 pairs), several row blocks, and the encoder's own shapes. */
    const struct {
        size_t rows;
        uint32_t in, out;
    } shapes[] = {{1, 1, 1}, {5, 7, 3}, {6, 16, 16}, {13, 33, 48}, {73, 300, 40}, {150, 513, 17}, {75, 256, 768},
                  {37, 1536, 512}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (gemm_epilogue e = GEMM_BIAS; e <= GEMM_BIAS_ADD; e++)
            check_dense(shapes[s].rows, shapes[s].in, shapes[s].out, e, 1 + (int)(s % 3));
    check_row_position_independence();
    const size_t mlp_rows[] = {1, 7, 150, 1000};
    for (size_t i = 0; i < sizeof mlp_rows / sizeof *mlp_rows; i++)
        for (int normed = 0; normed < 2; normed++) check_mlp_equals_two_products(mlp_rows[i], 1 + (int)(i % 2), normed);
    for (int threads = 1; threads <= 3; threads++)
        for (int normed = 0; normed < 2; normed++) check_relu_mean_equals_product_then_pool(threads, normed);
    check_dense_normed(5, 3);   /* few rows: the columns are split among the threads */
    check_dense_normed(300, 2); /* several row blocks */
}

int main(void) {
    for (int isa = 0; isa < CPU_ISAS; isa++) {
        char name[64];
        snprintf(name, sizeof name, "%s kernels", cpu_isa_name((cpu_isa)isa));
        if (!(K = cpu_kernels_for((cpu_isa)isa))) {
            SKIP(name, "this CPU does not run them");
            continue;
        }
        BF16 = 0;
        check_kernels();
        if (!K->bf16) continue;
        BF16 = 1;
        check_kernels();
    }
    if (!cpu_kernels_for(CPU_ISA_AVX512) || !cpu_kernels_for(CPU_ISA_AVX512)->bf16)
        SKIP("bf16 products", "this CPU has no avx512_bf16");
    CHECK_DONE();
}
