/*
 * `schelling report`: the summary of a result file as an aligned table or as
 * JSON (docs/output.md). The file is read whole into a small in-memory model
 * first (root attributes, then every /summary/<metric>/<stat> dataset in
 * creation order), then printed.
 */
#include <errno.h>
#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "schelling/output.h"

/* One /summary/<metric>/<stat> dataset, [P] values. */
typedef struct stat_column {
  char *name;
  bool is_integer;
  double *real;   /* [P] when !is_integer */
  int64_t *whole; /* [P] when is_integer */
} stat_column;

typedef struct metric_summary {
  char *name;
  int n_stats;
  stat_column *stats;
} metric_summary;

typedef struct result_file {
  char *version;
  char *created;
  bool has_seed, has_paths, has_steps, has_dt, has_threads, has_ranks;
  uint64_t seed;
  int64_t paths, steps;
  double dt;
  int32_t threads, ranks;
  int n_points;
  int n_metrics;
  metric_summary *metrics;
} result_file;

/* ---- reading ----------------------------------------------------------- */

static char *read_string_attr(hid_t obj, const char *name) {
  if (H5Aexists(obj, name) <= 0)
    return NULL;
  hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t ftype = attr >= 0 ? H5Aget_type(attr) : -1;
  hid_t mtype = H5Tcopy(H5T_C_S1);
  char *text = NULL;
  if (ftype >= 0 && mtype >= 0 && H5Tget_class(ftype) == H5T_STRING) {
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    if (H5Tis_variable_str(ftype) > 0) {
      char *vlen = NULL;
      H5Tset_size(mtype, H5T_VARIABLE);
      if (H5Aread(attr, mtype, &vlen) >= 0 && vlen)
        text = strdup(vlen);
      H5free_memory(vlen);
    } else {
      size_t size = H5Tget_size(ftype);
      text = calloc(size + 1, 1);
      H5Tset_size(mtype, size + 1);
      if (text && H5Aread(attr, mtype, text) < 0) {
        free(text);
        text = NULL;
      }
    }
  }
  if (mtype >= 0)
    H5Tclose(mtype);
  if (ftype >= 0)
    H5Tclose(ftype);
  if (attr >= 0)
    H5Aclose(attr);
  return text;
}

static bool read_attr(hid_t obj, const char *name, hid_t mem_type,
                      void *value) {
  if (H5Aexists(obj, name) <= 0)
    return false;
  hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
  bool ok = attr >= 0 && H5Aread(attr, mem_type, value) >= 0;
  if (attr >= 0)
    H5Aclose(attr);
  return ok;
}

static void read_run_info(hid_t file, result_file *r) {
  r->created = read_string_attr(file, "created_utc");
  r->has_seed = read_attr(file, "seed", H5T_NATIVE_UINT64, &r->seed);
  r->has_paths = read_attr(file, "paths", H5T_NATIVE_INT64, &r->paths);
  r->has_steps = read_attr(file, "steps", H5T_NATIVE_INT64, &r->steps);
  r->has_dt = read_attr(file, "dt_seconds", H5T_NATIVE_DOUBLE, &r->dt);
  r->has_threads = read_attr(file, "threads", H5T_NATIVE_INT32, &r->threads);
  r->has_ranks = read_attr(file, "ranks", H5T_NATIVE_INT32, &r->ranks);
}

/* Creation order where the group tracks it (schelling files), else names. */
static H5_index_t link_index(hid_t g) {
  hid_t gcpl = H5Gget_create_plist(g);
  unsigned flags = 0;
  if (gcpl >= 0) {
    if (H5Pget_link_creation_order(gcpl, &flags) < 0)
      flags = 0;
    H5Pclose(gcpl);
  }
  return (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
}

static char *link_name(hid_t g, H5_index_t index, hsize_t i) {
  ssize_t len =
      H5Lget_name_by_idx(g, ".", index, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
  if (len < 0)
    return NULL;
  char *name = malloc((size_t)len + 1);
  if (name && H5Lget_name_by_idx(g, ".", index, H5_ITER_INC, i, name,
                                 (size_t)len + 1, H5P_DEFAULT) < 0) {
    free(name);
    name = NULL;
  }
  return name;
}

static hsize_t link_count(hid_t g) {
  H5G_info_t info;
  return H5Gget_info(g, &info) < 0 ? 0 : info.nlinks;
}

/* Read a 1-D dataset of length P; false (and nothing kept) otherwise. */
static bool read_column(hid_t g, const char *name, int *n_points,
                        stat_column *col) {
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  if (d < 0)
    return false;
  hid_t space = H5Dget_space(d), type = H5Dget_type(d);
  hsize_t dims[1] = {0};
  bool ok = space >= 0 && type >= 0 && H5Sget_simple_extent_ndims(space) == 1;
  if (ok) {
    H5Sget_simple_extent_dims(space, dims, NULL);
    if (*n_points < 0)
      *n_points = (int)dims[0];
    ok = dims[0] == (hsize_t)*n_points;
  }
  if (ok) {
    col->is_integer = H5Tget_class(type) == H5T_INTEGER;
    size_t n = dims[0] ? dims[0] : 1;
    if (col->is_integer) {
      col->whole = malloc(n * sizeof *col->whole);
      ok = col->whole && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                                 H5P_DEFAULT, col->whole) >= 0;
    } else {
      col->real = malloc(n * sizeof *col->real);
      ok = col->real && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL,
                                H5P_DEFAULT, col->real) >= 0;
    }
    col->name = ok ? strdup(name) : NULL;
    ok = ok && col->name;
  }
  if (!ok) {
    free(col->whole);
    free(col->real);
    memset(col, 0, sizeof *col);
  }
  if (type >= 0)
    H5Tclose(type);
  if (space >= 0)
    H5Sclose(space);
  H5Dclose(d);
  return ok;
}

static void read_metric(hid_t summary, const char *name, int *n_points,
                        metric_summary *m) {
  m->name = strdup(name);
  hid_t g = H5Gopen2(summary, name, H5P_DEFAULT);
  if (g < 0)
    return;
  H5_index_t index = link_index(g);
  hsize_t n = link_count(g);
  m->stats = calloc(n ? n : 1, sizeof *m->stats);
  for (hsize_t i = 0; m->stats && i < n; i++) {
    char *stat = link_name(g, index, i);
    if (stat && read_column(g, stat, n_points, &m->stats[m->n_stats]))
      m->n_stats++;
    free(stat);
  }
  H5Gclose(g);
}

static void read_summaries(hid_t file, result_file *r) {
  r->n_points = -1;
  if (H5Lexists(file, "summary", H5P_DEFAULT) <= 0)
    return;
  hid_t summary = H5Gopen2(file, "summary", H5P_DEFAULT);
  if (summary < 0)
    return;
  H5_index_t index = link_index(summary);
  hsize_t n = link_count(summary);
  r->metrics = calloc(n ? n : 1, sizeof *r->metrics);
  for (hsize_t i = 0; r->metrics && i < n; i++) {
    char *name = link_name(summary, index, i);
    if (name)
      read_metric(summary, name, &r->n_points, &r->metrics[r->n_metrics++]);
    free(name);
  }
  H5Gclose(summary);
}

static void result_free(result_file *r) {
  for (int i = 0; i < r->n_metrics; i++) {
    metric_summary *m = &r->metrics[i];
    for (int s = 0; s < m->n_stats; s++) {
      free(m->stats[s].name);
      free(m->stats[s].real);
      free(m->stats[s].whole);
    }
    free(m->stats);
    free(m->name);
  }
  free(r->metrics);
  free(r->version);
  free(r->created);
}

static sch_status load(const char *path, result_file *r, sch_error *err) {
  struct stat st;
  if (stat(path, &st) != 0)
    return sch_fail(err, SCH_ERR_INPUT, "cannot open %s: %s", path,
                    strerror(errno));
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  if (S_ISDIR(st.st_mode) || H5Fis_hdf5(path) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return sch_fail(err, SCH_ERR_INPUT, "%s is not an HDF5 file", path);
  }
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) {
    H5Eclear2(H5E_DEFAULT);
    return sch_fail(err, SCH_ERR_INPUT, "cannot open %s as HDF5", path);
  }
  r->version = read_string_attr(file, "schelling_version");
  if (!r->version) {
    H5Fclose(file);
    H5Eclear2(H5E_DEFAULT);
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s is not a schelling result file (no schelling_version "
                    "attribute)",
                    path);
  }
  read_run_info(file, r);
  read_summaries(file, r);
  H5Fclose(file);
  H5Eclear2(H5E_DEFAULT);
  if (r->n_points < 0)
    r->n_points = 0;
  return SCH_OK;
}

/* ---- JSON -------------------------------------------------------------- */

static void json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(out, "\\%c", *c);
    else if (*c == '\n')
      fputs("\\n", out);
    else if (*c == '\t')
      fputs("\\t", out);
    else if (*c < 0x20)
      fprintf(out, "\\u%04x", *c);
    else
      fputc(*c, out);
  }
  fputc('"', out);
}

static void json_number(FILE *out, double x) {
  if (isfinite(x))
    fprintf(out, "%.17g", x);
  else
    fputs("null", out);
}

static void json_column(FILE *out, const stat_column *c, int n_points) {
  fputc('[', out);
  for (int p = 0; p < n_points; p++) {
    if (p)
      fputs(", ", out);
    if (c->is_integer)
      fprintf(out, "%" PRId64, c->whole[p]);
    else
      json_number(out, c->real[p]);
  }
  fputc(']', out);
}

static void json_header(FILE *out, const result_file *r) {
  fputs("{\n  \"schelling_version\": ", out);
  json_string(out, r->version);
  fputs(",\n  \"created_utc\": ", out);
  if (r->created)
    json_string(out, r->created);
  else
    fputs("null", out);
  fputs(",\n  \"seed\": ", out);
  if (r->has_seed)
    fprintf(out, "%" PRIu64, r->seed);
  else
    fputs("null", out);
  fputs(",\n  \"paths\": ", out);
  if (r->has_paths)
    fprintf(out, "%" PRId64, r->paths);
  else
    fputs("null", out);
  fputs(",\n  \"steps\": ", out);
  if (r->has_steps)
    fprintf(out, "%" PRId64, r->steps);
  else
    fputs("null", out);
  fputs(",\n  \"dt_seconds\": ", out);
  json_number(out, r->has_dt ? r->dt : (double)NAN);
  fprintf(out, ",\n  \"threads\": ");
  if (r->has_threads)
    fprintf(out, "%" PRId32, r->threads);
  else
    fputs("null", out);
  fprintf(out, ",\n  \"ranks\": ");
  if (r->has_ranks)
    fprintf(out, "%" PRId32, r->ranks);
  else
    fputs("null", out);
  fprintf(out, ",\n  \"points\": %d", r->n_points);
}

static void print_json(FILE *out, const result_file *r) {
  json_header(out, r);
  fputs(",\n  \"metrics\": {", out);
  for (int i = 0; i < r->n_metrics; i++) {
    const metric_summary *m = &r->metrics[i];
    fputs(i ? ",\n    " : "\n    ", out);
    json_string(out, m->name);
    fputs(": {", out);
    for (int s = 0; s < m->n_stats; s++) {
      fputs(s ? ",\n      " : "\n      ", out);
      json_string(out, m->stats[s].name);
      fputs(": ", out);
      json_column(out, &m->stats[s], r->n_points);
    }
    fputs(m->n_stats ? "\n    }" : "}", out);
  }
  fputs(r->n_metrics ? "\n  }\n}\n" : "}\n}\n", out);
}

/* ---- table ------------------------------------------------------------- */

/* Money-sized numbers with thousands separators, the rest as %.4g. */
static void format_number(double x, char *buf, size_t len) {
  if (isnan(x)) {
    snprintf(buf, len, "nan");
  } else if (isinf(x)) {
    snprintf(buf, len, x > 0 ? "inf" : "-inf");
  } else if (fabs(x) >= 1e4 && fabs(x) < 1e18) {
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", fabs(x));
    size_t n = strlen(digits), o = 0;
    if (x < 0 && o + 1 < len)
      buf[o++] = '-';
    for (size_t i = 0; i < n && o + 2 < len; i++) {
      if (i > 0 && (n - i) % 3 == 0)
        buf[o++] = ',';
      buf[o++] = digits[i];
    }
    buf[o] = '\0';
  } else {
    snprintf(buf, len, "%.4g", x);
  }
}

static const stat_column *find_stat(const metric_summary *m, const char *name) {
  for (int s = 0; s < m->n_stats; s++)
    if (!strcmp(m->stats[s].name, name))
      return &m->stats[s];
  return NULL;
}

static double stat_value(const metric_summary *m, const char *name, int p) {
  const stat_column *c = find_stat(m, name);
  if (!c)
    return (double)NAN;
  return c->is_integer ? (double)c->whole[p] : c->real[p];
}

/* A level present in the file: "var_<digits>" with no _lo/_hi suffix. */
static bool level_of(const char *stat, const char **digits) {
  if (strncmp(stat, "var_", 4) != 0)
    return false;
  const char *d = stat + 4;
  if (!*d || strspn(d, "0123456789") != strlen(d))
    return false;
  *digits = d;
  return true;
}

#define MAX_COLUMNS (4 + 2 * 32 + 2)
#define CELL 96

typedef struct table {
  int n_cols;
  int n_rows; /* including the header row */
  char (*cells)[MAX_COLUMNS][CELL];
} table;

static void collect_levels(const result_file *r, const char **levels,
                           int *n_levels) {
  *n_levels = 0;
  for (int i = 0; i < r->n_metrics; i++) {
    for (int s = 0; s < r->metrics[i].n_stats; s++) {
      const char *d;
      if (!level_of(r->metrics[i].stats[s].name, &d))
        continue;
      bool seen = false;
      for (int l = 0; l < *n_levels; l++)
        seen = seen || !strcmp(levels[l], d);
      if (!seen && *n_levels < 32)
        levels[(*n_levels)++] = d;
    }
  }
}

static void header_row(table *t, bool show_point, const char **levels,
                       int n_levels) {
  char(*row)[CELL] = t->cells[0];
  int c = 0;
  snprintf(row[c++], CELL, "metric");
  if (show_point)
    snprintf(row[c++], CELL, "point");
  snprintf(row[c++], CELL, "mean \u00b1 stderr");
  snprintf(row[c++], CELL, "std");
  snprintf(row[c++], CELL, "P(>0)");
  for (int l = 0; l < n_levels; l++) {
    snprintf(row[c++], CELL, "VaR %s", levels[l]);
    snprintf(row[c++], CELL, "ES %s", levels[l]);
  }
  snprintf(row[c++], CELL, "max");
  t->n_cols = c;
}

static void metric_row(char (*row)[CELL], const metric_summary *m, int p,
                       bool show_point, const char **levels, int n_levels) {
  char a[32], b[32];
  int c = 0;
  snprintf(row[c++], CELL, "%s", m->name);
  if (show_point)
    snprintf(row[c++], CELL, "%d", p);
  format_number(stat_value(m, "mean", p), a, sizeof a);
  format_number(stat_value(m, "stderr", p), b, sizeof b);
  snprintf(row[c++], CELL, "%s \u00b1 %s", a, b);
  format_number(stat_value(m, "std", p), row[c++], CELL);
  double pp = stat_value(m, "p_positive", p);
  snprintf(row[c++], CELL, isnan(pp) ? "nan" : "%.4g%%", pp * 100.0);
  for (int l = 0; l < n_levels; l++) {
    char name[48];
    snprintf(name, sizeof name, "var_%s", levels[l]);
    format_number(stat_value(m, name, p), row[c++], CELL);
    snprintf(name, sizeof name, "es_%s", levels[l]);
    format_number(stat_value(m, name, p), row[c++], CELL);
  }
  format_number(stat_value(m, "max", p), row[c++], CELL);
}

/* Display width: UTF-8 continuation bytes take no column. */
static int display_width(const char *s) {
  int w = 0;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    w += (*c & 0xc0) != 0x80;
  return w;
}

static void print_cell(FILE *out, const char *s, int width, bool left) {
  int pad = width - display_width(s);
  if (!left)
    fprintf(out, "%*s", pad > 0 ? pad : 0, "");
  fputs(s, out);
  if (left)
    fprintf(out, "%*s", pad > 0 ? pad : 0, "");
}

static void print_rows(FILE *out, const table *t) {
  int width[MAX_COLUMNS] = {0};
  for (int r = 0; r < t->n_rows; r++)
    for (int c = 0; c < t->n_cols; c++) {
      int w = display_width(t->cells[r][c]);
      width[c] = w > width[c] ? w : width[c];
    }
  for (int r = 0; r < t->n_rows; r++) {
    for (int c = 0; c < t->n_cols; c++) {
      if (c)
        fputs("  ", out);
      /* metric names left, numbers right */
      print_cell(out, t->cells[r][c], width[c], c == 0);
    }
    fputc('\n', out);
  }
}

/* "1440 x 60 s (24 h)": the grid and the horizon in a readable unit. */
static void print_horizon(FILE *out, int64_t steps, double dt) {
  double horizon = (double)steps * dt;
  fprintf(out, "%" PRId64 " x %g s", steps, dt);
  if (horizon >= 2.0 * 86400.0 && fmod(horizon, 86400.0) == 0.0)
    fprintf(out, " (%g d)", horizon / 86400.0);
  else if (horizon >= 3600.0)
    fprintf(out, " (%.4g h)", horizon / 3600.0);
  else if (horizon >= 60.0)
    fprintf(out, " (%.4g min)", horizon / 60.0);
}

static void print_header(FILE *out, const char *path, const result_file *r) {
  char paths[32] = "?";
  if (r->has_paths)
    format_number((double)r->paths, paths, sizeof paths);
  fprintf(out, "schelling %s result %s\n", r->version, path);
  fprintf(out, "created %s  seed ", r->created ? r->created : "?");
  if (r->has_seed)
    fprintf(out, "%" PRIu64, r->seed);
  else
    fputs("?", out);
  fprintf(out, "  paths %s  steps ", paths);
  if (r->has_steps && r->has_dt)
    print_horizon(out, r->steps, r->dt);
  else
    fputs("?", out);
  if (r->has_threads)
    fprintf(out, "  threads %" PRId32, r->threads);
  if (r->has_ranks)
    fprintf(out, "  ranks %" PRId32, r->ranks);
  fputs("\n\n", out);
}

static sch_status print_table(FILE *out, const char *path, const result_file *r,
                              sch_error *err) {
  print_header(out, path, r);
  if (r->n_metrics == 0) {
    fputs("(no metrics in /summary)\n", out);
    return SCH_OK;
  }
  const char *levels[32];
  int n_levels;
  collect_levels(r, levels, &n_levels);
  bool show_point = r->n_points > 1;
  table t = {0, 1 + r->n_metrics * r->n_points, NULL};
  t.cells = calloc((size_t)t.n_rows, sizeof *t.cells);
  if (!t.cells)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory for the report");
  header_row(&t, show_point, levels, n_levels);
  int row = 1;
  for (int i = 0; i < r->n_metrics; i++)
    for (int p = 0; p < r->n_points; p++)
      metric_row(t.cells[row++], &r->metrics[i], p, show_point, levels,
                 n_levels);
  print_rows(out, &t);
  free(t.cells);
  return SCH_OK;
}

sch_status sch_report(const char *path, bool json, FILE *out, sch_error *err) {
  result_file r;
  memset(&r, 0, sizeof r);
  sch_status st = load(path, &r, err);
  if (st == SCH_OK) {
    if (json)
      print_json(out, &r);
    else
      st = print_table(out, path, &r, err);
  }
  result_free(&r);
  if (st == SCH_OK && ferror(out))
    st = sch_fail(err, SCH_ERR_RUNTIME, "cannot write the report");
  return st;
}
