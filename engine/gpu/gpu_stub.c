/* gpu_stub.c: the GPU side (gpu/gpu.h) in a build without CUDA: every call says so. engine/gpu/encoder_gpu.cu
 * and kernels/topk_fused.cu replace it when the build defines USEREC_CUDA (make CUDA=1, or plain make where
 * nvcc is found). */
#ifndef USEREC_CUDA
#include <string.h>

#include "common/error.h"
#include "gpu/gpu.h"

#define NO_CUDA "this userec was built without CUDA (no nvcc at build time); rebuild with `make CUDA=1` where the CUDA toolkit is installed"

int gpu_list(userec_gpu_info *gpus, int max, userec_error *err) {
    set_error(err, USEREC_ERR_DEVICE, NO_CUDA);
    return 0;
}

const char *gpu_build_targets(void) { return ""; }

void gpu_versions(int *driver, int *runtime) { *driver = *runtime = 0; }

userec_status gpu_check(int device, userec_error *err) { return set_error(err, USEREC_ERR_DEVICE, NO_CUDA); }

gpu_encoder *gpu_encoder_create(const userec_model *model, const gpu_options *opt, userec_error *err) {
    set_error(err, USEREC_ERR_DEVICE, NO_CUDA);
    return NULL;
}

void gpu_encoder_destroy(gpu_encoder *g) {}

userec_status gpu_encoder_encode(gpu_encoder *g, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                 userec_counts *counts, userec_error *err) {
    return set_error(err, USEREC_ERR_DEVICE, NO_CUDA);
}

void gpu_encoder_stats(const gpu_encoder *g, userec_encoder_stats *stats) { memset(stats, 0, sizeof *stats); }
void gpu_encoder_stats_reset(gpu_encoder *g) {}
const char *gpu_encoder_name(const gpu_encoder *g) { return "none (built without CUDA)"; }

userec_status topk_cuda_search(const float *queries, size_t n_queries, const float *items, size_t n_items,
                               size_t dim, const userec_topk_options *opt, int32_t *index, float *score,
                               userec_error *err) {
    return set_error(err, USEREC_ERR_DEVICE, "top-k: " NO_CUDA);
}
#endif
