#!/usr/bin/env bash
# tests/integration/test_stream_recovery.sh - exactly-once under trouble,
# with exact row counts against the simulator's summary:
#  - kill -9 in the middle of a 200,000-event run, then a restart;
#  - two instances of the same group started side by side;
#  - PostgreSQL stopped for 10 s in the middle of a run;
#  - retention: offsets the broker no longer holds end up in stream_gaps;
#  - Kafka unreachable (the dev broker's SIGUSR1/SIGUSR2 outage): /health
#    says so, nothing is lost, nothing stored twice;
#  - a new Kafka cluster (restarted dev broker): offsets start over, recorded;
# after each, the consistency checks of sql/checks/ list nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
sim=$bin/ecom-simulator
stream=$bin/ecom-stream
stored() { sql 'select (select count(*) from user_events) + (select count(*) from transactions) + (select count(*) from inventory_updates)'; }
# wait_for_rows N: until at least N rows are stored (or 120 s)
wait_for_rows() {
    for _ in $(seq 1200); do (($(stored) >= $1)) && return 0; sleep 0.1; done
    return 1
}
expect_exact() { # NAME SUMMARY_FILE
    local want
    want=$(json_get "$2" "sum(v['valid_unique'] for v in j['topics'].values())")
    check "$1: every valid event stored exactly once" "$want" "$(stored)"
    check "$1: offsets cover every message" "$(json_get "$2" 'j["delivered"]')" \
        "$(sql "select coalesce(sum(next_offset), 0) from stream_offsets where consumer_group = 'ecom-stream'")"
}

start_pg >/dev/null

# --- kill -9 mid-run, restart
start_broker --partitions 12
expect_status "simulator: 200,000 events" 0 "$sim" --max-rate -n 200000 --seed 5 --duplicate 0.01 -P 0
cp "$tmp/out" "$tmp/kill.json"
"$stream" -p 0 -P 0 --flush-rows 2000 >"$tmp/s1.out" 2>"$tmp/s1.err" &
pid=$!
if wait_for_rows 60000; then ok "stream stored 60,000 rows before the kill"; else not_ok "stream too slow"; fi
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
partial=$(stored)
check_range "rows stored at the kill" 60000 199999 "$partial"
expect_status "restart after kill -9 exits 0 when idle" 0 "$stream" -p 0 -P 0 --exit-when-idle 3
expect_exact "kill -9" "$tmp/kill.json"
run_checks "kill -9"
stop_broker
reset_tables

# --- two instances side by side
start_broker --partitions 6
"$stream" -p 0 -P 0 --exit-when-idle 8 >"$tmp/a.out" 2>"$tmp/a.err" &
a=$!
"$stream" -p 0 -P 0 --exit-when-idle 8 >"$tmp/b.out" 2>"$tmp/b.err" &
b=$!
sleep 2
expect_status "simulator while two instances run" 0 "$sim" -m 100 -d 8 --seed 6 --duplicate 0.02 -P 0
cp "$tmp/out" "$tmp/two.json"
rc_a=0 rc_b=0
wait "$a" || rc_a=$?
wait "$b" || rc_b=$?
check "instance A exits 0" 0 "$rc_a"
check "instance B exits 0" 0 "$rc_b"
grep -q 'assigned' "$tmp/a.err" && grep -q 'assigned' "$tmp/b.err" \
    && ok "both instances were assigned partitions" || not_ok "an instance got no partitions"
expect_exact "two instances" "$tmp/two.json"
run_checks "two instances"
stop_broker
reset_tables

# --- PostgreSQL down for 10 s mid-run
start_broker --partitions 3
hport=$(free_port)
"$stream" -p "$hport" -P 1 --exit-when-idle 6 >"$tmp/pg.out" 2>"$tmp/pg.err" &
pid=$!
health() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/health" || true; }
"$sim" -m 20 -d 25 --seed 8 -P 0 >"$tmp/pgdown.json" 2>"$tmp/pgdown.err" &
sim_pid=$!
sleep 6
"$repo/scripts/pg-local.sh" stop >/dev/null
sleep 3
check "health is 503 while PostgreSQL is down" 503 "$(health)"
sleep 7
"$repo/scripts/pg-local.sh" start >/dev/null
sleep 6
check "health is 200 again once PostgreSQL is back" 200 "$(health)"
rc=0
wait "$sim_pid" || rc=$?
check "simulator during the outage exits 0" 0 "$rc"
rc=0
wait "$pid" || rc=$?
check "stream survives the outage and exits 0" 0 "$rc"
grep -q 'paused consumption' "$tmp/pg.err" && ok "partitions paused during the outage" || not_ok "no pause logged"
grep -q 'postgres DOWN' "$tmp/pg.err" && ok "progress shows postgres DOWN" || not_ok "outage not in progress lines"
expect_exact "PostgreSQL outage" "$tmp/pgdown.json"
run_checks "PostgreSQL outage"
stop_broker
reset_tables

# --- retention: the broker drops what the stream never read
start_broker --partitions 1 --topic user-events:1
expect_status "simulator: 60,000 user events into one partition" 0 \
    "$sim" --max-rate -n 60000 -t 0 -i 0 --seed 9 -P 0
cp "$tmp/out" "$tmp/gap.json"
expect_status "stream over a truncated partition exits 0" 0 "$stream" -p 0 -P 0 --exit-when-idle 3
gaps=$(sql "select count(*) from stream_gaps where kind = 'retention' and first_missing_offset = 0")
check "the dropped range is recorded" 1 "$gaps"
missing=$(sql "select coalesce(sum(last_missing_offset - first_missing_offset + 1), 0) from stream_gaps")
check "stored + recorded missing = produced" 60000 $(($(stored) + missing))
grep -q 'no longer held by the broker' "$tmp/err" && ok "the gap is logged as an error" || not_ok "gap not logged"
run_checks "retention"
stop_broker
reset_tables

# --- Kafka unreachable: the broker's brokers go down (SIGUSR1) and come
# back (SIGUSR2) with their data; producer and stream both carry on
start_broker --partitions 2
hport=$(free_port)
"$stream" -p "$hport" -P 1 -X session.timeout.ms=6000 >"$tmp/k.out" 2>"$tmp/k.err" &
pid=$!
expect_status "simulator before the outage" 0 "$sim" --max-rate -n 300 --seed 12 -P 0
cp "$tmp/out" "$tmp/k1.json"
wait_for_rows "$(json_get "$tmp/k1.json" "sum(v['valid_unique'] for v in j['topics'].values())")" \
    && ok "events before the outage stored" || not_ok "events before the outage not stored ($(stored))"
kill -USR1 "$broker_pid"
sleep 4
check "health is 503 while Kafka is down" 503 "$(health)"
"$sim" --max-rate -n 200 --seed 13 -P 0 >"$tmp/k2.json" 2>"$tmp/k2.err" &
sim_pid=$!
sleep 3
kill -0 "$pid" 2>/dev/null && ok "stream keeps running without Kafka" || not_ok "stream died without Kafka"
kill -0 "$sim_pid" 2>/dev/null && ok "simulator keeps retrying without Kafka" || not_ok "simulator gave up"
kill -USR2 "$broker_pid"
rc=0
wait "$sim_pid" || rc=$?
check "simulator delivers once Kafka is back" 0 "$rc"
want=$(($(json_get "$tmp/k1.json" "sum(v['valid_unique'] for v in j['topics'].values())") + \
    $(json_get "$tmp/k2.json" "sum(v['valid_unique'] for v in j['topics'].values())")))
wait_for_rows "$want" && ok "events sent during the outage stored" || not_ok "outage events not stored ($(stored) of $want)"
check "health is 200 again once Kafka is back" 200 "$(health)"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
check "stream exits 0 after the Kafka outage" 0 "$rc"
check "no event stored twice" "$want" "$(stored)"
run_checks "Kafka outage"

# --- a restarted dev broker is a new, empty cluster: the stored offsets
# belong to the old one, so every partition starts over and says so (more
# events than before, so offsets alone would not show it)
stop_broker
start_broker --partitions 2
expect_status "simulator on the new cluster" 0 "$sim" --max-rate -n 800 --seed 14 -P 0
cp "$tmp/out" "$tmp/k3.json"
expect_status "stream on the new cluster exits 0 when idle" 0 "$stream" -p 0 -P 0 --exit-when-idle 3
old_id=$(sed -n 's/.*Kafka cluster id "\(.*\)"$/\1/p' "$tmp/k.err" | head -1)
new_id=$(sed -n 's/.*Kafka cluster id "\(.*\)"$/\1/p' "$tmp/err" | head -1)
if [[ -n $old_id && $old_id == "$new_id" ]]; then
    # The mock cluster's id comes from its address, which ASan's allocator
    # repeats from run to run: the two clusters cannot be told apart.
    echo "skip - the restarted dev broker reused cluster id $old_id (sanitizer build)"
else
    check "stored: both clusters' events" \
        $((want + $(json_get "$tmp/k3.json" "sum(v['valid_unique'] for v in j['topics'].values())"))) "$(stored)"
    check "every partition's reset recorded" 6 "$(sql "select count(*) from stream_gaps where kind = 'reset'")"
    grep -q 'were stored for Kafka cluster' "$tmp/err" && ok "the reset is logged" || not_ok "reset not logged"
fi
run_checks "a new Kafka cluster"
finish
