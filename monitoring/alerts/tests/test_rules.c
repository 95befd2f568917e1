/*
 * test_rules.c - ecom-alerts' rule file (rules.c): the shipped
 * monitoring/alerts/rules.conf, defaults, and each mistake refused with
 * its line.
 */
#include "rules.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_shipped(void **state)
{
    rules_t r;
    char err[256] = "";

    (void)state;
    assert_int_equal(rules_load(ECOM_SOURCE_DIR "/monitoring/alerts/rules.conf", &r, err, sizeof(err)), 0);
    assert_int_equal(r.n, 8);
    assert_string_equal(r.v[0].name, "consumer_lag_high");
    assert_int_equal(r.v[0].kind, RULE_CONSUMER_LAG);
    assert_true(r.v[0].threshold == 1000);
    assert_int_equal(r.v[0].for_ms, 30000);
    assert_int_equal(r.v[0].repeat_ms, 900000);
    assert_string_equal(r.v[0].labels, "{\"service\":\"ecom-stream\",\"team\":\"data\"}");
    /* Every kind is shipped once. */
    for (int k = 0; k < RULE_KINDS; k++) {
        int n = 0;
        for (int i = 0; i < r.n; i++)
            n += r.v[i].kind == (rule_kind_t)k;
        assert_int_equal(n, 1);
    }
}

static void test_defaults(void **state)
{
    rules_t r;
    char err[256];

    (void)state;
    assert_int_equal(rules_parse("[rule x]\nkind = fraud\n", "t", &r, err, sizeof(err)), 0);
    assert_int_equal(r.v[0].for_ms, 0);
    assert_int_equal(r.v[0].repeat_ms, 3600000);
    assert_int_equal(r.v[0].window_ms, 600000);
    assert_string_equal(r.v[0].severity, "warning");
    assert_string_equal(r.v[0].labels, "{}");
}

static void test_environment(void **state)
{
    const char *text = "[rule x]\nkind = stream_down\nurl = ${ECOM_TEST_URL:-http://127.0.0.1:1/health}\n";
    rules_t r;
    char err[256];

    (void)state;
    unsetenv("ECOM_TEST_URL");
    assert_int_equal(rules_parse(text, "t", &r, err, sizeof(err)), 0);
    assert_string_equal(r.v[0].url, "http://127.0.0.1:1/health");
    setenv("ECOM_TEST_URL", "http://stream:9101/health", 1);
    assert_int_equal(rules_parse(text, "t", &r, err, sizeof(err)), 0);
    assert_string_equal(r.v[0].url, "http://stream:9101/health");
    unsetenv("ECOM_TEST_URL");
}

static void test_refused(void **state)
{
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"kind = fraud\n", "t:1: \"kind\" comes before any [rule]"},
        {"[rule x]\n", "t:1: rule \"x\" has no kind"},
        {"[rule x]\nkind = fraud\n[rule x]\nkind = fraud\n", "t:3: rule \"x\" is defined twice"},
        {"[rule x]\nkind = nope\n", "t:2: rule \"x\": kind: unknown"},
        {"[rule x]\nkind = fraud\nfor = soon\n", "t:3: rule \"x\": for: a duration"},
        {"[rule x]\nkind = fraud\nrepeat = 0s\n", "t:3: rule \"x\": repeat: a duration of at least 1s"},
        {"[rule x]\nkind = fraud\nthreshold = -1\n", "t:3: rule \"x\": threshold: a number >= 0"},
        {"[rule x]\nkind = fraud\nseverity = loud\n", "t:3: rule \"x\": severity"},
        {"[rule x]\nkind = fraud\nlabels = team\n", "t:3: rule \"x\": labels: expected NAME=VALUE"},
        {"[rule x]\nkind = fraud\nlabels = a-b=1\n", "t:3: rule \"x\": labels: a label name"},
        {"[rule x]\nkind = stream_down\nurl = ftp://x\n", "t:3: rule \"x\": url"},
        {"[rule x]\nkind = fraud\ncolour = red\n", "t:3: rule \"x\": unknown key"},
        {"[rule x\n", "t:1: a section header must end with ]"},
        {"[alert x]\n", "t:1: expected [rule NAME]"},
        {"[rule x]\nkind fraud\n", "t:2: expected KEY = VALUE"},
    };
    rules_t r;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(rules_parse(bad[i].text, "t", &r, err, sizeof(err)), -1);
        if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
            fail_msg("case %zu: got \"%s\", expected \"%s...\"", i, err, bad[i].err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
