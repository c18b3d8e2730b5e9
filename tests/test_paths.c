/* The vectorised path kernel against its scalar reference (bitwise), and the
 * float Box-Muller normals against the normal law. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "normals.h"
#include "paths.h"
#include "scenario.h"

static void three_asset_model(sch_path_model *pm, bool student_t) {
  sch_config c;
  memset(&c, 0, sizeof c);
  c.simulation = (sch_simulation_spec){.paths = 1, .horizon_s = 3600.0 * 37,
                                       .step_s = 3600, .steps = 37, .seed = 9,
                                       .returns = student_t, .dof = 5};
  c.n_assets = 4;
  const double rho[3][3] = {{1, 0.8, 0.98}, {0.8, 1, 0.78}, {0.98, 0.78, 1}};
  for (int i = 0; i < 3; i++) {
    c.assets[i] = (sch_asset_spec){.price = 1000.0 * (i + 1), .vol = 0.7,
                                   .drift = 0.1 * i, .jump_beta = 0.5 + i,
                                   .jumps = {400.0, -0.03, 0.02}};
    for (int j = 0; j < 3; j++)
      c.correlation[i][j] = rho[i][j];
  }
  c.assets[3] = (sch_asset_spec){.price = 1, .stable = true};
  c.correlation[3][3] = 1;
  c.systemic_jumps = (sch_jump_spec){300.0, -0.05, 0.03};
  sch_loanbook book = {.n_assets = 4};
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&c, &book, &sc, &err), SCH_OK, "%s", err.msg);
  *pm = sc.paths;
  sch_scenario_free(&sc);
}

/* 37 steps x 3 assets: an odd count of normals, so pairs straddle steps. */
static void compare_block_with_reference(bool student_t) {
  sch_path_model pm;
  three_asset_model(&pm, student_t);
  sch_path_ws *ws = sch_path_ws_create(&pm);
  cr_assert_not_null(ws);
  const int64_t row = (pm.n_steps + 1) * pm.n_risky;
  double *block = malloc((size_t)row * SCH_LANES * sizeof(double));
  double *ref = malloc((size_t)row * sizeof(double));
  int jumps_seen = 0;
  for (uint64_t first = 0; first < 40 * SCH_LANES; first += SCH_LANES) {
    sch_path_generate_block(&pm, first, ws, block);
    for (int l = 0; l < SCH_LANES; l++) {
      sch_path_generate(&pm, first + (uint64_t)l, ref);
      for (int64_t e = 0; e < row; e++)
        cr_assert(memcmp(&ref[e], &block[e * SCH_LANES + l], sizeof(double)) ==
                      0,
                  "path %llu entry %lld: %.17g vs %.17g",
                  (unsigned long long)(first + (uint64_t)l), (long long)e,
                  ref[e], block[e * SCH_LANES + l]);
      jumps_seen += fabs(ref[row - 1] - ref[row - 1 - pm.n_risky]) > 0.02;
    }
  }
  cr_expect(jumps_seen > 0, "the comparison never saw a large move");
  free(block);
  free(ref);
  sch_path_ws_free(ws);
}

Test(paths, block_kernel_equals_reference_gaussian) {
  compare_block_with_reference(false);
}

Test(paths, block_kernel_equals_reference_student_t) {
  compare_block_with_reference(true);
}

Test(paths, normals_block_equals_reference) {
  enum { pairs = 1000 };
  static float block[2 * pairs * SCH_LANES], ref[2 * pairs];
  sch_normals_block(42, 32, pairs, block);
  for (int l = 0; l < SCH_LANES; l++) {
    sch_normals_reference(42, 32 + (uint64_t)l, pairs, ref);
    for (int j = 0; j < 2 * pairs; j++)
      cr_assert(memcmp(&ref[j], &block[j * SCH_LANES + l], sizeof(float)) == 0);
  }
}

/* The polynomial log/sin/cos against libm. */
Test(paths, float_math_accuracy) {
  double worst_log = 0, worst_trig = 0;
  for (uint32_t i = 1; i < (1u << 24); i += 97) {
    float u = (float)i * 0x1p-24f;
    double l = log((double)u);
    worst_log = fmax(worst_log, fabs((double)sch_logf_poly(u) - l) / fmax(1e-3, fabs(l)));
    float s, c;
    sch_sincos_turns(u, &s, &c);
    double th = 6.283185307179586 * (double)u;
    worst_trig = fmax(worst_trig, fmax(fabs((double)s - sin(th)), fabs((double)c - cos(th))));
  }
  cr_expect(worst_log < 3e-7, "log relative error %g", worst_log);
  cr_expect(worst_trig < 3e-7, "sin/cos absolute error %g", worst_trig);
}

/* 4 million float normals: moments within 5 standard errors and the tail
 * P(z < -3) within 5 standard errors of Phi(-3). */
Test(paths, normal_law) {
  enum { pairs = 1 << 17 };
  static float z[2 * pairs * SCH_LANES];
  sch_normals_block(7, 0, pairs, z);
  const double n = 2.0 * pairs * SCH_LANES;
  double s1 = 0, s2 = 0, s3 = 0, s4 = 0, tail = 0;
  for (int64_t i = 0; i < (int64_t)n; i++) {
    double v = z[i];
    s1 += v;
    s2 += v * v;
    s3 += v * v * v;
    s4 += v * v * v * v;
    tail += v < -3.0;
  }
  cr_expect(fabs(s1 / n) < 5 / sqrt(n), "mean %g", s1 / n);
  cr_expect(fabs(s2 / n - 1) < 5 * sqrt(2 / n), "var %g", s2 / n);
  cr_expect(fabs(s3 / n) < 5 * sqrt(15 / n), "skew %g", s3 / n);
  cr_expect(fabs(s4 / n - 3) < 5 * sqrt(96 / n), "kurt %g", s4 / n);
  double p = 0.5 * erfc(3 / sqrt(2.0));
  cr_expect(fabs(tail / n - p) < 5 * sqrt(p * (1 - p) / n), "tail %g vs %g",
            tail / n, p);
}
