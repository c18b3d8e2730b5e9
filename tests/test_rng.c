#include <criterion/criterion.h>
#include <math.h>

#include "rng.h"

/* DESIGN.md section 2: pcg32 seeded with state 42, sequence 54. */
Test(rng, pcg32_reference_vectors) {
  static const uint32_t expected[] = {0xa15c02b7, 0x7b47f409, 0xba1d3330,
                                      0x83d2f293, 0xbfa4784b, 0xcbed606e};
  sch_pcg32 rng;
  sch_pcg32_seed(&rng, 42u, 54u);
  for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
    cr_expect_eq(sch_pcg32_next(&rng), expected[i], "draw %zu", i);
}

Test(rng, advance_equals_stepping) {
  sch_pcg32 a, b;
  sch_pcg32_seed(&a, 42u, 54u);
  b = a;
  for (int i = 0; i < 12345; i++)
    (void)sch_pcg32_next(&a);
  sch_pcg32_advance(&b, 12345u);
  cr_expect_eq(a.state, b.state);
  cr_expect_eq(sch_pcg32_next(&a), sch_pcg32_next(&b));
}

/* Path p's stream equals path 0's stream advanced by p * 2^34 draws, and the
 * derivation does not touch any global state, so the order in which paths are
 * set up (thread schedule) cannot matter. */
Test(rng, path_streams_are_disjoint_blocks) {
  sch_pcg32 p0, p5, p5_again;
  sch_stream_for_path(&p0, 42u, SCH_STREAM_DIFFUSION, 0u);
  sch_stream_for_path(&p5, 42u, SCH_STREAM_DIFFUSION, 5u);
  sch_pcg32_advance(&p0, UINT64_C(5) << SCH_DRAWS_PER_PATH_LOG2);
  cr_expect_eq(p0.state, p5.state);
  cr_expect_eq(p0.inc, p5.inc);
  sch_stream_for_path(&p5_again, 42u, SCH_STREAM_DIFFUSION, 5u);
  cr_expect_eq(sch_pcg32_next(&p5), sch_pcg32_next(&p5_again));
}

Test(rng, named_streams_differ) {
  sch_pcg32 d, j, t;
  sch_stream_for_path(&d, 42u, SCH_STREAM_DIFFUSION, 0u);
  sch_stream_for_path(&j, 42u, SCH_STREAM_JUMPS, 0u);
  sch_stream_for_path(&t, 42u, SCH_STREAM_STUDENT_T, 0u);
  cr_expect_neq(d.inc, j.inc);
  cr_expect_neq(d.inc, t.inc);
  cr_expect_neq(j.inc, t.inc);
}

/* Box-Muller normals: mean 0, variance 1, kurtosis 3 within 5 standard
 * errors (fixed seed: deterministic). */
Test(rng, normal_moments) {
  sch_normal_stream ns = {0};
  sch_stream_for_path(&ns.rng, 7u, SCH_STREAM_DIFFUSION, 3u);
  const int n = 1000000;
  double s1 = 0, s2 = 0, s4 = 0;
  for (int i = 0; i < n; i++) {
    double z = sch_normal_next(&ns);
    s1 += z;
    s2 += z * z;
    s4 += z * z * z * z;
  }
  double mean = s1 / n, var = s2 / n, m4 = s4 / n;
  cr_expect(fabs(mean) < 5.0 / sqrt(n), "mean %g", mean);
  cr_expect(fabs(var - 1.0) < 5.0 * sqrt(2.0 / n), "var %g", var);
  cr_expect(fabs(m4 - 3.0) < 5.0 * sqrt(96.0 / n), "m4 %g", m4);
}
