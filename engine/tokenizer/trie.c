/* trie.c: builds the double-array trie of trie.h.
 *
 * Keys are sorted (ties by input position, so duplicates sit together in input order), then nodes are placed
 * breadth first: each node's children go to the first base where every child slot is free. A work queue
 * instead of recursion keeps very long keys from exhausting the stack. */
#include "tokenizer/trie.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

typedef struct {
    const uint16_t *labels;
    const uint32_t *offsets;
} key_set;

static int compare_keys(const void *a, const void *b, void *ctx) {
    const key_set *ks = ctx;
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    uint32_t len_i = ks->offsets[i + 1] - ks->offsets[i], len_j = ks->offsets[j + 1] - ks->offsets[j];
    const uint16_t *ki = ks->labels + ks->offsets[i], *kj = ks->labels + ks->offsets[j];
    for (uint32_t k = 0; k < len_i && k < len_j; k++)
        if (ki[k] != kj[k]) return ki[k] < kj[k] ? -1 : 1;
    if (len_i != len_j) return len_i < len_j ? -1 : 1;
    return i < j ? -1 : i > j; /* equal keys keep their input order */
}

static int same_key(const key_set *ks, uint32_t i, uint32_t j) {
    uint32_t len = ks->offsets[i + 1] - ks->offsets[i];
    return len == ks->offsets[j + 1] - ks->offsets[j] &&
           !memcmp(ks->labels + ks->offsets[i], ks->labels + ks->offsets[j], len * sizeof *ks->labels);
}

/* One node waiting for its children to be placed: the sorted keys [lo, hi) all pass through it. */
typedef struct {
    int32_t node;
    uint32_t lo, hi, depth;
} pending;

typedef struct {
    trie_unit *units;
    uint32_t *skip;    /* for a used unit u, some index in (u, next free unit]: a path-compressed jump list */
    uint32_t cap;      /* allocated units */
    uint32_t used_end; /* one past the highest unit in use */
} builder;

static int ensure_units(builder *b, uint64_t need, char *err, size_t err_len) {
    if (need <= b->cap) return 0;
    if (need > INT32_MAX) return ERR(err, err_len, "trie: more than 2^31 units (%s:%d)", __FILE__, __LINE__);
    uint64_t cap = b->cap ? b->cap : 1024;
    while (cap < need) cap *= 2;
    if (cap > INT32_MAX) cap = INT32_MAX;
    trie_unit *units = realloc(b->units, cap * sizeof *units);
    if (units) b->units = units;
    uint32_t *skip = units ? realloc(b->skip, cap * sizeof *skip) : NULL;
    if (!skip)
        return ERR(err, err_len, "trie: out of memory for %llu units (%s:%d)", (unsigned long long)cap, __FILE__,
                   __LINE__);
    b->skip = skip;
    for (uint64_t i = b->cap; i < cap; i++) b->units[i] = (trie_unit){0, -1, -1};
    b->cap = (uint32_t)cap;
    return 0;
}

static void mark_used(builder *b, uint32_t pos, int32_t parent) {
    b->units[pos].check = parent;
    b->skip[pos] = pos + 1;
    if (pos + 1 > b->used_end) b->used_end = pos + 1;
}

/* The first free unit at or after pos (pos itself when the array must grow to hold it). Jumps along skip[]
 * and shortens the path it took, so that scans over long used stretches stay cheap. */
static uint32_t next_free(builder *b, uint32_t pos) {
    uint32_t free_pos = pos;
    while (free_pos < b->cap && b->units[free_pos].check != -1) free_pos = b->skip[free_pos];
    while (pos < free_pos && pos < b->cap) {
        uint32_t next = b->skip[pos];
        b->skip[pos] = free_pos;
        pos = next;
    }
    return free_pos;
}

/* Finds a base >= 1 such that base + c is free for every child label c (sorted ascending, n >= 1). */
static int find_base(builder *b, const uint16_t *child_labels, uint32_t n, int32_t *base_out, char *err,
                     size_t err_len) {
    for (uint32_t pos = next_free(b, (uint32_t)child_labels[0] + 1);; pos = next_free(b, pos + 1)) { /* base >= 1 */
        uint64_t base = (uint64_t)pos - child_labels[0];
        if (ensure_units(b, base + child_labels[n - 1] + 1, err, err_len)) return -1;
        uint32_t k = 1;
        while (k < n && b->units[base + child_labels[k]].check == -1) k++;
        if (k == n) {
            *base_out = (int32_t)base;
            return 0;
        }
    }
}

int trie_build(trie *t, const uint16_t *labels, const uint32_t *offsets, const int32_t *values, uint32_t n_keys,
               uint32_t max_label, enum trie_duplicates dup, uint32_t *dup_key, char *err, size_t err_len) {
    memset(t, 0, sizeof *t);
    key_set ks = {labels, offsets};
    builder b = {0};
    uint32_t *order = malloc(((size_t)n_keys + 1) * sizeof *order);
    pending *queue = malloc(((size_t)n_keys + 1) * sizeof *queue); /* a ring of up to n_keys + 1 entries */
    uint16_t *child_labels = malloc(((size_t)max_label + 1) * sizeof *child_labels);
    uint32_t *child_lo = malloc(((size_t)max_label + 2) * sizeof *child_lo);
    int rc = -1;
    if (!order || !queue || !child_labels || !child_lo) {
        ERR(err, err_len, "trie: out of memory for %u keys (%s:%d)", n_keys, __FILE__, __LINE__);
        goto done;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < n_keys; i++)
        if (offsets[i + 1] > offsets[i]) order[n++] = i;
    qsort_r(order, n, sizeof *order, compare_keys, &ks);

    /* Resolve duplicates: keep one index per distinct key. */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t cur = order[i];
        if (kept && same_key(&ks, order[kept - 1], cur)) {
            if (dup == TRIE_DUP_REFUSE) {
                if (dup_key) *dup_key = cur;
                ERR(err, err_len, "trie: key %u repeats key %u", cur, order[kept - 1]);
                goto done;
            }
            order[kept - 1] = cur; /* equal keys are sorted in input order: this one comes later */
            continue;
        }
        order[kept++] = cur;
    }

    if (ensure_units(&b, (uint64_t)max_label + 2, err, err_len)) goto done;
    mark_used(&b, 0, -2); /* the root has no parent */
    /* Breadth first through a ring of kept + 1 entries: pending nodes own disjoint, non-empty key ranges
     * (the root alone may own none), so there are never more of them than that. */
    size_t ring = (size_t)kept + 1, head = 0, queued = 1;
    queue[0] = (pending){0, 0, kept, 0};
    while (queued) {
        pending p = queue[head];
        head = (head + 1) % ring;
        queued--;
        uint32_t lo = p.lo;
        const uint32_t *k0 = &order[lo];
        if (lo < p.hi && offsets[*k0 + 1] - offsets[*k0] == p.depth) { /* the shortest key (sorted first) ends here */
            b.units[p.node].value = values[*k0];
            lo++;
        }
        if (lo == p.hi) continue;
        uint32_t n_children = 0;
        for (uint32_t i = lo; i < p.hi; i++) {
            uint16_t c = labels[offsets[order[i]] + p.depth];
            if (c > max_label) {
                ERR(err, err_len, "trie: key %u has label %u above max_label %u", order[i], c, max_label);
                goto done;
            }
            if (!n_children || child_labels[n_children - 1] != c) {
                child_labels[n_children] = c;
                child_lo[n_children++] = i;
            }
        }
        child_lo[n_children] = p.hi;
        int32_t base;
        if (find_base(&b, child_labels, n_children, &base, err, err_len)) goto done;
        b.units[p.node].base = base;
        for (uint32_t c = 0; c < n_children; c++) {
            uint32_t pos = (uint32_t)base + child_labels[c];
            mark_used(&b, pos, p.node);
            queue[(head + queued++) % ring] = (pending){(int32_t)pos, child_lo[c], child_lo[c + 1], p.depth + 1};
        }
    }
    /* Pad so that base + label stays inside the array for every node: leaves keep base 0. */
    uint64_t max_base = 0;
    for (uint32_t i = 0; i < b.used_end; i++)
        if ((uint64_t)b.units[i].base > max_base) max_base = (uint64_t)b.units[i].base;
    uint64_t n_units = (max_base + max_label + 1 > b.used_end ? max_base + max_label + 1 : b.used_end);
    if (ensure_units(&b, n_units, err, err_len)) goto done;
    trie_unit *shrunk = realloc(b.units, n_units * sizeof *shrunk);
    if (shrunk) b.units = shrunk;
    t->units = b.units;
    t->n_units = (uint32_t)n_units;
    b.units = NULL;
    rc = 0;
done:
    free(b.units);
    free(b.skip);
    free(order);
    free(queue);
    free(child_labels);
    free(child_lo);
    return rc;
}

void trie_free(trie *t) {
    free(t->units);
    memset(t, 0, sizeof *t);
}
