/* Sweeps in the configuration: Cartesian order, baseline by index and by
 * values, --sweep, located errors, and no sweep = today's configuration. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schelling/config.h"

static char dir[256], cfg_path[300];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/schelling-sweep-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(cfg_path, sizeof cfg_path, "%s/s.yaml", dir);
  sch_set_quiet(true);
}

static void remove_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(sweep, .init = make_dir, .fini = remove_dir);

/* Lines 1..15; a test appends its sweep from line 16 on. */
static const char base[] =
    "simulation: {horizon: 1h, step: 60s, paths: 1000}\n"               /* 1 */
    "assets:\n"                                                         /* 2 */
    "  - {name: ETH, price: 3000, vol: 0.8}\n"                          /* 3 */
    "  - {name: USDC, price: 1}\n"                                      /* 4 */
    "venues:\n"                                                         /* 5 */
    "  ETH: {model: constant_product, depth: 1e8, market_depth: 5e9,\n" /* 6 */
    "        recovery_half_life: 30m}\n"                                /* 7 */
    "oracles: {ETH: {}}\n"                                              /* 8 */
    "protocol:\n"                                                       /* 9 */
    "  assets:\n"                                                       /* 10 */
    "    ETH: {liquidation_threshold: 0.8, liquidation_bonus: 0.05}\n"  /* 11 */
    "loanbook:\n"                                                       /* 12 */
    "  generate: {accounts: 10, total_debt: 1e6, size_sigma: 1,\n"      /* 13 */
    "    health: {min: 1.1, median: 1.5, max: 3, sigma: 0.5},\n"        /* 14 */
    "    mix: [{collateral: [ETH], debt: USDC, weight: 1}]}\n";         /* 15 */

static void write_config(const char *extra) {
  FILE *f = fopen(cfg_path, "w");
  cr_assert_not_null(f);
  fputs(base, f);
  fputs(extra, f);
  fclose(f);
}

typedef struct loaded {
  sch_config *points;
  sch_sweep sweep;
} loaded;

static loaded load_ok(const char *extra, const char *const *sweeps,
                      size_t n_sweeps) {
  loaded l;
  sch_error err = {{0}};
  write_config(extra);
  sch_status st = sch_config_load_sweep(cfg_path, NULL, 0, sweeps, n_sweeps,
                                        &l.points, &l.sweep, &err);
  cr_assert_eq(st, SCH_OK, "%s", err.msg);
  return l;
}

static void expect_error(const char *extra, const char *const *sweeps,
                         size_t n_sweeps, const char *fragment) {
  sch_config *points = NULL;
  sch_sweep sweep;
  sch_error err = {{0}};
  write_config(extra);
  sch_status st = sch_config_load_sweep(cfg_path, NULL, 0, sweeps, n_sweeps,
                                        &points, &sweep, &err);
  cr_assert_eq(st, SCH_ERR_INPUT, "accepted: %s", extra);
  cr_expect_null(points);
  cr_expect_null(strchr(err.msg, '\n'));
  char want[512]; /* "%s" in the fragment stands for the config path */
  const char *mark = strstr(fragment, "%s");
  if (mark)
    snprintf(want, sizeof want, "%.*s%s%s", (int)(mark - fragment), fragment,
             cfg_path, mark + 2);
  else
    snprintf(want, sizeof want, "%s", fragment);
  cr_expect(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"",
            err.msg, want);
}

Test(sweep, cartesian_product_first_key_slowest) {
  loaded l = load_ok("sweep:\n"
                     "  protocol.assets.ETH.liquidation_bonus: [0.02, 0.1]\n"
                     "  assets.ETH.vol: [0.5, 0.6, 0.7]\n",
                     NULL, 0);
  cr_assert_eq(l.sweep.n_points, 6);
  cr_assert_eq(l.sweep.n_keys, 2);
  cr_expect_str_eq(l.sweep.keys[0], "protocol.assets.ETH.liquidation_bonus");
  cr_expect_str_eq(l.sweep.keys[1], "assets.ETH.vol");
  cr_expect_eq(l.sweep.baseline, 0);
  const double bonus[] = {0.02, 0.02, 0.02, 0.1, 0.1, 0.1};
  const double vol[] = {0.5, 0.6, 0.7, 0.5, 0.6, 0.7};
  for (int p = 0; p < 6; p++) {
    cr_expect_eq(l.points[p].protocol.assets[0].liquidation_bonus, bonus[p]);
    cr_expect_eq(l.points[p].assets[0].vol, vol[p]);
    cr_expect_eq(l.sweep.numeric[2 * p], bonus[p]);
    cr_expect_eq(l.sweep.numeric[2 * p + 1], vol[p]);
  }
  cr_expect_str_eq(l.sweep.values[3], "0.6");
  cr_expect(strstr(l.sweep.resolved_yaml,
                   "sweep:\n  protocol.assets.ETH.liquidation_bonus: "
                   "[0.02, 0.1]\n  assets.ETH.vol: [0.5, 0.6, 0.7]\n"
                   "sweep_baseline: 0\n") != NULL,
            "%s", l.sweep.resolved_yaml);
  sch_sweep_free(&l.sweep, l.points);
}

Test(sweep, string_values_are_not_numeric) {
  loaded l =
      load_ok("sweep: {venues.ETH.recovery_half_life: [30m, 2h]}\n", NULL, 0);
  cr_assert_eq(l.sweep.n_points, 2);
  cr_expect(isnan(l.sweep.numeric[0]));
  cr_expect_str_eq(l.sweep.values[1], "2h");
  cr_expect_eq(l.points[1].venues[0].recovery_half_life_s, 7200.0);
  sch_sweep_free(&l.sweep, l.points);
}

Test(sweep, baseline_by_index_and_by_values) {
  loaded l = load_ok("sweep: {protocol.close_factor: [0.5, 1], "
                     "assets.ETH.vol: [0.5, 0.6]}\nsweep_baseline: 3\n",
                     NULL, 0);
  cr_expect_eq(l.sweep.baseline, 3);
  cr_expect(strstr(l.sweep.resolved_yaml, "sweep_baseline: 3\n"));
  cr_expect(strstr(l.sweep.resolved_yaml, "close_factor: 1\n"),
            "the /config base is the baseline point");
  sch_sweep_free(&l.sweep, l.points);
  l = load_ok("sweep: {protocol.close_factor: [0.5, 1], "
              "assets.ETH.vol: [0.5, 0.6]}\n"
              "sweep_baseline: {assets.ETH.vol: 0.60, "
              "protocol.close_factor: 0.5}\n",
              NULL, 0);
  cr_expect_eq(l.sweep.baseline, 1);
  sch_sweep_free(&l.sweep, l.points);
}

Test(sweep, resolved_yaml_loads_back_to_the_same_points) {
  loaded l = load_ok("sweep: {protocol.close_factor: [0.5, 1], "
                     "assets.ETH.vol: [0.5, 0.6]}\nsweep_baseline: 2\n",
                     NULL, 0);
  FILE *f = fopen(cfg_path, "w");
  fputs(l.sweep.resolved_yaml, f);
  fclose(f);
  sch_config *again = NULL;
  sch_sweep sw2;
  sch_error err = {{0}};
  cr_assert_eq(
      sch_config_load_sweep(cfg_path, NULL, 0, NULL, 0, &again, &sw2, &err),
      SCH_OK, "%s", err.msg);
  cr_assert_eq(sw2.n_points, 4);
  cr_expect_eq(sw2.baseline, 2);
  for (int p = 0; p < 4; p++)
    cr_expect_str_eq(again[p].resolved_yaml, l.points[p].resolved_yaml);
  cr_expect_str_eq(sw2.resolved_yaml, l.sweep.resolved_yaml);
  sch_sweep_free(&sw2, again);
  sch_sweep_free(&l.sweep, l.points);
}

Test(sweep, command_line_adds_and_replaces_keys) {
  const char *args[] = {"assets.ETH.vol=0.4,0.9",
                        "protocol.close_factor=0.25,0.75,1"};
  loaded l = load_ok("sweep: {protocol.close_factor: [0.5, 1]}\n", args, 2);
  cr_assert_eq(l.sweep.n_keys, 2);
  cr_expect_str_eq(l.sweep.keys[0], "protocol.close_factor");
  cr_expect_str_eq(l.sweep.keys[1], "assets.ETH.vol");
  cr_assert_eq(l.sweep.n_points, 6);
  cr_expect_eq(l.points[5].protocol.close_factor, 1.0);
  cr_expect_eq(l.points[5].assets[0].vol, 0.9);
  sch_sweep_free(&l.sweep, l.points);
}

Test(sweep, no_sweep_is_one_plain_point) {
  loaded l = load_ok("", NULL, 0);
  cr_assert_eq(l.sweep.n_points, 1);
  cr_expect_eq(l.sweep.n_keys, 0);
  sch_config plain;
  sch_error err = {{0}};
  cr_assert_eq(sch_config_load(cfg_path, NULL, 0, &plain, &err), SCH_OK);
  sch_config x = plain, y = l.points[0];
  x.resolved_yaml = y.resolved_yaml = NULL;
  cr_expect_eq(memcmp(&x, &y, sizeof x), 0, "configs differ");
  cr_expect_str_eq(plain.resolved_yaml, l.points[0].resolved_yaml);
  cr_expect_str_eq(plain.resolved_yaml, l.sweep.resolved_yaml);
  sch_config_free(&plain);
  sch_sweep_free(&l.sweep, l.points);
}

Test(sweep, default_scenario_with_command_line_sweep) {
  const char *args[] = {"protocol.assets.ETH.liquidation_bonus=0.04,0.06"};
  sch_config *points = NULL;
  sch_sweep sw;
  sch_error err = {{0}};
  cr_assert_eq(
      sch_config_load_sweep(NULL, NULL, 0, args, 1, &points, &sw, &err), SCH_OK,
      "%s", err.msg);
  cr_expect_eq(sw.n_points, 2);
  cr_expect_eq(points[1].protocol.assets[0].liquidation_bonus, 0.06);
  sch_sweep_free(&sw, points);
}

Test(sweep, bad_values_are_located_at_the_sweep_entry) {
  expect_error("sweep:\n  protocol.close_factor: [0.5, 2]\n", NULL, 0,
               "%s:17:32: protocol.close_factor = 2 is out of range");
  expect_error("sweep:\n  protocol.close_factor: [0.5, fast]\n", NULL, 0,
               "%s:17:32: protocol.close_factor must be a finite number");
}

Test(sweep, bad_keys_are_located_at_the_sweep_entry) {
  expect_error("sweep:\n  protocol.close_factr: [0.5]\n", NULL, 0,
               "%s:17:3: unknown key 'close_factr' in protocol (did you mean "
               "'close_factor'?)");
  expect_error("sweep:\n  assets.DAI.vol: [0.5]\n", NULL, 0,
               "%s:17:3: no list item named 'DAI'");
  expect_error("sweep:\n  simulation.paths: [10, 20]\n", NULL, 0,
               "%s:17:3: simulation.paths cannot be swept");
}

Test(sweep, bad_shapes) {
  expect_error("sweep: [0.5]\n", NULL, 0, "%s:16:8: sweep must be a mapping");
  expect_error("sweep: {protocol.close_factor: []}\n", NULL, 0,
               "%s:16:32: sweep.protocol.close_factor must be a non-empty");
  expect_error("sweep: {protocol.close_factor: 0.5}\n", NULL, 0,
               "%s:16:32: sweep.protocol.close_factor must be a non-empty");
  expect_error("sweep: {protocol.close_factor: [[0.5]]}\n", NULL, 0,
               "%s:16:33: sweep.protocol.close_factor: values must be "
               "scalars");
  expect_error("sweep: {assets.ETH.vol: [0.5, 0.6]}\nsweep_baseline: 2\n", NULL,
               0,
               "%s:17:17: sweep_baseline must be a point index in "
               "0..1");
  expect_error("sweep: {assets.ETH.vol: [0.5, 0.6]}\n"
               "sweep_baseline: {assets.ETH.vol: 0.7}\n",
               NULL, 0, "%s:17:34: sweep_baseline: 0.7 is not one of");
  expect_error("sweep: {assets.ETH.vol: [0.5, 0.6]}\n"
               "sweep_baseline: {assets.ETH.drift: 0}\n",
               NULL, 0, "%s:17:18: sweep_baseline names 'assets.ETH.drift'");
}

Test(sweep, too_many_points) {
  expect_error("sweep:\n"
               "  assets.ETH.vol: [0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1]\n"
               "  assets.ETH.drift: [0,1,2,3,4,5,6,7,8,9]\n"
               "  protocol.close_factor: [0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,"
               "0.9,1]\n"
               "  protocol.insurance_fund: [0,1,2,3,4,5,6,7,8,9,10]\n",
               NULL, 0, "%s:17:3: the sweep has 11000 points; at most 10000");
}

Test(sweep, command_line_errors_name_the_argument) {
  const char *bad_value[] = {"protocol.close_factor=0.5,7"};
  expect_error("", bad_value, 1,
               "--sweep protocol.close_factor=0.5,7: protocol.close_factor "
               "= 7 is out of range");
  const char *no_values[] = {"protocol.close_factor="};
  expect_error("", no_values, 1,
               "--sweep protocol.close_factor=: expected key.path=value1");
  const char *bad_key[] = {"protocol.close_factr=0.5"};
  expect_error("", bad_key, 1,
               "--sweep protocol.close_factr=0.5: unknown key 'close_factr'");
}

Test(sweep, size_section) {
  loaded l = load_ok("size: {param: assets.ETH.price, range: '1000:3000',\n"
                     "       target: 'mean(shortfall) <= 500', largest: true,\n"
                     "       tolerance: 0.5, max_evals: 30}\n",
                     NULL, 0);
  const sch_size_config *s = &l.sweep.size;
  cr_expect(s->present);
  cr_expect_str_eq(s->param, "assets.ETH.price");
  cr_expect(s->has_range);
  cr_expect_eq(s->range[0], 1000.0);
  cr_expect_eq(s->range[1], 3000.0);
  cr_expect_str_eq(s->target, "mean(shortfall) <= 500");
  cr_expect(s->largest);
  cr_expect_eq(s->tolerance, 0.5);
  cr_expect_eq(s->max_evals, 30);
  sch_sweep_free(&l.sweep, l.points);
  expect_error("size: {range: [3, 1]}\n", NULL, 0,
               "%s:16:15: size.range must have a < b");
  expect_error("size: {range: 1-3}\n", NULL, 0,
               "%s:16:15: size.range must be a:b or [a, b]");
  expect_error("size: {parm: x}\n", NULL, 0,
               "%s:16:8: unknown key 'parm' in size (did you mean 'param'?)");
}
