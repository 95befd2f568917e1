/*
 * db.c - libpq helpers (see db.h): the connection with retry and
 * deadlines, checked statements, COPY in and out, cancelling on a stop
 * request, recovery after a failure, and array literals. Owns no connection: every function works on the caller's.
 */
#include "db.h"
#include "elog.h"
#include "js.h"
#include "term.h"
#include "ts.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COPY_CHUNK (256 * 1024)
#define MAX_PARAMS 12

/* Fills keys/values (MAX_PARAMS entries) for PQconnectdbParams: the
 * deadline defaults of db.h, then the caller's connection string (expanded
 * in place, so its values override the defaults before it), then the
 * application name. */
static void connect_params(const char **keys, const char **values,
                           const char *conninfo, const char *app_name)
{
    static const char *const tcp[][2] = {
        {"keepalives", "1"},       {"keepalives_idle", "5"},
        {"keepalives_interval", "2"}, {"keepalives_count", "3"},
        {"tcp_user_timeout", "10000"},
    };
    int n = 0;

    if (getenv("PGCONNECT_TIMEOUT") == NULL)
        keys[n] = "connect_timeout", values[n++] = "5";
    for (size_t i = 0; i < sizeof(tcp) / sizeof(tcp[0]); i++)
        keys[n] = tcp[i][0], values[n++] = tcp[i][1];
    if (getenv("PGOPTIONS") == NULL)
        keys[n] = "options", values[n++] = "-c statement_timeout=30000";
    keys[n] = "dbname", values[n++] = conninfo;
    keys[n] = "fallback_application_name", values[n++] = app_name;
    keys[n] = NULL, values[n] = NULL;
}

PGconn *db_connect_retry(const char *conninfo, const char *app_name,
                         int max_wait_ms)
{
    const char *keys[MAX_PARAMS], *values[MAX_PARAMS];
    int64_t start = ts_monotonic_ms();
    int backoff_ms = 250;
    int attempt = 0;

    connect_params(keys, values, conninfo, app_name);
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

PGconn *db_connect_job(const char *conninfo, const char *app_name, int max_wait_ms)
{
    PGconn *conn = db_connect_retry(conninfo, app_name, max_wait_ms);
    PGresult *res;

    if (conn == NULL)
        return NULL;
    res = db_run(conn, "could not set up the session",
                 "SELECT set_config('TimeZone', 'UTC', false), set_config('statement_timeout', '15min', false)",
                 0, NULL, PGRES_TUPLES_OK);
    if (res == NULL) {
        PQfinish(conn);
        return NULL;
    }
    PQclear(res);
    return conn;
}

void db_log_error(const char *what, PGconn *conn, const PGresult *res,
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

PGresult *db_run(PGconn *conn, const char *what, const char *sql, int nparams,
                 const char *const *params, ExecStatusType want)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != want) {
        db_log_error(what, conn, res, sql);
        PQclear(res);
        return NULL;
    }
    return res;
}

PGresult *db_try(PGconn *conn, const char *sql, int nparams,
                 const char *const *params, ExecStatusType want,
                 PGresult **error)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

    *error = NULL;
    if (PQresultStatus(res) == want)
        return res;
    if (res != NULL && PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL) {
        *error = res;
        return NULL;
    }
    db_log_error("statement failed", conn, res, sql);
    PQclear(res);
    return NULL;
}

int db_run_cmd(PGconn *conn, const char *what, const char *sql)
{
    PGresult *res = db_run(conn, what, sql, 0, NULL, PGRES_COMMAND_OK);

    PQclear(res);
    return res ? 0 : -1;
}

long long db_cmd_tuples(const PGresult *res)
{
    return strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
}

int db_copy_send(PGconn *conn, const char *data, size_t len)
{
    int sent = 1;

    for (size_t off = 0; off < len && sent; off += COPY_CHUNK) {
        size_t n = len - off < COPY_CHUNK ? len - off : COPY_CHUNK;
        sent = PQputCopyData(conn, data + off, (int)n) == 1;
    }
    if (PQputCopyEnd(conn, sent ? NULL : "the client could not send the COPY data") != 1)
        sent = 0;
    return sent ? 0 : -1;
}

int db_copy_in(PGconn *conn, const char *sql, const char *data, size_t len,
               long long *copied, PGresult **error)
{
    PGresult *res = PQexec(conn, sql);
    int sent = 1;
    int logged = 0;

    if (error != NULL)
        *error = NULL;
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        if (error != NULL && res != NULL && PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL) {
            *error = res;
            return -1;
        }
        db_log_error("could not start COPY", conn, res, sql);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    sent = db_copy_send(conn, data, len) == 0;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);

        if (st == PGRES_COMMAND_OK) {
            *copied = db_cmd_tuples(res);
        } else if (!logged) {
            logged = 1;
            if (error != NULL && st != PGRES_COPY_IN &&
                PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL) {
                *error = res; /* the caller's now */
                continue;
            }
            db_log_error("COPY failed", conn, res, sql);
        }
        PQclear(res);
        if (st == PGRES_COPY_IN) /* still copying after PQputCopyEnd */
            return -1;       /* db_recover() finds the connection busy */
    }
    if (!sent && !logged)
        db_log_error("could not send COPY data", conn, NULL, sql);
    return sent && !logged ? 0 : -1;
}

int db_copy_out(PGconn *conn, const char *sql, int (*sink)(void *ctx, const char *row, size_t len),
                void *ctx, long long *copied)
{
    PGresult *res = PQexec(conn, sql);
    char *row = NULL;
    int n, ok = 1, failed = 0;

    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        db_log_error("could not start COPY", conn, res, sql);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    while ((n = PQgetCopyData(conn, &row, 0)) > 0) {
        if (ok && sink(ctx, row, (size_t)n) != 0)
            ok = 0;
        PQfreemem(row);
    }
    if (n == -2)
        db_log_error("COPY failed", conn, NULL, sql);
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            *copied = db_cmd_tuples(res);
        } else if (!failed) {
            failed = 1;
            db_log_error("COPY failed", conn, res, sql);
        }
        PQclear(res);
    }
    return ok && !failed && n != -2 ? 0 : -1;
}

struct db_canceller {
    pthread_t thread;
    PGcancel *cancel;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
};

static void *canceller_main(void *arg)
{
    db_canceller_t *c = arg;
    int sent = 0;
    char err[256];

    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct timespec until;

        if (!sent && term_requested()) {
            sent = 1;
            pthread_mutex_unlock(&c->lock);
            if (PQcancel(c->cancel, err, sizeof(err)) != 1)
                LOG_WARN("could not cancel the running statement: %s", err);
            pthread_mutex_lock(&c->lock);
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cond, &c->lock, &until);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

db_canceller_t *db_canceller_start(PGconn *conn)
{
    db_canceller_t *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->cancel = PQgetCancel(conn)) == NULL) {
        LOG_ERROR("could not set up statement cancellation: out of memory");
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&c->thread, NULL, canceller_main, c) != 0) {
        LOG_ERROR("could not start the statement canceller thread");
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        PQfreeCancel(c->cancel);
        free(c);
        return NULL;
    }
    return c;
}

void db_canceller_stop(db_canceller_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    PQfreeCancel(c->cancel);
    free(c);
}

int db_recover(PGconn *conn)
{
    PGresult *res;

    if (PQstatus(conn) != CONNECTION_OK) {
        LOG_WARN("lost the connection to PostgreSQL; will reconnect");
        return -1;
    }
    switch (PQtransactionStatus(conn)) {
    case PQTRANS_IDLE:
        return 0;
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR:
        break;
    default:
        LOG_WARN("dropping the PostgreSQL connection: it is still inside a command");
        return -1;
    }
    res = PQexec(conn, "ROLLBACK");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        db_log_error("could not roll back", conn, res, "ROLLBACK");
    PQclear(res);
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
        LOG_WARN("dropping the PostgreSQL connection after a failed rollback");
        return -1;
    }
    return 0;
}

void db_array_begin(buf_t *b)
{
    buf_reset(b);
    buf_putc(b, '{');
}

/* The comma before every element but the first. */
static void array_separate(buf_t *b)
{
    if (b->len > 0 && b->data[b->len - 1] != '{')
        buf_putc(b, ',');
}

void db_array_text(buf_t *b, const char *s)
{
    const char *run = s;

    array_separate(b);
    buf_putc(b, '"');
    for (; *s != '\0'; s++) {
        if (*s != '"' && *s != '\\')
            continue;
        buf_append(b, run, (size_t)(s - run));
        buf_putc(b, '\\');
        run = s;
    }
    buf_append(b, run, (size_t)(s - run));
    buf_putc(b, '"');
}

void db_array_int(buf_t *b, int64_t v)
{
    char num[24];
    int n = js_format_int(v, num, sizeof(num));

    array_separate(b);
    buf_append(b, num, (size_t)n);
}

void db_array_end(buf_t *b) { buf_putc(b, '}'); }

/* The first line of a libpq message, without its newline. */
static void first_line(const char *msg, char *err, size_t errsize)
{
    size_t n = strcspn(msg, "\n");

    snprintf(err, errsize, "%.*s", (int)n, msg);
}

PGresult *db_query_until(PGconn *conn, const char *sql, int nparams,
                         const char *const *params, ExecStatusType want,
                         int64_t deadline_ms, char *err, size_t errsize)
{
    PGresult *res, *last = NULL;

    if (PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0) != 1) {
        first_line(PQerrorMessage(conn), err, errsize);
        return NULL;
    }
    for (;;) {
        while (PQisBusy(conn)) {
            int64_t left = deadline_ms - ts_monotonic_ms();
            struct pollfd pfd = {PQsocket(conn), POLLIN, 0};

            if (left <= 0) {
                snprintf(err, errsize, "no answer within the deadline");
                PQclear(last);
                return NULL;
            }
            if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR) {
                snprintf(err, errsize, "poll: %s", strerror(errno));
                PQclear(last);
                return NULL;
            }
            if (PQconsumeInput(conn) != 1) {
                first_line(PQerrorMessage(conn), err, errsize);
                PQclear(last);
                return NULL;
            }
        }
        res = PQgetResult(conn);
        if (res == NULL)
            break;
        PQclear(last); /* keep the last result of the statement */
        last = res;
    }
    if (last == NULL || PQresultStatus(last) != want) {
        first_line(last != NULL && PQresultErrorMessage(last)[0] != '\0' ? PQresultErrorMessage(last)
                                                                          : PQerrorMessage(conn),
                   err, errsize);
        PQclear(last);
        return NULL;
    }
    return last;
}

int db_lazy_init(db_lazy_t *l, const char *conninfo, const char *app_name)
{
    l->conn = NULL;
    l->conninfo = conninfo != NULL ? strdup(conninfo) : NULL;
    l->app_name = strdup(app_name);
    if ((conninfo != NULL && l->conninfo == NULL) || l->app_name == NULL) {
        db_lazy_free(l);
        return -1;
    }
    return 0;
}

void db_lazy_free(db_lazy_t *l)
{
    db_lazy_drop(l);
    free(l->conninfo);
    free(l->app_name);
    l->conninfo = l->app_name = NULL;
}

PGconn *db_lazy_get(db_lazy_t *l, char *err, size_t errsize)
{
    if (l->conn == NULL && (l->conn = db_connect_retry(l->conninfo, l->app_name, 0)) == NULL)
        snprintf(err, errsize, "cannot connect to PostgreSQL (see the log)");
    return l->conn;
}

void db_lazy_drop(db_lazy_t *l)
{
    PQfinish(l->conn);
    l->conn = NULL;
}

PGresult *db_lazy_query(db_lazy_t *l, const char *sql, int nparams, const char *const *params,
                        ExecStatusType want, int64_t deadline_ms, char *err, size_t errsize)
{
    PGresult *r;

    if (db_lazy_get(l, err, errsize) == NULL)
        return NULL;
    r = db_query_until(l->conn, sql, nparams, params, want, deadline_ms, err, errsize);
    if (r == NULL)
        db_lazy_drop(l);
    return r;
}
