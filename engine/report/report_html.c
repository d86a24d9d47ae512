/* report_html.c: the report page's parts (report_html.h). Only numbers and the fixed strings of this file are
 * written raw; everything else goes through html_text. */
#include <math.h>

#include "report/html.h"
#include "report/report_html.h"

/* Tableau 10: distinct in colour and lightness; the tenth, grey, is REPORT_OTHER. */
static const char *const palette[REPORT_COLOURS + 1] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

#define MAP_W 960
#define MAP_H 600
#define MAP_PAD 24
#define HIST_W 960
#define HIST_H 260
#define HIST_BINS 40
#define HIST_PAD_L 48
#define HIST_PAD_B 28

void report_begin(FILE *f, const char *title, const char *subtitle) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          /* Nothing may be fetched: no script, no font, no image, no frame, whatever a catalogue string holds. */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    html_text(f, title, 0);
    fputs("</title>\n<style>\n"
          "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#222;"
          "margin:24px auto;max-width:1000px;padding:0 16px;background:#fff}\n"
          "h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd}\n"
          ".sub{color:#666;margin:0 0 16px}\n"
          ".warn{background:#fde8e8;border:2px solid #c81e1e;color:#7a0e0e;padding:10px 14px;margin:12px 0;"
          "font-weight:600;border-radius:4px}\n"
          "table{border-collapse:collapse;margin:8px 0 16px;width:100%}\n"
          "caption{text-align:left;font-weight:600;padding:4px 0}\n"
          "th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}\n"
          "th{background:#f3f4f6}tr.mark td{background:#eef6ee}\n"
          "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
          "svg{display:block;border:1px solid #ddd;background:#fcfcfc;max-width:100%;height:auto}\n"
          ".legend span{display:inline-block;margin:2px 12px 2px 0}\n"
          ".sw{display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:4px;vertical-align:-1px}\n"
          "</style></head>\n<body>\n<h1>",
          f);
    html_text(f, title, 0);
    fputs("</h1>\n<p class=\"sub\">", f);
    html_text(f, subtitle, 0);
    fputs("</p>\n", f);
}

void report_end(FILE *f) { fputs("</body></html>\n", f); }

void report_warning(FILE *f, const char *text) {
    fputs("<div class=\"warn\">", f);
    html_text(f, text, 0);
    fputs("</div>\n", f);
}

void report_heading(FILE *f, const char *anchor, const char *text) {
    fputs("<h2 id=\"", f);
    html_text(f, anchor, 0);
    fputs("\">", f);
    html_text(f, text, 0);
    fputs("</h2>\n", f);
}

void report_paragraph(FILE *f, const char *text) {
    fputs("<p>", f);
    html_text(f, text, 0);
    fputs("</p>\n", f);
}

void report_table_begin(FILE *f, const char *caption, const char *const *headers, size_t n) {
    fputs("<table>", f);
    if (caption) {
        fputs("<caption>", f);
        html_text(f, caption, 0);
        fputs("</caption>", f);
    }
    fputs("<tr>", f);
    for (size_t i = 0; i < n; i++) {
        fputs("<th>", f);
        html_text(f, headers[i], 0);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
}

/* A cell that reads as a number is right-aligned. */
static int numeric(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '%' || *s == ' ' || *s == '+'))
            return 0;
    return 1;
}

void report_table_row(FILE *f, const char *const *cells, size_t n, size_t max_chars, int marked) {
    fputs(marked ? "<tr class=\"mark\">" : "<tr>", f);
    for (size_t i = 0; i < n; i++) {
        fputs(numeric(cells[i]) ? "<td class=\"num\">" : "<td>", f);
        html_text(f, cells[i], max_chars);
        fputs("</td>", f);
    }
    fputs("</tr>\n", f);
}

void report_table_end(FILE *f) { fputs("</table>\n", f); }

void report_map(FILE *f, const report_point *points, size_t n, const char *x_label, const char *y_label,
                const char *const *legend, const size_t *counts, size_t n_legend) {
    double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
    for (size_t i = 0; i < n; i++) {
        const report_point *p = &points[i];
        if (!i || p->x < x0) x0 = p->x;
        if (!i || p->x > x1) x1 = p->x;
        if (!i || p->y < y0) y0 = p->y;
        if (!i || p->y > y1) y1 = p->y;
    }
    const double wx = x1 > x0 ? x1 - x0 : 1, wy = y1 > y0 ? y1 - y0 : 1;
    const double sx = (MAP_W - 2 * MAP_PAD) / wx, sy = (MAP_H - 2 * MAP_PAD) / wy, s = sx < sy ? sx : sy;
    const double ox = (MAP_W - s * wx) / 2, oy = (MAP_H - s * wy) / 2; /* centre the cloud */
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "role=\"img\" aria-label=\"map of the items\">\n",
            MAP_W, MAP_H, MAP_W, MAP_H);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#555\">", MAP_PAD, MAP_H - 6);
    html_text(f, x_label, 0);
    fprintf(f, " &#8594;</text><text x=\"14\" y=\"%d\" font-size=\"12\" fill=\"#555\" transform=\"rotate(-90 14 %d)\">",
            MAP_H - MAP_PAD, MAP_H - MAP_PAD);
    html_text(f, y_label, 0);
    fputs(" &#8594;</text>\n", f);
    /* grey first, so the coloured categories are drawn on top */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            const report_point *p = &points[i];
            if ((p->colour == REPORT_OTHER) != (pass == 0)) continue;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\" fill-opacity=\"0.8\"><title>",
                    ox + (p->x - x0) * s, MAP_H - (oy + (p->y - y0) * s), palette[p->colour]);
            html_text(f, p->label, 300);
            fputs("</title></circle>\n", f);
        }
    fputs("</svg>\n<p class=\"legend\">", f);
    for (size_t c = 0; c < n_legend; c++) {
        const size_t colour = c == n_legend - 1 && n_legend > REPORT_COLOURS ? REPORT_OTHER : c;
        fprintf(f, "<span><span class=\"sw\" style=\"background:%s\"></span>", palette[colour]);
        html_text(f, legend[c], 60);
        fprintf(f, " (%zu)</span>", counts[c]);
    }
    fputs("</p>\n", f);
}

static void histogram_bars(FILE *f, const float *v, size_t n, double lo, double width, const size_t *top,
                           int series, const char *colour) {
    size_t bins[HIST_BINS] = {0};
    for (size_t i = 0; i < n; i++) {
        long b = (long)((v[i] - lo) / width * HIST_BINS);
        bins[b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b]++;
    }
    const double bw = (double)(HIST_W - HIST_PAD_L - 8) / HIST_BINS, h = HIST_H - HIST_PAD_B - 10;
    for (int b = 0; b < HIST_BINS; b++) {
        if (!bins[b]) continue;
        const double bar = h * (double)bins[b] / (double)*top;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%.4f to %.4f: %zu</title>"
                   "</rect>\n",
                HIST_PAD_L + b * bw + series * bw / 2, 10 + h - bar, bw / 2 - 0.5, bar, colour,
                lo + width * b / HIST_BINS, lo + width * (b + 1) / HIST_BINS, bins[b]);
    }
}

static size_t tallest_bin(const float *v, size_t n, double lo, double width) {
    size_t bins[HIST_BINS] = {0}, top = 1;
    for (size_t i = 0; i < n; i++) {
        long b = (long)((v[i] - lo) / width * HIST_BINS);
        b = b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b;
        if (++bins[b] > top) top = bins[b];
    }
    return top;
}

void report_histogram(FILE *f, const float *a, size_t n_a, const char *a_label, const float *b, size_t n_b,
                      const char *b_label) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n_a; i++) lo = fmin(lo, a[i]), hi = fmax(hi, a[i]);
    for (size_t i = 0; i < n_b; i++) lo = fmin(lo, b[i]), hi = fmax(hi, b[i]);
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (hi - lo < 1e-3) lo -= 5e-4, hi += 5e-4;
    const double width = (hi - lo) * (1 + 1e-9);
    const size_t top_a = tallest_bin(a, n_a, lo, width), top_b = tallest_bin(b, n_b, lo, width);
    const size_t top = top_a > top_b ? top_a : top_b;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
               "aria-label=\"score histogram\">\n",
            HIST_W, HIST_H, HIST_W, HIST_H);
    histogram_bars(f, a, n_a, lo, width, &top, 0, palette[0]);
    histogram_bars(f, b, n_b, lo, width, &top, 1, palette[1]);
    const int base = HIST_H - HIST_PAD_B;
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>\n", HIST_PAD_L, base, HIST_W - 8, base);
    for (int t = 0; t <= 4; t++)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" fill=\"#555\" text-anchor=\"middle\">%.3f</text>\n",
                HIST_PAD_L + (HIST_W - HIST_PAD_L - 8) * t / 4.0, base + 16, lo + (hi - lo) * t / 4);
    fprintf(f, "<text x=\"4\" y=\"18\" font-size=\"11\" fill=\"#555\">%zu</text>\n", top);
    fprintf(f, "<rect x=\"%d\" y=\"12\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"21\" font-size=\"12\">",
            HIST_W - 260, palette[0], HIST_W - 245);
    html_text(f, a_label, 40);
    fprintf(f, "</text><rect x=\"%d\" y=\"30\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"39\" "
               "font-size=\"12\">",
            HIST_W - 260, palette[1], HIST_W - 245);
    html_text(f, b_label, 40);
    fputs("</text>\n</svg>\n", f);
}
