/**
 * @file shard.h
 * @brief Shards of a run and their exact merge (docs/output.md, "Shards").
 *
 * `schelling run --shard i/n` simulates blocks [B i / n, B (i + 1) / n) of
 * the run's B blocks and writes a shard file; `schelling merge` combines a
 * complete set into the file a single run would write, with the same summary
 * bits.
 */
#ifndef SCHELLING_SHARD_H
#define SCHELLING_SHARD_H

#include "schelling/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Exit code of a run stopped by a signal after writing its checkpoint
 * (EX_TEMPFAIL: run again with --resume). */
#define SCH_EXIT_CHECKPOINTED 75

/**
 * Write the shard state of results (blocks simulated so far) (from sch_engine_run_sweep with
 * shard_count > 0): per-block moments and order-free accumulator state under
 * /shard, and the shard's worst paths under /samples. The caller writes the
 * root attributes, /config and /sweep as for a result file.
 * @param res    results of the shard
 * @param w      writer
 * @param shard  shard index
 * @param shards shard count
 * @param err    message on failure
 * @return SCH_OK or SCH_ERR_RUNTIME
 */
sch_status sch_shard_write(const sch_results *res, sch_h5_writer *w,
                           int shard, int shards, sch_error *err);

/**
 * Merge a complete set of shard files into one result file. Refuses, with
 * SCH_ERR_INPUT and a one-line message, shards of another version, seed or
 * configuration, a different shard count, a duplicate or a missing shard.
 * @param paths shard files (any order)
 * @param n     number of files
 * @param out   result file
 * @param force overwrite an existing out
 * @param err   message on failure
 * @return SCH_OK, SCH_ERR_INPUT or SCH_ERR_RUNTIME
 */
sch_status sch_shard_merge(const char *const *paths, int n, const char *out,
                           bool force, sch_error *err);

/**
 * Continue results from a checkpoint (a shard file of the blocks done so
 * far): replays their moments, absorbs the order-independent state and the
 * worst-path list, and sets the next block to simulate. Refuses (exit-2
 * class) a checkpoint of another version, configuration (all but
 * output.file) or shard.
 * @param res    fresh results of the run (sch_engine_run_sweep does this)
 * @param path   checkpoint file
 * @param config the run's resolved YAML (as written to /config)
 * @param shard  shard index (0 for a whole run)
 * @param shards shard count (0 for a whole run)
 * @param err    message on failure
 * @return SCH_OK, SCH_ERR_INPUT or SCH_ERR_RUNTIME
 */
sch_status sch_shard_resume(sch_results *res, const char *path,
                            const char *config, int shard, int shards,
                            sch_error *err);

#ifdef __cplusplus
}
#endif
#endif
