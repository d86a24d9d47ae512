/* atomic_file.c: temp file + fsync + rename (see atomic_file.h). */
#include "output/atomic_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "output/temp_files.h"

int atomic_open(atomic_file *af, const char *path, char *err, size_t err_len) {
    *af = (atomic_file){.slot = -1};
    temp_sweep(path);
    if (!(af->path = strdup(path))) return FAIL_AS(FAIL_OUTPUT, ERR(err, err_len, "%s: out of memory", path));
    const int fd = temp_create(path, &af->tmp_path, &af->slot, err, err_len);
    if (fd >= 0 && !(af->fp = fdopen(fd, "w+b"))) SYS_ERR(err, err_len, af->tmp_path, "fdopen");
    if (af->fp) return 0;
    if (fd >= 0) unlink(af->tmp_path), close(fd);
    temp_forget(af->slot);
    free(af->tmp_path);
    free(af->path);
    *af = (atomic_file){.slot = -1};
    return FAIL_OUTPUT;
}

static void release(atomic_file *af) {
    temp_forget(af->slot);
    free(af->tmp_path);
    free(af->path);
    *af = (atomic_file){.slot = -1};
}

int atomic_finish(atomic_file *af, char *err, size_t err_len) {
    if (fflush(af->fp) || ferror(af->fp)) return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, af->tmp_path, "write"));
    if (fsync(fileno(af->fp))) return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, af->tmp_path, "fsync"));
    /* temp_create made it 0600; give it the mode a plain fopen would have */
    const mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fileno(af->fp), 0666 & ~mask)) return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, af->tmp_path, "chmod"));
    return 0;
}

int atomic_rename(atomic_file *af, char *err, size_t err_len) {
    /* renamed while still open, so the lock covers the temp name until it is gone */
    int rc = rename(af->tmp_path, af->path) ? FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, af->path, "rename")) : 0;
    if (rc) unlink(af->tmp_path);
    fclose(af->fp); /* read-only from here: its data is already on disk */
    release(af);
    return rc;
}

int atomic_commit(atomic_file *af, char *err, size_t err_len) {
    char *path = strdup(af->path);
    int rc = path ? atomic_finish(af, err, err_len) : FAIL_AS(FAIL_OUTPUT, ERR(err, err_len, "%s: out of memory", af->path));
    if (rc) atomic_abort(af);
    else rc = atomic_rename(af, err, err_len);
    if (!rc && fsync_dir_of(path, err, err_len)) rc = FAIL_OUTPUT;
    free(path);
    return rc;
}

void atomic_abort(atomic_file *af) {
    if (!af->fp) return;
    unlink(af->tmp_path);
    fclose(af->fp);
    release(af);
}

int atomic_keep_lines(atomic_file *af, const unsigned char *keep, size_t n_lines, char *err, size_t err_len) {
    FILE *f = af->fp;
    if (fflush(f)) return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, af->tmp_path, "write"));
    const int fd = fileno(f);
    char buf[1 << 16];
    off_t read_at = 0, write_at = 0;
    size_t line = 0;
    int keeping = n_lines && keep[0];
    for (;;) {
        const ssize_t got = pread(fd, buf, sizeof buf, read_at);
        if (got < 0) return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, af->tmp_path, "read"));
        if (!got) break;
        /* the kept bytes of this chunk move down to write_at, which never passes read_at */
        size_t start = 0;
        for (size_t i = 0; i <= (size_t)got; i++) {
            const int end_of_chunk = i == (size_t)got;
            if (!end_of_chunk && buf[i] != '\n') continue;
            const size_t stop = end_of_chunk ? i : i + 1;
            if (keeping && stop > start) {
                if (pwrite(fd, buf + start, stop - start, write_at) != (ssize_t)(stop - start))
                    return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, af->tmp_path, "write"));
                write_at += (off_t)(stop - start);
            }
            start = stop;
            if (!end_of_chunk) {
                line++;
                keeping = line < n_lines && keep[line];
            }
        }
        read_at += got;
    }
    if (line != n_lines)
        return FAIL_AS(FAIL_OUTPUT, ERR(err, err_len, "%s: %zu lines written, %zu expected", af->tmp_path, line, n_lines));
    if (ftruncate(fd, write_at) || fseeko(f, write_at, SEEK_SET))
        return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, af->tmp_path, "truncate"));
    return 0;
}
