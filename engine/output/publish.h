/* publish.h: the one way a run makes several outputs visible: all of them or none, never a mix of two runs, as far
 * as plain files allow.
 *
 * A run writes each output through an atomic_file (a temp file beside it) and adds it to a publish_set, in the
 * order the files are to appear; its manifest (a run_facts file: OUT.embed.json, OUT.related.json, a store
 * generation's manifest.json) comes last. publish_commit then
 *   1. flushes and fsyncs every temp file; a failure here removes them all: nothing was published;
 *   2. writes into the manifest a run id ("run") and, under "files", each output's name, size and SHA-256;
 *   3. renames the outputs into place, in order, then the manifest, and fsyncs the directories.
 * So each file is always whole (the old one or the new one), a failed run replaces nothing, and a reader that opens
 * several files can tell whether they belong together: they do when each one's size and SHA-256 are those its
 * manifest lists (publish_manifest_check; `related` and `report` check this themselves). A reader that reads while a
 * run publishes can see new and old files side by side for the milliseconds the renames take; the check says so,
 * and reading again gives the new set. A rename that fails half way (an I/O error) leaves the new files already
 * renamed and the old manifest, which then describes none of them: the check fails, it never passes on a mix.
 * For an atomic switch of a whole set, `userec update` publishes into a new directory and switches a symbolic link
 * (engine/store/). */
#ifndef USEREC_PUBLISH_H
#define USEREC_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "common/sha256.h"
#include "output/atomic_file.h"
#include "output/run_facts.h"

#define PUBLISH_MAX_FILES 8

typedef struct {
    atomic_file *file[PUBLISH_MAX_FILES]; /* owned by the caller, open until publish_commit or publish_abort */
    size_t n;
} publish_set;

/* Adds an open output (its atomic_file must stay where it is until the commit). */
void publish_add(publish_set *p, atomic_file *f);
/* The steps above. Returns 0, or FAIL_OUTPUT with err set; every temp file is gone either way. A set without a
 * manifest (NULL: `report`'s page and map points) gets steps 1 and 3: the outputs appear together or not at all, but
 * nothing lets a reader tell two runs' files apart. */
int publish_commit(publish_set *p, run_facts *manifest, char *err, size_t err_len);
/* Removes every temp file of the set and of the manifest (may be NULL): nothing is published. */
void publish_abort(publish_set *p, run_facts *manifest);

/* A manifest as read back: its run id and text, for publish_manifest_check. */
typedef struct {
    char *text;
    size_t len;
    size_t files_at, files_end; /* the "files" object, or files_at == SIZE_MAX when the manifest has none */
    char run[64];
} publish_manifest;

/* Reads the manifest at path. Returns 0; or 1 when there is no such file (nothing to check against); or the
 * failure's class (common/error.h) with err set. */
int publish_manifest_read(const char *path, publish_manifest *m, char *err, size_t err_len);
/* Whether the manifest lists a file of that (base) name. */
int publish_manifest_lists(const publish_manifest *m, const char *name);
/* Whether the file `name` (a base name) with these bytes and digest is the one the manifest lists: 0 yes; 1 the
 * manifest lists no files or not this one (made by another command or an older userec: nothing to check);
 * USEREC_ERR_FORMAT with err naming the file and the run when it differs. */
int publish_manifest_check(const publish_manifest *m, const char *manifest_path, const char *name, uint64_t bytes,
                           const uint8_t digest[SHA256_BYTES], char *err, size_t err_len);
void publish_manifest_free(publish_manifest *m);

#endif
