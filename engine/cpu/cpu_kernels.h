/* cpu_kernels.h: the CPU's instruction-set-specific code, one table per ISA (cpu_kernels_generic.c,
 * cpu_kernels_avx2.c, cpu_kernels_avx512.c, and the bf16 products in cpu_kernels_bf16.c, each file compiled with
 * its own -m flags by the Makefile), chosen once per process from what the CPU reports (cpuid), or forced to a
 * lower one with USEREC_CPU_ISA=generic|avx2|avx512. One binary then runs on any x86-64 CPU at its best.
 *
 * Every fp32 table computes the same bits (docs/architecture.md, "One arithmetic on every ISA"):
 * - a product's output is one fp32 fma chain in ascending k from its initial value (micro_kernel below);
 * - a reduction over a row (layer norm's statistics, the softmax's sum) runs in CPU_LANES interleaved partial
 *   sums, element c into lane c % CPU_LANES in ascending c, then the lanes folded pairwise (cpu_lanes.h);
 * - everything else is element by element, with an fma exactly where the code says fmaf (the build passes
 *   -ffp-contract=off, so the compiler never fuses a multiply and an add on its own).
 * A wider ISA only does more of the same operations at once. */
#ifndef USEREC_CPU_KERNELS_H
#define USEREC_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { CPU_ISA_GENERIC = 0, CPU_ISA_AVX2 = 1, CPU_ISA_AVX512 = 2 } cpu_isa;
#define CPU_ISAS 3

/* One register-blocked matrix-product kernel and its operand layout. A is packed by pack_rows into panels of
 * mr rows; B (weights, or the items of a top-k tile) into panels of GEMM_NR (16) columns, the same for every ISA,
 * so the weights are packed once whatever runs them. */
typedef struct {
    size_t mr;     /* rows of a micro-tile */
    size_t nr;     /* columns of a micro-tile: GEMM_NR, or 2 * GEMM_NR (two B panels, b_panel_stride apart) */
    size_t kc;     /* k steps per pass: nr columns of B for kc steps stay in L1 */
    size_t k_step; /* k values per packed step: 1 (fp32), 2 (bf16 pairs) */
    size_t bytes;  /* bytes per packed element: 4 (fp32), 2 (bf16) */
    /* c (mr x nr, row stride ldc) = relu?(init + sum over kc steps of a[k][i] * b[k][j]), where
     * init = (load_c ? c : 0), plus bias[j] when bias is given; relu(v) = v > 0 ? v : 0. fp32: each output is one
     * fma chain in ascending k. b_panel_stride: elements between the tile's B panels (0 reads one panel twice,
     * for a last tile of GEMM_NR columns). */
    void (*kernel)(size_t kc, const void *a, const void *b, size_t b_panel_stride, float *c, size_t ldc, int load_c,
                   const float *bias, int relu);
    /* Rows [0, n) of src (row stride ld), columns [k0, k0 + kc), into panels of width rows, panel_stride
     * elements apart, in this kernel's element type; rows past n and k past kc (to a whole step) are zeros. */
    void (*pack_rows)(const float *src, size_t n, size_t ld, size_t k0, size_t kc, size_t width, size_t panel_stride,
                      void *dst);
} gemm_kernel;

typedef struct {
    cpu_isa isa;
    const char *name; /* "generic", "avx2", "avx512" */
    gemm_kernel fp32;
    const gemm_kernel *bf16; /* bf16 operands, fp32 sums (avx512_bf16); NULL where the CPU has none */
    /* x[j] = e^(x[j] - shift) for j < n, every x[j] <= shift; returns their sum (cpu_lanes.h's order). */
    float (*exp_shifted)(float *x, size_t n, float shift);
    /* y = (x - mean) * rsqrt(var + eps) * scale + bias over one row of w (biased variance). */
    void (*layer_norm_row)(const float *x, uint32_t w, const float *scale, const float *bias, float eps, float *y);
    /* The arithmetic ceiling's probe on one thread: independent chains of the widest fma (fp32) and, when bf16 is
     * set, of the bf16 dot product; each returns the FLOPs it did in `steps` rounds. */
    double (*fma_probe)(long steps);
    double (*bf16_probe)(long steps);
} cpu_kernels;

const char *cpu_isa_name(cpu_isa isa);

/* The widest ISA this CPU (and its OS) runs. */
cpu_isa cpu_isa_best(void);

/* The kernels of isa, or NULL when this CPU cannot run them. bf16 is set where the CPU has avx512_bf16 and isa
 * is avx512. */
const cpu_kernels *cpu_kernels_for(cpu_isa isa);

/* The kernels this process computes with: USEREC_CPU_ISA's when set, else the widest. NULL, with the reason in
 * err, when USEREC_CPU_ISA names no ISA or one this CPU lacks. Decided on the first call. */
const cpu_kernels *cpu_kernels_choose(char *err, size_t err_len);

/* The CPU's brand string and family/model (cpuid), e.g. "AMD EPYC (family 25, model 17)". */
void cpu_model_name(char *out, size_t len);

/* The tables of each file, before the CPU's bf16 support is known (cpu_kernels.c completes them). */
extern const cpu_kernels cpu_kernels_generic, cpu_kernels_avx2, cpu_kernels_avx512;
extern const gemm_kernel cpu_gemm_bf16_avx512;
double cpu_bf16_probe_avx512(long steps);

#endif
