/* regular_file.h: opening the files userec maps or reads whole (models, .npy vectors, ids files), which must be
 * regular files: a FIFO would block the open (or the read) until some writer came, /dev/zero would never end,
 * a directory cannot be read at all. */
#ifndef USEREC_REGULAR_FILE_H
#define USEREC_REGULAR_FILE_H

#include <stddef.h>
#include <sys/stat.h>

/* Opens path read-only without blocking, checks with fstat that it is a regular file and fills *st. Returns
 * the descriptor (in blocking mode), or -1 with err set: REGULAR_FILE_IO when it could not be opened or
 * examined (a system error, SYS_ERR's message), REGULAR_FILE_KIND when it is something else than a regular
 * file (err names what it is; st->st_mode tells the caller too). */
enum { REGULAR_FILE_IO = 1, REGULAR_FILE_KIND = 2 };
int open_regular_file(const char *path, struct stat *st, int *why, char *err, size_t err_len);

#endif
