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

/** Number of metrics for n_assets assets (time_first_bad_debt is last). */
static inline int sch_metric_count(int n_assets) {
  return SCH_METRIC_MIN_PRICE_RATIO + n_assets + 1;
}
/** Index of time_first_bad_debt. */
static inline int sch_metric_time_first_bad_debt(int n_assets) {
  return SCH_METRIC_MIN_PRICE_RATIO + n_assets;
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
 * Scalar reference of sch_cascade_run: the same results bit for bit, by the
 * plainest reading of the contract (every step processed in full).
 */
void sch_cascade_run_reference(const sch_market_model *mm, int n_risky,
                               const double *x, int64_t x_stride,
                               sch_cascade_ref_ws *ws, double *metrics,
                               const sch_price_record *record);

#endif
