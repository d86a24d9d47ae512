/* temp_files.h: the temporary files and directories of outputs being written. Each has a name a later run
 * recognises, "<output>.userec-tmp-<pid>-XXXXXX", beside its output; a file is held under an exclusive flock while
 * its writer has it open. They are removed
 * - by their writer, when the output is committed (renamed) or aborted;
 * - when SIGINT, SIGTERM or SIGHUP ends the process, by a handler that only unlinks (or rmdirs) the registered
 *   paths and re-raises the signal (async-signal-safe), once the CLI has called temp_cleanup_on_signals;
 * - after a SIGKILL or a crash, by the next run that writes the same output (temp_sweep): a temp file is stale when
 *   nobody holds its lock and its process is gone (or it has not been touched for TEMP_STALE_SECONDS, for a reused
 *   process id).
 * Internal to the CLI's jobs; the handlers are process-wide state, which is why installing them is the CLI's call. */
#ifndef USEREC_TEMP_FILES_H
#define USEREC_TEMP_FILES_H

#include <stddef.h>

#define TEMP_MARK ".userec-tmp-"
#define TEMP_STALE_SECONDS 3600

/* Creates and opens a temp file beside path, locked and registered. Returns the descriptor, and the temp file's
 * name in *tmp_path (malloc'd) and its registry slot in *slot; or -1 with err set (FAIL_OUTPUT's message). */
int temp_create(const char *path, char **tmp_path, int *slot, char *err, size_t err_len);
/* The same for a temp directory beside path (mode 0700, no lock). Returns 0, or -1 with err set. Both register the
 * name before creating it, so a signal never leaves one behind that the registry does not list. */
int temp_create_dir(const char *path, char **tmp_path, int *slot, char *err, size_t err_len);

/* Registers a path for removal on a signal (a directory when is_dir: rmdir, after every registered file, so the
 * files in it must be registered too). Returns the slot, or -1 when the registry is full (the path is then not
 * protected; nothing else changes). */
int temp_register(const char *path, int is_dir);
/* Forgets a slot (after its path was renamed away or removed); -1 is ignored. */
void temp_forget(int slot);

/* Installs the SIGINT, SIGTERM and SIGHUP handlers that remove every registered path, then re-raise. */
void temp_cleanup_on_signals(void);

/* Removes the stale temp files of path (see above). Returns how many it removed. */
size_t temp_sweep(const char *path);

/* fsync of the directory holding path, so that a rename or a new entry in it survives a crash. Returns 0, or -1 with
 * err set. */
int fsync_dir_of(const char *path, char *err, size_t err_len);
int fsync_dir(const char *dir, char *err, size_t err_len);

#endif
