/*
 * The HDF5 result file: write every group, read it back with the HDF5 API;
 * the temp-file-and-rename safety rules; `report` as a table and as JSON.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "schelling/output.h"

static char dir[256];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/schelling-output-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char path[600];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    chmod(path, 0700);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

TestSuite(output, .init = make_dir, .fini = remove_dir);

static int dir_entries(void) {
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

static void file_path(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", dir, name);
}

static const double levels[] = {0.95, 0.99};
static const sch_hist_spec grid = {1.0, 1e6, 2};

/* Summaries of values base + 0..99 for P = 2 points. */
static void summarise(double base, sch_accum *acc[2], sch_summary s[2]) {
  sch_error err = {{0}};
  for (int p = 0; p < 2; p++) {
    acc[p] = sch_accum_create(100, levels, 2, grid, &err);
    cr_assert_not_null(acc[p], "%s", err.msg);
    double x[100];
    for (int i = 0; i < 100; i++)
      x[i] = base * (p + 1) + i;
    sch_accum_add_block(acc[p], x, 100);
    sch_accum_summarise(acc[p], &s[p]);
  }
}

static void write_run(sch_h5_writer *w) {
  sch_error err = {{0}};
  sch_run_info info = {"9.9.9", "2026-01-02T03:04:05Z", 42, 100, 1440, 60.0, 2,
                       1};
  cr_assert_eq(sch_h5_write_run_info(w, &info, &err), SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_h5_write_config(w, "simulation: {paths: 100}\n", &err),
               SCH_OK, "%s", err.msg);
}

/* "shortfall" before "bad_debt": creation order differs from name order. */
static void write_full_file(const char *path, bool force) {
  sch_error err = {{0}};
  sch_h5_writer *w = NULL;
  cr_assert_eq(sch_h5_open(path, force, &w, &err), SCH_OK, "%s", err.msg);
  write_run(w);
  const char *metrics[] = {"shortfall", "bad_debt"};
  for (int m = 0; m < 2; m++) {
    sch_accum *acc[2];
    sch_summary s[2];
    summarise(m ? 10.0 : 1e6, acc, s);
    cr_assert_eq(sch_h5_write_summary(w, metrics[m], 2, s, &err), SCH_OK, "%s",
                 err.msg);
    sch_accum_free(acc[0]);
    sch_accum_free(acc[1]);
  }
  cr_assert_eq(sch_h5_create_paths(w, 2, metrics, 2, 10, &err), SCH_OK, "%s",
               err.msg);
  for (int m = 0; m < 2; m++)
    for (int p = 0; p < 2; p++)
      for (int first = 0; first < 10; first += 4) {
        double v[4];
        int n = first + 4 <= 10 ? 4 : 10 - first;
        for (int i = 0; i < n; i++)
          v[i] = 100.0 * m + 10.0 * p + first + i;
        cr_assert_eq(sch_h5_write_paths_block(w, m, p, first, n, v, &err),
                     SCH_OK, "%s", err.msg);
      }
  const char *assets[] = {"ETH", "USDC"};
  double market[2 * 3 * 2], fundamental[2 * 3 * 2];
  for (int i = 0; i < 12; i++) {
    market[i] = i;
    fundamental[i] = 100 + i;
  }
  int64_t index[] = {7, 3};
  double shortfall[] = {5e6, 4e6};
  cr_assert_eq(sch_h5_write_samples(w, 2, 3, 2, assets, market, fundamental,
                                    index, shortfall, &err),
               SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_h5_commit(&w, &err), SCH_OK, "%s", err.msg);
  cr_assert_null(w);
}

static void dims_of(hid_t file, const char *name, int rank,
                    const hsize_t *want) {
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  cr_assert(d >= 0, "missing %s", name);
  hid_t space = H5Dget_space(d);
  hsize_t got[3];
  cr_assert_eq(H5Sget_simple_extent_ndims(space), rank, "rank of %s", name);
  H5Sget_simple_extent_dims(space, got, NULL);
  for (int i = 0; i < rank; i++)
    cr_assert_eq(got[i], want[i], "%s dim %d: %llu", name, i,
                 (unsigned long long)got[i]);
  H5Sclose(space);
  H5Dclose(d);
}

static void read_doubles(hid_t file, const char *name, double *buf) {
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  cr_assert(d >= 0, "missing %s", name);
  cr_assert(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >=
            0);
  H5Dclose(d);
}

static void check_root(hid_t file) {
  uint64_t seed = 0;
  int64_t steps = 0;
  double dt = 0;
  hid_t a = H5Aopen(file, "seed", H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_UINT64, &seed);
  H5Aclose(a);
  a = H5Aopen(file, "steps", H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_INT64, &steps);
  H5Aclose(a);
  a = H5Aopen(file, "dt_seconds", H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_DOUBLE, &dt);
  H5Aclose(a);
  cr_assert_eq(seed, 42);
  cr_assert_eq(steps, 1440);
  cr_assert_eq(dt, 60.0);
  const char *names[] = {"schelling_version", "created_utc", "paths", "threads",
                         "ranks"};
  for (int i = 0; i < 5; i++)
    cr_assert(H5Aexists(file, names[i]) > 0, "attribute %s", names[i]);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  char *version = NULL;
  a = H5Aopen(file, "schelling_version", H5P_DEFAULT);
  cr_assert(H5Aread(a, t, &version) >= 0);
  cr_assert_str_eq(version, "9.9.9");
  H5free_memory(version);
  H5Aclose(a);
  char *yaml = NULL;
  hid_t d = H5Dopen2(file, "config", H5P_DEFAULT);
  cr_assert(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &yaml) >= 0);
  cr_assert_str_eq(yaml, "simulation: {paths: 100}\n");
  H5free_memory(yaml);
  H5Dclose(d);
  H5Tclose(t);
}

static void check_summary(hid_t file) {
  hsize_t p[1] = {2};
  const char *stats[] = {"n",          "mean",     "stderr",    "std",
                         "p_positive", "var_95",   "var_95_lo", "var_95_hi",
                         "es_95",      "es_95_lo", "es_95_hi",  "var_99",
                         "es_99_hi",   "max"};
  for (size_t i = 0; i < sizeof stats / sizeof *stats; i++) {
    char name[64];
    snprintf(name, sizeof name, "/summary/bad_debt/%s", stats[i]);
    dims_of(file, name, 1, p);
  }
  double mean[2], var[2], max[2];
  read_doubles(file, "/summary/bad_debt/mean", mean);
  read_doubles(file, "/summary/bad_debt/var_95", var);
  read_doubles(file, "/summary/shortfall/max", max);
  cr_assert_float_eq(mean[0], 10.0 + 49.5, 1e-12);
  cr_assert_float_eq(mean[1], 20.0 + 49.5, 1e-12);
  cr_assert_eq(var[0], 10.0 + 94.0); /* x_(95) of 10..109 */
  cr_assert_eq(max[1], 2e6 + 99.0);
  /* creation order: shortfall was written first */
  hid_t g = H5Gopen2(file, "summary", H5P_DEFAULT);
  char first[32];
  H5Lget_name_by_idx(g, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, 0, first,
                     sizeof first, H5P_DEFAULT);
  cr_assert_str_eq(first, "shortfall");
  H5Gclose(g);
}

static void check_hist_paths_samples(hid_t file) {
  hid_t d = H5Dopen2(file, "/hist/bad_debt/edges", H5P_DEFAULT);
  hid_t space = H5Dget_space(d);
  hsize_t edges = 0;
  H5Sget_simple_extent_dims(space, &edges, NULL);
  H5Sclose(space);
  H5Dclose(d);
  cr_assert_eq(edges, 2 * 6 + 1 + 2); /* 13 finite edges, +-inf */
  hsize_t cdims[2] = {2, edges - 1};
  dims_of(file, "/hist/bad_debt/counts", 2, cdims);
  uint64_t counts[2 * 14];
  d = H5Dopen2(file, "/hist/bad_debt/counts", H5P_DEFAULT);
  H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, counts);
  H5Dclose(d);
  uint64_t total = 0;
  for (hsize_t i = 0; i < edges - 1; i++)
    total += counts[i];
  cr_assert_eq(total, 100);
  hsize_t pdims[2] = {2, 10};
  dims_of(file, "/paths/bad_debt", 2, pdims);
  double paths[20];
  read_doubles(file, "/paths/bad_debt", paths);
  for (int p = 0; p < 2; p++)
    for (int i = 0; i < 10; i++)
      cr_assert_eq(paths[p * 10 + i], 100.0 + 10.0 * p + i);
  hsize_t sdims[3] = {2, 3, 2}, kdims[1] = {2};
  dims_of(file, "/samples/price", 3, sdims);
  dims_of(file, "/samples/fundamental", 3, sdims);
  dims_of(file, "/samples/path_index", 1, kdims);
  dims_of(file, "/samples/shortfall", 1, kdims);
  double fundamental[12];
  read_doubles(file, "/samples/fundamental", fundamental);
  cr_assert_eq(fundamental[11], 111.0);
}

Test(output, full_file_reads_back) {
  char path[512];
  file_path(path, sizeof path, "out.h5");
  write_full_file(path, false);
  cr_assert_eq(dir_entries(), 1, "temp file left behind");
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert(file >= 0);
  check_root(file);
  check_summary(file);
  check_hist_paths_samples(file);
  H5Fclose(file);
  cr_assert_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0,
               "HDF5 ids left open");
}

Test(output, existing_file_refused_and_kept) {
  char path[512];
  file_path(path, sizeof path, "out.h5");
  FILE *f = fopen(path, "w");
  fputs("precious", f);
  fclose(f);
  sch_error err = {{0}};
  sch_h5_writer *w = NULL;
  cr_assert_eq(sch_h5_open(path, false, &w, &err), SCH_ERR_INPUT);
  cr_assert_null(w);
  char want[600];
  snprintf(want, sizeof want, "%s exists; use --force to overwrite", path);
  cr_assert_str_eq(err.msg, want);
  char buf[16] = {0};
  f = fopen(path, "r");
  cr_assert_not_null(fgets(buf, sizeof buf, f));
  fclose(f);
  cr_assert_str_eq(buf, "precious");
  cr_assert_eq(dir_entries(), 1);
}

Test(output, force_overwrites) {
  char path[512];
  file_path(path, sizeof path, "out.h5");
  FILE *f = fopen(path, "w");
  fputs("old", f);
  fclose(f);
  write_full_file(path, true);
  cr_assert_gt(H5Fis_hdf5(path), 0);
  cr_assert_eq(dir_entries(), 1);
}

Test(output, abort_leaves_nothing) {
  char path[512];
  file_path(path, sizeof path, "out.h5");
  sch_error err = {{0}};
  sch_h5_writer *w = NULL;
  cr_assert_eq(sch_h5_open(path, false, &w, &err), SCH_OK, "%s", err.msg);
  write_run(w);
  cr_assert_eq(dir_entries(), 1); /* the temp file, hidden */
  sch_h5_abort(&w);
  cr_assert_null(w);
  cr_assert_eq(dir_entries(), 0);
  sch_h5_abort(&w); /* NULL is fine */
}

Test(output, unwritable_destination_fails_at_open) {
  char path[512];
  sch_error err = {{0}};
  sch_h5_writer *w = NULL;
  file_path(path, sizeof path, "no/such/dir/out.h5");
  cr_assert_eq(sch_h5_open(path, false, &w, &err), SCH_ERR_RUNTIME);
  cr_assert_null(w);
  cr_assert(strstr(err.msg, "no/such/dir") != NULL, "%s", err.msg);
  /* a regular file where the directory should be */
  file_path(path, sizeof path, "plain");
  FILE *f = fopen(path, "w");
  fclose(f);
  file_path(path, sizeof path, "plain/out.h5");
  cr_assert_eq(sch_h5_open(path, false, &w, &err), SCH_ERR_RUNTIME);
  if (geteuid() != 0) { /* root writes anywhere */
    char ro[512];
    file_path(ro, sizeof ro, "ro");
    mkdir(ro, 0555);
    file_path(path, sizeof path, "ro/out.h5");
    cr_assert_eq(sch_h5_open(path, false, &w, &err), SCH_ERR_RUNTIME);
    rmdir(ro);
  }
}

static char *report_text(const char *path, bool json, sch_status *st,
                         sch_error *err) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  *st = sch_report(path, json, out, err);
  fclose(out);
  return text;
}

Test(output, report_table_lists_metrics_in_order) {
  char path[512];
  file_path(path, sizeof path, "out.h5");
  write_full_file(path, false);
  sch_error err = {{0}};
  sch_status st;
  char *text = report_text(path, false, &st, &err);
  cr_assert_eq(st, SCH_OK, "%s", err.msg);
  char *shortfall = strstr(text, "shortfall");
  char *bad_debt = strstr(text, "bad_debt");
  cr_assert(shortfall && bad_debt && shortfall < bad_debt, "%s", text);
  cr_assert(strstr(text, "VaR 99") && strstr(text, "ES 95"), "%s", text);
  cr_assert(strstr(text, "seed 42"), "%s", text);
  cr_assert(strstr(text, "point"), "P = 2 shows the point index: %s", text);
  cr_assert(strstr(text, "2,000,099"), "money with separators: %s", text);
  free(text);
}

Test(output, report_json_parses) {
  char path[512], json_path[512];
  file_path(path, sizeof path, "out.h5");
  write_full_file(path, false);
  sch_error err = {{0}};
  sch_status st;
  char *text = report_text(path, true, &st, &err);
  cr_assert_eq(st, SCH_OK, "%s", err.msg);
  cr_assert(text[0] == '{');
  cr_assert(strstr(text, "\"metrics\": {"));
  cr_assert(strstr(text, "\"es_99_lo\": ["));
  cr_assert(strstr(text, "\"seed\": 42"));
  int depth = 0;
  for (char *c = text; *c; c++)
    depth += (*c == '{') - (*c == '}');
  cr_assert_eq(depth, 0);
  const char *py = "/usr/bin/python3";
  if (access(py, X_OK) == 0) {
    file_path(json_path, sizeof json_path, "report.json");
    FILE *f = fopen(json_path, "w");
    fputs(text, f);
    fclose(f);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import json,sys; d = json.load(sys.stdin); "
             "assert d[\"metrics\"][\"bad_debt\"][\"var_95\"][0] == 104.0; "
             "assert list(d[\"metrics\"]) == [\"shortfall\", \"bad_debt\"]' "
             "< %s",
             py, json_path);
    cr_assert_eq(system(cmd), 0, "python rejected:\n%s", text);
  }
  free(text);
}

Test(output, report_nonfinite_is_null) {
  char path[512];
  file_path(path, sizeof path, "nan.h5");
  sch_error err = {{0}};
  sch_h5_writer *w = NULL;
  cr_assert_eq(sch_h5_open(path, false, &w, &err), SCH_OK, "%s", err.msg);
  write_run(w);
  sch_accum *acc = sch_accum_create(0, levels, 2, grid, &err);
  sch_summary s;
  sch_accum_summarise(acc, &s); /* no paths: NaN everywhere */
  cr_assert_eq(sch_h5_write_summary(w, "empty", 1, &s, &err), SCH_OK, "%s",
               err.msg);
  sch_accum_free(acc);
  cr_assert_eq(sch_h5_commit(&w, &err), SCH_OK, "%s", err.msg);
  sch_status st;
  char *text = report_text(path, true, &st, &err);
  cr_assert_eq(st, SCH_OK, "%s", err.msg);
  cr_assert(strstr(text, "\"mean\": [null]"), "%s", text);
  cr_assert_null(strstr(text, "nan"), "%s", text);
  free(text);
}

Test(output, report_rejects_other_files) {
  char path[512];
  sch_error err = {{0}};
  sch_status st;
  file_path(path, sizeof path, "missing.h5");
  free(report_text(path, false, &st, &err));
  cr_assert_eq(st, SCH_ERR_INPUT);
  cr_assert(strstr(err.msg, "missing.h5") && !strchr(err.msg, '\n'));
  file_path(path, sizeof path, "text.h5");
  FILE *f = fopen(path, "w");
  fputs("not hdf5\n", f);
  fclose(f);
  free(report_text(path, false, &st, &err));
  cr_assert_eq(st, SCH_ERR_INPUT);
  file_path(path, sizeof path, "other.h5");
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(file);
  free(report_text(path, true, &st, &err));
  cr_assert_eq(st, SCH_ERR_INPUT);
  cr_assert(strstr(err.msg, "not a schelling result"), "%s", err.msg);
}

Test(output, bad_calls_fail_cleanly) {
  char path[512];
  file_path(path, sizeof path, "out.h5");
  sch_error err = {{0}};
  sch_h5_writer *w = NULL;
  cr_assert_eq(sch_h5_open(path, false, &w, &err), SCH_OK, "%s", err.msg);
  const char *metrics[] = {"m"};
  cr_assert_eq(sch_h5_create_paths(w, 1, metrics, 1, 5, &err), SCH_OK);
  double v[3] = {1, 2, 3};
  cr_assert_eq(sch_h5_write_paths_block(w, 0, 0, 4, 3, v, &err),
               SCH_ERR_RUNTIME);
  cr_assert_eq(sch_h5_write_paths_block(w, 1, 0, 0, 3, v, &err),
               SCH_ERR_RUNTIME);
  sch_accum *acc = sch_accum_create(1, levels, 2, grid, &err);
  sch_summary s;
  sch_accum_summarise(acc, &s);
  cr_assert_eq(sch_h5_write_summary(w, "a/b", 1, &s, &err), SCH_ERR_RUNTIME);
  cr_assert_eq(sch_h5_write_summary(w, "a", 1, &s, &err), SCH_OK, "%s",
               err.msg);
  cr_assert_eq(sch_h5_write_summary(w, "a", 1, &s, &err), SCH_ERR_RUNTIME);
  cr_assert(strstr(err.msg, "/summary/a") && !strchr(err.msg, '\n'), "%s",
            err.msg);
  sch_accum_free(acc);
  sch_h5_abort(&w);
  cr_assert_eq(dir_entries(), 0);
  cr_assert_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}
