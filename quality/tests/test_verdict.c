/*
 * test_verdict.c - ecom-quality's statuses and threshold flags
 * (quality/verdict.c): boundaries, missing values, parsing and refusals.
 */
#include "verdict.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_judge(void **state)
{
    verdict_limits_t lim = {0.01, 0.05};
    (void)state;

    assert_int_equal(verdict_judge(1, 0, lim), VERDICT_PASS);
    assert_int_equal(verdict_judge(1, 0.01, lim), VERDICT_PASS); /* at the limit: still pass */
    assert_int_equal(verdict_judge(1, 0.011, lim), VERDICT_WARN);
    assert_int_equal(verdict_judge(1, 0.05, lim), VERDICT_WARN);
    assert_int_equal(verdict_judge(1, 0.0501, lim), VERDICT_FAIL);
    assert_int_equal(verdict_judge(0, 0, lim), VERDICT_FAIL);     /* nothing observed */
    assert_int_equal(verdict_judge(1, NAN, lim), VERDICT_FAIL);
    /* warn 0: anything above zero warns; warn == fail: no warn band. */
    assert_int_equal(verdict_judge(1, 1e-9, (verdict_limits_t){0, 0.01}), VERDICT_WARN);
    assert_int_equal(verdict_judge(1, 1e-9, (verdict_limits_t){0, 0}), VERDICT_FAIL);
    assert_string_equal(verdict_name(VERDICT_WARN), "warn");
}

static void test_parse(void **state)
{
    verdict_limits_t lim = {0, 0};
    char err[128];
    (void)state;

    assert_int_equal(verdict_parse_limits("0.02,0.1", &lim, err, sizeof(err)), 0);
    assert_true(lim.warn == 0.02 && lim.fail == 0.1);
    assert_int_equal(verdict_parse_limits("300", &lim, err, sizeof(err)), 0);
    assert_true(lim.warn == 300 && lim.fail == 300);
    assert_int_equal(verdict_parse_limits("0.1,0.02", &lim, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "below WARN"));
    assert_int_equal(verdict_parse_limits("-1", &lim, err, sizeof(err)), -1);
    assert_int_equal(verdict_parse_limits("abc", &lim, err, sizeof(err)), -1);
    assert_int_equal(verdict_parse_limits("", &lim, err, sizeof(err)), -1);
    assert_int_equal(verdict_parse_limits("1,", &lim, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
