/* test_multi_encoder.c: the dispatcher of several devices (engine/encoder/multi_encoder.c), without a GPU: its
 * workers here are functions that compute a row from its sentence (so a row in the wrong place shows), that fail
 * on purpose, or that dawdle; then real CPU encoders behind userec_encoder_open_on ("cpu:0,0,0") against one
 * (USEREC_TEST_MODEL), bit for bit; then the device lists themselves (userec_devices_parse / _name / _choose). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "encoder/multi_encoder.h"
#include "userec.h"

#define DIM 4

/* A fake device: row = (sum of ids, first id, length, this worker's number); fails on a sentence whose first id
 * is `poison` or more (0: never), naming that id; sleeps `delay_ms` per piece. Counts its pieces and sentences. */
typedef struct {
    int number, delay_ms;
    int32_t poison;
    pthread_mutex_t lock;
    size_t pieces, sentences;
} fake;

static userec_status fake_encode(void *worker, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                 userec_counts *counts, userec_error *err) {
    fake *f = worker;
    if (f->delay_ms) nanosleep(&(struct timespec){0, f->delay_ms * 1000000L}, NULL);
    for (size_t s = 0; s < n; s++) {
        const size_t len = offsets[s + 1] - offsets[s];
        if (f->poison && len && ids[offsets[s]] >= f->poison) {
            err->status = USEREC_ERR_DEVICE;
            snprintf(err->message, sizeof err->message, "poisoned sentence with first id %d", ids[offsets[s]]);
            return USEREC_ERR_DEVICE;
        }
        float sum = 0;
        for (size_t i = offsets[s]; i < offsets[s + 1]; i++) sum += (float)ids[i];
        float *row = out + s * DIM;
        row[0] = sum, row[1] = len ? (float)ids[offsets[s]] : -1, row[2] = (float)len, row[3] = (float)f->number;
    }
    pthread_mutex_lock(&f->lock);
    f->pieces++;
    f->sentences += n;
    pthread_mutex_unlock(&f->lock);
    counts->sentences += n;
    counts->tokens += offsets[n] - offsets[0];
    return USEREC_OK;
}

/* n sentences of 0 to 30 ids (ids from 1; some sentences empty). */
static void make_batch(size_t n, unsigned seed, int32_t **ids, size_t **offsets) {
    *offsets = malloc((n + 1) * sizeof **offsets);
    *ids = malloc(n * 30 * sizeof **ids + 1);
    srand(seed);
    (*offsets)[0] = 0;
    for (size_t s = 0; s < n; s++) {
        const size_t len = (size_t)(rand() % 31);
        for (size_t i = 0; i < len; i++) (*ids)[(*offsets)[s] + i] = 1 + rand() % 1000;
        (*offsets)[s + 1] = (*offsets)[s] + len;
    }
}

/* Rows must equal what one worker writes, except column 3 (who wrote it). */
static int rows_equal(const float *a, const float *b, size_t n) {
    for (size_t s = 0; s < n; s++)
        if (memcmp(a + s * DIM, b + s * DIM, 3 * sizeof *a)) return 0;
    return 1;
}

static void test_order_and_counts(void) {
    /* each piece takes 10 ms, so that on a loaded machine a worker cannot take every piece before the others
     * wake (the hand-out is checked as such by test_handout) */
    fake f[3] = {{.number = 0, .delay_ms = 10}, {.number = 1, .delay_ms = 10}, {.number = 2, .delay_ms = 10}};
    void *workers[3];
    for (int i = 0; i < 3; i++) pthread_mutex_init(&f[i].lock, NULL), workers[i] = &f[i];
    char err[256];
    multi_encoder *m = multi_encoder_new(fake_encode, workers, 3, DIM, 0, err, sizeof err);
    CHECK(m != NULL, "multi: starts three workers", "%s", err);
    if (!m) return;
    const size_t n = 1000;
    int32_t *ids;
    size_t *offsets;
    make_batch(n, 7, &ids, &offsets);
    float *alone = malloc(n * DIM * sizeof *alone), *together = malloc(n * DIM * sizeof *together);
    userec_counts c1 = {0}, c2 = {0};
    userec_error uerr;
    fake solo = {.number = 9};
    pthread_mutex_init(&solo.lock, NULL);
    fake_encode(&solo, ids, offsets, n, alone, &c1, &uerr);
    int same = 1;
    for (int call = 0; call < 5 && same; call++) { /* several calls through the same threads */
        memset(together, 0xff, n * DIM * sizeof *together);
        userec_counts c = {0};
        same = !multi_encoder_encode(m, ids, offsets, n, together, &c, NULL, &uerr) && rows_equal(together, alone, n) &&
               c.sentences == c1.sentences && c.tokens == c1.tokens;
        c2 = c;
    }
    CHECK(same, "multi: every row in its input place, counts summed, call after call",
          "sentences %zu/%zu tokens %zu/%zu", c2.sentences, c1.sentences, c2.tokens, c1.tokens);
    size_t used = 0;
    for (int i = 0; i < 3; i++) used += f[i].pieces > 0;
    CHECK(used == 3, "multi: a call of 1000 sentences reaches every worker", "%zu of 3 workers had pieces", used);
    /* an offsets array that does not start at 0: the middle of a larger batch */
    userec_counts c3 = {0};
    const userec_status st = multi_encoder_encode(m, ids, offsets + 100, 50, together, &c3, NULL, &uerr);
    CHECK(!st && rows_equal(together, alone + 100 * DIM, 50) && c3.sentences == 50,
          "multi: sentences 100..149 of a batch (offsets not from 0)", "status %d", (int)st);
    CHECK(!multi_encoder_encode(m, ids, offsets, 0, together, NULL, NULL, &uerr), "multi: an empty call does nothing", "%s",
          uerr.message);
    multi_encoder_free(m);
    free(ids), free(offsets), free(alone), free(together);
}

/* A slower device gets fewer pieces: they are handed out as devices free up, not in turns. */
static void test_handout(void) {
    fake f[2] = {{.number = 0, .delay_ms = 30}, {.number = 1, .delay_ms = 1}};
    void *workers[2] = {&f[0], &f[1]};
    for (int i = 0; i < 2; i++) pthread_mutex_init(&f[i].lock, NULL);
    char err[256];
    /* pieces of at most 20 tokens: a call of 400 sentences makes about a hundred */
    multi_encoder *m = multi_encoder_new(fake_encode, workers, 2, DIM, 20, err, sizeof err);
    const size_t n = 400;
    int32_t *ids;
    size_t *offsets;
    make_batch(n, 11, &ids, &offsets);
    float *out = malloc(n * DIM * sizeof *out);
    userec_error uerr;
    const userec_status st = multi_encoder_encode(m, ids, offsets, n, out, NULL, NULL, &uerr);
    CHECK(!st && f[1].pieces > 4 * f[0].pieces,
          "multi: the fast worker takes the pieces the slow one cannot", "slow %zu pieces, fast %zu", f[0].pieces,
          f[1].pieces);
    size_t longest = 0; /* piece_tokens bounds a piece, unless one sentence alone is longer */
    for (size_t s = 0; s < n; s++) longest = offsets[s + 1] - offsets[s] > longest ? offsets[s + 1] - offsets[s] : longest;
    CHECK(f[0].pieces + f[1].pieces >= (offsets[n] - offsets[0]) / (20 + longest),
          "multi: pieces stay near piece_tokens", "%zu pieces for %zu tokens", f[0].pieces + f[1].pieces,
          offsets[n] - offsets[0]);
    multi_encoder_free(m);
    free(ids), free(offsets), free(out);
}

/* A failing piece: no piece is handed out after it, the error is the first failing piece's in input order, named
 * by its worker, and counts are left alone. */
static void test_errors(void) {
    fake f[2] = {{.number = 0, .poison = 5000}, {.number = 1, .poison = 5000}};
    void *workers[2] = {&f[0], &f[1]};
    for (int i = 0; i < 2; i++) pthread_mutex_init(&f[i].lock, NULL);
    const char *names[] = {"gpu-a", "gpu-b"};
    char err[256];
    multi_encoder *m = multi_encoder_new(fake_encode, workers, 2, DIM, 10, err, sizeof err);
    const size_t n = 300;
    int32_t *ids;
    size_t *offsets;
    make_batch(n, 13, &ids, &offsets);
    ids[offsets[40]] = 5040; /* sentences 40 and 250 poison their pieces */
    ids[offsets[250]] = 5250;
    const int nonempty = offsets[41] > offsets[40] && offsets[251] > offsets[250];
    float *out = malloc(n * DIM * sizeof *out);
    userec_counts c = {0};
    userec_error uerr = {0};
    const userec_status st = multi_encoder_encode(m, ids, offsets, n, out, &c, names, &uerr);
    CHECK(!nonempty || (st == USEREC_ERR_DEVICE && uerr.status == USEREC_ERR_DEVICE &&
                        (strstr(uerr.message, "gpu-a: poisoned") == uerr.message ||
                         strstr(uerr.message, "gpu-b: poisoned") == uerr.message) &&
                        strstr(uerr.message, "id 5040")),
          "multi: the first failing piece's error comes back, named by its device", "status %d: %s", (int)st,
          uerr.message);
    CHECK(c.sentences == 0 && c.tokens == 0, "multi: counts untouched by a failed call", "%zu sentences", c.sentences);
    CHECK(f[0].sentences + f[1].sentences < n, "multi: no more pieces handed out after a failure",
          "%zu of %zu sentences encoded", f[0].sentences + f[1].sentences, n);
    /* the dispatcher still works after a failure */
    ids[offsets[40]] = 1, ids[offsets[250]] = 1;
    CHECK(!multi_encoder_encode(m, ids, offsets, n, out, &c, names, &uerr) && c.sentences == n,
          "multi: the next call runs whole", "%s", uerr.message);
    multi_encoder_free(m);
    free(ids), free(offsets), free(out);
}

/* Three CPU encoders behind one (cpu:0,0,0) against one CPU encoder: the same bits, the same counts. */
static void test_cpu_encoders(void) {
    const char *path = getenv("USEREC_TEST_MODEL");
    if (!path) {
        SKIP("multi: cpu:0,0,0 equals cpu bit for bit", "USEREC_TEST_MODEL is not set (tests/run.py sets it)");
        return;
    }
    userec_error err;
    userec_model *model = userec_load(path, &err);
    userec_devices three;
    CHECK(model && !userec_devices_parse("cpu:0,0,0", &three, &err), "multi: model and cpu:0,0,0", "%s", err.message);
    if (!model) return;
    userec_encoder *one = userec_encoder_open(model, USEREC_DEVICE_CPU, USEREC_FP32, NULL, &err);
    userec_encoder *multi = userec_encoder_open_on(model, &three, USEREC_FP32, NULL, &err);
    CHECK(one && multi, "multi: opens three CPU encoders", "%s", err.message);
    const size_t n = 150, dim = userec_info(model).dim;
    int32_t *ids;
    size_t *offsets;
    make_batch(n, 17, &ids, &offsets);
    for (size_t i = 0; i < offsets[n]; i++) ids[i] = 5 + ids[i] % 7000;
    float *a = malloc(n * dim * sizeof *a), *b = malloc(n * dim * sizeof *b);
    userec_counts ca = {0}, cb = {0};
    const int ok = one && multi && !userec_encoder_encode(one, ids, offsets, n, a, &ca, &err) &&
                   !userec_encoder_encode(multi, ids, offsets, n, b, &cb, &err);
    CHECK(ok && !memcmp(a, b, n * dim * sizeof *a) && ca.tokens == cb.tokens && ca.clipped == cb.clipped,
          "multi: cpu:0,0,0 equals cpu bit for bit", "%s", ok ? "vectors or counts differ" : err.message);
    userec_device_work work[4];
    const size_t parts = multi ? userec_encoder_work(multi, work, 4) : 0;
    size_t sentences = 0;
    for (size_t i = 0; i < parts; i++) sentences += work[i].sentences;
    CHECK(parts == 3 && sentences == n && userec_encoder_part(multi, 2) && !userec_encoder_part(multi, 3),
          "multi: each device's work adds up to the call", "%zu parts, %zu sentences", parts, sentences);
    /* a bad id is named by its place in the whole call, as one encoder names it */
    ids[offsets[120]] = -3;
    userec_error e1, e2;
    const int refused = offsets[121] > offsets[120] && userec_encoder_encode(one, ids, offsets, n, a, NULL, &e1) &&
                        userec_encoder_encode(multi, ids, offsets, n, b, NULL, &e2);
    CHECK(!(offsets[121] > offsets[120]) || (refused && !strcmp(e1.message, e2.message)),
          "multi: a bad id gets one encoder's message", "'%s' vs '%s'", e1.message, e2.message);
    CHECK(multi && strstr(userec_encoder_name(multi), "cpu:0,0,0: 3 x cpu fp32"), "multi: named after its list", "%s",
          multi ? userec_encoder_name(multi) : "");
    userec_encoder_close(one);
    userec_encoder_close(multi);
    userec_free(model);
    free(ids), free(offsets), free(a), free(b);
}

/* The --device lists. */
static void test_device_lists(void) {
    static const struct {
        const char *text, *name;
        userec_device kind;
        int count, all;
    } good[] = {{"cpu", "cpu", USEREC_DEVICE_CPU, 1, 0},        {"cuda", "cuda", USEREC_DEVICE_CUDA, 1, 0},
                {"auto", "auto", USEREC_DEVICE_AUTO, 0, 0},     {"cuda:0", "cuda", USEREC_DEVICE_CUDA, 1, 0},
                {"cuda:0,1,3", "cuda:0,1,3", USEREC_DEVICE_CUDA, 3, 0}, {"cuda:0,0", "cuda:0,0", USEREC_DEVICE_CUDA, 2, 0},
                {"cuda:all", "cuda:all", USEREC_DEVICE_CUDA, 0, 1}, {"cpu:0,0", "cpu:0,0", USEREC_DEVICE_CPU, 2, 0},
                {"cpu:all", "cpu", USEREC_DEVICE_CPU, 1, 0}};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        userec_devices d;
        userec_error err = {0};
        char name[64] = "";
        const userec_status st = userec_devices_parse(good[i].text, &d, &err);
        if (!st) userec_devices_name(&d, name, sizeof name);
        char label[64];
        snprintf(label, sizeof label, "devices: '%s' parses", good[i].text);
        CHECK(!st && d.kind == good[i].kind && d.count == good[i].count && d.all == good[i].all &&
                  !strcmp(name, good[i].name), label, "status %d (%s), count %d, name '%s'", (int)st, err.message,
              d.count, name);
    }
    static const char *const bad[] = {"gpu", "cuda:", "cuda:x", "cuda:0,", "cuda:0,,1", "cuda:-1", "cuda:1024",
                                      "cpu:1", "auto:0", "cpu,cuda", "cuda:0;1", ""};
    int refused = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        userec_devices d;
        userec_error err = {0};
        if (!userec_devices_parse(bad[i], &d, &err) || err.status != USEREC_ERR_INPUT || !strstr(err.message, bad[i])) {
            printf("# '%s' was not refused with its name: %s\n", bad[i], err.message);
            refused = 0;
        }
    }
    CHECK(refused, "devices: malformed lists are refused, named", "see above");
    userec_devices many;
    char text[600] = "cuda:0";
    for (int i = 1; i <= USEREC_MAX_DEVICES; i++) snprintf(text + strlen(text), sizeof text - strlen(text), ",%d", i % 8);
    userec_error err = {0};
    CHECK(userec_devices_parse(text, &many, &err) == USEREC_ERR_INPUT, "devices: more than USEREC_MAX_DEVICES refused",
          "%s", err.message);
    userec_devices cpu2, chosen;
    userec_devices_parse("cpu:0,0", &cpu2, NULL);
    CHECK(!userec_devices_choose(&cpu2, NULL, &chosen, &err) && chosen.kind == USEREC_DEVICE_CPU && chosen.count == 2,
          "devices: cpu:0,0 is chosen as it is", "%s", err.message);
}

int main(void) {
    test_device_lists();
    test_order_and_counts();
    test_handout();
    test_errors();
    test_cpu_encoders();
    CHECK_DONE();
}
