/* grow.h: the engine's one growable array: make room for `need` elements in a malloc'd array whose capacity
 * is *cap, doubling, so appending n elements one by one costs O(n) copies. */
#ifndef USEREC_GROW_H
#define USEREC_GROW_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Grows *p (elements of elem bytes, capacity *cap) to hold at least need elements. Returns 0, or -1 when
 * memory ran out or the size overflows (*p and *cap are then unchanged). */
static inline int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need) {
        if (n > SIZE_MAX / 2) return -1;
        n *= 2;
    }
    if (n > SIZE_MAX / elem) return -1;
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* GROW(array, cap, need): grow() for a typed array pointer. */
#define GROW(array, cap, need) grow((void **)&(array), &(cap), (need), sizeof *(array))

/* A growable byte buffer, reused from record to record: bytes [0, len) of data. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} byte_buf;

/* Appends n bytes. Returns 0, or -1 with err saying memory ran out. */
static inline int byte_buf_append(byte_buf *b, const void *bytes, size_t n, char *err, size_t err_len) {
    if (!n) return 0;
    if (b->len + n < n || GROW(b->data, b->cap, b->len + n))
        return ERR(err, err_len, "out of memory for %zu more bytes after %zu", n, b->len);
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}

#endif
