/* Sweeps (`sweep:`, `sweep_baseline:`, `--sweep key=v1,v2`) expanded into one
 * validated configuration per point, and the `size:` section
 * (docs/config.md). A point is the file + `--set` overrides + its own
 * key=value settings, each placed in a copy of the tree at the location of
 * its sweep entry, so every point is validated like any configuration and a
 * bad value is reported where it was written. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define MAX_SWEEP_KEYS 64

/* One swept key: where it was written and its list of values. */
typedef struct sweep_key {
  char path[SCH_SWEEP_KEY_MAX];
  const cfg_node *at;   /* the key (in the file or a --sweep argument) */
  const cfg_node *list; /* its values (a non-empty list of scalars) */
} sweep_key;

typedef struct sweep_plan {
  cfg_node *root; /* the file with --set applied */
  const char *source;
  char dir[SCH_PATH_MAX];
  int n_keys;
  sweep_key keys[MAX_SWEEP_KEYS];
  int n_points;
  int baseline;
  /* what --sweep arguments made: nodes and their origin strings */
  cfg_node **nodes;
  char **origins;
  size_t n_nodes, n_origins;
  sch_error *err;
} sweep_plan;

static sch_status out_of_memory(sch_error *err) {
  return sch_fail(err, SCH_ERR_RUNTIME, "configuration: out of memory");
}

/* ------------------------------------------------------------ the keys */

static bool first_element_is(const char *path, const char *word) {
  size_t n = strlen(word);
  return strncmp(path, word, n) == 0 && (path[n] == '.' || path[n] == '\0');
}

/* Keys every point must share: the [P]-shaped output needs one N, one grid,
 * one set of levels and one file. */
static const char *const unsweepable[] = {
    "simulation.paths",
    "simulation.horizon",
    "simulation.step",
    "simulation.replay", /* sets the number of paths */
    "output",
    "sweep",
    "sweep_baseline",
    "size",
};

static sch_status check_key(const sweep_plan *pl, const char *path,
                            const cfg_node *at) {
  if (!path[0])
    return cfg_fail_at(pl->err, at, "a swept key must be a dotted key path");
  if (strlen(path) >= SCH_SWEEP_KEY_MAX)
    return cfg_fail_at(pl->err, at, "swept key is longer than %d characters",
                       SCH_SWEEP_KEY_MAX - 1);
  for (size_t i = 0; i < COUNT(unsweepable); i++)
    if (first_element_is(path, unsweepable[i]))
      return cfg_fail_at(pl->err, at,
                         "%s cannot be swept: every point shares %s", path,
                         unsweepable[i]);
  return SCH_OK;
}

static sch_status check_values(const sweep_plan *pl, const char *path,
                               const cfg_node *list) {
  if (list->kind != CFG_LIST || list->n == 0)
    return cfg_fail_at(pl->err, list,
                       "sweep.%s must be a non-empty list of values", path);
  for (size_t i = 0; i < list->n; i++)
    if (list->items[i]->kind != CFG_SCALAR)
      return cfg_fail_at(pl->err, list->items[i],
                         "sweep.%s: values must be scalars (numbers, "
                         "durations, strings), not a %s",
                         path,
                         list->items[i]->kind == CFG_MAP ? "mapping" : "list");
  return SCH_OK;
}

/* Add a key, or replace the values of one already swept. */
static sch_status add_key(sweep_plan *pl, const char *path, const cfg_node *at,
                          const cfg_node *list) {
  sch_status st = check_key(pl, path, at);
  if (st == SCH_OK)
    st = check_values(pl, path, list);
  if (st != SCH_OK)
    return st;
  int k = 0;
  while (k < pl->n_keys && strcmp(pl->keys[k].path, path) != 0)
    k++;
  if (k == MAX_SWEEP_KEYS)
    return cfg_fail_at(pl->err, at, "too many swept keys (at most %d)",
                       MAX_SWEEP_KEYS);
  if (k == pl->n_keys)
    pl->n_keys++;
  snprintf(pl->keys[k].path, SCH_SWEEP_KEY_MAX, "%s", path);
  pl->keys[k].at = at;
  pl->keys[k].list = list;
  return SCH_OK;
}

static sch_status read_sweep_section(sweep_plan *pl) {
  const cfg_node *sweep = cfg_map_get(pl->root, "sweep");
  if (!sweep)
    return SCH_OK;
  if (sweep->kind != CFG_MAP)
    return cfg_fail_at(pl->err, sweep,
                       "sweep must be a mapping of key paths to lists of "
                       "values, e.g. {protocol.close_factor: [0.5, 1]}");
  sch_status st = SCH_OK;
  for (size_t i = 0; st == SCH_OK && i < sweep->n; i++)
    st = add_key(pl, sweep->keys[i]->text, sweep->keys[i], sweep->items[i]);
  return st;
}

/* `--sweep key=v1,v2,...`: the values are read as a YAML flow list. */
static sch_status read_sweep_arg(sweep_plan *pl, const char *arg) {
  size_t len = strlen(arg) + 16;
  char *origin = malloc(len), *list_text = malloc(len);
  if (!origin || !list_text) {
    free(origin);
    free(list_text);
    return out_of_memory(pl->err);
  }
  snprintf(origin, len, "--sweep %s", arg);
  pl->origins[pl->n_origins++] = origin;
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg || !eq[1]) {
    free(list_text);
    return sch_fail(pl->err, SCH_ERR_INPUT,
                    "%s: expected key.path=value1,value2,...", origin);
  }
  snprintf(list_text, len, "[%s]", eq + 1);
  cfg_node *list = NULL;
  cfg_node *key = cfg_scalar_new("", origin, true);
  sch_status st = key ? cfg_tree_parse(list_text, origin, true, &list, pl->err)
                      : out_of_memory(pl->err);
  free(list_text);
  if (key)
    pl->nodes[pl->n_nodes++] = key;
  if (list)
    pl->nodes[pl->n_nodes++] = list;
  if (st != SCH_OK)
    return st;
  char path[SCH_SWEEP_KEY_MAX];
  if ((size_t)(eq - arg) >= sizeof path)
    return cfg_fail_at(pl->err, key, "swept key is longer than %d characters",
                       SCH_SWEEP_KEY_MAX - 1);
  snprintf(path, sizeof path, "%.*s", (int)(eq - arg), arg);
  return add_key(pl, path, key, list);
}

static sch_status count_points(sweep_plan *pl) {
  double n = 1;
  for (int k = 0; k < pl->n_keys; k++)
    n *= (double)pl->keys[k].list->n;
  if (n > SCH_SWEEP_MAX_POINTS)
    return cfg_fail_at(pl->err, pl->keys[0].at,
                       "the sweep has %.0f points; at most %d are allowed", n,
                       SCH_SWEEP_MAX_POINTS);
  pl->n_points = (int)n;
  return SCH_OK;
}

/* Points vary the last key fastest: stride of key k. */
static int stride_of(const sweep_plan *pl, int k) {
  int stride = 1;
  for (int j = k + 1; j < pl->n_keys; j++)
    stride *= (int)pl->keys[j].list->n;
  return stride;
}

static const cfg_node *value_at(const sweep_plan *pl, int k, int point) {
  size_t count = pl->keys[k].list->n;
  return pl->keys[k].list->items[(size_t)(point / stride_of(pl, k)) % count];
}

/* ------------------------------------------------------------ baseline */

static bool same_value(const cfg_node *a, const cfg_node *b) {
  double x, y;
  if (cfg_parse_number(a, &x) && cfg_parse_number(b, &y))
    return x == y;
  return strcmp(a->text, b->text) == 0;
}

static int key_named(const sweep_plan *pl, const char *path) {
  for (int k = 0; k < pl->n_keys; k++)
    if (strcmp(pl->keys[k].path, path) == 0)
      return k;
  return -1;
}

static void key_list(const sweep_plan *pl, char *buf, size_t size) {
  const char *names[MAX_SWEEP_KEYS];
  for (int k = 0; k < pl->n_keys; k++)
    names[k] = pl->keys[k].path;
  cfg_join(names, (size_t)pl->n_keys, buf, size);
}

/* The index of the named value of key k, or a located error. */
static sch_status baseline_value(const sweep_plan *pl, int k,
                                 const cfg_node *value, int *index) {
  const cfg_node *list = pl->keys[k].list;
  if (value->kind == CFG_SCALAR)
    for (size_t i = 0; i < list->n; i++)
      if (same_value(value, list->items[i])) {
        *index = (int)i;
        return SCH_OK;
      }
  char values[512] = "";
  size_t used = 0;
  for (size_t i = 0; i < list->n && used < sizeof values; i++)
    used += (size_t)snprintf(values + used, sizeof values - used, "%s%s",
                             i ? ", " : "", list->items[i]->text);
  return cfg_fail_at(pl->err, value,
                     "sweep_baseline: %s is not one of the swept values of "
                     "%s (%s)",
                     value->kind == CFG_SCALAR ? value->text : "this",
                     pl->keys[k].path, values);
}

static sch_status baseline_by_values(sweep_plan *pl, const cfg_node *map) {
  int chosen[MAX_SWEEP_KEYS] = {0};
  bool given[MAX_SWEEP_KEYS] = {false};
  char list[1024];
  key_list(pl, list, sizeof list);
  for (size_t i = 0; i < map->n; i++) {
    int k = key_named(pl, map->keys[i]->text);
    if (k < 0)
      return cfg_fail_at(pl->err, map->keys[i],
                         "sweep_baseline names '%s', which is not swept "
                         "(swept keys: %s)",
                         map->keys[i]->text, pl->n_keys ? list : "none");
    sch_status st = baseline_value(pl, k, map->items[i], &chosen[k]);
    if (st != SCH_OK)
      return st;
    given[k] = true;
  }
  pl->baseline = 0;
  for (int k = 0; k < pl->n_keys; k++) {
    if (!given[k] && pl->keys[k].list->n > 1)
      return cfg_fail_at(pl->err, map,
                         "sweep_baseline must give a value of every swept "
                         "key; %s is missing",
                         pl->keys[k].path);
    pl->baseline += chosen[k] * stride_of(pl, k);
  }
  return SCH_OK;
}

static sch_status read_baseline(sweep_plan *pl) {
  const cfg_node *node = cfg_map_get(pl->root, "sweep_baseline");
  double v;
  pl->baseline = 0;
  if (!node)
    return SCH_OK;
  if (node->kind == CFG_MAP)
    return baseline_by_values(pl, node);
  if (node->kind == CFG_SCALAR && cfg_parse_number(node, &v) && v == floor(v) &&
      v >= 0 && v < pl->n_points) {
    pl->baseline = (int)v;
    return SCH_OK;
  }
  return cfg_fail_at(pl->err, node,
                     "sweep_baseline must be a point index in 0..%d or a "
                     "mapping of swept keys to values",
                     pl->n_points - 1);
}

/* ---------------------------------------------------------------- size */

static sch_status read_range(const cfg_section *s, sch_size_config *size) {
  const cfg_node *node = cfg_lookup(s, "range");
  double v[2];
  if (!node)
    return SCH_OK;
  sch_status st = SCH_OK;
  if (node->kind == CFG_LIST && node->n == 2) {
    st = cfg_node_number(s->err, node->items[0], "size.range[0]", false, &v[0]);
    if (st == SCH_OK)
      st = cfg_node_number(s->err, node->items[1], "size.range[1]", false,
                           &v[1]);
  } else {
    char *end = NULL;
    const char *t = node->kind == CFG_SCALAR ? node->text : "";
    v[0] = strtod(t, &end);
    bool ok = end != t && *end == ':';
    const char *second = ok ? end + 1 : "";
    v[1] = strtod(second, &end);
    if (!ok || end == second || *end || !isfinite(v[0]) || !isfinite(v[1]))
      return cfg_fail_at(s->err, node,
                         "size.range must be a:b or [a, b] with numbers "
                         "a < b");
  }
  if (st == SCH_OK && !(v[0] < v[1]))
    st = cfg_fail_at(s->err, node, "size.range must have a < b");
  if (st == SCH_OK) {
    size->has_range = true;
    size->range[0] = v[0];
    size->range[1] = v[1];
  }
  return st;
}

static sch_status read_size(const sweep_plan *pl, sch_size_config *size) {
  static const char *const keys[] = {"param",   "range",     "target",
                                     "largest", "tolerance", "max_evals"};
  cfg_section top = {pl->root, pl->root, "", pl->err}, s;
  memset(size, 0, sizeof *size);
  sch_status st = cfg_open(&top, "size", false, &s);
  if (st != SCH_OK || !s.map)
    return st;
  size->present = true;
  int64_t evals = 0;
  st = cfg_check_keys(&s, keys, COUNT(keys));
  if (st == SCH_OK)
    st = cfg_string(&s, "param", "", size->param, sizeof size->param);
  if (st == SCH_OK)
    st = read_range(&s, size);
  if (st == SCH_OK)
    st = cfg_string(&s, "target", "", size->target, sizeof size->target);
  if (st == SCH_OK && cfg_lookup(&s, "target"))
    cfg_where(cfg_lookup(&s, "target"), size->where, sizeof size->where);
  if (st == SCH_OK)
    st = cfg_bool(&s, "largest", false, &size->largest);
  if (st == SCH_OK)
    st = cfg_number(&s, "tolerance", DEFAULT(0), ABOVE(0), NO_UPPER,
                    &size->tolerance);
  if (st == SCH_OK)
    st = cfg_integer(&s, "max_evals", DEFAULT(0), AT_LEAST(3), AT_MOST(200),
                     &evals);
  size->max_evals = (int)evals;
  return st;
}

/* ------------------------------------------------------------- results */

/* A value as YAML: plain when it was plain and cannot be misread. */
static void put_value(FILE *f, const char *text, bool plain) {
  static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
                             "XYZ0123456789_./+-";
  if (plain && text[0] && strspn(text, safe) == strlen(text)) {
    fputs(text, f);
    return;
  }
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(f, "\\%c", *c);
    else if (*c < 0x20 || *c == 0x7f)
      fprintf(f, "\\x%02x", *c);
    else
      fputc(*c, f);
  }
  fputc('"', f);
}

/* The baseline point's resolved YAML, then the sweep that makes the others:
 * parsed back by sch_config_load_sweep it gives the same points. */
static sch_status write_resolved(const sweep_plan *pl, const char *base,
                                 char **out) {
  size_t len = 0;
  char *text = NULL;
  FILE *f = open_memstream(&text, &len);
  if (!f)
    return out_of_memory(pl->err);
  fputs(base, f);
  if (pl->n_keys > 0) {
    fputs("sweep:\n", f);
    for (int k = 0; k < pl->n_keys; k++) {
      const cfg_node *list = pl->keys[k].list;
      fputs("  ", f);
      put_value(f, pl->keys[k].path, true);
      fputs(": [", f);
      for (size_t i = 0; i < list->n; i++) {
        fputs(i ? ", " : "", f);
        put_value(f, list->items[i]->text, list->items[i]->plain);
      }
      fputs("]\n", f);
    }
    fprintf(f, "sweep_baseline: %d\n", pl->baseline);
  }
  bool failed = ferror(f) != 0;
  if (fclose(f) != 0 || failed) {
    free(text);
    return out_of_memory(pl->err);
  }
  *out = text;
  return SCH_OK;
}

static sch_status fill_values(const sweep_plan *pl, sch_sweep *sw) {
  size_t n = (size_t)pl->n_points * (size_t)(pl->n_keys ? pl->n_keys : 1);
  sw->keys = calloc((size_t)(pl->n_keys ? pl->n_keys : 1), sizeof *sw->keys);
  sw->values = calloc(n, sizeof *sw->values);
  sw->numeric = calloc(n, sizeof *sw->numeric);
  if (!sw->keys || !sw->values || !sw->numeric)
    return out_of_memory(pl->err);
  sw->n_keys = pl->n_keys;
  sw->n_points = pl->n_points;
  sw->baseline = pl->baseline;
  for (int k = 0; k < pl->n_keys; k++)
    snprintf(sw->keys[k], SCH_SWEEP_KEY_MAX, "%s", pl->keys[k].path);
  for (int p = 0; p < pl->n_points; p++)
    for (int k = 0; k < pl->n_keys; k++) {
      const cfg_node *v = value_at(pl, k, p);
      size_t i = (size_t)p * (size_t)pl->n_keys + (size_t)k;
      if (!(sw->values[i] = strdup(v->text)))
        return out_of_memory(pl->err);
      if (!cfg_parse_number(v, &sw->numeric[i]))
        sw->numeric[i] = (double)NAN;
    }
  return SCH_OK;
}

static sch_status build_point(const sweep_plan *pl, int p, sch_config *cfg) {
  cfg_node *tree = cfg_tree_copy(pl->root);
  sch_status st = tree ? SCH_OK : out_of_memory(pl->err);
  for (int k = 0; st == SCH_OK && k < pl->n_keys; k++) {
    cfg_node *value = cfg_tree_copy(value_at(pl, k, p));
    st = value ? cfg_set_path(tree, pl->keys[k].path, value, pl->keys[k].at,
                              pl->err)
               : out_of_memory(pl->err);
  }
  if (st == SCH_OK)
    st = cfg_convert_tree(tree, pl->source, pl->dir, cfg, pl->err);
  cfg_tree_free(tree);
  return st;
}

static sch_status build_points(const sweep_plan *pl, sch_config **points,
                               sch_sweep *sw) {
  *points = calloc((size_t)pl->n_points, sizeof **points);
  if (!*points)
    return out_of_memory(pl->err);
  sch_status st = SCH_OK;
  for (int p = 0; st == SCH_OK && p < pl->n_points; p++)
    st = build_point(pl, p, &(*points)[p]);
  if (st == SCH_OK)
    st = fill_values(pl, sw);
  if (st == SCH_OK)
    st = write_resolved(pl, (*points)[pl->baseline].resolved_yaml,
                        &sw->resolved_yaml);
  return st;
}

/* ---------------------------------------------------------- the whole */

static sch_status read_tree(sweep_plan *pl, const char *path,
                            const char *const *overrides, size_t n_overrides) {
  char *text = NULL;
  sch_status st =
      cfg_source_text(path, &text, pl->dir, sizeof pl->dir, pl->err);
  if (st == SCH_OK)
    st = cfg_tree_parse(text, pl->source, false, &pl->root, pl->err);
  free(text);
  if (st == SCH_OK && !pl->root)
    return sch_fail(pl->err, SCH_ERR_INPUT, "%s:1:1: empty configuration",
                    pl->source);
  if (st == SCH_OK && pl->root->kind != CFG_MAP) {
    sch_config bad;
    return cfg_convert_tree(pl->root, pl->source, pl->dir, &bad, pl->err);
  }
  for (size_t i = 0; st == SCH_OK && i < n_overrides; i++)
    st = cfg_apply_override(pl->root, overrides[i], pl->err);
  return st;
}

static sch_status plan_sweep(sweep_plan *pl, const char *const *sweep_args,
                             size_t n_sweep_args, sch_sweep *sw) {
  sch_status st = read_sweep_section(pl);
  for (size_t i = 0; st == SCH_OK && i < n_sweep_args; i++)
    st = read_sweep_arg(pl, sweep_args[i]);
  if (st == SCH_OK)
    st = count_points(pl);
  if (st == SCH_OK)
    st = read_baseline(pl);
  if (st == SCH_OK)
    st = read_size(pl, &sw->size);
  return st;
}

static void plan_free(sweep_plan *pl) {
  cfg_tree_free(pl->root);
  for (size_t i = 0; i < pl->n_nodes; i++)
    cfg_tree_free(pl->nodes[i]);
  for (size_t i = 0; i < pl->n_origins; i++)
    free(pl->origins[i]);
  free(pl->nodes);
  free(pl->origins);
}

sch_status sch_config_load_sweep(const char *path, const char *const *overrides,
                                 size_t n_overrides,
                                 const char *const *sweep_args,
                                 size_t n_sweep_args, sch_config **points,
                                 sch_sweep *sweep, sch_error *err) {
  memset(sweep, 0, sizeof *sweep);
  *points = NULL;
  sweep_plan pl = {.source = path ? path : "<default>", .err = err};
  pl.nodes = calloc(2 * n_sweep_args + 1, sizeof *pl.nodes);
  pl.origins = calloc(n_sweep_args + 1, sizeof *pl.origins);
  sch_status st = pl.nodes && pl.origins ? SCH_OK : out_of_memory(err);
  if (st == SCH_OK)
    st = read_tree(&pl, path, overrides, n_overrides);
  if (st == SCH_OK)
    st = plan_sweep(&pl, sweep_args, n_sweep_args, sweep);
  if (st == SCH_OK)
    st = build_points(&pl, points, sweep);
  if (st != SCH_OK) {
    sweep->n_points = pl.n_points;
    sch_sweep_free(sweep, *points);
    *points = NULL;
  }
  plan_free(&pl);
  return st;
}

void sch_sweep_free(sch_sweep *sweep, sch_config *points) {
  if (points && sweep)
    for (int p = 0; p < sweep->n_points; p++)
      sch_config_free(&points[p]);
  free(points);
  if (!sweep)
    return;
  if (sweep->values)
    for (size_t i = 0; i < (size_t)sweep->n_points * (size_t)sweep->n_keys; i++)
      free(sweep->values[i]);
  free(sweep->values);
  free(sweep->numeric);
  free(sweep->keys);
  free(sweep->resolved_yaml);
  memset(sweep, 0, sizeof *sweep);
}
