#include "rng.h"

void sch_pcg32_seed(sch_pcg32 *rng, uint64_t initstate, uint64_t initseq) {
  rng->state = 0u;
  rng->inc = (initseq << 1u) | 1u;
  (void)sch_pcg32_next(rng);
  rng->state += initstate;
  (void)sch_pcg32_next(rng);
}

/* Brown (1994): the LCG x -> a x + c applied delta times is x -> A x + C with
 * A = a^delta and C = c (a^delta - 1)/(a - 1), both built by squaring. */
void sch_pcg32_advance(sch_pcg32 *rng, uint64_t delta) {
  uint64_t cur_mult = SCH_PCG32_MULT, cur_plus = rng->inc;
  uint64_t acc_mult = 1u, acc_plus = 0u;
  while (delta > 0) {
    if (delta & 1u) {
      acc_mult *= cur_mult;
      acc_plus = acc_plus * cur_mult + cur_plus;
    }
    cur_plus = (cur_mult + 1u) * cur_plus;
    cur_mult *= cur_mult;
    delta >>= 1u;
  }
  rng->state = acc_mult * rng->state + acc_plus;
}

void sch_stream_for_path(sch_pcg32 *rng, uint64_t seed, sch_stream stream,
                         uint64_t path) {
  uint64_t tag = (uint64_t)stream * UINT64_C(0xd1342543de82ef95);
  sch_pcg32_seed(rng, sch_splitmix64(seed ^ tag),
                 sch_splitmix64(sch_splitmix64(seed) + tag));
  sch_pcg32_advance(rng, path << SCH_DRAWS_PER_PATH_LOG2);
}
