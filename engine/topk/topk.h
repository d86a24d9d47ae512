/* topk.h: the engine's side of related items (userec_topk_search in userec.h): the CPU search, and the inputs
 * of a search from files: vectors from .npy, ids from an ids file. Scores and selection are fused tile by tile:
 * no query x item score matrix is ever held whole. See docs/topk.md for the algorithm, the exactness guarantee
 * and the tie order. Internal: programs use userec.h. */
#ifndef USEREC_TOPK_H
#define USEREC_TOPK_H

#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu_kernels.h"
#include "userec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The CPU path of userec_topk_search on k's kernels, arguments already checked (topk_cpu.c); the CUDA path is
 * topk_cuda_search (gpu/gpu.h). Returns 0, or -1 with a message in err (out of memory). */
int topk_cpu_search(const cpu_kernels *k, const float *queries, size_t n_queries, const float *items, size_t n_items, size_t dim,
                    const userec_topk_options *opt, int32_t *index, float *score, char *err, size_t err_len);

/* userec_topk_search on one device, arguments checked and opt->device cpu or cuda (the current CUDA device). */
userec_status topk_search_one(const float *queries, size_t n_queries, const float *items, size_t n_items, size_t dim,
                              const userec_topk_options *opt, int32_t *index, float *score, userec_error *err);
/* userec_topk_search on a chosen device list (userec_devices_choose): the queries cut into one block per listed
 * device, a thread per distinct device running its blocks in turn (two searches on one GPU would each plan
 * with its whole memory), opt's progress called on the calling thread. */
userec_status topk_search_devices(const float *queries, size_t n_queries, const float *items, size_t n_items,
                                  size_t dim, const userec_topk_options *opt, const userec_devices *devices,
                                  int32_t *index, float *score, userec_error *err);

/* Float vectors loaded for a search: rows x cols, float32, unit length (see topk_load_vectors). */
typedef struct {
    float *data;
    size_t rows, cols;
} topk_matrix;

/* Reads a 2-D float32 or float16 .npy into float32, fails on a non-finite value (naming row and column), and
 * scales every row whose length differs from 1 by more than TOPK_UNIT_TOLERANCE to unit length. *n_scaled
 * counts the rows scaled, *n_zero the all-zero rows (left as they are: they score 0 against everything). Returns
 * 0, or the failure's class (common/error.h: USEREC_ERR_IO, USEREC_ERR_FORMAT, USEREC_ERR_NOMEM) with err set. */
#define TOPK_UNIT_TOLERANCE 1e-5
/* The size and SHA-256 of the bytes a loader read, to check them against their manifest (output/publish.h). */
typedef struct {
    uint64_t bytes;
    uint8_t sha256[32];
} topk_file_digest;
/* digest (may be NULL) gets the file's size and SHA-256, of the very bytes the vectors were read from. */
int topk_load_vectors(const char *path, topk_matrix *m, size_t *n_scaled, size_t *n_zero, topk_file_digest *digest,
                      char *err, size_t err_len);
/* The same scaling on rows already in memory (topk_load_vectors does it): rows whose length differs from 1 by more
 * than TOPK_UNIT_TOLERANCE are scaled to unit length; all-zero rows stay. Returns 0, or FORMAT naming the first
 * row and column that is not finite. */
int topk_unit_rows(float *x, size_t rows, size_t cols, const char *path, size_t *n_scaled, size_t *n_zero, char *err,
                   size_t err_len);
void topk_matrix_free(topk_matrix *m);

/* One id per line ('\n' or "\r\n"; a last line without a newline counts). */
typedef struct {
    char *text;   /* the file, newlines replaced by NULs */
    char **line;  /* line[i] is row i's id */
    size_t count;
} topk_ids;

/* Reads ids_path (a regular file) and checks it has exactly one line per row of the .npy it describes (named in
 * the error). Returns 0 or the failure's class, as topk_load_vectors. */
int topk_read_ids(const char *ids_path, const char *npy_path, size_t npy_rows, topk_ids *ids, topk_file_digest *digest,
                  char *err, size_t err_len);
/* The same on the file's bytes: text (malloc'd, len bytes and room for one more) is taken over, and freed on
 * failure. */
int topk_parse_ids(char *text, size_t len, const char *ids_path, const char *npy_path, size_t npy_rows, topk_ids *ids,
                   char *err, size_t err_len);
void topk_ids_free(topk_ids *ids);
/* Refuses ids with repeats: 0 when every id is unique, else USEREC_ERR_FORMAT naming the first repeated id and its
 * two lines (a repeated id would get its list twice and break an (id, rank) key downstream), or USEREC_ERR_NOMEM. */
int topk_ids_unique(const topk_ids *ids, const char *ids_path, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
