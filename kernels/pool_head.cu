/* pool_head.cu: the sentence vector: masked mean over a sentence's rows (SPEC 1.6; the encoder pools the last
 * feed-forward block's hidden activations too, before its down-projection), then, after the head's product
 * (gemm.cu), tanh and L2 normalisation (SPEC 1.7-1.8). One block per sentence; the sums run in the
 * CPU path's order (rows in sequence, divide once) so fp32 pooling matches it exactly on equal inputs. */
#include "check.h"
#include "device_util.cuh"

#define POOL_THREADS 128

template <typename X, typename P>
__global__ void __launch_bounds__(POOL_THREADS)
    mean_pool_kernel(const X *x, const int32_t *starts, int width, P *pooled) {
    const int begin = starts[blockIdx.x], end = starts[blockIdx.x + 1];
    const float denom = (float)(end > begin ? end - begin : 1);
    for (int c = threadIdx.x; c < width; c += POOL_THREADS) {
        float sum = 0.f;
        for (int r = begin; r < end; r++) sum += to_float(x[(size_t)r * width + c]);
        pooled[(size_t)blockIdx.x * width + c] = from_float<P>(sum / denom);
    }
}

template <typename P>
__global__ void __launch_bounds__(POOL_THREADS)
    pooled_finish_kernel(const float *sum, const int32_t *starts, int width, P *pooled) {
    const bool empty = starts[blockIdx.x + 1] == starts[blockIdx.x];
    for (int c = threadIdx.x; c < width; c += POOL_THREADS) {
        const size_t i = (size_t)blockIdx.x * width + c;
        pooled[i] = from_float<P>(empty ? 0.f : sum[i]);
    }
}

__global__ void __launch_bounds__(POOL_THREADS) tanh_l2_kernel(float *y, int width, float l2_floor) {
    __shared__ float warp_sums[POOL_THREADS / 32];
    float *row = y + (size_t)blockIdx.x * width;
    float sq = 0.f;
    for (int c = threadIdx.x; c < width; c += POOL_THREADS) {
        const float t = tanhf(row[c]);
        row[c] = t;
        sq += t * t;
    }
    sq = warp_sum(sq);
    if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x / 32] = sq;
    __syncthreads();
    float total = 0.f;
#pragma unroll
    for (int w = 0; w < POOL_THREADS / 32; w++) total += warp_sums[w];
    const float inv = 1.0f / sqrtf(total > l2_floor ? total : l2_floor);
    for (int c = threadIdx.x; c < width; c += POOL_THREADS) row[c] *= inv; /* each thread rescales what it wrote */
}

extern "C" userec_status launch_mean_pool(const void *x, gpu_dtype x_type, const int32_t *starts, int n_sentences,
                                          int width, void *pooled, gpu_dtype pooled_type, cudaStream_t stream,
                                          userec_error *err) {
    if (n_sentences <= 0) return USEREC_OK;
    with_dtype(x_type, [&](auto xt) {
        using X = decltype(xt);
        with_dtype(pooled_type, [&](auto pt) {
            using P = decltype(pt);
            mean_pool_kernel<X, P><<<(unsigned)n_sentences, POOL_THREADS, 0, stream>>>(
                static_cast<const X *>(x), starts, width, static_cast<P *>(pooled));
        });
    });
    LAUNCH_CHECK(err, mean_pool_kernel);
    return USEREC_OK;
}

extern "C" userec_status launch_pooled_finish(const float *sum, const int32_t *starts, int n_sentences, int width,
                                              void *pooled, gpu_dtype pooled_type, cudaStream_t stream,
                                              userec_error *err) {
    if (n_sentences <= 0) return USEREC_OK;
    with_dtype(pooled_type, [&](auto pt) {
        using P = decltype(pt);
        pooled_finish_kernel<P><<<(unsigned)n_sentences, POOL_THREADS, 0, stream>>>(sum, starts, width,
                                                                                     static_cast<P *>(pooled));
    });
    LAUNCH_CHECK(err, pooled_finish_kernel);
    return USEREC_OK;
}

extern "C" userec_status launch_tanh_l2_normalize(float *y, int n, int width, float l2_floor, cudaStream_t stream,
                                                  userec_error *err) {
    if (n <= 0) return USEREC_OK;
    tanh_l2_kernel<<<(unsigned)n, POOL_THREADS, 0, stream>>>(y, width, l2_floor);
    LAUNCH_CHECK(err, tanh_l2_kernel);
    return USEREC_OK;
}
