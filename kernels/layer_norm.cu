/* layer_norm.cu: the pre-norms of the attention and feed-forward blocks: one warp per row, fp32 statistics,
 * input and output in the storage type of their buffers (fp32 residual stream in, GEMM input type out). */
#include "check.h"
#include "layer_norm.cuh"

#define LN_ROWS_PER_BLOCK 8

template <typename X, typename Y>
__global__ void __launch_bounds__(LN_ROWS_PER_BLOCK * 32)
    layer_norm_kernel(const X *x, int rows, int width, const float *scale, const float *bias, float eps, Y *y) {
    const int lane = threadIdx.x & 31, row = blockIdx.x * LN_ROWS_PER_BLOCK + threadIdx.x / 32;
    if (row >= rows) return;
    const X *in = x + (size_t)row * width;
    Y *out = y + (size_t)row * width;
    const int chunks = width / 128;
    float4 v[LN_MAX_CHUNKS];
#pragma unroll
    for (int k = 0; k < LN_MAX_CHUNKS; k++)
        if (k < chunks) v[k] = load4(in + ln_column(k, lane));
    warp_layer_norm(v, width, scale, bias, eps, lane);
#pragma unroll
    for (int k = 0; k < LN_MAX_CHUNKS; k++)
        if (k < chunks) store4(out + ln_column(k, lane), v[k]);
}

extern "C" userec_status launch_layer_norm(const void *x, gpu_dtype x_type, int rows, int width, const float *scale,
                                           const float *bias, float eps, void *y, gpu_dtype y_type,
                                           cudaStream_t stream, userec_error *err) {
    if (!layer_norm_width_ok(width))
        return set_error(err, USEREC_ERR_UNSUPPORTED, "layer norm: width %d is not a multiple of 128 up to %d",
                         width, LAYER_NORM_MAX_WIDTH);
    if (rows <= 0) return USEREC_OK;
    const unsigned blocks = (unsigned)((rows + LN_ROWS_PER_BLOCK - 1) / LN_ROWS_PER_BLOCK);
    with_dtype(x_type, [&](auto xt) {
        with_dtype(y_type, [&](auto yt) {
            using X = decltype(xt);
            using Y = decltype(yt);
            layer_norm_kernel<X, Y><<<blocks, LN_ROWS_PER_BLOCK * 32, 0, stream>>>(
                static_cast<const X *>(x), rows, width, scale, bias, eps, static_cast<Y *>(y));
        });
    });
    LAUNCH_CHECK(err, layer_norm_kernel);
    return USEREC_OK;
}
