/* Kernel benchmarks: float normals (vector kernel and scalar reference) and
 * the correlated path step. One JSON object per line on stdout; each result
 * verifies itself and the program exits non-zero if one is wrong. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "paths.h"
#include "scenario.h"


/* The kernels run on one thread: their cost per core is the thread's CPU
 * time, which other processes on a shared host do not inflate (wall time
 * is reported next to it in the config). */
static double thread_cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Moments of the normals as the self-check. */
static int normals_ok(const float *z, int64_t n) {
  double s1 = 0, s2 = 0;
  for (int64_t i = 0; i < n; i++) {
    s1 += (double)z[i];
    s2 += (double)z[i] * (double)z[i];
  }
  double mean = s1 / (double)n, var = s2 / (double)n - mean * mean;
  return fabs(mean) < 6 / sqrt((double)n) &&
         fabs(var - 1) < 6 * sqrt(2 / (double)n);
}

static void bench_normals(void) {
  const int64_t pairs = 1 << 16, reps = 40;
  float *z = malloc((size_t)(2 * pairs * SCH_LANES) * sizeof(float));
  const double n = (double)(reps * pairs * 2 * SCH_LANES);
  double t0 = thread_cpu_seconds(), w0 = omp_get_wtime();
  for (int64_t r = 0; r < reps; r++)
    sch_normals_block(42, (uint64_t)r * SCH_LANES, pairs, z);
  double vec = (thread_cpu_seconds() - t0) / n;
  double vec_wall = (omp_get_wtime() - w0) / n;
  int ok = normals_ok(z, 2 * pairs * SCH_LANES);
  t0 = thread_cpu_seconds();
  w0 = omp_get_wtime();
  for (int64_t r = 0; r < reps; r++)
    sch_normals_reference(42, (uint64_t)r, pairs * SCH_LANES, z);
  double ref = (thread_cpu_seconds() - t0) / n;
  double ref_wall = (omp_get_wtime() - w0) / n;
  int ok_ref = normals_ok(z, 2 * pairs * SCH_LANES);
  char cfg[200];
#define NORMALS_CFG                                                            \
  "{\"generator\": \"pcg32 per path, float Box-Muller\", \"threads\": 1, "    \
  "\"clock\": \"thread CPU time\", \"wall_ns\": %.4g}"
  snprintf(cfg, sizeof cfg, NORMALS_CFG, vec_wall * 1e9);
  bench_report("normals_ns", vec * 1e9, "ns/normal/core", 1.0, cfg, ok);
  snprintf(cfg, sizeof cfg, NORMALS_CFG, ref_wall * 1e9);
  bench_report("normals_ns_scalar_reference", ref * 1e9, "ns/normal/core", 1.0, cfg,
         ok_ref);
}

/* 4 correlated risky assets with jumps, 24 h at 60 s (DESIGN.md 7). */
static void bench_path_step(void) {
  sch_config c;
  memset(&c, 0, sizeof c);
  c.simulation = (sch_simulation_spec){.paths = 1, .horizon_s = 86400,
                                       .step_s = 60, .steps = 1440, .seed = 3};
  c.n_assets = 4;
  for (int i = 0; i < 4; i++) {
    c.assets[i] = (sch_asset_spec){.price = 100, .vol = 0.75, .jump_beta = 1,
                                   .jumps = {2.0, -0.05, 0.05}};
    for (int j = 0; j < 4; j++)
      c.correlation[i][j] = i == j ? 1.0 : 0.6;
  }
  c.systemic_jumps = (sch_jump_spec){1.0, -0.08, 0.05};
  sch_loanbook book = {.n_assets = 4};
  sch_scenario sc;
  sch_error err = {{0}};
  if (sch_scenario_build(&c, &book, &sc, &err) != SCH_OK) {
    fprintf(stderr, "bench: %s\n", err.msg);
    bench_failures++;
    return;
  }
  const int64_t row = (c.simulation.steps + 1) * 4;
  double *x = malloc((size_t)row * SCH_LANES * sizeof(double));
  double *ref = malloc((size_t)row * sizeof(double));
  sch_path_ws *ws = sch_path_ws_create(&sc.paths);
  const int64_t blocks = 400;
  double sum_last = 0, t0 = thread_cpu_seconds(), w0 = omp_get_wtime();
  for (int64_t b = 0; b < blocks; b++) {
    sch_path_generate_block(&sc.paths, (uint64_t)(b * SCH_LANES), ws, x);
    for (int l = 0; l < SCH_LANES; l++)
      sum_last += x[(row - 4) * SCH_LANES + l];
  }
  const double steps = (double)(blocks * SCH_LANES * c.simulation.steps * 4);
  double ns = (thread_cpu_seconds() - t0) * 1e9 / steps;
  double ns_wall = (omp_get_wtime() - w0) * 1e9 / steps;
  /* checks: lane 5 of the last block equals the reference bitwise, and the
   * mean terminal log-price is ln 100 + (-sigma^2/2) T + jump means */
  sch_path_generate(&sc.paths, (uint64_t)((blocks - 1) * SCH_LANES + 5), ref);
  int same = 1;
  for (int64_t e = 0; e < row && same; e++)
    same = ref[e] == x[e * SCH_LANES + 5];
  double t = 1.0 / 365.0, n = (double)(blocks * SCH_LANES);
  double want = log(100) - 0.5 * 0.5625 * t + 2 * t * -0.05 + 1 * t * -0.08;
  double sd = sqrt(0.5625 * t + 2 * t * 0.005 + t * 0.0089) / sqrt(n);
  int ok = same && fabs(sum_last / n - want) < 5 * sd;
  char cfg[200];
  snprintf(cfg, sizeof cfg,
           "{\"risky_assets\": 4, \"steps\": 1440, \"jumps\": true, "
           "\"threads\": 1, \"clock\": \"thread CPU time\", "
           "\"wall_ns\": %.4g}",
           ns_wall);
  bench_report("path_step_ns", ns, "ns/asset-step/core", 1.5, cfg, ok);
  free(x);
  free(ref);
  sch_path_ws_free(ws);
  sch_scenario_free(&sc);
}

int main(void) {
  bench_normals();
  bench_path_step();
  return bench_failures ? 1 : 0;
}
