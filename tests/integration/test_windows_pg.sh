#!/usr/bin/env bash
# tests/integration/test_windows_pg.sh - stream/windows.c, sql/windows.sql
# and sql/checks/windows.sql against a real, throwaway PostgreSQL. Applies
# sql/windows.sql (twice: it must be idempotent) after init.sql, runs the
# cmocka program stream_test_windows (stream/tests/test_windows.c), whose
# cases run the consistency check after each scenario and corrupt rows on
# purpose; checks the check on an empty database and that re-applying
# takes no lock; then runs the program once more under valgrind (unless
# the binary is an ASan build; scripts/deps.sh installs valgrind).
#
# Usage: tests/integration/test_windows_pg.sh [BIN_DIR]
#   BIN_DIR holds stream_test_windows (default: <repo>/build/bin). Fails
#   when it is not built or valgrind is missing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"

find_cmocka stream_test_windows

# The schema as ecom-stream's start applies it: init.sql, then windows.sql.
cat "$repo/sql/init.sql" "$repo/sql/windows.sql" >"$tmp/schema.sql"
export ECOM_PG_INIT_SQL=$tmp/schema.sql
start_pg >/dev/null
export ECOM_WINDOWS_TEST_DB=throwaway ECOM_WINDOWS_CHECK=$repo/sql/checks/windows.sql
q() { psql -X -A -t -q -c "$1"; }
apply_windows_sql() { psql -X -q -v ON_ERROR_STOP=1 -f "$repo/sql/windows.sql" 2>&1; }

check "the window tables exist" 6 \
    "$(q "select count(*) from pg_class where relkind = 'r' and relname in ('product_window_metrics', 'category_window_metrics', 'traffic_window_metrics', 'trending_products', 'window_users', 'window_sessions')")"
check "late columns on the three raw tables and their partitions" 0 \
    "$(q "select count(*) from pg_class c where c.relname ~ '^(user_events|transactions|inventory_updates)(_p[0-9]{8}|_default)?$' and not exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'late' and a.attnotnull and not a.attisdropped)")"
check "stream_offsets has max_event_time and watermark" 2 \
    "$(q "select count(*) from information_schema.columns where table_name = 'stream_offsets' and column_name in ('max_event_time', 'watermark')")"
check "three partial indexes on the open windows" 3 \
    "$(q "select count(*) from pg_indexes where indexname like '%window_metrics_open_idx' and indexdef like '%WHERE (NOT is_final)%'")"
check "re-applying windows.sql prints nothing and succeeds" "" "$(apply_windows_sql)"
# (init.sql's own notices about existing tables are expected)
check "re-applying init.sql then windows.sql succeeds without warnings" "0 0" \
    "$(rc=0; psql -X -q -v ON_ERROR_STOP=1 -f "$tmp/schema.sql" >/dev/null 2>"$tmp/reapply.err" || rc=$?
       echo "$rc $(grep -cE 'ERROR|WARNING' "$tmp/reapply.err")")"
check "... and keeps the columns" 6 \
    "$(q "select count(*) from information_schema.columns where (table_name, column_name) in (('user_events', 'late'), ('transactions', 'late'), ('inventory_updates', 'late'), ('stream_offsets', 'max_event_time'), ('stream_offsets', 'watermark'), ('products', 'catalog_event_time'))")"

# Re-applying while a flush holds its locks must not wait: an open
# transaction holding ROW EXCLUSIVE on every table windows.sql touches.
psql -X -q -c "begin; lock table user_events, transactions, inventory_updates, stream_offsets, products, product_window_metrics, category_window_metrics, traffic_window_metrics in row exclusive mode; select pg_sleep(20); commit;" >/dev/null 2>&1 &
locker=$!
sleep 1
start_s=$SECONDS
if out=$(PGOPTIONS='-c lock_timeout=5000' apply_windows_sql); then
    ok "re-applying windows.sql beside an open flush takes no conflicting lock ($((SECONDS - start_s)) s)"
else
    not_ok "re-applying windows.sql beside an open flush: $out"
fi
kill "$locker" 2>/dev/null || true
wait "$locker" 2>/dev/null || true

check "the check on empty tables prints nothing" "" \
    "$(psql -X -q -v ON_ERROR_STOP=1 -f "$ECOM_WINDOWS_CHECK" 2>&1)"
check "the check with a consumer group prints nothing" "" \
    "$(psql -X -q -v ON_ERROR_STOP=1 -v consumer_group=nobody -f "$ECOM_WINDOWS_CHECK" 2>&1)"

run_cmocka "window tests against PostgreSQL" "$test_bin"
check "the check after the run prints nothing" "" \
    "$(psql -X -q -v ON_ERROR_STOP=1 -v consumer_group=test-windows -f "$ECOM_WINDOWS_CHECK" 2>&1)"
check "the run left the catalog as seeded" 10 "$(q "select count(*) from products")"

run_cmocka_valgrind "window tests under valgrind" "$test_bin" --track-origins=yes
finish
