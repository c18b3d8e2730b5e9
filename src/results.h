/**
 * @file results.h
 * @brief Internal: the results of a run as the engine keeps them, shared by
 *        the engine (src/engine.c) and shard files (src/shard.c).
 */
#ifndef SCHELLING_RESULTS_H
#define SCHELLING_RESULTS_H

#include "schelling/engine.h"

#define METRIC_NAME_MAX 64
/* Batches of consecutive blocks for the CI of VaR/ES differences. */
#define DIFF_BATCHES 20

struct sch_results {
  int n_points, baseline, n_metrics;
  int shortfall_metric; /* ranks /samples: shortfall, or the system total */
  char (*names)[METRIC_NAME_MAX];
  sch_accum **acc;   /* [P * M] */
  sch_accum **diff;  /* [P * M] per-path differences to the baseline */
  sch_accum **batch; /* [P * M * n_batches] for the VaR/ES difference CIs */
  int n_batches;
  int64_t n_blocks;  /* of the whole run */
  int64_t block_begin, block_end; /* the blocks simulated here (a shard) */
  int64_t block_next; /* first block not simulated yet (checkpoints) */
  /* per simulated block, in block order: mean and m2 of each series, the
   * only order-dependent part of an accumulator (for exact merging) */
  double *moments;      /* [P * M][block - block_begin][2] */
  double *diff_moments; /* [P * M][block - block_begin][2] */
  double **per_path; /* [P * M][path] with keep_per_path */
  int64_t n_paths;
  int threads;
  double seconds;
  /* /samples: the worst paths of the baseline point by shortfall */
  int n_samples;
  int sample_cap; /* output.samples, at most the number of paths */
  int64_t *sample_index;
  double *sample_shortfall;
  double *sample_market, *sample_fundamental;
  int64_t n_times;
  int n_assets;
  char asset_names[SCH_MAX_ASSETS][SCH_NAME_MAX];
};

/** Blocks of SCH_BLOCK_PATHS paths in a run of n_paths. */
int64_t sch_block_count(int64_t n_paths);

/** Paths in block b of a run of n_paths. */
int64_t sch_block_size(int64_t n_paths, int64_t b);

/** Batch of block b: consecutive blocks, b * batches / blocks. */
static inline int sch_batch_of_block(const sch_results *res, int64_t b) {
  return (int)(b * res->n_batches / res->n_blocks);
}

/** First block of shard i of n: shard i owns [first(i), first(i + 1)). */
static inline int64_t sch_shard_first_block(int64_t blocks, int i, int n) {
  return blocks * i / n;
}

/** Empty results for a run (accumulators sized for the whole run). */
sch_results *sch_results_create(const sch_config *cfg, int n_points,
                                int baseline, bool keep, sch_error *err);

/** Offer a path to the worst-paths list (paths offered in index order). */
void sch_results_offer_sample(sch_results *res, int cap, int64_t path,
                              double shortfall);

#endif
