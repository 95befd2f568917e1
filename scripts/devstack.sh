#!/usr/bin/env bash
# scripts/devstack.sh - the embedded development stack for machines without
# Docker: a local PostgreSQL 15 (scripts/pg-local.sh, port 5433) and
# ecom-broker, the in-memory Kafka dev broker, at KAFKA_BOOTSTRAP_SERVERS
# (localhost:9092). Owns data/run/ (pid file and broker log).
#
# Usage: scripts/devstack.sh start|stop|status
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run=$repo/data/run
pidfile=$run/ecom-broker.pid
broker=$repo/build/bin/ecom-broker

broker_running() {
    [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() {
    mkdir -p "$run"
    "$repo/scripts/pg-local.sh" start
    if broker_running; then
        echo "devstack: ecom-broker already running (pid $(cat "$pidfile"))"
        return 0
    fi
    [[ -x $broker ]] || { echo "devstack: $broker not built; run scripts/build.sh" >&2; exit 1; }
    # In a session of its own, as pg_ctl does for PostgreSQL: a Ctrl-C meant
    # for the caller (scripts/demo.sh) must not take the broker down first.
    (cd "$repo" && exec setsid "$broker" -P 60 >"$run/ecom-broker.out" 2>"$run/ecom-broker.log") &
    echo $! >"$pidfile"
    for _ in $(seq 50); do
        if grep -q '^bootstrap=' "$run/ecom-broker.out" 2>/dev/null; then
            echo "devstack: ecom-broker $(head -1 "$run/ecom-broker.out") (log: data/run/ecom-broker.log)"
            return 0
        fi
        broker_running || break
        sleep 0.1
    done
    echo "devstack: ecom-broker did not start:" >&2
    tail -5 "$run/ecom-broker.log" >&2
    rm -f "$pidfile"
    exit 1
}

stop() {
    if broker_running; then
        kill -TERM "$(cat "$pidfile")"
        for _ in $(seq 50); do broker_running || break; sleep 0.1; done
        echo "devstack: ecom-broker stopped"
    fi
    rm -f "$pidfile"
    "$repo/scripts/pg-local.sh" stop
}

status() {
    local rc=0
    if broker_running; then
        echo "ecom-broker: running (pid $(cat "$pidfile")), $(head -1 "$run/ecom-broker.out")"
    else
        echo "ecom-broker: stopped"
        rc=3
    fi
    "$repo/scripts/pg-local.sh" status || rc=3
    return $rc
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: scripts/devstack.sh start|stop|status" >&2
    exit 2
    ;;
esac
