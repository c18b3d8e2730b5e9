#include "cascade.h"
#include "paths.h" /* SCH_LANES, the engine's lanes per block */

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Relative slack on the price-ratio bounds, far above rounding error: the
 * bound only chooses which accounts get an exact check, so slack costs a few
 * exact checks and never changes a result. */
#define BOUND_SLACK 1e-9
/* Log impact below this is dropped: exp(-I) is then 1 to the last bit. */
#define IMPACT_FLOOR 1e-18

static inline double min_d(double a, double b) { return b < a ? b : a; }
static inline double max_d(double a, double b) { return b > a ? b : a; }

typedef struct pending_obs {
  int64_t step;
  double price;
} pending_obs;

typedef struct owing_entry {
  double health0;
  int32_t slot;
} owing_entry;

typedef struct candidate {
  double health;
  int32_t account;
  bool dormant; /* unprofitable until some oracle observes again */
} candidate;

struct sch_cascade_ws {
  int n_assets;
  int64_t n_accounts;
  int32_t *slot_of_account; /* -1: untouched, the book's amounts hold */
  int32_t *touched_account;
  double *touched_collateral; /* [slot * n_assets + asset] */
  double *touched_debt;
  double *touched_health0; /* HF at S(0) prices of the current amounts */
  int32_t *touched_group;
  int64_t n_touched;
  /* per group, its touched accounts that still owe (the others can never
   * be liquidated again) by HF at S(0) prices: owing[owing_base[g] ..
   * owing_base[g] + owing_n[g]) */
  struct owing_entry *owing;
  int64_t *owing_base, *owing_n;
  /* per group: by_health[0 .. cursor) are all touched on this path */
  int64_t *group_cursor;
  double *group_bound; /* per collection: max_D r / min_C r of each group */
  uint8_t *skipped;
  int32_t *skipped_list;
  int64_t n_skipped;
  candidate *cand, *cand_tmp; /* cand_tmp: merge buffer */
  candidate *cand_new; /* a collection's candidates of the groups it redoes */
  uint8_t *group_dirty; /* scratch of a collection: the groups it collects
                           anew (all 0 between collections) */
  /* accounts liquidated since the last collection (their HF changed; no
   * other account's did unless an oracle price changed) */
  uint8_t *changed;
  int32_t *changed_list;
  int64_t n_changed;
  int64_t n_cand;
  pending_obs *pending; /* per asset ring of pending_cap */
  int64_t pending_cap;
  double *log_gas_price_hist; /* log M_gas at the start of each step */
  /* derived once per run */
  int n_risky_assets;
  int risky[SCH_K_MAX_ASSETS];          /* asset index of each risky asset */
  int64_t heartbeat_steps[SCH_K_MAX_ASSETS]; /* first m: m dt >= hb */
  double log1p_down[SCH_K_MAX_ASSETS], log1p_up[SCH_K_MAX_ASSETS]; /* +-dev */
  double log_price0[SCH_K_MAX_ASSETS];
  /* later mechanisms run on the reference cascade (kernels/cascade_ref.h) */
  sch_cascade_ref_ws *ref;
};

/* The heartbeat rule (k - k_last) dt >= hb as a whole number of steps. */
static int64_t heartbeat_in_steps(double heartbeat_s, double dt_s) {
  int64_t m = (int64_t)(heartbeat_s / dt_s);
  if (m < 1)
    m = 1;
  while (m > 1 && (double)(m - 1) * dt_s >= heartbeat_s)
    m--;
  while ((double)m * dt_s < heartbeat_s)
    m++;
  return m;
}

sch_cascade_ws *sch_cascade_ws_create(const sch_market_model *mm) {
  sch_cascade_ws *ws = calloc(1, sizeof *ws);
  if (!ws)
    return NULL;
  const int64_t na = mm->n_accounts, nas = mm->n_assets;
  int64_t max_delay = 0;
  for (int i = 0; i < mm->n_assets; i++)
    if (mm->oracle_delay_steps[i] > max_delay)
      max_delay = mm->oracle_delay_steps[i];
  ws->n_assets = mm->n_assets;
  ws->n_accounts = na;
  ws->pending_cap = (max_delay + 1) * (mm->max_rounds_per_step + 1) + 1;
  size_t acc = (size_t)(na > 0 ? na : 1);
  ws->slot_of_account = malloc(acc * sizeof(int32_t));
  ws->touched_account = malloc(acc * sizeof(int32_t));
  ws->touched_collateral = malloc(acc * (size_t)nas * sizeof(double));
  ws->touched_debt = malloc(acc * (size_t)nas * sizeof(double));
  ws->touched_health0 = malloc(acc * sizeof(double));
  ws->touched_group = malloc(acc * sizeof(int32_t));
  ws->owing = malloc(acc * sizeof(owing_entry));
  ws->owing_base = malloc((size_t)(mm->n_groups + 1) * sizeof(int64_t));
  ws->owing_n = calloc((size_t)(mm->n_groups + 1), sizeof(int64_t));
  ws->group_cursor = calloc((size_t)(mm->n_groups + 1), sizeof(int64_t));
  ws->group_bound = malloc((size_t)(mm->n_groups + 1) * sizeof(double));
  ws->skipped = calloc(acc, 1);
  ws->skipped_list = malloc(acc * sizeof(int32_t));
  ws->cand = malloc(acc * sizeof(candidate));
  ws->cand_tmp = malloc(acc * sizeof(candidate));
  ws->cand_new = malloc(acc * sizeof(candidate));
  ws->group_dirty = calloc((size_t)(mm->n_groups + 1), 1);
  ws->changed = calloc(acc, 1);
  ws->changed_list = malloc(acc * sizeof(int32_t));
  ws->pending = malloc((size_t)(ws->pending_cap * nas) * sizeof(pending_obs));
  ws->log_gas_price_hist = malloc((size_t)(mm->n_steps + 1) * sizeof(double));
  for (int i = 0; i < mm->n_assets; i++) {
    double dev = mm->oracle_deviation[i];
    ws->log1p_down[i] = dev > 0.0 && dev < 1.0 ? log1p(-dev) : 0.0;
    ws->log1p_up[i] = dev > 0.0 ? log1p(dev) : 0.0;
    ws->log_price0[i] = log(mm->price0[i]);
    if (mm->stable[i])
      continue;
    ws->risky[ws->n_risky_assets++] = i;
    ws->heartbeat_steps[i] =
        heartbeat_in_steps(mm->oracle_heartbeat_s[i], mm->dt_s);
  }
  if (!ws->slot_of_account || !ws->touched_account || !ws->touched_health0 ||
      !ws->group_bound || !ws->touched_group || !ws->owing ||
      !ws->owing_base || !ws->owing_n || !ws->group_cursor ||
      !ws->touched_collateral || !ws->touched_debt || !ws->skipped ||
      !ws->skipped_list || !ws->cand || !ws->cand_tmp ||
      !ws->cand_new || !ws->group_dirty || !ws->changed ||
      !ws->changed_list || !ws->pending ||
      !ws->log_gas_price_hist ||
      (mm->reference_only && !(ws->ref = sch_cascade_ref_ws_create(mm)))) {
    sch_cascade_ws_free(ws);
    return NULL;
  }
  for (int64_t a = 0; a < na; a++)
    ws->slot_of_account[a] = -1;
  for (int g = 0, base = 0; g < mm->n_groups; base += mm->groups[g++].n)
    ws->owing_base[g] = base;
  return ws;
}

void sch_cascade_set_path(sch_cascade_ws *ws, uint64_t path) {
  if (ws->ref)
    sch_cascade_ref_set_path(ws->ref, path);
}

void sch_cascade_ws_free(sch_cascade_ws *ws) {
  if (!ws)
    return;
  free(ws->slot_of_account);
  free(ws->touched_account);
  free(ws->touched_collateral);
  free(ws->touched_debt);
  free(ws->touched_health0);
  free(ws->touched_group);
  free(ws->owing);
  free(ws->owing_base);
  free(ws->owing_n);
  free(ws->group_cursor);
  free(ws->group_bound);
  free(ws->skipped);
  free(ws->skipped_list);
  free(ws->cand);
  free(ws->cand_tmp);
  free(ws->cand_new);
  free(ws->group_dirty);
  free(ws->changed);
  free(ws->changed_list);
  free(ws->pending);
  free(ws->log_gas_price_hist);
  sch_cascade_ref_ws_free(ws->ref);
  free(ws);
}

/* Everything one path changes. Prices of risky assets are kept as logs so the
 * per-step work (oracle trigger test, drawdown, minimum) needs no exp(). */
typedef struct path_state {
  const sch_market_model *mm;
  sch_cascade_ws *ws;
  const double *x;
  int64_t x_stride;
  int n_risky;
  int64_t k;
  double t;
  /* market */
  double log_fund[SCH_K_MAX_ASSETS];  /* ln S(k) */
  double impact[SCH_K_MAX_ASSETS];    /* I_i */
  double log_market[SCH_K_MAX_ASSETS]; /* ln M = ln S - I, current */
  double log_market_start[SCH_K_MAX_ASSETS]; /* at the start of the step */
  double log_min_ratio[SCH_K_MAX_ASSETS]; /* min of ln(M / S(0)) */
  double log_price0[SCH_K_MAX_ASSETS];
  /* venues: re-centred lazily at their first sale of a step */
  int64_t pool_step[SCH_K_MAX_ASSETS];
  double pool_units[SCH_K_MAX_ASSETS], pool_usd[SCH_K_MAX_ASSETS];
  double venue_sold[SCH_K_MAX_ASSETS];
  /* oracles */
  double oracle[SCH_K_MAX_ASSETS];
  double oracle_ratio[SCH_K_MAX_ASSETS]; /* O / S(0) */
  double last_obs[SCH_K_MAX_ASSETS];
  int64_t last_obs_step[SCH_K_MAX_ASSETS];
  double obs_lo[SCH_K_MAX_ASSETS], obs_hi[SCH_K_MAX_ASSETS]; /* log band */
  int64_t pend_head[SCH_K_MAX_ASSETS], pend_count[SCH_K_MAX_ASSETS];
  /* gas */
  double gas_usd; /* this step's gas cost of a liquidation, < 0: not yet */
  /* the last gas window maximum: its value, the step it was taken at (-1:
   * none) and a step holding it */
  double gas_max;
  int64_t gas_max_k, gas_max_at;
  /* liquidation capacity of the step */
  int64_t liquidations_in_step;
  double capital_left;
  bool candidates_valid;
  /* what changed since the last collection: oracle prices (a mask of
   * assets), or everything (a new path); accounts: ws->changed */
  uint32_t dirty_assets;
  bool all_dirty;
  int64_t n_dormant; /* candidates known unprofitable until an observation */
  double *metrics;
} path_state;

/* ---- accounts ---------------------------------------------------------- */

static const double *collateral_of(const path_state *ps, int32_t a) {
  int32_t s = ps->ws->slot_of_account[a];
  const int64_t na = ps->mm->n_assets;
  return s >= 0 ? ps->ws->touched_collateral + s * na
                : ps->mm->collateral + (int64_t)a * na;
}

static const double *debt_of(const path_state *ps, int32_t a) {
  int32_t s = ps->ws->slot_of_account[a];
  const int64_t na = ps->mm->n_assets;
  return s >= 0 ? ps->ws->touched_debt + s * na
                : ps->mm->debt + (int64_t)a * na;
}

/* A path-private copy of an account, made at its first liquidation. */
static int32_t touch(path_state *ps, int32_t a) {
  sch_cascade_ws *ws = ps->ws;
  if (ws->slot_of_account[a] >= 0)
    return ws->slot_of_account[a];
  const int64_t na = ps->mm->n_assets;
  int32_t s = (int32_t)ws->n_touched++;
  ws->touched_account[s] = a;
  memcpy(ws->touched_collateral + s * na, ps->mm->collateral + (int64_t)a * na,
         (size_t)na * sizeof(double));
  memcpy(ws->touched_debt + s * na, ps->mm->debt + (int64_t)a * na,
         (size_t)na * sizeof(double));
  ws->slot_of_account[a] = s;
  ws->touched_group[s] = ps->mm->group_of_account[a];
  ws->touched_health0[s] = HUGE_VAL; /* not in the owing list yet */
  return s;
}

/* First entry of o[0 .. n) with health0 >= h (binary search). */
static int64_t owing_lower_bound(const owing_entry *o, int64_t n, double h) {
  int64_t lo = 0;
  while (n > 0) {
    int64_t half = n / 2;
    if (o[lo + half].health0 < h) {
      lo += half + 1;
      n -= half + 1;
    } else {
      n = half;
    }
  }
  return lo;
}

/* A touched account's HF at S(0) prices (HUGE_VAL on a fresh slot), also
 * its place in its group's owing list; one left without debt (HF infinite)
 * can never be liquidatable again and leaves the list. */
static void set_health0(path_state *ps, int32_t s, double h0) {
  sch_cascade_ws *ws = ps->ws;
  int g = ws->touched_group[s];
  owing_entry *o = ws->owing + ws->owing_base[g];
  int64_t n = ws->owing_n[g];
  double old = ws->touched_health0[s];
  ws->touched_health0[s] = h0;
  if (old < HUGE_VAL) { /* out of its old place */
    int64_t at = owing_lower_bound(o, n, old);
    while (o[at].slot != s)
      at++;
    memmove(o + at, o + at + 1, (size_t)(n - at - 1) * sizeof *o);
    n--;
  }
  if (h0 < HUGE_VAL) {
    int64_t at = owing_lower_bound(o, n, h0);
    memmove(o + at + 1, o + at, (size_t)(n - at) * sizeof *o);
    o[at] = (owing_entry){h0, s};
    n++;
  }
  ws->owing_n[g] = n;
}

/* Largest profit any sale of `seized` units of asset i could make while no
 * oracle observes: M stays inside each oracle's deviation band (else it would
 * have been observed), a sale can only get less than from a pool re-centred
 * at the band's top, and gas costs at least g0 at the band's bottom. */
static double profit_ceiling(const path_state *ps, int i, double seized,
                             double repaid) {
  const sch_market_model *mm = ps->mm;
  int g = mm->gas_asset;
  double m_gas = mm->stable[g]
                     ? mm->price0[g]
                     : ps->last_obs[g] * max_d(0.0, 1.0 - mm->oracle_deviation[g]);
  double gas_floor = mm->gas_units * mm->gas_price_gwei * 1e-9 * m_gas;
  double out;
  if (mm->stable[i]) {
    out = seized * mm->price0[i];
  } else {
    double m_top = ps->last_obs[i] * (1.0 + mm->oracle_deviation[i]);
    double q_in = seized * (1.0 - mm->venue_fee[i]);
    out = mm->venue_model[i] == SCH_K_VENUE_CP
              ? mm->venue_depth[i] * q_in / (mm->venue_depth[i] / m_top + q_in)
              : q_in * m_top;
  }
  return out - repaid - gas_floor;
}

/* HF = sum_i c_i O_i LT_i / sum_j d_j O_j (DESIGN.md 3.4). */
/* Only the assets of the account's group (the masks) are visited: every
 * other amount is zero, its term +0, and adding +0 to a sum that starts at
 * +0 changes no bit, so the result equals the full sum over all assets. */
static double health(const path_state *ps, const double *c, const double *d,
                     const sch_book_group *grp) {
  const double *lt = ps->mm->liquidation_threshold;
  double num = 0.0, den = 0.0;
  for (uint32_t m = grp->collateral_mask; m; m &= m - 1u) {
    int i = __builtin_ctz(m);
    num += c[i] * ps->oracle[i] * lt[i];
  }
  for (uint32_t m = grp->debt_mask; m; m &= m - 1u) {
    int i = __builtin_ctz(m);
    den += d[i] * ps->oracle[i];
  }
  return den > 0.0 ? num / den : HUGE_VAL;
}

/* HF at the initial prices: with r = O/S(0), HF(now) >= HF(S(0)) * min_C r /
 * max_D r for any amounts, which is the bound the groups use. */
static double health_at_start(const sch_market_model *mm, const double *c,
                              const double *d) {
  double num = 0.0, den = 0.0;
  for (int i = 0; i < mm->n_assets; i++) {
    num += c[i] * mm->price0[i] * mm->liquidation_threshold[i];
    den += d[i] * mm->price0[i];
  }
  return den > 0.0 ? num / den : HUGE_VAL;
}

/* Worst HF first, ties by row order: a strict total order (accounts are
 * distinct), so any correct sort gives the same sequence. */
static inline bool before(const candidate *a, const candidate *b) {
  return a->health < b->health ||
         (a->health == b->health && a->account < b->account);
}

/* End of the ascending run that starts at `from`. */
static int64_t run_end(const candidate *c, int64_t from, int64_t n) {
  int64_t i = from + 1;
  while (i < n && !before(&c[i], &c[i - 1]))
    i++;
  return i;
}

/* Merge the sorted lists a[0, na) and b[0, nb) into dst[0, na + nb). */
static void merge_sorted(const candidate *a, int64_t na, const candidate *b,
                         int64_t nb, candidate *dst) {
  int64_t i = 0, j = 0, o = 0;
  while (i < na && j < nb)
    dst[o++] = before(&b[j], &a[i]) ? b[j++] : a[i++];
  while (i < na)
    dst[o++] = a[i++];
  while (j < nb)
    dst[o++] = b[j++];
}

/* Merge the sorted runs src[lo, mid) and src[mid, hi) into dst[lo, hi). */
static void merge_runs(const candidate *src, int64_t lo, int64_t mid,
                       int64_t hi, candidate *dst) {
  merge_sorted(src + lo, mid - lo, src + mid, hi - mid, dst + lo);
}

/* In place, no allocation (glibc qsort may malloc): insertion sort for the
 * usual handful of candidates, a natural merge sort beyond. Candidates come
 * group by group in order of HF at S(0), which within a group is close to
 * the order of HF now: few, long runs, so a few linear passes. */
static void sort_candidates(candidate *c, candidate *tmp, int64_t n) {
  if (n <= 24) {
    for (int64_t i = 1; i < n; i++) {
      candidate t = c[i];
      int64_t j = i;
      for (; j > 0 && before(&t, &c[j - 1]); j--)
        c[j] = c[j - 1];
      c[j] = t;
    }
    return;
  }
  candidate *src = c, *dst = tmp;
  for (int64_t runs = 0; runs != 1;) {
    runs = 0;
    for (int64_t lo = 0; lo < n; runs++) {
      int64_t mid = run_end(src, lo, n);
      int64_t hi = mid < n ? run_end(src, mid, n) : n;
      merge_runs(src, lo, mid, hi, dst);
      lo = hi;
    }
    candidate *t = src;
    src = dst;
    dst = t;
  }
  if (src != c)
    memcpy(c, src, (size_t)n * sizeof *c);
}

/* Largest ratio over the mask's assets divided by the smallest over the other
 * mask's: HF(now) >= HF(0) * min_C r / max_D r, so only accounts with
 * HF(0) < max_D r / min_C r can have HF < 1. */
static double ratio_bound(const double *ratio, uint32_t num_mask,
                          uint32_t den_mask, int n_assets) {
  double num = 0.0, den = HUGE_VAL;
  uint32_t all = n_assets < 32 ? (1u << n_assets) - 1u : ~0u;
  /* min and max are exact: visiting only the set bits changes nothing */
  for (uint32_t m = num_mask & all; m; m &= m - 1u)
    num = max_d(num, ratio[__builtin_ctz(m)]);
  for (uint32_t m = den_mask & all; m; m &= m - 1u)
    den = min_d(den, ratio[__builtin_ctz(m)]);
  return num / den * (1.0 + BOUND_SLACK);
}

/* The accounts liquidatable now, worst HF first, ties by row order. Only
 * accounts the group bound cannot clear get an exact HF; a touched account
 * is bounded through its HF at S(0) prices (its signature can only shrink,
 * which keeps its group's bound valid).
 * Incremental: an account's HF depends only on the oracle prices of its
 * group's assets and on its own amounts, which change only when it is
 * liquidated. In a group none of whose assets' oracle prices changed since
 * the last collection, every account but the liquidated ones has the same
 * HF bit for bit: the group's candidates are kept from the last (sorted)
 * list but for the liquidated accounts, which are looked at anew (their HF
 * from their current amounts, as the group's own collection would compute
 * it: the group bound only ever skips accounts with HF >= 1). The groups
 * whose prices changed are collected anew. The new entries are sorted and
 * merged with the kept ones; the order is a strict total order, so the
 * result is the one a full collection and sort would give. */
static void collect_candidates(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  sch_cascade_ws *ws = ps->ws;
  const int64_t na = mm->n_assets;
  uint8_t *redo = ws->group_dirty;
  int n_redo = 0;
  for (int g = 0; g < mm->n_groups; g++) {
    const sch_book_group *grp = &mm->groups[g];
    redo[g] = ps->all_dirty ||
              ((grp->collateral_mask | grp->debt_mask) & ps->dirty_assets);
    n_redo += redo[g];
  }
  /* keep the clean groups' candidates but the liquidated, in their order */
  int64_t n_keep = 0;
  if (!ps->all_dirty) {
    for (int64_t c = 0; c < ws->n_cand; c++) {
      candidate cd = ws->cand[c];
      if (!redo[mm->group_of_account[cd.account]] && !ws->changed[cd.account]) {
        cd.dormant = false;
        ws->cand[n_keep++] = cd;
      }
    }
  }
  int64_t n_new = 0;
  candidate *nc = ws->cand_new;
  /* the liquidated accounts of clean groups: touched, so by their slot */
  for (int64_t e = 0; e < ws->n_changed; e++) {
    int32_t a = ws->changed_list[e];
    ws->changed[a] = 0;
    int g = mm->group_of_account[a];
    if (redo[g])
      continue; /* its group's collection sees it */
    int64_t s = ws->slot_of_account[a];
    double hf = health(ps, ws->touched_collateral + s * na,
                       ws->touched_debt + s * na, &mm->groups[g]);
    if (hf < 1.0)
      nc[n_new++] = (candidate){hf, a, false};
  }
  ws->n_changed = 0;
  for (int g = 0; n_redo > 0 && g < mm->n_groups; g++) {
    if (!redo[g])
      continue;
    redo[g] = 0;
    const sch_book_group *grp = &mm->groups[g];
    double bound = ratio_bound(ps->oracle_ratio, grp->debt_mask,
                               grp->collateral_mask, mm->n_assets);
    ws->group_bound[g] = bound;
    /* the worst accounts are liquidated first: skip the touched prefix */
    int64_t idx = ws->group_cursor[g];
    while (idx < grp->n && ws->slot_of_account[grp->by_health[idx]] >= 0)
      idx++;
    ws->group_cursor[g] = idx;
    for (; idx < grp->n && grp->health0[idx] < bound; idx++) {
      int32_t a = grp->by_health[idx];
      if (ws->slot_of_account[a] >= 0)
        continue; /* touched: checked below with its current amounts */
      double hf = health(ps, mm->collateral + a * na, mm->debt + a * na, grp);
      if (hf < 1.0)
        nc[n_new++] = (candidate){hf, a, false};
    }
    const owing_entry *o = ws->owing + ws->owing_base[g];
    for (int64_t e = 0; e < ws->owing_n[g] && o[e].health0 < bound; e++) {
      int64_t s = o[e].slot;
      double hf = health(ps, ws->touched_collateral + s * na,
                         ws->touched_debt + s * na, grp);
      if (hf < 1.0)
        nc[n_new++] = (candidate){hf, ws->touched_account[s], false};
    }
  }
  sort_candidates(nc, ws->cand_tmp, n_new);
  if (n_keep == 0) { /* the new list is the list: swap, not copy */
    ws->cand_new = ws->cand;
    ws->cand = nc;
  } else if (n_new > 0) {
    /* merge cand[0, n_keep) and nc[0, n_new) into cand_tmp, then swap */
    candidate *dst = ws->cand_tmp;
    merge_sorted(ws->cand, n_keep, nc, n_new, dst);
    ws->cand_tmp = ws->cand;
    ws->cand = dst;
  }
  ws->n_cand = n_keep + n_new;
  ps->n_dormant = 0;
  ps->dirty_assets = 0;
  ps->all_dirty = false;
  ps->candidates_valid = true;
}

/* Any observation moves a band the dormancy bound relied on. */
static void wake_candidates(path_state *ps) {
  if (ps->n_dormant == 0)
    return;
  for (int64_t c = 0; c < ps->ws->n_cand; c++)
    ps->ws->cand[c].dormant = false;
  ps->n_dormant = 0;
}

/* ---- oracle ------------------------------------------------------------ */

static void observation_band(const sch_market_model *mm,
                             const sch_cascade_ws *ws, int i, double log_price,
                             double *lo, double *hi) {
  double dev = mm->oracle_deviation[i];
  if (dev <= 0.0) { /* every step observes: an empty band */
    *lo = HUGE_VAL;
    *hi = -HUGE_VAL;
    return;
  }
  /* A slightly narrow band: inside it no trigger is possible; outside it the
   * exact rule |M / last - 1| >= dev decides. log1p(+-dev) is per asset.
   * log_price is ln M, of which the observation is exp: it differs from
   * ln(exp(ln M)) by about 1e-16, far inside the 1e-9 margin, so the band
   * only ever decides where the exact rule would say "no trigger". */
  double lp = log_price;
  *lo = dev < 1.0 ? lp + ws->log1p_down[i] + 1e-9 : -HUGE_VAL;
  *hi = lp + ws->log1p_up[i] - 1e-9;
}

static void set_observation_band(path_state *ps, int i, double price,
                                 double log_price) {
  ps->last_obs[i] = price;
  observation_band(ps->mm, ps->ws, i, log_price, &ps->obs_lo[i],
                   &ps->obs_hi[i]);
}

static void set_oracle(path_state *ps, int i, double price) {
  ps->oracle[i] = price;
  ps->oracle_ratio[i] = price / ps->mm->price0[i];
  ps->dirty_assets |= 1u << i;
  ps->candidates_valid = false;
}

/* Observations whose delay has passed become the oracle price; if several
 * mature on one step the later (queued later) wins. */
static bool mature_pending(path_state *ps, int i) {
  sch_cascade_ws *ws = ps->ws;
  pending_obs *q = ws->pending + (int64_t)i * ws->pending_cap;
  bool changed = false;
  while (ps->pend_count[i] > 0 && q[ps->pend_head[i]].step <= ps->k) {
    set_oracle(ps, i, q[ps->pend_head[i]].price);
    ps->pend_head[i] = (ps->pend_head[i] + 1) % ws->pending_cap;
    ps->pend_count[i]--;
    changed = true;
  }
  return changed;
}

/* The trigger rule on M (DESIGN.md 3.3). Returns true if O changed now. */
static bool oracle_check(path_state *ps, int i) {
  const sch_market_model *mm = ps->mm;
  double lm = ps->log_market[i];
  bool heartbeat =
      ps->k - ps->last_obs_step[i] >= ps->ws->heartbeat_steps[i];
  if (!heartbeat && lm > ps->obs_lo[i] && lm < ps->obs_hi[i])
    return false;
  double m = exp(lm);
  if (!heartbeat && fabs(m / ps->last_obs[i] - 1.0) < mm->oracle_deviation[i])
    return false;
  set_observation_band(ps, i, m, lm);
  ps->last_obs_step[i] = ps->k;
  ps->metrics[SCH_METRIC_ORACLE_UPDATES] += 1.0;
  wake_candidates(ps);
  if (mm->oracle_delay_steps[i] == 0) {
    set_oracle(ps, i, m);
    return true;
  }
  sch_cascade_ws *ws = ps->ws;
  int64_t tail = (ps->pend_head[i] + ps->pend_count[i]) % ws->pending_cap;
  ws->pending[(int64_t)i * ws->pending_cap + tail] =
      (pending_obs){ps->k + mm->oracle_delay_steps[i], m};
  ps->pend_count[i]++;
  return false;
}

/* ---- gas --------------------------------------------------------------- */

/* ln M_gas at the start of each step is recorded every step (one store);
 * the window maximum is taken only when a liquidation needs the gas price. */
static inline void record_gas_price(path_state *ps) {
  ps->ws->log_gas_price_hist[ps->k] = ps->log_market[ps->mm->gas_asset];
}

/* max of ln M_gas over steps [k - W, k]; steps before 0 repeat step 0 (flat
 * history), which the window already holds. max is exact, so any order of
 * comparison gives the reference's value. */
static double gas_window_max(path_state *ps) {
  const double *h = ps->ws->log_gas_price_hist;
  int64_t from = ps->k - ps->mm->gas_window_steps;
  if (from < 0)
    from = 0;
  /* History entries never change once written: while the last maximum is
   * still inside the window, only the steps after it need a look. */
  int64_t j = from;
  double best = -HUGE_VAL;
  int64_t at = from;
  if (ps->gas_max_k >= 0 && ps->gas_max_at >= from) {
    j = ps->gas_max_k + 1;
    best = ps->gas_max;
    at = ps->gas_max_at;
  }
  for (; j <= ps->k; j++)
    if (h[j] >= best) {
      best = h[j];
      at = j;
    }
  ps->gas_max = best;
  ps->gas_max_k = ps->k;
  ps->gas_max_at = at;
  return best;
}

/* gas = gas_units * min(g_max, g0 exp(beta DD)) * 1e-9 * M_gas, USD, with
 * DD = ln(max M_gas over the window / M_gas(k)); computed once per step. */
static double gas_cost_usd(path_state *ps) {
  if (ps->gas_usd >= 0.0)
    return ps->gas_usd;
  const sch_market_model *mm = ps->mm;
  sch_cascade_ws *ws = ps->ws;
  double now = ws->log_gas_price_hist[ps->k];
  double drawdown = gas_window_max(ps) - now;
  double gwei = min_d(mm->gas_price_max_gwei,
                     mm->gas_price_gwei * exp(mm->gas_beta * drawdown));
  ps->gas_usd = mm->gas_units * gwei * 1e-9 * exp(now);
  return ps->gas_usd;
}

/* ---- venues ------------------------------------------------------------ */

/* Arbitrage re-centres the pool at M once per step, at its start. */
static void ensure_pool(path_state *ps, int i) {
  if (ps->pool_step[i] == ps->k)
    return;
  const sch_market_model *mm = ps->mm;
  double m0 = exp(ps->log_market_start[i]);
  ps->pool_units[i] = mm->venue_depth[i] / m0;
  ps->pool_usd[i] = mm->venue_depth[i];
  ps->venue_sold[i] = 0.0;
  ps->pool_step[i] = ps->k;
}

/* USD the venue pays for q units now (DESIGN.md 3.2), without selling. */
static double venue_quote(path_state *ps, int i, double q) {
  const sch_market_model *mm = ps->mm;
  if (mm->stable[i])
    return q * mm->price0[i];
  ensure_pool(ps, i);
  double fee = mm->venue_fee[i];
  if (mm->venue_model[i] == SCH_K_VENUE_CP) {
    double q_in = q * (1.0 - fee);
    return ps->pool_usd[i] * q_in / (ps->pool_units[i] + q_in);
  }
  double value = q * exp(ps->log_market[i]);
  double frac = (ps->venue_sold[i] + value) / mm->venue_depth[i];
  double kept = 1.0 - mm->venue_eta[i] * pow(frac, mm->venue_alpha[i]);
  return kept > 0.0 ? value * (1.0 - fee) * kept : 0.0;
}

/* Sell q units for `out` USD: the pool moves, and the market price moves by
 * impact V / L. Returns the slippage cost q M(before) - out. */
static double venue_sell(path_state *ps, int i, double q, double out) {
  const sch_market_model *mm = ps->mm;
  if (mm->stable[i])
    return q * mm->price0[i] - out;
  double value = q * exp(ps->log_market[i]);
  if (mm->venue_model[i] == SCH_K_VENUE_CP) {
    ps->pool_units[i] += q;
    ps->pool_usd[i] -= out;
  } else {
    ps->venue_sold[i] += value;
  }
  ps->impact[i] += value * mm->inv_market_depth[i];
  ps->log_market[i] = ps->log_fund[i] - ps->impact[i];
  return value - out;
}

/* ---- liquidation --------------------------------------------------------- */

/* Over the assets of a mask in increasing order (the others hold zero and
 * are never chosen). */
static int largest_value(const double *amount, const double *price,
                         uint32_t mask) {
  int best = -1;
  double best_value = 0.0;
  for (; mask; mask &= mask - 1u) {
    int i = __builtin_ctz(mask);
    double v = amount[i] * price[i];
    if (amount[i] > 0.0 && (best < 0 || v > best_value)) {
      best = i;
      best_value = v;
    }
  }
  return best;
}

static void mark_skipped(path_state *ps, int32_t a) {
  sch_cascade_ws *ws = ps->ws;
  if (ws->skipped[a])
    return;
  ws->skipped[a] = 1;
  ws->skipped_list[ws->n_skipped++] = a;
  ps->metrics[SCH_METRIC_SKIPPED_UNPROFITABLE] += 1.0;
}

/* The account's last collateral is gone: the debt left is written off at the
 * oracle price (DESIGN.md 3.6). */
static void write_off_if_empty(path_state *ps, double *c, double *d) {
  const sch_market_model *mm = ps->mm;
  double left = 0.0;
  for (int i = 0; i < mm->n_assets; i++)
    if (c[i] != 0.0)
      return;
  for (int j = 0; j < mm->n_assets; j++) {
    left += d[j] * ps->oracle[j];
    d[j] = 0.0;
  }
  if (left <= 0.0)
    return;
  ps->metrics[SCH_METRIC_BAD_DEBT] += left;
  int tf = sch_metric_time_first_bad_debt(mm->n_assets);
  if (ps->metrics[tf] < 0.0)
    ps->metrics[tf] = ps->t;
}

/* One liquidation attempt (DESIGN.md 3.5); true if it happened. */
static bool try_liquidate(path_state *ps, candidate *cand) {
  const sch_market_model *mm = ps->mm;
  const int n = mm->n_assets;
  int32_t a = cand->account;
  const double *c = collateral_of(ps, a), *d = debt_of(ps, a);
  const sch_book_group *grp = &mm->groups[mm->group_of_account[a]];
  int j = largest_value(d, ps->oracle, grp->debt_mask);
  int i = largest_value(c, ps->oracle, grp->collateral_mask);
  if (i < 0 || j < 0)
    return false;
  double lb = mm->liquidation_bonus[i];
  double cf = cand->health < mm->full_close_below_hf ? 1.0 : mm->close_factor;
  double wanted = cf * d[j] * ps->oracle[j];
  double coverable = c[i] * ps->oracle[i] / (1.0 + lb);
  bool seize_all = coverable <= wanted;
  double repaid = seize_all ? coverable : wanted;
  bool repay_all = !seize_all && cf == 1.0;
  if (!mm->flash_loans && repaid > ps->capital_left) {
    repaid = ps->capital_left;
    seize_all = repay_all = false;
  }
  double seized = seize_all ? c[i] : repaid * (1.0 + lb) / ps->oracle[i];
  double gas = gas_cost_usd(ps);
  double out = venue_quote(ps, i, seized);
  double profit = out - repaid - gas;
  if (!(profit > mm->min_profit)) {
    mark_skipped(ps, a);
    /* With flash loans R does not depend on capital, so while O and the
     * account are unchanged the same sale is offered every step. */
    if (mm->flash_loans &&
        !(profit_ceiling(ps, i, seized, repaid) > mm->min_profit)) {
      cand->dormant = true;
      ps->n_dormant++;
    }
    return false;
  }
  double slippage = venue_sell(ps, i, seized, out);
  int32_t s = touch(ps, a);
  double *cw = ps->ws->touched_collateral + (int64_t)s * n;
  double *dw = ps->ws->touched_debt + (int64_t)s * n;
  cw[i] = seize_all ? 0.0 : max_d(0.0, cw[i] - seized);
  dw[j] = repay_all ? 0.0 : max_d(0.0, dw[j] - repaid / ps->oracle[j]);
  if (seize_all) /* touches only bad_debt and time_first_bad_debt */
    write_off_if_empty(ps, cw, dw);
  set_health0(ps, s, health_at_start(mm, cw, dw));
  double *mt = ps->metrics;
  mt[SCH_METRIC_LIQUIDATIONS] += 1.0;
  mt[SCH_METRIC_LIQUIDATED_VALUE] += repaid;
  mt[SCH_METRIC_BONUS_PAID] += repaid * lb;
  mt[SCH_METRIC_SLIPPAGE_COST] += slippage;
  mt[SCH_METRIC_GAS_COST] += gas;
  mt[SCH_METRIC_LIQUIDATOR_PROFIT] += profit;
  ps->liquidations_in_step++;
  ps->capital_left -= repaid;
  if (!ps->ws->changed[a]) {
    ps->ws->changed[a] = 1;
    ps->ws->changed_list[ps->ws->n_changed++] = a;
  }
  ps->candidates_valid = false;
  return true;
}

static bool capacity_left(const path_state *ps) {
  const sch_market_model *mm = ps->mm;
  if (ps->liquidations_in_step >= mm->max_liquidations_per_step)
    return false;
  return mm->flash_loans || ps->capital_left > 0.0;
}

/* One pass over the accounts liquidatable at its start; returns the number
 * of liquidations, and clears *room when capacity ran out. */
static int run_round(path_state *ps, bool *room) {
  sch_cascade_ws *ws = ps->ws;
  int done = 0;
  for (int64_t c = 0; c < ws->n_cand; c++) {
    if (!capacity_left(ps)) {
      *room = false;
      break;
    }
    if (ws->cand[c].dormant)
      continue; /* would be found unprofitable again; already counted */
    if (try_liquidate(ps, &ws->cand[c]))
      done++;
  }
  return done;
}

/* Step part 5: rounds while oracles (delay 0) see the post-sale price. */
static void liquidation_rounds(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  ps->liquidations_in_step = 0;
  ps->capital_left = mm->capital;
  int productive = 0;
  bool room = true;
  for (int round = 0; round < mm->max_rounds_per_step; round++) {
    if (!ps->candidates_valid)
      collect_candidates(ps);
    if (ps->ws->n_cand == 0)
      break;
    if (run_round(ps, &room) == 0)
      break;
    productive++;
    bool changed = false;
    for (int a = 0; a < ps->ws->n_risky_assets; a++)
      changed |= oracle_check(ps, ps->ws->risky[a]);
    if (!changed || !room)
      break;
  }
  if (productive > ps->metrics[SCH_METRIC_CASCADE_DEPTH])
    ps->metrics[SCH_METRIC_CASCADE_DEPTH] = productive;
}

/* ---- the path ------------------------------------------------------------ */

static void init_path(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  for (int i = 0; i < mm->n_assets; i++) {
    double p0 = mm->price0[i];
    double lp0 = ps->ws->log_price0[i];
    ps->log_price0[i] = lp0;
    ps->log_fund[i] = ps->log_market[i] = ps->log_market_start[i] = lp0;
    ps->impact[i] = 0.0;
    ps->log_min_ratio[i] = 0.0;
    ps->pool_step[i] = -1;
    ps->oracle[i] = p0;
    ps->oracle_ratio[i] = 1.0;
    ps->last_obs_step[i] = 0;
    ps->pend_head[i] = ps->pend_count[i] = 0;
    set_observation_band(ps, i, p0, lp0);
  }
  ps->k = 0;
  ps->gas_max_k = -1;
  record_gas_price(ps);
  ps->candidates_valid = false;
  ps->all_dirty = true;
  ps->dirty_assets = 0;
  sch_metrics_init(ps->metrics, mm->n_assets);
}

/* Step parts 1-2: fundamental move, impact recovery, M. Returns whether an
 * oracle could act this step (an observation maturing, a heartbeat due, or M
 * outside the no-trigger band); when none can, part 4 has nothing to do. */
static bool move_prices(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  const sch_cascade_ws *ws = ps->ws;
  const double *xk = ps->x + ps->k * ps->n_risky * ps->x_stride;
  const pending_obs *queue = ws->pending;
  bool due = false;
  for (int a = 0; a < ws->n_risky_assets; a++) {
    int i = ws->risky[a];
    double x = xk[mm->slot_of_asset[i] * ps->x_stride];
    double impact = ps->impact[i];
    if (impact != 0.0) {
      impact *= mm->impact_decay[i];
      if (impact < IMPACT_FLOOR)
        impact = 0.0;
      ps->impact[i] = impact;
    }
    double lm = x - impact;
    ps->log_fund[i] = x;
    ps->log_market[i] = ps->log_market_start[i] = lm;
    due |= !(lm > ps->obs_lo[i] && lm < ps->obs_hi[i]);
    due |= ps->k - ps->last_obs_step[i] >= ws->heartbeat_steps[i];
    due |= ps->pend_count[i] > 0 &&
           queue[(int64_t)i * ws->pending_cap + ps->pend_head[i]].step <= ps->k;
  }
  return due;
}

/* State of the quiet-step loop, one entry per risky asset (index a). */
typedef struct quiet_state {
  double impact[SCH_K_MAX_ASSETS], decay[SCH_K_MAX_ASSETS];
  double lo[SCH_K_MAX_ASSETS], hi[SCH_K_MAX_ASSETS]; /* no-trigger band */
  double lm[SCH_K_MAX_ASSETS];     /* ln M of the step the loop stopped at */
  double lm_min[SCH_K_MAX_ASSETS]; /* min of ln M over the quiet steps */
  int64_t col[SCH_K_MAX_ASSETS];   /* offset of the asset in a row of x */
  int gas_a;                       /* a of the gas asset, -1 if stable */
  double gas_flat;
} quiet_state;

/* Steps k.. until one where an oracle may act (M outside a band) or
 * k_due (a heartbeat or a maturing observation): impact recovers, M is
 * computed, and ln M_gas and the minimum of ln M are kept. The impact
 * update equals move_prices' branch (0 * decay = 0 < IMPACT_FLOOR).
 * always_inline with a constant na unrolls the asset loops, so the state
 * stays in registers. */
static inline __attribute__((always_inline)) int64_t
quiet_steps(quiet_state *q, const double *x, int64_t row, int64_t k,
            int64_t k_end, int64_t k_due, double *gas_hist, const int na) {
  /* locals, not q->: the gas_hist store could alias q's doubles */
  double impact[SCH_K_MAX_ASSETS], decay[SCH_K_MAX_ASSETS];
  double lo[SCH_K_MAX_ASSETS], hi[SCH_K_MAX_ASSETS];
  double lm[SCH_K_MAX_ASSETS], lm_min[SCH_K_MAX_ASSETS];
  int64_t col[SCH_K_MAX_ASSETS];
  const int gas_a = q->gas_a;
  const double gas_flat = q->gas_flat;
  for (int a = 0; a < na; a++) {
    impact[a] = q->impact[a];
    decay[a] = q->decay[a];
    lo[a] = q->lo[a];
    hi[a] = q->hi[a];
    col[a] = q->col[a];
    lm_min[a] = HUGE_VAL;
    lm[a] = 0.0; /* read only if a step was moved */
  }
  for (; k <= k_end; k++) {
    const double *xk = x + k * row;
    bool out = k >= k_due;
    for (int a = 0; a < na; a++) {
      double imp = impact[a] * decay[a];
      impact[a] = imp < IMPACT_FLOOR ? 0.0 : imp;
      lm[a] = xk[col[a]] - impact[a];
      out |= !(lm[a] > lo[a] && lm[a] < hi[a]);
    }
    if (out)
      break;
    for (int a = 0; a < na; a++)
      lm_min[a] = min_d(lm_min[a], lm[a]);
    gas_hist[k] = gas_a >= 0 ? lm[gas_a] : gas_flat;
  }
  for (int a = 0; a < na; a++) {
    q->impact[a] = impact[a];
    q->lm[a] = lm[a];
    q->lm_min[a] = lm_min[a];
  }
  return k;
}

/* Clones for AVX-512, AVX2 and baseline machines, as in kernels/paths.c:
 * each performs the same IEEE operations per lane. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&         \
    !defined(__SANITIZE_ADDRESS__)
#define SCH_VECTOR_CLONES                                                      \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SCH_VECTOR_CLONES
#endif

typedef double d4 __attribute__((vector_size(32)));
typedef int64_t i4 __attribute__((vector_size(32)));

/* quiet_steps for up to 4 risky assets with one vector lane per asset: the
 * same operations per lane (multiply, compare, select, subtract, compare,
 * minimum), so the same bits. Unused lanes have an infinite band. */
SCH_VECTOR_CLONES
static int64_t quiet_steps4(quiet_state *q, const double *x, int64_t row,
                            int64_t k, int64_t k_end, int64_t k_due,
                            double *gas_hist) {
  d4 impact, decay, lo, hi, lm = {0.0, 0.0, 0.0, 0.0};
  d4 lm_min = {HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL};
  memcpy(&impact, q->impact, sizeof impact); /* lanes na..3 set by caller */
  memcpy(&decay, q->decay, sizeof decay);
  memcpy(&lo, q->lo, sizeof lo);
  memcpy(&hi, q->hi, sizeof hi);
  const int64_t c0 = q->col[0], c1 = q->col[1], c2 = q->col[2],
                c3 = q->col[3];
  const d4 floor = {IMPACT_FLOOR, IMPACT_FLOOR, IMPACT_FLOOR, IMPACT_FLOOR};
  const int gas_a = q->gas_a;
  for (; k <= k_end; k++) {
    const double *xk = x + k * row;
    d4 xv = {xk[c0], xk[c1], xk[c2], xk[c3]};
    d4 imp = impact * decay;
    impact = (d4)((i4)imp & ~(imp < floor)); /* below the floor: +0 */
    lm = xv - impact;
    i4 in = (lm > lo) & (lm < hi); /* false for NaN, as in quiet_steps */
    in &= __builtin_shuffle(in, (i4){2, 3, 0, 1});
    in &= __builtin_shuffle(in, (i4){1, 0, 3, 2});
    if (k >= k_due || !in[0])
      break;
    i4 lower = lm < lm_min;
    lm_min = (d4)(((i4)lm & lower) | ((i4)lm_min & ~lower));
    gas_hist[k] = gas_a >= 0 ? lm[gas_a] : q->gas_flat;
  }
  memcpy(q->impact, &impact, sizeof impact);
  memcpy(q->lm, &lm, sizeof lm);
  memcpy(q->lm_min, &lm_min, sizeof lm_min);
  return k;
}

/* Steps at which neither an oracle nor the liquidator has anything to do:
 * prices move, impact recovers, and the gas history and minimum ratios are
 * kept. Stops at the first step (or n + 1) where an oracle may act, with
 * that step's prices moved as move_prices would have. */
static int64_t advance_quiet(path_state *ps, int64_t k) {
  const sch_market_model *mm = ps->mm;
  sch_cascade_ws *ws = ps->ws;
  const int na = ws->n_risky_assets;
  const int64_t stride = ps->x_stride, row = ps->n_risky * stride;
  quiet_state q; /* no initialiser: zeroing it costs more than the loop */
  q.gas_a = -1;
  q.gas_flat = ps->log_market[mm->gas_asset];
  int64_t k_due = mm->n_steps + 1;
  for (int a = 0; a < na; a++) {
    int i = ws->risky[a];
    q.impact[a] = ps->impact[i];
    q.decay[a] = mm->impact_decay[i];
    q.lo[a] = ps->obs_lo[i];
    q.hi[a] = ps->obs_hi[i];
    q.col[a] = mm->slot_of_asset[i] * stride;
    int64_t due = ps->last_obs_step[i] + ws->heartbeat_steps[i];
    if (ps->pend_count[i] > 0) {
      int64_t m = ws->pending[(int64_t)i * ws->pending_cap + ps->pend_head[i]]
                      .step;
      due = m < due ? m : due;
    }
    k_due = due < k_due ? due : k_due;
    if (i == mm->gas_asset)
      q.gas_a = a;
  }
  double *gh = ws->log_gas_price_hist;
  const int64_t n = mm->n_steps;
  for (int a = na; a < 4; a++) { /* unused lanes: no impact, no band */
    q.impact[a] = q.decay[a] = 0.0;
    q.lo[a] = -HUGE_VAL;
    q.hi[a] = HUGE_VAL;
    q.col[a] = q.col[0];
  }
  if (na >= 1 && na <= 4)
    k = quiet_steps4(&q, ps->x, row, k, n, k_due, gh);
  else
    k = quiet_steps(&q, ps->x, row, k, n, k_due, gh, na);
  for (int a = 0; a < na; a++) {
    int i = ws->risky[a];
    ps->impact[i] = q.impact[a];
    /* rounding is monotone, so min(lm) - lp0 = min(lm - lp0) bit for bit */
    ps->log_min_ratio[i] =
        min_d(ps->log_min_ratio[i], q.lm_min[a] - ps->log_price0[i]);
    if (k <= n) {
      ps->log_fund[i] = ps->x[k * row + q.col[a]];
      ps->log_market[i] = ps->log_market_start[i] = q.lm[a];
    }
  }
  return k;
}

/* Step part 4: matured observations, then the trigger rule. */
static bool update_oracles(path_state *ps) {
  bool changed = false;
  for (int a = 0; a < ps->ws->n_risky_assets; a++) {
    int i = ps->ws->risky[a];
    if (ps->pend_count[i] > 0)
      changed |= mature_pending(ps, i);
    changed |= oracle_check(ps, i);
  }
  return changed;
}

static void record_prices(const path_state *ps, const sch_price_record *rec) {
  const sch_market_model *mm = ps->mm;
  for (int i = 0; i < mm->n_assets; i++) {
    int64_t at = ps->k * mm->n_assets + i;
    if (rec->market)
      rec->market[at] = exp(ps->log_market[i]);
    if (rec->fundamental)
      rec->fundamental[at] = exp(ps->log_fund[i]);
  }
}

/* Underwater debt at the horizon at market prices:
 * sum_a max(0, sum_j d_aj M_j - sum_i c_ai M_i), by the same bound trick on
 * the initial cover ratio. */
static double underwater_debt(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  sch_cascade_ws *ws = ps->ws;
  double market[SCH_K_MAX_ASSETS], ratio[SCH_K_MAX_ASSETS];
  for (int i = 0; i < mm->n_assets; i++) {
    market[i] = mm->stable[i] ? mm->price0[i] : exp(ps->log_market[i]);
    ratio[i] = market[i] / mm->price0[i];
  }
  double total = 0.0;
  for (int g = 0; g < mm->n_groups; g++) {
    const sch_book_group *grp = &mm->groups[g];
    double bound = ratio_bound(ratio, grp->debt_mask, grp->collateral_mask,
                               mm->n_assets);
    for (int64_t idx = 0; idx < grp->n && grp->cover0[idx] < bound; idx++) {
      int32_t a = grp->by_cover[idx];
      if (ws->slot_of_account[a] >= 0)
        continue;
      const double *c = collateral_of(ps, a), *d = debt_of(ps, a);
      double gap = 0.0;
      for (int i = 0; i < mm->n_assets; i++)
        gap += (d[i] - c[i]) * market[i];
      if (gap > 0.0)
        total += gap;
    }
  }
  for (int64_t s = 0; s < ws->n_touched; s++) {
    int32_t a = ws->touched_account[s];
    const double *c = collateral_of(ps, a), *d = debt_of(ps, a);
    double gap = 0.0;
    for (int i = 0; i < mm->n_assets; i++)
      gap += (d[i] - c[i]) * market[i];
    if (gap > 0.0)
      total += gap;
  }
  return total;
}

static void finish_path(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  sch_cascade_ws *ws = ps->ws;
  double *mt = ps->metrics;
  mt[SCH_METRIC_UNDERWATER_DEBT] = underwater_debt(ps);
  mt[SCH_METRIC_SHORTFALL] =
      mt[SCH_METRIC_BAD_DEBT] + mt[SCH_METRIC_UNDERWATER_DEBT];
  mt[SCH_METRIC_UNCOVERED_SHORTFALL] =
      max_d(0.0, mt[SCH_METRIC_SHORTFALL] - mm->insurance_fund);
  for (int i = 0; i < mm->n_assets; i++)
    mt[SCH_METRIC_MIN_PRICE_RATIO + i] = exp(ps->log_min_ratio[i]);
  /* Give the workspace back clean for the next path: O(touched). */
  for (int64_t s = 0; s < ws->n_touched; s++)
    ws->slot_of_account[ws->touched_account[s]] = -1;
  ws->n_touched = 0;
  for (int g = 0; g < mm->n_groups; g++)
    ws->group_cursor[g] = ws->owing_n[g] = 0;
  for (int64_t s = 0; s < ws->n_skipped; s++)
    ws->skipped[ws->skipped_list[s]] = 0;
  ws->n_skipped = 0;
}

void sch_cascade_run(const sch_market_model *mm, int n_risky, const double *x,
                     int64_t x_stride, sch_cascade_ws *ws, double *metrics,
                     const sch_price_record *record) {
  if (mm->reference_only) {
    sch_cascade_run_reference(mm, n_risky, x, x_stride, ws->ref, metrics,
                              record);
    return;
  }
  path_state ps = {.mm = mm, .ws = ws, .x = x, .x_stride = x_stride,
                   .n_risky = n_risky, .metrics = metrics};
  init_path(&ps);
  if (record)
    record_prices(&ps, record);
  for (int64_t k = 1; k <= mm->n_steps; k++) {
    bool oracle_due;
    if (!record && (!mm->liquidators_enabled ||
                    (ps.candidates_valid && ws->n_cand == ps.n_dormant))) {
      k = advance_quiet(&ps, k);
      if (k > mm->n_steps)
        break;
      ps.k = k;
      oracle_due = true;
    } else {
      ps.k = k;
      oracle_due = move_prices(&ps);
    }
    ps.t = (double)k * mm->dt_s;
    record_gas_price(&ps);
    ps.gas_usd = -1.0;
    if (oracle_due)
      update_oracles(&ps);
    if (mm->liquidators_enabled &&
        (!ps.candidates_valid || ws->n_cand > ps.n_dormant))
      liquidation_rounds(&ps);
    for (int a = 0; a < ws->n_risky_assets; a++) {
      int i = ws->risky[a];
      ps.log_min_ratio[i] =
          min_d(ps.log_min_ratio[i], ps.log_market[i] - ps.log_price0[i]);
    }
    if (record)
      record_prices(&ps, record);
  }
  finish_path(&ps);
}

/* ---- screening ------------------------------------------------------------ */

enum { SCREEN_LANES = 64 };

/* The oracle trigger rule for one lane and asset, exactly as oracle_check
 * decides it on a path without impact; returns true when it observes. */
/* The screen needs no observed price, only whether an observation happens:
 * the last observation is kept as its log (last_lm) and its price exp(last_lm)
 * is computed only when the exact rule has to decide (*last_obs is NaN until
 * then; exp is a function, so a later exp gives the same bits). Outside a
 * slightly wide band, ln(1 - dev) - 1e-9 .. ln(1 + dev) + 1e-9 around the
 * last observation, the exact rule surely triggers: the ratio of the two exp
 * values is within a few 1e-16 of exp(lm - last_lm), far inside the 1e-9
 * margin (the same argument as the narrow band's, observation_band). */
static bool screen_observe(const sch_market_model *mm, const sch_cascade_ws *ws,
                           int i, int64_t k, double lm, double *last_obs,
                           double *last_lm, int64_t *last_step, double *lo,
                           double *hi) {
  bool heartbeat = k - *last_step >= ws->heartbeat_steps[i];
  if (!heartbeat && lm > *lo && lm < *hi)
    return false;
  double dev = mm->oracle_deviation[i];
  bool sure = heartbeat;
  if (!sure && dev > 0.0) {
    double d = lm - *last_lm;
    sure = d >= ws->log1p_up[i] + 1e-9 ||
           (dev < 1.0 && d <= ws->log1p_down[i] - 1e-9);
  }
  if (!sure) {
    if (isnan(*last_obs))
      *last_obs = exp(*last_lm);
    double m = exp(lm);
    if (fabs(m / *last_obs - 1.0) < dev)
      return false;
  }
  observation_band(mm, ws, i, lm, lo, hi);
  *last_obs = NAN;
  *last_lm = lm;
  *last_step = k;
  return true;
}

/* Can any account of any group reach HF < 1 on this lane? */
static bool screen_lane_quiet(const sch_market_model *mm, const double *r_min,
                              const double *r_max) {
  for (int g = 0; g < mm->n_groups; g++) {
    const sch_book_group *grp = &mm->groups[g];
    double worst = HUGE_VAL, top = 0.0;
    for (int i = 0; i < mm->n_assets; i++) {
      if (grp->collateral_mask >> i & 1u)
        worst = min_d(worst, r_min[i]);
      if (grp->debt_mask >> i & 1u)
        top = max_d(top, r_max[i]);
    }
    if (!(grp->n == 0 || grp->health0[0] * (worst / top) >= 1.0 + BOUND_SLACK))
      return false;
  }
  return true;
}

/* One asset's oracle state and price extremes over the screened lanes. */
typedef struct screen_oracle {
  double *last_obs, *last_lm, *lo, *hi;
  int64_t *last_step;
  double *x_min, *x_max, *updates;
} screen_oracle;

/* Steps 1..n of one asset on L lanes (x: the asset's row at step 0, `row`
 * apart per step): the extremes and the band pre-filter branch-free over
 * lanes, then the exact trigger rule on the lanes that need it. */
static inline __attribute__((always_inline)) void
screen_asset(const sch_market_model *mm, const sch_cascade_ws *ws, int i,
             const double *x, int64_t row, const int L, screen_oracle *s) {
  /* local copies: no store can alias the prices, so the lane loop
   * vectorises (| instead of || keeps it free of branches) */
  double mn[SCREEN_LANES], mx[SCREEN_LANES], lo[SCREEN_LANES],
      hi[SCREEN_LANES];
  int64_t last[SCREEN_LANES];
  for (int l = 0; l < L; l++) {
    mn[l] = s->x_min[l];
    mx[l] = s->x_max[l];
    lo[l] = s->lo[l];
    hi[l] = s->hi[l];
    last[l] = s->last_step[l];
  }
  for (int64_t k = 1; k <= mm->n_steps; k++) {
    const double *xk = x + k * row;
    int64_t hb = k - ws->heartbeat_steps[i];
    int any = 0;
    for (int l = 0; l < L; l++) {
      double v = xk[l];
      mn[l] = v < mn[l] ? v : mn[l];
      mx[l] = v > mx[l] ? v : mx[l];
      any |= !(v > lo[l]) | !(v < hi[l]) | (last[l] <= hb);
    }
    if (!any)
      continue;
    for (int l = 0; l < L; l++)
      if (!(xk[l] > lo[l] && xk[l] < hi[l]) || last[l] <= hb)
        s->updates[l] +=
            screen_observe(mm, ws, i, k, xk[l], &s->last_obs[l],
                           &s->last_lm[l], &last[l], &lo[l], &hi[l]);
  }
  for (int l = 0; l < L; l++) {
    s->x_min[l] = mn[l];
    s->x_max[l] = mx[l];
    s->lo[l] = lo[l];
    s->hi[l] = hi[l];
    s->last_step[l] = last[l];
  }
}

/* screen_asset for the engine's SCH_LANES lanes, vectorised over lanes. */
SCH_VECTOR_CLONES
static void screen_asset_block(const sch_market_model *mm,
                               const sch_cascade_ws *ws, int i,
                               const double *x, int64_t row,
                               screen_oracle *s) {
  screen_asset(mm, ws, i, x, row, SCH_LANES, s);
}

int sch_cascade_screen(const sch_market_model *mm, int n_risky,
                       const double *x, int lanes, sch_cascade_ws *ws,
                       uint8_t *quiet, double *metrics) {
  const int L = lanes, nm = sch_metric_count(mm->n_assets);
  /* A later mechanism (a run, a breaker, a falling threshold) can act on a
   * path whose prices never threaten an account: no lane is quiet. */
  if (mm->reference_only || lanes > SCREEN_LANES) {
    for (int l = 0; l < lanes; l++)
      quiet[l] = 0;
    return 0;
  }
  double last_obs[SCH_K_MAX_ASSETS][SCREEN_LANES];
  double last_lm[SCH_K_MAX_ASSETS][SCREEN_LANES];
  double lo[SCH_K_MAX_ASSETS][SCREEN_LANES], hi[SCH_K_MAX_ASSETS][SCREEN_LANES];
  double x_min[SCH_K_MAX_ASSETS][SCREEN_LANES];
  double x_max[SCH_K_MAX_ASSETS][SCREEN_LANES];
  double updates[SCREEN_LANES] = {0};
  int64_t last_step[SCH_K_MAX_ASSETS][SCREEN_LANES];
  double log_p0[SCH_K_MAX_ASSETS];
  for (int a = 0; a < ws->n_risky_assets; a++) {
    int i = ws->risky[a], r = mm->slot_of_asset[i];
    log_p0[i] = ws->log_price0[i];
    double lo0, hi0;
    observation_band(mm, ws, i, ws->log_price0[i], &lo0, &hi0);
    for (int l = 0; l < L; l++) {
      last_obs[r][l] = mm->price0[i]; /* not exp(ln S(0)) */
      last_lm[r][l] = ws->log_price0[i];
      lo[r][l] = lo0;
      hi[r][l] = hi0;
      last_step[r][l] = 0;
      x_min[r][l] = x_max[r][l] = x[r * L + l];
    }
  }
  /* asset by asset: an oracle's observations depend on its own prices only,
   * and the update counts are whole numbers, exact in any order */
  for (int a = 0; a < ws->n_risky_assets; a++) {
    int i = ws->risky[a], r = mm->slot_of_asset[i];
    screen_oracle s = {last_obs[r], last_lm[r], lo[r], hi[r], last_step[r], x_min[r],
                       x_max[r], updates};
    if (L == SCH_LANES)
      screen_asset_block(mm, ws, i, x + r * L, (int64_t)n_risky * L, &s);
    else
      screen_asset(mm, ws, i, x + r * L, (int64_t)n_risky * L, L, &s);
  }
  int n_quiet = 0;
  for (int l = 0; l < L; l++) {
    double r_min[SCH_K_MAX_ASSETS], r_max[SCH_K_MAX_ASSETS];
    double *mt = metrics + (int64_t)l * nm;
    sch_metrics_init(mt, mm->n_assets);
    for (int i = 0; i < mm->n_assets; i++) {
      int r = mm->slot_of_asset[i];
      r_min[i] = r < 0 ? 1.0 : exp(x_min[r][l] - log_p0[i]);
      r_max[i] = r < 0 ? 1.0 : exp(x_max[r][l] - log_p0[i]);
      /* as the cascade: min over k >= 1 of ln(M/S0), starting from 0 */
      mt[SCH_METRIC_MIN_PRICE_RATIO + i] =
          r < 0 ? 1.0 : exp(min_d(0.0, x_min[r][l] - log_p0[i]));
    }
    mt[SCH_METRIC_ORACLE_UPDATES] = updates[l];
    quiet[l] = screen_lane_quiet(mm, r_min, r_max);
    n_quiet += quiet[l];
  }
  return n_quiet;
}
