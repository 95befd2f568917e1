#!/usr/bin/env bash
# bench/scheduler.sh - issue 11's benchmark of the ecom-scheduler daemon,
# beside the figures Apache Airflow publishes or its users report:
#
#  idle      the daemon with the shipped DAGs (scheduler/dags.conf) for
#            IDLE seconds (600): its CPU (utime + stime from /proc, as a
#            share of one core), its RSS (VmRSS sampled every second: the
#            peak and the last), and the CPU of its PostgreSQL backend. The
#            shipped DAGs' latest runs are first run once with every command
#            replaced by `true`, as a scheduler that has been up a while has
#            them done; a run that still falls due in the window (the hourly
#            pipeline at HH:00) runs for real and is counted in the table.
#            Then 60 s more with libpq's own default, PGGSSENCMODE=prefer
#            (RSS only; the daemon sets disable unless told).
#  due       a minutely DAG (`* * * * *`) for SAMPLES minutes: from each
#            run's due moment (its data interval's end) to its task's
#            process starting (the task prints its clock) and to its claim
#            (task_tries.started_at). Runs due before the daemon started
#            are left out.
#  trigger   TRIGGERS x `dags trigger` on a DAG with no schedule: from the
#            trigger command's start to the task's process starting (NOTIFY
#            wakes the daemon).
# Goals: idle CPU under 1% of a core, RSS under 10 MB, due to first task
# under 1 s.
#
# Usage: bench/scheduler.sh [--idle SECONDS] [--samples N] [--triggers N]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/build/bin
pgbin=${ECOM_PG_BINDIR:-/usr/lib/postgresql/15/bin}
prog=bench/scheduler.sh
idle=600
samples=5
triggers=20

usage() {
    cat <<EOF
Usage: $prog [OPTION]...
Measures the ecom-scheduler daemon: idle CPU and RSS with the shipped DAGs,
and the time from a run's due moment (or a trigger) to its first task.

      --idle=SECONDS   the idle phase (default: 600)
      --samples=N      minutely runs timed from their due moment (default: 5)
      --triggers=N     triggered runs timed (default: 20)
  -h, --help           show this help and exit

Needs the project's build (built into build/ if missing) and scripts/deps.sh.
ECOM_BENCH_KEEP=1 keeps the run's directory. Results: stdout and
bench/results/scheduler-DATE.txt.
EOF
}

. "$repo/bench/lib.sh"

while (($#)); do
    case $1 in
    --idle | --samples | --triggers)
        (($# >= 2)) || usage_error "option $1 requires a value"
        declare "${1#--}=$2"
        shift
        ;;
    --idle=* | --samples=* | --triggers=*) o=${1%%=*}; declare "${o#--}=${1#*=}" ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option \"$1\"" ;;
    esac
    shift
done
posint --idle "$idle" 10
posint --samples "$samples"
posint --triggers "$triggers"

[[ -x $bin/ecom-scheduler ]] || "$repo/scripts/build.sh" "$repo/build" >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-scheduler.XXXXXX")
chmod 755 "$tmp" # as root, PostgreSQL runs as "postgres" and must enter it
pg_started=
sched_pid=
stop_sched() {
    if [[ -n $sched_pid ]]; then
        kill -TERM "$sched_pid" 2>/dev/null || true
        wait "$sched_pid" 2>/dev/null || true
        sched_pid=
    fi
}
trap 'stop_sched; end_run' EXIT
trap 'exit 130' INT TERM
export ECOM_LAKE_DIR=$tmp/lake PGTZ=UTC

start_pg
hz=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
backend_pid() {
    sql "select pid from pg_stat_activity where application_name = 'ecom-scheduler' and backend_type = 'client backend'
          order by backend_start desc limit 1"
}
# run_sched DAGS LOG [ARGS...]: the daemon in the background, sched_pid set.
run_sched() {
    local dags=$1 log=$2
    shift 2
    "$bin/ecom-scheduler" --dags "$dags" run "$@" >/dev/null 2>"$log" &
    sched_pid=$!
}
# wait_idle: until no run is queued or running (at most 60 s).
wait_idle() {
    for _ in $(seq 300); do
        [[ $(sql "select count(*) from dag_runs where state in ('queued', 'running')") == 0 ]] && return
        sleep 0.2
    done
    die "runs still queued or running after 60 s"
}

# --- idle ---
sed 's/^command = .*/command = true/' "$repo/scheduler/dags.conf" >"$tmp/prime.conf"
say "priming: the shipped DAGs' latest runs, with commands replaced by true"
run_sched "$tmp/prime.conf" "$tmp/prime.log" --poll 200
sleep 1
wait_idle
stop_sched
primed=$(sql "select count(*) from dag_runs")
say "idle: $idle s with scheduler/dags.conf ($primed runs primed)"
run_sched "$repo/scheduler/dags.conf" "$tmp/idle.log"
sleep 1
bpid=$(backend_pid)
c0=$(cpu_ticks "$sched_pid")
b0=$(cpu_ticks "$bpid")
t0=$(date +%s.%N)
peak=0
tries0=$(sql "select count(*) from task_tries")
first_min_peak=0
for ((s = 1; s <= idle; s++)); do
    sleep 1
    r=$(rss_kb "$sched_pid")
    ((r > peak)) && peak=$r
    ((s <= 60 && r > first_min_peak)) && first_min_peak=$r
    ((s % 60 == 0)) && say "  $s s: RSS $r kB, CPU $(($(cpu_ticks "$sched_pid") - c0)) ticks"
done
c1=$(cpu_ticks "$sched_pid")
b1=$(cpu_ticks "$bpid" 2>/dev/null || echo "$b0")
t1=$(date +%s.%N)
last=$(rss_kb "$sched_pid")
anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$sched_pid/status")
pss=$(awk '/^Pss:/ { print $2 }' "/proc/$sched_pid/smaps_rollup")
awk '/^[0-9a-f]/ { name = $6 } /^Rss:/ { r[name] += $2 } END { for (n in r) if (r[n] >= 256) printf "%s %d kB, ", n, r[n] }' \
    "/proc/$sched_pid/smaps" | sed 's/, $//; s/^/bench:   where its RSS is: /' >&2
echo >&2
ran=$(($(sql "select count(*) from task_tries") - tries0))
stop_sched
idle_cpu=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.3f", 100 * c / hz / (t1 - t0) }')
idle_pg=$(awk -v c="$((b1 - b0))" -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.3f", 100 * c / hz / (t1 - t0) }')
say "idle: CPU $idle_cpu% of a core (backend $idle_pg%), RSS peak $peak kB, last $last kB, $ran tries ran"

# --- the same with libpq's Kerberos probe ---
# gssencmode=prefer (libpq's default) loads Kerberos to look for a ticket
# on every connection; the daemon sets PGGSSENCMODE=disable unless it is
# set, and this shows what that saves. 60 s, RSS only.
say "idle: 60 s more with PGGSSENCMODE=prefer"
PGGSSENCMODE=prefer run_sched "$repo/scheduler/dags.conf" "$tmp/idle-gss.log"
gss=0
for ((s = 1; s <= 60; s++)); do
    sleep 1
    r=$(rss_kb "$sched_pid")
    ((r > gss)) && gss=$r
done
stop_sched

# --- due to first task ---
cat >"$tmp/due.conf" <<EOF
[dag bench_minutely]
schedule = * * * * *
start_date = 2026-01-01
catchup = false
[task first]
command = echo "\$(date +%s%N) \$ECOM_DATA_INTERVAL_END" >> $tmp/due.txt
EOF
say "due: $samples minutely runs"
run_sched "$tmp/due.conf" "$tmp/due.log"
started_ms=$(($(date +%s%N) / 1000000))
deadline=$((SECONDS + 60 * samples + 90))
while (($(sql "select count(*) from dag_runs where dag_id = 'bench_minutely' and state = 'success'
                 and ecom_ms(data_interval_end) > $started_ms") < samples)); do
    ((SECONDS < deadline)) || die "fewer than $samples minutely runs in time"
    sleep 1
done
stop_sched
due=$(/usr/bin/python3 - "$tmp/due.txt" "$started_ms" <<'EOF'
import datetime, sys
lat = []
for line in open(sys.argv[1]):
    ns, end = line.split()
    due = datetime.datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp() * 1000
    if due > int(sys.argv[2]):
        lat.append(int(ns) / 1e6 - due)
lat.sort()
print(len(lat), "%.1f" % lat[len(lat) // 2], "%.1f" % lat[-1])
EOF
)
read -r due_n due_p50 due_max <<<"$due"
claim=$(sql "select percentile_disc(0.5) within group (order by ecom_ms(t.started_at) - ecom_ms(r.data_interval_end)),
                    max(ecom_ms(t.started_at) - ecom_ms(r.data_interval_end))
               from task_tries t join dag_runs r using (dag_id, run_id)
              where dag_id = 'bench_minutely' and ecom_ms(r.data_interval_end) > $started_ms")
say "due: $due_n runs, to the task's process p50 $due_p50 ms, max $due_max ms; to the claim (p50|max) $claim ms"

# --- trigger to first task ---
cat >"$tmp/trig.conf" <<EOF
[dag bench_trigger]
schedule = none
max_active_runs = 1
[task first]
command = echo "\$(date +%s%N)" >> $tmp/trig.txt
EOF
run_sched "$tmp/trig.conf" "$tmp/trig.log"
sleep 1
: >"$tmp/trig.sent"
: >"$tmp/trig.txt"
for ((i = 0; i < triggers; i++)); do
    echo "$(date +%s%N)" >>"$tmp/trig.sent"
    "$bin/ecom-scheduler" --dags "$tmp/trig.conf" dags trigger bench_trigger >/dev/null
    for _ in $(seq 100); do
        (($(wc -l <"$tmp/trig.txt") > i)) && break
        sleep 0.05
    done
done
stop_sched
trig=$(paste "$tmp/trig.sent" "$tmp/trig.txt" | awk '{ print ($2 - $1) / 1e6 }' | sort -n |
    awk '{ v[NR] = $1 } END { printf "%d %.1f %.1f", NR, v[int((NR + 1) / 2)], v[NR] }')
read -r trig_n trig_p50 trig_max <<<"$trig"

mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v < g ? "PASS" : "FAIL") }'; }
mkdir -p "$repo/bench/results"
{
    echo "ecom-scheduler $("$bin/ecom-scheduler" --version | awk '{print $2}'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    printf '| %-44s | %-34s | %-46s | %s |\n' "measure" "ecom-scheduler" "Airflow (published or reported)" "goal"
    printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..36})" "$(printf -- '-%.0s' {1..48})" "------"
    printf '| %-44s | %-34s | %-46s | %s |\n' "idle CPU, $idle s, shipped DAGs ($ran tries ran)" "$idle_cpu% of a core" \
        "<5% (after the 1.10 fix) to >30% (no DAGs)" "<1%: $(verdict "$idle_cpu" 1)"
    printf '| %-44s | %-34s | %-46s | %s |\n' "  its PostgreSQL backend" "$idle_pg% of a core" "" ""
    printf '| %-44s | %-34s | %-46s | %s |\n' "  at the end: private (RssAnon), PSS" "$(mb "$anon"), $(mb "$pss")" "" ""
    printf '| %-44s | %-34s | %-46s | %s |\n' "RSS (peak, last)" "$(mb "$peak"), $(mb "$last")" \
        "75-89 MB per scheduler process (2.0.0); 4 GB advised" "<10 MB: $(verdict "$peak" 10240)"
    printf '| %-44s | %-34s | %-46s | %s |\n' "  RSS peak with PGGSSENCMODE=prefer (60 s)" "$(mb "$gss")" "" "libpq's default, for comparison"
    printf '| %-44s | %-34s | %-46s | %s |\n' "due -> first task's process ($due_n runs)" "p50 $due_p50 ms, max $due_max ms" \
        "a loop every 1 s idle (scheduler_idle_sleep_time)" "<1 s: $(verdict "$due_max" 1000)"
    printf '| %-44s | %-34s | %-46s | %s |\n' "due -> claimed (task_tries.started_at)" "p50 ${claim%|*} ms, max ${claim#*|} ms" "" ""
    printf '| %-44s | %-34s | %-46s | %s |\n' "dags trigger -> first task's process ($trig_n)" "p50 $trig_p50 ms, max $trig_max ms" "" ""
} | tee "$repo/bench/results/scheduler-$(date -u +%Y%m%dT%H%M%SZ).txt"
