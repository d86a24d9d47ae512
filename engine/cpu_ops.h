/* cpu_ops.h: the hand-written pieces of the CPU forward pass (the matrix products go to CBLAS).
 * All matrices are row-major; "rows" are packed tokens of several sentences, no padding. */
#ifndef USEREC_CPU_OPS_H
#define USEREC_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* y[r] = (accumulate ? y[r] : 0) + x[r] . d.w + d.b for r < rows; x is [rows, in], y is [rows, out]. */
void cpu_dense(const float *x, size_t rows, uint32_t in, uint32_t out, const dense *d, float *y, int accumulate);

/* y[r] = (x[r] - mean) * rsqrt(var + eps) * scale + bias, biased variance, per row of width w. */
void cpu_layer_norm(const float *x, size_t rows, uint32_t w, const layer_norm *n, float eps, float *y);

void cpu_relu(float *x, size_t n);

/* Multi-head self-attention over packed sentences. qkv is [rows, 3w] (q | k | v), sentence s owns rows
 * starts[s] .. starts[s+1]; ctx gets [rows, w], heads concatenated in order. Every key of a sentence is
 * valid (packing leaves no padding to mask). Returns -1 when its scratch memory cannot be had. */
int cpu_attention(const float *qkv, const size_t *starts, size_t n_sentences, uint32_t w, uint32_t n_heads,
                  float *ctx);

/* pooled[s] = mean of x's rows of sentence s (zeros for an empty sentence). */
void cpu_mean_pool(const float *x, const size_t *starts, size_t n_sentences, uint32_t w, float *pooled);

/* x[r] = tanh(x[r]) / ||tanh(x[r])||, the norm floored by sqrt(l2_floor). */
void cpu_tanh_l2_normalize(float *x, size_t rows, uint32_t w, float l2_floor);

#endif
