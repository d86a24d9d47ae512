/* lists.c: related lists in CSV or JSON lines (lists.h). */
#include "output/lists.h"

#include <string.h>

#include "common/json_string.h"

void csv_field_write(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

const char *lists_id(const topk_ids *ids, size_t row, char buf[24]) {
    if (ids->line) return ids->line[row];
    snprintf(buf, 24, "%zu", row);
    return buf;
}

void lists_write_header(FILE *f, lists_format format) {
    if (format == LISTS_CSV) fputs("id,rank,neighbor_id,score\n", f);
}

size_t lists_write_one(FILE *f, lists_format format, const char *query_id, size_t k, const int32_t *index,
                       const float *score, const topk_ids *item_ids) {
    size_t found = 0, repaired = 0;
    char buf[24];
    while (found < k && index[found] != USEREC_TOPK_EMPTY) found++;
    if (format == LISTS_CSV) {
        for (size_t r = 0; r < found; r++) {
            csv_field_write(f, query_id);
            fprintf(f, ",%zu,", r + 1);
            csv_field_write(f, lists_id(item_ids, (size_t)index[r], buf));
            fprintf(f, ",%.9g\n", score[r]);
        }
        return 0;
    }
    fputs("{\"id\":", f);
    repaired += (size_t)json_string_write(f, query_id);
    fputs(",\"neighbors\":[", f);
    for (size_t r = 0; r < found; r++) {
        if (r) fputc(',', f);
        repaired += (size_t)json_string_write(f, lists_id(item_ids, (size_t)index[r], buf));
    }
    fputs("],\"scores\":[", f);
    for (size_t r = 0; r < found; r++) fprintf(f, r ? ",%.9g" : "%.9g", score[r]);
    fputs("]}\n", f);
    return repaired;
}

size_t lists_write(FILE *f, lists_format format, size_t first, size_t n_queries, size_t k, size_t stride, const int32_t *index,
                   const float *score, const topk_ids *query_ids, const topk_ids *item_ids) {
    size_t repaired = 0;
    char buf[24];
    lists_write_header(f, format);
    for (size_t q = 0; q < n_queries; q++)
        repaired += lists_write_one(f, format, lists_id(query_ids, first + q, buf), k, index + q * stride, score + q * stride,
                                    item_ids);
    return repaired;
}
