-- sql/alerts.sql - the tables of ecom-stream's fraud rules and inventory
-- state (issue 9), written by stream/alerts.c inside the flush transaction.
--
-- Owns fraud_alerts, inventory_levels, inventory_alerts and
-- inventory_thresholds. Applied after sql/init.sql (whose raw tables it
-- reads and whose index transactions_user_id_idx the velocity rule uses);
-- it does not touch the raw tables' columns (the rules read every stored
-- row, late ones included, so they need no "late" column).
--
-- Idempotent, re-applied on every start, also while ecom-stream runs:
-- CREATE TABLE IF NOT EXISTS takes no lock on an existing table, and
-- indexes are created only when missing (CREATE INDEX IF NOT EXISTS would
-- take a SHARE lock before noticing, and so wait for open flushes).
--
-- Exactly once: every row here is written in the transaction that stores
-- the raw rows it derives from and moves the Kafka offsets (see
-- stream/alerts.h), computed from the rows newly stored by it; a crash
-- rolls both back together.

BEGIN;

SET LOCAL search_path = public;
-- Quiet re-applies ("relation ... already exists, skipping").
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- fraud_alerts: one row per (transaction, rule) that fired. Rules, their
-- default thresholds (ecom-stream flags) and severities:
--
--   velocity        high    more than 5 (--fraud-velocity-count) stored
--                           transactions of one user within 60 s
--                           (--fraud-velocity-window) of event time.
--                           Transactions are ordered by (event_time,
--                           transaction_id); T is flagged when the user's
--                           transactions U with
--                             T.event_time - 60 s <= U.event_time and
--                             (U.event_time, U.transaction_id) <=
--                             (T.event_time, T.transaction_id)
--                           (T itself included; both ends of the span
--                           inclusive, so a span of exactly 60 s counts)
--                           number more than 5: every transaction after the
--                           5th in a span is flagged, also among equal
--                           timestamps. The set depends only on the stored
--                           rows, never on their arrival order or batching
--                           (replay == live): each batch evaluates its new
--                           transactions and the user's stored ones up to
--                           60 s after each of them, which an earlier,
--                           late-arriving transaction can push over the
--                           limit. Counts only grow, so an alert is never
--                           retracted; its details follow the count.
--                           details: {"count", "max_count", "window_seconds",
--                           "first_event_time", "span_seconds"}: the
--                           transactions in T's span, the limit, the span
--                           length configured, the first of them and the
--                           seconds from it to T.
--   high_value      medium  total_amount above 5000.00 (--fraud-high-value;
--                           5000.00 itself does not fire).
--                           details: {"total_amount", "threshold"}.
--   amount_mismatch high    totals_match false: total_amount differs from
--                           the sum of item_total + tax + shipping (the row
--                           is stored all the same).
--                           details: {"total_amount", "items_total",
--                           "tax_amount", "shipping_cost", "expected_total",
--                           "difference"} (difference = total - expected).
--   quantity_spike  low     a line item with quantity above 10
--                           (--fraud-max-quantity). One alert per
--                           transaction whatever the number of such lines.
--                           details: {"threshold", "max_quantity", "lines":
--                           [{"line_no", "product_id", "quantity"}, ...]}
--                           (the lines above the threshold, by line_no).
--
-- Timestamps inside details are UTC text with milliseconds
-- (2024-05-01T12:00:00.000Z), whatever the session's time zone.
-- The unique key makes a second insert of the same alert a no-op (replays,
-- restarts, two instances). Two raw transactions sharing a transaction_id
-- (but not an event_time: two raw rows) get one alert per rule, for the
-- earlier one of a batch.
-- detected_at: the flush transaction's start; updated_at: when the details
-- last changed (a velocity count that grew).
CREATE TABLE IF NOT EXISTS fraud_alerts (
    alert_id       bigserial PRIMARY KEY,
    transaction_id uuid        NOT NULL,
    user_id        text,
    rule           text        NOT NULL
        CHECK (rule IN ('velocity', 'high_value', 'amount_mismatch', 'quantity_spike')),
    severity       text        NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    details        jsonb       NOT NULL,
    event_time     timestamptz NOT NULL, -- the transaction's
    detected_at    timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (transaction_id, rule)
);

-- ---------------------------------------------------------------------------
-- inventory_thresholds: optional per-product low-stock thresholds; a
-- product without a row uses the default (20, --low-stock-threshold). Read
-- at each update, so a change applies from the product's next update (a
-- level does not change state until then).
CREATE TABLE IF NOT EXISTS inventory_thresholds (
    product_id text    PRIMARY KEY,
    threshold  integer NOT NULL CHECK (threshold >= 0)
);

-- ---------------------------------------------------------------------------
-- inventory_levels: the current stock per (product, warehouse), the
-- latest update by event time. Updates are ordered by the key
--   (event_time, kafka_partition, kafka_offset)
-- (a missing partition or offset as -1): at equal event times the later
-- offset of the partition wins (offsets of two partitions say nothing
-- about their order; the partition number only makes the key total). An
-- update becomes the current level only when its key is above the key of
-- every update of the same (product, warehouse) that arrived before it,
-- the stored level included; otherwise it is stale and changes nothing.
-- Arrival order is commit order across batches and (kafka_partition,
-- kafka_offset) within one; a product's updates share a Kafka partition
-- (the message key is product_id), so this is the partition's own order
-- and the same live and in a replay, however the partition is cut into
-- batches. (Ordering by event time inside each batch instead would make
-- the alerts depend on where batches are cut: an update that arrives
-- after a later one is stale live, but not when both share a batch.)
-- stock_state is the alert state of the level: 'low' when current_stock <
-- the threshold in force when it was set, 'ok' otherwise. A key never seen
-- is 'ok'.
-- event_id, kafka_partition, kafka_offset: the update that set the level.
CREATE TABLE IF NOT EXISTS inventory_levels (
    product_id         text        NOT NULL,
    warehouse_location text        NOT NULL,
    current_stock      integer     NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    event_time         timestamptz NOT NULL,
    event_id           uuid        NOT NULL,
    kafka_partition    integer,
    kafka_offset       bigint,
    stock_state        text        NOT NULL DEFAULT 'ok' CHECK (stock_state IN ('ok', 'low')),
    PRIMARY KEY (product_id, warehouse_location)
);

-- ---------------------------------------------------------------------------
-- inventory_alerts: one row per change of a level's stock_state, made by
-- the update (event_id, event_time) that became the current level:
-- 'low' when the stock goes below the threshold (ok -> low), 'restored'
-- when it comes back to or above it (low -> ok). Staying low fires
-- nothing; the first update of a key never seen fires 'low' when below.
-- Stale updates fire nothing. Several crossings of one key in one batch
-- each get their row, in event-time order (the updates that become
-- current have increasing keys). previous_stock: the level before (NULL
-- for a key never seen); threshold: the one in force.
CREATE TABLE IF NOT EXISTS inventory_alerts (
    alert_id           bigserial PRIMARY KEY,
    product_id         text        NOT NULL,
    warehouse_location text        NOT NULL,
    current_stock      integer     NOT NULL,
    previous_stock     integer,
    threshold          integer     NOT NULL,
    state              text        NOT NULL CHECK (state IN ('low', 'restored')),
    event_time         timestamptz NOT NULL,
    event_id           uuid        NOT NULL,
    kafka_partition    integer,
    kafka_offset       bigint,
    detected_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, event_time)
);

-- Indexes, created only when missing (see the top). The velocity rule's
-- lookups use init.sql's transactions_user_id_idx (user_id, event_time);
-- it is created here too for a database whose init.sql predates it. For
-- readers, few on purpose (alerts are written in the flush, and a burst
-- of them is as large as the batch): fraud alerts by event time (a user's
-- are found through transactions_user_id_idx and the unique key), a
-- level's alert history by key; alert_id grows with detection, so the
-- latest alerts are ORDER BY alert_id DESC.
DO $$
DECLARE
    ix text[];
BEGIN
    FOREACH ix SLICE 1 IN ARRAY ARRAY[
        ['transactions_user_id_idx',
         'CREATE INDEX transactions_user_id_idx ON transactions (user_id, event_time)'],
        ['fraud_alerts_event_time_idx',
         'CREATE INDEX fraud_alerts_event_time_idx ON fraud_alerts (event_time)'],
        ['inventory_alerts_key_idx',
         'CREATE INDEX inventory_alerts_key_idx ON inventory_alerts (product_id, warehouse_location, event_time)']
    ] LOOP
        IF to_regclass(ix[1]) IS NULL THEN
            EXECUTE ix[2];
        END IF;
    END LOOP;
END
$$;

COMMIT;
