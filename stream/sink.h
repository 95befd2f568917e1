/*
 * sink.h - ecom-stream's PostgreSQL side: the connection, daily partitions
 * of the raw tables, resuming offsets, and writing a batch exactly once.
 *
 * sink_flush() writes a whole batch in one transaction: COPY into temporary
 * staging tables, INSERT ... ON CONFLICT DO NOTHING into the raw tables (so
 * a re-delivered event id is stored once), dead letters and gaps, and the
 * new next_offset of every partition in the batch. The offset update is
 * fenced: it only applies when stream_offsets still holds the value the
 * batch started from, so a partition that another instance already
 * processed is never written twice. A failed fence is explained per
 * partition (one log line each, counted in sink_result_t): a stored offset
 * behind the expected one, or missing, means PostgreSQL lost a commit
 * ("PostgreSQL lost a commit" in the log: a crash under synchronous_commit
 * = off); one ahead, or present where none was expected, means "another
 * instance" of the consumer group stored the partition.
 *
 * A row PostgreSQL rejects (a data or constraint error, such as a CHECK
 * the batch violates or a value out of range for its column) never fails
 * the flush: the batch is written again message by message ranges inside
 * the same transaction, each message PostgreSQL rejects alone is
 * dead-lettered with PostgreSQL's error as its reason (and its key and
 * payload, kept in the batch), and the rest commits with the offsets past
 * it (SINK_OK, counted in rejected[]). A message's rows (a transaction and
 * its items) are stored or rejected together. Other errors (connection,
 * serialization, timeouts...) are SINK_RETRY as before.
 *
 * Not thread-safe; one sink per consumer thread.
 */
#ifndef ECOM_SINK_H
#define ECOM_SINK_H

#include "analytics.h"
#include "batch.h"

#include <libpq-fe.h>

typedef enum {
    SINK_OK = 0,
    SINK_RETRY,  /* database trouble: nothing was written; keep the batch */
    SINK_FENCED, /* a stored offset is not the expected one: batch not
                  * written (see fence_lost, fence_other) */
} sink_status_t;

/* The longest reason a rejected message's dead letter gets, with its NUL. */
#define SINK_REASON_MAX 1024

typedef struct {
    long long inserted[BATCH_TABLES]; /* rows that were new (dead letters:
                                       * with those of rejected messages) */
    long long staged[BATCH_TABLES];   /* rows in the batch, but those of
                                       * rejected messages */
    long long rejected[SCHEMA_TOPICS]; /* valid messages PostgreSQL
                                        * rejected: dead-lettered */
    long long bisect_writes;          /* ranges written on their own to
                                       * isolate them (0: none rejected) */
    double seconds;                   /* duration of the transaction */
    /* On SINK_FENCED, the partitions whose stored offset is not the one
     * the batch expected (both 0 when stream_offsets could not be read): */
    int fence_lost;  /* behind, or no row: PostgreSQL lost a commit */
    int fence_other; /* ahead, or a row where none was expected: another
                      * instance stored the partition */
    analytics_result_t analytics; /* with analytics on, on SINK_OK */
    windows_state_t state; /* the analytics state's size, read after the
                            * commit at most every SINK_STATE_EVERY_US */
    int state_read;        /* 1: state is fresh */
} sink_result_t;

#define SINK_STATE_EVERY_US (10 * 1000000LL)

typedef struct sink sink_t;

/* conninfo may be NULL (libpq's PG* variables apply). Does not connect. */
sink_t *sink_new(const char *conninfo, const char *consumer_group,
                 const char *app_name);
void sink_destroy(sink_t *s);

/* Whether each flush waits for its WAL to reach disk (synchronous_commit;
 * default on). Off is safe for exactly-once here: a commit lost in a
 * PostgreSQL crash loses its offsets with it, so the messages are read
 * again from Kafka. Applies from the next sink_connect(). */
void sink_set_synchronous_commit(sink_t *s, int on);

/* Connects (or reconnects) with retry and backoff for at most max_wait_ms
 * (-1: until the stop flag), then prepares the session (staging tables)
 * and makes sure today's and the next days' partitions exist.
 * Returns 0 or -1. */
int sink_connect(sink_t *s, int max_wait_ms);
int sink_connected(const sink_t *s);

/* Creates the daily partitions from yesterday to `days_ahead` days ahead
 * (idempotent). Returns 0 or -1. */
int sink_ensure_partitions(sink_t *s, int days_ahead);

/* The Kafka cluster id stored with every offset written from now on (NULL
 * or "": unknown, the stored one is kept). */
void sink_set_cluster_id(sink_t *s, const char *cluster_id);

/* Reads next_offset of (topic, partition) for this consumer group, and the
 * cluster id stored with it ("" if unknown) when cluster_id is not NULL, and
 * its max_event_time in epoch ms (BATCH_NO_TIME: none) when max_ts is not NULL.
 * Returns 1 and sets *next when a row exists, 0 when none, -1 on error. */
int sink_load_offset(sink_t *s, const char *topic, int32_t partition,
                     int64_t *next, char *cluster_id, size_t cluster_size, int64_t *max_ts);

/* Analytics in every flush from now on (conf->enabled 0: none, the
 * default): new_* filled with the rows stored, then analytics_apply(); and
 * the session's new_* tables created from the next sink_connect(). */
void sink_set_analytics(sink_t *s, const analytics_conf_t *conf);

/* Writes the batch (see above). Zeroes res first; on SINK_OK fills it,
 * on SINK_FENCED fills staged, fence_lost and fence_other. res may be
 * NULL. A batch whose rows PostgreSQL may reject must have its messages
 * recorded (batch_note_message, as rows.c does); without the records a
 * rejection is SINK_RETRY. */
sink_status_t sink_flush(sink_t *s, const batch_t *b, sink_result_t *res);

/* The connection, for health checks; NULL when not connected. */
PGconn *sink_conn(sink_t *s);

#endif
