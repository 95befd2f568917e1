#!/usr/bin/env bash
# scripts/devstack.sh - the embedded development stack for machines without
# Docker, the real engines: a local PostgreSQL 15 (scripts/pg-local.sh, port
# 5433, data in data/pg), Apache Kafka in KRaft mode (scripts/kafka-local.sh,
# KAFKA_BOOTSTRAP_SERVERS = localhost:9092, controller on 10092, data in
# data/kafka, which keeps the cluster id, topics and offsets across
# restarts) and a Spark standalone master and worker
# (scripts/spark-local.sh, master spark://127.0.0.1:7077, master UI 8082,
# worker UI 8083, data in data/spark). The first start fetches Kafka's jars
# and pyspark into ${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline (minutes);
# later starts download nothing.
#
# start starts them in that order; stop stops them in the reverse order
# (Spark, Kafka, PostgreSQL). ecom-broker, the in-memory mock broker, is no
# part of this stack any more: only the fast integration tests use it.
#
# Usage: scripts/devstack.sh start|stop|status
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

start() {
    "$repo/scripts/pg-local.sh" start
    "$repo/scripts/kafka-local.sh" start
    "$repo/scripts/spark-local.sh" start
}

stop() {
    local rc=0
    "$repo/scripts/spark-local.sh" stop || rc=1
    "$repo/scripts/kafka-local.sh" stop || rc=1
    "$repo/scripts/pg-local.sh" stop || rc=1
    return $rc
}

status() {
    local rc=0
    "$repo/scripts/pg-local.sh" status || rc=3
    "$repo/scripts/kafka-local.sh" status || rc=3
    "$repo/scripts/spark-local.sh" status || rc=3
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
