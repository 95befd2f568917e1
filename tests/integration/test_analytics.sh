#!/usr/bin/env bash
# tests/integration/test_analytics.sh - ecom-stream's analytics end to end:
# a real Kafka (scripts/kafka-local.sh, one KRaft node in the temp dir), a
# throwaway PostgreSQL and the real binary, on the deterministic corpus of
# analytics_corpus.py, whose oracle (written apart from the C and SQL)
# computes every analytics table; after each scenario the tables must equal
# it value by value and sql/checks/windows.sql and sql/checks/alerts.sql
# must list no difference.
# Scenarios:
#  1. live: ecom-stream runs while the corpus is produced in small steps;
#  2. replay: the same corpus, already in Kafka, read by a new group into a
#     fresh database (the final tables must be the same as live);
#  3. two instances of one group sharing the partitions, the second
#     committing its first batch seconds after the first;
#  4. kill -9 mid-corpus, then a restart.
# 2 to 4 run at the same time, each in a database of its own.
#
# Usage: tests/integration/test_analytics.sh [BIN_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
stream=$bin/ecom-stream
corpus_py=$repo/tests/integration/analytics_corpus.py
corpus=$tmp/corpus.jsonl
deadline_s=150 # per scenario: the stream's idle close needs about 45 s

# sql_super STATEMENT: as the cluster's superuser over its socket.
sql_super() {
    local owner
    owner=$(stat -c %U "$ECOM_PGDATA")
    if ((EUID == 0)); then
        (cd / && runuser -u "$owner" -- psql -X -q -At -v ON_ERROR_STOP=1 \
            -h "$ECOM_PGDATA" -p "$PGPORT" -U "$owner" -d postgres -c "$1")
    else
        psql -X -q -At -v ON_ERROR_STOP=1 -h "$ECOM_PGDATA" -p "$PGPORT" -U "$owner" -d postgres -c "$1"
    fi
}

# run_stream NAME DB GROUP [ARGS...]: ecom-stream in the background, logging
# to $tmp/NAME.err; sets spid.
run_stream() {
    local name=$1 db=$2 group=$3
    shift 3
    PGDATABASE=$db "$stream" -g "$group" -p "${stream_port:-0}" -P 0 "$@" 2>"$tmp/$name.err" &
    spid=$!
}

# wait_final DB MIN_ROWS: until DB's traffic windows number at least
# MIN_ROWS and all three window tables are final, or the deadline.
wait_final() {
    local db=$1 want=$2 t0=$SECONDS n open
    while ((SECONDS - t0 < deadline_s)); do
        n=$(PGDATABASE=$db sql 'select count(*) from traffic_window_metrics' 2>/dev/null || echo 0)
        open=$(PGDATABASE=$db sql 'select (select count(*) from traffic_window_metrics where not is_final)
            + (select count(*) from product_window_metrics where not is_final)
            + (select count(*) from category_window_metrics where not is_final)' 2>/dev/null || echo 1)
        if ((n >= want && open == 0)); then
            echo "# $db: $n traffic windows, all final after $((SECONDS - t0)) s"
            return 0
        fi
        sleep 1
    done
    echo "# $db: $n traffic windows, $open rows not final after ${deadline_s} s"
    return 1
}

# verify NAME DB: the oracle's comparison and the consistency checks
# (the scenarios run ecom-stream's default analytics settings, the checks'
# defaults too).
verify() {
    local name=$1 db=$2
    if PGDATABASE=$db /usr/bin/python3 "$corpus_py" compare "$corpus" >"$tmp/$name.cmp" 2>&1; then
        ok "$name: every analytics table equals the oracle ($(tail -n 1 "$tmp/$name.cmp" | sed 's/^# //'))"
    else
        not_ok "$name: the analytics tables differ from the oracle:"
        head -n 40 "$tmp/$name.cmp" | sed 's/^/    /'
    fi
    run_checks "$name" -d "$db"
    check "$name: nothing dead-lettered" 0 "$(PGDATABASE=$db sql 'select count(*) from dead_letter_events')"
}

stop_stream() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

start_pg >/dev/null
t0=$SECONDS
if start_kafka_local >"$tmp/kafka.out" 2>&1; then
    ok "kafka-local broker at $bootstrap ($((SECONDS - t0)) s)"
else
    not_ok "kafka-local starts: $(tail -n 5 "$tmp/kafka.out")"
    finish || exit 1
fi
/usr/bin/python3 "$corpus_py" gen "$corpus"
messages=$(wc -l <"$corpus")
traffic_windows=$(/usr/bin/python3 - "$corpus_py" "$corpus" <<'PY'
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("corpus", sys.argv[1])
c = importlib.util.module_from_spec(spec); spec.loader.exec_module(c)
print(len(c.expected([json.loads(l) for l in open(sys.argv[2])])["traffic"]))
PY
)
check_range "the corpus has messages" 1000 100000 "$messages"
# Template databases for 2..4, made before anything is stored.
for db in replay twoinst crash; do sql_super "CREATE DATABASE $db TEMPLATE ecommerce OWNER $PGUSER" >/dev/null; done

# --- 1. live (with /metrics on a port of its own)
stream_port=$(free_port)
run_stream live ecommerce analytics-live
live_pid=$spid
live_port=$stream_port
stream_port=
if /usr/bin/python3 "$corpus_py" produce "$corpus" "$bootstrap" --pause-every 40 --pause-ms 50 >"$tmp/produce.out" 2>&1; then
    ok "the corpus is produced ($messages messages, in steps of 40)"
else
    not_ok "producing the corpus: $(tail -n 3 "$tmp/produce.out")"
fi
if wait_final ecommerce "$traffic_windows"; then ok "live: every window final"; else not_ok "live: windows final"; fi
verify live ecommerce
# The analytics metrics against what the live instance stored (it alone
# wrote this database).
if curl -fs "http://127.0.0.1:$live_port/metrics" >"$tmp/live.metrics"; then
    metric_sum() { awk -v m="$1" 'index($1, m "{") == 1 || $1 == m { s += $2 } END { printf "%d", s }' "$tmp/live.metrics"; }
    for rule in $(sql "select distinct rule from fraud_alerts order by 1"); do
        check "live: fraud_alerts_total{rule=\"$rule\"} = fraud_alerts rows" \
            "$(sql "select count(*) from fraud_alerts where rule = '$rule'")" \
            "$(metric_sum "ecom_stream_fraud_alerts_total{rule=\"$rule\"}")"
    done
    check "live: fraud_alerts_total over every rule = fraud_alerts rows" \
        "$(sql 'select count(*) from fraud_alerts')" "$(metric_sum ecom_stream_fraud_alerts_total)"
    check "live: inventory_alerts_total = inventory_alerts rows" \
        "$(sql 'select count(*) from inventory_alerts')" "$(metric_sum ecom_stream_inventory_alerts_total)"
    check_range "live: state_bytes of the distinct-count sets" 1 1000000000 \
        "$(metric_sum ecom_stream_state_bytes)"
    grep -q '^ecom_stream_state_entries{store="window_users_sessions"} ' "$tmp/live.metrics" &&
        ok "live: state_entries is exported" || not_ok "live: state_entries is exported"
else
    not_ok "live: /metrics answers"
fi
stop_stream "$live_pid"

# --- 2..4 side by side on the corpus already in Kafka
run_stream replay replay analytics-replay
replay_pid=$spid
run_stream twoinst-a twoinst analytics-two
two_a=$spid
# b commits its first batch seconds after a: a must not take its own
# partitions' watermarks for the group's (b's have no row yet).
run_stream twoinst-b twoinst analytics-two --flush-ms 4000
two_b=$spid
run_stream crash-1 crash analytics-crash --flush-rows 50 --flush-ms 20
crash_pid=$spid
t1=$SECONDS
while (($(PGDATABASE=crash sql 'select count(*) from user_events') < 200)); do
    if ((SECONDS - t1 > 60)); then not_ok "crash: 200 rows stored within 60 s"; break; fi
    sleep 0.05
done
kill -KILL "$crash_pid" 2>/dev/null || true
wait "$crash_pid" 2>/dev/null || true
stored_at_kill=$(PGDATABASE=crash sql 'select count(*) from user_events')
run_stream crash-2 crash analytics-crash
crash_pid=$spid
for db in replay twoinst crash; do
    if wait_final "$db" "$traffic_windows"; then ok "$db: every window final"; else not_ok "$db: windows final"; fi
done
verify replay replay
verify twoinst twoinst
check "twoinst: both instances got partitions" 2 \
    "$(grep -l 'assigned [1-9][0-9]* partitions' "$tmp/twoinst-a.err" "$tmp/twoinst-b.err" | wc -l)"
verify crash crash
final_ue=$(PGDATABASE=crash sql 'select count(*) from user_events')
check_range "crash: killed mid-corpus (user_events at the kill, of $final_ue)" 200 $((final_ue - 1)) "$stored_at_kill"
for pid in "$replay_pid" "$two_a" "$two_b" "$crash_pid"; do stop_stream "$pid"; done
finish
