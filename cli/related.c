/* related.c: `userec related`: the k most similar items of every item (all-pairs) or of every query
 * vector, written as CSV or JSONL, atomically. */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json_string.h"
#include "common/progress.h"
#include "output/atomic_file.h"
#include "cli.h"
#include "topk/topk.h"
#include "common/util.h"

typedef enum { OUT_CSV, OUT_JSONL } out_format;

typedef struct {
    const char *emb, *ids, *queries, *query_ids, *out;
    size_t k;
    int exclude_self; /* -1: not given */
    int threads, quiet;
    userec_device device;
    userec_precision precision;
    out_format format;
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
            "  --device cpu|cuda|auto  where to search (default cpu; auto: the GPU when usable, else the CPU)\n"
            "  --precision fp32|bf16  bf16 rounds the vectors to bf16 on the GPU (default fp32, exact)\n"
            "  --threads N          CPU threads (default: all)\n"
            "  --quiet              no progress and no summary\n"
            "OUT.csv: header id,rank,neighbor_id,score; one row per neighbour, rank 1 is the most similar.\n"
            "OUT.jsonl: one {\"id\":…,\"neighbors\":[…],\"scores\":[…]} per query. Ids are written as strings, scores\n"
            "with 9 significant digits (the exact fp32 value). A query with fewer than k candidates gets fewer rows.\n");
}

static int parse_options(int argc, char **argv, related_options *opt) {
    enum { O_EMB = 256, O_IDS, O_QUERIES, O_QUERY_IDS, O_INCLUDE_SELF, O_EXCLUDE_SELF, O_DEVICE, O_PRECISION, O_THREADS };
    static const struct option longopts[] = {
        {"emb", required_argument, 0, O_EMB},          {"ids", required_argument, 0, O_IDS},
        {"queries", required_argument, 0, O_QUERIES},  {"query-ids", required_argument, 0, O_QUERY_IDS},
        {"include-self", no_argument, 0, O_INCLUDE_SELF}, {"exclude-self", no_argument, 0, O_EXCLUDE_SELF},
        {"device", required_argument, 0, O_DEVICE},    {"precision", required_argument, 0, O_PRECISION},
        {"threads", required_argument, 0, O_THREADS},  {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},                {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    *opt = (related_options){.k = 10, .exclude_self = -1};
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
            if (cli_device_option("related", optarg, &opt->device)) return EXIT_USAGE;
            break;
        case O_PRECISION:
            if (strcmp(optarg, "fp32") && strcmp(optarg, "bf16"))
                return cli_fail("related", "--precision is fp32 or bf16, not '%s'", optarg);
            cli_precision_option("related", optarg, &opt->precision);
            break;
        case O_THREADS:
            if (cli_threads_option("related", optarg, &opt->threads)) return EXIT_USAGE;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail("related", "unexpected argument '%s'", argv[optind]);
    if (!opt->emb || !opt->out) {
        usage(stderr);
        return cli_fail("related", "--emb and -o are required");
    }
    if (opt->query_ids && !opt->queries) return cli_fail("related", "--query-ids names the rows of --queries, which is missing");
    if (opt->queries && opt->exclude_self == 1)
        return cli_fail("related", "--exclude-self applies to all-pairs; with --queries the queries are not items");
    if (opt->exclude_self < 0) opt->exclude_self = !opt->queries;
    const char *dot = strrchr(opt->out, '.');
    if (dot && !strcmp(dot, ".csv")) opt->format = OUT_CSV;
    else if (dot && !strcmp(dot, ".jsonl")) opt->format = OUT_JSONL;
    else return cli_fail("related", "-o must end in .csv or .jsonl, not '%s'", opt->out);
    return 0;
}

/* RFC 4180: a field holding a comma, quote or line break is quoted, its quotes doubled. */
static void put_csv_field(FILE *f, const char *s) {
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

/* Row r's id: its line of the ids file, or its row number. */
typedef struct {
    const topk_ids *ids;
    char buf[24];
} id_namer;

static const char *id_of(id_namer *n, size_t row) {
    if (n->ids->line) return n->ids->line[row];
    snprintf(n->buf, sizeof n->buf, "%zu", row);
    return n->buf;
}

/* Writes the lists; returns how many ids the JSONL had to write with U+FFFD (invalid UTF-8). */
static size_t write_results(FILE *f, out_format format, size_t n_queries, size_t k, const int32_t *index,
                            const float *score, const topk_ids *query_ids, const topk_ids *item_ids) {
    size_t repaired = 0;
    id_namer qn = {.ids = query_ids}, in = {.ids = item_ids};
    if (format == OUT_CSV) fputs("id,rank,neighbor_id,score\n", f);
    for (size_t q = 0; q < n_queries; q++) {
        const int32_t *qi = index + q * k;
        const float *qs = score + q * k;
        size_t found = 0;
        while (found < k && qi[found] != USEREC_TOPK_EMPTY) found++;
        const char *id = id_of(&qn, q);
        if (format == OUT_CSV) {
            for (size_t r = 0; r < found; r++) {
                put_csv_field(f, id);
                fprintf(f, ",%zu,", r + 1);
                put_csv_field(f, id_of(&in, (size_t)qi[r]));
                fprintf(f, ",%.9g\n", qs[r]);
            }
        } else {
            fputs("{\"id\":", f);
            repaired += (size_t)json_string_write(f, id);
            fputs(",\"neighbors\":[", f);
            for (size_t r = 0; r < found; r++) {
                if (r) fputc(',', f);
                repaired += (size_t)json_string_write(f, id_of(&in, (size_t)qi[r]));
            }
            fputs("],\"scores\":[", f);
            for (size_t r = 0; r < found; r++) fprintf(f, r ? ",%.9g" : "%.9g", qs[r]);
            fputs("]}\n", f);
        }
    }
    return repaired;
}

/* userec_topk_options.progress: the share of the search done, on the progress line. */
static void report_search(void *arg, double fraction) { progress_report(arg, fraction, "searching", 0); }

/* Loads vectors and their ids; says on stderr how many rows had to be scaled to unit length. */
static int load_side(const char *npy_path, const char *ids_path, int quiet, topk_matrix *m, topk_ids *ids, char *err,
                     size_t err_len) {
    size_t scaled, zero;
    if (topk_load_vectors(npy_path, m, &scaled, &zero, err, err_len)) return -1;
    if (ids_path && topk_read_ids(ids_path, npy_path, m->rows, ids, err, err_len)) {
        topk_matrix_free(m);
        return -1;
    }
    if (!quiet && scaled)
        fprintf(stderr, "related: %s: %zu of %zu rows were not unit length; scaled them to unit length\n", npy_path, scaled,
                m->rows);
    if (!quiet && zero)
        fprintf(stderr, "related: %s: %zu of %zu rows are all zero; they score 0 against everything\n", npy_path, zero,
                m->rows);
    return 0;
}

int cmd_related(int argc, char **argv) {
    related_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) return rc;
    const cli_file inputs[] = {{"--emb", opt.emb}, {"--ids", opt.ids}, {"--queries", opt.queries},
                               {"--query-ids", opt.query_ids}};
    if (cli_outputs_spare_inputs("related", inputs, 4, &(cli_file){"-o", opt.out}, 1)) return EXIT_USAGE;
    userec_device device;
    if (cli_search_device("related", opt.device, &device)) return EXIT_FAILED;
    if (opt.device == USEREC_DEVICE_AUTO && device == USEREC_DEVICE_CPU) opt.precision = USEREC_FP32; /* as its note said */
    if (opt.threads) omp_set_num_threads(opt.threads);
    char err[1024] = "";
    topk_matrix items = {0}, queries = {0};
    topk_ids item_ids = {0}, query_ids = {0};
    int32_t *index = NULL;
    float *score = NULL;
    atomic_file out = {0};
    double search_s = 0;
    rc = load_side(opt.emb, opt.ids, opt.quiet, &items, &item_ids, err, sizeof err);
    if (!rc && opt.queries) rc = load_side(opt.queries, opt.query_ids, opt.quiet, &queries, &query_ids, err, sizeof err);
    if (!rc && opt.queries && queries.cols != items.cols)
        rc = ERR(err, sizeof err, "%s has %zu-d vectors but %s has %zu-d ones", opt.queries, queries.cols, opt.emb, items.cols);
    const topk_matrix *q = opt.queries ? &queries : &items;
    const topk_ids *q_ids = opt.queries ? &query_ids : &item_ids;
    /* No list can hold more than every item: memory follows the catalogue, not the -k asked for. */
    const size_t k = opt.k < items.rows ? opt.k : items.rows ? items.rows : 1;
    size_t repaired = 0;
    if (!rc && q->rows && k > SIZE_MAX / sizeof *score / q->rows)
        rc = ERR(err, sizeof err, "%zu queries x %zu neighbours do not fit in memory", q->rows, k);
    if (!rc) {
        size_t n_results = q->rows * k;
        if (!n_results) n_results = 1; /* malloc(0) may return NULL */
        index = malloc(n_results * sizeof *index);
        score = malloc(n_results * sizeof *score);
        if (!index || !score) rc = ERR(err, sizeof err, "out of memory for %zu x %zu results", q->rows, k);
    }
    if (!rc) rc = atomic_open(&out, opt.out, err, sizeof err); /* before the search: a bad path fails at once */
    if (!rc) {
        progress bar;
        progress_start(&bar, progress_style_for_stderr(opt.quiet), "related");
        const userec_topk_options topt = {.k = k, .exclude_self = opt.exclude_self, .device = device,
                                          .precision = opt.precision, .progress = report_search, .progress_arg = &bar};
        const double t0 = now_seconds();
        userec_error uerr;
        if (userec_topk_search(q->data, q->rows, items.data, items.rows, items.cols, &topt, index, score, &uerr))
            rc = ERR(err, sizeof err, "%s", uerr.message);
        search_s = now_seconds() - t0;
        if (!rc) {
            progress_report(&bar, 1, "searched; writing", 1);
            repaired = write_results(out.fp, opt.format, q->rows, k, index, score, q_ids, &item_ids);
            if (ferror(out.fp)) rc = SYS_ERR(err, sizeof err, out.tmp_path, "write");
        }
        if (rc) atomic_abort(&out);
        else rc = atomic_commit(&out, err, sizeof err);
    }
    const size_t n_queries = q->rows, n_items = items.rows, dim = items.cols;
    free(index);
    free(score);
    topk_matrix_free(&items);
    topk_matrix_free(&queries);
    topk_ids_free(&item_ids);
    topk_ids_free(&query_ids);
    if (rc) return cli_failed("related", "%s (nothing was written)", err);
    if (repaired)
        fprintf(stderr, "related: warning: %zu ids held invalid UTF-8; JSON must be Unicode, so %s has those bytes as "
                        "U+FFFD (the CSV output keeps ids byte for byte)\n", repaired, opt.out);
    if (!opt.quiet) {
        const double flops = 2.0 * (double)n_queries * (double)n_items * (double)dim;
        fprintf(stderr, "related: %zu queries x %zu items (%zu-d), k=%zu, %s %s: %.3f s (%.1f GFLOP/s counting 2*queries*items*dim) -> %s\n",
                n_queries, n_items, dim, opt.k, device == USEREC_DEVICE_CUDA ? "cuda" : "cpu",
                opt.precision == USEREC_BF16 ? "bf16" : "fp32", search_s, search_s > 0 ? flops / search_s / 1e9 : 0, opt.out);
    }
    return 0;
}
