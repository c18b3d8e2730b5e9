/*
 * Exact summary statistics of one metric (DESIGN.md section 5,
 * docs/output.md).
 *
 * Moments: each block gets a two-pass mean and M2, merged into the running
 * totals with Chan, Golub & LeVeque's pairwise formula, in call order (block
 * index order). The result is a pure function of the values and the block
 * boundaries.
 *
 * Tail: a min-heap keeps the k largest values seen. The multiset it holds is
 * independent of the order the values arrive in, and every tail figure is
 * computed after sorting it, so VaR, ES, their intervals, max and
 * P(>0) do not depend on the block order at all.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schelling/stats.h"

/* Two-sided 95% normal quantile, rounded as in docs/output.md. */
#define Z95 1.96

/* Most histogram bins a grid may have (a guard against a silly spec). */
#define MAX_HIST_BINS 100000

/* NAN is a float; spelled as a double to keep -Wdouble-promotion quiet. */
#define NaN ((double)NAN)

struct sch_accum {
  int64_t n_total;
  int n_levels;
  double level[SCH_MAX_LEVELS];
  /* moments */
  int64_t n;
  int64_t n_nan;
  int64_t n_positive;
  double mean;
  double m2;
  double max;
  /* min-heap of the k largest values */
  size_t k_cap;
  size_t k_len;
  double *heap;
  /* histogram */
  int n_bins;
  double *edges;
  uint64_t *counts;
};

/*
 * Levels are decimal fractions (0.95, 0.999) that doubles hold only
 * approximately, so alpha * N for a whole N can land a hair off the integer
 * it stands for. Products within 1e-9 (relative) of an integer are taken as
 * that integer before rounding up or down.
 */
static double snap(double x) {
  double r = nearbyint(x);
  return fabs(x - r) <= 1e-9 * fmax(1.0, fabs(x)) ? r : x;
}

static int64_t ceil_snap(double x) {
  return (int64_t)ceil(snap(x));
}

static int64_t floor_snap(double x) {
  return (int64_t)floor(snap(x));
}

/*
 * Values kept for one level: the tail beyond the VaR rank plus a margin that
 * covers the lower end of the VaR confidence interval (1.96 sigma, with room).
 */
static int64_t tail_need(int64_t n, double alpha) {
  double nd = (double)n;
  double sd = sqrt(nd * alpha * (1.0 - alpha));
  int64_t k = ceil_snap((1.0 - alpha) * nd) + (int64_t)ceil(3.0 * sd) + 2;
  return k < n ? k : n;
}

static size_t tail_capacity(int64_t n, const double *levels, int n_levels) {
  int64_t k = 0;
  for (int i = 0; i < n_levels; i++) {
    int64_t need = tail_need(n, levels[i]);
    if (need > k)
      k = need;
  }
  return (size_t)k;
}

static double hist_edge(const sch_hist_spec *h, int k) {
  return h->lo * pow(10.0, (double)k / h->bins_per_decade);
}

/* Finite edges lo * 10^(k/b), k = 0..K, K the first with edge >= hi. */
static int hist_finite_edges(const sch_hist_spec *h) {
  int k = 0;
  while (hist_edge(h, k) < h->hi * (1.0 - 1e-12) && k < MAX_HIST_BINS)
    k++;
  return k + 1;
}

static sch_status hist_init(sch_accum *acc, sch_hist_spec h, sch_error *err) {
  if (!(h.lo > 0.0) || !isfinite(h.lo) || !isfinite(h.hi) ||
      h.bins_per_decade <= 0)
    return sch_fail(err, SCH_ERR_INPUT,
                    "histogram grid needs 0 < lo, finite hi and "
                    "bins_per_decade > 0 (got lo %g, hi %g, %d per decade)",
                    h.lo, h.hi, h.bins_per_decade);
  int finite = hist_finite_edges(&h);
  if (finite > MAX_HIST_BINS)
    return sch_fail(err, SCH_ERR_INPUT,
                    "histogram grid from %g to %g at %d per decade has more "
                    "than %d bins",
                    h.lo, h.hi, h.bins_per_decade, MAX_HIST_BINS);
  acc->n_bins = finite + 1;
  acc->edges = malloc(((size_t)acc->n_bins + 1) * sizeof *acc->edges);
  acc->counts = calloc((size_t)acc->n_bins, sizeof *acc->counts);
  if (!acc->edges || !acc->counts)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory for a histogram");
  acc->edges[0] = -INFINITY;
  for (int k = 0; k < finite; k++)
    acc->edges[k + 1] = hist_edge(&h, k);
  acc->edges[acc->n_bins] = INFINITY;
  return SCH_OK;
}

sch_accum *sch_accum_create(int64_t n_total, const double *levels, int n_levels,
                            sch_hist_spec hist, sch_error *err) {
  if (n_total < 0 || n_levels < 0 || n_levels > SCH_MAX_LEVELS ||
      (n_levels > 0 && !levels)) {
    sch_fail(err, SCH_ERR_INPUT,
             "statistics: bad arguments (%lld paths, %d levels, at most %d)",
             (long long)n_total, n_levels, SCH_MAX_LEVELS);
    return NULL;
  }
  for (int i = 0; i < n_levels; i++) {
    if (!(levels[i] > 0.0 && levels[i] < 1.0)) {
      sch_fail(err, SCH_ERR_INPUT, "statistics: level %g is not in (0, 1)",
               levels[i]);
      return NULL;
    }
  }
  sch_accum *acc = calloc(1, sizeof *acc);
  if (!acc) {
    sch_fail(err, SCH_ERR_RUNTIME, "out of memory for statistics");
    return NULL;
  }
  acc->n_total = n_total;
  acc->n_levels = n_levels;
  for (int i = 0; i < n_levels; i++)
    acc->level[i] = levels[i];
  acc->max = -INFINITY;
  acc->k_cap = tail_capacity(n_total, levels, n_levels);
  if (acc->k_cap > 0) {
    acc->heap = malloc(acc->k_cap * sizeof *acc->heap);
    if (!acc->heap) {
      sch_fail(err, SCH_ERR_RUNTIME,
               "out of memory for the top %zu values of %lld paths", acc->k_cap,
               (long long)n_total);
      sch_accum_free(acc);
      return NULL;
    }
  }
  if (hist_init(acc, hist, err) != SCH_OK) {
    sch_accum_free(acc);
    return NULL;
  }
  return acc;
}

bool sch_accum_limit_tail(sch_accum *acc, int64_t max_values) {
  if (acc->k_len > 0 || max_values < 0 || (size_t)max_values >= acc->k_cap)
    return acc->k_len == 0 || (size_t)max_values >= acc->k_cap;
  size_t cap = (size_t)max_values;
  double *heap = cap > 0 ? malloc(cap * sizeof *heap) : NULL;
  if (cap > 0 && !heap)
    return false;
  free(acc->heap);
  acc->heap = heap;
  acc->k_cap = cap;
  return true;
}

void sch_accum_free(sch_accum *acc) {
  if (!acc)
    return;
  free(acc->heap);
  free(acc->edges);
  free(acc->counts);
  free(acc);
}

static void heap_sift_down(double *heap, size_t len, size_t i) {
  double v = heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= len)
      break;
    if (child + 1 < len && heap[child + 1] < heap[child])
      child++;
    if (!(heap[child] < v))
      break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = v;
}

static void heap_sift_up(double *heap, size_t i) {
  double v = heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!(v < heap[parent]))
      break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = v;
}

/* Keep x if it is among the k largest seen; ties leave the multiset as is. */
static void tail_offer(sch_accum *acc, double x) {
  if (acc->k_len < acc->k_cap) {
    acc->heap[acc->k_len] = x;
    heap_sift_up(acc->heap, acc->k_len);
    acc->k_len++;
  } else if (acc->k_cap > 0 && x > acc->heap[0]) {
    acc->heap[0] = x;
    heap_sift_down(acc->heap, acc->k_len, 0);
  }
}

/* Bin of x: the number of finite edges <= x (edges[1..n_bins-1]). */
static int hist_bin(const sch_accum *acc, double x) {
  int lo = 0, hi = acc->n_bins - 1; /* answer in [lo, hi] */
  while (lo < hi) {
    int mid = lo + (hi - lo + 1) / 2;
    if (acc->edges[mid] <= x)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

/* Two-pass mean and M2 of one block; NaN propagates on purpose. */
void sch_block_moments(const double *values, size_t n, double *mean,
                       double *m2) {
  double sum = 0.0;
  for (size_t i = 0; i < n; i++)
    sum += values[i];
  double mu = sum / (double)n;
  double ss = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = values[i] - mu;
    ss += d * d;
  }
  *mean = mu;
  *m2 = ss;
}

/* Chan, Golub & LeVeque (1979): merge (n_b, mean_b, M2_b) into the totals. */
void sch_accum_merge_moments(sch_accum *acc, int64_t n_b, double mean_b,
                             double m2_b) {
  if (acc->n == 0) {
    acc->n = n_b;
    acc->mean = mean_b;
    acc->m2 = m2_b;
    return;
  }
  double na = (double)acc->n, nb = (double)n_b, n = na + nb;
  double delta = mean_b - acc->mean;
  acc->mean += delta * (nb / n);
  acc->m2 += m2_b + delta * delta * (na * nb / n);
  acc->n += n_b;
}

void sch_accum_add_block(sch_accum *acc, const double *values, size_t n) {
  if (n == 0)
    return;
  double mean_b, m2_b;
  sch_block_moments(values, n, &mean_b, &m2_b);
  sch_accum_merge_moments(acc, (int64_t)n, mean_b, m2_b);
  for (size_t i = 0; i < n; i++) {
    double x = values[i];
    if (isnan(x)) {
      acc->n_nan++; /* in no bin, never in the tail; see summarise */
      continue;
    }
    if (x > 0.0)
      acc->n_positive++;
    if (x > acc->max)
      acc->max = x;
    acc->counts[hist_bin(acc, x)]++;
    tail_offer(acc, x);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The kept tail in ascending order; x_(r) is tail[r - (n - len) - 1]. */
typedef struct tail_view {
  const double *v;
  int64_t len;
  int64_t n;
} tail_view;

static bool tail_has(const tail_view *t, int64_t rank) {
  return rank >= 1 && rank <= t->n && rank > t->n - t->len;
}

static double order_stat(const tail_view *t, int64_t rank) {
  return tail_has(t, rank) ? t->v[rank - (t->n - t->len) - 1] : NaN;
}

static int64_t clamp_rank(int64_t r, int64_t n) {
  return r < 1 ? 1 : (r > n ? n : r);
}

/*
 * Acerbi & Tasche (2002): ES = [sum of the top m values + (t - m) x_(N-m)]
 * / t with t = N (1 - alpha), m = floor(t); ES = max when t < 1.
 */
static double expected_shortfall(const tail_view *t, double alpha) {
  double share = snap((double)t->n * (1.0 - alpha));
  if (share < 1.0)
    return order_stat(t, t->n);
  int64_t m = floor_snap(share);
  if (!tail_has(t, t->n - m))
    return NaN;
  double sum = 0.0;
  for (int64_t j = 0; j < m; j++) /* ascending: smallest of the top first */
    sum += order_stat(t, t->n - m + 1 + j);
  sum += (share - (double)m) * order_stat(t, t->n - m);
  return sum / share;
}

/*
 * Asymptotic standard error of the ES estimator (Yamai & Yoshiba 2002;
 * Brazauskas, Jones, Puri & Zitikis 2008):
 *   Var(ES_hat) ~ [Var(X | X >= VaR) + alpha (ES - VaR)^2] / (N (1 - alpha)),
 * with the conditional variance taken over x_(r) .. x_(N), r the VaR rank.
 */
static double es_std_error(const tail_view *t, double alpha, int64_t r,
                           double var, double es) {
  int64_t count = t->n - r + 1;
  double sum = 0.0;
  for (int64_t j = r; j <= t->n; j++)
    sum += order_stat(t, j);
  double mu = sum / (double)count, ss = 0.0;
  for (int64_t j = r; j <= t->n; j++) {
    double d = order_stat(t, j) - mu;
    ss += d * d;
  }
  double cond_var = count > 1 ? ss / (double)(count - 1) : 0.0;
  double gap = es - var;
  double v = (cond_var + alpha * gap * gap) / ((double)t->n * (1.0 - alpha));
  return sqrt(v);
}

static void level_figures(const tail_view *t, int i, double alpha,
                          sch_summary *out) {
  double nd = (double)t->n;
  double sd = sqrt(nd * alpha * (1.0 - alpha));
  int64_t r = clamp_rank(ceil_snap(alpha * nd), t->n);
  int64_t r_lo = clamp_rank(ceil_snap(alpha * nd - Z95 * sd), t->n);
  int64_t r_hi = clamp_rank(ceil_snap(alpha * nd + Z95 * sd), t->n);
  out->var[i] = order_stat(t, r);
  out->var_lo[i] = order_stat(t, r_lo);
  out->var_hi[i] = order_stat(t, r_hi);
  out->es[i] = expected_shortfall(t, alpha);
  if (!tail_has(t, r) || isnan(out->es[i])) {
    out->es_lo[i] = out->es_hi[i] = NaN;
    return;
  }
  double se = es_std_error(t, alpha, r, out->var[i], out->es[i]);
  /* ES >= VaR for every distribution, so the ES is below the VaR interval's
   * lower end only when that interval misses too: the normal bound is
   * raised to it. With few non-zero tail values (a rare loss) the normal
   * bound would otherwise fall below any value the metric takes. */
  out->es_lo[i] = fmax(out->es[i] - Z95 * se, out->var_lo[i]);
  out->es_hi[i] = out->es[i] + Z95 * se;
}

static void fill_nan_tail(sch_summary *out) {
  for (int i = 0; i < out->n_levels; i++)
    out->var[i] = out->var_lo[i] = out->var_hi[i] = out->es[i] = out->es_lo[i] =
        out->es_hi[i] = NaN;
}

void sch_accum_summarise(const sch_accum *acc, sch_summary *out) {
  memset(out, 0, sizeof *out);
  out->n = acc->n;
  out->n_levels = acc->n_levels;
  for (int i = 0; i < acc->n_levels; i++)
    out->level[i] = acc->level[i];
  out->n_bins = acc->n_bins;
  out->edges = acc->edges;
  out->counts = acc->counts;
  if (acc->n == 0 || acc->n_nan > 0) {
    /* Nothing to summarise, or NaN input: no figure may look valid. */
    out->mean = out->std = out->std_error = NaN;
    out->p_positive = acc->n ? (double)acc->n_positive / (double)acc->n : NaN;
    out->max = acc->n > acc->n_nan ? acc->max : NaN;
    fill_nan_tail(out);
    return;
  }
  double nd = (double)acc->n;
  out->mean = acc->mean;
  out->std = acc->n > 1 ? sqrt(acc->m2 / (nd - 1.0)) : 0.0;
  out->std_error = out->std / sqrt(nd);
  out->p_positive = (double)acc->n_positive / nd;
  out->max = acc->max;
  /*
   * Sort the heap in place: an ascending array is itself a valid min-heap,
   * so the accumulator stays usable for further blocks (no scratch copy, k
   * doubles of memory saved).
   */
  if (acc->k_len > 0)
    qsort(acc->heap, acc->k_len, sizeof *acc->heap, cmp_double);
  tail_view t = {acc->heap, (int64_t)acc->k_len, acc->n};
  for (int i = 0; i < acc->n_levels; i++)
    level_figures(&t, i, acc->level[i], out);
}

void sch_level_name(double level, char *buf, size_t len) {
  if (len == 0)
    return;
  char digits[32];
  snprintf(digits, sizeof digits, "%.9f", level);
  char *frac = strchr(digits, '.');
  frac = frac ? frac + 1 : digits;
  size_t n = strlen(frac);
  while (n > 2 && frac[n - 1] == '0')
    n--;
  frac[n] = '\0';
  snprintf(buf, len, "%s", frac);
}

/* ---- state for exact merging of shards ------------------------------------ */

void sch_accum_get_state(const sch_accum *acc, sch_accum_state *out) {
  out->n = acc->n;
  out->n_nan = acc->n_nan;
  out->n_positive = acc->n_positive;
  out->max = acc->max;
  out->tail_len = acc->k_len;
  out->tail = acc->heap;
  out->n_bins = acc->n_bins;
  out->counts = acc->counts;
}

sch_status sch_accum_absorb(sch_accum *acc, const sch_accum_state *s,
                            sch_error *err) {
  if (s->n_bins != acc->n_bins)
    return sch_fail(err, SCH_ERR_INPUT,
                    "accumulator state has %d histogram bins, expected %d",
                    s->n_bins, acc->n_bins);
  acc->n_nan += s->n_nan;
  acc->n_positive += s->n_positive;
  if (s->max > acc->max)
    acc->max = s->max;
  for (int b = 0; b < acc->n_bins; b++)
    acc->counts[b] += s->counts[b];
  for (size_t i = 0; i < s->tail_len; i++)
    tail_offer(acc, s->tail[i]);
  return SCH_OK;
}
