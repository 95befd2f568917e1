#!/usr/bin/env bash
# tests/integration/test_kafka_local.sh - tests scripts/kafka-local.sh on
# throwaway clusters (data directories in a temp dir, free ports), never the
# developer's data/kafka: a single KRaft node (status codes, topics and their
# partition count, produce and consume with kcat, a consumer group's offsets,
# a restart keeping the cluster id, the messages and the offsets, idempotent
# start and stop). Its three-node mode is tested where the pipeline runs
# on it, by test_stream_kafka3.sh (status, settings, kill-node, stop-node,
# start-node, stop). Prints the first
# start's time (with the jar cache cold or warm), the restart's and the
# broker's RSS. Always stops every node and removes the temp dir on exit.
#
# The jar cache is the usual one ($ECOM_KAFKA_CACHE or ${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/kafka),
# so only the first run on a machine downloads; ECOM_KAFKA_TEST_COLD=1 uses an
# empty cache in the temp dir instead, to time a download from Maven Central.
#
# Usage: tests/integration/test_kafka_local.sh [BIN_DIR] (the repo: $ECOM_REPO or ../..)
# Exit status 0 when every check passed, 1 otherwise.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
lib_init "$@"
kafka_local=$repo/scripts/kafka-local.sh
export ECOM_KAFKA_QUIET=1 TOPIC_PARTITIONS=4
unset ECOM_KAFKA_NODES ECOM_KAFKA_CONTROLLER_PORT ECOM_KAFKA_TOPICS
if [[ ${ECOM_KAFKA_TEST_COLD:-0} == 1 ]]; then
    export ECOM_KAFKA_CACHE=$tmp/cache
fi
topics="user-events transactions inventory-updates"
data1=$tmp/kafka1

# The node stops before lib_cleanup removes the temp dir.
kafka_cleanup() {
    ECOM_KAFKA_DATA=$data1 "$kafka_local" stop >/dev/null 2>&1 || true
}
trap 'kafka_cleanup; lib_cleanup' EXIT

# ms: milliseconds since the epoch.
ms() { date +%s%3N; }

# rss_mib PID: resident memory in MiB.
rss_mib() { echo $(($(ps -o rss= -p "$1") / 1024)); }

# partitions_of TOPIC: the partition count kcat's metadata shows.
partitions_of() {
    kcat -L -b "$bootstrap" -t "$1" 2>/dev/null | sed -n "s/^  topic \"$1\" with \([0-9]*\) partitions:\$/\1/p"
}

# consume TOPIC: every message as partition offset key value, sorted.
consume() {
    kcat -C -b "$bootstrap" -t "$1" -o beginning -e -q -f '%p %o %k %s\n' 2>/dev/null | sort
}

# consume_group GROUP TOPIC: what the group has not consumed yet (kcat commits
# its offsets), as key value lines, sorted.
consume_group() {
    timeout 60 kcat -C -G "$1" -b "$bootstrap" -X auto.offset.reset=earliest -e -q \
        -f '%k %s\n' "$2" 2>/dev/null | sort
}

node_pid() {
    cat "$1/node-$2/kafka.pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- one node
export ECOM_KAFKA_DATA=$data1
port=$(free_port_block 1) || {
    echo "not ok - no free pair of ports found"
    exit 1
}
export KAFKA_BOOTSTRAP_SERVERS=localhost:$port
bootstrap=$KAFKA_BOOTSTRAP_SERVERS
echo "# single node: ECOM_KAFKA_DATA=$data1 KAFKA_BOOTSTRAP_SERVERS=$bootstrap (controller $((port + 1000)))"

expect_status "unknown command exits 2" 2 "$kafka_local" frobnicate
expect_status "--nodes 7 exits 2" 2 "$kafka_local" --nodes 7 status
expect_status "status before the first start exits 3" 3 "$kafka_local" status
expect_status "stop before the first start exits 0" 0 "$kafka_local" stop

cache=${ECOM_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/kafka}
if compgen -G "$cache/kafka-*/.ecom-installed" >/dev/null; then temp=warm; else temp=cold; fi
t0=$(ms)
expect_status "first start succeeds" 0 "$kafka_local" start
first_ms=$(($(ms) - t0))
echo "# first start (jar cache $temp, format, 3 topics created): $((first_ms / 1000)).$((first_ms % 1000 / 100)) s"
pid=$(node_pid "$data1" 1)

expect_status "status while running exits 0" 0 "$kafka_local" status
grep -q "node 1: running (pid $pid) on localhost:$port" "$tmp/out" && ok "status names the pid and port" ||
    not_ok "status names the pid and port: got \"$(cat "$tmp/out")\""
expect_status "wait on a running broker exits 0" 0 "$kafka_local" wait
check "bootstrap prints the listener" "localhost:$port" "$("$kafka_local" bootstrap)"

for t in $topics; do
    check "topic $t has TOPIC_PARTITIONS=4 partitions" 4 "$(partitions_of "$t")"
done
expect_status "topics exits 0" 0 "$kafka_local" topics
check "topics lists the three with replication factor 1" \
    "user-events partitions=4 replicas=1|transactions partitions=4 replicas=1|inventory-updates partitions=4 replicas=1" \
    "$(paste -sd'|' "$tmp/out")"
printf 'x\n' | kcat -P -b "$bootstrap" -t no-such-topic -m 5 >/dev/null 2>&1 || true
grep -q 'no-such-topic" with 0 partitions: Broker: Unknown topic' < <(kcat -L -b "$bootstrap" -t no-such-topic 2>/dev/null) &&
    ok "auto.create.topics.enable=false: producing to an unknown topic does not create it" ||
    not_ok "auto.create.topics.enable=false: no-such-topic was created"

grep -q 'Kafka Server started' "$data1/node-1/server.log" 2>/dev/null && ok "the broker logs to node-1/server.log" ||
    not_ok "the broker logs to node-1/server.log"
cluster_id=$("$kafka_local" cluster-id)
[[ $cluster_id =~ ^[A-Za-z0-9_-]{22}$ ]] && ok "cluster-id prints a Kafka cluster id ($cluster_id)" ||
    not_ok "cluster-id prints a Kafka cluster id: got \"$cluster_id\""
check "meta.properties holds the same cluster id" "$cluster_id" \
    "$(sed -n 's/^cluster.id=//p' "$data1/node-1/log/meta.properties")"

seq 1 10 | sed 's/.*/k&:v&/' | kcat -P -b "$bootstrap" -t user-events -K: -X acks=all 2>"$tmp/kcat.err" &&
    ok "kcat produces 10 messages" || not_ok "kcat produces 10 messages: $(cat "$tmp/kcat.err")"
before=$(consume user-events)
check "the 10 messages are read back" 10 "$(grep -c . <<<"$before")"
check "keys and values are intact" "$(seq 1 10 | sed 's/.*/k& v&/' | sort)" "$(awk '{print $3, $4}' <<<"$before" | sort)"
check "a consumer group reads the 10" 10 "$(consume_group ecom-test user-events | grep -c .)"

t0=$(ms)
expect_status "a second start is harmless" 0 "$kafka_local" start
check "a second start keeps the broker (same pid)" "$pid" "$(node_pid "$data1" 1)"
again_ms=$(($(ms) - t0))
echo "# start while running: $again_ms ms"

rss=$(rss_mib "$pid")
echo "# broker RSS (1 node, -Xmx512m, after 10 messages): $rss MiB"
check_range "broker RSS stays under 1 GiB" 50 1024 "$rss"

formatted_at=$(stat -c %Y "$data1/node-1/format.out")
expect_status "stop exits 0" 0 "$kafka_local" stop
# (an exited broker may linger as a zombie until its reaper collects it)
[[ ! -e /proc/$pid ]] || grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && ok "the broker process is gone" || not_ok "the broker process is gone"
grep -q 'shut down completed\|shutdown completed\|shut down completely' "$data1/node-1/server.log" &&
    ok "the broker shut down gracefully" || not_ok "the broker shut down gracefully"
expect_status "status after stop exits 3" 3 "$kafka_local" status
expect_status "stop when stopped exits 0" 0 "$kafka_local" stop

t0=$(ms)
expect_status "restart succeeds" 0 "$kafka_local" start
restart_ms=$(($(ms) - t0))
echo "# restart (warm: jars cached, storage formatted, topics there): $((restart_ms / 1000)).$((restart_ms % 1000 / 100)) s"
check "the restart keeps the cluster id" "$cluster_id" "$("$kafka_local" cluster-id)"
check "the running broker has the same cluster id" "$cluster_id" \
    "$(sed -n 's/^cluster.id=//p' "$data1/node-1/log/meta.properties")"
check "the restart did not format the storage again" "$formatted_at" "$(stat -c %Y "$data1/node-1/format.out")"
check "the messages and their offsets survive the restart" "$before" "$(consume user-events)"
check "partition counts survive the restart" "4 4 4" \
    "$(for t in $topics; do printf '%s ' "$(partitions_of "$t")"; done | sed 's/ $//')"
printf 'k11:v11\nk12:v12\n' | kcat -P -b "$bootstrap" -t user-events -K: 2>/dev/null
check "the group's committed offsets survive: it reads only the 2 new messages" "k11 v11|k12 v12" \
    "$(consume_group ecom-test user-events | paste -sd'|')"
expect_status "stop after the restart exits 0" 0 "$kafka_local" stop

left=$(pgrep -f "kafka.Kafka $tmp/" || true)
check "no broker of this test is left running" "" "$left"

finish
