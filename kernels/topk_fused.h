/* topk_fused.h: the CUDA path of topk_search (engine/topk.h): same arguments, same results. Built from
 * kernels/topk_fused.cu with CUDA; without CUDA, engine/topk_cuda_stub.c answers that this build has no GPU. */
#ifndef USEREC_TOPK_FUSED_H
#define USEREC_TOPK_FUSED_H

#include "topk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Host arrays in and out; the items (and queries) stream through the GPU in chunks that fit its memory. */
int topk_cuda_search(const float *queries, size_t n_queries, const float *items, size_t n_items, size_t dim,
                     const topk_options *opt, int32_t *index, float *score, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
