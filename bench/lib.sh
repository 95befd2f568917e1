# bench/lib.sh - helpers both benchmarks share: usage errors and messages,
# number checks, free ports, the broker (real Kafka or the mock), timing
# under GNU time, JSON lookups and rates. Source it after setting prog, repo
# and bin (tmp before start_broker); it leaves bootstrap set by
# start_broker, and the caller's cleanup calls stop_broker.

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

# shellcheck source=scripts/lib-ports.sh
. "$repo/scripts/lib-ports.sh"

# The broker a run measures: "kafka" (default: a real Apache Kafka, one
# KRaft node of scripts/kafka-local.sh with its log in $tmp/kafka) or
# "mock" (ecom-broker, librdkafka's in-memory mock cluster, which drops the
# oldest data past about 5 MiB per partition). Set by --broker.
broker=kafka

# check_broker VALUE: --broker's value must be kafka or mock.
check_broker() {
    [[ $1 == kafka || $1 == mock ]] || usage_error "invalid value \"$1\" for option --broker (kafka or mock)"
}

# broker_label: the broker a table was measured on, for its header.
broker_label() {
    if [[ $broker == kafka ]]; then
        echo "Apache Kafka $(sed -n 's/^default_version=//p' "$repo/scripts/kafka-local.sh") (scripts/kafka-local.sh: one KRaft node, log on local disk, heap ${ECOM_KAFKA_HEAP:-512m})"
    else
        echo "ecom-broker (librdkafka's in-memory mock cluster)"
    fi
}

# start_broker PARTITIONS [TOPIC[:P]...]: the chosen broker on free ports
# with the three topics and the extra TOPICs at PARTITIONS partitions each
# (P for a TOPIC:P); sets bootstrap. A fresh one: a Kafka log from an
# earlier start is removed.
start_broker() {
    if [[ $broker == kafka ]]; then start_kafka "$@"; else start_mock "$@"; fi
}

stop_broker() {
    if [[ $broker == kafka ]]; then stop_kafka; else stop_mock; fi
}

start_kafka() {
    local partitions=$1 port t topics="user-events transactions inventory-updates bench-warmup" sized=()
    shift
    for t in "$@"; do
        if [[ $t == *:* ]]; then sized+=("$t"); else topics+=" $t"; fi
    done
    stop_kafka
    rm -rf -- "$tmp/kafka"
    port=$(free_port_block 1) || die "no free pair of ports for Kafka"
    kafka_env=(ECOM_KAFKA_DATA="$tmp/kafka" KAFKA_BOOTSTRAP_SERVERS="localhost:$port"
        TOPIC_PARTITIONS="$partitions" ECOM_KAFKA_TOPICS="$topics")
    kafka_started=1
    env "${kafka_env[@]}" "$repo/scripts/kafka-local.sh" start >"$tmp/kafka.out" 2>&1 || {
        tail -n 20 "$tmp/kafka.out" >&2
        die "could not start Kafka (scripts/kafka-local.sh start)"
    }
    bootstrap=localhost:$port
    for t in "${sized[@]}"; do
        env "${kafka_env[@]}" "$repo/scripts/kafka-local.sh" tool TopicCommand --bootstrap-server "$bootstrap" \
            --create --topic "${t%%:*}" --partitions "${t##*:}" >>"$tmp/kafka.out" 2>&1 ||
            die "could not create topic ${t%%:*} ($(tail -n 1 "$tmp/kafka.out"))"
    done
}

# warm_broker: on Kafka, 200,000 messages of about 400 bytes produced with
# kcat to a topic of their own (not timed, not counted), so that the
# broker's JIT has compiled its produce path before the first timed run.
warm_broker() {
    [[ $broker == kafka ]] || return 0
    say "warming Kafka up: 200,000 messages to bench-warmup (not timed)"
    awk 'BEGIN { for (i = 0; i < 200000; i++) printf "k%d\t%0400d\n", i % 1000, i }' |
        kcat -P -b "$bootstrap" -t bench-warmup -K '\t' -X linger.ms=10 -X compression.type=snappy ||
        die "kcat could not produce the warm-up messages"
}

stop_kafka() {
    if [[ -n ${kafka_started:-} ]]; then
        env "${kafka_env[@]}" "$repo/scripts/kafka-local.sh" stop >/dev/null 2>&1 || true
        kafka_started=
    fi
}

# start_mock PARTITIONS [TOPIC...]: ecom-broker on a free port; retries
# when another process grabs the port first.
start_mock() {
    local port partitions=$1 t topic_args=()
    shift
    for t in "$@"; do
        if [[ $t == *:* ]]; then topic_args+=(--topic "$t"); else topic_args+=(--topic "$t:$partitions"); fi
    done
    broker_pid=
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        "$bin/ecom-broker" --listen "127.0.0.1:$port" --partitions "$partitions" "${topic_args[@]}" \
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
        stop_mock
    done
    cat "$tmp/broker.err" >&2
    die "could not start ecom-broker"
}

stop_mock() {
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
