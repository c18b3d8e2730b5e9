/**
 * @file stats.h
 * @brief Exact summary statistics of one metric over all paths: moments,
 *        P(>0), max, exact VaR/ES by top-k merge with confidence intervals,
 *        and a log-binned histogram (DESIGN.md section 5, docs/output.md).
 *
 * Values arrive block by block, in block-index order; the result is then a
 * pure function of the per-path values and the block size, independent of
 * thread or rank count.
 */
#ifndef SCHELLING_STATS_H
#define SCHELLING_STATS_H

#include "schelling/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Log-binned histogram grid: edges are -inf, lo * 10^(k/bins_per_decade)
 * for k = 0..K with the last edge >= hi, then +inf. The first bin collects
 * every value below lo (zero and negatives included).
 */
typedef struct sch_hist_spec {
  double lo;           /**< first finite edge (> 0) */
  double hi;           /**< last finite edge is the first grid point >= hi */
  int bins_per_decade; /**< > 0 */
} sch_hist_spec;

/** Summary of one metric (one sweep point). */
typedef struct sch_summary {
  int64_t n;          /**< paths */
  double mean;
  double std_error;   /**< std / sqrt(n) */
  double std;         /**< sample standard deviation (n - 1) */
  double p_positive;  /**< share of paths with value > 0 */
  double max;
  int n_levels;
  double level[SCH_MAX_LEVELS];
  double var[SCH_MAX_LEVELS];    /**< empirical alpha-quantile */
  double var_lo[SCH_MAX_LEVELS]; /**< 95% CI (order statistics) */
  double var_hi[SCH_MAX_LEVELS];
  double es[SCH_MAX_LEVELS];     /**< expected shortfall (Acerbi-Tasche) */
  double es_lo[SCH_MAX_LEVELS];  /**< 95% CI (asymptotic normal) */
  double es_hi[SCH_MAX_LEVELS];
  int n_bins;             /**< histogram bins */
  const double *edges;    /**< [n_bins + 1], owned by the accumulator */
  const uint64_t *counts; /**< [n_bins], owned by the accumulator */
} sch_summary;

/**
 * Paired difference of one metric between a sweep point and the baseline,
 * both on the same paths (common random numbers). mean/std_error are those of
 * the per-path differences (the paired standard error); var/es are
 * VaR_point - VaR_baseline (likewise ES) with a 95% CI from batch means over
 * consecutive blocks of paths (docs/output.md).
 */
typedef struct sch_diff {
  double mean;
  double std_error;
  int n_levels;
  int n_batches;
  double level[SCH_MAX_LEVELS];
  double var[SCH_MAX_LEVELS], var_lo[SCH_MAX_LEVELS], var_hi[SCH_MAX_LEVELS];
  double es[SCH_MAX_LEVELS], es_lo[SCH_MAX_LEVELS], es_hi[SCH_MAX_LEVELS];
} sch_diff;

/** Accumulator of one metric (opaque). */
typedef struct sch_accum sch_accum;

/**
 * Create an accumulator.
 * @param n_total  total number of paths that will be added (sizes top-k)
 * @param levels   VaR/ES levels in (0,1), ascending
 * @param n_levels number of levels (<= SCH_MAX_LEVELS)
 * @param hist     histogram grid
 * @param err      message on failure
 * @return the accumulator, or NULL (out of memory / bad arguments)
 */
sch_accum *sch_accum_create(int64_t n_total, const double *levels,
                            int n_levels, sch_hist_spec hist, sch_error *err);

/**
 * Add one block of per-path values; call in block-index order.
 * @param acc    accumulator
 * @param values per-path values of the block
 * @param n      number of values
 */
void sch_accum_add_block(sch_accum *acc, const double *values, size_t n);

/**
 * Compute the summary of everything added so far.
 * @param acc accumulator (not modified; pointers in out refer into it)
 * @param out filled
 */
void sch_accum_summarise(const sch_accum *acc, sch_summary *out);

/**
 * Release an accumulator.
 * @param acc accumulator (may be NULL)
 */
void sch_accum_free(sch_accum *acc);

/**
 * Mean and sum of squared deviations of one block, exactly as
 * sch_accum_add_block() computes them.
 * @param values block values
 * @param n      count (> 0)
 * @param mean   out
 * @param m2     out
 */
void sch_block_moments(const double *values, size_t n, double *mean,
                       double *m2);

/**
 * Merge one block's moments (Chan et al.) as sch_accum_add_block() does;
 * call in block order. Only the moments: see sch_accum_absorb().
 * @param acc  accumulator
 * @param n    block size
 * @param mean block mean
 * @param m2   block sum of squared deviations
 */
void sch_accum_merge_moments(sch_accum *acc, int64_t n, double mean,
                             double m2);

/**
 * The order-independent part of an accumulator (everything but the
 * moments): what a shard exports so that a merge can rebuild, bit for bit,
 * the accumulator of a single run (docs/output.md, shards).
 */
typedef struct sch_accum_state {
  int64_t n;          /**< values seen (for checks) */
  int64_t n_nan;
  int64_t n_positive;
  double max;
  size_t tail_len;      /**< kept largest values */
  const double *tail;   /**< [tail_len], any order */
  int n_bins;
  const uint64_t *counts; /**< [n_bins] */
} sch_accum_state;

/**
 * Keep at most max_values tail values: a shard that sees n_own paths of a
 * run needs only min(k, n_own) of the run's top k (docs/performance.md,
 * scaling). Call before the first value.
 * @param acc        accumulator, still empty
 * @param max_values most values this accumulator will be offered
 * @return false when out of memory or acc already holds values (then acc is
 *         unchanged)
 */
bool sch_accum_limit_tail(sch_accum *acc, int64_t max_values);

/**
 * Read an accumulator's order-independent state (pointers into acc).
 * @param acc accumulator
 * @param out filled
 */
void sch_accum_get_state(const sch_accum *acc, sch_accum_state *out);

/**
 * Add another accumulator's order-independent state: NaN and positive
 * counts, max, histogram, and its kept tail (a top-k of a union is the
 * top-k of the parts' top-k). Moments are merged separately, in block
 * order, with sch_accum_merge_moments().
 * @param acc accumulator (same levels, histogram grid and path total)
 * @param s   state to add
 * @param err message when the grids differ
 * @return SCH_OK or SCH_ERR_INPUT
 */
sch_status sch_accum_absorb(sch_accum *acc, const sch_accum_state *s,
                            sch_error *err);

/**
 * Format a level for dataset names: 0.95 -> "95", 0.99 -> "99",
 * 0.999 -> "999", 0.9995 -> "9995".
 * @param level in (0,1)
 * @param buf   output
 * @param len   size of buf
 */
void sch_level_name(double level, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
