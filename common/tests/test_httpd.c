/*
 * test_httpd.c - unit tests for common/httpd.c, talking HTTP to it with
 * libcurl on 127.0.0.1: /metrics (status, content type, body, HEAD, scrapes
 * while other threads update, keep-alive), /health (healthy, with detail,
 * flipping to unhealthy and back), 404 and 405 (table), a port already in use,
 * bad ports and addresses, and a clean stop (the port refuses connections and
 * can be bound again).
 * Needs no network beyond loopback; proxies from the environment are ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpd.h"
#include "metrics.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    long status; /* 0 when the request failed */
    CURLcode rc;
    char content_type[128];
    char *body;
    size_t body_len;
    char *headers;
    size_t headers_len;
} response_t;

static size_t append_cb(char *data, size_t size, size_t n, void *arg, int hdr)
{
    response_t *r = arg;
    char **buf = hdr ? &r->headers : &r->body;
    size_t *len = hdr ? &r->headers_len : &r->body_len;
    char *p = realloc(*buf, *len + size * n + 1);

    if (p == NULL)
        return 0;
    memcpy(p + *len, data, size * n);
    *len += size * n;
    p[*len] = '\0';
    *buf = p;
    return size * n;
}

static size_t body_cb(char *data, size_t size, size_t n, void *arg)
{
    return append_cb(data, size, n, arg, 0);
}

static size_t header_cb(char *data, size_t size, size_t n, void *arg)
{
    return append_cb(data, size, n, arg, 1);
}

/* Sends method ("GET+BODY": a GET with a body) path to 127.0.0.1:port; body
 * and headers are always allocated (possibly empty). Free with
 * response_free(). */
static response_t fetch(int port, const char *method, const char *path)
{
    response_t r = {0};
    char url[256];
    char *ctype = NULL;
    CURL *curl = curl_easy_init();

    assert_non_null(curl);
    r.body = calloc(1, 1);
    r.headers = calloc(1, 1);
    assert_non_null(r.body);
    assert_non_null(r.headers);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "a=1");
    else if (strcmp(method, "GET+BODY") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "ignored");
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "GET");
    } else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    r.rc = curl_easy_perform(curl);
    if (r.rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
        curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype);
        snprintf(r.content_type, sizeof(r.content_type), "%s",
                 ctype != NULL ? ctype : "");
    }
    curl_easy_cleanup(curl);
    return r;
}

static void response_free(response_t *r)
{
    free(r->body);
    free(r->headers);
}

static int group_setup(void **state)
{
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

static httpd_t *start_or_fail(metrics_t *m, httpd_health_fn health, void *arg)
{
    char err[256] = "";
    httpd_t *h = httpd_start("127.0.0.1", 0, m, health, arg, err, sizeof(err));

    if (h == NULL)
        fail_msg("httpd_start: %s", err);
    assert_true(httpd_port(h) > 0 && httpd_port(h) <= 65535);
    return h;
}

static void test_metrics_endpoint(void **state)
{
    metrics_t *m = metrics_new("ecom_test");
    metrics_counter_t *c =
        metrics_counter(m, "requests_total", "Requests.", "path=\"%s\"", "/x");
    httpd_t *h = start_or_fail(m, NULL, NULL);
    response_t r;

    (void)state;
    metrics_counter_add(c, 5);
    r = fetch(httpd_port(h), "GET", "/metrics");
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, HTTPD_METRICS_CONTENT_TYPE);
    assert_int_equal(
        strncmp(r.body,
                "# HELP ecom_test_requests_total Requests.\n"
                "# TYPE ecom_test_requests_total counter\n"
                "ecom_test_requests_total{path=\"/x\"} 5\n"
                "# HELP process_resident_memory_bytes ",
                strlen("# HELP ecom_test_requests_total Requests.\n"
                       "# TYPE ecom_test_requests_total counter\n"
                       "ecom_test_requests_total{path=\"/x\"} 5\n"
                       "# HELP process_resident_memory_bytes ")),
        0);
    assert_non_null(strstr(r.body, "\nprocess_start_time_seconds "));
    assert_int_equal(strlen(r.body), r.body_len);
    response_free(&r);

    metrics_counter_inc(c); /* a scrape sees the current value */
    r = fetch(httpd_port(h), "GET", "/metrics?ignored=1");
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "ecom_test_requests_total{path=\"/x\"} 6\n"));
    response_free(&r);

    r = fetch(httpd_port(h), "HEAD", "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, HTTPD_METRICS_CONTENT_TYPE);
    assert_int_equal(r.body_len, 0);
    response_free(&r);

    httpd_stop(h);
    metrics_destroy(m);
}

struct health_state {
    atomic_int healthy;
    const char *detail; /* set before the request, read on the HTTP thread */
};

/* Runs on the HTTP thread. */
static int health_cb(void *arg, char *detail, size_t size)
{
    struct health_state *st = arg;

    if (st->detail != NULL)
        snprintf(detail, size, "%s", st->detail);
    return atomic_load(&st->healthy);
}

static void test_health(void **state)
{
    static const struct {
        int healthy;
        const char *detail;
        long status;
        const char *body;
    } cases[] = {
        {1, NULL, 200, "ok\n"},
        {1, "lag 12 ms", 200, "ok: lag 12 ms\n"},
        {0, "broker down", 503, "unhealthy: broker down\n"},
        {0, NULL, 503, "unhealthy\n"},
        {1, NULL, 200, "ok\n"},
    };
    struct health_state st = {0};
    httpd_t *h = start_or_fail(NULL, health_cb, &st);

    (void)state;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        response_t r;

        atomic_store(&st.healthy, cases[i].healthy);
        st.detail = cases[i].detail;
        r = fetch(httpd_port(h), "GET", "/health");
        assert_int_equal(r.rc, CURLE_OK);
        if (r.status != cases[i].status || strcmp(r.body, cases[i].body) != 0)
            fail_msg("case %zu: got %ld \"%s\"", i, r.status, r.body);
        assert_string_equal(r.content_type, "text/plain; charset=utf-8");
        response_free(&r);
    }
    httpd_stop(h);

    h = start_or_fail(NULL, NULL, NULL); /* no callback: always healthy */
    {
        response_t r = fetch(httpd_port(h), "GET", "/health");
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "ok\n");
        response_free(&r);
    }
    httpd_stop(h);
}

static void test_not_found_and_bad_method(void **state)
{
    static const struct {
        int with_metrics;
        const char *method, *path;
        long status;
    } cases[] = {
        {1, "GET", "/", 404},
        {1, "GET", "/nope", 404},
        {1, "GET", "/metrics/", 404},
        {1, "GET", "/metricsx", 404},
        {1, "POST", "/nope", 404},
        {0, "GET", "/metrics", 404},
        {1, "POST", "/metrics", 405},
        {1, "PUT", "/health", 405},
        {1, "DELETE", "/health", 405},
        {1, "OPTIONS", "/metrics", 405},
        {0, "POST", "/health", 405},
        {1, "HEAD", "/health", 200},
        {1, "GET+BODY", "/health", 200},
    };
    metrics_t *m = metrics_new(NULL);
    httpd_t *with = start_or_fail(m, NULL, NULL);
    httpd_t *without = start_or_fail(NULL, NULL, NULL);

    (void)state;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        httpd_t *h = cases[i].with_metrics ? with : without;
        response_t r = fetch(httpd_port(h), cases[i].method, cases[i].path);

        if (r.rc != CURLE_OK || r.status != cases[i].status)
            fail_msg("case %zu (%s %s): rc %d, status %ld", i, cases[i].method,
                     cases[i].path, (int)r.rc, r.status);
        if (r.status == 405 &&
            strstr(r.headers, "Allow: GET, HEAD\r\n") == NULL)
            fail_msg("case %zu: no Allow header in:\n%s", i, r.headers);
        response_free(&r);
    }
    httpd_stop(with);
    httpd_stop(without);
    metrics_destroy(m);
}

static void test_port_in_use(void **state)
{
    httpd_t *first = start_or_fail(NULL, NULL, NULL);
    char err[256] = "", want[64];
    response_t r;

    (void)state;
    assert_null(httpd_start("127.0.0.1", httpd_port(first), NULL, NULL, NULL,
                            err, sizeof(err)));
    snprintf(want, sizeof(want), "127.0.0.1:%d", httpd_port(first));
    if (strstr(err, strerror(EADDRINUSE)) == NULL || strstr(err, want) == NULL)
        fail_msg("unexpected error text \"%s\"", err);
    /* The failed start left the first server alone. */
    r = fetch(httpd_port(first), "GET", "/health");
    assert_int_equal(r.status, 200);
    response_free(&r);
    /* A NULL or empty error buffer is allowed. */
    assert_null(
        httpd_start("127.0.0.1", httpd_port(first), NULL, NULL, NULL, NULL, 0));
    httpd_stop(first);
}

static void test_bad_arguments(void **state)
{
    static const int bad_ports[] = {-1, 65536, 100000};
    char err[256];

    (void)state;
    for (size_t i = 0; i < N_ELEMS(bad_ports); i++) {
        err[0] = '\0';
        assert_null(httpd_start("127.0.0.1", bad_ports[i], NULL, NULL, NULL,
                                err, sizeof(err)));
        assert_non_null(strstr(err, "invalid HTTP port"));
    }
    /* TEST-NET-1: never an address of this host. */
    err[0] = '\0';
    assert_null(
        httpd_start("192.0.2.1", 0, NULL, NULL, NULL, err, sizeof(err)));
    if (strstr(err, "\"192.0.2.1:0\"") == NULL ||
        strstr(err, strerror(EADDRNOTAVAIL)) == NULL)
        fail_msg("unexpected error text \"%s\"", err);
    assert_int_equal(httpd_port(NULL), -1);
}

static void test_stop_is_clean(void **state)
{
    httpd_t *h = start_or_fail(NULL, NULL, NULL);
    int port = httpd_port(h);
    char err[256] = "";
    response_t r;

    (void)state;
    r = fetch(port, "GET", "/health");
    assert_int_equal(r.status, 200);
    response_free(&r);
    httpd_stop(h);
    r = fetch(port, "GET", "/health");
    assert_int_equal(r.rc, CURLE_COULDNT_CONNECT);
    assert_int_equal(r.status, 0);
    response_free(&r);
    /* The port is free again: a restarted daemon gets it back. */
    h = httpd_start("127.0.0.1", port, NULL, NULL, NULL, err, sizeof(err));
    if (h == NULL)
        fail_msg("restart on port %d: %s", port, err);
    assert_int_equal(httpd_port(h), port);
    httpd_stop(h);
    httpd_stop(NULL);
}

/* Two scrapes through one curl handle share one connection. */
static void test_keep_alive(void **state)
{
    httpd_t *h = start_or_fail(NULL, NULL, NULL);
    CURL *curl = curl_easy_init();
    char url[64];
    long connects = -1;

    (void)state;
    assert_non_null(curl);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", httpd_port(h));
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0); /* the second request made no new one */
    curl_easy_cleanup(curl);
    httpd_stop(h);
}

struct updater {
    metrics_counter_t *c;
    atomic_int stop;
};

/* Increments in bursts with short sleeps, so that it cannot starve the
 * HTTP thread under valgrind, which runs one thread at a time. */
static void *updater_main(void *arg)
{
    struct updater *u = arg;
    const struct timespec pause = {0, 100000};

    while (!atomic_load(&u->stop)) {
        for (int i = 0; i < 1000; i++)
            metrics_counter_inc(u->c);
        nanosleep(&pause, NULL);
    }
    return NULL;
}

/* Scrapes while another thread updates: values only grow between scrapes.
 * Checks run after the join, so a failure cannot leave the thread behind. */
static void test_scrape_during_updates(void **state)
{
    metrics_t *m = metrics_new("busy");
    struct updater u = {metrics_counter(m, "spins_total", "h", NULL), 0};
    httpd_t *h = start_or_fail(m, NULL, NULL);
    pthread_t thread;
    unsigned long long last = 0;
    char failure[256] = "";

    (void)state;
    assert_int_equal(pthread_create(&thread, NULL, updater_main, &u), 0);
    for (int i = 0; i < 20 && failure[0] == '\0'; i++) {
        response_t r = fetch(httpd_port(h), "GET", "/metrics");
        const char *line = strstr(r.body, "\nbusy_spins_total ");
        unsigned long long v = 0;

        if (line != NULL)
            v = strtoull(line + strlen("\nbusy_spins_total "), NULL, 10);
        if (r.status != 200 || line == NULL || v < last)
            snprintf(failure, sizeof(failure),
                     "scrape %d: rc %d, status %ld, value %llu after %llu", i,
                     (int)r.rc, r.status, v, last);
        last = v;
        response_free(&r);
    }
    atomic_store(&u.stop, 1);
    assert_int_equal(pthread_join(thread, NULL), 0);
    httpd_stop(h);
    metrics_destroy(m);
    if (failure[0] != '\0')
        fail_msg("%s", failure);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_endpoint),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_not_found_and_bad_method),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_stop_is_clean),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_scrape_during_updates),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
