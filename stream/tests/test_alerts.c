/*
 * test_alerts.c - stream/alerts.c and sql/alerts.sql against a real
 * PostgreSQL (never a mock): each fraud rule firing and not firing at its
 * boundary (velocity 5 vs 6 in the span, exactly 60 s, ties, a late
 * earlier transaction, counts that grow; high value 5000.00 vs 5000.01;
 * amount mismatch; quantity 10 vs 11), the same alert set whatever the
 * arrival order and batching (against an oracle written here, apart from
 * the SQL), a second insert of the same alerts being a no-op, thresholds
 * from the configuration; inventory levels by event time and offset, stale
 * updates, low / restored crossings (across batches, several in one batch,
 * a key never seen, a per-product threshold), state kept across a new
 * connection, live equal to replay (oracle again); re-applying
 * sql/alerts.sql while a flush transaction is open; the error path; the
 * consistency check sql/checks/alerts.sql printing nothing after batches
 * that fire every rule and listing exactly the row of each error planted.
 *
 * Each batch is what sink_flush() will do: BEGIN, the raw rows inserted
 * into the raw tables and, as the rows newly stored, into the session's
 * temporary tables new_transactions, new_transaction_items and
 * new_inventory_updates, then alerts_apply(), then COMMIT. The session
 * runs in a time zone other than UTC, so that nothing depends on it.
 *
 * The server comes from the PG* environment; without PGHOST and PGDATABASE,
 * or when no connection can be made, the program exits 77 (skipped).
 * tests/integration/test_alerts_pg.sh runs it on a throwaway cluster with
 * sql/init.sql and sql/alerts.sql applied, and sets ECOM_ALERTS_SQL (the
 * file, for the re-apply case; skipped without it) and ECOM_ALERTS_CHECK
 * (sql/checks/alerts.sql, for the check's case, which runs first and needs
 * a database holding no other rows, since the check reads every row;
 * skipped without it). Every run uses user and product ids of its own and
 * deletes its rows at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts.h"
#include "pg_query.h"
#include "ts.h"

#define DAY_MS (86400LL * 1000)
#define MAXN 64

static PGconn *conn;      /* the flushing session: temp tables, applies, checks */
static char run[32];      /* prefix of this run's user and product ids */
static int64_t base_ms;   /* 12:00 UTC today: inside a daily partition */
static int64_t offset_seq; /* Kafka offsets of the test rows */

/* ---- helpers ---------------------------------------------------------- */

static void when(int64_t ms, char out[TS_RFC3339_LEN])
{
    ts_format_rfc3339(ms, out);
}

static void q(const char *sql, int n, ...)
{
    va_list ap;

    va_start(ap, n);
    PQclear(pgq_v(conn, sql, n, ap));
    va_end(ap);
}

/* A session like the sink's: the four new_* tables (LIKE the raw tables,
 * ON COMMIT DELETE ROWS), in a time zone that is not UTC. */
static PGconn *session(void)
{
    static const char *const setup[] = {
        "SET TIME ZONE 'America/New_York'",
        "CREATE TEMP TABLE new_user_events (LIKE user_events) ON COMMIT DELETE ROWS",
        "CREATE TEMP TABLE new_transactions (LIKE transactions) ON COMMIT DELETE ROWS",
        "CREATE TEMP TABLE new_transaction_items (LIKE transaction_items) ON COMMIT DELETE ROWS",
        "CREATE TEMP TABLE new_inventory_updates (LIKE inventory_updates) ON COMMIT DELETE ROWS",
    };
    PGconn *c = PQconnectdb("");

    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect: %s", PQerrorMessage(c));
    for (size_t i = 0; i < sizeof(setup) / sizeof(setup[0]); i++) {
        PGresult *r = PQexec(c, setup[i]);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_msg("%s: %s", setup[i], PQerrorMessage(c));
        PQclear(r);
    }
    return c;
}

/* An id of this run: "<run>-<what>". */
static void run_id(char *out, size_t size, const char *what)
{
    snprintf(out, size, "%s-%s", run, what);
}

static void begin(void)
{
    q("BEGIN", 0);
}

/* alerts_apply(), then COMMIT; *res (may be NULL) gets its counts. */
static void apply_commit(const alerts_conf_t *conf, alerts_result_t *res)
{
    alerts_result_t r;

    assert_int_equal(alerts_apply(conn, conf, &r), 0);
    q("COMMIT", 0);
    if (res != NULL)
        *res = r;
}

static void apply_default(alerts_result_t *res)
{
    alerts_conf_t c = alerts_conf_default();
    apply_commit(&c, res);
}

/* A transaction of user at ms, stored raw and as new: total_amount total
 * (text), tax and shipping 0, totals_match match, nq lines of quantity
 * qty[i] at 10.00 each (product P001). */
static void add_txn_full(char id[37], const char *user, int64_t ms, const char *total, int match,
                         int nq, const int *qty)
{
    char t[TS_RFC3339_LEN], off[24], items[16], arr[256] = "{";

    pgq_uuid(id);
    when(ms, t);
    snprintf(off, sizeof(off), "%" PRId64, offset_seq++);
    snprintf(items, sizeof(items), "%d", nq);
    for (int i = 0; i < nq; i++)
        snprintf(arr + strlen(arr), sizeof(arr) - strlen(arr), "%s%d", i ? "," : "", qty[i]);
    strcat(arr, "}");
    q("WITH ins AS (INSERT INTO transactions (transaction_id, user_id, event_time, payment_method,"
      " total_amount, tax_amount, shipping_cost, item_count, totals_match, kafka_partition,"
      " kafka_offset) VALUES ($1, $2, $3, 'credit_card', $4, 0, 0, $5, $6, 0, $7) RETURNING *)"
      " INSERT INTO new_transactions SELECT * FROM ins",
      7, id, user, t, total, items, match ? "t" : "f", off);
    q("WITH ins AS (INSERT INTO transaction_items (transaction_id, line_no, event_time, product_id,"
      " product_name, price, quantity, item_total)"
      " SELECT $1, x.line_no, $2, 'P001', 'iPhone 15 Pro', 10.00, x.qty, x.qty * 10.00"
      " FROM unnest($3::integer[]) WITH ORDINALITY AS x(qty, line_no) RETURNING *)"
      " INSERT INTO new_transaction_items SELECT * FROM ins",
      3, id, t, arr);
}

/* An ordinary transaction: one line of quantity 1, total 10.00, matching. */
static void add_txn(char id[37], const char *user, int64_t ms)
{
    static const int one[] = {1};
    add_txn_full(id, user, ms, "10.00", 1, 1, one);
}

/* An inventory update of (product, wh) at ms with kafka partition part
 * and offset off (-1: the next of the run), stored raw and as new. */
static void add_inv_at(char id[37], const char *product, const char *wh, int stock, int64_t ms,
                       int part, int64_t off)
{
    char t[TS_RFC3339_LEN], s[16], p[16], o[24];

    pgq_uuid(id);
    when(ms, t);
    snprintf(s, sizeof(s), "%d", stock);
    snprintf(p, sizeof(p), "%d", part);
    snprintf(o, sizeof(o), "%" PRId64, off >= 0 ? off : offset_seq++);
    q("WITH ins AS (INSERT INTO inventory_updates (event_id, product_id, product_name, stock_change,"
      " current_stock, warehouse_location, event_time, kafka_partition, kafka_offset)"
      " VALUES ($1, $2, 'test product', 0, $3, $4, $5, $6, $7) RETURNING *)"
      " INSERT INTO new_inventory_updates SELECT * FROM ins",
      7, id, product, s, wh, t, p, o);
}

static void add_inv(const char *product, const char *wh, int stock, int64_t ms)
{
    char id[37];
    add_inv_at(id, product, wh, stock, ms, 0, -1);
}

/* The velocity alerts of user: "id:count,..." by (event_time, id). */
static void velocity_of(char *out, size_t size, const char *user)
{
    pgq_text(conn, out, size,
           "SELECT string_agg(transaction_id || ':' || (details->>'count'), ','"
           " ORDER BY event_time, transaction_id) FROM fraud_alerts"
           " WHERE user_id = $1 AND rule = 'velocity'",
           1, user);
}

static long long alerts_of(const char *user, const char *rule)
{
    return pgq_int(conn, "SELECT count(*) FROM fraud_alerts WHERE user_id = $1 AND rule = $2", 2, user, rule);
}

/* The inventory alerts of (product, wh): "state:stock:previous:threshold,"
 * by alert_id (previous "-" when NULL). */
static void inv_alerts_of(char *out, size_t size, const char *product, const char *wh)
{
    pgq_text(conn, out, size,
           "SELECT string_agg(state || ':' || current_stock || ':' || coalesce(previous_stock::text, '-')"
           " || ':' || threshold, ',' ORDER BY alert_id) FROM inventory_alerts"
           " WHERE product_id = $1 AND warehouse_location = $2",
           2, product, wh);
}

/* The level of (product, wh): "stock:state", "" when none. */
static void level_of(char *out, size_t size, const char *product, const char *wh)
{
    pgq_text(conn, out, size,
           "SELECT current_stock || ':' || stock_state FROM inventory_levels"
           " WHERE product_id = $1 AND warehouse_location = $2",
           2, product, wh);
}

/* A small deterministic generator for shuffles and batch cuts. */
static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void shuffle(int *v, int n, uint32_t *seed)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(lcg(seed) % (uint32_t)(i + 1)), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* ---- configuration ---------------------------------------------------- */

static void test_conf(void **state)
{
    alerts_conf_t c = alerts_conf_default();
    char err[256];

    (void)state;
    assert_int_equal(c.velocity_count, 5);
    assert_int_equal(c.velocity_window_ms, 60000);
    assert_int_equal(c.high_value_cents, 500000);
    assert_int_equal(c.max_quantity, 10);
    assert_int_equal(c.low_stock, 20);
    assert_int_equal(alerts_conf_check(&c, err, sizeof(err)), 0);

    c.velocity_count = 0;
    assert_int_equal(alerts_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--fraud-velocity-count"));
    c = alerts_conf_default();
    c.velocity_window_ms = 0;
    assert_int_equal(alerts_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--fraud-velocity-window"));
    c = alerts_conf_default();
    c.velocity_window_ms = DAY_MS + 1;
    assert_int_equal(alerts_conf_check(&c, err, sizeof(err)), -1);
    c = alerts_conf_default();
    c.high_value_cents = -1;
    assert_int_equal(alerts_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--fraud-high-value"));
    c = alerts_conf_default();
    c.max_quantity = -1;
    assert_int_equal(alerts_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--fraud-max-quantity"));
    c = alerts_conf_default();
    c.low_stock = -1;
    assert_int_equal(alerts_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--low-stock-threshold"));

    assert_string_equal(alerts_rule_name(ALERTS_VELOCITY), "velocity");
    assert_string_equal(alerts_rule_name(ALERTS_QUANTITY_SPIKE), "quantity_spike");
    assert_null(alerts_rule_name(ALERTS_RULES));
    assert_string_equal(alerts_state_name(ALERTS_RESTORED), "restored");
    assert_null(alerts_state_name(ALERTS_STATES));
}

/* ---- velocity --------------------------------------------------------- */

/* Five transactions in 40 s: not flagged; another user's three in the
 * same span do not count. A sixth 10 s later: only it is flagged. */
static void test_velocity_five_then_six(void **state)
{
    char a[MAXN][37], b[3][37], user[64], other[64], got[512], want[512];
    char first[TS_RFC3339_LEN];
    alerts_result_t r;

    (void)state;
    run_id(user, sizeof(user), "vel6");
    run_id(other, sizeof(other), "vel6-other");
    begin();
    for (int i = 0; i < 5; i++)
        add_txn(a[i], user, base_ms + i * 10000);
    for (int i = 0; i < 3; i++)
        add_txn(b[i], other, base_ms + 5000 + i * 1000);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 0);
    assert_int_equal(alerts_of(user, "velocity") + alerts_of(other, "velocity"), 0);

    begin();
    add_txn(a[5], user, base_ms + 50000);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 1);
    assert_int_equal(r.velocity_updated, 0);
    velocity_of(got, sizeof(got), user);
    snprintf(want, sizeof(want), "%s:6", a[5]);
    assert_string_equal(got, want);

    when(base_ms, first);
    pgq_text(conn, got, sizeof(got),
           "SELECT severity || ' ' || (details->>'count') || ' ' || (details->>'max_count') || ' '"
           " || (details->>'window_seconds') || ' ' || (details->>'first_event_time') || ' '"
           " || (details->>'span_seconds') FROM fraud_alerts WHERE transaction_id = $1 AND rule = 'velocity'",
           1, a[5]);
    snprintf(want, sizeof(want), "high 6 5 60 %s 50", first);
    assert_string_equal(got, want);
    /* the event time is the transaction's */
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM fraud_alerts f JOIN transactions t"
                           " USING (transaction_id, event_time) WHERE f.transaction_id = $1",
                           1, a[5]),
                     1);
}

/* The span includes both ends: six transactions from t to exactly t + 60 s
 * flag the last; from t to t + 60.001 s the first is out. */
static void test_velocity_boundary(void **state)
{
    char a[6][37], b[6][37], u1[64], u2[64], got[512], want[512];
    alerts_result_t r;

    (void)state;
    run_id(u1, sizeof(u1), "vel60");
    run_id(u2, sizeof(u2), "vel60001");
    begin();
    for (int i = 0; i < 5; i++) {
        add_txn(a[i], u1, base_ms + i * 12000);
        add_txn(b[i], u2, base_ms + i * 12000);
    }
    add_txn(a[5], u1, base_ms + 60000);
    add_txn(b[5], u2, base_ms + 60001);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 1);
    velocity_of(got, sizeof(got), u1);
    snprintf(want, sizeof(want), "%s:6", a[5]);
    assert_string_equal(got, want);
    velocity_of(got, sizeof(got), u2);
    assert_string_equal(got, "");
    pgq_text(conn, got, sizeof(got),
           "SELECT details->>'span_seconds' FROM fraud_alerts WHERE transaction_id = $1", 1, a[5]);
    assert_string_equal(got, "60");
}

/* Eight in a span: the 6th, 7th and 8th are flagged with counts 6, 7, 8;
 * a ninth 61 s after the 3rd but within 60 s of the 4th..8th: count 6. */
static void test_velocity_every_after_fifth(void **state)
{
    char a[9][37], user[64], got[1024], want[1024];
    alerts_result_t r;

    (void)state;
    run_id(user, sizeof(user), "vel8");
    begin();
    for (int i = 0; i < 8; i++)
        add_txn(a[i], user, base_ms + i * 1000);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 3);
    velocity_of(got, sizeof(got), user);
    snprintf(want, sizeof(want), "%s:6,%s:7,%s:8", a[5], a[6], a[7]);
    assert_string_equal(got, want);

    begin();
    add_txn(a[8], user, base_ms + 2000 + 60001); /* [2.001 s, 62.001 s]: 4th..8th and it */
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 1);
    velocity_of(got, sizeof(got), user);
    snprintf(want, sizeof(want), "%s:6,%s:7,%s:8,%s:6", a[5], a[6], a[7], a[8]);
    assert_string_equal(got, want);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp((const char *)x, (const char *)y);
}

/* Seven at the same millisecond: ordered by transaction_id, the 6th and
 * 7th are flagged (counts 6 and 7), the others not. */
static void test_velocity_ties(void **state)
{
    char a[7][37], user[64], got[1024], want[1024];
    alerts_result_t r;

    (void)state;
    run_id(user, sizeof(user), "veltie");
    begin();
    for (int i = 0; i < 7; i++)
        add_txn(a[i], user, base_ms + 7000);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 2);
    qsort(a, 7, sizeof(a[0]), cmp_str);
    velocity_of(got, sizeof(got), user);
    snprintf(want, sizeof(want), "%s:6,%s:7", a[5], a[6]);
    assert_string_equal(got, want);
}

/* Five stored at +10..+50 s (no alert); a late one at +0 pushes the one
 * at +50 over (count 6), not itself (count 1). Another at +5: +40 is
 * flagged (6) and +50's count grows to 7 (an update, not a new alert). */
static void test_velocity_late_earlier(void **state)
{
    char a[5][37], late1[37], late2[37], user[64], got[1024], want[1024];
    alerts_result_t r;

    (void)state;
    run_id(user, sizeof(user), "vellate");
    begin();
    add_txn(a[0], user, base_ms + 10000);
    add_txn(a[1], user, base_ms + 20000);
    add_txn(a[2], user, base_ms + 30000);
    add_txn(a[3], user, base_ms + 40000);
    add_txn(a[4], user, base_ms + 50000);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 0);

    begin();
    add_txn(late1, user, base_ms);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 1);
    assert_int_equal(r.velocity_updated, 0);
    velocity_of(got, sizeof(got), user);
    snprintf(want, sizeof(want), "%s:6", a[4]);
    assert_string_equal(got, want);

    begin();
    add_txn(late2, user, base_ms + 5000);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 1);
    assert_int_equal(r.velocity_updated, 1);
    velocity_of(got, sizeof(got), user);
    snprintf(want, sizeof(want), "%s:6,%s:7", a[3], a[4]);
    assert_string_equal(got, want);
    pgq_text(conn, got, sizeof(got),
           "SELECT (details->>'span_seconds') || ' ' || (updated_at >= detected_at)::text"
           " FROM fraud_alerts WHERE transaction_id = $1 AND rule = 'velocity'",
           1, a[4]);
    assert_string_equal(got, "50 true");
}

/* The oracle: transaction i is flagged when the transactions j with
 * ms[i] - window <= ms[j] <= ms[i] and (ms[j], id[j]) <= (ms[i], id[i])
 * number more than limit. Writes "id:count,..." by (ms, id). */
static void velocity_oracle(char *out, size_t size, int n, const int64_t *ms, char ids[][37],
                            int limit, int64_t window)
{
    int order[MAXN];

    assert_true(n <= MAXN);
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort by (ms, id) */
        for (int j = i; j > 0; j--) {
            int x = order[j - 1], y = order[j];
            if (ms[x] < ms[y] || (ms[x] == ms[y] && strcmp(ids[x], ids[y]) <= 0))
                break;
            order[j - 1] = y;
            order[j] = x;
        }
    out[0] = '\0';
    for (int k = 0; k < n; k++) {
        int i = order[k], count = 0;
        for (int j = 0; j < n; j++)
            if (ms[j] >= ms[i] - window && ms[j] <= ms[i] &&
                (ms[j] < ms[i] || strcmp(ids[j], ids[i]) <= 0))
                count++;
        if (count > limit)
            snprintf(out + strlen(out), size - strlen(out), "%s%s:%d", out[0] ? "," : "", ids[i],
                     count);
    }
}

/* One user's transactions at the same times, presented in three ways:
 * in event-time order in batches of 3; in reverse order one per batch;
 * shuffled, in batches of random sizes (some holding transactions minutes
 * apart). Each ends with the oracle's alerts and counts; with the default
 * thresholds and with 2 in 10 s. */
static void test_velocity_order_independent(void **state)
{
    static const int64_t secs_x1000[] = {0,     3000,   7000,   12000,  20000,  33000,  41000,
                                         52000, 59000,  60000,  60000,  61000,  95000,  100000,
                                         101000, 102000, 103000, 104000, 105000, 170000, 230500,
                                         230500, 230500, 231000, 232000, 290500, 600000, 600000,
                                         601000, 605000, 609999, 610000, 640000};
    enum { N = sizeof(secs_x1000) / sizeof(secs_x1000[0]) };
    static const struct {
        int count;
        int64_t window_ms;
    } confs[] = {{5, 60000}, {2, 10000}};
    int64_t ms[N];
    char ids[N][37], user[64], got[4096], want[4096];
    int order[N];
    uint32_t seed = 12345;

    (void)state;
    for (int i = 0; i < N; i++)
        ms[i] = base_ms + secs_x1000[i];
    for (size_t ci = 0; ci < sizeof(confs) / sizeof(confs[0]); ci++) {
        alerts_conf_t c = alerts_conf_default();

        c.velocity_count = confs[ci].count;
        c.velocity_window_ms = confs[ci].window_ms;
        for (int way = 0; way < 3; way++) {
            char name[32];
            int at = 0;

            snprintf(name, sizeof(name), "velord%zu-%d", ci, way);
            run_id(user, sizeof(user), name);
            for (int i = 0; i < N; i++)
                order[i] = way == 1 ? N - 1 - i : i;
            if (way == 2)
                shuffle(order, N, &seed);
            while (at < N) {
                int size = way == 0 ? 3 : way == 1 ? 1 : 1 + (int)(lcg(&seed) % 8);
                begin();
                for (int k = 0; k < size && at < N; k++, at++)
                    add_txn(ids[order[at]], user, ms[order[at]]);
                apply_commit(&c, NULL);
            }
            velocity_oracle(want, sizeof(want), N, ms, ids, c.velocity_count, c.velocity_window_ms);
            velocity_of(got, sizeof(got), user);
            assert_true(strlen(want) > 0);
            assert_string_equal(got, want);
        }
    }
}

/* One batch holding two bursts of a user ten minutes apart, around a
 * stored burst of five: each burst is judged on its own span. */
static void test_velocity_bursts_apart(void **state)
{
    char a[6][37], b[6][37], mid[5][37], early[37], user[64], got[1024], want[1024];

    (void)state;
    run_id(user, sizeof(user), "velapart");
    begin();
    for (int i = 0; i < 5; i++)
        add_txn(mid[i], user, base_ms + 300000 + i * 1000);
    apply_default(NULL);
    begin();
    for (int i = 0; i < 6; i++) {
        add_txn(a[i], user, base_ms + i * 1000);
        add_txn(b[i], user, base_ms + 600000 + i * 1000);
    }
    add_txn(early, user, base_ms + 299000); /* the stored burst's 6th, before it */
    apply_default(NULL);
    velocity_of(got, sizeof(got), user);
    snprintf(want, sizeof(want), "%s:6,%s:6,%s:6", a[5], mid[4], b[5]);
    assert_string_equal(got, want);
}

/* ---- the other rules -------------------------------------------------- */

static void test_high_value(void **state)
{
    static const int one[] = {1};
    char at[37], above[37], user[64], got[256];
    alerts_result_t r;

    (void)state;
    run_id(user, sizeof(user), "high");
    begin();
    add_txn_full(at, user, base_ms, "5000.00", 1, 1, one);
    add_txn_full(above, user, base_ms + 1000, "5000.01", 1, 1, one);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_HIGH_VALUE], 1);
    assert_int_equal(r.fraud[ALERTS_VELOCITY] + r.fraud[ALERTS_AMOUNT_MISMATCH] +
                         r.fraud[ALERTS_QUANTITY_SPIKE],
                     0);
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM fraud_alerts WHERE transaction_id = $1", 1, at), 0);
    pgq_text(conn, got, sizeof(got),
           "SELECT severity || ' ' || (details->>'total_amount') || ' ' || (details->>'threshold')"
           " FROM fraud_alerts WHERE transaction_id = $1 AND rule = 'high_value'",
           1, above);
    assert_string_equal(got, "medium 5000.01 5000.00");
}

/* totals_match false: stored and flagged with the sums; true: nothing. */
static void test_amount_mismatch(void **state)
{
    static const int two[] = {1, 2};
    char bad[37], good[37], user[64], got[512];
    alerts_result_t r;

    (void)state;
    run_id(user, sizeof(user), "mismatch");
    begin();
    add_txn_full(bad, user, base_ms, "35.00", 0, 2, two);  /* lines 10 + 20 */
    add_txn_full(good, user, base_ms + 1000, "30.00", 1, 2, two);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_AMOUNT_MISMATCH], 1);
    assert_int_equal(alerts_of(user, "amount_mismatch"), 1);
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM transactions WHERE transaction_id = $1", 1, bad), 1);
    pgq_text(conn, got, sizeof(got),
           "SELECT severity || ' ' || (details->>'total_amount') || ' ' || (details->>'items_total')"
           " || ' ' || (details->>'tax_amount') || ' ' || (details->>'shipping_cost') || ' '"
           " || (details->>'expected_total') || ' ' || (details->>'difference')"
           " FROM fraud_alerts WHERE transaction_id = $1 AND rule = 'amount_mismatch'",
           1, bad);
    assert_string_equal(got, "high 35.00 30.00 0.00 0.00 30.00 5.00");
}

/* Quantity 10 is not a spike; 11 is; two spiking lines: one alert. */
static void test_quantity_spike(void **state)
{
    static const int ten[] = {10, 1};
    static const int spikes[] = {11, 3, 12};
    char t10[37], t11[37], user[64], got[512];
    alerts_result_t r;

    (void)state;
    run_id(user, sizeof(user), "qty");
    begin();
    add_txn_full(t10, user, base_ms, "110.00", 1, 2, ten);
    add_txn_full(t11, user, base_ms + 1000, "260.00", 1, 3, spikes);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_QUANTITY_SPIKE], 1);
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM fraud_alerts WHERE transaction_id = $1", 1, t10), 0);
    pgq_text(conn, got, sizeof(got),
           "SELECT severity || ' ' || (details->>'threshold') || ' ' || (details->>'max_quantity')"
           " || ' ' || (details->'lines')::text"
           " FROM fraud_alerts WHERE transaction_id = $1 AND rule = 'quantity_spike'",
           1, t11);
    assert_string_equal(got, "low 10 12 [{\"line_no\": 1, \"quantity\": 11, \"product_id\": \"P001\"},"
                             " {\"line_no\": 3, \"quantity\": 12, \"product_id\": \"P001\"}]");
}

/* One transaction firing three rules gets three alerts. */
static void test_rules_together(void **state)
{
    static const int big[] = {20};
    char id[37], user[64], got[256];
    alerts_result_t r;

    (void)state;
    run_id(user, sizeof(user), "together");
    begin();
    add_txn_full(id, user, base_ms, "9999.99", 0, 1, big);
    apply_default(&r);
    assert_int_equal(r.fraud[ALERTS_HIGH_VALUE], 1);
    assert_int_equal(r.fraud[ALERTS_AMOUNT_MISMATCH], 1);
    assert_int_equal(r.fraud[ALERTS_QUANTITY_SPIKE], 1);
    pgq_text(conn, got, sizeof(got),
           "SELECT string_agg(rule, ',' ORDER BY rule) FROM fraud_alerts WHERE transaction_id = $1",
           1, id);
    assert_string_equal(got, "amount_mismatch,high_value,quantity_spike");
}

/* Thresholds come from the configuration. */
static void test_configured_thresholds(void **state)
{
    static const int two[] = {2};
    alerts_conf_t c = alerts_conf_default();
    char a[4][37], user[64], got[1024], want[1024];
    alerts_result_t r;

    (void)state;
    c.velocity_count = 2;
    c.velocity_window_ms = 10000;
    c.high_value_cents = 1000; /* 10.00 */
    c.max_quantity = 1;
    run_id(user, sizeof(user), "conf");
    begin();
    add_txn_full(a[0], user, base_ms, "10.00", 1, 1, two);
    add_txn_full(a[1], user, base_ms + 4000, "10.01", 1, 1, two);
    add_txn_full(a[2], user, base_ms + 10000, "20.00", 1, 1, two); /* 3 in 10 s */
    add_txn_full(a[3], user, base_ms + 14001, "20.00", 1, 1, two); /* 2 in 10 s */
    apply_commit(&c, &r);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 1);
    assert_int_equal(r.fraud[ALERTS_HIGH_VALUE], 3);
    assert_int_equal(r.fraud[ALERTS_QUANTITY_SPIKE], 4);
    velocity_of(got, sizeof(got), user);
    snprintf(want, sizeof(want), "%s:3", a[2]);
    assert_string_equal(got, want);
    pgq_text(conn, got, sizeof(got),
           "SELECT (details->>'max_count') || ' ' || (details->>'window_seconds') FROM fraud_alerts"
           " WHERE transaction_id = $1 AND rule = 'velocity'",
           1, a[2]);
    assert_string_equal(got, "2 10");
    pgq_text(conn, got, sizeof(got),
           "SELECT details->>'threshold' FROM fraud_alerts WHERE transaction_id = $1 AND rule = 'high_value'",
           1, a[1]);
    assert_string_equal(got, "10.00");
}

/* The same rows presented as new a second time (in the same transaction,
 * then in another one): the unique keys make every insert a no-op, the
 * levels stay, no inventory alert fires again. */
static void test_second_insert_noop(void **state)
{
    static const int spike[] = {50};
    char ids[7][37], user[64], product[64], inv[37], got[512];
    alerts_conf_t conf = alerts_conf_default();
    alerts_result_t r;
    long long before;

    (void)state;
    run_id(user, sizeof(user), "replay");
    run_id(product, sizeof(product), "Preplay");
    begin();
    for (int i = 0; i < 6; i++)
        add_txn(ids[i], user, base_ms + i * 1000);
    add_txn_full(ids[6], user, base_ms + 6000, "6000.00", 0, 1, spike);
    add_inv_at(inv, product, "NYC", 5, base_ms, 0, -1);
    assert_int_equal(alerts_apply(conn, &conf, &r), 0);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 2);
    assert_int_equal(r.fraud[ALERTS_HIGH_VALUE] + r.fraud[ALERTS_AMOUNT_MISMATCH] +
                         r.fraud[ALERTS_QUANTITY_SPIKE],
                     3);
    assert_int_equal(r.inventory[ALERTS_LOW], 1);
    assert_int_equal(r.levels_upserted, 1);
    /* again, same transaction, same new rows */
    apply_default(&r);
    for (int i = 0; i < ALERTS_RULES; i++)
        assert_int_equal(r.fraud[i], 0);
    assert_int_equal(r.velocity_updated, 0);
    assert_int_equal(r.inventory[ALERTS_LOW] + r.inventory[ALERTS_RESTORED], 0);
    assert_int_equal(r.levels_upserted, 0);
    assert_int_equal(r.stale_updates, 1);
    before = pgq_int(conn, "SELECT count(*) FROM fraud_alerts WHERE user_id = $1", 1, user);
    assert_int_equal(before, 5);

    /* a later transaction presenting the stored rows as new again */
    begin();
    q("INSERT INTO new_transactions SELECT * FROM transactions WHERE user_id = $1", 1, user);
    q("INSERT INTO new_transaction_items SELECT i.* FROM transaction_items i"
      " JOIN transactions t USING (transaction_id, event_time) WHERE t.user_id = $1",
      1, user);
    q("INSERT INTO new_inventory_updates SELECT * FROM inventory_updates WHERE product_id = $1", 1,
      product);
    apply_default(&r);
    for (int i = 0; i < ALERTS_RULES; i++)
        assert_int_equal(r.fraud[i], 0);
    assert_int_equal(r.inventory[ALERTS_LOW] + r.inventory[ALERTS_RESTORED], 0);
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM fraud_alerts WHERE user_id = $1", 1, user), before);
    inv_alerts_of(got, sizeof(got), product, "NYC");
    assert_string_equal(got, "low:5:-:20");

    /* a plain second insert of an alert violates the unique key */
    {
        const char *params[1] = {user};
        PGresult *res = PQexecParams(conn,
                                     "INSERT INTO fraud_alerts (transaction_id, user_id, rule, severity,"
                                     " details, event_time) SELECT transaction_id, user_id, rule,"
                                     " severity, details, event_time FROM fraud_alerts WHERE user_id = $1",
                                     1, NULL, params, NULL, NULL, 0);
        const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

        assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
        assert_non_null(sqlstate);
        assert_string_equal(sqlstate, "23505");
        PQclear(res);
    }
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM fraud_alerts WHERE user_id = $1", 1, user), before);
}

/* ---- inventory -------------------------------------------------------- */

/* Batches one update each: 30 (nothing), 15 (low), 10 (still low:
 * nothing), 25 (restored), 20 (at the threshold: not low), 19 (low). */
static void test_inventory_crossings(void **state)
{
    static const int stock[] = {30, 15, 10, 25, 20, 19};
    static const int alerts_after[] = {0, 1, 0, 1, 0, 1};
    char product[64], got[512];
    alerts_result_t r;

    (void)state;
    run_id(product, sizeof(product), "Pcross");
    for (int i = 0; i < 6; i++) {
        begin();
        add_inv(product, "NYC", stock[i], base_ms + i * 1000);
        apply_default(&r);
        assert_int_equal(r.inventory[ALERTS_LOW] + r.inventory[ALERTS_RESTORED], alerts_after[i]);
        assert_int_equal(r.levels_upserted, 1);
        assert_int_equal(r.stale_updates, 0);
    }
    inv_alerts_of(got, sizeof(got), product, "NYC");
    assert_string_equal(got, "low:15:30:20,restored:25:10:20,low:19:20:20");
    level_of(got, sizeof(got), product, "NYC");
    assert_string_equal(got, "19:low");
    /* another warehouse of the same product is a key of its own */
    level_of(got, sizeof(got), product, "LAX");
    assert_string_equal(got, "");
}

/* One batch: 30, 10, 40, 5, 5, 50 and another key's 8: each crossing its
 * alert, in event-time order; the last update is the level. */
static void test_inventory_crossings_in_one_batch(void **state)
{
    static const int stock[] = {30, 10, 40, 5, 5, 50};
    char product[64], got[512];
    alerts_result_t r;

    (void)state;
    run_id(product, sizeof(product), "Pbatch");
    begin();
    for (int i = 0; i < 6; i++) {
        add_inv(product, "CHI", stock[i], base_ms + i * 1000);
        if (i == 2)
            add_inv(product, "MIA", 8, base_ms + 1500);
    }
    apply_default(&r);
    assert_int_equal(r.inventory[ALERTS_LOW], 3);
    assert_int_equal(r.inventory[ALERTS_RESTORED], 2);
    assert_int_equal(r.levels_upserted, 2);
    assert_int_equal(r.stale_updates, 0);
    inv_alerts_of(got, sizeof(got), product, "CHI");
    assert_string_equal(got, "low:10:30:20,restored:40:10:20,low:5:40:20,restored:50:5:20");
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM (SELECT event_time, lag(event_time) OVER (ORDER BY alert_id) AS prev"
                           " FROM inventory_alerts WHERE product_id = $1 AND warehouse_location = 'CHI') a"
                           " WHERE prev >= event_time",
                           1, product),
                     0);
    level_of(got, sizeof(got), product, "CHI");
    assert_string_equal(got, "50:ok");
    inv_alerts_of(got, sizeof(got), product, "MIA");
    assert_string_equal(got, "low:8:-:20");
}

/* A key never seen starts not low: its first update above fires nothing,
 * its first update below fires 'low'. */
static void test_inventory_first_update(void **state)
{
    char p1[64], p2[64], got[256];

    (void)state;
    run_id(p1, sizeof(p1), "Pfirst-ok");
    run_id(p2, sizeof(p2), "Pfirst-low");
    begin();
    add_inv(p1, "NYC", 20, base_ms);
    add_inv(p2, "NYC", 0, base_ms);
    apply_default(NULL);
    inv_alerts_of(got, sizeof(got), p1, "NYC");
    assert_string_equal(got, "");
    inv_alerts_of(got, sizeof(got), p2, "NYC");
    assert_string_equal(got, "low:0:-:20");
    level_of(got, sizeof(got), p2, "NYC");
    assert_string_equal(got, "0:low");
}

/* Stale updates change nothing and fire nothing: older than the stored
 * level (a later batch), older than an earlier arrival of the same batch,
 * the same event time with a smaller offset. The same event time with a
 * larger offset wins. */
static void test_inventory_stale(void **state)
{
    char product[64], id[37], got[256];
    alerts_result_t r;

    (void)state;
    run_id(product, sizeof(product), "Pstale");
    begin();
    add_inv_at(id, product, "NYC", 50, base_ms + 100000, 3, 1000);
    apply_default(&r);
    assert_int_equal(r.levels_upserted, 1);

    begin(); /* older than the stored level */
    add_inv_at(id, product, "NYC", 5, base_ms + 50000, 3, 1001);
    apply_default(&r);
    assert_int_equal(r.levels_upserted, 0);
    assert_int_equal(r.stale_updates, 1);
    assert_int_equal(r.inventory[ALERTS_LOW], 0);
    level_of(got, sizeof(got), product, "NYC");
    assert_string_equal(got, "50:ok");

    begin(); /* same event time, smaller offset: stale */
    add_inv_at(id, product, "NYC", 6, base_ms + 100000, 3, 999);
    apply_default(&r);
    assert_int_equal(r.stale_updates, 1);
    level_of(got, sizeof(got), product, "NYC");
    assert_string_equal(got, "50:ok");

    begin(); /* arrivals 200 s (7), then 150 s (60): the second is stale */
    add_inv_at(id, product, "NYC", 7, base_ms + 200000, 3, 1002);
    add_inv_at(id, product, "NYC", 60, base_ms + 150000, 3, 1003);
    apply_default(&r);
    assert_int_equal(r.stale_updates, 1);
    assert_int_equal(r.inventory[ALERTS_LOW], 1);
    assert_int_equal(r.inventory[ALERTS_RESTORED], 0);
    level_of(got, sizeof(got), product, "NYC");
    assert_string_equal(got, "7:low");

    begin(); /* same event time, larger offset: the new level */
    add_inv_at(id, product, "NYC", 70, base_ms + 200000, 3, 1004);
    apply_default(&r);
    assert_int_equal(r.stale_updates, 0);
    assert_int_equal(r.inventory[ALERTS_RESTORED], 1);
    level_of(got, sizeof(got), product, "NYC");
    assert_string_equal(got, "70:ok");
    assert_int_equal(pgq_int(conn, "SELECT kafka_offset FROM inventory_levels WHERE product_id = $1", 1, product),
                     1004);
    inv_alerts_of(got, sizeof(got), product, "NYC");
    assert_string_equal(got, "low:7:50:20,restored:70:7:20");
}

/* Several updates of a key in a batch: the latest by event time is the
 * level, even when it arrived first. */
static void test_inventory_latest_wins(void **state)
{
    char product[64], id[37], latest[37], got[256];
    alerts_result_t r;

    (void)state;
    run_id(product, sizeof(product), "Platest");
    begin();
    add_inv_at(latest, product, "LAX", 44, base_ms + 30000, 1, -1);
    add_inv_at(id, product, "LAX", 33, base_ms + 10000, 1, -1);
    add_inv_at(id, product, "LAX", 3, base_ms + 20000, 1, -1);
    apply_default(&r);
    assert_int_equal(r.levels_upserted, 1);
    assert_int_equal(r.stale_updates, 2);
    assert_int_equal(r.inventory[ALERTS_LOW], 0);
    level_of(got, sizeof(got), product, "LAX");
    assert_string_equal(got, "44:ok");
    pgq_text(conn, got, sizeof(got), "SELECT event_id FROM inventory_levels WHERE product_id = $1", 1, product);
    assert_string_equal(got, latest);
}

/* A product of inventory_thresholds uses its own threshold; others the
 * default (or the configured one). */
static void test_inventory_product_threshold(void **state)
{
    alerts_conf_t c = alerts_conf_default();
    char p1[64], p2[64], got[256];

    (void)state;
    run_id(p1, sizeof(p1), "Pthr-own");
    run_id(p2, sizeof(p2), "Pthr-default");
    q("INSERT INTO inventory_thresholds (product_id, threshold) VALUES ($1, 100)", 1, p1);
    begin();
    add_inv(p1, "NYC", 150, base_ms);
    add_inv(p1, "NYC", 99, base_ms + 1000);
    add_inv(p1, "NYC", 100, base_ms + 2000);
    add_inv(p2, "NYC", 99, base_ms + 1000);
    apply_default(NULL);
    inv_alerts_of(got, sizeof(got), p1, "NYC");
    assert_string_equal(got, "low:99:150:100,restored:100:99:100");
    inv_alerts_of(got, sizeof(got), p2, "NYC");
    assert_string_equal(got, "");

    c.low_stock = 120; /* --low-stock-threshold: the default only */
    begin();
    add_inv(p1, "NYC", 110, base_ms + 3000);
    add_inv(p2, "NYC", 110, base_ms + 3000);
    apply_commit(&c, NULL);
    inv_alerts_of(got, sizeof(got), p1, "NYC");
    assert_string_equal(got, "low:99:150:100,restored:100:99:100");
    inv_alerts_of(got, sizeof(got), p2, "NYC");
    assert_string_equal(got, "low:110:99:120");
}

/* The state lives in PostgreSQL: a new session (a restart) continues it. */
static void test_inventory_state_new_connection(void **state)
{
    char product[64], got[256];

    (void)state;
    run_id(product, sizeof(product), "Prestart");
    begin();
    add_inv(product, "MIA", 9, base_ms);
    apply_default(NULL);

    PQfinish(conn);
    conn = session();
    begin();
    add_inv(product, "MIA", 8, base_ms + 1000); /* still low: nothing */
    apply_default(NULL);
    inv_alerts_of(got, sizeof(got), product, "MIA");
    assert_string_equal(got, "low:9:-:20");

    PQfinish(conn);
    conn = session();
    begin();
    add_inv(product, "MIA", 30, base_ms + 2000);
    apply_default(NULL);
    inv_alerts_of(got, sizeof(got), product, "MIA");
    assert_string_equal(got, "low:9:-:20,restored:30:8:20");
}

typedef struct {
    int64_t ms, off;
    int stock;
} inv_ev_t;

/* The oracle: folds the updates in arrival order; one becomes the level
 * when (ms, off) is above the level's; a change of low (< threshold)
 * between levels is an alert. Writes "state:stock:previous:threshold,...". */
static void inventory_oracle(char *out, size_t size, char *level, size_t lsize, const inv_ev_t *ev,
                             int n, int threshold)
{
    int have = 0, low = 0, stock = 0;
    int64_t ms = 0, off = 0;

    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        int now_low;
        if (have && (ev[i].ms < ms || (ev[i].ms == ms && ev[i].off <= off)))
            continue;
        now_low = ev[i].stock < threshold;
        if (now_low != low) {
            char prev[16] = "-";
            if (have)
                snprintf(prev, sizeof(prev), "%d", stock);
            snprintf(out + strlen(out), size - strlen(out), "%s%s:%d:%s:%d", out[0] ? "," : "",
                     now_low ? "low" : "restored", ev[i].stock, prev, threshold);
        }
        have = 1;
        low = now_low;
        stock = ev[i].stock;
        ms = ev[i].ms;
        off = ev[i].off;
    }
    snprintf(level, lsize, "%d:%s", stock, low ? "low" : "ok");
}

/* Updates out of event-time order in one partition's offset order, fed
 * as one batch, one per batch, and in batches of random sizes: the same
 * alerts and level each time, the oracle's. Two keys interleaved. */
static void test_inventory_replay_equals_live(void **state)
{
    enum { N = 24 };
    inv_ev_t ev[2][N];
    char product[64], want[1024], wlevel[64], got[1024], glevel[64];
    uint32_t seed = 777;
    int64_t base_off = 500000;

    (void)state;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < N; i++) {
            /* mostly forward in time, some back: a few arrive late */
            ev[k][i].ms = base_ms + i * 1000 - (lcg(&seed) % 4 == 0 ? 3500 : 0);
            ev[k][i].stock = (int)(lcg(&seed) % 40);
            ev[k][i].off = 0;
        }
    for (int way = 0; way < 3; way++) {
        char name[32];
        int at = 0;

        snprintf(name, sizeof(name), "Preplay%d", way);
        run_id(product, sizeof(product), name);
        while (at < N) {
            int size = way == 0 ? N : way == 1 ? 1 : 1 + (int)(lcg(&seed) % 6);
            begin();
            for (int i = 0; i < size && at < N; i++, at++)
                for (int k = 0; k < 2; k++) {
                    char id[37];
                    ev[k][at].off = base_off + at * 2 + k;
                    add_inv_at(id, product, k ? "LAX" : "NYC", ev[k][at].stock, ev[k][at].ms, 5,
                               ev[k][at].off);
                }
            apply_default(NULL);
        }
        for (int k = 0; k < 2; k++) {
            inventory_oracle(want, sizeof(want), wlevel, sizeof(wlevel), ev[k], N, 20);
            inv_alerts_of(got, sizeof(got), product, k ? "LAX" : "NYC");
            level_of(glevel, sizeof(glevel), product, k ? "LAX" : "NYC");
            assert_true(strlen(want) > 0);
            assert_string_equal(got, want);
            assert_string_equal(glevel, wlevel);
        }
        base_off += 1000;
    }
}

/* ---- schema and failures ---------------------------------------------- */

/* sql/alerts.sql applies again while a flush transaction holds its locks
 * (on the raw tables and on all of its own): no lock wait. */
static void test_reapply_while_open(void **state)
{
    const char *file = getenv("ECOM_ALERTS_SQL");
    alerts_conf_t conf = alerts_conf_default();
    alerts_result_t r;
    char cmd[1024], user[64], id[37];
    int rc;

    (void)state;
    if (file == NULL || *file == '\0')
        skip();
    run_id(user, sizeof(user), "reapply");
    begin();
    add_txn(id, user, base_ms);
    add_inv(user, "NYC", 1, base_ms);
    q("INSERT INTO inventory_thresholds VALUES ($1, 5)", 1, user);
    assert_int_equal(alerts_apply(conn, &conf, &r), 0);
    snprintf(cmd, sizeof(cmd),
             "PGOPTIONS='-c lock_timeout=5000' psql -X -q -v ON_ERROR_STOP=1 -f '%s' >/dev/null 2>&1",
             file);
    rc = system(cmd);
    q("ROLLBACK", 0);
    assert_int_equal(rc, 0);
}

/* Without the new_* tables (a session the sink did not prepare) the apply
 * fails, returns -1 with zeroed counts, and the caller rolls back. */
static void test_apply_fails_cleanly(void **state)
{
    alerts_conf_t c = alerts_conf_default();
    alerts_result_t r;
    PGconn *bare = PQconnectdb("");
    PGresult *res;

    (void)state;
    assert_int_equal(PQstatus(bare), CONNECTION_OK);
    PQclear(PQexec(bare, "BEGIN"));
    memset(&r, 0x55, sizeof(r));
    assert_int_equal(alerts_apply(bare, &c, &r), -1);
    assert_int_equal(r.fraud[ALERTS_VELOCITY], 0);
    assert_int_equal(r.levels_upserted, 0);
    assert_int_equal(PQtransactionStatus(bare), PQTRANS_INERROR);
    assert_non_null(strstr(PQerrorMessage(bare), "new_transactions"));
    res = PQexec(bare, "ROLLBACK");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(bare);
}

/* result_add sums field by field. */
static void test_result_add(void **state)
{
    alerts_result_t t = {{1, 2, 3, 4}, 5, {6, 7}, 8, 9, 10};
    alerts_result_t r = {{1, 1, 1, 1}, 1, {1, 1}, 1, 1, 1};

    (void)state;
    alerts_result_add(&t, &r);
    assert_int_equal(t.fraud[0], 2);
    assert_int_equal(t.fraud[3], 5);
    assert_int_equal(t.velocity_updated, 6);
    assert_int_equal(t.inventory[ALERTS_RESTORED], 8);
    assert_int_equal(t.levels_upserted, 9);
    assert_int_equal(t.stale_updates, 10);
    assert_int_equal(t.us, 11);
}

/* ---- the consistency check -------------------------------------------- */

/* Deletes this run's rows (ids "<run>-..."). */
static void delete_run_rows(void)
{
    char like[64];

    snprintf(like, sizeof(like), "%s-%%", run);
    q("DELETE FROM transaction_items WHERE transaction_id IN"
      " (SELECT transaction_id FROM transactions WHERE user_id LIKE $1)",
      1, like);
    q("DELETE FROM transactions WHERE user_id LIKE $1", 1, like);
    q("DELETE FROM fraud_alerts WHERE user_id LIKE $1", 1, like);
    q("DELETE FROM inventory_updates WHERE product_id LIKE $1", 1, like);
    q("DELETE FROM inventory_levels WHERE product_id LIKE $1", 1, like);
    q("DELETE FROM inventory_alerts WHERE product_id LIKE $1", 1, like);
    q("DELETE FROM inventory_thresholds WHERE product_id LIKE $1", 1, like);
}

/* Runs sql/checks/alerts.sql with psql (extra: -v settings, may be NULL)
 * and returns its output (stdout and stderr) in out; 0 when it ran, 1 when
 * ECOM_ALERTS_CHECK is not set. A failing psql fails the test. */
static int run_check(char *out, size_t size, const char *extra)
{
    return pgq_run_check("ECOM_ALERTS_CHECK", NULL, extra, out, size);
}

static void check_consistent_with(const char *extra)
{
    char out[8192];

    run_check(out, sizeof(out), extra);
    if (out[0] != '\0')
        fail_msg("sql/checks/alerts.sql lists differences:\n%s", out);
}

/* The check lists exactly one line, starting "kind|table|key|". */
static void check_lists_only(const char *kind, const char *table, const char *key)
{
    char out[8192], want[512];
    const char *nl;

    snprintf(want, sizeof(want), "%s|%s|%s|", kind, table, key);
    run_check(out, sizeof(out), NULL);
    nl = strchr(out, '\n');
    if (strncmp(out, want, strlen(want)) != 0 || nl == NULL || nl[1] != '\0')
        fail_msg("the check should list only \"%s...\", it lists:\n%s", want, out);
}

/* Corrupts one row with the statement corrupt (parameter $1: p1, may be
 * NULL), expects the check to list only that row, and undoes it with
 * repair (parameter $1: p1 too). */
static void plant(const char *corrupt, const char *repair, const char *p1, const char *kind,
                  const char *table, const char *key)
{
    q(corrupt, p1 ? 1 : 0, p1);
    check_lists_only(kind, table, key);
    q(repair, p1 ? 1 : 0, p1);
    check_consistent_with(NULL);
}

/* sql/checks/alerts.sql (ECOM_ALERTS_CHECK; skipped without it; run first,
 * on a database holding no other rows) prints nothing after batches that
 * fire every rule, grow a velocity count, make a stale update, cross a
 * default and a per-product threshold both ways and start the offsets over
 * (a new Kafka cluster); lists exactly the row of
 * each error planted (an alert deleted, added, its details changed; a
 * level's stock and state changed, a level deleted, added; an inventory
 * alert deleted, added, its state changed); follows its -v thresholds. */
static void test_check(void **state)
{
    static const int big[] = {20};
    alerts_conf_t c = alerts_conf_default();
    char a[6][37], late[37], v[37], w[3][37], id[37], low_id[37], u[64], uv[64], uw[64];
    char p1[64], p2[64], p3[64], key[128], out[8192], details[512];

    (void)state;
    if (run_check(out, sizeof(out), NULL) != 0)
        skip();
    if (out[0] != '\0')
        fail_msg("the database is not consistent before the test:\n%s", out);
    run_id(u, sizeof(u), "chk");
    run_id(uv, sizeof(uv), "chk-v");
    run_id(uw, sizeof(uw), "chk-w");
    run_id(p1, sizeof(p1), "Pchk");
    run_id(p2, sizeof(p2), "Pchk-thr");
    run_id(p3, sizeof(p3), "Pchk-conf");
    q("INSERT INTO inventory_thresholds (product_id, threshold) VALUES ($1, 50)", 1, p2);

    begin();
    for (int i = 0; i < 6; i++)
        add_txn(a[i], u, base_ms + i * 1000);              /* the 6th: velocity 6 */
    add_txn_full(v, uv, base_ms, "6000.00", 0, 1, big);   /* high, mismatch, spike */
    add_inv(p1, "NYC", 30, base_ms);
    add_inv_at(low_id, p1, "NYC", 10, base_ms + 1000, 0, -1); /* low */
    add_inv(p1, "NYC", 5, base_ms - 1000);                /* stale */
    add_inv(p1, "LAX", 8, base_ms);                       /* low, a key never seen */
    apply_default(NULL);
    check_consistent_with(NULL);

    begin();
    add_txn(late, u, base_ms - 500);                      /* the 5th: 6; the 6th: 7 */
    add_inv(p1, "NYC", 25, base_ms + 2000);               /* restored */
    add_inv(p2, "NYC", 40, base_ms);                      /* low by its own 50 */
    apply_default(NULL);
    check_consistent_with(NULL);

    /* a new Kafka cluster: offsets start over, arrival is commit order */
    begin();
    add_inv_at(id, p1, "NYC", 3, base_ms + 3000, 0, 0);   /* low again */
    apply_default(NULL);
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM fraud_alerts WHERE user_id IN ($1, $2)", 2, u, uv), 5);
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM inventory_alerts WHERE product_id IN ($1, $2)", 2, p1, p2),
                     5);
    check_consistent_with(NULL);

    /* fraud_alerts: deleted, added, details changed */
    q("CREATE TEMP TABLE saved_fraud AS SELECT * FROM fraud_alerts", 0);
    snprintf(key, sizeof(key), "%s velocity", a[4]);
    plant("DELETE FROM fraud_alerts WHERE transaction_id = $1 AND rule = 'velocity'",
          "INSERT INTO fraud_alerts SELECT * FROM saved_fraud WHERE transaction_id = $1 AND rule = 'velocity'",
          a[4], "missing", "fraud_alerts", key);
    snprintf(key, sizeof(key), "%s high_value", a[0]);
    plant("INSERT INTO fraud_alerts (transaction_id, user_id, rule, severity, details, event_time)"
          " SELECT transaction_id, user_id, 'high_value', 'medium', '{}', event_time FROM transactions"
          " WHERE transaction_id = $1",
          "DELETE FROM fraud_alerts WHERE transaction_id = $1 AND rule = 'high_value'", a[0], "extra",
          "fraud_alerts", key);
    pgq_text(conn, details, sizeof(details),
             "SELECT details::text FROM fraud_alerts WHERE transaction_id = $1 AND rule = 'velocity'", 1, a[5]);
    assert_non_null(strstr(details, "\"count\": 7"));
    snprintf(key, sizeof(key), "%s velocity", a[5]);
    plant("UPDATE fraud_alerts SET details = jsonb_set(details, '{count}', '6')"
          " WHERE transaction_id = $1 AND rule = 'velocity'",
          "UPDATE fraud_alerts f SET details = s.details FROM saved_fraud s"
          " WHERE f.alert_id = s.alert_id AND f.transaction_id = $1",
          a[5], "differs", "fraud_alerts", key);
    snprintf(key, sizeof(key), "%s amount_mismatch", v);
    plant("UPDATE fraud_alerts SET severity = 'low' WHERE transaction_id = $1 AND rule = 'amount_mismatch'",
          "UPDATE fraud_alerts SET severity = 'high' WHERE transaction_id = $1 AND rule = 'amount_mismatch'",
          v, "differs", "fraud_alerts", key);
    q("DROP TABLE saved_fraud", 0);

    /* inventory_levels: stock, state, deleted, added */
    q("CREATE TEMP TABLE saved_levels AS SELECT * FROM inventory_levels", 0);
    snprintf(key, sizeof(key), "%s/NYC", p1);
    plant("UPDATE inventory_levels SET current_stock = 4 WHERE product_id = $1 AND warehouse_location = 'NYC'",
          "UPDATE inventory_levels SET current_stock = 3 WHERE product_id = $1 AND warehouse_location = 'NYC'",
          p1, "differs", "inventory_levels", key);
    snprintf(key, sizeof(key), "%s/LAX", p1);
    plant("UPDATE inventory_levels SET stock_state = 'ok' WHERE product_id = $1 AND warehouse_location = 'LAX'",
          "UPDATE inventory_levels SET stock_state = 'low' WHERE product_id = $1 AND warehouse_location = 'LAX'",
          p1, "differs", "inventory_levels", key);
    snprintf(key, sizeof(key), "%s/NYC", p2);
    plant("DELETE FROM inventory_levels WHERE product_id = $1",
          "INSERT INTO inventory_levels SELECT * FROM saved_levels WHERE product_id = $1", p2, "missing",
          "inventory_levels", key);
    snprintf(key, sizeof(key), "%s/MIA", p1);
    plant("INSERT INTO inventory_levels (product_id, warehouse_location, current_stock, event_time, event_id)"
          " SELECT product_id, 'MIA', current_stock, event_time, event_id FROM inventory_levels"
          " WHERE product_id = $1 AND warehouse_location = 'NYC'",
          "DELETE FROM inventory_levels WHERE product_id = $1 AND warehouse_location = 'MIA'", p1, "extra",
          "inventory_levels", key);
    q("DROP TABLE saved_levels", 0);

    /* inventory_alerts: deleted, added, state changed */
    q("CREATE TEMP TABLE saved_inv AS SELECT * FROM inventory_alerts", 0);
    snprintf(key, sizeof(key), "%s/NYC %s", p1, low_id);
    plant("DELETE FROM inventory_alerts WHERE event_id = $1",
          "INSERT INTO inventory_alerts SELECT * FROM saved_inv WHERE event_id = $1", low_id, "missing",
          "inventory_alerts", key);
    plant("UPDATE inventory_alerts SET state = 'restored' WHERE event_id = $1",
          "UPDATE inventory_alerts SET state = 'low' WHERE event_id = $1", low_id, "differs",
          "inventory_alerts", key);
    plant("UPDATE inventory_alerts SET previous_stock = NULL WHERE event_id = $1",
          "UPDATE inventory_alerts SET previous_stock = 30 WHERE event_id = $1", low_id, "differs",
          "inventory_alerts", key);
    pgq_uuid(id);
    snprintf(key, sizeof(key), "%s/NYC %s", p1, id);
    plant("INSERT INTO inventory_alerts (product_id, warehouse_location, current_stock, threshold, state,"
          " event_time, event_id) SELECT product_id, warehouse_location, current_stock, threshold, state,"
          " event_time, $1 FROM saved_inv"
          " WHERE product_id LIKE '%-Pchk' AND warehouse_location = 'NYC' AND previous_stock = 30",
          "DELETE FROM inventory_alerts WHERE event_id = $1", id, "extra", "inventory_alerts", key);
    q("DROP TABLE saved_inv", 0);

    /* other thresholds than those applied: differences */
    run_check(out, sizeof(out), "-v velocity_count=6");
    snprintf(key, sizeof(key), "extra|fraud_alerts|%s velocity|", a[4]);
    assert_non_null(strstr(out, key));
    run_check(out, sizeof(out), "-v low_stock=5");
    snprintf(key, sizeof(key), "extra|inventory_alerts|%s/NYC %s|", p1, low_id);
    assert_non_null(strstr(out, key));

    /* thresholds configured: the check with the same -v settings agrees,
     * with the defaults it does not */
    delete_run_rows();
    check_consistent_with(NULL);
    c.velocity_count = 2;
    c.velocity_window_ms = 10000;
    c.high_value_cents = 1000;
    c.max_quantity = 1;
    c.low_stock = 120;
    begin();
    for (int i = 0; i < 3; i++)
        add_txn_full(w[i], uw, base_ms + i * 4000, i ? "10.01" : "10.00", 1, 1, big);
    add_inv(p3, "NYC", 110, base_ms);
    apply_commit(&c, NULL);
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM fraud_alerts WHERE user_id = $1", 1, uw), 6);
    check_consistent_with("-v velocity_count=2 -v velocity_window_ms=10000 -v high_value_cents=1000"
                          " -v max_quantity=1 -v low_stock=120");
    run_check(out, sizeof(out), NULL);
    snprintf(key, sizeof(key), "extra|fraud_alerts|%s velocity|", w[2]);
    assert_non_null(strstr(out, key));
    snprintf(key, sizeof(key), "extra|inventory_alerts|%s/NYC ", p3);
    assert_non_null(strstr(out, key));
    assert_int_equal(pgq_int(conn, "SELECT count(*) FROM inventory_levels WHERE product_id = $1 AND stock_state = 'low'",
                             1, p3),
                     1);
    delete_run_rows();
    check_consistent_with(NULL);
}

/* ---- setup ------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    snprintf(run, sizeof(run), "ta%ld", (long)getpid());
    base_ms = ts_now_ms() / DAY_MS * DAY_MS + DAY_MS / 2;
    offset_seq = 1;
    conn = session();
    return 0;
}

/* Deletes this run's rows. */
static int group_teardown(void **state)
{
    (void)state;
    delete_run_rows();
    PQfinish(conn);
    conn = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_result_add),
        cmocka_unit_test(test_check), /* first: before any other case's rows */
        cmocka_unit_test(test_velocity_five_then_six),
        cmocka_unit_test(test_velocity_boundary),
        cmocka_unit_test(test_velocity_every_after_fifth),
        cmocka_unit_test(test_velocity_ties),
        cmocka_unit_test(test_velocity_late_earlier),
        cmocka_unit_test(test_velocity_order_independent),
        cmocka_unit_test(test_velocity_bursts_apart),
        cmocka_unit_test(test_high_value),
        cmocka_unit_test(test_amount_mismatch),
        cmocka_unit_test(test_quantity_spike),
        cmocka_unit_test(test_rules_together),
        cmocka_unit_test(test_configured_thresholds),
        cmocka_unit_test(test_second_insert_noop),
        cmocka_unit_test(test_inventory_crossings),
        cmocka_unit_test(test_inventory_crossings_in_one_batch),
        cmocka_unit_test(test_inventory_first_update),
        cmocka_unit_test(test_inventory_stale),
        cmocka_unit_test(test_inventory_latest_wins),
        cmocka_unit_test(test_inventory_product_threshold),
        cmocka_unit_test(test_inventory_state_new_connection),
        cmocka_unit_test(test_inventory_replay_equals_live),
        cmocka_unit_test(test_reapply_while_open),
        cmocka_unit_test(test_apply_fails_cleanly),
    };
    PGconn *probe;

    if (getenv("PGHOST") == NULL || getenv("PGDATABASE") == NULL) {
        fprintf(stderr, "test_alerts: PGHOST and PGDATABASE are not set; skipped\n");
        return 77;
    }
    probe = PQconnectdb("");
    if (PQstatus(probe) != CONNECTION_OK) {
        fprintf(stderr, "test_alerts: cannot connect (%s); skipped\n", PQerrorMessage(probe));
        PQfinish(probe);
        return 77;
    }
    PQfinish(probe);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
