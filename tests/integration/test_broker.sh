#!/usr/bin/env bash
# test_broker.sh - integration test of ecom-broker (broker/): flags without a
# running broker, then a broker on a random free port driven by kcat
# (metadata, keyed produce/consume, a two-process consumer group),
# kafka-python, raw Kafka requests through the forwarder (pipelining,
# backpressure, half-close), a second broker on a port in use, and SIGTERM.
#
# Usage: test_broker.sh BIN_DIR     (BIN_DIR holds ecom-broker)
# Needs: kcat, /usr/bin/python3 with kafka-python. Exit 0 when every check
# passed; otherwise the first failure is printed and the exit status is 1.
set -u

BIN_DIR=${1:?usage: test_broker.sh BIN_DIR}
BROKER="$BIN_DIR/ecom-broker"
PY=/usr/bin/python3 # the system python sees python3-kafka
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_broker.XXXXXX")
BPID=""
PORT=""
BG_PIDS=()

# The repo's .env and the caller's TOPIC_PARTITIONS must not change defaults.
export ECOM_ENV_FILE=/dev/null
unset TOPIC_PARTITIONS KAFKA_BOOTSTRAP_SERVERS

cleanup() {
    local p
    for p in "${BG_PIDS[@]}" $BPID; do
        kill -TERM "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -s "$WORK/broker.err" ]; then
        echo "--- last lines of the broker's stderr:" >&2
        tail -n 15 "$WORK/broker.err" >&2
    fi
    exit 1
}

ok() { echo "ok - $*"; }

[ -x "$BROKER" ] || fail "$BROKER is not an executable"
command -v kcat >/dev/null || fail "kcat is not installed"

# ---------------------------------------------------------------- flags
# Table: arguments | stderr pattern (extended regex). Each must exit 2 with
# nothing on stdout and the --help hint on stderr.
bad_flags=(
    '--partitions 0|invalid value "0" for option -p/--partitions'
    '--partitions abc|invalid value "abc" for option -p/--partitions'
    '--bogus|invalid option "--bogus"'
    '-b 0|invalid value "0" for option -b/--brokers'
    '--listen nonsense|invalid value "nonsense" for option -l/--listen'
    '--listen localhost:70000|invalid value "localhost:70000" for option -l/--listen'
    '-t bad/name|invalid value "bad/name" for option -t/--topic'
    '-t orders:0|invalid value "0" for option -t/--topic partitions'
    '-X nokey|invalid value "nokey" for option -X/--property'
    '-X no.such.property=1|No such configuration property'
    '-P -1|invalid value "-1" for option -P/--progress'
    '--partitions|option --partitions requires a value'
    'extra|too many command-line arguments'
)
for row in "${bad_flags[@]}"; do
    args=${row%%|*}
    pattern=${row#*|}
    # shellcheck disable=SC2086 # word splitting of args is intended
    "$BROKER" $args >"$WORK/flag.out" 2>"$WORK/flag.err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "ecom-broker $args: exit status $rc, expected 2"
    [ -s "$WORK/flag.out" ] && fail "ecom-broker $args: stdout not empty: $(head -c 200 "$WORK/flag.out")"
    grep -Eq -- "$pattern" "$WORK/flag.err" ||
        fail "ecom-broker $args: stderr lacks /$pattern/: $(cat "$WORK/flag.err")"
    grep -q 'Try "ecom-broker --help" for more information.' "$WORK/flag.err" ||
        fail "ecom-broker $args: stderr lacks the --help hint"
done
ok "bad flags exit 2 with a message on stderr and nothing on stdout (${#bad_flags[@]} cases)"

TOPIC_PARTITIONS=zero "$BROKER" >"$WORK/flag.out" 2>"$WORK/flag.err"
rc=$?
if [ "$rc" -ne 2 ] || ! grep -q 'TOPIC_PARTITIONS' "$WORK/flag.err"; then
    fail "TOPIC_PARTITIONS=zero: exit status $rc, stderr: $(cat "$WORK/flag.err")"
fi
ok "a bad TOPIC_PARTITIONS exits 2"

"$BROKER" --help >"$WORK/help.out" 2>"$WORK/help.err" || fail "--help exited $?"
for want in 'Usage:' 'in-memory' '5 MiB' '--listen' '--partitions' '--topic' \
    '--progress' 'KAFKA_BOOTSTRAP_SERVERS' 'TOPIC_PARTITIONS' 'Exit status'; do
    grep -q -- "$want" "$WORK/help.out" || fail "--help does not mention \"$want\""
done
[ -s "$WORK/help.err" ] && fail "--help wrote to stderr"
"$BROKER" --version >"$WORK/version.out" 2>&1 || fail "--version exited $?"
grep -Eq '^ecom-broker .*[0-9]+\.[0-9]+\.[0-9]+.*librdkafka [0-9]' "$WORK/version.out" ||
    fail "--version line unexpected: $(cat "$WORK/version.out")"
ok "--help and --version"

# ---------------------------------------------------------------- start
# start_broker ARGS...: starts ecom-broker on a random free port, waits for
# its "bootstrap=" line. Sets PORT, BPID, BOOTSTRAP, MOCK_BROKERS.
start_broker() {
    local i rc
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        PORT=$((19092 + RANDOM % 1000))
        "$BROKER" -l "localhost:$PORT" "$@" >"$WORK/broker.out" 2>"$WORK/broker.err" &
        BPID=$!
        # Start-up takes milliseconds, but librdkafka 2.0.2's mock cluster
        # sometimes serves a topic-creation request only after its 1 s
        # poll timeout, so allow for that per topic.
        for i in $(seq 1 300); do
            if grep -q '^bootstrap=' "$WORK/broker.out"; then
                BOOTSTRAP="localhost:$PORT"
                MOCK_BROKERS=$(sed -n 's/^bootstrap=[^ ]* brokers=//p' "$WORK/broker.out")
                return 0
            fi
            if ! kill -0 "$BPID" 2>/dev/null; then
                wait "$BPID"
                rc=$?
                BPID=""
                grep -q 'in use' "$WORK/broker.err" && continue 2 # port taken
                fail "ecom-broker exited with $rc before it was ready"
            fi
            sleep 0.1
        done
        fail "ecom-broker printed no bootstrap= line within 30 s"
    done
    fail "no free port found in 10 attempts"
}

start_broker --topic grp4:4 --topic user-events --progress 1
grep -Eq "^bootstrap=localhost:$PORT brokers=127\.0\.0\.1:[0-9]+\$" "$WORK/broker.out" ||
    fail "unexpected ready line: $(cat "$WORK/broker.out")"
ok "broker ready on localhost:$PORT, mock broker at $MOCK_BROKERS"

# ---------------------------------------------------------------- metadata
kcat -b "$BOOTSTRAP" -L -m 10 >"$WORK/meta.txt" 2>"$WORK/meta.err" || fail "kcat -L failed: $(cat "$WORK/meta.err")"
for t in user-events:3 transactions:3 inventory-updates:3 grp4:4; do
    grep -q "topic \"${t%%:*}\" with ${t#*:} partitions" "$WORK/meta.txt" ||
        fail "kcat -L lacks topic ${t%%:*} with ${t#*:} partitions: $(cat "$WORK/meta.txt")"
done
# The brokers advertise their own 127.0.0.1 ports, which clients use next.
grep -q "broker 1 at $MOCK_BROKERS" "$WORK/meta.txt" ||
    fail "metadata does not advertise broker 1 at $MOCK_BROKERS: $(grep broker "$WORK/meta.txt")"
ok "metadata lists the 3 topics with 3 partitions and grp4 with 4; broker 1 at $MOCK_BROKERS"

# Many concurrent bootstrap connections at once.
for i in $(seq 1 20); do
    kcat -b "$BOOTSTRAP" -L -t transactions -m 10 >"$WORK/par.$i" 2>&1 &
    BG_PIDS[i]=$!
done
for i in $(seq 1 20); do
    wait "${BG_PIDS[i]}" || fail "concurrent kcat -L #$i failed: $(cat "$WORK/par.$i")"
    grep -q 'topic "transactions" with 3 partitions' "$WORK/par.$i" || fail "concurrent kcat -L #$i: bad output"
done
BG_PIDS=()
ok "20 concurrent metadata requests through the forwarder"

# ---------------------------------------------------------------- kcat
for i in $(seq 1 1000); do echo "key$i:value$i"; done >"$WORK/sent.txt"
kcat -b "$BOOTSTRAP" -P -t transactions -K: <"$WORK/sent.txt" 2>"$WORK/produce.err" ||
    fail "kcat produce failed: $(cat "$WORK/produce.err")"
kcat -b "$BOOTSTRAP" -C -t transactions -o beginning -e -q -K: -f '%k:%s\n' \
    >"$WORK/recv.txt" 2>"$WORK/consume.err" || fail "kcat consume failed: $(cat "$WORK/consume.err")"
n=$(wc -l <"$WORK/recv.txt")
[ "$n" -eq 1000 ] || fail "consumed $n messages, expected 1000"
cmp -s <(sort "$WORK/sent.txt") <(sort "$WORK/recv.txt") ||
    fail "consumed keys/values differ from what was produced"
# The same key always lands in the same partition.
kcat -b "$BOOTSTRAP" -C -t transactions -o beginning -e -q -f '%k %p\n' | sort -u >"$WORK/kp.txt"
[ "$(cut -d' ' -f1 "$WORK/kp.txt" | sort -u | wc -l)" -eq "$(wc -l <"$WORK/kp.txt")" ] ||
    fail "a key was found in more than one partition"
[ "$(cut -d' ' -f2 "$WORK/kp.txt" | sort -u | wc -l)" -eq 3 ] || fail "keys did not spread over the 3 partitions"
ok "kcat produced 1000 keyed messages and consumed them back, keys and values intact"

# ---------------------------------------------------------------- consumer group
# Two balanced consumers (kcat -G) in one group split grp4's 4 partitions.
# The mock (librdkafka 2.0.2, rdkafka_mock_cgrp.c) completes a rebalance of
# a group that was already up only after session.timeout.ms - 1 s (44 s
# with the default), which two members joining close together can trigger;
# a 6 s session timeout keeps that wait at 5 s.
for m in a b; do
    kcat -b "$BOOTSTRAP" -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 \
        -G grp -o beginning -u -f '%p %k\n' grp4 \
        >"$WORK/group.$m.out" 2>"$WORK/group.$m.err" &
    BG_PIDS+=($!)
done
# last_assignment FILE: partitions of the member's latest rebalance, or "".
last_assignment() {
    grep 'rebalanced' "$1" | tail -n 1 | grep 'assigned:' | grep -o '\[[0-9]*\]' | tr -d '[]' | sort | tr '\n' ' '
}
# Wait until both hold partitions, together all four, and no rebalance
# happened for 2 s (so that none is under way when we produce).
stable=0
for i in $(seq 1 600); do
    pa=$(last_assignment "$WORK/group.a.err")
    pb=$(last_assignment "$WORK/group.b.err")
    both="$pa$pb" # each ends in a space
    if [ -n "$pa" ] && [ -n "$pb" ] &&
        [ "$(tr ' ' '\n' <<<"$both" | grep . | sort -u | tr '\n' ' ')" = "0 1 2 3 " ] &&
        [ "$(wc -w <<<"$both")" -eq 4 ]; then
        lines=$(cat "$WORK/group.a.err" "$WORK/group.b.err" | grep -c rebalanced)
        [ "$stable" -gt 0 ] && [ "$lines" != "$last_lines" ] && stable=0
        last_lines=$lines
        stable=$((stable + 1))
        [ "$stable" -ge 20 ] && break
    else
        stable=0
    fi
    sleep 0.1
done
[ "$stable" -ge 20 ] || fail "the two group members did not settle on a split of grp4's partitions within 60 s (a: $(cat "$WORK/group.a.err"); b: $(cat "$WORK/group.b.err"))"
for i in $(seq 1 1000); do echo "g$i:x"; done |
    kcat -b "$BOOTSTRAP" -P -t grp4 -K: 2>"$WORK/produce.err" || fail "kcat produce to grp4 failed"
total=0
for i in $(seq 1 300); do
    total=$(cat "$WORK/group.a.out" "$WORK/group.b.out" | wc -l)
    [ "$total" -ge 1000 ] && break
    sleep 0.1
done
sleep 1 # late duplicates would show up now
na=$(wc -l <"$WORK/group.a.out")
nb=$(wc -l <"$WORK/group.b.out")
[ $((na + nb)) -eq 1000 ] || fail "the group consumed $na + $nb messages, expected 1000 in total"
if [ "$na" -eq 0 ] || [ "$nb" -eq 0 ]; then fail "one member consumed nothing ($na, $nb)"; fi
[ "$(cat "$WORK/group.a.out" "$WORK/group.b.out" | cut -d' ' -f2 | sort -u | wc -l)" -eq 1000 ] ||
    fail "the group did not consume each of the 1000 keys exactly once"
parts_a=$(cut -d' ' -f1 "$WORK/group.a.out" | sort -u | tr '\n' ' ')
parts_b=$(cut -d' ' -f1 "$WORK/group.b.out" | sort -u | tr '\n' ' ')
if [ "$parts_a" != "$pa" ] || [ "$parts_b" != "$pb" ]; then
    fail "members read outside their assignment (a: $parts_a vs $pa; b: $parts_b vs $pb)"
fi
for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait "${BG_PIDS[@]}" 2>/dev/null
BG_PIDS=()
ok "consumer group: member a had partitions $pa($na msgs), b had $pb($nb msgs), 1000 exactly once"

# ---------------------------------------------------------------- kafka-python
cat >"$WORK/kp.py" <<'EOF'
import sys
from kafka import KafkaConsumer, KafkaProducer

bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
futures = [p.send(topic, key=b"py%d" % i, value=b"v%d" % i) for i in range(n)]
p.flush(timeout=20)
for f in futures:
    f.get(timeout=1)  # raises on a failed send
p.close()
c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="kafka-python",
                  auto_offset_reset="earliest", consumer_timeout_ms=10000)
keys = set()
for m in c:
    keys.add(m.key)
    if len(keys) == n:
        break
c.close()
want = {b"py%d" % i for i in range(n)}
if keys != want:
    sys.exit("kafka-python consumed %d of %d keys" % (len(keys & want), n))
print("kafka-python ok: %d messages" % n)
EOF
timeout 90 "$PY" "$WORK/kp.py" "$BOOTSTRAP" inventory-updates 200 >"$WORK/kp.out" 2>&1 ||
    fail "kafka-python against the broker: $(tail -n 5 "$WORK/kp.out")"
ok "kafka-python produced and consumed 200 messages (api_version probed)"

# ---------------------------------------------------------------- forwarder
# Raw Kafka requests through the bootstrap port: 5000 pipelined ApiVersions
# requests are sent while nothing is read for a second (both directions
# fill up and must wait, not drop), then every response must arrive in
# order; after our half-close the broker's end of stream must reach us.
cat >"$WORK/raw.py" <<'EOF'
import socket, struct, sys, threading, time

port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# A small receive window makes the forwarder's broker-to-client buffer fill.
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.settimeout(30)
s.connect(("127.0.0.1", port))
cid = b"raw-test"
req = b"".join(struct.pack(">ihhih", 2 + 2 + 4 + 2 + len(cid), 18, 0, i, len(cid)) + cid
               for i in range(n))
sender = threading.Thread(target=s.sendall, args=(req,))
sender.start()
time.sleep(1.0)
buf = b""
got = 0
while got < n:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("connection closed after %d of %d responses" % (got, n))
    buf += chunk
    while len(buf) >= 4:
        size = struct.unpack(">i", buf[:4])[0]
        if len(buf) < 4 + size:
            break
        corr, err = struct.unpack(">ih", buf[4:10])
        if corr != got or err != 0:
            sys.exit("response %d: correlation id %d, error %d" % (got, corr, err))
        got += 1
        buf = buf[4 + size:]
sender.join()
s.shutdown(socket.SHUT_WR)
if s.recv(1) != b"":
    sys.exit("data after the last response")
print("raw ok: %d responses, end of stream after half-close" % got)
EOF
timeout 60 "$PY" "$WORK/raw.py" "$PORT" 5000 >"$WORK/raw.out" 2>&1 ||
    fail "pipelined requests through the forwarder: $(tail -n 5 "$WORK/raw.out")"
ok "forwarder: 5000 pipelined requests answered in order under backpressure; half-close passed on"

grep -q 'progress: ' "$WORK/broker.err" || fail "no progress line with --progress 1"
ok "progress lines on stderr"

# ---------------------------------------------------------------- port in use
"$BROKER" -l "localhost:$PORT" >"$WORK/dup.out" 2>"$WORK/dup.err"
rc=$?
[ "$rc" -eq 1 ] || fail "a second broker on port $PORT exited with $rc, expected 1"
[ -s "$WORK/dup.out" ] && fail "a second broker on port $PORT printed on stdout: $(cat "$WORK/dup.out")"
grep -q "could not listen on \"localhost:$PORT\".*Address already in use" "$WORK/dup.err" ||
    fail "no clear message for a port in use: $(cat "$WORK/dup.err")"
ok "a port in use exits 1: $(grep -o 'could not listen.*' "$WORK/dup.err")"

# ---------------------------------------------------------------- SIGTERM
kill -TERM "$BPID"
for i in $(seq 1 50); do
    kill -0 "$BPID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$BPID" 2>/dev/null && fail "ecom-broker still running 5 s after SIGTERM"
wait "$BPID"
rc=$?
BPID=""
[ "$rc" -eq 0 ] || fail "ecom-broker exited with $rc after SIGTERM, expected 0"
grep -q 'summary: ' "$WORK/broker.err" || fail "no summary line after SIGTERM"
ok "SIGTERM: exit 0 within 5 s ($(grep -o 'summary: .*' "$WORK/broker.err"))"

echo "all broker tests passed"
