/* topk_tile.c: position-independent fp32 dot-product tiles (see topk_tile.h), BLIS-style: both sides are
 * packed into micro-panels (the kernel's mr queries or GEMM_NR items, its kc dims at a time, interleaved), and
 * the kernel's register-blocked micro-kernel (gemm_packed) runs one fma chain per score. Padding rows and
 * columns are zeros, so every score goes through the same instructions. */
#include "topk/topk_tile.h"

#include <stdlib.h>

/* kc dims of the kernel's B panels (16-32 KiB) stay in L1 while TILE_MC queries (72-144 KiB) stay in L2. */
#define TILE_MC 144

int topk_tile_init(topk_tile *t, const cpu_kernels *k, size_t max_rows, size_t max_cols, size_t dim) {
    const gemm_kernel *g = &k->fp32;
    const size_t rows = round_up(max_rows, g->mr), cols = round_up(max_cols, GEMM_NR);
    *t = (topk_tile){.kernel = g, .max_rows = max_rows, .max_cols = max_cols, .dim = dim, .ld = cols};
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

topk_tile *topk_tiles_new(const cpu_kernels *k, int threads, size_t dim) {
    topk_tile *tiles = calloc((size_t)threads, sizeof *tiles);
    int failed = !tiles;
    for (int t = 0; t < threads && !failed; t++) failed = topk_tile_init(&tiles[t], k, TOPK_TILE, TOPK_TILE, dim);
    if (!failed) return tiles;
    topk_tiles_free(tiles, threads);
    return NULL;
}

void topk_tiles_free(topk_tile *tiles, int threads) {
    for (int t = 0; tiles && t < threads; t++) topk_tile_free(&tiles[t]);
    free(tiles);
}

void topk_tile_score(topk_tile *t, const float *queries, size_t rows, const float *items, size_t cols) {
    const gemm_kernel *g = t->kernel;
    const size_t dim = t->dim, ld = t->ld, padded_rows = round_up(rows, g->mr);
    g->pack_rows(items, cols, dim, 0, dim, GEMM_NR, dim * GEMM_NR, t->packed_items);
    for (size_t k0 = 0; k0 < dim; k0 += g->kc) {
        const size_t kc = dim - k0 < g->kc ? dim - k0 : g->kc;
        /* This chunk of every query, in mr-row panels kc * mr floats apart, as gemm_packed reads them. */
        float *chunk = t->packed_queries + k0 * padded_rows;
        g->pack_rows(queries, rows, dim, k0, kc, g->mr, kc * g->mr, chunk);
        for (size_t i0 = 0; i0 < rows; i0 += TILE_MC)
            gemm_packed(g, rows - i0 < TILE_MC ? rows - i0 : TILE_MC, cols, kc, chunk + i0 * kc,
                        t->packed_items + k0 * GEMM_NR, dim * GEMM_NR, t->scores + i0 * ld, ld, k0 != 0, NULL, 0);
    }
}
