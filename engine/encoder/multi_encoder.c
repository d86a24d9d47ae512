/* multi_encoder.c: one encode call shared by worker threads, one per device (multi_encoder.h).
 *
 *   caller:  cut the call into pieces -> new generation, wake the workers -> wait until every worker is idle
 *   worker:  take the next piece (under the lock) -> encode it (outside) -> record its result -> next piece
 *
 * Pieces are taken in input order by whichever worker is free, so a faster device takes more of them; each
 * piece writes rows [first, first + n) of the output, which keeps the input order whoever encodes it. */
#include "encoder/multi_encoder.h"

#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"

typedef struct {
    size_t first, n;      /* sentences [first, first + n) of the call */
    userec_status status; /* its result */
    size_t worker;        /* who encoded it */
    userec_counts counts;
    userec_error err;
} piece;

typedef struct {
    multi_encoder *m;
    size_t index;
    pthread_t thread;
} worker_thread;

struct multi_encoder {
    multi_encode_fn fn;
    void **workers;
    size_t n_workers, dim, piece_tokens;
    int omp_threads;
    worker_thread *threads;
    size_t started; /* threads running */

    pthread_mutex_t lock;
    pthread_cond_t work, idle;
    unsigned long generation; /* one per call: a worker sleeps until it changes */
    int quit;
    /* the call under way */
    const int32_t *ids;
    const size_t *offsets;
    float *out;
    piece *pieces;
    size_t n_pieces, pieces_cap, next_piece;
    size_t busy; /* workers not yet done with this call */
    int failed;  /* a piece failed: hand out no more */
};

static void *worker_main(void *arg) {
    worker_thread *t = arg;
    multi_encoder *m = t->m;
    omp_set_num_threads(m->omp_threads); /* a new thread starts from OpenMP's default, not the caller's --threads */
    unsigned long seen = 0;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        while (m->generation == seen && !m->quit) pthread_cond_wait(&m->work, &m->lock);
        if (m->quit) break;
        seen = m->generation;
        while (!m->failed && m->next_piece < m->n_pieces) {
            piece *p = &m->pieces[m->next_piece++];
            pthread_mutex_unlock(&m->lock);
            p->worker = t->index;
            p->counts = (userec_counts){0};
            p->status = m->fn(m->workers[t->index], m->ids, m->offsets + p->first, p->n, m->out + p->first * m->dim,
                              &p->counts, &p->err);
            pthread_mutex_lock(&m->lock);
            if (p->status) m->failed = 1;
        }
        if (--m->busy == 0) pthread_cond_signal(&m->idle);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

static void stop_threads(multi_encoder *m) {
    pthread_mutex_lock(&m->lock);
    m->quit = 1;
    pthread_cond_broadcast(&m->work);
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < m->started; i++) pthread_join(m->threads[i].thread, NULL);
    m->started = 0;
}

void multi_encoder_free(multi_encoder *m) {
    if (!m) return;
    stop_threads(m);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->work);
    pthread_cond_destroy(&m->idle);
    free(m->threads);
    free(m->workers);
    free(m->pieces);
    free(m);
}

multi_encoder *multi_encoder_new(multi_encode_fn fn, void *const *workers, size_t n_workers, size_t dim,
                                 size_t piece_tokens, char *err, size_t err_len) {
    multi_encoder *m = calloc(1, sizeof *m);
    if (!m || !n_workers) {
        free(m);
        ERR(err, err_len, n_workers ? "out of memory" : "an encoder over no devices");
        return NULL;
    }
    *m = (multi_encoder){.fn = fn, .n_workers = n_workers, .dim = dim, .piece_tokens = piece_tokens,
                         .omp_threads = omp_get_max_threads()};
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->work, NULL);
    pthread_cond_init(&m->idle, NULL);
    m->workers = malloc(n_workers * sizeof *m->workers);
    m->threads = calloc(n_workers, sizeof *m->threads);
    if (!m->workers || !m->threads) {
        multi_encoder_free(m);
        ERR(err, err_len, "out of memory");
        return NULL;
    }
    memcpy(m->workers, workers, n_workers * sizeof *workers);
    for (size_t i = 0; i < n_workers; i++) {
        m->threads[i] = (worker_thread){.m = m, .index = i};
        if ((errno = pthread_create(&m->threads[i].thread, NULL, worker_main, &m->threads[i]))) {
            SYS_ERR(err, err_len, "the device threads", "pthread_create");
            multi_encoder_free(m);
            return NULL;
        }
        m->started++;
    }
    return m;
}

/* Cuts n sentences into pieces of about total / (2 workers) tokens (at most piece_tokens), whole sentences,
 * at least one each: two per worker let a faster device take more than its share. */
static int cut_pieces(multi_encoder *m, const size_t *offsets, size_t n) {
    const size_t total = offsets[n] - offsets[0];
    size_t target = (total + 2 * m->n_workers - 1) / (2 * m->n_workers);
    if (m->piece_tokens && target > m->piece_tokens) target = m->piece_tokens;
    if (!target) target = 1;
    m->n_pieces = 0;
    for (size_t s = 0; s < n;) {
        size_t end = s + 1;
        while (end < n && offsets[end] - offsets[s] < target) end++;
        if (GROW(m->pieces, m->pieces_cap, m->n_pieces + 1)) return -1;
        m->pieces[m->n_pieces++] = (piece){.first = s, .n = end - s};
        s = end;
    }
    return 0;
}

userec_status multi_encoder_encode(multi_encoder *m, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                   userec_counts *counts, const char *const *names, userec_error *err) {
    if (!n) return USEREC_OK;
    if (cut_pieces(m, offsets, n)) return set_error(err, USEREC_ERR_NOMEM, "out of memory cutting %zu sentences", n);
    pthread_mutex_lock(&m->lock);
    m->ids = ids, m->offsets = offsets, m->out = out;
    m->next_piece = 0;
    m->failed = 0;
    m->busy = m->n_workers;
    m->generation++;
    pthread_cond_broadcast(&m->work);
    while (m->busy) pthread_cond_wait(&m->idle, &m->lock);
    pthread_mutex_unlock(&m->lock);
    userec_counts sum = {0};
    for (size_t i = 0; i < m->next_piece; i++) { /* the pieces handed out, in input order */
        const piece *p = &m->pieces[i];
        if (p->status) {
            if (names) return set_error(err, p->status, "%s: %s", names[p->worker], p->err.message);
            return set_error(err, p->status, "%s", p->err.message);
        }
        sum.sentences += p->counts.sentences;
        sum.tokens += p->counts.tokens;
        sum.clipped += p->counts.clipped;
    }
    if (counts) {
        counts->sentences += sum.sentences;
        counts->tokens += sum.tokens;
        counts->clipped += sum.clipped;
    }
    return USEREC_OK;
}
