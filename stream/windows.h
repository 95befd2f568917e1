/*
 * windows.h - ecom-stream's event-time window analytics, computed in SQL
 * inside the flush transaction (issue 9): product, category and traffic
 * figures per tumbling window, their finalisation, traffic anomaly scores
 * and trending products. The tables are those of sql/windows.sql (read its
 * comments for what each column means).
 *
 * windows_apply() runs inside the caller's open transaction, after the raw
 * rows and the new offsets and watermarks of stream_offsets were written,
 * and reads the session's temporary tables new_user_events,
 * new_transactions, new_transaction_items and new_inventory_updates:
 * exactly the rows this transaction stored (CREATE TEMP TABLE new_X (LIKE
 * X) ON COMMIT DELETE ROWS, so with the raw tables' columns, `late`
 * included; a transaction's items are late when it is). In order:
 *  1. the catalog (products) learns from the batch's user events: unknown
 *     products are inserted (with the event's price), and a product's name
 *     or category changes when the batch's latest event of it (by event
 *     time; ties: the greatest category, then name) says otherwise and is
 *     later than the event that set the current values
 *     (catalog_event_time; the seed rows have none), so an older event
 *     never changes it back. The price is never updated (a price spike in
 *     an event is not the catalog's). Rows that would not change are not
 *     touched (no row locks);
 *  2. product_window_metrics and category_window_metrics: additive
 *     upserts of the batch's on-time figures, one statement. A product
 *     row's category is fixed when the row is created (the catalog after
 *     step 1) and every later delta of that window counts for the same
 *     category, also with two instances (the upsert returns the row's
 *     category and the category deltas use it);
 *  3. traffic_window_metrics: additive upserts, with the distinct users
 *     and sessions kept in window_users / window_sessions (the count of
 *     members actually inserted is added), and late_events for late rows;
 *  4. finalisation, from W = min(stream_offsets.watermark) over the rows of
 *     consumer_group (none, a NULL among them, or fewer rows than the
 *     topics have partitions: nothing becomes final):
 *     every window with window_end <= W gets is_final in the three tables
 *     (never cleared again), the zero rows of the empty windows since the
 *     last final one are inserted final, each traffic window that became
 *     final here gets its anomaly score and its trending_products rows,
 *     and the sets of windows final for keep_sets_ms are deleted.
 * Steps 1 to 3 are one statement (two hash-aggregate passes over
 * new_user_events), step 4 another: two round trips per flush, none per
 * row; finalisation uses the partial indexes on the open windows.
 *
 * Several instances: every figure is an additive delta of rows only this
 * transaction stored; row locks are taken in key order; a window is
 * finalised (anomaly, trending) by exactly one transaction, the one whose
 * UPDATE ... WHERE NOT is_final changed it. A late event whose window is
 * already final adds to late_events only. An on-time event for a window
 * already final (evtime.h: a partition waking after an idle close) still
 * adds to its figures, and its distinct counts stay exact while the sets
 * are kept (keep_sets_ms); its anomaly score and the trending rows over it,
 * computed when it became final, are not recomputed (sql/checks/windows.sql
 * then lists them).
 *
 * Every statement is a static string run with PQexecParams (parameters
 * only). No state in memory: everything lives in PostgreSQL, so restarts
 * and rebalances need no reload. Not thread-safe per connection (libpq).
 */
#ifndef ECOM_WINDOWS_H
#define ECOM_WINDOWS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Limits checked by windows_conf_check(). */
#define WINDOWS_SPAN_LIMIT_MS (INT64_C(1) << 40) /* every span: 34 years */
#define WINDOWS_ANOMALY_MAX 10000                /* anomaly_windows */
#define WINDOWS_TRENDING_MAX 1000                /* trending_n */
#define WINDOWS_FILL_MAX 1000000                 /* fill_windows */

typedef struct {
    /* --window: tumbling window length, the same as evtime_conf_t's
     * window_ms (1 ms .. WINDOWS_SPAN_LIMIT_MS). Keep it for a database:
     * rows of another length would mix. */
    int64_t window_ms;
    /* --anomaly-windows: trailing windows of the z-score (2 .. 10000). */
    int anomaly_windows;
    /* --anomaly-z: |z| above this is an anomaly (> 0, finite). */
    double anomaly_z;
    /* --trending-n: products ranked per category (1 .. 1000). */
    int trending_n;
    /* --trending-span: the sliding span of trending_products, ending at
     * each final window's end (window_ms .. WINDOWS_SPAN_LIMIT_MS); the
     * windows wholly inside it count. */
    int64_t trending_span_ms;
    /* --fill-windows: at most this many empty windows get a zero row per
     * finalisation, the newest (0 .. 1000000; 0: none). 2880 = one day of
     * 30 s windows: a stream stopped for longer keeps a hole before that. */
    int64_t fill_windows;
    /* --keep-sets: how long after a window became final its user and
     * session sets are kept (0 .. WINDOWS_SPAN_LIMIT_MS). */
    int64_t keep_sets_ms;
} windows_conf_t;

#define WINDOWS_CONF_DEFAULTS                                                  \
    {                                                                          \
        .window_ms = 30000, .anomaly_windows = 20, .anomaly_z = 3.0,          \
        .trending_n = 5, .trending_span_ms = 300000, .fill_windows = 2880,    \
        .keep_sets_ms = 300000                                                 \
    }

/* The defaults above. */
windows_conf_t windows_conf_default(void);

/* 0 when every field is in range; otherwise -1 and one line naming the
 * first bad field and its value in err (err may be NULL). */
int windows_conf_check(const windows_conf_t *conf, char *err, size_t err_size);

/* What one windows_apply() did, for the caller's metrics: add it to the
 * totals once the transaction has committed (a rolled-back one did
 * nothing). Counts are rows. */
typedef struct {
    long long catalog_changes;  /* products inserted or changed */
    long long product_rows;     /* product_window_metrics rows upserted */
    long long category_rows;    /* category_window_metrics rows upserted */
    long long traffic_rows;     /* traffic_window_metrics rows upserted */
    long long late_events;      /* late rows of the batch */
    long long set_added;        /* window_users + window_sessions inserted */
    long long set_deleted;      /* ... deleted (windows final long enough) */
    long long windows_final;    /* traffic windows finalised here (empty ones too) */
    long long empty_windows;    /* of which zero rows inserted */
    long long product_final;    /* product rows finalised */
    long long category_final;   /* category rows finalised */
    long long anomalies;        /* windows finalised with is_anomaly */
    long long trending_rows;    /* trending_products rows inserted */
    double seconds;             /* time spent in windows_apply() */
} windows_result_t;

/* Adds every count of add to total (seconds too). */
void windows_result_add(windows_result_t *total, const windows_result_t *add);

/*
 * Steps 1 to 4 above, inside the caller's open transaction. consumer_group
 * names the stream_offsets rows whose watermarks decide finality;
 * partitions is how many partitions the subscribed topics have (Kafka's
 * metadata): until at least that many rows are there, a partition nobody
 * stored yet (another instance's) could still hold events of any window,
 * so none becomes final; 0 (unknown) finalises nothing either. res
 * (may be NULL) is zeroed, then filled.
 *
 * Returns 0, or -1 when a statement failed: the transaction is then aborted
 * and the caller rolls it back. With error NULL the failure is logged;
 * otherwise a failure the server reported is not, and its result goes to
 * *error (the caller PQclear()s it; decide by its SQLSTATE), while one
 * without a server result (a lost connection) is logged with *error NULL.
 * A conf out of range is -1 (logged) before any statement.
 */
int windows_apply(PGconn *conn, const windows_conf_t *conf,
                  const char *consumer_group, int partitions,
                  windows_result_t *res, PGresult **error);

/* The state's size, for /metrics: open windows (traffic rows not final),
 * set members and the bytes of the two set tables (with their indexes).
 * One short query, outside any batch transaction is fine. Returns 0 or -1
 * (logged). */
typedef struct {
    long long open_windows;
    long long set_entries;
    long long set_bytes;
} windows_state_t;

int windows_state(PGconn *conn, windows_state_t *out);

#endif
