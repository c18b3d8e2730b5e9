#include "cascade_ref.h"

/* Several protocols on one market (issue 7, docs/model.md "Several
 * protocols"). Each protocol keeps its own path state (accounts, oracle
 * reading, capacity, mechanisms); the market parts of the states (impact,
 * venue pools, oracles) are kept identical: every protocol moves the same
 * prices at the start of a step (the same inputs give the same numbers), then
 * the protocols act in config order, each on the market the previous one
 * left, and what one does is copied to the others before the next acts.
 * With an isolated market nothing is copied and receipt tokens stay at par:
 * each protocol then runs exactly as it would alone. */

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ref_contagion_ws {
  int n;
  sch_cascade_ref_ws *sub[SCH_K_MAX_PROTOCOLS]; /* [0] unused: the head's */
};

bool ref_contagion_ws_create(sch_cascade_ref_ws *ws,
                             const sch_market_model *mm) {
  ws->contagion = NULL;
  if (mm->n_protocols <= 1)
    return true;
  struct ref_contagion_ws *cw = calloc(1, sizeof *cw);
  if (!cw)
    return false;
  ws->contagion = cw;
  cw->n = mm->n_protocols;
  for (int p = 1; p < cw->n; p++)
    if (!(cw->sub[p] = sch_cascade_ref_ws_create(&mm->protocols[p])))
      return false;
  return true;
}

void ref_contagion_ws_free(sch_cascade_ref_ws *ws) {
  struct ref_contagion_ws *cw = ws->contagion;
  if (!cw)
    return;
  for (int p = 1; p < cw->n; p++)
    sch_cascade_ref_ws_free(cw->sub[p]);
  free(cw);
  ws->contagion = NULL;
}

/* Share value of protocol q's deposits: lenders bear the realised bad debt
 * the insurance fund does not cover, pro rata, when it is realised. */
static double share_value(const path_state *issuer) {
  const sch_market_model *mm = issuer->mm;
  double loss = issuer->metrics[SCH_METRIC_BAD_DEBT] - mm->insurance_fund;
  if (!(loss > 0.0))
    return 1.0;
  return mm->deposits > loss ? 1.0 - loss / mm->deposits : 0.0;
}

/* Receipt tokens held in protocol p take their issuers' share value. */
static void price_receipts(path_state *ps, int n, int p) {
  const sch_market_model *mm = ps[p].mm;
  for (int i = 0; i < mm->n_assets; i++) {
    int q = mm->receipt_of[i];
    if (q < 0 || q >= n)
      continue;
    double price = mm->price0[i] * share_value(&ps[q]);
    if (price == ps[p].oracle[i])
      continue;
    ref_set_oracle(&ps[p], i, price);
    ps[p].log_market[i] = ps[p].log_market_start[i] = log(price);
  }
}

/* What a protocol's step changed in the market, copied to another state:
 * impact and market prices, venue pools, oracles and their pending
 * observations. Accounts, capacity and metrics stay each protocol's own. */
static void copy_market(path_state *dst, const path_state *src) {
  const int na = src->mm->n_assets;
  size_t sz = (size_t)na * sizeof(double), sz64 = (size_t)na * sizeof(int64_t);
  bool oracle_moved = memcmp(dst->oracle, src->oracle, sz) != 0;
  memcpy(dst->impact, src->impact, sz);
  memcpy(dst->log_market, src->log_market, sz);
  memcpy(dst->pool_step, src->pool_step, sz64);
  memcpy(dst->pool_units, src->pool_units, sz);
  memcpy(dst->pool_usd, src->pool_usd, sz);
  memcpy(dst->venue_sold, src->venue_sold, sz);
  memcpy(dst->oracle, src->oracle, sz);
  memcpy(dst->oracle_ratio, src->oracle_ratio, sz);
  memcpy(dst->last_obs, src->last_obs, sz);
  memcpy(dst->last_obs_step, src->last_obs_step, sz64);
  memcpy(dst->obs_lo, src->obs_lo, sz);
  memcpy(dst->obs_hi, src->obs_hi, sz);
  memcpy(dst->pend_head, src->pend_head, sz64);
  memcpy(dst->pend_count, src->pend_count, sz64);
  memcpy(dst->ws->pending, src->ws->pending,
         (size_t)(src->ws->pending_cap * na) * sizeof *src->ws->pending);
  if (oracle_moved)
    dst->candidates_valid = false;
}

static void system_metrics(const sch_market_model *mm, int n, double *metrics) {
  const int count = sch_metric_count(mm->n_assets);
  double sum[SCH_SYS_COUNT] = {0};
  static const int source[SCH_SYS_COUNT] = {
      [SCH_SYS_SHORTFALL] = SCH_METRIC_SHORTFALL,
      [SCH_SYS_UNCOVERED_SHORTFALL] = SCH_METRIC_UNCOVERED_SHORTFALL,
      [SCH_SYS_BAD_DEBT] = SCH_METRIC_BAD_DEBT};
  for (int p = 0; p < n; p++)
    for (int s = 0; s < SCH_SYS_COUNT; s++)
      sum[s] += metrics[p * count + source[s]];
  for (int s = 0; s < SCH_SYS_COUNT; s++)
    metrics[sch_metric_system(mm->n_assets, n, s)] = sum[s];
  for (int a = 0; a < n; a++)
    for (int b = a + 1; b < n; b++)
      metrics[sch_metric_joint(mm->n_assets, n, a, b)] =
          metrics[a * count + SCH_METRIC_SHORTFALL] > 0.0 &&
                  metrics[b * count + SCH_METRIC_SHORTFALL] > 0.0
              ? 1.0
              : 0.0;
}

void ref_contagion_run(const sch_market_model *mm, int n_risky,
                       const double *x, int64_t x_stride,
                       sch_cascade_ref_ws *ws, double *metrics,
                       const sch_price_record *record) {
  const int n = mm->n_protocols;
  const int count = sch_metric_count(mm->n_assets);
  const bool shared = !mm->isolated_market;
  struct ref_contagion_ws *cw = ws->contagion;
  path_state ps[SCH_K_MAX_PROTOCOLS];
  for (int p = 0; p < n; p++) {
    ps[p] = (path_state){.mm = &mm->protocols[p],
                         .ws = p == 0 ? ws : cw->sub[p],
                         .x = x,
                         .x_stride = x_stride,
                         .n_risky = n_risky,
                         .metrics = metrics + p * count,
                         .path = ws->path_index};
    ref_path_begin(&ps[p], p == 0 ? record : NULL);
  }
  for (int64_t k = 1; k <= mm->n_steps; k++) {
    for (int p = 0; p < n; p++)
      ref_step_market(&ps[p], k);
    for (int p = 0; p < n; p++) {
      if (shared)
        price_receipts(ps, n, p);
      ref_step_protocol(&ps[p]);
      for (int q = 0; shared && q < n; q++)
        if (q != p)
          copy_market(&ps[q], &ps[p]);
    }
    for (int p = 0; p < n; p++) {
      if (shared)
        price_receipts(ps, n, p);
      ref_step_end(&ps[p], p == 0 ? record : NULL);
    }
  }
  for (int p = 0; p < n; p++)
    ref_path_end(&ps[p]);
  system_metrics(mm, n, metrics);
}
