/*
 * period.c - UTC periods for the batch jobs (see period.h).
 */
#include "period.h"
#include "ts.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Howard Hinnant's days_from_civil / civil_from_days algorithms. */
int64_t period_days_from_civil(int y, int m, int d)
{
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = floor_div(yy, 400);
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void period_civil_from_days(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int mm = (int)(mp < 10 ? mp + 3 : mp - 9);

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = mm;
    *y = (int)(yoe + era * 400 + (mm <= 2));
}

int period_days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* 1970-01-01 was a Thursday. */
int period_weekday(int64_t days)
{
    return (int)(days - 7 * floor_div(days + 3, 7) + 3);
}

/* The Monday of ISO week 1 of year y: the week holding 4 January. */
static int64_t iso_week1(int y)
{
    int64_t jan4 = period_days_from_civil(y, 1, 4);
    return jan4 - period_weekday(jan4);
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Writes "<reason> in \"<text>\"" to err; returns -1. */
static int fail(char *err, size_t errsize, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errsize, const char *text, const char *fmt, ...)
{
    char what[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err, errsize, "%s in \"%.40s\"", what, text);
    return -1;
}

static int check_year(int y, const char *text, char *err, size_t errsize)
{
    if (y < PERIOD_YEAR_MIN || y > PERIOD_YEAR_MAX)
        return fail(err, errsize, text, "year %d out of range (2000..2199)", y);
    return 0;
}

/* The YYYY-MM-DD that text starts with, checked. */
static int parse_date(const char *text, int64_t *days, char *err, size_t errsize)
{
    int y, m, d;

    if (digits(text, 4, &y) || text[4] != '-' || digits(text + 5, 2, &m) || text[7] != '-' ||
        digits(text + 8, 2, &d))
        return fail(err, errsize, text, "not a date (expected YYYY-MM-DD)");
    if (check_year(y, text, err, errsize))
        return -1;
    if (m < 1 || m > 12)
        return fail(err, errsize, text, "month %d out of range", m);
    if (d < 1 || d > period_days_in_month(y, m))
        return fail(err, errsize, text, "day %d out of range", d);
    *days = period_days_from_civil(y, m, d);
    return 0;
}

int period_parse(const char *text, int64_t *lo, int64_t *hi, char *err, size_t errsize)
{
    size_t n = strlen(text);
    int y, m, w, h;
    int64_t days, t;
    char buf[64];

    if (n == 7 && !digits(text, 4, &y) && text[4] == '-' && !digits(text + 5, 2, &m)) {
        if (check_year(y, text, err, errsize))
            return -1;
        if (m < 1 || m > 12)
            return fail(err, errsize, text, "month %d out of range", m);
        *lo = period_days_from_civil(y, m, 1) * PERIOD_DAY_MS;
        *hi = period_next(PERIOD_MONTH, *lo);
        return 0;
    }
    if (n == 8 && !digits(text, 4, &y) && text[4] == '-' && text[5] == 'W' &&
        !digits(text + 6, 2, &w)) {
        if (check_year(y, text, err, errsize))
            return -1;
        if (w < 1 || w > (iso_week1(y + 1) - iso_week1(y)) / 7)
            return fail(err, errsize, text, "ISO week %d out of range", w);
        *lo = (iso_week1(y) + 7LL * (w - 1)) * PERIOD_DAY_MS;
        *hi = *lo + 7 * PERIOD_DAY_MS;
        return 0;
    }
    if (n < 10)
        return fail(err, errsize, text, "not a period (expected YYYY-MM, YYYY-Www, YYYY-MM-DD or YYYY-MM-DDTHH)");
    if (parse_date(text, &days, err, errsize))
        return -1;
    if (n == 10) {
        *lo = days * PERIOD_DAY_MS;
        *hi = *lo + PERIOD_DAY_MS;
        return 0;
    }
    if (text[10] != 'T' && text[10] != 't' && text[10] != ' ')
        return fail(err, errsize, text, "expected T after the date");
    if ((n == 13 || (n == 14 && (text[13] == 'Z' || text[13] == 'z'))) && !digits(text + 11, 2, &h)) {
        if (h > 23)
            return fail(err, errsize, text, "hour %d out of range", h);
        *lo = days * PERIOD_DAY_MS + h * PERIOD_HOUR_MS;
        *hi = *lo + PERIOD_HOUR_MS;
        return 0;
    }
    /* An instant: RFC 3339, with seconds and a zone supplied when left out. */
    if (n + 4 >= sizeof(buf))
        return fail(err, errsize, text, "not a timestamp");
    memcpy(buf, text, n + 1);
    if (n == 16)
        strcat(buf, ":00");
    if (strpbrk(buf + 11, "Zz+-") == NULL)
        strcat(buf, "Z");
    if (ts_parse_rfc3339(buf, &t) != 0)
        return fail(err, errsize, text, "not a timestamp (expected YYYY-MM-DDTHH:MM[:SS][Z])");
    *lo = t;
    *hi = t + 1;
    return 0;
}

int period_span_of_flags(const char *for_spec, const char *from_spec, const char *to_spec,
                         int64_t *lo, int64_t *hi, char *err, size_t errsize)
{
    int64_t lo2, hi2;
    char why[192];

    if (for_spec != NULL && (from_spec != NULL || to_spec != NULL)) {
        snprintf(err, errsize, "--for cannot be combined with --from/--to");
        return -1;
    }
    if ((from_spec == NULL) != (to_spec == NULL)) {
        snprintf(err, errsize, "--from and --to go together");
        return -1;
    }
    if (for_spec == NULL && from_spec == NULL)
        return 1;
    if (period_parse(for_spec ? for_spec : from_spec, lo, hi, why, sizeof(why)) != 0) {
        snprintf(err, errsize, "invalid value for option %s: %s", for_spec ? "--for" : "--from", why);
        return -1;
    }
    if (to_spec == NULL)
        return 0;
    if (period_parse(to_spec, &lo2, &hi2, why, sizeof(why)) != 0) {
        snprintf(err, errsize, "invalid value for option --to: %s", why);
        return -1;
    }
    if (hi2 <= *lo) {
        snprintf(err, errsize, "--to %.40s is before --from %.40s", to_spec, from_spec);
        return -1;
    }
    *hi = hi2;
    return 0;
}

int64_t period_floor(period_kind_t k, int64_t t)
{
    int64_t days = floor_div(t, PERIOD_DAY_MS);
    int y, m, d;

    switch (k) {
    case PERIOD_HOUR: return floor_div(t, PERIOD_HOUR_MS) * PERIOD_HOUR_MS;
    case PERIOD_DAY: return days * PERIOD_DAY_MS;
    case PERIOD_WEEK: return (days - period_weekday(days)) * PERIOD_DAY_MS;
    case PERIOD_MONTH:
        period_civil_from_days(days, &y, &m, &d);
        return period_days_from_civil(y, m, 1) * PERIOD_DAY_MS;
    }
    return t;
}

static int64_t add_months(int64_t start, int delta)
{
    int y, m, d, idx;

    period_civil_from_days(floor_div(start, PERIOD_DAY_MS), &y, &m, &d);
    idx = y * 12 + (m - 1) + delta;
    return period_days_from_civil(idx / 12, idx % 12 + 1, 1) * PERIOD_DAY_MS;
}

int64_t period_next(period_kind_t k, int64_t start)
{
    switch (k) {
    case PERIOD_HOUR: return start + PERIOD_HOUR_MS;
    case PERIOD_DAY: return start + PERIOD_DAY_MS;
    case PERIOD_WEEK: return start + 7 * PERIOD_DAY_MS;
    case PERIOD_MONTH: return add_months(start, 1);
    }
    return start;
}

int64_t period_prev(period_kind_t k, int64_t start)
{
    switch (k) {
    case PERIOD_HOUR: return start - PERIOD_HOUR_MS;
    case PERIOD_DAY: return start - PERIOD_DAY_MS;
    case PERIOD_WEEK: return start - 7 * PERIOD_DAY_MS;
    case PERIOD_MONTH: return add_months(start, -1);
    }
    return start;
}

int period_range(period_kind_t k, int64_t lo, int64_t hi, int64_t *first, int64_t *last,
                 char *err, size_t errsize)
{
    int64_t f, l;

    if (hi <= lo) {
        snprintf(err, errsize, "the range is reversed or empty (--to before --from)");
        return -1;
    }
    f = period_floor(k, lo);
    l = period_floor(k, hi - 1);
    if (period_next(k, l) - f > PERIOD_MAX_SPAN_DAYS * PERIOD_DAY_MS) {
        snprintf(err, errsize, "the range spans %lld days, more than %d: split the backfill",
                 (long long)((period_next(k, l) - f) / PERIOD_DAY_MS), PERIOD_MAX_SPAN_DAYS);
        return -1;
    }
    *first = f;
    *last = l;
    return 0;
}

int64_t period_last_completed(period_kind_t k, int64_t now_ms)
{
    return period_prev(k, period_floor(k, now_ms));
}

int64_t period_count(period_kind_t k, int64_t first, int64_t last)
{
    int y1, m1, d1, y2, m2, d2;

    switch (k) {
    case PERIOD_HOUR: return (last - first) / PERIOD_HOUR_MS + 1;
    case PERIOD_DAY: return (last - first) / PERIOD_DAY_MS + 1;
    case PERIOD_WEEK: return (last - first) / (7 * PERIOD_DAY_MS) + 1;
    case PERIOD_MONTH:
        period_civil_from_days(floor_div(first, PERIOD_DAY_MS), &y1, &m1, &d1);
        period_civil_from_days(floor_div(last, PERIOD_DAY_MS), &y2, &m2, &d2);
        return (int64_t)(y2 * 12 + m2) - (y1 * 12 + m1) + 1;
    }
    return 0;
}

char *period_label(period_kind_t k, int64_t start, char buf[PERIOD_LABEL_LEN])
{
    int64_t days = floor_div(start, PERIOD_DAY_MS);
    int y, m, d, iy;

    period_civil_from_days(days, &y, &m, &d);
    switch (k) {
    case PERIOD_HOUR:
        snprintf(buf, PERIOD_LABEL_LEN, "%04d-%02d-%02dT%02d", y, m, d,
                 (int)((start - days * PERIOD_DAY_MS) / PERIOD_HOUR_MS));
        break;
    case PERIOD_DAY: snprintf(buf, PERIOD_LABEL_LEN, "%04d-%02d-%02d", y, m, d); break;
    case PERIOD_WEEK:
        /* The ISO year is the year of the week's Thursday. */
        period_civil_from_days(days + 3, &iy, &m, &d);
        snprintf(buf, PERIOD_LABEL_LEN, "%04d-W%02d", iy, (int)((days - iso_week1(iy)) / 7 + 1));
        break;
    case PERIOD_MONTH: snprintf(buf, PERIOD_LABEL_LEN, "%04d-%02d", y, m); break;
    }
    return buf;
}

const char *period_kind_name(period_kind_t k)
{
    static const char *const names[] = {"hour", "day", "week", "month"};
    return (unsigned)k < 4 ? names[k] : "?";
}
