/* cli_embed.c: `userec embed`: read sentences, encode them in bounded batches, write OUT.npy + OUT.ids and
 * OUT.rejects.tsv atomically. Every input row ends up in the output or in the rejects file. */
#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "cli.h"
#include "npy.h"
#include "userec.h"
#include "util.h"

void openblas_set_num_threads(int);

typedef struct {
    const char *model, *input, *format, *out;
    size_t batch_tokens;
    int threads, quiet;
    double max_reject_rate;
} embed_options;

/* The pending batch: ids packed with offsets, and each row's id for OUT.ids. */
typedef struct {
    int32_t *ids;
    size_t n_ids, cap_ids;
    size_t *offsets; /* n_rows + 1 */
    size_t *row_ids;
    size_t n_rows, cap_rows, cap_offsets;
} batch;

typedef struct {
    size_t read, embedded, rejected;
    userec_counts counts;
} tally;

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec embed --model MODEL.usew --input FILE|- --format ids -o OUT.npy [options]\n"
            "  --format ids           one sentence per line as space-separated token ids (empty line = empty sentence)\n"
            "  --batch-tokens N       tokens per encoder batch (default 8192)\n"
            "  --threads N            CPU threads (default: all)\n"
            "  --max-reject-rate F    fail when more than this share of rows is rejected (default 0.01)\n"
            "  --quiet                no summary\n"
            "writes OUT.npy (float32 [rows, 512]), OUT.ids (the id of each row: its 0-based input row number) and\n"
            "OUT.rejects.tsv (line, id, reason of every row that could not be embedded), each atomically.\n");
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* Parses one line of ids into the batch. Returns NULL on success, else the reason to reject the row (the
 * batch is left as it was). */
static const char *parse_ids_line(char *line, batch *b, uint32_t vocab_rows, char *why, size_t why_len) {
    size_t start = b->n_ids;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ' ' && *end != '\t')) {
            snprintf(why, why_len, "'%.20s' is not a token id", p);
            b->n_ids = start;
            return why;
        }
        if (errno || v < 0 || v >= (long)vocab_rows) {
            snprintf(why, why_len, "token id %.20s is outside 0..%u", p, vocab_rows - 1);
            b->n_ids = start;
            return why;
        }
        if (grow((void **)&b->ids, &b->cap_ids, b->n_ids + 1, sizeof *b->ids)) {
            snprintf(why, why_len, "out of memory");
            b->n_ids = start;
            return why;
        }
        b->ids[b->n_ids++] = (int32_t)v;
        p = end;
    }
    return NULL;
}

static int add_row(batch *b, size_t row_id) {
    if (grow((void **)&b->row_ids, &b->cap_rows, b->n_rows + 1, sizeof *b->row_ids) ||
        grow((void **)&b->offsets, &b->cap_offsets, b->n_rows + 2, sizeof *b->offsets))
        return -1;
    b->offsets[0] = 0;
    b->row_ids[b->n_rows++] = row_id;
    b->offsets[b->n_rows] = b->n_ids;
    return 0;
}

typedef struct {
    npy_writer *npy;
    atomic_file ids, rejects;
    float *vectors;
    size_t vectors_cap;
} outputs;

/* Encodes the pending batch and appends it to the outputs. */
static int flush(const userec_model *m, batch *b, outputs *o, tally *t, char *err, size_t err_len) {
    if (!b->n_rows) return 0;
    const size_t dim = userec_info(m).dim;
    if (grow((void **)&o->vectors, &o->vectors_cap, b->n_rows * dim, sizeof *o->vectors))
        return ERR(err, err_len, "out of memory for %zu output rows", b->n_rows);
    userec_error uerr;
    if (userec_encode_ids(m, b->ids, b->offsets, b->n_rows, o->vectors, &t->counts, &uerr))
        return ERR(err, err_len, "%s", uerr.message);
    if (npy_writer_append(o->npy, o->vectors, b->n_rows, err, err_len)) return -1;
    for (size_t i = 0; i < b->n_rows; i++) fprintf(o->ids.fp, "%zu\n", b->row_ids[i]);
    t->embedded += b->n_rows;
    b->n_rows = b->n_ids = 0;
    return 0;
}

static int parse_options(int argc, char **argv, embed_options *opt) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},        {"input", required_argument, 0, 'i'},
        {"format", required_argument, 0, 'f'},       {"output", required_argument, 0, 'o'},
        {"batch-tokens", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
        {"max-reject-rate", required_argument, 0, 'r'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},               {0, 0, 0, 0}};
    *opt = (embed_options){.format = "ids", .batch_tokens = 8192, .max_reject_rate = 0.01};
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': opt->model = optarg; break;
        case 'i': opt->input = optarg; break;
        case 'f': opt->format = optarg; break;
        case 'o': opt->out = optarg; break;
        case 'b':
            opt->batch_tokens = strtoul(optarg, &end, 10);
            if (*end || !opt->batch_tokens) return cli_fail("embed", "--batch-tokens wants a positive integer, not '%s'", optarg);
            break;
        case 't':
            opt->threads = (int)strtol(optarg, &end, 10);
            if (*end || opt->threads < 1) return cli_fail("embed", "--threads wants a positive integer, not '%s'", optarg);
            break;
        case 'r':
            opt->max_reject_rate = strtod(optarg, &end);
            if (*end || opt->max_reject_rate < 0 || opt->max_reject_rate > 1)
                return cli_fail("embed", "--max-reject-rate wants a fraction between 0 and 1, not '%s'", optarg);
            break;
        case 'q': opt->quiet = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) return cli_fail("embed", "unexpected argument '%s'", argv[optind]);
    if (!opt->model || !opt->input || !opt->out) {
        usage(stderr);
        return cli_fail("embed", "--model, --input and -o are required");
    }
    if (strcmp(opt->format, "ids"))
        return cli_fail("embed", "--format %s is not supported yet; this build reads --format ids", opt->format);
    size_t n = strlen(opt->out);
    if (n < 5 || strcmp(opt->out + n - 4, ".npy"))
        return cli_fail("embed", "-o must name a .npy file, not '%s'", opt->out);
    return 0;
}

/* OUT.npy -> OUT<suffix> */
static char *sibling(const char *npy_path, const char *suffix) {
    char *s;
    return asprintf(&s, "%.*s%s", (int)(strlen(npy_path) - 4), npy_path, suffix) < 0 ? NULL : s;
}

static int open_outputs(const embed_options *opt, size_t dim, outputs *o, char *err, size_t err_len) {
    char *ids_path = sibling(opt->out, ".ids"), *rej_path = sibling(opt->out, ".rejects.tsv");
    int rc = -1;
    if (!ids_path || !rej_path) snprintf(err, err_len, "out of memory");
    else if ((o->npy = npy_writer_open(opt->out, NPY_F32, dim, err, err_len))) {
        if (atomic_open(&o->ids, ids_path, err, err_len)) npy_writer_abort(o->npy);
        else if (atomic_open(&o->rejects, rej_path, err, err_len)) npy_writer_abort(o->npy), atomic_abort(&o->ids);
        else rc = 0;
    }
    free(ids_path);
    free(rej_path);
    if (!rc) fprintf(o->rejects.fp, "line\tid\treason\n");
    return rc;
}

static int commit_outputs(outputs *o, char *err, size_t err_len) {
    int rc = npy_writer_commit(o->npy, err, err_len);
    if (rc) {
        atomic_abort(&o->ids);
        atomic_abort(&o->rejects);
        return rc;
    }
    if (atomic_commit(&o->ids, err, err_len)) {
        atomic_abort(&o->rejects);
        return -1;
    }
    return atomic_commit(&o->rejects, err, err_len);
}

int cmd_embed(int argc, char **argv) {
    embed_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) return rc;
    if (opt.threads) {
        omp_set_num_threads(opt.threads);
        openblas_set_num_threads(opt.threads);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    userec_error uerr;
    userec_model *m = userec_load(opt.model, &uerr);
    if (!m) return cli_fail("embed", "%s", uerr.message), 1;
    const userec_model_info info = userec_info(m);
    FILE *in = strcmp(opt.input, "-") ? fopen(opt.input, "rb") : stdin;
    const char *in_name = strcmp(opt.input, "-") ? opt.input : "<stdin>";
    if (!in) {
        cli_fail("embed", "%s: cannot open: %s", opt.input, strerror(errno));
        userec_free(m);
        return 1;
    }
    char err[1024] = "";
    outputs o = {0};
    batch b = {0};
    tally t = {0};
    rc = open_outputs(&opt, info.dim, &o, err, sizeof err);
    char *line = NULL, why[128];
    size_t line_cap = 0;
    ssize_t len;
    while (!rc && (len = getline(&line, &line_cap, in)) >= 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        size_t row = t.read++;
        const char *reject = memchr(line, 0, (size_t)len) ? "NUL byte in the line"
                                                           : parse_ids_line(line, &b, info.vocab_rows, why, sizeof why);
        if (!reject && add_row(&b, row)) reject = "out of memory";
        if (reject) {
            t.rejected++;
            fprintf(o.rejects.fp, "%zu\t%zu\t%s\n", row + 1, row, reject);
        } else if (b.n_ids >= opt.batch_tokens) {
            rc = flush(m, &b, &o, &t, err, sizeof err);
        }
    }
    if (!rc && ferror(in)) rc = ERR(err, sizeof err, "%s: read error: %s", in_name, strerror(errno));
    if (!rc) rc = flush(m, &b, &o, &t, err, sizeof err);
    if (!rc) rc = commit_outputs(&o, err, sizeof err);
    else if (o.npy) npy_writer_abort(o.npy), atomic_abort(&o.ids), atomic_abort(&o.rejects);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (in != stdin) fclose(in);
    free(line);
    free(b.ids);
    free(b.offsets);
    free(b.row_ids);
    free(o.vectors);
    userec_free(m);
    if (rc) return cli_fail("embed", "%s (nothing was written)", err), 1;
    double reject_rate = t.read ? (double)t.rejected / (double)t.read : 0;
    if (!opt.quiet)
        fprintf(stderr,
                "embed: %zu rows read, %zu embedded, %zu rejected, %zu clipped to %u tokens; %zu tokens in %.2f s "
                "(%.0f rows/s) -> %s\n",
                t.read, t.embedded, t.rejected, t.counts.clipped, info.max_len, t.counts.tokens, secs,
                secs > 0 ? (double)t.read / secs : 0, opt.out);
    if (reject_rate > opt.max_reject_rate) {
        fprintf(stderr, "embed: failing: %.2f%% of rows were rejected, more than --max-reject-rate %.2f%% (see the rejects file)\n",
                100 * reject_rate, 100 * opt.max_reject_rate);
        return 1;
    }
    return 0;
}
