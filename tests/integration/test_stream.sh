#!/usr/bin/env bash
# tests/integration/test_stream.sh - ecom-stream against the dev broker and a
# throwaway PostgreSQL, checked against the simulator's own summary:
#  - fault-injected run: every valid unique event stored once, every injected
#    fault dead-lettered, totals mismatches flagged, offsets recorded;
#  - the metrics endpoint (counts equal the simulator's), /health, SIGTERM;
#  - re-running over the same data stores nothing twice;
#  - a hostile corpus produced with kcat: each message dead-lettered with its
#    own reason, valid messages around them stored, the daemon still running;
#  - after each part, the consistency checks of sql/checks/ list nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
sim=$bin/ecom-simulator
stream=$bin/ecom-stream

start_pg >/dev/null
start_broker --partitions 4

# --- simulator with every fault, then the stream catches up and exits
expect_status "simulator with faults" 0 "$sim" --max-rate -n 20000 --seed 11 --fault-rate 0.02 -P 0
cp "$tmp/out" "$tmp/sim.json"
port=$(free_port)
"$stream" -p "$port" -P 1 >"$tmp/stream.out" 2>"$tmp/stream.err" &
stream_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
health=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
check "health is 200 while PostgreSQL and Kafka are up" 200 "$health"
# wait until every message is committed, then read the metrics
delivered=$(json_get "$tmp/sim.json" 'j["delivered"]')
for _ in $(seq 600); do
    done_count=$(sql "select coalesce(sum(next_offset), 0) from stream_offsets where consumer_group = 'ecom-stream'")
    ((done_count >= delivered)) && break
    sleep 0.1
done
sleep 1.5 # one lag refresh
curl -fs "http://127.0.0.1:$port/metrics" >"$tmp/metrics" && ok "metrics endpoint answers" || not_ok "metrics endpoint"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$tmp/metrics"; }
for t in user-events transactions inventory-updates; do
    check "metrics: $t consumed" "$(json_get "$tmp/sim.json" "j['topics']['$t']['delivered']")" \
        "$(metric "ecom_stream_messages_consumed_total{topic=\"$t\"}")"
    check "metrics: $t dead-lettered" \
        "$(json_get "$tmp/sim.json" "j['topics']['$t']['malformed'] + j['topics']['$t']['missing_field']")" \
        "$(metric "ecom_stream_messages_dead_lettered_total{topic=\"$t\"}")"
    check "metrics: $t duplicates" "$(json_get "$tmp/sim.json" "j['topics']['$t']['duplicate']")" \
        "$(metric "ecom_stream_messages_duplicate_total{topic=\"$t\"}")"
done
# one lag gauge per partition (3 topics of 4), all at 0; absent gauges fail
check "metrics: no lag left (gauges, their sum)" "12 0" \
    "$(awk '/^ecom_stream_consumer_lag_messages\{/ { n++; s += $2 } END { print n + 0, s + 0 }' "$tmp/metrics")"
check "metrics: committed offsets cover every message (gauges, their sum)" "12 $delivered" \
    "$(awk '/^ecom_stream_committed_offset\{/ { n++; s += $2 } END { print n + 0, s + 0 }' "$tmp/metrics")"
grep -q '^process_resident_memory_bytes [1-9]' "$tmp/metrics" && ok "metrics: RSS reported" || not_ok "metrics: RSS missing"
grep -q '^ecom_stream_commit_latency_seconds_count [1-9]' "$tmp/metrics" && ok "metrics: latency histogram" || not_ok "metrics: latency histogram"
grep -q '^ecom_stream_flush_duration_seconds_count [1-9]' "$tmp/metrics" && ok "metrics: flush histogram" || not_ok "metrics: flush histogram"
kill -TERM "$stream_pid"
rc=0
wait "$stream_pid" || rc=$?
check "SIGTERM: stream exits 0" 0 "$rc"
grep -q 'stopped by signal 15' "$tmp/stream.err" && ok "SIGTERM logged" || not_ok "SIGTERM not logged"
sj() { json_get "$tmp/sim.json" "$1"; }
check "user_events = valid unique user events" "$(sj "j['topics']['user-events']['valid_unique']")" "$(sql 'select count(*) from user_events')"
check "transactions = valid unique transactions" "$(sj "j['topics']['transactions']['valid_unique']")" "$(sql 'select count(*) from transactions')"
check "inventory_updates = valid unique updates" "$(sj "j['topics']['inventory-updates']['valid_unique']")" "$(sql 'select count(*) from inventory_updates')"
for t in user-events transactions inventory-updates; do
    check "$t: dead letters = injected malformed + missing fields" \
        "$(sj "j['topics']['$t']['malformed'] + j['topics']['$t']['missing_field']")" \
        "$(sql "select count(*) from dead_letter_events where topic = '$t'")"
done
check "every dead letter has a reason" 0 "$(sql "select count(*) from dead_letter_events where reason = ''")"
check "totals all match (none injected)" 0 "$(sql 'select count(*) from transactions where not totals_match')"
check "items belong to stored transactions" 0 \
    "$(sql 'select count(*) from transaction_items i left join transactions t using (transaction_id, event_time) where t.transaction_id is null')"
check "item counts agree" 0 \
    "$(sql 'select count(*) from transactions t where item_count is distinct from (select count(*) from transaction_items i where i.transaction_id = t.transaction_id)')"
check "offsets cover every message" "$(sj 'j["delivered"]')" "$(sql "select sum(next_offset) from stream_offsets where consumer_group = 'ecom-stream'")"
grep -q 'progress: ' "$tmp/stream.err" && ok "progress lines printed" || not_ok "no progress lines"
run_checks "fault-injected run"

# --- a second run over the same data stores nothing new (offsets resume)
before=$(sql 'select count(*) from user_events')
expect_status "second run exits 0" 0 "$stream" -p 0 -P 0 --exit-when-idle 2
check "second run stores nothing twice" "$before" "$(sql 'select count(*) from user_events')"
# --- a new consumer group re-reads everything; ids dedup the raw tables
expect_status "new group over the same data" 0 "$stream" -p 0 -P 0 -g replay --exit-when-idle 3
check "replay group: user_events unchanged" "$before" "$(sql 'select count(*) from user_events')"
run_checks "second run and replay group"

# --- hostile corpus between valid messages
good=$(sql "select count(*) from user_events")
hostile=$tmp/hostile
{
    printf 'U0001\t{"event_id":"0b8f5e0e-4a47-4c1e-9d7e-6f3c1b2a9d10","user_id":"U0001","event_type":"search","timestamp":"2025-06-01T10:00:00Z","search_query":"good one","session_id":"s1"}\n'
    printf 'U0002\t{"event_id":"0b8f5e0e\n'
    printf 'U0003\t{"event_id":5,"user_id":"U3","event_type":"search","timestamp":"2025-06-01T10:00:00Z","search_query":"q","session_id":"s"}\n'
    printf 'U0004\t{"event_id":"1b8f5e0e-4a47-4c1e-9d7e-6f3c1b2a9d10","user_id":"U4","event_type":"teleport","timestamp":"2025-06-01T10:00:00Z","session_id":"s"}\n'
    printf 'U0005\t{"event_id":"2b8f5e0e-4a47-4c1e-9d7e-6f3c1b2a9d10","user_id":"U5","event_type":"search","timestamp":"9999-01-01T00:00:00Z","search_query":"q","session_id":"s"}\n'
    printf 'U0006\t{"event_id":"3b8f5e0e-4a47-4c1e-9d7e-6f3c1b2a9d10","user_id":"U6","event_type":"product_view","timestamp":"2025-06-01T10:00:00Z","product_id":"P1","product_name":"x","category":"c","price":1e400,"session_id":"s"}\n'
    printf 'U0007\t\xff\xfe\xfd not utf8\n'
    printf 'U0008\t[]\n'
    printf 'U0009\t{"event_id":"4b8f5e0e-4a47-4c1e-9d7e-6f3c1b2a9d10","user_id":"U0009","event_type":"add_to_cart","timestamp":"2025-06-01T10:00:01Z","product_id":"P001","product_name":"iPhone 15 Pro","category":"Electronics","price":999.99,"session_id":"s9"}\n'
} >"$hostile"
kcat -P -b "$bootstrap" -t user-events -K '\t' -l "$hostile"
# an empty message, a null value, and a 2 MB message
printf 'U0010\t\n' | kcat -P -b "$bootstrap" -t user-events -K '\t' -Z # null value
printf 'U0011\t\n' | kcat -P -b "$bootstrap" -t user-events -K '\t'    # empty
head -c 2000000 /dev/zero | tr '\0' 'a' | sed 's/^/{"x":"/; s/$/"}/' >"$tmp/big"
kcat -P -b "$bootstrap" -t user-events -k U0012 -X message.max.bytes=3000000 "$tmp/big"
# hostile transactions and inventory updates
printf 'U0001\t{"transaction_id":"5f0c6a52-3a43-4b7a-8f4e-2c1d0e9b8a71","user_id":"U0001","event_type":"purchase","timestamp":"2025-06-01T10:00:00Z","payment_method":"card","items":[{"product_id":"P005","product_name":"N","price":150.00,"quantity":-2,"item_total":-300.00}],"total_amount":1}\n' \
    | kcat -P -b "$bootstrap" -t transactions -K '\t'
printf 'P001\t{"event_id":"9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d","event_type":"inventory_update","product_id":"P001","product_name":"x","stock_change":1,"current_stock":"lots","warehouse_location":"NYC","timestamp":"2025-06-01T10:00:00Z"}\n' \
    | kcat -P -b "$bootstrap" -t inventory-updates -K '\t'
dl_before=$(sql 'select count(*) from dead_letter_events')
expect_status "stream over the hostile corpus exits 0" 0 "$stream" -p 0 -P 0 --exit-when-idle 3
check "valid messages around the hostile ones stored" $((good + 2)) "$(sql 'select count(*) from user_events')"
new_dl=$(($(sql 'select count(*) from dead_letter_events') - dl_before))
check "every hostile message dead-lettered" 12 "$new_dl"
check "hostile reasons are distinct" 12 "$(sql "select count(distinct reason) from (select reason from dead_letter_events order by id desc limit 12) d")"
check "invalid UTF-8 stored escaped" 1 "$(sql "select count(*) from dead_letter_events where payload_encoding = 'escape' and strpos(payload, '\\xff\\xfe') > 0")"
check "null value recorded as null" 1 "$(sql "select count(*) from dead_letter_events where payload_encoding = 'null' and kafka_key = 'U0010'")"
check "2 MB message kept as a 4096-byte prefix with its size in the dead letters" "1 4096 $(wc -c <"$tmp/big") t" \
    "$(sql "select count(*), max(length(payload)), max(payload_bytes), bool_and(payload_truncated) from dead_letter_events where kafka_key = 'U0012' and payload_encoding = 'utf8' and payload = left('{\"x\":\"' || repeat('a', 4090), 4096)" | tr '|' ' ')"
run_checks "hostile corpus"
finish
