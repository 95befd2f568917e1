"""bench/spark_peer.py - the Spark Structured Streaming peer of ecom-stream
(issue 9's benchmark): a reference tool, not part of the product.

Owns the PostgreSQL schema --schema (default spark_peer): the raw tables
user_events, transactions, transaction_items, inventory_updates and
dead_letter_events (ecom-stream's columns, same primary keys, not
partitioned), product_window_metrics (issue 9's columns; every row it writes
is final), the batches log (one row per committed micro-batch of each query)
and UNLOGGED staging tables stg_*. Reads public.products (sql/init.sql's
catalog) once at start. Writes nothing else.

Two streaming queries in one application, each reading Kafka from the
earliest offsets with its own checkpoint:
  raw      user-events, transactions, inventory-updates: parse the JSON with
           explicit schemas, check what common/schema.c checks (below), then
           foreachBatch: JDBC append of each table's rows into its staging
           table, and on the driver one PostgreSQL transaction that moves
           them into the raw tables with INSERT ... ON CONFLICT DO NOTHING
           (the primary keys (id, event_time) dedup as ecom-stream's do, also
           across batches and replays) and logs the batch. Stateless.
  windows  user-events, transactions: the same parsing and checks, a 10 s
           watermark on event_time, dropDuplicatesWithinWatermark on the id,
           contributions per product (a product_view or add_to_cart counts
           1 view or cart; a transaction 1 order per distinct product in it,
           with the sum of its lines' quantity and item_total), the catalog
           category (broadcast stream-static join; a product missing from the
           catalog keeps the user event's own category), 30 s tumbling
           windows aligned to the epoch, output mode APPEND. foreachBatch:
           JDBC append into stg_windows, then INSERT ... ON CONFLICT
           (window_start, product_id) DO UPDATE SET every figure to the new
           value (a replace, never an add) and the batch log, in one
           transaction.

Why append mode: with a watermark, append emits each window exactly once,
in the first micro-batch after the watermark passes its end, with its final
figures; update mode would emit a changed window again in every batch, and
with upserts that is still exact but writes every open window over and over.
A micro-batch that foreachBatch replays after a failure (at-least-once, see
the guide's foreachBatch section) is skipped by its batch id in the batches
log, and the upsert replaces rather than adds, so no figure counts twice.
Open windows are never written: a window that the watermark has not passed
(the last ones of a bounded preload) stays in the state store until a later
event moves the watermark past it; bench/spark_peer.sh produces one sentinel
event an hour ahead to every partition after the preload for that (see
there). Late events (event_time at or before the watermark) are dropped from
the windows by Spark, and counted in the progress as
numRowsDroppedByWatermark, but stored raw.

The checks, in common/schema.c's order; the first that fails is the reason
of the dead letter: value present, 1 byte to 64 KiB, no NUL byte, valid
UTF-8, a JSON object that parses; required strings present and non-empty,
at most 512 bytes; ids canonical uuids; timestamp RFC 3339 in [2000-01-01,
now + 1 day] (kept to the millisecond, as ecom-stream does); known
event_type per topic; prices in [0, 1,000,000.00], amounts in [0,
100,000,000.00] (rounded to the cent); quantities integers in [1, 100,000];
1 to 1,000 items, item_total = price x quantity to the cent;
stock_change in +-100,000,000, current_stock in [0, 1,000,000,000];
shipping_address an object if present. totals_match = total_amount equals
sum(item_total) + tax_amount + shipping_cost (missing: 0). Known
differences, none of which the simulator's events (faults included)
exercise: Spark's from_json coerces (a string column takes any JSON scalar,
a decimal column a numeric string), takes the last of duplicate keys where
jansson rejects the message, and reads an explicit null like an absent
field.

Configuration, as Spark's documentation recommends for a small machine
(the pages followed):
- spark.sql.shuffle.partitions = the cores (2): "Set the number of shuffle
  partitions to 1-2 times number of cores in the cluster" (Databricks,
  "Optimize stateful Structured Streaming queries",
  learn.microsoft.com/azure/databricks/structured-streaming/
  initial-state-map-groups-with-state); each shuffle partition is one state
  store instance per stateful operator and micro-batch, and the number is
  fixed by the checkpoint (Structured Streaming Programming Guide,
  "Additional Information", apache.github.io/spark/streaming/
  additional-information.html). The default 200 would run 200 tiny state
  store tasks per operator and batch on 2 cores.
- State store: RocksDBStateStoreProvider with changelog checkpointing
  (Structured Streaming Programming Guide, "RocksDB state store
  implementation" and "RocksDB State Store Changelog Checkpointing":
  the default HDFS-backed store keeps the state in the executor's JVM heap,
  which at millions of keys means long GC pauses; the dedup state here holds
  every id of the watermark's span, all of a --max-rate preload's ids;
  changelog checkpointing uploads only the changes per batch). --state-store
  hdfs switches back.
- Trigger: none (the default: the next micro-batch starts as soon as the
  previous one is done, the guide's "Triggers"), the lowest latency and
  highest throughput for a backlog.
- maxOffsetsPerTrigger (Structured Streaming + Kafka Integration Guide,
  "Rate limit on maximum number of offsets processed per trigger
  interval... split proportionally across topicPartitions"): bounds a
  micro-batch so that a backlog is not read in one batch; --max-offsets (0 =
  no limit). bench/spark_peer.sh passes 100,000: on 100,000 events no limit
  and 100,000 both make one batch, 20,000 made six and was slower (each
  batch plans and runs about eight Spark jobs); on 1,000,000 it keeps the
  cached micro-batch of the raw query to 100,000 rows in the 512 MiB
  executor (figures in bench/spark_peer.sh's header).
- noDataMicroBatches (on by default) lets the windows query emit the windows
  a batch's watermark closed without waiting for more data.
- foreachBatch: the micro-batch is persisted while it is written to several
  tables, then unpersisted (the guide's "Using Foreach and ForeachBatch":
  "Write to multiple locations ... cache the output DataFrame/Dataset").
- JDBC (Spark SQL guide, "JDBC To Other Databases": batchsize; pgjdbc's
  reWriteBatchedInserts=true rewrites a batch of INSERTs into multi-row
  INSERTs): batchsize 5000, the staging tables UNLOGGED.
- spark.ui.enabled=false: nothing reads the driver's UI, and it would hold
  the last jobs' and stages' data in the driver's heap (Configuration,
  "Spark UI").
- spark.sql.session.timeZone=UTC: event times are UTC; staging carries
  them as epoch milliseconds, so no time zone is ever applied.

Usage (through scripts/spark-local.sh submit, with the PostgreSQL JDBC
driver and the Kafka connector on the class path; bench/spark_peer.sh does
all this):
  spark_peer.py --bootstrap HOST:PORT --jdbc-url jdbc:postgresql://H:P/DB
                --checkpoint DIR [--schema spark_peer] [--reset]
                [--max-offsets N] [--state-store rocksdb|hdfs]
                [--shuffle-partitions N] [--window-seconds 30]
                [--watermark-seconds 10] [--progress FILE] [--stop-file FILE]
                [--deadline-seconds N]
The PostgreSQL user and password come from PGUSER and PGPASSWORD. The job
runs until --stop-file appears (then stops both queries and exits 0), a
query fails (exit 1) or --deadline-seconds pass (exit 1). --progress gets
one JSON line per micro-batch of each query (Spark's progress) and lines
{"event": ...} for start and stop.
"""

import argparse
import json
import os
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, DecimalType, LongType, StringType,
                               StructField, StructType)

TOPICS = ("user-events", "transactions", "inventory-updates")
MAX_TEXT = 512
MAX_MESSAGE = 64 * 1024
PRICE_MAX = 1000000
AMOUNT_MAX = 100000000
UUID_RE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
RFC3339_RE = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
              r"(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$")

# Numbers are read as wide decimals (exact, from the JSON text) and then
# rounded to the cent, as common/js.c's js_number_to_cents does.
NUM = DecimalType(20, 6)

ITEM = StructType([
    StructField("product_id", StringType()),
    StructField("product_name", StringType()),
    StructField("price", NUM),
    StructField("quantity", LongType()),
    StructField("item_total", NUM),
])

# One schema for the three topics: every topic's fields (the ones a topic
# lacks stay null); from_json parses each message once.
SCHEMA = StructType([
    StructField("event_id", StringType()),
    StructField("transaction_id", StringType()),
    StructField("user_id", StringType()),
    StructField("event_type", StringType()),
    StructField("timestamp", StringType()),
    StructField("session_id", StringType()),
    StructField("ip_address", StringType()),
    StructField("user_agent", StringType()),
    StructField("search_query", StringType()),
    StructField("product_id", StringType()),
    StructField("product_name", StringType()),
    StructField("category", StringType()),
    StructField("price", NUM),
    StructField("payment_method", StringType()),
    StructField("items", ArrayType(ITEM)),
    StructField("total_amount", NUM),
    StructField("tax_amount", NUM),
    StructField("shipping_cost", NUM),
    # A string column keeps the JSON text of an object (jsonb in PostgreSQL).
    StructField("shipping_address", StringType()),
    StructField("stock_change", LongType()),
    StructField("current_stock", LongType()),
    StructField("warehouse_location", StringType()),
    StructField("_corrupt", StringType()),
])


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="spark_peer.py")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--jdbc-url", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--schema", default="spark_peer")
    ap.add_argument("--reset", action="store_true", help="drop and recreate the schema")
    ap.add_argument("--max-offsets", type=int, default=0)
    ap.add_argument("--state-store", choices=("rocksdb", "hdfs"), default="rocksdb")
    ap.add_argument("--shuffle-partitions", type=int, default=2)
    ap.add_argument("--window-seconds", type=int, default=30)
    ap.add_argument("--watermark-seconds", type=int, default=10)
    ap.add_argument("--jdbc-batch", type=int, default=5000)
    ap.add_argument("--progress")
    ap.add_argument("--stop-file")
    ap.add_argument("--deadline-seconds", type=int, default=3600)
    args = ap.parse_args(argv[1:])
    if not args.schema.isidentifier():
        ap.error("invalid value \"%s\" for --schema" % args.schema)
    return args


# --------------------------------------------------------------- PostgreSQL
class Pg:
    """One JDBC connection of the driver (through py4j), reconnected when it
    breaks; statements of one call run in one transaction."""

    def __init__(self, spark, url):
        self.jvm = spark._jvm
        self.url = url
        self.conn = None

    def props(self):
        p = self.jvm.java.util.Properties()
        p.setProperty("user", os.environ.get("PGUSER", ""))
        p.setProperty("password", os.environ.get("PGPASSWORD", ""))
        p.setProperty("ApplicationName", "spark_peer")
        p.setProperty("connectTimeout", "10")
        return p

    def connect(self):
        if self.conn is None or self.conn.isClosed():
            self.conn = self.jvm.java.sql.DriverManager.getConnection(self.url, self.props())
            self.conn.setAutoCommit(False)
        return self.conn

    def run(self, statements, tail=None):
        """Runs the statements in one transaction, then tail(counts) if
        given (a last statement made from the update counts of the others);
        returns the update counts (-1 for a statement without one)."""
        conn = self.connect()
        counts = []
        try:
            st = conn.createStatement()
            try:
                for sql in statements:
                    st.execute(sql)
                    counts.append(st.getUpdateCount())
                if tail is not None:
                    st.execute(tail(counts))
            finally:
                st.close()
            conn.commit()
        except Exception:
            try:
                conn.rollback()
                conn.close()
            except Exception:
                pass
            self.conn = None
            raise
        return counts

    def query_one(self, sql):
        conn = self.connect()
        st = conn.createStatement()
        try:
            rs = st.executeQuery(sql)
            value = rs.getString(1) if rs.next() else None
            conn.commit()
            return value
        finally:
            st.close()


def ddl(s):
    """The peer's schema: ecom-stream's raw columns (sql/init.sql), not
    partitioned; product_window_metrics with issue 9's columns."""
    return [
        "CREATE SCHEMA IF NOT EXISTS %s" % s,
        """CREATE TABLE IF NOT EXISTS %s.user_events (
            event_id uuid NOT NULL, user_id text, event_type text,
            event_time timestamptz NOT NULL, product_id text, product_name text,
            category text, price numeric(12,2), search_query text, session_id text,
            ip_address text, user_agent text, kafka_partition integer,
            kafka_offset bigint, ingested_at timestamptz DEFAULT now(),
            PRIMARY KEY (event_id, event_time))""" % s,
        """CREATE TABLE IF NOT EXISTS %s.transactions (
            transaction_id uuid NOT NULL, user_id text,
            event_time timestamptz NOT NULL, payment_method text,
            total_amount numeric(14,2), tax_amount numeric(14,2),
            shipping_cost numeric(14,2), shipping_address jsonb,
            item_count integer, totals_match boolean NOT NULL,
            kafka_partition integer, kafka_offset bigint,
            ingested_at timestamptz DEFAULT now(),
            PRIMARY KEY (transaction_id, event_time))""" % s,
        """CREATE TABLE IF NOT EXISTS %s.transaction_items (
            transaction_id uuid NOT NULL, line_no integer NOT NULL,
            event_time timestamptz NOT NULL, product_id text, product_name text,
            price numeric(12,2), quantity integer, item_total numeric(14,2),
            PRIMARY KEY (transaction_id, line_no, event_time))""" % s,
        """CREATE TABLE IF NOT EXISTS %s.inventory_updates (
            event_id uuid NOT NULL, product_id text, product_name text,
            stock_change integer, current_stock integer, warehouse_location text,
            event_time timestamptz NOT NULL, kafka_partition integer,
            kafka_offset bigint, ingested_at timestamptz DEFAULT now(),
            PRIMARY KEY (event_id, event_time))""" % s,
        """CREATE TABLE IF NOT EXISTS %s.dead_letter_events (
            topic text NOT NULL, kafka_partition integer NOT NULL,
            kafka_offset bigint NOT NULL, kafka_key text, payload text,
            payload_bytes bigint, reason text NOT NULL,
            received_at timestamptz DEFAULT now(),
            PRIMARY KEY (topic, kafka_partition, kafka_offset))""" % s,
        """CREATE TABLE IF NOT EXISTS %s.product_window_metrics (
            window_start timestamptz NOT NULL, window_end timestamptz NOT NULL,
            product_id text NOT NULL, category text, views bigint NOT NULL,
            add_to_carts bigint NOT NULL, orders bigint NOT NULL,
            units_sold bigint NOT NULL, revenue numeric(16,2) NOT NULL,
            is_final boolean NOT NULL DEFAULT true,
            stored_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (window_start, product_id))""" % s,
        """CREATE TABLE IF NOT EXISTS %s.batches (
            query text NOT NULL, batch_id bigint NOT NULL, rows_in bigint,
            rows_stored bigint, started_at timestamptz NOT NULL,
            staged_at timestamptz,
            committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (query, batch_id))""" % s,
        # Staging: what one micro-batch's executors append over JDBC; times
        # as epoch milliseconds, ids and JSON as text (cast in the merge).
        """CREATE UNLOGGED TABLE IF NOT EXISTS %s.stg_user_events (
            event_id text, user_id text, event_type text, event_ms bigint,
            product_id text, product_name text, category text,
            price numeric(12,2), search_query text, session_id text,
            ip_address text, user_agent text, kafka_partition integer,
            kafka_offset bigint)""" % s,
        """CREATE UNLOGGED TABLE IF NOT EXISTS %s.stg_transactions (
            transaction_id text, user_id text, event_ms bigint,
            payment_method text, total_amount numeric(14,2),
            tax_amount numeric(14,2), shipping_cost numeric(14,2),
            shipping_address text, item_count integer, totals_match boolean,
            kafka_partition integer, kafka_offset bigint)""" % s,
        """CREATE UNLOGGED TABLE IF NOT EXISTS %s.stg_transaction_items (
            transaction_id text, line_no integer, event_ms bigint,
            product_id text, product_name text, price numeric(12,2),
            quantity integer, item_total numeric(14,2))""" % s,
        """CREATE UNLOGGED TABLE IF NOT EXISTS %s.stg_inventory_updates (
            event_id text, product_id text, product_name text,
            stock_change integer, current_stock integer,
            warehouse_location text, event_ms bigint, kafka_partition integer,
            kafka_offset bigint)""" % s,
        """CREATE UNLOGGED TABLE IF NOT EXISTS %s.stg_dead_letters (
            topic text, kafka_partition integer, kafka_offset bigint,
            kafka_key text, payload text, payload_bytes bigint, reason text)""" % s,
        """CREATE UNLOGGED TABLE IF NOT EXISTS %s.stg_windows (
            window_start_ms bigint, window_end_ms bigint, product_id text,
            category text, views bigint, add_to_carts bigint, orders bigint,
            units_sold bigint, revenue numeric(16,2))""" % s,
    ]


def ms_to_ts(col):
    return "to_timestamp(%s / 1000.0)" % col


def merge_raw(s):
    """The raw query's merge: staging -> raw tables, duplicates skipped."""
    return [
        """INSERT INTO %s.user_events (event_id, user_id, event_type, event_time,
             product_id, product_name, category, price, search_query, session_id,
             ip_address, user_agent, kafka_partition, kafka_offset)
           SELECT event_id::uuid, user_id, event_type, %s, product_id, product_name,
             category, price, search_query, session_id, ip_address, user_agent,
             kafka_partition, kafka_offset
           FROM %s.stg_user_events ON CONFLICT DO NOTHING""" % (s, ms_to_ts("event_ms"), s),
        # Items only of the transactions this statement's twin stores: a
        # transaction already stored keeps its items as they are.
        """INSERT INTO %s.transaction_items (transaction_id, line_no, event_time,
             product_id, product_name, price, quantity, item_total)
           SELECT i.transaction_id::uuid, i.line_no, %s, i.product_id,
             i.product_name, i.price, i.quantity, i.item_total
           FROM %s.stg_transaction_items i
           WHERE NOT EXISTS (SELECT 1 FROM %s.transactions t
                             WHERE t.transaction_id = i.transaction_id::uuid
                               AND t.event_time = %s)
           ON CONFLICT DO NOTHING""" % (s, ms_to_ts("i.event_ms"), s, s, ms_to_ts("i.event_ms")),
        """INSERT INTO %s.transactions (transaction_id, user_id, event_time,
             payment_method, total_amount, tax_amount, shipping_cost,
             shipping_address, item_count, totals_match, kafka_partition, kafka_offset)
           SELECT transaction_id::uuid, user_id, %s, payment_method, total_amount,
             tax_amount, shipping_cost, shipping_address::jsonb, item_count,
             totals_match, kafka_partition, kafka_offset
           FROM %s.stg_transactions ON CONFLICT DO NOTHING""" % (s, ms_to_ts("event_ms"), s),
        """INSERT INTO %s.inventory_updates (event_id, product_id, product_name,
             stock_change, current_stock, warehouse_location, event_time,
             kafka_partition, kafka_offset)
           SELECT event_id::uuid, product_id, product_name, stock_change,
             current_stock, warehouse_location, %s, kafka_partition, kafka_offset
           FROM %s.stg_inventory_updates ON CONFLICT DO NOTHING""" % (s, ms_to_ts("event_ms"), s),
        """INSERT INTO %s.dead_letter_events (topic, kafka_partition, kafka_offset,
             kafka_key, payload, payload_bytes, reason)
           SELECT topic, kafka_partition, kafka_offset, kafka_key, payload,
             payload_bytes, reason
           FROM %s.stg_dead_letters ON CONFLICT DO NOTHING""" % (s, s),
    ]


def merge_windows(s):
    """The windows query's merge: a final window replaces its row."""
    return [
        """INSERT INTO %s.product_window_metrics (window_start, window_end,
             product_id, category, views, add_to_carts, orders, units_sold,
             revenue, is_final, stored_at)
           SELECT %s, %s, product_id, category, views, add_to_carts, orders,
             units_sold, revenue, true, clock_timestamp()
           FROM %s.stg_windows
           ON CONFLICT (window_start, product_id) DO UPDATE SET
             window_end = EXCLUDED.window_end, category = EXCLUDED.category,
             views = EXCLUDED.views, add_to_carts = EXCLUDED.add_to_carts,
             orders = EXCLUDED.orders, units_sold = EXCLUDED.units_sold,
             revenue = EXCLUDED.revenue, is_final = true,
             stored_at = EXCLUDED.stored_at""" % (
            s, ms_to_ts("window_start_ms"), ms_to_ts("window_end_ms"), s),
    ]


# ------------------------------------------------------------ parse, check
def money(col, max_units):
    """(cents-rounded decimal or null, ok) of a required amount."""
    v = F.round(col, 2)
    return v, col.isNotNull() & (v >= 0) & (v <= max_units)


def text_ok(col):
    return col.isNotNull() & (F.octet_length(col) > 0) & (F.octet_length(col) <= MAX_TEXT)


def opt_text_ok(col):
    return col.isNull() | (F.octet_length(col) <= MAX_TEXT)


def first_failure(checks):
    """The reason of the first failing (condition, reason) pair, or null."""
    expr = None
    for ok, reason in reversed(checks):
        ok = F.coalesce(ok, F.lit(False))  # a check that cannot be evaluated fails
        expr = F.when(~ok, F.lit(reason)) if expr is None else F.when(~ok, F.lit(reason)).otherwise(expr)
    return expr


def parsed(spark, args, topics):
    """The Kafka messages of topics, parsed and checked: Kafka's columns,
    the parsed fields, event_time (ms precision), reason (null when valid)
    and, for transactions, totals_match."""
    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", args.bootstrap)
              .option("subscribe", ",".join(topics))
              .option("startingOffsets", "earliest"))
    if args.max_offsets > 0:
        reader = reader.option("maxOffsetsPerTrigger", str(args.max_offsets))
    raw = reader.load()

    size = F.octet_length(F.col("value"))
    text = F.col("value").cast("string")
    df = raw.select(
        "topic", F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("key").cast("string").alias("kafka_key"),
        size.alias("payload_bytes"), text.alias("payload"),
        F.col("value").isNull().alias("v_null"),
        (F.instr(text, "\u0000") > 0).alias("v_nul"),
        F.expr("is_valid_utf8(CAST(value AS STRING))").alias("v_utf8"),
        F.from_json(text, SCHEMA, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"}).alias("j"),
    )
    j = F.col("j")
    ts_text = j["timestamp"]
    ts = F.expr("try_cast(j.`timestamp` AS TIMESTAMP)")
    event_time = F.timestamp_millis(F.unix_millis(ts))
    df = df.withColumn("event_time", event_time)
    t = F.col("topic")
    etype = j["event_type"]
    is_ue, is_tx, is_inv = t == "user-events", t == "transactions", t == "inventory-updates"
    needs_product = is_ue & etype.isin("product_view", "add_to_cart")
    price, price_ok = money(j["price"], PRICE_MAX)
    total, total_ok = money(j["total_amount"], AMOUNT_MAX)
    tax, tax_ok = money(j["tax_amount"], AMOUNT_MAX)
    ship, ship_ok = money(j["shipping_cost"], AMOUNT_MAX)
    items = j["items"]

    def item_ok(it):
        p = F.round(it["price"], 2)
        tot = F.round(it["item_total"], 2)
        return (it.isNotNull() & text_ok(it["product_id"]) & text_ok(it["product_name"])
                & it["price"].isNotNull() & (p >= 0) & (p <= PRICE_MAX)
                & it["quantity"].isNotNull() & (it["quantity"] >= 1) & (it["quantity"] <= 100000)
                & it["item_total"].isNotNull() & (tot >= 0) & (tot <= AMOUNT_MAX)
                & (tot == p * it["quantity"]))

    id_col = F.when(is_tx, j["transaction_id"]).otherwise(j["event_id"])
    now = F.current_timestamp()
    checks = [
        (~F.col("v_null"), "message value is null"),
        (F.col("payload_bytes") > 0, "message is empty"),
        (F.col("payload_bytes") <= MAX_MESSAGE, "message is over the 65536 byte limit"),
        (~F.col("v_nul"), "message contains a NUL byte"),
        (F.col("v_utf8"), "message is not valid UTF-8"),
        (j.isNotNull() & j["_corrupt"].isNull() & F.ltrim(F.col("payload")).startswith("{"),
         "invalid JSON or not a JSON object"),
        (text_ok(id_col) & id_col.rlike(UUID_RE),
         "missing or invalid id (transaction_id or event_id: a uuid)"),
        (~(is_ue | is_tx) | text_ok(j["user_id"]), "missing or invalid field \"user_id\""),
        (text_ok(etype), "missing or invalid field \"event_type\""),
        (~is_tx | (etype == "purchase"), "unknown event_type for transactions"),
        (~is_inv | (etype == "inventory_update"), "unknown event_type for inventory-updates"),
        (text_ok(ts_text) & ts_text.rlike(RFC3339_RE) & ts.isNotNull(),
         "field \"timestamp\" is not an RFC 3339 timestamp"),
        (F.col("event_time") >= F.lit("2000-01-01 00:00:00").cast("timestamp"),
         "field \"timestamp\" is before 2000-01-01"),
        (F.col("event_time") <= now + F.expr("INTERVAL 1 DAY"),
         "field \"timestamp\" is more than a day in the future"),
        # user-events
        (~is_ue | text_ok(j["session_id"]), "missing or invalid field \"session_id\""),
        (~is_ue | (opt_text_ok(j["ip_address"]) & opt_text_ok(j["user_agent"])),
         "invalid field \"ip_address\" or \"user_agent\""),
        (~is_ue | etype.isin("product_view", "add_to_cart", "search"), "unknown event_type for user-events"),
        (~(is_ue & (etype == "search")) | text_ok(j["search_query"]),
         "missing or invalid field \"search_query\""),
        (~needs_product | (text_ok(j["product_id"]) & text_ok(j["product_name"]) & text_ok(j["category"])),
         "missing or invalid product_id, product_name or category"),
        (~needs_product | price_ok, "missing or invalid field \"price\""),
        # transactions
        (~is_tx | text_ok(j["payment_method"]), "missing or invalid field \"payment_method\""),
        (~is_tx | (items.isNotNull() & (F.size(items) >= 1) & (F.size(items) <= 1000)),
         "field \"items\" must hold 1 to 1000 items"),
        (~is_tx | F.forall(items, item_ok), "invalid item (fields, ranges, item_total = price x quantity)"),
        (~is_tx | total_ok, "missing or invalid field \"total_amount\""),
        (~is_tx | ((j["tax_amount"].isNull() | tax_ok) & (j["shipping_cost"].isNull() | ship_ok)),
         "invalid field \"tax_amount\" or \"shipping_cost\""),
        (~is_tx | j["shipping_address"].isNull() | j["shipping_address"].startswith("{"),
         "field \"shipping_address\" must be an object"),
        # inventory-updates
        (~is_inv | (text_ok(j["product_id"]) & text_ok(j["product_name"])),
         "missing or invalid field \"product_id\" or \"product_name\""),
        (~is_inv | (j["stock_change"].isNotNull() & (F.abs(j["stock_change"]) <= 100000000)),
         "missing or invalid field \"stock_change\""),
        (~is_inv | (j["current_stock"].isNotNull() & (j["current_stock"] >= 0)
                    & (j["current_stock"] <= 1000000000)),
         "missing or invalid field \"current_stock\""),
        (~is_inv | text_ok(j["warehouse_location"]), "missing or invalid field \"warehouse_location\""),
    ]
    item_sum = F.aggregate(items, F.lit(0).cast(DecimalType(20, 2)),
                           lambda acc, it: (acc + F.round(it["item_total"], 2)).cast(DecimalType(20, 2)))
    df = df.select(
        "topic", "kafka_partition", "kafka_offset", "kafka_key", "payload_bytes",
        "event_time", id_col.alias("id"), "j", "payload",
        price.alias("price"), total.alias("total_amount"),
        F.coalesce(tax, F.lit(0)).alias("tax_amount"),
        F.coalesce(ship, F.lit(0)).alias("shipping_cost"),
        (total == item_sum + F.coalesce(tax, F.lit(0)) + F.coalesce(ship, F.lit(0))).alias("totals_match"),
        first_failure(checks).alias("reason"),
    )
    # The message text is kept for dead letters only.
    return df.withColumn("payload", F.when(F.col("reason").isNotNull(), F.col("payload")))


# ---------------------------------------------------------------- the sinks
def jdbc_append(df, args, table):
    (df.write.format("jdbc")
     .option("url", args.jdbc_url)
     .option("dbtable", "%s.%s" % (args.schema, table))
     .option("user", os.environ.get("PGUSER", ""))
     .option("password", os.environ.get("PGPASSWORD", ""))
     .option("driver", "org.postgresql.Driver")
     .option("batchsize", str(args.jdbc_batch))
     .option("isolationLevel", "READ_COMMITTED")
     .mode("append").save())


def batch_done(pg, s, query, batch_id):
    return pg.query_one("SELECT 1 FROM %s.batches WHERE query = '%s' AND batch_id = %d"
                        % (s, query, batch_id)) is not None


def log_batch(s, query, batch_id, rows_in, started, staged, stored):
    """The batches log row; rows_in is an SQL expression. started: the
    foreachBatch call, staged: the executors' JDBC appends done (epoch s);
    committed_at: the merge's end."""
    return ("INSERT INTO %s.batches (query, batch_id, rows_in, rows_stored, started_at, staged_at) "
            "VALUES ('%s', %d, %s, %d, to_timestamp(%.6f), to_timestamp(%.6f))"
            % (s, query, batch_id, rows_in, stored, started, staged))


def raw_sink(args, pg):
    s = args.schema
    ms = F.unix_millis(F.col("event_time"))
    j = F.col("j")

    def write(df, batch_id):
        started = time.time()
        if batch_done(pg, s, "raw", batch_id):
            return
        pg.run(["TRUNCATE %s.stg_user_events, %s.stg_transactions, %s.stg_transaction_items, "
                "%s.stg_inventory_updates, %s.stg_dead_letters" % (s, s, s, s, s)])
        # The first write fills the cache; the others read it.
        df = df.persist()
        try:
            valid = df.filter(F.col("reason").isNull())
            jdbc_append(valid.filter(F.col("topic") == "user-events").select(
                F.col("id").alias("event_id"), j["user_id"].alias("user_id"),
                j["event_type"].alias("event_type"), ms.alias("event_ms"),
                j["product_id"].alias("product_id"), j["product_name"].alias("product_name"),
                j["category"].alias("category"), F.col("price").cast(DecimalType(12, 2)).alias("price"),
                j["search_query"].alias("search_query"), j["session_id"].alias("session_id"),
                j["ip_address"].alias("ip_address"), j["user_agent"].alias("user_agent"),
                "kafka_partition", "kafka_offset"), args, "stg_user_events")
            tx = valid.filter(F.col("topic") == "transactions")
            jdbc_append(tx.select(
                F.col("id").alias("transaction_id"), j["user_id"].alias("user_id"), ms.alias("event_ms"),
                j["payment_method"].alias("payment_method"),
                F.col("total_amount").cast(DecimalType(14, 2)).alias("total_amount"),
                F.col("tax_amount").cast(DecimalType(14, 2)).alias("tax_amount"),
                F.col("shipping_cost").cast(DecimalType(14, 2)).alias("shipping_cost"),
                j["shipping_address"].alias("shipping_address"),
                F.size(j["items"]).alias("item_count"), "totals_match",
                "kafka_partition", "kafka_offset"), args, "stg_transactions")
            jdbc_append(tx.select(F.col("id"), ms.alias("event_ms"),
                                  F.posexplode(j["items"]).alias("pos", "it")).select(
                F.col("id").alias("transaction_id"), (F.col("pos") + 1).alias("line_no"), "event_ms",
                F.col("it.product_id").alias("product_id"), F.col("it.product_name").alias("product_name"),
                F.round(F.col("it.price"), 2).cast(DecimalType(12, 2)).alias("price"),
                F.col("it.quantity").cast("int").alias("quantity"),
                F.round(F.col("it.item_total"), 2).cast(DecimalType(14, 2)).alias("item_total")),
                args, "stg_transaction_items")
            jdbc_append(valid.filter(F.col("topic") == "inventory-updates").select(
                F.col("id").alias("event_id"), j["product_id"].alias("product_id"),
                j["product_name"].alias("product_name"),
                j["stock_change"].cast("int").alias("stock_change"),
                j["current_stock"].cast("int").alias("current_stock"),
                j["warehouse_location"].alias("warehouse_location"), ms.alias("event_ms"),
                "kafka_partition", "kafka_offset"), args, "stg_inventory_updates")
            dead = df.filter(F.col("reason").isNotNull())
            jdbc_append(dead.select(
                "topic", "kafka_partition", "kafka_offset", "kafka_key",
                # PostgreSQL text takes no NUL: such a payload is not
                # kept (its reason says why). Invalid UTF-8 arrives as
                # U+FFFD, Java's decoding of the bytes.
                F.when(F.instr(F.col("payload"), "\u0000") > 0, F.lit(None)).otherwise(
                    F.col("payload")).alias("payload"),
                "payload_bytes", "reason"), args, "stg_dead_letters")
            # rows_in: the messages the batch staged (items not counted).
            staged = ("(SELECT (SELECT count(*) FROM %s.stg_user_events) + (SELECT count(*) FROM %s.stg_transactions)"
                      " + (SELECT count(*) FROM %s.stg_inventory_updates) + (SELECT count(*) FROM %s.stg_dead_letters))"
                      % (s, s, s, s))
            staged_t = time.time()
            pg.run(merge_raw(s), tail=lambda counts: log_batch(
                s, "raw", batch_id, staged, started, staged_t, sum(c for c in counts if c > 0)))
        finally:
            df.unpersist()

    return write


def windows_stream(spark, args):
    df = parsed(spark, args, ("user-events", "transactions")).filter(F.col("reason").isNull())
    df = df.withWatermark("event_time", "%d seconds" % args.watermark_seconds)
    # Duplicates are the same id at the same event time, as ecom-stream's
    # primary keys (id, event_time) define them.
    df = df.dropDuplicatesWithinWatermark(["topic", "id", "event_time"])
    j = F.col("j")
    contrib = StructType([
        StructField("product_id", StringType()), StructField("category", StringType()),
        StructField("views", LongType()), StructField("carts", LongType()),
        StructField("orders", LongType()), StructField("units", LongType()),
        StructField("revenue", DecimalType(20, 2)),
    ])
    etype = j["event_type"]
    user = F.array(F.struct(
        j["product_id"].alias("product_id"), j["category"].alias("category"),
        F.when(etype == "product_view", 1).otherwise(0).cast("long").alias("views"),
        F.when(etype == "add_to_cart", 1).otherwise(0).cast("long").alias("carts"),
        F.lit(0).cast("long").alias("orders"), F.lit(0).cast("long").alias("units"),
        F.lit(0).cast(DecimalType(20, 2)).alias("revenue")).cast(contrib))
    items = j["items"]
    # One contribution per distinct product of a transaction: orders counts
    # the transaction once even when the product is on two lines.
    per_product = F.transform(
        F.array_distinct(F.transform(items, lambda it: it["product_id"])),
        lambda p: F.struct(
            p.alias("product_id"), F.lit(None).cast("string").alias("category"),
            F.lit(0).cast("long").alias("views"), F.lit(0).cast("long").alias("carts"),
            F.lit(1).cast("long").alias("orders"),
            F.aggregate(F.filter(items, lambda it: it["product_id"] == p), F.lit(0).cast("long"),
                        lambda acc, it: acc + it["quantity"]).alias("units"),
            F.aggregate(F.filter(items, lambda it: it["product_id"] == p), F.lit(0).cast(DecimalType(20, 2)),
                        lambda acc, it: (acc + F.round(it["item_total"], 2)).cast(DecimalType(20, 2))
                        ).alias("revenue")).cast(contrib))
    contributions = (F.when(F.col("topic") == "transactions", per_product)
                     .when(etype.isin("product_view", "add_to_cart"), user)
                     .otherwise(F.array().cast(ArrayType(contrib))))
    rows = df.select("event_time", F.explode(contributions).alias("c")).select("event_time", "c.*")
    catalog = (spark.read.format("jdbc").option("url", args.jdbc_url)
               .option("dbtable", "public.products")
               .option("user", os.environ.get("PGUSER", ""))
               .option("password", os.environ.get("PGPASSWORD", ""))
               .option("driver", "org.postgresql.Driver").load()
               .select("product_id", F.col("category").alias("catalog_category")))
    # Read once, into a local relation of the JVM (VALUES): no JDBC read in
    # every micro-batch, no Python row conversion.
    def quote(v):
        return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"
    values = ", ".join("(%s, %s)" % (quote(r[0]), quote(r[1])) for r in catalog.collect())
    catalog = spark.sql("SELECT * FROM VALUES %s AS t(product_id, catalog_category)" % values
                        if values else "SELECT CAST(NULL AS STRING) AS product_id, "
                        "CAST(NULL AS STRING) AS catalog_category WHERE false")
    rows = rows.join(F.broadcast(catalog), "product_id", "left").withColumn(
        "category", F.coalesce(F.col("catalog_category"), F.col("category")))
    w = F.window("event_time", "%d seconds" % args.window_seconds)
    agg = rows.groupBy(w.alias("w"), "product_id").agg(
        F.max("category").alias("category"), F.sum("views").alias("views"),
        F.sum("carts").alias("add_to_carts"), F.sum("orders").alias("orders"),
        F.sum("units").alias("units_sold"), F.sum("revenue").alias("revenue"))
    return agg.select(
        F.unix_millis(F.col("w.start")).alias("window_start_ms"),
        F.unix_millis(F.col("w.end")).alias("window_end_ms"),
        "product_id", "category", "views", "add_to_carts", "orders", "units_sold",
        F.col("revenue").cast(DecimalType(16, 2)).alias("revenue"))


def windows_sink(args, pg):
    s = args.schema

    def write(df, batch_id):
        started = time.time()
        if batch_done(pg, s, "windows", batch_id):
            return
        pg.run(["TRUNCATE %s.stg_windows" % s])
        df = df.persist()
        try:
            n = df.count()  # the windows this batch's watermark closed
            if n > 0:
                jdbc_append(df, args, "stg_windows")
            staged_t = time.time()
            pg.run(merge_windows(s) if n > 0 else [],
                   tail=lambda counts: log_batch(s, "windows", batch_id, str(n), started, staged_t, sum(counts)))
        finally:
            df.unpersist()

    return write


# --------------------------------------------------------------------- main
def progress_json(p):
    """A progress as plain JSON data (pyspark 4 gives StreamingQueryProgress
    objects, whose .json is Spark's own JSON text)."""
    if p is None:
        return None
    text = getattr(p, "json", None)
    if callable(text):
        text = text()
    if isinstance(text, str):
        return json.loads(text)
    return json.loads(json.dumps(p, default=str))


def emit(fh, obj):
    if fh is not None:
        fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
        fh.flush()


def main(argv):
    args = parse_args(argv)
    builder = (SparkSession.builder.appName("ecom-spark-peer")
               .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.streaming.noDataMicroBatches.enabled", "true"))
    if args.state_store == "rocksdb":
        builder = (builder
                   .config("spark.sql.streaming.stateStore.providerClass",
                           "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider")
                   .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true"))
    spark = builder.getOrCreate()
    fh = open(args.progress, "a") if args.progress else None
    s = args.schema
    setup = Pg(spark, args.jdbc_url)
    if args.reset:
        setup.run(["DROP SCHEMA IF EXISTS %s CASCADE" % s])
    setup.run(ddl(s))

    raw_q = (parsed(spark, args, TOPICS).writeStream.queryName("raw")
             .option("checkpointLocation", os.path.join(args.checkpoint, "raw"))
             .foreachBatch(raw_sink(args, Pg(spark, args.jdbc_url))).start())
    win_q = (windows_stream(spark, args).writeStream.queryName("windows").outputMode("append")
             .option("checkpointLocation", os.path.join(args.checkpoint, "windows"))
             .foreachBatch(windows_sink(args, Pg(spark, args.jdbc_url))).start())
    emit(fh, {"event": "started", "time": time.time()})
    queries = {"raw": raw_q, "windows": win_q}
    seen = {name: -1 for name in queries}
    deadline = time.time() + args.deadline_seconds
    rc = 0
    try:
        while True:
            for name, q in queries.items():
                for p in q.recentProgress:
                    p = progress_json(p)
                    if p is not None and p.get("batchId", -1) > seen[name]:
                        seen[name] = p["batchId"]
                        emit(fh, {"query": name, "progress": p})
                if q.exception() is not None:
                    print("spark_peer: query %s failed: %s" % (name, q.exception()), file=sys.stderr)
                    rc = 1
            if rc or (args.stop_file and os.path.exists(args.stop_file)):
                break
            if time.time() > deadline:
                print("spark_peer: deadline of %d s passed" % args.deadline_seconds, file=sys.stderr)
                rc = 1
                break
            time.sleep(0.5)
    finally:
        for q in queries.values():
            try:
                q.stop()
            except Exception as exc:  # a failed query raises on stop too
                print("spark_peer: stopping %s: %s" % (q.name, exc), file=sys.stderr)
        emit(fh, {"event": "stopped", "time": time.time(), "status": rc})
        spark.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
