#include "cascade_ref.h"

/* Who is paid what for a liquidation: Compound v3 absorb, the backstop
 * pool, dynamic incentives, MEV and liquidator latency.
 * Hooks of the reference cascade: see kernels/cascade_ref.h. */

bool ref_incentive_ws_create(sch_cascade_ref_ws *ws,
                             const sch_market_model *mm) {
  (void)ws;
  (void)mm;
  return true;
}

void ref_incentive_ws_free(sch_cascade_ref_ws *ws) { (void)ws; }

void ref_incentive_init_path(path_state *ps) { (void)ps; }

void ref_absorb_step(path_state *ps) { (void)ps; }

void ref_incentive_finish_path(path_state *ps) { (void)ps; }
