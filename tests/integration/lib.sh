# tests/integration/lib.sh - shared helpers for the integration tests:
# TAP-like ok/not ok accounting, a temp dir removed on exit, free ports,
# starting/stopping the dev broker and a throwaway PostgreSQL, emptying it
# between scenarios and running the consistency checks of sql/checks/.
# Source it after setting nothing; it reads $1 (the build's bin dir) from the
# caller's "$@" via lib_init "$@".
#
# Globals set: repo, bin, tmp, passed, failed; broker_pid, bootstrap after
# start_broker or start_kafka_local; PG* variables after start_pg.

# free_port, free_port_block
# shellcheck source=scripts/lib-ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib-ports.sh"

lib_init() {
    repo=${ECOM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
    bin=${1:-$repo/build/bin}
    bin=$(cd "$bin" 2>/dev/null && pwd || printf '%s' "$bin")
    passed=0
    failed=0
    tmp=$(mktemp -d)
    chmod 755 "$tmp" # as root, PostgreSQL runs as "postgres" and must enter it
    broker_pid=
    pg_started=
    pg_shared_db=
    kafka_started=
    trap lib_cleanup EXIT
    trap 'exit 130' INT TERM
    # Tests must not pick up a developer's .env by accident.
    export ECOM_ENV_FILE=/dev/null
}

lib_cleanup() {
    local pid
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
    stop_broker
    if [[ -n $kafka_started ]]; then
        "$repo/scripts/kafka-local.sh" stop >/dev/null 2>&1 || true
    fi
    if [[ -n $pg_started ]]; then
        "$repo/scripts/pg-local.sh" stop >/dev/null 2>&1 || true
    fi
    if [[ -n $pg_shared_db ]]; then
        dropdb --if-exists --force "$pg_shared_db" >/dev/null 2>&1 || true
    fi
    rm -rf -- "$tmp"
}

ok() {
    passed=$((passed + 1))
    printf 'ok - %s\n' "$1"
}

not_ok() {
    failed=$((failed + 1))
    printf 'not ok - %s\n' "$1"
}

# check NAME EXPECTED ACTUAL
check() {
    if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1: expected \"$2\", got \"$3\""; fi
}

# check_range NAME LOW HIGH ACTUAL (integers, inclusive)
check_range() {
    if [[ $4 =~ ^-?[0-9]+$ ]] && (($4 >= $2 && $4 <= $3)); then
        ok "$1 ($4)"
    else
        not_ok "$1: expected $2..$3, got \"$4\""
    fi
}

# expect_status NAME CODE CMD...: runs CMD, checks its exit status; output
# stays in $tmp/out and $tmp/err.
expect_status() {
    local name=$1 want=$2 rc=0
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [[ $rc == "$want" ]]; then
        ok "$name"
    else
        not_ok "$name: exit status $rc, expected $want"
        sed 's/^/    /' "$tmp/err" | tail -n 20
    fi
}

# check_bad_flags PROG: reads "ARGS|PATTERN" lines on stdin; for each, PROG
# ARGS must exit 2 with nothing on stdout, PATTERN and the --help hint on
# stderr.
check_bad_flags() {
    local prog=$1 name args pattern
    name=$(basename "$prog")
    while IFS='|' read -r args pattern; do
        # shellcheck disable=SC2086
        expect_status "bad flags '$args' exit 2" 2 "$prog" $args
        check "bad flags '$args' print nothing on stdout" "" "$(cat "$tmp/out")"
        grep -q -- "$pattern" "$tmp/err" && ok "bad flags '$args' explain" \
            || not_ok "bad flags '$args': stderr lacks \"$pattern\": $(cat "$tmp/err")"
        grep -q "Try \"$name --help\"" "$tmp/err" && ok "bad flags '$args' hint" \
            || not_ok "bad flags '$args' hint"
    done
}

# run_cmocka NAME CMD...: one check for a whole cmocka run (at least one
# case must pass); its output is shown when it fails, its "# " lines (the
# measurements some print) when it passes.
run_cmocka() {
    local name=$1 rc=0 cases
    shift
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    cases=$(grep -c '^\[       OK \]' "$tmp/out" || true)
    if ((rc == 0 && cases > 0)); then
        ok "$name ($cases cases)"
        grep '^# ' "$tmp/out" || true
    elif ((rc == 0)); then
        not_ok "$name: exit status 0 but no case passed"
        sed 's/^/    /' "$tmp/out"
    else
        not_ok "$name: exit status $rc"
        sed 's/^/    /' "$tmp/out"
        tail -n 40 "$tmp/err" | sed 's/^/    /'
    fi
}

# is_asan_build BIN: true when BIN links the ASan runtime (valgrind cannot
# run it). ldd's output is read whole: "ldd | grep -q" fails at random
# under pipefail (ldd killed by SIGPIPE once grep has its match).
is_asan_build() {
    [[ $(ldd "$1" 2>/dev/null) == *libasan* ]]
}

# find_cmocka NAME: sets test_bin to the cmocka program NAME, from $bin or
# $bin/../stream/tests (a build directory's own layout); when it is not
# built, a failure and the end of the test.
find_cmocka() {
    local candidate
    test_bin=
    for candidate in "$bin/$1" "$bin/../stream/tests/$1"; do
        if [[ -x $candidate ]]; then
            test_bin=$candidate
            return 0
        fi
    done
    not_ok "$1 is built (looked in \"$bin\" and \"$bin/../stream/tests\")"
    finish || exit 1
}

# run_cmocka_valgrind NAME BIN [VALGRIND_ARGS...]: run_cmocka of BIN under
# valgrind memcheck (definite and indirect leaks are errors), unless BIN is
# an ASan build; a missing valgrind is a failure (scripts/deps.sh installs it).
run_cmocka_valgrind() {
    local name=$1 prog=$2
    shift 2
    if is_asan_build "$prog"; then
        echo "# ASan build: no valgrind run"
    elif ! command -v valgrind >/dev/null; then
        not_ok "valgrind is installed (scripts/deps.sh installs it)"
    else
        run_cmocka "$name" valgrind --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect "$@" --quiet "$prog"
    fi
}

# wait_ok NAME SECONDS CMD...: ok NAME once CMD succeeds (tried every
# 0.1 s), not ok when it has not within SECONDS.
wait_ok() {
    local name=$1 secs=$2 t
    shift 2
    for ((t = 0; t < secs * 10; t++)); do
        "$@" >/dev/null 2>&1 && { ok "$name"; return 0; }
        sleep 0.1
    done
    not_ok "$name (not within $secs s)"
}

# Ends the test: prints the tally and exits 0 only if nothing failed.
finish() {
    printf '%d passed, %d failed\n' "$passed" "$failed"
    ((failed == 0))
}

# json_get FILE EXPR: evaluates a Python expression on the JSON in FILE (j).
json_get() {
    /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# start_broker [ARGS...]: starts ecom-broker on a free port; sets bootstrap.
start_broker() {
    local port attempt
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        "$bin/ecom-broker" --listen "127.0.0.1:$port" "$@" >"$tmp/broker.out" 2>"$tmp/broker.err" &
        broker_pid=$!
        for _ in $(seq 100); do
            if grep -q '^bootstrap=' "$tmp/broker.out" 2>/dev/null; then
                bootstrap=127.0.0.1:$port
                export KAFKA_BOOTSTRAP_SERVERS=$bootstrap
                return 0
            fi
            kill -0 "$broker_pid" 2>/dev/null || break
            sleep 0.1
        done
        stop_broker
    done
    echo "could not start ecom-broker:" >&2
    cat "$tmp/broker.err" >&2
    return 1
}

stop_broker() {
    if [[ -n $broker_pid ]]; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
        broker_pid=
    fi
}

# start_kafka_local: a real single-node Kafka (scripts/kafka-local.sh, KRaft)
# with its data in $tmp/kafka, listener and controller on free ports; sets
# bootstrap and KAFKA_BOOTSTRAP_SERVERS like start_broker. lib_cleanup stops it.
start_kafka_local() {
    local port
    port=$(free_port_block 1) || { echo "start_kafka_local: no free pair of ports" >&2; return 1; }
    export ECOM_KAFKA_DATA=$tmp/kafka ECOM_KAFKA_QUIET=1
    export KAFKA_BOOTSTRAP_SERVERS=localhost:$port
    bootstrap=$KAFKA_BOOTSTRAP_SERVERS
    kafka_started=1
    "$repo/scripts/kafka-local.sh" start
}

# start_pg: a PostgreSQL with the schema applied; exports the PG* variables
# the daemons read. Under ctest with the fixture "pg_shared"
# (ECOM_PG_SHARED_ENV, tests/CMakeLists.txt) a database of its own in the
# run's shared cluster (tests/integration/pg_shared.sh), copied from the
# schema's template and dropped on exit; otherwise, or with "start_pg own"
# (a test that stops, kills or freezes the server), a throwaway cluster in
# $tmp on a free port.
start_pg() {
    export ECOM_PG_QUIET=1
    export POSTGRES_DB=ecommerce POSTGRES_USER=ecom POSTGRES_PASSWORD=ecom_test
    export PGHOST=localhost PGDATABASE=ecommerce PGUSER=ecom PGPASSWORD=ecom_test
    if [[ ${1:-} != own && -n ${ECOM_PG_SHARED_ENV:-} ]]; then
        start_pg_shared
        return
    fi
    export ECOM_PGDATA=$tmp/pg PGPORT=$(free_port)
    pg_started=1
    "$repo/scripts/pg-local.sh" start
}

# start_pg_shared: start_pg's database in the shared cluster, named after
# the test and its pid. CREATE DATABASE refuses while another session is
# in the template, as a neighbour's copy briefly is: tried a few times.
start_pg_shared() {
    local try
    [[ -f $ECOM_PG_SHARED_ENV ]] || { echo "start_pg: no shared PostgreSQL ($ECOM_PG_SHARED_ENV missing)" >&2; return 1; }
    PGPORT=$(sed -n 's/^PGPORT=//p' "$ECOM_PG_SHARED_ENV")
    export PGPORT
    pg_shared_db=t_$(basename "$0" .sh | tr -c 'a-z0-9_\n' _)_$$
    for try in 1 2 3 4 5 6 7 8 9 10; do
        createdb -T ecommerce "$pg_shared_db" 2>"$tmp/createdb.err" && break
        ((try < 10)) || { cat "$tmp/createdb.err" >&2; return 1; }
        sleep 0.5
    done
    export PGDATABASE=$pg_shared_db POSTGRES_DB=$pg_shared_db
}

# sql QUERY: one query against the throwaway PostgreSQL, unaligned, no headers.
sql() {
    psql -X -A -t -q -c "$1"
}

# sql_strict QUERY: as sql, stopping at the first error.
sql_strict() {
    psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"
}

# load_clean_corpus H: ecom-quality's clean corpus (test_quality.sh, test_scheduler.sh),
# straight into the raw tables of the PG* database: 25 hours from H - 24 h:
# a user event every 6 s (600 an hour, each user's same-product events minutes apart), a transaction every
# 120 s with one item at the catalog's price, an inventory update every
# 90 s whose stock follows from the one before; offsets contiguous in 3
# partitions; no dead letter.
load_clean_corpus() {
    local H=$1
    sql_strict "truncate user_events, transactions, transaction_items, inventory_updates, dead_letter_events, stream_gaps"
    sql_strict "insert into user_events (event_id, user_id, event_type, event_time, product_id, price, search_query,
                               session_id, kafka_partition, kafka_offset)
       select md5('ue' || i)::uuid, 'U' || lpad((i % 100 + 1)::text, 4, '0'), k.t,
              '$H'::timestamptz - interval '24 hours' + i * interval '6 seconds',
              case when k.t <> 'search' then p.product_id end, case when k.t <> 'search' then p.price end,
              case when k.t = 'search' then 'shoes' end, 'S' || (i / 50), i % 3, i / 3
         from generate_series(0, 25 * 600 - 1) i
         cross join lateral (select (array['product_view', 'product_view', 'add_to_cart', 'search'])[i % 4 + 1] as t) k
         join products p on p.product_id = 'P' || lpad((i % 7 + 1)::text, 3, '0')"
    sql_strict "insert into transactions (transaction_id, user_id, event_time, payment_method, total_amount, item_count,
                                totals_match, kafka_partition, kafka_offset)
       select md5('tx' || i)::uuid, 'U' || lpad((i % 100 + 1)::text, 4, '0'),
              '$H'::timestamptz - interval '24 hours' + i * interval '120 seconds', 'paypal', p.price, 1, true,
              i % 3, i / 3
         from generate_series(0, 25 * 30 - 1) i join products p on p.product_id = 'P' || lpad((i % 10 + 1)::text, 3, '0')"
    sql_strict "insert into transaction_items (transaction_id, line_no, event_time, product_id, price, quantity, item_total)
       select t.transaction_id, 1, t.event_time, p.product_id, p.price, 1, p.price
         from transactions t join products p on p.price = t.total_amount"
    sql_strict "insert into inventory_updates (event_id, product_id, stock_change, current_stock, warehouse_location,
                                     event_time, kafka_partition, kafka_offset)
       select md5('inv' || i)::uuid, 'P' || lpad((i % 10 + 1)::text, 3, '0'), -1, 500 - i / 40,
              (array['NYC', 'LAX', 'CHI', 'MIA'])[(i / 10) % 4 + 1],
              '$H'::timestamptz - interval '24 hours' + i * interval '90 seconds', i % 3, i / 3
         from generate_series(0, 25 * 40 - 1) i"
}
# reset_tables: empties what ecom-stream stores (raw rows, dead letters,
# offsets, gaps, the window and alert tables), so that the next scenario
# starts from nothing, its consistency checks included; the catalog and
# inventory_thresholds stay.
reset_tables() {
    sql 'truncate user_events, transactions, transaction_items, inventory_updates, dead_letter_events,
        stream_offsets, stream_gaps, product_window_metrics, category_window_metrics,
        traffic_window_metrics, trending_products, window_users, window_sessions, fraud_alerts,
        inventory_levels, inventory_alerts' >/dev/null
}

# run_checks NAME [PSQL_ARGS...]: the consistency checks sql/checks/windows.sql
# and sql/checks/alerts.sql on the database of the PG* variables (or the
# one of -d DB among PSQL_ARGS), one check each: it lists no difference;
# else its first 20 lines are shown. PSQL_ARGS go to both: pass the -v
# settings matching the scenario's ecom-stream flags (e.g. -v low_stock=50
# for --low-stock-threshold 50); each check reads only its own.
run_checks() {
    local name=$1 f out
    shift
    for f in windows alerts; do
        out=$(mktemp "$tmp/check.XXXXXX")
        psql -X -q -At -v ON_ERROR_STOP=1 "$@" -f "$repo/sql/checks/$f.sql" >"$out" 2>&1 ||
            echo "psql failed: exit $?" >>"$out"
        if [[ ! -s $out ]]; then
            ok "$name: sql/checks/$f.sql lists no difference"
        else
            not_ok "$name: sql/checks/$f.sql lists $(wc -l <"$out") lines:"
            head -n 20 "$out" | sed 's/^/    /'
        fi
    done
}

# consume_all TOPICS...: every message of the topics, as topic<TAB>key<TAB>value.
consume_all() {
    local t
    for t in "$@"; do
        kcat -C -b "$bootstrap" -t "$t" -o beginning -e -q -f '%t\t%k\t%s\n'
    done
}
