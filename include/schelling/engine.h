/**
 * @file engine.h
 * @brief The engine driver: fixed-size blocks of paths, OpenMP over blocks,
 *        accumulators merged in block order (DESIGN.md sections 1, 2, 5).
 */
#ifndef SCHELLING_ENGINE_H
#define SCHELLING_ENGINE_H

#include "schelling/loanbook.h"
#include "schelling/output.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Paths per block. Summary bits depend on it (block-order merge), so it is
 * a constant of the engine, never a tuning knob. */
#define SCH_BLOCK_PATHS 512

/** Results of a run (opaque). */
typedef struct sch_results sch_results;

/** How to run. */
typedef struct sch_run_options {
  int threads;         /**< OpenMP threads, 0 = OpenMP's default */
  bool progress;       /**< progress bar on stderr */
  bool keep_per_path;  /**< keep every path's metrics in memory (tests) */
  volatile const int *interrupted; /**< set non-zero to stop (signal) */
  int shard_index; /**< with shard_count > 0: simulate only shard i's blocks */
  int shard_count; /**< 0: the whole run */
  /** Called after every wave of blocks, and once with `final` when the run
   * is interrupted, with the blocks done so far (checkpoints); NULL: none. */
  sch_status (*checkpoint)(void *ctx, const sch_results *res, bool final,
                           sch_error *err);
  void *checkpoint_ctx;
  const char *resume; /**< checkpoint file to continue from, or NULL */
  const char *resume_config; /**< the /config text the checkpoint must hold */
} sch_run_options;


/**
 * Simulate every path of the scenario.
 * @param cfg    validated configuration
 * @param book   its loan book
 * @param opt    options
 * @param writer if non-NULL and output.per_path, /paths is streamed into it
 * @param out    results on success; release with sch_results_free()
 * @param err    message on failure
 * @return SCH_OK, SCH_ERR_INPUT, SCH_ERR_RUNTIME
 */
sch_status sch_engine_run(const sch_config *cfg, const sch_loanbook *book,
                          const sch_run_options *opt, sch_h5_writer *writer,
                          sch_results **out, sch_error *err);

/**
 * Simulate a sweep: every point sees the same random streams (common random
 * numbers); points that leave the paths unchanged share one generated path.
 * Results hold [n_points] summaries plus paired differences against the
 * baseline point.
 * @param points   [n_points] validated configurations (one per point)
 * @param books    [n_points] loan books (entries may be the same pointer)
 * @param n_points number of points (>= 1)
 * @param baseline index of the baseline point
 * @param opt      options
 * @param writer   if non-NULL and output.per_path, /paths is streamed
 * @param out      results on success
 * @param err      message on failure
 * @return SCH_OK, SCH_ERR_INPUT, SCH_ERR_RUNTIME
 */
sch_status sch_engine_run_sweep(const sch_config *points,
                                const sch_loanbook *const *books, int n_points,
                                int baseline, const sch_run_options *opt,
                                sch_h5_writer *writer, sch_results **out,
                                sch_error *err);

/** @return the number of sweep points of the results. */
int sch_results_point_count(const sch_results *res);

/**
 * Summary of metric m at sweep point p.
 * @param res results
 * @param p   point
 * @param m   metric
 * @param out filled (pointers refer into res)
 */
void sch_results_summary_at(const sch_results *res, int p, int m,
                            sch_summary *out);

/**
 * Paired difference of metric m between point p and the baseline.
 * @param res results
 * @param p   point (the baseline gives zeros)
 * @param m   metric
 * @param out filled
 */
void sch_results_diff_at(const sch_results *res, int p, int m, sch_diff *out);

/** Per-path values of metric m at point p (keep_per_path), else NULL. */
const double *sch_results_per_path_at(const sch_results *res, int p, int m);

/** @return the number of per-path metrics. */
int sch_results_metric_count(const sch_results *res);

/** @return the name of metric m (DESIGN.md 3.7). */
const char *sch_results_metric_name(const sch_results *res, int m);

/** @return index of a metric by name, or -1. */
int sch_results_metric_index(const sch_results *res, const char *name);

/**
 * Summary of metric m (at the baseline point of a sweep).
 * @param res results
 * @param m   metric index
 * @param out filled (pointers refer into res)
 */
void sch_results_summary(const sch_results *res, int m, sch_summary *out);

/**
 * Per-path values of metric m (only with keep_per_path), else NULL.
 * @param res results
 * @param m   metric index
 * @return [paths] values in path order
 */
const double *sch_results_per_path(const sch_results *res, int m);

/** @return threads actually used. */
int sch_results_threads(const sch_results *res);

/** @return wall seconds of the simulation. */
double sch_results_seconds(const sch_results *res);

/**
 * Write /summary, /hist and /samples of the results.
 * @param res results
 * @param w   writer
 * @param err message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_results_write(const sch_results *res, sch_h5_writer *w,
                             sch_error *err);

/** Release results (NULL-safe). */
void sch_results_free(sch_results *res);

/**
 * Simulate one path and return its metrics and, optionally, its prices
 * (used for /samples and by tests).
 * @param cfg         configuration
 * @param book        loan book
 * @param path        path index
 * @param metrics     out: [metric count]
 * @param market      out: [(steps + 1) * n_assets] M, or NULL
 * @param fundamental out: [(steps + 1) * n_assets] S, or NULL
 * @param err         message on failure
 * @return SCH_OK or an error
 */
sch_status sch_engine_one_path(const sch_config *cfg, const sch_loanbook *book,
                               int64_t path, double *metrics, double *market,
                               double *fundamental, sch_error *err);

#ifdef __cplusplus
}
#endif
#endif
