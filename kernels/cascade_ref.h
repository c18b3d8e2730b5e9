/**
 * @file cascade_ref.h
 * @brief Internal: the state of one path in the reference cascade, shared by
 *        kernels/cascade_ref.c (the contract's fixed-bonus machinery) and the
 *        mechanism files that extend it (auctions, absorb, defences, lenders).
 *
 * The optimised kernel (kernels/cascade.c) implements the fixed-bonus model
 * only; a market model with any later mechanism switched on
 * (sch_market_model.reference_only) runs here, path by path, every step.
 * Mechanism code reads and changes a path only through this state and the
 * ref_ helpers below, so the fixed-bonus rules stay in one place.
 */
#ifndef SCHELLING_KERNELS_CASCADE_REF_H
#define SCHELLING_KERNELS_CASCADE_REF_H

#include "cascade.h"

#include <stdbool.h>
#include <stdint.h>

static inline double min_d(double a, double b) { return b < a ? b : a; }
static inline double max_d(double a, double b) { return b > a ? b : a; }

typedef struct pending_obs {
  int64_t step;
  double price;
} pending_obs;

typedef struct candidate {
  double health;
  int32_t account;
} candidate;

struct sch_cascade_ref_ws {
  uint64_t path_index; /* of the next path (sch_cascade_ref_set_path) */
  int n_assets;
  int64_t n_accounts;
  int32_t *slot_of_account; /* -1: untouched, the book's amounts hold */
  int32_t *touched_account;
  double *touched_collateral; /* [slot * n_assets + asset] */
  double *touched_debt;
  int64_t n_touched;
  uint8_t *skipped;
  int32_t *skipped_list;
  int64_t n_skipped;
  candidate *cand;
  int64_t n_cand;
  pending_obs *pending; /* per asset ring of pending_cap */
  int64_t pending_cap;
  int64_t *gas_deque;
  double *log_gas_price_hist; /* log M_gas at the start of each step */
  /* scratch of each mechanism file, owned and allocated by it */
  struct ref_auction_ws *auction;     /* kernels/auction.c */
  struct ref_incentive_ws *incentive; /* kernels/incentive.c */
  struct ref_defence_ws *defence;     /* kernels/defence.c */
  struct ref_lenders_ws *lenders;     /* kernels/lenders.c */
  struct ref_contagion_ws *contagion; /* kernels/contagion.c */
};


/* Everything one path changes. Prices of risky assets are kept as logs so the
 * per-step work (oracle trigger test, drawdown, minimum) needs no exp(). */
typedef struct path_state {
  const sch_market_model *mm;
  uint64_t path; /* global path index: the key of the path's own streams */
  sch_cascade_ref_ws *ws;
  const double *x;
  int64_t x_stride;
  int n_risky;
  int64_t k;
  double t;
  /* market */
  double log_fund[SCH_K_MAX_ASSETS];  /* ln S(k) */
  double impact[SCH_K_MAX_ASSETS];    /* I_i */
  double log_market[SCH_K_MAX_ASSETS]; /* ln M = ln S - I, current */
  double log_market_start[SCH_K_MAX_ASSETS]; /* at the start of the step */
  double log_min_ratio[SCH_K_MAX_ASSETS]; /* min of ln(M / S(0)) */
  double log_price0[SCH_K_MAX_ASSETS];
  /* venues: re-centred lazily at their first sale of a step */
  int64_t pool_step[SCH_K_MAX_ASSETS];
  double pool_units[SCH_K_MAX_ASSETS], pool_usd[SCH_K_MAX_ASSETS];
  double venue_sold[SCH_K_MAX_ASSETS];
  /* oracles */
  double oracle[SCH_K_MAX_ASSETS];
  double oracle_ratio[SCH_K_MAX_ASSETS]; /* O / S(0) */
  double last_obs[SCH_K_MAX_ASSETS];
  int64_t last_obs_step[SCH_K_MAX_ASSETS];
  double obs_lo[SCH_K_MAX_ASSETS], obs_hi[SCH_K_MAX_ASSETS]; /* log band */
  int64_t pend_head[SCH_K_MAX_ASSETS], pend_count[SCH_K_MAX_ASSETS];
  /* gas */
  int64_t gas_front, gas_back;
  double gas_usd; /* this step's gas cost of a liquidation, < 0: not yet */
  /* liquidation capacity of the step */
  int64_t liquidations_in_step;
  double capital_left;
  bool candidates_valid;
  double *metrics;
  /* parameters that mechanisms move during the path */
  double lt[SCH_K_MAX_ASSETS];  /* liquidation thresholds now (defence.c) */
  double lt_bound_scale;        /* >= max over assets of LT(0) / LT now */
  double depth_scale[SCH_K_MAX_ASSETS]; /* venue and market depth factor,
                                           1 without liquidity flight */
  bool paused_all; /* a breaker with scope "all" holds (defence.c) */
} path_state;


/* ---- mechanism hooks --------------------------------------------------------
 * Each mechanism file implements its four lifecycle hooks (scratch create and
 * free, path start and path end) and its step hooks; the reference step loop
 * (kernels/cascade_ref.c) calls them in the documented order:
 *   1-2 prices (move, impact recovery, M); ref_lenders_flight_step;
 *   3 gas; 4 oracles; ref_defence_step (thresholds, breaker);
 *   5 liquidation: fixed bonus rounds | ref_auction_step | ref_absorb_step
 *     (skipped while a breaker pauses liquidations);
 *   ref_lenders_step; 6 records.
 * At the horizon: underwater debt, ref_auction_finish_path (collateral still
 * in auction), shortfall and insurance, then ref_incentive_finish_path,
 * ref_defence_finish_path and ref_lenders_finish_path (which see the
 * path's final shortfall). create returns false when out of memory. */
bool ref_auction_ws_create(sch_cascade_ref_ws *ws, const sch_market_model *mm);
void ref_auction_ws_free(sch_cascade_ref_ws *ws);
void ref_auction_init_path(path_state *ps);
void ref_auction_step(path_state *ps);
void ref_auction_finish_path(path_state *ps);

bool ref_incentive_ws_create(sch_cascade_ref_ws *ws,
                             const sch_market_model *mm);
void ref_incentive_ws_free(sch_cascade_ref_ws *ws);
void ref_incentive_init_path(path_state *ps);
void ref_absorb_step(path_state *ps);
void ref_incentive_finish_path(path_state *ps);

bool ref_defence_ws_create(sch_cascade_ref_ws *ws, const sch_market_model *mm);
void ref_defence_ws_free(sch_cascade_ref_ws *ws);
void ref_defence_init_path(path_state *ps);
/** Returns false while liquidations are paused. */
bool ref_defence_step(path_state *ps);
void ref_defence_finish_path(path_state *ps);

bool ref_lenders_ws_create(sch_cascade_ref_ws *ws, const sch_market_model *mm);
void ref_lenders_ws_free(sch_cascade_ref_ws *ws);
void ref_lenders_init_path(path_state *ps);
void ref_lenders_flight_step(path_state *ps);
void ref_lenders_step(path_state *ps);
void ref_lenders_finish_path(path_state *ps);

/* ---- one path in phases (kernels/cascade_ref.c) -------------------------
 * sch_cascade_run_reference is begin; for k = 1..n: market, protocol, end;
 * then path_end. kernels/contagion.c interleaves several protocols. */
void ref_path_begin(path_state *ps, const sch_price_record *record);
/** Step parts 1-4: prices, flight, gas, oracles. */
void ref_step_market(path_state *ps, int64_t k);
/** Defences, step part 5 (liquidation), lenders. */
void ref_step_protocol(path_state *ps);
/** Step part 6: running minima and the price record. */
void ref_step_end(path_state *ps, const sch_price_record *record);
/** At the horizon: underwater debt, shortfall, mechanisms' outputs. */
void ref_path_end(path_state *ps);

/* ---- several protocols on one market (kernels/contagion.c) -------------- */
bool ref_contagion_ws_create(sch_cascade_ref_ws *ws,
                             const sch_market_model *mm);
void ref_contagion_ws_free(sch_cascade_ref_ws *ws);
/** All protocols of mm->protocols on one path; metrics in the layout of
 *  sch_metric_count_protocols. */
void ref_contagion_run(const sch_market_model *mm, int n_risky,
                       const double *x, int64_t x_stride,
                       sch_cascade_ref_ws *ws, double *metrics,
                       const sch_price_record *record);

/* ---- kernels/auction.c ------------------------------------------------- */
/** Clipper's price `elapsed` seconds after a bark or redo at `top`
 *  (abaci.sol: linear or stairstep, by mm->clip_linear). */
double ref_clipper_price(const sch_market_model *mm, double top,
                         double elapsed);

/* ---- kernels/lenders.c: read-outs of the last path (tests) -------------- */
/** Units of `asset` cohort `cohort` withdrew. */
double ref_lenders_withdrawn(const sch_cascade_ref_ws *ws, int cohort,
                             int asset);
/** The step the cohort started to withdraw, -1 never. */
int64_t ref_lenders_trigger_step(const sch_cascade_ref_ws *ws, int cohort);

/* ---- kernels/incentive.c: what a liquidation pays (fixed bonus, absorb) --
 * With dynamic incentive, backstop, MEV and latency off these return what
 * the fixed-bonus model computes without them, bit for bit. */
/** Liquidation bonus of collateral asset i now: the configured one, or the
 *  dynamic incentive's (docs/model.md "Dynamic incentive"). */
double ref_bonus(path_state *ps, int i);
/** False while liquidator latency holds account a back. */
bool ref_liquidator_ready(path_state *ps, int32_t a);
/** The liquidator's profit net of MEV: profit - mev_share max(0, profit). */
double ref_liquidator_share(const path_state *ps, double profit);
/** Count mev_share max(0, profit) as extracted (after a liquidation). */
void ref_record_mev(path_state *ps, double profit);

/** A planned sale of seized collateral: to the backstop pool when the venue
 *  pays less than it (as far as its capital goes), the rest on the venue. */
typedef struct ref_sale {
  int asset;
  double units;
  double backstop_units, backstop_paid; /* 0 without the backstop */
  double venue_units, venue_out;
  double proceeds; /* backstop_paid + venue_out, USD */
} ref_sale;
/** Plan the sale of q units of asset i, without selling. */
void ref_plan_sale(path_state *ps, int i, double q, ref_sale *sale);
/** Carry out a planned sale; returns the venue part's slippage cost. */
double ref_sell_seized(path_state *ps, const ref_sale *sale);

/* ---- helpers of kernels/cascade_ref.c that mechanisms use --------------- */

/** Current amounts of account a (the book's until the path touches it). */
const double *ref_collateral_of(const path_state *ps, int32_t a);
const double *ref_debt_of(const path_state *ps, int32_t a);
/** A path-private copy of account a; returns its slot. */
int32_t ref_touch(path_state *ps, int32_t a);
/** HF = sum_i c_i O_i LT_i / sum_j d_j O_j (infinite without debt). */
double ref_health(const path_state *ps, const double *c, const double *d);
/** The accounts with HF < 1 now, worst first, into ws->cand. */
void ref_collect_candidates(path_state *ps);
/** Make price the effective oracle price of asset i. */
void ref_set_oracle(path_state *ps, int i, double price);
/** The trigger rule on M for asset i; true if O changed now. */
bool ref_oracle_check(path_state *ps, int i);
/** This step's gas cost of one transaction, USD. */
double ref_gas_cost_usd(path_state *ps);
/** Re-centre asset i's pool at this step's start price (once per step). */
void ref_ensure_pool(path_state *ps, int i);
/** USD the venue pays for q units of asset i now, without selling. */
double ref_venue_quote(path_state *ps, int i, double q);
/** Sell q units of asset i for out USD; returns the slippage cost. */
double ref_venue_sell(path_state *ps, int i, double q, double out);
/** Index of the largest amount[i] * price[i] with amount > 0, -1 if none. */
int ref_largest_value(const double *amount, const double *price, int n);
/** Count account a as skipped for being unprofitable (once per path). */
void ref_mark_skipped(path_state *ps, int32_t a);
/** No collateral left: write the remaining debt off as bad debt. */
void ref_write_off_if_empty(path_state *ps, double *c, double *d);
/** Room for another liquidation in this step (count, capital). */
bool ref_capacity_left(const path_state *ps);

#endif
