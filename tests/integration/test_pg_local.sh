#!/usr/bin/env bash
# tests/integration/test_pg_local.sh - tests scripts/pg-local.sh and sql/init.sql
# on a throwaway cluster (its own data directory in a temp dir and its own
# port), never the developer's data/pg. Starts twice, checks status codes,
# the seeded row counts and the stock total against the formula computed here
# independently, reapplies init.sql through a stop and start, and always stops
# the server and removes the temp dir on exit.
#
# Usage: tests/integration/test_pg_local.sh [BIN_DIR] (the repo: $ECOM_REPO or ../..)
# Exit status 0 when every check passed, 1 otherwise.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
lib_init "$@"
pg_local=$repo/scripts/pg-local.sh
export ECOM_PGDATA=$tmp/pg
export ECOM_PG_QUIET=1
pg_started=1 # lib_cleanup stops the server

query() {
    "$pg_local" psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1" 2>&1
}

counts() {
    query "select (select count(*) from warehouses) || ' ' || (select count(*) from products) || ' ' || (select count(*) from product_stock) || ' ' || (select count(*) from users)"
}

PGPORT=$(free_port) || {
    echo "not ok - no free port found in 55433..60432"
    exit 1
}
export PGPORT
echo "# throwaway cluster: ECOM_PGDATA=$ECOM_PGDATA PGPORT=$PGPORT"

# Expected stock total: product n (1..10) at warehouse w (0..3) starts with
# 40 + ((n * 37 + w * 23) % 11) * 10 units.
expected_stock=0
for ((n = 1; n <= 10; n++)); do
    for ((w = 0; w <= 3; w++)); do
        expected_stock=$((expected_stock + 40 + ((n * 37 + w * 23) % 11) * 10))
    done
done

expect_status "status before the first start exits 3" 3 "$pg_local" status
expect_status "first start succeeds" 0 "$pg_local" start
expect_status "second start is harmless" 0 "$pg_local" start
expect_status "status while running exits 0" 0 "$pg_local" status
if grep -q "running on localhost:$PGPORT" "$tmp/out"; then
    ok "status names the port"
else
    not_ok "status names the port: got \"$(cat "$tmp/out")\""
fi

check "psql connects as the database owner, not a superuser" "true|false" \
    "$(query "select (d.datdba = r.oid) || '|' || r.rolsuper from pg_database d, pg_roles r where d.datname = current_database() and r.rolname = current_user")"
check "row counts (warehouses products product_stock users)" "4 10 40 1000" "$(counts)"
check "sum(initial_stock) matches the formula" "$expected_stock" \
    "$(query "select sum(initial_stock) from product_stock")"
check "P001 at NYC" "80" \
    "$(query "select initial_stock from product_stock where product_id = 'P001' and warehouse_location = 'NYC'")"
check "P007 name and price" "Levi's 501 Original Jeans|69.50" \
    "$(query "select product_name || '|' || price from products where product_id = 'P007'")"
check "user ids run U0001..U1000" "U0001 U1000" \
    "$(query "select min(user_id) || ' ' || max(user_id) from users")"
check "user attributes stay in their domains" "0" \
    "$(query "select count(*) from users where age not between 18 and 75 or gender not in ('female', 'male', 'non_binary') or segment not in ('new', 'regular', 'vip', 'bargain_hunter') or signup_date - date '2023-01-01' not between 0 and 999")"

# A changed seed row is restored by reapplying init.sql on the next start.
query "update products set price = 1 where product_id = 'P001'" >/dev/null
expect_status "stop succeeds" 0 "$pg_local" stop
expect_status "start after stop reapplies init.sql" 0 "$pg_local" start
check "row counts unchanged after reapplying" "4 10 40 1000" "$(counts)"
check "stock total unchanged after reapplying" "$expected_stock" \
    "$(query "select sum(initial_stock) from product_stock")"
check "reapplying restores seed values" "999.99" \
    "$(query "select price from products where product_id = 'P001'")"

expect_status "stop succeeds again" 0 "$pg_local" stop
expect_status "second stop is harmless" 0 "$pg_local" stop
expect_status "status after stop exits 3" 3 "$pg_local" status
expect_status "psql against a stopped server fails" 1 "$pg_local" psql -c "select 1"

finish
