/* topk_tile.c: position-independent fp32 dot-product tiles (see topk_tile.h), BLIS-style: both sides are
 * packed into micro-panels (TILE_MR queries or TILE_NR items, TILE_KC dims at a time, interleaved), and a
 * register-blocked micro-kernel runs one fma chain per score. Padding rows and columns are zeros, so every
 * score goes through the same instructions. */
#include "topk_tile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

/* TILE_KC dims of a TILE_NR micro-panel (16 KiB) stay in L1 while TILE_MC queries (144 KiB) stay in L2. */
#define TILE_KC 256
#define TILE_MC 144

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

int topk_tile_init(topk_tile *t, size_t max_rows, size_t max_cols, size_t dim) {
    const size_t rows = round_up(max_rows, TILE_MR), cols = round_up(max_cols, TILE_NR);
    *t = (topk_tile){.max_rows = max_rows, .max_cols = max_cols, .dim = dim, .ld = cols};
    t->packed_queries = aligned_alloc(64, round_up(rows * dim * sizeof(float), 64));
    t->packed_items = aligned_alloc(64, round_up(cols * dim * sizeof(float), 64));
    t->scores = aligned_alloc(64, round_up(rows * cols * sizeof(float), 64));
    if (t->packed_queries && t->packed_items && t->scores) return 0;
    topk_tile_free(t);
    return -1;
}

void topk_tile_free(topk_tile *t) {
    free(t->packed_queries);
    free(t->packed_items);
    free(t->scores);
    *t = (topk_tile){0};
}

/* Rows [0, n) of src (dim floats each) into panels of `width` rows, each panel dim-major ([dim][width], zero
 * rows past n), so the micro-kernel reads both sides sequentially. */
static void pack(const float *src, size_t n, size_t dim, size_t width, float *dst) {
    for (size_t p0 = 0; p0 < n; p0 += width) {
        float *panel = dst + p0 * dim;
        for (size_t k = 0; k < dim; k++) {
            float *out = panel + k * width;
            for (size_t r = 0; r < width; r++) out[r] = p0 + r < n ? src[(p0 + r) * dim + k] : 0.0f;
        }
    }
}

/* c[i * ldc + j] (TILE_MR x TILE_NR) = (first ? 0 : c) accumulated with a[k][i] * b[k][j] for k < kc, one
 * fma per step. */
#if defined(__AVX2__) && defined(__FMA__)
static void micro_kernel(size_t kc, const float *a, const float *b, float *c, size_t ldc, int first) {
    __m256 acc[TILE_MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < TILE_MR; i++) {
        acc[i][0] = first ? _mm256_setzero_ps() : _mm256_load_ps(c + i * ldc);
        acc[i][1] = first ? _mm256_setzero_ps() : _mm256_load_ps(c + i * ldc + 8);
    }
    for (size_t k = 0; k < kc; k++, a += TILE_MR, b += TILE_NR) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < TILE_MR; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < TILE_MR; i++) {
        _mm256_store_ps(c + i * ldc, acc[i][0]);
        _mm256_store_ps(c + i * ldc + 8, acc[i][1]);
    }
}
#else
/* The same arithmetic without AVX2: fmaf rounds once, exactly like the vector fma, so the scores are equal. */
static void micro_kernel(size_t kc, const float *a, const float *b, float *c, size_t ldc, int first) {
    float acc[TILE_MR][TILE_NR];
    for (int i = 0; i < TILE_MR; i++)
        for (int j = 0; j < TILE_NR; j++) acc[i][j] = first ? 0.0f : c[i * ldc + j];
    for (size_t k = 0; k < kc; k++, a += TILE_MR, b += TILE_NR)
        for (int i = 0; i < TILE_MR; i++)
            for (int j = 0; j < TILE_NR; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    for (int i = 0; i < TILE_MR; i++)
        for (int j = 0; j < TILE_NR; j++) c[i * ldc + j] = acc[i][j];
}
#endif

void topk_tile_score(topk_tile *t, const float *queries, size_t rows, const float *items, size_t cols) {
    const size_t dim = t->dim, ld = t->ld, row_panels = round_up(rows, TILE_MR), col_panels = round_up(cols, TILE_NR);
    pack(queries, rows, dim, TILE_MR, t->packed_queries);
    pack(items, cols, dim, TILE_NR, t->packed_items);
    for (size_t k0 = 0; k0 < dim; k0 += TILE_KC) {
        const size_t kc = dim - k0 < TILE_KC ? dim - k0 : TILE_KC;
        for (size_t i0 = 0; i0 < row_panels; i0 += TILE_MC)
            for (size_t j = 0; j < col_panels; j += TILE_NR) {
                const float *b = t->packed_items + j * dim + k0 * TILE_NR;
                for (size_t i = i0; i < row_panels && i < i0 + TILE_MC; i += TILE_MR)
                    micro_kernel(kc, t->packed_queries + i * dim + k0 * TILE_MR, b, t->scores + i * ld + j, ld, k0 == 0);
            }
    }
}
