# bench/lib.sh - helpers both benchmarks share: usage errors and messages,
# number checks, free ports, the dev broker, timing under GNU time, JSON
# lookups and rates. Source it after setting prog, bin and tmp; it leaves
# broker_pid and bootstrap set by start_broker.

usage_error() {
    echo "$prog: $1" >&2
    echo "Try \"$prog --help\" for more information." >&2
    exit 2
}

say() { echo "bench: $*" >&2; }

die() {
    echo "bench: error: $*" >&2
    exit 1
}

# posint NAME VALUE [MIN]: VALUE must be an integer >= MIN (default 1).
posint() {
    if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < ${3:-1} || $2 > 1000000000)); then
        usage_error "invalid value \"$2\" for option $1"
    fi
}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_broker PARTITIONS [ECOM-BROKER ARGS...]: ecom-broker on a free port
# with the three topics at PARTITIONS each; sets bootstrap. Retries when
# another process grabs the port first.
start_broker() {
    local port partitions=$1
    shift
    broker_pid=
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        "$bin/ecom-broker" --listen "127.0.0.1:$port" --partitions "$partitions" "$@" \
            >"$tmp/broker.out" 2>"$tmp/broker.err" &
        broker_pid=$!
        for _ in $(seq 100); do
            if grep -q '^bootstrap=' "$tmp/broker.out" 2>/dev/null; then
                bootstrap=127.0.0.1:$port
                return 0
            fi
            kill -0 "$broker_pid" 2>/dev/null || break
            sleep 0.1
        done
        stop_broker
    done
    cat "$tmp/broker.err" >&2
    die "could not start ecom-broker"
}

stop_broker() {
    if [[ -n ${broker_pid:-} ]]; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
        broker_pid=
    fi
}

# timed NAME OUT CMD...: runs CMD under GNU time, stdout to OUT, stderr to
# $tmp/NAME.err; "wall_s rss_kib user_s sys_s" goes to $tmp/NAME.res.
timed() {
    local name=$1 out=$2 rc=0
    shift 2
    /usr/bin/time -o "$tmp/$name.time" -f '%e %M %U %S' "$@" >"$out" 2>"$tmp/$name.err" || rc=$?
    if ((rc != 0)); then
        tail -n 20 "$tmp/$name.err" >&2
        die "$name exited with status $rc"
    fi
    tail -n 1 "$tmp/$name.time" >"$tmp/$name.res"
}

# json FILE EXPR: a Python expression on the JSON object in FILE (j).
json() {
    /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# eps EVENTS SECONDS: events per second, one decimal.
eps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }
