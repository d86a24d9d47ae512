/* state.h: the compact form of a store generation that the next `userec update` needs (state.bin), beside the
 * outputs people read (vectors.npy/.ids, related.csv): each row's content hash, and each item's related list kept
 * deeper than k with a bound on what it left out, so that most lists can be updated without a full search.
 *
 * Layout (little-endian), 64-byte header then four arrays:
 *   header: "USERECST", u32 version (1), u32 k, u32 depth D, u32 dim, u64 rows, zeros to 64 bytes
 *   hash[rows][16]            the row's content hash (SHA-256 truncated, update_job.c says of what)
 *   count[rows] u32, next[rows] f32   entries in the list; every item not in it scores at most `next`
 *                                     (-INFINITY: the list holds every other item)
 *   index[rows][D] i32, score[rows][D] f32   the list, best first (row indices of this generation), entries past
 *                                     count USEREC_TOPK_EMPTY / -INFINITY
 * Invariant: a list is the exact top-count of its item under this generation's order (score descending, equal
 * scores by lower row), and every item left out is worse in that order than every entry and scores <= next. */
#ifndef USEREC_STORE_STATE_H
#define USEREC_STORE_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define STATE_HASH_BYTES 16

typedef struct {
    uint32_t k, depth, dim;
    uint64_t rows;
    const uint8_t *hash;   /* rows x STATE_HASH_BYTES */
    const uint32_t *count; /* rows */
    const float *next;     /* rows */
    const int32_t *index;  /* rows x depth */
    const float *score;    /* rows x depth */
    void *map;             /* the mapped file, when read */
    size_t map_size;
} store_state;

/* Maps a state file. Returns 0, or the failure's class (common/error.h) with err set: USEREC_ERR_IO, or
 * USEREC_ERR_FORMAT when it is not a whole state file. */
int state_read(const char *path, store_state *s, char *err, size_t err_len);
void state_release(store_state *s);

/* Writes one, from arrays laid out as above, to f. Returns 0 or FAIL_OUTPUT. */
int state_write(FILE *f, const char *path, uint32_t k, uint32_t depth, uint32_t dim, uint64_t rows, const uint8_t *hash,
                const uint32_t *count, const float *next, const int32_t *index, const float *score, char *err,
                size_t err_len);

#endif
