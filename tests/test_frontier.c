/* The trade-off frontier, and `schelling report` on a sweep result: swept
 * values as leading columns, CSV, --diff and the frontier marker. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schelling/output.h"
#include "schelling/sweep.h"

Test(frontier, marks_points_not_dominated) {
  /* tail shortfall falls and bonus cost rises with the bonus, except point
   * 3, which is worse than point 2 in both; point 4 ties point 1. */
  const double tail[] = {9, 5, 3, 4, 5, 1};
  const double cost[] = {1, 2, 3, 3.5, 2, 6};
  uint8_t mask[6];
  cr_expect_eq(sch_frontier(6, tail, cost, mask), 5);
  const uint8_t want[] = {1, 1, 1, 0, 1, 1};
  for (int p = 0; p < 6; p++)
    cr_expect_eq(mask[p], want[p], "point %d", p);
}

Test(frontier, strictly_better_in_one_is_enough) {
  const double tail[] = {2, 2, 1};
  const double cost[] = {1, 2, 1};
  uint8_t mask[3];
  cr_expect_eq(sch_frontier(3, tail, cost, mask), 1);
  cr_expect(!mask[0] && !mask[1] && mask[2]);
}

Test(frontier, nan_is_never_on_the_frontier) {
  const double tail[] = {NAN, 2, 3};
  const double cost[] = {0, NAN, 1};
  uint8_t mask[3];
  cr_expect_eq(sch_frontier(3, tail, cost, mask), 1);
  cr_expect(!mask[0] && !mask[1] && mask[2]);
  cr_expect_eq(sch_frontier(0, tail, cost, mask), 0);
}

/* ------------------------------------------------------------- report */

static char dir[256], file[300];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/schelling-frontier-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(file, sizeof file, "%s/sweep.h5", dir);
}

static void remove_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(report, .init = make_dir, .fini = remove_dir);

static const double levels[] = {0.99};

static void add_diff(const char *stat, const double v[3]) {
  hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
  cr_assert(f >= 0);
  if (H5Lexists(f, "diff", H5P_DEFAULT) <= 0)
    H5Gclose(H5Gcreate2(f, "diff", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (H5Lexists(f, "diff/shortfall", H5P_DEFAULT) <= 0)
    H5Gclose(
        H5Gcreate2(f, "diff/shortfall", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  char name[64];
  snprintf(name, sizeof name, "diff/shortfall/%s", stat);
  hsize_t dims[1] = {3};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t d = H5Dcreate2(f, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(d);
  H5Sclose(space);
  H5Fclose(f);
}

/* Three points of a 1-D bonus sweep, a string key, /diff and /frontier. */
static void write_sweep_file(void) {
  sch_error err = {{0}};
  sch_h5_writer *w = NULL;
  cr_assert_eq(sch_h5_open(file, true, &w, &err), SCH_OK, "%s", err.msg);
  sch_run_info info = {"0.1.0", "2026-11-22T00:00:00Z", 42, 100, 60, 60, 1, 1};
  cr_assert_eq(sch_h5_write_run_info(w, &info, &err), SCH_OK);
  char key0[SCH_SWEEP_KEY_MAX] = "protocol.assets.ETH.liquidation_bonus";
  char key1[SCH_SWEEP_KEY_MAX] = "venues.ETH.recovery_half_life";
  char keys[2][SCH_SWEEP_KEY_MAX];
  memcpy(keys[0], key0, sizeof key0);
  memcpy(keys[1], key1, sizeof key1);
  char *values[] = {"0.02", "30m", "0.05", "30m", "0.1", "1h"};
  double numeric[] = {0.02, NAN, 0.05, NAN, 0.1, NAN};
  sch_sweep sw = {.n_keys = 2,
                  .keys = keys,
                  .n_points = 3,
                  .baseline = 1,
                  .values = values,
                  .numeric = numeric};
  cr_assert_eq(sch_h5_write_sweep(w, &sw, &err), SCH_OK, "%s", err.msg);
  sch_summary s[3];
  sch_accum *acc[3];
  sch_hist_spec grid = {1.0, 1e6, 2};
  for (int p = 0; p < 3; p++) {
    acc[p] = sch_accum_create(100, levels, 1, grid, &err);
    double v[100];
    for (int i = 0; i < 100; i++)
      v[i] = (i + 1) * (3.0 - p);
    sch_accum_add_block(acc[p], v, 100);
    sch_accum_summarise(acc[p], &s[p]);
  }
  cr_assert_eq(sch_h5_write_summary(w, "shortfall", 3, s, &err), SCH_OK);
  for (int p = 0; p < 3; p++)
    sch_accum_free(acc[p]);
  const uint8_t mask[] = {1, 0, 1};
  cr_assert_eq(sch_h5_write_frontier(w, 3, mask, "shortfall/es_99",
                                     "bonus_paid/mean", &err),
               SCH_OK, "%s", err.msg);
  cr_assert_eq(sch_h5_commit(&w, &err), SCH_OK, "%s", err.msg);
  add_diff("mean", (const double[]){50.5, 0, -50.5});
  add_diff("stderr", (const double[]){0.25, 0, 0.5});
  add_diff("var_99", (const double[]){99, 0, -99});
  add_diff("var_99_lo", (const double[]){90, 0, -110});
  add_diff("var_99_hi", (const double[]){110, 0, -90});
  add_diff("es_99", (const double[]){100, 0, -100});
  add_diff("es_99_lo", (const double[]){95, 0, -105});
  add_diff("es_99_hi", (const double[]){105, 0, -95});
}

static char *report(bool json, bool csv, bool diff, sch_status *st) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  sch_report_options opt = {json, csv, diff};
  sch_error err = {{0}};
  *st = sch_report_print(file, &opt, out, &err);
  fclose(out);
  if (*st != SCH_OK) {
    free(text);
    return strdup(err.msg);
  }
  return text;
}

Test(report, table_leads_with_swept_values_and_marks_the_frontier) {
  write_sweep_file();
  sch_status st;
  char *t = report(false, false, false, &st);
  cr_assert_eq(st, SCH_OK, "%s", t);
  char *metric = strstr(t, "metric"), *point = strstr(t, "point  protocol");
  char *key0 = strstr(t, "protocol.assets.ETH.liquidation_bonus");
  char *key1 = strstr(t, "venues.ETH.recovery_half_life");
  char *mean = strstr(t, "mean \u00b1 stderr");
  cr_expect(metric && point && key0 && key1 && mean && metric < point &&
                point < key0 && key0 < key1 && key1 < mean,
            "swept keys lead: %s", t);
  cr_expect(strstr(t, "1 (base)"), "%s", t);
  cr_expect(strstr(t, "frontier"), "%s", t);
  cr_expect(strstr(t, "3 sweep points, baseline point 1"), "%s", t);
  free(t);
}

Test(report, csv_has_the_table_columns_with_full_numbers) {
  write_sweep_file();
  sch_status st;
  char *t = report(false, true, false, &st);
  cr_assert_eq(st, SCH_OK, "%s", t);
  const char *header =
      "metric,point,protocol.assets.ETH.liquidation_bonus,"
      "venues.ETH.recovery_half_life,mean,stderr,std,p_positive,var_99,"
      "es_99,max,frontier\n";
  cr_expect_eq(strncmp(t, header, strlen(header)), 0, "%s", t);
  cr_expect(strstr(t, "\nshortfall,0,0.02,30m,151.5,"), "%s", t);
  cr_expect(strstr(t, "\nshortfall,2,0.1,1h,50.5,"), "%s", t);
  cr_expect(strstr(t, ",1,1\n") || strstr(t, ",1\n"), "%s", t);
  int lines = 0;
  for (char *c = t; *c; c++)
    lines += *c == '\n';
  cr_expect_eq(lines, 4, "header + 3 points: %s", t);
  const char *py = "/usr/bin/python3";
  if (access(py, X_OK) == 0) {
    char csv[320], cmd[1024];
    snprintf(csv, sizeof csv, "%s/r.csv", dir);
    FILE *f = fopen(csv, "w");
    fputs(t, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "%s -c 'import csv; r = list(csv.DictReader(open(\"%s\"))); "
             "assert float(r[2][\"mean\"]) == 50.5; "
             "assert [x[\"frontier\"] for x in r] == [\"1\", \"0\", \"1\"]'",
             py, csv);
    cr_expect_eq(system(cmd), 0, "python's csv module disagrees:\n%s", t);
  }
  free(t);
}

Test(report, diff_shows_differences_with_paired_errors) {
  write_sweep_file();
  sch_status st;
  char *t = report(false, false, true, &st);
  cr_assert_eq(st, SCH_OK, "%s", t);
  cr_expect(strstr(t, "\u0394mean \u00b1 stderr"), "%s", t);
  cr_expect(strstr(t, "-50.5 \u00b1 0.5"), "%s", t);
  cr_expect(strstr(t, "\u0394ES 99 [95% CI]"), "%s", t);
  cr_expect(strstr(t, "100 [95, 105]"), "%s", t);
  free(t);
  t = report(false, true, true, &st);
  cr_assert_eq(st, SCH_OK, "%s", t);
  cr_expect(strstr(t, "mean,stderr,var_99,var_99_lo,var_99_hi,es_99,"
                      "es_99_lo,es_99_hi,frontier\n"),
            "%s", t);
  free(t);
}

Test(report, json_has_sweep_diff_and_frontier) {
  write_sweep_file();
  sch_status st;
  char *t = report(true, false, false, &st);
  cr_assert_eq(st, SCH_OK, "%s", t);
  cr_expect(strstr(t, "\"protocol.assets.ETH.liquidation_bonus\": "
                      "[0.02, 0.05, 0.1]"),
            "%s", t);
  cr_expect(strstr(t, "\"venues.ETH.recovery_half_life\": "
                      "[\"30m\", \"30m\", \"1h\"]"),
            "%s", t);
  cr_expect(strstr(t, "\"baseline\": 1"), "%s", t);
  cr_expect(strstr(t, "\"diff\": {"), "%s", t);
  cr_expect(strstr(t, "\"frontier\": [1, 0, 1]"), "%s", t);
  const char *py = "/usr/bin/python3";
  if (access(py, X_OK) == 0) {
    char js[320], cmd[1024];
    snprintf(js, sizeof js, "%s/r.json", dir);
    FILE *f = fopen(js, "w");
    fputs(t, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "%s -c 'import json; d = json.load(open(\"%s\")); "
             "assert d[\"diff\"][\"shortfall\"][\"mean\"][2] == -50.5'",
             py, js);
    cr_expect_eq(system(cmd), 0, "python rejected:\n%s", t);
  }
  free(t);
}

Test(report, diff_without_diff_datasets_is_an_input_error) {
  sch_error err = {{0}};
  sch_h5_writer *w = NULL;
  cr_assert_eq(sch_h5_open(file, true, &w, &err), SCH_OK, "%s", err.msg);
  sch_run_info info = {"0.1.0", "2026-11-22T00:00:00Z", 42, 100, 60, 60, 1, 1};
  cr_assert_eq(sch_h5_write_run_info(w, &info, &err), SCH_OK);
  cr_assert_eq(sch_h5_commit(&w, &err), SCH_OK, "%s", err.msg);
  sch_status st;
  char *t = report(false, false, true, &st);
  cr_expect_eq(st, SCH_ERR_INPUT);
  cr_expect(strstr(t, "has no paired differences"), "%s", t);
  free(t);
}
