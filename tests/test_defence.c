/* Protocol defences (docs/model.md "Circuit breaker", "Volatility bands"):
 * hand-computed trips, pauses and threshold steps on replayed or scripted
 * price paths (ETH collateral, USDC debt), the soundness of the candidate
 * bound when thresholds fall, bit-for-bit neutrality when nothing fires,
 * and the config sections with their bad inputs. Every expected step and
 * number is derived here from the formulas, not read from the program. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cascade_ref.h"
#include "paths.h"
#include "scenario.h"

#define ETH 0
#define USDC 1
#define MAX_STEPS 240
#define MAX_ACCOUNTS 64
#define DT 60.0
#define SECONDS_PER_YEAR (365.0 * 86400.0)

typedef struct world {
  sch_config cfg;
  sch_loanbook book;
  double collateral[MAX_ACCOUNTS * 2], debt[MAX_ACCOUNTS * 2];
  double x[MAX_STEPS + 1]; /* ln ETH price per step */
  double metrics[64];
  /* after each step k: */
  double liquidations_at[MAX_STEPS + 1];
  double pauses_at[MAX_STEPS + 1];
  bool paused_all_at[MAX_STEPS + 1];
  double lt_at[MAX_STEPS + 1];
} world;

/* ETH (2000, LT 0.8, bonus 5%) and USDC (stable); constant product 1e6
 * deep, fee 0.3%, market depth 1e15 (no impact to speak of); oracle
 * deviation 0.5%, heartbeat 1h, no delay; gas 500k at 30 gwei, beta 0. */
static void base_world(world *w, int steps) {
  memset(w, 0, sizeof *w);
  sch_config *c = &w->cfg;
  strcpy(c->source, "test");
  c->simulation = (sch_simulation_spec){.paths = 1,
                                        .horizon_s = DT * steps,
                                        .step_s = DT,
                                        .steps = steps,
                                        .seed = 1};
  c->n_assets = 2;
  c->assets[ETH] = (sch_asset_spec){
      .name = "ETH", .price = 2000, .vol = 0.5, .jump_beta = 1};
  c->assets[USDC] =
      (sch_asset_spec){.name = "USDC", .price = 1, .stable = true};
  c->correlation[0][0] = c->correlation[1][1] = 1.0;
  c->venues[ETH] = (sch_venue_spec){.model = SCH_VENUE_CONSTANT_PRODUCT,
                                    .depth = 1e6,
                                    .fee = 0.003,
                                    .market_depth = 1e15,
                                    .recovery_half_life_s = 1800};
  c->oracles[ETH] = (sch_oracle_spec){0.005, 3600, 0};
  c->protocol.assets[ETH] = (sch_protocol_asset){true, 0.80, 0.05};
  c->protocol.assets[USDC] = (sch_protocol_asset){true, 0.85, 0.04};
  c->protocol.close_factor = 0.5;
  c->protocol.full_close_below_hf = 0.95;
  c->protocol.volatility_window_s = 3600;
  c->liquidators = (sch_liquidator_spec){.enabled = true,
                                         .gas_units = 5e5,
                                         .gas_price_gwei = 30,
                                         .gas_beta = 0,
                                         .gas_price_max_gwei = 1000,
                                         .gas_window_s = 3600,
                                         .gas_asset = ETH,
                                         .max_liquidations_per_step = 50,
                                         .max_rounds_per_step = 8,
                                         .capital = 1e12,
                                         .flash_loans = true,
                                         .min_profit = 0};
  w->book = (sch_loanbook){.n_accounts = 0,
                           .n_assets = 2,
                           .collateral = w->collateral,
                           .debt = w->debt};
  for (int k = 0; k <= steps; k++)
    w->x[k] = log(2000.0);
}

static void add_account(world *w, double eth, double usdc_debt) {
  int a = (int)w->book.n_accounts++;
  w->collateral[a * 2 + ETH] = eth;
  w->debt[a * 2 + USDC] = usdc_debt;
}

/* X 10%, window 1h, cooldown 2h, on ETH, scope liquidations. */
static void breaker_on(world *w) {
  w->cfg.circuit_breaker =
      (sch_circuit_breaker_spec){.present = true,
                                 .enabled = true,
                                 .move = 0.1,
                                 .window_s = 3600,
                                 .cooldown_s = 7200,
                                 .scope = SCH_BREAKER_LIQUIDATIONS,
                                 .asset_mask = 1u << ETH};
}

/* A replay file under /tmp: ETH at 2000, then `price` from `at` on. */
static void replay_step(world *w, char path[64], const char *at, double price) {
  char text[128];
  snprintf(text, sizeof text, "time,ETH\n0,2000\n%s,%.17g\n", at, price);
  strcpy(path, "/tmp/schelling-defence-XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  size_t n = strlen(text);
  cr_assert_eq(write(fd, text, n), (ssize_t)n);
  close(fd);
  strcpy(w->cfg.simulation.replay_file, path);
}

/* Path 0, step by step through the reference cascade's phases, recording
 * what the defences did after each step. With a replay file the path
 * comes from it (sch_path_generate), else from w->x. */
static void run(world *w) {
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&w->cfg, &w->book, &sc, &err), SCH_OK, "%s",
               err.msg);
  if (w->cfg.simulation.replay_file[0])
    sch_path_generate(&sc.paths, 0, w->x);
  const sch_market_model *mm = &sc.market;
  sch_cascade_ref_ws *ws = sch_cascade_ref_ws_create(mm);
  cr_assert_not_null(ws);
  sch_cascade_ref_set_path(ws, 0);
  path_state ps = {.mm = mm,
                   .ws = ws,
                   .x = w->x,
                   .x_stride = 1,
                   .n_risky = 1,
                   .metrics = w->metrics,
                   .path = 0};
  const int pauses = sch_metric_ext(2, SCH_XM_BREAKER_PAUSES);
  ref_path_begin(&ps, NULL);
  w->lt_at[0] = ps.lt[ETH];
  for (int64_t k = 1; k <= mm->n_steps; k++) {
    ref_step_market(&ps, k);
    ref_step_protocol(&ps);
    ref_step_end(&ps, NULL);
    w->liquidations_at[k] = w->metrics[SCH_METRIC_LIQUIDATIONS];
    w->pauses_at[k] = w->metrics[pauses];
    w->paused_all_at[k] = ps.paused_all;
    w->lt_at[k] = ps.lt[ETH];
  }
  ref_path_end(&ps);
  sch_cascade_ref_ws_free(ws);
  sch_scenario_free(&sc);
}

/* The first step with a liquidation, -1 if none. */
static int first_liquidation(const world *w) {
  for (int k = 1; k <= w->cfg.simulation.steps; k++)
    if (w->liquidations_at[k] > 0)
      return k;
  return -1;
}

static double ext(const world *w, int id) {
  return w->metrics[sch_metric_ext(2, id)];
}

/* ---------------------------------------------------------- the breaker */

/* ETH 2000 -> 1760 (-12%) at 30 min; 10 ETH against 15000 USDC has HF
 * 0.8 x 17600 / 15000 = 0.9387 then. Without the breaker it is liquidated
 * at step 30. With X = 10%: 1760 <= (1 - 0.1) x 2000 = 1800 trips the
 * breaker at step 30, which pauses steps 30 .. 30 + 7200/60 - 1 = 149; at
 * step 150 the window [90, 150] holds only 1760 (1760 > 0.9 x 1760), so
 * liquidations resume and the same liquidation happens then. */
Test(defence, breaker_trips_on_12_percent_and_shifts_liquidation) {
  static world base, with;
  char csv[64];
  base_world(&base, 200);
  add_account(&base, 10, 15000);
  replay_step(&base, csv, "30m", 1760);
  with = base;
  breaker_on(&with);
  run(&base);
  run(&with);
  unlink(csv);
  cr_expect_eq(with.x[29], log(2000.0));
  cr_expect_eq(with.x[30], log(1760.0));
  cr_expect_eq(first_liquidation(&base), 30);
  cr_expect_eq(ext(&base, SCH_XM_BREAKER_PAUSES), 0);
  cr_expect_eq(with.pauses_at[29], 0);
  cr_expect_eq(with.pauses_at[30], 1);
  cr_expect_eq(first_liquidation(&with), 150);
  cr_expect_eq(with.liquidations_at[149], 0);
  cr_expect_eq(ext(&with, SCH_XM_BREAKER_PAUSES), 1);
  /* HF 0.9387 < 0.95: the whole 15000 repaid, once, in both runs */
  cr_expect_eq(base.metrics[SCH_METRIC_LIQUIDATIONS], 1);
  cr_expect_eq(with.metrics[SCH_METRIC_LIQUIDATIONS], 1);
  cr_expect_eq(base.metrics[SCH_METRIC_LIQUIDATED_VALUE], 15000);
  cr_expect_eq(with.metrics[SCH_METRIC_LIQUIDATED_VALUE], 15000);
  /* scope liquidations: lenders are never paused */
  for (int k = 1; k <= 200; k++)
    cr_expect(!with.paused_all_at[k], "paused_all at step %d", k);
}

/* -8%: 1840 > 1800 and no rise, so no trip; HF 0.8 x 18400 / 15000 =
 * 0.9813 < 1 is liquidated at step 30 as without the breaker. */
Test(defence, breaker_ignores_8_percent) {
  static world w;
  char csv[64];
  base_world(&w, 100);
  add_account(&w, 10, 15000);
  replay_step(&w, csv, "30m", 1840);
  breaker_on(&w);
  run(&w);
  unlink(csv);
  cr_expect_eq(ext(&w, SCH_XM_BREAKER_PAUSES), 0);
  cr_expect_eq(first_liquidation(&w), 30);
}

/* A rise counts too: 2000 -> 2220 is +11% >= 10% from the window's low. */
Test(defence, breaker_trips_on_a_rise) {
  static world w;
  base_world(&w, 100);
  breaker_on(&w);
  for (int k = 30; k <= 100; k++)
    w.x[k] = log(2220.0);
  run(&w);
  cr_expect_eq(w.pauses_at[29], 0);
  cr_expect_eq(w.pauses_at[30], 1);
  cr_expect_eq(ext(&w, SCH_XM_BREAKER_PAUSES), 1);
  /* +9% does not */
  base_world(&w, 100);
  breaker_on(&w);
  for (int k = 30; k <= 100; k++)
    w.x[k] = log(2180.0);
  run(&w);
  cr_expect_eq(ext(&w, SCH_XM_BREAKER_PAUSES), 0);
}

/* Cooldown 30 min < window 1h: the pause of steps 30..59 expires at step
 * 60 while the window [0, 60] still holds 2000 (1760 <= 1800), so it
 * re-trips at once (pause 2, steps 60..89); at step 90 the window [30, 90]
 * holds only 1760 and liquidations resume. */
Test(defence, breaker_retrips_while_the_move_is_in_the_window) {
  static world w;
  base_world(&w, 120);
  add_account(&w, 10, 15000);
  breaker_on(&w);
  w.cfg.circuit_breaker.cooldown_s = 1800;
  for (int k = 30; k <= 120; k++)
    w.x[k] = log(1760.0);
  run(&w);
  cr_expect_eq(w.pauses_at[59], 1);
  cr_expect_eq(w.pauses_at[60], 2);
  cr_expect_eq(ext(&w, SCH_XM_BREAKER_PAUSES), 2);
  cr_expect_eq(first_liquidation(&w), 90);
}

/* Scope all: paused_all holds exactly over the pause, steps 30..149. */
Test(defence, breaker_scope_all_pauses_lenders) {
  static world w;
  base_world(&w, 200);
  add_account(&w, 10, 15000);
  breaker_on(&w);
  w.cfg.circuit_breaker.scope = SCH_BREAKER_ALL;
  for (int k = 30; k <= 200; k++)
    w.x[k] = log(1760.0);
  run(&w);
  for (int k = 1; k <= 200; k++)
    cr_expect_eq(w.paused_all_at[k], k >= 30 && k < 150, "step %d", k);
  cr_expect_eq(first_liquidation(&w), 150);
}

/* Only the watched assets count: a breaker watching nothing that moves
 * (asset_mask of ETH cleared: no asset) is off in the model. */
Test(defence, breaker_off_is_not_reference_only) {
  static world w;
  base_world(&w, 10);
  sch_scenario sc;
  sch_error err = {{0}};
  w.cfg.circuit_breaker = (sch_circuit_breaker_spec){.present = true,
                                                     .enabled = false,
                                                     .move = 0.1,
                                                     .window_s = 3600,
                                                     .cooldown_s = 7200,
                                                     .asset_mask = 1u << ETH};
  cr_assert_eq(sch_scenario_build(&w.cfg, &w.book, &sc, &err), SCH_OK);
  cr_expect(!sc.market.reference_only);
  cr_expect(!sc.market.breaker_on);
  sch_scenario_free(&sc);
  breaker_on(&w);
  cr_assert_eq(sch_scenario_build(&w.cfg, &w.book, &sc, &err), SCH_OK);
  cr_expect(sc.market.reference_only);
  cr_expect_eq(sc.market.breaker_window_steps, 60);
  cr_expect_eq(sc.market.breaker_cooldown_steps, 120);
  sch_scenario_free(&sc);
}

/* ------------------------------------------------------ volatility bands */

/* Log returns +r, -r, +r, ... from step 1 with r = 2.2 sqrt(dt): a full
 * 1h window (W = 60 returns) has realised vol sqrt(W r^2 / (W dt)) = 2.2;
 * with k returns so far (flat before t = 0) it is 2.2 sqrt(k / W). Bands
 * above 1.0 -> LT 0.75, above 1.5 -> LT 0.70 are crossed at the first k
 * with 2.2 sqrt(k / 60) > above: k = floor(60 (above / 2.2)^2) + 1. The
 * moves (0.28%) stay inside the oracle's 0.5% band and the heartbeats at
 * steps 60, 120 fall on even steps (M = 2000): O stays 2000. */
static void alternating_path(world *w, int steps) {
  double r = 2.2 * sqrt(DT / SECONDS_PER_YEAR);
  for (int k = 1; k <= steps; k++)
    w->x[k] = log(2000.0) + (k % 2 ? r : 0.0);
}

static void two_bands(world *w) {
  w->cfg.protocol.n_volatility_bands[ETH] = 2;
  w->cfg.protocol.volatility_bands[ETH][0] = (sch_volatility_band){1.0, 0.75};
  w->cfg.protocol.volatility_bands[ETH][1] = (sch_volatility_band){1.5, 0.70};
}

static int crossing_step(double above) {
  return (int)floor(60 * (above / 2.2) * (above / 2.2)) + 1;
}

/* 10 ETH against 15500 USDC: HF 0.8 x 20000 / 15500 = 1.032 at LT 0.8,
 * 0.75 x 20000 / 15500 = 0.968 at 0.75: liquidatable exactly when the
 * first band is crossed. 10 ETH against 14500: 1.034 at 0.75 and 0.966 at
 * 0.70: exactly at the second. The first, half repaid (7750, seizing 7750
 * x 1.05 / 2000 = 4.069 ETH), has HF 0.70 x 5.931 x 2000 / 7750 = 1.071
 * at 0.70 and is not liquidated again. */
Test(defence, volatility_bands_step_lt_down_at_the_computed_steps) {
  static world w;
  base_world(&w, 120);
  add_account(&w, 10, 15500);
  add_account(&w, 10, 14500);
  two_bands(&w);
  alternating_path(&w, 120);
  run(&w);
  int k1 = crossing_step(1.0), k2 = crossing_step(1.5);
  cr_expect_eq(k1, 13); /* 2.2 sqrt(12/60) = 0.984, 2.2 sqrt(13/60) = 1.024 */
  cr_expect_eq(k2, 28); /* 2.2 sqrt(27/60) = 1.476, 2.2 sqrt(28/60) = 1.503 */
  cr_expect_eq(w.lt_at[k1 - 1], 0.80);
  cr_expect_eq(w.lt_at[k1], 0.75);
  cr_expect_eq(w.lt_at[k2 - 1], 0.75);
  cr_expect_eq(w.lt_at[k2], 0.70);
  cr_expect_eq(w.lt_at[120], 0.70); /* the full window stays at 2.2 */
  cr_expect_eq(ext(&w, SCH_XM_THRESHOLD_CHANGES), 2);
  cr_expect_eq(first_liquidation(&w), k1);
  cr_expect_eq(w.liquidations_at[k1], 1);
  cr_expect_eq(w.liquidations_at[k2 - 1], 1);
  cr_expect_eq(w.liquidations_at[k2], 2);
  cr_expect_eq(w.metrics[SCH_METRIC_LIQUIDATIONS], 2);
}

/* When the alternation stops (flat from step 40), the window empties of
 * returns: vol 2.2 sqrt((60 - j) / 60) j steps after the last return at
 * step 40 (returns 41.. are 0), below 1.5 when 60 - j < 27.89, i.e. j = 33
 * (step 73), and at or below 1.0 when 60 - j <= 12.4, j = 48 (step 88);
 * every change is counted: 4 in all. */
Test(defence, volatility_bands_step_back_up_when_vol_subsides) {
  static world w;
  base_world(&w, 120);
  two_bands(&w);
  alternating_path(&w, 40);
  for (int k = 41; k <= 120; k++)
    w.x[k] = w.x[40];
  run(&w);
  cr_expect_eq(w.lt_at[72], 0.70);
  cr_expect_eq(w.lt_at[73], 0.75);
  cr_expect_eq(w.lt_at[87], 0.75);
  cr_expect_eq(w.lt_at[88], 0.80);
  cr_expect_eq(ext(&w, SCH_XM_THRESHOLD_CHANGES), 4);
}

/* The same path with a 1 h hold: the steps down at 13 and 28 are not held
 * back (a fall never waits), the rise due at step 73 waits until 28 + 60 =
 * step 88, when the vol (<= 1.0) calls for the listing's LT at once: three
 * changes, 0.70 straight back to 0.80. */
Test(defence, volatility_hold_delays_rises_only) {
  static world w;
  base_world(&w, 120);
  two_bands(&w);
  w.cfg.protocol.volatility_hold_s = 3600;
  alternating_path(&w, 40);
  for (int k = 41; k <= 120; k++)
    w.x[k] = w.x[40];
  run(&w);
  cr_expect_eq(w.lt_at[12], 0.80);
  cr_expect_eq(w.lt_at[13], 0.75);
  cr_expect_eq(w.lt_at[28], 0.70);
  cr_expect_eq(w.lt_at[87], 0.70);
  cr_expect_eq(w.lt_at[88], 0.80);
  cr_expect_eq(ext(&w, SCH_XM_THRESHOLD_CHANGES), 3);
}

/* The candidate bound stays sound when thresholds fall: 64 accounts with
 * HF(0) from 1.00 to 1.19 (at LT 0.8); at LT 0.70 every account with
 * 0.70 / 0.80 HF(0) < 1, i.e. HF(0) < 1.143, is liquidatable, though the
 * unscaled bound (price ratio 1) would look at none. No liquidator acts, so
 * the list at the horizon is the brute-force set over all accounts. */
Test(defence, candidate_bound_sound_when_lt_falls) {
  static world w;
  base_world(&w, 60);
  w.cfg.liquidators.enabled = false;
  for (int a = 0; a < MAX_ACCOUNTS; a++) /* HF(0) = 1.0 + 0.003 a */
    add_account(&w, 10, 0.8 * 20000 / (1.0 + 0.003 * (a + 0.5)));
  two_bands(&w);
  alternating_path(&w, 60);
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&w.cfg, &w.book, &sc, &err), SCH_OK);
  sch_cascade_ref_ws *ws = sch_cascade_ref_ws_create(&sc.market);
  path_state ps = {.mm = &sc.market,
                   .ws = ws,
                   .x = w.x,
                   .x_stride = 1,
                   .n_risky = 1,
                   .metrics = w.metrics};
  ref_path_begin(&ps, NULL);
  for (int64_t k = 1; k <= 60; k++) {
    ref_step_market(&ps, k);
    ref_step_protocol(&ps);
    ref_step_end(&ps, NULL);
  }
  cr_expect_eq(ps.lt[ETH], 0.70);
  cr_expect(ps.lt_bound_scale >= 0.80 / 0.70);
  ref_collect_candidates(&ps);
  int brute = 0, expected = 0;
  for (int32_t a = 0; a < MAX_ACCOUNTS; a++) {
    double hf = ref_health(&ps, ref_collateral_of(&ps, a), ref_debt_of(&ps, a));
    bool listed = false;
    for (int64_t c = 0; c < ws->n_cand; c++)
      listed |= ws->cand[c].account == a;
    cr_expect_eq(listed, hf < 1.0, "account %d: HF %.6f", a, hf);
    brute += hf < 1.0;
    expected += 0.70 / 0.80 * (1.0 + 0.003 * (a + 0.5)) < 1.0;
  }
  cr_expect_eq(ws->n_cand, brute);
  cr_expect_eq(brute, expected);
  cr_expect_eq(expected, 48); /* 1.0015 + 0.003 a < 8/7: a <= 47 */
  ref_path_end(&ps);
  sch_cascade_ref_ws_free(ws);
  sch_scenario_free(&sc);
}

/* ---------------------------------------------------- neutral when idle */

/* A breaker that never trips (X = 10) and bands never crossed (above 100)
 * leave every metric of a simulated volatile path bit for bit as without
 * them (the reference then runs in place of the optimised kernel, which the
 * contract makes bitwise equal). */
Test(defence, idle_defences_are_bitwise_neutral) {
  static world a, b;
  base_world(&a, 240);
  a.cfg.assets[ETH].vol = 1.5;
  a.cfg.venues[ETH].market_depth = 1e8;
  for (int i = 0; i < 40; i++)
    add_account(&a, 1 + i % 7, 1400.0 * (1 + i % 7) * (0.95 + 0.01 * i));
  b = a;
  breaker_on(&b);
  b.cfg.circuit_breaker.move = 10;
  b.cfg.protocol.n_volatility_bands[ETH] = 1;
  b.cfg.protocol.volatility_bands[ETH][0] = (sch_volatility_band){100, 0.5};
  double ma[64], mb[64], liquidations = 0;
  for (uint64_t path = 0; path < 8; path++) {
    sch_scenario sa, sb;
    sch_error err = {{0}};
    cr_assert_eq(sch_scenario_build(&a.cfg, &a.book, &sa, &err), SCH_OK);
    cr_assert_eq(sch_scenario_build(&b.cfg, &b.book, &sb, &err), SCH_OK);
    cr_assert(!sa.market.reference_only && sb.market.reference_only);
    sch_path_generate(&sa.paths, path, a.x);
    sch_cascade_ws *wa = sch_cascade_ws_create(&sa.market);
    sch_cascade_ws *wb = sch_cascade_ws_create(&sb.market);
    sch_cascade_set_path(wa, path);
    sch_cascade_set_path(wb, path);
    sch_cascade_run(&sa.market, 1, a.x, 1, wa, ma, NULL);
    sch_cascade_run(&sb.market, 1, a.x, 1, wb, mb, NULL);
    int n = sch_metric_count(2);
    cr_expect_eq(memcmp(ma, mb, (size_t)n * sizeof *ma), 0, "path %d",
                 (int)path);
    liquidations += ma[SCH_METRIC_LIQUIDATIONS];
    sch_cascade_ws_free(wa);
    sch_cascade_ws_free(wb);
    sch_scenario_free(&sa);
    sch_scenario_free(&sb);
  }
  cr_expect(liquidations > 0); /* the paths do exercise the cascade */
}

/* ----------------------------------------------------------------- config */

static const char *const base_lines[] = {
    "simulation: {horizon: 2h, step: 60s, paths: 10}",
    "assets:",
    "  - {name: ETH, price: 2000, vol: 0.8}",
    "  - {name: USDC, price: 1}",
    "venues:",
    "  ETH: {model: constant_product, depth: 1e8, market_depth: 5e9,",
    "        recovery_half_life: 30m}",
    "oracles: {ETH: {}}",
    "protocol:",
    "  volatility_window: 30m",
    "  assets:",
    "    ETH: {liquidation_threshold: 0.8, liquidation_bonus: 0.05,",
    "          volatility_bands: [{above: 1.0, liquidation_threshold: 0.75},",
    "                             {above: 1.5, liquidation_threshold: 0.7}]}",
    "circuit_breaker:",
    "  move: 0.12",
    "  window: 30m",
    "  scope: all",
    "loanbook:",
    "  generate:",
    "    accounts: 10",
    "    total_debt: 1e6",
    "    size_sigma: 1",
    "    health: {min: 1.02, max: 3, median: 1.5, sigma: 0.9}",
    "    mix: [{collateral: [ETH], debt: USDC, weight: 1}]",
};

/* The base text with line `line` (1-based) replaced. */
static void build(char *out, size_t size, size_t line, const char *text) {
  out[0] = '\0';
  for (size_t i = 0; i < sizeof base_lines / sizeof *base_lines; i++) {
    strncat(out, i + 1 == line ? text : base_lines[i], size - strlen(out) - 2);
    strcat(out, "\n");
  }
}

static sch_status parse(const char *text, sch_config *cfg, sch_error *err) {
  return sch_config_parse(text, "defence.yaml", ".", NULL, 0, cfg, err);
}

/* The same with one `--set` override. */
static sch_status parse_set(const char *text, const char *set, sch_config *cfg,
                            sch_error *err) {
  const char *overrides[] = {set};
  return sch_config_parse(text, "defence.yaml", ".", overrides, 1, cfg, err);
}

Test(defence, config_sections_parse_and_round_trip) {
  char text[4096];
  build(text, sizeof text, 0, "");
  sch_config cfg, again;
  sch_error err = {{0}};
  cr_assert_eq(parse_set(text, "protocol.volatility_hold=2h", &cfg, &err),
               SCH_OK, "%s", err.msg);
  const sch_circuit_breaker_spec *b = &cfg.circuit_breaker;
  cr_expect(b->present && b->enabled); /* on because the section is given */
  cr_expect_eq(b->move, 0.12);
  cr_expect_eq(b->window_s, 1800);
  cr_expect_eq(b->cooldown_s, 7200); /* default */
  cr_expect_eq(b->scope, SCH_BREAKER_ALL);
  cr_expect_eq(b->asset_mask, 1u << ETH); /* default: every risky asset */
  cr_expect_eq(cfg.protocol.volatility_window_s, 1800);
  cr_expect_eq(cfg.protocol.volatility_hold_s, 7200);
  cr_expect_eq(cfg.protocol.n_volatility_bands[ETH], 2);
  cr_expect_eq(cfg.protocol.volatility_bands[ETH][1].above, 1.5);
  cr_expect_eq(cfg.protocol.volatility_bands[ETH][1].liquidation_threshold,
               0.7);
  cr_expect(strstr(cfg.resolved_yaml, "scope: all") != NULL);
  cr_assert_eq(sch_config_parse(cfg.resolved_yaml, "resolved", ".", NULL, 0,
                                &again, &err),
               SCH_OK, "%s\n%s", err.msg, cfg.resolved_yaml);
  cr_expect_eq(memcmp(&cfg.protocol, &again.protocol, sizeof cfg.protocol), 0);
  cr_expect_eq(memcmp(&cfg.circuit_breaker, &again.circuit_breaker,
                      sizeof cfg.circuit_breaker),
               0);
  cr_expect_str_eq(cfg.resolved_yaml, again.resolved_yaml);
  sch_config_free(&again);
  sch_config_free(&cfg);
  /* `enabled: false` keeps the section, off */
  build(text, sizeof text, 18, "  enabled: false");
  cr_assert_eq(parse(text, &cfg, &err), SCH_OK, "%s", err.msg);
  cr_expect(cfg.circuit_breaker.present && !cfg.circuit_breaker.enabled);
  sch_config_free(&cfg);
}

/* Without the sections the resolved text has neither (a world without them
 * keeps its /config text). */
Test(defence, config_absent_sections_leave_resolved_text_alone) {
  char text[4096] = "";
  for (size_t i = 0; i < sizeof base_lines / sizeof *base_lines; i++) {
    size_t line = i + 1;
    if (line == 10 || (line >= 13 && line <= 18))
      continue; /* volatility_window, the bands, circuit_breaker */
    strcat(text, line == 12 ? "    ETH: {liquidation_threshold: 0.8, "
                              "liquidation_bonus: 0.05}"
                            : base_lines[i]);
    strcat(text, "\n");
  }
  sch_config cfg;
  sch_error err = {{0}};
  cr_assert_eq(parse(text, &cfg, &err), SCH_OK, "%s\n%s", err.msg, text);
  cr_expect(!cfg.circuit_breaker.present && !cfg.circuit_breaker.enabled);
  cr_expect_eq(cfg.protocol.n_volatility_bands[ETH], 0);
  cr_expect_null(strstr(cfg.resolved_yaml, "circuit_breaker"));
  cr_expect_null(strstr(cfg.resolved_yaml, "volatility"));
  sch_config_free(&cfg);
}

static void expect_line_fails(size_t line, const char *replacement,
                              const char *where, const char *what) {
  char text[4096];
  build(text, sizeof text, line, replacement);
  sch_config cfg;
  sch_error err = {{0}};
  cr_assert_eq(parse(text, &cfg, &err), SCH_ERR_INPUT, "accepted: %s",
               replacement);
  cr_expect(strstr(err.msg, where) != NULL && strstr(err.msg, what) != NULL &&
                strchr(err.msg, '\n') == NULL,
            "%s: message \"%s\" lacks \"%s\" or \"%s\"", replacement, err.msg,
            where, what);
}

Test(defence, config_bad_inputs_located) {
  /* bands out of order, thresholds out of range or not stepping down */
  expect_line_fails(14,
                    "                             {above: 0.9, "
                    "liquidation_threshold: 0.7}]}",
                    "defence.yaml:14:38", "above the previous band");
  expect_line_fails(14,
                    "                             {above: 1.5, "
                    "liquidation_threshold: 0.76}]}",
                    "defence.yaml:14:66", "thresholds step down");
  expect_line_fails(13,
                    "          volatility_bands: [{above: 1.0, "
                    "liquidation_threshold: 0.85},",
                    "defence.yaml:13:66", "the listing's");
  expect_line_fails(14,
                    "                             {above: 1.5, "
                    "liquidation_threshold: 1.2}]}",
                    "defence.yaml:14:66", "liquidation_threshold");
  expect_line_fails(14,
                    "                             {above: 1.5, "
                    "liquidation_threshold: 0}]}",
                    "defence.yaml:14:66", "liquidation_threshold");
  expect_line_fails(14,
                    "                             {above: -1, "
                    "liquidation_threshold: 0.7}]}",
                    "defence.yaml:14:38", "above");
  expect_line_fails(14,
                    "                             {abov: 1.5, "
                    "liquidation_threshold: 0.7}]}",
                    "defence.yaml:14:31", "abov");
  expect_line_fails(10, "  volatility_window: -1h", "defence.yaml:10:22",
                    "volatility_window");
  expect_line_fails(10, "  volatility_window: 30s", "defence.yaml:10:22",
                    "shorter than simulation.step");
  /* the breaker */
  expect_line_fails(17, "  window: -1h", "defence.yaml:17:11", "window");
  expect_line_fails(17, "  window: 10s", "defence.yaml:17:11",
                    "shorter than simulation.step");
  expect_line_fails(18, "  scope: withdrawals", "defence.yaml:18:10",
                    "liquidations or all");
  expect_line_fails(16, "  move: 0", "defence.yaml:16:9", "move");
  expect_line_fails(16, "  cooldown: 0s", "defence.yaml:16:13", "cooldown");
  expect_line_fails(16, "  assets: [USDC]", "defence.yaml:16:12", "stable");
  expect_line_fails(16, "  assets: [BTC]", "defence.yaml:16:12", "BTC");
  expect_line_fails(16, "  assets: [ETH, ETH]", "defence.yaml:16:17", "twice");
  expect_line_fails(16, "  enabled: maybe", "defence.yaml:16:12", "enabled");
  expect_line_fails(16, "  trip: 0.1", "defence.yaml:16:3", "trip");
  /* a negative hold, given by --set */
  char text[4096];
  build(text, sizeof text, 0, "");
  sch_config cfg;
  sch_error err = {{0}};
  cr_expect_eq(parse_set(text, "protocol.volatility_hold=-1h", &cfg, &err),
               SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "volatility_hold") != NULL, "%s", err.msg);
}
