/* `schelling size`: target syntax, the search on known functions, and the
 * engine against a closed form: with liquidation off, one loan of 10 ETH
 * against 19,000 USDC has E[shortfall] = 10 put(S0, K = 1900) (Black &
 * Scholes 1973, zero rate and drift), so the ETH price S0 (the collateral's
 * value) at which the mean shortfall is 1,000 is a root the test computes. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "schelling/size.h"

/* ------------------------------------------------------------- targets */

Test(size, targets_parse) {
  sch_target t;
  sch_error err = {{0}};
  cr_assert_eq(sch_target_parse("es_99(uncovered_shortfall) <= 1e6", &t, &err),
               SCH_OK, "%s", err.msg);
  cr_expect_eq(t.stat, SCH_TARGET_ES);
  cr_expect_eq(t.level, 0.99);
  cr_expect_str_eq(t.metric, "uncovered_shortfall");
  cr_expect(t.at_most);
  cr_expect_eq(t.threshold, 1e6);
  cr_assert_eq(sch_target_parse(" var_999 ( bad_debt )>=-5 ", &t, &err), SCH_OK,
               "%s", err.msg);
  cr_expect_eq(t.stat, SCH_TARGET_VAR);
  cr_expect_eq(t.level, 0.999);
  cr_expect(!t.at_most);
  cr_expect_eq(t.threshold, -5.0);
  cr_assert_eq(sch_target_parse("p_positive(shortfall) <= 0.01", &t, &err),
               SCH_OK);
  cr_expect_eq(t.stat, SCH_TARGET_P_POSITIVE);
  cr_assert_eq(sch_target_parse("mean(shortfall)<=1000", &t, &err), SCH_OK);
  cr_expect_eq(t.stat, SCH_TARGET_MEAN);
}

Test(size, malformed_targets_are_input_errors) {
  const char *bad[] = {"es_99(shortfall) < 1e6",
                       "median(shortfall) <= 1",
                       "es_(shortfall) <= 1",
                       "es_99 shortfall <= 1",
                       "es_99(shortfall <= 1",
                       "mean(shortfall) <= x",
                       "mean(shortfall) <= 1 2",
                       "",
                       "mean() <= 1"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    sch_target t;
    sch_error err = {{0}};
    cr_expect_eq(sch_target_parse(bad[i], &t, &err), SCH_ERR_INPUT, "'%s'",
                 bad[i]);
    cr_expect(strstr(err.msg, "expected STAT(METRIC)"), "%s", err.msg);
  }
}

/* ------------------------------------------------- the search alone */

/* statistic = slope * x + offset with a CI of +- halfwidth */
typedef struct line {
  double slope, offset, halfwidth;
  int calls;
} line;

static sch_status eval_line(void *ctx, double x, sch_size_eval *out,
                            sch_error *err) {
  (void)err;
  line *l = ctx;
  l->calls++;
  out->statistic = l->slope * x + l->offset;
  out->lo = out->statistic - l->halfwidth;
  out->hi = out->statistic + l->halfwidth;
  return SCH_OK;
}

static sch_size_spec spec_for(const char *target, double a, double b) {
  sch_size_spec spec = {
      .param = "x", .range = {a, b}, .tolerance = 1e-3, .max_evals = 100};
  sch_error err = {{0}};
  cr_assert_eq(sch_target_parse(target, &spec.target, &err), SCH_OK);
  return spec;
}

Test(size, smallest_value_on_a_falling_statistic) {
  line l = {-1, 1000, 5, 0};
  sch_size_spec spec = spec_for("mean(m) <= 400", 0, 1000);
  sch_size_result res;
  sch_error err = {{0}};
  cr_assert_eq(sch_size_search(&spec, eval_line, &l, &res, &err), SCH_OK);
  cr_expect_eq(res.outcome, SCH_SIZE_FOUND);
  cr_expect(fabs(res.answer - 600) <= 1e-3, "%.9g", res.answer);
  cr_expect(res.answer >= 600, "the answer meets the target");
  cr_expect(res.bracket[1] - res.bracket[0] <= 1e-3);
  /* statistic within +-5 of 400: x in [595, 605] */
  cr_expect(fabs(res.answer_lo - 595) <= 2e-3, "%.9g", res.answer_lo);
  cr_expect(fabs(res.answer_hi - 605) <= 2e-3, "%.9g", res.answer_hi);
  cr_expect_eq(res.n_evals, l.calls);
  cr_expect(!res.out_of_evals);
}

Test(size, largest_value_on_a_rising_statistic) {
  line l = {2, 0, 0, 0};
  sch_size_spec spec = spec_for("es_99(m) <= 500", 0, 1000);
  spec.largest = true;
  sch_size_result res;
  sch_error err = {{0}};
  cr_assert_eq(sch_size_search(&spec, eval_line, &l, &res, &err), SCH_OK);
  cr_expect_eq(res.outcome, SCH_SIZE_FOUND);
  cr_expect(res.answer <= 250 && res.answer >= 250 - 1e-3, "%.9g", res.answer);
}

Test(size, met_at_both_or_neither_end) {
  line l = {-1, 1000, 1, 0};
  sch_size_spec spec = spec_for("mean(m) <= 2000", 0, 1000);
  sch_size_result res;
  sch_error err = {{0}};
  cr_assert_eq(sch_size_search(&spec, eval_line, &l, &res, &err), SCH_OK);
  cr_expect_eq(res.outcome, SCH_SIZE_AT_END);
  cr_expect_eq(res.answer, 0.0);
  spec = spec_for("mean(m) <= -1", 0, 1000);
  cr_assert_eq(sch_size_search(&spec, eval_line, &l, &res, &err), SCH_OK);
  cr_expect_eq(res.outcome, SCH_SIZE_NEVER);
  cr_expect(isnan(res.answer));
  cr_expect_eq(res.n_evals, 2);
}

Test(size, stops_at_max_evals) {
  line l = {-1, 1000, 0, 0};
  sch_size_spec spec = spec_for("mean(m) <= 400", 0, 1000);
  spec.max_evals = 6;
  sch_size_result res;
  sch_error err = {{0}};
  cr_assert_eq(sch_size_search(&spec, eval_line, &l, &res, &err), SCH_OK);
  cr_expect_eq(res.n_evals, 6);
  cr_expect(res.out_of_evals);
  cr_expect(res.answer_lo <= 600 && 600 <= res.answer_hi);
}

/* ------------------------------------------------ against the engine */

static char dir[256], cfg_path[300], out_path[300];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/schelling-size-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(cfg_path, sizeof cfg_path, "%s/one.yaml", dir);
  snprintf(out_path, sizeof out_path, "%s/size.h5", dir);
  char book[300];
  snprintf(book, sizeof book, "%s/book.csv", dir);
  FILE *f = fopen(book, "w");
  fputs("account,ETH_collateral,USDC_debt\n1,10,19000\n", f);
  fclose(f);
  f = fopen(cfg_path, "w");
  fputs("simulation: {paths: 20000, horizon: 7d, step: 1h, seed: 20261122}\n"
        "assets:\n"
        "  - {name: ETH, price: 2000, vol: 0.8}\n"
        "  - {name: USDC, price: 1}\n"
        "venues:\n"
        "  ETH: {model: constant_product, depth: 1e15, market_depth: 1e15,\n"
        "        recovery_half_life: 30m}\n"
        "oracles: {ETH: {deviation: 0, heartbeat: 1h}}\n"
        "protocol:\n"
        "  assets:\n"
        "    ETH: {liquidation_threshold: 0.8, liquidation_bonus: 0.05}\n"
        "    USDC: {liquidation_threshold: 0.85, liquidation_bonus: 0.04}\n"
        "loanbook: {file: book.csv}\n",
        f);
  fclose(f);
  sch_set_quiet(true);
}

static void remove_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(engine, .init = make_dir, .fini = remove_dir, .timeout = 300);

static double norm_cdf(double x) {
  return 0.5 * erfc(-x / sqrt(2.0));
}

static double put_lognormal(double forward, double strike, double var) {
  double sd = sqrt(var);
  double d1 = (log(forward / strike) + 0.5 * var) / sd, d2 = d1 - sd;
  return strike * norm_cdf(-d2) - forward * norm_cdf(-d1);
}

/* E[shortfall](S0) = 10 put(S0, 1900, sigma^2 T), falling in S0. */
static double closed_form_root(double target) {
  double var = 0.64 * 7.0 / 365.0, a = 1000, b = 4000;
  for (int i = 0; i < 200; i++) {
    double mid = 0.5 * (a + b);
    if (10 * put_lognormal(mid, 1900, var) > target)
      a = mid;
    else
      b = mid;
  }
  return 0.5 * (a + b);
}

Test(engine, recovers_the_black_scholes_root) {
  const char *ov[] = {"liquidators.enabled=false"};
  sch_size_spec spec = {.param = "assets.ETH.price",
                        .range = {1500, 3000},
                        .tolerance = 0.5,
                        .max_evals = 40};
  sch_error err = {{0}};
  cr_assert_eq(sch_target_parse("mean(shortfall) <= 1000", &spec.target, &err),
               SCH_OK);
  sch_run_options opt = {.threads = 2};
  sch_size_result *res = malloc(sizeof *res);
  cr_assert_eq(sch_size_solve(cfg_path, ov, 1, &spec, &opt, res, &err), SCH_OK,
               "%s", err.msg);
  double root = closed_form_root(1000);
  cr_expect_eq(res->outcome, SCH_SIZE_FOUND);
  cr_expect(res->answer_lo <= root && root <= res->answer_hi,
            "closed-form root %.6g outside the reported uncertainty "
            "[%.6g, %.6g] (answer %.6g)",
            root, res->answer_lo, res->answer_hi, res->answer);
  /* the uncertainty must be informative: well under 1% of the root */
  cr_expect(res->answer_hi - res->answer_lo < 0.01 * root, "[%.6g, %.6g]",
            res->answer_lo, res->answer_hi);
  cr_expect(res->bracket[1] - res->bracket[0] <= 0.5);
  /* common random numbers: the statistic falls with S0 at every step */
  for (int i = 0; i < res->n_evals; i++)
    for (int j = 0; j < res->n_evals; j++)
      if (res->evals[i].value < res->evals[j].value)
        cr_expect(res->evals[i].statistic >= res->evals[j].statistic);
  free(res);
}

/* ------------------------------------------------------------ the CLI */

static int run(const char *const *args) {
  const char *bin = getenv("SCHELLING_BIN");
  cr_assert_not_null(bin, "SCHELLING_BIN is not set (run through meson test)");
  pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execv(bin, (char *const *)args);
    _exit(127);
  }
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static double attr_double(hid_t obj, const char *name) {
  double v = NAN;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  cr_assert(a >= 0, "no attribute %s", name);
  H5Aread(a, H5T_NATIVE_DOUBLE, &v);
  H5Aclose(a);
  return v;
}

Test(engine, command_writes_the_size_file) {
  const char *args[] = {"schelling",
                        "size",
                        cfg_path,
                        "--set",
                        "liquidators.enabled=false",
                        "--set",
                        "simulation.paths=2000",
                        "--param",
                        "assets.ETH.price",
                        "--range",
                        "1500:3000",
                        "--target",
                        "mean(shortfall) <= 1000",
                        "--tolerance",
                        "5",
                        "-o",
                        out_path,
                        NULL};
  cr_assert_eq(run(args), 0);
  hid_t f = H5Fopen(out_path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert(f >= 0);
  hid_t g = H5Gopen2(f, "size", H5P_DEFAULT);
  cr_assert(g >= 0);
  double answer = attr_double(g, "answer");
  cr_expect(attr_double(g, "answer_lo") <= answer);
  cr_expect(answer <= attr_double(g, "answer_hi"));
  const char *names[] = {"value", "statistic", "lo", "hi"};
  for (int i = 0; i < 4; i++) {
    char path[64];
    snprintf(path, sizeof path, "size/evaluations/%s", names[i]);
    cr_expect(H5Lexists(f, path, H5P_DEFAULT) > 0, "%s", path);
  }
  H5Gclose(g);
  H5Fclose(f);
}

Test(engine, command_exit_codes) {
  const char *bad[] = {"schelling",
                       "size",
                       cfg_path,
                       "--param",
                       "assets.ETH.price",
                       "--range",
                       "1500:3000",
                       "--target",
                       "mean(shortfall) < 1000",
                       NULL};
  cr_expect_eq(run(bad), 2, "malformed target");
  const char *never[] = {"schelling",
                         "size",
                         cfg_path,
                         "--set",
                         "simulation.paths=500",
                         "--set",
                         "liquidators.enabled=false",
                         "--param",
                         "assets.ETH.price",
                         "--range",
                         "1500:3000",
                         "--target",
                         "mean(shortfall) <= -1",
                         NULL};
  cr_expect_eq(run(never), 0, "met at neither end is an answer, not an error");
  const char *range[] = {"schelling",
                         "size",
                         cfg_path,
                         "--param",
                         "assets.ETH.price",
                         "--range",
                         "3:1",
                         "--target",
                         "mean(shortfall) <= 1",
                         NULL};
  cr_expect_eq(run(range), 2, "bad range");
}
