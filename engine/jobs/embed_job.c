/* embed_job.c: the `userec embed` pipeline (embed_job.h).
 *
 *   reader thread:  input_next -> window of rows (ids, texts copied) -> tokenise rows in parallel
 *   caller thread:  window by window, in order: encode accepted rows in batches -> write rows, ids, rejects
 *
 * Windows circulate through a ring of N_WINDOWS slots, so memory is bounded by the window size whatever the
 * input size, and tokenising window i+1 overlaps encoding window i. Batches are packed token rows (no
 * padding on either device), so they need no sorting by length; they are cut in input order, which keeps
 * the output order for free. */
#include "jobs/embed_job.h"

#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/grow.h"
#include "common/json_string.h"
#include "common/progress.h"
#include "output/atomic_file.h"
#include "output/run_facts.h"
#include "common/util.h"

#define N_WINDOWS 3
#define WINDOW_ROWS 4096
#define WINDOW_TEXT_BYTES ((size_t)8 << 20) /* a window closes at this much text (or one longer record) */
/* An encoder call never spans windows, so a window must hold the large batches of several devices (say 8 GPUs:
 * 2M tokens, cut into two pieces per GPU); one device's batch fits the defaults. */
#define WINDOW_ROWS_FOR(batch_tokens) ((batch_tokens) / 64 > WINDOW_ROWS ? (batch_tokens) / 64 : WINDOW_ROWS)
#define WINDOW_BYTES_FOR(batch_tokens) \
    ((batch_tokens) * 16 > WINDOW_TEXT_BYTES ? (batch_tokens) * 16 : WINDOW_TEXT_BYTES)

typedef struct {
    size_t line, row;
    size_t id;          /* offset of the NUL-terminated id in window.strings */
    size_t reason;      /* offset of the reject reason in window.strings, or NO_REASON */
    size_t text, text_len; /* the text in window.texts */
    int thread;         /* whose token buffer holds the ids */
    size_t tok_off, n_tok;
    int invalid_utf8;
} row_info;

#define NO_REASON ((size_t)-1)

typedef struct {
    int32_t *ids;
    size_t n, cap;
} token_buf;

typedef struct {
    row_info *rows;
    size_t n_rows;
    char *strings, *texts;
    size_t strings_len, strings_cap, texts_len, texts_cap;
    token_buf *tokens; /* one per tokenizer thread */
    size_t bytes_start, bytes_end; /* input positions before and after this window, for progress */
    int last;          /* the input ends with this window */
    int failed;        /* reading failed: err holds why */
    char err[512];
} window;

typedef struct {
    const embed_job *job;
    uint32_t vocab_rows;
    size_t max_ids; /* tokens kept per text: the model's max_len + 1 */
    input_reader *reader;
    window windows[N_WINDOWS];
    size_t produced, consumed; /* windows handed over / given back, counted since the start */
    int stop;                  /* the consumer gave up: the producer ends */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    tok_scratch **scratch; /* one per tokenizer thread */
    double tokenize_s;
    progress progress;
} pipeline;

/* Appends bytes (plus a NUL) to a window arena; returns the offset or NO_REASON when memory ran out. */
static size_t arena_add(char **arena, size_t *len, size_t *cap, const char *s, size_t n) {
    if (grow((void **)arena, cap, *len + n + 1, 1)) return NO_REASON;
    size_t at = *len;
    memcpy(*arena + at, s, n);
    (*arena)[at + n] = 0;
    *len += n + 1;
    return at;
}

static int add_row(window *w, const input_record *rec, size_t *rows_cap, const char *reason) {
    if (GROW(w->rows, *rows_cap, w->n_rows + 1)) return -1;
    row_info *r = &w->rows[w->n_rows];
    *r = (row_info){.line = rec->line, .row = rec->row, .reason = NO_REASON, .invalid_utf8 = rec->invalid_utf8};
    r->id = arena_add(&w->strings, &w->strings_len, &w->strings_cap, rec->id, strlen(rec->id));
    if (reason) r->reason = arena_add(&w->strings, &w->strings_len, &w->strings_cap, reason, strlen(reason));
    else r->text = arena_add(&w->texts, &w->texts_len, &w->texts_cap, rec->text, rec->text_len);
    r->text_len = reason ? 0 : rec->text_len;
    if (r->id == NO_REASON || (reason && r->reason == NO_REASON) || (!reason && r->text == NO_REASON)) return -1;
    w->n_rows++;
    return 0;
}

/* Token-id input: the line's ids, range-checked. Returns NULL, or the reason to reject the row. */
static const char *parse_ids(const char *line, uint32_t vocab_rows, token_buf *out, char *why, size_t why_len) {
    const char *p = line;
    size_t start = out->n;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return NULL;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        int shown = (int)strcspn(p, " \t");
        shown = shown > 20 ? 20 : shown;
        if (end == p || (*end && *end != ' ' && *end != '\t')) {
            snprintf(why, why_len, "'%.*s' is not a token id", shown, p);
        } else if (errno || v < 0 || v >= (long)vocab_rows) {
            snprintf(why, why_len, "token id %.*s is outside 0..%u", shown, p, vocab_rows - 1);
        } else if (GROW(out->ids, out->cap, out->n + 1)) {
            snprintf(why, why_len, "out of memory");
        } else {
            out->ids[out->n++] = (int32_t)v;
            p = end;
            continue;
        }
        out->n = start;
        return why;
    }
}

/* Tokenises (or parses) every accepted row of the window, rows spread over the tokenizer threads. A row
 * that cannot be turned into tokens becomes a rejected one. */
static void tokenize_window(pipeline *pl, window *w) {
    const embed_job *job = pl->job;
    for (int t = 0; t < job->threads; t++) w->tokens[t].n = 0;
#pragma omp parallel for num_threads(job->threads) schedule(dynamic, 16)
    for (size_t i = 0; i < w->n_rows; i++) {
        row_info *r = &w->rows[i];
        if (r->reason != NO_REASON) continue;
        const int t = omp_get_thread_num();
        token_buf *buf = &w->tokens[t];
        const char *reason = NULL;
        char why[160];
        r->thread = t;
        r->tok_off = buf->n;
        if (!job->tok) {
            const char *line = w->texts + r->text;
            reason = strlen(line) != r->text_len ? "NUL byte in the line"
                                                 : parse_ids(line, pl->vocab_rows, buf, why, sizeof why);
        } else if (job->strict && r->invalid_utf8) {
            reason = "invalid UTF-8 (--strict)";
        } else {
            tok_result res;
            /* the encoder keeps max_len tokens; one more tells it the text was clipped */
            if (tokenizer_encode_first(job->tok, w->texts + r->text, r->text_len, pl->max_ids, pl->scratch[t], &res,
                                       why, sizeof why)) {
                reason = why;
            } else {
                r->invalid_utf8 |= res.invalid_utf8;
                if (job->strict && r->invalid_utf8) reason = "invalid UTF-8 (--strict)";
                else if (!res.n_ids) reason = "text has no tokens";
                else if (GROW(buf->ids, buf->cap, buf->n + res.n_ids)) reason = "out of memory";
                else memcpy(buf->ids + buf->n, res.ids, res.n_ids * sizeof *res.ids), buf->n += res.n_ids;
            }
        }
        r->n_tok = buf->n - r->tok_off;
        if (reason) {
#pragma omp critical(embed_job_strings)
            r->reason = arena_add(&w->strings, &w->strings_len, &w->strings_cap, reason, strlen(reason));
        }
    }
}

static void window_reset(window *w) {
    w->n_rows = w->strings_len = w->texts_len = 0;
    w->last = w->failed = 0;
    w->err[0] = 0;
}

/* Reads one window's rows. Returns 0, or -1 with w->failed set. */
static int read_window(pipeline *pl, window *w, size_t *rows_cap) {
    input_record rec;
    w->bytes_start = input_bytes_read(pl->reader);
    const size_t max_rows = WINDOW_ROWS_FOR(pl->job->batch_tokens), max_bytes = WINDOW_BYTES_FOR(pl->job->batch_tokens);
    while (w->n_rows < max_rows && w->texts_len < max_bytes) {
        int got = input_next(pl->reader, &rec, w->err, sizeof w->err);
        if (got < 0) return w->failed = 1, -1;
        if (!got) {
            w->last = 1;
            break;
        }
        if (add_row(w, &rec, rows_cap, rec.reject)) {
            snprintf(w->err, sizeof w->err, "out of memory reading line %zu", rec.line);
            return w->failed = 1, -1;
        }
    }
    w->bytes_end = input_bytes_read(pl->reader);
    return 0;
}

static void *producer(void *arg) {
    pipeline *pl = arg;
    size_t rows_cap[N_WINDOWS] = {0}; /* each slot's rows array keeps its capacity from window to window */
    for (size_t k = 0;; k++) {
        window *w = &pl->windows[k % N_WINDOWS];
        pthread_mutex_lock(&pl->lock);
        while (k - pl->consumed >= N_WINDOWS && !pl->stop) pthread_cond_wait(&pl->changed, &pl->lock);
        int stop = pl->stop;
        pthread_mutex_unlock(&pl->lock);
        if (stop) return NULL;
        window_reset(w);
        double t0 = now_seconds();
        if (!read_window(pl, w, &rows_cap[k % N_WINDOWS])) tokenize_window(pl, w);
        pl->tokenize_s += now_seconds() - t0;
        pthread_mutex_lock(&pl->lock);
        pl->produced = k + 1;
        pthread_cond_broadcast(&pl->changed);
        pthread_mutex_unlock(&pl->lock);
        if (w->last || w->failed) return NULL;
    }
}

/* ---- the consumer side: encode and write ---- */

typedef struct {
    npy_writer *npy;
    atomic_file ids, rows_jsonl, rejects;
    int32_t *batch_ids;
    size_t batch_ids_cap;
    size_t *offsets, offsets_cap;
    size_t *batch_rows, batch_rows_cap; /* window row index of each batch row */
    float *vectors;
    size_t vectors_cap;
    size_t ids_repaired; /* JSONL ids holding invalid UTF-8, written with U+FFFD */
} writer;

size_t embed_job_outputs(const embed_job *job, char *paths[EMBED_JOB_MAX_OUTPUTS]) {
    size_t n = 0;
    paths[n++] = strdup(job->out);
    if (!job->jsonl) paths[n++] = output_sibling(job->out, ".ids");
    paths[n++] = output_sibling(job->out, ".embed.json"); /* written by the CLI after the job (run_facts.h) */
    paths[n++] = output_sibling(job->out, ".rejects.tsv");
    for (size_t i = 0; i < n; i++)
        if (!paths[i]) {
            while (n) free(paths[--n]);
            return 0;
        }
    return n;
}

static int open_writer(const embed_job *job, size_t dim, writer *wr, char *err, size_t err_len) {
    char *paths[EMBED_JOB_MAX_OUTPUTS];
    const size_t n = embed_job_outputs(job, paths);
    if (!n) return ERR(err, err_len, "out of memory");
    const char *rejects = paths[n - 1], *ids = paths[1];
    int rc = atomic_open(&wr->rejects, rejects, err, err_len);
    if (!rc) {
        if (job->jsonl) rc = atomic_open(&wr->rows_jsonl, job->out, err, err_len);
        else if ((wr->npy = npy_writer_open(job->out, job->dtype, dim, err, err_len))) {
            rc = atomic_open(&wr->ids, ids, err, err_len);
            if (rc) npy_writer_abort(wr->npy), wr->npy = NULL;
        } else {
            rc = -1;
        }
        if (rc) atomic_abort(&wr->rejects);
        else fputs("line\tid\treason\n", wr->rejects.fp);
    }
    for (size_t i = 0; i < n; i++) free(paths[i]);
    return rc;
}

static void abort_writer(writer *wr) {
    if (wr->npy) npy_writer_abort(wr->npy);
    atomic_abort(&wr->ids);
    atomic_abort(&wr->rows_jsonl);
    atomic_abort(&wr->rejects);
}

static int commit_writer(writer *wr, char *err, size_t err_len) {
    int rc = wr->npy ? npy_writer_commit(wr->npy, err, err_len) : 0;
    wr->npy = NULL;
    if (!rc && wr->ids.fp) rc = atomic_commit(&wr->ids, err, err_len);
    if (!rc && wr->rows_jsonl.fp) rc = atomic_commit(&wr->rows_jsonl, err, err_len);
    if (!rc) rc = atomic_commit(&wr->rejects, err, err_len);
    if (rc) abort_writer(wr);
    return rc;
}

static int write_batch(writer *wr, const window *w, size_t n, size_t dim, char *err, size_t err_len) {
    if (wr->npy) {
        if (npy_writer_append(wr->npy, wr->vectors, n, err, err_len)) return -1;
        for (size_t i = 0; i < n; i++) fprintf(wr->ids.fp, "%s\n", w->strings + w->rows[wr->batch_rows[i]].id);
        return ferror(wr->ids.fp) ? SYS_ERR(err, err_len, wr->ids.tmp_path, "write") : 0;
    }
    FILE *fp = wr->rows_jsonl.fp;
    for (size_t i = 0; i < n; i++) {
        fputs("{\"id\": ", fp);
        wr->ids_repaired += (size_t)json_string_write(fp, w->strings + w->rows[wr->batch_rows[i]].id);
        fputs(", \"embedding\": [", fp);
        for (size_t c = 0; c < dim; c++) fprintf(fp, c ? ", %.9g" : "%.9g", wr->vectors[i * dim + c]);
        fputs("]}\n", fp);
    }
    return ferror(fp) ? SYS_ERR(err, err_len, wr->rows_jsonl.tmp_path, "write") : 0;
}

/* The progress line: the input position is interpolated inside the window being written, rows_done of its
 * rows done. */
static void report_progress(pipeline *pl, const embed_summary *sum, const window *w, size_t rows_done, int final) {
    const double elapsed = now_seconds() - pl->progress.started;
    const size_t total = input_size(pl->reader);
    double fraction = -1;
    if (total) {
        const double done = w->n_rows ? (double)rows_done / (double)w->n_rows : 1;
        fraction = ((double)w->bytes_start + done * (double)(w->bytes_end - w->bytes_start)) / (double)total;
    }
    char detail[128];
    snprintf(detail, sizeof detail, "%zu rows, %zu rejected, %.0f rows/s", sum->read, sum->rejected,
             elapsed > 0 ? (double)sum->read / elapsed : 0);
    progress_report(&pl->progress, fraction, detail, final);
}

/* Encodes the window's accepted rows in batches of about job->batch_tokens tokens, in input order, and
 * writes them; writes its rejected rows to the rejects file. */
static int consume_window(pipeline *pl, userec_encoder *enc, size_t dim, writer *wr, embed_summary *sum,
                          char *err, size_t err_len) {
    const embed_job *job = pl->job;
    window *w = &pl->windows[pl->consumed % N_WINDOWS];
    size_t i = 0;
    while (i < w->n_rows) {
        size_t n = 0, n_ids = 0;
        for (; i < w->n_rows && (n == 0 || n_ids < job->batch_tokens); i++) {
            const row_info *r = &w->rows[i];
            sum->read++;
            if (r->reason != NO_REASON) {
                sum->rejected++;
                fprintf(wr->rejects.fp, "%zu\t%s\t%s\n", r->line, w->strings + r->id, w->strings + r->reason);
                continue;
            }
            sum->repaired += r->invalid_utf8 != 0;
            if (GROW(wr->batch_ids, wr->batch_ids_cap, n_ids + r->n_tok) ||
                GROW(wr->offsets, wr->offsets_cap, n + 2) ||
                GROW(wr->batch_rows, wr->batch_rows_cap, n + 1))
                return ERR(err, err_len, "out of memory building a batch");
            memcpy(wr->batch_ids + n_ids, w->tokens[r->thread].ids + r->tok_off, r->n_tok * sizeof *wr->batch_ids);
            wr->offsets[n] = n_ids;
            wr->batch_rows[n++] = i;
            n_ids += r->n_tok;
        }
        if (!n) continue;
        wr->offsets[n] = n_ids;
        if (GROW(wr->vectors, wr->vectors_cap, n * dim))
            return ERR(err, err_len, "out of memory for %zu output rows", n);
        userec_counts counts = {0};
        userec_error uerr;
        double t0 = now_seconds();
        if (userec_encoder_encode(enc, wr->batch_ids, wr->offsets, n, wr->vectors, &counts, &uerr))
            return ERR(err, err_len, "encoding the rows from line %zu: %s", w->rows[wr->batch_rows[0]].line, uerr.message);
        double t1 = now_seconds();
        if (write_batch(wr, w, n, dim, err, err_len)) return -1;
        sum->encode_s += t1 - t0;
        sum->write_s += now_seconds() - t1;
        sum->embedded += n;
        sum->tokens += counts.tokens;
        sum->clipped += counts.clipped;
        report_progress(pl, sum, w, i, 0);
    }
    if (ferror(wr->rejects.fp)) return SYS_ERR(err, err_len, wr->rejects.tmp_path, "write");
    return 0;
}

int embed_job_run(const embed_job *job, userec_encoder *enc, size_t dim, uint32_t vocab_rows, embed_summary *sum,
                  char *err, size_t err_len) {
    memset(sum, 0, sizeof *sum);
    const double t_start = now_seconds();
    pipeline pl = {.job = job, .vocab_rows = vocab_rows,
                   .max_ids = (size_t)userec_info(userec_encoder_model(enc)).max_len + 1};
    writer wr = {0};
    int rc = -1, started = 0;
    pthread_t thread;
    if (!(pl.reader = input_open(job->input, &job->in, err, err_len))) return -1;
    pl.scratch = calloc((size_t)job->threads, sizeof *pl.scratch);
    for (int k = 0; k < N_WINDOWS && pl.scratch; k++)
        if (!(pl.windows[k].tokens = calloc((size_t)job->threads, sizeof *pl.windows[k].tokens))) goto out_of_memory;
    for (int t = 0; t < job->threads && pl.scratch; t++)
        if (!(pl.scratch[t] = tok_scratch_new())) goto out_of_memory;
    if (!pl.scratch) goto out_of_memory;
    if (open_writer(job, dim, &wr, err, err_len)) goto done;
    pthread_mutex_init(&pl.lock, NULL);
    pthread_cond_init(&pl.changed, NULL);
    if ((errno = pthread_create(&thread, NULL, producer, &pl))) {
        SYS_ERR(err, err_len, job->input, "starting the reader thread");
        goto done;
    }
    started = 1;
    progress_start(&pl.progress, job->progress, "embed");
    for (;;) {
        pthread_mutex_lock(&pl.lock);
        while (pl.produced == pl.consumed) pthread_cond_wait(&pl.changed, &pl.lock);
        pthread_mutex_unlock(&pl.lock);
        window *w = &pl.windows[pl.consumed % N_WINDOWS];
        if (w->failed) {
            ERR(err, err_len, "%s", w->err);
            break;
        }
        if (consume_window(&pl, enc, dim, &wr, sum, err, err_len)) break;
        int last = w->last;
        if (last) report_progress(&pl, sum, w, w->n_rows, 1);
        pthread_mutex_lock(&pl.lock);
        pl.consumed++;
        pthread_cond_broadcast(&pl.changed);
        pthread_mutex_unlock(&pl.lock);
        if (last) {
            rc = 0;
            break;
        }
    }
    if (!rc) rc = commit_writer(&wr, err, err_len);
    goto done;
out_of_memory:
    ERR(err, err_len, "out of memory setting up %d tokenizer threads", job->threads);
done:
    if (started) {
        pthread_mutex_lock(&pl.lock);
        pl.stop = 1;
        pthread_cond_broadcast(&pl.changed);
        pthread_mutex_unlock(&pl.lock);
        pthread_join(thread, NULL);
        pthread_mutex_destroy(&pl.lock);
        pthread_cond_destroy(&pl.changed);
    }
    if (rc) abort_writer(&wr);
    sum->tokenize_s = pl.tokenize_s;
    sum->ids_repaired = wr.ids_repaired;
    sum->rows_before = input_rows_before(pl.reader);
    sum->wall_s = now_seconds() - t_start;
    input_close(pl.reader);
    for (int k = 0; k < N_WINDOWS; k++) {
        window *w = &pl.windows[k];
        for (int t = 0; w->tokens && t < job->threads; t++) free(w->tokens[t].ids);
        free(w->tokens), free(w->rows), free(w->strings), free(w->texts);
    }
    for (int t = 0; pl.scratch && t < job->threads; t++) tok_scratch_free(pl.scratch[t]);
    free(pl.scratch);
    free(wr.batch_ids), free(wr.offsets), free(wr.batch_rows), free(wr.vectors);
    return rc;
}
