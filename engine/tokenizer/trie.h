/* trie.h: a read-only double-array trie over 16-bit labels, built once from a key set, then walked one label
 * at a time by both tokenizers (spm: labels are UTF-8 bytes; tfjs: labels number the UTF-16 code units that
 * occur in the vocabulary).
 *
 * Node n's child for label c is unit base[n] + c when that unit's check equals n. The unit array is padded so
 * that any label up to the max_label given at build time can be looked up without a bounds check. Node 0 is
 * the root. Read-only after trie_build, so any number of threads may walk it. */
#ifndef USEREC_TRIE_H
#define USEREC_TRIE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t base;  /* children of this node live at base + label */
    int32_t check; /* the parent node of this unit; negative when the unit is free or the root */
    int32_t value; /* the value of the key ending here, -1 when no key ends here */
} trie_unit;

typedef struct {
    trie_unit *units;
    uint32_t n_units;
} trie;

/* What to do with keys that occur more than once. */
enum trie_duplicates {
    TRIE_DUP_REFUSE,    /* an error; *dup_key names the later occurrence */
    TRIE_DUP_LAST_WINS, /* the key keeps the value of its last occurrence in the input */
};

/* Builds t from n_keys keys: key i is labels[offsets[i] .. offsets[i+1]) (offsets has n_keys + 1 entries),
 * every label in 0..max_label, with value values[i] >= 0. Empty keys are skipped. Returns 0, or -1 with a
 * message in err (on a refused duplicate, *dup_key receives the later key's index when dup_key is not NULL). */
int trie_build(trie *t, const uint16_t *labels, const uint32_t *offsets, const int32_t *values, uint32_t n_keys,
               uint32_t max_label, enum trie_duplicates dup, uint32_t *dup_key, char *err, size_t err_len);

void trie_free(trie *t);

/* The child of node for label (0..max_label), or -1. */
static inline int32_t trie_child(const trie *t, int32_t node, uint32_t label) {
    uint32_t pos = (uint32_t)t->units[node].base + label;
    return t->units[pos].check == node ? (int32_t)pos : -1;
}

/* The value of the key that ends at node, or -1. */
static inline int32_t trie_value(const trie *t, int32_t node) { return t->units[node].value; }

#endif
