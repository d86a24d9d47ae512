/* store.h: the directory of generations that `userec update` keeps (docs/production.md, "The store"):
 *
 *   DIR/lock            flock'ed by the one update running; it names its holder
 *   DIR/current         symbolic link to the live generation, replaced by rename
 *   DIR/gen-000042/     a complete generation: vectors.npy, vectors.ids, related.csv|.jsonl, rejects.tsv,
 *                       changes.jsonl, state.bin, manifest.json (listing every file's size and SHA-256)
 *   DIR/gen-000043.userec-tmp-PID-XXXXXX/   a generation being written
 *
 * A generation is written into its temp directory, every file fsynced (output/publish.h), the directory fsynced and
 * renamed to gen-N, DIR fsynced, then `current` is switched by renaming a new link over it and DIR fsynced again.
 * So whenever a process dies, `current` names a complete generation (or nothing, before the first one); what a dead
 * run left (temp directories, a gen-N newer than `current`) is removed by the next run, under the lock. */
#ifndef USEREC_STORE_H
#define USEREC_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *dir;
    int lock_fd;
    uint64_t current;  /* the live generation, 0 when there is none */
    char *building;    /* the temp directory of the generation being written */
    int building_slot; /* its slot in the signal-cleanup registry (output/temp_files.h) */
} store;

/* Opens DIR (creating it when missing) and takes its lock: at once, or waiting up to wait_seconds. Returns 0, or
 * FAIL_LOCKED (with err naming the holder) or another failure's class. */
int store_open(store *s, const char *dir, double wait_seconds, char *err, size_t err_len);
/* Releases the lock and frees s (an unfinished generation is removed first). */
void store_close(store *s);

/* Removes what dead runs left: temp directories and links, generations newer than `current`. Returns how many. */
size_t store_clean(store *s);

/* DIR/gen-N (malloc'd), or NULL when out of memory. */
char *store_generation_path(const store *s, uint64_t n);

/* Creates the temp directory of generation current + 1 (s->building). Returns 0 or FAIL_OUTPUT. */
int store_begin(store *s, char *err, size_t err_len);
/* s->building + "/" + name (malloc'd). */
char *store_building_file(const store *s, const char *name);
/* fsyncs the temp directory, renames it to gen-N, switches `current` to it (all fsynced), then removes the old
 * generations beyond the newest `keep`. Returns 0 or FAIL_OUTPUT; before the switch, a failure leaves `current` as
 * it was. */
int store_commit(store *s, unsigned keep, char *err, size_t err_len);
/* Removes the temp directory of an unfinished generation, and its files. */
void store_abandon(store *s);

#endif
