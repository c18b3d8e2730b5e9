/* Loan book: CSV reader, generator, health factor (docs/loanbook.md). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schelling/loanbook.h"

enum { ETH, WBTC, WSTETH, USDC, N_ASSETS };

/* The assets, protocol and generator of configs/default.yaml, built by hand
 * so that these tests do not depend on the YAML loader. */
static void default_config(sch_config *cfg) {
  static const struct {
    const char *name;
    double price, vol, lt, lb;
  } assets[N_ASSETS] = {
      {"ETH", 3000.0, 0.75, 0.83, 0.05},
      {"WBTC", 60000.0, 0.60, 0.78, 0.065},
      {"wstETH", 3500.0, 0.75, 0.81, 0.06},
      {"USDC", 1.0, 0.0, 0.87, 0.045},
  };
  memset(cfg, 0, sizeof *cfg);
  strcpy(cfg->source, "test.yaml");
  cfg->n_assets = N_ASSETS;
  for (int i = 0; i < N_ASSETS; i++) {
    strcpy(cfg->assets[i].name, assets[i].name);
    cfg->assets[i].price = assets[i].price;
    cfg->assets[i].vol = assets[i].vol;
    cfg->assets[i].stable = assets[i].vol == 0.0;
    cfg->protocol.assets[i].listed = true;
    cfg->protocol.assets[i].liquidation_threshold = assets[i].lt;
    cfg->protocol.assets[i].liquidation_bonus = assets[i].lb;
  }
  sch_loanbook_spec *lb = &cfg->loanbook;
  lb->generate = true;
  lb->accounts = 10000;
  lb->total_debt = 2e9;
  lb->size_sigma = 1.8;
  lb->hf_min = 1.02;
  lb->hf_max = 3.0;
  lb->hf_median = 1.35;
  lb->hf_sigma = 0.9;
  lb->seed = 1;
  const sch_book_mix mix[] = {
      {1u << ETH, USDC, 0.35},   {1u << WBTC, USDC, 0.20},
      {1u << WSTETH, ETH, 0.20}, {(1u << ETH) | (1u << WBTC), USDC, 0.15},
      {1u << USDC, ETH, 0.10},
  };
  lb->n_mix = 5;
  memcpy(lb->mix, mix, sizeof mix);
}

static double initial_price(const sch_config *cfg, int i) {
  return cfg->assets[i].price;
}

static void initial_prices(const sch_config *cfg, double *prices) {
  for (int i = 0; i < cfg->n_assets; i++)
    prices[i] = initial_price(cfg, i);
}

/* Write `text` to a fresh temporary file; its name goes to `path`. */
static void write_temp(const char *text, size_t len, char path[64]) {
  strcpy(path, "/tmp/schelling-loanbook-XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0, "mkstemp failed");
  cr_assert_eq(write(fd, text, len), (ssize_t)len);
  close(fd);
}

/* Read CSV text through a temporary file, removed before returning. */
static sch_status read_text_len(const char *text, size_t len,
                                const sch_config *cfg, sch_loanbook *book,
                                sch_error *err, char path[64]) {
  write_temp(text, len, path);
  sch_status st = sch_loanbook_read_csv(path, cfg, book, err);
  unlink(path);
  return st;
}

static sch_status read_text(const char *text, const sch_config *cfg,
                            sch_loanbook *book, sch_error *err, char path[64]) {
  return read_text_len(text, strlen(text), cfg, book, err, path);
}

static double amount(const sch_loanbook *book, const double *amounts, int64_t a,
                     int i) {
  return amounts[a * book->n_assets + i];
}

/* ------------------------------------------------------------------------ */
/* Good CSV                                                                 */
/* ------------------------------------------------------------------------ */

Test(csv, values_and_missing_columns_are_zero) {
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  sch_error err = {0};
  char path[64];
  const char *text = "account,ETH_collateral,USDC_debt,WBTC_collateral\n"
                     "0xa1,10,15000,0.5\n"
                     "0xb2, 2.5 ,0,\n"
                     "0xc3,1e-3,1.5E1,0\n";
  cr_assert_eq(read_text(text, &cfg, &book, &err, path), SCH_OK, "%s", err.msg);
  cr_assert_eq(book.n_accounts, 3);
  cr_assert_eq(book.n_assets, N_ASSETS);
  cr_assert_str_eq(book.account_ids[0], "0xa1");
  cr_assert_str_eq(book.account_ids[2], "0xc3");
  cr_assert_eq(amount(&book, book.collateral, 0, ETH), 10.0);
  cr_assert_eq(amount(&book, book.collateral, 0, WBTC), 0.5);
  cr_assert_eq(amount(&book, book.debt, 0, USDC), 15000.0);
  cr_assert_eq(amount(&book, book.collateral, 1, ETH), 2.5);
  cr_assert_eq(amount(&book, book.collateral, 1, WBTC), 0.0, "empty is 0");
  cr_assert_eq(amount(&book, book.collateral, 2, ETH), 1e-3);
  cr_assert_eq(amount(&book, book.debt, 2, USDC), 15.0);
  for (int64_t a = 0; a < 3; a++) {
    cr_assert_eq(amount(&book, book.collateral, a, WSTETH), 0.0);
    cr_assert_eq(amount(&book, book.collateral, a, USDC), 0.0);
    cr_assert_eq(amount(&book, book.debt, a, ETH), 0.0);
    cr_assert_eq(amount(&book, book.debt, a, WBTC), 0.0);
  }
  sch_loanbook_free(&book);
}

Test(csv, bom_crlf_and_no_final_newline) {
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  sch_error err = {0};
  char path[64];
  const char *text = "\xEF\xBB\xBF"
                     "account,wstETH_collateral,ETH_debt\r\n"
                     "0x01,12.5,9\r\n"
                     "0x02,3,1";
  cr_assert_eq(read_text(text, &cfg, &book, &err, path), SCH_OK, "%s", err.msg);
  cr_assert_eq(book.n_accounts, 2);
  cr_assert_str_eq(book.account_ids[0], "0x01");
  cr_assert_eq(amount(&book, book.collateral, 0, WSTETH), 12.5);
  cr_assert_eq(amount(&book, book.debt, 0, ETH), 9.0);
  cr_assert_str_eq(book.account_ids[1], "0x02", "no CR left in ids");
  cr_assert_eq(amount(&book, book.debt, 1, ETH), 1.0);
  sch_loanbook_free(&book);
}

Test(csv, comments_and_blank_lines_are_skipped) {
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  sch_error err = {0};
  char path[64];
  const char *text = "# exported 2024-05-01\n"
                     "\n"
                     "account,USDC_collateral,ETH_debt\n"
                     "# shorts\n"
                     "   \n"
                     "0xaa,5000,1\n"
                     "\n"
                     "0xbb,100,0\n";
  cr_assert_eq(read_text(text, &cfg, &book, &err, path), SCH_OK, "%s", err.msg);
  cr_assert_eq(book.n_accounts, 2);
  cr_assert_str_eq(book.account_ids[1], "0xbb");
  cr_assert_eq(amount(&book, book.collateral, 1, USDC), 100.0);
  sch_loanbook_free(&book);
}

/* The hash set of ids grows many times; a duplicate at the end is found. */
Test(csv, many_rows_and_late_duplicate) {
  sch_config cfg;
  default_config(&cfg);
  enum { ROWS = 100000 };
  size_t cap = 64 + (size_t)ROWS * 40;
  char *text = malloc(cap);
  size_t len =
      (size_t)snprintf(text, cap, "account,ETH_collateral,USDC_debt\n");
  for (int r = 0; r < ROWS; r++)
    len += (size_t)snprintf(text + len, cap - len, "0x%06x,%d.5,%d\n", r,
                            r % 97, r % 97 * 1000);
  sch_loanbook book;
  sch_error err = {0};
  char path[64];
  sch_status st = read_text_len(text, len, &cfg, &book, &err, path);
  cr_assert_eq(st, SCH_OK, "%s", err.msg);
  cr_assert_eq(book.n_accounts, ROWS);
  cr_assert_eq(amount(&book, book.collateral, 12345, ETH), 12345 % 97 + 0.5);
  cr_assert_str_eq(book.account_ids[ROWS - 1], "0x01869f");
  sch_loanbook_free(&book);

  len += (size_t)snprintf(text + len, cap - len, "0x00beef,1,1\n");
  st = read_text_len(text, len, &cfg, &book, &err, path);
  free(text);
  cr_assert_eq(st, SCH_ERR_INPUT);
  cr_assert(strstr(err.msg, ":100002:1: duplicate account '0x00beef'"), "%s",
            err.msg);
  cr_assert(strstr(err.msg, "first on line 48881"), "%s", err.msg);
}

/* ------------------------------------------------------------------------ */
/* Bad CSV: one line, <path>:<line>:<column>: <message>                     */
/* ------------------------------------------------------------------------ */

static void expect_error_in(const sch_config *cfg, const char *text, size_t len,
                            int line, int column, const char *const *words) {
  sch_loanbook book;
  sch_error err = {0};
  char path[64], prefix[128];
  sch_status st = read_text_len(text, len, cfg, &book, &err, path);
  cr_assert_eq(st, SCH_ERR_INPUT, "status %d for %s", st, text);
  snprintf(prefix, sizeof prefix, "%s:%d:%d: ", path, line, column);
  cr_assert(strncmp(err.msg, prefix, strlen(prefix)) == 0,
            "expected prefix '%s', got '%s'", prefix, err.msg);
  cr_assert_null(strchr(err.msg, '\n'), "one line: %s", err.msg);
  for (const char *const *w = words; *w; w++)
    cr_assert(strstr(err.msg, *w), "'%s' not in '%s'", *w, err.msg);
  cr_assert_eq(book.n_accounts, 0);
  cr_assert_null(book.account_ids);
  cr_assert_null(book.collateral);
  cr_assert_null(book.debt);
}

#define EXPECT_ERROR(text, line, column, ...)                                  \
  do {                                                                         \
    sch_config cfg_;                                                           \
    default_config(&cfg_);                                                     \
    const char *const words_[] = {__VA_ARGS__, NULL};                          \
    expect_error_in(&cfg_, text, strlen(text), line, column, words_);          \
  } while (0)

Test(csv_error, unknown_asset_lists_known_assets) {
  EXPECT_ERROR("account,ETH_collateral,ETHX_debt\n0x1,1,1\n", 1, 24,
               "unknown asset 'ETHX'", "ETHX_debt",
               "known assets: ETH, WBTC, wstETH, USDC");
}

Test(csv_error, asset_names_are_case_sensitive) {
  EXPECT_ERROR("account,eth_collateral\n0x1,1\n", 1, 9, "unknown asset 'eth'");
}

Test(csv_error, column_neither_account_nor_amount) {
  EXPECT_ERROR("account,ETH_collateral,owner\n0x1,1,me\n", 1, 24,
               "column 'owner' is neither 'account' nor");
  EXPECT_ERROR("account,ETH_borrow\n", 1, 9, "'ETH_borrow' is neither");
}

Test(csv_error, duplicate_column) {
  EXPECT_ERROR("account,ETH_debt,USDC_collateral,ETH_debt\n", 1, 34,
               "duplicate column 'ETH_debt'", "first at column 9");
  EXPECT_ERROR("account,USDC_collateral,account\n", 1, 25,
               "duplicate column 'account'", "first at column 1");
}

Test(csv_error, account_column_first) {
  EXPECT_ERROR("ETH_collateral,account\n1,0x1\n", 1, 1,
               "first column must be 'account'");
}

Test(csv_error, wrong_number_of_fields) {
  EXPECT_ERROR("account,ETH_collateral,USDC_debt\n0x1,1,2\n0x2,1,2,3,4\n", 3, 9,
               "expected 3 fields", "found 5");
  EXPECT_ERROR("account,ETH_collateral,USDC_debt\n0x1,1\n", 2, 6,
               "expected 3 fields", "found 2");
}

Test(csv_error, malformed_number_names_column) {
  EXPECT_ERROR("account,ETH_collateral,USDC_debt\n0x1,1,12O0\n", 2, 7,
               "malformed number '12O0'", "column USDC_debt");
  EXPECT_ERROR("account,WBTC_collateral\n0x1,1.5.2\n", 2, 5, "malformed number",
               "WBTC_collateral");
}

Test(csv_error, negative_amount) {
  EXPECT_ERROR("account,ETH_collateral\n0x1,3\n0x2,-0.5\n", 3, 5,
               "negative amount -0.5", "ETH_collateral");
}

Test(csv_error, nan_and_infinity) {
  EXPECT_ERROR("account,ETH_collateral\n0x1,nan\n", 2, 5, "not finite",
               "ETH_collateral");
  EXPECT_ERROR("account,ETH_collateral\n0x1,-inf\n", 2, 5, "not finite");
  EXPECT_ERROR("account,ETH_collateral\n0x1,1e999\n", 2, 5, "not finite");
}

Test(csv_error, duplicate_account_names_first_line) {
  EXPECT_ERROR("account,ETH_collateral\n0xa,1\n# note\n0xb,1\n0xa,2\n", 5, 1,
               "duplicate account '0xa'", "first on line 2");
}

Test(csv_error, empty_account_id) {
  EXPECT_ERROR("account,ETH_collateral\n ,1\n", 2, 2, "empty account id");
}

Test(csv_error, no_accounts) {
  EXPECT_ERROR("", 1, 1, "no accounts");
  EXPECT_ERROR("account,ETH_collateral\n", 2, 1, "no accounts");
  EXPECT_ERROR("account,ETH_collateral\n# nothing yet\n\n", 4, 1,
               "no accounts");
  EXPECT_ERROR("# only a comment", 2, 1, "no accounts");
}

Test(csv_error, debt_without_collateral) {
  EXPECT_ERROR("account,ETH_collateral,USDC_debt\n0x1,1,100\n0x2,0,100\n", 3, 1,
               "account '0x2' has debt but no collateral");
}

Test(csv_error, collateral_in_unlisted_asset) {
  sch_config cfg;
  default_config(&cfg);
  cfg.protocol.assets[WBTC].listed = false;
  const char *ok = "account,WBTC_collateral,ETH_collateral,WBTC_debt\n"
                   "0x1,0,1,0.01\n";
  sch_loanbook book;
  sch_error err = {0};
  char path[64];
  cr_assert_eq(read_text(ok, &cfg, &book, &err, path), SCH_OK,
               "zero collateral and debt in an unlisted asset are fine: %s",
               err.msg);
  sch_loanbook_free(&book);
  const char *bad = "account,ETH_collateral,WBTC_collateral,USDC_debt\n"
                    "0x1,1,0,100\n"
                    "0x2,1,0.5,100\n";
  const char *const words[] = {"collateral in WBTC", "not listed",
                               "protocol.assets", NULL};
  expect_error_in(&cfg, bad, strlen(bad), 3, 7, words);
}

Test(csv_error, columns_counted_after_bom_with_crlf) {
  EXPECT_ERROR("\xEF\xBB\xBF"
               "account,ETH_collateral\r\n0x1,abc\r\n",
               2, 5, "malformed number 'abc'");
  EXPECT_ERROR("\xEF\xBB\xBF"
               "account,ETH_colateral\r\n",
               1, 9, "'ETH_colateral' is neither");
}

Test(csv_error, missing_file) {
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  sch_error err = {0};
  const char *path = "/nonexistent-schelling/book.csv";
  cr_assert_eq(sch_loanbook_read_csv(path, &cfg, &book, &err), SCH_ERR_INPUT);
  cr_assert_str_eq(err.msg, "/nonexistent-schelling/book.csv: cannot read: "
                            "No such file or directory");
  cr_assert_null(book.debt);
}

Test(csv_error, directory_is_unreadable) {
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  sch_error err = {0};
  cr_assert_eq(sch_loanbook_read_csv("/tmp", &cfg, &book, &err), SCH_ERR_INPUT);
  cr_assert_str_eq(err.msg, "/tmp: cannot read: Is a directory");
}

/* ------------------------------------------------------------------------ */
/* Health factor                                                            */
/* ------------------------------------------------------------------------ */

Test(health, two_collateral_account_by_hand) {
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  sch_error err = {0};
  char path[64];
  const char *text = "account,ETH_collateral,WBTC_collateral,USDC_debt\n"
                     "0x1,10,0.5,30000\n"
                     "0x2,10,0,0\n";
  cr_assert_eq(read_text(text, &cfg, &book, &err, path), SCH_OK, "%s", err.msg);
  double prices[N_ASSETS];
  initial_prices(&cfg, prices);
  /* (10 * 3000 * 0.83 + 0.5 * 60000 * 0.78) / 30000 = 48300 / 30000 */
  cr_assert_float_eq(sch_loanbook_health(&cfg, &book, 0, prices), 1.61, 1e-12);
  prices[ETH] = 2000.0;
  prices[WBTC] = 50000.0;
  /* (16600 + 19500) / 30000 */
  cr_assert_float_eq(sch_loanbook_health(&cfg, &book, 0, prices),
                     36100.0 / 30000.0, 1e-12);
  prices[USDC] = 2.0; /* debt value doubles */
  cr_assert_float_eq(sch_loanbook_health(&cfg, &book, 0, prices),
                     36100.0 / 60000.0, 1e-12);
  cr_assert(isinf(sch_loanbook_health(&cfg, &book, 1, prices)),
            "no debt: infinite");
  sch_loanbook_free(&book);
}

/* ------------------------------------------------------------------------ */
/* Generator                                                                */
/* ------------------------------------------------------------------------ */

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void generate(const sch_config *cfg, sch_loanbook *book) {
  sch_error err = {0};
  cr_assert_eq(sch_loanbook_generate(cfg, book, &err), SCH_OK, "%s", err.msg);
  cr_assert_eq(book->n_accounts, cfg->loanbook.accounts);
  cr_assert_eq(book->n_assets, cfg->n_assets);
}

static bool same_book(const sch_loanbook *x, const sch_loanbook *y) {
  size_t n = (size_t)x->n_accounts * (size_t)x->n_assets * sizeof(double);
  return x->n_accounts == y->n_accounts &&
         memcmp(x->collateral, y->collateral, n) == 0 &&
         memcmp(x->debt, y->debt, n) == 0;
}

Test(generator, deterministic_in_seed) {
  sch_config cfg;
  default_config(&cfg);
  cfg.loanbook.accounts = 2000;
  sch_loanbook first, second, other;
  generate(&cfg, &first);
  generate(&cfg, &second);
  cr_assert(same_book(&first, &second), "same seed, same bits");
  for (int64_t a = 0; a < first.n_accounts; a++)
    cr_assert_str_eq(first.account_ids[a], second.account_ids[a]);
  cfg.loanbook.seed = 2;
  generate(&cfg, &other);
  cr_assert_not(same_book(&first, &other), "another seed, another book");
  sch_loanbook_free(&first);
  sch_loanbook_free(&second);
  sch_loanbook_free(&other);
}

Test(generator, default_scenario_totals_and_health) {
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  generate(&cfg, &book);
  double prices[N_ASSETS];
  initial_prices(&cfg, prices);
  double *health = malloc((size_t)book.n_accounts * sizeof *health);
  double total_debt = 0.0;
  for (int64_t a = 0; a < book.n_accounts; a++) {
    for (int i = 0; i < N_ASSETS; i++)
      total_debt += amount(&book, book.debt, a, i) * prices[i];
    health[a] = sch_loanbook_health(&cfg, &book, a, prices);
    /* Bounds up to the rounding of recomputing HF from units. */
    cr_assert(health[a] >= 1.02 * (1 - 1e-12) && health[a] <= 3.0 * (1 + 1e-12),
              "account %ld: HF %.17g", (long)a, health[a]);
  }
  cr_assert_float_eq(total_debt / 2e9, 1.0, 1e-6);
  qsort(health, (size_t)book.n_accounts, sizeof *health, compare_doubles);
  double median = 0.5 * (health[4999] + health[5000]);
  cr_assert(fabs(median - 1.35) < 0.03, "median HF %g", median);
  cr_assert_str_eq(book.account_ids[0], "g0");
  cr_assert_str_eq(book.account_ids[9999], "g9999");
  free(health);
  sch_loanbook_free(&book);
}

/* The kind of a generated account: the mix entry whose collateral set and
 * debt asset it has (the default mix's kinds are all distinguishable). */
static int kind_of(const sch_config *cfg, const sch_loanbook *book, int64_t a) {
  uint32_t mask = 0;
  int debt_asset = -1;
  for (int i = 0; i < book->n_assets; i++) {
    if (amount(book, book->collateral, a, i) > 0.0)
      mask |= 1u << i;
    if (amount(book, book->debt, a, i) > 0.0)
      debt_asset = i;
  }
  for (int k = 0; k < cfg->loanbook.n_mix; k++) {
    if (cfg->loanbook.mix[k].collateral_mask == mask &&
        cfg->loanbook.mix[k].debt == debt_asset)
      return k;
  }
  return -1;
}

Test(generator, kind_shares_match_weights) {
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  generate(&cfg, &book);
  int64_t counts[SCH_MAX_MIX] = {0};
  for (int64_t a = 0; a < book.n_accounts; a++) {
    int k = kind_of(&cfg, &book, a);
    cr_assert(k >= 0, "account %ld matches no kind", (long)a);
    counts[k]++;
  }
  double n = (double)book.n_accounts;
  for (int k = 0; k < cfg.loanbook.n_mix; k++) {
    double w = cfg.loanbook.mix[k].weight, share = (double)counts[k] / n;
    double stderr_share = sqrt(w * (1.0 - w) / n);
    cr_assert(fabs(share - w) < 4.0 * stderr_share,
              "kind %d: share %g, weight %g", k, share, w);
  }
  sch_loanbook_free(&book);
}

Test(generator, zero_weight_kind_never_drawn) {
  sch_config cfg;
  default_config(&cfg);
  cfg.loanbook.accounts = 3000;
  cfg.loanbook.mix[1].weight = 0.0; /* WBTC/USDC */
  sch_loanbook book;
  generate(&cfg, &book);
  for (int64_t a = 0; a < book.n_accounts; a++)
    cr_assert_neq(kind_of(&cfg, &book, a), 1);
  sch_loanbook_free(&book);
}

Test(generator, sizes_lognormal_with_size_sigma) {
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  generate(&cfg, &book);
  double sum = 0.0, sum_sq = 0.0, n = (double)book.n_accounts;
  for (int64_t a = 0; a < book.n_accounts; a++) {
    double usd = 0.0;
    for (int i = 0; i < N_ASSETS; i++)
      usd += amount(&book, book.debt, a, i) * initial_price(&cfg, i);
    double x = log(usd);
    sum += x;
    sum_sq += x * x;
  }
  double sd = sqrt((sum_sq - sum * sum / n) / (n - 1.0));
  /* stderr of a normal sample's sd: sigma / sqrt(2 (n - 1)) */
  cr_assert(fabs(sd - 1.8) < 4.0 * 1.8 / sqrt(2.0 * (n - 1.0)),
            "sd of log size %g", sd);
  sch_loanbook_free(&book);
}

/* ETH+WBTC kind: shares u_i / (u_1 + u_2), u_i ~ U(0.5, 1.5), lie in
 * (1/4, 3/4) and average 1/2. */
Test(generator, multi_collateral_split) {
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  generate(&cfg, &book);
  double sum = 0.0;
  int64_t n = 0;
  for (int64_t a = 0; a < book.n_accounts; a++) {
    if (kind_of(&cfg, &book, a) != 3)
      continue;
    double eth = amount(&book, book.collateral, a, ETH) * 3000.0 * 0.83;
    double wbtc = amount(&book, book.collateral, a, WBTC) * 60000.0 * 0.78;
    double share = eth / (eth + wbtc);
    cr_assert(share > 0.25 && share < 0.75, "ETH share %g", share);
    sum += share;
    n++;
  }
  cr_assert_gt(n, 1000);
  /* The share's sd is below 0.15, so the mean's stderr is below 0.005. */
  cr_assert(fabs(sum / (double)n - 0.5) < 0.02, "mean share %g",
            sum / (double)n);
  sch_loanbook_free(&book);
}

static void expect_generate_error(const sch_config *cfg, const char *word) {
  sch_loanbook book;
  sch_error err = {0};
  cr_assert_eq(sch_loanbook_generate(cfg, &book, &err), SCH_ERR_INPUT);
  cr_assert(strstr(err.msg, "test.yaml: loanbook.generate"), "%s", err.msg);
  cr_assert(strstr(err.msg, word), "'%s' not in '%s'", word, err.msg);
  cr_assert_null(book.debt);
}

Test(generator, rejects_unlisted_collateral_and_bad_bounds) {
  sch_config cfg;
  default_config(&cfg);
  cfg.protocol.assets[WSTETH].listed = false;
  expect_generate_error(&cfg, "mix[2]: collateral wstETH is not listed");
  default_config(&cfg);
  cfg.loanbook.hf_min = 5.0;
  cfg.loanbook.hf_max = 6.0;
  cfg.loanbook.hf_sigma = 0.01;
  expect_generate_error(&cfg, "widen them");
  default_config(&cfg);
  cfg.loanbook.mix[0].collateral_mask = 0;
  expect_generate_error(&cfg, "mix[0]: collateral must name");
  default_config(&cfg);
  for (int k = 0; k < cfg.loanbook.n_mix; k++)
    cfg.loanbook.mix[k].weight = 0.0;
  expect_generate_error(&cfg, "weights sum to zero");
}

/* ------------------------------------------------------------------------ */
/* Load, free, example book                                                 */
/* ------------------------------------------------------------------------ */

Test(load, dispatches_on_generate) {
  sch_config cfg;
  default_config(&cfg);
  cfg.loanbook.accounts = 50;
  sch_loanbook book;
  sch_error err = {0};
  cr_assert_eq(sch_loanbook_load(&cfg, &book, &err), SCH_OK, "%s", err.msg);
  cr_assert_eq(book.n_accounts, 50);
  cr_assert_str_eq(book.account_ids[49], "g49");
  sch_loanbook_free(&book);

  char path[64];
  const char *text = "account,ETH_collateral,USDC_debt\n0xfe,1,1000\n";
  write_temp(text, strlen(text), path);
  cfg.loanbook.generate = false;
  strcpy(cfg.loanbook.file, path);
  sch_status st = sch_loanbook_load(&cfg, &book, &err);
  unlink(path);
  cr_assert_eq(st, SCH_OK, "%s", err.msg);
  cr_assert_eq(book.n_accounts, 1);
  cr_assert_str_eq(book.account_ids[0], "0xfe");
  sch_loanbook_free(&book);
}

Test(load, free_is_safe_twice_and_on_zero) {
  sch_loanbook zero = {0};
  sch_loanbook_free(&zero);
  sch_loanbook_free(NULL);
  sch_config cfg;
  default_config(&cfg);
  cfg.loanbook.accounts = 10;
  sch_loanbook book;
  generate(&cfg, &book);
  sch_loanbook_free(&book);
  cr_assert_null(book.collateral);
  cr_assert_null(book.debt);
  cr_assert_null(book.account_ids);
  cr_assert_eq(book.n_accounts, 0);
  sch_loanbook_free(&book);
}

/* configs/loanbooks/example.csv reads under the default assets. */
Test(example, example_book_reads) {
  const char *root = getenv("SCHELLING_SOURCE_ROOT");
  cr_assert(root, "SCHELLING_SOURCE_ROOT is set by meson test");
  char path[4096];
  snprintf(path, sizeof path, "%s/configs/loanbooks/example.csv", root);
  sch_config cfg;
  default_config(&cfg);
  sch_loanbook book;
  sch_error err = {0};
  cr_assert_eq(sch_loanbook_read_csv(path, &cfg, &book, &err), SCH_OK, "%s",
               err.msg);
  cr_assert_eq(book.n_accounts, 300);
  double prices[N_ASSETS];
  initial_prices(&cfg, prices);
  double min_hf = INFINITY;
  for (int64_t a = 0; a < book.n_accounts; a++) {
    double hf = sch_loanbook_health(&cfg, &book, a, prices);
    cr_assert(hf > 1.0, "%s HF %g", book.account_ids[a], hf);
    min_hf = fmin(min_hf, hf);
  }
  cr_assert(min_hf < 1.06, "some accounts sit near HF 1.05: min %g", min_hf);
  sch_loanbook_free(&book);
}
