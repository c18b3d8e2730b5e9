/* The optimised cascade against its scalar reference, bit for bit, on
 * thousands of paths of the default world and of variants that exercise
 * every branch (oracle delay, heartbeats, per-step capacity, capital without
 * flash loans, power venues, thin markets, Student-t, no liquidators). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cascade.h"
#include "paths.h"
#include "scenario.h"
#include "schelling/loanbook.h"

static void compare_world(const char *const *overrides, size_t n_overrides,
                          int64_t paths, double *quiet_share) {
  sch_config cfg;
  sch_loanbook book = {0};
  sch_error err = {{0}};
  cr_assert_eq(sch_config_parse(sch_default_config_yaml, "<default>", ".",
                                overrides, n_overrides, &cfg, &err),
               SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_loanbook_load(&cfg, &book, &err), SCH_OK, "%s", err.msg);
  sch_scenario sc;
  cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK);
  sch_path_ws *pw = sch_path_ws_create(&sc.paths);
  sch_cascade_ws *fast = sch_cascade_ws_create(&sc.market);
  sch_cascade_ref_ws *ref = sch_cascade_ref_ws_create(&sc.market);
  const int nm = sch_metric_count(cfg.n_assets);
  const int64_t row = (sc.paths.n_steps + 1) * sc.paths.n_risky;
  double *x = malloc((size_t)row * SCH_LANES * sizeof(double));
  double a[64], b[64], screened[SCH_LANES * 64];
  uint8_t quiet[SCH_LANES];
  int64_t liquidating = 0, n_quiet = 0;
  for (int64_t first = 0; first < paths; first += SCH_LANES) {
    sch_path_generate_block(&sc.paths, (uint64_t)first, pw, x);
    n_quiet += sch_cascade_screen(&sc.market, sc.paths.n_risky, x, SCH_LANES,
                                  fast, quiet, screened);
    for (int l = 0; l < SCH_LANES; l++) {
      sch_cascade_run(&sc.market, sc.paths.n_risky, x + l, SCH_LANES, fast, a,
                      NULL);
      sch_cascade_run_reference(&sc.market, sc.paths.n_risky, x + l,
                                SCH_LANES, ref, b, NULL);
      for (int m = 0; m < nm; m++)
        cr_assert(memcmp(&a[m], &b[m], sizeof a[m]) == 0,
                  "path %lld metric %d: %.17g vs reference %.17g",
                  (long long)(first + l), m, a[m], b[m]);
      liquidating += a[SCH_METRIC_LIQUIDATIONS] > 0;
      /* screening is sound: a quiet lane's metrics are the reference's */
      for (int m = 0; quiet[l] && m < nm; m++)
        cr_assert(memcmp(&screened[l * nm + m], &b[m], sizeof b[m]) == 0,
                  "quiet path %lld metric %d: %.17g vs reference %.17g",
                  (long long)(first + l), m, screened[l * nm + m], b[m]);
    }
  }
  cr_log_info("%lld of %lld paths screened quiet", (long long)n_quiet,
              (long long)paths);
  *quiet_share = (double)n_quiet / (double)paths;
  if (cfg.liquidators.enabled)
    cr_expect(liquidating > 0, "no path liquidates: the comparison is idle");
  free(x);
  sch_cascade_ws_free(fast);
  sch_cascade_ref_ws_free(ref);
  sch_path_ws_free(pw);
  sch_scenario_free(&sc);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
}

static double quiet_share;

#define COMPARE(paths, ...)                                                    \
  do {                                                                         \
    const char *const o[] = {__VA_ARGS__};                                     \
    compare_world(o, sizeof o / sizeof *o, paths, &quiet_share);               \
  } while (0)

Test(cascade, default_world, .timeout = 300) {
  COMPARE(1024, "loanbook.generate.accounts=3000");
}

Test(cascade, delays_heartbeats_capacity_capital, .timeout = 300) {
  COMPARE(512, "loanbook.generate.accounts=3000", "oracles.ETH.delay=3m",
          "oracles.WBTC.delay=90s", "oracles.wstETH.heartbeat=10m",
          "liquidators.max_liquidations_per_step=3",
          "liquidators.flash_loans=false", "liquidators.capital=2e6",
          "liquidators.max_rounds_per_step=2");
}

Test(cascade, thin_power_venues_student_t, .timeout = 300) {
  COMPARE(512, "loanbook.generate.accounts=3000",
          "venues.ETH={model: power, depth: 3e7, eta: 0.8, alpha: 1.3, "
          "market_depth: 2e8, recovery_half_life: 10m}",
          "venues.wstETH.market_depth=1e8", "simulation.returns=student_t",
          "simulation.dof=4", "liquidators.gas_beta=20",
          "liquidators.min_profit=100");
}

Test(cascade, liquidators_off, .timeout = 300) {
  COMPARE(256, "loanbook.generate.accounts=3000", "liquidators.enabled=false");
}

/* A calmer book: most paths are screened out, and those must still be exact
 * (the soundness of the screen is checked path by path above). */
Test(cascade, screening_sound_on_a_calm_book, .timeout = 300) {
  COMPARE(2048, "loanbook.generate.accounts=3000",
          "loanbook.generate.health={min: 1.06, median: 1.35, max: 3, "
          "sigma: 0.9}");
  cr_expect(quiet_share > 0.2 && quiet_share < 0.95,
            "%.2f of paths screened quiet: want both kinds", quiet_share);
}

Test(cascade, screening_sound_with_delays_and_student_t, .timeout = 300) {
  COMPARE(1024, "loanbook.generate.accounts=2000",
          "loanbook.generate.health={min: 1.08, median: 1.5, max: 3, "
          "sigma: 0.5}",
          "oracles.ETH.delay=5m", "oracles.WBTC.heartbeat=7m",
          "simulation.returns=student_t", "simulation.dof=3");
  cr_expect(quiet_share > 0.2 && quiet_share < 0.99,
            "%.2f of paths screened quiet: want both kinds", quiet_share);
}

/* A model with a later mechanism on defers to the reference cascade and is
 * never screened: a breaker, a run or a falling threshold can act on a path
 * whose prices threaten no account at the initial thresholds. */
Test(cascade, reference_only_is_never_screened, .timeout = 300) {
  sch_config cfg;
  sch_loanbook book = {0};
  sch_error err = {{0}};
  const char *o[] = {"loanbook.generate.accounts=2000",
                     "loanbook.generate.health={min: 1.08, median: 1.5, "
                     "max: 3, sigma: 0.5}"};
  cr_assert_eq(sch_config_parse(sch_default_config_yaml, "<default>", ".", o,
                                2, &cfg, &err),
               SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_loanbook_load(&cfg, &book, &err), SCH_OK, "%s", err.msg);
  sch_scenario sc;
  cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK);
  sch_path_ws *pw = sch_path_ws_create(&sc.paths);
  sch_cascade_ws *plain = sch_cascade_ws_create(&sc.market);
  sch_market_model deferred = sc.market;
  deferred.reference_only = true;
  sch_cascade_ws *fast = sch_cascade_ws_create(&deferred);
  sch_cascade_ref_ws *ref = sch_cascade_ref_ws_create(&deferred);
  const int nm = sch_metric_count(cfg.n_assets);
  const int64_t row = (sc.paths.n_steps + 1) * sc.paths.n_risky;
  double *x = malloc((size_t)row * SCH_LANES * sizeof(double));
  double a[64], b[64], screened[SCH_LANES * 64];
  uint8_t quiet[SCH_LANES];
  int64_t plain_quiet = 0;
  for (int64_t first = 0; first < 256; first += SCH_LANES) {
    sch_path_generate_block(&sc.paths, (uint64_t)first, pw, x);
    plain_quiet += sch_cascade_screen(&sc.market, sc.paths.n_risky, x,
                                      SCH_LANES, plain, quiet, screened);
    memset(quiet, 7, sizeof quiet);
    cr_assert_eq(sch_cascade_screen(&deferred, sc.paths.n_risky, x, SCH_LANES,
                                    fast, quiet, screened),
                 0);
    for (int l = 0; l < SCH_LANES; l++) {
      cr_assert_eq(quiet[l], 0);
      sch_cascade_set_path(fast, (uint64_t)(first + l));
      sch_cascade_run(&deferred, sc.paths.n_risky, x + l, SCH_LANES, fast, a,
                      NULL);
      sch_cascade_ref_set_path(ref, (uint64_t)(first + l));
      sch_cascade_run_reference(&deferred, sc.paths.n_risky, x + l, SCH_LANES,
                                ref, b, NULL);
      cr_assert(memcmp(a, b, (size_t)nm * sizeof a[0]) == 0, "path %lld",
                (long long)(first + l));
    }
  }
  /* the same paths do have quiet lanes without the flag */
  cr_expect(plain_quiet > 0, "no quiet lane: the check is idle");
  free(x);
  sch_cascade_ws_free(fast);
  sch_cascade_ws_free(plain);
  sch_cascade_ref_ws_free(ref);
  sch_path_ws_free(pw);
  sch_scenario_free(&sc);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
}
