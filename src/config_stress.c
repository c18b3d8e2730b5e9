/* `simulation.replay` and `stress:` (docs/config.md; the model is in
 * docs/model.md "Replay and stress"). Read after `assets`: both name risky
 * assets, and the replay file is checked against them. */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "replay.h"

#define TRY(expr)                                                              \
  do {                                                                         \
    sch_status try_status_ = (expr);                                           \
    if (try_status_ != SCH_OK)                                                 \
      return try_status_;                                                      \
  } while (0)

/* The file is read in full here, so that `validate` reports every bad row;
 * the count of scenarios becomes the number of paths. */
sch_status cfg_read_replay(cfg_ctx *ctx) {
  static const char *const keys[] = {"file"};
  sch_simulation_spec *sim = &ctx->cfg->simulation;
  cfg_section s, r;
  char path[SCH_PATH_MAX];
  TRY(cfg_open(&ctx->top, "simulation", true, &s));
  TRY(cfg_open(&s, "replay", false, &r));
  if (!r.map)
    return SCH_OK;
  TRY(cfg_check_keys(&r, keys, COUNT(keys)));
  const cfg_node *file = cfg_lookup(&r, "file");
  if (!file)
    return cfg_missing(&r, "file");
  TRY(cfg_node_string(ctx->err, file, "simulation.replay.file", path,
                      sizeof path));
  TRY(cfg_resolve_path(ctx, file, path, "simulation.replay.file",
                       sim->replay_file));
  sch_replay replay;
  TRY(sch_replay_read(ctx->cfg, &replay, ctx->err));
  sim->paths = replay.n_scenarios;
  sch_replay_free(&replay);
  return SCH_OK;
}

static sch_status read_shock(cfg_ctx *ctx, const cfg_node *item, int j) {
  static const char *const keys[] = {"asset", "time", "drop"};
  sch_stress_spec *shock = &ctx->cfg->stress[j];
  cfg_section s = {.map = item, .anchor = item, .err = ctx->err};
  snprintf(s.name, sizeof s.name, "stress[%d]", j);
  if (item->kind != CFG_MAP)
    return cfg_fail_at(ctx->err, item,
                       "%s must be a mapping {asset: ..., time: ..., "
                       "drop: ...}",
                       s.name);
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  const cfg_node *asset = cfg_lookup(&s, "asset");
  if (!asset)
    return cfg_missing(&s, "asset");
  char label[200];
  snprintf(label, sizeof label, "%s.asset", s.name);
  TRY(cfg_asset_named(ctx, asset, label, &shock->asset));
  if (ctx->cfg->assets[shock->asset].stable)
    return cfg_fail_at(ctx->err, asset,
                       "%s: %s is stable (vol 0, no jumps): only a risky "
                       "asset's price can be shocked",
                       label, ctx->cfg->assets[shock->asset].name);
  /* time > 0: nothing happens at t = 0, and S(0) anchors the book */
  TRY(cfg_duration(&s, "time", REQUIRED, ABOVE(0),
                   AT_MOST(ctx->cfg->simulation.horizon_s), &shock->time_s));
  return cfg_number(&s, "drop", REQUIRED, ABOVE(0), BELOW(1), &shock->drop);
}

sch_status cfg_read_stress(cfg_ctx *ctx) {
  const cfg_node *list = cfg_lookup(&ctx->top, "stress");
  if (!list)
    return SCH_OK;
  if (list->kind != CFG_LIST || list->n > SCH_MAX_STRESS)
    return cfg_fail_at(ctx->err, list,
                       "stress must be a list of at most %d shocks "
                       "{asset: ..., time: ..., drop: ...}",
                       SCH_MAX_STRESS);
  for (size_t j = 0; j < list->n; j++)
    TRY(read_shock(ctx, list->items[j], (int)j));
  ctx->cfg->n_stress = (int)list->n;
  return SCH_OK;
}
