/* catalog.h: what the commands that read a catalogue beside its vectors share (`related` with a group filter,
 * `report`): the catalogue's format from an option or its name, and its rows matched to the vector rows by id. */
#ifndef USEREC_CLI_CATALOG_H
#define USEREC_CLI_CATALOG_H

#include "input/table.h"
#include "topk/topk.h"

/* --catalog-format NAME (lines, csv, tsv or jsonl), or without it the format the path's extension names.
 * Returns 0, or EXIT_USAGE after saying what is wrong. */
int cli_catalog_format(const char *cmd, const char *path, const char *name, input_format *format);

typedef struct {
    table t;
    size_t *row;    /* row[i]: the catalogue row of vector row i, or TABLE_NONE when no row has its id */
    size_t missing; /* vector rows without a catalogue row */
} cli_catalog;

/* Reads the column groups of the catalogue at path (table_read) and matches each of the n_items vector rows to the
 * row whose id is its id: its line of the ids file, or its 0-based row number when ids->line is NULL (which matches
 * a catalogue read without an id column when embed rejected none of its rows). Returns 0, or the failure's class
 * (common/error.h) with err set. */
int cli_catalog_read(const char *path, const input_options *in, const char *const *groups, size_t n_groups,
                     const topk_ids *ids, size_t n_items, cli_catalog *c, char *err, size_t err_len);
void cli_catalog_free(cli_catalog *c);

/* The group number of each of the n_items vector rows: equal values of the catalogue column col, equal numbers
 * (an empty value is a value like any other). Every vector row must have a catalogue row. *groups is malloc'd.
 * Returns 0, or the failure's class with err set. */
int cli_catalog_groups(const char *path, const input_options *in, const char *col, const topk_ids *ids,
                       size_t n_items, int32_t **groups, size_t *n_groups, char *err, size_t err_len);

#endif
