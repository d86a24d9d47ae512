/* topk.c: topk_search checks its arguments and hands the search to the CPU or the CUDA path. */
#include "topk.h"

#include "../kernels/topk_fused.h"
#include "util.h"

int topk_search(const float *queries, size_t n_queries, const float *items, size_t n_items, size_t dim,
                const topk_options *opt, int32_t *index, float *score, char *err, size_t err_len) {
    if (opt->k < 1) return ERR(err, err_len, "top-k: k must be at least 1");
    if (dim < 1 || dim > INT32_MAX) return ERR(err, err_len, "top-k: vectors of %zu values are not supported", dim);
    if (n_items > INT32_MAX || n_queries > INT32_MAX)
        return ERR(err, err_len, "top-k: %zu queries x %zu items: at most %d of each are supported", n_queries, n_items,
                   INT32_MAX);
    if (opt->exclude_self && n_queries > n_items)
        return ERR(err, err_len, "top-k: excluding self pairs query q with item q, but there are %zu queries and only %zu items",
                   n_queries, n_items);
    if (opt->device == TOPK_CUDA) return topk_cuda_search(queries, n_queries, items, n_items, dim, opt, index, score, err, err_len);
    if (opt->precision != TOPK_FP32) return ERR(err, err_len, "top-k: the CPU path computes in fp32 only (bf16 is for --device cuda)");
    return topk_cpu_search(queries, n_queries, items, n_items, dim, opt, index, score, err, err_len);
}
