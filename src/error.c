#include <stdio.h>

#include "schelling/schelling.h"
#include "schelling_version.h"

static bool quiet_warnings;

sch_status sch_fail(sch_error *err, sch_status status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return status;
}

void sch_warn(const char *fmt, ...) {
  if (quiet_warnings)
    return;
  va_list ap;
  va_start(ap, fmt);
  fputs("schelling: warning: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void sch_set_quiet(bool quiet) { quiet_warnings = quiet; }

const char *sch_version(void) { return SCH_VERSION; }
