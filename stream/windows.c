/*
 * windows.c - the event-time window analytics of ecom-stream (see
 * windows.h): two statements per flush over the session's new_* temporary
 * tables, inside the caller's transaction. Owns no memory between calls and
 * no connection.
 */
#include "windows.h"
#include "db.h"
#include "elog.h"
#include "ts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Steps 1 to 3 ($1 window ms), one statement, two passes over
 * new_user_events (both hash aggregates, not sorts), or none when the
 * caller grouped the batch's user events itself (preagg.h): then their
 * groups are in new_user_event_groups and new_user_sessions (both read
 * always; a key in both is summed downstream, as every use of a is):
 *   a       per (window, late, event_type, product, name, category): count,
 *           latest event time, price
 *   cl, cu  the catalog: per product the batch's latest (name, category);
 *           proposed only when new or different, so unchanged rows are not
 *           locked (ON CONFLICT DO UPDATE locks the conflicting row even
 *           when its WHERE is false); the WHERE settles a race with another
 *           instance. Ties in event time: the greatest category, then name
 *   ev, it  on-time views and carts per (window, product); on-time items
 *   ip      their orders per (window, product), counted as groups per
 *           transaction (hash aggregates; count(DISTINCT) over a row sorts,
 *           which took 100 ms for a batch of 20,000 items), as ca does
 *   up      product rows; a new row's category is the catalog's (cu's
 *           when this statement changed it); the upsert returns the row's
 *           category, kept when the row existed
 *   cat     category rows from the returned categories
 *   us      on-time (window, user, session) groups; nu / ns insert the
 *           members not there yet (ON CONFLICT DO NOTHING: one index probe
 *           per member, no lock on those there; an anti-join before it
 *           was planned as a hash join over the whole set, 113 ms a flush
 *           at 80,000 sessions) and return them
 *   tu      traffic rows: counts from a, transactions, inventory updates,
 *           the new set members and the late rows
 * Rows are proposed in key order so that two instances lock in the same
 * order.
 */
static const char SQL_DELTA[] =
    "WITH w AS (SELECT $1::bigint * interval '1 millisecond' AS len), "
    "a AS ( "
    "    SELECT date_bin(w.len, e.event_time, timestamptz 'epoch') AS ws, e.late, e.event_type, "
    "           e.product_id, e.product_name, e.category, count(*) AS n, "
    "           max(e.event_time) AS last_time, max(e.price) AS price "
    "      FROM new_user_events AS e, w "
    "     GROUP BY 1, 2, 3, 4, 5, 6 "
    "    UNION ALL "
    "    SELECT window_start, late, event_type, product_id, product_name, category, events, "
    "           last_time, price "
    "      FROM new_user_event_groups), "
    "cl AS ( "
    "    SELECT DISTINCT ON (product_id) product_id, product_name, category, price, last_time "
    "      FROM a "
    "     WHERE product_id IS NOT NULL AND product_name IS NOT NULL AND category IS NOT NULL "
    "     ORDER BY product_id, last_time DESC, category DESC, product_name DESC), "
    "cu AS ( "
    "    INSERT INTO products AS p (product_id, product_name, category, price, catalog_event_time) "
    "    SELECT l.product_id, l.product_name, l.category, coalesce(l.price, 0), l.last_time "
    "      FROM cl AS l LEFT JOIN products AS c ON c.product_id = l.product_id "
    "     WHERE c.product_id IS NULL "
    "        OR ((c.product_name, c.category) IS DISTINCT FROM (l.product_name, l.category) "
    "            AND l.last_time > coalesce(c.catalog_event_time, '-infinity')) "
    "     ORDER BY l.product_id "
    "    ON CONFLICT (product_id) DO UPDATE "
    "       SET product_name = EXCLUDED.product_name, category = EXCLUDED.category, "
    "           catalog_event_time = EXCLUDED.catalog_event_time "
    "     WHERE (p.product_name, p.category) IS DISTINCT FROM (EXCLUDED.product_name, EXCLUDED.category) "
    "       AND EXCLUDED.catalog_event_time > coalesce(p.catalog_event_time, '-infinity') "
    "    RETURNING product_id, category), "
    "ev AS ( "
    "    SELECT ws, product_id, "
    "           coalesce(sum(n) FILTER (WHERE event_type = 'product_view'), 0) AS views, "
    "           coalesce(sum(n) FILTER (WHERE event_type = 'add_to_cart'), 0) AS carts "
    "      FROM a "
    "     WHERE NOT late AND product_id IS NOT NULL AND event_type IN ('product_view', 'add_to_cart') "
    "     GROUP BY 1, 2), "
    "it AS ( "
    "    SELECT date_bin(w.len, t.event_time, timestamptz 'epoch') AS ws, i.product_id, "
    "           i.transaction_id, i.event_time, i.quantity, i.item_total "
    "      FROM new_transaction_items AS i "
    "      JOIN new_transactions AS t "
    "        ON t.transaction_id = i.transaction_id AND t.event_time = i.event_time, w "
    "     WHERE NOT t.late AND i.product_id IS NOT NULL), "
    "ip AS ( "
    "    SELECT ws, product_id, count(*) AS orders, "
    "           coalesce(sum(units), 0) AS units, coalesce(sum(revenue), 0) AS revenue "
    "      FROM (SELECT ws, product_id, sum(quantity) AS units, sum(item_total) AS revenue "
    "              FROM it GROUP BY ws, product_id, transaction_id, event_time) AS o "
    "     GROUP BY 1, 2), "
    "d AS ( "
    "    SELECT ws, product_id, coalesce(ev.views, 0) AS views, coalesce(ev.carts, 0) AS carts, "
    "           coalesce(ip.orders, 0) AS orders, coalesce(ip.units, 0) AS units, "
    "           coalesce(ip.revenue, 0) AS revenue "
    "      FROM ev FULL JOIN ip USING (ws, product_id)), "
    "up AS ( "
    "    INSERT INTO product_window_metrics AS m "
    "           (window_start, window_end, product_id, category, views, add_to_carts, "
    "            orders, units_sold, revenue) "
    "    SELECT d.ws, d.ws + w.len, d.product_id, coalesce(cu.category, p.category), d.views, d.carts, "
    "           d.orders, d.units, d.revenue "
    "      FROM d CROSS JOIN w "
    "      LEFT JOIN products AS p ON p.product_id = d.product_id "
    "      LEFT JOIN cu ON cu.product_id = d.product_id "
    "     ORDER BY d.ws, d.product_id "
    "    ON CONFLICT (window_start, product_id) DO UPDATE "
    "       SET views = m.views + EXCLUDED.views, "
    "           add_to_carts = m.add_to_carts + EXCLUDED.add_to_carts, "
    "           orders = m.orders + EXCLUDED.orders, "
    "           units_sold = m.units_sold + EXCLUDED.units_sold, "
    "           revenue = m.revenue + EXCLUDED.revenue, "
    "           updated_at = now() "
    "    RETURNING window_start, product_id, category), "
    "cd AS ( "
    "    SELECT up.window_start AS ws, up.category, ev.views::bigint AS views, "
    "           ev.carts::bigint AS carts, NULL::uuid AS tid, NULL::timestamptz AS tts, "
    "           0::bigint AS units, 0::numeric AS revenue "
    "      FROM ev JOIN up ON up.window_start = ev.ws AND up.product_id = ev.product_id "
    "     WHERE up.category IS NOT NULL "
    "    UNION ALL "
    "    SELECT up.window_start, up.category, 0, 0, it.transaction_id, it.event_time, "
    "           it.quantity, it.item_total "
    "      FROM it JOIN up ON up.window_start = it.ws AND up.product_id = it.product_id "
    "     WHERE up.category IS NOT NULL), "
    "ca AS ( "
    "    SELECT ws, category, sum(views) AS views, sum(carts) AS carts, count(tid) AS orders, "
    "           sum(units) AS units, sum(revenue) AS revenue "
    "      FROM (SELECT ws, category, tid, sum(views) AS views, sum(carts) AS carts, "
    "                   sum(units) AS units, sum(revenue) AS revenue "
    "              FROM cd GROUP BY ws, category, tid, tts) AS o "
    "     GROUP BY 1, 2), "
    "cat AS ( "
    "    INSERT INTO category_window_metrics AS c "
    "           (window_start, window_end, category, views, add_to_carts, orders, "
    "            units_sold, revenue, conversion_rate) "
    "    SELECT ca.ws, ca.ws + w.len, ca.category, ca.views, ca.carts, ca.orders, "
    "           ca.units, ca.revenue, "
    "           CASE WHEN ca.views > 0 THEN round(ca.orders::numeric / ca.views, 6) END "
    "      FROM ca CROSS JOIN w "
    "     ORDER BY ca.ws, ca.category "
    "    ON CONFLICT (window_start, category) DO UPDATE "
    "       SET views = c.views + EXCLUDED.views, "
    "           add_to_carts = c.add_to_carts + EXCLUDED.add_to_carts, "
    "           orders = c.orders + EXCLUDED.orders, "
    "           units_sold = c.units_sold + EXCLUDED.units_sold, "
    "           revenue = c.revenue + EXCLUDED.revenue, "
    "           conversion_rate = CASE WHEN c.views + EXCLUDED.views > 0 "
    "               THEN round((c.orders + EXCLUDED.orders)::numeric "
    "                          / (c.views + EXCLUDED.views), 6) END, "
    "           updated_at = now() "
    "    RETURNING 1), "
    "tx AS ( "
    "    SELECT date_bin(w.len, t.event_time, timestamptz 'epoch') AS ws, t.late, t.user_id, "
    "           t.total_amount "
    "      FROM new_transactions AS t, w), "
    "us AS ( "
    "    SELECT date_bin(w.len, e.event_time, timestamptz 'epoch') AS ws, e.user_id, e.session_id "
    "      FROM new_user_events AS e, w "
    "     WHERE NOT e.late "
    "     GROUP BY 1, 2, 3 "
    "    UNION "
    "    SELECT window_start, user_id, session_id FROM new_user_sessions), "
    "nu AS ( "
    "    INSERT INTO window_users (window_start, user_id) "
    "    SELECT ws, user_id "
    "      FROM (SELECT ws, user_id FROM us UNION SELECT ws, user_id FROM tx WHERE NOT late) AS x "
    "     WHERE user_id IS NOT NULL "
    "     ORDER BY 1, 2 "
    "    ON CONFLICT DO NOTHING "
    "    RETURNING window_start), "
    "ns AS ( "
    "    INSERT INTO window_sessions (window_start, session_id) "
    "    SELECT DISTINCT ws, session_id FROM us WHERE session_id IS NOT NULL "
    "     ORDER BY 1, 2 "
    "    ON CONFLICT DO NOTHING "
    "    RETURNING window_start), "
    "td (ws, ue, pv, atc, se, tx, inv, au, ase, rev, late) AS ( "
    "    SELECT ws, sum(n) FILTER (WHERE NOT late), "
    "           sum(n) FILTER (WHERE NOT late AND event_type = 'product_view'), "
    "           sum(n) FILTER (WHERE NOT late AND event_type = 'add_to_cart'), "
    "           sum(n) FILTER (WHERE NOT late AND event_type = 'search'), "
    "           0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::numeric, "
    "           sum(n) FILTER (WHERE late) "
    "      FROM a GROUP BY ws "
    "    UNION ALL "
    "    SELECT ws, 0, 0, 0, 0, count(*) FILTER (WHERE NOT late), 0, 0, 0, "
    "           sum(total_amount) FILTER (WHERE NOT late), count(*) FILTER (WHERE late) "
    "      FROM tx GROUP BY ws "
    "    UNION ALL "
    "    SELECT date_bin(w.len, i.event_time, timestamptz 'epoch'), 0, 0, 0, 0, 0, "
    "           count(*) FILTER (WHERE NOT i.late), 0, 0, 0, count(*) FILTER (WHERE i.late) "
    "      FROM new_inventory_updates AS i, w GROUP BY 1 "
    "    UNION ALL "
    "    SELECT window_start, 0, 0, 0, 0, 0, 0, count(*), 0, 0, 0 FROM nu GROUP BY 1 "
    "    UNION ALL "
    "    SELECT window_start, 0, 0, 0, 0, 0, 0, 0, count(*), 0, 0 FROM ns GROUP BY 1), "
    "tu AS ( "
    "    INSERT INTO traffic_window_metrics AS t "
    "           (window_start, window_end, user_events, product_views, add_to_carts, "
    "            searches, transactions, inventory_updates, active_users, active_sessions, "
    "            revenue, late_events) "
    "    SELECT td.ws, td.ws + (SELECT len FROM w), coalesce(sum(ue), 0), coalesce(sum(pv), 0), "
    "           coalesce(sum(atc), 0), coalesce(sum(se), 0), coalesce(sum(tx), 0), "
    "           coalesce(sum(inv), 0), coalesce(sum(au), 0), coalesce(sum(ase), 0), "
    "           coalesce(sum(rev), 0), coalesce(sum(late), 0) "
    "      FROM td GROUP BY td.ws ORDER BY td.ws "
    "    ON CONFLICT (window_start) DO UPDATE "
    "       SET user_events = t.user_events + EXCLUDED.user_events, "
    "           product_views = t.product_views + EXCLUDED.product_views, "
    "           add_to_carts = t.add_to_carts + EXCLUDED.add_to_carts, "
    "           searches = t.searches + EXCLUDED.searches, "
    "           transactions = t.transactions + EXCLUDED.transactions, "
    "           inventory_updates = t.inventory_updates + EXCLUDED.inventory_updates, "
    "           active_users = t.active_users + EXCLUDED.active_users, "
    "           active_sessions = t.active_sessions + EXCLUDED.active_sessions, "
    "           revenue = t.revenue + EXCLUDED.revenue, "
    "           late_events = t.late_events + EXCLUDED.late_events, "
    "           updated_at = now() "
    "    RETURNING 1) "
    "SELECT (SELECT count(*) FROM cu), (SELECT count(*) FROM up), (SELECT count(*) FROM cat), "
    "       (SELECT count(*) FROM tu), (SELECT count(*) FROM nu) + (SELECT count(*) FROM ns), "
    "       (SELECT coalesce(sum(late), 0) FROM td)";

/*
 * Step 4: finalisation. $1 consumer group, $2 window ms, $3 anomaly
 * windows, $4 anomaly z, $5 trending n, $6 trending span ms, $7 fill
 * windows, $8 keep sets ms, $9 partitions of the subscribed topics.
 *   wm      the group's watermark: the least of its partitions' rows, none
 *           while a row has none or fewer than $9 partitions have a row (a
 *           partition another instance has not stored yet holds every
 *           window open, as does $9 = 0, partitions unknown)
 *   b       the watermark W (none: b is empty and nothing happens), the
 *           newest window ending at or before it (last; none when W is
 *           infinite), where the stream started (its first window with an
 *           on-time event) and the newest final window (frontier)
 *   cand    open traffic rows ending by W, and the empty windows after
 *           the frontier (at most $7, the newest, none before started)
 *   hist    per candidate, mean and sample stddev of user_events over the
 *           $3 windows before it (missing ones count 0), when the stream
 *           started at least that long before
 *   fin     finalises the open rows (z from the row as locked, so a delta
 *           committed meanwhile counts); filled inserts the zero rows
 *   finals  the windows this statement finalised: trending for each
 *   pf, cf  product and category rows ending by W become final
 *   du, ds  sets of windows final for $8 go
 */
static const char SQL_FINAL[] =
    "WITH w AS (SELECT $2::bigint * interval '1 millisecond' AS len), "
    "wm AS ("
    "    SELECT CASE WHEN $9::int > 0 AND count(*) >= $9::int AND count(*) = count(watermark) "
    "                THEN min(watermark) END AS wm "
    "      FROM stream_offsets WHERE consumer_group = $1), "
    "b AS ("
    "    SELECT wm.wm, w.len, "
    "           CASE WHEN isfinite(wm.wm) "
    "                THEN date_bin(w.len, wm.wm - w.len, timestamptz 'epoch') END AS last, "
    "           (SELECT min(window_start) FROM traffic_window_metrics "
    "             WHERE user_events + transactions + inventory_updates > 0) AS started, "
    "           (SELECT max(window_start) FROM traffic_window_metrics WHERE is_final) AS frontier "
    "      FROM wm, w "
    "     WHERE wm.wm IS NOT NULL AND wm.wm > '-infinity'), "
    "cand AS ("
    "    SELECT t.window_start AS ws, false AS fill "
    "      FROM traffic_window_metrics AS t "
    "     WHERE NOT t.is_final AND t.window_end <= (SELECT wm FROM b) "
    "    UNION ALL "
    "    SELECT g, true "
    "      FROM b, generate_series(greatest(b.started, b.frontier + b.len, "
    "                                       b.last - ($7::bigint - 1) * b.len), "
    "                              b.last, b.len) AS g "
    "     WHERE b.last IS NOT NULL AND b.started IS NOT NULL AND $7::bigint > 0 "
    "       AND NOT EXISTS (SELECT 1 FROM traffic_window_metrics AS t WHERE t.window_start = g)), "
    "hist AS ("
    "    SELECT c.ws, avg(coalesce(h.user_events, 0)::numeric) AS mean, "
    "           stddev_samp(coalesce(h.user_events, 0)::numeric) AS sd "
    "      FROM cand AS c CROSS JOIN b CROSS JOIN generate_series(1, $3::int) AS k "
    "      LEFT JOIN traffic_window_metrics AS h ON h.window_start = c.ws - k * b.len "
    "     WHERE b.started <= c.ws - $3::int * b.len "
    "     GROUP BY c.ws), "
    "fin AS ("
    "    UPDATE traffic_window_metrics AS t "
    "       SET is_final = true, "
    "           anomaly_score = CASE WHEN h.sd > 0 THEN round((t.user_events - h.mean) / h.sd, 6) END, "
    "           is_anomaly = CASE WHEN h.sd > 0 "
    "                             THEN abs((t.user_events - h.mean) / h.sd) > $4::numeric "
    "                             ELSE false END, "
    "           updated_at = now() "
    "      FROM cand AS c LEFT JOIN hist AS h ON h.ws = c.ws "
    "     WHERE NOT c.fill AND t.window_start = c.ws AND NOT t.is_final "
    "    RETURNING t.window_start, t.window_end, t.is_anomaly), "
    "filled AS ("
    "    INSERT INTO traffic_window_metrics AS t "
    "           (window_start, window_end, anomaly_score, is_anomaly, is_final) "
    "    SELECT c.ws, c.ws + b.len, "
    "           CASE WHEN h.sd > 0 THEN round((0 - h.mean) / h.sd, 6) END, "
    "           CASE WHEN h.sd > 0 THEN abs(h.mean / h.sd) > $4::numeric ELSE false END, "
    "           true "
    "      FROM cand AS c CROSS JOIN b LEFT JOIN hist AS h ON h.ws = c.ws "
    "     WHERE c.fill "
    "     ORDER BY c.ws "
    "    ON CONFLICT (window_start) DO NOTHING "
    "    RETURNING window_start, window_end, is_anomaly), "
    "finals AS (SELECT * FROM fin UNION ALL SELECT * FROM filled), "
    "pf AS ("
    "    UPDATE product_window_metrics SET is_final = true, updated_at = now() "
    "     WHERE NOT is_final AND window_end <= (SELECT wm FROM b) "
    "    RETURNING 1), "
    "cf AS ("
    "    UPDATE category_window_metrics SET is_final = true, updated_at = now() "
    "     WHERE NOT is_final AND window_end <= (SELECT wm FROM b) "
    "    RETURNING 1), "
    "tr AS ("
    "    INSERT INTO trending_products "
    "           (window_end, category, rank, product_id, views, add_to_carts, orders, "
    "            units_sold, revenue, span_start) "
    "    SELECT f.window_end, r.category, r.rank, r.product_id, r.views, r.carts, r.orders, "
    "           r.units, r.revenue, f.window_end - s.span "
    "      FROM finals AS f "
    "     CROSS JOIN (SELECT $6::bigint * interval '1 millisecond' AS span) AS s "
    "     CROSS JOIN LATERAL ("
    "           SELECT a.*, row_number() OVER (PARTITION BY a.category "
    "                                          ORDER BY a.views DESC, a.product_id) AS rank "
    "             FROM (SELECT m.category, m.product_id, sum(m.views) AS views, "
    "                          sum(m.add_to_carts) AS carts, sum(m.orders) AS orders, "
    "                          sum(m.units_sold) AS units, sum(m.revenue) AS revenue "
    "                     FROM product_window_metrics AS m "
    "                    WHERE m.window_start >= f.window_end - s.span "
    "                      AND m.window_end <= f.window_end AND m.category IS NOT NULL "
    "                    GROUP BY m.category, m.product_id "
    "                   HAVING sum(m.views) > 0) AS a) AS r "
    "     WHERE r.rank <= $5::int "
    "     ORDER BY 1, 2, 3 "
    "    ON CONFLICT DO NOTHING "
    "    RETURNING 1), "
    "du AS ("
    "    DELETE FROM window_users "
    "     WHERE window_start <= (SELECT wm - len - $8::bigint * interval '1 millisecond' FROM b) "
    "    RETURNING 1), "
    "ds AS ("
    "    DELETE FROM window_sessions "
    "     WHERE window_start <= (SELECT wm - len - $8::bigint * interval '1 millisecond' FROM b) "
    "    RETURNING 1) "
    "SELECT (SELECT count(*) FROM finals), (SELECT count(*) FROM filled), "
    "       (SELECT count(*) FROM pf), (SELECT count(*) FROM cf), "
    "       (SELECT count(*) FROM finals WHERE is_anomaly), (SELECT count(*) FROM tr), "
    "       (SELECT count(*) FROM du) + (SELECT count(*) FROM ds)";

static const char SQL_STATE[] =
    "SELECT (SELECT count(*) FROM traffic_window_metrics WHERE NOT is_final), "
    "       (SELECT count(*) FROM window_users) + (SELECT count(*) FROM window_sessions), "
    "       pg_total_relation_size('window_users') + pg_total_relation_size('window_sessions')";

windows_conf_t windows_conf_default(void)
{
    windows_conf_t c = WINDOWS_CONF_DEFAULTS;
    return c;
}

static int conf_error(char *err, size_t err_size, const char *field, const char *value)
{
    if (err != NULL && err_size > 0)
        snprintf(err, err_size, "invalid value \"%s\" for %s", value, field);
    return -1;
}

int windows_conf_check(const windows_conf_t *c, char *err, size_t err_size)
{
    char v[64];

    if (c == NULL)
        return conf_error(err, err_size, "the window configuration", "NULL");
    snprintf(v, sizeof(v), "%lld", (long long)c->window_ms);
    if (c->window_ms < 1 || c->window_ms > WINDOWS_SPAN_LIMIT_MS)
        return conf_error(err, err_size, "window_ms (1 ms to 2^40 ms)", v);
    snprintf(v, sizeof(v), "%d", c->anomaly_windows);
    if (c->anomaly_windows < 2 || c->anomaly_windows > WINDOWS_ANOMALY_MAX)
        return conf_error(err, err_size, "anomaly_windows (2 to 10000)", v);
    snprintf(v, sizeof(v), "%g", c->anomaly_z);
    if (!isfinite(c->anomaly_z) || c->anomaly_z <= 0)
        return conf_error(err, err_size, "anomaly_z (a finite number above 0)", v);
    snprintf(v, sizeof(v), "%d", c->trending_n);
    if (c->trending_n < 1 || c->trending_n > WINDOWS_TRENDING_MAX)
        return conf_error(err, err_size, "trending_n (1 to 1000)", v);
    snprintf(v, sizeof(v), "%lld", (long long)c->trending_span_ms);
    if (c->trending_span_ms < c->window_ms || c->trending_span_ms > WINDOWS_SPAN_LIMIT_MS)
        return conf_error(err, err_size, "trending_span_ms (window_ms to 2^40 ms)", v);
    snprintf(v, sizeof(v), "%lld", (long long)c->fill_windows);
    if (c->fill_windows < 0 || c->fill_windows > WINDOWS_FILL_MAX)
        return conf_error(err, err_size, "fill_windows (0 to 1000000)", v);
    snprintf(v, sizeof(v), "%lld", (long long)c->keep_sets_ms);
    if (c->keep_sets_ms < 0 || c->keep_sets_ms > WINDOWS_SPAN_LIMIT_MS)
        return conf_error(err, err_size, "keep_sets_ms (0 to 2^40 ms)", v);
    return 0;
}

void windows_result_add(windows_result_t *t, const windows_result_t *a)
{
    t->catalog_changes += a->catalog_changes;
    t->product_rows += a->product_rows;
    t->category_rows += a->category_rows;
    t->traffic_rows += a->traffic_rows;
    t->late_events += a->late_events;
    t->set_added += a->set_added;
    t->set_deleted += a->set_deleted;
    t->windows_final += a->windows_final;
    t->empty_windows += a->empty_windows;
    t->product_final += a->product_final;
    t->category_final += a->category_final;
    t->anomalies += a->anomalies;
    t->trending_rows += a->trending_rows;
    t->seconds += a->seconds;
}

/* Runs one statement; the result when its status is want, else NULL with
 * the failure logged or handed to *error (see windows_apply()). */
static PGresult *run(PGconn *conn, const char *what, const char *sql, int nparams,
                     const char *const *params, ExecStatusType want, PGresult **error)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) == want)
        return res;
    if (error != NULL && res != NULL && PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL) {
        *error = res;
        return NULL;
    }
    db_log_error(what, conn, res, sql);
    PQclear(res);
    return NULL;
}

/* Column i of a one-row result as a count (0 when NULL or absent). */
static long long col(const PGresult *res, int i)
{
    if (PQntuples(res) < 1 || i >= PQnfields(res) || PQgetisnull(res, 0, i))
        return 0;
    return strtoll(PQgetvalue(res, 0, i), NULL, 10);
}

int windows_apply(PGconn *conn, const windows_conf_t *conf,
                  const char *consumer_group, int partitions,
                  windows_result_t *res, PGresult **error)
{
    windows_result_t local;
    windows_result_t *r = res != NULL ? res : &local;
    int64_t start_us = ts_monotonic_us();
    char err[160];
    char window[24], anomaly_n[16], anomaly_z[40], trending_n[16], span[24], fill[24], keep[24];
    char parts[16];
    const char *p_window[1] = {window};
    const char *p_final[9] = {consumer_group, window, anomaly_n, anomaly_z,
                              trending_n, span, fill, keep, parts};
    PGresult *q = NULL;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (error != NULL)
        *error = NULL;
    if (windows_conf_check(conf, err, sizeof(err)) != 0) {
        LOG_ERROR("window analytics: %s", err);
        goto out;
    }
    if (conn == NULL || consumer_group == NULL) {
        LOG_ERROR("window analytics: no connection or no consumer group");
        goto out;
    }
    snprintf(window, sizeof(window), "%lld", (long long)conf->window_ms);
    snprintf(anomaly_n, sizeof(anomaly_n), "%d", conf->anomaly_windows);
    snprintf(anomaly_z, sizeof(anomaly_z), "%.17g", conf->anomaly_z);
    snprintf(trending_n, sizeof(trending_n), "%d", conf->trending_n);
    snprintf(span, sizeof(span), "%lld", (long long)conf->trending_span_ms);
    snprintf(fill, sizeof(fill), "%lld", (long long)conf->fill_windows);
    snprintf(keep, sizeof(keep), "%lld", (long long)conf->keep_sets_ms);
    snprintf(parts, sizeof(parts), "%d", partitions);

    q = run(conn, "could not add the batch to its windows", SQL_DELTA, 1, p_window,
            PGRES_TUPLES_OK, error);
    if (q == NULL)
        goto out;
    r->catalog_changes = col(q, 0);
    r->product_rows = col(q, 1);
    r->category_rows = col(q, 2);
    r->traffic_rows = col(q, 3);
    r->set_added = col(q, 4);
    r->late_events = col(q, 5);
    PQclear(q);

    q = run(conn, "could not finalise windows", SQL_FINAL, 9, p_final, PGRES_TUPLES_OK, error);
    if (q == NULL)
        goto out;
    r->windows_final = col(q, 0);
    r->empty_windows = col(q, 1);
    r->product_final = col(q, 2);
    r->category_final = col(q, 3);
    r->anomalies = col(q, 4);
    r->trending_rows = col(q, 5);
    r->set_deleted = col(q, 6);
    PQclear(q);
    rc = 0;
out:
    r->seconds = (double)(ts_monotonic_us() - start_us) / 1e6;
    return rc;
}

int windows_state(PGconn *conn, windows_state_t *out)
{
    PGresult *q = run(conn, "could not read the window state", SQL_STATE, 0, NULL,
                      PGRES_TUPLES_OK, NULL);

    memset(out, 0, sizeof(*out));
    if (q == NULL)
        return -1;
    out->open_windows = col(q, 0);
    out->set_entries = col(q, 1);
    out->set_bytes = col(q, 2);
    PQclear(q);
    return 0;
}
