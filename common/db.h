/*
 * db.h - libpq helpers: connecting with retry and exponential backoff, and
 * running statements whose result status is checked.
 *
 * Connection parameters: only what flags set is passed to PQconnectdbParams
 * (expand_dbname = 1), so libpq's own PG* variables and ~/.pgpass apply as
 * in psql. fallback_application_name is the daemon name.
 */
#ifndef ECOM_DB_H
#define ECOM_DB_H

#include <libpq-fe.h>

/* Connects, retrying with backoff (250 ms doubling to 5 s) until it works,
 * the stop flag is set, or max_wait_ms passes (-1: forever, 0: one try).
 * conninfo may be NULL (environment only) or a connection string/URI.
 * Returns the connection, or NULL with the last error logged. */
PGconn *db_connect_retry(const char *conninfo, const char *app_name,
                         int max_wait_ms);

/* Runs sql expecting PGRES_COMMAND_OK or PGRES_TUPLES_OK. Logs the server's
 * message with the statement as detail on failure. Returns 0 or -1. */
int db_exec(PGconn *conn, const char *sql);

/* Runs sql and returns the result when its status is expected; otherwise
 * logs, clears it and returns NULL. The caller PQclear()s the result. */
PGresult *db_query(PGconn *conn, const char *sql, ExecStatusType expected);

#endif
