/* near_dups.h: groups of items whose vectors are almost identical (a catalogue's colour variants, re-listed
 * products): the connected components of the graph linking each item to those of its k nearest neighbours that
 * score at least a threshold, found with the exact top-k search. A group's members are within the threshold of
 * some other member, not necessarily of every member. */
#ifndef USEREC_NEAR_DUPS_H
#define USEREC_NEAR_DUPS_H

#include <stddef.h>
#include <stdint.h>

#include "userec.h"

typedef struct {
    size_t n_groups, n_items; /* groups of two or more, and the items in them */
    size_t *start;            /* [n_groups + 1]: group g is member[start[g] .. start[g+1]) */
    int32_t *member;          /* item rows, ascending within a group; groups by decreasing size, then first member */
} near_dups;

/* Searches the n x dim unit vectors all-pairs (CPU, fp32, k neighbours each, min score threshold). Returns 0, or a
 * userec_status with err filled. */
userec_status near_dups_find(const float *x, size_t n, size_t dim, float threshold, size_t k, near_dups *out,
                             userec_error *err);
void near_dups_free(near_dups *d);

#endif
