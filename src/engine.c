#include "schelling/engine.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cascade.h"
#include "paths.h"
#include "scenario.h"

/* Blocks simulated between two merges. Only memory and progress granularity
 * depend on it: the merge is in block order whatever the wave. */
#define WAVE_BLOCKS 64
#define METRIC_NAME_MAX 64

struct sch_results {
  int n_metrics;
  char (*names)[METRIC_NAME_MAX];
  sch_accum **acc;
  double **per_path; /* [metric][path] with keep_per_path */
  int64_t n_paths;
  int threads;
  double seconds;
  /* /samples: the worst paths by shortfall */
  int n_samples;
  int64_t *sample_index;
  double *sample_shortfall;
  double *sample_market, *sample_fundamental;
  int64_t n_times;
  int n_assets;
  char asset_names[SCH_MAX_ASSETS][SCH_NAME_MAX];
};

/* Per-thread scratch: one path's log prices and the cascade workspace. */
typedef struct worker {
  double *x; /* SCH_LANES paths, lane-interleaved */
  sch_path_ws *paths;
  sch_cascade_ws *ws;
  double *metrics;
} worker;

static const char *const base_metric_names[] = {
    "bad_debt",         "underwater_debt", "shortfall",
    "uncovered_shortfall", "liquidated_value", "liquidations",
    "skipped_unprofitable", "bonus_paid",   "slippage_cost",
    "gas_cost",         "liquidator_profit", "cascade_depth",
    "oracle_updates",
};

static void name_metrics(sch_results *res, const sch_config *cfg) {
  for (int m = 0; m < SCH_METRIC_MIN_PRICE_RATIO; m++)
    snprintf(res->names[m], METRIC_NAME_MAX, "%s", base_metric_names[m]);
  for (int i = 0; i < cfg->n_assets; i++)
    snprintf(res->names[SCH_METRIC_MIN_PRICE_RATIO + i], METRIC_NAME_MAX,
             "min_price_ratio_%s", cfg->assets[i].name);
  snprintf(res->names[sch_metric_time_first_bad_debt(cfg->n_assets)],
           METRIC_NAME_MAX, "time_first_bad_debt");
}

/* Log-binned histogram grids in each metric's own units. */
static sch_hist_spec hist_for(int m, int n_assets) {
  if (m == SCH_METRIC_LIQUIDATIONS || m == SCH_METRIC_SKIPPED_UNPROFITABLE ||
      m == SCH_METRIC_CASCADE_DEPTH || m == SCH_METRIC_ORACLE_UPDATES)
    return (sch_hist_spec){1.0, 1e8, 10};
  if (m >= SCH_METRIC_MIN_PRICE_RATIO &&
      m < SCH_METRIC_MIN_PRICE_RATIO + n_assets)
    return (sch_hist_spec){1e-4, 10.0, 20};
  if (m == sch_metric_time_first_bad_debt(n_assets))
    return (sch_hist_spec){1.0, 1e9, 10};
  return (sch_hist_spec){1.0, 1e13, 10}; /* USD */
}

static sch_results *results_create(const sch_config *cfg, bool keep,
                                   sch_error *err) {
  sch_results *res = calloc(1, sizeof *res);
  if (!res)
    return NULL;
  int nm = sch_metric_count(cfg->n_assets);
  res->n_metrics = nm;
  res->n_paths = cfg->simulation.paths;
  res->n_assets = cfg->n_assets;
  res->n_times = cfg->simulation.steps + 1;
  for (int i = 0; i < cfg->n_assets; i++)
    snprintf(res->asset_names[i], SCH_NAME_MAX, "%s", cfg->assets[i].name);
  res->names = calloc((size_t)nm, sizeof *res->names);
  res->acc = calloc((size_t)nm, sizeof *res->acc);
  res->per_path = calloc((size_t)nm, sizeof *res->per_path);
  if (!res->names || !res->acc || !res->per_path)
    goto fail;
  name_metrics(res, cfg);
  for (int m = 0; m < nm; m++) {
    res->acc[m] = sch_accum_create(res->n_paths, cfg->output.levels,
                                   cfg->output.n_levels,
                                   hist_for(m, cfg->n_assets), err);
    if (!res->acc[m])
      goto fail;
    if (keep && !(res->per_path[m] =
                      malloc((size_t)res->n_paths * sizeof(double))))
      goto fail;
  }
  int k = cfg->output.samples;
  if (k > res->n_paths)
    k = (int)res->n_paths;
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
  for (int m = 0; m < res->n_metrics; m++) {
    if (res->acc)
      sch_accum_free(res->acc[m]);
    if (res->per_path)
      free(res->per_path[m]);
  }
  free(res->names);
  free(res->acc);
  free(res->per_path);
  free(res->sample_index);
  free(res->sample_shortfall);
  free(res->sample_market);
  free(res->sample_fundamental);
  free(res);
}

/* Keep the worst `cap` paths by shortfall; ties keep the lower index, which
 * is the one seen first because paths are offered in index order. */
static void offer_sample(sch_results *res, int cap, int64_t path,
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
    sch_path_ws_free(w[t].paths);
    sch_cascade_ws_free(w[t].ws);
  }
  free(w);
}

static worker *make_workers(const sch_scenario *sc, int n, int n_metrics) {
  worker *w = calloc((size_t)n, sizeof *w);
  if (!w)
    return NULL;
  size_t xs = (size_t)(sc->paths.n_steps + 1) *
              (size_t)(sc->paths.n_risky + 1) * SCH_LANES;
  for (int t = 0; t < n; t++) {
    w[t].x = malloc(xs * sizeof(double));
    w[t].metrics = malloc((size_t)n_metrics * sizeof(double));
    w[t].paths = sch_path_ws_create(&sc->paths);
    w[t].ws = sch_cascade_ws_create(&sc->market);
    if (!w[t].x || !w[t].metrics || !w[t].paths || !w[t].ws) {
      free_workers(w, n);
      return NULL;
    }
  }
  return w;
}

/* One block: its paths' metrics into buf[m * stride + offset + p]. Paths
 * are generated SCH_LANES at a time (a last partial group generates whole
 * lanes and keeps only the paths of the block). */
static void simulate_block(const sch_scenario *sc, worker *w, int64_t first,
                           int64_t n, int n_metrics, double *buf,
                           int64_t stride, int64_t offset) {
  for (int64_t g = 0; g < n; g += SCH_LANES) {
    sch_path_generate_block(&sc->paths, (uint64_t)(first + g), w->paths, w->x);
    for (int64_t l = 0; l < SCH_LANES && g + l < n; l++) {
      sch_cascade_run(&sc->market, sc->paths.n_risky, w->x + l, SCH_LANES,
                      w->ws, w->metrics, NULL);
      for (int m = 0; m < n_metrics; m++)
        buf[m * stride + offset + g + l] = w->metrics[m];
    }
  }
}

typedef struct wave {
  int64_t first_block, n_blocks, first_path, n_paths;
} wave;

/* Fold a simulated wave into the results, in block order. */
static sch_status merge_wave(sch_results *res, const sch_config *cfg,
                             const wave *wv, const double *buf, int64_t stride,
                             int threads, sch_h5_writer *writer,
                             sch_error *err) {
  const int nm = res->n_metrics;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int m = 0; m < nm; m++) {
    for (int64_t b = 0; b < wv->n_blocks; b++) {
      int64_t off = b * SCH_BLOCK_PATHS;
      int64_t n = wv->n_paths - off < SCH_BLOCK_PATHS ? wv->n_paths - off
                                                      : SCH_BLOCK_PATHS;
      sch_accum_add_block(res->acc[m], buf + m * stride + off, (size_t)n);
    }
    if (res->per_path[m])
      memcpy(res->per_path[m] + wv->first_path, buf + m * stride,
             (size_t)wv->n_paths * sizeof(double));
  }
  const double *shortfall = buf + SCH_METRIC_SHORTFALL * stride;
  for (int64_t p = 0; p < wv->n_paths; p++)
    offer_sample(res, cfg->output.samples, wv->first_path + p, shortfall[p]);
  if (writer && cfg->output.per_path)
    for (int m = 0; m < nm; m++) {
      sch_status st =
          sch_h5_write_paths_block(writer, m, 0, wv->first_path, wv->n_paths,
                                   buf + m * stride, err);
      if (st != SCH_OK)
        return st;
    }
  return SCH_OK;
}

static sch_status simulate_all(sch_results *res, const sch_config *cfg,
                               const sch_scenario *sc,
                               const sch_run_options *opt, int threads,
                               sch_h5_writer *writer, sch_error *err) {
  const int nm = res->n_metrics;
  const int64_t n_paths = cfg->simulation.paths;
  const int64_t n_blocks = (n_paths + SCH_BLOCK_PATHS - 1) / SCH_BLOCK_PATHS;
  const int64_t stride = (int64_t)WAVE_BLOCKS * SCH_BLOCK_PATHS;
  double *buf = malloc((size_t)(stride * nm) * sizeof(double));
  worker *workers = make_workers(sc, threads, nm);
  if (!buf || !workers) {
    free(buf);
    free_workers(workers, threads);
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory for %d threads",
                    threads);
  }
  sch_status st = SCH_OK;
  double t0 = omp_get_wtime();
  for (int64_t b0 = 0; b0 < n_blocks && st == SCH_OK; b0 += WAVE_BLOCKS) {
    if (opt->interrupted && *opt->interrupted) {
      st = sch_fail(err, SCH_ERR_RUNTIME, "interrupted; no result written");
      break;
    }
    wave wv = {b0, n_blocks - b0 < WAVE_BLOCKS ? n_blocks - b0 : WAVE_BLOCKS,
               b0 * SCH_BLOCK_PATHS, 0};
    int64_t end = (b0 + wv.n_blocks) * SCH_BLOCK_PATHS;
    wv.n_paths = (end < n_paths ? end : n_paths) - wv.first_path;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t b = 0; b < wv.n_blocks; b++) {
      int64_t off = b * SCH_BLOCK_PATHS;
      int64_t n = wv.n_paths - off < SCH_BLOCK_PATHS ? wv.n_paths - off
                                                     : SCH_BLOCK_PATHS;
      simulate_block(sc, &workers[omp_get_thread_num()], wv.first_path + off,
                     n, nm, buf, stride, off);
    }
    st = merge_wave(res, cfg, &wv, buf, stride, threads, writer, err);
    if (opt->progress)
      progress_bar(wv.first_path + wv.n_paths, n_paths, omp_get_wtime() - t0);
  }
  res->seconds = omp_get_wtime() - t0;
  free(buf);
  free_workers(workers, threads);
  return st;
}

/* Re-simulate the kept worst paths with their prices recorded: a path is a
 * pure function of (seed, index), so nothing had to be stored on the way. */
static sch_status record_samples(sch_results *res, const sch_config *cfg,
                                 const sch_loanbook *book, sch_error *err) {
  size_t per = (size_t)(res->n_times * res->n_assets);
  size_t k = (size_t)res->n_samples;
  res->sample_market = malloc((k * per + 1) * sizeof(double));
  res->sample_fundamental = malloc((k * per + 1) * sizeof(double));
  double *metrics = malloc((size_t)res->n_metrics * sizeof(double));
  sch_status st = SCH_OK;
  if (!res->sample_market || !res->sample_fundamental || !metrics)
    st = sch_fail(err, SCH_ERR_RUNTIME, "out of memory for sample paths");
  for (size_t s = 0; s < k && st == SCH_OK; s++)
    st = sch_engine_one_path(cfg, book, res->sample_index[s], metrics,
                             res->sample_market + s * per,
                             res->sample_fundamental + s * per, err);
  free(metrics);
  return st;
}

sch_status sch_engine_run(const sch_config *cfg, const sch_loanbook *book,
                          const sch_run_options *opt, sch_h5_writer *writer,
                          sch_results **out, sch_error *err) {
  *out = NULL;
  int threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
  sch_scenario sc;
  sch_status st = sch_scenario_build(cfg, book, &sc, err);
  if (st != SCH_OK)
    return st;
  sch_results *res = results_create(cfg, opt->keep_per_path, err);
  if (!res) {
    sch_scenario_free(&sc);
    if (!err || !err->msg[0])
      sch_fail(err, SCH_ERR_RUNTIME, "out of memory for the results");
    return SCH_ERR_RUNTIME;
  }
  res->threads = threads;
  if (writer && cfg->output.per_path) {
    const char *names[256];
    for (int m = 0; m < res->n_metrics; m++)
      names[m] = res->names[m];
    st = sch_h5_create_paths(writer, res->n_metrics, names, 1,
                             cfg->simulation.paths, err);
  }
  if (st == SCH_OK)
    st = simulate_all(res, cfg, &sc, opt, threads, writer, err);
  sch_scenario_free(&sc);
  if (st == SCH_OK)
    st = record_samples(res, cfg, book, err);
  if (st != SCH_OK) {
    sch_results_free(res);
    return st;
  }
  *out = res;
  return SCH_OK;
}

sch_status sch_engine_one_path(const sch_config *cfg, const sch_loanbook *book,
                               int64_t path, double *metrics, double *market,
                               double *fundamental, sch_error *err) {
  sch_scenario sc;
  sch_status st = sch_scenario_build(cfg, book, &sc, err);
  if (st != SCH_OK)
    return st;
  worker *w = make_workers(&sc, 1, sch_metric_count(cfg->n_assets));
  if (!w) {
    sch_scenario_free(&sc);
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  }
  sch_price_record rec = {market, fundamental};
  sch_path_generate(&sc.paths, (uint64_t)path, w->x);
  sch_cascade_run(&sc.market, sc.paths.n_risky, w->x, 1, w->ws, metrics,
                  (market || fundamental) ? &rec : NULL);
  free_workers(w, 1);
  sch_scenario_free(&sc);
  return SCH_OK;
}

sch_status sch_engine_run_sweep(const sch_config *points,
                                const sch_loanbook *const *books, int n_points,
                                int baseline, const sch_run_options *opt,
                                sch_h5_writer *writer, sch_results **out,
                                sch_error *err) {
  (void)baseline;
  if (n_points != 1)
    return sch_fail(err, SCH_ERR_INPUT,
                    "sweeps are not supported by this engine yet");
  return sch_engine_run(&points[0], books[0], opt, writer, out, err);
}

int sch_results_point_count(const sch_results *res) {
  (void)res;
  return 1;
}

void sch_results_summary_at(const sch_results *res, int p, int m,
                            sch_summary *out) {
  (void)p;
  sch_accum_summarise(res->acc[m], out);
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
  sch_accum_summarise(res->acc[m], out);
}

const double *sch_results_per_path(const sch_results *res, int m) {
  return res->per_path[m];
}

int sch_results_threads(const sch_results *res) { return res->threads; }

double sch_results_seconds(const sch_results *res) { return res->seconds; }

sch_status sch_results_write(const sch_results *res, sch_h5_writer *w,
                             sch_error *err) {
  for (int m = 0; m < res->n_metrics; m++) {
    sch_summary s;
    sch_accum_summarise(res->acc[m], &s);
    sch_status st = sch_h5_write_summary(w, res->names[m], 1, &s, err);
    if (st != SCH_OK)
      return st;
  }
  const char *names[SCH_MAX_ASSETS];
  for (int i = 0; i < res->n_assets; i++)
    names[i] = res->asset_names[i];
  return sch_h5_write_samples(w, res->n_samples, res->n_times, res->n_assets,
                              names, res->sample_market,
                              res->sample_fundamental, res->sample_index,
                              res->sample_shortfall, err);
}
