/* Lenders, depositor runs and liquidity flight (docs/model.md "Coordination
 * failure"): a hand-computed run on a replayed crash (order of withdrawals,
 * the step utilisation reaches 100%, stranded deposits, each cohort's
 * loss), liquidity returned by a liquidation, the flight formula and its
 * half-life, monotonicity in the thresholds on common random numbers, the
 * engine unchanged with everything off, the config keys and bad inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cascade_ref.h"
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
  strcpy(dir, "/tmp/schelling-lenders-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[96];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

/* ETH (risky, replayed) and USDC; a deep venue, gas at 30 gwei, insurance
 * 0; `%s` is the rest of the document (liquidators, lenders, flight). */
#define WORLD_HEAD                                                             \
  "simulation: {horizon: 3h, step: 60s, seed: 5,\n"                            \
  "             replay: {file: prices.csv}}\n"                                 \
  "assets:\n"                                                                  \
  "  - {name: ETH, price: 3000, vol: 0.5}\n"                                   \
  "  - {name: USDC, price: 1.0, vol: 0.0}\n"                                   \
  "correlation: [[1, 0], [0, 1]]\n"                                            \
  "venues:\n"                                                                  \
  "  ETH: {model: constant_product, depth: 1e6, fee: 0.003,\n"                 \
  "        market_depth: 1e9, recovery_half_life: 30m}\n"                      \
  "oracles:\n"                                                                 \
  "  ETH: {deviation: 0.005, heartbeat: 1h, delay: 0s}\n"                      \
  "protocol:\n"                                                                \
  "  assets:\n"                                                                \
  "    ETH: {liquidation_threshold: 0.80, liquidation_bonus: 0.05}\n"          \
  "    USDC: {liquidation_threshold: 0.85, liquidation_bonus: 0.04}\n"         \
  "  insurance_fund: 0\n"                                                      \
  "loanbook: {file: book.csv}\n"                                               \
  "%s"

static void load_world(const char *tail, sch_config *cfg, sch_loanbook *book) {
  char text[4096], path[128];
  snprintf(text, sizeof text, WORLD_HEAD, tail);
  write_file("world.yaml", text);
  snprintf(path, sizeof path, "%s/world.yaml", dir);
  sch_error err = {{0}};
  cr_assert_eq(sch_config_load(path, NULL, 0, cfg, &err), SCH_OK, "%s",
               err.msg);
  cr_assert_eq(sch_loanbook_load(cfg, book, &err), SCH_OK, "%s", err.msg);
}

/* Path 0 through the reference cascade, keeping its workspace (the lenders'
 * read-outs); the caller frees *ws and the scenario. */
static void run_reference(const sch_scenario *sc, uint64_t path,
                          double *metrics, sch_cascade_ref_ws **ws) {
  const int64_t row = (sc->paths.n_steps + 1) * sc->paths.n_risky;
  double *x = malloc((size_t)(row + 1) * sizeof(double));
  sch_path_generate(&sc->paths, path, x);
  if (!*ws)
    *ws = sch_cascade_ref_ws_create(&sc->market);
  cr_assert_not_null(*ws);
  sch_cascade_ref_set_path(*ws, path);
  sch_cascade_run_reference(&sc->market, sc->paths.n_risky, x, 1, *ws, metrics,
                            NULL);
  free(x);
}

#define EXPECT_CLOSE(a, b)                                                     \
  cr_expect(fabs((double)(a) - (b)) <= 1e-9 * fmax(1.0, fabs((double)(b))),    \
            "%s = %.12g, want %.12g", #a, (double)(a), (double)(b))

static int xm(int id) {
  return sch_metric_ext(2, id);
}

/* Two accounts: A 10 ETH against 18000 USDC, B 10 ETH against 6000 USDC;
 * borrows 24000 of a supply of 30000: cash 6000 (80% utilisation). */
static const char *two_accounts =
    "account,ETH_collateral,USDC_debt\nA,10,18000\nB,10,6000\n";

/* Liquidators off, noise 0. ETH 3000 -> 1500 at 1 h -> 1200 at 2 h.
 * Recognised loss (oracle prices, insurance 0) / supply 30000:
 *   step 60  (1500): A owes 18000 against 15000: 3000 / 30000 = 0.10
 *   step 120 (1200): 18000 - 12000 = 6000: 0.20; B stays above water.
 * Cohorts (deposits 0.2, 0.3, 0.5 x 30000 = 6000, 9000, 15000):
 *   c0 (thr 0.05, 1/2 per step) and c1 (thr 0.05, all) trigger at step 60;
 *   first come first served in config order: c0 claims 3000 and gets it,
 *   c1 claims 9000 and gets the 3000 left: refused, utilisation 100% at
 *   t = 3600 s. Step 61: c0 claims its other 3000: nothing left.
 *   c2 (thr 0.15) triggers at step 120 and gets nothing.
 * Horizon (market 1200, no sales): uncovered shortfall 6000; withdrawn
 * 6000 / 30000 = 0.2; stranded (6000-3000) + (9000-3000) + 15000 = 24000;
 * still in 24000, so a late lender loses 6000 / 24000 = 0.25 per unit:
 * c0 750, c1 1500, c2 3750 (= 6000), early withdrawals lose nothing. */
Test(lenders, hand_computed_run, .init = make_dir, .fini = remove_dir) {
  write_file("prices.csv", "time,ETH\n0,3000\n1h,1500\n2h,1200\n");
  write_file("book.csv", two_accounts);
  sch_config cfg;
  sch_loanbook book;
  load_world("liquidators: {enabled: false}\n"
             "lenders:\n"
             "  assets: {USDC: {supply: 30000}}\n"
             "  cohorts:\n"
             "    - {share: 0.2, threshold: 0.05, withdraw: 0.5}\n"
             "    - {share: 0.3, threshold: 0.05, withdraw: 1}\n"
             "    - {share: 0.5, threshold: 0.15}\n",
             &cfg, &book);
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK, "%s",
               err.msg);
  cr_expect(sc.market.reference_only);
  double m[SCH_MAX_METRICS];
  sch_cascade_ref_ws *ws = NULL;
  run_reference(&sc, 0, m, &ws);

  cr_expect_eq(ref_lenders_trigger_step(ws, 0), 60);
  cr_expect_eq(ref_lenders_trigger_step(ws, 1), 60);
  cr_expect_eq(ref_lenders_trigger_step(ws, 2), 120);
  double paid[3] = {3000, 3000, 0}, deposit[3] = {6000, 9000, 15000};
  for (int c = 0; c < 3; c++)
    EXPECT_CLOSE(ref_lenders_withdrawn(ws, c, 1), paid[c]);
  EXPECT_CLOSE(m[xm(SCH_XM_TIME_FULL_UTILISATION)], 3600);
  EXPECT_CLOSE(m[SCH_METRIC_UNCOVERED_SHORTFALL], 6000);
  EXPECT_CLOSE(m[xm(SCH_XM_WITHDRAWN_SHARE)], 6000.0 / 30000.0);
  EXPECT_CLOSE(m[xm(SCH_XM_STRANDED_DEPOSITS)],
               (6000 - 3000) + (9000 - 3000) + 15000);
  double late = 6000.0 / 24000.0;
  EXPECT_CLOSE(m[xm(SCH_XM_LOSS_LATE)], late);
  EXPECT_CLOSE(m[xm(SCH_XM_LOSS_EARLY)], 0);
  /* each cohort's loss: what it still has in x the late loss per unit;
   * together they carry the whole uncovered shortfall */
  double want_loss[3] = {750, 1500, 3750}, total = 0;
  for (int c = 0; c < 3; c++) {
    double loss = (deposit[c] - ref_lenders_withdrawn(ws, c, 1)) *
                  m[xm(SCH_XM_LOSS_LATE)];
    EXPECT_CLOSE(loss, want_loss[c]);
    total += loss;
  }
  EXPECT_CLOSE(total, m[SCH_METRIC_UNCOVERED_SHORTFALL]);
  sch_cascade_ref_ws_free(ws);
  sch_scenario_free(&sc);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
}

/* Debt repaid by a liquidation comes back as cash. One cohort holding the
 * whole supply with threshold 0 claims everything at step 1 and gets the
 * idle 6000 (refused: 100% at t = 60 s). ETH 3000 -> 2100 at 1 h: A's HF
 * 0.8 x 21000 / 18000 = 0.933 < 0.95, so its whole 18000 is repaid (test
 * replay.hand_computed_crash); that cash goes to the waiting claim at once
 * (the lenders act after step part 5). B's 6000 is still borrowed: 6000
 * stranded, 24000 / 30000 withdrawn, no loss. */
Test(lenders, repaid_debt_returns_cash, .init = make_dir, .fini = remove_dir) {
  write_file("prices.csv", "time,ETH\n0,3000\n1h,2100\n");
  write_file("book.csv", two_accounts);
  sch_config cfg;
  sch_loanbook book;
  load_world("liquidators: {enabled: true, gas_units: 500000,\n"
             "  gas_price_gwei: 30, gas_beta: 0, gas_price_max_gwei: 1000,\n"
             "  gas_window: 1h, gas_asset: ETH, capital: 1e12}\n"
             "lenders:\n"
             "  assets: {USDC: {utilisation: 0.8}}\n"
             "  cohorts: [{share: 1, threshold: 0}]\n",
             &cfg, &book);
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK, "%s",
               err.msg);
  EXPECT_CLOSE(sc.market.lent_supply[1], 24000 / 0.8);
  double m[SCH_MAX_METRICS];
  sch_cascade_ref_ws *ws = NULL;
  run_reference(&sc, 0, m, &ws);
  EXPECT_CLOSE(m[SCH_METRIC_LIQUIDATED_VALUE], 18000);
  cr_expect_eq(ref_lenders_trigger_step(ws, 0), 1);
  EXPECT_CLOSE(m[xm(SCH_XM_TIME_FULL_UTILISATION)], 60);
  EXPECT_CLOSE(ref_lenders_withdrawn(ws, 0, 1), 6000 + 18000);
  EXPECT_CLOSE(m[xm(SCH_XM_WITHDRAWN_SHARE)], 24000.0 / 30000.0);
  EXPECT_CLOSE(m[xm(SCH_XM_STRANDED_DEPOSITS)], 6000);
  EXPECT_CLOSE(m[xm(SCH_XM_LOSS_LATE)], 0);
  sch_cascade_ref_ws_free(ws);
  sch_scenario_free(&sc);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
}

/* threshold: auto. Cohorts of 0.3 and 0.5 (auto) and 0.1 (0.2 given),
 * exit_cost 0.01. The others' share: phi_0 = 0.5 + 0.1 = 0.6, phi_1 =
 * 0.3 + 0.1 = 0.4. threshold = kappa phi / -ln(1 - phi):
 *   0.01 x 0.6 / 0.916290732 = 0.00654814,  0.01 x 0.4 / 0.510825624 =
 *   0.00783046. At that loss, staying costs exactly exit_cost on average
 * over a uniform share U of the others leaving first: checked by a
 * midpoint rule on E[L / (S (1 - phi U))], independent of the closed form. */
Test(lenders, auto_threshold_from_payoff, .init = make_dir,
     .fini = remove_dir) {
  write_file("prices.csv", "time,ETH\n0,3000\n");
  write_file("book.csv", two_accounts);
  sch_config cfg;
  sch_loanbook book;
  load_world("lenders:\n  exit_cost: 0.01\n"
             "  assets: {USDC: {supply: 30000}}\n"
             "  cohorts:\n"
             "    - {share: 0.3, threshold: auto}\n"
             "    - {share: 0.5, threshold: auto}\n"
             "    - {share: 0.1, threshold: 0.2}\n",
             &cfg, &book);
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK, "%s",
               err.msg);
  const double *thr = sc.market.cohort_threshold;
  cr_expect(fabs(thr[0] - 0.00654814) < 1e-8, "%.9g", thr[0]);
  cr_expect(fabs(thr[1] - 0.00783046) < 1e-8, "%.9g", thr[1]);
  cr_expect_eq(thr[2], 0.2);
  const double phi[2] = {0.6, 0.4};
  for (int c = 0; c < 2; c++) {
    double mean = 0.0;
    enum { N = 100000 };
    for (int i = 0; i < N; i++)
      mean += thr[c] / (1.0 - phi[c] * (i + 0.5) / N) / N;
    cr_expect(fabs(mean - 0.01) < 1e-9, "cohort %d: E[loss] %.12g", c, mean);
  }
  sch_scenario_free(&sc);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
}

/* ---- liquidity flight ---------------------------------------------------- */

/* Steps 1..k of path 0 by hand (no account is ever at risk: no sales), so
 * the depth scale can be read after each step. */
static double scale_after(const char *flight, int64_t steps) {
  write_file("prices.csv", "time,ETH\n0,3000\n60,2400\n120,3000\n");
  write_file("book.csv", "account,ETH_collateral,USDC_debt\nA,10,1000\n");
  sch_config cfg;
  sch_loanbook book;
  load_world(flight, &cfg, &book);
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK, "%s",
               err.msg);
  cr_expect(sc.market.reference_only);
  const int64_t row = (sc.paths.n_steps + 1) * sc.paths.n_risky;
  double *x = malloc((size_t)row * sizeof(double));
  sch_path_generate(&sc.paths, 0, x);
  sch_cascade_ref_ws *ws = sch_cascade_ref_ws_create(&sc.market);
  double m[SCH_MAX_METRICS];
  path_state ps = {.mm = &sc.market,
                   .ws = ws,
                   .x = x,
                   .x_stride = 1,
                   .n_risky = sc.paths.n_risky,
                   .metrics = m,
                   .path = 0};
  ref_path_begin(&ps, NULL);
  for (int64_t k = 1; k <= steps; k++) {
    ref_step_market(&ps, k);
    ref_step_protocol(&ps);
    ref_step_end(&ps, NULL);
  }
  double scale = ps.depth_scale[0];
  cr_expect_eq(ps.depth_scale[1], 1.0); /* USDC: no venue, untouched */
  ref_path_end(&ps);
  sch_cascade_ref_ws_free(ws);
  free(x);
  sch_scenario_free(&sc);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
  return scale;
}

/* ETH 3000 -> 2400 at step 1, back to 3000 from step 2 (no sales, so
 * M = S). With a = 2, b = 0: DD = ln(3000 / 2400), scale = exp(-2 DD) =
 * 0.64 at once; from step 2 the target is 1 again and the scale recovers
 * with a 10-minute half-life: after 10 steps (one half-life after the
 * drop) it is halfway back, (0.64 + 1) / 2 = 0.82. */
Test(lenders, flight_drawdown_and_half_life, .init = make_dir,
     .fini = remove_dir) {
  const char *f = "liquidity_flight: {sensitivity_drawdown: 2, floor: 0.2,\n"
                  "                   half_life: 10m}\n";
  double drop = exp(-2 * log(3000.0 / 2400.0));
  EXPECT_CLOSE(drop, 0.64);
  EXPECT_CLOSE(scale_after(f, 1), drop);
  EXPECT_CLOSE(scale_after(f, 2), 1 - (1 - drop) * exp2(-60.0 / 600.0));
  EXPECT_CLOSE(scale_after(f, 11), (drop + 1) / 2);
  /* a = 20: exp(-20 DD) = 0.0115 is held at the floor */
  EXPECT_CLOSE(scale_after("liquidity_flight: {sensitivity_drawdown: 20,\n"
                           "                   floor: 0.2}\n",
                           1),
               0.2);
}

/* The volatility term: b = 0.01, vol_ref 0, a = 0, a 5-minute window with
 * flat history: after step 1 the window holds one return ln(0.8), so
 * vol = sqrt(ln(0.8)^2 / (5 x 60 s in years)) and scale = exp(-0.01 vol);
 * after step 2 it holds ln(0.8) and ln(1.25): vol' = sqrt(2) vol, and
 * recovery cannot go above the (lower) target. */
Test(lenders, flight_volatility_term, .init = make_dir, .fini = remove_dir) {
  const char *f = "liquidity_flight: {sensitivity_drawdown: 0,\n"
                  "  sensitivity_vol: 0.01, vol_ref: 0, floor: 0.01,\n"
                  "  vol_window: 5m, half_life: 1h}\n";
  double years = 300.0 / (365.0 * 86400.0);
  double vol = sqrt(log(0.8) * log(0.8) / years);
  EXPECT_CLOSE(scale_after(f, 1), exp(-0.01 * vol));
  EXPECT_CLOSE(scale_after(f, 2), exp(-0.01 * sqrt(2.0) * vol));
  /* the ring drops the oldest return after 5 steps: at step 6 the window
   * holds ln(1.25) and four zeros; the target rises, the scale recovers */
  double target6 = exp(-0.01 * vol);
  double s5 = exp(-0.01 * sqrt(2.0) * vol);
  EXPECT_CLOSE(scale_after(f, 6),
               target6 - (target6 - s5) * exp2(-60.0 / 3600.0));
}

/* ---- common random numbers ----------------------------------------------- */

/* configs/bank-run.yaml with its thresholds multiplied by `factor`: the
 * per-path withdrawn share and bad debt of paths 0..n-1. */
static void bank_run_paths(double factor, bool flight, int n, double *withdrawn,
                           double *bad_debt, double *stranded) {
  const char *root = getenv("SCHELLING_SOURCE_ROOT");
  cr_assert(root, "run through meson test");
  char path[1024], o[3][64];
  snprintf(path, sizeof path, "%s/configs/bank-run.yaml", root);
  static const double thresholds[3] = {0.0005, 0.003, 0.01};
  const char *overrides[4];
  for (int c = 0; c < 3; c++) {
    snprintf(o[c], sizeof o[c], "lenders.cohorts.%d.threshold=%.17g", c,
             thresholds[c] * factor);
    overrides[c] = o[c];
  }
  overrides[3] = flight ? "liquidity_flight.enabled=true"
                        : "liquidity_flight.enabled=false";
  sch_config cfg;
  sch_loanbook book;
  sch_error err = {{0}};
  cr_assert_eq(sch_config_load(path, overrides, 4, &cfg, &err), SCH_OK, "%s",
               err.msg);
  for (int c = 0; c < 3; c++)
    EXPECT_CLOSE(cfg.lenders.cohorts[c].threshold, thresholds[c] * factor);
  cr_assert_eq(sch_loanbook_load(&cfg, &book, &err), SCH_OK, "%s", err.msg);
  sch_scenario sc;
  cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK, "%s",
               err.msg);
  sch_cascade_ref_ws *ws = NULL;
  double m[SCH_MAX_METRICS];
  for (int p = 0; p < n; p++) {
    run_reference(&sc, (uint64_t)p, m, &ws);
    withdrawn[p] = m[xm(SCH_XM_WITHDRAWN_SHARE)];
    bad_debt[p] = m[SCH_METRIC_BAD_DEBT];
    stranded[p] = m[xm(SCH_XM_STRANDED_DEPOSITS)];
  }
  sch_cascade_ref_ws_free(ws);
  sch_scenario_free(&sc);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
}

/* A higher threshold never raises the withdrawn share on any path: the
 * signal does not depend on the lenders (they never change a liquidation),
 * so a cohort triggers later or never, its cumulative claim is lower at
 * every step, and total withdrawals are min(total claims, cash the
 * borrowers' repayments have freed), which is monotone in the claims.
 * The protocol's bad debt is the same on every path. (Noise is not
 * monotone on a path: with the same normals, more noise pushes a signal
 * above its threshold as often as below; docs/model.md.) */
Test(lenders, higher_threshold_never_raises_withdrawals) {
  enum { N = 300 };
  static double w1[N], w2[N], w3[N], b1[N], b2[N], b3[N], s1[N], s2[N], s3[N];
  bank_run_paths(0.5, true, N, w1, b1, s1);
  bank_run_paths(1.0, true, N, w2, b2, s2);
  bank_run_paths(2.0, true, N, w3, b3, s3);
  int runs = 0, differ = 0;
  for (int p = 0; p < N; p++) {
    cr_expect(w2[p] <= w1[p], "path %d: %g > %g", p, w2[p], w1[p]);
    cr_expect(w3[p] <= w2[p], "path %d: %g > %g", p, w3[p], w2[p]);
    cr_expect(b1[p] == b2[p] && b2[p] == b3[p], "path %d: bad debt moved", p);
    runs += w1[p] > 0;
    differ += w3[p] < w1[p];
  }
  /* the test must be able to fail: some paths run, and some thresholds
   * bite */
  cr_expect(runs > 0 && differ > 0, "runs %d, differ %d", runs, differ);
}

/* Withdrawn share of paths 0..n-1 of the hand world with one cohort of the
 * whole supply (threshold thr, noise sd, all at once). The price touches
 * 1500 for one step only (step 60): the recognised loss is 3000 / 30000 =
 * 0.1 at that step and 0 at every other. The replay is the same for every
 * path; only the path's lender stream differs. */
static void one_dip_paths(double thr, double sd, int n, double *withdrawn) {
  write_file("prices.csv", "time,ETH\n0,3000\n1h,1500\n3660,3000\n");
  write_file("book.csv", two_accounts);
  char tail[512];
  snprintf(tail, sizeof tail,
           "liquidators: {enabled: false}\n"
           "lenders:\n  assets: {USDC: {supply: 30000}}\n"
           "  cohorts: [{share: 1, threshold: %.17g, noise: %.17g}]\n",
           thr, sd);
  sch_config cfg;
  sch_loanbook book;
  load_world(tail, &cfg, &book);
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&cfg, &book, &sc, &err), SCH_OK, "%s",
               err.msg);
  sch_cascade_ref_ws *ws = NULL;
  double m[SCH_MAX_METRICS];
  for (int p = 0; p < n; p++) {
    run_reference(&sc, (uint64_t)p, m, &ws);
    withdrawn[p] = m[xm(SCH_XM_WITHDRAWN_SHARE)];
  }
  sch_cascade_ref_ws_free(ws);
  sch_scenario_free(&sc);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
}

/* More noise is not monotone path by path (docs/model.md 6c). Threshold
 * 0.099, just under the dip's 0.1: without noise every path withdraws the
 * idle 6000 (0.2); with noise 0.001 a path whose normal at step 60 is below
 * -1 misses the dip and never withdraws (at every other step the signal
 * would need a normal above 99). Threshold 0.101, just over it: without
 * noise nobody leaves; with noise a normal above +1 at step 60 triggers. So
 * on common random numbers noise lowers the withdrawn share on some paths
 * and raises it on others. */
Test(lenders, noise_is_not_monotone, .init = make_dir, .fini = remove_dir) {
  enum { N = 64 };
  double quiet[N], noisy[N];
  int lower = 0, higher = 0;
  one_dip_paths(0.099, 0.0, N, quiet);
  one_dip_paths(0.099, 0.001, N, noisy);
  for (int p = 0; p < N; p++) {
    EXPECT_CLOSE(quiet[p], 0.2);
    cr_expect(noisy[p] == 0.0 || noisy[p] == quiet[p]);
    lower += noisy[p] < quiet[p];
  }
  one_dip_paths(0.101, 0.0, N, quiet);
  one_dip_paths(0.101, 0.001, N, noisy);
  for (int p = 0; p < N; p++) {
    cr_expect_eq(quiet[p], 0.0);
    higher += noisy[p] > quiet[p];
  }
  /* P(z < -1) = P(z > 1) = 0.159: about 10 of 64 paths each way */
  cr_expect(lower > 0 && lower < N, "lower on %d paths", lower);
  cr_expect(higher > 0 && higher < N, "higher on %d paths", higher);
}

/* Liquidity flight does not raise the withdrawn share path by path: it
 * thins the venue, so liquidators repay less (less cash comes back to pay
 * claims) while losses, and so signals, grow. On configs/bank-run.yaml
 * flight lowers the withdrawn share on some paths; the bad debt differs
 * too (flight changes the liquidations), so there is no per-path order to
 * assert in either direction (docs/model.md 6c). */
Test(lenders, flight_can_lower_withdrawals) {
  enum { N = 1500 };
  static double won[N], woff[N], bon[N], boff[N], son[N], soff[N];
  bank_run_paths(1.0, true, N, won, bon, son);
  bank_run_paths(1.0, false, N, woff, boff, soff);
  int lower = 0, moved = 0;
  for (int p = 0; p < N; p++) {
    lower += won[p] < woff[p];
    moved += bon[p] != boff[p];
  }
  cr_expect(lower > 0, "flight lowered the withdrawn share on %d paths", lower);
  cr_expect(moved > 0);
}

/* ---- everything off: the engine unchanged -------------------------------- */

/* The default world with `lenders:` present but no cohorts and flight
 * switched off is the default world: not reference-only, and the same
 * per-path metrics bit for bit through the engine's kernel. */
Test(lenders, off_is_bitwise_the_engine) {
  const char *o[2] = {"lenders={assets: {USDC: {utilisation: 0.5}}}",
                      "liquidity_flight={enabled: false}"};
  sch_config a, b;
  sch_loanbook ba, bb;
  sch_error err = {{0}};
  cr_assert_eq(sch_config_load(NULL, NULL, 0, &a, &err), SCH_OK, "%s", err.msg);
  if (sch_config_load(NULL, o, 2, &b, &err) != SCH_OK)
    cr_assert_fail("%s", err.msg);
  cr_expect(b.lenders.present && b.liquidity_flight.present);
  cr_assert_eq(sch_loanbook_load(&a, &ba, &err), SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_loanbook_load(&b, &bb, &err), SCH_OK, "%s", err.msg);
  sch_scenario sa, sb;
  cr_assert_eq(sch_scenario_build(&a, &ba, &sa, &err), SCH_OK);
  cr_assert_eq(sch_scenario_build(&b, &bb, &sb, &err), SCH_OK);
  cr_expect(!sb.market.reference_only && !sb.market.lenders_on &&
            !sb.market.flight_on);
  const int64_t row = (sa.paths.n_steps + 1) * sa.paths.n_risky;
  double *x = malloc((size_t)row * sizeof(double));
  sch_cascade_ws *wa = sch_cascade_ws_create(&sa.market);
  sch_cascade_ws *wb = sch_cascade_ws_create(&sb.market);
  const int count = sch_metric_count(a.n_assets);
  double ma[SCH_MAX_METRICS], mb[SCH_MAX_METRICS];
  for (uint64_t p = 0; p < 24; p++) {
    sch_path_generate(&sa.paths, p, x);
    sch_cascade_set_path(wa, p);
    sch_cascade_set_path(wb, p);
    sch_cascade_run(&sa.market, sa.paths.n_risky, x, 1, wa, ma, NULL);
    sch_cascade_run(&sb.market, sb.paths.n_risky, x, 1, wb, mb, NULL);
    cr_expect(memcmp(ma, mb, (size_t)count * sizeof(double)) == 0,
              "path %d differs", (int)p);
  }
  sch_cascade_ws_free(wa);
  sch_cascade_ws_free(wb);
  free(x);
  sch_scenario_free(&sa);
  sch_scenario_free(&sb);
  sch_loanbook_free(&ba);
  sch_loanbook_free(&bb);
  sch_config_free(&a);
  sch_config_free(&b);
}

/* ---- configuration ------------------------------------------------------- */

/* A world whose tail is `tail` must fail with a message containing `want`
 * (file:line:column and words). */
static void expect_bad(const char *tail, const char *want) {
  char text[4096], path[128];
  write_file("book.csv", two_accounts);
  snprintf(text, sizeof text, WORLD_HEAD, tail);
  write_file("prices.csv", "time,ETH\n0,3000\n");
  write_file("world.yaml", text);
  snprintf(path, sizeof path, "%s/world.yaml", dir);
  sch_config cfg;
  sch_error err = {{0}};
  sch_status st = sch_config_load(path, NULL, 0, &cfg, &err);
  if (st == SCH_OK) { /* the scenario's checks need the book */
    sch_loanbook book;
    cr_assert_eq(sch_loanbook_load(&cfg, &book, &err), SCH_OK, "%s", err.msg);
    sch_scenario sc;
    st = sch_scenario_build(&cfg, &book, &sc, &err);
    if (st == SCH_OK)
      sch_scenario_free(&sc);
    sch_loanbook_free(&book);
    sch_config_free(&cfg);
  }
  cr_expect_eq(st, SCH_ERR_INPUT, "accepted: %s", tail);
  cr_expect(strstr(err.msg, want) != NULL, "'%s' lacks '%s'", err.msg, want);
}

/* The head is 17 lines; the tail starts on line 18. */
Test(lenders, bad_inputs, .init = make_dir, .fini = remove_dir) {
  expect_bad("lenders: {assets: {USDC: {supply: 1e6}}, colorts: []}\n",
             "world.yaml:18:42: unknown key 'colorts'");
  expect_bad("lenders: {cohorts: []}\n", "world.yaml:18:10: missing key "
                                         "'assets' in lenders");
  expect_bad("lenders: {assets: {USDC: {supply: 1e6, utilisation: 0.5}}}\n",
             "world.yaml:18:26: lenders.assets.USDC needs exactly one of");
  expect_bad("lenders: {assets: {USDC: {utilisation: 1.5}}}\n",
             "world.yaml:18:40:");
  expect_bad("lenders: {assets: {DAI: {supply: 1}}}\n", "world.yaml:18:20:");
  expect_bad("lenders:\n  assets: {USDC: {supply: 1e6}}\n"
             "  cohorts: [{share: 0.7, threshold: 0.1},\n"
             "            {share: 0.7, threshold: 0.1}]\n",
             "world.yaml:20:12: lenders.cohorts: the shares add up to 1.4");
  expect_bad("lenders:\n  assets: {USDC: {supply: 1e6}}\n"
             "  cohorts: [{share: 0.5}]\n",
             "world.yaml:20:13: missing key 'threshold' in lenders.cohorts[0]");
  expect_bad(
      "lenders:\n  assets: {USDC: {supply: 1e6}}\n"
      "  cohorts: [{share: 0.5, threshold: 0.1, withdraw: 0}]\n",
      "world.yaml:20:52: lenders.cohorts[0].withdraw = 0 is out of range");
  expect_bad("lenders:\n  assets: {USDC: {supply: 1e6}}\n"
             "  cohorts: [{share: 0.5, threshold: 0.1, noise: -1}]\n",
             "world.yaml:20:49: lenders.cohorts[0].noise = -1 is out of range");
  /* below the book's borrows (24000): found when the book is known */
  expect_bad("lenders: {assets: {USDC: {supply: 20000}}}\n",
             "lenders.assets.USDC.supply 20000 is below the loan book's "
             "USDC borrows 24000");
  expect_bad("lenders:\n  assets: {USDC: {supply: 1e6}}\n"
             "  cohorts: [{share: 0.5, threshold: soon}]\n",
             "world.yaml:20:37:");
  expect_bad("lenders: {exit_cost: 2, assets: {USDC: {supply: 1e6}}}\n",
             "world.yaml:18:22: lenders.exit_cost = 2 is out of range");
  expect_bad("liquidity_flight: {floor: 0}\n", "world.yaml:18:27:");
  expect_bad("liquidity_flight: {half_life: -1m}\n", "world.yaml:18:31:");
  expect_bad("liquidity_flight: {assets: {USDC: {floor: 0.5}}}\n",
             "world.yaml:18:29: liquidity_flight.assets: USDC is stable");
  expect_bad("liquidity_flight: {assets: {ETH: {enabled: true}}}\n",
             "world.yaml:18:35: unknown key 'enabled'");
}

/* Every key survives the resolved YAML (what /config stores). */
Test(lenders, resolved_round_trip, .init = make_dir, .fini = remove_dir) {
  write_file("prices.csv", "time,ETH\n0,3000\n");
  write_file("book.csv", two_accounts);
  sch_config a, b;
  sch_loanbook book;
  load_world("lenders:\n  run: false\n"
             "  assets: {USDC: {utilisation: 0.85}, ETH: {supply: 12.5}}\n"
             "  cohorts:\n"
             "    - {share: 0.25, threshold: 0.001, noise: 0.0003}\n"
             "    - {share: 0.5, threshold: 0.02, withdraw: 0.1}\n"
             "    - {share: 0.1, threshold: auto}\n"
             "liquidity_flight:\n"
             "  sensitivity_drawdown: 3\n  sensitivity_vol: 0.5\n"
             "  floor: 0.3\n  half_life: 2h\n  vol_window: 30m\n"
             "  assets: {ETH: {vol_ref: 0.9}}\n",
             &a, &book);
  sch_loanbook_free(&book);
  sch_error err = {{0}};
  cr_assert_eq(
      sch_config_parse(a.resolved_yaml, "resolved", dir, NULL, 0, &b, &err),
      SCH_OK, "%s\n%s", err.msg, a.resolved_yaml);
  cr_expect(!b.lenders.run && b.lenders.present);
  cr_expect_eq(b.lenders.utilisation[1], 0.85);
  cr_expect_eq(b.lenders.supply_units[0], 12.5);
  cr_expect_eq(b.lenders.n_cohorts, 3);
  cr_expect(b.lenders.cohorts[2].threshold_auto &&
            !b.lenders.cohorts[1].threshold_auto);
  cr_expect(memcmp(&a.lenders, &b.lenders, sizeof a.lenders) == 0);
  cr_expect(memcmp(&a.liquidity_flight, &b.liquidity_flight,
                   sizeof a.liquidity_flight) == 0);
  const sch_flight_asset *f = &b.liquidity_flight.assets[0];
  cr_expect(b.liquidity_flight.enabled);
  cr_expect_eq(f->sensitivity_drawdown, 3);
  cr_expect_eq(f->sensitivity_vol, 0.5);
  cr_expect_eq(f->vol_ref, 0.9);
  cr_expect_eq(f->floor, 0.3);
  cr_expect_eq(f->half_life_s, 7200);
  cr_expect_eq(f->vol_window_s, 1800);
  sch_config_free(&a);
  sch_config_free(&b);
}
