#!/usr/bin/env bash
# tests/integration/test_stream_faults.sh - ecom-stream against PostgreSQL and
# Kafka faults, with exact row counts against the simulator's summary:
#  A. PostgreSQL crash (pg_ctl -m immediate) in the middle of a drain, with
#     the default --synchronous-commit off at several points, with
#     --exit-when-idle, and with --synchronous-commit on: the lost commits are
#     read again, nothing stalls, the log tells what happened;
#  B. PostgreSQL frozen (SIGSTOP of the whole throwaway cluster) with a batch
#     in flight: progress lines go on, /health turns 503 within the stall
#     bound, SIGTERM ends the stream within its bound;
#  C. a network partition (every packet to and from the cluster's port
#     dropped by an nftables rule, no reset): the stream notices within its
#     deadlines, says so, resumes promptly after the heal, honours SIGTERM
#     during a second partition;
#  D. two instances with cooperative-sticky rebalancing, side by side while
#     the simulator runs;
#  E. a transactional producer: committed transactions stored exactly once,
#     no false gaps; aborted transactions and marker holes only where the
#     broker writes markers (the dev broker does not: a "skip -" line says so).
# After each run the consistency checks of sql/checks/ list nothing.
# Measured times are printed as "# ..." lines and in the check names.
# Needs root for the nftables rule (C) and the SIGSTOP/pg_ctl of the
# cluster run by "postgres"; ECOM_TEST_FAULTS=AC runs only some scenarios.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
sim=$bin/ecom-simulator
stream=$bin/ecom-stream

# --- knobs
# The stall bound under test: ecom-stream --stall-timeout SECONDS. Set
# ECOM_TEST_STALL_FLAG=0 to run against a build that lacks the flag (the
# bounds below still assume $stall_timeout).
stall_timeout=5
stall_flags=(--stall-timeout "$stall_timeout")
[[ ${ECOM_TEST_STALL_FLAG:-1} == 1 ]] || stall_flags=()
exit_bound_s=15      # SIGTERM to exit, PostgreSQL frozen or unreachable
notice_bound_s=20    # partition start to the log (and /health) saying so
resume_bound_s=15    # partition healed to rows stored again
catchup_bound_s=30   # after a crash: stored offsets must not stop growing this long
crash_down_s=3       # PostgreSQL stays down this long after a crash
partition_s=30       # the first partition's length
preload=100000       # events preloaded for the crash runs (24 partitions)
pg_bindir=${ECOM_PG_BINDIR:-/usr/lib/postgresql/15/bin}
scenarios=${ECOM_TEST_FAULTS:-ABCDE} # run only some: ECOM_TEST_FAULTS=BC
nft_table=ecomtest_$$
partitioned=
frozen=

now_ms() { date +%s%3N; }
note() { printf '# %s\n' "$*"; }
stored() { sql 'select (select count(*) from user_events) + (select count(*) from transactions) + (select count(*) from inventory_updates)'; }
offsets_sum() { # GROUP
    sql "select coalesce(sum(next_offset), 0) from stream_offsets where consumer_group = '$1'"
}
valid_of() { json_get "$1" "sum(v['valid_unique'] for v in j['topics'].values())"; }
expect_exact() { # NAME SUMMARY_FILE GROUP
    check "$1: every valid event stored exactly once" "$(valid_of "$2")" "$(stored)"
    check "$1: offsets cover every message, no gap recorded" "$(json_get "$2" 'j["delivered"]') 0" \
        "$(offsets_sum "$3") $(sql 'select count(*) from stream_gaps')"
}
# wait_offsets GROUP N SECONDS: until stream_offsets holds N offsets for the
# group. Returns 1 on timeout.
# wait_offsets GROUP N SECONDS: until GROUP's stored offsets sum to N; fails
# when they stop growing for SECONDS (a stall), or after 300 s in all, so a
# slow, loaded machine is not taken for a stall.
wait_offsets() {
    local t0 since last prev=-1
    t0=$(now_ms) since=$t0
    while :; do
        last=$(offsets_sum "$1" 2>/dev/null || echo 0)
        ((last >= $2)) && return 0
        ((last != prev)) && since=$(now_ms) prev=$last
        (($(now_ms) - since >= $3 * 1000 || $(now_ms) - t0 >= 300000)) && return 1
        sleep 0.1
    done
}
wait_for_rows() { # N SECONDS
    local t0
    t0=$(now_ms)
    until (($(stored) >= $1)); do
        (($(now_ms) - t0 >= $2 * 1000)) && return 1
        sleep 0.1
    done
}
# wait_exit PID SECONDS: waits at most SECONDS for PID to end; sets exit_rc
# and exit_ms. Returns 1 if it is still running.
wait_exit() {
    local t0
    t0=$(now_ms)
    while kill -0 "$1" 2>/dev/null; do
        (($(now_ms) - t0 >= $2 * 1000)) && { exit_ms=$(($(now_ms) - t0)); return 1; }
        sleep 0.1
    done
    exit_ms=$(($(now_ms) - t0))
    exit_rc=0
    wait "$1" || exit_rc=$?
}
# stop_stream PID NAME [UNBLOCK]: SIGTERM, then the stream must exit 0 within
# exit_bound_s. If it does not, UNBLOCK (a command) runs, and the stream gets
# 30 s more, then SIGKILL, so that the rest of the test can go on.
stop_stream() {
    local pid=$1 name=$2 unblock=${3:-}
    kill -TERM "$pid" 2>/dev/null || true
    if wait_exit "$pid" "$exit_bound_s"; then
        note "$name: exited $(printf '%d.%03d' $((exit_ms / 1000)) $((exit_ms % 1000))) s after SIGTERM"
        check_range "$name: exits within ${exit_bound_s} s of SIGTERM (ms)" 0 $((exit_bound_s * 1000)) "$exit_ms"
        check "$name: exit status after SIGTERM" 0 "$exit_rc"
        return 0
    fi
    not_ok "$name: still running ${exit_bound_s} s after SIGTERM"
    [[ -z $unblock ]] || $unblock
    if wait_exit "$pid" 30; then
        note "$name: exited with status $exit_rc $((exit_ms / 1000)) s after the fault ended"
    else
        note "$name: still running 30 s after the fault ended; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
health() { curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/health" || true; }
# wait_health CODE SECONDS: polls /health until it answers CODE; sets
# health_ms (time taken). Returns 1 on timeout.
wait_health() {
    local t0
    t0=$(now_ms)
    until [[ $(health) == "$1" ]]; do
        (($(now_ms) - t0 >= $2 * 1000)) && { health_ms=$(($(now_ms) - t0)); return 1; }
        sleep 0.25
    done
    health_ms=$(($(now_ms) - t0))
}

# logq QUERY LOG ARGS...: questions about a log's timestamped lines
# (2026-11-25T16:19:25.123Z ecom-stream INFO: ...), times in epoch ms:
#   gap LOG T0 T1       longest time in [T0, T1] without a progress line (ms)
#   first LOG T0 REGEX  T0 to the first line at or after T0 matching REGEX
#                       (ms), -1 if none
#   falseclaims LOG     "the kept batch is committed" lines that follow a
#                       fence or a dropped batch (within 5 lines, progress
#                       and per-partition "assigned ..." lines aside)
logq() {
    /usr/bin/python3 - "$@" <<'PY'
import re, sys, datetime
def lines(path):
    for line in open(path, errors="replace"):
        m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z ", line)
        if m:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
            yield t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000, line
q, path = sys.argv[1], sys.argv[2]
if q == "gap":
    t0, t1 = float(sys.argv[3]), float(sys.argv[4])
    ts = [t0] + [t for t, l in lines(path) if " progress: " in l and t0 < t < t1] + [t1]
    print(int(max(b - a for a, b in zip(ts, ts[1:]))))
elif q == "first":
    t0, rx = float(sys.argv[3]), re.compile(sys.argv[4])
    print(next((int(t - t0) for t, l in lines(path) if t >= t0 and rx.search(l)), -1))
elif q == "falseclaims":
    recent, n = [], 0
    for _, l in lines(path):
        if " progress: " in l or re.search(r" INFO: assigned .* resuming at offset", l):
            continue
        if "kept batch is committed" in l and any(
                re.search(r"(?i)fence|another instance|dropping|rewind", r) for r in recent):
            n += 1
        recent = (recent + [l])[-5:]
    print(n)
PY
}
# A WARN or ERROR line about PostgreSQL (not a progress line).
pg_trouble='(WARN|ERROR): .*([Pp]ostgre|PostgreSQL)'

# --- PostgreSQL processes: crash, freeze, thaw
pg_as_owner() {
    if ((EUID == 0)); then
        (cd / && runuser -u "$(stat -c %U "$ECOM_PGDATA")" -- "$@")
    else
        "$@"
    fi
}
crash_pg() { pg_as_owner "$pg_bindir/pg_ctl" stop -D "$ECOM_PGDATA" -m immediate -w -t 30 -s; }
# A checkpoint (as the cluster's superuser, over its socket) keeps the crash
# recovery of the next start short.
checkpoint_pg() {
    pg_as_owner "$pg_bindir/psql" -X -q -h "$ECOM_PGDATA" -p "$PGPORT" -U "$(stat -c %U "$ECOM_PGDATA")" \
        -d postgres -c checkpoint >/dev/null || note "checkpoint failed"
}
# The cluster's processes: the postmaster (postmaster.pid's first line) first,
# then its children, so that none is forked after the list was taken.
pg_pids() {
    local pm
    pm=$(head -n 1 "$ECOM_PGDATA/postmaster.pid")
    printf '%s\n' "$pm"
    pgrep -P "$pm" || true
}
freeze_pg() {
    local p
    frozen=$(pg_pids | tr '\n' ' ')
    for p in $frozen; do kill -STOP "$p" 2>/dev/null || true; done # a backend gone since needs no freezing
}
thaw_pg() {
    local p
    for p in $frozen; do kill -CONT "$p" 2>/dev/null || true; done
    frozen=
}
# --- the network partition: an nftables table of our own dropping, on
# input, every TCP segment to or from the cluster's port (on loopback both
# directions cross the input hook). Nothing is rejected, so the sockets see
# no error, only silence, as with a dead switch.
partition_on() {
    nft -f - <<EOF
table inet $nft_table {
    chain input {
        type filter hook input priority -10; policy accept;
        tcp dport $PGPORT drop
        tcp sport $PGPORT drop
    }
}
EOF
    partitioned=1
}
partition_off() {
    [[ -z $partitioned ]] || nft delete table inet "$nft_table" 2>/dev/null || true
    partitioned=
}
faults_cleanup() {
    partition_off
    thaw_pg
}
trap 'faults_cleanup; lib_cleanup' EXIT

# ======================================================================
# A. PostgreSQL crash mid-drain
# ======================================================================
# crash_run LABEL PERCENT MODE [STREAM ARGS...]: a fresh consumer group
# drains the preload; once PERCENT of its offsets are stored, PostgreSQL is
# stopped immediately and started again crash_down_s later. MODE "term": the
# stream must store every offset within catchup_bound_s on its own, then
# stop on SIGTERM; MODE "idle": it runs with --exit-when-idle 3 and must not
# exit before everything is stored.
crash_run() {
    local label=$1 pct=$2 mode=$3 group pid at before t_crash t_down t_start_pg t_up ms
    shift 3
    reset_tables
    checkpoint_pg
    group=faults-$label-$$
    [[ $mode == idle ]] && set -- "$@" --exit-when-idle 3
    "$stream" -g "$group" -p 0 -P 1 "${stall_flags[@]}" "$@" >"$tmp/$label.out" 2>"$tmp/$label.err" &
    pid=$!
    at=$((delivered * pct / 100))
    if ! wait_offsets "$group" "$at" 60; then
        not_ok "$label: stream did not store $at offsets within 60 s"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return 0
    fi
    before=$(offsets_sum "$group")
    t_crash=$(now_ms)
    crash_pg
    t_down=$(now_ms)
    check_range "$label: the crash hit mid-drain (offsets stored before it)" "$at" $((delivered - 1)) "$before"
    sleep "$crash_down_s"
    t_start_pg=$(now_ms)
    "$repo/scripts/pg-local.sh" start >/dev/null
    t_up=$(now_ms)
    note "$label: crashed at $before of $delivered offsets (stop took $((t_down - t_crash)) ms), PostgreSQL back after $((t_up - t_crash)) ms (start took $((t_up - t_start_pg)) ms)"
    ms=$(logq first "$tmp/$label.err" "$t_crash" "$pg_trouble")
    check_range "$label: the stream noticed the crash (ms)" 0 $((t_up - t_crash + 10000)) "$ms"
    if [[ $mode == idle ]]; then
        if wait_exit "$pid" 90; then
            note "$label: exited $(($(now_ms) - t_up)) ms after PostgreSQL came back"
            check "$label: --exit-when-idle exits 0" 0 "$exit_rc"
        else
            not_ok "$label: still running 90 s after PostgreSQL came back"
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
        # Right after the exit: nothing may be left unstored.
        expect_exact "$label" "$tmp/crash.json" "$group"
    else
        if wait_offsets "$group" "$delivered" "$catchup_bound_s"; then
            ms=$(($(now_ms) - t_up))
            note "$label: every offset stored $ms ms after PostgreSQL came back"
            ok "$label: no stall: lag 0 within ${catchup_bound_s} s ($ms ms)"
        else
            not_ok "$label: stalled: $(offsets_sum "$group") of $delivered offsets stored; none for ${catchup_bound_s} s after PostgreSQL came back (or 300 s in all)"
        fi
        expect_exact "$label" "$tmp/crash.json" "$group"
        stop_stream "$pid" "$label"
    fi
    run_checks "$label"
    if ! grep -q ' progress: ' "$tmp/$label.err"; then
        not_ok "$label: the log has no progress line: nothing to judge it by"
    elif grep -q 'another instance' "$tmp/$label.err"; then
        not_ok "$label: the log blames another instance: $(grep -m 1 'another instance' "$tmp/$label.err")"
    else
        ok "$label: the log blames no other instance"
    fi
    check "$label: no false \"kept batch is committed\"" 0 "$(logq falseclaims "$tmp/$label.err")"
}

scenario_a() {
    local t0
    start_broker --partitions 24
    t0=$(now_ms)
    expect_status "crash: simulator preloads $preload events" 0 \
        "$sim" --max-rate -n "$preload" --seed 2102 -P 0
    cp "$tmp/out" "$tmp/crash.json"
    delivered=$(json_get "$tmp/crash.json" 'j["delivered"]')
    note "crash: preload took $(($(now_ms) - t0)) ms"
    crash_run crash-early 5 term
    # At the default 50,000-row batches the drain of 100,000 offsets stores
    # in two or three steps, and 65% may be passed only at the end: smaller
    # batches keep the late crash inside the drain.
    crash_run crash-late 65 term --flush-rows 5000
    crash_run crash-idle 35 idle
    crash_run crash-sync-on 35 term --synchronous-commit on
    stop_broker
    reset_tables
}

# ======================================================================
# B. PostgreSQL frozen (SIGSTOP) with a batch in flight
# ======================================================================
scenario_b() {
    local group pid sim_pid t_f t_obs gap rc
    start_broker --partitions 3
    hport=$(free_port)
    group=faults-frozen-$$
    "$stream" -g "$group" -p "$hport" -P 1 "${stall_flags[@]}" >"$tmp/frozen.out" 2>"$tmp/frozen.err" &
    pid=$!
    # 430 events/s, a batch every 100 ms (--flush-ms): one is always in flight
    # or about to be.
    "$sim" -m 20 -d 20 --seed 2103 -P 0 >"$tmp/frozen.json" 2>"$tmp/frozen-sim.err" &
    sim_pid=$!
    if wait_for_rows 500 60; then ok "frozen: stream stores events before the freeze"; else not_ok "frozen: nothing stored before the freeze ($(stored))"; fi
    check "frozen: health is 200 before the freeze" 200 "$(health)"
    t_f=$(now_ms)
    freeze_pg
    note "frozen: stopped the PostgreSQL processes $frozen"
    # No psql while frozen: it would hang like the stream.
    if wait_health 503 $((stall_timeout + 3)); then
        note "frozen: /health 503 after $health_ms ms"
        ok "frozen: health is 503 within the stall bound ($health_ms ms)"
    else
        not_ok "frozen: health still $(health) $((stall_timeout + 3)) s into the freeze"
    fi
    # Watch the frozen stream for stall_timeout + 5 s in all.
    while (($(now_ms) - t_f < (stall_timeout + 5) * 1000)); do sleep 0.2; done
    t_obs=$(now_ms)
    kill -0 "$pid" 2>/dev/null && ok "frozen: stream keeps running" || not_ok "frozen: stream died during the freeze"
    gap=$(logq gap "$tmp/frozen.err" "$t_f" "$t_obs")
    note "frozen: longest time without a progress line during the freeze: $gap ms"
    check_range "frozen: progress lines go on (longest gap, ms)" 0 3000 "$gap"
    stop_stream "$pid" "frozen" thaw_pg
    thaw_pg
    note "frozen: PostgreSQL was frozen for $(($(now_ms) - t_f)) ms"
    rc=0
    wait "$sim_pid" || rc=$?
    check "frozen: simulator exits 0" 0 "$rc"
    expect_status "frozen: restarted stream exits 0 when idle" 0 "$stream" -g "$group" -p 0 -P 0 --exit-when-idle 3
    expect_exact "frozen" "$tmp/frozen.json" "$group"
    run_checks "frozen"
    stop_broker
    reset_tables
}

# ======================================================================
# C. network partition between the stream and PostgreSQL
# ======================================================================
scenario_c() {
    local group pid sim_pid t_p t_h gap ms rows_heal rc
    if ((EUID != 0)); then
        echo "skip - partition: nftables rules need root"
        return 0
    elif ! command -v nft >/dev/null; then
        not_ok "partition: nft not found (scripts/deps.sh should install nftables)"
        return 0
    fi
    start_broker --partitions 3
    hport=$(free_port)
    group=faults-partition-$$
    "$stream" -g "$group" -p "$hport" -P 1 "${stall_flags[@]}" >"$tmp/part.out" 2>"$tmp/part.err" &
    pid=$!
    # Stopped by SIGTERM once both partitions are over.
    "$sim" -m 10 -d 120 --seed 2104 -P 0 >"$tmp/part.json" 2>"$tmp/part-sim.err" &
    sim_pid=$!
    if wait_for_rows 300 60; then ok "partition: stream stores events before the partition"; else not_ok "partition: nothing stored before it ($(stored))"; fi
    check "partition: health is 200 before the partition" 200 "$(health)"
    t_p=$(now_ms)
    partition_on
    # No psql while partitioned: it would hang like the stream.
    if wait_health 503 "$notice_bound_s"; then
        note "partition: /health 503 after $health_ms ms"
        ok "partition: health is 503 within ${notice_bound_s} s ($health_ms ms)"
    else
        not_ok "partition: health still $(health) ${notice_bound_s} s into the partition"
    fi
    while (($(now_ms) - t_p < partition_s * 1000)); do sleep 0.2; done
    t_h=$(now_ms)
    kill -0 "$pid" 2>/dev/null && ok "partition: stream keeps running" || not_ok "partition: stream died during the partition"
    gap=$(logq gap "$tmp/part.err" "$t_p" "$t_h")
    note "partition: longest time without a progress line during the ${partition_s} s partition: $gap ms"
    check_range "partition: progress lines go on (longest gap, ms)" 0 3000 "$gap"
    ms=$(logq first "$tmp/part.err" "$t_p" "$pg_trouble")
    note "partition: first warning about PostgreSQL ${ms} ms into the partition (-1: none)"
    check_range "partition: the log says PostgreSQL is unreachable within ${notice_bound_s} s (ms)" \
        0 $((notice_bound_s * 1000)) "$ms"
    partition_off
    rows_heal=$(stored)
    if wait_for_rows $((rows_heal + 1)) "$resume_bound_s"; then
        ms=$(($(now_ms) - t_h))
        note "partition: storing again $ms ms after the heal"
        ok "partition: resumes within ${resume_bound_s} s of the heal ($ms ms)"
    else
        not_ok "partition: nothing stored ${resume_bound_s} s after the heal ($(stored) rows, $rows_heal at the heal)"
    fi
    if wait_health 200 "$resume_bound_s"; then
        ok "partition: health is 200 again after the heal"
    else
        not_ok "partition: health still $(health) ${resume_bound_s} s after the heal"
    fi
    # A second partition with a batch in flight (one every 100 ms), then
    # SIGTERM.
    partition_on
    t_p=$(now_ms)
    sleep 4
    kill -0 "$sim_pid" 2>/dev/null && ok "partition: events still flowing at the second partition" \
        || not_ok "partition: the simulator ended before the second partition"
    stop_stream "$pid" "partition" partition_off
    [[ -z $partitioned ]] || note "partition: the second partition lasted $(($(now_ms) - t_p)) ms"
    partition_off
    kill -TERM "$sim_pid" 2>/dev/null || true
    rc=0
    wait "$sim_pid" || rc=$?
    check "partition: simulator stopped by SIGTERM exits 0" 0 "$rc"
    expect_status "partition: restarted stream exits 0 when idle" 0 "$stream" -g "$group" -p 0 -P 0 --exit-when-idle 3
    expect_exact "partition" "$tmp/part.json" "$group"
    run_checks "partition"
    stop_broker
    reset_tables
}

# ======================================================================
# D. two instances with cooperative-sticky rebalancing
# ======================================================================
# last_stored LOG: "stored N" of the last progress line (printed at exit).
last_stored() { sed -n 's/.* progress: .*, stored \([0-9]*\),.*/\1/p' "$1" | tail -n 1; }

scenario_d() {
    local group x n
    local -A pids
    start_broker --partitions 6
    group=faults-coop-$$
    coop=(-X partition.assignment.strategy=cooperative-sticky)
    for x in a b; do
        "$stream" -g "$group" -p 0 -P 0 "${coop[@]}" --exit-when-idle 8 >"$tmp/c$x.out" 2>"$tmp/c$x.err" &
        pids[$x]=$!
    done
    sleep 2
    expect_status "coop: simulator while two instances run" 0 "$sim" -m 100 -d 8 --seed 2105 --duplicate 0.02 -P 0
    cp "$tmp/out" "$tmp/coop.json"
    for x in a b; do
        if wait_exit "${pids[$x]}" 60; then
            check "coop: instance ${x^^} exits 0" 0 "$exit_rc"
        else
            not_ok "coop: instance ${x^^} still running 60 s after the simulator ended"
            kill -KILL "${pids[$x]}" 2>/dev/null || true
            wait "${pids[$x]}" 2>/dev/null || true
        fi
    done
    grep -q 'assigned' "$tmp/ca.err" && grep -q 'assigned' "$tmp/cb.err" \
        && ok "coop: both instances were assigned partitions" || not_ok "coop: an instance got no partitions"
    for x in a b; do
        n=$(last_stored "$tmp/c$x.err")
        check_range "coop: instance ${x^^} stored events" 1 10000000 "${n:-none}"
    done
    expect_exact "coop" "$tmp/coop.json" "$group"
    run_checks "coop"
    for x in a b; do
        if grep -E ' (ERROR|WARN): ' "$tmp/c$x.err" >"$tmp/c$x.bad"; then
            note "coop: instance ${x^^} warned:"
            head -n 3 "$tmp/c$x.bad" | sed 's/^/#     /'
        fi
    done
    stop_broker
    reset_tables
}

# ======================================================================
# E. transactional producer
# ======================================================================
# $tmp/txn.py MODE BOOTSTRAP EVENTS ABORT: MODE "probe": one committed and
# one aborted transaction into txn-probe [0]; "run": the EVENTS file's
# events (key TAB value lines) in transactions of 200, the second one
# aborted when ABORT is 1; prints the event ids, "C id" for committed and
# "A id" for aborted ones.
cat >"$tmp/txn.py" <<'PY'
import json, sys
from confluent_kafka import Producer
mode, bootstrap, events, abort = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "ecomtest-" + mode,
              "enable.idempotence": True})
p.init_transactions(30)
def tx(msgs, commit, topic="user-events", partition=None):
    p.begin_transaction()
    for k, v in msgs:
        kw = {} if partition is None else {"partition": partition}
        p.produce(topic, key=k, value=v, **kw)
    p.flush(30)
    (p.commit_transaction if commit else p.abort_transaction)(30)
if mode == "probe":
    tx([(b"k", b"committed")] * 3, True, "txn-probe", 0)
    tx([(b"k", b"aborted")] * 2, False, "txn-probe", 0)
    sys.exit(0)
rows = [l.rstrip("\n").split("\t", 1) for l in open(events, encoding="utf-8")]
rows = [(k.encode(), v.encode()) for k, v in rows]
for i in range(0, len(rows), 200):
    commit = not (abort and i == 200)
    tx(rows[i:i + 200], commit)
    for _, v in rows[i:i + 200]:
        print(("C " if commit else "A ") + json.loads(v)["event_id"])
PY
txn() { timeout 120 /usr/bin/python3 "$tmp/txn.py" "$1" "$bootstrap" "$tmp/txn-events.tsv" "$2"; }
# count_ids C|A: how many of the committed (C) or aborted (A) ids are stored.
count_ids() {
    local ids
    ids=$(sed -n "s/^$1 \(.*\)/'\1'/p" "$tmp/txn-ids" | paste -sd,)
    [[ -n $ids ]] || { echo 0; return; }
    sql "select count(*) from user_events where event_id in ($ids)"
}

scenario_e() {
    local probe_offsets probe_values abort committed aborted group
    if ! /usr/bin/python3 -c 'import confluent_kafka' 2>/dev/null; then
        not_ok "txn: python3-confluent-kafka is missing (scripts/deps.sh installs it)"
        return 0
    fi
    # Valid user events to replay: the simulator's, read back from a scratch
    # cluster (the stream reads only a fresh one).
    start_broker --partitions 2
    expect_status "txn: simulator makes 600 user events" 0 "$sim" --max-rate -n 600 -t 0 -i 0 --seed 2106 -P 0
    kcat -C -b "$bootstrap" -t user-events -o beginning -e -q -f '%k\t%s\n' >"$tmp/txn-events.tsv"
    check "txn: events read back" 600 "$(wc -l <"$tmp/txn-events.tsv")"
    stop_broker
    start_broker --partitions 2
    if ! txn probe 0 2>"$tmp/txn-probe.err"; then
        not_ok "txn: a transactional producer cannot work with the broker: $(tail -n 3 "$tmp/txn-probe.err")"
        stop_broker
        return 0
    fi
    probe_offsets=$(kcat -C -b "$bootstrap" -t txn-probe -p 0 -o beginning -e -q -f '%o ' | sed 's/ $//')
    probe_values=$(kcat -C -b "$bootstrap" -t txn-probe -p 0 -o beginning -e -q -f '%s ' | sed 's/ $//')
    note "txn: probe (3 committed, then 2 aborted) read back with read_committed: offsets $probe_offsets; values $probe_values"
    # Kafka: offsets 0 1 2 and a commit marker at 3; the aborted records at
    # 4 5 hidden; an abort marker at 6. Offsets 0..4 with the aborted values
    # shown: no markers, no aborts.
    abort=1
    [[ $probe_values == *aborted* || $probe_offsets == "0 1 2 3 4" ]] && abort=0
    if ((abort == 0)); then
        echo "skip - txn: aborted transaction and marker holes: the dev broker (librdkafka's mock cluster) accepts the transactional API but writes no transaction markers and hands aborted records to read_committed consumers (offsets $probe_offsets); only committed transactions are checked"
    fi
    if txn run "$abort" >"$tmp/txn-ids" 2>"$tmp/txn-run.err"; then
        ok "txn: transactional producer delivered"
    else
        not_ok "txn: transactional producer failed: $(tail -n 3 "$tmp/txn-run.err")"
    fi
    committed=$(grep -c '^C ' "$tmp/txn-ids" || true)
    aborted=$(grep -c '^A ' "$tmp/txn-ids" || true)
    note "txn: $committed committed and $aborted aborted events; $(kcat -Q -b "$bootstrap" -t user-events:0:-1 -t user-events:1:-1 2>/dev/null | paste -sd ' ')"
    check_range "txn: committed events produced" 400 600 "$committed"
    group=faults-txn-$$
    expect_status "txn: stream exits 0 when idle" 0 "$stream" -g "$group" -p 0 -P 0 --exit-when-idle 3
    check "txn: committed events stored exactly once" "$committed" "$(sql 'select count(*) from user_events')"
    check "txn: the stored events are the committed ones" "$committed" "$(count_ids C)"
    check "txn: no dead letter and no gap among $committed stored events" "0 0 $committed" \
        "$(sql 'select count(*) from dead_letter_events') $(sql 'select count(*) from stream_gaps') $(stored)"
    # Without markers the log ends right after the last event; with them a
    # marker follows it, which no stored offset has to cover.
    ((abort == 1)) || check "txn: offsets cover the log" \
        "$(($(kcat -Q -b "$bootstrap" -t user-events:0:-1 -t user-events:1:-1 | sed -n 's/.* offset \([0-9]*\)$/\1/p' | paste -sd+)))" \
        "$(offsets_sum "$group")"
    ((abort == 0)) || check "txn: aborted events not stored" 0 "$(count_ids A)"
    run_checks "txn"
    stop_broker
    reset_tables
}

t_start=$(now_ms)
start_pg >/dev/null
for s in A B C D E; do
    [[ $scenarios == *$s* ]] || continue
    t0=$(now_ms)
    "scenario_${s,}"
    note "$s took $(($(now_ms) - t0)) ms"
done
note "whole test: $(($(now_ms) - t_start)) ms"
finish
