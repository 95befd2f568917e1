/*
 * ingest.h - ecom-stream's ingestion loop: a consumer-group member that
 * validates every message, batches rows, and writes each batch together
 * with its offsets in one PostgreSQL transaction (sink.c), then commits the
 * same offsets to Kafka for lag visibility.
 *
 * Exactly once (decided by ledger.c): on every assignment, eager or
 * cooperative, positions come from stream_offsets, not from Kafka; the
 * partitions stay paused until the PostgreSQL worker has read them. If
 * PostgreSQL is down the partitions are paused and the batch is kept until
 * a retry succeeds. A failed offset fence (a commit PostgreSQL lost, or
 * another instance) drops the batches and every partition re-reads its
 * stored offset. On revocation the batch is flushed, or dropped (never
 * both) so the next owner re-reads it. Offsets the broker no longer holds
 * and reused offsets are recorded in stream_gaps.
 *
 * Runs on one thread (the caller's) plus the PostgreSQL worker thread.
 * ingest_health() may be called from any thread.
 */
#ifndef ECOM_INGEST_H
#define ECOM_INGEST_H

#include "analytics.h"
#include "kafka.h"
#include "metrics.h"

#include <stddef.h>

typedef struct {
    const char *group;
    const char *brokers;        /* NULL: KAFKA_BOOTSTRAP_SERVERS/default */
    const kafka_xopts_t *xopts; /* -X pairs */
    const char *conninfo;       /* NULL: PG* variables */
    const char *const *topics;
    int topic_count;
    size_t flush_rows;      /* flush when this many messages are batched */
    size_t flush_bytes;     /* ... or the COPY text reaches this size */
    int flush_ms;           /* ... or the oldest message waited this long */
    size_t max_message_bytes;
    int synchronous_commit; /* PostgreSQL waits for the WAL flush at commit */
    double exit_when_idle_s; /* 0: run until stopped */
    double progress_s;       /* 0: no progress lines */
    double stall_timeout_s;  /* /health fails when work pending makes no progress this long */
    analytics_conf_t analytics; /* event time, windows, fraud and stock rules */
} ingest_conf_t;

typedef struct ingest ingest_t;

/* Creates the consumer (does not connect to PostgreSQL yet). Returns NULL
 * with errbuf filled on a configuration error. m is borrowed. */
ingest_t *ingest_new(const ingest_conf_t *conf, metrics_t *m, char *errbuf,
                     size_t errsize);
/* Runs until the stop flag or --exit-when-idle; returns the exit status. */
int ingest_run(ingest_t *in);
void ingest_destroy(ingest_t *in);

/* httpd health callback (any thread): 1 when PostgreSQL and Kafka are
 * reachable and no partition with pending work has stalled; answers from the
 * verdict the ingest loop publishes every 200 ms, never from a request of
 * its own. */
int ingest_health(void *arg, char *detail, size_t size);

#endif
