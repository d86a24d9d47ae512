/* npy.h: NumPy .npy files: a streaming atomic writer (format 1.0) and an mmap reader (format 1.0, 2.0 and 3.0)
 * of C-order 2-D float32/float16 arrays. */
#ifndef USEREC_NPY_H
#define USEREC_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { NPY_F32 = 0, NPY_F16 = 1 } npy_dtype;

#include "output/atomic_file.h"

/* Writer: rows are appended as they come to w->file (an atomic_file); npy_writer_seal writes the header's row
 * count, after which the file is complete and is committed alone (npy_writer_commit) or with the other outputs of
 * its run (output/publish.h). Failures are FAIL_OUTPUT (common/error.h). */
typedef struct {
    atomic_file file;
    npy_dtype dtype;
    size_t cols, rows;
    uint16_t *half; /* conversion buffer for float16 output */
    size_t half_cap;
} npy_writer;
int npy_writer_open(npy_writer *w, const char *path, npy_dtype dtype, size_t cols, char *err, size_t err_len);
int npy_writer_append(npy_writer *w, const float *rows, size_t n_rows, char *err, size_t err_len);
/* Rows already in the file's element type, as another .npy of the same dtype holds them (userec merge). */
int npy_writer_append_raw(npy_writer *w, const void *data, size_t n_rows, char *err, size_t err_len);
/* Keeps only the rows r with keep[r] set (in place), for rows found unwanted after they were written. */
int npy_writer_keep_rows(npy_writer *w, const unsigned char *keep, char *err, size_t err_len);
int npy_writer_seal(npy_writer *w, char *err, size_t err_len);
int npy_writer_commit(npy_writer *w, char *err, size_t err_len); /* seal + atomic_commit; aborts on failure */
void npy_writer_abort(npy_writer *w);                            /* removes the temp file */

/* Reader: maps a C-order 2-D float32 or float16 array from a regular file. Anything else (another dtype, another
 * number of dimensions, Fortran order, a malformed header, a truncated file) is refused with a message naming
 * what the file holds. npy_read returns 0, or the failure's class (common/error.h): USEREC_ERR_IO when the file cannot
 * be opened or mapped, USEREC_ERR_FORMAT when it is not such an array. */
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
