/* topk_heap.h: the bounded heap of one query's best candidates, shared by the all-pairs search (topk_cpu.c) and the
 * row searches of an incremental update (topk_rows.c). Candidates are ordered by score, higher first, then by lower
 * item index: a total order, so the result never depends on threads or tiles. */
#ifndef USEREC_TOPK_HEAP_H
#define USEREC_TOPK_HEAP_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "userec.h"

/* The total order of candidates: higher score first, then lower index first. */
static inline int topk_better(float score_a, int32_t index_a, float score_b, int32_t index_b) {
    return score_a > score_b || (score_a == score_b && index_a < index_b);
}

/* One query's results, kept as a heap whose root is the worst candidate kept so far. */
typedef struct {
    float *score;
    int32_t *index;
    size_t count, k;
} heap;

/* The score a candidate must reach to be worth a look: anything while the heap has room, else the root's. */
static inline float heap_threshold(const heap *h) { return h->count < h->k ? -INFINITY : h->score[0]; }

static inline void heap_sift_down(heap *h, size_t i) {
    const float s = h->score[i];
    const int32_t x = h->index[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->count) break;
        if (child + 1 < h->count && topk_better(h->score[child], h->index[child], h->score[child + 1], h->index[child + 1]))
            child++; /* the worse child goes up */
        if (!topk_better(s, x, h->score[child], h->index[child])) break;
        h->score[i] = h->score[child];
        h->index[i] = h->index[child];
        i = child;
    }
    h->score[i] = s;
    h->index[i] = x;
}

/* Offers candidate (s, x). Returns the score of what the heap let go: the candidate itself when it is not better than
 * the worst kept, the evicted worst when it is, -INFINITY when the heap had room. */
static inline float heap_push(heap *h, float s, int32_t x) {
    if (h->count < h->k) {
        size_t i = h->count++;
        while (i > 0) {
            size_t parent = (i - 1) / 2;
            if (!topk_better(h->score[parent], h->index[parent], s, x)) break;
            h->score[i] = h->score[parent];
            h->index[i] = h->index[parent];
            i = parent;
        }
        h->score[i] = s;
        h->index[i] = x;
        return -INFINITY;
    }
    if (!topk_better(s, x, h->score[0], h->index[0])) return s;
    const float evicted = h->score[0];
    h->score[0] = s;
    h->index[0] = x;
    heap_sift_down(h, 0);
    return evicted;
}

/* Pops the heap from the back, which leaves the entries best first, and marks the unused ranks empty. */
static inline void heap_finish(heap *h) {
    size_t n = h->count;
    while (h->count > 1) {
        size_t last = --h->count;
        float s = h->score[last];
        int32_t x = h->index[last];
        h->score[last] = h->score[0];
        h->index[last] = h->index[0];
        h->score[0] = s;
        h->index[0] = x;
        heap_sift_down(h, 0);
    }
    for (size_t r = n; r < h->k; r++) {
        h->score[r] = -INFINITY;
        h->index[r] = USEREC_TOPK_EMPTY;
    }
    h->count = n;
}

#endif
