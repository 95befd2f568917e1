#!/usr/bin/env bash
# tests/integration/test_scheduler.sh - ecom-scheduler without its daemon
# (test_scheduler_run.sh drives that): dags list on the shipped scheduler/dags.conf
# (person and --json), a bad DAG file refused with its line, and tasks test
# running the shipped DAGs' tasks against a real, throwaway PostgreSQL with
# the real ecom-batch and ecom-quality (found beside the scheduler), a
# task's execution_timeout killing its process group.
#
# Usage: tests/integration/test_scheduler.sh [BIN_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"

sched=$bin/ecom-scheduler
[[ -x $sched ]] || { echo "test_scheduler: $sched is not built" >&2; exit 1; }
export ECOM_SCHEDULER_DAGS=$repo/scheduler/dags.conf ECOM_LAKE_DIR=$tmp/lake

expect_status "dags list exits 0" 0 "$sched" dags list
grep -q "^ecommerce_pipeline_hourly *@hourly *2026-12-01T00:00:00Z *false *1 *hourly_sales, quality_checks, exports$" "$tmp/out" &&
    ok "dags list: the hourly pipeline in dependency order" || not_ok "dags list: $(cat "$tmp/out")"
expect_status "--json dags list exits 0" 0 "$sched" --json dags list
check "--json dags list: five DAGs, the pipeline's tasks" "5 hourly_sales,quality_checks,exports" \
    "$(/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(len(j), ",".join(j[0]["tasks"]))' "$tmp/out")"

printf '[dag d]\n[task a]\ncommand = true\nupstream = b\n' >"$tmp/bad.conf"
expect_status "a bad DAG file: exit 2" 2 "$sched" --dags "$tmp/bad.conf" dags list
check "a bad DAG file: the line and what is wrong" 1 \
    "$(grep -c "bad.conf:2: task \"a\": upstream task \"b\" is not in DAG \"d\"" "$tmp/err")"
printf '[dag d]\n[task a]\ncommand = x\nupstream = c\n[task b]\ncommand = x\nupstream = a\n[task c]\ncommand = x\nupstream = b\n' >"$tmp/cycle.conf"
expect_status "a dependency cycle: exit 2" 2 "$sched" --dags "$tmp/cycle.conf" dags list
check "a dependency cycle: named" 1 "$(grep -c 'dependency cycle in DAG "d": a -> c -> b -> a' "$tmp/err")"

start_pg >/dev/null
expect_status "tasks test: the hourly pipeline's hourly_sales exits 0" 0 \
    "$sched" tasks test ecommerce_pipeline_hourly hourly_sales 2026-12-01T10
check "tasks test: ecom-batch ran for the interval's hour" "hourly-sales|2026-12-01 10:00:00+00|success" \
    "$(PGTZ=UTC sql "select job, period_start, status from batch_runs")"
grep -q "ecom-batch hourly-sales --for 2026-12-01T10:00:00Z" "$tmp/err" && ok "tasks test: the command with its placeholders filled" ||
    not_ok "tasks test: $(head -n 2 "$tmp/err")"
expect_status "tasks test: the data-quality DAG's task fails on an empty database (exit 1)" 1 \
    "$sched" tasks test data_quality_dag quality_day 2026-12-01
check "tasks test: ecom-quality judged the day" "2026-12-01 00:00:00+00|2026-12-02 00:00:00+00" \
    "$(PGTZ=UTC sql "select period_start, period_end from data_quality_runs")"
grep -q "^freshness *user_events *fail" "$tmp/out" && ok "tasks test: the task's output on stdout" ||
    not_ok "tasks test: stdout lacks ecom-quality's table: $(head -n 3 "$tmp/out")"

# A duration no other test run uses: the ASan pass runs this test beside the main one.
naps=61.$$
printf '[dag d]\nschedule = @hourly\n[task slow]\ncommand = sleep %s & sleep %s\nexecution_timeout = 1s\n' "$naps" "$naps" >"$tmp/slow.conf"
t0=$(date +%s%N)
expect_status "execution_timeout: the task fails (exit 1)" 1 "$sched" --dags "$tmp/slow.conf" tasks test d slow 2026-12-01
check_range "execution_timeout: over within 3 s (ms)" 900 3000 $((($(date +%s%N) - t0) / 1000000))
check "execution_timeout: said so" 1 "$(grep -c 'over its execution_timeout of 1 s, its process group killed' "$tmp/err")"
check "execution_timeout: no sleep of the task left running" 0 \
    "$(ps -eo stat=,args= | awk -v n="$naps" '$1 !~ /^Z/ && $2 == "sleep" && $3 == n' | wc -l)"

check_bad_flags "$sched" <<'EOF2'
|no command
foo|unknown command "foo"
dags|unknown command "dags"
tasks test nodag t 2026-12-01|no DAG "nodag"
tasks test ecommerce_pipeline_hourly nope 2026-12-01|no task "nope"
tasks test ecommerce_pipeline_hourly hourly_sales 2026-13-01|invalid DATE
--bogus dags list|--bogus
EOF2
finish
