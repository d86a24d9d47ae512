/* shard.h: one job cut into N shards, each a plain process (`embed --shard I/N`, `related --shard I/N`): which
 * block a shard takes, the names of its part files, the identity of the inputs it read, and its manifest, the
 * small JSON file written last that says the part is complete and what it was made from (docs/scale.md).
 * `userec merge` (merge.h) joins the parts into exactly the files one run writes. */
#ifndef USEREC_SHARD_H
#define USEREC_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "output/run_facts.h"

/* Shard `index` of `count` (1 <= index <= count); count 0: not sharded. */
typedef struct {
    size_t index, count;
} shard_spec;

#define SHARD_MAX_COUNT 100000

/* "I/N", or "slurm": I and N of this task of a Slurm job array (SLURM_ARRAY_TASK_ID, _MIN, _MAX, _STEP and
 * _COUNT; arrays may start at any index, e.g. --array=1-8) or, outside an array, of this srun task
 * (SLURM_PROCID + 1 of SLURM_NTASKS). Returns 0, or -1 with err saying what is wrong. */
int shard_parse(const char *text, shard_spec *s, char *err, size_t err_len);

/* The shard's block [lo, hi) of n things: floor((I-1) n / N) .. floor(I n / N). The blocks of 1..N tile [0, n). */
void shard_block(const shard_spec *s, size_t n, size_t *lo, size_t *hi);

/* OUT.npy -> OUT.part-I-of-N.npy (malloc'd; NULL when out of memory or OUT's name has no extension). Every file
 * written beside the part follows its name: OUT.part-I-of-N.ids, ... and the manifest. */
char *shard_part_path(const char *out, const shard_spec *s);
/* The part's manifest: OUT.part-I-of-N.embed.shard.json, or .related.shard.json (so that embed -o OUT.npy and
 * related -o OUT.csv may share a stem, as their facts files do). malloc'd; NULL when out of memory. */
#define SHARD_MANIFEST_SUFFIX ".shard.json"
char *shard_manifest_path(const char *part_out, const char *command);

/* What identifies an input file: its size, the CRC-32 of its bytes (zlib/IEEE: catches a changed or another
 * file, it is no cryptographic hash), and for gzip input the size once inflated (else the same as bytes):
 * what embed's byte ranges are cut from. Reads the whole file once. */
typedef struct {
    uint64_t bytes, data_bytes;
    uint32_t crc32;
} shard_file;
int shard_file_measure(const char *path, shard_file *f, char *err, size_t err_len);

/* Writes the manifest: run_facts with "shard" and "shards" first; the command adds its facts (shard_manifest_file
 * for each input) and commits it after every other output of the part. */
int shard_manifest_open(run_facts *rf, const char *part_out, const char *command, const shard_spec *s, char *err,
                        size_t err_len);
/* KEY (the path), KEY_bytes, KEY_crc32 and, for gzip input, KEY_data_bytes. */
void shard_manifest_file(run_facts *rf, const char *key, const char *path, const shard_file *f);
/* Removes a part's manifest left by an earlier run, before the part's outputs are replaced: a run that then
 * fails leaves the part without one, which merge reports, instead of an old manifest over new files. */
int shard_manifest_remove(const char *part_out, const char *command, char *err, size_t err_len);

#endif
