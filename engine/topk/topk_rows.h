/* topk_rows.h: exact top-k of some items against all items, for the incremental related lists of `userec update`
 * (engine/jobs/update_job.c): the rows that changed are scored against every item, which gives their own lists and
 * also, read column-wise, what they do to every other item's list. The arithmetic is the all-pairs search's
 * (topk_tile.h: one fp32 fma chain per pair, so score(i, j) == score(j, i) bit for bit, whatever the tile), and the
 * order is the same total order (topk_heap.h), so a list made here equals the one `related` makes for that item. */
#ifndef USEREC_TOPK_ROWS_H
#define USEREC_TOPK_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "topk/topk_heap.h"

/* A list kept from run to run that the rows' scores are offered to: heap (capacity heap.k, preloaded with what is
 * already known) and `spill`, the best score offered to it that it let go. */
typedef struct {
    heap h;
    float spill;
} topk_column;

/* For each of the n_rows items rows[r] (indices into items): its best k other items (itself excluded) into
 * index/score (k per row, best first, USEREC_TOPK_EMPTY/-INFINITY past the last). When column_of is given (n_items
 * entries), every score (rows[r], j) with column_of[j] >= 0 and j != rows[r] is also offered to
 * columns[column_of[j]]. items: n_items x dim floats. Returns 0, or USEREC_ERR_NOMEM with err set. */
int topk_search_rows(const float *items, size_t n_items, size_t dim, const int32_t *rows, size_t n_rows, size_t k,
                     int32_t *index, float *score, const int32_t *column_of, topk_column *columns, char *err,
                     size_t err_len);

#endif
