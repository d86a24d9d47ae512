/* run_facts.c: the JSON record of how an output was made (run_facts.h). */
#include <stdlib.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/grow.h"
#include "common/json_string.h"
#include "common/whole_file.h"
#include "common/util.h"
#include "input/json_scan.h"
#include "output/run_facts.h"
#include "userec.h"

char *output_sibling(const char *path, const char *suffix) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    const int replaced = dot && (!slash || dot > slash) && (!strcmp(dot, ".npy") || !strcmp(dot, ".csv"));
    size_t stem = replaced ? (size_t)(dot - path) : strlen(path);
    char *s;
    return asprintf(&s, "%.*s%s", (int)stem, path, suffix) < 0 ? NULL : s;
}

static void key(run_facts *rf, const char *name) {
    fputs(rf->members++ ? ",\n " : "{\n ", rf->file.fp);
    json_string_write(rf->file.fp, name);
    fputs(": ", rf->file.fp);
}

int run_facts_open(run_facts *rf, const char *path, const char *command, char *err, size_t err_len) {
    *rf = (run_facts){0};
    if (atomic_open(&rf->file, path, err, err_len)) return -1;
    char created[UTC_TIMESTAMP_LEN];
    utc_timestamp(created);
    run_facts_string(rf, "command", command);
    run_facts_string(rf, "userec", userec_version());
    run_facts_string(rf, "created", created);
    return 0;
}

int run_facts_open_beside(run_facts *rf, const char *output, const char *suffix, const char *command, char *err,
                          size_t err_len) {
    char *path = output_sibling(output, suffix);
    if (!path) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory", output));
    const int rc = run_facts_open(rf, path, command, err, err_len);
    free(path);
    return rc;
}

void run_facts_string(run_facts *rf, const char *name, const char *value) {
    key(rf, name);
    if (value) json_string_write(rf->file.fp, value);
    else fputs("null", rf->file.fp);
}

void run_facts_number(run_facts *rf, const char *name, double value) {
    key(rf, name);
    fprintf(rf->file.fp, "%.9g", value);
}

void run_facts_count(run_facts *rf, const char *name, size_t value) {
    key(rf, name);
    fprintf(rf->file.fp, "%zu", value);
}

void run_facts_bool(run_facts *rf, const char *name, int value) {
    key(rf, name);
    fputs(value ? "true" : "false", rf->file.fp);
}

void run_facts_json(run_facts *rf, const char *name, const char *json) {
    key(rf, name);
    fputs(json, rf->file.fp);
}

void run_facts_end(run_facts *rf) { fputs(rf->members ? "\n}\n" : "{}\n", rf->file.fp); }

int run_facts_commit(run_facts *rf, char *err, size_t err_len) {
    run_facts_end(rf);
    return atomic_commit(&rf->file, err, err_len); /* a write error shows at its flush */
}

int run_facts_read(const char *path, const char *const *keys, size_t n_keys, char **values, char *err,
                   size_t err_len) {
    for (size_t k = 0; k < n_keys; k++) values[k] = NULL;
    byte_buf text = {0}, scratch = {0}, value = {0};
    char why[160];
    int rc = whole_file_read(path, &text, err, err_len);
    size_t *at = malloc((n_keys ? n_keys : 1) * sizeof *at);
    if (!rc && !at) rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory", path));
    if (!rc && json_scan_object(text.data, text.len, keys, n_keys, at, &scratch, why, sizeof why))
        rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: not a JSON object: %s", path, why));
    for (size_t k = 0; k < n_keys && !rc; k++) {
        if (at[k] == SIZE_MAX || text.data[at[k]] == 'n') continue;
        value.len = 0;
        if (json_value_text(text.data, text.len, at[k], &value, why, sizeof why))
            rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s: \"%s\": %s", path, keys[k], why));
        else if (byte_buf_append(&value, "", 1, err, err_len) || !(values[k] = strdup((const char *)value.data)))
            rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "%s: out of memory", path));
    }
    if (rc)
        for (size_t k = 0; k < n_keys; k++) free(values[k]), values[k] = NULL;
    free(at);
    free(text.data);
    free(scratch.data);
    free(value.data);
    return rc;
}
