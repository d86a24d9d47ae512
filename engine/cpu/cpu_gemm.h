/* cpu_gemm.h: the CPU's matrix products, BLIS-style. A register-blocked micro-kernel per ISA (cpu_kernels.h)
 * serves both the encoder's dense layers and the top-k score tiles. In fp32 each output is one fma chain in
 * ascending k: out = fma(a[K-1], b[K-1], ... fma(a[0], b[0], init)), so a result depends only on its own row
 * and column, never on where they sit in the product nor on the ISA (batch invariance, exact ties in top-k,
 * the same vectors on every CPU). bf16 weights (gemm_weights_pack_bf16) trade that for speed where the CPU has
 * avx512_bf16: products of bf16-rounded operands summed in fp32, still independent of the row's position. */
#ifndef USEREC_CPU_GEMM_H
#define USEREC_CPU_GEMM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu/cpu_kernels.h"

#define GEMM_NR 16     /* columns of a packed B panel, for every ISA: the weights are packed once */
#define GEMM_MC 72     /* rows per block: a multiple of every kernel's mr; its packed rows stay in L2 */
#define GEMM_MAX_MR 12 /* the largest micro-tile of any kernel */
#define GEMM_MAX_NR 32

/* n rounded up to a multiple of `to`: the sizes of packed operands, whole panels and tiles. */
static inline size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* fp32 to bf16, rounded to nearest even (NaN stays NaN). */
static inline uint16_t gemm_bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(u >> 16 | 0x40);
    return (uint16_t)((u + 0x7fffu + (u >> 16 & 1)) >> 16);
}

/* Copies rows [0, k) of src (row stride ld), columns [0, n), into panels of GEMM_NR columns, each panel k-major
 * ([k][GEMM_NR]) and k * GEMM_NR floats apart; columns past n are zeros. */
void gemm_pack_cols(const float *src, size_t k, size_t ld, size_t n, float *dst);

/* c (rows x cols, row stride ldc) = relu?(init + a . b) over kc k values, init as the micro-kernel's (bias: one
 * per column). a is packed by g->pack_rows (g->mr-row panels, kc * g->mr elements apart), b in GEMM_NR panels
 * that start b_panel_stride elements apart. Partial tiles at the edges go through a scratch tile. */
void gemm_packed(const gemm_kernel *g, size_t rows, size_t cols, size_t kc, const void *a, const void *b,
                 size_t b_panel_stride, float *c, size_t ldc, int load_c, const float *bias, int relu);

/* A dense layer's weights repacked once for the micro-kernels: ceil(out / GEMM_NR) panels of [in][GEMM_NR]
 * (fp32) or [in/2][GEMM_NR][2] (bf16, in rounded up to even), then the fp32 bias padded to a whole panel. Zeros
 * pad the last panel. */
typedef struct {
    void *panels; /* one 64-byte aligned allocation, owned; NULL when packing failed */
    const float *bias;
    uint32_t in, out;
    int bf16; /* panels hold bf16 pairs: the products need the kernels' bf16 gemm_kernel */
} gemm_weights;

/* w is [in, out] row-major, b [out]. Returns -1 when out of memory. */
int gemm_weights_pack(const float *w, const float *b, uint32_t in, uint32_t out, gemm_weights *packed);
int gemm_weights_pack_bf16(const float *w, const float *b, uint32_t in, uint32_t out, gemm_weights *packed);
void gemm_weights_free(gemm_weights *packed);

/* What a dense layer does with its product; the GPU's cuBLASLt epilogues take the same values. */
typedef enum {
    GEMM_BIAS,      /* y = x . W + b */
    GEMM_BIAS_RELU, /* y = relu(x . W + b) */
    GEMM_BIAS_ADD,  /* y += x . W + b (the residual stream already in y) */
} gemm_epilogue;

/* A layer norm the products below apply to each row of x as they pack it, so that the normalised rows stay in
 * the thread's cache instead of making a round trip through memory: the bits of cpu_layer_norm (k's
 * layer_norm_row) then the product. NULL where a product takes x as it is. */
typedef struct {
    const float *scale, *bias; /* W.in each */
    float eps;
} gemm_norm;

/* y = epilogue(norm?(x) . W + b) for rows rows of x ([rows, W.in], row-major) into y ([rows, W.out]), on all
 * OpenMP threads, with k's kernels (bf16 weights need k->bf16). Returns -1 when the threads' scratch buffers
 * cannot be had (y is then incomplete). */
int gemm_dense(const cpu_kernels *k, const float *x, size_t rows, const gemm_norm *norm, const gemm_weights *w,
               float *y, gemm_epilogue epilogue);

/* Layer 0's feed-forward block with its layer norm and up-projection folded through the attention's output
 * projection (layer0_tables.h): the up product's input x is the attention's ctx rows, not the normalised
 * residual; hidden row r starts from (token_rows[r][c] + token_rows[r][c]) + position_rows[r][c] instead of
 * the up bias, and leaves the product as relu((h - mean * colsum[c]) * inv + shift[c]), mean and inv the layer
 * norm's statistics of y's row r (the residual stream before the block). */
typedef struct {
    const float *const *token_rows, *const *position_rows; /* one pointer each per row of x */
    const float *colsum, *shift;                             /* up.out each */
    float eps;
} gemm_fold;

/* The feed-forward block, y += relu(norm?(x) . up + b_up) . down + b_down, or the folded block above when fold
 * is given (norm is then NULL, and y is not x), a block of rows at a time: the hidden activations
 * ([block, up.out]) stay in the thread's cache instead of making a round trip through memory. y may be x (each
 * block reads its rows before writing them). Without fold, the same bits as the two gemm_dense calls. Returns -1
 * when out of memory (y is then incomplete). */
int gemm_mlp(const cpu_kernels *k, const float *x, size_t rows, const gemm_norm *norm, const gemm_fold *fold,
             const gemm_weights *up, const gemm_weights *down, float *y);

/* pooled[s] = the mean of relu(norm?(x) . W + b) over the rows starts[s] .. starts[s+1] of sentence s (zeros for
 * an empty one), for n sentences: a feed-forward block's first product straight into per-sentence means, a block
 * of rows at a time, so its hidden activations ([rows, W.out]) never leave the thread's cache. The same bits as
 * gemm_dense(.., GEMM_BIAS_RELU) then cpu_mean_pool. Returns -1 when out of memory (pooled is then incomplete). */
int gemm_relu_mean(const cpu_kernels *k, const float *x, const size_t *starts, size_t n, const gemm_norm *norm,
                   const gemm_weights *w, float *pooled);

/* The CPU's arithmetic ceiling in GFLOP/s: the best of repeats runs of k's fma probe (bf16: its bf16 dot-product
 * probe, which k->bf16_probe must have) on every OpenMP thread (cpu_peak.c). */
double cpu_peak_gflops(const cpu_kernels *k, int bf16, int repeats);

#endif
