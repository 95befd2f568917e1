-- sql/init.sql - ecom-pipeline database schema and seed data.
--
-- Owns the dimension tables the simulator draws from: warehouses, products,
-- product_stock (initial stock per product and warehouse) and users, all in
-- the default schema (public). The seed rows are the same catalog the C
-- simulator builds in memory (ecom-simulator --dump-catalog prints it, and a
-- test compares the two), so change both together or neither.
--
-- Idempotent: applied by the postgres container on first start and by
-- scripts/pg-local.sh on every start. Tables use CREATE TABLE IF NOT EXISTS and
-- seed rows use INSERT ... ON CONFLICT DO UPDATE, so reapplying it restores the
-- seed values without duplicating rows. Later issues extend this file with the
-- fact tables (events, transactions, aggregates) they own.
--
-- The stream processor's tables (second half of the file) are owned by
-- ecom-stream (stream/sink.c writes them): the raw tables user_events,
-- transactions, transaction_items and inventory_updates, partitioned by UTC
-- day, plus dead_letter_events, stream_offsets and stream_gaps. Re-applying
-- the file while ecom-stream runs is safe: existing tables and indexes are
-- skipped without taking locks on them.

BEGIN;

SET LOCAL search_path = public;

-- Warehouses, in simulator order: index 0 NYC, 1 LAX, 2 CHI, 3 MIA.
CREATE TABLE IF NOT EXISTS warehouses (
    code text PRIMARY KEY,
    city text NOT NULL
);

INSERT INTO warehouses (code, city) VALUES
    ('NYC', 'New York'),
    ('LAX', 'Los Angeles'),
    ('CHI', 'Chicago'),
    ('MIA', 'Miami')
ON CONFLICT (code) DO UPDATE SET city = EXCLUDED.city;

-- The product catalog (10 products, P001..P010).
CREATE TABLE IF NOT EXISTS products (
    product_id   text PRIMARY KEY,
    product_name text NOT NULL,
    category     text NOT NULL,
    price        numeric(12,2) NOT NULL CHECK (price >= 0),
    created_at   timestamptz DEFAULT now()
);

INSERT INTO products (product_id, product_name, category, price) VALUES
    ('P001', 'iPhone 15 Pro',               'Electronics',     999.99),
    ('P002', 'Samsung Galaxy S24',          'Electronics',     849.99),
    ('P003', 'MacBook Air M3',              'Electronics',    1299.00),
    ('P004', 'Sony WH-1000XM5 Headphones',  'Electronics',     399.99),
    ('P005', 'Nike Air Max 270',            'Footwear',        150.00),
    ('P006', 'Adidas Ultraboost 23',        'Footwear',        190.00),
    ('P007', 'Levi''s 501 Original Jeans',  'Clothing',         69.50),
    ('P008', 'The North Face Nuptse Jacket', 'Clothing',       320.00),
    ('P009', 'Instant Pot Duo 7-in-1',      'Home & Kitchen',   89.99),
    ('P010', 'Dyson V15 Detect Vacuum',     'Home & Kitchen',  749.99)
ON CONFLICT (product_id) DO UPDATE
    SET product_name = EXCLUDED.product_name,
        category     = EXCLUDED.category,
        price        = EXCLUDED.price;

-- Initial stock of product n (1..10) at warehouse index w (0..3):
--   40 + ((n * 37 + w * 23) % 11) * 10
CREATE TABLE IF NOT EXISTS product_stock (
    product_id         text REFERENCES products (product_id),
    warehouse_location text REFERENCES warehouses (code),
    initial_stock      integer NOT NULL CHECK (initial_stock >= 0),
    PRIMARY KEY (product_id, warehouse_location)
);

INSERT INTO product_stock (product_id, warehouse_location, initial_stock)
SELECT 'P' || lpad(n::text, 3, '0'),
       w.code,
       40 + ((n * 37 + w.idx * 23) % 11) * 10
FROM generate_series(1, 10) AS p(n)
CROSS JOIN (VALUES (0, 'NYC'), (1, 'LAX'), (2, 'CHI'), (3, 'MIA')) AS w(idx, code)
ON CONFLICT (product_id, warehouse_location) DO UPDATE
    SET initial_stock = EXCLUDED.initial_stock;

-- 1000 simulated users U0001..U1000. Every attribute comes from
--   x(i, k) = (i * 2654435761 + k * 40503) % 1000003   (bigint)
-- with k = 1 age, 2 gender, 3 city/country, 4 signup date, 5 segment.
CREATE TABLE IF NOT EXISTS users (
    user_id     text PRIMARY KEY,
    age         integer,
    gender      text,
    city        text,
    country     text,
    signup_date date,
    segment     text
);

INSERT INTO users (user_id, age, gender, city, country, signup_date, segment)
SELECT 'U' || lpad(i::text, 4, '0'),
       (18 + x1 % 58)::integer,
       CASE WHEN x2 % 100 < 48 THEN 'female'
            WHEN x2 % 100 < 96 THEN 'male'
            ELSE 'non_binary' END,
       (ARRAY['New York', 'Los Angeles', 'Chicago', 'London', 'Berlin',
              'Paris', 'Toronto', 'Sydney', 'Tokyo', 'Sao Paulo'])[x3 % 10 + 1],
       (ARRAY['US', 'US', 'US', 'GB', 'DE',
              'FR', 'CA', 'AU', 'JP', 'BR'])[x3 % 10 + 1],
       date '2023-01-01' + (x4 % 1000)::integer,
       CASE WHEN x5 % 100 < 25 THEN 'new'
            WHEN x5 % 100 < 80 THEN 'regular'
            WHEN x5 % 100 < 90 THEN 'vip'
            ELSE 'bargain_hunter' END
FROM (
    SELECT i,
           (i::bigint * 2654435761 + 1 * 40503) % 1000003 AS x1,
           (i::bigint * 2654435761 + 2 * 40503) % 1000003 AS x2,
           (i::bigint * 2654435761 + 3 * 40503) % 1000003 AS x3,
           (i::bigint * 2654435761 + 4 * 40503) % 1000003 AS x4,
           (i::bigint * 2654435761 + 5 * 40503) % 1000003 AS x5
    FROM generate_series(1, 1000) AS g(i)
) AS x
ON CONFLICT (user_id) DO UPDATE
    SET age         = EXCLUDED.age,
        gender      = EXCLUDED.gender,
        city        = EXCLUDED.city,
        country     = EXCLUDED.country,
        signup_date = EXCLUDED.signup_date,
        segment     = EXCLUDED.segment;

-- ===========================================================================
-- Stream processor (ecom-stream) tables.
--
-- Raw tables: one row per accepted Kafka message (transactions also get one
-- transaction_items row per line item), with the message's Kafka partition
-- and offset. They are partitioned by RANGE (event_time) into UTC days named
-- <table>_pYYYYMMDD, plus a DEFAULT partition <table>_default that catches
-- event times no daily partition covers (very old events, or a day whose
-- partition was not created in time). ecom_ensure_daily_partitions() below
-- creates the daily partitions; ecom-stream calls it on every (re)connect.
--
-- Dedup: PostgreSQL requires the partition key in every unique constraint of
-- a partitioned table, so the primary keys are (id, event_time) rather than
-- the id alone. A resend of the same event carries the same id and the same
-- timestamp, so INSERT ... ON CONFLICT DO NOTHING stores it once; two
-- messages that share an id but not a timestamp are two rows.
--
-- Only key columns are NOT NULL and there are no CHECKs on the raw tables:
-- ecom-stream validates messages (common/schema.c) before they get here, and
-- a rejected row would fail its whole batch over and over.
--
-- The COPY column order of each table is BATCH_COLS_* in stream/batch.h;
-- change the two together.
-- ===========================================================================

CREATE TABLE IF NOT EXISTS user_events (
    event_id        uuid        NOT NULL,
    user_id         text,
    event_type      text,
    event_time      timestamptz NOT NULL,
    product_id      text,
    product_name    text,
    category        text,
    price           numeric(12,2),
    search_query    text,
    session_id      text,
    ip_address      text,
    user_agent      text,
    kafka_partition integer,
    kafka_offset    bigint,
    ingested_at     timestamptz DEFAULT now(),
    -- event_time is part of the key because it is the partition key.
    PRIMARY KEY (event_id, event_time)
) PARTITION BY RANGE (event_time);

CREATE TABLE IF NOT EXISTS transactions (
    transaction_id   uuid        NOT NULL,
    user_id          text,
    event_time       timestamptz NOT NULL,
    payment_method   text,
    total_amount     numeric(14,2),
    tax_amount       numeric(14,2),
    shipping_cost    numeric(14,2),
    shipping_address jsonb,
    item_count       integer,
    -- false when total_amount <> sum(item_total) + tax_amount + shipping_cost
    totals_match     boolean     NOT NULL,
    kafka_partition  integer,
    kafka_offset     bigint,
    ingested_at      timestamptz DEFAULT now(),
    PRIMARY KEY (transaction_id, event_time)
) PARTITION BY RANGE (event_time);

-- Line items carry their transaction's event_time so that both land in the
-- same day and ecom-stream can insert exactly the items of the transactions
-- that were new (no foreign key: partitioned, and written together anyway).
CREATE TABLE IF NOT EXISTS transaction_items (
    transaction_id uuid        NOT NULL,
    line_no        integer     NOT NULL,
    event_time     timestamptz NOT NULL,
    product_id     text,
    product_name   text,
    price          numeric(12,2),
    quantity       integer,
    item_total     numeric(14,2),
    PRIMARY KEY (transaction_id, line_no, event_time)
) PARTITION BY RANGE (event_time);

CREATE TABLE IF NOT EXISTS inventory_updates (
    event_id           uuid        NOT NULL,
    product_id         text,
    product_name       text,
    stock_change       integer,
    current_stock      integer,
    warehouse_location text,
    event_time         timestamptz NOT NULL,
    kafka_partition    integer,
    kafka_offset       bigint,
    ingested_at        timestamptz DEFAULT now(),
    PRIMARY KEY (event_id, event_time)
) PARTITION BY RANGE (event_time);

CREATE TABLE IF NOT EXISTS user_events_default PARTITION OF user_events DEFAULT;
CREATE TABLE IF NOT EXISTS transactions_default PARTITION OF transactions DEFAULT;
CREATE TABLE IF NOT EXISTS transaction_items_default PARTITION OF transaction_items DEFAULT;
CREATE TABLE IF NOT EXISTS inventory_updates_default PARTITION OF inventory_updates DEFAULT;

-- Messages that failed validation, verbatim. payload_encoding (and
-- kafka_key_encoding for kafka_key) says how the bytes are held: 'utf8' as
-- they are; 'escape' when they are not valid UTF-8 or hold a NUL byte:
-- printable ASCII as is, backslash doubled, every other byte as \xNN; 'null'
-- for a message without a value (or key). payload_bytes is the size of the
-- message value in bytes (0 for none; NULL in rows stored before the
-- column existed). A message rejected for its size keeps only its first
-- 4096 bytes (cut back to a whole character when they are text), with
-- payload_truncated set; every other payload is kept whole. No
-- unique key: the offset fence of stream_offsets already writes each
-- message at most once.
CREATE TABLE IF NOT EXISTS dead_letter_events (
    id               bigserial PRIMARY KEY,
    consumer_group   text,
    topic            text NOT NULL,
    kafka_partition  integer,
    kafka_offset     bigint,
    kafka_key        text,
    kafka_key_encoding text NOT NULL CHECK (kafka_key_encoding IN ('utf8', 'escape', 'null')),
    payload          text,
    payload_encoding text NOT NULL CHECK (payload_encoding IN ('utf8', 'escape', 'null')),
    payload_bytes    bigint,
    payload_truncated boolean NOT NULL DEFAULT false,
    reason           text NOT NULL,
    received_at      timestamptz DEFAULT now()
);

-- Where each consumer group continues in each partition: the offset of the
-- next message to process. Written in the same transaction as the rows, and
-- only when it still holds the value the batch started from (the fence).
CREATE TABLE IF NOT EXISTS stream_offsets (
    consumer_group  text    NOT NULL,
    topic           text    NOT NULL,
    kafka_partition integer NOT NULL,
    next_offset     bigint  NOT NULL,
    cluster_id      text,   -- the Kafka cluster these offsets belong to
    updated_at      timestamptz DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- Offset ranges ecom-stream never saw: deleted by retention before it read
-- them, or skipped by an offset reset.
CREATE TABLE IF NOT EXISTS stream_gaps (
    id                   bigserial PRIMARY KEY,
    consumer_group       text    NOT NULL,
    topic                text    NOT NULL,
    kafka_partition      integer NOT NULL,
    first_missing_offset bigint  NOT NULL,
    last_missing_offset  bigint  NOT NULL,
    kind                 text    NOT NULL CHECK (kind IN ('retention', 'reset')),
    detected_at          timestamptz DEFAULT now()
);

-- Columns added after the tables first shipped, for databases created
-- before them; checked first so re-applying takes no lock when they exist.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'public' AND table_name = 'stream_offsets'
                     AND column_name = 'cluster_id') THEN
        ALTER TABLE stream_offsets ADD COLUMN cluster_id text;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'public' AND table_name = 'dead_letter_events'
                     AND column_name = 'kafka_key_encoding') THEN
        ALTER TABLE dead_letter_events ADD COLUMN kafka_key_encoding text NOT NULL DEFAULT 'utf8'
            CHECK (kafka_key_encoding IN ('utf8', 'escape', 'null'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'public' AND table_name = 'dead_letter_events'
                     AND column_name = 'payload_truncated') THEN
        ALTER TABLE dead_letter_events
            ADD COLUMN IF NOT EXISTS payload_bytes bigint,
            ADD COLUMN IF NOT EXISTS payload_truncated boolean NOT NULL DEFAULT false;
    END IF;
END
$$;

-- Indexes for analytics, on the partitioned parents (every partition gets
-- them, including ones created later). CREATE INDEX IF NOT EXISTS would
-- take a SHARE lock on the table before noticing the index exists and so
-- wait for ecom-stream's open transactions, hence the existence check.
DO $$
DECLARE
    ix text[];
BEGIN
    FOREACH ix SLICE 1 IN ARRAY ARRAY[
        ['user_events_event_time_idx',
         'CREATE INDEX user_events_event_time_idx ON user_events (event_time)'],
        ['user_events_user_id_idx',
         'CREATE INDEX user_events_user_id_idx ON user_events (user_id, event_time)'],
        ['user_events_product_id_idx',
         'CREATE INDEX user_events_product_id_idx ON user_events (product_id, event_time)'],
        ['transactions_event_time_idx',
         'CREATE INDEX transactions_event_time_idx ON transactions (event_time)'],
        ['transactions_user_id_idx',
         'CREATE INDEX transactions_user_id_idx ON transactions (user_id, event_time)'],
        ['transaction_items_product_id_idx',
         'CREATE INDEX transaction_items_product_id_idx ON transaction_items (product_id, event_time)'],
        ['inventory_updates_event_time_idx',
         'CREATE INDEX inventory_updates_event_time_idx ON inventory_updates (event_time)'],
        ['inventory_updates_product_id_idx',
         'CREATE INDEX inventory_updates_product_id_idx ON inventory_updates (product_id, warehouse_location, event_time)'],
        ['dead_letter_events_source_idx',
         'CREATE INDEX dead_letter_events_source_idx ON dead_letter_events (topic, kafka_partition, kafka_offset)'],
        ['dead_letter_events_received_at_idx',
         'CREATE INDEX dead_letter_events_received_at_idx ON dead_letter_events (received_at)']
    ] LOOP
        IF to_regclass(ix[1]) IS NULL THEN
            EXECUTE ix[2];
        END IF;
    END LOOP;
END
$$;

-- ecom_ensure_daily_partitions(from_day, to_day): creates the missing daily
-- partitions <table>_pYYYYMMDD of the four raw tables for every UTC day from
-- from_day to to_day (inclusive), covering [day 00:00 UTC, next day 00:00
-- UTC). Returns how many partitions it created. Idempotent.
--
-- Concurrency: a transaction-level advisory lock serialises callers (two
-- ecom-stream instances may call it at once); the second one then finds the
-- partitions made and does nothing. Days that already exist take no table
-- locks at all.
--
-- Rows already in the DEFAULT partition for a day being created (e.g. the
-- day's partition came late) are moved, not left behind: the default is
-- locked (ACCESS EXCLUSIVE, so no row for that day can arrive meanwhile),
-- the partition is created as a plain table, the day's rows are moved into
-- it with DELETE ... RETURNING, and it is attached with ATTACH PARTITION,
-- which needs only SHARE UPDATE EXCLUSIVE on the parent so concurrent
-- inserts into other days go on. (CREATE TABLE ... PARTITION OF would fail
-- on such rows, and would lock the parent exclusively.) A NOTICE reports
-- each move. Attaching scans the default partition, so keep it small.
--
-- Lock order is the tables' order below, the same order in which
-- stream/sink.c writes them, so a concurrent flush cannot deadlock with it.
CREATE OR REPLACE FUNCTION ecom_ensure_daily_partitions(from_day date, to_day date)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    parents constant text[] := ARRAY['user_events', 'transactions',
                                     'transaction_items', 'inventory_updates'];
    parent  text;
    par_oid oid;
    def_oid oid;
    nsp_oid oid;
    nsp     name;
    cols    text;
    day     date;
    part    text;
    lo      timestamptz;
    hi      timestamptz;
    moved   bigint;
    created integer := 0;
BEGIN
    IF from_day IS NULL OR to_day IS NULL THEN
        RAISE EXCEPTION 'ecom_ensure_daily_partitions: from_day and to_day must not be null';
    END IF;
    IF to_day - from_day > 3660 THEN
        RAISE EXCEPTION 'ecom_ensure_daily_partitions: % days from % to % is too many',
            to_day - from_day + 1, from_day, to_day;
    END IF;

    PERFORM pg_advisory_xact_lock(hashtext('ecom_ensure_daily_partitions'));

    FOR i IN 0 .. to_day - from_day LOOP
        day := from_day + i;
        lo := day::timestamp AT TIME ZONE 'UTC';
        hi := (day + 1)::timestamp AT TIME ZONE 'UTC';
        FOREACH parent IN ARRAY parents LOOP
            par_oid := to_regclass(parent);
            IF par_oid IS NULL THEN
                RAISE EXCEPTION 'ecom_ensure_daily_partitions: table "%" does not exist', parent;
            END IF;
            SELECT c.relnamespace, n.nspname, p.partdefid INTO nsp_oid, nsp, def_oid
              FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_partitioned_table p ON p.partrelid = c.oid
             WHERE c.oid = par_oid;
            part := parent || '_p' || to_char(day, 'YYYYMMDD');
            CONTINUE WHEN EXISTS (SELECT 1 FROM pg_class
                                   WHERE relname = part AND relnamespace = nsp_oid);

            IF def_oid IS NULL OR def_oid = 0 THEN
                EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                               nsp, part, par_oid::regclass, lo, hi);
            ELSE
                EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', def_oid::regclass);
                EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                               nsp, part, par_oid::regclass);
                SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
                  FROM pg_attribute
                 WHERE attrelid = par_oid AND attnum > 0 AND NOT attisdropped;
                EXECUTE format('WITH moved AS (DELETE FROM %s WHERE event_time >= $1 AND event_time < $2 RETURNING %s) '
                               'INSERT INTO %I.%I (%s) SELECT %s FROM moved',
                               def_oid::regclass, cols, nsp, part, cols, cols)
                    USING lo, hi;
                GET DIAGNOSTICS moved = ROW_COUNT;
                EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                               par_oid::regclass, nsp, part, lo, hi);
                IF moved > 0 THEN
                    RAISE NOTICE 'moved % rows of "%" from its default partition into new partition "%"',
                        moved, parent, part;
                END IF;
            END IF;
            created := created + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END
$fn$;

-- Yesterday to three days ahead (UTC), so a fresh database accepts events
-- at once; ecom-stream keeps the window moving.
SELECT ecom_ensure_daily_partitions(d - 1, d + 3)
  FROM (SELECT (now() AT TIME ZONE 'UTC')::date) AS today(d);

COMMIT;
