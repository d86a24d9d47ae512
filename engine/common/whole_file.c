/* whole_file.c: see whole_file.h. */
#include "common/whole_file.h"

#include <errno.h>
#include <stdio.h>

#include "common/error.h"
#include "common/util.h"

int whole_file_read(const char *path, byte_buf *out, char *err, size_t err_len) {
    FILE *f = fopen(path, "rbe");
    if (!f) {
        const int why = errno;
        SYS_ERR(err, err_len, path, "open");
        errno = why;
        return USEREC_ERR_IO;
    }
    char chunk[65536];
    size_t got;
    int rc = 0;
    while (!rc && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (byte_buf_append(out, chunk, got, err, err_len)) rc = USEREC_ERR_NOMEM;
    if (!rc && ferror(f)) rc = FAIL_AS(USEREC_ERR_IO, SYS_ERR(err, err_len, path, "read"));
    fclose(f);
    return rc;
}
