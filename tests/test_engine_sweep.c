/* Sweeps in the engine: every point is bitwise the plain run with its value
 * (common random numbers, shared or regenerated paths), and paired
 * differences are far tighter than the points' own errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "schelling/engine.h"

static const char *const small[] = {
    "simulation.paths=3000", "simulation.horizon=6h",
    "loanbook.generate.accounts=2000", "output.samples=2"};
enum { N_SMALL = 4 };

static void load(sch_config *cfg, sch_loanbook *book, const char *extra) {
  const char *o[N_SMALL + 1];
  memcpy(o, small, sizeof small);
  o[N_SMALL] = extra;
  sch_error err = {{0}};
  cr_assert_eq(sch_config_parse(sch_default_config_yaml, "<default>", ".", o,
                                extra ? N_SMALL + 1 : N_SMALL, cfg, &err),
               SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_loanbook_load(cfg, book, &err), SCH_OK, "%s", err.msg);
}

static sch_results *run_points(sch_config *cfgs, sch_loanbook *books, int n) {
  const sch_loanbook *bp[8];
  for (int p = 0; p < n; p++)
    bp[p] = &books[p];
  sch_results *res = NULL;
  sch_error err = {{0}};
  sch_run_options opt = {.threads = 2, .keep_per_path = true};
  cr_assert_eq(sch_engine_run_sweep(cfgs, bp, n, 0, &opt, NULL, &res, &err),
               SCH_OK, "%s", err.msg);
  return res;
}

static void expect_point_equals_plain(const char *const *values, int n) {
  sch_config cfgs[8];
  sch_loanbook books[8];
  for (int p = 0; p < n; p++)
    load(&cfgs[p], &books[p], values[p]);
  sch_results *sweep = run_points(cfgs, books, n);
  for (int p = 0; p < n; p++) {
    sch_results *plain = run_points(&cfgs[p], &books[p], 1);
    for (int m = 0; m < sch_results_metric_count(plain); m++) {
      cr_expect(memcmp(sch_results_per_path_at(sweep, p, m),
                       sch_results_per_path(plain, m),
                       3000 * sizeof(double)) == 0,
                "%s: point %d differs from the plain run",
                sch_results_metric_name(plain, m), p);
      sch_summary a, b;
      sch_results_summary_at(sweep, p, m, &a);
      sch_results_summary(plain, m, &b);
      cr_expect(memcmp(&a.mean, &b.mean, sizeof a.mean) == 0);
      cr_expect(memcmp(a.es, b.es, sizeof a.es) == 0);
    }
    sch_results_free(plain);
  }
  sch_results_free(sweep);
  for (int p = 0; p < n; p++) {
    sch_loanbook_free(&books[p]);
    sch_config_free(&cfgs[p]);
  }
}

/* Protocol parameters: one generated path serves every point. */
Test(engine_sweep, points_equal_plain_runs_shared_paths, .timeout = 300) {
  const char *v[] = {"protocol.assets.ETH.liquidation_bonus=0.03",
                     "protocol.assets.ETH.liquidation_bonus=0.05",
                     "protocol.assets.ETH.liquidation_bonus=0.09"};
  expect_point_equals_plain(v, 3);
}

/* A path parameter: each point regenerates its paths from the same streams. */
Test(engine_sweep, points_equal_plain_runs_regenerated_paths, .timeout = 300) {
  const char *v[] = {"assets.ETH.vol=0.6", "assets.ETH.vol=0.9"};
  expect_point_equals_plain(v, 2);
}

/* Common random numbers: neighbouring bonuses move every path together, so
 * the paired standard error of the difference is a small fraction of either
 * point's own standard error (factor >= 3 asked; checked per metric). */
Test(engine_sweep, common_random_numbers_shrink_paired_errors,
     .timeout = 300) {
  sch_config cfgs[2];
  sch_loanbook books[2];
  load(&cfgs[0], &books[0], "protocol.assets.ETH.liquidation_bonus=0.05");
  load(&cfgs[1], &books[1], "protocol.assets.ETH.liquidation_bonus=0.06");
  sch_results *res = run_points(cfgs, books, 2);
  const char *metrics[] = {"bonus_paid", "liquidator_profit", "liquidations"};
  for (int k = 0; k < 3; k++) {
    int m = sch_results_metric_index(res, metrics[k]);
    sch_summary a, b;
    sch_diff d, zero;
    sch_results_summary_at(res, 0, m, &a);
    sch_results_summary_at(res, 1, m, &b);
    sch_results_diff_at(res, 1, m, &d);
    sch_results_diff_at(res, 0, m, &zero);
    cr_expect(d.std_error > 0 && 3 * d.std_error < fmin(a.std_error, b.std_error),
              "%s: paired se %g vs own %g, %g", metrics[k], d.std_error,
              a.std_error, b.std_error);
    /* the paired mean is the difference of the means */
    cr_expect(fabs(d.mean - (b.mean - a.mean)) <= 1e-9 * fabs(b.mean) + 1e-12);
    cr_expect(zero.mean == 0 && zero.std_error == 0);
    /* the batch interval brackets the VaR difference */
    cr_expect(d.var_lo[1] <= d.var[1] && d.var[1] <= d.var_hi[1]);
  }
  sch_results_free(res);
  for (int p = 0; p < 2; p++) {
    sch_loanbook_free(&books[p]);
    sch_config_free(&cfgs[p]);
  }
}

Test(engine_sweep, points_must_share_the_grid) {
  sch_config cfgs[2];
  sch_loanbook books[2];
  load(&cfgs[0], &books[0], NULL);
  load(&cfgs[1], &books[1], "simulation.seed=43");
  const sch_loanbook *bp[2] = {&books[0], &books[1]};
  sch_results *res = NULL;
  sch_error err = {{0}};
  sch_run_options opt = {.threads = 1};
  cr_expect_eq(sch_engine_run_sweep(cfgs, bp, 2, 0, &opt, NULL, &res, &err),
               SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "simulation.seed") != NULL, "%s", err.msg);
  for (int p = 0; p < 2; p++) {
    sch_loanbook_free(&books[p]);
    sch_config_free(&cfgs[p]);
  }
}
