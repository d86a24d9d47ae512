/* id_set.h: a set of byte strings (ids, content hashes), each numbered in the order it was first added: an open
 * addressing hash table over an arena of the strings. Memory: the strings plus about 24 bytes per string. Used to
 * find repeated ids in a streamed catalogue (embed, update), to match a store's rows by id and by content hash
 * (update), and to refuse an ids file with repeats (related). */
#ifndef USEREC_ID_SET_H
#define USEREC_ID_SET_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *bytes;          /* the strings, each followed by a NUL */
    size_t bytes_len, bytes_cap;
    size_t *start;           /* start[i]: where string i begins in bytes; its length is start[i+1] - start[i] - 1 */
    size_t count, start_cap;
    uint32_t *slot;          /* hash table of string numbers + 1 (0: empty), power-of-two size */
    size_t slots;
} id_set;

#define ID_SET_NONE SIZE_MAX

/* The number of the string (len bytes), added when new (*added = 1) or found (*added = 0); ID_SET_NONE when memory
 * ran out (or past 2^32 - 2 strings). */
size_t id_set_add(id_set *s, const void *key, size_t len, int *added);
/* The number of the string, or ID_SET_NONE when it is not in the set. */
size_t id_set_find(const id_set *s, const void *key, size_t len);
/* String i (NUL-terminated) and its length. */
const char *id_set_key(const id_set *s, size_t i);
size_t id_set_key_len(const id_set *s, size_t i);
void id_set_free(id_set *s);

#endif
