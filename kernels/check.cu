/* check.cu: the error reports behind CUDA_CHECK and CUBLAS_CHECK, and what the kernels ask of the device: whether
 * this build has code for it, and how much shared memory a block may take (kernels/check.h). */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "kernels.h"

extern "C" userec_status gpu_fail_cuda(userec_error *err, cudaError_t e, const char *call, const char *file,
                                       int line) {
    const userec_status status = e == cudaErrorMemoryAllocation ? USEREC_ERR_NOMEM : USEREC_ERR_DEVICE;
    if (err) {
        err->status = status;
        snprintf(err->message, sizeof err->message, "CUDA error %s (%s) in %s (%s:%d)", cudaGetErrorName(e),
                 cudaGetErrorString(e), call, file, line);
    }
    return status;
}

extern "C" userec_status gpu_fail_cublas(userec_error *err, cublasStatus_t s, const char *call, const char *file,
                                         int line) {
    const userec_status status = s == CUBLAS_STATUS_ALLOC_FAILED ? USEREC_ERR_NOMEM : USEREC_ERR_DEVICE;
    if (err) {
        err->status = status;
        snprintf(err->message, sizeof err->message, "cuBLAS error %s (%s) in %s (%s:%d)", cublasGetStatusName(s),
                 cublasGetStatusString(s), call, file, line);
    }
    return status;
}

/* Does nothing: asking for its attributes makes the runtime load this file's module for the current device. */
__global__ void image_probe_kernel() {}

extern "C" cudaError_t kernels_image_check(void) {
    cudaFuncAttributes attributes;
    const cudaError_t e = cudaFuncGetAttributes(&attributes, image_probe_kernel);
    if (e != cudaSuccess) cudaGetLastError(); /* the failure is the answer, not a sticky error for later calls */
    return e;
}

extern "C" userec_status gpu_smem_limit(size_t *bytes, userec_error *err) {
    int device, optin;
    CUDA_CHECK(err, cudaGetDevice(&device));
    CUDA_CHECK(err, cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    *bytes = (size_t)optin;
    const char *cap = getenv("USEREC_GPU_SMEM_LIMIT");
    if (cap && *cap) {
        const size_t limit = (size_t)strtoull(cap, NULL, 10);
        if (limit && limit < *bytes) *bytes = limit;
    }
    return USEREC_OK;
}
