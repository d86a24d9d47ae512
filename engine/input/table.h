/* table.h: a whole table in memory, for what needs several columns of each row side by side (eval's datasets,
 * the catalogue columns of a report or of a related-list filter). It is read with the streaming readers of
 * input.h, one pass per column group, so a group's value is exactly the text `embed --text-col GROUP` embeds
 * (the group's columns joined by single spaces). Memory: the values of every row. */
#ifndef USEREC_TABLE_H
#define USEREC_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/grow.h"
#include "input/input.h"

typedef struct {
    size_t rows, n_groups;
    size_t *id;    /* rows offsets into bytes: the id column's value, or the 0-based data row number */
    size_t *cell;  /* rows x n_groups offsets into bytes, TABLE_NONE where the row has no usable value */
    byte_buf bytes; /* NUL-terminated strings */
} table;

#define TABLE_NONE ((size_t)-1)

/* Reads every data row of path. opt gives the format, delimiter, header and id column (opt->text_cols is
 * ignored); groups[g] is a comma-separated list of columns (CSV/TSV names or numbers, JSON keys). A row's value
 * of a group is TABLE_NONE when the reader rejects the row for that group (a missing column, an empty value, a
 * broken record: the reject reasons of docs/input.md). Returns 0, or the failure's class (common/error.h) with err
 * set. */
int table_read(const char *path, const input_options *opt, const char *const *groups, size_t n_groups, table *t,
               char *err, size_t err_len);
void table_free(table *t);

/* Row r's id, and its value of group g or NULL. */
const char *table_id(const table *t, size_t r);
const char *table_value(const table *t, size_t r, size_t g);

/* For each of the n names, the row whose id equals it, or TABLE_NONE when no row has that id. A name that two
 * rows share is an error naming both rows: the join would be ambiguous. Returns 0, or the failure's class
 * (USEREC_ERR_FORMAT for a shared name, USEREC_ERR_NOMEM) with err set. */
int table_rows_of(const table *t, const char *path, const char *const *names, size_t n, size_t *row, char *err,
                  size_t err_len);

/* Numbers the distinct values of group g among the n rows listed (a row's missing value counts as ""): equal
 * values get equal numbers, from 0 in the values' byte order; *n_values gets how many there are. Returns 0, or
 * USEREC_ERR_NOMEM with err set. */
int table_number_values(const table *t, size_t g, const size_t *rows, size_t n, int32_t *number, size_t *n_values,
                        char *err, size_t err_len);

#endif
