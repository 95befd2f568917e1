/*
 * cron.h - ecom-scheduler's schedules: five-field cron expressions (UTC) and
 * Airflow's presets, parsed once and asked for their next fire time. Pure:
 * no clock (callers pass the instant), no allocation.
 *
 * Fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or
 * JAN-DEC, day of week 0-7 or SUN-SAT (0 and 7 are Sunday); each a list of
 * "*", N, N-M, with an optional /STEP ("*" + "/15", "1-30/5", "10/20" =
 * 10-59/20). Names are case-insensitive. As in Vixie cron (and Airflow's
 * croniter), when both day fields are restricted a day matches either.
 * Presets: @hourly, @daily (@midnight), @weekly, @monthly, @yearly
 * (@annually), @once (a single run at the DAG's start date) and none
 * (triggered only).
 */
#ifndef ECOM_CRON_H
#define ECOM_CRON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CRON_EXPR,  /* a five-field expression (presets other than these become one) */
    CRON_ONCE,  /* @once */
    CRON_NONE,  /* none: only triggered */
} cron_kind_t;

typedef struct {
    cron_kind_t kind;
    uint64_t minutes;  /* bit m: minute m */
    uint32_t hours;    /* bit h */
    uint32_t days;     /* bit d, 1..31 */
    uint16_t months;   /* bit m, 1..12 */
    uint8_t weekdays;  /* bit w, 0..6, Sunday 0 */
    int days_any;      /* the day-of-month field was "*" */
    int weekdays_any;  /* the day-of-week field was "*" */
} cron_t;

/* Parses expr. Returns 0, or -1 with what is wrong in err (the field and
 * the text, e.g. "minute field \"61\": 61 is out of range 0-59"). An
 * expression that can never fire ("0 0 30 2 *") is refused too. */
int cron_parse(const char *expr, cron_t *out, char *err, size_t errsize);

/* The first fire time strictly after after_ms (epoch ms, UTC; fire times
 * are whole minutes), or -1 when there is none (@once, none). */
int64_t cron_next(const cron_t *c, int64_t after_ms);

#endif
