/*
 * astore.c - alert state and the notification outbox in PostgreSQL (see
 * astore.h). Times travel as epoch milliseconds (ecom_ms/ecom_ts of
 * sql/scheduler.sql are not assumed: plain arithmetic here).
 */
#include "astore.h"
#include "db.h"
#include "ts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static PGresult *q(PGconn *c, const char *sql, int n, const char *const *p, ExecStatusType want, int64_t deadline,
                   char *err, size_t errsize)
{
    return db_query_until(c, sql, n, p, want, deadline, err, errsize);
}

static int cmd(PGconn *c, const char *sql, int n, const char *const *p, int64_t deadline, char *err, size_t errsize)
{
    PGresult *r = q(c, sql, n, p, PGRES_COMMAND_OK, deadline, err, errsize);

    PQclear(r);
    return r != NULL ? 0 : -1;
}

static int64_t ms(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int astore_load(PGconn *conn, ast_set_t *s, int timeout_ms, char *err, size_t errsize)
{
    static const char sql[] =
        "SELECT rule, key, labels::text, summary, coalesce(value, 'NaN'), state,"
        " (extract(epoch FROM active_since) * 1000)::bigint, (extract(epoch FROM fired_at) * 1000)::bigint,"
        " (extract(epoch FROM last_sent) * 1000)::bigint FROM alert_state ORDER BY rule, key";
    PGresult *r = q(conn, sql, 0, NULL, PGRES_TUPLES_OK, ts_monotonic_ms() + timeout_ms, err, errsize);

    if (r == NULL)
        return -1;
    s->n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        ast_alert_t *a;

        if (ast_observe(s, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                        strtod(PQgetvalue(r, i, 4), NULL), PQgetvalue(r, i, 3), ms(r, i, 6)) != 0) {
            PQclear(r);
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        a = &s->v[s->n - 1];
        a->state = strcmp(PQgetvalue(r, i, 5), "firing") == 0 ? AST_FIRING : AST_PENDING;
        a->fired_at = ms(r, i, 7);
        a->last_sent = ms(r, i, 8);
    }
    PQclear(r);
    return 0;
}

static const rule_t *find_rule(const rules_t *rules, const char *name)
{
    for (int i = 0; i < rules->n; i++)
        if (strcmp(rules->v[i].name, name) == 0)
            return &rules->v[i];
    return NULL;
}

int astore_save(PGconn *conn, const ast_set_t *s, const ast_event_t *ev, int nev, const rules_t *rules,
                int has_webhook, int has_am, int timeout_ms, char *err, size_t errsize)
{
    static const char ins_state[] =
        "INSERT INTO alert_state (rule, key, labels, summary, value, state, active_since, fired_at, last_sent)"
        " VALUES ($1, $2, $3::jsonb, $4, $5::float8, $6, to_timestamp($7::float8 / 1000),"
        " to_timestamp(nullif($8::float8, 0) / 1000), to_timestamp(nullif($9::float8, 0) / 1000))";
    static const char ins_note[] =
        "INSERT INTO alert_notifications (rule, key, event, severity, labels, summary, value, active_since,"
        " webhook_done, alertmanager_done)"
        " VALUES ($1, $2, $3, $4, $5::jsonb || $6::jsonb, $7, $8::float8, to_timestamp($9::float8 / 1000), $10, $11)";
    int64_t deadline = ts_monotonic_ms() + timeout_ms;
    int rc = -1;

    if (cmd(conn, "BEGIN", 0, NULL, deadline, err, errsize) != 0)
        return -1;
    if (cmd(conn, "DELETE FROM alert_state", 0, NULL, deadline, err, errsize) != 0)
        goto out;
    for (size_t i = 0; i < s->n; i++) {
        const ast_alert_t *a = &s->v[i];
        char v[32], t1[24], t2[24], t3[24];
        const char *p[9] = {a->rule, a->key, a->labels, a->summary, v, a->state == AST_FIRING ? "firing" : "pending",
                            t1, t2, t3};

        snprintf(v, sizeof(v), "%.17g", a->value);
        snprintf(t1, sizeof(t1), "%lld", (long long)a->active_since);
        snprintf(t2, sizeof(t2), "%lld", (long long)a->fired_at);
        snprintf(t3, sizeof(t3), "%lld", (long long)a->last_sent);
        if (cmd(conn, ins_state, 9, p, deadline, err, errsize) != 0)
            goto out;
    }
    for (int i = 0; i < nev; i++) {
        const ast_alert_t *a = &ev[i].alert;
        const rule_t *r = find_rule(rules, a->rule);
        char v[32], t1[24];
        const char *p[11] = {a->rule, a->key, ast_event_name(ev[i].kind), r != NULL ? r->severity : "warning",
                             r != NULL ? r->labels : "{}", a->labels, a->summary, v, t1,
                             has_webhook ? "false" : "true", has_am ? "false" : "true"};

        snprintf(v, sizeof(v), "%.17g", a->value);
        snprintf(t1, sizeof(t1), "%lld", (long long)a->active_since);
        if (cmd(conn, ins_note, 11, p, deadline, err, errsize) != 0)
            goto out;
    }
    rc = cmd(conn, "COMMIT", 0, NULL, deadline, err, errsize);
out:
    if (rc != 0 && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_ACTIVE) {
        char ignored[64];
        cmd(conn, "ROLLBACK", 0, NULL, deadline + 1000, ignored, sizeof(ignored));
    }
    return rc;
}

int astore_pending(PGconn *conn, anote_t *out, int max, int timeout_ms, char *err, size_t errsize)
{
    static const char sql[] =
        "SELECT id, event, rule, key, severity, labels::text, summary, coalesce(value, 'NaN'),"
        " (extract(epoch FROM active_since) * 1000)::bigint, (extract(epoch FROM created_at) * 1000)::bigint,"
        " webhook_done, alertmanager_done, attempts"
        " FROM alert_notifications WHERE delivered_at IS NULL ORDER BY id LIMIT $1::int";
    char lim[16];
    const char *p[1] = {lim};
    PGresult *r;
    int n;

    snprintf(lim, sizeof(lim), "%d", max);
    if ((r = q(conn, sql, 1, p, PGRES_TUPLES_OK, ts_monotonic_ms() + timeout_ms, err, errsize)) == NULL)
        return -1;
    n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        anote_t *a = &out[i];

        memset(a, 0, sizeof(*a));
        a->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        snprintf(a->event, sizeof(a->event), "%s", PQgetvalue(r, i, 1));
        snprintf(a->rule, sizeof(a->rule), "%s", PQgetvalue(r, i, 2));
        snprintf(a->key, sizeof(a->key), "%s", PQgetvalue(r, i, 3));
        snprintf(a->severity, sizeof(a->severity), "%s", PQgetvalue(r, i, 4));
        snprintf(a->labels, sizeof(a->labels), "%s", PQgetvalue(r, i, 5));
        snprintf(a->summary, sizeof(a->summary), "%s", PQgetvalue(r, i, 6));
        a->value = strtod(PQgetvalue(r, i, 7), NULL);
        a->active_since = ms(r, i, 8);
        a->created_at = ms(r, i, 9);
        a->webhook_done = strcmp(PQgetvalue(r, i, 10), "t") == 0;
        a->alertmanager_done = strcmp(PQgetvalue(r, i, 11), "t") == 0;
        a->attempts = atoi(PQgetvalue(r, i, 12));
    }
    PQclear(r);
    return n;
}

int astore_mark(PGconn *conn, const anote_t *n, const char *error, int give_up, int timeout_ms, char *err,
                size_t errsize)
{
    static const char sql[] =
        "UPDATE alert_notifications SET webhook_done = $2, alertmanager_done = $3, attempts = attempts + 1,"
        " last_error = $4, delivered_at = CASE WHEN ($2 AND $3) OR $5 THEN now() END WHERE id = $1::bigint";
    char id[24];
    const char *p[5] = {id, n->webhook_done ? "true" : "false", n->alertmanager_done ? "true" : "false", error,
                        give_up ? "true" : "false"};

    snprintf(id, sizeof(id), "%lld", n->id);
    return cmd(conn, sql, 5, p, ts_monotonic_ms() + timeout_ms, err, errsize);
}
