/* embed_job.h: the `userec embed` pipeline. A reader thread streams the input in windows of rows and
 * tokenises each window on a pool of threads while the caller's thread encodes the previous window and
 * writes it; outputs keep input order. Every input row ends up in the output or in the rejects file. The
 * outputs are complete when the job returns, but not visible: the caller publishes them with their facts file
 * (output/publish.h), or discards them (a job that failed its reject rate publishes nothing). */
#ifndef USEREC_EMBED_JOB_H
#define USEREC_EMBED_JOB_H

#include <stddef.h>

#include "common/progress.h"
#include "userec.h"
#include "input/input.h"
#include "output/npy.h"
#include "output/publish.h"
#include "tokenizer/tokenizer.h"

/* What to do with rows whose id an earlier or later row has too (docs/input.md, "Duplicate ids"). */
typedef enum {
    DUP_REJECT,     /* every row of a repeated id is rejected ("duplicate id") */
    DUP_KEEP_FIRST, /* the first row is kept, the later ones go to the rejects file */
    DUP_KEEP_LAST,  /* the last row is kept, the earlier ones go to the rejects file */
} dup_policy;
const char *dup_policy_name(dup_policy p); /* "reject", "keep-first", "keep-last" */
int dup_policy_parse(const char *name, dup_policy *p);

typedef struct {
    const char *input;     /* a path, or "-" for stdin */
    input_options in;
    const char *out;       /* OUT.npy (with OUT.ids) or OUT.jsonl; the rejects file beside either */
    const char *rejects;   /* the rejects file when not beside OUT (NULL: OUT.rejects.tsv, OUT.jsonl.rejects.tsv) */
    int jsonl;             /* {"id": ..., "embedding": [...]} lines instead of .npy + .ids */
    npy_dtype dtype;       /* .npy element type */
    const tokenizer *tok;  /* NULL for token-id input (INPUT_IDS) */
    int strict;            /* reject rows with invalid UTF-8 instead of repairing them as U+FFFD */
    dup_policy on_duplicate;
    /* When set (`userec update`), called for each accepted row in output order before it is encoded: returns 1 after
     * writing the row's vector into `vector` (the row is then not encoded), 0 to have it encoded, -1 when memory ran
     * out. `text` is the row exactly as it is tokenized (len bytes). */
    int (*reuse)(void *arg, const char *id, const char *text, size_t len, float *vector);
    void *reuse_arg;
    size_t batch_tokens;   /* tokens per encoder call */
    int threads;           /* tokenizer threads */
    progress_style progress;
} embed_job;

typedef struct {
    size_t read, embedded, rejected, clipped, repaired, tokens;
    size_t reused;       /* rows whose vector job->reuse gave (not encoded), counted in `embedded` too */
    size_t duplicates;   /* rows of a repeated id: rejected (reject, counted in `rejected` too) or dropped (keep-*) */
    size_t ids_repaired; /* JSONL output: ids holding invalid UTF-8, written with U+FFFD (JSON must be Unicode) */
    size_t rows_before;  /* a block of the input (in.range_start): the data rows before it */
    double wall_s, tokenize_s, encode_s, write_s; /* tokenize_s includes reading; it overlaps encoding */
} embed_summary;

/* The outputs of a run, complete but not yet visible. */
typedef struct {
    npy_writer npy; /* .npy output */
    atomic_file ids, rows_jsonl, rejects;
    int has_npy;
} embed_outputs;

/* The files an embed run writes: job->out, then beside it (output_sibling) OUT.ids (for .npy output),
 * OUT.embed.json (the run's facts, its manifest) and the rejects file, last. Fills paths (malloc'd, for the caller
 * to free) and returns how many (3 or 4), or 0 when memory ran out. */
#define EMBED_JOB_MAX_OUTPUTS 4
size_t embed_job_outputs(const embed_job *job, char *paths[EMBED_JOB_MAX_OUTPUTS]);

/* Runs the job. Returns 0 with every output written into *out, or the failure's class (common/error.h) with err
 * set and nothing left behind. */
int embed_job_run(const embed_job *job, userec_encoder *enc, size_t dim, uint32_t vocab_rows, embed_summary *sum,
                  embed_outputs *out, char *err, size_t err_len);
/* Makes the outputs visible with their manifest (publish_commit), or removes them. */
int embed_outputs_publish(embed_outputs *o, run_facts *manifest, char *err, size_t err_len);
void embed_outputs_discard(embed_outputs *o);
/* Up to max_lines of the rejects file's rows (after its header), for a message; "" when there are none. */
void embed_outputs_first_rejects(const embed_outputs *o, size_t max_lines, char *text, size_t text_len);

/* Whether rejected of read rows is more than --max-reject-rate max_rate allows (never when nothing was read); then
 * text says so: "R of N rows (P%) were rejected, more than --max-reject-rate M". embed, update and merge judge a
 * run by it. */
int embed_rejects_over(size_t rejected, size_t read, double max_rate, char *text, size_t text_len);

/* One row's tokens as embed makes them (update uses the same, so its vectors and rejects are embed's): tok NULL
 * reads space-separated token ids (checked against vocab_rows); else the text is tokenized, keeping at most max_ids
 * ids (the model's max_len + 1: one more tells the encoder the text was clipped). Appends the ids to
 * (*ids, *n, *cap), or returns the reason to reject the row (in why, or a constant). *invalid_utf8 is or-ed
 * with what the tokenizer repaired. */
const char *embed_row_tokens(const tokenizer *tok, int strict, uint32_t vocab_rows, size_t max_ids, const char *text,
                             size_t len, int *invalid_utf8, tok_scratch *scratch, int32_t **ids, size_t *n,
                             size_t *cap, char *why, size_t why_len);

#endif
