/* check.cu: the error reports behind CUDA_CHECK and CUBLAS_CHECK (kernels/check.h). */
#include <stdio.h>

#include "check.h"

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
