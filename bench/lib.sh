# bench/lib.sh - helpers the benchmarks share: usage errors and messages,
# number checks, free ports, the broker (real Kafka or the mock), timing
# under GNU time, JSON lookups and rates; then (second half) a throwaway
# PostgreSQL, its CPU time from /proc, emptying the tables, the preload and
# ecom-stream drains measured through its /metrics (bench/stream.sh and
# bench/analytics.sh). Source it after setting prog, repo, bin and pgbin
# (tmp before start_broker or start_pg); it leaves bootstrap set by
# start_broker, and the caller's cleanup calls stop_broker, stops the pids
# in bg_pids and, when pg_started is set, scripts/pg-local.sh stop.

usage_error() {
    echo "$prog: $1" >&2
    echo "Try \"$prog --help\" for more information." >&2
    exit 2
}

say() { echo "bench: $*" >&2; }

die() {
    echo "bench: error: $*" >&2
    exit 1
}

# posint NAME VALUE [MIN]: VALUE must be an integer >= MIN (default 1).
posint() {
    if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < ${3:-1} || $2 > 1000000000)); then
        usage_error "invalid value \"$2\" for option $1"
    fi
}

# shellcheck source=scripts/lib-ports.sh
. "$repo/scripts/lib-ports.sh"

# The broker a run measures: "kafka" (default: a real Apache Kafka, one
# KRaft node of scripts/kafka-local.sh with its log in $tmp/kafka) or
# "mock" (ecom-broker, librdkafka's in-memory mock cluster, which drops the
# oldest data past about 5 MiB per partition). Set by --broker.
broker=kafka

# check_broker VALUE: --broker's value must be kafka or mock.
check_broker() {
    [[ $1 == kafka || $1 == mock ]] || usage_error "invalid value \"$1\" for option --broker (kafka or mock)"
}

# broker_label: the broker a table was measured on, for its header.
broker_label() {
    if [[ $broker == kafka ]]; then
        echo "Apache Kafka $(sed -n 's/^default_version=//p' "$repo/scripts/kafka-local.sh") (scripts/kafka-local.sh: one KRaft node, log on local disk, heap ${ECOM_KAFKA_HEAP:-512m})"
    else
        echo "ecom-broker (librdkafka's in-memory mock cluster)"
    fi
}

# start_broker PARTITIONS [TOPIC[:P]...]: the chosen broker on free ports
# with the three topics and the extra TOPICs at PARTITIONS partitions each
# (P for a TOPIC:P); sets bootstrap. A fresh one: a Kafka log from an
# earlier start is removed.
start_broker() {
    if [[ $broker == kafka ]]; then start_kafka "$@"; else start_mock "$@"; fi
}

stop_broker() {
    if [[ $broker == kafka ]]; then stop_kafka; else stop_mock; fi
}

start_kafka() {
    local partitions=$1 port t topics="user-events transactions inventory-updates bench-warmup" sized=()
    shift
    for t in "$@"; do
        if [[ $t == *:* ]]; then sized+=("$t"); else topics+=" $t"; fi
    done
    stop_kafka
    rm -rf -- "$tmp/kafka"
    port=$(free_port_block 1) || die "no free pair of ports for Kafka"
    kafka_env=(ECOM_KAFKA_DATA="$tmp/kafka" KAFKA_BOOTSTRAP_SERVERS="localhost:$port"
        TOPIC_PARTITIONS="$partitions" ECOM_KAFKA_TOPICS="$topics")
    kafka_started=1
    env "${kafka_env[@]}" "$repo/scripts/kafka-local.sh" start >"$tmp/kafka.out" 2>&1 || {
        tail -n 20 "$tmp/kafka.out" >&2
        die "could not start Kafka (scripts/kafka-local.sh start)"
    }
    bootstrap=localhost:$port
    for t in "${sized[@]}"; do
        env "${kafka_env[@]}" "$repo/scripts/kafka-local.sh" tool TopicCommand --bootstrap-server "$bootstrap" \
            --create --topic "${t%%:*}" --partitions "${t##*:}" >>"$tmp/kafka.out" 2>&1 ||
            die "could not create topic ${t%%:*} ($(tail -n 1 "$tmp/kafka.out"))"
    done
}

# warm_broker: on Kafka, 200,000 messages of about 400 bytes produced with
# kcat to a topic of their own (not timed, not counted), so that the
# broker's JIT has compiled its produce path before the first timed run.
warm_broker() {
    [[ $broker == kafka ]] || return 0
    say "warming Kafka up: 200,000 messages to bench-warmup (not timed)"
    awk 'BEGIN { for (i = 0; i < 200000; i++) printf "k%d\t%0400d\n", i % 1000, i }' |
        kcat -P -b "$bootstrap" -t bench-warmup -K '\t' -X linger.ms=10 -X compression.type=snappy ||
        die "kcat could not produce the warm-up messages"
}

stop_kafka() {
    if [[ -n ${kafka_started:-} ]]; then
        env "${kafka_env[@]}" "$repo/scripts/kafka-local.sh" stop >/dev/null 2>&1 || true
        kafka_started=
    fi
}

# start_mock PARTITIONS [TOPIC...]: ecom-broker on a free port; retries
# when another process grabs the port first.
start_mock() {
    local port partitions=$1 t topic_args=()
    shift
    for t in "$@"; do
        if [[ $t == *:* ]]; then topic_args+=(--topic "$t"); else topic_args+=(--topic "$t:$partitions"); fi
    done
    broker_pid=
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        "$bin/ecom-broker" --listen "127.0.0.1:$port" --partitions "$partitions" "${topic_args[@]}" \
            >"$tmp/broker.out" 2>"$tmp/broker.err" &
        broker_pid=$!
        for _ in $(seq 100); do
            if grep -q '^bootstrap=' "$tmp/broker.out" 2>/dev/null; then
                bootstrap=127.0.0.1:$port
                return 0
            fi
            kill -0 "$broker_pid" 2>/dev/null || break
            sleep 0.1
        done
        stop_mock
    done
    cat "$tmp/broker.err" >&2
    die "could not start ecom-broker"
}

stop_mock() {
    if [[ -n ${broker_pid:-} ]]; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
        broker_pid=
    fi
}

# timed NAME OUT CMD...: runs CMD under GNU time, stdout to OUT, stderr to
# $tmp/NAME.err; "wall_s rss_kib user_s sys_s" goes to $tmp/NAME.res. An
# exit status other than those in $TIMED_OK (default "0") ends the run.
timed() {
    local name=$1 out=$2 rc=0
    shift 2
    /usr/bin/time -o "$tmp/$name.time" -f '%e %M %U %S' "$@" >"$out" 2>"$tmp/$name.err" || rc=$?
    if [[ " ${TIMED_OK:-0} " != *" $rc "* ]]; then
        tail -n 20 "$tmp/$name.err" >&2
        die "$name exited with status $rc"
    fi
    tail -n 1 "$tmp/$name.time" >"$tmp/$name.res"
}

# json FILE EXPR: a Python expression on the JSON object in FILE (j).
json() {
    /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# eps EVENTS SECONDS: events per second, one decimal.
eps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }

# ------------------------------------------------------------------
# PostgreSQL and ecom-stream, for bench/stream.sh and bench/analytics.sh.
# They use tmp, bin, pgbin, bootstrap and broker, append the pids of
# background runs to bg_pids (the caller's cleanup stops them) and set
# pg_started for the caller's cleanup (scripts/pg-local.sh stop).

topics=(user-events transactions inventory-updates)
tables=(user_events transactions transaction_items inventory_updates)

# end_run: what every benchmark's EXIT trap does last: stops the cluster of
# start_pg (when started) and removes $tmp, or keeps it with
# ECOM_BENCH_KEEP=1.
end_run() {
    if [[ -n ${pg_started:-} ]]; then
        "$repo/scripts/pg-local.sh" stop >/dev/null 2>&1 || true
    fi
    if [[ -n ${ECOM_BENCH_KEEP:-} ]]; then
        say "kept the run's files in $tmp (ECOM_BENCH_KEEP)"
    else
        rm -rf -- "$tmp"
    fi
}

# start_pg: a throwaway cluster in $tmp on a free port (as
# tests/integration/lib.sh does); exports the PG* variables.
start_pg() {
    local port
    port=$(free_port)
    export ECOM_PGDATA=$tmp/pg PGPORT=$port ECOM_PG_QUIET=1
    export POSTGRES_DB=ecommerce POSTGRES_USER=ecom POSTGRES_PASSWORD=ecom_bench
    export PGHOST=localhost PGDATABASE=ecommerce PGUSER=ecom PGPASSWORD=ecom_bench
    pg_started=1
    "$repo/scripts/pg-local.sh" start >&2 || die "could not start PostgreSQL"
}

# sql STATEMENT: runs it as the project role; prints unaligned tuples.
sql() {
    "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}

# sql_super STATEMENT: runs it as the cluster's superuser over its socket.
sql_super() {
    local owner
    owner=$(stat -c %U "$ECOM_PGDATA")
    if ((EUID == 0)); then
        (cd / && runuser -u "$owner" -- "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 \
            -h "$ECOM_PGDATA" -p "$PGPORT" -U "$owner" -d "$PGDATABASE" -c "$1")
    else
        "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$ECOM_PGDATA" -p "$PGPORT" \
            -U "$owner" -d "$PGDATABASE" -c "$1"
    fi
}

# pg_cpu: CPU seconds used so far by the server: every live server process
# plus the children the postmaster has reaped (its cutime/cstime). Waits
# (up to 5 s) for the backends of our disconnected clients to go, and
# reads again when a child came or went during the reading.
pg_cpu() {
    local pm kids kids_after hz stats
    pm=$(sed -n 1p "$ECOM_PGDATA/postmaster.pid")
    hz=$(getconf CLK_TCK)
    for _ in $(seq 100); do
        [[ -z $(pgrep -P "$pm" -f "^postgres: $PGUSER " || true) ]] && break
        sleep 0.05
    done
    for _ in $(seq 20); do
        kids=$(pgrep -P "$pm" | tr '\n' ' ' || true)
        stats=$(
            for kid in $kids; do
                sed 's/^.*) //' "/proc/$kid/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true
            done
            sed 's/^.*) //' "/proc/$pm/stat" | awk '{ print $12 + $13 + $14 + $15 }'
        )
        kids_after=$(pgrep -P "$pm" | tr '\n' ' ' || true)
        [[ $kids == "$kids_after" ]] && break
    done
    awk -v hz="$hz" '{ s += $1 } END { printf "%.2f\n", s / hz }' <<<"$stats"
}

# seed_snapshot: keeps the catalog as sql/init.sql seeded it in the schema
# bench_seed (fresh_tables puts it back), and lets the project role run
# CHECKPOINT. Called once, after start_pg.
seed_snapshot() {
    sql_super "GRANT pg_checkpoint TO $PGUSER" >/dev/null
    sql "CREATE SCHEMA bench_seed; CREATE TABLE bench_seed.products AS TABLE products"
}

# fresh_tables: empties everything ecom-stream writes (the raw tables, dead
# letters, offsets and gaps; the analytics tables of sql/windows.sql and
# sql/alerts.sql; the catalog back to its state at start_pg, which
# ecom-stream's catalog learning changes), then checkpoints, so each timed
# phase starts from the same state.
fresh_tables() {
    sql "TRUNCATE user_events, transactions, transaction_items, inventory_updates,
         dead_letter_events, stream_offsets, stream_gaps"
    sql "TRUNCATE product_window_metrics, category_window_metrics, traffic_window_metrics,
         trending_products, window_users, window_sessions, fraud_alerts, inventory_levels, inventory_alerts"
    sql "DELETE FROM products WHERE product_id NOT IN (SELECT product_id FROM bench_seed.products);
         UPDATE products p SET product_name = s.product_name, category = s.category, price = s.price,
                catalog_event_time = s.catalog_event_time
           FROM bench_seed.products s WHERE s.product_id = p.product_id"
    sql "CHECKPOINT"
}

# stream_default OPTION [BINDIR]: a default of ecom-stream (in BINDIR, else
# $bin), from its --help.
stream_default() {
    "${2:-$bin}/ecom-stream" --help | awk -v opt="--$1=" '
        index($0, opt) { n = 3 }
        n > 0 && match($0, /\(default: [^;)]*/) { print substr($0, RSTART + 10, RLENGTH - 10); exit }
        n > 0 { n-- }'
}

# metrics PORT: ecom-stream's /metrics page (no curl in scripts/deps.sh).
metrics() {
    /usr/bin/python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode())' "$1"
}

# wait_committed PORT COUNT PID TIMEOUT_S: polls ecom-stream's /metrics every
# 50 ms until messages_consumed_total (summed over topics) reaches COUNT.
# Prints "first_s done_s consumed flushes flush_s" (epoch seconds of the
# first commit and of reaching COUNT, then flushes_total and the sum of
# flush_duration_seconds at that moment); fails when PID exits or
# TIMEOUT_S passes first.
wait_committed() {
    /usr/bin/python3 - "$@" <<'EOF'
import os, sys, time, urllib.request
port, want, pid, timeout = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
url = "http://127.0.0.1:%d/metrics" % port
first, consumed, deadline = None, 0, time.time() + timeout
while time.time() < deadline:
    try:
        body = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        body = None
    now = time.time()
    if body is not None:
        lines = body.splitlines()
        def metric(prefix):
            return sum(float(l.rsplit(" ", 1)[1]) for l in lines if l.startswith(prefix))
        consumed = int(metric("ecom_stream_messages_consumed_total"))
        if consumed > 0 and first is None:
            first = now
        if consumed >= want:
            print("%.3f %.3f %d %d %.2f" % (first, now, consumed, metric("ecom_stream_flushes_total "),
                                           metric("ecom_stream_flush_duration_seconds_sum ")))
            sys.exit(0)
    else:
        try:
            os.kill(pid, 0)
        except OSError:
            break
    time.sleep(0.05)
print("%.3f 0 %d 0 0" % (first or 0, consumed))
sys.exit(1)
EOF
}

# latency_quantiles END [BASE]: p50, p99 (ms), count and mean (ms) of
# ecom_stream_commit_latency_seconds in the /metrics dump END, less the
# observations already in dump BASE; interpolated linearly inside buckets
# as Prometheus's histogram_quantile() does.
latency_quantiles() {
    /usr/bin/python3 - "$@" <<'EOF'
import re, sys
name = "ecom_stream_commit_latency_seconds"
def load(path):
    buckets, total, ssum = {}, 0.0, 0.0
    for l in open(path):
        m = re.match(name + r'_bucket\{le="([^"]+)"\} (\S+)$', l.strip())
        if m:
            buckets[float(m.group(1))] = float(m.group(2))
        elif l.startswith(name + "_count "):
            total = float(l.split()[1])
        elif l.startswith(name + "_sum "):
            ssum = float(l.split()[1])
    return buckets, total, ssum
end = load(sys.argv[1])
base = load(sys.argv[2]) if len(sys.argv) > 2 else ({}, 0.0, 0.0)
buckets = sorted((le, c - base[0].get(le, 0.0)) for le, c in end[0].items())
total, ssum = end[1] - base[1], end[2] - base[2]
def quantile(q):
    rank, lo, below = q * total, 0.0, 0.0
    for le, cum in buckets:
        if cum >= rank and cum > below:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * (rank - below) / (cum - below)
        lo, below = le, cum
    return float("nan")
print("%.0f %.0f %d %.0f" % (1000 * quantile(0.5), 1000 * quantile(0.99), total,
                             1000 * ssum / total if total else 0))
EOF
}

# log_epoch FILE PATTERN: epoch seconds of the first log line matching PATTERN.
log_epoch() {
    local ts
    ts=$(grep -m 1 -- "$2" "$1" | cut -d' ' -f1) || true
    [[ -n $ts ]] && date -d "$ts" +%s.%N || echo 0
}

# assigned_count FILE: partitions assigned so far by ecom-stream's log FILE,
# one line per partition ("assigned TOPIC [N], ...", cores up to c8f7bb8) or
# per assignment ("assigned N partitions; ...").
assigned_count() {
    awk '/ assigned [0-9]+ partitions/ { sub(/.* assigned /, ""); n += $1; next }
         / assigned / { n++ }
         END { print n + 0 }' "$1" 2>/dev/null || echo 0
}

# check_rows LABEL: the raw tables must hold exactly the simulator's valid
# events, transaction_items one row per item (sum(item_count), and as many
# as after the first run), nothing dead-lettered and no gaps.
check_rows() {
    local got want n
    got=$(sql "SELECT (SELECT count(*) FROM user_events) || ' ' || (SELECT count(*) FROM transactions)
        || ' ' || (SELECT count(*) FROM inventory_updates) || ' ' || (SELECT count(*) FROM transaction_items)
        || ' ' || (SELECT coalesce(sum(item_count), 0) FROM transactions)
        || ' ' || (SELECT count(*) FROM dead_letter_events) || ' ' || (SELECT count(*) FROM stream_gaps)")
    n=${items:-$(cut -d' ' -f5 <<<"$got")}
    want="$valid_ue $valid_tx $valid_inv $n $n 0 0"
    [[ $got == "$want" ]] ||
        die "$1: tables hold (user_events transactions inventory_updates items sum(item_count) dead gaps) $got, expected $want"
}

# median_run WHO-FR: the key of the run with the median drain time (of an
# even number, the slower of the middle two).
median_run() {
    local k
    for k in ${runs_of[$1]}; do echo "${d_drain[$k]} $k"; done |
        sort -n | awk '{ k[NR] = $2 } END { print k[int(NR / 2) + 1] }'
}
# drain_spread WHO-FR: "min median max spread%" of the drain seconds, the
# spread being (max - min) / median.
drain_spread() {
    local k
    for k in ${runs_of[$1]}; do echo "${d_drain[$k]}"; done | sort -n | awk '
        { v[NR] = $1 }
        END { m = v[int(NR / 2) + 1]; printf "%.2f %.2f %.2f %.1f\n", v[1], m, v[NR], 100 * (v[NR] - v[1]) / m }'
}

# preload EVENTS SEED: ecom-simulator --max-rate -n EVENTS -s SEED into the
# broker (not timed; summary in $tmp/preload.json), then checks that every
# event was delivered and that the broker kept them all; sets delivered,
# valid_ue, valid_tx, valid_inv and produced[TOPIC].
declare -A produced
preload() {
    local t kept
    say "preloading: ecom-simulator --max-rate -n $1 -s $2"
    timed preload "$tmp/preload.json" "$bin/ecom-simulator" --max-rate -n "$1" -P 0 -s "$2" -b "$bootstrap"
    delivered=$(json "$tmp/preload.json" 'j["delivered"]')
    [[ $delivered == "$1" ]] || die "ecom-simulator delivered $delivered of $1 events"
    valid_ue=$(json "$tmp/preload.json" 'j["topics"]["user-events"]["valid_unique"]')
    valid_tx=$(json "$tmp/preload.json" 'j["topics"]["transactions"]["valid_unique"]')
    valid_inv=$(json "$tmp/preload.json" 'j["topics"]["inventory-updates"]["valid_unique"]')
    for t in "${topics[@]}"; do
        produced[$t]=$(json "$tmp/preload.json" "j[\"topics\"][\"$t\"][\"produced\"]")
        kept=$(kcat -C -b "$bootstrap" -t "$t" -o beginning -e -q -f '%o\n' | wc -l)
        ((kept == produced[$t])) ||
            die "the broker kept $kept of the $t topic's ${produced[$t]} messages$([[ $broker == kafka ]] || echo "; retention dropped some (try more partitions: -p $((2 * partitions)))")"
    done
}

# drain_idle: ecom-stream's --exit-when-idle in drain_stream (seconds).
drain_idle=2

# drain_stream NAME BINDIR LABEL WANT [ECOM_STREAM_ARG...]: BINDIR's
# ecom-stream drains the preloaded topics into emptied tables
# (fresh_tables) with a fresh consumer group and --exit-when-idle
# $drain_idle, its log in $tmp/NAME.err, GNU time's figures in
# $tmp/NAME.time, until /metrics shows WANT messages committed; then waits
# for it to exit. Sets s_drain s_wall s_rss s_cpu s_pgcpu s_join s_first
# s_flushes s_flush_s (seconds from process start, GNU time's, PG CPU) and
# s_t0 s_done (epoch seconds of the start and of WANT committed), s_group.
drain_stream() {
    local name=$1 sbin=$2 label=$3 want=$4 port pid rc=0 cpu0 cpu1 first consumed user sys
    shift 4
    fresh_tables
    port=$(free_port)
    cpu0=$(pg_cpu)
    s_group=bench-$name-$RANDOM
    s_t0=$(date +%s.%N)
    /usr/bin/time -o "$tmp/$name.time" -f '%e %M %U %S' "$sbin/ecom-stream" -b "$bootstrap" \
        -g "$s_group" -p "$port" -P 0 --exit-when-idle "$drain_idle" "$@" \
        >/dev/null 2>"$tmp/$name.err" &
    pid=$!
    bg_pids+=("$pid")
    read -r first s_done consumed s_flushes s_flush_s < <(wait_committed "$port" "$want" "$pid" 1800 || true)
    wait "$pid" || rc=$?
    bg_pids=()
    if ((rc != 0)) || [[ $s_done == 0 ]]; then
        tail -n 20 "$tmp/$name.err" >&2
        die "$label committed $consumed of $want messages (exit status $rc)"
    fi
    cpu1=$(pg_cpu)
    s_pgcpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
    read -r s_wall s_rss user sys <"$tmp/$name.time"
    s_cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    s_drain=$(awk -v a="$s_t0" -v b="$s_done" 'BEGIN { printf "%.2f", b - a }')
    s_first=$(awk -v a="$s_t0" -v b="$first" 'BEGIN { printf "%.2f", b - a }')
    s_join=$(awk -v a="$s_t0" -v b="$(log_epoch "$tmp/$name.err" ' assigned ')" \
        'BEGIN { printf "%.2f", (b > 0 ? b - a : -1) }')
}
