/* topk_io.c: the inputs of a top-k search: vectors from .npy (float32 or float16, made unit length) and the
 * ids file that names their rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/grow.h"
#include "common/id_set.h"
#include "common/sha256.h"
#include "common/regular_file.h"
#include "output/npy.h"
#include "topk/topk.h"
#include "common/util.h"

/* IEEE half -> float, exact (every half is a float). */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0x1F) bits = sign | 0x7F800000 | mant << 13; /* inf, NaN */
    else if (exp) bits = sign | (exp + 112) << 23 | mant << 13; /* 112 = 127 - 15 */
    else if (!mant) bits = sign;
    else { /* subnormal: shift the leading 1 into the implicit bit */
        exp = 113;
        while (!(mant & 0x400)) mant <<= 1, exp--;
        bits = sign | exp << 23 | (mant & 0x3FF) << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int topk_unit_rows(float *x, size_t rows, size_t cols, const char *path, size_t *n_scaled, size_t *n_zero, char *err,
                   size_t err_len) {
    *n_scaled = *n_zero = 0;
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        double sq = 0;
        for (size_t c = 0; c < cols; c++) {
            if (!isfinite(row[c]))
                return FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: row %zu, column %zu holds %g: vectors must be "
                                                                   "finite", path, r, c, row[c]));
            sq += (double)row[c] * row[c];
        }
        const double norm = sqrt(sq);
        if (norm == 0) {
            (*n_zero)++;
        } else if (fabs(norm - 1) > TOPK_UNIT_TOLERANCE) {
            for (size_t c = 0; c < cols; c++) row[c] = (float)(row[c] / norm);
            (*n_scaled)++;
        }
    }
    return 0;
}

int topk_load_vectors(const char *path, topk_matrix *m, size_t *n_scaled, size_t *n_zero, topk_file_digest *digest,
                      char *err, size_t err_len) {
    *m = (topk_matrix){0};
    *n_scaled = *n_zero = 0;
    npy_array a;
    int failure = npy_read(path, &a, err, err_len);
    if (failure) return failure;
    if (digest) {
        sha256(a.map, a.map_size, digest->sha256);
        digest->bytes = a.map_size;
    }
    const size_t rows = a.rows, cols = a.cols, n = rows * cols;
    if (!cols) {
        npy_release(&a);
        return FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: the vectors have 0 columns", path));
    }
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x) {
        npy_release(&a);
        return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory for %zu x %zu floats", path, rows, cols));
    }
    if (a.dtype == NPY_F32) memcpy(x, a.data, n * sizeof *x);
    else
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, (const uint8_t *)a.data + 2 * i, 2); /* the data need not be 2-byte aligned */
            x[i] = f16_to_f32(h);
        }
    npy_release(&a);
    if ((failure = topk_unit_rows(x, rows, cols, path, n_scaled, n_zero, err, err_len))) {
        free(x);
        return failure;
    }
    *m = (topk_matrix){.data = x, .rows = rows, .cols = cols};
    return 0;
}

void topk_matrix_free(topk_matrix *m) {
    free(m->data);
    *m = (topk_matrix){0};
}

int topk_read_ids(const char *ids_path, const char *npy_path, size_t npy_rows, topk_ids *ids, topk_file_digest *digest,
                  char *err, size_t err_len) {
    *ids = (topk_ids){0};
    struct stat st;
    int why;
    const int fd = open_regular_file(ids_path, &st, &why, err, err_len);
    if (fd < 0) return USEREC_ERR_IO;
    byte_buf text = {0};
    for (;;) { /* to the end, whatever the size said: the file may be growing */
        if (GROW(text.data, text.cap, text.len + (1 << 16) + 1)) {
            free(text.data);
            close(fd);
            return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory", ids_path));
        }
        const ssize_t got = read(fd, text.data + text.len, text.cap - text.len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            SYS_ERR(err, err_len, ids_path, "read");
            free(text.data);
            close(fd);
            return USEREC_ERR_IO;
        }
        if (!got) break;
        text.len += (size_t)got;
    }
    close(fd);
    if (digest) {
        sha256(text.data, text.len, digest->sha256);
        digest->bytes = text.len;
    }
    return topk_parse_ids((char *)text.data, text.len, ids_path, npy_path, npy_rows, ids, err, err_len);
}

int topk_parse_ids(char *text, size_t len, const char *ids_path, const char *npy_path, size_t npy_rows, topk_ids *ids,
                   char *err, size_t err_len) {
    *ids = (topk_ids){0};
    text[len] = 0;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    if (len && text[len - 1] != '\n') lines++; /* a last line without its newline */
    if (lines != npy_rows) {
        free(text);
        return FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s has %zu lines but %s has %zu rows: the ids file needs "
                                                            "exactly one line per vector", ids_path, lines, npy_path,
                                              npy_rows));
    }
    char **line = malloc((lines ? lines : 1) * sizeof *line);
    if (!line) {
        free(text);
        return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory", ids_path));
    }
    char *p = text;
    for (size_t i = 0; i < lines; i++) {
        char *end = memchr(p, '\n', (size_t)(text + len - p));
        if (!end) end = text + len; /* the last line, without a newline; text[len] is already 0 */
        if (memchr(p, 0, (size_t)(end - p))) {
            free(line);
            free(text);
            return FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: line %zu holds a NUL byte", ids_path, i + 1));
        }
        *end = 0;
        if (end > p && end[-1] == '\r') end[-1] = 0;
        line[i] = p;
        p = end + 1;
    }
    *ids = (topk_ids){.text = text, .line = line, .count = lines};
    return 0;
}

void topk_ids_free(topk_ids *ids) {
    free(ids->line);
    free(ids->text);
    *ids = (topk_ids){0};
}

int topk_ids_unique(const topk_ids *ids, const char *ids_path, char *err, size_t err_len) {
    if (!ids->line) return 0; /* row numbers */
    id_set seen = {0};
    size_t *first_line = malloc((ids->count ? ids->count : 1) * sizeof *first_line);
    int rc = first_line ? 0 : FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory", ids_path));
    for (size_t i = 0; i < ids->count && !rc; i++) {
        int added;
        const size_t e = id_set_add(&seen, ids->line[i], strlen(ids->line[i]), &added);
        if (e == ID_SET_NONE) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory", ids_path));
        else if (added) first_line[e] = i + 1;
        else
            rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: the id '%s' is on lines %zu and %zu: ids must be unique "
                                                              "(each item gets one list; `embed --on-duplicate-id` "
                                                              "decides which row of a repeated id is kept)",
                                                ids_path, ids->line[i], first_line[e], i + 1));
    }
    free(first_line);
    id_set_free(&seen);
    return rc;
}
