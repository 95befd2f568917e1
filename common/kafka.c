/*
 * kafka.c - librdkafka configuration, callbacks and delivery accounting
 * (see kafka.h). Owns the process-wide "fatal error seen" flag.
 */
#include "kafka.h"
#include "config.h"
#include "elog.h"
#include "term.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static atomic_int fatal_seen;

int kafka_xopts_is_list(const char *arg) { return strcmp(arg, "list") == 0; }

int kafka_xopts_add(kafka_xopts_t *x, const char *pair)
{
    const char *eq = strchr(pair, '=');
    char **keys = NULL, **values = NULL;

    if (eq == NULL || eq == pair)
        return -1;
    keys = realloc(x->keys, (x->count + 1) * sizeof(*keys));
    if (keys == NULL)
        return -1;
    x->keys = keys;
    values = realloc(x->values, (x->count + 1) * sizeof(*values));
    if (values == NULL)
        return -1;
    x->values = values;
    x->keys[x->count] = strndup(pair, (size_t)(eq - pair));
    x->values[x->count] = strdup(eq + 1);
    if (x->keys[x->count] == NULL || x->values[x->count] == NULL) {
        free(x->keys[x->count]);
        free(x->values[x->count]);
        return -1;
    }
    x->count++;
    return 0;
}

void kafka_xopts_flag(kafka_xopts_t *x, const char *arg, const char *opt)
{
    if (kafka_xopts_is_list(arg)) {
        rd_kafka_conf_properties_show(stdout);
        exit(0);
    }
    if (kafka_xopts_add(x, arg) != 0)
        config_usage_error("invalid value \"%s\" for option %s (expected KEY=VALUE)", arg, opt);
}

const char *kafka_xopts_get(const kafka_xopts_t *x, const char *key)
{
    const char *found = NULL;
    for (size_t i = 0; i < x->count; i++)
        if (strcmp(x->keys[i], key) == 0)
            found = x->values[i]; /* the last one wins, as in librdkafka */
    return found;
}

void kafka_xopts_free(kafka_xopts_t *x)
{
    if (x == NULL)
        return;
    for (size_t i = 0; i < x->count; i++) {
        free(x->keys[i]);
        free(x->values[i]);
    }
    free(x->keys);
    free(x->values);
    memset(x, 0, sizeof(*x));
}

const char *kafka_bootstrap(const char *flag_value, const kafka_xopts_t *x)
{
    const char *from_x = x != NULL ? kafka_xopts_get(x, "bootstrap.servers") : NULL;
    const char *env = getenv("KAFKA_BOOTSTRAP_SERVERS");

    if (from_x != NULL)
        return from_x;
    if (flag_value != NULL)
        return flag_value;
    return env != NULL && *env != '\0' ? env : KAFKA_DEFAULT_BOOTSTRAP;
}

int kafka_fatal_seen(void) { return atomic_load(&fatal_seen); }

/* Runs on librdkafka's internal threads (log.queue is not used). */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    elog_level_t lvl = level <= 3 ? ELOG_ERROR : level <= 4 ? ELOG_WARN
                     : level <= 6 ? ELOG_INFO : ELOG_DEBUG;
    ELOG_AT(lvl, "librdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

/* Runs from rd_kafka_poll()/consumer_poll() on the application thread. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        LOG_ERROR("fatal Kafka error: %s: %s", rd_kafka_err2name(orig), fatal);
        atomic_store(&fatal_seen, 1);
        term_request();
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        LOG_ERROR("all Kafka brokers are down: %s", reason);
        LOG_INFO("hint: is the broker running at %s? try scripts/devstack.sh start",
                 getenv("KAFKA_BOOTSTRAP_SERVERS") ? getenv("KAFKA_BOOTSTRAP_SERVERS")
                                                   : KAFKA_DEFAULT_BOOTSTRAP);
        return;
    }
    LOG_WARN("Kafka error: %s: %s", rd_kafka_err2name(err), reason);
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                    char *errbuf, size_t errsize)
{
    char liberr[512];

    if (rd_kafka_conf_set(conf, key, value, liberr, sizeof(liberr)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errbuf, errsize, "invalid Kafka setting \"%s=%s\": %s", key,
                 value, liberr);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *kafka_conf_build(const char *bootstrap, const char *client_id,
                                  const char *const *defaults,
                                  const kafka_xopts_t *x, char *errbuf,
                                  size_t errsize)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (conf_set(conf, "bootstrap.servers", kafka_bootstrap(bootstrap, NULL),
                 errbuf, errsize) ||
        conf_set(conf, "client.id", client_id, errbuf, errsize))
        goto fail;
    for (size_t i = 0; defaults != NULL && defaults[i] != NULL; i += 2)
        if (conf_set(conf, defaults[i], defaults[i + 1], errbuf, errsize))
            goto fail;
    for (size_t i = 0; x != NULL && i < x->count; i++)
        if (conf_set(conf, x->keys[i], x->values[i], errbuf, errsize))
            goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Runs once per message from rd_kafka_poll()/rd_kafka_flush(), on the
 * thread that polls. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg,
                      void *opaque)
{
    kafka_counters_t *c = msg->_private;

    (void)rk;
    (void)opaque;
    if (c == NULL)
        return;
    if (msg->err) {
        if (atomic_fetch_add(&c->failed, 1) < 10)
            LOG_ERROR("delivery to \"%s\" failed: %s", c->topic,
                      rd_kafka_err2str(msg->err));
        return;
    }
    atomic_fetch_add(&c->delivered, 1);
    atomic_fetch_add(&c->bytes, msg->len);
}

void kafka_conf_set_delivery_counters(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
}

int kafka_produce_copy(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                       kafka_counters_t *c, const char *key, size_t key_len,
                       const void *payload, size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t err;

        if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                             (void *)payload, len, key, key_len, c) == 0) {
            atomic_fetch_add(&c->produced, 1);
            return 0;
        }
        err = rd_kafka_last_error();
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !term_requested()) {
            /* Serve delivery reports to make room, then retry. */
            rd_kafka_poll(rk, 10);
            continue;
        }
        atomic_fetch_add(&c->produced, 1);
        atomic_fetch_add(&c->failed, 1);
        LOG_ERROR("failed to produce to \"%s\": %s", c->topic,
                  rd_kafka_err2str(err));
        return -1;
    }
}

int kafka_flush(rd_kafka_t *rk, int timeout_ms)
{
    rd_kafka_flush(rk, timeout_ms);
    return rd_kafka_outq_len(rk);
}

int kafka_ping(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;

    if (rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    rd_kafka_metadata_destroy(md);
    return 0;
}

int kafka_stats_brokers_up(const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *brokers = root ? json_object_get(root, "brokers") : NULL;
    const char *name;
    json_t *b;
    int up = 0;

    if (!json_is_object(brokers)) {
        json_decref(root);
        return -1;
    }
    json_object_foreach(brokers, name, b) {
        const char *state = json_string_value(json_object_get(b, "state"));
        up += state != NULL && strcmp(state, "UP") == 0;
    }
    json_decref(root);
    return up;
}
