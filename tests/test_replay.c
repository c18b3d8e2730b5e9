/* Scenario replay and stress shocks (docs/model.md "Replay and stress"): a
 * hand-computed liquidation on a replayed crash, its equality with a
 * shocked flat path, the block kernel against the reference with replay and
 * shocks, and every bad replay file or stress entry. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cascade.h"
#include "paths.h"
#include "scenario.h"

#define ETH 0
#define USDC 1
#define STEPS 120 /* 2 h at 60 s */

/* A file under /tmp holding `text`; its name is written to `path`. */
static void write_temp(char path[64], const char *text) {
  strcpy(path, "/tmp/schelling-replay-XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  size_t n = strlen(text);
  cr_assert_eq(write(fd, text, n), (ssize_t)n);
  close(fd);
}

/* ETH (risky, 3000) and USDC (stable), as tests/test_model.c: gas 500k
 * units at 30 gwei (beta 0), constant product 1e6 deep, fee 0.3%. */
static void base_config(sch_config *c) {
  memset(c, 0, sizeof *c);
  strcpy(c->source, "test");
  c->simulation = (sch_simulation_spec){.paths = 1,
                                        .horizon_s = 60.0 * STEPS,
                                        .step_s = 60.0,
                                        .steps = STEPS,
                                        .seed = 1};
  c->n_assets = 2;
  c->assets[ETH] = (sch_asset_spec){
      .name = "ETH", .price = 3000, .vol = 0.5, .jump_beta = 1};
  c->assets[USDC] =
      (sch_asset_spec){.name = "USDC", .price = 1, .stable = true};
  c->correlation[0][0] = c->correlation[1][1] = 1.0;
  c->venues[ETH] = (sch_venue_spec){.model = SCH_VENUE_CONSTANT_PRODUCT,
                                    .depth = 1e6,
                                    .fee = 0.003,
                                    .market_depth = 1e9,
                                    .recovery_half_life_s = 1800};
  c->oracles[ETH] = (sch_oracle_spec){0.005, 3600, 0};
  c->protocol.assets[ETH] = (sch_protocol_asset){true, 0.80, 0.05};
  c->protocol.assets[USDC] = (sch_protocol_asset){true, 0.85, 0.04};
  c->protocol.close_factor = 0.5;
  c->protocol.full_close_below_hf = 0.95;
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
}

/* One account: 10 ETH against 18000 USDC (HF 1.2 at 3000). */
typedef struct one_account {
  double collateral[2], debt[2];
  sch_loanbook book;
} one_account;

static void one_account_book(one_account *b) {
  *b = (one_account){.collateral = {10, 0}, .debt = {0, 18000}};
  b->book = (sch_loanbook){.n_accounts = 1,
                           .n_assets = 2,
                           .collateral = b->collateral,
                           .debt = b->debt};
}

/* Path 0 of the config's scenario: its log prices and its metrics. */
static void run_path(const sch_config *c, double *x, double *metrics) {
  one_account b;
  one_account_book(&b);
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(c, &b.book, &sc, &err), SCH_OK, "%s",
               err.msg);
  sch_path_generate(&sc.paths, 0, x);
  sch_cascade_ws *ws = sch_cascade_ws_create(&sc.market);
  cr_assert_not_null(ws);
  sch_cascade_run(&sc.market, sc.paths.n_risky, x, 1, ws, metrics, NULL);
  sch_cascade_ws_free(ws);
  sch_scenario_free(&sc);
}

static double cp_out(double depth, double fee, double m, double q) {
  double x = depth / m, y = depth, q_in = q * (1 - fee);
  return y * q_in / (x + q_in);
}

#define EXPECT_CLOSE(a, b)                                                     \
  cr_expect(fabs((double)(a) - (b)) <= 1e-9 * fmax(1.0, fabs((double)(b))),    \
            "%s = %.12g, want %.12g", #a, (double)(a), (double)(b))

/* ETH 3000 -> 2100 at 1h: HF 0.84 * 10 * 2100 / 18000 = 0.933 < 0.95, so the
 * whole debt is repaid at step 60: R = min(18000, 10 * 2100 / 1.05) = 18000,
 * q = R * 1.05 / 2100 = 9 ETH sold into the pool re-centred at 2100. */
Test(replay, hand_computed_crash) {
  char csv[64];
  write_temp(csv, "time,ETH\n0,3000\n1h,2100\n");
  sch_config c;
  base_config(&c);
  strcpy(c.simulation.replay_file, csv);
  double x[STEPS + 1], m[64];
  run_path(&c, x, m);
  unlink(csv);
  cr_expect_eq(x[59], log(3000.0));
  cr_expect_eq(x[60], log(3000.0) + log(2100.0 / 3000.0));
  double repaid = 18000, seized = repaid * 1.05 / 2100;
  double gas = 5e5 * 30 * 1e-9 * 2100;
  double out = cp_out(1e6, 0.003, 2100, seized);
  EXPECT_CLOSE(seized, 9);
  EXPECT_CLOSE(m[SCH_METRIC_LIQUIDATIONS], 1);
  EXPECT_CLOSE(m[SCH_METRIC_LIQUIDATED_VALUE], repaid);
  EXPECT_CLOSE(m[SCH_METRIC_BONUS_PAID], repaid * 0.05);
  EXPECT_CLOSE(m[SCH_METRIC_GAS_COST], gas);
  EXPECT_CLOSE(m[SCH_METRIC_SLIPPAGE_COST], seized * 2100 - out);
  EXPECT_CLOSE(m[SCH_METRIC_LIQUIDATOR_PROFIT], out - repaid - gas);
  EXPECT_CLOSE(m[SCH_METRIC_BAD_DEBT], 0);
  EXPECT_CLOSE(m[SCH_METRIC_UNDERWATER_DEBT], 0);
}

/* The same crash as a stress shock on a flat simulated path (vol 0; a tiny
 * jump rate keeps ETH risky and never jumps in 2 h): the same log prices
 * and the same metrics, bit for bit. */
Test(replay, equals_flat_path_with_shock) {
  char csv[64];
  write_temp(csv, "time,ETH\n0,3000\n3600,2100\n");
  sch_config replayed, shocked;
  base_config(&replayed);
  strcpy(replayed.simulation.replay_file, csv);
  base_config(&shocked);
  shocked.assets[ETH].vol = 0;
  shocked.assets[ETH].jumps.rate = 1e-9;
  shocked.n_stress = 1;
  shocked.stress[0] = (sch_stress_spec){ETH, 3600, 0.3};
  double xr[STEPS + 1], xs[STEPS + 1], mr[64], ms[64];
  run_path(&replayed, xr, mr);
  run_path(&shocked, xs, ms);
  unlink(csv);
  cr_assert(memcmp(xr, xs, sizeof xr) == 0);
  int n = sch_metric_count(2);
  for (int i = 0; i < n; i++)
    cr_expect(memcmp(&mr[i], &ms[i], sizeof(double)) == 0,
              "metric %d: %.17g vs %.17g", i, mr[i], ms[i]);
  cr_expect_eq(mr[SCH_METRIC_LIQUIDATIONS], 1);
}

/* Shocks stack; a shock between grid points starts at the next step. */
Test(replay, shocks_stack_from_the_next_step) {
  sch_config c;
  base_config(&c);
  c.assets[ETH].vol = 0;
  c.assets[ETH].jumps.rate = 1e-9;
  c.n_stress = 2;
  c.stress[0] = (sch_stress_spec){ETH, 90, 0.1};  /* step 2 */
  c.stress[1] = (sch_stress_spec){ETH, 120, 0.2}; /* step 2 */
  double x[STEPS + 1], m[64];
  run_path(&c, x, m);
  cr_expect_eq(x[1], log(3000.0));
  cr_expect_eq(x[2], log(3000.0) + log(0.9) + log(0.8));
  cr_expect_eq(x[STEPS], x[2]);
}

/* Block kernel against the reference, bit for bit, with shocks on a
 * simulated model and with a three-scenario replay (lanes take scenarios
 * p mod 3). */
static void compare_block(const sch_config *c) {
  sch_loanbook book = {.n_assets = c->n_assets};
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(c, &book, &sc, &err), SCH_OK, "%s", err.msg);
  sch_path_ws *ws = sch_path_ws_create(&sc.paths);
  const int64_t row = (sc.paths.n_steps + 1) * sc.paths.n_risky;
  double *block = malloc((size_t)row * SCH_LANES * sizeof(double));
  double *ref = malloc((size_t)row * sizeof(double));
  cr_assert(ws && block && ref);
  for (uint64_t first = 0; first < 3 * SCH_LANES; first += SCH_LANES) {
    sch_path_generate_block(&sc.paths, first, ws, block);
    for (int l = 0; l < SCH_LANES; l++) {
      sch_path_generate(&sc.paths, first + (uint64_t)l, ref);
      for (int64_t e = 0; e < row; e++)
        cr_assert(memcmp(&ref[e], &block[e * SCH_LANES + l], 8) == 0,
                  "path %llu entry %lld",
                  (unsigned long long)(first + (uint64_t)l), (long long)e);
    }
  }
  free(block);
  free(ref);
  sch_path_ws_free(ws);
  sch_scenario_free(&sc);
}

static void two_risky(sch_config *c) {
  base_config(c);
  c->n_assets = 3;
  c->assets[2] = c->assets[USDC];
  c->assets[USDC] = (sch_asset_spec){.name = "WBTC",
                                     .price = 60000,
                                     .vol = 0.6,
                                     .jump_beta = 1,
                                     .jumps = {300, -0.03, 0.02}};
  c->correlation[1][1] = c->correlation[2][2] = 1.0;
  c->correlation[0][1] = c->correlation[1][0] = 0.8;
  c->n_stress = 3;
  c->stress[0] = (sch_stress_spec){0, 1800, 0.3};
  c->stress[1] = (sch_stress_spec){1, 1830, 0.25};
  c->stress[2] = (sch_stress_spec){0, 3600, 0.1};
}

Test(replay, block_equals_reference_with_shocks) {
  sch_config c;
  two_risky(&c);
  compare_block(&c);
}

Test(replay, block_equals_reference_with_replay) {
  char csv[64];
  write_temp(csv, "scenario,time,ETH,WBTC\n"
                  "a,0,3000,60000\na,10m,2900,\na,1h,2000,50000\n"
                  "b,0,3100,61000\nb,30s,2500,59000\n"
                  "c,0,3000,60000\nc,3h,1,1\n");
  sch_config c;
  two_risky(&c);
  strcpy(c.simulation.replay_file, csv);
  compare_block(&c);
  unlink(csv);
}

/* ---- the loader ---------------------------------------------------------- */

static const char yaml_head[] =
    "simulation: {horizon: 2h, step: 60s%s}\n"
    "assets:\n"
    "  - {name: ETH, price: 3000, vol: 0.5}\n"
    "  - {name: USDC, price: 1}\n"
    "venues: {ETH: {model: constant_product, depth: 1e6, market_depth: 1e9,\n"
    "               recovery_half_life: 30m}}\n"
    "oracles: {ETH: {}}\n"
    "protocol: {assets: {ETH: {liquidation_threshold: 0.8,\n"
    "                          liquidation_bonus: 0.05}}}\n"
    "loanbook: {file: book.csv}\n"
    "%s";

static sch_status load(const char *sim_extra, const char *tail, sch_config *cfg,
                       sch_error *err) {
  char text[4096];
  snprintf(text, sizeof text, yaml_head, sim_extra, tail);
  return sch_config_parse(text, "cfg.yaml", "/tmp", NULL, 0, cfg, err);
}

/* A replay file with `csv` must fail at `where` (":line:column:"). */
static void expect_bad_csv(const char *csv, const char *where) {
  char path[64], extra[128], want[128];
  write_temp(path, csv);
  snprintf(extra, sizeof extra, ", replay: {file: %s}", path);
  sch_config cfg;
  sch_error err = {{0}};
  sch_status st = load(extra, "", &cfg, &err);
  unlink(path);
  snprintf(want, sizeof want, "%s%s", path, where);
  cr_expect_eq(st, SCH_ERR_INPUT, "%s: accepted", csv);
  cr_expect(strncmp(err.msg, want, strlen(want)) == 0 && !strchr(err.msg, '\n'),
            "%s: got '%s', want '%s...'", csv, err.msg, want);
}

Test(replay, bad_files) {
  expect_bad_csv("time,ETH\n0,abc\n", ":2:3: malformed price");
  expect_bad_csv("time,ETH\n0,3000\n60,2900\n60,2800\n", ":4:1: time 60");
  expect_bad_csv("time,ETH\n0,3000\n90s,2900\n1m,2800\n", ":4:1: time 1m");
  expect_bad_csv("time,ETH\n0,3000\n60,-5\n", ":3:4: price -5");
  expect_bad_csv("time,ETH\n0,3000\n60,0\n", ":3:4: price 0");
  expect_bad_csv("time,ETH\n0,3000\n60,nan\n", ":3:4: malformed price");
  expect_bad_csv("time,ETH,DOGE\n0,3000,1\n", ":1:10: unknown asset column");
  expect_bad_csv("time,ETH,USDC\n0,3000,1\n", ":1:10: USDC is stable");
  expect_bad_csv("time,ETH,ETH\n0,3000,1\n", ":1:10: duplicate column");
  expect_bad_csv("time\n0\n", ":1:5: no column for risky asset ETH");
  expect_bad_csv("when,ETH\n0,3000\n", ":1:1: the header must start");
  expect_bad_csv("time,ETH\n60,3000\n", ":2:1: scenario '' starts at time 60");
  expect_bad_csv("time,ETH\n0,\n", ":2:3: missing ETH price at time 0");
  expect_bad_csv("time,ETH\n1x,3000\n", ":2:1: malformed time");
  expect_bad_csv("time,ETH\n-1,3000\n", ":2:1: negative time");
  expect_bad_csv("time,ETH\n0,3000,5\n", ":2:8: expected 2 fields");
  expect_bad_csv("time,ETH\n0\n", ":2:2: expected 2 fields");
  expect_bad_csv("", ":1:1: empty replay file");
  expect_bad_csv("# only a comment\n\n", ":2:1: empty replay file");
  expect_bad_csv("time,ETH\n", ":2:1: no price rows");
  expect_bad_csv("scenario,time,ETH\na,0,1\nb,0,1\na,0,1\n",
                 ":4:1: scenario 'a' appears again");
  expect_bad_csv("scenario,time,ETH\n,0,1\n", ":2:1: empty scenario id");
}

/* BOM and CRLF are accepted; paths becomes the number of scenarios. */
Test(replay, accepted_files) {
  char path[64], extra[128];
  write_temp(path, "\xEF\xBB\xBFscenario,time,ETH\r\n# comment\r\n"
                   "x,0,3000\r\nx,1h,2100\r\ny,0,3000\r\n\r\n");
  snprintf(extra, sizeof extra, ", paths: 5, replay: {file: %s}", path);
  sch_config cfg;
  sch_error err = {{0}};
  cr_assert_eq(load(extra, "", &cfg, &err), SCH_OK, "%s", err.msg);
  cr_expect_eq(cfg.simulation.paths, 2);
  cr_expect_str_eq(cfg.simulation.replay_file, path);
  sch_config_free(&cfg);
  unlink(path);
}

static void expect_bad_stress(const char *stress, const char *where) {
  sch_config cfg;
  sch_error err = {{0}};
  char tail[512];
  snprintf(tail, sizeof tail, "stress: %s\n", stress);
  cr_expect_eq(load("", tail, &cfg, &err), SCH_ERR_INPUT, "%s: accepted",
               stress);
  cr_expect(strncmp(err.msg, where, strlen(where)) == 0, "%s: got '%s'", stress,
            err.msg);
}

Test(replay, bad_stress_entries) {
  expect_bad_stress("[{asset: ETH, time: 1h, drop: 0}]", "cfg.yaml:11:39:");
  expect_bad_stress("[{asset: ETH, time: 1h, drop: 1}]", "cfg.yaml:11:39:");
  expect_bad_stress("[{asset: ETH, time: 1h, drop: -0.1}]", "cfg.yaml:11:39:");
  expect_bad_stress("[{asset: ETH, time: 0s, drop: 0.3}]", "cfg.yaml:11:29:");
  expect_bad_stress("[{asset: ETH, time: 3h, drop: 0.3}]", "cfg.yaml:11:29:");
  expect_bad_stress("[{asset: BTC, time: 1h, drop: 0.3}]", "cfg.yaml:11:18:");
  expect_bad_stress("[{asset: USDC, time: 1h, drop: 0.3}]",
                    "cfg.yaml:11:18: stress[0].asset: USDC is stable");
  expect_bad_stress("[{asset: ETH, time: 1h}]", "cfg.yaml:11:10: missing key "
                                                "'drop' in stress[0]");
  expect_bad_stress("[{asset: ETH, time: 1h, drop: 0.3, when: 2h}]",
                    "cfg.yaml:11:44: unknown key 'when'");
  expect_bad_stress("{asset: ETH}", "cfg.yaml:11:9: stress must be a list");
  expect_bad_stress("[ETH]", "cfg.yaml:11:10: stress[0] must be a mapping");
}

/* The resolved YAML reads back to the same replay and shocks. */
Test(replay, resolved_round_trip) {
  char path[64], extra[128];
  write_temp(path, "time,ETH\n0,3000\n1h,2100\n");
  snprintf(extra, sizeof extra, ", replay: {file: %s}", path);
  sch_config a, b;
  sch_error err = {{0}};
  cr_assert_eq(load(extra,
                    "stress: [{asset: ETH, time: 90m, drop: 0.3},\n"
                    "         {asset: ETH, time: 2h, drop: 0.1}]\n",
                    &a, &err),
               SCH_OK, "%s", err.msg);
  cr_assert_eq(
      sch_config_parse(a.resolved_yaml, "resolved", "/", NULL, 0, &b, &err),
      SCH_OK, "%s", err.msg);
  cr_expect_str_eq(a.resolved_yaml, b.resolved_yaml);
  cr_expect_eq(b.n_stress, 2);
  cr_expect_eq(b.stress[0].time_s, 5400);
  cr_expect_eq(b.stress[1].drop, 0.1);
  cr_expect_str_eq(b.simulation.replay_file, path);
  cr_expect_eq(b.simulation.paths, 1);
  sch_config_free(&a);
  sch_config_free(&b);
  unlink(path);
}

/* The example runs end to end, as a user would run it. */
Test(replay, example_config_runs) {
  const char *bin = getenv("SCHELLING_BIN");
  const char *root = getenv("SCHELLING_SOURCE_ROOT");
  cr_assert(bin && root, "run through meson test");
  char out[64], cmd[2048];
  write_temp(out, "");
  snprintf(cmd, sizeof cmd,
           "'%s' run '%s/configs/replay-crash.yaml' -o '%s' --force --quiet "
           ">/dev/null",
           bin, root, out);
  cr_expect_eq(system(cmd), 0, "%s", cmd);
  unlink(out);
}
