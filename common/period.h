/*
 * period.h - the calendar of the batch jobs (ecom-batch, ecom-quality):
 * UTC hours, days, ISO weeks (Monday 00:00) and months as half-open
 * [start, end) spans of epoch milliseconds; parsing what --for, --from
 * and --to name; the job periods a span covers; the labels used in file
 * names. Pure functions, no state, no
 * clock (callers pass "now").
 *
 * What a flag may name (UTC; a trailing Z is allowed after a time):
 *   YYYY-MM               a month
 *   YYYY-Www              an ISO week (W01..W53, as the year has)
 *   YYYY-MM-DD            a day
 *   YYYY-MM-DDTHH         an hour (a space may stand for the T)
 *   YYYY-MM-DDTHH:MM[:SS[.fff]][Z or +hh:mm]  an instant (RFC 3339)
 * A job's periods for a named span are every period of the job's kind that
 * overlaps it: hourly-sales --for 2026-12-01 is that day's 24 hours,
 * monthly-cohorts --for 2026-12-01 is December.
 */
#ifndef ECOM_PERIOD_H
#define ECOM_PERIOD_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PERIOD_HOUR,
    PERIOD_DAY,
    PERIOD_WEEK,
    PERIOD_MONTH,
} period_kind_t;

/* Years a flag may name: outside them a date is refused. */
#define PERIOD_YEAR_MIN 2000
#define PERIOD_YEAR_MAX 2199

/* The longest span a run may cover, first period's start to last one's end:
 * a longer backfill is refused as a likely typo (split it instead). */
#define PERIOD_MAX_SPAN_DAYS 1100

/* "2026-W48" / "2026-12-01T10" plus NUL fits. */
#define PERIOD_LABEL_LEN 20

#define PERIOD_HOUR_MS 3600000LL
#define PERIOD_DAY_MS (24 * PERIOD_HOUR_MS)

/* Parses what a flag names into [*lo, *hi). Returns 0, or -1 with a reason
 * ("month 13 out of range", ...) in err. */
int period_parse(const char *text, int64_t *lo, int64_t *hi, char *err, size_t errsize);

/* The span the flags name: --for SPEC, or --from SPEC --to SPEC (from the
 * start of FROM to the end of TO); NULL for a flag not given. Returns 0
 * with [*lo, *hi), 1 when none is given, or -1 with the reason in err
 * (a bad SPEC, --for with --from/--to, --from without --to, TO before
 * FROM). */
int period_span_of_flags(const char *for_spec, const char *from_spec, const char *to_spec,
                         int64_t *lo, int64_t *hi, char *err, size_t errsize);

/* The start of the period of kind k holding t. */
int64_t period_floor(period_kind_t k, int64_t t);
/* The start of the period after the one starting at start. */
int64_t period_next(period_kind_t k, int64_t start);
/* The start of the period before the one starting at start. */
int64_t period_prev(period_kind_t k, int64_t start);

/* The periods a run covers, as the start of the first and of the last:
 * from the period holding lo to the one holding hi - 1. Returns 0, or -1
 * with a reason in err when hi <= lo or the span exceeds
 * PERIOD_MAX_SPAN_DAYS. */
int period_range(period_kind_t k, int64_t lo, int64_t hi, int64_t *first, int64_t *last,
                 char *err, size_t errsize);

/* The last period that has ended by now (the default of every job). */
int64_t period_last_completed(period_kind_t k, int64_t now_ms);

/* The number of periods from first to last inclusive (both period starts). */
int64_t period_count(period_kind_t k, int64_t first, int64_t last);

/* The label of the period starting at start: "2026-12-01T10" (hour),
 * "2026-12-01" (day), "2026-W48" (week, by ISO year), "2026-12" (month).
 * Returns buf. */
char *period_label(period_kind_t k, int64_t start, char buf[PERIOD_LABEL_LEN]);

/* "hour", "day", "week", "month". */
const char *period_kind_name(period_kind_t k);

/* Civil date helpers (proleptic Gregorian, UTC): days since 1970-01-01. */
int64_t period_days_from_civil(int y, int m, int d);
void period_civil_from_days(int64_t days, int *y, int *m, int *d);
int period_days_in_month(int y, int m);
/* The day of the week of a day since 1970-01-01: Monday 0 .. Sunday 6. */
int period_weekday(int64_t days);

#endif
