/* The loan book: CSV reader, generator, health factor (docs/loanbook.md). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "schelling/loanbook.h"

/* ------------------------------------------------------------------------ */
/* Shared helpers                                                           */
/* ------------------------------------------------------------------------ */

static int asset_index(const sch_config *cfg, const char *name, size_t len) {
  for (int i = 0; i < cfg->n_assets; i++) {
    if (strlen(cfg->assets[i].name) == len &&
        memcmp(cfg->assets[i].name, name, len) == 0)
      return i;
  }
  return -1;
}

/* "ETH, WBTC, wstETH, USDC" for messages about unknown assets. */
static void list_assets(const sch_config *cfg, char *out, size_t size) {
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < cfg->n_assets && used < size; i++) {
    int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "",
                     cfg->assets[i].name);
    if (n < 0)
      break;
    used += (size_t)n;
  }
}

static double liquidation_threshold(const sch_config *cfg, int asset) {
  const sch_protocol_asset *pa = &cfg->protocol.assets[asset];
  return pa->listed ? pa->liquidation_threshold : 0.0;
}

/* Grow the book's arrays to room for `capacity` accounts. New rows are not
 * initialised: callers write every row they add in full. */
static bool book_reserve(sch_loanbook *book, int64_t capacity) {
  size_t n = (size_t)capacity * (size_t)book->n_assets;
  double *collateral = realloc(book->collateral, n * sizeof *collateral);
  if (collateral)
    book->collateral = collateral;
  double *debt = realloc(book->debt, n * sizeof *debt);
  if (debt)
    book->debt = debt;
  char **ids = realloc(book->account_ids, (size_t)capacity * sizeof *ids);
  if (ids)
    book->account_ids = ids;
  return collateral && debt && ids;
}

void sch_loanbook_free(sch_loanbook *book) {
  if (!book)
    return;
  if (book->account_ids) {
    for (int64_t a = 0; a < book->n_accounts; a++)
      free(book->account_ids[a]);
  }
  free(book->account_ids);
  free(book->collateral);
  free(book->debt);
  book->account_ids = NULL;
  book->collateral = NULL;
  book->debt = NULL;
  book->n_accounts = 0;
}

double sch_loanbook_health(const sch_config *cfg, const sch_loanbook *book,
                           int64_t a, const double *prices) {
  const double *collateral = book->collateral + a * book->n_assets;
  const double *debt = book->debt + a * book->n_assets;
  double borrowing_power = 0.0, debt_value = 0.0;
  for (int i = 0; i < book->n_assets; i++) {
    borrowing_power +=
        collateral[i] * prices[i] * liquidation_threshold(cfg, i);
    debt_value += debt[i] * prices[i];
  }
  if (!(debt_value > 0.0))
    return INFINITY;
  return borrowing_power / debt_value;
}

/* ------------------------------------------------------------------------ */
/* Account-id set: open addressing on row numbers (FNV-1a hash)             */
/* ------------------------------------------------------------------------ */

typedef struct id_set {
  int64_t *slots;   /* row + 1, 0 = empty */
  size_t mask;      /* capacity - 1, capacity a power of two */
  uint64_t *hashes; /* per row: rehashing and probing touch no strings */
} id_set;

static uint64_t fnv1a(const char *text) {
  uint64_t hash = UINT64_C(14695981039346656037);
  for (const unsigned char *p = (const unsigned char *)text; *p; p++)
    hash = (hash ^ *p) * UINT64_C(1099511628211);
  return hash;
}

/* Slot holding `id`, or the empty slot where it would go. */
static size_t id_set_slot(const id_set *set, char *const *ids, const char *id,
                          uint64_t hash) {
  size_t slot = (size_t)hash & set->mask;
  for (int64_t row; (row = set->slots[slot]) != 0;
       slot = (slot + 1) & set->mask) {
    if (set->hashes[row - 1] == hash && strcmp(ids[row - 1], id) == 0)
      break;
  }
  return slot;
}

/* Rebuild with room for `rows` ids at load factor <= 1/2. */
static bool id_set_grow(id_set *set, int64_t rows) {
  size_t capacity = 64;
  while (capacity < 2 * (size_t)rows)
    capacity *= 2;
  if (set->slots && capacity <= set->mask + 1)
    return true;
  int64_t *old = set->slots;
  size_t old_capacity = old ? set->mask + 1 : 0;
  set->slots = calloc(capacity, sizeof *set->slots);
  if (!set->slots) {
    set->slots = old;
    return false;
  }
  set->mask = capacity - 1;
  for (size_t s = 0; s < old_capacity; s++) {
    if (!old[s])
      continue;
    size_t slot = (size_t)set->hashes[old[s] - 1] & set->mask;
    while (set->slots[slot])
      slot = (slot + 1) & set->mask;
    set->slots[slot] = old[s];
  }
  free(old);
  return true;
}

/* ------------------------------------------------------------------------ */
/* CSV reader                                                               */
/* ------------------------------------------------------------------------ */

#define MAX_COLUMNS (1 + 2 * SCH_MAX_ASSETS)

/* One header column: the account id or an amount of one asset. */
typedef struct csv_column {
  int asset; /* -1: the account column */
  bool is_debt;
  size_t position; /* 1-based character column in the header */
} csv_column;

typedef struct csv_reader {
  const char *path;
  const sch_config *cfg;
  sch_error *err;
  int64_t line; /* 1-based number of the current line */
  int n_columns;
  csv_column columns[MAX_COLUMNS];
  int64_t capacity;     /* rows the book has room for */
  int64_t *first_lines; /* line of each account, for duplicate messages */
  id_set ids;
} csv_reader;

/* A field cut out of a line, NUL-terminated in place and trimmed. */
typedef struct csv_field {
  char *text;
  size_t position; /* 1-based character column */
} csv_field;

typedef struct field_cursor {
  char *line;
  char *next; /* NULL once the last field is taken */
} field_cursor;

static bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

static bool next_field(field_cursor *cur, csv_field *field) {
  if (!cur->next)
    return false;
  char *start = cur->next;
  char *comma = strchr(start, ',');
  if (comma) {
    *comma = '\0';
    cur->next = comma + 1;
  } else {
    cur->next = NULL;
  }
  while (is_blank(*start))
    start++;
  char *end = start + strlen(start);
  while (end > start && is_blank(end[-1]))
    *--end = '\0';
  field->text = start;
  field->position = (size_t)(start - cur->line) + 1;
  return true;
}

/* Strip the line end (LF or CRLF); true if the line holds data, false for a
 * blank line or a `#` comment. */
static bool chomp_data_line(char *line, size_t *len) {
  while (*len > 0 && (line[*len - 1] == '\n' || line[*len - 1] == '\r'))
    line[--*len] = '\0';
  const char *p = line;
  while (is_blank(*p))
    p++;
  return *p != '\0' && *p != '#';
}

static sch_status input_error(csv_reader *rd, size_t position, const char *fmt,
                              ...) __attribute__((format(printf, 3, 4)));

/* `<path>:<line>:<column>: <message>` */
static sch_status input_error(csv_reader *rd, size_t position, const char *fmt,
                              ...) {
  char message[SCH_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return sch_fail(rd->err, SCH_ERR_INPUT, "%s:%" PRId64 ":%zu: %s", rd->path,
                  rd->line, position, message);
}

static void column_name(const csv_reader *rd, int c, char *out, size_t size) {
  const csv_column *col = &rd->columns[c];
  if (col->asset < 0)
    snprintf(out, size, "account");
  else
    snprintf(out, size, "%s_%s", rd->cfg->assets[col->asset].name,
             col->is_debt ? "debt" : "collateral");
}

/* Map one header name to a column; reports unknown names. */
static sch_status parse_column_name(csv_reader *rd, const csv_field *f,
                                    csv_column *col) {
  static const char collateral_suffix[] = "_collateral";
  static const char debt_suffix[] = "_debt";
  size_t len = strlen(f->text);
  size_t asset_len;
  col->position = f->position;
  if (strcmp(f->text, "account") == 0) {
    col->asset = -1;
    return SCH_OK;
  }
  size_t cs = sizeof collateral_suffix - 1, ds = sizeof debt_suffix - 1;
  if (len > cs && strcmp(f->text + len - cs, collateral_suffix) == 0) {
    col->is_debt = false;
    asset_len = len - cs;
  } else if (len > ds && strcmp(f->text + len - ds, debt_suffix) == 0) {
    col->is_debt = true;
    asset_len = len - ds;
  } else {
    return input_error(rd, f->position,
                       "column '%.64s' is neither 'account' nor "
                       "'<ASSET>_collateral' or '<ASSET>_debt'",
                       f->text);
  }
  col->asset = asset_index(rd->cfg, f->text, asset_len);
  if (col->asset < 0) {
    char known[SCH_MAX_ASSETS * (SCH_NAME_MAX + 2)];
    list_assets(rd->cfg, known, sizeof known);
    return input_error(rd, f->position,
                       "unknown asset '%.*s' in column '%.64s' (known "
                       "assets: %s)",
                       (int)(asset_len < 64 ? asset_len : 64), f->text, f->text,
                       known);
  }
  return SCH_OK;
}

static sch_status parse_header(csv_reader *rd, char *line) {
  field_cursor cur = {line, line};
  csv_field f;
  rd->n_columns = 0;
  while (next_field(&cur, &f)) {
    csv_column col = {0};
    sch_status st = parse_column_name(rd, &f, &col);
    if (st != SCH_OK)
      return st;
    if (rd->n_columns == 0 && col.asset >= 0)
      return input_error(rd, f.position,
                         "first column must be 'account', found '%.64s'",
                         f.text);
    for (int c = 0; c < rd->n_columns; c++) {
      if (rd->columns[c].asset == col.asset &&
          (col.asset < 0 || rd->columns[c].is_debt == col.is_debt))
        return input_error(rd, f.position,
                           "duplicate column '%.64s' (first at column %zu)",
                           f.text, rd->columns[c].position);
    }
    /* Distinct columns cannot outnumber MAX_COLUMNS: the loop above stops
     * any repeat first. */
    rd->columns[rd->n_columns++] = col;
  }
  return SCH_OK;
}

/* An amount: empty is zero; otherwise a finite, non-negative number. */
static sch_status parse_amount(csv_reader *rd, int c, const csv_field *f,
                               double *amount) {
  *amount = 0.0;
  /* Wide books are mostly zeros: skip strtod for them. */
  if (f->text[0] == '\0' || (f->text[0] == '0' && f->text[1] == '\0'))
    return SCH_OK;
  char *end;
  double value = strtod(f->text, &end);
  bool malformed = end == f->text || *end != '\0';
  if (!malformed && isfinite(value) && value >= 0.0) {
    *amount = value;
    return SCH_OK;
  }
  char name[SCH_NAME_MAX + 16];
  column_name(rd, c, name, sizeof name);
  if (malformed)
    return input_error(rd, f->position, "malformed number '%.64s' in column %s",
                       f->text, name);
  if (!isfinite(value))
    return input_error(rd, f->position,
                       "amount '%.64s' in column %s is not finite (NaN or "
                       "infinite)",
                       f->text, name);
  return input_error(rd, f->position, "negative amount %.64s in column %s",
                     f->text, name);
}

/* Every account with debt has collateral; collateral only in listed assets
 * (an unlisted asset has no liquidation threshold). */
static sch_status check_account(csv_reader *rd, const double *collateral,
                                const double *debt, const csv_field *fields) {
  bool has_collateral = false, has_debt = false;
  for (int c = 1; c < rd->n_columns; c++) {
    int asset = rd->columns[c].asset;
    if (rd->columns[c].is_debt) {
      has_debt |= debt[asset] > 0.0;
      continue;
    }
    if (collateral[asset] > 0.0 && !rd->cfg->protocol.assets[asset].listed)
      return input_error(rd, fields[c].position,
                         "collateral in %s, which is not listed in "
                         "protocol.assets (it has no liquidation threshold)",
                         rd->cfg->assets[asset].name);
    has_collateral |= collateral[asset] > 0.0;
  }
  if (has_debt && !has_collateral)
    return input_error(rd, fields[0].position,
                       "account '%.64s' has debt but no collateral",
                       fields[0].text);
  return SCH_OK;
}

/* Cut a data line into exactly n_columns fields. */
static sch_status split_row(csv_reader *rd, char *line, size_t len,
                            csv_field *fields) {
  field_cursor cur = {line, line};
  int n = 0;
  csv_field extra;
  while (n < rd->n_columns && next_field(&cur, &fields[n]))
    n++;
  if (n < rd->n_columns)
    return input_error(rd, len + 1,
                       "expected %d fields as in the header, found %d",
                       rd->n_columns, n);
  if (next_field(&cur, &extra)) {
    int found = n + 1;
    csv_field more;
    while (next_field(&cur, &more))
      found++;
    return input_error(rd, extra.position,
                       "expected %d fields as in the header, found %d",
                       rd->n_columns, found);
  }
  return SCH_OK;
}

static sch_status reserve_row(csv_reader *rd, sch_loanbook *book) {
  int64_t rows = book->n_accounts + 1;
  if (rows > rd->capacity) {
    int64_t capacity = rd->capacity ? 2 * rd->capacity : 1024;
    int64_t *lines = realloc(rd->first_lines, (size_t)capacity * sizeof *lines);
    if (lines)
      rd->first_lines = lines;
    uint64_t *hashes =
        realloc(rd->ids.hashes, (size_t)capacity * sizeof *hashes);
    if (hashes)
      rd->ids.hashes = hashes;
    if (!lines || !hashes || !book_reserve(book, capacity))
      return sch_fail(rd->err, SCH_ERR_RUNTIME, "%s: out of memory", rd->path);
    rd->capacity = capacity;
  }
  if (!id_set_grow(&rd->ids, rows))
    return sch_fail(rd->err, SCH_ERR_RUNTIME, "%s: out of memory", rd->path);
  return SCH_OK;
}

static sch_status parse_row(csv_reader *rd, char *line, size_t len,
                            sch_loanbook *book) {
  csv_field fields[MAX_COLUMNS];
  sch_status st = split_row(rd, line, len, fields);
  if (st != SCH_OK)
    return st;
  const char *id = fields[0].text;
  if (id[0] == '\0')
    return input_error(rd, fields[0].position, "empty account id");
  if ((st = reserve_row(rd, book)) != SCH_OK)
    return st;
  uint64_t hash = fnv1a(id);
  size_t slot = id_set_slot(&rd->ids, book->account_ids, id, hash);
  if (rd->ids.slots[slot])
    return input_error(rd, fields[0].position,
                       "duplicate account '%.64s' (first on line %" PRId64 ")",
                       id, rd->first_lines[rd->ids.slots[slot] - 1]);

  int64_t row = book->n_accounts;
  double *collateral = book->collateral + row * book->n_assets;
  double *debt = book->debt + row * book->n_assets;
  memset(collateral, 0, (size_t)book->n_assets * sizeof *collateral);
  memset(debt, 0, (size_t)book->n_assets * sizeof *debt);
  for (int c = 1; c < rd->n_columns; c++) {
    const csv_column *col = &rd->columns[c];
    double *amounts = col->is_debt ? debt : collateral;
    if ((st = parse_amount(rd, c, &fields[c], &amounts[col->asset])) != SCH_OK)
      return st;
  }
  if ((st = check_account(rd, collateral, debt, fields)) != SCH_OK)
    return st;

  book->account_ids[row] = strdup(id);
  if (!book->account_ids[row])
    return sch_fail(rd->err, SCH_ERR_RUNTIME, "%s: out of memory", rd->path);
  rd->first_lines[row] = rd->line;
  rd->ids.hashes[row] = hash;
  rd->ids.slots[slot] = row + 1;
  book->n_accounts = row + 1;
  return SCH_OK;
}

/* Read every line: the first data line is the header, the rest accounts. */
static sch_status read_lines(csv_reader *rd, FILE *file, sch_loanbook *book) {
  char *line = NULL;
  size_t size = 0;
  ssize_t got;
  bool have_header = false;
  sch_status st = SCH_OK;
  rd->line = 0;
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
    if (!have_header) {
      st = parse_header(rd, text);
      have_header = true;
    } else {
      st = parse_row(rd, text, len, book);
    }
  }
  free(line);
  if (st == SCH_OK && ferror(file))
    st = sch_fail(rd->err, SCH_ERR_INPUT, "%s: cannot read: %s", rd->path,
                  strerror(errno));
  return st;
}

sch_status sch_loanbook_read_csv(const char *path, const sch_config *cfg,
                                 sch_loanbook *book, sch_error *err) {
  *book = (sch_loanbook){.n_assets = cfg->n_assets};
  FILE *file = fopen(path, "r");
  if (!file)
    return sch_fail(err, SCH_ERR_INPUT, "%s: cannot read: %s", path,
                    strerror(errno));
  csv_reader rd = {.path = path, .cfg = cfg, .err = err};
  errno = 0;
  sch_status st = read_lines(&rd, file, book);
  fclose(file);
  if (st == SCH_OK && book->n_accounts == 0) {
    /* Reported at the end of the file, where an account was expected. */
    rd.line++;
    st = input_error(&rd, 1, "no accounts");
  }
  free(rd.first_lines);
  free(rd.ids.slots);
  free(rd.ids.hashes);
  if (st != SCH_OK)
    sch_loanbook_free(book);
  return st;
}

/* ------------------------------------------------------------------------ */
/* Generator                                                                */
/* ------------------------------------------------------------------------ */

static const char *config_name(const sch_config *cfg) {
  return cfg->source[0] ? cfg->source : "<config>";
}

static double normal_cdf(double z) {
  return 0.5 * erfc(-z / sqrt(2.0));
}

/* P(hf_min <= 1 + X <= hf_max) for X = (hf_median - 1) exp(hf_sigma Z). */
static double health_acceptance(const sch_loanbook_spec *s) {
  double median = s->hf_median - 1.0;
  double lo = s->hf_min - 1.0, hi = s->hf_max - 1.0;
  if (hi <= 0.0 || hi < lo)
    return 0.0;
  if (s->hf_sigma == 0.0)
    return (median >= lo && median <= hi) ? 1.0 : 0.0;
  double z_hi = log(hi / median) / s->hf_sigma;
  double p_lo = lo > 0.0 ? normal_cdf(log(lo / median) / s->hf_sigma) : 0.0;
  return normal_cdf(z_hi) - p_lo;
}

static sch_status check_mix(const sch_config *cfg, int k, sch_error *err) {
  const sch_book_mix *mix = &cfg->loanbook.mix[k];
  const char *src = config_name(cfg);
  if (!(mix->weight >= 0.0) || !isfinite(mix->weight))
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: loanbook.generate.mix[%d]: weight must be >= 0", src,
                    k);
  if (mix->debt < 0 || mix->debt >= cfg->n_assets ||
      !(cfg->assets[mix->debt].price > 0.0))
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: loanbook.generate.mix[%d]: debt asset index %d is "
                    "not an asset with a positive price",
                    src, k, mix->debt);
  if (mix->collateral_mask == 0 ||
      (cfg->n_assets < 32 && (mix->collateral_mask >> cfg->n_assets) != 0))
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: loanbook.generate.mix[%d]: collateral must name one "
                    "or more of the assets",
                    src, k);
  for (int i = 0; i < cfg->n_assets; i++) {
    if (!(mix->collateral_mask >> i & 1u))
      continue;
    if (!cfg->protocol.assets[i].listed ||
        !(liquidation_threshold(cfg, i) > 0.0) || !(cfg->assets[i].price > 0.0))
      return sch_fail(err, SCH_ERR_INPUT,
                      "%s: loanbook.generate.mix[%d]: collateral %s is not "
                      "listed in protocol.assets (it has no liquidation "
                      "threshold)",
                      src, k, cfg->assets[i].name);
  }
  return SCH_OK;
}

static sch_status check_generator(const sch_config *cfg, sch_error *err) {
  const sch_loanbook_spec *s = &cfg->loanbook;
  const char *src = config_name(cfg);
  if (s->accounts < 1)
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: loanbook.generate.accounts must be >= 1", src);
  if (!(s->total_debt > 0.0) || !isfinite(s->total_debt))
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: loanbook.generate.total_debt must be > 0", src);
  if (!(s->size_sigma >= 0.0) || !(s->hf_sigma >= 0.0))
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: loanbook.generate: size_sigma and health.sigma "
                    "must be >= 0",
                    src);
  if (!(s->hf_median > 1.0))
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: loanbook.generate.health.median must be > 1", src);
  /* Rejection sampling must end: refuse bounds that keep almost nothing. */
  double accept = health_acceptance(s);
  if (!(accept >= 1e-6))
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: loanbook.generate.health: bounds [%g, %g] keep a "
                    "share %.3g of the health-factor distribution; widen "
                    "them",
                    src, s->hf_min, s->hf_max, accept);
  if (s->n_mix < 1 || s->n_mix > SCH_MAX_MIX)
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: loanbook.generate.mix needs 1 to %d kinds", src,
                    SCH_MAX_MIX);
  double total_weight = 0.0;
  for (int k = 0; k < s->n_mix; k++) {
    sch_status st = check_mix(cfg, k, err);
    if (st != SCH_OK)
      return st;
    total_weight += s->mix[k].weight;
  }
  if (!(total_weight > 0.0))
    return sch_fail(err, SCH_ERR_INPUT,
                    "%s: loanbook.generate.mix: weights sum to zero", src);
  return SCH_OK;
}

/* Kind k with cum_{k-1} <= u W < cum_k; zero-weight kinds are never hit. */
static int draw_kind(const sch_loanbook_spec *s, double total_weight,
                     double u) {
  double target = u * total_weight, cumulative = 0.0;
  int last = 0;
  for (int k = 0; k < s->n_mix; k++) {
    if (s->mix[k].weight <= 0.0)
      continue;
    cumulative += s->mix[k].weight;
    last = k;
    if (target < cumulative)
      return k;
  }
  return last; /* u W rounded up to W */
}

/* Truncated lognormal: HF = 1 + (median - 1) exp(sigma Z) in [min, max]. */
static double draw_health(const sch_loanbook_spec *s, sch_normal_stream *ns) {
  for (;;) {
    double hf =
        1.0 + (s->hf_median - 1.0) * exp(s->hf_sigma * sch_normal_next(ns));
    if (hf >= s->hf_min && hf <= s->hf_max)
      return hf;
  }
}

/* Shares w_i of the LT-weighted collateral value: u_i ~ U(0.5, 1.5)
 * normalised, one draw per collateral asset in asset order (none when the
 * kind has a single collateral asset). */
static void draw_shares(const sch_config *cfg, uint32_t mask, sch_pcg32 *rng,
                        double *shares) {
  int n = 0;
  double total = 0.0;
  for (int i = 0; i < cfg->n_assets; i++)
    n += (int)(mask >> i & 1u);
  for (int i = 0; i < cfg->n_assets; i++) {
    shares[i] = 0.0;
    if (mask >> i & 1u) {
      shares[i] = n > 1 ? 0.5 + sch_uniform_open(rng) : 1.0;
      total += shares[i];
    }
  }
  for (int i = 0; i < cfg->n_assets; i++)
    shares[i] /= total;
}

/* Turn shares, HF and USD debt into units:
 * c_i = w_i HF D / (p_i LT_i), d = D / p_debt, so sum c_i p_i LT_i / D = HF.
 */
static void fill_account(const sch_config *cfg, int kind, double debt_usd,
                         double health, double *collateral, double *debt) {
  int debt_asset = cfg->loanbook.mix[kind].debt;
  for (int i = 0; i < cfg->n_assets; i++) {
    debt[i] = 0.0;
    if (collateral[i] > 0.0)
      collateral[i] = collateral[i] * health * debt_usd /
                      (cfg->assets[i].price * liquidation_threshold(cfg, i));
  }
  debt[debt_asset] = debt_usd / cfg->assets[debt_asset].price;
}

static sch_status generate_accounts(const sch_config *cfg, sch_loanbook *book,
                                    int *kinds, double *sizes,
                                    double *healths) {
  const sch_loanbook_spec *s = &cfg->loanbook;
  sch_normal_stream ns = {0};
  sch_stream_for_path(&ns.rng, s->seed, SCH_STREAM_LOANBOOK, 0);
  double total_weight = 0.0;
  for (int k = 0; k < s->n_mix; k++)
    total_weight += s->mix[k].weight;

  /* Pass 1, per account in row order: kind (uniform), size (normal), HF
   * (normals until accepted), collateral shares (uniforms). */
  double size_sum = 0.0;
  for (int64_t a = 0; a < s->accounts; a++) {
    kinds[a] = draw_kind(s, total_weight, sch_uniform_open(&ns.rng));
    sizes[a] = exp(s->size_sigma * sch_normal_next(&ns));
    healths[a] = draw_health(s, &ns);
    draw_shares(cfg, s->mix[kinds[a]].collateral_mask, &ns.rng,
                book->collateral + a * book->n_assets);
    size_sum += sizes[a];
  }
  /* Pass 2: scale sizes to total_debt and convert to units. */
  double scale = s->total_debt / size_sum;
  for (int64_t a = 0; a < s->accounts; a++) {
    fill_account(cfg, kinds[a], sizes[a] * scale, healths[a],
                 book->collateral + a * book->n_assets,
                 book->debt + a * book->n_assets);
    char id[32];
    snprintf(id, sizeof id, "g%" PRId64, a);
    book->account_ids[a] = strdup(id);
    if (!book->account_ids[a])
      return SCH_ERR_RUNTIME;
    book->n_accounts = a + 1;
  }
  return SCH_OK;
}

sch_status sch_loanbook_generate(const sch_config *cfg, sch_loanbook *book,
                                 sch_error *err) {
  *book = (sch_loanbook){.n_assets = cfg->n_assets};
  sch_status st = check_generator(cfg, err);
  if (st != SCH_OK)
    return st;
  size_t n = (size_t)cfg->loanbook.accounts;
  int *kinds = malloc(n * sizeof *kinds);
  double *sizes = malloc(n * sizeof *sizes);
  double *healths = malloc(n * sizeof *healths);
  st = SCH_ERR_RUNTIME;
  if (kinds && sizes && healths && book_reserve(book, cfg->loanbook.accounts)) {
    /* Ids are freed by sch_loanbook_free up to n_accounts only. */
    st = generate_accounts(cfg, book, kinds, sizes, healths);
  }
  free(kinds);
  free(sizes);
  free(healths);
  if (st != SCH_OK) {
    sch_loanbook_free(book);
    return sch_fail(err, st, "%s: loanbook.generate: out of memory",
                    config_name(cfg));
  }
  return SCH_OK;
}

sch_status sch_loanbook_load(const sch_config *cfg, sch_loanbook *book,
                             sch_error *err) {
  if (cfg->loanbook.generate)
    return sch_loanbook_generate(cfg, book, err);
  return sch_loanbook_read_csv(cfg->loanbook.file, cfg, book, err);
}
