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

/* The approximations against double-precision libm: -2 ln(1 + t) on every
 * float m = 1 + t in [2/3, 4/3); -2 ln u over a grid of draws (against the
 * log of the same float u: rounding u to float is the draw, not an error);
 * cos and sin of the octant over a grid of angles; and the normals
 * themselves against double-precision Box-Muller on the same u and angle. */
static double exact_angle(uint32_t b) {
  return (double)(b & 0x1fffffffu) * (0.78539816339744831 * 0x1p-29);
}

Test(paths, float_math_accuracy) {
  double worst_log1p = 0, worst_log = 0, worst_trig = 0, worst_z = 0;
  for (uint32_t bits = 0x3f2aaaabu; bits < 0x3faaaaabu; bits++) {
    float m = sch_bits_to_float(bits);
    if (m == 1.0f)
      continue;
    double want = -2.0 * log((double)m);
    worst_log1p = fmax(worst_log1p,
                       fabs((double)sch_neg2log1p_poly(m - 1.0f) - want) /
                           fabs(want));
  }
  uint32_t a = 0, b = 0;
  for (int64_t i = 0; i < (1 << 22); i++) {
    /* spread over all 2^32 draws, with the ends */
    a = i < 2 ? (uint32_t)-i : a * 2891336453u + 1234567u;
    b = i < 8 ? (uint32_t)(i << 29) - (uint32_t)(i & 1) : b * 1664525u + 1013904223u;
    double u = (double)(float)(a | 1u) * 0x1p-32;
    double w = -2.0 * log(u);
    float wf = sch_neg2log_u(a);
    worst_log = fmax(worst_log, w > 0 ? fabs((double)wf - w) / w : fabs((double)wf));
    float c, s;
    sch_cos_sin_octant(b, &c, &s);
    double x = exact_angle(b);
    worst_trig = fmax(worst_trig, fmax(fabs((double)c - cos(x)), fabs((double)s - sin(x))));
    float z0, z1;
    sch_box_muller_f(a, b, &z0, &z1);
    double r = sqrt(w);
    double zc = r * ((b >> 29) & 1u ? sin(x) : cos(x));
    double zs = r * ((b >> 29) & 1u ? cos(x) : sin(x));
    zc = (b >> 30) & 1u ? -zc : zc;
    zs = (b >> 31) & 1u ? -zs : zs;
    worst_z = fmax(worst_z, fmax(fabs((double)z0 - zc), fabs((double)z1 - zs)));
  }
  cr_log_info("-2 ln(1+t) rel %.3g, -2 ln u rel %.3g, cos/sin abs %.3g, normal abs %.3g",
              worst_log1p, worst_log, worst_trig, worst_z);
  cr_expect(worst_log1p < 3.5e-7, "-2 ln(1+t) relative error %g", worst_log1p);
  cr_expect(worst_log < 4e-7, "-2 ln u relative error %g", worst_log);
  cr_expect(worst_trig < 1.5e-7, "cos/sin absolute error %g", worst_trig);
  cr_expect(worst_z < 1e-6, "normal absolute error %g", worst_z);
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
