#!/usr/bin/env bash
# tests/integration/test_scheduler_run.sh - the ecom-scheduler daemon and
# its history against a real, throwaway PostgreSQL, on short DAGs (none
# schedules triggered by hand, daily catchup, hourly backfills):
#   trigger rules, retries with their backoff delays, bounded output and
#   non-UTF-8 bytes kept; execution_timeout killing the group; catchup and
#   @once creating exactly the expected runs; kill -9 mid-run and restart
#   (the process gone, and a heartbeat stopped): no succeeded task rerun,
#   the lost one killed and retried; SIGTERM handing a try back, or letting
#   it finish; two schedulers on one database running every task once;
#   backfill (dry run, reprocess none/failed/all) within max_active_runs;
#   tasks clear with --downstream; PostgreSQL stopped while a try runs (its
#   end written once it is back); the shipped hourly pipeline running the
#   real ecom-batch and ecom-quality; bad usage.
#
# Usage: tests/integration/test_scheduler_run.sh [BIN_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"

sched=$bin/ecom-scheduler
[[ -x $sched ]] || { echo "test_scheduler_run: $sched is not built" >&2; exit 1; }
start_pg >/dev/null
export PGTZ=UTC ECOM_LAKE_DIR=$tmp/lake ECOM_SCHEDULER_DAGS=$tmp/dags.conf
D=$tmp
# Sleep durations no other test run uses: the ASan pass runs this test beside the main one.
nap_to=61.$$ nap_k=3.$$
day=$(date -u +%F)
cat >"$tmp/dags.conf" <<EOF
[dag t]
schedule = none
[task a]
command = head -c 200000 /dev/zero | tr '\\0' x; printf '\\nA %s %s\\n\\377\\000end\\n' "{{ ds }}" "\$ECOM_DAG_RUN_CONF"
[task b]
command = test -e $D/b.ok || exit 3
upstream = a
retries = 2
retry_delay = 1s
retry_exponential_backoff = true
[task c]
command = echo C
upstream = b
trigger_rule = all_done
[task d]
command = echo D
upstream = b

[dag to]
schedule = none
[task slow]
command = sleep $nap_to & sleep $nap_to
execution_timeout = 1s

[dag cu]
schedule = @daily
start_date = $(date -u -d "$day - 3 days" +%F)
catchup = true
[task x]
command = true

[dag nc]
schedule = @daily
start_date = $(date -u -d "$day - 3 days" +%F)
catchup = false
[task x]
command = true

[dag once]
schedule = @once
start_date = 2026-11-01T06:00:00Z
[task x]
command = true

[dag k]
schedule = none
[task first]
command = echo first >> $D/k.log
[task slow]
command = echo start >> $D/k.log; sleep $nap_k; echo end >> $D/k.log
upstream = first
retries = 1
retry_delay = 1s

[dag h]
schedule = none
[task wait]
command = test -e $D/h.quick || sleep 30.01

[dag h2]
schedule = none
[task short]
command = sleep 1.5

[dag two]
schedule = none
max_active_runs = 16
[task a]
command = sleep 0.2; echo "{{ ts }} a" >> $D/two.log
[task b]
command = sleep 0.2; echo "{{ ts }} b" >> $D/two.log
upstream = a

[dag bf]
schedule = @hourly
start_date = 2026-11-01
catchup = false
max_active_runs = 2
[task x]
command = sleep 0.3; ! grep -qx "{{ data_interval_start }}" $D/bf.fail
EOF

# wait_sql NAME EXPECTED SECONDS QUERY: polls until QUERY prints EXPECTED.
wait_sql() {
    local deadline=$((SECONDS + $3)) got
    while :; do
        got=$(sql "$4")
        if [[ $got == "$2" ]]; then
            ok "$1"
            return
        fi
        if ((SECONDS >= deadline)); then
            not_ok "$1: expected \"$2\", got \"$got\""
            return
        fi
        sleep 0.2
    done
}
# start_sched NAME ARGS...: the daemon in the background, its pid in $pid,
# its log in $tmp/NAME.err.
start_sched() {
    local name=$1
    shift
    "$sched" run --poll 200 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pid=$!
}
# stop_sched NAME: SIGTERM, then its exit status must be 0.
stop_sched() {
    local rc=0
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    check "$1: exit status 0 after SIGTERM" 0 "$rc"
}
tries() { # DAG TASK: each try's outcome, in order
    sql "select string_agg(outcome, ',' order by try_number) from task_tries where dag_id = '$1' and task_id = '$2'"
}

# --- trigger rules, retries, output; execution_timeout; catchup; @once ---
expect_status "dags trigger t exits 0" 0 "$sched" dags trigger t --conf '{"k": 1}' --logical-date 2026-12-01T10:00:00Z
grep -q "^queued t manual__2026-12-01T10:00:00+00:00 " "$tmp/out" && ok "dags trigger: the run id" ||
    not_ok "dags trigger: $(cat "$tmp/out")"
expect_status "dags trigger twice for one logical date: exit 1" 1 \
    "$sched" dags trigger t --logical-date 2026-12-01T10:00:00Z
check "dags trigger twice: said so" 1 "$(grep -c 'already has a run with logical date 2026-12-01T10:00:00Z' "$tmp/err")"
expect_status "dags trigger --json exits 0" 0 "$sched" --json dags trigger to
check "dags trigger --json: queued" queued "$(json_get "$tmp/out" 'j["state"]')"
start_sched a
wait_sql "t: b failed after 3 tries, c ran (all_done), d upstream_failed, the run failed" \
    "a=success b=failed c=success d=upstream_failed|failed" 30 \
    "select string_agg(task_id || '=' || ti.state, ' ' order by task_id), r.state from task_instances ti
       join dag_runs r using (dag_id, run_id) where dag_id = 't' group by r.state"
check "t.b: three tries, each exit status 3" "failed,failed,failed|3,3,3" \
    "$(sql "select string_agg(outcome, ',' order by try_number), string_agg(exit_status::text, ',' order by try_number)
              from task_tries where dag_id = 't' and task_id = 'b'")"
check_range "t.b: the first retry waited retry_delay, 1 s (ms)" 950 1600 \
    "$(sql "select ecom_ms(b.started_at) - ecom_ms(a.ended_at) from task_tries a join task_tries b using (dag_id, run_id, task_id)
              where dag_id = 't' and task_id = 'b' and a.try_number = 1 and b.try_number = 2")"
check_range "t.b: the second retry waited twice that, 2 s (ms)" 1950 2600 \
    "$(sql "select ecom_ms(b.started_at) - ecom_ms(a.ended_at) from task_tries a join task_tries b using (dag_id, run_id, task_id)
              where dag_id = 't' and task_id = 'b' and a.try_number = 2 and b.try_number = 3")"
check "t.a: the last 64 KiB kept, what came before counted; the placeholder, the conf; NUL and \\377 as U+FFFD" \
    "65536|134493|t" \
    "$(sql "select length(output), output_dropped,
                   output like '%x' || E'\\nA 2026-12-01 {\"k\": 1}\\n' || chr(65533) || chr(65533) || E'end\\n'
              from task_tries where dag_id = 't' and task_id = 'a'")"
wait_sql "to: over its execution_timeout: the try a timeout, ended by SIGTERM, the task failed" "timeout|15|failed" 15 \
    "select outcome, term_signal, ti.state from task_tries join task_instances ti using (dag_id, run_id, task_id)
      where dag_id = 'to'"
check "to: no sleep of its process group left" 0 "$(ps -eo stat=,args= | awk -v n="$nap_to" '$1 !~ /^Z/ && $2 == "sleep" && $3 == n' | wc -l)"
wait_sql "catchup: exactly the three past days, all run" \
    "$(date -u -d "$day - 3 days" +%F),$(date -u -d "$day - 2 days" +%F),$(date -u -d "$day - 1 day" +%F)|success" 15 \
    "select string_agg(to_char(logical_date, 'YYYY-MM-DD'), ',' order by logical_date), string_agg(distinct state, ',')
       from dag_runs where dag_id = 'cu'"
check "no catchup: only the latest day" "$(date -u -d "$day - 1 day" +%F)|scheduled" \
    "$(sql "select to_char(logical_date, 'YYYY-MM-DD'), run_type from dag_runs where dag_id = 'nc'")"
check "@once: one run at start_date" "2026-11-01 06:00:00+00|scheduled__2026-11-01T06:00:00+00:00" \
    "$(sql "select logical_date, run_id from dag_runs where dag_id = 'once'")"
stop_sched "first scheduler"
check "the scheduler's row: ended" "t" "$(sql "select ended_at is not null from scheduler_jobs order by id desc limit 1")"
start_sched a2
sleep 1
stop_sched "a restart"
check "a restart: no new run for catchup, no catchup or @once" "3|1|1" \
    "$(sql "select count(*) filter (where dag_id = 'cu'), count(*) filter (where dag_id = 'nc'),
                   count(*) filter (where dag_id = 'once') from dag_runs")"

# --- kill -9 mid-run, restart: the process gone; then a heartbeat stopped ---
kill9_round() { # NAME, then what to do to the dead scheduler's row before the restart
    local name=$1 fix=$2
    rm -f "$D/k.log"
    sql "delete from dag_runs where dag_id = 'k'" >/dev/null
    "$sched" dags trigger k --logical-date 2026-12-01 >/dev/null
    start_sched "$name-1"
    wait_sql "$name: k.slow running" running 15 "select state from task_instances where dag_id = 'k' and task_id = 'slow'"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    check "$name: the task's process outlived the scheduler" 1 \
        "$(ps -eo stat=,args= | awk -v n="$nap_k" '$1 !~ /^Z/ && $2 == "sleep" && $3 == n' | wc -l)"
    [[ -n $fix ]] && sql "$fix" >/dev/null
    start_sched "$name-2" --zombie-threshold 2000
    wait_sql "$name: after the restart the run succeeds" success 20 "select state from dag_runs where dag_id = 'k'"
    check "$name: first not rerun; slow's lost try a zombie, then retried" "success|zombie,success" \
        "$(tries k first)|$(tries k slow)"
    check "$name: the lost try's process killed (one start ran to its end)" "first start start end" \
        "$(tr '\n' ' ' <"$D/k.log" | sed 's/ $//')"
    stop_sched "$name: the second scheduler"
}
kill9_round "kill -9" ""
grep -q "is a zombie (its scheduler's process is gone" "$tmp/kill -9-2.err" && ok "kill -9: found by the process gone" ||
    not_ok "kill -9: $(grep zombie "$tmp/kill -9-2.err")"
kill9_round "kill -9, another host" \
    "update scheduler_jobs set hostname = 'elsewhere' where ended_at is null"
grep -q "is a zombie (its scheduler's heartbeat stopped" "$tmp/kill -9, another host-2.err" &&
    ok "kill -9, another host: found by the heartbeat stopped" ||
    not_ok "kill -9, another host: $(grep zombie "$tmp/kill -9, another host-2.err")"

# --- SIGTERM: a try handed back; a try let finish ---
"$sched" dags trigger h >/dev/null
start_sched h1 --grace 500
wait_sql "SIGTERM: h.wait running" running 15 "select state from task_instances where dag_id = 'h'"
t0=$(date +%s%N)
stop_sched "SIGTERM, grace 0.5 s"
check_range "SIGTERM, grace 0.5 s: exited within 3 s (ms)" 400 3000 $((($(date +%s%N) - t0) / 1000000))
check "SIGTERM: the try handed back, the task scheduled again, no try used up" "handed_back|scheduled|2" \
    "$(sql "select outcome, ti.state, max_tries from task_tries join task_instances ti using (dag_id, run_id, task_id)
              where dag_id = 'h'")"
touch "$D/h.quick"
start_sched h2
wait_sql "SIGTERM: the next scheduler runs it (try 2)" "success|2" 15 \
    "select state, try_number from task_instances where dag_id = 'h'"
stop_sched "h, the next scheduler"
"$sched" dags trigger h2 >/dev/null
start_sched h3 --grace 5000
wait_sql "SIGTERM, grace 5 s: h2.short running" running 15 "select state from task_instances where dag_id = 'h2'"
stop_sched "SIGTERM, grace 5 s"
check "SIGTERM, grace 5 s: the try finished first" "success|success" \
    "$(sql "select outcome, ti.state from task_tries join task_instances ti using (dag_id, run_id, task_id) where dag_id = 'h2'")"

# --- two schedulers, one database ---
for h in 00 01 02 03 04 05 06 07 08 09 10 11; do
    "$sched" dags trigger two --logical-date "2026-11-01T$h:00:00Z" >/dev/null
done
"$sched" run --poll 200 -p 3 >"$tmp/two-1.out" 2>"$tmp/two-1.err" &
p1=$!
"$sched" run --poll 200 -p 3 >"$tmp/two-2.out" 2>"$tmp/two-2.err" &
p2=$!
wait_sql "two schedulers: the 12 runs succeed" 12 60 "select count(*) from dag_runs where dag_id = 'two' and state = 'success'"
kill -TERM "$p1" "$p2"
wait "$p1" "$p2" || true
check "two schedulers: 24 tasks ran, each once" "24 24" "$(wc -l <"$D/two.log") $(sort -u "$D/two.log" | wc -l)"
check "two schedulers: one try per task instance, both schedulers ran tasks" "24|24|2" \
    "$(sql "select count(*), count(distinct (run_id, task_id)), count(distinct scheduler_id) from task_tries where dag_id = 'two'")"

# --- backfill, max_active_runs ---
echo "2026-11-01T02:00:00Z" >"$D/bf.fail"
range=(--from 2026-11-01T00 --to 2026-11-01T05)
expect_status "backfill --dry-run exits 0" 0 "$sched" backfill bf "${range[@]}" --dry-run
check "backfill --dry-run: six runs to create, nothing written" "6|0" \
    "$(grep -c ' create ' "$tmp/out")|$(sql "select count(*) from dag_runs where dag_id = 'bf' and run_type = 'backfill'")"
start_sched bf
expect_status "backfill exits 0" 0 "$sched" --json backfill bf "${range[@]}"
wait_sql "backfill: the six runs, the one at 02:00 failed" "failed 02,success 00 01 03 04 05" 30 \
    "select string_agg(state || ' ' || h, ',' order by state) from (select state, string_agg(to_char(logical_date, 'HH24'), ' '
       order by logical_date) h from dag_runs where dag_id = 'bf' and run_type = 'backfill' group by state) s"
check "backfill: at most max_active_runs (2) running at once" 2 \
    "$(sql "select max((select count(*) from dag_runs o where o.dag_id = 'bf' and o.run_type = 'backfill'
                         and o.start_date <= r.start_date and o.end_date > r.start_date))
              from dag_runs r where dag_id = 'bf' and run_type = 'backfill'")"
expect_status "backfill again, reprocess none: exit 0" 0 "$sched" backfill bf "${range[@]}"
check "backfill again, reprocess none: nothing to do" 1 "$(grep -c '0 runs to create, 0 failed ones to rerun, 0 to rerun, 6 left' "$tmp/out")"
rm -f "$D/bf.fail"
expect_status "backfill --reprocess failed --dry-run: exit 0" 0 "$sched" backfill bf "${range[@]}" --reprocess failed --dry-run
check "backfill --reprocess failed --dry-run: the failed run only" "rerun_failed 02" \
    "$(awk '$1 ~ /^2026/ && $2 != "skip" {print $2, substr($1, 12, 2)}' "$tmp/out")"
expect_status "backfill --reprocess failed: exit 0" 0 "$sched" backfill bf "${range[@]}" --reprocess failed
wait_sql "backfill --reprocess failed: all six succeed, 02:00 on its second try" "success|00:1 01:1 02:2 03:1 04:1 05:1" 30 \
    "select string_agg(distinct r.state, ','), string_agg(to_char(logical_date, 'HH24') || ':' || try_number, ' ' order by logical_date)
       from dag_runs r join task_instances using (dag_id, run_id) where dag_id = 'bf' and run_type = 'backfill'"
expect_status "backfill --reprocess all: exit 0" 0 "$sched" backfill bf "${range[@]}" --reprocess all
wait_sql "backfill --reprocess all: every run once more" "success|00:2 01:2 02:3 03:2 04:2 05:2" 30 \
    "select string_agg(distinct r.state, ','), string_agg(to_char(logical_date, 'HH24') || ':' || try_number, ' ' order by logical_date)
       from dag_runs r join task_instances using (dag_id, run_id) where dag_id = 'bf' and run_type = 'backfill'"

# --- tasks clear (the scheduler above still runs) ---
expect_status "tasks clear --dry-run: exit 0" 0 "$sched" tasks clear t --task-regex '^b$' --from 2026-12-01 --to 2026-12-01 --dry-run
check "tasks clear --dry-run: b would be cleared, nothing changed" "1|failed" \
    "$(grep -c '^would clear manual__2026-12-01T10:00:00+00:00 b$' "$tmp/out")|$(sql "select state from dag_runs where dag_id = 't'")"
touch "$D/b.ok"
expect_status "tasks clear --downstream: exit 0" 0 "$sched" tasks clear t --task-regex '^b$' --downstream --from 2026-12-01 --to 2026-12-01
check "tasks clear --downstream: b, c and d cleared" 1 "$(grep -c '^cleared 3 task instances of DAG t' "$tmp/out")"
wait_sql "tasks clear: the run reruns them and succeeds; a is not rerun" "a:1 b:4 c:2 d:1|success" 20 \
    "select string_agg(task_id || ':' || try_number, ' ' order by task_id), r.state from task_instances ti
       join dag_runs r using (dag_id, run_id) where dag_id = 't' group by r.state"
expect_status "dags list-runs exits 0" 0 "$sched" dags list-runs two --state success --limit 2
check "dags list-runs --state --limit: two runs, newest first" "2|manual__2026-11-01T11:00:00+00:00" \
    "$(grep -c '^manual__.* success ' "$tmp/out")|$(awk 'NR == 2 {print $1}' "$tmp/out")"
expect_status "--json dags list-runs exits 0" 0 "$sched" --json dags list-runs t
check "--json dags list-runs: the run's tasks" "success a,b,c,d 4" \
    "$(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]
print(r["state"], ",".join(t["task_id"] for t in r["tasks"]), r["tasks"][1]["try_number"])' "$tmp/out")"
stop_sched "the backfill scheduler"

# --- PostgreSQL stopped while a try runs: its end waits, then is written ---
"$sched" dags trigger h2 --logical-date 2026-12-02T00:00:00Z >/dev/null
start_sched outage
wait_sql "outage: h2.short running" running 15 \
    "select state from task_instances where run_id = 'manual__2026-12-02T00:00:00+00:00'"
"$repo/scripts/pg-local.sh" stop >/dev/null
sleep 2.5 # the try ends meanwhile
"$repo/scripts/pg-local.sh" start >/dev/null
wait_sql "outage: the try's end written once PostgreSQL is back" "success|success|0" 30 \
    "select outcome, ti.state, exit_status from task_tries join task_instances ti using (dag_id, run_id, task_id)
      where run_id = 'manual__2026-12-02T00:00:00+00:00'"
stop_sched "outage"
grep -q "lost the connection to PostgreSQL; reconnecting" "$tmp/outage.err" && ok "outage: said so in its log" ||
    not_ok "outage: $(tail -n 5 "$tmp/outage.err")"

# --- the shipped hourly pipeline with the real ecom-batch and ecom-quality ---
sql_strict "select ecom_ensure_daily_partitions('2026-11-19', '2026-11-20')" >/dev/null
load_clean_corpus "2026-11-20 10:00+00"
export ECOM_SCHEDULER_DAGS=$repo/scheduler/dags.conf
expect_status "shipped DAGs: trigger the hourly pipeline at 11:00" 0 \
    "$sched" dags trigger ecommerce_pipeline_hourly --logical-date 2026-11-20T11:00:00Z
check "shipped DAGs: its interval is the hour before" 1 "$(grep -c 'data interval 2026-11-20T10:00:00Z to 2026-11-20T11:00:00Z' "$tmp/out")"
start_sched shipped --grace 0
wait_sql "shipped DAGs: hourly_sales, quality_checks, exports all succeed" "exports=success hourly_sales=success quality_checks=success|success" 60 \
    "select string_agg(task_id || '=' || ti.state, ' ' order by task_id), r.state from task_instances ti
       join dag_runs r using (dag_id, run_id) where dag_id = 'ecommerce_pipeline_hourly' and run_type = 'manual' group by r.state"
stop_sched "shipped DAGs"
check "shipped DAGs: ecom-batch ran hourly-sales for 10:00 twice (the export), ecom-quality judged the hour" "2|0" \
    "$(sql "select count(*) from batch_runs where job = 'hourly-sales' and period_start = '2026-11-20 10:00+00' and status = 'success'")|$(
        sql "select failed from data_quality_runs where period_start = '2026-11-20 10:00+00'")"
check "shipped DAGs: the export's CSV" 1 "$(find "$tmp/lake" -path '*hourly-sales*' -name '*.csv' | wc -l)"

# --- bad usage ---
printf '[dag p]\nschedule = none\n[task x]\ncommand = echo {{ nope }}\n' >"$tmp/ph.conf"
expect_status "run: an unknown placeholder refused (exit 2)" 2 "$sched" --dags "$tmp/ph.conf" run
check "run: the placeholder's line" 1 "$(grep -c 'ph.conf:3: task "x": ' "$tmp/err")"
export ECOM_SCHEDULER_DAGS=$tmp/dags.conf
check_bad_flags "$sched" <<'EOF2'
run --conf {}|--conf and --logical-date does not apply to run
dags list -p 2|does not apply to dags list
dags trigger t --conf [1]|--conf must be a JSON object
dags trigger t --logical-date 2026-13-01|invalid value "2026-13-01" for --logical-date
dags trigger nodag|no DAG "nodag"
dags list-runs t --state bogus|invalid value "bogus" for --state
tasks clear t --from 2026-12-01 --to 2026-12-01|needs --task-regex
tasks clear t --task-regex ( --from 2026-12-01 --to 2026-12-01|not a POSIX extended regex
tasks clear t --task-regex zzz --from 2026-12-01 --to 2026-12-01|matches no task
backfill bf --from 2026-11-01|needs --from and --to
backfill bf --from 2026-11-02 --to 2026-11-01|--to is before --from
backfill bf --from 2026-11-01 --to 2026-11-01 --reprocess some|invalid value "some" for --reprocess
backfill t --from 2026-11-01 --to 2026-11-01|has no schedule to backfill
run -p 0|-p/--parallelism
run extra|unknown command
EOF2
finish
