/* schelling: the command-line interface (DESIGN.md section 6).
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or input error. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "schelling/config.h"
#include "schelling/engine.h"
#include "schelling/loanbook.h"
#include "schelling/output.h"
#include "schelling/shard.h"
#include "schelling/size.h"
#include "schelling/sweep.h"
#include "mpi_run.h"

#define MAX_OVERRIDES 256
#define MAX_SWEEPS 64

static const char usage[] =
    "usage: schelling run [CONFIG] [-o OUT.h5] [--paths N] [--seed S]\n"
    "                     [--threads T] [--set key.path=value ...]\n"
    "                     [--sweep key.path=v1,v2,... ...] [--shard I/N]\n"
    "                     [--checkpoint FILE [--checkpoint-every SECONDS]\n"
    "                     [--resume]] [--force] [--quiet]\n"
    "       schelling merge SHARD.h5 ... -o OUT.h5 [--force]\n"
    "       schelling validate CONFIG [--set key.path=value ...]\n"
    "                     [--sweep key.path=v1,v2,... ...]\n"
    "       schelling report OUT.h5 [--json | --csv] [--diff]\n"
    "       schelling size [CONFIG] --param KEY --range A:B --target "
    "'STAT(METRIC) <= X'\n"
    "                     [--largest] [--tolerance X] [--max-evals N]\n"
    "                     [-o SIZE.h5] [run options]\n"
    "       schelling --version | --help\n"
    "\n"
    "run       simulate the scenario (the embedded default without CONFIG),\n"
    "          every sweep point on common random numbers, and write the\n"
    "          HDF5 result (output.file, or -o)\n"
    "          (--shard I/N: only shard I of N, written as a shard file)\n"
    "          (--checkpoint: save progress every 300 s and on SIGTERM/SIGINT,\n"
    "          then exit 75; --resume continues from it, same result bits)\n"
    "merge     combine a complete set of shards into the single run's file\n"
    "validate  check a config, its sweep and its loan book, print a summary\n"
    "report    print a result file: table, CSV or JSON; --diff: differences\n"
    "          against the baseline point with paired standard errors\n"
    "size      find the smallest (--largest: largest) value of KEY in [A, B]\n"
    "          meeting the target, by bisection on common random numbers\n"
    "\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 usage or input error.\n"
    "Config reference: docs/config.md; output names: docs/output.md.\n";

static volatile sig_atomic_t interrupted_flag;

static void on_signal(int sig) {
  (void)sig;
  interrupted_flag = 1;
}

static int fail(sch_status st, const sch_error *err) {
  /* Under MPI every rank reads the same inputs: rank 0 speaks for input
   * errors; a runtime failure is reported by the rank it happened on. */
  int rank = sch_mpi_rank();
  if (rank == 0)
    fprintf(stderr, "schelling: %s\n", err->msg);
  else if (st != SCH_ERR_INPUT)
    fprintf(stderr, "schelling: rank %d: %s\n", rank, err->msg);
  return (int)st;
}
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt,
                                                             ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("schelling: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs(" (see schelling --help)\n", stderr);
  va_end(ap);
  return SCH_ERR_INPUT;
}

/* Options shared by run and validate. */
typedef struct cli_options {
  const char *config;
  const char *out;
  const char *overrides[MAX_OVERRIDES];
  char *owned[4]; /* override strings built from --paths/--seed/-o */
  size_t n_overrides, n_owned;
  const char *sweeps[MAX_SWEEPS];
  size_t n_sweeps;
  int threads;
  int shard, shards; /* --shard I/N; shards 0: the whole run */
  const char *checkpoint;  /* --checkpoint FILE */
  bool keep_checkpoint;    /* MPI: a finished rank keeps a final checkpoint
                              until the whole job has succeeded */
  bool part_output;        /* MPI: -o is this rank's part file */
  double checkpoint_every; /* seconds */
  bool resume;
  bool force, quiet, json;
} cli_options;

static int add_override(cli_options *o, const char *key, const char *value) {
  if (o->n_overrides >= MAX_OVERRIDES)
    return usage_error("too many --set options (at most %s)", "256");
  if (!value) {
    o->overrides[o->n_overrides++] = key;
    return 0;
  }
  size_t len = strlen(key) + strlen(value) + 2;
  char *s = malloc(len);
  if (!s)
    return SCH_ERR_RUNTIME;
  snprintf(s, len, "%s=%s", key, value);
  o->owned[o->n_owned++] = s;
  o->overrides[o->n_overrides++] = s;
  return 0;
}

static void free_options(cli_options *o) {
  for (size_t i = 0; i < o->n_owned; i++)
    free(o->owned[i]);
}

static bool is_integer(const char *s) {
  if (!*s)
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

/* The value of an option taking one: next argument. */
static const char *option_value(int argc, char **argv, int *i) {
  if (*i + 1 >= argc)
    return NULL;
  return argv[++*i];
}

static int parse_options(int argc, char **argv, int first, cli_options *o,
                         bool run) {
  for (int i = first; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    int rc = 0;
    if (strcmp(a, "--force") == 0 && run) {
      o->force = true;
    } else if (strcmp(a, "--quiet") == 0 && run) {
      o->quiet = true;
    } else if (strcmp(a, "--set") == 0) {
      if (!(v = option_value(argc, argv, &i)))
        return usage_error("%s needs key.path=value", a);
      rc = add_override(o, v, NULL);
    } else if (strcmp(a, "--sweep") == 0) {
      if (!(v = option_value(argc, argv, &i)))
        return usage_error("%s needs key.path=value1,value2,...", a);
      if (o->n_sweeps >= MAX_SWEEPS)
        return usage_error("too many --sweep options (at most %d)", MAX_SWEEPS);
      o->sweeps[o->n_sweeps++] = v;
    } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && run) {
      if (!(v = option_value(argc, argv, &i)) || !*v)
        return usage_error("%s needs a file name", a);
      o->out = v;
    } else if (strcmp(a, "--paths") == 0 && run) {
      if (!(v = option_value(argc, argv, &i)) || !is_integer(v))
        return usage_error("--paths needs a positive integer, got '%s'",
                           v ? v : "");
      rc = add_override(o, "simulation.paths", v);
    } else if (strcmp(a, "--seed") == 0 && run) {
      if (!(v = option_value(argc, argv, &i)) || !is_integer(v))
        return usage_error("--seed needs a non-negative integer, got '%s'",
                           v ? v : "");
      rc = add_override(o, "simulation.seed", v);
    } else if (strcmp(a, "--threads") == 0 && run) {
      if (!(v = option_value(argc, argv, &i)) || !is_integer(v) ||
          atoi(v) < 1 || atoi(v) > 4096)
        return usage_error("--threads needs an integer in [1, 4096], got '%s'",
                           v ? v : "");
      o->threads = atoi(v);
    } else if (strcmp(a, "--shard") == 0 && run) {
      int i_shard = -1, n_shards = 0, used = 0;
      if (!(v = option_value(argc, argv, &i)) ||
          sscanf(v, "%d/%d%n", &i_shard, &n_shards, &used) != 2 ||
          v[used] != '\0' || n_shards < 1 || n_shards > 100000 ||
          i_shard < 0 || i_shard >= n_shards)
        return usage_error("--shard needs I/N with 0 <= I < N, got '%s'",
                           v ? v : "");
      o->shard = i_shard;
      o->shards = n_shards;
    } else if (strcmp(a, "--checkpoint") == 0 && run) {
      if (!(v = option_value(argc, argv, &i)) || !*v)
        return usage_error("%s needs a file name", a);
      o->checkpoint = v;
    } else if (strcmp(a, "--checkpoint-every") == 0 && run) {
      char *end = NULL;
      if (!(v = option_value(argc, argv, &i)) ||
          !((o->checkpoint_every = strtod(v, &end)) >= 0) || *end)
        return usage_error("--checkpoint-every needs seconds >= 0, got '%s'",
                           v ? v : "");
    } else if (strcmp(a, "--resume") == 0 && run) {
      o->resume = true;
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("unknown option '%s'", a);
    } else if (!o->config) {
      o->config = a;
    } else {
      return usage_error("unexpected argument '%s'", a);
    }
    if (rc)
      return rc;
  }
  return 0;
}

static void utc_now(char *buf, size_t len) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The result file, or with shards > 0 the shard file (same root attributes,
 * /config and /sweep; the shard state instead of the summaries). */
static sch_status write_result(const sch_config *cfg, const sch_sweep *sweep,
                               const sch_results *res, sch_h5_writer *w,
                               int shard, int shards, sch_error *err) {
  char created[32];
  utc_now(created, sizeof created);
  sch_run_info info = {
      .schelling_version = sch_version(),
      .created_utc = created,
      .seed = cfg->simulation.seed,
      .paths = cfg->simulation.paths,
      .steps = cfg->simulation.steps,
      .dt_seconds = cfg->simulation.step_s,
      .threads = sch_results_threads(res),
      .ranks = 1,
  };
  sch_status st = sch_h5_write_run_info(w, &info, err);
  if (st == SCH_OK)
    st = sch_h5_write_config(w, sweep->resolved_yaml, err);
  if (st == SCH_OK)
    st = sch_h5_write_sweep(w, sweep, err);
  if (st == SCH_OK)
    st = shards > 0 ? sch_shard_write(res, w, shard, shards, err)
                    : sch_results_write(res, w, err);
  return st;
}

/* --checkpoint: the blocks done so far, as a shard file written atomically
 * (temporary file and rename) every `every` seconds and when interrupted. */
typedef struct checkpointer {
  const cli_options *o;
  const sch_config *cfg;
  const sch_sweep *sweep;
  double last;
  bool final_written;
} checkpointer;

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static sch_status write_checkpoint(void *ctx, const sch_results *res,
                                   bool final, sch_error *err) {
  checkpointer *c = ctx;
  double now = seconds_now();
  if (!final && now - c->last < c->o->checkpoint_every)
    return SCH_OK;
  sch_h5_writer *w = NULL;
  sch_status st = sch_h5_open_owned(c->o->checkpoint, &w, err);
  if (st == SCH_OK)
    st = write_result(c->cfg, c->sweep, res, w, c->o->shard,
                      c->o->shards > 0 ? c->o->shards : 1, err);
  if (st == SCH_OK)
    st = sch_h5_commit(&w, err);
  else
    sch_h5_abort(&w);
  c->last = now;
  c->final_written = final && st == SCH_OK;
  return st;
}

/* Checkpoints cover summaries, not the per-path datasets of the result
 * file (they stream into its temporary file, which an interruption
 * removes). */
static sch_status check_checkpoint_options(const cli_options *o,
                                           const sch_config *cfg,
                                           sch_error *err) {
  if (o->resume && !o->checkpoint)
    return sch_fail(err, SCH_ERR_INPUT, "--resume needs --checkpoint FILE");
  if (o->checkpoint && cfg->output.per_path)
    return sch_fail(err, SCH_ERR_INPUT,
                    "--checkpoint cannot be combined with output.per_path");
  if (o->resume && access(o->checkpoint, R_OK) != 0)
    return sch_fail(err, SCH_ERR_INPUT, "%s: no checkpoint to resume from",
                    o->checkpoint);
  return SCH_OK;
}

static void install_signal_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

/* The configurations of every sweep point and their loan books. */
typedef struct inputs {
  sch_config *points;
  sch_sweep sweep;
  sch_loanbook **books;
} inputs;

/* Load configs and books; errors are input errors (exit 2). */
static sch_status load_inputs(const cli_options *o, inputs *in,
                              sch_error *err) {
  sch_status st =
      sch_config_load_sweep(o->config, o->overrides, o->n_overrides, o->sweeps,
                            o->n_sweeps, &in->points, &in->sweep, err);
  if (st == SCH_OK)
    st = sch_sweep_books_load(in->points, in->sweep.n_points, &in->books, err);
  return st;
}

static void free_inputs(inputs *in) {
  sch_sweep_books_free(in->books, in->sweep.n_points);
  sch_sweep_free(&in->sweep, in->points);
}

/* One run (or one shard) as the options say; returns the exit code. */
static int run_job(cli_options *op) {
  cli_options o = *op;
  int rc = o.out ? add_override(&o, "output.file", o.out) : 0;
  if (rc) {
    *op = o;
    return rc;
  }
  sch_set_quiet(o.quiet);
  /* Before the temporary file exists, so a signal can never strand it. */
  install_signal_handlers();
  sch_error err = {{0}};
  inputs in = {0};
  sch_h5_writer *w = NULL;
  sch_results *res = NULL;
  sch_status st = load_inputs(&o, &in, &err);
  const sch_config *cfg = st == SCH_OK ? &in.points[0] : NULL;
  /* The destination is checked (and the temporary file made) before any
   * simulation, so a bad -o fails in a second, not after an hour. */
  if (st == SCH_OK)
    st = check_checkpoint_options(&o, cfg, &err);
  if (st == SCH_OK)
    st = o.part_output ? sch_h5_open_owned(cfg->output.file, &w, &err)
                       : sch_h5_open(cfg->output.file, o.force, &w, &err);
  checkpointer ck = {&o, cfg, &in.sweep, seconds_now(), false};
  if (st == SCH_OK) {
    sch_run_options opt = {
        .threads = o.threads,
        .progress = !o.quiet && isatty(STDERR_FILENO),
        .interrupted = (volatile const int *)&interrupted_flag,
        .shard_index = o.shard,
        .shard_count = o.shards,
        .checkpoint = o.checkpoint ? write_checkpoint : NULL,
        .checkpoint_ctx = &ck,
        .resume = o.resume ? o.checkpoint : NULL,
        .resume_config = in.sweep.resolved_yaml,
    };
    st = sch_engine_run_sweep(in.points, (const sch_loanbook *const *)in.books,
                              in.sweep.n_points, in.sweep.baseline, &opt, w,
                              &res, &err);
  }
  if (st == SCH_OK)
    st = write_result(cfg, &in.sweep, res, w, o.shard, o.shards, &err);
  if (st == SCH_OK)
    st = sch_h5_commit(&w, &err);
  else
    sch_h5_abort(&w);
  if (st == SCH_OK && o.checkpoint && o.keep_checkpoint)
    st = write_checkpoint(&ck, res, true, &err); /* its whole shard */
  else if (st == SCH_OK && o.checkpoint)
    sch_h5_remove_owned(o.checkpoint); /* the result supersedes it */
  if (st != SCH_OK && ck.final_written) {
    fprintf(stderr,
            "schelling: interrupted; checkpoint written to %s (run again with "
            "--resume)\n",
            o.checkpoint);
    rc = SCH_EXIT_CHECKPOINTED;
    st = SCH_OK;
  }
  if (rc == 0 && st == SCH_OK && !o.quiet && o.shards > 0)
    printf("shard %d/%d in %.2f s -> %s\n", o.shard, o.shards,
           sch_results_seconds(res), cfg->output.file);
  else if (rc == 0 && st == SCH_OK && !o.quiet) {
    printf("%lld paths", (long long)cfg->simulation.paths);
    if (in.sweep.n_points > 1)
      printf(" x %d sweep points", in.sweep.n_points);
    printf(" in %.2f s on %d threads -> %s\n", sch_results_seconds(res),
           sch_results_threads(res), cfg->output.file);
    st = sch_report(cfg->output.file, false, stdout, &err);
  }
  if (st != SCH_OK)
    rc = fail(st, &err);
  sch_results_free(res);
  free_inputs(&in);
  *op = o; /* owned override strings are freed by the caller */
  return rc;
}

/* The output file a run will write: -o, else output.file of the config. */
static sch_status final_output(const cli_options *o, char *buf, size_t len,
                               sch_error *err) {
  if (o->out) {
    snprintf(buf, len, "%s", o->out);
    return SCH_OK;
  }
  sch_config cfg = {0};
  sch_status st =
      sch_config_load(o->config, o->overrides, o->n_overrides, &cfg, err);
  if (st == SCH_OK)
    snprintf(buf, len, "%s", cfg.output.file);
  sch_config_free(&cfg);
  return st;
}

/* mpirun -np R schelling run ...: rank r runs shard r/R into a temporary
 * part file next to the output, and rank 0 merges the parts into the
 * output, exactly the one-process file. Every rank agrees on success before
 * the merge, so a failure anywhere leaves no output and no parts. */
static int run_mpi(cli_options *o) {
  const int rank = sch_mpi_rank(), ranks = sch_mpi_size();
  char final[SCH_PATH_MAX], part[SCH_PATH_MAX + 64], ck[SCH_PATH_MAX + 32];
  sch_error err = {{0}};
  sch_status st = final_output(o, final, sizeof final, &err);
  sch_h5_writer *probe = NULL;
  if (st == SCH_OK && rank == 0) /* refuse early: existing or unwritable */
    st = sch_h5_open(final, o->force, &probe, &err);
  sch_h5_abort(&probe);
  if (!sch_mpi_all(st == SCH_OK))
    return rank == 0 && st != SCH_OK ? fail(st, &err) : SCH_ERR_INPUT;
  /* Part names depend only on the output and the rank: a part left by a
   * job that was killed (mpirun's SIGKILL after its SIGTERM can catch a
   * finished rank waiting for the others) is overwritten by the resumed
   * job and removed with its own parts. */
  const char *slash = strrchr(final, '/');
  snprintf(part, sizeof part, "%.*s.%s.rank%d.h5",
           slash ? (int)(slash - final + 1) : 0, final,
           slash ? slash + 1 : final, rank);
  bool quiet = o->quiet;
  o->out = part;
  o->shard = rank;
  o->shards = ranks;
  o->force = true;
  o->part_output = true;
  o->quiet = true;
  if (o->checkpoint) { /* one checkpoint per rank */
    snprintf(ck, sizeof ck, "%s.rank%d", o->checkpoint, rank);
    o->checkpoint = ck;
    /* A rank that finishes while another is interrupted must not lose its
     * shard: it keeps a final checkpoint, removed once the job succeeds. */
    o->keep_checkpoint = true;
  }
  int rc = run_job(o);
  bool ok = sch_mpi_all(rc == 0);
  /* interrupted anywhere: every rank reports it, so `srun` requeues */
  bool checkpointed = !sch_mpi_all(rc != SCH_EXIT_CHECKPOINTED);
  if (ok && rank == 0) {
    const char **parts = calloc((size_t)ranks, sizeof *parts);
    char(*names)[SCH_PATH_MAX + 64] = calloc((size_t)ranks, sizeof *names);
    for (int r = 0; parts && names && r < ranks; r++) {
      snprintf(names[r], sizeof names[r], "%.*s.%s.rank%d.h5",
               slash ? (int)(slash - final + 1) : 0, final,
               slash ? slash + 1 : final, r);
      parts[r] = names[r];
    }
    st = parts && names ? sch_shard_merge(parts, ranks, final, true, &err)
                        : sch_fail(&err, SCH_ERR_RUNTIME, "out of memory");
    if (st == SCH_OK && !quiet)
      st = sch_report(final, false, stdout, &err);
    rc = st == SCH_OK ? 0 : fail(st, &err);
    free(parts);
    free(names);
  }
  rc = (int)sch_mpi_broadcast(rc != 0 ? rc : (ok ? 0 : SCH_ERR_RUNTIME));
  if (!ok && checkpointed)
    rc = SCH_EXIT_CHECKPOINTED;
  sch_h5_remove_owned(part); /* after the merge: the broadcast waited */
  if (rc == 0 && o->checkpoint)
    sch_h5_remove_owned(o->checkpoint); /* the merged result supersedes it */
  return rc;
}

static int cmd_run(int argc, char **argv) {
  cli_options o = {0};
  int rc = parse_options(argc, argv, 2, &o, true);
  if (rc == 0)
    rc = sch_mpi_size() > 1 && o.shards == 0 ? run_mpi(&o) : run_job(&o);
  free_options(&o);
  return rc;
}

/* One loan book: size, debt and collateral at t = 0 prices, health. */
static void print_book(const char *label, const sch_config *cfg,
                       const sch_loanbook *book) {
  double prices[SCH_MAX_ASSETS], debt = 0.0, collateral = 0.0;
  for (int i = 0; i < cfg->n_assets; i++)
    prices[i] = cfg->assets[i].price;
  int64_t indebted = 0, below = 0, near = 0;
  for (int64_t a = 0; a < book->n_accounts; a++) {
    double d = 0.0;
    for (int i = 0; i < cfg->n_assets; i++) {
      d += book->debt[a * cfg->n_assets + i] * prices[i];
      collateral += book->collateral[a * cfg->n_assets + i] * prices[i];
    }
    debt += d;
    if (d <= 0.0)
      continue;
    indebted++;
    double hf = sch_loanbook_health(cfg, book, a, prices);
    below += hf < 1.0;
    near += hf >= 1.0 && hf < 1.05;
  }
  printf("  %sloan book: %lld accounts (%lld with debt), debt $%.6g, "
         "collateral $%.6g\n",
         label, (long long)book->n_accounts, (long long)indebted, debt,
         collateral);
  printf("  %shealth at t=0: %lld below 1, %lld in [1, 1.05)\n", label,
         (long long)below, (long long)near);
  printf("  %sliquidators: %s\n", label,
         cfg->liquidators.enabled ? "on" : "off");
}

/* Several protocols: every protocol's book is loaded first (a bad book of
 * any protocol fails validation, with nothing printed, as it would fail the
 * run), then summarised. */
static sch_status load_protocol_books(const sch_config *cfg,
                                      sch_loanbook *books, sch_error *err) {
  for (int p = 1; p < cfg->n_protocols; p++) {
    sch_status st = sch_loanbook_load(&cfg->protocol_cfg[p], &books[p], err);
    if (st != SCH_OK)
      return st;
  }
  return SCH_OK;
}

static void print_protocols(const sch_config *cfg, const sch_loanbook *book,
                            const sch_loanbook *others) {
  printf("  protocols (%s market):", cfg->isolated_market ? "isolated"
                                                          : "shared");
  for (int p = 0; p < cfg->n_protocols; p++)
    printf(" %s", cfg->protocol_names[p]);
  printf("\n");
  for (int p = 0; p < cfg->n_protocols; p++) {
    char label[SCH_NAME_MAX + 3];
    snprintf(label, sizeof label, "%s: ", cfg->protocol_names[p]);
    print_book(label, &cfg->protocol_cfg[p], p == 0 ? book : &others[p]);
  }
}

static sch_status print_validation(const sch_config *cfg,
                                   const sch_loanbook *book, sch_error *err) {
  bool several = cfg->protocol_cfg && cfg->n_protocols > 1;
  sch_loanbook others[SCH_MAX_PROTOCOLS] = {{0}};
  sch_status st = several ? load_protocol_books(cfg, others, err) : SCH_OK;
  if (st == SCH_OK) {
    printf("%s: ok\n", cfg->source);
    printf("  simulation: %lld paths, %lld steps of %g s (horizon %g s), "
           "seed %llu, %s returns\n",
           (long long)cfg->simulation.paths, (long long)cfg->simulation.steps,
           cfg->simulation.step_s, cfg->simulation.horizon_s,
           (unsigned long long)cfg->simulation.seed,
           cfg->simulation.returns == SCH_RETURNS_STUDENT_T ? "student_t"
                                                            : "gaussian");
    printf("  assets:");
    for (int i = 0; i < cfg->n_assets; i++)
      printf(" %s%s", cfg->assets[i].name,
             cfg->assets[i].stable ? "(stable)" : "");
    printf("\n");
    if (several)
      print_protocols(cfg, book, others);
    else
      print_book("", cfg, book);
  }
  for (int p = 1; p < SCH_MAX_PROTOCOLS; p++)
    sch_loanbook_free(&others[p]);
  return st;
}

/* The distinct values of key k, in sweep order. */
static void print_key_values(const sch_sweep *sw, int k) {
  printf("    %s:", sw->keys[k]);
  for (int p = 0; p < sw->n_points; p++) {
    const char *v = sw->values[(size_t)p * (size_t)sw->n_keys + (size_t)k];
    bool seen = false;
    for (int q = 0; !seen && q < p; q++)
      seen = !strcmp(v, sw->values[(size_t)q * (size_t)sw->n_keys + (size_t)k]);
    if (!seen)
      printf(" %s", v);
  }
  printf("\n");
}

static void print_sweep(const sch_sweep *sw) {
  if (sw->n_keys == 0)
    return;
  printf("  sweep: %d points (first key slowest), baseline point %d "
         "(the summary above)\n",
         sw->n_points, sw->baseline);
  for (int k = 0; k < sw->n_keys; k++)
    print_key_values(sw, k);
}

static int cmd_validate(int argc, char **argv) {
  cli_options o = {0};
  int rc = parse_options(argc, argv, 2, &o, false);
  if (!rc && !o.config)
    rc = usage_error("validate needs a CONFIG file%s", "");
  if (rc) {
    free_options(&o);
    return rc;
  }
  sch_error err = {{0}};
  inputs in = {0};
  sch_status st = load_inputs(&o, &in, &err);
  if (st == SCH_OK) {
    int b = in.sweep.baseline;
    st = print_validation(&in.points[b], in.books[b], &err);
  }
  if (st == SCH_OK)
    print_sweep(&in.sweep);
  else
    rc = fail(st, &err);
  free_inputs(&in);
  free_options(&o);
  return rc;
}

static int cmd_report(int argc, char **argv) {
  const char *file = NULL;
  sch_report_options ro = {0};
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0)
      ro.json = true;
    else if (strcmp(argv[i], "--csv") == 0)
      ro.csv = true;
    else if (strcmp(argv[i], "--diff") == 0)
      ro.diff = true;
    else if (argv[i][0] == '-' && argv[i][1])
      return usage_error("unknown option '%s'", argv[i]);
    else if (!file)
      file = argv[i];
    else
      return usage_error("unexpected argument '%s'", argv[i]);
  }
  if (!file)
    return usage_error("report needs a result file%s", "");
  if (ro.json && ro.csv)
    return usage_error("report takes --json or --csv, not both%s", "");
  sch_error err = {{0}};
  sch_status st = sch_report_print(file, &ro, stdout, &err);
  return st == SCH_OK ? 0 : fail(st, &err);
}

/* ---- schelling size ---------------------------------------------------- */

typedef struct size_args {
  const char *param, *range, *target, *tolerance, *max_evals;
  bool largest;
} size_args;

/* Take the size options out of argv; the rest are run options. */
static int take_size_options(int argc, char **argv, size_args *sa, char **rest,
                             int *n_rest) {
  struct {
    const char *flag;
    const char **slot;
  } const valued[] = {{"--param", &sa->param},
                      {"--range", &sa->range},
                      {"--target", &sa->target},
                      {"--tolerance", &sa->tolerance},
                      {"--max-evals", &sa->max_evals}};
  *n_rest = 0;
  for (int i = 0; i < argc; i++) {
    size_t f = 0;
    while (f < sizeof valued / sizeof *valued &&
           strcmp(argv[i], valued[f].flag) != 0)
      f++;
    if (strcmp(argv[i], "--largest") == 0) {
      sa->largest = true;
    } else if (f < sizeof valued / sizeof *valued) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value", argv[i]);
      *valued[f].slot = argv[++i];
    } else {
      rest[(*n_rest)++] = argv[i];
    }
  }
  return 0;
}

static bool parse_range(const char *text, double range[2]) {
  char *end = NULL;
  range[0] = strtod(text, &end);
  if (end == text || *end != ':')
    return false;
  const char *second = end + 1;
  range[1] = strtod(second, &end);
  return end != second && !*end && isfinite(range[0]) && isfinite(range[1]) &&
         range[0] < range[1];
}

/* Flags override the config's size: section. */
static int size_spec(const size_args *sa, const sch_size_config *cfg,
                     sch_size_spec *spec, const char **target, sch_error *err) {
  memset(spec, 0, sizeof *spec);
  snprintf(spec->param, sizeof spec->param, "%s",
           sa->param ? sa->param : cfg->param);
  spec->range[0] = cfg->range[0];
  spec->range[1] = cfg->range[1];
  if (!spec->param[0])
    return usage_error("size needs --param KEY (or size.param)%s", "");
  if (sa->range && !parse_range(sa->range, spec->range))
    return usage_error("--range needs A:B with numbers A < B, got '%s'",
                       sa->range);
  if (!sa->range && !cfg->has_range)
    return usage_error("size needs --range A:B (or size.range)%s", "");
  *target = sa->target ? sa->target : cfg->target;
  if (!**target)
    return usage_error("size needs --target 'STAT(METRIC) <= X' (or "
                       "size.target)%s",
                       "");
  if (sch_target_parse(*target, &spec->target, err) != SCH_OK) {
    if (!sa->target && cfg->where[0]) { /* locate it in the config */
      char msg[SCH_ERROR_MAX];
      snprintf(msg, sizeof msg, "%s", err->msg);
      sch_fail(err, SCH_ERR_INPUT, "%s: %s", cfg->where, msg);
    }
    return fail(SCH_ERR_INPUT, err);
  }
  spec->largest = sa->largest || cfg->largest;
  spec->tolerance = cfg->tolerance > 0
                        ? cfg->tolerance
                        : (spec->range[1] - spec->range[0]) * 1e-3;
  if (sa->tolerance)
    spec->tolerance = strtod(sa->tolerance, NULL);
  if (!(spec->tolerance > 0))
    return usage_error("--tolerance needs a number > 0, got '%s'",
                       sa->tolerance);
  spec->max_evals = cfg->max_evals > 0 ? cfg->max_evals : 40;
  if (sa->max_evals && (!is_integer(sa->max_evals) ||
                        (spec->max_evals = atoi(sa->max_evals)) < 3 ||
                        spec->max_evals > SCH_SIZE_MAX_EVALS))
    return usage_error("--max-evals needs an integer in [3, 200], got '%s'",
                       sa->max_evals);
  return 0;
}

/* The config's size: section (the whole config is validated too). */
static sch_status read_size_config(const cli_options *o, sch_size_config *out,
                                   sch_error *err) {
  sch_config *points = NULL;
  sch_sweep sweep;
  sch_status st = sch_config_load_sweep(o->config, o->overrides, o->n_overrides,
                                        NULL, 0, &points, &sweep, err);
  if (st == SCH_OK)
    *out = sweep.size;
  sch_sweep_free(&sweep, points);
  return st;
}

static sch_status write_size_file(const cli_options *o,
                                  const sch_size_spec *spec, const char *target,
                                  const sch_size_result *res, sch_error *err) {
  sch_config cfg;
  sch_h5_writer *w = NULL;
  sch_status st =
      sch_config_load(o->config, o->overrides, o->n_overrides, &cfg, err);
  if (st != SCH_OK)
    return st;
  char created[32];
  utc_now(created, sizeof created);
  sch_run_info info = {sch_version(),        created,
                       cfg.simulation.seed,  cfg.simulation.paths,
                       cfg.simulation.steps, cfg.simulation.step_s,
                       o->threads,           1};
  st = sch_h5_open(o->out, o->force, &w, err);
  if (st == SCH_OK)
    st = sch_h5_write_run_info(w, &info, err);
  if (st == SCH_OK)
    st = sch_h5_write_config(w, cfg.resolved_yaml, err);
  if (st == SCH_OK)
    st = sch_size_write(w, spec, target, res, err);
  if (st == SCH_OK)
    st = sch_h5_commit(&w, err);
  else
    sch_h5_abort(&w);
  sch_config_free(&cfg);
  return st;
}

static int run_size(const cli_options *o, const size_args *sa) {
  sch_error err = {{0}};
  sch_size_config from_config;
  sch_status st = read_size_config(o, &from_config, &err);
  if (st != SCH_OK)
    return fail(st, &err);
  sch_size_spec spec;
  const char *target = NULL;
  int rc = size_spec(sa, &from_config, &spec, &target, &err);
  if (rc)
    return rc;
  sch_run_options opt = {
      .threads = o->threads,
      .interrupted = (volatile const int *)&interrupted_flag,
  };
  sch_size_result *res = malloc(sizeof *res);
  if (!res)
    return SCH_ERR_RUNTIME;
  st = sch_size_solve(o->config, o->overrides, o->n_overrides, &spec, &opt, res,
                      &err);
  if (st == SCH_OK && !o->quiet)
    sch_size_print(&spec, target, res, stdout);
  if (st == SCH_OK && o->out)
    st = write_size_file(o, &spec, target, res, &err);
  free(res);
  return st == SCH_OK ? 0 : fail(st, &err);
}

static int cmd_size(int argc, char **argv) {
  size_args sa = {0};
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  int n_rest = 0;
  if (!rest)
    return SCH_ERR_RUNTIME;
  int rc = take_size_options(argc, argv, &sa, rest, &n_rest);
  cli_options o = {0};
  if (!rc)
    rc = parse_options(n_rest, rest, 2, &o, true);
  if (!rc && o.n_sweeps)
    rc = usage_error("size takes no --sweep: it searches --param%s", "");
  sch_set_quiet(o.quiet);
  install_signal_handlers();
  if (!rc)
    rc = run_size(&o, &sa);
  free_options(&o);
  free(rest);
  return rc;
}

/* schelling merge SHARD.h5 ... -o OUT.h5 [--force] */
static int cmd_merge(int argc, char **argv) {
  const char *out = NULL;
  bool force = false;
  const char **files = calloc((size_t)argc, sizeof *files);
  int n = 0;
  if (!files)
    return SCH_ERR_RUNTIME;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
      out = argv[++i];
    } else if (strcmp(argv[i], "--force") == 0) {
      force = true;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      free(files);
      return usage_error("unknown option '%s'", argv[i]);
    } else {
      files[n++] = argv[i];
    }
  }
  if (!out || n == 0) {
    free(files);
    return usage_error("merge needs shard files and -o OUT.h5%s", "");
  }
  sch_error err = {{0}};
  sch_status st = sch_shard_merge(files, n, out, force, &err);
  free(files);
  if (st != SCH_OK)
    return fail(st, &err);
  return 0;
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv) {
  sch_mpi_start(&argc, &argv);
  int rc = dispatch(argc, argv);
  sch_mpi_finish();
  return rc;
}

static int dispatch(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return SCH_ERR_INPUT;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
#ifdef SCH_HAVE_MPI
    printf("schelling %s (mpi)\n", sch_version());
#else
    printf("schelling %s\n", sch_version());
#endif
    return 0;
  }
  if (strcmp(cmd, "run") == 0)
    return cmd_run(argc, argv);
  if (strcmp(cmd, "validate") == 0)
    return cmd_validate(argc, argv);
  if (strcmp(cmd, "report") == 0)
    return cmd_report(argc, argv);
  if (strcmp(cmd, "merge") == 0)
    return cmd_merge(argc, argv);
  if (strcmp(cmd, "size") == 0)
    return cmd_size(argc, argv);
  return usage_error("unknown command '%s'", cmd);
}
