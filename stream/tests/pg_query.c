/*
 * pg_query.c - the query helpers of pg_query.h. Owns nothing between calls.
 */
#include "pg_query.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

void pgq_uuid(char out[37])
{
    uuid_t u;

    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

PGresult *pgq_v(PGconn *c, const char *sql, int n, va_list ap)
{
    const char *params[PGQ_MAX_PARAMS];
    PGresult *res;
    ExecStatusType st;

    assert_true(n >= 0 && n <= PGQ_MAX_PARAMS);
    for (int i = 0; i < n; i++)
        params[i] = va_arg(ap, const char *);
    res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("query failed: %s\nstatement: %s", PQerrorMessage(c), sql);
    return res;
}

long long pgq_int(PGconn *c, const char *sql, int n, ...)
{
    va_list ap;
    PGresult *res;
    long long v = -1;

    va_start(ap, n);
    res = pgq_v(c, sql, n, ap);
    va_end(ap);
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

void pgq_text(PGconn *c, char *out, size_t size, const char *sql, int n, ...)
{
    va_list ap;
    PGresult *res;

    va_start(ap, n);
    res = pgq_v(c, sql, n, ap);
    va_end(ap);
    snprintf(out, size, "%s",
             PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
}

int pgq_run_check(const char *env, const char *args, const char *extra, char *out, size_t size)
{
    const char *path = getenv(env);
    char cmd[1024];
    size_t len = 0, n;
    FILE *f;
    int st;

    out[0] = '\0';
    if (path == NULL || *path == '\0')
        return 1;
    assert_null(strchr(path, '\''));
    snprintf(cmd, sizeof(cmd), "psql -X -q -v ON_ERROR_STOP=1 %s %s -f '%s' 2>&1", args ? args : "",
             extra ? extra : "", path);
    f = popen(cmd, "r");
    assert_non_null(f);
    while (len + 1 < size && (n = fread(out + len, 1, size - 1 - len, f)) > 0)
        len += n;
    out[len] = '\0';
    st = pclose(f);
    if (st != 0)
        fail_msg("the check failed (status %d): %s", st, out);
    return 0;
}
