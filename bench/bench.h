/* Shared output of the benchmarks: one JSON object per line. */
#ifndef SCHELLING_BENCH_H
#define SCHELLING_BENCH_H

#include <stdio.h>

static int bench_failures;

/* Print one figure with its limit (DESIGN.md section 7) and whether the
 * benchmark's own check of the result passed; failures set the exit code. */
static inline void bench_report(const char *name, double value,
                                const char *unit, double limit,
                                const char *config, int verified) {
  printf("{\"name\": \"%s\", \"value\": %.4g, \"unit\": \"%s\", "
         "\"limit\": %.4g, \"ratio_to_limit\": %.3g, \"verified\": %s, "
         "\"config\": %s}\n",
         name, value, unit, limit, value / limit,
         verified ? "true" : "false", config);
  fflush(stdout);
  bench_failures += !verified;
}

#endif
