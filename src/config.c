/* The configuration loader: YAML tree -> validated sch_config
 * (docs/config.md is the reference for every key read here). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_internal.h"

/* ------------------------------------------------------------- scalars */

static const char *describe(const cfg_node *node, char *buf, size_t size) {
  if (node->kind == CFG_MAP)
    return "a mapping";
  if (node->kind == CFG_LIST)
    return "a list";
  if (!node->text[0])
    return "nothing";
  snprintf(buf, size, "%s'%.60s'", node->plain ? "" : "the quoted string ",
           node->text);
  return buf;
}

/* End of a decimal number at the start of p ([+-]d[.d][e[+-]d]), or NULL. */
static const char *number_end(const char *p) {
  size_t digits = 0;
  if (*p == '+' || *p == '-')
    p++;
  for (; isdigit((unsigned char)*p); p++)
    digits++;
  if (*p == '.')
    for (p++; isdigit((unsigned char)*p); p++)
      digits++;
  if (!digits)
    return NULL;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      p++;
    if (!isdigit((unsigned char)*p))
      return NULL;
    while (isdigit((unsigned char)*p))
      p++;
  }
  return p;
}

/* A plain scalar that is a finite decimal number (no NaN, no inf). */
bool cfg_parse_number(const cfg_node *node, double *out) {
  if (node->kind != CFG_SCALAR || !node->plain)
    return false;
  const char *end = number_end(node->text);
  if (!end || *end)
    return false;
  *out = strtod(node->text, NULL);
  return isfinite(*out);
}

/* `90`, `60s`, `30m`, `1.5h`, `7d`: seconds. */
static bool parse_duration(const cfg_node *node, double *out) {
  static const char units[] = "smhd";
  static const double seconds[] = {1, 60, 3600, 86400};
  if (node->kind != CFG_SCALAR || !node->plain)
    return false;
  const char *end = number_end(node->text);
  if (!end)
    return false;
  double scale = 1;
  if (*end) {
    const char *unit = strchr(units, *end);
    if (!unit || end[1])
      return false;
    scale = seconds[unit - units];
  }
  *out = strtod(node->text, NULL) * scale;
  return isfinite(*out);
}

static bool parse_bool(const cfg_node *node, bool *out) {
  if (node->kind != CFG_SCALAR || !node->plain)
    return false;
  const char *t = node->text;
  *out = !strcasecmp(t, "true") || !strcasecmp(t, "yes");
  return *out || !strcasecmp(t, "false") || !strcasecmp(t, "no");
}

const char *cfg_format_number(double v, char buf[static 32]) {
  char text[32]; /* a local buffer: GCC's -fsanitize builds misjudge buf */
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(text, sizeof text, "%.*g", digits, v);
    if (strtod(text, NULL) == v)
      break;
  }
  memcpy(buf, text, sizeof text);
  return buf;
}

static void range_text(bound lo, bound hi, char *buf, size_t size) {
  if (isfinite(lo.value) && isfinite(hi.value))
    snprintf(buf, size, "in %c%g, %g%c", lo.inclusive ? '[' : '(', lo.value,
             hi.value, hi.inclusive ? ']' : ')');
  else if (isfinite(lo.value))
    snprintf(buf, size, "%s %g", lo.inclusive ? ">=" : ">", lo.value);
  else
    snprintf(buf, size, "%s %g", hi.inclusive ? "<=" : "<", hi.value);
}

static bool in_range(double v, bound lo, bound hi) {
  bool above = lo.inclusive ? v >= lo.value : v > lo.value;
  bool below = hi.inclusive ? v <= hi.value : v < hi.value;
  return above && below;
}

sch_status cfg_check_range(sch_error *err, const cfg_node *node,
                           const char *label, double v, bound lo, bound hi) {
  if (in_range(v, lo, hi))
    return SCH_OK;
  char range[96], text[32];
  range_text(lo, hi, range, sizeof range);
  return cfg_fail_at(err, node, "%s = %s is out of range: must be %s", label,
                     cfg_format_number(v, text), range);
}

sch_status cfg_node_number(sch_error *err, const cfg_node *node,
                           const char *label, bool duration, double *out) {
  char buf[96];
  bool ok = duration ? parse_duration(node, out) : cfg_parse_number(node, out);
  if (ok)
    return SCH_OK;
  if (duration)
    return cfg_fail_at(err, node,
                       "%s must be a duration (e.g. 60s, 30m, 1.5h, 7d, or "
                       "seconds), got %s",
                       label, describe(node, buf, sizeof buf));
  return cfg_fail_at(err, node, "%s must be a finite number, got %s", label,
                     describe(node, buf, sizeof buf));
}

/* -------------------------------------------------------------- sections */

/* Names in messages only: a name too long for its buffer ends in "...". */
static void mark_truncated(int written, char *buf, size_t size) {
  if (written >= 0 && (size_t)written >= size && size > 4)
    memcpy(buf + size - 4, "...", 4);
}

void cfg_section_child(const cfg_section *parent, const char *key,
                       const cfg_node *map, cfg_section *out) {
  out->map = map;
  out->anchor = map ? map : parent->anchor;
  out->err = parent->err;
  int n = snprintf(out->name, sizeof out->name, "%s%s%s", parent->name,
                   parent->name[0] ? "." : "", key);
  mark_truncated(n, out->name, sizeof out->name);
}

const cfg_node *cfg_lookup(const cfg_section *s, const char *key) {
  return s->map ? cfg_map_get(s->map, key) : NULL;
}

static void label_of(const cfg_section *s, const char *key, char *buf,
                     size_t size) {
  mark_truncated(snprintf(buf, size, "%s.%s", s->name, key), buf, size);
}

sch_status cfg_missing(const cfg_section *s, const char *key) {
  if (!s->name[0])
    return cfg_fail_at(s->err, s->anchor, "missing section '%s'", key);
  return cfg_fail_at(s->err, s->anchor, "missing key '%s' in %s", key, s->name);
}

sch_status cfg_open(const cfg_section *parent, const char *key, bool required,
                    cfg_section *out) {
  const cfg_node *node = cfg_lookup(parent, key);
  char buf[96];
  cfg_section_child(parent, key, NULL, out);
  if (!node)
    return required ? cfg_missing(parent, key) : SCH_OK;
  if (node->kind != CFG_MAP)
    return cfg_fail_at(parent->err, node, "%s must be a mapping, got %s",
                       out->name, describe(node, buf, sizeof buf));
  cfg_section_child(parent, key, node, out);
  return SCH_OK;
}

/* Closest candidate within a few edits, or NULL. */
const char *cfg_suggest(const char *word, const char *const *candidates,
                        size_t n) {
  const char *best = NULL;
  size_t best_d = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    size_t d = cfg_edit_distance(word, candidates[i]);
    if (d < best_d) {
      best_d = d;
      best = candidates[i];
    }
  }
  size_t len = strlen(word);
  return best && (best_d <= 2 || 3 * best_d <= len) ? best : NULL;
}

void cfg_join(const char *const *words, size_t n, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                             words[i]);
}

sch_status cfg_check_keys(const cfg_section *s, const char *const *known,
                          size_t n) {
  if (!s->map)
    return SCH_OK;
  for (size_t i = 0; i < s->map->n; i++) {
    const cfg_node *key = s->map->keys[i];
    size_t k = 0;
    while (k < n && strcmp(key->text, known[k]) != 0)
      k++;
    if (k < n)
      continue;
    const char *where = s->name[0] ? s->name : "the top level";
    const char *hint = cfg_suggest(key->text, known, n);
    if (hint)
      return cfg_fail_at(s->err, key,
                         "unknown key '%s' in %s (did you mean '%s'?)",
                         key->text, where, hint);
    char list[512];
    cfg_join(known, n, list, sizeof list);
    return cfg_fail_at(s->err, key, "unknown key '%s' in %s (known keys: %s)",
                       key->text, where, list);
  }
  return SCH_OK;
}

static sch_status read_value(const cfg_section *s, const char *key,
                             bool duration, const double *def, bound lo,
                             bound hi, double *out) {
  const cfg_node *node = cfg_lookup(s, key);
  char label[160];
  if (!node) {
    if (!def)
      return cfg_missing(s, key);
    *out = *def;
    return SCH_OK;
  }
  label_of(s, key, label, sizeof label);
  sch_status st = cfg_node_number(s->err, node, label, duration, out);
  return st != SCH_OK ? st : cfg_check_range(s->err, node, label, *out, lo, hi);
}

sch_status cfg_number(const cfg_section *s, const char *key, const double *def,
                      bound lo, bound hi, double *out) {
  return read_value(s, key, false, def, lo, hi, out);
}

sch_status cfg_duration(const cfg_section *s, const char *key,
                        const double *def, bound lo, bound hi, double *out) {
  return read_value(s, key, true, def, lo, hi, out);
}

sch_status cfg_integer(const cfg_section *s, const char *key, const double *def,
                       bound lo, bound hi, int64_t *out) {
  double v;
  sch_status st = cfg_number(s, key, def, lo, hi, &v);
  if (st != SCH_OK)
    return st;
  if (v != floor(v) || fabs(v) > 9007199254740992.0) {
    char label[160], text[32];
    label_of(s, key, label, sizeof label);
    return cfg_fail_at(s->err, cfg_lookup(s, key),
                       "%s must be a whole number, got %s", label,
                       cfg_format_number(v, text));
  }
  *out = (int64_t)v;
  return SCH_OK;
}

/* Seeds are 64-bit: digits are read exactly, `1e6` forms via double. */
sch_status cfg_seed(const cfg_section *s, const char *key, uint64_t def,
                    uint64_t *out) {
  const cfg_node *node = cfg_lookup(s, key);
  char label[160], buf[32];
  double v;
  *out = def;
  if (!node)
    return SCH_OK;
  label_of(s, key, label, sizeof label);
  if (node->kind == CFG_SCALAR && node->plain && node->text[0] &&
      strspn(node->text, "0123456789") == strlen(node->text)) {
    errno = 0;
    unsigned long long x = strtoull(node->text, NULL, 10);
    if (errno == 0) {
      *out = x;
      return SCH_OK;
    }
  }
  sch_status st = cfg_node_number(s->err, node, label, false, &v);
  if (st != SCH_OK)
    return st;
  if (v < 0 || v >= 18446744073709551616.0 || v != floor(v))
    return cfg_fail_at(s->err, node,
                       "%s must be a whole number in [0, 2^64), got %s", label,
                       cfg_format_number(v, buf));
  *out = (uint64_t)v;
  return SCH_OK;
}

sch_status cfg_bool(const cfg_section *s, const char *key, bool def,
                    bool *out) {
  const cfg_node *node = cfg_lookup(s, key);
  char label[160], buf[96];
  *out = def;
  if (!node || parse_bool(node, out))
    return SCH_OK;
  label_of(s, key, label, sizeof label);
  return cfg_fail_at(s->err, node, "%s must be true or false, got %s", label,
                     describe(node, buf, sizeof buf));
}

sch_status cfg_node_string(sch_error *err, const cfg_node *node,
                           const char *label, char *out, size_t size) {
  char buf[96];
  if (node->kind != CFG_SCALAR || !node->text[0] ||
      (node->plain && !strcmp(node->text, "~")))
    return cfg_fail_at(err, node, "%s must be a non-empty string, got %s",
                       label, describe(node, buf, sizeof buf));
  if (strlen(node->text) >= size)
    return cfg_fail_at(err, node, "%s is longer than %zu characters", label,
                       size - 1);
  snprintf(out, size, "%s", node->text);
  return SCH_OK;
}

sch_status cfg_string(const cfg_section *s, const char *key, const char *def,
                      char *out, size_t size) {
  const cfg_node *node = cfg_lookup(s, key);
  char label[160];
  if (!node) {
    if (!def)
      return cfg_missing(s, key);
    snprintf(out, size, "%s", def);
    return SCH_OK;
  }
  label_of(s, key, label, sizeof label);
  return cfg_node_string(s->err, node, label, out, size);
}

/* --------------------------------------------------------------- assets */

int sch_config_asset_index(const sch_config *cfg, const char *name) {
  for (int i = 0; i < cfg->n_assets; i++)
    if (strcmp(cfg->assets[i].name, name) == 0)
      return i;
  return -1;
}

sch_status cfg_asset_named(const cfg_ctx *ctx, const cfg_node *node,
                           const char *where, int *index) {
  const sch_config *cfg = ctx->cfg;
  char name[SCH_NAME_MAX + 64];
  sch_status st = cfg_node_string(ctx->err, node, where, name, sizeof name);
  if (st != SCH_OK)
    return st;
  *index = sch_config_asset_index(cfg, name);
  if (*index >= 0)
    return SCH_OK;
  const char *names[SCH_MAX_ASSETS];
  char list[SCH_MAX_ASSETS * (SCH_NAME_MAX + 2)];
  for (int i = 0; i < cfg->n_assets; i++)
    names[i] = cfg->assets[i].name;
  cfg_join(names, (size_t)cfg->n_assets, list, sizeof list);
  const char *hint = cfg_suggest(name, names, (size_t)cfg->n_assets);
  if (hint)
    return cfg_fail_at(ctx->err, node,
                       "%s names unknown asset '%s' (did you mean '%s'? "
                       "assets: %s)",
                       where, name, hint, list);
  return cfg_fail_at(ctx->err, node, "%s names unknown asset '%s' (assets: %s)",
                     where, name, list);
}

/* ------------------------------------------------------------ the whole */

static sch_status read_all(cfg_ctx *ctx) {
  static const char *const top_keys[] = {
      "simulation", "assets",         "correlation", "systemic_jumps", "venues",
      "oracles",    "protocol",       "liquidators", "loanbook",       "output",
      "circuit_breaker",
      "sweep",      "sweep_baseline", "size",        "stress",
      "backstop",
      "lenders", "liquidity_flight"};
  /* sweep, sweep_baseline and size are read by config_sweep.c: a point is
   * the configuration without them. */
  const cfg_section *top = &ctx->top;
  sch_status st = cfg_check_keys(top, top_keys, COUNT(top_keys));
  if (st == SCH_OK)
    st = cfg_read_simulation(ctx);
  if (st == SCH_OK)
    st = cfg_read_assets(ctx);
  if (st == SCH_OK)
    st = cfg_check_rng_budget(ctx);
  if (st == SCH_OK)
    st = cfg_read_stress(ctx);
  if (st == SCH_OK)
    st = cfg_read_replay(ctx);
  if (st == SCH_OK)
    st = cfg_read_correlation(ctx);
  if (st == SCH_OK)
    st = cfg_read_market(ctx);
  if (st == SCH_OK)
    st = cfg_read_protocol(ctx);
  if (st == SCH_OK)
    st = cfg_read_circuit_breaker(ctx);
  if (st == SCH_OK)
    st = cfg_read_liquidators(ctx);
  if (st == SCH_OK)
    st = cfg_read_loanbook(ctx);
  if (st == SCH_OK)
    st = cfg_read_lenders(ctx);
  if (st == SCH_OK)
    st = cfg_read_liquidity_flight(ctx);
  if (st == SCH_OK)
    st = cfg_read_output(ctx);
  return st;
}

sch_status cfg_convert_one(const cfg_node *root, const char *base_dir,
                           sch_config *cfg, sch_error *err) {
  char buf[96];
  if (root->kind != CFG_MAP)
    return cfg_fail_at(err, root,
                       "the top level must be a mapping of sections "
                       "(simulation:, assets:, ...), got %s",
                       describe(root, buf, sizeof buf));
  cfg_ctx ctx = {.cfg = cfg, .err = err, .base_dir = base_dir};
  ctx.top.map = root;
  ctx.top.anchor = root;
  ctx.top.err = err;
  sch_status st = read_all(&ctx);
  if (st == SCH_OK)
    st = cfg_write_resolved(cfg, err);
  return st;
}

static sch_status convert(const cfg_node *root, const char *base_dir,
                          sch_config *cfg, sch_error *err) {
  if (root->kind == CFG_MAP && cfg_map_get(root, "protocols"))
    return cfg_convert_protocols(root, base_dir, cfg, err);
  return cfg_convert_one(root, base_dir, cfg, err);
}

sch_status cfg_convert_tree(const cfg_node *root, const char *source,
                            const char *base_dir, sch_config *cfg,
                            sch_error *err) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->source, sizeof cfg->source, "%s", source);
  sch_status st = convert(root, base_dir, cfg, err);
  if (st != SCH_OK)
    sch_config_free(cfg);
  return st;
}

sch_status sch_config_parse(const char *text, const char *source,
                            const char *base_dir, const char *const *overrides,
                            size_t n_overrides, sch_config *cfg,
                            sch_error *err) {
  memset(cfg, 0, sizeof *cfg);
  if (!source)
    source = "<config>";
  snprintf(cfg->source, sizeof cfg->source, "%s", source);
  cfg_node *root = NULL;
  sch_status st = cfg_check_text(text, strlen(text), source, err);
  if (st == SCH_OK)
    st = cfg_tree_parse(text, source, false, &root, err);
  if (st == SCH_OK && !root)
    st = sch_fail(err, SCH_ERR_INPUT, "%s:1:1: empty configuration", source);
  if (st == SCH_OK && root->kind != CFG_MAP)
    st = convert(root, base_dir, cfg, err); /* reports the bad top level */
  for (size_t i = 0; st == SCH_OK && i < n_overrides; i++)
    st = cfg_apply_override(root, overrides[i], err);
  if (st == SCH_OK)
    st = convert(root, base_dir, cfg, err);
  cfg_tree_free(root);
  if (st != SCH_OK)
    sch_config_free(cfg);
  return st;
}

/* The whole file; NUL bytes are kept so that they can be reported. */
static sch_status read_file(const char *path, char **text, size_t *len,
                            sch_error *err) {
  FILE *f = fopen(path, "rb");
  size_t cap = 4096, used = 0;
  char *buf = f ? malloc(cap) : NULL;
  int saved = errno;
  while (buf) {
    used += fread(buf + used, 1, cap - used - 1, f);
    if (used < cap - 1)
      break;
    char *bigger = realloc(buf, 2 * cap);
    if (!bigger) {
      free(buf);
      buf = NULL;
      saved = ENOMEM;
    }
    buf = bigger;
    cap *= 2;
  }
  if (f && buf && ferror(f)) {
    saved = errno;
    free(buf);
    buf = NULL;
  }
  if (f)
    fclose(f);
  if (!buf)
    return sch_fail(err, SCH_ERR_INPUT, "%s: cannot read: %s", path,
                    strerror(saved));
  buf[used] = '\0';
  *text = buf;
  *len = used;
  return SCH_OK;
}

static void directory_of(const char *path, char *dir, size_t size) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(dir, size, ".");
  else if (slash == path)
    snprintf(dir, size, "/");
  else
    snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

sch_status cfg_source_text(const char *path, char **text, char *dir,
                           size_t dir_size, sch_error *err) {
  size_t len = 0;
  if (!path) {
    snprintf(dir, dir_size, ".");
    *text = strdup(sch_default_config_yaml);
    return *text
               ? SCH_OK
               : sch_fail(err, SCH_ERR_RUNTIME, "configuration: out of memory");
  }
  sch_status st = read_file(path, text, &len, err);
  if (st == SCH_OK)
    st = cfg_check_text(*text, len, path, err);
  if (st != SCH_OK) {
    free(*text);
    *text = NULL;
  }
  directory_of(path, dir, dir_size);
  return st;
}

sch_status sch_config_load(const char *path, const char *const *overrides,
                           size_t n_overrides, sch_config *cfg,
                           sch_error *err) {
  if (!path)
    return sch_config_parse(sch_default_config_yaml, "<default>", ".",
                            overrides, n_overrides, cfg, err);
  memset(cfg, 0, sizeof *cfg);
  char *text = NULL;
  size_t len = 0;
  char dir[SCH_PATH_MAX];
  sch_status st = read_file(path, &text, &len, err);
  if (st == SCH_OK)
    st = cfg_check_text(text, len, path, err);
  directory_of(path, dir, sizeof dir);
  if (st == SCH_OK)
    st = sch_config_parse(text, path, dir, overrides, n_overrides, cfg, err);
  free(text);
  return st;
}

void sch_config_free(sch_config *cfg) {
  if (!cfg)
    return;
  free(cfg->resolved_yaml);
  cfg->resolved_yaml = NULL;
  for (int p = 0; cfg->protocol_cfg && p < cfg->n_protocols; p++)
    sch_config_free(&cfg->protocol_cfg[p]);
  free(cfg->protocol_cfg);
  cfg->protocol_cfg = NULL;
}
