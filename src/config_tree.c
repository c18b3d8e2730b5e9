/* The configuration as a located YAML tree, and `--set` overrides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_tree.h"

/* Guards against alias bombs and self-referencing anchors. */
#define CFG_MAX_DEPTH 64
#define CFG_MAX_NODES 1000000

/* ---------------------------------------------------------------- text */

/* Length of the UTF-8 sequence starting at s (n bytes left), 0 if invalid. */
static size_t utf8_length(const unsigned char *s, size_t n) {
  size_t len;
  uint32_t cp;
  if (s[0] < 0x80)
    return 1;
  if ((s[0] & 0xe0) == 0xc0) {
    len = 2;
    cp = s[0] & 0x1fu;
  } else if ((s[0] & 0xf0) == 0xe0) {
    len = 3;
    cp = s[0] & 0x0fu;
  } else if ((s[0] & 0xf8) == 0xf0) {
    len = 4;
    cp = s[0] & 0x07u;
  } else {
    return 0;
  }
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3fu);
  }
  static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0; /* overlong, out of range or a surrogate */
  return len;
}

sch_status cfg_check_text(const char *text, size_t len, const char *origin,
                          sch_error *err) {
  const unsigned char *s = (const unsigned char *)text;
  int line = 1, column = 1;
  for (size_t i = 0; i < len;) {
    size_t n = s[i] ? utf8_length(s + i, len - i) : 0;
    if (n == 0)
      return sch_fail(err, SCH_ERR_INPUT,
                      "%s:%d:%d: not a YAML text file (byte 0x%02x)", origin,
                      line, column, s[i]);
    if (s[i] == '\n') {
      line++;
      column = 1;
    } else {
      column++;
    }
    i += n;
  }
  return SCH_OK;
}

/* ---------------------------------------------------------------- nodes */

/* Command-line origins are `--set` arguments unless they name their own flag
 * ("--sweep key=v1,v2" keeps its text as is). */
const char *cfg_flag_of(const char *origin) {
  return strncmp(origin, "--", 2) == 0 ? "" : "--set ";
}

void cfg_where(const cfg_node *node, char *buf, size_t size) {
  if (node->from_override)
    snprintf(buf, size, "%s%s", cfg_flag_of(node->origin), node->origin);
  else
    snprintf(buf, size, "%s:%d:%d", node->origin, node->line, node->column);
}

sch_status cfg_fail_at(sch_error *err, const cfg_node *node, const char *fmt,
                       ...) {
  char where[SCH_ERROR_MAX], msg[SCH_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cfg_where(node, where, sizeof where);
  return sch_fail(err, SCH_ERR_INPUT, "%s: %s", where, msg);
}

static cfg_node *node_new(cfg_kind kind, const char *origin,
                          bool from_override) {
  cfg_node *node = calloc(1, sizeof *node);
  if (node) {
    node->kind = kind;
    node->origin = origin;
    node->from_override = from_override;
  }
  return node;
}

void cfg_tree_free(cfg_node *node) {
  if (!node)
    return;
  for (size_t i = 0; i < node->n; i++) {
    if (node->keys)
      cfg_tree_free(node->keys[i]);
    cfg_tree_free(node->items[i]);
  }
  free(node->keys);
  free(node->items);
  free(node->text);
  free(node);
}

/* Append a child (key NULL for lists); takes ownership only on success. */
static bool node_append(cfg_node *parent, cfg_node *key, cfg_node *item) {
  if (parent->n == parent->cap) {
    size_t cap = parent->cap ? 2 * parent->cap : 4;
    cfg_node **items = realloc(parent->items, cap * sizeof *items);
    if (!items)
      return false;
    parent->items = items;
    if (parent->kind == CFG_MAP) {
      cfg_node **keys = realloc(parent->keys, cap * sizeof *keys);
      if (!keys)
        return false;
      parent->keys = keys;
    }
    parent->cap = cap;
  }
  if (parent->kind == CFG_MAP)
    parent->keys[parent->n] = key;
  parent->items[parent->n++] = item;
  return true;
}

static long map_find(const cfg_node *map, const char *key) {
  if (!map || map->kind != CFG_MAP)
    return -1;
  for (size_t i = 0; i < map->n; i++)
    if (strcmp(map->keys[i]->text, key) == 0)
      return (long)i;
  return -1;
}

cfg_node *cfg_map_get(const cfg_node *map, const char *key) {
  long i = map_find(map, key);
  return i < 0 ? NULL : map->items[i];
}

const cfg_node *cfg_map_key(const cfg_node *map, const char *key) {
  long i = map_find(map, key);
  return i < 0 ? NULL : map->keys[i];
}

void cfg_map_remove(cfg_node *map, const char *key) {
  long i = map_find(map, key);
  if (i < 0)
    return;
  cfg_tree_free(map->keys[i]);
  cfg_tree_free(map->items[i]);
  memmove(map->keys + i, map->keys + i + 1,
          (map->n - (size_t)i - 1) * sizeof *map->keys);
  memmove(map->items + i, map->items + i + 1,
          (map->n - (size_t)i - 1) * sizeof *map->items);
  map->n--;
}

/* ------------------------------------------------------- libyaml -> tree */

typedef struct tree_builder {
  yaml_document_t *doc;
  const char *origin;
  bool from_override;
  size_t nodes;
  sch_error *err;
} tree_builder;

static sch_status build_node(tree_builder *b, yaml_node_t *src, int depth,
                             cfg_node **out);

static sch_status fail_at_mark(tree_builder *b, yaml_mark_t mark,
                               const char *msg) {
  if (b->from_override)
    return sch_fail(b->err, SCH_ERR_INPUT, "%s%s: %s", cfg_flag_of(b->origin),
                    b->origin, msg);
  return sch_fail(b->err, SCH_ERR_INPUT, "%s:%zu:%zu: %s", b->origin,
                  mark.line + 1, mark.column + 1, msg);
}

static sch_status out_of_memory(sch_error *err) {
  return sch_fail(err, SCH_ERR_RUNTIME, "configuration: out of memory");
}

static sch_status build_scalar(tree_builder *b, yaml_node_t *src,
                               cfg_node *node) {
  node->text =
      strndup((const char *)src->data.scalar.value, src->data.scalar.length);
  if (!node->text)
    return out_of_memory(b->err);
  if (strlen(node->text) != src->data.scalar.length)
    return fail_at_mark(b, src->start_mark,
                        "a string holds a NUL character (\\0)");
  node->plain = src->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  return SCH_OK;
}

static sch_status build_list(tree_builder *b, yaml_node_t *src, int depth,
                             cfg_node *node) {
  for (yaml_node_item_t *it = src->data.sequence.items.start;
       it < src->data.sequence.items.top; it++) {
    cfg_node *item = NULL;
    sch_status st =
        build_node(b, yaml_document_get_node(b->doc, *it), depth + 1, &item);
    if (st == SCH_OK && !node_append(node, NULL, item))
      st = out_of_memory(b->err);
    if (st != SCH_OK) {
      cfg_tree_free(item);
      return st;
    }
  }
  return SCH_OK;
}

static sch_status check_key(tree_builder *b, const cfg_node *map,
                            const cfg_node *key) {
  if (key->kind != CFG_SCALAR)
    return cfg_fail_at(b->err, key, "a mapping key must be a plain name");
  const cfg_node *first = cfg_map_key(map, key->text);
  if (first)
    return cfg_fail_at(b->err, key, "duplicate key '%s' (first at line %d)",
                       key->text, first->line);
  return SCH_OK;
}

static sch_status build_map(tree_builder *b, yaml_node_t *src, int depth,
                            cfg_node *node) {
  for (yaml_node_pair_t *p = src->data.mapping.pairs.start;
       p < src->data.mapping.pairs.top; p++) {
    cfg_node *key = NULL, *value = NULL;
    sch_status st =
        build_node(b, yaml_document_get_node(b->doc, p->key), depth + 1, &key);
    if (st == SCH_OK)
      st = check_key(b, node, key);
    if (st == SCH_OK)
      st = build_node(b, yaml_document_get_node(b->doc, p->value), depth + 1,
                      &value);
    if (st == SCH_OK && !node_append(node, key, value))
      st = out_of_memory(b->err);
    if (st != SCH_OK) {
      cfg_tree_free(key);
      cfg_tree_free(value);
      return st;
    }
  }
  return SCH_OK;
}

static sch_status build_node(tree_builder *b, yaml_node_t *src, int depth,
                             cfg_node **out) {
  if (depth > CFG_MAX_DEPTH || ++b->nodes > CFG_MAX_NODES)
    return fail_at_mark(b, src->start_mark,
                        "document too deeply nested or too large "
                        "(recursive or exploding aliases?)");
  static const cfg_kind kinds[] = {[YAML_SCALAR_NODE] = CFG_SCALAR,
                                   [YAML_SEQUENCE_NODE] = CFG_LIST,
                                   [YAML_MAPPING_NODE] = CFG_MAP};
  cfg_node *node = node_new(kinds[src->type], b->origin, b->from_override);
  if (!node)
    return out_of_memory(b->err);
  node->line = (int)src->start_mark.line + 1;
  node->column = (int)src->start_mark.column + 1;
  sch_status st = SCH_OK;
  if (src->type == YAML_SCALAR_NODE)
    st = build_scalar(b, src, node);
  else if (src->type == YAML_SEQUENCE_NODE)
    st = build_list(b, src, depth, node);
  else
    st = build_map(b, src, depth, node);
  if (st != SCH_OK) {
    cfg_tree_free(node);
    return st;
  }
  *out = node;
  return SCH_OK;
}

static sch_status parser_failure(tree_builder *b, const yaml_parser_t *p) {
  char msg[SCH_ERROR_MAX];
  const char *problem = p->problem ? p->problem : "cannot parse YAML";
  if (p->error == YAML_MEMORY_ERROR)
    return out_of_memory(b->err);
  if (p->context)
    snprintf(msg, sizeof msg, "%s %s", problem, p->context);
  else
    snprintf(msg, sizeof msg, "%s", problem);
  return fail_at_mark(b, p->problem_mark, msg);
}

/* A second document in the stream would be silently ignored: refuse it. */
static sch_status check_single_document(tree_builder *b, yaml_parser_t *p) {
  yaml_document_t next;
  if (!yaml_parser_load(p, &next))
    return parser_failure(b, p);
  yaml_node_t *root = yaml_document_get_root_node(&next);
  sch_status st = SCH_OK;
  if (root)
    st = fail_at_mark(b, root->start_mark,
                      "only one YAML document is allowed (remove '---')");
  yaml_document_delete(&next);
  return st;
}

sch_status cfg_tree_parse(const char *text, const char *origin,
                          bool from_override, cfg_node **root, sch_error *err) {
  yaml_parser_t parser;
  yaml_document_t doc;
  tree_builder b = {&doc, origin, from_override, 0, err};
  *root = NULL;
  if (!yaml_parser_initialize(&parser))
    return out_of_memory(err);
  yaml_parser_set_input_string(&parser, (const unsigned char *)text,
                               strlen(text));
  sch_status st = SCH_OK;
  if (!yaml_parser_load(&parser, &doc)) {
    st = parser_failure(&b, &parser);
  } else {
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (top)
      st = build_node(&b, top, 0, root);
    yaml_document_delete(&doc);
    if (st == SCH_OK && top)
      st = check_single_document(&b, &parser);
  }
  yaml_parser_delete(&parser);
  if (st != SCH_OK) {
    cfg_tree_free(*root);
    *root = NULL;
  }
  return st;
}

/* ------------------------------------------------------------ overrides */

size_t cfg_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return la > lb ? la : lb; /* names are short; no need to be exact */
  size_t row[65];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

typedef struct override_ctx {
  const char *arg;    /* the whole argument, for messages and origins */
  const cfg_node *at; /* NULL, or the node whose location names the change */
  sch_error *err;
} override_ctx;

/* A node made by an override: located at the argument, or at `at`. */
static cfg_node *override_node(const override_ctx *o, cfg_kind kind) {
  if (!o->at)
    return node_new(kind, o->arg, true);
  cfg_node *node = node_new(kind, o->at->origin, o->at->from_override);
  if (node) {
    node->line = o->at->line;
    node->column = o->at->column;
  }
  return node;
}

static sch_status override_fail(const override_ctx *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static sch_status override_fail(const override_ctx *o, const char *fmt, ...) {
  char msg[SCH_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (o->at)
    return cfg_fail_at(o->err, o->at, "%s", msg);
  return sch_fail(o->err, SCH_ERR_INPUT, "--set %s: %s", o->arg, msg);
}

static bool is_index(const char *s) {
  if (!*s)
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

/* List item selected by a path element: an index or an item's `name`. */
static long list_slot(const override_ctx *o, const cfg_node *list,
                      const char *elem, bool may_append, sch_status *st) {
  *st = SCH_OK;
  if (is_index(elem)) {
    unsigned long i = strtoul(elem, NULL, 10);
    if (i < list->n || (may_append && i == list->n))
      return (long)i;
    *st = override_fail(o, "index %s is out of range (the list has %zu items)",
                        elem, list->n);
    return -1;
  }
  for (size_t i = 0; i < list->n; i++) {
    const cfg_node *name = cfg_map_get(list->items[i], "name");
    if (name && name->kind == CFG_SCALAR && strcmp(name->text, elem) == 0)
      return (long)i;
  }
  char names[512] = "";
  size_t used = 0;
  for (size_t i = 0; i < list->n && used < sizeof names; i++) {
    const cfg_node *name = cfg_map_get(list->items[i], "name");
    if (name && name->kind == CFG_SCALAR)
      used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                               used ? ", " : "", name->text);
  }
  *st = override_fail(o, "no list item named '%s' (names: %s)", elem, names);
  return -1;
}

static bool is_null(const cfg_node *node) {
  return node->kind == CFG_SCALAR && node->plain &&
         (!node->text[0] || strcmp(node->text, "~") == 0 ||
          strcmp(node->text, "null") == 0);
}

/* The child of `node` named by elem, created as a mapping if missing. */
static sch_status descend(const override_ctx *o, cfg_node *node,
                          const char *elem, cfg_node **child) {
  if (node->kind == CFG_LIST) {
    sch_status st;
    long i = list_slot(o, node, elem, false, &st);
    if (i >= 0)
      *child = node->items[i];
    return st;
  }
  if (node->kind != CFG_MAP)
    return override_fail(o,
                         "cannot go into '%s': its parent is not a "
                         "mapping or list",
                         elem);
  long i = map_find(node, elem);
  if (i >= 0 && !is_null(node->items[i])) {
    *child = node->items[i];
    return SCH_OK;
  }
  cfg_node *map = override_node(o, CFG_MAP);
  if (!map)
    return out_of_memory(o->err);
  if (i >= 0) { /* `key:` with no value: give it an empty mapping */
    cfg_tree_free(node->items[i]);
    node->items[i] = map;
  } else {
    cfg_node *key = override_node(o, CFG_SCALAR);
    if (!key || !(key->text = strdup(elem)) || !node_append(node, key, map)) {
      cfg_tree_free(key);
      cfg_tree_free(map);
      return out_of_memory(o->err);
    }
  }
  *child = map;
  return SCH_OK;
}

/* Put value at elem of parent (replacing what was there); owns value. */
static sch_status place(const override_ctx *o, cfg_node *parent,
                        const char *elem, cfg_node *value) {
  sch_status st = SCH_OK;
  if (parent->kind == CFG_LIST) {
    long i = list_slot(o, parent, elem, true, &st);
    if (i >= 0 && (size_t)i == parent->n && !node_append(parent, NULL, value))
      st = out_of_memory(o->err);
    else if (i >= 0 && (size_t)i < parent->n) {
      cfg_tree_free(parent->items[i]);
      parent->items[i] = value;
    }
  } else if (parent->kind != CFG_MAP) {
    st = override_fail(o,
                       "cannot set '%s': its parent is not a mapping or "
                       "list",
                       elem);
  } else {
    long i = map_find(parent, elem);
    cfg_node *key = NULL;
    if (i >= 0) {
      cfg_tree_free(parent->items[i]);
      parent->items[i] = value;
    } else if (!(key = override_node(o, CFG_SCALAR)) ||
               !(key->text = strdup(elem)) ||
               !node_append(parent, key, value)) {
      cfg_tree_free(key);
      st = out_of_memory(o->err);
    }
  }
  if (st != SCH_OK)
    cfg_tree_free(value);
  return st;
}

/* Split "a.b.c" in place; returns the number of elements or -1 if empty. */
static int split_path(char *path, char **elems, int max) {
  int n = 0;
  for (char *p = path;; p++) {
    char *dot = strchr(p, '.');
    if (dot)
      *dot = '\0';
    if (!*p || n == max)
      return -1;
    elems[n++] = p;
    if (!dot)
      return n;
    p = dot;
  }
}

/* `loanbook.file` and `loanbook.generate` exclude each other. */
static void drop_exclusive(cfg_node *root, char **elems, int n) {
  cfg_node *book = cfg_map_get(root, "loanbook");
  if (n < 2 || strcmp(elems[0], "loanbook") != 0 || !book ||
      book->kind != CFG_MAP)
    return;
  if (strcmp(elems[1], "file") == 0)
    cfg_map_remove(book, "generate");
  else if (strcmp(elems[1], "generate") == 0)
    cfg_map_remove(book, "file");
}

static sch_status apply_path(const override_ctx *o, cfg_node *root, char *path,
                             cfg_node *value) {
  char *elems[32];
  int n = split_path(path, elems, 32);
  if (n < 0) {
    cfg_tree_free(value);
    return override_fail(o, "expected key.path=value with a non-empty "
                            "dotted key path");
  }
  cfg_node *node = root;
  sch_status st = SCH_OK;
  for (int i = 0; i + 1 < n && st == SCH_OK; i++)
    st = descend(o, node, elems[i], &node);
  if (st != SCH_OK) {
    cfg_tree_free(value);
    return st;
  }
  st = place(o, node, elems[n - 1], value);
  if (st == SCH_OK)
    drop_exclusive(root, elems, n);
  return st;
}

/* The value of an override, parsed as YAML; an empty value is null. */
static sch_status parse_value(const override_ctx *o, const char *text,
                              cfg_node **value) {
  sch_status st = cfg_tree_parse(text, o->arg, true, value, o->err);
  if (st != SCH_OK || *value)
    return st;
  *value = node_new(CFG_SCALAR, o->arg, true);
  if (!*value || !((*value)->text = strdup("")))
    return out_of_memory(o->err);
  (*value)->plain = true;
  return SCH_OK;
}

sch_status cfg_apply_override(cfg_node *root, const char *arg, sch_error *err) {
  override_ctx o = {arg, NULL, err};
  const char *eq = strchr(arg, '=');
  if (!eq)
    return override_fail(&o, "expected key.path=value (no '=')");
  char *path = strndup(arg, (size_t)(eq - arg));
  if (!path)
    return out_of_memory(err);
  cfg_node *value = NULL;
  sch_status st = parse_value(&o, eq + 1, &value);
  if (st == SCH_OK)
    st = apply_path(&o, root, path, value);
  else
    cfg_tree_free(value);
  free(path);
  return st;
}

sch_status cfg_set_path(cfg_node *root, const char *path, cfg_node *value,
                        const cfg_node *at, sch_error *err) {
  override_ctx o = {path, at, err};
  char *copy = strdup(path);
  if (!copy) {
    cfg_tree_free(value);
    return out_of_memory(err);
  }
  sch_status st = apply_path(&o, root, copy, value);
  free(copy);
  return st;
}

cfg_node *cfg_tree_copy(const cfg_node *node) {
  cfg_node *copy = node_new(node->kind, node->origin, node->from_override);
  if (!copy)
    return NULL;
  copy->plain = node->plain;
  copy->line = node->line;
  copy->column = node->column;
  if (node->text && !(copy->text = strdup(node->text))) {
    cfg_tree_free(copy);
    return NULL;
  }
  for (size_t i = 0; i < node->n; i++) {
    cfg_node *key = node->keys ? cfg_tree_copy(node->keys[i]) : NULL;
    cfg_node *item = cfg_tree_copy(node->items[i]);
    if (!item || (node->keys && !key) || !node_append(copy, key, item)) {
      cfg_tree_free(key);
      cfg_tree_free(item);
      cfg_tree_free(copy);
      return NULL;
    }
  }
  return copy;
}

cfg_node *cfg_scalar_new(const char *text, const char *origin,
                         bool from_override) {
  cfg_node *node = node_new(CFG_SCALAR, origin, from_override);
  if (node && !(node->text = strdup(text))) {
    cfg_tree_free(node);
    return NULL;
  }
  if (node)
    node->plain = true;
  return node;
}
