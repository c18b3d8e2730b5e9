/* `schelling size`: the smallest (or largest) value of one parameter that
 * meets a target, by bisection on common random numbers. Every evaluation is
 * the same scenario with the same seed and one parameter changed, so the
 * statistic moves smoothly with the parameter instead of jumping with the
 * noise of fresh paths. The answer's uncertainty is the last bracket joined
 * with the set of values whose statistic's 95% CI holds the threshold; that
 * set's edges are located by bisection too, with the evaluations left. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schelling/size.h"

/* ------------------------------------------------------------- targets */

static const char target_help[] =
    "expected STAT(METRIC) <= NUMBER or >= NUMBER with STAT mean, "
    "p_positive, var_<lvl> or es_<lvl> (e.g. es_99(uncovered_shortfall) "
    "<= 1e6)";

static const char *skip_space(const char *p) {
  while (isspace((unsigned char)*p))
    p++;
  return p;
}

/* "var_99" -> 0.99, "es_999" -> 0.999; false unless digits follow. */
static bool level_of(const char *digits, double *level) {
  char text[32];
  if (!*digits || strspn(digits, "0123456789") != strlen(digits) ||
      strlen(digits) > 16)
    return false;
  snprintf(text, sizeof text, "0.%s", digits);
  *level = strtod(text, NULL);
  return *level > 0 && *level < 1;
}

static bool parse_stat(const char *name, sch_target *t) {
  snprintf(t->stat_name, sizeof t->stat_name, "%s", name);
  t->level = 0;
  if (!strcmp(name, "mean"))
    t->stat = SCH_TARGET_MEAN;
  else if (!strcmp(name, "p_positive"))
    t->stat = SCH_TARGET_P_POSITIVE;
  else if (!strncmp(name, "var_", 4) && level_of(name + 4, &t->level))
    t->stat = SCH_TARGET_VAR;
  else if (!strncmp(name, "es_", 3) && level_of(name + 3, &t->level))
    t->stat = SCH_TARGET_ES;
  else
    return false;
  return true;
}

/* Copy a word of [A-Za-z0-9_] into buf; the end of it, or NULL. */
static const char *word(const char *p, char *buf, size_t size) {
  size_t n = 0;
  while (isalnum((unsigned char)p[n]) || p[n] == '_')
    n++;
  if (n == 0 || n >= size)
    return NULL;
  memcpy(buf, p, n);
  buf[n] = '\0';
  return p + n;
}

sch_status sch_target_parse(const char *text, sch_target *out, sch_error *err) {
  char stat[32];
  memset(out, 0, sizeof *out);
  const char *p = word(skip_space(text), stat, sizeof stat);
  bool ok = p && parse_stat(stat, out);
  if (ok && *(p = skip_space(p)) == '(')
    p = word(skip_space(p + 1), out->metric, sizeof out->metric);
  else
    ok = false;
  if (ok && p && *(p = skip_space(p)) == ')')
    p = skip_space(p + 1);
  else
    ok = false;
  if (ok && (!strncmp(p, "<=", 2) || !strncmp(p, ">=", 2))) {
    out->at_most = p[0] == '<';
    char *end = NULL;
    const char *number = skip_space(p + 2);
    out->threshold = strtod(number, &end);
    ok = end != number && !*skip_space(end) && isfinite(out->threshold);
  } else {
    ok = false;
  }
  if (!ok)
    return sch_fail(err, SCH_ERR_INPUT, "target '%s': %s", text, target_help);
  return SCH_OK;
}

/* -------------------------------------------------------------- search */

typedef struct search {
  const sch_size_spec *spec;
  sch_size_eval_fn eval;
  void *ctx;
  sch_size_result *res;
  sch_error *err;
} search;

static bool meets(const sch_target *t, double statistic) {
  return t->at_most ? statistic <= t->threshold : statistic >= t->threshold;
}

/* The threshold lies within the statistic's 95% CI. */
static bool consistent(const sch_target *t, const sch_size_eval *e) {
  return e->lo <= t->threshold && t->threshold <= e->hi;
}

static bool budget_left(const search *s) {
  return s->res->n_evals < s->spec->max_evals &&
         s->res->n_evals < SCH_SIZE_MAX_EVALS;
}

static sch_status evaluate(search *s, double value, sch_size_eval *out) {
  sch_size_eval e = {.value = value};
  sch_status st = s->eval(s->ctx, value, &e, s->err);
  if (st != SCH_OK)
    return st;
  e.value = value;
  e.met = meets(&s->spec->target, e.statistic);
  s->res->evals[s->res->n_evals++] = e;
  *out = e;
  return SCH_OK;
}

/* Bisect [x_no, x_yes] (x_no does not meet, x_yes meets) to the tolerance. */
static sch_status bisect(search *s, double x_no, double x_yes) {
  sch_status st = SCH_OK;
  while (st == SCH_OK && fabs(x_yes - x_no) > s->spec->tolerance &&
         budget_left(s)) {
    sch_size_eval e;
    double mid = 0.5 * (x_no + x_yes);
    st = evaluate(s, mid, &e);
    if (st == SCH_OK && e.met)
      x_yes = mid;
    else
      x_no = mid;
  }
  s->res->out_of_evals = fabs(x_yes - x_no) > s->spec->tolerance;
  s->res->answer = x_yes;
  s->res->bracket[0] = fmin(x_no, x_yes);
  s->res->bracket[1] = fmax(x_no, x_yes);
  return st;
}

static int by_value(const void *a, const void *b) {
  double x = ((const sch_size_eval *)a)->value;
  double y = ((const sch_size_eval *)b)->value;
  return (x > y) - (x < y);
}

/* Evaluations sorted by value. */
static void sorted_evals(const sch_size_result *res, sch_size_eval *out) {
  memcpy(out, res->evals, (size_t)res->n_evals * sizeof *out);
  qsort(out, (size_t)res->n_evals, sizeof *out, by_value);
}

/* Narrow one edge of the CI-consistent set: [inside, outside] by value. */
static sch_status refine_edge(search *s, double inside, double outside) {
  sch_status st = SCH_OK;
  while (st == SCH_OK && fabs(outside - inside) > s->spec->tolerance &&
         budget_left(s)) {
    sch_size_eval e;
    double mid = 0.5 * (inside + outside);
    st = evaluate(s, mid, &e);
    if (st == SCH_OK && consistent(&s->spec->target, &e))
      inside = mid;
    else
      outside = mid;
  }
  return st;
}

/* The edges of the set of evaluated values consistent with the threshold
 * (a pair of neighbours of which one is consistent and one not). */
static sch_status refine_edges(search *s) {
  sch_size_eval sorted[SCH_SIZE_MAX_EVALS];
  const sch_target *t = &s->spec->target;
  sch_status st = SCH_OK;
  for (int side = 0; side < 2 && st == SCH_OK; side++) {
    sorted_evals(s->res, sorted);
    int n = s->res->n_evals;
    for (int i = 0; i + 1 < n; i++) {
      int j = side == 0 ? i : n - 2 - i; /* leftmost, then rightmost edge */
      bool a = consistent(t, &sorted[j]), b = consistent(t, &sorted[j + 1]);
      if (a == b)
        continue;
      st = a ? refine_edge(s, sorted[j].value, sorted[j + 1].value)
             : refine_edge(s, sorted[j + 1].value, sorted[j].value);
      break;
    }
  }
  return st;
}

/* answer_lo/hi: the bracket joined with every consistent evaluation. */
static void uncertainty(search *s) {
  sch_size_result *res = s->res;
  res->answer_lo = res->bracket[0];
  res->answer_hi = res->bracket[1];
  for (int i = 0; i < res->n_evals; i++)
    if (consistent(&s->spec->target, &res->evals[i])) {
      res->answer_lo = fmin(res->answer_lo, res->evals[i].value);
      res->answer_hi = fmax(res->answer_hi, res->evals[i].value);
    }
}

static sch_status check_spec(const sch_size_spec *spec, sch_error *err) {
  if (!(spec->range[0] < spec->range[1]) || !isfinite(spec->range[0]) ||
      !isfinite(spec->range[1]))
    return sch_fail(err, SCH_ERR_INPUT, "size: the range must be a:b, a < b");
  if (!(spec->tolerance > 0))
    return sch_fail(err, SCH_ERR_INPUT, "size: the tolerance must be > 0");
  if (spec->max_evals < 3 || spec->max_evals > SCH_SIZE_MAX_EVALS)
    return sch_fail(err, SCH_ERR_INPUT,
                    "size: max evaluations must be in [3, %d]",
                    SCH_SIZE_MAX_EVALS);
  return SCH_OK;
}

sch_status sch_size_search(const sch_size_spec *spec, sch_size_eval_fn eval,
                           void *ctx, sch_size_result *out, sch_error *err) {
  memset(out, 0, sizeof *out);
  out->answer = out->answer_lo = out->answer_hi = (double)NAN;
  out->bracket[0] = out->bracket[1] = (double)NAN;
  search s = {spec, eval, ctx, out, err};
  sch_size_eval a, b;
  sch_status st = check_spec(spec, err);
  if (st == SCH_OK)
    st = evaluate(&s, spec->range[0], &a);
  if (st == SCH_OK)
    st = evaluate(&s, spec->range[1], &b);
  if (st != SCH_OK)
    return st;
  /* the end searched from: smallest starts at a, largest at b */
  const sch_size_eval *near = spec->largest ? &b : &a;
  const sch_size_eval *far = spec->largest ? &a : &b;
  if (near->met) {
    out->outcome = SCH_SIZE_AT_END;
    out->answer = out->bracket[0] = out->bracket[1] = near->value;
  } else if (!far->met) {
    out->outcome = SCH_SIZE_NEVER;
    return SCH_OK;
  } else {
    out->outcome = SCH_SIZE_FOUND;
    st = bisect(&s, near->value, far->value);
  }
  if (st == SCH_OK)
    st = refine_edges(&s);
  if (st == SCH_OK)
    uncertainty(&s);
  return st;
}

/* -------------------------------------------------------------- engine */

typedef struct engine_ctx {
  const char *config;
  const char *const *overrides;
  size_t n_overrides;
  const sch_size_spec *spec;
  const sch_run_options *opt;
} engine_ctx;

static void shortest(double x, char *buf, size_t len) {
  for (int digits = 6; digits <= 17; digits++) {
    snprintf(buf, len, "%.*g", digits, x);
    if (strtod(buf, NULL) == x)
      return;
  }
}

/* The statistic and its 95% CI from one point's summary. */
static sch_status pick(const sch_target *t, const sch_summary *s,
                       sch_size_eval *out, sch_error *err) {
  if (t->stat == SCH_TARGET_MEAN) {
    out->statistic = s->mean;
    out->lo = s->mean - 1.96 * s->std_error;
    out->hi = s->mean + 1.96 * s->std_error;
    return SCH_OK;
  }
  if (t->stat == SCH_TARGET_P_POSITIVE) {
    double p = s->p_positive, se = sqrt(p * (1 - p) / (double)s->n);
    out->statistic = p;
    out->lo = p - 1.96 * se;
    out->hi = p + 1.96 * se;
    return SCH_OK;
  }
  for (int l = 0; l < s->n_levels; l++)
    if (fabs(s->level[l] - t->level) < 1e-12) {
      bool var = t->stat == SCH_TARGET_VAR;
      out->statistic = var ? s->var[l] : s->es[l];
      out->lo = var ? s->var_lo[l] : s->es_lo[l];
      out->hi = var ? s->var_hi[l] : s->es_hi[l];
      return SCH_OK;
    }
  return sch_fail(err, SCH_ERR_RUNTIME, "size: level %g was not computed",
                  t->level);
}

static sch_status summarise(const engine_ctx *c, const sch_results *res,
                            sch_size_eval *out, sch_error *err) {
  int m = sch_results_metric_index(res, c->spec->target.metric);
  if (m < 0)
    return sch_fail(err, SCH_ERR_INPUT,
                    "size: target names unknown metric '%s' (see "
                    "docs/output.md)",
                    c->spec->target.metric);
  sch_summary s;
  sch_results_summary_at(res, 0, m, &s);
  return pick(&c->spec->target, &s, out, err);
}

/* Each run: the config, its overrides, the level the target needs, no
 * sample paths, and param=value; the seed is the config's, every time. */
static sch_status engine_eval(void *vctx, double value, sch_size_eval *out,
                              sch_error *err) {
  const engine_ctx *c = vctx;
  char levels[64] = "", set[SCH_SWEEP_KEY_MAX + 40], v[32];
  const char **ov = calloc(c->n_overrides + 3, sizeof *ov);
  if (!ov)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  for (size_t i = 0; i < c->n_overrides; i++)
    ov[i] = c->overrides[i];
  size_t n = c->n_overrides;
  if (c->spec->target.level > 0) {
    shortest(c->spec->target.level, v, sizeof v);
    snprintf(levels, sizeof levels, "output.levels=[%s]", v);
    ov[n++] = levels;
  }
  ov[n++] = "output.samples=0";
  shortest(value, v, sizeof v);
  snprintf(set, sizeof set, "%s=%s", c->spec->param, v);
  ov[n++] = set;
  sch_config cfg;
  sch_loanbook book = {0};
  sch_results *res = NULL;
  sch_status st = sch_config_load(c->config, ov, n, &cfg, err);
  free(ov);
  if (st != SCH_OK)
    return st;
  st = sch_loanbook_load(&cfg, &book, err);
  const sch_loanbook *books[1] = {&book};
  if (st == SCH_OK)
    st = sch_engine_run_sweep(&cfg, books, 1, 0, c->opt, NULL, &res, err);
  if (st == SCH_OK)
    st = summarise(c, res, out, err);
  sch_results_free(res);
  sch_loanbook_free(&book);
  sch_config_free(&cfg);
  return st;
}

sch_status sch_size_solve(const char *config, const char *const *overrides,
                          size_t n_overrides, const sch_size_spec *spec,
                          const sch_run_options *opt, sch_size_result *out,
                          sch_error *err) {
  engine_ctx c = {config, overrides, n_overrides, spec, opt};
  return sch_size_search(spec, engine_eval, &c, out, err);
}

/* -------------------------------------------------------------- output */

static const char *outcome_text(sch_size_outcome o) {
  static const char *const text[] = {"found", "met at both ends",
                                     "met at neither end"};
  return text[o];
}

void sch_size_print(const sch_size_spec *spec, const char *target,
                    const sch_size_result *res, FILE *out) {
  const char *which = spec->largest ? "largest" : "smallest";
  fprintf(out, "size: %s %s in [%g, %g] with %s\n\n", which, spec->param,
          spec->range[0], spec->range[1], target);
  fprintf(out, "%5s  %14s  %14s  %31s  %s\n", "eval", "value", "statistic",
          "95% CI", "met");
  for (int i = 0; i < res->n_evals; i++) {
    const sch_size_eval *e = &res->evals[i];
    char ci[64];
    snprintf(ci, sizeof ci, "[%.6g, %.6g]", e->lo, e->hi);
    fprintf(out, "%5d  %14.8g  %14.6g  %31s  %s\n", i + 1, e->value,
            e->statistic, ci, e->met ? "yes" : "no");
  }
  fputc('\n', out);
  if (res->outcome == SCH_SIZE_NEVER) {
    fprintf(out,
            "no answer: the target is met at neither end of [%g, %g]; "
            "widen the range or relax the target\n",
            spec->range[0], spec->range[1]);
    return;
  }
  if (res->outcome == SCH_SIZE_AT_END)
    fprintf(out,
            "the target is met at both ends of the range: the %s value "
            "in it is the %s end\n",
            which, spec->largest ? "upper" : "lower");
  fprintf(out, "answer: %s = %.8g\n", spec->param, res->answer);
  fprintf(out, "  bracket [%.8g, %.8g] (width %.3g)%s\n", res->bracket[0],
          res->bracket[1], res->bracket[1] - res->bracket[0],
          res->out_of_evals ? ", stopped by --max-evals" : "");
  fprintf(out,
          "  uncertainty [%.8g, %.8g]: values whose statistic's 95%% CI "
          "holds the threshold, joined with the bracket\n",
          res->answer_lo, res->answer_hi);
}

sch_status sch_size_write(sch_h5_writer *w, const sch_size_spec *spec,
                          const char *target, const sch_size_result *res,
                          sch_error *err) {
  int n = res->n_evals;
  double *col = malloc(4 * (size_t)(n ? n : 1) * sizeof *col);
  if (!col)
    return sch_fail(err, SCH_ERR_RUNTIME, "out of memory");
  for (int i = 0; i < n; i++) {
    col[i] = res->evals[i].value;
    col[n + i] = res->evals[i].statistic;
    col[2 * n + i] = res->evals[i].lo;
    col[3 * n + i] = res->evals[i].hi;
  }
  double answer[3] = {res->answer, res->answer_lo, res->answer_hi};
  sch_status st =
      sch_h5_write_size(w, spec->param, target, outcome_text(res->outcome),
                        answer, n, col, col + n, col + 2 * n, col + 3 * n, err);
  free(col);
  return st;
}
