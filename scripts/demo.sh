#!/usr/bin/env bash
# scripts/demo.sh - the demo on the embedded default, from a fresh Debian
# machine: installs what is missing (scripts/deps.sh --run: what building
# and running the daemons needs, Java and Maven included, no test tools),
# builds, starts the real stack with scripts/devstack.sh (PostgreSQL on port
# 5433, Apache Kafka in KRaft mode on localhost:9092, a Spark master and
# worker with the master UI on http://127.0.0.1:8082/), starts ecom-stream
# (metrics on :9101), ecom-scheduler (the shipped DAGs), a Prometheus
# Alertmanager (:19093), ecom-metrics (the dashboard on http://127.0.0.1:9102/)
# and ecom-alerts, then runs ecom-simulator at the documented rates and
# shows a sample of each topic.
# At the end it triggers the hourly pipeline for the hour the events fell
# in and shows its run (hourly_sales, then quality_checks, which judges the
# hour as it stood at its end: a partial hour fails its freshness check). The first run fetches Kafka's jars and
# pyspark (into ${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline), later runs
# download nothing. It runs until Ctrl-C, or for DEMO_SECONDS
# seconds when that variable is set (e.g. DEMO_SECONDS=60 scripts/demo.sh).
#
# Stopping (Ctrl-C, SIGINT or SIGTERM, or the end of DEMO_SECONDS) goes in
# the reverse order of the start: the simulator flushes and prints its
# summary; ecom-stream stores what is left (lag 0 on /metrics, at most 10 s)
# and exits; the script shows what reached PostgreSQL; then Spark, Kafka and
# PostgreSQL stop. This takes a few seconds. The data stays (PostgreSQL's in
# data/pg, Kafka's log and ecom-stream's consumer offsets in data/kafka): a
# second run goes on from there, and scripts/devstack.sh start brings the
# stack back.
#
# Usage: [DEMO_SECONDS=N] scripts/demo.sh [ecom-simulator options]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

scripts/deps.sh --run
scripts/web-vendor.sh
scripts/build.sh build
mkdir -p data/run
scripts/devstack.sh start
set -a
# shellcheck disable=SC1091
. ./.env
set +a
metrics_port=${STREAM_METRICS_PORT:-9101}
sim_pid=
stream_pid=
sched_pid=
mon_pids=() # Alertmanager, ecom-metrics, ecom-alerts
stopping=

# running PID: the background child PID has not ended yet.
running() {
    [[ -n $1 ]] && kill -0 "$1" 2>/dev/null
}

# wait_gone PID SECONDS: waits for the background child PID to end (its
# status is ignored); returns 1 if it still runs after SECONDS.
wait_gone() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        running "$1" || { wait "$1" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    return 1
}

stop_simulator() {
    running "$sim_pid" || return 0
    kill -INT "$sim_pid" 2>/dev/null || true
    wait_gone "$sim_pid" 15 || { echo "--- the simulator did not stop; killing it" >&2; kill -KILL "$sim_pid" 2>/dev/null || true; }
}

# caught_up: ecom-stream's /metrics shows its partitions with no lag left.
caught_up() {
    curl -fs "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null |
        awk '/^ecom_stream_consumer_lag_messages\{/ { n++; s += $2 } END { exit !(n > 0 && s == 0) }'
}

stop_stream() {
    local i
    running "$stream_pid" || return 0
    # The lag gauges refresh every second: wait for one refresh after the
    # simulator's last delivery, then until nothing is left to store.
    sleep 1.2
    for ((i = 0; i < 100; i++)); do
        caught_up && break
        running "$stream_pid" || break
        sleep 0.1
    done
    ((i < 100)) || echo "--- ecom-stream still has lag after 10 s; stopping it anyway" >&2
    kill -TERM "$stream_pid" 2>/dev/null || true
    wait_gone "$stream_pid" 15 || { echo "--- ecom-stream did not stop; killing it" >&2; kill -KILL "$stream_pid" 2>/dev/null || true; }
}

stop_scheduler() {
    running "$sched_pid" || return 0
    kill -TERM "$sched_pid" 2>/dev/null || true
    wait_gone "$sched_pid" 20 || { echo "--- ecom-scheduler did not stop; killing it" >&2; kill -KILL "$sched_pid" 2>/dev/null || true; }
}

# stop_monitoring: ecom-alerts, ecom-metrics, then Alertmanager (SIGTERM, 10 s each).
stop_monitoring() {
    local i
    for ((i = ${#mon_pids[@]} - 1; i >= 0; i--)); do
        running "${mon_pids[i]}" || continue
        kill -TERM "${mon_pids[i]}" 2>/dev/null || true
        wait_gone "${mon_pids[i]}" 10 || kill -KILL "${mon_pids[i]}" 2>/dev/null || true
    done
    mon_pids=()
}

# On any exit (an error included): whatever still runs, newest first.
on_exit() {
    trap - INT TERM
    stop_simulator
    stop_monitoring
    stop_scheduler
    stop_stream
    scripts/devstack.sh stop >/dev/null 2>&1 || true
}
trap on_exit EXIT
# Ctrl-C reaches the simulator (our process group) and this script, not
# ecom-stream nor Kafka, Spark and PostgreSQL (their own sessions): they are stopped in turn.
trap 'stopping=1; running "$sim_pid" && kill -INT "$sim_pid" 2>/dev/null; true' INT TERM

setsid build/bin/ecom-stream -P 10 2>data/run/ecom-stream.log &
stream_pid=$!
echo "--- ecom-stream is storing events (log: data/run/ecom-stream.log, metrics: http://127.0.0.1:$metrics_port/metrics)"
ECOM_LAKE_DIR=$repo/data setsid build/bin/ecom-scheduler run 2>data/run/ecom-scheduler.log &
sched_pid=$!
echo "--- ecom-scheduler runs the DAGs of scheduler/dags.conf (log: data/run/ecom-scheduler.log)"
# Monitoring: a real Prometheus Alertmanager (Debian's), ecom-metrics (the
# collector and the dashboard) and ecom-alerts, all on loopback.
# 19093, not 9093: on a machine with systemd the Debian package starts its own on 9093.
am_port=${ALERTMANAGER_PORT:-19093} dash_port=${ECOM_METRICS_PORT:-9102}
mkdir -p data/alertmanager
printf 'route: {receiver: log, group_wait: 5s}\nreceivers: [{name: log}]\n' >data/run/alertmanager.yml
setsid prometheus-alertmanager --config.file=data/run/alertmanager.yml --storage.path=data/alertmanager \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= 2>data/run/alertmanager.log &
mon_pids+=($!)
setsid build/bin/ecom-metrics -p "$dash_port" -t "stream=http://127.0.0.1:$metrics_port/metrics" \
    -t "alerts=http://127.0.0.1:${ECOM_ALERTS_PORT:-9103}/metrics" \
    --spark-master-ui "http://127.0.0.1:${SPARK_UI_PORT:-8082}" 2>data/run/ecom-metrics.log &
mon_pids+=($!)
setsid build/bin/ecom-alerts -a "http://127.0.0.1:$am_port" 2>data/run/ecom-alerts.log &
mon_pids+=($!)
echo "--- the dashboard: http://127.0.0.1:$dash_port/ (ecom-metrics; log: data/run/ecom-metrics.log)"
echo "--- ecom-alerts notifies the log (data/run/ecom-alerts.log) and Alertmanager: http://127.0.0.1:$am_port/"
sim_args=(-P 10)
[[ -n ${DEMO_SECONDS:-} ]] && sim_args+=(-d "$DEMO_SECONDS")
if [[ -z $stopping ]]; then
    build/bin/ecom-simulator "${sim_args[@]}" "$@" >data/run/simulator-summary.json &
    sim_pid=$!
    sleep 3 || true
fi
if [[ -z $stopping ]]; then
    for t in user-events transactions inventory-updates; do
        echo "--- latest message on $t (kcat -C -b $KAFKA_BOOTSTRAP_SERVERS -t $t -o -1 -e)"
        kcat -C -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$t" -o -1 -e -q -c 1 -f '%s\n' | head -c 600 || true
        echo
    done
    if [[ -n ${DEMO_SECONDS:-} ]]; then
        echo "--- events are flowing for ${DEMO_SECONDS} s; Ctrl-C stops everything earlier"
    else
        echo "--- events are flowing; Ctrl-C stops everything (simulator first, PostgreSQL last)"
    fi
fi
# wait returns early when a signal is trapped: wait until the simulator ended.
while running "$sim_pid"; do wait "$sim_pid" 2>/dev/null || true; done
[[ -n $sim_pid ]] && wait "$sim_pid" 2>/dev/null || true
if [[ -s data/run/simulator-summary.json ]]; then
    echo "--- simulator summary (also in data/run/simulator-summary.json):"
    cat data/run/simulator-summary.json
fi
echo "--- stopping ecom-stream once it stored what is left"
stop_stream
tail -n 2 data/run/ecom-stream.log
echo "--- in PostgreSQL (scripts/pg-local.sh psql to explore):"
scripts/pg-local.sh psql -c "select 'user_events' as table_name, count(*) as rows from user_events
    union all select 'transactions', count(*) from transactions
    union all select 'inventory_updates', count(*) from inventory_updates
    union all select 'dead_letter_events', count(*) from dead_letter_events"
scripts/pg-local.sh psql -c "select event_type, count(*) from user_events group by 1 order by 2 desc"
if running "$sched_pid"; then
    next_hour=$(date -u -d "$(date -u +%Y-%m-%dT%H:00:00Z) + 1 hour" +%Y-%m-%dT%H:00:00Z)
    echo "--- ecom-scheduler: the hourly pipeline for this hour (dags trigger ecommerce_pipeline_hourly --logical-date $next_hour)"
    build/bin/ecom-scheduler dags trigger ecommerce_pipeline_hourly --logical-date "$next_hour" || true
    for _ in $(seq 150); do
        [[ $(scripts/pg-local.sh psql -Atc "select count(*) from task_instances where dag_id = 'ecommerce_pipeline_hourly'
              and run_id like 'manual__%' and task_id = 'quality_checks' and state in ('success', 'up_for_retry', 'failed')") != 0 ]] && break
        sleep 0.2
    done
    build/bin/ecom-scheduler dags list-runs ecommerce_pipeline_hourly --limit 3 || true
    scripts/pg-local.sh psql -c "select hour, category, orders, units, revenue from hourly_sales_by_category
        where hour = date_trunc('hour', now()) order by revenue desc"
    echo "--- stopping ecom-scheduler (running tries are handed back)"
    stop_scheduler
    tail -n 3 data/run/ecom-scheduler.log
fi
echo "--- monitoring: the collector's sources, and what ecom-alerts holds firing"
curl -fs "http://127.0.0.1:$dash_port/api/latest" 2>/dev/null | /usr/bin/python3 -c 'import json,sys
for s in json.load(sys.stdin)["sources"]: print("  %-10s %-4s %5.1f ms %4d samples %s" % (s["source"], "up" if s["up"] else "DOWN", s["duration_ms"], len(s["samples"]), s["error"] or ""))' || true
scripts/pg-local.sh psql -c "select rule, key, summary from alert_state where state = 'firing' order by rule, key" || true
echo "--- Alertmanager holds $(curl -fs "http://127.0.0.1:$am_port/api/v2/alerts" 2>/dev/null | grep -o '"alertname"' | wc -l) alerts"
stop_monitoring
echo "--- stopping Spark, Kafka and PostgreSQL"
trap - EXIT
scripts/devstack.sh stop
