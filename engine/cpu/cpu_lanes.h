/* cpu_lanes.h: the element-wise, reduction and packing code of the CPU forward pass, written once in plain C and
 * included by each cpu_kernels_<isa>.c, which the compiler vectorises for that file's ISA. Written so that
 * vectorising cannot change a bit: a row's reduction runs in CPU_LANES independent partial sums (element c
 * into lane c % CPU_LANES, in ascending c), folded pairwise at the end (lane l += lane l + 8, then + 4, + 2,
 * + 1); nothing is reassociated, and fmas are only where fmaf is written (-ffp-contract=off). 16 lanes are one
 * AVX-512 register, two AVX2 ones, four SSE ones. */
#ifndef USEREC_CPU_LANES_H
#define USEREC_CPU_LANES_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CPU_LANES 16

static inline float lanes_fold(float *lanes) {
    for (int width = CPU_LANES / 2; width; width /= 2)
        for (int l = 0; l < width; l++) lanes[l] += lanes[l + width];
    return lanes[0];
}

/* e^x for x <= 0 (softmax's shifted scores): Cephes' expf (x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial
 * for e^r, then 2^n into the exponent bits), about 1 ULP from expf; 0 where e^x is below the normal floats
 * (x < -87.3), which expf would give as a denormal. Written for the vectoriser: no branch and no conditional
 * float operation (which AVX2, without masks, could not if-convert): the clamp compares bit patterns as integers,
 * floor is the truncated integer less the comparison (exact: |t| < 2^23 here), underflow masks the result's bits. */
static inline float exp_nonpositive(float x) {
    const float lowest = -87.33654f; /* ln of the smallest normal float */
    /* Bit patterns with the sign bit flipped order +0 < -0 < the negative floats by magnitude as signed integers
     * (signed: AVX2 has no unsigned compare). */
    int32_t key, key_lowest;
    memcpy(&key, &x, sizeof x);
    memcpy(&key_lowest, &lowest, sizeof lowest);
    key ^= INT32_MIN, key_lowest ^= INT32_MIN;
    const int underflow = key > key_lowest;          /* x < lowest (or -inf) */
    key = (key < key_lowest ? key : key_lowest) ^ INT32_MIN; /* 2^n stays a normal float, n >= -126 */
    memcpy(&x, &key, sizeof x);
    const float t = fmaf(x, 1.44269504088896341f, 0.5f);
    const int32_t truncated = (int32_t)t, floor_t = truncated - ((float)truncated > t);
    const float n = (float)floor_t;
    float r = fmaf(-n, 0.693359375f, x); /* ln2 in two parts: r stays exact */
    r = fmaf(-n, -2.12194440e-4f, r);
    float y = 1.9875691500e-4f;
    y = fmaf(y, r, 1.3981999507e-3f);
    y = fmaf(y, r, 8.3334519073e-3f);
    y = fmaf(y, r, 4.1665795894e-2f);
    y = fmaf(y, r, 1.6666665459e-1f);
    y = fmaf(y, r, 5.0000001201e-1f);
    y = fmaf(y, r * r, r + 1.0f);
    const int32_t bits = (floor_t + 127) * (1 << 23);
    float scale, e;
    memcpy(&scale, &bits, sizeof scale);
    e = y * scale;
    int32_t bits_e; /* 0 where e^x underflows: the bits masked, so that no float operation is conditional */
    memcpy(&bits_e, &e, sizeof e);
    bits_e &= underflow - 1;
    memcpy(&e, &bits_e, sizeof e);
    return e;
}

/* A row's last n % CPU_LANES values, zero-padded to a whole group of lanes: the loops over whole groups then
 * have a constant trip count per group and vectorise into registers (a tail loop that adds into the lanes kept
 * them in memory and ran 3x slower). Adding a padding +0 leaves a lane as it was: a lane is never -0 (it starts
 * at +0, and round-to-nearest sums are -0 only when both terms are). */
static inline size_t lanes_tail(const float *x, size_t n, float tail[CPU_LANES]) {
    const size_t whole = n / CPU_LANES * CPU_LANES;
    memset(tail, 0, CPU_LANES * sizeof *tail);
    memcpy(tail, x + whole, (n - whole) * sizeof *x);
    return whole;
}

/* cpu_kernels.exp_shifted. A lane that gets no element of a short tail adds nothing (lanes_tail). */
static inline float lanes_exp_shifted(float *x, size_t n, float shift) {
    float lanes[CPU_LANES] = {0}, tail[CPU_LANES];
    const size_t whole = lanes_tail(x, n, tail);
    for (size_t j = 0; j < whole; j += CPU_LANES)
        for (int l = 0; l < CPU_LANES; l++) lanes[l] += x[j + l] = exp_nonpositive(x[j + l] - shift);
    for (size_t l = 0; whole + l < n; l++) lanes[l] += x[whole + l] = exp_nonpositive(tail[l] - shift);
    return lanes_fold(lanes);
}

/* A row's mean and 1 / sqrt(biased variance + eps), in the lanes' order: layer norm's statistics. */
static inline void lanes_row_stats(const float *x, uint32_t w, float eps, float *mean_out, float *inv_out) {
    float lanes[CPU_LANES] = {0}, tail[CPU_LANES];
    const size_t whole = lanes_tail(x, w, tail);
    for (size_t c = 0; c < whole; c += CPU_LANES)
        for (int l = 0; l < CPU_LANES; l++) lanes[l] += x[c + l];
    for (int l = 0; l < CPU_LANES; l++) lanes[l] += tail[l];
    const float mean = lanes_fold(lanes) / (float)w;
    memset(lanes, 0, sizeof lanes);
    for (size_t c = 0; c < whole; c += CPU_LANES)
        for (int l = 0; l < CPU_LANES; l++) lanes[l] += (x[c + l] - mean) * (x[c + l] - mean);
    for (size_t l = 0; whole + l < w; l++) lanes[l] += (tail[l] - mean) * (tail[l] - mean);
    *mean_out = mean;
    *inv_out = 1.0f / sqrtf(lanes_fold(lanes) / (float)w + eps);
}

/* cpu_kernels.layer_norm_row: the row's statistics, then one pass of element-wise arithmetic in the graph's
 * order ((x - mean) * inv * scale + bias). */
static inline void lanes_layer_norm_row(const float *x, uint32_t w, const float *scale, const float *bias, float eps,
                                        float *y) {
    float mean, inv;
    lanes_row_stats(x, w, eps, &mean, &inv);
    for (size_t c = 0; c < w; c++) y[c] = (x[c] - mean) * inv * scale[c] + bias[c];
}

/* gemm_kernel.pack_rows for fp32: rows [0, n) of src (row stride ld), columns [k0, k0 + kc), into panels of
 * `width` rows, each panel k-major ([kc][width]) and panel_stride floats apart; rows past n are zeros. */
static inline void lanes_pack_rows(const float *src, size_t n, size_t ld, size_t k0, size_t kc, size_t width,
                            size_t panel_stride, void *dst_panels) {
    float *dst = dst_panels;
    for (size_t p0 = 0; p0 < n; p0 += width, dst += panel_stride)
        for (size_t r = 0; r < width; r++) {
            if (p0 + r < n) {
                const float *row = src + (p0 + r) * ld + k0;
                for (size_t k = 0; k < kc; k++) dst[k * width + r] = row[k];
            } else {
                for (size_t k = 0; k < kc; k++) dst[k * width + r] = 0.0f;
            }
        }
}

/* cpu_kernels.fma_probe for one ISA: 12 independent chains acc = fma(acc, scale, shift) of the ISA's widest
 * vector (lanes floats; splat makes one, first reads lane 0), more chains than fma latency x pipes, so every
 * fma unit is busy every cycle; nothing touches memory. Returns the FLOPs done. */
#define FMA_PROBE(vector, lanes, splat, fma, first)                                                                    \
    static double fma_probe(long steps) {                                                                              \
        vector acc[12];                                                                                                \
        const vector scale = splat(0.999999f), shift = splat(1e-7f);                                                   \
        for (int i = 0; i < 12; i++) acc[i] = splat((float)i);                                                         \
        for (long s = 0; s < steps; s++)                                                                               \
            _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) acc[i] = fma(acc[i], scale, shift);                 \
        float total = 0;                                                                                               \
        for (int i = 0; i < 12; i++) total += first(acc[i]);                                                           \
        volatile float sink = total; /* the chains' results are used: they cannot be optimised away */               \
        (void)sink;                                                                                                    \
        return 2.0 * (lanes) * 12 * (double)steps;                                                                     \
    }

#endif
