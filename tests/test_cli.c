/* The schelling executable end to end: exit codes, messages, the HDF5 file it
 * writes, refusal to overwrite, no file left behind by a failure, and
 * bitwise-identical results at 1 and 2 threads on a cascade-heavy scenario. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/schelling-cli-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(cli, .init = make_dir, .fini = remove_dir, .timeout = 300);

static void path_in(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", dir, name);
}

static void write_file(const char *name, const char *text, size_t len) {
  char p[512];
  path_in(p, sizeof p, name);
  FILE *f = fopen(p, "wb");
  cr_assert_not_null(f);
  fwrite(text, 1, len, f);
  fclose(f);
}

static bool exists(const char *name) {
  char p[512];
  path_in(p, sizeof p, name);
  return access(p, F_OK) == 0;
}

/* Files in dir other than the inputs: nothing may be left by a failure. */
static int count_outputs(void) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strstr(e->d_name, ".h5"))
      n++;
  closedir(d);
  return n;
}

static char err_text[8192], out_text[65536];

static void slurp(const char *name, char *buf, size_t len) {
  char p[512];
  path_in(p, sizeof p, name);
  FILE *f = fopen(p, "rb");
  size_t n = f ? fread(buf, 1, len - 1, f) : 0;
  buf[n] = '\0';
  if (f)
    fclose(f);
}

/* Run the binary in dir with args; returns its exit code. */
static pid_t spawn(const char *const *args) {
  const char *bin = getenv("SCHELLING_BIN");
  cr_assert_not_null(bin, "SCHELLING_BIN is not set (run through meson test)");
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    if (chdir(dir) != 0)
      _exit(99);
    int o = open("stdout.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    const char *argv[64] = {bin};
    int n = 1;
    for (; args[n - 1]; n++)
      argv[n] = args[n - 1];
    argv[n] = NULL;
    execv(bin, (char *const *)argv);
    _exit(98);
  }
  return pid;
}

static int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  slurp("stderr.txt", err_text, sizeof err_text);
  slurp("stdout.txt", out_text, sizeof out_text);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define RUN(...) wait_exit(spawn((const char *const[]){__VA_ARGS__, NULL}))

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* A small, valid world: one risky asset, a thin market, a CSV book. */
static const char good_config[] =
    "simulation: {paths: 600, horizon: 2h, step: 60s, seed: 7}\n"
    "assets:\n"
    "  - {name: ETH, price: 2000, vol: 1.2, jumps: {rate: 300, mean: -0.25, "
    "stdev: 0.02}}\n"
    "  - {name: USDC, price: 1, vol: 0}\n"
    "correlation: [[1, 0], [0, 1]]\n"
    "venues:\n"
    "  ETH: {model: constant_product, depth: 2e6, fee: 0.003,\n"
    "        market_depth: 2e7, recovery_half_life: 30m}\n"
    "oracles: {ETH: {deviation: 0.005, heartbeat: 1h, delay: 0s}}\n"
    "protocol:\n"
    "  assets:\n"
    "    ETH: {liquidation_threshold: 0.8, liquidation_bonus: 0.05}\n"
    "    USDC: {liquidation_threshold: 0.85, liquidation_bonus: 0.04}\n"
    "  insurance_fund: 1000\n"
    "liquidators: {gas_asset: ETH, max_liquidations_per_step: 3}\n"
    "loanbook: {file: book.csv}\n"
    "output: {file: out.h5}\n";

static void write_book(void) {
  char book[8192];
  size_t n = (size_t)snprintf(book, sizeof book,
                              "account,ETH_collateral,USDC_debt\n");
  for (int a = 0; a < 60; a++) /* HF from 1.01 to 1.6 */
    n += (size_t)snprintf(book + n, sizeof book - n, "0x%02x,%.6f,%.2f\n", a,
                          10.0 + a, (10.0 + a) * 2000 * 0.8 / (1.01 + 0.01 * a));
  write_file("book.csv", book, n);
}

static void write_good(void) {
  write_book();
  write_file("good.yaml", good_config, strlen(good_config));
}

Test(cli, version_and_help) {
  cr_expect_eq(RUN("--version"), 0);
  cr_expect(strncmp(out_text, "schelling ", 10) == 0, "%s", out_text);
  cr_expect_eq(RUN("--help"), 0);
  cr_expect(strstr(out_text, "schelling run") != NULL);
}

Test(cli, usage_errors_exit_2) {
  cr_expect_eq(RUN("frobnicate"), 2);
  cr_expect(strstr(err_text, "unknown command") != NULL, "%s", err_text);
  cr_expect_eq(RUN("run", "--bogus"), 2);
  cr_expect(strstr(err_text, "--bogus") != NULL, "%s", err_text);
  cr_expect_eq(RUN("run", "--paths", "many"), 2);
  cr_expect_eq(RUN("run", "--threads", "0"), 2);
  cr_expect_eq(RUN("validate"), 2);
  cr_expect_eq(count_lines(err_text), 1, "%s", err_text);
  cr_expect_eq(count_outputs(), 0);
}

static hid_t open_result(const char *name) {
  char p[512];
  path_in(p, sizeof p, name);
  hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert(f >= 0, "cannot open %s", p);
  return f;
}

static int64_t dataset_len(hid_t f, const char *name, int *rank) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  cr_assert(d >= 0, "missing %s", name);
  hid_t s = H5Dget_space(d);
  hsize_t dims[4] = {0};
  *rank = H5Sget_simple_extent_dims(s, dims, NULL);
  int64_t n = 1;
  for (int i = 0; i < *rank; i++)
    n *= (int64_t)dims[i];
  H5Sclose(s);
  H5Dclose(d);
  return n;
}

static double read_scalar(hid_t f, const char *name) {
  double v[1] = {0};
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  cr_assert(d >= 0, "missing %s", name);
  H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(d);
  return v[0];
}

static const char *const metrics[] = {
    "bad_debt", "underwater_debt", "shortfall", "uncovered_shortfall",
    "liquidated_value", "liquidations", "skipped_unprofitable", "bonus_paid",
    "slippage_cost", "gas_cost", "liquidator_profit", "cascade_depth",
    "oracle_updates", "min_price_ratio_ETH", "min_price_ratio_USDC",
    "time_first_bad_debt"};
static const char *const stats[] = {"mean", "stderr", "std", "p_positive",
                                    "max", "var_95", "es_95", "var_99",
                                    "es_99", "var_999", "es_999"};

Test(cli, run_writes_the_documented_file) {
  write_good();
  cr_assert_eq(RUN("run", "good.yaml", "--quiet", "--set",
                   "output.per_path=true"), 0, "%s", err_text);
  cr_assert(exists("out.h5"));
  cr_expect_eq(count_outputs(), 1, "a temporary file was left behind");
  hid_t f = open_result("out.h5");
  const char *attrs[] = {"schelling_version", "created_utc", "seed", "paths",
                         "steps", "dt_seconds", "threads", "ranks"};
  for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++)
    cr_expect(H5Aexists(f, attrs[i]) > 0, "attribute %s", attrs[i]);
  int rank;
  cr_expect(dataset_len(f, "/config", &rank) >= 1);
  char name[128];
  for (size_t m = 0; m < sizeof metrics / sizeof *metrics; m++) {
    for (size_t s = 0; s < sizeof stats / sizeof *stats; s++) {
      snprintf(name, sizeof name, "/summary/%s/%s", metrics[m], stats[s]);
      cr_expect_eq(dataset_len(f, name, &rank), 1, "%s", name);
    }
    snprintf(name, sizeof name, "/hist/%s/counts", metrics[m]);
    cr_expect(dataset_len(f, name, &rank) > 1, "%s", name);
    snprintf(name, sizeof name, "/paths/%s", metrics[m]);
    cr_expect_eq(dataset_len(f, name, &rank), 600, "%s", name);
    cr_expect_eq(rank, 2, "%s is [P, N]", name);
  }
  /* 8 worst paths x 121 times x 2 assets */
  cr_expect_eq(dataset_len(f, "/samples/price", &rank), 8 * 121 * 2);
  /* the scenario is stressed: liquidations happen, and the bound holds */
  cr_expect(read_scalar(f, "/summary/liquidations/p_positive") > 0.5);
  cr_expect(read_scalar(f, "/summary/shortfall/var_99") <=
            read_scalar(f, "/summary/shortfall/es_99"));
  H5Fclose(f);
  cr_expect_eq(RUN("report", "out.h5"), 0, "%s", err_text);
  cr_expect(strstr(out_text, "uncovered_shortfall") != NULL);
  cr_expect_eq(RUN("report", "out.h5", "--json"), 0);
  cr_expect(out_text[0] == '{' && strstr(out_text, "\"shortfall\"") != NULL);
}

static void snapshot(const char *name, char *buf, size_t len) {
  slurp(name, buf, len);
}

Test(cli, existing_output_is_never_overwritten_without_force) {
  write_good();
  cr_assert_eq(RUN("run", "good.yaml", "--quiet"), 0, "%s", err_text);
  static char before[1 << 16], after[1 << 16];
  snapshot("out.h5", before, sizeof before);
  cr_expect_eq(RUN("run", "good.yaml", "--quiet", "--seed", "8"), 2);
  cr_expect(strstr(err_text, "--force") != NULL, "%s", err_text);
  snapshot("out.h5", after, sizeof after);
  cr_expect(memcmp(before, after, sizeof before) == 0, "file was changed");
  cr_expect_eq(RUN("run", "good.yaml", "--quiet", "--seed", "8", "--force"), 0);
  cr_expect_eq(count_outputs(), 1);
}

Test(cli, unwritable_destination_fails_before_simulating) {
  write_good();
  int rc = RUN("run", "good.yaml", "--quiet", "-o", "no/such/dir/out.h5");
  cr_expect(rc == 1 || rc == 2, "exit %d", rc);
  cr_expect_eq(count_lines(err_text), 1, "%s", err_text);
  cr_expect_eq(count_outputs(), 0);
}

Test(cli, validate_prints_a_summary) {
  write_good();
  cr_expect_eq(RUN("validate", "good.yaml"), 0, "%s", err_text);
  cr_expect(strstr(out_text, "60 accounts") != NULL, "%s", out_text);
  cr_expect_eq(count_outputs(), 0);
}

/* Bad inputs: exit 2, one line naming the file and line, nothing written. */
typedef struct bad_case {
  const char *find, *replace, *expect;
  int line; /* expected line in bad.yaml, 0: no line expected */
} bad_case;

static const bad_case bad_configs[] = {
    {"seed: 7}", "seed: 7, hoirzon: 3h}", "horizon", 1},
    {"paths: 600", "paths: [1]", "paths", 1},
    {"paths: 600", "paths: 0", "paths", 1},
    {"paths: 600", "paths: lots", "paths", 1},
    {"horizon: 2h, step: 60s", "horizon: 2h, step: 3h", "step", 1},
    {"horizon: 2h", "horizon: 2h7s", "horizon", 1},
    {"vol: 1.2", "vol: -0.2", "vol", 3},
    {"liquidation_threshold: 0.8", "liquidation_threshold: 1.3",
     "liquidation_threshold", 12},
    {"oracles: {ETH:", "oracles: {BTC:", "BTC", 9},
    {"correlation: [[1, 0], [0, 1]]", "correlation: [[1, 0], [0, 1], [0, 0]]",
     "correlation", 5},
    {"correlation: [[1, 0], [0, 1]]", "correlation: [[1, 0.5], [0.4, 1]]",
     "symmetric", 5},
    {"  - {name: USDC, price: 1, vol: 0}\n"
     "correlation: [[1, 0], [0, 1]]",
     "  - {name: WBTC, price: 60000, vol: 0.6}\n"
     "  - {name: USDC, price: 1, vol: 0}\n"
     "correlation: [[1, 0.9, 0], [0.9, 1, -0.9], [0, -0.9, 1]]",
     "positive definite", 6},
};

static void write_bad_config(const bad_case *c) {
  static char text[4096];
  const char *at = strstr(good_config, c->find);
  cr_assert_not_null(at, "fixture: '%s' not in the config", c->find);
  size_t pre = (size_t)(at - good_config);
  snprintf(text, sizeof text, "%.*s%s%s", (int)pre, good_config, c->replace,
           at + strlen(c->find));
  write_file("bad.yaml", text, strlen(text));
}

Test(cli, bad_configs_exit_2_with_location) {
  write_book();
  for (size_t i = 0; i < sizeof bad_configs / sizeof *bad_configs; i++) {
    const bad_case *c = &bad_configs[i];
    write_bad_config(c);
    int rc = RUN("run", "bad.yaml", "--quiet");
    cr_expect_eq(rc, 2, "case %zu (%s): exit %d: %s", i, c->replace, rc,
                 err_text);
    char where[64];
    snprintf(where, sizeof where, "bad.yaml:%d:", c->line);
    cr_expect(strstr(err_text, where) != NULL, "case %zu: want %s in: %s", i,
              where, err_text);
    cr_expect(strstr(err_text, c->expect) != NULL, "case %zu: want '%s' in: %s",
              i, c->expect, err_text);
    cr_expect_eq(count_lines(err_text), 1, "case %zu: %s", i, err_text);
    cr_expect_eq(count_outputs(), 0, "case %zu left a file", i);
  }
}

Test(cli, unknown_key_suggests_the_closest) {
  write_good();
  cr_expect_eq(RUN("run", "good.yaml", "--set", "simulation.sed=3"), 2);
  cr_expect(strstr(err_text, "seed") != NULL, "%s", err_text);
  cr_expect_eq(count_outputs(), 0);
}

Test(cli, bad_files_exit_2) {
  write_book();
  cr_expect_eq(RUN("run", "missing.yaml"), 2);
  cr_expect(strstr(err_text, "missing.yaml") != NULL, "%s", err_text);
  write_file("empty.yaml", "", 0);
  cr_expect_eq(RUN("run", "empty.yaml"), 2);
  cr_expect(strstr(err_text, "empty.yaml:1:1") != NULL, "%s", err_text);
  const char garbage[] = "\x7f" "ELF\x02\x01\x01\x00\x00\xff\xfe\x00\x13";
  write_file("garbage.yaml", garbage, sizeof garbage);
  cr_expect_eq(RUN("run", "garbage.yaml"), 2);
  cr_expect(strstr(err_text, "garbage.yaml:") != NULL, "%s", err_text);
  cr_expect_eq(count_lines(err_text), 1, "%s", err_text);
  cr_expect_eq(count_outputs(), 0);
}

static const struct {
  const char *csv, *expect;
  int line;
} bad_books[] = {
    {"account,ETH_collateral,USDC_debt\na,1,2x\n", "number", 2},
    {"account,ETH_collateral,USDC_debt\na,1,2\nb,-1,2\n", "negative", 3},
    {"account,DOGE_collateral,USDC_debt\na,1,2\n", "DOGE", 1},
    {"account,ETH_collateral,USDC_debt\na,1,2\nb,1,2\na,3,1\n", "duplicate", 4},
    {"", "", 1},
};

Test(cli, bad_loan_books_exit_2_with_line) {
  write_file("good.yaml", good_config, strlen(good_config));
  for (size_t i = 0; i < sizeof bad_books / sizeof *bad_books; i++) {
    write_file("book.csv", bad_books[i].csv, strlen(bad_books[i].csv));
    int rc = RUN("run", "good.yaml", "--quiet");
    cr_expect_eq(rc, 2, "book %zu: exit %d: %s", i, rc, err_text);
    char where[64];
    snprintf(where, sizeof where, "book.csv:%d:", bad_books[i].line);
    cr_expect(strstr(err_text, where) != NULL, "book %zu: want %s in %s", i,
              where, err_text);
    cr_expect(strstr(err_text, bad_books[i].expect) != NULL, "book %zu: %s", i,
              err_text);
    cr_expect_eq(count_outputs(), 0);
  }
}

/* Several protocols: a bad book of the second protocol fails validate and
 * run alike, one line naming its file and line, nothing else printed and
 * no file written. */
Test(cli, bad_book_of_a_second_protocol_exits_2) {
  write_book();
  char cfg[4096];
  const char *cut = strstr(good_config, "protocol:\n");
  int n = snprintf(cfg, sizeof cfg, "%.*s", (int)(cut - good_config),
                   good_config);
  n += snprintf(cfg + n, sizeof cfg - (size_t)n, "%s",
                "protocols:\n"
                "  - name: A\n"
                "    protocol: {assets: {ETH: {liquidation_threshold: 0.8, "
                "liquidation_bonus: 0.05}}}\n"
                "    loanbook: {file: book.csv}\n"
                "  - name: B\n"
                "    protocol: {assets: {ETH: {liquidation_threshold: 0.8, "
                "liquidation_bonus: 0.05}}}\n"
                "    loanbook: {file: b.csv}\n"
                "output: {file: out.h5}\n");
  write_file("multi.yaml", cfg, (size_t)n);
  const char *bad = "account,ETH_collateral,USDC_debt\na,1,2x\n";
  write_file("b.csv", bad, strlen(bad));
  cr_expect_eq(RUN("validate", "multi.yaml"), 2, "%s", err_text);
  cr_expect_str_eq(out_text, "");
  cr_expect(strstr(err_text, "b.csv:2:") != NULL, "%s", err_text);
  cr_expect_eq(count_lines(err_text), 1, "%s", err_text);
  cr_expect_eq(RUN("run", "multi.yaml", "--quiet"), 2, "%s", err_text);
  cr_expect(strstr(err_text, "b.csv:2:") != NULL, "%s", err_text);
  cr_expect_eq(count_outputs(), 0);
  /* and with a good book both protocols are summarised */
  const char *good = "account,ETH_collateral,USDC_debt\na,1,2\n";
  write_file("b.csv", good, strlen(good));
  cr_expect_eq(RUN("validate", "multi.yaml"), 0, "%s", err_text);
  cr_expect(strstr(out_text, "B: loan book: 1 accounts") != NULL, "%s",
            out_text);
}

/* Every /summary and /paths dataset equal bit for bit. */
static void expect_same_datasets(hid_t a, hid_t b, const char *group) {
  for (size_t m = 0; m < sizeof metrics / sizeof *metrics; m++) {
    char name[128];
    static double va[4096], vb[4096];
    for (size_t s = 0; s < (group[1] == 's' ? sizeof stats / sizeof *stats : 1);
         s++) {
      if (group[1] == 's')
        snprintf(name, sizeof name, "%s/%s/%s", group, metrics[m], stats[s]);
      else
        snprintf(name, sizeof name, "%s/%s", group, metrics[m]);
      int rank;
      int64_t n = dataset_len(a, name, &rank);
      cr_assert(n <= 4096);
      hid_t da = H5Dopen2(a, name, H5P_DEFAULT), db = H5Dopen2(b, name, H5P_DEFAULT);
      H5Dread(da, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, va);
      H5Dread(db, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, vb);
      H5Dclose(da);
      H5Dclose(db);
      cr_expect(memcmp(va, vb, (size_t)n * sizeof(double)) == 0, "%s differs",
                name);
    }
  }
}

Test(cli, one_and_two_threads_give_identical_bits) {
  write_good();
  cr_assert_eq(RUN("run", "good.yaml", "--quiet", "--threads", "1", "-o",
                   "t1.h5", "--set", "output.per_path=true", "--paths", "1500"),
               0, "%s", err_text);
  cr_assert_eq(RUN("run", "good.yaml", "--quiet", "--threads", "2", "-o",
                   "t2.h5", "--set", "output.per_path=true", "--paths", "1500"),
               0, "%s", err_text);
  hid_t a = open_result("t1.h5"), b = open_result("t2.h5");
  expect_same_datasets(a, b, "/summary");
  expect_same_datasets(a, b, "/paths");
  /* the comparison is not vacuous: cascades happened */
  cr_expect(read_scalar(a, "/summary/cascade_depth/max") >= 2);
  cr_expect(read_scalar(a, "/summary/liquidations/p_positive") > 0.5);
  cr_expect(read_scalar(a, "/summary/bad_debt/p_positive") > 0);
  H5Fclose(a);
  H5Fclose(b);
}

Test(cli, sigterm_leaves_no_file) {
  write_good();
  pid_t pid = spawn((const char *const[]){"run", "good.yaml", "--quiet",
                                          "--paths", "20000000", NULL});
  usleep(700 * 1000);
  kill(pid, SIGTERM);
  int rc = wait_exit(pid);
  cr_expect_eq(rc, 1, "exit %d: %s", rc, err_text);
  cr_expect(strstr(err_text, "interrupted") != NULL, "%s", err_text);
  cr_expect_eq(count_outputs(), 0, "a partial file was left");
}
