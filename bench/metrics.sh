#!/usr/bin/env bash
# bench/metrics.sh - ecom-metrics with everything running: real Kafka
# (scripts/kafka-local.sh), a throwaway PostgreSQL, ecom-stream, and
# ecom-simulator at the documented rates. For --duration seconds it
# measures ecom-metrics at a 5 s interval (CPU of its process and of its
# PostgreSQL backends, peak RSS, points stored, round durations) beside a
# real Prometheus (Debian's) scraping ecom-stream's /metrics on the same
# interval into its own TSDB; then the dashboard's time to first render in
# headless Chromium (tests/integration/browser.py), 5 loads.
# Goals (issue 12): under 2% of a core and under 20 MB.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/build/bin
prog=bench/metrics.sh
duration=300 loads=5
pgbin=${ECOM_PG_BINDIR:-/usr/lib/postgresql/15/bin}

usage() {
    cat <<EOF2
Usage: $prog [OPTION]...
Measures ecom-metrics (CPU, RSS, round time) with the pipeline running,
beside Prometheus scraping ecom-stream, and the dashboard's first render.

      --duration=SECONDS  the measured phase (default: 300)
      --loads=N           dashboard loads timed (default: 5)
  -h, --help              show this help and exit

Needs the project's build and scripts/deps.sh (prometheus, chromium).
ECOM_BENCH_KEEP=1 keeps the run's directory. Results: stdout and
bench/results/metrics-DATE.txt.
EOF2
}

. "$repo/bench/lib.sh"

while (($#)); do
    case $1 in
    --duration | --loads) (($# >= 2)) || usage_error "option $1 requires a value"; declare "${1#--}=$2"; shift ;;
    --duration=* | --loads=*) o=${1%%=*}; declare "${o#--}=${1#*=}" ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option \"$1\"" ;;
    esac
    shift
done
posint --duration "$duration" 10
posint --loads "$loads"
command -v prometheus >/dev/null || die "prometheus is missing (scripts/deps.sh installs it)"
[[ -x $bin/ecom-metrics ]] || "$repo/scripts/build.sh" "$repo/build" >&2
"$repo/scripts/web-vendor.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-metrics.XXXXXX")
chmod 755 "$tmp"
bg_pids=()
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    stop_kafka
    end_run
}
trap cleanup EXIT
trap 'exit 130' INT TERM
broker=kafka

start_pg
start_kafka 3
export KAFKA_BOOTSTRAP_SERVERS=$bootstrap
sport=$(free_port) mport=$(free_port) pport=$(free_port)
"$bin/ecom-stream" -p "$sport" -P 0 2>"$tmp/stream.log" &
bg_pids+=($!)
"$bin/ecom-simulator" -P 0 >/dev/null 2>"$tmp/sim.log" &
bg_pids+=($!)
"$bin/ecom-metrics" -i 5 -p "$mport" -t "stream=http://127.0.0.1:$sport/metrics" 2>"$tmp/metrics.log" &
mpid=$!
bg_pids+=($mpid)
cat >"$tmp/prometheus.yml" <<EOF2
global: {scrape_interval: 5s}
scrape_configs:
  - job_name: stream
    static_configs: [{targets: ["127.0.0.1:$sport"]}]
EOF2
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" \
    --web.listen-address="127.0.0.1:$pport" >"$tmp/prometheus.log" 2>&1 &
ppid_=$!
bg_pids+=($ppid_)
say "warming up 20 s (Kafka, the stream, the first rounds)"
sleep 20

hz=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
backends() { sql "select string_agg(pid::text, ' ') from pg_stat_activity where application_name like 'ecom-metrics%'"; }
sum_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "$p" 2>/dev/null || echo 0))); done; echo "$t"; }

read -r -a bp <<<"$(backends)"
c0=$(cpu_ticks "$mpid") p0=$(cpu_ticks "$ppid_") b0=$(sum_ticks "${bp[@]}")
pts0=$(sql "select count(*) from metric_points")
t0=$(date +%s.%N)
mpeak=0 ppeak=0
for ((s = 1; s <= duration; s++)); do
    sleep 1
    r=$(rss_kb "$mpid"); ((r > mpeak)) && mpeak=$r
    r=$(rss_kb "$ppid_"); ((r > ppeak)) && ppeak=$r
    ((s % 60 == 0)) && say "  $s s: ecom-metrics RSS $(rss_kb "$mpid") kB, Prometheus RSS $(rss_kb "$ppid_") kB"
done
c1=$(cpu_ticks "$mpid") p1=$(cpu_ticks "$ppid_") b1=$(sum_ticks "${bp[@]}")
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
pts1=$(sql "select count(*) from metric_points")
pct() { awk -v t="$1" -v hz="$hz" -v e="$elapsed" 'BEGIN { printf "%.2f%%", 100 * t / hz / e }'; }
rounds=$(sql "select count(distinct ts) from metric_scrapes where ts > now() - interval '$duration seconds'")
round_ms=$(sql "select round(percentile_cont(0.5) within group (order by d)::numeric, 1) || ' / ' || round(max(d)::numeric, 1)
    from (select ts, sum(duration_ms) d from metric_scrapes where ts > now() - interval '$duration seconds' group by ts) q")
series=$(sql "select count(*) from metric_series")

say "the dashboard: $loads loads in headless Chromium"
renders=()
for ((i = 0; i < loads; i++)); do
    /usr/bin/python3 "$repo/tests/integration/browser.py" "http://127.0.0.1:$mport/" --shots "$tmp/shots" >"$tmp/b$i.json"
    renders+=("$(json "$tmp/b$i.json" 'j["first_render_ms"]')")
done
render=$(printf '%s\n' "${renders[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "p50 %d ms, max %d ms", a[int((NR + 1) / 2)], a[NR] }')

mkdir -p "$repo/bench/results"
out=$repo/bench/results/metrics-$(date -u +%Y%m%d-%H%M%S).txt
{
    echo "ecom-metrics, $(date -u +%FT%TZ), $(nproc) cores, ${duration} s at a 5 s interval, $rounds rounds"
    echo "pipeline running: $(broker_label), ecom-stream, ecom-simulator at 20/s, 60/min, 40/min"
    echo
    printf '| %-44s | %-24s | %-28s | %-12s |\n' measure ecom-metrics "Prometheus $(prometheus --version 2>&1 | awk 'NR==1 {print $3}')" goal
    printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..26})" "$(printf -- '-%.0s' {1..30})" "$(printf -- '-%.0s' {1..14})"
    printf '| %-44s | %-24s | %-28s | %-12s |\n' "what it scrapes" "Kafka, PostgreSQL, stream" "the stream's /metrics only" ""
    printf '| %-44s | %-24s | %-28s | %-12s |\n' "CPU, its process" "$(pct $((c1 - c0)))" "$(pct $((p1 - p0)))" "<2%"
    printf '| %-44s | %-24s | %-28s | %-12s |\n' "CPU, its PostgreSQL backends (store, scrape)" "$(pct $((b1 - b0)))" "(own TSDB, in the process)" ""
    printf '| %-44s | %-24s | %-28s | %-12s |\n' "peak RSS" "$((mpeak / 1024)) MB" "$((ppeak / 1024)) MB" "<20 MB"
    printf '| %-44s | %-24s | %-28s | %-12s |\n' "series; points stored per round" "$series; $(((pts1 - pts0) / (rounds > 0 ? rounds : 1)))" "" ""
    printf '| %-44s | %-24s | %-28s | %-12s |\n' "a round's scrapes, p50 / max (ms)" "$round_ms" "" ""
    printf '| %-44s | %-24s | %-28s | %-12s |\n' "dashboard: first render ($loads loads)" "$render" "" ""
} | tee "$out"
say "results in $out"
