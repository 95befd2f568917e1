/*
 * checks.c - ecom-quality's checks (see checks.h): the statements, run in
 * one snapshot, --fix, and the data_quality_runs / data_quality_results
 * rows (sql/quality.sql).
 */
#include "checks.h"
#include "db.h"
#include "elog.h"
#include "ts.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LO "$1::timestamptz"
#define HI "$2::timestamptz"
#define IN_PERIOD "event_time >= " LO " AND event_time < " HI

/* Dead-lettered against stored, per topic; dead letters by when they came
 * (received_at), stored rows by event time. */
#define SCHEMA_VALIDITY(topic, table)                                                          \
    "WITH dl AS (SELECT reason FROM dead_letter_events WHERE topic = '" topic "'"              \
    "             AND received_at >= " LO " AND received_at < " HI "),"                       \
    " n AS (SELECT (SELECT count(*) FROM dl) AS dead,"                                         \
    "              (SELECT count(*) FROM " table " WHERE " IN_PERIOD ") AS stored)"           \
    " SELECT coalesce(dead::numeric / nullif(dead + stored, 0), 0),"                           \
    "        jsonb_build_object('dead_lettered', dead, 'stored', stored, 'by_reason',"         \
    "          coalesce((SELECT jsonb_object_agg(reason, c) FROM (SELECT reason, count(*) AS c" \
    "                    FROM dl GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20) r), '{}'))"          \
    "   FROM n"

/* Offsets between the period's first and last in each partition that hold
 * no stored row (of any event time within an hour of the period), no dead
 * letter and no recorded gap: messages ecom-stream dropped as exact
 * duplicates of stored ones. (A message is one row: the offset fence
 * stores it once, so rows are counted, not distinct offsets.) */
#define DUPLICATES_EXACT(topic, table)                                                         \
    "WITH r AS (SELECT kafka_partition AS p, kafka_offset AS o FROM " table                    \
    "            WHERE " IN_PERIOD " AND kafka_offset IS NOT NULL),"                           \
    " span AS (SELECT p, min(o) AS lo, max(o) AS hi FROM r GROUP BY p),"                       \
    " held AS (SELECT s.p, count(*) AS n FROM span s JOIN " table " t"                         \
    "           ON t.kafka_partition = s.p AND t.kafka_offset BETWEEN s.lo AND s.hi"           \
    "          WHERE t.event_time >= " LO " - interval '1 hour'"                              \
    "            AND t.event_time < " HI " + interval '1 hour' GROUP BY s.p),"                \
    " dl AS (SELECT s.p, count(*) AS n FROM span s JOIN dead_letter_events d"                  \
    "         ON d.topic = '" topic "' AND d.kafka_partition = s.p"                            \
    "        AND d.kafka_offset BETWEEN s.lo AND s.hi GROUP BY s.p),"                          \
    " gap AS (SELECT s.p, sum(least(g.last_missing_offset, s.hi)"                              \
    "                         - greatest(g.first_missing_offset, s.lo) + 1) AS n"             \
    "          FROM span s JOIN stream_gaps g ON g.topic = '" topic "' AND g.kafka_partition = s.p" \
    "           AND g.first_missing_offset <= s.hi AND g.last_missing_offset >= s.lo GROUP BY s.p)," \
    " x AS (SELECT s.p, h.n AS held,"                                                          \
    "              greatest(s.hi - s.lo + 1 - h.n - coalesce(dl.n, 0) - coalesce(gap.n, 0), 0) AS dup" \
    "         FROM span s JOIN held h USING (p) LEFT JOIN dl USING (p) LEFT JOIN gap USING (p))" \
    " SELECT coalesce(sum(dup)::numeric / nullif(sum(dup) + sum(held), 0), 0),"                \
    "        jsonb_build_object('rows', coalesce(sum(held), 0), 'duplicates_rejected',"        \
    "          coalesce(sum(dup), 0), 'by_partition', coalesce(jsonb_object_agg(p, dup), '{}'))" \
    "   FROM x"

/* The newest event before the period's end, against that end. */
#define FRESHNESS(table)                                                                       \
    "SELECT extract(epoch FROM " HI " - max(event_time)),"                                    \
    "       jsonb_build_object('newest', max(event_time), 'as_of', " HI ", 'period_start', " LO "," \
    "         'note', CASE WHEN max(event_time) IS NULL THEN 'no event in the 7 days before' END)" \
    "  FROM " table " WHERE event_time < " HI " AND event_time >= " HI " - interval '7 days'"

/* The period's count against the 24 periods of the same length before it:
 * |z| with the spread floored at max(sqrt(mean), 1) (a steady count has
 * no spread, and a Poisson count has at least that much). */
#define VOLUME_ANOMALY(table)                                                                  \
    "WITH b AS (SELECT k, " LO " - k * (" HI " - " LO ") AS s FROM generate_series(1, 24) k)," \
    " hist AS (SELECT (SELECT count(*) FROM " table " e WHERE e.event_time >= b.s"             \
    "                   AND e.event_time < b.s + (" HI " - " LO ")) AS n FROM b),"            \
    " cur AS (SELECT count(*) AS n FROM " table " WHERE " IN_PERIOD "),"                       \
    " st AS (SELECT avg(n) AS mean, coalesce(stddev_samp(n), 0) AS sd FROM hist)"            \
    " SELECT CASE WHEN st.mean = 0 AND cur.n = 0 THEN 0"                                       \
    "             ELSE abs(cur.n - st.mean) / greatest(st.sd, sqrt(st.mean), 1) END,"         \
    "        jsonb_build_object('count', cur.n, 'trailing_mean', round(st.mean, 2),"          \
    "          'trailing_stddev', round(st.sd, 2), 'periods_compared', 24)"                    \
    "   FROM cur, st"

/* Prices against the catalog's: rows deviating by more than $3 (a share).
 * One pass counts; the worst 20 are read in a second pass only when there
 * are any (the CASE evaluates its subquery only then). */
#define PRICE_ANOMALY(table, id)                                                               \
    "WITH v AS (SELECT " id " AS id, x.product_id, x.price, p.price AS catalog_price,"         \
    "                  abs(x.price - p.price) / p.price AS dev"                                \
    "             FROM " table " x JOIN products p USING (product_id)"                         \
    "            WHERE x." IN_PERIOD " AND x.price IS NOT NULL AND p.price > 0),"              \
    " n AS (SELECT count(*) AS priced, count(*) FILTER (WHERE dev > $3::numeric) AS bad FROM v)" \
    " SELECT coalesce(bad::numeric / nullif(priced, 0), 0),"                                   \
    "        jsonb_build_object('priced_rows', priced, 'offending', bad, 'max_deviation', $3::numeric," \
    "          'rows', CASE WHEN bad > 0 THEN (SELECT jsonb_agg(to_jsonb(b)) FROM ("            \
    "            SELECT id, product_id, price, catalog_price, round(dev, 4) AS deviation FROM v" \
    "             WHERE dev > $3::numeric ORDER BY dev DESC, id LIMIT 20) b) ELSE '[]' END)"  \
    "   FROM n"

static const char user_events_completeness[] =
    "SELECT coalesce(bad::numeric / nullif(n, 0), 0),"
    "       jsonb_build_object('rows', n, 'incomplete', bad, 'by_rule', jsonb_build_object("
    "         'no user_id', a, 'no session_id', b, 'view or cart without product_id', c,"
    "         'view or cart without price', d, 'search without search_query', e))"
    "  FROM (SELECT count(*) AS n,"
    "               count(*) FILTER (WHERE user_id IS NULL OR session_id IS NULL"
    "                 OR (event_type IN ('product_view', 'add_to_cart') AND (product_id IS NULL OR price IS NULL))"
    "                 OR (event_type = 'search' AND search_query IS NULL)) AS bad,"
    "               count(*) FILTER (WHERE user_id IS NULL) AS a,"
    "               count(*) FILTER (WHERE session_id IS NULL) AS b,"
    "               count(*) FILTER (WHERE event_type IN ('product_view', 'add_to_cart') AND product_id IS NULL) AS c,"
    "               count(*) FILTER (WHERE event_type IN ('product_view', 'add_to_cart') AND price IS NULL) AS d,"
    "               count(*) FILTER (WHERE event_type = 'search' AND search_query IS NULL) AS e"
    "          FROM user_events WHERE " IN_PERIOD ") s";

static const char transactions_completeness[] =
    "SELECT coalesce(bad::numeric / nullif(n, 0), 0),"
    "       jsonb_build_object('rows', n, 'incomplete', bad, 'by_rule', jsonb_build_object("
    "         'no user_id', a, 'no total_amount', b, 'no payment_method', c, 'no items', d))"
    "  FROM (SELECT count(*) AS n,"
    "               count(*) FILTER (WHERE user_id IS NULL OR total_amount IS NULL"
    "                 OR payment_method IS NULL OR coalesce(item_count, 0) = 0) AS bad,"
    "               count(*) FILTER (WHERE user_id IS NULL) AS a,"
    "               count(*) FILTER (WHERE total_amount IS NULL) AS b,"
    "               count(*) FILTER (WHERE payment_method IS NULL) AS c,"
    "               count(*) FILTER (WHERE coalesce(item_count, 0) = 0) AS d"
    "          FROM transactions WHERE " IN_PERIOD ") s";

static const char inventory_completeness[] =
    "SELECT coalesce(bad::numeric / nullif(n, 0), 0),"
    "       jsonb_build_object('rows', n, 'incomplete', bad, 'by_rule', jsonb_build_object("
    "         'no product_id', a, 'no warehouse_location', b, 'no current_stock', c, 'no stock_change', d))"
    "  FROM (SELECT count(*) AS n,"
    "               count(*) FILTER (WHERE product_id IS NULL OR warehouse_location IS NULL"
    "                 OR current_stock IS NULL OR stock_change IS NULL) AS bad,"
    "               count(*) FILTER (WHERE product_id IS NULL) AS a,"
    "               count(*) FILTER (WHERE warehouse_location IS NULL) AS b,"
    "               count(*) FILTER (WHERE current_stock IS NULL) AS c,"
    "               count(*) FILTER (WHERE stock_change IS NULL) AS d"
    "          FROM inventory_updates WHERE " IN_PERIOD ") s";

/* The period's user events with an earlier one of the same user, type and
 * product at most 1 s before (the later ones are the near-duplicates): one
 * window pass; the examples come from a second one only when there are
 * near-duplicates. */
#define NEAR_DUPLICATES                                                                        \
    "WITH e AS (SELECT event_id, event_time, user_id, event_type, product_id,"                 \
    "                  lag(event_time) OVER (PARTITION BY user_id, event_type, product_id"     \
    "                                        ORDER BY event_time, event_id) AS prev"           \
    "             FROM user_events"                                                            \
    "            WHERE event_time >= " LO " - interval '1 second' AND event_time < " HI "),"    \
    " near AS (SELECT * FROM e WHERE event_time >= " LO " AND prev IS NOT NULL"                \
    "            AND event_time - prev <= interval '1 second')"

static const char near_duplicates_check[] =
    "WITH n AS (SELECT count(*) FILTER (WHERE event_time >= " LO ") AS rows,"
    "                  count(*) FILTER (WHERE event_time >= " LO " AND prev IS NOT NULL"
    "                                     AND event_time - prev <= interval '1 second') AS near"
    "             FROM (SELECT event_time, lag(event_time) OVER (PARTITION BY user_id, event_type, product_id"
    "                                                           ORDER BY event_time, event_id) AS prev"
    "                     FROM user_events"
    "                    WHERE event_time >= " LO " - interval '1 second' AND event_time < " HI ") w)"
    " SELECT coalesce(near::numeric / nullif(rows, 0), 0),"
    "        jsonb_build_object('rows', rows, 'near_duplicates', near,"
    "          'examples', CASE WHEN near > 0 THEN (" NEAR_DUPLICATES
    "            SELECT jsonb_agg(to_jsonb(x)) FROM (SELECT event_id, user_id, event_type, product_id,"
    "              event_time, prev FROM near ORDER BY event_time, event_id LIMIT 20) x) ELSE '[]' END)"
    "   FROM n";

static const char near_duplicates_fix[] =
    NEAR_DUPLICATES
    " DELETE FROM user_events u USING near"
    "  WHERE u.event_id = near.event_id AND u.event_time = near.event_time";

static const char referential_check[] =
    "SELECT coalesce(count(*) FILTER (WHERE p.product_id IS NULL)::numeric / nullif(count(*), 0), 0),"
    "       jsonb_build_object('items', count(*), 'unknown_product', count(*) FILTER (WHERE p.product_id IS NULL),"
    "         'products', coalesce(jsonb_agg(DISTINCT i.product_id) FILTER (WHERE p.product_id IS NULL), '[]'))"
    "  FROM transaction_items i LEFT JOIN products p USING (product_id)"
    " WHERE i." IN_PERIOD;

/* Each update against the one before it of the same product and
 * warehouse: within the period by a window; for a pair's first update in
 * it, by a backward index probe. */
static const char stock_consistency_check[] =
    "WITH u AS (SELECT event_id, product_id, warehouse_location, event_time, stock_change, current_stock,"
    "                  lag(current_stock) OVER w AS lag_stock, row_number() OVER w AS rn"
    "             FROM inventory_updates WHERE " IN_PERIOD
    "              AND product_id IS NOT NULL AND warehouse_location IS NOT NULL"
    "           WINDOW w AS (PARTITION BY product_id, warehouse_location ORDER BY event_time, event_id)),"
    " c AS (SELECT u.*, CASE WHEN rn > 1 THEN lag_stock ELSE"
    "          (SELECT p.current_stock FROM inventory_updates p"
    "            WHERE p.product_id = u.product_id AND p.warehouse_location = u.warehouse_location"
    "              AND p.event_time <= u.event_time AND (p.event_time, p.event_id) < (u.event_time, u.event_id)"
    "            ORDER BY p.event_time DESC, p.event_id DESC LIMIT 1) END AS previous_stock FROM u),"
    " bad AS (SELECT * FROM c WHERE previous_stock IS NOT NULL"
    "           AND current_stock IS DISTINCT FROM previous_stock + stock_change),"
    " n AS (SELECT count(*) FILTER (WHERE previous_stock IS NOT NULL) AS compared,"
    "              (SELECT count(*) FROM bad) AS inconsistent FROM c)"
    " SELECT coalesce(inconsistent::numeric / nullif(compared, 0), 0),"
    "        jsonb_build_object('compared', compared, 'inconsistent', inconsistent,"
    "          'rows', coalesce((SELECT jsonb_agg(to_jsonb(b)) FROM (SELECT event_id, product_id,"
    "             warehouse_location, event_time, previous_stock, stock_change, current_stock"
    "             FROM bad ORDER BY event_time, event_id LIMIT 20) b), '[]'))"
    "   FROM n";

const char *const check_names[] = {"schema_validity", "completeness", "duplicates_exact",
                                   "duplicates_near", "freshness", "volume_anomaly",
                                   "price_anomaly", "referential", "stock_consistency", NULL};

const check_t checks[] = {
    {"schema_validity", "user-events", "rate", SCHEMA_VALIDITY("user-events", "user_events"), {0.01, 0.05}},
    {"schema_validity", "transactions", "rate", SCHEMA_VALIDITY("transactions", "transactions"), {0.01, 0.05}},
    {"schema_validity", "inventory-updates", "rate", SCHEMA_VALIDITY("inventory-updates", "inventory_updates"), {0.01, 0.05}},
    {"completeness", "user_events", "rate", user_events_completeness, {0, 0.01}},
    {"completeness", "transactions", "rate", transactions_completeness, {0, 0.01}},
    {"completeness", "inventory_updates", "rate", inventory_completeness, {0, 0.01}},
    {"duplicates_exact", "user-events", "rate", DUPLICATES_EXACT("user-events", "user_events"), {0.01, 0.05}},
    {"duplicates_exact", "transactions", "rate", DUPLICATES_EXACT("transactions", "transactions"), {0.01, 0.05}},
    {"duplicates_exact", "inventory-updates", "rate", DUPLICATES_EXACT("inventory-updates", "inventory_updates"), {0.01, 0.05}},
    {"duplicates_near", "user_events", "rate", near_duplicates_check, {0, 0.01}},
    {"freshness", "user_events", "seconds", FRESHNESS("user_events"), {300, 900}},
    {"freshness", "transactions", "seconds", FRESHNESS("transactions"), {300, 900}},
    {"freshness", "inventory_updates", "seconds", FRESHNESS("inventory_updates"), {300, 900}},
    {"volume_anomaly", "user_events", "|z|", VOLUME_ANOMALY("user_events"), {2, 3}},
    {"volume_anomaly", "transactions", "|z|", VOLUME_ANOMALY("transactions"), {2, 3}},
    {"volume_anomaly", "inventory_updates", "|z|", VOLUME_ANOMALY("inventory_updates"), {2, 3}},
    {"price_anomaly", "user_events", "rate", PRICE_ANOMALY("user_events", "x.event_id::text"), {0, 0.01}},
    {"price_anomaly", "transaction_items", "rate",
     PRICE_ANOMALY("transaction_items", "x.transaction_id || '/' || x.line_no"), {0, 0.01}},
    {"referential", "transaction_items", "rate", referential_check, {0, 0}},
    {"stock_consistency", "inventory_updates", "rate", stock_consistency_check, {0, 0.01}},
};
const int checks_count = (int)(sizeof(checks) / sizeof(checks[0]));

int checks_name_index(const char *name)
{
    for (int i = 0; check_names[i] != NULL; i++)
        if (strcmp(check_names[i], name) == 0)
            return i;
    return -1;
}

void checks_free_results(check_result_t *results)
{
    for (int i = 0; i < checks_count; i++) {
        free(results[i].details);
        results[i].details = NULL;
    }
}

/* Runs one check into r. */
static int observe(PGconn *conn, const check_t *ck, const char *const params[3], check_result_t *r)
{
    char what[96];
    int64_t t0 = ts_monotonic_ms();
    PGresult *res;

    snprintf(what, sizeof(what), "check %s on %s failed", ck->name, ck->table);
    /* PostgreSQL refuses a parameter the statement does not use. */
    res = db_run(conn, what, ck->sql, strstr(ck->sql, "$3") ? 3 : 2, params, PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    r->has_value = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
    r->observed = r->has_value ? strtod(PQgetvalue(res, 0, 0), NULL) : 0;
    snprintf(r->observed_text, sizeof(r->observed_text), "%s", r->has_value ? PQgetvalue(res, 0, 0) : "");
    r->details = strdup(PQntuples(res) == 1 && !PQgetisnull(res, 0, 1) ? PQgetvalue(res, 0, 1) : "{}");
    PQclear(res);
    r->status = verdict_judge(r->has_value, r->observed, r->lim);
    LOG_DEBUG("check %s on %s: %s in %lld ms", ck->name, ck->table, verdict_name(r->status),
              (long long)(ts_monotonic_ms() - t0));
    return r->details != NULL ? 0 : -1;
}

/* The run's rows: data_quality_runs, then one result per check. */
static int record(PGconn *conn, const char *const params[3], const check_result_t *results,
                  long long removed, long long *run_id)
{
    char srun[24], swarn[32], sfail[32], sremoved[24], counts[3][16];
    int n[3] = {0, 0, 0};
    PGresult *res;

    for (int i = 0; i < checks_count; i++)
        n[results[i].status]++;
    for (int i = 0; i < 3; i++)
        snprintf(counts[i], sizeof(counts[i]), "%d", i == 0 ? checks_count : n[i]);
    snprintf(sremoved, sizeof(sremoved), "%lld", removed);
    {
        const char *p[6] = {params[0], params[1], counts[0], counts[1], counts[2], sremoved};
        res = db_run(conn, "could not record the run",
                     "INSERT INTO data_quality_runs (period_start, period_end, checks, warned, failed,"
                     " removed, finished_at) VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())"
                     " RETURNING run_id",
                     6, p, PGRES_TUPLES_OK);
    }
    if (res == NULL)
        return -1;
    *run_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(srun, sizeof(srun), "%lld", *run_id);
    PQclear(res);
    for (int i = 0; i < checks_count; i++) {
        const check_result_t *r = &results[i];
        const char *p[8] = {srun, r->check->name, r->check->table, verdict_name(r->status),
                            r->has_value ? r->observed_text : NULL, sfail, r->details, swarn};
        snprintf(swarn, sizeof(swarn), "%.17g", r->lim.warn);
        snprintf(sfail, sizeof(sfail), "%.17g", r->lim.fail);
        res = db_run(conn, "could not record a check's result",
                     "INSERT INTO data_quality_results (run_id, check_name, table_name, status,"
                     " observed_value, threshold, details)"
                     " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb || jsonb_build_object('warn_threshold', $8::numeric))",
                     8, p, PGRES_COMMAND_OK);
        if (res == NULL)
            return -1;
        PQclear(res);
    }
    return 0;
}

/* The checks' workers: each takes the next check and runs it on its own
 * connection, all in the same snapshot. */
typedef struct {
    pthread_mutex_t lock;
    int next, failed;
    const char *const *params;
    check_result_t *results;
} checks_queue_t;

typedef struct {
    checks_queue_t *q;
    PGconn *conn;
    pthread_t thread;
} checks_worker_t;

static void *worker_main(void *arg)
{
    checks_worker_t *w = arg;
    checks_queue_t *q = w->q;

    pthread_mutex_lock(&q->lock);
    while (q->next < checks_count && !q->failed) {
        int i = q->next++;
        int rc;

        pthread_mutex_unlock(&q->lock);
        rc = observe(w->conn, &checks[i], q->params, &q->results[i]);
        pthread_mutex_lock(&q->lock);
        q->failed |= rc != 0;
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* Opens the transaction of every connection, the later ones in the
 * first's snapshot (pg_export_snapshot). */
static int begin_shared(PGconn **conns, int n)
{
    const char *begin = "BEGIN ISOLATION LEVEL REPEATABLE READ";
    char set[128];
    PGresult *res;

    if (db_run_cmd(conns[0], "could not start the checks' transaction", begin) != 0)
        return -1;
    if (n == 1)
        return 0;
    res = db_run(conns[0], "could not export the snapshot", "SELECT pg_export_snapshot()", 0, NULL,
                 PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    /* The server's own name for it: hex digits and dashes. */
    if (strspn(PQgetvalue(res, 0, 0), "0123456789ABCDEFabcdef-") != strlen(PQgetvalue(res, 0, 0))) {
        LOG_ERROR("unexpected snapshot name \"%s\"", PQgetvalue(res, 0, 0));
        PQclear(res);
        return -1;
    }
    snprintf(set, sizeof(set), "SET TRANSACTION SNAPSHOT '%s'", PQgetvalue(res, 0, 0));
    PQclear(res);
    for (int i = 1; i < n; i++)
        if (db_run_cmd(conns[i], "could not start a checks' transaction", begin) != 0 ||
            db_run_cmd(conns[i], "could not share the snapshot", set) != 0)
            return -1;
    return 0;
}

int checks_run(PGconn **conns, int nconns, const checks_conf_t *c, check_result_t *results,
               long long *run_id, long long *removed)
{
    char slo[TS_RFC3339_LEN], shi[TS_RFC3339_LEN], sdev[32];
    const char *params[3] = {slo, shi, sdev};
    checks_queue_t q = {.params = params, .results = results};
    checks_worker_t workers[8];
    PGconn *conn = conns[0];
    int started = 0;
    PGresult *res;

    ts_format_rfc3339(c->lo, slo);
    ts_format_rfc3339(c->hi, shi);
    snprintf(sdev, sizeof(sdev), "%.17g", c->price_deviation);
    *removed = 0;
    memset(results, 0, sizeof(*results) * (size_t)checks_count);
    for (int i = 0; i < checks_count; i++) {
        results[i].check = &checks[i];
        results[i].lim = c->lim[checks_name_index(checks[i].name)];
    }
    if (nconns > 8)
        nconns = 8;
    if (begin_shared(conns, nconns) != 0)
        goto fail;
    pthread_mutex_init(&q.lock, NULL);
    for (; started < nconns; started++) {
        workers[started] = (checks_worker_t){&q, conns[started], 0};
        if (pthread_create(&workers[started].thread, NULL, worker_main, &workers[started]) != 0) {
            q.failed = 1;
            break;
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(workers[i].thread, NULL);
    pthread_mutex_destroy(&q.lock);
    for (int i = 1; i < nconns; i++)
        db_run_cmd(conns[i], "could not end a checks' transaction", "COMMIT");
    if (q.failed || started < nconns)
        goto fail;
    if (c->fix) {
        res = db_run(conn, "could not remove the near-duplicates", near_duplicates_fix, 2, params,
                     PGRES_COMMAND_OK);
        if (res == NULL)
            goto fail;
        *removed = db_cmd_tuples(res);
        PQclear(res);
        LOG_INFO("--fix: removed %lld near-duplicate user events", *removed);
    }
    if (record(conn, params, results, *removed, run_id) != 0 ||
        db_run_cmd(conn, "could not commit the checks", "COMMIT") != 0)
        goto fail;
    return 0;
fail:
    for (int i = 0; i < nconns; i++)
        db_recover(conns[i]);
    checks_free_results(results);
    return -1;
}
