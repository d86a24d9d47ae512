/* shard.c: which block a shard takes, its part names, the identity of its inputs, its manifest (shard.h). */
#include "jobs/shard.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/regular_file.h"
#include "common/util.h"
#include "input/gunzip.h"

/* A whole decimal number from min to max, or -1. */
static long long whole_number(const char *s, long long min, long long max) {
    if (!s || *s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    const long long v = strtoll(s, &end, 10);
    return *end || errno || v < min || v > max ? -1 : v;
}

/* An environment variable holding a whole number, or -1 (unset or not a number). */
static long long env_number(const char *name) { return whole_number(getenv(name), 0, 1LL << 40); }

/* This task's place in a Slurm job array: task ids MIN, MIN+STEP, .. MAX, COUNT of them. */
static int slurm_array(shard_spec *s, char *err, size_t err_len) {
    const long long id = env_number("SLURM_ARRAY_TASK_ID"), min = env_number("SLURM_ARRAY_TASK_MIN"),
                    max = env_number("SLURM_ARRAY_TASK_MAX"), count = env_number("SLURM_ARRAY_TASK_COUNT");
    long long step = env_number("SLURM_ARRAY_TASK_STEP");
    if (step < 0) step = 1; /* set by Slurm for ranges with a step only */
    if (min < 0 || max < min || count < 1 || count > SHARD_MAX_COUNT || step < 1)
        return ERR(err, err_len, "--shard slurm: SLURM_ARRAY_TASK_ID is set, but SLURM_ARRAY_TASK_MIN, _MAX or _COUNT "
                                 "is missing or not a number");
    if ((max - min) / step + 1 != count || (max - min) % step || id < min || id > max || (id - min) % step)
        return ERR(err, err_len, "--shard slurm: the array's task ids (%lld..%lld, %lld tasks) are not one evenly "
                                 "spaced range: submit it as --array=0-%lld (or 1-%lld), not as a list",
                   min, max, count, count - 1, count);
    *s = (shard_spec){.index = (size_t)((id - min) / step + 1), .count = (size_t)count};
    return 0;
}

int shard_parse(const char *text, shard_spec *s, char *err, size_t err_len) {
    *s = (shard_spec){0};
    if (!strcmp(text, "slurm")) {
        if (getenv("SLURM_ARRAY_TASK_ID")) {
            if (env_number("SLURM_ARRAY_TASK_ID") < 0)
                return ERR(err, err_len, "--shard slurm: SLURM_ARRAY_TASK_ID '%s' is not a number",
                           getenv("SLURM_ARRAY_TASK_ID"));
            return slurm_array(s, err, err_len);
        }
        const long long task = env_number("SLURM_PROCID"), tasks = env_number("SLURM_NTASKS");
        if (task < 0 || tasks < 1 || task >= tasks || tasks > SHARD_MAX_COUNT)
            return ERR(err, err_len, "--shard slurm: neither a Slurm job array task (SLURM_ARRAY_TASK_ID) nor an srun "
                                     "task (SLURM_PROCID of SLURM_NTASKS) is set: run it under sbatch --array or srun, "
                                     "or give --shard I/N");
        *s = (shard_spec){.index = (size_t)task + 1, .count = (size_t)tasks};
        return 0;
    }
    const char *slash = strchr(text, '/');
    char index[24];
    if (slash && (size_t)(slash - text) < sizeof index) {
        memcpy(index, text, (size_t)(slash - text));
        index[slash - text] = 0;
        const long long n = whole_number(slash + 1, 1, SHARD_MAX_COUNT), i = whole_number(index, 1, SHARD_MAX_COUNT);
        if (n > 0 && i > 0 && i <= n) {
            *s = (shard_spec){.index = (size_t)i, .count = (size_t)n};
            return 0;
        }
    }
    return ERR(err, err_len, "--shard wants I/N, shard I of N from 1/N to N/N (N at most %d), or slurm; not '%s'",
               SHARD_MAX_COUNT, text);
}

void shard_block(const shard_spec *s, size_t n, size_t *lo, size_t *hi) {
    /* in 128 bits: n * N may not fit in 64 */
    *lo = (size_t)((unsigned __int128)n * (s->index - 1) / s->count);
    *hi = (size_t)((unsigned __int128)n * s->index / s->count);
}

char *shard_part_path(const char *out, const shard_spec *s) {
    const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (!dot || (slash && dot < slash) || dot == (slash ? slash + 1 : out)) return NULL; /* no extension */
    char *path;
    return asprintf(&path, "%.*s.part-%zu-of-%zu%s", (int)(dot - out), out, s->index, s->count, dot) < 0 ? NULL : path;
}

#define MEASURE_CHUNK ((size_t)1 << 20)

/* The size of fd's gzip data once inflated (fd at its start). */
static int inflated_size(int fd, const char *path, uint8_t *buf, uint64_t *size, char *err, size_t err_len) {
    gunzip *g = gunzip_new(buf, 0, err, err_len);
    if (!g) return -1;
    long n;
    int failure;
    *size = 0;
    while ((n = gunzip_read(g, fd, buf, MEASURE_CHUNK, path, &failure, err, err_len)) > 0) *size += (uint64_t)n;
    gunzip_free(g);
    return n < 0 ? -1 : 0;
}

int shard_file_measure(const char *path, shard_file *f, char *err, size_t err_len) {
    *f = (shard_file){0};
    struct stat st;
    int why;
    const int fd = open_regular_file(path, &st, &why, err, err_len);
    if (fd < 0) return -1;
    uint8_t *buf = malloc(MEASURE_CHUNK);
    int rc = buf ? 0 : ERR(err, err_len, "%s: out of memory", path);
    uLong crc = crc32(0, Z_NULL, 0);
    uint8_t magic[2] = {0};
    while (!rc) { /* to the end, whatever the size said: that is what the readers do */
        const ssize_t got = read(fd, buf, MEASURE_CHUNK);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) rc = SYS_ERR(err, err_len, path, "read");
        if (got <= 0) break;
        if (f->bytes < 2) memcpy(magic + f->bytes, buf, (size_t)got < 2 - f->bytes ? (size_t)got : 2 - f->bytes);
        crc = crc32(crc, buf, (uInt)got);
        f->bytes += (uint64_t)got;
    }
    f->crc32 = (uint32_t)crc;
    f->data_bytes = f->bytes;
    if (!rc && f->bytes >= 2 && !memcmp(magic, GZIP_MAGIC, 2)) {
        if (lseek(fd, 0, SEEK_SET)) rc = SYS_ERR(err, err_len, path, "lseek");
        else rc = inflated_size(fd, path, buf, &f->data_bytes, err, err_len);
    }
    free(buf);
    close(fd);
    return rc;
}

char *shard_manifest_path(const char *part_out, const char *command) {
    char suffix[64];
    snprintf(suffix, sizeof suffix, ".%s%s", command, SHARD_MANIFEST_SUFFIX);
    return output_sibling(part_out, suffix);
}

int shard_manifest_open(run_facts *rf, const char *part_out, const char *command, const shard_spec *s, char *err,
                        size_t err_len) {
    char *path = shard_manifest_path(part_out, command);
    const int rc = path ? run_facts_open(rf, path, command, err, err_len) : ERR(err, err_len, "out of memory");
    free(path);
    if (rc) return -1;
    run_facts_count(rf, "shard", s->index);
    run_facts_count(rf, "shards", s->count);
    return 0;
}

void shard_manifest_file(run_facts *rf, const char *key, const char *path, const shard_file *f) {
    char name[64], crc[16];
    run_facts_string(rf, key, path);
    snprintf(name, sizeof name, "%s_bytes", key);
    run_facts_count(rf, name, (size_t)f->bytes);
    snprintf(name, sizeof name, "%s_crc32", key);
    snprintf(crc, sizeof crc, "%08x", f->crc32);
    run_facts_string(rf, name, crc);
    if (f->data_bytes != f->bytes) {
        snprintf(name, sizeof name, "%s_data_bytes", key);
        run_facts_count(rf, name, (size_t)f->data_bytes);
    }
}

int shard_manifest_remove(const char *part_out, const char *command, char *err, size_t err_len) {
    char *path = shard_manifest_path(part_out, command);
    if (!path) return ERR(err, err_len, "%s: out of memory", part_out);
    const int rc = unlink(path) && errno != ENOENT ? SYS_ERR(err, err_len, path, "unlink") : 0;
    free(path);
    return rc;
}
