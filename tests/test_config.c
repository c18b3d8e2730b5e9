/* The configuration loader: defaults, syntax, overrides, every rejection. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schelling/config.h"

/* A small valid scenario; the bad-input tests replace one line of it, so the
 * line numbers below are part of the expected messages. */
static const char *const base_lines[] = {
    "simulation:",                                                    /* 1 */
    "  horizon: 1h",                                                  /* 2 */
    "  step: 60s",                                                    /* 3 */
    "assets:",                                                        /* 4 */
    "  - name: ETH",                                                  /* 5 */
    "    price: 3000",                                                /* 6 */
    "    vol: 0.8",                                                   /* 7 */
    "  - name: USDC",                                                 /* 8 */
    "    price: 1",                                                   /* 9 */
    "venues:",                                                        /* 10 */
    "  ETH:",                                                         /* 11 */
    "    model: constant_product",                                    /* 12 */
    "    depth: 1e8",                                                 /* 13 */
    "    market_depth: 5e9",                                          /* 14 */
    "    recovery_half_life: 30m",                                    /* 15 */
    "oracles:",                                                       /* 16 */
    "  ETH: {}",                                                      /* 17 */
    "protocol:",                                                      /* 18 */
    "  assets:",                                                      /* 19 */
    "    ETH: {liquidation_threshold: 0.8, liquidation_bonus: 0.05}", /* 20 */
    "loanbook:",                                                      /* 21 */
    "  generate:",                                                    /* 22 */
    "    accounts: 10",                                               /* 23 */
    "    total_debt: 1e6",                                            /* 24 */
    "    size_sigma: 1",                                              /* 25 */
    "    health: {min: 1.1, median: 1.5, max: 3, sigma: 0.5}",        /* 26 */
    "    mix:",                                                       /* 27 */
    "      - {collateral: [ETH], debt: USDC, weight: 1}",             /* 28 */
};
#define BASE_LINES (sizeof base_lines / sizeof *base_lines)

/* The base with line `line` (1-based) replaced by `text`; 0 appends it. */
static void build(char *buf, size_t size, size_t line, const char *text) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 1; i <= BASE_LINES; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s\n",
                             i == line ? text : base_lines[i - 1]);
  if (line == 0)
    snprintf(buf + used, size - used, "%s\n", text);
}

static sch_status parse(const char *text, const char *const *ov, size_t n,
                        sch_config *cfg, sch_error *err) {
  sch_set_quiet(true);
  return sch_config_parse(text, "bad.yaml", "/data/run", ov, n, cfg, err);
}

/* Parsing must fail with SCH_ERR_INPUT and a one-line message holding every
 * fragment; a NULL fragment ends the list. */
static void expect_failure_text(const char *text, const char *const *ov,
                                size_t n, const char *const *fragments) {
  sch_config cfg;
  sch_error err = {{0}};
  sch_status st = parse(text, ov, n, &cfg, &err);
  cr_assert_eq(st, SCH_ERR_INPUT, "status %d for:\n%s", st, text);
  cr_expect_null(strchr(err.msg, '\n'), "multi-line message: %s", err.msg);
  cr_expect_null(cfg.resolved_yaml);
  for (size_t i = 0; fragments[i]; i++)
    cr_expect(strstr(err.msg, fragments[i]) != NULL,
              "message \"%s\" lacks \"%s\"", err.msg, fragments[i]);
}

#define EXPECT_FAIL(text, ...)                                                 \
  expect_failure_text((text), NULL, 0, (const char *const[]){__VA_ARGS__, NULL})

/* Replace one line of the base and expect failure. */
#define EXPECT_LINE_FAIL(line, replacement, ...)                               \
  do {                                                                         \
    char text_[4096];                                                          \
    build(text_, sizeof text_, (line), (replacement));                         \
    EXPECT_FAIL(text_, __VA_ARGS__);                                           \
  } while (0)

#define EXPECT_OVERRIDE_FAIL(arg, ...)                                         \
  do {                                                                         \
    char text_[4096];                                                          \
    const char *ov_[] = {(arg)};                                               \
    build(text_, sizeof text_, SIZE_MAX, "");                                  \
    expect_failure_text(text_, ov_, 1,                                         \
                        (const char *const[]){__VA_ARGS__, NULL});             \
  } while (0)

static void parse_ok(const char *text, const char *const *ov, size_t n,
                     sch_config *cfg) {
  sch_error err = {{0}};
  sch_status st = parse(text, ov, n, cfg, &err);
  cr_assert_eq(st, SCH_OK, "unexpected failure: %s", err.msg);
  cr_assert_not_null(cfg->resolved_yaml);
}

static void parse_base_ok(size_t line, const char *replacement,
                          sch_config *cfg) {
  char text[4096];
  build(text, sizeof text, line, replacement);
  parse_ok(text, NULL, 0, cfg);
}

/* ------------------------------------------------------------ defaults */

Test(config, embedded_default_is_design_6b) {
  sch_config cfg;
  sch_error err = {{0}};
  cr_assert_eq(sch_config_load(NULL, NULL, 0, &cfg, &err), SCH_OK, "%s",
               err.msg);
  cr_expect_str_eq(cfg.source, "<default>");
  cr_expect_eq(cfg.n_assets, 4);
  int eth = sch_config_asset_index(&cfg, "ETH");
  int wbtc = sch_config_asset_index(&cfg, "WBTC");
  int steth = sch_config_asset_index(&cfg, "wstETH");
  int usdc = sch_config_asset_index(&cfg, "USDC");
  cr_expect_eq(eth, 0);
  cr_expect_eq(steth, 2);
  cr_expect_eq(sch_config_asset_index(&cfg, "DAI"), -1);
  cr_expect(cfg.assets[usdc].stable);
  cr_expect_not(cfg.assets[eth].stable);
  cr_expect_eq(cfg.assets[wbtc].price, 60000);
  cr_expect_eq(cfg.assets[wbtc].jump_beta, 0.8);
  cr_expect_eq(cfg.assets[eth].jumps.mean, -0.05);
  cr_expect_eq(cfg.correlation[eth][steth], 0.98);
  cr_expect_eq(cfg.correlation[steth][wbtc], 0.78);
  cr_expect_eq(cfg.systemic_jumps.mean, -0.08);
  cr_expect_eq(cfg.simulation.paths, 1000000);
  cr_expect_eq(cfg.simulation.steps, 1440);
  cr_expect_eq(cfg.simulation.horizon_s, 86400);
  cr_expect_eq(cfg.simulation.seed, 42);
  cr_expect_eq(cfg.simulation.returns, SCH_RETURNS_GAUSSIAN);
  cr_expect_eq(cfg.venues[eth].model, SCH_VENUE_CONSTANT_PRODUCT);
  cr_expect_eq(cfg.venues[eth].depth, 150e6);
  cr_expect_eq(cfg.venues[steth].market_depth, 1e9);
  cr_expect_eq(cfg.venues[wbtc].recovery_half_life_s, 1800);
  cr_expect_eq(cfg.venues[usdc].model, SCH_VENUE_NONE);
  cr_expect_eq(cfg.oracles[eth].heartbeat_s, 3600);
  cr_expect_eq(cfg.oracles[eth].deviation, 0.005);
  cr_expect_eq(cfg.protocol.assets[usdc].liquidation_threshold, 0.87);
  cr_expect_eq(cfg.protocol.assets[wbtc].liquidation_bonus, 0.065);
  cr_expect_eq(cfg.protocol.insurance_fund, 50e6);
  cr_expect_eq(cfg.liquidators.gas_asset, eth);
  cr_expect_eq(cfg.liquidators.max_rounds_per_step, 8);
  cr_expect_eq(cfg.liquidators.capital, 20e6);
  cr_expect(cfg.loanbook.generate);
  cr_expect_eq(cfg.loanbook.accounts, 10000);
  cr_expect_eq(cfg.loanbook.total_debt, 2e9);
  cr_expect_eq(cfg.loanbook.n_mix, 5);
  cr_expect_eq(cfg.loanbook.mix[3].collateral_mask, (1u << eth) | (1u << wbtc));
  cr_expect_eq(cfg.loanbook.mix[4].debt, eth);
  cr_expect_eq(cfg.output.n_levels, 3);
  cr_expect_eq(cfg.output.levels[2], 0.999);
  cr_expect_str_eq(cfg.output.file, "schelling-out.h5");
  sch_config_free(&cfg);
  sch_config_free(&cfg); /* safe twice */
  cr_expect_null(cfg.resolved_yaml);
}

Test(config, defaults_of_optional_keys) {
  sch_config cfg;
  parse_base_ok(SIZE_MAX, "", &cfg);
  cr_expect_eq(cfg.simulation.paths, 1000000);
  cr_expect_eq(cfg.simulation.seed, 42);
  cr_expect_eq(cfg.simulation.steps, 60);
  cr_expect_eq(cfg.assets[0].drift, 0);
  cr_expect_eq(cfg.assets[0].jump_beta, 1);
  cr_expect_eq(cfg.assets[0].jumps.rate, 0);
  cr_expect(cfg.assets[1].stable);
  cr_expect_eq(cfg.correlation[0][0], 1);
  cr_expect_eq(cfg.correlation[0][1], 0);
  cr_expect_eq(cfg.venues[0].fee, 0);
  cr_expect_eq(cfg.oracles[0].deviation, 0.005);
  cr_expect_eq(cfg.oracles[0].heartbeat_s, 3600);
  cr_expect_eq(cfg.oracles[0].delay_s, 0);
  cr_expect(cfg.protocol.assets[0].listed);
  cr_expect_not(cfg.protocol.assets[1].listed);
  cr_expect_eq(cfg.protocol.close_factor, 0.5);
  cr_expect_eq(cfg.protocol.full_close_below_hf, 0.95);
  cr_expect_eq(cfg.protocol.insurance_fund, 0);
  const sch_liquidator_spec *l = &cfg.liquidators;
  cr_expect(l->enabled);
  cr_expect_eq(l->gas_units, 500000);
  cr_expect_eq(l->gas_price_gwei, 30);
  cr_expect_eq(l->gas_beta, 5);
  cr_expect_eq(l->gas_price_max_gwei, 1000);
  cr_expect_eq(l->gas_window_s, 3600);
  cr_expect_eq(l->gas_asset, 0);
  cr_expect_eq(l->max_liquidations_per_step, 50);
  cr_expect_eq(l->max_rounds_per_step, 8);
  cr_expect_eq(l->capital, 20e6);
  cr_expect(l->flash_loans);
  cr_expect_eq(l->min_profit, 0);
  cr_expect_eq(cfg.loanbook.seed, 1);
  cr_expect_str_eq(cfg.output.file, "schelling-out.h5");
  cr_expect_not(cfg.output.per_path);
  cr_expect_eq(cfg.output.samples, 8);
  cr_expect_eq(cfg.output.n_levels, 3);
  sch_config_free(&cfg);
}

Test(config, gas_asset_defaults_to_first_risky) {
  sch_config cfg;
  char text[4096];
  build(text, sizeof text, 5, "  - name: DAI\n    price: 1\n  - name: ETH");
  parse_ok(text, NULL, 0, &cfg);
  cr_expect_eq(cfg.liquidators.gas_asset, 1);
  cr_expect(cfg.assets[0].stable);
  sch_config_free(&cfg);
}

/* ---------------------------------------------------- scalars, durations */

Test(config, durations) {
  static const struct {
    const char *text;
    double seconds;
  } cases[] = {{"60s", 60}, {"30m", 1800},  {"24h", 86400}, {"7d", 604800},
               {"90", 90},  {"1.5h", 5400}, {"2e3s", 2000}, {"0.5d", 43200}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char line[64];
    sch_config cfg;
    snprintf(line, sizeof line, "    recovery_half_life: %s", cases[i].text);
    parse_base_ok(15, line, &cfg);
    cr_expect_eq(cfg.venues[0].recovery_half_life_s, cases[i].seconds, "%s",
                 cases[i].text);
    sch_config_free(&cfg);
  }
}

Test(config, bad_durations) {
  EXPECT_LINE_FAIL(15, "    recovery_half_life: 10x", "bad.yaml:15:25:",
                   "venues.ETH.recovery_half_life must be a duration", "'10x'");
  EXPECT_LINE_FAIL(15, "    recovery_half_life: 1 h",
                   "bad.yaml:15:25:", "must be a duration");
  EXPECT_LINE_FAIL(15, "    recovery_half_life: h", "must be a duration");
}

Test(config, numbers_and_integers) {
  sch_config cfg;
  char text[4096];
  build(text, sizeof text, 3,
        "  step: 60s\n  paths: 1e6\n  seed: 18446744073709551615");
  parse_ok(text, NULL, 0, &cfg);
  cr_expect_eq(cfg.simulation.paths, 1000000);
  cr_expect_eq(cfg.simulation.seed, UINT64_MAX);
  sch_config_free(&cfg);
  parse_base_ok(13, "    depth: 150e6", &cfg);
  cr_expect_eq(cfg.venues[0].depth, 150e6);
  sch_config_free(&cfg);
  parse_base_ok(13, "    depth: +5e-3", &cfg);
  cr_expect_eq(cfg.venues[0].depth, 5e-3);
  sch_config_free(&cfg);
}

Test(config, wrong_types) {
  EXPECT_LINE_FAIL(7, "    vol: {a: 1}", "bad.yaml:7:10:",
                   "assets.ETH.vol must be a finite number, got a mapping");
  EXPECT_LINE_FAIL(6, "    price: abc", "bad.yaml:6:12:",
                   "assets.ETH.price must be a finite number, got 'abc'");
  EXPECT_LINE_FAIL(6, "    price: '3000'",
                   "bad.yaml:6:12:", "quoted string '3000'");
  EXPECT_LINE_FAIL(6, "    price: [1]", "got a list");
  EXPECT_LINE_FAIL(6, "    price:", "got nothing");
  EXPECT_LINE_FAIL(0, "output: {per_path: maybe}", "bad.yaml:29:20:",
                   "output.per_path must be true or false, got 'maybe'");
  EXPECT_LINE_FAIL(3, "  step: 60s\n  paths: 1.5", "bad.yaml:4:10:",
                   "simulation.paths must be a whole number, got 1.5");
  EXPECT_LINE_FAIL(3, "  step: 60s\n  seed: -1", "bad.yaml:4:9:",
                   "simulation.seed must be a whole number in [0, 2^64)");
  EXPECT_FAIL("simulation: 5\nassets: []\n",
              "bad.yaml:1:13:", "simulation must be a mapping, got '5'");
  EXPECT_LINE_FAIL(3, "  step: 60s\n  returns: cauchy",
                   "bad.yaml:4:12:", "gaussian or student_t", "'cauchy'");
  EXPECT_LINE_FAIL(12, "    model: curve",
                   "bad.yaml:12:12:", "constant_product or power", "'curve'");
}

Test(config, booleans) {
  static const char *const yes[] = {"true", "yes", "True", "YES"};
  static const char *const no[] = {"false", "no", "False", "NO"};
  for (size_t i = 0; i < 4; i++) {
    char line[64];
    sch_config cfg;
    snprintf(line, sizeof line, "output: {per_path: %s}", yes[i]);
    parse_base_ok(0, line, &cfg);
    cr_expect(cfg.output.per_path, "%s", yes[i]);
    sch_config_free(&cfg);
    snprintf(line, sizeof line, "liquidators: {flash_loans: %s}", no[i]);
    parse_base_ok(0, line, &cfg);
    cr_expect_not(cfg.liquidators.flash_loans, "%s", no[i]);
    sch_config_free(&cfg);
  }
}

Test(config, rejects_nan_and_inf) {
  EXPECT_LINE_FAIL(7, "    vol: .nan", "bad.yaml:7:10:", "finite number");
  EXPECT_LINE_FAIL(7, "    vol: nan", "bad.yaml:7:10:", "finite number");
  EXPECT_LINE_FAIL(6, "    price: inf", "bad.yaml:6:12:", "finite number");
  EXPECT_LINE_FAIL(6, "    price: .inf", "finite number");
  EXPECT_LINE_FAIL(6, "    price: 1e999", "finite number");
  EXPECT_LINE_FAIL(6, "    price: 0x10", "finite number");
}

/* ------------------------------------------------------ keys, structure */

Test(config, unknown_key_suggests_closest) {
  EXPECT_LINE_FAIL(2, "  hoirzon: 1h", "bad.yaml:2:3:",
                   "unknown key 'hoirzon' in simulation (did you mean "
                   "'horizon'?)");
  EXPECT_LINE_FAIL(7, "    vol: 0.8\n    jump_bta: 1", "bad.yaml:8:5:",
                   "unknown key 'jump_bta' in assets[0] (did you mean "
                   "'jump_beta'?)");
  EXPECT_LINE_FAIL(0, "outptu: {}", "bad.yaml:29:1:",
                   "unknown key 'outptu' in the top level (did you mean "
                   "'output'?)");
  EXPECT_LINE_FAIL(0, "output: {zzzzzz: 1}", "bad.yaml:29:10:",
                   "unknown key 'zzzzzz' in output (known keys: file, "
                   "per_path, levels, samples)");
  /* eta belongs to the power model only */
  EXPECT_LINE_FAIL(13, "    depth: 1e8\n    eta: 0.5",
                   "bad.yaml:14:5:", "unknown key 'eta' in venues.ETH");
}

Test(config, duplicate_keys_and_assets) {
  EXPECT_LINE_FAIL(3, "  step: 60s\n  step: 30s",
                   "bad.yaml:4:3:", "duplicate key 'step' (first at line 3)");
  EXPECT_LINE_FAIL(8, "  - name: ETH",
                   "bad.yaml:8:11:", "duplicate asset name 'ETH'");
}

Test(config, missing_required_keys) {
  EXPECT_LINE_FAIL(2, "  paths: 10",
                   "bad.yaml:2:3:", "missing key 'horizon' in simulation");
  EXPECT_LINE_FAIL(6, "    drift: 0.1",
                   "bad.yaml:5:5:", "missing key 'price' in assets.ETH");
  EXPECT_LINE_FAIL(4, "asets:", "unknown key 'asets'");
  EXPECT_FAIL("simulation: {horizon: 1h, step: 60s}\n",
              "bad.yaml:1:1:", "missing section 'assets'");
}

Test(config, top_level_must_be_a_mapping) {
  EXPECT_FAIL("- 1\n- 2\n", "bad.yaml:1:1:", "top level must be a mapping",
              "got a list");
  EXPECT_FAIL("just text\n", "bad.yaml:1:1:", "top level must be a mapping");
}

Test(config, yaml_syntax_errors) {
  EXPECT_FAIL("simulation: {horizon: 1h\nassets: []\n",
              "bad.yaml:", "did not find expected ',' or '}'");
  EXPECT_FAIL("a: b: c\n", "bad.yaml:1:5:", "mapping values are not allowed");
  EXPECT_FAIL("a: 1\n---\nb: 2\n", "bad.yaml:3:1:", "only one YAML document");
  EXPECT_FAIL("a: &x [*x]\n", "bad.yaml:1:", "too deeply nested");
  EXPECT_FAIL("", "bad.yaml:1:1: empty configuration");
  EXPECT_FAIL("# only a comment\n\n   \n", "bad.yaml:1:1: empty configuration");
}

Test(config, aliases_are_expanded) {
  sch_config cfg;
  char text[4096];
  build(text, sizeof text, 17, "  ETH: &o {deviation: 0.01}");
  parse_ok(text, NULL, 0, &cfg);
  cr_expect_eq(cfg.oracles[0].deviation, 0.01);
  sch_config_free(&cfg);
}

/* sweep, sweep_baseline and size are read by sch_config_load_sweep
 * (tests/test_sweep.c); the plain loader gives the base configuration. */
Test(config, sweep_is_left_to_the_sweep_loader) {
  sch_config cfg;
  parse_base_ok(0, "sweep: {protocol.close_factor: [0.5, 1]}", &cfg);
  cr_expect_eq(cfg.protocol.close_factor, 0.5);
  sch_config_free(&cfg);
}

/* ----------------------------------------------------------- ranges */

Test(config, simulation_ranges) {
  EXPECT_LINE_FAIL(3, "  step: 60s\n  paths: 0", "bad.yaml:4:10:",
                   "simulation.paths = 0 is out of range: must be > 0");
  EXPECT_LINE_FAIL(3, "  step: 0s", "bad.yaml:3:9:",
                   "simulation.step = 0 is out of range: must be > 0");
  EXPECT_LINE_FAIL(3, "  step: 2h", "bad.yaml:3:9:",
                   "simulation.step = 7200s is longer than "
                   "simulation.horizon = 3600s");
  EXPECT_LINE_FAIL(3, "  step: 7m", "bad.yaml:2:12:",
                   "simulation.horizon = 3600s is not a whole multiple of "
                   "simulation.step = 420s");
  EXPECT_LINE_FAIL(
      3, "  step: 60s\n  returns: student_t\n  dof: 2",
      "bad.yaml:5:8:", "simulation.dof = 2 is out of range: must be > 2");
  EXPECT_LINE_FAIL(3, "  step: 60s\n  returns: student_t",
                   "bad.yaml:2:3:", "missing key 'dof' in simulation");
}

Test(config, student_t_accepted) {
  sch_config cfg;
  parse_base_ok(3, "  step: 60s\n  returns: student_t\n  dof: 4", &cfg);
  cr_expect_eq(cfg.simulation.returns, SCH_RETURNS_STUDENT_T);
  cr_expect_eq(cfg.simulation.dof, 4);
  sch_config_free(&cfg);
}

Test(config, rng_budget) {
  EXPECT_LINE_FAIL(3, "  step: 60s\n  paths: 1073741825",
                   "bad.yaml:4:10:", "simulation.paths = 1073741825", "2^30");
  EXPECT_LINE_FAIL(2, "  horizon: 5000000000m",
                   "bad.yaml:3:9:", "5000000000 steps x (1 risky assets + 1)",
                   "2^34");
}

Test(config, asset_ranges) {
  EXPECT_LINE_FAIL(7, "    vol: -0.1", "bad.yaml:7:10:",
                   "assets.ETH.vol = -0.1 is out of range: must be >= 0");
  EXPECT_LINE_FAIL(6, "    price: 0", "bad.yaml:6:12:",
                   "assets.ETH.price = 0 is out of range: must be > 0");
  EXPECT_LINE_FAIL(7, "    vol: 0.8\n    jumps: {rate: -1}", "bad.yaml:8:19:",
                   "assets.ETH.jumps.rate = -1 is out of range");
  EXPECT_LINE_FAIL(7, "    vol: 0.8\n    jumps: {rate: 1, stdev: -0.1}",
                   "assets.ETH.jumps.stdev = -0.1");
  EXPECT_LINE_FAIL(5, "  - name: E:T",
                   "bad.yaml:5:11:", "may only use letters");
}

Test(config, too_many_assets) {
  char text[8192] = "simulation: {horizon: 1h, step: 60s}\nassets:\n";
  for (int i = 0; i < SCH_MAX_ASSETS + 1; i++) {
    size_t used = strlen(text);
    snprintf(text + used, sizeof text - used, "  - {name: A%d, price: 1}\n", i);
  }
  EXPECT_FAIL(text, "bad.yaml:19:5:", "too many assets: 17, at most 16");
}

Test(config, venue_and_oracle_ranges) {
  EXPECT_LINE_FAIL(13, "    depth: 0", "bad.yaml:13:12:",
                   "venues.ETH.depth = 0 is out of range: must be > 0");
  EXPECT_LINE_FAIL(14, "    market_depth: -1",
                   "bad.yaml:14:19:", "venues.ETH.market_depth = -1",
                   "must be > 0");
  EXPECT_LINE_FAIL(15, "    recovery_half_life: 0s",
                   "bad.yaml:15:25:", "venues.ETH.recovery_half_life = 0",
                   "must be > 0");
  EXPECT_LINE_FAIL(13, "    depth: 1e8\n    fee: 1", "bad.yaml:14:10:",
                   "venues.ETH.fee = 1 is out of range: must be in [0, 1)");
  EXPECT_LINE_FAIL(17, "  ETH: {heartbeat: 0s}", "bad.yaml:17:20:",
                   "oracles.ETH.heartbeat = 0 is out of range: must be > 0");
  EXPECT_LINE_FAIL(17, "  ETH: {delay: -1s}", "bad.yaml:17:16:",
                   "oracles.ETH.delay = -1 is out of range: must be >= 0");
  EXPECT_LINE_FAIL(17, "  ETH: {deviation: -0.1}",
                   "bad.yaml:17:20:", "oracles.ETH.deviation = -0.1", ">= 0");
}

Test(config, power_venue) {
  sch_config cfg;
  parse_base_ok(12, "    model: power\n    eta: 0.5\n    alpha: 1.2", &cfg);
  cr_expect_eq(cfg.venues[0].model, SCH_VENUE_POWER);
  cr_expect_eq(cfg.venues[0].alpha, 1.2);
  cr_expect_eq(cfg.venues[0].fee, 0);
  sch_config_free(&cfg);
  EXPECT_LINE_FAIL(12, "    model: power\n    eta: 0.5",
                   "bad.yaml:12:5:", "missing key 'alpha' in venues.ETH");
  EXPECT_LINE_FAIL(12, "    model: power\n    eta: 0.5\n    alpha: 0",
                   "bad.yaml:14:12:", "venues.ETH.alpha = 0", "> 0");
  EXPECT_LINE_FAIL(12, "    fee: 0.001",
                   "bad.yaml:12:5:", "missing key 'model' in venues.ETH");
}

Test(config, risky_assets_need_venue_and_oracle) {
  EXPECT_LINE_FAIL(17, "  {}", "bad.yaml:5:5:",
                   "asset ETH is risky (vol 0.8, jump rate 0/yr) but has no "
                   "entry in oracles");
  EXPECT_LINE_FAIL(11, "  WBTC:", "bad.yaml:11:3:",
                   "unknown asset 'WBTC' (assets: ETH, USDC)");
  EXPECT_LINE_FAIL(17, "  ETH: {}\n  USDC: {}", "bad.yaml:18:3:",
                   "USDC is stable (vol 0, no jumps): it has a fixed oracle;"
                   " remove this entry");
  EXPECT_LINE_FAIL(15, "    recovery_half_life: 30m\n  USDC: {model: power}",
                   "bad.yaml:16:3:",
                   "USDC is stable (vol 0, no jumps): it is sold at its "
                   "price; remove this entry");
}

Test(config, jumps_make_an_asset_risky) {
  sch_config cfg;
  parse_base_ok(7, "    vol: 0\n    jumps: {rate: 1, mean: -0.1}", &cfg);
  cr_expect_not(cfg.assets[0].stable);
  cr_expect_eq(cfg.assets[0].jumps.mean, -0.1);
  sch_config_free(&cfg);
}

Test(config, protocol_ranges) {
  EXPECT_LINE_FAIL(20,
                   "    ETH: {liquidation_threshold: 1, liquidation_bonus: "
                   "0}",
                   "bad.yaml:20:34:",
                   "protocol.assets.ETH.liquidation_threshold = 1 is out of "
                   "range: must be in (0, 1)");
  EXPECT_LINE_FAIL(20,
                   "    ETH: {liquidation_threshold: 0, liquidation_bonus: "
                   "0}",
                   "must be in (0, 1)");
  EXPECT_LINE_FAIL(20,
                   "    ETH: {liquidation_threshold: 0.8, "
                   "liquidation_bonus: -0.01}",
                   "bad.yaml:20:58:",
                   "protocol.assets.ETH.liquidation_bonus = -0.01", ">= 0");
  EXPECT_LINE_FAIL(20, "    ETH: {liquidation_threshold: 0.8}",
                   "bad.yaml:20:10:",
                   "missing key 'liquidation_bonus' in protocol.assets.ETH");
  EXPECT_LINE_FAIL(
      20, "    BTC: {liquidation_threshold: 0.8}",
      "bad.yaml:20:5:", "protocol.assets names unknown asset 'BTC'",
      "assets: ETH, USDC)");
  EXPECT_LINE_FAIL(18, "protocol:\n  close_factor: 0", "bad.yaml:19:17:",
                   "protocol.close_factor = 0 is out of range: must be in "
                   "(0, 1]");
  EXPECT_LINE_FAIL(18, "protocol:\n  close_factor: 1.5", "must be in (0, 1]");
  EXPECT_LINE_FAIL(18, "protocol:\n  full_close_below_hf: 1.5",
                   "bad.yaml:19:24:", "protocol.full_close_below_hf = 1.5",
                   "in [0, 1]");
  EXPECT_LINE_FAIL(18, "protocol:\n  insurance_fund: -1",
                   "protocol.insurance_fund", ">= 0");
}

Test(config, close_factor_one_is_allowed) {
  sch_config cfg;
  parse_base_ok(18, "protocol:\n  close_factor: 1", &cfg);
  cr_expect_eq(cfg.protocol.close_factor, 1);
  cr_expect(cfg.protocol.assets[0].listed);
  cr_expect_not(cfg.protocol.assets[1].listed);
  sch_config_free(&cfg);
}

/* LT (1 + LB) >= 1 is legal (only a warning on stderr). */
Test(config, seizing_more_than_lt_is_a_warning) {
  sch_config cfg;
  parse_base_ok(20,
                "    ETH: {liquidation_threshold: 0.95, liquidation_bonus: "
                "0.1}",
                &cfg);
  cr_expect_eq(cfg.protocol.assets[0].liquidation_threshold, 0.95);
  cr_expect_eq(cfg.protocol.assets[0].liquidation_bonus, 0.1);
  sch_config_free(&cfg);
}

Test(config, liquidator_ranges) {
  EXPECT_LINE_FAIL(0,
                   "liquidators: {gas_price_gwei: 50, gas_price_max_gwei: "
                   "40}",
                   "bad.yaml:29:55:",
                   "liquidators.gas_price_max_gwei = 40 is out of range: "
                   "must be >= 50");
  EXPECT_LINE_FAIL(0, "liquidators: {gas_asset: DAI}", "bad.yaml:29:26:",
                   "liquidators.gas_asset names unknown asset 'DAI' (assets: "
                   "ETH, USDC)");
  EXPECT_LINE_FAIL(0, "liquidators: {gas_asset: ETX}",
                   "(did you mean 'ETH'? assets: ETH, USDC)");
  EXPECT_LINE_FAIL(0, "liquidators: {max_rounds_per_step: 0}",
                   "liquidators.max_rounds_per_step = 0", "in [1, 1e+06]");
  EXPECT_LINE_FAIL(0, "liquidators: {capital: 0}", "liquidators.capital = 0",
                   "> 0");
  EXPECT_LINE_FAIL(0, "liquidators: {gas_window: -1m}",
                   "liquidators.gas_window = -60", ">= 0");
  EXPECT_LINE_FAIL(0, "liquidators: {enabled: 1}",
                   "liquidators.enabled must be true or false, got '1'");
}

Test(config, output_ranges) {
  EXPECT_LINE_FAIL(0, "output: {levels: [0.9, 1]}", "bad.yaml:29:24:",
                   "output.levels[1] = 1 is out of range: must be in (0, 1)");
  EXPECT_LINE_FAIL(0, "output: {levels: [0]}", "output.levels[0] = 0");
  EXPECT_LINE_FAIL(0, "output: {levels: [0.99, 0.95]}", "bad.yaml:29:25:",
                   "output.levels must be strictly ascending");
  EXPECT_LINE_FAIL(0, "output: {levels: [0.9, 0.9]}", "strictly ascending");
  EXPECT_LINE_FAIL(0,
                   "output: {levels: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, "
                   "0.8, 0.9]}",
                   "bad.yaml:29:18:", "1 to 8 levels");
  EXPECT_LINE_FAIL(0, "output: {levels: []}", "1 to 8 levels");
  EXPECT_LINE_FAIL(0, "output: {samples: 1001}",
                   "bad.yaml:29:19:", "output.samples = 1001", "in [0, 1000]");
  EXPECT_LINE_FAIL(0, "output: {samples: -1}", "output.samples = -1");
}

/* ---------------------------------------------------------- correlation */

Test(config, correlation_accepted) {
  sch_config cfg;
  parse_base_ok(0, "correlation: [[1, 0.3], [0.3, 1]]", &cfg);
  cr_expect_eq(cfg.correlation[0][1], 0.3);
  cr_expect_eq(cfg.correlation[1][0], 0.3);
  sch_config_free(&cfg);
}

Test(config, correlation_shape) {
  EXPECT_LINE_FAIL(0, "correlation: 1",
                   "bad.yaml:29:14:", "correlation must be a list of 2 rows");
  EXPECT_LINE_FAIL(0, "correlation: [[1, 0]]",
                   "bad.yaml:29:14:", "list of 2 rows", "got 1");
  EXPECT_LINE_FAIL(0, "correlation:\n  - [1, 0]\n  - [0, 1, 0]",
                   "bad.yaml:31:5:",
                   "correlation row 1 must be a list of 2 numbers", "got 3");
  EXPECT_LINE_FAIL(0, "correlation: [[1, 0], 5]",
                   "bad.yaml:29:23:", "correlation row 1", "got 0");
  EXPECT_LINE_FAIL(0, "correlation: [[1, x], [0, 1]]", "bad.yaml:29:19:",
                   "correlation[0][1] must be a finite number, got 'x'");
}

Test(config, correlation_values) {
  EXPECT_LINE_FAIL(0, "correlation: [[1, 1.5], [1.5, 1]]", "bad.yaml:29:19:",
                   "correlation[0][1] = 1.5 is out of range: must be in "
                   "[-1, 1]");
  EXPECT_LINE_FAIL(0, "correlation: [[1, 0], [0, 0.9]]", "bad.yaml:29:27:",
                   "correlation[1][1] = 0.9: the diagonal must be 1");
  EXPECT_LINE_FAIL(0, "correlation: [[1, 0.5], [0.4, 1]]", "bad.yaml:29:26:",
                   "correlation is not symmetric: correlation[0][1] = 0.5 "
                   "but correlation[1][0] = 0.4");
}

Test(config, correlation_not_positive_definite) {
  /* Each pair is plausible, the triple is not: the third pivot fails. */
  char text[4096];
  build(text, sizeof text, 9,
        "    price: 1\n  - {name: WBTC, price: 1}\n"
        "correlation:\n  - [1, 0.9, -0.9]\n  - [0.9, 1, 0.9]\n"
        "  - [-0.9, 0.9, 1]");
  EXPECT_FAIL(text, "bad.yaml:11:1:",
              "correlation is not positive definite: leading minor 3 (ETH, "
              "USDC, WBTC) has a non-positive pivot");
}

/* ------------------------------------------------------------- loanbook */

Test(config, loanbook_file_resolved_against_base_dir) {
  sch_config cfg;
  char text[4096];
  build(text, sizeof text, 22, "  file: books/a.csv");
  for (int i = 23; i <= 28; i++)
    *strstr(text, base_lines[i - 1]) = '#'; /* comment the generator out */
  parse_ok(text, NULL, 0, &cfg);
  cr_expect_not(cfg.loanbook.generate);
  cr_expect_str_eq(cfg.loanbook.file, "/data/run/books/a.csv");
  sch_config_free(&cfg);
}

Test(config, loanbook_choice) {
  EXPECT_LINE_FAIL(21, "loanbook:\n  file: a.csv", "bad.yaml:22:3:",
                   "loanbook needs exactly one of file: or generate:, not "
                   "both");
  EXPECT_FAIL("simulation: {horizon: 1h, step: 60s}\n"
              "assets: [{name: USDC, price: 1}]\nloanbook: {}\n",
              "bad.yaml:3:11:", "loanbook needs one of file:");
  EXPECT_FAIL("simulation: {horizon: 1h, step: 60s}\n"
              "assets: [{name: USDC, price: 1}]\n",
              "bad.yaml:1:1:", "missing section 'loanbook'");
}

Test(config, generator_ranges) {
  EXPECT_LINE_FAIL(23, "    accounts: 0",
                   "bad.yaml:23:15:", "loanbook.generate.accounts = 0",
                   "in (0, 1e+09]");
  EXPECT_LINE_FAIL(24, "    total_debt: 0",
                   "bad.yaml:24:17:", "loanbook.generate.total_debt = 0",
                   "> 0");
  EXPECT_LINE_FAIL(25, "    size_sigma: -1", "loanbook.generate.size_sigma",
                   ">= 0");
  EXPECT_LINE_FAIL(26,
                   "    health: {min: 1.1, median: 1.05, max: 3, sigma: "
                   "0.5}",
                   "bad.yaml:26:13:",
                   "loanbook.generate.health needs 0 < min < median < max, "
                   "got min 1.1, median 1.05, max 3");
  EXPECT_LINE_FAIL(26,
                   "    health: {min: 0.9, median: 0.95, max: 3, sigma: 0.5}",
                   "loanbook.generate.health.median = 0.95", "> 1");
  EXPECT_LINE_FAIL(26, "    health: {min: 1.1, median: 1.5, max: 3, sigma: 0}",
                   "loanbook.generate.health.sigma = 0", "> 0");
  EXPECT_LINE_FAIL(26, "    health: {min: 1.1, median: 1.5, max: 3}",
                   "missing key 'sigma' in loanbook.generate.health");
  EXPECT_OVERRIDE_FAIL("loanbook.generate.mix=[]",
                       "--set loanbook.generate.mix=[]: "
                       "loanbook.generate.mix must be a list of 1 to 16");
}

Test(config, generator_mix) {
  EXPECT_LINE_FAIL(28, "      - {collateral: [ETH], debt: ETH, weight: 1}",
                   "bad.yaml:28:35:",
                   "loanbook.generate.mix[0]: ETH cannot be both debt and "
                   "collateral");
  EXPECT_LINE_FAIL(
      28,
      "      - {collateral: [ETH, ETH], debt: USDC, weight: "
      "1}",
      "bad.yaml:28:28:", "loanbook.generate.mix[0].collateral lists ETH twice");
  EXPECT_LINE_FAIL(28, "      - {collateral: [], debt: USDC, weight: 1}",
                   "bad.yaml:28:22:", "non-empty list of asset names");
  EXPECT_LINE_FAIL(28, "      - {collateral: [WETH], debt: USDC, weight: 1}",
                   "bad.yaml:28:23:",
                   "loanbook.generate.mix[0].collateral names unknown asset "
                   "'WETH'",
                   "assets: ETH, USDC");
  EXPECT_LINE_FAIL(28, "      - {collateral: [ETH], debt: DAI, weight: 1}",
                   "bad.yaml:28:35:",
                   "loanbook.generate.mix[0].debt names unknown asset 'DAI'");
  EXPECT_LINE_FAIL(28, "      - {collateral: [ETH], debt: USDC, weight: 0}",
                   "bad.yaml:28:49:", "loanbook.generate.mix[0].weight = 0");
}

Test(config, generator_mask) {
  sch_config cfg;
  char text[4096];
  build(text, sizeof text, 9,
        "    price: 1\n  - {name: WBTC, price: 6e4, vol: 0.5}");
  /* WBTC gets its venue and oracle through overrides */
  const char *ov[] = {
      "venues.WBTC={model: constant_product, depth: 1e7, market_depth: 1e9, "
      "recovery_half_life: 1h}",
      "oracles.WBTC={}", "loanbook.generate.mix.0.collateral=[WBTC, ETH]"};
  parse_ok(text, ov, 3, &cfg);
  cr_expect_eq(cfg.loanbook.mix[0].collateral_mask, (1u << 0) | (1u << 2));
  cr_expect_eq(cfg.loanbook.mix[0].debt, 1);
  sch_config_free(&cfg);
}

/* ------------------------------------------------------------ overrides */

Test(config, overrides_apply) {
  sch_config cfg;
  const char *ov[] = {
      "simulation.paths=5000",     /* scalar */
      "assets.0.price=2500",       /* list index */
      "assets.ETH.vol=0.9",        /* asset by name */
      "output.levels=[0.9, 0.99]", /* flow list */
      "systemic_jumps.rate=3",     /* created mapping */
      "protocol.assets.USDC={liquidation_threshold: 0.9, "
      "liquidation_bonus: 0.04}",
      "venues.ETH={model: power, depth: 1e8, eta: 0.5, alpha: 1.2, "
      "market_depth: 5e9, recovery_half_life: 30m}",
  };
  sch_config def;
  sch_error err = {{0}};
  cr_assert_eq(sch_config_load(NULL, ov, 4, &def, &err), SCH_OK, "%s", err.msg);
  cr_expect_eq(def.simulation.paths, 5000);
  cr_expect_eq(def.assets[0].price, 2500);
  cr_expect_eq(def.assets[0].vol, 0.9);
  cr_expect_eq(def.output.n_levels, 2);
  cr_expect_eq(def.output.levels[1], 0.99);
  sch_config_free(&def);

  char text[4096];
  build(text, sizeof text, SIZE_MAX, "");
  parse_ok(text, ov, sizeof ov / sizeof *ov, &cfg);
  cr_expect_eq(cfg.systemic_jumps.rate, 3);
  cr_expect(cfg.protocol.assets[1].listed);
  cr_expect_eq(cfg.protocol.assets[1].liquidation_threshold, 0.9);
  cr_expect_eq(cfg.venues[0].model, SCH_VENUE_POWER);
  cr_expect_eq(cfg.venues[0].eta, 0.5);
  cr_expect_eq(cfg.venues[0].recovery_half_life_s, 1800);
  sch_config_free(&cfg);
}

Test(config, later_override_wins) {
  sch_config cfg;
  char text[4096];
  const char *ov[] = {"simulation.seed=7", "simulation.seed=9"};
  build(text, sizeof text, SIZE_MAX, "");
  parse_ok(text, ov, 2, &cfg);
  cr_expect_eq(cfg.simulation.seed, 9);
  sch_config_free(&cfg);
}

Test(config, override_loanbook_file_replaces_generate) {
  sch_config cfg;
  sch_error err = {{0}};
  const char *ov[] = {"loanbook.file=/books/x.csv"};
  cr_assert_eq(sch_config_load(NULL, ov, 1, &cfg, &err), SCH_OK, "%s", err.msg);
  cr_expect_not(cfg.loanbook.generate);
  cr_expect_str_eq(cfg.loanbook.file, "/books/x.csv");
  sch_config_free(&cfg);
  const char *back[] = {"loanbook.file=x.csv",
                        "loanbook.generate={accounts: 5, total_debt: 1e6, "
                        "size_sigma: 0, health: {min: 1.1, median: 1.2, "
                        "max: 2, sigma: 1}, mix: [{collateral: [ETH], debt: "
                        "USDC, weight: 1}]}"};
  cr_assert_eq(sch_config_load(NULL, back, 2, &cfg, &err), SCH_OK, "%s",
               err.msg);
  cr_expect(cfg.loanbook.generate);
  cr_expect_eq(cfg.loanbook.accounts, 5);
  sch_config_free(&cfg);
}

Test(config, override_errors) {
  EXPECT_OVERRIDE_FAIL("simulation.hoirzon=2h",
                       "--set simulation.hoirzon=2h: unknown key 'hoirzon' "
                       "in simulation (did you mean 'horizon'?)");
  EXPECT_OVERRIDE_FAIL("simulation.paths=-5",
                       "--set simulation.paths=-5: simulation.paths = -5 is "
                       "out of range: must be > 0");
  EXPECT_OVERRIDE_FAIL("simulation.paths",
                       "--set simulation.paths: ", "no '='");
  EXPECT_OVERRIDE_FAIL("=5", "--set =5: ", "non-empty");
  EXPECT_OVERRIDE_FAIL("simulation..paths=5",
                       "--set simulation..paths=5: ", "non-empty");
  EXPECT_OVERRIDE_FAIL("assets.7.price=1", "--set assets.7.price=1: index 7 "
                                           "is out of range (the list has 2 "
                                           "items)");
  EXPECT_OVERRIDE_FAIL("assets.DAI.price=1", "--set assets.DAI.price=1: ",
                       "no list item named 'DAI' (names: ETH, USDC)");
  EXPECT_OVERRIDE_FAIL("correlation=[[1, 2], [2, 1]]",
                       "--set correlation=[[1, 2], [2, 1]]: "
                       "correlation[0][1] = 2 is out of range");
  EXPECT_OVERRIDE_FAIL("correlation=[[1, 0.99999], [0.99999, 0.5]]",
                       "the diagonal must be 1");
  EXPECT_OVERRIDE_FAIL("simulation.step.x=1",
                       "--set simulation.step.x=1: ", "not a mapping");
  EXPECT_OVERRIDE_FAIL("output.levels=[0.9",
                       "--set output.levels=[0.9: ", "did not find expected");
  EXPECT_OVERRIDE_FAIL("venues.ETH={model: power}",
                       "--set venues.ETH={model: power}: missing key "
                       "'eta' in venues.ETH");
  EXPECT_OVERRIDE_FAIL("simulation.step=", "--set simulation.step=: ",
                       "must be a duration", "got nothing");
}

/* ----------------------------------------------------------- round trip */

static void expect_same_config(const sch_config *a, const sch_config *b) {
  sch_config x = *a, y = *b;
  /* where it came from and the text itself may differ */
  memset(x.source, 0, sizeof x.source);
  memset(y.source, 0, sizeof y.source);
  x.resolved_yaml = y.resolved_yaml = NULL;
  cr_expect_eq(memcmp(&x, &y, sizeof x), 0, "configs differ");
  cr_expect_str_eq(a->resolved_yaml, b->resolved_yaml);
}

static void round_trip(const sch_config *cfg) {
  sch_config again;
  sch_error err = {{0}};
  cr_assert_eq(sch_config_parse(cfg->resolved_yaml, "<resolved>", "/elsewhere",
                                NULL, 0, &again, &err),
               SCH_OK, "%s\n%s", err.msg, cfg->resolved_yaml);
  expect_same_config(cfg, &again);
  sch_config_free(&again);
}

Test(config, resolved_yaml_round_trips_default) {
  sch_config cfg;
  sch_error err = {{0}};
  cr_assert_eq(sch_config_load(NULL, NULL, 0, &cfg, &err), SCH_OK);
  cr_expect(strstr(cfg.resolved_yaml, "horizon: 86400s") != NULL);
  cr_expect(strstr(cfg.resolved_yaml, "recovery_half_life: 1800s") != NULL);
  cr_expect(strstr(cfg.resolved_yaml, "gas_asset: ETH") != NULL);
  round_trip(&cfg);
  sch_config_free(&cfg);
}

Test(config, resolved_yaml_round_trips_everything_else) {
  sch_config cfg;
  const char *ov[] = {
      "simulation.returns=student_t",
      "simulation.dof=4.5",
      "simulation.seed=18446744073709551615",
      "assets.ETH.jumps={rate: 0.3, mean: -0.1, stdev: 0.1}",
      "assets.ETH.drift=0.1",
      "assets.ETH.jump_beta=0.7",
      "venues.ETH={model: power, depth: 1e8, eta: 0.3, alpha: 1.7, fee: "
      "0.001, market_depth: 3.3e9, recovery_half_life: 0.1h}",
      "oracles.ETH={deviation: 0.0123, heartbeat: 1.5h, delay: 17s}",
      "correlation=[[1, 0.1], [0.1, 1]]",
      "liquidators.gas_asset=USDC",
      "liquidators.enabled=no",
      "liquidators.min_profit=-3.5",
      "output={file: 'my out.h5', per_path: true, levels: [0.5], samples: 0}",
      "loanbook.file=../books/a b.csv"};
  char text[4096];
  build(text, sizeof text, SIZE_MAX, "");
  parse_ok(text, ov, sizeof ov / sizeof *ov, &cfg);
  cr_expect_str_eq(cfg.loanbook.file, "/data/run/../books/a b.csv");
  cr_expect_str_eq(cfg.output.file, "my out.h5");
  cr_expect_eq(cfg.oracles[0].heartbeat_s, 5400);
  round_trip(&cfg);
  sch_config_free(&cfg);
}

/* ---------------------------------------------------------------- files */

static void fixture(const char *name, char *path, size_t size) {
  const char *root = getenv("SCHELLING_SOURCE_ROOT");
  snprintf(path, size, "%s/tests/data/config/%s", root ? root : ".", name);
}

static void expect_load_failure(const char *path, const char *fragment) {
  sch_config cfg;
  sch_error err = {{0}};
  cr_expect_eq(sch_config_load(path, NULL, 0, &cfg, &err), SCH_ERR_INPUT, "%s",
               path);
  cr_expect(strstr(err.msg, fragment) != NULL, "\"%s\" lacks \"%s\"", err.msg,
            fragment);
  cr_expect_null(cfg.resolved_yaml);
}

Test(config, file_missing) {
  char path[4096], expected[4200];
  fixture("no-such-file.yaml", path, sizeof path);
  snprintf(expected, sizeof expected,
           "%s: cannot read: No such file or directory", path);
  expect_load_failure(path, expected);
}

Test(config, file_empty_or_comments) {
  char path[4096], expected[4200];
  fixture("empty.yaml", path, sizeof path);
  snprintf(expected, sizeof expected, "%s:1:1: empty configuration", path);
  expect_load_failure(path, expected);
  fixture("comments-only.yaml", path, sizeof path);
  snprintf(expected, sizeof expected, "%s:1:1: empty configuration", path);
  expect_load_failure(path, expected);
}

static void write_temp(char *path, const char *bytes, size_t n) {
  strcpy(path, "/tmp/schelling-config-XXXXXX");
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, bytes, n), (ssize_t)n);
  close(fd);
}

Test(config, file_binary) {
  char path[64], expected[128];
  static const char nul[] = "simulation:\n  ho\0rizon: 1h\n";
  write_temp(path, nul, sizeof nul - 1);
  snprintf(expected, sizeof expected,
           "%s:2:5: not a YAML text file (byte 0x00)", path);
  expect_load_failure(path, expected);
  unlink(path);
  static const char latin1[] = "a: 1\nname: caf\xe9\n";
  write_temp(path, latin1, sizeof latin1 - 1);
  snprintf(expected, sizeof expected,
           "%s:2:10: not a YAML text file (byte 0xe9)", path);
  expect_load_failure(path, expected);
  unlink(path);
}

Test(config, file_loanbook_relative_to_config) {
  char path[4096], dir[4096];
  sch_config cfg;
  sch_error err = {{0}};
  fixture("minimal.yaml", path, sizeof path);
  cr_assert_eq(sch_config_load(path, NULL, 0, &cfg, &err), SCH_OK, "%s",
               err.msg);
  fixture("books/minimal.csv", dir, sizeof dir);
  const char *tail = "tests/data/config/books/minimal.csv";
  size_t n = strlen(cfg.loanbook.file);
  cr_expect_eq(cfg.loanbook.file[0], '/');
  cr_expect(n >= strlen(tail) &&
                strcmp(cfg.loanbook.file + n - strlen(tail), tail) == 0,
            "%s", cfg.loanbook.file);
  cr_expect_str_eq(cfg.source, path);
  sch_config_free(&cfg);
}

Test(config, correlation_from_override_located_there) {
  char text[4096];
  const char *ov[] = {"correlation=[[1, 1], [1, 1]]"};
  build(text, sizeof text, 0, "correlation: [[1, 0], [0, 1]]");
  expect_failure_text(text, ov, 1,
                      (const char *const[]){
                          "--set correlation=[[1, 1], [1, 1]]: correlation is "
                          "not positive definite: leading minor 2 (ETH, USDC)",
                          NULL});
}

static sch_status parse_default_with(const char *const *o, size_t n,
                                     sch_config *cfg, sch_error *err) {
  return sch_config_parse(sch_default_config_yaml, "<default>", ".", o, n, cfg,
                          err);
}

Test(config, incentive_morpho) {
  sch_config cfg;
  sch_error err = {{0}};
  const char *morpho[] = {"protocol.incentive=morpho",
                          "protocol.assets.ETH={liquidation_threshold: 0.8}"};
  cr_assert_eq(parse_default_with(morpho, 2, &cfg, &err), SCH_OK, "%s",
               err.msg);
  cr_expect_eq(cfg.protocol.incentive, SCH_INCENTIVE_MORPHO);
  cr_expect(strstr(cfg.resolved_yaml, "incentive: morpho") != NULL);
  sch_config again;
  cr_assert_eq(sch_config_parse(cfg.resolved_yaml, "resolved", ".", NULL, 0,
                                &again, &err),
               SCH_OK, "%s", err.msg);
  cr_expect_eq(again.protocol.incentive, SCH_INCENTIVE_MORPHO);
  sch_config_free(&again);
  sch_config_free(&cfg);
  /* without morpho the bonus stays required */
  cr_expect_eq(parse_default_with(morpho + 1, 1, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "liquidation_bonus") != NULL, "%s", err.msg);
  const char *bad[] = {"protocol.incentive=dutch"};
  cr_expect_eq(parse_default_with(bad, 1, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "--set protocol.incentive=dutch") != NULL &&
                strstr(err.msg, "fixed or morpho") != NULL,
            "%s", err.msg);
}

Test(config, liquidation_mode) {
  sch_config cfg;
  sch_error err = {{0}};
  cr_assert_eq(parse_default_with(NULL, 0, &cfg, &err), SCH_OK, "%s", err.msg);
  cr_expect_eq(cfg.protocol.liquidation, SCH_LIQUIDATION_FIXED_BONUS);
  sch_config_free(&cfg);
  const char *names[] = {"fixed_bonus", "clipper", "flip", "absorb"};
  for (int m = 0; m < 4; m++) {
    char set[64];
    snprintf(set, sizeof set, "protocol.liquidation=%s", names[m]);
    const char *ov[] = {set};
    cr_assert_eq(parse_default_with(ov, 1, &cfg, &err), SCH_OK, "%s", err.msg);
    cr_expect_eq((int)cfg.protocol.liquidation, m);
    char line[64];
    snprintf(line, sizeof line, "liquidation: %s\n", names[m]);
    cr_expect(strstr(cfg.resolved_yaml, line) != NULL, "%s missing", line);
    sch_config again;
    cr_assert_eq(sch_config_parse(cfg.resolved_yaml, "resolved", ".", NULL, 0,
                                  &again, &err),
                 SCH_OK, "%s", err.msg);
    cr_expect_eq(again.protocol.liquidation, cfg.protocol.liquidation);
    sch_config_free(&again);
    sch_config_free(&cfg);
  }
  const char *bad[] = {"protocol.liquidation=dutch"};
  cr_expect_eq(parse_default_with(bad, 1, &cfg, &err), SCH_ERR_INPUT);
  cr_expect(strstr(err.msg, "--set protocol.liquidation=dutch") != NULL &&
                strstr(err.msg, "clipper, flip or absorb") != NULL,
            "%s", err.msg);
}
