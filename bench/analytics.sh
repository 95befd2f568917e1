#!/usr/bin/env bash
# bench/analytics.sh - issue 9's benchmark of ecom-stream's stream analytics:
# what the analytics cost against ingestion only, how soon an event shows in
# its window row, whether memory stays flat over a long run, and the Spark
# Structured Streaming peer (bench/spark_peer.sh) side by side on the same
# events. One run prints one table.
#
# Starts its own broker, a real Apache Kafka (scripts/kafka-local.sh, one
# KRaft node, its log in the run's temp dir, -p partitions per topic, 3 by
# default) on free ports, restarted fresh for each real-time phase, and its
# own throwaway PostgreSQL 15 (scripts/pg-local.sh: sql/init.sql,
# windows.sql and alerts.sql applied, default server settings) with
# track_commit_timestamp = on (ALTER SYSTEM and a restart before anything is
# measured), so that pg_xact_commit_timestamp(xmin) gives the moment each
# row's transaction committed. Every timed phase starts from emptied tables
# (bench/lib.sh fresh_tables: raw, analytics, offsets; the catalog as
# seeded) and a CHECKPOINT, with a fresh consumer group.
#
#   0. Preload (not timed): ecom-simulator --max-rate -n EVENTS -s SEED,
#      checked as kept by the broker, then the sentinels of
#      bench/spark_peer.sh (one valid event an hour ahead at the end of
#      every partition, product SENTINEL, user bench-sentinel: they move
#      every partition's watermark past the preload's last windows, so that
#      both engines make them final; see spark_peer.sh's header). Every
#      drain below reads the preload and its sentinels (EVENTS + 3 x
#      partitions Kafka messages) and checks the raw rows against the
#      simulator's valid_unique per topic, plus the sentinels.
#   1. Throughput: ecom-stream --exit-when-idle 2 drains the preload with
#      its defaults (analytics on, "A") and with --no-analytics ("B"),
#      --drain-runs times each in the order A B B A A B ... (a drift of the
#      machine weighs on both alike), after one drain with --no-analytics
#      that is not timed (the first drain after the preload is the slowest,
#      see the warm-up below). Seconds: from the partition assignment
#      (its log) to /metrics showing every message committed (polled every
#      50 ms), as bench/stream.sh. The table shows the median run of each
#      (of an even number the slower middle one); every run is in the notes.
#      Goal: A's events/s >= 80% of B's.
#   2. Window visibility latency, at the simulator's default rates and at
#      --latency-rate events/s (-m, the same mix), each for
#      --latency-seconds: a fresh Kafka whose broker stamps every message on
#      arrival (log.message.timestamp.type=LogAppendTime, so the Kafka
#      timestamp is the arrival at the broker), warmed up with kcat
#      (bench/lib.sh warm_broker; see fresh_kafka), ecom-stream with its
#      defaults started and assigned first, then ecom-simulator -d. An
#      event's window row is committed by the same PostgreSQL transaction
#      that stores its raw row (stream/sink.c runs windows_apply and
#      alerts_apply inside the flush transaction, after the offsets, before
#      COMMIT; the raw rows are never updated afterwards), so per event:
#        latency = pg_xact_commit_timestamp(raw row's xmin) - Kafka timestamp
#      joined on (topic, partition, offset) with the timestamps read back by
#      kcat -f %T after the run; exact, every event, p50/p99/max. The commit
#      timestamp is taken when the transaction commits, a few microseconds
#      before other sessions see it (synchronous_commit off, ecom-stream's
#      default). Cross-check: ecom-stream's own histogram
#      ecom_stream_commit_latency_seconds (the same Kafka timestamp to its
#      COMMIT returning, bucket-interpolated). Steady state: the first 5 s,
#      while the producer connects, are left out (both figures); the whole
#      run is in the notes. Also shown: when windows became final, i.e. the
#      commit timestamp of the transaction that set is_final on a traffic
#      window minus its window_end (bounded below by --lateness plus a
#      flush; only windows of the steady state final by the end of the run).
#      Goal: p99 < 1 s at both rates.
#   3. RSS soak: ecom-stream (defaults) while ecom-simulator runs at
#      --soak-rate events/s for --soak seconds on a fresh, warmed up Kafka;
#      a sampler reads ecom-stream's VmRSS from /proc and its /metrics every
#      second.
#      Reported: mean and max RSS over the first and the last minute of the
#      simulator's run (half the run each when it is shorter than two
#      minutes), the least-squares slope after the first minute, and the
#      analytics state from /metrics at the end of each (state_entries and
#      state_bytes of the distinct-count sets, stored_open_windows,
#      open_windows). Rule: flat when the last minute's peak RSS exceeds the
#      first minute's peak by at most 10% of it or 10 MB, whichever is
#      larger (peaks, not means: the first minute's mean holds the start,
#      while RSS climbs to its working set in the first seconds).
#      Checked: every delivered message committed (the run kept up); the
#      commit latency p99 of the soak is in the notes.
#   4. Spark peer, on a preload of --spark-events (the same preload as 1
#      when the counts match, else a fresh Kafka and preload): ecom-stream
#      (defaults) drains it as in 1, then waits for nothing: its last
#      preload window is final when the batch holding the sentinels commits
#      (checked: no preload window left open). Then "bench/spark_peer.sh run
#      --bootstrap B --summary PRELOAD --out FILE" on the same topics and
#      PostgreSQL (its own throwaway Spark cluster: master, worker, driver
#      and executor JVMs). The two run one after the other, each with both
#      cores. Side by side:
#        events/s end to end: messages / seconds from ecom-stream's
#          partition assignment, or Spark's first micro-batch with data
#          starting (its batches log), to the commit holding the last
#          message (the latest commit timestamp of the engine's raw rows);
#          start-up shown apart;
#        last window final: from the same start to the commit timestamp of
#          the last preload row of product_window_metrics (ecom-stream: the
#          transaction that set is_final; Spark: the one that wrote it, all
#          its rows being final); the peer's own figures (clock_timestamp()
#          inside its transactions) are in the notes;
#        peak RSS: ecom-stream's (GNU time's maximum resident set size);
#          Spark's largest sum of the RSS of all its processes at one moment
#          (sampled every 0.25 s: master, worker, driver JVM and python,
#          executor, launchers), the sum of their own peaks beside it. The
#          shared Kafka and PostgreSQL are counted for neither;
#        CPU s: user+system of ecom-stream / of every Spark process from
#          spark-submit on (the daemons' start before that apart); PG CPU s
#          of the server over each run;
#        agreement: ecom-stream's final product_window_metrics rows
#          (window_start, window_end, product_id, category, views,
#          add_to_carts, orders, units_sold, revenue; product SENTINEL left
#          out) EXCEPT the peer's, and the other way round: both empty, and
#          no preload window open, is "agree". sql/checks/windows.sql on
#          ecom-stream's tables is run as well (its differences counted).
#      Goals: ecom-stream >= 5x Spark's events/s, peak RSS < 1/10 of Spark's.
# Prints the table and the verdicts on stdout and writes them to
# bench/results/analytics-DATE.txt; progress goes to stderr. The machine's
# load average at start and end is printed: on the 2-core machine other
# work moves every figure.
#
# Usage: bench/analytics.sh [-n EVENTS] [--drain-runs N] [-d SECONDS]
#                           [--latency-rate N] [--soak SECONDS]
#                           [--soak-rate N] [--spark-events N] [-s SEED]
#                           [-p PARTITIONS] [-a ECOM_STREAM_ARG]...
#                           [--spark-arg ARG]... [--bin DIR]
# Defaults took 21.6 minutes here (load average 2 to 5), most of it the
# soak (10 min) and Spark (1,000,000 events: 4.5 min plus start-up; the
# peer's header measured 6.5 to 13 min on busier days). Note that a
# --max-rate preload spans little event time: 1,000,000 events fill one or
# two 30 s windows, so the comparison covers 10 to 20 product rows (every
# figure of them, summed over all the events). Environment: ECOM_BENCH_KEEP=1
# keeps the run's temp dir (logs, samples).
# Exit status: 0 when the runs completed, whatever the verdicts; 1 when a run
# failed, a count did not match or the two engines' windows differ; 2 on a
# usage error.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/build/bin
bin_given=
pgbin=${ECOM_PG_BINDIR:-/usr/lib/postgresql/15/bin}
prog=bench/analytics.sh

events=1000000
drain_runs=2
latency_s=60
latency_rate=10000
soak_s=600
soak_rate=10000
spark_events=1000000
seed=1
partitions=3
stream_args=() # extra ecom-stream arguments (-a), for every ecom-stream run
spark_args=()  # extra bench/spark_peer.sh run arguments (--spark-arg)
warmup=5       # seconds of a real-time run left out of its steady state
goal_ratio=80  # analytics on >= this % of ingest only
goal_p99_ms=1000
goal_spark_x=5 # ecom-stream >= this many times Spark's events/s
goal_spark_mem=10 # ecom-stream's peak RSS < 1/this of Spark's
flat_pct=10 flat_mb=10

usage() {
    cat <<EOF
$prog benchmarks ecom-stream's analytics (issue 9): throughput against
ingestion only, window visibility latency, an RSS soak, and the Spark
Structured Streaming peer side by side.

Usage:
  $prog [OPTION]...

Options:
  -n, --events=N            events to preload for the throughput runs
                            (default: $events)
      --drain-runs=N        runs of each of analytics on / --no-analytics, in
                            the order A B B A ...; 0 = skip (default: $drain_runs)
  -d, --latency-seconds=N   each latency run, at the default rates and at
                            --latency-rate; 0 = skip (default: $latency_s)
      --latency-rate=N      events/s of the second latency run (default: $latency_rate)
      --soak=SECONDS        the RSS soak's length, 0 = skip (default: $soak_s)
      --soak-rate=N         events/s of the soak (default: $soak_rate)
      --spark-events=N      events of the Spark comparison, 0 = skip
                            (default: $spark_events; the throughput preload is
                            reused when equal to -n)
  -s, --seed=N              simulator seed (default: $seed)
  -p, --partitions=N        partitions of every topic (default: $partitions)
  -a, --stream-arg=ARG      pass ARG to every ecom-stream run (repeatable)
      --spark-arg=ARG       pass ARG to bench/spark_peer.sh run (repeatable),
                            e.g. --spark-arg=--max-offsets=20000
      --bin=DIR             ecom-stream's and ecom-simulator's directory
                            (default: <repo>/build/bin, built if missing)
  -h, --help                show this help and exit

Needs scripts/deps.sh, Kafka's, Spark's and the JDBC driver's caches (as
bench/spark_peer.sh). Results: stdout and bench/results/analytics-DATE.txt.
EOF
}

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"

while (($#)); do
    case $1 in
    -n | --events) (($# >= 2)) || usage_error "option $1 requires a value"; events=$2; shift ;;
    --events=*) events=${1#*=} ;;
    --drain-runs) (($# >= 2)) || usage_error "option $1 requires a value"; drain_runs=$2; shift ;;
    --drain-runs=*) drain_runs=${1#*=} ;;
    -d | --latency-seconds) (($# >= 2)) || usage_error "option $1 requires a value"; latency_s=$2; shift ;;
    --latency-seconds=*) latency_s=${1#*=} ;;
    --latency-rate) (($# >= 2)) || usage_error "option $1 requires a value"; latency_rate=$2; shift ;;
    --latency-rate=*) latency_rate=${1#*=} ;;
    --soak) (($# >= 2)) || usage_error "option $1 requires a value"; soak_s=$2; shift ;;
    --soak=*) soak_s=${1#*=} ;;
    --soak-rate) (($# >= 2)) || usage_error "option $1 requires a value"; soak_rate=$2; shift ;;
    --soak-rate=*) soak_rate=${1#*=} ;;
    --spark-events) (($# >= 2)) || usage_error "option $1 requires a value"; spark_events=$2; shift ;;
    --spark-events=*) spark_events=${1#*=} ;;
    -s | --seed) (($# >= 2)) || usage_error "option $1 requires a value"; seed=$2; shift ;;
    --seed=*) seed=${1#*=} ;;
    -p | --partitions) (($# >= 2)) || usage_error "option $1 requires a value"; partitions=$2; shift ;;
    --partitions=*) partitions=${1#*=} ;;
    -a | --stream-arg) (($# >= 2)) || usage_error "option $1 requires a value"; stream_args+=("$2"); shift ;;
    --stream-arg=*) stream_args+=("${1#*=}") ;;
    --spark-arg) (($# >= 2)) || usage_error "option $1 requires a value"; spark_args+=("$2"); shift ;;
    --spark-arg=*) spark_args+=("${1#*=}") ;;
    --bin) (($# >= 2)) || usage_error "option $1 requires a value"; bin=$2; bin_given=1; shift ;;
    --bin=*) bin=${1#*=}; bin_given=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "invalid option \"$1\"" ;;
    esac
    shift
done
posint -n/--events "$events"
posint --drain-runs "$drain_runs" 0
posint -d/--latency-seconds "$latency_s" 0
posint --latency-rate "$latency_rate"
posint --soak "$soak_s" 0
posint --soak-rate "$soak_rate"
posint --spark-events "$spark_events" 0
posint -s/--seed "$seed" 0
posint -p/--partitions "$partitions"
((partitions <= 256)) || usage_error "invalid value \"$partitions\" for option -p/--partitions"
if ((latency_s > 0 && latency_s <= 2 * warmup)); then
    usage_error "invalid value \"$latency_s\" for option -d/--latency-seconds (0 or more than $((2 * warmup)))"
fi
if ((soak_s > 0 && soak_s < 20)); then
    usage_error "invalid value \"$soak_s\" for option --soak (0 or at least 20)"
fi
if [[ -n $bin_given ]]; then
    [[ -d $bin ]] || usage_error "invalid value \"$bin\" for option --bin: not a directory"
    bin=$(cd "$bin" && pwd)
fi
broker=kafka # the Spark peer and LogAppendTime need a real Kafka

"$repo/scripts/deps.sh" >&2
if [[ ! -x $bin/ecom-simulator || ! -x $bin/ecom-stream ]]; then
    [[ -z $bin_given ]] || die "no ecom-stream and ecom-simulator in \"$bin\""
    say "building into $repo/build"
    "$repo/scripts/build.sh" "$repo/build" >&2
fi
stream_defaults="--flush-rows $(stream_default flush-rows), --flush-ms $(stream_default flush-ms)"
stream_defaults+=", --window $(stream_default window), --lateness $(stream_default lateness)"
stream_defaults+=", --idle-timeout $(stream_default idle-timeout)"
sync_default=$(stream_default synchronous-commit)
[[ -z $sync_default ]] || stream_defaults+=", --synchronous-commit $sync_default"

# The simulator's default rates, from its --help: user events per second,
# transactions and inventory updates per minute; -m for a total rate.
sim_help=$("$bin/ecom-simulator" --help)
sim_default() { sed -n "s/.*--$1=N.*(default: \([0-9.]*\)).*/\1/p" <<<"$sim_help"; }
rate_u=$(sim_default user-rate) rate_t=$(sim_default transaction-rate) rate_i=$(sim_default inventory-rate)
[[ -n $rate_u && -n $rate_t && -n $rate_i ]] || die "could not read the default rates from ecom-simulator --help"
base_rate=$(awk -v u="$rate_u" -v t="$rate_t" -v i="$rate_i" 'BEGIN { printf "%.4f", u + t / 60 + i / 60 }')
# multiplier EVENTS_PER_S: -m for that total rate.
multiplier() { awk -v r="$1" -v b="$base_rate" 'BEGIN { printf "%.6f", r / b }'; }

export ECOM_ENV_FILE=/dev/null # a developer's .env must not change the run
unset KAFKA_BOOTSTRAP_SERVERS TOPIC_PARTITIONS STREAM_GROUP_ID STREAM_METRICS_PORT LOG_LEVEL
unset SIMULATOR_USER_RATE SIMULATOR_TRANSACTION_RATE SIMULATOR_INVENTORY_RATE SIMULATOR_MULTIPLIER
unset ECOM_KAFKA_SERVER_PROPERTIES

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-analytics.XXXXXX")
chmod 755 "$tmp" # as root, PostgreSQL runs as "postgres" and must enter it
pg_started=
bg_pids=() # drain_stream's (bench/lib.sh empties it)
my_pids=() # this script's own background processes
spark_pid=
# alive PID: the process exists and is not a zombie.
alive() {
    local st
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ ${st%% *} != Z ]]
}
# stop_pid PID [SECONDS]: SIGTERM to PID, then SIGKILL after SECONDS
# (default 20); reaps it. /usr/bin/time passes no signal on, so its child
# gets them too (timeout passes them on itself).
stop_pid() {
    local pid=$1 n=$((${2:-20} * 10)) kids=
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) != time ]] || kids=1
    [[ -z $kids ]] || pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && ((n-- > 0)); do sleep 0.1; done
    if alive "$pid"; then
        pkill -KILL -P "$pid" 2>/dev/null || true
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
# wait_pid PID SECONDS: waits up to SECONDS for PID to exit and returns its
# exit status; 124 (and PID stopped) when it did not exit in time.
wait_pid() {
    local pid=$1 n=$(($2 * 10)) rc=0
    while alive "$pid" && ((n-- > 0)); do sleep 0.1; done
    if alive "$pid"; then
        stop_pid "$pid"
        return 124
    fi
    wait "$pid" || rc=$?
    return "$rc"
}
# forget PID: drops PID from my_pids once it has been reaped.
forget() {
    local p keep=()
    for p in "${my_pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    my_pids=("${keep[@]}")
}
cleanup() {
    local pid
    # spark_peer.sh's own trap stops its Spark cluster: give it time.
    [[ -z $spark_pid ]] || stop_pid "$spark_pid" 90
    for pid in "${my_pids[@]}" "${bg_pids[@]}"; do stop_pid "$pid" 20; done
    stop_broker
    end_run
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=() # checks that failed without stopping the run (exit 1 at the end)

# fnum EXPR...: awk arithmetic on numbers, printed with FORMAT (first arg).
fnum() {
    local fmt=$1 expr=$2
    shift 2
    awk "$@" "BEGIN { printf \"$fmt\", $expr }"
}

# sentinels: bench/spark_peer.sh's sentinel events at the end of every
# partition; adds them to the expected raw rows (one per partition and topic).
sentinels() {
    "$repo/bench/spark_peer.sh" sentinels --bootstrap "$bootstrap" >&2 ||
        die "bench/spark_peer.sh sentinels failed"
    valid_ue=$((valid_ue + partitions)) valid_tx=$((valid_tx + partitions)) valid_inv=$((valid_inv + partitions))
    messages=$((delivered + 3 * partitions))
}

# fresh_kafka [LOGAPPEND]: a fresh broker; with LOGAPPEND (the real-time
# phases) the broker stamps every message on arrival
# (log.message.timestamp.type=LogAppendTime) and is warmed up first
# (warm_broker): a cold broker's JVM accepted 1,500 to 7,000 events/s in its
# first 10 s, and the simulator then caught up its schedule at 20,000 to
# 24,000 events/s, so the first half minute measured bursts of more than
# twice the rate asked for (p99 2.4 s at 10,000 events/s against 0.2 to
# 0.3 s once the rate was steady).
fresh_kafka() {
    stop_broker
    if [[ -n ${1:-} ]]; then
        export ECOM_KAFKA_SERVER_PROPERTIES=log.message.timestamp.type=LogAppendTime
        start_broker "$partitions"
        unset ECOM_KAFKA_SERVER_PROPERTIES
        grep -qx 'log.message.timestamp.type=LogAppendTime' "$tmp/kafka/node-1/server.properties" ||
            die "the broker's server.properties lacks log.message.timestamp.type=LogAppendTime"
        say "Kafka at $bootstrap (LogAppendTime)"
        warm_broker
    else
        start_broker "$partitions"
        say "Kafka at $bootstrap"
    fi
}

# start_stream NAME: ecom-stream with its defaults (and -a) in the
# background on a fresh group, its log in $tmp/NAME.err; waits until it has
# every partition. Sets st_pid, st_port, st_group, st_pg0 (the server's CPU
# seconds so far) and st_load0 (the 1-minute load average).
start_stream() {
    local i n
    st_load0=$(cut -d' ' -f1 /proc/loadavg)
    st_pg0=$(pg_cpu)
    st_port=$(free_port)
    st_group=bench-$1-$RANDOM
    "$bin/ecom-stream" -b "$bootstrap" -g "$st_group" -p "$st_port" -P 10 "${stream_args[@]}" 2>"$tmp/$1.err" &
    st_pid=$!
    my_pids+=("$st_pid")
    for i in $(seq 601); do
        n=$(assigned_count "$tmp/$1.err")
        ((n >= 3 * partitions)) && return 0
        alive "$st_pid" || { tail -n 20 "$tmp/$1.err" >&2; die "ecom-stream ($1) exited"; }
        ((i <= 600)) || die "ecom-stream ($1) got no partitions within 60 s"
        sleep 0.1
    done
}

# stop_stream: SIGTERM to the ecom-stream of start_stream, which must exit
# 0. Sets st_cpu (its user+system seconds), st_pgcpu (the server's since
# start_stream) and st_load1 (the load average before stopping).
stop_stream() {
    local rc=0
    st_load1=$(cut -d' ' -f1 /proc/loadavg)
    st_cpu=$(sed 's/^.*) //' "/proc/$st_pid/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }')
    kill -TERM "$st_pid" 2>/dev/null || true
    wait_pid "$st_pid" 30 || rc=$?
    forget "$st_pid"
    ((rc == 0)) || die "ecom-stream exited with status $rc after SIGTERM"
    st_pgcpu=$(fnum %.2f 'b - a' -v a="$st_pg0" -v b="$(pg_cpu)")
}

# flush_stats PROM: "flushes seconds" of ecom-stream's flush transactions
# in the /metrics dump PROM.
flush_stats() {
    awk '$1 == "ecom_stream_flushes_total" { n = $2 } $1 == "ecom_stream_flush_duration_seconds_sum" { s = $2 }
         END { printf "%d %.1f\n", n, s }' "$1"
}

# kafka_ts: every message's Kafka timestamp (topic, partition, offset, ms)
# into bench_seed.kafka_ts, read back with kcat.
kafka_ts() {
    local t
    : >"$tmp/kts.tsv"
    for t in "${topics[@]}"; do
        kcat -C -b "$bootstrap" -t "$t" -o beginning -e -q -f "$t\t%p\t%o\t%T\n" >>"$tmp/kts.tsv" ||
            die "kcat could not read $t back"
    done
    sql "TRUNCATE bench_seed.kafka_ts"
    sql "\\copy bench_seed.kafka_ts FROM '$tmp/kts.tsv'"
}

# arrival_rate: messages per second arriving at the broker over the run:
# the messages of every partition (a fresh broker: offsets from 0) over the
# span from the first message's Kafka timestamp to the last one's
# (LogAppendTime: the broker's clock).
arrival_rate() {
    local t p first=0 last=0 n=0 ts hi
    for t in "${topics[@]}"; do
        for p in $(seq 0 $((partitions - 1))); do
            hi=$(kcat -Q -b "$bootstrap" -t "$t:$p:-1" | awk '/ offset / { print $NF }') ||
                die "kcat -Q failed for $t [$p]"
            [[ $hi =~ ^[0-9]+$ ]] || die "kcat -Q gave no end offset for $t [$p]"
            ((hi > 0)) || continue
            n=$((n + hi))
            ts=$(kcat -C -b "$bootstrap" -t "$t" -p "$p" -o 0 -c 1 -e -q -f '%T\n')
            ((first == 0 || ts < first)) && first=$ts
            ts=$(kcat -C -b "$bootstrap" -t "$t" -p "$p" -o "$((hi - 1))" -c 1 -e -q -f '%T\n')
            ((ts <= last)) || last=$ts
        done
    done
    fnum %.0f '(l > f ? 1000 * n / (l - f) : 0)' -v n="$n" -v f="$first" -v l="$last"
}

# visibility FROM_S: "p50 p99 max count unmatched" (ms) of commit timestamp
# of each raw row's transaction minus its message's Kafka timestamp, over
# the messages stamped FROM_S seconds or more after the first; unmatched:
# raw rows without a commit timestamp or a Kafka timestamp (must be 0).
visibility() {
    sql "WITH r AS (
            SELECT 'user-events' AS topic, kafka_partition AS part, kafka_offset AS off,
                   pg_xact_commit_timestamp(xmin) AS cts FROM user_events
            UNION ALL SELECT 'transactions', kafka_partition, kafka_offset, pg_xact_commit_timestamp(xmin)
              FROM transactions
            UNION ALL SELECT 'inventory-updates', kafka_partition, kafka_offset, pg_xact_commit_timestamp(xmin)
              FROM inventory_updates),
          k AS (SELECT topic, part, off, to_timestamp(ts_ms / 1000.0) AS kts FROM bench_seed.kafka_ts),
          x AS (SELECT k.kts, extract(epoch FROM r.cts - k.kts) AS l FROM r LEFT JOIN k USING (topic, part, off))
     SELECT round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY l)),
            round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY l)),
            round(1000 * max(l)), count(l),
            (SELECT count(*) FROM x WHERE l IS NULL)
       FROM x WHERE kts >= (SELECT min(kts) FROM k) + interval '$1 s'" | tr '|' ' '
}

# finality FROM_S: "count min max" (s) of the commit timestamp of the
# transaction that made each traffic window final minus its window_end, for
# the windows starting FROM_S seconds or more after the first message.
finality() {
    sql "SELECT count(*), coalesce(round(min(extract(epoch FROM pg_xact_commit_timestamp(xmin) - window_end))::numeric, 2), 0),
                coalesce(round(max(extract(epoch FROM pg_xact_commit_timestamp(xmin) - window_end))::numeric, 2), 0)
           FROM traffic_window_metrics
          WHERE is_final AND window_start >= (SELECT to_timestamp(min(ts_ms) / 1000.0) FROM bench_seed.kafka_ts)
                                              + interval '$1 s'" | tr '|' ' '
}

# simulate NAME SECONDS [ARGS...]: ecom-simulator -d SECONDS in the
# background (under timeout: SECONDS + 120), its summary in $tmp/NAME.json;
# sets sim_pid and sim_t0.
simulate() {
    local name=$1 secs=$2
    shift 2
    sim_t0=$(date +%s.%N)
    timeout -k 10 $((secs + 120)) "$bin/ecom-simulator" -b "$bootstrap" -d "$secs" -P 0 -s "$seed" "$@" \
        >"$tmp/$name.json" 2>"$tmp/$name.sim.err" &
    sim_pid=$!
    my_pids+=("$sim_pid")
}

# sim_done NAME SECONDS: waits for the simulator of simulate, which must
# exit 0 and deliver every message; sets sim_t1 and sim_delivered.
sim_done() {
    local rc=0
    wait_pid "$sim_pid" $(($2 + 150)) || rc=$?
    sim_t1=$(date +%s.%N)
    forget "$sim_pid"
    ((rc == 0)) || { tail -n 20 "$tmp/$1.sim.err" >&2; die "ecom-simulator ($1) exited with status $rc"; }
    sim_delivered=$(json "$tmp/$1.json" 'j["delivered"]')
    [[ $sim_delivered == "$(json "$tmp/$1.json" 'j["produced"]')" ]] ||
        die "ecom-simulator ($1) delivered $sim_delivered of $(json "$tmp/$1.json" 'j["produced"]') messages"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_bench0=$SECONDS
say "analytics benchmark: -n $events, $drain_runs drain runs each, latency ${latency_s} s at the default rates" \
    "and $latency_rate events/s, soak ${soak_s} s at $soak_rate events/s, Spark on $spark_events; load average $load_start"
start_pg
seed_snapshot
sql "CREATE UNLOGGED TABLE bench_seed.kafka_ts (topic text, part integer, off bigint, ts_ms bigint)"
sql_super "ALTER SYSTEM SET track_commit_timestamp = on" >/dev/null
"$repo/scripts/pg-local.sh" stop >&2
"$repo/scripts/pg-local.sh" start >&2 || die "could not restart PostgreSQL"
[[ $(sql "SHOW track_commit_timestamp") == on ]] || die "track_commit_timestamp is not on after the restart"
pg_settings=$(sql "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)
    FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'max_wal_size', 'fsync', 'autovacuum',
                                    'track_commit_timestamp')")
say "PostgreSQL on localhost:$PGPORT ($pg_settings)"

# ------------------------------------------------------------------ 0, 1
preloaded=
pre_summary=
if ((drain_runs > 0 || spark_events == events)); then
    fresh_kafka
    preload "$events" "$seed"
    sentinels
    preloaded=$events
    pre_summary="ecom-simulator --max-rate -n $events -s $seed: $valid_ue user events, $valid_tx transactions,"
    pre_summary+=" $valid_inv inventory updates (sentinels included)"
fi

declare -A d_drain d_rss d_cpu d_pgcpu d_join d_flushes d_flush_s runs_of
if ((drain_runs > 0)); then
    tp_load0=$(cut -d' ' -f1 /proc/loadavg)
    order=()
    for ((i = 0; i < drain_runs; i++)); do
        if ((i % 2 == 0)); then order+=(A B); else order+=(B A); fi
    done
    # Not timed: the first drain after the preload ran 20 to 30% slower
    # whichever its mode (likely PostgreSQL creating and zero-filling the WAL
    # segments later drains recycle; the broker reading its log the first
    # time), which weighed on A alone.
    say "ecom-stream --no-analytics, warm-up (not timed): draining $messages messages into emptied tables"
    drain_stream tp-warmup "$bin" "the warm-up drain" "$messages" --no-analytics "${stream_args[@]}"
    declare -A nth=([A]=0 [B]=0)
    for who in "${order[@]}"; do
        nth[$who]=$((nth[$who] + 1))
        key=$who-${nth[$who]}
        if [[ $who == A ]]; then
            label="ecom-stream (analytics on)" args=()
        else
            label="ecom-stream --no-analytics" args=(--no-analytics)
        fi
        say "$label, run ${nth[$who]} of $drain_runs: draining $messages messages into emptied tables"
        drain_stream "tp-$key" "$bin" "$label" "$messages" "${args[@]}" "${stream_args[@]}"
        check_rows "$label"
        awk -v j="$s_join" 'BEGIN { exit !(j > 0) }' || die "no partition assignment in $label's log"
        d_drain[$key]=$(fnum %.2f 'a - b' -v a="$s_drain" -v b="$s_join")
        d_rss[$key]=$s_rss d_cpu[$key]=$s_cpu d_pgcpu[$key]=$s_pgcpu d_join[$key]=$s_join
        d_flushes[$key]=$s_flushes d_flush_s[$key]=$s_flush_s
        runs_of[$who]+="${runs_of[$who]:+ }$key"
        say "  drain ${d_drain[$key]} s, $(eps "$messages" "${d_drain[$key]}") events/s (assigned at $s_join s," \
            "peak RSS $((s_rss / 1024)) MB, CPU $s_cpu s, PG CPU $s_pgcpu s)"
    done
    tp_load1=$(cut -d' ' -f1 /proc/loadavg)
fi

# ------------------------------------------------------------------ 4 (Spark)
# Run here, while the throughput preload is in Kafka (when it is the same).
sp_ran=
if ((spark_events > 0)); then
    if [[ $preloaded != "$spark_events" ]]; then
        fresh_kafka
        preload "$spark_events" "$seed"
        sentinels
    fi
    sp_load0=$(cut -d' ' -f1 /proc/loadavg)
    sp_summary="ecom-simulator --max-rate -n $spark_events -s $seed + $((3 * partitions)) sentinels = $messages messages"
    cp "$tmp/preload.json" "$tmp/spark-preload.json"
    say "Spark comparison: ecom-stream (analytics on) draining $messages messages"
    drain_stream "sp-ecom" "$bin" "ecom-stream (analytics on)" "$messages" "${stream_args[@]}"
    check_rows "ecom-stream (Spark comparison)"
    se_join_epoch=$(fnum %.3f 'a + b' -v a="$s_t0" -v b="$s_join")
    # The commit holding the last message: the latest commit timestamp of a raw row.
    se_end_epoch=$(sql "SELECT extract(epoch FROM max(c)) FROM (
        SELECT max(pg_xact_commit_timestamp(xmin)) AS c FROM user_events
        UNION ALL SELECT max(pg_xact_commit_timestamp(xmin)) FROM transactions
        UNION ALL SELECT max(pg_xact_commit_timestamp(xmin)) FROM inventory_updates) x")
    se_drain=$(fnum %.2f 'b - a' -v a="$se_join_epoch" -v b="$se_end_epoch")
    se_startup=$s_join se_rss=$s_rss se_cpu=$s_cpu se_pgcpu=$s_pgcpu se_group=$s_group
    se_open=$(sql "SELECT count(*) FROM product_window_metrics WHERE NOT is_final AND product_id <> 'SENTINEL'")
    ((se_open == 0)) ||
        failures+=("ecom-stream left $se_open preload rows of product_window_metrics open after the sentinels")
    se_final_epoch=$(sql "SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) FROM product_window_metrics
                          WHERE is_final AND product_id <> 'SENTINEL'")
    se_final=$(fnum %.2f 'b - a' -v a="$se_join_epoch" -v b="$se_final_epoch")
    se_late=$(sql "SELECT (SELECT count(*) FROM user_events WHERE late) + (SELECT count(*) FROM transactions WHERE late)
                        + (SELECT count(*) FROM inventory_updates WHERE late)")
    ((se_late == 0)) || failures+=("ecom-stream judged $se_late preload events late (the corpus should have none)")
    say "  drain $se_drain s ($(eps "$messages" "$se_drain") events/s), last window final after $se_final s;" \
        "sql/checks/windows.sql (not timed)"
    t=$SECONDS
    "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -v consumer_group="$se_group" -f "$repo/sql/checks/windows.sql" \
        >"$tmp/check-windows.out" 2>&1 || die "sql/checks/windows.sql failed: $(tail -n 3 "$tmp/check-windows.out")"
    se_check=$(grep -c . "$tmp/check-windows.out" || true)
    se_check_s=$((SECONDS - t))
    ((se_check == 0)) || failures+=("sql/checks/windows.sql lists $se_check differences in ecom-stream's windows")

    sql "CHECKPOINT"
    say "Spark comparison: bench/spark_peer.sh run on the same topics (${spark_args[*]:-its defaults})"
    mkdir -p "$tmp/spark-runner"
    spark_deadline=3600
    for a in "${spark_args[@]}"; do
        [[ $a != --timeout=* ]] || spark_deadline=$((${a#--timeout=} + 1800))
    done
    TMPDIR=$tmp/spark-runner timeout -k 120 "$spark_deadline" "$repo/bench/spark_peer.sh" run \
        --bootstrap "$bootstrap" --summary "$tmp/spark-preload.json" --out "$tmp/spark.kv" --bin "$bin" \
        "${spark_args[@]}" >"$tmp/spark.out" &
    spark_pid=$!
    rc=0
    wait_pid "$spark_pid" $((spark_deadline + 200)) || rc=$?
    spark_pid=
    [[ -s $tmp/spark.kv ]] || die "bench/spark_peer.sh run failed (exit status $rc)"
    sk() { sed -n "s/^$1=//p" "$tmp/spark.kv"; }
    ((rc == 0)) || failures+=("bench/spark_peer.sh run: $(sk checks_failed) of its checks failed (exit status $rc):
    $(grep 'CHECK FAILED' "$tmp/spark.out" || true)")
    sp_label=$(sk tool)
    sp_events=$(sk events)
    [[ $sp_events == "$messages" ]] || failures+=("the Spark peer read $sp_events messages, the topics hold $messages")
    # Spark's start: its first micro-batch with data; its last window: the
    # commit of the last preload row, as for ecom-stream.
    read -r sp_start_epoch sp_end_epoch sp_final_epoch <<<"$(sql "SELECT
        (SELECT extract(epoch FROM min(started_at)) FROM spark_peer.batches WHERE rows_in > 0),
        (SELECT extract(epoch FROM max(c)) FROM (
            SELECT max(pg_xact_commit_timestamp(xmin)) AS c FROM spark_peer.user_events
            UNION ALL SELECT max(pg_xact_commit_timestamp(xmin)) FROM spark_peer.transactions
            UNION ALL SELECT max(pg_xact_commit_timestamp(xmin)) FROM spark_peer.inventory_updates) x),
        (SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) FROM spark_peer.product_window_metrics
          WHERE product_id <> 'SENTINEL')" | tr '|' ' ')"
    sp_final=$(fnum %.2f 'b - a' -v a="$sp_start_epoch" -v b="$sp_final_epoch")
    sp_run=$(fnum %.2f 'b - a' -v a="$sp_start_epoch" -v b="$sp_end_epoch")
    sp_eps=$(eps "$sp_events" "$sp_run")
    # The final windows of both, row by row.
    cols="window_start, window_end, product_id, category, views, add_to_carts, orders, units_sold, revenue"
    ecom_rows="SELECT $cols FROM public.product_window_metrics WHERE is_final AND product_id <> 'SENTINEL'"
    peer_rows="SELECT $cols FROM spark_peer.product_window_metrics WHERE product_id <> 'SENTINEL'"
    read -r n_ecom n_peer only_ecom only_peer <<<"$(sql "SELECT (SELECT count(*) FROM ($ecom_rows) a),
        (SELECT count(*) FROM ($peer_rows) b),
        (SELECT count(*) FROM ($ecom_rows EXCEPT $peer_rows) c), (SELECT count(*) FROM ($peer_rows EXCEPT $ecom_rows) d)" |
        tr '|' ' ')"
    if ((only_ecom == 0 && only_peer == 0 && se_open == 0 && n_ecom > 0)); then
        agree=yes
    else
        agree=no
        failures+=("the final windows differ: $only_ecom rows only in ecom-stream's, $only_peer only in the peer's")
        sql "($ecom_rows EXCEPT $peer_rows) ORDER BY 1, 3 LIMIT 5" >"$tmp/diff-ecom.txt" || true
        sql "($peer_rows EXCEPT $ecom_rows) ORDER BY 1, 3 LIMIT 5" >"$tmp/diff-peer.txt" || true
    fi
    win_sums=$(sql "SELECT 'views ' || sum(views) || ', add_to_carts ' || sum(add_to_carts) || ', orders ' || sum(orders)
        || ', units ' || sum(units_sold) || ', revenue ' || sum(revenue) FROM ($ecom_rows) x")
    sp_ran=1
    sp_load1=$(cut -d' ' -f1 /proc/loadavg)
    say "  Spark: $sp_eps events/s, last window final after $sp_final s; windows agree: $agree"
fi

# ------------------------------------------------------------------ 2
declare -A lat
# latency_run NAME LABEL [SIMULATOR_ARG...]: one visibility run (phase 2).
latency_run() {
    local name=$1 label=$2
    shift 2
    say "latency, $label: ecom-stream (defaults) and ecom-simulator -d $latency_s $*"
    fresh_kafka logappend
    fresh_tables
    start_stream "$name"
    simulate "$name" "$latency_s" "$@"
    sleep "$warmup"
    metrics "$st_port" >"$tmp/$name-warm.prom" || die "could not read ecom-stream's /metrics"
    sim_done "$name" "$latency_s"
    wait_committed "$st_port" "$sim_delivered" "$st_pid" 120 >/dev/null ||
        die "ecom-stream did not commit the $label run's $sim_delivered messages"
    metrics "$st_port" >"$tmp/$name-end.prom" || die "could not read ecom-stream's /metrics"
    stop_stream
    check_live "$name"
    kafka_ts
    local a b c d e
    read -r a b c d e < <(visibility "$warmup")
    lat[$name-p50]=$a lat[$name-p99]=$b lat[$name-max]=$c lat[$name-n]=$d lat[$name-nomatch]=$e
    ((e == 0)) || failures+=("$label: $e raw rows without a commit or a Kafka timestamp")
    read -r a b c d e < <(visibility 0)
    lat[$name-all-p50]=$a lat[$name-all-p99]=$b lat[$name-all-max]=$c lat[$name-all-n]=$d
    read -r a b c d < <(latency_quantiles "$tmp/$name-end.prom" "$tmp/$name-warm.prom")
    lat[$name-hp50]=$a lat[$name-hp99]=$b lat[$name-hn]=$c
    read -r a b c < <(finality "$warmup")
    lat[$name-fin-n]=$a lat[$name-fin-min]=$b lat[$name-fin-max]=$c
    lat[$name-delivered]=$sim_delivered lat[$name-rate]=$(arrival_rate)
    lat[$name-rss]=$(awk '$1 == "process_resident_memory_bytes" { printf "%.0f", $2 / 1024 }' "$tmp/$name-end.prom")
    read -r a b < <(flush_stats "$tmp/$name-end.prom")
    lat[$name-flushes]=$a lat[$name-flush-s]=$b lat[$name-cpu]=$st_cpu lat[$name-pgcpu]=$st_pgcpu
    lat[$name-load]="$st_load0 -> $st_load1"
    say "  $sim_delivered messages (${lat[$name-rate]} events/s at the broker): p50 ${lat[$name-p50]} ms, p99 ${lat[$name-p99]} ms," \
        "max ${lat[$name-max]} ms (histogram p99 ${lat[$name-hp99]} ms)"
}

# check_live NAME: the raw tables of a real-time run hold the simulator's
# valid_unique per topic, nothing dead-lettered, no gaps, nothing late.
check_live() {
    valid_ue=$(json "$tmp/$1.json" 'j["topics"]["user-events"]["valid_unique"]')
    valid_tx=$(json "$tmp/$1.json" 'j["topics"]["transactions"]["valid_unique"]')
    valid_inv=$(json "$tmp/$1.json" 'j["topics"]["inventory-updates"]["valid_unique"]')
    items=
    check_rows "ecom-stream ($1)"
    local late
    late=$(sql "SELECT (SELECT count(*) FROM user_events WHERE late) + (SELECT count(*) FROM transactions WHERE late)
                     + (SELECT count(*) FROM inventory_updates WHERE late)")
    ((late == 0)) || failures+=("$1: ecom-stream judged $late events late")
}

if ((latency_s > 0)); then
    latency_run lat-default "the default rates"
    latency_run lat-high "$latency_rate events/s" -m "$(multiplier "$latency_rate")"
fi

# ------------------------------------------------------------------ 3
if ((soak_s > 0)); then
    say "soak: ecom-stream (defaults) with ecom-simulator at $soak_rate events/s for $soak_s s"
    fresh_kafka logappend
    fresh_tables
    start_stream soak
    cat >"$tmp/sampler.py" <<'PY'
import json, os, re, signal, sys, time, urllib.request
pid, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
names = ("ecom_stream_state_entries", "ecom_stream_state_bytes", "ecom_stream_stored_open_windows",
         "ecom_stream_open_windows")
with open(out, "w") as f:
    while not stop:
        t0 = time.time()
        try:
            rss = hwm = 0
            for line in open("/proc/%d/status" % pid):
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        except OSError:
            break
        s = {"t": t0, "rss_kb": rss, "hwm_kb": hwm}
        try:
            body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2).read().decode()
            consumed = 0.0
            for l in body.splitlines():
                k, _, v = l.rpartition(" ")
                base = k.split("{", 1)[0]
                if base in names:  # summed over labels ({store=...})
                    key = base[len("ecom_stream_"):]
                    s[key] = s.get(key, 0.0) + float(v)
                elif base == "ecom_stream_messages_consumed_total":
                    consumed += float(v)
            s["consumed"] = consumed
        except OSError:
            pass
        f.write(json.dumps(s) + "\n")
        f.flush()
        time.sleep(max(0.0, 1.0 - (time.time() - t0)))
PY
    /usr/bin/python3 "$tmp/sampler.py" "$st_pid" "$st_port" "$tmp/soak.jsonl" &
    sampler_pid=$!
    my_pids+=("$sampler_pid")
    simulate soak "$soak_s" -m "$(multiplier "$soak_rate")"
    # The histogram's steady state: after the first span (see soak.txt).
    sleep $((soak_s < 120 ? soak_s / 2 : 60))
    metrics "$st_port" >"$tmp/soak-warm.prom" || die "could not read ecom-stream's /metrics"
    sim_done soak "$soak_s"
    t=$(date +%s.%N)
    wait_committed "$st_port" "$sim_delivered" "$st_pid" 300 >/dev/null ||
        die "ecom-stream did not commit the soak's $sim_delivered messages"
    soak_lag=$(fnum %.2f 'b - a' -v a="$sim_t1" -v b="$(date +%s.%N)")
    metrics "$st_port" >"$tmp/soak-end.prom" || die "could not read ecom-stream's /metrics"
    kill -TERM "$sampler_pid" 2>/dev/null || true
    wait_pid "$sampler_pid" 10 || die "the RSS sampler failed"
    forget "$sampler_pid"
    stop_stream
    check_live soak
    read -r soak_hp50 soak_hp99 soak_hn _ < <(latency_quantiles "$tmp/soak-end.prom" "$tmp/soak-warm.prom")
    soak_delivered=$sim_delivered soak_achieved=$(arrival_rate) soak_sim_s=$(json "$tmp/soak.json" 'j["elapsed_s"]')
    soak_sets=$(sql "SELECT (SELECT count(*) FROM window_users) + (SELECT count(*) FROM window_sessions)")
    soak_db_mb=$(sql "SELECT round(pg_database_size(current_database()) / 1048576.0)")
    read -r soak_flushes soak_flush_s < <(flush_stats "$tmp/soak-end.prom")
    soak_cpu=$st_cpu soak_pgcpu=$st_pgcpu soak_load="$st_load0 -> $st_load1"
    /usr/bin/python3 - "$tmp/soak.jsonl" "$sim_t0" "$sim_t1" "$flat_pct" "$flat_mb" >"$tmp/soak.txt" <<'PY'
import json, sys
path, t0, t1, pct, mb = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
s = [json.loads(l) for l in open(path) if l.strip()]
s = [x for x in s if t0 <= x["t"] <= t1]
span = min(60.0, (t1 - t0) / 2)
first = [x for x in s if x["t"] < t0 + span]
last = [x for x in s if x["t"] >= t1 - span]
def mean(v):
    return sum(v) / len(v) if v else 0.0
def gauges(xs):
    for x in reversed(xs):
        if "state_entries" in x:
            return x
    return {}
fm, lm = mean([x["rss_kb"] for x in first]) / 1024, mean([x["rss_kb"] for x in last]) / 1024
fx, lx = max(x["rss_kb"] for x in first) / 1024, max(x["rss_kb"] for x in last) / 1024
after = [x for x in s if x["t"] >= t0 + span]
slope = 0.0
if len(after) > 2:
    mt, mr = mean([x["t"] for x in after]), mean([x["rss_kb"] for x in after])
    den = sum((x["t"] - mt) ** 2 for x in after)
    slope = sum((x["t"] - mt) * (x["rss_kb"] - mr) for x in after) / den * 60 / 1024 if den else 0.0
allow = max(fx * pct / 100, mb)
g1, g2 = gauges(first), gauges(last)
def g(x, k):
    return "%.0f" % x[k] if k in x else "-"
print("span=%.0f" % span)
print("samples=%d %d %d" % (len(s), len(first), len(last)))
print("first=%.1f %.1f" % (fm, fx))
print("last=%.1f %.1f" % (lm, lx))
print("peak=%.1f" % (max(x["hwm_kb"] for x in s) / 1024))
print("growth=%.1f %.1f" % (lx - fx, 100 * (lx - fx) / fx if fx else 0))
print("mean_growth=%.1f" % (lm - fm))
print("allow=%.1f" % allow)
print("flat=%d" % (1 if lx - fx <= allow else 0))
print("slope=%.2f" % slope)
for k in ("state_entries", "state_bytes", "stored_open_windows", "open_windows"):
    print("%s=%s %s" % (k, g(g1, k), g(g2, k)))
PY
    sv() { sed -n "s/^$1=//p" "$tmp/soak.txt"; }
    say "  RSS first span mean/max $(sv first) MB, last $(sv last) MB; slope $(sv slope) MB/min"
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
bench_min=$(fnum %.1f 's / 60' -v s=$((SECONDS - t_bench0)))

# ------------------------------------------------------------------ report
mkdir -p "$repo/bench/results"
result=$repo/bench/results/analytics-$(date +%Y%m%d-%H%M%S).txt

# verdict TEXT OK: one goal line.
verdict() { printf '%-74s %s\n' "$1" "$([[ $2 == 1 ]] && echo PASS || echo FAIL)"; }
mb() { fnum %.1f 'k / 1024' -v k="$1"; }
# The binaries' source: their build tree's CMakeCache.txt names it (a git
# work tree: its commit, and whether it had changes).
built=$(date -u -r "$bin/ecom-stream" +%Y-%m-%dT%H:%MZ)
bin_src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$bin/../CMakeCache.txt" 2>/dev/null || true)
if [[ -n $bin_src ]] && src_commit=$(git -C "$bin_src" rev-parse --short HEAD 2>/dev/null); then
    git -C "$bin_src" diff --quiet HEAD -- stream common CMakeLists.txt 2>/dev/null ||
        src_commit+=", with uncommitted changes in stream/ or common/ now"
    bin_src+=" (commit $src_commit)"
fi
sql_state=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD -- sql 2>/dev/null || sql_state+=", with uncommitted changes"

{
    echo "ecom-stream analytics benchmark (issue 9), $(date -u +%Y-%m-%dT%H:%M:%SZ), $bench_min min"
    echo "host: $(nproc) cores, $(uname -r), load average $load_start at start, $load_end at end"
    echo "binaries: $bin, built $built from ${bin_src:-an unknown source}; schema: $repo/sql at $sql_state"
    echo "$("$bin/ecom-stream" --version | sed -n 1p);" \
        "$(sql 'SHOW server_version' | cut -d' ' -f1 | sed 's/^/PostgreSQL /') ($pg_settings)"
    echo "ecom-stream defaults: $stream_defaults${stream_args[*]:+; extra arguments in every run: ${stream_args[*]}}"
    echo "broker: $(broker_label), $partitions partitions per topic, a fresh one per real-time phase"
    if ((drain_runs > 0)); then
        echo
        echo "1. Throughput, analytics on vs ingestion only: $messages messages ($pre_summary)"
        printf '%-36s %8s %8s %7s %8s %9s %11s %9s\n' run events seconds 'CPU s' 'PG CPU s' events/s \
            'peak RSS MB' 'vs ingest'
        ka=$(median_run A) kb=$(median_run B)
        eps_a=$(eps "$messages" "${d_drain[$ka]}") eps_b=$(eps "$messages" "${d_drain[$kb]}")
        ratio=$(fnum %.1f '100 * a / b' -v a="$eps_a" -v b="$eps_b")
        for k in "$ka" "$kb"; do
            if [[ $k == A-* ]]; then l="ecom-stream, analytics on (default)"; else l="ecom-stream --no-analytics"; fi
            e=$(eps "$messages" "${d_drain[$k]}")
            printf '%-36s %8d %8.2f %7.2f %8.2f %9.0f %11.1f %8.1f%%\n' "$l" "$messages" "${d_drain[$k]}" \
                "${d_cpu[$k]}" "${d_pgcpu[$k]}" "$e" "$(mb "${d_rss[$k]}")" "$(fnum %.1f '100 * a / b' -v a="$e" -v b="$eps_b")"
        done
        echo "Seconds: partition assignment to every message committed (/metrics every 50 ms); the median of"
        echo "$drain_runs runs each (of an even number the slower middle one), run in the order ${order[*]}"
        echo "(A analytics on, B --no-analytics), each into emptied tables with a fresh consumer group. Runs, s"
        echo "(assigned after, flushes, time in flush transactions):"
        for who in A B; do
            line=
            for k in ${runs_of[$who]}; do
                line+="${line:+; }${d_drain[$k]} (${d_join[$k]} s, ${d_flushes[$k]}, ${d_flush_s[$k]} s)"
            done
            echo "  $who: $line"
        done
        if ((drain_runs > 1)); then
            pr=
            for ((i = 1; i <= drain_runs; i++)); do
                pr+="${pr:+ }$(fnum %.1f '100 * b / a' -v a="${d_drain[A-$i]}" -v b="${d_drain[B-$i]}")%"
            done
            echo "  A's events/s as a share of B's, run i of each: $pr"
        fi
        echo "CPU s: ecom-stream's user+system (GNU time, whole process); PG CPU s: every PostgreSQL server"
        echo "process during the run (/proc). Raw rows checked after every run (valid_unique per topic plus the"
        echo "sentinels, items = sum(item_count), no dead letters, no gaps). Load average (1 min): $tp_load0 at the"
        echo "first run's start, $tp_load1 after the last."
        verdict "analytics on >= ${goal_ratio}% of ingestion-only events/s ($ratio%)" \
            "$(fnum %d '(r >= g)' -v r="$ratio" -v g="$goal_ratio")"
    fi
    if ((latency_s > 0)); then
        echo
        echo "2. Window visibility latency: Kafka arrival (LogAppendTime) -> the event's window row committed"
        echo "   (the commit timestamp of the transaction that stored it), ecom-stream with its defaults"
        printf '%-36s %8s %9s %7s %7s %8s %11s %10s\n' rate messages arrived/s 'p50 ms' 'p99 ms' 'max ms' \
            'hist p99 ms' 'RSS MB'
        for n in lat-default lat-high; do
            if [[ $n == lat-default ]]; then
                l="default (${rate_u}/s + ${rate_t}/min + ${rate_i}/min)"
            else
                l="$latency_rate events/s (-m $(multiplier "$latency_rate"))"
            fi
            printf '%-36s %8d %9s %7s %7s %8s %11s %10s\n' "$l" "${lat[$n-delivered]}" "${lat[$n-rate]}" \
                "${lat[$n-p50]}" "${lat[$n-p99]}" "${lat[$n-max]}" "${lat[$n-hp99]}" "$(mb "${lat[$n-rss]}")"
        done
        echo "ecom-simulator -d $latency_s -s $seed; the figures leave out the first $warmup s (producer connecting):"
        for n in lat-default lat-high; do
            echo "  $n: steady state ${lat[$n-n]} events; whole run: p50 ${lat[$n-all-p50]} ms, p99" \
                "${lat[$n-all-p99]} ms, max ${lat[$n-all-max]} ms over ${lat[$n-all-n]}; histogram (ecom-stream's" \
                "commit_latency_seconds, same start) p50 ${lat[$n-hp50]} ms over ${lat[$n-hn]}"
            echo "    ecom-stream CPU ${lat[$n-cpu]} s, PostgreSQL CPU ${lat[$n-pgcpu]} s; ${lat[$n-flushes]} flushes," \
                "${lat[$n-flush-s]} s in flush transactions; load average ${lat[$n-load]}"
            if ((lat[$n-fin-n] > 0)); then
                echo "    windows final after their end (commit - window_end): ${lat[$n-fin-n]} traffic windows," \
                    "${lat[$n-fin-min]} to ${lat[$n-fin-max]} s"
            else
                echo "    no traffic window of the steady state final by the end of the run"
            fi
        done
        echo "Per event: pg_xact_commit_timestamp(xmin) of its raw row (the flush transaction also upserts its"
        echo "window rows) minus its Kafka timestamp, read back with kcat -f %T and joined on (topic, partition,"
        echo "offset). arrived/s: the messages over the span of their Kafka timestamps (below the rate asked for"
        echo "when the producer could not keep up with it). RSS MB: ecom-stream's process_resident_memory_bytes"
        echo "at the end."
        verdict "p99 visibility < 1 s at the default rates (${lat[lat-default-p99]} ms)" \
            "$(fnum %d '(p < g)' -v p="${lat[lat-default-p99]}" -v g="$goal_p99_ms")"
        verdict "p99 visibility < 1 s at $latency_rate events/s (${lat[lat-high-p99]} ms)" \
            "$(fnum %d '(p < g)' -v p="${lat[lat-high-p99]}" -v g="$goal_p99_ms")"
    fi
    if ((soak_s > 0)); then
        sv() { sed -n "s/^$1=//p" "$tmp/soak.txt"; }
        span=$(sv span)
        echo
        echo "3. RSS soak: ecom-simulator -m $(multiplier "$soak_rate") -d $soak_s ($soak_delivered messages in its" \
            "$soak_sim_s s, $soak_achieved events/s arrived), ecom-stream with its defaults"
        printf '%-24s %12s %11s %14s %12s %14s %12s\n' "" 'mean RSS MB' 'max RSS MB' state_entries 'state_bytes' \
            stored_open_win open_windows
        read -r fm fx <<<"$(sv first)"
        read -r lm lx <<<"$(sv last)"
        read -r se1 se2 <<<"$(sv state_entries)"
        read -r sb1 sb2 <<<"$(sv state_bytes)"
        read -r so1 so2 <<<"$(sv stored_open_windows)"
        read -r ow1 ow2 <<<"$(sv open_windows)"
        printf '%-24s %12s %11s %14s %12s %14s %12s\n' "first ${span} s" "$fm" "$fx" "$se1" "$sb1" "$so1" "$ow1"
        printf '%-24s %12s %11s %14s %12s %14s %12s\n' "last ${span} s" "$lm" "$lx" "$se2" "$sb2" "$so2" "$ow2"
        read -r gmb gpct <<<"$(sv growth)"
        echo "RSS: VmRSS from /proc every second ($(sv samples | cut -d' ' -f1) samples over the simulator's run); the"
        echo "gauges as /metrics showed them at the end of each span (state read from PostgreSQL every 10 s)."
        echo "Peak of the last span minus the first's: $gmb MB ($gpct%); of the means: $(sv mean_growth) MB; slope"
        echo "after the first span $(sv slope) MB/min (least squares); peak of the whole run (VmHWM) $(sv peak) MB."
        echo "Kept up: every delivered message committed $soak_lag s after the simulator ended; commit latency"
        echo "(histogram) after the first span p50 $soak_hp50 ms, p99 $soak_hp99 ms over $soak_hn messages;"
        echo "window_users + window_sessions rows at the end: $soak_sets; database size $soak_db_mb MB."
        echo "ecom-stream CPU $soak_cpu s, PostgreSQL CPU $soak_pgcpu s; $soak_flushes flushes, $soak_flush_s s in"
        echo "flush transactions; load average (1 min) $soak_load."
        if [[ $(fnum %d '(l > 5)' -v l="$soak_lag") == 1 ]]; then
            echo "ecom-stream fell behind the simulator (drained $soak_lag s after it ended): its RSS includes the"
            echo "backlog it fetched ahead and the larger batches, not only its steady state."
        fi
        verdict "RSS flat: last span's peak - first's <= max(${flat_pct}%, $flat_mb MB) ($gmb of $(sv allow) MB)" \
            "$(sv flat)"
    fi
    if [[ -n $sp_ran ]]; then
        echo
        echo "4. Spark Structured Streaming peer, the same preload: $sp_summary"
        printf '%-46s %8s %8s %8s %9s %7s %8s %11s %10s\n' engine events 'run s' 'final s' events/s 'CPU s' \
            'PG CPU s' 'peak RSS MB' 'start-up s'
        printf '%-46s %8d %8.2f %8.2f %9.0f %7.2f %8.2f %11.1f %10.2f\n' "ecom-stream (analytics on, defaults)" \
            "$messages" "$se_drain" "$se_final" "$(eps "$messages" "$se_drain")" "$se_cpu" "$se_pgcpu" \
            "$(mb "$se_rss")" "$se_startup"
        printf '%-46s %8d %8.2f %8.2f %9.0f %7.2f %8s %11.1f %10.2f\n' "$sp_label" "$sp_events" "$sp_run" \
            "$sp_final" "$sp_eps" "$(sk cpu_s)" "$(sk pg_cpu_s)" "$(mb "$(sk rss_peak_kb)")" \
            "$(fnum %.2f 'a + b' -v a="$(sk startup_s)" -v b="$(sk spark_start_s)")"
        x_eps=$(fnum %.1f 'a / b' -v a="$(eps "$messages" "$se_drain")" -v b="$sp_eps")
        x_mem=$(fnum %.1f 'b / a' -v a="$se_rss" -v b="$(sk rss_peak_kb)")
        echo "run s: ecom-stream's partition assignment (its log) / Spark's first micro-batch with data starting,"
        echo "to the commit holding the last message (the latest commit timestamp of a raw row); events/s ="
        echo "events / run s. final s: from the same start to the commit of the last preload window row. (The"
        echo "peer's own figures, clock_timestamp() in its transactions: stored $(sk stored_s) s, final $(sk final_s) s.)"
        echo "start-up: ecom-stream process start to assignment; Spark: spark-local.sh start"
        echo "$(sk spark_start_s) s + spark-submit to the first batch $(sk startup_s) s."
        echo "peak RSS: ecom-stream's VmHWM; Spark's largest sampled sum over its processes at one moment (sum"
        echo "of their own peaks $(mb "$(sk hwm_sum_kb)") MB): $(sk processes)."
        echo "CPU s: ecom-stream whole process; Spark every process from spark-submit on. Kafka and PostgreSQL"
        echo "are shared and counted for neither (PG CPU s apart)."
        echo "Final windows (product_window_metrics, SENTINEL left out): ecom-stream $n_ecom rows, Spark $n_peer;"
        echo "  only in ecom-stream's $only_ecom, only in Spark's $only_peer; ecom-stream's preload windows still open:"
        echo "  $se_open; totals $win_sums. Agree row by row: $agree."
        echo "  sql/checks/windows.sql on ecom-stream's tables: $se_check differences (${se_check_s} s)."
        echo "  Spark peer's own checks: $(sk checks_failed) failed; rows dropped by its watermark:" \
            "$(sk dropped_by_watermark); ecom-stream's late events: $se_late."
        echo "Load average (1 min): $sp_load0 before ecom-stream's run, $sp_load1 after Spark's."
        verdict "ecom-stream events/s >= ${goal_spark_x}x Spark's (${x_eps}x)" \
            "$(fnum %d '(x >= g)' -v x="$x_eps" -v g="$goal_spark_x")"
        verdict "ecom-stream peak RSS < 1/${goal_spark_mem} of Spark's (1/${x_mem})" \
            "$(fnum %d '(x > g)' -v x="$x_mem" -v g="$goal_spark_mem")"
        verdict "final window figures agree row by row ($only_ecom + $only_peer rows differ)" \
            "$([[ $agree == yes ]] && echo 1 || echo 0)"
    fi
    if ((${#failures[@]} > 0)); then
        echo
        printf 'CHECK FAILED: %s\n' "${failures[@]}"
        for f in diff-ecom diff-peer; do
            [[ ! -s $tmp/$f.txt ]] || { echo "${f#diff-} rows (first 5):"; sed 's/^/  /' "$tmp/$f.txt"; }
        done
    fi
} | tee "$result"
say "written to ${result#"$repo"/}"
((${#failures[@]} == 0))
