/* Who is paid what for a liquidation (docs/model.md "Compound v3 absorb",
 * "Dynamic incentive", "Backstop pool", "MEV and latency"): hand-computed
 * cases on a scripted price path (ETH collateral, USDC debt), the dynamic
 * bonus formula on a hand-built path state, and the config sections. Every
 * expected number is derived here from the formulas of docs/model.md, not
 * read from the program. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade_ref.h"
#include "paths.h"
#include "scenario.h"
#include "schelling/loanbook.h"

#define ETH 0
#define USDC 1
#define MAX_STEPS 16
#define MAX_ACCOUNTS 4
#define FEE 0.003
#define GAS_ETH (5e5 * 30 * 1e-9) /* ETH per transaction */

typedef struct world {
  sch_config cfg;
  sch_loanbook book;
  double collateral[MAX_ACCOUNTS * 2], debt[MAX_ACCOUNTS * 2];
  double x[MAX_STEPS + 1]; /* ln ETH price per step */
  double market[(MAX_STEPS + 1) * 2], fundamental[(MAX_STEPS + 1) * 2];
  double metrics[64];
} world;

/* ETH (2000, LT 0.8, bonus 5%) and USDC (stable); constant product 1e6
 * deep, fee 0.3%, market depth 1e9; gas 500k units at 30 gwei (beta 0). */
static void base_world(world *w, int steps) {
  memset(w, 0, sizeof *w);
  sch_config *c = &w->cfg;
  strcpy(c->source, "test");
  c->simulation = (sch_simulation_spec){.paths = 1,
                                        .horizon_s = 60.0 * steps,
                                        .step_s = 60.0,
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
                                    .fee = FEE,
                                    .market_depth = 1e9,
                                    .recovery_half_life_s = 1800};
  c->oracles[ETH] = (sch_oracle_spec){0.005, 3600, 0};
  c->protocol.assets[ETH] = (sch_protocol_asset){
      .listed = true, .liquidation_threshold = 0.80, .liquidation_bonus = 0.05};
  c->protocol.assets[USDC] = (sch_protocol_asset){
      .listed = true, .liquidation_threshold = 0.85, .liquidation_bonus = 0.04};
  c->protocol.close_factor = 0.5;
  c->protocol.full_close_below_hf = 0.95;
  c->protocol.dynamic_incentive = (sch_dynamic_incentive_spec){1, 1, 0, 0.2};
  for (int i = 0; i < 2; i++)
    c->protocol.absorb.liquidation_factor[i] = 0.93;
  c->protocol.absorb.store_front_price_factor = 0.6;
  c->protocol.absorb.target_reserves = 20e6;
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
  c->backstop = (sch_backstop_spec){.enabled = false, .discount = 0.02};
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

/* ETH at `price` from step `from` on. */
static void set_price(world *w, int from, double price) {
  for (int64_t k = from; k <= w->cfg.simulation.steps; k++)
    w->x[k] = log(price);
}

static void run(world *w) {
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&w->cfg, &w->book, &sc, &err), SCH_OK, "%s",
               err.msg);
  sch_cascade_ws *ws = sch_cascade_ws_create(&sc.market);
  cr_assert_not_null(ws);
  sch_cascade_set_path(ws, 0);
  sch_price_record rec = {w->market, w->fundamental};
  sch_cascade_run(&sc.market, sc.paths.n_risky, w->x, 1, ws, w->metrics, &rec);
  sch_cascade_ws_free(ws);
  sch_scenario_free(&sc);
}

static double metric(const world *w, int m) {
  return w->metrics[m];
}
static double ext(const world *w, int id) {
  return w->metrics[sch_metric_ext(2, id)];
}

/* First step whose market price is below the fundamental: the step of the
 * first sale (impact), -1 if none. */
static int first_sale_step(const world *w) {
  for (int k = 0; k <= w->cfg.simulation.steps; k++)
    if (w->market[k * 2 + ETH] < w->fundamental[k * 2 + ETH])
      return k;
  return -1;
}

/* Constant product re-centred at m: x = depth/m units, y = depth USD. */
static double cp_out(double depth, double m, double q) {
  double x = depth / m, y = depth, q_in = q * (1 - FEE);
  return y * q_in / (x + q_in);
}

static bool close_to(double got, double want) {
  return fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want));
}

#define EXPECT_CLOSE(a, b)                                                     \
  cr_expect(close_to((a), (b)), "%s = %.12g, want %.12g", #a, (double)(a),     \
            (double)(b))

/* ------------------------------------------------------------------ absorb */

/* 100 ETH against 150000 USDC; ETH falls to 1400 at step 1: HF = 100 x 1400
 * x 0.8 / 150000 = 0.747. absorb: D = 150000, credit = 100 x 1400 x 0.93 =
 * 130200 < D, so reserves fall by D to 0 - 150000. buyCollateral (reserves
 * < target): price 1400 (1 - 0.6 x 0.07) = 1341.2, q* = (sqrt(y x (1-f) /
 * p) - x) / (1-f) on the pool x = 1e6/1400, y = 1e6. At the horizon (same
 * step) the protocol holds 100 - q* ETH at M = 1400 exp(-q* 1400 / 1e9):
 * bad debt = -(reserves + inventory x M). */
Test(incentive, absorb_accounting_one_account) {
  world w;
  base_world(&w, 1);
  w.cfg.protocol.liquidation = SCH_LIQUIDATION_ABSORB;
  add_account(&w, 100, 150000);
  set_price(&w, 1, 1400);
  run(&w);
  double debt = 150000, credit = 100 * 1400 * 0.93;
  cr_assert(credit < debt);
  double reserves = 0 - debt;
  double discount = 0.6 * (1 - 0.93);
  double price = 1400 * (1 - discount);
  EXPECT_CLOSE(price, 1341.2);
  double x = 1e6 / 1400, y = 1e6;
  double q = (sqrt(y * x * (1 - FEE) / price) - x) / (1 - FEE);
  cr_assert(q > 0 && q < 100);
  double out = cp_out(1e6, 1400, q);
  double gas = GAS_ETH * 1400;
  reserves += q * price;
  double m_end = 1400 * exp(-q * 1400 / 1e9);
  double bad = -(reserves + (100 - q) * m_end);
  cr_assert(bad > 0);
  EXPECT_CLOSE(ext(&w, SCH_XM_ABSORBED_DEBT), debt);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATED_VALUE), debt);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BONUS_PAID), q * 1400 * discount);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SLIPPAGE_COST), q * 1400 - out);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_GAS_COST), 2 * gas); /* absorb + buy */
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATOR_PROFIT), out - q * price - gas);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BAD_DEBT), bad);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_UNDERWATER_DEBT), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SHORTFALL), bad);
  EXPECT_CLOSE(metric(&w, sch_metric_time_first_bad_debt(2)), 60);
}

/* Collateral worth more than the debt: 100 ETH against 120000 at 1400
 * (HF 0.933). credit = 130200 > D: the user keeps 10200 as a balance, so
 * reserves fall by the credit. Reserves start at 1e6 >= target 0.5e6 after
 * the absorb (869800): nothing is for sale, the inventory is held, and the
 * position 869800 + 100 x 1400 is positive: no bad debt. */
Test(incentive, absorb_excess_credit_and_no_sale_at_target) {
  world w;
  base_world(&w, 2);
  w.cfg.protocol.liquidation = SCH_LIQUIDATION_ABSORB;
  w.cfg.protocol.absorb.reserves = 1e6;
  w.cfg.protocol.absorb.target_reserves = 0.5e6;
  add_account(&w, 100, 120000);
  set_price(&w, 1, 1400);
  run(&w);
  EXPECT_CLOSE(ext(&w, SCH_XM_ABSORBED_DEBT), 120000);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BONUS_PAID), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATOR_PROFIT), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BAD_DEBT), 0);
  cr_expect_eq(first_sale_step(&w), -1, "no sale");
  /* reserves 1e6 - 130200 = 869800 below a target of 0.9e6: sold */
  base_world(&w, 2);
  w.cfg.protocol.liquidation = SCH_LIQUIDATION_ABSORB;
  w.cfg.protocol.absorb.reserves = 1e6;
  w.cfg.protocol.absorb.target_reserves = 0.9e6;
  add_account(&w, 100, 120000);
  set_price(&w, 1, 1400);
  run(&w);
  cr_expect_eq(first_sale_step(&w), 1);
}

/* Reserves reach the target with the first purchase: the next step's pool
 * (re-centred, as profitable as the first) gets no sale. Reserves start at
 * 150000 - 1000, so they are -1000 after the absorb (< target 0); one buy of
 * q* raises them to -1000 + q* p > 0 = target. */
Test(incentive, reserves_at_target_stop_sales) {
  world w;
  base_world(&w, 3);
  w.cfg.protocol.liquidation = SCH_LIQUIDATION_ABSORB;
  w.cfg.protocol.absorb.reserves = 150000 - 1000;
  w.cfg.protocol.absorb.target_reserves = 0;
  add_account(&w, 100, 150000);
  set_price(&w, 1, 1400);
  run(&w);
  double price = 1400 * (1 - 0.6 * 0.07);
  double x = 1e6 / 1400, y = 1e6;
  double q = (sqrt(y * x * (1 - FEE) / price) - x) / (1 - FEE);
  cr_assert(-1000 + q * price > 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BONUS_PAID), q * 1400 * 0.6 * 0.07);
  /* with an unreachable target every step sells */
  double one_step = metric(&w, SCH_METRIC_BONUS_PAID);
  w.cfg.protocol.absorb.target_reserves = 1e9;
  run(&w);
  cr_expect(metric(&w, SCH_METRIC_BONUS_PAID) > 2.5 * one_step);
}

/* --------------------------------------------------------- dynamic bonus */

/* The formula on a hand-built state: LB(t) = clamp(LB (1/depth_scale)^a
 * (1 + b distress), min, max), distress = debt of the listed (HF < 1)
 * accounts at O / the book's debt at O. */
Test(incentive, dynamic_bonus_formula_and_clamps) {
  world w;
  base_world(&w, 1);
  w.cfg.protocol.incentive = SCH_INCENTIVE_DYNAMIC;
  w.cfg.protocol.dynamic_incentive =
      (sch_dynamic_incentive_spec){.depth_exponent = 0.5,
                                   .distress_multiplier = 2,
                                   .min_bonus = 0.01,
                                   .max_bonus = 0.2};
  add_account(&w, 10, 15000);
  add_account(&w, 30, 45000);
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&w.cfg, &w.book, &sc, &err), SCH_OK, "%s",
               err.msg);
  cr_assert(sc.market.reference_only);
  sch_cascade_ref_ws *ws = sch_cascade_ref_ws_create(&sc.market);
  cr_assert_not_null(ws);
  path_state ps = {.mm = &sc.market, .ws = ws, .k = 1};
  ps.oracle[ETH] = 1850;
  ps.oracle[USDC] = 1;
  ps.depth_scale[ETH] = ps.depth_scale[USDC] = 1;
  ref_incentive_init_path(&ps);
  /* no list looked at yet: distress 0, depth 1 */
  EXPECT_CLOSE(ref_bonus(&ps, ETH), 0.05);
  /* account 0 listed: distress = 15000 / 60000 = 0.25 */
  ws->cand[0] = (candidate){0.9867, 0};
  ws->n_cand = 1;
  ps.candidates_valid = true;
  EXPECT_CLOSE(ref_bonus(&ps, ETH), 0.05 * (1 + 2 * 0.25));
  /* liquidity flight halves the venue: (1 / 0.5)^0.5 = sqrt 2 */
  ps.depth_scale[ETH] = 0.5;
  EXPECT_CLOSE(ref_bonus(&ps, ETH), 0.05 * sqrt(2.0) * 1.5);
  /* clamps */
  sc.market.dyn_max_bonus = 0.08;
  EXPECT_CLOSE(ref_bonus(&ps, ETH), 0.08);
  sc.market.dyn_max_bonus = 0.2;
  sc.market.dyn_min_bonus = 0.15;
  EXPECT_CLOSE(ref_bonus(&ps, ETH), 0.15);
  sch_cascade_ref_ws_free(ws);
  sch_scenario_free(&sc);
}

/* End to end: 10 ETH / 15000 liquidatable at 1850 (HF 0.9867), 30 ETH /
 * 40000 healthy (HF 1.11); distress = 15000 / 55000; b = 2: LB = 0.05 (1 +
 * 2 x 15000/55000); the close factor caps the repayment at 7500. */
Test(incentive, dynamic_bonus_paid) {
  world w;
  base_world(&w, 1);
  w.cfg.protocol.incentive = SCH_INCENTIVE_DYNAMIC;
  w.cfg.protocol.dynamic_incentive.distress_multiplier = 2;
  add_account(&w, 10, 15000);
  add_account(&w, 30, 40000);
  set_price(&w, 1, 1850);
  run(&w);
  double lb = 0.05 * (1 + 2 * 15000.0 / 55000.0);
  double repaid = fmin(0.5 * 15000, 10 * 1850 / (1 + lb));
  EXPECT_CLOSE(repaid, 7500);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BONUS_PAID), repaid * lb);
  double seized = repaid * (1 + lb) / 1850;
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATOR_PROFIT),
               cp_out(1e6, 1850, seized) - repaid - GAS_ETH * 1850);
}

/* -------------------------------------------------------------- backstop */

/* 10 ETH / 15000 at 1850: repaid 7500, seized q = 7500 x 1.05 / 1850. A
 * shallow venue (1e5) pays cp_out < q x 1850 x 0.98: the backstop (discount
 * 2%) buys all of it; without it the sale loses money and nothing happens. */
Test(incentive, backstop_buys_when_venue_pays_less) {
  world w;
  base_world(&w, 1);
  w.cfg.venues[ETH].depth = 1e5;
  w.cfg.backstop =
      (sch_backstop_spec){.enabled = true, .capital = 1e6, .discount = 0.02};
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1850);
  run(&w);
  double q = 7500 * 1.05 / 1850, paid = q * 1850 * 0.98;
  cr_assert(cp_out(1e5, 1850, q) < paid);
  double gas = GAS_ETH * 1850;
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(ext(&w, SCH_XM_BACKSTOP_PURCHASES), paid);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATOR_PROFIT), paid - 7500 - gas);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SLIPPAGE_COST), 0);
  EXPECT_CLOSE(ext(&w, SCH_XM_BACKSTOP_CAPITAL_LEFT), 1e6 - paid);
  /* no venue sale, no impact: held at M = 1850 */
  EXPECT_CLOSE(ext(&w, SCH_XM_BACKSTOP_LOSS), paid - q * 1850);
  cr_expect_eq(first_sale_step(&w), -1);
  /* without the backstop the shallow venue makes the liquidation a loss */
  w.cfg.backstop.enabled = false;
  run(&w);
  cr_assert(cp_out(1e5, 1850, q) - 7500 - gas < 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 0);
  EXPECT_CLOSE(ext(&w, SCH_XM_BACKSTOP_PURCHASES), 0);
}

/* The deep venue (1e6) pays more than 0.98 x O: the backstop stays out,
 * and its capital, refilled at 1e6 a day, stays at its cap 1e6. */
Test(incentive, backstop_idle_when_venue_pays_more) {
  world w;
  base_world(&w, 2);
  w.cfg.backstop = (sch_backstop_spec){
      .enabled = true, .capital = 1e6, .discount = 0.02, .refill_per_day = 1e6};
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1850);
  run(&w);
  double q = 7500 * 1.05 / 1850;
  cr_assert(cp_out(1e6, 1850, q) > q * 1850 * 0.98);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(ext(&w, SCH_XM_BACKSTOP_PURCHASES), 0);
  EXPECT_CLOSE(ext(&w, SCH_XM_BACKSTOP_LOSS), 0);
  EXPECT_CLOSE(ext(&w, SCH_XM_BACKSTOP_CAPITAL_LEFT), 1e6);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATOR_PROFIT),
               cp_out(1e6, 1850, q) - 7500 - GAS_ETH * 1850);
}

/* Capital 5000 < the lot's 0.98 x O value: the backstop takes 5000 /
 * (1850 x 0.98) units at step 1, the venue the rest. It refills at 50
 * USD/s up to its 5000: account 2 (10 ETH / 14000, HF 0.971 at 1700) is
 * liquidated at step 3 with 5000 again (not 2 x 60 x 50 = 6000); at the
 * horizon (step 4) one more step has refilled 3000. */
Test(incentive, backstop_capital_exhaustion_and_refill) {
  world w;
  base_world(&w, 4);
  w.cfg.venues[ETH].depth = 1e5;
  w.cfg.backstop = (sch_backstop_spec){.enabled = true,
                                       .capital = 5000,
                                       .discount = 0.02,
                                       .refill_per_day = 50 * 86400.0};
  add_account(&w, 10, 15000);
  add_account(&w, 10, 14000);
  set_price(&w, 1, 1850);
  set_price(&w, 3, 1700);
  run(&w);
  double q1 = 7500 * 1.05 / 1850, unit1 = 1850 * 0.98;
  double taken1 = 5000 / unit1, rest1 = q1 - taken1;
  double out1 = cp_out(1e5, 1850, rest1);
  double gas1 = GAS_ETH * 1850;
  cr_assert(5000 + out1 - 7500 - gas1 > 0);
  double q2 = 7000 * 1.05 / 1700, unit2 = 1700 * 0.98;
  double taken2 = 5000 / unit2;
  cr_assert(taken2 < q2);
  double out2 = cp_out(1e5, 1700, q2 - taken2);
  cr_assert(5000 + out2 - 7000 - GAS_ETH * 1700 > 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 2);
  EXPECT_CLOSE(ext(&w, SCH_XM_BACKSTOP_PURCHASES), 5000 + 5000);
  EXPECT_CLOSE(ext(&w, SCH_XM_BACKSTOP_CAPITAL_LEFT), 3000);
  /* the first liquidation's venue part: its slippage */
  cr_expect(metric(&w, SCH_METRIC_SLIPPAGE_COST) > rest1 * 1850 - out1);
}

/* ------------------------------------------------------------------- MEV */

/* 10 ETH / 15000 at 1850: profit = out - 7500 - gas. mev_share 0.5 leaves
 * the liquidator half and counts half as extracted. */
Test(incentive, mev_takes_its_share_and_can_block) {
  world w;
  base_world(&w, 1);
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1850);
  w.cfg.liquidators.mev_share = 0.5;
  run(&w);
  double q = 7500 * 1.05 / 1850;
  double profit = cp_out(1e6, 1850, q) - 7500 - GAS_ETH * 1850;
  cr_assert(profit > 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATOR_PROFIT), 0.5 * profit);
  EXPECT_CLOSE(ext(&w, SCH_XM_MEV_EXTRACTED), 0.5 * profit);
  /* min_profit between half and all of the profit: blocked by MEV only */
  w.cfg.liquidators.min_profit = 0.75 * profit;
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SKIPPED_UNPROFITABLE), 1);
  EXPECT_CLOSE(ext(&w, SCH_XM_MEV_EXTRACTED), 0);
  w.cfg.liquidators.mev_share = 0;
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATOR_PROFIT), profit);
}

/* --------------------------------------------------------------- latency */

/* ETH falls to 1850 at step 2: the account is liquidatable from step 2 and
 * the first sale (impact: M < S) is at step 2 + L; latency 150 s at 60 s
 * steps rounds up to L = 3. */
Test(incentive, latency_delays_the_first_liquidation) {
  world w;
  base_world(&w, 8);
  add_account(&w, 10, 15000);
  set_price(&w, 2, 1850);
  run(&w);
  cr_expect_eq(first_sale_step(&w), 2);
  w.cfg.liquidators.latency_s = 180;
  run(&w);
  cr_expect_eq(first_sale_step(&w), 5);
  w.cfg.liquidators.latency_s = 150;
  run(&w);
  cr_expect_eq(first_sale_step(&w), 5);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
}

/* Liquidatable at step 2, healthy again at 3 (ETH back at 2000), and
 * liquidatable from 4 on: with L = 2 the clock restarts at 4, so the sale
 * is at 6, not 4. */
Test(incentive, latency_clock_resets_when_healthy) {
  world w;
  base_world(&w, 8);
  add_account(&w, 10, 15000);
  set_price(&w, 2, 1850);
  set_price(&w, 3, 2000);
  set_price(&w, 4, 1850);
  w.cfg.liquidators.latency_s = 120;
  run(&w);
  cr_expect_eq(first_sale_step(&w), 6);
}

/* ----------------------------------------------------------------- config */

static sch_status parse_with(const char *const *o, size_t n, sch_config *cfg,
                             sch_error *err) {
  return sch_config_parse(sch_default_config_yaml, "<default>", ".", o, n, cfg,
                          err);
}

/* Every key set, written to the resolved YAML and read back. */
Test(incentive, config_round_trip) {
  const char *o[] = {
      "protocol.liquidation=absorb",
      "protocol.absorb={liquidation_factor: {ETH: 0.95, WBTC: 0.9, wstETH: "
      "0.93, USDC: 1}, store_front_price_factor: 0.5, target_reserves: 5e6, "
      "reserves: 1e6}",
      "liquidators.mev_share=0.25", "liquidators.latency=2m",
      "backstop={capital: 1e7, discount: 0.04, refill: 1e6}"};
  sch_config cfg, again;
  sch_error err = {{0}};
  cr_assert_eq(parse_with(o, 5, &cfg, &err), SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_config_parse(cfg.resolved_yaml, "resolved", ".", NULL, 0,
                                &again, &err),
               SCH_OK, "%s\n%s", err.msg, cfg.resolved_yaml);
  const sch_absorb_spec *a = &again.protocol.absorb;
  cr_expect_eq(again.protocol.liquidation, SCH_LIQUIDATION_ABSORB);
  cr_expect_eq(a->liquidation_factor[0], 0.95);
  cr_expect_eq(a->liquidation_factor[1], 0.9);
  cr_expect_eq(a->liquidation_factor[3], 1);
  cr_expect_eq(a->store_front_price_factor, 0.5);
  cr_expect_eq(a->target_reserves, 5e6);
  cr_expect_eq(a->reserves, 1e6);
  cr_expect_eq(again.liquidators.mev_share, 0.25);
  cr_expect_eq(again.liquidators.latency_s, 120);
  cr_expect(again.backstop.enabled);
  cr_expect_eq(again.backstop.capital, 1e7);
  cr_expect_eq(again.backstop.discount, 0.04);
  cr_expect_eq(again.backstop.refill_per_day, 1e6);
  sch_config_free(&again);
  sch_config_free(&cfg);
  const char *d[] = {"protocol.incentive=dynamic",
                     "protocol.dynamic_incentive={depth_exponent: 0.5, "
                     "distress_multiplier: 3, min_bonus: 0.02, max_bonus: "
                     "0.12}",
                     "backstop.enabled=false"};
  cr_assert_eq(parse_with(d, 3, &cfg, &err), SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_config_parse(cfg.resolved_yaml, "resolved", ".", NULL, 0,
                                &again, &err),
               SCH_OK, "%s", err.msg);
  cr_expect_eq(again.protocol.incentive, SCH_INCENTIVE_DYNAMIC);
  cr_expect_eq(again.protocol.dynamic_incentive.depth_exponent, 0.5);
  cr_expect_eq(again.protocol.dynamic_incentive.distress_multiplier, 3);
  cr_expect_eq(again.protocol.dynamic_incentive.min_bonus, 0.02);
  cr_expect_eq(again.protocol.dynamic_incentive.max_bonus, 0.12);
  cr_expect(!again.backstop.enabled);
  sch_config_free(&again);
  sch_config_free(&cfg);
}

/* Off by default; each mechanism switched on makes the model reference-only. */
Test(incentive, defaults_off_and_reference_only) {
  sch_config cfg;
  sch_error err = {{0}};
  cr_assert_eq(parse_with(NULL, 0, &cfg, &err), SCH_OK, "%s", err.msg);
  cr_expect(!cfg.backstop.enabled);
  cr_expect_eq(cfg.liquidators.mev_share, 0);
  cr_expect_eq(cfg.liquidators.latency_s, 0);
  cr_expect_eq(cfg.protocol.incentive, SCH_INCENTIVE_FIXED);
  sch_config_free(&cfg);
  world w;
  for (int m = 0; m < 5; m++) {
    base_world(&w, 4);
    add_account(&w, 10, 15000);
    if (m == 1)
      w.cfg.liquidators.mev_share = 0.1;
    if (m == 2)
      w.cfg.liquidators.latency_s = 60;
    if (m == 3)
      w.cfg.backstop.enabled = true;
    if (m == 4)
      w.cfg.protocol.incentive = SCH_INCENTIVE_DYNAMIC;
    sch_scenario sc;
    cr_assert_eq(sch_scenario_build(&w.cfg, &w.book, &sc, &err), SCH_OK);
    cr_expect_eq(sc.market.reference_only, m != 0, "case %d", m);
    sch_scenario_free(&sc);
  }
}

/* A backstop with no capital and no refill changes no number of the
 * fixed-bonus model, though the path now runs in the reference cascade. */
Test(incentive, inert_backstop_is_bitwise_neutral) {
  world a, b;
  base_world(&a, 6);
  add_account(&a, 10, 15000);
  add_account(&a, 30, 46000);
  set_price(&a, 2, 1850);
  set_price(&a, 4, 1700);
  b = a;
  b.cfg.backstop.enabled = true;
  run(&a);
  run(&b);
  for (int m = 0; m < sch_metric_count(2); m++)
    cr_expect(a.metrics[m] == b.metrics[m] ||
                  (isnan(a.metrics[m]) && isnan(b.metrics[m])),
              "metric %d: %.17g vs %.17g", m, a.metrics[m], b.metrics[m]);
}

/* file:line:column on bad input. */
static void expect_error(const char *yaml_tail, const char *want) {
  size_t n = strlen(sch_default_config_yaml) + strlen(yaml_tail) + 1;
  char *text = malloc(n);
  cr_assert_not_null(text);
  snprintf(text, n, "%s%s", sch_default_config_yaml, yaml_tail);
  int lines = 0;
  for (const char *p = sch_default_config_yaml; *p; p++)
    lines += *p == '\n';
  sch_config cfg;
  sch_error err = {{0}};
  cr_expect_eq(sch_config_parse(text, "bad.yaml", ".", NULL, 0, &cfg, &err),
               SCH_ERR_INPUT, "%s accepted", yaml_tail);
  char where[32];
  snprintf(where, sizeof where, "bad.yaml:%d:", lines + 2);
  cr_expect(strncmp(err.msg, where, strlen(where)) == 0 &&
                strstr(err.msg, want) != NULL,
            "got '%s', want %s... %s", err.msg, where, want);
  free(text);
}

Test(incentive, config_errors_located) {
  expect_error("backstop:\n  discount: 1\n", "backstop.discount");
  expect_error("backstop:\n  colour: red\n", "colour");
  expect_error("backstop:\n  capital: -5\n", "backstop.capital");
  /* sections of the default file: through --set, located at the argument */
  const char *o1[] = {"liquidators.mev_share=1"};
  sch_config cfg;
  sch_error err = {{0}};
  cr_expect_eq(parse_with(o1, 1, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "liquidators.mev_share") != NULL, "%s", err.msg);
  const char *o2[] = {"protocol.absorb.store_front_price_factor=1.5"};
  cr_expect_eq(parse_with(o2, 1, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "store_front_price_factor") != NULL, "%s", err.msg);
  const char *o3[] = {"protocol.absorb.liquidation_factor={ETH: 0.9}"};
  cr_expect_eq(parse_with(o3, 1, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "no entry for listed asset WBTC") != NULL, "%s",
            err.msg);
  const char *o4[] = {"protocol.absorb.liquidation_factor={ETH: 1.2, WBTC: "
                      "0.9, wstETH: 0.9, USDC: 0.9}"};
  cr_expect_eq(parse_with(o4, 1, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "liquidation_factor") != NULL, "%s", err.msg);
  const char *o5[] = {"protocol.incentive=dynamic",
                      "protocol.liquidation=absorb"};
  cr_expect_eq(parse_with(o5, 2, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "--set protocol.incentive=dynamic") != NULL &&
                strstr(err.msg, "fixed_bonus") != NULL,
            "%s", err.msg);
  const char *o6[] = {"protocol.dynamic_incentive={min_bonus: 0.1, "
                      "max_bonus: 0.05}"};
  cr_expect_eq(parse_with(o6, 1, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "max_bonus") != NULL, "%s", err.msg);
  const char *o7[] = {"liquidators.latency=-1s"};
  cr_expect_eq(parse_with(o7, 1, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "latency") != NULL, "%s", err.msg);
}

/* ------------------------------------------- invariants on common paths */

typedef struct crn_world {
  sch_config cfg;
  sch_loanbook book;
  sch_scenario sc;
  sch_cascade_ref_ws *ws;
} crn_world;

static void crn_open(crn_world *w, const char *const *o, size_t n) {
  sch_error err = {{0}};
  memset(w, 0, sizeof *w);
  cr_assert_eq(sch_config_parse(sch_default_config_yaml, "<default>", ".", o, n,
                                &w->cfg, &err),
               SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_loanbook_load(&w->cfg, &w->book, &err), SCH_OK, "%s",
               err.msg);
  cr_assert_eq(sch_scenario_build(&w->cfg, &w->book, &w->sc, &err), SCH_OK);
  w->ws = sch_cascade_ref_ws_create(&w->sc.market);
  cr_assert_not_null(w->ws);
}

static void crn_close(crn_world *w) {
  sch_cascade_ref_ws_free(w->ws);
  sch_scenario_free(&w->sc);
  sch_loanbook_free(&w->book);
  sch_config_free(&w->cfg);
}

/* Runs `paths` default-world paths through worlds a and b on the same
 * prices and calls check(metrics_a, metrics_b) on each. */
static void crn_compare(crn_world *a, crn_world *b, int64_t paths,
                        void (*check)(const double *, const double *)) {
  sch_path_ws *pw = sch_path_ws_create(&a->sc.paths);
  const int64_t row = (a->sc.paths.n_steps + 1) * a->sc.paths.n_risky;
  double *x = malloc((size_t)row * SCH_LANES * sizeof(double));
  double ma[64], mb[64];
  cr_assert(pw && x);
  for (int64_t first = 0; first < paths; first += SCH_LANES) {
    sch_path_generate_block(&a->sc.paths, (uint64_t)first, pw, x);
    for (int l = 0; l < SCH_LANES; l++) {
      sch_cascade_run_reference(&a->sc.market, a->sc.paths.n_risky, x + l,
                                SCH_LANES, a->ws, ma, NULL);
      sch_cascade_run_reference(&b->sc.market, b->sc.paths.n_risky, x + l,
                                SCH_LANES, b->ws, mb, NULL);
      check(ma, mb);
    }
  }
  free(x);
  sch_path_ws_free(pw);
}

static int64_t crn_liquidations;

/* With min_profit 0, MEV never changes a decision ((1 - s) p > 0 iff
 * p > 0): the same liquidations and losses, and the liquidator's profit
 * plus the searchers' is the profit without MEV. */
static void check_mev(const double *no_mev, const double *mev) {
  const int ext = sch_metric_ext(4, SCH_XM_MEV_EXTRACTED);
  cr_assert_eq(no_mev[SCH_METRIC_LIQUIDATIONS], mev[SCH_METRIC_LIQUIDATIONS]);
  cr_assert_eq(no_mev[SCH_METRIC_SHORTFALL], mev[SCH_METRIC_SHORTFALL]);
  cr_assert_eq(no_mev[SCH_METRIC_SLIPPAGE_COST], mev[SCH_METRIC_SLIPPAGE_COST]);
  double total = mev[SCH_METRIC_LIQUIDATOR_PROFIT] + mev[ext];
  cr_assert(fabs(total - no_mev[SCH_METRIC_LIQUIDATOR_PROFIT]) <=
                1e-9 * fmax(1.0, no_mev[SCH_METRIC_LIQUIDATOR_PROFIT]),
            "%.17g + %.17g vs %.17g", mev[SCH_METRIC_LIQUIDATOR_PROFIT],
            mev[ext], no_mev[SCH_METRIC_LIQUIDATOR_PROFIT]);
  cr_assert(fabs(mev[ext] - 0.3 * no_mev[SCH_METRIC_LIQUIDATOR_PROFIT]) <=
            1e-9 * fmax(1.0, mev[ext]));
  crn_liquidations += (int64_t)no_mev[SCH_METRIC_LIQUIDATIONS];
}

Test(incentive, mev_identity_on_common_paths, .timeout = 120) {
  crn_world a, b;
  const char *o[] = {"loanbook.generate.accounts=3000",
                     "liquidators.mev_share=0.3"};
  crn_open(&a, o, 1);
  crn_open(&b, o, 2);
  crn_liquidations = 0;
  crn_compare(&a, &b, 256, check_mev);
  cr_expect(crn_liquidations > 0, "no liquidation: the check is idle");
  crn_close(&a);
  crn_close(&b);
}

/* Backstop bookkeeping on every path (no refill): purchases within the
 * capital and capital left = capital - purchases. */
static void check_backstop(const double *off, const double *on) {
  (void)off;
  double bought = on[sch_metric_ext(4, SCH_XM_BACKSTOP_PURCHASES)];
  double left = on[sch_metric_ext(4, SCH_XM_BACKSTOP_CAPITAL_LEFT)];
  cr_assert(bought >= 0 && bought <= 5e6 * (1 + 1e-12));
  cr_assert(fabs(left - (5e6 - bought)) <= 1e-6, "%.17g vs 5e6 - %.17g", left,
            bought);
  crn_liquidations += bought > 0;
}

Test(incentive, backstop_bookkeeping_on_common_paths, .timeout = 120) {
  crn_world a, b;
  const char *o[] = {"loanbook.generate.accounts=3000", "venues.ETH.depth=10e6",
                     "venues.WBTC.depth=3e6",
                     "backstop={capital: 5e6, discount: 0.03}"};
  crn_open(&a, o, 3);
  crn_open(&b, o, 4);
  crn_liquidations = 0;
  crn_compare(&a, &b, 256, check_backstop);
  cr_expect(crn_liquidations > 0, "the backstop never bought");
  crn_close(&a);
  crn_close(&b);
}
