/*
 * test_cron.c - ecom-scheduler's cron expressions (scheduler/cron.c): a
 * table of expressions and instants with their next fire times (month
 * ends, leap days, steps, names, the day-of-month / day-of-week OR), the
 * presets, and the refusals with their messages. Times are numbers.
 */
#include "cron.h"
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

static const struct {
    const char *expr, *after, *next;
} table[] = {
    {"* * * * *", "2026-12-01T10:00:00Z", "2026-12-01T10:01:00Z"},
    {"* * * * *", "2026-12-01T10:00:30.5Z", "2026-12-01T10:01:00Z"},
    {"*/15 * * * *", "2026-12-01T10:14:59Z", "2026-12-01T10:15:00Z"},
    {"*/15 * * * *", "2026-12-01T10:45:00Z", "2026-12-01T11:00:00Z"},
    {"5 0 * * *", "2026-12-31T23:59:00Z", "2027-01-01T00:05:00Z"},
    {"0 0 31 * *", "2026-11-01T00:00:00Z", "2026-12-31T00:00:00Z"}, /* November has 30 */
    {"0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"}, /* the next leap day */
    {"0 12 * * MON-FRI", "2026-12-04T12:00:00Z", "2026-12-07T12:00:00Z"}, /* Friday -> Monday */
    {"0 12 * * 0", "2026-12-01T00:00:00Z", "2026-12-06T12:00:00Z"},       /* Sunday as 0 */
    {"0 12 * * 7", "2026-12-01T00:00:00Z", "2026-12-06T12:00:00Z"},       /* and as 7 */
    {"0 0 1 jan,jul *", "2026-02-01T00:00:00Z", "2026-07-01T00:00:00Z"},
    {"0 0 13 * FRI", "2026-12-01T00:00:00Z", "2026-12-04T00:00:00Z"}, /* OR: Friday the 4th first */
    {"0 0 13 * *", "2026-12-01T00:00:00Z", "2026-12-13T00:00:00Z"},
    {"30 2-4/2 * * *", "2026-12-01T02:30:00Z", "2026-12-01T04:30:00Z"},
    {"10/20 * * * *", "2026-12-01T10:31:00Z", "2026-12-01T10:50:00Z"},
    {"0,30 9-17 * * *", "2026-12-01T17:30:00Z", "2026-12-02T09:00:00Z"},
    {"0 0 * DEC SUN", "2026-12-28T00:00:00Z", "2027-12-05T00:00:00Z"},
    {"@hourly", "2026-12-01T10:59:59Z", "2026-12-01T11:00:00Z"},
    {"@daily", "2026-12-01T10:00:00Z", "2026-12-02T00:00:00Z"},
    {"@weekly", "2026-12-01T10:00:00Z", "2026-12-06T00:00:00Z"}, /* Sunday midnight */
    {"@monthly", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
    {"@yearly", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
};

static void test_next_fire_times(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        cron_t c;
        char err[160] = "", got[TS_RFC3339_LEN];
        int64_t next;

        if (cron_parse(table[i].expr, &c, err, sizeof(err)) != 0)
            fail_msg("\"%s\" refused: %s", table[i].expr, err);
        next = cron_next(&c, at(table[i].after));
        if (next != at(table[i].next))
            fail_msg("\"%s\" after %s: expected %s, got %s", table[i].expr, table[i].after,
                     table[i].next, next < 0 ? "never" : ts_format_rfc3339(next, got));
    }
}

static void test_once_and_none(void **state)
{
    cron_t c;
    char err[160];
    (void)state;

    assert_int_equal(cron_parse("@once", &c, err, sizeof(err)), 0);
    assert_int_equal(c.kind, CRON_ONCE);
    assert_int_equal(cron_next(&c, 0), -1);
    assert_int_equal(cron_parse("none", &c, err, sizeof(err)), 0);
    assert_int_equal(c.kind, CRON_NONE);
}

static void expect_refused(const char *expr, const char *why)
{
    cron_t c;
    char err[160] = "";

    assert_int_equal(cron_parse(expr, &c, err, sizeof(err)), -1);
    if (strstr(err, why) == NULL)
        fail_msg("\"%s\": expected \"%s\" in \"%s\"", expr, why, err);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_refused("61 * * * *", "minute field \"61\": 61 is out of range 0-59");
    expect_refused("* 24 * * *", "hour field \"24\"");
    expect_refused("* * 0 * *", "day-of-month field \"0\": 0 is out of range 1-31");
    expect_refused("* * * 13 *", "month field");
    expect_refused("* * * * 8", "day-of-week field");
    expect_refused("* * * foo *", "expected a number, a name or *");
    expect_refused("5-1 * * * *", "the range is reversed");
    expect_refused("*/0 * * * *", "bad step");
    expect_refused("1,,2 * * * *", "expected a number");
    expect_refused("* * * *", "4 fields");
    expect_refused("* * * * * *", "more than five fields");
    expect_refused("@fortnightly", "unknown preset");
    expect_refused("0 0 30 2 *", "never fires");
    expect_refused("0 0 31 4,6,9,11 *", "never fires");
    expect_refused("", "0 fields");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_fire_times),
        cmocka_unit_test(test_once_and_none),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
