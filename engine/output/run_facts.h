/* run_facts.h: how an output was made, in a small JSON file beside it (`embed -o OUT.npy` writes OUT.embed.json,
 * `related -o OUT.csv` OUT.related.json): the model, tokenizer, device, options, counts and timings, which
 * `userec report` shows. One flat JSON object of strings, numbers and booleans, written atomically. */
#ifndef USEREC_RUN_FACTS_H
#define USEREC_RUN_FACTS_H

#include <stddef.h>

#include "output/atomic_file.h"

/* The name of a file written beside the output `path`: for an output named .npy or .csv, path with that extension
 * replaced by suffix (OUT.npy -> OUT.ids, REL.csv -> REL.related.json); for any other, suffix appended to the whole
 * name (OUT.jsonl -> OUT.jsonl.rejects.tsv), so that `-o X.npy` and `-o X.jsonl` never share a file beside them.
 * Returns a malloc'd string, or NULL when out of memory. */
char *output_sibling(const char *path, const char *suffix);

typedef struct {
    atomic_file file;
    int members;
} run_facts;

/* Starts the object, with "command", "userec" (the version) and "created" (UTC, ISO 8601). */
int run_facts_open(run_facts *rf, const char *path, const char *command, char *err, size_t err_len);
/* The same at output_sibling(output, suffix): the facts file of an output. */
int run_facts_open_beside(run_facts *rf, const char *output, const char *suffix, const char *command, char *err,
                          size_t err_len);
void run_facts_string(run_facts *rf, const char *key, const char *value); /* NULL: null */
void run_facts_number(run_facts *rf, const char *key, double value);
void run_facts_count(run_facts *rf, const char *key, size_t value);
void run_facts_bool(run_facts *rf, const char *key, int value);
void run_facts_json(run_facts *rf, const char *key, const char *json); /* a value already in JSON */
/* Ends the object (run_facts_end) and renames it into place; on failure nothing is left. Returns 0 or FAIL_OUTPUT. */
int run_facts_commit(run_facts *rf, char *err, size_t err_len);
/* Writes the object's closing brace; for a manifest that publish_commit renames. */
void run_facts_end(run_facts *rf);

/* Reads such a file: values[k] gets the text of key keys[k] (strings decoded, numbers and booleans as written;
 * malloc'd), or NULL when the key is absent or null. Returns 0, or the failure's class with err set:
 * USEREC_ERR_IO (unreadable), USEREC_ERR_FORMAT (not a JSON object, a wanted value that is an object or array). */
int run_facts_read(const char *path, const char *const *keys, size_t n_keys, char **values, char *err,
                   size_t err_len);

#endif
