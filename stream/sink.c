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
 * When the fence fails, the transaction is rolled back and then each
 * partition's stored offset is read again, to tell a commit PostgreSQL lost
 * from another instance's write (explain_fence). Statements, COPY and
 * recovery go through common/db.c.
 */
#include "sink.h"
#include "db.h"
#include "elog.h"
#include "ts.h"

#include <inttypes.h>
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
};

#define STAGE(t, cols)                                                         \
    "CREATE TEMP TABLE stage_" t " ON COMMIT DELETE ROWS AS SELECT " cols      \
    " FROM " t " WITH NO DATA"

/* Where each batch table's COPY rows go. The raw tables are first COPYed
 * straight into place (inside a savepoint); if that hits an id already
 * stored, the batch goes through the staging tables and INSERT ... ON
 * CONFLICT DO NOTHING instead. Dead letters and gaps are COPYed into place. */
static const struct {
    const char *name;
    const char *stage_sql; /* NULL: not staged */
    const char *copy_sql;
    const char *direct_sql; /* COPY straight into the raw table */
} targets[BATCH_TABLES] = {
    [BATCH_USER_EVENTS] = {"user_events",
                           STAGE("user_events", BATCH_COLS_USER_EVENTS),
                           "COPY stage_user_events (" BATCH_COLS_USER_EVENTS ") FROM STDIN",
                           "COPY user_events (" BATCH_COLS_USER_EVENTS ") FROM STDIN"},
    [BATCH_TRANSACTIONS] = {"transactions",
                            STAGE("transactions", BATCH_COLS_TRANSACTIONS),
                            "COPY stage_transactions (" BATCH_COLS_TRANSACTIONS ") FROM STDIN",
                            "COPY transactions (" BATCH_COLS_TRANSACTIONS ") FROM STDIN"},
    [BATCH_TRANSACTION_ITEMS] = {"transaction_items",
                                 STAGE("transaction_items", BATCH_COLS_TRANSACTION_ITEMS),
                                 "COPY stage_transaction_items (" BATCH_COLS_TRANSACTION_ITEMS
                                 ") FROM STDIN",
                                 "COPY transaction_items (" BATCH_COLS_TRANSACTION_ITEMS ") FROM STDIN"},
    [BATCH_INVENTORY_UPDATES] = {"inventory_updates",
                                 STAGE("inventory_updates", BATCH_COLS_INVENTORY_UPDATES),
                                 "COPY stage_inventory_updates (" BATCH_COLS_INVENTORY_UPDATES
                                 ") FROM STDIN",
                                 "COPY inventory_updates (" BATCH_COLS_INVENTORY_UPDATES ") FROM STDIN"},
    [BATCH_DEAD_LETTERS] = {"dead_letter_events", NULL,
                            "COPY dead_letter_events (" BATCH_COLS_DEAD_LETTERS ") FROM STDIN"},
    [BATCH_GAPS] = {"stream_gaps", NULL,
                    "COPY stream_gaps (" BATCH_COLS_GAPS ") FROM STDIN"},
};

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

static const char offset_select_sql[] =
    "SELECT next_offset, coalesce(cluster_id, '') FROM stream_offsets"
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
     * dead client by its own keepalives. */
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

void sink_set_cluster_id(sink_t *s, const char *cluster_id)
{
    snprintf(s->cluster_id, sizeof(s->cluster_id), "%s", cluster_id ? cluster_id : "");
}

int sink_load_offset(sink_t *s, const char *topic, int32_t partition,
                     int64_t *next, char *cluster_id, size_t cluster_size)
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
static const char fence_update_sql[] =
    "UPDATE stream_offsets o SET next_offset = v.next_offset,"
    " cluster_id = COALESCE(NULLIF($6, ''), o.cluster_id), updated_at = now()"
    " FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[])"
    " AS v(topic, kafka_partition, next_offset, committed)"
    " WHERE o.consumer_group = $1 AND o.topic = v.topic AND o.kafka_partition = v.kafka_partition"
    " AND o.next_offset = v.committed";
static const char fence_insert_sql[] =
    "INSERT INTO stream_offsets (consumer_group, topic, kafka_partition, next_offset, cluster_id)"
    " SELECT $1, v.topic, v.kafka_partition, v.next_offset, NULLIF($5, '')"
    " FROM unnest($2::text[], $3::int[], $4::bigint[]) AS v(topic, kafka_partition, next_offset)"
    " ORDER BY 2, 3 ON CONFLICT DO NOTHING";

/* The fence's parameters: [0] the partitions the batch expects a stored
 * offset for (updated), [1] those it expects none for (inserted); each
 * array one text parameter. */
typedef struct {
    buf_t topics, parts, nexts;
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
        db_array_begin(&set[k].committed);
    }
    for (size_t i = 0; i < b->offset_count; i++) {
        const batch_offset_t *o = &b->offsets[i];
        fence_set_t *f = &set[o->committed_next < 0];

        db_array_text(&f->topics, o->topic);
        db_array_int(&f->parts, o->partition);
        db_array_int(&f->nexts, o->next);
        if (o->committed_next >= 0)
            db_array_int(&f->committed, o->committed_next);
        f->count++;
    }
    for (int k = 0; k < 2; k++) {
        db_array_end(&set[k].topics);
        db_array_end(&set[k].parts);
        db_array_end(&set[k].nexts);
        db_array_end(&set[k].committed);
    }
}

static int fence_sets_oom(const fence_set_t set[2])
{
    int oom = 0;

    for (int k = 0; k < 2; k++)
        oom |= set[k].topics.oom | set[k].parts.oom | set[k].nexts.oom | set[k].committed.oom;
    return oom;
}

static void fence_sets_free(fence_set_t set[2])
{
    for (int k = 0; k < 2; k++) {
        buf_free(&set[k].topics);
        buf_free(&set[k].parts);
        buf_free(&set[k].nexts);
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
        const char *update[6] = {s->group, set[k].topics.data, set[k].parts.data,
                                 set[k].nexts.data, set[k].committed.data, s->cluster_id};
        const char *insert[5] = {s->group, set[k].topics.data, set[k].parts.data,
                                 set[k].nexts.data, s->cluster_id};
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
            res = db_run(s->conn, "could not store the offsets", fence_update_sql, 6, update, PGRES_COMMAND_OK);
        } else {
            res = db_run(s->conn, "could not store the offsets", fence_insert_sql, 5, insert, PGRES_COMMAND_OK);
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

/* The common case: no event of the batch is stored yet, so its raw rows
 * are COPYed straight into the raw tables, as fast as psql's \copy. Returns
 * 0, 1 when an id was already stored (rolled back to the savepoint; use the
 * staging path), or -1 (logged). */
static int write_direct(sink_t *s, const batch_t *b, sink_result_t *res)
{
    static const batch_table_t raw[] = {BATCH_USER_EVENTS, BATCH_TRANSACTIONS,
                                        BATCH_TRANSACTION_ITEMS, BATCH_INVENTORY_UPDATES};

    if (db_run_cmd(s->conn, "could not set a savepoint", "SAVEPOINT direct") != 0)
        return -1;
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        const batch_buf_t *buf = &b->tables[raw[i]];
        long long copied = 0;
        int rc;

        if (buf->buf.len == 0)
            continue;
        rc = db_copy_in(s->conn, targets[raw[i]].direct_sql, buf->buf.data, buf->buf.len, &copied, 1);
        if (rc == -2)
            return db_run_cmd(s->conn, "could not roll back to the savepoint", "ROLLBACK TO SAVEPOINT direct") == 0 ? 1 : -1;
        if (rc != 0)
            return -1;
        res->inserted[raw[i]] = copied;
    }
    return db_run_cmd(s->conn, "could not release the savepoint", "RELEASE SAVEPOINT direct");
}

/* COPYs the batch's raw rows into the staging tables and inserts the ones
 * not stored yet. Returns 0 or -1 (logged). */
static int write_staged(sink_t *s, const batch_t *b, sink_result_t *res)
{
    static const batch_table_t raw[] = {BATCH_USER_EVENTS, BATCH_TRANSACTIONS,
                                        BATCH_TRANSACTION_ITEMS, BATCH_INVENTORY_UPDATES};
    long long copied[BATCH_TABLES] = {0};
    PGresult *r;

    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        batch_table_t t = raw[i];
        const batch_buf_t *buf = &b->tables[t];

        res->inserted[t] = 0;
        if (buf->buf.len == 0)
            continue;
        if (db_copy_in(s->conn, targets[t].copy_sql, buf->buf.data, buf->buf.len, &copied[t], 0) != 0)
            return -1;
        if (copied[t] != (long long)buf->rows)
            LOG_WARN("COPY into %s took %lld rows, the batch counted %zu", targets[t].name,
                     copied[t], buf->rows);
    }
    if (copied[BATCH_USER_EVENTS] > 0) {
        r = db_run(s->conn, "could not insert user events", insert_user_events_sql, 0, NULL, PGRES_COMMAND_OK);
        if (r == NULL)
            return -1;
        res->inserted[BATCH_USER_EVENTS] = db_cmd_tuples(r);
        PQclear(r);
    }
    if (copied[BATCH_TRANSACTIONS] > 0) {
        r = db_run(s->conn, "could not insert transactions", insert_transactions_sql, 0, NULL, PGRES_TUPLES_OK);
        if (r == NULL)
            return -1;
        res->inserted[BATCH_TRANSACTIONS] = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        res->inserted[BATCH_TRANSACTION_ITEMS] = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
    } else if (copied[BATCH_TRANSACTION_ITEMS] > 0) {
        LOG_WARN("batch holds %lld transaction items but no transactions; the items are dropped",
                 copied[BATCH_TRANSACTION_ITEMS]);
    }
    if (copied[BATCH_INVENTORY_UPDATES] > 0) {
        r = db_run(s->conn, "could not insert inventory updates", insert_inventory_sql, 0, NULL, PGRES_COMMAND_OK);
        if (r == NULL)
            return -1;
        res->inserted[BATCH_INVENTORY_UPDATES] = db_cmd_tuples(r);
        PQclear(r);
    }
    return 0;
}

/* Writes every table of the batch. Returns 0 or -1 (logged). */
static int write_rows(sink_t *s, const batch_t *b, sink_result_t *res)
{
    static const batch_table_t direct[] = {BATCH_DEAD_LETTERS, BATCH_GAPS};
    int rc = write_direct(s, b, res);

    if (rc < 0 || (rc == 1 && write_staged(s, b, res) != 0))
        return -1;
    for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
        const batch_buf_t *buf = &b->tables[direct[i]];
        long long copied = 0;

        if (buf->buf.len == 0)
            continue;
        if (db_copy_in(s->conn, targets[direct[i]].copy_sql, buf->buf.data, buf->buf.len, &copied, 0) != 0)
            return -1;
        res->inserted[direct[i]] = copied;
    }
    return 0;
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

    if (db_run_cmd(s->conn, "could not begin the flush transaction", "BEGIN") != 0) {
        st = SINK_RETRY;
        goto fail;
    }
    st = fence_offsets(s, b);
    if (st != SINK_OK)
        goto fail;
    if (write_rows(s, b, res) != 0 || s->conn == NULL ||
        db_run_cmd(s->conn, "could not commit the batch", "COMMIT") != 0) {
        st = SINK_RETRY;
        goto fail;
    }
    res->seconds = (double)(ts_monotonic_us() - start_us) / 1e6;
    return SINK_OK;

fail:
    recover(s);
    if (st == SINK_FENCED)
        explain_fence(s, b, res);
    memset(res->inserted, 0, sizeof(res->inserted));
    return st;
}
