/* atomic_file.c: temp file + fsync + rename (see atomic_file.h). */
#include "output/atomic_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

int atomic_open(atomic_file *af, const char *path, char *err, size_t err_len) {
    af->fp = NULL;
    af->path = strdup(path);
    if (!af->path || asprintf(&af->tmp_path, "%s.tmp.XXXXXX", path) < 0) {
        free(af->path);
        return ERR(err, err_len, "%s: out of memory", path);
    }
    int fd = mkstemp(af->tmp_path);
    if (fd < 0 || !(af->fp = fdopen(fd, "wb"))) {
        SYS_ERR(err, err_len, af->tmp_path, "creating the temporary output");
        if (fd >= 0) close(fd), unlink(af->tmp_path);
        free(af->tmp_path);
        free(af->path);
        return -1;
    }
    return 0;
}

static void release(atomic_file *af) {
    free(af->tmp_path);
    free(af->path);
    af->fp = NULL;
    af->tmp_path = af->path = NULL;
}

int atomic_commit(atomic_file *af, char *err, size_t err_len) {
    int rc = 0;
    if (fflush(af->fp)) rc = SYS_ERR(err, err_len, af->tmp_path, "write");
    else if (fsync(fileno(af->fp))) rc = SYS_ERR(err, err_len, af->tmp_path, "fsync");
    if (fclose(af->fp) && !rc) rc = SYS_ERR(err, err_len, af->tmp_path, "close");
    /* mkstemp made it 0600; give it the mode a plain fopen would have */
    mode_t mask = umask(0);
    umask(mask);
    if (!rc && chmod(af->tmp_path, 0666 & ~mask)) rc = SYS_ERR(err, err_len, af->tmp_path, "chmod");
    if (!rc && rename(af->tmp_path, af->path)) rc = SYS_ERR(err, err_len, af->path, "rename");
    if (rc) unlink(af->tmp_path);
    release(af);
    return rc;
}

void atomic_abort(atomic_file *af) {
    if (!af->fp) return;
    fclose(af->fp);
    unlink(af->tmp_path);
    release(af);
}
