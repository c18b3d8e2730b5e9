/**
 * @file scenario.h
 * @brief Derive the immutable kernel models of a run from a validated config
 *        and loan book: Cholesky factor, per-step constants, sorted groups.
 */
#ifndef SCHELLING_SCENARIO_H
#define SCHELLING_SCENARIO_H

#include "model.h"
#include "schelling/loanbook.h"

/** Everything the kernels read, plus the storage behind its pointers. */
typedef struct sch_scenario {
  sch_path_model paths;
  sch_market_model market;
  sch_book_group *groups;
  int32_t *account_order; /* storage of by_health / by_cover */
  double *account_values; /* storage of health0 / cover0 */
  int32_t *group_of_account;
  double *replay_x; /* storage of paths.replay_x */
  /* several protocols: protocols 1.. with their books, and the models the
   * head's market.protocols points at (index 0: the head's own) */
  int n_sub;
  struct sch_scenario *sub;  /* [n_sub], sub[0] unused */
  sch_loanbook *sub_books;   /* [n_sub], sub_books[0] unused */
  sch_market_model *protocol_models;
} sch_scenario;

/**
 * Build the models. The book must outlive the scenario (it is referenced).
 * With several protocols (cfg->n_protocols > 1) `book` is protocol 0's; the
 * others' books are loaded here and owned by the scenario.
 * @param cfg  validated configuration
 * @param book loan book of that configuration
 * @param sc   filled on success; release with sch_scenario_free()
 * @param err  message on failure
 * @return SCH_OK, SCH_ERR_INPUT or SCH_ERR_RUNTIME (out of memory)
 */
sch_status sch_scenario_build(const sch_config *cfg, const sch_loanbook *book,
                              sch_scenario *sc, sch_error *err);

/** Release a scenario (NULL-safe, idempotent). */
void sch_scenario_free(sch_scenario *sc);

/**
 * Lower Cholesky factor of an n x n matrix (row-major, stride SCH_MAX_ASSETS).
 * @return 0 on success, else k (1-based) when leading minor k fails
 */
int sch_cholesky(const double a[][SCH_MAX_ASSETS], int n,
                 double l[][SCH_MAX_ASSETS]);

#endif
