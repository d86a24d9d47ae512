/* npy.c: NumPy .npy (format 1.0) writer, streaming and atomic, and an mmap reader for 2-D float arrays. */
#include "output/npy.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/regular_file.h"
#include "common/error.h"
#include "common/util.h"

/* A fixed 128-byte header leaves room for any row count, so it can be rewritten in place at commit. */
#define NPY_HEADER_BYTES 128
#define NPY_MAX_DIM ((uint64_t)1 << 40)

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
    if (fwrite(data, 1, n, w->file.fp) != n) return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, w->file.tmp_path, "write"));
    return 0;
}

int npy_writer_open(npy_writer *w, const char *path, npy_dtype dtype, size_t cols, char *err, size_t err_len) {
    *w = (npy_writer){.dtype = dtype, .cols = cols};
    if (atomic_open(&w->file, path, err, err_len)) return FAIL_OUTPUT;
    char hdr[NPY_HEADER_BYTES];
    format_header(hdr, dtype, 0, cols); /* a placeholder: the row count is known at commit */
    if (put(w, hdr, sizeof hdr, err, err_len)) {
        npy_writer_abort(w);
        return FAIL_OUTPUT;
    }
    return 0;
}

int npy_writer_append(npy_writer *w, const float *rows, size_t n_rows, char *err, size_t err_len) {
    size_t n = n_rows * w->cols;
    if (w->dtype == NPY_F32) {
        if (put(w, rows, n * sizeof *rows, err, err_len)) return FAIL_OUTPUT;
    } else {
        if (n > w->half_cap) {
            uint16_t *grown = realloc(w->half, n * sizeof *grown);
            if (!grown) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory", w->file.path));
            w->half = grown;
            w->half_cap = n;
        }
        for (size_t i = 0; i < n; i++) w->half[i] = f32_to_f16(rows[i]);
        if (put(w, w->half, n * sizeof *w->half, err, err_len)) return FAIL_OUTPUT;
    }
    w->rows += n_rows;
    return 0;
}

int npy_writer_append_raw(npy_writer *w, const void *data, size_t n_rows, char *err, size_t err_len) {
    if (put(w, data, n_rows * w->cols * (w->dtype == NPY_F16 ? 2 : 4), err, err_len)) return -1;
    w->rows += n_rows;
    return 0;
}

int npy_writer_keep_rows(npy_writer *w, const unsigned char *keep, char *err, size_t err_len) {
    FILE *f = w->file.fp;
    const size_t row_bytes = w->cols * (w->dtype == NPY_F16 ? 2 : 4);
    if (fflush(f)) return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, w->file.tmp_path, "write"));
    unsigned char *row = malloc(row_bytes ? row_bytes : 1);
    if (!row) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory", w->file.path));
    size_t kept = 0;
    int rc = 0;
    for (size_t r = 0; r < w->rows && !rc; r++) {
        if (!keep[r]) continue;
        if (kept != r) { /* row r moves down to row `kept`: reads stay ahead of writes */
            const off_t from = NPY_HEADER_BYTES + (off_t)(r * row_bytes), to = NPY_HEADER_BYTES + (off_t)(kept * row_bytes);
            if (pread(fileno(f), row, row_bytes, from) != (ssize_t)row_bytes ||
                pwrite(fileno(f), row, row_bytes, to) != (ssize_t)row_bytes)
                rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, w->file.tmp_path, "moving a row"));
        }
        kept++;
    }
    free(row);
    const off_t end = NPY_HEADER_BYTES + (off_t)(kept * row_bytes);
    if (!rc && (ftruncate(fileno(f), end) || fseeko(f, end, SEEK_SET)))
        rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, w->file.tmp_path, "truncate"));
    if (!rc) w->rows = kept;
    return rc;
}

int npy_writer_seal(npy_writer *w, char *err, size_t err_len) {
    char hdr[NPY_HEADER_BYTES];
    format_header(hdr, w->dtype, w->rows, w->cols);
    free(w->half);
    w->half = NULL;
    w->half_cap = 0;
    if (fflush(w->file.fp) || pwrite(fileno(w->file.fp), hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, w->file.tmp_path, "write"));
    return 0;
}

int npy_writer_commit(npy_writer *w, char *err, size_t err_len) {
    int rc = npy_writer_seal(w, err, err_len);
    if (rc) npy_writer_abort(w);
    else rc = atomic_commit(&w->file, err, err_len);
    return rc;
}

void npy_writer_abort(npy_writer *w) {
    atomic_abort(&w->file);
    free(w->half);
    w->half = NULL;
    w->half_cap = 0;
}

/* "(20, 16, 32)": a shape as Python writes it, for messages. */
static void format_shape(const npy_header *h, char *out, size_t out_len) {
    size_t used = (size_t)snprintf(out, out_len, "(");
    for (size_t i = 0; i < h->ndim && used < out_len; i++)
        used += (size_t)snprintf(out + used, out_len - used, "%s%llu", i ? ", " : "", (unsigned long long)h->shape[i]);
    if (used < out_len) snprintf(out + used, out_len - used, "%s)", h->ndim == 1 ? "," : "");
}

int npy_parse(const uint8_t *b, size_t size, const char *label, npy_array *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (size < 10 || memcmp(b, "\x93NUMPY", 6)) return ERR(err, err_len, "%s: not a NumPy .npy file", label);
    /* version 1.0: a 16-bit header length; 2.0 and 3.0 (UTF-8 header): 32-bit */
    const unsigned major = b[6];
    if (major < 1 || major > 3) return ERR(err, err_len, "%s: .npy format version %u.%u, this userec reads 1 to 3", label, major, b[7]);
    const size_t hstart = major == 1 ? 10 : 12;
    if (size < hstart) return ERR(err, err_len, "%s: truncated .npy header", label);
    const size_t hlen = major == 1 ? (size_t)(b[8] | b[9] << 8) : (size_t)rd_u32(b + 8);
    if (hlen > size - hstart) return ERR(err, err_len, "%s: truncated .npy header (%zu bytes announced)", label, hlen);
    npy_header h;
    char why[256];
    if (npy_parse_header((const char *)b + hstart, hlen, &h, why, sizeof why))
        return ERR(err, err_len, "%s: %s", label, why);
    const int dtype = !strcmp(h.descr, "<f4") ? NPY_F32 : !strcmp(h.descr, "<f2") ? NPY_F16 : -1;
    if (dtype < 0 || h.fortran_order || h.ndim != 2) {
        char shape[128];
        format_shape(&h, shape, sizeof shape);
        return ERR(err, err_len, "%s: expected a C-order 2-D float32 ('<f4') or float16 ('<f2') array, found %s%zu-D "
                   "'%s' array of shape %s", label, h.fortran_order ? "a Fortran-order " : "a ", h.ndim, h.descr, shape);
    }
    const size_t elem = dtype == NPY_F16 ? 2 : 4, data_bytes = size - hstart - hlen;
    const uint64_t rows = h.shape[0], cols = h.shape[1];
    if (rows > NPY_MAX_DIM || cols > NPY_MAX_DIM) /* keeps every product below in 64 bits, with an empty array too */
        return ERR(err, err_len, "%s: shape (%llu, %llu) is beyond the 2^40 rows or columns this reader takes", label,
                   (unsigned long long)rows, (unsigned long long)cols);
    if (cols && rows > data_bytes / elem / cols)
        return ERR(err, err_len, "%s: truncated: shape (%llu, %llu) needs more data than the file holds", label,
                   (unsigned long long)rows, (unsigned long long)cols);
    if (rows * cols * elem != data_bytes)
        return ERR(err, err_len, "%s: %zu bytes after the (%llu, %llu) array: the shape does not describe the file",
                   label, data_bytes - (size_t)(rows * cols * elem), (unsigned long long)rows, (unsigned long long)cols);
    *out = (npy_array){.data = b + hstart + hlen, .rows = (size_t)rows, .cols = (size_t)cols, .dtype = dtype};
    return 0;
}

int npy_read(const char *path, npy_array *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    struct stat st;
    int why;
    const int fd = open_regular_file(path, &st, &why, err, err_len);
    if (fd < 0) return USEREC_ERR_IO; /* missing, unreadable, or not a file that can be read */
    const size_t size = (size_t)st.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED)
        return size ? FAIL_AS(USEREC_ERR_IO, SYS_ERR(err, err_len, path, "mmap"))
                    : FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: empty file", path));
    if (npy_parse(map, size, path, out, err, err_len)) {
        munmap(map, size);
        return USEREC_ERR_FORMAT;
    }
    out->map = map;
    out->map_size = size;
    return 0;
}

void npy_release(npy_array *a) {
    if (a->map) munmap((void *)a->map, a->map_size);
    memset(a, 0, sizeof *a);
}
