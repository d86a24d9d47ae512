/* topk_tile.c: position-independent fp32 dot-product tiles (see topk_tile.h), BLIS-style: both sides are
 * packed into micro-panels (GEMM_MR queries or GEMM_NR items, GEMM_KC dims at a time, interleaved), and a
 * register-blocked micro-kernel runs one fma chain per score. Padding rows and columns are zeros, so every
 * score goes through the same instructions. */
#include "topk/topk_tile.h"

#include <stdlib.h>

/* GEMM_KC dims of a GEMM_NR micro-panel (16 KiB) stay in L1 while TILE_MC queries (144 KiB) stay in L2. */
#define TILE_MC 144

int topk_tile_init(topk_tile *t, size_t max_rows, size_t max_cols, size_t dim) {
    const size_t rows = round_up(max_rows, GEMM_MR), cols = round_up(max_cols, GEMM_NR);
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

void topk_tile_score(topk_tile *t, const float *queries, size_t rows, const float *items, size_t cols) {
    const size_t dim = t->dim, ld = t->ld, row_panels = round_up(rows, GEMM_MR), col_panels = round_up(cols, GEMM_NR);
    gemm_pack_rows(queries, rows, dim, 0, dim, GEMM_MR, dim * GEMM_MR, t->packed_queries);
    gemm_pack_rows(items, cols, dim, 0, dim, GEMM_NR, dim * GEMM_NR, t->packed_items);
    for (size_t k0 = 0; k0 < dim; k0 += GEMM_KC) {
        const size_t kc = dim - k0 < GEMM_KC ? dim - k0 : GEMM_KC;
        for (size_t i0 = 0; i0 < row_panels; i0 += TILE_MC)
            for (size_t j = 0; j < col_panels; j += GEMM_NR) {
                const float *b = t->packed_items + j * dim + k0 * GEMM_NR;
                for (size_t i = i0; i < row_panels && i < i0 + TILE_MC; i += GEMM_MR)
                    gemm_micro_kernel(kc, t->packed_queries + i * dim + k0 * GEMM_MR, b, t->scores + i * ld + j, ld,
                                      k0 != 0, NULL, 0);
            }
    }
}
