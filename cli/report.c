/* report.c: `userec report`: one self-contained HTML page that shows a catalogue's related items to a person: the
 * run's facts, a 2-D PCA map of the items, the score distributions of the first and k-th neighbours, a sample of
 * items with their related items, and groups of near-duplicate items. The page parts are engine/report/; this
 * file gathers the inputs (catalogue, vectors, related lists, the facts files embed and related wrote). */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "cli.h"
#include "common/error.h"
#include "common/grow.h"
#include "common/util.h"
#include "model/provenance.h"
#include "output/lists.h"
#include "output/publish.h"
#include "output/run_facts.h"
#include "report/near_dups.h"
#include "report/pca.h"
#include "report/report_html.h"

typedef struct {
    const char *catalog, *catalog_format, *category_col, *emb, *ids, *related, *model, *out, *title, *map_csv;
    input_options in;
    size_t map_points, sample, dup_k;
    double dup_above;
    const char **items; /* --item, in argv */
    size_t n_items;
    int threads, quiet;
} report_options;

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec report --catalog FILE --text-col COLS [--id-col COL] [--category-col COL]\n"
            "                     --emb ITEMS.npy [--ids ITEMS.ids] --related REL.csv -o REPORT.html [options]\n"
            "inputs:\n"
            "  --catalog FILE       the catalogue the vectors were embedded from (what `embed --input` read)\n"
            "  --text-col COLS      its text columns, as given to embed (the texts shown)\n"
            "  --id-col COL         its id column, as given to embed (default: the 0-based row number)\n"
            "  --category-col COL   colour the map by this column; the lists mark neighbours of the same value\n"
            "  --catalog-format F   lines|csv|tsv|jsonl (default: from its extension); --delimiter X for csv;\n"
            "  --delimiter X        --no-header for csv/tsv without a header row (columns named 1, 2, ...)\n"
            "  --no-header\n"
            "  --emb ITEMS.npy      the vectors embed wrote; ITEMS.ids and ITEMS.embed.json beside it are read\n"
            "                       when present (the ids and the run's facts)\n"
            "  --ids ITEMS.ids      the vectors' ids, when not beside --emb\n"
            "  --related REL.csv    the lists `related` wrote (CSV); REL.related.json beside it gives their options\n"
            "  --model MODEL.usew   also check the model itself for the test-weights mark\n"
            "output:\n"
            "  -o REPORT.html       the page (written atomically); it opens offline, loads nothing\n"
            "  --title TEXT         the page title (default: from the catalogue's name)\n"
            "  --map-points N       items on the map, a deterministic even sample of the rows (default 2000)\n"
            "  --map-csv FILE       also write the map as CSV: id,x,y,category (PCA coordinates)\n"
            "  --sample N           items shown with their related lists, evenly spread (default 12)\n"
            "  --item ID            show this item's list too (repeatable)\n"
            "  --dup-above S        near-duplicates: items whose vectors score at least S (default 0.98)\n"
            "  --threads N          CPU threads (default: all)\n"
            "  --quiet              no summary line\n");
}

static int parse_options(int argc, char **argv, report_options *opt) {
    enum { O_CATALOG = 256, O_TEXT_COL, O_ID_COL, O_CATEGORY, O_CATALOG_FORMAT, O_DELIM, O_NO_HEADER, O_EMB, O_IDS,
           O_RELATED, O_MODEL, O_TITLE, O_MAP_POINTS, O_MAP_CSV, O_SAMPLE, O_ITEM, O_DUP, O_THREADS };
    static const struct option longopts[] = {
        {"catalog", required_argument, 0, O_CATALOG},         {"text-col", required_argument, 0, O_TEXT_COL},
        {"id-col", required_argument, 0, O_ID_COL},           {"category-col", required_argument, 0, O_CATEGORY},
        {"catalog-format", required_argument, 0, O_CATALOG_FORMAT}, {"delimiter", required_argument, 0, O_DELIM},
        {"no-header", no_argument, 0, O_NO_HEADER},           {"emb", required_argument, 0, O_EMB},
        {"ids", required_argument, 0, O_IDS},                 {"related", required_argument, 0, O_RELATED},
        {"model", required_argument, 0, O_MODEL},             {"output", required_argument, 0, 'o'},
        {"title", required_argument, 0, O_TITLE},             {"map-points", required_argument, 0, O_MAP_POINTS},
        {"map-csv", required_argument, 0, O_MAP_CSV},         {"sample", required_argument, 0, O_SAMPLE},
        {"item", required_argument, 0, O_ITEM},               {"dup-above", required_argument, 0, O_DUP},
        {"threads", required_argument, 0, O_THREADS},         {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},                        {0, 0, 0, 0}};
    *opt = (report_options){.map_points = 2000, .sample = 12, .dup_above = 0.98, .dup_k = 10};
    size_t items_cap = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case O_CATALOG: opt->catalog = optarg; break;
        case O_TEXT_COL: opt->in.text_cols = optarg; break;
        case O_ID_COL: opt->in.id_col = optarg; break;
        case O_CATEGORY: opt->category_col = optarg; break;
        case O_CATALOG_FORMAT: opt->catalog_format = optarg; break;
        case O_DELIM:
            if (strlen(optarg) != 1) return cli_fail("report", "--delimiter wants one character, not '%s'", optarg);
            opt->in.delimiter = optarg[0];
            break;
        case O_NO_HEADER: opt->in.no_header = 1; break;
        case O_EMB: opt->emb = optarg; break;
        case O_IDS: opt->ids = optarg; break;
        case O_RELATED: opt->related = optarg; break;
        case O_MODEL: opt->model = optarg; break;
        case 'o': opt->out = optarg; break;
        case O_TITLE: opt->title = optarg; break;
        case O_MAP_CSV: opt->map_csv = optarg; break;
        case O_MAP_POINTS:
            if (cli_size_option("report", "--map-points", optarg, 1, 100000, &opt->map_points)) return EXIT_USAGE;
            break;
        case O_SAMPLE:
            if (cli_size_option("report", "--sample", optarg, 0, 1000, &opt->sample)) return EXIT_USAGE;
            break;
        case O_ITEM:
            if (GROW(opt->items, items_cap, opt->n_items + 1)) return cli_fail("report", "out of memory");
            opt->items[opt->n_items++] = optarg;
            break;
        case O_DUP:
            if (cli_real_option("report", "--dup-above", optarg, -1, 1, &opt->dup_above)) return EXIT_USAGE;
            break;
        case O_THREADS:
            if (cli_threads_option("report", optarg, &opt->threads)) return EXIT_USAGE;
            break;
        case 'q': opt->quiet = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail("report", "unexpected argument '%s'", argv[optind]);
    if (!opt->catalog || !opt->emb || !opt->related || !opt->out) {
        usage(stderr);
        return cli_fail("report", "--catalog, --emb, --related and -o are required");
    }
    const char *dot = strrchr(opt->related, '.');
    if (dot && !strcmp(dot, ".jsonl"))
        return cli_fail("report", "--related reads the CSV lists of `userec related -o REL.csv`, not JSON lines");
    if (cli_catalog_format("report", opt->catalog, opt->catalog_format, &opt->in.format)) return EXIT_USAGE;
    if (opt->in.format != INPUT_LINES && !opt->in.text_cols)
        return cli_fail("report", "--text-col is required for a %s catalogue", input_format_name(opt->in.format));
    if (opt->in.format == INPUT_LINES && (opt->in.text_cols || opt->in.id_col || opt->category_col))
        return cli_fail("report", "a lines catalogue has no columns: leave out --text-col, --id-col, --category-col");
    return 0;
}

/* ---- what the page is made from ---- */

/* The facts embed and related recorded (run_facts.h), by key. */
static const char *const embed_keys[] = {"model", "test_weights", "tokenizer", "encoder", "precision", "dtype",
                                         "rows_read", "embedded", "rejected", "clipped", "repaired", "tokens",
                                         "seconds", "tokenize_seconds", "encode_seconds", "write_seconds",
                                         "threads", "created", "input", "text_col", "userec"};
enum { E_MODEL, E_TEST, E_TOKENIZER, E_ENCODER, E_PRECISION, E_DTYPE, E_READ, E_EMBEDDED, E_REJECTED, E_CLIPPED,
       E_REPAIRED, E_TOKENS, E_SECONDS, E_TOKENIZE_S, E_ENCODE_S, E_WRITE_S, E_THREADS, E_CREATED, E_INPUT,
       E_TEXT_COL, E_USEREC, N_EMBED_KEYS };
static const char *const related_keys[] = {"k", "include_self", "min_score", "dedupe_above", "only_same", "only_other",
                                           "device", "precision", "query_rows", "items", "seconds", "created"};
enum { R_K, R_SELF, R_MIN, R_DEDUPE, R_SAME, R_OTHER, R_DEVICE, R_PRECISION, R_QUERIES, R_ITEMS, R_SECONDS, R_CREATED,
       N_RELATED_KEYS };

/* One related list: rows [first, first + n) of the related CSV table. */
typedef struct {
    size_t first, n;
} list_span;

typedef struct {
    const report_options *opt;
    topk_matrix vectors;
    topk_ids ids;
    const char *ids_path;
    cli_catalog cat; /* groups: 0 the text, 1 the category (with --category-col) */
    table rel;       /* the related CSV: groups id, rank, neighbor_id, score */
    size_t *rel_query_row, *rel_neighbor_row; /* catalogue rows of each CSV row's id and neighbor_id */
    list_span *lists;
    size_t n_lists, k;
    char *embed_facts[N_EMBED_KEYS], *related_facts[N_RELATED_KEYS];
    char *embed_facts_path, *related_facts_path;
    int embed_facts_found, related_facts_found, model_marked;
    char **strings; /* formatted values to free at the end */
    size_t n_strings, strings_cap;
    atomic_file map_csv; /* --map-csv, written by the map section, published with the page */
} report_input;

/* A formatted string that lives until the report is written. */
__attribute__((format(printf, 2, 3))) static const char *fmt(report_input *r, const char *format, ...) {
    char *s = NULL;
    va_list ap;
    va_start(ap, format);
    if (vasprintf(&s, format, ap) < 0) s = NULL;
    va_end(ap);
    if (!s || GROW(r->strings, r->strings_cap, r->n_strings + 1)) {
        free(s);
        return "?";
    }
    return r->strings[r->n_strings++] = s;
}

static const char *category_of(const report_input *r, size_t cat_row) {
    if (!r->opt->category_col || cat_row == TABLE_NONE) return NULL;
    const char *v = table_value(&r->cat.t, cat_row, 1);
    return v ? v : "";
}

static const char *text_of(const report_input *r, size_t cat_row) {
    if (cat_row == TABLE_NONE) return "(not in the catalogue)";
    const char *v = table_value(&r->cat.t, cat_row, 0);
    return v ? v : "";
}

static const char *name_of_row(report_input *r, size_t row) {
    return r->ids.line ? r->ids.line[row] : fmt(r, "%zu", row);
}

/* Reads a facts file when it is there; a missing file is not an error (runs from before the facts existed). */
static int read_facts(const char *path, const char *const *keys, size_t n, char **values, int *found, char *err,
                      size_t err_len) {
    *found = path && access(path, F_OK) == 0;
    return *found ? run_facts_read(path, keys, n, values, err, err_len) : 0;
}

/* Returns 0, or the failure's class (common/error.h) with err set. */
static int load(const report_options *opt, report_input *r, char *err, size_t err_len) {
    size_t scaled, zero;
    char *beside = opt->ids ? NULL : output_sibling(opt->emb, ".ids");
    r->ids_path = opt->ids ? opt->ids : beside && access(beside, F_OK) == 0 ? fmt(r, "%s", beside) : NULL;
    free(beside);
    int failure = cli_load_vectors(opt->emb, r->ids_path, &r->vectors, &r->ids, &scaled, &zero, err, err_len);
    if (failure) return failure;
    if (!r->vectors.rows) return FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s holds no vectors", opt->emb));
    const char *groups[2] = {opt->in.text_cols ? opt->in.text_cols : "", opt->category_col};
    input_options in = opt->in;
    if (in.format == INPUT_LINES) groups[0] = NULL; /* a lines catalogue: the line is the text */
    if ((failure = cli_catalog_read(opt->catalog, &in, groups, opt->category_col ? 2 : 1, &r->ids, r->vectors.rows,
                                    &r->cat, err, err_len)))
        return failure;
    const input_options csv = {.format = INPUT_CSV};
    const char *rel_groups[] = {"id", "rank", "neighbor_id", "score"};
    if ((failure = table_read(opt->related, &csv, rel_groups, 4, &r->rel, err, err_len))) return failure;
    const size_t n = r->rel.rows;
    const char **qnames = malloc((n ? n : 1) * sizeof *qnames), **nnames = malloc((n ? n : 1) * sizeof *nnames);
    r->rel_query_row = malloc((n ? n : 1) * sizeof *r->rel_query_row);
    r->rel_neighbor_row = malloc((n ? n : 1) * sizeof *r->rel_neighbor_row);
    r->lists = malloc((n ? n : 1) * sizeof *r->lists);
    int rc = !qnames || !nnames || !r->rel_query_row || !r->rel_neighbor_row || !r->lists
                 ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu related rows", n))
                 : 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const char *q = table_value(&r->rel, i, 0), *nb = table_value(&r->rel, i, 2);
        const char *rank = table_value(&r->rel, i, 1), *score = table_value(&r->rel, i, 3);
        char *end = NULL;
        if (score) strtod(score, &end);
        if (!q || !nb || !rank || !score || end == score || *end)
            rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: data row %zu is not an id,rank,neighbor_id,score row "
                                                              "of `userec related`", opt->related, i + 1));
        qnames[i] = q, nnames[i] = nb;
        const size_t rk = rc ? 0 : strtoul(rank, NULL, 10);
        if (rk > r->k) r->k = rk;
        if (!rc && (!r->n_lists || strcmp(q, qnames[r->lists[r->n_lists - 1].first])))
            r->lists[r->n_lists++] = (list_span){i, 0};
        if (!rc) r->lists[r->n_lists - 1].n++;
    }
    if (!rc) rc = table_rows_of(&r->cat.t, opt->catalog, qnames, n, r->rel_query_row, err, err_len);
    if (!rc) rc = table_rows_of(&r->cat.t, opt->catalog, nnames, n, r->rel_neighbor_row, err, err_len);
    free(qnames);
    free(nnames);
    if (rc) return rc;
    r->embed_facts_path = output_sibling(opt->emb, ".embed.json");
    r->related_facts_path = output_sibling(opt->related, ".related.json");
    if ((rc = read_facts(r->embed_facts_path, embed_keys, N_EMBED_KEYS, r->embed_facts, &r->embed_facts_found, err,
                         err_len)) ||
        (rc = read_facts(r->related_facts_path, related_keys, N_RELATED_KEYS, r->related_facts,
                         &r->related_facts_found, err, err_len)))
        return rc;
    if (opt->model) {
        int io_failed = 0;
        usew_file *f = usew_open(opt->model, &io_failed, err, err_len);
        if (!f) return io_failed ? USEREC_ERR_IO : USEREC_ERR_FORMAT;
        r->model_marked = usew_is_test_weights(f);
        usew_close(f);
    }
    return 0;
}

static void free_input(report_input *r) {
    topk_matrix_free(&r->vectors);
    topk_ids_free(&r->ids);
    cli_catalog_free(&r->cat);
    table_free(&r->rel);
    free(r->rel_query_row), free(r->rel_neighbor_row), free(r->lists);
    for (size_t k = 0; k < N_EMBED_KEYS; k++) free(r->embed_facts[k]);
    for (size_t k = 0; k < N_RELATED_KEYS; k++) free(r->related_facts[k]);
    free(r->embed_facts_path), free(r->related_facts_path);
    for (size_t i = 0; i < r->n_strings; i++) free(r->strings[i]);
    free(r->strings);
}

/* ---- the sections ---- */

static const char *or_unknown(const char *s) { return s ? s : "not recorded"; }

static int test_weights(const report_input *r) {
    return r->model_marked || (r->embed_facts[E_TEST] && !strcmp(r->embed_facts[E_TEST], "true"));
}

/* The share of related rows whose neighbour has the query's category, and what random pairs would give. */
static void category_agreement(const report_input *r, double *share, double *chance, size_t *pairs) {
    size_t same = 0, n = 0;
    for (size_t i = 0; i < r->rel.rows; i++) {
        const char *a = category_of(r, r->rel_query_row[i]), *b = category_of(r, r->rel_neighbor_row[i]);
        if (!a || !b) continue;
        n++, same += !strcmp(a, b);
    }
    *share = n ? (double)same / (double)n : 0;
    *pairs = n;
    /* two distinct random items share a category with probability sum_c n_c (n_c - 1) / (N (N - 1)) */
    const size_t items = r->vectors.rows;
    int32_t *number = malloc(items * sizeof *number);
    size_t n_values = 0, *count = NULL;
    char err[64];
    *chance = 0;
    if (number && !table_number_values(&r->cat.t, 1, r->cat.row, items, number, &n_values, err, sizeof err) &&
        (count = calloc(n_values ? n_values : 1, sizeof *count))) {
        for (size_t i = 0; i < items; i++) count[number[i]]++;
        for (size_t v = 0; v < n_values && items > 1; v++)
            *chance += (double)count[v] * (double)(count[v] - 1) / ((double)items * (double)(items - 1));
    }
    free(number);
    free(count);
}

static void facts_section(FILE *f, report_input *r) {
    const report_options *opt = r->opt;
    char **e = r->embed_facts, **rf = r->related_facts;
    report_heading(f, "facts", "The run");
    const char *headers[] = {"fact", "value"};
    report_table_begin(f, "Catalogue and vectors", headers, 2);
    const char *rows[][2] = {
        {"catalogue", opt->catalog},
        {"catalogue rows", fmt(r, "%zu", r->cat.t.rows)},
        {"vectors", fmt(r, "%zu x %zu (%s)", r->vectors.rows, r->vectors.cols, opt->emb)},
        {"ids", r->ids_path ? r->ids_path : "row numbers (no ids file)"},
        {"vectors without a catalogue row", fmt(r, "%zu", r->cat.missing)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) report_table_row(f, rows[i], 2, 0, 0);
    report_table_end(f);
    report_table_begin(f, r->embed_facts_found ? "Embedding (embed's facts file)" : "Embedding", headers, 2);
    if (!r->embed_facts_found) {
        const char *row[] = {"facts", fmt(r, "not found (%s): vectors from an older userec or another tool",
                                          r->embed_facts_path)};
        report_table_row(f, row, 2, 0, 0);
    } else {
        const char *erows[][2] = {
            {"model", or_unknown(e[E_MODEL])},
            {"test weights", test_weights(r) ? "YES: the vectors mean nothing" : "no"},
            {"tokenizer", or_unknown(e[E_TOKENIZER])},
            {"encoder (device, precision)", or_unknown(e[E_ENCODER])},
            {"output type", or_unknown(e[E_DTYPE])},
            {"rows read / embedded / rejected", fmt(r, "%s / %s / %s", or_unknown(e[E_READ]),
                                                    or_unknown(e[E_EMBEDDED]), or_unknown(e[E_REJECTED]))},
            {"clipped to the model's length / repaired UTF-8", fmt(r, "%s / %s", or_unknown(e[E_CLIPPED]),
                                                                   or_unknown(e[E_REPAIRED]))},
            {"tokens", or_unknown(e[E_TOKENS])},
            {"time: total (reading+tokenising, encoding, writing)",
             fmt(r, "%.2f s (%.2f s, %.2f s, %.2f s) on %s threads", e[E_SECONDS] ? atof(e[E_SECONDS]) : NAN,
                 e[E_TOKENIZE_S] ? atof(e[E_TOKENIZE_S]) : NAN, e[E_ENCODE_S] ? atof(e[E_ENCODE_S]) : NAN,
                 e[E_WRITE_S] ? atof(e[E_WRITE_S]) : NAN, or_unknown(e[E_THREADS]))},
            {"made", fmt(r, "%s by userec %s from %s", or_unknown(e[E_CREATED]), or_unknown(e[E_USEREC]),
                         or_unknown(e[E_INPUT]))},
        };
        for (size_t i = 0; i < sizeof erows / sizeof *erows; i++) report_table_row(f, erows[i], 2, 0, 0);
    }
    report_table_end(f);
    report_table_begin(f, "Related lists", headers, 2);
    const char *filters = fmt(r, "%s%s%s%s%s%s%s%s", rf[R_MIN] ? "--min-score " : "", rf[R_MIN] ? rf[R_MIN] : "",
                              rf[R_DEDUPE] ? " --dedupe-above " : "", rf[R_DEDUPE] ? rf[R_DEDUPE] : "",
                              rf[R_SAME] ? " --only-same " : "", rf[R_SAME] ? rf[R_SAME] : "",
                              rf[R_OTHER] ? " --only-other " : "", rf[R_OTHER] ? rf[R_OTHER] : "");
    const char *rrows[][2] = {
        {"lists", fmt(r, "%zu lists, %zu rows (%s)", r->n_lists, r->rel.rows, opt->related)},
        {"k", r->related_facts_found ? or_unknown(rf[R_K]) : fmt(r, "%zu (the longest list)", r->k)},
        {"filters", !r->related_facts_found ? "not recorded" : *filters ? filters + (*filters == ' ') : "none"},
        {"an item may be its own neighbour", r->related_facts_found ? or_unknown(rf[R_SELF]) : "not recorded"},
        {"search", r->related_facts_found ? fmt(r, "%s x %s items on %s %s: %.3f s", or_unknown(rf[R_QUERIES]),
                                                or_unknown(rf[R_ITEMS]), or_unknown(rf[R_DEVICE]),
                                                or_unknown(rf[R_PRECISION]), rf[R_SECONDS] ? atof(rf[R_SECONDS]) : NAN)
                                          : fmt(r, "not recorded (%s not found)", r->related_facts_path)},
    };
    for (size_t i = 0; i < sizeof rrows / sizeof *rrows; i++) report_table_row(f, rrows[i], 2, 0, 0);
    if (opt->category_col) {
        double share, chance;
        size_t pairs;
        category_agreement(r, &share, &chance, &pairs);
        const char *row[] = {fmt(r, "neighbours with the item's own %s", opt->category_col),
                             fmt(r, "%.1f%% of %zu (random pairs: %.1f%%)", 100 * share, pairs, 100 * chance)};
        report_table_row(f, row, 2, 0, 0);
    }
    report_table_end(f);
}

typedef struct {
    const char *name;
    size_t count;
    int colour;
} category_count;

static int by_count_then_name(const void *a, const void *b) {
    const category_count *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* The category name a map point is coloured by. */
static const char *map_category(const report_input *r, size_t cat_row) {
    const char *c = category_of(r, cat_row);
    return !r->opt->category_col ? "items" : cat_row == TABLE_NONE ? "(not in the catalogue)" : *c ? c : "(empty)";
}

/* --map-csv: id,x,y,category of every point on the map, into r->map_csv (published with the page). */
static int write_map_csv(report_input *r, const size_t *rows, const double *xy, size_t m, char *err, size_t err_len) {
    const int failure = atomic_open(&r->map_csv, r->opt->map_csv, err, err_len);
    if (failure) return failure;
    FILE *out = r->map_csv.fp;
    fputs("id,x,y,category\n", out);
    for (size_t i = 0; i < m; i++) {
        const char *c = category_of(r, r->cat.row[rows[i]]);
        csv_field_write(out, name_of_row(r, rows[i]));
        fprintf(out, ",%.9g,%.9g,", xy[2 * i], xy[2 * i + 1]);
        csv_field_write(out, c ? c : "");
        fputc('\n', out);
    }
    return 0;
}

/* The map: an even sample of the rows, PCA-projected; the most frequent categories get their own colours. */
static int map_section(FILE *f, report_input *r, char *err, size_t err_len) {
    const size_t n = r->vectors.rows, dim = r->vectors.cols, m = n < r->opt->map_points ? n : r->opt->map_points;
    float *sample = malloc(m * dim * sizeof *sample);
    size_t *rows = malloc(m * sizeof *rows), *colour_of = malloc(m * sizeof *colour_of), n_cats = 0;
    double *xy = calloc(2 * m, sizeof *xy);
    report_point *points = malloc(m * sizeof *points);
    category_count *cats = malloc(m * sizeof *cats);
    const char *legend[REPORT_COLOURS + 1];
    size_t legend_counts[REPORT_COLOURS + 1] = {0};
    pca p = {0};
    int rc = !sample || !rows || !colour_of || !xy || !points || !cats
                 ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for a map of %zu points", m))
                 : 0;
    for (size_t i = 0; !rc && i < m; i++) {
        rows[i] = (size_t)((double)i * (double)n / (double)m); /* even, deterministic */
        memcpy(sample + i * dim, r->vectors.data + rows[i] * dim, dim * sizeof *sample);
    }
    const size_t axes = dim < 2 ? 1 : 2;
    if (!rc) rc = pca_fit(sample, m, dim, axes, &p, err, err_len);
    for (size_t i = 0; !rc && i < m; i++) { /* count the categories on the map */
        const char *name = map_category(r, r->cat.row[rows[i]]);
        size_t j = 0;
        while (j < n_cats && strcmp(cats[j].name, name)) j++;
        if (j == n_cats) cats[n_cats++] = (category_count){name, 0, 0};
        cats[j].count++;
    }
    if (rc) goto done;
    qsort(cats, n_cats, sizeof *cats, by_count_then_name);
    const size_t named = n_cats > REPORT_COLOURS ? REPORT_COLOURS : n_cats;
    for (size_t j = 0; j < n_cats; j++) {
        cats[j].colour = j < named ? (int)j : REPORT_OTHER;
        if (j < named) legend[j] = cats[j].name, legend_counts[j] = cats[j].count;
        else if (n_cats == named + 1) legend[named] = cats[j].name, legend_counts[named] = cats[j].count;
        else legend[named] = fmt(r, "%zu other values", n_cats - named), legend_counts[named] += cats[j].count;
    }
    for (size_t i = 0; i < m; i++) {
        pca_project(&p, sample + i * dim, xy + 2 * i);
        const size_t cat_row = r->cat.row[rows[i]];
        const char *name = map_category(r, cat_row), *c = category_of(r, cat_row);
        size_t j = 0;
        while (strcmp(cats[j].name, name)) j++;
        points[i] = (report_point){xy[2 * i], xy[2 * i + 1], cats[j].colour,
                                   fmt(r, "%s: %s%s%s%s", name_of_row(r, rows[i]), text_of(r, cat_row), c ? " [" : "",
                                       c ? c : "", c ? "]" : "")};
    }
    if (r->opt->map_csv && (rc = write_map_csv(r, rows, xy, m, err, err_len))) goto done;
    const double total = p.total_variance > 0 ? p.total_variance : 1;
    report_heading(f, "map", "Map of the items");
    report_paragraph(f, fmt(r, "%zu of the %zu items (%s), placed by their first two principal components (PCA of "
                               "these vectors: %.1f%% and %.1f%% of the variance; %d iterations%s). Items close on the "
                               "map have similar vectors; the map flattens %zu dimensions into two, so items far "
                               "apart in the vectors may still land close. Hover over a dot for its text.",
                            m, n, m < n ? "an even sample of the rows" : "all of them", 100 * p.variance[0] / total,
                            axes > 1 ? 100 * p.variance[1] / total : 0, p.iterations,
                            p.converged ? "" : ", not converged", dim));
    report_map(f, points, m, "principal component 1", "principal component 2", legend, legend_counts,
               n_cats > REPORT_COLOURS ? REPORT_COLOURS + 1 : n_cats);
done:
    pca_free(&p);
    free(sample), free(rows), free(colour_of), free(xy), free(points), free(cats);
    return rc;
}

static int compare_floats(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void quantile_row(FILE *f, report_input *r, const char *label, float *v, size_t n) {
    qsort(v, n, sizeof *v, compare_floats);
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += v[i];
    const char *cells[] = {label,
                           fmt(r, "%zu", n),
                           n ? fmt(r, "%.4f", v[0]) : "",
                           n ? fmt(r, "%.4f", v[n / 10]) : "",
                           n ? fmt(r, "%.4f", v[n / 2]) : "",
                           n ? fmt(r, "%.4f", v[n - 1 - (n - 1) / 10]) : "",
                           n ? fmt(r, "%.4f", v[n - 1]) : "",
                           n ? fmt(r, "%.4f", mean / (double)n) : ""};
    report_table_row(f, cells, 8, 0, 0);
}

static int scores_section(FILE *f, report_input *r, char *err, size_t err_len) {
    float *first = malloc((r->n_lists ? r->n_lists : 1) * sizeof *first);
    float *kth = malloc((r->n_lists ? r->n_lists : 1) * sizeof *kth);
    if (!first || !kth) {
        free(first), free(kth);
        return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu lists", r->n_lists));
    }
    size_t n_first = 0, n_kth = 0, shorter = 0;
    for (size_t l = 0; l < r->n_lists; l++) {
        const list_span *s = &r->lists[l];
        first[n_first++] = strtof(table_value(&r->rel, s->first, 3), NULL);
        if (s->n == r->k) kth[n_kth++] = strtof(table_value(&r->rel, s->first + s->n - 1, 3), NULL);
        else shorter++;
    }
    report_heading(f, "scores", "Scores of the first and the k-th neighbours");
    report_paragraph(f, fmt(r, "The cosine of each item with its best neighbour (rank 1) and with its last, rank %zu. "
                               "High first scores with a wide gap to the k-th mean items have a few close matches; "
                               "first scores near 1 are near-duplicates. %zu of %zu lists are shorter than k (their "
                               "k-th is not counted): filters, or fewer items than k.",
                            r->k, shorter, r->n_lists));
    report_histogram(f, first, n_first, "rank 1", kth, n_kth, fmt(r, "rank %zu", r->k));
    const char *headers[] = {"neighbour", "lists", "min", "10%", "median", "90%", "max", "mean"};
    report_table_begin(f, NULL, headers, 8);
    quantile_row(f, r, "rank 1", first, n_first);
    quantile_row(f, r, fmt(r, "rank %zu", r->k), kth, n_kth);
    report_table_end(f);
    free(first), free(kth);
    return 0;
}

static void list_table(FILE *f, report_input *r, const list_span *s) {
    const size_t qrow = r->rel_query_row[s->first];
    const char *qcat = category_of(r, qrow);
    const char *qid = table_value(&r->rel, s->first, 0);
    const char *caption = fmt(r, "%s: %s%s%s%s", qid, text_of(r, qrow), qcat ? " [" : "", qcat ? qcat : "",
                              qcat ? "]" : "");
    const char *headers[] = {"rank", "score", "id", "text", r->opt->category_col ? r->opt->category_col : ""};
    const size_t cols = r->opt->category_col ? 5 : 4;
    report_table_begin(f, caption, headers, cols);
    for (size_t i = s->first; i < s->first + s->n; i++) {
        const size_t nrow = r->rel_neighbor_row[i];
        const char *ncat = category_of(r, nrow);
        const char *cells[] = {table_value(&r->rel, i, 1), fmt(r, "%.4f", atof(table_value(&r->rel, i, 3))),
                               table_value(&r->rel, i, 2), text_of(r, nrow), ncat ? ncat : ""};
        report_table_row(f, cells, cols, 160, qcat && ncat && !strcmp(qcat, ncat));
    }
    report_table_end(f);
}

static void sample_section(FILE *f, report_input *r) {
    report_heading(f, "sample", "A sample of items and their related items");
    const size_t want = r->opt->sample < r->n_lists ? r->opt->sample : r->n_lists;
    report_paragraph(f, fmt(r, "%zu items spread evenly over the %zu lists%s, each with its related items, best "
                               "first.%s",
                            want, r->n_lists, r->opt->n_items ? ", and the items asked for with --item" : "",
                            r->opt->category_col ? " Rows in green share the item's category." : ""));
    for (size_t i = 0; i < r->opt->n_items; i++) {
        size_t l = 0;
        while (l < r->n_lists && strcmp(table_value(&r->rel, r->lists[l].first, 0), r->opt->items[i])) l++;
        if (l < r->n_lists) list_table(f, r, &r->lists[l]);
        else report_paragraph(f, fmt(r, "--item %s: no list in %s", r->opt->items[i], r->opt->related));
    }
    for (size_t i = 0; i < want; i++) list_table(f, r, &r->lists[(size_t)((double)i * (double)r->n_lists / (double)want)]);
}

static int duplicates_section(FILE *f, report_input *r, char *err, size_t err_len) {
    near_dups d;
    userec_error uerr;
    if (near_dups_find(r->vectors.data, r->vectors.rows, r->vectors.cols, (float)r->opt->dup_above, r->opt->dup_k, &d,
                       &uerr))
        return FAIL_AS(uerr.status, ERR(err, err_len, "%s", uerr.message));
    report_heading(f, "duplicates", "Near-duplicate groups");
    report_paragraph(f, fmt(r, "Items whose vectors score at least %.4g with another item of the group (each item "
                               "linked to its %zu nearest): %zu groups holding %zu of the %zu items. A related list "
                               "full of one group's members shows the same product again; `related --dedupe-above` "
                               "leaves such neighbours out.%s",
                            r->opt->dup_above, r->opt->dup_k, d.n_groups, d.n_items, r->vectors.rows,
                            d.n_groups > 20 ? " The 20 largest groups:" : ""));
    const char *headers[] = {"id", "text", r->opt->category_col ? r->opt->category_col : ""};
    const size_t cols = r->opt->category_col ? 3 : 2;
    for (size_t g = 0; g < d.n_groups && g < 20; g++) {
        const size_t size = d.start[g + 1] - d.start[g];
        report_table_begin(f, fmt(r, "group %zu: %zu items%s", g + 1, size, size > 8 ? " (the first 8)" : ""), headers,
                           cols);
        for (size_t i = d.start[g]; i < d.start[g + 1] && i < d.start[g] + 8; i++) {
            const size_t row = r->cat.row[d.member[i]];
            const char *c = category_of(r, row);
            const char *cells[] = {name_of_row(r, (size_t)d.member[i]), text_of(r, row), c ? c : ""};
            report_table_row(f, cells, cols, 160, 0);
        }
        report_table_end(f);
    }
    near_dups_free(&d);
    return 0;
}

static int write_page(FILE *f, report_input *r, char *err, size_t err_len) {
    const report_options *opt = r->opt;
    const char *base = strrchr(opt->catalog, '/');
    char date[32];
    const time_t now = time(NULL);
    struct tm utc;
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &utc));
    report_begin(f, opt->title ? opt->title : fmt(r, "Related items: %s", base ? base + 1 : opt->catalog),
                 fmt(r, "%zu items, %zu-d vectors, %zu related lists. Made by userec %s on %s.", r->vectors.rows,
                     r->vectors.cols, r->n_lists, userec_version(), date));
    if (test_weights(r))
        report_warning(f, "TEST WEIGHTS: these vectors were made with the deterministic test weights "
                          "(tools/make_test_model.py): the real architecture and tokenizer with random weights. The "
                          "neighbours, the map and the scores below show the pipeline working, not meaning; texts "
                          "that share tokens still land close. Run `make weights` for the real USE-lite.");
    if (!r->embed_facts_found && !opt->model)
        report_warning(f, "The model is unknown: no facts file beside the vectors and no --model. The page cannot "
                          "tell real weights from test weights.");
    if (r->cat.missing)
        report_warning(f, fmt(r, "%zu of the %zu vectors have no row in %s (by id): check --id-col.", r->cat.missing,
                              r->vectors.rows, opt->catalog));
    facts_section(f, r);
    int failure = map_section(f, r, err, err_len);
    if (!failure) failure = scores_section(f, r, err, err_len);
    if (failure) return failure;
    sample_section(f, r);
    if ((failure = duplicates_section(f, r, err, err_len))) return failure;
    report_heading(f, "reading", "How to read this page");
    report_paragraph(f, "Judge the lists first: would a shopper who looks at the item want to see these? Then the "
                        "numbers: neighbours sharing the item's category (against what random pairs give), the gap "
                        "between first and k-th scores, and near-duplicates that crowd the lists. docs/evaluation.md "
                        "in the userec sources explains each part, and `userec eval` measures quality on labelled "
                        "data.");
    report_end(f);
    return 0;
}

int cmd_report(int argc, char **argv) {
    report_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) {
        free(opt.items);
        return rc;
    }
    if (opt.threads) omp_set_num_threads(opt.threads);
    char err[1024] = "";
    report_input r = {.opt = &opt, .map_csv.slot = -1};
    atomic_file out = {.slot = -1};
    const cli_file inputs[] = {{"--catalog", opt.catalog}, {"--emb", opt.emb}, {"--ids", opt.ids},
                               {"--related", opt.related}, {"--model", opt.model}};
    const cli_file outputs[] = {{"-o", opt.out}, {"--map-csv", opt.map_csv}};
    if (cli_outputs_spare_inputs("report", inputs, 5, outputs, 2)) {
        free(opt.items);
        return EXIT_USAGE;
    }
    rc = load(&opt, &r, err, sizeof err);
    if (!rc) rc = atomic_open(&out, opt.out, err, sizeof err);
    if (!rc) {
        rc = write_page(out.fp, &r, err, sizeof err);
        publish_set set = {0}; /* the map's points and the page appear together, or neither */
        if (r.map_csv.fp) publish_add(&set, &r.map_csv);
        publish_add(&set, &out);
        if (rc) publish_abort(&set, NULL);
        else rc = publish_commit(&set, NULL, err, sizeof err);
    }
    const int marked = test_weights(&r);
    free_input(&r);
    free(opt.items);
    if (rc) return cli_failed("report", rc, "%s (nothing was written)", err);
    if (marked) fprintf(stderr, "report: warning: %s\n", USEW_TEST_WEIGHTS_WARNING);
    if (!opt.quiet) fprintf(stderr, "report: %s\n", opt.out);
    return 0;
}
