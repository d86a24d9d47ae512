/* test_gpu_encoder.c: the CUDA forward pass (engine/gpu/encoder_gpu.cu) against the fp32 CPU path, which is
 * itself checked against a float64 reference and the real TF.js graph (tests/test_oracle.py, test_engine.py).
 * tests/gpu/test_kernels.c checks the kernels one by one.
 *
 * For each precision: every output element written (outputs poisoned with NaN first); fp32 within 1e-5 and
 * tf32 within 1e-3 per component of the CPU vectors, bf16 at per-sentence cosine >= 0.999 with its error
 * distribution printed; the counts; batch invariance (each sentence alone, the batch reversed, the batch cut
 * into many small device chunks); repeat runs bit-identical (the third replays a CUDA graph); a graph replayed
 * on a batch of the same shape with other content (empty sentences elsewhere), and a replayed graph of a chunk
 * with no tokens; all-empty and empty batches; a bad id rejected like the CPU path does; the model cut to its
 * first layer (layer 0 then also runs the last layer's pooled feed-forward block). Then the device batch limits
 * at full size (a chunk of GPU_CHUNK_SENTENCES one-token sentences, one of GPU_CHUNK_TOKENS tokens), a large
 * random batch (several default chunks) and, when USEREC_GPU_TEXT_IDS names a file of token-id lines
 * (tests/gpu/device_check.sh makes one from a real catalogue), those sentences.
 *
 * Skips, saying why, when there is no usable GPU (or no CUDA in this build) or no test model
 * (USEREC_TEST_MODEL, set by tests/run.py). For compute-sanitizer: USEREC_GPU_TEST_QUICK=1 keeps the small
 * cases, in fp32 and bf16; USEREC_GPU_TEST_LIMITS=1 runs the device batch limits only. USEREC_GPU_TEST_PRECISIONS
 * =fp32,bf16 (say) picks the precisions. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gpu/gpu.h"
#include "model/model.h" /* struct userec_model: the one-layer cut */
#include "userec.h"

/* tests/test_oracle.py's lengths: empty sentences mid-batch, lengths past the 128-token clip. */
static const size_t ORACLE_LENGTHS[] = {5, 17, 0, 128, 129, 0, 1, 200, 2, 64, 0, 0, 40, 3, 127,
                                        31, 7, 100, 0, 12, 45, 9, 33, 1, 1, 60, 20, 4, 150, 2};
#define N_ORACLE (sizeof ORACLE_LENGTHS / sizeof *ORACLE_LENGTHS)

typedef struct {
    double accuracy;     /* fp32/tf32: max |gpu - cpu| per component; bf16: min per-sentence cosine */
    double invariance;   /* the same, between two GPU runs of one sentence in different batches */
    int by_cosine;       /* bf16 is judged by cosine, the others by max abs difference */
} tolerance;

static const tolerance TOLERANCES[USEREC_PRECISIONS] = {
    [USEREC_FP32] = {1e-5, 2e-6, 0},
    [USEREC_TF32] = {1e-3, 1e-3, 0},
    [USEREC_BF16] = {0.999, 0.9999, 1},
};

typedef struct {
    int32_t *ids;
    size_t *offsets; /* n + 1 */
    size_t n;
} batch;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t random_u32(void) { /* xorshift64* */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (uint32_t)((rng * 2685821657736338717ull) >> 32);
}

static batch make_batch(const size_t *lengths, size_t n, uint32_t vocab_rows) {
    batch b = {.n = n, .offsets = malloc((n + 1) * sizeof(size_t))};
    b.offsets[0] = 0;
    for (size_t s = 0; s < n; s++) b.offsets[s + 1] = b.offsets[s] + lengths[s];
    b.ids = malloc((b.offsets[n] ? b.offsets[n] : 1) * sizeof(int32_t));
    for (size_t i = 0; i < b.offsets[n]; i++) b.ids[i] = (int32_t)(random_u32() % vocab_rows);
    return b;
}

static void free_batch(batch *b) {
    free(b->ids);
    free(b->offsets);
}

/* Reads lines of space-separated token ids (the `embed --format ids` input); NULL when unreadable. */
static batch *read_ids_file(const char *path, uint32_t vocab_rows) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    batch *b = calloc(1, sizeof *b);
    size_t cap_ids = 1 << 16, cap_rows = 1 << 12;
    b->ids = malloc(cap_ids * sizeof *b->ids);
    b->offsets = malloc(cap_rows * sizeof *b->offsets);
    b->offsets[0] = 0;
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) >= 0) {
        size_t used = b->offsets[b->n];
        for (char *p = line, *end;; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            if (used == cap_ids) b->ids = realloc(b->ids, (cap_ids *= 2) * sizeof *b->ids);
            b->ids[used++] = (int32_t)(v >= 0 && v < (long)vocab_rows ? v : 0);
        }
        if (b->n + 2 > cap_rows) b->offsets = realloc(b->offsets, (cap_rows *= 2) * sizeof *b->offsets);
        b->offsets[++b->n] = used;
    }
    free(line);
    fclose(f);
    return b;
}

static float *poisoned(size_t n, size_t dim) {
    float *out = malloc((n ? n : 1) * dim * sizeof *out);
    memset(out, 0xff, (n ? n : 1) * dim * sizeof *out); /* all NaN: any element left unwritten shows */
    return out;
}

static size_t count_nonfinite(const float *v, size_t count) {
    size_t bad = 0;
    for (size_t i = 0; i < count; i++) bad += !isfinite(v[i]);
    return bad;
}

static double cosine(const float *a, const float *b, size_t dim) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t c = 0; c < dim; c++) ab += (double)a[c] * b[c], aa += (double)a[c] * a[c], bb += (double)b[c] * b[c];
    return ab / sqrt(aa * bb);
}

static int by_value(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* max |got - want| (at *where) and the smallest per-sentence cosine (at *worst). */
static double max_abs_diff(const float *got, const float *want, size_t count, size_t *where) {
    double worst = 0;
    *where = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= worst)) worst = d, *where = i; /* NaN counts as worst */
    }
    return worst;
}

static double min_cosine(const float *got, const float *want, size_t n, size_t dim, size_t *worst) {
    double lowest = 1;
    *worst = 0;
    for (size_t s = 0; s < n; s++) {
        double c = cosine(got + s * dim, want + s * dim, dim);
        if (!(c >= lowest)) lowest = c, *worst = s;
    }
    return lowest;
}

static void show_values(const float *got, const float *want, size_t from, size_t count) {
    for (size_t i = from; i < from + count; i++) printf("    got % .9f   expected % .9f\n", got[i], want[i]);
}

/* One CHECK comparing got with want under the mode's rule; prints the error and the first values. */
static void check_close(const char *name, const float *got, const float *want, size_t n, size_t dim, double tol,
                        int by_cosine) {
    size_t at;
    if (!n) {
        CHECK(1, name, "no rows");
        return;
    }
    if (by_cosine) {
        double c = min_cosine(got, want, n, dim, &at);
        printf("%s: min per-sentence cosine %.7f at sentence %zu (tolerance >= %g)\n", name, c, at, tol);
        show_values(got, want, at * dim, 4);
        CHECK(c >= tol, name, "cosine %.7f < %g at sentence %zu", c, tol, at);
    } else {
        double d = max_abs_diff(got, want, n * dim, &at);
        printf("%s: max |diff| %.3g at sentence %zu, component %zu (tolerance %g)\n", name, d, at / dim, at % dim, tol);
        show_values(got, want, 0, 4);
        CHECK(d <= tol, name, "max |diff| %.3g > %g at sentence %zu, component %zu", d, tol, at / dim, at % dim);
    }
}

/* The distribution of the bf16 error: per-sentence 1 - cosine and per-component |diff| quantiles. */
static void print_error_distribution(const char *label, const float *got, const float *want, size_t n, size_t dim) {
    double *cos_err = malloc(n * sizeof *cos_err), *abs_err = malloc(n * dim * sizeof *abs_err), mean = 0;
    for (size_t s = 0; s < n; s++) cos_err[s] = 1 - cosine(got + s * dim, want + s * dim, dim);
    for (size_t i = 0; i < n * dim; i++) mean += abs_err[i] = fabs((double)got[i] - want[i]);
    qsort(cos_err, n, sizeof *cos_err, by_value);
    qsort(abs_err, n * dim, sizeof *abs_err, by_value);
#define Q(v, count, q) v[(size_t)((q) * (double)((count) - 1))]
    printf("%s error distribution over %zu sentences:\n"
           "    1 - cosine: median %.2e  p90 %.2e  p99 %.2e  max %.2e\n"
           "    |diff| per component: mean %.2e  median %.2e  p99 %.2e  p99.9 %.2e  max %.2e\n",
           label, n, Q(cos_err, n, 0.5), Q(cos_err, n, 0.9), Q(cos_err, n, 0.99), cos_err[n - 1], mean / (n * dim),
           Q(abs_err, n * dim, 0.5), Q(abs_err, n * dim, 0.99), Q(abs_err, n * dim, 0.999), abs_err[n * dim - 1]);
#undef Q
    free(cos_err);
    free(abs_err);
}

typedef struct {
    const userec_model *model;
    size_t dim;
    userec_precision p;
    tolerance tol;
    const char *mode; /* "bf16", or "one-layer bf16": begins the name of every check */
} context;

/* Encodes b on the GPU into a fresh poisoned buffer and checks the status and that every element was written. */
static float *gpu_encode(const context *cx, gpu_encoder *g, const batch *b, const char *what, userec_counts *counts) {
    char name[160];
    float *out = poisoned(b->n, cx->dim);
    userec_error err = {0};
    userec_status st = gpu_encoder_encode(g, b->ids, b->offsets, b->n, out, counts, &err);
    snprintf(name, sizeof name, "%s: %s encodes", cx->mode, what);
    CHECK(st == USEREC_OK, name, "%s: %s", userec_status_name(st), err.message);
    size_t bad = count_nonfinite(out, b->n * cx->dim);
    snprintf(name, sizeof name, "%s: %s writes every element", cx->mode, what);
    CHECK(!bad, name, "%zu of %zu output values are still NaN (unwritten) or not finite", bad, b->n * cx->dim);
    return out;
}

/* A batch and its fp32 CPU vectors, computed once for all precisions. */
typedef struct {
    const char *what;
    const batch *b;
    float *want;
    userec_counts counts;
    size_t chunks; /* the device batches it must take with the default limits; 0: not checked */
} reference;

static reference cpu_reference(const userec_model *m, const batch *b, const char *what) {
    reference r = {.what = what, .b = b, .want = poisoned(b->n, userec_info(m).dim)};
    userec_error err;
    if (userec_encode_ids(m, b->ids, b->offsets, b->n, r.want, &r.counts, &err)) {
        printf("  the CPU reference failed on the %s: %s\n", what, err.message);
        exit(1);
    }
    return r;
}

static void check_against_cpu(const context *cx, gpu_encoder *g, const reference *r) {
    char name[160];
    userec_counts gpu_counts = {0};
    const batch *b = r->b;
    userec_encoder_stats before, after;
    gpu_encoder_stats(g, &before);
    float *got = gpu_encode(cx, g, b, r->what, &gpu_counts);
    gpu_encoder_stats(g, &after);
    if (r->chunks) {
        snprintf(name, sizeof name, "%s: %s takes %zu device batches", cx->mode, r->what, r->chunks);
        CHECK(after.chunks - before.chunks == r->chunks, name, "it took %zu", after.chunks - before.chunks);
    }
    snprintf(name, sizeof name, "%s: %s equals the CPU path", cx->mode, r->what);
    check_close(name, got, r->want, b->n, cx->dim, cx->tol.accuracy, cx->tol.by_cosine);
    if (cx->p == USEREC_BF16) print_error_distribution(name, got, r->want, b->n, cx->dim);
    snprintf(name, sizeof name, "%s: %s counts", cx->mode, r->what);
    CHECK(!memcmp(&r->counts, &gpu_counts, sizeof gpu_counts), name,
          "GPU %zu sentences / %zu tokens / %zu clipped, CPU %zu / %zu / %zu", gpu_counts.sentences, gpu_counts.tokens,
          gpu_counts.clipped, r->counts.sentences, r->counts.tokens, r->counts.clipped);
    free(got);
}

/* Each sentence alone, the batch reversed, and the batch through tiny device chunks, against the batch run. */
static void check_batch_invariance(const context *cx, gpu_encoder *g, const batch *b) {
    char name[160];
    const char *mode = cx->mode;
    const size_t dim = cx->dim;
    float *whole = gpu_encode(cx, g, b, "oracle batch (again)", NULL);
    float *alone = poisoned(b->n, dim), *reversed = poisoned(b->n, dim);
    userec_error err;
    int failed = 0;
    for (size_t s = 0; s < b->n; s++) {
        const size_t off[2] = {0, b->offsets[s + 1] - b->offsets[s]};
        failed |= gpu_encoder_encode(g, b->ids + b->offsets[s], off, 1, alone + s * dim, NULL, &err) != USEREC_OK;
    }
    snprintf(name, sizeof name, "%s: each sentence alone encodes", mode);
    CHECK(!failed, name, "%s", err.message);
    snprintf(name, sizeof name, "%s: each sentence alone equals it in the batch", mode);
    check_close(name, alone, whole, b->n, dim, cx->tol.invariance, cx->tol.by_cosine);

    batch r = {.n = b->n, .offsets = malloc((b->n + 1) * sizeof(size_t)), .ids = malloc((b->offsets[b->n] + 1) * 4)};
    r.offsets[0] = 0;
    for (size_t s = 0; s < b->n; s++) {
        const size_t src = b->n - 1 - s, len = b->offsets[src + 1] - b->offsets[src];
        memcpy(r.ids + r.offsets[s], b->ids + b->offsets[src], len * sizeof *r.ids);
        r.offsets[s + 1] = r.offsets[s] + len;
    }
    float *rev = gpu_encode(cx, g, &r, "reversed batch", NULL);
    for (size_t s = 0; s < b->n; s++) memcpy(reversed + s * dim, rev + (b->n - 1 - s) * dim, dim * sizeof *rev);
    snprintf(name, sizeof name, "%s: the reversed batch equals the batch", mode);
    check_close(name, reversed, whole, b->n, dim, cx->tol.invariance, cx->tol.by_cosine);

    /* One sentence's worth of tokens and three sentences per chunk: many chunks through both pipeline slots. */
    const gpu_options tiny = {.precision = cx->p, .chunk_tokens = userec_info(cx->model).max_len,
                                     .chunk_sentences = 3};
    gpu_encoder *small = gpu_encoder_create(cx->model, &tiny, &err);
    snprintf(name, sizeof name, "%s: encoder with tiny chunks created", mode);
    CHECK(small != NULL, name, "%s", err.message);
    if (small) {
        float *chunked = gpu_encode(cx, small, b, "tiny chunks", NULL);
        userec_encoder_stats st;
        gpu_encoder_stats(small, &st);
        snprintf(name, sizeof name, "%s: tiny chunks equal one chunk (%zu chunks run)", mode, st.chunks);
        check_close(name, chunked, whole, b->n, dim, cx->tol.invariance, cx->tol.by_cosine);
        free(chunked);
        gpu_encoder_destroy(small);
    }
    free_batch(&r);
    free(rev);
    free(whole);
    free(alone);
    free(reversed);
}

/* Runs 1 and 2 launch directly and capture a graph; run 3 replays it: all three must agree bit for bit. */
static void check_repeatable(const context *cx, gpu_encoder *g, const batch *b) {
    char name[160];
    float *runs[3];
    userec_encoder_stats before, after;
    gpu_encoder_stats(g, &before);
    for (int i = 0; i < 3; i++) runs[i] = gpu_encode(cx, g, b, "repeat run", NULL);
    gpu_encoder_stats(g, &after);
    snprintf(name, sizeof name, "%s: repeat runs are bit-identical", cx->mode);
    size_t at;
    double d = fmax(max_abs_diff(runs[1], runs[0], b->n * cx->dim, &at), max_abs_diff(runs[2], runs[0], b->n * cx->dim, &at));
    CHECK(!memcmp(runs[0], runs[1], b->n * cx->dim * 4) && !memcmp(runs[0], runs[2], b->n * cx->dim * 4), name,
          "runs differ by up to %.3g (a race, or non-deterministic reductions)", d);
    snprintf(name, sizeof name, "%s: the third run replays a CUDA graph", cx->mode);
    CHECK(after.graph_replays > before.graph_replays, name, "graph replays %zu -> %zu", before.graph_replays,
          after.graph_replays);
    for (int i = 0; i < 3; i++) free(runs[i]);
}

static void check_edges(const context *cx, gpu_encoder *g) {
    char name[160];
    const char *mode = cx->mode;
    const size_t empties[3] = {0, 0, 0};
    batch e = make_batch(empties, 3, 1);
    reference r = cpu_reference(cx->model, &e, "all-empty batch");
    check_against_cpu(cx, g, &r);
    free(r.want);
    free_batch(&e);

    userec_error err;
    const size_t none[1] = {0};
    float sentinel = 1.5f;
    userec_status st = gpu_encoder_encode(g, NULL, none, 0, &sentinel, NULL, &err);
    snprintf(name, sizeof name, "%s: an empty call succeeds and writes nothing", mode);
    CHECK(st == USEREC_OK && sentinel == 1.5f, name, "status %d, sentinel %g", st, sentinel);

    const uint32_t vocab = userec_info(cx->model).vocab_rows;
    const int32_t bad_ids[3] = {5, (int32_t)vocab, 7};
    const size_t bad_off[3] = {0, 1, 3};
    float *out = poisoned(2, cx->dim);
    userec_error cpu_err, gpu_err;
    userec_status cpu_st = userec_encode_ids(cx->model, bad_ids, bad_off, 2, out, NULL, &cpu_err);
    userec_status gpu_st = gpu_encoder_encode(g, bad_ids, bad_off, 2, out, NULL, &gpu_err);
    free(out);
    snprintf(name, sizeof name, "%s: an id out of range is rejected like on the CPU", mode);
    CHECK(gpu_st == USEREC_ERR_INPUT && cpu_st == gpu_st && !strcmp(cpu_err.message, gpu_err.message), name,
          "GPU %s '%s', CPU %s '%s'", userec_status_name(gpu_st), gpu_err.message, userec_status_name(cpu_st),
          cpu_err.message);
}

/* A slot's graph replayed on new content: `second` has the shape (tokens, sentences, longest sentence) of
 * `first`, which runs twice before it (directly, then captured), so `second` replays the graph. */
static void check_replay(const context *cx, gpu_encoder *g, const batch *first, const batch *second, const char *what) {
    char name[200];
    reference r = cpu_reference(cx->model, second, what);
    for (int i = 0; i < 2; i++) free(gpu_encode(cx, g, first, "the batch that makes the graph", NULL));
    userec_encoder_stats before, after;
    gpu_encoder_stats(g, &before);
    check_against_cpu(cx, g, &r);
    gpu_encoder_stats(g, &after);
    snprintf(name, sizeof name, "%s: %s replays a CUDA graph", cx->mode, what);
    CHECK(after.graph_replays == before.graph_replays + 1, name, "graph replays %zu -> %zu", before.graph_replays,
          after.graph_replays);
    free(r.want);
}

static void check_graph_replays(const context *cx, gpu_encoder *g) {
    const uint32_t vocab = userec_info(cx->model).vocab_rows;
    const size_t first_lengths[6] = {7, 0, 3, 12, 0, 1}, second_lengths[6] = {0, 12, 1, 0, 7, 3}, empty[4] = {0};
    batch first = make_batch(first_lengths, 6, vocab), second = make_batch(second_lengths, 6, vocab);
    batch none = make_batch(empty, 4, vocab);
    check_replay(cx, g, &first, &second, "a batch of the graph's shape, other ids, empty sentences elsewhere");
    check_replay(cx, g, &none, &none, "an all-empty batch (a graph of a chunk with no tokens)");
    free_batch(&first);
    free_batch(&second);
    free_batch(&none);
}

/* oracle: the batch of every check above (NULL: none of them); the others are only compared. */
static void test_precision(const context *cx, const reference *oracle, const reference *others, size_t n_others) {
    char name[160];
    userec_error err;
    const gpu_options opt = {.precision = cx->p};
    gpu_encoder *g = gpu_encoder_create(cx->model, &opt, &err);
    snprintf(name, sizeof name, "%s: encoder created", cx->mode);
    CHECK(g != NULL, name, "%s", err.message);
    if (!g) return;
    printf("%s on %s\n", cx->mode, gpu_encoder_name(g));
    if (oracle) {
        check_against_cpu(cx, g, oracle);
        check_batch_invariance(cx, g, oracle->b);
        check_repeatable(cx, g, oracle->b);
        check_edges(cx, g);
        check_graph_replays(cx, g);
    }
    for (size_t i = 0; i < n_others; i++) check_against_cpu(cx, g, &others[i]);
    gpu_encoder_destroy(g);
}

/* n sentences of len random tokens each. */
static batch uniform_batch(size_t n, size_t len, uint32_t vocab_rows) {
    size_t *lengths = malloc(n * sizeof *lengths);
    for (size_t s = 0; s < n; s++) lengths[s] = len;
    batch b = make_batch(lengths, n, vocab_rows);
    free(lengths);
    return b;
}

static int env_is_1(const char *name) { return getenv(name) && !strcmp(getenv(name), "1"); }

int main(void) {
    userec_error err;
    userec_gpu_info dev;
    if (gpu_list(&dev, 1, &err) < 1) {
        SKIP("gpu encoder", err.message);
        return 0;
    }
    const char *path = getenv("USEREC_TEST_MODEL");
    if (!path || !*path) {
        SKIP("gpu encoder", "USEREC_TEST_MODEL is unset (tests/run.py sets it when ../shared has the fixtures)");
        return 0;
    }
    userec_model *m = userec_load(path, &err);
    CHECK(m != NULL, "test model loads", "%s", err.message);
    if (!m) CHECK_DONE();
    const userec_model_info info = userec_info(m);
    const int quick = env_is_1("USEREC_GPU_TEST_QUICK"), limits_only = env_is_1("USEREC_GPU_TEST_LIMITS");
    printf("GPU %s (cc %d.%d, %d SMs, %.1f GiB); model %s\n", dev.name, dev.cc_major, dev.cc_minor, dev.multiprocessors,
           dev.memory_bytes / 1073741824.0, path);

    /* The model cut to its first layer: the same weights, with layer 0 also the last (shallow: not freed). */
    userec_model one_layer = *m;
    one_layer.hp.n_layers = 1;

    batch oracle = make_batch(ORACLE_LENGTHS, N_ORACLE, info.vocab_rows);
    /* The device batch limits at full size: GPU_CHUNK_SENTENCES one-token sentences fill one chunk to the sentence
     * limit (the per-sentence buffers and the pooled products at full size) and a quarter as many a second; the
     * longest sentences, as many as GPU_CHUNK_TOKENS tokens hold, fill one chunk to the token limit exactly. */
    batch at_sentence_limit = uniform_batch(GPU_CHUNK_SENTENCES + GPU_CHUNK_SENTENCES / 4, 1, info.vocab_rows);
    batch at_token_limit = uniform_batch(GPU_CHUNK_TOKENS / info.max_len, info.max_len, info.vocab_rows);
    batch large = {0}, *texts = NULL;
    if (!quick && !limits_only) {
        enum { LARGE = 5000 }; /* about 320k tokens: five default chunks */
        size_t *lengths = malloc(LARGE * sizeof *lengths);
        for (size_t s = 0; s < LARGE; s++) lengths[s] = random_u32() % (info.max_len + 1);
        large = make_batch(lengths, LARGE, info.vocab_rows);
        free(lengths);
        const char *texts_path = getenv("USEREC_GPU_TEXT_IDS");
        if (texts_path && *texts_path && !(texts = read_ids_file(texts_path, info.vocab_rows)))
            printf("  cannot read USEREC_GPU_TEXT_IDS=%s\n", texts_path);
        if (!texts) SKIP("catalogue texts", "USEREC_GPU_TEXT_IDS names no readable file of token-id lines");
    } else {
        SKIP("large batch and catalogue texts", quick ? "USEREC_GPU_TEST_QUICK=1" : "USEREC_GPU_TEST_LIMITS=1");
    }
    reference oracle_ref = {0}, one_layer_ref = {0}, others[4];
    size_t n_others = 0;
    if (!limits_only) {
        oracle_ref = cpu_reference(m, &oracle, "oracle batch");
        one_layer_ref = cpu_reference(&one_layer, &oracle, "oracle batch");
    }
    if (!quick) {
        others[n_others] = cpu_reference(m, &at_sentence_limit, "a chunk at the sentence limit and a second");
        others[n_others++].chunks = 2;
        others[n_others] = cpu_reference(m, &at_token_limit, "a chunk at the token limit");
        others[n_others++].chunks = 1;
    } else {
        SKIP("device batch limits", "USEREC_GPU_TEST_QUICK=1");
    }
    if (large.n) others[n_others++] = cpu_reference(m, &large, "large random batch");
    if (texts) others[n_others++] = cpu_reference(m, texts, "catalogue texts");
    /* Quick runs leave tf32 out: the same kernels as fp32, only cuBLASLt's compute type differs. */
    const char *precisions = getenv("USEREC_GPU_TEST_PRECISIONS");
    char *list = strdup(precisions && *precisions ? precisions : quick ? "fp32,bf16" : "fp32,tf32,bf16"), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        userec_precision p;
        if (userec_precision_parse(tok, &p, NULL)) {
            CHECK(0, "USEREC_GPU_TEST_PRECISIONS", "'%s' is not fp32, tf32 or bf16", tok);
            continue;
        }
        char one_layer_mode[32];
        snprintf(one_layer_mode, sizeof one_layer_mode, "one-layer %s", tok);
        const context cx = {.model = m, .dim = info.dim, .p = p, .tol = TOLERANCES[p], .mode = tok};
        const context one = {.model = &one_layer, .dim = info.dim, .p = p, .tol = TOLERANCES[p], .mode = one_layer_mode};
        test_precision(&cx, limits_only ? NULL : &oracle_ref, others, n_others);
        if (!limits_only) test_precision(&one, NULL, &one_layer_ref, 1);
    }
    free(list);
    for (size_t i = 0; i < n_others; i++) free(others[i].want);
    free(oracle_ref.want);
    free(one_layer_ref.want);
    free_batch(&oracle);
    free_batch(&at_sentence_limit);
    free_batch(&at_token_limit);
    if (large.n) free_batch(&large);
    if (texts) free_batch(texts), free(texts);
    userec_free(m);
    CHECK_DONE();
}
