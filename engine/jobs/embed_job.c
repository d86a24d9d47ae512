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
#include <unistd.h>

#include "common/clock.h"
#include "common/grow.h"
#include "common/json_string.h"
#include "common/progress.h"
#include "common/error.h"
#include "common/id_set.h"
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
    int failed;        /* reading failed: err holds why, failure its class */
    int failure;
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
static const char *parse_ids(const char *line, uint32_t vocab_rows, int32_t **ids, size_t *n, size_t *cap, char *why,
                             size_t why_len) {
    const char *p = line;
    const size_t start = *n;
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
        } else if (GROW(*ids, *cap, *n + 1)) {
            snprintf(why, why_len, "out of memory");
        } else {
            (*ids)[(*n)++] = (int32_t)v;
            p = end;
            continue;
        }
        *n = start;
        return why;
    }
}

const char *embed_row_tokens(const tokenizer *tok, int strict, uint32_t vocab_rows, size_t max_ids, const char *text,
                             size_t len, int *invalid_utf8, tok_scratch *scratch, int32_t **ids, size_t *n,
                             size_t *cap, char *why, size_t why_len) {
    if (!tok) return strlen(text) != len ? "NUL byte in the line" : parse_ids(text, vocab_rows, ids, n, cap, why, why_len);
    if (strict && *invalid_utf8) return "invalid UTF-8 (--strict)";
    tok_result res;
    if (tokenizer_encode_first(tok, text, len, max_ids, scratch, &res, why, why_len)) return why;
    *invalid_utf8 |= res.invalid_utf8;
    if (strict && *invalid_utf8) return "invalid UTF-8 (--strict)";
    if (!res.n_ids) return "text has no tokens";
    if (GROW(*ids, *cap, *n + res.n_ids)) return "out of memory";
    memcpy(*ids + *n, res.ids, res.n_ids * sizeof *res.ids);
    *n += res.n_ids;
    return NULL;
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
        char why[160];
        r->thread = t;
        r->tok_off = buf->n;
        const char *reason = embed_row_tokens(job->tok, job->strict, pl->vocab_rows, pl->max_ids, w->texts + r->text,
                                              r->text_len, &r->invalid_utf8, pl->scratch[t], &buf->ids, &buf->n,
                                              &buf->cap, why, sizeof why);
        r->n_tok = buf->n - r->tok_off;
        if (reason) {
#pragma omp critical(embed_job_strings)
            r->reason = arena_add(&w->strings, &w->strings_len, &w->strings_cap, reason, strlen(reason));
        }
    }
}

static void window_reset(window *w) {
    w->n_rows = w->strings_len = w->texts_len = 0;
    w->last = w->failed = w->failure = 0;
    w->err[0] = 0;
}

/* Reads one window's rows. Returns 0, or -1 with w->failed set. */
static int read_window(pipeline *pl, window *w, size_t *rows_cap) {
    input_record rec;
    w->bytes_start = input_bytes_read(pl->reader);
    const size_t max_rows = WINDOW_ROWS_FOR(pl->job->batch_tokens), max_bytes = WINDOW_BYTES_FOR(pl->job->batch_tokens);
    while (w->n_rows < max_rows && w->texts_len < max_bytes) {
        int got = input_next(pl->reader, &rec, w->err, sizeof w->err);
        if (got < 0) return w->failure = input_failure(pl->reader), w->failed = 1, -1;
        if (!got) {
            w->last = 1;
            break;
        }
        if (add_row(w, &rec, rows_cap, rec.reject)) {
            snprintf(w->err, sizeof w->err, "out of memory reading line %zu", rec.line);
            return w->failure = USEREC_ERR_NOMEM, w->failed = 1, -1;
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

/* The rows of repeated ids under DUP_REJECT and DUP_KEEP_LAST are only known at the end: every row is written as it
 * comes, then the unwanted ones are taken out of the outputs (in place) and added to the rejects. */
typedef struct {
    size_t first_line; /* the line of its first row */
    size_t rows_with;  /* how many output rows have it */
    size_t last_row;   /* its last output row */
} dup_id;

typedef struct {
    size_t line; /* the input line of an output row */
    size_t id;   /* its id's number */
} dup_row;

typedef struct {
    id_set ids; /* the ids of the accepted rows, numbered by first appearance */
    dup_id *id;
    size_t id_cap;
    dup_row *row; /* per output row (DUP_REJECT, DUP_KEEP_LAST) */
    size_t rows, rows_cap;
} dup_tracker;

typedef struct {
    embed_outputs *out;
    dup_tracker dups;
    int32_t *batch_ids;
    size_t batch_ids_cap;
    size_t *offsets, offsets_cap;
    size_t *batch_rows, batch_rows_cap; /* window row index of each batch row */
    float *vectors;
    size_t vectors_cap;
    size_t *encoded_at, encoded_at_cap; /* batch row of each row encoded, when job->reuse gave others */
    float *encoded;
    size_t encoded_cap;
    size_t ids_repaired; /* JSONL ids holding invalid UTF-8, written with U+FFFD */
} writer;

static const char *const dup_names[] = {"reject", "keep-first", "keep-last"}; /* in dup_policy order */

const char *dup_policy_name(dup_policy p) { return (unsigned)p <= DUP_KEEP_LAST ? dup_names[p] : "unknown"; }

int dup_policy_parse(const char *name, dup_policy *p) {
    for (int i = 0; i <= DUP_KEEP_LAST; i++)
        if (!strcmp(name, dup_names[i])) return *p = (dup_policy)i, 0;
    return -1;
}

size_t embed_job_outputs(const embed_job *job, char *paths[EMBED_JOB_MAX_OUTPUTS]) {
    size_t n = 0;
    paths[n++] = strdup(job->out);
    if (!job->jsonl) paths[n++] = output_sibling(job->out, ".ids");
    paths[n++] = output_sibling(job->out, ".embed.json"); /* the manifest, written by the CLI (run_facts.h) */
    paths[n++] = job->rejects ? strdup(job->rejects) : output_sibling(job->out, ".rejects.tsv");
    for (size_t i = 0; i < n; i++)
        if (!paths[i]) {
            while (n) free(paths[--n]);
            return 0;
        }
    return n;
}

void embed_outputs_discard(embed_outputs *o) {
    if (o->has_npy) npy_writer_abort(&o->npy);
    o->has_npy = 0;
    atomic_abort(&o->ids);
    atomic_abort(&o->rows_jsonl);
    atomic_abort(&o->rejects);
}

static int open_outputs(const embed_job *job, size_t dim, embed_outputs *o, char *err, size_t err_len) {
    *o = (embed_outputs){.ids.slot = -1, .rows_jsonl.slot = -1, .rejects.slot = -1};
    char *paths[EMBED_JOB_MAX_OUTPUTS];
    const size_t n = embed_job_outputs(job, paths);
    if (!n) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    int rc = atomic_open(&o->rejects, paths[n - 1], err, err_len);
    if (!rc && job->jsonl) rc = atomic_open(&o->rows_jsonl, job->out, err, err_len);
    if (!rc && !job->jsonl && !(rc = npy_writer_open(&o->npy, job->out, job->dtype, dim, err, err_len))) {
        o->has_npy = 1;
        rc = atomic_open(&o->ids, paths[1], err, err_len);
    }
    if (!rc) fputs("line\tid\treason\n", o->rejects.fp);
    else embed_outputs_discard(o);
    for (size_t i = 0; i < n; i++) free(paths[i]);
    return rc;
}

int embed_outputs_publish(embed_outputs *o, run_facts *manifest, char *err, size_t err_len) {
    publish_set set = {0};
    int rc = o->has_npy ? npy_writer_seal(&o->npy, err, err_len) : 0;
    if (rc) {
        embed_outputs_discard(o);
        atomic_abort(&manifest->file);
        return rc;
    }
    if (o->has_npy) publish_add(&set, &o->npy.file);
    if (o->ids.fp) publish_add(&set, &o->ids);
    if (o->rows_jsonl.fp) publish_add(&set, &o->rows_jsonl);
    publish_add(&set, &o->rejects);
    rc = publish_commit(&set, manifest, err, err_len);
    o->has_npy = 0;
    return rc;
}

int embed_rejects_over(size_t rejected, size_t read, double max_rate, char *text, size_t text_len) {
    const double rate = read ? (double)rejected / (double)read : 0;
    if (!read || rate <= max_rate) return 0;
    snprintf(text, text_len, "%zu of %zu rows (%.2f%%) were rejected, more than --max-reject-rate %g", rejected, read,
             100.0 * rate, max_rate);
    return 1;
}

void embed_outputs_first_rejects(const embed_outputs *o, size_t max_lines, char *text, size_t text_len) {
    text[0] = 0;
    if (!o->rejects.fp || fflush(o->rejects.fp)) return;
    const ssize_t got = pread(fileno(o->rejects.fp), text, text_len - 1, 0);
    if (got <= 0) return;
    text[got] = 0;
    char *p = strchr(text, '\n'); /* after the header */
    if (!p) return text[0] = 0, (void)0;
    memmove(text, p + 1, strlen(p + 1) + 1);
    size_t lines = 0;
    for (p = text; *p && lines < max_lines; p++)
        if (*p == '\n') lines++;
    *p = 0;
}

/* The number of the id of an accepted row on `line` (new ids get their first line), or ID_SET_NONE when memory ran
 * out. */
static size_t note_id(dup_tracker *d, const char *id, size_t line, int *added) {
    const size_t e = id_set_add(&d->ids, id, strlen(id), added);
    if (e == ID_SET_NONE || (*added && GROW(d->id, d->id_cap, e + 1))) return ID_SET_NONE;
    if (*added) d->id[e] = (dup_id){.first_line = line};
    return e;
}

/* DUP_REJECT and DUP_KEEP_LAST: notes the id of the output row about to be written. */
static int track_row(dup_tracker *d, const char *id, size_t line, char *err, size_t err_len) {
    int added;
    const size_t e = note_id(d, id, line, &added);
    if (e == ID_SET_NONE || GROW(d->row, d->rows_cap, d->rows + 1))
        return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for the ids of %zu rows", d->rows + 1));
    d->id[e].rows_with++;
    d->id[e].last_row = d->rows;
    d->row[d->rows++] = (dup_row){line, e};
    return 0;
}

static void free_tracker(dup_tracker *d) {
    id_set_free(&d->ids);
    free(d->id);
    free(d->row);
}

static int write_batch(writer *wr, const window *w, size_t n, size_t dim, char *err, size_t err_len) {
    embed_outputs *o = wr->out;
    if (o->has_npy) {
        if (npy_writer_append(&o->npy, wr->vectors, n, err, err_len)) return FAIL_OUTPUT;
        for (size_t i = 0; i < n; i++) fprintf(o->ids.fp, "%s\n", w->strings + w->rows[wr->batch_rows[i]].id);
        return ferror(o->ids.fp) ? FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, o->ids.tmp_path, "write")) : 0;
    }
    FILE *fp = o->rows_jsonl.fp;
    for (size_t i = 0; i < n; i++) {
        fputs("{\"id\": ", fp);
        wr->ids_repaired += (size_t)json_string_write(fp, w->strings + w->rows[wr->batch_rows[i]].id);
        fputs(", \"embedding\": [", fp);
        for (size_t c = 0; c < dim; c++) fprintf(fp, c ? ", %.9g" : "%.9g", wr->vectors[i * dim + c]);
        fputs("]}\n", fp);
    }
    return ferror(fp) ? FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, o->rows_jsonl.tmp_path, "write")) : 0;
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

/* What becomes of a window row: written, rejected, or (DUP_KEEP_FIRST) dropped as a later row of a kept id; the
 * last two go to the rejects file. */
enum { ROW_WRITTEN, ROW_REJECTED, ROW_DROPPED };
static int row_fate(pipeline *pl, writer *wr, window *w, row_info *r, int *failure, char *err, size_t err_len) {
    if (r->reason != NO_REASON) return ROW_REJECTED;
    if (pl->job->on_duplicate != DUP_KEEP_FIRST) return ROW_WRITTEN;
    int added;
    const size_t e = note_id(&wr->dups, w->strings + r->id, r->line, &added);
    if (e == ID_SET_NONE) {
        *failure = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for the ids of line %zu", r->line));
        return ROW_REJECTED;
    }
    if (added) return ROW_WRITTEN;
    char why[80];
    snprintf(why, sizeof why, "duplicate id (the row on line %zu is kept)", wr->dups.id[e].first_line);
    r->reason = arena_add(&w->strings, &w->strings_len, &w->strings_cap, why, strlen(why));
    if (r->reason == NO_REASON) *failure = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    return ROW_DROPPED;
}

/* Encodes the window's accepted rows in batches of about job->batch_tokens tokens, in input order, and
 * writes them; writes its rejected rows to the rejects file. */
static int consume_window(pipeline *pl, userec_encoder *enc, size_t dim, writer *wr, embed_summary *sum,
                          char *err, size_t err_len) {
    const embed_job *job = pl->job;
    window *w = &pl->windows[pl->consumed % N_WINDOWS];
    FILE *rejects = wr->out->rejects.fp;
    const int track = job->on_duplicate != DUP_KEEP_FIRST;
    size_t i = 0;
    while (i < w->n_rows) {
        size_t n = 0, m = 0, n_ids = 0; /* n rows in the batch, m of them to encode */
        for (; i < w->n_rows && (n == 0 || n_ids < job->batch_tokens); i++) {
            row_info *r = &w->rows[i];
            sum->read++;
            int failure = 0;
            const int fate = row_fate(pl, wr, w, r, &failure, err, err_len);
            if (failure) return failure;
            if (fate != ROW_WRITTEN) {
                if (fate == ROW_REJECTED) sum->rejected++;
                else sum->duplicates++;
                fprintf(rejects, "%zu\t%s\t%s\n", r->line, w->strings + r->id, w->strings + r->reason);
                continue;
            }
            if (track && (failure = track_row(&wr->dups, w->strings + r->id, r->line, err, err_len))) return failure;
            sum->repaired += r->invalid_utf8 != 0;
            if (GROW(wr->batch_ids, wr->batch_ids_cap, n_ids + r->n_tok) || GROW(wr->offsets, wr->offsets_cap, m + 2) ||
                GROW(wr->batch_rows, wr->batch_rows_cap, n + 1) || GROW(wr->encoded_at, wr->encoded_at_cap, m + 1) ||
                GROW(wr->vectors, wr->vectors_cap, (n + 1) * dim))
                return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory building a batch"));
            const int reused = job->reuse ? job->reuse(job->reuse_arg, w->strings + r->id, w->texts + r->text,
                                                       r->text_len, wr->vectors + n * dim) : 0;
            if (reused < 0) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory at line %zu", r->line));
            wr->batch_rows[n++] = i;
            if (reused) { /* counted as the encoder counts it: at most max_len tokens, one more said it was clipped */
                sum->reused++;
                sum->tokens += r->n_tok < pl->max_ids ? r->n_tok : pl->max_ids - 1;
                sum->clipped += r->n_tok == pl->max_ids;
                continue;
            }
            memcpy(wr->batch_ids + n_ids, w->tokens[r->thread].ids + r->tok_off, r->n_tok * sizeof *wr->batch_ids);
            wr->offsets[m] = n_ids;
            wr->encoded_at[m++] = n - 1;
            n_ids += r->n_tok;
        }
        if (!n) continue;
        wr->offsets[m] = n_ids;
        /* Rows to encode go straight to their place when none was reused, else through `encoded`. */
        float *to = m == n ? wr->vectors : NULL;
        if (!to && GROW(wr->encoded, wr->encoded_cap, m * dim))
            return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu output rows", m));
        if (!to) to = wr->encoded;
        userec_counts counts = {0};
        userec_error uerr;
        double t0 = now_seconds();
        if (m && userec_encoder_encode(enc, wr->batch_ids, wr->offsets, m, to, &counts, &uerr))
            return FAIL_AS(uerr.status, ERR(err, err_len, "encoding the rows from line %zu: %s",
                                            w->rows[wr->batch_rows[wr->encoded_at[0]]].line, uerr.message));
        if (to != wr->vectors)
            for (size_t j = 0; j < m; j++) memcpy(wr->vectors + wr->encoded_at[j] * dim, to + j * dim, dim * sizeof *to);
        double t1 = now_seconds();
        const int failure = write_batch(wr, w, n, dim, err, err_len);
        if (failure) return failure;
        sum->encode_s += t1 - t0;
        sum->write_s += now_seconds() - t1;
        sum->embedded += n;
        sum->tokens += counts.tokens;
        sum->clipped += counts.clipped;
        report_progress(pl, sum, w, i, 0);
    }
    if (ferror(rejects)) return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, wr->out->rejects.tmp_path, "write"));
    return 0;
}

/* One rejects row of a repeated id (DUP_REJECT, DUP_KEEP_LAST), merged by line into the streamed rejects. */
static void write_duplicate_reject(FILE *f, const dup_tracker *d, size_t row, dup_policy policy) {
    const size_t e = d->row[row].id;
    fprintf(f, "%zu\t%s\t", d->row[row].line, id_set_key(&d->ids, e));
    if (policy == DUP_REJECT) fputs("duplicate id\n", f);
    else fprintf(f, "duplicate id (the row on line %zu is kept)\n", d->row[d->id[e].last_row].line);
}

/* Writes a new rejects file: the streamed one's rows and the dropped rows of repeated ids, in line order. */
static int merge_rejects(embed_outputs *o, const dup_tracker *d, const unsigned char *keep, dup_policy policy,
                         char *err, size_t err_len) {
    atomic_file merged;
    char *path = strdup(o->rejects.path);
    int rc = path ? atomic_open(&merged, path, err, err_len) : FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    free(path);
    if (rc) return rc;
    FILE *in = o->rejects.fp;
    if (fflush(in) || fseeko(in, 0, SEEK_SET)) rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, o->rejects.tmp_path, "read"));
    char *line = NULL;
    size_t line_cap = 0, row = 0;
    ssize_t len = rc ? -1 : getline(&line, &line_cap, in); /* the header */
    if (len > 0) fwrite(line, 1, (size_t)len, merged.fp);
    len = len > 0 ? getline(&line, &line_cap, in) : -1;
    for (;;) {
        while (row < d->rows && keep[row]) row++;
        const int have_row = row < d->rows;
        if (len < 0 && !have_row) break;
        if (len >= 0 && (!have_row || strtoull(line, NULL, 10) < d->row[row].line)) {
            fwrite(line, 1, (size_t)len, merged.fp);
            len = getline(&line, &line_cap, in);
        } else {
            write_duplicate_reject(merged.fp, d, row++, policy);
        }
    }
    free(line);
    if (!rc && (ferror(in) || ferror(merged.fp)))
        rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, merged.tmp_path, "write"));
    if (rc) {
        atomic_abort(&merged);
        return rc;
    }
    atomic_abort(&o->rejects);
    o->rejects = merged;
    return 0;
}

/* DUP_REJECT, DUP_KEEP_LAST: takes the unwanted rows of repeated ids out of the outputs, into the rejects. */
static int drop_duplicates(const embed_job *job, writer *wr, embed_summary *sum, char *err, size_t err_len) {
    dup_tracker *d = &wr->dups;
    if (job->on_duplicate == DUP_KEEP_FIRST || d->ids.count == d->rows) return 0; /* no id repeats */
    unsigned char *keep = malloc(d->rows ? d->rows : 1);
    if (!keep) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu rows", d->rows));
    size_t dropped = 0;
    for (size_t r = 0; r < d->rows; r++) {
        const dup_id *id = &d->id[d->row[r].id];
        keep[r] = job->on_duplicate == DUP_REJECT ? id->rows_with == 1 : id->last_row == r;
        dropped += !keep[r];
    }
    embed_outputs *o = wr->out;
    int rc = o->has_npy ? npy_writer_keep_rows(&o->npy, keep, err, err_len) : 0;
    if (!rc && o->ids.fp) rc = atomic_keep_lines(&o->ids, keep, d->rows, err, err_len);
    if (!rc && o->rows_jsonl.fp) rc = atomic_keep_lines(&o->rows_jsonl, keep, d->rows, err, err_len);
    if (!rc) rc = merge_rejects(o, d, keep, job->on_duplicate, err, err_len);
    free(keep);
    if (rc) return rc;
    sum->embedded -= dropped;
    sum->duplicates += dropped;
    if (job->on_duplicate == DUP_REJECT) sum->rejected += dropped;
    return 0;
}

int embed_job_run(const embed_job *job, userec_encoder *enc, size_t dim, uint32_t vocab_rows, embed_summary *sum,
                  embed_outputs *out, char *err, size_t err_len) {
    memset(sum, 0, sizeof *sum);
    const double t_start = now_seconds();
    pipeline pl = {.job = job, .vocab_rows = vocab_rows,
                   .max_ids = (size_t)userec_info(userec_encoder_model(enc)).max_len + 1};
    writer wr = {.out = out};
    int rc = -1, started = 0, opened = 0, failure = 0;
    pthread_t thread;
    *out = (embed_outputs){.ids.slot = -1, .rows_jsonl.slot = -1, .rejects.slot = -1};
    if (!(pl.reader = input_open(job->input, &job->in, &failure, err, err_len))) return failure;
    pl.scratch = calloc((size_t)job->threads, sizeof *pl.scratch);
    for (int k = 0; k < N_WINDOWS && pl.scratch; k++)
        if (!(pl.windows[k].tokens = calloc((size_t)job->threads, sizeof *pl.windows[k].tokens))) goto out_of_memory;
    for (int t = 0; t < job->threads && pl.scratch; t++)
        if (!(pl.scratch[t] = tok_scratch_new())) goto out_of_memory;
    if (!pl.scratch) goto out_of_memory;
    if ((rc = open_outputs(job, dim, out, err, err_len))) goto done;
    opened = 1;
    rc = -1;
    pthread_mutex_init(&pl.lock, NULL);
    pthread_cond_init(&pl.changed, NULL);
    if ((errno = pthread_create(&thread, NULL, producer, &pl))) {
        rc = FAIL_AS(USEREC_ERR_NOMEM, SYS_ERR(err, err_len, job->input, "starting the reader thread"));
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
            rc = FAIL_AS(w->failure, ERR(err, err_len, "%s", w->err));
            break;
        }
        if ((rc = consume_window(&pl, enc, dim, &wr, sum, err, err_len))) break;
        rc = -1;
        int last = w->last;
        if (last) report_progress(&pl, sum, w, w->n_rows, 1);
        pthread_mutex_lock(&pl.lock);
        pl.consumed++;
        pthread_cond_broadcast(&pl.changed);
        pthread_mutex_unlock(&pl.lock);
        if (last) {
            rc = drop_duplicates(job, &wr, sum, err, err_len);
            break;
        }
    }
    goto done;
out_of_memory:
    rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory setting up %d tokenizer threads", job->threads));
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
    if (rc && opened) embed_outputs_discard(out);
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
    free_tracker(&wr.dups);
    free(wr.batch_ids), free(wr.offsets), free(wr.batch_rows), free(wr.vectors), free(wr.encoded_at), free(wr.encoded);
    return rc;
}
