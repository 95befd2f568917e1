#!/usr/bin/env bash
# tests/integration/test_quality.sh - ecom-quality against a real,
# throwaway PostgreSQL: a clean corpus (25 hours at steady rates, straight
# into the raw tables) passes every check; then each check fails on the
# corpus seeded with exactly its defect, reloaded clean between defects;
# --fix removes exactly the near-duplicates; --export-clean writes the clean
# events; --json; bad arguments exit 2.
#
# Usage: tests/integration/test_quality.sh [BIN_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"

quality=$bin/ecom-quality
[[ -x $quality ]] || { echo "test_quality: $quality is not built" >&2; exit 1; }

start_pg >/dev/null
export PGTZ=UTC
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
H="2026-11-20 10:00+00" # the hour judged; the 24 before it are its history
q "select ecom_ensure_daily_partitions('2026-11-19', '2026-11-20')" >/dev/null

# load_clean: the clean corpus of lib.sh, judged at hour H.
load_clean() { load_clean_corpus "$H"; }
# run_quality NAME STATUS [ARGS...]: ecom-quality --for the hour.
run_quality() {
    local name=$1 want=$2
    shift 2
    expect_status "$name: exit status $want" "$want" "$quality" --for 2026-11-20T10 --lake "$tmp/lake" "$@"
}
# status_of CHECK TABLE: its status in the latest run.
status_of() {
    q "select status from data_quality_results where run_id = (select max(run_id) from data_quality_runs)
         and check_name = '$1' and table_name = '$2'"
}
failing() { # the latest run's failing checks, "check/table,..."
    q "select string_agg(check_name || '/' || table_name, ',' order by check_name, table_name)
         from data_quality_results where run_id = (select max(run_id) from data_quality_runs) and status = 'fail'"
}

# --- the clean corpus passes everything
load_clean
check "the clean hour holds 600 user events, 30 transactions, 40 inventory updates" "600|30|40" \
    "$(q "select (select count(*) from user_events where event_time >= '$H' and event_time < '$H'::timestamptz + interval '1 hour'),
                 (select count(*) from transactions where event_time >= '$H' and event_time < '$H'::timestamptz + interval '1 hour'),
                 (select count(*) from inventory_updates where event_time >= '$H' and event_time < '$H'::timestamptz + interval '1 hour')")"
run_quality "clean corpus" 0
check "clean corpus: 20 results recorded, every one pass" "20|20" \
    "$(q "select count(*), count(*) filter (where status = 'pass') from data_quality_results
           where run_id = (select max(run_id) from data_quality_runs)")"
check "clean corpus: the run's period is the hour" "2026-11-20 10:00:00+00|2026-11-20 11:00:00+00|20|0" \
    "$(q "select period_start, period_end, checks, failed from data_quality_runs order by run_id desc limit 1")"
grep -q "^freshness *user_events *pass" "$tmp/out" && ok "clean corpus: the table on stdout" ||
    not_ok "clean corpus: stdout lacks the freshness row: $(head -n 5 "$tmp/out")"

# --- each defect fails its check
# defect NAME CHECK TABLE SQL: loads the clean corpus, applies SQL, runs.
defect() {
    local name=$1 ck=$2 table=$3
    load_clean
    q "$4" >/dev/null
    run_quality "$name" 1
    check "$name: $ck on $table fails" fail "$(status_of "$ck" "$table")"
}
in_h="event_time >= '$H' and event_time < '$H'::timestamptz + interval '1 hour'"
defect "100 dead letters" schema_validity user-events \
    "insert into dead_letter_events (topic, kafka_key_encoding, payload, payload_encoding, reason, received_at)
     select 'user-events', 'null', '{', 'utf8', 'invalid JSON', '$H'::timestamptz + i * interval '1 second'
       from generate_series(1, 100) i"
check "100 dead letters: details count them by reason" '{"invalid JSON": 100}' \
    "$(q "select details->'by_reason' from data_quality_results where run_id = (select max(run_id) from data_quality_runs)
           and check_name = 'schema_validity' and table_name = 'user-events'")"
check "100 dead letters: the other topics pass" "pass pass" \
    "$(status_of schema_validity transactions) $(status_of schema_validity inventory-updates)"
defect "views without a price" completeness user_events \
    "update user_events set price = null where $in_h and event_type = 'product_view' and kafka_offset % 10 = 0"
defect "offsets with no row" duplicates_exact user-events \
    "delete from user_events where $in_h and kafka_partition = 0 and kafka_offset % 4 = 1"
defect "events repeated within a second" duplicates_near user_events \
    "insert into user_events (event_id, user_id, event_type, event_time, product_id, price, session_id)
     select md5('near' || event_id)::uuid, user_id, event_type, event_time + interval '500 ms', product_id, price, session_id
       from user_events where $in_h and kafka_offset % 20 = 0"
defect "nothing in the hour's last 20 minutes" freshness user_events \
    "delete from user_events where event_time >= '$H'::timestamptz + interval '40 minutes' and event_time < '$H'::timestamptz + interval '1 hour'"
defect "twice the usual volume" volume_anomaly user_events \
    "insert into user_events (event_id, user_id, event_type, event_time, product_id, price, session_id)
     select md5('vol' || i)::uuid, 'V' || i, 'search', '$H'::timestamptz + i * interval '6 seconds', null, null, 'SV'
       from generate_series(0, 599) i"
defect "prices ten times the catalog's" price_anomaly user_events \
    "update user_events set price = price * 10 where $in_h and price is not null and kafka_offset % 30 = 0"
check "prices ten times the catalog's: the offending rows are listed" \
    "$(q "select count(*) from user_events where $in_h and price is not null and kafka_offset % 30 = 0")" \
    "$(q "select jsonb_array_length(details->'rows') from data_quality_results where run_id = (select max(run_id) from data_quality_runs)
           and check_name = 'price_anomaly' and table_name = 'user_events'")"
defect "an item of an unknown product" referential transaction_items \
    "insert into transaction_items (transaction_id, line_no, event_time, product_id, price, quantity, item_total)
     select transaction_id, 2, event_time, 'P999', 5, 1, 5 from transactions where $in_h limit 1"
defect "a stock that does not follow" stock_consistency inventory_updates \
    "update inventory_updates set current_stock = current_stock + 5 where $in_h and kafka_offset = (select min(kafka_offset) from inventory_updates where $in_h and kafka_partition = 0) and kafka_partition = 0"
check "a stock that does not follow: only that check fails" "stock_consistency/inventory_updates" "$(failing)"

# --- --fix removes exactly the near-duplicates; --export-clean skips them
load_clean
q "insert into user_events (event_id, user_id, event_type, event_time, product_id, price, session_id)
   select md5('near' || event_id)::uuid, user_id, event_type, event_time + interval '500 ms', product_id, price, session_id
     from user_events where $in_h and kafka_offset % 20 = 0" >/dev/null
q "update user_events set session_id = null where $in_h and kafka_partition = 0 and kafka_offset = 4807" >/dev/null
check "30 near-duplicates seeded" 30 "$(q "select count(*) from user_events where $in_h and kafka_offset is null")"
run_quality "--export-clean before the fix" 1 --export-clean
check "--export-clean: the hour's user events without the near-duplicates and the incomplete one" 599 \
    "$(gzip -dc "$tmp/lake/processed/user-events/dt=2026-11-20/hr=10.jsonl.gz" | wc -l)"
check "--export-clean: no near-duplicate in the file" 0 \
    "$(gzip -dc "$tmp/lake/processed/user-events/dt=2026-11-20/hr=10.jsonl.gz" | grep -c '"kafka_offset":null' || true)"
check "--export-clean: transactions and inventory updates too" "30 40" \
    "$(gzip -dc "$tmp/lake/processed/transactions/dt=2026-11-20/hr=10.jsonl.gz" | wc -l) $(gzip -dc "$tmp/lake/processed/inventory-updates/dt=2026-11-20/hr=10.jsonl.gz" | wc -l)"
run_quality "--fix" 1 --fix
check "--fix: reports the 30 it removed" 1 "$(grep -c -- '--fix removed 30 near-duplicate user events' "$tmp/out")"
check "--fix: the run records them" 30 "$(q "select removed from data_quality_runs order by run_id desc limit 1")"
check "--fix: exactly the near-duplicates went, the originals stay" "0|600" \
    "$(q "select count(*) filter (where kafka_offset is null), count(*) from user_events where $in_h")"
run_quality "after --fix (the incomplete event only warns)" 0
check "after --fix: no near-duplicate left" pass "$(status_of duplicates_near user_events)"

# --- --json and thresholds
load_clean
run_quality "--json" 0 --json
check "--json: 20 checks, all pass" "20 20" \
    "$(/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); c=j["checks"]; print(len(c), sum(x["status"] == "pass" for x in c))' "$tmp/out")"
run_quality "--threshold freshness=1,2" 1 --threshold freshness=1,2
check "--threshold: freshness now fails (newest event 6 s before the end)" fail "$(status_of freshness user_events)"
check "--threshold: the threshold is recorded" "2|1" \
    "$(q "select threshold, details->>'warn_threshold' from data_quality_results where run_id = (select max(run_id) from data_quality_runs)
           and check_name = 'freshness' and table_name = 'user_events'")"

expect_status "--version exits 0" 0 "$quality" --version
grep -q "^ecom-quality [0-9.]* (libpq [0-9]*)$" "$tmp/out" && ok "--version names the program and libpq" ||
    not_ok "--version: $(cat "$tmp/out")"
expect_status "--help exits 0" 0 "$quality" --help
check "--help lists the nine checks" 9 "$(grep -cE '^  (schema_validity|completeness|duplicates_exact|duplicates_near|freshness|volume_anomaly|price_anomaly|referential|stock_consistency) ' "$tmp/out")"
check_bad_flags "$quality" <<'EOF'
--threshold bogus=1|unknown check "bogus"
--threshold completeness=0.5,0.1|below WARN
--threshold completeness|expected CHECK=WARN
--for 2026-13|month 13
--from 2026-11-20|--from and --to go together
--price-deviation 0|--price-deviation
extra|unexpected argument
--bogus|--bogus
EOF
finish
