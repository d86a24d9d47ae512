/* whole_file.h: reading a small file (a facts file, a manifest, a reference list) into memory at once. */
#ifndef USEREC_WHOLE_FILE_H
#define USEREC_WHOLE_FILE_H

#include <stddef.h>

#include "common/grow.h"

/* Appends the bytes of path to out. Returns 0; USEREC_ERR_IO with err set when it cannot be opened or read (errno
 * then says why: ENOENT for a missing file); USEREC_ERR_NOMEM. */
int whole_file_read(const char *path, byte_buf *out, char *err, size_t err_len);

#endif
