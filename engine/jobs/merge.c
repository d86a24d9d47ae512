/* merge.c: `userec merge` (merge.h).
 *
 *   1. N: the manifests OUT.part-I-of-N.manifest.json found beside OUT (or --parts N)
 *   2. every manifest read and checked: against part 1 (the same job), against the part before (adjoining
 *      blocks), against its own files (their sizes)
 *   3. the parts' files copied in order into temp files beside OUT (headers once), renamed into place together,
 *      then the facts file with the parts' counts added up */
#include "jobs/merge.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/id_set.h"
#include "common/util.h"
#include "jobs/embed_job.h"
#include "jobs/shard.h"
#include "output/publish.h"
#include "output/atomic_file.h"
#include "output/npy.h"

/* What the manifests of cli/embed.c and cli/related.c say. From M_OPTIONS on, the job's identity: equal in
 * every part (a key absent from one is absent from all). */
enum {
    M_COMMAND, M_SHARD, M_SHARDS, M_ROWS_START, M_ROWS_END, M_BYTE_START, M_BYTE_END, M_EMBEDDED, M_REJECTED,
    M_PART_BYTES, M_PART_IDS_BYTES, M_PART_REJECTS_BYTES,
    M_OPTIONS, M_FORMAT, M_ROWS_TOTAL, M_INPUT_BYTES, M_INPUT_DATA_BYTES, N_KEYS = M_INPUT_DATA_BYTES + 14
};
static const char *const keys[N_KEYS] = {
    "command", "shard", "shards", "rows_start", "rows_end", "byte_start", "byte_end", "embedded", "rejected",
    "part_bytes", "part_ids_bytes", "part_rejects_bytes",
    "options", "format", "rows_total", "input_bytes", "input_data_bytes", "input_crc32", "model_bytes",
    "model_checksum", "emb_bytes", "emb_crc32", "ids_bytes", "ids_crc32", "queries_bytes", "queries_crc32",
    "query_ids_bytes", "query_ids_crc32", "catalog_bytes", "catalog_crc32"}; /* not the paths: they differ by node */

#define COPY_CHUNK ((size_t)1 << 20)
#define REJECTS_HEADER "line\tid\treason\n"
#define CSV_HEADER "id,rank,neighbor_id,score\n"

typedef struct {
    char *v[N_KEYS];
    char *path;     /* the part's main file: OUT.part-I-of-N.EXT */
    char *manifest; /* OUT.part-I-of-N.manifest.json */
} part;

typedef struct {
    const char *out, *ext; /* OUT and its extension (".npy", ".csv", ".jsonl") */
    int embed;             /* embed's parts, else related's */
    size_t n;
    part *parts;
    uint8_t *buf; /* COPY_CHUNK bytes */
} merger;

static int number(const char *s, uint64_t *v) {
    if (!s || *s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    const unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno) return -1;
    *v = x;
    return 0;
}

/* A number the manifest must hold; -1 with err naming the manifest and the key. */
static int need(const part *p, int key, uint64_t *v, char *err, size_t err_len) {
    if (!number(p->v[key], v)) return 0;
    return ERR(err, err_len, "%s: \"%s\" is %s%s%s, not a count: not a manifest of this userec", p->manifest,
               keys[key], p->v[key] ? "'" : "missing", p->v[key] ? p->v[key] : "", p->v[key] ? "'" : "");
}

static const char *const commands[] = {"embed", "related"};

/* The "I-of-N[EXT].COMMAND.shard.json" after "STEM.part-": N (0 when the name is not that) and the command's index.
 * EXT: the extension a manifest's name keeps (output_sibling: .jsonl), or "" (.npy and .csv lose theirs). */
static size_t parts_named(const char *rest, const char *ext, int *command) {
    char *end;
    if (*rest < '1' || *rest > '9') return 0;
    strtoull(rest, &end, 10);
    if (strncmp(end, "-of-", 4) || end[4] < '1' || end[4] > '9') return 0;
    const unsigned long long n = strtoull(end + 4, &end, 10);
    if (strncmp(end, ext, strlen(ext))) return 0;
    end += strlen(ext);
    for (*command = 0; *command < 2; ++*command) {
        const size_t len = strlen(commands[*command]);
        if (*end == '.' && !strncmp(end + 1, commands[*command], len) && !strcmp(end + 1 + len, SHARD_MANIFEST_SUFFIX))
            return n > SHARD_MAX_COUNT ? 0 : (size_t)n;
    }
    return 0;
}

/* N and the command: the one job whose part manifests lie beside OUT (embed's for .npy, related's for .csv; of N
 * parts when --parts N). */
static int find_job(merger *m, char *err, size_t err_len) {
    const char *out = m->out, *slash = strrchr(out, '/'), *base = slash ? slash + 1 : out, *dot = strrchr(base, '.');
    char *dir = slash ? strndup(out, slash == out ? 1 : (size_t)(slash - out)) : strdup(".");
    if (!dir) return ERR(err, err_len, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        SYS_ERR(err, err_len, dir, "opendir");
        free(dir);
        return -1;
    }
    const size_t stem = (size_t)(dot - base);
    size_t found[4];
    int found_command[4], command, n_found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, base, stem) || strncmp(e->d_name + stem, ".part-", 6)) continue;
        const int kept = strcmp(m->ext, ".npy") && strcmp(m->ext, ".csv");
        const size_t count = parts_named(e->d_name + stem + 6, kept ? m->ext : "", &command);
        if (!count || (m->n && count != m->n) || (!strcmp(m->ext, ".npy") && command) ||
            (!strcmp(m->ext, ".csv") && !command))
            continue;
        int seen = 0;
        for (int i = 0; i < n_found && !seen; i++) seen = found[i] == count && found_command[i] == command;
        if (!seen && n_found < 4) found[n_found] = count, found_command[n_found++] = command;
    }
    closedir(d);
    free(dir);
    if (!n_found)
        return ERR(err, err_len, "%s: no parts beside it: no %.*s.part-I-of-N.%s%s (what embed --shard and related "
                   "--shard write with -o %s)", out, (int)(dot - out), out, strcmp(m->ext, ".csv") ? "embed" : "related",
                   SHARD_MANIFEST_SUFFIX, out);
    if (n_found > 1)
        return ERR(err, err_len, "%s: parts of more than one job beside it (%s -of-%zu and %s -of-%zu): give --parts N, "
                   "or remove the stale parts", out, commands[found_command[0]], found[0], commands[found_command[1]],
                   found[1]);
    if (!m->n) m->n = found[0];
    m->embed = !found_command[0];
    return 0;
}

/* Reads part i's manifest (1-based). */
static int load_part(merger *m, size_t i, char *err, size_t err_len) {
    part *p = &m->parts[i - 1];
    const shard_spec s = {.index = i, .count = m->n};
    if (!(p->path = shard_part_path(m->out, &s)) ||
        !(p->manifest = shard_manifest_path(p->path, m->embed ? "embed" : "related")))
        return ERR(err, err_len, "out of memory");
    if (access(p->manifest, F_OK))
        return ERR(err, err_len, "%s is missing: shard %zu of %zu has not finished, or it failed (a shard writes its "
                   "manifest last); run it (again)", p->manifest, i, m->n);
    return run_facts_read(p->manifest, keys, N_KEYS, p->v, err, err_len);
}

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* A file's size must be what the manifest recorded: the part was not changed or cut short since. */
static int check_size(const part *p, const char *path, int key, char *err, size_t err_len) {
    uint64_t want = 0;
    struct stat st;
    if (need(p, key, &want, err, err_len)) return -1;
    if (stat(path, &st)) return SYS_ERR(err, err_len, path, "stat");
    if ((uint64_t)st.st_size != want)
        return ERR(err, err_len, "%s has %lld bytes, but its manifest %s says %llu: it changed after the shard wrote "
                   "it; run the shard again", path, (long long)st.st_size, p->manifest, (unsigned long long)want);
    return 0;
}

/* Part i (1-based) belongs to the job of part 1, follows part i-1, and its files are whole. */
static int check_part(merger *m, size_t i, char *err, size_t err_len) {
    const part *p = &m->parts[i - 1], *first = &m->parts[0];
    uint64_t shard, shards, start, end, prev_end = 0;
    if (!same(p->v[M_COMMAND], m->embed ? "embed" : "related"))
        return ERR(err, err_len, "%s: written by '%s', but %s is %s's output", p->manifest,
                   p->v[M_COMMAND] ? p->v[M_COMMAND] : "?", m->out, m->embed ? "embed" : "related");
    if (need(p, M_SHARD, &shard, err, err_len) || need(p, M_SHARDS, &shards, err, err_len)) return -1;
    if (shard != i || shards != m->n)
        return ERR(err, err_len, "%s says it is shard %llu of %llu, not %zu of %zu: a renamed file?", p->manifest,
                   (unsigned long long)shard, (unsigned long long)shards, i, m->n);
    for (int k = M_OPTIONS; k < N_KEYS; k++)
        if (!same(p->v[k], first->v[k]))
            return ERR(err, err_len, "%s is from another job: its %s is %s where part 1's is %s (another input, "
                       "model or options); run that shard again, or remove the stale parts", p->manifest, keys[k],
                       p->v[k] ? p->v[k] : "absent", first->v[k] ? first->v[k] : "absent");
    if (need(p, M_ROWS_START, &start, err, err_len) || need(p, M_ROWS_END, &end, err, err_len)) return -1;
    if (i > 1 && need(&m->parts[i - 2], M_ROWS_END, &prev_end, err, err_len)) return -1;
    if (start != prev_end || end < start)
        return ERR(err, err_len, "%s: its rows start at %llu, where part %zu's ended at %llu: the shards did not read "
                   "the same input the same way", p->manifest, (unsigned long long)start, i - 1,
                   (unsigned long long)prev_end);
    if (m->embed) {
        uint64_t byte_start, byte_end, prev_byte_end = 0, data_bytes;
        if (need(p, M_BYTE_START, &byte_start, err, err_len) || need(p, M_BYTE_END, &byte_end, err, err_len)) return -1;
        if (i > 1 && need(&m->parts[i - 2], M_BYTE_END, &prev_byte_end, err, err_len)) return -1;
        if (byte_start != prev_byte_end)
            return ERR(err, err_len, "%s: its block starts at byte %llu, where part %zu's ended at %llu", p->manifest,
                       (unsigned long long)byte_start, i - 1, (unsigned long long)prev_byte_end);
        if (i == m->n && (need(p, p->v[M_INPUT_DATA_BYTES] ? M_INPUT_DATA_BYTES : M_INPUT_BYTES, &data_bytes, err,
                               err_len) ||
                          (byte_end != data_bytes &&
                           ERR(err, err_len, "%s: the last block ends at byte %llu of %llu", p->manifest,
                               (unsigned long long)byte_end, (unsigned long long)data_bytes))))
            return -1;
    } else if (i == m->n) {
        uint64_t total;
        if (need(p, M_ROWS_TOTAL, &total, err, err_len)) return -1;
        if (end != total)
            return ERR(err, err_len, "%s: the last block ends at query %llu of %llu", p->manifest,
                       (unsigned long long)end, (unsigned long long)total);
    }
    if (check_size(p, p->path, M_PART_BYTES, err, err_len)) return -1;
    if (!m->embed) return 0;
    char *ids = output_sibling(p->path, ".ids"), *rejects = output_sibling(p->path, ".rejects.tsv");
    int rc = !ids || !rejects ? ERR(err, err_len, "out of memory") : 0;
    if (!rc && strcmp(m->ext, ".jsonl")) rc = check_size(p, ids, M_PART_IDS_BYTES, err, err_len);
    if (!rc) rc = check_size(p, rejects, M_PART_REJECTS_BYTES, err, err_len);
    free(ids);
    free(rejects);
    return rc;
}

/* A shard finds repeated ids only within its block (embed --on-duplicate-id), so an id in two parts means the
 * merged files would not be one run's: refused, naming it. Ids from an --id-col only: row numbers cannot repeat.
 * Memory: one hash-set entry per id, as embed's own check takes. */
static int check_ids_across_parts(const merger *m, char *err, size_t err_len) {
    const char *options = m->parts[0].v[M_OPTIONS];
    if (!m->embed || strcmp(m->ext, ".npy") || !options || strstr(options, " id_col=- ")) return 0;
    id_set seen = {0};
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < m->n && !rc; i++) {
        char *path = output_sibling(m->parts[i].path, ".ids");
        FILE *f = path ? fopen(path, "rb") : NULL;
        if (!path) rc = ERR(err, err_len, "out of memory");
        else if (!f) rc = SYS_ERR(err, err_len, path, "open");
        for (ssize_t len; !rc && (len = getline(&line, &cap, f)) > 0;) {
            const size_t n = (size_t)len - (line[len - 1] == '\n');
            int added;
            if (id_set_add(&seen, line, n, &added) == ID_SET_NONE) rc = ERR(err, err_len, "out of memory for the ids");
            else if (!added)
                rc = ERR(err, err_len, "%s: the id '%.*s' is in an earlier part too: a shard finds repeated ids only in "
                         "its own block, so these parts are not one run's result; embed the catalogue in one run, or "
                         "remove the repeated ids from it", path, (int)(n < 200 ? n : 200), line);
        }
        if (f) fclose(f);
        free(path);
    }
    free(line);
    id_set_free(&seen);
    return rc;
}

/* Fills buf from fd: up to cap bytes, fewer only at the end of the file. Returns the bytes read or -1. */
static ssize_t read_full(int fd, uint8_t *buf, size_t cap, const char *path, char *err, size_t err_len) {
    size_t got = 0;
    while (got < cap) {
        const ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return SYS_ERR(err, err_len, path, "read");
        if (!n) break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Appends path's bytes after its first `header` (which must be there: the part's own header line) to to. */
static int copy_after(merger *m, const char *path, const char *header, FILE *to, const char *to_path, uint64_t *bytes,
                      char *err, size_t err_len) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return SYS_ERR(err, err_len, path, "open");
    size_t skip = header ? strlen(header) : 0;
    int rc = 0;
    for (;;) {
        const ssize_t n = read_full(fd, m->buf, COPY_CHUNK, path, err, err_len);
        if (n <= 0) {
            rc = n < 0 ? -1 : skip ? ERR(err, err_len, "%s: empty, where its header line was expected", path) : 0;
            break;
        }
        *bytes += (uint64_t)n;
        if (skip && ((size_t)n < skip || memcmp(m->buf, header, skip))) {
            rc = ERR(err, err_len, "%s does not start with the header line '%.*s'", path, (int)strcspn(header, "\n"),
                     header);
            break;
        }
        if (fwrite(m->buf + skip, 1, (size_t)n - skip, to) != (size_t)n - skip) {
            rc = SYS_ERR(err, err_len, to_path, "write");
            break;
        }
        skip = 0;
    }
    close(fd);
    return rc;
}

/* Appends the rows of a part's .npy (checked: the dtype and width of part 1, as many rows as it embedded). */
static int copy_npy(merger *m, const part *p, npy_writer *w, int *opened, npy_dtype *dtype, size_t *cols,
                    uint64_t *bytes, char *err, size_t err_len) {
    npy_array a;
    uint64_t embedded;
    if (need(p, M_EMBEDDED, &embedded, err, err_len) || npy_read(p->path, &a, err, err_len)) return -1;
    const size_t offset = (size_t)((const uint8_t *)a.data - a.map), rows = a.rows, width = a.cols;
    const npy_dtype type = a.dtype;
    npy_release(&a); /* the rows are read, not mapped: memory stays one chunk */
    if (rows != embedded)
        return ERR(err, err_len, "%s holds %zu rows, but its manifest says %llu were embedded", p->path, rows,
                   (unsigned long long)embedded);
    if (!*opened) {
        *dtype = type, *cols = width;
        if (npy_writer_open(w, m->out, type, width, err, err_len)) return -1;
        *opened = 1;
    } else if (type != *dtype || width != *cols) {
        return ERR(err, err_len, "%s holds %zu-wide %s rows, part 1 %zu-wide %s ones", p->path, width,
                   type == NPY_F16 ? "float16" : "float32", *cols, *dtype == NPY_F16 ? "float16" : "float32");
    }
    const size_t row_bytes = width * (type == NPY_F16 ? 2 : 4);
    if (!row_bytes || row_bytes > COPY_CHUNK)
        return ERR(err, err_len, "%s: rows of %zu bytes: merge copies rows of 1 byte to 1 MiB", p->path, row_bytes);
    const size_t chunk_rows = COPY_CHUNK / row_bytes;
    const int fd = open(p->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return SYS_ERR(err, err_len, p->path, "open");
    int rc = lseek(fd, (off_t)offset, SEEK_SET) < 0 ? SYS_ERR(err, err_len, p->path, "lseek") : 0;
    for (size_t done = 0; !rc && done < rows;) {
        const size_t want = rows - done < chunk_rows ? rows - done : chunk_rows;
        const ssize_t n = read_full(fd, m->buf, want * row_bytes, p->path, err, err_len);
        if (n < 0) rc = -1;
        else if ((size_t)n != want * row_bytes) rc = ERR(err, err_len, "%s: shorter than its header says", p->path);
        else rc = npy_writer_append_raw(w, m->buf, want, err, err_len);
        done += want;
        *bytes += (uint64_t)(want * row_bytes);
    }
    close(fd);
    return rc;
}

/* How a fact of the parts' facts files becomes the merged one's. */
typedef enum {
    FACT_FIRST_STRING,  /* part 1's (null when absent) */
    FACT_IF_STRING,     /* part 1's, left out when absent (the filters' facts) */
    FACT_FIRST_NUMBER,  /* part 1's, left out when absent */
    FACT_FIRST_BOOL,
    FACT_SUM_COUNT,
    FACT_SUM_SECONDS
} fact_rule;
typedef struct {
    const char *key;
    fact_rule rule;
} fact;

/* What cli/embed.c and cli/related.c write (write_facts, open_facts), key for key; "output" becomes OUT. Counts and seconds
 * are added up: seconds are the shards' time together, not the job's wall time. */
static const fact embed_facts[] = {
    {"input", FACT_FIRST_STRING}, {"format", FACT_FIRST_STRING}, {"text_col", FACT_FIRST_STRING},
    {"id_col", FACT_FIRST_STRING}, {"output", FACT_FIRST_STRING}, {"model", FACT_FIRST_STRING},
    {"test_weights", FACT_FIRST_BOOL}, {"tokenizer", FACT_FIRST_STRING}, {"encoder", FACT_FIRST_STRING},
    {"device", FACT_FIRST_STRING}, {"precision", FACT_FIRST_STRING}, {"dtype", FACT_FIRST_STRING},
    {"threads", FACT_FIRST_NUMBER}, {"rows_read", FACT_SUM_COUNT}, {"embedded", FACT_SUM_COUNT},
    {"rejected", FACT_SUM_COUNT}, {"clipped", FACT_SUM_COUNT}, {"repaired", FACT_SUM_COUNT},
    {"tokens", FACT_SUM_COUNT}, {"seconds", FACT_SUM_SECONDS}, {"tokenize_seconds", FACT_SUM_SECONDS},
    {"encode_seconds", FACT_SUM_SECONDS}, {"write_seconds", FACT_SUM_SECONDS},
    {"on_duplicate_id", FACT_FIRST_STRING}, {"duplicates", FACT_SUM_COUNT}};
static const fact related_facts[] = {
    {"emb", FACT_FIRST_STRING}, {"ids", FACT_FIRST_STRING}, {"queries", FACT_FIRST_STRING},
    {"output", FACT_FIRST_STRING}, {"k", FACT_FIRST_NUMBER}, {"include_self", FACT_FIRST_BOOL},
    {"min_score", FACT_FIRST_NUMBER}, {"dedupe_above", FACT_FIRST_NUMBER}, {"only_same", FACT_IF_STRING},
    {"only_other", FACT_IF_STRING}, {"catalog", FACT_IF_STRING}, {"groups", FACT_FIRST_NUMBER},
    {"device", FACT_FIRST_STRING}, {"precision", FACT_FIRST_STRING}, {"query_rows", FACT_SUM_COUNT},
    {"items", FACT_FIRST_NUMBER}, {"seconds", FACT_SUM_SECONDS}};
#define MAX_FACTS (sizeof embed_facts / sizeof *embed_facts)

/* OUT.embed.json or OUT.related.json, opened in *rf: part 1's facts with OUT as the output and the parts' counts
 * added up; the manifest that publishes the merged files (output/publish.h), as a single run's facts file is. */
static int open_facts(merger *m, run_facts *rf, char *err, size_t err_len) {
    const fact *facts = m->embed ? embed_facts : related_facts;
    const size_t n_facts = m->embed ? MAX_FACTS : sizeof related_facts / sizeof *related_facts;
    const char *suffix = m->embed ? ".embed.json" : ".related.json", *names[MAX_FACTS];
    char *first[MAX_FACTS] = {0}, *values[MAX_FACTS];
    double sums[MAX_FACTS] = {0};
    for (size_t f = 0; f < n_facts; f++) names[f] = facts[f].key;
    int rc = 0;
    for (size_t i = 0; i < m->n && !rc; i++) {
        char *path = output_sibling(m->parts[i].path, suffix);
        rc = !path ? ERR(err, err_len, "out of memory") : run_facts_read(path, names, n_facts, values, err, err_len);
        free(path);
        for (size_t f = 0; f < n_facts && !rc; f++) {
            if (values[f]) sums[f] += strtod(values[f], NULL);
            if (i) free(values[f]);
            else first[f] = values[f];
        }
    }
    if (!rc) rc = run_facts_open_beside(rf, m->out, suffix, m->embed ? "embed" : "related", err, err_len);
    for (size_t f = 0; f < n_facts && !rc; f++) {
        const char *v = first[f];
        if (!strcmp(facts[f].key, "output")) run_facts_string(rf, "output", m->out);
        else if (facts[f].rule == FACT_FIRST_STRING || (facts[f].rule == FACT_IF_STRING && v))
            run_facts_string(rf, facts[f].key, v);
        else if (facts[f].rule == FACT_FIRST_BOOL && v) run_facts_bool(rf, facts[f].key, !strcmp(v, "true"));
        else if (facts[f].rule == FACT_FIRST_NUMBER && v) run_facts_number(rf, facts[f].key, strtod(v, NULL));
        else if (facts[f].rule == FACT_SUM_COUNT && v) run_facts_count(rf, facts[f].key, (size_t)sums[f]);
        else if (facts[f].rule == FACT_SUM_SECONDS && v) run_facts_number(rf, facts[f].key, sums[f]);
    }
    if (!rc) run_facts_count(rf, "shards", m->n);
    for (size_t f = 0; f < n_facts; f++) free(first[f]);
    return rc;
}

/* The outputs being written: the main file (npy through its writer, or lines), and embed's ids and rejects. */
typedef struct {
    npy_writer npy;
    int has_npy;
    atomic_file main, ids, rejects;
} outputs;

/* The outputs opened so far, in the order they appear. */
static publish_set output_set(outputs *o) {
    publish_set set = {0};
    if (o->has_npy) publish_add(&set, &o->npy.file);
    atomic_file *lines[] = {&o->main, &o->ids, &o->rejects};
    for (size_t i = 0; i < 3; i++)
        if (lines[i]->fp) publish_add(&set, lines[i]);
    return set;
}

static void abort_outputs(outputs *o, run_facts *facts) {
    publish_set set = output_set(o);
    publish_abort(&set, facts);
}

/* All of them appear together with their facts file last, or none (output/publish.h), as a single run's do. */
static int commit_outputs(outputs *o, run_facts *facts, char *err, size_t err_len) {
    if (o->has_npy && npy_writer_seal(&o->npy, err, err_len)) {
        abort_outputs(o, facts);
        return -1;
    }
    publish_set set = output_set(o);
    return publish_commit(&set, facts, err, err_len);
}

static int open_lines(atomic_file *f, const char *out, const char *suffix, const char *header, char *err,
                      size_t err_len) {
    char *path = suffix ? output_sibling(out, suffix) : strdup(out);
    if (!path) return ERR(err, err_len, "out of memory");
    const int rc = atomic_open(f, path, err, err_len);
    free(path);
    if (!rc && header) fputs(header, f->fp);
    return rc;
}

static int write_outputs(merger *m, merge_summary *sum, char *err, size_t err_len) {
    outputs o = {.npy.file.slot = -1, .main.slot = -1, .ids.slot = -1, .rejects.slot = -1};
    const int npy = !strcmp(m->ext, ".npy");
    npy_dtype dtype = NPY_F32;
    size_t cols = 0;
    int rc = 0;
    if (!npy) rc = open_lines(&o.main, m->out, NULL, !m->embed && !strcmp(m->ext, ".csv") ? CSV_HEADER : NULL, err,
                              err_len);
    if (!rc && m->embed && npy) rc = open_lines(&o.ids, m->out, ".ids", NULL, err, err_len);
    if (!rc && m->embed) rc = open_lines(&o.rejects, m->out, ".rejects.tsv", REJECTS_HEADER, err, err_len);
    for (size_t i = 0; i < m->n && !rc; i++) {
        const part *p = &m->parts[i];
        if (npy) rc = copy_npy(m, p, &o.npy, &o.has_npy, &dtype, &cols, &sum->bytes, err, err_len);
        else rc = copy_after(m, p->path, o.main.fp && !m->embed && !strcmp(m->ext, ".csv") ? CSV_HEADER : NULL,
                             o.main.fp, o.main.tmp_path, &sum->bytes, err, err_len);
        char *ids = output_sibling(p->path, ".ids"), *rejects = output_sibling(p->path, ".rejects.tsv");
        if (!ids || !rejects) rc = ERR(err, err_len, "out of memory");
        if (!rc && o.ids.fp) rc = copy_after(m, ids, NULL, o.ids.fp, o.ids.tmp_path, &sum->bytes, err, err_len);
        if (!rc && o.rejects.fp)
            rc = copy_after(m, rejects, REJECTS_HEADER, o.rejects.fp, o.rejects.tmp_path, &sum->bytes, err, err_len);
        free(ids);
        free(rejects);
    }
    if (!rc && npy && !o.has_npy) rc = ERR(err, err_len, "no parts"); /* N >= 1: cannot happen */
    run_facts facts = {.file.slot = -1};
    if (!rc) rc = open_facts(m, &facts, err, err_len);
    if (rc) abort_outputs(&o, &facts);
    else rc = commit_outputs(&o, &facts, err, err_len);
    return rc;
}

int merge_run(const merge_job *job, merge_summary *sum, char *err, size_t err_len) {
    const double t0 = now_seconds();
    *sum = (merge_summary){0};
    const char *slash = strrchr(job->out, '/'), *dot = strrchr(job->out, '.');
    if (!dot || (slash && dot < slash) || !(!strcmp(dot, ".npy") || !strcmp(dot, ".csv") || !strcmp(dot, ".jsonl")))
        return FAIL_AS(USEREC_ERR_INPUT, ERR(err, err_len, "-o %s: merge writes what embed (.npy, .jsonl) or related "
                                                           "(.csv, .jsonl) would", job->out));
    merger m = {.out = job->out, .ext = dot, .n = job->parts, .embed = !strcmp(dot, ".npy")};
    /* with --parts N and a .npy or .csv, the job is known; else the files beside OUT say which it is */
    if ((!m.n || !strcmp(dot, ".jsonl")) && find_job(&m, err, err_len)) return USEREC_ERR_IO;
    m.parts = calloc(m.n, sizeof *m.parts);
    m.buf = malloc(COPY_CHUNK);
    int rc = !m.parts || !m.buf ? FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory for %zu parts", m.n)) : 0;
    for (size_t i = 1; i <= m.n && !rc; i++) {
        if (load_part(&m, i, err, err_len)) rc = USEREC_ERR_IO;              /* missing or unreadable */
        else if (check_part(&m, i, err, err_len)) rc = USEREC_ERR_FORMAT;    /* another job's, changed or cut short */
    }
    if (!rc && check_ids_across_parts(&m, err, err_len)) rc = USEREC_ERR_FORMAT;
    snprintf(sum->command, sizeof sum->command, "%s", m.embed ? "embed" : "related");
    sum->parts = m.n;
    for (size_t i = 0; i < m.n && m.parts && !rc; i++) {
        uint64_t start = 0, end = 0, embedded = 0, rejected = 0;
        number(m.parts[i].v[M_ROWS_START], &start), number(m.parts[i].v[M_ROWS_END], &end);
        number(m.parts[i].v[M_EMBEDDED], &embedded), number(m.parts[i].v[M_REJECTED], &rejected);
        sum->rows += (size_t)(end - start);
        sum->embedded += (size_t)embedded;
        sum->rejected += (size_t)rejected;
    }
    /* the whole job's share of rejects, judged as one run judges it: over the rate, nothing is written */
    char too_many[160];
    if (!rc && m.embed && embed_rejects_over(sum->rejected, sum->rows, job->max_reject_rate, too_many, sizeof too_many))
        rc = FAIL_AS(USEREC_ERR_INPUT, ERR(err, err_len, "%s: nothing was written (the parts' rejects files list them)",
                                           too_many));
    if (!rc && write_outputs(&m, sum, err, err_len)) rc = FAIL_OUTPUT;
    for (size_t i = 0; i < m.n && m.parts; i++) {
        for (int k = 0; k < N_KEYS; k++) free(m.parts[i].v[k]);
        free(m.parts[i].path);
        free(m.parts[i].manifest);
    }
    free(m.parts);
    free(m.buf);
    sum->wall_s = now_seconds() - t0;
    return rc;
}
