/*
 * db.h - libpq helpers: connecting with retry, backoff and deadlines;
 * running statements whose result status is checked; COPY FROM STDIN;
 * rolling back after a failure; PostgreSQL array literals.
 *
 * Connection parameters: only what flags set is passed to PQconnectdbParams
 * (expand_dbname = 1), so libpq's own PG* variables and ~/.pgpass apply as
 * in psql. fallback_application_name is the daemon name.
 *
 * Deadlines: db_connect_retry() adds these defaults, placed before the
 * connection string so that its values win, and skipped where a PG*
 * variable would otherwise lose to them:
 *   connect_timeout=5      each connection attempt (each host and address)
 *                          gives up after 5 s (not set when
 *                          PGCONNECT_TIMEOUT is)
 *   keepalives=1, keepalives_idle=5, keepalives_interval=2,
 *   keepalives_count=3     an idle connection whose peer vanished is
 *                          dropped after 5 + 3 x 2 = 11 s
 *   tcp_user_timeout=10000 a connection with data unacknowledged for 10 s
 *                          is dropped (a dead network during a statement)
 *   options=-c statement_timeout=30000
 *                          the server cancels any statement (lock waits
 *                          included) after 30 s (not set when PGOPTIONS is;
 *                          an options= in the connection string replaces
 *                          it as a whole)
 * So a dead network or host is noticed within about 15 s, on a busy or idle
 * connection. None of them notices a server that still holds its sockets
 * but does not run (SIGSTOP, a hung backend): the kernel still acknowledges
 * the data. A caller that must not block that long needs its own deadline
 * (PQsetnonblocking, PQsocket and poll, then PQcancel or PQfinish).
 * The keepalive and TCP settings apply to TCP connections only.
 *
 * Errors are logged where they happen (the server's text verbatim, one log
 * line per line of it, then the statement as detail); the functions return
 * a status. Not thread-safe per connection (libpq's rule).
 */
#ifndef ECOM_DB_H
#define ECOM_DB_H

#include "buf.h"

#include <libpq-fe.h>
#include <stdint.h>

/* Connects, retrying with backoff (250 ms doubling to 5 s) until it works,
 * the stop flag is set (checked every 50 ms of the backoff), or max_wait_ms
 * passes (-1: forever, 0: one try). Each attempt takes at most
 * connect_timeout (see above), so the call returns within about
 * max_wait_ms + connect_timeout. conninfo may be NULL (environment only) or
 * a connection string/URI. Returns the connection, or NULL with the last
 * error logged. */
PGconn *db_connect_retry(const char *conninfo, const char *app_name,
                         int max_wait_ms);

/* db_connect_retry, then the session of a run-to-completion job
 * (ecom-batch, ecom-quality): TimeZone UTC, statement_timeout 15 min.
 * NULL (logged) when it cannot be had. */
PGconn *db_connect_job(const char *conninfo, const char *app_name, int max_wait_ms);

/* Logs a failed statement: "what: " and the error of res (or of conn when
 * res has none), one log line per line of it, then the statement as
 * detail when sql is not NULL. A data or constraint error (SQLSTATE class
 * 22 or 23) gets a hint, since retrying cannot fix it. */
void db_log_error(const char *what, PGconn *conn, const PGresult *res,
                  const char *sql);

/* Runs sql with nparams text parameters and returns its result when the
 * status is want; otherwise logs (db_log_error with what), clears it and
 * returns NULL. The caller PQclear()s the result. */
PGresult *db_run(PGconn *conn, const char *what, const char *sql, int nparams,
                 const char *const *params, ExecStatusType want);

/* As db_run, but a statement the server fails is not logged: its result
 * goes to *error instead (the caller PQclear()s it), for a caller that
 * decides by its SQLSTATE. *error is NULL after a success, and after a
 * failure without a result from the server (logged then). */
PGresult *db_try(PGconn *conn, const char *sql, int nparams,
                 const char *const *params, ExecStatusType want,
                 PGresult **error);

/* As db_run, with a deadline of its own (a monotonic ts_monotonic_ms()
 * time) for a server that holds its socket but does not answer: the
 * statement is sent, then its result awaited with poll() on PQsocket.
 * Returns the result when its status is want; otherwise NULL with a
 * one-line reason in err (the server's message, or "no answer within the
 * deadline"), not logged. After a missed deadline the connection is in
 * the middle of a statement: PQfinish() it. For monitoring, where one
 * frozen dependency must not hold up the others. */
PGresult *db_query_until(PGconn *conn, const char *sql, int nparams,
                         const char *const *params, ExecStatusType want,
                         int64_t deadline_ms, char *err, size_t errsize);

/* A connection opened when first needed (one try, no backoff) and
 * dropped after any failure, for the monitoring daemons, which go on
 * while PostgreSQL is down and try again on their next round. Owns its
 * copies of the conninfo and name, and the connection. */
typedef struct {
    char *conninfo; /* NULL: libpq's PG* variables */
    char *app_name;
    PGconn *conn;   /* NULL until connected, and after a failure */
} db_lazy_t;

/* 0, or -1 when out of memory. */
int db_lazy_init(db_lazy_t *l, const char *conninfo, const char *app_name);
void db_lazy_free(db_lazy_t *l);
/* The connection, opened if needed; NULL with "cannot connect" in err. */
PGconn *db_lazy_get(db_lazy_t *l, char *err, size_t errsize);
void db_lazy_drop(db_lazy_t *l);
/* db_query_until on the connection (opened if needed); any failure drops
 * it. */
PGresult *db_lazy_query(db_lazy_t *l, const char *sql, int nparams, const char *const *params,
                        ExecStatusType want, int64_t deadline_ms, char *err, size_t errsize);

/* db_run without parameters, expecting PGRES_COMMAND_OK. Returns 0 or -1. */
int db_run_cmd(PGconn *conn, const char *what, const char *sql);

/* The row count of a command's result ("INSERT 0 5": 5), 0 if none. */
long long db_cmd_tuples(const PGresult *res);

/* COPYs data[0..len) (COPY text rows) with sql ("COPY ... FROM STDIN"):
 * PQputCopyData in 256 KiB chunks, then PQputCopyEnd, then PQgetResult
 * until NULL. Returns 0 with the number of rows PostgreSQL took in
 * *copied, or -1. With error NULL every failure is logged; otherwise an
 * error the server reported is not: its result goes to *error (the caller
 * PQclear()s it), as for db_try(). After -1 call db_recover() (or roll
 * back to a savepoint). */
int db_copy_in(PGconn *conn, const char *sql, const char *data, size_t len,
               long long *copied, PGresult **error);

/* The data part of a COPY FROM STDIN the server is waiting for (after a
 * PGRES_COPY_IN result): PQputCopyData in 256 KiB chunks, then
 * PQputCopyEnd (with an error message when sending failed, so the server
 * fails the COPY). Returns 0, or -1 when sending failed (not logged); the
 * COPY's result follows from PQgetResult either way. */
int db_copy_send(PGconn *conn, const char *data, size_t len);

/* Runs sql, a "COPY ... TO STDOUT", handing each row (as PostgreSQL sends
 * it, newline included) to sink. Returns 0 with the row count in *copied,
 * or -1 (logged). Once sink returns -1 the rest of the data is read and
 * dropped, and -1 is returned. */
int db_copy_out(PGconn *conn, const char *sql, int (*sink)(void *ctx, const char *row, size_t len),
                void *ctx, long long *copied);

/* A thread that cancels the statement running on conn (PQcancel) once
 * term_requested() is set, checking every 50 ms; it cancels once, then
 * idles until stopped. For a run-to-completion job whose statements may
 * take minutes: SIGINT/SIGTERM end the statement instead of waiting for
 * it. Returns NULL when the thread cannot start (logged). */
typedef struct db_canceller db_canceller_t;
db_canceller_t *db_canceller_start(PGconn *conn);
/* Stops and frees it. Accepts NULL. */
void db_canceller_stop(db_canceller_t *c);

/* After a failed statement: rolls back an open transaction. Returns 0 when
 * conn is usable again (idle), -1 when it is broken or stuck (lost, still
 * inside a command such as an unfinished COPY, or the rollback failed):
 * then the caller PQfinish()es it and reconnects. Logs why. */
int db_recover(PGconn *conn);

/*
 * Array literals for one text parameter ($1::text[], $2::bigint[]):
 * db_array_begin() resets b and opens "{", each element adds a comma as
 * needed, db_array_end() closes "}". Text elements are always
 * double-quoted, with '"' and '\' backslash-escaped, so commas, braces,
 * spaces and the word NULL stay text; there is no NULL element. Check
 * b->oom once at the end.
 */
void db_array_begin(buf_t *b);
void db_array_text(buf_t *b, const char *s);
void db_array_int(buf_t *b, int64_t v);
void db_array_end(buf_t *b);

#endif
