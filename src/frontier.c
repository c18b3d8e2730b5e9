/* The trade-off frontier of a sweep, and the loan books its points share
 * (include/schelling/sweep.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schelling/sweep.h"

/* a dominates b: no worse in both figures, better in one. */
static bool dominates(double tail_a, double cost_a, double tail_b,
                      double cost_b) {
  return tail_a <= tail_b && cost_a <= cost_b &&
         (tail_a < tail_b || cost_a < cost_b);
}

int sch_frontier(int n_points, const double *tail, const double *cost,
                 uint8_t *on_frontier) {
  int count = 0;
  for (int p = 0; p < n_points; p++) {
    bool kept = !isnan(tail[p]) && !isnan(cost[p]);
    for (int q = 0; kept && q < n_points; q++)
      kept = !dominates(tail[q], cost[q], tail[p], cost[p]);
    on_frontier[p] = kept;
    count += kept;
  }
  return count;
}

/* Points with the same loanbook section over the same assets share a book. */
static bool same_book(const sch_config *a, const sch_config *b) {
  if (a->n_assets != b->n_assets ||
      memcmp(&a->loanbook, &b->loanbook, sizeof a->loanbook) != 0)
    return false;
  for (int i = 0; i < a->n_assets; i++)
    if (strcmp(a->assets[i].name, b->assets[i].name) != 0)
      return false;
  return true;
}

sch_status sch_sweep_books_load(const sch_config *points, int n_points,
                                sch_loanbook ***books, sch_error *err) {
  *books = calloc((size_t)n_points, sizeof **books);
  if (!*books)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory for loan books");
  sch_status st = SCH_OK;
  for (int p = 0; st == SCH_OK && p < n_points; p++) {
    int q = 0;
    while (q < p && !same_book(&points[q], &points[p]))
      q++;
    if (q < p) {
      (*books)[p] = (*books)[q];
      continue;
    }
    sch_loanbook *book = calloc(1, sizeof *book);
    if (!book) {
      st = sch_fail(err, SCH_ERR_RUNTIME, "out of memory for loan books");
      break;
    }
    (*books)[p] = book;
    st = sch_loanbook_load(&points[p], book, err);
  }
  if (st != SCH_OK) {
    sch_sweep_books_free(*books, n_points);
    *books = NULL;
  }
  return st;
}

void sch_sweep_books_free(sch_loanbook **books, int n_points) {
  if (!books)
    return;
  for (int p = 0; p < n_points; p++) {
    bool first = true;
    for (int q = 0; first && q < p; q++)
      first = books[q] != books[p];
    if (first && books[p]) {
      sch_loanbook_free(books[p]);
      free(books[p]);
    }
  }
  free(books);
}
