/**
 * @file config_internal.h
 * @brief Private to the configuration loader: typed, range-checked readers
 *        over the located YAML tree, and the section readers built on them.
 */
#ifndef SCHELLING_CONFIG_INTERNAL_H
#define SCHELLING_CONFIG_INTERNAL_H

#include <math.h>

#include "config_tree.h"
#include "schelling/config.h"

#define COUNT(a) (sizeof(a) / sizeof *(a))

/** One end of an allowed range; infinite value = no bound. */
typedef struct bound {
  double value;
  bool inclusive;
} bound;

#define NO_LOWER ((bound){-INFINITY, true})
#define NO_UPPER ((bound){INFINITY, true})
#define ABOVE(x) ((bound){(x), false})
#define AT_LEAST(x) ((bound){(x), true})
#define BELOW(x) ((bound){(x), false})
#define AT_MOST(x) ((bound){(x), true})
#define DEFAULT(x) (&(const double){(x)})
#define REQUIRED NULL

/** A mapping being read; `map` NULL when the section is absent. */
typedef struct cfg_section {
  const cfg_node *map;
  const cfg_node *anchor; /**< where "missing key" errors point */
  char name[160];         /**< dotted path for messages, "" at the top */
  sch_error *err;
} cfg_section;

/** State of one conversion. */
typedef struct cfg_ctx {
  sch_config *cfg;
  sch_error *err;
  const char *base_dir;
  cfg_section top;
  const cfg_node *asset_nodes[SCH_MAX_ASSETS]; /**< for per-asset errors */
  const cfg_node *step_node; /**< simulation.step (RNG budget message) */
} cfg_ctx;

/* Readers (config.c). A NULL default means the key is required. */
void cfg_section_child(const cfg_section *parent, const char *key,
                       const cfg_node *map, cfg_section *out);
sch_status cfg_open(const cfg_section *parent, const char *key, bool required,
                    cfg_section *out);
const cfg_node *cfg_lookup(const cfg_section *s, const char *key);
sch_status cfg_missing(const cfg_section *s, const char *key);
sch_status cfg_check_keys(const cfg_section *s, const char *const *known,
                          size_t n);
sch_status cfg_number(const cfg_section *s, const char *key, const double *def,
                      bound lo, bound hi, double *out);
sch_status cfg_duration(const cfg_section *s, const char *key,
                        const double *def, bound lo, bound hi, double *out);
sch_status cfg_integer(const cfg_section *s, const char *key, const double *def,
                       bound lo, bound hi, int64_t *out);
sch_status cfg_seed(const cfg_section *s, const char *key, uint64_t def,
                    uint64_t *out);
sch_status cfg_bool(const cfg_section *s, const char *key, bool def, bool *out);
sch_status cfg_string(const cfg_section *s, const char *key, const char *def,
                      char *out, size_t size);
sch_status cfg_node_string(sch_error *err, const cfg_node *node,
                           const char *label, char *out, size_t size);
sch_status cfg_node_number(sch_error *err, const cfg_node *node,
                           const char *label, bool duration, double *out);
sch_status cfg_check_range(sch_error *err, const cfg_node *node,
                           const char *label, double v, bound lo, bound hi);
/** Shortest "%g" text that reads back as the same double. */
const char *cfg_format_number(double v, char buf[static 32]);
const char *cfg_suggest(const char *word, const char *const *candidates,
                        size_t n);
void cfg_join(const char *const *words, size_t n, char *buf, size_t size);
sch_status cfg_asset_named(const cfg_ctx *ctx, const cfg_node *node,
                           const char *where, int *index);

/* Sections (config_sections.c), in the order they are read. */
sch_status cfg_read_simulation(cfg_ctx *ctx);
sch_status cfg_read_assets(cfg_ctx *ctx);
sch_status cfg_check_rng_budget(cfg_ctx *ctx);
sch_status cfg_read_correlation(cfg_ctx *ctx);
sch_status cfg_read_market(cfg_ctx *ctx); /* systemic jumps, venues, oracles */
sch_status cfg_read_protocol(cfg_ctx *ctx);
sch_status cfg_read_liquidators(cfg_ctx *ctx);
sch_status cfg_read_loanbook(cfg_ctx *ctx);
sch_status cfg_read_output(cfg_ctx *ctx);
/* kernels/lenders.c's sections (config_sections.c), after the loan book. */
sch_status cfg_read_lenders(cfg_ctx *ctx);
sch_status cfg_read_liquidity_flight(cfg_ctx *ctx);
/** `circuit_breaker:` (kernels/defence.c), after protocol and assets. */
sch_status cfg_read_circuit_breaker(cfg_ctx *ctx);
/** A file name made absolute, relative to the config's directory. */
sch_status cfg_resolve_path(cfg_ctx *ctx, const cfg_node *node,
                            const char *file, const char *label,
                            char out[SCH_PATH_MAX]);

/* Replay and stress shocks (config_stress.c), read after the assets. */
sch_status cfg_read_replay(cfg_ctx *ctx);
sch_status cfg_read_stress(cfg_ctx *ctx);

/* Whole configurations (config.c). */
/** A plain scalar that is a finite decimal number. */
bool cfg_parse_number(const cfg_node *node, double *out);
/** Validate a tree into cfg (sweep, sweep_baseline, size ignored). */
sch_status cfg_convert_tree(const cfg_node *root, const char *source,
                            const char *base_dir, sch_config *cfg,
                            sch_error *err);
/** The text of a config file (checked to be YAML text) or, for a NULL path,
 * a copy of the embedded default; dir gets the directory of the file. */
sch_status cfg_source_text(const char *path, char **text, char *dir,
                           size_t dir_size, sch_error *err);

/** Convert a document without `protocols:` (config.c). */
sch_status cfg_convert_one(const cfg_node *root, const char *base_dir,
                           sch_config *cfg, sch_error *err);
/** Convert a document with `protocols:` (config_protocols.c): the head is
 *  protocol 0's configuration and owns every protocol's. */
sch_status cfg_convert_protocols(const cfg_node *root, const char *base_dir,
                                 sch_config *cfg, sch_error *err);

/* The resolved YAML text (config_resolved.c). */
sch_status cfg_write_resolved(sch_config *cfg, sch_error *err);

#endif
