/* topk_cuda_stub.c: topk_cuda_search for a build without CUDA (kernels/topk_fused.cu replaces it when the
 * build defines USEREC_CUDA). */
#ifndef USEREC_CUDA
#include "../kernels/topk_fused.h"
#include "util.h"

int topk_cuda_search(const float *queries, size_t n_queries, const float *items, size_t n_items, size_t dim,
                     const topk_options *opt, int32_t *index, float *score, char *err, size_t err_len) {
    return ERR(err, err_len, "top-k: this userec was built without CUDA (rebuild with `make CUDA=1` on a machine with nvcc)");
}
#endif
