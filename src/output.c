/*
 * The HDF5 result file (DESIGN.md section 6, docs/output.md).
 *
 * Everything is written into `.<basename>.tmp.<pid>` next to the final name
 * and renamed on commit, so a failed run never leaves a half-written file
 * under the final name. HDF5's own error printing is switched off; failures
 * become one line naming the object and HDF5's innermost reason. Every id a
 * function opens is closed before it returns, except the /paths datasets,
 * which stay open while blocks stream in and are closed by commit or abort.
 */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "schelling/output.h"

/* Chunk length along the path axis of /paths/<metric>. */
#define PATH_CHUNK 65536

struct sch_h5_writer {
  hid_t file;
  bool force;
  char *final_path;
  char *tmp_path;
  int n_streams;   /* /paths/<metric> datasets */
  hid_t *streams;  /* open while blocks stream in */
  int n_points;    /* P of /paths */
  int64_t n_paths; /* N of /paths */
};

/* ---- errors ------------------------------------------------------------ */

typedef struct h5_reason {
  char *buf;
  size_t len;
} h5_reason;

static herr_t innermost_reason(unsigned n, const H5E_error2_t *e, void *data) {
  h5_reason *r = data;
  if (n == 0) /* walking upward, entry 0 is where HDF5 first noticed */
    snprintf(r->buf, r->len, "%s",
             e->desc && *e->desc ? e->desc : e->func_name);
  return 0;
}

/* One line: "HDF5: cannot <what> <name>: <innermost HDF5 reason>". */
static sch_status h5_fail(sch_error *err, const char *what, const char *name) {
  char reason[256] = "unknown HDF5 error";
  h5_reason r = {reason, sizeof reason};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_reason, &r);
  H5Eclear2(H5E_DEFAULT);
  for (char *c = reason; *c; c++)
    if (*c == '\n')
      *c = ' ';
  return sch_fail(err, SCH_ERR_RUNTIME, "HDF5: cannot %s %s: %s", what, name,
                  reason);
}

static void h5_quiet(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ---- thin wrappers (each closes what it opens) ------------------------- */

/* Groups remember link creation order so report lists metrics as written. */
static hid_t ordered_group_plist(void) {
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  if (gcpl >= 0 &&
      H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED |
                                           H5P_CRT_ORDER_INDEXED) < 0) {
    H5Pclose(gcpl);
    return -1;
  }
  return gcpl;
}

static hid_t create_group(hid_t parent, const char *name) {
  hid_t gcpl = ordered_group_plist();
  if (gcpl < 0)
    return -1;
  hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  return g;
}

static hid_t open_or_create_group(hid_t parent, const char *name) {
  htri_t exists = H5Lexists(parent, name, H5P_DEFAULT);
  if (exists < 0)
    return -1;
  return exists ? H5Gopen2(parent, name, H5P_DEFAULT)
                : create_group(parent, name);
}

static hid_t utf8_string_type(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0)
    return -1;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

static herr_t write_attr(hid_t obj, const char *name, hid_t file_type,
                         hid_t mem_type, int rank, const hsize_t *dims,
                         const void *value) {
  hid_t space =
      rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
  if (space < 0)
    return -1;
  hid_t attr =
      H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = attr < 0 ? -1 : H5Awrite(attr, mem_type, value);
  if (attr >= 0)
    H5Aclose(attr);
  H5Sclose(space);
  return st;
}

static herr_t write_string_attr(hid_t obj, const char *name,
                                const char *value) {
  hid_t t = utf8_string_type();
  if (t < 0)
    return -1;
  herr_t st = write_attr(obj, name, t, t, 0, NULL, &value);
  H5Tclose(t);
  return st;
}

static herr_t write_dataset(hid_t loc, const char *name, hid_t file_type,
                            hid_t mem_type, int rank, const hsize_t *dims,
                            const void *buf) {
  hid_t space =
      rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
  if (space < 0)
    return -1;
  hid_t d = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT);
  herr_t st =
      d < 0 ? -1 : H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  if (d >= 0)
    H5Dclose(d);
  H5Sclose(space);
  return st;
}

/* ---- open, commit, abort ----------------------------------------------- */

static char *path_part(const char *path, bool dir) {
  char *copy = strdup(path);
  if (!copy)
    return NULL;
  char *part = strdup(dir ? dirname(copy) : basename(copy));
  free(copy);
  return part;
}

static sch_status check_destination(const char *final_path, bool force,
                                    const char *dir, sch_error *err) {
  struct stat st;
  if (stat(final_path, &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return sch_fail(err, SCH_ERR_INPUT, "%s is a directory", final_path);
    if (!force)
      return sch_fail(err, SCH_ERR_INPUT, "%s exists; use --force to overwrite",
                      final_path);
  }
  if (stat(dir, &st) != 0)
    return sch_fail(err, SCH_ERR_RUNTIME, "cannot write to %s: %s", dir,
                    strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return sch_fail(err, SCH_ERR_RUNTIME, "cannot write to %s: not a directory",
                    dir);
  if (access(dir, W_OK | X_OK) != 0)
    return sch_fail(err, SCH_ERR_RUNTIME, "cannot write to directory %s: %s",
                    dir, strerror(errno));
  return SCH_OK;
}

/* `.<base>.tmp.<pid>`, or `.<base>.tmp` for a file only one process of a
 * job writes (see sch_h5_open_owned). */
static char *temp_name(const char *dir, const char *base, bool owned) {
  size_t len = strlen(dir) + strlen(base) + 64;
  char *tmp = malloc(len);
  if (tmp && owned)
    snprintf(tmp, len, "%s/.%s.tmp", dir, base);
  else if (tmp)
    snprintf(tmp, len, "%s/.%s.tmp.%ld", dir, base, (long)getpid());
  return tmp;
}

static void writer_free(sch_h5_writer *w) {
  free(w->streams);
  free(w->final_path);
  free(w->tmp_path);
  free(w);
}

static hid_t create_file(const char *tmp_path) {
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  if (fcpl < 0)
    return -1;
  hid_t file = -1;
  if (H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED |
                                           H5P_CRT_ORDER_INDEXED) >= 0)
    file = H5Fcreate(tmp_path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  H5Pclose(fcpl);
  return file;
}

static sch_status open_writer(const char *final_path, bool force, bool owned,
                              sch_h5_writer **out, sch_error *err) {
  *out = NULL;
  h5_quiet();
  if (!final_path || !*final_path)
    return sch_fail(err, SCH_ERR_INPUT, "no output file name");
  char *dir = path_part(final_path, true);
  char *base = path_part(final_path, false);
  sch_h5_writer *w = calloc(1, sizeof *w);
  sch_status st = SCH_OK;
  if (!dir || !base || !w) {
    st = sch_fail(err, SCH_ERR_RUNTIME, "out of memory opening %s", final_path);
    goto done;
  }
  w->file = -1;
  w->force = force;
  st = check_destination(final_path, force, dir, err);
  if (st != SCH_OK)
    goto done;
  w->final_path = strdup(final_path);
  w->tmp_path = temp_name(dir, base, owned);
  if (!w->final_path || !w->tmp_path) {
    st = sch_fail(err, SCH_ERR_RUNTIME, "out of memory opening %s", final_path);
    goto done;
  }
  w->file = create_file(w->tmp_path);
  if (w->file < 0)
    st = h5_fail(err, "create", w->tmp_path);
done:
  free(dir);
  free(base);
  if (st != SCH_OK && w)
    writer_free(w);
  else
    *out = w;
  return st;
}

sch_status sch_h5_open(const char *final_path, bool force, sch_h5_writer **out,
                       sch_error *err) {
  return open_writer(final_path, force, false, out, err);
}

sch_status sch_h5_open_owned(const char *final_path, sch_h5_writer **out,
                             sch_error *err) {
  return open_writer(final_path, true, true, out, err);
}

void sch_h5_remove_owned(const char *final_path) {
  char *dir = path_part(final_path, true);
  char *base = path_part(final_path, false);
  char *tmp = dir && base ? temp_name(dir, base, true) : NULL;
  unlink(final_path);
  if (tmp)
    unlink(tmp);
  free(tmp);
  free(dir);
  free(base);
}

static void close_streams(sch_h5_writer *w) {
  for (int i = 0; i < w->n_streams; i++)
    if (w->streams[i] >= 0)
      H5Dclose(w->streams[i]);
  w->n_streams = 0;
}

/* Flush the closed temporary file to disk before it takes the final name. */
static void sync_file(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/*
 * Without --force, link() publishes the file only if the final name is still
 * free (another process may have taken it during the run); rename() would
 * silently replace it. Filesystems without hard links fall back to rename().
 */
static sch_status publish(const sch_h5_writer *w, sch_error *err) {
  if (!w->force) {
    if (link(w->tmp_path, w->final_path) == 0) {
      unlink(w->tmp_path);
      return SCH_OK;
    }
    if (errno == EEXIST)
      return sch_fail(err, SCH_ERR_RUNTIME,
                      "%s appeared during the run; result kept in %s",
                      w->final_path, w->tmp_path);
  }
  if (rename(w->tmp_path, w->final_path) != 0) {
    int e = errno;
    unlink(w->tmp_path);
    return sch_fail(err, SCH_ERR_RUNTIME, "cannot rename %s to %s: %s",
                    w->tmp_path, w->final_path, strerror(e));
  }
  return SCH_OK;
}

sch_status sch_h5_commit(sch_h5_writer **wp, sch_error *err) {
  sch_h5_writer *w = wp ? *wp : NULL;
  if (!w)
    return sch_fail(err, SCH_ERR_RUNTIME, "no result file is open");
  *wp = NULL;
  close_streams(w);
  sch_status st = SCH_OK;
  if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0)
    st = h5_fail(err, "flush", w->tmp_path);
  if (H5Fclose(w->file) < 0 && st == SCH_OK)
    st = h5_fail(err, "close", w->tmp_path);
  if (st == SCH_OK) {
    sync_file(w->tmp_path);
    st = publish(w, err);
  } else {
    unlink(w->tmp_path);
  }
  writer_free(w);
  return st;
}

void sch_h5_abort(sch_h5_writer **wp) {
  sch_h5_writer *w = wp ? *wp : NULL;
  if (!w)
    return;
  *wp = NULL;
  close_streams(w);
  if (w->file >= 0)
    H5Fclose(w->file);
  H5Eclear2(H5E_DEFAULT);
  unlink(w->tmp_path);
  writer_free(w);
}

/* ---- root attributes and /config --------------------------------------- */

static void utc_now(char *buf, size_t len) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

sch_status sch_h5_write_run_info(sch_h5_writer *w, const sch_run_info *info,
                                 sch_error *err) {
  char now[32];
  utc_now(now, sizeof now);
  const char *version =
      info->schelling_version ? info->schelling_version : sch_version();
  const char *created = info->created_utc ? info->created_utc : now;
  int32_t threads = info->threads, ranks = info->ranks;
  hid_t root = w->file;
  const char *name = "schelling_version";
  herr_t st = write_string_attr(root, name, version);
  if (st >= 0)
    st = write_string_attr(root, name = "created_utc", created);
  if (st >= 0)
    st = write_attr(root, name = "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, 0,
                    NULL, &info->seed);
  if (st >= 0)
    st = write_attr(root, name = "paths", H5T_STD_I64LE, H5T_NATIVE_INT64, 0,
                    NULL, &info->paths);
  if (st >= 0)
    st = write_attr(root, name = "steps", H5T_STD_I64LE, H5T_NATIVE_INT64, 0,
                    NULL, &info->steps);
  if (st >= 0)
    st = write_attr(root, name = "dt_seconds", H5T_IEEE_F64LE,
                    H5T_NATIVE_DOUBLE, 0, NULL, &info->dt_seconds);
  if (st >= 0)
    st = write_attr(root, name = "threads", H5T_STD_I32LE, H5T_NATIVE_INT32, 0,
                    NULL, &threads);
  if (st >= 0)
    st = write_attr(root, name = "ranks", H5T_STD_I32LE, H5T_NATIVE_INT32, 0,
                    NULL, &ranks);
  return st < 0 ? h5_fail(err, "write root attribute", name) : SCH_OK;
}

sch_status sch_h5_write_config(sch_h5_writer *w, const char *yaml,
                               sch_error *err) {
  const char *text = yaml ? yaml : "";
  hid_t t = utf8_string_type();
  herr_t st =
      t < 0 ? -1 : write_dataset(w->file, "config", t, t, 0, NULL, &text);
  if (t >= 0)
    H5Tclose(t);
  return st < 0 ? h5_fail(err, "write", "/config") : SCH_OK;
}

/* ---- /summary and /hist ------------------------------------------------ */

static sch_status check_metric_name(const char *metric, sch_error *err) {
  if (!metric || !*metric || strchr(metric, '/') || !strcmp(metric, ".") ||
      !strcmp(metric, ".."))
    return sch_fail(err, SCH_ERR_RUNTIME, "bad metric name \"%s\"",
                    metric ? metric : "(null)");
  return SCH_OK;
}

static sch_status check_points_agree(const char *metric, int n_points,
                                     const sch_summary *s, sch_error *err) {
  for (int p = 1; p < n_points; p++) {
    bool same = s[p].n_levels == s[0].n_levels && s[p].n_bins == s[0].n_bins;
    for (int l = 0; same && l < s[0].n_levels; l++)
      same = s[p].level[l] == s[0].level[l];
    if (!same)
      return sch_fail(err, SCH_ERR_RUNTIME,
                      "metric %s: sweep point %d has other levels or "
                      "histogram bins than point 0",
                      metric, p);
  }
  return SCH_OK;
}

/* One per-point figure: a double field, indexed by level for the arrays. */
typedef struct stat_field {
  const char *prefix; /* dataset name: prefix, level name, suffix */
  const char *suffix;
  size_t offset;
} stat_field;

static const stat_field head_fields[] = {
    {"mean", "", offsetof(sch_summary, mean)},
    {"stderr", "", offsetof(sch_summary, std_error)},
    {"std", "", offsetof(sch_summary, std)},
    {"p_positive", "", offsetof(sch_summary, p_positive)},
};

static const stat_field level_fields[] = {
    {"var_", "", offsetof(sch_summary, var)},
    {"var_", "_lo", offsetof(sch_summary, var_lo)},
    {"var_", "_hi", offsetof(sch_summary, var_hi)},
    {"es_", "", offsetof(sch_summary, es)},
    {"es_", "_lo", offsetof(sch_summary, es_lo)},
    {"es_", "_hi", offsetof(sch_summary, es_hi)},
};

static const stat_field max_field = {"max", "", offsetof(sch_summary, max)};

static double field_value(const sch_summary *s, size_t offset, int level) {
  const double *base = (const double *)((const char *)s + offset);
  return base[level];
}

static herr_t write_field(hid_t g, const char *name, int n_points,
                          const sch_summary *s, size_t offset, int level,
                          double *column) {
  for (int p = 0; p < n_points; p++)
    column[p] = field_value(&s[p], offset, level);
  hsize_t dims[1] = {(hsize_t)n_points};
  return write_dataset(g, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims,
                       column);
}

/* Datasets in this order: n, head fields, per level, max (docs/output.md). */
static herr_t write_summary_datasets(hid_t g, int n_points,
                                     const sch_summary *s, char *failed,
                                     size_t failed_len) {
  double *column = malloc((size_t)n_points * sizeof *column);
  int64_t *counts = malloc((size_t)n_points * sizeof *counts);
  herr_t st = column && counts ? 0 : -1;
  snprintf(failed, failed_len, "n");
  for (int p = 0; st >= 0 && p < n_points; p++)
    counts[p] = s[p].n;
  hsize_t dims[1] = {(hsize_t)n_points};
  if (st >= 0)
    st =
        write_dataset(g, "n", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, counts);
  for (size_t f = 0; st >= 0 && f < sizeof head_fields / sizeof *head_fields;
       f++) {
    snprintf(failed, failed_len, "%s", head_fields[f].prefix);
    st = write_field(g, failed, n_points, s, head_fields[f].offset, 0, column);
  }
  for (int l = 0; st >= 0 && l < s[0].n_levels; l++) {
    char lvl[16];
    sch_level_name(s[0].level[l], lvl, sizeof lvl);
    for (size_t f = 0;
         st >= 0 && f < sizeof level_fields / sizeof *level_fields; f++) {
      snprintf(failed, failed_len, "%s%s%s", level_fields[f].prefix, lvl,
               level_fields[f].suffix);
      st = write_field(g, failed, n_points, s, level_fields[f].offset, l,
                       column);
    }
  }
  if (st >= 0) {
    snprintf(failed, failed_len, "%s", max_field.prefix);
    st = write_field(g, failed, n_points, s, max_field.offset, 0, column);
  }
  if (st >= 0 && s[0].n_levels > 0) {
    snprintf(failed, failed_len, "levels (attribute)");
    hsize_t nl[1] = {(hsize_t)s[0].n_levels};
    st = write_attr(g, "levels", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, nl,
                    s[0].level);
  }
  free(column);
  free(counts);
  return st;
}

static herr_t write_hist_datasets(hid_t g, int n_points, const sch_summary *s) {
  int bins = s[0].n_bins;
  uint64_t *counts = malloc((size_t)n_points * (size_t)bins * sizeof *counts);
  if (!counts)
    return -1;
  for (int p = 0; p < n_points; p++)
    for (int b = 0; b < bins; b++)
      counts[(size_t)p * (size_t)bins + (size_t)b] =
          s[p].counts ? s[p].counts[b] : 0;
  hsize_t cdims[2] = {(hsize_t)n_points, (hsize_t)bins};
  hsize_t edims[1] = {(hsize_t)bins + 1};
  herr_t st = write_dataset(g, "counts", H5T_STD_U64LE, H5T_NATIVE_UINT64, 2,
                            cdims, counts);
  if (st >= 0 && s[0].edges)
    st = write_dataset(g, "edges", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, edims,
                       s[0].edges);
  free(counts);
  return st;
}

/* Create /<top>/<metric> (a fresh group: a metric is written once). */
static hid_t metric_group(hid_t file, const char *top, const char *metric) {
  hid_t parent = open_or_create_group(file, top);
  if (parent < 0)
    return -1;
  hid_t g = create_group(parent, metric);
  H5Gclose(parent);
  return g;
}

sch_status sch_h5_write_summary(sch_h5_writer *w, const char *metric,
                                int n_points, const sch_summary *summary,
                                sch_error *err) {
  sch_status st = check_metric_name(metric, err);
  if (st != SCH_OK)
    return st;
  if (n_points < 1 || !summary)
    return sch_fail(err, SCH_ERR_RUNTIME, "metric %s: no sweep points", metric);
  st = check_points_agree(metric, n_points, summary, err);
  if (st != SCH_OK)
    return st;
  char name[512], failed[64];
  snprintf(name, sizeof name, "/summary/%s", metric);
  hid_t g = metric_group(w->file, "summary", metric);
  if (g < 0)
    return h5_fail(err, "create", name);
  herr_t hst =
      write_summary_datasets(g, n_points, summary, failed, sizeof failed);
  H5Gclose(g);
  if (hst < 0) {
    snprintf(name, sizeof name, "/summary/%s/%s", metric, failed);
    return h5_fail(err, "write", name);
  }
  snprintf(name, sizeof name, "/hist/%s", metric);
  g = metric_group(w->file, "hist", metric);
  if (g < 0)
    return h5_fail(err, "create", name);
  hst = write_hist_datasets(g, n_points, summary);
  H5Gclose(g);
  return hst < 0 ? h5_fail(err, "write", name) : SCH_OK;
}

/* ---- /sweep and /frontier ---------------------------------------------- */

static bool all_numeric(const sch_sweep *sw, int k) {
  for (int p = 0; p < sw->n_points; p++)
    if (isnan(sw->numeric[(size_t)p * (size_t)sw->n_keys + (size_t)k]))
      return false;
  return true;
}

static herr_t write_sweep_key(hid_t g, const sch_sweep *sw, int k) {
  size_t n = (size_t)sw->n_points;
  hsize_t dims[1] = {(hsize_t)n};
  bool numeric = all_numeric(sw, k);
  double *real = numeric ? malloc(n * sizeof *real) : NULL;
  const char **text = numeric ? NULL : malloc(n * sizeof *text);
  if (!real && !text)
    return -1;
  for (size_t p = 0; p < n; p++) {
    size_t i = p * (size_t)sw->n_keys + (size_t)k;
    if (numeric)
      real[p] = sw->numeric[i];
    else
      text[p] = sw->values[i];
  }
  herr_t st;
  if (numeric) {
    st = write_dataset(g, sw->keys[k], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1,
                       dims, real);
  } else {
    hid_t t = utf8_string_type();
    st = t < 0 ? -1 : write_dataset(g, sw->keys[k], t, t, 1, dims, text);
    if (t >= 0)
      H5Tclose(t);
  }
  free(real);
  free(text);
  return st;
}

sch_status sch_h5_write_sweep(sch_h5_writer *w, const sch_sweep *sweep,
                              sch_error *err) {
  if (sweep->n_keys == 0)
    return SCH_OK;
  for (int k = 0; k < sweep->n_keys; k++) {
    sch_status st = check_metric_name(sweep->keys[k], err);
    if (st != SCH_OK)
      return st;
  }
  hid_t g = create_group(w->file, "sweep");
  if (g < 0)
    return h5_fail(err, "create", "/sweep");
  int32_t baseline = sweep->baseline;
  herr_t st = write_attr(g, "baseline", H5T_STD_I32LE, H5T_NATIVE_INT32, 0,
                         NULL, &baseline);
  int k = 0;
  for (; st >= 0 && k < sweep->n_keys; k++)
    st = write_sweep_key(g, sweep, k);
  H5Gclose(g);
  if (st < 0) {
    char name[SCH_SWEEP_KEY_MAX + 16];
    snprintf(name, sizeof name, "/sweep/%s", k ? sweep->keys[k - 1] : "");
    return h5_fail(err, "write", name);
  }
  return SCH_OK;
}

sch_status sch_h5_write_frontier(sch_h5_writer *w, int n_points,
                                 const uint8_t *mask, const char *tail,
                                 const char *cost, sch_error *err) {
  hsize_t dims[1] = {(hsize_t)n_points};
  herr_t st = write_dataset(w->file, "frontier", H5T_STD_U8LE, H5T_NATIVE_UINT8,
                            1, dims, mask);
  hid_t d = st >= 0 ? H5Dopen2(w->file, "frontier", H5P_DEFAULT) : -1;
  if (d >= 0) {
    st = write_string_attr(d, "tail", tail);
    if (st >= 0)
      st = write_string_attr(d, "cost", cost);
    H5Dclose(d);
  }
  return st < 0 || d < 0 ? h5_fail(err, "write", "/frontier") : SCH_OK;
}

/* ---- /size ------------------------------------------------------------- */

static herr_t write_size_attrs(hid_t g, const char *param, const char *target,
                               const char *outcome, const double answer[3]) {
  static const char *const names[] = {"answer", "answer_lo", "answer_hi"};
  herr_t st = write_string_attr(g, "param", param);
  if (st >= 0)
    st = write_string_attr(g, "target", target);
  if (st >= 0)
    st = write_string_attr(g, "outcome", outcome);
  for (int i = 0; st >= 0 && i < 3; i++)
    st = write_attr(g, names[i], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL,
                    &answer[i]);
  return st;
}

sch_status sch_h5_write_size(sch_h5_writer *w, const char *param,
                             const char *target, const char *outcome,
                             const double answer[3], int n_evals,
                             const double *value, const double *statistic,
                             const double *lo, const double *hi,
                             sch_error *err) {
  hid_t g = create_group(w->file, "size");
  if (g < 0)
    return h5_fail(err, "create", "/size");
  herr_t st = write_size_attrs(g, param, target, outcome, answer);
  hid_t e = st >= 0 ? create_group(g, "evaluations") : -1;
  const double *columns[] = {value, statistic, lo, hi};
  static const char *const names[] = {"value", "statistic", "lo", "hi"};
  hsize_t dims[1] = {(hsize_t)n_evals};
  st = e < 0 ? -1 : st;
  for (int i = 0; st >= 0 && i < 4; i++)
    st = write_dataset(e, names[i], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims,
                       columns[i]);
  if (e >= 0)
    H5Gclose(e);
  H5Gclose(g);
  return st < 0 ? h5_fail(err, "write", "/size") : SCH_OK;
}

/* ---- /paths ------------------------------------------------------------ */

/* Chunked [P, N] float64, unwritten paths read as NaN. */
static hid_t create_path_dataset(hid_t g, const char *name, int n_points,
                                 int64_t n_paths) {
  hsize_t dims[2] = {(hsize_t)n_points, (hsize_t)n_paths};
  hid_t space = H5Screate_simple(2, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t d = -1;
  double fill = (double)NAN;
  if (space >= 0 && dcpl >= 0 &&
      H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &fill) >= 0) {
    hsize_t chunk[2] = {1,
                        (hsize_t)(n_paths < PATH_CHUNK ? n_paths : PATH_CHUNK)};
    if (n_points == 0 || n_paths == 0 || H5Pset_chunk(dcpl, 2, chunk) >= 0)
      d = H5Dcreate2(g, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl,
                     H5P_DEFAULT);
  }
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (space >= 0)
    H5Sclose(space);
  return d;
}

sch_status sch_h5_create_paths(sch_h5_writer *w, int n_metrics,
                               const char *const *metrics, int n_points,
                               int64_t n_paths, sch_error *err) {
  if (w->streams)
    return sch_fail(err, SCH_ERR_RUNTIME, "/paths was already created");
  if (n_metrics < 0 || n_points < 0 || n_paths < 0)
    return sch_fail(err, SCH_ERR_RUNTIME, "/paths: negative size");
  for (int m = 0; m < n_metrics; m++) {
    sch_status st = check_metric_name(metrics[m], err);
    if (st != SCH_OK)
      return st;
  }
  w->streams = malloc(((size_t)n_metrics + 1) * sizeof *w->streams);
  if (!w->streams)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory for /paths");
  w->n_points = n_points;
  w->n_paths = n_paths;
  hid_t g = open_or_create_group(w->file, "paths");
  if (g < 0)
    return h5_fail(err, "create", "/paths");
  for (int m = 0; m < n_metrics; m++) {
    hid_t d = create_path_dataset(g, metrics[m], n_points, n_paths);
    if (d < 0) {
      char name[512];
      snprintf(name, sizeof name, "/paths/%s", metrics[m]);
      H5Gclose(g);
      return h5_fail(err, "create", name);
    }
    w->streams[w->n_streams++] = d;
  }
  H5Gclose(g);
  return SCH_OK;
}

sch_status sch_h5_write_paths_block(sch_h5_writer *w, int metric, int point,
                                    int64_t first, int64_t n,
                                    const double *values, sch_error *err) {
  if (metric < 0 || metric >= w->n_streams || point < 0 ||
      point >= w->n_points || first < 0 || n < 0 || first > w->n_paths - n)
    return sch_fail(err, SCH_ERR_RUNTIME,
                    "/paths block out of range (metric %d, point %d, paths "
                    "%lld..%lld of %lld)",
                    metric, point, (long long)first, (long long)(first + n),
                    (long long)w->n_paths);
  if (n == 0)
    return SCH_OK;
  hid_t d = w->streams[metric];
  hsize_t start[2] = {(hsize_t)point, (hsize_t)first};
  hsize_t count[2] = {1, (hsize_t)n};
  hsize_t mdims[1] = {(hsize_t)n};
  hid_t fspace = H5Dget_space(d);
  hid_t mspace = H5Screate_simple(1, mdims, NULL);
  herr_t st = fspace < 0 || mspace < 0 ? -1 : 0;
  if (st >= 0)
    st = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
  if (st >= 0)
    st = H5Dwrite(d, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, values);
  if (mspace >= 0)
    H5Sclose(mspace);
  if (fspace >= 0)
    H5Sclose(fspace);
  return st < 0 ? h5_fail(err, "write a block of", "/paths") : SCH_OK;
}

/* ---- /samples ---------------------------------------------------------- */

static char *join_names(int n, const char *const *names) {
  size_t len = 1;
  for (int i = 0; i < n; i++)
    len += strlen(names[i]) + 1;
  char *s = malloc(len);
  if (!s)
    return NULL;
  s[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (i)
      strcat(s, ",");
    strcat(s, names[i]);
  }
  return s;
}

static herr_t write_sample_datasets(hid_t g, int k, int64_t n_times,
                                    int n_assets, const double *market,
                                    const double *fundamental,
                                    const int64_t *path_index,
                                    const double *shortfall) {
  hsize_t pdims[3] = {(hsize_t)k, (hsize_t)n_times, (hsize_t)n_assets};
  hsize_t kdims[1] = {(hsize_t)k};
  herr_t st = write_dataset(g, "price", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3,
                            pdims, market);
  if (st >= 0)
    st = write_dataset(g, "fundamental", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3,
                       pdims, fundamental);
  if (st >= 0)
    st = write_dataset(g, "path_index", H5T_STD_I64LE, H5T_NATIVE_INT64, 1,
                       kdims, path_index);
  if (st >= 0)
    st = write_dataset(g, "shortfall", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1,
                       kdims, shortfall);
  return st;
}

sch_status sch_h5_write_samples(sch_h5_writer *w, int k, int64_t n_times,
                                int n_assets, const char *const *asset_names,
                                const double *market, const double *fundamental,
                                const int64_t *path_index,
                                const double *shortfall, sch_error *err) {
  if (k < 0 || n_times < 0 || n_assets < 0)
    return sch_fail(err, SCH_ERR_RUNTIME, "/samples: negative size");
  char *assets = join_names(n_assets, asset_names);
  if (!assets)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory for /samples");
  hid_t g = create_group(w->file, "samples");
  herr_t st = g < 0 ? -1 : write_string_attr(g, "assets", assets);
  if (st >= 0 && k > 0)
    st = write_sample_datasets(g, k, n_times, n_assets, market, fundamental,
                               path_index, shortfall);
  if (g >= 0)
    H5Gclose(g);
  free(assets);
  return st < 0 ? h5_fail(err, "write", "/samples") : SCH_OK;
}

/* ---- /diff ---------------------------------------------------------------- */

/* One [P] float64 dataset per figure of a paired difference. */
static herr_t write_diff_datasets(hid_t g, int n_points, const sch_diff *d) {
  hsize_t dims[1] = {(hsize_t)n_points};
  double *v = malloc((size_t)n_points * sizeof(double));
  if (!v)
    return -1;
  herr_t st = 0;
#define DIFF_FIELD(name, expr)                                                 \
  do {                                                                         \
    for (int p = 0; p < n_points; p++)                                         \
      v[p] = d[p].expr;                                                        \
    if (st >= 0)                                                               \
      st = write_dataset(g, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims,  \
                         v);                                                   \
  } while (0)
  DIFF_FIELD("mean", mean);
  DIFF_FIELD("stderr", std_error);
  for (int l = 0; l < d[0].n_levels && st >= 0; l++) {
    char lvl[16], name[48];
    sch_level_name(d[0].level[l], lvl, sizeof lvl);
    snprintf(name, sizeof name, "var_%s", lvl);
    DIFF_FIELD(name, var[l]);
    snprintf(name, sizeof name, "var_%s_lo", lvl);
    DIFF_FIELD(name, var_lo[l]);
    snprintf(name, sizeof name, "var_%s_hi", lvl);
    DIFF_FIELD(name, var_hi[l]);
    snprintf(name, sizeof name, "es_%s", lvl);
    DIFF_FIELD(name, es[l]);
    snprintf(name, sizeof name, "es_%s_lo", lvl);
    DIFF_FIELD(name, es_lo[l]);
    snprintf(name, sizeof name, "es_%s_hi", lvl);
    DIFF_FIELD(name, es_hi[l]);
  }
#undef DIFF_FIELD
  free(v);
  return st;
}

sch_status sch_h5_write_diff(sch_h5_writer *w, const char *metric,
                             int n_points, const sch_diff *diff,
                             sch_error *err) {
  sch_status st = check_metric_name(metric, err);
  if (st != SCH_OK)
    return st;
  char name[512];
  snprintf(name, sizeof name, "/diff/%s", metric);
  hid_t g = metric_group(w->file, "diff", metric);
  if (g < 0)
    return h5_fail(err, "create", name);
  herr_t hst = write_diff_datasets(g, n_points, diff);
  H5Gclose(g);
  return hst < 0 ? h5_fail(err, "write", name) : SCH_OK;
}

int64_t sch_h5_file_id(sch_h5_writer *w) { return (int64_t)w->file; }
