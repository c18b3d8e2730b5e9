/**
 * @file loanbook.h
 * @brief The loan book: accounts with collateral and debt in asset units,
 *        read from CSV or generated (docs/config.md, docs/model.md).
 */
#ifndef SCHELLING_LOANBOOK_H
#define SCHELLING_LOANBOOK_H

#include "schelling/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Accounts in loan-book row order; amounts row-major [account][asset]. */
typedef struct sch_loanbook {
  int64_t n_accounts;
  int n_assets;        /**< same as the config's n_assets */
  double *collateral;  /**< [n_accounts * n_assets] units */
  double *debt;        /**< [n_accounts * n_assets] units */
  char **account_ids;  /**< CSV `account` column (generated: "g<row>") */
} sch_loanbook;

/**
 * Read (loanbook.file) or generate (loanbook.generate) the book of a config.
 * Checks: every account with debt has collateral; collateral only in assets
 * listed in protocol.assets.
 * @param cfg  validated configuration
 * @param book filled on success; release with sch_loanbook_free()
 * @param err  one-line message naming file:line:column on failure
 * @return SCH_OK, SCH_ERR_INPUT (bad input) or SCH_ERR_RUNTIME (I/O)
 */
sch_status sch_loanbook_load(const sch_config *cfg, sch_loanbook *book,
                             sch_error *err);

/**
 * Read a loan-book CSV: header `account,<ASSET>_collateral,<ASSET>_debt,...`;
 * a column left out is zero; CRLF and a UTF-8 BOM are accepted.
 * @param path CSV file
 * @param cfg  configuration (asset names, listed assets)
 * @param book filled on success
 * @param err  message on failure
 * @return SCH_OK or SCH_ERR_INPUT
 */
sch_status sch_loanbook_read_csv(const char *path, const sch_config *cfg,
                                 sch_loanbook *book, sch_error *err);

/**
 * Generate a book from cfg->loanbook (deterministic in loanbook seed).
 * @param cfg  configuration with loanbook.generate true
 * @param book filled on success
 * @param err  message on failure
 * @return SCH_OK or SCH_ERR_INPUT
 */
sch_status sch_loanbook_generate(const sch_config *cfg, sch_loanbook *book,
                                 sch_error *err);

/**
 * Health factor of an account at the given prices (INFINITY without debt).
 * @param cfg    configuration (liquidation thresholds)
 * @param book   the book
 * @param a      account row
 * @param prices price per asset, USD
 * @return sum_i c_ai p_i LT_i / sum_j d_aj p_j
 */
double sch_loanbook_health(const sch_config *cfg, const sch_loanbook *book,
                           int64_t a, const double *prices);

/**
 * Release a book.
 * @param book the book (may be NULL)
 */
void sch_loanbook_free(sch_loanbook *book);

#ifdef __cplusplus
}
#endif
#endif
