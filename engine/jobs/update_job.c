/* update_job.c: one run of `userec update` (update_job.h): match, embed what changed, update the lists, write a
 * generation, publish it, switch. */
#include "jobs/update_job.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/fault.h"
#include "common/grow.h"
#include "common/id_set.h"
#include "common/json_string.h"
#include "common/regular_file.h"
#include "common/sha256.h"
#include "common/util.h"
#include "jobs/update_related.h"
#include "output/lists.h"
#include "output/npy.h"
#include "output/publish.h"
#include "output/run_facts.h"
#include "store/state.h"
#include "topk/topk.h"

#define DEPTH_FACTOR 2 /* lists are kept 2k deep: room for removals before a list must be searched again */

/* The live generation, as far as this run uses it. */
typedef struct {
    char *dir;
    char *facts[4]; /* manifest.json: fingerprint, options, input_sha256, generation */
    int vectors_usable;  /* same fingerprint: its vectors can be reused */
    store_state state;
    npy_array vectors;   /* raw, as embedded */
    topk_ids ids;
    id_set by_hash, by_id; /* numbered in row order of first appearance */
    int32_t *hash_row;     /* by_hash number -> the first row with that hash */
} old_generation;

enum { F_FINGERPRINT, F_OPTIONS, F_INPUT, F_GENERATION };
static const char *const fact_keys[] = {"fingerprint", "options", "input_sha256", "generation"};

typedef struct {
    uint8_t fingerprint[SHA256_BYTES];
    size_t dim;
    old_generation *old;
    id_set ids;     /* the ids of the accepted rows */
    uint8_t *hash;  /* per id number: the last accepted row's content hash */
    size_t hash_cap;
} matcher;

static void row_hash(const matcher *m, const char *text, size_t len, uint8_t out[STATE_HASH_BYTES]) {
    sha256_ctx c;
    uint8_t full[SHA256_BYTES];
    sha256_init(&c);
    sha256_update(&c, m->fingerprint, sizeof m->fingerprint);
    sha256_update(&c, text, len);
    sha256_final(&c, full);
    memcpy(out, full, STATE_HASH_BYTES);
}

/* embed_job.reuse: notes the row's hash under its id (a later row of the id replaces it: with keep-last it is the
 * row kept; with reject none is) and copies the vector of a live row with that hash. */
static int reuse_vector(void *arg, const char *id, const char *text, size_t len, float *vector) {
    matcher *m = arg;
    uint8_t h[STATE_HASH_BYTES];
    row_hash(m, text, len, h);
    int added;
    const size_t e = id_set_add(&m->ids, id, strlen(id), &added);
    if (e == ID_SET_NONE || GROW(m->hash, m->hash_cap, (e + 1) * STATE_HASH_BYTES)) return -1;
    memcpy(m->hash + e * STATE_HASH_BYTES, h, STATE_HASH_BYTES);
    if (!m->old || !m->old->vectors_usable) return 0;
    const size_t found = id_set_find(&m->old->by_hash, h, STATE_HASH_BYTES);
    if (found == ID_SET_NONE) return 0;
    memcpy(vector, (const float *)m->old->vectors.data + (size_t)m->old->hash_row[found] * m->dim, m->dim * sizeof *vector);
    return 1;
}

static void old_free(old_generation *o) {
    free(o->dir);
    for (size_t i = 0; i < 4; i++) free(o->facts[i]);
    state_release(&o->state);
    npy_release(&o->vectors);
    topk_ids_free(&o->ids);
    id_set_free(&o->by_hash), id_set_free(&o->by_id);
    free(o->hash_row);
    *o = (old_generation){0};
}

/* Reads the live generation's manifest facts and ids, and when its vectors can be reused (reuse, and the same
 * fingerprint) its state and vectors. */
static int old_load(store *st, const char *fingerprint_hex, size_t dim, int reuse, old_generation *o, char *err,
                    size_t err_len) {
    *o = (old_generation){0};
    if (!(o->dir = store_generation_path(st, st->current)))
        return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    char *manifest = path_join(o->dir, "manifest.json"), *state = path_join(o->dir, "state.bin");
    char *vectors = path_join(o->dir, "vectors.npy"), *ids = path_join(o->dir, "vectors.ids");
    int rc = manifest && state && vectors && ids ? 0 : FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    if (!rc) rc = run_facts_read(manifest, fact_keys, 4, o->facts, err, err_len);
    o->vectors_usable = !rc && reuse && o->facts[F_FINGERPRINT] && !strcmp(o->facts[F_FINGERPRINT], fingerprint_hex);
    if (!rc) rc = state_read(state, &o->state, err, err_len);
    if (!rc) rc = topk_read_ids(ids, state, o->state.rows, &o->ids, NULL, err, err_len);
    if (!rc && o->vectors_usable) rc = npy_read(vectors, &o->vectors, err, err_len);
    if (!rc && o->vectors_usable && (o->vectors.dtype != NPY_F32 || o->vectors.cols != dim || o->vectors.rows != o->state.rows))
        rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: %zu x %zu, not the %llu float32 rows of %zu values its "
                                                          "state.bin describes", vectors, o->vectors.rows, o->vectors.cols,
                                            (unsigned long long)o->state.rows, dim));
    if (!rc && !(o->hash_row = malloc((o->state.rows ? o->state.rows : 1) * sizeof *o->hash_row)))
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    for (size_t r = 0; !rc && r < o->state.rows; r++) {
        int new_hash, new_id;
        const size_t h = id_set_add(&o->by_hash, o->state.hash + r * STATE_HASH_BYTES, STATE_HASH_BYTES, &new_hash);
        const size_t i = h == ID_SET_NONE ? h : id_set_add(&o->by_id, o->ids.line[r], strlen(o->ids.line[r]), &new_id);
        if (i == ID_SET_NONE) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %llu rows",
                                                                 (unsigned long long)o->state.rows));
        else if (new_hash) o->hash_row[h] = (int32_t)r; /* equal texts have equal vectors: the first row serves */
    }
    free(manifest), free(state), free(vectors), free(ids);
    if (rc) old_free(o);
    return rc;
}

/* SHA-256 (as hex) and size of the regular file at path. */
static int file_digest(const char *path, char hex[2 * SHA256_BYTES + 1], uint64_t *size, char *err, size_t err_len) {
    struct stat st;
    int why;
    const int fd = open_regular_file(path, &st, &why, err, err_len);
    if (fd < 0) return USEREC_ERR_IO;
    uint8_t d[SHA256_BYTES];
    const int failed = sha256_fd(fd, d, size);
    close(fd);
    if (failed) return FAIL_AS(USEREC_ERR_IO, SYS_ERR(err, err_len, path, "read"));
    sha256_hex(d, SHA256_BYTES, hex);
    return 0;
}

/* The vector fingerprint, as text for the manifest and as the SHA-256 rows are hashed under. */
static int fingerprint(const update_job *job, const userec_encoder *enc, char *text, size_t text_len,
                       uint8_t digest[SHA256_BYTES], char *err, size_t err_len) {
    char hex[2 * SHA256_BYTES + 1];
    uint64_t size;
    const int rc = file_digest(job->model_path, hex, &size, err, err_len);
    if (rc) return rc;
    snprintf(text, text_len, "model_sha256=%s tokenizer=%s strict=%d encoder=%s", hex,
             job->embed.tok ? tokenizer_kind_name(tokenizer_kind(job->embed.tok)) : "none (token ids)", job->embed.strict,
             userec_encoder_name(enc));
    sha256(text, strlen(text), digest);
    return 0;
}

/* The options that shape the outputs other than the vectors. */
static void options_text(const update_job *job, char *out, size_t len) {
    const input_options *in = &job->embed.in;
    snprintf(out, len, "format=%s text_col=%s id_col=%s delimiter=%c header=%d on_duplicate_id=%s k=%zu related=%s%s",
             input_format_name(in->format), in->text_cols ? in->text_cols : "", in->id_col ? in->id_col : "",
             in->delimiter ? in->delimiter : ',', !in->no_header, dup_policy_name(job->embed.on_duplicate), job->k,
             job->related_csv ? "csv" : "", job->related_jsonl ? "+jsonl" : "");
}

/* SHA-256 and size of the input, or hex "" for stdin. */
static int input_digest(const char *path, char hex[2 * SHA256_BYTES + 1], uint64_t *size, char *err, size_t err_len) {
    hex[0] = 0;
    *size = 0;
    return strcmp(path, "-") ? file_digest(path, hex, size, err, err_len) : 0;
}

/* Whether item r's written list (its first `want` entries) differs from its old one (ids and scores). */
static int list_changed(const related_lists *l, size_t r, size_t want, const topk_ids *ids, const old_generation *o,
                        size_t old_r, size_t old_want) {
    const store_state *s = &o->state;
    const size_t have = l->count[r] < want ? l->count[r] : want;
    const size_t had = s->count[old_r] < old_want ? s->count[old_r] : old_want;
    if (have != had) return 1;
    for (size_t e = 0; e < have; e++) {
        const int32_t x = l->index[r * l->depth + e], y = s->index[old_r * s->depth + e];
        if (l->score[r * l->depth + e] != s->score[old_r * s->depth + e] || strcmp(ids->line[x], o->ids.line[y])) return 1;
    }
    return 0;
}

static void change_line(FILE *f, const char *change, const char *id) {
    fprintf(f, "{\"change\":\"%s\",\"id\":", change);
    json_string_write(f, id);
    fputs("}\n", f);
}

/* changes.jsonl: added, changed and removed ids, then each id whose list changed, with its new list. */
static int write_changes(FILE *f, const topk_ids *ids, const int32_t *old_row_by_id, const uint8_t *new_hash,
                         const old_generation *o, const related_lists *l, size_t k, size_t old_k, update_summary *sum) {
    const size_t n = ids->count, want = k < n ? k : n;
    for (size_t r = 0; r < n; r++) {
        const int32_t y = old_row_by_id[r];
        if (y < 0) change_line(f, "added", ids->line[r]), sum->added++;
        else if (!o->vectors_usable || memcmp(new_hash + r * STATE_HASH_BYTES, o->state.hash + (size_t)y * STATE_HASH_BYTES, STATE_HASH_BYTES))
            change_line(f, "changed", ids->line[r]), sum->changed++;
    }
    {
        id_set now = {0};
        for (size_t r = 0; r < n; r++) {
            int added;
            if (id_set_add(&now, ids->line[r], strlen(ids->line[r]), &added) == ID_SET_NONE) return id_set_free(&now), -1;
        }
        for (size_t y = 0; y < o->ids.count; y++)
            if (id_set_find(&now, o->ids.line[y], strlen(o->ids.line[y])) == ID_SET_NONE)
                change_line(f, "removed", o->ids.line[y]), sum->removed++;
        id_set_free(&now);
    }
    const size_t old_n = o->ids.count, old_want = old_k < old_n ? old_k : old_n;
    char *line = NULL;
    size_t line_len = 0;
    for (size_t r = 0; r < n; r++) {
        const int32_t y = old_row_by_id[r];
        if (y >= 0 && o->vectors_usable && !list_changed(l, r, want, ids, o, (size_t)y, old_want)) continue;
        sum->lists_changed++;
        FILE *m = open_memstream(&line, &line_len);
        if (!m) return -1;
        lists_write_one(m, LISTS_JSONL, ids->line[r], want, l->index + r * l->depth, l->score + r * l->depth, ids);
        fclose(m);
        fprintf(f, "{\"change\":\"related\",%s", line + 1); /* the list as related.jsonl has it */
        free(line);
        line = NULL;
    }
    return ferror(f) ? -1 : 0;
}

/* The outputs of one generation beside the embed ones, all in its temp directory. */
typedef struct {
    atomic_file csv, jsonl, state, changes;
    run_facts manifest;
} generation_files;

static int open_file(store *st, const char *name, atomic_file *f, char *err, size_t err_len) {
    char *path = store_building_file(st, name);
    const int rc = path ? atomic_open(f, path, err, err_len) : FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    free(path);
    return rc;
}

void update_summary_facts(run_facts *rf, const update_summary *s) {
    run_facts_count(rf, "rows_read", s->read);
    run_facts_count(rf, "items", s->items);
    run_facts_count(rf, "rejected", s->rejected);
    run_facts_count(rf, "duplicates", s->duplicates);
    run_facts_count(rf, "added", s->added);
    run_facts_count(rf, "changed", s->changed);
    run_facts_count(rf, "removed", s->removed);
    run_facts_count(rf, "encoded", s->encoded);
    run_facts_count(rf, "reused", s->reused);
    run_facts_count(rf, "lists_changed", s->lists_changed);
    run_facts_count(rf, "lists_searched", s->lists_searched);
    run_facts_bool(rf, "full_search", s->full_search);
    run_facts_number(rf, "read_embed_seconds", s->read_s);
    run_facts_number(rf, "search_seconds", s->search_s);
}

int update_job_run(const update_job *job, store *st, userec_encoder *enc, size_t dim, uint32_t vocab_rows,
                   update_summary *sum, char *err, size_t err_len) {
    const double t_start = now_seconds();
    *sum = (update_summary){.parent = st->current};
    matcher m = {.dim = dim};
    old_generation old = {0};
    char vector_text[400], options[512], old_why[600] = "", fp_hex[2 * SHA256_BYTES + 1], input_hex[2 * SHA256_BYTES + 1];
    uint64_t input_size;
    int rc = fingerprint(job, enc, vector_text, sizeof vector_text, m.fingerprint, err, err_len);
    if (rc) return rc;
    sha256_hex(m.fingerprint, SHA256_BYTES, fp_hex);
    options_text(job, options, sizeof options);
    if ((rc = input_digest(job->embed.input, input_hex, &input_size, err, err_len))) return rc;
    if (st->current) {
        if ((rc = old_load(st, fp_hex, dim, !job->full, &old, old_why, sizeof old_why)))
            return FAIL_AS(rc, ERR(err, err_len, "the live generation of %s cannot be read: %s (--full rebuilds it "
                                                 "from the catalogue alone)", st->dir, old_why));
        m.old = &old;
        if (input_hex[0] && old.vectors_usable && old.facts[F_OPTIONS] && !strcmp(old.facts[F_OPTIONS], options) &&
            old.facts[F_INPUT] && !strcmp(old.facts[F_INPUT], input_hex)) {
            sum->unchanged = 1;
            sum->generation = st->current;
            sum->items = old.ids.count;
            old_free(&old);
            sum->wall_s = now_seconds() - t_start;
            return 0;
        }
        if (!old.vectors_usable)
            snprintf(sum->invalidated, sizeof sum->invalidated, "%s: every row is embedded again",
                     job->full ? "--full" : "the model, tokenizer, --strict or encoder changed");
    }
    /* Embedding: embed's own pipeline, writing into the new generation, with the reuse hook. */
    embed_job ej = job->embed;
    embed_summary es;
    embed_outputs eo;
    generation_files g = {.csv.slot = -1, .jsonl.slot = -1, .state.slot = -1, .changes.slot = -1, .manifest.file.slot = -1};
    topk_matrix items = {0};
    topk_ids ids = {0};
    related_lists lists = {0};
    int32_t *old_row = NULL, *old_row_by_id = NULL;
    uint8_t *new_hash = NULL;
    int embedded = 0;
    if ((rc = store_begin(st, err, err_len))) goto done;
    ej.out = store_building_file(st, "vectors.npy");
    ej.rejects = store_building_file(st, "rejects.tsv");
    if (!ej.out || !ej.rejects) {
        free((char *)ej.out), free((char *)ej.rejects);
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
        goto done;
    }
    ej.jsonl = 0;
    ej.dtype = NPY_F32;
    ej.reuse = reuse_vector;
    ej.reuse_arg = &m;
    rc = embed_job_run(&ej, enc, dim, vocab_rows, &es, &eo, err, err_len);
    free((char *)ej.out), free((char *)ej.rejects);
    if (rc) goto done;
    embedded = 1;
    sum->read = es.read, sum->items = es.embedded, sum->rejected = es.rejected, sum->duplicates = es.duplicates;
    sum->reused = es.reused, sum->encoded = es.embedded - es.reused;
    sum->read_s = es.wall_s;
    char too_many[160];
    if (embed_rejects_over(es.rejected, es.read, job->max_reject_rate, too_many, sizeof too_many)) {
        embed_outputs_first_rejects(&eo, 10, sum->first_rejects, sizeof sum->first_rejects);
        rc = FAIL_AS(USEREC_ERR_INPUT, ERR(err, err_len, "%s: no generation was made, the live one is untouched", too_many));
        goto done;
    }
    fault_point("embedded");
    /* The vectors as `related` would load them (scaled to unit length where they are not), and their ids. */
    if ((rc = npy_writer_seal(&eo.npy, err, err_len))) goto done;
    if (fflush(eo.ids.fp)) {
        rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, eo.ids.tmp_path, "write"));
        goto done;
    }
    size_t scaled, zero;
    if ((rc = topk_load_vectors(eo.npy.file.tmp_path, &items, &scaled, &zero, NULL, err, err_len)) ||
        (rc = topk_read_ids(eo.ids.tmp_path, eo.npy.file.tmp_path, items.rows, &ids, NULL, err, err_len)))
        goto done;
    const size_t n = items.rows;
    old_row = malloc((n ? n : 1) * sizeof *old_row);
    old_row_by_id = malloc((n ? n : 1) * sizeof *old_row_by_id);
    new_hash = malloc((n ? n : 1) * STATE_HASH_BYTES);
    if (!old_row || !old_row_by_id || !new_hash) {
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu rows", n));
        goto done;
    }
    for (size_t r = 0; r < n; r++) {
        const size_t e = id_set_find(&m.ids, ids.line[r], strlen(ids.line[r]));
        memcpy(new_hash + r * STATE_HASH_BYTES, m.hash + e * STATE_HASH_BYTES, STATE_HASH_BYTES);
        const size_t y = id_set_find(&old.by_id, ids.line[r], strlen(ids.line[r]));
        old_row_by_id[r] = y == ID_SET_NONE ? -1 : (int32_t)y;
        old_row[r] = y != ID_SET_NONE && old.vectors_usable && !memcmp(new_hash + r * STATE_HASH_BYTES, old.state.hash + y * STATE_HASH_BYTES,
                                                   STATE_HASH_BYTES) ? (int32_t)y : -1;
    }
    /* The lists: kept DEPTH_FACTOR * k deep for the next run. */
    const double t_search = now_seconds();
    const uint32_t depth = (uint32_t)(job->k * DEPTH_FACTOR);
    const int lists_usable = old.vectors_usable && old.state.k == job->k && old.state.depth == depth;
    related_stats rs;
    if ((rc = update_related(items.data, n, dim, job->k, depth, lists_usable ? &old.state : NULL, old_row, &lists, &rs,
                             err, err_len)))
        goto done;
    sum->search_s = now_seconds() - t_search;
    sum->lists_searched = rs.searched, sum->ties = rs.ties, sum->emptied = rs.emptied, sum->full_search = rs.full;
    /* The generation's other files. */
    const double t_write = now_seconds();
    const size_t want = job->k < n ? job->k : n;
    if (job->related_csv && !(rc = open_file(st, "related.csv", &g.csv, err, err_len)))
        lists_write(g.csv.fp, LISTS_CSV, 0, n, want, depth, lists.index, lists.score, &ids, &ids);
    if (!rc && job->related_jsonl && !(rc = open_file(st, "related.jsonl", &g.jsonl, err, err_len)))
        lists_write(g.jsonl.fp, LISTS_JSONL, 0, n, want, depth, lists.index, lists.score, &ids, &ids);
    if (!rc && !(rc = open_file(st, "state.bin", &g.state, err, err_len)))
        rc = state_write(g.state.fp, g.state.tmp_path, (uint32_t)job->k, depth, (uint32_t)dim, n, new_hash, lists.count,
                         lists.next, lists.index, lists.score, err, err_len);
    if (!rc && !(rc = open_file(st, "changes.jsonl", &g.changes, err, err_len)) &&
        write_changes(g.changes.fp, &ids, old_row_by_id, new_hash, &old, &lists, job->k, old.state.k, sum))
        rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, g.changes.tmp_path, "write"));
    char *manifest_path = rc ? NULL : store_building_file(st, "manifest.json");
    if (!rc && !manifest_path) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    if (!rc) rc = run_facts_open(&g.manifest, manifest_path, "update", err, err_len);
    free(manifest_path);
    if (rc) goto done;
    sum->generation = st->current + 1;
    run_facts *mf = &g.manifest;
    run_facts_count(mf, "generation", sum->generation);
    run_facts_count(mf, "parent", sum->parent);
    run_facts_string(mf, "input", job->embed.input);
    run_facts_count(mf, "input_bytes", input_size);
    run_facts_string(mf, "input_sha256", input_hex[0] ? input_hex : NULL);
    run_facts_string(mf, "model", job->model_path);
    run_facts_string(mf, "vector_fingerprint", vector_text);
    run_facts_string(mf, "fingerprint", fp_hex);
    run_facts_string(mf, "options", options);
    run_facts_count(mf, "k", job->k);
    update_summary_facts(mf, sum);
    fault_point("written");
    publish_set set = {0};
    publish_add(&set, &eo.npy.file);
    publish_add(&set, &eo.ids);
    publish_add(&set, &eo.rejects);
    if (g.csv.fp) publish_add(&set, &g.csv);
    if (g.jsonl.fp) publish_add(&set, &g.jsonl);
    publish_add(&set, &g.state);
    publish_add(&set, &g.changes);
    eo.has_npy = 0; /* from here the set owns the files */
    rc = publish_commit(&set, &g.manifest, err, err_len);
    embedded = 0;
    if (rc) goto done;
    fault_point("published");
    sum->write_s = now_seconds() - t_write;
    rc = store_commit(st, job->keep, err, err_len);
done:
    if (embedded) embed_outputs_discard(&eo);
    atomic_abort(&g.csv), atomic_abort(&g.jsonl), atomic_abort(&g.state), atomic_abort(&g.changes);
    atomic_abort(&g.manifest.file);
    if (rc) store_abandon(st);
    topk_matrix_free(&items);
    topk_ids_free(&ids);
    related_lists_free(&lists);
    free(old_row), free(old_row_by_id), free(new_hash);
    id_set_free(&m.ids);
    free(m.hash);
    old_free(&old);
    sum->wall_s = now_seconds() - t_start;
    return rc;
}
