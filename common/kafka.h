/*
 * kafka.h - librdkafka helpers shared by producers and consumers: building a
 * configuration from KAFKA_BOOTSTRAP_SERVERS plus kcat-style -X key=value
 * pairs, forwarding librdkafka logs and errors to elog, and per-topic
 * delivery accounting for producers.
 *
 * Ownership: kafka_xopts_t owns copies of the -X pairs (free with
 * kafka_xopts_free). kafka_conf_build() returns a conf the caller owns until
 * rd_kafka_new() takes it.
 */
#ifndef ECOM_KAFKA_H
#define ECOM_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define KAFKA_DEFAULT_BOOTSTRAP "localhost:9092"

/* -X pairs in command-line order. */
typedef struct {
    char **keys;
    char **values;
    size_t count;
} kafka_xopts_t;

/* Adds "key=value" (split at the first '='). Returns -1 when there is no '='
 * or the key is empty. "-X list" is handled by the caller via
 * kafka_xopts_is_list(). */
int kafka_xopts_add(kafka_xopts_t *x, const char *pair);
int kafka_xopts_is_list(const char *arg);
/* Handles one -X argument as kcat does: "list" prints librdkafka's
 * properties and exits 0; a pair without '=' is a usage error (exit 2)
 * naming opt (e.g. "-X"). */
void kafka_xopts_flag(kafka_xopts_t *x, const char *arg, const char *opt);
/* The value of key if it was given with -X, else NULL. */
const char *kafka_xopts_get(const kafka_xopts_t *x, const char *key);
void kafka_xopts_free(kafka_xopts_t *x);

/* Builds a conf: bootstrap.servers (flag value, else KAFKA_BOOTSTRAP_SERVERS,
 * else localhost:9092), client.id, logging and error callbacks into elog,
 * then the given defaults (NULL-terminated key/value list), then the -X pairs,
 * so -X always wins. Returns NULL with errbuf filled on a rejected setting. */
rd_kafka_conf_t *kafka_conf_build(const char *bootstrap, const char *client_id,
                                  const char *const *defaults,
                                  const kafka_xopts_t *x, char *errbuf,
                                  size_t errsize);

/* The bootstrap list kafka_conf_build() would use for these arguments. */
const char *kafka_bootstrap(const char *flag_value, const kafka_xopts_t *x);

/* Non-zero once librdkafka reported a fatal error (error_cb). */
int kafka_fatal_seen(void);

/* Delivery counters for one topic, updated from the delivery report callback
 * (which runs on whichever thread calls rd_kafka_poll/flush). Pass a pointer
 * to the topic's counters as the per-message opaque when producing. */
typedef struct {
    const char *topic;
    atomic_uint_fast64_t produced;  /* accepted by rd_kafka_produce */
    atomic_uint_fast64_t delivered; /* acknowledged by the broker */
    atomic_uint_fast64_t failed;    /* permanently failed */
    atomic_uint_fast64_t bytes;     /* payload bytes delivered */
} kafka_counters_t;

/* Installs the delivery report callback that updates kafka_counters_t. */
void kafka_conf_set_delivery_counters(rd_kafka_conf_t *conf);

/* Produces a copy of payload to topic/partition-by-key, retrying on a full
 * queue by serving delivery reports (up to the stop flag). Counts the message
 * in c->produced. Returns 0, or -1 with the error logged (and counted failed). */
int kafka_produce_copy(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                       kafka_counters_t *c, const char *key, size_t key_len,
                       const void *payload, size_t len);

/* Asks a broker for metadata; 0 when one answered within timeout_ms, else
 * -1. Thread-safe (any thread may call it, e.g. a health check). */
int kafka_ping(rd_kafka_t *rk, int timeout_ms);

/* Reads librdkafka's statistics JSON (stats_cb): the number of brokers whose
 * connection is up (state "UP"), or -1 when the JSON has no broker list.
 * Pure; lets a daemon's own loop know whether Kafka is reachable without a
 * request of its own. */
int kafka_stats_brokers_up(const char *json, size_t len);

/* Flushes for at most timeout_ms; returns messages still in flight. */
int kafka_flush(rd_kafka_t *rk, int timeout_ms);

#endif
