/* lists.h: related lists as `userec related` writes them (docs/topk.md, "Output"), shared by `related` and
 * `update`: CSV (id,rank,neighbor_id,score; RFC 4180 quoting, ids byte for byte) or JSON lines
 * ({"id":…,"neighbors":[…],"scores":[…]}). Scores with 9 significant digits: the exact fp32 value. */
#ifndef USEREC_LISTS_H
#define USEREC_LISTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "topk/topk.h"

typedef enum { LISTS_CSV, LISTS_JSONL } lists_format;

/* Writes one CSV field: a field holding a comma, quote or line break is quoted, its quotes doubled. */
void csv_field_write(FILE *f, const char *s);

/* Row r's id: its line of ids, or its 0-based row number (written into buf) when ids->line is NULL. */
const char *lists_id(const topk_ids *ids, size_t row, char buf[24]);

/* The header line of the format (CSV only). */
void lists_write_header(FILE *f, lists_format format);
/* Query q's list: its first k entries of index/score up to the first USEREC_TOPK_EMPTY. Returns how many ids the
 * JSONL had to write with U+FFFD (invalid UTF-8). */
size_t lists_write_one(FILE *f, lists_format format, const char *query_id, size_t k, const int32_t *index,
                       const float *score, const topk_ids *item_ids);
/* Every query's list: rows of `stride` entries (k <= stride), with the header; query q is row first + q of
 * query_ids (a shard's block of the queries starts at its first row). */
size_t lists_write(FILE *f, lists_format format, size_t first, size_t n_queries, size_t k, size_t stride, const int32_t *index,
                   const float *score, const topk_ids *query_ids, const topk_ids *item_ids);

#endif
