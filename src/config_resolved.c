/* The resolved configuration as YAML: every key, defaults included, numbers
 * printed so that they parse back to the same double (stored in HDF5). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

typedef struct text_buf {
  char *data;
  size_t len, cap;
  bool failed; /* out of memory: later appends are ignored */
} text_buf;

static void put(text_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(text_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (b->failed || n < 0)
    return;
  if (b->len + (size_t)n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + (size_t)n + 1)
      cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
      b->failed = true;
      return;
    }
    b->data = data;
    b->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static const char *num(double v, char buf[32]) {
  return cfg_format_number(v, buf);
}

/* Plain if that cannot be misread as YAML syntax, else double-quoted. */
static void put_string(text_buf *b, const char *s) {
  static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
                             "XYZ0123456789_./-";
  if (s[0] && s[0] != '-' && strspn(s, safe) == strlen(s)) {
    put(b, "%s", s);
    return;
  }
  put(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      put(b, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      put(b, "\\x%02x", c);
    else
      put(b, "%c", c);
  }
  put(b, "\"");
}

static const char *boolean(bool v) {
  return v ? "true" : "false";
}

static void put_jumps(text_buf *b, const sch_jump_spec *j) {
  char r[32], m[32], s[32];
  put(b, "{rate: %s, mean: %s, stdev: %s}\n", num(j->rate, r), num(j->mean, m),
      num(j->stdev, s));
}

static void put_simulation(text_buf *b, const sch_simulation_spec *sim) {
  char h[32], st[32], d[32];
  put(b, "simulation:\n  paths: %" PRId64 "\n", sim->paths);
  put(b, "  horizon: %ss\n  step: %ss\n", num(sim->horizon_s, h),
      num(sim->step_s, st));
  put(b, "  seed: %" PRIu64 "\n", sim->seed);
  put(b, "  returns: %s\n  dof: %s\n",
      sim->returns == SCH_RETURNS_STUDENT_T ? "student_t" : "gaussian",
      num(sim->dof, d));
  if (sim->replay_file[0]) {
    put(b, "  replay: {file: ");
    put_string(b, sim->replay_file);
    put(b, "}\n");
  }
}

/* Written only when there are shocks: configs without keep their text. */
static void put_stress(text_buf *b, const sch_config *cfg) {
  char t[32], d[32];
  if (cfg->n_stress == 0)
    return;
  put(b, "stress:\n");
  for (int j = 0; j < cfg->n_stress; j++) {
    const sch_stress_spec *s = &cfg->stress[j];
    put(b, "  - {asset: ");
    put_string(b, cfg->assets[s->asset].name);
    put(b, ", time: %ss, drop: %s}\n", num(s->time_s, t), num(s->drop, d));
  }
}

static void put_assets(text_buf *b, const sch_config *cfg) {
  char p[32], v[32], d[32], beta[32];
  put(b, "assets:\n");
  for (int i = 0; i < cfg->n_assets; i++) {
    const sch_asset_spec *a = &cfg->assets[i];
    put(b, "  - name: ");
    put_string(b, a->name);
    put(b, "\n    price: %s\n    vol: %s\n    drift: %s\n    jumps: ",
        num(a->price, p), num(a->vol, v), num(a->drift, d));
    put_jumps(b, &a->jumps);
    put(b, "    jump_beta: %s\n", num(a->jump_beta, beta));
    if (a->receipt_of >= 0 && a->receipt_of < cfg->n_protocols) {
      put(b, "    receipt_of: ");
      put_string(b, cfg->protocol_names[a->receipt_of]);
      put(b, "\n");
    }
  }
  put(b, "correlation:\n");
  for (int i = 0; i < cfg->n_assets; i++) {
    put(b, "  - [");
    for (int j = 0; j < cfg->n_assets; j++)
      put(b, "%s%s", j ? ", " : "", num(cfg->correlation[i][j], p));
    put(b, "]\n");
  }
  put(b, "systemic_jumps: ");
  put_jumps(b, &cfg->systemic_jumps);
}

static void put_venue(text_buf *b, const sch_venue_spec *v) {
  char x[32];
  bool power = v->model == SCH_VENUE_POWER;
  put(b, "{model: %s, depth: %s", power ? "power" : "constant_product",
      num(v->depth, x));
  put(b, ", fee: %s", num(v->fee, x));
  if (power) {
    put(b, ", eta: %s", num(v->eta, x));
    put(b, ", alpha: %s", num(v->alpha, x));
  }
  put(b, ", market_depth: %s", num(v->market_depth, x));
  put(b, ", recovery_half_life: %ss}\n", num(v->recovery_half_life_s, x));
}

static void put_market(text_buf *b, const sch_config *cfg) {
  char x[32], y[32], z[32];
  bool any = false;
  for (int i = 0; i < cfg->n_assets; i++)
    any |= !cfg->assets[i].stable;
  put(b, any ? "venues:\n" : "venues: {}\n");
  for (int i = 0; i < cfg->n_assets; i++)
    if (!cfg->assets[i].stable) {
      put(b, "  ");
      put_string(b, cfg->assets[i].name);
      put(b, ": ");
      put_venue(b, &cfg->venues[i]);
    }
  put(b, any ? "oracles:\n" : "oracles: {}\n");
  for (int i = 0; i < cfg->n_assets; i++)
    if (!cfg->assets[i].stable) {
      const sch_oracle_spec *o = &cfg->oracles[i];
      put(b, "  ");
      put_string(b, cfg->assets[i].name);
      put(b, ": {deviation: %s, heartbeat: %ss, delay: %ss}\n",
          num(o->deviation, x), num(o->heartbeat_s, y), num(o->delay_s, z));
    }
}

/* Maker auction terms, written whatever the mode (one line each). */
static void put_clipper(text_buf *b, const sch_clipper_spec *c) {
  char v[12][32];
  put(b,
      "  clipper: {buf: %s, abacus: %s, tau: %ss, cut: %s, step: %ss, "
      "tail: %ss, cusp: %s, chop: %s, tip: %s, chip: %s, hole: %s, "
      "dust: %s}\n",
      num(c->buf, v[0]),
      c->abacus == SCH_ABACUS_LINEAR ? "linear" : "stairstep",
      num(c->tau_s, v[1]), num(c->cut, v[2]), num(c->step_s, v[3]),
      num(c->tail_s, v[4]), num(c->cusp, v[5]), num(c->chop, v[6]),
      num(c->tip, v[7]), num(c->chip, v[8]), num(c->hole, v[9]),
      num(c->dust, v[10]));
}

static void put_flip(text_buf *b, const sch_flip_spec *f) {
  char v[8][32];
  put(b,
      "  flip: {beg: %s, ttl: %ss, tau: %ss, chop: %s, bidders: %" PRId64
      ", bidder_capital: %s, participation: %s, min_bid: %s}\n",
      num(f->beg, v[0]), num(f->ttl_s, v[1]), num(f->tau_s, v[2]),
      num(f->chop, v[3]), f->bidders, num(f->bidder_capital, v[4]),
      num(f->participation, v[5]), num(f->min_bid, v[6]));
}

/* `, volatility_bands: [...]` inside a listing's flow mapping, if any. */
static void put_volatility_bands(text_buf *b, const sch_protocol_spec *p,
                                 int i) {
  char x[32], y[32];
  if (p->n_volatility_bands[i] == 0)
    return;
  put(b, ", volatility_bands: [");
  for (int k = 0; k < p->n_volatility_bands[i]; k++)
    put(b, "%s{above: %s, liquidation_threshold: %s}", k ? ", " : "",
        num(p->volatility_bands[i][k].above, x),
        num(p->volatility_bands[i][k].liquidation_threshold, y));
  put(b, "]");
}

/* Only with some band: a world without bands keeps its /config text. */
static void put_volatility_window(text_buf *b, const sch_config *cfg) {
  char x[32], y[32];
  bool any = false;
  for (int i = 0; i < cfg->n_assets; i++)
    any |= cfg->protocol.n_volatility_bands[i] > 0;
  if (any)
    put(b, "  volatility_window: %ss\n  volatility_hold: %ss\n",
        num(cfg->protocol.volatility_window_s, x),
        num(cfg->protocol.volatility_hold_s, y));
}

/* `circuit_breaker:` only when given, with every key. */
static void put_circuit_breaker(text_buf *b, const sch_config *cfg) {
  const sch_circuit_breaker_spec *c = &cfg->circuit_breaker;
  char v[3][32];
  if (!c->present)
    return;
  put(b,
      "circuit_breaker:\n  enabled: %s\n  move: %s\n  window: %ss\n"
      "  cooldown: %ss\n  scope: %s\n",
      boolean(c->enabled), num(c->move, v[0]), num(c->window_s, v[1]),
      num(c->cooldown_s, v[2]),
      c->scope == SCH_BREAKER_ALL ? "all" : "liquidations");
  if (c->asset_mask == 0)
    return;
  put(b, "  assets: [");
  for (int i = 0, n = 0; i < cfg->n_assets; i++)
    if (c->asset_mask & (1u << i)) {
      put(b, "%s", n++ ? ", " : "");
      put_string(b, cfg->assets[i].name);
    }
  put(b, "]\n");
}

/* Compound v3 terms: liquidation_factor as one number when every listed
 * asset has the same, else one entry per listed asset. */
static void put_absorb(text_buf *b, const sch_config *cfg) {
  const sch_absorb_spec *a = &cfg->protocol.absorb;
  char v[4][32];
  bool same = true;
  int first = -1;
  for (int i = 0; i < cfg->n_assets; i++)
    if (cfg->protocol.assets[i].listed) {
      if (first < 0)
        first = i;
      same &= a->liquidation_factor[i] == a->liquidation_factor[first];
    }
  put(b, "  absorb:\n    liquidation_factor: ");
  if (same) {
    put(b, "%s\n", num(a->liquidation_factor[first < 0 ? 0 : first], v[0]));
  } else {
    put(b, "{");
    for (int i = 0, n = 0; i < cfg->n_assets; i++)
      if (cfg->protocol.assets[i].listed) {
        put(b, "%s", n++ ? ", " : "");
        put_string(b, cfg->assets[i].name);
        put(b, ": %s", num(a->liquidation_factor[i], v[0]));
      }
    put(b, "}\n");
  }
  put(b,
      "    store_front_price_factor: %s\n    target_reserves: %s\n"
      "    reserves: %s\n",
      num(a->store_front_price_factor, v[1]), num(a->target_reserves, v[2]),
      num(a->reserves, v[3]));
}

static void put_dynamic_incentive(text_buf *b,
                                  const sch_dynamic_incentive_spec *d) {
  char v[4][32];
  put(b,
      "  dynamic_incentive: {depth_exponent: %s, distress_multiplier: %s, "
      "min_bonus: %s, max_bonus: %s}\n",
      num(d->depth_exponent, v[0]), num(d->distress_multiplier, v[1]),
      num(d->min_bonus, v[2]), num(d->max_bonus, v[3]));
}

static void put_protocol(text_buf *b, const sch_config *cfg) {
  const sch_protocol_spec *p = &cfg->protocol;
  char x[32], y[32];
  bool any = false;
  for (int i = 0; i < cfg->n_assets; i++)
    any |= p->assets[i].listed;
  put(b, "protocol:\n  assets:%s\n", any ? "" : " {}");
  for (int i = 0; i < cfg->n_assets; i++)
    if (p->assets[i].listed) {
      put(b, "    ");
      put_string(b, cfg->assets[i].name);
      put(b, ": {liquidation_threshold: %s, liquidation_bonus: %s",
          num(p->assets[i].liquidation_threshold, x),
          num(p->assets[i].liquidation_bonus, y));
      put_volatility_bands(b, p, i);
      put(b, "}\n");
    }
  put(b, "  close_factor: %s\n", num(p->close_factor, x));
  put(b, "  full_close_below_hf: %s\n", num(p->full_close_below_hf, x));
  put(b, "  insurance_fund: %s\n", num(p->insurance_fund, x));
  put_volatility_window(b, cfg);
  put(b, "  incentive: %s\n",
      p->incentive == SCH_INCENTIVE_MORPHO    ? "morpho"
      : p->incentive == SCH_INCENTIVE_DYNAMIC ? "dynamic"
                                              : "fixed");
  put(b, "  liquidation: %s\n", sch_liquidation_mode_name(p->liquidation));
  put_clipper(b, &p->clipper);
  put_flip(b, &p->flip);
  put_absorb(b, cfg);
  put_dynamic_incentive(b, &p->dynamic_incentive);
}

static void put_liquidators(text_buf *b, const sch_config *cfg) {
  const sch_liquidator_spec *l = &cfg->liquidators;
  char x[32];
  put(b, "liquidators:\n  enabled: %s\n", boolean(l->enabled));
  put(b, "  gas_units: %s\n", num(l->gas_units, x));
  put(b, "  gas_price_gwei: %s\n", num(l->gas_price_gwei, x));
  put(b, "  gas_beta: %s\n", num(l->gas_beta, x));
  put(b, "  gas_price_max_gwei: %s\n", num(l->gas_price_max_gwei, x));
  put(b, "  gas_window: %ss\n  gas_asset: ", num(l->gas_window_s, x));
  put_string(b, cfg->assets[l->gas_asset].name);
  put(b, "\n  max_liquidations_per_step: %" PRId64 "\n",
      l->max_liquidations_per_step);
  put(b, "  max_rounds_per_step: %d\n", l->max_rounds_per_step);
  put(b, "  capital: %s\n", num(l->capital, x));
  put(b, "  flash_loans: %s\n", boolean(l->flash_loans));
  put(b, "  min_profit: %s\n", num(l->min_profit, x));
  put(b, "  mev_share: %s\n", num(l->mev_share, x));
  put(b, "  latency: %ss\n", num(l->latency_s, x));
}

static void put_backstop(text_buf *b, const sch_backstop_spec *s) {
  char v[3][32];
  put(b,
      "backstop:\n  enabled: %s\n  capital: %s\n  discount: %s\n"
      "  refill: %s\n",
      boolean(s->enabled), num(s->capital, v[0]), num(s->discount, v[1]),
      num(s->refill_per_day, v[2]));
}

static void put_mix(text_buf *b, const sch_config *cfg, const sch_book_mix *m) {
  char x[32];
  bool first = true;
  put(b, "      - {collateral: [");
  for (int a = 0; a < cfg->n_assets; a++)
    if (m->collateral_mask & (1u << a)) {
      put(b, "%s", first ? "" : ", ");
      put_string(b, cfg->assets[a].name);
      first = false;
    }
  put(b, "], debt: ");
  put_string(b, cfg->assets[m->debt].name);
  put(b, ", weight: %s}\n", num(m->weight, x));
}

static void put_loanbook(text_buf *b, const sch_config *cfg) {
  const sch_loanbook_spec *l = &cfg->loanbook;
  char w[32], x[32], y[32], z[32];
  put(b, "loanbook:\n");
  if (!l->generate) {
    put(b, "  file: ");
    put_string(b, l->file);
    put(b, "\n");
    return;
  }
  put(b, "  generate:\n    accounts: %" PRId64 "\n", l->accounts);
  put(b, "    total_debt: %s\n", num(l->total_debt, x));
  put(b, "    size_sigma: %s\n", num(l->size_sigma, x));
  put(b, "    health: {min: %s, max: %s, median: %s, sigma: %s}\n",
      num(l->hf_min, w), num(l->hf_max, x), num(l->hf_median, y),
      num(l->hf_sigma, z));
  put(b, "    seed: %" PRIu64 "\n    mix:\n", l->seed);
  for (int k = 0; k < l->n_mix; k++)
    put_mix(b, cfg, &l->mix[k]);
}

/* `lenders:` only when given (a world without it keeps its /config text). */
static void put_lenders(text_buf *b, const sch_config *cfg) {
  const sch_lenders_spec *l = &cfg->lenders;
  char v[4][32];
  if (!l->present)
    return;
  put(b, "lenders:\n  run: %s\n  exit_cost: %s\n  assets:\n", boolean(l->run),
      num(l->exit_cost, v[0]));
  for (int a = 0; a < cfg->n_assets; a++) {
    if (l->supply_units[a] <= 0.0 && l->utilisation[a] <= 0.0)
      continue;
    put(b, "    ");
    put_string(b, cfg->assets[a].name);
    if (l->utilisation[a] > 0.0)
      put(b, ": {utilisation: %s}\n", num(l->utilisation[a], v[0]));
    else
      put(b, ": {supply: %s}\n", num(l->supply_units[a], v[0]));
  }
  put(b, "  cohorts:%s\n", l->n_cohorts ? "" : " []");
  for (int k = 0; k < l->n_cohorts; k++) {
    const sch_cohort_spec *c = &l->cohorts[k];
    put(b, "    - {share: %s, threshold: %s, noise: %s, withdraw: %s}\n",
        num(c->share, v[0]),
        c->threshold_auto ? "auto" : num(c->threshold, v[1]),
        num(c->noise, v[2]), num(c->withdraw, v[3]));
  }
}

/* `liquidity_flight:` only when given; every risky asset's terms. */
static void put_liquidity_flight(text_buf *b, const sch_config *cfg) {
  const sch_flight_spec *fl = &cfg->liquidity_flight;
  char v[6][32];
  if (!fl->present)
    return;
  put(b, "liquidity_flight:\n  enabled: %s\n  assets:\n", boolean(fl->enabled));
  for (int a = 0; a < cfg->n_assets; a++) {
    const sch_flight_asset *f = &fl->assets[a];
    if (cfg->assets[a].stable)
      continue;
    put(b, "    ");
    put_string(b, cfg->assets[a].name);
    put(b,
        ": {sensitivity_drawdown: %s, sensitivity_vol: %s, vol_ref: %s, "
        "floor: %s, half_life: %ss, vol_window: %ss}\n",
        num(f->sensitivity_drawdown, v[0]), num(f->sensitivity_vol, v[1]),
        num(f->vol_ref, v[2]), num(f->floor, v[3]), num(f->half_life_s, v[4]),
        num(f->vol_window_s, v[5]));
  }
}

static void put_output(text_buf *b, const sch_output_spec *o) {
  char x[32];
  put(b, "output:\n  file: ");
  put_string(b, o->file);
  put(b, "\n  per_path: %s\n  levels: [", boolean(o->per_path));
  for (int i = 0; i < o->n_levels; i++)
    put(b, "%s%s", i ? ", " : "", num(o->levels[i], x));
  put(b, "]\n  samples: %d\n", o->samples);
}

sch_status cfg_write_resolved(sch_config *cfg, sch_error *err) {
  text_buf b = {0};
  put(&b, "# schelling resolved configuration: every key, defaults "
          "included; durations in seconds\n");
  put_simulation(&b, &cfg->simulation);
  put_assets(&b, cfg);
  put_market(&b, cfg);
  put_stress(&b, cfg);
  put_protocol(&b, cfg);
  put_liquidators(&b, cfg);
  put_backstop(&b, &cfg->backstop);
  put_circuit_breaker(&b, cfg);
  put_loanbook(&b, cfg);
  put_lenders(&b, cfg);
  put_liquidity_flight(&b, cfg);
  put_output(&b, &cfg->output);
  if (b.failed) {
    free(b.data);
    return sch_fail(err, SCH_ERR_RUNTIME, "configuration: out of memory");
  }
  cfg->resolved_yaml = b.data;
  return SCH_OK;
}
