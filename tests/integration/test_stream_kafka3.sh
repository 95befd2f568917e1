#!/usr/bin/env bash
# tests/integration/test_stream_kafka3.sh - the pipeline on a three-node
# Apache Kafka (scripts/kafka-local.sh --nodes 3: KRaft, replication factor
# 3, min.insync.replicas=2, data in the temp dir, free ports) and a
# throwaway PostgreSQL, with broker faults while ecom-simulator produces at
# a real rate (acks=all, idempotence) and one ecom-stream instance, never
# restarted, consumes:
#  1. kill -9 of the leader of user-events/0: the leadership moves, the
#     stream resumes on every partition the dead node led, by itself;
#     then the node is started again;
#  2. another partition leader stopped (stop-node) for 30 s, then started
#     again: the stream keeps storing offsets, on the partitions the node
#     led too, while only 2 of 3 replicas are in sync;
#  3. after each fault, the producer's exactly-once guarantee: per topic,
#     the messages in the log (kcat) = distinct payloads in the log =
#     delivered in the simulator's summary, rows in PostgreSQL = valid_unique,
#     stored offsets = delivered; no failed delivery, no gap; the
#     consistency checks of sql/checks/ list nothing (the stream running:
#     each check is one statement, one snapshot);
# and /health answers 200 again after each failover, the ecom_stream_*
# metrics show no dead letter and no duplicate for clean input.
# A kill -9 stalls every acks=all write for about 10 s, not only the dead
# node's partitions: the dead follower stays in every ISR until the
# controller fences it (broker.session.timeout.ms, 9 s), and the group's
# offset commits stall with it, so the stream's group session may time out
# and rejoin; the bounds below allow for that.
# Also the script's three-node mode: status, bootstrap, the brokers'
# replication settings, kill-node/stop-node/start-node, stop (its single
# node is tested by test_kafka_local.sh, the stream on one node by
# test_stream_kafka.sh). Phase times
# are printed as "# ..." lines; ECOM_TEST_LOGS=DIR keeps the daemons' and
# the nodes' logs there.
#
# Usage: tests/integration/test_stream_kafka3.sh [BIN_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
sim=$bin/ecom-simulator
stream=$bin/ecom-stream
kafka_local=$repo/scripts/kafka-local.sh
topics=(user-events transactions inventory-updates)
group=ecom-stream
rate=10           # simulator multiplier: about 217 events/s
outage_s=30       # scenario 2: how long the node stays stopped
resume_bound_s=60 # a fault to the stream storing again on every partition
drain_bound_s=90  # the simulator stopped to every offset stored

now_ms() { date +%s%3N; }
note() { printf '# %s\n' "$*"; }
since() { # T0_MS: seconds since T0, one decimal
    local d=$(($(now_ms) - $1))
    printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}
k3() { "$kafka_local" --nodes 3 "$@"; }
offsets_sum() { sql "select coalesce(sum(next_offset), 0) from stream_offsets where consumer_group = '$group'"; }
offset_of() { # TOPIC PARTITION
    sql "select coalesce(max(next_offset), 0) from stream_offsets where consumer_group = '$group' and topic = '$1' and kafka_partition = $2"
}
# led_by NODE: the partitions (topic:partition) NODE leads now, from kcat.
led_by() {
    kcat -L -b "$bootstrap" -m 5 2>/dev/null | awk -v n="$1" '
        $1 == "topic" { t = $2; gsub("\"", "", t) }
        $1 == "partition" && $3 == "leader" && $4 == n "," { p = $2; sub(",", "", p); print t ":" p }' |
        grep -E "^($(IFS='|'; echo "${topics[*]}")):" || true
}
health() { curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/health" || true; }
# wait_until SECONDS CMD...: polls CMD every 0.2 s until it succeeds; sets
# waited_ms; returns 1 when SECONDS pass first.
wait_until() {
    local bound=$1 t0
    shift
    t0=$(now_ms)
    until "$@"; do
        (($(now_ms) - t0 >= bound * 1000)) && { waited_ms=$(($(now_ms) - t0)); return 1; }
        sleep 0.2
    done
    waited_ms=$(($(now_ms) - t0))
}
health_is() { [[ $(health) == "$1" ]]; }
exited() { ! kill -0 "$1" 2>/dev/null; }
offsets_at_least() { (($(offsets_sum) >= $1)); }
partition_at_least() { (($(offset_of "$1" "$2") >= $3)); } # TOPIC PARTITION N
# all_beyond FILE: every "topic:partition offset" line of FILE has a stored
# offset beyond the one recorded.
all_beyond() {
    local tp off
    while read -r tp off; do
        (($(offset_of "${tp%:*}" "${tp#*:}") > off)) || return 1
    done <"$1"
}
# snapshot_offsets FILE: the stored offsets of the partitions in FILE
# (topic:partition per line) as "topic:partition offset" lines, in place.
snapshot_offsets() {
    local tp out=
    while read -r tp _; do out+="$tp $(offset_of "${tp%:*}" "${tp#*:}")"$'\n'; done <"$1"
    printf '%s' "$out" >"$1"
}

# Cumulative expectations over the simulator runs, per topic.
declare -A want_valid=() want_delivered=()
for t in "${topics[@]}"; do want_valid[$t]=0 want_delivered[$t]=0; done

# start_sim LABEL SEED: the simulator at $rate times the documented rates,
# until stopped.
start_sim() {
    "$sim" -m "$rate" -s "$2" -P 1 >"$tmp/$1.json" 2>"$tmp/$1.sim.err" &
    sim_pid=$!
}
# stop_sim LABEL: SIGTERM, at most 40 s for the flush (its bound is 30 s);
# adds its summary to the expectations.
stop_sim() {
    local label=$1 rc=0 t0 t
    t0=$(now_ms)
    kill -TERM "$sim_pid" 2>/dev/null || true
    if ! wait_until 40 exited "$sim_pid"; then
        not_ok "$label: the simulator is still running 40 s after SIGTERM; SIGKILL"
        kill -KILL "$sim_pid" 2>/dev/null || true
    fi
    wait "$sim_pid" || rc=$?
    note "$label: simulator stopped in $(since "$t0") s"
    check "$label: simulator exits 0 (every message delivered)" 0 "$rc"
    check "$label: no failed delivery in the summary" 0 "$(json_get "$tmp/$label.json" 'j["failed"]' 2>/dev/null)"
    for t in "${topics[@]}"; do
        want_valid[$t]=$((want_valid[$t] + $(json_get "$tmp/$label.json" "j['topics']['$t']['valid_unique']")))
        want_delivered[$t]=$((want_delivered[$t] + $(json_get "$tmp/$label.json" "j['topics']['$t']['delivered']")))
    done
    note "$label: simulator delivered $(json_get "$tmp/$label.json" 'j["delivered"]') events"
}
total_delivered() {
    local t n=0
    for t in "${topics[@]}"; do n=$((n + want_delivered[$t])); done
    printf '%s' "$n"
}
# expect_exact LABEL: waits until every delivered message's offset is stored,
# then compares, per topic, the log, PostgreSQL and stored offsets with the
# simulator summaries so far.
expect_exact() {
    local label=$1 total t0 t table log_file
    total=$(total_delivered)
    t0=$(now_ms)
    if wait_until "$drain_bound_s" offsets_at_least "$total"; then
        note "$label: every offset stored $(since "$t0") s after the simulator stopped"
    else
        not_ok "$label: stored offsets reach $(offsets_sum) of $total within ${drain_bound_s} s"
    fi
    ((total > 0)) && ok "$label: the simulators delivered $total events in all" ||
        not_ok "$label: the simulators delivered nothing"
    for t in "${topics[@]}"; do
        case $t in
        user-events) table=user_events ;;
        transactions) table=transactions ;;
        inventory-updates) table=inventory_updates ;;
        esac
        log_file=$tmp/log-$t
        kcat -C -b "$bootstrap" -t "$t" -o beginning -e -q -f '%s\n' >"$log_file" 2>"$tmp/kcat.err" ||
            not_ok "$label: kcat reads $t: $(tail -n 2 "$tmp/kcat.err")"
        check "$label: $t: messages in the log = delivered (no retry duplicate, none lost)" \
            "${want_delivered[$t]}" "$(wc -l <"$log_file")"
        check "$label: $t: distinct payloads in the log = delivered" \
            "${want_delivered[$t]}" "$(sort -u "$log_file" | wc -l)"
        check "$label: $t: rows in $table = valid_unique" "${want_valid[$t]}" "$(sql "select count(*) from $table")"
        check "$label: $t: stored offsets = delivered" "${want_delivered[$t]}" \
            "$(sql "select coalesce(sum(next_offset), 0) from stream_offsets where consumer_group = '$group' and topic = '$t'")"
    done
    check "$label: no gap, no dead letter" "0 0" \
        "$(sql 'select count(*) from stream_gaps') $(sql 'select count(*) from dead_letter_events')"
}
# expect_health LABEL: /health answers 200 (again) within 30 s.
expect_health() {
    if wait_until 30 health_is 200; then
        ok "$1: /health answers 200 ($waited_ms ms)"
    else
        not_ok "$1: /health answers $(health), not 200, after 30 s: $(curl -s -m 3 "http://127.0.0.1:$hport/health")"
    fi
}
# wait_resumed LABEL FILE T0: the stream stores beyond the offsets in FILE on
# every partition listed there.
wait_resumed() {
    if wait_until "$resume_bound_s" all_beyond "$2"; then
        ok "$1: the stream stores again on every partition the node led ($(since "$3") s after the fault)"
    else
        not_ok "$1: the stream did not store beyond these offsets within ${resume_bound_s} s: $(paste -sd' ' "$2")"
    fi
}

# --------------------------------------------------------------- set-up
start_pg >/dev/null
port=$(free_port_block 3) || { echo "not ok - no free block of 3 listener and controller ports"; exit 1; }
export ECOM_KAFKA_DATA=$tmp/kafka3 ECOM_KAFKA_QUIET=1 TOPIC_PARTITIONS=3
# Test settings: 3 partitions of __consumer_offsets instead of 50 (fewer
# replicas to create, load and bring back in sync), and the JVMs' client
# compiler only, which starts a node in far less CPU on a loaded 2-core
# machine; neither changes replication or leader election.
export ECOM_KAFKA_SERVER_PROPERTIES="offsets.topic.num.partitions=3 ${ECOM_KAFKA_SERVER_PROPERTIES:-}"
export ECOM_KAFKA_JAVA_OPTS="-XX:TieredStopAtLevel=1 ${ECOM_KAFKA_JAVA_OPTS:-}"
export KAFKA_BOOTSTRAP_SERVERS=localhost:$port
kafka_started=1
t0=$(now_ms)
if k3 start >"$tmp/kafka.out" 2>&1; then
    ok "three Kafka nodes on ports $port..$((port + 2))"
else
    not_ok "three Kafka nodes start: $(tail -n 5 "$tmp/kafka.out")"
    finish || exit 1
fi
note "three nodes formatted and started: $(since "$t0") s"
bootstrap=$(k3 bootstrap)
export KAFKA_BOOTSTRAP_SERVERS=$bootstrap # every node, for the daemons and kcat
check "every partition replicated 3 times" \
    "user-events partitions=3 replicas=3|transactions partitions=3 replicas=3|inventory-updates partitions=3 replicas=3" \
    "$(k3 topics 2>/dev/null | paste -sd'|')"
# The script's three-node mode (test_kafka_local.sh tests one node).
expect_status "status of 3 running nodes exits 0 (nodes read from cluster.env)" 0 "$kafka_local" status
check "status lists 3 running nodes" 3 "$(grep -c ': running' "$tmp/out")"
check "bootstrap lists the 3 listeners" "localhost:$port,localhost:$((port + 1)),localhost:$((port + 2))" "$bootstrap"
check "the metadata lists 3 brokers" " 3 brokers:" "$(kcat -L -b "$bootstrap" 2>/dev/null | grep ' brokers:')"
expect_status "ConfigCommand runs through the tool command" 0 k3 tool ConfigCommand \
    --bootstrap-server "localhost:$port" --entity-type brokers --entity-name 1 --describe --all
for kv in min.insync.replicas=2 offsets.topic.replication.factor=3 transaction.state.log.replication.factor=3 \
    transaction.state.log.min.isr=2 default.replication.factor=3; do
    grep -q "^  $kv " "$tmp/out" && ok "broker config $kv" || not_ok "broker config $kv: $(grep "^  ${kv%=*}=" "$tmp/out")"
done
expect_status "kill-node 4 exits 2" 2 k3 kill-node 4
expect_status "--nodes 1 on a 3-node data directory exits 1" 1 "$kafka_local" --nodes 1 start

hport=$(free_port)
"$stream" -g "$group" -p "$hport" -P 1 >"$tmp/stream.out" 2>"$tmp/stream.err" &
stream_pid=$!
t0=$(now_ms)
wait_until 30 health_is 200 && ok "stream /health answers 200 ($waited_ms ms)" ||
    not_ok "stream /health answers $(health) after 30 s"

# ------------------------------------- 1. kill -9 of a partition leader
victim=$(k3 leader user-events 0 2>/dev/null || true)
[[ $victim =~ ^[1-3]$ ]] && ok "1: user-events/0 is led by node $victim" ||
    { not_ok "1: the leader of user-events/0: \"$victim\""; victim=1; }
led_by "$victim" >"$tmp/led1"
check_range "1: partitions led by node $victim" 1 9 "$(wc -l <"$tmp/led1")"
start_sim s1 31
t0=$(now_ms)
wait_until 60 partition_at_least user-events 0 200 &&
    note "1: stream storing user-events/0 $(since "$t0") s after the simulator started" ||
    not_ok "1: the stream did not store 200 offsets of user-events/0 within 60 s (stored $(offset_of user-events 0))"
snapshot_offsets "$tmp/led1"
t_kill=$(now_ms)
expect_status "1: kill-node $victim (SIGKILL) while both run" 0 k3 kill-node "$victim"
expect_status "1: status with one node down exits 4" 4 k3 status
new_leader=
moved() { new_leader=$(k3 leader user-events 0 2>/dev/null) && [[ $new_leader != "$victim" ]]; }
if wait_until 60 moved; then
    ok "1: user-events/0 moves from node $victim to node $new_leader"
    note "1: leadership moved $(since "$t_kill") s after the kill"
else
    not_ok "1: user-events/0 still has no new leader 60 s after the kill"
fi
wait_resumed 1 "$tmp/led1" "$t_kill"
kill -0 "$stream_pid" 2>/dev/null && ok "1: the stream still runs (not restarted)" || not_ok "1: the stream exited"
stop_sim s1
expect_exact 1
run_checks "1"
expect_health "1: after the failover, node $victim still down"
t0=$(now_ms)
expect_status "1: start-node $victim brings the killed node back" 0 k3 start-node "$victim"
note "1: node $victim back with every replica in sync: $(since "$t0") s"

# ------------------------------ 2. a node stopped for 30 s, then back
victim=$(k3 leader transactions 0 2>/dev/null || true)
[[ $victim =~ ^[1-3]$ ]] || { not_ok "2: the leader of transactions/0: \"$victim\""; victim=2; }
led_by "$victim" >"$tmp/led2"
note "2: node $victim leads $(paste -sd' ' "$tmp/led2")"
base=$(offsets_sum)
start_sim s2 32
t0=$(now_ms)
wait_until 60 offsets_at_least $((base + 300)) &&
    note "2: stream storing the new events $(since "$t0") s after the simulator started" ||
    not_ok "2: the stream did not store 300 new offsets within 60 s"
snapshot_offsets "$tmp/led2"
t_stop=$(now_ms)
expect_status "2: stop-node $victim while both run" 0 k3 stop-node "$victim"
note "2: node $victim stopped in $(since "$t_stop") s"
at_stop=$(offsets_sum)
wait_resumed 2 "$tmp/led2" "$t_stop"
# The rest of the outage: stored offsets must keep growing, sampled each
# second; the longest time without growth is reported and bounded.
last=$(offsets_sum) grew_ms=$(now_ms) longest=0 codes=
while (($(now_ms) - t_stop < outage_s * 1000)); do
    sleep 1
    cur=$(offsets_sum)
    if ((cur > last)); then
        (($(now_ms) - grew_ms > longest)) && longest=$(($(now_ms) - grew_ms))
        last=$cur grew_ms=$(now_ms)
    fi
    codes+=" $(health)"
done
(($(now_ms) - grew_ms > longest)) && longest=$(($(now_ms) - grew_ms))
note "2: /health during the outage:$codes"
check_range "2: stored offsets grow during the ${outage_s} s outage" $((at_stop + 1)) 999999999 "$last"
check_range "2: longest time without a stored offset during the outage (ms)" 0 15000 "$longest"
kill -0 "$sim_pid" 2>/dev/null &&
    ok "2: the simulator still produces with 2 of 3 replicas (min.insync.replicas=2)" ||
    not_ok "2: the simulator exited during the outage"
t0=$(now_ms)
expect_status "2: start-node $victim after ${outage_s} s" 0 k3 start-node "$victim"
note "2: node $victim back with every replica in sync: $(since "$t0") s"
expect_status "2: all three nodes run" 0 k3 status
back=$(offsets_sum)
wait_until 30 offsets_at_least $((back + 100)) && ok "2: the stream stores with the node back" ||
    not_ok "2: the stream did not store 100 new offsets within 30 s of the node's return"
stop_sim s2
expect_exact 2
run_checks "2"
expect_health "2: after the node's return"

# ------------------------------------------------ metrics and the end
curl -fs "http://127.0.0.1:$hport/metrics" >"$tmp/metrics" && ok "metrics endpoint answers" || not_ok "metrics endpoint"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$tmp/metrics"; }
for t in "${topics[@]}"; do
    check "metrics: $t consumed = delivered" "${want_delivered[$t]}" \
        "$(metric "ecom_stream_messages_consumed_total{topic=\"$t\"}")"
    check "metrics: $t dead-lettered" 0 "$(metric "ecom_stream_messages_dead_lettered_total{topic=\"$t\"}")"
    check "metrics: $t duplicates" 0 "$(metric "ecom_stream_messages_duplicate_total{topic=\"$t\"}")"
    check "metrics: $t offset gaps" 0 "$(metric "ecom_stream_offset_gaps_total{topic=\"$t\"}")"
done
kill -TERM "$stream_pid"
rc=0
wait_until 20 exited "$stream_pid" || { not_ok "stream still runs 20 s after SIGTERM"; kill -KILL "$stream_pid"; }
wait "$stream_pid" || rc=$?
check "the stream, never restarted, exits 0 on SIGTERM" 0 "$rc"
note "stream log: $(grep -c ' WARN: ' "$tmp/stream.err" || true) warnings, $(grep -c ' ERROR: ' "$tmp/stream.err" || true) errors"
grep -E ' (WARN|ERROR): ' "$tmp/stream.err" | head -n 5 | sed 's/^/#   /' || true

check "__consumer_offsets is replicated 3 times" "3" \
    "$(kcat -L -b "$bootstrap" -t __consumer_offsets 2>/dev/null | sed -n 's/.*partition 0, leader [0-9]*, replicas: \([0-9,]*\),.*/\1/p' | awk -F, '{print NF}')"
t0=$(now_ms)
expect_status "stopping the 3 nodes exits 0" 0 k3 stop
note "stop of 3 nodes: $(since "$t0") s"
expect_status "status after stop exits 3" 3 k3 status

# On a failure, the logs' last lines; ECOM_TEST_LOGS=DIR keeps them all.
if ((failed > 0)); then
    for f in "$tmp"/stream.err "$tmp"/s*.sim.err; do
        [[ -f $f ]] && { echo "# --- $(basename "$f")"; tail -n 15 "$f" | sed 's/^/#   /'; }
    done
fi
if [[ -n ${ECOM_TEST_LOGS:-} ]]; then
    mkdir -p -- "$ECOM_TEST_LOGS"
    cp -- "$tmp"/*.err "$tmp"/*.json "$ECOM_TEST_LOGS"/ 2>/dev/null || true
    for i in 1 2 3; do cp -- "$ECOM_KAFKA_DATA/node-$i/server.log" "$ECOM_TEST_LOGS/node-$i.server.log" 2>/dev/null || true; done
fi
note "total $SECONDS s"
finish
