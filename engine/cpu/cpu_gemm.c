/* cpu_gemm.c: the micro-kernel, the packing routines and the dense-layer driver of cpu_gemm.h.
 * The driver splits the rows into GEMM_MC blocks (and, for short products, the columns into groups) and hands
 * the blocks to OpenMP threads that never wait on each other: each packs its block's rows once, then sweeps
 * every weight panel over them GEMM_KC steps at a time, the bias, residual and ReLU folded into the same pass. */
#include "cpu/cpu_gemm.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

/* Rows per block: its packed rows (GEMM_MC x in floats, at most 432 KiB for the 1536-wide FFN) stay in L2. */
#define GEMM_MC 72

void gemm_pack_rows(const float *src, size_t n, size_t ld, size_t k0, size_t kc, size_t width, size_t panel_stride,
                    float *dst) {
    for (size_t p0 = 0; p0 < n; p0 += width, dst += panel_stride)
        for (size_t r = 0; r < width; r++) {
            if (p0 + r < n) {
                const float *row = src + (p0 + r) * ld + k0;
                for (size_t k = 0; k < kc; k++) dst[k * width + r] = row[k];
            } else {
                for (size_t k = 0; k < kc; k++) dst[k * width + r] = 0.0f;
            }
        }
}

void gemm_pack_cols(const float *src, size_t k, size_t ld, size_t n, float *dst) {
    for (size_t c0 = 0; c0 < n; c0 += GEMM_NR, dst += k * GEMM_NR) {
        const size_t cols = n - c0 < GEMM_NR ? n - c0 : GEMM_NR;
        for (size_t r = 0; r < k; r++) {
            memcpy(dst + r * GEMM_NR, src + r * ld + c0, cols * sizeof *dst);
            memset(dst + r * GEMM_NR + cols, 0, (GEMM_NR - cols) * sizeof *dst);
        }
    }
}

#if defined(__AVX2__) && defined(__FMA__)
void gemm_micro_kernel(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c, const float *bias,
                       int relu) {
    __m256 acc[GEMM_MR][2];
    const __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    const __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < GEMM_MR; i++) {
        acc[i][0] = load_c ? _mm256_loadu_ps(c + i * ldc) : _mm256_setzero_ps();
        acc[i][1] = load_c ? _mm256_loadu_ps(c + i * ldc + 8) : _mm256_setzero_ps();
        if (bias) {
            acc[i][0] = _mm256_add_ps(acc[i][0], bias0);
            acc[i][1] = _mm256_add_ps(acc[i][1], bias1);
        }
    }
#pragma GCC unroll 2
    for (size_t k = 0; k < kc; k++, a += GEMM_MR, b += GEMM_NR) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < GEMM_MR; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < GEMM_MR; i++) {
        _mm256_storeu_ps(c + i * ldc, relu ? _mm256_max_ps(acc[i][0], zero) : acc[i][0]);
        _mm256_storeu_ps(c + i * ldc + 8, relu ? _mm256_max_ps(acc[i][1], zero) : acc[i][1]);
    }
}
#else
/* The same arithmetic without AVX2: fmaf rounds once, exactly like the vector fma, so the results are equal. */
void gemm_micro_kernel(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c, const float *bias,
                       int relu) {
    float acc[GEMM_MR][GEMM_NR];
    for (int i = 0; i < GEMM_MR; i++)
        for (int j = 0; j < GEMM_NR; j++) acc[i][j] = (load_c ? c[i * ldc + j] : 0.0f) + (bias ? bias[j] : 0.0f);
    for (size_t k = 0; k < kc; k++, a += GEMM_MR, b += GEMM_NR)
        for (int i = 0; i < GEMM_MR; i++)
            for (int j = 0; j < GEMM_NR; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    for (int i = 0; i < GEMM_MR; i++)
        for (int j = 0; j < GEMM_NR; j++) c[i * ldc + j] = relu && acc[i][j] < 0 ? 0.0f : acc[i][j];
}
#endif

int gemm_weights_pack(const float *w, const float *b, uint32_t in, uint32_t out, gemm_weights *packed) {
    const size_t padded = round_up(out, GEMM_NR), floats = (size_t)in * padded + padded;
    *packed = (gemm_weights){.in = in, .out = out};
    if (!(packed->panels = aligned_alloc(64, round_up(floats * sizeof(float), 64)))) return -1;
    gemm_pack_cols(w, in, out, out, packed->panels);
    float *bias = packed->panels + (size_t)in * padded;
    for (size_t col = 0; col < padded; col++) bias[col] = col < out ? b[col] : 0.0f;
    packed->bias = bias;
    return 0;
}

void gemm_weights_free(gemm_weights *packed) {
    free(packed->panels);
    *packed = (gemm_weights){0};
}

void gemm_packed(size_t rows, size_t cols, size_t kc, const float *a, const float *b, size_t b_panel_stride, float *c,
                 size_t ldc, int load_c, const float *bias, int relu) {
    for (size_t j = 0; j < cols; j += GEMM_NR, b += b_panel_stride) /* b's panel stays in L1 for every row tile */
        for (size_t i = 0; i < rows; i += GEMM_MR) {
            const float *a_panel = a + i * kc, *tile_bias = bias ? bias + j : NULL;
            float *out = c + i * ldc + j;
            /* The next tile's outputs are on their way to L1 while this one computes (a miss there stalls the
             * micro-kernel's first loads or last stores). */
            if (i + GEMM_MR < rows)
                for (size_t r = 0; r < GEMM_MR && i + GEMM_MR + r < rows; r++) {
                    __builtin_prefetch(out + (GEMM_MR + r) * ldc, 1);
                    __builtin_prefetch(out + (GEMM_MR + r) * ldc + GEMM_NR - 1, 1);
                }
            const size_t tile_rows = rows - i < GEMM_MR ? rows - i : GEMM_MR;
            const size_t tile_cols = cols - j < GEMM_NR ? cols - j : GEMM_NR;
            if (tile_rows == GEMM_MR && tile_cols == GEMM_NR) {
                gemm_micro_kernel(kc, a_panel, b, out, ldc, load_c, tile_bias, relu);
                continue;
            }
            float tile[GEMM_MR * GEMM_NR] = {0};
            for (size_t r = 0; load_c && r < tile_rows; r++) memcpy(tile + r * GEMM_NR, out + r * ldc, tile_cols * sizeof *tile);
            gemm_micro_kernel(kc, a_panel, b, tile, GEMM_NR, load_c, tile_bias, relu);
            for (size_t r = 0; r < tile_rows; r++) memcpy(out + r * ldc, tile + r * GEMM_NR, tile_cols * sizeof *tile);
        }
}

/* Rows [0, block_rows) of y (row stride ldy), the columns of weight panels [p0, p1), = epilogue(x . W + b) for
 * at most GEMM_MC rows of x (row stride ldx). a_panels: room for GEMM_MC x round_up(in, GEMM_KC) floats. */
static void block_product(const float *x, size_t ldx, size_t block_rows, const gemm_weights *w, size_t p0, size_t p1,
                          float *y, size_t ldy, gemm_epilogue epilogue, float *a_panels) {
    const size_t in = w->in, out = w->out;
    /* The block's rows, packed GEMM_KC columns at a time: chunk k0 at a_panels + k0 * GEMM_MC. */
    for (size_t k0 = 0; k0 < in; k0 += GEMM_KC) {
        const size_t kc = in - k0 < GEMM_KC ? in - k0 : GEMM_KC;
        gemm_pack_rows(x, block_rows, ldx, k0, kc, GEMM_MR, kc * GEMM_MR, a_panels + k0 * GEMM_MC);
    }
    /* Per column panel, every chunk of k: the block's outputs (GEMM_MC x GEMM_NR) stay in L1. */
    for (size_t p = p0; p < p1; p++) {
        const size_t col = p * GEMM_NR, cols = out - col < GEMM_NR ? out - col : GEMM_NR;
        for (size_t k0 = 0; k0 < in; k0 += GEMM_KC) {
            const size_t kc = in - k0 < GEMM_KC ? in - k0 : GEMM_KC;
            const int first = k0 == 0, last = k0 + kc == in;
            gemm_packed(block_rows, cols, kc, a_panels + k0 * GEMM_MC, w->panels + p * in * GEMM_NR + k0 * GEMM_NR,
                        in * GEMM_NR, y + col, ldy, !first || epilogue == GEMM_BIAS_ADD, first ? w->bias + col : NULL,
                        last && epilogue == GEMM_BIAS_RELU);
        }
    }
}

static float *a_panels_alloc(size_t in) { return aligned_alloc(64, GEMM_MC * round_up(in, GEMM_KC) * sizeof(float)); }

int gemm_dense(const float *x, size_t rows, const gemm_weights *w, float *y, gemm_epilogue epilogue) {
    const size_t in = w->in, out = w->out, col_panels = round_up(out, GEMM_NR) / GEMM_NR;
    const size_t row_blocks = round_up(rows, GEMM_MC) / GEMM_MC;
    /* Few rows (small batches, the head): split the columns too, so every thread gets work. */
    size_t groups = 1;
    while (row_blocks * groups < 4 * (size_t)omp_get_max_threads() && groups * 2 <= col_panels) groups *= 2;
    const size_t panels_per_group = round_up(col_panels, groups) / groups;
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        float *a_panels = a_panels_alloc(in);
        failed = !a_panels;
#pragma omp for schedule(dynamic)
        for (size_t task = 0; task < row_blocks * groups; task++) {
            const size_t r0 = task / groups * GEMM_MC, block_rows = rows - r0 < GEMM_MC ? rows - r0 : GEMM_MC;
            const size_t p0 = task % groups * panels_per_group;
            const size_t p1 = p0 + panels_per_group < col_panels ? p0 + panels_per_group : col_panels;
            if (a_panels && p0 < p1) /* p0 >= p1: the last groups of an uneven split */
                block_product(x + r0 * in, in, block_rows, w, p0, p1, y + r0 * out, out, epilogue, a_panels);
        }
        free(a_panels);
    }
    return failed ? -1 : 0;
}

int gemm_mlp(const float *x, size_t rows, const gemm_weights *up, const gemm_weights *down, float *y) {
    const size_t threads = (size_t)omp_get_max_threads();
    /* Blocks of GEMM_MC rows, smaller when that leaves a thread idle (small batches). */
    size_t block = round_up((rows + threads - 1) / threads, GEMM_MR);
    block = block > GEMM_MC ? GEMM_MC : block ? block : GEMM_MR;
    const size_t blocks = (rows + block - 1) / block;
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        float *a_panels = a_panels_alloc(up->in > down->in ? up->in : down->in);
        float *hidden = malloc(GEMM_MC * up->out * sizeof *hidden);
        failed = !a_panels || !hidden;
#pragma omp for schedule(dynamic)
        for (size_t b = 0; b < blocks; b++) {
            const size_t r0 = b * block, block_rows = rows - r0 < block ? rows - r0 : block;
            if (failed) continue;
            block_product(x + r0 * up->in, up->in, block_rows, up, 0, round_up(up->out, GEMM_NR) / GEMM_NR, hidden,
                          up->out, GEMM_BIAS_RELU, a_panels);
            block_product(hidden, up->out, block_rows, down, 0, round_up(down->out, GEMM_NR) / GEMM_NR,
                          y + r0 * down->out, down->out, GEMM_BIAS_ADD, a_panels);
        }
        free(a_panels);
        free(hidden);
    }
    return failed ? -1 : 0;
}

int gemm_relu_mean(const float *x, const size_t *starts, size_t n, const gemm_weights *w, float *pooled) {
    /* Tasks are runs of whole sentences, at least GEMM_MC rows each (but the last): one thread then adds every
     * row of a sentence, in order, so the sums are cpu_mean_pool's whatever the threads do. */
    size_t *task_first = malloc((n + 1) * sizeof *task_first), tasks = 0;
    if (!task_first) return -1;
    for (size_t s = 0; s < n;) {
        task_first[tasks++] = s;
        do s++;
        while (s < n && starts[s] - starts[task_first[tasks - 1]] < GEMM_MC);
    }
    task_first[tasks] = n;
    const size_t out = w->out, col_panels = round_up(out, GEMM_NR) / GEMM_NR;
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        float *a_panels = a_panels_alloc(w->in), *hidden = malloc(GEMM_MC * out * sizeof *hidden);
        failed = !a_panels || !hidden;
#pragma omp for schedule(dynamic)
        for (size_t t = 0; t < tasks; t++) {
            if (failed) continue;
            const size_t s0 = task_first[t], s1 = task_first[t + 1], end = starts[s1];
            memset(pooled + s0 * out, 0, (s1 - s0) * out * sizeof *pooled);
            size_t s = s0;
            for (size_t r0 = starts[s0]; r0 < end; r0 += GEMM_MC) { /* blocks may cross sentences */
                const size_t block_rows = end - r0 < GEMM_MC ? end - r0 : GEMM_MC;
                block_product(x + r0 * w->in, w->in, block_rows, w, 0, col_panels, hidden, out, GEMM_BIAS_RELU,
                              a_panels);
                for (size_t r = r0; r < r0 + block_rows; r++) {
                    while (starts[s + 1] <= r) s++;
                    float *sum = pooled + s * out;
                    const float *row = hidden + (r - r0) * out;
#pragma omp simd
                    for (size_t c = 0; c < out; c++) sum[c] += row[c];
                }
            }
            for (s = s0; s < s1; s++) {
                const size_t len = starts[s + 1] - starts[s];
                const float denom = (float)(len ? len : 1);
                for (size_t c = 0; c < out; c++) pooled[s * out + c] /= denom;
            }
        }
        free(a_panels);
        free(hidden);
    }
    free(task_first);
    return failed ? -1 : 0;
}
