/*
 * test_metrics.c - unit tests for common/metrics.c: the exact text of a small
 * registry of each type, number formatting, label formatting and escaping
 * (tables), rejected names, labels and bounds, repeated lookups, the collect
 * callback, concurrent updates from four threads while rendering, quantile
 * estimates on known data, and the process_* metrics.
 * Rejections log one ERROR line each on stderr; that is expected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define PROCESS_HELP "# HELP process_resident_memory_bytes"

/* Renders m and cuts the text before the process_* families. */
static char *render_own(metrics_t *m)
{
    size_t len = 0;
    char *text = metrics_render(m, &len);
    char *cut;

    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    cut = strstr(text, PROCESS_HELP);
    assert_non_null(cut);
    *cut = '\0';
    return text;
}

static void test_render_each_type(void **state)
{
    static const double bounds[] = {0.25, 0.5, 1, 2.5};
    static const char *const want =
        "# HELP ecom_test_events_total Events consumed.\n"
        "# TYPE ecom_test_events_total counter\n"
        "ecom_test_events_total{topic=\"user-events\",partition=\"0\"} 42\n"
        "ecom_test_events_total{topic=\"orders\",partition=\"11\"} 7\n"
        "# HELP ecom_test_lag_seconds Consumer lag.\n"
        "# TYPE ecom_test_lag_seconds gauge\n"
        "ecom_test_lag_seconds 1.5\n"
        "# HELP ecom_test_latency_seconds Processing latency.\n"
        "# TYPE ecom_test_latency_seconds histogram\n"
        "ecom_test_latency_seconds_bucket{stage=\"enrich\",le=\"0.25\"} 1\n"
        "ecom_test_latency_seconds_bucket{stage=\"enrich\",le=\"0.5\"} 3\n"
        "ecom_test_latency_seconds_bucket{stage=\"enrich\",le=\"1\"} 3\n"
        "ecom_test_latency_seconds_bucket{stage=\"enrich\",le=\"2.5\"} 3\n"
        "ecom_test_latency_seconds_bucket{stage=\"enrich\",le=\"+Inf\"} 4\n"
        "ecom_test_latency_seconds_sum{stage=\"enrich\"} 4.875\n"
        "ecom_test_latency_seconds_count{stage=\"enrich\"} 4\n"
        "# HELP ecom_test_batch_rows Rows per batch.\\nOne line\\\\two \"q\".\n"
        "# TYPE ecom_test_batch_rows histogram\n"
        "ecom_test_batch_rows_bucket{le=\"0.25\"} 0\n"
        "ecom_test_batch_rows_bucket{le=\"0.5\"} 0\n"
        "ecom_test_batch_rows_bucket{le=\"1\"} 1\n"
        "ecom_test_batch_rows_bucket{le=\"2.5\"} 1\n"
        "ecom_test_batch_rows_bucket{le=\"+Inf\"} 1\n"
        "ecom_test_batch_rows_sum 1\n"
        "ecom_test_batch_rows_count 1\n";
    metrics_t *m = metrics_new("ecom_test");
    metrics_histogram_t *h;
    char *text;

    (void)state;
    assert_non_null(m);
    metrics_counter_add(metrics_counter(m, "events_total", "Events consumed.",
                                        "topic=\"%s\",partition=\"%d\"",
                                        "user-events", 0),
                        42);
    metrics_counter_add(metrics_counter(m, "events_total", "ignored help",
                                        "topic=\"%s\",partition=\"%d\"",
                                        "orders", 11),
                        7);
    metrics_gauge_set(
        metrics_gauge(m, "lag_seconds", "Consumer lag.", METRICS_NO_LABELS),
        1.5);
    h = metrics_histogram(m, "latency_seconds", "Processing latency.", bounds,
                          N_ELEMS(bounds), "stage=\"%s\"", "enrich");
    metrics_histogram_observe(h, 0.125);
    metrics_histogram_observe(h, 0.375);
    metrics_histogram_observe(h, 0.5); /* on a bound: le is inclusive */
    metrics_histogram_observe(h, 3.875);
    metrics_histogram_observe(
        metrics_histogram(m, "batch_rows",
                          "Rows per batch.\nOne line\\two \"q\".", bounds,
                          N_ELEMS(bounds), METRICS_NO_LABELS),
        1);

    text = render_own(m);
    assert_string_equal(text, want);
    free(text);
    metrics_destroy(m);
}

static void test_number_format(void **state)
{
    static const struct {
        double value;
        const char *want;
    } cases[] = {
        {0, "0"},
        {0.1, "0.1"},
        {-2, "-2"},
        {123456789, "123456789"},
        {1e21, "1e+21"},
        {1.0 / 3, "0.3333333333333333"},
        {2.5e-7, "2.5e-07"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    metrics_t *m = metrics_new("n");
    metrics_gauge_t *g = metrics_gauge(m, "g", "h", METRICS_NO_LABELS);

    (void)state;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        char want[128];
        char *text;

        metrics_gauge_set(g, cases[i].value);
        snprintf(want, sizeof(want), "\nn_g %s\n", cases[i].want);
        text = render_own(m);
        if (strstr(text, want) == NULL)
            fail_msg("case %zu: \"%s\" not in:\n%s", i, want, text);
        free(text);
    }
    metrics_destroy(m);
}

/* A label value and the line it must render as (gauge "esc", no prefix). */
static const struct {
    const char *value;
    const char *want;
} escape_cases[] = {
    {"plain", "esc{v=\"plain\"} 0\n"},
    {"", "esc{v=\"\"} 0\n"},
    {"a\"b", "esc{v=\"a\\\"b\"} 0\n"},
    {"back\\slash", "esc{v=\"back\\\\slash\"} 0\n"},
    {"two\nlines", "esc{v=\"two\\nlines\"} 0\n"},
    {"\"},x=\"y", "esc{v=\"\\\"},x=\\\"y\"} 0\n"},
    {"%d not a format", "esc{v=\"%d not a format\"} 0\n"},
    {"ünïcode", "esc{v=\"ünïcode\"} 0\n"},
};

static void test_label_escaping(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(escape_cases); i++) {
        metrics_t *m = metrics_new(NULL);
        char *text;

        assert_non_null(
            metrics_gauge(m, "esc", "h", "v=\"%s\"", escape_cases[i].value));
        text = render_own(m);
        if (strstr(text, escape_cases[i].want) == NULL)
            fail_msg("case %zu: \"%s\" not in:\n%s", i, escape_cases[i].want,
                     text);
        free(text);
        metrics_destroy(m);
    }
}

static void test_label_conversions(void **state)
{
    metrics_t *m = metrics_new(NULL);
    char *text;

    (void)state;
    assert_non_null(metrics_counter(
        m, "conv_total", "h",
        "i=\"%d\",l=\"%ld\",ll=\"%lld\",u=\"%u\",z=\"%zu\",x=\"%#x\",o=\"%o\","
        "c=\"%c\",f=\"%.2f\",g=\"%g\",w=\"%-4s|\",p=\"100%%\"",
        -1, 2L, -3LL, 4u, (size_t)5, 255u, 8u, 'q', 3.14159, 0.5, "ab"));
    /* A conversion outside quotes inserts pre-built label text as is, and a
     * literal backslash escape in the format is kept. */
    assert_non_null(metrics_counter(m, "prebuilt_total", "h",
                                    "%s,lit=\"a\\\"b\"", "topic=\"x\""));
    text = render_own(m);
    assert_non_null(strstr(
        text,
        "conv_total{i=\"-1\",l=\"2\",ll=\"-3\",u=\"4\",z=\"5\",x=\"0xff\","
        "o=\"10\",c=\"q\",f=\"3.14\",g=\"0.5\",w=\"ab  |\",p=\"100%\"} 0\n"));
    assert_non_null(
        strstr(text, "prebuilt_total{topic=\"x\",lit=\"a\\\"b\"} 0\n"));
    free(text);
    metrics_destroy(m);
}

static void test_rejected(void **state)
{
    static const char *const bad_names[] = {"", "1abc", "has-dash", "sp ace",
                                            "é"};
    static const char *const bad_labels[] = {
        "topic=x",
        "1a=\"x\"",
        "a=\"x\"b",
        "a=\"x\",",
        "a",
        "=\"x\"",
        "a=\"unterminated",
        "a=\"raw\nnewline\"",
        "a=\"bad\\escape\"",
        "a=\"x\",,b=\"y\"",
    };
    static const double increasing[] = {1, 2, 3};
    static const double flat[] = {1, 1, 2};
    static const double nan_bound[] = {1, NAN};
    static const double inf_bound[] = {1, INFINITY};
    metrics_t *m = metrics_new("r");

    (void)state;
    assert_null(metrics_new("bad-prefix"));
    for (size_t i = 0; i < N_ELEMS(bad_names); i++)
        assert_null(metrics_counter(m, bad_names[i], "h", METRICS_NO_LABELS));
    assert_null(metrics_counter(m, NULL, "h", METRICS_NO_LABELS));
    for (size_t i = 0; i < N_ELEMS(bad_labels); i++)
        if (metrics_gauge(m, "g", "h", "%s", bad_labels[i]) != NULL)
            fail_msg("labels \"%s\" were accepted", bad_labels[i]);
    assert_null(metrics_gauge(m, "g", "h", "a=\"%*d\"", 3, 1)); /* no '*' */
    assert_null(metrics_gauge(m, "g", "h", "a=\"%Lf\"", 1.0L));
    assert_null(metrics_gauge(m, "g", "h", "a=\"%ls\"", L"wide"));

    assert_null(metrics_histogram(m, "h1", "h", flat, N_ELEMS(flat), NULL));
    assert_null(metrics_histogram(m, "h2", "h", nan_bound, 2, NULL));
    assert_null(metrics_histogram(m, "h3", "h", inf_bound, 2, NULL));
    assert_null(metrics_histogram(m, "h4", "h", NULL, 2, NULL));
    assert_null(metrics_histogram(m, "h5", "h", increasing, 3, "le=\"1\""));
    assert_null(
        metrics_histogram(m, "h5", "h", increasing, 3, "a=\"b\",le=\"1\""));
    assert_non_null(
        metrics_histogram(m, "h5", "h", increasing, 3, "ale=\"1\""));
    assert_non_null(metrics_gauge(m, "not_a_histogram", "h", "le=\"1\""));

    /* One name, one type, one set of buckets. */
    assert_non_null(metrics_counter(m, "taken", "h", NULL));
    assert_null(metrics_gauge(m, "taken", "h", NULL));
    assert_null(metrics_histogram(m, "taken", "h", increasing, 3, NULL));
    assert_non_null(metrics_histogram(m, "hist", "h", increasing, 3, NULL));
    assert_null(metrics_histogram(m, "hist", "h", increasing, 2, "a=\"b\""));
    assert_non_null(
        metrics_histogram(m, "hist", "h", increasing, 3, "a=\"b\""));

    /* Failed lookups return NULL, which the update functions ignore. */
    metrics_counter_add(NULL, 1);
    metrics_counter_inc(NULL);
    metrics_gauge_set(NULL, 1);
    metrics_gauge_add(NULL, 1);
    metrics_histogram_observe(NULL, 1);
    assert_int_equal(metrics_counter_value(NULL), 0);
    assert_true(isnan(metrics_gauge_value(NULL)));
    assert_true(isnan(metrics_histogram_quantile(NULL, 0.5)));
    assert_null(metrics_counter(NULL, "x", "h", NULL));
    assert_null(metrics_render(NULL, NULL));
    metrics_destroy(NULL);
    metrics_destroy(m);
}

static void test_repeated_lookup(void **state)
{
    metrics_t *m = metrics_new("ecom_stream");
    metrics_counter_t *a, *b, *c, *d;
    char *text;

    (void)state;
    a = metrics_counter(m, "msgs_total", "Messages.", "topic=\"%s\"", "t1");
    b = metrics_counter(m, "msgs_total", "Other help.", "topic=\"%s\"", "t1");
    c = metrics_counter(m, "msgs_total", "Messages.", "topic=\"t1\"");
    d = metrics_counter(m, "msgs_total", "Messages.", "topic=\"%s\"", "t2");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_equal(a, c);
    assert_ptr_not_equal(a, d);
    metrics_counter_inc(a);
    metrics_counter_add(b, 2);
    assert_int_equal(metrics_counter_value(c), 3);
    assert_int_equal(metrics_counter_value(d), 0);
    assert_ptr_equal(metrics_gauge(m, "up", "Up.", NULL),
                     metrics_gauge(m, "up", "Up.", "%s", ""));

    text = render_own(m);
    assert_string_equal(text, "# HELP ecom_stream_msgs_total Messages.\n"
                              "# TYPE ecom_stream_msgs_total counter\n"
                              "ecom_stream_msgs_total{topic=\"t1\"} 3\n"
                              "ecom_stream_msgs_total{topic=\"t2\"} 0\n"
                              "# HELP ecom_stream_up Up.\n"
                              "# TYPE ecom_stream_up gauge\n"
                              "ecom_stream_up 0\n");
    free(text);
    metrics_destroy(m);
}

static void test_gauge_ops(void **state)
{
    metrics_t *m = metrics_new(NULL);
    metrics_gauge_t *g = metrics_gauge(m, "inflight", "h", NULL);

    (void)state;
    assert_true(metrics_gauge_value(g) == 0.0);
    metrics_gauge_add(g, 2.5);
    metrics_gauge_add(g, -4);
    assert_true(metrics_gauge_value(g) == -1.5);
    metrics_gauge_set(g, 7);
    assert_true(metrics_gauge_value(g) == 7.0);
    metrics_destroy(m);
}

struct collect_state {
    int calls;
};

/* Runs inside metrics_render(): looks a gauge up and sets it. */
static void collect(metrics_t *m, void *arg)
{
    struct collect_state *st = arg;

    st->calls++;
    metrics_gauge_set(
        metrics_gauge(m, "lag_messages", "Lag.", "partition=\"%d\"", 3),
        100.0 * st->calls);
}

static void test_collect_callback(void **state)
{
    struct collect_state st = {0};
    metrics_t *m = metrics_new("c");
    char *text;

    (void)state;
    metrics_set_collect_cb(m, collect, &st);
    free(render_own(m));
    text = render_own(m);
    assert_int_equal(st.calls, 2);
    assert_non_null(strstr(text, "c_lag_messages{partition=\"3\"} 200\n"));
    free(text);
    metrics_set_collect_cb(m, NULL, NULL);
    free(render_own(m));
    assert_int_equal(st.calls, 2);
    metrics_destroy(m);
}

#define THREADS 4
#define ITERATIONS 100000

struct worker {
    metrics_t *m;
    int id;
};

/* Half the updates go through a cached pointer, half through a fresh lookup,
 * so registration races with updates and with the renderer. */
static void *worker_main(void *arg)
{
    static const double bounds[] = {1, 2};
    struct worker *w = arg;
    metrics_counter_t *c = metrics_counter(w->m, "ops_total", "h", NULL);
    metrics_gauge_t *g = metrics_gauge(w->m, "level", "h", NULL);
    metrics_histogram_t *h =
        metrics_histogram(w->m, "sizes", "h", bounds, 2, NULL);

    for (int i = 0; i < ITERATIONS; i++) {
        if (i % 2 == 0)
            metrics_counter_inc(c);
        else
            metrics_counter_inc(metrics_counter(w->m, "ops_total", "h", NULL));
        metrics_gauge_add(g, 1.0);
        metrics_histogram_observe(h, i % 3); /* 0, 1, 2: exact sums */
        if (i % 10000 == 0)
            metrics_counter_inc(metrics_counter(w->m, "per_thread_total", "h",
                                                "t=\"%d\"", w->id));
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    static const double bounds[] = {1, 2};
    metrics_t *m = metrics_new("conc");
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    uint64_t per_thread = 0;
    metrics_histogram_t *h;

    (void)state;
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){m, i};
        assert_int_equal(
            pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < 20; i++) /* render while they run */
        free(metrics_render(m, NULL));
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);

    assert_int_equal(
        metrics_counter_value(metrics_counter(m, "ops_total", "h", NULL)),
        THREADS * ITERATIONS);
    assert_true(metrics_gauge_value(metrics_gauge(m, "level", "h", NULL)) ==
                (double)(THREADS * ITERATIONS));
    h = metrics_histogram(m, "sizes", "h", bounds, 2, NULL);
    assert_int_equal(metrics_histogram_count(h), THREADS * ITERATIONS);
    /* Per thread: 33334 zeros, 33333 ones, 33333 twos. */
    assert_true(metrics_histogram_sum(h) == THREADS * (33333.0 + 2 * 33333.0));
    for (int i = 0; i < THREADS; i++)
        per_thread += metrics_counter_value(
            metrics_counter(m, "per_thread_total", "h", "t=\"%d\"", i));
    assert_int_equal(per_thread, THREADS * (ITERATIONS / 10000));
    metrics_destroy(m);
}

static void test_quantiles(void **state)
{
    static const double bounds[] = {1, 2, 5, 10};
    static const struct {
        double q, want;
    } cases[] = {
        /* 10 in (0,1], 10 in (1,2], 20 in (2,5], 10 in (5,10]. */
        {0.0, 0.0}, {0.1, 0.5},   {0.2, 1.0},  {0.5, 2.75},
        {0.9, 7.5}, {0.99, 9.75}, {1.0, 10.0},
    };
    metrics_t *m = metrics_new(NULL);
    metrics_histogram_t *h = metrics_histogram(m, "lat", "h", bounds, 4, NULL);
    metrics_histogram_t *e =
        metrics_histogram(m, "empty", "h", bounds, 4, NULL);
    metrics_histogram_t *neg =
        metrics_histogram(m, "neg", "h", bounds, 4, NULL);
    static const double below_zero[] = {-1, 0, 1};
    metrics_histogram_t *z =
        metrics_histogram(m, "z", "h", below_zero, 3, NULL);

    (void)state;
    for (int i = 0; i < 10; i++) {
        metrics_histogram_observe(h, 0.5);
        metrics_histogram_observe(h, 1.5);
        metrics_histogram_observe(h, 3);
        metrics_histogram_observe(h, 4);
        metrics_histogram_observe(h, 7);
    }
    assert_int_equal(metrics_histogram_count(h), 50);
    assert_true(metrics_histogram_sum(h) == 160.0);
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        double got = metrics_histogram_quantile(h, cases[i].q);
        if (fabs(got - cases[i].want) > 1e-9)
            fail_msg("q=%g: got %.17g, want %g", cases[i].q, got,
                     cases[i].want);
    }
    assert_true(isnan(metrics_histogram_quantile(h, -0.1)));
    assert_true(isnan(metrics_histogram_quantile(h, 1.1)));
    assert_true(isnan(metrics_histogram_quantile(h, NAN)));
    assert_true(isnan(metrics_histogram_quantile(e, 0.5)));

    /* Ranks in +Inf give the highest finite bound. */
    metrics_histogram_observe(neg, 100);
    metrics_histogram_observe(neg, NAN);
    assert_true(metrics_histogram_quantile(neg, 0.5) == 10.0);
    /* A first bucket with a bound <= 0 has no lower edge to interpolate from.
     */
    metrics_histogram_observe(z, -3);
    assert_true(metrics_histogram_quantile(z, 0.5) == -1.0);
    metrics_destroy(m);
}

static void test_process_metrics(void **state)
{
    metrics_t *m = metrics_new(NULL);
    char *text = metrics_render(m, NULL);
    const char *rss, *start;
    double rss_bytes, start_time, now = (double)time(NULL);

    (void)state;
    assert_non_null(text);
    rss = strstr(text, "\nprocess_resident_memory_bytes ");
    start = strstr(text, "\nprocess_start_time_seconds ");
    assert_non_null(rss);
    assert_non_null(start);
    assert_non_null(
        strstr(text, "# TYPE process_resident_memory_bytes gauge\n"));
    assert_non_null(strstr(text, "# TYPE process_start_time_seconds gauge\n"));
    rss_bytes = strtod(rss + strlen("\nprocess_resident_memory_bytes "), NULL);
    start_time = strtod(start + strlen("\nprocess_start_time_seconds "), NULL);
    assert_true(rss_bytes > 0);
    assert_true(start_time > now - 3600 && start_time <= now + 1);
    /* Nothing registered: the process families are the whole text. */
    assert_int_equal(strncmp(text, PROCESS_HELP, strlen(PROCESS_HELP)), 0);
    free(text);
    metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_each_type),
        cmocka_unit_test(test_number_format),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_label_conversions),
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_repeated_lookup),
        cmocka_unit_test(test_gauge_ops),
        cmocka_unit_test(test_collect_callback),
        cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_process_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
