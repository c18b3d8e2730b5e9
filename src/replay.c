/* Scenario replay: the CSV reader and its step-grid sampling (docs/config.md
 * `simulation.replay`, docs/model.md "Replay and stress"). */
#include "replay.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define MAX_COLUMNS (2 + SCH_MAX_ASSETS)

/* A field cut out of a line, NUL-terminated in place and trimmed. */
typedef struct field {
  char *text;
  size_t position; /* 1-based character column */
} field;

typedef struct reader {
  const char *path;
  const sch_config *cfg;
  sch_error *err;
  int64_t line;
  /* header */
  bool has_scenario;               /* first column `scenario` */
  int n_columns;                   /* time (and scenario) included */
  int slot_of_column[MAX_COLUMNS]; /* risky slot, -1 for scenario/time */
  int n_risky;
  int slot_asset[SCH_MAX_ASSETS];
  double log_price0[SCH_MAX_ASSETS]; /* ln S(0) of the config, per slot */
  /* the scenario being read */
  char **ids;       /* every scenario id so far, [n_scenarios] */
  bool open;        /* a scenario has rows */
  double last_time; /* of its previous row */
  double price0[SCH_MAX_ASSETS], price[SCH_MAX_ASSETS]; /* per slot */
  int64_t next_step; /* first step not yet filled */
  /* output */
  sch_replay *out;
  int64_t capacity; /* scenarios out->log_prices has room for */
} reader;

static sch_status input_error(reader *rd, size_t position, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* `<path>:<line>:<column>: <message>` */
static sch_status input_error(reader *rd, size_t position, const char *fmt,
                              ...) {
  char message[SCH_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return sch_fail(rd->err, SCH_ERR_INPUT, "%s:%" PRId64 ":%zu: %s", rd->path,
                  rd->line, position, message);
}

static bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

/* Cut `line` at commas into at most `max` trimmed fields; returns the count
 * (max + 1 when there are more). */
static int split(char *line, field *fields, int max) {
  int n = 0;
  for (char *start = line; start; n++) {
    char *comma = strchr(start, ',');
    if (comma)
      *comma = '\0';
    while (is_blank(*start))
      start++;
    char *end = start + strlen(start);
    while (end > start && is_blank(end[-1]))
      *--end = '\0';
    if (n == max)
      return max + 1;
    fields[n] = (field){start, (size_t)(start - line) + 1};
    start = comma ? comma + 1 : NULL;
  }
  return n;
}

/* ---- header ------------------------------------------------------------- */

static void list_risky(const reader *rd, char *out, size_t size) {
  size_t used = 0;
  out[0] = '\0';
  for (int r = 0; r < rd->n_risky && used < size; r++) {
    int n = snprintf(out + used, size - used, "%s%s", r ? ", " : "",
                     rd->cfg->assets[rd->slot_asset[r]].name);
    if (n < 0)
      break;
    used += (size_t)n;
  }
}

/* An asset column: a risky asset of the config, at most once. */
static sch_status price_column(reader *rd, const field *f, int c) {
  char risky[SCH_MAX_ASSETS * (SCH_NAME_MAX + 2)];
  int asset = sch_config_asset_index(rd->cfg, f->text);
  list_risky(rd, risky, sizeof risky);
  if (asset < 0)
    return input_error(rd, f->position,
                       "unknown asset column '%.64s' (risky assets: %s)",
                       f->text, risky);
  if (rd->cfg->assets[asset].stable)
    return input_error(rd, f->position,
                       "%s is stable (vol 0, no jumps): it stays at its "
                       "price; remove this column",
                       f->text);
  int slot = 0;
  while (rd->slot_asset[slot] != asset)
    slot++;
  for (int d = 0; d < c; d++)
    if (rd->slot_of_column[d] == slot)
      return input_error(rd, f->position, "duplicate column '%.64s'", f->text);
  rd->slot_of_column[c] = slot;
  return SCH_OK;
}

/* Every risky asset needs a column: a replay replaces all of the paths. */
static sch_status check_all_priced(reader *rd, size_t end) {
  for (int r = 0; r < rd->n_risky; r++) {
    bool found = false;
    for (int c = 0; c < rd->n_columns; c++)
      found |= rd->slot_of_column[c] == r;
    if (!found)
      return input_error(rd, end,
                         "no column for risky asset %s: a replay needs a "
                         "price for every risky asset",
                         rd->cfg->assets[rd->slot_asset[r]].name);
  }
  return SCH_OK;
}

static sch_status parse_header(reader *rd, char *line, size_t len) {
  field f[MAX_COLUMNS];
  int n = split(line, f, MAX_COLUMNS);
  if (n > MAX_COLUMNS)
    return input_error(rd, 1, "more than %d columns", MAX_COLUMNS);
  rd->has_scenario = strcmp(f[0].text, "scenario") == 0;
  int time_column = rd->has_scenario ? 1 : 0;
  if (n <= time_column || strcmp(f[time_column].text, "time") != 0)
    return input_error(rd, n > time_column ? f[time_column].position : len + 1,
                       "the header must start with 'time' (or "
                       "'scenario,time'), then one column per risky asset");
  rd->n_columns = n;
  for (int c = 0; c <= time_column; c++)
    rd->slot_of_column[c] = -1;
  for (int c = time_column + 1; c < n; c++) {
    sch_status st = price_column(rd, &f[c], c);
    if (st != SCH_OK)
      return st;
  }
  return check_all_priced(rd, len + 1);
}

/* ---- values ------------------------------------------------------------- */

/* A finite decimal number filling the whole field (no hex, nan, inf). */
static bool parse_decimal(const char *text, char **end, double *value) {
  if (!strchr("0123456789+-.", text[0]) || strpbrk(text, "xXnN"))
    return false;
  errno = 0;
  *value = strtod(text, end);
  return *end != text && isfinite(*value);
}

/* Seconds, or a duration with a unit: `90`, `90s`, `30m`, `2h`, `1d`. */
static sch_status parse_time(reader *rd, const field *f, double *seconds) {
  static const char units[] = "smhd";
  static const double scale[] = {1, 60, 3600, 86400};
  char *end;
  double v;
  bool ok = parse_decimal(f->text, &end, &v);
  const char *unit = ok && *end ? strchr(units, *end) : NULL;
  if (ok && *end && (!unit || end[1] != '\0'))
    ok = false;
  if (!ok)
    return input_error(rd, f->position,
                       "malformed time '%.64s' (seconds, or a number with "
                       "unit s, m, h or d)",
                       f->text);
  *seconds = v * (unit ? scale[unit - units] : 1.0);
  if (*seconds < 0.0)
    return input_error(rd, f->position, "negative time '%.64s'", f->text);
  return SCH_OK;
}

/* A price: > 0 and finite; empty (after time 0) holds the last one. */
static sch_status parse_price(reader *rd, const field *f, int slot,
                              bool required) {
  const char *name = rd->cfg->assets[rd->slot_asset[slot]].name;
  char *end;
  double v;
  if (f->text[0] == '\0') {
    if (required)
      return input_error(rd, f->position,
                         "missing %s price at time 0 (every risky asset "
                         "needs one)",
                         name);
    return SCH_OK;
  }
  if (!parse_decimal(f->text, &end, &v) || *end != '\0')
    return input_error(rd, f->position, "malformed price '%.64s' for %s",
                       f->text, name);
  if (!(v > 0.0))
    return input_error(rd, f->position, "price %.64s for %s must be > 0",
                       f->text, name);
  rd->price[slot] = v;
  return SCH_OK;
}

/* ---- scenarios on the step grid ----------------------------------------- */

static double *scenario_row(const reader *rd, int64_t s) {
  return rd->out->log_prices + s * (rd->out->n_steps + 1) * rd->n_risky;
}

/* Steps next_step .. until - 1 get the current prices (hold last value). */
static void fill_steps(reader *rd, int64_t until) {
  const int nr = rd->n_risky;
  double *x = scenario_row(rd, rd->out->n_scenarios - 1);
  if (until > rd->out->n_steps + 1)
    until = rd->out->n_steps + 1;
  for (int64_t k = rd->next_step; k < until; k++)
    for (int r = 0; r < nr; r++)
      x[k * nr + r] = rd->log_price0[r] + log(rd->price[r] / rd->price0[r]);
  if (until > rd->next_step)
    rd->next_step = until;
}

/* Room for one more scenario, and its id. */
static sch_status add_scenario(reader *rd, const char *id) {
  sch_replay *out = rd->out;
  if (out->n_scenarios == rd->capacity) {
    int64_t cap = rd->capacity ? 2 * rd->capacity : 4;
    size_t row = (size_t)(out->n_steps + 1) * (size_t)rd->n_risky;
    double *x = realloc(out->log_prices, (size_t)cap * row * sizeof *x);
    if (x)
      out->log_prices = x;
    char **ids = realloc(rd->ids, (size_t)cap * sizeof *ids);
    if (ids)
      rd->ids = ids;
    if (!x || !ids)
      return sch_fail(rd->err, SCH_ERR_RUNTIME, "%s: out of memory", rd->path);
    rd->capacity = cap;
  }
  rd->ids[out->n_scenarios] = strdup(id);
  if (!rd->ids[out->n_scenarios])
    return sch_fail(rd->err, SCH_ERR_RUNTIME, "%s: out of memory", rd->path);
  out->n_scenarios++;
  rd->open = false;
  rd->next_step = 0;
  return SCH_OK;
}

/* A row whose id differs from the current scenario's starts a new one; an
 * id seen before is an error (a scenario's rows are contiguous). */
static sch_status enter_scenario(reader *rd, const field *id) {
  int64_t n = rd->out->n_scenarios;
  if (n > 0 && strcmp(rd->ids[n - 1], id->text) == 0)
    return SCH_OK;
  if (rd->has_scenario && id->text[0] == '\0')
    return input_error(rd, id->position, "empty scenario id");
  for (int64_t s = 0; s + 1 < n; s++)
    if (strcmp(rd->ids[s], id->text) == 0)
      return input_error(rd, id->position,
                         "scenario '%.64s' appears again after other rows: "
                         "the rows of a scenario must be contiguous",
                         id->text);
  if (n > 0)
    fill_steps(rd, INT64_MAX);
  if (n >= SCH_MAX_PATHS)
    return input_error(rd, id->position, "more than %lld scenarios",
                       (long long)SCH_MAX_PATHS);
  return add_scenario(rd, id->text);
}

/* The row's time: 0 for a scenario's first row, then strictly increasing. */
static sch_status check_time(reader *rd, const field *f, double t) {
  if (!rd->open && t != 0.0)
    return input_error(rd, f->position,
                       "scenario '%.64s' starts at time %.64s: its first row "
                       "must be at time 0",
                       rd->ids[rd->out->n_scenarios - 1], f->text);
  if (rd->open && !(t > rd->last_time))
    return input_error(rd, f->position,
                       "time %.64s is not after the previous row's (%gs)",
                       f->text, rd->last_time);
  return SCH_OK;
}

/* A row at time t is the price from the first step at or after t on: the
 * steps before it hold the previous row (1e-9 absorbs t/dt rounding). */
static sch_status parse_row(reader *rd, char *line, size_t len) {
  field f[MAX_COLUMNS + 1];
  int n = split(line, f, rd->n_columns + 1);
  if (n > rd->n_columns)
    return input_error(rd, f[rd->n_columns].position,
                       "expected %d fields as in the header, found more",
                       rd->n_columns);
  if (n < rd->n_columns)
    return input_error(rd, len + 1,
                       "expected %d fields as in the header, found %d",
                       rd->n_columns, n);
  field none = {"", 1};
  sch_status st = enter_scenario(rd, rd->has_scenario ? &f[0] : &none);
  const field *tf = &f[rd->has_scenario ? 1 : 0];
  double t = 0.0;
  if (st == SCH_OK)
    st = parse_time(rd, tf, &t);
  if (st == SCH_OK)
    st = check_time(rd, tf, t);
  if (st != SCH_OK)
    return st;
  fill_steps(rd, (int64_t)ceil(t / rd->cfg->simulation.step_s - 1e-9));
  for (int c = 0; c < rd->n_columns && st == SCH_OK; c++)
    if (rd->slot_of_column[c] >= 0)
      st = parse_price(rd, &f[c], rd->slot_of_column[c], !rd->open);
  if (st == SCH_OK && !rd->open)
    memcpy(rd->price0, rd->price, sizeof rd->price0);
  rd->open = true;
  rd->last_time = t;
  return st;
}

/* ---- the file ----------------------------------------------------------- */

/* Strip LF or CRLF; false for a blank line or a `#` comment. */
static bool chomp_data_line(char *line, size_t *len) {
  while (*len > 0 && (line[*len - 1] == '\n' || line[*len - 1] == '\r'))
    line[--*len] = '\0';
  const char *p = line;
  while (is_blank(*p))
    p++;
  return *p != '\0' && *p != '#';
}

static sch_status read_lines(reader *rd, FILE *file) {
  char *line = NULL;
  size_t size = 0;
  ssize_t got;
  bool have_header = false;
  sch_status st = SCH_OK;
  while (st == SCH_OK && (got = getline(&line, &size, file)) >= 0) {
    size_t len = (size_t)got;
    char *text = line;
    rd->line++;
    /* The UTF-8 byte-order mark; columns are counted after it. */
    if (rd->line == 1 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
      text += 3;
      len -= 3;
    }
    if (!chomp_data_line(text, &len))
      continue;
    st = have_header ? parse_row(rd, text, len) : parse_header(rd, text, len);
    have_header = true;
  }
  free(line);
  if (st == SCH_OK && ferror(file))
    st = sch_fail(rd->err, SCH_ERR_INPUT, "%s: cannot read: %s", rd->path,
                  strerror(errno));
  if (st == SCH_OK && !have_header) {
    rd->line = rd->line > 0 ? rd->line : 1;
    st = input_error(rd, 1,
                     "empty replay file: expected a header "
                     "'time,<ASSET>,...'");
  }
  return st;
}

static void reader_init(reader *rd, const sch_config *cfg, sch_replay *replay,
                        sch_error *err) {
  *replay = (sch_replay){.n_steps = cfg->simulation.steps};
  *rd = (reader){.path = cfg->simulation.replay_file,
                 .cfg = cfg,
                 .err = err,
                 .out = replay};
  for (int i = 0; i < cfg->n_assets; i++)
    if (!cfg->assets[i].stable) {
      rd->slot_asset[rd->n_risky] = i;
      rd->log_price0[rd->n_risky++] = log(cfg->assets[i].price);
    }
  replay->n_risky = rd->n_risky;
}

sch_status sch_replay_read(const sch_config *cfg, sch_replay *replay,
                           sch_error *err) {
  reader rd;
  reader_init(&rd, cfg, replay, err);
  FILE *file = fopen(rd.path, "r");
  if (!file)
    return sch_fail(err, SCH_ERR_INPUT, "%s: cannot read: %s", rd.path,
                    strerror(errno));
  sch_status st = read_lines(&rd, file);
  fclose(file);
  if (st == SCH_OK && replay->n_scenarios == 0) {
    rd.line++; /* reported where a row was expected */
    st = input_error(&rd, 1, "no price rows after the header");
  }
  if (st == SCH_OK)
    fill_steps(&rd, INT64_MAX);
  for (int64_t s = 0; s < replay->n_scenarios; s++)
    free(rd.ids[s]);
  free(rd.ids);
  if (st != SCH_OK)
    sch_replay_free(replay);
  return st;
}

void sch_replay_free(sch_replay *replay) {
  if (!replay)
    return;
  free(replay->log_prices);
  replay->log_prices = NULL;
  replay->n_scenarios = 0;
}
