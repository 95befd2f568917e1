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

COMMIT;
