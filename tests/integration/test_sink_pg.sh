#!/usr/bin/env bash
# tests/integration/test_sink_pg.sh - stream/sink.c and the stream tables of
# sql/init.sql against a real, throwaway PostgreSQL. Runs the cmocka program
# stream_test_sink (stream/tests/test_sink.c) on a fresh cluster, with
# ECOM_INIT_SQL and ECOM_PG_LOCAL set so that its re-apply and server
# stop/start cases run too; then checks from psql that the run left no rows
# or partitions behind; then runs it once more under valgrind (unless the
# binary is an ASan build; scripts/deps.sh installs valgrind).
#
# Usage: tests/integration/test_sink_pg.sh [BIN_DIR]
#   BIN_DIR holds stream_test_sink (default: <repo>/build/bin). Fails when it
#   is not built or valgrind is missing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"

find_cmocka stream_test_sink

start_pg >/dev/null
export ECOM_INIT_SQL=$repo/sql/init.sql ECOM_PG_LOCAL=$repo/scripts/pg-local.sh
q() { psql -X -A -t -q -c "$1"; }


check "fresh schema: four partitioned raw tables" 4 \
    "$(q "select count(*) from pg_class where relkind = 'p' and relname in ('user_events', 'transactions', 'transaction_items', 'inventory_updates')")"
check "fresh schema: a default and five daily partitions each" "4 20" \
    "$(q "select count(*) filter (where c.relname like '%\_default'), count(*) filter (where c.relname ~ '_p[0-9]{8}$') from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent where p.relname in ('user_events', 'transactions', 'transaction_items', 'inventory_updates')" | tr '|' ' ')"

run_cmocka "sink tests against PostgreSQL" "$test_bin"

check "server is up again after the restart case" 0 "$("$repo/scripts/pg-local.sh" status >/dev/null && echo 0 || echo $?)"
check "the test run removed its rows" "0 0 0 0 0 0" \
    "$(q "select (select count(*) from user_events), (select count(*) from transactions), (select count(*) from transaction_items), (select count(*) from stream_offsets), (select count(*) from dead_letter_events), (select count(*) from stream_gaps)" | tr '|' ' ')"
check "the test run removed its extra partitions" 20 \
    "$(q "select count(*) from pg_class where relkind = 'r' and relname ~ '_p[0-9]{8}$'")"
check "re-applying init.sql creates no partitions" 0 \
    "$(psql -X -A -t -q -v ON_ERROR_STOP=1 -f "$repo/sql/init.sql" 2>/dev/null | tail -n 1)"

run_cmocka_valgrind "sink tests under valgrind" "$test_bin" --track-origins=yes
finish
