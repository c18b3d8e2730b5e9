/*
 * `schelling report`: the summary of a result file as an aligned table, CSV
 * or JSON (docs/output.md). The file is read whole into a small in-memory
 * model first (root attributes, every /summary/<metric>/<stat> and
 * /diff/<metric>/<stat> dataset in creation order, /sweep and /frontier),
 * then printed; the table is formatted twice (widths, then text), so memory
 * does not grow with the number of rows.
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

/* /sweep/<key>: the value of each point, as text and as a number. */
typedef struct sweep_column {
  char *key;
  bool numeric;
  double *number; /* [P] */
  char **text;    /* [P] */
} sweep_column;

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
  int n_diffs; /* /diff/<metric> groups */
  metric_summary *diffs;
  int n_keys; /* /sweep/<key> datasets */
  sweep_column *keys;
  int baseline;
  uint8_t *frontier; /* [P] or NULL */
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

/* /<top>/<metric>/<stat> datasets of length P. */
static void read_metric_groups(hid_t file, const char *top, int *n_points,
                               metric_summary **metrics, int *n_metrics) {
  if (H5Lexists(file, top, H5P_DEFAULT) <= 0)
    return;
  hid_t summary = H5Gopen2(file, top, H5P_DEFAULT);
  if (summary < 0)
    return;
  H5_index_t index = link_index(summary);
  hsize_t n = link_count(summary);
  *metrics = calloc(n ? n : 1, sizeof **metrics);
  for (hsize_t i = 0; *metrics && i < n; i++) {
    char *name = link_name(summary, index, i);
    if (name)
      read_metric(summary, name, n_points, &(*metrics)[(*n_metrics)++]);
    free(name);
  }
  H5Gclose(summary);
}

static void read_summaries(hid_t file, result_file *r) {
  r->n_points = -1;
  read_metric_groups(file, "summary", &r->n_points, &r->metrics, &r->n_metrics);
  read_metric_groups(file, "diff", &r->n_points, &r->diffs, &r->n_diffs);
}

/* Length of a 1-D dataset, or -1. */
static hssize_t dataset_length(hid_t d) {
  hid_t space = H5Dget_space(d);
  hssize_t n = -1;
  if (space >= 0 && H5Sget_simple_extent_ndims(space) == 1)
    n = H5Sget_simple_extent_npoints(space);
  if (space >= 0)
    H5Sclose(space);
  return n;
}

static bool read_sweep_text(hid_t d, sweep_column *c, size_t n) {
  hid_t t = H5Tcopy(H5T_C_S1);
  char **vlen = calloc(n, sizeof *vlen);
  bool ok = t >= 0 && vlen && H5Tset_size(t, H5T_VARIABLE) >= 0 &&
            H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, vlen) >= 0;
  for (size_t p = 0; ok && p < n; p++) {
    c->text[p] = strdup(vlen[p] ? vlen[p] : "");
    c->number[p] = (double)NAN;
  }
  if (ok) {
    hid_t space = H5Dget_space(d);
    H5Dvlen_reclaim(t, space, H5P_DEFAULT, vlen);
    H5Sclose(space);
  }
  free(vlen);
  if (t >= 0)
    H5Tclose(t);
  return ok;
}

/* Shortest text that reads back as the same double. */
static void shortest(double x, char *buf, size_t len) {
  for (int digits = 6; digits <= 17; digits++) {
    snprintf(buf, len, "%.*g", digits, x);
    if (strtod(buf, NULL) == x)
      return;
  }
}

static bool read_sweep_numbers(hid_t d, sweep_column *c, size_t n) {
  if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->number) <
      0)
    return false;
  for (size_t p = 0; p < n; p++) {
    char buf[32];
    shortest(c->number[p], buf, sizeof buf);
    c->text[p] = strdup(buf);
  }
  return true;
}

static void read_sweep_key(hid_t g, const char *key, result_file *r) {
  hid_t d = H5Dopen2(g, key, H5P_DEFAULT);
  if (d < 0)
    return;
  hssize_t n = dataset_length(d);
  hid_t type = H5Dget_type(d);
  sweep_column *c = &r->keys[r->n_keys];
  if (n > 0 && (r->n_points < 0 || n == r->n_points) && type >= 0) {
    r->n_points = (int)n;
    c->number = calloc((size_t)n, sizeof *c->number);
    c->text = calloc((size_t)n, sizeof *c->text);
    c->key = strdup(key);
    c->numeric = H5Tget_class(type) != H5T_STRING;
    bool ok = c->number && c->text && c->key &&
              (c->numeric ? read_sweep_numbers(d, c, (size_t)n)
                          : read_sweep_text(d, c, (size_t)n));
    r->n_keys++;
    if (!ok)
      c->numeric = false;
  }
  if (type >= 0)
    H5Tclose(type);
  H5Dclose(d);
}

static void read_sweep(hid_t file, result_file *r) {
  if (H5Lexists(file, "sweep", H5P_DEFAULT) <= 0)
    return;
  hid_t g = H5Gopen2(file, "sweep", H5P_DEFAULT);
  if (g < 0)
    return;
  int32_t baseline = 0;
  if (read_attr(g, "baseline", H5T_NATIVE_INT32, &baseline))
    r->baseline = baseline;
  H5_index_t index = link_index(g);
  hsize_t n = link_count(g);
  r->keys = calloc(n ? n : 1, sizeof *r->keys);
  for (hsize_t i = 0; r->keys && i < n; i++) {
    char *key = link_name(g, index, i);
    if (key)
      read_sweep_key(g, key, r);
    free(key);
  }
  H5Gclose(g);
}

static void read_frontier(hid_t file, result_file *r) {
  if (H5Lexists(file, "frontier", H5P_DEFAULT) <= 0)
    return;
  hid_t d = H5Dopen2(file, "frontier", H5P_DEFAULT);
  if (d < 0)
    return;
  hssize_t n = dataset_length(d);
  if (n > 0 && (r->n_points < 0 || n == r->n_points)) {
    r->n_points = (int)n;
    r->frontier = malloc((size_t)n);
    if (r->frontier && H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL,
                               H5P_DEFAULT, r->frontier) < 0) {
      free(r->frontier);
      r->frontier = NULL;
    }
  }
  H5Dclose(d);
}

static void metrics_free(metric_summary *metrics, int n) {
  for (int i = 0; i < n; i++) {
    metric_summary *m = &metrics[i];
    for (int s = 0; s < m->n_stats; s++) {
      free(m->stats[s].name);
      free(m->stats[s].real);
      free(m->stats[s].whole);
    }
    free(m->stats);
    free(m->name);
  }
  free(metrics);
}

static void result_free(result_file *r) {
  metrics_free(r->metrics, r->n_metrics);
  metrics_free(r->diffs, r->n_diffs);
  for (int k = 0; k < r->n_keys; k++) {
    for (int p = 0; r->keys[k].text && p < r->n_points; p++)
      free(r->keys[k].text[p]);
    free(r->keys[k].text);
    free(r->keys[k].number);
    free(r->keys[k].key);
  }
  free(r->keys);
  free(r->frontier);
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
  read_sweep(file, r);
  read_frontier(file, r);
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

static void json_metrics(FILE *out, const metric_summary *metrics, int n,
                         int n_points) {
  fputc('{', out);
  for (int i = 0; i < n; i++) {
    const metric_summary *m = &metrics[i];
    fputs(i ? ",\n    " : "\n    ", out);
    json_string(out, m->name);
    fputs(": {", out);
    for (int s = 0; s < m->n_stats; s++) {
      fputs(s ? ",\n      " : "\n      ", out);
      json_string(out, m->stats[s].name);
      fputs(": ", out);
      json_column(out, &m->stats[s], n_points);
    }
    fputs(m->n_stats ? "\n    }" : "}", out);
  }
  fputs(n ? "\n  }" : "}", out);
}

static void json_sweep(FILE *out, const result_file *r) {
  fprintf(out, ",\n  \"sweep\": {\"baseline\": %d, \"keys\": [", r->baseline);
  for (int k = 0; k < r->n_keys; k++) {
    fputs(k ? ", " : "", out);
    json_string(out, r->keys[k].key);
  }
  fputs("], \"values\": {", out);
  for (int k = 0; k < r->n_keys; k++) {
    const sweep_column *c = &r->keys[k];
    fputs(k ? ",\n    " : "\n    ", out);
    json_string(out, c->key);
    fputs(": [", out);
    for (int p = 0; p < r->n_points; p++) {
      fputs(p ? ", " : "", out);
      char buf[32];
      if (c->numeric && isfinite(c->number[p])) {
        shortest(c->number[p], buf, sizeof buf);
        fputs(buf, out);
      } else if (c->numeric) {
        fputs("null", out);
      } else
        json_string(out, c->text[p] ? c->text[p] : "");
    }
    fputc(']', out);
  }
  fputs(r->n_keys ? "\n  }}" : "}}", out);
}

/* ---- contagion (several protocols) -------------------------------------- */

static double stat_value(const metric_summary *m, const char *name, int p);

static const metric_summary *find_metric(const result_file *r,
                                         const char *name) {
  for (int m = 0; m < r->n_metrics; m++)
    if (!strcmp(r->metrics[m].name, name))
      return &r->metrics[m];
  return NULL;
}

/* One pair's figures at point p from /summary: P(A), P(B) are p_positive of
 * "<A>.shortfall", P(both) the mean of "joint_shortfall.<A>.<B>". */
typedef struct contagion_pair {
  char a[64], b[64];
  double p_a, p_b, p_both;
} contagion_pair;

static bool contagion_at(const result_file *r, const metric_summary *joint,
                         int p, contagion_pair *c) {
  static const char prefix[] = "joint_shortfall.";
  if (strncmp(joint->name, prefix, sizeof prefix - 1) != 0)
    return false; /* also keeps the pointer below inside shorter names */
  const char *names = joint->name + sizeof prefix - 1;
  const char *dot = strchr(names, '.');
  if (!dot || (size_t)(dot - names) >= sizeof c->a ||
      strlen(dot + 1) >= sizeof c->b)
    return false;
  snprintf(c->a, sizeof c->a, "%.*s", (int)(dot - names), names);
  snprintf(c->b, sizeof c->b, "%s", dot + 1);
  char name[160];
  snprintf(name, sizeof name, "%s.shortfall", c->a);
  const metric_summary *ma = find_metric(r, name);
  snprintf(name, sizeof name, "%s.shortfall", c->b);
  const metric_summary *mb = find_metric(r, name);
  if (!ma || !mb)
    return false;
  c->p_a = stat_value(ma, "p_positive", p);
  c->p_b = stat_value(mb, "p_positive", p);
  c->p_both = stat_value(joint, "mean", p);
  return true;
}

/* P(Y | X) and its binomial standard error over the N P(X) paths with X. */
static void conditional(double p_both, double p_x, int64_t n, double *q,
                        double *se) {
  /* the shares are counts over n: ratios of the counts, so that q is 1
   * exactly (and its error 0) when every path with X has Y */
  double n_x = nearbyint(p_x * (double)n);
  double n_both = nearbyint(p_both * (double)n);
  *q = n_x > 0 ? n_both / n_x : (double)NAN;
  double var = *q * (1.0 - *q);
  *se = n_x > 0 ? sqrt(var > 0.0 ? var / n_x : 0.0) : (double)NAN;
}

static void json_contagion(FILE *out, const result_file *r) {
  bool first = true;
  for (int m = 0; m < r->n_metrics; m++) {
    contagion_pair c;
    if (!contagion_at(r, &r->metrics[m], 0, &c))
      continue;
    fputs(first ? ",\n  \"contagion\": [" : ",", out);
    first = false;
    fputs("\n    {\"a\": ", out);
    json_string(out, c.a);
    fputs(", \"b\": ", out);
    json_string(out, c.b);
    const char *keys[] = {"p_a", "p_b", "p_both", "p_b_given_a",
                          "p_a_given_b"};
    for (int k = 0; k < 5; k++) {
      fprintf(out, ", \"%s\": [", keys[k]);
      for (int p = 0; p < r->n_points; p++) {
        contagion_at(r, &r->metrics[m], p, &c);
        double q, se, v[5] = {c.p_a, c.p_b, c.p_both, 0, 0};
        conditional(c.p_both, c.p_a, r->paths, &q, &se);
        v[3] = q;
        conditional(c.p_both, c.p_b, r->paths, &q, &se);
        v[4] = q;
        if (p)
          fputs(", ", out);
        json_number(out, v[k]);
      }
      fputc(']', out);
    }
    fputc('}', out);
  }
  if (!first)
    fputs("\n  ]", out);
}

static void print_contagion(FILE *out, const result_file *r) {
  bool first = true;
  for (int m = 0; m < r->n_metrics; m++)
    for (int p = 0; p < r->n_points; p++) {
      contagion_pair c;
      if (!contagion_at(r, &r->metrics[m], p, &c))
        break;
      if (first)
        fputs("\ncontagion: P(shortfall > 0), and conditional on the other "
              "protocol's (± binomial standard error)\n",
              out);
      first = false;
      double qb, seb, qa, sea;
      conditional(c.p_both, c.p_a, r->paths, &qb, &seb);
      conditional(c.p_both, c.p_b, r->paths, &qa, &sea);
      if (r->n_points > 1)
        fprintf(out, "  point %d:", p);
      fprintf(out,
              "  P(%s) = %.4g  P(%s) = %.4g  P(both) = %.4g  "
              "P(%s | %s) = %.4g ± %.2g  P(%s | %s) = %.4g ± %.2g\n",
              c.a, c.p_a, c.b, c.p_b, c.p_both, c.b, c.a, qb, seb, c.a, c.b,
              qa, sea);
    }
}

static void print_json(FILE *out, const result_file *r) {
  json_header(out, r);
  if (r->n_keys)
    json_sweep(out, r);
  fputs(",\n  \"metrics\": ", out);
  json_metrics(out, r->metrics, r->n_metrics, r->n_points);
  if (r->n_diffs) {
    fputs(",\n  \"diff\": ", out);
    json_metrics(out, r->diffs, r->n_diffs, r->n_points);
  }
  json_contagion(out, r);
  if (r->frontier) {
    fputs(",\n  \"frontier\": [", out);
    for (int p = 0; p < r->n_points; p++)
      fprintf(out, "%s%d", p ? ", " : "", r->frontier[p]);
    fputc(']', out);
  }
  fputs("\n}\n", out);
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

#define MAX_LEVELS 32
#define CELL 160

/* What one report prints: which metrics, which columns, which format. */
typedef struct layout {
  const result_file *r;
  const metric_summary *metrics; /* /summary, or /diff with --diff */
  int n_metrics;
  bool machine; /* CSV: one figure per column, round-trip numbers */
  bool diff;
  bool show_point;
  const char *levels[MAX_LEVELS];
  int n_levels;
  int n_cols;
} layout;

typedef char cell[CELL];

static void collect_levels(layout *L) {
  L->n_levels = 0;
  for (int i = 0; i < L->n_metrics; i++) {
    for (int s = 0; s < L->metrics[i].n_stats; s++) {
      const char *d;
      if (!level_of(L->metrics[i].stats[s].name, &d))
        continue;
      bool seen = false;
      for (int l = 0; l < L->n_levels; l++)
        seen = seen || !strcmp(L->levels[l], d);
      if (!seen && L->n_levels < MAX_LEVELS)
        L->levels[L->n_levels++] = d;
    }
  }
}

/* A figure: four significant digits (money with separators) in the table,
 * every digit in CSV. */
static void figure(const layout *L, double x, char *buf, size_t len) {
  if (L->machine && isfinite(x))
    shortest(x, buf, len);
  else if (L->machine)
    snprintf(buf, len, isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf"));
  else
    format_number(x, buf, len);
}

static const char *const diff_label = "\u0394";

static int header_head(const layout *L, cell *row) {
  int c = 0;
  snprintf(row[c++], CELL, "metric");
  if (L->show_point)
    snprintf(row[c++], CELL, "point");
  for (int k = 0; k < L->r->n_keys; k++)
    snprintf(row[c++], CELL, "%s", L->r->keys[k].key);
  return c;
}

static int header_stats(const layout *L, cell *row, int c) {
  const char *d = L->diff ? diff_label : "";
  if (L->machine) {
    snprintf(row[c++], CELL, "mean");
    snprintf(row[c++], CELL, "stderr");
  } else {
    snprintf(row[c++], CELL, "%smean \u00b1 stderr", d);
  }
  if (!L->diff) {
    snprintf(row[c++], CELL, "std");
    snprintf(row[c++], CELL, L->machine ? "p_positive" : "P(>0)");
  }
  for (int l = 0; l < L->n_levels; l++) {
    const char *lv = L->levels[l];
    if (L->machine && L->diff) {
      static const char *const f[] = {"var_", "var_", "var_",
                                      "es_",  "es_",  "es_"};
      static const char *const end[] = {"", "_lo", "_hi", "", "_lo", "_hi"};
      for (int i = 0; i < 6; i++)
        snprintf(row[c++], CELL, "%s%s%s", f[i], lv, end[i]);
    } else if (L->machine) {
      snprintf(row[c++], CELL, "var_%s", lv);
      snprintf(row[c++], CELL, "es_%s", lv);
    } else {
      const char *ci = L->diff ? " [95% CI]" : "";
      snprintf(row[c++], CELL, "%sVaR %s%s", d, lv, ci);
      snprintf(row[c++], CELL, "%sES %s%s", d, lv, ci);
    }
  }
  if (!L->diff)
    snprintf(row[c++], CELL, "max");
  if (L->r->frontier)
    snprintf(row[c++], CELL, "frontier");
  return c;
}

static int fill_header(const layout *L, cell *row) {
  return header_stats(L, row, header_head(L, row));
}

static int row_head(const layout *L, const metric_summary *m, int p,
                    cell *row) {
  int c = 0;
  snprintf(row[c++], CELL, "%s", m->name);
  if (L->show_point)
    snprintf(row[c++], CELL, "%d%s", p,
             !L->machine && L->r->n_keys && p == L->r->baseline ? " (base)"
                                                                : "");
  for (int k = 0; k < L->r->n_keys; k++) {
    const char *t = L->r->keys[k].text ? L->r->keys[k].text[p] : NULL;
    snprintf(row[c++], CELL, "%s", t ? t : "");
  }
  return c;
}

/* "x [lo, hi]" in the table; three columns in CSV. */
static int with_interval(const layout *L, const metric_summary *m, int p,
                         const char *stat, cell *row, int c) {
  char name[48], lo[64], hi[64], a[40], b[40], x[40];
  snprintf(name, sizeof name, "%s", stat);
  snprintf(lo, sizeof lo, "%s_lo", stat);
  snprintf(hi, sizeof hi, "%s_hi", stat);
  figure(L, stat_value(m, name, p), x, sizeof x);
  figure(L, stat_value(m, lo, p), a, sizeof a);
  figure(L, stat_value(m, hi, p), b, sizeof b);
  if (L->machine) {
    snprintf(row[c++], CELL, "%s", x);
    snprintf(row[c++], CELL, "%s", a);
    snprintf(row[c++], CELL, "%s", b);
  } else {
    snprintf(row[c++], CELL, "%s [%s, %s]", x, a, b);
  }
  return c;
}

static int row_stats(const layout *L, const metric_summary *m, int p, cell *row,
                     int c) {
  char a[40], b[40], name[48];
  figure(L, stat_value(m, "mean", p), a, sizeof a);
  figure(L, stat_value(m, "stderr", p), b, sizeof b);
  if (L->machine) {
    snprintf(row[c++], CELL, "%s", a);
    snprintf(row[c++], CELL, "%s", b);
  } else {
    snprintf(row[c++], CELL, "%s \u00b1 %s", a, b);
  }
  if (!L->diff) {
    figure(L, stat_value(m, "std", p), row[c++], CELL);
    double pp = stat_value(m, "p_positive", p);
    if (L->machine)
      figure(L, pp, row[c++], CELL);
    else
      snprintf(row[c++], CELL, isnan(pp) ? "nan" : "%.4g%%", pp * 100.0);
  }
  for (int l = 0; l < L->n_levels; l++) {
    for (int i = 0; i < 2; i++) {
      snprintf(name, sizeof name, i == 0 ? "var_%s" : "es_%s", L->levels[l]);
      if (L->diff)
        c = with_interval(L, m, p, name, row, c);
      else
        figure(L, stat_value(m, name, p), row[c++], CELL);
    }
  }
  if (!L->diff)
    figure(L, stat_value(m, "max", p), row[c++], CELL);
  if (L->r->frontier)
    snprintf(row[c++], CELL, "%s",
             L->r->frontier[p] ? (L->machine ? "1" : "*")
                               : (L->machine ? "0" : ""));
  return c;
}

static int fill_row(const layout *L, const metric_summary *m, int p,
                    cell *row) {
  return row_stats(L, m, p, row, row_head(L, m, p, row));
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

static void widen(int *width, const cell *row, int n) {
  for (int c = 0; c < n; c++) {
    int w = display_width(row[c]);
    width[c] = w > width[c] ? w : width[c];
  }
}

static void print_row(FILE *out, const cell *row, const int *width, int n) {
  for (int c = 0; c < n; c++) {
    if (c)
      fputs("  ", out);
    /* metric names left, numbers right */
    print_cell(out, row[c], width[c], c == 0);
  }
  fputc('\n', out);
}

static void csv_field(FILE *out, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

static void print_csv_row(FILE *out, const cell *row, int n) {
  for (int c = 0; c < n; c++) {
    if (c)
      fputc(',', out);
    csv_field(out, row[c]);
  }
  fputc('\n', out);
}

/* One formatted row: measured (widths), or printed as table or CSV. */
static void emit(const layout *L, const cell *row, int n, int *width,
                 bool measure, FILE *out) {
  if (measure)
    widen(width, row, n);
  else if (L->machine)
    print_csv_row(out, row, n);
  else
    print_row(out, row, width, n);
}

/* The header, then per metric, per point. */
static void each_row(const layout *L, cell *row, int *width, bool measure,
                     FILE *out) {
  emit(L, row, fill_header(L, row), width, measure, out);
  for (int i = 0; i < L->n_metrics; i++)
    for (int p = 0; p < L->r->n_points; p++)
      emit(L, row, fill_row(L, &L->metrics[i], p, row), width, measure, out);
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

static sch_status print_rows(FILE *out, const layout *L, sch_error *err) {
  int max_cols = 8 + L->r->n_keys + 6 * L->n_levels + 4;
  cell *row = calloc((size_t)max_cols, sizeof *row);
  int *width = calloc((size_t)max_cols, sizeof *width);
  if (!row || !width) {
    free(row);
    free(width);
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory for the report");
  }
  if (!L->machine)
    each_row(L, row, width, true, out);
  each_row(L, row, width, false, out);
  free(row);
  free(width);
  return SCH_OK;
}

static sch_status print_report(FILE *out, const char *path,
                               const result_file *r,
                               const sch_report_options *opt, sch_error *err) {
  layout L = {.r = r, .machine = opt->csv, .diff = opt->diff};
  L.metrics = opt->diff ? r->diffs : r->metrics;
  L.n_metrics = opt->diff ? r->n_diffs : r->n_metrics;
  L.show_point = opt->csv || r->n_points > 1 || r->n_keys > 0;
  if (opt->diff && r->n_diffs == 0)
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s has no paired differences (/diff is written for "
                    "sweeps of more than one point)",
                    path);
  collect_levels(&L);
  if (!opt->csv) {
    print_header(out, path, r);
    if (r->n_keys)
      fprintf(out, "%d sweep point%s, baseline point %d%s\n\n", r->n_points,
              r->n_points == 1 ? "" : "s", r->baseline,
              r->frontier ? "; * = on the frontier (not dominated on tail "
                            "shortfall and bonus paid)"
                          : "");
    if (L.n_metrics == 0) {
      fputs("(no metrics in /summary)\n", out);
      return SCH_OK;
    }
  }
  sch_status st = print_rows(out, &L, err);
  if (st == SCH_OK && !opt->csv && !opt->diff)
    print_contagion(out, r);
  return st;
}

sch_status sch_report_print(const char *path, const sch_report_options *opt,
                            FILE *out, sch_error *err) {
  result_file r;
  memset(&r, 0, sizeof r);
  sch_status st = load(path, &r, err);
  if (st == SCH_OK) {
    if (opt->json)
      print_json(out, &r);
    else
      st = print_report(out, path, &r, opt, err);
  }
  result_free(&r);
  if (st == SCH_OK && ferror(out))
    st = sch_fail(err, SCH_ERR_RUNTIME, "cannot write the report");
  return st;
}

sch_status sch_report(const char *path, bool json, FILE *out, sch_error *err) {
  sch_report_options opt = {.json = json};
  return sch_report_print(path, &opt, out, err);
}
