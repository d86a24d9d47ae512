/* update_related.h: the related lists of a new store generation, from the previous generation's lists where that is
 * exact, else by a search (engine/topk/topk_rows.h). The result equals `userec related -k K` on the new vectors:
 * the same entries, scores and order, ties included.
 *
 * Each item keeps a list of depth D >= K (store/state.h) and `next`, a bound on every item left out. For an item whose
 * vector did not change, the old list (rows renumbered to the new order, removed and changed items dropped) is merged
 * with the scores of the changed rows against it; the first K entries, re-ordered under the new row order, are its
 * new top-K when the K-th entry scores strictly above the old bound (every item left out scores at most that bound,
 * so none can come before it, not even by a tie on a lower row). Otherwise (a tie at the boundary, a list emptied by
 * removals) the list is searched in full. */
#ifndef USEREC_UPDATE_RELATED_H
#define USEREC_UPDATE_RELATED_H

#include <stddef.h>
#include <stdint.h>

#include "store/state.h"

typedef struct {
    uint32_t depth;  /* D */
    int32_t *index;  /* n x D, best first, USEREC_TOPK_EMPTY past count */
    float *score;    /* n x D, -INFINITY past count */
    uint32_t *count; /* n */
    float *next;     /* n */
} related_lists;

typedef struct {
    size_t searched;       /* lists made by a search over every item (changed rows, fall-backs, or all) */
    size_t ties;           /* fall-backs because the K-th entry tied the bound: a tie at the boundary */
    size_t emptied;        /* fall-backs because removals left too few entries */
    int full;              /* every list was searched */
} related_stats;

/* items: n x dim (unit rows, as `related` scales them). old: the previous generation's state, or NULL (search all);
 * old_row[r]: the old row of new row r when its vector is the same, else -1. Fills out (malloc'd; related_lists_free).
 * Returns 0, or USEREC_ERR_NOMEM with err set. */
int update_related(const float *items, size_t n, size_t dim, size_t k, uint32_t depth, const store_state *old,
                   const int32_t *old_row, related_lists *out, related_stats *stats, char *err, size_t err_len);
void related_lists_free(related_lists *l);

#endif
