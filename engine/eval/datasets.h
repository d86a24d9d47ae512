/* datasets.h: the labelled data `userec eval` reads (docs/evaluation.md), each in its original distribution's
 * layout: product matching pairs (the Leipzig Abt-Buy and Amazon-Google sets), graded sentence similarity (STS
 * Benchmark, SICK), and MovieLens ratings joined to TMDB overviews. Read with the input readers (table.h). */
#ifndef USEREC_EVAL_DATASETS_H
#define USEREC_EVAL_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include "common/grow.h"
#include "input/table.h"

/* Two shops' offers and the true matches between them. Each side's text is one column (the offer's name). */
typedef struct {
    table left, right;     /* group 0: the text; ids from the id column */
    size_t n_queries;      /* left rows with at least one true match among the right rows */
    size_t *query_row;     /* [n_queries] their left rows, ascending */
    size_t *match_start;   /* [n_queries + 1] */
    int32_t *match_row;    /* the right rows of query q's matches: match_row[match_start[q] .. match_start[q+1]),
                              ascending */
    size_t mapping_rows;   /* rows of the mapping file */
    size_t mapping_unknown; /* of them, naming an id that is in neither file (left out) */
} eval_matching;

/* left_path/right_path: CSV with an id column and text column named *_text; mapping_path: CSV whose columns
 * map_left, map_right hold a left id and a right id per row. */
int eval_load_matching(const char *left_path, const char *left_text, const char *right_path, const char *right_text,
                       const char *mapping_path, const char *map_left, const char *map_right, eval_matching *m,
                       char *err, size_t err_len);
void eval_matching_free(eval_matching *m);

/* Sentence pairs with a gold similarity. */
typedef enum { EVAL_STSB, EVAL_SICK } eval_sts_format;
typedef struct {
    table t;         /* groups: sentence 1, sentence 2, gold score */
    size_t n;        /* pairs kept */
    size_t *row;     /* [n] their table rows */
    double *gold;    /* [n] */
    size_t skipped;  /* rows without two sentences and a numeric score */
} eval_sts;

/* STSB: tab-separated, no header, score in column 5 and the sentences in 6 and 7 (read without quoting, as the
 * benchmark's readme says). SICK: tab-separated with a header: sentence_A, sentence_B, relatedness_score. */
int eval_load_sts(const char *path, eval_sts_format format, eval_sts *s, char *err, size_t err_len);
void eval_sts_free(eval_sts *s);

/* MovieLens ratings joined to TMDB overviews. The items are the TMDB movies that links.csv names and that have an
 * overview; a user likes an item when they rated it at least like_threshold. */
typedef struct {
    table tmdb;              /* group 0: the overview; ids from "id" */
    size_t n_items;
    size_t *item_row;        /* [n_items] TMDB rows, ascending */
    size_t n_users;          /* users with at least one like */
    size_t *like_start;      /* [n_users + 1] */
    int32_t *liked;          /* items each user liked, ascending */
    size_t ratings, ratings_linked; /* rows of ratings.csv; of them, of an item */
} eval_movies;

int eval_load_movies(const char *ratings_path, const char *links_path, const char *tmdb_path, double like_threshold,
                     eval_movies *mv, char *err, size_t err_len);
void eval_movies_free(eval_movies *mv);

/* The text to encode: s as it is when it is valid UTF-8, else read as Latin-1 (the Leipzig files are) and
 * converted, into *out (NUL-terminated). Returns 0, or -1 when out of memory. */
int eval_utf8_text(const char *s, byte_buf *out, char *err, size_t err_len);

#endif
