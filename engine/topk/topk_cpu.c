/* topk_cpu.c: exact cosine top-k on the CPU. Queries and items are cut into blocks of TOPK_TILE rows; each task
 * scores one query block against one item block into a per-thread TOPK_TILE x TOPK_TILE tile (engine/topk_tile.c:
 * position-independent fp32 sums, so duplicates tie exactly), then feeds the tile to bounded per-query heaps.
 * OpenMP runs the tasks in parallel; a lock per query block serialises its heap updates. All-pairs (queries ==
 * items) scores only the tiles on and above the diagonal: score(i, j) == score(j, i) bit for bit, so one
 * off-diagonal tile feeds its rows' heaps and its columns' heaps, half the arithmetic.
 * Working memory: one tile and its packed inputs per thread, whatever the number of items. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "topk/topk.h"
#include "topk/topk_heap.h"
#include "topk/topk_tile.h"
#include "common/util.h"

/* The filters of userec_topk_options: whether item may be query q's neighbour with score s. Tested only for a
 * candidate that beats its heap's threshold, so a heap holds the best candidates that pass, and a search
 * without filters pays one test of the flags per such candidate. */
static inline int passes(const userec_topk_options *opt, float s, size_t q, size_t item) {
    if (opt->use_min_score && s < opt->min_score) return 0;
    if (opt->use_max_score && s > opt->max_score) return 0;
    if (opt->group_rule == USEREC_GROUPS_SAME) return opt->item_group[item] == opt->query_group[q];
    if (opt->group_rule == USEREC_GROUPS_OTHER) return opt->item_group[item] != opt->query_group[q];
    return 1;
}

/* Row i of the tile is query q0 + i, column j is item i0 + j: each row feeds its query's heap. */
static void select_rows(const float *tile, size_t ld, size_t rows, size_t cols, size_t q0, size_t i0,
                        const userec_topk_options *opt, heap *heaps) {
    for (size_t i = 0; i < rows; i++) {
        heap *h = &heaps[q0 + i];
        const float *row = tile + i * ld;
        float threshold = heap_threshold(h);
        for (size_t j = 0; j < cols; j++) {
            if (row[j] < threshold) continue; /* the common case once the heap is full */
            if (opt->exclude_self && i0 + j == opt->query_offset + q0 + i) continue;
            if (!passes(opt, row[j], q0 + i, i0 + j)) continue;
            heap_push(h, row[j], (int32_t)(i0 + j));
            threshold = heap_threshold(h);
        }
    }
}

/* The transposed use of an off-diagonal all-pairs tile: column j is query q0 + j, row i is item i0 + i.
 * Scanning row by row keeps the reads sequential; thresholds[j] caches column j's heap threshold. */
static void select_columns(const float *tile, size_t ld, size_t rows, size_t cols, size_t q0, size_t i0,
                           const userec_topk_options *opt, heap *heaps, float *thresholds) {
    for (size_t j = 0; j < cols; j++) thresholds[j] = heap_threshold(&heaps[q0 + j]);
    for (size_t i = 0; i < rows; i++) {
        const float *row = tile + i * ld;
        for (size_t j = 0; j < cols; j++) {
            if (row[j] < thresholds[j]) continue;
            if (!passes(opt, row[j], q0 + j, i0 + i)) continue;
            heap_push(&heaps[q0 + j], row[j], (int32_t)(i0 + i));
            thresholds[j] = heap_threshold(&heaps[q0 + j]);
        }
    }
}

int topk_cpu_search(const cpu_kernels *kernels, const float *queries, size_t n_queries, const float *items,
                    size_t n_items, size_t dim, const userec_topk_options *opt, int32_t *index, float *score, char *err,
                    size_t err_len) {
    const size_t k = opt->k, q_blocks = (n_queries + TOPK_TILE - 1) / TOPK_TILE;
    const size_t i_blocks = (n_items + TOPK_TILE - 1) / TOPK_TILE;
    /* Symmetry needs the same rows on both sides and the same blocking (TOPK_TILE) of both. */
    const int symmetric = queries == items && n_queries == n_items && !opt->query_offset;
    const int threads = omp_get_max_threads();
    heap *heaps = malloc(n_queries * sizeof *heaps);
    omp_lock_t *locks = malloc(q_blocks * sizeof *locks);
    topk_tile *tiles = topk_tiles_new(kernels, threads, dim);
    float *thresholds = malloc((size_t)threads * TOPK_TILE * sizeof *thresholds);
    if (!heaps || !locks || !tiles || !thresholds) {
        topk_tiles_free(tiles, threads);
        free(heaps), free(locks), free(thresholds);
        return ERR(err, err_len, "top-k: out of memory for %d score tiles of %d x %d", threads, TOPK_TILE, TOPK_TILE);
    }
    for (size_t q = 0; q < n_queries; q++) heaps[q] = (heap){.score = score + q * k, .index = index + q * k, .k = k};
    for (size_t b = 0; b < q_blocks; b++) omp_init_lock(&locks[b]);

    const size_t total_tiles = symmetric ? q_blocks * (q_blocks + 1) / 2 : q_blocks * i_blocks;
    size_t tiles_done = 0;
#pragma omp parallel num_threads(threads)
    {
        topk_tile *tile = &tiles[omp_get_thread_num()];
        float *column_thresholds = thresholds + (size_t)omp_get_thread_num() * TOPK_TILE;
#pragma omp for collapse(2) schedule(dynamic)
        for (size_t qb = 0; qb < q_blocks; qb++) {
            for (size_t ib = 0; ib < i_blocks; ib++) {
                if (symmetric && ib < qb) continue; /* that tile is the transpose of tile (ib, qb) */
                const size_t q0 = qb * TOPK_TILE, i0 = ib * TOPK_TILE;
                const size_t rows = n_queries - q0 < TOPK_TILE ? n_queries - q0 : TOPK_TILE;
                const size_t cols = n_items - i0 < TOPK_TILE ? n_items - i0 : TOPK_TILE;
                topk_tile_score(tile, queries + q0 * dim, rows, items + i0 * dim, cols);
                omp_set_lock(&locks[qb]);
                select_rows(tile->scores, tile->ld, rows, cols, q0, i0, opt, heaps);
                omp_unset_lock(&locks[qb]);
                if (symmetric && ib != qb) {
                    omp_set_lock(&locks[ib]);
                    select_columns(tile->scores, tile->ld, rows, cols, i0, q0, opt, heaps, column_thresholds);
                    omp_unset_lock(&locks[ib]);
                }
                size_t done;
#pragma omp atomic capture
                done = ++tiles_done;
                if (opt->progress && omp_get_thread_num() == 0) /* the calling thread: callbacks need not be thread-safe */
                    opt->progress(opt->progress_arg, (double)done / (double)total_tiles);
            }
        }
    }

#pragma omp parallel for schedule(static)
    for (size_t q = 0; q < n_queries; q++) heap_finish(&heaps[q]);
    for (size_t b = 0; b < q_blocks; b++) omp_destroy_lock(&locks[b]);
    topk_tiles_free(tiles, threads);
    free(heaps);
    free(locks);
    free(thresholds);
    return 0;
}
