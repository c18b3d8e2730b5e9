#include "cascade_ref.h"

/* The scalar reference of the cascade: one step at a time, every step, the
 * contract read literally. kernels/cascade.c is the optimised kernel;
 * tests/test_cascade.c checks that they agree bit for bit. */

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Relative slack on the price-ratio bounds, far above rounding error: the
 * bound only chooses which accounts get an exact check, so slack costs a few
 * exact checks and never changes a result. */
#define BOUND_SLACK 1e-9
/* Log impact below this is dropped: exp(-I) is then 1 to the last bit. */
#define IMPACT_FLOOR 1e-18


sch_cascade_ref_ws *sch_cascade_ref_ws_create(const sch_market_model *mm) {
  sch_cascade_ref_ws *ws = calloc(1, sizeof *ws);
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
  ws->skipped = calloc(acc, 1);
  ws->skipped_list = malloc(acc * sizeof(int32_t));
  ws->cand = malloc(acc * sizeof(candidate));
  ws->pending = malloc((size_t)(ws->pending_cap * nas) * sizeof(pending_obs));
  ws->gas_deque = malloc((size_t)(mm->n_steps + 1) * sizeof(int64_t));
  ws->log_gas_price_hist = malloc((size_t)(mm->n_steps + 1) * sizeof(double));
  if (!ws->slot_of_account || !ws->touched_account ||
      !ws->touched_collateral || !ws->touched_debt || !ws->skipped ||
      !ws->skipped_list || !ws->cand || !ws->pending || !ws->gas_deque ||
      !ws->log_gas_price_hist || !ref_auction_ws_create(ws, mm) ||
      !ref_incentive_ws_create(ws, mm) || !ref_defence_ws_create(ws, mm) ||
      !ref_lenders_ws_create(ws, mm) || !ref_contagion_ws_create(ws, mm)) {
    sch_cascade_ref_ws_free(ws);
    return NULL;
  }
  for (int64_t a = 0; a < na; a++)
    ws->slot_of_account[a] = -1;
  return ws;
}

void sch_cascade_ref_set_path(sch_cascade_ref_ws *ws, uint64_t path) {
  ws->path_index = path;
}

void sch_cascade_ref_ws_free(sch_cascade_ref_ws *ws) {
  if (!ws)
    return;
  free(ws->slot_of_account);
  free(ws->touched_account);
  free(ws->touched_collateral);
  free(ws->touched_debt);
  free(ws->skipped);
  free(ws->skipped_list);
  free(ws->cand);
  free(ws->pending);
  free(ws->gas_deque);
  free(ws->log_gas_price_hist);
  ref_auction_ws_free(ws);
  ref_incentive_ws_free(ws);
  ref_defence_ws_free(ws);
  ref_lenders_ws_free(ws);
  ref_contagion_ws_free(ws);
  free(ws);
}

/* ---- accounts ---------------------------------------------------------- */

const double *ref_collateral_of(const path_state *ps, int32_t a) {
  int32_t s = ps->ws->slot_of_account[a];
  const int64_t na = ps->mm->n_assets;
  return s >= 0 ? ps->ws->touched_collateral + s * na
                : ps->mm->collateral + (int64_t)a * na;
}

const double *ref_debt_of(const path_state *ps, int32_t a) {
  int32_t s = ps->ws->slot_of_account[a];
  const int64_t na = ps->mm->n_assets;
  return s >= 0 ? ps->ws->touched_debt + s * na
                : ps->mm->debt + (int64_t)a * na;
}

/* A path-private copy of an account, made at its first liquidation. */
int32_t ref_touch(path_state *ps, int32_t a) {
  sch_cascade_ref_ws *ws = ps->ws;
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
  return s;
}

/* HF = sum_i c_i O_i LT_i / sum_j d_j O_j (DESIGN.md 3.4). */
double ref_health(const path_state *ps, const double *c, const double *d) {
  const sch_market_model *mm = ps->mm;
  double num = 0.0, den = 0.0;
  for (int i = 0; i < mm->n_assets; i++) {
    num += c[i] * ps->oracle[i] * ps->lt[i];
    den += d[i] * ps->oracle[i];
  }
  return den > 0.0 ? num / den : HUGE_VAL;
}

/* Worst HF first, ties by row order: a strict total order (accounts are
 * distinct), so any correct sort gives the same sequence. */
static inline bool before(const candidate *a, const candidate *b) {
  return a->health < b->health ||
         (a->health == b->health && a->account < b->account);
}

static void sift_down(candidate *c, int64_t root, int64_t n) {
  for (int64_t child; (child = 2 * root + 1) < n; root = child) {
    if (child + 1 < n && before(&c[child], &c[child + 1]))
      child++;
    if (!before(&c[root], &c[child]))
      return;
    candidate t = c[root];
    c[root] = c[child];
    c[child] = t;
  }
}

/* In place, no allocation (glibc qsort may malloc): insertion sort for the
 * usual handful of candidates, heapsort beyond. */
static void sort_candidates(candidate *c, int64_t n) {
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
  for (int64_t i = n / 2; i-- > 0;)
    sift_down(c, i, n);
  for (int64_t end = n - 1; end > 0; end--) {
    candidate t = c[0];
    c[0] = c[end];
    c[end] = t;
    sift_down(c, 0, end);
  }
}

/* Largest ratio over the mask's assets divided by the smallest over the other
 * mask's: HF(now) >= HF(0) * min_C r / max_D r, so only accounts with
 * HF(0) < max_D r / min_C r can have HF < 1. */
static double ratio_bound(const double *ratio, uint32_t num_mask,
                          uint32_t den_mask, int n_assets) {
  double num = 0.0, den = HUGE_VAL;
  for (int i = 0; i < n_assets; i++) {
    if (num_mask >> i & 1u)
      num = max_d(num, ratio[i]);
    if (den_mask >> i & 1u)
      den = min_d(den, ratio[i]);
  }
  return num / den * (1.0 + BOUND_SLACK);
}

/* The accounts liquidatable now, worst HF first, ties by row order. */
void ref_collect_candidates(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  sch_cascade_ref_ws *ws = ps->ws;
  ws->n_cand = 0;
  for (int g = 0; g < mm->n_groups; g++) {
    const sch_book_group *grp = &mm->groups[g];
    /* health0 is at the initial thresholds: lower ones now widen the bound */
    double bound = ratio_bound(ps->oracle_ratio, grp->debt_mask,
                               grp->collateral_mask, mm->n_assets) *
                   ps->lt_bound_scale;
    for (int64_t idx = 0; idx < grp->n && grp->health0[idx] < bound; idx++) {
      int32_t a = grp->by_health[idx];
      if (ws->slot_of_account[a] >= 0)
        continue; /* touched: checked below with its current amounts */
      double hf = ref_health(ps, ref_collateral_of(ps, a), ref_debt_of(ps, a));
      if (hf < 1.0)
        ws->cand[ws->n_cand++] = (candidate){hf, a};
    }
  }
  for (int64_t s = 0; s < ws->n_touched; s++) {
    int32_t a = ws->touched_account[s];
    double hf = ref_health(ps, ref_collateral_of(ps, a), ref_debt_of(ps, a));
    if (hf < 1.0)
      ws->cand[ws->n_cand++] = (candidate){hf, a};
  }
  sort_candidates(ws->cand, ws->n_cand);
  ps->candidates_valid = true;
}

/* ---- oracle ------------------------------------------------------------ */

static void set_observation_band(path_state *ps, int i, double price) {
  double dev = ps->mm->oracle_deviation[i];
  ps->last_obs[i] = price;
  if (dev <= 0.0) { /* every step observes: an empty band */
    ps->obs_lo[i] = HUGE_VAL;
    ps->obs_hi[i] = -HUGE_VAL;
    return;
  }
  /* A slightly narrow band: inside it no trigger is possible; outside it the
   * exact rule |M / last - 1| >= dev decides. */
  double lp = log(price);
  ps->obs_lo[i] = dev < 1.0 ? lp + log1p(-dev) + 1e-9 : -HUGE_VAL;
  ps->obs_hi[i] = lp + log1p(dev) - 1e-9;
}

void ref_set_oracle(path_state *ps, int i, double price) {
  ps->oracle[i] = price;
  ps->oracle_ratio[i] = price / ps->mm->price0[i];
  ps->candidates_valid = false;
}

/* Observations whose delay has passed become the oracle price; if several
 * mature on one step the later (queued later) wins. */
static bool mature_pending(path_state *ps, int i) {
  sch_cascade_ref_ws *ws = ps->ws;
  pending_obs *q = ws->pending + (int64_t)i * ws->pending_cap;
  bool changed = false;
  while (ps->pend_count[i] > 0 && q[ps->pend_head[i]].step <= ps->k) {
    ref_set_oracle(ps, i, q[ps->pend_head[i]].price);
    ps->pend_head[i] = (ps->pend_head[i] + 1) % ws->pending_cap;
    ps->pend_count[i]--;
    changed = true;
  }
  return changed;
}

/* The trigger rule on M (DESIGN.md 3.3). Returns true if O changed now. */
bool ref_oracle_check(path_state *ps, int i) {
  const sch_market_model *mm = ps->mm;
  double lm = ps->log_market[i];
  bool heartbeat = (double)(ps->k - ps->last_obs_step[i]) * mm->dt_s >=
                   mm->oracle_heartbeat_s[i];
  if (!heartbeat && lm > ps->obs_lo[i] && lm < ps->obs_hi[i])
    return false;
  double m = exp(lm);
  if (!heartbeat && fabs(m / ps->last_obs[i] - 1.0) < mm->oracle_deviation[i])
    return false;
  set_observation_band(ps, i, m);
  ps->last_obs_step[i] = ps->k;
  ps->metrics[SCH_METRIC_ORACLE_UPDATES] += 1.0;
  if (mm->oracle_delay_steps[i] == 0) {
    ref_set_oracle(ps, i, m);
    return true;
  }
  sch_cascade_ref_ws *ws = ps->ws;
  int64_t tail = (ps->pend_head[i] + ps->pend_count[i]) % ws->pending_cap;
  ws->pending[(int64_t)i * ws->pending_cap + tail] =
      (pending_obs){ps->k + mm->oracle_delay_steps[i], m};
  ps->pend_count[i]++;
  return false;
}

/* ---- gas --------------------------------------------------------------- */

/* Sliding-window maximum of ln M_gas over steps [k - W, k] (monotone deque);
 * steps before 0 repeat step 0 (flat history), which the window already has. */
static void gas_window_push(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  sch_cascade_ref_ws *ws = ps->ws;
  double v = ps->log_market[mm->gas_asset];
  ws->log_gas_price_hist[ps->k] = v;
  while (ps->gas_back > ps->gas_front &&
         ws->log_gas_price_hist[ws->gas_deque[ps->gas_back - 1]] <= v)
    ps->gas_back--;
  ws->gas_deque[ps->gas_back++] = ps->k;
  while (ws->gas_deque[ps->gas_front] < ps->k - mm->gas_window_steps)
    ps->gas_front++;
}

/* gas = gas_units * min(g_max, g0 exp(beta DD)) * 1e-9 * M_gas, USD, with
 * DD = ln(max M_gas over the window / M_gas(k)); computed once per step. */
double ref_gas_cost_usd(path_state *ps) {
  if (ps->gas_usd >= 0.0)
    return ps->gas_usd;
  const sch_market_model *mm = ps->mm;
  sch_cascade_ref_ws *ws = ps->ws;
  double now = ws->log_gas_price_hist[ps->k];
  double drawdown = ws->log_gas_price_hist[ws->gas_deque[ps->gas_front]] - now;
  double gwei = min_d(mm->gas_price_max_gwei,
                     mm->gas_price_gwei * exp(mm->gas_beta * drawdown));
  ps->gas_usd = mm->gas_units * gwei * 1e-9 * exp(now);
  return ps->gas_usd;
}

/* ---- venues ------------------------------------------------------------ */

/* Arbitrage re-centres the pool at M once per step, at its start. */
void ref_ensure_pool(path_state *ps, int i) {
  if (ps->pool_step[i] == ps->k)
    return;
  const sch_market_model *mm = ps->mm;
  double m0 = exp(ps->log_market_start[i]);
  double depth = mm->venue_depth[i] * ps->depth_scale[i];
  ps->pool_units[i] = depth / m0;
  ps->pool_usd[i] = depth;
  ps->venue_sold[i] = 0.0;
  ps->pool_step[i] = ps->k;
}

/* USD the venue pays for q units now (DESIGN.md 3.2), without selling. */
double ref_venue_quote(path_state *ps, int i, double q) {
  const sch_market_model *mm = ps->mm;
  if (mm->stable[i]) /* its oracle: the price, or a receipt token's value */
    return q * ps->oracle[i];
  ref_ensure_pool(ps, i);
  double fee = mm->venue_fee[i];
  if (mm->venue_model[i] == SCH_K_VENUE_CP) {
    double q_in = q * (1.0 - fee);
    return ps->pool_usd[i] * q_in / (ps->pool_units[i] + q_in);
  }
  double value = q * exp(ps->log_market[i]);
  double frac =
      (ps->venue_sold[i] + value) / (mm->venue_depth[i] * ps->depth_scale[i]);
  double kept = 1.0 - mm->venue_eta[i] * pow(frac, mm->venue_alpha[i]);
  return kept > 0.0 ? value * (1.0 - fee) * kept : 0.0;
}

/* Sell q units for `out` USD: the pool moves, and the market price moves by
 * impact V / L. Returns the slippage cost q M(before) - out. */
double ref_venue_sell(path_state *ps, int i, double q, double out) {
  const sch_market_model *mm = ps->mm;
  if (mm->stable[i])
    return q * ps->oracle[i] - out;
  double value = q * exp(ps->log_market[i]);
  if (mm->venue_model[i] == SCH_K_VENUE_CP) {
    ps->pool_units[i] += q;
    ps->pool_usd[i] -= out;
  } else {
    ps->venue_sold[i] += value;
  }
  ps->impact[i] += value * mm->inv_market_depth[i] / ps->depth_scale[i];
  ps->log_market[i] = ps->log_fund[i] - ps->impact[i];
  return value - out;
}

/* ---- liquidation --------------------------------------------------------- */

int ref_largest_value(const double *amount, const double *price, int n) {
  int best = -1;
  double best_value = 0.0;
  for (int i = 0; i < n; i++) {
    double v = amount[i] * price[i];
    if (amount[i] > 0.0 && (best < 0 || v > best_value)) {
      best = i;
      best_value = v;
    }
  }
  return best;
}

void ref_mark_skipped(path_state *ps, int32_t a) {
  sch_cascade_ref_ws *ws = ps->ws;
  if (ws->skipped[a])
    return;
  ws->skipped[a] = 1;
  ws->skipped_list[ws->n_skipped++] = a;
  ps->metrics[SCH_METRIC_SKIPPED_UNPROFITABLE] += 1.0;
}

/* The account's last collateral is gone: the debt left is written off at the
 * oracle price (DESIGN.md 3.6). */
void ref_write_off_if_empty(path_state *ps, double *c, double *d) {
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
static bool try_liquidate(path_state *ps, const candidate *cand) {
  const sch_market_model *mm = ps->mm;
  const int n = mm->n_assets;
  int32_t a = cand->account;
  const double *c = ref_collateral_of(ps, a), *d = ref_debt_of(ps, a);
  int j = ref_largest_value(d, ps->oracle, n);
  int i = ref_largest_value(c, ps->oracle, n);
  if (!ref_liquidator_ready(ps, a) || i < 0 || j < 0)
    return false;
  double lb = ref_bonus(ps, i);
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
  double gas = ref_gas_cost_usd(ps);
  ref_sale sale;
  ref_plan_sale(ps, i, seized, &sale);
  double profit = sale.proceeds - repaid - gas;
  double kept = ref_liquidator_share(ps, profit); /* after MEV */
  if (!(kept > mm->min_profit)) {
    ref_mark_skipped(ps, a);
    return false;
  }
  double slippage = ref_sell_seized(ps, &sale);
  ref_record_mev(ps, profit);
  int32_t s = ref_touch(ps, a);
  double *cw = ps->ws->touched_collateral + (int64_t)s * n;
  double *dw = ps->ws->touched_debt + (int64_t)s * n;
  cw[i] = seize_all ? 0.0 : max_d(0.0, cw[i] - seized);
  dw[j] = repay_all ? 0.0 : max_d(0.0, dw[j] - repaid / ps->oracle[j]);
  double *mt = ps->metrics;
  mt[SCH_METRIC_LIQUIDATIONS] += 1.0;
  mt[SCH_METRIC_LIQUIDATED_VALUE] += repaid;
  mt[SCH_METRIC_BONUS_PAID] += repaid * lb;
  mt[SCH_METRIC_SLIPPAGE_COST] += slippage;
  mt[SCH_METRIC_GAS_COST] += gas;
  mt[SCH_METRIC_LIQUIDATOR_PROFIT] += kept;
  ps->liquidations_in_step++;
  ps->capital_left -= repaid;
  ps->candidates_valid = false;
  if (seize_all)
    ref_write_off_if_empty(ps, cw, dw);
  return true;
}

bool ref_capacity_left(const path_state *ps) {
  const sch_market_model *mm = ps->mm;
  if (ps->liquidations_in_step >= mm->max_liquidations_per_step)
    return false;
  return mm->flash_loans || ps->capital_left > 0.0;
}

/* One pass over the accounts liquidatable at its start; returns the number
 * of liquidations, and clears *room when capacity ran out. */
static int run_round(path_state *ps, bool *room) {
  sch_cascade_ref_ws *ws = ps->ws;
  int done = 0;
  for (int64_t c = 0; c < ws->n_cand; c++) {
    if (!ref_capacity_left(ps)) {
      *room = false;
      break;
    }
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
      ref_collect_candidates(ps);
    if (ps->ws->n_cand == 0)
      break;
    if (run_round(ps, &room) == 0)
      break;
    productive++;
    bool changed = false;
    for (int i = 0; i < mm->n_assets; i++)
      if (!mm->stable[i])
        changed |= ref_oracle_check(ps, i);
    if (!changed || !room)
      break;
  }
  if (productive > ps->metrics[SCH_METRIC_CASCADE_DEPTH])
    ps->metrics[SCH_METRIC_CASCADE_DEPTH] = productive;
}

/* Step part 5 under the configured liquidation mechanism. */
static void liquidate(path_state *ps) {
  switch (ps->mm->liquidation_mode) {
  case SCH_K_LIQ_CLIPPER:
  case SCH_K_LIQ_FLIP:
    ref_auction_step(ps);
    return;
  case SCH_K_LIQ_ABSORB:
    ref_absorb_step(ps);
    return;
  default:
    if (!ps->candidates_valid || ps->ws->n_cand > 0)
      liquidation_rounds(ps);
  }
}

/* ---- the path ------------------------------------------------------------ */

static void init_path(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  for (int i = 0; i < mm->n_assets; i++) {
    double p0 = mm->price0[i];
    ps->log_price0[i] = log(p0);
    ps->log_fund[i] = ps->log_market[i] = ps->log_market_start[i] = log(p0);
    ps->impact[i] = 0.0;
    ps->lt[i] = mm->liquidation_threshold[i];
    ps->depth_scale[i] = 1.0;
    ps->log_min_ratio[i] = 0.0;
    ps->pool_step[i] = -1;
    ps->oracle[i] = p0;
    ps->oracle_ratio[i] = 1.0;
    ps->last_obs_step[i] = 0;
    ps->pend_head[i] = ps->pend_count[i] = 0;
    set_observation_band(ps, i, p0);
  }
  ps->lt_bound_scale = 1.0;
  ps->paused_all = false;
  ps->k = 0;
  ps->gas_front = ps->gas_back = 0;
  gas_window_push(ps);
  ps->candidates_valid = false;
  sch_metrics_init(ps->metrics, mm->n_assets);
}

/* Step parts 1-2: fundamental move, impact recovery, M. */
static void move_prices(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  const double *xk = ps->x + ps->k * ps->n_risky * ps->x_stride;
  for (int i = 0; i < mm->n_assets; i++) {
    int r = mm->slot_of_asset[i];
    if (r < 0)
      continue;
    double x = xk[r * ps->x_stride];
    ps->log_fund[i] = x;
    if (ps->impact[i] != 0.0) {
      ps->impact[i] *= mm->impact_decay[i];
      if (ps->impact[i] < IMPACT_FLOOR)
        ps->impact[i] = 0.0;
    }
    ps->log_market[i] = ps->log_market_start[i] = x - ps->impact[i];
  }
}

/* Step part 4: matured observations, then the trigger rule. */
static bool update_oracles(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  bool changed = false;
  for (int i = 0; i < mm->n_assets; i++) {
    if (mm->stable[i])
      continue;
    changed |= mature_pending(ps, i);
    changed |= ref_oracle_check(ps, i);
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
  sch_cascade_ref_ws *ws = ps->ws;
  double market[SCH_K_MAX_ASSETS], ratio[SCH_K_MAX_ASSETS];
  for (int i = 0; i < mm->n_assets; i++) {
    market[i] = mm->stable[i] ? ps->oracle[i] : exp(ps->log_market[i]);
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
      const double *c = ref_collateral_of(ps, a), *d = ref_debt_of(ps, a);
      double gap = 0.0;
      for (int i = 0; i < mm->n_assets; i++)
        gap += (d[i] - c[i]) * market[i];
      if (gap > 0.0)
        total += gap;
    }
  }
  for (int64_t s = 0; s < ws->n_touched; s++) {
    int32_t a = ws->touched_account[s];
    const double *c = ref_collateral_of(ps, a), *d = ref_debt_of(ps, a);
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
  sch_cascade_ref_ws *ws = ps->ws;
  double *mt = ps->metrics;
  mt[SCH_METRIC_UNDERWATER_DEBT] = underwater_debt(ps);
  ref_auction_finish_path(ps);
  mt[SCH_METRIC_SHORTFALL] =
      mt[SCH_METRIC_BAD_DEBT] + mt[SCH_METRIC_UNDERWATER_DEBT];
  mt[SCH_METRIC_UNCOVERED_SHORTFALL] =
      max_d(0.0, mt[SCH_METRIC_SHORTFALL] - mm->insurance_fund);
  for (int i = 0; i < mm->n_assets; i++)
    mt[SCH_METRIC_MIN_PRICE_RATIO + i] = exp(ps->log_min_ratio[i]);
  ref_incentive_finish_path(ps);
  ref_defence_finish_path(ps);
  ref_lenders_finish_path(ps);
  /* Give the workspace back clean for the next path: O(touched). */
  for (int64_t s = 0; s < ws->n_touched; s++)
    ws->slot_of_account[ws->touched_account[s]] = -1;
  ws->n_touched = 0;
  for (int64_t s = 0; s < ws->n_skipped; s++)
    ws->skipped[ws->skipped_list[s]] = 0;
  ws->n_skipped = 0;
}

/* ---- one path, in phases (kernels/contagion.c runs several protocols'
 * phases in lockstep on one market) ------------------------------------- */

void ref_path_begin(path_state *ps, const sch_price_record *record) {
  init_path(ps);
  ref_auction_init_path(ps);
  ref_incentive_init_path(ps);
  ref_defence_init_path(ps);
  ref_lenders_init_path(ps);
  if (record)
    record_prices(ps, record);
}

void ref_step_market(path_state *ps, int64_t k) {
  ps->k = k;
  ps->t = (double)k * ps->mm->dt_s;
  move_prices(ps);
  ref_lenders_flight_step(ps);
  gas_window_push(ps);
  ps->gas_usd = -1.0;
  update_oracles(ps);
}

void ref_step_protocol(path_state *ps) {
  bool allowed = ref_defence_step(ps);
  if (allowed && ps->mm->liquidators_enabled)
    liquidate(ps);
  ref_lenders_step(ps);
}

void ref_step_end(path_state *ps, const sch_price_record *record) {
  for (int i = 0; i < ps->mm->n_assets; i++)
    ps->log_min_ratio[i] =
        min_d(ps->log_min_ratio[i], ps->log_market[i] - ps->log_price0[i]);
  if (record)
    record_prices(ps, record);
}

void ref_path_end(path_state *ps) { finish_path(ps); }

void sch_cascade_run_reference(const sch_market_model *mm, int n_risky,
                               const double *x, int64_t x_stride,
                               sch_cascade_ref_ws *ws, double *metrics,
                               const sch_price_record *record) {
  if (mm->n_protocols > 1) {
    ref_contagion_run(mm, n_risky, x, x_stride, ws, metrics, record);
    return;
  }
  path_state ps = {.mm = mm, .ws = ws, .x = x, .x_stride = x_stride,
                   .n_risky = n_risky, .metrics = metrics,
                   .path = ws->path_index};
  ref_path_begin(&ps, record);
  for (int64_t k = 1; k <= mm->n_steps; k++) {
    ref_step_market(&ps, k);
    ref_step_protocol(&ps);
    ref_step_end(&ps, record);
  }
  ref_path_end(&ps);
}
