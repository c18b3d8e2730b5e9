/**
 * @file rng.h
 * @brief PCG32 (O'Neill 2014, "PCG: A Family of Simple Fast Space-Efficient
 *        Statistically Good Algorithms for Random Number Generation"), per-path
 *        named streams, uniforms and normals.
 *
 * Stream derivation (docs/model.md, "Random numbers"): a (seed, stream name)
 * pair selects a PCG32 sequence (its increment) and a starting state; path p
 * starts p * 2^34 draws into that sequence (O(log n) jump-ahead, Brown 1994,
 * "Random Number Generation with Arbitrary Stride"). Paths therefore own
 * disjoint blocks of 2^34 draws, so what a path draws depends only on
 * (seed, path, stream), never on threads, ranks or block size.
 */
#ifndef SCHELLING_KERNELS_RNG_H
#define SCHELLING_KERNELS_RNG_H

#include <math.h>
#include <stdint.h>

/** PCG32 state: 64-bit LCG state and odd increment (the sequence). */
typedef struct sch_pcg32 {
  uint64_t state;
  uint64_t inc;
} sch_pcg32;

/** Named per-path streams; a new mechanism gets a new name, never reuses. */
typedef enum sch_stream {
  SCH_STREAM_DIFFUSION = 1, /**< z_k normals of the price diffusion */
  SCH_STREAM_JUMPS = 2,     /**< jump arrival times and sizes */
  SCH_STREAM_STUDENT_T = 3, /**< chi-square mixing variable W per step */
  SCH_STREAM_LOANBOOK = 4,  /**< loan-book generator (path index 0) */
  SCH_STREAM_AUCTION = 5,   /**< auction bidders (kernels/auction.c) */
  SCH_STREAM_INCENTIVE = 6, /**< MEV and liquidator competition */
  SCH_STREAM_DEFENCE = 7,   /**< protocol defences (kernels/defence.c) */
  SCH_STREAM_LENDERS = 8,   /**< depositor signals (kernels/lenders.c) */
  SCH_STREAM_FLIGHT = 9,    /**< liquidity flight (kernels/lenders.c) */
} sch_stream;

/** Draws each path owns in each stream: 2^34 (paths < 2^30). */
#define SCH_DRAWS_PER_PATH_LOG2 34
#define SCH_MAX_PATHS (INT64_C(1) << 30)

#define SCH_PCG32_MULT UINT64_C(6364136223846793005)

/** Next 32 random bits (pcg32_random_r, XSH RR output). */
static inline uint32_t sch_pcg32_next(sch_pcg32 *rng) {
  uint64_t old = rng->state;
  rng->state = old * SCH_PCG32_MULT + rng->inc;
  uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
  uint32_t rot = (uint32_t)(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

/**
 * Seed as pcg32_srandom_r(initstate, initseq) of the reference library.
 * @param rng       state to set
 * @param initstate starting state
 * @param initseq   sequence selector
 */
void sch_pcg32_seed(sch_pcg32 *rng, uint64_t initstate, uint64_t initseq);

/**
 * Jump ahead by delta draws in O(log delta) (pcg_advance_lcg_64).
 * @param rng   state
 * @param delta draws to skip
 */
void sch_pcg32_advance(sch_pcg32 *rng, uint64_t delta);

/**
 * The generator of one path in one named stream.
 * @param rng    state to set
 * @param seed   simulation seed
 * @param stream stream name
 * @param path   path index (< SCH_MAX_PATHS)
 */
void sch_stream_for_path(sch_pcg32 *rng, uint64_t seed, sch_stream stream,
                         uint64_t path);

/** SplitMix64 finaliser (Steele, Lea, Flood 2014): a 64-bit mixer. */
static inline uint64_t sch_splitmix64(uint64_t x) {
  x += UINT64_C(0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
  return x ^ (x >> 31);
}

/** Uniform in the open interval (0,1) from 32 bits: (u + 1/2) / 2^32. */
static inline double sch_uniform_open(sch_pcg32 *rng) {
  return ((double)sch_pcg32_next(rng) + 0.5) * 0x1p-32;
}

/**
 * Two independent standard normals by Box-Muller from two 32-bit uniforms.
 * |z| <= 6.77 (u1 >= 2^-33); the truncation probability is below 1e-11.
 */
static inline void sch_normal_pair(sch_pcg32 *rng, double *z0, double *z1) {
  double u1 = sch_uniform_open(rng);
  double u2 = sch_uniform_open(rng);
  double radius = sqrt(-2.0 * log(u1));
  double angle = 6.283185307179586476925 * u2;
  *z0 = radius * cos(angle);
  *z1 = radius * sin(angle);
}

/** A stream of normals that keeps the second of each Box-Muller pair. */
typedef struct sch_normal_stream {
  sch_pcg32 rng;
  double spare;
  int has_spare;
} sch_normal_stream;

/** Next standard normal of a normal stream. */
static inline double sch_normal_next(sch_normal_stream *ns) {
  if (ns->has_spare) {
    ns->has_spare = 0;
    return ns->spare;
  }
  double z0, z1;
  sch_normal_pair(&ns->rng, &z0, &z1);
  ns->spare = z1;
  ns->has_spare = 1;
  return z0;
}

/** Exponential variate with mean 1. */
static inline double sch_exponential(sch_pcg32 *rng) {
  return -log(sch_uniform_open(rng));
}

#endif
