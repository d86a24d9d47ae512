/* verify.c: `userec verify MODEL`: is this .usew the real USE-lite? A checksum only says a file is the one its
 * converter wrote; this checks what the model computes against outputs of the real USE-lite/2 that were published
 * with the code that produced them (weights/published.json, built into the binary; docs/verify.md): the leading
 * components of four embeddings (ids fed straight to the encoder, within 1e-5), the ids the model's tokenizer gives
 * the three published texts, and, given STS Benchmark's sts-dev.csv, the Pearson correlation of the published
 * notebook (within 1e-3). --reference FILE checks against another set of figures in the same format. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/error.h"
#include "common/grow.h"
#include "input/json_scan.h"
#include "model/model.h"
#include "common/util.h"
#include "common/whole_file.h"

/* weights/published.json, built in (the Makefile rebuilds this file's object when the JSON changes). */
__asm__(".section .rodata\n"
        ".global userec_published_json\n"
        ".type userec_published_json, @object\n"
        "userec_published_json:\n"
        ".incbin \"weights/published.json\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char userec_published_json[];

#define MAX_CASES 16

typedef struct {
    byte_buf text; /* empty: the case gives ids only */
    int32_t *ids;
    size_t n_ids;
    double *leading;
    size_t n_leading;
} ref_case;

typedef struct {
    byte_buf model; /* what the figures are of, for the verdict: "the real USE-lite (...)" */
    size_t n_cases;
    ref_case cases[MAX_CASES];
    double leading_tol, sts_pearson, sts_tol; /* sts_pearson NAN: no STS figure */
} reference;

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec verify MODEL.usew [--sts sts-dev.csv] [--reference FILE]\n"
            "Checks the model against published outputs of the real USE-lite/2 and says plainly whether it is that\n"
            "model: the leading components of 4 embeddings (within 1e-5), the token ids of the 3 published texts, and\n"
            "with --sts the STS Benchmark dev Pearson correlation of the published notebook (within 1e-3).\n"
            "  --sts FILE        STS Benchmark's sts-dev.csv (tab-separated: lines of exactly 7 fields are used)\n"
            "  --reference FILE  check against these figures instead (the format of weights/published.json)\n"
            "  --show-reference  print the built-in figures, with their sources, and exit\n"
            "Exit 0: the model is the one the figures describe; 1: it is not (or it could not be checked); 2: bad\n"
            "arguments. The check runs on the CPU in fp32 (docs/verify.md).\n");
}

/* Parses the numbers of a JSON array's text (json_value_text joins them with spaces) into a double array. */
static int numbers(const byte_buf *text, double **out, size_t *n, const char *key, char *err, size_t err_len) {
    size_t cap = 0;
    *n = 0;
    char *p = (char *)text->data, *end;
    for (;;) {
        while (*p == ' ') p++;
        if (!*p) return 0;
        const double v = strtod(p, &end);
        if (end == p || (*end && *end != ' ')) return ERR(err, err_len, "'%s' holds '%.20s', not a number", key, p);
        if (GROW(*out, cap, *n + 1)) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
        (*out)[(*n)++] = v;
        p = end;
    }
}

/* The value of one key as text (NUL-terminated in out), or 1 when the key is absent; -1 on error. */
static int member(const uint8_t *json, size_t len, size_t at, byte_buf *out, const char *key, char *err,
                  size_t err_len) {
    if (at == SIZE_MAX) return 1;
    char why[256];
    out->len = 0;
    if (json_value_text(json, len, at, out, why, sizeof why) || byte_buf_append(out, "", 1, why, sizeof why))
        return ERR(err, err_len, "'%s': %s", key, why);
    out->len--;
    return 0;
}

static int number(const uint8_t *json, size_t len, size_t at, const char *key, double *v, byte_buf *tmp, char *err,
                  size_t err_len) {
    double *values = NULL;
    size_t n = 0;
    int rc = member(json, len, at, tmp, key, err, err_len);
    if (!rc && !(rc = numbers(tmp, &values, &n, key, err, err_len)) && n != 1)
        rc = ERR(err, err_len, "'%s' must be one number", key);
    if (!rc) *v = values[0];
    free(values);
    return rc;
}

static void reference_free(reference *r) {
    free(r->model.data);
    for (size_t k = 0; k < MAX_CASES; k++) free(r->cases[k].text.data), free(r->cases[k].ids), free(r->cases[k].leading);
}

/* Reads the figures: model, cases, text_K (optional), ids_K, leading_K for K = 1..cases, leading_tolerance,
 * and optionally sts_dev_pearson with sts_dev_tolerance. Other keys (sources) are for people. */
static int parse_reference(const char *json_text, size_t len, const char *label, reference *r, char *err,
                           size_t err_len) {
    const uint8_t *json = (const uint8_t *)json_text;
    enum { FIXED = 5, N_KEYS = FIXED + 3 * MAX_CASES };
    char names[3 * MAX_CASES][16];
    const char *keys[N_KEYS] = {"model", "cases", "leading_tolerance", "sts_dev_pearson", "sts_dev_tolerance"};
    for (int k = 0; k < MAX_CASES; k++) {
        snprintf(names[3 * k], sizeof names[0], "text_%d", k + 1);
        snprintf(names[3 * k + 1], sizeof names[0], "ids_%d", k + 1);
        snprintf(names[3 * k + 2], sizeof names[0], "leading_%d", k + 1);
        for (int j = 0; j < 3; j++) keys[FIXED + 3 * k + j] = names[3 * k + j];
    }
    size_t at[N_KEYS];
    byte_buf scratch = {0}, tmp = {0};
    char why[256];
    double cases = 0, pearson = NAN;
    int rc = json_scan_object(json, len, keys, N_KEYS, at, &scratch, why, sizeof why) ? ERR(err, err_len, "%s", why) : 0;
    const int got_model = rc ? -1 : member(json, len, at[0], &r->model, "model", err, err_len);
    if (!rc && (got_model < 0 || got_model == 1 || !r->model.len))
        rc = got_model < 0 ? -1 : ERR(err, err_len, "no 'model' naming what the figures are of");
    if (!rc) rc = number(json, len, at[1], "cases", &cases, &tmp, err, err_len);
    if (!rc && !(cases >= 1 && cases <= MAX_CASES && cases == floor(cases)))
        rc = ERR(err, err_len, "'cases' must be a whole number from 1 to %d", MAX_CASES);
    if (!rc) rc = number(json, len, at[2], "leading_tolerance", &r->leading_tol, &tmp, err, err_len);
    if (!rc && at[3] != SIZE_MAX) {
        rc = number(json, len, at[3], "sts_dev_pearson", &pearson, &tmp, err, err_len);
        if (!rc) rc = number(json, len, at[4], "sts_dev_tolerance", &r->sts_tol, &tmp, err, err_len);
    }
    r->sts_pearson = pearson;
    r->n_cases = rc ? 0 : (size_t)cases;
    for (size_t k = 0; !rc && k < r->n_cases; k++) {
        ref_case *c = &r->cases[k];
        const size_t *a = at + FIXED + 3 * k;
        double *ids = NULL;
        if (member(json, len, a[0], &c->text, names[3 * k], err, err_len) < 0 ||
            member(json, len, a[1], &tmp, names[3 * k + 1], err, err_len) ||
            numbers(&tmp, &ids, &c->n_ids, names[3 * k + 1], err, err_len) ||
            member(json, len, a[2], &tmp, names[3 * k + 2], err, err_len) ||
            numbers(&tmp, &c->leading, &c->n_leading, names[3 * k + 2], err, err_len))
            rc = err[0] ? -1 : ERR(err, err_len, "case %zu needs '%s' and '%s'", k + 1, names[3 * k + 1], names[3 * k + 2]);
        if (!rc && !c->n_leading) rc = ERR(err, err_len, "'%s' is empty", names[3 * k + 2]);
        if (!rc && !(c->ids = malloc((c->n_ids ? c->n_ids : 1) * sizeof *c->ids))) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
        for (size_t i = 0; !rc && i < c->n_ids; i++) {
            if (ids[i] < 0 || ids[i] > INT32_MAX || ids[i] != floor(ids[i]))
                rc = ERR(err, err_len, "'%s' holds %g, not a token id", names[3 * k + 1], ids[i]);
            else c->ids[i] = (int32_t)ids[i];
        }
        free(ids);
    }
    free(scratch.data);
    free(tmp.data);
    if (rc) {
        snprintf(why, sizeof why, "%s", err);
        ERR(err, err_len, "%s: %s", label, why);
    }
    return rc;
}

/* The model's tokenizer for the published texts: SentencePiece's (what the module was fed), else the TF.js one. */
static const tokenizer *pick_tokenizer(const userec_model *m, userec_tokenizer_kind *kind) {
    const tokenizer *t = model_tokenizer(m, USEW_TOK_SPM, NULL);
    *kind = USEREC_TOKENIZER_SPM;
    if (!t) t = model_tokenizer(m, USEW_TOK_TFJS, NULL), *kind = USEREC_TOKENIZER_TFJS;
    return t;
}

/* Prints " x y z" of n values. */
static void print_values(const double *v, size_t n) {
    for (size_t i = 0; i < n; i++) printf(" %.9g", v[i]);
}

/* One case: the tokenizer's ids for the text (when the case has one), the encoder's vector for the ids. Returns 1
 * when it matches, 0 when not, -1 when it could not be run (*failure: why, common/error.h). */
static int check_case(const userec_model *m, const tokenizer *tok, const ref_case *c, size_t k, double tol,
                      int *failure, char *err, size_t err_len) {
    *failure = USEREC_ERR_NOMEM; /* what the tokenizer and the allocations fail for */
    const userec_model_info info = userec_info(m);
    int ok = 1;
    printf("  case %zu", k + 1);
    if (c->text.len) printf(" \"%.60s%s\"", (const char *)c->text.data, c->text.len > 60 ? "..." : "");
    printf(" (%zu ids)\n", c->n_ids);
    if (c->text.len && tok) {
        tok_scratch *s = tok_scratch_new();
        tok_result r;
        if (!s || tokenizer_encode(tok, (const char *)c->text.data, c->text.len, 0, s, &r, err, err_len)) {
            tok_scratch_free(s);
            return s ? -1 : FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
        }
        const int same = r.n_ids == c->n_ids && !memcmp(r.ids, c->ids, c->n_ids * sizeof *c->ids);
        printf("    tokenizer (%s): %s\n", tokenizer_kind_name(tokenizer_kind(tok)),
               same ? "the published ids" : "DIFFERENT ids from the published ones");
        ok &= same;
        tok_scratch_free(s);
    }
    *failure = USEREC_ERR_FORMAT; /* the reference does not fit the model */
    if (c->n_leading > info.dim) return ERR(err, err_len, "case %zu gives %zu components, the model makes %u", k + 1,
                                            c->n_leading, info.dim);
    float *vec = malloc(info.dim * sizeof *vec);
    const size_t offsets[2] = {0, c->n_ids};
    userec_error uerr;
    if (!vec || userec_encode_ids(m, c->ids, offsets, 1, vec, NULL, &uerr)) {
        *failure = vec ? (int)uerr.status : USEREC_ERR_NOMEM;
        free(vec);
        return vec ? ERR(err, err_len, "case %zu: %s", k + 1, uerr.message) : FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    }
    enum { SHOWN = 8 }; /* components printed */
    double worst = 0, got[SHOWN];
    const size_t shown = c->n_leading < SHOWN ? c->n_leading : SHOWN;
    for (size_t i = 0; i < c->n_leading; i++) {
        const double d = fabs((double)vec[i] - c->leading[i]);
        if (!(d <= worst)) worst = d; /* NaN stays the worst */
        if (i < shown) got[i] = vec[i];
    }
    free(vec);
    printf("    vector: ");
    print_values(got, shown);
    printf("\n    wanted: ");
    print_values(c->leading, shown);
    const int close = worst <= tol;
    printf("\n    max |difference| %.3g: %s (tolerance %g)\n", worst, close ? "matches" : "DIFFERS", tol);
    return ok && close;
}

/* STS Benchmark dev: the gold scores and both sentences of each line of exactly 7 tab-separated fields. */
typedef struct {
    double *gold;
    char **text; /* 2 per pair */
    size_t *len;
    size_t n_pairs, cap_gold, cap_text, cap_len;
    size_t skipped;
} sts_pairs;

/* Returns 0, or the failure's class with err set. */
static int read_sts(const char *path, sts_pairs *p, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return FAIL_AS(USEREC_ERR_IO, SYS_ERR(err, err_len, path, "open"));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        char *field[8];
        size_t nf = 0;
        for (char *s = line; nf < 8;) {
            field[nf++] = s;
            char *tab = strchr(s, '\t');
            if (!tab) break;
            *tab = 0;
            s = tab + 1;
        }
        char *end;
        const double gold = nf == 7 ? strtod(field[4], &end) : NAN;
        if (nf != 7 || end == field[4] || *end || !isfinite(gold)) {
            p->skipped += n > 0;
            continue;
        }
        if (GROW(p->gold, p->cap_gold, p->n_pairs + 1) || GROW(p->text, p->cap_text, 2 * p->n_pairs + 2) ||
            GROW(p->len, p->cap_len, 2 * p->n_pairs + 2)) {
            rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
            break;
        }
        for (int s = 0; s < 2; s++) {
            p->len[2 * p->n_pairs + s] = strlen(field[5 + s]);
            if (!(p->text[2 * p->n_pairs + s] = strdup(field[5 + s])))
                rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
        }
        p->gold[p->n_pairs++] = gold;
    }
    if (!rc && ferror(f)) rc = FAIL_AS(USEREC_ERR_IO, SYS_ERR(err, err_len, path, "read"));
    free(line);
    fclose(f);
    if (!rc && p->n_pairs < 2)
        rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: no STS Benchmark pairs (lines of 7 tab-separated fields)",
                                            path));
    return rc;
}

static double pearson(const double *x, const double *y, size_t n) {
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    for (size_t i = 0; i < n; i++)
        sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx), syy += (y[i] - my) * (y[i] - my);
    return sxy / sqrt(sxx * syy);
}

/* The notebook's figure: Pearson correlation of the gold scores with -arccos(cosine) of the pairs' vectors. Returns
 * 1 when it matches, 0 when not, -1 when it could not be run (*failure: why). */
static int check_sts(const userec_model *m, userec_tokenizer_kind kind, const char *path, const reference *ref,
                     int *failure, char *err, size_t err_len) {
    sts_pairs p = {0};
    float *vec = NULL;
    double *sim = NULL;
    const size_t dim = userec_info(m).dim;
    int rc = *failure = read_sts(path, &p, err, err_len);
    if (!rc && !((vec = malloc(2 * p.n_pairs * dim * sizeof *vec)) && (sim = malloc(p.n_pairs * sizeof *sim))))
        rc = *failure = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    userec_error uerr;
    if (!rc && userec_encode_texts(m, kind, (const char *const *)p.text, p.len, 2 * p.n_pairs, vec, NULL, &uerr))
        rc = *failure = FAIL_AS(uerr.status, ERR(err, err_len, "%s: %s", path, uerr.message));
    if (rc) rc = -1;
    if (!rc) {
        for (size_t i = 0; i < p.n_pairs; i++) {
            double dot = 0;
            for (size_t c = 0; c < dim; c++) dot += (double)vec[2 * i * dim + c] * vec[(2 * i + 1) * dim + c];
            sim[i] = -acos(dot < -1 ? -1 : dot > 1 ? 1 : dot);
        }
        const double r = pearson(sim, p.gold, p.n_pairs), d = fabs(r - ref->sts_pearson);
        const int close = d <= ref->sts_tol;
        printf("  STS Benchmark dev: %zu pairs of %s (%zu other lines left out), %s tokenizer\n", p.n_pairs, path,
               p.skipped, kind == USEREC_TOKENIZER_SPM ? "spm" : "tfjs");
        printf("    Pearson correlation %.9g, wanted %.9g: |difference| %.3g: %s (tolerance %g)\n", r, ref->sts_pearson, d,
               close ? "matches" : "DIFFERS", ref->sts_tol);
        rc = close;
    }
    for (size_t i = 0; i < 2 * p.n_pairs; i++) free(p.text[i]);
    free(p.text), free(p.len), free(p.gold), free(vec), free(sim);
    return rc;
}

int cmd_verify(int argc, char **argv) {
    static const struct option longopts[] = {{"sts", required_argument, 0, 's'},
                                             {"reference", required_argument, 0, 'r'},
                                             {"show-reference", no_argument, 0, 'S'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *sts = NULL, *ref_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': sts = optarg; break;
        case 'r': ref_path = optarg; break;
        case 'S': fputs(userec_published_json, stdout); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return cli_fail("verify", "give exactly one MODEL.usew");
    }
    const char *model_path = argv[optind];
    char err[1024] = "";
    reference ref = {0};
    byte_buf file = {0};
    const char *label = ref_path ? ref_path : "the built-in published figures";
    int rc = ref_path ? whole_file_read(ref_path, &file, err, sizeof err) : 0;
    if (!rc) rc = ref_path ? parse_reference((const char *)file.data, file.len, label, &ref, err, sizeof err)
                           : parse_reference(userec_published_json, strlen(userec_published_json), label, &ref, err,
                                             sizeof err);
    free(file.data);
    if (rc) {
        reference_free(&ref);
        /* whole_file_read classes its failures; parse_reference's (-1) are a malformed reference */
        return cli_failed("verify", rc < 0 ? USEREC_ERR_FORMAT : rc, "%s", err);
    }
    userec_error uerr;
    userec_model *m = userec_load(model_path, &uerr);
    if (!m) {
        reference_free(&ref);
        return cli_failed("verify", uerr.status, "%s", uerr.message);
    }
    userec_tokenizer_kind kind;
    const tokenizer *tok = pick_tokenizer(m, &kind);
    printf("verify: %s against %s: %s\n", model_path, label, (const char *)ref.model.data);
    if (!tok) printf("  (the model carries no tokenizer: the published texts' ids are not checked, nor STS)\n");
    else if (kind == USEREC_TOKENIZER_TFJS)
        printf("  (the model carries no SentencePiece tokenizer: texts are tokenized with its TF.js tokenizer)\n");
    size_t matched = 0, checks = 0;
    for (size_t k = 0; k < ref.n_cases && !rc; k++, checks++) {
        int failure;
        const int r = check_case(m, tok, &ref.cases[k], k, ref.leading_tol, &failure, err, sizeof err);
        if (r < 0) rc = failure;
        else matched += (size_t)r;
    }
    if (!rc && sts && !isnan(ref.sts_pearson) && tok) {
        int failure;
        const int r = check_sts(m, kind, sts, &ref, &failure, err, sizeof err);
        if (r < 0) rc = failure;
        else matched += (size_t)r, checks++;
    } else if (!rc) {
        printf("  STS Benchmark dev: not checked (%s)\n", isnan(ref.sts_pearson) ? "the reference has no figure"
                                                          : !tok ? "no tokenizer in the model"
                                                                 : "give --sts PATH/sts-dev.csv: docs/verify.md");
    }
    userec_free(m);
    if (rc) {
        reference_free(&ref);
        return cli_failed("verify", rc, "%s (nothing could be concluded)", err);
    }
    if (matched == checks)
        printf("verify: %s IS %s: all %zu checks match\n", model_path, (const char *)ref.model.data, checks);
    else
        printf("verify: %s is not %s: %zu of %zu checks differ\n", model_path, (const char *)ref.model.data,
               checks - matched, checks);
    reference_free(&ref);
    return matched == checks ? 0 : EXIT_DATAERR; /* the model is not what its file claims */
}
