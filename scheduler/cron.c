/*
 * cron.c - cron expressions and their next fire time (see cron.h).
 */
#include "cron.h"
#include "period.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MINUTE_MS 60000LL

typedef struct {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] is value lo + i (NULL: numbers only) */
} cron_field_t;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const cron_field_t fields[5] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, day_names},
};

static const struct {
    const char *name;
    const char *expr;
} presets[] = {
    {"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

/* A number or (for fields with names) a name at *p; advances *p. */
static int parse_value(const cron_field_t *f, const char **p, int *out)
{
    const char *s = *p;
    char *end;
    long v;

    if (f->names != NULL && isalpha((unsigned char)*s)) {
        for (int i = 0; f->names[i] != NULL; i++)
            if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
                *out = f->lo + i;
                *p = s + 3;
                return 0;
            }
        return -1;
    }
    if (!isdigit((unsigned char)*s))
        return -1;
    v = strtol(s, &end, 10);
    if (end - s > 3)
        return -1;
    *out = (int)v;
    *p = end;
    return 0;
}

static int field_error(char *err, size_t errsize, const cron_field_t *f, const char *text, size_t n,
                       const char *why)
{
    snprintf(err, errsize, "%s field \"%.*s\": %s", f->name, (int)n, text, why);
    return -1;
}

/* One field's text[0..n) into the bit set *bits. */
static int parse_field(const cron_field_t *f, const char *text, size_t n, uint64_t *bits,
                       int *any, char *err, size_t errsize)
{
    char buf[128], why[96];
    const char *p;

    if (n == 0 || n >= sizeof(buf))
        return field_error(err, errsize, f, text, n, "empty or too long");
    memcpy(buf, text, n);
    buf[n] = '\0';
    *bits = 0;
    *any = strcmp(buf, "*") == 0;
    p = buf;
    for (;;) {
        int lo, hi, step = 1, star = 0;

        if (*p == '*') {
            star = 1;
            lo = f->lo;
            hi = f->hi;
            p++;
        } else {
            if (parse_value(f, &p, &lo) != 0)
                return field_error(err, errsize, f, text, n, "expected a number, a name or *");
            hi = lo;
            if (*p == '-') {
                p++;
                if (parse_value(f, &p, &hi) != 0)
                    return field_error(err, errsize, f, text, n, "expected the end of the range");
            }
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p) || (step = atoi(p)) < 1 || step > f->hi)
                return field_error(err, errsize, f, text, n, "bad step");
            while (isdigit((unsigned char)*p))
                p++;
            if (!star && hi == lo)
                hi = f->hi; /* "10/20": from 10 to the end */
        }
        if (lo > hi)
            return field_error(err, errsize, f, text, n, "the range is reversed");
        if (lo < f->lo || hi > f->hi) {
            snprintf(why, sizeof(why), "%d is out of range %d-%d", lo < f->lo ? lo : hi, f->lo, f->hi);
            return field_error(err, errsize, f, text, n, why);
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ULL << v;
        if (*p == '\0')
            return 0;
        if (*p != ',')
            return field_error(err, errsize, f, text, n, "unexpected character");
        p++;
    }
}

int cron_parse(const char *expr, cron_t *out, char *err, size_t errsize)
{
    const char *p = expr, *start[5];
    size_t len[5];
    uint64_t bits[5];
    int any[5], n = 0, possible = 0;
    cron_t c;

    while (*p == ' ' || *p == '\t')
        p++;
    memset(&c, 0, sizeof(c));
    if (strcmp(p, "none") == 0 || strcmp(p, "@once") == 0) {
        c.kind = *p == 'n' ? CRON_NONE : CRON_ONCE;
        *out = c;
        return 0;
    }
    if (*p == '@') {
        for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
            if (strcmp(p, presets[i].name) == 0)
                return cron_parse(presets[i].expr, out, err, errsize);
        snprintf(err, errsize, "unknown preset \"%.40s\" (@hourly, @daily, @weekly, @monthly, @yearly, @once)", p);
        return -1;
    }
    while (*p != '\0') {
        if (n == 5) {
            snprintf(err, errsize, "more than five fields in \"%.60s\"", expr);
            return -1;
        }
        start[n] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        len[n] = (size_t)(p - start[n]);
        n++;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    if (n != 5) {
        snprintf(err, errsize, "%d field%s in \"%.60s\", expected 5 (minute hour day-of-month month day-of-week) or a preset",
                 n, n == 1 ? "" : "s", expr);
        return -1;
    }
    for (int i = 0; i < 5; i++)
        if (parse_field(&fields[i], start[i], len[i], &bits[i], &any[i], err, errsize) != 0)
            return -1;
    c.kind = CRON_EXPR;
    c.minutes = bits[0];
    c.hours = (uint32_t)bits[1];
    c.days = (uint32_t)bits[2];
    c.months = (uint16_t)bits[3];
    c.weekdays = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f); /* 7 is Sunday too */
    c.days_any = any[2];
    c.weekdays_any = any[4];
    /* A chosen day of month that some chosen month has (2024: leap). */
    for (int m = 1; m <= 12 && !possible; m++)
        if (c.months & (1u << m))
            for (int d = 1; d <= period_days_in_month(2024, m) && !possible; d++)
                possible = (c.days >> d) & 1;
    /* With the day of week restricted too, any such weekday fires (OR). */
    if (!c.days_any && c.weekdays_any && !possible) {
        snprintf(err, errsize, "\"%.60s\" never fires: no chosen month has the chosen days", expr);
        return -1;
    }
    *out = c;
    return 0;
}

/* Does day (days since the epoch) match the day fields? */
static int day_matches(const cron_t *c, int64_t days, int d)
{
    int wd = (period_weekday(days) + 1) % 7; /* cron's Sunday 0 */
    int dom = (c->days >> d) & 1, dow = (c->weekdays >> wd) & 1;

    if (c->days_any && c->weekdays_any)
        return 1;
    if (c->days_any)
        return dow;
    if (c->weekdays_any)
        return dom;
    return dom || dow;
}

int64_t cron_next(const cron_t *c, int64_t after_ms)
{
    /* The next whole minute after after_ms; then the fields from the
     * largest down, each mismatch jumping to the start of the next unit.
     * Ten years without a match means never (cron_parse refuses the
     * expressions that cannot fire, so this is a bound, not a case). */
    int64_t t = (after_ms >= 0 ? after_ms / MINUTE_MS : (after_ms - MINUTE_MS + 1) / MINUTE_MS) + 1;
    int64_t limit = t + 10LL * 366 * 24 * 60;

    if (c->kind != CRON_EXPR)
        return -1;
    while (t < limit) {
        int64_t days = t / (24 * 60);
        int minute_of_day = (int)(t - days * 24 * 60);
        int y, m, d, h = minute_of_day / 60, mi = minute_of_day % 60;

        period_civil_from_days(days, &y, &m, &d);
        if (!((c->months >> m) & 1)) {
            int ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
            t = period_days_from_civil(ny, nm, 1) * 24 * 60;
            continue;
        }
        if (!day_matches(c, days, d)) {
            t = (days + 1) * 24 * 60;
            continue;
        }
        if (!((c->hours >> h) & 1)) {
            t = days * 24 * 60 + (h + 1) * 60;
            continue;
        }
        if (!((c->minutes >> mi) & 1)) {
            t++;
            continue;
        }
        return t * MINUTE_MS;
    }
    return -1;
}
