#include "cascade_ref.h"

/* Protocol defences (docs/model.md "Circuit breaker", "Volatility bands"):
 * a circuit breaker that pauses liquidations (or everything) for a cooldown
 * when a watched oracle moves by X within a trailing window, and liquidation
 * thresholds that step down while an asset's trailing realised volatility
 * is above configured bands. Neither draws random numbers.
 * Hooks of the reference cascade: see kernels/cascade_ref.h. */

#include <math.h>
#include <stdlib.h>

/* A window extreme: a monotone deque of (step, price) in a ring of
 * capacity window + 1, so each step costs O(1) amortised (the gas window of
 * kernels/cascade_ref.c does the same over a whole-path history). */
typedef struct extreme_deque {
  int64_t *step;
  double *price;
  int64_t head, count, cap;
} extreme_deque;

/* Squared log returns of one asset over the volatility window (a ring). */
typedef struct vol_ring {
  double *sq;
  int64_t next;    /* slot of the oldest return, written next */
  double sum;      /* sum of the ring */
  double log_prev; /* ln M at the start of the previous step */
  int band;        /* band in force, -1: the listing's LT */
  int64_t changed; /* step of the last LT change */
} vol_ring;

struct ref_defence_ws {
  extreme_deque high[SCH_K_MAX_ASSETS], low[SCH_K_MAX_ASSETS];
  int64_t paused_until; /* first step not paused; <= k: not paused */
  vol_ring vol[SCH_K_MAX_ASSETS];
};

/* ---- scratch ------------------------------------------------------------ */

static bool deque_alloc(extreme_deque *d, int64_t cap) {
  d->cap = cap;
  d->step = malloc((size_t)cap * sizeof *d->step);
  d->price = malloc((size_t)cap * sizeof *d->price);
  return d->step && d->price;
}

bool ref_defence_ws_create(sch_cascade_ref_ws *ws, const sch_market_model *mm) {
  ws->defence = NULL;
  if (!mm->breaker_on && !mm->vol_bands_on)
    return true;
  struct ref_defence_ws *dw = calloc(1, sizeof *dw);
  if (!dw)
    return false;
  ws->defence = dw;
  for (int i = 0; i < mm->n_assets; i++) {
    if (mm->breaker_on && (mm->breaker_assets >> i & 1u) &&
        (!deque_alloc(&dw->high[i], mm->breaker_window_steps + 1) ||
         !deque_alloc(&dw->low[i], mm->breaker_window_steps + 1)))
      return false;
    if (mm->n_vol_bands[i] > 0 &&
        !(dw->vol[i].sq =
              malloc((size_t)mm->vol_window_steps * sizeof(double))))
      return false;
  }
  return true;
}

void ref_defence_ws_free(sch_cascade_ref_ws *ws) {
  struct ref_defence_ws *dw = ws->defence;
  if (!dw)
    return;
  for (int i = 0; i < SCH_K_MAX_ASSETS; i++) {
    free(dw->high[i].step);
    free(dw->high[i].price);
    free(dw->low[i].step);
    free(dw->low[i].price);
    free(dw->vol[i].sq);
  }
  free(dw);
  ws->defence = NULL;
}

/* ---- circuit breaker ------------------------------------------------------
 * Watched asset i at step k, with O(s) its oracle price after step part 4
 * and W = floor(window / dt):
 *   moved_i(k) = O(k) <= (1 - X) max_{s in [k-W, k]} O(s)
 *             or O(k) >= (1 + X) min_{s in [k-W, k]} O(s),
 * the price is down X from the window's high or up X from its low (a move
 * measured from the earlier price). Steps before 0 repeat O(0). */

static void deque_push(extreme_deque *d, int64_t k, double price,
                       int64_t window, bool keep_high) {
  while (d->count > 0 && d->step[d->head] < k - window) { /* left it */
    d->head = (d->head + 1) % d->cap;
    d->count--;
  }
  while (d->count > 0) { /* drop the tail the new price dominates */
    int64_t tail = (d->head + d->count - 1) % d->cap;
    if (keep_high ? d->price[tail] > price : d->price[tail] < price)
      break;
    d->count--;
  }
  int64_t at = (d->head + d->count) % d->cap; /* count <= window here */
  d->step[at] = k;
  d->price[at] = price;
  d->count++;
}

static double deque_front(const extreme_deque *d) {
  return d->price[d->head];
}

/* Push this step's oracle prices; true if some watched asset moved. */
static bool breaker_condition(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_defence_ws *dw = ps->ws->defence;
  const double x = mm->breaker_move;
  bool moved = false;
  for (int i = 0; i < mm->n_assets; i++) {
    if (!(mm->breaker_assets >> i & 1u))
      continue;
    double o = ps->oracle[i];
    deque_push(&dw->high[i], ps->k, o, mm->breaker_window_steps, true);
    deque_push(&dw->low[i], ps->k, o, mm->breaker_window_steps, false);
    moved |= o <= (1.0 - x) * deque_front(&dw->high[i]) ||
             o >= (1.0 + x) * deque_front(&dw->low[i]);
  }
  return moved;
}

/* A pause runs over steps [trip, trip + cooldown); at its last step + 1 the
 * condition is tested again and, if it still holds, the breaker re-trips
 * (another pause counted) at once. Returns true while paused. */
static bool breaker_step(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_defence_ws *dw = ps->ws->defence;
  bool moved = breaker_condition(ps); /* every step: the deques see all */
  if (ps->k < dw->paused_until)
    return true;
  if (moved) {
    dw->paused_until = ps->k + mm->breaker_cooldown_steps;
    ps->metrics[sch_metric_ext(mm->n_assets, SCH_XM_BREAKER_PAUSES)] += 1.0;
    return true;
  }
  return false;
}

/* ---- volatility bands -----------------------------------------------------
 * sigma_i(k) = sqrt(sum of r(s)^2 over the last W steps / (W dt)) with
 * r(s) = ln M_i(s) - ln M_i(s-1), M at the start of the step (impact of
 * earlier sales included), W = floor(volatility_window / dt), dt in years;
 * returns before t = 0 are 0 (flat history). LT_i = the LT of the highest
 * band with sigma_i > above, else the listing's; a rise waits until
 * vol_hold_steps after the asset's last change (a fall never waits). */

static void vol_push(vol_ring *v, double log_market, int64_t window) {
  double r = log_market - v->log_prev;
  v->log_prev = log_market;
  v->sum += r * r - v->sq[v->next];
  v->sq[v->next] = r * r;
  if (++v->next == window) {
    /* once per window: the exact sum again, so rounding cannot drift */
    v->next = 0;
    double s = 0.0;
    for (int64_t j = 0; j < window; j++)
      s += v->sq[j];
    v->sum = s;
  }
}

static int band_of(const sch_market_model *mm, int i, double sigma) {
  int band = -1;
  for (int b = 0; b < mm->n_vol_bands[i]; b++)
    if (sigma > mm->vol_band_above[i][b])
      band = b;
  return band;
}

/* max_i LT_i(0) / LT_i(now) over listed assets: keeps the candidate bound
 * of ref_collect_candidates sound (HF(now) >= HF(0) x price bound x
 * min_i LT_i(now) / LT_i(0)). */
static void update_bound_scale(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  double scale = 1.0;
  for (int i = 0; i < mm->n_assets; i++)
    if (ps->lt[i] > 0.0)
      scale = max_d(scale, mm->liquidation_threshold[i] / ps->lt[i]);
  ps->lt_bound_scale = scale;
}

static void vol_bands_step(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_defence_ws *dw = ps->ws->defence;
  bool changed = false;
  for (int i = 0; i < mm->n_assets; i++) {
    if (mm->n_vol_bands[i] == 0)
      continue;
    vol_ring *v = &dw->vol[i];
    vol_push(v, ps->log_market_start[i], mm->vol_window_steps);
    double sigma = sqrt(max_d(0.0, v->sum) / mm->vol_window_years);
    int band = band_of(mm, i, sigma);
    if (band == v->band ||
        (band < v->band && ps->k - v->changed < mm->vol_hold_steps))
      continue; /* unchanged, or a rise still held back */
    v->band = band;
    v->changed = ps->k;
    ps->lt[i] =
        band < 0 ? mm->liquidation_threshold[i] : mm->vol_band_lt[i][band];
    ps->metrics[sch_metric_ext(mm->n_assets, SCH_XM_THRESHOLD_CHANGES)] += 1.0;
    changed = true;
  }
  if (!changed)
    return;
  update_bound_scale(ps);
  ps->candidates_valid = false;
}

/* ---- hooks -------------------------------------------------------------- */

void ref_defence_init_path(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  struct ref_defence_ws *dw = ps->ws->defence;
  if (!dw)
    return;
  dw->paused_until = 0;
  for (int i = 0; i < mm->n_assets; i++) {
    dw->high[i].head = dw->high[i].count = 0;
    dw->low[i].head = dw->low[i].count = 0;
    if (mm->breaker_on && (mm->breaker_assets >> i & 1u)) {
      deque_push(&dw->high[i], 0, ps->oracle[i], mm->breaker_window_steps,
                 true);
      deque_push(&dw->low[i], 0, ps->oracle[i], mm->breaker_window_steps,
                 false);
    }
    vol_ring *v = &dw->vol[i];
    v->next = 0;
    v->sum = 0.0;
    v->band = -1;
    v->changed = 0;
    v->log_prev = ps->log_market_start[i];
    for (int64_t j = 0; v->sq && j < mm->vol_window_steps; j++)
      v->sq[j] = 0.0;
  }
}

/* After step part 4: thresholds first (they change who is liquidatable),
 * then the breaker. Returns false while liquidations are paused. */
bool ref_defence_step(path_state *ps) {
  const sch_market_model *mm = ps->mm;
  if (!ps->ws->defence)
    return true;
  if (mm->vol_bands_on)
    vol_bands_step(ps);
  if (!mm->breaker_on)
    return true;
  bool paused = breaker_step(ps);
  ps->paused_all = paused && mm->breaker_all;
  return !paused;
}

void ref_defence_finish_path(path_state *ps) {
  (void)ps;
}
