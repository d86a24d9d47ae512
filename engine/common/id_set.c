/* id_set.c: strings numbered by first appearance, found by hash (id_set.h). */
#include "common/id_set.h"

#include <stdlib.h>
#include <string.h>

#include "common/grow.h"

/* FNV-1a over the bytes, then a 64-bit finaliser so that the low bits (the table index) depend on every byte. */
static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ h >> 33;
}

const char *id_set_key(const id_set *s, size_t i) { return (const char *)s->bytes + s->start[i]; }

size_t id_set_key_len(const id_set *s, size_t i) { return s->start[i + 1] - s->start[i] - 1; }

static int equal(const id_set *s, size_t i, const void *key, size_t len) {
    return id_set_key_len(s, i) == len && !memcmp(s->bytes + s->start[i], key, len);
}

/* The slot holding string number+1 `key`, or the empty slot where it would go. */
static size_t probe(const id_set *s, const void *key, size_t len) {
    size_t at = (size_t)hash_bytes(key, len) & (s->slots - 1);
    while (s->slot[at] && !equal(s, s->slot[at] - 1, key, len)) at = (at + 1) & (s->slots - 1);
    return at;
}

static int rehash(id_set *s, size_t slots) {
    uint32_t *fresh = calloc(slots, sizeof *fresh);
    if (!fresh) return -1;
    uint32_t *old = s->slot;
    s->slot = fresh;
    s->slots = slots;
    for (size_t i = 0; i < s->count; i++) {
        size_t at = (size_t)hash_bytes(s->bytes + s->start[i], id_set_key_len(s, i)) & (slots - 1);
        while (fresh[at]) at = (at + 1) & (slots - 1);
        fresh[at] = (uint32_t)(i + 1);
    }
    free(old);
    return 0;
}

size_t id_set_find(const id_set *s, const void *key, size_t len) {
    if (!s->slots) return ID_SET_NONE;
    const uint32_t v = s->slot[probe(s, key, len)];
    return v ? v - 1 : ID_SET_NONE;
}

size_t id_set_add(id_set *s, const void *key, size_t len, int *added) {
    *added = 0;
    if ((s->count + 1) * 2 > s->slots && rehash(s, s->slots ? 2 * s->slots : 1024)) return ID_SET_NONE; /* load <= 1/2 */
    const size_t at = probe(s, key, len);
    if (s->slot[at]) return s->slot[at] - 1;
    if (s->count >= UINT32_MAX - 1 || GROW(s->start, s->start_cap, s->count + 2) ||
        GROW(s->bytes, s->bytes_cap, s->bytes_len + len + 1))
        return ID_SET_NONE;
    if (!s->count) s->start[0] = 0;
    memcpy(s->bytes + s->bytes_len, key, len);
    s->bytes[s->bytes_len + len] = 0;
    s->bytes_len += len + 1;
    s->start[s->count + 1] = s->bytes_len;
    s->slot[at] = (uint32_t)(s->count + 1);
    *added = 1;
    return s->count++;
}

void id_set_free(id_set *s) {
    free(s->bytes);
    free(s->start);
    free(s->slot);
    *s = (id_set){0};
}
