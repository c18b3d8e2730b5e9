/**
 * @file paths.h
 * @brief Fundamental log-price paths (DESIGN.md 3.1): correlated GBM with
 *        idiosyncratic and systemic Merton jumps, Gaussian or multivariate
 *        Student-t shocks.
 *
 * Two implementations with bitwise-identical output: a scalar reference
 * (one path) and a block kernel that runs SCH_LANES paths side by side, one
 * PCG32 stream per lane, so the normal generation and the correlated
 * increments vectorise across paths (tests/test_paths.c compares them).
 * Layout: x[(k * n_risky + r) * stride + lane], k = 0..n_steps.
 */
#ifndef SCHELLING_KERNELS_PATHS_H
#define SCHELLING_KERNELS_PATHS_H

#include "model.h"

/** Paths per block-kernel call (a multiple of every SIMD width in use). */
#define SCH_LANES 16

/**
 * Scalar reference: one path's log fundamental prices, stride 1.
 * @param model path model
 * @param path  path index (selects the random streams)
 * @param x     out: [(n_steps + 1) * n_risky]
 */
void sch_path_generate(const sch_path_model *model, uint64_t path, double *x);

/** Scratch of the block kernel (opaque; one per thread). */
typedef struct sch_path_ws sch_path_ws;

/** Allocate block-kernel scratch for a model (NULL when out of memory). */
sch_path_ws *sch_path_ws_create(const sch_path_model *model);

/** Release block-kernel scratch (NULL is fine). */
void sch_path_ws_free(sch_path_ws *ws);

/**
 * Block kernel: paths first .. first + SCH_LANES - 1 at once.
 * @param model path model
 * @param first index of the first path
 * @param ws    scratch from sch_path_ws_create
 * @param x     out: [(n_steps + 1) * n_risky * SCH_LANES], stride SCH_LANES
 */
void sch_path_generate_block(const sch_path_model *model, uint64_t first,
                             sch_path_ws *ws, double *x);

/**
 * Float normals of one lane-block, for the benchmark and tests: n pairs per
 * lane from each lane's diffusion stream, z[(2j + h) * SCH_LANES + lane].
 */
void sch_normals_block(uint64_t seed, uint64_t first, int64_t n_pairs,
                       float *z);

/** Scalar reference of sch_normals_block for one path: z[2j + h]. */
void sch_normals_reference(uint64_t seed, uint64_t path, int64_t n_pairs,
                           float *z);

/**
 * Chi-square variate with `dof` degrees of freedom (2 * Gamma(dof/2)),
 * Marsaglia-Tsang (2000); dof > 2.
 */
struct sch_normal_stream;
double sch_chi_square(struct sch_normal_stream *ns, double dof);

#endif
