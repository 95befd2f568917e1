/*
 * pgmon.c - PostgreSQL's figures for the collector (see pgmon.h): a few
 * catalog queries and exact counts, each with the scrape's deadline.
 */
#include "pgmon.h"
#include "db.h"
#include "ts.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pgmon {
    db_lazy_t db;
};

/* The raw tables and the topic each holds ("" for none). */
static const struct {
    const char *table, *topic;
} raw_tables[] = {
    {"user_events", "user-events"},
    {"transactions", "transactions"},
    {"inventory_updates", "inventory-updates"},
    {"transaction_items", ""},
    {"dead_letter_events", ""},
};

static const char sql_sizes[] =
    "SELECT c.relname, (SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t)::bigint"
    " FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
    " AND c.relkind IN ('r', 'p') AND NOT c.relispartition";
static const char sql_db[] =
    "SELECT pg_database_size(current_database()), current_setting('max_connections')::int,"
    " extract(epoch FROM now())";
static const char sql_conns[] =
    "SELECT coalesce(state, 'other'), count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() GROUP BY 1";

pgmon_t *pgmon_new(const char *conninfo, const char *app_name)
{
    pgmon_t *p = calloc(1, sizeof(*p));

    if (p != NULL && db_lazy_init(&p->db, conninfo, app_name) != 0) {
        free(p);
        p = NULL;
    }
    return p;
}

void pgmon_free(pgmon_t *p)
{
    if (p == NULL)
        return;
    db_lazy_free(&p->db);
    free(p);
}

/* Runs one query; on failure (the connection dropped) says what failed. */
static PGresult *query(pgmon_t *p, const char *what, const char *sql, int64_t deadline, char *err,
                       size_t errsize)
{
    char why[256];
    PGresult *r = db_lazy_query(&p->db, sql, 0, NULL, PGRES_TUPLES_OK, deadline, why, sizeof(why));

    if (r == NULL)
        snprintf(err, errsize, "%s: %s", what, why);
    return r;
}

static double num(const PGresult *r, int row, int col) { return strtod(PQgetvalue(r, row, col), NULL); }

int pgmon_scrape(pgmon_t *p, int timeout_ms, smp_set_t *out, char *err, size_t errsize)
{
    int64_t deadline = ts_monotonic_ms() + timeout_ms;
    PGresult *r = NULL;
    char sql[256];
    double now;
    int rc = -1;

    if (db_lazy_get(&p->db, err, errsize) == NULL)
        return -1;
    if ((r = query(p, "database size", sql_db, deadline, err, errsize)) == NULL)
        goto out;
    smp_addv(out, "pg_database_size_bytes", num(r, 0, 0), 0);
    smp_addv(out, "pg_max_connections", num(r, 0, 1), 0);
    now = num(r, 0, 2);
    PQclear(r);
    if ((r = query(p, "table sizes", sql_sizes, deadline, err, errsize)) == NULL)
        goto out;
    for (int i = 0; i < PQntuples(r); i++)
        smp_addv(out, "pg_table_size_bytes", num(r, i, 1), 1, "table", PQgetvalue(r, i, 0));
    PQclear(r);
    if ((r = query(p, "connections", sql_conns, deadline, err, errsize)) == NULL)
        goto out;
    for (int i = 0; i < PQntuples(r); i++)
        smp_addv(out, "pg_connections", num(r, i, 1), 1, "state", PQgetvalue(r, i, 0));
    PQclear(r);
    for (size_t t = 0; t < sizeof(raw_tables) / sizeof(raw_tables[0]); t++) {
        int has_topic = raw_tables[t].topic[0] != '\0';

        /* Names from the constant table above, never from input. */
        snprintf(sql, sizeof(sql), "SELECT count(*), extract(epoch FROM %s) FROM %s",
                 has_topic ? "max(event_time)" : "NULL::timestamptz", raw_tables[t].table);
        if ((r = query(p, raw_tables[t].table, sql, deadline, err, errsize)) == NULL)
            goto out;
        smp_addv(out, "pg_table_rows", num(r, 0, 0), 1, "table", raw_tables[t].table);
        if (has_topic && !PQgetisnull(r, 0, 1)) {
            double newest = num(r, 0, 1);
            smp_addv(out, "pg_newest_event_timestamp_seconds", newest, 1, "topic", raw_tables[t].topic);
            smp_addv(out, "pg_data_age_seconds", now - newest, 1, "topic", raw_tables[t].topic);
        }
        PQclear(r);
    }
    r = NULL;
    smp_addv(out, "pg_up", 1, 0);
    rc = 0;
out:
    PQclear(r);
    return rc;
}
