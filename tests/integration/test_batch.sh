#!/usr/bin/env bash
# tests/integration/test_batch.sh - ecom-batch against a real, throwaway
# PostgreSQL loaded straight into the raw tables with the corpus of
# batch_oracle.py:
#   - every aggregate job's rows equal the oracle's (computed in Python from
#     the corpus, not with the jobs' SQL), for the periods the corpus spans;
#   - re-runs and an overlapping backfill leave the same rows; --export
#     writes the same CSV bytes again; batch_runs records each run;
#   - archive-raw: each hour's three files hold exactly the hour's rows (a
#     transaction with its items), a rerun writes the same bytes, a kill -9
#     mid-write leaves no partial file (and no temporary name) behind and
#     the rerun after it writes the same bytes; SIGTERM mid-write exits 1
#     within the bound and records the interruption;
#   - --drop-before refuses a day with an hour not archived (or with rows
#     the archive lacks) and drops one that is wholly archived;
#   - bad arguments exit 2 with a message.
#
# Usage: tests/integration/test_batch.sh [BIN_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"

batch=$bin/ecom-batch
oracle=$repo/tests/integration/batch_oracle.py
[[ -x $batch ]] || { echo "test_batch: $batch is not built" >&2; exit 1; }

start_pg >/dev/null
export PGTZ=UTC
lake=$tmp/lake
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }

# --- the corpus, straight into the raw tables (daily partitions first)
/usr/bin/python3 "$oracle" corpus "$tmp"
/usr/bin/python3 "$oracle" expect "$tmp"
q "select ecom_ensure_daily_partitions('2026-09-14', '2026-09-14'),
          ecom_ensure_daily_partitions('2026-10-30', '2026-11-02')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 <<EOF
\copy user_events (event_id, user_id, event_type, event_time, product_id, price, search_query, session_id) from '$tmp/user_events.csv' csv
\copy transactions (transaction_id, user_id, event_time, total_amount, totals_match) from '$tmp/transactions.csv' csv
\copy transaction_items (transaction_id, line_no, event_time, product_id, price, quantity, item_total) from '$tmp/transaction_items.csv' csv
\copy inventory_updates (event_id, product_id, stock_change, current_stock, warehouse_location, event_time) from '$tmp/inventory_updates.csv' csv
EOF
check "corpus loaded" "$(for t in user_events transactions transaction_items inventory_updates; do wc -l <"$tmp/$t.csv"; done | paste -sd'|')" \
    "$(q "select (select count(*) from user_events), (select count(*) from transactions),
                 (select count(*) from transaction_items), (select count(*) from inventory_updates)")"

# The rows of a job's table, in the oracle's form, sorted.
declare -A table_query=(
    [hourly-sales]="select hour, category, orders, units, revenue, avg_order_value, distinct_buyers from hourly_sales_by_category"
    [daily-engagement]="select day, active_users, new_users, returning_users, sessions, events, events_per_session, product_views, add_to_carts, searches, purchases, view_to_cart_rate, cart_to_purchase_rate from daily_user_engagement"
    [weekly-inventory-turnover]="select week_start, product_id, warehouse_location, updates, units_sold, avg_stock, turnover_ratio, days_of_cover, stock_outs from weekly_inventory_turnover"
    [monthly-cohorts]="select cohort_month, months_since, activity_month, cohort_size, active_buyers, retention_rate, revenue from monthly_cohort_retention"
)
rows_of() { q "${table_query[$1]}" | LC_ALL=C sort; }
same_as_oracle() { # NAME JOB
    local diff
    if diff=$(diff <(rows_of "$2") "$tmp/expect.$2"); then
        ok "$1 ($(wc -l <"$tmp/expect.$2") rows)"
    else
        not_ok "$1: table (<) and oracle (>) differ:"
        head -n 20 <<<"$diff" | sed 's/^/    /'
    fi
}

# --- A. every aggregate job against the oracle
declare -A job_for=(
    [hourly-sales]="--for 2026-11-01"
    [daily-engagement]="--from 2026-10-31 --to 2026-11-01"
    [weekly-inventory-turnover]="--from 2026-W44 --to 2026-W45"
    [monthly-cohorts]="--from 2026-10 --to 2026-11"
)
for job in hourly-sales daily-engagement weekly-inventory-turnover monthly-cohorts; do
    # shellcheck disable=SC2086
    expect_status "$job ${job_for[$job]} exits 0" 0 "$batch" "$job" ${job_for[$job]} --export --lake "$lake" -P 0
    same_as_oracle "$job: rows equal the oracle's" "$job"
done
check "hourly-sales: 24 successful runs recorded, rows written = table rows" "24|$(rows_of hourly-sales | wc -l)" \
    "$(q "select count(*), sum(rows_written) from batch_runs where job = 'hourly-sales' and status = 'success'")"
check "monthly-cohorts: two runs recorded with their periods" \
    "2026-10-01 00:00:00+00|2026-11-01 00:00:00+00|success,2026-11-01 00:00:00+00|2026-12-01 00:00:00+00|success" \
    "$(q "select period_start, period_end, status from batch_runs where job = 'monthly-cohorts' order by 1" | paste -sd,)"
check "--export: one CSV per period" "24 2 2 2" \
    "$(ls "$lake/aggregated/hourly-sales" | wc -l) $(ls "$lake/aggregated/daily-engagement" | wc -l) $(ls "$lake/aggregated/weekly-inventory-turnover" | wc -l) $(ls "$lake/aggregated/monthly-cohorts" | wc -l)"
check "--export: the CSV holds the header and the period's rows" \
    "week_start,product_id,warehouse_location,updates,units_sold,avg_stock,turnover_ratio,days_of_cover,stock_outs $(grep -c '^2026-11-02' "$tmp/expect.weekly-inventory-turnover")" \
    "$(head -n 1 "$lake/aggregated/weekly-inventory-turnover/2026-W45.csv") $(($(wc -l <"$lake/aggregated/weekly-inventory-turnover/2026-W45.csv") - 1))"

# --- B. idempotence: re-runs and an overlapping backfill
sums() { (cd "$lake/aggregated" && find . -type f -name '*.csv' | LC_ALL=C sort | xargs sha256sum); }
sums >"$tmp/sums.before"
for job in hourly-sales daily-engagement weekly-inventory-turnover monthly-cohorts; do
    # shellcheck disable=SC2086
    expect_status "$job: the re-run (one connection) exits 0" 0 "$batch" "$job" ${job_for[$job]} --export --lake "$lake" -P 0 -j 1
    same_as_oracle "$job: the re-run leaves the same rows" "$job"
done
check "re-runs: every exported CSV has the same bytes" "" "$(sums | diff - "$tmp/sums.before")"
expect_status "hourly-sales: an overlapping backfill exits 0" 0 \
    "$batch" hourly-sales --from 2026-10-31T20 --to 2026-11-01T05:30 -P 0 -j 3
check "the backfill covered its 10 hours" 10 \
    "$(q "select count(distinct period_start) from batch_runs where job = 'hourly-sales' and period_start < '2026-11-01'::timestamptz + interval '6 hours' and period_start >= '2026-10-31 20:00+00'")"
check "the overlapping backfill changed no row of 2026-11-01" "" \
    "$(diff <(rows_of hourly-sales | grep '^2026-11-01') "$tmp/expect.hourly-sales")"

# --- C. archive-raw
hour_dir() { printf '%s/raw/%s/dt=%s' "$lake" "$1" "$2"; }
# lines_of FILE: the JSON lines of a gzipped archive.
lines_of() { gzip -dc "$1" | wc -l; }
expect_status "archive-raw --for 2026-11-01T10 exits 0" 0 "$batch" archive-raw --for 2026-11-01T10 --lake "$lake" -P 0
for t in user-events:user_events transactions:transactions inventory-updates:inventory_updates; do
    topic=${t%%:*} table=${t#*:}
    f=$(hour_dir "$topic" 2026-11-01)/hr=10.jsonl.gz
    check "archive-raw: $topic holds the hour's rows" \
        "$(q "select count(*) from $table where event_time >= '2026-11-01 10:00+00' and event_time < '2026-11-01 11:00+00'")" \
        "$([[ -f $f ]] && lines_of "$f")"
done
f=$(hour_dir transactions 2026-11-01)/hr=10.jsonl.gz
check "archive-raw: the transactions carry their line items" \
    "$(q "select count(*) from transaction_items where event_time >= '2026-11-01 10:00+00' and event_time < '2026-11-01 11:00+00'")" \
    "$(gzip -dc "$f" | /usr/bin/python3 -c 'import json,sys; print(sum(len(json.loads(l)["items"]) for l in sys.stdin))')"
check "archive-raw: the user events are the hour's, by id, in event-time order" \
    "$(q "select event_id from user_events where event_time >= '2026-11-01 10:00+00' and event_time < '2026-11-01 11:00+00' order by event_time, event_id" | paste -sd,)" \
    "$(gzip -dc "$(hour_dir user-events 2026-11-01)/hr=10.jsonl.gz" | /usr/bin/python3 -c 'import json,sys; print(",".join(json.loads(l)["event_id"] for l in sys.stdin))')"
# Each object as PostgreSQL's own row_to_json() writes the row (parsed, so
# key order and number spelling aside).
norm() { /usr/bin/python3 -c 'import json,sys; [print(json.dumps(json.loads(l), sort_keys=True)) for l in sys.stdin]'; }
hour10="event_time >= '2026-11-01 10:00+00' and event_time < '2026-11-01 11:00+00'"
check "archive-raw: user-events objects equal row_to_json() of the rows" "" \
    "$(diff <(gzip -dc "$(hour_dir user-events 2026-11-01)/hr=10.jsonl.gz" | norm) \
            <(q "select row_to_json(e) from (select * from user_events where $hour10 order by event_time, event_id) e" | norm))"
check "archive-raw: transactions objects equal row_to_json() of the rows with their items" "" \
    "$(diff <(gzip -dc "$(hour_dir transactions 2026-11-01)/hr=10.jsonl.gz" | norm) \
            <(q "select row_to_json(x) from (select t.*, coalesce((select json_agg(json_build_object('line_no', line_no, 'product_id', product_id, 'product_name', product_name, 'price', price, 'quantity', quantity, 'item_total', item_total) order by line_no) from transaction_items i where i.transaction_id = t.transaction_id and i.event_time = t.event_time), '[]') as items from transactions t where t.$hour10 order by t.event_time, t.transaction_id) x" | norm))"
check "archive-raw: lake_archives records the three files" "3" \
    "$(q "select count(*) from lake_archives where hour = '2026-11-01 10:00+00' and bytes > 0")"
sha_a=$(sha256sum "$(hour_dir user-events 2026-11-01)/hr=10.jsonl.gz" | cut -d' ' -f1)
expect_status "archive-raw: the rerun exits 0" 0 "$batch" archive-raw --for 2026-11-01T10 --lake "$lake" -P 0
check "archive-raw: the rerun writes the same bytes" "$sha_a" \
    "$(sha256sum "$(hour_dir user-events 2026-11-01)/hr=10.jsonl.gz" | cut -d' ' -f1)"

# A big hour (400,000 user events) so that a write takes long enough to be
# interrupted; its first archive is the reference.
q "select ecom_ensure_daily_partitions('2026-10-15', '2026-10-15')" >/dev/null
q "insert into user_events (event_id, user_id, event_type, event_time, product_id, price, session_id, user_agent)
   select md5('big' || i)::uuid, 'U' || lpad((i % 1000 + 1)::text, 4, '0'), 'product_view',
          '2026-10-15 10:00+00'::timestamptz + i * interval '9 ms', 'P00' || (i % 9 + 1), 10 + i % 500,
          'S' || (i % 5000), repeat('Mozilla/5.0 ', 8)
     from generate_series(0, 399999) i" >/dev/null
big=$(hour_dir user-events 2026-10-15)/hr=10.jsonl.gz
expect_status "archive-raw: the big hour's first archive exits 0" 0 "$batch" archive-raw --for 2026-10-15T10 --lake "$lake" -P 0
check "archive-raw: the big hour holds its 400000 rows" 400000 "$(lines_of "$big")"
sha_big=$(sha256sum "$big" | cut -d' ' -f1)
rm -f "$big"

# wait_writing PID: until PID holds an unnamed lake file open (O_TMPFILE: the
# link reads "<dir>/#<inode> (deleted)"), at most 20 s.
wait_writing() {
    local fd
    for _ in $(seq 2000); do
        for fd in /proc/"$1"/fd/*; do
            [[ $(readlink "$fd" 2>/dev/null) == "$lake"/raw/user-events/dt=2026-10-15/* ]] && return 0
        done
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}
"$batch" archive-raw --for 2026-10-15T10 --lake "$lake" -P 0 >"$tmp/kill.out" 2>"$tmp/kill.err" &
pid=$!
if wait_writing "$pid"; then
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    check "kill -9 mid-write: no file and no temporary name left" "" \
        "$(ls -A "$(hour_dir user-events 2026-10-15)")"
else
    not_ok "kill -9 mid-write: never saw the file being written"
    wait "$pid" 2>/dev/null || true
fi
expect_status "kill -9 mid-write: the rerun exits 0" 0 "$batch" archive-raw --for 2026-10-15T10 --lake "$lake" -P 0
check "kill -9 mid-write: the rerun writes the same bytes as the first archive" "$sha_big" \
    "$([[ -f $big ]] && sha256sum "$big" | cut -d' ' -f1)"

rm -f "$big"
"$batch" archive-raw --for 2026-10-15T10 --lake "$lake" -P 0 >"$tmp/term.out" 2>"$tmp/term.err" &
pid=$!
if wait_writing "$pid"; then
    t0=$(date +%s%N)
    kill -TERM "$pid"
    rc=0
    wait "$pid" || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    check "SIGTERM mid-write: exit status 1 (interrupted)" 1 "$rc"
    check_range "SIGTERM mid-write: exits within 2 s (ms)" 0 2000 "$ms"
    check "SIGTERM mid-write: no file left" "" "$(ls -A "$(hour_dir user-events 2026-10-15)")"
    check "SIGTERM mid-write: the run is recorded as interrupted" 1 \
        "$(q "select count(*) from batch_runs where job = 'archive-raw' and status = 'failed'
              and period_start = '2026-10-15 10:00+00' and error like '%interrupted%'")"
else
    not_ok "SIGTERM mid-write: never saw the file being written"
    wait "$pid" 2>/dev/null || true
fi

# --- D. --drop-before
parts() { q "select count(*) from pg_class where relname ~ ('_p' || replace('$1', '-', '') || '\$')"; }
check "2026-11-01 has its four daily partitions" 4 "$(parts 2026-11-01)"
expect_status "--drop-before: refuses a day not wholly archived (exit 1)" 1 \
    "$batch" archive-raw --for 2026-11-01T11 --drop-before 2026-11-02 --lake "$lake" -P 0
grep -q "refusing to drop 2026-09-14: hour 2026-09-14T00 of inventory-updates is not archived" "$tmp/err" &&
    ok "--drop-before: names the first hour not archived" ||
    not_ok "--drop-before: stderr lacks the hour: $(tail -n 3 "$tmp/err")"
check "--drop-before: the refused days keep their partitions" "4 4" "$(parts 2026-09-14) $(parts 2026-11-01)"
check "--drop-before: the refusal is recorded" 1 \
    "$(q "select count(*) from batch_runs where job = 'drop-archived' and status = 'failed' and error like '%not archived%'")"
expect_status "archive-raw --for 2026-09-14 (24 hours) exits 0" 0 "$batch" archive-raw --for 2026-09-14 --lake "$lake" -P 0
check "24 hours x 3 topics archived, empty hours included" 72 \
    "$(q "select count(*) from lake_archives where hour >= '2026-09-14' and hour < '2026-09-15'")"
# A late event for an archived hour: the archive lacks it, so no drop.
q "insert into inventory_updates (event_id, product_id, stock_change, current_stock, warehouse_location, event_time)
   values ('00000000-0000-0000-0000-00000000beef', 'P001', -1, 10, 'NYC', '2026-09-14 05:00+00')" >/dev/null
expect_status "--drop-before: refuses a day with rows the archive lacks (exit 1)" 1 \
    "$batch" archive-raw --for 2026-11-01T12 --drop-before 2026-09-15 --lake "$lake" -P 0
grep -q "refusing to drop 2026-09-14: hour 2026-09-14T05 of inventory-updates holds rows the archive lacks" "$tmp/err" &&
    ok "--drop-before: names the hour with rows the archive lacks" ||
    not_ok "--drop-before: stderr lacks the hour: $(tail -n 3 "$tmp/err")"
check "--drop-before: the day keeps its partitions" 4 "$(parts 2026-09-14)"
expect_status "--drop-before: after re-archiving that hour the drop goes through" 0 \
    "$batch" archive-raw --for 2026-09-14T05 --drop-before 2026-09-15 --lake "$lake" -P 0
check "--drop-before: the day's partitions are gone" 0 "$(parts 2026-09-14)"
check "--drop-before: its rows went with them, later days stay" "0|2800" \
    "$(q "select (select count(*) from user_events where event_time < '2026-09-15'),
                 (select count(*) from user_events where event_time >= '2026-10-30')")"
check "--drop-before: the drop is recorded" "1|4" \
    "$(q "select count(*), sum(rows_written) from batch_runs where job = 'drop-archived' and status = 'success'")"
check "--drop-before: the archive of the dropped day stays" 72 \
    "$(find "$lake/raw" -path '*dt=2026-09-14*' -name 'hr=*.jsonl.gz' | wc -l)"

# --- E. failures and bad arguments
expect_status "an unwritable lake fails the run (exit 1)" 1 \
    "$batch" daily-engagement --for 2026-11-01 --export --lake /proc/ecom-lake -P 0
check "... recorded with its reason" 1 \
    "$(q "select count(*) from batch_runs where job = 'daily-engagement' and status = 'failed' and error like '%/proc/ecom-lake%'")"
check "... and rolled back: the day's row is the oracle's" "" \
    "$(diff <(rows_of daily-engagement) "$tmp/expect.daily-engagement")"
# 1,512 hours (about 1.5 s here): long enough for the progress line, which
# the waiting thread prints at its 100 ms wake-ups.
expect_status "progress lines: a backfill with -P 0.01 exits 0" 0 \
    "$batch" hourly-sales --from 2026-09-01 --to 2026-11-02 -P 0.01 -j 1
grep -q "ecom-batch INFO: progress: hourly-sales: [0-9]*/1512 periods" "$tmp/err" &&
    ok "progress lines: printed during the backfill" ||
    not_ok "progress lines: none in: $(head -n 3 "$tmp/err")"
expect_status "--version exits 0" 0 "$batch" --version
grep -q "^ecom-batch [0-9.]* (libpq [0-9]*)$" "$tmp/out" && ok "--version names the program and libpq" ||
    not_ok "--version: $(cat "$tmp/out")"
expect_status "--help exits 0" 0 "$batch" --help
check "--help lists the five jobs" 5 "$(grep -cE '^  (hourly-sales|daily-engagement|weekly-inventory-turnover|monthly-cohorts|archive-raw) ' "$tmp/out")"
check_bad_flags "$batch" <<'EOF'
|no job named
nightly|unknown job "nightly"
hourly-sales --for 2026-02-30|day 30 out of range
hourly-sales --for yesterday|not a period
daily-engagement --from 2026-11-02 --to 2026-11-01|is before --from
monthly-cohorts --from 2016-01 --to 2026-01|split the backfill
hourly-sales --from 2026-11-01|--from and --to go together
hourly-sales --for 2026-11-01 --to 2026-11-02|cannot be combined
archive-raw --export|--export does not apply
hourly-sales --drop-before 2026-11-01|--drop-before does not apply
archive-raw --drop-before 2026-11|expected a date
archive-raw --gzip-level 0|--gzip-level
hourly-sales extra|unexpected argument
hourly-sales --bogus|--bogus
EOF
finish
