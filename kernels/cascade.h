/**
 * @file cascade.h
 * @brief The protocol on one fundamental path (DESIGN.md 3.2 - 3.7): market
 *        impact and recovery, venues, oracle events, gas, fixed-bonus
 *        liquidation rounds, bad debt, underwater debt, insurance.
 *
 * Event-driven: health factors are only looked at when an oracle price changes
 * or an account is liquidated, and then only for accounts that a price-ratio
 * bound cannot clear (see sch_book_group). The loan book is shared read-only;
 * a path keeps copies of the accounts it changed ("touched").
 */
#ifndef SCHELLING_KERNELS_CASCADE_H
#define SCHELLING_KERNELS_CASCADE_H

#include "model.h"

/** Per-path metrics (DESIGN.md 3.7), in output order. */
enum {
  SCH_METRIC_BAD_DEBT = 0,
  SCH_METRIC_UNDERWATER_DEBT,
  SCH_METRIC_SHORTFALL,
  SCH_METRIC_UNCOVERED_SHORTFALL,
  SCH_METRIC_LIQUIDATED_VALUE,
  SCH_METRIC_LIQUIDATIONS,
  SCH_METRIC_SKIPPED_UNPROFITABLE,
  SCH_METRIC_BONUS_PAID,
  SCH_METRIC_SLIPPAGE_COST,
  SCH_METRIC_GAS_COST,
  SCH_METRIC_LIQUIDATOR_PROFIT,
  SCH_METRIC_CASCADE_DEPTH,
  SCH_METRIC_ORACLE_UPDATES,
  SCH_METRIC_MIN_PRICE_RATIO, /**< first of n_assets: one per asset */
};

/**
 * Metrics of the later mechanisms (issue 4: auctions, absorb, defences;
 * issue 7: lenders), after time_first_bad_debt in this order. They are always
 * present; with their mechanism off they keep the value of sch_metrics_init
 * (0, or -1 for a time). Output names: sch_ext_metric_name.
 */
enum {
  SCH_XM_AUCTIONS = 0,         /**< auctions started (bark / kick), count */
  SCH_XM_AUCTION_DURATION,     /**< longest auction of the path, seconds */
  SCH_XM_AUCTION_RESETS,       /**< auction resets (redo), count */
  SCH_XM_KEEPER_INCENTIVES,    /**< tip + chip * tab paid, USD */
  SCH_XM_ABSORBED_DEBT,        /**< debt absorbed by reserves, USD */
  SCH_XM_BACKSTOP_PURCHASES,   /**< paid by the backstop pool, USD */
  SCH_XM_BACKSTOP_LOSS,        /**< backstop's loss at market, USD */
  SCH_XM_BACKSTOP_CAPITAL_LEFT, /**< backstop capital at the horizon, USD */
  SCH_XM_BREAKER_PAUSES,       /**< circuit-breaker pauses, count */
  SCH_XM_THRESHOLD_CHANGES,    /**< volatility-band LT changes, count */
  SCH_XM_MEV_EXTRACTED,        /**< liquidation profit taken by searchers */
  SCH_XM_WITHDRAWN_SHARE,      /**< share of deposits withdrawn */
  SCH_XM_STRANDED_DEPOSITS,    /**< deposits locked in at 100% use, USD */
  SCH_XM_TIME_FULL_UTILISATION, /**< seconds, -1 none */
  SCH_XM_LOSS_EARLY,           /**< loss per unit, lenders who withdrew */
  SCH_XM_LOSS_LATE,            /**< loss per unit, lenders still in */
  SCH_XM_COUNT
};

/** Index of extension metric id (SCH_XM_*) for n_assets assets. */
static inline int sch_metric_ext(int n_assets, int id) {
  return SCH_METRIC_MIN_PRICE_RATIO + n_assets + 1 + id;
}
/** Number of metrics for n_assets assets. */
static inline int sch_metric_count(int n_assets) {
  return sch_metric_ext(n_assets, SCH_XM_COUNT);
}
/** Index of time_first_bad_debt (after the per-asset price ratios). */
static inline int sch_metric_time_first_bad_debt(int n_assets) {
  return SCH_METRIC_MIN_PRICE_RATIO + n_assets;
}
/** A path's metrics before its first step: 0, times -1. */
static inline void sch_metrics_init(double *metrics, int n_assets) {
  for (int m = 0; m < sch_metric_count(n_assets); m++)
    metrics[m] = 0.0;
  metrics[sch_metric_time_first_bad_debt(n_assets)] = -1.0;
  metrics[sch_metric_ext(n_assets, SCH_XM_TIME_FULL_UTILISATION)] = -1.0;
}

/** Most protocols of one scenario (`protocols:`). */
#define SCH_K_MAX_PROTOCOLS 8

/** System-wide metrics of a several-protocol run, after the protocols'. */
enum {
  SCH_SYS_SHORTFALL = 0,      /**< sum of the protocols' shortfall */
  SCH_SYS_UNCOVERED_SHORTFALL, /**< sum of their uncovered shortfall */
  SCH_SYS_BAD_DEBT,           /**< sum of their realised bad debt */
  SCH_SYS_COUNT
};

/**
 * Metrics of a path with n protocols: alone (n <= 1), sch_metric_count;
 * else protocol p's metrics at p * sch_metric_count(n_assets), then the
 * SCH_SYS_* totals, then one indicator per pair a < b: 1 if both a and b
 * have shortfall > 0 (its mean is P(both)).
 */
static inline int sch_metric_count_protocols(int n_assets, int n) {
  if (n <= 1)
    return sch_metric_count(n_assets);
  return n * sch_metric_count(n_assets) + SCH_SYS_COUNT + n * (n - 1) / 2;
}
/** Most metrics of any run: 8 protocols of 16 assets, totals, pairs. */
#define SCH_MAX_METRICS                                                        \
  (SCH_K_MAX_PROTOCOLS * (SCH_METRIC_MIN_PRICE_RATIO + SCH_K_MAX_ASSETS + 1 + \
                          SCH_XM_COUNT) +                                      \
   SCH_SYS_COUNT + SCH_K_MAX_PROTOCOLS * (SCH_K_MAX_PROTOCOLS - 1) / 2)

/** Index of system metric id (SCH_SYS_*) with n > 1 protocols. */
static inline int sch_metric_system(int n_assets, int n, int id) {
  return n * sch_metric_count(n_assets) + id;
}
/** Index of the joint-shortfall indicator of protocols a < b of n. */
static inline int sch_metric_joint(int n_assets, int n, int a, int b) {
  return sch_metric_system(n_assets, n, SCH_SYS_COUNT) +
         a * (2 * n - a - 1) / 2 + (b - a - 1);
}

/** Output name of extension metric id. */
static inline const char *sch_ext_metric_name(int id) {
  static const char *const names[SCH_XM_COUNT] = {
      "auctions",           "auction_duration",     "auction_resets",
      "keeper_incentives",  "absorbed_debt",        "backstop_purchases",
      "backstop_loss",      "backstop_capital_left", "breaker_pauses",
      "threshold_changes",  "mev_extracted",        "withdrawn_share",
      "stranded_deposits",  "time_full_utilisation", "loss_per_unit_early",
      "loss_per_unit_late"};
  return id >= 0 && id < SCH_XM_COUNT ? names[id] : "";
}

/** Per-thread scratch of the cascade (opaque; reused path after path). */
typedef struct sch_cascade_ws sch_cascade_ws;

/**
 * Allocate a workspace for a market model.
 * @param mm the model
 * @return the workspace, or NULL when out of memory
 */
sch_cascade_ws *sch_cascade_ws_create(const sch_market_model *mm);

/** Release a workspace (NULL is fine). */
void sch_cascade_ws_free(sch_cascade_ws *ws);

/** Optional per-step price record of one path (for /samples). */
typedef struct sch_price_record {
  double *market;      /**< [(n_steps + 1) * n_assets] M, or NULL */
  double *fundamental; /**< [(n_steps + 1) * n_assets] S, or NULL */
} sch_price_record;

/**
 * Run the protocol on one fundamental path.
 * @param mm      market model
 * @param n_risky risky slots in x
 * @param x       log fundamental prices: x[(k * n_risky + r) * x_stride]
 * @param x_stride distance between consecutive entries of this path's x
 * @param ws      workspace (from sch_cascade_ws_create for mm)
 * @param metrics out: [sch_metric_count(mm->n_assets)]
 * @param record  optional price record (NULL for none)
 */
void sch_cascade_run(const sch_market_model *mm, int n_risky, const double *x,
                     int64_t x_stride, sch_cascade_ws *ws, double *metrics,
                     const sch_price_record *record);

/**
 * Screen a lane group of paths (layout of sch_path_generate_block): for each
 * lane, decide whether some account could ever become liquidatable, using
 * HF(t) >= HF(0) * min_C r_min / max_D r_max with r the price ratios' running
 * extremes over the path (sound for any oracle delay: an oracle price is a
 * past market price). A quiet lane has no liquidation, no impact, and no
 * underwater debt (LT < 1), so its metrics are complete here: oracle updates
 * and minimum price ratios are computed exactly as the cascade would.
 * @param mm      market model
 * @param n_risky risky slots
 * @param x       lane-interleaved log prices, stride SCH_LANES
 * @param lanes   number of lanes (SCH_LANES)
 * @param ws      cascade workspace (derived constants, scratch)
 * @param quiet   out: [lanes] 1 if quiet
 * @param metrics out: [lanes][metric count] for quiet lanes
 * @return the number of quiet lanes
 */
int sch_cascade_screen(const sch_market_model *mm, int n_risky,
                       const double *x, int lanes, sch_cascade_ws *ws,
                       uint8_t *quiet, double *metrics);

/** Scratch of the reference cascade (opaque). */
typedef struct sch_cascade_ref_ws sch_cascade_ref_ws;

/** Allocate / release reference scratch (as sch_cascade_ws_create). */
sch_cascade_ref_ws *sch_cascade_ref_ws_create(const sch_market_model *mm);
void sch_cascade_ref_ws_free(sch_cascade_ref_ws *ws);

/**
 * Name the global index of the next path run with this workspace: the key of
 * the path's own random streams in mechanisms that draw numbers (auction
 * bidders, depositor signals). Paths of the fixed-bonus model draw none.
 */
void sch_cascade_ref_set_path(sch_cascade_ref_ws *ws, uint64_t path);
/** The same for the optimised kernel's workspace (forwards when it defers
 *  to the reference). */
void sch_cascade_set_path(sch_cascade_ws *ws, uint64_t path);

/**
 * Scalar reference of sch_cascade_run: the same results bit for bit, by the
 * plainest reading of the contract (every step processed in full).
 */
void sch_cascade_run_reference(const sch_market_model *mm, int n_risky,
                               const double *x, int64_t x_stride,
                               sch_cascade_ref_ws *ws, double *metrics,
                               const sch_price_record *record);

#endif
