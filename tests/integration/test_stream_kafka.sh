#!/usr/bin/env bash
# tests/integration/test_stream_kafka.sh - ecom-stream against a real Apache
# Kafka (scripts/kafka-local.sh, one KRaft node on free ports, data in the
# temp dir) and a throwaway PostgreSQL, with exact row counts against the
# simulator's summary:
#  (a) a simulator run: every valid event stored once, offsets = delivered;
#  (c) a wiped and reformatted broker (a new cluster id on the same port):
#      every partition with stored offsets records a 'reset' gap and the new
#      cluster's events are stored;
#  (b) retention: user-events with 1 MiB segments, retention.bytes 1 MiB and
#      retention.ms 1 h on a broker that checks retention every second (a
#      short retention.ms would delete the active segment too, and a
#      partition emptied to its end shows the stream no gap to record);
#      once its log start offset has moved (kcat -Q) the stream starts,
#      records a 'retention' gap, and stored + missing = produced;
# after each, the consistency checks of sql/checks/ list nothing.
# test_stream_recovery.sh checks the same against the mock broker.
#
# Usage: tests/integration/test_stream_kafka.sh [BIN_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
sim=$bin/ecom-simulator
stream=$bin/ecom-stream
kafka_local=$repo/scripts/kafka-local.sh

stored() { sql 'select (select count(*) from user_events) + (select count(*) from transactions) + (select count(*) from inventory_updates)'; }
valid_unique() { json_get "$1" "sum(v['valid_unique'] for v in j['topics'].values())"; }
# fresh_kafka: the broker stopped, its data removed, started again: a new
# cluster (new cluster id) on the same ports.
fresh_kafka() {
    "$kafka_local" stop >/dev/null 2>&1 || true
    rm -rf -- "$ECOM_KAFKA_DATA"
    "$kafka_local" start >"$tmp/kafka.out" 2>&1 || { cat "$tmp/kafka.out"; return 1; }
}

start_pg >/dev/null
t0=$SECONDS
if start_kafka_local >"$tmp/kafka.out" 2>&1; then
    ok "kafka-local broker at $bootstrap ($((SECONDS - t0)) s)"
else
    not_ok "kafka-local starts: $(tail -n 5 "$tmp/kafka.out")"
    finish || exit 1
fi
cluster1=$("$kafka_local" cluster-id)

# --- (a) exact counts
expect_status "simulator: 3,000 events with duplicates" 0 \
    "$sim" --max-rate -n 3000 --seed 21 --duplicate 0.02 -P 0
cp "$tmp/out" "$tmp/a.json"
expect_status "stream exits 0 when idle" 0 "$stream" -p 0 -P 0 --exit-when-idle 3
cp "$tmp/err" "$tmp/a.err"
check "every valid event stored exactly once" "$(valid_unique "$tmp/a.json")" "$(stored)"
check "offsets cover every delivered message" "$(json_get "$tmp/a.json" 'j["delivered"]')" \
    "$(sql "select coalesce(sum(next_offset), 0) from stream_offsets where consumer_group = 'ecom-stream'")"
check "no gaps on an intact log" 0 "$(sql 'select count(*) from stream_gaps')"
expect_status "a second stream run over the same log exits 0" 0 "$stream" -p 0 -P 0 --exit-when-idle 3
check "the second run stores nothing twice" "$(valid_unique "$tmp/a.json")" "$(stored)"
run_checks "(a) two runs over one log"

# --- (c) a wiped, reformatted broker: a new cluster
before=$(stored)
partitions=$(sql "select count(*) from stream_offsets where consumer_group = 'ecom-stream' and next_offset > 0")
fresh_kafka && ok "the broker is wiped and reformatted" || not_ok "the broker restarts after the wipe"
cluster2=$("$kafka_local" cluster-id)
[[ -n $cluster2 && $cluster2 != "$cluster1" ]] && ok "a new cluster id ($cluster1 -> $cluster2)" ||
    not_ok "a new cluster id: \"$cluster1\" then \"$cluster2\""
expect_status "simulator on the new cluster" 0 "$sim" --max-rate -n 800 --seed 14 -P 0
cp "$tmp/out" "$tmp/c.json"
expect_status "stream on the new cluster exits 0 when idle" 0 "$stream" -p 0 -P 0 --exit-when-idle 3
cp "$tmp/err" "$tmp/c.err"
check "stored: both clusters' events" $((before + $(valid_unique "$tmp/c.json"))) "$(stored)"
check "every partition with stored offsets records a reset" "$partitions" \
    "$(sql "select count(*) from stream_gaps where kind = 'reset'")"
grep -q 'were stored for Kafka cluster' "$tmp/c.err" && ok "the reset is logged" || not_ok "reset not logged"
# The new cluster's offsets start over: arrival order is commit order here.
run_checks "(c) both clusters"

# --- (b) retention deletes segments while the stream is stopped
reset_tables
export ECOM_KAFKA_TOPICS="transactions inventory-updates"
export ECOM_KAFKA_SERVER_PROPERTIES="log.retention.check.interval.ms=1000 log.segment.delete.delay.ms=0"
fresh_kafka && ok "a broker checking retention every second" || not_ok "the broker restarts for retention"
unset ECOM_KAFKA_TOPICS ECOM_KAFKA_SERVER_PROPERTIES
expect_status "user-events created with 1 MiB segments and retention" 0 \
    "$kafka_local" tool TopicCommand --bootstrap-server "$bootstrap" --create --topic user-events \
    --partitions 1 --replication-factor 1 --config segment.bytes=1048576 \
    --config retention.bytes=1048576 --config retention.ms=3600000
n=30000
expect_status "simulator: $n user events into one partition" 0 \
    "$sim" --max-rate -n "$n" -t 0 -i 0 --seed 9 -P 0
cp "$tmp/out" "$tmp/b.json"
produced=$(json_get "$tmp/b.json" 'j["delivered"]')
check "every user event delivered" "$n" "$produced"
start_offset=0
for _ in $(seq 120); do
    start_offset=$(kcat -Q -b "$bootstrap" -t user-events:0:-2 2>/dev/null | awk '{ print $NF; exit }')
    [[ $start_offset =~ ^[0-9]+$ ]] && ((start_offset > 0)) && break
    sleep 0.5
done
check_range "the log start offset moved (segments deleted)" 1 $((n - 1)) "$start_offset"
expect_status "stream over a truncated partition exits 0" 0 "$stream" -p 0 -P 0 --exit-when-idle 3
cp "$tmp/err" "$tmp/b.err"
check "the deleted range is recorded as a retention gap from offset 0" 1 \
    "$(sql "select count(*) from stream_gaps where kind = 'retention' and first_missing_offset = 0")"
missing=$(sql "select coalesce(sum(last_missing_offset - first_missing_offset + 1), 0) from stream_gaps where kind = 'retention'")
check_range "missing at least the deleted range" "$start_offset" "$n" "$missing"
check "stored + recorded missing = produced" "$produced" $(($(stored) + missing))
grep -q 'no longer held by the broker' "$tmp/b.err" && ok "the gap is logged as an error" || not_ok "gap not logged"
run_checks "(b) retention"

echo "# total $SECONDS s"
finish
