/* eval.c: `userec eval`: quality figures of a model (and tokenizer, device, precision) on labelled data, so two
 * runs can be compared: product matching (recall@1, recall@10, MRR), graded sentence similarity (Spearman and
 * Pearson correlation of cosine with the gold scores), and co-liked movies (hit rate@10 of the related lists
 * against a popularity baseline). Metrics are engine/eval/metrics.c, the datasets engine/eval/datasets.c;
 * docs/evaluation.md says what each figure means. */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/grow.h"
#include "common/util.h"
#include "eval/datasets.h"
#include "eval/metrics.h"
#include "model/model.h"
#include "model/provenance.h"
#include "output/npy.h"
#include "output/publish.h"
#include "output/run_facts.h"

#define LIKE_THRESHOLD 4.0 /* MovieLens stars (0.5 to 5) from which a rating counts as liking the movie */
#define HIT_K 10
#define MATCH_K_MAX 1000 /* matching ranks past this count as not found */
#define ENCODE_CHUNK 256

typedef struct {
    const char *model, *json, *baseline, *vectors_dir, *tokenizer;
    const char *abt_buy, *amazon_google, *stsb, *sick, *movielens, *tmdb, *data;
    userec_device device;
    userec_precision precision;
    int threads, quiet;
} eval_options;

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec eval --model MODEL.usew DATASETS... [--json OUT.json] [--baseline OLD.json] [options]\n"
            "datasets (each in the layout its publisher distributes; several at once are fine):\n"
            "  --abt-buy DIR        Abt.csv, Buy.csv, abt_buy_perfectMapping.csv (Leipzig product matching)\n"
            "  --amazon-google DIR  Amazon.csv, GoogleProducts.csv, Amzon_GoogleProducts_perfectMapping.csv\n"
            "  --stsb FILE          an STS Benchmark split, e.g. sts-test.csv\n"
            "  --sick FILE          a SICK file, e.g. SICK_test_annotated.txt\n"
            "  --movielens DIR      MovieLens ml-latest-small (ratings.csv, links.csv), with --tmdb\n"
            "  --tmdb FILE          tmdb_5000_movies.csv: the movies' overviews\n"
            "  --data DIR           every dataset above that DIR holds in userec's layout: matching/abt-buy,\n"
            "                       matching/amazon-google, sts/stsbenchmark/sts-test.csv,\n"
            "                       sts/sick2014/SICK_test_annotated.txt, movies/ml-latest-small,\n"
            "                       movies/tmdb_5000_movies.csv\n"
            "output:\n"
            "  the table on stdout; --json OUT.json the same figures as one flat JSON object\n"
            "  --baseline OLD.json  add the figures of an earlier --json and the change\n"
            "  --vectors-dir DIR    also write the vectors each figure was computed from (.npy + .ids)\n"
            "model:\n"
            "  --tokenizer spm|tfjs   (default: the model's)\n"
            "  --device cpu|cuda|auto, --precision fp32|tf32|bf16   where and how to encode (search: CPU fp32)\n"
            "  --threads N          CPU threads (default: all)\n"
            "  --quiet              no progress on stderr\n");
}

static int parse_options(int argc, char **argv, eval_options *opt) {
    enum { O_MODEL = 256, O_JSON, O_BASELINE, O_VECTORS, O_TOKENIZER, O_ABT, O_AMAZON, O_STSB, O_SICK, O_MOVIELENS,
           O_TMDB, O_DATA, O_DEVICE, O_PRECISION, O_THREADS };
    static const struct option longopts[] = {
        {"model", required_argument, 0, O_MODEL},          {"json", required_argument, 0, O_JSON},
        {"baseline", required_argument, 0, O_BASELINE},    {"vectors-dir", required_argument, 0, O_VECTORS},
        {"tokenizer", required_argument, 0, O_TOKENIZER},  {"abt-buy", required_argument, 0, O_ABT},
        {"amazon-google", required_argument, 0, O_AMAZON}, {"stsb", required_argument, 0, O_STSB},
        {"sick", required_argument, 0, O_SICK},            {"movielens", required_argument, 0, O_MOVIELENS},
        {"tmdb", required_argument, 0, O_TMDB},            {"data", required_argument, 0, O_DATA},
        {"device", required_argument, 0, O_DEVICE},        {"precision", required_argument, 0, O_PRECISION},
        {"threads", required_argument, 0, O_THREADS},      {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},                     {0, 0, 0, 0}};
    *opt = (eval_options){0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        switch (c) {
        case O_MODEL: opt->model = optarg; break;
        case O_JSON: opt->json = optarg; break;
        case O_BASELINE: opt->baseline = optarg; break;
        case O_VECTORS: opt->vectors_dir = optarg; break;
        case O_TOKENIZER:
            if (strcmp(optarg, "spm") && strcmp(optarg, "tfjs"))
                return cli_fail("eval", "--tokenizer wants spm or tfjs, not '%s'", optarg);
            opt->tokenizer = optarg;
            break;
        case O_ABT: opt->abt_buy = optarg; break;
        case O_AMAZON: opt->amazon_google = optarg; break;
        case O_STSB: opt->stsb = optarg; break;
        case O_SICK: opt->sick = optarg; break;
        case O_MOVIELENS: opt->movielens = optarg; break;
        case O_TMDB: opt->tmdb = optarg; break;
        case O_DATA: opt->data = optarg; break;
        case O_DEVICE:
            if (cli_device_option("eval", optarg, &opt->device)) return EXIT_USAGE;
            break;
        case O_PRECISION:
            if (cli_precision_option("eval", optarg, &opt->precision)) return EXIT_USAGE;
            break;
        case O_THREADS:
            if (cli_threads_option("eval", optarg, &opt->threads)) return EXIT_USAGE;
            break;
        case 'q': opt->quiet = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail("eval", "unexpected argument '%s'", argv[optind]);
    if (!opt->model) {
        usage(stderr);
        return cli_fail("eval", "--model is required");
    }
    if (!!opt->movielens != !!opt->tmdb && !opt->data)
        return cli_fail("eval", "--movielens and --tmdb go together: the ratings and the movies' overviews");
    if (!opt->abt_buy && !opt->amazon_google && !opt->stsb && !opt->sick && !opt->movielens && !opt->data) {
        usage(stderr);
        return cli_fail("eval", "name at least one dataset (or --data DIR)");
    }
    return 0;
}

/* ---- the run ---- */

typedef struct {
    char dataset[32], metric[32];
    double value;
    size_t n; /* what the figure averages over */
} figure;

typedef struct {
    const eval_options *opt;
    userec_encoder *enc;
    userec_tokenizer_kind tokenizer;
    const char *tokenizer_name; /* the tokenizer that kind resolves to for this model */
    size_t dim;
    figure *figures;
    size_t n_figures, figures_cap;
    byte_buf text; /* one text made UTF-8 */
    char **skipped; /* --data: datasets not there */
    size_t n_skipped, skipped_cap;
} eval_run;

static int add_figure(eval_run *run, const char *dataset, const char *metric, double value, size_t n, char *err,
                      size_t err_len) {
    if (GROW(run->figures, run->figures_cap, run->n_figures + 1)) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    figure *f = &run->figures[run->n_figures++];
    snprintf(f->dataset, sizeof f->dataset, "%s", dataset);
    snprintf(f->metric, sizeof f->metric, "%s", metric);
    f->value = value, f->n = n;
    return 0;
}

/* Encodes n texts (each made UTF-8: eval_utf8_text) into n x dim floats (malloc'd). */
static int encode(eval_run *run, const char *const *texts, size_t n, float **out, char *err, size_t err_len) {
    *out = malloc((n ? n : 1) * run->dim * sizeof **out);
    char **copies = malloc(ENCODE_CHUNK * sizeof *copies);
    size_t *lens = malloc(ENCODE_CHUNK * sizeof *lens);
    int rc = !*out || !copies || !lens ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu vectors", n)) : 0;
    for (size_t i0 = 0; !rc && i0 < n; i0 += ENCODE_CHUNK) {
        const size_t m = n - i0 < ENCODE_CHUNK ? n - i0 : ENCODE_CHUNK;
        size_t made = 0;
        for (; !rc && made < m; made++) {
            if (eval_utf8_text(texts[i0 + made], &run->text, err, err_len)) rc = USEREC_ERR_NOMEM;
            if (!rc && !(copies[made] = strdup((const char *)run->text.data))) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
            if (!rc) lens[made] = run->text.len - 1;
            if (rc) break;
        }
        userec_error uerr;
        if (!rc && userec_encoder_encode_texts(run->enc, run->tokenizer, (const char *const *)copies, lens, m,
                                               *out + i0 * run->dim, NULL, &uerr))
            rc = FAIL_AS(uerr.status, ERR(err, err_len, "%s", uerr.message));
        for (size_t i = 0; i < made; i++) free(copies[i]);
    }
    free(copies);
    free(lens);
    if (rc) free(*out), *out = NULL;
    return rc;
}

/* --vectors-dir: DIR/NAME.npy and DIR/NAME.ids (one id per row), published together with DIR/NAME.embed.json. */
static int dump(const eval_run *run, const char *name, const float *v, size_t n, const char *const *ids, char *err,
                size_t err_len) {
    if (!run->opt->vectors_dir) return 0;
    char *npy_path = NULL;
    if (asprintf(&npy_path, "%s/%s.npy", run->opt->vectors_dir, name) < 0)
        return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    char *ids_path = output_sibling(npy_path, ".ids");
    npy_writer w;
    atomic_file idf = {.slot = -1};
    run_facts facts = {.file.slot = -1};
    int rc = ids_path ? npy_writer_open(&w, npy_path, NPY_F32, run->dim, err, err_len)
                      : FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    if (!rc && !(rc = npy_writer_append(&w, v, n, err, err_len)) && !(rc = npy_writer_seal(&w, err, err_len)) &&
        !(rc = atomic_open(&idf, ids_path, err, err_len))) {
        for (size_t i = 0; i < n; i++) fprintf(idf.fp, "%s\n", ids[i]);
        rc = run_facts_open_beside(&facts, npy_path, ".embed.json", "eval", err, err_len);
    }
    if (!rc) {
        run_facts_string(&facts, "model", run->opt->model);
        run_facts_string(&facts, "dataset", name);
        run_facts_string(&facts, "encoder", userec_encoder_name(run->enc));
        publish_set set = {0};
        publish_add(&set, &w.file);
        publish_add(&set, &idf);
        rc = publish_commit(&set, &facts, err, err_len);
    } else {
        npy_writer_abort(&w);
        atomic_abort(&idf);
    }
    free(npy_path);
    free(ids_path);
    return rc;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Each left offer with a true match searches all right offers: recall@1, recall@10, MRR of its first true match. */
static int run_matching(eval_run *run, const char *name, const char *dir, const char *left, const char *left_text,
                        const char *right, const char *right_text, const char *mapping, const char *map_left,
                        const char *map_right, char *err, size_t err_len) {
    char *lp = path_join(dir, left), *rp = path_join(dir, right), *mp = path_join(dir, mapping);
    if (!lp || !rp || !mp)
        return free(lp), free(rp), free(mp), FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    eval_matching m;
    float *lv = NULL, *rv = NULL, *score = NULL, *qv = NULL;
    int32_t *index = NULL;
    int rc = eval_load_matching(lp, left_text, rp, right_text, mp, map_left, map_right, &m, err, err_len);
    free(lp), free(rp), free(mp);
    if (rc) return rc;
    const char **ltexts = malloc((m.left.rows + m.right.rows + 1) * sizeof *ltexts), **rtexts = ltexts + m.left.rows;
    const char **lids = malloc((m.left.rows + m.right.rows + 1) * sizeof *lids), **rids = lids + m.left.rows;
    rc = !ltexts || !lids ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory")) : 0;
    for (size_t i = 0; !rc && i < m.left.rows; i++) {
        ltexts[i] = table_value(&m.left, i, 0) ? table_value(&m.left, i, 0) : "";
        lids[i] = table_id(&m.left, i);
    }
    for (size_t i = 0; !rc && i < m.right.rows; i++) {
        rtexts[i] = table_value(&m.right, i, 0) ? table_value(&m.right, i, 0) : "";
        rids[i] = table_id(&m.right, i);
    }
    const double t0 = now_seconds();
    if (!rc) rc = encode(run, ltexts, m.left.rows, &lv, err, err_len);
    if (!rc) rc = encode(run, rtexts, m.right.rows, &rv, err, err_len);
    char side[48];
    snprintf(side, sizeof side, "%s.left", name);
    if (!rc) rc = dump(run, side, lv, m.left.rows, lids, err, err_len);
    snprintf(side, sizeof side, "%s.right", name);
    if (!rc) rc = dump(run, side, rv, m.right.rows, rids, err, err_len);
    const size_t k = m.right.rows < MATCH_K_MAX ? m.right.rows : MATCH_K_MAX, nq = m.n_queries;
    if (!rc) {
        qv = malloc((nq ? nq : 1) * run->dim * sizeof *qv);
        index = malloc((nq ? nq : 1) * (k ? k : 1) * sizeof *index);
        score = malloc((nq ? nq : 1) * (k ? k : 1) * sizeof *score);
        if (!qv || !index || !score) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu x %zu ranks", nq, k));
    }
    if (!rc && nq && k) {
        for (size_t q = 0; q < nq; q++) memcpy(qv + q * run->dim, lv + m.query_row[q] * run->dim, run->dim * sizeof *qv);
        const userec_topk_options topt = {.k = k, .device = USEREC_DEVICE_CPU};
        userec_error uerr;
        if (userec_topk_search(qv, nq, rv, m.right.rows, run->dim, &topt, index, score, &uerr))
            rc = FAIL_AS(uerr.status, ERR(err, err_len, "%s", uerr.message));
    }
    size_t at1 = 0, at10 = 0;
    double rr = 0;
    for (size_t q = 0; !rc && q < nq; q++) {
        const size_t rank = eval_first_hit(index + q * k, k, m.match_row + m.match_start[q], m.match_start[q + 1] - m.match_start[q]);
        at1 += rank == 1, at10 += rank && rank <= 10;
        rr += rank ? 1.0 / (double)rank : 0;
    }
    if (!rc && !nq) rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: no pair of the mapping names a row of both files", name));
    if (!rc) rc = add_figure(run, name, "recall@1", (double)at1 / (double)nq, nq, err, err_len) ||
                  add_figure(run, name, "recall@10", (double)at10 / (double)nq, nq, err, err_len) ||
                  add_figure(run, name, "mrr", rr / (double)nq, nq, err, err_len) ||
                  add_figure(run, name, "seconds", now_seconds() - t0, nq, err, err_len)
                      ? USEREC_ERR_NOMEM /* add_figure fails for memory only */
                      : 0;
    if (!rc && !run->opt->quiet)
        fprintf(stderr, "eval: %s: %zu queries (left offers with a match) against %zu right offers; %zu of %zu mapping "
                        "rows name an id in neither file\n",
                name, nq, m.right.rows, m.mapping_unknown, m.mapping_rows);
    free(ltexts), free(lids), free(lv), free(rv), free(qv), free(index), free(score);
    eval_matching_free(&m);
    return rc;
}

/* Spearman (and Pearson) correlation of the two sentences' cosine with the gold score. */
static int run_sts(eval_run *run, const char *name, const char *path, eval_sts_format format, char *err, size_t err_len) {
    eval_sts s;
    const int failure = eval_load_sts(path, format, &s, err, err_len);
    if (failure) return failure;
    const char **a = malloc((2 * s.n + 1) * sizeof *a), **b = a + s.n;
    char *numbers = malloc((s.n ? s.n : 1) * 24);
    const char **ids = malloc((s.n ? s.n : 1) * sizeof *ids);
    double *cosine = malloc((s.n ? s.n : 1) * sizeof *cosine);
    float *va = NULL, *vb = NULL;
    int rc = !a || !numbers || !ids || !cosine ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory")) : 0;
    for (size_t i = 0; !rc && i < s.n; i++) {
        a[i] = table_value(&s.t, s.row[i], 0), b[i] = table_value(&s.t, s.row[i], 1);
        snprintf(numbers + 24 * i, 24, "%zu", s.row[i]);
        ids[i] = numbers + 24 * i;
    }
    const double t0 = now_seconds();
    if (!rc) rc = encode(run, a, s.n, &va, err, err_len);
    if (!rc) rc = encode(run, b, s.n, &vb, err, err_len);
    char side[48];
    snprintf(side, sizeof side, "%s.a", name);
    if (!rc) rc = dump(run, side, va, s.n, ids, err, err_len);
    snprintf(side, sizeof side, "%s.b", name);
    if (!rc) rc = dump(run, side, vb, s.n, ids, err, err_len);
    for (size_t i = 0; !rc && i < s.n; i++) cosine[i] = dot(va + i * run->dim, vb + i * run->dim, run->dim);
    if (!rc && s.n < 2) rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: fewer than two sentence pairs with a score", path));
    if (!rc) rc = add_figure(run, name, "spearman", eval_spearman(cosine, s.gold, s.n), s.n, err, err_len) ||
                  add_figure(run, name, "pearson", eval_pearson(cosine, s.gold, s.n), s.n, err, err_len) ||
                  add_figure(run, name, "seconds", now_seconds() - t0, s.n, err, err_len)
                      ? USEREC_ERR_NOMEM /* add_figure fails for memory only */
                      : 0;
    if (!rc && !run->opt->quiet)
        fprintf(stderr, "eval: %s: %zu sentence pairs from %s (%zu rows without two sentences and a score left out)\n",
                name, s.n, path, s.skipped);
    free(a), free(numbers), free(ids), free(cosine), free(va), free(vb);
    eval_sts_free(&s);
    return rc;
}

/* Hit rate@10 of the related lists (exact top-10 of the overviews' vectors) for movies the same users liked,
 * against the 10 most liked movies. */
static int run_movies(eval_run *run, const char *dir, const char *tmdb, char *err, size_t err_len) {
    char *ratings = NULL, *links = NULL;
    if (asprintf(&ratings, "%s/ratings.csv", dir) < 0 || asprintf(&links, "%s/links.csv", dir) < 0)
        return free(ratings), FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    eval_movies mv;
    int rc = eval_load_movies(ratings, links, tmdb, LIKE_THRESHOLD, &mv, err, err_len);
    free(ratings), free(links);
    if (rc) return rc;
    const size_t n = mv.n_items, k = n > HIT_K ? HIT_K : n ? n - 1 : 0;
    const char **texts = malloc((n ? n : 1) * sizeof *texts), **ids = malloc((n ? n : 1) * sizeof *ids);
    int32_t *lists = malloc((n ? n : 1) * (k ? k : 1) * sizeof *lists);
    float *score = malloc((n ? n : 1) * (k ? k : 1) * sizeof *score), *v = NULL;
    size_t *popularity = calloc(n ? n : 1, sizeof *popularity);
    rc = !texts || !ids || !lists || !score || !popularity ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory")) : 0;
    for (size_t i = 0; !rc && i < n; i++) texts[i] = table_value(&mv.tmdb, mv.item_row[i], 0), ids[i] = table_id(&mv.tmdb, mv.item_row[i]);
    const double t0 = now_seconds();
    if (!rc) rc = encode(run, texts, n, &v, err, err_len);
    if (!rc) rc = dump(run, "movielens", v, n, ids, err, err_len);
    if (!rc && k < 1) rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: fewer than two movies with an overview are rated", tmdb));
    if (!rc) {
        const userec_topk_options topt = {.k = k, .exclude_self = 1, .device = USEREC_DEVICE_CPU};
        userec_error uerr;
        if (userec_topk_search(v, n, v, n, run->dim, &topt, lists, score, &uerr))
            rc = FAIL_AS(uerr.status, ERR(err, err_len, "%s", uerr.message));
    }
    size_t pairs = 0, pop_pairs = 0;
    const double content = rc ? 0 : eval_hit_rate(lists, k, mv.like_start, mv.liked, mv.n_users, &pairs);
    for (size_t i = 0; !rc && i < mv.like_start[mv.n_users]; i++) popularity[mv.liked[i]]++;
    if (!rc && eval_popularity_lists(popularity, n, k, lists)) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    const double popular = rc ? 0 : eval_hit_rate(lists, k, mv.like_start, mv.liked, mv.n_users, &pop_pairs);
    if (!rc) rc = add_figure(run, "movielens", "hit_rate@10", content, pairs, err, err_len) ||
                  add_figure(run, "movielens", "popularity_hit_rate@10", popular, pop_pairs, err, err_len) ||
                  add_figure(run, "movielens", "random_hit_rate@10",
                             eval_random_hit_rate(mv.like_start, mv.n_users, n, k), pairs, err, err_len) ||
                  add_figure(run, "movielens", "seconds", now_seconds() - t0, n, err, err_len)
                      ? USEREC_ERR_NOMEM /* add_figure fails for memory only */
                      : 0;
    if (!rc && !run->opt->quiet)
        fprintf(stderr, "eval: movielens: %zu movies with an overview, %zu users with a like (rating >= %.1f), %zu of "
                        "%zu ratings are of those movies\n",
                n, mv.n_users, LIKE_THRESHOLD, mv.ratings_linked, mv.ratings);
    free(texts), free(ids), free(lists), free(score), free(v), free(popularity);
    eval_movies_free(&mv);
    return rc;
}

/* path under --data, or NULL when it is not there (the dataset is then listed as not found). */
static char *under_data(eval_run *run, const char *rel) {
    char *path = path_join(run->opt->data, rel);
    struct stat st;
    if (!path) return NULL;
    if (!stat(path, &st)) return path;
    free(path);
    if (!GROW(run->skipped, run->skipped_cap, run->n_skipped + 1)) run->skipped[run->n_skipped++] = strdup(rel);
    return NULL;
}

static int run_all(eval_run *run, char *err, size_t err_len) {
    const eval_options *opt = run->opt;
    char *abt = opt->abt_buy ? strdup(opt->abt_buy) : opt->data ? under_data(run, "matching/abt-buy") : NULL;
    char *amazon = opt->amazon_google ? strdup(opt->amazon_google)
                   : opt->data        ? under_data(run, "matching/amazon-google")
                                      : NULL;
    char *stsb = opt->stsb ? strdup(opt->stsb) : opt->data ? under_data(run, "sts/stsbenchmark/sts-test.csv") : NULL;
    char *sick = opt->sick ? strdup(opt->sick) : opt->data ? under_data(run, "sts/sick2014/SICK_test_annotated.txt") : NULL;
    char *ml = opt->movielens ? strdup(opt->movielens) : opt->data ? under_data(run, "movies/ml-latest-small") : NULL;
    char *tmdb = opt->tmdb ? strdup(opt->tmdb) : opt->data ? under_data(run, "movies/tmdb_5000_movies.csv") : NULL;
    int rc = 0;
    if (abt)
        rc = run_matching(run, "abt-buy", abt, "Abt.csv", "name", "Buy.csv", "name", "abt_buy_perfectMapping.csv",
                          "idAbt", "idBuy", err, err_len);
    if (!rc && amazon)
        rc = run_matching(run, "amazon-google", amazon, "Amazon.csv", "title", "GoogleProducts.csv", "name",
                          "Amzon_GoogleProducts_perfectMapping.csv", "idAmazon", "idGoogleBase", err, err_len);
    if (!rc && stsb) rc = run_sts(run, "stsb", stsb, EVAL_STSB, err, err_len);
    if (!rc && sick) rc = run_sts(run, "sick", sick, EVAL_SICK, err, err_len);
    if (!rc && ml && tmdb) rc = run_movies(run, ml, tmdb, err, err_len);
    free(abt), free(amazon), free(stsb), free(sick), free(ml), free(tmdb);
    if (!rc && !run->n_figures) rc = FAIL_AS(USEREC_ERR_IO, ERR(err, err_len, "%s holds none of the datasets", opt->data));
    return rc;
}

/* ---- output ---- */

static const char *key_of(const figure *f, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", f->dataset, f->metric);
    return buf;
}

static void print_table(const eval_run *run, int test_weights, char **baseline) {
    printf("model %s%s, tokenizer %s, %s\n", run->opt->model, test_weights ? " (TEST WEIGHTS)" : "",
           run->tokenizer_name, userec_encoder_name(run->enc));
    printf("%-15s %-24s %9s %7s%s\n", "dataset", "metric", "value", "n", baseline ? "  baseline    change" : "");
    for (size_t i = 0; i < run->n_figures; i++) {
        const figure *f = &run->figures[i];
        if (!strcmp(f->metric, "seconds")) printf("%-15s %-24s %9.2f %7s", f->dataset, f->metric, f->value, "");
        else printf("%-15s %-24s %9.4f %7zu", f->dataset, f->metric, f->value, f->n);
        if (baseline && baseline[i]) printf("  %8.4f  %+8.4f", atof(baseline[i]), f->value - atof(baseline[i]));
        else if (baseline) printf("  %8s", "-");
        putchar('\n');
    }
    for (size_t i = 0; i < run->n_skipped; i++) printf("(not in --data: %s)\n", run->skipped[i]);
    if (test_weights)
        printf("These figures come from the deterministic TEST weights: the real architecture with random weights.\n"
               "Texts that share tokens still get similar vectors, so what they measure is how far shared tokens\n"
               "go (offers that share a model number match; sentences that share words correlate), not meaning.\n"
               "Use them to check the pipeline and compare devices or precisions; judge models with the real\n"
               "weights (make weights).\n");
}

static int write_json(const eval_run *run, int test_weights, char *err, size_t err_len) {
    run_facts rf;
    const int failure = run_facts_open(&rf, run->opt->json, "eval", err, err_len);
    if (failure) return failure;
    run_facts_string(&rf, "model", run->opt->model);
    run_facts_bool(&rf, "test_weights", test_weights);
    run_facts_string(&rf, "tokenizer", run->tokenizer_name);
    run_facts_string(&rf, "encoder", userec_encoder_name(run->enc));
    char key[80];
    for (size_t i = 0; i < run->n_figures; i++) {
        const figure *f = &run->figures[i];
        run_facts_number(&rf, key_of(f, key, sizeof key), f->value);
        if (strcmp(f->metric, "seconds")) {
            snprintf(key, sizeof key, "%s/%s/n", f->dataset, f->metric);
            run_facts_count(&rf, key, f->n);
        }
    }
    return run_facts_commit(&rf, err, err_len);
}

static int read_baseline(const eval_run *run, char ***values, char *err, size_t err_len) {
    char (*keys)[80] = malloc((run->n_figures ? run->n_figures : 1) * sizeof *keys);
    const char **key_list = malloc((run->n_figures ? run->n_figures : 1) * sizeof *key_list);
    *values = calloc(run->n_figures ? run->n_figures : 1, sizeof **values);
    int rc = !keys || !key_list || !*values ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory")) : 0;
    for (size_t i = 0; !rc && i < run->n_figures; i++) key_list[i] = key_of(&run->figures[i], keys[i], sizeof keys[i]);
    if (!rc) rc = run_facts_read(run->opt->baseline, key_list, run->n_figures, *values, err, err_len);
    free(keys);
    free(key_list);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    eval_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) return rc;
    if (opt.threads) omp_set_num_threads(opt.threads);
    char err[1024] = "";
    eval_run run = {.opt = &opt};
    char **baseline = NULL;
    const cli_file inputs[] = {{"--model", opt.model}, {"--baseline", opt.baseline}, {"--stsb", opt.stsb},
                               {"--sick", opt.sick}, {"--tmdb", opt.tmdb}};
    if (cli_outputs_spare_inputs("eval", inputs, 5, &(cli_file){"--json", opt.json}, 1)) return EXIT_USAGE;
    userec_error uerr;
    userec_model *m = userec_load(opt.model, &uerr);
    if (!m) return cli_failed("eval", uerr.status, "%s", uerr.message);
    const int test_weights = usew_is_test_weights(m->file);
    if (test_weights) fprintf(stderr, "eval: warning: %s: %s\n", opt.model, USEW_TEST_WEIGHTS_WARNING);
    run.tokenizer = !opt.tokenizer ? USEREC_TOKENIZER_DEFAULT : !strcmp(opt.tokenizer, "spm") ? USEREC_TOKENIZER_SPM
                                                                                            : USEREC_TOKENIZER_TFJS;
    run.dim = userec_info(m).dim;
    const tokenizer *tok = model_tokenizer(m, run.tokenizer == USEREC_TOKENIZER_SPM    ? USEW_TOK_SPM
                                              : run.tokenizer == USEREC_TOKENIZER_TFJS ? USEW_TOK_TFJS
                                                                                       : USEW_TOK_NONE,
                                           &uerr);
    if (!tok) rc = FAIL_AS(uerr.status, ERR(err, sizeof err, "%s", uerr.message));
    else run.tokenizer_name = tokenizer_kind_name(tokenizer_kind(tok));
    if (!rc && opt.vectors_dir && mkdir(opt.vectors_dir, 0777) && errno != EEXIST)
        rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, sizeof err, opt.vectors_dir, "mkdir"));
    if (!rc && !(run.enc = userec_encoder_open(m, opt.device, opt.precision, stderr, &uerr)))
        rc = FAIL_AS(uerr.status, ERR(err, sizeof err, "%s", uerr.message));
    if (!rc) rc = run_all(&run, err, sizeof err);
    if (!rc && opt.baseline) rc = read_baseline(&run, &baseline, err, sizeof err);
    if (!rc && opt.json) rc = write_json(&run, test_weights, err, sizeof err);
    if (!rc) print_table(&run, test_weights, baseline);
    for (size_t i = 0; baseline && i < run.n_figures; i++) free(baseline[i]);
    free(baseline);
    for (size_t i = 0; i < run.n_skipped; i++) free(run.skipped[i]);
    free(run.skipped);
    free(run.figures);
    free(run.text.data);
    userec_encoder_close(run.enc);
    userec_free(m);
    return rc ? cli_failed("eval", rc, "%s", err) : 0;
}
