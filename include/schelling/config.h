/**
 * @file config.h
 * @brief The scenario configuration: parsed from YAML (libyaml), validated,
 *        with `--set key.path=value` overrides applied.
 *
 * The struct is plain data; every field is in the units the formulas use
 * (seconds for durations; rates per year). docs/config.md documents every key.
 */
#ifndef SCHELLING_CONFIG_H
#define SCHELLING_CONFIG_H

#include "schelling/schelling.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SCH_MAX_ASSETS 16   /**< most assets a scenario may name */
#define SCH_NAME_MAX 32     /**< longest asset name + 1 */
#define SCH_PATH_MAX 4096   /**< longest file path + 1 */
#define SCH_MAX_LEVELS 8    /**< most VaR/ES levels */
#define SCH_MAX_MIX 16      /**< most loan kinds in a generated book */
#define SCH_MAX_STRESS 64   /**< most entries of `stress:` */
#define SCH_MAX_PROTOCOLS 8 /**< most entries of `protocols:` */

/** Distribution of the per-step shocks z_k (DESIGN.md 3.1). */
typedef enum sch_returns {
  SCH_RETURNS_GAUSSIAN = 0,
  SCH_RETURNS_STUDENT_T = 1,
} sch_returns;

/** Venue (liquidation pool) model of a risky asset (DESIGN.md 3.2). */
typedef enum sch_venue_model {
  SCH_VENUE_NONE = 0, /**< stable asset: sold at its price */
  SCH_VENUE_CONSTANT_PRODUCT = 1,
  SCH_VENUE_POWER = 2,
} sch_venue_model;

/** Merton jump component: Poisson rate per year, normal log-size. */
typedef struct sch_jump_spec {
  double rate;  /**< jumps per year (>= 0) */
  double mean;  /**< mean log jump size */
  double stdev; /**< stdev of log jump size (>= 0) */
} sch_jump_spec;

/** One asset of `assets:` (order = column order everywhere). */
typedef struct sch_asset_spec {
  char name[SCH_NAME_MAX];
  double price;        /**< S(0), USD (> 0) */
  double vol;          /**< annual volatility sigma (>= 0) */
  double drift;        /**< annual drift mu of the diffusion */
  sch_jump_spec jumps; /**< idiosyncratic jumps (rate 0 = none) */
  double jump_beta;    /**< scale of the systemic log jump (default 1) */
  bool stable;         /**< derived: vol 0 and no jumps */
  /** `receipt_of`: a deposit share of protocol receipt_of (index into
   *  `protocols:`), priced at its share value; -1 for an ordinary asset. */
  int receipt_of;
} sch_asset_spec;

/** `venues.<asset>` (risky assets only). */
typedef struct sch_venue_spec {
  sch_venue_model model;
  double depth;                /**< D_i, USD per side (CP) or scale (power) */
  double fee;                  /**< pool fee f_i in [0,1) (power: default 0) */
  double eta;                  /**< power venue: eta >= 0 */
  double alpha;                /**< power venue: alpha > 0 */
  double market_depth;         /**< L_i, USD per unit of log price (> 0) */
  double recovery_half_life_s; /**< h_i, seconds (> 0) */
} sch_venue_spec;

/** `oracles.<asset>` (risky assets only). */
typedef struct sch_oracle_spec {
  double deviation;   /**< relative deviation threshold (>= 0) */
  double heartbeat_s; /**< seconds (> 0) */
  double delay_s;     /**< seconds (>= 0) */
} sch_oracle_spec;

#define SCH_MAX_VOL_BANDS 8 /**< most volatility bands of one asset */

/** One entry of `protocol.assets.<asset>.volatility_bands` (kernels/
 *  defence.c): while the asset's trailing realised volatility exceeds
 *  `above`, its threshold is `liquidation_threshold`. */
typedef struct sch_volatility_band {
  double above;                 /**< annualised volatility, >= 0 */
  double liquidation_threshold; /**< in (0,1), below the listing's LT */
} sch_volatility_band;

/** `protocol.assets.<asset>`; `listed` false if the asset has no entry. */
typedef struct sch_protocol_asset {
  bool listed;
  double liquidation_threshold; /**< LT in (0,1) */
  double liquidation_bonus;     /**< LB >= 0 */
} sch_protocol_asset;

/** How the liquidation incentive is set (docs/model.md). */
typedef enum sch_incentive {
  SCH_INCENTIVE_FIXED = 0,  /**< per-asset liquidation_bonus, close factor */
  SCH_INCENTIVE_MORPHO = 1, /**< LIF = min(1.15, 1/(1 - 0.3 (1 - LT))), full
                                 liquidation; bonus and close factor ignored */
  SCH_INCENTIVE_DYNAMIC = 2, /**< bonus scaled by venue depth and distress
                                  (protocol.dynamic_incentive) */
} sch_incentive;

/** `protocol.dynamic_incentive:` LB_i(t) = clamp(LB_i depth_scale_i^-a
 *  (1 + b distress), min_bonus, max_bonus) (docs/model.md "Dynamic
 *  incentive"; kernels/incentive.c). */
typedef struct sch_dynamic_incentive_spec {
  double depth_exponent;      /**< a >= 0 */
  double distress_multiplier; /**< b >= 0 */
  double min_bonus;           /**< >= 0 */
  double max_bonus;           /**< >= min_bonus */
} sch_dynamic_incentive_spec;

/** `protocol.absorb:` Compound v3 (Comet) absorb and buyCollateral, with
 *  Comet's names (docs/model.md "Compound v3 absorb"). */
typedef struct sch_absorb_spec {
  /** Comet's liquidationFactor per asset, in (0,1]: the user is credited
   *  collateral x price x liquidation_factor. */
  double liquidation_factor[SCH_MAX_ASSETS];
  double store_front_price_factor; /**< in [0,1]: discount = this x (1-LF) */
  double target_reserves;          /**< USD >= 0: sales stop at this level */
  double reserves;                 /**< USD at t = 0 */
} sch_absorb_spec;

/** `protocol:` */
/** Step part 5: how liquidatable accounts are dealt with (docs/model.md). */
typedef enum sch_liquidation_mode {
  SCH_LIQUIDATION_FIXED_BONUS = 0, /**< DESIGN.md 3.5 (Aave, Compound v2) */
  SCH_LIQUIDATION_CLIPPER = 1,     /**< Maker Liquidations 2.0 Dutch auction */
  SCH_LIQUIDATION_FLIP = 2,        /**< Maker 1.2 English auction */
  SCH_LIQUIDATION_ABSORB = 3,      /**< Compound v3 absorb + buyCollateral */
} sch_liquidation_mode;

/** Clipper price curve (abaci.sol). */
typedef enum sch_abacus {
  SCH_ABACUS_LINEAR = 0,    /**< top (tau - t) / tau, 0 from tau on */
  SCH_ABACUS_STAIRSTEP = 1, /**< top cut^floor(t / step) */
} sch_abacus;

/** `protocol.clipper:` Maker Liquidations 2.0 (dog.sol, clip.sol); USD
 *  stands for DAI. docs/model.md "Clipper". */
typedef struct sch_clipper_spec {
  double buf; /**< start price = buf x oracle price (> 0) */
  sch_abacus abacus;
  double tau_s;  /**< linear: seconds to price 0 (> 0) */
  double cut;    /**< stairstep: factor per step, in (0,1) */
  double step_s; /**< stairstep: seconds per cut (> 0) */
  double tail_s; /**< reset after this many seconds (> 0) */
  double cusp;   /**< reset when price < cusp x top, in [0,1) */
  double chop;   /**< tab = debt x chop (>= 1) */
  double tip;    /**< flat keeper incentive per bark/redo, USD (>= 0) */
  double chip;   /**< keeper incentive, fraction of the tab, in [0,1) */
  double hole;   /**< most tab in auction at once, USD (> 0) */
  double dust;   /**< smallest debt of a bark or left by a take, USD */
} sch_clipper_spec;

/** `protocol.flip:` Maker Liquidations 1.2 (cat.sol, flip.sol) with
 *  modelled bidders. docs/model.md "Flip". */
typedef struct sch_flip_spec {
  double beg;            /**< minimum bid increment, fraction (>= 0) */
  double ttl_s;          /**< a bid's life: the auction ends ttl after it */
  double tau_s;          /**< longest auction, seconds (> 0) */
  double chop;           /**< tab = debt x chop (>= 1) */
  int64_t bidders;       /**< independent bidders, 1..64 */
  double bidder_capital; /**< USD each (> 0) */
  double participation;  /**< P(a bidder watches in a step), in [0,1] */
  double min_bid;        /**< first bid of an uncontested auction, USD */
} sch_flip_spec;

typedef struct sch_protocol_spec {
  sch_protocol_asset assets[SCH_MAX_ASSETS]; /**< indexed like assets */
  double close_factor;        /**< in (0,1] */
  double full_close_below_hf; /**< in [0,1] */
  double insurance_fund;      /**< USD >= 0 */
  sch_incentive incentive;    /**< default fixed */
  sch_liquidation_mode liquidation; /**< default fixed_bonus */
  sch_clipper_spec clipper; /**< used under liquidation: clipper */
  sch_flip_spec flip;       /**< used under liquidation: flip */
  sch_absorb_spec absorb;   /**< used under liquidation: absorb */
  sch_dynamic_incentive_spec dynamic_incentive; /**< incentive: dynamic */
  /** `assets.<A>.volatility_bands`, indexed like assets: ascending in
   *  `above`, thresholds descending (0 bands: the LT never moves) */
  int n_volatility_bands[SCH_MAX_ASSETS];
  sch_volatility_band volatility_bands[SCH_MAX_ASSETS][SCH_MAX_VOL_BANDS];
  double volatility_window_s; /**< realised-volatility window of the
                                   volatility bands, seconds (default 1h) */
  double volatility_hold_s; /**< a lowered LT is kept at least this long
                                 after its last change before it may rise
                                 again, seconds (default 0) */
} sch_protocol_spec;

/** What a tripped circuit breaker pauses. */
typedef enum sch_breaker_scope {
  SCH_BREAKER_LIQUIDATIONS = 0, /**< liquidations (step part 5) only */
  SCH_BREAKER_ALL = 1,          /**< liquidations and lender withdrawals */
} sch_breaker_scope;

/** `circuit_breaker:` (kernels/defence.c, docs/model.md "Circuit
 *  breaker"): when a watched oracle moves by `move` within `window`, the
 *  scope pauses for `cooldown`. */
typedef struct sch_circuit_breaker_spec {
  bool present;      /**< the section is given (resolved YAML only then) */
  bool enabled;      /**< default true when the section is given */
  double move;       /**< X, fraction (> 0) */
  double window_s;   /**< trailing window, seconds (>= simulation.step) */
  double cooldown_s; /**< pause, seconds (> 0) */
  sch_breaker_scope scope;
  uint32_t asset_mask; /**< watched assets (bit i: asset i), default every
                            risky asset */
} sch_circuit_breaker_spec;

/** `liquidators:` */
typedef struct sch_liquidator_spec {
  bool enabled;
  double gas_units;          /**< gas per liquidation (>= 0) */
  double gas_price_gwei;     /**< g0 (>= 0) */
  double gas_beta;           /**< beta (>= 0) */
  double gas_price_max_gwei; /**< cap (>= g0) */
  double gas_window_s;       /**< drawdown window w, seconds (>= 0) */
  int gas_asset;             /**< index into assets */
  int64_t max_liquidations_per_step; /**< >= 1 */
  int max_rounds_per_step;           /**< >= 1, default 8 */
  double capital;                    /**< USD repaid per step (> 0) */
  bool flash_loans;
  double min_profit; /**< USD */
  /** Share of each liquidation's profit taken by searchers (priority gas),
   *  in [0,1) (docs/model.md "MEV and latency"). */
  double mev_share;
  double latency_s; /**< seconds before acting on a new liquidatable account */
} sch_liquidator_spec;

/** `backstop:` a pool that buys seized collateral at a discount when the
 *  venue pays less (docs/model.md "Backstop pool"). */
typedef struct sch_backstop_spec {
  bool enabled;          /**< default: true when the section is present */
  double capital;        /**< USD at t = 0, also the refill cap (>= 0) */
  double discount;       /**< buys at oracle x (1 - discount), in [0,1) */
  double refill_per_day; /**< USD per day (>= 0) */
} sch_backstop_spec;

#define SCH_MAX_COHORTS 8 /**< most entries of `lenders.cohorts` */

/** One cohort of lenders (docs/model.md "Coordination failure"). */
typedef struct sch_cohort_spec {
  double share;     /**< of every lent asset's supply, in (0,1] */
  double threshold; /**< withdraws once signal >= threshold (>= 0) */
  bool threshold_auto; /**< `threshold: auto`: derived from exit_cost */
  double noise;     /**< stdev of the signal's noise (>= 0) */
  double withdraw;  /**< share of its deposit claimed per step, in (0,1] */
} sch_cohort_spec;

/** `lenders:` deposits, utilisation and depositor runs (kernels/lenders.c).
 *  On with at least one cohort. */
typedef struct sch_lenders_spec {
  bool present; /**< the section is given */
  bool run;     /**< false: cohorts never withdraw (accounting only) */
  double exit_cost; /**< cost of leaving per unit, for auto thresholds */
  /** Supply per lent asset, units; 0 = not lent by these lenders. Given as
   *  `supply`, or as `utilisation` (then src/scenario.c derives the supply
   *  from the book's borrows and supply_units stays 0). */
  double supply_units[SCH_MAX_ASSETS];
  double utilisation[SCH_MAX_ASSETS]; /**< 0 unless given */
  int n_cohorts;
  sch_cohort_spec cohorts[SCH_MAX_COHORTS];
} sch_lenders_spec;

/** Liquidity flight of one risky asset's venue (`liquidity_flight:`). */
typedef struct sch_flight_asset {
  double sensitivity_drawdown; /**< a >= 0 */
  double sensitivity_vol;      /**< b >= 0 */
  double vol_ref;              /**< annualised; default the asset's vol */
  double floor;                /**< least depth scale, in (0,1] */
  double half_life_s;          /**< recovery half-life, seconds (> 0) */
  double vol_window_s;         /**< realised-vol window, seconds (> 0) */
} sch_flight_asset;

/** `liquidity_flight:` (docs/model.md "Coordination failure"). */
typedef struct sch_flight_spec {
  bool present; /**< the section is given */
  bool enabled; /**< default: true when the section is given */
  sch_flight_asset assets[SCH_MAX_ASSETS]; /**< risky assets */
} sch_flight_spec;

/** One kind of loan in a generated book. */
typedef struct sch_book_mix {
  uint32_t collateral_mask; /**< bit i set: asset i is collateral */
  int debt;                 /**< debt asset index */
  double weight;            /**< share of accounts (normalised) */
} sch_book_mix;

/** `loanbook:` either a CSV file or a generator. */
typedef struct sch_loanbook_spec {
  bool generate;            /**< true: generate, false: read `file` */
  char file[SCH_PATH_MAX];  /**< resolved against the config's directory */
  int64_t accounts;         /**< generator: number of accounts */
  double total_debt;        /**< generator: USD */
  double size_sigma;        /**< generator: lognormal sigma of debt size */
  double hf_min, hf_max;    /**< generator: health-factor bounds */
  double hf_median;         /**< generator: median health factor */
  double hf_sigma;          /**< generator: lognormal sigma of HF - 1 */
  uint64_t seed;            /**< generator: its own seed */
  int n_mix;
  sch_book_mix mix[SCH_MAX_MIX];
} sch_loanbook_spec;

/** `output:` */
typedef struct sch_output_spec {
  char file[SCH_PATH_MAX]; /**< as written (relative to the working dir) */
  bool per_path;
  int n_levels;
  double levels[SCH_MAX_LEVELS]; /**< VaR/ES levels in (0,1), ascending */
  int samples;                   /**< worst paths kept in /samples (>= 0) */
} sch_output_spec;

/** `simulation:` */
typedef struct sch_simulation_spec {
  int64_t paths;    /**< > 0 */
  double horizon_s; /**< T, seconds */
  double step_s;    /**< dt, seconds; T is a whole multiple */
  int64_t steps;    /**< derived: T / dt */
  uint64_t seed;
  sch_returns returns;
  double dof;       /**< student_t degrees of freedom (> 2) */
  /** `replay.file`: CSV of price scenarios (absolute path), "" to simulate;
   *  with a replay, `paths` is the number of scenarios in the file. */
  char replay_file[SCH_PATH_MAX];
} sch_simulation_spec;

/** One entry of `stress:`: the fundamental price of `asset` drops by the
 *  fraction `drop` at `time_s` (docs/model.md "Replay and stress"). */
typedef struct sch_stress_spec {
  int asset;     /**< index into assets (a risky asset) */
  double time_s; /**< seconds, in (0, horizon] */
  double drop;   /**< fraction in (0, 1) */
} sch_stress_spec;

/** The whole validated configuration. */
typedef struct sch_config {
  char source[SCH_PATH_MAX]; /**< file name for messages, "<default>" */
  sch_simulation_spec simulation;
  int n_assets;
  sch_asset_spec assets[SCH_MAX_ASSETS];
  double correlation[SCH_MAX_ASSETS][SCH_MAX_ASSETS];
  sch_jump_spec systemic_jumps;
  sch_venue_spec venues[SCH_MAX_ASSETS];   /**< indexed like assets */
  sch_oracle_spec oracles[SCH_MAX_ASSETS]; /**< indexed like assets */
  sch_protocol_spec protocol;
  sch_liquidator_spec liquidators;
  sch_backstop_spec backstop;
  sch_loanbook_spec loanbook;
  sch_lenders_spec lenders;         /**< kernels/lenders.c */
  sch_flight_spec liquidity_flight; /**< kernels/lenders.c */
  sch_output_spec output;
  int n_stress;
  sch_stress_spec stress[SCH_MAX_STRESS]; /**< in config order */
  sch_circuit_breaker_spec circuit_breaker; /**< off unless configured */
  char *resolved_yaml; /**< every key with its value, as YAML (owned) */
  /** Several protocols on one market (`protocols:`; docs/config.md). With
   *  the single `protocol:` section n_protocols is 0. The whole
   *  configuration ("head") describes protocol 0 and owns one complete
   *  configuration per protocol in protocol_cfg; those have protocol_cfg
   *  NULL and their own protocol_index. */
  int n_protocols;
  int protocol_index;
  char protocol_names[SCH_MAX_PROTOCOLS][SCH_NAME_MAX];
  double deposits;       /**< USD lent to this protocol (receipt tokens) */
  bool isolated_market;  /**< `contagion.market: isolated` */
  struct sch_config *protocol_cfg; /**< [n_protocols] (head only, owned) */
} sch_config;

/** The embedded default scenario (configs/default.yaml), NUL-terminated. */
extern const char sch_default_config_yaml[];

/**
 * Load, override and validate a configuration.
 * @param path        YAML file, or NULL for the embedded default scenario
 * @param overrides   `key.path=value` strings from `--set` (may be NULL)
 * @param n_overrides number of overrides
 * @param cfg         filled on success; release with sch_config_free()
 * @param err         one-line message on failure (file:line:column: ...)
 * @return SCH_OK, or SCH_ERR_INPUT for any bad input
 */
sch_status sch_config_load(const char *path, const char *const *overrides,
                           size_t n_overrides, sch_config *cfg,
                           sch_error *err);

/**
 * Same as sch_config_load() on YAML text held in memory.
 * @param text        NUL-terminated YAML
 * @param source      name used in messages (e.g. "<default>" or a path)
 * @param base_dir    directory relative paths are resolved against
 * @param overrides   `key.path=value` strings (may be NULL)
 * @param n_overrides number of overrides
 * @param cfg         filled on success
 * @param err         message on failure
 * @return SCH_OK or SCH_ERR_INPUT
 */
sch_status sch_config_parse(const char *text, const char *source,
                            const char *base_dir,
                            const char *const *overrides, size_t n_overrides,
                            sch_config *cfg, sch_error *err);

/**
 * Release what sch_config_load() allocated.
 * @param cfg the configuration (may be NULL)
 */
void sch_config_free(sch_config *cfg);

/**
 * Index of an asset by name.
 * @param cfg  the configuration
 * @param name asset name
 * @return index, or -1 if there is no such asset
 */
/** Config spelling of a liquidation mode ("fixed_bonus", "clipper", ...). */
const char *sch_liquidation_mode_name(sch_liquidation_mode mode);

int sch_config_asset_index(const sch_config *cfg, const char *name);

#define SCH_SWEEP_MAX_POINTS 10000 /**< most points of one sweep */
#define SCH_SWEEP_KEY_MAX 128       /**< longest swept key path + 1 */

/** `size:` of a config (`schelling size`); CLI flags override each field. */
typedef struct sch_size_config {
  bool present;                  /**< the config has a `size:` section */
  char param[SCH_SWEEP_KEY_MAX]; /**< dotted key path, "" if not given */
  bool has_range;
  double range[2];    /**< [a, b], a < b */
  char target[256];   /**< e.g. "es_99(uncovered_shortfall) <= 1e6", or "" */
  char where[SCH_PATH_MAX + 32]; /**< "file:line:column" of `target` */
  bool largest;       /**< find the largest value (default smallest) */
  double tolerance;   /**< stop when the bracket is narrower; 0 = unset */
  int max_evals;      /**< most engine runs; 0 = unset */
} sch_size_config;

/**
 * A sweep: the Cartesian product of the values of `sweep:` keys (the first
 * key varies slowest) plus `--sweep` keys. Without a sweep, n_points is 1.
 */
typedef struct sch_sweep {
  int n_keys;
  char (*keys)[SCH_SWEEP_KEY_MAX]; /**< [n_keys] dotted key paths */
  int n_points;                    /**< product of the value counts */
  int baseline;                    /**< index of the baseline point */
  char **values;    /**< [n_points * n_keys] value text, point-major */
  double *numeric;  /**< same shape: the number, NaN if not a number */
  char *resolved_yaml; /**< the baseline point's resolved YAML plus the
                            sweep: and sweep_baseline: sections (/config) */
  sch_size_config size; /**< the `size:` section, if any */
} sch_sweep;

/**
 * Load a configuration and expand its sweep into one validated configuration
 * per point: the file, then `--set` overrides, then the point's key=value
 * (each located at its sweep entry, so errors name that file:line:column).
 * @param path         YAML file, or NULL for the embedded default
 * @param overrides    `--set` strings (may be NULL)
 * @param n_overrides  their number
 * @param sweep_args   `--sweep key=v1,v2,...` strings: add or replace a key
 * @param n_sweep_args their number
 * @param points       on success, [sweep->n_points] configurations (owned)
 * @param sweep        on success, the keys and values of every point
 * @param err          message on failure
 * @return SCH_OK, SCH_ERR_INPUT, or SCH_ERR_RUNTIME (out of memory)
 */
sch_status sch_config_load_sweep(const char *path,
                                 const char *const *overrides,
                                 size_t n_overrides,
                                 const char *const *sweep_args,
                                 size_t n_sweep_args, sch_config **points,
                                 sch_sweep *sweep, sch_error *err);

/**
 * Release a sweep and its points (both may be NULL).
 * @param sweep  the sweep (zeroed)
 * @param points the array from sch_config_load_sweep()
 */
void sch_sweep_free(sch_sweep *sweep, sch_config *points);

#ifdef __cplusplus
}
#endif
#endif
