/*
 * archive.c - archive-raw (see run.h): an hour of each raw table as gzipped
 * JSON lines under raw/<topic>/dt=YYYY-MM-DD/hr=HH.jsonl.gz, recorded in
 * lake_archives, and the retention step that drops daily partitions only
 * once all their hours are archived (ecom_drop_archived_day in
 * sql/batch.sql).
 *
 * common/lakecopy.c writes the hour's rows (ordered by event_time and id, so
 * a rerun writes the same bytes) as JSON objects built on the client from
 * the columns' types: PostgreSQL's own row_to_json() made the COPY 4 times
 * slower. A transaction's line items go inside
 * it, as "items" ordered by line_no (built by PostgreSQL as json).
 */
#include "run.h"
#include "db.h"
#include "elog.h"
#include "lakecopy.h"
#include "ts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LO "current_setting('ecom_batch.lo')::timestamptz"
#define HI "current_setting('ecom_batch.hi')::timestamptz"

typedef struct {
    const char *topic;
    const char *select; /* the hour's rows, ordered */
    const char *items; /* the line items the file holds, or NULL */
} archive_topic_t;

static const archive_topic_t topics[] = {
    {"user-events",
     "SELECT * FROM user_events"
     " WHERE event_time >= " LO " AND event_time < " HI " ORDER BY event_time, event_id",
     NULL},
    /* The items by the primary key of each transaction: transaction_items
     * has no event_time index, and a range scan of it read the whole day's
     * partition once an hour. */
    {"transactions",
     "SELECT t.*, " LAKECOPY_TXN_ITEMS " AS items"
     " FROM transactions t WHERE t.event_time >= " LO " AND t.event_time < " HI
     " ORDER BY t.event_time, t.transaction_id",
     "SELECT coalesce(sum((SELECT count(*) FROM transaction_items i"
     "   WHERE i.transaction_id = t.transaction_id AND i.event_time = t.event_time)), 0)"
     "  FROM transactions t WHERE t.event_time >= $1::timestamptz AND t.event_time < $2::timestamptz"},
    {"inventory-updates",
     "SELECT * FROM inventory_updates"
     " WHERE event_time >= " LO " AND event_time < " HI " ORDER BY event_time, event_id",
     NULL},
};

/* One topic's hour: the file, then its lake_archives row. */
static int archive_topic(PGconn *conn, const archive_topic_t *t, const char *const hour[2],
                         int64_t lo, const run_opts_t *o, run_result_t *r, char *err,
                         size_t errsize)
{
    char rel[256], label[PERIOD_LABEL_LEN], srows[24], sitems[24], sbytes[24];
    const char *params[6] = {t->topic, hour[0], srows, NULL, sbytes, rel};
    long long copied = 0;
    int64_t bytes = 0;
    PGresult *res;

    period_label(PERIOD_HOUR, lo, label); /* YYYY-MM-DDTHH */
    snprintf(rel, sizeof(rel), "raw/%s/dt=%.10s/hr=%.2s.jsonl.gz", t->topic, label, label + 11);
    if (lakecopy_json(conn, t->select, o->lake_root, rel, o->gzip_level, &copied, &bytes, err,
                      errsize) != 0)
        return -1;
    if (t->items != NULL) {
        res = db_run(conn, "could not count the archived line items", t->items, 2, hour,
                     PGRES_TUPLES_OK);
        if (res == NULL)
            goto db_error;
        snprintf(sitems, sizeof(sitems), "%s", PQgetvalue(res, 0, 0));
        params[3] = sitems;
        PQclear(res);
    }
    snprintf(srows, sizeof(srows), "%lld", copied);
    snprintf(sbytes, sizeof(sbytes), "%lld", (long long)bytes);
    res = db_run(conn, "could not record the archive in lake_archives",
                 "INSERT INTO lake_archives (topic, hour, rows, items, bytes, path)"
                 " VALUES ($1, $2, $3, $4, $5, $6)"
                 " ON CONFLICT (topic, hour) DO UPDATE SET rows = EXCLUDED.rows,"
                 " items = EXCLUDED.items, bytes = EXCLUDED.bytes, path = EXCLUDED.path,"
                 " archived_at = now()",
                 6, params, PGRES_COMMAND_OK);
    if (res == NULL)
        goto db_error;
    PQclear(res);
    r->rows += copied;
    r->files++;
    r->bytes += bytes;
    return 0;
db_error:
    run_conn_error(conn, err, errsize);
    return -1;
}

int archive_hour(PGconn *conn, const char *const bounds[2], int64_t lo, const run_opts_t *o,
                 run_result_t *r, char *err, size_t errsize)
{
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (archive_topic(conn, &topics[i], bounds, lo, o, r, err, errsize) != 0)
            return -1;
    return 0;
}

/* Drops one day in its own transaction; records it either way. */
static int drop_day(PGconn *conn, const char *day, int64_t lo)
{
    const char *params[1] = {day};
    int64_t started = ts_now_ms(), t0 = ts_monotonic_ms();
    char err[1024];
    long long dropped;
    PGresult *res;

    if (db_run_cmd(conn, "could not start the drop's transaction", "BEGIN") != 0)
        goto fail;
    res = db_run(conn, "could not drop the archived day", "SELECT ecom_drop_archived_day($1::date)",
                 1, params, PGRES_TUPLES_OK);
    if (res == NULL)
        goto fail;
    dropped = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (run_record(conn, "drop-archived", lo, lo + PERIOD_DAY_MS, dropped, started,
                   ts_monotonic_ms() - t0, NULL) != 0 ||
        db_run_cmd(conn, "could not commit the drop", "COMMIT") != 0)
        goto fail;
    LOG_INFO("dropped the %lld daily partitions of %s (every hour archived)", dropped, day);
    return 0;
fail:
    run_conn_error(conn, err, sizeof(err));
    if (db_recover(conn) == 0)
        run_record(conn, "drop-archived", lo, lo + PERIOD_DAY_MS, 0, started,
                   ts_monotonic_ms() - t0, err);
    return -1;
}

int archive_drop_before(PGconn *conn, int64_t before_day)
{
    char before[32], rfc[TS_RFC3339_LEN];
    const char *params[1] = {before};
    PGresult *res;
    int days, done = 0;

    snprintf(before, sizeof(before), "%.10s", ts_format_rfc3339(before_day, rfc));
    res = db_run(conn, "could not list the daily partitions",
                 "SELECT DISTINCT to_char(to_date(substring(c.relname FROM '_p([0-9]{8})$'), 'YYYYMMDD'),"
                 "                        'YYYY-MM-DD') AS day"
                 "  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                 " WHERE i.inhparent IN ('user_events'::regclass, 'transactions'::regclass,"
                 "                       'transaction_items'::regclass, 'inventory_updates'::regclass)"
                 "   AND c.relname ~ '_p[0-9]{8}$'"
                 "   AND to_date(substring(c.relname FROM '_p([0-9]{8})$'), 'YYYYMMDD') < $1::date"
                 " ORDER BY 1",
                 1, params, PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    days = PQntuples(res);
    if (days == 0)
        LOG_INFO("no daily partition before %s to drop", before);
    for (int i = 0; i < days; i++) {
        const char *day = PQgetvalue(res, i, 0);
        char iso[32];
        int64_t lo = 0;

        snprintf(iso, sizeof(iso), "%sT00:00:00Z", day);
        ts_parse_rfc3339(iso, &lo); /* the server's own YYYY-MM-DD */
        if (drop_day(conn, day, lo) != 0) {
            PQclear(res);
            return -1;
        }
        done++;
    }
    PQclear(res);
    return done;
}
