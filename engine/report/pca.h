/* pca.h: the principal axes of a set of vectors (the report's 2-D map), computed deterministically: the same
 * vectors give the same axes, bit for bit, whatever the number of threads. */
#ifndef USEREC_PCA_H
#define USEREC_PCA_H

#include <stddef.h>

typedef struct {
    size_t dim, n_axes;
    double *mean;          /* [dim]: the vectors are centred on it */
    double *axis;          /* [n_axes][dim]: unit, orthogonal, by decreasing variance; the sign of each axis puts
                              its component of largest magnitude positive (a principal axis has no sign of its own) */
    double *variance;      /* [n_axes]: the variance along each axis (eigenvalue of the covariance, divided by rows) */
    double total_variance; /* the trace of the covariance: variance[a] / total_variance is axis a's share */
    int iterations;        /* subspace iterations run */
    int converged;         /* every axis's residual |C a - lambda a| fell below PCA_TOLERANCE * lambda_1 */
} pca;

#define PCA_TOLERANCE 1e-10
#define PCA_MAX_ITERATIONS 2000

/* Fits n_axes axes (1 <= n_axes <= dim) to rows x dim floats: the covariance (in double, normalised by rows),
 * then subspace iteration with a block of n_axes + 8 vectors and Rayleigh-Ritz (Jacobi on the small matrix),
 * from a fixed start, until the axes' residuals fall below PCA_TOLERANCE or after PCA_MAX_ITERATIONS. Returns 0,
 * or -1 with err set (out of memory, no rows). */
int pca_fit(const float *x, size_t rows, size_t dim, size_t n_axes, pca *p, char *err, size_t err_len);
/* coords[a] = (row - mean) . axis[a] */
void pca_project(const pca *p, const float *row, double *coords);
void pca_free(pca *p);

#endif
