/* regular_file.c: see regular_file.h. */
#include "common/regular_file.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/util.h"

static const char *kind_of(mode_t mode) {
    return S_ISDIR(mode)    ? "a directory"
           : S_ISFIFO(mode) ? "a FIFO (named pipe)"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISSOCK(mode) ? "a socket"
                            : "a special file";
}

int open_regular_file(const char *path, struct stat *st, int *why, char *err, size_t err_len) {
    *why = REGULAR_FILE_IO;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, possibly forever */
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return SYS_ERR(err, err_len, path, "open");
    if (fstat(fd, st)) {
        SYS_ERR(err, err_len, path, "fstat");
        close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        *why = REGULAR_FILE_KIND;
        close(fd);
        return ERR(err, err_len, "%s: is %s, not a regular file", path, kind_of(st->st_mode));
    }
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)) {
        SYS_ERR(err, err_len, path, "fcntl");
        close(fd);
        return -1;
    }
    return fd;
}
