/* related.c: `userec related`: the k most similar items of every item (all-pairs) or of every query
 * vector, written as CSV or JSONL, atomically. */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/progress.h"
#include "output/lists.h"
#include "output/publish.h"
#include "catalog.h"
#include "cli.h"
#include "output/run_facts.h"
#include "shards.h"
#include "topk/topk.h"
#include "common/util.h"

typedef struct {
    const char *emb, *ids, *queries, *query_ids, *out;
    size_t k;
    int exclude_self; /* -1: not given */
    int threads, quiet;
    userec_devices devices;
    userec_precision precision;
    shard_spec shard; /* --shard: this block of the queries, written to OUT.part-I-of-N.* */
    lists_format format;
    int use_min_score, use_max_score;
    double min_score, max_score;            /* --min-score, --dedupe-above */
    const char *catalog, *catalog_format, *group_col; /* --only-same / --only-other COL of --catalog */
    input_options catalog_in;
    userec_group_rule group_rule;
} related_options;

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec related --emb ITEMS.npy [--ids ITEMS.ids] [-k 10] -o OUT.csv|OUT.jsonl [options]\n"
            "  --emb FILE           item vectors, float32 or float16 .npy [rows, dim] (rows not of unit length are\n"
            "                       scaled to it, and counted on stderr)\n"
            "  --ids FILE           one id per line for the item rows (default: the 0-based row numbers)\n"
            "  -k N                 neighbours per query (default 10)\n"
            "  --queries FILE       query vectors .npy: search them against the items instead of all-pairs\n"
            "  --query-ids FILE     ids of the query rows (default: their 0-based row numbers)\n"
            "  --include-self       all-pairs: let an item be its own neighbour (excluded by default)\n"
            "  --device cpu|cuda|auto  where to search (default cpu; auto: the GPU when usable, else the CPU);\n"
            "                       cuda:0,1,3 or cuda:all: the queries split across those GPUs\n"
            "  --precision fp32|bf16  bf16 rounds the vectors to bf16 on the GPU (default fp32, exact)\n"
            "  --threads N          CPU threads (default: all)\n"
            "  --quiet              no progress and no summary\n"
            "  --shard I/N|slurm    the lists of the I-th of N blocks of the queries (against every item), to\n"
            "                       OUT.part-I-of-N.* and a manifest; `userec merge -o OUT` joins the parts\n"
            "filters (CPU only; each list then holds the k best neighbours that pass them all, in the same order):\n"
            "  --min-score S        leave out neighbours scoring below S\n"
            "  --dedupe-above S     leave out neighbours scoring above S: near-duplicates of the query\n"
            "  --only-same COL      only neighbours whose catalogue column COL equals the query's (same category)\n"
            "  --only-other COL     only neighbours whose COL differs from the query's (other brands)\n"
            "  --catalog FILE       the catalogue the vectors were embedded from, for --only-same/--only-other;\n"
            "                       rows match vectors by id: --id-col C (as given to embed), else row number\n"
            "  --catalog-format F   lines|csv|tsv|jsonl (default: from its extension); --delimiter X for csv\n"
            "Beside OUT: OUT.related.json, the options, counts and time of the run (for `userec report`).\n"
            "OUT.csv: header id,rank,neighbor_id,score; one row per neighbour, rank 1 is the most similar.\n"
            "OUT.jsonl: one {\"id\":…,\"neighbors\":[…],\"scores\":[…]} per query. Ids are written as strings, scores\n"
            "with 9 significant digits (the exact fp32 value). A query with fewer than k candidates gets fewer rows.\n");
}

static int parse_options(int argc, char **argv, related_options *opt) {
    enum { O_EMB = 256, O_IDS, O_QUERIES, O_QUERY_IDS, O_INCLUDE_SELF, O_EXCLUDE_SELF, O_DEVICE, O_PRECISION, O_THREADS,
           O_MIN_SCORE, O_DEDUPE, O_ONLY_SAME, O_ONLY_OTHER, O_CATALOG, O_CATALOG_FORMAT, O_ID_COL, O_DELIM, O_SHARD };
    static const struct option longopts[] = {
        {"emb", required_argument, 0, O_EMB},          {"ids", required_argument, 0, O_IDS},
        {"queries", required_argument, 0, O_QUERIES},  {"query-ids", required_argument, 0, O_QUERY_IDS},
        {"include-self", no_argument, 0, O_INCLUDE_SELF}, {"exclude-self", no_argument, 0, O_EXCLUDE_SELF},
        {"device", required_argument, 0, O_DEVICE},    {"precision", required_argument, 0, O_PRECISION},
        {"threads", required_argument, 0, O_THREADS},  {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},                {"help", no_argument, 0, 'h'},
        {"min-score", required_argument, 0, O_MIN_SCORE}, {"dedupe-above", required_argument, 0, O_DEDUPE},
        {"only-same", required_argument, 0, O_ONLY_SAME}, {"only-other", required_argument, 0, O_ONLY_OTHER},
        {"catalog", required_argument, 0, O_CATALOG},  {"catalog-format", required_argument, 0, O_CATALOG_FORMAT},
        {"id-col", required_argument, 0, O_ID_COL},    {"delimiter", required_argument, 0, O_DELIM},
        {"shard", required_argument, 0, O_SHARD},      {0, 0, 0, 0}};
    *opt = (related_options){.k = 10, .exclude_self = -1, .devices = {.kind = USEREC_DEVICE_CPU, .count = 1}};
    char err[256];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:o:q", longopts, NULL)) != -1) {
        switch (c) {
        case O_EMB: opt->emb = optarg; break;
        case O_IDS: opt->ids = optarg; break;
        case O_QUERIES: opt->queries = optarg; break;
        case O_QUERY_IDS: opt->query_ids = optarg; break;
        case O_INCLUDE_SELF: opt->exclude_self = 0; break;
        case O_EXCLUDE_SELF: opt->exclude_self = 1; break;
        case 'o': opt->out = optarg; break;
        case 'q': opt->quiet = 1; break;
        case 'k':
            if (cli_size_option("related", "-k", optarg, 1, INT32_MAX, &opt->k)) return EXIT_USAGE;
            break;
        case O_DEVICE:
            if (cli_devices_option("related", optarg, &opt->devices)) return EXIT_USAGE;
            break;
        case O_SHARD:
            if (shard_parse(optarg, &opt->shard, err, sizeof err)) return cli_fail("related", "%s", err);
            break;
        case O_PRECISION:
            if (strcmp(optarg, "fp32") && strcmp(optarg, "bf16"))
                return cli_fail("related", "--precision is fp32 or bf16, not '%s'", optarg);
            cli_precision_option("related", optarg, &opt->precision);
            break;
        case O_THREADS:
            if (cli_threads_option("related", optarg, &opt->threads)) return EXIT_USAGE;
            break;
        case O_MIN_SCORE:
            if (cli_real_option("related", "--min-score", optarg, -1, 1, &opt->min_score)) return EXIT_USAGE;
            opt->use_min_score = 1;
            break;
        case O_DEDUPE:
            if (cli_real_option("related", "--dedupe-above", optarg, -1, 1, &opt->max_score)) return EXIT_USAGE;
            opt->use_max_score = 1;
            break;
        case O_ONLY_SAME:
        case O_ONLY_OTHER:
            if (opt->group_col) return cli_fail("related", "give one of --only-same and --only-other, once");
            opt->group_col = optarg;
            opt->group_rule = c == O_ONLY_SAME ? USEREC_GROUPS_SAME : USEREC_GROUPS_OTHER;
            break;
        case O_CATALOG: opt->catalog = optarg; break;
        case O_CATALOG_FORMAT: opt->catalog_format = optarg; break;
        case O_ID_COL: opt->catalog_in.id_col = optarg; break;
        case O_DELIM:
            if (strlen(optarg) != 1) return cli_fail("related", "--delimiter wants one character, not '%s'", optarg);
            opt->catalog_in.delimiter = optarg[0];
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail("related", "unexpected argument '%s'", argv[optind]);
    if (opt->group_col && !opt->catalog)
        return cli_fail("related", "--only-same and --only-other name a column of --catalog, which is missing");
    if (!opt->group_col && (opt->catalog || opt->catalog_format || opt->catalog_in.id_col || opt->catalog_in.delimiter))
        return cli_fail("related", "--catalog, --catalog-format, --id-col and --delimiter serve --only-same or --only-other");
    if (opt->group_col && opt->queries)
        return cli_fail("related", "--only-same and --only-other compare items with items (all-pairs): the --queries "
                                   "rows have no catalogue rows");
    if (opt->catalog && cli_catalog_format("related", opt->catalog, opt->catalog_format, &opt->catalog_in.format))
        return EXIT_USAGE;
    const int filtered = opt->use_min_score || opt->use_max_score || opt->group_col;
    if (filtered && (opt->devices.kind == USEREC_DEVICE_CUDA || opt->precision != USEREC_FP32))
        return cli_fail("related", "--min-score, --dedupe-above, --only-same and --only-other run on the CPU only, in "
                                   "fp32: use --device cpu (the fused CUDA top-k has no filters)");
    if (filtered) opt->devices = (userec_devices){.kind = USEREC_DEVICE_CPU, .count = 1}; /* auto: the filters decide */
    if (!opt->emb || !opt->out) {
        usage(stderr);
        return cli_fail("related", "--emb and -o are required");
    }
    if (opt->query_ids && !opt->queries) return cli_fail("related", "--query-ids names the rows of --queries, which is missing");
    if (opt->queries && opt->exclude_self == 1)
        return cli_fail("related", "--exclude-self applies to all-pairs; with --queries the queries are not items");
    if (opt->exclude_self < 0) opt->exclude_self = !opt->queries;
    const char *dot = strrchr(opt->out, '.');
    if (dot && !strcmp(dot, ".csv")) opt->format = LISTS_CSV;
    else if (dot && !strcmp(dot, ".jsonl")) opt->format = LISTS_JSONL;
    else return cli_fail("related", "-o must end in .csv or .jsonl, not '%s'", opt->out);
    if (opt->shard.count && !(opt->out = shard_part_path(opt->out, &opt->shard)))
        return cli_failed("related", USEREC_ERR_NOMEM, "out of memory");
    return 0;
}

/* userec_topk_options.progress: the share of the search done, on the progress line. */
static void report_search(void *arg, double fraction) { progress_report(arg, fraction, "searching", 0); }

/* Loads vectors and their ids (cli_load_vectors); says on stderr how many rows had to be scaled to unit length. */
static int load_side(const char *npy_path, const char *ids_path, int quiet, topk_matrix *m, topk_ids *ids, char *err,
                     size_t err_len) {
    size_t scaled, zero;
    const int rc = cli_load_vectors(npy_path, ids_path, m, ids, &scaled, &zero, err, err_len);
    if (rc) return rc;
    if (!quiet && scaled)
        fprintf(stderr, "related: %s: %zu of %zu rows were not unit length; scaled them to unit length\n", npy_path, scaled,
                m->rows);
    if (!quiet && zero)
        fprintf(stderr, "related: %s: %zu of %zu rows are all zero; they score 0 against everything\n", npy_path, zero,
                m->rows);
    return 0;
}

/* OUT.related.json: the options, counts and time of the run, for `userec report`; the run's manifest, which the
 * caller publishes with the lists. */
static int open_facts(const related_options *opt, const userec_devices *devices, size_t n_queries, size_t n_items,
                      size_t n_groups, double search_s, run_facts *rf, char *err, size_t err_len) {
    char device[256];
    const int rc = run_facts_open_beside(rf, opt->out, ".related.json", "related", err, err_len);
    if (rc) return rc;
    run_facts_string(rf, "emb", opt->emb);
    run_facts_string(rf, "ids", opt->ids);
    run_facts_string(rf, "queries", opt->queries);
    run_facts_string(rf, "output", opt->out);
    run_facts_count(rf, "k", opt->k);
    run_facts_bool(rf, "include_self", !opt->queries && !opt->exclude_self);
    if (opt->use_min_score) run_facts_number(rf, "min_score", opt->min_score);
    if (opt->use_max_score) run_facts_number(rf, "dedupe_above", opt->max_score);
    if (opt->group_col) {
        run_facts_string(rf, opt->group_rule == USEREC_GROUPS_SAME ? "only_same" : "only_other", opt->group_col);
        run_facts_string(rf, "catalog", opt->catalog);
        run_facts_count(rf, "groups", n_groups);
    }
    run_facts_string(rf, "device", userec_devices_name(devices, device, sizeof device));
    run_facts_string(rf, "precision", userec_precision_name(opt->precision));
    run_facts_count(rf, "query_rows", n_queries);
    run_facts_count(rf, "items", n_items);
    run_facts_number(rf, "seconds", search_s);
    return 0;
}

/* --shard: the options that shape the lists, as the manifest records them (merge compares them part by part). */
static void shard_options(const related_options *opt, size_t k, char *text, size_t len) {
    snprintf(text, len, "k=%zu self=%s precision=%s min_score=%.9g dedupe_above=%.9g %s=%s catalog_format=%s id_col=%s "
             "delimiter=%c", k, opt->queries ? "queries" : opt->exclude_self ? "excluded" : "included",
             userec_precision_name(opt->precision), opt->use_min_score ? opt->min_score : NAN,
             opt->use_max_score ? opt->max_score : NAN, opt->group_rule == USEREC_GROUPS_OTHER ? "only_other" :
             "only_same", opt->group_col ? opt->group_col : "-", opt->catalog ? input_format_name(opt->catalog_in.format)
             : "-", opt->catalog_in.id_col ? opt->catalog_in.id_col : "-",
             opt->catalog_in.delimiter ? opt->catalog_in.delimiter : ',');
}

int cmd_related(int argc, char **argv) {
    related_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) return rc;
    const cli_file inputs[] = {{"--emb", opt.emb}, {"--ids", opt.ids}, {"--queries", opt.queries},
                               {"--query-ids", opt.query_ids}, {"--catalog", opt.catalog}};
    char *facts_path = output_sibling(opt.out, ".related.json"), *manifest = shard_manifest_path(opt.out, "related");
    if (!facts_path || !manifest) return cli_failed("related", USEREC_ERR_NOMEM, "out of memory");
    const cli_file outputs[] = {{"-o", opt.out}, {"-o", facts_path}, {"-o", manifest}};
    rc = cli_outputs_spare_inputs("related", inputs, 5, outputs, opt.shard.count ? 3 : 2);
    free(facts_path);
    free(manifest);
    if (rc) return rc;
    userec_devices devices;
    if ((rc = cli_choose_devices("related", &opt.devices, &devices))) return rc;
    if (opt.devices.kind == USEREC_DEVICE_AUTO && devices.kind == USEREC_DEVICE_CPU) opt.precision = USEREC_FP32; /* as its note said */
    if (opt.threads) omp_set_num_threads(opt.threads);
    char err[1024] = "";
    topk_matrix items = {0}, queries = {0};
    topk_ids item_ids = {0}, query_ids = {0};
    int32_t *index = NULL, *groups = NULL;
    float *score = NULL;
    atomic_file out = {.slot = -1};
    run_facts facts = {.file.slot = -1};
    double search_s = 0;
    size_t n_groups = 0;
    rc = opt.shard.count && shard_manifest_remove(opt.out, "related", err, sizeof err) ? FAIL_OUTPUT : 0;
    if (!rc) rc = load_side(opt.emb, opt.ids, opt.quiet, &items, &item_ids, err, sizeof err);
    if (!rc && opt.group_col)
        rc = cli_catalog_groups(opt.catalog, &opt.catalog_in, opt.group_col, &item_ids, items.rows, &groups, &n_groups,
                                err, sizeof err);
    if (!rc && opt.queries) rc = load_side(opt.queries, opt.query_ids, opt.quiet, &queries, &query_ids, err, sizeof err);
    if (!rc && opt.queries && queries.cols != items.cols)
        rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, sizeof err, "%s has %zu-d vectors but %s has %zu-d ones", opt.queries,
                                            queries.cols, opt.emb, items.cols));
    const topk_matrix *q = opt.queries ? &queries : &items;
    const topk_ids *q_ids = opt.queries ? &query_ids : &item_ids;
    /* No list can hold more than every item: memory follows the catalogue, not the -k asked for. */
    const size_t k = opt.k < items.rows ? opt.k : items.rows ? items.rows : 1;
    /* --shard: the lists of one block of the queries, against every item */
    size_t lo = 0, hi = q->rows;
    if (opt.shard.count) shard_block(&opt.shard, q->rows, &lo, &hi);
    const size_t n_block = hi - lo;
    size_t repaired = 0;
    if (!rc && n_block && k > SIZE_MAX / sizeof *score / n_block)
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, sizeof err, "%zu queries x %zu neighbours do not fit in memory", n_block, k));
    if (!rc) {
        size_t n_results = n_block * k;
        if (!n_results) n_results = 1; /* malloc(0) may return NULL */
        index = malloc(n_results * sizeof *index);
        score = malloc(n_results * sizeof *score);
        if (!index || !score)
            rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, sizeof err, "out of memory for %zu x %zu results", n_block, k));
    }
    if (!rc) rc = atomic_open(&out, opt.out, err, sizeof err); /* before the search: a bad path fails at once */
    if (!rc) {
        progress bar;
        progress_start(&bar, progress_style_for_stderr(opt.quiet), "related");
        const userec_topk_options topt = {.k = k, .exclude_self = opt.exclude_self, .device = devices.kind,
                                          .precision = opt.precision, .progress = report_search, .progress_arg = &bar,
                                          .use_min_score = opt.use_min_score, .min_score = (float)opt.min_score,
                                          .use_max_score = opt.use_max_score, .max_score = (float)opt.max_score,
                                          .group_rule = opt.group_rule, .item_group = groups,
                                          .query_group = groups ? groups + lo : NULL, .query_offset = lo,
                                          .devices = &devices};
        const double t0 = now_seconds();
        userec_error uerr;
        if (userec_topk_search(q->data + lo * q->cols, n_block, items.data, items.rows, items.cols, &topt, index, score,
                               &uerr))
            rc = FAIL_AS(uerr.status, ERR(err, sizeof err, "%s", uerr.message));
        search_s = now_seconds() - t0;
        if (!rc) {
            progress_report(&bar, 1, "searched; writing", 1);
            repaired = lists_write(out.fp, opt.format, lo, n_block, k, k, index, score, q_ids, &item_ids);
            rc = open_facts(&opt, &devices, n_block, items.rows, n_groups, search_s, &facts, err, sizeof err);
        }
        publish_set set = {0};
        publish_add(&set, &out);
        if (rc) publish_abort(&set, &facts);
        else rc = publish_commit(&set, &facts, err, sizeof err);
    }
    const char *outcome = "nothing was written";
    if (!rc && opt.shard.count) { /* a part's manifest comes last: merge takes a part with one as complete */
        char options[512];
        shard_options(&opt, k, options, sizeof options);
        const related_shard_facts shard = {.out = opt.out, .inputs = {opt.emb, opt.ids, opt.queries, opt.query_ids,
                                                                       opt.catalog},
                                           .options = options, .format = opt.format == LISTS_CSV ? "csv" : "jsonl",
                                           .rows_start = lo, .rows_end = hi, .rows_total = q->rows};
        if (cli_related_manifest(&opt.shard, &shard, err, sizeof err)) {
            rc = FAIL_OUTPUT;
            outcome = "the part's lists were written, its manifest not";
        }
    }
    const size_t n_items = items.rows, dim = items.cols;
    free(groups);
    free(index);
    free(score);
    topk_matrix_free(&items);
    topk_matrix_free(&queries);
    topk_ids_free(&item_ids);
    topk_ids_free(&query_ids);
    if (rc) return cli_failed("related", rc, "%s (%s)", err, outcome);
    if (repaired)
        fprintf(stderr, "related: warning: %zu ids held invalid UTF-8; JSON must be Unicode, so %s has those bytes as "
                        "U+FFFD (the CSV output keeps ids byte for byte)\n", repaired, opt.out);
    if (!opt.quiet) {
        const double flops = 2.0 * (double)n_block * (double)n_items * (double)dim;
        char device[256];
        fprintf(stderr, "related: %zu queries x %zu items (%zu-d), k=%zu, %s %s: %.3f s (%.1f GFLOP/s counting 2*queries*items*dim) -> %s\n",
                n_block, n_items, dim, opt.k, userec_devices_name(&devices, device, sizeof device),
                opt.precision == USEREC_BF16 ? "bf16" : "fp32", search_s, search_s > 0 ? flops / search_s / 1e9 : 0, opt.out);
    }
    return 0;
}
