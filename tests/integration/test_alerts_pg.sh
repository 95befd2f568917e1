#!/usr/bin/env bash
# tests/integration/test_alerts_pg.sh - stream/alerts.c and sql/alerts.sql
# against a real, throwaway PostgreSQL. Starts a fresh cluster with
# sql/init.sql (scripts/pg-local.sh), applies sql/alerts.sql twice (it must
# be idempotent), runs the cmocka program stream_test_alerts
# (stream/tests/test_alerts.c) with ECOM_ALERTS_SQL set so that its
# re-apply-while-a-flush-is-open case runs too, and ECOM_ALERTS_CHECK so
# that its case of the consistency check sql/checks/alerts.sql runs (no
# difference after real batches, exactly the row of each error planted);
# checks the check on the empty tables; then checks from psql that the run
# left no rows behind; then runs it once more under valgrind (unless the
# binary is an ASan build; scripts/deps.sh installs valgrind).
#
# Usage: tests/integration/test_alerts_pg.sh [BIN_DIR]
#   BIN_DIR holds stream_test_alerts (default: <repo>/build/bin). Fails when
#   it is not built or valgrind is missing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"

find_cmocka stream_test_alerts

start_pg >/dev/null
export ECOM_ALERTS_SQL=$repo/sql/alerts.sql ECOM_ALERTS_CHECK=$repo/sql/checks/alerts.sql
q() { psql -X -A -t -q -c "$1"; }
apply_alerts() { psql -X -q -v ON_ERROR_STOP=1 -f "$ECOM_ALERTS_SQL" 2>&1; }
run_check() { psql -X -q -v ON_ERROR_STOP=1 "$@" -f "$ECOM_ALERTS_CHECK" 2>&1; }

check "sql/alerts.sql applies on a fresh schema" "" "$(apply_alerts)"
check "sql/alerts.sql applies again, silently" "" "$(apply_alerts)"
check "the four tables exist" 4 \
    "$(q "select count(*) from pg_class where relkind = 'r' and relname in ('fraud_alerts', 'inventory_levels', 'inventory_alerts', 'inventory_thresholds')")"
check "velocity index on transactions (user_id, event_time)" 1 \
    "$(q "select count(*) from pg_indexes where tablename = 'transactions' and indexdef like '%(user_id, event_time)%'")"

check "the check on empty tables prints nothing" "" "$(run_check)"
check "the check with every -v setting prints nothing" "" \
    "$(run_check -v velocity_count=2 -v velocity_window_ms=1500 -v high_value_cents=100 -v max_quantity=0 -v low_stock=7)"

run_cmocka "alerts tests against PostgreSQL" "$test_bin"
check "the check after the run prints nothing" "" "$(run_check)"

check "the test run removed its rows" "0 0 0 0 0 0 0" \
    "$(q "select (select count(*) from transactions), (select count(*) from transaction_items), (select count(*) from inventory_updates), (select count(*) from fraud_alerts), (select count(*) from inventory_levels), (select count(*) from inventory_alerts), (select count(*) from inventory_thresholds)" | tr '|' ' ')"

run_cmocka_valgrind "alerts tests under valgrind" "$test_bin"
finish
