#!/usr/bin/env bash
# tests/integration/test_spark_peer.sh - the Spark Structured Streaming peer
# of issue 9's benchmark (bench/spark_peer.py, run by bench/spark_peer.sh)
# on a tiny corpus, with the real engines: a Kafka (scripts/kafka-local.sh,
# one KRaft node, 3 partitions per topic), a throwaway PostgreSQL 15 and the
# runner's own throwaway Spark, all on free ports in a temp dir.
#
# The corpus: ecom-simulator --max-rate -n 2000 -s 7 with a few faults
# (1% malformed, 1% missing field, 1% duplicate), then the sentinels
# (bench/spark_peer.sh sentinels). Checks, computed here apart from the job
# and the runner: the peer's raw rows per topic = the simulator's
# valid_unique (plus one sentinel per partition), transaction_items =
# sum(item_count), dead letters = malformed + missing_field, and every final
# window row of spark_peer.product_window_metrics = this test's SQL over the
# peer's raw tables (views and add_to_carts by event_type, orders = distinct
# transactions with the product, units_sold = sum(quantity), revenue =
# sum(item_total), category from public.products), both ways; also the
# runner's own verdict (exit 0, no failed check) and that no process of its
# Spark is left.
#
# Usage: tests/integration/test_spark_peer.sh [BIN_DIR] (ecom-simulator's
# directory; default <repo>/build/bin). Needs Java 17, kcat, Maven and, on a
# cold cache, PyPI and Maven Central (as test_spark_local.sh). About 2
# minutes on the 2-core machine, most of it the JVMs starting and the first
# micro-batch compiling.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
lib_init "$@"
runner=$repo/bench/spark_peer.sh

if [[ ! -x $bin/ecom-simulator ]]; then
    not_ok "ecom-simulator is built (looked in \"$bin\")"
    finish || exit 1
fi
unset SPARK_MASTER_HOST SPARK_LOCAL_IP SPARK_WORKER_PORT SPARK_UI_PORT SPARK_MASTER_PORT \
    SPARK_MASTER_WEBUI_PORT SPARK_WORKER_WEBUI_PORT SPARK_DAEMON_MEMORY SPARK_WORKER_MEMORY \
    SPARK_WORKER_CORES ECOM_PYSPARK_VERSION

t0=$SECONDS
expect_status "the runner's --help exits 0" 0 "$runner" --help
expect_status "an unknown option exits 2" 2 "$runner" --frobnicate
expect_status "run without --summary exits 2" 2 "$runner" run --bootstrap 127.0.0.1:9

start_pg >"$tmp/pg.out" 2>&1 || { not_ok "PostgreSQL starts: $(tail -n 5 "$tmp/pg.out")"; finish || exit 1; }
ECOM_KAFKA_TOPICS="user-events transactions inventory-updates" TOPIC_PARTITIONS=3 \
    start_kafka_local >"$tmp/kafka.out" 2>&1 ||
    { not_ok "Kafka starts: $(tail -n 5 "$tmp/kafka.out")"; finish || exit 1; }

expect_status "the preload (2,000 events with faults)" 0 "$bin/ecom-simulator" --max-rate -n 2000 -s 7 -P 0 \
    --malformed=0.01 --missing-field=0.01 --duplicate=0.01 -b "$bootstrap"
cp "$tmp/out" "$tmp/preload.json"
expect_status "the sentinels" 0 "$runner" sentinels --bootstrap "$bootstrap"

rc=0
mkdir -p "$tmp/runner"
TMPDIR=$tmp/runner "$runner" run --bootstrap "$bootstrap" --summary "$tmp/preload.json" --out "$tmp/figures" --timeout 240 \
    >"$tmp/run.out" 2>"$tmp/run.err" || rc=$?
if ((rc == 0)); then
    ok "the runner completes with every check passed"
else
    not_ok "the runner completes with every check passed (exit status $rc)"
    sed 's/^/    /' "$tmp/run.out" | tail -n 20
    sed 's/^/    /' "$tmp/run.err" | tail -n 20
fi
fig() { sed -n "s/^$1=//p" "$tmp/figures" 2>/dev/null; }
check "the runner's failed checks" 0 "$(fig checks_failed)"
check "rows dropped by Spark's watermark" 0 "$(fig dropped_by_watermark)"

# --- this test's own checks, from the simulator's summary and SQL
want() { json_get "$tmp/preload.json" "$1"; }
check "user_events = valid_unique + 3 sentinels" "$(($(want 'j["topics"]["user-events"]["valid_unique"]') + 3))" \
    "$(sql 'SELECT count(*) FROM spark_peer.user_events')"
check "transactions = valid_unique + 3 sentinels" "$(($(want 'j["topics"]["transactions"]["valid_unique"]') + 3))" \
    "$(sql 'SELECT count(*) FROM spark_peer.transactions')"
check "inventory_updates = valid_unique + 3 sentinels" \
    "$(($(want 'j["topics"]["inventory-updates"]["valid_unique"]') + 3))" \
    "$(sql 'SELECT count(*) FROM spark_peer.inventory_updates')"
check "transaction_items = sum(item_count)" "$(sql 'SELECT sum(item_count) FROM spark_peer.transactions')" \
    "$(sql 'SELECT count(*) FROM spark_peer.transaction_items')"
check "dead letters = malformed + missing_field" \
    "$(want 'sum(t["malformed"] + t["missing_field"] for t in j["topics"].values())')" \
    "$(sql 'SELECT count(*) FROM spark_peer.dead_letter_events')"
dups=$(want 'sum(t["duplicate"] for t in j["topics"].values())')
check_range "the corpus has duplicates to drop" 1 1000 "$dups"

# The oracle: windows from the raw tables, epoch-aligned 30 s.
oracle="SELECT ws, ws + interval '30 s', product_id, coalesce(p.category, e.category),
           coalesce(v, 0), coalesce(c, 0), coalesce(o, 0), coalesce(u, 0), coalesce(r, 0)
    FROM (SELECT to_timestamp(30 * floor(extract(epoch FROM event_time) / 30)) AS ws, product_id,
                 sum((event_type = 'product_view')::int) AS v, sum((event_type = 'add_to_cart')::int) AS c,
                 min(category) AS category
          FROM spark_peer.user_events WHERE event_type <> 'search' GROUP BY 1, 2) e
    FULL JOIN (SELECT to_timestamp(30 * floor(extract(epoch FROM event_time) / 30)) AS ws, product_id,
                      count(DISTINCT transaction_id) AS o, sum(quantity) AS u, sum(item_total) AS r
               FROM spark_peer.transaction_items GROUP BY 1, 2) t USING (ws, product_id)
    LEFT JOIN public.products p USING (product_id)
    WHERE product_id <> 'SENTINEL'"
peer="SELECT window_start, window_end, product_id, category, views, add_to_carts, orders, units_sold, revenue
    FROM spark_peer.product_window_metrics WHERE product_id <> 'SENTINEL'"
n_oracle=$(sql "SELECT count(*) FROM ($oracle) o")
check_range "the corpus spans product windows" 1 1000 "$n_oracle"
check "final window rows = the oracle's" "$n_oracle" "$(sql "SELECT count(*) FROM ($peer) p")"
check "rows of the oracle missing from the peer" "" "$(sql "SELECT * FROM ($oracle) a EXCEPT SELECT * FROM ($peer) b")"
check "rows of the peer not in the oracle" "" "$(sql "SELECT * FROM ($peer) a EXCEPT SELECT * FROM ($oracle) b")"
check "every peer window row is final" 0 "$(sql 'SELECT count(*) FROM spark_peer.product_window_metrics WHERE NOT is_final')"
check "no sentinel window written (never final)" 0 \
    "$(sql "SELECT count(*) FROM spark_peer.product_window_metrics WHERE product_id = 'SENTINEL'")"
check "one raw micro-batch logged per committed batch, no batch twice" \
    "$(sql "SELECT count(DISTINCT batch_id) FROM spark_peer.batches WHERE query = 'raw'")" \
    "$(sql "SELECT count(*) FROM spark_peer.batches WHERE query = 'raw'")"

# No process of the runner's Spark left (its data dir was under $tmp/runner).
left=$(pgrep -f "$tmp/runner/" || true)
check "no process of the runner's Spark is left" "" "$left"

echo "# figures: $(fig events) events, stored $(fig stored_s) s, final $(fig final_s) s, startup $(fig startup_s) s," \
    "RSS peak $(($(fig rss_peak_kb) / 1024)) MB; whole test $((SECONDS - t0)) s"
finish
