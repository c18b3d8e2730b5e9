/**
 * @file model.h
 * @brief Plain data the kernels read: the derived, immutable model of one run
 *        (built once by src/scenario.c from the config and the loan book).
 *
 * Kernels never see the config: only these structs of arrays and sizes.
 * Asset arrays are indexed by asset (config order); "slot" arrays by risky
 * slot r = 0..n_risky-1, whose asset is risky_asset[r].
 */
#ifndef SCHELLING_KERNELS_MODEL_H
#define SCHELLING_KERNELS_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#define SCH_K_MAX_ASSETS 16
#define SCH_K_MAX_SHOCKS 64 /**< most stress shocks of one run */
#define SCH_K_MAX_BIDDERS 64 /**< most flip bidders (kernels/auction.c) */
#define SCH_K_MAX_COHORTS 8 /**< most lender cohorts (kernels/lenders.c) */
#define SCH_K_MAX_VOL_BANDS 8 /**< most volatility bands (kernels/defence.c) */

/** What the path kernel needs: DESIGN.md 3.1. */
typedef struct sch_path_model {
  int n_risky;
  int risky_asset[SCH_K_MAX_ASSETS]; /**< asset index of each slot */
  int64_t n_steps;
  double dt_years;
  double log_price0[SCH_K_MAX_ASSETS]; /**< ln S(0) per slot */
  double drift_step[SCH_K_MAX_ASSETS]; /**< (mu - sigma^2/2) dt per slot */
  /** sigma_r sqrt(dt) L_rs: Cholesky factor of the risky assets'
   *  correlation, rows pre-scaled by the step volatility (lower triangle). */
  double chol_scaled[SCH_K_MAX_ASSETS][SCH_K_MAX_ASSETS];
  bool student_t;
  double dof;
  double jump_rate[SCH_K_MAX_ASSETS]; /**< per year, per slot */
  double jump_mean[SCH_K_MAX_ASSETS];
  double jump_stdev[SCH_K_MAX_ASSETS];
  double jump_beta[SCH_K_MAX_ASSETS];
  double sys_rate, sys_mean, sys_stdev;
  uint64_t seed;
  /** Stress shocks (docs/model.md "Replay and stress"): shock j adds
   *  shock_log[j] = ln(1 - drop) to slot shock_slot[j] from step
   *  shock_step[j] (>= 1) to the horizon, after generation or replay. */
  int n_shocks;
  int shock_slot[SCH_K_MAX_SHOCKS];
  int64_t shock_step[SCH_K_MAX_SHOCKS];
  double shock_log[SCH_K_MAX_SHOCKS];
  /** Replay: with n_scenarios > 0 path p is scenario p mod n_scenarios,
   *  read from replay_x[(s * (n_steps + 1) + k) * n_risky + r] instead of
   *  simulated (no random numbers are drawn). The pointer makes two models
   *  with the same replay compare unequal: a sweep regenerates, which only
   *  costs a copy. */
  int64_t n_scenarios;
  const double *replay_x;
} sch_path_model;

/** Venue models, same values as sch_venue_model. */
/** Liquidation mechanisms of step part 5. */
enum {
  SCH_K_LIQ_FIXED = 0,   /**< fixed bonus rounds (DESIGN.md 3.5) */
  SCH_K_LIQ_CLIPPER = 1, /**< Maker Dutch auction (kernels/auction.c) */
  SCH_K_LIQ_FLIP = 2,    /**< Maker English auction (kernels/auction.c) */
  SCH_K_LIQ_ABSORB = 3,  /**< Compound v3 absorb (kernels/incentive.c) */
};

enum { SCH_K_VENUE_NONE = 0, SCH_K_VENUE_CP = 1, SCH_K_VENUE_POWER = 2 };

/**
 * Accounts of one signature (set of collateral and debt assets), sorted by
 * initial health factor and, separately, by initial collateral/debt ratio.
 * Scanning a sorted prefix against a price-ratio bound finds every account
 * that can be liquidatable (or underwater) without touching the others.
 */
typedef struct sch_book_group {
  uint32_t collateral_mask, debt_mask;
  int64_t n;
  const int32_t *by_health; /**< accounts, ascending initial HF */
  const double *health0;    /**< their initial HF */
  const int32_t *by_cover;  /**< accounts, ascending initial cover */
  const double *cover0;     /**< sum c p / sum d p at t = 0 */
} sch_book_group;

/** What the cascade kernel needs: DESIGN.md 3.2 - 3.6. */
typedef struct sch_market_model {
  int n_assets;
  int64_t n_steps;
  double dt_s;
  bool stable[SCH_K_MAX_ASSETS];
  int slot_of_asset[SCH_K_MAX_ASSETS]; /**< risky slot, -1 if stable */
  double price0[SCH_K_MAX_ASSETS];
  /* venues and market impact */
  int venue_model[SCH_K_MAX_ASSETS];
  double venue_depth[SCH_K_MAX_ASSETS];
  double venue_fee[SCH_K_MAX_ASSETS];
  double venue_eta[SCH_K_MAX_ASSETS];
  double venue_alpha[SCH_K_MAX_ASSETS];
  double inv_market_depth[SCH_K_MAX_ASSETS]; /**< 1 / L_i */
  double impact_decay[SCH_K_MAX_ASSETS];     /**< 2^(-dt/h_i) */
  /* oracles */
  double oracle_deviation[SCH_K_MAX_ASSETS];
  double oracle_heartbeat_s[SCH_K_MAX_ASSETS];
  int64_t oracle_delay_steps[SCH_K_MAX_ASSETS]; /**< ceil(d / dt) */
  /* protocol */
  double liquidation_threshold[SCH_K_MAX_ASSETS];
  double liquidation_bonus[SCH_K_MAX_ASSETS];
  double close_factor, full_close_below_hf, insurance_fund;
  /* liquidators */
  bool liquidators_enabled;
  double gas_units, gas_price_gwei, gas_beta, gas_price_max_gwei;
  int64_t gas_window_steps; /**< floor(w / dt) */
  int gas_asset;
  int64_t max_liquidations_per_step;
  int max_rounds_per_step;
  double capital;
  bool flash_loans;
  double min_profit;
  /* loan book, row-major [account * n_assets + asset] */
  int64_t n_accounts;
  const double *collateral;
  const double *debt;
  int n_groups;
  const sch_book_group *groups;
  const int32_t *group_of_account; /**< group index, -1 without debt */
  /** A later mechanism is on (auction, absorb, breaker, dynamic or
   *  volatility-driven parameters, backstop, MEV, lenders, flight): the
   *  optimised kernel defers every path to the reference cascade and the
   *  screen passes every lane on (kernels/cascade_ref.h). */
  bool reference_only;
  /** Step part 5: SCH_K_LIQ_* (fixed bonus unless configured). */
  int liquidation_mode;
  /* ---- later mechanisms (each block owned by its kernel file) ---------- */
  /* several protocols on one market (kernels/contagion.c) */
  int n_protocols; /**< > 1: this model heads `protocols` (0 or 1: alone) */
  const struct sch_market_model *protocols; /**< [n_protocols], each alone */
  bool isolated_market; /**< each protocol on its own copy of the market */
  /** Receipt tokens: asset i is a deposit share of protocol receipt_of[i]
   *  (index into the head's protocols), -1 for an ordinary asset. Its price
   *  is price0 times the issuer's share value (docs/model.md). */
  int receipt_of[SCH_K_MAX_ASSETS];
  double deposits; /**< USD lent to this protocol: its share value's base */
  /* kernels/auction.c: Maker auctions (protocol.clipper, protocol.flip) */
  uint64_t auction_seed; /**< simulation seed: the bidders' stream */
  double clip_buf, clip_tau_s, clip_cut, clip_step_s, clip_tail_s;
  double clip_cusp, clip_chop, clip_tip, clip_chip, clip_hole, clip_dust;
  bool clip_linear; /**< abacus: linear (else stairstep) */
  double flip_beg, flip_ttl_s, flip_tau_s, flip_chop;
  int flip_bidders; /**< <= SCH_K_MAX_BIDDERS */
  double flip_bidder_capital, flip_participation, flip_min_bid;
  /* kernels/incentive.c: Compound v3 absorb (protocol.absorb), dynamic
   * incentive, backstop pool, MEV and liquidator latency */
  double absorb_liquidation_factor[SCH_K_MAX_ASSETS]; /**< Comet's LF */
  double absorb_store_front; /**< storeFrontPriceFactor */
  double absorb_target_reserves, absorb_reserves0; /**< USD */
  bool dynamic_incentive;
  double dyn_depth_exponent, dyn_distress_multiplier; /**< a, b */
  double dyn_min_bonus, dyn_max_bonus;
  bool backstop_enabled;
  double backstop_capital, backstop_discount; /**< USD; fraction */
  double backstop_refill_per_s;               /**< USD per second */
  double mev_share;      /**< in [0,1) */
  int64_t latency_steps; /**< ceil(latency / dt) */
  /* kernels/defence.c: circuit breaker and volatility bands */
  bool breaker_on;
  bool breaker_all;        /**< scope all: paused_all while paused */
  uint32_t breaker_assets; /**< watched assets (bit i: asset i) */
  double breaker_move;     /**< X */
  int64_t breaker_window_steps;   /**< floor(window / dt) >= 1 */
  int64_t breaker_cooldown_steps; /**< ceil(cooldown / dt) >= 1 */
  bool vol_bands_on;
  int64_t vol_window_steps; /**< floor(window / dt) >= 1 */
  double vol_window_years;  /**< vol_window_steps x dt in years */
  int64_t vol_hold_steps;   /**< ceil(hold / dt): a lowered LT's least stay */
  int n_vol_bands[SCH_K_MAX_ASSETS];
  double vol_band_above[SCH_K_MAX_ASSETS][SCH_K_MAX_VOL_BANDS];
  double vol_band_lt[SCH_K_MAX_ASSETS][SCH_K_MAX_VOL_BANDS];
  /* kernels/lenders.c: lenders, depositor runs, liquidity flight */
  bool lenders_on;           /**< lenders: with at least one cohort */
  bool lenders_run;          /**< cohorts withdraw (lenders.run) */
  uint64_t lenders_seed;     /**< simulation seed: the signals' stream */
  double lent_supply[SCH_K_MAX_ASSETS];   /**< units, 0: not lent */
  double lent_borrows0[SCH_K_MAX_ASSETS]; /**< units: the book's debt */
  double lent_supply_usd0;   /**< sum of supply x price0: the signal's base */
  double lent_borrows_usd0;  /**< sum of borrows x price0 */
  int n_cohorts;             /**< <= SCH_K_MAX_COHORTS */
  double cohort_share[SCH_K_MAX_COHORTS], cohort_threshold[SCH_K_MAX_COHORTS];
  double cohort_noise[SCH_K_MAX_COHORTS], cohort_withdraw[SCH_K_MAX_COHORTS];
  bool flight_on;
  double flight_a[SCH_K_MAX_ASSETS];        /**< drawdown sensitivity */
  double flight_b[SCH_K_MAX_ASSETS];        /**< excess-vol sensitivity */
  double flight_vol_ref[SCH_K_MAX_ASSETS];  /**< annualised */
  double flight_floor[SCH_K_MAX_ASSETS];    /**< least depth scale */
  double flight_recovery[SCH_K_MAX_ASSETS]; /**< 2^(-dt / half_life) */
  int64_t flight_window_steps[SCH_K_MAX_ASSETS]; /**< >= 1 */
} sch_market_model;

#endif
