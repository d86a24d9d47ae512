/* util.h: error reporting, path pieces and little-endian reads shared by the engine's files. */
#ifndef USEREC_UTIL_H
#define USEREC_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Formats an error message into (err, err_len); always returns -1 so callers can `return ERR(...)`. */
__attribute__((format(printf, 3, 4))) static inline int ERR(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* A failed system call on a file: "<path>: <what> failed: <strerror> (source.c:line)". */
#define SYS_ERR(err, err_len, path, what) \
    ERR(err, err_len, "%s: %s failed: %s (%s:%d)", (path), (what), strerror(errno), __FILE__, __LINE__)

/* The file name part of a path, and whether two paths name files in the same directory (as spelled). */
static inline const char *path_base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}
static inline int path_same_directory(const char *a, const char *b) {
    const size_t da = (size_t)(path_base_name(a) - a), db = (size_t)(path_base_name(b) - b);
    return da == db && !memcmp(a, b, da);
}

/* dir/name, malloc'd; NULL when memory ran out. */
static inline char *path_join(const char *dir, const char *name) {
    char *path;
    return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

static inline uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t rd_u64(const uint8_t *p) { return rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32; }

static inline float rd_f32(const uint8_t *p) {
    uint32_t u = rd_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
