/* store.c: a store's generations, lock and switch (store.h). */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/fault.h"
#include "common/grow.h"
#include "common/util.h"
#include "output/temp_files.h"

#define GEN_PREFIX "gen-"

/* The files a generation holds (update_job.c writes them), registered for removal while it is being written. */
static const char *const generation_files[] = {"vectors.npy",   "vectors.ids",   "related.csv", "related.jsonl",
                                               "rejects.tsv",   "changes.jsonl", "state.bin",   "manifest.json"};
#define N_GENERATION_FILES (sizeof generation_files / sizeof *generation_files)
static int file_slot[N_GENERATION_FILES] = {-1, -1, -1, -1, -1, -1, -1, -1};

/* The directory name of generation n: "gen-000042". */
static void generation_name(uint64_t n, char out[32]) { snprintf(out, 32, GEN_PREFIX "%06llu", (unsigned long long)n); }

/* "gen-000042" -> 42; 0 when name is not a complete generation's. */
static uint64_t generation_number(const char *name) {
    if (strncmp(name, GEN_PREFIX, strlen(GEN_PREFIX))) return 0;
    const char *p = name + strlen(GEN_PREFIX);
    if (*p < '0' || *p > '9') return 0;
    char *end;
    const unsigned long long n = strtoull(p, &end, 10);
    return *end ? 0 : n;
}

static void holder_of(int fd, char *out, size_t out_len) {
    const ssize_t got = pread(fd, out, out_len - 1, 0);
    out[got > 0 ? got : 0] = 0;
    out[strcspn(out, "\n")] = 0;
    if (!out[0]) snprintf(out, out_len, "a process that has not said who it is yet");
}

static int take_lock(store *s, double wait_seconds, char *err, size_t err_len) {
    char *path = path_join(s->dir, "lock");
    if (!path) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (s->lock_fd < 0) {
        const int rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, path, "open"));
        free(path);
        return rc;
    }
    const double deadline = now_seconds() + wait_seconds;
    int rc = 0;
    for (;;) {
        if (!flock(s->lock_fd, LOCK_EX | LOCK_NB)) break;
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) {
            rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, path, "flock"));
            break;
        }
        if (now_seconds() >= deadline) {
            char holder[256];
            holder_of(s->lock_fd, holder, sizeof holder);
            rc = FAIL_AS(FAIL_LOCKED, ERR(err, err_len, "%s is locked by %s: another update of this store is running%s",
                                          path, holder, wait_seconds > 0 ? " (waited --wait seconds)" : " (--wait S waits for it)"));
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    if (!rc) { /* ours: say who holds it, for the next one */
        char host[256] = "?", when[UTC_TIMESTAMP_LEN], text[400];
        gethostname(host, sizeof host - 1);
        utc_timestamp(when);
        const int n = snprintf(text, sizeof text, "pid %ld on %s since %s\n", (long)getpid(), host, when);
        if (ftruncate(s->lock_fd, 0) || pwrite(s->lock_fd, text, (size_t)n, 0) != n)
            rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, path, "write"));
    }
    free(path);
    return rc;
}

/* The generation `current` links to, or 0 when there is no link. */
static int read_current(store *s, char *err, size_t err_len) {
    char *path = path_join(s->dir, "current"), target[256];
    if (!path) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    const ssize_t n = readlink(path, target, sizeof target - 1);
    int rc = 0;
    s->current = 0;
    if (n < 0 && errno != ENOENT) rc = FAIL_AS(USEREC_ERR_IO, SYS_ERR(err, err_len, path, "readlink"));
    if (n >= 0) {
        target[n] = 0;
        if (!(s->current = generation_number(target)))
            rc = FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s links to '%s', not to a generation of this store "
                                                              "(gen-NNNNNN)", path, target));
    }
    free(path);
    return rc;
}

int store_open(store *s, const char *dir, double wait_seconds, char *err, size_t err_len) {
    *s = (store){.lock_fd = -1, .building_slot = -1};
    if (!(s->dir = strdup(dir))) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    if (mkdir(dir, 0777) && errno != EEXIST) {
        free(s->dir);
        return FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, dir, "creating the store directory"));
    }
    int rc = take_lock(s, wait_seconds, err, err_len);
    if (!rc) rc = read_current(s, err, err_len);
    if (rc) store_close(s);
    return rc;
}

void store_close(store *s) {
    if (!s->dir) return;
    store_abandon(s);
    if (s->lock_fd >= 0) close(s->lock_fd); /* the lock goes with it */
    free(s->dir);
    *s = (store){.lock_fd = -1, .building_slot = -1};
}

/* Removes a directory of files (a generation), then the directory. */
static int remove_tree(int parent_fd, const char *name) {
    const int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return unlinkat(parent_fd, name, 0); /* a file or a link */
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(fd, e->d_name, 0);
    closedir(d);
    return unlinkat(parent_fd, name, AT_REMOVEDIR);
}

size_t store_clean(store *s) {
    DIR *d = opendir(s->dir);
    if (!d) return 0;
    size_t removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const int temp = strstr(e->d_name, TEMP_MARK) &&
                         (!strncmp(e->d_name, GEN_PREFIX, strlen(GEN_PREFIX)) || !strncmp(e->d_name, "current", 7));
        const uint64_t n = temp ? 0 : generation_number(e->d_name);
        if (temp || n > s->current) removed += !remove_tree(dirfd(d), e->d_name);
    }
    closedir(d);
    return removed;
}

char *store_generation_path(const store *s, uint64_t n) {
    char name[32];
    generation_name(n, name);
    return path_join(s->dir, name);
}

char *store_building_file(const store *s, const char *name) { return path_join(s->building, name); }

static void forget_building(store *s) {
    temp_forget(s->building_slot);
    s->building_slot = -1;
    for (size_t i = 0; i < N_GENERATION_FILES; i++) temp_forget(file_slot[i]), file_slot[i] = -1;
}

int store_begin(store *s, char *err, size_t err_len) {
    char *final = store_generation_path(s, s->current + 1);
    if (!final) return FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    const int failed = temp_create_dir(final, &s->building, &s->building_slot, err, err_len);
    free(final);
    if (failed) return FAIL_OUTPUT;
    for (size_t i = 0; i < N_GENERATION_FILES; i++) {
        char *path = store_building_file(s, generation_files[i]);
        if (path) file_slot[i] = temp_register(path, 0);
        free(path);
    }
    return 0;
}

void store_abandon(store *s) {
    if (!s->building) return;
    char *slash = strrchr(s->building, '/');
    int dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0 && slash) remove_tree(dir_fd, slash + 1);
    if (dir_fd >= 0) close(dir_fd);
    forget_building(s);
    free(s->building);
    s->building = NULL;
}

static int newest_first(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x < y) - (x > y);
}

/* Removes the generations older than `current` beyond the newest `keep` of them. */
static void prune(store *s, unsigned keep) {
    DIR *d = opendir(s->dir);
    if (!d) return;
    uint64_t *older = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const uint64_t g = generation_number(e->d_name);
        if (!g || g >= s->current) continue;
        if (GROW(older, cap, n + 1)) break;
        older[n++] = g;
    }
    qsort(older, n, sizeof *older, newest_first);
    for (size_t i = keep; i < n; i++) {
        char name[32];
        generation_name(older[i], name);
        remove_tree(dirfd(d), name);
    }
    free(older);
    closedir(d);
}

int store_commit(store *s, unsigned keep, char *err, size_t err_len) {
    const uint64_t next = s->current + 1;
    char *final = store_generation_path(s, next), *link_tmp = NULL, *link = path_join(s->dir, "current"), target[32];
    generation_name(next, target);
    int rc = final && link &&
                     asprintf(&link_tmp, "%s/current%s%ld", s->dir, TEMP_MARK, (long)getpid()) >= 0
                 ? 0
                 : FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    if (!rc && fsync_dir(s->building, err, err_len)) rc = FAIL_OUTPUT;
    if (!rc && rename(s->building, final)) rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, final, "rename"));
    if (!rc) { /* complete under its own name: from here a dead run leaves a generation the next run removes */
        forget_building(s);
        free(s->building);
        s->building = NULL;
    }
    if (!rc && fsync_dir(s->dir, err, err_len)) rc = FAIL_OUTPUT;
    if (!rc) fault_point("renamed");
    if (!rc) {
        unlink(link_tmp);
        const int slot = temp_register(link_tmp, 0);
        if (symlink(target, link_tmp)) rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, link_tmp, "symlink"));
        else if (rename(link_tmp, link)) rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, err_len, link, "rename"));
        if (rc) unlink(link_tmp);
        temp_forget(slot);
    }
    if (!rc && fsync_dir(s->dir, err, err_len)) rc = FAIL_OUTPUT;
    if (!rc) {
        fault_point("switched");
        s->current = next;
        prune(s, keep);
    }
    free(final), free(link_tmp), free(link);
    return rc;
}
