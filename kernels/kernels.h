/* kernels.h: the C-callable launchers of the USE-lite forward pass on the GPU (one .cu file per concern).
 *
 * Rows are packed tokens of several sentences, no padding: sentence s owns rows starts[s] .. starts[s+1]
 * (device int32 array of n+1 entries). Matrices are row-major. Activations are stored as float or bf16
 * (gpu_dtype); every kernel computes in fp32. Each launcher queues work on `stream`, checks the launch and
 * returns USEREC_OK or the failure, described in err (kernels/check.h). Zero-sized work launches nothing. */
#ifndef USEREC_KERNELS_H
#define USEREC_KERNELS_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#include "cpu/cpu_gemm.h" /* gemm_epilogue */
#include "gpu/gpu.h"
#include "userec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { GPU_F32 = 0, GPU_BF16 = 1 } gpu_dtype;

/* check.cu: the shared memory per block, in bytes, that kernels of the current device may plan with: the
 * device's opt-in maximum, or less when USEREC_GPU_SMEM_LIMIT (bytes) says so: tests use it to run, on a large
 * GPU, the variants chosen for a smaller one (99 KiB per block on sm_86, sm_89 and sm_120 parts). */
userec_status gpu_smem_limit(size_t *bytes, userec_error *err);

/* embed.cu: x0[r] = (E[id] + PE[p]) + E[id] (SPEC 1.3's doubled embedding, in the graph's order of additions)
 * for position p of every sentence, stored as x0_type; and h[r] = LayerNorm(x0[r]) as h_type, computed from
 * the fp32 x0 (the first layer's pre-norm, fused to save a pass). table is [vocab, width], timing
 * [max_len, width], both fp32; ids holds the packed, already clipped token ids. layer_norm_width_ok(width). */
userec_status launch_embed_norm(const int32_t *ids, const int32_t *starts, int n_sentences, int width,
                                const float *table, const float *timing, const float *ln_scale, const float *ln_bias,
                                float ln_eps, void *x0, gpu_dtype x0_type, void *h, gpu_dtype h_type,
                                cudaStream_t stream, userec_error *err);

/* The widths the row kernels (embedding, layer norm) take: a warp holds a row as whole 128-column chunks. */
#define LAYER_NORM_MAX_WIDTH 1024
static inline int layer_norm_width_ok(int width) {
    return width > 0 && width % 128 == 0 && width <= LAYER_NORM_MAX_WIDTH;
}

/* layer_norm.cu: y[r] = (x[r] - mean) * rsqrt(var + eps) * scale + bias, biased variance, fp32 statistics.
 * layer_norm_width_ok(width). */
userec_status launch_layer_norm(const void *x, gpu_dtype x_type, int rows, int width, const float *scale,
                                const float *bias, float eps, void *y, gpu_dtype y_type, cudaStream_t stream,
                                userec_error *err);

/* attention.cu: multi-head self-attention over packed sentences of at most ATTENTION_MAX_LEN tokens.
 * qkv is [rows, 3*width] (q | k | v), ctx gets [rows, width], heads concatenated in order; both of type t.
 * q is scaled by 1/sqrt(depth) before the product, like the graph. max_len is the longest sentence of this
 * batch (it sizes shared memory). Head depth width/n_heads must be 32, 64 or 128. smem_limit is the shared
 * memory a block may take (gpu_smem_limit, kernels/check.h): the kernel keeps the values out of shared memory
 * when they do not fit in it, with the same result. */
#define ATTENTION_MAX_LEN 128
userec_status launch_attention(const void *qkv, const int32_t *starts, int n_sentences, int max_len, int width,
                               int n_heads, gpu_dtype t, size_t smem_limit, void *ctx, cudaStream_t stream,
                               userec_error *err);
/* Once per device, before any launch (and outside graph capture): lets the kernel take the shared memory a
 * max_len-token sentence needs; fails with USEREC_ERR_UNSUPPORTED when the depth, or the memory within
 * smem_limit, does not fit. Launches may then pass any smem_limit up to the device's. */
userec_status attention_prepare(int max_len, int width, int n_heads, gpu_dtype t, size_t smem_limit,
                                userec_error *err);

/* pool_head.cu: pooled[s] = mean of x's rows of sentence s (zeros for an empty one), x [rows, width]; the sums
 * run in fp32 whatever the storage types. */
userec_status launch_mean_pool(const void *x, gpu_dtype x_type, const int32_t *starts, int n_sentences, int width,
                               void *pooled, gpu_dtype pooled_type, cudaStream_t stream, userec_error *err);
/* pooled[s] = sum[s] converted to pooled_type, or zeros for an empty sentence (whose sum holds a bias). */
userec_status launch_pooled_finish(const float *sum, const int32_t *starts, int n_sentences, int width, void *pooled,
                                   gpu_dtype pooled_type, cudaStream_t stream, userec_error *err);
/* y[s] = tanh(y[s]) / max(||tanh(y[s])||, sqrt(l2_floor)), in place on fp32 [n, width]. */
userec_status launch_tanh_l2_normalize(float *y, int n, int width, float l2_floor, cudaStream_t stream,
                                       userec_error *err);

/* gemm.cu: y = x . W + b through cuBLASLt, the bias, ReLU and residual sum fused into its epilogue.
 * W is [in, out] (the .usew layout), b has y's type (cuBLASLt adds the bias in the output type). */
/* gemm_epilogue: cpu_gemm.h's, shared with the CPU path. */

typedef struct gemm_context gemm_context;

userec_status gemm_create(gemm_context **g, userec_error *err);
void gemm_destroy(gemm_context *g);
/* x is [rows, in] of the precision's activation type (fp32, or bf16 in bf16 mode), W likewise. */
userec_status gemm_run(gemm_context *g, userec_precision p, int rows, int in, int out, const void *x, const void *w,
                       const void *bias, void *y, gpu_dtype y_type, gemm_epilogue epilogue, cudaStream_t stream,
                       userec_error *err);

#ifdef __cplusplus
}
#endif
#endif
