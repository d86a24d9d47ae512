/* pca.c: principal axes by subspace iteration on the covariance (pca.h). The covariance is dim x dim (512 x 512
 * for USE), so iterating on it costs dim^2 per vector whatever the number of rows; a block of n_axes + 8 vectors
 * converges at the rate lambda_(block+1) / lambda_axis instead of plain power iteration's lambda_2 / lambda_1, which
 * is near 1 for embeddings whose leading variances are close. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/error.h"
#include "report/pca.h"

#define EXTRA_BLOCK 8
#define JACOBI_SWEEPS 64
#define ROW_BLOCK 64 /* centred rows per pass over the covariance: 64 x 512 doubles stay in L2 */

/* C = (1/rows) sum (x - mean)(x - mean)^T, upper triangle mirrored. Each C[i][j] is summed by one thread in row
 * order, so the result does not depend on the threads. */
static void covariance(const float *x, size_t rows, size_t dim, const double *mean, double *c, double *block) {
    memset(c, 0, dim * dim * sizeof *c);
    for (size_t r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
        const size_t n = rows - r0 < ROW_BLOCK ? rows - r0 : ROW_BLOCK;
        for (size_t r = 0; r < n; r++)
            for (size_t j = 0; j < dim; j++) block[r * dim + j] = (double)x[(r0 + r) * dim + j] - mean[j];
#pragma omp parallel for schedule(dynamic, 8)
        for (size_t i = 0; i < dim; i++)
            for (size_t r = 0; r < n; r++) {
                const double xi = block[r * dim + i];
                const double *row = block + r * dim;
                double *ci = c + i * dim;
                for (size_t j = i; j < dim; j++) ci[j] += xi * row[j];
            }
    }
    for (size_t i = 0; i < dim; i++)
        for (size_t j = i; j < dim; j++) c[j * dim + i] = c[i * dim + j] = c[i * dim + j] / (double)rows;
}

/* out[j] = C v[j] for the b vectors of v (each dim doubles). */
static void multiply(const double *c, size_t dim, const double *v, size_t b, double *out) {
#pragma omp parallel for collapse(2) schedule(static)
    for (size_t j = 0; j < b; j++)
        for (size_t i = 0; i < dim; i++) {
            const double *ci = c + i * dim, *vj = v + j * dim;
            double s = 0;
            for (size_t k = 0; k < dim; k++) s += ci[k] * vj[k];
            out[j * dim + i] = s;
        }
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* A fixed pseudo-random start (xorshift64*), the same on every run. */
static double next_uniform(uint64_t *state) {
    *state ^= *state >> 12, *state ^= *state << 25, *state ^= *state >> 27;
    return (double)((*state * 2685821657736338717ull) >> 11) / 9007199254740992.0 * 2 - 1;
}

/* Modified Gram-Schmidt, twice ("twice is enough"); a vector that vanishes (the covariance has lower rank than
 * the block) is replaced by a fresh pseudo-random one, so the block stays orthonormal. */
static void orthonormalize(double *v, size_t b, size_t dim, uint64_t *state) {
    for (size_t j = 0; j < b; j++) {
        double *vj = v + j * dim;
        for (int attempt = 0;; attempt++) {
            const double before = sqrt(dot(vj, vj, dim));
            for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < j; i++) {
                    const double d = dot(v + i * dim, vj, dim);
                    for (size_t k = 0; k < dim; k++) vj[k] -= d * v[i * dim + k];
                }
            const double norm = sqrt(dot(vj, vj, dim));
            if (norm > 1e-12 * (before > 0 ? before : 1) && norm > 0) {
                for (size_t k = 0; k < dim; k++) vj[k] /= norm;
                break;
            }
            for (size_t k = 0; k < dim; k++) vj[k] = next_uniform(state);
            if (attempt > 8) break; /* dim < b cannot happen (b <= dim); this only guards the loop */
        }
    }
}

/* Eigen-decomposition of the symmetric b x b matrix h (destroyed) by cyclic Jacobi rotations: eigenvalues to
 * theta, eigenvectors to the columns of q, sorted by decreasing eigenvalue. */
static void jacobi(double *h, size_t b, double *theta, double *q) {
    for (size_t i = 0; i < b; i++)
        for (size_t j = 0; j < b; j++) q[i * b + j] = i == j;
    for (int sweep = 0; sweep < JACOBI_SWEEPS; sweep++) {
        double off = 0, all = 0;
        for (size_t i = 0; i < b; i++)
            for (size_t j = 0; j < b; j++) {
                all += h[i * b + j] * h[i * b + j];
                if (i != j) off += h[i * b + j] * h[i * b + j];
            }
        if (off <= 1e-30 * all || off == 0) break;
        for (size_t p = 0; p < b; p++)
            for (size_t r = p + 1; r < b; r++) {
                const double hpr = h[p * b + r];
                if (hpr == 0) continue;
                const double tau = (h[r * b + r] - h[p * b + p]) / (2 * hpr);
                const double t = (tau >= 0 ? 1 : -1) / (fabs(tau) + sqrt(1 + tau * tau));
                const double cs = 1 / sqrt(1 + t * t), sn = t * cs;
                for (size_t k = 0; k < b; k++) { /* columns p and r */
                    const double hkp = h[k * b + p], hkr = h[k * b + r];
                    h[k * b + p] = cs * hkp - sn * hkr;
                    h[k * b + r] = sn * hkp + cs * hkr;
                }
                for (size_t k = 0; k < b; k++) { /* rows p and r */
                    const double hpk = h[p * b + k], hrk = h[r * b + k];
                    h[p * b + k] = cs * hpk - sn * hrk;
                    h[r * b + k] = sn * hpk + cs * hrk;
                }
                for (size_t k = 0; k < b; k++) {
                    const double qkp = q[k * b + p], qkr = q[k * b + r];
                    q[k * b + p] = cs * qkp - sn * qkr;
                    q[k * b + r] = sn * qkp + cs * qkr;
                }
            }
    }
    for (size_t i = 0; i < b; i++) theta[i] = h[i * b + i];
    for (size_t i = 0; i < b; i++) { /* selection sort, descending; b is small */
        size_t best = i;
        for (size_t j = i + 1; j < b; j++)
            if (theta[j] > theta[best]) best = j;
        if (best == i) continue;
        const double t = theta[i];
        theta[i] = theta[best], theta[best] = t;
        for (size_t k = 0; k < b; k++) {
            const double s = q[k * b + i];
            q[k * b + i] = q[k * b + best], q[k * b + best] = s;
        }
    }
}

/* out[j] = sum_i v[i] q[i][j]: the block rotated by q (b x b). */
static void rotate(const double *v, const double *q, size_t b, size_t dim, double *out) {
    for (size_t j = 0; j < b; j++)
        for (size_t k = 0; k < dim; k++) {
            double s = 0;
            for (size_t i = 0; i < b; i++) s += v[i * dim + k] * q[i * b + j];
            out[j * dim + k] = s;
        }
}

int pca_fit(const float *x, size_t rows, size_t dim, size_t n_axes, pca *p, char *err, size_t err_len) {
    *p = (pca){.dim = dim, .n_axes = n_axes};
    if (!rows || !dim || !n_axes || n_axes > dim)
        return ERR(err, err_len, "PCA: %zu axes of %zu vectors of %zu values cannot be fitted", n_axes, rows, dim);
    const size_t b = n_axes + EXTRA_BLOCK < dim ? n_axes + EXTRA_BLOCK : dim;
    double *c = malloc(dim * dim * sizeof *c), *block = malloc(ROW_BLOCK * dim * sizeof *block);
    double *v = malloc(b * dim * sizeof *v), *w = malloc(b * dim * sizeof *w), *u = malloc(b * dim * sizeof *u);
    double *au = malloc(b * dim * sizeof *au), *h = malloc(b * b * sizeof *h), *q = malloc(b * b * sizeof *q);
    double *theta = malloc(b * sizeof *theta);
    p->mean = calloc(dim, sizeof *p->mean);
    p->axis = malloc(n_axes * dim * sizeof *p->axis);
    p->variance = malloc(n_axes * sizeof *p->variance);
    int rc = 0;
    if (!c || !block || !v || !w || !u || !au || !h || !q || !theta || !p->mean || !p->axis || !p->variance) {
        rc = FAIL_AS(USEREC_ERR_NOMEM, ERR(err, err_len, "PCA: out of memory for a %zu x %zu covariance", dim, dim));
        goto done;
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < dim; k++) p->mean[k] += x[r * dim + k];
    for (size_t k = 0; k < dim; k++) p->mean[k] /= (double)rows;
    covariance(x, rows, dim, p->mean, c, block);
    for (size_t k = 0; k < dim; k++) p->total_variance += c[k * dim + k];

    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < b * dim; i++) v[i] = next_uniform(&state);
    orthonormalize(v, b, dim, &state);
    for (p->iterations = 1; p->iterations <= PCA_MAX_ITERATIONS; p->iterations++) {
        multiply(c, dim, v, b, w);
        for (size_t i = 0; i < b; i++) /* H = V^T C V, made exactly symmetric */
            for (size_t j = i; j < b; j++) h[i * b + j] = h[j * b + i] = 0.5 * (dot(v + i * dim, w + j * dim, dim) +
                                                                           dot(v + j * dim, w + i * dim, dim));
        jacobi(h, b, theta, q);
        rotate(v, q, b, dim, u);  /* Ritz vectors */
        rotate(w, q, b, dim, au); /* C times them */
        double worst = 0;
        for (size_t a = 0; a < n_axes; a++) {
            double res = 0;
            for (size_t k = 0; k < dim; k++) {
                const double d = au[a * dim + k] - theta[a] * u[a * dim + k];
                res += d * d;
            }
            if (sqrt(res) > worst) worst = sqrt(res);
        }
        if (worst <= PCA_TOLERANCE * (theta[0] > 0 ? theta[0] : 1)) {
            p->converged = 1;
            break;
        }
        memcpy(v, au, b * dim * sizeof *v);
        orthonormalize(v, b, dim, &state);
    }
    if (p->iterations > PCA_MAX_ITERATIONS) p->iterations = PCA_MAX_ITERATIONS;
    for (size_t a = 0; a < n_axes; a++) {
        double *axis = p->axis + a * dim;
        memcpy(axis, u + a * dim, dim * sizeof *axis);
        size_t largest = 0;
        for (size_t k = 1; k < dim; k++)
            if (fabs(axis[k]) > fabs(axis[largest])) largest = k;
        if (axis[largest] < 0)
            for (size_t k = 0; k < dim; k++) axis[k] = -axis[k];
        p->variance[a] = theta[a] > 0 ? theta[a] : 0;
    }
done:
    free(c), free(block), free(v), free(w), free(u), free(au), free(h), free(q), free(theta);
    if (rc) pca_free(p);
    return rc;
}

void pca_project(const pca *p, const float *row, double *coords) {
    for (size_t a = 0; a < p->n_axes; a++) {
        double s = 0;
        for (size_t k = 0; k < p->dim; k++) s += ((double)row[k] - p->mean[k]) * p->axis[a * p->dim + k];
        coords[a] = s;
    }
}

void pca_free(pca *p) {
    free(p->mean);
    free(p->axis);
    free(p->variance);
    *p = (pca){0};
}
