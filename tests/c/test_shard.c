/* test_shard.c: --shard I/N and --shard slurm (engine/jobs/shard.c): what they accept and refuse, which task of a
 * Slurm array or srun step is which shard, that the blocks of 1/N..N/N tile [0, n) for any n and N, the part file
 * names, and the identity of a file (size, CRC-32 against zlib's, inflated size of gzip). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "jobs/shard.h"

static const char *const slurm_vars[] = {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX",
                                         "SLURM_ARRAY_TASK_STEP", "SLURM_ARRAY_TASK_COUNT", "SLURM_PROCID",
                                         "SLURM_NTASKS"};

/* Sets the Slurm variables: values in slurm_vars' order, NULL to unset. */
static void slurm_env(const char *const values[7]) {
    for (int i = 0; i < 7; i++) {
        if (values[i]) setenv(slurm_vars[i], values[i], 1);
        else unsetenv(slurm_vars[i]);
    }
}

static void test_parse(void) {
    static const struct {
        const char *text;
        size_t index, count;
    } good[] = {{"1/1", 1, 1}, {"1/3", 1, 3}, {"3/3", 3, 3}, {"7/100000", 7, 100000}};
    int ok = 1;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        shard_spec s;
        char err[256];
        if (shard_parse(good[i].text, &s, err, sizeof err) || s.index != good[i].index || s.count != good[i].count)
            printf("# '%s' -> %zu/%zu\n", good[i].text, s.index, s.count), ok = 0;
    }
    CHECK(ok, "shard: I/N parses", "see above");
    static const char *const bad[] = {"0/3", "4/3", "3", "/3", "1/", "1/0", "a/b", "1/3x", "-1/3", "1/100001",
                                      "+1/2", " 1/2", "1/2/3", ""};
    ok = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        shard_spec s;
        char err[256] = "";
        if (!shard_parse(bad[i], &s, err, sizeof err) || !strstr(err, "--shard wants I/N"))
            printf("# '%s' was not refused: %s\n", bad[i], err), ok = 0;
    }
    CHECK(ok, "shard: malformed I/N refused with the expected form", "see above");
}

static void test_slurm(void) {
    static const struct {
        const char *env[7]; /* ID, MIN, MAX, STEP, COUNT, PROCID, NTASKS */
        size_t index, count;
        const char *label;
    } cases[] = {
        {{"0", "0", "3", NULL, "4", "0", "1"}, 1, 4, "shard: array 0-3, task 0 is 1/4"},
        {{"3", "0", "3", NULL, "4", "0", "1"}, 4, 4, "shard: array 0-3, task 3 is 4/4"},
        {{"1", "1", "8", NULL, "8", "0", "1"}, 1, 8, "shard: array 1-8 (starting at 1), task 1 is 1/8"},
        {{"8", "1", "8", "1", "8", NULL, NULL}, 8, 8, "shard: array 1-8, task 8 is 8/8"},
        {{"10", "4", "10", "2", "4", NULL, NULL}, 4, 4, "shard: array 4-10:2, task 10 is 4/4"},
        {{NULL, NULL, NULL, NULL, NULL, "2", "3"}, 3, 3, "shard: srun task 2 of 3 is 3/3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        slurm_env(cases[i].env);
        shard_spec s = {0};
        char err[512] = "";
        const int rc = shard_parse("slurm", &s, err, sizeof err);
        CHECK(!rc && s.index == cases[i].index && s.count == cases[i].count, cases[i].label, "got %zu/%zu: %s", s.index,
              s.count, err);
    }
    static const struct {
        const char *env[7];
        const char *says, *label;
    } refused[] = {
        {{"3", "1", "5", NULL, "3", NULL, NULL}, "not one evenly spaced range", "shard: an array given as a list (1,3,5) is refused"},
        {{"3", NULL, NULL, NULL, NULL, NULL, NULL}, "_COUNT is missing", "shard: an array task without the array's bounds"},
        {{"x", "0", "3", NULL, "4", NULL, NULL}, "is not a number", "shard: a task id that is not a number"},
        {{NULL, NULL, NULL, NULL, NULL, NULL, NULL}, "run it under sbatch --array or srun", "shard: slurm outside Slurm"},
        {{NULL, NULL, NULL, NULL, NULL, "3", "3"}, "run it under sbatch --array or srun", "shard: srun task 3 of 3 does not exist"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        slurm_env(refused[i].env);
        shard_spec s;
        char err[512] = "";
        CHECK(shard_parse("slurm", &s, err, sizeof err) && strstr(err, refused[i].says), refused[i].label, "%s", err);
    }
    slurm_env((const char *const[7]){0});
}

static void test_blocks(void) {
    int ok = 1;
    const size_t sizes[] = {0, 1, 2, 5, 7, 100, 1000003, (size_t)1 << 62};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes && ok; si++)
        for (size_t count = 1; count <= 40 && ok; count++) {
            size_t end = 0, biggest = 0, smallest = SIZE_MAX;
            for (size_t i = 1; i <= count && ok; i++) {
                size_t lo, hi;
                shard_block(&(shard_spec){i, count}, sizes[si], &lo, &hi);
                ok = lo == end && hi >= lo;
                end = hi;
                biggest = hi - lo > biggest ? hi - lo : biggest;
                smallest = hi - lo < smallest ? hi - lo : smallest;
            }
            ok = ok && end == sizes[si] && biggest - smallest <= 1;
            if (!ok) printf("# n = %zu, N = %zu\n", sizes[si], count);
        }
    CHECK(ok, "shard: the blocks of 1/N..N/N tile [0, n), sizes within one of each other", "see above");
}

static void test_names(void) {
    static const struct {
        const char *out, *want;
    } names[] = {{"OUT.npy", "OUT.part-2-of-5.npy"}, {"dir.v1/items.csv", "dir.v1/items.part-2-of-5.csv"},
                 {"a.b.jsonl", "a.b.part-2-of-5.jsonl"}, {"noext", NULL}, {"dir.d/noext", NULL}, {".npy", NULL}};
    int ok = 1;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *got = shard_part_path(names[i].out, &(shard_spec){2, 5});
        if (!(got ? names[i].want && !strcmp(got, names[i].want) : !names[i].want))
            printf("# %s -> %s\n", names[i].out, got ? got : "NULL"), ok = 0;
        free(got);
    }
    CHECK(ok, "shard: part names put .part-I-of-N before the extension", "see above");
}

static void test_measure(void) {
    char path[] = "/tmp/userec-shard-XXXXXX";
    const int fd = mkstemp(path);
    char text[5000];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (char)('a' + i * 7 % 26);
    write(fd, text, sizeof text);
    close(fd);
    shard_file f;
    char err[256];
    const uint32_t want = (uint32_t)crc32(crc32(0, Z_NULL, 0), (const Bytef *)text, sizeof text);
    CHECK(!shard_file_measure(path, &f, err, sizeof err) && f.bytes == sizeof text && f.data_bytes == sizeof text &&
              f.crc32 == want,
          "shard: a file's size and CRC-32 (zlib's)", "%s; %llu bytes, crc %08x want %08x", err,
          (unsigned long long)f.bytes, f.crc32, want);
    gzFile gz = gzopen(path, "wb");
    gzwrite(gz, text, sizeof text);
    gzclose(gz);
    CHECK(!shard_file_measure(path, &f, err, sizeof err) && f.bytes < sizeof text && f.data_bytes == sizeof text,
          "shard: a gzip file's inflated size", "%s; %llu bytes, %llu inflated", err, (unsigned long long)f.bytes,
          (unsigned long long)f.data_bytes);
    unlink(path);
    CHECK(shard_file_measure(path, &f, err, sizeof err) && strstr(err, path), "shard: a missing file is named", "%s", err);
}

int main(void) {
    test_parse();
    test_slurm();
    test_blocks();
    test_names();
    test_measure();
    CHECK_DONE();
}
