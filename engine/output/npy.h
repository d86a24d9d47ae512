/* npy.h: NumPy .npy files: a streaming atomic writer (format 1.0) and an mmap reader (format 1.0, 2.0 and 3.0)
 * of C-order 2-D float32/float16 arrays. */
#ifndef USEREC_NPY_H
#define USEREC_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { NPY_F32 = 0, NPY_F16 = 1 } npy_dtype;

/* Writer: rows are appended as they come; the header's row count is fixed up at npy_writer_commit, which
 * fsyncs and renames the temp file over path (atomic: readers see the old file or the complete new one). */
typedef struct npy_writer npy_writer;
npy_writer *npy_writer_open(const char *path, npy_dtype dtype, size_t cols, char *err, size_t err_len);
int npy_writer_append(npy_writer *w, const float *rows, size_t n_rows, char *err, size_t err_len);
/* Rows already in the file's element type, as another .npy of the same dtype holds them (userec merge). */
int npy_writer_append_raw(npy_writer *w, const void *data, size_t n_rows, char *err, size_t err_len);
int npy_writer_commit(npy_writer *w, char *err, size_t err_len); /* frees w */
void npy_writer_abort(npy_writer *w);                            /* removes the temp file, frees w */

/* Reader: maps a C-order 2-D float32 or float16 array from a regular file. Anything else (another dtype, another
 * number of dimensions, Fortran order, a malformed header, a truncated file) is refused with a message naming
 * what the file holds. */
typedef struct {
    const uint8_t *map;
    size_t map_size;
    const void *data;
    size_t rows, cols;
    npy_dtype dtype;
} npy_array;
int npy_read(const char *path, npy_array *out, char *err, size_t err_len);
void npy_release(npy_array *a);

/* The same checks on a .npy image in memory (buf must outlive out; out->map stays NULL). label names it. */
int npy_parse(const uint8_t *buf, size_t size, const char *label, npy_array *out, char *err, size_t err_len);

/* The header dict (npy_header.c): exactly the keys descr, fortran_order and shape, each once. */
#define NPY_MAX_DIMS 64
typedef struct {
    char descr[32];
    int fortran_order;
    size_t ndim;
    uint64_t shape[NPY_MAX_DIMS];
} npy_header;
int npy_parse_header(const char *text, size_t len, npy_header *h, char *err, size_t err_len);

#endif
