#include "paths.h"

#include <math.h>
#include <string.h>

#include "rng.h"

/* Marsaglia & Tsang (2000), "A simple method for generating gamma variables",
 * shape a = dof/2 > 1, scale 2. */
double sch_chi_square(struct sch_normal_stream *ns, double dof) {
  const double d = dof / 2.0 - 1.0 / 3.0;
  const double c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    double z = sch_normal_next(ns);
    double v = 1.0 + c * z;
    if (v <= 0.0)
      continue;
    v = v * v * v;
    double u = sch_uniform_open(&ns->rng);
    if (log(u) < 0.5 * z * z + d - d * v + d * log(v))
      return 2.0 * d * v;
  }
}

/* Diffusion increments: dx[k][r] = drift_r + sum_s C[r][s] z_s (scaled by
 * sqrt((nu-2)/W_k) under Student-t), for k = 1..n, stored in x[k]. */
static void add_diffusion(const sch_path_model *m, uint64_t path, double *x) {
  const int nr = m->n_risky;
  sch_normal_stream diffusion = {0}, mixing = {0};
  sch_stream_for_path(&diffusion.rng, m->seed, SCH_STREAM_DIFFUSION, path);
  if (m->student_t)
    sch_stream_for_path(&mixing.rng, m->seed, SCH_STREAM_STUDENT_T, path);
  double z[SCH_K_MAX_ASSETS];
  for (int64_t k = 1; k <= m->n_steps; k++) {
    for (int r = 0; r < nr; r++)
      z[r] = sch_normal_next(&diffusion);
    double scale = 1.0;
    if (m->student_t)
      scale = sqrt((m->dof - 2.0) / sch_chi_square(&mixing, m->dof));
    double *dx = x + k * nr;
    for (int r = 0; r < nr; r++) {
      double shock = 0.0;
      for (int s = 0; s <= r; s++)
        shock += m->chol_scaled[r][s] * z[s];
      dx[r] = m->drift_step[r] + scale * shock;
    }
  }
}

/* Step of an arrival at time t (years): arrivals in ((k-1) dt, k dt] land in
 * step k, so the count per step is Poisson(rate dt), independent by step. */
static int64_t arrival_step(double t, double dt) { return (int64_t)ceil(t / dt); }

/* Jumps, drawn as exponential inter-arrival times (exactly a Poisson count per
 * step, and only O(rate T) draws): systemic first, then each slot. */
static void add_jumps(const sch_path_model *m, uint64_t path, double *x) {
  const int nr = m->n_risky;
  const double horizon = (double)m->n_steps * m->dt_years;
  sch_normal_stream jumps = {0};
  sch_stream_for_path(&jumps.rng, m->seed, SCH_STREAM_JUMPS, path);
  if (m->sys_rate > 0.0) {
    for (double t = sch_exponential(&jumps.rng) / m->sys_rate; t <= horizon;
         t += sch_exponential(&jumps.rng) / m->sys_rate) {
      double size = m->sys_mean + m->sys_stdev * sch_normal_next(&jumps);
      int64_t k = arrival_step(t, m->dt_years);
      if (k < 1 || k > m->n_steps)
        continue;
      for (int r = 0; r < nr; r++)
        x[k * nr + r] += m->jump_beta[r] * size;
    }
  }
  for (int r = 0; r < nr; r++) {
    if (m->jump_rate[r] <= 0.0)
      continue;
    for (double t = sch_exponential(&jumps.rng) / m->jump_rate[r];
         t <= horizon; t += sch_exponential(&jumps.rng) / m->jump_rate[r]) {
      double size = m->jump_mean[r] + m->jump_stdev[r] * sch_normal_next(&jumps);
      int64_t k = arrival_step(t, m->dt_years);
      if (k >= 1 && k <= m->n_steps)
        x[k * nr + r] += size;
    }
  }
}

void sch_path_generate(const sch_path_model *m, uint64_t path, double *x) {
  const int nr = m->n_risky;
  if (nr == 0)
    return;
  for (int r = 0; r < nr; r++)
    x[r] = m->log_price0[r];
  add_diffusion(m, path, x);
  add_jumps(m, path, x);
  for (int64_t k = 1; k <= m->n_steps; k++)
    for (int r = 0; r < nr; r++)
      x[k * nr + r] += x[(k - 1) * nr + r];
}
