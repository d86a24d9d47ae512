/* table.c: a whole table in memory, one reader pass per column group (table.h). */
#include <stdlib.h>

#include "common/error.h"
#include "common/util.h"
#include "input/table.h"

/* Appends s and its NUL to the table's bytes; *at gets its offset. */
static int keep(table *t, const char *s, size_t len, size_t *at, char *err, size_t err_len) {
    *at = t->bytes.len;
    return byte_buf_append(&t->bytes, s, len, err, err_len) || byte_buf_append(&t->bytes, "", 1, err, err_len)
               ? USEREC_ERR_NOMEM
               : 0;
}

/* Pass g: group g's value of every row (and, in the first pass, the rows and their ids). */
static int read_group(const char *path, const input_options *opt, const char *group, size_t g, table *t,
                      size_t *rows_cap, size_t *cells_cap, char *err, size_t err_len) {
    input_options o = *opt;
    o.text_cols = group;
    int failure = 0;
    input_reader *r = input_open(path, &o, &failure, err, err_len);
    if (!r) return failure;
    input_record rec;
    size_t n = 0;
    int got;
    while ((got = input_next(r, &rec, err, err_len)) == 1) {
        if (!g) {
            if (GROW(t->id, *rows_cap, n + 1) || GROW(t->cell, *cells_cap, (n + 1) * t->n_groups)) {
                failure = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory for %zu rows", path, n + 1));
                break;
            }
            if ((failure = keep(t, rec.id, strlen(rec.id), &t->id[n], err, err_len))) break;
            t->rows = n + 1;
        } else if (n >= t->rows) {
            failure = FAIL_AS(USEREC_ERR_IO, ERR(err, err_len, "%s: the file changed while it was read (more rows on a "
                                                               "later pass)", path));
            break;
        }
        size_t *cell = &t->cell[n * t->n_groups + g];
        *cell = TABLE_NONE;
        if (!rec.reject && (failure = keep(t, rec.text, rec.text_len, cell, err, err_len))) break;
        n++;
    }
    if (got < 0) failure = input_failure(r);
    input_close(r);
    if (failure) return failure;
    if (n != t->rows)
        return FAIL_AS(USEREC_ERR_IO, ERR(err, err_len, "%s: the file changed while it was read (%zu rows, then %zu)",
                                          path, t->rows, n));
    return 0;
}

int table_read(const char *path, const input_options *opt, const char *const *groups, size_t n_groups, table *t,
               char *err, size_t err_len) {
    *t = (table){.n_groups = n_groups};
    size_t rows_cap = 0, cells_cap = 0;
    for (size_t g = 0; g < n_groups; g++) {
        const int failure = read_group(path, opt, groups[g], g, t, &rows_cap, &cells_cap, err, err_len);
        if (failure) {
            table_free(t);
            return failure;
        }
    }
    return 0;
}

void table_free(table *t) {
    free(t->id);
    free(t->cell);
    free(t->bytes.data);
    *t = (table){0};
}

const char *table_id(const table *t, size_t r) { return (const char *)t->bytes.data + t->id[r]; }

const char *table_value(const table *t, size_t r, size_t g) {
    const size_t at = t->cell[r * t->n_groups + g];
    return at == TABLE_NONE ? NULL : (const char *)t->bytes.data + at;
}

typedef struct {
    const char *key;
    size_t row;
} keyed_row;

static int by_key_then_row(const void *a, const void *b) {
    const keyed_row *x = a, *y = b;
    const int c = strcmp(x->key, y->key);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

int table_rows_of(const table *t, const char *path, const char *const *names, size_t n, size_t *row, char *err,
                  size_t err_len) {
    keyed_row *sorted = malloc((t->rows ? t->rows : 1) * sizeof *sorted);
    if (!sorted) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory for %zu rows", path, t->rows));
    for (size_t r = 0; r < t->rows; r++) sorted[r] = (keyed_row){table_id(t, r), r};
    qsort(sorted, t->rows, sizeof *sorted, by_key_then_row);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t lo = 0, hi = t->rows; /* the first entry whose id is not below names[i] */
        while (lo < hi) {
            const size_t mid = lo + (hi - lo) / 2;
            if (strcmp(sorted[mid].key, names[i]) < 0) lo = mid + 1;
            else hi = mid;
        }
        const int found = lo < t->rows && !strcmp(sorted[lo].key, names[i]);
        row[i] = found ? sorted[lo].row : TABLE_NONE;
        if (found && lo + 1 < t->rows && !strcmp(sorted[lo + 1].key, names[i]))
            rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: the id '%s' is on data rows %zu and %zu: ids must be "
                                                              "unique to match items", path, names[i],
                                                sorted[lo].row + 1, sorted[lo + 1].row + 1));
    }
    free(sorted);
    return rc;
}

int table_number_values(const table *t, size_t g, const size_t *rows, size_t n, int32_t *number, size_t *n_values,
                        char *err, size_t err_len) {
    keyed_row *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu values", n));
    for (size_t i = 0; i < n; i++) {
        const char *v = rows[i] == TABLE_NONE ? NULL : table_value(t, rows[i], g);
        sorted[i] = (keyed_row){v ? v : "", i};
    }
    qsort(sorted, n, sizeof *sorted, by_key_then_row);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(sorted[i].key, sorted[i - 1].key)) distinct++;
        number[sorted[i].row] = (int32_t)distinct;
    }
    *n_values = n ? distinct + 1 : 0;
    free(sorted);
    return 0;
}
