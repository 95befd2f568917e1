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
 */
#include "sink.h"
#include "db.h"
#include "elog.h"
#include "js.h"
#include "ts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAYS_AHEAD 3
#define COPY_CHUNK (256 * 1024)

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

/* Logs a PostgreSQL error: the server's message verbatim, one log line per
 * line of it, then the statement as detail. A data or constraint error
 * (SQLSTATE class 22 or 23) gets a hint, since retrying cannot fix it. */
static void log_pg_error(const char *what, PGconn *conn, const PGresult *res,
                         const char *sql)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int first = 1;

    if (*msg == '\0')
        msg = conn ? PQerrorMessage(conn) : "no connection";
    if (*msg == '\0')
        msg = "unknown error";
    while (*msg != '\0') {
        int n = (int)strcspn(msg, "\n");
        if (n > 0 || first) {
            if (first)
                LOG_ERROR("%s: %.*s", what, n, msg);
            else
                LOG_ERROR("%.*s", n, msg);
        }
        first = 0;
        msg += n;
        if (*msg == '\n')
            msg++;
    }
    if (sql != NULL)
        LOG_ERROR("detail: statement was: %.200s", sql);
    if (state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
        LOG_ERROR("hint: PostgreSQL rejected a row of the batch (SQLSTATE %s); retrying the same batch will fail the same way",
                  state);
}

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

/* After a failed statement: forget a broken connection, or roll back an open
 * transaction on a healthy one. */
static void recover(sink_t *s)
{
    PGresult *res;

    if (s->conn == NULL)
        return;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        LOG_WARN("lost the connection to PostgreSQL; will reconnect");
        drop_conn(s);
        return;
    }
    if (PQtransactionStatus(s->conn) == PQTRANS_IDLE)
        return;
    res = PQexec(s->conn, "ROLLBACK");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        log_pg_error("could not roll back", s->conn, res, "ROLLBACK");
    PQclear(res);
    if (PQstatus(s->conn) != CONNECTION_OK || PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
        LOG_WARN("dropping the PostgreSQL connection after a failed rollback");
        drop_conn(s);
    }
}

/* Runs sql with text parameters and returns its result when the status is
 * want; otherwise logs, clears it and returns NULL. The caller PQclear()s. */
static PGresult *run(sink_t *s, const char *what, const char *sql, int nparams,
                     const char *const *params, ExecStatusType want)
{
    PGresult *res = PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != want) {
        log_pg_error(what, s->conn, res, sql);
        PQclear(res);
        return NULL;
    }
    return res;
}

static int run_cmd(sink_t *s, const char *what, const char *sql)
{
    PGresult *res = run(s, what, sql, 0, NULL, PGRES_COMMAND_OK);

    PQclear(res);
    return res ? 0 : -1;
}

static long long cmd_tuples(PGresult *res)
{
    return strtoll(PQcmdTuples(res), NULL, 10);
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

int sink_connect(sink_t *s, int max_wait_ms)
{
    drop_conn(s);
    s->conn = db_connect_retry(s->conninfo, s->app_name, max_wait_ms);
    if (s->conn == NULL)
        return -1;
    PQsetNoticeReceiver(s->conn, notice_cb, NULL);
    /* Timestamps in the batch carry their offset; UTC only makes the
     * session's own conversions (partition days) independent of the server. */
    if (run_cmd(s, "could not prepare the PostgreSQL session", "SET TIME ZONE 'UTC'") != 0 ||
        run_cmd(s, "could not prepare the PostgreSQL session",
                s->async_commit ? "SET synchronous_commit = off" : "SET synchronous_commit = on") != 0)
        goto fail;
    for (int t = 0; t < BATCH_TABLES; t++) {
        if (targets[t].stage_sql == NULL)
            continue;
        if (run_cmd(s, "could not create a staging table", targets[t].stage_sql) != 0) {
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
    res = run(s, "could not create daily partitions", ensure_sql, 1, params, PGRES_TUPLES_OK);
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
    res = run(s, "could not read the stored offset", offset_select_sql, 3, params, PGRES_TUPLES_OK);
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

/* COPYs buf (COPY text rows) with sql: PQputCopyData in chunks, then
 * PQputCopyEnd, then PQgetResult until NULL. Returns 0 and the number of
 * rows PostgreSQL took, -2 (not logged) for a unique violation when
 * quiet_unique is set, or -1 (logged). */
static int copy_in(sink_t *s, const char *sql, const buf_t *buf,
                   long long *copied, int quiet_unique)
{
    PGresult *res = PQexec(s->conn, sql);
    int sent = 1;
    int logged = 0;
    int unique = 0;

    if (PQresultStatus(res) != PGRES_COPY_IN) {
        log_pg_error("could not start COPY", s->conn, res, sql);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    for (size_t off = 0; off < buf->len && sent; off += COPY_CHUNK) {
        size_t n = buf->len - off < COPY_CHUNK ? buf->len - off : COPY_CHUNK;
        sent = PQputCopyData(s->conn, buf->data + off, (int)n) == 1;
    }
    if (PQputCopyEnd(s->conn, sent ? NULL : "ecom-stream could not send the COPY data") != 1)
        sent = 0;
    while ((res = PQgetResult(s->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);

        if (st == PGRES_COMMAND_OK) {
            *copied = cmd_tuples(res);
        } else if (!logged) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            unique = quiet_unique && state != NULL && strcmp(state, "23505") == 0;
            if (!unique)
                log_pg_error("COPY failed", s->conn, res, sql);
            logged = 1;
        }
        PQclear(res);
        if (st == PGRES_COPY_IN) {
            /* Still copying after PQputCopyEnd: the connection is unusable. */
            drop_conn(s);
            return -1;
        }
    }
    if (!sent && !logged)
        log_pg_error("could not send COPY data", s->conn, NULL, sql);
    if (unique && sent)
        return -2;
    return sent && !logged ? 0 : -1;
}

/* Logs a failed fence with the value stream_offsets holds now. */
static void log_fenced(sink_t *s, const batch_offset_t *o, const char *const *params)
{
    PGresult *res = PQexecParams(s->conn, offset_select_sql, 3, NULL, params, NULL, NULL, 0);
    const char *held = "unknown";

    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        held = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "no row";
    if (o->committed_next < 0)
        LOG_ERROR("offset fence failed for %s [%d] in consumer group \"%s\": the batch expects no stored offset, stream_offsets holds %s (batch ends at %lld)",
                  o->topic, (int)o->partition, s->group, held, (long long)o->next);
    else
        LOG_ERROR("offset fence failed for %s [%d] in consumer group \"%s\": the batch expects next_offset %lld, stream_offsets holds %s (batch ends at %lld)",
                  o->topic, (int)o->partition, s->group, (long long)o->committed_next, held,
                  (long long)o->next);
    LOG_ERROR("detail: another instance of the consumer group stored this partition; the batch is not written");
    PQclear(res);
}

/* Appends one element to a PostgreSQL array literal being built in t
 * ("{" is added before the first, the caller closes it with "}"). Text
 * elements are double-quoted with '"' and '\' escaped. */
static void array_add(buf_t *t, const char *value, int quote)
{
    buf_append(t, t->len == 0 ? "{" : ",", 1);
    if (quote)
        buf_append(t, "\"", 1);
    for (const char *c = value; *c; c++) {
        if (quote && (*c == '"' || *c == '\\'))
            buf_append(t, "\\", 1);
        buf_append(t, c, 1);
    }
    if (quote)
        buf_append(t, "\"", 1);
}

static void array_add_int(buf_t *t, int64_t v)
{
    char num[24];
    js_format_int(v, num, sizeof(num));
    array_add(t, num, 0);
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

/* After a failed fence: names each partition whose stored offset is not the
 * one the batch started from. */
static void log_fence_failures(sink_t *s, const batch_t *b)
{
    for (size_t i = 0; i < b->offset_count; i++) {
        const batch_offset_t *o = &b->offsets[i];
        char part[16];
        const char *params[3] = {s->group, o->topic, part};
        PGresult *res;
        int matches;

        snprintf(part, sizeof(part), "%" PRId32, o->partition);
        res = PQexecParams(s->conn, offset_select_sql, 3, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            PQclear(res);
            return;
        }
        matches = o->committed_next < 0 ? PQntuples(res) == 0
                  : PQntuples(res) == 1 &&
                        strtoll(PQgetvalue(res, 0, 0), NULL, 10) == o->committed_next;
        PQclear(res);
        if (!matches)
            log_fenced(s, o, params);
    }
}

/* Moves every partition's next_offset from committed_next to next, only if
 * stream_offsets still holds committed_next (no row for -1), in two or three
 * statements whatever the number of partitions. Returns SINK_OK,
 * SINK_FENCED (logged) or SINK_RETRY (database error, logged). */
static sink_status_t fence_offsets(sink_t *s, const batch_t *b)
{
    buf_t topics[2], parts[2], nexts[2], committed;
    long long want[2] = {0, 0};
    sink_status_t st = SINK_OK;
    int oom = 0;

    buf_init(&committed);
    for (int k = 0; k < 2; k++) {
        buf_init(&topics[k]);
        buf_init(&parts[k]);
        buf_init(&nexts[k]);
    }
    for (size_t i = 0; i < b->offset_count; i++) {
        const batch_offset_t *o = &b->offsets[i];
        int k = o->committed_next < 0; /* 0: update, 1: insert */
        array_add(&topics[k], o->topic, 1);
        array_add_int(&parts[k], o->partition);
        array_add_int(&nexts[k], o->next);
        if (k == 0)
            array_add_int(&committed, o->committed_next);
        want[k]++;
    }
    for (int k = 0; k < 2; k++) {
        if (want[k] > 0) {
            buf_append(&topics[k], "}", 1);
            buf_append(&parts[k], "}", 1);
            buf_append(&nexts[k], "}", 1);
            if (k == 0)
                buf_append(&committed, "}", 1);
        }
        oom |= topics[k].oom | parts[k].oom | nexts[k].oom;
    }
    oom |= committed.oom;
    if (oom) {
        LOG_ERROR("out of memory building the offset fence");
        st = SINK_RETRY;
        goto out;
    }
    for (int k = 0; k < 2 && st == SINK_OK; k++) {
        const char *update[6] = {s->group, topics[k].data, parts[k].data, nexts[k].data,
                                 committed.data, s->cluster_id};
        const char *insert[5] = {s->group, topics[k].data, parts[k].data, nexts[k].data,
                                 s->cluster_id};
        PGresult *res;

        if (want[k] == 0)
            continue;
        if (k == 0) {
            res = run(s, "could not lock the stored offsets", fence_lock_sql, 3, update, PGRES_TUPLES_OK);
            PQclear(res);
            if (res == NULL) {
                st = SINK_RETRY;
                break;
            }
            res = run(s, "could not store the offsets", fence_update_sql, 6, update, PGRES_COMMAND_OK);
        } else {
            res = run(s, "could not store the offsets", fence_insert_sql, 5, insert, PGRES_COMMAND_OK);
        }
        if (res == NULL)
            st = SINK_RETRY;
        else if (cmd_tuples(res) != want[k])
            st = SINK_FENCED;
        PQclear(res);
    }
    if (st == SINK_FENCED)
        log_fence_failures(s, b);
out:
    for (int k = 0; k < 2; k++) {
        buf_free(&topics[k]);
        buf_free(&parts[k]);
        buf_free(&nexts[k]);
    }
    buf_free(&committed);
    return st;
}

/* The common case: no event of the batch is stored yet, so its raw rows
 * are COPYed straight into the raw tables, as fast as psql's \copy. Returns
 * 0, 1 when an id was already stored (rolled back to the savepoint; use the
 * staging path), or -1 (logged). */
static int write_direct(sink_t *s, const batch_t *b, sink_result_t *res)
{
    static const batch_table_t raw[] = {BATCH_USER_EVENTS, BATCH_TRANSACTIONS,
                                        BATCH_TRANSACTION_ITEMS, BATCH_INVENTORY_UPDATES};

    if (run_cmd(s, "could not set a savepoint", "SAVEPOINT direct") != 0)
        return -1;
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        const batch_buf_t *buf = &b->tables[raw[i]];
        long long copied = 0;
        int rc;

        if (buf->buf.len == 0)
            continue;
        rc = copy_in(s, targets[raw[i]].direct_sql, &buf->buf, &copied, 1);
        if (rc == -2)
            return run_cmd(s, "could not roll back to the savepoint", "ROLLBACK TO SAVEPOINT direct") == 0 ? 1 : -1;
        if (rc != 0)
            return -1;
        res->inserted[raw[i]] = copied;
    }
    return run_cmd(s, "could not release the savepoint", "RELEASE SAVEPOINT direct");
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
        if (copy_in(s, targets[t].copy_sql, &buf->buf, &copied[t], 0) != 0)
            return -1;
        if (copied[t] != (long long)buf->rows)
            LOG_WARN("COPY into %s took %lld rows, the batch counted %zu", targets[t].name,
                     copied[t], buf->rows);
    }
    if (copied[BATCH_USER_EVENTS] > 0) {
        r = run(s, "could not insert user events", insert_user_events_sql, 0, NULL, PGRES_COMMAND_OK);
        if (r == NULL)
            return -1;
        res->inserted[BATCH_USER_EVENTS] = cmd_tuples(r);
        PQclear(r);
    }
    if (copied[BATCH_TRANSACTIONS] > 0) {
        r = run(s, "could not insert transactions", insert_transactions_sql, 0, NULL, PGRES_TUPLES_OK);
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
        r = run(s, "could not insert inventory updates", insert_inventory_sql, 0, NULL, PGRES_COMMAND_OK);
        if (r == NULL)
            return -1;
        res->inserted[BATCH_INVENTORY_UPDATES] = cmd_tuples(r);
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
        if (copy_in(s, targets[direct[i]].copy_sql, &buf->buf, &copied, 0) != 0)
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

    if (run_cmd(s, "could not begin the flush transaction", "BEGIN") != 0) {
        st = SINK_RETRY;
        goto fail;
    }
    st = fence_offsets(s, b);
    if (st != SINK_OK)
        goto fail;
    if (write_rows(s, b, res) != 0 || s->conn == NULL ||
        run_cmd(s, "could not commit the batch", "COMMIT") != 0) {
        st = SINK_RETRY;
        goto fail;
    }
    res->seconds = (double)(ts_monotonic_us() - start_us) / 1e6;
    return SINK_OK;

fail:
    recover(s);
    memset(res->inserted, 0, sizeof(res->inserted));
    return st;
}
