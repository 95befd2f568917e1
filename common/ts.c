/*
 * ts.c - clocks and RFC 3339 UTC conversion (see ts.h).
 * Calendar arithmetic is done by hand (days from civil) so results never
 * depend on the process time zone or locale.
 */
#include "ts.h"

#include <string.h>
#include <time.h>

int64_t ts_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int64_t ts_monotonic_ms(void) { return ts_monotonic_us() / 1000; }

int64_t ts_monotonic_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

void ts_sleep_until_us(int64_t deadline_us, int max_ms)
{
    int64_t wait_us = deadline_us - ts_monotonic_us();
    struct timespec span;

    if (wait_us <= 0)
        return;
    if (wait_us > (int64_t)max_ms * 1000)
        wait_us = (int64_t)max_ms * 1000;
    span.tv_sec = (time_t)(wait_us / 1000000);
    span.tv_nsec = (long)(wait_us % 1000000) * 1000;
    nanosleep(&span, NULL);
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era;
    int64_t yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Writes v (0 <= v < 10^width) as exactly width decimal digits. */
static void put_digits(char *out, int v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

char *ts_format_rfc3339(int64_t epoch_ms, char buf[TS_RFC3339_LEN])
{
    static const int64_t min_ms = -62167219200000LL; /* 0000-01-01 */
    static const int64_t max_ms = 253402300799999LL; /* 9999-12-31T23:59:59.999 */
    int64_t days, ms_of_day;
    int y, m, d;

    if (epoch_ms < min_ms)
        epoch_ms = min_ms;
    if (epoch_ms > max_ms)
        epoch_ms = max_ms;
    days = epoch_ms / 86400000;
    ms_of_day = epoch_ms % 86400000;
    if (ms_of_day < 0) {
        ms_of_day += 86400000;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    /* Written digit by digit: every field is in range after the clamp, and
     * snprintf's "%02d" into 25 bytes trips -Wformat-truncation at -O2. */
    put_digits(buf, y, 4);
    buf[4] = '-';
    put_digits(buf + 5, m, 2);
    buf[7] = '-';
    put_digits(buf + 8, d, 2);
    buf[10] = 'T';
    put_digits(buf + 11, (int)(ms_of_day / 3600000), 2);
    buf[13] = ':';
    put_digits(buf + 14, (int)(ms_of_day / 60000 % 60), 2);
    buf[16] = ':';
    put_digits(buf + 17, (int)(ms_of_day / 1000 % 60), 2);
    buf[19] = '.';
    put_digits(buf + 20, (int)(ms_of_day % 1000), 3);
    buf[23] = 'Z';
    buf[24] = '\0';
    return buf;
}

/* Reads exactly n decimal digits. */
static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : days[m - 1];
}

int ts_parse_rfc3339(const char *text, int64_t *epoch_ms)
{
    const char *p = text;
    int y, mo, d, h, mi, s, ms = 0, off_h = 0, off_m = 0, sign = 0;

    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) ||
        *p++ != '-' || read_digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi) ||
        *p++ != ':' || read_digits(&p, 2, &s))
        return -1;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (read_digits(&p, 2, &off_h) || *p++ != ':' ||
            read_digits(&p, 2, &off_m) || off_h > 23 || off_m > 59)
            return -1;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || s > 60)
        return -1;
    if (s == 60) /* leap second: fold into the next second */
        s = 59, ms = 999;
    *epoch_ms = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s -
                 sign * (off_h * 3600 + off_m * 60)) * 1000 + ms;
    return 0;
}
