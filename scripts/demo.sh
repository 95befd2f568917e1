#!/usr/bin/env bash
# scripts/demo.sh - the demo on the embedded default, from a fresh Debian
# machine: installs what is missing, builds, starts PostgreSQL (port 5433)
# and the dev Kafka broker (localhost:9092), starts ecom-stream (metrics on
# :9101), shows a sample of each topic, then runs ecom-simulator at the
# documented rates until Ctrl-C (or for DEMO_SECONDS); at the end it shows
# what reached PostgreSQL. Stops what it started on exit (PostgreSQL's data stays in
# data/pg; scripts/devstack.sh start brings the stack back).
#
# Usage: scripts/demo.sh [ecom-simulator options]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

scripts/deps.sh
scripts/build.sh build
scripts/devstack.sh start
set -a
# shellcheck disable=SC1091
. ./.env
set +a
trap 'scripts/devstack.sh stop >/dev/null 2>&1 || true' EXIT

build/bin/ecom-stream -P 10 2>data/run/ecom-stream.log &
stream_pid=$!
echo "--- ecom-stream is storing events (log: data/run/ecom-stream.log, metrics: http://127.0.0.1:9101/metrics)"
sim_args=(-P 10)
[[ -n ${DEMO_SECONDS:-} ]] && sim_args+=(-d "$DEMO_SECONDS")
build/bin/ecom-simulator "${sim_args[@]}" "$@" >data/run/simulator-summary.json &
sim_pid=$!
trap 'kill -INT $sim_pid 2>/dev/null || true' INT TERM # the stream stops after
sleep 3
for t in user-events transactions inventory-updates; do
    echo "--- latest message on $t (kcat -C -b $KAFKA_BOOTSTRAP_SERVERS -t $t -o -1 -e)"
    kcat -C -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$t" -o -1 -e -q -c 1 -f '%s\n' | head -c 600
    echo
done
echo "--- events are flowing; Ctrl-C stops the simulator (it flushes, then prints a summary)"
wait "$sim_pid" || true
wait "$sim_pid" 2>/dev/null || true
echo "--- simulator summary (also in data/run/simulator-summary.json):"
cat data/run/simulator-summary.json
sleep 1 # let ecom-stream commit the last batch
kill -TERM "$stream_pid" 2>/dev/null || true
wait "$stream_pid" || true
echo "--- in PostgreSQL (scripts/pg-local.sh psql to explore):"
scripts/pg-local.sh psql -c "select 'user_events' as table_name, count(*) as rows from user_events
    union all select 'transactions', count(*) from transactions
    union all select 'inventory_updates', count(*) from inventory_updates
    union all select 'dead_letter_events', count(*) from dead_letter_events"
scripts/pg-local.sh psql -c "select event_type, count(*) from user_events group by 1 order by 2 desc"
