/* topk.h: cosine top-k: for every query vector, the k items with the highest dot product (the vectors are unit
 * length, so the dot product is the cosine). Scores and selection are fused tile by tile: no query x item
 * score matrix is ever held whole. See docs/topk.md for the algorithm, the exactness guarantee and the tie order.
 *
 * Result layout: index[q * k + r] and score[q * k + r] hold query q's rank-r neighbour (r = 0 is the best),
 * ordered by score, highest first, equal scores by lower item index first. When fewer than k items exist
 * (k > n_items, or k > n_items - 1 with the query itself excluded) the missing ranks are marked empty:
 * index TOPK_EMPTY (-1) and score -INFINITY. */
#ifndef USEREC_TOPK_H
#define USEREC_TOPK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TOPK_EMPTY (-1)

typedef enum { TOPK_CPU = 0, TOPK_CUDA = 1 } topk_device;
typedef enum { TOPK_FP32 = 0, TOPK_BF16 = 1 } topk_precision; /* bf16: inputs rounded to bf16, fp32 sums (CUDA only) */

typedef struct {
    size_t k;
    int exclude_self; /* query q is item q (all-pairs): never return it; needs n_queries <= n_items */
    topk_device device;
    topk_precision precision;
} topk_options;

/* Searches n_queries rows of queries against n_items rows of items (row-major, dim floats each, unit length).
 * queries may be the same pointer as items (all-pairs). Writes n_queries * k entries to index and score.
 * Returns 0, or -1 with a message in err. */
int topk_search(const float *queries, size_t n_queries, const float *items, size_t n_items, size_t dim,
                const topk_options *opt, int32_t *index, float *score, char *err, size_t err_len);

/* The CPU path of topk_search (engine/topk_cpu.c); the CUDA path is topk_cuda_search in kernels/topk_fused.h. */
int topk_cpu_search(const float *queries, size_t n_queries, const float *items, size_t n_items, size_t dim,
                    const topk_options *opt, int32_t *index, float *score, char *err, size_t err_len);

/* Float vectors loaded for a search: rows x cols, float32, unit length (see topk_load_vectors). */
typedef struct {
    float *data;
    size_t rows, cols;
} topk_matrix;

/* Reads a 2-D float32 or float16 .npy into float32, fails on a non-finite value (naming row and column), and
 * scales every row whose length differs from 1 by more than TOPK_UNIT_TOLERANCE to unit length. *n_scaled
 * counts the rows scaled, *n_zero the all-zero rows (left as they are: they score 0 against everything). */
#define TOPK_UNIT_TOLERANCE 1e-5
int topk_load_vectors(const char *path, topk_matrix *m, size_t *n_scaled, size_t *n_zero, char *err, size_t err_len);
void topk_matrix_free(topk_matrix *m);

/* One id per line ('\n' or "\r\n"; a last line without a newline counts). */
typedef struct {
    char *text;   /* the file, newlines replaced by NULs */
    char **line;  /* line[i] is row i's id */
    size_t count;
} topk_ids;

/* Reads ids_path and checks it has exactly one line per row of the .npy it describes (named in the error). */
int topk_read_ids(const char *ids_path, const char *npy_path, size_t npy_rows, topk_ids *ids, char *err, size_t err_len);
void topk_ids_free(topk_ids *ids);

#ifdef __cplusplus
}
#endif
#endif
