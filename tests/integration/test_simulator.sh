#!/usr/bin/env bash
# tests/integration/test_simulator.sh - ecom-simulator against the dev broker,
# checked with kcat (a client written by others): message counts per topic
# match the simulator's summary, every message validates against its schema,
# keys are user_id/product_id and each key stays on one partition, injected
# faults are exactly what the summary says, the default rates hold over 30 s,
# SIGINT flushes and exits 0, and an unreachable broker gives clear errors
# and retries instead of a crash.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
sim=$bin/ecom-simulator
topics=(user-events transactions inventory-updates)

# counts FILE: check_events on everything in the broker.
counts() {
    consume_all "${topics[@]}" | "$bin/check_events" >"$1" 2>"$tmp/check.err"
}

# --- a fixed number of events, as fast as possible
start_broker --partitions 3
expect_status "max-rate run of 6000 events exits 0" 0 "$sim" --max-rate -n 6000 --seed 7 -P 0
cp "$tmp/out" "$tmp/summary.json"
check "summary: produced" 6000 "$(json_get "$tmp/summary.json" 'j["produced"]')"
check "summary: delivered" 6000 "$(json_get "$tmp/summary.json" 'j["delivered"]')"
counts "$tmp/counts.json"
for t in "${topics[@]}"; do
    want=$(json_get "$tmp/summary.json" "j['topics']['$t']['delivered']")
    check "$t: kcat reads what was delivered" "$want" "$(json_get "$tmp/counts.json" "j['$t']['messages']")"
    check "$t: every message valid" 0 "$(json_get "$tmp/counts.json" "j['$t']['invalid']")"
    check "$t: every key matches" 0 "$(json_get "$tmp/counts.json" "j['$t']['bad_key']")"
    check "$t: ids unique" "$want" "$(json_get "$tmp/counts.json" "j['$t']['distinct_ids']")"
    # every key on exactly one partition, and more than one partition used
    kcat -C -b "$bootstrap" -t "$t" -o beginning -e -q -f '%k %p\n' | sort -u >"$tmp/kp"
    check "$t: each key on one partition" "$(cut -d' ' -f1 "$tmp/kp" | sort -u | wc -l)" "$(wc -l <"$tmp/kp")"
    check_range "$t: partitions used" 2 3 "$(cut -d' ' -f2 "$tmp/kp" | sort -u | wc -l)"
done
check_range "mix: user events share" 5400 5600 "$(json_get "$tmp/counts.json" "j['user-events']['messages']")"
stop_broker

# --- fault injection: what reaches Kafka is what the summary claims
start_broker
expect_status "fault-injected run exits 0" 0 "$sim" --max-rate -n 8000 --seed 3 --fault-rate 0.03 -P 0
cp "$tmp/out" "$tmp/faults.json"
counts "$tmp/fcounts.json"
for t in "${topics[@]}"; do
    bad=$(json_get "$tmp/faults.json" "j['topics']['$t']['malformed'] + j['topics']['$t']['missing_field']")
    check "$t: invalid messages = malformed + missing_field" "$bad" \
        "$(json_get "$tmp/fcounts.json" "j['$t']['invalid']")"
    check "$t: distinct valid ids = valid_unique" \
        "$(json_get "$tmp/faults.json" "j['topics']['$t']['valid_unique']")" \
        "$(json_get "$tmp/fcounts.json" "j['$t']['distinct_ids']")"
done
check_range "user-events: duplicates injected" 100 400 "$(json_get "$tmp/faults.json" "j['topics']['user-events']['duplicate']")"
check_range "transactions: fraud bursts injected" 1 400 "$(json_get "$tmp/faults.json" "j['topics']['transactions']['fraud_burst']")"
stop_broker

# --- default rates over 30 s: 600 user events, 30 transactions, 20 updates
start_broker
expect_status "30 s run at default rates exits 0" 0 "$sim" -d 30 -P 10
cp "$tmp/err" "$tmp/rate.err"
counts "$tmp/rcounts.json"
check_range "30 s: user events within 10% of 600" 540 660 "$(json_get "$tmp/rcounts.json" "j['user-events']['messages']")"
check_range "30 s: transactions within 3 of 30" 27 33 "$(json_get "$tmp/rcounts.json" "j['transactions']['messages']")"
check_range "30 s: inventory updates within 3 of 20" 17 23 "$(json_get "$tmp/rcounts.json" "j['inventory-updates']['messages']")"
check_range "30 s: progress lines" 2 4 "$(grep -c 'progress: ' "$tmp/rate.err")"
stop_broker

# --- SIGINT flushes what is in flight and exits 0
start_broker
"$sim" -m 5 -P 0 >"$tmp/int.json" 2>"$tmp/int.err" &
sim_pid=$!
sleep 3
kill -INT "$sim_pid"
rc=0
wait "$sim_pid" || rc=$?
check "SIGINT: exit status" 0 "$rc"
delivered=$(json_get "$tmp/int.json" 'j["delivered"]')
check_range "SIGINT: events delivered in the 3 s before it" 1 1000000 "$delivered"
check "SIGINT: everything produced was delivered" "$(json_get "$tmp/int.json" 'j["produced"]')" "$delivered"
counts "$tmp/icounts.json"
check "SIGINT: kcat reads every delivered message" "$delivered" \
    "$(json_get "$tmp/icounts.json" 'sum(v["messages"] for v in j.values())')"
stop_broker

# --- broker down: clear errors, retries, delivery once it is back
port=$(free_port)
"$sim" -b "127.0.0.1:$port" -n 40 -m 4 -P 0 >"$tmp/late.json" 2>"$tmp/late.err" &
sim_pid=$!
sleep 3
kill -0 "$sim_pid" 2>/dev/null && ok "broker down: simulator keeps running" || not_ok "broker down: simulator exited"
grep -Eqi 'connect|brokers are down' "$tmp/late.err" && ok "broker down: error logged" \
    || not_ok "broker down: no error logged: $(tail -3 "$tmp/late.err")"
"$bin/ecom-broker" --listen "127.0.0.1:$port" >"$tmp/broker.out" 2>"$tmp/broker.err" &
broker_pid=$!
rc=0
wait "$sim_pid" || rc=$?
check "broker back: exit status" 0 "$rc"
check "broker back: all 40 delivered" 40 "$(json_get "$tmp/late.json" 'j["delivered"]')"
stop_broker

expect_status "no broker at all: gives up with status 1" 1 \
    "$sim" -b "127.0.0.1:$(free_port)" -n 5 -P 0 -X message.timeout.ms=2000
check "no broker at all: failures counted" 5 "$(json_get "$tmp/out" 'j["failed"]')"
finish
