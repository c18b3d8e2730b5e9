/**
 * @file output.h
 * @brief The HDF5 result file (DESIGN.md section 6, docs/output.md) and the
 *        `schelling report` reader.
 *
 * A writer creates a temporary file next to the final name; sch_h5_commit()
 * closes and renames it, sch_h5_abort() removes it. An existing final file is
 * refused unless `force`; an unwritable destination fails at open, before any
 * simulation.
 */
#ifndef SCHELLING_OUTPUT_H
#define SCHELLING_OUTPUT_H

#include <stdio.h>

#include "schelling/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Writer of one result file (opaque). */
typedef struct sch_h5_writer sch_h5_writer;

/** Root attributes of the result file. */
typedef struct sch_run_info {
  const char *schelling_version;
  const char *created_utc; /**< ISO 8601, e.g. 2026-11-22T04:30:00Z */
  uint64_t seed;
  int64_t paths;
  int64_t steps;
  double dt_seconds;
  int threads;
  int ranks;
} sch_run_info;

/**
 * Open a writer: checks the destination, creates the temporary file.
 * @param final_path the result file name
 * @param force      overwrite an existing final_path
 * @param out        the writer
 * @param err        message on failure
 * @return SCH_OK; SCH_ERR_INPUT if final_path exists without force;
 *         SCH_ERR_RUNTIME if the directory is not writable
 */
sch_status sch_h5_open(const char *final_path, bool force, sch_h5_writer **out,
                       sch_error *err);

/**
 * Open a writer, overwriting, for a file that only one process of a job
 * writes (a checkpoint, an MPI rank's part file). Its temporary file,
 * `.<name>.tmp`, carries no process id: one left by a process killed while
 * writing (mpirun sends SIGKILL a second after SIGTERM) is overwritten by
 * the next write and removed by sch_h5_remove_owned.
 * @param final_path the file name
 * @param out        the writer
 * @param err        message on failure
 * @return SCH_OK; SCH_ERR_RUNTIME if the directory is not writable
 */
sch_status sch_h5_open_owned(const char *final_path, sch_h5_writer **out,
                             sch_error *err);

/**
 * Remove a file written with sch_h5_open_owned and its temporary file.
 * @param final_path the file name
 */
void sch_h5_remove_owned(const char *final_path);

/**
 * Write the root attributes.
 * @param w writer
 * @param info values
 * @param err message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_write_run_info(sch_h5_writer *w, const sch_run_info *info,
                                 sch_error *err);

/**
 * Write /config, the resolved YAML as a scalar string dataset.
 * @param w writer
 * @param yaml text
 * @param err message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_write_config(sch_h5_writer *w, const char *yaml,
                               sch_error *err);

/**
 * Write /summary/<metric>/<stat> [P] and /hist/<metric>/{counts [P, bins],
 * edges [bins + 1]} for one metric.
 * @param w        writer
 * @param metric   metric name
 * @param n_points sweep points P
 * @param summary  [P] summaries (same levels and histogram grid)
 * @param err      message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_write_summary(sch_h5_writer *w, const char *metric,
                                int n_points, const sch_summary *summary,
                                sch_error *err);

/**
 * Create /paths/<metric> [P, N] float64 datasets (chunked) for streaming.
 * @param w         writer
 * @param n_metrics number of metrics
 * @param metrics   metric names
 * @param n_points  P
 * @param n_paths   N
 * @param err       message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_create_paths(sch_h5_writer *w, int n_metrics,
                               const char *const *metrics, int n_points,
                               int64_t n_paths, sch_error *err);

/**
 * Write one block of per-path values into /paths/<metric>[point, first..].
 * @param w      writer
 * @param metric index into the metrics given to sch_h5_create_paths()
 * @param point  sweep point
 * @param first  index of the block's first path
 * @param n      number of paths in the block
 * @param values per-path values
 * @param err    message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_write_paths_block(sch_h5_writer *w, int metric, int point,
                                    int64_t first, int64_t n,
                                    const double *values, sch_error *err);

/**
 * Write /samples: price [K, steps + 1, assets] market prices M,
 * fundamental [K, steps + 1, assets] prices S, path_index [K],
 * shortfall [K], and the attribute `assets` (names, comma separated).
 * @param w          writer
 * @param k          number of sample paths (0 writes an empty group)
 * @param n_times    steps + 1
 * @param n_assets   assets
 * @param asset_names names
 * @param market     [k * n_times * n_assets]
 * @param fundamental [k * n_times * n_assets]
 * @param path_index [k]
 * @param shortfall  [k]
 * @param err        message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_write_samples(sch_h5_writer *w, int k, int64_t n_times,
                                int n_assets, const char *const *asset_names,
                                const double *market, const double *fundamental,
                                const int64_t *path_index,
                                const double *shortfall, sch_error *err);

/**
 * Write /sweep/<key> [P] for every swept key: float64 when every value of
 * the key is a number, else variable-length UTF-8 strings (the value text).
 * /sweep carries the attribute `baseline` (int32). Nothing is written
 * without swept keys.
 * @param w     writer
 * @param sweep the sweep (sch_config_load_sweep())
 * @param err   message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_write_sweep(sch_h5_writer *w, const sch_sweep *sweep,
                              sch_error *err);

/**
 * Write /frontier [P] uint8: 1 for points on the trade-off frontier
 * (sch_frontier()), with the attributes `tail` and `cost` naming the two
 * figures (e.g. "uncovered_shortfall/es_99", "bonus_paid/mean").
 * @param w        writer
 * @param n_points P
 * @param mask     [P] 0 or 1
 * @param tail     name of the tail figure
 * @param cost     name of the cost figure
 * @param err      message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_write_frontier(sch_h5_writer *w, int n_points,
                                 const uint8_t *mask, const char *tail,
                                 const char *cost, sch_error *err);

/**
 * Write the result of `schelling size`: /size/evaluations/{value, statistic,
 * lo, hi} [E] float64, and on /size the attributes `param`, `target`,
 * `outcome` (strings) and `answer`, `answer_lo`, `answer_hi` (float64).
 * @param w         writer
 * @param param     the searched key path
 * @param target    the target as written
 * @param outcome   "found", "met at both ends" or "met at neither end"
 * @param answer    {answer, answer_lo, answer_hi} (NaN when none)
 * @param n_evals   E
 * @param value     [E] parameter values, in evaluation order
 * @param statistic [E] the target statistic
 * @param lo        [E] its 95% CI, low end
 * @param hi        [E] its 95% CI, high end
 * @param err       message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_write_size(sch_h5_writer *w, const char *param,
                             const char *target, const char *outcome,
                             const double answer[3], int n_evals,
                             const double *value, const double *statistic,
                             const double *lo, const double *hi,
                             sch_error *err);

/**
 * Close the temporary file and rename it to the final name.
 * The writer is freed and *w set to NULL whatever the outcome.
 * @param w   writer
 * @param err message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_commit(sch_h5_writer **w, sch_error *err);

/**
 * Close and remove the temporary file; frees the writer, sets *w to NULL.
 * @param w writer (may point to NULL)
 */
void sch_h5_abort(sch_h5_writer **w);

/** How `schelling report` prints a result file. */
typedef struct sch_report_options {
  bool json; /**< one JSON object */
  bool csv;  /**< CSV with the table's columns, machine-readable numbers */
  bool diff; /**< the paired differences against the baseline (/diff) */
} sch_report_options;

/**
 * Print a result file: one row per metric and sweep point, the swept values
 * as leading columns and the frontier marker when /frontier exists; as an
 * aligned table, CSV or JSON.
 * @param path result file
 * @param opt  format
 * @param out  stream
 * @param err  message on failure
 * @return SCH_OK, SCH_ERR_INPUT (missing / not a schelling file, or --diff
 *         on a file without /diff)
 */
sch_status sch_report_print(const char *path, const sch_report_options *opt,
                            FILE *out, sch_error *err);

/**
 * Print the summary of a result file: an aligned table, or JSON.
 * @param path result file
 * @param json true for JSON
 * @param out  stream
 * @param err  message on failure
 * @return SCH_OK, SCH_ERR_INPUT (missing / not a schelling file)
 */
sch_status sch_report(const char *path, bool json, FILE *out, sch_error *err);

/**
 * Write /diff/<metric>/<stat> [P] float64: mean, stderr, var_<lvl>,
 * var_<lvl>_lo, var_<lvl>_hi, es_<lvl>, es_<lvl>_lo, es_<lvl>_hi (point minus
 * baseline; zeros at the baseline).
 * @param w        writer
 * @param metric   metric name
 * @param n_points P
 * @param diff     [P] differences (same levels)
 * @param err      message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_h5_write_diff(sch_h5_writer *w, const char *metric,
                             int n_points, const sch_diff *diff,
                             sch_error *err);

/**
 * The HDF5 file id (hid_t) of a writer's temporary file, for modules that
 * write groups of their own (shard files).
 * @param w writer
 * @return the file id
 */
int64_t sch_h5_file_id(sch_h5_writer *w);

#ifdef __cplusplus
}
#endif
#endif
