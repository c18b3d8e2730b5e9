#include "cascade_ref.h"

/* Coordination failure (issue 7; docs/model.md "Coordination failure"):
 * lenders and utilisation, depositor runs, liquidity flight.
 * Hooks of the reference cascade: see kernels/cascade_ref.h.
 *
 * Liquidity flight (ref_lenders_flight_step, right after the prices move):
 *   DD_i    = ln(max over steps 0..k of M_i / M_i(k))      (start of step)
 *   vol_i   = sqrt(sum of the last W squared log returns of M_i / (W dt))
 *   target  = clamp(exp(-a DD - b max(0, vol - vol_ref)), floor, 1)
 *   scale   = target                             if target <= scale
 *             target - (target - scale) 2^(-dt/h) otherwise (recovery)
 * The scale multiplies the venue depth and the market depth of the step
 * (kernels/cascade_ref.c reads ps->depth_scale).
 *
 * Lenders (ref_lenders_step, after step part 5): cohort c observes
 *   signal_c = max(0, bad debt + underwater debt of the HF < 1 accounts at
 *              oracle prices - insurance fund) / supply(0) + noise_c z_c
 * and, from the first step with signal_c >= threshold_c, claims a further
 * withdraw_c of its deposit every step. Claims are paid first come first
 * served (earlier trigger first, then config order) out of the cash of each
 * lent asset: supply - borrows + repaid - withdrawn - realised bad debt
 * beyond the insurance fund. What cannot be paid waits (stranded). */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define SECONDS_PER_YEAR (365.0 * 86400.0)
/* A claim counts as refused when more than this share of the cohort's
 * deposit of the asset is left unpaid (rounding of repeated partial
 * payments must not read as a refusal). */
#define REFUSAL_TOLERANCE 1e-9

struct ref_lenders_ws {
  /* liquidity flight, per asset */
  double *sq_returns; /* [asset * ring_cap + slot]: squared log returns */
  int64_t ring_cap;
  int64_t ring_len[SCH_K_MAX_ASSETS]; /* min(window, n_steps) */
  double sq_sum[SCH_K_MAX_ASSETS];
  double log_peak[SCH_K_MAX_ASSETS];
  double log_prev[SCH_K_MAX_ASSETS];
  /* lenders, per cohort */
  sch_normal_stream signals;
  int64_t trigger_step[SCH_K_MAX_COHORTS]; /* -1: not withdrawing */
  int order[SCH_K_MAX_COHORTS];            /* cohorts in trigger order */
  int n_triggered;
  double claim[SCH_K_MAX_COHORTS]; /* share of its deposit claimed so far */
  double withdrawn[SCH_K_MAX_COHORTS][SCH_K_MAX_ASSETS]; /* units paid */
  double withdrawn_total[SCH_K_MAX_ASSETS];
};

bool ref_lenders_ws_create(sch_cascade_ref_ws *ws, const sch_market_model *mm) {
  ws->lenders = NULL;
  if (!mm->lenders_on && !mm->flight_on)
    return true;
  struct ref_lenders_ws *lw = calloc(1, sizeof *lw);
  if (!lw)
    return false;
  ws->lenders = lw;
  int64_t cap = 1;
  for (int i = 0; mm->flight_on && i < mm->n_assets; i++) {
    int64_t w = mm->flight_window_steps[i];
    lw->ring_len[i] = w < mm->n_steps ? w : (mm->n_steps > 0 ? mm->n_steps : 1);
    if (lw->ring_len[i] > cap)
      cap = lw->ring_len[i];
  }
  lw->ring_cap = cap;
  lw->sq_returns = calloc((size_t)(cap * mm->n_assets), sizeof(double));
  return lw->sq_returns != NULL;
}

void ref_lenders_ws_free(sch_cascade_ref_ws *ws) {
  struct ref_lenders_ws *lw = ws->lenders;
  if (!lw)
    return;
  free(lw->sq_returns);
  free(lw);
  ws->lenders = NULL;
}

void ref_lenders_init_path(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_lenders_ws *lw = ps->ws->lenders;
  if (!lw)
    return;
  if (mm->flight_on) {
    memset(lw->sq_returns, 0,
           (size_t)(lw->ring_cap * mm->n_assets) * sizeof(double));
    for (int i = 0; i < mm->n_assets; i++) {
      lw->sq_sum[i] = 0.0;
      lw->log_peak[i] = lw->log_prev[i] = ps->log_market_start[i];
    }
  }
  if (mm->lenders_on) {
    sch_stream_for_path(&lw->signals.rng, mm->lenders_seed, SCH_STREAM_LENDERS,
                        ps->path);
    lw->signals.has_spare = 0;
    lw->n_triggered = 0;
    for (int c = 0; c < mm->n_cohorts; c++) {
      lw->trigger_step[c] = -1;
      lw->claim[c] = 0.0;
      for (int j = 0; j < mm->n_assets; j++)
        lw->withdrawn[c][j] = 0.0;
    }
    for (int j = 0; j < mm->n_assets; j++)
      lw->withdrawn_total[j] = 0.0;
  }
}

/* ---- liquidity flight ---------------------------------------------------- */

/* Realised volatility of asset i over its window, annualised; the window
 * holds the step's log return of M from now on (returns before t = 0 are 0:
 * flat history, as the gas window). */
static double window_vol(struct ref_lenders_ws *lw, const path_state *ps,
                         int i) {
  const sch_market_model *mm = ps->mm;
  double r = ps->log_market_start[i] - lw->log_prev[i];
  lw->log_prev[i] = ps->log_market_start[i];
  double *slot = lw->sq_returns + (int64_t)i * lw->ring_cap +
                 (ps->k - 1) % lw->ring_len[i];
  lw->sq_sum[i] = max_d(0.0, lw->sq_sum[i] + r * r - *slot);
  *slot = r * r;
  double window_years =
      (double)mm->flight_window_steps[i] * mm->dt_s / SECONDS_PER_YEAR;
  return sqrt(lw->sq_sum[i] / window_years);
}

/* target = clamp(exp(-a DD - b max(0, vol - vol_ref)), floor, 1). */
static double flight_target(const sch_market_model *mm, int i, double drawdown,
                            double vol) {
  double excess = max_d(0.0, vol - mm->flight_vol_ref[i]);
  double target = exp(-mm->flight_a[i] * drawdown - mm->flight_b[i] * excess);
  return min_d(1.0, max_d(mm->flight_floor[i], target));
}

void ref_lenders_flight_step(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_lenders_ws *lw = ps->ws->lenders;
  if (!mm->flight_on)
    return;
  for (int i = 0; i < mm->n_assets; i++) {
    if (mm->stable[i])
      continue;
    double lm = ps->log_market_start[i];
    double vol = window_vol(lw, ps, i);
    lw->log_peak[i] = max_d(lw->log_peak[i], lm);
    double target = flight_target(mm, i, lw->log_peak[i] - lm, vol);
    double scale = ps->depth_scale[i];
    /* liquidity leaves at once and comes back with the half-life */
    ps->depth_scale[i] =
        target <= scale ? target
                        : target - (target - scale) * mm->flight_recovery[i];
  }
}

/* ---- lenders ------------------------------------------------------------- */

/* Loss the protocol has recognised by now, USD: realised bad debt plus the
 * debt beyond the collateral of the accounts with HF < 1, at oracle prices,
 * less the insurance fund. HF >= 1 implies collateral above debt (LT < 1),
 * so the candidates hold every underwater account: O(accounts at risk). */
static double recognised_loss(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  if (!ps->candidates_valid)
    ref_collect_candidates(ps);
  double underwater = 0.0;
  for (int64_t c = 0; c < ps->ws->n_cand; c++) {
    int32_t a = ps->ws->cand[c].account;
    const double *col = ref_collateral_of(ps, a), *debt = ref_debt_of(ps, a);
    double gap = 0.0;
    for (int i = 0; i < mm->n_assets; i++)
      gap += (debt[i] - col[i]) * ps->oracle[i];
    underwater += max_d(0.0, gap);
  }
  return max_d(0.0, ps->metrics[SCH_METRIC_BAD_DEBT] + underwater -
                        mm->insurance_fund);
}

/* Units of each lent asset its borrowers have paid back so far (debt
 * reduction of the touched accounts, write-offs included): O(touched). */
static void debt_reduction(const path_state *ps, double *reduced) {
  const sch_market_model *mm = ps->mm;
  const sch_cascade_ref_ws *ws = ps->ws;
  for (int j = 0; j < mm->n_assets; j++)
    reduced[j] = 0.0;
  for (int64_t s = 0; s < ws->n_touched; s++) {
    const double *book =
        mm->debt + (int64_t)ws->touched_account[s] * mm->n_assets;
    const double *now = ws->touched_debt + s * mm->n_assets;
    for (int j = 0; j < mm->n_assets; j++)
      reduced[j] += book[j] - now[j];
  }
}

/* Cash of each lent asset now: supply - borrows now - withdrawn - written
 * off beyond the insurance fund (a write-off lowers the borrows without
 * paying anything back; the fund pays realised bad debt in as it comes).
 * That hole is split over the lent assets by their USD borrows at t = 0
 * (exact with one lent asset). */
static void available_cash(const path_state *ps, double *cash) {
  const sch_market_model *mm = ps->mm;
  const struct ref_lenders_ws *lw = ps->ws->lenders;
  double reduced[SCH_K_MAX_ASSETS];
  debt_reduction(ps, reduced);
  double hole =
      max_d(0.0, ps->metrics[SCH_METRIC_BAD_DEBT] - mm->insurance_fund);
  for (int j = 0; j < mm->n_assets; j++) {
    cash[j] = 0.0;
    if (!(mm->lent_supply[j] > 0.0))
      continue;
    double hole_units = 0.0;
    if (hole > 0.0 && mm->lent_borrows_usd0 > 0.0)
      hole_units = hole * mm->lent_borrows0[j] * mm->price0[j] /
                   mm->lent_borrows_usd0 / ps->oracle[j];
    cash[j] = max_d(0.0, mm->lent_supply[j] - mm->lent_borrows0[j] +
                             reduced[j] - lw->withdrawn_total[j] - hole_units);
  }
}

/* Each cohort's signal this step; one normal per cohort, always drawn in
 * cohort order, so the stream never depends on decisions. Cohorts whose
 * signal reaches their threshold start withdrawing (and never stop). */
static void observe(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_lenders_ws *lw = ps->ws->lenders;
  double z[SCH_K_MAX_COHORTS];
  for (int c = 0; c < mm->n_cohorts; c++)
    z[c] = sch_normal_next(&lw->signals);
  if (!mm->lenders_run || lw->n_triggered == mm->n_cohorts)
    return;
  double base = recognised_loss(ps) / mm->lent_supply_usd0;
  for (int c = 0; c < mm->n_cohorts; c++) {
    if (lw->trigger_step[c] >= 0)
      continue;
    if (base + mm->cohort_noise[c] * z[c] >= mm->cohort_threshold[c]) {
      lw->trigger_step[c] = ps->k;
      lw->order[lw->n_triggered++] = c;
    }
  }
}

/* A withdrawing cohort claims withdraw_c of its deposit per step, from its
 * trigger step on (1: all at once). */
static void update_claims(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_lenders_ws *lw = ps->ws->lenders;
  for (int n = 0; n < lw->n_triggered; n++) {
    int c = lw->order[n];
    double steps = (double)(ps->k - lw->trigger_step[c] + 1);
    lw->claim[c] = min_d(1.0, mm->cohort_withdraw[c] * steps);
  }
}

/* Pay the claims first come first served; true if one was refused. */
static bool pay_claims(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_lenders_ws *lw = ps->ws->lenders;
  double cash[SCH_K_MAX_ASSETS];
  available_cash(ps, cash);
  bool refused = false;
  for (int n = 0; n < lw->n_triggered; n++) {
    int c = lw->order[n];
    for (int j = 0; j < mm->n_assets; j++) {
      double deposit = mm->cohort_share[c] * mm->lent_supply[j];
      double want = lw->claim[c] * deposit - lw->withdrawn[c][j];
      if (!(deposit > 0.0) || !(want > 0.0))
        continue;
      double paid = min_d(want, cash[j]);
      lw->withdrawn[c][j] += paid;
      lw->withdrawn_total[j] += paid;
      cash[j] -= paid;
      refused |= want - paid > REFUSAL_TOLERANCE * deposit;
    }
  }
  return refused;
}

void ref_lenders_step(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  if (!mm->lenders_on)
    return;
  observe(ps);
  update_claims(ps);
  /* a breaker pausing all actions holds withdrawals too: claims wait */
  if (ps->paused_all || ps->ws->lenders->n_triggered == 0)
    return;
  int tf = sch_metric_ext(mm->n_assets, SCH_XM_TIME_FULL_UTILISATION);
  if (pay_claims(ps) && ps->metrics[tf] < 0.0)
    ps->metrics[tf] = ps->t;
}

/* At the horizon: the uncovered shortfall falls pro rata on the deposits
 * still in (stranded claims and passive lenders included); those who got
 * out lose nothing. */
void ref_lenders_finish_path(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  if (!mm->lenders_on)
    return;
  const struct ref_lenders_ws *lw = ps->ws->lenders;
  double withdrawn_usd0 = 0.0, still_in = 0.0, stranded = 0.0;
  for (int j = 0; j < mm->n_assets; j++) {
    if (!(mm->lent_supply[j] > 0.0))
      continue;
    withdrawn_usd0 += lw->withdrawn_total[j] * mm->price0[j];
    still_in += (mm->lent_supply[j] - lw->withdrawn_total[j]) * ps->oracle[j];
    for (int c = 0; c < mm->n_cohorts; c++) {
      double deposit = mm->cohort_share[c] * mm->lent_supply[j];
      stranded += max_d(0.0, lw->claim[c] * deposit - lw->withdrawn[c][j]) *
                  ps->oracle[j];
    }
  }
  double *mt = ps->metrics;
  double loss = mt[SCH_METRIC_UNCOVERED_SHORTFALL];
  mt[sch_metric_ext(mm->n_assets, SCH_XM_WITHDRAWN_SHARE)] =
      withdrawn_usd0 / mm->lent_supply_usd0;
  mt[sch_metric_ext(mm->n_assets, SCH_XM_STRANDED_DEPOSITS)] = stranded;
  mt[sch_metric_ext(mm->n_assets, SCH_XM_LOSS_EARLY)] = 0.0;
  mt[sch_metric_ext(mm->n_assets, SCH_XM_LOSS_LATE)] =
      still_in > 0.0 ? min_d(1.0, loss / still_in) : 0.0;
}

/* ---- read-outs for tests --------------------------------------------------
 */

double ref_lenders_withdrawn(const sch_cascade_ref_ws *ws, int cohort,
                             int asset) {
  return ws->lenders ? ws->lenders->withdrawn[cohort][asset] : 0.0;
}

int64_t ref_lenders_trigger_step(const sch_cascade_ref_ws *ws, int cohort) {
  return ws->lenders ? ws->lenders->trigger_step[cohort] : -1;
}
