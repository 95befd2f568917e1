/*
 * verdict.h - ecom-quality's judgement, apart from any database: a check's
 * thresholds, the status an observed value earns, and the
 * --threshold NAME=WARN[,FAIL] flag that changes them. Pure.
 */
#ifndef ECOM_VERDICT_H
#define ECOM_VERDICT_H

#include <stddef.h>

typedef enum { VERDICT_PASS, VERDICT_WARN, VERDICT_FAIL } verdict_status_t;

typedef struct {
    double warn; /* observed above this warns */
    double fail; /* observed above this fails */
} verdict_limits_t;

/* pass when observed <= warn, warn when <= fail, fail above it; a check
 * that observed nothing (has_value 0: no data to judge) fails. */
verdict_status_t verdict_judge(int has_value, double observed, verdict_limits_t lim);

/* "pass", "warn", "fail". */
const char *verdict_name(verdict_status_t s);

/* Parses WARN[,FAIL] (numbers >= 0; FAIL defaults to WARN, and must not be
 * below it). Returns 0, or -1 with a reason in err. */
int verdict_parse_limits(const char *text, verdict_limits_t *out, char *err, size_t errsize);

#endif
