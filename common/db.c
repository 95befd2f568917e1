/*
 * db.c - libpq connection with retry and checked statements (see db.h).
 */
#include "db.h"
#include "elog.h"
#include "term.h"
#include "ts.h"

#include <string.h>

PGconn *db_connect_retry(const char *conninfo, const char *app_name,
                         int max_wait_ms)
{
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *values[] = {conninfo, app_name, NULL};
    int64_t start = ts_monotonic_ms();
    int backoff_ms = 250;
    int attempt = 0;

    for (;;) {
        PGconn *conn = PQconnectdbParams(keys, values, 1);
        const char *msg;
        int64_t waited;

        attempt++;
        if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
            if (attempt > 1)
                LOG_INFO("connected to PostgreSQL after %d attempts", attempt);
            return conn;
        }
        waited = ts_monotonic_ms() - start;
        if (max_wait_ms >= 0 && waited + backoff_ms > max_wait_ms) {
            LOG_ERROR("could not connect to PostgreSQL: %s",
                      conn ? PQerrorMessage(conn) : "out of memory");
            PQfinish(conn);
            return NULL;
        }
        msg = conn ? PQerrorMessage(conn) : "out of memory";
        LOG_WARN("could not connect to PostgreSQL (attempt %d, retrying in %d ms): %.*s",
                 attempt, backoff_ms, (int)strcspn(msg, "\n"), msg);
        PQfinish(conn);
        for (int slept = 0; slept < backoff_ms && !term_requested(); slept += 50)
            ts_sleep_until_us(ts_monotonic_us() + 50000, 50);
        if (term_requested())
            return NULL;
        backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
    }
}

PGresult *db_query(PGconn *conn, const char *sql, ExecStatusType expected)
{
    PGresult *res = PQexec(conn, sql);

    if (PQresultStatus(res) != expected) {
        LOG_ERROR("query failed: %s", PQerrorMessage(conn));
        LOG_ERROR("detail: statement was: %.200s", sql);
        PQclear(res);
        return NULL;
    }
    return res;
}

int db_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        LOG_ERROR("statement failed: %s", PQerrorMessage(conn));
        LOG_ERROR("detail: statement was: %.200s", sql);
        rc = -1;
    }
    PQclear(res);
    return rc;
}
