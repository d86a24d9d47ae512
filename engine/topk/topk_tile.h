/* topk_tile.h: one tile of dot products for the CPU top-k, computed so that a score depends only on the two
 * vectors: score = fma(q[d-1], x[d-1], ... fma(q[1], x[1], q[0] * x[0])), one fp32 fma per step in ascending
 * order, whatever the position of the pair in the tile or the size of the tile. Equal vectors therefore get
 * bit-equal scores, and the tie order (lower index first) holds for duplicates. A BLAS sgemm does not promise
 * this: OpenBLAS sums differently at different places in one product. The CUDA fp32 path sums the same way. */
#ifndef USEREC_TOPK_TILE_H
#define USEREC_TOPK_TILE_H

#include <stddef.h>

#include "cpu/cpu_gemm.h" /* the micro-kernels: mr queries x nr items per call */

/* Per-thread working memory for tiles of at most max_rows x max_cols. */
typedef struct {
    const gemm_kernel *kernel; /* the fp32 products of the ISA chosen at init */
    float *packed_queries, *packed_items, *scores;
    size_t max_rows, max_cols, dim, ld; /* scores: round_up(max_rows, mr) rows of ld floats */
} topk_tile;

int topk_tile_init(topk_tile *t, const cpu_kernels *k, size_t max_rows, size_t max_cols, size_t dim);
void topk_tile_free(topk_tile *t);

/* The CPU searches' tasks: TOPK_TILE x TOPK_TILE scores (1 MiB) each, 268 MFLOP of arithmetic against 262144 cheap
 * threshold tests, and tasks small enough that the threads finish together (measured faster than 1024 on the
 * 2-core machine). */
#define TOPK_TILE 512

/* One TOPK_TILE x TOPK_TILE tile per thread, for threads threads; NULL when memory ran out (nothing is left). */
topk_tile *topk_tiles_new(const cpu_kernels *k, int threads, size_t dim);
void topk_tiles_free(topk_tile *tiles, int threads);

/* t->scores[i * t->ld + j] = queries[i] . items[j] for i < rows, j < cols (row-major inputs of t->dim floats). */
void topk_tile_score(topk_tile *t, const float *queries, size_t rows, const float *items, size_t cols);

#endif
