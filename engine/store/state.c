/* state.c: the store's compact state file (state.h). */
#include "store/state.h"

#include <stdio.h>

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/regular_file.h"
#include "common/util.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the state file is read and written in the host's byte order, which must be little-endian"
#endif

#define HEADER_BYTES 64
#define MAGIC "USERECST"

static size_t row_bytes(uint32_t depth) { return STATE_HASH_BYTES + 8 + (size_t)depth * 8; }

int state_read(const char *path, store_state *s, char *err, size_t err_len) {
    *s = (store_state){0};
    struct stat st;
    int why;
    const int fd = open_regular_file(path, &st, &why, err, err_len);
    if (fd < 0) return USEREC_ERR_IO;
    const size_t size = (size_t)st.st_size;
    uint8_t *map = size >= HEADER_BYTES ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED)
        return size >= HEADER_BYTES ? FAIL_AS(USEREC_ERR_IO, SYS_ERR(err, err_len, path, "mmap"))
                                    : FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: not a state file (%zu bytes)", path, size));
    uint32_t version;
    memcpy(&version, map + 8, 4), memcpy(&s->k, map + 12, 4), memcpy(&s->depth, map + 16, 4);
    memcpy(&s->dim, map + 20, 4), memcpy(&s->rows, map + 24, 8);
    if (memcmp(map, MAGIC, 8) || version != 1 || s->depth < s->k || s->rows > (uint64_t)INT32_MAX ||
        size != HEADER_BYTES + s->rows * row_bytes(s->depth)) {
        munmap(map, size);
        return FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: not a whole version-1 state file of userec update", path));
    }
    const uint8_t *p = map + HEADER_BYTES;
    s->hash = p, p += s->rows * STATE_HASH_BYTES;
    s->count = (const uint32_t *)p, p += s->rows * 4;
    s->next = (const float *)p, p += s->rows * 4;
    s->index = (const int32_t *)p, p += s->rows * s->depth * 4;
    s->score = (const float *)p;
    s->map = map;
    s->map_size = size;
    for (uint64_t r = 0; r < s->rows; r++) { /* an index out of range would be a wild read later */
        int damaged = s->count[r] > s->depth;
        for (uint32_t e = 0; e < s->count[r] && !damaged; e++) {
            const int32_t x = s->index[r * s->depth + e];
            damaged = x < 0 || (uint64_t)x >= s->rows || (uint64_t)x == r;
        }
        if (damaged) {
            state_release(s);
            return FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: row %llu's list is damaged", path,
                                                  (unsigned long long)r));
        }
    }
    return 0;
}

void state_release(store_state *s) {
    if (s->map) munmap(s->map, s->map_size);
    *s = (store_state){0};
}

int state_write(FILE *f, const char *path, uint32_t k, uint32_t depth, uint32_t dim, uint64_t rows, const uint8_t *hash,
                const uint32_t *count, const float *next, const int32_t *index, const float *score, char *err,
                size_t err_len) {
    uint8_t header[HEADER_BYTES] = {0};
    const uint32_t version = 1;
    memcpy(header, MAGIC, 8);
    memcpy(header + 8, &version, 4), memcpy(header + 12, &k, 4), memcpy(header + 16, &depth, 4);
    memcpy(header + 20, &dim, 4), memcpy(header + 24, &rows, 8);
    fwrite(header, 1, sizeof header, f);
    fwrite(hash, STATE_HASH_BYTES, rows, f);
    fwrite(count, 4, rows, f);
    fwrite(next, 4, rows, f);
    fwrite(index, 4 * (size_t)depth, rows, f);
    fwrite(score, 4 * (size_t)depth, rows, f);
    return ferror(f) ? FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, path, "write")) : 0;
}
