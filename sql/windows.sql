-- sql/windows.sql - the event-time window tables of ecom-stream's analytics
-- (issue 9), applied after sql/init.sql; stream/windows.c writes them.
--
-- Owns: product_window_metrics, category_window_metrics,
-- traffic_window_metrics, trending_products (the contract other tools
-- read: columns may be added, not renamed), the exact distinct-count sets
-- window_users and window_sessions, and these columns of init.sql's tables:
--   user_events.late, transactions.late, inventory_updates.late
--       true for an event ecom-stream judged late (stored raw, counted in
--       traffic_window_metrics.late_events of its own window, in no other
--       figure); a transaction's items are late when it is
--   stream_offsets.max_event_time, stream_offsets.watermark
--       per partition, the largest event time seen up to next_offset and
--       the partition's effective watermark; windows with window_end <=
--       min(watermark) over the consumer group's rows become final (a NULL
--       watermark holds every window open, and so does a partition of the
--       subscribed topics without a row yet)
--   products.catalog_event_time
--       event time of the user event that last changed the product's name
--       or category (NULL: as seeded); an older event never changes it back
--
-- Windows are tumbling, aligned to the epoch: window_start =
-- date_bin(window, event_time, timestamptz 'epoch'), window_end =
-- window_start + window (30 s by default; stream/windows.h says the rest).
--
-- Idempotent and re-applied on every start, while ecom-stream may run:
-- tables with CREATE TABLE IF NOT EXISTS, columns and indexes only after a
-- catalog check, so re-applying takes no lock on tables that have them.

BEGIN;

SET LOCAL search_path = public;
SET LOCAL client_min_messages = warning;

-- Columns on init.sql's tables. ADD COLUMN with a constant default is
-- metadata only (no rewrite), but takes an ACCESS EXCLUSIVE lock: hence
-- the checks first.
DO $$
DECLARE
    col text[];
BEGIN
    FOREACH col SLICE 1 IN ARRAY ARRAY[
        ['user_events', 'late',
         'ALTER TABLE user_events ADD COLUMN IF NOT EXISTS late boolean NOT NULL DEFAULT false'],
        ['transactions', 'late',
         'ALTER TABLE transactions ADD COLUMN IF NOT EXISTS late boolean NOT NULL DEFAULT false'],
        ['inventory_updates', 'late',
         'ALTER TABLE inventory_updates ADD COLUMN IF NOT EXISTS late boolean NOT NULL DEFAULT false'],
        ['stream_offsets', 'max_event_time',
         'ALTER TABLE stream_offsets ADD COLUMN IF NOT EXISTS max_event_time timestamptz'],
        ['stream_offsets', 'watermark',
         'ALTER TABLE stream_offsets ADD COLUMN IF NOT EXISTS watermark timestamptz'],
        ['products', 'catalog_event_time',
         'ALTER TABLE products ADD COLUMN IF NOT EXISTS catalog_event_time timestamptz']
    ] LOOP
        IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = 'public' AND table_name = col[1]
                         AND column_name = col[2]) THEN
            EXECUTE col[3];
        END IF;
    END LOOP;
END
$$;

-- One row per (window, product) with an on-time view, add_to_cart or
-- purchased item. category is the catalog's category of the product when
-- its row was created (the catalog as updated by that batch's own user
-- events) and never changes afterwards: all of the product's figures in
-- the window count for that one category in category_window_metrics, so a
-- category's views, add_to_carts, units_sold and revenue are the sums of
-- its products' rows. NULL when the catalog does not know the product (an
-- item of a product no user event ever showed and init.sql did not seed):
-- such rows count in no category. orders: transactions holding the product
-- (several lines of it count once); units_sold: sum(quantity); revenue:
-- sum(item_total), in the window of the transaction's event time.
CREATE TABLE IF NOT EXISTS product_window_metrics (
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    product_id   text        NOT NULL,
    category     text,
    views        bigint      NOT NULL DEFAULT 0,
    add_to_carts bigint      NOT NULL DEFAULT 0,
    orders       bigint      NOT NULL DEFAULT 0,
    units_sold   bigint      NOT NULL DEFAULT 0,
    revenue      numeric(20,2) NOT NULL DEFAULT 0,
    is_final     boolean     NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (window_start, product_id)
);

-- One row per (window, category) with a product row of that category.
-- orders: transactions holding at least one product of the category;
-- conversion_rate = round(orders / views, 6), NULL when views = 0,
-- recomputed from the accumulated columns on every upsert.
CREATE TABLE IF NOT EXISTS category_window_metrics (
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    category        text        NOT NULL,
    views           bigint      NOT NULL DEFAULT 0,
    add_to_carts    bigint      NOT NULL DEFAULT 0,
    orders          bigint      NOT NULL DEFAULT 0,
    units_sold      bigint      NOT NULL DEFAULT 0,
    revenue         numeric(20,2) NOT NULL DEFAULT 0,
    conversion_rate numeric,
    is_final        boolean     NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (window_start, category)
);

-- One row per window with any event (on time or late), and, once the
-- stream has started (its first window with an on-time event), a row of
-- zeros for every window without events when it becomes final (at most
-- windows_conf_t.fill_windows of them per finalisation, the newest).
-- user_events = product_views + add_to_carts + searches; transactions,
-- inventory_updates and revenue (sum of total_amount) from on-time rows.
-- active_users: distinct user_id of the window's on-time user events and
-- transactions; active_sessions: distinct session_id of its on-time user
-- events; both exact (window_users, window_sessions below).
-- late_events: late rows of user_events, transactions and
-- inventory_updates whose event time falls in this window; the one column
-- that can still grow after is_final (a late event comes after its window
-- closed, by definition).
-- anomaly_score, set when the window becomes final: the z-score of
-- user_events against the trailing anomaly_windows windows before it
-- (windows without a row count as 0), (x - mean) / stddev_samp, rounded
-- to 6 decimals; NULL while the stream started less than anomaly_windows
-- windows before, and when the trailing windows all had the same count
-- (stddev 0). is_anomaly: |z| > anomaly_z (false when the score is NULL).
CREATE TABLE IF NOT EXISTS traffic_window_metrics (
    window_start      timestamptz NOT NULL PRIMARY KEY,
    window_end        timestamptz NOT NULL,
    user_events       bigint      NOT NULL DEFAULT 0,
    product_views     bigint      NOT NULL DEFAULT 0,
    add_to_carts      bigint      NOT NULL DEFAULT 0,
    searches          bigint      NOT NULL DEFAULT 0,
    transactions      bigint      NOT NULL DEFAULT 0,
    inventory_updates bigint      NOT NULL DEFAULT 0,
    active_users      bigint      NOT NULL DEFAULT 0,
    active_sessions   bigint      NOT NULL DEFAULT 0,
    revenue           numeric(20,2) NOT NULL DEFAULT 0,
    late_events       bigint      NOT NULL DEFAULT 0,
    anomaly_score     numeric,
    is_anomaly        boolean     NOT NULL DEFAULT false,
    is_final          boolean     NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Written once, when the tumbling window ending at window_end becomes
-- final: per category the top trending_n products by views (ties: the
-- smaller product_id first) summed over the product rows of the windows
-- inside [span_start, window_end), span_start = window_end - trending_span.
-- Only products with views in the span are ranked; a category without
-- views there has no rows. rank starts at 1.
CREATE TABLE IF NOT EXISTS trending_products (
    window_end   timestamptz NOT NULL,
    category     text        NOT NULL,
    rank         integer     NOT NULL,
    product_id   text        NOT NULL,
    views        bigint      NOT NULL,
    add_to_carts bigint      NOT NULL,
    orders       bigint      NOT NULL,
    units_sold   bigint      NOT NULL,
    revenue      numeric(20,2) NOT NULL,
    span_start   timestamptz NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (window_end, category, rank)
);

-- The members already counted in active_users / active_sessions, so that
-- counts stay exact across batches, restarts and instances: a batch adds
-- the members its INSERT ... ON CONFLICT DO NOTHING actually inserted.
-- Rows of a window are deleted once it has been final for
-- windows_conf_t.keep_sets_ms (so the state is bounded).
CREATE TABLE IF NOT EXISTS window_users (
    window_start timestamptz NOT NULL,
    user_id      text        NOT NULL,
    PRIMARY KEY (window_start, user_id)
);

CREATE TABLE IF NOT EXISTS window_sessions (
    window_start timestamptz NOT NULL,
    session_id   text        NOT NULL,
    PRIMARY KEY (window_start, session_id)
);

-- Partial indexes on the open windows: finalisation finds them without
-- reading the final ones (CREATE INDEX IF NOT EXISTS would lock the table
-- first, hence the check).
DO $$
DECLARE
    ix text[];
BEGIN
    FOREACH ix SLICE 1 IN ARRAY ARRAY[
        ['product_window_metrics_open_idx',
         'CREATE INDEX product_window_metrics_open_idx ON product_window_metrics (window_end) WHERE NOT is_final'],
        ['category_window_metrics_open_idx',
         'CREATE INDEX category_window_metrics_open_idx ON category_window_metrics (window_end) WHERE NOT is_final'],
        ['traffic_window_metrics_open_idx',
         'CREATE INDEX traffic_window_metrics_open_idx ON traffic_window_metrics (window_end) WHERE NOT is_final']
    ] LOOP
        IF to_regclass(ix[1]) IS NULL THEN
            EXECUTE ix[2];
        END IF;
    END LOOP;
END
$$;

COMMIT;
