#!/usr/bin/env bash
# tests/integration/test_catalog_pg.sh - the simulator's catalog and the
# tables sql/init.sql seeds must be the same data: products, stock per
# warehouse and the 1,000 users with their demographics. Compares
# `ecom-simulator --dump-catalog` with the tables of a throwaway PostgreSQL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"

start_pg >/dev/null
"$bin/ecom-simulator" --dump-catalog >"$tmp/catalog.csv"
q() { psql -X -A -t -F, -q -c "$1"; }
{
    echo products
    echo product_id,product_name,category,price
    q "select product_id, '\"' || product_name || '\"', category, price from products order by product_id"
    echo product_stock
    echo product_id,warehouse_location,initial_stock
    q "select product_id, warehouse_location, initial_stock from product_stock order by product_id, array_position(array['NYC','LAX','CHI','MIA'], warehouse_location)"
    echo users
    echo user_id,age,gender,city,country,signup_date,segment
    q "select user_id, age, gender, city, country, signup_date, segment from users order by user_id"
} >"$tmp/tables.csv"

if diff -u "$tmp/catalog.csv" "$tmp/tables.csv" >"$tmp/diff"; then
    ok "simulator catalog equals the seeded tables"
else
    not_ok "simulator catalog differs from the seeded tables"
    head -20 "$tmp/diff"
fi
check "products seeded" 10 "$(q 'select count(*) from products')"
check "users seeded" 1000 "$(q 'select count(*) from users')"
check "warehouses in catalog order" "NYC,LAX,CHI,MIA" \
    "$(q "select string_agg(code, ',' order by array_position(array['NYC','LAX','CHI','MIA'], code)) from warehouses")"
# re-applying the schema is harmless and changes nothing
psql -X -q -v ON_ERROR_STOP=1 -f "$repo/sql/init.sql" >/dev/null 2>"$tmp/reapply.err" \
    && ok "init.sql re-applies cleanly" || not_ok "init.sql re-apply: $(cat "$tmp/reapply.err")"
check "users unchanged after re-apply" 1000 "$(q 'select count(*) from users')"
finish
