/* publish.c: several outputs made visible together (publish.h). */
#include "output/publish.h"

#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/grow.h"
#include "common/json_string.h"
#include "common/util.h"
#include "common/whole_file.h"
#include "input/json_scan.h"
#include "output/temp_files.h"

void publish_add(publish_set *p, atomic_file *f) {
    if (p->n < PUBLISH_MAX_FILES) p->file[p->n++] = f; /* the callers add a fixed, smaller number */
}

void publish_abort(publish_set *p, run_facts *manifest) {
    for (size_t i = 0; i < p->n; i++) atomic_abort(p->file[i]);
    p->n = 0;
    if (manifest) atomic_abort(&manifest->file);
}

/* "2026-11-28T03:15:00Z-9f86d081": when the run published, and 32 random bits that tell two runs of one second
 * apart. */
static void new_run_id(char out[64]) {
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r) r = (uint32_t)getpid() ^ (uint32_t)clock();
    char when[UTC_TIMESTAMP_LEN];
    utc_timestamp(when);
    snprintf(out, 64, "%s-%08x", when, r);
}

/* The "files" object: {"NAME": {"bytes": N, "sha256": "HEX"}, ...} of the finished temp files. */
static int describe_files(const publish_set *p, byte_buf *json, char *err, size_t err_len) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory describing the outputs"));
    fputc('{', f);
    int rc = 0;
    for (size_t i = 0; i < p->n && !rc; i++) {
        uint8_t digest[SHA256_BYTES];
        uint64_t bytes;
        char hex[2 * SHA256_BYTES + 1];
        if (sha256_fd(fileno(p->file[i]->fp), digest, &bytes)) {
            rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, p->file[i]->tmp_path, "reading back"));
            break;
        }
        sha256_hex(digest, SHA256_BYTES, hex);
        fputs(i ? ", " : "", f);
        json_string_write(f, path_base_name(p->file[i]->path));
        fprintf(f, ": {\"bytes\": %llu, \"sha256\": \"%s\"}", (unsigned long long)bytes, hex);
    }
    fputc('}', f);
    if (fclose(f) && !rc) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory describing the outputs"));
    if (!rc && byte_buf_append(json, text, len + 1, err, err_len)) rc = USEREC_ERR_NOMEM;
    free(text);
    return rc;
}

int publish_commit(publish_set *p, run_facts *manifest, char *err, size_t err_len) {
    int rc = 0;
    for (size_t i = 0; i < p->n && !rc; i++) rc = atomic_finish(p->file[i], err, err_len);
    byte_buf files = {0};
    if (!rc && manifest) rc = describe_files(p, &files, err, err_len);
    if (!rc && manifest) {
        char run[64];
        new_run_id(run);
        run_facts_string(manifest, "run", run);
        run_facts_json(manifest, "files", (const char *)files.data);
        run_facts_end(manifest);
        rc = atomic_finish(&manifest->file, err, err_len);
    }
    free(files.data);
    if (rc) {
        publish_abort(p, manifest);
        return rc;
    }
    /* Every file is complete and on disk: from here on, only renames, then the directories' fsyncs. */
    char *paths[PUBLISH_MAX_FILES + 1] = {0};
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        paths[n++] = strdup(p->file[i]->path);
        if (!rc) rc = atomic_rename(p->file[i], err, err_len);
        else atomic_abort(p->file[i]); /* a rename failed: the rest stays unpublished */
    }
    if (manifest) {
        paths[n++] = strdup(manifest->file.path);
        if (!rc) rc = atomic_rename(&manifest->file, err, err_len);
        else atomic_abort(&manifest->file);
    }
    for (size_t i = 0; i < n; i++) {
        if (!rc && !paths[i]) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
        if (!rc && (i + 1 == n || !path_same_directory(paths[i], paths[n - 1])) && fsync_dir_of(paths[i], err, err_len))
            rc = FAIL_OUTPUT;
        free(paths[i]);
    }
    p->n = 0;
    return rc;
}

int publish_manifest_read(const char *path, publish_manifest *m, char *err, size_t err_len) {
    *m = (publish_manifest){.files_at = SIZE_MAX};
    byte_buf text = {0};
    int rc = whole_file_read(path, &text, err, err_len);
    if (rc == USEREC_ERR_IO && errno == ENOENT) return 1;
    static const char *const keys[] = {"run", "files"};
    size_t at[2];
    byte_buf scratch = {0}, run = {0};
    char why[160];
    if (!rc && json_scan_object(text.data, text.len, keys, 2, at, &scratch, why, sizeof why))
        rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: not a JSON object: %s", path, why));
    if (!rc && at[1] != SIZE_MAX && text.data[at[1]] == '{') {
        m->files_at = at[1];
        m->files_end = json_value_end(text.data, text.len, at[1], &scratch);
        if (at[0] != SIZE_MAX && !json_value_text(text.data, text.len, at[0], &run, why, sizeof why))
            snprintf(m->run, sizeof m->run, "%.*s", (int)run.len, run.data ? (const char *)run.data : "");
    }
    free(scratch.data);
    free(run.data);
    if (rc) {
        free(text.data);
        return rc;
    }
    m->text = (char *)text.data;
    m->len = text.len;
    return 0;
}

/* Where the manifest's "files" entry for name starts, or SIZE_MAX. */
static size_t entry_of(const publish_manifest *m, const char *name, byte_buf *scratch) {
    if (m->files_at == SIZE_MAX || m->files_end == SIZE_MAX) return SIZE_MAX;
    char why[160];
    size_t entry;
    if (json_scan_object((const uint8_t *)m->text + m->files_at, m->files_end - m->files_at, &name, 1, &entry, scratch,
                         why, sizeof why))
        return SIZE_MAX;
    return entry == SIZE_MAX ? SIZE_MAX : m->files_at + entry;
}

int publish_manifest_lists(const publish_manifest *m, const char *name) {
    byte_buf scratch = {0};
    const size_t entry = entry_of(m, name, &scratch);
    free(scratch.data);
    return entry != SIZE_MAX;
}

int publish_manifest_check(const publish_manifest *m, const char *manifest_path, const char *name, uint64_t bytes,
                           const uint8_t digest[SHA256_BYTES], char *err, size_t err_len) {
    const uint8_t *text = (const uint8_t *)m->text;
    byte_buf scratch = {0}, listed = {0};
    char why[160];
    size_t fields[2];
    static const char *const keys[] = {"bytes", "sha256"};
    int rc = 1;
    const size_t entry = entry_of(m, name, &scratch);
    const size_t end = entry == SIZE_MAX || text[entry] != '{' ? SIZE_MAX : json_value_end(text, m->len, entry, &scratch);
    if (end != SIZE_MAX && !json_scan_object(text + entry, end - entry, keys, 2, fields, &scratch, why, sizeof why) &&
        fields[0] != SIZE_MAX && fields[1] != SIZE_MAX) {
        char hex[2 * SHA256_BYTES + 1], size_text[32];
        sha256_hex(digest, SHA256_BYTES, hex);
        snprintf(size_text, sizeof size_text, "%llu", (unsigned long long)bytes);
        int same = !json_value_text(text + entry, end - entry, fields[0], &listed, why, sizeof why) &&
                   listed.len == strlen(size_text) && !memcmp(listed.data, size_text, listed.len);
        listed.len = 0;
        same = same && !json_value_text(text + entry, end - entry, fields[1], &listed, why, sizeof why) &&
               listed.len == strlen(hex) && !memcmp(listed.data, hex, listed.len);
        rc = same ? 0
                  : FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s is not the %s that %s lists (run %s): the files are of "
                                                                "two different runs, or one was changed since", name, name,
                                                   manifest_path, m->run[0] ? m->run : "?"));
    }
    free(scratch.data);
    free(listed.data);
    return rc;
}

void publish_manifest_free(publish_manifest *m) {
    free(m->text);
    *m = (publish_manifest){.files_at = SIZE_MAX};
}
