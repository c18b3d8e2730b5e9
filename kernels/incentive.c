#include "cascade_ref.h"

/* Who is paid what for a liquidation: Compound v3 absorb, the backstop
 * pool, dynamic incentives, MEV and liquidator latency (docs/model.md
 * "Compound v3 absorb", "Dynamic incentive", "Backstop pool", "MEV and
 * latency"). Hooks of the reference cascade: see kernels/cascade_ref.h.
 * Nothing here draws random numbers. With every mechanism off each helper
 * returns exactly what the fixed-bonus code computed before (bonus, venue
 * quote and sale, profit), so results stay bit for bit. */

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ref_incentive_ws {
  /* the candidate list last looked at: (step, liquidations so far in the
   * step, its length) identifies it, since the list is only re-collected
   * after a liquidation or an oracle change */
  bool round_seen;
  int64_t round_k, round_liqs, round_ncand;
  /* dynamic incentive */
  double book_debt[SCH_K_MAX_ASSETS]; /* debt units of the whole book, t=0 */
  double distress;                    /* of the current round */
  /* latency: per account, the step its clock started and the step it was
   * last seen liquidatable */
  int64_t *first_seen; /* -1: not on the clock */
  int64_t *last_seen;
  int32_t *clocked; /* accounts with a clock (to reset between paths) */
  int64_t n_clocked;
  /* backstop pool */
  double backstop_capital, backstop_t, backstop_paid;
  double backstop_units[SCH_K_MAX_ASSETS];
  /* absorb */
  double reserves;                    /* USD */
  double inventory[SCH_K_MAX_ASSETS]; /* collateral units held */
  double first_negative_t;            /* reserves + inventory at O < 0 */
};

bool ref_incentive_ws_create(sch_cascade_ref_ws *ws,
                             const sch_market_model *mm) {
  struct ref_incentive_ws *iw = calloc(1, sizeof *iw);
  if (!iw)
    return false;
  ws->incentive = iw;
  const int64_t na = mm->n_accounts, n = mm->n_assets;
  for (int64_t a = 0; mm->dynamic_incentive && a < na; a++)
    for (int j = 0; j < n; j++)
      iw->book_debt[j] += mm->debt[a * n + j];
  if (mm->latency_steps > 0) {
    size_t acc = (size_t)(na > 0 ? na : 1);
    iw->first_seen = malloc(acc * sizeof(int64_t));
    iw->last_seen = malloc(acc * sizeof(int64_t));
    iw->clocked = malloc(acc * sizeof(int32_t));
    if (!iw->first_seen || !iw->last_seen || !iw->clocked)
      return false; /* the caller frees */
    for (int64_t a = 0; a < na; a++)
      iw->first_seen[a] = -1;
  }
  return true;
}

void ref_incentive_ws_free(sch_cascade_ref_ws *ws) {
  struct ref_incentive_ws *iw = ws->incentive;
  if (!iw)
    return;
  free(iw->first_seen);
  free(iw->last_seen);
  free(iw->clocked);
  free(iw);
  ws->incentive = NULL;
}

void ref_incentive_init_path(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_incentive_ws *iw = ps->ws->incentive;
  iw->round_seen = false;
  iw->distress = 0.0;
  for (int64_t s = 0; s < iw->n_clocked; s++)
    iw->first_seen[iw->clocked[s]] = -1;
  iw->n_clocked = 0;
  iw->backstop_capital = mm->backstop_capital;
  iw->backstop_t = 0.0;
  iw->backstop_paid = 0.0;
  iw->reserves = mm->absorb_reserves0;
  iw->first_negative_t = -1.0;
  for (int i = 0; i < SCH_K_MAX_ASSETS; i++)
    iw->backstop_units[i] = iw->inventory[i] = 0.0;
}

static double *ext_metric(path_state *ps, int id) {
  return &ps->metrics[sch_metric_ext(ps->mm->n_assets, id)];
}

/* ---- the liquidator's view of a round ------------------------------------ */

/* distress = debt (at O) of the accounts with HF < 1 / the book's debt at
 * t = 0 in units, valued at O now. */
static double distress_now(const path_state *ps) {
  const sch_market_model *mm = ps->mm;
  const sch_cascade_ref_ws *ws = ps->ws;
  double total = 0.0, bad = 0.0;
  for (int j = 0; j < mm->n_assets; j++)
    total += ws->incentive->book_debt[j] * ps->oracle[j];
  for (int64_t c = 0; c < ws->n_cand; c++) {
    const double *d = ref_debt_of(ps, ws->cand[c].account);
    for (int j = 0; j < mm->n_assets; j++)
      bad += d[j] * ps->oracle[j];
  }
  return total > 0.0 ? min_d(1.0, bad / total) : 0.0;
}

/* Latency clocks. The liquidator looks at every step with a liquidatable
 * account (every round sees the whole list), so an account listed now but
 * not at the previous step was healthy in between (or nobody looked): its
 * clock starts again now. */
static void see_liquidatable(path_state *ps, int32_t a) {
  struct ref_incentive_ws *iw = ps->ws->incentive;
  if (iw->first_seen[a] < 0)
    iw->clocked[iw->n_clocked++] = a;
  if (iw->first_seen[a] < 0 || iw->last_seen[a] < ps->k - 1)
    iw->first_seen[a] = ps->k;
  iw->last_seen[a] = ps->k;
}

static void run_latency_clocks(path_state *ps) {
  const sch_cascade_ref_ws *ws = ps->ws;
  for (int64_t c = 0; c < ws->n_cand; c++)
    see_liquidatable(ps, ws->cand[c].account);
}

/* Called before each use of the round's state: a fresh candidate list
 * (collected since the last liquidation) not yet looked at starts a round. */
static void observe_round(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  sch_cascade_ref_ws *ws = ps->ws;
  struct ref_incentive_ws *iw = ws->incentive;
  if (!ps->candidates_valid)
    return;
  if (iw->round_seen && iw->round_k == ps->k &&
      iw->round_liqs == ps->liquidations_in_step &&
      iw->round_ncand == ws->n_cand)
    return;
  iw->round_seen = true;
  iw->round_k = ps->k;
  iw->round_liqs = ps->liquidations_in_step;
  iw->round_ncand = ws->n_cand;
  if (mm->dynamic_incentive)
    iw->distress = distress_now(ps);
  if (mm->latency_steps > 0)
    run_latency_clocks(ps);
}

double ref_bonus(path_state *ps, int i) {
  const sch_market_model *mm = ps->mm;
  if (!mm->dynamic_incentive)
    return mm->liquidation_bonus[i];
  observe_round(ps);
  /* (D_i / (D_i depth_scale_i))^a (1 + b distress) */
  double lb = mm->liquidation_bonus[i] *
              pow(1.0 / ps->depth_scale[i], mm->dyn_depth_exponent) *
              (1.0 + mm->dyn_distress_multiplier * ps->ws->incentive->distress);
  return min_d(mm->dyn_max_bonus, max_d(mm->dyn_min_bonus, lb));
}

bool ref_liquidator_ready(path_state *ps, int32_t a) {
  const sch_market_model *mm = ps->mm;
  if (mm->latency_steps <= 0)
    return true;
  observe_round(ps);
  struct ref_incentive_ws *iw = ps->ws->incentive;
  if (iw->first_seen[a] < 0 || iw->last_seen[a] != ps->k)
    see_liquidatable(ps, a); /* not in an observed list: seen now */
  return ps->k >= iw->first_seen[a] + mm->latency_steps;
}

double ref_liquidator_share(const path_state *ps, double profit) {
  double share = ps->mm->mev_share;
  if (share <= 0.0)
    return profit;
  return profit - share * max_d(0.0, profit);
}

void ref_record_mev(path_state *ps, double profit) {
  double share = ps->mm->mev_share;
  if (share > 0.0 && profit > 0.0)
    *ext_metric(ps, SCH_XM_MEV_EXTRACTED) += share * profit;
}

/* ---- backstop pool ------------------------------------------------------- */

/* Capital refills linearly in time up to the initial capital. */
static void refill_backstop(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_incentive_ws *iw = ps->ws->incentive;
  if (ps->t > iw->backstop_t)
    iw->backstop_capital =
        min_d(mm->backstop_capital,
              iw->backstop_capital +
                  mm->backstop_refill_per_s * (ps->t - iw->backstop_t));
  iw->backstop_t = ps->t;
}

void ref_plan_sale(path_state *ps, int i, double q, ref_sale *sale) {
  const sch_market_model *mm = ps->mm;
  double out = ref_venue_quote(ps, i, q);
  *sale = (ref_sale){.asset = i,
                     .units = q,
                     .venue_units = q,
                     .venue_out = out,
                     .proceeds = out};
  if (!mm->backstop_enabled || mm->stable[i] || !(q > 0.0))
    return;
  refill_backstop(ps);
  struct ref_incentive_ws *iw = ps->ws->incentive;
  double unit = ps->oracle[i] * (1.0 - mm->backstop_discount);
  if (!(out < q * unit) || !(iw->backstop_capital > 0.0) || !(unit > 0.0))
    return;
  /* the whole lot: the backstop takes what its capital pays for, the venue
   * the rest */
  double taken = min_d(q, iw->backstop_capital / unit);
  sale->backstop_units = taken;
  sale->backstop_paid = taken < q ? iw->backstop_capital : q * unit;
  sale->venue_units = q - taken;
  sale->venue_out =
      sale->venue_units > 0.0 ? ref_venue_quote(ps, i, sale->venue_units) : 0.0;
  sale->proceeds = sale->backstop_paid + sale->venue_out;
}

double ref_sell_seized(path_state *ps, const ref_sale *sale) {
  int i = sale->asset;
  if (!(sale->backstop_units > 0.0))
    return ref_venue_sell(ps, i, sale->venue_units, sale->venue_out);
  struct ref_incentive_ws *iw = ps->ws->incentive;
  iw->backstop_capital = max_d(0.0, iw->backstop_capital - sale->backstop_paid);
  iw->backstop_units[i] += sale->backstop_units;
  iw->backstop_paid += sale->backstop_paid;
  *ext_metric(ps, SCH_XM_BACKSTOP_PURCHASES) += sale->backstop_paid;
  if (!(sale->venue_units > 0.0))
    return 0.0;
  return ref_venue_sell(ps, i, sale->venue_units, sale->venue_out);
}

/* ---- Compound v3 absorb -------------------------------------------------- */

static double market_price(const path_state *ps, int i) {
  return ps->mm->stable[i] ? ps->oracle[i] : exp(ps->log_market[i]);
}

static double inventory_at_oracle(const path_state *ps) {
  const struct ref_incentive_ws *iw = ps->ws->incentive;
  double v = 0.0;
  for (int i = 0; i < ps->mm->n_assets; i++)
    v += iw->inventory[i] * ps->oracle[i];
  return v;
}

/* absorb(): the protocol takes the debt D and all collateral; the user is
 * credited C_LF = sum_i c_i O_i LF_i, and the excess over D stays his as a
 * base-asset balance, so reserves fall by D + max(0, C_LF - D). */
static void absorb_account(path_state *ps, int32_t a) {
  const sch_market_model *mm = ps->mm;
  struct ref_incentive_ws *iw = ps->ws->incentive;
  const int n = mm->n_assets;
  int32_t s = ref_touch(ps, a);
  double *c = ps->ws->touched_collateral + (int64_t)s * n;
  double *d = ps->ws->touched_debt + (int64_t)s * n;
  double debt = 0.0, credit = 0.0;
  for (int i = 0; i < n; i++) {
    debt += d[i] * ps->oracle[i];
    credit += c[i] * ps->oracle[i] * mm->absorb_liquidation_factor[i];
    iw->inventory[i] += c[i];
    c[i] = d[i] = 0.0;
  }
  iw->reserves -= debt + max_d(0.0, credit - debt);
  double gas = ref_gas_cost_usd(ps);
  double *mt = ps->metrics;
  mt[SCH_METRIC_LIQUIDATIONS] += 1.0;
  mt[SCH_METRIC_LIQUIDATED_VALUE] += debt;
  mt[SCH_METRIC_GAS_COST] += gas;
  *ext_metric(ps, SCH_XM_ABSORBED_DEBT) += debt;
  ps->liquidations_in_step++;
  ps->candidates_valid = false;
  if (iw->first_negative_t < 0.0 &&
      iw->reserves + inventory_at_oracle(ps) < 0.0)
    iw->first_negative_t = ps->t;
}

static int absorb_candidates(path_state *ps) {
  sch_cascade_ref_ws *ws = ps->ws;
  int done = 0;
  for (int64_t c = 0; c < ws->n_cand; c++) {
    int32_t a = ws->cand[c].account;
    if (!ref_liquidator_ready(ps, a))
      continue;
    absorb_account(ps, a);
    done++;
  }
  return done;
}

/* Units of asset i that maximise venue proceeds minus `price` per unit, at
 * most `most`. Constant product: out'(q) = y x (1-f) / (x + q (1-f))^2 = p
 * at q* = (sqrt(y x (1-f) / p) - x) / (1-f); power venue: golden section
 * (its proceeds are concave in q for alpha >= 1); stable: all of it. */
static double best_purchase(path_state *ps, int i, double price, double most) {
  const sch_market_model *mm = ps->mm;
  if (mm->stable[i])
    return ps->oracle[i] > price ? most : 0.0;
  ref_ensure_pool(ps, i);
  if (mm->venue_model[i] == SCH_K_VENUE_CP) {
    double x = ps->pool_units[i], y = ps->pool_usd[i];
    double keep = 1.0 - mm->venue_fee[i];
    double q = (sqrt(y * x * keep / price) - x) / keep;
    return min_d(most, max_d(0.0, q));
  }
  const double g = 0.5 * (sqrt(5.0) - 1.0);
  double lo = 0.0, hi = most;
  for (int it = 0; it < 100; it++) {
    double m1 = hi - g * (hi - lo), m2 = lo + g * (hi - lo);
    double p1 = ref_venue_quote(ps, i, m1) - price * m1;
    double p2 = ref_venue_quote(ps, i, m2) - price * m2;
    if (p1 < p2)
      lo = m1;
    else
      hi = m2;
  }
  return 0.5 * (lo + hi);
}

/* buyCollateral() while reserves < target_reserves: the liquidator buys at
 * O (1 - store_front_price_factor (1 - LF)) and resells at once, when that
 * pays more than gas and min_profit after MEV. */
static int buy_collateral(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_incentive_ws *iw = ps->ws->incentive;
  int bought = 0;
  for (int i = 0; i < mm->n_assets; i++) {
    if (!(iw->reserves < mm->absorb_target_reserves))
      break; /* Comet: NotForSale */
    if (!(iw->inventory[i] > 0.0))
      continue;
    double discount =
        mm->absorb_store_front * (1.0 - mm->absorb_liquidation_factor[i]);
    double price = ps->oracle[i] * (1.0 - discount);
    double q = best_purchase(ps, i, price, iw->inventory[i]);
    if (!mm->flash_loans)
      q = min_d(q, max_d(0.0, ps->capital_left) / price);
    if (!(q > 0.0))
      continue;
    double gas = ref_gas_cost_usd(ps);
    ref_sale sale;
    ref_plan_sale(ps, i, q, &sale);
    double profit = sale.proceeds - q * price - gas;
    double kept = ref_liquidator_share(ps, profit);
    if (!(kept > mm->min_profit))
      continue;
    double slippage = ref_sell_seized(ps, &sale);
    ref_record_mev(ps, profit);
    iw->inventory[i] = q < iw->inventory[i] ? iw->inventory[i] - q : 0.0;
    iw->reserves += q * price;
    ps->capital_left -= q * price;
    double *mt = ps->metrics;
    mt[SCH_METRIC_BONUS_PAID] += q * ps->oracle[i] * discount;
    mt[SCH_METRIC_SLIPPAGE_COST] += slippage;
    mt[SCH_METRIC_GAS_COST] += gas;
    mt[SCH_METRIC_LIQUIDATOR_PROFIT] += kept;
    bought++;
  }
  return bought;
}

/* Step part 5 under protocol.liquidation: absorb. Rounds as in the fixed
 * model: absorb every liquidatable account, sell from the inventory, and
 * go again while an oracle (delay 0) sees the sales' price. */
void ref_absorb_step(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  ps->liquidations_in_step = 0;
  ps->capital_left = mm->capital;
  int productive = 0;
  for (int round = 0; round < mm->max_rounds_per_step; round++) {
    if (!ps->candidates_valid)
      ref_collect_candidates(ps);
    int acted = absorb_candidates(ps);
    acted += buy_collateral(ps);
    if (acted == 0)
      break;
    productive++;
    bool changed = false;
    for (int i = 0; i < mm->n_assets; i++)
      if (!mm->stable[i])
        changed |= ref_oracle_check(ps, i);
    if (!changed)
      break;
  }
  if (productive > ps->metrics[SCH_METRIC_CASCADE_DEPTH])
    ps->metrics[SCH_METRIC_CASCADE_DEPTH] = productive;
}

/* ---- the horizon --------------------------------------------------------- */

/* Absorb: the protocol's position is reserves plus its inventory at market
 * prices; a negative position is realised bad debt (added to shortfall). */
static void finish_absorb(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_incentive_ws *iw = ps->ws->incentive;
  double position = iw->reserves;
  for (int i = 0; i < mm->n_assets; i++)
    position += iw->inventory[i] * market_price(ps, i);
  if (!(position < 0.0))
    return;
  double *mt = ps->metrics;
  mt[SCH_METRIC_BAD_DEBT] += -position;
  mt[SCH_METRIC_SHORTFALL] += -position;
  mt[SCH_METRIC_UNCOVERED_SHORTFALL] =
      max_d(0.0, mt[SCH_METRIC_SHORTFALL] - mm->insurance_fund);
  int tf = sch_metric_time_first_bad_debt(mm->n_assets);
  if (mt[tf] < 0.0)
    mt[tf] = iw->first_negative_t >= 0.0 ? iw->first_negative_t : ps->t;
}

/* Backstop: capital left after the last refill, and the loss on what it
 * bought, marked at the horizon's market price (negative: a gain). */
static void finish_backstop(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_incentive_ws *iw = ps->ws->incentive;
  refill_backstop(ps);
  double value = 0.0;
  for (int i = 0; i < mm->n_assets; i++)
    value += iw->backstop_units[i] * market_price(ps, i);
  *ext_metric(ps, SCH_XM_BACKSTOP_LOSS) = iw->backstop_paid - value;
  *ext_metric(ps, SCH_XM_BACKSTOP_CAPITAL_LEFT) = iw->backstop_capital;
}

void ref_incentive_finish_path(path_state *ps) {
  if (ps->mm->liquidation_mode == SCH_K_LIQ_ABSORB)
    finish_absorb(ps);
  if (ps->mm->backstop_enabled)
    finish_backstop(ps);
}
