/* shards.h: what embed --shard and related --shard add to their commands (cli/shards.c): an embed shard's block
 * of the input, and each part's manifest, written last. The shards themselves: engine/jobs/shard.h. */
#ifndef USEREC_CLI_SHARDS_H
#define USEREC_CLI_SHARDS_H

#include "jobs/embed_job.h"
#include "jobs/shard.h"
#include "userec.h"

/* The input's identity and the shard's byte range of it, set in job->in (the last shard reads to the end); the
 * part's manifest from an earlier run removed. Returns 0, or -1 with err set. */
int cli_embed_shard_begin(const shard_spec *s, embed_job *job, shard_file *input, size_t *lo, size_t *hi, char *err,
                          size_t err_len);

/* What embed's manifest records besides the job and its summary. */
typedef struct {
    const char *model_path;
    const userec_model *model;
    userec_precision precision;
    userec_device device; /* cpu or cuda: the arithmetic (not which GPUs) */
    const shard_file *input;
    size_t byte_start, byte_end;
} embed_shard_facts;
int cli_embed_manifest(const shard_spec *s, const embed_job *job, const embed_shard_facts *f, const embed_summary *sum,
                       char *err, size_t err_len);

/* What related's manifest records: its inputs (measured here), the options that shape its lists, its block. */
typedef struct {
    const char *out;
    const char *inputs[5]; /* --emb, --ids, --queries, --query-ids, --catalog (NULL when not given) */
    const char *options, *format;
    size_t rows_start, rows_end, rows_total;
} related_shard_facts;
int cli_related_manifest(const shard_spec *s, const related_shard_facts *f, char *err, size_t err_len);

#endif
