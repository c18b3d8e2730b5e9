#include "cascade_ref.h"

/* Coordination failure (issue 7): lenders and utilisation, depositor
 * runs, liquidity flight.
 * Hooks of the reference cascade: see kernels/cascade_ref.h. */

bool ref_lenders_ws_create(sch_cascade_ref_ws *ws, const sch_market_model *mm) {
  (void)ws;
  (void)mm;
  return true;
}

void ref_lenders_ws_free(sch_cascade_ref_ws *ws) { (void)ws; }

void ref_lenders_init_path(path_state *ps) { (void)ps; }

void ref_lenders_flight_step(path_state *ps) { (void)ps; }

void ref_lenders_step(path_state *ps) { (void)ps; }

void ref_lenders_finish_path(path_state *ps) { (void)ps; }
