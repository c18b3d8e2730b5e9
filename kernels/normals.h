/**
 * @file normals.h
 * @brief Branch-free float Box-Muller on two 32-bit draws, written only with
 *        IEEE +, -, *, sqrt, integer operations and correctly rounded
 *        integer-to-float conversions, so that a loop over lanes vectorises
 *        and every lane, scalar or SIMD of any width, rounds identically (the
 *        build uses -ffp-contract=off: no fused multiply-adds; GCC's AVX2
 *        expansion of the unsigned conversion uses one, exactly: hi 2^16 +
 *        lo rounded once).
 *
 * The approximations (measured by tests/test_paths.c against double libm):
 * - w = -2 ln u: exponent split at 2/3 so that t = m - 1 is in [-1/3, 1/3),
 *   then t Q(t) with Q of degree 7 (8 coefficients, the first pinned to -2),
 *   a near-minimax fit of -2 ln(1+t)/t by relative error (Lawson's iteration
 *   in long double, coefficients rounded to float). Evaluated in float over
 *   every float in [2/3, 4/3): relative error of -2 ln m below 3.2e-7;
 *   of w over the grid of u below 3.5e-7.
 * - sin and cos on [0, pi/4]: Cephes sinf/cosf coefficients (Moshier,
 *   "Methods and Programs for Mathematical Functions", 1989), absolute error
 *   below 1.2e-7 in float.
 * - the normal: within 4e-7 absolute of double-precision Box-Muller on the
 *   same u and angle (|z| <= 6.66), 2500x below the Monte Carlo standard
 *   error of a mean over a million paths.
 */
#ifndef SCHELLING_KERNELS_NORMALS_H
#define SCHELLING_KERNELS_NORMALS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float sch_bits_to_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint32_t sch_float_to_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* -2 ln(1 + t) for t in [-1/3, 1/3): t Q(t). */
static inline float sch_neg2log1p_poly(float t) {
  float y = 3.053362966e-1f;
  y = y * t - 3.398111761e-1f;
  y = y * t + 3.288162053e-1f;
  y = y * t - 3.963633776e-1f;
  y = y * t + 5.001264811e-1f;
  y = y * t - 6.667346954e-1f;
  y = y * t + 9.999992251e-1f;
  y = y * t - 2.0f;
  return y * t;
}

/* -2 ln u for u = (a | 1) 2^-32 in (0, 1], rounded to float (so u can be
 * 1, and then w = 0). f = (float)(a | 1) is in [1, 2^32]; f = 2^k m with m
 * in [2/3, 4/3) from the bits (subtracting those of 2/3 carries into the
 * exponent field exactly when the mantissa is below 2/3's). */
static inline float sch_neg2log_u(uint32_t a) {
  uint32_t ix = sch_float_to_bits((float)(a | 1u));
  uint32_t tmp = ix - 0x3f2aaaabu;      /* > 0: f >= 1 */
  int32_t k = (int32_t)(tmp >> 23);     /* 0 .. 32 */
  float m = sch_bits_to_float(ix - (tmp & 0xff800000u));
  float fe = (float)(32 - k);           /* -ln u = (32 - k) ln 2 - ln m */
  return fe * 1.386294361f + sch_neg2log1p_poly(m - 1.0f);
}

/* cos and sin of x in [0, pi/4] (x = 0 .. pi/4 as bits 0-28 of b). */
static inline void sch_cos_sin_octant(uint32_t b, float *c, float *s) {
  float x = (float)(int32_t)(b & 0x1fffffffu) * 0x1.921fb6p-30f;
  float z = x * x;
  float sp = -1.9515295891e-4f;
  sp = sp * z + 8.3321608736e-3f;
  sp = sp * z - 1.6666654611e-1f;
  *s = sp * z * x + x;
  float cp = 2.443315711809948e-5f;
  cp = cp * z - 1.388731625493765e-3f;
  cp = cp * z + 4.166664568298827e-2f;
  cp = cp * z - 0.5f;
  *c = cp * z + 1.0f;
}

/**
 * Two standard normals from two 32-bit draws: radius sqrt(-2 ln u) with
 * u = (a | 1) 2^-32 (so |z| <= sqrt(64 ln 2) = 6.66), and an angle uniform
 * over the circle made of the 8 octants' reflections of x in [0, pi/4):
 * bit 29 of b swaps cos and sin (theta = pi/2 - x), bits 31 and 30 give the
 * signs of sin and cos; bits 0-28 give x.
 */
static inline void sch_box_muller_f(uint32_t a, uint32_t b, float *z0,
                                    float *z1) {
  float radius = sqrtf(sch_neg2log_u(a));
  float c, s;
  sch_cos_sin_octant(b, &c, &s);
  /* the swap as a bit blend, not a select: GCC turns `swap ? s : c` into
   * a branch that stops the AVX2 clone from vectorising (AVX-512 masks
   * hid that) */
  uint32_t swap = 0u - ((b >> 29) & 1u);
  uint32_t cb = sch_float_to_bits(c), sb = sch_float_to_bits(s);
  float rc = sch_bits_to_float((cb & ~swap) | (sb & swap));
  float rs = sch_bits_to_float((sb & ~swap) | (cb & swap));
  *z0 = sch_bits_to_float(sch_float_to_bits(radius * rc) ^
                          ((b << 1) & 0x80000000u));
  *z1 = sch_bits_to_float(sch_float_to_bits(radius * rs) ^
                          (b & 0x80000000u));
}

#endif
