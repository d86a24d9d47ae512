/* catalog.c: a catalogue matched to its vectors (catalog.h). */
#include <stdio.h>
#include <stdlib.h>

#include "catalog.h"
#include "cli.h"
#include "common/error.h"
#include "common/util.h"

int cli_catalog_format(const char *cmd, const char *path, const char *name, input_format *format) {
    if (name) {
        if (input_format_parse(name, format) || *format == INPUT_IDS)
            return cli_fail(cmd, "--catalog-format is lines, csv, tsv or jsonl, not '%s'", name);
    } else if (input_guess_format(path, format) || *format == INPUT_IDS) {
        return cli_fail(cmd, "%s: cannot tell the catalogue's format from its name; pass --catalog-format", path);
    }
    return 0;
}

int cli_catalog_read(const char *path, const input_options *in, const char *const *groups, size_t n_groups,
                     const topk_ids *ids, size_t n_items, cli_catalog *c, char *err, size_t err_len) {
    *c = (cli_catalog){0};
    const int failure = table_read(path, in, groups, n_groups, &c->t, err, err_len);
    if (failure) return failure;
    const char **names = malloc((n_items ? n_items : 1) * sizeof *names);
    char *numbers = ids->line ? NULL : malloc((n_items ? n_items : 1) * 24);
    c->row = malloc((n_items ? n_items : 1) * sizeof *c->row);
    int rc = !names || !c->row || (!ids->line && !numbers) ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu items", n_items)) : 0;
    for (size_t i = 0; !rc && i < n_items; i++) {
        if (ids->line) {
            names[i] = ids->line[i];
        } else {
            snprintf(numbers + 24 * i, 24, "%zu", i);
            names[i] = numbers + 24 * i;
        }
    }
    if (!rc) rc = table_rows_of(&c->t, path, names, n_items, c->row, err, err_len);
    for (size_t i = 0; !rc && i < n_items; i++) c->missing += c->row[i] == TABLE_NONE;
    free(names);
    free(numbers);
    if (rc) cli_catalog_free(c);
    return rc;
}

void cli_catalog_free(cli_catalog *c) {
    table_free(&c->t);
    free(c->row);
    *c = (cli_catalog){0};
}

int cli_catalog_groups(const char *path, const input_options *in, const char *col, const topk_ids *ids,
                       size_t n_items, int32_t **groups, size_t *n_groups, char *err, size_t err_len) {
    cli_catalog c;
    *groups = NULL;
    int rc = cli_catalog_read(path, in, &col, 1, ids, n_items, &c, err, err_len);
    if (rc) return rc;
    for (size_t i = 0; i < n_items && !rc; i++)
        if (c.row[i] == TABLE_NONE)
            rc = FAIL_AS(USEREC_ERR_FORMAT,
                         ERR(err, err_len, "%s: no row has the id '%s' of vector row %zu (%zu of %zu vector rows are "
                             "missing): the catalogue must be the one the vectors were embedded from, with the same "
                             "--id-col", path, ids->line ? ids->line[i] : "(its row number)", i, c.missing, n_items));
    if (!rc && !(*groups = malloc((n_items ? n_items : 1) * sizeof **groups)))
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu items", n_items));
    if (!rc) rc = table_number_values(&c.t, 0, c.row, n_items, *groups, n_groups, err, err_len);
    if (rc) free(*groups), *groups = NULL;
    cli_catalog_free(&c);
    return rc;
}
