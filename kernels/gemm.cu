/* gemm.cu: the encoder's matrix products, y = x . W + b, through cuBLASLt with the bias, the ReLU and the
 * residual sum in the product's epilogue: no separate pass over the output for any of them.
 *
 * Row-major y[rows, out] = x[rows, in] . W[in, out] is, read column-major, y^T = W^T . x^T: cuBLASLt's
 * A = W (out x in, ld out), B = x (in x rows, ld in), C = D = y (out x rows, ld out), no transposes. The
 * bias runs along D's rows, i.e. one value per output column of y. Residual: beta = 1 with C = D = y. */
#include <stdlib.h>

#include "check.h"
#include "kernels.h"

#define GEMM_WORKSPACE_BYTES (32u << 20) /* what cuBLAS recommends for Hopper */

struct gemm_context {
    cublasLtHandle_t lt;
    void *workspace;
};

extern "C" userec_status gemm_create(gemm_context **out, userec_error *err) {
    gemm_context *g = (gemm_context *)calloc(1, sizeof *g);
    if (!g) return set_error(err, USEREC_ERR_NOMEM, "out of host memory for the cuBLASLt context");
    *out = g;
    CUBLAS_CHECK(err, cublasLtCreate(&g->lt));
    CUDA_CHECK(err, cudaMalloc(&g->workspace, GEMM_WORKSPACE_BYTES));
    return USEREC_OK;
}

/* Teardown has nobody to report to: failures here are ignored. */
extern "C" void gemm_destroy(gemm_context *g) {
    if (!g) return;
    if (g->workspace) cudaFree(g->workspace);
    if (g->lt) cublasLtDestroy(g->lt);
    free(g);
}

/* The descriptors of one product, destroyed on every way out. */
struct lt_descriptors {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    ~lt_descriptors() {
        if (pref) cublasLtMatmulPreferenceDestroy(pref);
        if (c) cublasLtMatrixLayoutDestroy(c);
        if (b) cublasLtMatrixLayoutDestroy(b);
        if (a) cublasLtMatrixLayoutDestroy(a);
        if (op) cublasLtMatmulDescDestroy(op);
    }
};

static const char *epilogue_name(gemm_epilogue e) {
    return e == GEMM_BIAS_RELU ? "bias+relu" : e == GEMM_BIAS_ADD ? "bias+residual" : "bias";
}

extern "C" userec_status gemm_run(gemm_context *g, userec_precision p, int rows, int in, int out, const void *x,
                                  const void *w, const void *bias, void *y, gpu_dtype y_type, gemm_epilogue epilogue,
                                  cudaStream_t stream, userec_error *err) {
    if (rows <= 0) return USEREC_OK;
    const cudaDataType_t ab = p == USEREC_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    const cudaDataType_t cd = y_type == GPU_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    /* fp32 must not slip onto the tensor cores: CUBLAS_COMPUTE_32F is plain fp32 in cuBLASLt. */
    const cublasComputeType_t compute = p == USEREC_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const cublasLtEpilogue_t ep = epilogue == GEMM_BIAS_RELU ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
    const float alpha = 1.0f, beta = epilogue == GEMM_BIAS_ADD ? 1.0f : 0.0f;
    const size_t workspace = GEMM_WORKSPACE_BYTES;

    lt_descriptors d;
    CUBLAS_CHECK(err, cublasLtMatmulDescCreate(&d.op, compute, CUDA_R_32F));
    CUBLAS_CHECK(err, cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep));
    CUBLAS_CHECK(err, cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    CUBLAS_CHECK(err, cublasLtMatrixLayoutCreate(&d.a, ab, (uint64_t)out, (uint64_t)in, out));
    CUBLAS_CHECK(err, cublasLtMatrixLayoutCreate(&d.b, ab, (uint64_t)in, (uint64_t)rows, in));
    CUBLAS_CHECK(err, cublasLtMatrixLayoutCreate(&d.c, cd, (uint64_t)out, (uint64_t)rows, out));
    CUBLAS_CHECK(err, cublasLtMatmulPreferenceCreate(&d.pref));
    CUBLAS_CHECK(err, cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                           &workspace, sizeof workspace));
    cublasLtMatmulHeuristicResult_t best;
    int found = 0;
    CUBLAS_CHECK(err, cublasLtMatmulAlgoGetHeuristic(g->lt, d.op, d.a, d.b, d.c, d.c, d.pref, 1, &best, &found));
    if (!found)
        return set_error(err, USEREC_ERR_UNSUPPORTED,
                         "cuBLASLt has no algorithm for a %s product [%d x %d] . [%d x %d] with a %s epilogue",
                         userec_precision_name(p), rows, in, in, out, epilogue_name(epilogue));
    CUBLAS_CHECK(err, cublasLtMatmul(g->lt, d.op, &alpha, w, d.a, x, d.b, &beta, y, d.c, y, d.c, &best.algo,
                                     g->workspace, workspace, stream));
    return USEREC_OK;
}
