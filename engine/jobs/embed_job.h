/* embed_job.h: the `userec embed` pipeline. A reader thread streams the input in windows of rows and
 * tokenises each window on a pool of threads while the caller's thread encodes the previous window and
 * writes it; outputs keep input order and are committed atomically at the end. Every input row ends up in
 * the output or in the rejects file. */
#ifndef USEREC_EMBED_JOB_H
#define USEREC_EMBED_JOB_H

#include <stddef.h>

#include "common/progress.h"
#include "userec.h"
#include "input/input.h"
#include "output/npy.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *input;     /* a path, or "-" for stdin */
    input_options in;
    const char *out;       /* OUT.npy (with OUT.ids) or OUT.jsonl; OUT.rejects.tsv beside either */
    int jsonl;             /* {"id": ..., "embedding": [...]} lines instead of .npy + .ids */
    npy_dtype dtype;       /* .npy element type */
    const tokenizer *tok;  /* NULL for token-id input (INPUT_IDS) */
    int strict;            /* reject rows with invalid UTF-8 instead of repairing them as U+FFFD */
    size_t batch_tokens;   /* tokens per encoder call */
    int threads;           /* tokenizer threads */
    progress_style progress;
} embed_job;

typedef struct {
    size_t read, embedded, rejected, clipped, repaired, tokens;
    size_t ids_repaired; /* JSONL output: ids holding invalid UTF-8, written with U+FFFD (JSON must be Unicode) */
    size_t rows_before;  /* a block of the input (in.range_start): the data rows before it */
    double wall_s, tokenize_s, encode_s, write_s; /* tokenize_s includes reading; it overlaps encoding */
} embed_summary;

/* The files an embed run writes: job->out, then beside it OUT.ids (for .npy output), OUT.embed.json (the run's
 * facts, written by the CLI) and OUT.rejects.tsv, last. Fills paths (malloc'd, for the caller to free) and returns
 * how many (3 or 4), or 0 when memory ran out. */
#define EMBED_JOB_MAX_OUTPUTS 4
size_t embed_job_outputs(const embed_job *job, char *paths[EMBED_JOB_MAX_OUTPUTS]);

/* Runs the job. Returns 0 when every output was committed (rejected rows included), -1 with err set when
 * nothing was written. */
int embed_job_run(const embed_job *job, userec_encoder *enc, size_t dim, uint32_t vocab_rows, embed_summary *sum,
                  char *err, size_t err_len);

#endif
