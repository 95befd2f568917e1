/*
 * test_kafka.c - unit tests for common/kafka.c without a broker: -X pair
 * handling, kafka_conf_build (defaults, -X overrides, rejected settings,
 * bootstrap precedence, read back with rd_kafka_conf_get), and the delivery
 * counters, driven by a producer whose messages time out against a closed
 * port (127.0.0.1:1). The stop-flag test runs last: the flag cannot be reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elog.h"
#include "kafka.h"
#include "term.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Reads a property back; fails the test if librdkafka does not know it. */
static const char *conf_get(rd_kafka_conf_t *conf, const char *name)
{
    static char value[512];
    size_t size = sizeof(value);

    if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK)
        fail_msg("rd_kafka_conf_get(\"%s\") failed", name);
    return value;
}

static const struct {
    const char *pair;
    int rc;
    const char *key;
    const char *value;
} pairs[] = {
    {"a=b", 0, "a", "b"},
    {"c=b=c", 0, "c", "b=c"}, /* split at the first '=' */
    {"empty=", 0, "empty", ""},
    {"sasl.jaas.config=x=1 y=2", 0, "sasl.jaas.config", "x=1 y=2"},
    {"bootstrap.servers=h1:9092,h2:9092", 0, "bootstrap.servers", "h1:9092,h2:9092"},
    {"noeq", -1, NULL, NULL},
    {"", -1, NULL, NULL},
    {"=", -1, NULL, NULL},
    {"=value", -1, NULL, NULL},
    {"==", -1, NULL, NULL},
};

static void test_xopts_add_get(void **state)
{
    kafka_xopts_t x = {0};
    size_t added = 0;
    (void)state;

    for (size_t i = 0; i < N_ELEMS(pairs); i++) {
        int rc = kafka_xopts_add(&x, pairs[i].pair);

        if (rc != pairs[i].rc)
            fail_msg("add(\"%s\"): rc %d, want %d", pairs[i].pair, rc, pairs[i].rc);
        added += rc == 0;
        assert_int_equal(x.count, added);
    }
    for (size_t i = 0; i < N_ELEMS(pairs); i++) {
        const char *got;

        if (pairs[i].key == NULL)
            continue;
        got = kafka_xopts_get(&x, pairs[i].key);
        if (got == NULL || strcmp(got, pairs[i].value) != 0)
            fail_msg("get(\"%s\"): got \"%s\", want \"%s\"", pairs[i].key,
                     got ? got : "(null)", pairs[i].value);
    }
    /* keys keep command-line order */
    assert_string_equal(x.keys[0], "a");
    assert_string_equal(x.values[1], "b=c");
    assert_null(kafka_xopts_get(&x, "missing"));
    assert_null(kafka_xopts_get(&x, ""));
    assert_null(kafka_xopts_get(&x, "bootstrap"));

    /* the last value wins */
    assert_int_equal(kafka_xopts_add(&x, "a=second"), 0);
    assert_int_equal(kafka_xopts_add(&x, "a=third"), 0);
    assert_string_equal(kafka_xopts_get(&x, "a"), "third");
    assert_string_equal(kafka_xopts_get(&x, "c"), "b=c");

    kafka_xopts_free(&x);
    assert_int_equal(x.count, 0);
    assert_null(x.keys);
    assert_null(x.values);
    assert_null(kafka_xopts_get(&x, "a"));
    kafka_xopts_free(&x); /* twice is harmless */
    kafka_xopts_free(NULL);
}

static void test_xopts_is_list(void **state)
{
    (void)state;
    assert_true(kafka_xopts_is_list("list"));
    assert_false(kafka_xopts_is_list("List"));
    assert_false(kafka_xopts_is_list("list=1"));
    assert_false(kafka_xopts_is_list(""));
}

static void test_conf_defaults_and_overrides(void **state)
{
    static const char *const defaults[] = {"linger.ms", "5", "batch.num.messages", "100",
                                           "enable.idempotence", "true", NULL};
    kafka_xopts_t x = {0};
    char err[512] = "";
    rd_kafka_conf_t *conf;
    (void)state;

    unsetenv("KAFKA_BOOTSTRAP_SERVERS");
    /* defaults only */
    conf = kafka_conf_build(NULL, "ecom-unit", defaults, NULL, err, sizeof(err));
    assert_non_null(conf);
    assert_string_equal(conf_get(conf, "linger.ms"), "5");
    assert_string_equal(conf_get(conf, "batch.num.messages"), "100");
    assert_string_equal(conf_get(conf, "enable.idempotence"), "true");
    assert_string_equal(conf_get(conf, "client.id"), "ecom-unit");
    assert_string_equal(conf_get(conf, "bootstrap.servers"), KAFKA_DEFAULT_BOOTSTRAP);
    rd_kafka_conf_destroy(conf);

    /* -X beats the defaults, and the later -X beats the earlier one */
    assert_int_equal(kafka_xopts_add(&x, "linger.ms=50"), 0);
    assert_int_equal(kafka_xopts_add(&x, "client.id=from-x"), 0);
    assert_int_equal(kafka_xopts_add(&x, "batch.num.messages=7"), 0);
    assert_int_equal(kafka_xopts_add(&x, "batch.num.messages=8"), 0);
    conf = kafka_conf_build(NULL, "ecom-unit", defaults, &x, err, sizeof(err));
    assert_non_null(conf);
    assert_string_equal(conf_get(conf, "linger.ms"), "50");
    assert_string_equal(conf_get(conf, "client.id"), "from-x");
    assert_string_equal(conf_get(conf, "batch.num.messages"), "8");
    assert_string_equal(conf_get(conf, "enable.idempotence"), "true");
    rd_kafka_conf_destroy(conf);
    kafka_xopts_free(&x);

    /* no defaults at all */
    conf = kafka_conf_build("b:9092", "ecom-unit", NULL, NULL, err, sizeof(err));
    assert_non_null(conf);
    assert_string_equal(conf_get(conf, "bootstrap.servers"), "b:9092");
    rd_kafka_conf_destroy(conf);
}

/* A rejected setting, from the defaults or from -X: NULL, and errbuf names
 * the pair before librdkafka's own text. */
static const struct {
    const char *default_key, *default_value;
    const char *x_pair;
    const char *want_prefix;
} bad_settings[] = {
    {NULL, NULL, "no.such.property=1", "invalid Kafka setting \"no.such.property=1\": "},
    {NULL, NULL, "linger.ms=abc", "invalid Kafka setting \"linger.ms=abc\": "},
    {NULL, NULL, "linger.ms=-5", "invalid Kafka setting \"linger.ms=-5\": "},
    {NULL, NULL, "acks=maybe", "invalid Kafka setting \"acks=maybe\": "},
    {NULL, NULL, "enable.idempotence=perhaps",
     "invalid Kafka setting \"enable.idempotence=perhaps\": "},
    {"bogus.default", "1", NULL, "invalid Kafka setting \"bogus.default=1\": "},
    {"compression.codec", "zip", NULL, "invalid Kafka setting \"compression.codec=zip\": "},
};

static void test_conf_rejects_bad_settings(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(bad_settings); i++) {
        const char *defaults[] = {bad_settings[i].default_key,
                                  bad_settings[i].default_value, NULL};
        kafka_xopts_t x = {0};
        char err[512] = "";
        rd_kafka_conf_t *conf;
        size_t plen = strlen(bad_settings[i].want_prefix);

        if (bad_settings[i].x_pair != NULL)
            assert_int_equal(kafka_xopts_add(&x, bad_settings[i].x_pair), 0);
        conf = kafka_conf_build("b:9092", "ecom-unit", defaults, &x, err, sizeof(err));
        kafka_xopts_free(&x);
        if (conf != NULL) {
            rd_kafka_conf_destroy(conf);
            fail_msg("bad setting %zu was accepted", i);
        }
        if (strncmp(err, bad_settings[i].want_prefix, plen) != 0 || strlen(err) <= plen)
            fail_msg("bad setting %zu: error \"%s\", want \"%s<librdkafka text>\"", i, err,
                     bad_settings[i].want_prefix);
    }
}

/* -X bootstrap.servers > flag > KAFKA_BOOTSTRAP_SERVERS > localhost:9092 */
static const struct {
    const char *env, *flag, *x;
    const char *want;
} bootstrap_cases[] = {
    {NULL, NULL, NULL, KAFKA_DEFAULT_BOOTSTRAP},
    {"", NULL, NULL, KAFKA_DEFAULT_BOOTSTRAP},
    {"env:9092", NULL, NULL, "env:9092"},
    {"env:9092", "flag:9092", NULL, "flag:9092"},
    {NULL, "flag:9092", NULL, "flag:9092"},
    {"", "flag:9092", NULL, "flag:9092"},
    {"env:9092", "flag:9092", "x:9092", "x:9092"},
    {"env:9092", NULL, "x:9092", "x:9092"},
    {NULL, "flag:9092", "x:9092", "x:9092"},
    {NULL, NULL, "x1:9092,x2:9092", "x1:9092,x2:9092"},
};

static void test_bootstrap_precedence(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(bootstrap_cases); i++) {
        kafka_xopts_t x = {0};
        char pair[128];
        char err[512] = "";
        rd_kafka_conf_t *conf;
        const char *chosen;

        if (bootstrap_cases[i].env != NULL)
            setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap_cases[i].env, 1);
        else
            unsetenv("KAFKA_BOOTSTRAP_SERVERS");
        assert_int_equal(kafka_xopts_add(&x, "linger.ms=1"), 0);
        if (bootstrap_cases[i].x != NULL) {
            snprintf(pair, sizeof(pair), "bootstrap.servers=%s", bootstrap_cases[i].x);
            assert_int_equal(kafka_xopts_add(&x, pair), 0);
        }

        chosen = kafka_bootstrap(bootstrap_cases[i].flag, &x);
        if (strcmp(chosen, bootstrap_cases[i].want) != 0)
            fail_msg("case %zu: kafka_bootstrap gave \"%s\", want \"%s\"", i, chosen,
                     bootstrap_cases[i].want);
        conf = kafka_conf_build(bootstrap_cases[i].flag, "ecom-unit", NULL, &x, err,
                                sizeof(err));
        if (conf == NULL)
            fail_msg("case %zu: kafka_conf_build failed: %s", i, err);
        if (strcmp(conf_get(conf, "bootstrap.servers"), bootstrap_cases[i].want) != 0) {
            char got[512];
            snprintf(got, sizeof(got), "%s", conf_get(conf, "bootstrap.servers"));
            rd_kafka_conf_destroy(conf);
            fail_msg("case %zu: conf has bootstrap.servers \"%s\", want \"%s\"", i, got,
                     bootstrap_cases[i].want);
        }
        rd_kafka_conf_destroy(conf);
        kafka_xopts_free(&x);
    }
    /* kafka_bootstrap accepts a NULL xopts */
    setenv("KAFKA_BOOTSTRAP_SERVERS", "env:9092", 1);
    assert_string_equal(kafka_bootstrap(NULL, NULL), "env:9092");
    assert_string_equal(kafka_bootstrap("flag:9092", NULL), "flag:9092");
    unsetenv("KAFKA_BOOTSTRAP_SERVERS");
}

/* A producer pointed at a closed port, with messages that expire quickly and
 * a queue of one message. librdkafka's own logs are turned off (log_level 0);
 * the "brokers down" errors still reach stderr through error_cb. */
static rd_kafka_t *new_dead_end_producer(void)
{
    static const char *const defaults[] = {
        "message.timeout.ms", "200", "queue.buffering.max.messages", "1",
        "linger.ms", "0", "log_level", "0", "reconnect.backoff.ms", "100",
        NULL};
    char err[512] = "";
    rd_kafka_conf_t *conf =
        kafka_conf_build("127.0.0.1:1", "ecom-unit", defaults, NULL, err, sizeof(err));
    rd_kafka_t *rk;

    if (conf == NULL)
        fail_msg("kafka_conf_build: %s", err);
    kafka_conf_set_delivery_counters(conf);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        fail_msg("rd_kafka_new: %s", err);
    }
    return rk;
}

static void test_delivery_counters_count_failures(void **state)
{
    rd_kafka_t *rk = new_dead_end_producer();
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "ecom-unit-test", NULL);
    kafka_counters_t c = {.topic = "ecom-unit-test"};
    (void)state;

    assert_non_null(rkt);
    assert_int_equal(kafka_produce_copy(rk, rkt, &c, "k", 1, "payload-1", 9), 0);
    /* the queue holds one message: this waits for the first to expire */
    assert_int_equal(kafka_produce_copy(rk, rkt, &c, NULL, 0, "payload-22", 10), 0);
    assert_int_equal(kafka_flush(rk, 15000), 0);
    assert_int_equal(atomic_load(&c.produced), 2);
    assert_int_equal(atomic_load(&c.failed), 2);
    assert_int_equal(atomic_load(&c.delivered), 0);
    assert_int_equal(atomic_load(&c.bytes), 0);
    assert_int_equal(kafka_fatal_seen(), 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

/* With the stop flag set a full queue is not waited for: the message fails. */
/* Broker states from librdkafka's statistics JSON, for /health. */
static void test_stats_brokers_up(void **state)
{
    static const struct {
        const char *json;
        int up;
    } cases[] = {
        {"{\"brokers\":{\"localhost:9092/1\":{\"state\":\"UP\",\"nodeid\":1},"
         "\"localhost:9092/bootstrap\":{\"state\":\"INIT\",\"nodeid\":-1}}}", 1},
        {"{\"brokers\":{\"a/1\":{\"state\":\"UP\"},\"b/2\":{\"state\":\"UP\"}}}", 2},
        {"{\"brokers\":{\"a/1\":{\"state\":\"DOWN\"},\"b/2\":{\"state\":\"TRY_CONNECT\"}}}", 0},
        {"{\"brokers\":{}}", 0},
        {"{\"name\":\"x\"}", -1},
        {"not json", -1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(kafka_stats_brokers_up(cases[i].json, strlen(cases[i].json)), cases[i].up);
}

static void test_produce_full_queue_after_stop(void **state)
{
    rd_kafka_t *rk = new_dead_end_producer();
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "ecom-unit-test", NULL);
    kafka_counters_t c = {.topic = "ecom-unit-test"};
    (void)state;

    assert_non_null(rkt);
    assert_int_equal(kafka_produce_copy(rk, rkt, &c, "k", 1, "first", 5), 0);
    term_request();
    assert_int_equal(kafka_produce_copy(rk, rkt, &c, "k", 1, "second", 6), -1);
    assert_int_equal(atomic_load(&c.produced), 2);
    assert_int_equal(atomic_load(&c.failed), 1);
    assert_int_equal(kafka_flush(rk, 15000), 0);
    assert_int_equal(atomic_load(&c.failed), 2);
    assert_int_equal(atomic_load(&c.delivered), 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

static int group_setup(void **state)
{
    (void)state;
    unsetenv("LOG_LEVEL");
    elog_init("test_kafka");
    elog_set_level(ELOG_ERROR);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xopts_add_get),
        cmocka_unit_test(test_xopts_is_list),
        cmocka_unit_test(test_conf_defaults_and_overrides),
        cmocka_unit_test(test_conf_rejects_bad_settings),
        cmocka_unit_test(test_bootstrap_precedence),
        cmocka_unit_test(test_delivery_counters_count_failures),
        cmocka_unit_test(test_stats_brokers_up),
        cmocka_unit_test(test_produce_full_queue_after_stop), /* last: sets the stop flag */
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
