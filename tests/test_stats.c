/*
 * Statistics: moments by hand, VaR/ES against an independent sort-based
 * reference in integer arithmetic, top-k against a full sort, block-order
 * independence, histogram bins at their edges, CI coverage of a closed form.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schelling/stats.h"

static const sch_hist_spec grid = {1.0, 1e9, 10};

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) {
  return (double)(splitmix64(s) >> 11) * 0x1.0p-53;
}

static sch_accum *make(int64_t n, const double *levels, int n_levels) {
  sch_error err = {{0}};
  sch_accum *acc = sch_accum_create(n, levels, n_levels, grid, &err);
  cr_assert_not_null(acc, "%s", err.msg);
  return acc;
}

static void add_in_blocks(sch_accum *acc, const double *x, size_t n,
                          size_t block) {
  for (size_t i = 0; i < n; i += block)
    sch_accum_add_block(acc, x + i, n - i < block ? n - i : block);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Reference on sorted data; the level is per10k / 10000, exact integers. */
typedef struct ref_tail {
  double var, es, var_lo, var_hi;
} ref_tail;

static ref_tail reference(const double *sorted, int64_t n, int64_t per10k) {
  ref_tail r;
  int64_t rank = (per10k * n + 9999) / 10000; /* ceil(alpha N) */
  r.var = sorted[rank - 1];
  int64_t tail_num = (10000 - per10k) * n; /* N (1 - alpha) * 10000 */
  int64_t m = tail_num / 10000;
  double share = (double)tail_num / 10000.0;
  if (m == 0) {
    r.es = sorted[n - 1];
  } else {
    double sum = 0.0;
    for (int64_t j = n - m; j < n; j++)
      sum += sorted[j];
    sum += (share - (double)m) * sorted[n - m - 1];
    r.es = sum / share;
  }
  double alpha = (double)per10k / 10000.0;
  double sd = sqrt((double)n * alpha * (1.0 - alpha));
  double at = (double)(per10k * n) / 10000.0; /* alpha N, exact here */
  double lo = ceil(at - 1.96 * sd), hi = ceil(at + 1.96 * sd);
  lo = lo < 1 ? 1 : (lo > (double)n ? (double)n : lo);
  hi = hi < 1 ? 1 : (hi > (double)n ? (double)n : hi);
  r.var_lo = sorted[(int64_t)lo - 1];
  r.var_hi = sorted[(int64_t)hi - 1];
  return r;
}

Test(stats, small_sample_by_hand) {
  double x[] = {1.0, -2.0, 3.0, 0.0, 5.0};
  sch_accum *acc = make(5, NULL, 0);
  sch_accum_add_block(acc, x, 2);
  sch_accum_add_block(acc, x + 2, 3);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  /* mean 7/5; squared deviations sum to 29.2; variance 29.2 / 4 = 7.3 */
  cr_assert_eq(s.n, 5);
  cr_assert_float_eq(s.mean, 1.4, 1e-15);
  cr_assert_float_eq(s.std, sqrt(7.3), 1e-14);
  cr_assert_float_eq(s.std_error, sqrt(7.3) / sqrt(5.0), 1e-14);
  cr_assert_eq(s.p_positive, 0.6);
  cr_assert_eq(s.max, 5.0);
  sch_accum_free(acc);
}

Test(stats, single_value_has_zero_std) {
  double x = -3.5;
  double level = 0.99;
  sch_accum *acc = make(1, &level, 1);
  sch_accum_add_block(acc, &x, 1);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  cr_assert_eq(s.std, 0.0);
  cr_assert_eq(s.p_positive, 0.0);
  cr_assert_eq(s.max, -3.5);
  cr_assert_eq(s.var[0], -3.5);
  cr_assert_eq(s.es[0], -3.5);
  sch_accum_free(acc);
}

/* 1..N shuffled: x_(i) = i, so VaR and ES are known exactly. */
Test(stats, var_es_on_integers) {
  const int64_t sizes[] = {1, 7, 10, 100, 999, 1000, 12345};
  const int64_t per10k[] = {5000, 9500, 9900, 9990, 9995};
  double levels[5];
  for (int i = 0; i < 5; i++)
    levels[i] = (double)per10k[i] / 10000.0;
  uint64_t seed = 7;
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    int64_t n = sizes[s];
    double *x = malloc((size_t)n * sizeof *x);
    double *sorted = malloc((size_t)n * sizeof *sorted);
    for (int64_t i = 0; i < n; i++)
      x[i] = sorted[i] = (double)(i + 1);
    for (int64_t i = n - 1; i > 0; i--) {
      int64_t j = (int64_t)(splitmix64(&seed) % (uint64_t)(i + 1));
      double t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
    sch_accum *acc = make(n, levels, 5);
    add_in_blocks(acc, x, (size_t)n, 64);
    sch_summary sum;
    sch_accum_summarise(acc, &sum);
    for (int l = 0; l < 5; l++) {
      ref_tail r = reference(sorted, n, per10k[l]);
      cr_assert_eq(sum.var[l], r.var, "N %ld level %g: VaR %g, want %g",
                   (long)n, levels[l], sum.var[l], r.var);
      cr_assert_float_eq(sum.es[l], r.es, 1e-9 * r.es,
                         "N %ld level %g: ES %.17g, want %.17g", (long)n,
                         levels[l], sum.es[l], r.es);
      cr_assert_eq(sum.var_lo[l], r.var_lo, "N %ld level %g", (long)n,
                   levels[l]);
      cr_assert_eq(sum.var_hi[l], r.var_hi, "N %ld level %g", (long)n,
                   levels[l]);
      cr_assert(sum.es_lo[l] <= sum.es[l] && sum.es[l] <= sum.es_hi[l]);
    }
    sch_accum_free(acc);
    free(x);
    free(sorted);
  }
}

/* Hand check of the fractional boundary weight: N = 10, alpha = 0.95. */
Test(stats, es_fractional_share_by_hand) {
  double x[10];
  for (int i = 0; i < 10; i++)
    x[i] = (double)(10 - i);
  double levels[] = {0.75, 0.95};
  sch_accum *acc = make(10, levels, 2);
  sch_accum_add_block(acc, x, 10);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  /* 0.75: VaR = x_(8) = 8; share 2.5, m = 2: (10 + 9 + 0.5 * 8) / 2.5 */
  cr_assert_eq(s.var[0], 8.0);
  cr_assert_float_eq(s.es[0], 23.0 / 2.5, 1e-14);
  /* 0.95: share 0.5 < 1, ES = max; VaR = x_(10) */
  cr_assert_eq(s.var[1], 10.0);
  cr_assert_eq(s.es[1], 10.0);
  sch_accum_free(acc);
}

static double *tied_values(int64_t n, uint64_t seed) {
  double *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++) {
    /* heavy right tail on a coarse grid: many ties, zeros and negatives */
    double u = uniform01(&seed);
    x[i] = floor(-log1p(-u) * 40.0) - 20.0;
  }
  return x;
}

Test(stats, top_k_equals_full_sort) {
  const int64_t n = 200000;
  const int64_t per10k[] = {9500, 9900, 9990};
  double levels[] = {0.95, 0.99, 0.999};
  double *x = tied_values(n, 2024);
  double *sorted = malloc((size_t)n * sizeof *sorted);
  memcpy(sorted, x, (size_t)n * sizeof *x);
  qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
  sch_accum *acc = make(n, levels, 3);
  sch_summary s;
  /* a summary half way (it sorts the heap in place) must not disturb it */
  add_in_blocks(acc, x, (size_t)n / 2, 4096);
  sch_accum_summarise(acc, &s);
  add_in_blocks(acc, x + n / 2, (size_t)(n - n / 2), 4096);
  sch_accum_summarise(acc, &s);
  cr_assert_eq(s.max, sorted[n - 1]);
  for (int l = 0; l < 3; l++) {
    ref_tail r = reference(sorted, n, per10k[l]);
    cr_assert_eq(s.var[l], r.var);
    cr_assert_eq(s.var_lo[l], r.var_lo);
    cr_assert_eq(s.var_hi[l], r.var_hi);
    cr_assert_float_eq(s.es[l], r.es, 1e-12 * fabs(r.es));
  }
  sch_accum_free(acc);
  free(x);
  free(sorted);
}

static sch_summary summarise_blocks(const double *x, size_t block,
                                    size_t n_blocks, const size_t *order,
                                    sch_accum **keep) {
  double levels[] = {0.95, 0.99, 0.999};
  sch_accum *acc = make((int64_t)(block * n_blocks), levels, 3);
  for (size_t b = 0; b < n_blocks; b++)
    sch_accum_add_block(acc, x + order[b] * block, block);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  *keep = acc;
  return s;
}

Test(stats, block_order_does_not_change_tail) {
  enum { BLOCK = 1000, BLOCKS = 50 };
  double *x = tied_values(BLOCK * BLOCKS, 99);
  size_t fwd[BLOCKS], rev[BLOCKS];
  for (size_t b = 0; b < BLOCKS; b++) {
    fwd[b] = b;
    rev[b] = BLOCKS - 1 - b;
  }
  sch_accum *a1, *a2, *a3;
  sch_summary s1 = summarise_blocks(x, BLOCK, BLOCKS, fwd, &a1);
  sch_summary s2 = summarise_blocks(x, BLOCK, BLOCKS, rev, &a2);
  sch_summary s3 = summarise_blocks(x, BLOCK, BLOCKS, fwd, &a3);
  size_t lv = sizeof(double) * 3;
  cr_assert(memcmp(s1.var, s2.var, lv) == 0);
  cr_assert(memcmp(s1.var_lo, s2.var_lo, lv) == 0);
  cr_assert(memcmp(s1.var_hi, s2.var_hi, lv) == 0);
  cr_assert(memcmp(s1.es, s2.es, lv) == 0);
  cr_assert(memcmp(s1.es_lo, s2.es_lo, lv) == 0);
  cr_assert(memcmp(s1.es_hi, s2.es_hi, lv) == 0);
  cr_assert(memcmp(&s1.max, &s2.max, sizeof s1.max) == 0);
  cr_assert(memcmp(&s1.p_positive, &s2.p_positive, sizeof(double)) == 0);
  cr_assert(
      memcmp(s1.counts, s2.counts, sizeof(uint64_t) * (size_t)s1.n_bins) == 0);
  /* the same order twice: moments reproduce bitwise */
  cr_assert(memcmp(&s1.mean, &s3.mean, sizeof(double)) == 0);
  cr_assert(memcmp(&s1.std, &s3.std, sizeof(double)) == 0);
  /* and another order agrees to rounding */
  cr_assert_float_eq(s1.mean, s2.mean, 1e-12 * fabs(s1.mean) + 1e-12);
  sch_accum_free(a1);
  sch_accum_free(a2);
  sch_accum_free(a3);
  free(x);
}

Test(stats, summarise_twice_then_add_more) {
  double level = 0.9;
  double x[20];
  for (int i = 0; i < 20; i++)
    x[i] = (double)i;
  sch_accum *acc = make(20, &level, 1);
  sch_accum_add_block(acc, x, 10);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  cr_assert_eq(s.var[0], 8.0); /* ceil(0.9 * 10) = 9th of 0..9 */
  sch_accum_add_block(acc, x + 10, 10);
  sch_accum_summarise(acc, &s);
  cr_assert_eq(s.var[0], 17.0); /* 18th of 0..19 */
  cr_assert_eq(s.max, 19.0);
  sch_accum_free(acc);
}

Test(stats, histogram_edges_and_bins) {
  sch_error err = {{0}};
  sch_hist_spec h = {1.0, 1000.0, 1};
  sch_accum *acc = sch_accum_create(10, NULL, 0, h, &err);
  cr_assert_not_null(acc, "%s", err.msg);
  double x[] = {-5.0, 0.0, 0.5, 1.0, 9.99, 10.0, 999.0, 1000.0, 1e9, INFINITY};
  sch_accum_add_block(acc, x, 10);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  cr_assert_eq(s.n_bins, 5);
  const double want_edges[] = {-INFINITY, 1.0, 10.0, 100.0, 1000.0, INFINITY};
  for (int i = 0; i < 6; i++)
    cr_assert_eq(s.edges[i], want_edges[i], "edge %d: %g", i, s.edges[i]);
  const uint64_t want[] = {3, 2, 1, 1, 3};
  uint64_t total = 0;
  for (int i = 0; i < 5; i++) {
    cr_assert_eq(s.counts[i], want[i], "bin %d: %lu", i,
                 (unsigned long)s.counts[i]);
    total += s.counts[i];
  }
  cr_assert_eq(total, 10);
  sch_accum_free(acc);
}

Test(stats, histogram_last_edge_covers_hi) {
  sch_error err = {{0}};
  sch_hist_spec h = {1.0, 50.0, 1};
  sch_accum *acc = sch_accum_create(0, NULL, 0, h, &err);
  cr_assert_not_null(acc, "%s", err.msg);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  cr_assert_eq(s.n_bins, 4); /* -inf, 1, 10, 100, +inf */
  cr_assert_eq(s.edges[3], 100.0);
  cr_assert(isnan(s.mean)); /* nothing added */
  sch_accum_free(acc);
}

Test(stats, nan_is_not_dropped_silently) {
  double level = 0.5;
  double x[] = {1.0, NAN, 3.0};
  sch_accum *acc = make(3, &level, 1);
  sch_accum_add_block(acc, x, 3);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  cr_assert_eq(s.n, 3);
  cr_assert(isnan(s.mean));
  cr_assert(isnan(s.std));
  cr_assert(isnan(s.var[0]));
  cr_assert(isnan(s.es[0]));
  uint64_t total = 0;
  for (int i = 0; i < s.n_bins; i++)
    total += s.counts[i];
  cr_assert_eq(total, 2);
  sch_accum_free(acc);
}

/* Exp(1): VaR_0.99 = ln 100, ES_0.99 = 1 + ln 100. Fixed seed. */
Test(stats, ci_contains_exponential_truth) {
  const int64_t n = 200000;
  double level = 0.99;
  uint64_t seed = 12345;
  double *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++)
    x[i] = -log1p(-uniform01(&seed));
  sch_accum *acc = make(n, &level, 1);
  add_in_blocks(acc, x, (size_t)n, 8192);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  double var = log(100.0), es = 1.0 + log(100.0);
  cr_assert(s.var_lo[0] <= var && var <= s.var_hi[0], "VaR CI [%g, %g]",
            s.var_lo[0], s.var_hi[0]);
  cr_assert(s.es_lo[0] <= es && es <= s.es_hi[0], "ES CI [%g, %g]", s.es_lo[0],
            s.es_hi[0]);
  /* asymptotic ES std error sqrt(1.99 / 0.01 / N) = 0.0315 */
  double half = (s.es_hi[0] - s.es_lo[0]) / 2.0;
  cr_assert_float_eq(half, 1.96 * sqrt(199.0 / (double)n), 0.01);
  cr_assert(s.var_hi[0] - s.var_lo[0] < 0.2);
  sch_accum_free(acc);
  free(x);
}

/* A rare loss: one path in 20,000 loses 1e5. ES_0.99 = 1e5 / 200 = 500 and
 * VaR_0.99 = 0; the normal bound 500 - 1.96 se (se = 500, from the tail's
 * 201 values) is -480, below anything the loss takes: the lower end is
 * raised to the VaR interval's, 0, and the upper end keeps the formula. */
Test(stats, es_lower_bound_not_below_var_interval) {
  const int64_t n = 20000;
  double level = 0.99;
  double *x = calloc((size_t)n, sizeof *x);
  x[4321] = 1e5;
  sch_accum *acc = make(n, &level, 1);
  add_in_blocks(acc, x, (size_t)n, 8192);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  cr_assert_float_eq(s.es[0], 500.0, 1e-9);
  cr_assert_eq(s.var[0], 0.0);
  cr_assert_eq(s.var_lo[0], 0.0);
  double mu = 1e5 / 201.0;
  double cond_var = (1e10 - 201.0 * mu * mu) / 200.0;
  double se = sqrt((cond_var + 0.99 * 500.0 * 500.0) / (n * 0.01));
  cr_assert(500.0 - 1.96 * se < 0.0, "the case must need the raise");
  cr_assert_eq(s.es_lo[0], 0.0, "ES lower bound %g", s.es_lo[0]);
  cr_assert_float_eq(s.es_hi[0], 500.0 + 1.96 * se, 1e-6 * se);
  sch_accum_free(acc);
  free(x);
}

Test(stats, level_names) {
  char buf[16];
  const double levels[] = {0.95, 0.99, 0.999, 0.9995, 0.5, 0.975};
  const char *want[] = {"95", "99", "999", "9995", "50", "975"};
  for (int i = 0; i < 6; i++) {
    sch_level_name(levels[i], buf, sizeof buf);
    cr_assert_str_eq(buf, want[i]);
  }
}

Test(stats, bad_arguments_fail) {
  sch_error err = {{0}};
  double bad = 1.0;
  cr_assert_null(sch_accum_create(10, &bad, 1, grid, &err));
  cr_assert(strlen(err.msg) > 0 && !strchr(err.msg, '\n'));
  sch_hist_spec h = {0.0, 10.0, 1};
  double ok = 0.9;
  cr_assert_null(sch_accum_create(10, &ok, 1, h, &err));
  cr_assert(strstr(err.msg, "histogram") != NULL);
}

/* Two shards keep only min(k, own paths) tail values each; absorbed into a
 * run-wide accumulator they give the single run's VaR and ES exactly. */
Test(stats, shard_tails_sized_by_own_paths) {
  double level = 0.5; /* k ~ n/2 + 3 sd: more than a small shard's paths */
  enum { N = 400, OWN = 60 };
  double x[N];
  for (int i = 0; i < N; i++)
    x[i] = (double)((i * 7919) % N); /* a permutation of 0..N-1 */
  sch_error err = {{0}};
  sch_accum *whole = make(N, &level, 1);
  sch_accum_add_block(whole, x, N);
  sch_accum *small = make(N, &level, 1), *big = make(N, &level, 1);
  cr_assert(sch_accum_limit_tail(small, OWN));
  cr_assert(sch_accum_limit_tail(big, N - OWN));
  sch_accum_add_block(small, x, OWN);
  sch_accum_add_block(big, x + OWN, N - OWN);
  sch_accum_state st;
  sch_accum_get_state(small, &st);
  cr_assert_eq(st.tail_len, OWN, "a shard keeps all its %d values", OWN);
  /* a non-empty accumulator refuses a smaller tail */
  cr_assert_not(sch_accum_limit_tail(small, 1));
  sch_accum *merged = make(N, &level, 1);
  double mean, m2; /* moments in block order, as a merge replays them */
  sch_block_moments(x, OWN, &mean, &m2);
  sch_accum_merge_moments(merged, OWN, mean, m2);
  sch_block_moments(x + OWN, N - OWN, &mean, &m2);
  sch_accum_merge_moments(merged, N - OWN, mean, m2);
  cr_assert_eq(sch_accum_absorb(merged, &st, &err), SCH_OK, "%s", err.msg);
  sch_accum_get_state(big, &st);
  cr_assert_eq(sch_accum_absorb(merged, &st, &err), SCH_OK, "%s", err.msg);
  sch_summary a, b;
  sch_accum_summarise(whole, &a);
  sch_accum_summarise(merged, &b);
  cr_assert_eq(a.var[0], b.var[0]);
  cr_assert_eq(a.es[0], b.es[0]);
  cr_assert_eq(b.var[0], (double)(N / 2 - 1)); /* the 200th of 0..399 */
  sch_accum_free(whole);
  sch_accum_free(small);
  sch_accum_free(big);
  sch_accum_free(merged);
}
