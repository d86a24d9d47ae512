/* cpu_kernels_generic.c: the kernels for any x86-64 CPU (compiled without -m flags: SSE2). The definition the
 * vector files reproduce bit for bit: fmaf rounds once, exactly as a vector fma does. */
#include "cpu/cpu_gemm.h"
#include "cpu/cpu_lanes.h"

#define MR 6

static void micro_kernel(size_t kc, const void *a_panel, const void *b_panels, size_t b_panel_stride, float *c,
                         size_t ldc, int load_c, const float *bias, int relu) {
    const float *a = a_panel, *b = b_panels;
    float acc[MR][GEMM_NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < GEMM_NR; j++) {
            acc[i][j] = load_c ? c[i * ldc + j] : 0.0f;
            if (bias) acc[i][j] += bias[j];
        }
    for (size_t k = 0; k < kc; k++, a += MR, b += GEMM_NR)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < GEMM_NR; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < GEMM_NR; j++) c[i * ldc + j] = relu ? (acc[i][j] > 0.0f ? acc[i][j] : 0.0f) : acc[i][j];
}

/* SSE2 has no fma: its ceiling is a multiply and an add on 4 lanes. */
typedef float lanes4 __attribute__((vector_size(16)));
#define CHAINS 12

static double fma_probe(long steps) {
    lanes4 acc[CHAINS];
    const lanes4 scale = {0.999999f, 0.999999f, 0.999999f, 0.999999f}, shift = {1e-7f, 1e-7f, 1e-7f, 1e-7f};
    for (int i = 0; i < CHAINS; i++) acc[i] = (lanes4){(float)i, (float)i, (float)i, (float)i};
    for (long s = 0; s < steps; s++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = acc[i] * scale + shift;
    float total = 0;
    for (int i = 0; i < CHAINS; i++) total += acc[i][0];
    volatile float sink = total; /* the chains' results are used: they cannot be optimised away */
    (void)sink;
    return 2.0 * 4 * CHAINS * (double)steps;
}

const cpu_kernels cpu_kernels_generic = {
    .isa = CPU_ISA_GENERIC,
    .name = "generic",
    .fp32 = {.mr = MR, .nr = GEMM_NR, .kc = 256, .k_step = 1, .bytes = 4, .kernel = micro_kernel,
             .pack_rows = gemm_pack_rows},
    .exp_shifted = lanes_exp_shifted,
    .layer_norm_row = lanes_layer_norm_row,
    .fma_probe = fma_probe,
};
