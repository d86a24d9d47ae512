/* datasets.c: reading eval's labelled data (datasets.h). */
#include <stdlib.h>

#include "common/utf8.h"
#include "common/error.h"
#include "common/util.h"
#include "eval/datasets.h"

typedef struct {
    size_t a, b;
} row_pair;

static int by_pair(const void *x, const void *y) {
    const row_pair *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return (p->b > q->b) - (p->b < q->b);
}

/* Sorts pairs and drops repeats; returns the new count. */
static size_t sort_unique(row_pair *p, size_t n) {
    qsort(p, n, sizeof *p, by_pair);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (!u || p[i].a != p[u - 1].a || p[i].b != p[u - 1].b) p[u++] = p[i];
    return u;
}

/* The values of group g of every row of t, as names to look up ("" where a row has none). */
static const char **values_of(const table *t, size_t g) {
    const char **v = malloc((t->rows ? t->rows : 1) * sizeof *v);
    for (size_t r = 0; v && r < t->rows; r++) {
        v[r] = table_value(t, r, g);
        if (!v[r]) v[r] = "";
    }
    return v;
}

/* rows[i]: the row of t whose id is group g's value in row i of from (TABLE_NONE when none). */
static int join(const table *from, size_t g, const table *t, const char *t_path, size_t **rows, char *err,
                size_t err_len) {
    const char **names = values_of(from, g);
    *rows = malloc((from->rows ? from->rows : 1) * sizeof **rows);
    int rc = !names || !*rows ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu rows", from->rows))
                              : table_rows_of(t, t_path, names, from->rows, *rows, err, err_len);
    free(names);
    return rc;
}

int eval_load_matching(const char *left_path, const char *left_text, const char *right_path, const char *right_text,
                       const char *mapping_path, const char *map_left, const char *map_right, eval_matching *m,
                       char *err, size_t err_len) {
    *m = (eval_matching){0};
    table map = {0};
    size_t *left_rows = NULL, *right_rows = NULL;
    row_pair *pairs = NULL;
    const input_options sides = {.format = INPUT_CSV, .id_col = "id"}, map_in = {.format = INPUT_CSV};
    const char *map_groups[] = {map_left, map_right};
    int rc = table_read(left_path, &sides, &left_text, 1, &m->left, err, err_len);
    if (!rc) rc = table_read(right_path, &sides, &right_text, 1, &m->right, err, err_len);
    if (!rc) rc = table_read(mapping_path, &map_in, map_groups, 2, &map, err, err_len);
    if (!rc) rc = join(&map, 0, &m->left, left_path, &left_rows, err, err_len);
    if (!rc) rc = join(&map, 1, &m->right, right_path, &right_rows, err, err_len);
    if (!rc && !(pairs = malloc((map.rows ? map.rows : 1) * sizeof *pairs)))
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu pairs", map.rows));
    size_t n = 0;
    for (size_t i = 0; !rc && i < map.rows; i++) {
        if (left_rows[i] == TABLE_NONE || right_rows[i] == TABLE_NONE) m->mapping_unknown++;
        else pairs[n++] = (row_pair){left_rows[i], right_rows[i]};
    }
    m->mapping_rows = map.rows;
    if (!rc) {
        n = sort_unique(pairs, n);
        m->query_row = malloc((n ? n : 1) * sizeof *m->query_row);
        m->match_start = malloc((n + 1) * sizeof *m->match_start);
        m->match_row = malloc((n ? n : 1) * sizeof *m->match_row);
        if (!m->query_row || !m->match_start || !m->match_row) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu pairs", n));
    }
    for (size_t i = 0; !rc && i < n; i++) {
        if (!i || pairs[i].a != pairs[i - 1].a) {
            m->match_start[m->n_queries] = i;
            m->query_row[m->n_queries++] = pairs[i].a;
        }
        m->match_row[i] = (int32_t)pairs[i].b;
    }
    if (!rc) m->match_start[m->n_queries] = n;
    free(left_rows), free(right_rows), free(pairs);
    table_free(&map);
    if (rc) eval_matching_free(m);
    return rc;
}

void eval_matching_free(eval_matching *m) {
    table_free(&m->left), table_free(&m->right);
    free(m->query_row), free(m->match_start), free(m->match_row);
    *m = (eval_matching){0};
}

int eval_load_sts(const char *path, eval_sts_format format, eval_sts *s, char *err, size_t err_len) {
    *s = (eval_sts){0};
    const input_options in = {.format = INPUT_TSV, .no_header = format == EVAL_STSB};
    static const char *const stsb[] = {"6", "7", "5"}, *const sick[] = {"sentence_A", "sentence_B", "relatedness_score"};
    const int failure = table_read(path, &in, format == EVAL_STSB ? stsb : sick, 3, &s->t, err, err_len);
    if (failure) return failure;
    s->row = malloc((s->t.rows ? s->t.rows : 1) * sizeof *s->row);
    s->gold = malloc((s->t.rows ? s->t.rows : 1) * sizeof *s->gold);
    if (!s->row || !s->gold) {
        eval_sts_free(s);
        return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory for %zu pairs", path, s->t.rows));
    }
    for (size_t r = 0; r < s->t.rows; r++) {
        const char *a = table_value(&s->t, r, 0), *b = table_value(&s->t, r, 1), *g = table_value(&s->t, r, 2);
        char *end = NULL;
        const double gold = g ? strtod(g, &end) : 0;
        if (!a || !b || !g || end == g || *end) {
            s->skipped++;
            continue;
        }
        s->row[s->n] = r;
        s->gold[s->n++] = gold;
    }
    return 0;
}

void eval_sts_free(eval_sts *s) {
    table_free(&s->t);
    free(s->row), free(s->gold);
    *s = (eval_sts){0};
}

int eval_load_movies(const char *ratings_path, const char *links_path, const char *tmdb_path, double like_threshold,
                     eval_movies *mv, char *err, size_t err_len) {
    *mv = (eval_movies){0};
    table links = {0}, ratings = {0};
    size_t *tmdb_of_link = NULL, *link_of_rating = NULL, n_user_ids = 0;
    int32_t *item_of_tmdb = NULL, *user = NULL;
    row_pair *likes = NULL;
    const input_options links_in = {.format = INPUT_CSV, .id_col = "movieId"}, tmdb_in = {.format = INPUT_CSV, .id_col = "id"};
    const input_options ratings_in = {.format = INPUT_CSV};
    const char *link_groups[] = {"tmdbId"}, *tmdb_groups[] = {"overview"}, *rating_groups[] = {"userId", "movieId", "rating"};
    int rc = table_read(links_path, &links_in, link_groups, 1, &links, err, err_len);
    if (!rc) rc = table_read(tmdb_path, &tmdb_in, tmdb_groups, 1, &mv->tmdb, err, err_len);
    if (!rc) rc = table_read(ratings_path, &ratings_in, rating_groups, 3, &ratings, err, err_len);
    if (!rc) rc = join(&links, 0, &mv->tmdb, tmdb_path, &tmdb_of_link, err, err_len);
    /* links.csv's movieId is its id: look the ratings' movieIds up there */
    if (!rc) {
        const char **names = values_of(&ratings, 1);
        link_of_rating = malloc((ratings.rows ? ratings.rows : 1) * sizeof *link_of_rating);
        rc = !names || !link_of_rating ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu ratings", ratings.rows))
                                       : table_rows_of(&links, links_path, names, ratings.rows, link_of_rating, err, err_len);
        free(names);
    }
    const size_t n_tmdb = mv->tmdb.rows, n_ratings = ratings.rows;
    if (!rc) {
        item_of_tmdb = malloc((n_tmdb ? n_tmdb : 1) * sizeof *item_of_tmdb);
        mv->item_row = malloc((n_tmdb ? n_tmdb : 1) * sizeof *mv->item_row);
        user = malloc((n_ratings ? n_ratings : 1) * sizeof *user);
        likes = malloc((n_ratings ? n_ratings : 1) * sizeof *likes);
        if (!item_of_tmdb || !mv->item_row || !user || !likes)
            rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu ratings", n_ratings));
    }
    if (rc) goto done;
    /* the items: linked TMDB rows with an overview, in file order */
    for (size_t t = 0; t < n_tmdb; t++) item_of_tmdb[t] = -1;
    for (size_t l = 0; l < links.rows; l++)
        if (tmdb_of_link[l] != TABLE_NONE && table_value(&mv->tmdb, tmdb_of_link[l], 0)) item_of_tmdb[tmdb_of_link[l]] = 0;
    for (size_t t = 0; t < n_tmdb; t++)
        if (!item_of_tmdb[t]) mv->item_row[mv->n_items] = t, item_of_tmdb[t] = (int32_t)mv->n_items++;
    size_t *all = malloc((n_ratings ? n_ratings : 1) * sizeof *all);
    if (!all) {
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu ratings", n_ratings));
        goto done;
    }
    for (size_t r = 0; r < n_ratings; r++) all[r] = r;
    rc = table_number_values(&ratings, 0, all, n_ratings, user, &n_user_ids, err, err_len);
    free(all);
    if (rc) goto done;
    size_t n_likes = 0;
    mv->ratings = n_ratings;
    for (size_t r = 0; r < n_ratings; r++) {
        const size_t l = link_of_rating[r];
        const int32_t item = l == TABLE_NONE || tmdb_of_link[l] == TABLE_NONE ? -1 : item_of_tmdb[tmdb_of_link[l]];
        if (item < 0) continue;
        mv->ratings_linked++;
        const char *rating = table_value(&ratings, r, 2);
        char *end = NULL;
        const double value = rating ? strtod(rating, &end) : 0;
        if (rating && end != rating && !*end && value >= like_threshold) likes[n_likes++] = (row_pair){(size_t)user[r], (size_t)item};
    }
    n_likes = sort_unique(likes, n_likes);
    mv->like_start = malloc((n_likes + 1) * sizeof *mv->like_start);
    mv->liked = malloc((n_likes ? n_likes : 1) * sizeof *mv->liked);
    if (!mv->like_start || !mv->liked) {
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu likes", n_likes));
        goto done;
    }
    for (size_t i = 0; i < n_likes; i++) {
        if (!i || likes[i].a != likes[i - 1].a) mv->like_start[mv->n_users++] = i;
        mv->liked[i] = (int32_t)likes[i].b;
    }
    mv->like_start[mv->n_users] = n_likes;
done:
    table_free(&links), table_free(&ratings);
    free(tmdb_of_link), free(link_of_rating), free(item_of_tmdb), free(user), free(likes);
    if (rc) eval_movies_free(mv);
    return rc;
}

void eval_movies_free(eval_movies *mv) {
    table_free(&mv->tmdb);
    free(mv->item_row), free(mv->like_start), free(mv->liked);
    *mv = (eval_movies){0};
}

int eval_utf8_text(const char *s, byte_buf *out, char *err, size_t err_len) {
    const size_t n = strlen(s);
    out->len = 0;
    if (utf8_valid((const uint8_t *)s, n)) return byte_buf_append(out, s, n + 1, err, err_len);
    for (size_t i = 0; i < n; i++) {
        const uint8_t c = (uint8_t)s[i];
        const uint8_t two[2] = {(uint8_t)(0xC0 | c >> 6), (uint8_t)(0x80 | (c & 0x3F))};
        if (c < 0x80 ? byte_buf_append(out, &c, 1, err, err_len) : byte_buf_append(out, two, 2, err, err_len)) return -1;
    }
    return byte_buf_append(out, "", 1, err, err_len);
}
