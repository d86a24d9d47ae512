/* gpu_stub.c: the GPU API (gpu.h) in a build without CUDA: every call says so. engine/encoder_gpu.cu replaces
 * it when the build defines USEREC_CUDA (make CUDA=1, or plain make where nvcc is found). */
#ifndef USEREC_CUDA
#include <string.h>

#include "gpu.h"
#include "model.h"

#define NO_CUDA "this userec was built without CUDA (no nvcc at build time); rebuild with `make CUDA=1` where the CUDA toolkit is installed"

int userec_gpu_list(userec_gpu_device *devices, int max, userec_error *err) {
    userec_fail(err, USEREC_ERR_DEVICE, NO_CUDA);
    return 0;
}

void userec_gpu_versions(int *driver, int *runtime) { *driver = *runtime = 0; }

userec_status userec_gpu_check(int device, userec_error *err) { return userec_fail(err, USEREC_ERR_DEVICE, NO_CUDA); }

userec_gpu *userec_gpu_create(const userec_model *model, const userec_gpu_options *opt, userec_error *err) {
    userec_fail(err, USEREC_ERR_DEVICE, NO_CUDA);
    return NULL;
}

void userec_gpu_destroy(userec_gpu *g) {}

userec_status userec_gpu_encode_ids(userec_gpu *g, const int32_t *ids, const size_t *offsets, size_t n, float *out,
                                    userec_counts *counts, userec_error *err) {
    return userec_fail(err, USEREC_ERR_DEVICE, NO_CUDA);
}

void userec_gpu_stats_get(const userec_gpu *g, userec_gpu_stats *stats) { memset(stats, 0, sizeof *stats); }
void userec_gpu_stats_reset(userec_gpu *g) {}
const char *userec_gpu_name(const userec_gpu *g) { return "none (built without CUDA)"; }
#endif
