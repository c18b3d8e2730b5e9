#include "paths.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "normals.h"
#include "rng.h"

/* Vector clones for AVX-512 and AVX2 machines, and the portable baseline;
 * the loader picks one at start-up (GNU ifunc). Every clone performs the same
 * IEEE operations per lane, so the choice never changes a result. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&         \
    !defined(__SANITIZE_ADDRESS__)
#define SCH_VECTOR_CLONES                                                      \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SCH_VECTOR_CLONES
#endif

/* A jump of one lane, for the fused increment and running-sum pass. */
typedef struct jump_event {
  int64_t k;
  int32_t at; /* r * SCH_LANES + lane */
  double size;
} jump_event;

/* Jumps a block can hold (about 0.2 are expected in the default world);
 * a block with more takes the unfused passes, with the same result. */
#define JUMP_CAP 1024

struct sch_path_ws {
  float *z;       /* [2 n_pairs][SCH_LANES] normals */
  double *scale;  /* [n_steps + 1][SCH_LANES] Student-t scale per step */
  int64_t n_pairs;
  jump_event *jumps; /* [JUMP_CAP], sorted by step */
  int64_t n_jumps;
  int lane;          /* lane whose jumps are being collected */
};

/* Normals needed per path: one per risky asset per step, in pairs. */
static int64_t pairs_needed(const sch_path_model *m) {
  return (m->n_steps * m->n_risky + 1) / 2;
}

sch_path_ws *sch_path_ws_create(const sch_path_model *m) {
  sch_path_ws *ws = calloc(1, sizeof *ws);
  if (!ws)
    return NULL;
  ws->n_pairs = pairs_needed(m);
  ws->z = malloc((size_t)(2 * ws->n_pairs + 1) * SCH_LANES * sizeof(float));
  ws->scale = malloc((size_t)(m->n_steps + 1) * SCH_LANES * sizeof(double));
  ws->jumps = malloc(JUMP_CAP * sizeof(jump_event));
  if (!ws->z || !ws->scale || !ws->jumps) {
    sch_path_ws_free(ws);
    return NULL;
  }
  return ws;
}

void sch_path_ws_free(sch_path_ws *ws) {
  if (!ws)
    return;
  free(ws->z);
  free(ws->scale);
  free(ws->jumps);
  free(ws);
}

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

/* ---- pieces shared by the reference and the block kernel ----------------- */

/* Student-t scale sqrt((nu - 2) / W_k) per step (rejection sampling: scalar
 * per path in both implementations). */
static void student_scales(const sch_path_model *m, uint64_t path,
                           double *scale, int64_t stride) {
  sch_normal_stream mixing = {0};
  sch_stream_for_path(&mixing.rng, m->seed, SCH_STREAM_STUDENT_T, path);
  for (int64_t k = 1; k <= m->n_steps; k++)
    scale[k * stride] = sqrt((m->dof - 2.0) / sch_chi_square(&mixing, m->dof));
}

/* Arrivals in ((k-1) dt, k dt] land in step k: the count per step is then
 * Poisson(rate dt), independent by step. */
static int64_t arrival_step(double t, double dt) { return (int64_t)ceil(t / dt); }

/* One jump: add `size` to the increment of slot r at step k. */
typedef void (*jump_visit)(void *ctx, int64_t k, int r, double size);

/* Jumps, drawn as exponential inter-arrival times (exactly a Poisson count per
 * step, and only O(rate T) draws): systemic first, then each slot. They are
 * added to the increments, before the cumulative sum, in this order. */
static void for_each_jump(const sch_path_model *m, uint64_t path,
                          jump_visit visit, void *ctx) {
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
        visit(ctx, k, r, m->jump_beta[r] * size);
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
        visit(ctx, k, r, size);
    }
  }
}

typedef struct jump_into_x {
  double *x;
  int64_t stride;
  int nr;
} jump_into_x;

static void add_jump_to_x(void *ctx, int64_t k, int r, double size) {
  jump_into_x *j = ctx;
  j->x[(k * j->nr + r) * j->stride] += size;
}

static void add_jumps(const sch_path_model *m, uint64_t path, double *x,
                      int64_t stride) {
  jump_into_x j = {x, stride, m->n_risky};
  for_each_jump(m, path, add_jump_to_x, &j);
}

/* ---- scalar reference -------------------------------------------------- */

void sch_normals_reference(uint64_t seed, uint64_t path, int64_t n_pairs,
                           float *z) {
  sch_pcg32 rng;
  sch_stream_for_path(&rng, seed, SCH_STREAM_DIFFUSION, path);
  for (int64_t j = 0; j < n_pairs; j++) {
    uint32_t a = sch_pcg32_next(&rng);
    uint32_t b = sch_pcg32_next(&rng);
    sch_box_muller_f(a, b, &z[2 * j], &z[2 * j + 1]);
  }
}

/* ---- replay and stress, shared by both implementations ------------------ */

/* Replay: the scenario's log prices, copied as they are (path p replays
 * scenario p mod n_scenarios, so a partly filled last block stays in
 * bounds). */
static void copy_scenario(const sch_path_model *m, uint64_t path, double *x,
                          int64_t stride) {
  const int64_t row = (m->n_steps + 1) * m->n_risky;
  const double *src =
      m->replay_x + (int64_t)(path % (uint64_t)m->n_scenarios) * row;
  for (int64_t e = 0; e < row; e++)
    x[e * stride] = src[e];
}

/* Stress shocks in config order: each adds ln(1 - drop) from its step on.
 * Applied after the running sum, so a shock is a level shift, not a
 * return that compounds. */
static void add_shocks(const sch_path_model *m, double *x, int64_t stride) {
  const int nr = m->n_risky;
  for (int j = 0; j < m->n_shocks; j++)
    for (int64_t k = m->shock_step[j]; k <= m->n_steps; k++)
      x[(k * nr + m->shock_slot[j]) * stride] += m->shock_log[j];
}

/* x(k) - x(k-1) = drift + scale (C z_k), then jumps, then the running sum;
 * the block kernel does exactly these operations in this order per lane. */
static void simulate_reference(const sch_path_model *m, uint64_t path,
                               double *x) {
  const int nr = m->n_risky;
  int64_t n_pairs = pairs_needed(m);
  float *z = malloc((size_t)(2 * n_pairs + 1) * sizeof(float));
  double *scale = malloc((size_t)(m->n_steps + 1) * sizeof(double));
  if (!z || !scale) { /* the engine never takes this path: it uses blocks */
    free(z);
    free(scale);
    return;
  }
  sch_normals_reference(m->seed, path, n_pairs, z);
  if (m->student_t)
    student_scales(m, path, scale, 1);
  for (int r = 0; r < nr; r++)
    x[r] = m->log_price0[r];
  for (int64_t k = 1; k <= m->n_steps; k++) {
    const float *zk = z + (k - 1) * nr;
    double s = m->student_t ? scale[k] : 1.0;
    for (int r = 0; r < nr; r++) {
      double shock = 0.0;
      for (int q = 0; q <= r; q++)
        shock += m->chol_scaled[r][q] * (double)zk[q];
      x[k * nr + r] = m->drift_step[r] + s * shock;
    }
  }
  add_jumps(m, path, x, 1);
  for (int64_t k = 1; k <= m->n_steps; k++)
    for (int r = 0; r < nr; r++)
      x[k * nr + r] += x[(k - 1) * nr + r];
  free(z);
  free(scale);
}

void sch_path_generate(const sch_path_model *m, uint64_t path, double *x) {
  if (m->n_risky == 0)
    return;
  if (m->n_scenarios > 0)
    copy_scenario(m, path, x, 1);
  else
    simulate_reference(m, path, x);
  add_shocks(m, x, 1);
}

/* ---- block kernel -------------------------------------------------------- */

/* Pass 1: the lanes' PCG32 draws a[j][l], b[j][l]. */
static void lane_streams(uint64_t seed, uint64_t first, uint64_t *state,
                         uint64_t *inc) {
  for (int l = 0; l < SCH_LANES; l++) {
    sch_pcg32 rng;
    sch_stream_for_path(&rng, seed, SCH_STREAM_DIFFUSION, first + (uint64_t)l);
    state[l] = rng.state;
    inc[l] = rng.inc;
  }
}

/* PCG32's XSH-RR output of a state (as sch_pcg32_next returns it). */
static inline uint32_t pcg32_output(uint64_t old) {
  uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
  uint32_t rot = (uint32_t)(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

/* Two pairs' draws come from states s, s M + inc, s M^2 + inc (M + 1) and
 * s M^3 + inc (M^2 + M + 1), and the state after them, s M^4 + inc (M^3 +
 * M^2 + M + 1), from s directly: each lane's chain of 64-bit multiplies
 * (15 cycles each with AVX-512) is one step per two pairs instead of four.
 * The same states modulo 2^64, so the same draws. */
SCH_VECTOR_CLONES
static void block_draws(uint64_t *state, const uint64_t *inc, int64_t n_pairs,
                        uint32_t *draws) {
  const uint64_t m1 = SCH_PCG32_MULT, m2 = m1 * m1, m3 = m2 * m1,
                 m4 = m2 * m2;
  uint64_t inc2[SCH_LANES], inc3[SCH_LANES], inc4[SCH_LANES];
  for (int l = 0; l < SCH_LANES; l++) {
    inc2[l] = inc[l] * m1 + inc[l];
    inc3[l] = inc2[l] * m1 + inc[l];
    inc4[l] = inc3[l] * m1 + inc[l];
  }
  int64_t j = 0;
  for (; j + 1 < n_pairs; j += 2) {
    uint32_t *a = draws + 2 * j * SCH_LANES;
    for (int l = 0; l < SCH_LANES; l++) {
      uint64_t s = state[l];
      a[l] = pcg32_output(s);
      a[SCH_LANES + l] = pcg32_output(s * m1 + inc[l]);
      a[2 * SCH_LANES + l] = pcg32_output(s * m2 + inc2[l]);
      a[3 * SCH_LANES + l] = pcg32_output(s * m3 + inc3[l]);
      state[l] = s * m4 + inc4[l];
    }
  }
  for (; j < n_pairs; j++) { /* an odd last pair */
    uint32_t *a = draws + 2 * j * SCH_LANES;
    for (int l = 0; l < SCH_LANES; l++) {
      uint64_t s = state[l];
      a[l] = pcg32_output(s);
      a[SCH_LANES + l] = pcg32_output(s * m1 + inc[l]);
      state[l] = s * m2 + inc2[l];
    }
  }
}

/* Pass 2: Box-Muller, one long loop with no carried dependency, so the
 * polynomial chains of many vectors are in flight at once. */
SCH_VECTOR_CLONES
static void block_box_muller(int64_t n_pairs, const uint32_t *draws,
                             float *z) {
  for (int64_t j = 0; j < n_pairs; j++) {
    const uint32_t *a = draws + 2 * j * SCH_LANES, *b = a + SCH_LANES;
    float *z0 = z + 2 * j * SCH_LANES, *z1 = z0 + SCH_LANES;
    for (int l = 0; l < SCH_LANES; l++)
      sch_box_muller_f(a[l], b[l], &z0[l], &z1[l]);
  }
}

/* Draws are made in chunks so their buffer stays in L1. */
#define DRAW_CHUNK_PAIRS 64

void sch_normals_block(uint64_t seed, uint64_t first, int64_t n_pairs,
                       float *z) {
  uint32_t draws[2 * DRAW_CHUNK_PAIRS * SCH_LANES];
  uint64_t state[SCH_LANES], inc[SCH_LANES];
  lane_streams(seed, first, state, inc);
  for (int64_t j = 0; j < n_pairs; j += DRAW_CHUNK_PAIRS) {
    int64_t n = n_pairs - j < DRAW_CHUNK_PAIRS ? n_pairs - j : DRAW_CHUNK_PAIRS;
    block_draws(state, inc, n, draws);
    block_box_muller(n, draws, z + 2 * j * SCH_LANES);
  }
}

/* Four doubles: one AVX2 register, two SSE2 halves, half an AVX-512 one.
 * Eight-double vectors were lowered piecewise through the stack in the
 * AVX2 clone (6x slower there); four split cleanly everywhere. */
typedef double d4 __attribute__((vector_size(32)));
typedef float f4 __attribute__((vector_size(16)));

/* x(k) = (drift + scale (C z_k)) + x(k-1) per lane, with the lane-vector
 * loop innermost; jumps (sorted by step) join the increment before the
 * running sum, so the operations per lane are the reference's, in its
 * order. One pass: the increments never go to memory and back. */
SCH_VECTOR_CLONES
static void block_fused(const sch_path_model *m, const float *z,
                        const double *scale, const jump_event *jumps,
                        int64_t n_jumps, double *x) {
  const int nr = m->n_risky;
  const int64_t row = (int64_t)nr * SCH_LANES;
  for (int r = 0; r < nr; r++)
    for (int l = 0; l < SCH_LANES; l++)
      x[r * SCH_LANES + l] = m->log_price0[r];
  int64_t e = 0;
  for (int64_t k = 1; k <= m->n_steps; k++) {
    const float *zk = z + (k - 1) * row;
    const double *sk = scale + k * SCH_LANES;
    double *xk = x + k * row;
    for (int r = 0; r < nr; r++) {
      /* explicit vectors: with plain lane loops GCC unrolled the 16 lanes
       * into scalar code */
      d4 shock[SCH_LANES / 4] = {{0.0}};
      for (int q = 0; q <= r; q++) {
        const double c = m->chol_scaled[r][q];
        for (int h = 0; h < SCH_LANES / 4; h++) {
          f4 zq;
          memcpy(&zq, zk + q * SCH_LANES + 4 * h, sizeof zq);
          shock[h] += c * __builtin_convertvector(zq, d4);
        }
      }
      for (int h = 0; h < SCH_LANES / 4; h++) {
        d4 scale_h;
        memcpy(&scale_h, sk + 4 * h, sizeof scale_h);
        d4 inc = m->drift_step[r] + scale_h * shock[h];
        memcpy(xk + r * SCH_LANES + 4 * h, &inc, sizeof inc);
      }
    }
    for (; e < n_jumps && jumps[e].k == k; e++)
      xk[jumps[e].at] += jumps[e].size;
    for (int64_t i = 0; i < row; i++)
      xk[i] += xk[i - row];
  }
}

/* Jump visitor of the block kernel: appends to ws->jumps (n_jumps past the
 * capacity marks an overflow). */
static void collect_jump(void *ctx, int64_t k, int r, double size) {
  sch_path_ws *ws = ctx;
  if (ws->n_jumps < JUMP_CAP)
    ws->jumps[ws->n_jumps] =
        (jump_event){k, r * SCH_LANES + ws->lane, size};
  ws->n_jumps++;
}

/* Stable sort by step: jumps on one element keep their generation order,
 * which is the order add_jumps adds them in. */
static void sort_jumps(jump_event *j, int64_t n) {
  for (int64_t i = 1; i < n; i++) {
    jump_event t = j[i];
    int64_t p = i;
    for (; p > 0 && j[p - 1].k > t.k; p--)
      j[p] = j[p - 1];
    j[p] = t;
  }
}

/* The unfused passes, for a block with more than JUMP_CAP jumps. */
SCH_VECTOR_CLONES
static void block_increments(const sch_path_model *m, const float *z,
                             const double *scale, double *x) {
  const int nr = m->n_risky;
  for (int r = 0; r < nr; r++)
    for (int l = 0; l < SCH_LANES; l++)
      x[r * SCH_LANES + l] = m->log_price0[r];
  for (int64_t k = 1; k <= m->n_steps; k++) {
    const float *zk = z + (k - 1) * nr * SCH_LANES;
    const double *sk = scale + k * SCH_LANES;
    for (int r = 0; r < nr; r++) {
      double *xk = x + (k * nr + r) * SCH_LANES;
      for (int l = 0; l < SCH_LANES; l++) {
        double shock = 0.0;
        for (int q = 0; q <= r; q++)
          shock += m->chol_scaled[r][q] * (double)zk[q * SCH_LANES + l];
        xk[l] = m->drift_step[r] + sk[l] * shock;
      }
    }
  }
}

SCH_VECTOR_CLONES
static void block_cumulate(const sch_path_model *m, double *x) {
  const int64_t row = (int64_t)m->n_risky * SCH_LANES;
  for (int64_t k = 1; k <= m->n_steps; k++) {
    double *cur = x + k * row;
    const double *prev = cur - row;
    for (int64_t i = 0; i < row; i++)
      cur[i] += prev[i];
  }
}

static void simulate_block(const sch_path_model *m, uint64_t first,
                           sch_path_ws *ws, double *x) {
  sch_normals_block(m->seed, first, ws->n_pairs, ws->z);
  for (int64_t k = 0; k <= m->n_steps; k++)
    for (int l = 0; l < SCH_LANES; l++)
      ws->scale[k * SCH_LANES + l] = 1.0;
  if (m->student_t)
    for (int l = 0; l < SCH_LANES; l++)
      student_scales(m, first + (uint64_t)l, ws->scale + l, SCH_LANES);
  ws->n_jumps = 0;
  for (ws->lane = 0; ws->lane < SCH_LANES; ws->lane++)
    for_each_jump(m, first + (uint64_t)ws->lane, collect_jump, ws);
  if (ws->n_jumps <= JUMP_CAP) {
    sort_jumps(ws->jumps, ws->n_jumps);
    block_fused(m, ws->z, ws->scale, ws->jumps, ws->n_jumps, x);
    return;
  }
  block_increments(m, ws->z, ws->scale, x);
  for (int l = 0; l < SCH_LANES; l++)
    add_jumps(m, first + (uint64_t)l, x + l, SCH_LANES);
  block_cumulate(m, x);
}

void sch_path_generate_block(const sch_path_model *m, uint64_t first,
                             sch_path_ws *ws, double *x) {
  if (m->n_risky == 0)
    return;
  if (m->n_scenarios > 0) {
    for (int l = 0; l < SCH_LANES; l++)
      copy_scenario(m, first + (uint64_t)l, x + l, SCH_LANES);
  } else {
    simulate_block(m, first, ws, x);
  }
  for (int l = 0; l < SCH_LANES; l++)
    add_shocks(m, x + l, SCH_LANES);
}
