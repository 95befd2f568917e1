/*
 * coll.h - ecom-metrics' collector: on every interval, one round of
 * scrapes over its sources (Kafka through librdkafka, PostgreSQL, the
 * daemons' /metrics, the Kafka UI REST API and the Spark master when
 * configured), each bounded by the scrape timeout and each recorded up or
 * down with its error; the round stored in PostgreSQL (tsdb.h) and kept in
 * memory as the latest snapshot for the HTTP API.
 *
 * A source that fails is down for that round only and never stops the
 * others; a store that fails costs that round's points (counted and
 * logged), not the snapshot. Threads: coll_run on the main thread; the
 * snapshot and the health are read from the HTTP thread under a mutex.
 * Owns its sources' handles except the Kafka one (borrowed).
 */
#ifndef ECOM_COLL_H
#define ECOM_COLL_H

#include "buf.h"
#include "metrics.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#define COLL_MAX_TARGETS 16

typedef struct {
    char name[64]; /* the source name its series are stored under */
    char url[512];
} coll_target_t;

typedef struct {
    int64_t interval_ms;
    int64_t timeout_ms;  /* one source's scrape */
    int64_t retention_s; /* points older than this are deleted */
    int64_t max_bytes;   /* one HTTP body */
    int keep_buckets;    /* store histogram buckets from /metrics too */
    coll_target_t targets[COLL_MAX_TARGETS];
    int ntargets;
    const char *kafka_ui_url; /* NULL: none */
    const char *spark_url;    /* the master UI's base URL; NULL: none */
    const char *conninfo;     /* NULL: PG* variables */
    int64_t max_rounds;       /* 0: until a signal */
} coll_conf_t;

typedef struct coll coll_t;

/* rk may be NULL (Kafka not scraped). m: the collector's own metrics. */
coll_t *coll_new(const coll_conf_t *conf, rd_kafka_t *rk, metrics_t *m);
void coll_free(coll_t *c);

/* One round now. Returns the sources that were down. */
int coll_round(coll_t *c);
/* Rounds on the interval until term_requested() (or max_rounds). */
void coll_run(coll_t *c);

/* The latest round as JSON (see README), appended to out; [] before one. */
void coll_latest_json(coll_t *c, buf_t *out);
/* httpd_health_fn: healthy while rounds run and the last store worked. */
int coll_health(void *arg, char *detail, size_t size);

/* Parses "NAME=URL" into t; -1 when it is not that shape. */
int coll_parse_target(const char *arg, coll_target_t *t);

#endif
