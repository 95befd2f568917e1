/*
 * sink.c - ecom-stream's PostgreSQL side (see sink.h).
 *
 * Owns the connection and its session state: the temporary staging tables
 * stage_user_events, stage_transactions, stage_transaction_items and
 * stage_inventory_updates (ON COMMIT DELETE ROWS, recreated on every
 * connect), and writes the raw tables, dead_letter_events, stream_gaps and
 * stream_offsets. The schema and ecom_ensure_daily_partitions() belong to
 * sql/init.sql; this file never creates permanent objects.
 *
 * A flush is one transaction, in this order (the lock order init.sql's
 * partition function also uses, so the two cannot deadlock):
 *   1. the offset fence, partitions sorted by (topic, partition), so two
 *      instances always lock stream_offsets rows in the same order;
 *   2. COPY into the staging tables, then INSERT ... SELECT ... ON CONFLICT
 *      DO NOTHING into user_events, transactions (+ the items of the
 *      transactions that were new) and inventory_updates;
 *   3. COPY straight into dead_letter_events and stream_gaps;
 *   4. COMMIT.
 * Step 2 runs under a savepoint. When PostgreSQL rejects a row of it (a
 * data or constraint error: reject.c decides by SQLSTATE), the batch is
 * rolled back to the savepoint and written again message by message
 * ranges, each under a savepoint of its own, halving the ranges that fail
 * (reject.c's plan) until every rejected message is alone; each of those
 * becomes a dead letter with PostgreSQL's error as its reason, and the
 * transaction goes on to step 3 with the rest, so the offsets move past
 * the rejected messages in the same commit. Any other error fails the
 * flush as before (SINK_RETRY). Rejection warnings are logged after the
 * commit, at most REJECT_LOG_BURST per 10 s.
 * When the fence fails, the transaction is rolled back and then each
 * partition's stored offset is read again, to tell a commit PostgreSQL lost
 * from another instance's write (explain_fence). Statements, COPY and
 * recovery go through common/db.c.
 */
#include "sink.h"
#include "db.h"
#include "elog.h"
#include "preagg.h"
#include "reject.h"
#include "rows.h"
#include "ts.h"
#include "utf8.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAYS_AHEAD 3

struct sink {
    char *conninfo; /* NULL: libpq's PG* variables */
    char *group;
    char *app_name;
    PGconn *conn; /* NULL while disconnected */
    char cluster_id[128]; /* Kafka cluster the offsets belong to, "" unknown */
    int async_commit;     /* synchronous_commit = off */
    /* The flush being written: dead letters of the messages PostgreSQL
     * rejected, and the first REJECT_LOG_BURST of them for the log. */
    batch_buf_t rejected;
    size_t rejected_count;
    struct {
        size_t msg;
        char reason[SINK_REASON_MAX];
    } logq[REJECT_LOG_BURST];
    reject_limit_t limit;         /* rejection warnings */
    reject_limit_t summary_limit; /* lines about a batch with rejections */
    size_t stage_rows[BATCH_RAW_TABLES]; /* rows in the staging tables,
                                          * live or dead, since TRUNCATE */
    analytics_conf_t analytics;
    int analytics_on; /* new_* filled and analytics_apply() in every flush */
    preagg_t preagg;  /* the user events' groups of a direct write */
    int64_t next_state_us; /* when a commit reads windows_state() again */
};

/* See end_write(). */
#define SINK_STAGE_TRUNCATE_ROWS 4096

#define STAGE(t, cols)                                                         \
    "CREATE TEMP TABLE stage_" t " ON COMMIT DELETE ROWS AS SELECT " cols      \
    " FROM " t " WITH NO DATA"

#define NEW(t, cols)                                                           \
    "COPY new_" t " (" cols ") FROM STDIN",                                     \
        "INSERT INTO " t " (" cols ") SELECT " cols " FROM new_" t

/* Where each batch table's COPY rows go. The raw tables are first COPYed
 * straight into place (inside a savepoint); if that hits an id already
 * stored, the batch goes through the staging tables and INSERT ... ON
 * CONFLICT DO NOTHING instead. Dead letters and gaps are COPYed into place. */
static const struct {
    const char *name;
    const char *stage_sql; /* NULL: not staged */
    const char *copy_sql;
    const char *direct_sql; /* COPY straight into the raw table */
    const char *new_sql;    /* with analytics: COPY into new_<table> ... */
    const char *from_new_sql; /* ... then into the raw table from there */
} targets[BATCH_TABLES] = {
    [BATCH_USER_EVENTS] = {"user_events",
                           STAGE("user_events", BATCH_COLS_USER_EVENTS),
                           "COPY stage_user_events (" BATCH_COLS_USER_EVENTS ") FROM STDIN",
                           "COPY user_events (" BATCH_COLS_USER_EVENTS ") FROM STDIN",
                           NEW("user_events", BATCH_COLS_USER_EVENTS)},
    [BATCH_TRANSACTIONS] = {"transactions",
                            STAGE("transactions", BATCH_COLS_TRANSACTIONS),
                            "COPY stage_transactions (" BATCH_COLS_TRANSACTIONS ") FROM STDIN",
                            "COPY transactions (" BATCH_COLS_TRANSACTIONS ") FROM STDIN",
                            NEW("transactions", BATCH_COLS_TRANSACTIONS)},
    [BATCH_TRANSACTION_ITEMS] = {"transaction_items",
                                 STAGE("transaction_items", BATCH_COLS_TRANSACTION_ITEMS),
                                 "COPY stage_transaction_items (" BATCH_COLS_TRANSACTION_ITEMS
                                 ") FROM STDIN",
                                 "COPY transaction_items (" BATCH_COLS_TRANSACTION_ITEMS ") FROM STDIN",
                                 NEW("transaction_items", BATCH_COLS_TRANSACTION_ITEMS)},
    [BATCH_INVENTORY_UPDATES] = {"inventory_updates",
                                 STAGE("inventory_updates", BATCH_COLS_INVENTORY_UPDATES),
                                 "COPY stage_inventory_updates (" BATCH_COLS_INVENTORY_UPDATES
                                 ") FROM STDIN",
                                 "COPY inventory_updates (" BATCH_COLS_INVENTORY_UPDATES ") FROM STDIN",
                                 NEW("inventory_updates", BATCH_COLS_INVENTORY_UPDATES)},
    [BATCH_DEAD_LETTERS] = {"dead_letter_events", NULL,
                            "COPY dead_letter_events (" BATCH_COLS_DEAD_LETTERS ") FROM STDIN"},
    [BATCH_GAPS] = {"stream_gaps", NULL,
                    "COPY stream_gaps (" BATCH_COLS_GAPS ") FROM STDIN"},
};

static const char *const staging_names[BATCH_RAW_TABLES] = {
    "stage_user_events", "stage_transactions", "stage_transaction_items", "stage_inventory_updates"};

static const char insert_user_events_sql[] =
    "INSERT INTO user_events (" BATCH_COLS_USER_EVENTS ") SELECT " BATCH_COLS_USER_EVENTS
    " FROM stage_user_events ON CONFLICT DO NOTHING";

/* A batch may hold one transaction twice (a resend): ON CONFLICT DO NOTHING
 * keeps the first, and the join then inserts the items of each new
 * transaction once per (line_no), the duplicates being skipped the same way.
 * The items of a transaction that was already stored are not inserted. */
static const char insert_transactions_sql[] =
    "WITH ins AS (INSERT INTO transactions (" BATCH_COLS_TRANSACTIONS ") SELECT "
    BATCH_COLS_TRANSACTIONS " FROM stage_transactions ON CONFLICT DO NOTHING"
    " RETURNING transaction_id, event_time),"
    " items AS (INSERT INTO transaction_items (" BATCH_COLS_TRANSACTION_ITEMS ")"
    " SELECT s.* FROM stage_transaction_items s JOIN ins USING (transaction_id, event_time)"
    " ON CONFLICT DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM items)";

static const char insert_inventory_sql[] =
    "INSERT INTO inventory_updates (" BATCH_COLS_INVENTORY_UPDATES ") SELECT "
    BATCH_COLS_INVENTORY_UPDATES " FROM stage_inventory_updates ON CONFLICT DO NOTHING";

/* The same with analytics on: the rows they store also go to new_*, which
 * holds exactly what this transaction stored (analytics.h). */
static const char insert_user_events_new_sql[] =
    "WITH ins AS (INSERT INTO user_events (" BATCH_COLS_USER_EVENTS ") SELECT " BATCH_COLS_USER_EVENTS
    " FROM stage_user_events ON CONFLICT DO NOTHING RETURNING " BATCH_COLS_USER_EVENTS ")"
    " INSERT INTO new_user_events (" BATCH_COLS_USER_EVENTS ") SELECT * FROM ins";
static const char insert_transactions_new_sql[] =
    "WITH ins AS (INSERT INTO transactions (" BATCH_COLS_TRANSACTIONS ") SELECT "
    BATCH_COLS_TRANSACTIONS " FROM stage_transactions ON CONFLICT DO NOTHING"
    " RETURNING " BATCH_COLS_TRANSACTIONS "),"
    " items AS (INSERT INTO transaction_items (" BATCH_COLS_TRANSACTION_ITEMS ")"
    " SELECT s.* FROM stage_transaction_items s JOIN ins USING (transaction_id, event_time)"
    " ON CONFLICT DO NOTHING RETURNING " BATCH_COLS_TRANSACTION_ITEMS "),"
    " n1 AS (INSERT INTO new_transactions (" BATCH_COLS_TRANSACTIONS ") SELECT * FROM ins),"
    " n2 AS (INSERT INTO new_transaction_items (" BATCH_COLS_TRANSACTION_ITEMS ") SELECT * FROM items)"
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM items)";
static const char insert_inventory_new_sql[] =
    "WITH ins AS (INSERT INTO inventory_updates (" BATCH_COLS_INVENTORY_UPDATES ") SELECT "
    BATCH_COLS_INVENTORY_UPDATES " FROM stage_inventory_updates ON CONFLICT DO NOTHING RETURNING "
    BATCH_COLS_INVENTORY_UPDATES ") INSERT INTO new_inventory_updates (" BATCH_COLS_INVENTORY_UPDATES
    ") SELECT * FROM ins";

static const char offset_select_sql[] =
    "SELECT next_offset, coalesce(cluster_id, ''),"
    " floor(extract(epoch FROM max_event_time) * 1000)::bigint FROM stream_offsets"
    " WHERE consumer_group = $1 AND topic = $2 AND kafka_partition = $3";
static const char ensure_sql[] =
    "SELECT ecom_ensure_daily_partitions(d - 1, d + $1::integer)"
    " FROM (SELECT (now() AT TIME ZONE 'UTC')::date) AS today(d)";

/* Server notices (e.g. rows moved out of a default partition) go to the log. */
static void notice_cb(void *arg, const PGresult *res)
{
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

    (void)arg;
    if (msg == NULL)
        return;
    if (sev != NULL && strcmp(sev, "WARNING") == 0)
        LOG_WARN("postgres: %s", msg);
    else
        LOG_INFO("postgres: %s", msg);
}

static void drop_conn(sink_t *s)
{
    PQfinish(s->conn);
    s->conn = NULL;
}

/* After a failed statement: roll back an open transaction on a healthy
 * connection, forget a broken one. */
static void recover(sink_t *s)
{
    if (s->conn != NULL && db_recover(s->conn) != 0)
        drop_conn(s);
}

sink_t *sink_new(const char *conninfo, const char *consumer_group,
                 const char *app_name)
{
    sink_t *s;

    if (consumer_group == NULL)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->conninfo = conninfo ? strdup(conninfo) : NULL;
    s->group = strdup(consumer_group);
    s->app_name = strdup(app_name ? app_name : "ecom-stream");
    preagg_init(&s->preagg);
    if ((conninfo && s->conninfo == NULL) || s->group == NULL || s->app_name == NULL) {
        sink_destroy(s);
        return NULL;
    }
    return s;
}

void sink_destroy(sink_t *s)
{
    if (s == NULL)
        return;
    PQfinish(s->conn);
    buf_free(&s->rejected.buf);
    preagg_free(&s->preagg);
    free(s->conninfo);
    free(s->group);
    free(s->app_name);
    free(s);
}

int sink_connected(const sink_t *s) { return s != NULL && s->conn != NULL; }

PGconn *sink_conn(sink_t *s) { return s ? s->conn : NULL; }

static const char *const session_sql[] = {
    "SET TIME ZONE 'UTC'",
    "SET idle_in_transaction_session_timeout = '15s'",
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
    "SET jit = off",
};

int sink_connect(sink_t *s, int max_wait_ms)
{
    drop_conn(s);
    s->conn = db_connect_retry(s->conninfo, s->app_name, max_wait_ms);
    if (s->conn == NULL)
        return -1;
    PQsetNoticeReceiver(s->conn, notice_cb, NULL);
    /* Timestamps carry their offset; UTC only makes the session's own
     * conversions (partition days) independent of the server. A flush
     * never leaves its transaction idle, so a session idle in one is a
     * client that vanished (a network partition sends no reset): the server
     * ends it, and its locks on stream_offsets, within 15 s, and notices a
     * dead client by its own keepalives. JIT is off: the flush's
     * statements are short, and their plans over the day partitions cost
     * enough to trigger it, which compiled for 0.2 to 2.7 s per flush
     * (auto_explain's JIT timings) to save a few milliseconds. */
    for (size_t i = 0; i < sizeof(session_sql) / sizeof(session_sql[0]); i++)
        if (db_run_cmd(s->conn, "could not prepare the PostgreSQL session", session_sql[i]) != 0)
            goto fail;
    if (db_run_cmd(s->conn, "could not prepare the PostgreSQL session",
                   s->async_commit ? "SET synchronous_commit = off" : "SET synchronous_commit = on") != 0)
        goto fail;
    for (int t = 0; t < BATCH_TABLES; t++) {
        if (targets[t].stage_sql == NULL)
            continue;
        if (db_run_cmd(s->conn, "could not create a staging table", targets[t].stage_sql) != 0) {
            LOG_ERROR("hint: is the schema applied? scripts/pg-local.sh start applies sql/init.sql");
            goto fail;
        }
    }
    for (size_t i = 0; s->analytics_on && analytics_session_sql[i] != NULL; i++) {
        if (db_run_cmd(s->conn, "could not create the analytics tables", analytics_session_sql[i]) != 0) {
            LOG_ERROR("hint: is the schema applied? scripts/pg-local.sh start applies sql/init.sql");
            goto fail;
        }
    }
    if (sink_ensure_partitions(s, DAYS_AHEAD) != 0)
        goto fail;
    return 0;

fail:
    if (s->conn != NULL && PQstatus(s->conn) != CONNECTION_OK)
        LOG_WARN("lost the connection to PostgreSQL while preparing the session");
    drop_conn(s);
    return -1;
}

int sink_ensure_partitions(sink_t *s, int days_ahead)
{
    char days[16];
    const char *params[1] = {days};
    PGresult *res;
    long created;

    if (s->conn == NULL)
        return -1;
    snprintf(days, sizeof(days), "%d", days_ahead < 0 ? 0 : days_ahead);
    res = db_run(s->conn, "could not create daily partitions", ensure_sql, 1, params, PGRES_TUPLES_OK);
    if (res == NULL) {
        recover(s);
        return -1;
    }
    created = PQntuples(res) == 1 ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    if (created > 0)
        LOG_INFO("created %ld daily partitions (through %d days ahead)", created, days_ahead);
    PQclear(res);
    return 0;
}

void sink_set_synchronous_commit(sink_t *s, int on) { s->async_commit = !on; }

void sink_set_analytics(sink_t *s, const analytics_conf_t *conf)
{
    s->analytics = *conf;
    s->analytics_on = conf->enabled;
}

void sink_set_cluster_id(sink_t *s, const char *cluster_id)
{
    snprintf(s->cluster_id, sizeof(s->cluster_id), "%s", cluster_id ? cluster_id : "");
}

int sink_load_offset(sink_t *s, const char *topic, int32_t partition,
                     int64_t *next, char *cluster_id, size_t cluster_size, int64_t *max_ts)
{
    char part[16];
    const char *params[3] = {s->group, topic, part};
    PGresult *res;
    int rc = 0;

    if (s->conn == NULL)
        return -1;
    snprintf(part, sizeof(part), "%" PRId32, partition);
    res = db_run(s->conn, "could not read the stored offset", offset_select_sql, 3, params, PGRES_TUPLES_OK);
    if (res == NULL) {
        recover(s);
        return -1;
    }
    if (PQntuples(res) == 1) {
        *next = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (cluster_id != NULL && cluster_size > 0)
            snprintf(cluster_id, cluster_size, "%s", PQgetvalue(res, 0, 1));
        if (max_ts != NULL)
            *max_ts = PQgetisnull(res, 0, 2) ? BATCH_NO_TIME : strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        rc = 1;
    }
    PQclear(res);
    return rc;
}

/* Locks the batch's rows of stream_offsets in (topic, partition) order, so
 * two instances cannot deadlock, then moves them in one statement. */
static const char fence_lock_sql[] =
    "SELECT 1 FROM stream_offsets WHERE consumer_group = $1"
    " AND (topic, kafka_partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))"
    " ORDER BY topic, kafka_partition FOR UPDATE";
/* Event times travel as epoch ms: BATCH_NO_TIME (INT64_MIN) is NULL (the
 * stored value stays), INT64_MAX (an idle partition that never had an
 * event: it holds nothing back) is infinity. */
#define EPOCH_MS(x)                                                            \
    "CASE " x " WHEN -9223372036854775808 THEN NULL WHEN 9223372036854775807"    \
    " THEN timestamptz 'infinity' ELSE timestamptz 'epoch' + " x " * interval '1 millisecond' END"
static const char fence_update_sql[] =
    "UPDATE stream_offsets o SET next_offset = v.next_offset,"
    " cluster_id = COALESCE(NULLIF($6, ''), o.cluster_id), updated_at = now(),"
    " max_event_time = COALESCE(" EPOCH_MS("v.max_ms") ", o.max_event_time),"
    " watermark = COALESCE(" EPOCH_MS("v.wm_ms") ", o.watermark)"
    " FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $7::bigint[], $8::bigint[])"
    " AS v(topic, kafka_partition, next_offset, committed, max_ms, wm_ms)"
    " WHERE o.consumer_group = $1 AND o.topic = v.topic AND o.kafka_partition = v.kafka_partition"
    " AND o.next_offset = v.committed";
static const char fence_insert_sql[] =
    "INSERT INTO stream_offsets (consumer_group, topic, kafka_partition, next_offset, cluster_id,"
    " max_event_time, watermark)"
    " SELECT $1, v.topic, v.kafka_partition, v.next_offset, NULLIF($5, ''),"
    " " EPOCH_MS("v.max_ms") ", " EPOCH_MS("v.wm_ms")
    " FROM unnest($2::text[], $3::int[], $4::bigint[], $6::bigint[], $7::bigint[])"
    " AS v(topic, kafka_partition, next_offset, max_ms, wm_ms)"
    " ORDER BY 2, 3 ON CONFLICT DO NOTHING";

/* The fence's parameters: [0] the partitions the batch expects a stored
 * offset for (updated), [1] those it expects none for (inserted); each
 * array one text parameter. */
typedef struct {
    buf_t topics, parts, nexts, max_ts, watermarks;
    buf_t committed; /* the offsets expected: [0] only ("{}" in [1]) */
    long long count;
} fence_set_t;

static void fence_sets_build(fence_set_t set[2], const batch_t *b)
{
    memset(set, 0, 2 * sizeof(*set));
    for (int k = 0; k < 2; k++) {
        db_array_begin(&set[k].topics);
        db_array_begin(&set[k].parts);
        db_array_begin(&set[k].nexts);
        db_array_begin(&set[k].max_ts);
        db_array_begin(&set[k].watermarks);
        db_array_begin(&set[k].committed);
    }
    for (size_t i = 0; i < b->offset_count; i++) {
        const batch_offset_t *o = &b->offsets[i];
        fence_set_t *f = &set[o->committed_next < 0];

        db_array_text(&f->topics, o->topic);
        db_array_int(&f->parts, o->partition);
        db_array_int(&f->nexts, o->next);
        db_array_int(&f->max_ts, o->max_ts);
        db_array_int(&f->watermarks, o->watermark);
        if (o->committed_next >= 0)
            db_array_int(&f->committed, o->committed_next);
        f->count++;
    }
    for (int k = 0; k < 2; k++) {
        db_array_end(&set[k].topics);
        db_array_end(&set[k].parts);
        db_array_end(&set[k].nexts);
        db_array_end(&set[k].max_ts);
        db_array_end(&set[k].watermarks);
        db_array_end(&set[k].committed);
    }
}

static int fence_sets_oom(const fence_set_t set[2])
{
    int oom = 0;

    for (int k = 0; k < 2; k++)
        oom |= set[k].topics.oom | set[k].parts.oom | set[k].nexts.oom | set[k].committed.oom |
               set[k].max_ts.oom | set[k].watermarks.oom;
    return oom;
}

static void fence_sets_free(fence_set_t set[2])
{
    for (int k = 0; k < 2; k++) {
        buf_free(&set[k].topics);
        buf_free(&set[k].parts);
        buf_free(&set[k].nexts);
        buf_free(&set[k].max_ts);
        buf_free(&set[k].watermarks);
        buf_free(&set[k].committed);
    }
}

/* Moves every partition's next_offset from committed_next to next, only if
 * stream_offsets still holds committed_next (no row for -1), in two or three
 * statements whatever the number of partitions. Returns SINK_OK,
 * SINK_FENCED (not logged: see explain_fence) or SINK_RETRY (database
 * error, logged). */
static sink_status_t fence_offsets(sink_t *s, const batch_t *b)
{
    fence_set_t set[2];
    sink_status_t st = SINK_OK;

    fence_sets_build(set, b);
    if (fence_sets_oom(set)) {
        LOG_ERROR("out of memory building the offset fence");
        st = SINK_RETRY;
        goto out;
    }
    for (int k = 0; k < 2 && st == SINK_OK; k++) {
        const char *update[8] = {s->group, set[k].topics.data, set[k].parts.data,
                                 set[k].nexts.data, set[k].committed.data, s->cluster_id,
                                 set[k].max_ts.data, set[k].watermarks.data};
        const char *insert[7] = {s->group, set[k].topics.data, set[k].parts.data,
                                 set[k].nexts.data, s->cluster_id, set[k].max_ts.data,
                                 set[k].watermarks.data};
        PGresult *res;

        if (set[k].count == 0)
            continue;
        if (k == 0) {
            res = db_run(s->conn, "could not lock the stored offsets", fence_lock_sql, 3, update, PGRES_TUPLES_OK);
            PQclear(res);
            if (res == NULL) {
                st = SINK_RETRY;
                break;
            }
            res = db_run(s->conn, "could not store the offsets", fence_update_sql, 8, update, PGRES_COMMAND_OK);
        } else {
            res = db_run(s->conn, "could not store the offsets", fence_insert_sql, 7, insert, PGRES_COMMAND_OK);
        }
        if (res == NULL)
            st = SINK_RETRY;
        else if (db_cmd_tuples(res) != set[k].count)
            st = SINK_FENCED;
        PQclear(res);
    }
out:
    fence_sets_free(set);
    return st;
}

/* After a fence failed and the transaction was rolled back: compares what
 * stream_offsets holds for each partition of the batch with what the batch
 * expected, and logs one line for each that differs, counting it in res:
 * behind, or no row where one was expected, means PostgreSQL lost a commit
 * (asynchronous commit and a server crash, or a restore); ahead, or a row
 * where none was expected, means another instance stored the partition.
 * Stops at the first read that fails (logged). */
static void explain_fence(sink_t *s, const batch_t *b, sink_result_t *res)
{
    for (size_t i = 0; i < b->offset_count && s->conn != NULL; i++) {
        const batch_offset_t *o = &b->offsets[i];
        char part[16], expected[48], held[32];
        const char *params[3] = {s->group, o->topic, part};
        PGresult *r;
        int64_t stored = -1;

        snprintf(part, sizeof(part), "%" PRId32, o->partition);
        r = db_run(s->conn, "could not read the stored offset after a failed fence",
                   offset_select_sql, 3, params, PGRES_TUPLES_OK);
        if (r == NULL) {
            recover(s);
            return;
        }
        if (PQntuples(r) == 1)
            stored = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if (stored == o->committed_next)
            continue;
        if (o->committed_next < 0)
            snprintf(expected, sizeof(expected), "no stored offset");
        else
            snprintf(expected, sizeof(expected), "next_offset %lld", (long long)o->committed_next);
        if (stored < 0)
            snprintf(held, sizeof(held), "no row");
        else
            snprintf(held, sizeof(held), "%lld", (long long)stored);
        if (o->committed_next >= 0 && stored < o->committed_next) {
            res->fence_lost++;
            LOG_ERROR("offset fence failed for %s [%d] in consumer group \"%s\": the batch expects %s, stream_offsets holds %s (batch ends at %lld): PostgreSQL lost a commit (asynchronous commit and a server crash, or a restore); the batch is not written",
                      o->topic, (int)o->partition, s->group, expected, held, (long long)o->next);
        } else {
            res->fence_other++;
            LOG_ERROR("offset fence failed for %s [%d] in consumer group \"%s\": the batch expects %s, stream_offsets holds %s (batch ends at %lld): another instance of the consumer group stored this partition; the batch is not written",
                      o->topic, (int)o->partition, s->group, expected, held, (long long)o->next);
        }
    }
}

/* The raw rows of some messages of a batch, per raw table. */
typedef struct {
    const char *data;
    size_t len;
    size_t rows;
} slice_t;

/* All raw rows of the batch. */
static void slices_whole(const batch_t *b, slice_t sl[BATCH_RAW_TABLES])
{
    for (int t = 0; t < BATCH_RAW_TABLES; t++)
        sl[t] = (slice_t){b->tables[t].buf.data, b->tables[t].buf.len, b->tables[t].rows};
}

static size_t count_rows(const char *data, size_t len)
{
    size_t n = 0;
    const char *end = data + len;

    while (data < end && (data = memchr(data, '\n', (size_t)(end - data))) != NULL) {
        n++;
        data++;
    }
    return n;
}

/* The raw rows of messages [lo, hi) (see batch_msg_t). */
static void slices_of(const batch_t *b, size_t lo, size_t hi, slice_t sl[BATCH_RAW_TABLES])
{
    for (int t = 0; t < BATCH_RAW_TABLES; t++) {
        size_t from = batch_msg_rows_start(b, lo, t);
        size_t to = batch_msg_rows_start(b, hi, t);

        sl[t].data = b->tables[t].buf.data + from;
        sl[t].len = to - from;
        sl[t].rows = count_rows(sl[t].data, sl[t].len);
    }
}

/* 1 when every raw row of the batch belongs to one message record, and
 * each record's rows are in the tables of its topic: then the batch can
 * be written message by message. */
static int records_cover_rows(const batch_t *b)
{
    if (b->msg_count == 0)
        return 0;
    for (size_t i = 0; i < b->msg_count; i++) {
        const batch_msg_t *m = &b->msgs[i];
        int own = m->topic >= 0 && m->topic < SCHEMA_TOPICS ? batch_topic_table((schema_topic_t)m->topic) : -1;

        if (own < 0)
            return 0;
        for (int t = 0; t < BATCH_RAW_TABLES; t++) {
            size_t len = batch_msg_rows_end(b, i, t) - batch_msg_rows_start(b, i, t);
            int mine = t == own || (own == BATCH_TRANSACTIONS && t == BATCH_TRANSACTION_ITEMS);

            if ((i == 0 && m->start[t] != 0) || (!mine && len > 0) || (t == own && len == 0))
                return 0;
        }
    }
    return 1;
}

/* After a statement failed: 1 when err rejects the rows being written (a
 * data or constraint error), else 0 with err logged (what, sql). */
static int is_rejection(sink_t *s, const PGresult *err, const char *what, const char *sql)
{
    if (err != NULL && reject_sqlstate_is_rejection(PQresultErrorField(err, PG_DIAG_SQLSTATE)))
        return 1;
    if (err != NULL)
        db_log_error(what, s->conn, err, sql);
    return 0;
}

/* Runs a fixed script of statements without parameters in one round trip
 * (the simple query protocol). Returns 0 or -1 (logged). */
static int run_script(sink_t *s, const char *what, const char *sql)
{
    PGresult *res = PQexec(s->conn, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;

    if (rc != 0)
        db_log_error(what, s->conn, res, sql);
    PQclear(res);
    return rc;
}

/* COPYs the groups of s->preagg into the analytics' tables. Returns 0, or
 * -1 with *sql the failed statement and *err its error. */
static int write_groups(sink_t *s, const char **sql, PGresult **err)
{
    static const char groups_sql[] = "COPY new_user_event_groups (" PREAGG_COLS_GROUPS ") FROM STDIN";
    static const char sessions_sql[] = "COPY new_user_sessions (" PREAGG_COLS_SESSIONS ") FROM STDIN";
    const preagg_t *p = &s->preagg;
    long long copied;

    *sql = groups_sql;
    if (p->groups.len > 0 &&
        db_copy_in(s->conn, groups_sql, p->groups.data, p->groups.len, &copied, err) != 0)
        return -1;
    *sql = sessions_sql;
    if (p->sessions.len > 0 &&
        db_copy_in(s->conn, sessions_sql, p->sessions.data, p->sessions.len, &copied, err) != 0)
        return -1;
    return 0;
}

/* The common case: no event of the batch is stored yet, so its raw rows
 * are COPYed straight into the raw tables, as fast as psql's \copy.
 * Returns 0; 1 when an id was already stored (use the staging path); 2
 * when PostgreSQL rejected a row (*err: its error); or -1 (logged). The
 * caller rolls back to its savepoint unless 0. */
static int write_direct(sink_t *s, const batch_t *b, sink_result_t *res, PGresult **err)
{
    for (int t = 0; t < BATCH_RAW_TABLES; t++) {
        const batch_buf_t *buf = &b->tables[t];
        long long copied = 0;
        /* With analytics the rows go to new_<table> (analytics.h), and from
         * there into the raw table: one transfer from here either way.
         * User events go straight in, and their groups (preagg.h) to the
         * analytics, unless grouping them failed. */
        int grouped = s->analytics_on && t == BATCH_USER_EVENTS &&
                      preagg_user_events(&s->preagg, buf->buf.data, buf->buf.len,
                                         s->analytics.windows.window_ms) == 0;
        int via_new = s->analytics_on && !grouped;
        const char *state, *sql = via_new ? targets[t].new_sql : targets[t].direct_sql;
        PGresult *r = NULL;

        if (buf->buf.len == 0)
            continue;
        if (db_copy_in(s->conn, sql, buf->buf.data, buf->buf.len, &copied, err) == 0 &&
            (!grouped || write_groups(s, &sql, err) == 0) &&
            (!via_new ||
             (r = db_try(s->conn, (sql = targets[t].from_new_sql), 0, NULL, PGRES_COMMAND_OK, err)) != NULL)) {
            res->inserted[t] = r != NULL ? db_cmd_tuples(r) : copied;
            PQclear(r);
            continue;
        }
        state = *err != NULL ? PQresultErrorField(*err, PG_DIAG_SQLSTATE) : NULL;
        if (state != NULL && strcmp(state, "23505") == 0) {
            PQclear(*err);
            *err = NULL;
            return 1;
        }
        return is_rejection(s, *err, "could not store the batch's rows", sql) ? 2 : -1;
    }
    return 0;
}

/* Writes into sql (emptied first) the statements that end a write under
 * SAVEPOINT <name>: "RELEASE SAVEPOINT <name>" when it worked, "ROLLBACK
 * TO SAVEPOINT <name>; RELEASE SAVEPOINT <name>" when it failed, then
 * what empties the staging tables of its rows (sl). A rolled back COPY
 * leaves its rows in a staging table as dead tuples, and a DELETE leaves
 * the rows it deletes, which every later INSERT ... SELECT scans again;
 * TRUNCATE removes them but costs milliseconds (files of the table, its
 * TOAST table and index), so a staging table is truncated once it holds
 * SINK_STAGE_TRUNCATE_ROWS rows, and in between the live rows of a write
 * that worked are deleted. Returns the number of statements. */
static int end_sql(sink_t *s, buf_t *sql, const char *name, int ok, const slice_t sl[BATCH_RAW_TABLES])
{
    int count = 1, truncate = 0;

    buf_reset(sql);
    if (!ok) {
        buf_printf(sql, "ROLLBACK TO SAVEPOINT %s; ", name);
        count++;
    }
    buf_printf(sql, "RELEASE SAVEPOINT %s", name);
    for (int t = 0; t < BATCH_RAW_TABLES; t++) {
        s->stage_rows[t] += sl[t].rows;
        if (s->stage_rows[t] >= SINK_STAGE_TRUNCATE_ROWS) {
            buf_printf(sql, "%s%s", truncate ? ", " : "; TRUNCATE ", staging_names[t]);
            count += !truncate;
            truncate = 1;
            s->stage_rows[t] = 0;
        }
    }
    for (int t = 0; t < BATCH_RAW_TABLES; t++) {
        if (ok && sl[t].rows > 0 && s->stage_rows[t] > 0) {
            buf_printf(sql, "; DELETE FROM %s", staging_names[t]);
            count++;
        }
    }
    return count;
}

static const struct {
    batch_table_t table;
    const char *what, *sql, *new_sql; /* new_sql: with analytics */
    ExecStatusType want;
} staged_inserts[] = {
    {BATCH_USER_EVENTS, "could not insert user events", insert_user_events_sql,
     insert_user_events_new_sql, PGRES_COMMAND_OK},
    {BATCH_TRANSACTIONS, "could not insert transactions", insert_transactions_sql,
     insert_transactions_new_sql, PGRES_TUPLES_OK},
    {BATCH_INVENTORY_UPDATES, "could not insert inventory updates", insert_inventory_sql,
     insert_inventory_new_sql, PGRES_COMMAND_OK},
};

/* Counts what an INSERT of staged_inserts[i] stored (its result r). */
static void count_inserted(size_t i, const PGresult *r, long long inserted[BATCH_TABLES])
{
    batch_table_t t = staged_inserts[i].table;

    if (t == BATCH_TRANSACTIONS) {
        inserted[BATCH_TRANSACTIONS] = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        inserted[BATCH_TRANSACTION_ITEMS] = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    } else {
        inserted[t] = db_cmd_tuples(r);
    }
}

/* One write of the bisect as one string of statements (the simple query
 * protocol: the server runs them in order, stops at the first error and
 * skips the rest): prefix (prefix_count statements that end the previous
 * write and set SAVEPOINT range), the COPY of each slice into its staging
 * table, then the INSERTs, in one round trip per COPY instead of two per
 * COPY and one per statement. Returns 0 (rows counted in inserted[]), 2
 * when PostgreSQL rejected a row of the COPYs or INSERTs (*err: its
 * error), or -1 (logged). */
static int write_script(sink_t *s, const char *prefix, int prefix_count,
                        const slice_t sl[BATCH_RAW_TABLES], long long inserted[BATCH_TABLES],
                        PGresult **err)
{
    enum { PLAIN, COPY, INSERT };
    struct {
        int kind;
        int index; /* COPY: the table; INSERT: in staged_inserts[] */
    } stmt[32];
    size_t count = 0, at = 0;
    buf_t sql;
    PGresult *r;
    int rc = 0;

    buf_init(&sql);
    buf_puts(&sql, prefix);
    for (int i = 0; i < prefix_count && count < 16; i++) /* at most 8 */
        stmt[count++].kind = PLAIN;
    for (int t = 0; t < BATCH_RAW_TABLES; t++) {
        inserted[t] = 0;
        if (sl[t].len == 0)
            continue;
        buf_printf(&sql, "; %s", targets[t].copy_sql);
        stmt[count].kind = COPY;
        stmt[count++].index = t;
    }
    for (size_t i = 0; i < sizeof(staged_inserts) / sizeof(staged_inserts[0]); i++) {
        if (sl[staged_inserts[i].table].len == 0)
            continue;
        buf_printf(&sql, "; %s", s->analytics_on ? staged_inserts[i].new_sql : staged_inserts[i].sql);
        stmt[count].kind = INSERT;
        stmt[count++].index = (int)i;
    }
    if (sql.oom || PQsendQuery(s->conn, sql.data) != 1) {
        db_log_error("could not send a range of the batch", s->conn, NULL, sql.oom ? NULL : sql.data);
        rc = -1;
        goto out;
    }
    while ((r = PQgetResult(s->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);

        if (st == PGRES_COPY_IN) {
            if (at >= count || stmt[at].kind != COPY) {
                PQputCopyEnd(s->conn, "unexpected COPY");
                rc = -1;
            } else if (db_copy_send(s->conn, sl[stmt[at].index].data, sl[stmt[at].index].len) != 0) {
                db_log_error("could not send COPY data", s->conn, NULL, targets[stmt[at].index].copy_sql);
                rc = -1;
            }
        } else if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            if (at < count && stmt[at].kind == COPY && db_cmd_tuples(r) != (long long)sl[stmt[at].index].rows)
                LOG_WARN("COPY into %s took %lld rows, the batch counted %zu", targets[stmt[at].index].name,
                         db_cmd_tuples(r), sl[stmt[at].index].rows);
            if (at < count && stmt[at].kind == INSERT)
                count_inserted((size_t)stmt[at].index, r, inserted);
            at++;
        } else if (rc == 0) {
            if (at < count && stmt[at].kind != PLAIN && is_rejection(s, r, "could not write a range of the batch", sql.data)) {
                *err = r; /* the caller's now */
                r = NULL;
                rc = 2;
            } else {
                if (at >= count || stmt[at].kind == PLAIN)
                    db_log_error("could not end a range of the batch", s->conn, r, prefix);
                rc = -1;
            }
        }
        PQclear(r);
    }
    if (rc == 0 && at != count) {
        LOG_ERROR("PostgreSQL answered %zu of the %zu statements of a range of the batch", at, count);
        rc = -1;
    }
out:
    buf_free(&sql);
    return rc;
}

/* COPYs raw rows into the staging tables and inserts the ones not stored
 * yet, counting them in inserted[]. Returns 0; 2 when PostgreSQL rejected
 * a row (*err: its error); or -1 (logged). */
static int write_staged(sink_t *s, const slice_t sl[BATCH_RAW_TABLES],
                        long long inserted[BATCH_TABLES], PGresult **err)
{
    long long copied[BATCH_RAW_TABLES] = {0};
    PGresult *r;

    for (int t = 0; t < BATCH_RAW_TABLES; t++) {
        inserted[t] = 0;
        if (sl[t].len == 0)
            continue;
        if (db_copy_in(s->conn, targets[t].copy_sql, sl[t].data, sl[t].len, &copied[t], err) != 0)
            return is_rejection(s, *err, "COPY failed", targets[t].copy_sql) ? 2 : -1;
        if (copied[t] != (long long)sl[t].rows)
            LOG_WARN("COPY into %s took %lld rows, the batch counted %zu", targets[t].name,
                     copied[t], sl[t].rows);
    }
    if (copied[BATCH_TRANSACTIONS] == 0 && copied[BATCH_TRANSACTION_ITEMS] > 0)
        LOG_WARN("batch holds %lld transaction items but no transactions; the items are dropped",
                 copied[BATCH_TRANSACTION_ITEMS]);
    for (size_t i = 0; i < sizeof(staged_inserts) / sizeof(staged_inserts[0]); i++) {
        if (copied[staged_inserts[i].table] == 0)
            continue;
        r = db_try(s->conn, s->analytics_on ? staged_inserts[i].new_sql : staged_inserts[i].sql, 0, NULL,
                   staged_inserts[i].want, err);
        if (r == NULL)
            return is_rejection(s, *err, staged_inserts[i].what, staged_inserts[i].sql) ? 2 : -1;
        count_inserted(i, r, inserted);
        PQclear(r);
    }
    return 0;
}

/* PostgreSQL's error as a dead letter's reason: the primary message, the
 * SQLSTATE and the constraint, table and column it names, then the
 * detail; at most SINK_REASON_MAX - 1 bytes, cut at a character. */
static void rejection_reason(const PGresult *err, char *out, size_t size)
{
    static const struct {
        int field;
        const char *label;
    } names[] = {{PG_DIAG_CONSTRAINT_NAME, "constraint"},
                 {PG_DIAG_TABLE_NAME, "table"},
                 {PG_DIAG_COLUMN_NAME, "column"}};
    const char *primary = PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(err, PG_DIAG_MESSAGE_DETAIL);
    const char *state = PQresultErrorField(err, PG_DIAG_SQLSTATE);
    size_t n;

    n = (size_t)snprintf(out, size, "rejected by PostgreSQL: %s (SQLSTATE %s", primary ? primary : "no message",
                         state ? state : "unknown");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && n < size; i++) {
        const char *v = PQresultErrorField(err, names[i].field);
        if (v != NULL)
            n += (size_t)snprintf(out + n, size - n, ", %s \"%s\"", names[i].label, v);
    }
    if (n < size)
        n += (size_t)snprintf(out + n, size - n, ")");
    if (detail != NULL && n < size)
        n += (size_t)snprintf(out + n, size - n, "; detail: %s", detail);
    if (n >= size)
        n = size - 1;
    out[utf8_cut(out, n, n)] = '\0';
}

/* Message i of the batch was rejected with err: adds its dead letter to
 * s->rejected, takes its rows out of res->staged and counts it. Returns 0,
 * or -1 when out of memory (logged). */
static int dead_letter_rejected(sink_t *s, const batch_t *b, size_t i, const PGresult *err,
                                sink_result_t *res)
{
    const batch_msg_t *m = &b->msgs[i];
    rows_conf_t conf = {s->group, SIZE_MAX}; /* valid messages are kept whole */
    rows_msg_t msg = {.topic = schema_topics[m->topic].name,
                      .partition = m->partition,
                      .offset = m->offset,
                      .key = m->has_key ? b->kept.data + m->key_at : NULL,
                      .key_len = m->key_len,
                      .payload = b->kept.data + m->payload_at,
                      .len = m->payload_len};
    char reason[SINK_REASON_MAX];
    slice_t sl[BATCH_RAW_TABLES];

    rejection_reason(err, reason, sizeof(reason));
    if (rows_add_dead_letter(&s->rejected, &conf, &msg, reason) != 0) {
        LOG_ERROR("out of memory building the dead letter of a rejected message");
        return -1;
    }
    slices_of(b, i, i + 1, sl);
    for (int t = 0; t < BATCH_RAW_TABLES; t++)
        res->staged[t] -= (long long)sl[t].rows;
    res->rejected[m->topic]++;
    if (s->rejected_count < REJECT_LOG_BURST) {
        s->logq[s->rejected_count].msg = i;
        memcpy(s->logq[s->rejected_count].reason, reason, sizeof(reason));
    }
    s->rejected_count++;
    return 0;
}

/* After the whole batch was rejected under SAVEPOINT batch (whole: the
 * rows it left in the staging tables): rolls back to it and writes the
 * batch again in ranges of messages (reject.c's plan), each under
 * SAVEPOINT range and through the staging tables, dead-lettering each
 * message PostgreSQL rejects on its own. Returns 0 or -1 (logged). */
static int write_bisect(sink_t *s, const batch_t *b, const slice_t whole[BATCH_RAW_TABLES],
                        sink_result_t *res)
{
    reject_plan_t plan;
    size_t lo = 0, hi = 0;
    buf_t end;
    int ends, rc = 0;

    if (!records_cover_rows(b)) {
        LOG_ERROR("PostgreSQL rejected a row of the batch, and the batch does not say which message each row belongs to; retrying it whole");
        return -1;
    }
    for (int t = 0; t < BATCH_RAW_TABLES; t++)
        res->inserted[t] = 0;
    memset(s->stage_rows, 0, sizeof(s->stage_rows));
    buf_init(&end);
    ends = end_sql(s, &end, "batch", 0, whole);
    reject_plan_init(&plan, b->msg_count);
    while (rc == 0 && reject_plan_next(&plan, &lo, &hi)) {
        long long inserted[BATCH_TABLES] = {0};
        PGresult *err = NULL;
        slice_t sl[BATCH_RAW_TABLES];
        int w;

        buf_puts(&end, "; SAVEPOINT range");
        slices_of(b, lo, hi, sl);
        w = end.oom ? -1 : write_script(s, end.data, ends + 1, sl, inserted, &err);
        if (w == 0)
            for (int t = 0; t < BATCH_RAW_TABLES; t++)
                res->inserted[t] += inserted[t];
        if (w < 0 || (reject_plan_result(&plan, w == 0) && dead_letter_rejected(s, b, lo, err, res) != 0))
            rc = -1;
        PQclear(err);
        ends = end_sql(s, &end, "range", w == 0, sl);
    }
    if (rc == 0 && (end.oom || run_script(s, "could not end the last range of the batch", end.data) != 0))
        rc = -1;
    res->bisect_writes = (long long)plan.tries;
    buf_free(&end);
    return rc;
}

/* Writes every table of the batch. Returns 0 or -1 (logged). */
static int write_rows(sink_t *s, const batch_t *b, sink_result_t *res)
{
    static const batch_table_t direct[] = {BATCH_DEAD_LETTERS, BATCH_GAPS};
    PGresult *err = NULL;
    slice_t whole[BATCH_RAW_TABLES];
    int staged = 0, rc;

    if (db_run_cmd(s->conn, "could not set a savepoint", "SAVEPOINT batch") != 0)
        return -1;
    slices_whole(b, whole);
    rc = write_direct(s, b, res, &err);
    if (rc == 1) {
        if (db_run_cmd(s->conn, "could not roll back to the savepoint", "ROLLBACK TO SAVEPOINT batch") != 0)
            return -1;
        staged = 1;
        rc = write_staged(s, whole, res->inserted, &err);
    }
    PQclear(err);
    if (rc == 2) {
        if (!staged)
            memset(whole, 0, sizeof(whole)); /* nothing in the staging tables */
        if (write_bisect(s, b, whole, res) != 0)
            return -1;
    } else if (rc != 0 || db_run_cmd(s->conn, "could not release the savepoint", "RELEASE SAVEPOINT batch") != 0) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
        const batch_buf_t *buf = &b->tables[direct[i]];
        long long copied = 0;

        if (buf->buf.len == 0)
            continue;
        if (db_copy_in(s->conn, targets[direct[i]].copy_sql, buf->buf.data, buf->buf.len, &copied, NULL) != 0)
            return -1;
        res->inserted[direct[i]] = copied;
    }
    if (s->rejected.buf.len > 0) {
        long long copied = 0;

        if (s->rejected.buf.oom ||
            db_copy_in(s->conn, targets[BATCH_DEAD_LETTERS].copy_sql, s->rejected.buf.data,
                       s->rejected.buf.len, &copied, NULL) != 0)
            return -1;
        res->inserted[BATCH_DEAD_LETTERS] += copied;
    }
    return 0;
}

/* After the commit: one warning per rejected message and a line for the
 * batch, each at most REJECT_LOG_BURST per 10 s; how many warnings were
 * skipped is said with the next one logged. */
static void log_rejections(sink_t *s, const batch_t *b, const sink_result_t *res)
{
    int64_t now = ts_monotonic_us();
    long long skipped;

    for (size_t i = 0; i < s->rejected_count; i++) {
        const batch_msg_t *m;

        if (!reject_limit_take(&s->limit, now) || i >= REJECT_LOG_BURST)
            continue;
        if ((skipped = reject_limit_skipped(&s->limit)) > 0)
            LOG_WARN("%lld more messages that PostgreSQL rejected were dead-lettered without a warning each (at most %d warnings per %lld s)",
                     skipped, REJECT_LOG_BURST, REJECT_LOG_WINDOW_US / 1000000);
        m = &b->msgs[s->logq[i].msg];
        LOG_WARN("%s [%d] @%lld: dead-lettered, %s", schema_topics[m->topic].name, (int)m->partition,
                 (long long)m->offset, s->logq[i].reason);
    }
    if (reject_limit_take(&s->summary_limit, now))
        LOG_INFO("PostgreSQL rejected %zu of the %zu valid messages of the batch: dead-lettered, the rest committed (%lld writes to isolate them, %.3f s in all)",
                 s->rejected_count, b->msg_count, res->bisect_writes, res->seconds);
}

sink_status_t sink_flush(sink_t *s, const batch_t *b, sink_result_t *res)
{
    sink_result_t local;
    int64_t start_us = ts_monotonic_us();
    sink_status_t st;

    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    if (s->conn == NULL)
        return SINK_RETRY;
    for (int t = 0; t < BATCH_TABLES; t++) {
        if (b->tables[t].buf.oom) {
            LOG_ERROR("refusing to write an incomplete batch: the %s buffer ran out of memory",
                      targets[t].name);
            return SINK_RETRY;
        }
        res->staged[t] = (long long)b->tables[t].rows;
    }
    if (b->kept.oom) {
        LOG_ERROR("refusing to write an incomplete batch: the copies of its messages ran out of memory");
        return SINK_RETRY;
    }

    buf_reset(&s->rejected.buf);
    s->rejected.rows = 0;
    s->rejected_count = 0;
    if (db_run_cmd(s->conn, "could not begin the flush transaction", "BEGIN") != 0) {
        st = SINK_RETRY;
        goto fail;
    }
    st = fence_offsets(s, b);
    if (st != SINK_OK)
        goto fail;
    if (write_rows(s, b, res) != 0 || s->conn == NULL ||
        (s->analytics_on && analytics_apply(s->conn, &s->analytics, s->group, b->group_partitions,
                                             &res->analytics, NULL) != 0) ||
        db_run_cmd(s->conn, "could not commit the batch", "COMMIT") != 0) {
        st = SINK_RETRY;
        goto fail;
    }
    res->seconds = (double)(ts_monotonic_us() - start_us) / 1e6;
    if (s->rejected_count > 0)
        log_rejections(s, b, res);
    /* The state's size for /metrics, after the commit (a failure there
     * only leaves the gauges as they were). */
    res->state_read = 0;
    if (s->analytics_on && ts_monotonic_us() >= s->next_state_us) {
        s->next_state_us = ts_monotonic_us() + SINK_STATE_EVERY_US;
        res->state_read = windows_state(s->conn, &res->state) == 0;
    }
    return SINK_OK;

fail:
    recover(s);
    if (st == SINK_FENCED)
        explain_fence(s, b, res);
    memset(res->inserted, 0, sizeof(res->inserted));
    memset(res->rejected, 0, sizeof(res->rejected));
    for (int t = 0; t < BATCH_TABLES; t++)
        res->staged[t] = (long long)b->tables[t].rows;
    res->bisect_writes = 0;
    return st;
}
