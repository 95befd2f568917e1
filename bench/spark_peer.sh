#!/usr/bin/env bash
# bench/spark_peer.sh - runs and measures bench/spark_peer.py, the Spark
# Structured Streaming peer of ecom-stream (issue 9's benchmark), on events
# preloaded into Kafka. A reference tool: it owns the PostgreSQL schema
# spark_peer (dropped and recreated by every run) and a throwaway Spark
# cluster (scripts/spark-local.sh: a master and a worker of 2 cores and
# 1 GiB, their data in the run's temp dir, free ports), never the product's
# tables. It leaves no process behind (traps stop Spark, and in the
# standalone form Kafka and PostgreSQL).
#
# Three forms:
#   bench/spark_peer.sh [-n EVENTS] [-s SEED] [OPTIONS]
#       standalone: a fresh Kafka (bench/lib.sh start_broker: one KRaft node
#       of scripts/kafka-local.sh, 3 partitions per topic) and a throwaway
#       PostgreSQL 15 (scripts/pg-local.sh, sql/init.sql applied) on free
#       ports; preloads ecom-simulator --max-rate -n EVENTS -s SEED (not
#       timed), produces the sentinels, runs the peer; prints the table and
#       writes it to bench/results/spark-peer-DATE.txt.
#   bench/spark_peer.sh run --bootstrap HOST:PORT --summary FILE [OPTIONS]
#       against a running Kafka whose topics hold the preload (and the
#       sentinels) and the PostgreSQL of the PG* variables (PGHOST, PGPORT,
#       PGDATABASE, PGUSER, PGPASSWORD; ECOM_PGDATA, when set, adds the
#       server's CPU): FILE is the simulator's JSON summary of the preload.
#       Prints the table row on stdout and, with --out FILE, the figures
#       as key=value lines (for bench/analytics.sh to put beside
#       ecom-stream's).
#   bench/spark_peer.sh sentinels --bootstrap HOST:PORT
#       produces one sentinel event to every partition of the three topics.
#
# Flushing the last windows. A bounded preload ends, and a watermark only
# passes the last windows when later events arrive: Spark's (the maximum
# event time seen minus 10 s) stays 10 s behind the last event, so append
# mode never emits the last windows, and ecom-stream's (the minimum over
# partitions) waits for every partition. So after the preload every
# partition of every topic gets one valid sentinel event (kcat -p), the same
# for both engines: event time = now + 1 hour (schema.c accepts up to a day
# ahead), user_id "bench-sentinel", product "SENTINEL" (transactions: one
# line of quantity 1 at price 0; inventory: current_stock 1000 at NYC). It
# is the last message of its partition, so it makes no preload event late in
# either engine (Kafka's maxOffsetsPerTrigger splits a batch in proportion to
# each partition's backlog, so all partitions reach their ends in the same
# micro-batch); it moves every watermark an hour ahead and so makes every
# preload window final. Its own windows stay open, are never written by the
# peer and are left out of every comparison (product SENTINEL). The raw
# checks count the sentinels apart. (The alternative, Trigger.AvailableNow,
# processes the backlog and stops: the last windows stay open in the state
# store and are never written, so the final figures would miss them.)
#
# Measured (from the batches log the job writes in PostgreSQL and a /proc
# sampler every 0.25 s):
#   events/s end to end = Kafka messages (preload + sentinels) / seconds from
#     the first micro-batch with data starting (its foreachBatch) to the
#     commit of the raw batch that stored the last message;
#   last window final = seconds from the same start to the commit of the
#     last window row of the preload (product_window_metrics.stored_at);
#   start-up = spark-submit to that first batch (JVMs, SparkContext, the
#     executor, the queries' planning), shown apart;
#   peak RSS = VmHWM of every process of the cluster (master, worker,
#     driver JVM, driver python, executor JVM, the launcher JVMs of
#     spark-class), each and summed, and the largest sampled sum of their
#     RSS at one moment (a process is one of the run's when its environment
#     names one of its SPARK_CONF_DIRs, asked again after each exec; a child
#     a JVM forked that has not exec'd yet is not counted);
#   CPU s = user+system of them all from spark-submit to the end (sampled;
#     the daemons' start-up before is shown apart); PG CPU s (with
#     ECOM_PGDATA) = the PostgreSQL server's over the same span.
# Checked: the peer's raw rows per topic = the simulator's valid_unique (and
# one sentinel per partition), transaction_items = sum(item_count), dead
# letters = the simulator's malformed + missing_field, every message consumed (the
# raw query's offsets = the topics' end offsets), no row dropped by the
# watermark, and the peer's window figures = a SQL recomputation from its
# own raw tables, row by row.
#
# Options (all forms):
#   --max-offsets N      maxOffsetsPerTrigger of the Kafka source, 0 = none
#                        (default: 100000; the figures below)
#   --state-store KIND   rocksdb (default) or hdfs
#   --timeout S          deadline for the whole run of the job (default 1800)
#   --bin DIR            ecom-simulator's directory (default: <repo>/build/bin)
#   --label TEXT         a note for the table
# Environment: ECOM_SPARK_PEER_SUBMIT_ARGS (more spark-submit arguments,
# split at spaces, e.g. --conf spark.executor.memory=1g), ECOM_BENCH_KEEP=1
# (keep the run's temp dir: logs, progress, samples), ECOM_SPARK_CACHE
# (pyspark, the Kafka connector and the JDBC driver; default
# ${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/spark), and
# spark-local.sh's ECOM_SPARK_EXECUTOR_MEMORY / ECOM_SPARK_DRIVER_MEMORY
# (512m each by default, within the worker's 1 GiB).
# The PostgreSQL JDBC driver org.postgresql:postgresql:$jdbc_version comes
# from Maven Central into the cache once (mvn dependency:copy), as
# spark-local.sh fetches the connector; later runs download nothing.
#
# Side by side with ecom-stream (a future bench/analytics.sh): preload, then
# "$prog sentinels --bootstrap B" once, run ecom-stream and "$prog run
# --bootstrap B --summary SUMMARY --out FILE" on the same topics and the same
# PostgreSQL (the peer writes only the schema spark_peer), read FILE's
# key=value figures, and compare the final windows with
#   SELECT window_start, product_id, views, add_to_carts, orders, units_sold,
#          revenue FROM spark_peer.product_window_metrics
#   WHERE product_id <> 'SENTINEL'
# against ecom-stream's final rows (EXCEPT both ways). Run the two one after
# the other, not at once: each takes both cores.
#
# Measured here (2 cores shared with other sessions' builds and tests, so
# the load average, printed with every run, moves the figures by 2x):
#   100,000 events (--max-rate -n 100000 -s 1), max-offsets 100000, RocksDB:
#     load 3.4 -> 6.1: stored 95.9 s (1,043 events/s), last window final
#       89.1 s, CPU 164 s, PG CPU 4.7 s, RSS peak 1,721 MB;
#     load 12.7 -> 7.3: stored 110.9 s (902 events/s), final 104.7 s,
#       CPU 186 s (executor 102, driver JVM 77, master 15, worker 13,
#       driver python 4), PG CPU 5.5 s, RSS peak 1,794 MB (sum of the
#       per-process peaks 1,967 MB: executor 740, driver JVM 561, master 225,
#       worker 218, launchers 65, driver python 51); start-up apart:
#       spark-local.sh start 46 s, spark-submit -> first batch 59 s.
#     Of the raw query's time, 97% is in Spark (read, parse, check, JDBC
#     appends to staging) and 3% in the PostgreSQL merge.
#   maxOffsetsPerTrigger on 100,000 events: none -> one batch, 190.7 s
#     (525 events/s, load 5.2 -> 9.4); 20,000 -> six batches, 348.9 s
#     (287 events/s, load 9.4 -> 16.1); 100,000 -> one batch (and the
#     sentinels' tail), the runs above. Kept: 100,000.
#   1,000,000 events (-n 1000000 -s 1), max-offsets 100000, RocksDB:
#     load 6.8 -> 4.5: stored 389.5 s (2,567 events/s), final 307.5 s,
#       11 raw batches, CPU 532 s (executor 386, driver JVM 134, master 11,
#       worker 10, driver python 9), PG CPU 45 s, RSS peak 2,201 MB (sum of
#       the per-process peaks 2,412 MB: executor 1,006, driver JVM 706,
#       master 224, worker 220); 360 s of the raw query in Spark, 25 s in
#       the merge; start-up apart: 21 s + 42 s;
#     load 3.6 -> 7.9 (an earlier run): stored 776.7 s (1,288 events/s),
#       final 608.0 s.
#   The dedup state (dropDuplicatesWithinWatermark) held up to 780,000 ids:
#   a --max-rate preload spans about 25 s of event time, all within the
#   watermark's reach, so RocksDB keeps nearly every id until the sentinels.
#
# Exit status: 0 when the run completed and every check passed, 1 when it
# failed or a check did not hold, 2 on a usage error.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prog=bench/spark_peer.sh
bin=$repo/build/bin
pgbin=${ECOM_PG_BINDIR:-/usr/lib/postgresql/15/bin}
jdbc_version=42.7.14 # the version Maven Central served here (the env's maven list)
dependency_plugin_version=3.8.1
topics=(user-events transactions inventory-updates)

usage() {
    cat <<EOF
$prog runs the Spark Structured Streaming peer of ecom-stream and measures it.

Usage:
  $prog [-n EVENTS] [-s SEED] [OPTION]...     standalone: own Kafka and PostgreSQL,
                                              preload, sentinels, run, table
  $prog run --bootstrap HOST:PORT --summary FILE [--out FILE] [OPTION]...
                                              against a preloaded Kafka and the
                                              PostgreSQL of the PG* variables
  $prog sentinels --bootstrap HOST:PORT       one sentinel event per partition

Options:
  -n, --events=N        standalone: events to preload (default: 100000)
  -s, --seed=N          standalone: simulator seed (default: 1)
      --max-offsets=N   maxOffsetsPerTrigger, 0 = no limit (default: 100000)
      --state-store=K   rocksdb or hdfs (default: rocksdb)
      --timeout=S       deadline of the job's run in seconds (default: 1800)
      --bin=DIR         where ecom-simulator is (default: <repo>/build/bin)
      --label=TEXT      a note for the table
      --bootstrap=B     run, sentinels: the Kafka bootstrap server
      --summary=FILE    run: ecom-simulator's JSON summary of the preload
      --out=FILE        run: also write the figures as key=value lines
  -h, --help            show this help and exit

Environment: PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD (run), ECOM_PGDATA
(run: adds the server's CPU), ECOM_SPARK_CACHE, ECOM_SPARK_EXECUTOR_MEMORY,
ECOM_SPARK_DRIVER_MEMORY.
Results: stdout; standalone also bench/results/spark-peer-DATE.txt.
EOF
}

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"

mode=bench
if [[ ${1:-} == run || ${1:-} == sentinels ]]; then
    mode=$1
    shift
fi
events=100000 seed=1 max_offsets=100000 state_store=rocksdb timeout_s=1800
label='' bootstrap='' summary='' out=''
while (($#)); do
    case $1 in
    -n | --events) (($# >= 2)) || usage_error "option $1 requires a value"; events=$2; shift ;;
    --events=*) events=${1#*=} ;;
    -s | --seed) (($# >= 2)) || usage_error "option $1 requires a value"; seed=$2; shift ;;
    --seed=*) seed=${1#*=} ;;
    --max-offsets) (($# >= 2)) || usage_error "option $1 requires a value"; max_offsets=$2; shift ;;
    --max-offsets=*) max_offsets=${1#*=} ;;
    --state-store) (($# >= 2)) || usage_error "option $1 requires a value"; state_store=$2; shift ;;
    --state-store=*) state_store=${1#*=} ;;
    --timeout) (($# >= 2)) || usage_error "option $1 requires a value"; timeout_s=$2; shift ;;
    --timeout=*) timeout_s=${1#*=} ;;
    --bin) (($# >= 2)) || usage_error "option $1 requires a value"; bin=$2; shift ;;
    --bin=*) bin=${1#*=} ;;
    --label) (($# >= 2)) || usage_error "option $1 requires a value"; label=$2; shift ;;
    --label=*) label=${1#*=} ;;
    --bootstrap) (($# >= 2)) || usage_error "option $1 requires a value"; bootstrap=$2; shift ;;
    --bootstrap=*) bootstrap=${1#*=} ;;
    --summary) (($# >= 2)) || usage_error "option $1 requires a value"; summary=$2; shift ;;
    --summary=*) summary=${1#*=} ;;
    --out) (($# >= 2)) || usage_error "option $1 requires a value"; out=$2; shift ;;
    --out=*) out=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "invalid option \"$1\"" ;;
    esac
    shift
done
posint -n/--events "$events"
posint -s/--seed "$seed" 0
posint --max-offsets "$max_offsets" 0
posint --timeout "$timeout_s" 10
[[ $state_store == rocksdb || $state_store == hdfs ]] ||
    usage_error "invalid value \"$state_store\" for option --state-store (rocksdb or hdfs)"
if [[ $mode != bench ]]; then
    [[ -n $bootstrap ]] || usage_error "$mode needs --bootstrap"
fi
if [[ $mode == run ]]; then
    [[ -n $summary ]] || usage_error "run needs --summary"
    [[ -r $summary ]] || usage_error "invalid value \"$summary\" for option --summary: not readable"
fi

spark_cache=${ECOM_SPARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/spark}
export ECOM_SPARK_CACHE=$spark_cache
jdbc_dir=$spark_cache/jdbc-$jdbc_version
jdbc_jar=$jdbc_dir/postgresql-$jdbc_version.jar

# ------------------------------------------------------------- sentinels
# partitions TOPIC: the topic's partition ids, one per line (kcat -L).
partitions() {
    kcat -b "$bootstrap" -L -t "$1" -J 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys
for t in json.load(sys.stdin)["topics"]:
    for p in t["partitions"]:
        print(p["partition"])' | sort -n
}

# produce_sentinels: one valid event an hour ahead to every partition of the
# three topics (see the header).
produce_sentinels() {
    local t p ts n=0
    ts=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S.000Z)
    for t in "${topics[@]}"; do
        for p in $(partitions "$t"); do
            /usr/bin/python3 - "$t" "$ts" <<'PY' | kcat -P -b "$bootstrap" -t "$t" -p "$p" -K $'\t' ||
import json, sys, uuid
topic, ts = sys.argv[1], sys.argv[2]
if topic == "user-events":
    m = {"event_id": str(uuid.uuid4()), "user_id": "bench-sentinel", "event_type": "product_view",
         "timestamp": ts, "product_id": "SENTINEL", "product_name": "sentinel", "category": "Sentinel",
         "price": 0, "session_id": "bench-sentinel"}
elif topic == "transactions":
    m = {"transaction_id": str(uuid.uuid4()), "user_id": "bench-sentinel", "event_type": "purchase",
         "timestamp": ts, "payment_method": "none",
         "items": [{"product_id": "SENTINEL", "product_name": "sentinel", "price": 0, "quantity": 1,
                    "item_total": 0}], "total_amount": 0, "tax_amount": 0, "shipping_cost": 0}
else:
    m = {"event_id": str(uuid.uuid4()), "event_type": "inventory_update", "product_id": "SENTINEL",
         "product_name": "sentinel", "stock_change": 0, "current_stock": 1000,
         "warehouse_location": "NYC", "timestamp": ts}
print("bench-sentinel\t" + json.dumps(m))
PY
                die "kcat could not produce the sentinel to $t [$p]"
            n=$((n + 1))
        done
    done
    ((n > 0)) || die "no partition found at $bootstrap for the sentinels"
    say "produced $n sentinel events (event time $ts) to $bootstrap"
}

if [[ $mode == sentinels ]]; then
    produce_sentinels
    exit 0
fi

# ------------------------------------------------------------- the driver jar
# ensure_jdbc: the PostgreSQL JDBC driver in the cache (Maven Central, once).
ensure_jdbc() {
    local work=$jdbc_dir.tmp log=$spark_cache/mvn-jdbc-$jdbc_version.log
    [[ -f $jdbc_dir/.ecom-installed && -f $jdbc_jar ]] && return 0
    command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the JDBC driver" "run scripts/deps.sh"
    mkdir -p -- "$spark_cache"
    rm -rf -- "$work" "$jdbc_dir"
    mkdir -p -- "$work"
    say "fetching org.postgresql:postgresql:$jdbc_version from Maven Central into \"$jdbc_dir\""
    if ! mvn -B -q -Dmaven.repo.local="$spark_cache/m2" \
        "org.apache.maven.plugins:maven-dependency-plugin:$dependency_plugin_version:copy" \
        -Dartifact="org.postgresql:postgresql:$jdbc_version:jar" -DoutputDirectory="$work" >"$log" 2>&1; then
        grep -E 'ERROR' "$log" | head -n 5 >&2 || true
        die "could not fetch the PostgreSQL JDBC driver (log: \"$log\")"
    fi
    [[ -f $work/postgresql-$jdbc_version.jar ]] || die "mvn copied no postgresql-$jdbc_version.jar (see \"$work\")"
    mv -- "$work" "$jdbc_dir"
    echo "org.postgresql:postgresql:$jdbc_version" >"$jdbc_dir/.ecom-installed"
}

# ------------------------------------------------------------- set-up
export ECOM_ENV_FILE=/dev/null # a developer's .env must not change the run
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-spark-peer.XXXXXX")
chmod 755 "$tmp" # as root, PostgreSQL runs as "postgres" and must enter it
spark_started='' pg_started='' job_pid='' sampler_pid=''
cleanup() {
    [[ -z $job_pid ]] || kill -TERM "$job_pid" 2>/dev/null || true
    if [[ -n $spark_started ]]; then
        env "${spark_env[@]}" "$repo/scripts/spark-local.sh" stop >/dev/null 2>&1 || true
    fi
    [[ -z $sampler_pid ]] || kill -TERM "$sampler_pid" 2>/dev/null || true
    [[ -z $job_pid ]] || wait "$job_pid" 2>/dev/null || true
    [[ -z $sampler_pid ]] || wait "$sampler_pid" 2>/dev/null || true
    stop_broker
    end_run
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sql() {
    "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}

# spark_port: a free port that no demo uses.
spark_port() {
    local p
    while :; do
        p=$(free_port)
        case $p in 4040 | 6066 | 7077 | 8080 | 8081 | 8082 | 8083 | 9092 | 5433) continue ;; esac
        printf '%s' "$p"
        return
    done
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ $mode == bench ]]; then
    [[ -x $bin/ecom-simulator ]] || die "no ecom-simulator in \"$bin\"" "build it (scripts/build.sh) or pass --bin DIR"
    start_pg
    start_broker 3
    say "Kafka at $bootstrap, PostgreSQL on localhost:$PGPORT; load average $load_start"
    say "preloading: ecom-simulator --max-rate -n $events -s $seed"
    timed preload "$tmp/preload.json" "$bin/ecom-simulator" --max-rate -n "$events" -P 0 -s "$seed" -b "$bootstrap"
    summary=$tmp/preload.json
    produce_sentinels
fi
for v in PGHOST PGPORT PGDATABASE PGUSER; do
    [[ -n ${!v:-} ]] || die "$v is not set" "run needs the PG* variables of the PostgreSQL to write to"
done
sql 'SELECT 1' >/dev/null || die "cannot connect to PostgreSQL at $PGHOST:$PGPORT"
ensure_jdbc

# Expected: the end offset of every partition, and the simulator's counts.
/usr/bin/python3 - "$bootstrap" "$summary" "$tmp/expect.json" <<'PY' || die "could not read the end offsets or the summary"
import json, subprocess, sys
bootstrap, summary, out = sys.argv[1:4]
meta = json.loads(subprocess.run(["kcat", "-b", bootstrap, "-L", "-J"], check=True,
                                 capture_output=True, text=True, timeout=60).stdout)
ends = {}
for t in meta["topics"]:
    if t["topic"] not in ("user-events", "transactions", "inventory-updates"):
        continue
    for p in t["partitions"]:
        q = subprocess.run(["kcat", "-b", bootstrap, "-Q", "-t", "%s:%d:-1" % (t["topic"], p["partition"])],
                           check=True, capture_output=True, text=True, timeout=60).stdout
        # "user-events [0] offset 1234"
        ends.setdefault(t["topic"], {})[str(p["partition"])] = int(q.split("offset")[-1].split()[0])
s = json.load(open(summary))
json.dump({"ends": ends, "messages": sum(sum(v.values()) for v in ends.values()),
           "valid_unique": {t: s["topics"][t]["valid_unique"] for t in ends},
           "produced": {t: s["topics"][t]["produced"] for t in ends},
           "invalid": sum(s["topics"][t].get("malformed", 0) + s["topics"][t].get("missing_field", 0) for t in ends),
           "partitions": {t: len(v) for t, v in ends.items()}}, open(out, "w"))
PY
messages=$(json "$tmp/expect.json" 'j["messages"]')
say "the topics hold $messages messages ($(json "$tmp/expect.json" '", ".join("%s %d" % kv for kv in j["produced"].items())') produced by the preload)"

# ------------------------------------------------------------- Spark
# set_spark_env DIR: spark_env for a cluster with its data in DIR, on
# fresh free ports; conf_dir its configuration.
set_spark_env() {
    spark_dir=$1
    spark_env=(ECOM_SPARK_DATA="$spark_dir" ECOM_SPARK_QUIET=1
        SPARK_MASTER_PORT="$(spark_port)" SPARK_MASTER_WEBUI_PORT="$(spark_port)"
        SPARK_WORKER_WEBUI_PORT="$(spark_port)")
    conf_dir=$spark_dir/conf
}
set_spark_env "$tmp/spark"

# kill_cluster CONF: ends the processes this run started for the cluster
# whose SPARK_CONF_DIR is CONF (by pid: SIGTERM, then SIGKILL after 10 s).
kill_cluster() {
    local d pids=() pid alive
    for d in /proc/[0-9]*; do
        grep -qxF "SPARK_CONF_DIR=$1" < <(tr '\0' '\n' 2>/dev/null <"$d/environ") && pids+=("${d#/proc/}")
    done
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 40); do
        alive=0
        for pid in "${pids[@]}"; do [[ -e /proc/$pid ]] && alive=1; done
        ((alive)) || return 0
        sleep 0.25
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

# The sampler: every 0.25 s, each process whose environment names one of
# this run's SPARK_CONF_DIRs (daemons, launchers, driver, executor, their
# python), plus the PostgreSQL server's when ECOM_PGDATA is set. Stops on
# SIGTERM; writes $tmp/procs.json.
cat >"$tmp/sampler.py" <<'PY'
import json, os, signal, sys, time
prefix, out, pgdata = sys.argv[1], sys.argv[2], sys.argv[3]
hz = os.sysconf("SC_CLK_TCK")
tag = ("SPARK_CONF_DIR=" + prefix).encode()
known, procs, samples = {}, {}, []
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
def role(cmd):
    exe = cmd.split(" ")[0].rsplit("/", 1)[-1]
    if exe != "java" and "spark_peer.py" not in cmd and "pyspark" not in cmd:
        return "scripts (bash, sed...)"
    for key, name in (("launcher.Main", "launcher JVMs (spark-class)"), ("deploy.master.Master", "master"),
                      ("deploy.worker.Worker", "worker"), ("CoarseGrainedExecutorBackend", "executor JVM"),
                      ("SparkSubmit", "driver JVM"), ("spark_peer.py", "driver python"),
                      ("pyspark.daemon", "python worker"), ("pyspark/daemon", "python worker")):
        if key in cmd:
            return name
    return "other (" + cmd.split(" ")[0].rsplit("/", 1)[-1] + ")"
def ours(pid, cmd):
    # environ is the environment of the last exec: a process that execs
    # (spark-local.sh submit -> spark-submit -> java) is asked again.
    k = (pid, cmd)
    if k not in known:
        try:
            env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
            known[k] = any(e.startswith(tag) for e in env)
        except OSError:
            known[k] = False
    return known[k]
def pg_pids():
    try:
        pm = open(os.path.join(pgdata, "postmaster.pid")).readline().strip()
    except OSError:
        return None, []
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = open("/proc/%s/stat" % d).read()
            except OSError:
                continue
            if st[st.rfind(")") + 2:].split()[1] == pm:
                kids.append(d)
    return pm, kids
def stat(pid):
    st = open("/proc/%s/stat" % pid).read()
    f = st[st.rfind(")") + 2:].split()
    return int(f[11]) + int(f[12]), int(f[13]) + int(f[14])
def status(pid):
    hwm = rss = 0
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return hwm, rss
while True:
    now, tot_rss, tot_cpu = time.time(), 0, 0.0
    cmds = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmds[d] = open("/proc/%s/cmdline" % d, "rb").read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                pass
    for d, cmd in cmds.items():
        if not ours(d, cmd):
            continue
        try:
            st = open("/proc/%s/stat" % d).read()
            f = st[st.rfind(")") + 2:].split()
            key = d + ":" + f[19]  # pid and start time
            # A child forked by a JVM (to exec chmod, rm...) that has not
            # exec'd yet shares its parent's pages and command line: not a
            # process of its own.
            if cmd.strip() and cmds.get(f[1]) == cmd:
                continue
            self_t, _ = stat(d)
            hwm, rss = status(d)
        except (OSError, ValueError, IndexError):
            continue
        p = procs.setdefault(key, {"first": now, "role": "scripts (bash, sed...)", "cmd": ""})
        # The latest command line names it: a wrapper (bash, jspawnhelper)
        # that execs java keeps its pid; an exiting process has none.
        if cmd.strip():
            p.update(role=role(cmd), cmd=cmd[:300])
        p.update(hwm_kb=max(hwm, p.get("hwm_kb", 0)), cpu_s=self_t / hz, last=now)
        tot_rss += rss
    tot_cpu = sum(p["cpu_s"] for p in procs.values())
    pg_cpu = None
    if pgdata:
        pm, kids = pg_pids()
        if pm:
            try:
                s, c = stat(pm)
                pg_cpu = (s + c) / hz
                for k in kids:
                    try:
                        pg_cpu += stat(k)[0] / hz
                    except (OSError, ValueError, IndexError):
                        pass
            except (OSError, ValueError, IndexError):
                pg_cpu = None
    samples.append([now, tot_cpu, tot_rss, pg_cpu])
    if stop:
        break
    time.sleep(0.25)
json.dump({"procs": procs, "samples": samples}, open(out, "w"))
PY
# Every cluster of this run: $tmp/spark (and $tmp/spark-retry).
/usr/bin/python3 "$tmp/sampler.py" "$tmp/spark" "$tmp/procs.json" "${ECOM_PGDATA:-}" &
sampler_pid=$!

t_spark0=$(date +%s.%N)
spark_started=1
# One more try, with a fresh cluster, after a failed start: on a loaded
# machine (load average 9) spark-local.sh start has twice reported "the
# master exited" for a master that was starting normally.
if ! env "${spark_env[@]}" "$repo/scripts/spark-local.sh" start >"$tmp/spark-start.out" 2>&1; then
    say "Spark did not start ($(grep -m 1 'spark-local:' "$tmp/spark-start.out" || true)); trying once more"
    env "${spark_env[@]}" "$repo/scripts/spark-local.sh" stop >>"$tmp/spark-start.out" 2>&1 || true
    kill_cluster "$conf_dir"
    set_spark_env "$tmp/spark-retry"
    env "${spark_env[@]}" "$repo/scripts/spark-local.sh" start >>"$tmp/spark-start.out" 2>&1 || {
        tail -n 20 "$tmp/spark-start.out" >&2
        die "could not start Spark (scripts/spark-local.sh start)"
    }
fi
t_spark1=$(date +%s.%N)
spark_version=$(sed -n 's/^pyspark=//p' "$spark_dir/spark-local.state")
say "Spark $spark_version master and worker up in $(awk -v a="$t_spark0" -v b="$t_spark1" 'BEGIN { printf "%.1f", b - a }') s"

# The driver's and executors' class path: spark-local.sh's (the Kafka
# connector), plus the JDBC driver (a --conf replaces the defaults file's).
cp_now=$(sed -n 's/^spark.driver.extraClassPath[[:space:]]*//p' "$conf_dir/spark-defaults.conf")
cp_all=${cp_now:+$cp_now:}$jdbc_jar
jdbc_url="jdbc:postgresql://$PGHOST:$PGPORT/$PGDATABASE?reWriteBatchedInserts=true"
job_args=(--bootstrap "$bootstrap" --jdbc-url "$jdbc_url" --checkpoint "$spark_dir/checkpoints"
    --reset --max-offsets "$max_offsets" --state-store "$state_store"
    --progress "$tmp/progress.jsonl" --stop-file "$tmp/stop" --deadline-seconds "$timeout_s")
read -ra extra_submit <<<"${ECOM_SPARK_PEER_SUBMIT_ARGS:-}"
say "submitting bench/spark_peer.py (max-offsets $max_offsets, state store $state_store)"
t_submit=$(date +%s.%N)
env "${spark_env[@]}" "$repo/scripts/spark-local.sh" submit \
    --conf "spark.driver.extraClassPath=$cp_all" --conf "spark.executor.extraClassPath=$cp_all" "${extra_submit[@]}" \
    "$repo/bench/spark_peer.py" "${job_args[@]}" >"$tmp/job.out" 2>"$tmp/job.err" &
job_pid=$!

# wait_done: polls until the raw query has consumed every partition to its
# end offset and the peer holds as many final preload windows as its raw
# tables give; fails when the job exits or the deadline passes.
wait_done() {
    /usr/bin/python3 - "$tmp/progress.jsonl" "$tmp/expect.json" "$job_pid" "$timeout_s" "$pgbin/psql" <<'PY'
import json, os, subprocess, sys, time
prog, expect, pid, timeout, psql = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
ends = json.load(open(expect))["ends"]
deadline = time.time() + timeout
def sql(q):
    return subprocess.run([psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", q],
                          capture_output=True, text=True, timeout=60).stdout.strip()
def raw_done():
    try:
        lines = open(prog).read().splitlines()
    except OSError:
        return False
    for l in reversed(lines):
        try:
            j = json.loads(l)
        except ValueError:
            continue
        if j.get("query") != "raw":
            continue
        for src in j["progress"].get("sources", []):
            end = src.get("endOffset")
            end = json.loads(end) if isinstance(end, str) else end
            if all(str(end.get(t, {}).get(p, -1)) == str(o) for t, ps in ends.items() for p, o in ps.items()):
                return True
        return False
    return False
# Windows of the preload in the raw tables (products other than SENTINEL).
WANT = """SELECT count(*) FROM (
  SELECT DISTINCT floor(extract(epoch FROM event_time) / 30), product_id FROM spark_peer.user_events
   WHERE event_type IN ('product_view', 'add_to_cart') AND product_id <> 'SENTINEL'
  UNION SELECT DISTINCT floor(extract(epoch FROM event_time) / 30), product_id FROM spark_peer.transaction_items
   WHERE product_id <> 'SENTINEL') w"""
HAVE = "SELECT count(*) FROM spark_peer.product_window_metrics WHERE product_id <> 'SENTINEL'"
stage = "raw"
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        print("the job exited", file=sys.stderr)
        sys.exit(1)
    if stage == "raw" and raw_done():
        stage = "windows"
    if stage == "windows":
        want, have = sql(WANT), sql(HAVE)
        if want and want == have:
            print(want)
            sys.exit(0)
    time.sleep(0.5)
print("deadline passed while waiting for the %s" % stage, file=sys.stderr)
sys.exit(1)
PY
}
if ! n_windows=$(wait_done 2>"$tmp/wait.err"); then
    tail -n 30 "$tmp/job.err" >&2
    grep -m 3 '"level": "ERROR"' "$tmp/job.out" | cut -c 1-2000 >&2 || true
    die "the peer did not finish: $(cat "$tmp/wait.err")"
fi
t_done=$(date +%s.%N)
touch "$tmp/stop"
rc=0
for _ in $(seq 240); do kill -0 "$job_pid" 2>/dev/null || break; sleep 0.25; done
if kill -0 "$job_pid" 2>/dev/null; then
    say "the job did not stop within 60 s of the stop file; stopping it"
    kill -TERM "$job_pid" 2>/dev/null || true
fi
wait "$job_pid" || rc=$?
job_pid=
((rc == 0)) || {
    tail -n 30 "$tmp/job.err" >&2
    grep -m 3 '"level": "ERROR"' "$tmp/job.out" | cut -c 1-2000 >&2 || true
    die "the job exited with status $rc"
}
kill -TERM "$sampler_pid"
wait "$sampler_pid" || die "the /proc sampler failed"
sampler_pid=
env "${spark_env[@]}" "$repo/scripts/spark-local.sh" stop >/dev/null 2>&1 || true
spark_started=
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------- figures
read -r t_first t_stored t_final <<<"$(sql "SELECT
    (SELECT extract(epoch FROM min(started_at)) FROM spark_peer.batches WHERE rows_in > 0),
    (SELECT extract(epoch FROM max(committed_at)) FROM spark_peer.batches WHERE query = 'raw' AND rows_in > 0),
    (SELECT extract(epoch FROM max(stored_at)) FROM spark_peer.product_window_metrics WHERE product_id <> 'SENTINEL')" |
    tr '|' ' ')"
read -r raw_stage_s raw_merge_s <<<"$(sql "SELECT round(sum(extract(epoch FROM staged_at - started_at))::numeric, 2),
    round(sum(extract(epoch FROM committed_at - staged_at))::numeric, 2)
    FROM spark_peer.batches WHERE query = 'raw'" | tr '|' ' ')"
counts=$(sql "SELECT
    (SELECT count(*) FROM spark_peer.user_events WHERE user_id <> 'bench-sentinel') || ' ' ||
    (SELECT count(*) FROM spark_peer.transactions WHERE user_id <> 'bench-sentinel') || ' ' ||
    (SELECT count(*) FROM spark_peer.inventory_updates WHERE product_id <> 'SENTINEL') || ' ' ||
    (SELECT count(*) FROM spark_peer.user_events WHERE user_id = 'bench-sentinel') || ' ' ||
    (SELECT count(*) FROM spark_peer.transactions WHERE user_id = 'bench-sentinel') || ' ' ||
    (SELECT count(*) FROM spark_peer.inventory_updates WHERE product_id = 'SENTINEL') || ' ' ||
    (SELECT count(*) FROM spark_peer.transaction_items) || ' ' ||
    (SELECT coalesce(sum(item_count), 0) FROM spark_peer.transactions) || ' ' ||
    (SELECT count(*) FROM spark_peer.dead_letter_events)")
read -r ue tx inv s_ue s_tx s_inv items item_sum dead <<<"$counts"
# The window figures against a recomputation from the peer's raw tables.
# shellcheck disable=SC2016 # SQL, not shell
recompute='WITH ue AS (
    SELECT to_timestamp(floor(extract(epoch FROM e.event_time) / 30) * 30) AS window_start, e.product_id,
           count(*) FILTER (WHERE e.event_type = $$product_view$$) AS views,
           count(*) FILTER (WHERE e.event_type = $$add_to_cart$$) AS add_to_carts,
           max(coalesce(p.category, e.category)) AS category
    FROM spark_peer.user_events e LEFT JOIN public.products p USING (product_id)
    WHERE e.event_type IN ($$product_view$$, $$add_to_cart$$) GROUP BY 1, 2),
  it AS (
    SELECT to_timestamp(floor(extract(epoch FROM i.event_time) / 30) * 30) AS window_start, i.product_id,
           count(DISTINCT i.transaction_id) AS orders, sum(i.quantity) AS units_sold,
           sum(i.item_total) AS revenue, max(p.category) AS category
    FROM spark_peer.transaction_items i LEFT JOIN public.products p USING (product_id) GROUP BY 1, 2)
  SELECT window_start, window_start + interval $$30 s$$, product_id,
         coalesce(ue.category, it.category), coalesce(views, 0), coalesce(add_to_carts, 0),
         coalesce(orders, 0), coalesce(units_sold, 0), coalesce(revenue, 0)::numeric(16,2)
  FROM ue FULL JOIN it USING (window_start, product_id) WHERE product_id <> $$SENTINEL$$'
# shellcheck disable=SC2016 # SQL, not shell
peer_rows='SELECT window_start, window_end, product_id, category, views, add_to_carts, orders, units_sold, revenue
  FROM spark_peer.product_window_metrics WHERE product_id <> $$SENTINEL$$'
win_diff=$(sql "SELECT count(*) FROM ((SELECT * FROM ($recompute) a EXCEPT SELECT * FROM ($peer_rows) b)
    UNION ALL (SELECT * FROM ($peer_rows) c EXCEPT SELECT * FROM ($recompute) d)) x")
win_sums=$(sql "SELECT count(*) || ' windows x products; views ' || sum(views) || ', add_to_carts ' || sum(add_to_carts)
    || ', orders ' || sum(orders) || ', units ' || sum(units_sold) || ', revenue ' || sum(revenue)
    FROM spark_peer.product_window_metrics WHERE product_id <> 'SENTINEL'")

# Progress: batches, input rows, rows dropped by the watermark.
read -r raw_batches win_batches dropped max_batch <<<"$(/usr/bin/python3 - "$tmp/progress.jsonl" <<'PY'
import json, sys
raw = win = dropped = biggest = 0
for l in open(sys.argv[1]):
    j = json.loads(l)
    p = j.get("progress")
    if not p:
        continue
    if j["query"] == "raw":
        raw += 1 if p.get("numInputRows", 0) else 0
        biggest = max(biggest, p.get("numInputRows", 0))
    else:
        win += 1
        dropped += sum(s.get("numRowsDroppedByWatermark", 0) for s in p.get("stateOperators", []))
print(raw, win, dropped, biggest)
PY
)"

# CPU, RSS per process from the sampler.
/usr/bin/python3 - "$tmp/procs.json" "$t_submit" "$t_done" >"$tmp/mem.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t0, t1 = float(sys.argv[2]), float(sys.argv[3])
s = d["samples"]
def at(t):  # the last sample at or before t (the first if none)
    best = s[0]
    for x in s:
        if x[0] <= t:
            best = x
    return best
a, b = at(t0), s[-1]
roles = {}
for p in d["procs"].values():
    r = roles.setdefault(p["role"], [0, 0, 0.0])
    r[0] += 1
    r[1] = max(r[1], p["hwm_kb"])
    r[2] += p["cpu_s"]
hwm_sum = sum(p["hwm_kb"] for p in d["procs"].values())
peak_total = max(x[2] for x in s)
pg = (b[3] - a[3]) if a[3] is not None and b[3] is not None else None
print("cpu_run=%.2f" % (b[1] - a[1]))
print("cpu_before=%.2f" % a[1])
print("cpu_all=%.2f" % b[1])
print("pg_cpu=%s" % ("%.2f" % pg if pg is not None else "-"))
print("hwm_sum_kb=%d" % hwm_sum)
print("rss_peak_kb=%d" % peak_total)
print("procs=%d" % len(d["procs"]))
print("roles=" + "; ".join("%s%s %.0f MB (%.1f CPU s)" % (k, " x%d" % v[0] if v[0] > 1 else "", v[1] / 1024, v[2])
                           for k, v in sorted(roles.items(), key=lambda kv: -kv[1][1])))
PY
mem() { sed -n "s/^$1=//p" "$tmp/mem.txt"; }

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
s_stored=$(secs "$t_first" "$t_stored")
s_final=$(secs "$t_first" "$t_final")
s_startup=$(secs "$t_submit" "$t_first")
s_spark=$(secs "$t_spark0" "$t_spark1")
eps_e2e=$(eps "$messages" "$s_stored")

# Checks
failures=()
v_ue=$(json "$tmp/expect.json" 'j["valid_unique"]["user-events"]')
v_tx=$(json "$tmp/expect.json" 'j["valid_unique"]["transactions"]')
v_inv=$(json "$tmp/expect.json" 'j["valid_unique"]["inventory-updates"]')
produced_all=$(json "$tmp/expect.json" 'sum(j["produced"].values())')
valid_all=$((v_ue + v_tx + v_inv))
[[ "$ue $tx $inv" == "$v_ue $v_tx $v_inv" ]] ||
    failures+=("raw rows (user_events transactions inventory_updates) $ue $tx $inv, simulator valid_unique $v_ue $v_tx $v_inv")
sentinels_found="$s_ue $s_tx $s_inv"
((items == item_sum)) || failures+=("transaction_items $items, sum(item_count) $item_sum")
[[ $win_diff == 0 ]] || failures+=("$win_diff window rows differ from the recomputation from the raw tables")
((dropped == 0)) || failures+=("$dropped rows dropped by the watermark (late for Spark)")
# Dead letters: the simulator's malformed and missing-field messages.
invalid=$(json "$tmp/expect.json" 'j["invalid"]')
((dead == invalid)) || failures+=("$dead dead letters, the simulator injected $invalid invalid messages")

# ------------------------------------------------------------- report
spark_label="Spark $spark_version peer (max-offsets $max_offsets, $state_store)"
row=$(L="$spark_label" awk -v n="$messages" -v s="$s_stored" -v c="$(mem cpu_run)" -v p="$(mem pg_cpu)" \
    -v r="$(mem rss_peak_kb)" -v h="$(mem hwm_sum_kb)" -v f="$s_final" 'BEGIN {
    printf "%-46s %8d %8.2f %8.2f %7.2f %8s %9.0f %11.1f %10.1f\n",
        ENVIRON["L"], n, s, f, c, p, (s > 0 ? n / s : 0), r / 1024, h / 1024 }')
result=$(
    echo "Spark Structured Streaming peer of ecom-stream, $(date -u +%Y-%m-%dT%H:%M:%SZ)${label:+ ($label)}"
    echo "host: $(nproc) cores, $(uname -r), load average $load_start at start, $load_end at end;" \
        "commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "Spark $spark_version standalone (scripts/spark-local.sh: master + worker 2 cores/1 GiB, daemons 256m;" \
        "executor ${ECOM_SPARK_EXECUTOR_MEMORY:-512m}, driver ${ECOM_SPARK_DRIVER_MEMORY:-512m}), Kafka connector" \
        "spark-sql-kafka-0-10_2.13:$spark_version, PostgreSQL JDBC $jdbc_version;" \
        "$(sql 'SHOW server_version' | cut -d' ' -f1 | sed 's/^/PostgreSQL /') at $PGHOST:$PGPORT"
    echo "input: $messages Kafka messages at $bootstrap ($(json "$tmp/expect.json" '", ".join("%s %d partitions" % kv for kv in j["partitions"].items())')):" \
        "the preload ($produced_all produced, $valid_all valid) and one sentinel per partition"
    echo
    printf '%-46s %8s %8s %8s %7s %8s %9s %11s %10s\n' tool events 'stored s' 'final s' 'CPU s' 'PG CPU s' \
        events/s 'RSS peak MB' 'sum HWM MB'
    echo "$row"
    echo
    echo "stored s: first micro-batch with data starting -> the raw batch holding the last message committed;"
    echo "final s: the same start -> the last preload window row committed (final). events/s = events / stored s."
    echo "Start-up, not counted: spark-local.sh start $s_spark s; spark-submit -> first batch $s_startup s."
    echo "Micro-batches: raw $raw_batches with data (largest $max_batch rows), windows $win_batches;" \
        "rows dropped by the watermark: $dropped."
    echo "Inside the raw query's foreachBatch: $raw_stage_s s reading, parsing, checking and appending to the"
    echo "staging tables (Spark jobs, JDBC), $raw_merge_s s merging into the raw tables (one PostgreSQL transaction per batch)."
    echo "CPU s: user+system of every Spark process from spark-submit to the end ($(mem procs) processes seen;" \
        "$(mem cpu_before) s before, while the daemons started; $(mem cpu_all) s in all)."
    echo "RSS peak MB: the largest sum of their RSS at one moment (sampled every 0.25 s); sum HWM MB: the sum"
    echo "of each process's own peak (VmHWM). Per process, peak (VmHWM) and CPU s:"
    echo "  $(mem roles)"
    echo "PG CPU s: the PostgreSQL server over the same span$([[ -n ${ECOM_PGDATA:-} ]] || echo ' (not measured: ECOM_PGDATA unset)')."
    echo "Stored: user_events $ue, transactions $tx, transaction_items $items, inventory_updates $inv," \
        "dead letters $dead; sentinels (user events, transactions, inventory) $sentinels_found."
    echo "Final windows: $win_sums ($n_windows rows expected from the raw tables)."
    echo "Checks: raw rows = the simulator's valid_unique per topic; items = sum(item_count); every window row"
    echo "= the SQL recomputation from the peer's raw tables (rows differing: $win_diff); no row late for Spark."
    if ((${#failures[@]} == 0)); then
        echo "All checks passed."
    else
        printf 'CHECK FAILED: %s\n' "${failures[@]}"
    fi
)
echo "$result"
if [[ $mode == bench ]]; then
    mkdir -p "$repo/bench/results"
    file=$repo/bench/results/spark-peer-$(date +%Y%m%d-%H%M%S).txt
    echo "$result" >"$file"
    say "written to ${file#"$repo"/}"
fi
if [[ -n $out ]]; then
    {
        echo "tool=$spark_label"
        echo "events=$messages"
        echo "stored_s=$s_stored"
        echo "final_s=$s_final"
        echo "events_per_s=$eps_e2e"
        echo "startup_s=$s_startup"
        echo "spark_start_s=$s_spark"
        echo "cpu_s=$(mem cpu_run)"
        echo "pg_cpu_s=$(mem pg_cpu)"
        echo "rss_peak_kb=$(mem rss_peak_kb)"
        echo "hwm_sum_kb=$(mem hwm_sum_kb)"
        echo "processes=$(mem roles)"
        echo "windows=$n_windows"
        echo "window_diff=$win_diff"
        echo "dropped_by_watermark=$dropped"
        echo "checks_failed=${#failures[@]}"
        echo "load_start=$load_start"
        echo "load_end=$load_end"
        echo "raw_stage_s=$raw_stage_s"
        echo "raw_merge_s=$raw_merge_s"
        echo "window_table=spark_peer.product_window_metrics"
    } >"$out"
fi
((${#failures[@]} == 0))
