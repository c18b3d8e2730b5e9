/* `protocols:` — several protocols on one market (issue 7, docs/config.md).
 *
 * The list is desugared on the YAML tree: protocol p's configuration is the
 * whole document with the entry's own sections (protocol, liquidators,
 * loanbook, lenders, backstop, circuit_breaker) in place of the top-level
 * ones, so every section reader, default and error message works unchanged
 * and errors point at the entry's lines. The market (assets, venues,
 * oracles, simulation, output, ...) is the document's, shared by all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define TRY(expr)                                                              \
  do {                                                                         \
    sch_status try_status_ = (expr);                                           \
    if (try_status_ != SCH_OK)                                                 \
      return try_status_;                                                      \
  } while (0)

/* Sections an entry may carry; the others are the shared market's. */
static const char *const per_protocol[] = {"protocol", "liquidators",
                                           "loanbook", "lenders",
                                           "backstop", "circuit_breaker"};

static bool is_per_protocol(const char *key, size_t len) {
  for (size_t i = 0; i < COUNT(per_protocol); i++)
    if (strlen(per_protocol[i]) == len && strncmp(key, per_protocol[i], len) == 0)
      return true;
  return false;
}

typedef struct protocol_list {
  int n;
  const cfg_node *entry[SCH_MAX_PROTOCOLS];
  char name[SCH_MAX_PROTOCOLS][SCH_NAME_MAX];
  double deposits[SCH_MAX_PROTOCOLS];
  bool isolated;
  int receipt_of[SCH_MAX_ASSETS]; /* by position in assets:, -1 none */
  const cfg_node *receipt_node[SCH_MAX_ASSETS];
} protocol_list;

static bool valid_name(const char *s) {
  if (!*s)
    return false;
  for (; *s; s++)
    if (!(*s == '_' || *s == '-' || (*s >= 'a' && *s <= 'z') ||
          (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
      return false;
  return true;
}

static sch_status read_entry(const cfg_node *item, int p, protocol_list *pl,
                             sch_error *err) {
  static const char *const keys[] = {"name",     "deposits", "protocol",
                                     "liquidators", "loanbook", "lenders",
                                     "backstop", "circuit_breaker"};
  cfg_section s = {.map = item, .anchor = item, .err = err};
  snprintf(s.name, sizeof s.name, "protocols[%d]", p);
  if (item->kind != CFG_MAP)
    return cfg_fail_at(err, item,
                       "protocols[%d] must be a mapping {name: ..., "
                       "protocol: ..., loanbook: ...}",
                       p);
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  const cfg_node *name = cfg_lookup(&s, "name");
  if (!name)
    return cfg_missing(&s, "name");
  if (name->kind != CFG_SCALAR || strlen(name->text) >= SCH_NAME_MAX ||
      !valid_name(name->text))
    return cfg_fail_at(err, name,
                       "protocols[%d].name must be a short name of letters, "
                       "digits, '_' and '-' (at most %d characters)",
                       p, SCH_NAME_MAX - 1);
  for (int q = 0; q < p; q++)
    if (strcmp(pl->name[q], name->text) == 0)
      return cfg_fail_at(err, name, "protocol name '%s' is used twice",
                         name->text);
  snprintf(pl->name[p], SCH_NAME_MAX, "%s", name->text);
  snprintf(s.name, sizeof s.name, "protocols.%s", pl->name[p]);
  pl->entry[p] = item;
  return cfg_number(&s, "deposits", DEFAULT(0), AT_LEAST(0), NO_UPPER,
                    &pl->deposits[p]);
}

static sch_status read_contagion(const cfg_node *root, protocol_list *pl,
                                 sch_error *err) {
  static const char *const keys[] = {"market"};
  cfg_section top = {.map = root, .anchor = root, .err = err}, s;
  TRY(cfg_open(&top, "contagion", false, &s));
  TRY(cfg_check_keys(&s, keys, COUNT(keys)));
  char market[32];
  TRY(cfg_string(&s, "market", "shared", market, sizeof market));
  if (strcmp(market, "shared") != 0 && strcmp(market, "isolated") != 0)
    return cfg_fail_at(err, cfg_lookup(&s, "market"),
                       "contagion.market must be shared or isolated, got '%s'",
                       market);
  pl->isolated = strcmp(market, "isolated") == 0;
  return SCH_OK;
}

/* `receipt_of: NAME` on an asset: a deposit share of that protocol. */
static sch_status read_receipts(const cfg_node *root, protocol_list *pl,
                                sch_error *err) {
  const cfg_node *assets = cfg_map_get(root, "assets");
  for (int i = 0; i < SCH_MAX_ASSETS; i++)
    pl->receipt_of[i] = -1;
  for (size_t i = 0; assets && assets->kind == CFG_LIST &&
                     i < assets->n && i < SCH_MAX_ASSETS;
       i++) {
    const cfg_node *of = assets->items[i]->kind == CFG_MAP
                             ? cfg_map_get(assets->items[i], "receipt_of")
                             : NULL;
    if (!of)
      continue;
    for (int q = 0; q < pl->n && of->kind == CFG_SCALAR; q++)
      if (strcmp(pl->name[q], of->text) == 0)
        pl->receipt_of[i] = q;
    if (pl->receipt_of[i] < 0)
      return cfg_fail_at(err, of,
                         "assets[%zu].receipt_of must name one of the "
                         "protocols: (got '%s')",
                         i, of->kind == CFG_SCALAR ? of->text : "a collection");
    pl->receipt_node[i] = of;
  }
  return SCH_OK;
}

static sch_status read_list(const cfg_node *root, protocol_list *pl,
                            sch_error *err) {
  const cfg_node *list = cfg_map_get(root, "protocols");
  if (list->kind != CFG_LIST || list->n == 0 || list->n > SCH_MAX_PROTOCOLS)
    return cfg_fail_at(err, list,
                       "protocols must be a list of 1 to %d protocols "
                       "{name, protocol, loanbook, ...}",
                       SCH_MAX_PROTOCOLS);
  pl->n = (int)list->n;
  for (int p = 0; p < pl->n; p++)
    TRY(read_entry(list->items[p], p, pl, err));
  TRY(read_contagion(root, pl, err));
  return read_receipts(root, pl, err);
}

/* Protocol p's document: the whole one with the entry's sections. */
static cfg_node *protocol_document(const cfg_node *root,
                                   const protocol_list *pl, int p,
                                   sch_error *err, sch_status *st) {
  cfg_node *doc = cfg_tree_copy(root);
  if (!doc) {
    *st = sch_fail(err, SCH_ERR_RUNTIME, "configuration: out of memory");
    return NULL;
  }
  cfg_map_remove(doc, "protocols");
  cfg_map_remove(doc, "contagion");
  cfg_node *assets = cfg_map_get(doc, "assets");
  for (size_t i = 0; assets && assets->kind == CFG_LIST && i < assets->n; i++)
    if (assets->items[i]->kind == CFG_MAP)
      cfg_map_remove(assets->items[i], "receipt_of");
  const cfg_node *entry = pl->entry[p];
  for (size_t k = 0; k < entry->n; k++) {
    const char *key = entry->keys[k]->text;
    if (!is_per_protocol(key, strlen(key)))
      continue;
    cfg_node *value = cfg_tree_copy(entry->items[k]);
    cfg_map_remove(doc, key);
    *st = value ? cfg_set_path(doc, key, value, entry->keys[k], err)
                : sch_fail(err, SCH_ERR_RUNTIME, "configuration: out of memory");
    if (*st != SCH_OK) {
      cfg_tree_free(doc);
      return NULL;
    }
  }
  *st = SCH_OK;
  return doc;
}

/* Fields every configuration of the scenario carries. */
static sch_status mark_protocol(sch_config *cfg, const protocol_list *pl,
                                int p, sch_error *err) {
  cfg->n_protocols = pl->n;
  cfg->protocol_index = p;
  for (int q = 0; q < pl->n; q++)
    snprintf(cfg->protocol_names[q], SCH_NAME_MAX, "%s", pl->name[q]);
  cfg->deposits = pl->deposits[p];
  cfg->isolated_market = pl->isolated;
  for (int i = 0; i < cfg->n_assets; i++) {
    int q = pl->receipt_of[i];
    cfg->assets[i].receipt_of = q;
    if (q < 0)
      continue;
    if (!cfg->assets[i].stable)
      return cfg_fail_at(err, pl->receipt_node[i],
                         "assets.%s is a receipt token (receipt_of) and must "
                         "be stable: vol 0 and no jumps",
                         cfg->assets[i].name);
    if (!(pl->deposits[q] > 0))
      return cfg_fail_at(err, pl->receipt_node[i],
                         "assets.%s is a receipt token of %s, which needs "
                         "deposits > 0 (USD lent to it)",
                         cfg->assets[i].name, pl->name[q]);
  }
  /* the resolved text again, now with receipt_of */
  free(cfg->resolved_yaml);
  cfg->resolved_yaml = NULL;
  return cfg_write_resolved(cfg, err);
}

static sch_status convert_protocol(const cfg_node *root, const char *base_dir,
                                   const protocol_list *pl, int p,
                                   const char *source, sch_config *out,
                                   sch_error *err) {
  sch_status st;
  cfg_node *doc = protocol_document(root, pl, p, err, &st);
  if (!doc)
    return st;
  memset(out, 0, sizeof *out);
  snprintf(out->source, sizeof out->source, "%s", source);
  st = cfg_convert_one(doc, base_dir, out, err);
  cfg_tree_free(doc);
  if (st == SCH_OK)
    st = mark_protocol(out, pl, p, err);
  return st;
}

/* ---- the resolved text: the market once, then each protocol's sections */

static bool put_text(char **buf, size_t *len, size_t *cap, const char *s,
                     size_t n) {
  if (*len + n + 1 > *cap) {
    size_t c = (*cap ? *cap * 2 : 4096);
    while (c < *len + n + 1)
      c *= 2;
    char *b = realloc(*buf, c);
    if (!b)
      return false;
    *buf = b;
    *cap = c;
  }
  memcpy(*buf + *len, s, n);
  *len += n;
  (*buf)[*len] = '\0';
  return true;
}

/* Copy the top-level sections of `yaml` that are (per == true) or are not
 * per-protocol, each line prefixed by `indent`. */
static bool copy_sections(const char *yaml, bool per, const char *indent,
                          char **buf, size_t *len, size_t *cap) {
  bool keep = false;
  for (const char *line = yaml; *line;) {
    const char *end = strchr(line, '\n');
    size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
    if (line[0] != ' ' && line[0] != '#' && line[0] != '-' && line[0] != '\n') {
      const char *colon = memchr(line, ':', n);
      keep = colon && is_per_protocol(line, (size_t)(colon - line)) == per;
    }
    if (keep && (!put_text(buf, len, cap, indent, strlen(indent)) ||
                 !put_text(buf, len, cap, line, n)))
      return false;
    line += n;
  }
  return true;
}

static sch_status compose_resolved(sch_config *head, sch_error *err) {
  char *buf = NULL, line[160];
  size_t len = 0, cap = 0;
  bool ok = copy_sections(head->protocol_cfg[0].resolved_yaml, false, "",
                          &buf, &len, &cap) &&
            put_text(&buf, &len, &cap, "protocols:\n", 11);
  for (int p = 0; ok && p < head->n_protocols; p++) {
    const sch_config *pc = &head->protocol_cfg[p];
    int n = snprintf(line, sizeof line, "  - name: %s\n    deposits: %.17g\n",
                     head->protocol_names[p], pc->deposits);
    ok = put_text(&buf, &len, &cap, line, (size_t)n) &&
         copy_sections(pc->resolved_yaml, true, "    ", &buf, &len, &cap);
  }
  int n = snprintf(line, sizeof line, "contagion:\n  market: %s\n",
                   head->isolated_market ? "isolated" : "shared");
  ok = ok && put_text(&buf, &len, &cap, line, (size_t)n);
  if (!ok) {
    free(buf);
    return sch_fail(err, SCH_ERR_RUNTIME, "configuration: out of memory");
  }
  free(head->resolved_yaml);
  head->resolved_yaml = buf;
  return SCH_OK;
}

sch_status cfg_convert_protocols(const cfg_node *root, const char *base_dir,
                                 sch_config *cfg, sch_error *err) {
  protocol_list pl = {0};
  TRY(read_list(root, &pl, err));
  char source[SCH_PATH_MAX];
  snprintf(source, sizeof source, "%s", cfg->source);
  /* the head: protocol 0's configuration, owning all of them */
  TRY(convert_protocol(root, base_dir, &pl, 0, source, cfg, err));
  cfg->protocol_cfg = calloc((size_t)pl.n, sizeof *cfg->protocol_cfg);
  if (!cfg->protocol_cfg)
    return sch_fail(err, SCH_ERR_RUNTIME, "configuration: out of memory");
  for (int p = 0; p < pl.n; p++)
    TRY(convert_protocol(root, base_dir, &pl, p, source,
                         &cfg->protocol_cfg[p], err));
  return compose_resolved(cfg, err);
}
