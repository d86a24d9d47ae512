/* layer_norm.cuh: layer normalisation of one row held in a warp's registers, shared by the layer-norm kernel
 * and the embedding kernel (which normalises the rows it has just built, without a trip through memory). */
#ifndef USEREC_LAYER_NORM_CUH
#define USEREC_LAYER_NORM_CUH

#include "device_util.cuh"

/* A row of width w is held as w/128 float4 chunks per lane: chunk k of a lane holds elements
 * (k*32 + lane)*4 .. +3, so each load of the warp reads 512 consecutive bytes (fp32). */
#define LN_MAX_CHUNKS (LAYER_NORM_MAX_WIDTH / 128)

__device__ __forceinline__ int ln_column(int k, int lane) { return (k * 32 + lane) * 4; }

/* v = (v - mean) * rsqrt(var + eps) * scale + bias with the biased variance, in fp32 like the CPU path:
 * the mean first, then the variance of the centred values (no E[x^2] - mean^2 cancellation). */
__device__ __forceinline__ void warp_layer_norm(float4 (&v)[LN_MAX_CHUNKS], int width, const float *scale,
                                                const float *bias, float eps, int lane) {
    const int chunks = width / 128;
    float sum = 0;
#pragma unroll
    for (int k = 0; k < LN_MAX_CHUNKS; k++)
        if (k < chunks) sum += (v[k].x + v[k].y) + (v[k].z + v[k].w);
    const float mean = warp_sum(sum) / (float)width;
    float sq = 0;
#pragma unroll
    for (int k = 0; k < LN_MAX_CHUNKS; k++)
        if (k < chunks) {
            const float a = v[k].x - mean, b = v[k].y - mean, c = v[k].z - mean, d = v[k].w - mean;
            sq += (a * a + b * b) + (c * c + d * d);
        }
    const float inv = 1.0f / sqrtf(warp_sum(sq) / (float)width + eps);
#pragma unroll
    for (int k = 0; k < LN_MAX_CHUNKS; k++)
        if (k < chunks) {
            const int c = ln_column(k, lane);
            const float4 g = load4(scale + c), b = load4(bias + c);
            v[k] = make_float4((v[k].x - mean) * inv * g.x + b.x, (v[k].y - mean) * inv * g.y + b.y,
                               (v[k].z - mean) * inv * g.z + b.z, (v[k].w - mean) * inv * g.w + b.w);
        }
}

#endif
