/* Several protocols on one market (docs/model.md "Several protocols"): a
 * hand-computed contagion through a receipt token on a replayed crash, the
 * isolated market equal bit for bit to each protocol alone, the config
 * desugaring (names, resolved round trip) and its bad inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cascade.h"
#include "paths.h"
#include "scenario.h"
#include "schelling/loanbook.h"

static char dir[64];

static void write_file(const char *name, const char *text) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

static void make_dir(void) {
  strcpy(dir, "/tmp/schelling-contagion-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[96];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

/* ETH 3000 for an hour, then 1000 from step 61 to the 2 h horizon. lendA:
 * one account, 10 ETH against 24000 USDC (HF 0.86 * 30000 / 24000 = 1.075),
 * insurance 4000, deposits 100000. lendB: one account, 1000 aUSDC (lendA's
 * receipt token, LT 0.9, bonus 0.03) against 870 USDC (HF 1.0345). */
static const char *world =
    "simulation: {horizon: 2h, step: 60s, seed: 1,\n"
    "             replay: {file: crash.csv}}\n"
    "assets:\n"
    "  - {name: ETH, price: 3000, vol: 0.5}\n"
    "  - {name: USDC, price: 1.0, vol: 0.0}\n"
    "  - {name: aUSDC, price: 1.0, vol: 0.0, receipt_of: lendA}\n"
    "correlation: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]\n"
    "venues:\n"
    "  ETH: {model: constant_product, depth: 1e9, fee: 0.003,\n"
    "        market_depth: 1e12, recovery_half_life: 30m}\n"
    "oracles:\n"
    "  ETH: {deviation: 0.005, heartbeat: 1h, delay: 0s}\n"
    "liquidators: {enabled: true, gas_units: 500000, gas_price_gwei: 30,\n"
    "              gas_beta: 0, gas_price_max_gwei: 1000, gas_window: 1h,\n"
    "              gas_asset: ETH, max_liquidations_per_step: 50,\n"
    "              capital: 1e12}\n"
    "protocols:\n"
    "  - name: lendA\n"
    "    deposits: 100000\n"
    "    protocol:\n"
    "      assets:\n"
    "        ETH: {liquidation_threshold: 0.86, liquidation_bonus: 0.04}\n"
    "        USDC: {liquidation_threshold: 0.87, liquidation_bonus: 0.04}\n"
    "      insurance_fund: 4000\n"
    "    loanbook: {file: a.csv}\n"
    "  - name: lendB\n"
    "    protocol:\n"
    "      assets:\n"
    "        USDC: {liquidation_threshold: 0.87, liquidation_bonus: 0.04}\n"
    "        aUSDC: {liquidation_threshold: 0.90, liquidation_bonus: 0.03}\n"
    "    loanbook: {file: b.csv}\n";

static void write_world(void) {
  make_dir();
  write_file("crash.csv", "time,ETH\n0,3000\n3660,1000\n");
  write_file("a.csv", "account,ETH_collateral,USDC_debt\na1,10,24000\n");
  write_file("b.csv", "account,aUSDC_collateral,USDC_debt\nb1,1000,870\n");
  write_file("world.yaml", world);
}

static void load(const char *const *o, size_t n, sch_config *cfg,
                 sch_loanbook *book) {
  char path[128];
  snprintf(path, sizeof path, "%s/world.yaml", dir);
  sch_error err = {{0}};
  cr_assert_eq(sch_config_load(path, o, n, cfg, &err), SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_loanbook_load(cfg, book, &err), SCH_OK, "%s", err.msg);
}

/* Path `path` of a built scenario through the engine's kernel call. */
static void run_path(const sch_scenario *sc, int64_t path, double *metrics) {
  const int64_t row = (sc->paths.n_steps + 1) * sc->paths.n_risky;
  double *x = malloc((size_t)(row + 1) * sizeof(double));
  sch_path_generate(&sc->paths, (uint64_t)path, x);
  sch_cascade_ws *ws = sch_cascade_ws_create(&sc->market);
  cr_assert_not_null(ws);
  sch_cascade_set_path(ws, (uint64_t)path);
  sch_cascade_run(&sc->market, sc->paths.n_risky, x, 1, ws, metrics, NULL);
  sch_cascade_ws_free(ws);
  free(x);
}

#define EXPECT_CLOSE(a, b)                                                     \
  cr_expect(fabs((double)(a) - (b)) <= 1e-9 * fmax(1.0, fabs((double)(b))),    \
            "%s = %.12g, want %.12g", #a, (double)(a), (double)(b))

Test(contagion, receipt_token_carries_a_loss, .init = write_world,
     .fini = remove_dir) {
  const char *modes[] = {"contagion.market=shared",
                         "contagion.market=isolated"};
  double a_metrics[2][64];
  for (int mode = 0; mode < 2; mode++) {
    sch_config cfg;
    sch_loanbook book = {0};
    load(&modes[mode], 1, &cfg, &book);
    cr_assert_eq(cfg.n_protocols, 2);
    sch_scenario sc;
    sch_error err = {{0}};
    cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK, "%s",
                 err.msg);
    const int na = 3, count = sch_metric_count(na);
    double m[256];
    run_path(&sc, 0, m);
    const double *a = m, *b = m + count;
    memcpy(a_metrics[mode], a, (size_t)count * sizeof *a);
    /* lendA at step 61: O = 1000, HF 0.344 < 0.95, CF 1; all 10 ETH cover
     * 10 * 1000 / 1.04 of the 24000: the rest is written off. */
    const double bad_a = 24000.0 - 10.0 * 1000.0 / 1.04;
    EXPECT_CLOSE(a[SCH_METRIC_BAD_DEBT], bad_a);
    EXPECT_CLOSE(a[sch_metric_time_first_bad_debt(na)], 61 * 60.0);
    EXPECT_CLOSE(a[SCH_METRIC_UNCOVERED_SHORTFALL], bad_a - 4000.0);
    if (mode == 0) {
      /* aUSDC = 1 - (bad_a - insurance) / deposits; lendB acts after lendA
       * in the same step: HF 0.9 * 1000 s / 870 < 0.95, CF 1, repays all
       * 870 and seizes 870 * 1.03 / s aUSDC, sold at s. */
      const double s = 1.0 - (bad_a - 4000.0) / 100000.0;
      cr_expect(0.9 * 1000.0 * s / 870.0 < 0.95);
      EXPECT_CLOSE(b[SCH_METRIC_LIQUIDATIONS], 1);
      EXPECT_CLOSE(b[SCH_METRIC_LIQUIDATED_VALUE], 870.0);
      EXPECT_CLOSE(b[SCH_METRIC_BONUS_PAID], 870.0 * 0.03);
      EXPECT_CLOSE(b[SCH_METRIC_MIN_PRICE_RATIO + 2], s);
      EXPECT_CLOSE(a[SCH_METRIC_MIN_PRICE_RATIO + 2], s); /* one market */
      EXPECT_CLOSE(b[SCH_METRIC_SLIPPAGE_COST], 0.0);
      EXPECT_CLOSE(b[SCH_METRIC_BAD_DEBT], 0.0);
      /* the totals and the joint indicator */
      EXPECT_CLOSE(m[sch_metric_system(na, 2, SCH_SYS_BAD_DEBT)], bad_a);
      EXPECT_CLOSE(m[sch_metric_joint(na, 2, 0, 1)], 0.0);
    } else {
      /* isolated: the receipt stays at par and lendB is never touched */
      EXPECT_CLOSE(b[SCH_METRIC_LIQUIDATIONS], 0);
      EXPECT_CLOSE(b[SCH_METRIC_MIN_PRICE_RATIO + 2], 1.0);
    }
    sch_scenario_free(&sc);
    sch_loanbook_free(&book);
    sch_config_free(&cfg);
  }
  /* lendB sells only aUSDC (no venue, no impact): lendA is the same in both */
  for (int k = 0; k < sch_metric_count(3); k++)
    cr_expect(k == SCH_METRIC_MIN_PRICE_RATIO + 2 || /* a market price */
                  memcmp(&a_metrics[0][k], &a_metrics[1][k], sizeof(double)) == 0,
              "lendA metric %d: shared %.17g, isolated %.17g", k,
              a_metrics[0][k], a_metrics[1][k]);
}

/* An isolated market: each protocol's metrics equal, bit for bit, its own
 * configuration run alone, on simulated paths of configs/contagion.yaml. */
Test(contagion, isolated_equals_each_alone, .timeout = 300) {
  char path[4096];
  snprintf(path, sizeof path, "%s/configs/contagion.yaml",
           getenv("SCHELLING_SOURCE_ROOT") ? getenv("SCHELLING_SOURCE_ROOT")
                                           : "..");
  const char *o[] = {"contagion.market=isolated", "simulation.horizon=6h",
                     "protocols.lendA.loanbook.generate.accounts=300",
                     "protocols.lendB.loanbook.generate.accounts=300"};
  sch_config cfg;
  sch_loanbook book = {0};
  sch_error err = {{0}};
  cr_assert_eq(sch_config_load(path, o, 4, &cfg, &err), SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_loanbook_load(&cfg, &book, &err), SCH_OK, "%s", err.msg);
  sch_scenario sc;
  cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK, "%s",
               err.msg);
  const int count = sch_metric_count(cfg.n_assets);
  sch_scenario alone[2];
  sch_loanbook books[2] = {{0}};
  for (int p = 0; p < 2; p++) {
    cr_assert_eq(sch_loanbook_load(&cfg.protocol_cfg[p], &books[p], &err),
                 SCH_OK, "%s", err.msg);
    cr_assert_eq(sch_scenario_build(&cfg.protocol_cfg[p], &books[p],
                                    &alone[p], &err),
                 SCH_OK, "%s", err.msg);
  }
  int64_t liquidating[2] = {0, 0};
  for (int64_t i = 0; i < 64; i++) {
    double m[256], one[64];
    run_path(&sc, i, m);
    for (int p = 0; p < 2; p++) {
      run_path(&alone[p], i, one);
      cr_assert(memcmp(m + p * count, one, (size_t)count * sizeof *one) == 0,
                "path %lld protocol %d differs from its run alone",
                (long long)i, p);
      liquidating[p] += one[SCH_METRIC_LIQUIDATIONS] > 0;
    }
  }
  cr_expect(liquidating[0] > 0 && liquidating[1] > 0,
            "a protocol never liquidates: the comparison is idle");
  for (int p = 0; p < 2; p++) {
    sch_scenario_free(&alone[p]);
    sch_loanbook_free(&books[p]);
  }
  sch_scenario_free(&sc);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
}

/* The resolved text of a several-protocol config parses to the same
 * configurations; per-protocol overrides reach their protocol only. */
Test(contagion, resolved_round_trip_and_overrides, .init = write_world,
     .fini = remove_dir) {
  const char *o[] = {"protocols.lendB.protocol.close_factor=0.25"};
  sch_config cfg, again;
  sch_loanbook book = {0};
  load(o, 1, &cfg, &book);
  cr_expect_eq(cfg.protocol_cfg[1].protocol.close_factor, 0.25);
  cr_expect_eq(cfg.protocol_cfg[0].protocol.close_factor, 0.5);
  cr_expect_str_eq(cfg.protocol_names[1], "lendB");
  cr_expect_eq(cfg.assets[2].receipt_of, 0);
  cr_expect_eq(cfg.protocol_cfg[0].deposits, 100000.0);
  sch_error err = {{0}};
  cr_assert_eq(sch_config_parse(cfg.resolved_yaml, "resolved", dir, NULL, 0,
                                &again, &err),
               SCH_OK, "%s\n%s", err.msg, cfg.resolved_yaml);
  cr_expect_str_eq(again.resolved_yaml, cfg.resolved_yaml);
  for (int p = 0; p < 2; p++)
    cr_expect_str_eq(again.protocol_cfg[p].resolved_yaml,
                     cfg.protocol_cfg[p].resolved_yaml);
  sch_config_free(&again);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
}

static void expect_error(const char *set, const char *want) {
  sch_config cfg;
  char path[128];
  snprintf(path, sizeof path, "%s/world.yaml", dir);
  sch_error err = {{0}};
  const char *o[] = {set};
  cr_expect_eq(sch_config_load(path, o, 1, &cfg, &err), SCH_ERR_INPUT,
               "--set %s accepted", set);
  cr_expect(strstr(err.msg, want) != NULL, "--set %s: '%s' lacks '%s'", set,
            err.msg, want);
}

Test(contagion, bad_inputs, .init = write_world, .fini = remove_dir) {
  expect_error("protocols.lendB.name=lendA", "used twice");
  expect_error("protocols.lendB.name=a b", "short name");
  expect_error("protocols.lendA.deposits=-1", "deposits");
  expect_error("protocols.lendA.deposits=0", "needs deposits > 0");
  expect_error("protocols.lendA.venues={}", "venues");
  expect_error("assets.aUSDC.receipt_of=lendC", "must name one of the");
  write_file("crash.csv", "time,ETH,aUSDC\n0,3000,1\n");
  {
    const char *o[] = {"assets.aUSDC.vol=0.2",
                       "venues.aUSDC={model: constant_product, depth: 1e6, "
                       "fee: 0.003, market_depth: 1e9, "
                       "recovery_half_life: 30m}",
                       "oracles.aUSDC={deviation: 0.005, heartbeat: 1h}"};
    sch_config cfg;
    sch_error err = {{0}};
    char path[128];
    snprintf(path, sizeof path, "%s/world.yaml", dir);
    cr_expect_eq(sch_config_load(path, o, 3, &cfg, &err), SCH_ERR_INPUT);
    cr_expect(strstr(err.msg, "must be stable") != NULL, "%s", err.msg);
  }
  write_file("crash.csv", "time,ETH\n0,3000\n3660,1000\n");
  expect_error("contagion.market=partial", "shared or isolated");
  expect_error("protocols=[]", "list of 1 to 8");
  /* an error inside an entry's section points at the entry's line */
  FILE *f;
  char path[128];
  snprintf(path, sizeof path, "%s/world.yaml", dir);
  f = fopen(path, "w");
  cr_assert_not_null(f);
  char *bad = strdup(world);
  char *at = strstr(bad, "insurance_fund: 4000");
  memcpy(at, "insurance_fund: -400", 20);
  fputs(bad, f);
  fclose(f);
  free(bad);
  sch_config cfg;
  sch_error err = {{0}};
  cr_expect_eq(sch_config_load(path, NULL, 0, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "world.yaml:24:") != NULL, "%s", err.msg);
}

/* One venue: lendB's liquidation in the same step sells into the pool lendA
 * just sold into. Constant product 1e6 deep at 1000 (x = 1000 ETH, y = 1e6
 * USD, fee 0.3%); lendA sells its 10 ETH first, then lendB its 5. */
static double cp(double x, double y, double q) {
  double q_in = q * (1 - 0.003);
  return y * q_in / (x + q_in);
}

static void write_venue_world(void) {
  write_world();
  write_file("b.csv", "account,ETH_collateral,USDC_debt\nb1,5,12000\n");
  write_file("crash.csv", "time,ETH\n0,3000\n3660,1000\n");
}

Test(contagion, shared_venue_orders_the_sales, .init = write_venue_world,
     .fini = remove_dir) {
  const double L = 1e12, gas = 5e5 * 30e-9 * 1000.0;
  const double out_a = cp(1000, 1e6, 10);
  const double out_b_alone = cp(1000, 1e6, 5);
  const double out_b_after = cp(1010, 1e6 - out_a, 5);
  /* lendA's sale of value 10 * 1000 moved the market price by exp(-V/L) */
  const double m_b = 1000.0 * exp(-10.0 * 1000.0 / L);
  const char *modes[][5] = {
      {"contagion.market=shared", "venues.ETH.depth=1e6",
       "protocols.lendB.protocol.assets={ETH: {liquidation_threshold: 0.86, "
       "liquidation_bonus: 0.04}, USDC: {liquidation_threshold: 0.87, "
       "liquidation_bonus: 0.04}}",
       "assets=[{name: ETH, price: 3000, vol: 0.5}, {name: USDC, price: 1, "
       "vol: 0}]",
       "correlation=[[1, 0], [0, 1]]"},
      {"contagion.market=isolated", "venues.ETH.depth=1e6",
       "protocols.lendB.protocol.assets={ETH: {liquidation_threshold: 0.86, "
       "liquidation_bonus: 0.04}, USDC: {liquidation_threshold: 0.87, "
       "liquidation_bonus: 0.04}}",
       "assets=[{name: ETH, price: 3000, vol: 0.5}, {name: USDC, price: 1, "
       "vol: 0}]",
       "correlation=[[1, 0], [0, 1]]"}};
  for (int mode = 0; mode < 2; mode++) {
    sch_config cfg;
    sch_loanbook book = {0};
    load(modes[mode], 5, &cfg, &book);
    sch_scenario sc;
    sch_error err = {{0}};
    cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK, "%s",
                 err.msg);
    const int count = sch_metric_count(2);
    double m[256];
    run_path(&sc, 0, m);
    const double *a = m, *b = m + count;
    EXPECT_CLOSE(a[SCH_METRIC_SLIPPAGE_COST], 10 * 1000.0 - out_a);
    EXPECT_CLOSE(a[SCH_METRIC_LIQUIDATOR_PROFIT],
                 out_a - 10 * 1000.0 / 1.04 - gas);
    EXPECT_CLOSE(b[SCH_METRIC_LIQUIDATIONS], 1);
    if (mode == 0) {
      EXPECT_CLOSE(b[SCH_METRIC_SLIPPAGE_COST], 5 * m_b - out_b_after);
      EXPECT_CLOSE(b[SCH_METRIC_LIQUIDATOR_PROFIT],
                   out_b_after - 5 * 1000.0 / 1.04 - gas);
    } else {
      EXPECT_CLOSE(b[SCH_METRIC_SLIPPAGE_COST], 5 * 1000.0 - out_b_alone);
      EXPECT_CLOSE(b[SCH_METRIC_LIQUIDATOR_PROFIT],
                   out_b_alone - 5 * 1000.0 / 1.04 - gas);
    }
    EXPECT_CLOSE(b[SCH_METRIC_BAD_DEBT], 12000 - 5 * 1000.0 / 1.04);
    sch_scenario_free(&sc);
    sch_loanbook_free(&book);
    sch_config_free(&cfg);
  }
}
