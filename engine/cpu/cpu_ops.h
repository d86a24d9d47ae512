/* cpu_ops.h: the hand-written pieces of the CPU forward pass (the matrix products: cpu_gemm.h).
 * All matrices are row-major; "rows" are packed tokens of several sentences, no padding. */
#ifndef USEREC_CPU_OPS_H
#define USEREC_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu_kernels.h"
#include "model/model.h"

/* The CPU forward pass (encoder_cpu.c) on a workspace that a caller encoding many batches keeps between calls
 * (one call at a time per workspace); userec_encode_ids makes a fresh one each call. The workspace fixes the
 * kernels (cpu_kernels_choose) and the precision: fp32, or bf16 where the kernels have bf16 products (the
 * per-token products' weights are then packed in bf16, for this workspace). Refuses tf32, bf16 without bf16
 * products and a USEREC_CPU_ISA this CPU lacks, saying why. */
typedef struct cpu_workspace cpu_workspace;
userec_status cpu_workspace_new(const userec_model *m, userec_precision precision, cpu_workspace **ws,
                                userec_error *err);
void cpu_workspace_free(cpu_workspace *ws);
userec_status cpu_encode_ids(const userec_model *m, cpu_workspace *ws, const int32_t *ids, const size_t *offsets,
                             size_t n, float *out, userec_counts *counts, userec_error *err);

/* The FLOPs per token of the products the CPU forward pass does: userec_info's flops_per_token less what layer
 * 0's tables save (layer0_tables.h). bench's CPU MFU counts these. */
double cpu_flops_per_token(const userec_model *m);

/* y[r] = (x[r] - mean) * rsqrt(var + eps) * scale + bias, biased variance, per row of width w. */
void cpu_layer_norm(const cpu_kernels *k, const float *x, size_t rows, uint32_t w, const layer_norm *n, float eps,
                    float *y);

/* Multi-head self-attention over packed sentences. qkv is [rows, 3w] (q | k | v), sentence s owns rows
 * starts[s] .. starts[s+1]; ctx gets [rows, w], heads concatenated in order. Every key of a sentence is
 * valid (packing leaves no padding to mask). Returns -1 when its scratch memory cannot be had. */
int cpu_attention(const cpu_kernels *k, const float *qkv, const size_t *starts, size_t n_sentences, uint32_t w,
                  uint32_t n_heads, float *ctx);

/* pooled[s] = mean of x's rows of sentence s (zeros for an empty sentence). */
void cpu_mean_pool(const float *x, const size_t *starts, size_t n_sentences, uint32_t w, float *pooled);

/* x[r] = tanh(x[r]) / ||tanh(x[r])||, the norm floored by sqrt(l2_floor). */
void cpu_tanh_l2_normalize(float *x, size_t rows, uint32_t w, float l2_floor);

#endif
