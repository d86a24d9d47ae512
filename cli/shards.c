/* shards.c: an embed shard's block of the input, and the manifests of embed's and related's parts (shards.h):
 * what merge checks a part against (engine/jobs/merge.c reads the same keys). */
#include "shards.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/util.h"
#include "model/model.h"
#include "model/usew.h"

int cli_embed_shard_begin(const shard_spec *s, embed_job *job, shard_file *input, size_t *lo, size_t *hi, char *err,
                          size_t err_len) {
    if (shard_file_measure(job->input, input, err, err_len)) return USEREC_ERR_IO;
    shard_block(s, (size_t)input->data_bytes, lo, hi);
    job->in.ranged = 1;
    job->in.range_start = *lo;
    job->in.range_end = s->index == s->count ? SIZE_MAX : *hi;
    return shard_manifest_remove(job->out, "embed", err, err_len) ? FAIL_OUTPUT : 0;
}

int cli_embed_manifest(const shard_spec *s, const embed_job *job, const embed_shard_facts *f, const embed_summary *sum,
                       char *err, size_t err_len) {
    char *paths[EMBED_JOB_MAX_OUTPUTS];
    const size_t n = embed_job_outputs(job, paths);
    if (!n) return ERR(err, err_len, "out of memory");
    size_t bytes[EMBED_JOB_MAX_OUTPUTS] = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        struct stat st;
        if (stat(paths[i], &st)) rc = SYS_ERR(err, err_len, paths[i], "stat");
        else bytes[i] = (size_t)st.st_size;
    }
    for (size_t i = 0; i < n; i++) free(paths[i]);
    run_facts rf;
    if (rc || shard_manifest_open(&rf, job->out, "embed", s, err, err_len)) return -1;
    shard_manifest_file(&rf, "input", job->input, f->input);
    char checksum[16], options[1024];
    /* the header's CRC-32 covers the table's, which covers every tensor's */
    snprintf(checksum, sizeof checksum, "%08x", rd_u32(f->model->file->map + USEW_H_HEADER_CRC32));
    run_facts_string(&rf, "model", f->model_path);
    run_facts_count(&rf, "model_bytes", f->model->file->size);
    run_facts_string(&rf, "model_checksum", checksum);
    snprintf(options, sizeof options, "format=%s text_col=%s id_col=%s delimiter=%c no_header=%d tokenizer=%s "
             "strict=%d on_duplicate_id=%s output=%s precision=%s device=%s", input_format_name(job->in.format),
             job->in.text_cols ? job->in.text_cols : "-", job->in.id_col ? job->in.id_col : "-",
             job->in.delimiter ? job->in.delimiter : ',', job->in.no_header,
             job->tok ? tokenizer_kind_name(tokenizer_kind(job->tok)) : "ids", job->strict,
             dup_policy_name(job->on_duplicate),
             job->jsonl ? "jsonl" : job->dtype == NPY_F16 ? "npy float16" : "npy float32",
             userec_precision_name(f->precision), userec_device_name(f->device));
    run_facts_string(&rf, "options", options);
    run_facts_count(&rf, "byte_start", f->byte_start);
    run_facts_count(&rf, "byte_end", f->byte_end);
    run_facts_count(&rf, "rows_start", sum->rows_before);
    run_facts_count(&rf, "rows_end", sum->rows_before + sum->read);
    run_facts_count(&rf, "embedded", sum->embedded);
    run_facts_count(&rf, "rejected", sum->rejected);
    run_facts_count(&rf, "part_bytes", bytes[0]);
    if (!job->jsonl) run_facts_count(&rf, "part_ids_bytes", bytes[1]);
    run_facts_count(&rf, "part_rejects_bytes", bytes[n - 1]);
    return run_facts_commit(&rf, err, err_len);
}

int cli_related_manifest(const shard_spec *s, const related_shard_facts *f, char *err, size_t err_len) {
    static const char *const keys[] = {"emb", "ids", "queries", "query_ids", "catalog"};
    struct stat st;
    run_facts rf;
    if (stat(f->out, &st)) return SYS_ERR(err, err_len, f->out, "stat");
    if (shard_manifest_open(&rf, f->out, "related", s, err, err_len)) return -1;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        shard_file file;
        if (!f->inputs[i]) continue;
        if (shard_file_measure(f->inputs[i], &file, err, err_len)) {
            atomic_abort(&rf.file);
            return -1;
        }
        shard_manifest_file(&rf, keys[i], f->inputs[i], &file);
    }
    run_facts_string(&rf, "options", f->options);
    run_facts_string(&rf, "format", f->format);
    run_facts_count(&rf, "rows_total", f->rows_total);
    run_facts_count(&rf, "rows_start", f->rows_start);
    run_facts_count(&rf, "rows_end", f->rows_end);
    run_facts_count(&rf, "part_bytes", (size_t)st.st_size);
    return run_facts_commit(&rf, err, err_len);
}
