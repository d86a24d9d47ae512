/* attention.cu: multi-head self-attention over packed sentences, scores, softmax and the weighted sum fused.
 *
 * One block per (sentence, head). The block stages the head's keys and values in shared memory as fp32
 * (values stay in global memory, read through L1, when both do not fit the device: a 128-token sentence of
 * depth-128 heads needs 162 KiB with values, 98 KiB without, and sm_86, sm_89 and sm_120 parts allow 99 KiB
 * per block; the arithmetic, and so every bit of the result, is the same either way). Each warp then takes
 * ROWS query rows at a time and keeps a ROWS x KEYS_PER_LANE tile of scores in registers (lane l owns keys
 * l, l+32, l+64, l+96), so a key loaded from shared memory serves ROWS queries and a query value serves
 * KEYS_PER_LANE keys. Softmax runs on those registers with warp reductions, the
 * probabilities go to a per-warp row buffer, and the weighted sum gives each lane DEPTH/32 output channels.
 * Packing means every key of a sentence is real: no padding to mask, and no work on padding. The arithmetic
 * follows the CPU path (engine/cpu/cpu_attention.c): q scaled before the product, max-subtracted exp, p = e/sum. */
#include <type_traits>

#include "check.h"
#include "device_util.cuh"

#define ATTN_WARPS 8
#define ATTN_ROWS 4                                 /* query rows a warp works on together */
#define ATTN_KEYS_PER_LANE (ATTENTION_MAX_LEN / 32) /* key slots of a lane: 32 lanes cover 128 keys */

/* Shared memory of a block, in floats: keys (rows padded by 4 floats: a quarter-warp's 16-byte loads of
 * 8 different rows then hit 8 different bank groups), values (when staged), and each warp's queries and
 * probabilities. */
__host__ __device__ constexpr int attn_key_stride(int depth) { return depth + 4; }
__host__ __device__ constexpr size_t attn_smem_floats(int depth, int len, bool values_shared) {
    return (size_t)len * attn_key_stride(depth) + (values_shared ? (size_t)len * depth : 0) +
           ATTN_WARPS * ATTN_ROWS * depth + ATTN_WARPS * ATTN_ROWS * ATTENTION_MAX_LEN;
}

/* v = a lane's CPL consecutive values of a row (staged fp32, or the qkv buffer's type) as fp32. */
template <typename S, int CPL> __device__ __forceinline__ void lane_values(const S *row, float (&v)[CPL]) {
    if constexpr (CPL == 4) {
        const float4 v4 = load4(row);
        v[0] = v4.x, v[1] = v4.y, v[2] = v4.z, v[3] = v4.w;
    } else {
#pragma unroll
        for (int c = 0; c < CPL; c++) v[c] = to_float(row[c]);
    }
}

template <typename T, int DEPTH, bool V_SHARED>
__global__ void __launch_bounds__(ATTN_WARPS * 32)
    attention_kernel(const T *qkv, const int32_t *starts, int width, float scale, T *ctx) {
    constexpr int KS = attn_key_stride(DEPTH), CPL = DEPTH / 32; /* CPL: output channels per lane */
    const int begin = starts[blockIdx.x], len = starts[blockIdx.x + 1] - begin, head = blockIdx.y;
    if (len == 0) return;
    extern __shared__ float4 smem4[];
    float *k_s = reinterpret_cast<float *>(smem4), *v_s = k_s + (size_t)len * KS;
    float *warp_bufs = v_s + (V_SHARED ? (size_t)len * DEPTH : 0);
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
    float *q_w = warp_bufs + warp * ATTN_ROWS * DEPTH;
    float *p_w = warp_bufs + ATTN_WARPS * ATTN_ROWS * DEPTH + warp * ATTN_ROWS * ATTENTION_MAX_LEN;
    const size_t stride = 3 * (size_t)width;
    const T *q_g = qkv + (size_t)begin * stride + head * DEPTH, *k_g = q_g + width, *v_g = q_g + 2 * (size_t)width;

    for (int i = threadIdx.x; i < len * (DEPTH / 4); i += blockDim.x) {
        const int j = i / (DEPTH / 4), c = (i % (DEPTH / 4)) * 4;
        store4(k_s + j * KS + c, load4(k_g + j * stride + c));
        if constexpr (V_SHARED) store4(v_s + j * DEPTH + c, load4(v_g + j * stride + c));
    }
    __syncthreads();

    const int key_slots = (len + 31) / 32; /* warp-uniform: skips the slots no key reaches */
    int key_row[ATTN_KEYS_PER_LANE];       /* clamped so idle slots read a real row; their scores are dropped */
#pragma unroll
    for (int kk = 0; kk < ATTN_KEYS_PER_LANE; kk++) key_row[kk] = min(lane + 32 * kk, len - 1) * KS;

    for (int i0 = warp * ATTN_ROWS; i0 < len; i0 += ATTN_WARPS * ATTN_ROWS) {
        /* The graph scales q before the product (q *= 1/sqrt(depth)): same rounding as the CPU path. */
        for (int i = lane; i < ATTN_ROWS * (DEPTH / 4); i += 32) {
            const int r = i / (DEPTH / 4), c = (i % (DEPTH / 4)) * 4;
            float4 q = make_float4(0.f, 0.f, 0.f, 0.f);
            if (i0 + r < len) {
                q = load4(q_g + (size_t)(i0 + r) * stride + c);
                q = make_float4(q.x * scale, q.y * scale, q.z * scale, q.w * scale);
            }
            store4(q_w + r * DEPTH + c, q);
        }
        __syncwarp();

        float s[ATTN_ROWS][ATTN_KEYS_PER_LANE];
#pragma unroll
        for (int r = 0; r < ATTN_ROWS; r++)
#pragma unroll
            for (int kk = 0; kk < ATTN_KEYS_PER_LANE; kk++) s[r][kk] = 0.f;
#pragma unroll 4
        for (int c = 0; c < DEPTH; c += 4) {
            float4 q[ATTN_ROWS];
#pragma unroll
            for (int r = 0; r < ATTN_ROWS; r++) q[r] = load4(q_w + r * DEPTH + c);
#pragma unroll
            for (int kk = 0; kk < ATTN_KEYS_PER_LANE; kk++)
                if (kk < key_slots) {
                    const float4 k = load4(k_s + key_row[kk] + c);
#pragma unroll
                    for (int r = 0; r < ATTN_ROWS; r++)
                        s[r][kk] = fmaf(q[r].w, k.w, fmaf(q[r].z, k.z, fmaf(q[r].y, k.y, fmaf(q[r].x, k.x, s[r][kk]))));
                }
        }

#pragma unroll
        for (int r = 0; r < ATTN_ROWS; r++) {
            float max = -INFINITY;
#pragma unroll
            for (int kk = 0; kk < ATTN_KEYS_PER_LANE; kk++)
                if (lane + 32 * kk < len) max = fmaxf(max, s[r][kk]);
            max = warp_max(max);
            float sum = 0.f;
#pragma unroll
            for (int kk = 0; kk < ATTN_KEYS_PER_LANE; kk++) {
                s[r][kk] = lane + 32 * kk < len ? expf(s[r][kk] - max) : 0.f;
                sum += s[r][kk];
            }
            sum = warp_sum(sum);
#pragma unroll
            for (int kk = 0; kk < ATTN_KEYS_PER_LANE; kk++)
                if (lane + 32 * kk < len) p_w[r * ATTENTION_MAX_LEN + lane + 32 * kk] = s[r][kk] / sum;
        }
        __syncwarp();

        float o[ATTN_ROWS][CPL];
#pragma unroll
        for (int r = 0; r < ATTN_ROWS; r++)
#pragma unroll
            for (int c = 0; c < CPL; c++) o[r][c] = 0.f;
        for (int j = 0; j < len; j++) {
            float v[CPL]; /* the same fp32 values from shared or from global memory */
            if constexpr (V_SHARED)
                lane_values(v_s + j * DEPTH + lane * CPL, v);
            else
                lane_values(v_g + j * stride + lane * CPL, v);
#pragma unroll
            for (int r = 0; r < ATTN_ROWS; r++) {
                const float p = p_w[r * ATTENTION_MAX_LEN + j];
#pragma unroll
                for (int c = 0; c < CPL; c++) o[r][c] = fmaf(p, v[c], o[r][c]);
            }
        }
#pragma unroll
        for (int r = 0; r < ATTN_ROWS; r++)
            if (i0 + r < len) {
                T *out = ctx + (size_t)(begin + i0 + r) * width + head * DEPTH + lane * CPL;
                if constexpr (CPL == 4) {
                    store4(out, make_float4(o[r][0], o[r][1], o[r][2], o[r][3]));
                } else {
#pragma unroll
                    for (int c = 0; c < CPL; c++) out[c] = from_float<T>(o[r][c]);
                }
            }
        __syncwarp(); /* q_w and p_w are rewritten by the next group of rows */
    }
}

/* Calls f(std::integral_constant<int, DEPTH>) for the head depths the kernel is built for; false otherwise. */
template <typename F> static bool with_depth(int depth, F f) {
    switch (depth) {
    case 32: f(std::integral_constant<int, 32>{}); return true;
    case 64: f(std::integral_constant<int, 64>{}); return true;
    case 128: f(std::integral_constant<int, 128>{}); return true;
    }
    return false;
}

static userec_status check_shape(int max_len, int width, int n_heads, userec_error *err) {
    if (n_heads <= 0 || width % n_heads || (width / n_heads) % 32 || width / n_heads > 128)
        return set_error(err, USEREC_ERR_UNSUPPORTED,
                         "attention: width %d over %d heads: the CUDA kernel takes head depths of 32, 64 or 128",
                         width, n_heads);
    if (max_len > ATTENTION_MAX_LEN)
        return set_error(err, USEREC_ERR_UNSUPPORTED, "attention: sentences of %d tokens; the CUDA kernel takes %d",
                         max_len, ATTENTION_MAX_LEN);
    return USEREC_OK;
}

/* The variant that leaves values in global memory is built only for the head depths that need it: those whose
 * keys and values of a 128-token sentence outgrow the smallest shared memory per block of the cards the build
 * serves (99 KiB on 8.6, 8.9 and 12.x), i.e. depth 128. Fewer kernels, a shorter build. */
#define ATTN_SMALLEST_SMEM 101376
__host__ __device__ constexpr bool has_global_values(int depth) {
    return attn_smem_floats(depth, ATTENTION_MAX_LEN, true) * sizeof(float) > ATTN_SMALLEST_SMEM;
}

/* The least shared memory a max_len-token batch of this depth can run with. */
static size_t least_smem(int depth, int max_len) {
    return attn_smem_floats(depth, max_len, !has_global_values(depth)) * sizeof(float);
}

/* Values go to shared memory when everything fits in smem_limit bytes; else they stay in global memory. */
static bool values_shared(int depth, int max_len, size_t smem_limit) {
    return attn_smem_floats(depth, max_len, true) * sizeof(float) <= smem_limit;
}

/* Calls f(kernel, values_shared) for each variant of attention_kernel<T, depth>. */
template <typename F> static void with_variants(gpu_dtype t, int depth, F f) {
    with_dtype(t, [&](auto tt) {
        with_depth(depth, [&](auto d) {
            using T = decltype(tt);
            f(attention_kernel<T, d(), true>, true);
            if constexpr (has_global_values(d())) f(attention_kernel<T, d(), false>, false);
        });
    });
}

static userec_status too_little_smem(int max_len, int depth, size_t smem_limit, userec_error *err) {
    return set_error(err, USEREC_ERR_UNSUPPORTED,
                     "attention: %d-token sentences of head depth %d need %zu bytes of shared memory, the device "
                     "allows %zu", max_len, depth, least_smem(depth, max_len), smem_limit);
}

extern "C" userec_status attention_prepare(int max_len, int width, int n_heads, gpu_dtype t, size_t smem_limit,
                                           userec_error *err) {
    userec_status st = check_shape(max_len, width, n_heads, err);
    if (st) return st;
    const int depth = width / n_heads;
    if (least_smem(depth, max_len) > smem_limit) return too_little_smem(max_len, depth, smem_limit, err);
    int device, optin;
    CUDA_CHECK(err, cudaGetDevice(&device));
    CUDA_CHECK(err, cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    /* What the device allows, so that launches with any smem_limit up to the device's fit. */
    cudaError_t e = cudaSuccess;
    with_variants(t, depth, [&](auto kernel, bool v_shared) {
        const size_t bytes = attn_smem_floats(depth, max_len, v_shared) * sizeof(float);
        if (e == cudaSuccess)
            e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     (int)(bytes < (size_t)optin ? bytes : (size_t)optin));
    });
    CUDA_CHECK(err, e);
    return USEREC_OK;
}

extern "C" userec_status launch_attention(const void *qkv, const int32_t *starts, int n_sentences, int max_len,
                                          int width, int n_heads, gpu_dtype t, size_t smem_limit, void *ctx,
                                          cudaStream_t stream, userec_error *err) {
    userec_status st = check_shape(max_len, width, n_heads, err);
    if (st) return st;
    if (n_sentences <= 0 || max_len <= 0) return USEREC_OK;
    const int depth = width / n_heads;
    const float scale = 1.0f / sqrtf((float)depth);
    const dim3 grid((unsigned)n_sentences, (unsigned)n_heads);
    const bool v_shared = values_shared(depth, max_len, smem_limit);
    const size_t bytes = attn_smem_floats(depth, max_len, v_shared) * sizeof(float);
    bool launched = false;
    with_dtype(t, [&](auto tt) {
        with_depth(depth, [&](auto d) {
            using T = decltype(tt);
            const T *in = static_cast<const T *>(qkv);
            T *out = static_cast<T *>(ctx);
            if (v_shared) {
                attention_kernel<T, d(), true><<<grid, ATTN_WARPS * 32, bytes, stream>>>(in, starts, width, scale, out);
                launched = true;
            } else if constexpr (has_global_values(d())) {
                attention_kernel<T, d(), false><<<grid, ATTN_WARPS * 32, bytes, stream>>>(in, starts, width, scale, out);
                launched = true;
            }
        });
    });
    if (!launched) return too_little_smem(max_len, depth, smem_limit, err); /* attention_prepare said so already */
    LAUNCH_CHECK(err, attention_kernel);
    return USEREC_OK;
}
