#include "cascade_ref.h"

/* Maker auctions on the reference cascade: Clipper (Liquidations 2.0,
 * a Dutch auction: dog.sol, clip.sol, abaci.sol) and flip (Liquidations 1.2,
 * an English auction: cat.sol, flip.sol). Hooks of the reference cascade:
 * see kernels/cascade_ref.h; formulas and settled readings: docs/model.md
 * "Clipper" and "Flip".
 *
 * Money is in USD (Maker's DAI). An auction carries what the protocol must
 * recover (`due`: the debt moved in plus the keeper incentives it paid) and
 * what it raised; when the auction ends the protocol's loss
 * max(0, due - raised) is realised as bad debt, and max(0, raised - debt) is
 * the penalty (chop) it collected. */

#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Relative tolerance under which a take counts as paying the whole tab or
 * buying the whole lot (q = tab / p rounds). */
#define WHOLE 1e-12
/* The hole counts as full below this fraction of it left: rounding in Dirt
 * must not open auctions of a few nano-dollars. */
#define HOLE_FULL 1e-12

typedef struct auction {
  int32_t account;
  int asset;     /* collateral asset sold */
  int leader;    /* flip: bidder with the standing bid, -1 none */
  bool dent;     /* flip: the bid reached the tab; lots fall now */
  bool done;     /* ended this step; removed by compact() */
  double lot;    /* collateral units in the auction */
  double tab;    /* USD still to raise (clipper); the whole tab (flip) */
  double debt;   /* debt value moved in at the bark, USD */
  double due;    /* debt + keeper incentives paid for this auction, USD */
  double raised; /* USD raised so far */
  double top;    /* clipper: starting price of the current run */
  double tic;    /* clipper: time of bark or last redo; flip: bid expiry,
                    < 0 without a bid */
  double end;    /* flip: kick (or last restart) + tau */
  double kicked; /* time of the bark or kick */
  double bid;    /* flip: standing bid, USD */
} auction;

struct ref_auction_ws {
  auction *live; /* open auctions in bark order */
  int64_t n_live, cap;
  double dirt; /* clipper: tab of all open auctions (dog.sol Dirt), USD */
  double locked[SCH_K_MAX_BIDDERS]; /* flip: capital in standing bids */
  bool watching[SCH_K_MAX_BIDDERS]; /* flip: bidders watching this step */
  sch_pcg32 rng;                    /* flip: the path's auction stream */
};

static bool auctions_on(const sch_market_model *mm) {
  return mm->liquidation_mode == SCH_K_LIQ_CLIPPER ||
         mm->liquidation_mode == SCH_K_LIQ_FLIP;
}

/* One slot per (account, collateral asset) of the book plus slack: an
 * account auctions each collateral asset once unless the hole cuts a bark
 * short; a bark that finds no free slot waits for one. */
bool ref_auction_ws_create(sch_cascade_ref_ws *ws, const sch_market_model *mm) {
  ws->auction = NULL;
  if (!auctions_on(mm))
    return true;
  struct ref_auction_ws *aw = calloc(1, sizeof *aw);
  if (!aw)
    return false;
  int64_t slots = 0;
  for (int64_t e = 0; e < mm->n_accounts * mm->n_assets; e++)
    slots += mm->collateral[e] > 0.0;
  aw->cap = slots + 64;
  aw->live = malloc((size_t)aw->cap * sizeof *aw->live);
  if (!aw->live) {
    free(aw);
    return false;
  }
  ws->auction = aw;
  return true;
}

void ref_auction_ws_free(sch_cascade_ref_ws *ws) {
  if (!ws->auction)
    return;
  free(ws->auction->live);
  free(ws->auction);
  ws->auction = NULL;
}

void ref_auction_init_path(path_state *ps) {
  struct ref_auction_ws *aw = ps->ws->auction;
  if (!aw)
    return;
  aw->n_live = 0;
  aw->dirt = 0.0;
  memset(aw->locked, 0, sizeof aw->locked);
  if (ps->mm->liquidation_mode == SCH_K_LIQ_FLIP)
    sch_stream_for_path(&aw->rng, ps->mm->auction_seed, SCH_STREAM_AUCTION,
                        ps->path);
}

/* ---- shared ------------------------------------------------------------ */

static double *metric_ext(path_state *ps, int id) {
  return &ps->metrics[sch_metric_ext(ps->mm->n_assets, id)];
}

static double market_price(const path_state *ps, int i) {
  return ps->mm->stable[i] ? ps->mm->price0[i] : exp(ps->log_market[i]);
}

/* The auction is over: realise the protocol's loss (due - raised) as bad
 * debt and the penalty collected (raised - debt) as bonus_paid. Collateral
 * left in a paid-off auction goes back to the owner and leaves the model. */
static void end_auction(path_state *ps, auction *au) {
  double *mt = ps->metrics;
  double loss = au->due - au->raised;
  if (loss > 0.0) {
    mt[SCH_METRIC_BAD_DEBT] += loss;
    int tf = sch_metric_time_first_bad_debt(ps->mm->n_assets);
    if (mt[tf] < 0.0)
      mt[tf] = ps->t;
  }
  mt[SCH_METRIC_BONUS_PAID] += max_d(0.0, au->raised - au->debt);
  double *longest = metric_ext(ps, SCH_XM_AUCTION_DURATION);
  *longest = max_d(*longest, ps->t - au->kicked);
  if (ps->mm->liquidation_mode == SCH_K_LIQ_CLIPPER)
    ps->ws->auction->dirt -= au->tab;
  au->tab = 0.0;
  au->done = true;
}

/* Drop ended auctions, keeping bark order. */
static void compact(struct ref_auction_ws *aw) {
  int64_t kept = 0;
  for (int64_t n = 0; n < aw->n_live; n++)
    if (!aw->live[n].done)
      aw->live[kept++] = aw->live[n];
  aw->n_live = kept;
}

/* Oracles (delay 0) see the post-sale market price; true if one changed. */
static bool oracles_after_sales(path_state *ps) {
  bool changed = false;
  for (int i = 0; i < ps->mm->n_assets; i++)
    if (!ps->mm->stable[i])
      changed |= ref_oracle_check(ps, i);
  return changed;
}

/* A keeper transaction (bark, kick, redo, bid, deal): its gas is the
 * aggregate liquidator's. */
static void pay_gas(path_state *ps, double gas) {
  ps->metrics[SCH_METRIC_GAS_COST] += gas;
  ps->metrics[SCH_METRIC_LIQUIDATOR_PROFIT] -= gas;
}

/* Move the fraction f of account a's debt and collateral into one auction
 * per collateral asset, the debt split by collateral value at the oracle;
 * tab = debt share x chop. Returns the number of auctions opened (0 when
 * the slots are full: the account waits). */
static int open_auctions(path_state *ps, int32_t a, double f, double chop,
                         double debt_value) {
  const sch_market_model *mm = ps->mm;
  struct ref_auction_ws *aw = ps->ws->auction;
  const int n = mm->n_assets;
  int32_t s = ref_touch(ps, a);
  double *c = ps->ws->touched_collateral + (int64_t)s * n;
  double *d = ps->ws->touched_debt + (int64_t)s * n;
  double value = 0.0;
  int lots = 0;
  for (int i = 0; i < n; i++)
    if (c[i] > 0.0) {
      value += c[i] * ps->oracle[i];
      lots++;
    }
  if (value <= 0.0 || aw->n_live + lots > aw->cap)
    return 0;
  for (int i = 0; i < n; i++) {
    if (c[i] <= 0.0)
      continue;
    double share = f * debt_value * (c[i] * ps->oracle[i] / value);
    aw->live[aw->n_live++] = (auction){.account = a,
                                       .asset = i,
                                       .leader = -1,
                                       .lot = f < 1.0 ? f * c[i] : c[i],
                                       .tab = share * chop,
                                       .debt = share,
                                       .due = share,
                                       .top = mm->clip_buf * ps->oracle[i],
                                       .tic = ps->t,
                                       .end = ps->t + mm->flip_tau_s,
                                       .kicked = ps->t};
    c[i] = f < 1.0 ? c[i] * (1.0 - f) : 0.0;
  }
  for (int j = 0; j < n; j++)
    d[j] = f < 1.0 ? d[j] * (1.0 - f) : 0.0;
  *metric_ext(ps, SCH_XM_AUCTIONS) += lots;
  ps->candidates_valid = false;
  return lots;
}

static double debt_value_of(const path_state *ps, int32_t a) {
  const double *d = ref_debt_of(ps, a);
  double v = 0.0;
  for (int j = 0; j < ps->mm->n_assets; j++)
    v += d[j] * ps->oracle[j];
  return v;
}

/* ---- Clipper ----------------------------------------------------------- */

/* abaci.sol: LinearDecrease top (tau - dur) / tau (0 from tau on);
 * StairstepExponentialDecrease top cut^floor(dur / step). */
double ref_clipper_price(const sch_market_model *mm, double top,
                         double elapsed) {
  if (mm->clip_linear)
    return elapsed < mm->clip_tau_s
               ? top * (mm->clip_tau_s - elapsed) / mm->clip_tau_s
               : 0.0;
  return top * pow(mm->clip_cut, floor(elapsed / mm->clip_step_s));
}

static double clip_price(const sch_market_model *mm, const auction *au,
                         double t) {
  return ref_clipper_price(mm, au->top, t - au->tic);
}

/* clip.sol status(): an auction older than tail or whose price fell below
 * cusp x top must be reset before anyone can take. */
static bool needs_redo(const sch_market_model *mm, const auction *au,
                       double t) {
  return t - au->tic > mm->clip_tail_s ||
         clip_price(mm, au, t) / au->top < mm->clip_cusp;
}

/* Keeper incentive tip + chip x tab, paid by the protocol (vat.suck): it is
 * added to what the auction must recover. */
static void pay_keeper(path_state *ps, auction *au) {
  double coin = ps->mm->clip_tip + ps->mm->clip_chip * au->tab;
  au->due += coin;
  *metric_ext(ps, SCH_XM_KEEPER_INCENTIVES) += coin;
  ps->metrics[SCH_METRIC_LIQUIDATOR_PROFIT] += coin;
}

/* clip.sol redo(): restart at buf x the oracle price; the keeper is paid
 * only when tab and lot value are at least chost = dust x chop. */
static void redo_stale(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_auction_ws *aw = ps->ws->auction;
  double chost = mm->clip_dust * mm->clip_chop;
  for (int64_t n = 0; n < aw->n_live; n++) {
    auction *au = &aw->live[n];
    if (!needs_redo(mm, au, ps->t))
      continue;
    double feed = ps->oracle[au->asset];
    au->top = mm->clip_buf * feed;
    au->tic = ps->t;
    *metric_ext(ps, SCH_XM_AUCTION_RESETS) += 1.0;
    pay_gas(ps, ref_gas_cost_usd(ps));
    if (au->tab >= chost && au->lot * feed >= chost)
      pay_keeper(ps, au);
  }
}

/* dog.sol bark(): room = hole - Dirt; the debt barked is
 * min(debt, room / chop); a remainder below dust is barked whole, a bark
 * below dust waits. Each auction opened is a keeper transaction paid
 * tip + chip x tab. */
static void bark(path_state *ps, int32_t a) {
  const sch_market_model *mm = ps->mm;
  struct ref_auction_ws *aw = ps->ws->auction;
  double debt_value = debt_value_of(ps, a);
  double room = mm->clip_hole - aw->dirt;
  if (debt_value <= 0.0 || room <= mm->clip_hole * HOLE_FULL)
    return;
  double f = 1.0;
  if (debt_value * mm->clip_chop > room) {
    f = room / (debt_value * mm->clip_chop);
    if ((1.0 - f) * debt_value < mm->clip_dust)
      f = 1.0;
    else if (f * debt_value < mm->clip_dust)
      return;
  }
  int64_t first = aw->n_live;
  if (open_auctions(ps, a, f, mm->clip_chop, debt_value) == 0)
    return;
  double gas = ref_gas_cost_usd(ps);
  for (int64_t n = first; n < aw->n_live; n++) {
    aw->dirt += aw->live[n].tab;
    pay_gas(ps, gas);
    pay_keeper(ps, &aw->live[n]);
  }
}

static void bark_unsafe(path_state *ps) {
  sch_cascade_ref_ws *ws = ps->ws;
  if (!ps->candidates_valid)
    ref_collect_candidates(ps);
  int64_t n_cand = ws->n_cand;
  for (int64_t c = 0; c < n_cand; c++) {
    if (ps->mm->clip_hole - ws->auction->dirt <= ps->mm->clip_hole * HOLE_FULL)
      break;
    bark(ps, ws->cand[c].account);
  }
}

/* d out / dq of the power venue at q units more:
 * M (1 - fee) [(1 - eta s^alpha) - eta alpha (V / D) s^(alpha - 1)],
 * V = q M, s = (U + V) / D; 0 where the proceeds are clamped at 0. */
static double power_marginal(const path_state *ps, int i, double q) {
  const sch_market_model *mm = ps->mm;
  double m = exp(ps->log_market[i]);
  double depth = mm->venue_depth[i] * ps->depth_scale[i];
  double v = q * m, s = (ps->venue_sold[i] + v) / depth;
  double eta = mm->venue_eta[i], alpha = mm->venue_alpha[i];
  double kept = 1.0 - eta * pow(s, alpha);
  if (kept <= 0.0)
    return 0.0;
  double bend = s > 0.0 ? eta * alpha * (v / depth) * pow(s, alpha - 1.0) : 0.0;
  return m * (1.0 - mm->venue_fee[i]) * (kept - bend);
}

/* The units q in [0, q_max] that maximise out(q) - p q: where the venue's
 * marginal proceeds fall to the auction price p (out is concave).
 * Constant product: out'(q) = y x (1-f) / (x + q (1-f))^2 = p at
 * q* = (sqrt(y x (1-f) / p) - x) / (1-f); power: bisection. */
static double best_take(path_state *ps, int i, double p, double q_max) {
  const sch_market_model *mm = ps->mm;
  if (q_max <= 0.0)
    return 0.0;
  if (mm->stable[i])
    return mm->price0[i] > p ? q_max : 0.0;
  ref_ensure_pool(ps, i);
  double fee = mm->venue_fee[i];
  if (mm->venue_model[i] == SCH_K_VENUE_CP) {
    double x = ps->pool_units[i], y = ps->pool_usd[i];
    double q = (sqrt(y * x * (1.0 - fee) / p) - x) / (1.0 - fee);
    return q > 0.0 ? min_d(q, q_max) : 0.0;
  }
  if (power_marginal(ps, i, 0.0) <= p)
    return 0.0;
  if (power_marginal(ps, i, q_max) >= p)
    return q_max;
  double lo = 0.0, hi = q_max;
  for (int it = 0; it < 200 && hi - lo > WHOLE * hi; it++) {
    double mid = 0.5 * (lo + hi);
    if (power_marginal(ps, i, mid) > p)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

/* clip.sol take(): a partial take may not leave a tab below
 * chost = dust x chop (it is cut to leave exactly chost); with tab <= chost
 * only the whole tab (or the whole lot) can be bought. */
static double apply_dust_rule(const sch_market_model *mm, const auction *au,
                              double p, double q) {
  double chost = mm->clip_dust * mm->clip_chop;
  double owe = q * p;
  if (chost <= 0.0 || owe >= au->tab || q >= au->lot || au->tab - owe >= chost)
    return q;
  if (au->tab > chost)
    return (au->tab - chost) / p;
  return min_d(au->lot, au->tab / p);
}

/* One take at the auction's current price if it profits the liquidator
 * (out - owe - gas > min_profit); true if it happened. */
static bool take(path_state *ps, auction *au) {
  const sch_market_model *mm = ps->mm;
  const int i = au->asset;
  double p = clip_price(mm, au, ps->t);
  if (!(p > 0.0))
    return false;
  double q_max = min_d(au->lot, au->tab / p);
  if (!mm->flash_loans)
    q_max = min_d(q_max, ps->capital_left / p);
  double q = apply_dust_rule(mm, au, p, best_take(ps, i, p, q_max));
  if (!mm->flash_loans)
    q = min_d(q, ps->capital_left / p);
  double gas = ref_gas_cost_usd(ps);
  double out = q > 0.0 ? ref_venue_quote(ps, i, q) : 0.0;
  double owe = q * p;
  double profit = out - owe - gas;
  if (!(q > 0.0))
    return false; /* the venue's marginal proceeds are below the price */
  if (!(profit > mm->min_profit)) {
    ref_mark_skipped(ps, au->account); /* gas or min_profit block the take */
    return false;
  }
  bool whole_lot = q >= au->lot * (1.0 - WHOLE);
  if (whole_lot)
    q = au->lot;
  if (owe >= au->tab * (1.0 - WHOLE))
    owe = au->tab;
  double *mt = ps->metrics;
  mt[SCH_METRIC_SLIPPAGE_COST] += ref_venue_sell(ps, i, q, out);
  mt[SCH_METRIC_LIQUIDATIONS] += 1.0;
  mt[SCH_METRIC_LIQUIDATED_VALUE] += owe;
  mt[SCH_METRIC_GAS_COST] += gas;
  mt[SCH_METRIC_LIQUIDATOR_PROFIT] += profit;
  ps->liquidations_in_step++;
  ps->capital_left -= owe;
  ps->ws->auction->dirt -= owe;
  au->raised += owe;
  au->tab = owe == au->tab ? 0.0 : au->tab - owe;
  au->lot = whole_lot ? 0.0 : au->lot - q;
  if (au->tab <= 0.0 || au->lot <= 0.0)
    end_auction(ps, au);
  return true;
}

static int take_round(path_state *ps) {
  struct ref_auction_ws *aw = ps->ws->auction;
  int done = 0;
  for (int64_t n = 0; n < aw->n_live && ref_capacity_left(ps); n++)
    if (!aw->live[n].done && take(ps, &aw->live[n]))
      done++;
  return done;
}

/* Step part 5 under Clipper: redo stale auctions, then rounds of bark and
 * take while oracles (delay 0) see the post-sale price. */
static void clipper_step(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  ps->liquidations_in_step = 0;
  ps->capital_left = mm->capital;
  redo_stale(ps);
  int productive = 0;
  for (int round = 0; round < mm->max_rounds_per_step; round++) {
    bark_unsafe(ps);
    if (take_round(ps) == 0)
      break;
    productive++;
    if (!oracles_after_sales(ps) || !ref_capacity_left(ps))
      break;
  }
  if (productive > ps->metrics[SCH_METRIC_CASCADE_DEPTH])
    ps->metrics[SCH_METRIC_CASCADE_DEPTH] = productive;
  compact(ps->ws->auction);
}

/* ---- flip -------------------------------------------------------------- */

/* cat.sol bite() + flip.sol kick(): the whole account goes to auction,
 * bid 0, ending tau from now. */
static void kick_unsafe(path_state *ps) {
  sch_cascade_ref_ws *ws = ps->ws;
  if (!ps->candidates_valid)
    ref_collect_candidates(ps);
  int64_t n_cand = ws->n_cand;
  for (int64_t c = 0; c < n_cand; c++) {
    int32_t a = ws->cand[c].account;
    double debt_value = debt_value_of(ps, a);
    if (debt_value <= 0.0)
      continue;
    int64_t first = ws->auction->n_live;
    open_auctions(ps, a, 1.0, ps->mm->flip_chop, debt_value);
    for (int64_t n = first; n < ws->auction->n_live; n++) {
      ws->auction->live[n].tic = -1.0;
      pay_gas(ps, ref_gas_cost_usd(ps));
    }
  }
}

/* flip.sol deal(): the winner pays its bid and sells the lot on the venue. */
static void deal(path_state *ps, auction *au) {
  struct ref_auction_ws *aw = ps->ws->auction;
  double *mt = ps->metrics;
  double out = ref_venue_quote(ps, au->asset, au->lot);
  mt[SCH_METRIC_SLIPPAGE_COST] += ref_venue_sell(ps, au->asset, au->lot, out);
  mt[SCH_METRIC_LIQUIDATIONS] += 1.0;
  mt[SCH_METRIC_LIQUIDATED_VALUE] += au->bid;
  mt[SCH_METRIC_LIQUIDATOR_PROFIT] += out - au->bid;
  pay_gas(ps, ref_gas_cost_usd(ps));
  aw->locked[au->leader] -= au->bid;
  au->raised = au->bid;
  end_auction(ps, au);
}

/* Auctions whose bid expired (tic < now) or whose end passed are dealt;
 * an auction past its end without a bid restarts (flip.sol tick()).
 * Returns true if collateral was sold. */
static bool deal_or_restart(path_state *ps) {
  struct ref_auction_ws *aw = ps->ws->auction;
  bool sold = false;
  for (int64_t n = 0; n < aw->n_live; n++) {
    auction *au = &aw->live[n];
    if (au->leader >= 0 &&
        ((au->tic >= 0.0 && au->tic < ps->t) || au->end < ps->t)) {
      deal(ps, au);
      sold = true;
    } else if (au->leader < 0 && au->end < ps->t) {
      au->end = ps->t + ps->mm->flip_tau_s;
      *metric_ext(ps, SCH_XM_AUCTION_RESETS) += 1.0;
    }
  }
  return sold;
}

/* Capital bidder b can still put into this auction. */
static double free_capital(const path_state *ps, const auction *au, int b) {
  double held = b == au->leader ? au->bid : 0.0;
  return ps->mm->flip_bidder_capital - ps->ws->auction->locked[b] + held;
}

/* The outcome of one step's bidding among identical-valuation bidders:
 * `strength[b]` is how far bidder b would go (a ceiling on its bid in
 * tend, minus a floor on its lot in dent), `need` what a challenger must at
 * least offer; the leader holds `hold` without watching. The winner is the
 * strongest (ties: the leader, then the lower index); it pays the
 * runner-up's strength, at least `need` (a war of minimal raises inside one
 * step ends where the runner-up drops out). Each watching bidder that
 * could bid pays one transaction's gas. Returns the winner, -1 if nobody
 * challenged. */
static int bidding_war(path_state *ps, const auction *au,
                       const double *strength, double hold, double need,
                       double *price) {
  struct ref_auction_ws *aw = ps->ws->auction;
  const int nb = ps->mm->flip_bidders;
  bool challenged = false;
  int best = au->leader;
  double best_s = au->leader >= 0 ? hold : -HUGE_VAL, second = -HUGE_VAL;
  if (au->leader >= 0 && aw->watching[au->leader])
    best_s = max_d(hold, strength[au->leader]);
  for (int b = 0; b < nb; b++) {
    if (!aw->watching[b] || b == au->leader || strength[b] < need)
      continue;
    challenged = true;
    if (strength[b] > best_s) {
      second = best_s;
      best = b;
      best_s = strength[b];
    } else {
      second = max_d(second, strength[b]);
    }
  }
  if (!challenged)
    return -1;
  double gas = ref_gas_cost_usd(ps);
  for (int b = 0; b < nb; b++)
    if (aw->watching[b] && strength[b] >= need)
      pay_gas(ps, gas);
  *price = max_d(need, second);
  return best;
}

/* Give the standing bid to `winner` at `bid`, moving the locked capital. */
static void lead(path_state *ps, auction *au, int winner, double bid) {
  struct ref_auction_ws *aw = ps->ws->auction;
  if (au->leader >= 0)
    aw->locked[au->leader] -= au->bid;
  aw->locked[winner] += bid;
  au->leader = winner;
  au->bid = bid;
  au->tic = ps->t + ps->mm->flip_ttl_s;
}

/* flip.sol tend(): bids in USD for the whole lot, each at least
 * (1 + beg) x the last (the first at least min_bid), at most the tab. A
 * bidder goes as high as min(tab, free capital, V - 2 gas - min_profit),
 * V the lot's venue value now (gas of the bid and of the deal). */
static void tend(path_state *ps, auction *au) {
  const sch_market_model *mm = ps->mm;
  double strength[SCH_K_MAX_BIDDERS];
  double value = ref_venue_quote(ps, au->asset, au->lot);
  double reserve = value - 2.0 * ref_gas_cost_usd(ps) - mm->min_profit;
  for (int b = 0; b < mm->flip_bidders; b++)
    strength[b] = min_d(au->tab, min_d(free_capital(ps, au, b), reserve));
  double need =
      au->leader < 0 ? mm->flip_min_bid : (1.0 + mm->flip_beg) * au->bid;
  need = min_d(need, au->tab);
  double price;
  int winner = bidding_war(ps, au, strength, au->bid, need, &price);
  if (winner < 0 || price <= au->bid)
    return;
  lead(ps, au, winner, min_d(price, au->tab));
  if (au->bid >= au->tab * (1.0 - WHOLE)) {
    au->bid = au->tab;
    au->dent = true;
  }
}

/* Smallest lot whose venue value is at least `need` USD, +inf if even the
 * whole lot is worth less (constant product: l = R x / ((1-f)(y - R))). */
static double lot_worth(path_state *ps, int i, double need, double lot) {
  const sch_market_model *mm = ps->mm;
  if (ref_venue_quote(ps, i, lot) < need)
    return HUGE_VAL;
  if (need <= 0.0)
    return 0.0;
  if (mm->stable[i])
    return need / mm->price0[i];
  if (mm->venue_model[i] == SCH_K_VENUE_CP) {
    double x = ps->pool_units[i], y = ps->pool_usd[i];
    return min_d(lot, need * x / ((1.0 - mm->venue_fee[i]) * (y - need)));
  }
  double lo = 0.0, hi = lot;
  for (int it = 0; it < 200 && hi - lo > WHOLE * hi; it++) {
    double mid = 0.5 * (lo + hi);
    if (ref_venue_quote(ps, i, mid) >= need)
      hi = mid;
    else
      lo = mid;
  }
  return hi;
}

/* flip.sol dent(): the bid stays at the tab and bidders offer to take less
 * collateral, each lot at most the last / (1 + beg); the lot given up goes
 * back to the owner. A bidder goes down to the smallest lot worth
 * tab + 2 gas + min_profit on the venue, if it has the tab in capital. */
static void dent(path_state *ps, auction *au) {
  const sch_market_model *mm = ps->mm;
  double strength[SCH_K_MAX_BIDDERS];
  double cost = au->tab + 2.0 * ref_gas_cost_usd(ps) + mm->min_profit;
  double floor_lot = lot_worth(ps, au->asset, cost, au->lot);
  for (int b = 0; b < mm->flip_bidders; b++)
    strength[b] = free_capital(ps, au, b) >= au->tab ? -floor_lot : -HUGE_VAL;
  double most = au->lot / (1.0 + mm->flip_beg);
  double price;
  int winner = bidding_war(ps, au, strength, -au->lot, -most, &price);
  if (winner < 0 || -price >= au->lot)
    return;
  lead(ps, au, winner, au->tab);
  au->lot = -price;
}

/* Step part 5 under flip: deals and restarts, kicks, then this step's
 * watching bidders bid on every open auction in kick order. */
static void flip_step(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_auction_ws *aw = ps->ws->auction;
  if (deal_or_restart(ps))
    oracles_after_sales(ps);
  compact(aw);
  kick_unsafe(ps);
  if (aw->n_live == 0)
    return;
  for (int b = 0; b < mm->flip_bidders; b++)
    aw->watching[b] = sch_uniform_open(&aw->rng) < mm->flip_participation;
  for (int64_t n = 0; n < aw->n_live; n++) {
    auction *au = &aw->live[n];
    bool open = (au->tic < 0.0 || au->tic > ps->t) && au->end > ps->t;
    if (!open)
      continue;
    if (!au->dent)
      tend(ps, au);
    if (au->dent)
      dent(ps, au);
  }
}

void ref_auction_step(path_state *ps) {
  if (!ps->ws->auction)
    return;
  if (ps->mm->liquidation_mode == SCH_K_LIQ_CLIPPER)
    clipper_step(ps);
  else
    flip_step(ps);
}

/* At the horizon an open auction's debt not yet recovered, less its
 * collateral at the market price, is underwater debt (the account's own
 * amounts were moved into the auction, so nothing is counted twice). */
void ref_auction_finish_path(path_state *ps) {
  struct ref_auction_ws *aw = ps->ws->auction;
  if (!aw)
    return;
  double horizon = (double)ps->mm->n_steps * ps->mm->dt_s;
  double *longest = metric_ext(ps, SCH_XM_AUCTION_DURATION);
  for (int64_t n = 0; n < aw->n_live; n++) {
    const auction *au = &aw->live[n];
    if (au->done)
      continue;
    double gap = au->due - au->raised - au->lot * market_price(ps, au->asset);
    if (gap > 0.0)
      ps->metrics[SCH_METRIC_UNDERWATER_DEBT] += gap;
    *longest = max_d(*longest, horizon - au->kicked);
  }
}
