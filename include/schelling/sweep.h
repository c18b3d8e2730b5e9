/**
 * @file sweep.h
 * @brief Sweep helpers around the engine: the loan books of a sweep's points
 *        and the trade-off frontier between tail shortfall and the bonus
 *        paid by borrowers (docs/output.md, /frontier).
 */
#ifndef SCHELLING_SWEEP_H
#define SCHELLING_SWEEP_H

#include "schelling/loanbook.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Mark the points on the trade-off frontier: a point is dominated when
 * another is lower or equal in both figures and strictly lower in one. A
 * point with a NaN figure is never on the frontier and dominates nothing.
 * Equal points are all on the frontier. O(n^2).
 * @param n_points    points
 * @param tail        [n_points] tail figure of shortfall (e.g. es_99 of
 *                    uncovered_shortfall): lower is better
 * @param cost        [n_points] mean bonus paid by borrowers: lower is better
 * @param on_frontier out: [n_points] 1 if not dominated, else 0
 * @return the number of points on the frontier
 */
int sch_frontier(int n_points, const double *tail, const double *cost,
                 uint8_t *on_frontier);

/**
 * Load the loan books of a sweep: one per distinct loan book (the
 * `loanbook` section and the asset names), shared by every point that has
 * it. A generated book is drawn once, with the first such point's prices and
 * thresholds.
 * @param points   [n_points] configurations
 * @param n_points number of points
 * @param books    out: [n_points] pointers (entries may repeat); release
 *                 with sch_sweep_books_free()
 * @param err      message on failure
 * @return SCH_OK, SCH_ERR_INPUT or SCH_ERR_RUNTIME
 */
sch_status sch_sweep_books_load(const sch_config *points, int n_points,
                                sch_loanbook ***books, sch_error *err);

/**
 * Release the books of sch_sweep_books_load() (each distinct book once).
 * @param books    the array (may be NULL)
 * @param n_points its length
 */
void sch_sweep_books_free(sch_loanbook **books, int n_points);

#ifdef __cplusplus
}
#endif
#endif
