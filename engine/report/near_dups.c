/* near_dups.c: near-duplicate groups by union-find over thresholded top-k lists (near_dups.h). */
#include <stdlib.h>

#include "common/error.h"
#include "report/near_dups.h"

/* The root of x's set, halving the path on the way; the root is the set's lowest row. */
static int32_t find(int32_t *parent, int32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
}

typedef struct {
    int32_t root;
    size_t size;
} group_size;

static int by_size_then_root(const void *a, const void *b) {
    const group_size *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return (x->root > y->root) - (x->root < y->root);
}

userec_status near_dups_find(const float *x, size_t n, size_t dim, float threshold, size_t k, near_dups *out,
                             userec_error *err) {
    *out = (near_dups){0};
    if (n < 2) return USEREC_OK;
    if (k > n - 1) k = n - 1;
    int32_t *index = malloc(n * k * sizeof *index), *parent = malloc(n * sizeof *parent);
    float *score = malloc(n * k * sizeof *score);
    size_t *size = calloc(n, sizeof *size), *slot = malloc(n * sizeof *slot);
    group_size *groups = malloc(n * sizeof *groups);
    userec_status st = USEREC_OK;
    if (!index || !parent || !score || !size || !slot || !groups) {
        st = set_error(err, USEREC_ERR_NOMEM, "near duplicates: out of memory for %zu items", n);
        goto done;
    }
    const userec_topk_options opt = {.k = k, .exclude_self = 1, .device = USEREC_DEVICE_CPU, .use_min_score = 1,
                                     .min_score = threshold};
    if ((st = userec_topk_search(x, n, x, n, dim, &opt, index, score, err))) goto done;
    for (size_t i = 0; i < n; i++) parent[i] = (int32_t)i;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < k && index[i * k + r] != USEREC_TOPK_EMPTY; r++) {
            const int32_t a = find(parent, (int32_t)i), b = find(parent, index[i * k + r]);
            if (a != b) parent[a > b ? a : b] = a < b ? a : b; /* the lower row stays the root */
        }
    for (size_t i = 0; i < n; i++) size[find(parent, (int32_t)i)]++;
    for (size_t i = 0; i < n; i++)
        if (size[i] > 1) groups[out->n_groups++] = (group_size){(int32_t)i, size[i]};
    qsort(groups, out->n_groups, sizeof *groups, by_size_then_root);
    out->start = malloc((out->n_groups + 1) * sizeof *out->start);
    for (size_t g = 0; g < out->n_groups; g++) out->n_items += groups[g].size;
    out->member = malloc((out->n_items ? out->n_items : 1) * sizeof *out->member);
    if (!out->start || !out->member) {
        st = set_error(err, USEREC_ERR_NOMEM, "near duplicates: out of memory for %zu groups", out->n_groups);
        near_dups_free(out);
        goto done;
    }
    out->start[0] = 0;
    for (size_t g = 0; g < out->n_groups; g++) {
        out->start[g + 1] = out->start[g] + groups[g].size;
        slot[groups[g].root] = out->start[g]; /* where the group's next member goes */
    }
    for (size_t i = 0; i < n; i++) { /* ascending rows: members come out ascending */
        const int32_t root = find(parent, (int32_t)i);
        if (size[root] > 1) out->member[slot[root]++] = (int32_t)i;
    }
done:
    free(index), free(parent), free(score), free(size), free(slot), free(groups);
    return st;
}

void near_dups_free(near_dups *d) {
    free(d->start);
    free(d->member);
    *d = (near_dups){0};
}
