/* device_util.cuh: what several kernels share: fp32 <-> storage-type conversion (float or bf16), 4-wide
 * loads and stores, warp reductions, and the dispatch from a run-time gpu_dtype to a template type. */
#ifndef USEREC_DEVICE_UTIL_CUH
#define USEREC_DEVICE_UTIL_CUH

#include <cuda_bf16.h>

#include "kernels.h"

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(bf16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float v) { return __float2bfloat16_rn(v); }

/* Four consecutive elements; p is 16-byte (float) or 8-byte (bf16) aligned. */
__device__ __forceinline__ float4 load4(const float *p) { return *reinterpret_cast<const float4 *>(p); }
__device__ __forceinline__ float4 load4(const bf16 *p) {
    const __nv_bfloat162 *pair = reinterpret_cast<const __nv_bfloat162 *>(p);
    const float2 lo = __bfloat1622float2(pair[0]), hi = __bfloat1622float2(pair[1]);
    return make_float4(lo.x, lo.y, hi.x, hi.y);
}
__device__ __forceinline__ void store4(float *p, float4 v) { *reinterpret_cast<float4 *>(p) = v; }
__device__ __forceinline__ void store4(bf16 *p, float4 v) {
    __nv_bfloat162 *pair = reinterpret_cast<__nv_bfloat162 *>(p);
    pair[0] = __floats2bfloat162_rn(v.x, v.y);
    pair[1] = __floats2bfloat162_rn(v.z, v.w);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Calls f(T{}) with T = float or bf16 as t says: one switch per launcher instead of one per call site. */
template <typename F> __host__ __forceinline__ void with_dtype(gpu_dtype t, F f) {
    if (t == GPU_BF16)
        f(bf16{});
    else
        f(float{});
}

#endif
