/* cpu_gemm.h: the CPU's fp32 matrix products, BLIS-style. One register-blocked micro-kernel (GEMM_MR x GEMM_NR
 * outputs) serves both the encoder's dense layers and the top-k score tiles. Each output is one fma chain in
 * ascending k: out = fma(a[K-1], b[K-1], ... fma(a[0], b[0], init)), so a result depends only on its own row
 * and column, never on where they sit in the product (batch invariance, exact ties in top-k). */
#ifndef USEREC_CPU_GEMM_H
#define USEREC_CPU_GEMM_H

#include <stddef.h>
#include <stdint.h>

#define GEMM_MR 6   /* rows of a micro-tile: 12 accumulators + 2 B vectors + 1 broadcast fill AVX2's 16 registers */
#define GEMM_NR 16  /* columns of a micro-tile: two 8-float vectors */
#define GEMM_KC 256 /* k steps per pass: a GEMM_NR panel of B (16 KiB) stays in L1 while A micro-panels stream */

/* n rounded up to a multiple of `to`: the sizes of packed operands, whole panels and tiles. */
static inline size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* Copies rows [0, n) of src (row stride ld), columns [k0, k0 + kc), into panels of `width` rows, each panel
 * k-major ([kc][width]) and panel_stride floats apart; rows past n are zeros. */
void gemm_pack_rows(const float *src, size_t n, size_t ld, size_t k0, size_t kc, size_t width, size_t panel_stride,
                    float *dst);

/* Copies rows [0, k) of src (row stride ld), columns [0, n), into panels of GEMM_NR columns, each panel k-major
 * ([k][GEMM_NR]) and k * GEMM_NR floats apart; columns past n are zeros. */
void gemm_pack_cols(const float *src, size_t k, size_t ld, size_t n, float *dst);

/* c (GEMM_MR x GEMM_NR, row stride ldc) = relu?(init + sum_k a[k][i] * b[k][j]) over a's and b's kc packed
 * steps, where init = (load_c ? c : 0) + (bias ? bias[j] : 0). */
void gemm_micro_kernel(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c, const float *bias,
                       int relu);

/* c (rows x cols, row stride ldc) = relu?(init + a . b) over kc steps, init as the micro-kernel's (bias: one per
 * column). a is packed by gemm_pack_rows (GEMM_MR panels, kc * GEMM_MR floats apart), b in GEMM_NR panels that
 * start b_panel_stride floats apart. Partial tiles at the edges go through a scratch tile. */
void gemm_packed(size_t rows, size_t cols, size_t kc, const float *a, const float *b, size_t b_panel_stride, float *c,
                 size_t ldc, int load_c, const float *bias, int relu);

/* A dense layer's weights repacked once (at model load) for the micro-kernel: ceil(out / GEMM_NR) panels of
 * [in][GEMM_NR], then the bias padded to a whole panel. Zeros pad the last panel. */
typedef struct {
    float *panels; /* one 64-byte aligned allocation, owned; NULL when packing failed */
    const float *bias;
    uint32_t in, out;
} gemm_weights;

/* w is [in, out] row-major, b [out]. Returns -1 when out of memory. */
int gemm_weights_pack(const float *w, const float *b, uint32_t in, uint32_t out, gemm_weights *packed);
void gemm_weights_free(gemm_weights *packed);

/* What a dense layer does with its product; the GPU's cuBLASLt epilogues take the same values. */
typedef enum {
    GEMM_BIAS,      /* y = x . W + b */
    GEMM_BIAS_RELU, /* y = relu(x . W + b) */
    GEMM_BIAS_ADD,  /* y += x . W + b (the residual stream already in y) */
} gemm_epilogue;

/* y = epilogue(x . W + b) for rows rows of x ([rows, W.in], row-major) into y ([rows, W.out]), on all OpenMP
 * threads. Returns -1 when the threads' packing buffers cannot be had (y is then incomplete). */
int gemm_dense(const float *x, size_t rows, const gemm_weights *w, float *y, gemm_epilogue epilogue);

/* The feed-forward block, y += relu(x . up + b_up) . down + b_down, a block of rows at a time: the hidden
 * activations ([block, up.out]) stay in the thread's cache instead of making a round trip through memory.
 * The same bits as the two gemm_dense calls. Returns -1 when out of memory (y is then incomplete). */
int gemm_mlp(const float *x, size_t rows, const gemm_weights *up, const gemm_weights *down, float *y);

/* pooled[s] = the mean of relu(x . W + b) over the rows starts[s] .. starts[s+1] of sentence s (zeros for an
 * empty one), for n sentences: a feed-forward block's first product straight into per-sentence means, a block
 * of rows at a time, so its hidden activations ([rows, W.out]) never leave the thread's cache. The same bits as
 * gemm_dense(.., GEMM_BIAS_RELU) then cpu_mean_pool. Returns -1 when out of memory (pooled is then incomplete). */
int gemm_relu_mean(const float *x, const size_t *starts, size_t n, const gemm_weights *w, float *pooled);

/* The CPU's arithmetic ceiling in GFLOP/s: the best of repeats runs of an fma-only probe on every OpenMP thread
 * (cpu_peak.c). */
double cpu_fma_peak_gflops(int repeats);

#endif
