/* check.h: every CUDA and cuBLAS call of the GPU path goes through CUDA_CHECK or CUBLAS_CHECK. On failure they
 * fill the userec_error named by their first argument with file:line, the call and the library's message, and
 * return the status from the enclosing function (which therefore returns userec_status). */
#ifndef USEREC_KERNELS_CHECK_H
#define USEREC_KERNELS_CHECK_H

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "common/error.h" /* set_error; a C header, hence inside extern "C" */

/* Out of device memory -> USEREC_ERR_NOMEM; any other failure (no GPU or driver, a kernel image the card cannot
 * run, a fault) -> USEREC_ERR_DEVICE. */
userec_status gpu_fail_cuda(userec_error *err, cudaError_t e, const char *call, const char *file, int line);
userec_status gpu_fail_cublas(userec_error *err, cublasStatus_t s, const char *call, const char *file, int line);

/* cudaSuccess when this build's fatbinary holds machine code or PTX that the current device can run (asked of a
 * kernel compiled like all the others); else the runtime's answer, e.g. cudaErrorNoKernelImageForDevice. */
cudaError_t kernels_image_check(void);

#ifdef __cplusplus
}
#endif

#define CUDA_CHECK(err, call)                                                            \
    do {                                                                                 \
        cudaError_t cuda_check_ = (call);                                                \
        if (cuda_check_ != cudaSuccess) return gpu_fail_cuda((err), cuda_check_, #call, __FILE__, __LINE__); \
    } while (0)

#define CUBLAS_CHECK(err, call)                                                          \
    do {                                                                                 \
        cublasStatus_t cublas_check_ = (call);                                           \
        if (cublas_check_ != CUBLAS_STATUS_SUCCESS)                                      \
            return gpu_fail_cublas((err), cublas_check_, #call, __FILE__, __LINE__);     \
    } while (0)

/* After a kernel launch: a bad launch configuration shows here at once; a fault inside the kernel shows at
 * the next synchronising call, which goes through CUDA_CHECK too. */
#define LAUNCH_CHECK(err, kernel_name) CUDA_CHECK(err, cudaGetLastError() /* launching kernel_name */)

#endif
