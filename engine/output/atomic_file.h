/* atomic_file.h: write an output through a temp file beside it, then fsync + rename over the real name, so
 * a reader (or a crash) sees either the old file or the complete new one, never a partial one. */
#ifndef USEREC_ATOMIC_FILE_H
#define USEREC_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *fp; /* write here */
    char *path, *tmp_path;
} atomic_file;

int atomic_open(atomic_file *af, const char *path, char *err, size_t err_len);
int atomic_commit(atomic_file *af, char *err, size_t err_len); /* fflush, fsync, rename; aborts on failure */
void atomic_abort(atomic_file *af);                             /* closes and removes the temp file */

#endif
