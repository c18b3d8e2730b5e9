/**
 * @file paths.h
 * @brief Fundamental log-price paths (DESIGN.md 3.1): correlated GBM with
 *        idiosyncratic and systemic Merton jumps, Gaussian or multivariate
 *        Student-t shocks.
 */
#ifndef SCHELLING_KERNELS_PATHS_H
#define SCHELLING_KERNELS_PATHS_H

#include "model.h"

/**
 * Generate one path's log fundamental prices.
 * x(k+1) = x(k) + drift dt + sigma sqrt(dt) (L z_k) + J(k), x(0) = ln S(0).
 * Draws: `diffusion` stream for z, `student_t` for W, `jumps` for jumps.
 * @param model path model
 * @param path  path index (selects the random streams)
 * @param x     out: [(n_steps + 1) * n_risky], x[k * n_risky + r]
 */
void sch_path_generate(const sch_path_model *model, uint64_t path, double *x);

/**
 * Chi-square variate with `dof` degrees of freedom (2 * Gamma(dof/2)),
 * Marsaglia-Tsang (2000); dof > 2.
 */
struct sch_normal_stream;
double sch_chi_square(struct sch_normal_stream *ns, double dof);

#endif
