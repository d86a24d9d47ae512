/* embed.cu: the encoder's input rows. For position p of a sentence with token id t,
 * x0 = (E[t] + PE[p]) + E[t] (SPEC 1.3: the graph adds the embedding to embedding + timing signal), and the
 * first layer's pre-norm h = LN(x0), computed from the same fp32 registers instead of a second pass over x0.
 * One block per sentence, one warp per position. */
#include "check.h"
#include "layer_norm.cuh"

#define EMBED_WARPS 4

template <typename X0, typename H>
__global__ void __launch_bounds__(EMBED_WARPS * 32)
    embed_norm_kernel(const int32_t *ids, const int32_t *starts, int width, const float *table, const float *timing,
                      const float *scale, const float *bias, float eps, X0 *x0, H *h) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
    const int begin = starts[blockIdx.x], len = starts[blockIdx.x + 1] - begin;
    const int chunks = width / 128;
    for (int p = warp; p < len; p += EMBED_WARPS) {
        const size_t row = (size_t)begin + p;
        const float *e = table + (size_t)ids[row] * width, *pe = timing + (size_t)p * width;
        float4 v[LN_MAX_CHUNKS];
#pragma unroll
        for (int k = 0; k < LN_MAX_CHUNKS; k++)
            if (k < chunks) {
                const int c = ln_column(k, lane);
                const float4 a = load4(e + c), t = load4(pe + c);
                v[k] = make_float4((a.x + t.x) + a.x, (a.y + t.y) + a.y, (a.z + t.z) + a.z, (a.w + t.w) + a.w);
                store4(x0 + row * width + c, v[k]);
            }
        warp_layer_norm(v, width, scale, bias, eps, lane);
#pragma unroll
        for (int k = 0; k < LN_MAX_CHUNKS; k++)
            if (k < chunks) store4(h + row * width + ln_column(k, lane), v[k]);
    }
}

extern "C" userec_status launch_embed_norm(const int32_t *ids, const int32_t *starts, int n_sentences, int width,
                                           const float *table, const float *timing, const float *ln_scale,
                                           const float *ln_bias, float ln_eps, void *x0, gpu_dtype x0_type, void *h,
                                           gpu_dtype h_type, cudaStream_t stream, userec_error *err) {
    if (!layer_norm_width_ok(width))
        return set_error(err, USEREC_ERR_UNSUPPORTED, "embedding: width %d is not a multiple of 128 up to %d",
                         width, LAYER_NORM_MAX_WIDTH);
    if (n_sentences <= 0) return USEREC_OK;
    with_dtype(x0_type, [&](auto xt) {
        with_dtype(h_type, [&](auto ht) {
            using X0 = decltype(xt);
            using H = decltype(ht);
            embed_norm_kernel<X0, H><<<(unsigned)n_sentences, EMBED_WARPS * 32, 0, stream>>>(
                ids, starts, width, table, timing, ln_scale, ln_bias, ln_eps, static_cast<X0 *>(x0),
                static_cast<H *>(h));
        });
    });
    LAUNCH_CHECK(err, embed_norm_kernel);
    return USEREC_OK;
}
