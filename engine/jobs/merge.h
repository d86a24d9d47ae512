/* merge.h: `userec merge`: the parts of one sharded job (shard.h) joined into exactly the files one run of the
 * job writes: embed's OUT.npy (or OUT.jsonl), OUT.ids and OUT.rejects.tsv, related's OUT.csv or OUT.jsonl, byte
 * for byte, and the facts file beside them with the parts' counts added up. Every part is checked first: all N
 * present and complete (their manifests), from the same input, model and options, their blocks adjoining; a
 * missing or foreign part is an error naming it, and nothing is written. The files are copied in chunks:
 * memory does not grow with the catalogue, but for the ids of an --id-col job: an id two parts hold (a shard sees
 * repeats only in its block) is refused, which takes one hash-set entry per id. */
#ifndef USEREC_MERGE_H
#define USEREC_MERGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *out; /* the job's -o: OUT.npy or OUT.jsonl (embed), OUT.csv or OUT.jsonl (related) */
    size_t parts;    /* N; 0: the one N whose parts lie beside OUT */
    double max_reject_rate; /* embed: more rejected rows than this share of all rows fails the merge, unwritten */
} merge_job;

typedef struct {
    char command[16]; /* the job's: "embed" or "related" */
    size_t parts;
    size_t rows;               /* embed: input rows; related: query lists */
    size_t embedded, rejected; /* embed */
    uint64_t bytes;            /* of the part files copied */
    double wall_s;
} merge_summary;

/* Returns 0 when every output was written; when nothing was, the failure's class (common/error.h: USEREC_ERR_IO for a
 * missing or unreadable part, USEREC_ERR_FORMAT for a part of another job or a changed one, FAIL_OUTPUT, ...) with
 * err naming the part and the problem. */
int merge_run(const merge_job *job, merge_summary *sum, char *err, size_t err_len);

#endif
