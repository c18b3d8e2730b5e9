/* Section readers: each key's type, default and range (docs/config.md). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"
#include "rng.h"

#define TRY(expr)                                                              \
  do {                                                                         \
    sch_status try_status_ = (expr);                                           \
    if (try_status_ != SCH_OK)                                                 \
      return try_status_;                                                      \
  } while (0)

/* ----------------------------------------------------------- simulation */

static sch_status read_returns(cfg_ctx *ctx, const cfg_section *s) {
  sch_simulation_spec *sim = &ctx->cfg->simulation;
  char returns[32];
  TRY(cfg_string(s, "returns", "gaussian", returns, sizeof returns));
  if (strcmp(returns, "gaussian") == 0) {
    sim->returns = SCH_RETURNS_GAUSSIAN;
    return cfg_number(s, "dof", DEFAULT(0), NO_LOWER, NO_UPPER, &sim->dof);
  }
  if (strcmp(returns, "student_t") == 0) {
    sim->returns = SCH_RETURNS_STUDENT_T;
    return cfg_number(s, "dof", REQUIRED, ABOVE(2), NO_UPPER, &sim->dof);
  }
  return cfg_fail_at(ctx->err, cfg_lookup(s, "returns"),
                     "simulation.returns must be gaussian or student_t, got "
                     "'%s'",
                     returns);
}

/* T must be a whole number of steps: n = T/dt (DESIGN.md 3). */
static sch_status count_steps(cfg_ctx *ctx, const cfg_section *s) {
  sch_simulation_spec *sim = &ctx->cfg->simulation;
  if (sim->step_s > sim->horizon_s)
    return cfg_fail_at(ctx->err, cfg_lookup(s, "step"),
                       "simulation.step = %gs is longer than "
                       "simulation.horizon = %gs",
                       sim->step_s, sim->horizon_s);
  double steps = sim->horizon_s / sim->step_s;
  if (fabs(steps - round(steps)) > 1e-9 * steps)
    return cfg_fail_at(ctx->err, cfg_lookup(s, "horizon"),
                       "simulation.horizon = %gs is not a whole multiple of "
                       "simulation.step = %gs (%.6g steps)",
                       sim->horizon_s, sim->step_s, steps);
  if (steps > 1e15)
    return cfg_fail_at(ctx->err, cfg_lookup(s, "step"),
                       "simulation: %.6g steps is too many", steps);
  sim->steps = (int64_t)llround(steps);
  return SCH_OK;
}

sch_status cfg_read_simulation(cfg_ctx *ctx) {
  static const char *const keys[] = {"paths",   "horizon", "step",  "seed",
                                     "returns", "dof",     "replay"};
  sch_simulation_spec *sim = &ctx->cfg->simulation;
  cfg_section s;
  TRY(cfg_open(&ctx->top, "simulation", true, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(cfg_integer(&s, "paths", DEFAULT(1000000), ABOVE(0), NO_UPPER,
                  &sim->paths));
  if (sim->paths > SCH_MAX_PATHS)
    return cfg_fail_at(ctx->err, cfg_lookup(&s, "paths"),
                       "simulation.paths = %lld is more than the RNG allows "
                       "(2^30 = %lld paths, kernels/rng.h); split the run "
                       "over seeds",
                       (long long)sim->paths, (long long)SCH_MAX_PATHS);
  TRY(cfg_duration(&s, "horizon", REQUIRED, ABOVE(0), NO_UPPER,
                   &sim->horizon_s));
  TRY(cfg_duration(&s, "step", REQUIRED, ABOVE(0), NO_UPPER, &sim->step_s));
  TRY(count_steps(ctx, &s));
  ctx->step_node = cfg_lookup(&s, "step");
  TRY(cfg_seed(&s, "seed", 42, &sim->seed));
  return read_returns(ctx, &s);
}

/* --------------------------------------------------------------- assets */

static sch_status read_jumps(const cfg_section *parent, const char *key,
                             sch_jump_spec *jumps) {
  static const char *const keys[] = {"rate", "mean", "stdev"};
  cfg_section s;
  TRY(cfg_open(parent, key, false, &s));
  if (!s.map)
    return SCH_OK; /* none: rate 0 */
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(cfg_number(&s, "rate", REQUIRED, AT_LEAST(0), NO_UPPER, &jumps->rate));
  TRY(cfg_number(&s, "mean", DEFAULT(0), NO_LOWER, NO_UPPER, &jumps->mean));
  return cfg_number(&s, "stdev", DEFAULT(0), AT_LEAST(0), NO_UPPER,
                    &jumps->stdev);
}

/* Names appear in CSV headers, metric names and `--set` paths. */
static sch_status check_asset_name(cfg_ctx *ctx, const cfg_node *node,
                                   const char *name, int index) {
  size_t ok = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
                           "YZ0123456789_-.");
  if (ok != strlen(name))
    return cfg_fail_at(ctx->err, node,
                       "asset name '%s' may only use letters, digits, '_', "
                       "'-' and '.'",
                       name);
  for (int i = 0; i < index; i++)
    if (strcmp(ctx->cfg->assets[i].name, name) == 0)
      return cfg_fail_at(ctx->err, node,
                         "duplicate asset name '%s' (also assets[%d])", name,
                         i);
  return SCH_OK;
}

static sch_status read_asset(cfg_ctx *ctx, const cfg_node *item, int index) {
  static const char *const keys[] = {"name",  "price", "vol",
                                     "drift", "jumps", "jump_beta"};
  sch_asset_spec *a = &ctx->cfg->assets[index];
  cfg_section s = {.map = item, .anchor = item, .err = ctx->err};
  char buf[32];
  snprintf(s.name, sizeof s.name, "assets[%d]", index);
  if (item->kind != CFG_MAP)
    return cfg_fail_at(ctx->err, item,
                       "%s must be a mapping {name: ..., "
                       "price: ..., ...}",
                       s.name);
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  const cfg_node *name = cfg_lookup(&s, "name");
  if (!name)
    return cfg_missing(&s, "name");
  snprintf(buf, sizeof buf, "%s.name", s.name);
  TRY(cfg_node_string(ctx->err, name, buf, a->name, sizeof a->name));
  TRY(check_asset_name(ctx, name, a->name, index));
  snprintf(s.name, sizeof s.name, "assets.%s", a->name);
  TRY(cfg_number(&s, "price", REQUIRED, ABOVE(0), NO_UPPER, &a->price));
  TRY(cfg_number(&s, "vol", DEFAULT(0), AT_LEAST(0), NO_UPPER, &a->vol));
  TRY(cfg_number(&s, "drift", DEFAULT(0), NO_LOWER, NO_UPPER, &a->drift));
  TRY(read_jumps(&s, "jumps", &a->jumps));
  TRY(cfg_number(&s, "jump_beta", DEFAULT(1), NO_LOWER, NO_UPPER,
                 &a->jump_beta));
  a->stable = a->vol == 0 && a->jumps.rate == 0;
  a->receipt_of = -1; /* set by config_protocols.c from `receipt_of` */
  ctx->asset_nodes[index] = item;
  return SCH_OK;
}

sch_status cfg_read_assets(cfg_ctx *ctx) {
  const cfg_node *list = cfg_lookup(&ctx->top, "assets");
  if (!list)
    return cfg_missing(&ctx->top, "assets");
  if (list->kind != CFG_LIST || list->n == 0)
    return cfg_fail_at(ctx->err, list,
                       "assets must be a non-empty list of {name, price, "
                       "vol, ...}");
  if (list->n > SCH_MAX_ASSETS)
    return cfg_fail_at(ctx->err, list->items[SCH_MAX_ASSETS],
                       "too many assets: %zu, at most %d", list->n,
                       SCH_MAX_ASSETS);
  for (size_t i = 0; i < list->n; i++)
    TRY(read_asset(ctx, list->items[i], (int)i));
  ctx->cfg->n_assets = (int)list->n;
  return SCH_OK;
}

static int risky_count(const sch_config *cfg) {
  int n = 0;
  for (int i = 0; i < cfg->n_assets; i++)
    n += !cfg->assets[i].stable;
  return n;
}

/* Each path owns 2^34 draws per stream (kernels/rng.h); a step of the
 * diffusion stream takes up to two draws per risky asset plus one. */
sch_status cfg_check_rng_budget(cfg_ctx *ctx) {
  const sch_simulation_spec *sim = &ctx->cfg->simulation;
  int risky = risky_count(ctx->cfg);
  double draws = (double)sim->steps * (risky + 1) * 2;
  if (draws <= ldexp(1, SCH_DRAWS_PER_PATH_LOG2))
    return SCH_OK;
  return cfg_fail_at(ctx->err, ctx->step_node,
                     "simulation: %lld steps x (%d risky assets + 1) x 2 = "
                     "%.6g draws per path exceed the RNG stream of 2^34 per "
                     "path (kernels/rng.h); use a longer step or a shorter "
                     "horizon",
                     (long long)sim->steps, risky, draws);
}

/* ---------------------------------------------------------- correlation */

static sch_status read_row(cfg_ctx *ctx, const cfg_node *row, int i) {
  sch_config *cfg = ctx->cfg;
  char label[64], text[32];
  if (row->kind != CFG_LIST || row->n != (size_t)cfg->n_assets)
    return cfg_fail_at(ctx->err, row,
                       "correlation row %d must be a list of %d numbers (one "
                       "per asset), got %zu",
                       i, cfg->n_assets, row->kind == CFG_LIST ? row->n : 0);
  for (int j = 0; j < cfg->n_assets; j++) {
    snprintf(label, sizeof label, "correlation[%d][%d]", i, j);
    TRY(cfg_node_number(ctx->err, row->items[j], label, false,
                        &cfg->correlation[i][j]));
    TRY(cfg_check_range(ctx->err, row->items[j], label, cfg->correlation[i][j],
                        AT_LEAST(-1), AT_MOST(1)));
    if (i == j && fabs(cfg->correlation[i][j] - 1) > 1e-12)
      return cfg_fail_at(ctx->err, row->items[j],
                         "%s = %s: the diagonal must be 1", label,
                         cfg_format_number(cfg->correlation[i][j], text));
  }
  return SCH_OK;
}

static sch_status check_symmetric(cfg_ctx *ctx, const cfg_node *list) {
  const sch_config *cfg = ctx->cfg;
  for (int i = 0; i < cfg->n_assets; i++)
    for (int j = 0; j < i; j++) {
      double upper = cfg->correlation[j][i], lower = cfg->correlation[i][j];
      char a[32], b[32];
      if (fabs(upper - lower) > 1e-12)
        return cfg_fail_at(ctx->err, list->items[i]->items[j],
                           "correlation is not symmetric: correlation[%d][%d]"
                           " = %s but correlation[%d][%d] = %s",
                           j, i, cfg_format_number(upper, a), i, j,
                           cfg_format_number(lower, b));
    }
  return SCH_OK;
}

/* Cholesky of the full matrix; returns the 1-based failing minor, or 0. */
static int failing_minor(const sch_config *cfg, double *pivot) {
  double l[SCH_MAX_ASSETS][SCH_MAX_ASSETS] = {{0}};
  int n = cfg->n_assets;
  for (int j = 0; j < n; j++) {
    double d = cfg->correlation[j][j];
    for (int k = 0; k < j; k++)
      d -= l[j][k] * l[j][k];
    if (!(d > 1e-12)) {
      *pivot = d;
      return j + 1;
    }
    l[j][j] = sqrt(d);
    for (int i = j + 1; i < n; i++) {
      double s = cfg->correlation[i][j];
      for (int k = 0; k < j; k++)
        s -= l[i][k] * l[j][k];
      l[i][j] = s / l[j][j];
    }
  }
  return 0;
}

static sch_status check_positive_definite(cfg_ctx *ctx) {
  const sch_config *cfg = ctx->cfg;
  double pivot = 0;
  int minor = failing_minor(cfg, &pivot);
  if (minor == 0)
    return SCH_OK;
  const char *names[SCH_MAX_ASSETS];
  char list[SCH_MAX_ASSETS * (SCH_NAME_MAX + 2)];
  for (int i = 0; i < minor; i++)
    names[i] = cfg->assets[i].name;
  cfg_join(names, (size_t)minor, list, sizeof list);
  /* the `correlation` key, unless the matrix came from a --set */
  const cfg_node *where = cfg_lookup(&ctx->top, "correlation");
  if (!where->from_override)
    where = cfg_map_key(ctx->top.map, "correlation");
  return cfg_fail_at(ctx->err, where,
                     "correlation is not positive definite: leading minor %d "
                     "(%s) has a non-positive pivot (%.3g)",
                     minor, list, pivot);
}

sch_status cfg_read_correlation(cfg_ctx *ctx) {
  sch_config *cfg = ctx->cfg;
  const cfg_node *list = cfg_lookup(&ctx->top, "correlation");
  for (int i = 0; i < cfg->n_assets; i++)
    cfg->correlation[i][i] = 1;
  if (!list)
    return SCH_OK; /* identity */
  if (list->kind != CFG_LIST || list->n != (size_t)cfg->n_assets)
    return cfg_fail_at(ctx->err, list,
                       "correlation must be a list of %d rows (one per asset,"
                       " in assets order), got %zu",
                       cfg->n_assets, list->kind == CFG_LIST ? list->n : 0);
  for (int i = 0; i < cfg->n_assets; i++)
    TRY(read_row(ctx, list->items[i], i));
  TRY(check_symmetric(ctx, list));
  return check_positive_definite(ctx);
}

/* ------------------------------------------------------ venues, oracles */

/* The asset an entry of venues/oracles/protocol.assets is keyed by. */
static sch_status entry_asset(cfg_ctx *ctx, const cfg_section *s, size_t i,
                              bool risky_only, int *index) {
  const cfg_node *key = s->map->keys[i];
  TRY(cfg_asset_named(ctx, key, s->name, index));
  const sch_asset_spec *a = &ctx->cfg->assets[*index];
  if (risky_only && a->stable)
    return cfg_fail_at(
        ctx->err, key, "%s is stable (vol 0, no jumps): %s; remove this entry",
        a->name,
        strcmp(s->name, "venues") == 0 ? "it is sold at its price"
                                       : "it has a fixed oracle");
  const cfg_node *value = s->map->items[i];
  if (value->kind != CFG_MAP)
    return cfg_fail_at(ctx->err, value, "%s.%s must be a mapping", s->name,
                       a->name);
  return SCH_OK;
}

static sch_status read_venue_model(cfg_ctx *ctx, const cfg_section *v,
                                   sch_venue_spec *venue) {
  static const char *const cp_keys[] = {"model", "depth", "fee", "market_depth",
                                        "recovery_half_life"};
  static const char *const power_keys[] = {"model",
                                           "depth",
                                           "fee",
                                           "eta",
                                           "alpha",
                                           "market_depth",
                                           "recovery_half_life"};
  char model[32];
  TRY(cfg_string(v, "model", REQUIRED, model, sizeof model));
  if (strcmp(model, "constant_product") == 0) {
    venue->model = SCH_VENUE_CONSTANT_PRODUCT;
    return cfg_check_keys(v, cp_keys, COUNT(cp_keys));
  }
  if (strcmp(model, "power") == 0) {
    venue->model = SCH_VENUE_POWER;
    TRY(cfg_check_keys(v, power_keys, COUNT(power_keys)));
    TRY(cfg_number(v, "eta", REQUIRED, AT_LEAST(0), NO_UPPER, &venue->eta));
    return cfg_number(v, "alpha", REQUIRED, ABOVE(0), NO_UPPER, &venue->alpha);
  }
  return cfg_fail_at(ctx->err, cfg_lookup(v, "model"),
                     "%s.model must be constant_product or power, got '%s'",
                     v->name, model);
}

static sch_status read_venue(cfg_ctx *ctx, const cfg_section *v,
                             sch_venue_spec *venue) {
  TRY(read_venue_model(ctx, v, venue));
  TRY(cfg_number(v, "depth", REQUIRED, ABOVE(0), NO_UPPER, &venue->depth));
  TRY(cfg_number(v, "fee", DEFAULT(0), AT_LEAST(0), BELOW(1), &venue->fee));
  TRY(cfg_number(v, "market_depth", REQUIRED, ABOVE(0), NO_UPPER,
                 &venue->market_depth));
  return cfg_duration(v, "recovery_half_life", REQUIRED, ABOVE(0), NO_UPPER,
                      &venue->recovery_half_life_s);
}

static sch_status read_oracle(const cfg_section *o, sch_oracle_spec *oracle) {
  static const char *const keys[] = {"deviation", "heartbeat", "delay"};
  TRY(cfg_check_keys(o, keys, COUNT(keys)));
  TRY(cfg_number(o, "deviation", DEFAULT(0.005), AT_LEAST(0), NO_UPPER,
                 &oracle->deviation));
  TRY(cfg_duration(o, "heartbeat", DEFAULT(3600), ABOVE(0), NO_UPPER,
                   &oracle->heartbeat_s));
  return cfg_duration(o, "delay", DEFAULT(0), AT_LEAST(0), NO_UPPER,
                      &oracle->delay_s);
}

/* venues (is_venue) or oracles: one entry per risky asset, none else. */
static sch_status read_per_risky_asset(cfg_ctx *ctx, const char *section,
                                       bool is_venue) {
  sch_config *cfg = ctx->cfg;
  bool seen[SCH_MAX_ASSETS] = {false};
  cfg_section s, entry;
  TRY(cfg_open(&ctx->top, section, false, &s));
  for (size_t i = 0; s.map && i < s.map->n; i++) {
    int a;
    TRY(entry_asset(ctx, &s, i, true, &a));
    cfg_section_child(&s, cfg->assets[a].name, s.map->items[i], &entry);
    if (is_venue)
      TRY(read_venue(ctx, &entry, &cfg->venues[a]));
    else
      TRY(read_oracle(&entry, &cfg->oracles[a]));
    seen[a] = true;
  }
  for (int a = 0; a < cfg->n_assets; a++)
    if (!cfg->assets[a].stable && !seen[a])
      return cfg_fail_at(ctx->err, ctx->asset_nodes[a],
                         "asset %s is risky (vol %g, jump rate %g/yr) but has "
                         "no entry in %s",
                         cfg->assets[a].name, cfg->assets[a].vol,
                         cfg->assets[a].jumps.rate, section);
  return SCH_OK;
}

sch_status cfg_read_market(cfg_ctx *ctx) {
  TRY(read_jumps(&ctx->top, "systemic_jumps", &ctx->cfg->systemic_jumps));
  TRY(read_per_risky_asset(ctx, "venues", true));
  return read_per_risky_asset(ctx, "oracles", false);
}

/* ------------------------------------------------------------- protocol */

/* Under protocol.incentive: morpho the bonus is derived from the threshold
 * (src/scenario.c), so a listing needs no liquidation_bonus. */
static sch_status read_listing(const cfg_section *e, sch_protocol_asset *p,
                               const char *name, bool bonus_required) {
  static const char *const keys[] = {"liquidation_threshold",
                                     "liquidation_bonus", "volatility_bands"};
  TRY(cfg_check_keys(e, keys, COUNT(keys)));
  TRY(cfg_number(e, "liquidation_threshold", REQUIRED, ABOVE(0), BELOW(1),
                 &p->liquidation_threshold));
  TRY(cfg_number(e, "liquidation_bonus", bonus_required ? REQUIRED : DEFAULT(0),
                 AT_LEAST(0), NO_UPPER, &p->liquidation_bonus));
  p->listed = true;
  double seized = p->liquidation_threshold * (1 + p->liquidation_bonus);
  if (seized >= 1) {
    char where[SCH_ERROR_MAX];
    cfg_where(e->map, where, sizeof where);
    /* A liquidation then lowers the account's health instead of raising
     * it: legal, but almost always a mistake. */
    sch_warn("%s: %s: liquidation_threshold x (1 + liquidation_bonus) = %g "
             ">= 1: liquidating an account makes it less healthy",
             where, name, seized);
  }
  return SCH_OK;
}

static sch_status read_incentive(cfg_ctx *ctx, const cfg_section *s,
                                 sch_protocol_spec *p) {
  char incentive[32];
  TRY(cfg_string(s, "incentive", "fixed", incentive, sizeof incentive));
  if (strcmp(incentive, "fixed") == 0)
    p->incentive = SCH_INCENTIVE_FIXED;
  else if (strcmp(incentive, "morpho") == 0)
    p->incentive = SCH_INCENTIVE_MORPHO;
  else if (strcmp(incentive, "dynamic") == 0)
    p->incentive = SCH_INCENTIVE_DYNAMIC;
  else
    return cfg_fail_at(ctx->err, cfg_lookup(s, "incentive"),
                       "protocol.incentive must be dynamic, fixed or morpho, "
                       "got '%s'",
                       incentive);
  return SCH_OK;
}

static const char *const liquidation_modes[] = {"fixed_bonus", "clipper",
                                                "flip", "absorb"};

static sch_status read_liquidation_mode(cfg_ctx *ctx, const cfg_section *s,
                                        sch_protocol_spec *p) {
  char mode[32];
  TRY(cfg_string(s, "liquidation", "fixed_bonus", mode, sizeof mode));
  for (size_t m = 0; m < COUNT(liquidation_modes); m++)
    if (strcmp(mode, liquidation_modes[m]) == 0) {
      p->liquidation = (sch_liquidation_mode)m;
      return SCH_OK;
    }
  return cfg_fail_at(ctx->err, cfg_lookup(s, "liquidation"),
                     "protocol.liquidation must be fixed_bonus, clipper, flip "
                     "or absorb, got '%s'",
                     mode);
}

const char *sch_liquidation_mode_name(sch_liquidation_mode mode) {
  return (size_t)mode < COUNT(liquidation_modes) ? liquidation_modes[mode]
                                                 : "fixed_bonus";
}

/* protocol.dynamic_incentive (docs/model.md "Dynamic incentive"). Read
 * whatever the incentive, so sweeps may switch it; only the fixed-bonus
 * liquidation uses it. */
static sch_status read_dynamic_incentive(cfg_ctx *ctx,
                                         const cfg_section *protocol) {
  static const char *const keys[] = {"depth_exponent", "distress_multiplier",
                                     "min_bonus", "max_bonus"};
  sch_protocol_spec *p = &ctx->cfg->protocol;
  sch_dynamic_incentive_spec *d = &p->dynamic_incentive;
  cfg_section s;
  TRY(cfg_open(protocol, "dynamic_incentive", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(cfg_number(&s, "depth_exponent", DEFAULT(1), AT_LEAST(0), NO_UPPER,
                 &d->depth_exponent));
  TRY(cfg_number(&s, "distress_multiplier", DEFAULT(1), AT_LEAST(0), NO_UPPER,
                 &d->distress_multiplier));
  TRY(cfg_number(&s, "min_bonus", DEFAULT(0), AT_LEAST(0), NO_UPPER,
                 &d->min_bonus));
  TRY(cfg_number(&s, "max_bonus", DEFAULT(0.2), AT_LEAST(d->min_bonus),
                 NO_UPPER, &d->max_bonus));
  if (p->incentive == SCH_INCENTIVE_DYNAMIC &&
      p->liquidation != SCH_LIQUIDATION_FIXED_BONUS)
    return cfg_fail_at(ctx->err, cfg_lookup(protocol, "incentive"),
                       "protocol.incentive: dynamic needs protocol.liquidation: "
                       "fixed_bonus (got %s)",
                       sch_liquidation_mode_name(p->liquidation));
  return SCH_OK;
}

/* liquidation_factor: one number for every asset, or a mapping with an
 * entry for each listed asset. */
static sch_status read_liquidation_factor(cfg_ctx *ctx, const cfg_section *s,
                                          sch_absorb_spec *a) {
  const cfg_node *node = cfg_lookup(s, "liquidation_factor");
  const sch_protocol_asset *listing = ctx->cfg->protocol.assets;
  double all;
  if (!node || node->kind != CFG_MAP) {
    TRY(cfg_number(s, "liquidation_factor", DEFAULT(0.93), ABOVE(0),
                   AT_MOST(1), &all));
    for (int i = 0; i < SCH_MAX_ASSETS; i++)
      a->liquidation_factor[i] = all;
    return SCH_OK;
  }
  cfg_section f;
  bool seen[SCH_MAX_ASSETS] = {false};
  cfg_section_child(s, "liquidation_factor", node, &f);
  for (size_t k = 0; k < node->n; k++) {
    int i;
    TRY(cfg_asset_named(ctx, node->keys[k], f.name, &i));
    TRY(cfg_node_number(ctx->err, node->items[k], f.name, false, &all));
    TRY(cfg_check_range(ctx->err, node->items[k], f.name, all, ABOVE(0),
                        AT_MOST(1)));
    a->liquidation_factor[i] = all;
    seen[i] = true;
  }
  for (int i = 0; i < ctx->cfg->n_assets; i++)
    if (listing[i].listed && !seen[i])
      return cfg_fail_at(ctx->err, node,
                         "%s has no entry for listed asset %s", f.name,
                         ctx->cfg->assets[i].name);
  return SCH_OK;
}

/* protocol.absorb (docs/model.md "Compound v3 absorb"); defaults are the
 * Comet USDC market's on Ethereum. */
static sch_status read_absorb(cfg_ctx *ctx, const cfg_section *protocol) {
  static const char *const keys[] = {"liquidation_factor",
                                     "store_front_price_factor",
                                     "target_reserves", "reserves"};
  sch_absorb_spec *a = &ctx->cfg->protocol.absorb;
  cfg_section s;
  TRY(cfg_open(protocol, "absorb", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(read_liquidation_factor(ctx, &s, a));
  TRY(cfg_number(&s, "store_front_price_factor", DEFAULT(0.6), AT_LEAST(0),
                 AT_MOST(1), &a->store_front_price_factor));
  TRY(cfg_number(&s, "target_reserves", DEFAULT(20e6), AT_LEAST(0), NO_UPPER,
                 &a->target_reserves));
  return cfg_number(&s, "reserves", DEFAULT(0), NO_LOWER, NO_UPPER,
                    &a->reserves);
}

/* protocol.clipper (docs/model.md "Clipper"); defaults are Maker's ETH-A. */
static sch_status read_clipper(cfg_ctx *ctx, const cfg_section *protocol) {
  static const char *const keys[] = {"buf",  "abacus", "tau",  "cut",
                                     "step", "tail",   "cusp", "chop",
                                     "tip",  "chip",   "hole", "dust"};
  sch_clipper_spec *c = &ctx->cfg->protocol.clipper;
  cfg_section s;
  char abacus[32];
  TRY(cfg_open(protocol, "clipper", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(cfg_number(&s, "buf", DEFAULT(1.2), ABOVE(0), NO_UPPER, &c->buf));
  TRY(cfg_string(&s, "abacus", "stairstep", abacus, sizeof abacus));
  if (strcmp(abacus, "linear") == 0)
    c->abacus = SCH_ABACUS_LINEAR;
  else if (strcmp(abacus, "stairstep") == 0)
    c->abacus = SCH_ABACUS_STAIRSTEP;
  else
    return cfg_fail_at(ctx->err, cfg_lookup(&s, "abacus"),
                       "protocol.clipper.abacus must be linear or stairstep, "
                       "got '%s'",
                       abacus);
  TRY(cfg_duration(&s, "tau", DEFAULT(3600), ABOVE(0), NO_UPPER, &c->tau_s));
  TRY(cfg_number(&s, "cut", DEFAULT(0.99), ABOVE(0), BELOW(1), &c->cut));
  TRY(cfg_duration(&s, "step", DEFAULT(90), ABOVE(0), NO_UPPER, &c->step_s));
  TRY(cfg_duration(&s, "tail", DEFAULT(8400), ABOVE(0), NO_UPPER, &c->tail_s));
  TRY(cfg_number(&s, "cusp", DEFAULT(0.4), AT_LEAST(0), BELOW(1), &c->cusp));
  TRY(cfg_number(&s, "chop", DEFAULT(1.13), AT_LEAST(1), NO_UPPER, &c->chop));
  TRY(cfg_number(&s, "tip", DEFAULT(300), AT_LEAST(0), NO_UPPER, &c->tip));
  TRY(cfg_number(&s, "chip", DEFAULT(0.001), AT_LEAST(0), BELOW(1), &c->chip));
  TRY(cfg_number(&s, "hole", DEFAULT(50e6), ABOVE(0), NO_UPPER, &c->hole));
  return cfg_number(&s, "dust", DEFAULT(0), AT_LEAST(0), NO_UPPER, &c->dust);
}

/* protocol.flip (docs/model.md "Flip"); Maker 1.2 ETH-A auction terms. */
static sch_status read_flip(cfg_ctx *ctx, const cfg_section *protocol) {
  static const char *const keys[] = {
      "beg",           "ttl",    "tau", "chop", "bidders", "bidder_capital",
      "participation", "min_bid"};
  sch_flip_spec *f = &ctx->cfg->protocol.flip;
  cfg_section s;
  TRY(cfg_open(protocol, "flip", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(cfg_number(&s, "beg", DEFAULT(0.03), AT_LEAST(0), NO_UPPER, &f->beg));
  TRY(cfg_duration(&s, "ttl", DEFAULT(600), ABOVE(0), NO_UPPER, &f->ttl_s));
  TRY(cfg_duration(&s, "tau", DEFAULT(21600), ABOVE(0), NO_UPPER, &f->tau_s));
  TRY(cfg_number(&s, "chop", DEFAULT(1.13), AT_LEAST(1), NO_UPPER, &f->chop));
  TRY(cfg_integer(&s, "bidders", DEFAULT(3), AT_LEAST(1), AT_MOST(64),
                  &f->bidders));
  TRY(cfg_number(&s, "bidder_capital", DEFAULT(10e6), ABOVE(0), NO_UPPER,
                 &f->bidder_capital));
  TRY(cfg_number(&s, "participation", DEFAULT(1), AT_LEAST(0), AT_MOST(1),
                 &f->participation));
  return cfg_number(&s, "min_bid", DEFAULT(1), ABOVE(0), NO_UPPER, &f->min_bid);
}

/* protocol.assets.<A>.volatility_bands (docs/model.md "Volatility bands"):
 * `above` strictly ascending, thresholds strictly descending and below the
 * listing's own, so a higher realised volatility never raises the LT. */
static sch_status read_band(cfg_ctx *ctx, const cfg_section *listing,
                            const cfg_node *item, size_t b, double prev_above,
                            double prev_lt, sch_volatility_band *band) {
  static const char *const keys[] = {"above", "liquidation_threshold"};
  cfg_section s = {.map = item, .anchor = item, .err = ctx->err};
  snprintf(s.name, sizeof s.name, "%.100s.volatility_bands[%zu]", listing->name,
           b);
  if (item->kind != CFG_MAP)
    return cfg_fail_at(ctx->err, item,
                       "%s must be a mapping {above, liquidation_threshold}",
                       s.name);
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(cfg_number(&s, "above", REQUIRED, AT_LEAST(0), NO_UPPER, &band->above));
  TRY(cfg_number(&s, "liquidation_threshold", REQUIRED, ABOVE(0), BELOW(1),
                 &band->liquidation_threshold));
  if (b > 0 && !(band->above > prev_above))
    return cfg_fail_at(ctx->err, cfg_lookup(&s, "above"),
                       "%s.above = %g must be above the previous band's %g "
                       "(bands ascend in volatility)",
                       s.name, band->above, prev_above);
  if (!(band->liquidation_threshold < prev_lt))
    return cfg_fail_at(ctx->err, cfg_lookup(&s, "liquidation_threshold"),
                       "%s.liquidation_threshold = %g must be below %g (%s): "
                       "thresholds step down as volatility rises",
                       s.name, band->liquidation_threshold, prev_lt,
                       b ? "the previous band's" : "the listing's");
  return SCH_OK;
}

static sch_status read_volatility_bands(cfg_ctx *ctx, const cfg_section *e,
                                        int a) {
  sch_protocol_spec *p = &ctx->cfg->protocol;
  sch_volatility_band *bands = p->volatility_bands[a];
  const cfg_node *list = cfg_lookup(e, "volatility_bands");
  p->n_volatility_bands[a] = 0;
  if (!list)
    return SCH_OK;
  if (list->kind != CFG_LIST || list->n > SCH_MAX_VOL_BANDS)
    return cfg_fail_at(ctx->err, list,
                       "%s.volatility_bands must be a list of at most %d "
                       "{above, liquidation_threshold}",
                       e->name, SCH_MAX_VOL_BANDS);
  if (list->n > 0 && ctx->cfg->assets[a].stable)
    return cfg_fail_at(ctx->err, list,
                       "%s.volatility_bands: %s is stable (vol 0, no jumps), "
                       "its realised volatility is always 0",
                       e->name, ctx->cfg->assets[a].name);
  for (size_t b = 0; b < list->n; b++) {
    double prev_above = b ? bands[b - 1].above : 0.0;
    double prev_lt = b ? bands[b - 1].liquidation_threshold
                       : p->assets[a].liquidation_threshold;
    TRY(read_band(ctx, e, list->items[b], b, prev_above, prev_lt, &bands[b]));
  }
  p->n_volatility_bands[a] = (int)list->n;
  return SCH_OK;
}

/* protocol.volatility_window: at least one step, so the estimate has at
 * least one return. */
static sch_status read_volatility_window(cfg_ctx *ctx, const cfg_section *s) {
  sch_protocol_spec *p = &ctx->cfg->protocol;
  double step = ctx->cfg->simulation.step_s;
  TRY(cfg_duration(s, "volatility_window", DEFAULT(3600), ABOVE(0), NO_UPPER,
                   &p->volatility_window_s));
  const cfg_node *node = cfg_lookup(s, "volatility_window");
  if (node && p->volatility_window_s < step * (1 - 1e-9))
    return cfg_fail_at(ctx->err, node,
                       "protocol.volatility_window = %gs is shorter than "
                       "simulation.step = %gs: the window holds no return",
                       p->volatility_window_s, step);
  return cfg_duration(s, "volatility_hold", DEFAULT(0), AT_LEAST(0), NO_UPPER,
                      &p->volatility_hold_s);
}

sch_status cfg_read_protocol(cfg_ctx *ctx) {
  static const char *const keys[] = {"assets", "close_factor",
                                     "full_close_below_hf", "insurance_fund",
                                     "volatility_window",
                                     "volatility_hold",
                                     "incentive", "liquidation",
                                     "clipper", "flip", "absorb", "dynamic_incentive"};
  sch_protocol_spec *p = &ctx->cfg->protocol;
  cfg_section s, listings, e;
  TRY(cfg_open(&ctx->top, "protocol", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(read_incentive(ctx, &s, p));
  TRY(read_liquidation_mode(ctx, &s, p));
  TRY(read_clipper(ctx, &s));
  TRY(read_flip(ctx, &s));
  TRY(read_volatility_window(ctx, &s));
  TRY(cfg_open(&s, "assets", false, &listings));
  for (size_t i = 0; listings.map && i < listings.map->n; i++) {
    int a;
    TRY(entry_asset(ctx, &listings, i, false, &a));
    const char *name = ctx->cfg->assets[a].name;
    cfg_section_child(&listings, name, listings.map->items[i], &e);
    TRY(read_listing(&e, &p->assets[a], e.name,
                     p->incentive == SCH_INCENTIVE_FIXED));
    TRY(read_volatility_bands(ctx, &e, a));
  }
  TRY(read_absorb(ctx, &s));
  TRY(read_dynamic_incentive(ctx, &s));
  TRY(cfg_number(&s, "close_factor", DEFAULT(0.5), ABOVE(0), AT_MOST(1),
                 &p->close_factor));
  TRY(cfg_number(&s, "full_close_below_hf", DEFAULT(0.95), AT_LEAST(0),
                 AT_MOST(1), &p->full_close_below_hf));
  return cfg_number(&s, "insurance_fund", DEFAULT(0), AT_LEAST(0), NO_UPPER,
                    &p->insurance_fund);
}

/* ------------------------------------------------------ circuit_breaker */

/* circuit_breaker.assets: risky assets (a stable asset's oracle is fixed);
 * every risky asset when the key is absent. */
static sch_status read_breaker_assets(cfg_ctx *ctx, const cfg_section *s,
                                      sch_circuit_breaker_spec *b) {
  const cfg_node *list = cfg_lookup(s, "assets");
  b->asset_mask = 0;
  if (!list) {
    for (int i = 0; i < ctx->cfg->n_assets; i++)
      if (!ctx->cfg->assets[i].stable)
        b->asset_mask |= 1u << i;
    return SCH_OK;
  }
  if (list->kind != CFG_LIST || list->n == 0)
    return cfg_fail_at(ctx->err, list,
                       "circuit_breaker.assets must be a non-empty list of "
                       "risky asset names");
  for (size_t k = 0; k < list->n; k++) {
    int a;
    TRY(cfg_asset_named(ctx, list->items[k], "circuit_breaker.assets", &a));
    const char *name = ctx->cfg->assets[a].name;
    if (ctx->cfg->assets[a].stable)
      return cfg_fail_at(ctx->err, list->items[k],
                         "circuit_breaker.assets: %s is stable (vol 0, no "
                         "jumps): its oracle never moves",
                         name);
    if (b->asset_mask & (1u << a))
      return cfg_fail_at(ctx->err, list->items[k],
                         "circuit_breaker.assets lists %s twice", name);
    b->asset_mask |= 1u << a;
  }
  return SCH_OK;
}

static sch_status read_breaker_scope(cfg_ctx *ctx, const cfg_section *s,
                                     sch_circuit_breaker_spec *b) {
  char scope[32];
  TRY(cfg_string(s, "scope", "liquidations", scope, sizeof scope));
  if (strcmp(scope, "liquidations") == 0)
    b->scope = SCH_BREAKER_LIQUIDATIONS;
  else if (strcmp(scope, "all") == 0)
    b->scope = SCH_BREAKER_ALL;
  else
    return cfg_fail_at(ctx->err, cfg_lookup(s, "scope"),
                       "circuit_breaker.scope must be liquidations or all, "
                       "got '%s'",
                       scope);
  return SCH_OK;
}

/* circuit_breaker (docs/model.md "Circuit breaker"): on when the section is
 * given, unless `enabled: false`. */
sch_status cfg_read_circuit_breaker(cfg_ctx *ctx) {
  static const char *const keys[] = {"enabled",  "move",  "window",
                                     "cooldown", "scope", "assets"};
  sch_circuit_breaker_spec *b = &ctx->cfg->circuit_breaker;
  double step = ctx->cfg->simulation.step_s;
  cfg_section s;
  TRY(cfg_open(&ctx->top, "circuit_breaker", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  b->present = s.map != NULL;
  TRY(cfg_bool(&s, "enabled", b->present, &b->enabled));
  TRY(cfg_number(&s, "move", DEFAULT(0.1), ABOVE(0), NO_UPPER, &b->move));
  TRY(cfg_duration(&s, "window", DEFAULT(3600), ABOVE(0), NO_UPPER,
                   &b->window_s));
  TRY(cfg_duration(&s, "cooldown", DEFAULT(7200), ABOVE(0), NO_UPPER,
                   &b->cooldown_s));
  TRY(read_breaker_scope(ctx, &s, b));
  TRY(read_breaker_assets(ctx, &s, b));
  if (b->enabled && b->window_s < step * (1 - 1e-9)) {
    const cfg_node *node = cfg_lookup(&s, "window");
    return cfg_fail_at(ctx->err, node ? node : s.map,
                       "circuit_breaker.window = %gs is shorter than "
                       "simulation.step = %gs: the window holds one price",
                       b->window_s, step);
  }
  return SCH_OK;
}

/* ---------------------------------------------------------- liquidators */

static sch_status read_gas_asset(cfg_ctx *ctx, const cfg_section *s) {
  const cfg_node *node = cfg_lookup(s, "gas_asset");
  int *gas = &ctx->cfg->liquidators.gas_asset;
  if (node)
    return cfg_asset_named(ctx, node, "liquidators.gas_asset", gas);
  *gas = 0; /* default: the first risky asset (or the first at all) */
  for (int i = ctx->cfg->n_assets - 1; i >= 0; i--)
    if (!ctx->cfg->assets[i].stable)
      *gas = i;
  return SCH_OK;
}

static sch_status read_gas(cfg_ctx *ctx, const cfg_section *s) {
  sch_liquidator_spec *l = &ctx->cfg->liquidators;
  TRY(cfg_number(s, "gas_units", DEFAULT(500000), AT_LEAST(0), NO_UPPER,
                 &l->gas_units));
  TRY(cfg_number(s, "gas_price_gwei", DEFAULT(30), AT_LEAST(0), NO_UPPER,
                 &l->gas_price_gwei));
  TRY(cfg_number(s, "gas_beta", DEFAULT(5), AT_LEAST(0), NO_UPPER,
                 &l->gas_beta));
  TRY(cfg_number(s, "gas_price_max_gwei", DEFAULT(1000),
                 AT_LEAST(l->gas_price_gwei), NO_UPPER,
                 &l->gas_price_max_gwei));
  TRY(cfg_duration(s, "gas_window", DEFAULT(3600), AT_LEAST(0), NO_UPPER,
                   &l->gas_window_s));
  return read_gas_asset(ctx, s);
}

/* `backstop:` (docs/model.md "Backstop pool"): writing the section switches
 * the pool on unless it says enabled: false. */
static sch_status read_backstop(cfg_ctx *ctx) {
  static const char *const keys[] = {"enabled", "capital", "discount",
                                     "refill"};
  sch_backstop_spec *b = &ctx->cfg->backstop;
  cfg_section s;
  TRY(cfg_open(&ctx->top, "backstop", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(cfg_bool(&s, "enabled", s.map != NULL, &b->enabled));
  TRY(cfg_number(&s, "capital", DEFAULT(0), AT_LEAST(0), NO_UPPER,
                 &b->capital));
  TRY(cfg_number(&s, "discount", DEFAULT(0.05), AT_LEAST(0), BELOW(1),
                 &b->discount));
  return cfg_number(&s, "refill", DEFAULT(0), AT_LEAST(0), NO_UPPER,
                    &b->refill_per_day);
}

sch_status cfg_read_liquidators(cfg_ctx *ctx) {
  static const char *const keys[] = {"enabled",
                                     "gas_units",
                                     "gas_price_gwei",
                                     "gas_beta",
                                     "gas_price_max_gwei",
                                     "gas_window",
                                     "gas_asset",
                                     "max_liquidations_per_step",
                                     "max_rounds_per_step",
                                     "capital",
                                     "flash_loans",
                                     "min_profit",
                                     "mev_share",
                                     "latency"};
  sch_liquidator_spec *l = &ctx->cfg->liquidators;
  cfg_section s;
  int64_t rounds;
  TRY(cfg_open(&ctx->top, "liquidators", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(cfg_bool(&s, "enabled", true, &l->enabled));
  TRY(read_gas(ctx, &s));
  TRY(cfg_integer(&s, "max_liquidations_per_step", DEFAULT(50), AT_LEAST(1),
                  NO_UPPER, &l->max_liquidations_per_step));
  TRY(cfg_integer(&s, "max_rounds_per_step", DEFAULT(8), AT_LEAST(1),
                  AT_MOST(1000000), &rounds));
  l->max_rounds_per_step = (int)rounds;
  TRY(cfg_number(&s, "capital", DEFAULT(20e6), ABOVE(0), NO_UPPER,
                 &l->capital));
  TRY(cfg_bool(&s, "flash_loans", true, &l->flash_loans));
  TRY(cfg_number(&s, "min_profit", DEFAULT(0), NO_LOWER, NO_UPPER,
                 &l->min_profit));
  TRY(cfg_number(&s, "mev_share", DEFAULT(0), AT_LEAST(0), BELOW(1),
                 &l->mev_share));
  TRY(cfg_duration(&s, "latency", DEFAULT(0), AT_LEAST(0), NO_UPPER,
                   &l->latency_s));
  /* the backstop buys from the liquidators: read with them */
  return read_backstop(ctx);
}

/* ------------------------------------------------------------- loanbook */

/* A relative path is relative to the config file's directory; the result is
 * made absolute so that it means the same thing from any working dir. */
sch_status cfg_resolve_path(cfg_ctx *ctx, const cfg_node *node,
                            const char *file, const char *label,
                            char out[SCH_PATH_MAX]) {
  char joined[2 * SCH_PATH_MAX], cwd[SCH_PATH_MAX];
  const char *base = ctx->base_dir;
  if (file[0] == '/' || !base || !base[0] || strcmp(base, ".") == 0)
    snprintf(joined, sizeof joined, "%s", file);
  else
    snprintf(joined, sizeof joined, "%s/%s", base, file);
  int n = (int)strlen(joined);
  if (joined[0] != '/' && getcwd(cwd, sizeof cwd)) {
    char relative[2 * SCH_PATH_MAX];
    memcpy(relative, joined, sizeof relative);
    n = snprintf(joined, sizeof joined, "%s/%s", cwd, relative);
  }
  if (n < 0 || n >= SCH_PATH_MAX)
    return cfg_fail_at(ctx->err, node,
                       "%s: the resolved path is longer than %d characters",
                       label, SCH_PATH_MAX - 1);
  snprintf(out, SCH_PATH_MAX, "%s", joined);
  return SCH_OK;
}

static sch_status read_health(cfg_ctx *ctx, const cfg_section *g) {
  static const char *const keys[] = {"min", "max", "median", "sigma"};
  sch_loanbook_spec *b = &ctx->cfg->loanbook;
  cfg_section h;
  TRY(cfg_open(g, "health", true, &h));
  TRY(cfg_check_keys(&h, keys, COUNT(keys)));
  TRY(cfg_number(&h, "min", REQUIRED, ABOVE(0), NO_UPPER, &b->hf_min));
  TRY(cfg_number(&h, "max", REQUIRED, ABOVE(0), NO_UPPER, &b->hf_max));
  /* HF - 1 is lognormal with median `median - 1` (docs/loanbook.md) */
  TRY(cfg_number(&h, "median", REQUIRED, ABOVE(1), NO_UPPER, &b->hf_median));
  TRY(cfg_number(&h, "sigma", REQUIRED, ABOVE(0), NO_UPPER, &b->hf_sigma));
  if (b->hf_min < b->hf_median && b->hf_median < b->hf_max)
    return SCH_OK;
  return cfg_fail_at(ctx->err, h.map,
                     "loanbook.generate.health needs 0 < min < median < max, "
                     "got min %g, median %g, max %g",
                     b->hf_min, b->hf_median, b->hf_max);
}

static sch_status read_collateral(cfg_ctx *ctx, const cfg_section *m,
                                  sch_book_mix *mix) {
  const cfg_node *list = cfg_lookup(m, "collateral");
  char label[200];
  if (!list)
    return cfg_missing(m, "collateral");
  snprintf(label, sizeof label, "%s.collateral", m->name);
  if (list->kind != CFG_LIST || list->n == 0)
    return cfg_fail_at(ctx->err, list,
                       "%s must be a non-empty list of asset names", label);
  for (size_t i = 0; i < list->n; i++) {
    int a;
    TRY(cfg_asset_named(ctx, list->items[i], label, &a));
    if (mix->collateral_mask & (1u << a))
      return cfg_fail_at(ctx->err, list->items[i], "%s lists %s twice", label,
                         ctx->cfg->assets[a].name);
    mix->collateral_mask |= 1u << a;
  }
  return SCH_OK;
}

static sch_status read_mix_item(cfg_ctx *ctx, const cfg_node *item, int k) {
  static const char *const keys[] = {"collateral", "debt", "weight"};
  sch_book_mix *mix = &ctx->cfg->loanbook.mix[k];
  cfg_section m = {.map = item, .anchor = item, .err = ctx->err};
  char label[200];
  snprintf(m.name, sizeof m.name, "loanbook.generate.mix[%d]", k);
  if (item->kind != CFG_MAP)
    return cfg_fail_at(ctx->err, item,
                       "%s must be a mapping {collateral, debt, weight}",
                       m.name);
  TRY(cfg_check_keys(&m, keys, COUNT(keys)));
  TRY(read_collateral(ctx, &m, mix));
  const cfg_node *debt = cfg_lookup(&m, "debt");
  if (!debt)
    return cfg_missing(&m, "debt");
  snprintf(label, sizeof label, "%s.debt", m.name);
  TRY(cfg_asset_named(ctx, debt, label, &mix->debt));
  if (mix->collateral_mask & (1u << mix->debt))
    return cfg_fail_at(ctx->err, debt,
                       "%s: %s cannot be both debt and collateral", m.name,
                       ctx->cfg->assets[mix->debt].name);
  return cfg_number(&m, "weight", REQUIRED, ABOVE(0), NO_UPPER, &mix->weight);
}

static sch_status read_mix(cfg_ctx *ctx, const cfg_section *g) {
  const cfg_node *list = cfg_lookup(g, "mix");
  if (!list)
    return cfg_missing(g, "mix");
  if (list->kind != CFG_LIST || list->n == 0 || list->n > SCH_MAX_MIX)
    return cfg_fail_at(ctx->err, list,
                       "loanbook.generate.mix must be a list of 1 to %d "
                       "{collateral, debt, weight}",
                       SCH_MAX_MIX);
  for (size_t k = 0; k < list->n; k++)
    TRY(read_mix_item(ctx, list->items[k], (int)k));
  ctx->cfg->loanbook.n_mix = (int)list->n;
  return SCH_OK;
}

static sch_status read_generator(cfg_ctx *ctx, const cfg_section *book) {
  static const char *const keys[] = {"accounts", "total_debt", "size_sigma",
                                     "health",   "seed",       "mix"};
  sch_loanbook_spec *b = &ctx->cfg->loanbook;
  cfg_section g;
  TRY(cfg_open(book, "generate", true, &g));
  TRY(cfg_check_keys(&g, keys, COUNT(keys)));
  b->generate = true;
  TRY(cfg_integer(&g, "accounts", REQUIRED, ABOVE(0), AT_MOST(1e9),
                  &b->accounts));
  TRY(cfg_number(&g, "total_debt", REQUIRED, ABOVE(0), NO_UPPER,
                 &b->total_debt));
  TRY(cfg_number(&g, "size_sigma", REQUIRED, AT_LEAST(0), NO_UPPER,
                 &b->size_sigma));
  TRY(read_health(ctx, &g));
  TRY(cfg_seed(&g, "seed", 1, &b->seed));
  return read_mix(ctx, &g);
}

sch_status cfg_read_loanbook(cfg_ctx *ctx) {
  static const char *const keys[] = {"file", "generate"};
  cfg_section s;
  TRY(cfg_open(&ctx->top, "loanbook", true, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  const cfg_node *file = cfg_lookup(&s, "file");
  const cfg_node *generate = cfg_lookup(&s, "generate");
  if (file && generate)
    return cfg_fail_at(ctx->err, s.map,
                       "loanbook needs exactly one of file: or generate:, "
                       "not both");
  if (generate)
    return read_generator(ctx, &s);
  if (!file)
    return cfg_fail_at(ctx->err, s.map,
                       "loanbook needs one of file: (a CSV loan book) or "
                       "generate: (a generated book)");
  char path[SCH_PATH_MAX];
  TRY(cfg_node_string(ctx->err, file, "loanbook.file", path, sizeof path));
  return cfg_resolve_path(ctx, file, path, "loanbook.file",
                          ctx->cfg->loanbook.file);
}

/* --------------------------------------------------------------- output */

static sch_status read_levels(cfg_ctx *ctx, const cfg_section *s) {
  static const double defaults[] = {0.95, 0.99, 0.999};
  sch_output_spec *out = &ctx->cfg->output;
  const cfg_node *list = cfg_lookup(s, "levels");
  char label[64];
  if (!list) {
    out->n_levels = (int)COUNT(defaults);
    memcpy(out->levels, defaults, sizeof defaults);
    return SCH_OK;
  }
  if (list->kind != CFG_LIST || list->n == 0 || list->n > SCH_MAX_LEVELS)
    return cfg_fail_at(ctx->err, list,
                       "output.levels must be a list of 1 to %d levels in "
                       "(0, 1)",
                       SCH_MAX_LEVELS);
  for (size_t i = 0; i < list->n; i++) {
    snprintf(label, sizeof label, "output.levels[%zu]", i);
    TRY(cfg_node_number(ctx->err, list->items[i], label, false,
                        &out->levels[i]));
    TRY(cfg_check_range(ctx->err, list->items[i], label, out->levels[i],
                        ABOVE(0), BELOW(1)));
    if (i > 0 && out->levels[i] <= out->levels[i - 1])
      return cfg_fail_at(ctx->err, list->items[i],
                         "output.levels must be strictly ascending: %s = %g "
                         "follows %g",
                         label, out->levels[i], out->levels[i - 1]);
  }
  out->n_levels = (int)list->n;
  return SCH_OK;
}

sch_status cfg_read_output(cfg_ctx *ctx) {
  static const char *const keys[] = {"file", "per_path", "levels", "samples"};
  sch_output_spec *out = &ctx->cfg->output;
  cfg_section s;
  int64_t samples;
  TRY(cfg_open(&ctx->top, "output", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(cfg_string(&s, "file", "schelling-out.h5", out->file, sizeof out->file));
  TRY(cfg_bool(&s, "per_path", false, &out->per_path));
  TRY(read_levels(ctx, &s));
  TRY(cfg_integer(&s, "samples", DEFAULT(8), AT_LEAST(0), AT_MOST(1000),
                  &samples));
  out->samples = (int)samples;
  return SCH_OK;
}

/* -------------------------------------- lenders, liquidity flight (issue 7) */

/* `lenders.assets.<asset>`: exactly one of supply (units) or utilisation
 * (the book's borrows / supply at t = 0; src/scenario.c derives supply). */
static sch_status read_lent_asset(cfg_ctx *ctx, const cfg_section *e, int a) {
  static const char *const keys[] = {"supply", "utilisation"};
  sch_lenders_spec *l = &ctx->cfg->lenders;
  TRY(cfg_check_keys(e, keys, COUNT(keys)));
  bool supply = cfg_lookup(e, "supply") != NULL;
  if (supply == (cfg_lookup(e, "utilisation") != NULL))
    return cfg_fail_at(ctx->err, e->map,
                       "%s needs exactly one of supply: (units deposited) or "
                       "utilisation: (borrows / supply at t = 0)",
                       e->name);
  if (supply)
    return cfg_number(e, "supply", REQUIRED, ABOVE(0), NO_UPPER,
                      &l->supply_units[a]);
  return cfg_number(e, "utilisation", REQUIRED, ABOVE(0), AT_MOST(1),
                    &l->utilisation[a]);
}

static sch_status read_cohort(cfg_ctx *ctx, const cfg_node *item, int k) {
  static const char *const keys[] = {"share", "threshold", "noise", "withdraw"};
  sch_cohort_spec *c = &ctx->cfg->lenders.cohorts[k];
  cfg_section m = {.map = item, .anchor = item, .err = ctx->err};
  snprintf(m.name, sizeof m.name, "lenders.cohorts[%d]", k);
  if (item->kind != CFG_MAP)
    return cfg_fail_at(ctx->err, item,
                       "%s must be a mapping {share, threshold, noise, "
                       "withdraw}",
                       m.name);
  TRY(cfg_check_keys(&m, keys, COUNT(keys)));
  TRY(cfg_number(&m, "share", REQUIRED, ABOVE(0), AT_MOST(1), &c->share));
  const cfg_node *threshold = cfg_lookup(&m, "threshold");
  c->threshold_auto = threshold && threshold->kind == CFG_SCALAR &&
                      strcmp(threshold->text, "auto") == 0;
  if (!c->threshold_auto) /* auto: src/scenario.c derives it */
    TRY(cfg_number(&m, "threshold", REQUIRED, AT_LEAST(0), NO_UPPER,
                   &c->threshold));
  TRY(cfg_number(&m, "noise", DEFAULT(0), AT_LEAST(0), NO_UPPER, &c->noise));
  return cfg_number(&m, "withdraw", DEFAULT(1), ABOVE(0), AT_MOST(1),
                    &c->withdraw);
}

static sch_status read_cohorts(cfg_ctx *ctx, const cfg_section *s) {
  sch_lenders_spec *l = &ctx->cfg->lenders;
  const cfg_node *list = cfg_lookup(s, "cohorts");
  if (!list)
    return SCH_OK;
  if (list->kind != CFG_LIST || list->n > SCH_MAX_COHORTS)
    return cfg_fail_at(ctx->err, list,
                       "lenders.cohorts must be a list of at most %d "
                       "{share, threshold, noise, withdraw}",
                       SCH_MAX_COHORTS);
  double total = 0.0;
  for (size_t k = 0; k < list->n; k++) {
    TRY(read_cohort(ctx, list->items[k], (int)k));
    total += l->cohorts[k].share;
  }
  l->n_cohorts = (int)list->n;
  if (total > 1.0 + 1e-12)
    return cfg_fail_at(ctx->err, list,
                       "lenders.cohorts: the shares add up to %g, more than "
                       "1 (the rest of the supply is passive lenders)",
                       total);
  return SCH_OK;
}

sch_status cfg_read_lenders(cfg_ctx *ctx) {
  static const char *const keys[] = {"assets", "cohorts", "run",
                                     "exit_cost"};
  sch_lenders_spec *l = &ctx->cfg->lenders;
  cfg_section s, lent, e;
  TRY(cfg_open(&ctx->top, "lenders", false, &s));
  l->present = s.map != NULL;
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  TRY(cfg_bool(&s, "run", true, &l->run));
  TRY(cfg_number(&s, "exit_cost", DEFAULT(0.001), AT_LEAST(0), AT_MOST(1),
                 &l->exit_cost));
  if (!l->present)
    return SCH_OK;
  TRY(cfg_open(&s, "assets", true, &lent));
  if (lent.map->n == 0)
    return cfg_fail_at(ctx->err, lent.map,
                       "lenders.assets must name at least one lent asset, "
                       "e.g. {USDC: {utilisation: 0.85}}");
  for (size_t i = 0; i < lent.map->n; i++) {
    int a;
    TRY(entry_asset(ctx, &lent, i, false, &a));
    cfg_section_child(&lent, ctx->cfg->assets[a].name, lent.map->items[i], &e);
    TRY(read_lent_asset(ctx, &e, a));
  }
  return read_cohorts(ctx, &s);
}

/* The flight keys of one level (the section or an asset's entry); each
 * defaults to the value already in f (vol_ref < 0: not given yet). */
static sch_status read_flight_terms(const cfg_section *s, sch_flight_asset *f) {
  TRY(cfg_number(s, "sensitivity_drawdown", DEFAULT(f->sensitivity_drawdown),
                 AT_LEAST(0), NO_UPPER, &f->sensitivity_drawdown));
  TRY(cfg_number(s, "sensitivity_vol", DEFAULT(f->sensitivity_vol), AT_LEAST(0),
                 NO_UPPER, &f->sensitivity_vol));
  if (cfg_lookup(s, "vol_ref") || f->vol_ref >= 0.0)
    TRY(cfg_number(s, "vol_ref", DEFAULT(f->vol_ref), AT_LEAST(0), NO_UPPER,
                   &f->vol_ref));
  TRY(cfg_number(s, "floor", DEFAULT(f->floor), ABOVE(0), AT_MOST(1),
                 &f->floor));
  TRY(cfg_duration(s, "half_life", DEFAULT(f->half_life_s), ABOVE(0), NO_UPPER,
                   &f->half_life_s));
  return cfg_duration(s, "vol_window", DEFAULT(f->vol_window_s), ABOVE(0),
                      NO_UPPER, &f->vol_window_s);
}

sch_status cfg_read_liquidity_flight(cfg_ctx *ctx) {
  static const char *const keys[] = {"enabled",         "sensitivity_drawdown",
                                     "sensitivity_vol", "vol_ref",
                                     "floor",           "half_life",
                                     "vol_window",      "assets"};
  static const char *const asset_keys[] = {"sensitivity_drawdown",
                                           "sensitivity_vol",
                                           "vol_ref",
                                           "floor",
                                           "half_life",
                                           "vol_window"};
  sch_config *cfg = ctx->cfg;
  sch_flight_spec *fl = &cfg->liquidity_flight;
  cfg_section s, per, e;
  TRY(cfg_open(&ctx->top, "liquidity_flight", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  fl->present = s.map != NULL;
  TRY(cfg_bool(&s, "enabled", fl->present, &fl->enabled));
  sch_flight_asset all = {.sensitivity_drawdown = 2.0,
                          .sensitivity_vol = 0.0,
                          .vol_ref = -1.0,
                          .floor = 0.2,
                          .half_life_s = 3600.0,
                          .vol_window_s = 3600.0};
  TRY(read_flight_terms(&s, &all));
  for (int a = 0; a < cfg->n_assets; a++) {
    fl->assets[a] = all;
    if (all.vol_ref < 0.0) /* default: the asset's own volatility */
      fl->assets[a].vol_ref = cfg->assets[a].vol;
    if (cfg->assets[a].stable) /* no venue */
      fl->assets[a] = (sch_flight_asset){0};
  }
  TRY(cfg_open(&s, "assets", false, &per));
  for (size_t i = 0; per.map && i < per.map->n; i++) {
    int a;
    TRY(entry_asset(ctx, &per, i, false, &a));
    if (cfg->assets[a].stable)
      return cfg_fail_at(ctx->err, per.map->keys[i],
                         "liquidity_flight.assets: %s is stable (vol 0, no "
                         "jumps) and has no venue; remove this entry",
                         cfg->assets[a].name);
    cfg_section_child(&per, cfg->assets[a].name, per.map->items[i], &e);
    TRY(cfg_check_keys(&e, asset_keys, COUNT(asset_keys)));
    TRY(read_flight_terms(&e, &fl->assets[a]));
  }
  return SCH_OK;
}
