-- sql/batch.sql - the tables ecom-batch (batch/) writes, and the retention
-- function behind its archive-raw --drop-before.
--
-- Apply after init.sql (it reads the raw tables). Idempotent, as init.sql:
-- CREATE ... IF NOT EXISTS and CREATE OR REPLACE only.
--
-- Each aggregate table holds one row per period and key; ecom-batch
-- replaces a period's rows as a whole (DELETE then INSERT, one
-- transaction), so a re-run or an overlapping backfill leaves the same rows.
-- Periods are UTC. The statements that fill them live in batch/jobs.c.

BEGIN;

SET LOCAL search_path = public;

-- hourly-sales: per UTC hour and product category (from the catalog by the
-- item's product_id; 'Unknown' for a product the catalog lacks).
CREATE TABLE IF NOT EXISTS hourly_sales_by_category (
    hour            timestamptz   NOT NULL,
    category        text          NOT NULL,
    orders          integer       NOT NULL, -- transactions with an item of the category
    units           bigint        NOT NULL, -- sum of the items' quantity
    revenue         numeric(16,2) NOT NULL, -- sum of the items' item_total
    avg_order_value numeric(16,2) NOT NULL, -- revenue / orders
    distinct_buyers integer       NOT NULL,
    computed_at     timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (hour, category)
);

-- daily-engagement: per UTC day. Active users: users with a user event or a
-- transaction that day; new users: active users with none before that day;
-- purchases: transactions. Rates are NULL when their denominator is 0.
CREATE TABLE IF NOT EXISTS daily_user_engagement (
    day                   date         PRIMARY KEY,
    active_users          integer      NOT NULL,
    new_users             integer      NOT NULL,
    returning_users       integer      NOT NULL,
    sessions              integer      NOT NULL, -- distinct session_id
    events                bigint       NOT NULL, -- user events
    events_per_session    numeric(12,2),
    product_views         bigint       NOT NULL,
    add_to_carts          bigint       NOT NULL,
    searches              bigint       NOT NULL,
    purchases             bigint       NOT NULL,
    view_to_cart_rate     numeric(8,4),         -- add_to_carts / product_views
    cart_to_purchase_rate numeric(8,4),         -- purchases / add_to_carts
    computed_at           timestamptz  NOT NULL DEFAULT now()
);

-- weekly-inventory-turnover: per ISO week (Monday 00:00 UTC), product and
-- warehouse, from inventory updates. The stock level is a step function:
-- the last level reported before the week, then each update's
-- current_stock. avg_stock weighs each level by how long it held within the
-- week (up to the week's end, or now for a week not yet over), over the
-- part of the week whose level is known. units_sold: the sum of the
-- decreases (-stock_change where negative); stock_outs: updates reporting a
-- current_stock of 0 or less. turnover_ratio = units_sold / avg_stock;
-- days_of_cover = avg_stock / (units_sold per day of known level); both
-- NULL when undefined.
CREATE TABLE IF NOT EXISTS weekly_inventory_turnover (
    week_start         date          NOT NULL,
    product_id         text          NOT NULL,
    warehouse_location text          NOT NULL,
    updates            integer       NOT NULL,
    units_sold         bigint        NOT NULL,
    avg_stock          numeric(14,2) NOT NULL,
    turnover_ratio     numeric(12,4),
    days_of_cover      numeric(12,2),
    stock_outs         integer       NOT NULL,
    computed_at        timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (week_start, product_id, warehouse_location)
);

-- monthly-cohorts: a user's cohort is the UTC month of their first stored
-- transaction. A run for month M writes one row per cohort that bought in
-- M: months_since = M - cohort, active_buyers = its users with a
-- transaction in M, retention_rate = active_buyers / cohort_size, revenue =
-- their total_amount in M.
CREATE TABLE IF NOT EXISTS monthly_cohort_retention (
    cohort_month   date          NOT NULL,
    months_since   integer       NOT NULL CHECK (months_since >= 0),
    activity_month date          NOT NULL,
    cohort_size    integer       NOT NULL,
    active_buyers  integer       NOT NULL,
    retention_rate numeric(8,4)  NOT NULL,
    revenue        numeric(16,2) NOT NULL,
    computed_at    timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (cohort_month, months_since)
);
CREATE INDEX IF NOT EXISTS monthly_cohort_retention_activity_idx
    ON monthly_cohort_retention (activity_month);

-- Every run of a job for one period: what it wrote or why it failed.
CREATE TABLE IF NOT EXISTS batch_runs (
    run_id       bigserial   PRIMARY KEY,
    job          text        NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    rows_written bigint,
    duration_ms  bigint      NOT NULL,
    status       text        NOT NULL CHECK (status IN ('success', 'failed')),
    error        text,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS batch_runs_job_period_idx ON batch_runs (job, period_start);

-- What archive-raw put in the lake: one row per topic and UTC hour, with
-- the rows (and, for transactions, line items) the file holds. The file is
-- in place before its row commits, so a row here means the file is whole.
CREATE TABLE IF NOT EXISTS lake_archives (
    topic       text        NOT NULL CHECK (topic IN ('user-events', 'transactions', 'inventory-updates')),
    hour        timestamptz NOT NULL,
    rows        bigint      NOT NULL,
    items       bigint,     -- transactions only: their transaction_items rows
    bytes       bigint      NOT NULL,
    path        text        NOT NULL, -- relative to the lake's root
    archived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, hour)
);

-- ecom_drop_archived_day(day): drops the daily partitions of day (the four
-- raw tables' <table>_pYYYYMMDD), but only when every one of its 24 hours is
-- in lake_archives for each topic with exactly the rows (and items) the
-- partitions hold now; otherwise raises an error naming the first hour that
-- is not, and drops nothing. Returns the number of partitions dropped (0
-- when the day has none).
--
-- Locks: dropping a partition takes an ACCESS EXCLUSIVE lock on its parent,
-- so the four parents are locked up front, in the order ecom-stream writes
-- them (no deadlock with its flushes), and held while the rows are counted:
-- no row can reach the day between the count and the drop. ecom-stream's
-- flushes wait meanwhile; lock_timeout (10 s) bounds the wait for its open
-- transactions.
CREATE OR REPLACE FUNCTION ecom_drop_archived_day(day date)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    parents constant text[] := ARRAY['user_events', 'transactions',
                                     'transaction_items', 'inventory_updates'];
    parent  text;
    part    text;
    bad     record;
    lo      timestamptz := day::timestamp AT TIME ZONE 'UTC';
    dropped integer := 0;
BEGIN
    IF day IS NULL THEN
        RAISE EXCEPTION 'ecom_drop_archived_day: day must not be null';
    END IF;
    SET LOCAL lock_timeout = '10s';
    FOREACH parent IN ARRAY parents LOOP
        EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', parent);
    END LOOP;

    CREATE TEMP TABLE IF NOT EXISTS ecom_drop_counts (
        topic text, hour timestamptz, n bigint, items bigint) ON COMMIT DROP;
    TRUNCATE ecom_drop_counts;
    FOREACH parent IN ARRAY ARRAY['user_events', 'transactions', 'inventory_updates'] LOOP
        part := parent || '_p' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(part) IS NULL;
        EXECUTE format('INSERT INTO ecom_drop_counts SELECT %L, date_trunc(''hour'', event_time, ''UTC''), count(*), NULL '
                       'FROM %I GROUP BY 2', replace(parent, '_', '-'), part);
    END LOOP;
    part := 'transaction_items_p' || to_char(day, 'YYYYMMDD');
    IF to_regclass(part) IS NOT NULL THEN
        EXECUTE format('UPDATE ecom_drop_counts c SET items = i.n FROM '
                       '(SELECT date_trunc(''hour'', event_time, ''UTC'') AS hour, count(*) AS n FROM %I GROUP BY 1) i '
                       'WHERE c.topic = ''transactions'' AND c.hour = i.hour', part);
    END IF;

    SELECT t.topic, h.hour, coalesce(c.n, 0) AS n, a.rows AS archived INTO bad
      FROM unnest(ARRAY['user-events', 'transactions', 'inventory-updates']) AS t(topic)
     CROSS JOIN generate_series(lo, lo + interval '23 hours', interval '1 hour') AS h(hour)
      LEFT JOIN ecom_drop_counts c ON c.topic = t.topic AND c.hour = h.hour
      LEFT JOIN lake_archives a ON a.topic = t.topic AND a.hour = h.hour
     WHERE a.rows IS NULL OR a.rows <> coalesce(c.n, 0)
        OR (t.topic = 'transactions' AND coalesce(a.items, 0) <> coalesce(c.items, 0))
     ORDER BY h.hour, t.topic -- the first hour, then topics alphabetically
     LIMIT 1;
    IF FOUND THEN
        IF bad.archived IS NULL THEN
            RAISE EXCEPTION 'refusing to drop %: hour % of % is not archived (% rows)',
                day, to_char(bad.hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'), bad.topic, bad.n
                USING HINT = 'run ecom-batch archive-raw --for ' || to_char(day, 'YYYY-MM-DD') || ' first';
        END IF;
        RAISE EXCEPTION 'refusing to drop %: hour % of % holds rows the archive lacks (archived % rows, % now, or its items differ)',
            day, to_char(bad.hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'), bad.topic, bad.archived, bad.n
            USING HINT = 'run ecom-batch archive-raw --for ' || to_char(day, 'YYYY-MM-DD') || ' again';
    END IF;

    FOREACH parent IN ARRAY parents LOOP
        part := parent || '_p' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(part) IS NULL;
        EXECUTE format('DROP TABLE %I', part);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$fn$;

COMMIT;
