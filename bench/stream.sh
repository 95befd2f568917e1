#!/usr/bin/env bash
# bench/stream.sh - end-to-end throughput, memory and latency of ecom-stream,
# side by side with its two ceilings: kcat reading the same topics (Kafka)
# and psql \copy loading the same rows (PostgreSQL).
#
# Starts its own broker on free ports: a real Apache Kafka (scripts/kafka-
# local.sh, one KRaft node, its log in the run's temp dir), or with --broker
# mock ecom-broker (librdkafka's in-memory mock cluster, with enough
# partitions that its 5 MiB-per-partition retention keeps every event), and
# its own throwaway PostgreSQL 15 cluster (scripts/pg-local.sh, sql/init.sql
# applied, default server settings) on a free port.
# Then, in one run:
#   0. preloads EVENTS events with ecom-simulator --max-rate (not timed) and
#      checks that the broker kept them all;
#   1. kcat -C, once per topic in sequence, reads every message to /dev/null:
#      the Kafka ceiling (wall seconds summed over the three processes; with
#      the fetch.wait.max.ms ecom-stream sets in stream/ingest.c, else each
#      kcat waits up to librdkafka's default 500 ms at the partitions' end);
#   2. ecom-stream --exit-when-idle drains the topics into empty tables, once
#      per --flush-rows value, each with a fresh consumer group. Its time is
#      from process start to the moment /metrics shows every message
#      committed (polled every 50 ms), so the idle wait before exiting is not
#      counted; the process's whole wall time is in the notes. Row counts are
#      checked against the simulator's valid_unique per topic. The judged
#      (first) --flush-rows value runs --drain-runs times; with --baseline,
#      each run of it is paired with one of the ecom-stream in BINDIR (an
#      older build, same arguments, same preload), in the order baseline,
#      new, new, baseline, baseline, new... so that a drift of the machine
#      weighs on both alike; the table shows the median run of each;
#   3. psql \copy loads the rows ecom-stream stored (exported beforehand, not
#      timed: the BATCH_COLS_* columns of stream/batch.h) into the same
#      day-partitioned, indexed raw tables after TRUNCATE: the PostgreSQL
#      ceiling (wall seconds summed over the four tables);
#   4. latency at the simulator's default rates: a fresh broker, ecom-stream
#      with default settings, ecom-simulator -d SECONDS; p50/p99 of
#      ecom_stream_commit_latency_seconds (Kafka timestamp to commit) from
#      /metrics, cross-checked with ingested_at - event_time in the tables.
#      The verdict uses the steady state: the first 5 s, while the
#      simulator's producer connects, are subtracted (a /metrics snapshot).
# A CHECKPOINT precedes every timed PostgreSQL phase. "PG CPU s" is the CPU
# time of every server process (backends, walwriter, checkpointer,
# autovacuum) during the phase, from /proc.
# Prints the table and the goal verdicts (ecom-stream >= 50% of the \copy
# ceiling's events/s, aim 70%; peak RSS < 100 MB; p99 latency < 1 s, aim
# 300 ms; with --baseline, no regression: the median run >= 95% of the
# baseline's median events/s) on stdout and writes them to
# bench/results/stream-DATE.txt. Progress goes to stderr.
#
# Usage: bench/stream.sh [-n EVENTS] [-p PARTITIONS] [--flush-rows LIST] [-d SECONDS]
#                        [-s SEED] [-a ECOM_STREAM_ARG]... [--drain-runs N]
#                        [--broker kafka|mock]
#                        [--baseline BINDIR [--baseline-label TEXT]]
# Exit status: 0 when the runs completed, whatever the verdicts; 1 when a run
# failed or a count did not match; 2 on a usage error.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/build/bin
pgbin=${ECOM_PG_BINDIR:-/usr/lib/postgresql/15/bin}
prog=bench/stream.sh

events=1000000
partitions=
flush_list= # default: ecom-stream's own --flush-rows default, then 5000 or 20000
latency_s=60
seed=1
stream_args=() # extra ecom-stream arguments (-a), for every ecom-stream run
lat_partitions=3 # the documented default (TOPIC_PARTITIONS)
baseline=      # bin directory of an older build to compare with (--baseline)
baseline_label=
drain_runs=    # runs of the judged drain (default: 1, or 3 with --baseline)
# The no-regression verdict: the new median >= this share of the baseline's.
# Measured run-to-run noise of one drain on the 2-core machine: a few per
# cent between the medians of two builds of the same code (bench/stream.sh
# --baseline on the same binaries), so 95% flags a real loss, not noise.
regress_pct=95

# Bytes a stored event needs on the broker: measured about 95 (400-byte JSON,
# snappy about 4.4:1), times 3 for safety.
stored_bytes_per_event=300
partition_bytes=5242880

usage() {
    cat <<EOF
$prog benchmarks ecom-stream end to end against kcat and psql \\copy.

Usage:
  $prog [OPTION]...

Options:
  -n, --events=N            events to preload and drain (default: $events)
      --broker=KIND         kafka (a real Apache Kafka started here, the
                            default) or mock (ecom-broker, in memory)
  -p, --partitions=N        partitions of every topic (default: 3 on Kafka, as
                            TOPIC_PARTITIONS; on the mock enough to keep every
                            event, at least 64)
      --flush-rows=LIST     comma-separated --flush-rows values for ecom-stream;
                            the first is the one judged (default: ecom-stream's
                            default, then 5000, or 20000 if that is the default)
  -d, --latency-seconds=N   ecom-simulator run at the default rates for the
                            latency measurement, 0 = skip (default: $latency_s)
  -s, --seed=N              simulator seed of the preload (default: $seed)
  -a, --stream-arg=ARG      pass ARG to every ecom-stream run (repeatable),
                            e.g. -a --flush-ms=50 -a -Xqueued.max.messages.kbytes=16384
      --baseline=BINDIR     also drain with BINDIR/ecom-stream (an older build)
                            at the judged --flush-rows value, alternating with
                            the new one, and judge the new one against it
      --baseline-label=TEXT name the baseline TEXT in the table (default: its
                            --version number and the git commit of its source)
      --drain-runs=N        runs of the judged drain, of each binary with
                            --baseline; the table shows the median run
                            (default: 3 with --baseline, else 1)
  -h, --help                show this help and exit

Needs the project's build (built into build/ if missing) and scripts/deps.sh.
Results: stdout and bench/results/stream-DATE.txt.
EOF
}

. "$repo/bench/lib.sh"

while (($#)); do
    case $1 in
    -n | --events) (($# >= 2)) || usage_error "option $1 requires a value"; events=$2; shift ;;
    --events=*) events=${1#*=} ;;
    -p | --partitions) (($# >= 2)) || usage_error "option $1 requires a value"; partitions=$2; shift ;;
    --partitions=*) partitions=${1#*=} ;;
    --flush-rows) (($# >= 2)) || usage_error "option $1 requires a value"; flush_list=$2; shift ;;
    --flush-rows=*) flush_list=${1#*=} ;;
    -d | --latency-seconds) (($# >= 2)) || usage_error "option $1 requires a value"; latency_s=$2; shift ;;
    --latency-seconds=*) latency_s=${1#*=} ;;
    -a | --stream-arg) (($# >= 2)) || usage_error "option $1 requires a value"; stream_args+=("$2"); shift ;;
    --stream-arg=*) stream_args+=("${1#*=}") ;;
    -s | --seed) (($# >= 2)) || usage_error "option $1 requires a value"; seed=$2; shift ;;
    --seed=*) seed=${1#*=} ;;
    --baseline) (($# >= 2)) || usage_error "option $1 requires a value"; baseline=$2; shift ;;
    --baseline=*) baseline=${1#*=} ;;
    --baseline-label) (($# >= 2)) || usage_error "option $1 requires a value"; baseline_label=$2; shift ;;
    --baseline-label=*) baseline_label=${1#*=} ;;
    --drain-runs) (($# >= 2)) || usage_error "option $1 requires a value"; drain_runs=$2; shift ;;
    --drain-runs=*) drain_runs=${1#*=} ;;
    --broker) (($# >= 2)) || usage_error "option $1 requires a value"; broker=$2; shift ;;
    --broker=*) broker=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "invalid option \"$1\"" ;;
    esac
    shift
done
posint -n/--events "$events"
posint -d/--latency-seconds "$latency_s" 0
posint -s/--seed "$seed" 0
drain_runs=${drain_runs:-$([[ -n $baseline ]] && echo 3 || echo 1)}
posint --drain-runs "$drain_runs"
if [[ -n $baseline ]]; then
    [[ -x $baseline/ecom-stream && ! -d $baseline/ecom-stream ]] ||
        usage_error "invalid value \"$baseline\" for option --baseline: no ecom-stream in it"
    baseline=$(cd "$baseline" && pwd)
elif [[ -n $baseline_label ]]; then
    usage_error "option --baseline-label needs --baseline"
fi
flush_given=${flush_list:+1}
IFS=, read -ra flush_rows <<<"${flush_list:-1}"
((${#flush_rows[@]} > 0)) || usage_error "invalid value \"$flush_list\" for option --flush-rows"
for f in "${flush_rows[@]}"; do
    if ! [[ $f =~ ^[0-9]+$ ]] || ((f < 1 || f > 10000000)); then
        usage_error "invalid value \"$flush_list\" for option --flush-rows"
    fi
done
check_broker "$broker"
if [[ -z $partitions && $broker == kafka ]]; then
    partitions=3
elif [[ -z $partitions ]]; then
    partitions=$(((events * stored_bytes_per_event + partition_bytes - 1) / partition_bytes))
    ((partitions >= 64)) || partitions=64
fi
posint -p/--partitions "$partitions"
((partitions <= 4096)) || usage_error "invalid value \"$partitions\" for option -p/--partitions"

"$repo/scripts/deps.sh" >&2
if [[ ! -x $bin/ecom-simulator || ! -x $bin/ecom-broker || ! -x $bin/ecom-stream ]]; then
    say "building into $repo/build"
    "$repo/scripts/build.sh" "$repo/build" >&2
fi
def_rows=$(stream_default flush-rows)
[[ $def_rows =~ ^[0-9]+$ ]] || die "could not read the --flush-rows default from ecom-stream --help"
stream_defaults="--flush-rows $def_rows, --flush-bytes $(stream_default flush-bytes), --flush-ms $(stream_default flush-ms)"
sync_default=$(stream_default synchronous-commit)
[[ -z $sync_default ]] || stream_defaults+=", --synchronous-commit $sync_default"
if [[ -n $baseline ]]; then
    base_version=$("$baseline/ecom-stream" --version | head -n 1) ||
        die "$baseline/ecom-stream --version failed"
    # The baseline's source: its build tree's CMakeCache.txt names it.
    base_src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$baseline/../CMakeCache.txt" 2>/dev/null || true)
    base_commit=
    if [[ -n $base_src ]] && base_commit=$(git -C "$base_src" rev-parse --short HEAD 2>/dev/null); then
        git -C "$base_src" diff --quiet HEAD 2>/dev/null || base_commit+="+changes"
    fi
    if [[ -z $baseline_label ]]; then
        baseline_label=$(awk '{ print $2 }' <<<"$base_version")${base_commit:+, $base_commit}
    fi
    base_defaults="--flush-rows $(stream_default flush-rows "$baseline"), --flush-bytes"
    base_defaults+=" $(stream_default flush-bytes "$baseline"), --flush-ms $(stream_default flush-ms "$baseline")"
    base_sync=$(stream_default synchronous-commit "$baseline")
    [[ -z $base_sync ]] || base_defaults+=", --synchronous-commit $base_sync"
fi
if [[ -z $flush_given ]]; then
    flush_list=$def_rows,$((def_rows == 5000 ? 20000 : 5000))
    IFS=, read -ra flush_rows <<<"$flush_list"
fi
export ECOM_ENV_FILE=/dev/null # a developer's .env must not change the run
unset KAFKA_BOOTSTRAP_SERVERS TOPIC_PARTITIONS STREAM_GROUP_ID STREAM_METRICS_PORT LOG_LEVEL
unset SIMULATOR_USER_RATE SIMULATOR_TRANSACTION_RATE SIMULATOR_INVENTORY_RATE SIMULATOR_MULTIPLIER

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-stream.XXXXXX")
chmod 755 "$tmp" # as root, PostgreSQL runs as "postgres" and must enter it
pg_started=
bg_pids=()
cleanup() {
    local pid
    for pid in "${bg_pids[@]}"; do
        # /usr/bin/time does not pass signals on: stop its child first.
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    stop_broker
    end_run
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# batch_cols NAME: the column list BATCH_COLS_NAME of stream/batch.h.
batch_cols() {
    awk -v m="BATCH_COLS_$1" '
        $1 == "#define" && $2 == m { on = 1 }
        on {
            line = $0
            while (match(line, /"[^"]*"/)) {
                s = s substr(line, RSTART + 1, RLENGTH - 2)
                line = substr(line, RSTART + RLENGTH)
            }
            if ($0 !~ /\\[ \t]*$/) { print s; exit }
        }' "$repo/stream/batch.h"
}

# latency_sql FROM_S: p50 p99 max count (ms) of ingested_at - event_time
# over the events generated FROM_S seconds or more after the first one.
latency_sql() {
    sql "WITH x AS (SELECT event_time, extract(epoch FROM ingested_at - event_time) AS l FROM user_events
            UNION ALL SELECT event_time, extract(epoch FROM ingested_at - event_time) FROM transactions
            UNION ALL SELECT event_time, extract(epoch FROM ingested_at - event_time) FROM inventory_updates)
        SELECT round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY l)),
               round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY l)), round(1000 * max(l)), count(*)
        FROM x WHERE event_time >= (SELECT min(event_time) FROM x) + interval '$1 s'" | tr '|' ' '
}

# stream_run FLUSH_ROWS [NAME BINDIR LABEL]: drains the preloaded topics with
# BINDIR's ecom-stream (default: $bin's) into empty tables, logging to
# $tmp/NAME.err; sets s_drain s_wall s_rss s_cpu s_pgcpu s_join s_first
# s_flushes s_flush_s.
stream_run() {
    local fr=$1 name=${2:-stream-$1} sbin=${3:-$bin} label=${4:-ecom-stream}
    drain_stream "$name" "$sbin" "$label --flush-rows $fr" "$events" --flush-rows "$fr" "${stream_args[@]}"
    check_rows "$label --flush-rows $fr"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "$events events, $partitions partitions per topic, flush-rows $flush_list, latency run ${latency_s} s; load average $load_start"
start_pg
seed_snapshot
pg_settings=$(sql "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)
    FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'max_wal_size', 'fsync', 'autovacuum')")
say "PostgreSQL on localhost:$PGPORT ($pg_settings)"
start_broker "$partitions"
say "$broker broker at $bootstrap"

# 0. preload
preload "$events" "$seed"

# 1. kcat, one topic after the other, with ecom-stream's fetch.wait.max.ms
fetch_wait=$(sed -n 's/.*"fetch\.wait\.max\.ms", *"\([0-9]*\)".*/\1/p' "$repo/stream/ingest.c" | head -n 1)
kcat_x=()
[[ -z $fetch_wait ]] || kcat_x=(-X "fetch.wait.max.ms=$fetch_wait")
kcat_settings="librdkafka's defaults"
[[ -z $fetch_wait ]] || kcat_settings="fetch.wait.max.ms=$fetch_wait, as ecom-stream"
say "kcat -C reading the ${topics[*]} topics to /dev/null"
k_wall=0 k_cpu=0 k_rss=0
for t in "${topics[@]}"; do
    timed "kcat-$t" /dev/null kcat -C -b "$bootstrap" -t "$t" -o beginning -e -q "${kcat_x[@]}"
    read -r w r u y <"$tmp/kcat-$t.res"
    k_wall=$(awk -v a="$k_wall" -v b="$w" 'BEGIN { printf "%.2f", a + b }')
    k_cpu=$(awk -v a="$k_cpu" -v u="$u" -v y="$y" 'BEGIN { printf "%.2f", a + u + y }')
    if ((r > k_rss)); then k_rss=$r; fi
done

# 2. ecom-stream, once per flush setting; the judged one $drain_runs times,
#    each paired with a run of the baseline's when there is one (ABBA order)
def=${flush_rows[0]}
declare -A d_drain d_total d_wall d_rss d_cpu d_pgcpu d_join d_first d_flushes d_flush_s runs_of
declare -A nth
exported=
for fr in "${flush_rows[@]}"; do
    order=(new)
    if [[ $fr == "$def" ]]; then
        order=()
        for ((i = 0; i < drain_runs; i++)); do
            if [[ -z $baseline ]]; then
                order+=(new)
            elif ((i % 2 == 0)); then
                order+=(base new)
            else
                order+=(new base)
            fi
        done
    fi
    nth=([new]=0 [base]=0)
    for who in "${order[@]}"; do
        nth[$who]=$((nth[$who] + 1))
        key=$who-$fr-${nth[$who]}
        if [[ $who == base ]]; then
            sbin=$baseline label="ecom-stream baseline ($baseline_label)"
        else
            sbin=$bin label=ecom-stream
        fi
        what="$label --flush-rows $fr"
        [[ ${#order[@]} == 1 ]] || what+=" (run ${nth[$who]} of $drain_runs)"
        say "$what draining $events messages into empty tables"
        stream_run "$fr" "stream-$key" "$sbin" "$label"
        d_drain[$key]=$(awk -v a="$s_drain" -v b="$s_join" 'BEGIN { printf "%.2f", a - b }')
        d_total[$key]=$s_drain d_wall[$key]=$s_wall d_rss[$key]=$s_rss d_cpu[$key]=$s_cpu
        d_pgcpu[$key]=$s_pgcpu d_join[$key]=$s_join d_first[$key]=$s_first
        d_flushes[$key]=$s_flushes d_flush_s[$key]=$s_flush_s
        runs_of[$who-$fr]+="${runs_of[$who-$fr]:+ }$key"
        say "  all committed $s_drain s after start (partitions assigned at $s_join s, first commit at" \
            "$s_first s; drain ${d_drain[$key]} s, $(eps "$events" "${d_drain[$key]}") events/s)"
        awk -v j="$s_join" 'BEGIN { exit !(j > 0) }' || die "no partition assignment in $label's log"
        if [[ $who == new && $fr == "$def" && -z $exported ]]; then
            items=$(sql "SELECT count(*) FROM transaction_items")
            say "exporting the stored rows as COPY text for \\copy (not timed)"
            mkdir -p "$tmp/copy"
            for t in "${tables[@]}"; do
                sql "\\copy (SELECT $(batch_cols "${t^^}") FROM $t) TO '$tmp/copy/$t.txt'"
            done
            exported=1
        fi
    done
done

declare -A r_drain r_total r_wall r_rss r_cpu r_pgcpu r_join r_first r_flushes r_flush_s
for fr in "${flush_rows[@]}"; do
    k=$(median_run "new-$fr")
    r_drain[$fr]=${d_drain[$k]} r_total[$fr]=${d_total[$k]} r_wall[$fr]=${d_wall[$k]} r_rss[$fr]=${d_rss[$k]}
    r_cpu[$fr]=${d_cpu[$k]} r_pgcpu[$fr]=${d_pgcpu[$k]} r_join[$fr]=${d_join[$k]} r_first[$fr]=${d_first[$k]}
    r_flushes[$fr]=${d_flushes[$k]} r_flush_s[$fr]=${d_flush_s[$k]}
done
[[ -z $baseline ]] || bk=$(median_run "base-$def")

# 3. psql \copy into the same tables, emptied
say "psql \\copy loading the same rows into the emptied tables"
fresh_tables
c_wall=0 c_cpu=0 c_rss=0
cpu0=$(pg_cpu)
for t in "${tables[@]}"; do
    timed "copy-$t" /dev/null "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 \
        -c "\\copy $t ($(batch_cols "${t^^}")) FROM '$tmp/copy/$t.txt'"
    read -r w r u y <"$tmp/copy-$t.res"
    c_wall=$(awk -v a="$c_wall" -v b="$w" 'BEGIN { printf "%.2f", a + b }')
    c_cpu=$(awk -v a="$c_cpu" -v u="$u" -v y="$y" 'BEGIN { printf "%.2f", a + u + y }')
    if ((r > c_rss)); then c_rss=$r; fi
done
c_pgcpu=$(awk -v a="$cpu0" -v b="$(pg_cpu)" 'BEGIN { printf "%.2f", b - a }')
check_rows '\copy'
copy_bytes=$(cat "$tmp"/copy/*.txt | wc -c)

# 4. latency at the default rates, on a fresh broker
lat_p50=- lat_p99=- lat_n=0 lat_mean=- db_p50=- db_p99=- db_max=- db_n=0 lat_delivered=0 lat_rss=0
warmup=5 # seconds of the latency run left out of the steady-state figures
((latency_s > 2 * warmup)) || warmup=0
if ((latency_s > 0)); then
    say "latency: ecom-stream (default settings) and ecom-simulator -d $latency_s at the default rates"
    stop_broker
    start_broker "$lat_partitions"
    fresh_tables
    port=$(free_port)
    "$bin/ecom-stream" -b "$bootstrap" -g bench-latency -p "$port" -P 10 "${stream_args[@]}" \
        2>"$tmp/latency.err" &
    pid=$!
    bg_pids+=("$pid")
    for i in $(seq 601); do
        n=$(assigned_count "$tmp/latency.err")
        ((n >= 3 * lat_partitions)) && break
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$tmp/latency.err" >&2; die "ecom-stream exited"; }
        ((i <= 600)) || die "ecom-stream got no partitions within 60 s"
        sleep 0.1
    done
    # The simulator runs in the background so that a /metrics snapshot
    # after $warmup s splits off its start (its producer connecting).
    "$bin/ecom-simulator" -b "$bootstrap" -d "$latency_s" -P 0 >"$tmp/latency-sim.json" \
        2>"$tmp/latency-sim.err" &
    sim_pid=$!
    bg_pids+=("$sim_pid")
    sleep "$warmup"
    metrics "$port" >"$tmp/latency-warm.prom" || die "could not read ecom-stream's /metrics"
    rc=0
    wait "$sim_pid" || rc=$?
    ((rc == 0)) || { tail -n 20 "$tmp/latency-sim.err" >&2; die "ecom-simulator exited with status $rc"; }
    lat_delivered=$(json "$tmp/latency-sim.json" 'j["delivered"]')
    wait_committed "$port" "$lat_delivered" "$pid" 60 >/dev/null ||
        die "ecom-stream did not commit the latency run's $lat_delivered messages"
    metrics "$port" >"$tmp/latency-end.prom" || die "could not read ecom-stream's /metrics"
    read -r lat_p50 lat_p99 lat_n lat_mean < <(latency_quantiles "$tmp/latency-end.prom" "$tmp/latency-warm.prom")
    read -r all_p50 all_p99 all_n all_mean < <(latency_quantiles "$tmp/latency-end.prom")
    lat_rss=$(awk '$1 == "process_resident_memory_bytes" { printf "%.0f", $2 / 1024 }' "$tmp/latency-end.prom")
    kill -TERM "$pid"
    wait "$pid" || die "ecom-stream exited with status $? after SIGTERM"
    bg_pids=()
    read -r db_p50 db_p99 db_max db_n < <(latency_sql "$warmup")
    read -r dball_p50 dball_p99 dball_max dball_n < <(latency_sql 0)
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ report
mkdir -p "$repo/bench/results"
stamp=$(date +%Y%m%d-%H%M%S)
result=$repo/bench/results/stream-$stamp.txt

copy_eps=$(eps "$events" "$c_wall")

# row LABEL EVENTS SECONDS CPU PGCPU RSS_KIB (the label through the
# environment: awk -v would eat its backslashes)
row() {
    L=$1 awk -v n="$2" -v s="$3" -v c="$4" -v p="$5" -v r="$6" -v k="$copy_eps" 'BEGIN {
        eps = s > 0 ? n / s : 0
        printf "%-38s %8d %8.2f %6.2f %8s %9.0f %11.1f %8.1f%%\n",
            ENVIRON["L"], n, s, c, p, eps, r / 1024, (k > 0 ? 100 * eps / k : 0)
    }'
}

# verdict TEXT OK: one goal line.
verdict() { printf '%-70s %s\n' "$1" "$([[ $2 == 1 ]] && echo PASS || echo FAIL)"; }

def=${flush_rows[0]}
best=$def
for fr in "${flush_rows[@]}"; do
    if awk -v a="${r_drain[$fr]}" -v b="${r_drain[$best]}" 'BEGIN { exit !(a < b) }'; then best=$fr; fi
done
share() { awk -v e="$(eps "$events" "$1")" -v k="$copy_eps" 'BEGIN { printf "%.1f", 100 * e / k }'; }
def_share=$(share "${r_drain[$def]}")
best_share=$(share "${r_drain[$best]}")
if [[ -n $baseline ]]; then
    # vs_base NEW_S BASE_S: the new events/s as a per cent of the baseline's.
    vs_base() { awk -v n="$1" -v b="$2" 'BEGIN { printf "%.1f", (n > 0 ? 100 * b / n : 0) }'; }
    base_share=$(vs_base "${r_drain[$def]}" "${d_drain[$bk]}")
    read -r nmin nmed nmax nspread < <(drain_spread "new-$def")
    read -r bmin bmed bmax bspread < <(drain_spread "base-$def")
    best_vs_base=$(vs_base "$nmin" "$bmin")
    paired=
    for ((i = 1; i <= drain_runs; i++)); do
        paired+="${paired:+ }$(vs_base "${d_drain[new-$def-$i]}" "${d_drain[base-$def-$i]}")%"
    done
    paired_med=$(tr -d % <<<"$paired" | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
fi

{
    echo "ecom-stream end-to-end benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(nproc) cores, $(uname -r), load average $load_start at start, $load_end at end;" \
        "commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "$("$bin/ecom-stream" --version | head -n 1); kcat" \
        "$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*/\1/p' | head -n 1);" \
        "$(sql 'SHOW server_version' | cut -d' ' -f1 | sed 's/^/PostgreSQL /') ($pg_settings)"
    echo "ecom-stream defaults: $stream_defaults${stream_args[*]:+; extra arguments in every run: ${stream_args[*]}}"
    if [[ -n $baseline ]]; then
        echo "baseline: $baseline/ecom-stream, $base_version${base_commit:+, built from commit $base_commit}$(
            [[ $base_defaults == "$stream_defaults" ]] || echo "; its defaults: $base_defaults")"
    fi
    echo "broker: $(broker_label), $partitions partitions per topic; preload: ecom-simulator --max-rate" \
        "-n $events -s $seed: $valid_ue user events, $valid_tx transactions ($items items), $valid_inv inventory updates"
    echo
    printf '%-38s %8s %8s %6s %8s %9s %11s %9s\n' \
        tool events seconds 'CPU s' 'PG CPU s' events/s 'peak RSS MB' 'vs \copy'
    row 'kcat -C (Kafka ceiling)' "$events" "$k_wall" "$k_cpu" - "$k_rss"
    row 'psql \copy (PostgreSQL ceiling)' "$events" "$c_wall" "$c_cpu" "$c_pgcpu" "$c_rss"
    for fr in "${flush_rows[@]}"; do
        label="ecom-stream --flush-rows $fr"
        [[ $fr != "$def_rows" ]] || label+=" (dflt)"
        row "$label" "$events" "${r_drain[$fr]}" "${r_cpu[$fr]}" "${r_pgcpu[$fr]}" "${r_rss[$fr]}"
    done
    if [[ -n $baseline ]]; then
        row "ecom-stream baseline ($baseline_label)" "$events" "${d_drain[$bk]}" "${d_cpu[$bk]}" \
            "${d_pgcpu[$bk]}" "${d_rss[$bk]}"
    fi
    echo
    echo "Notes: events are Kafka messages (the preload); seconds is wall time: for kcat the sum of"
    echo "one kcat -C -e per topic ($kcat_settings); for \\copy the sum of"
    echo "one psql per table, into the same day-partitioned, indexed tables ecom-stream writes, emptied"
    echo "by TRUNCATE ($(awk -v b="$copy_bytes" 'BEGIN { printf "%.0f", b / 1048576 }') MiB of COPY text:" \
        "the rows ecom-stream stored, exported before); for"
    echo "ecom-stream from its partition assignment (its log) to every message committed (its /metrics"
    echo "polled every 50 ms). Counted from process start, i.e. with start-up and the consumer group"
    echo "join (the mock's first rebalance of a new group takes about 3 s; kafka-local.sh sets"
    echo "group.initial.rebalance.delay.ms=0):"
    for fr in "${flush_rows[@]}"; do
        echo "  --flush-rows $fr: ${r_total[$fr]} s, $(eps "$events" "${r_total[$fr]}") events/s," \
            "$(share "${r_total[$fr]}")% of \\copy (assigned after ${r_join[$fr]} s, first commit" \
            "after ${r_first[$fr]} s; process wall ${r_wall[$fr]} s with the 2 s idle wait before exiting)"
    done
    echo "Time inside PostgreSQL flush transactions (sum of ecom_stream_flush_duration_seconds) during"
    echo "the drain (consuming, parsing and building rows take the rest, or overlap with it):"
    for fr in "${flush_rows[@]}"; do
        echo "  --flush-rows $fr: ${r_flushes[$fr]} flushes, ${r_flush_s[$fr]} s of the ${r_drain[$fr]} s" \
            "($(awk -v f="${r_flush_s[$fr]}" -v d="${r_drain[$fr]}" 'BEGIN { printf "%.0f", 100 * f / d }')%)"
    done
    if ((drain_runs > 1)); then
        if [[ -n $baseline ]]; then
            echo "The --flush-rows $def row and the baseline row show the median of $drain_runs runs each (by"
            echo "drain seconds; of an even number the slower middle one), run in the order baseline, new, new,"
            echo "baseline, baseline, new, ... on the same preload, each into emptied tables:"
        else
            echo "The --flush-rows $def row shows the median of $drain_runs runs (by drain seconds; of an even"
            echo "number the slower middle one):"
        fi
        for who in new base; do
            [[ $who == new || -n $baseline ]] || continue
            ds=()
            for k in ${runs_of[$who-$def]}; do ds+=("${d_drain[$k]} (${d_cpu[$k]})"); done
            if [[ $who == new ]]; then
                echo "  new drains, s (its CPU s): ${ds[*]}"
                echo "    min $nmin, median $nmed, max $nmax: spread ${nspread}% of the median"
            else
                echo "  baseline drains, s (its CPU s): ${ds[*]}"
                echo "    min $bmin, median $bmed, max $bmax: spread ${bspread}% of the median"
            fi
        done
        if [[ -n $baseline ]]; then
            echo "  Side by side (run i of each, run one after the other): new events/s as a share of the"
            echo "  baseline's: $paired (median $paired_med%)"
        fi
    fi
    if [[ -n $baseline ]]; then
        echo "Baseline (median run): ${d_total[$bk]} s from process start, assigned after ${d_join[$bk]} s," \
            "${d_flushes[$bk]} flushes, ${d_flush_s[$bk]} s of its ${d_drain[$bk]} s in flush transactions" \
            "($(awk -v f="${d_flush_s[$bk]}" -v d="${d_drain[$bk]}" 'BEGIN { printf "%.0f", 100 * f / d }')%)."
    fi
    echo "CPU s: user+system of the client processes; PG CPU s: of every PostgreSQL server process"
    echo "during the phase (from /proc). Peak RSS: GNU time's maximum resident set size."
    echo "Row counts were checked after every load: valid_unique per topic, items = sum(item_count)."
    echo
    verdict "ecom-stream events/s >= 50% of \\copy's (--flush-rows $def: $def_share%)" \
        "$(awk -v s="$def_share" 'BEGIN { print (s >= 50) ? 1 : 0 }')"
    verdict "  aim: >= 70% ($def_share%; best: --flush-rows $best, $best_share%)" \
        "$(awk -v s="$def_share" 'BEGIN { print (s >= 70) ? 1 : 0 }')"
    if [[ -n $baseline ]]; then
        verdict "no regression: new >= $regress_pct% of baseline events/s (medians: $base_share%; best: $best_vs_base%)" \
            "$(awk -v s="$base_share" -v t="$regress_pct" 'BEGIN { print (s >= t) ? 1 : 0 }')"
    fi
    verdict "ecom-stream peak RSS < 100 MB ($(awk -v r="${r_rss[$def]}" 'BEGIN { printf "%.1f MB", r / 1024 }'))" \
        "$(awk -v r="${r_rss[$def]}" 'BEGIN { print (r < 102400) ? 1 : 0 }')"
    if ((latency_s > 0)); then
        verdict "p99 arrival-to-committed latency < 1 s at the default rates ($lat_p99 ms)" \
            "$(awk -v p="$lat_p99" 'BEGIN { print (p < 1000) ? 1 : 0 }')"
        verdict "  aim: p99 < 300 ms ($lat_p99 ms)" "$(awk -v p="$lat_p99" 'BEGIN { print (p < 300) ? 1 : 0 }')"
        echo
        echo "Latency: ecom-stream with default settings${stream_args[*]:+ and ${stream_args[*]}}, ecom-simulator -d $latency_s at the default rates" \
            "($lat_delivered messages), $lat_partitions partitions per topic."
        echo "Steady state (the verdicts) leaves out the simulator's first $warmup s, when its producer is still"
        echo "connecting and the first events wait for it; the whole run is in brackets."
        echo "  Kafka timestamp -> commit, ecom_stream_commit_latency_seconds (bucket-interpolated):"
        echo "    p50 $lat_p50 ms, p99 $lat_p99 ms, mean $lat_mean ms over $lat_n messages" \
            "(whole run: p50 $all_p50 ms, p99 $all_p99 ms, mean $all_mean ms over $all_n)"
        echo "  event_time -> ingested_at in the tables (exact):"
        echo "    p50 $db_p50 ms, p99 $db_p99 ms, max $db_max ms over $db_n rows" \
            "(whole run: p50 $dball_p50 ms, p99 $dball_p99 ms, max $dball_max ms over $dball_n)"
        echo "  The histogram runs from the producer's send to ecom-stream seeing its COMMIT succeed;"
        echo "  ingested_at is now() of the flush transaction, i.e. its start, so the table figure stops"
        echo "  before the flush itself. ecom-stream's RSS at these rates: $(awk -v r="$lat_rss" \
            'BEGIN { printf "%.1f MB", r / 1024 }')."
    fi
} | tee "$result"
say "written to ${result#"$repo"/}"
