/* topk_io.c: the inputs of a top-k search: vectors from .npy (float32 or float16, made unit length) and the
 * ids file that names their rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/grow.h"
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

int topk_load_vectors(const char *path, topk_matrix *m, size_t *n_scaled, size_t *n_zero, char *err, size_t err_len) {
    *m = (topk_matrix){0};
    *n_scaled = *n_zero = 0;
    npy_array a;
    if (npy_read(path, &a, err, err_len)) return -1;
    const size_t rows = a.rows, cols = a.cols, n = rows * cols;
    if (!cols) {
        npy_release(&a);
        return ERR(err, err_len, "%s: the vectors have 0 columns", path);
    }
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x) {
        npy_release(&a);
        return ERR(err, err_len, "%s: out of memory for %zu x %zu floats", path, rows, cols);
    }
    if (a.dtype == NPY_F32) memcpy(x, a.data, n * sizeof *x);
    else
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, (const uint8_t *)a.data + 2 * i, 2); /* the data need not be 2-byte aligned */
            x[i] = f16_to_f32(h);
        }
    npy_release(&a);
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        double sq = 0;
        for (size_t c = 0; c < cols; c++) {
            if (!isfinite(row[c])) {
                const float bad = row[c];
                free(x);
                return ERR(err, err_len, "%s: row %zu, column %zu holds %g: vectors must be finite", path, r, c, bad);
            }
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
    *m = (topk_matrix){.data = x, .rows = rows, .cols = cols};
    return 0;
}

void topk_matrix_free(topk_matrix *m) {
    free(m->data);
    *m = (topk_matrix){0};
}

int topk_read_ids(const char *ids_path, const char *npy_path, size_t npy_rows, topk_ids *ids, char *err, size_t err_len) {
    *ids = (topk_ids){0};
    struct stat st;
    int why;
    const int fd = open_regular_file(ids_path, &st, &why, err, err_len);
    if (fd < 0) return -1;
    byte_buf text = {0};
    for (;;) { /* to the end, whatever the size said: the file may be growing */
        if (GROW(text.data, text.cap, text.len + (1 << 16) + 1)) {
            free(text.data);
            close(fd);
            return ERR(err, err_len, "%s: out of memory", ids_path);
        }
        const ssize_t got = read(fd, text.data + text.len, text.cap - text.len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            SYS_ERR(err, err_len, ids_path, "read");
            free(text.data);
            close(fd);
            return -1;
        }
        if (!got) break;
        text.len += (size_t)got;
    }
    close(fd);
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
        return ERR(err, err_len, "%s has %zu lines but %s has %zu rows: the ids file needs exactly one line per vector",
                   ids_path, lines, npy_path, npy_rows);
    }
    char **line = malloc((lines ? lines : 1) * sizeof *line);
    if (!line) {
        free(text);
        return ERR(err, err_len, "%s: out of memory", ids_path);
    }
    char *p = text;
    for (size_t i = 0; i < lines; i++) {
        char *end = memchr(p, '\n', (size_t)(text + len - p));
        if (!end) end = text + len; /* the last line, without a newline; text[len] is already 0 */
        if (memchr(p, 0, (size_t)(end - p))) {
            free(line);
            free(text);
            return ERR(err, err_len, "%s: line %zu holds a NUL byte", ids_path, i + 1);
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
