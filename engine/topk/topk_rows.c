/* topk_rows.c: some items' top-k against all items, with column feeding (topk_rows.h). Blocks of TOPK_TILE rows x
 * TOPK_TILE items are scored by the tile kernel into a per-thread tile; a lock per row block guards the rows' heaps,
 * a lock per item block the columns' lists. */
#include "topk/topk_rows.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "topk/topk_tile.h"

typedef struct {
    const int32_t *rows;
    const int32_t *column_of;
    topk_column *columns;
    heap *heaps;
} feed;

/* Tile row i is row r0 + i (item rows[r0 + i]); column j is item i0 + j. */
static void select_rows(const float *tile, size_t ld, size_t n, size_t cols, size_t r0, size_t i0, const feed *f) {
    for (size_t i = 0; i < n; i++) {
        heap *h = &f->heaps[r0 + i];
        const size_t self = (size_t)f->rows[r0 + i];
        const float *row = tile + i * ld;
        float threshold = heap_threshold(h);
        for (size_t j = 0; j < cols; j++) {
            if (row[j] < threshold || i0 + j == self) continue;
            heap_push(h, row[j], (int32_t)(i0 + j));
            threshold = heap_threshold(h);
        }
    }
}

/* The same scores read column-wise: column j's list (item i0 + j) is offered tile row i's item. */
static void select_columns(const float *tile, size_t ld, size_t n, size_t cols, size_t r0, size_t i0, const feed *f) {
    for (size_t j = 0; j < cols; j++) {
        const int32_t c = f->column_of[i0 + j];
        if (c < 0) continue;
        topk_column *col = &f->columns[c];
        float threshold = heap_threshold(&col->h);
        for (size_t i = 0; i < n; i++) {
            const float s = tile[i * ld + j];
            const int32_t item = f->rows[r0 + i];
            if ((size_t)item == i0 + j) continue;
            const float let_go = s < threshold ? s : heap_push(&col->h, s, item);
            if (let_go > col->spill) col->spill = let_go;
            threshold = heap_threshold(&col->h);
        }
    }
}

int topk_search_rows(const float *items, size_t n_items, size_t dim, const int32_t *rows, size_t n_rows, size_t k,
                     int32_t *index, float *score, const int32_t *column_of, topk_column *columns, char *err,
                     size_t err_len) {
    /* the kernels userec_topk_search runs: every ISA gives the same scores, so these equal a full search's */
    const cpu_kernels *kernels = cpu_kernels_choose(err, err_len);
    if (!kernels) return USEREC_ERR_DEVICE;
    const size_t r_blocks = (n_rows + TOPK_TILE - 1) / TOPK_TILE, i_blocks = (n_items + TOPK_TILE - 1) / TOPK_TILE;
    const int threads = omp_get_max_threads();
    heap *heaps = malloc((n_rows ? n_rows : 1) * sizeof *heaps);
    float *packed = malloc((n_rows ? n_rows : 1) * dim * sizeof *packed); /* the rows' vectors, gathered */
    omp_lock_t *row_locks = malloc((r_blocks ? r_blocks : 1) * sizeof *row_locks);
    omp_lock_t *item_locks = malloc((i_blocks ? i_blocks : 1) * sizeof *item_locks);
    topk_tile *tiles = topk_tiles_new(kernels, threads, dim);
    if (!heaps || !packed || !row_locks || !item_locks || !tiles) {
        topk_tiles_free(tiles, threads);
        free(heaps), free(packed), free(row_locks), free(item_locks);
        return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "top-k: out of memory for %zu rows of %zu values", n_rows, dim));
    }
    for (size_t r = 0; r < n_rows; r++) {
        memcpy(packed + r * dim, items + (size_t)rows[r] * dim, dim * sizeof *packed);
        heaps[r] = (heap){.score = score + r * k, .index = index + r * k, .k = k};
    }
    for (size_t b = 0; b < r_blocks; b++) omp_init_lock(&row_locks[b]);
    for (size_t b = 0; b < i_blocks; b++) omp_init_lock(&item_locks[b]);
    const feed f = {.rows = rows, .column_of = column_of, .columns = columns, .heaps = heaps};
#pragma omp parallel num_threads(threads)
    {
        topk_tile *tile = &tiles[omp_get_thread_num()];
#pragma omp for collapse(2) schedule(dynamic)
        for (size_t rb = 0; rb < r_blocks; rb++)
            for (size_t ib = 0; ib < i_blocks; ib++) {
                const size_t r0 = rb * TOPK_TILE, i0 = ib * TOPK_TILE;
                const size_t n = n_rows - r0 < TOPK_TILE ? n_rows - r0 : TOPK_TILE;
                const size_t cols = n_items - i0 < TOPK_TILE ? n_items - i0 : TOPK_TILE;
                topk_tile_score(tile, packed + r0 * dim, n, items + i0 * dim, cols);
                omp_set_lock(&row_locks[rb]);
                select_rows(tile->scores, tile->ld, n, cols, r0, i0, &f);
                omp_unset_lock(&row_locks[rb]);
                if (column_of) {
                    omp_set_lock(&item_locks[ib]);
                    select_columns(tile->scores, tile->ld, n, cols, r0, i0, &f);
                    omp_unset_lock(&item_locks[ib]);
                }
            }
    }
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < n_rows; r++) heap_finish(&heaps[r]);
    for (size_t b = 0; b < r_blocks; b++) omp_destroy_lock(&row_locks[b]);
    for (size_t b = 0; b < i_blocks; b++) omp_destroy_lock(&item_locks[b]);
    topk_tiles_free(tiles, threads);
    free(heaps), free(packed), free(row_locks), free(item_locks);
    return 0;
}
