/* update_job.h: `userec update`, the nightly job: today's catalogue to a new generation of a store (store/store.h),
 * recomputing only what changed, with a result identical to a from-scratch `embed` + `related` of the catalogue.
 *
 * Rows are matched to the live generation by content hash: SHA-256 of the vector fingerprint (SHA-256 of: the model
 * file's SHA-256, the tokenizer, --strict, the encoder's device and precision) followed by the row's text exactly as
 * it is tokenized, truncated to 16 bytes. A row whose hash the live generation has reuses that vector (the CPU
 * encoder is batch invariant: a vector depends on its text alone, so reuse is exact); the others are tokenized and
 * encoded as `embed` does (the embed pipeline itself runs, with a reuse hook). A changed fingerprint invalidates
 * every row. Related lists: update_related.h. */
#ifndef USEREC_UPDATE_JOB_H
#define USEREC_UPDATE_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "jobs/embed_job.h"
#include "output/run_facts.h"
#include "store/store.h"
#include "userec.h"

typedef struct {
    embed_job embed;        /* input, its options, tokenizer, --strict, --on-duplicate-id, threads, batch, progress;
                               `out`, `jsonl`, `dtype` and `reuse` are set by the job */
    const char *model_path;
    size_t k;
    int related_csv, related_jsonl; /* --related-format */
    double max_reject_rate;
    int full;               /* --full: reuse nothing from the live generation */
    unsigned keep;          /* old generations kept */
} update_job;

typedef struct {
    int unchanged;          /* the catalogue and options are those of the live generation: no generation was made */
    uint64_t generation, parent;
    size_t read, items, rejected, duplicates;
    size_t added, changed, removed, encoded, reused;
    size_t lists_changed, lists_searched, ties, emptied;
    int full_search;        /* every list was searched (first run, many changes, a changed k) */
    char invalidated[200];  /* why no vector could be reused, when so */
    char first_rejects[1024]; /* the first rejected rows, when the reject rate failed the run */
    double read_s, search_s, write_s, wall_s;
} update_summary;

/* Runs the job on an open, locked, cleaned store. Returns 0 (a new generation is live, or sum->unchanged), or the
 * failure's class (common/error.h) with err set; then the live generation is untouched. A run that rejects more than
 * max_reject_rate of its rows fails with USEREC_ERR_INPUT. */
int update_job_run(const update_job *job, store *st, userec_encoder *enc, size_t dim, uint32_t vocab_rows,
                   update_summary *sum, char *err, size_t err_len);

/* The summary's counts and times that a generation's manifest and --status-file both record. */
void update_summary_facts(run_facts *rf, const update_summary *s);

#endif
