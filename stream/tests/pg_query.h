/*
 * pg_query.h - query helpers shared by the cmocka tests that run against a
 * live PostgreSQL (test_sink.c, test_alerts.c, test_windows.c): statements
 * with text parameters where any error fails the running test, random ids,
 * and the runs of the sql/checks/ scripts.
 */
#ifndef ECOM_STREAM_TESTS_PG_QUERY_H
#define ECOM_STREAM_TESTS_PG_QUERY_H

#include <libpq-fe.h>
#include <stdarg.h>
#include <stddef.h>

#define PGQ_MAX_PARAMS 10

/* A random UUID, lower case. */
void pgq_uuid(char out[37]);

/* Runs sql on c with n text parameters taken from ap (at most
 * PGQ_MAX_PARAMS); fails the test unless it returns rows or a command
 * status. The caller PQclear()s. */
PGresult *pgq_v(PGconn *c, const char *sql, int n, va_list ap);

/* The first column of the first row as an integer, -1 for none or NULL. */
long long pgq_int(PGconn *c, const char *sql, int n, ...);

/* The first column of the first row as text ("" for none or NULL). */
void pgq_text(PGconn *c, char *out, size_t size, const char *sql, int n, ...);

/* Runs the psql script named by the environment variable env with psql
 * (args, extra: more psql arguments such as -v settings, either may be
 * NULL) and returns its output (stdout and stderr) in out; 0 when it ran,
 * 1 when env is not set. A failing psql fails the test. */
int pgq_run_check(const char *env, const char *args, const char *extra, char *out, size_t size);

#endif
