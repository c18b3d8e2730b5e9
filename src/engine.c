#include "schelling/engine.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cascade.h"
#include "paths.h"
#include "results.h"
#include "schelling/shard.h"
#include "scenario.h"
#include "schelling/sweep.h"

/* Blocks simulated between two merges. Only memory and progress granularity
 * depend on it: the merge is in block order whatever the wave. */
#define WAVE_BLOCKS 64

/* Per-thread scratch: one lane group of paths, and per point the path and
 * cascade scratch. */
typedef struct worker {
  double *x; /* SCH_LANES paths, lane-interleaved */
  sch_path_ws **paths;
  sch_cascade_ws **ws;
  double *metrics;
  double *screened; /* [SCH_LANES][metric] metrics of quiet lanes */
  int64_t screened_groups, quiet_lanes; /* recent screening yield */
  int n_points;
} worker;

static const char *const base_metric_names[] = {
    "bad_debt",          "underwater_debt",      "shortfall",
    "uncovered_shortfall", "liquidated_value",   "liquidations",
    "skipped_unprofitable", "bonus_paid",        "slippage_cost",
    "gas_cost",          "liquidator_profit",    "cascade_depth",
    "oracle_updates",
};

/* Names of one protocol's metrics at names[0..count), each prefixed. */
static void name_protocol_metrics(char (*names)[METRIC_NAME_MAX],
                                  const sch_config *cfg, const char *prefix) {
  const int na = cfg->n_assets;
  for (int m = 0; m < SCH_METRIC_MIN_PRICE_RATIO; m++)
    snprintf(names[m], METRIC_NAME_MAX, "%s%s", prefix, base_metric_names[m]);
  for (int i = 0; i < na; i++)
    snprintf(names[SCH_METRIC_MIN_PRICE_RATIO + i], METRIC_NAME_MAX,
             "%smin_price_ratio_%s", prefix, cfg->assets[i].name);
  snprintf(names[sch_metric_time_first_bad_debt(na)], METRIC_NAME_MAX,
           "%stime_first_bad_debt", prefix);
  for (int x = 0; x < SCH_XM_COUNT; x++)
    snprintf(names[sch_metric_ext(na, x)], METRIC_NAME_MAX, "%s%s", prefix,
             sch_ext_metric_name(x));
}

static int protocol_count(const sch_config *cfg) {
  return cfg->protocol_cfg && cfg->n_protocols > 1 ? cfg->n_protocols : 1;
}

/* One protocol: the contract's names. Several: "<protocol>.<metric>" per
 * protocol, the system totals under the plain names, and
 * "joint_shortfall.<A>.<B>" per pair (kernels/cascade.h). */
static void name_metrics(sch_results *res, const sch_config *cfg) {
  const int n = protocol_count(cfg), na = cfg->n_assets;
  if (n == 1) {
    name_protocol_metrics(res->names, cfg, "");
    return;
  }
  for (int p = 0; p < n; p++) {
    char prefix[SCH_NAME_MAX + 1];
    snprintf(prefix, sizeof prefix, "%s.", cfg->protocol_names[p]);
    name_protocol_metrics(res->names + p * sch_metric_count(na), cfg, prefix);
  }
  static const char *const system[SCH_SYS_COUNT] = {
      "shortfall", "uncovered_shortfall", "bad_debt"};
  for (int s = 0; s < SCH_SYS_COUNT; s++)
    snprintf(res->names[sch_metric_system(na, n, s)], METRIC_NAME_MAX, "%s",
             system[s]);
  for (int a = 0; a < n; a++)
    for (int b = a + 1; b < n; b++)
      snprintf(res->names[sch_metric_joint(na, n, a, b)], METRIC_NAME_MAX,
               "joint_shortfall.%s.%s", cfg->protocol_names[a],
               cfg->protocol_names[b]);
}

/* Log-binned histogram grids in each metric's own units. */
static sch_hist_spec hist_for(int m, int n_assets, int n_protocols) {
  if (n_protocols > 1) {
    if (m >= sch_metric_system(n_assets, n_protocols, SCH_SYS_COUNT))
      return (sch_hist_spec){1e-6, 10.0, 10}; /* joint indicators */
    if (m >= sch_metric_system(n_assets, n_protocols, 0))
      return (sch_hist_spec){1.0, 1e13, 10}; /* USD totals */
    m %= sch_metric_count(n_assets);
  }
  if (m == SCH_METRIC_LIQUIDATIONS || m == SCH_METRIC_SKIPPED_UNPROFITABLE ||
      m == SCH_METRIC_CASCADE_DEPTH || m == SCH_METRIC_ORACLE_UPDATES)
    return (sch_hist_spec){1.0, 1e8, 10};
  if (m >= SCH_METRIC_MIN_PRICE_RATIO &&
      m < SCH_METRIC_MIN_PRICE_RATIO + n_assets)
    return (sch_hist_spec){1e-4, 10.0, 20};
  if (m == sch_metric_time_first_bad_debt(n_assets) ||
      m == sch_metric_ext(n_assets, SCH_XM_AUCTION_DURATION) ||
      m == sch_metric_ext(n_assets, SCH_XM_TIME_FULL_UTILISATION))
    return (sch_hist_spec){1.0, 1e9, 10};
  if (m == sch_metric_ext(n_assets, SCH_XM_AUCTIONS) ||
      m == sch_metric_ext(n_assets, SCH_XM_AUCTION_RESETS) ||
      m == sch_metric_ext(n_assets, SCH_XM_BREAKER_PAUSES) ||
      m == sch_metric_ext(n_assets, SCH_XM_THRESHOLD_CHANGES))
    return (sch_hist_spec){1.0, 1e8, 10};
  if (m == sch_metric_ext(n_assets, SCH_XM_WITHDRAWN_SHARE) ||
      m == sch_metric_ext(n_assets, SCH_XM_LOSS_EARLY) ||
      m == sch_metric_ext(n_assets, SCH_XM_LOSS_LATE))
    return (sch_hist_spec){1e-6, 10.0, 10}; /* shares */
  return (sch_hist_spec){1.0, 1e13, 10}; /* USD */
}

int64_t sch_block_count(int64_t n_paths) {
  return (n_paths + SCH_BLOCK_PATHS - 1) / SCH_BLOCK_PATHS;
}

int64_t sch_block_size(int64_t n_paths, int64_t b) {
  int64_t left = n_paths - b * SCH_BLOCK_PATHS;
  return left < SCH_BLOCK_PATHS ? left : SCH_BLOCK_PATHS;
}

/* Consecutive blocks form the batches: batch of block b is b * B / blocks. */

static sch_accum *new_accum(const sch_config *cfg, int m, int64_t n,
                            sch_error *err) {
  return sch_accum_create(n, cfg->output.levels, cfg->output.n_levels,
                          hist_for(m, cfg->n_assets, protocol_count(cfg)),
                          err);
}

/* The accumulators of the sweep comparison (P > 1 only). */
static bool create_comparison(sch_results *res, const sch_config *cfg,
                              sch_error *err) {
  const int P = res->n_points, M = res->n_metrics;
  res->n_batches = res->n_blocks < DIFF_BATCHES ? (int)res->n_blocks
                                                : DIFF_BATCHES;
  int64_t batch_paths[DIFF_BATCHES] = {0};
  for (int64_t b = 0; b < res->n_blocks; b++)
    batch_paths[sch_batch_of_block(res, b)] += sch_block_size(res->n_paths, b);
  res->diff = calloc((size_t)(P * M), sizeof *res->diff);
  res->batch = calloc((size_t)(P * M * res->n_batches), sizeof *res->batch);
  if (!res->diff || !res->batch)
    return false;
  for (int p = 0; p < P; p++)
    for (int m = 0; m < M; m++) {
      if (p != res->baseline &&
          !(res->diff[p * M + m] = new_accum(cfg, m, res->n_paths, err)))
        return false;
      for (int q = 0; q < res->n_batches; q++)
        if (!(res->batch[(p * M + m) * res->n_batches + q] =
                  new_accum(cfg, m, batch_paths[q], err)))
          return false;
    }
  return true;
}

sch_results *sch_results_create(const sch_config *cfg, int n_points,
                                int baseline, bool keep, sch_error *err) {
  sch_results *res = calloc(1, sizeof *res);
  if (!res)
    return NULL;
  const int n_protocols = protocol_count(cfg);
  const int M = sch_metric_count_protocols(cfg->n_assets, n_protocols);
  res->n_points = n_points;
  res->baseline = baseline;
  res->n_metrics = M;
  res->shortfall_metric =
      n_protocols > 1
          ? sch_metric_system(cfg->n_assets, n_protocols, SCH_SYS_SHORTFALL)
          : SCH_METRIC_SHORTFALL;
  res->n_paths = cfg->simulation.paths;
  res->n_blocks = sch_block_count(res->n_paths);
  res->block_begin = 0;
  res->block_end = res->n_blocks;
  res->n_assets = cfg->n_assets;
  res->n_times = cfg->simulation.steps + 1;
  for (int i = 0; i < cfg->n_assets; i++)
    snprintf(res->asset_names[i], SCH_NAME_MAX, "%s", cfg->assets[i].name);
  res->names = calloc((size_t)M, sizeof *res->names);
  res->acc = calloc((size_t)(n_points * M), sizeof *res->acc);
  res->per_path = calloc((size_t)(n_points * M), sizeof *res->per_path);
  if (!res->names || !res->acc || !res->per_path)
    goto fail;
  name_metrics(res, cfg);
  for (int pm = 0; pm < n_points * M; pm++) {
    if (!(res->acc[pm] = new_accum(cfg, pm % M, res->n_paths, err)))
      goto fail;
    if (keep && !(res->per_path[pm] =
                      malloc((size_t)res->n_paths * sizeof(double))))
      goto fail;
  }
  if (n_points > 1 && !create_comparison(res, cfg, err))
    goto fail;
  int k = cfg->output.samples;
  if (k > res->n_paths)
    k = (int)res->n_paths;
  res->sample_cap = k;
  res->sample_index = calloc((size_t)k + 1, sizeof(int64_t));
  res->sample_shortfall = calloc((size_t)k + 1, sizeof(double));
  if (!res->sample_index || !res->sample_shortfall)
    goto fail;
  return res;
fail:
  sch_results_free(res);
  return NULL;
}

void sch_results_free(sch_results *res) {
  if (!res)
    return;
  const int PM = res->n_points * res->n_metrics;
  for (int pm = 0; pm < PM; pm++) {
    if (res->acc)
      sch_accum_free(res->acc[pm]);
    if (res->per_path)
      free(res->per_path[pm]);
    if (res->diff)
      sch_accum_free(res->diff[pm]);
    for (int q = 0; res->batch && q < res->n_batches; q++)
      sch_accum_free(res->batch[pm * res->n_batches + q]);
  }
  free(res->names);
  free(res->moments);
  free(res->diff_moments);
  free(res->acc);
  free(res->diff);
  free(res->batch);
  free(res->per_path);
  free(res->sample_index);
  free(res->sample_shortfall);
  free(res->sample_market);
  free(res->sample_fundamental);
  free(res);
}

/* Keep the worst `cap` paths by shortfall; ties keep the lower index, which
 * is the one seen first because paths are offered in index order. */
void sch_results_offer_sample(sch_results *res, int cap, int64_t path,
                              double shortfall) {
  int n = res->n_samples;
  if (cap == 0 || (n == cap && !(shortfall > res->sample_shortfall[n - 1])))
    return;
  int at = n < cap ? n : n - 1;
  while (at > 0 && shortfall > res->sample_shortfall[at - 1]) {
    res->sample_shortfall[at] = res->sample_shortfall[at - 1];
    res->sample_index[at] = res->sample_index[at - 1];
    at--;
  }
  res->sample_shortfall[at] = shortfall;
  res->sample_index[at] = path;
  if (n < cap)
    res->n_samples++;
}

static void progress_bar(int64_t done, int64_t total, double elapsed) {
  const int width = 30;
  int filled = (int)((double)width * (double)done / (double)total);
  double eta = done > 0 ? elapsed * (double)(total - done) / (double)done : 0;
  fprintf(stderr, "\r[%.*s%*s] %3d%% %lld/%lld paths  %.1f s  eta %.0f s ",
          filled, "##############################", width - filled, "",
          (int)(100.0 * (double)done / (double)total), (long long)done,
          (long long)total, elapsed, eta);
  if (done == total)
    fputc('\n', stderr);
  fflush(stderr);
}

static void free_workers(worker *w, int n) {
  if (!w)
    return;
  for (int t = 0; t < n; t++) {
    free(w[t].x);
    free(w[t].metrics);
    free(w[t].screened);
    for (int p = 0; p < w[t].n_points; p++) {
      if (w[t].paths)
        sch_path_ws_free(w[t].paths[p]);
      if (w[t].ws)
        sch_cascade_ws_free(w[t].ws[p]);
    }
    free(w[t].paths);
    free(w[t].ws);
  }
  free(w);
}

static bool make_worker(worker *w, const sch_scenario *sc, int n_points,
                        int n_metrics) {
  size_t xs = 1;
  for (int p = 0; p < n_points; p++) {
    size_t need = (size_t)(sc[p].paths.n_steps + 1) *
                  (size_t)(sc[p].paths.n_risky + 1) * SCH_LANES;
    xs = need > xs ? need : xs;
  }
  w->n_points = n_points;
  w->x = malloc(xs * sizeof(double));
  w->metrics = malloc((size_t)n_metrics * sizeof(double));
  w->screened = malloc((size_t)n_metrics * SCH_LANES * sizeof(double));
  w->paths = calloc((size_t)n_points, sizeof *w->paths);
  w->ws = calloc((size_t)n_points, sizeof *w->ws);
  if (!w->x || !w->metrics || !w->screened || !w->paths || !w->ws)
    return false;
  for (int p = 0; p < n_points; p++)
    if (!(w->paths[p] = sch_path_ws_create(&sc[p].paths)) ||
        !(w->ws[p] = sch_cascade_ws_create(&sc[p].market)))
      return false;
  return true;
}

static worker *make_workers(const sch_scenario *sc, int n_points, int n,
                            int n_metrics) {
  worker *w = calloc((size_t)n, sizeof *w);
  if (!w)
    return NULL;
  for (int t = 0; t < n; t++)
    if (!make_worker(&w[t], sc, n_points, n_metrics)) {
      free_workers(w, n);
      return NULL;
    }
  return w;
}

/* The run's scenarios, one per point, and which points share their paths
 * (identical path models: generated once, the common random numbers). */
typedef struct run_plan {
  const sch_config *points;
  const sch_loanbook *const *books;
  sch_scenario *sc;
  int *path_class; /* first point with the same path model */
  int n_points;
} run_plan;

/* Screening costs about a tenth of a stressed path. Where it keeps finding
 * no quiet path (the default world: 97% of paths liquidate) it runs on one
 * lane group in 16 to notice a change. Results never depend on it: a quiet
 * lane's metrics equal the cascade's bit for bit (tests/test_cascade.c). */
static bool worth_screening(worker *w) {
  int64_t n = w->screened_groups++;
  if (n < 16 || n % 16 == 0)
    return true;
  return w->quiet_lanes * 20 >= (n / 16 + 16) * SCH_LANES;
}

/* One block: metric m of point p for path i of the block goes to
 * buf[(p * M + m) * stride + offset + i]. Paths are generated SCH_LANES at a
 * time (a last partial group generates whole lanes and keeps only the paths
 * of the block); points that share a path model share the generated paths. */
static void simulate_block(const run_plan *plan, worker *w, int64_t first,
                           int64_t n, int n_metrics, double *buf,
                           int64_t stride, int64_t offset) {
  for (int64_t g = 0; g < n; g += SCH_LANES) {
    int held = -1;
    for (int p = 0; p < plan->n_points; p++) {
      const sch_scenario *sc = &plan->sc[p];
      int cls = plan->path_class[p];
      if (cls != held) {
        sch_path_generate_block(&plan->sc[cls].paths, (uint64_t)(first + g),
                                w->paths[cls], w->x);
        held = cls;
      }
      /* phase 1: lanes where no account can become liquidatable are done */
      uint8_t quiet[SCH_LANES] = {0};
      if (worth_screening(w))
        w->quiet_lanes += sch_cascade_screen(&sc->market, sc->paths.n_risky,
                                             w->x, SCH_LANES, w->ws[p], quiet,
                                             w->screened);
      for (int64_t l = 0; l < SCH_LANES && g + l < n; l++) {
        const double *metrics = w->screened + l * n_metrics;
        if (!quiet[l]) { /* phase 2: the scalar cascade */
          sch_cascade_set_path(w->ws[p], (uint64_t)(first + g + l));
          sch_cascade_run(&sc->market, sc->paths.n_risky, w->x + l, SCH_LANES,
                          w->ws[p], w->metrics, NULL);
          metrics = w->metrics;
        }
        double *out = buf + (int64_t)p * n_metrics * stride + offset + g + l;
        for (int m = 0; m < n_metrics; m++)
          out[m * stride] = metrics[m];
      }
    }
  }
}

typedef struct wave {
  int64_t first_block, n_blocks, first_path, n_paths;
} wave;

static int64_t shard_blocks(const sch_results *res) {
  return res->block_end - res->block_begin;
}

/* Restrict the results to a shard's blocks and make room for their
 * per-block moments. */
static bool set_block_range(sch_results *res, int shard, int shards) {
  if (shards > 0) {
    res->block_begin = sch_shard_first_block(res->n_blocks, shard, shards);
    res->block_end = sch_shard_first_block(res->n_blocks, shard + 1, shards);
  }
  res->block_next = res->block_begin;
  /* a shard's tails need room for its own paths only */
  int64_t own = 0;
  for (int64_t b = res->block_begin; b < res->block_end; b++)
    own += sch_block_size(res->n_paths, b);
  for (int pm = 0; pm < res->n_points * res->n_metrics; pm++)
    if (!sch_accum_limit_tail(res->acc[pm], own) ||
        (res->diff && res->diff[pm] &&
         !sch_accum_limit_tail(res->diff[pm], own)))
      return false;
  size_t n = (size_t)(res->n_points * res->n_metrics) *
             (size_t)(shard_blocks(res) + 1) * 2;
  res->moments = calloc(n, sizeof(double));
  res->diff_moments = calloc(n, sizeof(double));
  return res->moments && res->diff_moments;
}

/* Metric m of point p over the wave's paths. */
static const double *wave_values(const sch_results *res, const double *buf,
                                 int64_t stride, int p, int m) {
  return buf + ((int64_t)p * res->n_metrics + m) * stride;
}

/* Fold one (point, metric) of a wave into its accumulators, block by block in
 * block order: the summary, the difference to the baseline, the batch. */
static void merge_series(sch_results *res, const wave *wv, const double *buf,
                         int64_t stride, int p, int m) {
  const int pm = p * res->n_metrics + m;
  const double *v = wave_values(res, buf, stride, p, m);
  const double *base = wave_values(res, buf, stride, res->baseline, m);
  double d[SCH_BLOCK_PATHS];
  for (int64_t b = 0; b < wv->n_blocks; b++) {
    int64_t off = b * SCH_BLOCK_PATHS;
    int64_t blk = wv->first_block + b;
    size_t n = (size_t)sch_block_size(res->n_paths, blk);
    double *mom = res->moments + (pm * shard_blocks(res) + blk - res->block_begin) * 2;
    sch_block_moments(v + off, n, &mom[0], &mom[1]);
    sch_accum_add_block(res->acc[pm], v + off, n);
    if (res->n_points == 1)
      continue;
    int q = sch_batch_of_block(res, blk);
    sch_accum_add_block(res->batch[pm * res->n_batches + q], v + off, n);
    if (p == res->baseline)
      continue;
    for (size_t i = 0; i < n; i++)
      d[i] = v[off + (int64_t)i] - base[off + (int64_t)i];
    double *dm =
        res->diff_moments + (pm * shard_blocks(res) + blk - res->block_begin) * 2;
    sch_block_moments(d, n, &dm[0], &dm[1]);
    sch_accum_add_block(res->diff[pm], d, n);
  }
  if (res->per_path[pm])
    memcpy(res->per_path[pm] + wv->first_path, v,
           (size_t)wv->n_paths * sizeof(double));
}

/* Fold a simulated wave into the results, in block order. */
static sch_status merge_wave(sch_results *res, const sch_config *cfg,
                             const wave *wv, const double *buf, int64_t stride,
                             int threads, sch_h5_writer *writer,
                             sch_error *err) {
  const int M = res->n_metrics, PM = res->n_points * M;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int pm = 0; pm < PM; pm++)
    merge_series(res, wv, buf, stride, pm / M, pm % M);
  const double *shortfall =
      wave_values(res, buf, stride, res->baseline, res->shortfall_metric);
  for (int64_t i = 0; i < wv->n_paths; i++)
    sch_results_offer_sample(res, cfg->output.samples, wv->first_path + i, shortfall[i]);
  if (writer && cfg->output.per_path)
    for (int pm = 0; pm < PM; pm++) {
      sch_status st = sch_h5_write_paths_block(
          writer, pm % M, pm / M, wv->first_path, wv->n_paths,
          wave_values(res, buf, stride, pm / M, pm % M), err);
      if (st != SCH_OK)
        return st;
    }
  return SCH_OK;
}

static sch_status simulate_all(sch_results *res, const run_plan *plan,
                               const sch_run_options *opt, int threads,
                               sch_h5_writer *writer, sch_error *err) {
  const sch_config *cfg = &plan->points[0];
  const int M = res->n_metrics, P = plan->n_points;
  const int64_t n_paths = cfg->simulation.paths;
  /* Wave memory stays near 64 blocks' worth whatever the number of points. */
  const int64_t wave_blocks = P >= WAVE_BLOCKS / 2 ? 2 : WAVE_BLOCKS / P;
  const int64_t stride = wave_blocks * SCH_BLOCK_PATHS;
  double *buf = malloc((size_t)(stride * M * P) * sizeof(double));
  worker *workers = make_workers(plan->sc, P, threads, M);
  if (!buf || !workers) {
    free(buf);
    free_workers(workers, threads);
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory for %d threads",
                    threads);
  }
  sch_status st = SCH_OK;
  double t0 = omp_get_wtime();
  const int64_t b_end = res->block_end;
  for (int64_t b0 = res->block_next; b0 < b_end && st == SCH_OK;
       b0 += wave_blocks) {
    if (opt->interrupted && *opt->interrupted) {
      st = opt->checkpoint ? opt->checkpoint(opt->checkpoint_ctx, res, true, err)
                           : SCH_OK;
      if (st == SCH_OK)
        st = sch_fail(err, SCH_ERR_RUNTIME, "interrupted; no result written");
      break;
    }
    wave wv = {b0, b_end - b0 < wave_blocks ? b_end - b0 : wave_blocks,
               b0 * SCH_BLOCK_PATHS, 0};
    int64_t end = (b0 + wv.n_blocks) * SCH_BLOCK_PATHS;
    wv.n_paths = (end < n_paths ? end : n_paths) - wv.first_path;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t b = 0; b < wv.n_blocks; b++) {
      int64_t off = b * SCH_BLOCK_PATHS;
      simulate_block(plan, &workers[omp_get_thread_num()], wv.first_path + off,
                     sch_block_size(n_paths, b0 + b), M, buf, stride, off);
    }
    st = merge_wave(res, cfg, &wv, buf, stride, threads, writer, err);
    res->block_next = b0 + wv.n_blocks;
    if (st == SCH_OK && opt->checkpoint)
      st = opt->checkpoint(opt->checkpoint_ctx, res, false, err);
    if (opt->progress) {
      int64_t first = res->block_begin * SCH_BLOCK_PATHS;
      int64_t last = b_end * SCH_BLOCK_PATHS < n_paths ? b_end * SCH_BLOCK_PATHS
                                                       : n_paths;
      progress_bar(wv.first_path + wv.n_paths - first, last - first,
                   omp_get_wtime() - t0);
    }
  }
  res->seconds = omp_get_wtime() - t0;
  free(buf);
  free_workers(workers, threads);
  return st;
}

/* One path with its prices recorded, on a built scenario. */
static sch_status replay_path(const sch_scenario *sc, int64_t path,
                              double *metrics, double *market,
                              double *fundamental, sch_error *err) {
  size_t xs = (size_t)(sc->paths.n_steps + 1) * (size_t)(sc->paths.n_risky + 1);
  double *x = malloc(xs * sizeof(double));
  sch_cascade_ws *ws = sch_cascade_ws_create(&sc->market);
  sch_status st = SCH_OK;
  if (x && ws) {
    sch_price_record rec = {market, fundamental};
    sch_path_generate(&sc->paths, (uint64_t)path, x);
    sch_cascade_set_path(ws, (uint64_t)path);
    sch_cascade_run(&sc->market, sc->paths.n_risky, x, 1, ws, metrics,
                    (market || fundamental) ? &rec : NULL);
  } else {
    st = sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  }
  free(x);
  sch_cascade_ws_free(ws);
  return st;
}

/* Re-simulate the kept worst paths with their prices recorded: a path is a
 * pure function of (seed, index), so nothing had to be stored on the way. */
static sch_status record_samples(sch_results *res, const sch_scenario *sc,
                                 sch_error *err) {
  size_t per = (size_t)(res->n_times * res->n_assets);
  size_t k = (size_t)res->n_samples;
  res->sample_market = malloc((k * per + 1) * sizeof(double));
  res->sample_fundamental = malloc((k * per + 1) * sizeof(double));
  double *metrics = malloc((size_t)res->n_metrics * sizeof(double));
  sch_status st = SCH_OK;
  if (!res->sample_market || !res->sample_fundamental || !metrics)
    st = sch_fail(err, SCH_ERR_RUNTIME, "out of memory for sample paths");
  for (size_t s = 0; s < k && st == SCH_OK; s++)
    st = replay_path(sc, res->sample_index[s], metrics,
                     res->sample_market + s * per,
                     res->sample_fundamental + s * per, err);
  free(metrics);
  return st;
}

/* Points of a sweep must describe the same simulation grid and assets: the
 * metrics and paths are compared one to one. */
static sch_status check_points(const sch_config *points, int n_points,
                               sch_error *err) {
  const sch_config *a = &points[0];
  for (int p = 1; p < n_points; p++) {
    const sch_config *b = &points[p];
    const char *what = NULL;
    if (b->simulation.paths != a->simulation.paths)
      what = "simulation.paths";
    else if (b->simulation.steps != a->simulation.steps ||
             b->simulation.step_s != a->simulation.step_s)
      what = "simulation.horizon or simulation.step";
    else if (b->simulation.seed != a->simulation.seed)
      what = "simulation.seed";
    else if (b->n_assets != a->n_assets)
      what = "assets";
    else if (b->output.n_levels != a->output.n_levels ||
             memcmp(b->output.levels, a->output.levels,
                    sizeof a->output.levels) != 0)
      what = "output.levels";
    for (int i = 0; !what && i < a->n_assets; i++)
      if (strcmp(a->assets[i].name, b->assets[i].name) != 0)
        what = "assets";
    if (what)
      return sch_fail(err, SCH_ERR_INPUT,
                      "%s: sweep point %d changes %s, which every point must "
                      "share (common random numbers compare paths one to one)",
                      a->source, p, what);
  }
  return SCH_OK;
}

static void free_plan(run_plan *plan) {
  for (int p = 0; plan->sc && p < plan->n_points; p++)
    sch_scenario_free(&plan->sc[p]);
  free(plan->sc);
  free(plan->path_class);
}

static sch_status build_plan(run_plan *plan, sch_error *err) {
  plan->sc = calloc((size_t)plan->n_points, sizeof *plan->sc);
  plan->path_class = calloc((size_t)plan->n_points, sizeof(int));
  if (!plan->sc || !plan->path_class)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  for (int p = 0; p < plan->n_points; p++) {
    sch_status st =
        sch_scenario_build(&plan->points[p], plan->books[p], &plan->sc[p], err);
    if (st != SCH_OK)
      return st;
    int cls = p;
    for (int q = 0; q < p && cls == p; q++)
      if (memcmp(&plan->sc[q].paths, &plan->sc[p].paths,
                 sizeof plan->sc[p].paths) == 0)
        cls = q;
    plan->path_class[p] = cls;
  }
  return SCH_OK;
}

sch_status sch_engine_run_sweep(const sch_config *points,
                                const sch_loanbook *const *books, int n_points,
                                int baseline, const sch_run_options *opt,
                                sch_h5_writer *writer, sch_results **out,
                                sch_error *err) {
  *out = NULL;
  if (n_points < 1 || baseline < 0 || baseline >= n_points)
    return sch_fail(err, SCH_ERR_INPUT, "sweep: baseline %d outside 0..%d",
                    baseline, n_points - 1);
  sch_status st = check_points(points, n_points, err);
  if (st != SCH_OK)
    return st;
  int threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
  run_plan plan = {points, books, NULL, NULL, n_points};
  st = build_plan(&plan, err);
  sch_results *res = NULL;
  if (st == SCH_OK &&
      !(res = sch_results_create(&points[0], n_points, baseline,
                             opt->keep_per_path, err)))
    st = err && err->msg[0] ? SCH_ERR_RUNTIME
                            : sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  if (st == SCH_OK && !set_block_range(res, opt->shard_index, opt->shard_count))
    st = sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  if (st == SCH_OK) {
    res->threads = threads;
    if (writer && points[0].output.per_path) {
      const char *names[SCH_MAX_METRICS];
      for (int m = 0; m < res->n_metrics; m++)
        names[m] = res->names[m];
      st = sch_h5_create_paths(writer, res->n_metrics, names, n_points,
                               points[0].simulation.paths, err);
    }
  }
  if (st == SCH_OK && opt->resume)
    st = sch_shard_resume(res, opt->resume, opt->resume_config,
                          opt->shard_index, opt->shard_count, err);
  if (st == SCH_OK)
    st = simulate_all(res, &plan, opt, threads, writer, err);
  if (st == SCH_OK)
    st = record_samples(res, &plan.sc[baseline], err);
  free_plan(&plan);
  if (st != SCH_OK) {
    sch_results_free(res);
    return st;
  }
  *out = res;
  return SCH_OK;
}

sch_status sch_engine_run(const sch_config *cfg, const sch_loanbook *book,
                          const sch_run_options *opt, sch_h5_writer *writer,
                          sch_results **out, sch_error *err) {
  const sch_loanbook *books[1] = {book};
  return sch_engine_run_sweep(cfg, books, 1, 0, opt, writer, out, err);
}

sch_status sch_engine_one_path(const sch_config *cfg, const sch_loanbook *book,
                               int64_t path, double *metrics, double *market,
                               double *fundamental, sch_error *err) {
  sch_scenario sc;
  sch_status st = sch_scenario_build(cfg, book, &sc, err);
  if (st != SCH_OK)
    return st;
  st = replay_path(&sc, path, metrics, market, fundamental, err);
  sch_scenario_free(&sc);
  return st;
}

int sch_results_point_count(const sch_results *res) { return res->n_points; }

void sch_results_summary_at(const sch_results *res, int p, int m,
                            sch_summary *out) {
  sch_accum_summarise(res->acc[p * res->n_metrics + m], out);
}

/* Student t quantile t_{0.975, df} by the Cornish-Fisher expansion (error
 * below 0.005 for df >= 3; exact enough for a batch-means interval). */
static double t975(int df) {
  const double z = 1.959963984540054;
  double d = (double)df, z3 = z * z * z, z5 = z3 * z * z;
  return z + (z3 + z) / (4 * d) + (5 * z5 + 16 * z3 + 3 * z) / (96 * d * d);
}

/* est +- t sd(batch differences) / sqrt(B) */
static void batch_interval(const double *d, int nb, double est, double *lo,
                           double *hi) {
  if (nb < 3) {
    *lo = *hi = NAN;
    return;
  }
  double mean = 0, ss = 0;
  for (int q = 0; q < nb; q++)
    mean += d[q] / nb;
  for (int q = 0; q < nb; q++)
    ss += (d[q] - mean) * (d[q] - mean);
  double half = t975(nb - 1) * sqrt(ss / (nb - 1) / nb);
  *lo = est - half;
  *hi = est + half;
}

void sch_results_diff_at(const sch_results *res, int p, int m, sch_diff *out) {
  memset(out, 0, sizeof *out);
  const int M = res->n_metrics, nb = res->n_batches;
  sch_summary a, b;
  sch_accum_summarise(res->acc[p * M + m], &a);
  sch_accum_summarise(res->acc[res->baseline * M + m], &b);
  out->n_levels = a.n_levels;
  out->n_batches = nb;
  for (int l = 0; l < a.n_levels; l++)
    out->level[l] = a.level[l];
  if (p == res->baseline || res->n_points == 1)
    return;
  sch_summary d;
  sch_accum_summarise(res->diff[p * M + m], &d);
  out->mean = d.mean;
  out->std_error = d.std_error;
  double dv[SCH_MAX_LEVELS][DIFF_BATCHES], de[SCH_MAX_LEVELS][DIFF_BATCHES];
  for (int q = 0; q < nb; q++) {
    sch_summary x, y;
    sch_accum_summarise(res->batch[(p * M + m) * nb + q], &x);
    sch_accum_summarise(res->batch[(res->baseline * M + m) * nb + q], &y);
    for (int l = 0; l < a.n_levels; l++) {
      dv[l][q] = x.var[l] - y.var[l];
      de[l][q] = x.es[l] - y.es[l];
    }
  }
  for (int l = 0; l < a.n_levels; l++) {
    out->var[l] = a.var[l] - b.var[l];
    out->es[l] = a.es[l] - b.es[l];
    batch_interval(dv[l], nb, out->var[l], &out->var_lo[l], &out->var_hi[l]);
    batch_interval(de[l], nb, out->es[l], &out->es_lo[l], &out->es_hi[l]);
  }
}

int sch_results_metric_count(const sch_results *res) { return res->n_metrics; }

const char *sch_results_metric_name(const sch_results *res, int m) {
  return res->names[m];
}

int sch_results_metric_index(const sch_results *res, const char *name) {
  for (int m = 0; m < res->n_metrics; m++)
    if (strcmp(res->names[m], name) == 0)
      return m;
  return -1;
}

void sch_results_summary(const sch_results *res, int m, sch_summary *out) {
  sch_accum_summarise(res->acc[res->baseline * res->n_metrics + m], out);
}

const double *sch_results_per_path(const sch_results *res, int m) {
  return res->per_path[res->baseline * res->n_metrics + m];
}

const double *sch_results_per_path_at(const sch_results *res, int p, int m) {
  return res->per_path[p * res->n_metrics + m];
}

int sch_results_threads(const sch_results *res) { return res->threads; }

double sch_results_seconds(const sch_results *res) { return res->seconds; }

/* /frontier: tail of uncovered shortfall (ES at 99% when configured, else
 * the highest level) against the mean bonus paid by borrowers. */
static sch_status write_frontier(const sch_results *res, sch_h5_writer *w,
                                 sch_error *err) {
  const int P = res->n_points, M = res->n_metrics;
  double *tail = malloc((size_t)P * sizeof(double));
  double *cost = malloc((size_t)P * sizeof(double));
  uint8_t *mask = malloc((size_t)P);
  if (!tail || !cost || !mask) {
    free(tail);
    free(cost);
    free(mask);
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  }
  int level = -1;
  char tail_name[64];
  for (int p = 0; p < P; p++) {
    sch_summary s, b;
    sch_accum_summarise(res->acc[p * M + SCH_METRIC_UNCOVERED_SHORTFALL], &s);
    sch_accum_summarise(res->acc[p * M + SCH_METRIC_BONUS_PAID], &b);
    for (int l = 0; level < 0 && l < s.n_levels; l++)
      if (fabs(s.level[l] - 0.99) < 1e-12)
        level = l;
    if (level < 0)
      level = s.n_levels - 1;
    tail[p] = s.es[level];
    cost[p] = b.mean;
    if (p == 0) {
      char lvl[16];
      sch_level_name(s.level[level], lvl, sizeof lvl);
      snprintf(tail_name, sizeof tail_name, "uncovered_shortfall/es_%s", lvl);
    }
  }
  sch_frontier(P, tail, cost, mask);
  sch_status st = sch_h5_write_frontier(w, P, mask, tail_name,
                                        "bonus_paid/mean", err);
  free(tail);
  free(cost);
  free(mask);
  return st;
}

static sch_status write_metric(const sch_results *res, sch_h5_writer *w,
                               int m, sch_summary *s, sch_diff *d,
                               sch_error *err) {
  const int P = res->n_points;
  for (int p = 0; p < P; p++)
    sch_accum_summarise(res->acc[p * res->n_metrics + m], &s[p]);
  sch_status st = sch_h5_write_summary(w, res->names[m], P, s, err);
  if (st != SCH_OK || P == 1)
    return st;
  for (int p = 0; p < P; p++)
    sch_results_diff_at(res, p, m, &d[p]);
  return sch_h5_write_diff(w, res->names[m], P, d, err);
}

sch_status sch_results_write(const sch_results *res, sch_h5_writer *w,
                             sch_error *err) {
  const int P = res->n_points;
  sch_summary *s = malloc((size_t)P * sizeof *s);
  sch_diff *d = malloc((size_t)P * sizeof *d);
  sch_status st = s && d ? SCH_OK
                         : sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  for (int m = 0; st == SCH_OK && m < res->n_metrics; m++)
    st = write_metric(res, w, m, s, d, err);
  free(s);
  free(d);
  if (st == SCH_OK && P > 1)
    st = write_frontier(res, w, err);
  if (st != SCH_OK)
    return st;
  const char *names[SCH_MAX_ASSETS];
  for (int i = 0; i < res->n_assets; i++)
    names[i] = res->asset_names[i];
  return sch_h5_write_samples(w, res->n_samples, res->n_times, res->n_assets,
                              names, res->sample_market,
                              res->sample_fundamental, res->sample_index,
                              res->sample_shortfall, err);
}
