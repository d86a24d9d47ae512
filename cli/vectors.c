/* vectors.c: item vectors and their ids loaded for a command, checked against their manifest (cli.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "common/error.h"
#include "common/util.h"
#include "output/publish.h"
#include "output/run_facts.h"

/* The manifest that lists the vectors: ITEMS.embed.json (embed), else manifest.json beside them (a store
 * generation). Returns 0 with *m read, 1 when neither lists them, or the failure's class. */
static int find_manifest(const char *npy_path, publish_manifest *m, char **manifest_path, char *err, size_t err_len) {
    const size_t dir_len = (size_t)(path_base_name(npy_path) - npy_path);
    char *candidates[2] = {output_sibling(npy_path, ".embed.json"), NULL};
    if (asprintf(&candidates[1], "%.*smanifest.json", (int)dir_len, npy_path) < 0) candidates[1] = NULL;
    int rc = candidates[0] && candidates[1] ? 1 : FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "out of memory"));
    for (int c = 0; c < 2 && rc == 1; c++) {
        if ((rc = publish_manifest_read(candidates[c], m, err, err_len))) continue; /* absent (1) or unreadable */
        if (m->files_at != SIZE_MAX && publish_manifest_lists(m, path_base_name(npy_path))) {
            *manifest_path = candidates[c];
            candidates[c] = NULL;
        } else {
            publish_manifest_free(m);
            rc = 1;
        }
    }
    free(candidates[0]);
    free(candidates[1]);
    return rc;
}

static int load_once(const char *npy_path, const char *ids_path, topk_matrix *m, topk_ids *ids, size_t *n_scaled,
                     size_t *n_zero, int *mixed, char *err, size_t err_len) {
    publish_manifest manifest;
    char *manifest_path = NULL;
    topk_file_digest npy_digest, ids_digest;
    *mixed = 0;
    int found = find_manifest(npy_path, &manifest, &manifest_path, err, err_len);
    if (found > 1) return found;
    const int check = found == 0;
    int rc = topk_load_vectors(npy_path, m, n_scaled, n_zero, check ? &npy_digest : NULL, err, err_len);
    if (!rc && ids_path) rc = topk_read_ids(ids_path, npy_path, m->rows, ids, check ? &ids_digest : NULL, err, err_len);
    if (!rc && check) {
        rc = publish_manifest_check(&manifest, manifest_path, path_base_name(npy_path), npy_digest.bytes, npy_digest.sha256,
                                    err, err_len);
        if (rc == 1) rc = 0;
        if (!rc && ids_path && path_same_directory(ids_path, manifest_path)) {
            rc = publish_manifest_check(&manifest, manifest_path, path_base_name(ids_path), ids_digest.bytes,
                                        ids_digest.sha256, err, err_len);
            if (rc == 1) rc = 0; /* another ids file than the run's: the user's choice */
        }
        *mixed = rc != 0;
    }
    if (!rc && ids_path) rc = topk_ids_unique(ids, ids_path, err, err_len);
    if (check) publish_manifest_free(&manifest);
    free(manifest_path);
    if (rc) {
        topk_matrix_free(m);
        topk_ids_free(ids);
    }
    return rc;
}

int cli_load_vectors(const char *npy_path, const char *ids_path, topk_matrix *m, topk_ids *ids, size_t *n_scaled,
                     size_t *n_zero, char *err, size_t err_len) {
    *ids = (topk_ids){0};
    for (int attempt = 1;; attempt++) {
        int mixed;
        const int rc = load_once(npy_path, ids_path, m, ids, n_scaled, n_zero, &mixed, err, err_len);
        if (!mixed || attempt == 3) return rc;
        nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL); /* a run is renaming its files */
    }
}
