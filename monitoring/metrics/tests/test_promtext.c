/*
 * test_promtext.c - the Prometheus text format reader (promtext.c) and the
 * sample sets it fills (sample.c): labels made canonical, escapes, special
 * values, timestamps, buckets left out, malformed lines counted and
 * skipped, and the lag rule of kafkamon.c.
 */
#include "kafkamon.h"
#include "promtext.h"
#include "sample.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char exposition[] =
    "# HELP ecom_stream_consumer_lag_messages lag\n"
    "# TYPE ecom_stream_consumer_lag_messages gauge\n"
    "ecom_stream_consumer_lag_messages{topic=\"user-events\",partition=\"0\"} 12\n"
    "ecom_stream_consumer_lag_messages{partition=\"1\",topic=\"user-events\"} 0\n"
    "\n"
    "ecom_stream_commit_latency_seconds_bucket{le=\"0.01\"} 3\n"
    "ecom_stream_commit_latency_seconds_bucket{le=\"+Inf\"} 4\n"
    "ecom_stream_commit_latency_seconds_sum 0.125\n"
    "ecom_stream_commit_latency_seconds_count 4\n"
    "weird{path=\"a\\\\b\",q=\"say \\\"hi\\\"\",nl=\"x\\ny\",} -Inf 1700000000000\n"
    "nan_metric NaN\r\n"
    "up 1e3";

static void test_parse(void **state)
{
    smp_set_t s;
    prom_stats_t st;

    (void)state;
    smp_init(&s);
    assert_int_equal(prom_parse(exposition, strlen(exposition), 0, &s, &st), 0);
    assert_int_equal(st.samples, 7);
    assert_int_equal(st.skipped, 2);
    assert_int_equal(st.bad_lines, 0);
    /* Label order does not matter: both are canonical. */
    assert_true(smp_get(&s, "ecom_stream_consumer_lag_messages", -1, 2, "topic", "user-events", "partition", "0") == 12);
    assert_true(smp_get(&s, "ecom_stream_consumer_lag_messages", -1, 2, "partition", "1", "topic", "user-events") == 0);
    assert_non_null(smp_find(&s, "ecom_stream_consumer_lag_messages", "{\"partition\":\"0\",\"topic\":\"user-events\"}"));
    assert_true(smp_get(&s, "ecom_stream_commit_latency_seconds_sum", -1, 0) == 0.125);
    assert_true(smp_get(&s, "ecom_stream_commit_latency_seconds_count", -1, 0) == 4);
    assert_true(isinf(smp_get(&s, "weird", 0, 3, "path", "a\\b", "q", "say \"hi\"", "nl", "x\ny")));
    assert_true(isnan(smp_get(&s, "nan_metric", 0, 0)));
    assert_true(smp_get(&s, "up", -1, 0) == 1000);
    assert_null(smp_find(&s, "ecom_stream_commit_latency_seconds_bucket", "{\"le\":\"0.01\"}"));

    smp_reset(&s);
    assert_int_equal(prom_parse(exposition, strlen(exposition), 1, &s, &st), 0);
    assert_int_equal(st.samples, 9);
    assert_true(smp_get(&s, "ecom_stream_commit_latency_seconds_bucket", -1, 1, "le", "+Inf") == 4);
    smp_free(&s);
}

static void test_malformed(void **state)
{
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"9lives 1", "expected a metric name"},
        {"m{a=1} 2", "expected a quoted label value"},
        {"m{a=\"1\" b=\"2\"} 2", "expected ',' or '}' after a label"},
        {"m{a\"1\"} 2", "expected '=' after a label name"},
        {"m{a=\"1} 2", "expected a quoted label value"},
        {"m{a=\"\\t\"} 2", "expected a quoted label value"},
        {"m", "expected a sample value"},
        {"m one", "expected a sample value"},
        {"m 1 2 3", "expected the end of the line"},
        {"m 1 later", "expected a timestamp"},
        {"m{__name__:x=\"1\"} 1", "expected '=' after a label name"},
    };
    char text[256];
    smp_set_t s;
    prom_stats_t st;

    (void)state;
    smp_init(&s);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int n = snprintf(text, sizeof(text), "ok 1\n%s\nok2 2\n", bad[i].line);
        smp_reset(&s);
        assert_int_equal(prom_parse(text, (size_t)n, 0, &s, &st), 0);
        assert_int_equal(st.bad_lines, 1);
        assert_int_equal(st.first_bad, 2);
        assert_string_equal(st.why, bad[i].why);
        assert_int_equal(st.samples, 2); /* the lines around it are kept */
        assert_true(smp_get(&s, "ok2", -1, 0) == 2);
    }
    /* Not the text format at all: nothing but bad lines. */
    smp_reset(&s);
    assert_int_equal(prom_parse("<html>\n<body>\n", 14, 0, &s, &st), 0);
    assert_int_equal(st.samples, 0);
    assert_int_equal(st.bad_lines, 2);
    smp_free(&s);
}

static void test_labels(void **state)
{
    const char *keys[] = {"topic", "group", "topic"}, *vals[] = {"a", "g\"1", "b"};
    char *l;
    smp_set_t s;

    (void)state;
    l = smp_labels(3, keys, vals);
    assert_string_equal(l, "{\"group\":\"g\\\"1\",\"topic\":\"b\"}");
    free(l);
    l = smp_labels(0, NULL, NULL);
    assert_string_equal(l, "{}");
    free(l);
    smp_init(&s);
    smp_add(&s, "x", NULL, 1);
    assert_non_null(smp_find(&s, "x", NULL));
    assert_non_null(smp_find(&s, "x", "{}"));
    assert_false(s.oom);
    smp_free(&s);
}

static void test_lag(void **state)
{
    (void)state;
    assert_int_equal(kmon_lag(100, 40), 60);
    assert_int_equal(kmon_lag(100, 100), 0);
    assert_int_equal(kmon_lag(100, 120), 0); /* a watermark older than the commit */
    assert_int_equal(kmon_lag(100, -1001), -1); /* no commit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_lag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
