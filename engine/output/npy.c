/* npy.c: NumPy .npy (format 1.0) writer, streaming and atomic, and an mmap reader for 2-D float arrays. */
#include "output/npy.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/atomic_file.h"
#include "common/util.h"

/* A fixed 128-byte header leaves room for any row count, so it can be rewritten in place at commit. */
#define NPY_HEADER_BYTES 128

struct npy_writer {
    atomic_file out;
    npy_dtype dtype;
    size_t cols, rows;
    uint16_t *half; /* conversion buffer for float16 output */
    size_t half_cap;
};

/* float32 -> float16, round to nearest even, overflow to inf, NaN kept NaN. */
static uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xFF, mant = x & 0x7FFFFF;
    if (exp == 0xFF) return (uint16_t)(sign | 0x7C00 | (mant ? 0x200 : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7C00);
    if (e <= 0) { /* subnormal or zero */
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e), half = mant >> shift, rem = mant & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = (uint32_t)e << 10 | mant >> 13, rem = mant & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* a carry into the exponent is still right */
    return (uint16_t)(sign | half);
}

static void format_header(char *hdr, npy_dtype dtype, size_t rows, size_t cols) {
    memcpy(hdr, "\x93NUMPY\x01\x00", 8); /* magic, version 1.0 */
    hdr[8] = (char)(NPY_HEADER_BYTES - 10); /* header length, little-endian uint16 */
    hdr[9] = 0;
    int n = snprintf(hdr + 10, NPY_HEADER_BYTES - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }",
                     dtype == NPY_F16 ? "<f2" : "<f4", rows, cols);
    memset(hdr + 10 + n, ' ', NPY_HEADER_BYTES - 11 - (size_t)n);
    hdr[NPY_HEADER_BYTES - 1] = '\n';
}

static int put(npy_writer *w, const void *data, size_t n, char *err, size_t err_len) {
    if (fwrite(data, 1, n, w->out.fp) != n) return SYS_ERR(err, err_len, w->out.tmp_path, "write");
    return 0;
}

npy_writer *npy_writer_open(const char *path, npy_dtype dtype, size_t cols, char *err, size_t err_len) {
    npy_writer *w = calloc(1, sizeof *w);
    if (!w) return ERR(err, err_len, "%s: out of memory", path), NULL;
    if (atomic_open(&w->out, path, err, err_len)) {
        free(w);
        return NULL;
    }
    w->dtype = dtype;
    w->cols = cols;
    char hdr[NPY_HEADER_BYTES];
    format_header(hdr, dtype, 0, cols); /* a placeholder: the row count is known at commit */
    if (put(w, hdr, sizeof hdr, err, err_len)) {
        npy_writer_abort(w);
        return NULL;
    }
    return w;
}

int npy_writer_append(npy_writer *w, const float *rows, size_t n_rows, char *err, size_t err_len) {
    size_t n = n_rows * w->cols;
    if (w->dtype == NPY_F32) {
        if (put(w, rows, n * sizeof *rows, err, err_len)) return -1;
    } else {
        if (n > w->half_cap) {
            uint16_t *grown = realloc(w->half, n * sizeof *grown);
            if (!grown) return ERR(err, err_len, "%s: out of memory", w->out.path);
            w->half = grown;
            w->half_cap = n;
        }
        for (size_t i = 0; i < n; i++) w->half[i] = f32_to_f16(rows[i]);
        if (put(w, w->half, n * sizeof *w->half, err, err_len)) return -1;
    }
    w->rows += n_rows;
    return 0;
}

int npy_writer_commit(npy_writer *w, char *err, size_t err_len) {
    char hdr[NPY_HEADER_BYTES];
    format_header(hdr, w->dtype, w->rows, w->cols);
    int rc = 0;
    if (fflush(w->out.fp) || pwrite(fileno(w->out.fp), hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        rc = SYS_ERR(err, err_len, w->out.tmp_path, "write");
    if (rc) atomic_abort(&w->out);
    else rc = atomic_commit(&w->out, err, err_len);
    free(w->half);
    free(w);
    return rc;
}

void npy_writer_abort(npy_writer *w) {
    if (!w) return;
    atomic_abort(&w->out);
    free(w->half);
    free(w);
}

int npy_read(const char *path, npy_array *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return SYS_ERR(err, err_len, path, "open");
    struct stat st;
    if (fstat(fd, &st)) {
        SYS_ERR(err, err_len, path, "fstat");
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) return size ? SYS_ERR(err, err_len, path, "mmap") : ERR(err, err_len, "%s: empty file", path);
    const uint8_t *b = map;
    if (size < 10 || memcmp(b, "\x93NUMPY", 6)) {
        munmap(map, size);
        return ERR(err, err_len, "%s: not a NumPy .npy file", path);
    }
    size_t hlen = b[6] == 1 ? (size_t)(b[8] | b[9] << 8) : (size_t)rd_u32(b + 8), hstart = b[6] == 1 ? 10 : 12;
    char hdr[1024];
    if (hstart + hlen > size || hlen >= sizeof hdr) {
        munmap(map, size);
        return ERR(err, err_len, "%s: truncated or oversized .npy header", path);
    }
    memcpy(hdr, b + hstart, hlen);
    hdr[hlen] = 0;
    const char *descr = strstr(hdr, "'descr':"), *shape = strstr(hdr, "'shape':");
    size_t rows, cols;
    int dtype = descr && strstr(descr, "'<f4'") == descr + 9 ? NPY_F32 : descr && strstr(descr, "'<f2'") == descr + 9 ? NPY_F16 : -1;
    if (dtype < 0 || !strstr(hdr, "'fortran_order': False") || !shape || sscanf(shape, "'shape': (%zu, %zu)", &rows, &cols) != 2) {
        munmap(map, size);
        return ERR(err, err_len, "%s: expected a C-order 2-D float32 or float16 array, header is %s", path, hdr);
    }
    size_t elem = dtype == NPY_F16 ? 2 : 4;
    if (cols && rows > (size - hstart - hlen) / elem / cols) {
        munmap(map, size);
        return ERR(err, err_len, "%s: truncated: shape (%zu, %zu) needs more data than the file holds", path, rows, cols);
    }
    *out = (npy_array){.map = map, .map_size = size, .data = b + hstart + hlen, .rows = rows, .cols = cols, .dtype = dtype};
    return 0;
}

void npy_release(npy_array *a) {
    if (a->map) munmap((void *)a->map, a->map_size);
    memset(a, 0, sizeof *a);
}
