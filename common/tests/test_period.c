/*
 * test_period.c - the batch jobs' calendar (common/period.c): what --for,
 * --from and --to accept and refuse, the periods a span covers across
 * month, year and ISO-week boundaries, the default period, and labels.
 * Times are numbers; no clock is read.
 */
#include "period.h"
#include "ts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static int64_t at(const char *rfc3339)
{
    int64_t t;
    assert_int_equal(ts_parse_rfc3339(rfc3339, &t), 0);
    return t;
}

static void expect_span(const char *spec, const char *lo, const char *hi)
{
    int64_t a, b;
    char err[256] = "";

    if (period_parse(spec, &a, &b, err, sizeof(err)) != 0)
        fail_msg("%s refused: %s", spec, err);
    assert_int_equal(a, at(lo));
    assert_int_equal(b, at(hi));
}

static void expect_refused(const char *spec, const char *why)
{
    int64_t a = 0, b = 0;
    char err[256] = "";

    assert_int_equal(period_parse(spec, &a, &b, err, sizeof(err)), -1);
    if (strstr(err, why) == NULL)
        fail_msg("%s: expected \"%s\" in \"%s\"", spec, why, err);
}

static void test_parse_units(void **state)
{
    (void)state;
    expect_span("2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z");
    expect_span("2024-02", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z");
    expect_span("2026-12-01", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z");
    expect_span("2026-12-01T10", "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z");
    expect_span("2026-12-01 23Z", "2026-12-01T23:00:00Z", "2026-12-02T00:00:00Z");
    expect_span("2026-12-01T10:30", "2026-12-01T10:30:00Z", "2026-12-01T10:30:00.001Z");
    expect_span("2026-12-01T10:30:15+02:00", "2026-12-01T08:30:15Z", "2026-12-01T08:30:15.001Z");
    /* ISO weeks: 2026-W01 starts Monday 2025-12-29; 2020 and 2026 have 53. */
    expect_span("2026-W01", "2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z");
    expect_span("2026-W49", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z");
    expect_span("2020-W53", "2020-12-28T00:00:00Z", "2021-01-04T00:00:00Z");
    expect_span("2026-W53", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z");
}

static void test_parse_refusals(void **state)
{
    (void)state;
    expect_refused("2026-13", "month 13");
    expect_refused("2026-02-30", "day 30");
    expect_refused("2025-02-29", "day 29");
    expect_refused("2027-W53", "ISO week 53"); /* 2027 has 52 */
    expect_refused("2026-W00", "ISO week 0");
    expect_refused("2026-12-01T24", "hour 24");
    expect_refused("1999-12-31", "year 1999");
    expect_refused("2300-01", "year 2300");
    expect_refused("yesterday", "not a period");
    expect_refused("2026-12-01X10", "expected T");
    expect_refused("2026-12-01T10:61", "not a timestamp");
    expect_refused("", "not a period");
}

static void test_floor_next_prev(void **state)
{
    int64_t t = at("2026-12-31T23:59:59.999Z");
    (void)state;

    assert_int_equal(period_floor(PERIOD_HOUR, t), at("2026-12-31T23:00:00Z"));
    assert_int_equal(period_floor(PERIOD_DAY, t), at("2026-12-31T00:00:00Z"));
    assert_int_equal(period_floor(PERIOD_WEEK, t), at("2026-12-28T00:00:00Z")); /* a Monday */
    assert_int_equal(period_floor(PERIOD_MONTH, t), at("2026-12-01T00:00:00Z"));
    assert_int_equal(period_next(PERIOD_MONTH, at("2026-12-01T00:00:00Z")), at("2027-01-01T00:00:00Z"));
    assert_int_equal(period_prev(PERIOD_MONTH, at("2026-01-01T00:00:00Z")), at("2025-12-01T00:00:00Z"));
    assert_int_equal(period_prev(PERIOD_MONTH, at("2024-03-01T00:00:00Z")), at("2024-02-01T00:00:00Z"));
    assert_int_equal(period_next(PERIOD_WEEK, at("2026-12-28T00:00:00Z")), at("2027-01-04T00:00:00Z"));
    /* Every day from 2000 to 2199 maps back to itself. */
    for (int64_t d = period_days_from_civil(2000, 1, 1); d < period_days_from_civil(2200, 1, 1); d++) {
        int y, m, dd;
        period_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(period_days_from_civil(y, m, dd), d);
    }
}

static void test_ranges(void **state)
{
    int64_t lo, hi, first, last;
    char err[256];
    (void)state;

    /* hourly-sales --for 2026-12-01: 24 hours. */
    assert_int_equal(period_parse("2026-12-01", &lo, &hi, err, sizeof(err)), 0);
    assert_int_equal(period_range(PERIOD_HOUR, lo, hi, &first, &last, err, sizeof(err)), 0);
    assert_int_equal(first, at("2026-12-01T00:00:00Z"));
    assert_int_equal(last, at("2026-12-01T23:00:00Z"));
    assert_int_equal(period_count(PERIOD_HOUR, first, last), 24);
    /* monthly-cohorts --for 2026-12-01T10: December. */
    assert_int_equal(period_parse("2026-12-01T10", &lo, &hi, err, sizeof(err)), 0);
    assert_int_equal(period_range(PERIOD_MONTH, lo, hi, &first, &last, err, sizeof(err)), 0);
    assert_int_equal(first, at("2026-12-01T00:00:00Z"));
    assert_int_equal(last, first);
    /* Weeks overlapping a month: December 2026 touches 5 ISO weeks. */
    assert_int_equal(period_parse("2026-12", &lo, &hi, err, sizeof(err)), 0);
    assert_int_equal(period_range(PERIOD_WEEK, lo, hi, &first, &last, err, sizeof(err)), 0);
    assert_int_equal(first, at("2026-11-30T00:00:00Z"));
    assert_int_equal(last, at("2026-12-28T00:00:00Z"));
    assert_int_equal(period_count(PERIOD_WEEK, first, last), 5);
    /* Months across a year. */
    assert_int_equal(period_count(PERIOD_MONTH, at("2025-11-01T00:00:00Z"), at("2026-02-01T00:00:00Z")), 4);
    /* Reversed and too long. */
    assert_int_equal(period_range(PERIOD_DAY, at("2026-12-02T00:00:00Z"), at("2026-12-01T00:00:00Z"),
                                  &first, &last, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "reversed"));
    assert_int_equal(period_range(PERIOD_MONTH, at("2016-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"),
                                  &first, &last, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "split the backfill"));
    assert_int_equal(period_range(PERIOD_DAY, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"),
                                  &first, &last, err, sizeof(err)), 0);
}

static void test_last_completed_and_labels(void **state)
{
    int64_t now = at("2026-12-01T00:20:00Z"); /* a Tuesday */
    char buf[PERIOD_LABEL_LEN];
    (void)state;

    assert_string_equal(period_label(PERIOD_HOUR, period_last_completed(PERIOD_HOUR, now), buf), "2026-11-30T23");
    assert_string_equal(period_label(PERIOD_DAY, period_last_completed(PERIOD_DAY, now), buf), "2026-11-30");
    assert_string_equal(period_label(PERIOD_WEEK, period_last_completed(PERIOD_WEEK, now), buf), "2026-W48");
    assert_string_equal(period_label(PERIOD_MONTH, period_last_completed(PERIOD_MONTH, now), buf), "2026-11");
    /* The ISO year of a week is its Thursday's. */
    assert_string_equal(period_label(PERIOD_WEEK, at("2025-12-29T00:00:00Z"), buf), "2026-W01");
    assert_string_equal(period_label(PERIOD_WEEK, at("2021-01-01T00:00:00Z") - 4 * PERIOD_DAY_MS, buf), "2020-W53");
    assert_string_equal(period_kind_name(PERIOD_WEEK), "week");
}

static void test_span_of_flags(void **state)
{
    int64_t lo = 0, hi = 0;
    char err[256];
    (void)state;

    assert_int_equal(period_span_of_flags(NULL, NULL, NULL, &lo, &hi, err, sizeof(err)), 1);
    assert_int_equal(period_span_of_flags("2026-11", NULL, NULL, &lo, &hi, err, sizeof(err)), 0);
    assert_int_equal(lo, at("2026-11-01T00:00:00Z"));
    assert_int_equal(hi, at("2026-12-01T00:00:00Z"));
    /* From the start of FROM to the end of TO. */
    assert_int_equal(period_span_of_flags(NULL, "2026-11-30", "2026-12-01T05", &lo, &hi, err, sizeof(err)), 0);
    assert_int_equal(lo, at("2026-11-30T00:00:00Z"));
    assert_int_equal(hi, at("2026-12-01T06:00:00Z"));
    assert_int_equal(period_span_of_flags("2026-11", "2026-11", NULL, &lo, &hi, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot be combined"));
    assert_int_equal(period_span_of_flags(NULL, "2026-11", NULL, &lo, &hi, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "go together"));
    assert_int_equal(period_span_of_flags(NULL, "2026-12-02", "2026-12-01", &lo, &hi, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is before --from"));
    assert_int_equal(period_span_of_flags(NULL, "2026-12-02", "2026-13", &lo, &hi, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "option --to: month 13"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_units),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_floor_next_prev),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_last_completed_and_labels),
        cmocka_unit_test(test_span_of_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
