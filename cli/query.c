/* query.c: `userec query`: embed one or more texts with the model and print, for each, the catalogue
 * items whose vectors are closest (cosine, exact top-k), with their text when a catalogue is given. The texts
 * are encoded and searched on the CPU, or with --device cuda|auto on the GPU encoder and the fused CUDA top-k. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "common/grow.h"
#include "common/error.h"
#include "common/json_string.h"
#include "output/atomic_file.h"
#include "input/input.h"
#include "topk/topk.h"
#include "userec.h"
#include "common/util.h"

typedef enum { OUT_TABLE, OUT_JSON } out_format;

typedef struct {
    const char *model, *emb, *ids, *catalog, *text_col, *id_col, *catalog_format, *out;
    input_format catalog_in_format; /* --catalog-format, or what the catalogue's name says */
    size_t k;
    userec_devices devices;
    out_format format;
} query_options;

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec query --model MODEL.usew --emb ITEMS.npy [--ids ITEMS.ids] [-k 10] [-o FILE] [--format F]\n"
            "                    [--catalog FILE --text-col COLS [--id-col COL] [--catalog-format F]] TEXT...|-\n"
            "  TEXT...              the texts to search for; - reads them from stdin, one per line\n"
            "  --emb, --ids         the item vectors and their ids, as `userec embed` wrote them (without --ids\n"
            "                       the items are named by row number)\n"
            "  --catalog FILE       the catalogue the items came from, to show each neighbour's text: a row\n"
            "                       matches an item when its id (--id-col, else its 0-based data row number)\n"
            "                       equals the item's id\n"
            "  --text-col COLS      comma-separated columns joined into the text (csv, tsv, jsonl)\n"
            "  --id-col COL         the catalogue column holding the ids\n"
            "  --catalog-format F   lines|csv|tsv|jsonl (default: from the catalogue's extension, .gz allowed)\n"
            "  -k N                 neighbours per text (default 10)\n"
            "  -o FILE              write the results to FILE (atomically) instead of stdout\n"
            "  --format table|json  table (default): per text, rank, score (cosine), id and, with --catalog, text;\n"
            "                       json: one JSON object per text and line: {\"query\": TEXT, \"neighbors\":\n"
            "                       [{\"rank\": 1, \"id\": ..., \"score\": ..., \"text\": ...}, ...]}\n"
            "  --device cpu|cuda|auto  where to encode the texts and search, in fp32 (default cpu; auto: the GPU\n"
            "                       when usable, else the CPU); cuda:0,1 or cuda:all: several GPUs\n"
            "An empty text is refused, as `embed` refuses it.\n");
}

static int parse_options(int argc, char **argv, query_options *opt) {
    enum { O_MODEL = 256, O_EMB, O_IDS, O_CATALOG, O_TEXT_COL, O_ID_COL, O_CATALOG_FORMAT, O_FORMAT, O_DEVICE };
    static const struct option longopts[] = {
        {"model", required_argument, 0, O_MODEL},       {"emb", required_argument, 0, O_EMB},
        {"ids", required_argument, 0, O_IDS},           {"catalog", required_argument, 0, O_CATALOG},
        {"text-col", required_argument, 0, O_TEXT_COL}, {"id-col", required_argument, 0, O_ID_COL},
        {"catalog-format", required_argument, 0, O_CATALOG_FORMAT},
        {"format", required_argument, 0, O_FORMAT},     {"device", required_argument, 0, O_DEVICE},
        {"output", required_argument, 0, 'o'},          {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    *opt = (query_options){.k = 10, .devices = {.kind = USEREC_DEVICE_CPU, .count = 1}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:o:", longopts, NULL)) != -1) {
        switch (c) {
        case O_MODEL: opt->model = optarg; break;
        case O_EMB: opt->emb = optarg; break;
        case O_IDS: opt->ids = optarg; break;
        case O_CATALOG: opt->catalog = optarg; break;
        case O_TEXT_COL: opt->text_col = optarg; break;
        case O_ID_COL: opt->id_col = optarg; break;
        case O_CATALOG_FORMAT: opt->catalog_format = optarg; break;
        case 'o': opt->out = optarg; break;
        case O_FORMAT:
            if (!strcmp(optarg, "table")) opt->format = OUT_TABLE;
            else if (!strcmp(optarg, "json")) opt->format = OUT_JSON;
            else
                return cli_fail("query", "--format is the output's, table or json, not '%s'%s", optarg,
                                strcmp(optarg, "lines") && strcmp(optarg, "csv") && strcmp(optarg, "tsv") &&
                                        strcmp(optarg, "jsonl")
                                    ? ""
                                    : " (the catalogue's format is --catalog-format)");
            break;
        case O_DEVICE:
            if (cli_devices_option("query", optarg, &opt->devices)) return EXIT_USAGE;
            break;
        case 'k':
            if (cli_size_option("query", "-k", optarg, 1, INT32_MAX, &opt->k)) return EXIT_USAGE;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (!opt->model || !opt->emb || optind == argc) {
        usage(stderr);
        return cli_fail("query", "--model, --emb and at least one TEXT (or - for stdin) are required");
    }
    if (!opt->catalog && (opt->text_col || opt->id_col || opt->catalog_format))
        return cli_fail("query", "--text-col, --id-col and --catalog-format describe --catalog, which is missing");
    if (opt->catalog && cli_catalog_format("query", opt->catalog, opt->catalog_format, &opt->catalog_in_format))
        return EXIT_USAGE;
    return 0;
}

typedef struct {
    char **text;
    size_t n, cap;
} text_list;

static int add_text(text_list *l, char *text, char *err, size_t err_len) {
    if (GROW(l->text, l->cap, l->n + 1)) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu texts", l->n + 1));
    l->text[l->n++] = text;
    return 0;
}

/* The texts to search for: the arguments, each "-" replaced by the lines of stdin. Every text must be non-empty.
 * Returns 0, or EXIT_USAGE after saying which text is empty, or -1 with err set (out of memory, a read error). */
static int gather_texts(char **args, size_t n_args, text_list *l, char *err, size_t err_len) {
    for (size_t a = 0; a < n_args; a++) {
        if (strcmp(args[a], "-")) {
            if (!*args[a]) return cli_fail("query", "text %zu is empty: there is nothing to search for", a + 1);
            char *copy = strdup(args[a]);
            if (!copy || add_text(l, copy, err, err_len)) return free(copy), FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
            continue;
        }
        char *line = NULL;
        size_t cap = 0, line_no = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, stdin)) >= 0) {
            line_no++;
            if (len && line[len - 1] == '\n') line[--len] = 0;
            if (len && line[len - 1] == '\r') line[--len] = 0;
            if (!len) {
                free(line);
                return cli_fail("query", "<stdin>:%zu: empty text: there is nothing to search for", line_no);
            }
            if (add_text(l, line, err, err_len)) return free(line), -1;
            line = NULL, cap = 0;
        }
        free(line);
        if (ferror(stdin)) return SYS_ERR(err, err_len, "<stdin>", "read");
    }
    return l->n ? 0 : cli_fail("query", "no texts on stdin");
}

/* Tokenizes the texts with the model's default tokenizer and encodes them on `devices` (fp32) into n rows of dim
 * floats. */
static int embed_texts(const char *model_path, const userec_devices *devices, char **texts, size_t n, float **out,
                       size_t *dim, userec_text_counts *counts, char *err, size_t err_len) {
    userec_error uerr;
    userec_model *m = userec_load(model_path, &uerr);
    userec_encoder *enc = m ? userec_encoder_open_on(m, devices, USEREC_FP32, stderr, &uerr) : NULL;
    size_t *lens = malloc(n * sizeof *lens);
    int rc = !enc ? FAIL_AS(uerr.status, ERR(err, err_len, "%s", uerr.message)) : 0;
    if (!rc) *dim = userec_info(m).dim;
    if (!rc && !(lens && (*out = malloc(n * *dim * sizeof **out)))) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    for (size_t i = 0; !rc && i < n; i++) lens[i] = strlen(texts[i]);
    if (!rc && userec_encoder_encode_texts(enc, USEREC_TOKENIZER_DEFAULT, (const char *const *)texts, lens, n, *out,
                                           counts, &uerr))
        rc = FAIL_AS(uerr.status, ERR(err, err_len, "%s", uerr.message));
    free(lens);
    userec_encoder_close(enc);
    userec_free(m);
    return rc;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The catalogue texts of the ids in `wanted` (sorted, unique): text[i] for wanted[i], NULL if never seen. */
static int catalogue_texts(const query_options *opt, char **wanted, size_t n_wanted, char **text, char *err, size_t err_len) {
    const input_options in = {.format = opt->catalog_in_format, .text_cols = opt->text_col, .id_col = opt->id_col};
    int failure = 0;
    input_reader *r = input_open(opt->catalog, &in, &failure, err, err_len);
    if (!r) return failure;
    input_record rec;
    int got;
    while ((got = input_next(r, &rec, err, err_len)) == 1) {
        const char *key = rec.id;
        char **hit = bsearch(&key, wanted, n_wanted, sizeof *wanted, compare_strings);
        if (hit && !text[hit - wanted] && !(text[hit - wanted] = strdup(rec.reject ? "" : rec.text))) {
            failure = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
            break;
        }
    }
    if (got < 0) failure = input_failure(r);
    input_close(r);
    return failure;
}

/* Item j's name: its line of the ids file, or its row number (written into buf). */
static const char *item_name(const topk_ids *ids, int32_t j, char buf[24]) {
    if (ids->line) return ids->line[j];
    snprintf(buf, 24, "%d", j);
    return buf;
}

/* The names of the items in index (USEREC_TOPK_EMPTY skipped), copied, sorted and unique. Returns -1 when out of memory. */
static int names_to_look_up(const int32_t *index, size_t n, const topk_ids *ids, char ***names, size_t *count) {
    char buf[24], **list = calloc(n ? n : 1, sizeof *list);
    size_t m = 0;
    if (!list) return -1;
    for (size_t i = 0; i < n; i++) {
        if (index[i] == USEREC_TOPK_EMPTY) continue;
        if (!(list[m] = strdup(item_name(ids, index[i], buf)))) {
            while (m) free(list[--m]);
            free(list);
            return -1;
        }
        m++;
    }
    qsort(list, m, sizeof *list, compare_strings);
    size_t unique = 0;
    for (size_t i = 0; i < m; i++)
        if (!unique || strcmp(list[unique - 1], list[i])) list[unique++] = list[i];
        else free(list[i]);
    *names = list;
    *count = unique;
    return 0;
}

/* A catalogue text on one table line: control characters as spaces, cut at 100 bytes on a UTF-8 boundary. */
static void print_text(FILE *f, const char *s) {
    size_t n = strlen(s), cut = n > 100 ? 100 : n;
    while (cut < n && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    for (size_t i = 0; i < cut; i++) fputc((unsigned char)s[i] < 0x20 ? ' ' : s[i], f);
    fputs(cut < n ? "...\n" : "\n", f);
}

/* What the results are written with: the texts searched, the lists, and the neighbours' names and texts. */
typedef struct {
    const query_options *opt;
    const text_list *texts;
    size_t k;
    const int32_t *index;
    const float *score;
    const topk_ids *item_ids;
    char **names, **name_text; /* with --catalog: the neighbours' names, sorted, and their texts */
    size_t n_names;
} results;

/* The catalogue text of neighbour id, or NULL when there is no catalogue or the id is not in it. */
static const char *text_of(const results *r, const char *id) {
    if (!r->opt->catalog) return NULL;
    char **hit = bsearch(&id, r->names, r->n_names, sizeof *r->names, compare_strings);
    return hit ? r->name_text[hit - r->names] : NULL;
}

static void write_table(FILE *f, const results *r) {
    char buf[24];
    for (size_t t = 0; t < r->texts->n; t++) {
        fprintf(f, "%s\"%s\"\n", t ? "\n" : "", r->texts->text[t]);
        fprintf(f, "rank  score     id%s\n", r->opt->catalog ? "\ttext" : "");
        for (size_t k = 0; k < r->k && r->index[t * r->k + k] != USEREC_TOPK_EMPTY; k++) {
            const char *id = item_name(r->item_ids, r->index[t * r->k + k], buf), *text = text_of(r, id);
            fprintf(f, "%4zu  %.6f  %s", k + 1, r->score[t * r->k + k], id);
            if (!r->opt->catalog) fputc('\n', f);
            else if (text) fputc('\t', f), print_text(f, text);
            else fputs("\t(not in the catalogue)\n", f);
        }
    }
}

/* One JSON object per text and line; returns how many strings held invalid UTF-8 (written as U+FFFD). */
static size_t write_json(FILE *f, const results *r) {
    char buf[24];
    size_t repaired = 0;
    for (size_t t = 0; t < r->texts->n; t++) {
        fputs("{\"query\": ", f);
        repaired += (size_t)json_string_write(f, r->texts->text[t]);
        fputs(", \"neighbors\": [", f);
        for (size_t k = 0; k < r->k && r->index[t * r->k + k] != USEREC_TOPK_EMPTY; k++) {
            const char *id = item_name(r->item_ids, r->index[t * r->k + k], buf), *text = text_of(r, id);
            fprintf(f, "%s{\"rank\": %zu, \"id\": ", k ? ", " : "", k + 1);
            repaired += (size_t)json_string_write(f, id);
            fprintf(f, ", \"score\": %.9g", r->score[t * r->k + k]);
            if (r->opt->catalog) {
                fputs(", \"text\": ", f);
                if (text) repaired += (size_t)json_string_write(f, text);
                else fputs("null", f);
            }
            fputc('}', f);
        }
        fputs("]}\n", f);
    }
    return repaired;
}

/* Writes the results to -o FILE atomically, or to stdout. */
static int write_results(const results *r, char *err, size_t err_len) {
    atomic_file out = {.slot = -1};
    FILE *f = stdout;
    if (r->opt->out) {
        const int failure = atomic_open(&out, r->opt->out, err, err_len);
        if (failure) return failure;
        f = out.fp;
    }
    const size_t repaired = r->opt->format == OUT_JSON ? write_json(f, r) : (write_table(f, r), 0);
    if (repaired)
        fprintf(stderr, "query: warning: %zu strings held invalid UTF-8; JSON must be Unicode, so those bytes are "
                        "written as U+FFFD\n", repaired);
    if (!r->opt->out) return fflush(stdout) ? FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, "<stdout>", "write")) : 0;
    return atomic_commit(&out, err, err_len); /* a write error shows at its flush */
}

int cmd_query(int argc, char **argv) {
    query_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) return rc;
    const cli_file inputs[] = {{"--model", opt.model}, {"--emb", opt.emb}, {"--ids", opt.ids}, {"--catalog", opt.catalog}};
    if (cli_outputs_spare_inputs("query", inputs, 4, &(cli_file){"-o", opt.out}, 1)) return EXIT_USAGE;
    char err[1024] = "";
    text_list texts = {0};
    topk_matrix items = {0};
    topk_ids item_ids = {0};
    float *vectors = NULL, *score = NULL;
    int32_t *index = NULL;
    results res = {.opt = &opt, .texts = &texts, .item_ids = &item_ids};
    size_t dim = 0, scaled = 0, zero, n_items = 0;
    userec_text_counts counts = {0};
    userec_devices devices; /* for both the encoder and the search: auto that fell back has said so once */
    if ((rc = gather_texts(argv + optind, (size_t)(argc - optind), &texts, err, sizeof err))) goto done;
    if ((rc = cli_choose_devices("query", &opt.devices, &devices))) goto done;
    rc = cli_load_vectors(opt.emb, opt.ids, &items, &item_ids, &scaled, &zero, err, sizeof err);
    n_items = items.rows;
    /* No list can hold more than every item: memory follows the catalogue, not the -k asked for. */
    const size_t k = res.k = opt.k < n_items ? opt.k : n_items ? n_items : 1;
    if (!rc) rc = embed_texts(opt.model, &devices, texts.text, texts.n, &vectors, &dim, &counts, err, sizeof err);
    if (!rc && dim != items.cols)
        rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, sizeof err, "%s holds %zu-d vectors but %s makes %zu-d ones", opt.emb,
                                            items.cols, opt.model, dim));
    if (!rc && k > SIZE_MAX / sizeof *score / texts.n)
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, sizeof err, "%zu texts x %zu neighbours do not fit in memory", texts.n, k));
    if (!rc && !((index = malloc(texts.n * k * sizeof *index)) && (score = malloc(texts.n * k * sizeof *score))))
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, sizeof err, "out of memory for %zu x %zu results", texts.n, k));
    if (!rc) {
        const userec_topk_options topt = {.k = k, .device = devices.kind, .devices = &devices};
        userec_error uerr;
        if (userec_topk_search(vectors, texts.n, items.data, items.rows, dim, &topt, index, score, &uerr))
            rc = FAIL_AS(uerr.status, ERR(err, sizeof err, "%s", uerr.message));
    }
    res.index = index, res.score = score;
    if (!rc && opt.catalog) {
        if (names_to_look_up(index, texts.n * k, &item_ids, &res.names, &res.n_names) ||
            !(res.name_text = calloc(res.n_names + 1, sizeof *res.name_text)))
            rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, sizeof err, "out of memory"));
        else
            rc = catalogue_texts(&opt, res.names, res.n_names, res.name_text, err, sizeof err);
    }
    if (!rc) rc = write_results(&res, err, sizeof err);
    if (rc) rc = cli_failed("query", rc, "%s", err);
    else if (scaled)
        fprintf(stderr, "query: %s: %zu of %zu rows were not unit length; scaled them to unit length\n", opt.emb, scaled,
                n_items);
    if (!rc && counts.clipped)
        fprintf(stderr, "query: %zu text(s) longer than the model's limit were cut to their first tokens\n", counts.clipped);
done:
    for (size_t i = 0; i < res.n_names; i++) free(res.names[i]), free(res.name_text ? res.name_text[i] : NULL);
    free(res.names);
    free(res.name_text);
    for (size_t i = 0; i < texts.n; i++) free(texts.text[i]);
    free(texts.text);
    free(index);
    free(score);
    free(vectors);
    topk_matrix_free(&items);
    topk_ids_free(&item_ids);
    return rc;
}
