/**
 * @file schelling.h
 * @brief Common types of the schelling risk engine: status codes, errors,
 *        version.
 *
 * Every fallible library function returns an ::sch_status and, on failure,
 * fills an ::sch_error with one line of text (no trailing newline) that names
 * file:line:column where there is one. The library never calls exit().
 */
#ifndef SCHELLING_SCHELLING_H
#define SCHELLING_SCHELLING_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes; the numeric values are the CLI exit codes. */
typedef enum sch_status {
  SCH_OK = 0,          /**< success */
  SCH_ERR_RUNTIME = 1, /**< runtime failure: I/O, out of memory, HDF5 */
  SCH_ERR_INPUT = 2,   /**< usage or input error: config, loan book, CLI */
} sch_status;

/** Room for one error line. */
#define SCH_ERROR_MAX 1024

/** An error message: one line, no trailing newline. */
typedef struct sch_error {
  char msg[SCH_ERROR_MAX]; /**< the message, empty when no error */
} sch_error;

/**
 * Record an error and return its status (for `return sch_fail(...)`).
 * @param err    where to write the message (may be NULL)
 * @param status the status to return
 * @param fmt    printf-style format of the one-line message
 * @return status
 */
sch_status sch_fail(sch_error *err, sch_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Print a warning line on stderr ("schelling: warning: ...").
 * @param fmt printf-style format
 */
void sch_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Suppress (true) or allow (false) warnings printed by sch_warn(). */
void sch_set_quiet(bool quiet);

/** @return the version string, e.g. "0.1.0". */
const char *sch_version(void);

#ifdef __cplusplus
}
#endif
#endif
