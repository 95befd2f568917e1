-- sql/checks/windows.sql - the consistency check of the window tables of
-- sql/windows.sql: recomputes every final window from the raw tables
-- (late = false; late_events from the late rows) and lists every row that
-- differs. No output: consistent.
--
--   psql -X -q -v ON_ERROR_STOP=1 -f sql/checks/windows.sql
--   psql ... -v consumer_group=ecom-stream -f sql/checks/windows.sql
--
-- One line per difference, unaligned: kind | table | window | key | stored
-- | expected, kind being
--   missing  a final window's row that the raw rows call for is absent
--   extra    a row with figures the raw rows do not have
--   differs  any column differs (is_final false included)
-- with the compared columns of both sides as a row literal.
--
-- Which windows are final: those of every row marked final (in any of the
-- three tables, or named by trending_products), and with -v consumer_group
-- also every window ending at or before the group's watermark
-- (min(stream_offsets.watermark), none while a row has NULL), so a window
-- that should have become final and did not is listed too.
--
-- What is recomputed, as stream/windows.c defines it (sql/windows.sql
-- says what each column means):
--   traffic_window_metrics   every column, anomaly_score and is_anomaly
--                            included; a zero row needs no raw rows
--   product_window_metrics   every column but category: a product row's
--                            category is the catalog's when the row was
--                            created, which the raw rows do not hold
--   category_window_metrics  every column, attributing each product's
--                            figures to its product row's category (to
--                            the catalog's when that row is absent)
--   trending_products        every row, for each final traffic window
--
-- Variables, for an ecom-stream run with other settings than the
-- defaults: window_ms (default: the length of the traffic rows, else
-- 30000), anomaly_windows (20), anomaly_z (3), trending_n (5),
-- trending_span_ms (300000).

\set QUIET 1
\pset tuples_only on
\pset format unaligned
\if :{?window_ms}
\else
SELECT coalesce((SELECT (extract(epoch FROM window_end - window_start) * 1000)::bigint
                   FROM traffic_window_metrics LIMIT 1), 30000) AS window_ms
\gset
\endif
\if :{?anomaly_windows}
\else
\set anomaly_windows 20
\endif
\if :{?anomaly_z}
\else
\set anomaly_z 3
\endif
\if :{?trending_n}
\else
\set trending_n 5
\endif
\if :{?trending_span_ms}
\else
\set trending_span_ms 300000
\endif
\if :{?consumer_group}
\else
\set consumer_group ''
\endif

WITH
p AS (
    SELECT (:'window_ms')::bigint * interval '1 millisecond' AS len,
           (:'anomaly_windows')::int AS an,
           (:'anomaly_z')::numeric AS az,
           (:'trending_n')::int AS tn,
           (:'trending_span_ms')::bigint * interval '1 millisecond' AS span,
           nullif(:'consumer_group', '') AS grp),
wm AS (
    SELECT CASE WHEN count(*) > 0 AND count(*) = count(o.watermark) THEN min(o.watermark) END AS wm
      FROM stream_offsets AS o, p
     WHERE o.consumer_group = p.grp),
ue AS (
    SELECT date_bin(p.len, e.event_time, timestamptz 'epoch') AS ws, e.user_id, e.session_id,
           e.event_type, e.product_id
      FROM user_events AS e, p
     WHERE NOT e.late),
tx AS (
    SELECT date_bin(p.len, t.event_time, timestamptz 'epoch') AS ws, t.user_id, t.total_amount
      FROM transactions AS t, p
     WHERE NOT t.late),
it AS (
    SELECT date_bin(p.len, t.event_time, timestamptz 'epoch') AS ws, i.transaction_id,
           i.event_time, i.product_id, i.quantity, i.item_total
      FROM transaction_items AS i
      JOIN transactions AS t ON t.transaction_id = i.transaction_id AND t.event_time = i.event_time,
           p
     WHERE NOT t.late AND i.product_id IS NOT NULL),
iu AS (
    SELECT date_bin(p.len, u.event_time, timestamptz 'epoch') AS ws
      FROM inventory_updates AS u, p
     WHERE NOT u.late),
lt AS (
    SELECT date_bin(p.len, l.event_time, timestamptz 'epoch') AS ws
      FROM (SELECT event_time FROM user_events WHERE late
            UNION ALL SELECT event_time FROM transactions WHERE late
            UNION ALL SELECT event_time FROM inventory_updates WHERE late) AS l, p),
-- expected traffic figures of every window with raw rows
et0 AS (
    SELECT a.ws, sum(a.ue)::bigint AS ue, sum(a.pv)::bigint AS pv, sum(a.atc)::bigint AS atc,
           sum(a.se)::bigint AS se, sum(a.tx)::bigint AS tx, sum(a.inv)::bigint AS inv,
           sum(a.rev)::numeric AS rev, sum(a.late)::bigint AS late
      FROM (SELECT ws, 1 AS ue, (event_type = 'product_view')::int AS pv,
                   (event_type = 'add_to_cart')::int AS atc, (event_type = 'search')::int AS se,
                   0 AS tx, 0 AS inv, 0::numeric AS rev, 0 AS late FROM ue
            UNION ALL SELECT ws, 0, 0, 0, 0, 1, 0, coalesce(total_amount, 0), 0 FROM tx
            UNION ALL SELECT ws, 0, 0, 0, 0, 0, 1, 0, 0 FROM iu
            UNION ALL SELECT ws, 0, 0, 0, 0, 0, 0, 0, 1 FROM lt) AS a
     GROUP BY a.ws),
eu AS (
    SELECT x.ws, count(DISTINCT x.user_id)::bigint AS au
      FROM (SELECT ws, user_id FROM ue UNION ALL SELECT ws, user_id FROM tx) AS x
     GROUP BY x.ws),
es AS (SELECT ws, count(DISTINCT session_id)::bigint AS ase FROM ue GROUP BY ws),
et AS (
    SELECT et0.*, coalesce(eu.au, 0) AS au, coalesce(es.ase, 0) AS ase
      FROM et0 LEFT JOIN eu ON eu.ws = et0.ws LEFT JOIN es ON es.ws = et0.ws),
started AS (SELECT min(ws) AS s FROM et WHERE ue + tx + inv > 0),
-- expected product figures (category apart)
ep AS (
    SELECT a.ws, a.product_id, sum(a.v)::bigint AS views, sum(a.c)::bigint AS carts,
           sum(a.o)::bigint AS orders, sum(a.u)::bigint AS units, sum(a.r)::numeric AS revenue
      FROM (SELECT ws, product_id, count(*) FILTER (WHERE event_type = 'product_view') AS v,
                   count(*) FILTER (WHERE event_type = 'add_to_cart') AS c,
                   0::bigint AS o, 0::bigint AS u, 0::numeric AS r
              FROM ue
             WHERE product_id IS NOT NULL AND event_type IN ('product_view', 'add_to_cart')
             GROUP BY 1, 2
            UNION ALL
            SELECT ws, product_id, 0, 0, count(DISTINCT (transaction_id, event_time)),
                   sum(quantity), sum(item_total)
              FROM it GROUP BY 1, 2) AS a
     GROUP BY 1, 2),
-- the category each (window, product) counts for
pc AS (
    SELECT x.ws, x.product_id,
           CASE WHEN m.product_id IS NOT NULL THEN m.category ELSE pr.category END AS category
      FROM ep AS x
      LEFT JOIN product_window_metrics AS m
        ON m.window_start = x.ws AND m.product_id = x.product_id
      LEFT JOIN products AS pr ON pr.product_id = x.product_id),
ec AS (
    SELECT a.ws, a.category, sum(a.views)::bigint AS views, sum(a.carts)::bigint AS carts,
           (count(DISTINCT (a.tid, a.tts)) FILTER (WHERE a.tid IS NOT NULL))::bigint AS orders,
           sum(a.units)::bigint AS units, sum(a.revenue)::numeric AS revenue
      FROM (SELECT pc.ws, pc.category, ep.views, ep.carts, NULL::uuid AS tid,
                   NULL::timestamptz AS tts, 0::bigint AS units, 0::numeric AS revenue
              FROM ep JOIN pc ON pc.ws = ep.ws AND pc.product_id = ep.product_id
            UNION ALL
            SELECT it.ws, pc.category, 0, 0, it.transaction_id, it.event_time, it.quantity,
                   it.item_total
              FROM it JOIN pc ON pc.ws = it.ws AND pc.product_id = it.product_id) AS a
     WHERE a.category IS NOT NULL
     GROUP BY 1, 2),
-- the final windows
fw AS (
    SELECT window_start AS ws FROM traffic_window_metrics WHERE is_final
    UNION SELECT window_start FROM product_window_metrics WHERE is_final
    UNION SELECT window_start FROM category_window_metrics WHERE is_final
    UNION SELECT t.window_end - p.len FROM trending_products AS t, p
    UNION SELECT et.ws FROM et, p, wm WHERE et.ws + p.len <= wm.wm
    UNION SELECT window_start FROM traffic_window_metrics, wm WHERE window_end <= wm.wm
    UNION SELECT window_start FROM product_window_metrics, wm WHERE window_end <= wm.wm
    UNION SELECT window_start FROM category_window_metrics, wm WHERE window_end <= wm.wm),
-- traffic: the trailing windows' mean and sample stddev (missing ones
-- count 0) once the stream started that long before, then the expected
-- rows of the final windows
hist AS (
    SELECT f.ws, avg(coalesce(x.ue, 0)::numeric) AS mean,
           stddev_samp(coalesce(x.ue, 0)::numeric) AS sd
      FROM fw AS f CROSS JOIN p CROSS JOIN generate_series(1, p.an) AS k
      LEFT JOIN et AS x ON x.ws = f.ws - k * p.len
     WHERE (SELECT s FROM started) <= f.ws - p.an * p.len
     GROUP BY f.ws),
etf AS (
    SELECT f.ws, et.ws IS NOT NULL AS has_rows,
           ROW(f.ws + p.len, coalesce(et.ue, 0), coalesce(et.pv, 0), coalesce(et.atc, 0),
               coalesce(et.se, 0), coalesce(et.tx, 0), coalesce(et.inv, 0), coalesce(et.au, 0),
               coalesce(et.ase, 0), coalesce(et.rev, 0), coalesce(et.late, 0),
               CASE WHEN h.sd > 0 THEN round((coalesce(et.ue, 0) - h.mean) / h.sd, 6) END,
               CASE WHEN h.sd > 0 THEN abs((coalesce(et.ue, 0) - h.mean) / h.sd) > p.az
                    ELSE false END,
               true) AS r
      FROM fw AS f CROSS JOIN p
      LEFT JOIN et ON et.ws = f.ws
      LEFT JOIN hist AS h ON h.ws = f.ws),
stf AS (
    SELECT t.window_start AS ws,
           ROW(t.window_end, t.user_events, t.product_views, t.add_to_carts, t.searches,
               t.transactions, t.inventory_updates, t.active_users, t.active_sessions,
               t.revenue::numeric, t.late_events, t.anomaly_score, t.is_anomaly, t.is_final) AS r
      FROM traffic_window_metrics AS t JOIN fw ON fw.ws = t.window_start),
d_traffic AS (
    SELECT CASE WHEN s.ws IS NULL THEN 'missing' ELSE 'differs' END AS kind,
           'traffic_window_metrics' AS tbl, coalesce(s.ws, e.ws) AS ws, '' AS key,
           s.r::text AS stored, e.r::text AS expected
      FROM stf AS s FULL JOIN etf AS e ON e.ws = s.ws
     WHERE s.r IS DISTINCT FROM e.r AND (s.ws IS NOT NULL OR e.has_rows)),
-- products
d_product AS (
    SELECT CASE WHEN s.window_start IS NULL THEN 'missing'
                WHEN e.ws IS NULL THEN 'extra' ELSE 'differs' END,
           'product_window_metrics', coalesce(s.window_start, e.ws), coalesce(s.product_id, e.product_id),
           s.r::text, e.r::text
      FROM (SELECT m.window_start, m.product_id,
                   ROW(m.window_end, m.views, m.add_to_carts, m.orders, m.units_sold,
                       m.revenue::numeric, m.is_final) AS r
              FROM product_window_metrics AS m JOIN fw ON fw.ws = m.window_start) AS s
      FULL JOIN (SELECT ep.ws, ep.product_id,
                        ROW(ep.ws + p.len, ep.views, ep.carts, ep.orders, ep.units, ep.revenue,
                            true) AS r
                   FROM ep JOIN fw ON fw.ws = ep.ws CROSS JOIN p) AS e
        ON e.ws = s.window_start AND e.product_id = s.product_id
     WHERE s.r IS DISTINCT FROM e.r),
-- categories
d_category AS (
    SELECT CASE WHEN s.window_start IS NULL THEN 'missing'
                WHEN e.ws IS NULL THEN 'extra' ELSE 'differs' END,
           'category_window_metrics', coalesce(s.window_start, e.ws), coalesce(s.category, e.category),
           s.r::text, e.r::text
      FROM (SELECT c.window_start, c.category,
                   ROW(c.window_end, c.views, c.add_to_carts, c.orders, c.units_sold,
                       c.revenue::numeric, c.conversion_rate, c.is_final) AS r
              FROM category_window_metrics AS c JOIN fw ON fw.ws = c.window_start) AS s
      FULL JOIN (SELECT ec.ws, ec.category,
                        ROW(ec.ws + p.len, ec.views, ec.carts, ec.orders, ec.units, ec.revenue,
                            CASE WHEN ec.views > 0 THEN round(ec.orders::numeric / ec.views, 6) END,
                            true) AS r
                   FROM ec JOIN fw ON fw.ws = ec.ws CROSS JOIN p) AS e
        ON e.ws = s.window_start AND e.category = s.category
     WHERE s.r IS DISTINCT FROM e.r),
-- trending, for every final traffic window: the windows of the span are
-- the k-th before its end, k = 1 .. span / window
ep2 AS (
    SELECT ep.*, pc.category
      FROM ep JOIN pc ON pc.ws = ep.ws AND pc.product_id = ep.product_id
     WHERE pc.category IS NOT NULL),
tsum AS (
    SELECT f.we, ep2.category, ep2.product_id, sum(ep2.views)::bigint AS views,
           sum(ep2.carts)::bigint AS carts, sum(ep2.orders)::bigint AS orders,
           sum(ep2.units)::bigint AS units, sum(ep2.revenue)::numeric AS revenue
      FROM (SELECT window_end AS we FROM traffic_window_metrics WHERE is_final) AS f
     CROSS JOIN p
     CROSS JOIN generate_series(1, floor(extract(epoch FROM p.span)
                                         / extract(epoch FROM p.len))::int) AS k
      JOIN ep2 ON ep2.ws = f.we - k * p.len
     GROUP BY 1, 2, 3
    HAVING sum(ep2.views) > 0),
etr AS (
    SELECT x.we, x.category, x.rank,
           ROW(x.product_id, x.views, x.carts, x.orders, x.units, x.revenue, x.we - p.span) AS r
      FROM (SELECT tsum.*,
                   row_number() OVER (PARTITION BY we, category
                                      ORDER BY views DESC, product_id)::int AS rank
              FROM tsum) AS x
     CROSS JOIN p
     WHERE x.rank <= p.tn),
d_trending AS (
    SELECT CASE WHEN s.window_end IS NULL THEN 'missing'
                WHEN e.we IS NULL THEN 'extra' ELSE 'differs' END,
           'trending_products', coalesce(s.window_end, e.we) - p.len,
           coalesce(s.category, e.category) || ' #' || coalesce(s.rank, e.rank),
           s.r::text, e.r::text
      FROM (SELECT t.window_end, t.category, t.rank,
                   ROW(t.product_id, t.views, t.add_to_carts, t.orders, t.units_sold,
                       t.revenue::numeric, t.span_start) AS r
              FROM trending_products AS t) AS s
      FULL JOIN etr AS e ON e.we = s.window_end AND e.category = s.category AND e.rank = s.rank
     CROSS JOIN p
     WHERE s.r IS DISTINCT FROM e.r)
SELECT * FROM d_traffic
UNION ALL SELECT * FROM d_product
UNION ALL SELECT * FROM d_category
UNION ALL SELECT * FROM d_trending
ORDER BY 2, 3, 4;
