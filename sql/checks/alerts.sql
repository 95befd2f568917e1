-- sql/checks/alerts.sql - the consistency check of the tables of
-- sql/alerts.sql: recomputes fraud_alerts, inventory_levels and
-- inventory_alerts from the raw tables (transactions, transaction_items,
-- inventory_updates, every stored row, late ones included, and
-- inventory_thresholds) and lists every row that differs. No output:
-- consistent. It only reads.
--
--   psql -X -q -v ON_ERROR_STOP=1 -f sql/checks/alerts.sql
--   psql ... -v velocity_count=2 -v low_stock=50 -f sql/checks/alerts.sql
--
-- One line per difference, unaligned: kind | table | key | stored |
-- expected, kind being
--   missing  a row that the raw rows call for is absent
--   extra    a row that the raw rows do not call for
--   differs  a compared column differs
-- with the compared columns of both sides as a row literal. Keys:
-- "transaction_id rule" (fraud_alerts), "product_id/warehouse"
-- (inventory_levels), "product_id/warehouse event_id" (inventory_alerts).
-- Not compared: ids, detected_at and updated_at.
--
-- What is recomputed, as stream/alerts.h and sql/alerts.sql define it:
--   fraud_alerts      every (transaction, rule) that fires, with user_id,
--                     severity, event_time and details (all of it is
--                     deterministic from the raw rows): velocity (the
--                     user's transactions U with T.event_time - window <=
--                     U.event_time and (U.event_time, U.transaction_id) <=
--                     (T.event_time, T.transaction_id) number more than
--                     velocity_count; details as the count is now, since a
--                     count only grows and the stored details follow it),
--                     high_value, amount_mismatch, quantity_spike. A
--                     transaction_id held by two raw rows (two event
--                     times) has one alert per rule: it is compared with
--                     the raw row of its event_time, and missing only when
--                     no row of that id has it.
--   inventory_levels  per (product, warehouse), the last update that became
--                     the current level: an update does when its
--                     (event_time, kafka_partition, kafka_offset) is above
--                     that of every update of the key that arrived before
--                     it; stock_state by the threshold now in force.
--   inventory_alerts  every change of low (stock < threshold) between
--                     consecutive current levels of a key, a key never seen
--                     starting not low; previous_stock NULL for the first.
-- Arrival order is commit order across batches and (kafka_partition,
-- kafka_offset) within one: (ingested_at, kafka_partition, kafka_offset)
-- here, ingested_at being the flush transaction's now(). (Offsets alone
-- would be wrong after a Kafka cluster reset, when offsets start over.)
-- Thresholds are those of inventory_thresholds now: a row changed since a
-- level or alert was set makes it differ.
--
-- Variables, for an ecom-stream run with other settings than its
-- defaults: velocity_count (5, --fraud-velocity-count),
-- velocity_window_ms (60000, --fraud-velocity-window in ms),
-- high_value_cents (500000, --fraud-high-value in cents), max_quantity
-- (10, --fraud-max-quantity), low_stock (20, --low-stock-threshold).

\set QUIET 1
\pset tuples_only on
\pset format unaligned
\if :{?velocity_count}
\else
\set velocity_count 5
\endif
\if :{?velocity_window_ms}
\else
\set velocity_window_ms 60000
\endif
\if :{?high_value_cents}
\else
\set high_value_cents 500000
\endif
\if :{?max_quantity}
\else
\set max_quantity 10
\endif
\if :{?low_stock}
\else
\set low_stock 20
\endif

WITH
p AS (
    SELECT (:'velocity_count')::integer AS vn,
           (:'velocity_window_ms')::bigint AS vms,
           (:'high_value_cents')::bigint AS hv,
           (:'max_quantity')::integer AS mq,
           (:'low_stock')::integer AS low),
-- velocity: the frame counts every transaction of the user from
-- event_time - window to event_time, all of T's ties included; the ties
-- ordered after T by transaction_id are taken off again
vw AS (
    SELECT t.transaction_id, t.user_id, t.event_time,
           count(*) OVER w - (count(*) OVER ties
                              - row_number() OVER (PARTITION BY t.user_id, t.event_time
                                                   ORDER BY t.transaction_id)) AS n,
           min(t.event_time) OVER w AS first_time
      FROM transactions AS t
     WHERE t.user_id IS NOT NULL
    WINDOW w AS (PARTITION BY t.user_id ORDER BY t.event_time
                 RANGE BETWEEN (:'velocity_window_ms')::bigint * interval '1 millisecond' PRECEDING
                           AND CURRENT ROW),
           ties AS (PARTITION BY t.user_id, t.event_time)),
items AS (
    SELECT i.transaction_id, i.event_time, sum(i.item_total) AS total
      FROM transaction_items AS i
     GROUP BY 1, 2),
spikes AS (
    SELECT i.transaction_id, i.event_time, max(i.quantity) AS max_quantity,
           jsonb_agg(jsonb_build_object('line_no', i.line_no, 'product_id', i.product_id,
                                        'quantity', i.quantity) ORDER BY i.line_no) AS lines
      FROM transaction_items AS i, p
     WHERE i.quantity > p.mq
     GROUP BY 1, 2),
ef AS (
    SELECT v.transaction_id, v.event_time, 'velocity' AS rule, v.user_id, 'high' AS severity,
           jsonb_build_object('count', v.n, 'max_count', p.vn,
                              'window_seconds', trim_scale(p.vms / 1000.0),
                              'first_event_time',
                              to_char(v.first_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                              'span_seconds', trim_scale(extract(epoch FROM v.event_time - v.first_time)))
               AS details
      FROM vw AS v, p
     WHERE v.n > p.vn
    UNION ALL
    SELECT t.transaction_id, t.event_time, 'high_value', t.user_id, 'medium',
           jsonb_build_object('total_amount', t.total_amount, 'threshold', round(p.hv / 100.0, 2))
      FROM transactions AS t, p
     WHERE t.total_amount > p.hv / 100.0
    UNION ALL
    SELECT t.transaction_id, t.event_time, 'amount_mismatch', t.user_id, 'high',
           jsonb_build_object('total_amount', t.total_amount, 'items_total', x.total,
                              'tax_amount', t.tax_amount, 'shipping_cost', t.shipping_cost,
                              'expected_total', x.total + t.tax_amount + t.shipping_cost,
                              'difference', t.total_amount - (x.total + t.tax_amount + t.shipping_cost))
      FROM transactions AS t
      LEFT JOIN items AS i ON i.transaction_id = t.transaction_id AND i.event_time = t.event_time
     CROSS JOIN LATERAL (SELECT coalesce(i.total, 0) AS total) AS x
     WHERE NOT t.totals_match
    UNION ALL
    SELECT t.transaction_id, t.event_time, 'quantity_spike', t.user_id, 'low',
           jsonb_build_object('threshold', p.mq, 'max_quantity', s.max_quantity, 'lines', s.lines)
      FROM transactions AS t
      JOIN spikes AS s ON s.transaction_id = t.transaction_id AND s.event_time = t.event_time,
           p),
efr AS (
    SELECT ef.transaction_id, ef.event_time, ef.rule,
           ROW(ef.user_id, ef.severity, ef.event_time, ef.details) AS r
      FROM ef),
sfr AS (
    SELECT f.transaction_id, f.event_time, f.rule,
           ROW(f.user_id, f.severity, f.event_time, f.details) AS r
      FROM fraud_alerts AS f),
d_fraud AS (
    SELECT CASE WHEN e.transaction_id IS NULL THEN 'extra' ELSE 'differs' END AS kind,
           'fraud_alerts' AS tbl, s.transaction_id || ' ' || s.rule AS key,
           s.r::text AS stored, e.r::text AS expected
      FROM sfr AS s
      LEFT JOIN efr AS e
        ON e.transaction_id = s.transaction_id AND e.rule = s.rule AND e.event_time = s.event_time
     WHERE e.r IS DISTINCT FROM s.r
    UNION ALL
    SELECT * FROM (
        SELECT DISTINCT ON (e.transaction_id, e.rule)
               'missing', 'fraud_alerts', e.transaction_id || ' ' || e.rule, NULL, e.r::text
          FROM efr AS e
         WHERE NOT EXISTS (SELECT 1 FROM fraud_alerts AS f
                            WHERE f.transaction_id = e.transaction_id AND f.rule = e.rule)
         ORDER BY e.transaction_id, e.rule, e.event_time) AS m),
-- inventory: each update in its key's arrival order with the greatest
-- order key of those that arrived before it; it became the current level
-- when its own is above that
iu AS (
    SELECT u.event_id, u.event_time, u.product_id, u.warehouse_location, u.current_stock,
           u.kafka_partition, u.kafka_offset,
           coalesce(u.ingested_at, '-infinity') AS arrived,
           ARRAY[extract(epoch FROM u.event_time), coalesce(u.kafka_partition, -1),
                 coalesce(u.kafka_offset, -1)]::numeric[] AS k
      FROM inventory_updates AS u
     WHERE u.product_id IS NOT NULL AND u.warehouse_location IS NOT NULL
       AND u.current_stock IS NOT NULL),
ia AS (
    SELECT iu.*,
           max(iu.k) OVER (PARTITION BY iu.product_id, iu.warehouse_location
                           ORDER BY iu.arrived, coalesce(iu.kafka_partition, -1),
                                    coalesce(iu.kafka_offset, -1), iu.event_time, iu.event_id
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
      FROM iu),
cur AS (
    SELECT ia.*, coalesce(th.threshold, p.low) AS threshold,
           ia.current_stock < coalesce(th.threshold, p.low) AS low
      FROM ia
      LEFT JOIN inventory_thresholds AS th ON th.product_id = ia.product_id
     CROSS JOIN p
     WHERE ia.before IS NULL OR ia.k > ia.before),
seq AS (
    SELECT c.*,
           coalesce(lag(c.low) OVER w, false) AS was_low,
           lag(c.current_stock) OVER w AS previous_stock,
           lead(c.event_id) OVER w IS NULL AS last
      FROM cur AS c
    WINDOW w AS (PARTITION BY c.product_id, c.warehouse_location
                 ORDER BY c.arrived, coalesce(c.kafka_partition, -1), coalesce(c.kafka_offset, -1),
                          c.event_time, c.event_id)),
d_levels AS (
    SELECT CASE WHEN s.product_id IS NULL THEN 'missing'
                WHEN e.product_id IS NULL THEN 'extra' ELSE 'differs' END,
           'inventory_levels', coalesce(s.product_id, e.product_id) || '/'
                               || coalesce(s.warehouse_location, e.warehouse_location),
           s.r::text, e.r::text
      FROM (SELECT l.product_id, l.warehouse_location,
                   ROW(l.current_stock, l.event_time, l.event_id, l.kafka_partition, l.kafka_offset,
                       l.stock_state) AS r
              FROM inventory_levels AS l) AS s
      FULL JOIN (SELECT q.product_id, q.warehouse_location,
                        ROW(q.current_stock, q.event_time, q.event_id, q.kafka_partition,
                            q.kafka_offset, CASE WHEN q.low THEN 'low' ELSE 'ok' END) AS r
                   FROM seq AS q WHERE q.last) AS e
        ON e.product_id = s.product_id AND e.warehouse_location = s.warehouse_location
     WHERE s.r IS DISTINCT FROM e.r),
d_inv_alerts AS (
    SELECT CASE WHEN s.event_id IS NULL THEN 'missing'
                WHEN e.event_id IS NULL THEN 'extra' ELSE 'differs' END,
           'inventory_alerts', coalesce(s.product_id, e.product_id) || '/'
                               || coalesce(s.warehouse_location, e.warehouse_location) || ' '
                               || coalesce(s.event_id, e.event_id),
           s.r::text, e.r::text
      FROM (SELECT a.event_id, a.event_time, a.product_id, a.warehouse_location,
                   ROW(a.product_id, a.warehouse_location, a.current_stock, a.previous_stock,
                       a.threshold, a.state, a.event_time, a.kafka_partition, a.kafka_offset) AS r
              FROM inventory_alerts AS a) AS s
      FULL JOIN (SELECT q.event_id, q.event_time, q.product_id, q.warehouse_location,
                        ROW(q.product_id, q.warehouse_location, q.current_stock, q.previous_stock,
                            q.threshold, CASE WHEN q.low THEN 'low' ELSE 'restored' END,
                            q.event_time, q.kafka_partition, q.kafka_offset) AS r
                   FROM seq AS q WHERE q.low <> q.was_low) AS e
        ON e.event_id = s.event_id AND e.event_time = s.event_time
     WHERE s.r IS DISTINCT FROM e.r)
SELECT * FROM d_fraud
UNION ALL SELECT * FROM d_levels
UNION ALL SELECT * FROM d_inv_alerts
ORDER BY 2, 3, 1;
