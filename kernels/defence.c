#include "cascade_ref.h"

/* Protocol defences: circuit breakers and volatility-triggered liquidation
 * thresholds.
 * Hooks of the reference cascade: see kernels/cascade_ref.h. */

bool ref_defence_ws_create(sch_cascade_ref_ws *ws, const sch_market_model *mm) {
  (void)ws;
  (void)mm;
  return true;
}

void ref_defence_ws_free(sch_cascade_ref_ws *ws) { (void)ws; }

void ref_defence_init_path(path_state *ps) { (void)ps; }

bool ref_defence_step(path_state *ps) {
  (void)ps;
  return true;
}

void ref_defence_finish_path(path_state *ps) { (void)ps; }
