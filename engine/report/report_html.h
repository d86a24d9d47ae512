/* report_html.h: the parts of `userec report`'s page, written one after another to a FILE: one self-contained
 * HTML file (inline CSS and SVG, no script, no external resource; a Content-Security-Policy forbids loading any)
 * that opens offline in any browser. Every string argument may come from a catalogue and is escaped (html.h). */
#ifndef USEREC_REPORT_HTML_H
#define USEREC_REPORT_HTML_H

#include <stddef.h>
#include <stdio.h>

/* The categories the map colours; points of other categories share the grey of REPORT_OTHER. */
#define REPORT_COLOURS 9
#define REPORT_OTHER REPORT_COLOURS

void report_begin(FILE *f, const char *title, const char *subtitle);
void report_end(FILE *f);
void report_warning(FILE *f, const char *text); /* a red box */
void report_heading(FILE *f, const char *anchor, const char *text);
void report_paragraph(FILE *f, const char *text);

/* A table: headers, then rows of n cells each; a marked row is highlighted. Cells are cut at max_chars (0: no
 * limit) characters. */
void report_table_begin(FILE *f, const char *caption, const char *const *headers, size_t n);
void report_table_row(FILE *f, const char *const *cells, size_t n, size_t max_chars, int marked);
void report_table_end(FILE *f);

/* The 2-D map: one dot per point at (x, y) in the colour of its category (0 .. REPORT_COLOURS - 1, or
 * REPORT_OTHER); hovering a dot shows its label. The axes keep their proportions (a unit is as long on both).
 * legend[c] names colour c (n_legend entries, REPORT_OTHER's last when present) and counts[c] its points. */
typedef struct {
    double x, y;
    int colour;
    const char *label;
} report_point;
void report_map(FILE *f, const report_point *points, size_t n, const char *x_label, const char *y_label,
                const char *const *legend, const size_t *counts, size_t n_legend);

/* Two score distributions as one histogram (bars side by side, a shared axis). */
void report_histogram(FILE *f, const float *a, size_t n_a, const char *a_label, const float *b, size_t n_b,
                      const char *b_label);

#endif
