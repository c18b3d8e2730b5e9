/**
 * @file normals.h
 * @brief Branch-free float Box-Muller on two 32-bit draws, written only with
 *        IEEE +, -, *, / and sqrt so that a loop over lanes vectorises and
 *        every lane, scalar or SIMD of any width, rounds identically
 *        (the build uses -ffp-contract=off: no fused multiply-adds).
 *
 * log and sin/cos are Cephes-style minimax polynomials (Moshier, "Methods
 * and Programs for Mathematical Functions", 1989): logf relative error about
 * 1e-7, sinf/cosf on [-pi/4, pi/4] about 6e-8. The normals carry that error
 * (tests/test_paths.c checks moments and the tail).
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

/* ln(x) for normal, positive x (Cephes logf). */
static inline float sch_logf_poly(float x) {
  uint32_t bits = sch_float_to_bits(x);
  int32_t e = (int32_t)(bits >> 23) - 126;  /* x = m 2^e, m in [0.5, 1) */
  float m = sch_bits_to_float((bits & 0x007fffffu) | 0x3f000000u);
  int below = m < 0.70710678118654752f; /* fold m into [sqrt(1/2), sqrt(2)) */
  e -= below;
  float t = below ? m + m - 1.0f : m - 1.0f;
  float z = t * t;
  float y = 7.0376836292e-2f;
  y = y * t - 1.1514610310e-1f;
  y = y * t + 1.1676998740e-1f;
  y = y * t - 1.2420140846e-1f;
  y = y * t + 1.4249322787e-1f;
  y = y * t - 1.6668057665e-1f;
  y = y * t + 2.0000714765e-1f;
  y = y * t - 2.4999993993e-1f;
  y = y * t + 3.3333331174e-1f;
  y = y * t * z;
  float fe = (float)e;
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  return t + y + 0.693359375f * fe;
}

/* sin and cos of 2 pi u for u in [0, 1): quadrant from round(4u), then
 * polynomials on [-pi/4, pi/4] and a branch-free rotation. */
static inline void sch_sincos_turns(float u, float *s, float *c) {
  float q4 = 4.0f * u;
  int32_t q = (int32_t)(q4 + 0.5f); /* nearest quadrant, 0..4 */
  float x = (q4 - (float)q) * 1.57079632679489662f;
  float z = x * x;
  float sp = -1.9515295891e-4f;
  sp = sp * z + 8.3321608736e-3f;
  sp = sp * z - 1.6666654611e-1f;
  sp = sp * z * x + x;
  float cp = 2.443315711809948e-5f;
  cp = cp * z - 1.388731625493765e-3f;
  cp = cp * z + 4.166664568298827e-2f;
  cp = cp * z * z - 0.5f * z + 1.0f;
  int32_t k = q & 3;
  float s_abs = (k & 1) ? cp : sp; /* quadrants 1, 3 swap sin and cos */
  float c_abs = (k & 1) ? sp : cp;
  *s = (k & 2) ? -s_abs : s_abs;        /* sin(x + k pi/2) */
  *c = ((k + 1) & 2) ? -c_abs : c_abs;  /* cos(x + k pi/2) */
}

/**
 * Two standard normals from two 32-bit draws. u1 uses all 32 bits, in
 * (0, 1], so |z| <= sqrt(-2 ln 2^-33) = 6.77; the angle uses the top 24.
 */
static inline void sch_box_muller_f(uint32_t a, uint32_t b, float *z0,
                                    float *z1) {
  /* both parts convert exactly; the sum rounds the same in every lane */
  float u1 = ((float)(int32_t)(a >> 8) +
              ((float)(int32_t)(a & 0xffu) + 0.5f) * 0x1p-8f) *
             0x1p-24f;
  float u2 = (float)(int32_t)(b >> 8) * 0x1p-24f;
  float radius = sqrtf(-2.0f * sch_logf_poly(u1));
  float s, c;
  sch_sincos_turns(u2, &s, &c);
  *z0 = radius * c;
  *z1 = radius * s;
}

#endif
