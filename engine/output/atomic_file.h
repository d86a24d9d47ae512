/* atomic_file.h: write an output through a temp file beside it (output/temp_files.h: a recognisable name, locked,
 * removed on SIGINT/SIGTERM or by a later run), then fsync + rename over the real name + fsync of the directory, so
 * a reader (or a crash) sees either the old file or the complete new one, never a partial one. Several outputs that
 * belong together are committed as one set by output/publish.h. Every failure is FAIL_OUTPUT (common/error.h). */
#ifndef USEREC_ATOMIC_FILE_H
#define USEREC_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *fp; /* write here */
    char *path, *tmp_path;
    int slot; /* in the signal-cleanup registry */
} atomic_file;

/* Sweeps path's stale temp files, then creates its own. */
int atomic_open(atomic_file *af, const char *path, char *err, size_t err_len);
/* fflush, fsync, rename, fsync of the directory; aborts on failure. */
int atomic_commit(atomic_file *af, char *err, size_t err_len);
void atomic_abort(atomic_file *af); /* closes and removes the temp file; nothing when it is not open */

/* The halves of atomic_commit, for a set of files (publish.c): finish flushes and fsyncs the temp file and gives
 * it its mode (it stays open and locked); rename puts it in place and closes it. Neither fsyncs the directory. */
int atomic_finish(atomic_file *af, char *err, size_t err_len);
int atomic_rename(atomic_file *af, char *err, size_t err_len);

/* Keeps only the lines i (0-based, '\n'-terminated, n_lines of them) with keep[i] set, in place: the file shrinks.
 * For outputs written row by row whose rows turn out to be unwanted later (duplicate ids). */
int atomic_keep_lines(atomic_file *af, const unsigned char *keep, size_t n_lines, char *err, size_t err_len);

#endif
