/* Shards and exact merge (docs/output.md, "Shards").
 *
 * A shard simulates a contiguous range of the run's blocks and stores, for
 * every accumulator, the per-block moments (the only part of a summary that
 * depends on merge order) and the order-independent rest (counts, max,
 * histogram, kept tail). The merge replays every block's moments in global
 * block order and absorbs the rest, so its summaries are the single run's
 * bit for bit. */
#include "schelling/shard.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade.h"
#include "results.h"
#include "schelling/sweep.h"
#include "schelling_version.h"

#define SHARD_KIND "schelling shard"

/* ---- small HDF5 helpers --------------------------------------------------- */

static herr_t put_attr(hid_t loc, const char *name, hid_t type, const void *v) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = a >= 0 ? H5Awrite(a, type, v) : -1;
  if (a >= 0)
    H5Aclose(a);
  H5Sclose(space);
  return st;
}

static herr_t get_attr(hid_t loc, const char *name, hid_t type, void *v) {
  if (H5Aexists(loc, name) <= 0)
    return -1;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  herr_t st = a >= 0 ? H5Aread(a, type, v) : -1;
  if (a >= 0)
    H5Aclose(a);
  return st;
}

static herr_t put_array(hid_t loc, const char *name, hid_t file_type,
                        hid_t mem_type, int rank, const hsize_t *dims,
                        const void *buf) {
  hsize_t one[2] = {1, 1};
  hid_t space = H5Screate_simple(rank, dims[0] ? dims : one, NULL);
  hid_t d = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT);
  herr_t st = d >= 0 ? 0 : -1;
  if (d >= 0 && dims[0] > 0)
    st = H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  if (d >= 0)
    H5Dclose(d);
  H5Sclose(space);
  return st;
}

/* Read a whole dataset of n_expected elements (n_expected 0: any size into
 * a fresh buffer, *n set). */
static void *get_array(hid_t loc, const char *name, hid_t mem_type,
                       size_t elem, int64_t *n) {
  hid_t d = H5Lexists(loc, name, H5P_DEFAULT) > 0
               ? H5Dopen2(loc, name, H5P_DEFAULT)
               : -1;
  if (d < 0)
    return NULL;
  hid_t space = H5Dget_space(d);
  hssize_t count = H5Sget_simple_extent_npoints(space);
  H5Sclose(space);
  void *buf = malloc((size_t)(count > 0 ? count : 1) * elem);
  if (buf && count > 0 &&
      H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
    free(buf);
    buf = NULL;
  }
  H5Dclose(d);
  *n = (int64_t)count;
  return buf;
}

/* ---- writing a shard ------------------------------------------------------ */

static herr_t write_state(hid_t g, const sch_accum *acc) {
  sch_accum_state s;
  sch_accum_get_state(acc, &s);
  herr_t st = put_attr(g, "n", H5T_NATIVE_INT64, &s.n);
  if (st >= 0)
    st = put_attr(g, "n_nan", H5T_NATIVE_INT64, &s.n_nan);
  if (st >= 0)
    st = put_attr(g, "n_positive", H5T_NATIVE_INT64, &s.n_positive);
  if (st >= 0)
    st = put_attr(g, "max", H5T_NATIVE_DOUBLE, &s.max);
  hsize_t kt[1] = {s.tail_len}, kb[1] = {(hsize_t)s.n_bins};
  int64_t tl = (int64_t)s.tail_len;
  if (st >= 0)
    st = put_attr(g, "tail_len", H5T_NATIVE_INT64, &tl);
  if (st >= 0)
    st = put_array(g, "tail", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, kt,
                   s.tail);
  if (st >= 0)
    st = put_array(g, "counts", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, kb,
                   s.counts);
  return st;
}

static hid_t new_group(hid_t parent, const char *name) {
  return H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

/* /shard/<p>/<metric>/{moments, state..., diff/, batch/<q>/} */
static herr_t write_series(const sch_results *res, hid_t gp, int p, int m) {
  const int pm = p * res->n_metrics + m;
  const int64_t nb = res->block_end - res->block_begin;
  hid_t g = new_group(gp, res->names[m]);
  if (g < 0)
    return -1;
  /* the blocks done so far: all of them, or a checkpoint's prefix */
  hsize_t dims[2] = {(hsize_t)(res->block_next - res->block_begin), 2};
  herr_t st = put_array(g, "moments", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2,
                        dims, res->moments + (int64_t)pm * nb * 2);
  if (st >= 0)
    st = write_state(g, res->acc[pm]);
  if (st >= 0 && res->diff && res->diff[pm]) {
    hid_t d = new_group(g, "diff");
    st = d >= 0 ? put_array(d, "moments", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                            2, dims, res->diff_moments + (int64_t)pm * nb * 2)
                : -1;
    if (st >= 0)
      st = write_state(d, res->diff[pm]);
    if (d >= 0)
      H5Gclose(d);
  }
  for (int q = 0; st >= 0 && res->batch && q < res->n_batches; q++) {
    char name[32];
    snprintf(name, sizeof name, "batch_%d", q);
    hid_t b = new_group(g, name);
    st = b >= 0 ? write_state(b, res->batch[pm * res->n_batches + q]) : -1;
    if (b >= 0)
      H5Gclose(b);
  }
  H5Gclose(g);
  return st;
}

sch_status sch_shard_write(const sch_results *res, sch_h5_writer *w,
                           int shard, int shards, sch_error *err) {
  hid_t file = (hid_t)sch_h5_file_id(w);
  hid_t root = new_group(file, "shard");
  if (root < 0)
    return sch_fail(err, SCH_ERR_RUNTIME, "cannot create /shard");
  int32_t ids[4] = {shard, shards, res->n_points, res->baseline};
  int64_t range[2] = {res->block_begin, res->block_next};
  hsize_t d4[1] = {4}, d2[1] = {2};
  herr_t st = put_array(root, "index_count_points_baseline", H5T_STD_I32LE,
                        H5T_NATIVE_INT32, 1, d4, ids);
  if (st >= 0)
    st = put_array(root, "blocks", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d2,
                   range);
  for (int p = 0; st >= 0 && p < res->n_points; p++) {
    char name[32];
    snprintf(name, sizeof name, "point_%d", p);
    hid_t gp = new_group(root, name);
    for (int m = 0; gp >= 0 && st >= 0 && m < res->n_metrics; m++)
      st = write_series(res, gp, p, m);
    if (gp < 0)
      st = -1;
    else
      H5Gclose(gp);
  }
  /* the worst-path list so far (a checkpoint has no prices recorded yet) */
  hsize_t dk[1] = {(hsize_t)res->n_samples};
  if (st >= 0)
    st = put_array(root, "sample_index", H5T_STD_I64LE, H5T_NATIVE_INT64, 1,
                   dk, res->sample_index);
  if (st >= 0)
    st = put_array(root, "sample_shortfall", H5T_IEEE_F64LE,
                   H5T_NATIVE_DOUBLE, 1, dk, res->sample_shortfall);
  int32_t n_samples = res->n_samples;
  if (st >= 0)
    st = put_attr(root, "n_samples", H5T_NATIVE_INT32, &n_samples);
  H5Gclose(root);
  if (st < 0)
    return sch_fail(err, SCH_ERR_RUNTIME, "cannot write the shard state");
  if (!res->sample_market)
    return SCH_OK;
  const char *names[SCH_MAX_ASSETS];
  for (int i = 0; i < res->n_assets; i++)
    names[i] = res->asset_names[i];
  return sch_h5_write_samples(w, res->n_samples, res->n_times, res->n_assets,
                              names, res->sample_market,
                              res->sample_fundamental, res->sample_index,
                              res->sample_shortfall, err);
}

/* ---- merging -------------------------------------------------------------- */

typedef struct shard_file {
  const char *path;
  hid_t file;
  int index, count, n_points, baseline;
  int64_t block_begin, block_end;
  char *config;
  char version[64];
  uint64_t seed;
  int64_t paths;
} shard_file;

static char *read_string(hid_t file, const char *name) {
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0)
    return NULL;
  hid_t t = H5Dget_type(d);
  char *out = NULL;
  if (H5Tis_variable_str(t) > 0) {
    char *v = NULL;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(t));
    if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0 && v) {
      out = strdup(v);
      hid_t space = H5Dget_space(d);
      H5Dvlen_reclaim(mt, space, H5P_DEFAULT, &v);
      H5Sclose(space);
    }
    H5Tclose(mt);
  } else {
    size_t n = H5Tget_size(t);
    out = calloc(n + 1, 1);
    if (out && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
      free(out);
      out = NULL;
    }
  }
  H5Tclose(t);
  H5Dclose(d);
  return out;
}

/* The resolved YAML with output.file set to `file` (a fresh string): shards
 * differ only there, and the merged file names its own output like a single
 * run's /config does. */
static char *with_output_file(const char *yaml, const char *file) {
  const char *sec = strstr(yaml, "\noutput:\n");
  const char *key = sec ? strstr(sec, "\n  file: ") : NULL;
  if (!key)
    return strdup(yaml);
  const char *value = key + strlen("\n  file: ");
  const char *eol = strchr(value, '\n');
  if (!eol)
    eol = value + strlen(value);
  size_t head = (size_t)(value - yaml), tail = strlen(eol);
  char *out = malloc(head + strlen(file) + tail + 1);
  if (!out)
    return NULL;
  memcpy(out, yaml, head);
  strcpy(out + head, file);
  strcpy(out + head + strlen(file), eol);
  return out;
}

static sch_status open_shard(shard_file *s, sch_error *err) {
  s->file = H5Fopen(s->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (s->file < 0)
    return sch_fail(err, SCH_ERR_INPUT, "%s: cannot open as HDF5", s->path);
  int64_t n;
  int32_t *ids = get_array(s->file, "/shard/index_count_points_baseline",
                           H5T_NATIVE_INT32, sizeof(int32_t), &n);
  int64_t *range =
      get_array(s->file, "/shard/blocks", H5T_NATIVE_INT64, sizeof(int64_t), &n);
  sch_status st = SCH_OK;
  if (!ids || !range) {
    st = sch_fail(err, SCH_ERR_INPUT,
                  "%s: not a schelling shard (written by run --shard)",
                  s->path);
  } else {
    s->index = ids[0];
    s->count = ids[1];
    s->n_points = ids[2];
    s->baseline = ids[3];
    s->block_begin = range[0];
    s->block_end = range[1];
  }
  free(ids);
  free(range);
  if (st != SCH_OK)
    return st;
  hid_t vt = H5Tcopy(H5T_C_S1);
  H5Tset_size(vt, H5T_VARIABLE);
  H5Tset_cset(vt, H5T_CSET_UTF8);
  char *version = NULL;
  if (get_attr(s->file, "schelling_version", vt, &version) >= 0 && version) {
    snprintf(s->version, sizeof s->version, "%s", version);
    H5free_memory(version);
  }
  H5Tclose(vt);
  get_attr(s->file, "seed", H5T_NATIVE_UINT64, &s->seed);
  get_attr(s->file, "paths", H5T_NATIVE_INT64, &s->paths);
  char *config = read_string(s->file, "/config");
  if (!config)
    return sch_fail(err, SCH_ERR_INPUT, "%s: no /config", s->path);
  s->config = with_output_file(config, "");
  free(config);
  return s->config ? SCH_OK : sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
}

/* Same version, config (which holds the seed and paths), shard count; each
 * index exactly once. */
static sch_status check_set(shard_file *s, int n, sch_error *err) {
  for (int i = 1; i < n; i++) {
    const char *why = NULL;
    if (strcmp(s[i].version, s[0].version) != 0)
      why = "another schelling version";
    else if (s[i].seed != s[0].seed)
      why = "another seed";
    else if (strcmp(s[i].config, s[0].config) != 0)
      why = "another configuration";
    else if (s[i].count != s[0].count)
      why = "another shard count";
    if (why)
      return sch_fail(err, SCH_ERR_INPUT,
                      "%s: shard of %s than %s; refusing to merge", s[i].path,
                      why, s[0].path);
  }
  int count = s[0].count;
  int *seen = calloc((size_t)count + 1, sizeof(int));
  if (!seen)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  sch_status st = SCH_OK;
  for (int i = 0; i < n && st == SCH_OK; i++) {
    if (s[i].index < 0 || s[i].index >= count)
      st = sch_fail(err, SCH_ERR_INPUT, "%s: shard index %d outside 0..%d",
                    s[i].path, s[i].index, count - 1);
    else if (seen[s[i].index]++)
      st = sch_fail(err, SCH_ERR_INPUT, "%s: shard %d/%d given twice",
                    s[i].path, s[i].index, count);
  }
  for (int i = 0; i < count && st == SCH_OK; i++)
    if (!seen[i])
      st = sch_fail(err, SCH_ERR_INPUT,
                    "shard %d/%d is missing: the set is incomplete", i, count);
  for (int i = 0; i < n && st == SCH_OK; i++) {
    int64_t blocks = sch_block_count(s[i].paths);
    if (s[i].block_begin != sch_shard_first_block(blocks, s[i].index, count) ||
        s[i].block_end !=
            sch_shard_first_block(blocks, s[i].index + 1, count))
      st = sch_fail(err, SCH_ERR_INPUT,
                    "%s: shard %d/%d holds blocks %lld..%lld, not its whole "
                    "range (a checkpoint?)",
                    s[i].path, s[i].index, count,
                    (long long)s[i].block_begin, (long long)s[i].block_end);
  }
  free(seen);
  return st;
}

static int by_index(const void *a, const void *b) {
  return ((const shard_file *)a)->index - ((const shard_file *)b)->index;
}

static sch_status absorb_group(sch_accum *acc, hid_t g, const char *path,
                               sch_error *err) {
  sch_accum_state s = {0};
  int64_t n_tail = 0, n_counts = 0, tl = 0;
  get_attr(g, "n", H5T_NATIVE_INT64, &s.n);
  get_attr(g, "n_nan", H5T_NATIVE_INT64, &s.n_nan);
  get_attr(g, "n_positive", H5T_NATIVE_INT64, &s.n_positive);
  get_attr(g, "max", H5T_NATIVE_DOUBLE, &s.max);
  get_attr(g, "tail_len", H5T_NATIVE_INT64, &tl);
  double *tail = get_array(g, "tail", H5T_NATIVE_DOUBLE, sizeof(double),
                           &n_tail);
  uint64_t *counts = get_array(g, "counts", H5T_NATIVE_UINT64,
                               sizeof(uint64_t), &n_counts);
  sch_status st;
  if (!tail || !counts) {
    st = sch_fail(err, SCH_ERR_INPUT, "%s: damaged shard state", path);
  } else {
    s.tail = tail;
    s.tail_len = (size_t)tl;
    s.counts = counts;
    s.n_bins = (int)n_counts;
    st = sch_accum_absorb(acc, &s, err);
  }
  free(tail);
  free(counts);
  return st;
}

/* Replay a shard's block moments of one series into acc (and its batches). */
static sch_status replay_moments(sch_results *res, hid_t g, const shard_file *s,
                                 sch_accum *acc, sch_accum **batches,
                                 sch_error *err) {
  int64_t n = 0;
  double *mom = get_array(g, "moments", H5T_NATIVE_DOUBLE, sizeof(double), &n);
  int64_t nb = s->block_end - s->block_begin;
  if (!mom || (nb > 0 && n != nb * 2)) {
    free(mom);
    return sch_fail(err, SCH_ERR_INPUT, "%s: damaged block moments", s->path);
  }
  for (int64_t b = 0; b < nb; b++) {
    int64_t blk = s->block_begin + b;
    int64_t size = sch_block_size(res->n_paths, blk);
    sch_accum_merge_moments(acc, size, mom[2 * b], mom[2 * b + 1]);
    if (batches)
      sch_accum_merge_moments(batches[sch_batch_of_block(res, blk)], size,
                              mom[2 * b], mom[2 * b + 1]);
  }
  free(mom);
  return SCH_OK;
}

static sch_status merge_series(sch_results *res, const shard_file *s, int p,
                               int m, sch_error *err) {
  const int pm = p * res->n_metrics + m;
  char name[256];
  snprintf(name, sizeof name, "/shard/point_%d/%s", p, res->names[m]);
  hid_t g = H5Gopen2(s->file, name, H5P_DEFAULT);
  if (g < 0)
    return sch_fail(err, SCH_ERR_INPUT, "%s: no %s", s->path, name);
  sch_accum **batches = res->batch ? res->batch + pm * res->n_batches : NULL;
  sch_status st = replay_moments(res, g, s, res->acc[pm], batches, err);
  if (st == SCH_OK)
    st = absorb_group(res->acc[pm], g, s->path, err);
  for (int q = 0; st == SCH_OK && batches && q < res->n_batches; q++) {
    char bn[32];
    snprintf(bn, sizeof bn, "batch_%d", q);
    hid_t b = H5Gopen2(g, bn, H5P_DEFAULT);
    st = b >= 0 ? absorb_group(batches[q], b, s->path, err)
                : sch_fail(err, SCH_ERR_INPUT, "%s: no %s/%s", s->path, name,
                           bn);
    if (b >= 0)
      H5Gclose(b);
  }
  if (st == SCH_OK && res->diff && res->diff[pm]) {
    hid_t d = H5Gopen2(g, "diff", H5P_DEFAULT);
    st = d >= 0 ? replay_moments(res, d, s, res->diff[pm], NULL, err)
                : sch_fail(err, SCH_ERR_INPUT, "%s: no %s/diff", s->path, name);
    if (st == SCH_OK)
      st = absorb_group(res->diff[pm], d, s->path, err);
    if (d >= 0)
      H5Gclose(d);
  }
  H5Gclose(g);
  return st;
}

/* Offer a shard's worst-path list to res in path order (the single run
 * offers paths in index order, and ties keep the lower index). */
static void offer_in_path_order(sch_results *res, int cap, int64_t *idx,
                                double *sf, int64_t k) {
  for (int64_t a = 0; a < k; a++) /* k is small: output.samples */
    for (int64_t b = a + 1; b < k; b++)
      if (idx[b] < idx[a]) {
        int64_t t = idx[a];
        idx[a] = idx[b];
        idx[b] = t;
        double u = sf[a];
        sf[a] = sf[b];
        sf[b] = u;
      }
  for (int64_t a = 0; a < k; a++)
    sch_results_offer_sample(res, cap, idx[a], sf[a]);
}

/* The worst paths over all shards, by the single run's rule. */
static sch_status merge_samples(sch_results *res, const sch_config *cfg,
                                shard_file *s, int n, sch_error *err) {
  const size_t per = (size_t)(res->n_times * res->n_assets);
  for (int i = 0; i < n; i++) { /* shards in index order: paths ascending */
    int64_t k = 0, k2 = 0;
    int64_t *idx = get_array(s[i].file, "/samples/path_index",
                             H5T_NATIVE_INT64, sizeof(int64_t), &k);
    double *sf = get_array(s[i].file, "/samples/shortfall", H5T_NATIVE_DOUBLE,
                           sizeof(double), &k2);
    if (idx && sf)
      offer_in_path_order(res, cfg->output.samples, idx, sf, k);
    free(idx);
    free(sf);
  }
  res->sample_market = calloc((size_t)res->n_samples * per + 1, sizeof(double));
  res->sample_fundamental =
      calloc((size_t)res->n_samples * per + 1, sizeof(double));
  if (!res->sample_market || !res->sample_fundamental)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  for (int i = 0; i < n; i++) {
    int64_t k = 0, np = 0, nf = 0;
    int64_t *idx = get_array(s[i].file, "/samples/path_index",
                             H5T_NATIVE_INT64, sizeof(int64_t), &k);
    double *pm = get_array(s[i].file, "/samples/price", H5T_NATIVE_DOUBLE,
                           sizeof(double), &np);
    double *pf = get_array(s[i].file, "/samples/fundamental",
                           H5T_NATIVE_DOUBLE, sizeof(double), &nf);
    for (int64_t a = 0; idx && pm && pf && a < k; a++)
      for (int j = 0; j < res->n_samples; j++)
        if (res->sample_index[j] == idx[a]) {
          memcpy(res->sample_market + (size_t)j * per, pm + (size_t)a * per,
                 per * sizeof(double));
          memcpy(res->sample_fundamental + (size_t)j * per,
                 pf + (size_t)a * per, per * sizeof(double));
        }
    free(idx);
    free(pm);
    free(pf);
  }
  return SCH_OK;
}

static sch_status copy_paths(sch_h5_writer *w, sch_results *res,
                             shard_file *s, int n, sch_error *err) {
  char name[256];
  snprintf(name, sizeof name, "/paths/%s", res->names[0]);
  if (H5Lexists(s[0].file, "/paths", H5P_DEFAULT) <= 0)
    return SCH_OK;
  const char *names[SCH_MAX_METRICS];
  for (int m = 0; m < res->n_metrics; m++)
    names[m] = res->names[m];
  sch_status st = sch_h5_create_paths(w, res->n_metrics, names, res->n_points,
                                      res->n_paths, err);
  double *buf = malloc((size_t)SCH_BLOCK_PATHS * 64 * sizeof(double));
  if (!buf)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  for (int i = 0; i < n && st == SCH_OK; i++) {
    int64_t first = s[i].block_begin * SCH_BLOCK_PATHS;
    int64_t end = s[i].block_end * SCH_BLOCK_PATHS;
    end = end < res->n_paths ? end : res->n_paths;
    for (int m = 0; m < res->n_metrics && st == SCH_OK; m++) {
      snprintf(name, sizeof name, "/paths/%s", res->names[m]);
      hid_t d = H5Dopen2(s[i].file, name, H5P_DEFAULT);
      hid_t fs = d >= 0 ? H5Dget_space(d) : -1;
      for (int p = 0; p < res->n_points && st == SCH_OK && d >= 0; p++)
        for (int64_t a = first; a < end && st == SCH_OK;
             a += SCH_BLOCK_PATHS * 64) {
          hsize_t start[2] = {(hsize_t)p, (hsize_t)a};
          hsize_t cnt[2] = {1, (hsize_t)(end - a < SCH_BLOCK_PATHS * 64
                                             ? end - a
                                             : SCH_BLOCK_PATHS * 64)};
          hid_t ms = H5Screate_simple(2, cnt, NULL);
          H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
          if (H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, buf) < 0)
            st = sch_fail(err, SCH_ERR_INPUT, "%s: cannot read %s", s[i].path,
                          name);
          else
            st = sch_h5_write_paths_block(w, m, p, a, (int64_t)cnt[1], buf,
                                          err);
          H5Sclose(ms);
        }
      if (fs >= 0)
        H5Sclose(fs);
      if (d >= 0)
        H5Dclose(d);
      else
        st = sch_fail(err, SCH_ERR_INPUT, "%s: no %s", s[i].path, name);
    }
  }
  free(buf);
  return st;
}

static sch_status write_merged(sch_results *res, const sch_config *cfg,
                               shard_file *s, int n, const char *out,
                               bool force, sch_error *err) {
  sch_h5_writer *w = NULL;
  sch_status st = sch_h5_open(out, force, &w, err);
  if (st != SCH_OK)
    return st;
  int32_t threads = 1;
  get_attr(s[0].file, "threads", H5T_NATIVE_INT32, &threads);
  sch_run_info info = {
      .schelling_version = s[0].version,
      .created_utc = NULL,
      .seed = cfg->simulation.seed,
      .paths = cfg->simulation.paths,
      .steps = cfg->simulation.steps,
      .dt_seconds = cfg->simulation.step_s,
      .threads = threads,
      .ranks = n,
  };
  st = sch_h5_write_run_info(w, &info, err);
  char *config = with_output_file(s[0].config, out);
  if (st == SCH_OK)
    st = config ? sch_h5_write_config(w, config, err)
                : sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  free(config);
  if (st == SCH_OK && H5Lexists(s[0].file, "/sweep", H5P_DEFAULT) > 0 &&
      H5Ocopy(s[0].file, "/sweep", (hid_t)sch_h5_file_id(w), "/sweep",
              H5P_DEFAULT, H5P_DEFAULT) < 0)
    st = sch_fail(err, SCH_ERR_RUNTIME, "cannot copy /sweep");
  if (st == SCH_OK)
    st = sch_results_write(res, w, err);
  if (st == SCH_OK)
    st = copy_paths(w, res, s, n, err);
  if (st == SCH_OK)
    return sch_h5_commit(&w, err);
  sch_h5_abort(&w);
  return st;
}

sch_status sch_shard_merge(const char *const *paths, int n, const char *out,
                           bool force, sch_error *err) {
  if (n < 1)
    return sch_fail(err, SCH_ERR_INPUT, "merge: no shard files given");
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  shard_file *s = calloc((size_t)n, sizeof *s);
  if (!s)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  sch_status st = SCH_OK;
  for (int i = 0; i < n; i++) {
    s[i].path = paths[i];
    s[i].file = -1;
  }
  for (int i = 0; i < n && st == SCH_OK; i++)
    st = open_shard(&s[i], err);
  if (st == SCH_OK)
    st = check_set(s, n, err);
  qsort(s, (size_t)n, sizeof *s, by_index);
  sch_config cfg = {0};
  sch_results *res = NULL;
  char *text = st == SCH_OK ? with_output_file(s[0].config, out) : NULL;
  if (st == SCH_OK)
    st = text ? sch_config_parse(text, s[0].path, ".", NULL, 0, &cfg, err)
              : sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  free(text);
  if (st == SCH_OK && !(res = sch_results_create(&cfg, s[0].n_points,
                                                 s[0].baseline, false, err)))
    st = SCH_ERR_RUNTIME;
  for (int p = 0; st == SCH_OK && p < res->n_points; p++)
    for (int m = 0; st == SCH_OK && m < res->n_metrics; m++)
      for (int i = 0; st == SCH_OK && i < n; i++)
        st = merge_series(res, &s[i], p, m, err);
  if (st == SCH_OK)
    st = merge_samples(res, &cfg, s, n, err);
  if (st == SCH_OK)
    st = write_merged(res, &cfg, s, n, out, force, err);
  sch_results_free(res);
  sch_config_free(&cfg);
  for (int i = 0; i < n; i++) {
    if (s[i].file >= 0)
      H5Fclose(s[i].file);
    free(s[i].config);
  }
  free(s);
  return st;
}

/* ---- resuming from a checkpoint --------------------------------------------- */

/* Replay one series of a checkpoint into res and keep its block moments for
 * the next checkpoint. */
static sch_status resume_series(sch_results *res, const shard_file *s, int p,
                                int m, sch_error *err) {
  const int pm = p * res->n_metrics + m;
  const int64_t nb = res->block_end - res->block_begin;
  const int64_t done = s->block_end - s->block_begin;
  sch_status st = merge_series(res, s, p, m, err);
  char name[256];
  snprintf(name, sizeof name, "/shard/point_%d/%s/moments", p, res->names[m]);
  int64_t n = 0;
  double *mom = st == SCH_OK ? get_array(s->file, name, H5T_NATIVE_DOUBLE,
                                         sizeof(double), &n)
                             : NULL;
  if (mom && done > 0)
    memcpy(res->moments + (int64_t)pm * nb * 2, mom,
           (size_t)done * 2 * sizeof(double));
  free(mom);
  if (st == SCH_OK && res->diff && res->diff[pm]) {
    snprintf(name, sizeof name, "/shard/point_%d/%s/diff/moments", p,
             res->names[m]);
    mom = get_array(s->file, name, H5T_NATIVE_DOUBLE, sizeof(double), &n);
    if (mom && done > 0)
      memcpy(res->diff_moments + (int64_t)pm * nb * 2, mom,
             (size_t)done * 2 * sizeof(double));
    free(mom);
  }
  return st;
}

static sch_status resume_samples(sch_results *res, const shard_file *s,
                                 int cap) {
  int64_t k = 0, k2 = 0;
  int32_t n_samples = 0;
  hid_t root = H5Gopen2(s->file, "/shard", H5P_DEFAULT);
  if (root >= 0) {
    get_attr(root, "n_samples", H5T_NATIVE_INT32, &n_samples);
    H5Gclose(root);
  }
  int64_t *idx = get_array(s->file, "/shard/sample_index", H5T_NATIVE_INT64,
                           sizeof(int64_t), &k);
  double *sf = get_array(s->file, "/shard/sample_shortfall", H5T_NATIVE_DOUBLE,
                         sizeof(double), &k2);
  k = n_samples < k ? n_samples : k; /* an empty list is stored as one slot */
  if (idx && sf)
    offer_in_path_order(res, cap, idx, sf, k);
  free(idx);
  free(sf);
  return SCH_OK;
}

sch_status sch_shard_resume(sch_results *res, const char *path,
                            const char *config, int shard, int shards,
                            sch_error *err) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  shard_file s = {.path = path, .file = -1};
  sch_status st = open_shard(&s, err);
  char *expected = config ? with_output_file(config, "") : NULL;
  int want_count = shards > 0 ? shards : 1;
  if (st == SCH_OK && strcmp(s.version, sch_version()) != 0)
    st = sch_fail(err, SCH_ERR_INPUT,
                  "%s: checkpoint of schelling %s, this is %s; refusing to "
                  "resume",
                  path, s.version, sch_version());
  else if (st == SCH_OK && (!expected || strcmp(expected, s.config) != 0))
    st = sch_fail(err, SCH_ERR_INPUT,
                  "%s: checkpoint of another configuration or seed; refusing "
                  "to resume",
                  path);
  else if (st == SCH_OK &&
           (s.index != shard || s.count != want_count ||
            s.block_begin != res->block_begin || s.block_end > res->block_end))
    st = sch_fail(err, SCH_ERR_INPUT,
                  "%s: checkpoint of shard %d/%d, this run is %d/%d; refusing "
                  "to resume",
                  path, s.index, s.count, shard, want_count);
  for (int p = 0; st == SCH_OK && p < res->n_points; p++)
    for (int m = 0; st == SCH_OK && m < res->n_metrics; m++)
      st = resume_series(res, &s, p, m, err);
  if (st == SCH_OK) {
    st = resume_samples(res, &s, res->sample_cap);
    res->block_next = s.block_end;
  }
  free(expected);
  free(s.config);
  if (s.file >= 0)
    H5Fclose(s.file);
  return st;
}
