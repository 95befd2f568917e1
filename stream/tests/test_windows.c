/*
 * test_windows.c - stream/windows.c and sql/windows.sql against a real
 * PostgreSQL (never a mock). Each case plays the sink: inside a
 * transaction it stores raw rows and the same rows in the session's new_*
 * temporary tables, moves stream_offsets' watermarks, calls
 * windows_apply() and commits; then it compares the window tables with
 * figures worked out by hand, and runs sql/checks/windows.sql, which must
 * print nothing.
 *
 * Covered: events at window_start and 1 ms before window_end, late rows
 * (only in late_events, also after the window is final, and for a window
 * long gone), batches adding up, distinct users and sessions across
 * batches, a restart (new connection) and two instances (also racing on
 * the same user), finality held by the slower instance and by a NULL
 * watermark, zero rows for empty windows and their limit, anomaly scores
 * of a known series (z by hand, a missing window as 0, too little
 * history, stddev 0), trending ranks with ties, the span and the cut,
 * conversion_rate NULL without views, the catalog learning a category
 * (later windows only; an older event never reverts it), an unknown
 * product, set cleanup, the configuration's bounds, a failing statement's
 * error handed to the caller, the consistency check catching corrupted,
 * missing and extra rows, and the cost of a 20,000-row batch (printed).
 *
 * The window tables are global, so every case truncates them and the raw
 * tables: the program runs only when ECOM_WINDOWS_TEST_DB=throwaway (set by
 * tests/integration/test_windows_pg.sh on its own cluster); otherwise,
 * or without PGHOST/PGDATABASE, it exits 77 (skipped). ECOM_WINDOWS_CHECK
 * names sql/checks/windows.sql (the check runs are skipped without it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analytics.h"
#include "buf.h"
#include "db.h"
#include "elog.h"
#include "pg_query.h"
#include "ts.h"
#include "windows.h"

#define B INT64_C(1767225600000) /* 2026-01-01T00:00:00Z, a window start */
#define W INT64_C(30000)         /* the default window */
#define NO_WM INT64_MIN          /* a NULL watermark */
#define GROUP "test-windows"

static PGconn *admin; /* checks and resets */
static long long next_offset = 1;

/* ---- statements ------------------------------------------------------- */

static PGresult *exec_params(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("statement failed: %s\nstatement: %s", PQerrorMessage(c), sql);
    return res;
}

static void run(PGconn *c, const char *sql, int n, const char *const *params)
{
    PQclear(exec_params(c, sql, n, params));
}

/* The first column of the first row on admin as an integer; -1 for no
 * row or NULL. */
static long long q_ll(const char *sql, int n, ...)
{
    const char *params[8];
    va_list ap;
    PGresult *res;
    long long v = -1;

    assert_true(n <= 8);
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        params[i] = va_arg(ap, const char *);
    va_end(ap);
    res = exec_params(admin, sql, n, params);
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* The first row on admin as text, its columns joined by '|' (NULL: "N");
 * "" for no row. */
static char *q_row(char *out, size_t size, const char *sql, int n, ...)
{
    const char *params[8];
    va_list ap;
    PGresult *res;
    size_t len = 0;

    assert_true(n <= 8);
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        params[i] = va_arg(ap, const char *);
    va_end(ap);
    res = exec_params(admin, sql, n, params);
    out[0] = '\0';
    for (int i = 0; PQntuples(res) > 0 && i < PQnfields(res); i++) {
        int w = snprintf(out + len, size - len, "%s%s", i ? "|" : "",
                         PQgetisnull(res, 0, i) ? "N" : PQgetvalue(res, 0, i));
        assert_true(w >= 0 && (size_t)w < size - len);
        len += (size_t)w;
    }
    PQclear(res);
    return out;
}

static const char *ms_text(char buf[24], int64_t ms)
{
    snprintf(buf, 24, "%lld", (long long)ms);
    return buf;
}

/* ---- one "instance": a connection with the sink's temporary tables --- */

static PGconn *instance(void)
{
    PGconn *c = PQconnectdb("");

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    for (size_t i = 0; analytics_session_sql[i] != NULL; i++)
        run(c, analytics_session_sql[i], 0, NULL);
    return c;
}

static void begin(PGconn *c)
{
    run(c, "BEGIN", 0, NULL);
}

static void commit(PGconn *c)
{
    run(c, "COMMIT", 0, NULL);
}

/* n user events at ms, stored raw and in new_user_events. user: the user
 * id, or with distinct set user || 1..n. product and category NULL for a
 * search. */
static void ue_n(PGconn *c, int64_t ms, int n, const char *user, int distinct,
                 const char *type, const char *product, const char *category,
                 const char *session, int late)
{
    static const char sql[] =
        "WITH r AS ("
        "  INSERT INTO user_events (event_id, user_id, event_type, event_time, product_id, "
        "         product_name, category, price, search_query, session_id, kafka_partition, "
        "         kafka_offset, late) "
        "  SELECT gen_random_uuid(), CASE WHEN $10::boolean THEN $1 || g ELSE $1 END, $2, "
        "         timestamptz 'epoch' + $3::bigint * interval '1 millisecond', $4, "
        "         'name of ' || $4, $5, CASE WHEN $4 IS NOT NULL THEN 10.00 END, "
        "         CASE WHEN $4 IS NULL THEN 'shoes' END, $6, 0, $7::bigint + g, $8::boolean "
        "    FROM generate_series(1, $9::int) AS g "
        "  RETURNING *) "
        "INSERT INTO new_user_events SELECT * FROM r";
    char t[24], off[24], cnt[16];
    const char *p[10];

    snprintf(cnt, sizeof(cnt), "%d", n);
    p[0] = user, p[1] = type, p[2] = ms_text(t, ms), p[3] = product, p[4] = category;
    p[5] = session, p[6] = ms_text(off, next_offset), p[7] = late ? "true" : "false";
    p[8] = cnt, p[9] = distinct ? "true" : "false";
    next_offset += n;
    run(c, sql, 10, p);
}

static void ue(PGconn *c, int64_t ms, const char *user, const char *type, const char *product,
               const char *category, const char *session, int late)
{
    ue_n(c, ms, 1, user, 0, type, product, category, session, late);
}

typedef struct {
    const char *product;
    int quantity;
    const char *price; /* "12.50" */
} item_t;

/* A transaction at ms with its items (total_amount = their sum). */
static void txn(PGconn *c, int64_t ms, const char *user, int late, int nitems,
                const item_t *items)
{
    static const char sql_tx[] =
        "WITH r AS ("
        "  INSERT INTO transactions (transaction_id, user_id, event_time, payment_method, "
        "         total_amount, tax_amount, shipping_cost, item_count, totals_match, "
        "         kafka_partition, kafka_offset, late) "
        "  VALUES (gen_random_uuid(), $1, timestamptz 'epoch' + $2::bigint * interval '1 millisecond', "
        "          'card', 0, 0, 0, $3::int, true, 0, $4::bigint, $5::boolean) "
        "  RETURNING *), "
        "n AS (INSERT INTO new_transactions SELECT * FROM r) "
        "SELECT transaction_id FROM r";
    static const char sql_item[] =
        "WITH r AS ("
        "  INSERT INTO transaction_items (transaction_id, line_no, event_time, product_id, "
        "         product_name, price, quantity, item_total) "
        "  VALUES ($1::uuid, $2::int, timestamptz 'epoch' + $3::bigint * interval '1 millisecond', "
        "          $4, 'name of ' || $4, $5::numeric, $6::int, $5::numeric * $6::int) "
        "  RETURNING *) "
        "INSERT INTO new_transaction_items SELECT * FROM r";
    static const char sql_total[] =
        "WITH s AS (SELECT sum(item_total) AS t FROM new_transaction_items WHERE transaction_id = $1::uuid) "
        "UPDATE transactions SET total_amount = s.t FROM s WHERE transaction_id = $1::uuid";
    static const char sql_total_new[] =
        "UPDATE new_transactions SET total_amount = "
        "  (SELECT sum(item_total) FROM new_transaction_items WHERE transaction_id = $1::uuid) "
        "WHERE transaction_id = $1::uuid";
    char t[24], off[24], cnt[16], id[64], line[16], qty[16];
    const char *p[6];
    PGresult *res;

    snprintf(cnt, sizeof(cnt), "%d", nitems);
    p[0] = user, p[1] = ms_text(t, ms), p[2] = cnt, p[3] = ms_text(off, next_offset++);
    p[4] = late ? "true" : "false";
    res = exec_params(c, sql_tx, 5, p);
    assert_int_equal(PQntuples(res), 1);
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    for (int i = 0; i < nitems; i++) {
        snprintf(line, sizeof(line), "%d", i + 1);
        snprintf(qty, sizeof(qty), "%d", items[i].quantity);
        p[0] = id, p[1] = line, p[2] = t, p[3] = items[i].product, p[4] = items[i].price;
        p[5] = qty;
        run(c, sql_item, 6, p);
    }
    p[0] = id;
    run(c, sql_total, 1, p);
    run(c, sql_total_new, 1, p);
}

static void inv(PGconn *c, int64_t ms, const char *product, int late)
{
    static const char sql[] =
        "WITH r AS ("
        "  INSERT INTO inventory_updates (event_id, product_id, product_name, stock_change, "
        "         current_stock, warehouse_location, event_time, kafka_partition, kafka_offset, late) "
        "  VALUES (gen_random_uuid(), $1, 'name of ' || $1, -1, 10, 'NYC', "
        "          timestamptz 'epoch' + $2::bigint * interval '1 millisecond', 0, $3::bigint, $4::boolean) "
        "  RETURNING *) "
        "INSERT INTO new_inventory_updates SELECT * FROM r";
    char t[24], off[24];
    const char *p[4] = {product, ms_text(t, ms), ms_text(off, next_offset++), late ? "true" : "false"};

    run(c, sql, 4, p);
}

/* The stream_offsets row of (group, partition) with this watermark (NO_WM:
 * NULL), as the sink writes it in the batch's transaction. */
static void wmark_group(PGconn *c, const char *group, int partition, int64_t ms)
{
    static const char sql[] =
        "INSERT INTO stream_offsets (consumer_group, topic, kafka_partition, next_offset, watermark) "
        "VALUES ($1, 'user-events', $2::int, 0, "
        "        timestamptz 'epoch' + $3::bigint * interval '1 millisecond') "
        "ON CONFLICT (consumer_group, topic, kafka_partition) "
        "DO UPDATE SET watermark = EXCLUDED.watermark";
    char part[16], t[24];
    const char *p[3] = {group, part, ms == NO_WM ? NULL : ms_text(t, ms)};

    snprintf(part, sizeof(part), "%d", partition);
    run(c, sql, 3, p);
}

static void wmark(PGconn *c, int partition, int64_t ms)
{
    wmark_group(c, GROUP, partition, ms);
}

/* windows_apply() as the stream runs it, the topics having partitions
 * partitions (Kafka's metadata). */
static void apply_parts(PGconn *c, const windows_conf_t *conf, int partitions,
                        windows_result_t *res)
{
    PGresult *err = NULL;
    int rc = windows_apply(c, conf, GROUP, partitions, res, &err);

    if (rc != 0)
        fail_msg("windows_apply failed: %s", err ? PQresultErrorMessage(err) : "(logged)");
    assert_null(err);
}

/* With one partition known: the group's rows alone decide. */
static void apply_conf(PGconn *c, const windows_conf_t *conf, windows_result_t *res)
{
    apply_parts(c, conf, 1, res);
}

static void apply(PGconn *c, windows_result_t *res)
{
    windows_conf_t conf = windows_conf_default();
    apply_conf(c, &conf, res);
}

/* ---- reading the tables ------------------------------------------------ */

static const char SQL_TRAFFIC[] =
    "SELECT user_events, product_views, add_to_carts, searches, transactions, "
    "       inventory_updates, active_users, active_sessions, revenue, late_events, "
    "       is_final, window_end - window_start "
    "  FROM traffic_window_metrics "
    " WHERE window_start = timestamptz 'epoch' + $1::bigint * interval '1 millisecond'";

static const char SQL_PRODUCT[] =
    "SELECT category, views, add_to_carts, orders, units_sold, revenue, is_final "
    "  FROM product_window_metrics "
    " WHERE window_start = timestamptz 'epoch' + $1::bigint * interval '1 millisecond' "
    "   AND product_id = $2";

static const char SQL_CATEGORY[] =
    "SELECT views, add_to_carts, orders, units_sold, revenue, conversion_rate, is_final "
    "  FROM category_window_metrics "
    " WHERE window_start = timestamptz 'epoch' + $1::bigint * interval '1 millisecond' "
    "   AND category = $2";

static char *traffic(char *out, size_t size, int64_t ws)
{
    char t[24];
    return q_row(out, size, SQL_TRAFFIC, 1, ms_text(t, ws));
}

static char *product(char *out, size_t size, int64_t ws, const char *id)
{
    char t[24];
    return q_row(out, size, SQL_PRODUCT, 2, ms_text(t, ws), id);
}

static char *category(char *out, size_t size, int64_t ws, const char *cat)
{
    char t[24];
    return q_row(out, size, SQL_CATEGORY, 2, ms_text(t, ws), cat);
}

/* anomaly_score of the window at ws; NAN for NULL, -INFINITY for no row. */
static double score(int64_t ws, int *is_anomaly)
{
    char t[24], row[128];
    char *bar;

    q_row(row, sizeof(row),
          "SELECT anomaly_score, is_anomaly FROM traffic_window_metrics "
          " WHERE window_start = timestamptz 'epoch' + $1::bigint * interval '1 millisecond'",
          1, ms_text(t, ws));
    if (row[0] == '\0')
        return -INFINITY;
    bar = strchr(row, '|');
    assert_non_null(bar);
    *is_anomaly = strcmp(bar + 1, "t") == 0;
    if (strncmp(row, "N|", 2) == 0)
        return NAN;
    return strtod(row, NULL);
}

/* ---- the consistency check ----------------------------------------------- */

/* Runs sql/checks/windows.sql with psql (extra: more -v settings) and
 * returns its output (stdout and stderr) in out; 0 when it ran, 1 when
 * ECOM_WINDOWS_CHECK is not set. */
static int run_check(char *out, size_t size, const char *extra)
{
    return pgq_run_check("ECOM_WINDOWS_CHECK", "-v consumer_group=" GROUP, extra, out, size);
}

static void check_consistent_with(const char *extra)
{
    char out[8192];

    if (run_check(out, sizeof(out), extra) == 0 && out[0] != '\0')
        fail_msg("sql/checks/windows.sql lists differences:\n%s", out);
}

static void check_consistent(void)
{
    check_consistent_with(NULL);
}

/* ---- fixtures ------------------------------------------------------------ */

static int reset(void **state)
{
    (void)state;
    PQclear(exec_params(admin,
        "TRUNCATE product_window_metrics, category_window_metrics, traffic_window_metrics, "
        "trending_products, window_users, window_sessions, user_events, transactions, "
        "transaction_items, inventory_updates, stream_offsets", 0, NULL));
    PQclear(exec_params(admin, "DELETE FROM products WHERE product_id LIKE 'TW%'", 0, NULL));
    return 0;
}

/* ---- cases ---------------------------------------------------------------- */

static void test_conf(void **state)
{
    windows_conf_t c = windows_conf_default();
    windows_result_t res;
    char err[160];

    (void)state;
    assert_int_equal(c.window_ms, 30000);
    assert_int_equal(c.anomaly_windows, 20);
    assert_true(c.anomaly_z == 3.0);
    assert_int_equal(c.trending_n, 5);
    assert_int_equal(c.trending_span_ms, 300000);
    assert_int_equal(windows_conf_check(&c, err, sizeof(err)), 0);

    c = windows_conf_default(), c.window_ms = 0;
    assert_int_equal(windows_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "window_ms"));
    c = windows_conf_default(), c.anomaly_windows = 1;
    assert_int_equal(windows_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "anomaly_windows"));
    c = windows_conf_default(), c.anomaly_z = 0;
    assert_int_equal(windows_conf_check(&c, err, sizeof(err)), -1);
    c = windows_conf_default(), c.anomaly_z = NAN;
    assert_int_equal(windows_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "anomaly_z"));
    c = windows_conf_default(), c.trending_n = 0;
    assert_int_equal(windows_conf_check(&c, err, sizeof(err)), -1);
    c = windows_conf_default(), c.trending_span_ms = c.window_ms - 1;
    assert_int_equal(windows_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "trending_span_ms"));
    c = windows_conf_default(), c.fill_windows = -1;
    assert_int_equal(windows_conf_check(&c, err, sizeof(err)), -1);
    c = windows_conf_default(), c.keep_sets_ms = -1;
    assert_int_equal(windows_conf_check(&c, err, sizeof(err)), -1);
    assert_int_equal(windows_conf_check(NULL, NULL, 0), -1);
    /* A bad conf fails before any statement: the connection is untouched. */
    c = windows_conf_default(), c.window_ms = 0;
    assert_int_equal(windows_apply(admin, &c, GROUP, 1, &res, NULL), -1);
    assert_int_equal(PQtransactionStatus(admin), PQTRANS_IDLE);
}

/* Without the sink's temporary tables the first statement fails: the
 * server's error goes to the caller, the transaction is aborted. */
static void test_error_to_caller(void **state)
{
    windows_conf_t conf = windows_conf_default();
    windows_result_t res;
    PGresult *err = NULL;
    PGconn *c = PQconnectdb("");

    (void)state;
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    begin(c);
    assert_int_equal(windows_apply(c, &conf, GROUP, 1, &res, &err), -1);
    assert_non_null(err);
    assert_string_equal(PQresultErrorField(err, PG_DIAG_SQLSTATE), "42P01");
    PQclear(err);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_INERROR);
    run(c, "ROLLBACK", 0, NULL);
    /* error NULL: logged instead, still -1. */
    begin(c);
    assert_int_equal(windows_apply(c, &conf, GROUP, 1, &res, NULL), -1);
    run(c, "ROLLBACK", 0, NULL);
    PQfinish(c);
}

/* Window bounds, event types, late rows, conversion_rate NULL. */
static void test_bounds_and_late(void **state)
{
    PGconn *c = instance();
    windows_result_t res;
    char row[512];
    const item_t shoes[] = {{"TWB", 2, "50.00"}};
    const item_t two[] = {{"TWA", 1, "10.00"}, {"TWA", 3, "10.00"}};

    (void)state;
    begin(c);
    /* Window [B, B + W): its first and last millisecond, then the next. */
    ue(c, B, "TWU1", "product_view", "TWA", "TWCatA", "TWS1", 0);
    ue(c, B + W - 1, "TWU2", "add_to_cart", "TWA", "TWCatA", "TWS2", 0);
    ue(c, B + W, "TWU3", "product_view", "TWA", "TWCatA", "TWS3", 0);
    ue(c, B + 10, "TWU1", "search", NULL, NULL, "TWS1", 0);
    /* TWB is bought but never viewed: its category has no views. */
    ue(c, B + 2 * W, "TWU9", "product_view", "TWB", "TWCatB", "TWS9", 0);
    txn(c, B + 5, "TWU4", 0, 1, shoes);
    txn(c, B + W - 1, "TWU1", 0, 2, two); /* two lines of TWA: one order */
    inv(c, B + 7, "TWA", 0);
    /* Late rows: stored raw, in late_events of their own window only. */
    ue(c, B + 100, "TWU7", "product_view", "TWA", "TWCatA", "TWS7", 1);
    txn(c, B + 200, "TWU7", 1, 1, shoes);
    inv(c, B + 300, "TWA", 1);
    wmark(c, 0, B + W); /* the first window closes exactly */
    apply(c, &res);
    commit(c);

    assert_int_equal(res.catalog_changes, 2);
    assert_int_equal(res.late_events, 3);
    assert_int_equal(res.windows_final, 1);
    assert_int_equal(res.empty_windows, 0);
    /* user_events pv atc se tx inv users sessions revenue late final len */
    assert_string_equal(traffic(row, sizeof(row), B),
                        "3|1|1|1|2|1|3|2|140.00|3|t|00:00:30");
    assert_string_equal(traffic(row, sizeof(row), B + W),
                        "1|1|0|0|0|0|1|1|0.00|0|f|00:00:30");
    /* category views atc orders units revenue final */
    assert_string_equal(product(row, sizeof(row), B, "TWA"), "TWCatA|1|1|1|4|40.00|t");
    assert_string_equal(product(row, sizeof(row), B + W, "TWA"), "TWCatA|1|0|0|0|0.00|f");
    assert_string_equal(product(row, sizeof(row), B, "TWB"), "TWCatB|0|0|1|2|100.00|t");
    /* views atc orders units revenue conversion final */
    assert_string_equal(category(row, sizeof(row), B, "TWCatA"), "1|1|1|4|40.00|1.000000|t");
    assert_string_equal(category(row, sizeof(row), B, "TWCatB"), "0|0|1|2|100.00|N|t");
    /* Nothing of the late rows anywhere else. */
    assert_int_equal(q_ll("SELECT count(*) FROM product_window_metrics", 0), 4);
    check_consistent();

    /* A late event for the final window adds to late_events only; one for
     * a window long before the stream makes a row of its own, final at
     * once, without zero rows in between nor a score. */
    begin(c);
    ue(c, B + 1000, "TWU8", "product_view", "TWA", "TWCatA", "TWS8", 1);
    ue(c, B - 1000 * W, "TWU8", "product_view", "TWA", "TWCatA", "TWS8", 1);
    wmark(c, 0, B + W + 5);
    apply(c, &res);
    commit(c);
    assert_int_equal(res.windows_final, 1);
    assert_string_equal(traffic(row, sizeof(row), B),
                        "3|1|1|1|2|1|3|2|140.00|4|t|00:00:30");
    assert_string_equal(traffic(row, sizeof(row), B - 1000 * W),
                        "0|0|0|0|0|0|0|0|0.00|1|t|00:00:30");
    assert_int_equal(q_ll("SELECT count(*) FROM traffic_window_metrics", 0), 4);
    check_consistent();
    PQfinish(c);
}

/* Two batches add up; distinct users and sessions across batches and
 * after a restart (a new connection). */
static void test_batches_and_restart(void **state)
{
    PGconn *c = instance();
    windows_result_t res;
    char row[512];
    const item_t one[] = {{"TWA", 1, "1.50"}};

    (void)state;
    begin(c);
    ue(c, B + 1, "TWU1", "product_view", "TWA", "TWCat", "TWS1", 0);
    ue(c, B + 2, "TWU2", "product_view", "TWA", "TWCat", "TWS2", 0);
    txn(c, B + 3, "TWU3", 0, 1, one);
    wmark(c, 0, B);
    apply(c, &res);
    commit(c);
    assert_int_equal(res.set_added, 5); /* 3 users, 2 sessions */

    begin(c);
    ue(c, B + 4, "TWU1", "product_view", "TWA", "TWCat", "TWS1", 0); /* both known */
    ue(c, B + 5, "TWU3", "add_to_cart", "TWA", "TWCat", "TWS3", 0);  /* user known */
    txn(c, B + 6, "TWU2", 0, 1, one);
    apply(c, &res);
    commit(c);
    assert_int_equal(res.set_added, 1);
    assert_string_equal(traffic(row, sizeof(row), B), "4|3|1|0|2|0|3|3|3.00|0|f|00:00:30");
    PQfinish(c);

    /* A restart: nothing in memory, the sets are in PostgreSQL. */
    c = instance();
    begin(c);
    ue(c, B + 7, "TWU2", "product_view", "TWA", "TWCat", "TWS2", 0);
    ue(c, B + 8, "TWU4", "product_view", "TWA", "TWCat", "TWS4", 0);
    wmark(c, 0, B + W);
    apply(c, &res);
    commit(c);
    assert_int_equal(res.set_added, 2);
    assert_string_equal(traffic(row, sizeof(row), B), "6|5|1|0|2|0|4|4|3.00|0|t|00:00:30");
    assert_string_equal(product(row, sizeof(row), B, "TWA"), "TWCat|5|1|2|2|3.00|t");
    assert_string_equal(category(row, sizeof(row), B, "TWCat"), "5|1|2|2|3.00|0.400000|t");
    check_consistent();
    PQfinish(c);
}

typedef struct {
    PGconn *c;
    int rc;
} apply_job_t;

static void *apply_thread(void *arg)
{
    apply_job_t *job = arg;
    windows_conf_t conf = windows_conf_default();
    windows_result_t res;

    job->rc = windows_apply(job->c, &conf, GROUP, 1, &res, NULL);
    return NULL;
}

/* Two instances of the group, each with its own partition's row: a window
 * is final only once both watermarks passed it; a NULL watermark holds
 * everything, and so does a partition without a row; the same user added
 * by both at once counts once. */
static void test_two_instances(void **state)
{
    PGconn *a = instance(), *b = instance();
    windows_conf_t conf = windows_conf_default();
    windows_result_t res;
    char row[512];
    pthread_t th;
    apply_job_t job;

    (void)state;
    begin(b);
    wmark(b, 1, B);
    wmark_group(b, "test-windows-other", 0, B + 10 * W);
    commit(b);
    begin(a);
    ue(a, B + 1, "TWU1", "product_view", "TWA", "TWCat", "TWS1", 0);
    wmark(a, 0, B + 2 * W);
    apply(a, &res);
    commit(a);
    assert_int_equal(res.windows_final, 0);
    begin(b);
    ue(b, B + 2, "TWU2", "product_view", "TWA", "TWCat", "TWS2", 0);
    wmark(b, 1, B + W - 1);
    apply(b, &res);
    commit(b);
    assert_int_equal(res.windows_final, 0);
    assert_string_equal(traffic(row, sizeof(row), B), "2|2|0|0|0|0|2|2|0.00|0|f|00:00:30");

    /* The same user in the same window from both, concurrently: b waits
     * for a's uncommitted set row, then finds it. */
    begin(a);
    ue(a, B + 3, "TWU3", "product_view", "TWA", "TWCat", "TWS3", 0);
    apply(a, &res);
    assert_int_equal(res.set_added, 2);
    begin(b);
    ue(b, B + 4, "TWU3", "add_to_cart", "TWA", "TWCat", "TWS3", 0);
    job.c = b, job.rc = 99;
    assert_int_equal(pthread_create(&th, NULL, apply_thread, &job), 0);
    usleep(300 * 1000);
    commit(a);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(job.rc, 0);
    commit(b);
    assert_string_equal(traffic(row, sizeof(row), B), "4|3|1|0|0|0|3|3|0.00|0|f|00:00:30");

    /* A third partition without a watermark yet holds every window. */
    begin(b);
    wmark(b, 1, B + 2 * W);
    wmark(b, 2, NO_WM);
    apply(b, &res);
    commit(b);
    assert_int_equal(res.windows_final, 0);
    /* Every row past the window, but the topics have a fourth partition
     * nobody stored yet (another instance's, starting): still open; and
     * with the partition count unknown (0) too. */
    begin(b);
    wmark(b, 2, B + W);
    apply_parts(b, &conf, 4, &res);
    assert_int_equal(res.windows_final, 0);
    apply_parts(b, &conf, 0, &res);
    assert_int_equal(res.windows_final, 0);
    apply_parts(b, &conf, 3, &res);
    commit(b);
    assert_int_equal(res.windows_final, 1);
    assert_string_equal(traffic(row, sizeof(row), B), "4|3|1|0|0|0|3|3|0.00|0|t|00:00:30");
    assert_int_equal(q_ll("SELECT count(*) FROM product_window_metrics WHERE NOT is_final", 0), 0);
    check_consistent();
    PQfinish(a);
    PQfinish(b);
}

/* Empty windows get zero rows when they close, at most fill_windows of
 * them per finalisation (the newest); sets go keep_sets_ms after final. */
static void test_empty_windows_and_sets(void **state)
{
    windows_conf_t conf = windows_conf_default();
    PGconn *c = instance();
    windows_result_t res;
    windows_state_t st;
    char row[512];

    (void)state;
    conf.keep_sets_ms = W;
    begin(c);
    ue(c, B + 1, "TWU1", "product_view", "TWA", "TWCat", "TWS1", 0);
    wmark(c, 0, B + 4 * W); /* B final, B+W .. B+3W empty and final */
    apply_conf(c, &conf, &res);
    commit(c);
    assert_int_equal(res.windows_final, 4);
    assert_int_equal(res.empty_windows, 3);
    assert_int_equal(res.set_deleted, 2); /* B's sets: final W ago */
    for (int i = 1; i <= 3; i++)
        assert_string_equal(traffic(row, sizeof(row), B + i * W),
                            "0|0|0|0|0|0|0|0|0.00|0|t|00:00:30");
    assert_int_equal(windows_state(admin, &st), 0);
    assert_int_equal(st.open_windows, 0);
    assert_int_equal(st.set_entries, 0);
    assert_true(st.set_bytes > 0);

    /* With a limit of 2, a jump of 5 windows fills the 2 newest. */
    conf.fill_windows = 2;
    begin(c);
    ue(c, B + 4 * W, "TWU1", "product_view", "TWA", "TWCat", "TWS1", 0);
    wmark(c, 0, B + 10 * W);
    apply_conf(c, &conf, &res);
    commit(c);
    assert_int_equal(res.windows_final, 3); /* B+4W, then B+8W and B+9W */
    assert_int_equal(res.empty_windows, 2);
    assert_int_equal(q_ll("SELECT count(*) FROM traffic_window_metrics", 0), 7);
    assert_string_equal(traffic(row, sizeof(row), B + 9 * W), "0|0|0|0|0|0|0|0|0.00|0|t|00:00:30");
    assert_string_equal(traffic(row, sizeof(row), B + 7 * W), "");

    /* Idempotent: the same watermark again finalises nothing. */
    begin(c);
    apply_conf(c, &conf, &res);
    commit(c);
    assert_int_equal(res.windows_final, 0);
    assert_int_equal(res.empty_windows, 0);
    check_consistent();
    PQfinish(c);
}

/* z of x against hist[0..n) by hand: mean, sample stddev. */
static double z_by_hand(const int *hist, int n, int x)
{
    double sum = 0, ss = 0, mean;

    for (int i = 0; i < n; i++)
        sum += hist[i];
    mean = sum / n;
    for (int i = 0; i < n; i++)
        ss += (hist[i] - mean) * (hist[i] - mean);
    return (x - mean) / sqrt(ss / (n - 1));
}

/* A known series, window by window: no score with less than 20 windows of
 * history, a missing window counting 0, a spike, a dip. */
static void test_anomaly(void **state)
{
    /* user_events of windows 0..23; window 7 has none (a zero row). */
    static const int counts[24] = {10, 12, 9, 11, 10, 13, 8, 0, 12, 11, 10, 9,
                                   14, 10, 11, 12, 9, 10, 11, 13, 1, 40, 10, 2};
    PGconn *c = instance();
    windows_result_t res;
    long long anomalies = 0;

    (void)state;
    for (int i = 0; i < 24; i++) {
        begin(c);
        if (counts[i] > 0)
            ue_n(c, B + i * W + 17, counts[i], "TWU", 1, "search", NULL, NULL, "TWS", 0);
        wmark(c, 0, B + (i + 1) * W);
        apply(c, &res);
        commit(c);
        assert_int_equal(res.windows_final, 1);
    }
    for (int i = 0; i < 24; i++) {
        int anomalous = -1;
        double z = score(B + i * W, &anomalous);

        if (i < 20) {
            assert_true(isnan(z));
            assert_int_equal(anomalous, 0);
        } else {
            double want = z_by_hand(counts + i - 20, 20, counts[i]);
            if (fabs(z - want) > 1e-6)
                fail_msg("window %d: anomaly_score %.6f, by hand %.6f", i, z, want);
            assert_int_equal(anomalous, fabs(want) > 3.0);
            anomalies += fabs(want) > 3.0;
            /* a dip (z -3.23) and a spike (z 8.55) */
            if (i == 20 || i == 21)
                assert_int_equal(anomalous, 1);
        }
    }
    assert_int_equal(q_ll("SELECT count(*) FROM traffic_window_metrics WHERE is_anomaly", 0),
                     anomalies);
    check_consistent();
    PQfinish(c);
}

/* Three windows of history with the same count: stddev 0, no score, not
 * anomalous; all finalised in one call; a lower threshold flags. */
static void test_anomaly_flat(void **state)
{
    windows_conf_t conf = windows_conf_default();
    PGconn *c = instance();
    windows_result_t res;
    int anomalous = -1;
    static const int hist[3] = {5, 5, 6};

    (void)state;
    conf.anomaly_windows = 3;
    conf.anomaly_z = 1.5;
    begin(c);
    for (int i = 0; i < 3; i++)
        ue_n(c, B + i * W, 5, "TWU", 1, "search", NULL, NULL, "TWS", 0);
    ue_n(c, B + 3 * W, 6, "TWU", 1, "search", NULL, NULL, "TWS", 0);
    ue_n(c, B + 4 * W, 5, "TWU", 1, "search", NULL, NULL, "TWS", 0);
    wmark(c, 0, B + 5 * W);
    apply_conf(c, &conf, &res);
    commit(c);
    assert_int_equal(res.windows_final, 5);
    assert_true(isnan(score(B + 2 * W, &anomalous)));
    assert_int_equal(anomalous, 0);
    assert_true(isnan(score(B + 3 * W, &anomalous))); /* history 5 5 5 */
    assert_int_equal(anomalous, 0);
    /* history 5 5 6: z = (5 - 16/3) / sqrt(1/3) = -0.57735 */
    assert_true(fabs(score(B + 4 * W, &anomalous) - z_by_hand(hist + 0, 3, 5)) < 1e-6);
    assert_int_equal(anomalous, 0);
    check_consistent_with("-v anomaly_windows=3 -v anomaly_z=1.5");
    PQfinish(c);
}

/* Trending: the top n per category by views over the span, ties by
 * product_id, products without views left out. */
static void test_trending(void **state)
{
    windows_conf_t conf = windows_conf_default();
    PGconn *c = instance();
    windows_result_t res;
    char row[512];
    const item_t buy[] = {{"TWP2", 1, "5.00"}};
    const item_t other[] = {{"TWQ1", 1, "7.00"}};

    (void)state;
    conf.trending_n = 2;
    conf.trending_span_ms = 2 * W;
    begin(c);
    /* window 0: P1 3 views, P2 1, P3 5 (P3 falls out of the span later) */
    ue_n(c, B + 1, 3, "TWU", 1, "product_view", "TWP1", "TWCatP", "TWS", 0);
    ue_n(c, B + 2, 1, "TWU", 1, "product_view", "TWP2", "TWCatP", "TWS", 0);
    ue_n(c, B + 3, 5, "TWU", 1, "product_view", "TWP3", "TWCatP", "TWS", 0);
    /* window 1: P1 1, P2 3 (P1 = P2 = 4 over windows 0-1), P3 0 */
    ue_n(c, B + W + 1, 1, "TWU", 1, "product_view", "TWP1", "TWCatP", "TWS", 0);
    ue_n(c, B + W + 2, 3, "TWU", 1, "product_view", "TWP2", "TWCatP", "TWS", 0);
    ue(c, B + W + 3, "TWU1", "add_to_cart", "TWP2", "TWCatP", "TWS", 0);
    txn(c, B + W + 4, "TWU1", 0, 1, buy);
    /* window 2: P3 1 view; category Q: a view of Q2, a purchase of Q1 */
    ue(c, B + 2 * W + 1, "TWU1", "product_view", "TWP3", "TWCatP", "TWS", 0);
    ue(c, B + 2 * W + 2, "TWU2", "product_view", "TWQ2", "TWCatQ", "TWS", 0);
    ue(c, B + 2 * W + 3, "TWU2", "add_to_cart", "TWQ1", "TWCatQ", "TWS", 0);
    txn(c, B + 2 * W + 4, "TWU2", 0, 1, other);
    wmark(c, 0, B + 3 * W);
    apply_conf(c, &conf, &res);
    commit(c);
    assert_int_equal(res.windows_final, 3);

    /* end B+W: span [B-W, B+W): window 0 only: P3 5, P1 3 */
    assert_int_equal(q_ll("SELECT count(*) FROM trending_products", 0), 2 + 2 + 3);
    q_row(row, sizeof(row),
          "SELECT string_agg(category || ':' || rank || ':' || product_id || ':' || views || ':' "
          "       || add_to_carts || ':' || orders || ':' || units_sold || ':' || revenue, ' ' "
          "       ORDER BY window_end, category, rank) FROM trending_products", 0);
    assert_string_equal(row,
        /* end B+W */
        "TWCatP:1:TWP3:5:0:0:0:0.00 TWCatP:2:TWP1:3:0:0:0:0.00 "
        /* end B+2W, windows 0-1: P3 5, then P1 4 ties P2 4: P1 first */
        "TWCatP:1:TWP3:5:0:0:0:0.00 TWCatP:2:TWP1:4:0:0:0:0.00 "
        /* end B+3W, windows 1-2: P2 3 (+ cart, order), P1 1, P3 1: P1 by id */
        "TWCatP:1:TWP2:3:1:1:1:5.00 TWCatP:2:TWP1:1:0:0:0:0.00 "
        /* Q1 has no views: not ranked */
        "TWCatQ:1:TWQ2:1:0:0:0:0.00");
    assert_int_equal(q_ll("SELECT count(*) FROM trending_products "
                          " WHERE span_start <> window_end - interval '60 seconds'", 0), 0);
    check_consistent_with("-v trending_n=2 -v trending_span_ms=60000");
    /* With the default settings the same rows are wrong: the check says so. */
    {
        char out[8192];
        if (run_check(out, sizeof(out), NULL) == 0)
            assert_non_null(strstr(out, "trending_products"));
    }
    PQfinish(c);
}

/* The catalog learns categories from the events: new products, a changed
 * category for the windows created afterwards (a product's row keeps the
 * category it started with), no revert by an older event, an item of an
 * unknown product in no category. */
static void test_catalog(void **state)
{
    PGconn *c = instance();
    windows_result_t res;
    char row[512];
    const item_t x[] = {{"TWX", 1, "3.00"}};
    const item_t xy[] = {{"TWX", 1, "3.00"}, {"TWY", 2, "4.00"}};
    const item_t ghost[] = {{"TWGHOST", 1, "9.00"}};

    (void)state;
    begin(c);
    ue(c, B + 1, "TWU1", "product_view", "TWX", "TWOld", "TWS1", 0);
    ue(c, B + 2, "TWU1", "product_view", "TWY", "TWOld", "TWS1", 0);
    txn(c, B + 3, "TWU1", 0, 1, x);
    txn(c, B + 4, "TWU2", 0, 1, ghost);
    apply(c, &res);
    commit(c);
    assert_int_equal(res.catalog_changes, 2);
    assert_string_equal(q_row(row, sizeof(row),
                              "SELECT category, product_name, price FROM products WHERE product_id = 'TWX'", 0),
                        "TWOld|name of TWX|10.00");
    assert_string_equal(product(row, sizeof(row), B, "TWX"), "TWOld|1|0|1|1|3.00|f");
    assert_string_equal(product(row, sizeof(row), B, "TWGHOST"), "N|0|0|1|1|9.00|f");
    assert_int_equal(q_ll("SELECT count(*) FROM category_window_metrics", 0), 1);

    /* Later: TWX moves to TWNew (window 1); a later batch's items of TWX in
     * window 0 stay in TWOld, those in window 1 go to TWNew. */
    begin(c);
    ue(c, B + W + 1, "TWU1", "product_view", "TWX", "TWNew", "TWS1", 0);
    ue(c, B + 5, "TWU3", "add_to_cart", "TWX", "TWNew", "TWS3", 0);
    apply(c, &res);
    commit(c);
    assert_int_equal(res.catalog_changes, 1);
    begin(c);
    txn(c, B + 6, "TWU3", 0, 2, xy);
    txn(c, B + W + 2, "TWU1", 0, 2, xy);
    /* An older event with the old category does not revert the catalog. */
    ue(c, B + 7, "TWU4", "product_view", "TWX", "TWOld", "TWS4", 0);
    wmark(c, 0, B + 2 * W);
    apply(c, &res);
    commit(c);
    assert_int_equal(res.catalog_changes, 0);
    assert_string_equal(q_row(row, sizeof(row),
                              "SELECT category FROM products WHERE product_id = 'TWX'", 0), "TWNew");
    assert_string_equal(product(row, sizeof(row), B, "TWX"), "TWOld|2|1|2|2|6.00|t");
    assert_string_equal(product(row, sizeof(row), B + W, "TWX"), "TWNew|1|0|1|1|3.00|t");
    /* TWOld in window 0: views X 2 + Y 1; orders: x, xy (ghost in none) */
    assert_string_equal(category(row, sizeof(row), B, "TWOld"), "3|1|2|4|14.00|0.666667|t");
    assert_string_equal(category(row, sizeof(row), B + W, "TWNew"), "1|0|1|1|3.00|1.000000|t");
    assert_string_equal(category(row, sizeof(row), B + W, "TWOld"), "0|0|1|2|8.00|N|t");
    assert_string_equal(category(row, sizeof(row), B, "TWNew"), "");
    check_consistent();
    PQfinish(c);
}

/* The check catches a corrupted, a missing and an extra row, and a window
 * that should be final but is not. */
static void test_check_catches(void **state)
{
    PGconn *c = instance();
    windows_result_t res;
    char out[8192];
    const item_t one[] = {{"TWA", 1, "2.00"}};

    (void)state;
    if (run_check(out, sizeof(out), NULL) != 0)
        skip();
    begin(c);
    ue_n(c, B + 1, 4, "TWU", 1, "product_view", "TWA", "TWCat", "TWS", 0);
    txn(c, B + 2, "TWU1", 0, 1, one);
    ue(c, B + 3 * W, "TWU1", "product_view", "TWA", "TWCat", "TWS", 0);
    wmark(c, 0, B + 2 * W);
    apply(c, &res);
    commit(c);
    check_consistent();

    run(admin, "UPDATE product_window_metrics SET views = views + 1 WHERE window_start = "
               "timestamptz 'epoch' + 1767225600000 * interval '1 millisecond'", 0, NULL);
    run_check(out, sizeof(out), NULL);
    assert_non_null(strstr(out, "differs|product_window_metrics"));
    run(admin, "UPDATE product_window_metrics SET views = views - 1 WHERE window_start = "
               "timestamptz 'epoch' + 1767225600000 * interval '1 millisecond'", 0, NULL);
    check_consistent();

    run(admin, "UPDATE traffic_window_metrics SET active_users = 3 WHERE is_final AND user_events > 0", 0, NULL);
    run_check(out, sizeof(out), NULL);
    assert_non_null(strstr(out, "differs|traffic_window_metrics"));
    run(admin, "UPDATE traffic_window_metrics SET active_users = 4 WHERE is_final AND user_events > 0", 0, NULL);

    run(admin, "UPDATE category_window_metrics SET conversion_rate = 0.3 WHERE orders > 0", 0, NULL);
    run_check(out, sizeof(out), NULL);
    assert_non_null(strstr(out, "differs|category_window_metrics"));
    run(admin, "UPDATE category_window_metrics SET conversion_rate = 0.25 WHERE orders > 0", 0, NULL);
    check_consistent();

    /* missing: the product row; the category row then differs too */
    run(admin, "CREATE TEMP TABLE saved AS SELECT * FROM product_window_metrics", 0, NULL);
    run(admin, "DELETE FROM product_window_metrics WHERE is_final", 0, NULL);
    run_check(out, sizeof(out), NULL);
    assert_non_null(strstr(out, "missing|product_window_metrics"));
    run(admin, "INSERT INTO product_window_metrics SELECT * FROM saved WHERE is_final", 0, NULL);
    run(admin, "DROP TABLE saved", 0, NULL);
    check_consistent();

    /* extra: a final product row no raw row calls for */
    run(admin, "INSERT INTO product_window_metrics (window_start, window_end, product_id, "
               "category, views, is_final) SELECT window_start, window_end, 'TWZ', 'TWCat', 1, "
               "true FROM traffic_window_metrics WHERE is_final LIMIT 1", 0, NULL);
    run_check(out, sizeof(out), NULL);
    assert_non_null(strstr(out, "extra|product_window_metrics"));
    run(admin, "DELETE FROM product_window_metrics WHERE product_id = 'TWZ'", 0, NULL);

    /* a trending row changed */
    run(admin, "UPDATE trending_products SET views = views + 1", 0, NULL);
    run_check(out, sizeof(out), NULL);
    assert_non_null(strstr(out, "differs|trending_products"));
    run(admin, "UPDATE trending_products SET views = views - 1", 0, NULL);
    check_consistent();

    /* a window the watermark passed that is not final */
    run(admin, "UPDATE stream_offsets SET watermark = watermark + interval '60 seconds'", 0, NULL);
    run_check(out, sizeof(out), NULL);
    assert_non_null(strstr(out, "differs|traffic_window_metrics"));
    begin(c);
    apply(c, &res);
    commit(c);
    assert_int_equal(res.windows_final, 2);
    check_consistent();
    PQfinish(c);
}

/* COPYs out the rows of query (COPY text) into out. */
static void copy_out(PGconn *c, const char *query, buf_t *out)
{
    char sql[2048];
    PGresult *res;
    char *line = NULL;
    int n;

    snprintf(sql, sizeof(sql), "COPY (%s) TO STDOUT", query);
    res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT)
        fail_msg("COPY TO failed: %s", PQerrorMessage(c));
    PQclear(res);
    while ((n = PQgetCopyData(c, &line, 0)) > 0) {
        buf_append(out, line, (size_t)n);
        PQfreemem(line);
    }
    assert_int_equal(n, -1);
    res = PQgetResult(c);
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    assert_null(PQgetResult(c));
    assert_false(out->oom);
}

/* COPYs data into table, as the sink does. */
static void copy_in(PGconn *c, const char *table, const buf_t *data)
{
    char sql[128];
    PGresult *res;

    snprintf(sql, sizeof(sql), "COPY %s FROM STDIN", table);
    res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN)
        fail_msg("COPY FROM failed: %s", PQerrorMessage(c));
    PQclear(res);
    assert_int_equal(PQputCopyData(c, data->data, (int)data->len), 1);
    assert_int_equal(PQputCopyEnd(c, NULL), 1);
    res = PQgetResult(c);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("COPY %s failed: %s", table, PQerrorMessage(c));
    PQclear(res);
    assert_null(PQgetResult(c));
}

/* The cost of one batch of 20,000 messages in the simulator's mix (per 20
 * user events about 1 transaction of 2 items and 0.7 inventory updates;
 * 1,000 users, 2,000 sessions, 10 products in 4 categories, over 2 s of
 * event time) against storing its rows as the sink does (COPY into the raw
 * tables, with their indexes), and against filling the new_* tables (also
 * COPY): printed, and bounded loosely. */
static void test_cost_20000(void **state)
{
    /* Generators, with every column of the raw tables in their order
     * ($1: the batch's first event time, ms). */
    static const char gen_ue[] =
        "SELECT gen_random_uuid(), 'TWU' || (g %% 1000), "
        "       (ARRAY['product_view', 'product_view', 'add_to_cart', 'search'])[g %% 4 + 1], "
        "       timestamptz 'epoch' + (%lld + g / 9) * interval '1 millisecond', "
        "       CASE WHEN g %% 4 <> 3 THEN 'TWP' || (g %% 10) END, "
        "       CASE WHEN g %% 4 <> 3 THEN 'name' || (g %% 10) END, "
        "       CASE WHEN g %% 4 <> 3 THEN 'TWCat' || (g %% 10 %% 4) END, "
        "       CASE WHEN g %% 4 <> 3 THEN 10.00 END, CASE WHEN g %% 4 = 3 THEN 'q' END, "
        "       'TWS' || (g %% 2000), '10.0.0.1', 'agent', g %% 3, %lld + g, now(), "
        "       g %% 500 = 0 "
        "  FROM generate_series(1, 18400) AS g";
    static const char gen_tx[] =
        "SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(%lld + g), 12, '0'))::uuid, "
        "       'TWU' || (g %% 1000), "
        "       timestamptz 'epoch' + (%lld + g * 2) * interval '1 millisecond', 'card', "
        "       20.00, 0, 0, '{}'::jsonb, 2, true, g %% 3, g, now(), false "
        "  FROM generate_series(1, 920) AS g";
    static const char gen_items[] =
        "SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(%lld + g), 12, '0'))::uuid, l, "
        "       timestamptz 'epoch' + (%lld + g * 2) * interval '1 millisecond', "
        "       'TWP' || ((g + l) %% 10), 'name', 10.00, 1, 10.00 "
        "  FROM generate_series(1, 920) AS g, generate_series(1, 2) AS l";
    static const char gen_inv[] =
        "SELECT gen_random_uuid(), 'TWP' || (g %% 10), 'name', -1, 10, 'NYC', "
        "       timestamptz 'epoch' + (%lld + g * 3) * interval '1 millisecond', g %% 3, g, "
        "       now(), false "
        "  FROM generate_series(1, 640) AS g";
    static const char *const tables[4] = {"user_events", "transactions", "transaction_items",
                                          "inventory_updates"};
    PGconn *c = instance();
    windows_result_t res;
    double raw_s[3] = {0}, fill_s[3] = {0}, win_s[3] = {0};

    (void)state;
    /* Three batches: the first creates the windows and set members, the
     * later ones add to them (the steady state); the last also finalises. */
    for (int i = 0; i < 3; i++) {
        long long at = (long long)(B + i * 2000);
        char q[1024];
        buf_t data[4];
        int64_t t0;

        for (int t = 0; t < 4; t++)
            buf_init(&data[t]);
        snprintf(q, sizeof(q), gen_ue, at, at);
        copy_out(c, q, &data[0]);
        snprintf(q, sizeof(q), gen_tx, at, at);
        copy_out(c, q, &data[1]);
        snprintf(q, sizeof(q), gen_items, at, at);
        copy_out(c, q, &data[2]);
        snprintf(q, sizeof(q), gen_inv, at);
        copy_out(c, q, &data[3]);

        begin(c);
        wmark(c, 0, i == 2 ? B + W : B);
        t0 = ts_monotonic_us();
        for (int t = 0; t < 4; t++)
            copy_in(c, tables[t], &data[t]);
        raw_s[i] = (double)(ts_monotonic_us() - t0) / 1e6;
        t0 = ts_monotonic_us();
        for (int t = 0; t < 4; t++) {
            char name[64];
            snprintf(name, sizeof(name), "new_%s", tables[t]);
            copy_in(c, name, &data[t]);
        }
        fill_s[i] = (double)(ts_monotonic_us() - t0) / 1e6;
        apply(c, &res);
        win_s[i] = res.seconds;
        commit(c);
        for (int t = 0; t < 4; t++)
            buf_free(&data[t]);
        printf("# batch %d of 19,960 messages (21,800 rows: 18,400 user events, 920 "
               "transactions + 1,840 items, 640 inventory updates): COPY into the raw tables "
               "%.1f ms, into new_* %.1f ms, windows_apply %.1f ms = %.0f%% of the raw COPY "
               "(%lld product, %lld category, %lld traffic rows, %lld set members added, "
               "%lld windows final)\n",
               i + 1, raw_s[i] * 1e3, fill_s[i] * 1e3, win_s[i] * 1e3,
               100.0 * win_s[i] / raw_s[i], res.product_rows, res.category_rows,
               res.traffic_rows, res.set_added, res.windows_final);
    }
    assert_true(res.windows_final >= 1);
    assert_true(win_s[1] < raw_s[1] + 0.5);
    check_consistent();
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf),
        cmocka_unit_test_setup(test_error_to_caller, reset),
        cmocka_unit_test_setup(test_bounds_and_late, reset),
        cmocka_unit_test_setup(test_batches_and_restart, reset),
        cmocka_unit_test_setup(test_two_instances, reset),
        cmocka_unit_test_setup(test_empty_windows_and_sets, reset),
        cmocka_unit_test_setup(test_anomaly, reset),
        cmocka_unit_test_setup(test_anomaly_flat, reset),
        cmocka_unit_test_setup(test_trending, reset),
        cmocka_unit_test_setup(test_catalog, reset),
        cmocka_unit_test_setup(test_check_catches, reset),
        cmocka_unit_test_setup(test_cost_20000, reset),
    };
    const char *db = getenv("ECOM_WINDOWS_TEST_DB");
    int rc;

    elog_init("test_windows");
    if (getenv("PGHOST") == NULL || getenv("PGDATABASE") == NULL || db == NULL ||
        strcmp(db, "throwaway") != 0) {
        printf("skipped: needs PGHOST, PGDATABASE and ECOM_WINDOWS_TEST_DB=throwaway (the cases truncate the window and raw tables)\n");
        return 77;
    }
    admin = PQconnectdb("");
    if (PQstatus(admin) != CONNECTION_OK) {
        printf("skipped: could not connect to PostgreSQL: %s", PQerrorMessage(admin));
        PQfinish(admin);
        return 77;
    }
    rc = cmocka_run_group_tests(tests, NULL, reset);
    PQfinish(admin);
    return rc;
}
