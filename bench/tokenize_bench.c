/* tokenize_bench.c: times the tokenizer library (engine/tokenizer.h) on a file of texts; driven by
 * bench/tokenize_bench.py, which builds it against BUILD/libuserec.a.
 *
 * usage: tokenize_bench MODEL.usew spm|tfjs RECORDS REPEATS THREADS
 * RECORDS: texts, each preceded by its byte length (uint32 little-endian). One untimed warm-up pass, then
 * REPEATS timed passes over all texts with THREADS OpenMP threads (one tok_scratch each, one shared
 * tokenizer). Prints one JSON line: best pass seconds, tokens, bytes, texts. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer.h"
#include "common/util.h"
#include "model/weights.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *msg) {
    fprintf(stderr, "tokenize_bench: %s\n", msg);
    return 1;
}

/* One pass over every text; returns the token count, or -1 on an encode error. */
static long long pass(const tokenizer *tok, const char *data, const size_t *offsets, size_t n, int threads) {
    long long tokens = 0;
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(+ : tokens) reduction(| : failed)
    {
        tok_scratch *s = tok_scratch_new();
        char err[256];
        failed |= !s;
#pragma omp for schedule(dynamic, 256)
        for (size_t i = 0; i < n; i++) {
            tok_result r;
            if (!s || tokenizer_encode(tok, data + offsets[i] + 4, offsets[i + 1] - offsets[i] - 4, 0, s, &r, err,
                                       sizeof err))
                failed = 1;
            else
                tokens += (long long)r.n_ids;
        }
        tok_scratch_free(s);
    }
    return failed ? -1 : tokens;
}

int main(int argc, char **argv) {
    if (argc != 6) return fail("usage: tokenize_bench MODEL.usew spm|tfjs RECORDS REPEATS THREADS");
    enum usew_tokenizer kind = !strcmp(argv[2], "tfjs") ? USEW_TOK_TFJS : USEW_TOK_SPM;
    int repeats = atoi(argv[4]), threads = atoi(argv[5]);
    char err[512];
    FILE *in = fopen(argv[3], "rb");
    if (!in) return fail(strerror(errno));
    if (fseek(in, 0, SEEK_END) || ftell(in) < 0) return fail(strerror(errno));
    size_t size = (size_t)ftell(in);
    rewind(in);
    char *data = malloc(size + 1);
    if (!data || fread(data, 1, size, in) != size) return fail("cannot read the records file");
    fclose(in);
    size_t n = 0, cap = 1024, *offsets = malloc(cap * sizeof *offsets);
    offsets[0] = 0;
    for (size_t pos = 0; pos + 4 <= size; pos += 4 + rd_u32((const uint8_t *)data + pos)) {
        if (n + 2 > cap && !(offsets = realloc(offsets, (cap *= 2) * sizeof *offsets))) return fail("out of memory");
        offsets[++n] = pos + 4 + rd_u32((const uint8_t *)data + pos);
    }
    if (offsets[n] != size) return fail("the records file is truncated");

    usew_file *f = usew_open(argv[1], NULL, err, sizeof err);
    if (!f) return fail(err);
    tokenizer *tok = tokenizer_from_usew(f, kind, err, sizeof err);
    usew_close(f);
    if (!tok) return fail(err);

    long long tokens = pass(tok, data, offsets, n, threads);
    double best = 1e30;
    for (int r = 0; r < repeats && tokens >= 0; r++) {
        double t0 = now();
        tokens = pass(tok, data, offsets, n, threads);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    if (tokens < 0) return fail("an encode call failed");
    printf("{\"seconds\": %.6f, \"tokens\": %lld, \"bytes\": %zu, \"texts\": %zu}\n", best, tokens, size - 4 * n, n);
    tokenizer_free(tok);
    free(offsets);
    free(data);
    return 0;
}
