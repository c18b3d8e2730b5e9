#include "scenario.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

int sch_cholesky(const double a[][SCH_MAX_ASSETS], int n,
                 double l[][SCH_MAX_ASSETS]) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < SCH_MAX_ASSETS; j++)
      l[i][j] = 0.0;
  for (int j = 0; j < n; j++) {
    double pivot = a[j][j];
    for (int k = 0; k < j; k++)
      pivot -= l[j][k] * l[j][k];
    if (!(pivot > 0.0))
      return j + 1;
    l[j][j] = sqrt(pivot);
    for (int i = j + 1; i < n; i++) {
      double s = a[i][j];
      for (int k = 0; k < j; k++)
        s -= l[i][k] * l[j][k];
      l[i][j] = s / l[j][j];
    }
  }
  return 0;
}

static const double seconds_per_year = 365.0 * 86400.0;

/* Risky assets only: stable rows of the correlation have no effect, so the
 * factor is that of the risky block (a principal minor of an SPD matrix is
 * SPD). */
static sch_status build_path_model(const sch_config *cfg, sch_path_model *pm,
                                   sch_error *err) {
  memset(pm, 0, sizeof *pm);
  double dt = cfg->simulation.step_s / seconds_per_year;
  pm->n_steps = cfg->simulation.steps;
  pm->dt_years = dt;
  pm->seed = cfg->simulation.seed;
  pm->student_t = cfg->simulation.returns == SCH_RETURNS_STUDENT_T;
  pm->dof = cfg->simulation.dof;
  pm->sys_rate = cfg->systemic_jumps.rate;
  pm->sys_mean = cfg->systemic_jumps.mean;
  pm->sys_stdev = cfg->systemic_jumps.stdev;
  double block[SCH_MAX_ASSETS][SCH_MAX_ASSETS] = {{0}};
  for (int i = 0; i < cfg->n_assets; i++) {
    if (cfg->assets[i].stable)
      continue;
    pm->risky_asset[pm->n_risky++] = i;
  }
  for (int r = 0; r < pm->n_risky; r++)
    for (int s = 0; s < pm->n_risky; s++)
      block[r][s] = cfg->correlation[pm->risky_asset[r]][pm->risky_asset[s]];
  double chol[SCH_MAX_ASSETS][SCH_MAX_ASSETS];
  if (sch_cholesky((const double(*)[SCH_MAX_ASSETS])block, pm->n_risky,
                   chol) != 0)
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: correlation of the risky assets is not positive "
                    "definite",
                    cfg->source);
  for (int r = 0; r < pm->n_risky; r++) {
    const sch_asset_spec *a = &cfg->assets[pm->risky_asset[r]];
    double step_vol = a->vol * sqrt(dt);
    pm->log_price0[r] = log(a->price);
    pm->drift_step[r] = (a->drift - 0.5 * a->vol * a->vol) * dt;
    for (int s = 0; s <= r; s++)
      pm->chol_scaled[r][s] = step_vol * chol[r][s];
    pm->jump_rate[r] = a->jumps.rate;
    pm->jump_mean[r] = a->jumps.mean;
    pm->jump_stdev[r] = a->jumps.stdev;
    pm->jump_beta[r] = a->jump_beta;
  }
  return SCH_OK;
}

/* Shocks start at the first step at or after their time (1e-9 absorbs
 * t/dt rounding, as for oracle delays); the loader keeps time > 0, so the
 * step is >= 1 and S(0) is never moved. */
static void build_shocks(const sch_config *cfg, sch_path_model *pm) {
  int slot_of_asset[SCH_MAX_ASSETS];
  for (int r = 0; r < pm->n_risky; r++)
    slot_of_asset[pm->risky_asset[r]] = r;
  for (int j = 0; j < cfg->n_stress && j < SCH_K_MAX_SHOCKS; j++) {
    const sch_stress_spec *s = &cfg->stress[j];
    int64_t k = (int64_t)ceil(s->time_s / cfg->simulation.step_s - 1e-9);
    pm->shock_slot[j] = slot_of_asset[s->asset];
    pm->shock_step[j] = k < 1 ? 1 : k;
    pm->shock_log[j] = log(1.0 - s->drop);
    pm->n_shocks = j + 1;
  }
}

/* The replay file is read again here (the loader only checked it), into
 * storage the scenario owns. */
static sch_status build_replay(const sch_config *cfg, sch_scenario *sc,
                               sch_error *err) {
  if (!cfg->simulation.replay_file[0] || sc->paths.n_risky == 0)
    return SCH_OK;
  sch_replay replay;
  sch_status st = sch_replay_read(cfg, &replay, err);
  if (st != SCH_OK)
    return st;
  sc->replay_x = replay.log_prices;
  sc->paths.n_scenarios = replay.n_scenarios;
  sc->paths.replay_x = replay.log_prices;
  return SCH_OK;
}

static void build_market_assets(const sch_config *cfg, sch_market_model *mm) {
  const double dt = cfg->simulation.step_s;
  int slot = 0;
  for (int i = 0; i < cfg->n_assets; i++) {
    const sch_asset_spec *a = &cfg->assets[i];
    const sch_venue_spec *v = &cfg->venues[i];
    const sch_oracle_spec *o = &cfg->oracles[i];
    mm->stable[i] = a->stable;
    mm->slot_of_asset[i] = a->stable ? -1 : slot++;
    mm->price0[i] = a->price;
    mm->liquidation_threshold[i] = cfg->protocol.assets[i].liquidation_threshold;
    mm->liquidation_bonus[i] = cfg->protocol.assets[i].liquidation_bonus;
    if (a->stable)
      continue;
    mm->venue_model[i] = v->model == SCH_VENUE_POWER ? SCH_K_VENUE_POWER
                                                     : SCH_K_VENUE_CP;
    mm->venue_depth[i] = v->depth;
    mm->venue_fee[i] = v->fee;
    mm->venue_eta[i] = v->eta;
    mm->venue_alpha[i] = v->alpha;
    mm->inv_market_depth[i] = 1.0 / v->market_depth;
    mm->impact_decay[i] = exp2(-dt / v->recovery_half_life_s);
    mm->oracle_deviation[i] = o->deviation;
    mm->oracle_heartbeat_s[i] = o->heartbeat_s;
    /* first step at or after t_obs + d; the tolerance absorbs d/dt rounding */
    mm->oracle_delay_steps[i] = (int64_t)ceil(o->delay_s / dt - 1e-9);
  }
}

/* Morpho Blue's liquidation incentive factor (LIF) of a market with
 * liquidation LTV `lltv`: min(M, 1 / (beta lltv + (1 - beta))), M = 1.15,
 * beta = 0.3; the bonus is LIF - 1. */
static double morpho_bonus(double lltv) {
  double lif = 1.0 / (1.0 - 0.3 * (1.0 - lltv));
  return (lif < 1.15 ? lif : 1.15) - 1.0;
}

/* The incentive mechanism as the kernels see it: per-asset bonuses and the
 * close factor (docs/model.md, "Incentives"). */
static void apply_incentive(const sch_config *cfg, sch_market_model *mm) {
  if (cfg->protocol.incentive != SCH_INCENTIVE_MORPHO)
    return;
  for (int i = 0; i < cfg->n_assets; i++)
    mm->liquidation_bonus[i] =
        morpho_bonus(cfg->protocol.assets[i].liquidation_threshold);
  mm->close_factor = 1.0; /* a liquidation may repay the whole debt */
  mm->full_close_below_hf = 0.0;
}

/* Absorb, dynamic incentive, backstop, MEV and latency as
 * kernels/incentive.c reads them (docs/model.md); any of them on runs the
 * reference cascade. */
static void build_incentive_terms(const sch_config *cfg,
                                  sch_market_model *mm) {
  const sch_absorb_spec *a = &cfg->protocol.absorb;
  const sch_dynamic_incentive_spec *d = &cfg->protocol.dynamic_incentive;
  const sch_backstop_spec *b = &cfg->backstop;
  for (int i = 0; i < cfg->n_assets; i++)
    mm->absorb_liquidation_factor[i] = a->liquidation_factor[i];
  mm->absorb_store_front = a->store_front_price_factor;
  mm->absorb_target_reserves = a->target_reserves;
  mm->absorb_reserves0 = a->reserves;
  mm->dynamic_incentive = cfg->protocol.incentive == SCH_INCENTIVE_DYNAMIC;
  mm->dyn_depth_exponent = d->depth_exponent;
  mm->dyn_distress_multiplier = d->distress_multiplier;
  mm->dyn_min_bonus = d->min_bonus;
  mm->dyn_max_bonus = d->max_bonus;
  mm->backstop_enabled = b->enabled;
  mm->backstop_capital = b->capital;
  mm->backstop_discount = b->discount;
  mm->backstop_refill_per_s = b->refill_per_day / 86400.0;
  mm->mev_share = cfg->liquidators.mev_share;
  /* whole steps, the first at or after the latency (as oracle delays) */
  mm->latency_steps =
      (int64_t)ceil(cfg->liquidators.latency_s / cfg->simulation.step_s - 1e-9);
  if (mm->latency_steps < 0)
    mm->latency_steps = 0;
  mm->reference_only |= mm->dynamic_incentive || mm->backstop_enabled ||
                        mm->mev_share > 0.0 || mm->latency_steps > 0;
}

_Static_assert((int)SCH_LIQUIDATION_ABSORB == SCH_K_LIQ_ABSORB &&
                   (int)SCH_LIQUIDATION_CLIPPER == SCH_K_LIQ_CLIPPER &&
                   (int)SCH_LIQUIDATION_FLIP == SCH_K_LIQ_FLIP,
               "config and kernel liquidation modes differ");

/* Maker auction terms as kernels/auction.c reads them (docs/model.md
 * "Clipper", "Flip"); the bidders draw from the path's auction stream of
 * the simulation seed. */
static void build_auction_terms(const sch_config *cfg, sch_market_model *mm) {
  const sch_clipper_spec *c = &cfg->protocol.clipper;
  const sch_flip_spec *f = &cfg->protocol.flip;
  mm->auction_seed = cfg->simulation.seed;
  mm->clip_buf = c->buf;
  mm->clip_linear = c->abacus == SCH_ABACUS_LINEAR;
  mm->clip_tau_s = c->tau_s;
  mm->clip_cut = c->cut;
  mm->clip_step_s = c->step_s;
  mm->clip_tail_s = c->tail_s;
  mm->clip_cusp = c->cusp;
  mm->clip_chop = c->chop;
  mm->clip_tip = c->tip;
  mm->clip_chip = c->chip;
  mm->clip_hole = c->hole;
  mm->clip_dust = c->dust;
  mm->flip_beg = f->beg;
  mm->flip_ttl_s = f->ttl_s;
  mm->flip_tau_s = f->tau_s;
  mm->flip_chop = f->chop;
  mm->flip_bidders = (int)f->bidders;
  mm->flip_bidder_capital = f->bidder_capital;
  mm->flip_participation = f->participation;
  mm->flip_min_bid = f->min_bid;
}

/* Circuit breaker and volatility bands as kernels/defence.c reads them
 * (docs/model.md "Circuit breaker", "Volatility bands"); either one makes
 * the model reference-only. Windows are whole steps (floor, at least one),
 * the cooldown the first step at or after it (ceil). */
static void build_defences(const sch_config *cfg, sch_market_model *mm) {
  const sch_circuit_breaker_spec *b = &cfg->circuit_breaker;
  const double dt = cfg->simulation.step_s;
  if (b->enabled && b->asset_mask != 0) {
    mm->breaker_on = true;
    mm->breaker_all = b->scope == SCH_BREAKER_ALL;
    mm->breaker_assets = b->asset_mask;
    mm->breaker_move = b->move;
    mm->breaker_window_steps = (int64_t)floor(b->window_s / dt + 1e-9);
    if (mm->breaker_window_steps < 1)
      mm->breaker_window_steps = 1;
    mm->breaker_cooldown_steps = (int64_t)ceil(b->cooldown_s / dt - 1e-9);
    if (mm->breaker_cooldown_steps < 1)
      mm->breaker_cooldown_steps = 1;
  }
  int64_t w = (int64_t)floor(cfg->protocol.volatility_window_s / dt + 1e-9);
  mm->vol_window_steps = w < 1 ? 1 : w;
  mm->vol_window_years = (double)mm->vol_window_steps * dt / seconds_per_year;
  mm->vol_hold_steps =
      (int64_t)ceil(cfg->protocol.volatility_hold_s / dt - 1e-9);
  for (int i = 0; i < cfg->n_assets && i < SCH_K_MAX_ASSETS; i++) {
    const sch_protocol_spec *p = &cfg->protocol;
    int n = p->n_volatility_bands[i];
    if (n > SCH_K_MAX_VOL_BANDS)
      n = SCH_K_MAX_VOL_BANDS;
    if (cfg->assets[i].stable)
      n = 0; /* the loader refuses these; a stable price has no volatility */
    mm->n_vol_bands[i] = n;
    for (int k = 0; k < n; k++) {
      mm->vol_band_above[i][k] = p->volatility_bands[i][k].above;
      mm->vol_band_lt[i][k] = p->volatility_bands[i][k].liquidation_threshold;
    }
    mm->vol_bands_on |= n > 0;
  }
  mm->reference_only |= mm->breaker_on || mm->vol_bands_on;
}

static void build_market_model(const sch_config *cfg, sch_market_model *mm) {
  const sch_liquidator_spec *lq = &cfg->liquidators;
  memset(mm, 0, sizeof *mm);
  mm->n_assets = cfg->n_assets;
  mm->n_steps = cfg->simulation.steps;
  mm->dt_s = cfg->simulation.step_s;
  build_market_assets(cfg, mm);
  mm->close_factor = cfg->protocol.close_factor;
  mm->full_close_below_hf = cfg->protocol.full_close_below_hf;
  mm->insurance_fund = cfg->protocol.insurance_fund;
  apply_incentive(cfg, mm);
  /* the config's and the kernels' enums list the modes in the same order */
  mm->liquidation_mode = (int)cfg->protocol.liquidation;
  mm->isolated_market = cfg->isolated_market;
  mm->deposits = cfg->deposits;
  for (int i = 0; i < SCH_K_MAX_ASSETS; i++)
    mm->receipt_of[i] = i < cfg->n_assets ? cfg->assets[i].receipt_of : -1;
  mm->reference_only |= mm->liquidation_mode != SCH_K_LIQ_FIXED;
  build_auction_terms(cfg, mm);
  mm->liquidators_enabled = lq->enabled;
  mm->gas_units = lq->gas_units;
  mm->gas_price_gwei = lq->gas_price_gwei;
  mm->gas_beta = lq->gas_beta;
  mm->gas_price_max_gwei = lq->gas_price_max_gwei;
  mm->gas_window_steps = (int64_t)floor(lq->gas_window_s / mm->dt_s + 1e-9);
  mm->gas_asset = lq->gas_asset;
  mm->max_liquidations_per_step = lq->max_liquidations_per_step;
  mm->max_rounds_per_step = lq->max_rounds_per_step;
  mm->capital = lq->capital;
  mm->flash_loans = lq->flash_loans;
  mm->min_profit = lq->min_profit;
  build_incentive_terms(cfg, mm);
  build_defences(cfg, mm);
}

/* `threshold: auto` (docs/model.md 6c): a lender at the threshold holds a
 * uniform (Laplacian) belief over the share U of the others' deposits, phi,
 * that leaves before the loss falls; staying costs L / (S (1 - phi U)) per
 * unit, E = (L / S) (-ln(1 - phi)) / phi; leaving costs `exit_cost`. The
 * threshold on L / S where they are equal: */
static double auto_threshold(double exit_cost, double phi) {
  if (!(phi > 1e-12))
    return exit_cost; /* nobody else can leave */
  return exit_cost * phi / -log1p(-phi);
}

/* Lenders and liquidity flight (kernels/lenders.c; docs/model.md
 * "Coordination failure"): supply per lent asset in units, from `supply` or
 * from the book's borrows / `utilisation`; on with at least one cohort. */
static sch_status build_lenders(const sch_config *cfg, const sch_loanbook *book,
                                sch_market_model *mm, sch_error *err) {
  const sch_lenders_spec *l = &cfg->lenders;
  for (int j = 0; l->present && j < cfg->n_assets; j++) {
    double borrows = 0.0;
    for (int64_t a = 0; a < book->n_accounts; a++)
      borrows += book->debt[a * cfg->n_assets + j];
    double supply = l->supply_units[j];
    const char *name = cfg->assets[j].name;
    if (l->utilisation[j] > 0.0) {
      if (!(borrows > 0.0))
        return sch_fail(err, SCH_ERR_INPUT,
                        "%s: lenders.assets.%s.utilisation: the loan book "
                        "has no %s debt; give supply: instead",
                        cfg->source, name, name);
      supply = borrows / l->utilisation[j];
    }
    if (supply > 0.0 && supply < borrows)
      return sch_fail(err, SCH_ERR_INPUT,
                      "%s: lenders.assets.%s.supply %g is below the loan "
                      "book's %s borrows %g",
                      cfg->source, name, supply, name, borrows);
    mm->lent_supply[j] = supply;
    mm->lent_borrows0[j] = supply > 0.0 ? borrows : 0.0;
    mm->lent_supply_usd0 += supply * cfg->assets[j].price;
    mm->lent_borrows_usd0 += mm->lent_borrows0[j] * cfg->assets[j].price;
  }
  mm->lenders_on = l->present && l->n_cohorts > 0;
  mm->lenders_run = l->run;
  mm->lenders_seed = cfg->simulation.seed;
  mm->n_cohorts = l->n_cohorts;
  double in_cohorts = 0.0;
  for (int k = 0; k < l->n_cohorts; k++)
    in_cohorts += l->cohorts[k].share;
  for (int k = 0; k < l->n_cohorts; k++) {
    mm->cohort_share[k] = l->cohorts[k].share;
    mm->cohort_threshold[k] = l->cohorts[k].threshold;
    if (l->cohorts[k].threshold_auto)
      mm->cohort_threshold[k] =
          auto_threshold(l->exit_cost, in_cohorts - l->cohorts[k].share);
    mm->cohort_noise[k] = l->cohorts[k].noise;
    mm->cohort_withdraw[k] = l->cohorts[k].withdraw;
  }
  const sch_flight_spec *fl = &cfg->liquidity_flight;
  mm->flight_on = fl->present && fl->enabled;
  for (int i = 0; mm->flight_on && i < cfg->n_assets; i++) {
    const sch_flight_asset *f = &fl->assets[i];
    mm->flight_a[i] = f->sensitivity_drawdown;
    mm->flight_b[i] = f->sensitivity_vol;
    mm->flight_vol_ref[i] = f->vol_ref;
    mm->flight_floor[i] = f->floor;
    mm->flight_recovery[i] = exp2(-mm->dt_s / f->half_life_s);
    int64_t w = (int64_t)floor(f->vol_window_s / mm->dt_s + 1e-9);
    mm->flight_window_steps[i] = w > 1 ? w : 1;
  }
  mm->reference_only |= mm->lenders_on || mm->flight_on;
  return SCH_OK;
}

/* ---- loan-book groups ----------------------------------------------------- */

typedef struct account_key {
  uint64_t signature; /* collateral mask << 32 | debt mask */
  double value;       /* health0 or cover0 */
  int32_t account;
} account_key;

static int compare_keys(const void *pa, const void *pb) {
  const account_key *a = pa, *b = pb;
  if (a->signature != b->signature)
    return a->signature < b->signature ? -1 : 1;
  if (a->value != b->value)
    return a->value < b->value ? -1 : 1;
  return (a->account > b->account) - (a->account < b->account);
}

static uint64_t signature_of(const sch_loanbook *book, int64_t a) {
  uint32_t cm = 0, dm = 0;
  for (int i = 0; i < book->n_assets; i++) {
    if (book->collateral[a * book->n_assets + i] > 0.0)
      cm |= 1u << i;
    if (book->debt[a * book->n_assets + i] > 0.0)
      dm |= 1u << i;
  }
  return (uint64_t)cm << 32 | dm;
}

/* Initial cover: sum c p / sum d p (no thresholds), for underwater checks. */
static double cover_of(const sch_config *cfg, const sch_loanbook *book,
                       int64_t a) {
  double c = 0.0, d = 0.0;
  for (int i = 0; i < book->n_assets; i++) {
    c += book->collateral[a * book->n_assets + i] * cfg->assets[i].price;
    d += book->debt[a * book->n_assets + i] * cfg->assets[i].price;
  }
  return c / d;
}

/* Sorted keys of the indebted accounts by (signature, value). */
static int64_t sorted_keys(const sch_config *cfg, const sch_loanbook *book,
                           bool by_health, account_key *keys) {
  double prices[SCH_MAX_ASSETS];
  for (int i = 0; i < cfg->n_assets; i++)
    prices[i] = cfg->assets[i].price;
  int64_t n = 0;
  for (int64_t a = 0; a < book->n_accounts; a++) {
    uint64_t sig = signature_of(book, a);
    if ((uint32_t)sig == 0)
      continue; /* no debt: never liquidatable, never underwater */
    double v = by_health ? sch_loanbook_health(cfg, book, a, prices)
                         : cover_of(cfg, book, a);
    keys[n++] = (account_key){sig, v, (int32_t)a};
  }
  qsort(keys, (size_t)n, sizeof *keys, compare_keys);
  return n;
}

static sch_status build_groups(const sch_config *cfg, const sch_loanbook *book,
                               sch_scenario *sc, sch_error *err) {
  const int64_t na = book->n_accounts;
  if (na > INT32_MAX)
    return sch_fail(err, SCH_ERR_INPUT, "loan book: more than %d accounts",
                    INT32_MAX);
  account_key *hk = malloc((size_t)(na + 1) * sizeof *hk);
  account_key *ck = malloc((size_t)(na + 1) * sizeof *ck);
  sc->account_order = malloc((size_t)(2 * na + 1) * sizeof(int32_t));
  sc->account_values = malloc((size_t)(2 * na + 1) * sizeof(double));
  sc->groups = calloc((size_t)(na + 1), sizeof *sc->groups);
  sc->group_of_account = malloc((size_t)(na + 1) * sizeof(int32_t));
  if (!hk || !ck || !sc->account_order || !sc->account_values || !sc->groups ||
      !sc->group_of_account) {
    free(hk);
    free(ck);
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory building the book");
  }
  int64_t n = sorted_keys(cfg, book, true, hk);
  sorted_keys(cfg, book, false, ck);
  int32_t *order = sc->account_order;
  double *values = sc->account_values;
  for (int64_t a = 0; a < na; a++)
    sc->group_of_account[a] = -1;
  int ng = 0;
  for (int64_t start = 0; start < n;) {
    int64_t end = start;
    while (end < n && hk[end].signature == hk[start].signature)
      end++;
    sch_book_group *g = &sc->groups[ng++];
    g->collateral_mask = (uint32_t)(hk[start].signature >> 32);
    g->debt_mask = (uint32_t)hk[start].signature;
    g->n = end - start;
    g->by_health = order + start;
    g->health0 = values + start;
    g->by_cover = order + n + start;
    g->cover0 = values + n + start;
    for (int64_t k = start; k < end; k++) {
      order[k] = hk[k].account;
      values[k] = hk[k].value;
      sc->group_of_account[hk[k].account] = ng - 1;
      order[n + k] = ck[k].account; /* same signatures, same runs */
      values[n + k] = ck[k].value;
    }
    start = end;
  }
  free(hk);
  free(ck);
  sc->market.n_groups = ng;
  sc->market.groups = sc->groups;
  sc->market.group_of_account = sc->group_of_account;
  return SCH_OK;
}

/* Several protocols on one market (kernels/contagion.c): the head's market
 * model lists every protocol's, each built from its own configuration and
 * book; paths are the head's (the market is shared). */
static sch_status build_protocols(const sch_config *cfg, sch_scenario *sc,
                                  sch_error *err) {
  const int n = cfg->n_protocols;
  sc->n_sub = n;
  sc->sub = calloc((size_t)n, sizeof *sc->sub);
  sc->sub_books = calloc((size_t)n, sizeof *sc->sub_books);
  sc->protocol_models = calloc((size_t)n, sizeof *sc->protocol_models);
  if (!sc->sub || !sc->sub_books || !sc->protocol_models)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  sc->protocol_models[0] = sc->market;
  for (int p = 1; p < n; p++) {
    const sch_config *pc = &cfg->protocol_cfg[p];
    sch_status st = sch_loanbook_load(pc, &sc->sub_books[p], err);
    if (st == SCH_OK)
      st = sch_scenario_build(pc, &sc->sub_books[p], &sc->sub[p], err);
    if (st != SCH_OK)
      return st;
    sc->protocol_models[p] = sc->sub[p].market;
  }
  sc->market.n_protocols = n;
  sc->market.protocols = sc->protocol_models;
  sc->market.reference_only = true;
  return SCH_OK;
}

sch_status sch_scenario_build(const sch_config *cfg, const sch_loanbook *book,
                              sch_scenario *sc, sch_error *err) {
  memset(sc, 0, sizeof *sc);
  sch_status st = build_path_model(cfg, &sc->paths, err);
  if (st != SCH_OK)
    return st;
  build_shocks(cfg, &sc->paths);
  if ((st = build_replay(cfg, sc, err)) != SCH_OK)
    return st;
  build_market_model(cfg, &sc->market);
  sc->market.n_accounts = book->n_accounts;
  sc->market.collateral = book->collateral;
  sc->market.debt = book->debt;
  st = build_groups(cfg, book, sc, err);
  if (st == SCH_OK)
    st = build_lenders(cfg, book, &sc->market, err);
  if (st == SCH_OK && cfg->protocol_cfg && cfg->n_protocols > 1)
    st = build_protocols(cfg, sc, err);
  if (st != SCH_OK)
    sch_scenario_free(sc);
  return st;
}

void sch_scenario_free(sch_scenario *sc) {
  if (!sc)
    return;
  for (int p = 1; p < sc->n_sub; p++) {
    if (sc->sub)
      sch_scenario_free(&sc->sub[p]);
    if (sc->sub_books)
      sch_loanbook_free(&sc->sub_books[p]);
  }
  free(sc->sub);
  free(sc->sub_books);
  free(sc->protocol_models);
  sc->sub = NULL;
  sc->sub_books = NULL;
  sc->protocol_models = NULL;
  sc->n_sub = 0;
  sc->market.protocols = NULL;
  sc->market.n_protocols = 0;
  free(sc->groups);
  free(sc->account_order);
  free(sc->account_values);
  free(sc->group_of_account);
  free(sc->replay_x);
  sc->replay_x = NULL;
  sc->paths.replay_x = NULL;
  sc->paths.n_scenarios = 0;
  sc->group_of_account = NULL;
  sc->groups = NULL;
  sc->account_order = NULL;
  sc->account_values = NULL;
}
