/* topk_devices.c: one top-k search on several devices (userec_topk_options.devices): the queries are cut into one
 * contiguous block per listed device and each block is searched against every item, so its lists are exactly
 * those of a one-device search (query_offset keeps "query q is item q" for all-pairs blocks). A thread per
 * distinct device runs that device's blocks one after the other: two searches at once on one GPU would each
 * plan with the memory the other is about to take. The calling thread waits and reports the progress. */
#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <time.h>

#include "common/error.h"
#include "common/util.h"
#include "gpu/gpu.h"
#include "topk/topk.h"

typedef struct search search;

typedef struct {
    search *s;
    size_t first, n;  /* query rows [first, first + n) */
    int device;       /* its device number (CUDA; 0 for the CPU) */
    double fraction;  /* its progress, under s->lock */
    userec_status status;
    userec_error err;
} block;

typedef struct {
    search *s;
    int device;
    int started;
    pthread_t thread;
} runner;

struct search {
    const float *queries, *items;
    size_t n_items, dim;
    const userec_topk_options *opt;
    userec_device kind;
    int32_t *index;
    float *score;
    block blocks[USEREC_MAX_DEVICES];
    int n_blocks, omp_threads;
    pthread_mutex_t lock;
    pthread_cond_t finished;
    int running; /* runners not yet done */
};

static void block_progress(void *arg, double fraction) {
    block *b = arg;
    pthread_mutex_lock(&b->s->lock);
    b->fraction = fraction;
    pthread_mutex_unlock(&b->s->lock);
}

/* One device's blocks, in turn, on its own thread. */
static void *run_device(void *arg) {
    runner *r = arg;
    search *s = r->s;
    omp_set_num_threads(s->omp_threads); /* a new thread starts from OpenMP's default, not the caller's --threads */
    userec_error why;
    /* cudaSetDevice is per thread: this one's work goes to its device (gpu_check makes it current) */
    const userec_status ready = s->kind == USEREC_DEVICE_CUDA ? gpu_check(r->device, &why) : USEREC_OK;
    for (int i = 0; i < s->n_blocks; i++) {
        block *b = &s->blocks[i];
        if (b->device != r->device) continue;
        if (ready) {
            b->status = ready, b->err = why;
            continue;
        }
        userec_topk_options o = *s->opt;
        o.devices = NULL;
        o.device = s->kind;
        o.query_offset += b->first;
        if (o.query_group) o.query_group += b->first;
        o.progress = block_progress;
        o.progress_arg = b;
        b->status = topk_search_one(s->queries + b->first * s->dim, b->n, s->items, s->n_items, s->dim, &o,
                                    s->index + b->first * o.k, s->score + b->first * o.k, &b->err);
        block_progress(b, 1);
    }
    pthread_mutex_lock(&s->lock);
    s->running--;
    pthread_cond_signal(&s->finished);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* The share of the query rows searched, under s->lock. */
static double done_fraction(const search *s, size_t n_queries) {
    double rows = 0;
    for (int i = 0; i < s->n_blocks; i++) rows += s->blocks[i].fraction * (double)s->blocks[i].n;
    return n_queries ? rows / (double)n_queries : 1;
}

/* Waits for the runners, calling opt->progress now and then (on this thread, as userec.h promises). */
static void wait_for_runners(search *s, size_t n_queries) {
    pthread_mutex_lock(&s->lock);
    while (s->running) {
        if (!s->opt->progress) {
            pthread_cond_wait(&s->finished, &s->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250000000;
        if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&s->finished, &s->lock, &until);
        const double fraction = done_fraction(s, n_queries);
        pthread_mutex_unlock(&s->lock);
        s->opt->progress(s->opt->progress_arg, fraction);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
}

userec_status topk_search_devices(const float *queries, size_t n_queries, const float *items, size_t n_items,
                                  size_t dim, const userec_topk_options *opt, const userec_devices *devices,
                                  int32_t *index, float *score, userec_error *err) {
    search s = {.queries = queries, .items = items, .n_items = n_items, .dim = dim, .opt = opt,
                .kind = devices->kind, .index = index, .score = score, .n_blocks = devices->count,
                .omp_threads = omp_get_max_threads()};
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.finished, NULL);
    const size_t parts = (size_t)s.n_blocks;
    for (size_t i = 0; i < parts; i++) {
        const size_t first = n_queries * i / parts;
        s.blocks[i] = (block){.s = &s, .first = first, .n = n_queries * (i + 1) / parts - first,
                              .device = devices->index[i]};
    }
    runner runners[USEREC_MAX_DEVICES];
    int n_runners = 0;
    for (int i = 0; i < s.n_blocks; i++) {
        int seen = 0;
        for (int j = 0; j < n_runners && !seen; j++) seen = runners[j].device == s.blocks[i].device;
        if (seen) continue;
        runner *r = &runners[n_runners++];
        *r = (runner){.s = &s, .device = s.blocks[i].device};
        pthread_mutex_lock(&s.lock);
        s.running++;
        pthread_mutex_unlock(&s.lock);
        if (!(errno = pthread_create(&r->thread, NULL, run_device, r))) {
            r->started = 1;
            continue;
        }
        char msg[256];
        SYS_ERR(msg, sizeof msg, "top-k", "starting a device thread");
        for (int j = 0; j < s.n_blocks; j++)
            if (s.blocks[j].device == r->device)
                s.blocks[j].status = set_error(&s.blocks[j].err, USEREC_ERR_NOMEM, "%s", msg);
        pthread_mutex_lock(&s.lock);
        s.running--;
        pthread_mutex_unlock(&s.lock);
    }
    wait_for_runners(&s, n_queries);
    for (int i = 0; i < n_runners; i++)
        if (runners[i].started) pthread_join(runners[i].thread, NULL);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.finished);
    for (int i = 0; i < s.n_blocks; i++) /* the first failure in query order */
        if (s.blocks[i].status) {
            if (s.kind == USEREC_DEVICE_CPU) return set_error(err, s.blocks[i].status, "%s", s.blocks[i].err.message);
            return set_error(err, s.blocks[i].status, "cuda:%d: %s", s.blocks[i].device, s.blocks[i].err.message);
        }
    return USEREC_OK;
}
