#!/usr/bin/env bash
# tests/integration/test_spark_local.sh - tests scripts/spark-local.sh: a real
# Spark standalone master and worker on free ports (never 7077, 8080, 8082,
# 8083 or 9092, which a demo may hold) with their data directory in a temp
# dir, the shared pyspark/connector cache (${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/spark, or
# $ECOM_SPARK_CACHE) so only the first run downloads. Checks usage errors,
# status codes, an idempotent start, the master's /json/ listing an ALIVE
# worker, loopback-only listeners (no REST submission port), bounded daemon
# memory, a smoke job (tests/integration/spark_count.py) that counts N
# messages produced to the dev broker with kcat, and the master listing that
# job as FINISHED; then stop, and no java process of this cluster left.
#
# The Kafka connector loads on the driver (the job prints the Kafka source's
# columns), but it cannot read from the dev broker: librdkafka 2.0.2's mock
# cluster answers ApiVersions v4 with UNSUPPORTED_VERSION and offers
# Metadata only up to v2, and Kafka's Java client (3.9.2, the one
# spark-sql-kafka-0-10 4.2.0 brings) never sends its metadata request
# ("TimeoutException: Timed out waiting for a node assignment. Call:
# listNodes"). So the job counts the topic's messages as kcat consumed them
# into a file, and counts a fresh topic through the connector on a real
# Kafka: the broker at ECOM_SPARK_TEST_BOOTSTRAP (host:port) when set, else
# one this test starts with scripts/kafka-local.sh (single KRaft node, data
# in the temp dir, free ports); that count must equal N.
#
# Prints timings (start with a cold or warm cache, second start, submit,
# stop) and the daemons' RSS as "# " lines.
#
# Usage: tests/integration/test_spark_local.sh [BIN_DIR] (BIN_DIR holds
# ecom-broker; default <repo>/build/bin). Needs Java 17, kcat, Maven, and for a cold
# cache PyPI and Maven Central. Exit status 0 when every check passed, 1
# otherwise (a missing ecom-broker is a failure, like any missing tool).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
lib_init "$@"
spark_local=$repo/scripts/spark-local.sh
job=$repo/tests/integration/spark_count.py
n=50

if [[ ! -x $bin/ecom-broker ]]; then
    not_ok "ecom-broker is built (looked in \"$bin\")"
    finish || exit 1
fi

export ECOM_SPARK_DATA=$tmp/spark ECOM_SPARK_QUIET=1
export ECOM_SPARK_CACHE=${ECOM_SPARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/spark}
unset SPARK_MASTER_HOST SPARK_LOCAL_IP SPARK_WORKER_PORT SPARK_UI_PORT \
    SPARK_DAEMON_MEMORY SPARK_WORKER_MEMORY SPARK_WORKER_CORES ECOM_PYSPARK_VERSION

spark_started=
spark_cleanup() {
    if [[ -n $spark_started ]]; then
        "$spark_local" stop >/dev/null 2>&1 || true
    fi
}
trap 'spark_cleanup; lib_cleanup' EXIT

# test_port: a free port that no demo uses.
test_port() {
    local p
    while :; do
        p=$(free_port)
        case $p in 7077 | 8080 | 8081 | 8082 | 8083 | 9092 | 6066) continue ;; esac
        printf '%s' "$p"
        return
    done
}

# secs START_NS: seconds since START_NS (date +%s%N), with one decimal.
secs() {
    local d=$(($(date +%s%N) - $1))
    printf '%d.%d' $((d / 1000000000)) $((d / 100000000 % 10))
}

# rss_mib PID: the resident set of PID in MiB.
rss_mib() {
    awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"
}

# our_processes: pids of the processes of this test's cluster (daemons,
# executors and their python workers share its SPARK_CONF_DIR).
our_processes() {
    local d pid
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        grep -qxF "SPARK_CONF_DIR=$ECOM_SPARK_DATA/conf" < <(tr '\0' '\n' 2>/dev/null <"$d/environ") &&
            printf '%s ' "$pid"
    done
    return 0
}

# listeners PID: the local addresses PID listens on, sorted, one line.
listeners() {
    ss -ltnpH 2>/dev/null | awk -v pid="pid=$1," 'index($0, pid) { print $4 }' |
        sed 's/^\[::ffff:\(.*\)\]:/\1:/' | sort | tr '\n' ' '
}

# json: the master's /json/ into $tmp/json; fails if it does not answer.
json() {
    /usr/bin/python3 -c 'import sys, urllib.request
data = urllib.request.urlopen(sys.argv[1], timeout=5).read()
open(sys.argv[2], "wb").write(data)' "http://127.0.0.1:$SPARK_MASTER_WEBUI_PORT/json/" "$tmp/json" 2>/dev/null
}

# --- usage errors, before anything is installed or started
expect_status "no command exits 2" 2 "$spark_local"
expect_status "unknown command exits 2" 2 "$spark_local" frobnicate
if grep -q 'Try "scripts/spark-local.sh --help"' "$tmp/err"; then
    ok "unknown command hint"
else
    not_ok "unknown command hint: $(cat "$tmp/err")"
fi
expect_status "submit without arguments exits 2" 2 "$spark_local" submit
expect_status "stop with an argument exits 2" 2 "$spark_local" stop now
SPARK_MASTER_PORT=70000 expect_status "an invalid SPARK_MASTER_PORT exits 1" 1 "$spark_local" status
if grep -q 'invalid value "70000" for SPARK_MASTER_PORT' "$tmp/err"; then
    ok "invalid port explained"
else
    not_ok "invalid port explained: $(cat "$tmp/err")"
fi
SPARK_WORKER_MEMORY=lots expect_status "an invalid SPARK_WORKER_MEMORY exits 1" 1 "$spark_local" status
expect_status "--help exits 0" 0 "$spark_local" --help

SPARK_MASTER_PORT=$(test_port)
SPARK_MASTER_WEBUI_PORT=$(test_port)
SPARK_WORKER_WEBUI_PORT=$(test_port)
export SPARK_MASTER_PORT SPARK_MASTER_WEBUI_PORT SPARK_WORKER_WEBUI_PORT
echo "# throwaway cluster: ECOM_SPARK_DATA=$ECOM_SPARK_DATA master port $SPARK_MASTER_PORT, UI $SPARK_MASTER_WEBUI_PORT, worker UI $SPARK_WORKER_WEBUI_PORT"
echo "# cache: $ECOM_SPARK_CACHE"

expect_status "status before the first start exits 3" 3 "$spark_local" status
expect_status "stop while stopped is harmless" 0 "$spark_local" stop

cache_state=warm
compgen -G "$ECOM_SPARK_CACHE/pyspark-*/.ecom-installed" >/dev/null &&
    compgen -G "$ECOM_SPARK_CACHE/kafka-jars-*/.ecom-installed" >/dev/null || cache_state=cold
spark_started=1
t0=$(date +%s%N)
expect_status "first start succeeds" 0 "$spark_local" start
t_start=$(secs "$t0")
t0=$(date +%s%N)
expect_status "second start is harmless" 0 "$spark_local" start
t_restart=$(secs "$t0")
expect_status "status while running exits 0" 0 "$spark_local" status
if grep -q "running: master spark://127.0.0.1:$SPARK_MASTER_PORT " "$tmp/out"; then
    ok "status names the master URL"
else
    not_ok "status names the master URL: got \"$(cat "$tmp/out")\""
fi

# --- the master's /json/, as the metrics collector reads it
if json; then
    ok "the master UI serves /json/ on port $SPARK_MASTER_WEBUI_PORT"
else
    not_ok "the master UI serves /json/ on port $SPARK_MASTER_WEBUI_PORT"
    echo '{}' >"$tmp/json"
fi
check "master status" ALIVE "$(json_get "$tmp/json" 'j.get("status")')"
check "master URL in /json/" "spark://127.0.0.1:$SPARK_MASTER_PORT" "$(json_get "$tmp/json" 'j.get("url")')"
check "one ALIVE worker" 1 "$(json_get "$tmp/json" 'j.get("aliveworkers")')"
check "the worker's state and UI" "ALIVE http://127.0.0.1:$SPARK_WORKER_WEBUI_PORT" \
    "$(json_get "$tmp/json" '" ".join(str(w.get(k)) for w in j.get("workers", [])[:1] for k in ("state", "webuiaddress"))')"
check "the worker offers 2 cores and 1024 MiB" "2 1024" \
    "$(json_get "$tmp/json" '"%s %s" % (j.get("cores"), j.get("memory"))')"

master=$(cat "$ECOM_SPARK_DATA/master.pid" 2>/dev/null || true)
worker=$(cat "$ECOM_SPARK_DATA/worker.pid" 2>/dev/null || true)
if command -v ss >/dev/null; then
    check "the master listens on loopback only: RPC and UI, no REST port" \
        "$(printf '127.0.0.1:%s\n' "$SPARK_MASTER_PORT" "$SPARK_MASTER_WEBUI_PORT" | sort | tr '\n' ' ')" \
        "$(listeners "$master")"
    w=$(listeners "$worker")
    if [[ -n $w && $w != *0.0.0.0* && $w != *'*:'* && $w != *'[::]'* && $w == *"127.0.0.1:$SPARK_WORKER_WEBUI_PORT "* ]]; then
        ok "the worker listens on loopback only ($w)"
    else
        not_ok "the worker listens on loopback only: \"$w\""
    fi
else
    echo "skip - listeners: ss (iproute2) is not installed"
fi
rss_master=$(rss_mib "$master")
rss_worker=$(rss_mib "$worker")
check_range "master RSS in MiB (256 MiB heap)" 1 512 "$rss_master"
check_range "worker RSS in MiB (256 MiB heap)" 1 512 "$rss_worker"

# --- the smoke job: N messages through the dev broker, counted by Spark
# shellcheck disable=SC2119 # lib.sh: start_broker takes ecom-broker flags, none here
start_broker
topic=spark-smoke
seq 1 "$n" | sed 's/.*/key-&:event-&/' | kcat -P -b "$bootstrap" -t "$topic" -K: 2>"$tmp/kcat.err" ||
    not_ok "kcat produces $n messages: $(cat "$tmp/kcat.err")"
consume_all "$topic" >"$tmp/messages.tsv"
check "kcat reads the $n messages back" "$n" "$(wc -l <"$tmp/messages.tsv")"

kafka_real=${ECOM_SPARK_TEST_BOOTSTRAP:-}
real_topic=
if [[ -z $kafka_real ]]; then
    mock_bootstrap=$bootstrap
    t0=$(date +%s%N)
    # auto.create.topics.enable is off there: start creates the topic.
    if ECOM_KAFKA_TOPICS=$topic start_kafka_local >"$tmp/kafka.out" 2>&1; then
        real_topic=$topic
        kafka_real=$bootstrap
        echo "# kafka-local broker at $kafka_real started in $(secs "$t0")s"
    else
        not_ok "kafka-local starts a broker for the connector: $(tail -n 5 "$tmp/kafka.out")"
    fi
    bootstrap=$mock_bootstrap
fi
mock_bootstrap=${mock_bootstrap:-$bootstrap}
kafka_args=(--kafka "$mock_bootstrap" "$topic" --kafka-timeout-ms 2000)
if [[ -n $kafka_real ]]; then
    real_topic=${real_topic:-spark-smoke-$$-$RANDOM}
    seq 1 "$n" | sed 's/.*/key-&:event-&/' | kcat -P -b "$kafka_real" -t "$real_topic" -K: 2>"$tmp/kcat.err" ||
        not_ok "kcat produces $n messages to $kafka_real: $(cat "$tmp/kcat.err")"
    kafka_args=(--kafka "$kafka_real" "$real_topic" --kafka-timeout-ms 30000)
fi
app=ecom-spark-smoke-$$
t0=$(date +%s%N)
expect_status "the smoke job runs" 0 "$spark_local" submit --conf spark.ui.port="$(test_port)" \
    "$job" --name "$app" --file "$tmp/messages.tsv" "${kafka_args[@]}"
t_submit=$(secs "$t0")
cp "$tmp/out" "$tmp/job.out"
check "the Kafka connector loads (the source's columns)" \
    "key,value,topic,partition,offset,timestamp,timestampType" \
    "$(sed -n 's/^kafka_columns=//p' "$tmp/job.out")"
check "Spark counts the topic's $n messages" "$n" "$(sed -n 's/^count=//p' "$tmp/job.out")"
kafka_count=$(sed -n 's/^kafka_count=//p' "$tmp/job.out")
kafka_error=$(sed -n 's/^kafka_error=//p' "$tmp/job.out")
check "Spark counts $n messages through the Kafka connector from $kafka_real" "$n" "$kafka_count${kafka_error:+ (error: $kafka_error)}"

# The master marks the application finished once its driver has gone.
state=
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
    if json; then
        state=$(json_get "$tmp/json" '" ".join(a.get("state", "?") for a in j.get("completedapps", []) if a.get("name") == "'"$app"'")')
        [[ -z $state ]] || break
    fi
    sleep 0.5
done
check "the master's /json/ lists the job as completed" FINISHED "$state"
check "no application left active" 0 "$(json_get "$tmp/json" 'len(j.get("activeapps", []))')"

# --- stop
t0=$(date +%s%N)
expect_status "stop succeeds" 0 "$spark_local" stop
t_stop=$(secs "$t0")
expect_status "second stop is harmless" 0 "$spark_local" stop
expect_status "status after stop exits 3" 3 "$spark_local" status
check "no process of this cluster is left (java or python)" "" "$(our_processes)"
spark_started=

echo "# timing: start ${t_start}s (cache $cache_state), second start ${t_restart}s, smoke job ${t_submit}s, stop ${t_stop}s"
echo "# memory: master RSS ${rss_master} MiB, worker RSS ${rss_worker} MiB (SPARK_DAEMON_MEMORY 256m each)"
finish
