/* test_report.c: the report's and eval's building blocks where the CLI tests (tests/test_report.py,
 * tests/test_eval.py) cannot look closely: HTML escaping byte by byte, the whole-table reader and its id join,
 * near-duplicate groups on planted duplicates, the rank correlations on cases worked out by hand, and the
 * top-k group filter's argument checks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "eval/metrics.h"
#include "input/table.h"
#include "report/html.h"
#include "report/near_dups.h"

/* html_text's output for s, in a static buffer. */
static const char *escaped(const char *s, size_t max_chars) {
    static char out[512];
    FILE *f = fmemopen(out, sizeof out, "w");
    html_text(f, s, max_chars);
    fclose(f);
    return out;
}

static void test_html_escaping(void) {
    CHECK(!strcmp(escaped("<a href=\"x\">'&'</a>", 0), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"),
          "html: markup characters become entities", "got '%s'", escaped("<a href=\"x\">'&'</a>", 0));
    CHECK(!strcmp(escaped("a\tb\nc\rd\x01" "e\x7f", 0), "a b c d e "), "html: control characters become spaces",
          "got '%s'", escaped("a\tb\nc\rd\x01" "e\x7f", 0));
    CHECK(!strcmp(escaped("caf\xc3\xa9 \xe2\x82\xac", 0), "caf\xc3\xa9 \xe2\x82\xac"), "html: valid UTF-8 stays",
          "got '%s'", escaped("caf\xc3\xa9", 0));
    CHECK(!strcmp(escaped("x\xff\xc3(y\xed\xa0\x80", 0), "x\xef\xbf\xbd\xef\xbf\xbd(y\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"),
          "html: each byte of invalid UTF-8 (a lone byte, a cut sequence, a surrogate) becomes U+FFFD", "got '%s'",
          escaped("x\xff\xc3(y\xed\xa0\x80", 0));
    CHECK(!strcmp(escaped("\xc3\xa9t\xc3\xa9<>", 3), "\xc3\xa9t\xc3\xa9\xe2\x80\xa6"),
          "html: max_chars counts characters, not bytes, and never cuts one", "got '%s'", escaped("\xc3\xa9t\xc3\xa9<>", 3));
    CHECK(!strcmp(escaped("<b>", 3), "&lt;b&gt;"), "html: a text of exactly max_chars gets no ellipsis", "got '%s'",
          escaped("<b>", 3));
}

static void test_table_read_and_join(void) {
    char path[] = "/tmp/userec-table-XXXXXX";
    const int fd = mkstemp(path);
    const char csv[] = "id,name,cat,note\n"
                       "a,\"Red, big\",x,1\n"
                       "b,,y,2\n"        /* empty name: no value for that group */
                       "c,Blue,x\n"      /* a short row: no note */
                       "\"d\",Green,,4\n" /* empty category */
                       "a2,Red,x,5\n";
    if (fd < 0 || write(fd, csv, sizeof csv - 1) != (ssize_t)(sizeof csv - 1)) {
        CHECK(0, "table: temporary file", "cannot write %s", path);
        return;
    }
    close(fd);
    const input_options in = {.format = INPUT_CSV, .id_col = "id"};
    const char *groups[] = {"name", "cat,note"};
    table t;
    char err[256];
    const int rc = table_read(path, &in, groups, 2, &t, err, sizeof err);
    CHECK(!rc && t.rows == 5, "table: every data row is a row", "rc %d, %zu rows: %s", rc, t.rows, err);
    if (rc) return;
    CHECK(!strcmp(table_value(&t, 0, 0), "Red, big") && !strcmp(table_value(&t, 0, 1), "x 1") &&
              !table_value(&t, 1, 0) && !strcmp(table_value(&t, 1, 1), "y 2") && !table_value(&t, 2, 1) &&
              !strcmp(table_value(&t, 3, 1), " 4") && !strcmp(table_id(&t, 3), "d"),
          "table: a group is its columns joined by one space; an empty or missing field leaves the value out",
          "row 0 '%s' '%s'; row 3 group 1 '%s'", table_value(&t, 0, 0), table_value(&t, 0, 1), table_value(&t, 3, 1));
    const char *names[] = {"c", "zz", "a", "d"};
    size_t row[4];
    CHECK(!table_rows_of(&t, path, names, 4, row, err, sizeof err) && row[0] == 2 && row[1] == TABLE_NONE &&
              row[2] == 0 && row[3] == 3,
          "table: ids join to rows; an unknown id is TABLE_NONE", "%zu %zu %zu %zu (%s)", row[0], row[1], row[2], row[3],
          err);
    size_t all[5] = {0, 1, 2, 3, 4}, n_values = 0;
    int32_t number[5];
    /* group 1's values: "x 1", "y 2", none, " 4", "x 5"; in byte order "" < " 4" < "x 1" < "x 5" < "y 2" */
    CHECK(!table_number_values(&t, 1, all, 5, number, &n_values, err, sizeof err) && n_values == 5 && number[0] == 2 &&
              number[1] == 4 && number[2] == 0 && number[3] == 1 && number[4] == 3,
          "table: distinct values numbered in byte order, a missing value counting as the empty one",
          "%zu values: %d %d %d %d %d", n_values, number[0], number[1], number[2], number[3], number[4]);
    table_free(&t);
    FILE *f = fopen(path, "a");
    fputs("a,again,z,6\n", f);
    fclose(f);
    const char *name_a[] = {"a"};
    CHECK(!table_read(path, &in, groups, 1, &t, err, sizeof err) &&
              table_rows_of(&t, path, name_a, 1, row, err, sizeof err) && strstr(err, "'a' is on data rows 1 and 6"),
          "table: an id on two rows cannot be joined, and the error names both", "%s", err);
    table_free(&t);
    unlink(path);
}

static void test_near_duplicates(void) {
    enum { N = 9, D = 4 };
    /* rows 1, 4, 7 identical; 2 and 8 nearly (cosine 0.99995); the rest apart */
    float x[N][D] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}, {0, 1, 0, 0},
                     {0.6f, 0.8f, 0, 0}, {0, 0, 0.6f, 0.8f}, {0, 1, 0, 0}, {0, 0, 0.99995f, 0.0099998f}};
    for (int i = 0; i < N; i++) {
        float s = 0;
        for (int d = 0; d < D; d++) s += x[i][d] * x[i][d];
        for (int d = 0; d < D; d++) x[i][d] /= sqrtf(s);
    }
    near_dups g;
    userec_error e;
    const userec_status st = near_dups_find(&x[0][0], N, D, 0.999f, 10, &g, &e);
    CHECK(!st && g.n_groups == 2 && g.n_items == 5 && g.start[1] == 3 && g.member[0] == 1 && g.member[1] == 4 &&
              g.member[2] == 7 && g.member[3] == 2 && g.member[4] == 8,
          "near duplicates: groups by size, members ascending, nothing below the threshold",
          "status %d, %zu groups, %zu items", (int)st, g.n_groups, g.n_items);
    near_dups_free(&g);
}

static void test_correlations(void) {
    /* Spearman by hand: ranks 1..4 against 1,3,2,4: d^2 sums to 2, rho = 1 - 6*2 / (4*15) = 0.8 */
    const double x[] = {10, 20, 30, 40}, y[] = {1, 3, 2, 4};
    CHECK(fabs(eval_spearman(x, y, 4) - 0.8) < 1e-12, "spearman: a worked example", "%.15g", eval_spearman(x, y, 4));
    /* ties share their average rank: y = 1,2,2,3 has ranks 1, 2.5, 2.5, 4, which is linear in x's, so rho = 0.9486...
     * = Pearson of (1,2,3,4) and (1,2.5,2.5,4) = 4.5 / sqrt(5 * 4.5) */
    const double t[] = {1, 2, 2, 3};
    CHECK(fabs(eval_spearman(x, t, 4) - 4.5 / sqrt(5 * 4.5)) < 1e-12, "spearman: ties get their average rank", "%.15g",
          eval_spearman(x, t, 4));
    const double c[] = {2, 2, 2, 2};
    CHECK(eval_pearson(x, c, 4) == 0, "pearson: a constant side gives 0, not NaN", "%g", eval_pearson(x, c, 4));
}

static void test_hit_rates(void) {
    /* 4 items; user 0 liked 0, 1; user 1 liked 2 (one like: not counted); user 2 liked 1, 2, 3 */
    const size_t start[] = {0, 2, 3, 6};
    const int32_t liked[] = {0, 1, 2, 1, 2, 3};
    const int32_t lists[] = {1, 2, /* item 0 */ 3, USEREC_TOPK_EMPTY, /* item 1 */ 0, 1, /* item 2 */ 0, 2 /* item 3 */};
    size_t pairs;
    /* pairs: (0,0) hit via 1; (0,1) list 3: miss; (2,1) list 3: hit; (2,2) list 0,1: hit via 1; (2,3) list 0,2: hit */
    const double h = eval_hit_rate(lists, 2, start, liked, 3, &pairs);
    CHECK(pairs == 5 && fabs(h - 0.8) < 1e-12, "hit rate: a worked example", "%zu pairs, %g", pairs, h);
    const size_t popularity[] = {1, 2, 2, 1};
    int32_t pop[8];
    CHECK(!eval_popularity_lists(popularity, 4, 2, pop) && pop[0] == 1 && pop[1] == 2 && pop[2] == 2 && pop[3] == 0 &&
              pop[4] == 1 && pop[5] == 0,
          "popularity lists: most liked first, ties by lower index, the item itself left out", "%d %d | %d %d | %d %d",
          pop[0], pop[1], pop[2], pop[3], pop[4], pop[5]);
    /* a user with L = 2 likes among n = 4 items, k = 2: P(no hit) = C(2,2)/C(3,2) = 1/3 */
    const size_t one_user[] = {0, 2};
    CHECK(fabs(eval_random_hit_rate(one_user, 1, 4, 2) - 2.0 / 3) < 1e-12, "random hit rate: the exact expectation",
          "%g", eval_random_hit_rate(one_user, 1, 4, 2));
}

static void test_group_filter_arguments(void) {
    const float v[4] = {1, 0, 0, 1};
    int32_t index[2];
    float score[2];
    userec_error e;
    userec_topk_options opt = {.k = 1, .group_rule = USEREC_GROUPS_SAME};
    CHECK(userec_topk_search(v, 2, v, 2, 2, &opt, index, score, &e) == USEREC_ERR_INPUT,
          "top-k: a group rule without groups is refused", "%s", e.message);
    const int32_t groups[2] = {0, 0};
    opt = (userec_topk_options){.k = 1, .device = USEREC_DEVICE_CUDA, .use_min_score = 1, .min_score = 0.5f};
    CHECK(userec_topk_search(v, 2, v, 2, 2, &opt, index, score, &e) == USEREC_ERR_INPUT && strstr(e.message, "CPU only"),
          "top-k: filters on device cuda are refused, not ignored", "%s", e.message);
    opt = (userec_topk_options){.k = 1, .exclude_self = 1, .device = USEREC_DEVICE_AUTO, .group_rule = USEREC_GROUPS_OTHER,
                                .item_group = groups, .query_group = groups};
    CHECK(!userec_topk_search(v, 2, v, 2, 2, &opt, index, score, &e) && index[0] == USEREC_TOPK_EMPTY &&
              index[1] == USEREC_TOPK_EMPTY,
          "top-k: auto runs filters on the CPU; nothing of another group leaves the lists empty", "%d %d", index[0],
          index[1]);
}

int main(void) {
    test_html_escaping();
    test_table_read_and_join();
    test_near_duplicates();
    test_correlations();
    test_hit_rates();
    test_group_filter_arguments();
    CHECK_DONE();
}
