/*
 * eval.c - each rule kind's query (see eval.h). Every query returns rows
 * of (key, labels as JSON, value, summary) for the instances that are
 * active; $1 is the threshold, $2 the window in seconds.
 */
#include "eval.h"
#include "db.h"
#include "ts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ecom-metrics' newest lag sums: every group, so that "no series at all"
 * (ecom-metrics not running) is an error rather than a resolution. */
static const char sql_lag[] =
    "SELECT g, json_build_object('group', g)::text, v,"
    " format('consumer group %s is %s messages behind', g, v::bigint), v > $1::float8"
    " FROM (SELECT DISTINCT ON (s.series_id) s.labels->>'group' AS g, p.value AS v"
    "  FROM metric_series s JOIN metric_points p USING (series_id)"
    "  WHERE s.source = 'kafka' AND s.name = 'kafka_consumergroup_lag_sum'"
    "  AND p.ts > now() - greatest($2::float8, 60) * interval '1 second'"
    "  ORDER BY s.series_id, p.ts DESC) q";
static const char sql_dead[] =
    "SELECT 'all', '{}', n / ($2::float8 / 60.0), format('%s dead letters in the last %s s (%s a minute)', n, $2::float8,"
    " round((n / ($2::float8 / 60.0))::numeric, 2)), n / ($2::float8 / 60.0) > $1::float8"
    " FROM (SELECT count(*)::float8 AS n FROM dead_letter_events"
    "  WHERE received_at > now() - $2::float8 * interval '1 second') q";
static const char sql_fresh[] =
    "SELECT topic, json_build_object('topic', topic)::text, age,"
    " CASE WHEN newest IS NULL THEN format('no %s event stored', topic)"
    " ELSE format('the newest %s event is %s s old', topic, round(age::numeric)) END, age > $1::float8"
    " FROM (VALUES ('user-events', (SELECT max(event_time) FROM user_events)),"
    "  ('transactions', (SELECT max(event_time) FROM transactions)),"
    "  ('inventory-updates', (SELECT max(event_time) FROM inventory_updates))) t(topic, newest)"
    " CROSS JOIN LATERAL (SELECT coalesce(extract(epoch FROM now() - newest)::float8, 1e9) AS age) a"
    " WHERE $2::float8 IS NOT NULL";
static const char sql_quality[] =
    "SELECT r.check_name || '/' || r.table_name, json_build_object('check', r.check_name, 'table', r.table_name)::text,"
    " coalesce(r.observed_value::float8, 'NaN'), format('quality check %s on %s failed for %s to %s (observed %s,"
    " threshold %s)', r.check_name, r.table_name, u.period_start, u.period_end,"
    " coalesce(r.observed_value::text, 'nothing'), r.threshold), true"
    " FROM data_quality_results r JOIN data_quality_runs u USING (run_id)"
    " WHERE r.run_id = (SELECT max(run_id) FROM data_quality_runs WHERE finished_at IS NOT NULL)"
    " AND r.status = 'fail' AND $1::float8 IS NOT NULL AND $2::float8 IS NOT NULL";
static const char sql_task[] =
    "SELECT dag_id || '.' || task_id, json_build_object('dag', dag_id, 'task', task_id, 'run_id', run_id)::text,"
    " try_number, format('task %s.%s of %s failed after %s tries', dag_id, task_id, run_id, try_number), true"
    " FROM (SELECT DISTINCT ON (dag_id, task_id) * FROM task_instances"
    "  WHERE state IN ('success', 'failed', 'skipped', 'upstream_failed') AND end_date IS NOT NULL"
    "  ORDER BY dag_id, task_id, end_date DESC) q WHERE state = 'failed' AND $1::float8 IS NOT NULL AND $2::float8 IS NOT NULL";
static const char sql_fraud[] =
    "SELECT alert_id::text, json_build_object('alert_id', alert_id::text, 'user_id', user_id, 'fraud_rule', rule,"
    " 'fraud_severity', severity)::text, alert_id, format('fraud (%s, %s): user %s, transaction %s', rule, severity,"
    " user_id, transaction_id), true"
    " FROM fraud_alerts WHERE detected_at > now() - $2::float8 * interval '1 second' AND $1::float8 IS NOT NULL"
    " ORDER BY fraud_alerts.alert_id DESC LIMIT 200";
static const char sql_stock[] =
    "SELECT product_id || '/' || warehouse_location, json_build_object('product_id', product_id, 'warehouse',"
    " warehouse_location)::text, current_stock, format('low stock: %s at %s, %s left (threshold %s)', product_id,"
    " warehouse_location, current_stock, threshold), true"
    " FROM (SELECT DISTINCT ON (product_id, warehouse_location) * FROM inventory_alerts"
    "  ORDER BY product_id, warehouse_location, event_time DESC, alert_id DESC) q"
    " WHERE state = 'low' AND $1::float8 IS NOT NULL AND $2::float8 IS NOT NULL";

static const char *const kind_sql[RULE_KINDS] = {
    [RULE_CONSUMER_LAG] = sql_lag, [RULE_DEAD_LETTERS] = sql_dead, [RULE_FRESHNESS] = sql_fresh,
    [RULE_QUALITY_FAILED] = sql_quality, [RULE_TASK_FAILED] = sql_task, [RULE_FRAUD] = sql_fraud,
    [RULE_LOW_STOCK] = sql_stock,
};

static int eval_health(const rule_t *r, hget_t *http, ast_set_t *s, int64_t now, int timeout_ms)
{
    char err[256] = "", summary[256], labels[600];
    int status;
    buf_t body;

    buf_init(&body);
    status = hget_get(http, r->url, timeout_ms, &body, err, sizeof(err));
    buf_free(&body);
    if (status == 200)
        return 0;
    snprintf(summary, sizeof(summary), "%s answers %s", r->url, err);
    snprintf(labels, sizeof(labels), "{\"url\":\"%s\"}", r->url); /* a URL has no quote or backslash */
    return ast_observe(s, r->name, r->url, labels, status, summary, now);
}

int eval_rule(const rule_t *r, PGconn *conn, hget_t *http, ast_set_t *s, int64_t now, int timeout_ms,
              char *err, size_t errsize)
{
    char thr[32], win[32];
    const char *params[2] = {thr, win};
    PGresult *res;
    int rc = 0;

    ast_begin(s, r->name);
    if (r->kind == RULE_STREAM_DOWN)
        return eval_health(r, http, s, now, timeout_ms) == 0 ? 0 : (snprintf(err, errsize, "out of memory"), -1);
    if (conn == NULL) {
        snprintf(err, errsize, "PostgreSQL is down");
        return -1;
    }
    snprintf(thr, sizeof(thr), "%.17g", r->threshold);
    snprintf(win, sizeof(win), "%lld", (long long)(r->window_ms / 1000));
    res = db_query_until(conn, kind_sql[r->kind], 2, params, PGRES_TUPLES_OK, ts_monotonic_ms() + timeout_ms, err,
                         errsize);
    if (res == NULL)
        return -1;
    if (r->kind == RULE_CONSUMER_LAG && PQntuples(res) == 0) {
        snprintf(err, errsize, "no recent kafka_consumergroup_lag_sum from ecom-metrics");
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 4), "t") != 0)
            continue;
        if (ast_observe(s, r->name, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                        strtod(PQgetvalue(res, i, 2), NULL), PQgetvalue(res, i, 3), now) != 0) {
            snprintf(err, errsize, "out of memory");
            rc = -1;
        }
    }
    PQclear(res);
    return rc;
}
