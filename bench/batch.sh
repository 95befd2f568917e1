#!/usr/bin/env bash
# bench/batch.sh - issue 10's benchmark of ecom-batch: every job over a day
# of EVENTS stored events (10 million by default), and archive-raw against
# psql \copy ... TO of the same rows, in one run, one table.
#
# Starts its own throwaway PostgreSQL 15 (scripts/pg-local.sh, the schema
# applied, default server settings) and fills one UTC day (2026-11-10, a
# Tuesday, with its daily partitions) straight from SQL generate_series, in
# the simulator's mix: 92.3% user events (views, carts, searches), 4.6%
# transactions with 1 to 3 line items, 3.1% inventory updates; 1,000
# users, the catalog's products and warehouses. Then VACUUM ANALYZE and a
# CHECKPOINT. Every job then runs once on the day (--for 2026-11-10:
# hourly-sales its 24 hours, the weekly and monthly jobs the week and month
# holding it); each job's wall time is ecom-batch's, from start to exit.
# Then ecom-quality's checks over the day, and over one hour of it.
#
# archive-raw (24 hours x 3 topics, gzip level 1) against psql \copy of the
# same rows to plain files: once "(SELECT * ...) TO" (the rows as COPY
# text) and once the same JSON lines archive-raw writes (row_to_json, the
# items inside the transactions) without compression, each for the whole
# day at once; the reference runs first so that both read a warm cache.
# Goals: every job (ecom-quality's runs included) under 30 s; archive-raw
# at least 50% of \copy's rows/s.
#
# Usage: bench/batch.sh [-n EVENTS] [--keep]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/build/bin
pgbin=${ECOM_PG_BINDIR:-/usr/lib/postgresql/15/bin}
prog=bench/batch.sh
events=10000000
day=2026-11-10

usage() {
    cat <<EOF
Usage: $prog [OPTION]...
Times every ecom-batch job over one day of stored events and archive-raw
against psql \\copy ... TO of the same rows, on a throwaway PostgreSQL.

  -n, --events=N   events in the day (default: 10000000)
  -h, --help       show this help and exit

Needs the project's build (built into build/ if missing) and scripts/deps.sh.
ECOM_BENCH_KEEP=1 keeps the run's directory. Results: stdout and
bench/results/batch-DATE.txt.
EOF
}

. "$repo/bench/lib.sh"

while (($#)); do
    case $1 in
    -n | --events) (($# >= 2)) || usage_error "option $1 requires a value"; events=$2; shift ;;
    --events=*) events=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option \"$1\"" ;;
    esac
    shift
done
posint -n/--events "$events" 1000

[[ -x $bin/ecom-batch ]] || "$repo/scripts/build.sh" "$repo/build" >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-batch.XXXXXX")
chmod 755 "$tmp" # as root, PostgreSQL runs as "postgres" and must enter it
pg_started=
trap end_run EXIT
trap 'exit 130' INT TERM

start_pg
say "PostgreSQL on port $PGPORT; filling $day with $events events"
n_ue=$((events * 923 / 1000))
n_tx=$((events * 46 / 1000))
n_inv=$((events - n_ue - n_tx))
t0=$(date +%s.%N)
sql "select ecom_ensure_daily_partitions('$day', '$day')" >/dev/null
# Times spread over the day; ids from md5 (deterministic); user i % 1000.
sql "insert into user_events (event_id, user_id, event_type, event_time, product_id, product_name,
        category, price, search_query, session_id, ip_address, user_agent, kafka_partition, kafka_offset)
     select md5('ue' || i)::uuid, 'U' || lpad((i * 7919 % 1000 + 1)::text, 4, '0'),
            (array['product_view', 'product_view', 'product_view', 'product_view', 'product_view',
                   'product_view', 'add_to_cart', 'add_to_cart', 'search'])[i % 9 + 1],
            '$day'::timestamptz + (i::float8 / $n_ue) * interval '1 day',
            case when i % 9 <> 8 then 'P' || lpad((i % 10 + 1)::text, 3, '0') end,
            case when i % 9 <> 8 then 'Product ' || (i % 10 + 1) end,
            case when i % 9 <> 8 then (array['Electronics', 'Footwear', 'Clothing', 'Home & Kitchen'])[i % 4 + 1] end,
            case when i % 9 <> 8 then 10 + (i % 990) end,
            case when i % 9 = 8 then 'running shoes' end,
            'S' || (i * 7919 % 1000) || '-' || (i / 20000), '10.0.' || (i % 250) || '.' || (i % 200),
            'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', i % 3, i / 3
       from generate_series(0::bigint, $n_ue - 1) i" >/dev/null
say "  user_events: $n_ue rows"
sql "insert into transactions (transaction_id, user_id, event_time, payment_method, total_amount,
        tax_amount, shipping_cost, shipping_address, item_count, totals_match, kafka_partition, kafka_offset)
     select md5('tx' || i)::uuid, 'U' || lpad((i * 7919 % 1000 + 1)::text, 4, '0'),
            '$day'::timestamptz + (i::float8 / $n_tx) * interval '1 day', 'credit_card',
            (i % 3 + 1) * (20 + i % 400), 0, 0, '{\"city\": \"Chicago\", \"country\": \"US\"}', i % 3 + 1, true,
            i % 3, i / 3
       from generate_series(0::bigint, $n_tx - 1) i" >/dev/null
sql "insert into transaction_items (transaction_id, line_no, event_time, product_id, product_name, price,
        quantity, item_total)
     select md5('tx' || i)::uuid, l, '$day'::timestamptz + (i::float8 / $n_tx) * interval '1 day',
            'P' || lpad(((i + l) % 10 + 1)::text, 3, '0'), 'Product', 20 + i % 400, 1, 20 + i % 400
       from generate_series(0::bigint, $n_tx - 1) i, generate_series(1, i % 3 + 1) l" >/dev/null
say "  transactions: $n_tx rows, with their items"
sql "insert into inventory_updates (event_id, product_id, product_name, stock_change, current_stock,
        warehouse_location, event_time, kafka_partition, kafka_offset)
     select md5('inv' || i)::uuid, 'P' || lpad((i % 10 + 1)::text, 3, '0'), 'Product', -(i % 7),
            (i * 31) % 300, (array['NYC', 'LAX', 'CHI', 'MIA'])[(i / 10) % 4 + 1],
            '$day'::timestamptz + (i::float8 / $n_inv) * interval '1 day', i % 3, i / 3
       from generate_series(0::bigint, $n_inv - 1) i" >/dev/null
say "  inventory_updates: $n_inv rows"
sql "vacuum analyze" >/dev/null
sql_super "checkpoint" >/dev/null
fill_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
rows_day=$(sql "select (select count(*) from user_events) + (select count(*) from transactions)
                     + (select count(*) from inventory_updates)")
say "filled in $fill_s s: $rows_day events, $(sql "select pg_size_pretty(pg_database_size(current_database()))")"

results=()
# run_job NAME CMD...: times CMD; appends "name|seconds|written|rss".
run_job() {
    local name=$1 s written
    shift
    timed "$name" "$tmp/$name.out" "$@"
    s=$(cut -d' ' -f1 "$tmp/$name.res")
    if [[ $1 == "$bin/ecom-quality" ]]; then
        written="20 results"
        say "  $name: $s s, $(grep -c ' fail ' "$tmp/$name.out" || true) checks failed"
    else
        written=$(grep -o '[0-9]* rows, [0-9]* files' "$tmp/$name.err" | tail -n 1 | cut -d' ' -f1)
        say "  $name: $s s, $written rows written"
    fi
    results+=("$name|$s|$written|$(cut -d' ' -f2 "$tmp/$name.res")")
}
batch_job() { # NAME ARGS...: ecom-batch into the run's lake
    local name=$1
    shift
    run_job "$name" "$bin/ecom-batch" "$@" --lake "$tmp/lake" -P 10
}

say "reference: psql \\copy of the day's rows"
copy_ref() { # NAME SELECT...: one \copy per SELECT, each to its own file
    local name=$1 t i=0
    shift
    : >"$tmp/$name.sql"
    for t in "$@"; do
        i=$((i + 1))
        printf '\\copy (%s) to %s\n' "$t" "'$tmp/$name.$i.out'" >>"$tmp/$name.sql"
    done
    timed "$name" /dev/null "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -f "$tmp/$name.sql"
    say "  $name: $(cut -d' ' -f1 "$tmp/$name.res") s, $(cat "$tmp/$name".*.out | wc -c | awk '{ printf "%.0f", $1 / 1048576 }') MB"
    rm -f "$tmp/$name".*.out
}
range="event_time >= '$day' and event_time < '$day'::date + 1"
copy_ref copy-rows "select * from user_events where $range" "select * from transactions where $range" \
    "select * from transaction_items where $range" "select * from inventory_updates where $range"
copy_ref copy-json "select row_to_json(e) from user_events e where $range" \
    "select row_to_json(x) from (select t.*, i.items from transactions t left join (select transaction_id, event_time, json_agg(json_build_object('line_no', line_no, 'product_id', product_id, 'product_name', product_name, 'price', price, 'quantity', quantity, 'item_total', item_total) order by line_no) items from transaction_items where $range group by 1, 2) i using (transaction_id, event_time) where t.$range) x" \
    "select row_to_json(e) from inventory_updates e where $range"

say "ecom-batch, each job once over $day"
batch_job hourly-sales hourly-sales --for "$day"
batch_job daily-engagement daily-engagement --for "$day"
batch_job weekly-inventory-turnover weekly-inventory-turnover --for "$day"
batch_job monthly-cohorts monthly-cohorts --for "$day"
batch_job archive-raw archive-raw --for "$day"
# ecom-quality over the whole day (every check, one snapshot), and over one
# hour, as its default period is; exit 1 (a failed check) is a result here.
TIMED_OK="0 1" run_job "ecom-quality (the day)" "$bin/ecom-quality" --for "$day"
TIMED_OK="0 1" run_job "ecom-quality (an hour)" "$bin/ecom-quality" --for "${day}T12"
archived=$(sql "select sum(rows) from lake_archives")
lake_mb=$(du -sm "$tmp/lake/raw" | cut -f1)

copy_rows_s=$(cut -d' ' -f1 "$tmp/copy-rows.res")
copy_json_s=$(cut -d' ' -f1 "$tmp/copy-json.res")
archive_s=$(cut -d' ' -f1 "$tmp/archive-raw.res")

mkdir -p "$repo/bench/results"
out=$repo/bench/results/batch-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "ecom-batch over one day of $rows_day stored events ($day; filled in $fill_s s), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| job | seconds | rows written | rows/s (events of the day / s) | peak RSS | goal |"
    echo "|---|---|---|---|---|---|"
    for r in "${results[@]}"; do
        IFS='|' read -r name s rows rss <<<"$r"
        awk -v n="$name" -v s="$s" -v w="$rows" -v e="$rows_day" -v m="$rss" 'BEGIN {
            printf "| %s | %.2f | %s | %.0f | %.1f MB | %s |\n", n, s, w, e / s, m / 1024,
                   s < 30 ? "< 30 s: PASS" : "< 30 s: FAIL" }'
    done
    echo
    echo "| archive vs reference (the day's rows) | seconds | rows/s | share of \\copy rows | goal |"
    echo "|---|---|---|---|---|"
    awk -v s="$copy_rows_s" -v e="$rows_day" 'BEGIN { printf "| psql \\copy (SELECT *) TO file | %.2f | %.0f | 100%% | |\n", s, e / s }'
    awk -v s="$copy_json_s" -v c="$copy_rows_s" -v e="$rows_day" 'BEGIN { printf "| psql \\copy (SELECT row_to_json ...) TO file | %.2f | %.0f | %.1f%% | |\n", s, e / s, 100 * c / s }'
    awk -v s="$archive_s" -v c="$copy_rows_s" -v e="$archived" -v mb="$lake_mb" 'BEGIN {
        printf "| ecom-batch archive-raw (gzip -1, %d MB) | %.2f | %.0f | %.1f%% | >= 50%%: %s |\n",
               mb, s, e / s, 100 * c / s, (c / s >= 0.5 ? "PASS" : "FAIL") }'
} | tee "$out"
say "results in $out"
