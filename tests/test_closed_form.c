/* Statistical tests: the engine against closed forms, within k standard errors
 * with a fixed seed (so they cannot flake). References: Black & Scholes
 * (1973); Merton (1976) jump-diffusion put as a Poisson mixture; the barrier
 * first-passage law of a Brownian motion with drift, with the discrete-
 * monitoring shift of Broadie, Glasserman & Kou (1997), beta = 0.5826. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "paths.h"
#include "scenario.h"
#include "schelling/engine.h"

#define K_SIGMA 4.0
static const double year_s = 365.0 * 86400.0;

static double norm_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* E[max(0, K - S_T)] for ln S_T ~ N(ln F - v/2, v). */
static double put_lognormal(double forward, double strike, double var) {
  double sd = sqrt(var);
  double d1 = (log(forward / strike) + 0.5 * var) / sd, d2 = d1 - sd;
  return strike * norm_cdf(-d2) - forward * norm_cdf(-d1);
}

/* Merton: condition on n jumps of log-size N(m, s^2); jumps not compensated
 * (DESIGN.md 3.7), so the forward given n is S0 exp(mu T + n (m + s^2/2)). */
static double put_merton(double s0, double strike, double mu, double sigma,
                         double t, double rate, double m, double s) {
  double total = 0.0, weight = exp(-rate * t);
  for (int n = 0; n < 60; n++) {
    if (n > 0)
      weight *= rate * t / n;
    double fwd = s0 * exp(mu * t + n * (m + 0.5 * s * s));
    total += weight * put_lognormal(fwd, strike, sigma * sigma * t + n * s * s);
  }
  return total;
}

/* ETH (risky) and USDC (stable); one account of 10 ETH against `debt` USDC;
 * a deep, fee-free venue and free gas so that every liquidatable account is
 * liquidated at once. */
typedef struct one_loan {
  sch_config cfg;
  sch_loanbook book;
  double collateral[2], debt[2];
} one_loan;

static void one_loan_world(one_loan *w, double vol, double horizon_s,
                           double step_s, int64_t paths, double debt) {
  memset(w, 0, sizeof *w);
  sch_config *c = &w->cfg;
  strcpy(c->source, "test");
  c->simulation = (sch_simulation_spec){
      .paths = paths, .horizon_s = horizon_s, .step_s = step_s,
      .steps = (int64_t)llround(horizon_s / step_s), .seed = 20261122};
  c->n_assets = 2;
  c->assets[0] = (sch_asset_spec){.name = "ETH", .price = 2000, .vol = vol,
                                  .jump_beta = 1};
  c->assets[1] = (sch_asset_spec){.name = "USDC", .price = 1, .stable = true};
  c->correlation[0][0] = c->correlation[1][1] = 1.0;
  c->venues[0] = (sch_venue_spec){.model = SCH_VENUE_CONSTANT_PRODUCT,
                                  .depth = 1e15, .fee = 0, .market_depth = 1e15,
                                  .recovery_half_life_s = 1800};
  c->oracles[0] = (sch_oracle_spec){0.0, 3600, 0};
  c->protocol.assets[0] = (sch_protocol_asset){true, 0.80, 0.05};
  c->protocol.assets[1] = (sch_protocol_asset){true, 0.85, 0.04};
  c->protocol.close_factor = 0.5;
  c->protocol.full_close_below_hf = 0.95;
  c->liquidators = (sch_liquidator_spec){
      .enabled = false, .gas_units = 0, .gas_price_gwei = 30,
      .gas_price_max_gwei = 1000, .gas_window_s = 3600, .gas_asset = 0,
      .max_liquidations_per_step = 50, .max_rounds_per_step = 8,
      .capital = 1e12, .flash_loans = true, .min_profit = 0};
  c->output.n_levels = 1;
  c->output.levels[0] = 0.99;
  w->collateral[0] = 10;
  w->debt[1] = debt;
  w->book = (sch_loanbook){.n_accounts = 1, .n_assets = 2,
                           .collateral = w->collateral, .debt = w->debt};
}

static sch_summary run_metric(one_loan *w, const char *metric, int threads) {
  sch_results *res = NULL;
  sch_error err = {{0}};
  sch_run_options opt = {.threads = threads};
  cr_assert_eq(sch_engine_run(&w->cfg, &w->book, &opt, NULL, &res, &err),
               SCH_OK, "%s", err.msg);
  sch_summary s;
  sch_results_summary(res, sch_results_metric_index(res, metric), &s);
  sch_summary copy = s;
  copy.edges = NULL;
  copy.counts = NULL;
  sch_results_free(res);
  return copy;
}

static void expect_within(double got, double se, double want, const char *what) {
  cr_expect(fabs(got - want) <= K_SIGMA * se,
            "%s: %.6g vs closed form %.6g (%.2f standard errors)", what, got,
            want, (got - want) / se);
}

/* A tolerance wider than 5% of the value would let a wrong model pass. */
static void expect_power(double se, double want, const char *what) {
  cr_expect(se > 0 && se < 0.05 * fabs(want),
            "%s: the test has no power (se %.3g)", what, se);
}

/* Liquidation off: shortfall = max(0, D - 10 S_T) = 10 put(K = D / 10). */
Test(closed_form, black_scholes_put, .timeout = 300) {
  one_loan w;
  one_loan_world(&w, 0.8, 7 * 86400.0, 3600.0, 100000, 19000);
  sch_summary s = run_metric(&w, "shortfall", 0);
  double t = 7 * 86400.0 / year_s;
  double want = 10 * put_lognormal(2000, 1900, 0.64 * t);
  expect_within(s.mean, s.std_error, want, "E[shortfall]");
  expect_power(s.std_error, want, "power");
}

Test(closed_form, black_scholes_put_with_drift, .timeout = 300) {
  one_loan w;
  one_loan_world(&w, 0.6, 7 * 86400.0, 3600.0, 100000, 19500);
  w.cfg.assets[0].drift = -2.0;
  sch_summary s = run_metric(&w, "shortfall", 0);
  double t = 7 * 86400.0 / year_s;
  double want = 10 * put_lognormal(2000 * exp(-2.0 * t), 1950, 0.36 * t);
  expect_within(s.mean, s.std_error, want, "E[shortfall], drift -2");
  expect_power(s.std_error, want, "power");
}

Test(closed_form, merton_put_idiosyncratic_jumps, .timeout = 300) {
  one_loan w;
  one_loan_world(&w, 0.5, 7 * 86400.0, 3600.0, 100000, 19000);
  w.cfg.assets[0].jumps = (sch_jump_spec){30.0, -0.05, 0.08};
  sch_summary s = run_metric(&w, "shortfall", 0);
  double t = 7 * 86400.0 / year_s;
  double want = 10 * put_merton(2000, 1900, 0.0, 0.5, t, 30.0, -0.05, 0.08);
  expect_within(s.mean, s.std_error, want, "E[shortfall], Merton");
  expect_power(s.std_error, want, "power");
  /* and the jumps matter: the no-jump price is far outside the band */
  double plain = 10 * put_lognormal(2000, 1900, 0.25 * t);
  cr_expect(fabs(s.mean - plain) > 10 * s.std_error);
}

/* Systemic jumps reach the asset scaled by jump_beta: log-size
 * N(beta m, (beta s)^2). */
Test(closed_form, merton_put_systemic_jumps_with_beta, .timeout = 300) {
  one_loan w;
  one_loan_world(&w, 0.5, 7 * 86400.0, 3600.0, 100000, 19000);
  w.cfg.systemic_jumps = (sch_jump_spec){25.0, -0.06, 0.05};
  w.cfg.assets[0].jump_beta = 0.8;
  sch_summary s = run_metric(&w, "shortfall", 0);
  double t = 7 * 86400.0 / year_s;
  double want =
      10 * put_merton(2000, 1900, 0.0, 0.5, t, 25.0, 0.8 * -0.06, 0.8 * 0.05);
  expect_within(s.mean, s.std_error, want, "E[shortfall], systemic");
  expect_power(s.std_error, want, "power");
}

/* P(HF < 1 at some step of 1440) for HF0 = 1.04: the price must cross
 * B = S0 / 1.04. The oracle observes every step (deviation 0) and liquidation
 * is always profitable, so P(liquidations > 0) is the crossing probability. */
Test(closed_form, barrier_crossing_bgk, .timeout = 300) {
  one_loan w;
  double hf0 = 1.04, sigma = 0.8, dt = 60.0;
  one_loan_world(&w, sigma, 86400.0, dt, 40000, 10 * 2000 * 0.8 / hf0);
  w.cfg.liquidators.enabled = true;
  sch_summary s = run_metric(&w, "liquidations", 0);
  double t = 86400.0 / year_s, nu = -0.5 * sigma * sigma;
  /* discrete monitoring ~ continuous barrier shifted down by
   * exp(-0.5826 sigma sqrt(dt)) */
  double b = log(1.0 / hf0) - 0.5826 * sigma * sqrt(dt / year_s);
  double sd = sigma * sqrt(t);
  double want = norm_cdf((b - nu * t) / sd) +
                exp(2 * nu * b / (sigma * sigma)) * norm_cdf((b + nu * t) / sd);
  double se = sqrt(want * (1 - want) / (double)w.cfg.simulation.paths);
  expect_within(s.p_positive, se, want, "P(ever liquidatable)");
  expect_power(se, want, "power");
}

/* Per-step log-returns of three correlated assets: mean, variance and
 * correlation within 4 standard errors (Gaussian and Student-t dof 10). */
static void check_returns(bool student_t) {
  sch_config c;
  memset(&c, 0, sizeof c);
  c.simulation = (sch_simulation_spec){.paths = 1, .horizon_s = 100 * 3600.0,
                                       .step_s = 3600, .steps = 100,
                                       .seed = 5,
                                       .returns = student_t, .dof = 10};
  c.n_assets = 3;
  const double vol[3] = {0.8, 0.6, 0.5}, mu[3] = {0.5, -1.0, 0.0};
  const double rho[3][3] = {{1, 0.8, 0.3}, {0.8, 1, 0.5}, {0.3, 0.5, 1}};
  for (int i = 0; i < 3; i++) {
    c.assets[i] = (sch_asset_spec){.price = 100.0 * (i + 1), .vol = vol[i],
                                   .drift = mu[i], .jump_beta = 1};
    for (int j = 0; j < 3; j++)
      c.correlation[i][j] = rho[i][j];
  }
  sch_loanbook book = {.n_assets = 3};
  sch_scenario sc;
  sch_error err = {{0}};
  cr_assert_eq(sch_scenario_build(&c, &book, &sc, &err), SCH_OK, "%s", err.msg);
  const int paths = 2000, n = 100;
  double x[(100 + 1) * 3];
  double s1[3] = {0}, s2[3][3] = {{0}};
  double dt = 3600.0 / year_s;
  for (int p = 0; p < paths; p++) {
    sch_path_generate(&sc.paths, (uint64_t)p, x);
    for (int k = 1; k <= n; k++)
      for (int i = 0; i < 3; i++) {
        double ri = x[k * 3 + i] - x[(k - 1) * 3 + i];
        s1[i] += ri;
        for (int j = 0; j < 3; j++)
          s2[i][j] += ri * (x[k * 3 + j] - x[(k - 1) * 3 + j]);
      }
  }
  const double count = (double)paths * n;
  for (int i = 0; i < 3; i++) {
    double var_true = vol[i] * vol[i] * dt;
    double mean = s1[i] / count;
    double var = s2[i][i] / count - mean * mean;
    double mean_true = (mu[i] - 0.5 * vol[i] * vol[i]) * dt;
    expect_within(mean, sqrt(var_true / count), mean_true, "mean");
    /* Var of the sample variance: (m4 - var^2) / n with m4 = kurt var^2 */
    double kurt = student_t ? 3.0 + 6.0 / (10 - 4) : 3.0;
    expect_within(var, var_true * sqrt((kurt - 1) / count), var_true,
                  "variance");
    for (int j = i + 1; j < 3; j++) {
      double cov = s2[i][j] / count - mean * s1[j] / count;
      double vj = s2[j][j] / count - (s1[j] / count) * (s1[j] / count);
      double corr = cov / sqrt(var * vj);
      /* the t mixing variable is shared: corr is still rho; its standard
       * error is (1 - rho^2)/sqrt(n) times a kurtosis factor <= 2 */
      double se = (1 - rho[i][j] * rho[i][j]) / sqrt(count) *
                  (student_t ? 2.0 : 1.0);
      expect_within(corr, se, rho[i][j], "correlation");
    }
  }
  sch_scenario_free(&sc);
}

Test(closed_form, gaussian_log_return_moments) { check_returns(false); }
Test(closed_form, student_t_log_return_moments) { check_returns(true); }

/* Per-path results and every summary statistic are bitwise identical at 1
 * and 2 threads. */
Test(closed_form, bitwise_identical_across_threads, .timeout = 300) {
  one_loan w;
  one_loan_world(&w, 0.9, 86400.0, 300.0, 5000, 19000);
  w.cfg.liquidators.enabled = true;
  w.cfg.assets[0].jumps = (sch_jump_spec){50.0, -0.05, 0.05};
  sch_results *r1 = NULL, *r2 = NULL;
  sch_error err = {{0}};
  sch_run_options o1 = {.threads = 1, .keep_per_path = true};
  sch_run_options o2 = {.threads = 2, .keep_per_path = true};
  cr_assert_eq(sch_engine_run(&w.cfg, &w.book, &o1, NULL, &r1, &err), SCH_OK);
  cr_assert_eq(sch_engine_run(&w.cfg, &w.book, &o2, NULL, &r2, &err), SCH_OK);
  cr_assert_eq(sch_results_threads(r2), 2);
  for (int m = 0; m < sch_results_metric_count(r1); m++) {
    cr_expect(memcmp(sch_results_per_path(r1, m), sch_results_per_path(r2, m),
                     5000 * sizeof(double)) == 0,
              "%s per path", sch_results_metric_name(r1, m));
    sch_summary a, b;
    sch_results_summary(r1, m, &a);
    sch_results_summary(r2, m, &b);
    cr_expect(memcmp(&a.mean, &b.mean, sizeof a.mean) == 0);
    cr_expect(memcmp(&a.std, &b.std, sizeof a.std) == 0);
    cr_expect(memcmp(&a.var[0], &b.var[0], sizeof a.var[0]) == 0);
    cr_expect(memcmp(&a.es[0], &b.es[0], sizeof a.es[0]) == 0);
  }
  /* and the liquidation machinery did run */
  sch_summary liq;
  sch_results_summary(r1, sch_results_metric_index(r1, "liquidations"), &liq);
  cr_expect(liq.p_positive > 0.1);
  sch_results_free(r1);
  sch_results_free(r2);
}
