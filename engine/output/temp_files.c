/* temp_files.c: temp files of outputs: creation, the signal-time cleanup registry, the sweep of stale ones
 * (temp_files.h). */
#include "output/temp_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

/* The registry: a fixed array of slots, so the handler never allocates. A slot holds a malloc'd string, its kind
 * ('f' a file, 'd' a directory) then the path, or NULL. The handler may run on any thread at any time: registering
 * publishes a complete string with one atomic store, and forgetting frees the string only when no handler has
 * started (`dying`), checked after the slot is cleared: a handler that could still read the old pointer has set
 * dying before (sequentially consistent atomics). */
#define MAX_TEMPS 256
static char *_Atomic slot_entry[MAX_TEMPS];
static atomic_int dying;

int temp_register(const char *path, int is_dir) {
    char *entry;
    if (asprintf(&entry, "%c%s", is_dir ? 'd' : 'f', path) < 0) return -1;
    for (int i = 0; i < MAX_TEMPS; i++) {
        char *expected = NULL;
        if (atomic_compare_exchange_strong(&slot_entry[i], &expected, entry)) return i;
    }
    free(entry);
    return -1;
}

void temp_forget(int slot) {
    if (slot < 0 || slot >= MAX_TEMPS) return;
    char *entry = atomic_exchange(&slot_entry[slot], NULL);
    if (!atomic_load(&dying)) free(entry); /* else a handler may be reading it: the process is ending anyway */
}

static void remove_registered(int sig) {
    atomic_store(&dying, 1);
    const int saved = errno;
    for (int pass = 0; pass < 2; pass++) /* files, then the directories they may be in */
        for (int i = 0; i < MAX_TEMPS; i++) {
            const char *entry = atomic_load(&slot_entry[i]);
            if (!entry || (entry[0] == 'd') != pass) continue;
            if (pass) rmdir(entry + 1);
            else unlink(entry + 1);
        }
    errno = saved;
    signal(sig, SIG_DFL);
    raise(sig); /* delivered when the handler returns: the process ends as the signal says */
}

void temp_cleanup_on_signals(void) {
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof signals / sizeof *signals; i++) {
        struct sigaction sa = {.sa_handler = remove_registered};
        sigfillset(&sa.sa_mask); /* one handler at a time */
        struct sigaction old;
        /* a signal the parent set to be ignored (nohup) stays ignored */
        if (sigaction(signals[i], NULL, &old) || old.sa_handler == SIG_IGN) continue;
        sigaction(signals[i], &sa, NULL);
    }
}

/* dir and base of path: dir "." when path has no slash. */
static void split_path(const char *path, char *dir, size_t dir_len, const char **base) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dir_len, ".");
        *base = path;
    } else {
        snprintf(dir, dir_len, "%.*s", slash == path ? 1 : (int)(slash - path), path);
        *base = slash + 1;
    }
}

/* Six characters of [A-Za-z0-9] for a temp name, as mkstemp's. */
static void random_suffix(char out[7]) {
    static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static atomic_uint counter;
    unsigned char r[6];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) { /* no entropy yet: the clock and a counter */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        const uint64_t x = (uint64_t)t.tv_nsec * 0x9e3779b97f4a7c15ULL ^ atomic_fetch_add(&counter, 1);
        for (int i = 0; i < 6; i++) r[i] = (unsigned char)(x >> (8 * i));
    }
    for (int i = 0; i < 6; i++) out[i] = letters[r[i] % (sizeof letters - 1)];
    out[6] = 0;
}

/* The temp file (or directory) of path, registered *before* it exists: a signal at any moment then finds every temp
 * path on disk in the registry (mkstemp's creating first left a window in which a SIGTERM left the file behind).
 * Returns the descriptor of the file, 0 for a directory, or -1 with err set. */
static int create_registered(const char *path, int is_dir, char **tmp_path, int *slot, char *err, size_t err_len) {
    *tmp_path = NULL;
    *slot = -1;
    for (int attempt = 0; attempt < 100; attempt++) {
        char suffix[7];
        random_suffix(suffix);
        if (asprintf(tmp_path, "%s%s%ld-%s", path, TEMP_MARK, (long)getpid(), suffix) < 0) {
            *tmp_path = NULL;
            return ERR(err, err_len, "%s: out of memory", path);
        }
        *slot = temp_register(*tmp_path, is_dir);
        if (atomic_load(&dying)) break; /* the handler may have read the registry already: create nothing */
        const int fd = is_dir ? mkdir(*tmp_path, 0700) : open(*tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) return fd;
        const int why = errno;
        temp_forget(*slot);
        *slot = -1;
        if (why != EEXIST) {
            errno = why;
            SYS_ERR(err, err_len, *tmp_path, is_dir ? "creating the temporary directory" : "creating the temporary output");
            free(*tmp_path);
            *tmp_path = NULL;
            return -1;
        }
        free(*tmp_path);
        *tmp_path = NULL;
    }
    if (*tmp_path) temp_forget(*slot), free(*tmp_path);
    *tmp_path = NULL;
    *slot = -1;
    return ERR(err, err_len, "%s: no temporary name could be made beside it", path);
}

int temp_create(const char *path, char **tmp_path, int *slot, char *err, size_t err_len) {
    const int fd = create_registered(path, 0, tmp_path, slot, err, err_len);
    /* the lock tells a sweeping run that this file is in use; flock cannot fail on a new file but for EINTR */
    while (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) && errno == EINTR) {
    }
    return fd;
}

int temp_create_dir(const char *path, char **tmp_path, int *slot, char *err, size_t err_len) {
    return create_registered(path, 1, tmp_path, slot, err, err_len) < 0 ? -1 : 0;
}

/* Whether the temp file `name` in dir is stale: nobody holds its lock, and its writer is gone or it is old. */
static int stale(int dir_fd, const char *name, const char *pid_text) {
    const int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return 0;
    struct stat st;
    int is_stale = 0;
    if (!fstat(fd, &st) && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) && !flock(fd, LOCK_EX | LOCK_NB)) {
        char *end;
        const long pid = strtol(pid_text, &end, 10);
        const int writer_gone = end != pid_text && *end == '-' && pid > 0 && kill((pid_t)pid, 0) && errno == ESRCH;
        is_stale = writer_gone || time(NULL) - st.st_mtime > TEMP_STALE_SECONDS;
    }
    close(fd); /* drops the lock we may have taken */
    return is_stale;
}

size_t temp_sweep(const char *path) {
    char dir[4096];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    const size_t base_len = strlen(base), mark_len = strlen(TEMP_MARK);
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, base, base_len) || strncmp(e->d_name + base_len, TEMP_MARK, mark_len)) continue;
        if (!stale(dirfd(d), e->d_name, e->d_name + base_len + mark_len)) continue;
        removed += !unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
    return removed;
}

int fsync_dir(const char *dir, char *err, size_t err_len) {
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return SYS_ERR(err, err_len, dir, "opening the directory to fsync it");
    const int rc = fsync(fd) && errno != EINVAL ? SYS_ERR(err, err_len, dir, "fsync") : 0; /* EINVAL: not supported */
    close(fd);
    return rc;
}

int fsync_dir_of(const char *path, char *err, size_t err_len) {
    char dir[4096];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    return fsync_dir(dir, err, err_len);
}
