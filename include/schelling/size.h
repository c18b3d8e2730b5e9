/**
 * @file size.h
 * @brief `schelling size`: the smallest (or largest) value of one parameter
 *        that meets a target on one statistic of one metric, by bisection on
 *        common random numbers (every evaluation uses the same seed), with
 *        the uncertainty of the answer (docs/config.md, docs/output.md).
 */
#ifndef SCHELLING_SIZE_H
#define SCHELLING_SIZE_H

#include "schelling/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SCH_SIZE_MAX_EVALS 200 /**< most evaluations of one search */

/** Which statistic a target is on. */
typedef enum sch_target_stat {
  SCH_TARGET_MEAN,       /**< CI: mean +- 1.96 stderr */
  SCH_TARGET_P_POSITIVE, /**< CI: p +- 1.96 sqrt(p (1 - p) / n) */
  SCH_TARGET_VAR,        /**< CI: var_<lvl>_lo, var_<lvl>_hi */
  SCH_TARGET_ES,         /**< CI: es_<lvl>_lo, es_<lvl>_hi */
} sch_target_stat;

/** `STAT(METRIC) <= X` or `>= X`. */
typedef struct sch_target {
  sch_target_stat stat;
  double level;       /**< VaR/ES level (0.99 for var_99), else 0 */
  char stat_name[32]; /**< "mean", "p_positive", "var_99", "es_999" */
  char metric[64];
  bool at_most;       /**< `<=` (true) or `>=` */
  double threshold;
} sch_target;

/**
 * Parse a target such as `es_99(uncovered_shortfall) <= 1e6`.
 * @param text the target
 * @param out  filled on success
 * @param err  message on failure
 * @return SCH_OK or SCH_ERR_INPUT
 */
sch_status sch_target_parse(const char *text, sch_target *out,
                            sch_error *err);

/** What to search. */
typedef struct sch_size_spec {
  char param[SCH_SWEEP_KEY_MAX]; /**< dotted key path of a number */
  double range[2];               /**< [a, b], a < b */
  sch_target target;
  bool largest;     /**< largest value meeting the target (else smallest) */
  double tolerance; /**< stop when the bracket is at most this wide (> 0) */
  int max_evals;    /**< most evaluations, ends included (3..200) */
} sch_size_spec;

/** One evaluation: the parameter value and its statistic with 95% CI. */
typedef struct sch_size_eval {
  double value;
  double statistic;
  double lo, hi; /**< 95% confidence interval of the statistic */
  bool met;      /**< the statistic meets the target */
} sch_size_eval;

/** How a search ended. */
typedef enum sch_size_outcome {
  SCH_SIZE_FOUND,  /**< bracketed: met at one end only */
  SCH_SIZE_AT_END, /**< met at both ends: the answer is the nearer end */
  SCH_SIZE_NEVER,  /**< met at neither end: no answer */
} sch_size_outcome;

/** The answer and every evaluation, in the order made. */
typedef struct sch_size_result {
  sch_size_outcome outcome;
  double answer;     /**< the value found (NaN if never met) */
  double bracket[2]; /**< last bracket: [not met, met] ordered by value */
  double answer_lo;  /**< with answer_hi: the values whose statistic's CI */
  double answer_hi;  /**< holds the threshold, joined with the bracket */
  bool out_of_evals; /**< stopped by max_evals before the tolerance */
  int n_evals;
  sch_size_eval evals[SCH_SIZE_MAX_EVALS];
} sch_size_result;

/** Evaluate the statistic at one parameter value. */
typedef sch_status (*sch_size_eval_fn)(void *ctx, double value,
                                       sch_size_eval *out, sch_error *err);

/**
 * The search on any monotone statistic: both ends, bisection to the
 * tolerance, then bisection of the edges of the set of values whose CI
 * holds the threshold, within the remaining evaluations.
 * @param spec what to search
 * @param eval evaluates one value (fills value, statistic, lo, hi)
 * @param ctx  passed to eval
 * @param out  the result
 * @param err  message on failure
 * @return SCH_OK, or what eval returned
 */
sch_status sch_size_search(const sch_size_spec *spec, sch_size_eval_fn eval,
                           void *ctx, sch_size_result *out, sch_error *err);

/**
 * Search with the engine: each evaluation runs the configuration (file +
 * overrides + `param=value`) as a one-point sweep with the same seed.
 * @param config      YAML file, or NULL for the embedded default
 * @param overrides   `--set` strings
 * @param n_overrides their number
 * @param spec        what to search
 * @param opt         engine options
 * @param out         the result
 * @param err         message on failure
 * @return SCH_OK, SCH_ERR_INPUT, SCH_ERR_RUNTIME
 */
sch_status sch_size_solve(const char *config, const char *const *overrides,
                          size_t n_overrides, const sch_size_spec *spec,
                          const sch_run_options *opt, sch_size_result *out,
                          sch_error *err);

/**
 * Print the evaluations as a table and the answer with its uncertainty.
 * @param spec   what was searched
 * @param target the target as written
 * @param res    the result
 * @param out    stream
 */
void sch_size_print(const sch_size_spec *spec, const char *target,
                    const sch_size_result *res, FILE *out);

/**
 * Write /size/evaluations/{value,statistic,lo,hi} and the attributes
 * `param`, `target`, `answer`, `answer_lo`, `answer_hi`, `outcome` of /size.
 * @param w      writer
 * @param spec   what was searched
 * @param target the target as written
 * @param res    the result
 * @param err    message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_size_write(sch_h5_writer *w, const sch_size_spec *spec,
                          const char *target, const sch_size_result *res,
                          sch_error *err);

#ifdef __cplusplus
}
#endif
#endif
