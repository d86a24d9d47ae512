/* query.c: `userec query`: embed one or more texts with the model and print, for each, the catalogue
 * items whose vectors are closest (cosine, exact top-k), with their text when a catalogue is given. The texts
 * are encoded and searched on the CPU, or with --device cuda|auto on the GPU encoder and the fused CUDA top-k. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "input/input.h"
#include "topk/topk.h"
#include "userec.h"
#include "common/util.h"

typedef struct {
    const char *model, *emb, *ids, *catalog, *text_col, *id_col, *format;
    size_t k;
    userec_device device;
} query_options;

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec query --model MODEL.usew --emb ITEMS.npy [--ids ITEMS.ids] [-k 10]\n"
            "                    [--catalog FILE --text-col COLS [--id-col COL] [--format F]] TEXT...\n"
            "  --emb, --ids         the item vectors and their ids, as `userec embed` wrote them (without --ids\n"
            "                       the items are named by row number)\n"
            "  --catalog FILE       the catalogue the items came from, to print each neighbour's text: a row\n"
            "                       matches an item when its id (--id-col, else its 0-based data row number)\n"
            "                       equals the item's id\n"
            "  --text-col COLS      comma-separated columns joined into the text (csv, tsv, jsonl)\n"
            "  --id-col COL         the catalogue column holding the ids\n"
            "  --format F           lines|csv|tsv|jsonl (default: from the catalogue's extension)\n"
            "  -k N                 neighbours per text (default 10)\n"
            "  --device cpu|cuda|auto  where to encode the texts and search, in fp32 (default cpu; auto: the GPU\n"
            "                       when usable, else the CPU)\n"
            "Prints, for each TEXT, a table of rank, score (cosine), id and, with --catalog, text.\n");
}

static int parse_options(int argc, char **argv, query_options *opt) {
    enum { O_MODEL = 256, O_EMB, O_IDS, O_CATALOG, O_TEXT_COL, O_ID_COL, O_FORMAT, O_DEVICE };
    static const struct option longopts[] = {
        {"model", required_argument, 0, O_MODEL},       {"emb", required_argument, 0, O_EMB},
        {"ids", required_argument, 0, O_IDS},           {"catalog", required_argument, 0, O_CATALOG},
        {"text-col", required_argument, 0, O_TEXT_COL}, {"id-col", required_argument, 0, O_ID_COL},
        {"format", required_argument, 0, O_FORMAT},     {"device", required_argument, 0, O_DEVICE},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    *opt = (query_options){.k = 10};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:", longopts, NULL)) != -1) {
        switch (c) {
        case O_MODEL: opt->model = optarg; break;
        case O_EMB: opt->emb = optarg; break;
        case O_IDS: opt->ids = optarg; break;
        case O_CATALOG: opt->catalog = optarg; break;
        case O_TEXT_COL: opt->text_col = optarg; break;
        case O_ID_COL: opt->id_col = optarg; break;
        case O_FORMAT: opt->format = optarg; break;
        case O_DEVICE:
            if (cli_device_option("query", optarg, &opt->device)) return EXIT_USAGE;
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
        return cli_fail("query", "--model, --emb and at least one TEXT are required");
    }
    if (!opt->catalog && (opt->text_col || opt->id_col || opt->format))
        return cli_fail("query", "--text-col, --id-col and --format describe --catalog, which is missing");
    return 0;
}

/* Tokenizes the texts with the model's default tokenizer and encodes them on `device` (fp32) into n rows of dim
 * floats. */
static int embed_texts(const char *model_path, userec_device device, char **texts, size_t n, float **out, size_t *dim,
                       userec_text_counts *counts, char *err, size_t err_len) {
    userec_error uerr;
    userec_model *m = userec_load(model_path, &uerr);
    userec_encoder *enc = m ? userec_encoder_open(m, device, USEREC_FP32, stderr, &uerr) : NULL;
    size_t *lens = malloc(n * sizeof *lens);
    int rc = !enc ? ERR(err, err_len, "%s", uerr.message) : 0;
    if (!rc) *dim = userec_info(m).dim;
    if (!rc && !(lens && (*out = malloc(n * *dim * sizeof **out)))) rc = ERR(err, err_len, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) lens[i] = strlen(texts[i]);
    if (!rc && userec_encoder_encode_texts(enc, USEREC_TOKENIZER_DEFAULT, (const char *const *)texts, lens, n, *out,
                                           counts, &uerr))
        rc = ERR(err, err_len, "%s", uerr.message);
    free(lens);
    userec_encoder_close(enc);
    userec_free(m);
    return rc;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The catalogue texts of the ids in `wanted` (sorted, unique): text[i] for wanted[i], NULL if never seen. */
static int catalogue_texts(const query_options *opt, char **wanted, size_t n_wanted, char **text, char *err, size_t err_len) {
    input_options in = {.text_cols = opt->text_col, .id_col = opt->id_col};
    if (opt->format) {
        static const struct {
            const char *name;
            input_format format;
        } formats[] = {{"lines", INPUT_LINES}, {"csv", INPUT_CSV}, {"tsv", INPUT_TSV}, {"jsonl", INPUT_JSONL}};
        size_t i = 0;
        while (i < sizeof formats / sizeof *formats && strcmp(formats[i].name, opt->format)) i++;
        if (i == sizeof formats / sizeof *formats) return ERR(err, err_len, "--format is lines, csv, tsv or jsonl, not '%s'", opt->format);
        in.format = formats[i].format;
    } else if (input_guess_format(opt->catalog, &in.format) || in.format == INPUT_IDS) {
        return ERR(err, err_len, "%s: cannot tell the catalogue's format from its name; pass --format", opt->catalog);
    }
    input_reader *r = input_open(opt->catalog, &in, err, err_len);
    if (!r) return -1;
    input_record rec;
    int got;
    while ((got = input_next(r, &rec, err, err_len)) == 1) {
        const char *key = rec.id;
        char **hit = bsearch(&key, wanted, n_wanted, sizeof *wanted, compare_strings);
        if (hit && !text[hit - wanted] && !(text[hit - wanted] = strdup(rec.reject ? "" : rec.text))) {
            got = ERR(err, err_len, "out of memory");
            break;
        }
    }
    input_close(r);
    return got < 0 ? -1 : 0;
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
static void print_text(const char *s) {
    size_t n = strlen(s), cut = n > 100 ? 100 : n;
    while (cut < n && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    for (size_t i = 0; i < cut; i++) putchar((unsigned char)s[i] < 0x20 ? ' ' : s[i]);
    fputs(cut < n ? "...\n" : "\n", stdout);
}

int cmd_query(int argc, char **argv) {
    query_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) return rc;
    char **texts = argv + optind, err[1024] = "", buf[24];
    const size_t n_texts = (size_t)(argc - optind), k = opt.k;
    topk_matrix items = {0};
    topk_ids item_ids = {0};
    float *vectors = NULL, *score = NULL;
    int32_t *index = NULL;
    char **names = NULL, **name_text = NULL; /* with --catalog: the neighbours' names, sorted, and their texts */
    size_t dim = 0, scaled = 0, zero, n_names = 0, n_items = 0;
    userec_text_counts counts = {0};
    userec_device search_device;
    if (cli_search_device("query", opt.device, &search_device)) return EXIT_FAILED;
    /* auto that fell back has said so once: the encoder then goes straight to the CPU */
    const userec_device encode_device = search_device == USEREC_DEVICE_CPU ? USEREC_DEVICE_CPU : opt.device;
    rc = topk_load_vectors(opt.emb, &items, &scaled, &zero, err, sizeof err);
    n_items = items.rows;
    if (!rc && opt.ids) rc = topk_read_ids(opt.ids, opt.emb, items.rows, &item_ids, err, sizeof err);
    if (!rc) rc = embed_texts(opt.model, encode_device, texts, n_texts, &vectors, &dim, &counts, err, sizeof err);
    if (!rc && dim != items.cols)
        rc = ERR(err, sizeof err, "%s holds %zu-d vectors but %s makes %zu-d ones", opt.emb, items.cols, opt.model, dim);
    if (!rc && !((index = malloc(n_texts * k * sizeof *index)) && (score = malloc(n_texts * k * sizeof *score))))
        rc = ERR(err, sizeof err, "out of memory for %zu x %zu results", n_texts, k);
    if (!rc) {
        const userec_topk_options topt = {.k = k, .device = search_device};
        userec_error uerr;
        if (userec_topk_search(vectors, n_texts, items.data, items.rows, dim, &topt, index, score, &uerr))
            rc = ERR(err, sizeof err, "%s", uerr.message);
    }
    if (!rc && opt.catalog) {
        if (names_to_look_up(index, n_texts * k, &item_ids, &names, &n_names) || !(name_text = calloc(n_names + 1, sizeof *name_text)))
            rc = ERR(err, sizeof err, "out of memory");
        else
            rc = catalogue_texts(&opt, names, n_names, name_text, err, sizeof err);
    }
    for (size_t t = 0; !rc && t < n_texts; t++) {
        printf("%s\"%s\"\n", t ? "\n" : "", texts[t]);
        printf("rank  score     id%s\n", opt.catalog ? "\ttext" : "");
        for (size_t r = 0; r < k && index[t * k + r] != USEREC_TOPK_EMPTY; r++) {
            const char *id = item_name(&item_ids, index[t * k + r], buf);
            printf("%4zu  %.6f  %s", r + 1, score[t * k + r], id);
            if (!opt.catalog) {
                putchar('\n');
                continue;
            }
            char **hit = bsearch(&id, names, n_names, sizeof *names, compare_strings);
            fputc('\t', stdout);
            if (hit && name_text[hit - names]) print_text(name_text[hit - names]);
            else puts("(not in the catalogue)");
        }
    }
    if (!rc && fflush(stdout)) rc = SYS_ERR(err, sizeof err, "<stdout>", "write");
    for (size_t i = 0; i < n_names; i++) free(names[i]), free(name_text ? name_text[i] : NULL);
    free(names);
    free(name_text);
    free(index);
    free(score);
    free(vectors);
    topk_matrix_free(&items);
    topk_ids_free(&item_ids);
    if (rc) return cli_failed("query", "%s", err);
    if (scaled) fprintf(stderr, "query: %s: %zu of %zu rows were not unit length; scaled them to unit length\n", opt.emb, scaled, n_items);
    if (counts.clipped)
        fprintf(stderr, "query: %zu text(s) longer than the model's limit were cut to their first tokens\n", counts.clipped);
    return 0;
}
