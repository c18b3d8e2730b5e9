/* Hand-computed cases of the protocol model (DESIGN.md 3.2 - 3.6): the price
 * path is scripted step by step and every expected number is derived here
 * from the contract's formulas, independently of the kernel's code. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cascade.h"
#include "scenario.h"

#define ETH 0
#define USDC 1
#define MAX_STEPS 8
#define MAX_ACCOUNTS 4

typedef struct world {
  sch_config cfg;
  sch_loanbook book;
  double collateral[MAX_ACCOUNTS * 2], debt[MAX_ACCOUNTS * 2];
  double x[(MAX_STEPS + 1)];  /* ln ETH price per step */
  double metrics[64];
} world;

/* ETH (risky, 2000) and USDC (stable); gas 500k units at 30 gwei, beta 0. */
static void base_world(world *w, int steps) {
  memset(w, 0, sizeof *w);
  sch_config *c = &w->cfg;
  strcpy(c->source, "test");
  c->simulation = (sch_simulation_spec){.paths = 1, .horizon_s = 60.0 * steps,
                                        .step_s = 60.0, .steps = steps,
                                        .seed = 1};
  c->n_assets = 2;
  c->assets[ETH] = (sch_asset_spec){.name = "ETH", .price = 2000, .vol = 0.5,
                                    .jump_beta = 1};
  c->assets[USDC] = (sch_asset_spec){.name = "USDC", .price = 1, .stable = true};
  c->correlation[0][0] = c->correlation[1][1] = 1.0;
  c->venues[ETH] = (sch_venue_spec){.model = SCH_VENUE_CONSTANT_PRODUCT,
                                    .depth = 1e6, .fee = 0.003,
                                    .market_depth = 1e9,
                                    .recovery_half_life_s = 1800};
  c->oracles[ETH] = (sch_oracle_spec){0.005, 3600, 0};
  c->protocol.assets[ETH] = (sch_protocol_asset){true, 0.80, 0.05};
  c->protocol.assets[USDC] = (sch_protocol_asset){true, 0.85, 0.04};
  c->protocol.close_factor = 0.5;
  c->protocol.full_close_below_hf = 0.95;
  c->liquidators = (sch_liquidator_spec){
      .enabled = true, .gas_units = 5e5, .gas_price_gwei = 30, .gas_beta = 0,
      .gas_price_max_gwei = 1000, .gas_window_s = 3600, .gas_asset = ETH,
      .max_liquidations_per_step = 50, .max_rounds_per_step = 8,
      .capital = 1e12, .flash_loans = true, .min_profit = 0};
  w->book = (sch_loanbook){.n_accounts = 0, .n_assets = 2,
                           .collateral = w->collateral, .debt = w->debt};
  for (int k = 0; k <= steps; k++)
    w->x[k] = log(2000.0);
}

static int add_account(world *w, double eth, double usdc_debt) {
  int a = (int)w->book.n_accounts++;
  w->collateral[a * 2 + ETH] = eth;
  w->debt[a * 2 + USDC] = usdc_debt;
  return a;
}

/* ETH at `price` from step `from` on. */
static void set_price(world *w, int from, double price) {
  for (int64_t k = from; k <= w->cfg.simulation.steps; k++)
    w->x[k] = log(price);
}

static double metric(const world *w, int m) { return w->metrics[m]; }

static void run(world *w) {
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&w->cfg, &w->book, &sc, &err), SCH_OK, "%s",
               err.msg);
  sch_cascade_ws *ws = sch_cascade_ws_create(&sc.market);
  cr_assert_not_null(ws);
  sch_cascade_run(&sc.market, sc.paths.n_risky, w->x, 1, ws, w->metrics, NULL);
  sch_cascade_ws_free(ws);
  sch_scenario_free(&sc);
}

/* Constant product: pool re-centred at M holds D/M units and D USD. */
static double cp_out(double depth, double fee, double m, double q) {
  double x = depth / m, y = depth, q_in = q * (1 - fee);
  return y * q_in / (x + q_in);
}

static bool close_to(double got, double want) {
  return fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want));
}

/* Equal to 9 significant digits (or 1e-9 absolute near zero). */
#define EXPECT_CLOSE(a, b)                                                     \
  cr_expect(close_to((a), (b)), "%s = %.12g, want %.12g", #a, (double)(a),     \
            (double)(b))

/* 10 ETH against 15000 USDC (HF 1.0667); ETH falls to 1850 (HF 0.9867):
 * close factor 0.5, one constant-product sale. */
Test(model, one_liquidation_constant_product) {
  world w;
  base_world(&w, 2);
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1850);
  run(&w);
  double repaid = fmin(0.5 * 15000, 10 * 1850 / 1.05);
  double seized = repaid * 1.05 / 1850;
  double gas = 5e5 * 30 * 1e-9 * 1850;
  double out = cp_out(1e6, 0.003, 1850, seized);
  EXPECT_CLOSE(repaid, 7500);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATED_VALUE), repaid);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BONUS_PAID), repaid * 0.05);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_GAS_COST), gas);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SLIPPAGE_COST), seized * 1850 - out);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATOR_PROFIT), out - repaid - gas);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_CASCADE_DEPTH), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_ORACLE_UPDATES), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BAD_DEBT), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SKIPPED_UNPROFITABLE), 0);
  /* the sale's impact: M = S exp(-V/L), V = q * M(before) */
  double m_after = 1850 * exp(-seized * 1850 / 1e9);
  double m_step2 = 1850 * exp(-seized * 1850 / 1e9 * exp2(-60.0 / 1800));
  EXPECT_CLOSE(metric(&w, SCH_METRIC_MIN_PRICE_RATIO + ETH),
               fmin(m_after, m_step2) / 2000);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_MIN_PRICE_RATIO + USDC), 1);
  EXPECT_CLOSE(metric(&w, sch_metric_time_first_bad_debt(2)), -1);
}

/* Power venue: out = V (1 - fee) (1 - eta ((U + V) / D)^alpha). */
Test(model, one_liquidation_power_venue) {
  world w;
  base_world(&w, 1);
  w.cfg.venues[ETH].model = SCH_VENUE_POWER;
  w.cfg.venues[ETH].fee = 0;
  w.cfg.venues[ETH].eta = 0.5;
  w.cfg.venues[ETH].alpha = 1.5;
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1850);
  run(&w);
  double seized = 7500 * 1.05 / 1850, value = seized * 1850;
  double out = value * (1 - 0.5 * pow(value / 1e6, 1.5));
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SLIPPAGE_COST), value - out);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATOR_PROFIT),
               out - 7500 - 5e5 * 30e-9 * 1850);
}

/* HF 0.9067 < 0.95: the whole debt is repaid in one liquidation. */
Test(model, full_close_below_threshold) {
  world w;
  base_world(&w, 1);
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1700);
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATED_VALUE),
               fmin(15000, 10 * 1700 / 1.05));
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_UNDERWATER_DEBT), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BAD_DEBT), 0);
}

/* A $15 loan: bonus about $0.3 against $27.75 of gas. Tried every step, it
 * stays unliquidated and counts once as skipped. */
Test(model, skipped_when_gas_exceeds_profit) {
  world w;
  base_world(&w, 3);
  add_account(&w, 0.01, 15);
  set_price(&w, 1, 1850);
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SKIPPED_UNPROFITABLE), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_GAS_COST), 0);
  /* with gas free it is liquidated */
  base_world(&w, 3);
  w.cfg.liquidators.gas_units = 0;
  add_account(&w, 0.01, 15);
  set_price(&w, 1, 1850);
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SKIPPED_UNPROFITABLE), 0);
}

/* One liquidation per step: the worse account (HF 0.925) goes first. */
Test(model, liquidations_per_step_limit) {
  world w;
  base_world(&w, 1);
  w.cfg.liquidators.max_liquidations_per_step = 1;
  add_account(&w, 10, 15000); /* HF at 1850: 0.9867 */
  add_account(&w, 10, 16000); /* HF at 1850: 0.9250 -> full close */
  set_price(&w, 1, 1850);
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATED_VALUE), 16000);
  base_world(&w, 2);
  w.cfg.liquidators.max_liquidations_per_step = 1;
  add_account(&w, 10, 15000);
  add_account(&w, 10, 16000);
  set_price(&w, 1, 1850);
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 2);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATED_VALUE), 16000 + 7500);
}

/* Without flash loans, the repaid value is cut to the step's capital. */
Test(model, capital_limit_without_flash_loans) {
  world w;
  base_world(&w, 1);
  w.cfg.liquidators.flash_loans = false;
  w.cfg.liquidators.capital = 1000;
  add_account(&w, 10, 15000);
  add_account(&w, 10, 15100);
  set_price(&w, 1, 1850);
  run(&w);
  double seized = 1000 * 1.05 / 1850;
  double out = cp_out(1e6, 0.003, 1850, seized);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATED_VALUE), 1000);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATOR_PROFIT),
               out - 1000 - 5e5 * 30e-9 * 1850);
}

/* Oracle delay 180 s = 3 steps: the drop at step 1 reaches the oracle at
 * step 4, so over 3 steps the account escapes; over 4 it does not. */
Test(model, delayed_oracle_lets_account_escape) {
  world w;
  for (int steps = 3; steps <= 4; steps++) {
    base_world(&w, steps);
    w.cfg.oracles[ETH].delay_s = 180;
    add_account(&w, 10, 15000);
    set_price(&w, 1, 1850);
    run(&w);
    EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), steps == 4 ? 1 : 0);
    EXPECT_CLOSE(metric(&w, SCH_METRIC_ORACLE_UPDATES), 1);
  }
  base_world(&w, 1);
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1850);
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
}

/* Crash to 1000: all collateral seized, the rest of the debt is bad debt at
 * the oracle price, written off at t = 60 s; insurance covers part. */
Test(model, bad_debt_and_insurance) {
  world w;
  base_world(&w, 2);
  w.cfg.protocol.insurance_fund = 5000;
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1000);
  run(&w);
  double repaid = 10 * 1000 / 1.05;
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATED_VALUE), repaid);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BAD_DEBT), 15000 - repaid);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_UNDERWATER_DEBT), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SHORTFALL), 15000 - repaid);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_UNCOVERED_SHORTFALL),
               15000 - repaid - 5000);
  EXPECT_CLOSE(metric(&w, sch_metric_time_first_bad_debt(2)), 60);
}

/* Liquidation off: the loan runs to the horizon, underwater at market. */
Test(model, liquidators_disabled_underwater) {
  world w;
  base_world(&w, 2);
  w.cfg.liquidators.enabled = false;
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1000);
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SKIPPED_UNPROFITABLE), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_CASCADE_DEPTH), 0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_UNDERWATER_DEBT), 15000 - 10 * 1000);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SHORTFALL), 5000);
}

/* A thin market (L = 1e6): the first sale moves M by 0.79%, the oracle
 * (delay 0) sees it, and a second round liquidates an account that was safe
 * at the start of the step (HF 1.0034 -> 0.9955): cascade depth 2. */
Test(model, impact_cascade_second_round) {
  world w;
  base_world(&w, 1);
  w.cfg.venues[ETH].market_depth = 1e6;
  add_account(&w, 10, 15000);
  add_account(&w, 10, 14750);
  set_price(&w, 1, 1850);
  run(&w);
  double seized = 7500 * 1.05 / 1850;
  double m1 = 1850 * exp(-seized * 1850 / 1e6);
  cr_assert(10 * m1 * 0.8 / 14750 < 1.0 && 10 * 1850 * 0.8 / 14750 >= 1.0);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 2);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_CASCADE_DEPTH), 2);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATED_VALUE), 7500 + 0.5 * 14750);
  /* with a deep market there is one round and one liquidation */
  base_world(&w, 1);
  add_account(&w, 10, 15000);
  add_account(&w, 10, 14750);
  set_price(&w, 1, 1850);
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATIONS), 1);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_CASCADE_DEPTH), 1);
}

/* Gas: price = min(max, g0 exp(beta DD)), DD the drawdown of M_gas over the
 * window. ETH falls 1850 at step 1: DD = ln(2000/1850). */
Test(model, gas_price_follows_drawdown) {
  world w;
  base_world(&w, 1);
  w.cfg.liquidators.gas_beta = 5;
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1850);
  run(&w);
  double gwei = fmin(1000, 30 * exp(5 * log(2000.0 / 1850.0)));
  EXPECT_CLOSE(metric(&w, SCH_METRIC_GAS_COST), 5e5 * gwei * 1e-9 * 1850);
}

/* Heartbeat: a flat price is still observed every hour (60 steps). */
Test(model, heartbeat_observations) {
  world w;
  base_world(&w, 8);
  w.cfg.oracles[ETH].heartbeat_s = 120;
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_ORACLE_UPDATES), 4); /* 2,4,6,8 */
}

/* Morpho-style incentive: LIF = min(1.15, 1 / (1 - 0.3 (1 - LLTV))) and full
 * liquidation at any HF < 1. LT 0.8: LIF = 1/0.94. At HF 0.9867 (above the
 * fixed model's full-close line) the whole debt is repaid. */
Test(model, morpho_incentive_full_liquidation) {
  world w;
  base_world(&w, 1);
  w.cfg.protocol.incentive = SCH_INCENTIVE_MORPHO;
  add_account(&w, 10, 15000);
  set_price(&w, 1, 1850);
  run(&w);
  double lif = 1.0 / (1.0 - 0.3 * (1.0 - 0.8));
  double repaid = fmin(15000, 10 * 1850 / lif);
  EXPECT_CLOSE(repaid, 15000);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATED_VALUE), repaid);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BONUS_PAID), repaid * (lif - 1));
  double seized = repaid * lif / 1850;
  EXPECT_CLOSE(metric(&w, SCH_METRIC_SLIPPAGE_COST),
               seized * 1850 - cp_out(1e6, 0.003, 1850, seized));
}

/* A low LLTV hits the 1.15 cap: LT 0.4 would give 1/0.82 = 1.22. */
Test(model, morpho_incentive_cap) {
  world w;
  base_world(&w, 1);
  w.cfg.protocol.incentive = SCH_INCENTIVE_MORPHO;
  w.cfg.protocol.assets[ETH].liquidation_threshold = 0.4;
  add_account(&w, 10, 7500); /* HF at 1850: 0.987 */
  set_price(&w, 1, 1850);
  run(&w);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_BONUS_PAID),
               metric(&w, SCH_METRIC_LIQUIDATED_VALUE) * 0.15);
  EXPECT_CLOSE(metric(&w, SCH_METRIC_LIQUIDATED_VALUE), 7500);
}
