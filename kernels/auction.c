#include "cascade_ref.h"

/* Maker auctions on the reference cascade: Clipper (Liquidations 2.0,
 * a Dutch auction) and flip (Liquidations 1.2, an English auction).
 * Hooks of the reference cascade: see kernels/cascade_ref.h. */

bool ref_auction_ws_create(sch_cascade_ref_ws *ws, const sch_market_model *mm) {
  (void)ws;
  (void)mm;
  return true;
}

void ref_auction_ws_free(sch_cascade_ref_ws *ws) { (void)ws; }

void ref_auction_init_path(path_state *ps) { (void)ps; }

void ref_auction_step(path_state *ps) { (void)ps; }

void ref_auction_finish_path(path_state *ps) { (void)ps; }
