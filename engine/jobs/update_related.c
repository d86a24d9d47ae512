/* update_related.c: a new generation's related lists, incrementally where that is exact (update_related.h). */
#include "jobs/update_related.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "topk/topk_rows.h"

void related_lists_free(related_lists *l) {
    free(l->index), free(l->score), free(l->count), free(l->next);
    *l = (related_lists){0};
}

/* Copies the search results of rows[0..m) (depth D + 1 each: the extra entry is the bound) into their lists. */
static void keep_searched(related_lists *out, const int32_t *rows, size_t m, const int32_t *index, const float *score) {
    const size_t D = out->depth, W = D + 1;
    for (size_t r = 0; r < m; r++) {
        const size_t at = (size_t)rows[r] * D;
        memcpy(out->index + at, index + r * W, D * sizeof *index);
        memcpy(out->score + at, score + r * W, D * sizeof *score);
        uint32_t c = 0;
        while (c < D && index[r * W + c] != USEREC_TOPK_EMPTY) c++;
        out->count[rows[r]] = c;
        out->next[rows[r]] = index[r * W + D] != USEREC_TOPK_EMPTY ? score[r * W + D] : -INFINITY;
    }
}

/* Searches rows[0..m) over every item; with columns, also offers every score to the unchanged items' lists. */
static int search(const float *items, size_t n, size_t dim, const int32_t *rows, size_t m, const int32_t *column_of,
                  topk_column *columns, related_lists *out, char *err, size_t err_len) {
    const size_t W = (size_t)out->depth + 1;
    int32_t *index = malloc((m ? m : 1) * W * sizeof *index);
    float *score = malloc((m ? m : 1) * W * sizeof *score);
    int rc = index && score ? 0 : FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu lists", m));
    if (!rc && m)
        rc = topk_search_rows(items, n, dim, rows, m, W, index, score, column_of, columns, err, err_len);
    if (!rc) keep_searched(out, rows, m, index, score);
    free(index), free(score);
    return rc;
}

int update_related(const float *items, size_t n, size_t dim, size_t k, uint32_t depth, const store_state *old,
                   const int32_t *old_row, related_lists *out, related_stats *stats, char *err, size_t err_len) {
    const size_t D = depth, alloc = n ? n : 1;
    *stats = (related_stats){0};
    *out = (related_lists){.depth = depth, .index = malloc(alloc * D * sizeof *out->index),
                           .score = malloc(alloc * D * sizeof *out->score), .count = malloc(alloc * sizeof *out->count),
                           .next = malloc(alloc * sizeof *out->next)};
    int32_t *rows = malloc(alloc * sizeof *rows), *column_of = malloc(alloc * sizeof *column_of), *new_row = NULL;
    topk_column *columns = NULL;
    int rc = 0;
    if (!out->index || !out->score || !out->count || !out->next || !rows || !column_of) {
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for the lists of %zu items", n));
        goto done;
    }
    size_t changed = 0, unchanged = 0;
    for (size_t r = 0; r < n; r++) {
        const int same = old && old_row[r] >= 0;
        column_of[r] = same ? (int32_t)unchanged++ : -1;
        if (!same) rows[changed++] = (int32_t)r;
    }
    /* Past a quarter of the rows changed, feeding every list costs more than one search of all. */
    if (!old || old->depth != depth || changed * 4 > n) {
        for (size_t r = 0; r < n; r++) rows[r] = (int32_t)r;
        stats->full = 1;
        stats->searched = n;
        rc = search(items, n, dim, rows, n, NULL, NULL, out, err, err_len);
        goto done;
    }
    new_row = malloc((old->rows ? old->rows : 1) * sizeof *new_row);
    columns = calloc(unchanged ? unchanged : 1, sizeof *columns);
    if (!new_row || !columns) {
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for the lists of %zu items", n));
        goto done;
    }
    for (size_t o = 0; o < old->rows; o++) new_row[o] = -1;
    for (size_t r = 0; r < n; r++)
        if (column_of[r] >= 0) new_row[old_row[r]] = (int32_t)r;
    /* Each unchanged item's list starts as its old one, renumbered; removed and changed items leave it. */
    for (size_t r = 0; r < n; r++) {
        if (column_of[r] < 0) continue;
        topk_column *col = &columns[column_of[r]];
        *col = (topk_column){.h = {.score = out->score + r * D, .index = out->index + r * D, .k = D}, .spill = -INFINITY};
        const size_t o = (size_t)old_row[r];
        for (uint32_t e = 0; e < old->count[o]; e++) {
            const int32_t x = new_row[old->index[o * D + e]];
            if (x >= 0) heap_push(&col->h, old->score[o * D + e], x);
        }
    }
    if ((rc = search(items, n, dim, rows, changed, column_of, columns, out, err, err_len))) goto done;
    size_t again = 0;
    const size_t want = k < n ? k : n ? n - 1 : 0; /* entries a list of `related -k k` holds */
    for (size_t r = 0; r < n; r++) {
        if (column_of[r] < 0) continue;
        topk_column *col = &columns[column_of[r]];
        heap_finish(&col->h);
        const float bound = old->next[old_row[r]];
        out->count[r] = (uint32_t)col->h.count;
        out->next[r] = col->spill > bound ? col->spill : bound;
        if (bound == -INFINITY || !want) continue; /* the old list held every other item: all are known */
        const float kth = col->h.count >= want ? col->h.score[want - 1] : -INFINITY;
        if (kth > bound) continue;
        if (kth == bound) stats->ties++;
        else stats->emptied++;
        rows[again++] = (int32_t)r;
    }
    stats->searched = changed + again;
    rc = search(items, n, dim, rows, again, NULL, NULL, out, err, err_len);
done:
    free(rows), free(column_of), free(new_row), free(columns);
    if (rc) related_lists_free(out);
    return rc;
}
