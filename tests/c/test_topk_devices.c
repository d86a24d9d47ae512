/* test_topk_devices.c: the top-k cut across devices (engine/topk/topk_devices.c) and into blocks of all-pairs
 * queries (userec_topk_options.query_offset, what related --shard runs): every cut gives the lists of one whole
 * search, bit for bit. On the CPU ("cpu:0,0,0"): the splitting, offsets and error paths are the same for GPUs. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "userec.h"

#define N 1100 /* more than two of the CPU path's 512-row tiles */
#define DIM 48
#define K 7

static float items[N * DIM];
static int32_t groups[N];

static void make_items(void) {
    srand(5);
    for (size_t i = 0; i < N; i++) {
        double norm = 0;
        for (size_t d = 0; d < DIM; d++) {
            items[i * DIM + d] = (float)rand() / RAND_MAX - 0.5f;
            norm += items[i * DIM + d] * items[i * DIM + d];
        }
        for (size_t d = 0; d < DIM; d++) items[i * DIM + d] = (float)(items[i * DIM + d] / sqrt(norm));
        groups[i] = (int32_t)(i % 5);
    }
    memcpy(items + 300 * DIM, items + 10 * DIM, DIM * sizeof *items); /* a duplicate: an exact tie across blocks */
}

typedef struct {
    int32_t index[N * K];
    float score[N * K];
} lists;

static int same_lists(const lists *a, const lists *b, size_t first, size_t n) {
    return !memcmp(a->index + first * K, b->index, n * K * sizeof *b->index) &&
           !memcmp(a->score + first * K, b->score, n * K * sizeof *b->score);
}

static pthread_t caller;
static int progress_calls, progress_elsewhere;
static double last_fraction;

static void on_progress(void *arg, double fraction) {
    progress_calls++;
    progress_elsewhere += !pthread_equal(pthread_self(), caller);
    last_fraction = fraction;
}

static lists whole, part;

int main(void) {
    make_items();
    caller = pthread_self();
    userec_error err = {0};
    const userec_topk_options all_pairs = {.k = K, .exclude_self = 1, .device = USEREC_DEVICE_CPU};
    CHECK(!userec_topk_search(items, N, items, N, DIM, &all_pairs, whole.index, whole.score, &err),
          "topk blocks: the whole all-pairs search", "%s", err.message);

    /* blocks of the queries, as related --shard I/N cuts them, each with its offset */
    static const size_t cuts[][2] = {{0, 1}, {0, 300}, {300, 301}, {301, 1024}, {1024, N}, {N, N}, {5, 900}};
    int blocks_ok = 1;
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        const size_t lo = cuts[c][0], n = cuts[c][1] - lo;
        userec_topk_options o = all_pairs;
        o.query_offset = lo;
        if (userec_topk_search(items + lo * DIM, n, items, N, DIM, &o, part.index, part.score, &err) ||
            !same_lists(&whole, &part, lo, n)) {
            printf("# block %zu..%zu: %s\n", lo, lo + n, err.message);
            blocks_ok = 0;
        }
    }
    CHECK(blocks_ok, "topk blocks: each block of queries with its offset equals its rows of the whole", "see above");

    userec_topk_options o = all_pairs;
    o.query_offset = N - 10;
    CHECK(userec_topk_search(items, 11, items, N, DIM, &o, part.index, part.score, &err) == USEREC_ERR_INPUT,
          "topk blocks: an offset block past the items is refused", "status %d", (int)err.status);

    userec_devices three, cuda;
    userec_devices_parse("cpu:0,0,0", &three, NULL);
    o = all_pairs;
    o.devices = &three;
    o.progress = on_progress;
    CHECK(!userec_topk_search(items, N, items, N, DIM, &o, part.index, part.score, &err) &&
              same_lists(&whole, &part, 0, N),
          "topk devices: all-pairs on cpu:0,0,0 equals one search", "%s", err.message);
    CHECK(progress_calls > 0 && !progress_elsewhere && last_fraction == 1,
          "topk devices: progress on the calling thread, ending at 1", "%d calls, %d elsewhere, last %g", progress_calls,
          progress_elsewhere, last_fraction);

    /* a block of all-pairs on several devices: the offsets add up */
    o.query_offset = 200, o.progress = NULL;
    CHECK(!userec_topk_search(items + 200 * DIM, 650, items, N, DIM, &o, part.index, part.score, &err) &&
              same_lists(&whole, &part, 200, 650),
          "topk devices: a block of all-pairs on cpu:0,0,0", "%s", err.message);

    /* queries that are not items, and the filters, which run on the CPU */
    const userec_topk_options filtered = {.k = K, .device = USEREC_DEVICE_CPU, .use_min_score = 1, .min_score = 0.05f,
                                          .group_rule = USEREC_GROUPS_OTHER, .item_group = groups,
                                          .query_group = groups + 100, .exclude_self = 0};
    lists *want = malloc(sizeof *want);
    o = filtered;
    o.devices = &three;
    CHECK(!userec_topk_search(items + 100 * DIM, 500, items, N, DIM, &filtered, want->index, want->score, &err) &&
              !userec_topk_search(items + 100 * DIM, 500, items, N, DIM, &o, part.index, part.score, &err) &&
              same_lists(want, &part, 0, 500),
          "topk devices: filtered queries on cpu:0,0,0 equal one search", "%s", err.message);
    free(want);

    userec_devices_parse("cuda:0,1", &cuda, NULL);
    o = filtered;
    o.devices = &cuda;
    CHECK(userec_topk_search(items, 10, items, N, DIM, &o, part.index, part.score, &err) == USEREC_ERR_INPUT &&
              strstr(err.message, "CPU only"),
          "topk devices: filters on a GPU list are refused", "%s", err.message);
    int count = 0;
    if (userec_gpu_list(NULL, 0, &count, &err) == USEREC_OK && count) {
        SKIP("topk devices: cuda:0,1 without a GPU fails saying why", "this machine has a GPU");
    } else {
        o = all_pairs;
        o.devices = &cuda;
        CHECK(userec_topk_search(items, N, items, N, DIM, &o, part.index, part.score, &err) == USEREC_ERR_DEVICE &&
                  strstr(err.message, "no usable GPU"),
              "topk devices: cuda:0,1 without a GPU fails saying why", "%s", err.message);
    }
    CHECK_DONE();
}
