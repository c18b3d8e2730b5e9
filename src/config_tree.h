/**
 * @file config_tree.h
 * @brief Private to the configuration loader: a YAML tree whose every node
 *        remembers where it came from (file:line:column or a `--set`
 *        argument), the `--set` override machinery and message helpers.
 */
#ifndef SCHELLING_CONFIG_TREE_H
#define SCHELLING_CONFIG_TREE_H

#include "schelling/schelling.h"

typedef enum cfg_kind { CFG_SCALAR, CFG_MAP, CFG_LIST } cfg_kind;

/** One YAML node; mappings keep their keys in document order. */
typedef struct cfg_node {
  cfg_kind kind;
  char *text;         /**< scalar text (NUL-terminated), NULL otherwise */
  bool plain;         /**< unquoted scalar: may be a number, bool or null */
  int line, column;   /**< 1-based position in the source */
  const char *origin; /**< source name, or the whole `--set` argument */
  bool from_override; /**< origin is a `--set` argument (no line:column) */
  size_t n, cap;
  struct cfg_node **keys;  /**< mapping keys (scalars); NULL for lists */
  struct cfg_node **items; /**< mapping values or list items */
} cfg_node;

/**
 * Reject text that is not YAML text: NUL bytes or invalid UTF-8.
 * @param text   the bytes
 * @param len    their number
 * @param origin source name for the message
 * @param err    message on failure
 * @return SCH_OK or SCH_ERR_INPUT
 */
sch_status cfg_check_text(const char *text, size_t len, const char *origin,
                          sch_error *err);

/**
 * Parse one YAML document into a tree.
 * @param text          NUL-terminated YAML
 * @param origin        source name (kept by pointer: must outlive the tree)
 * @param from_override the text is the value of a `--set` argument
 * @param root          the root node, NULL for an empty document
 * @param err           message on failure
 * @return SCH_OK, SCH_ERR_INPUT, or SCH_ERR_RUNTIME (out of memory)
 */
sch_status cfg_tree_parse(const char *text, const char *origin,
                          bool from_override, cfg_node **root, sch_error *err);

/** Free a tree (NULL is fine). */
void cfg_tree_free(cfg_node *node);

/** @return the value of `key` in a mapping, or NULL. */
cfg_node *cfg_map_get(const cfg_node *map, const char *key);

/** @return the key node of `key` in a mapping, or NULL. */
const cfg_node *cfg_map_key(const cfg_node *map, const char *key);

/**
 * Apply one `--set key.path=value` override to the tree.
 * @param root the document's root mapping
 * @param arg  the whole argument (kept by pointer as the nodes' origin)
 * @param err  message on failure
 * @return SCH_OK, SCH_ERR_INPUT or SCH_ERR_RUNTIME
 */
sch_status cfg_apply_override(cfg_node *root, const char *arg, sch_error *err);

/**
 * Write the location prefix of a node ("file:3:7" or "--set a.b=1").
 * @param node the node
 * @param buf  where to write
 * @param size room in buf
 */
void cfg_where(const cfg_node *node, char *buf, size_t size);

/**
 * Fail with "<location of node>: <message>".
 * @return SCH_ERR_INPUT
 */
sch_status cfg_fail_at(sch_error *err, const cfg_node *node, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

/**
 * Put `value` at a dotted path of the tree, like an override, but located at
 * `at`: messages and the nodes created on the way take its location.
 * @param root  the document's root mapping
 * @param path  dotted key path (list items by index or `name`)
 * @param value the value (owned, freed on failure)
 * @param at    node naming the change in messages (e.g. a sweep key)
 * @param err   message on failure
 * @return SCH_OK, SCH_ERR_INPUT or SCH_ERR_RUNTIME
 */
sch_status cfg_set_path(cfg_node *root, const char *path, cfg_node *value,
                        const cfg_node *at, sch_error *err);

/** @return a deep copy of a tree (locations kept), or NULL (no memory). */
cfg_node *cfg_tree_copy(const cfg_node *node);

/** @return a new plain scalar, or NULL (no memory). */
cfg_node *cfg_scalar_new(const char *text, const char *origin,
                         bool from_override);

/** Remove `key` (and its value) from a mapping, if present. */
void cfg_map_remove(cfg_node *map, const char *key);

/** @return "--set " for an origin that is a `--set` argument, "" for one
 *          that names its own flag ("--sweep ..."). */
const char *cfg_flag_of(const char *origin);

/** @return the Levenshtein edit distance between a and b. */
size_t cfg_edit_distance(const char *a, const char *b);

#endif
