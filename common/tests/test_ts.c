/*
 * test_ts.c - unit tests for common/ts.c: RFC 3339 parsing (valid and invalid
 * tables), formatting (incl. negative epochs and clamping), round trips
 * against glibc's gmtime_r, and the clocks. Expected epoch values were
 * computed independently (Python datetime), not with ts.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ts.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const char *text;
    int64_t epoch_ms;
} valid_cases[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"1970-01-01T00:00:00.000Z", 0},
    {"1970-01-01T00:00:00.001Z", 1},
    {"2024-01-15T10:30:00.123Z", 1705314600123LL},
    {"2024-01-15t10:30:00.123z", 1705314600123LL},
    {"2024-01-15 10:30:00.123Z", 1705314600123LL},
    /* leap years: 2024 and 2000 (divisible by 400) have Feb 29 */
    {"2024-02-29T00:00:00Z", 1709164800000LL},
    {"2000-02-29T12:00:00Z", 951825600000LL},
    /* offsets */
    {"2024-01-15T10:30:00+05:30", 1705294800000LL},
    {"2024-01-15T10:30:00-08:00", 1705343400000LL},
    {"2024-01-15T10:30:00+00:00", 1705314600000LL},
    {"2024-01-15T10:30:00-00:00", 1705314600000LL},
    {"2024-03-01T00:30:00+01:00", 1709249400000LL}, /* UTC is Feb 29 */
    {"1999-12-31T23:59:59.5-00:30", 946686599500LL},
    {"2024-01-15T10:30:00.123+23:59", 1705314600123LL - 86340000LL},
    /* fractions of 1..9 digits: kept to ms, truncated */
    {"2024-01-15T10:30:00.1Z", 1705314600100LL},
    {"2024-01-15T10:30:00.12Z", 1705314600120LL},
    {"2024-01-15T10:30:00.123Z", 1705314600123LL},
    {"2024-01-15T10:30:00.1234Z", 1705314600123LL},
    {"2024-01-15T10:30:00.12345Z", 1705314600123LL},
    {"2024-01-15T10:30:00.123456Z", 1705314600123LL},
    {"2024-01-15T10:30:00.1234567Z", 1705314600123LL},
    {"2024-01-15T10:30:00.12345678Z", 1705314600123LL},
    {"2024-01-15T10:30:00.123456789Z", 1705314600123LL},
    {"2024-01-15T10:30:00.999999999Z", 1705314600999LL},
    {"2024-01-15T10:30:00.05+05:30", 1705294800050LL},
    /* before the epoch */
    {"1969-12-31T23:59:59.999Z", -1},
    {"1969-07-20T20:17:40Z", -14182940000LL},
    {"1900-01-01T00:00:00Z", -2208988800000LL},
    {"0001-01-01T00:00:00Z", -62135596800000LL},
    /* year 0000 (a leap year in the proleptic calendar) and 9999 */
    {"0000-01-01T00:00:00Z", -62167219200000LL},
    {"0000-02-29T00:00:00Z", -62162121600000LL},
    {"0000-03-01T00:00:00Z", -62162035200000LL},
    {"0000-12-31T23:59:59.999Z", -62135596800001LL},
    {"9999-12-31T23:59:59.999Z", 253402300799999LL},
    /* a leap second folds into the last ms of the previous second */
    {"2016-12-31T23:59:60Z", 1483228799999LL},
};

static const char *const invalid_cases[] = {
    "",
    "garbage",
    "Z",
    "2024",
    "2024-01-15",
    "2024-01-15T",
    "2024-01-15T10:30",
    "2024-01-15T10:30Z",
    "2024-01-15T10:30:00",          /* no zone */
    "2024-01-15T10:30:00.123",      /* no zone */
    "2024-01-15T10:30:00.Z",        /* empty fraction */
    "2024-01-15T10:30:00,123Z",     /* comma fraction */
    "2024-01-15T10:30:00Zjunk",     /* trailing chars */
    "2024-01-15T10:30:00Z ",        /* trailing blank */
    "2024-01-15T10:30:00+05:30x",
    " 2024-01-15T10:30:00Z",        /* leading blank */
    "2024-01-15X10:30:00Z",
    "2024/01/15T10:30:00Z",
    "2024-01-15T10-30-00Z",
    "24-01-15T10:30:00Z",
    "2024-1-15T10:30:00Z",
    "2024-01-5T10:30:00Z",
    "2024-01-15T1:30:00Z",
    "+2024-01-15T10:30:00Z",
    "-2024-01-15T10:30:00Z",
    "20240115T103000Z",
    "2024-01-15T10:30:00+0530",     /* offset without colon */
    "2024-01-15T10:30:00+05",
    "2024-01-15T10:30:00+5:30",
    "2024-01-15T10:30:00+24:00",    /* offset hour out of range */
    "2024-01-15T10:30:00+05:60",    /* offset minute out of range */
    "2024-01-15T10:30:00 Z",
    /* calendar ranges */
    "2023-02-29T00:00:00Z",         /* 2023 is not a leap year */
    "1900-02-29T00:00:00Z",         /* divisible by 100, not by 400 */
    "2100-02-29T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-04-31T00:00:00Z",
    "2024-06-31T00:00:00Z",
    "2024-09-31T00:00:00Z",
    "2024-11-31T00:00:00Z",
    "2024-01-32T00:00:00Z",
    "2024-01-00T00:00:00Z",
    "2024-00-15T00:00:00Z",
    "2024-13-15T00:00:00Z",
    "2024-01-15T24:00:00Z",
    "2024-01-15T10:60:00Z",
    "2024-01-15T10:30:61Z",
    "2024-01-15T10:30:99Z",
    "9999-12-31T23:59:59.999Q",
    "abcd-01-15T10:30:00Z",
};

static void test_parse_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(valid_cases); i++) {
        int64_t got = 42;
        int rc = ts_parse_rfc3339(valid_cases[i].text, &got);

        if (rc != 0 || got != valid_cases[i].epoch_ms)
            fail_msg("valid case %zu \"%s\": rc %d, got %" PRId64 ", want %" PRId64,
                     i, valid_cases[i].text, rc, got, valid_cases[i].epoch_ms);
    }
}

static void test_parse_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(invalid_cases); i++) {
        int64_t got = 42;
        int rc = ts_parse_rfc3339(invalid_cases[i], &got);

        if (rc != -1 || got != 42)
            fail_msg("invalid case %zu \"%s\": rc %d, got %" PRId64 " (want -1, untouched)",
                     i, invalid_cases[i], rc, got);
    }
}

static const struct {
    int64_t epoch_ms;
    const char *text;
} format_cases[] = {
    {0, "1970-01-01T00:00:00.000Z"},
    {1, "1970-01-01T00:00:00.001Z"},
    {1705314600123LL, "2024-01-15T10:30:00.123Z"},
    {1709164800000LL, "2024-02-29T00:00:00.000Z"},
    {951825600000LL, "2000-02-29T12:00:00.000Z"},
    /* negative epochs */
    {-1, "1969-12-31T23:59:59.999Z"},
    {-999, "1969-12-31T23:59:59.001Z"},
    {-1000, "1969-12-31T23:59:59.000Z"},
    {-1001, "1969-12-31T23:59:58.999Z"},
    {-86400000LL, "1969-12-31T00:00:00.000Z"},
    {-86400001LL, "1969-12-30T23:59:59.999Z"},
    {-14182940000LL, "1969-07-20T20:17:40.000Z"},
    {-2208988800000LL, "1900-01-01T00:00:00.000Z"},
    {-62135596800000LL, "0001-01-01T00:00:00.000Z"},
    {-62135596800001LL, "0000-12-31T23:59:59.999Z"},
    {-62162121600000LL, "0000-02-29T00:00:00.000Z"},
    /* range ends and clamping */
    {-62167219200000LL, "0000-01-01T00:00:00.000Z"},
    {-62167219200001LL, "0000-01-01T00:00:00.000Z"},
    {INT64_MIN, "0000-01-01T00:00:00.000Z"},
    {253402300799999LL, "9999-12-31T23:59:59.999Z"},
    {253402300800000LL, "9999-12-31T23:59:59.999Z"},
    {INT64_MAX, "9999-12-31T23:59:59.999Z"},
};

static void test_format(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(format_cases); i++) {
        char buf[TS_RFC3339_LEN];

        memset(buf, 'x', sizeof(buf));
        if (ts_format_rfc3339(format_cases[i].epoch_ms, buf) != buf ||
            strcmp(buf, format_cases[i].text) != 0)
            fail_msg("format case %zu (%" PRId64 "): got \"%.*s\", want \"%s\"", i,
                     format_cases[i].epoch_ms, (int)sizeof(buf), buf,
                     format_cases[i].text);
    }
}

/* Every in-range formatted value parses back to itself. */
static void test_round_trip_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(format_cases); i++) {
        int64_t ms = format_cases[i].epoch_ms;
        int64_t back = 0;
        char buf[TS_RFC3339_LEN];

        if (ms < -62167219200000LL || ms > 253402300799999LL)
            continue; /* clamped */
        ts_format_rfc3339(ms, buf);
        if (ts_parse_rfc3339(buf, &back) != 0 || back != ms)
            fail_msg("round trip %" PRId64 " -> \"%s\" -> %" PRId64, ms, buf, back);
    }
    for (size_t i = 0; i < N_ELEMS(valid_cases); i++) {
        char buf[TS_RFC3339_LEN];
        int64_t back = 0;

        ts_format_rfc3339(valid_cases[i].epoch_ms, buf);
        if (ts_parse_rfc3339(buf, &back) != 0 || back != valid_cases[i].epoch_ms)
            fail_msg("round trip of \"%s\" via \"%s\" gave %" PRId64,
                     valid_cases[i].text, buf, back);
    }
}

/* Sweeps years 0000..9999 with an odd stride, checking the formatter against
 * glibc's gmtime_r and that parse(format(x)) == x. */
static void test_round_trip_sweep(void **state)
{
    const int64_t lo = -62167219200000LL, hi = 253402300799999LL;
    const int64_t step = 3155760017LL; /* ~36.5 days, odd ms and time of day */
    (void)state;

    for (int64_t ms = lo; ms <= hi; ms += step) {
        char got[TS_RFC3339_LEN];
        char want[64];
        struct tm tm;
        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
        int64_t back = 0;

        if (gmtime_r(&secs, &tm) == NULL)
            fail_msg("gmtime_r failed for %" PRId64, ms);
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(ms - (int64_t)secs * 1000));
        ts_format_rfc3339(ms, got);
        if (strcmp(got, want) != 0)
            fail_msg("format %" PRId64 ": got \"%s\", gmtime_r says \"%s\"", ms, got,
                     want);
        if (ts_parse_rfc3339(got, &back) != 0 || back != ms)
            fail_msg("round trip %" PRId64 " -> \"%s\" -> %" PRId64, ms, got, back);
    }
}

static void test_clocks(void **state)
{
    int64_t now = ts_now_ms();
    int64_t m0 = ts_monotonic_us();
    int64_t m1, m2;
    (void)state;

    assert_true(now > 1704067200000LL); /* after 2024-01-01 */
    /* a deadline in the past returns at once */
    ts_sleep_until_us(m0 - 1000000, 1000);
    m1 = ts_monotonic_us();
    assert_true(m1 >= m0);
    assert_true(m1 - m0 < 500000);
    /* a far deadline is capped at max_ms */
    ts_sleep_until_us(m1 + 60000000, 20);
    m2 = ts_monotonic_us();
    assert_true(m2 - m1 >= 20000);
    assert_true(m2 - m1 < 5000000);
    assert_true(ts_monotonic_ms() >= m2 / 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip_table),
        cmocka_unit_test(test_round_trip_sweep),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
