/**
 * @file replay.h
 * @brief Scenario replay (docs/model.md "Replay and stress"): a CSV of
 *        timestamped prices, one or many scenarios, sampled on the step grid
 *        as log fundamental prices.
 */
#ifndef SCHELLING_REPLAY_H
#define SCHELLING_REPLAY_H

#include "schelling/config.h"

/** The scenarios of a replay file on the step grid. */
typedef struct sch_replay {
  int64_t n_scenarios;
  int n_risky;
  int64_t n_steps;
  /** [(s * (n_steps + 1) + k) * n_risky + r]: ln S_r(0) + ln(P(k) / P(0)),
   *  with P the file's price held from its row to the next one. */
  double *log_prices;
} sch_replay;

/**
 * Read and check a replay CSV against a configuration whose simulation and
 * assets are read (the file name is taken from cfg->simulation.replay_file).
 * @param cfg    configuration: assets, step and horizon
 * @param replay filled on success; release with sch_replay_free()
 * @param err    `file:line:column: message` on bad input
 * @return SCH_OK, SCH_ERR_INPUT, or SCH_ERR_RUNTIME (out of memory)
 */
sch_status sch_replay_read(const sch_config *cfg, sch_replay *replay,
                           sch_error *err);

/** Release a replay (NULL-safe, idempotent). */
void sch_replay_free(sch_replay *replay);

#endif
