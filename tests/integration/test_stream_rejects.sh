#!/usr/bin/env bash
# tests/integration/test_stream_rejects.sh - a row PostgreSQL rejects never
# stalls its partition. ecom-stream against the dev broker and a throwaway
# PostgreSQL to which the test adds what some known events violate: a CHECK
# on user_events (no MacBook product views or carts), a narrower
# search_query column (varchar(14): SQLSTATE 22001 for longer searches), a
# CHECK on transaction_items (quantity <= 3: the whole transaction goes) and
# one on inventory_updates (no decrement in CHI). An oracle written here in
# Python, over the messages as kcat reads them back, says which messages
# PostgreSQL must reject; then:
#  - simulator corpus, consumed in batches of 500: every rejected message is
#    in dead_letter_events once, with its constraint (or SQLSTATE) in the
#    reason and its payload byte for byte; every other event stored exactly
#    once (no item of a rejected transaction); stream_offsets = delivered;
#    metrics (rejected and dead-lettered per topic, no PostgreSQL error, lag
#    0), /health 200 after the rejections, warnings naming the messages;
#    the stream exits idle (not stalled);
#  - live, with the stream running: batches where every message is rejected,
#    then one where the first and the last are (one partition), stored or
#    dead-lettered exactly, /health 200, lag 0;
#  - a second run stores and dead-letters nothing more; a new consumer group
#    re-reads everything: the raw tables unchanged, its own dead letters;
#  - after each part, the consistency checks of sql/checks/ list nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
sim=$bin/ecom-simulator
stream=$bin/ecom-stream

start_pg >/dev/null
start_broker --partitions 2

sql "ALTER TABLE user_events ADD CONSTRAINT test_no_macbook CHECK (product_id IS DISTINCT FROM 'P003')" >/dev/null
sql "ALTER TABLE user_events ALTER COLUMN search_query TYPE varchar(14)" >/dev/null
sql "ALTER TABLE transaction_items ADD CONSTRAINT test_small_quantities CHECK (quantity <= 3)" >/dev/null
sql "ALTER TABLE inventory_updates ADD CONSTRAINT test_chi_restock_only CHECK (warehouse_location <> 'CHI' OR stock_change > 0)" >/dev/null
check "the test's constraints are in place" 3 \
    "$(sql "select count(*) from pg_constraint where conname in ('test_no_macbook', 'test_small_quantities', 'test_chi_restock_only') and conrelid in ('user_events'::regclass, 'transaction_items'::regclass, 'inventory_updates'::regclass)")"

# oracle CORPUS OUT: from "topic<TAB>partition<TAB>offset<TAB>value" lines,
# writes the expected rejections as "topic<TAB>partition<TAB>offset<TAB>
# marker<TAB>md5<TAB>bytes" (marker: the constraint or SQLSTATE the reason
# must name) and prints the counts "ue tx items inv rejected_ue rejected_tx
# rejected_inv" of what must be stored and rejected.
oracle() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import hashlib, json, sys
stored = {"user-events": 0, "transactions": 0, "items": 0, "inventory-updates": 0}
rejected = {"user-events": 0, "transactions": 0, "inventory-updates": 0}
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "w") as out:
    for line in f:
        topic, part, off, value = line.rstrip(b"\n").split(b"\t", 3)
        topic = topic.decode()
        j = json.loads(value)
        marker = None
        if topic == "user-events":
            if j.get("product_id") == "P003":
                marker = "test_no_macbook"
            elif j["event_type"] == "search" and len(j["search_query"]) > 14:
                marker = "SQLSTATE 22001"
        elif topic == "transactions":
            if any(i["quantity"] > 3 for i in j["items"]):
                marker = "test_small_quantities"
        elif j["warehouse_location"] == "CHI" and j["stock_change"] <= 0:
            marker = "test_chi_restock_only"
        if marker is None:
            stored[topic] += 1
            if topic == "transactions":
                stored["items"] += len(j["items"])
            continue
        rejected[topic] += 1
        out.write("%s\t%s\t%s\t%s\t%s\t%d\n" % (topic, part.decode(), off.decode(), marker,
                                                hashlib.md5(value).hexdigest(), len(value)))
print(stored["user-events"], stored["transactions"], stored["items"], stored["inventory-updates"],
      rejected["user-events"], rejected["transactions"], rejected["inventory-updates"])
PY
}

# compare_dead_letters GROUP EXPECTED: every expected rejection is one dead
# letter of GROUP whose reason names its marker and whose payload is the
# message, and there is no other; prints "ok" or what differs.
compare_dead_letters() {
    psql -X -A -t -q -F $'\t' -c "select topic, kafka_partition, kafka_offset, md5(payload), payload_bytes, payload_truncated, payload_encoding, reason from dead_letter_events where consumer_group = '$1'" >"$tmp/dl.txt"
    /usr/bin/python3 - "$tmp/dl.txt" "$2" <<'PY'
import sys
got = {}
problems = []
for line in open(sys.argv[1]):
    topic, part, off, md5, size, cut, enc, reason = line.rstrip("\n").split("\t", 7)
    key = (topic, part, off)
    if key in got:
        problems.append("two dead letters for %s" % (key,))
    got[key] = (md5, size, cut, enc, reason)
want = {}
for line in open(sys.argv[2]):
    topic, part, off, marker, md5, size = line.rstrip("\n").split("\t")
    want[(topic, part, off)] = (marker, md5, size)
for key, (marker, md5, size) in want.items():
    if key not in got:
        problems.append("no dead letter for %s" % (key,))
        continue
    g = got[key]
    if g[0] != md5 or g[1] != size or g[2] != "f" or g[3] != "utf8":
        problems.append("%s: payload md5/bytes/truncated/encoding %s, expected %s %s f utf8" % (key, g[:4], md5, size))
    if marker not in g[4] or not g[4].startswith("rejected by PostgreSQL: "):
        problems.append("%s: reason %r lacks %r" % (key, g[4], marker))
for key in got:
    if key not in want:
        problems.append("unexpected dead letter %s: %s" % (key, got[key][4]))
print("ok" if not problems else "; ".join(problems[:5]) + (" (%d problems)" % len(problems)))
PY
}

read_back() { # TOPICS...: every message as topic, partition, offset, value
    local t
    for t in "$@"; do
        kcat -C -b "$bootstrap" -t "$t" -o beginning -e -q -f '%t\t%p\t%o\t%s\n'
    done
}
stored_counts() {
    sql "select (select count(*) from user_events), (select count(*) from transactions), (select count(*) from transaction_items), (select count(*) from inventory_updates)" | tr '|' ' '
}
committed() { sql "select coalesce(sum(next_offset), 0) from stream_offsets where consumer_group = '${1:-ecom-stream}'"; }
# wait_committed N SECONDS: until the stored offsets of ecom-stream sum to N
wait_committed() {
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        (($(committed) >= $1)) && return 0
        sleep 0.2
    done
    return 1
}

# --- simulator corpus, in batches of 500
expect_status "simulator: 6,000 events" 0 "$sim" --max-rate -n 6000 --seed 21 -P 0
cp "$tmp/out" "$tmp/sim.json"
delivered=$(json_get "$tmp/sim.json" 'j["delivered"]')
read_back user-events transactions inventory-updates >"$tmp/corpus"
check "kcat reads back every delivered message" "$delivered" "$(wc -l <"$tmp/corpus")"
read -r want_ue want_tx want_items want_inv rej_ue rej_tx rej_inv < <(oracle "$tmp/corpus" "$tmp/expected")
# a check that passes on nothing is no check: every kind must occur
for n in "$rej_ue" "$rej_tx" "$rej_inv"; do check_range "the corpus has rejections of each topic" 1 100000 "$n"; done
check_range "the corpus has long searches (SQLSTATE 22001)" 1 100000 "$(grep -c 'SQLSTATE 22001' "$tmp/expected")"
check_range "rejections are a minority" 1 $((delivered / 5)) $((rej_ue + rej_tx + rej_inv))

port=$(free_port)
started=$SECONDS
"$stream" -p "$port" -P 1 --flush-rows 500 --exit-when-idle 4 >"$tmp/s1.out" 2>"$tmp/s1.err" &
pid=$!
if wait_committed "$delivered" 120; then ok "every offset committed: no partition stalled"; else not_ok "offsets stalled at $(committed) of $delivered"; fi
sleep 1.5 # one lag refresh
check "health is 200 after the rejections" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)"
curl -fs "http://127.0.0.1:$port/metrics" >"$tmp/metrics" && ok "metrics endpoint answers" || not_ok "metrics endpoint"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$tmp/metrics"; }
check "metrics: user-events rejected" "$rej_ue" "$(metric 'ecom_stream_messages_rejected_total{topic="user-events"}')"
check "metrics: transactions rejected" "$rej_tx" "$(metric 'ecom_stream_messages_rejected_total{topic="transactions"}')"
check "metrics: inventory-updates rejected" "$rej_inv" "$(metric 'ecom_stream_messages_rejected_total{topic="inventory-updates"}')"
check "metrics: rejected messages are dead-lettered" "$rej_ue $rej_tx $rej_inv" \
    "$(metric 'ecom_stream_messages_dead_lettered_total{topic="user-events"}') $(metric 'ecom_stream_messages_dead_lettered_total{topic="transactions"}') $(metric 'ecom_stream_messages_dead_lettered_total{topic="inventory-updates"}')"
check "metrics: stored = the rest" "$want_ue $want_tx $want_inv" \
    "$(metric 'ecom_stream_messages_stored_total{topic="user-events"}') $(metric 'ecom_stream_messages_stored_total{topic="transactions"}') $(metric 'ecom_stream_messages_stored_total{topic="inventory-updates"}')"
check "metrics: rejections are neither duplicates nor PostgreSQL errors" "0 0 0 0" \
    "$(metric 'ecom_stream_messages_duplicate_total{topic="user-events"}') $(metric 'ecom_stream_messages_duplicate_total{topic="transactions"}') $(metric 'ecom_stream_messages_duplicate_total{topic="inventory-updates"}') $(metric ecom_stream_postgres_errors_total)"
check "metrics: no lag left (6 gauges, their sum)" "6 0" \
    "$(awk '/^ecom_stream_consumer_lag_messages\{/ { n++; s += $2 } END { print n + 0, s + 0 }' "$tmp/metrics")"
rc=0
timeout 60 tail --pid="$pid" -f /dev/null || rc=$?
wait "$pid" || rc=$?
check "the stream exits idle with status 0" 0 "$rc"
check "raw tables hold every other event exactly once" "$want_ue $want_tx $want_items $want_inv" "$(stored_counts)"
check "dead letters are exactly the rejected messages, with reason and payload" ok \
    "$(compare_dead_letters ecom-stream "$tmp/expected")"
check "no item of a rejected transaction, none missing" 0 \
    "$(sql 'select count(*) from transactions t where item_count is distinct from (select count(*) from transaction_items i where i.transaction_id = t.transaction_id)')"
check "offsets = delivered" "$delivered" "$(committed)"
check "no rejection was retried as a PostgreSQL failure" 0 "$(grep -c 'PostgreSQL write failed' "$tmp/s1.err" || true)"
grep -Eq 'WARN: (user-events|transactions|inventory-updates) \[[0-9]+\] @[0-9]+: dead-lettered, rejected by PostgreSQL: .*(test_no_macbook|test_small_quantities|test_chi_restock_only|SQLSTATE 22001)' "$tmp/s1.err" \
    && ok "warnings name the topic, partition, offset and reason" || not_ok "no rejection warning in the log"
warnings=$(grep -c ': dead-lettered, rejected by PostgreSQL' "$tmp/s1.err" || true)
check_range "rejection warnings are rate-limited (10 per 10 s)" 1 $((10 * ((SECONDS - started) / 10 + 1))) "$warnings"
grep -q 'PostgreSQL rejected [0-9]* of the [0-9]* valid messages of the batch: dead-lettered, the rest committed' "$tmp/s1.err" \
    && ok "the rest are summed up" || not_ok "no summary of the rejections"
grep -q 'postgres DOWN' "$tmp/s1.err" && not_ok "progress said postgres DOWN" || ok "progress never said postgres DOWN"
run_checks "corpus"

# --- live: batches of rejected messages only, then first and last rejected
uuid() { /usr/bin/python3 -c 'import uuid; print(uuid.uuid4())'; }
now() { /usr/bin/python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")'; }
view() { # PRODUCT_ID: a product view by U7777, no simulator user (one key: one partition)
    printf 'U7777\t{"event_id":"%s","user_id":"U7777","event_type":"product_view","timestamp":"%s","product_id":"%s","product_name":"x","category":"Electronics","price":10.5,"session_id":"s42","ip_address":"10.0.0.42","user_agent":"test"}\n' \
        "$(uuid)" "$(now)" "$1"
}
purchase() { # QUANTITY
    printf 'U7777\t{"transaction_id":"%s","user_id":"U7777","event_type":"purchase","timestamp":"%s","payment_method":"paypal","items":[{"product_id":"P005","product_name":"Nike Air Max 270","price":150.00,"quantity":1,"item_total":150.00},{"product_id":"P009","product_name":"Instant Pot","price":10.00,"quantity":%d,"item_total":%d.00}],"total_amount":%d.00,"tax_amount":0,"shipping_cost":0}\n' \
        "$(uuid)" "$(now)" "$1" $((10 * $1)) $((150 + 10 * $1))
}
port=$(free_port)
"$stream" -p "$port" -P 1 >"$tmp/s2.out" 2>"$tmp/s2.err" &
pid=$!
before=$(committed)
deadline=$((SECONDS + 60))
until grep -q 'resumed consumption' "$tmp/s2.err" || ((SECONDS >= deadline)); do sleep 0.2; done
grep -q 'resumed consumption' "$tmp/s2.err" && ok "live: the stream is consuming" || not_ok "live: no assignment within 60 s"
for _ in $(seq 30); do view P003; done >"$tmp/all_bad"
kcat -P -b "$bootstrap" -t user-events -K '\t' -l "$tmp/all_bad"
if wait_committed $((before + 30)) 60; then ok "live: 30 rejected messages move the offsets"; else not_ok "live: offsets at $(committed), expected $((before + 30))"; fi
check "live: all 30 dead-lettered, none stored" "30 $want_ue" \
    "$(sql "select count(*) from dead_letter_events where consumer_group = 'ecom-stream' and kafka_key = 'U7777' and reason like '%test_no_macbook%'") $(sql 'select count(*) from user_events')"
grep -q 'PostgreSQL rejected \([0-9]*\) of the \1 valid messages of the batch' "$tmp/s2.err" \
    && ok "live: a batch where every message was rejected" || not_ok "live: no batch with every message rejected"
{
    view P003
    for _ in 1 2 3; do view P001; done
    purchase 7
    purchase 2
    for _ in 1 2 3; do view P002; done
    view P003
} >"$tmp/first_last"
# both topics keyed U7777: user-events first and last bad, a bad transaction between good ones
grep -v '"transaction_id"' "$tmp/first_last" >"$tmp/fl_views"
grep '"transaction_id"' "$tmp/first_last" >"$tmp/fl_tx"
kcat -P -b "$bootstrap" -t user-events -K '\t' -l "$tmp/fl_views"
kcat -P -b "$bootstrap" -t transactions -K '\t' -l "$tmp/fl_tx"
if wait_committed $((before + 30 + 10)) 60; then ok "live: the mixed batch is committed"; else not_ok "live: offsets at $(committed), expected $((before + 40))"; fi
check "live: good views and the good purchase stored, its items too" \
    "$((want_ue + 6)) $((want_tx + 1)) $((want_items + 2)) $want_inv" "$(stored_counts)"
check "live: first and last view and the big purchase dead-lettered" "32 1" \
    "$(sql "select count(*) from dead_letter_events where consumer_group = 'ecom-stream' and kafka_key = 'U7777' and topic = 'user-events'") $(sql "select count(*) from dead_letter_events where consumer_group = 'ecom-stream' and kafka_key = 'U7777' and topic = 'transactions' and reason like '%test_small_quantities%'")"
check "live: no item of the rejected purchase" 0 \
    "$(sql "select count(*) from transaction_items i join transactions t using (transaction_id, event_time) where t.user_id = 'U7777' and i.quantity > 3")"
sleep 1.5
check "live: health is 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)"
curl -fs "http://127.0.0.1:$port/metrics" >"$tmp/metrics" || true
check "live: no lag" 0 "$(awk '/^ecom_stream_consumer_lag_messages\{/ { s += $2 } END { print s + 0 }' "$tmp/metrics")"
check "live: 33 rejections counted" 33 \
    "$(awk '/^ecom_stream_messages_rejected_total\{/ { s += $2 } END { print s + 0 }' "$tmp/metrics")"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
check "live: SIGTERM, exit 0" 0 "$rc"
run_checks "live"

# --- a second run stores nothing twice; a new group re-reads everything
counts=$(stored_counts)
dead=$(sql 'select count(*) from dead_letter_events')
expect_status "second run exits idle" 0 timeout 60 "$stream" -p 0 -P 0 --exit-when-idle 3
check "second run: nothing stored twice" "$counts" "$(stored_counts)"
check "second run: nothing dead-lettered twice" "$dead" "$(sql 'select count(*) from dead_letter_events')"
expect_status "new group over the same data exits idle" 0 timeout 60 "$stream" -p 0 -P 0 -g replay --exit-when-idle 3
check "replay group: raw tables unchanged" "$counts" "$(stored_counts)"
read_back user-events transactions inventory-updates >"$tmp/corpus2"
oracle "$tmp/corpus2" "$tmp/expected2" >/dev/null
check "replay group: its own dead letters, exactly the rejected messages" ok \
    "$(compare_dead_letters replay "$tmp/expected2")"
check "replay group: offsets = every message" "$((delivered + 40))" "$(committed replay)"
run_checks "second run and replay group"
finish
