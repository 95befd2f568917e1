#!/usr/bin/env bash
# scripts/kafka-local.sh - a private Apache Kafka 4.x (KRaft, no ZooKeeper)
# for development and tests, without Docker.
#
# The broker's jars come from Maven Central: scripts/kafka/pom.xml (kafka_2.13,
# kafka-tools and log4j2's SLF4J binding) is copied once with
# mvn dependency:copy-dependencies into the cache directory ($ECOM_KAFKA_CACHE,
# default ${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/kafka, outside the
# clone so that a fresh clone on the same machine reuses it); once there,
# nothing is downloaded again.
#
# By default one combined node (process.roles=broker,controller, node.id=1)
# listens on localhost:9092 (the first host:port of $KAFKA_BOOTSTRAP_SERVERS)
# and its controller on that port + 1000. Its log lives in $ECOM_KAFKA_DATA
# (default <repo>/data/kafka) and survives restarts: the storage is formatted
# (kafka.tools.StorageTool format --standalone) on the first start only, with
# a cluster id generated then and kept in cluster.env, so offsets and topics
# stay. Every start creates the missing topics (user-events, transactions,
# inventory-updates) with $TOPIC_PARTITIONS partitions. Heap: 512 MiB a node.
#
# With --nodes 3 (or ECOM_KAFKA_NODES=3) it runs a three-node cluster on one
# host for the fault tests: node ids 1..3, listener ports PORT..PORT+2,
# controller ports CPORT..CPORT+2, one log directory each, all three in the
# controller quorum (formatted with --initial-controllers), replication
# factor 3 and min.insync.replicas=2 for the topics and Kafka's internal
# topics. stop-node/start-node/kill-node act on one node; leader finds a
# partition's leader. docker-compose.yml is the containerised equivalent of
# the single node.
#
# Settings: the repo's .env (or $ECOM_ENV_FILE) is read without overriding
# variables already set, so the environment wins. Test suites point
# ECOM_KAFKA_DATA and KAFKA_BOOTSTRAP_SERVERS at a throwaway cluster. Runs as
# root or as any user; the brokers run as the caller, who must own the data
# directory unless root.
set -euo pipefail

prog=kafka-local
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quiet_var=ECOM_KAFKA_QUIET
writable_hint="run this script as its owner or as root, or point ECOM_KAFKA_DATA/ECOM_KAFKA_CACHE elsewhere"
# shellcheck source=scripts/lib-local.sh
. "$repo/scripts/lib-local.sh"
# Must match the defaults in scripts/kafka/pom.xml.
default_version=4.4.0
default_topics="user-events transactions inventory-updates"
# The plugin by its full coordinates (as in scripts/kafka/pom.xml): a bare
# "dependency:" prefix needs Maven to resolve plugin group metadata first.
dependency_plugin=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

usage() {
    cat <<EOF
$prog: start, stop and inspect a private Apache Kafka $default_version broker (KRaft)
for ecom-pipeline.

Usage:
  scripts/kafka-local.sh [--nodes N] COMMAND [ARGS]

Commands:
  start             fetch the jars if not cached, format the storage on the
                    first start, start every node that is not running, wait
                    until all are in the cluster's metadata, create the
                    missing topics
  stop              stop every node (SIGTERM, then SIGKILL after
                    \$ECOM_KAFKA_STOP_TIMEOUT s); harmless if stopped
  status            print each node's state and port; exit 0 if every node
                    runs, 3 if none does, 4 if only some do
  wait              wait until every node answers metadata; exit 0 when
                    ready, 1 on timeout (\$ECOM_KAFKA_START_TIMEOUT s)
  topics            create the missing topics, then print one line per
                    topic: NAME partitions=P replicas=R
  leader TOPIC [P]  print the node id leading partition P (default 0)
  bootstrap         print the bootstrap list of the cluster (host:port,...)
  cluster-id        print the cluster id kept in the data directory
  start-node N      start node N only (a formatted cluster) and wait for it
  stop-node N       stop node N gracefully (SIGTERM, then SIGKILL)
  kill-node N       kill node N with SIGKILL (no shutdown at all)
  install           only fetch the jars into the cache
  tool CLASS ARGS   run one of Kafka's tools with the cached jars (CLASS
                    without a dot is in org.apache.kafka.tools), e.g.
                    tool ConfigCommand --bootstrap-server HOST:PORT ...

Options:
  --nodes N         nodes in the cluster, 1 to 5 (default: \$ECOM_KAFKA_NODES,
                    else what the data directory was formatted with, else 1)

Environment (after the repo's .env, which never overrides it):
  KAFKA_BOOTSTRAP_SERVERS     host:port of node 1's listener (the first entry of a
                              list; default: localhost:9092); node N listens on
                              port + N - 1
  ECOM_KAFKA_CONTROLLER_PORT  node 1's controller port (default: listener port + 1000)
  TOPIC_PARTITIONS            partitions of new topics (default: 3)
  ECOM_KAFKA_TOPICS           topics to create (default: $default_topics)
  ECOM_KAFKA_DATA             data directory (default: <repo>/data/kafka, or
                              <repo>/data/kafka-Nnodes for N > 1 nodes)
  ECOM_KAFKA_CACHE            jars and Maven repository (default:
                              ${XDG_CACHE_HOME:-\$HOME/.cache}/ecom-pipeline/kafka)
  ECOM_KAFKA_VERSION          Kafka 4.x release to fetch (default: $default_version)
  ECOM_KAFKA_HEAP             heap of each node (default: 512m)
  ECOM_KAFKA_JAVA_OPTS        more JVM options for the nodes
  ECOM_KAFKA_SERVER_PROPERTIES  more broker settings, KEY=VALUE separated by
                              spaces (they win over the script's), e.g.
                              log.retention.check.interval.ms=1000 for tests
  ECOM_KAFKA_START_TIMEOUT    seconds to wait for readiness (default: 120)
  ECOM_KAFKA_STOP_TIMEOUT     seconds to wait for a node to exit (default: 30)
  ECOM_KAFKA_QUIET            1 to print only warnings and errors
  ECOM_ENV_FILE               env file to read instead of <repo>/.env
  JAVA_HOME                   Java 17 or newer (default: the one "java" runs)

Files in the data directory: cluster.env (cluster id, nodes, ports), and per
node node-N/: server.properties (rewritten on every start), log/ (the Kafka
log), server.log and controller.log (log4j2), kafka.out (stdout, stderr),
kafka.pid.
EOF
}

# check_nodes NAME VALUE
check_nodes() {
    [[ $2 =~ ^[1-5]$ ]] || die "invalid value \"$2\" for $1" "use a number of nodes from 1 to 5"
}

# cluster_get KEY: a value from cluster.env (empty if absent).
cluster_get() {
    [[ -f $clusterfile ]] || return 0
    sed -n "s/^$1=//p" "$clusterfile" | head -n 1
}

read_settings() {
    local first formatted_nodes fport

    read_env

    version=${ECOM_KAFKA_VERSION:-$default_version}
    [[ $version =~ ^4\.[0-9]+\.[0-9]+$ ]] ||
        die "invalid value \"$version\" for ECOM_KAFKA_VERSION" "use a Kafka 4.x release such as $default_version"
    cache=''
    abspath cache "${ECOM_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/kafka}"
    jars=$cache/kafka-$version
    m2=$cache/m2

    bootstrap_env=${KAFKA_BOOTSTRAP_SERVERS:-localhost:9092}
    trim first "${bootstrap_env%%,*}"
    [[ $first == *:* && $first != *:*:* ]] ||
        die "invalid value \"$bootstrap_env\" for KAFKA_BOOTSTRAP_SERVERS" "use host:port, e.g. localhost:9092"
    host=${first%:*}
    port=${first##*:}
    [[ -n $host ]] || die "invalid value \"$bootstrap_env\" for KAFKA_BOOTSTRAP_SERVERS" "use host:port, e.g. localhost:9092"
    check_port KAFKA_BOOTSTRAP_SERVERS "$port"
    controller_port=${ECOM_KAFKA_CONTROLLER_PORT:-$((port + 1000))}
    check_port ECOM_KAFKA_CONTROLLER_PORT "$controller_port"

    partitions=${TOPIC_PARTITIONS:-3}
    [[ $partitions =~ ^[1-9][0-9]{0,3}$ ]] ||
        die "invalid value \"$partitions\" for TOPIC_PARTITIONS" "use a whole number of partitions"
    read -ra topics <<<"${ECOM_KAFKA_TOPICS:-$default_topics}"
    ((${#topics[@]} > 0)) || die "ECOM_KAFKA_TOPICS must name at least one topic"
    heap=${ECOM_KAFKA_HEAP:-512m}
    [[ $heap =~ ^[1-9][0-9]*[kKmMgG]$ ]] || die "invalid value \"$heap\" for ECOM_KAFKA_HEAP" "use a size such as 512m or 1g"
    start_timeout=${ECOM_KAFKA_START_TIMEOUT:-120}
    stop_timeout=${ECOM_KAFKA_STOP_TIMEOUT:-30}
    check_seconds ECOM_KAFKA_START_TIMEOUT "$start_timeout"
    check_seconds ECOM_KAFKA_STOP_TIMEOUT "$stop_timeout"

    # The node count: --nodes, else ECOM_KAFKA_NODES, else the formatted one.
    nodes=${opt_nodes:-${ECOM_KAFKA_NODES:-}}
    [[ -z $nodes ]] || check_nodes "${opt_nodes:+--nodes}${opt_nodes:-ECOM_KAFKA_NODES}" "$nodes"
    if [[ -n ${ECOM_KAFKA_DATA:-} ]]; then
        abspath data "$ECOM_KAFKA_DATA"
    elif [[ -n $nodes && $nodes != 1 ]]; then
        data=$repo/data/kafka-${nodes}nodes
    else
        data=$repo/data/kafka
    fi
    clusterfile=$data/cluster.env
    formatted_nodes=$(cluster_get nodes)
    if [[ -n $formatted_nodes ]]; then
        [[ -z $nodes || $nodes == "$formatted_nodes" ]] ||
            die "data directory \"$data\" holds a $formatted_nodes-node cluster, not a $nodes-node one" \
                "point ECOM_KAFKA_DATA elsewhere, or remove \"$data\" to start afresh"
        nodes=$formatted_nodes
        # A quorum of several voters lists their controller endpoints in its
        # log: their ports stay those it was formatted with.
        if ((nodes > 1)); then
            fport=$(cluster_get port)
            if [[ $cmd == start && ( $fport != "$port" || $(cluster_get controller_port) != "$controller_port" ) ]]; then
                warn "the cluster in \"$data\" was formatted for ports $fport (controllers $(cluster_get controller_port)); using those"
            fi
            host=$(cluster_get host)
            port=$fport
            controller_port=$(cluster_get controller_port)
        fi
    fi
    nodes=${nodes:-1}
    ((port + nodes - 1 <= 65535 && controller_port + nodes - 1 <= 65535)) ||
        die "ports $port and $controller_port leave no room for $nodes nodes"
    ((controller_port >= port + nodes || controller_port + nodes <= port)) ||
        die "the listener ports ($port..) and the controller ports ($controller_port..) overlap" \
            "set ECOM_KAFKA_CONTROLLER_PORT to another port"

    # Replication suited to the cluster's size.
    if ((nodes >= 3)); then rf=3; min_isr=2; else rf=$nodes; min_isr=1; fi
    bind_host=$host
    [[ $bind_host != localhost ]] || bind_host=127.0.0.1
    # "localhost" resolves to ::1 first where /etc/hosts lists both (a fresh
    # Debian does), and librdkafka clients such as kcat try that first: the
    # broker then listens on the IPv6 loopback too, on the same port
    # (KIP-797), when the machine has one.
    loop6=
    if [[ $host == localhost ]] && grep -qs '^0\{31\}1 ' /proc/net/if_inet6; then loop6=1; fi
    tools_log4j=$data/tools-log4j2.properties
}

# ensure_java: java set to a Java 17 or newer (Kafka 4's brokers need 17).
ensure_java() {
    local major

    if [[ -n ${JAVA_HOME:-} ]]; then
        java=$JAVA_HOME/bin/java
        [[ -x $java ]] || die "JAVA_HOME=\"$JAVA_HOME\" has no bin/java"
    else
        command -v java >/dev/null || apt_install openjdk-17-jre-headless
        java=$(readlink -f "$(command -v java)")
    fi
    major=$("$java" -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\).*/\1/p' | head -n 1)
    if ! [[ $major =~ ^[0-9]+$ ]] || ((major < 17)); then
        die "Kafka $version needs Java 17 or newer; \"$java\" is version \"${major:-unknown}\"" \
            "apt-get install openjdk-17-jre-headless, or point JAVA_HOME at a newer JDK"
    fi
}

ensure_kcat() {
    command -v kcat >/dev/null || apt_install kcat
}

# ensure_jars: the broker's jars, copied from Maven Central once; the marker
# file makes every later run skip Maven altogether.
ensure_jars() {
    local work=$jars.tmp log=$cache/mvn-$version.log slf4j

    [[ -f $jars/.ecom-installed ]] && return 0
    command -v mvn >/dev/null || apt_install maven
    [[ -r $repo/scripts/kafka/pom.xml ]] || die "could not read \"$repo/scripts/kafka/pom.xml\""
    lock_cache "$cache"
    if [[ -f $jars/.ecom-installed ]]; then
        unlock_cache
        return 0
    fi
    rm -rf -- "$work" "$jars"
    mkdir -p -- "$work/jars"
    cp -- "$repo/scripts/kafka/pom.xml" "$work/pom.xml"
    say "fetching org.apache.kafka:kafka_2.13:$version and kafka-tools from Maven Central into \"$jars\""
    if ! (cd "$work" && mvn -B -q -f pom.xml -Dmaven.repo.local="$m2" -Dkafka.version="$version" \
        "$dependency_plugin:copy-dependencies" -DincludeScope=runtime -DoutputDirectory="$work/jars") >"$log" 2>&1; then
        grep -E 'ERROR' "$log" | head -n 5 >&2 || true
        rm -rf -- "$work"
        die "could not fetch the Kafka jars (log: \"$log\")" \
            "Maven Central must serve org.apache.kafka:kafka_2.13:$version; or set ECOM_KAFKA_VERSION"
    fi
    [[ -f $work/jars/kafka_2.13-$version.jar && -n $(compgen -G "$work/jars/kafka-tools-$version.jar") ]] ||
        die "kafka_2.13-$version.jar or kafka-tools-$version.jar missing from the copied jars (see \"$work\")"
    # log4j-slf4j-impl binds slf4j-api 1.x; a Kafka on slf4j-api 2.x would
    # need log4j-slf4j2-impl instead, or its broker would log nothing.
    slf4j=$(compgen -G "$work/jars/slf4j-api-*.jar" | head -n 1)
    [[ $slf4j == */slf4j-api-1.* ]] ||
        die "Kafka $version uses $(basename "${slf4j:-no slf4j-api}"); scripts/kafka/pom.xml binds slf4j 1.x" \
            "change log4j-slf4j-impl to log4j-slf4j2-impl in scripts/kafka/pom.xml"
    mv -- "$work/jars" "$jars"
    cp -- "$work/pom.xml" "$jars/pom.xml"
    rm -rf -- "$work"
    printf 'kafka_2.13 %s\n' "$version" >"$jars/.ecom-installed"
    unlock_cache
}

ensure_installed() {
    ensure_java
    ensure_jars
    ensure_kcat
}

# node_port N / node_controller_port N: node N's ports as configured now.
node_port() { printf '%s' "$((port + $1 - 1))"; }
node_controller_port() { printf '%s' "$((controller_port + $1 - 1))"; }
node_dir() { printf '%s' "$data/node-$1"; }

# running_endpoint N: host:port node N was last started with, from its
# server.properties (the configured one if it never started).
running_endpoint() {
    local props
    props=$(node_dir "$1")/server.properties
    if [[ -f $props ]]; then
        sed -n 's/^advertised\.listeners=PLAINTEXT:\/\/\([^,]*\),.*/\1/p' "$props" | head -n 1
    else
        printf '%s:%s' "$host" "$(node_port "$1")"
    fi
}

# running_port N / running_controller_port N: the ports of node N's last
# start (the configured ones if it never started).
running_port() {
    local ep
    ep=$(running_endpoint "$1")
    printf '%s' "${ep##*:}"
}

running_controller_port() {
    local props p=""
    props=$(node_dir "$1")/server.properties
    [[ ! -f $props ]] ||
        p=$(sed -n 's/^listeners=.*,CONTROLLER:\/\/.*:\([0-9][0-9]*\)$/\1/p' "$props" | head -n 1)
    printf '%s' "${p:-$(node_controller_port "$1")}"
}

# bootstrap_list: every node's listener, comma-separated.
bootstrap_list() {
    local i list=
    for ((i = 1; i <= nodes; i++)); do list+=${list:+,}$(running_endpoint "$i"); done
    printf '%s' "$list"
}

# node_pid N: prints the pid of node N's running broker, or fails.
node_pid() {
    local pidfile pid
    pidfile=$(node_dir "$1")/kafka.pid
    [[ -f $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && return 1
    # Ours: kafka.Kafka started on this node's server.properties.
    # (a process substitution: with pipefail, tr's SIGPIPE after grep -q
    # matched would fail a pipe)
    grep -qxF -- "$(node_dir "$1")/server.properties" < <(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline") ||
        return 1
    printf '%s' "$pid"
}

# port_in_use PORT: 0 if something accepts connections on the bind host.
port_in_use() {
    (exec 3<>"/dev/tcp/$bind_host/$1") 2>/dev/null
}

# write_node_conf N: node N's server.properties and log4j2.properties,
# rewritten on every start (set the variables instead of editing them).
write_node_conf() {
    local i=$1 d voters="" j
    d=$(node_dir "$i")
    for ((j = 1; j <= nodes; j++)); do voters+=${voters:+,}$host:$(node_controller_port "$j"); done
    mkdir -p -- "$d"
    cat >"$d/server.properties" <<EOF
# Written by scripts/kafka-local.sh on every start; set its variables instead.
process.roles=broker,controller
node.id=$i
controller.quorum.bootstrap.servers=$voters
listeners=PLAINTEXT://$bind_host:$(node_port "$i"),CONTROLLER://$bind_host:$(node_controller_port "$i")${loop6:+,LOOPBACK6://[::1]:$(node_port "$i")}
advertised.listeners=PLAINTEXT://$host:$(node_port "$i"),CONTROLLER://$host:$(node_controller_port "$i")${loop6:+,LOOPBACK6://$host:$(node_port "$i")}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${loop6:+,LOOPBACK6:PLAINTEXT}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$d/log
num.partitions=$partitions
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.recovery.threads.per.data.dir=1
EOF
    # Test settings (e.g. a short log.retention.check.interval.ms) last, so
    # that they win over the ones above.
    if [[ -n ${ECOM_KAFKA_SERVER_PROPERTIES:-} ]]; then
        tr -s ' ' '\n' <<<"$ECOM_KAFKA_SERVER_PROPERTIES" >>"$d/server.properties"
    fi
    # The tarball's config/log4j2.yaml, reduced: server.log for everything,
    # controller.log and state-change.log as there; each rolls at 50 MiB.
    cat >"$d/log4j2.properties" <<EOF
# Written by scripts/kafka-local.sh on every start.
appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = $d/server.log
appender.server.filePattern = $d/server.log.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 50MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 3
appender.controller.type = RollingFile
appender.controller.name = controller
appender.controller.fileName = $d/controller.log
appender.controller.filePattern = $d/controller.log.%i
appender.controller.layout.type = PatternLayout
appender.controller.layout.pattern = [%d] %p %m (%c)%n
appender.controller.policies.type = Policies
appender.controller.policies.size.type = SizeBasedTriggeringPolicy
appender.controller.policies.size.size = 50MB
appender.controller.strategy.type = DefaultRolloverStrategy
appender.controller.strategy.max = 3
appender.statechange.type = RollingFile
appender.statechange.name = statechange
appender.statechange.fileName = $d/state-change.log
appender.statechange.filePattern = $d/state-change.log.%i
appender.statechange.layout.type = PatternLayout
appender.statechange.layout.pattern = [%d] %p %m (%c)%n
appender.statechange.policies.type = Policies
appender.statechange.policies.size.type = SizeBasedTriggeringPolicy
appender.statechange.policies.size.size = 50MB
appender.statechange.strategy.type = DefaultRolloverStrategy
appender.statechange.strategy.max = 3
rootLogger.level = info
rootLogger.appenderRef.server.ref = server
logger.controller.name = org.apache.kafka.controller
logger.controller.level = info
logger.controller.additivity = false
logger.controller.appenderRef.controller.ref = controller
logger.kcontroller.name = kafka.controller
logger.kcontroller.level = info
logger.kcontroller.additivity = false
logger.kcontroller.appenderRef.controller.ref = controller
logger.statechange.name = state.change.logger
logger.statechange.level = info
logger.statechange.additivity = false
logger.statechange.appenderRef.statechange.ref = statechange
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
}

write_tools_log4j() {
    mkdir -p -- "$data"
    cat >"$tools_log4j" <<'EOF'
# Written by scripts/kafka-local.sh: the tools it runs warn on stderr.
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %p %m (%c)%n
EOF
}

# run_tool CLASS ARGS...: one of Kafka's command-line tools, in a small JVM.
run_tool() {
    [[ -f $tools_log4j ]] || write_tools_log4j
    "$java" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$tools_log4j" -cp "$jars/*" "$@"
}

# random_uuid: a Kafka Uuid (16 random bytes, URL-safe base64 without
# padding, never starting with "-"), as kafka-storage random-uuid prints.
random_uuid() {
    local u
    while :; do
        u=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
        [[ ${#u} == 22 && $u != -* ]] && break
    done
    printf '%s' "$u"
}

formatted() {
    [[ -f $clusterfile ]]
}

# format_cluster: generates the cluster id (and, for several nodes, each
# controller's directory id) and formats every node's storage: --standalone
# for one node, --initial-controllers for several, so the voters are known
# from the first start on. Runs once: cluster.env marks it done.
format_cluster() {
    local cluster_id i d initial="" dirs=() pids=() rc=0

    for ((i = 1; i <= nodes; i++)); do
        d=$(node_dir "$i")
        [[ ! -e $d/log/meta.properties ]] ||
            die "\"$d/log\" is formatted, but \"$clusterfile\" is missing" \
                "remove \"$data\" to start afresh, or point ECOM_KAFKA_DATA elsewhere"
    done
    need_writable "$data"
    mkdir -p -- "$data"
    cluster_id=$(random_uuid)
    if ((nodes > 1)); then
        for ((i = 1; i <= nodes; i++)); do
            dirs[i]=$(random_uuid)
            initial+=${initial:+,}$i@$host:$(node_controller_port "$i"):${dirs[i]}
        done
    fi
    say "formatting a new $nodes-node cluster $cluster_id in \"$data\""
    for ((i = 1; i <= nodes; i++)); do
        d=$(node_dir "$i")
        rm -rf -- "$d/log"
        write_node_conf "$i"
        if ((nodes == 1)); then
            run_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$d/server.properties" \
                --standalone >"$d/format.out" 2>&1 &
        else
            run_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$d/server.properties" \
                --initial-controllers "$initial" >"$d/format.out" 2>&1 &
        fi
        pids[i]=$!
    done
    for ((i = 1; i <= nodes; i++)); do
        wait "${pids[i]}" || { rc=1; cat "$(node_dir "$i")/format.out" >&2; }
    done
    if ((rc != 0)); then
        for ((i = 1; i <= nodes; i++)); do rm -rf -- "$(node_dir "$i")/log"; done
        die "could not format the storage in \"$data\""
    fi
    cat >"$clusterfile.tmp" <<EOF
# Written by scripts/kafka-local.sh when it formatted this cluster; kept so
# every restart is the same cluster. Remove the data directory to start afresh.
cluster_id=$cluster_id
nodes=$nodes
host=$host
port=$port
controller_port=$controller_port
kafka_version=$version
formatted=$(date '+%F %T')
EOF
    mv -- "$clusterfile.tmp" "$clusterfile"
}

# spawn_node N: starts node N's broker detached, in its own session.
spawn_node() {
    local i=$1 d
    d=$(node_dir "$i")
    write_node_conf "$i"
    printf '\n=== %s: starting node %s on %s:%s\n' "$(date '+%F %T')" "$i" "$host" "$(node_port "$i")" >>"$d/kafka.out"
    # shellcheck disable=SC2086 # ECOM_KAFKA_JAVA_OPTS is a list of options
    (
        cd "$d"
        exec setsid "$java" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
            -Djava.awt.headless=true -Dkafka.logs.dir="$d" \
            -Dlog4j2.configurationFile="$d/log4j2.properties" ${ECOM_KAFKA_JAVA_OPTS:-} \
            -cp "$jars/*" kafka.Kafka "$d/server.properties" </dev/null >>"$d/kafka.out" 2>&1
    ) &
    printf '%s\n' "$!" >"$d/kafka.pid"
}

# start_node N: starts node N unless it runs; checks its ports are free.
start_node() {
    local i=$1 pid p
    if pid=$(node_pid "$i"); then
        say "node $i already running (pid $pid) on $(running_endpoint "$i")"
        [[ $(running_endpoint "$i") == "$host:$(node_port "$i")" ]] ||
            warn "node $i listens on $(running_endpoint "$i"), not $host:$(node_port "$i"); stop and start it to move it"
        return 0
    fi
    for p in "$(node_port "$i")" "$(node_controller_port "$i")"; do
        ! port_in_use "$p" ||
            die "port $p on $bind_host is already in use (node $i)" \
                "set KAFKA_BOOTSTRAP_SERVERS (or ECOM_KAFKA_CONTROLLER_PORT) to other ports"
    done
    say "starting node $i on $host:$(node_port "$i") (controller port $(node_controller_port "$i"), data \"$(node_dir "$i")\")"
    spawn_node "$i"
}

# metadata [TOPIC]: kcat's metadata listing (text) from any running node.
metadata() {
    kcat -L -b "$(bootstrap_list)" -m 3 ${1:+-t "$1"} 2>/dev/null
}

# brokers_in_metadata: the broker ids the cluster lists, one per line.
brokers_in_metadata() {
    metadata | sed -n 's/^  broker \([0-9][0-9]*\) at .*/\1/p' | sort -n
}

# topic_info TOPIC: "PARTITIONS REPLICAS LEADERLESS" from the metadata,
# empty if the topic does not exist.
topic_info() {
    metadata "$1" | awk -v t="$1" '
        $1 == "topic" { found = ($2 == "\"" t "\"" && $0 ~ / partitions:$/); next }
        found && $1 == "partition" {
            n++
            for (i = 1; i <= NF; i++) if ($i == "leader") { l = $(i + 1); sub(",", "", l); if (l == "-1") bad++ }
            for (i = 1; i <= NF; i++) if ($i == "replicas:") { r = $(i + 1); sub(",$", "", r); c = split(r, a, ",") }
        }
        END { if (found) printf "%d %d %d\n", n, c, bad }'
}

# topics_in_sync: 0 if every partition of the topics that exist has all its
# replicas in sync (a node that came back has caught up).
topics_in_sync() {
    metadata | awk '
        $1 == "partition" {
            r = ""; s = ""
            for (i = 1; i <= NF; i++) {
                if ($i == "replicas:") { r = $(i + 1); sub(",$", "", r) }
                if ($i == "isrs:") { s = $(i + 1); sub(",$", "", s) }
            }
            if (split(r, a, ",") != split(s, b, ",")) bad = 1
        }
        END { exit bad }'
}

# wait_ready DEADLINE NODE...: waits until each NODE accepts connections and
# the cluster's metadata lists all of them as brokers, with every replica
# of the existing topics in sync; fails (and shows the
# log) when one exits or the deadline (epoch seconds) passes.
wait_ready() {
    local deadline=$1 i want got
    shift
    want=$(printf '%s\n' "$@" | sort -n)
    for i in "$@"; do
        while ! port_in_use "$(running_port "$i")"; do
            node_failed "$i" "$deadline" || return 1
            sleep 0.2
        done
    done
    while :; do
        got=$(brokers_in_metadata)
        [[ -z $(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$got")) ]] && topics_in_sync && return 0
        for i in "$@"; do node_failed "$i" "$deadline" || return 1; done
        sleep 0.3
    done
}

# node_failed N DEADLINE: fails, after showing the log, if node N exited
# or the deadline passed.
node_failed() {
    local i=$1 deadline=$2 d
    d=$(node_dir "$i")
    if ! node_pid "$i" >/dev/null; then
        warn "node $i exited; last lines of \"$d/kafka.out\" and \"$d/server.log\":"
        tail -n 5 "$d/kafka.out" >&2 || true
        tail -n 20 "$d/server.log" >&2 || true
        rm -f -- "$d/kafka.pid"
        return 1
    fi
    if ((SECONDS >= deadline)); then
        warn "node $i is not ready after ${start_timeout}s; last lines of \"$d/server.log\":"
        tail -n 20 "$d/server.log" >&2 || true
        return 1
    fi
}

# ensure_topics DEADLINE: creates the missing topics (one TopicCommand JVM
# each, in parallel) and waits until every partition has a leader.
ensure_topics() {
    local deadline=$1 t info missing=() pids=() rc=0 n

    for t in "${topics[@]}"; do
        info=$(topic_info "$t")
        if [[ -z $info ]]; then
            missing+=("$t")
        elif [[ ${info%% *} != "$partitions" ]]; then
            warn "topic $t has ${info%% *} partitions, not TOPIC_PARTITIONS=$partitions; left as it is"
        fi
    done
    if ((${#missing[@]} > 0)); then
        say "creating topics ${missing[*]} ($partitions partitions, replication factor $rf)"
        for t in "${missing[@]}"; do
            run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap_list)" \
                --create --if-not-exists --topic "$t" --partitions "$partitions" \
                --replication-factor "$rf" >"$data/topic-$t.out" 2>&1 &
            pids+=($!)
        done
        for n in "${!pids[@]}"; do
            wait "${pids[n]}" || { rc=1; cat "$data/topic-${missing[n]}.out" >&2; }
        done
        ((rc == 0)) || die "could not create topics ${missing[*]}"
    fi
    for t in "${topics[@]}"; do
        while :; do
            info=$(topic_info "$t")
            [[ -n $info && ${info##* } == 0 ]] && break
            ((SECONDS < deadline)) || die "topic $t has partitions without a leader after ${start_timeout}s"
            sleep 0.2
        done
    done
}

# stop_nodes NODE...: SIGTERM to every running NODE at once (a node's
# controlled shutdown needs the others' quorum), then SIGKILL after the
# deadline.
stop_nodes() {
    local i pid deadline=$((SECONDS + stop_timeout)) pids=() left
    for i in "$@"; do
        if pid=$(node_pid "$i"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids[i]=$pid
        fi
    done
    for i in "${!pids[@]}"; do
        pid=${pids[i]}
        while left=$(node_pid "$i") && [[ $left == "$pid" ]]; do
            if ((SECONDS >= deadline)); then
                warn "node $i (pid $pid) did not exit within ${stop_timeout}s; killing it"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
        rm -f -- "$(node_dir "$i")/kafka.pid"
        say "stopped node $i (pid $pid)"
    done
    ((${#pids[@]} > 0))
}

all_nodes() {
    seq 1 "$nodes"
}

cmd_install() {
    ensure_java
    ensure_jars
    say "installed: Kafka $version jars in \"$jars\""
}

cmd_start() {
    local deadline i cluster_id

    need_writable "$data"
    ensure_installed
    formatted || format_cluster
    deadline=$((SECONDS + start_timeout))
    for i in $(all_nodes); do
        [[ -e $(node_dir "$i")/log/meta.properties ]] ||
            die "node $i in \"$data\" is not formatted (its log directory is gone)" \
                "remove \"$data\" to start afresh"
        start_node "$i"
    done
    wait_ready "$deadline" $(all_nodes) || die "the cluster did not become ready" "see the logs in \"$data\""
    ensure_topics "$deadline"
    cluster_id=$(cluster_get cluster_id)
    say "ready: $(bootstrap_list) ($nodes node$( ((nodes == 1)) || echo s), cluster $cluster_id, topics ${topics[*]})"
}

cmd_stop() {
    stop_nodes $(all_nodes) || say "not running (data directory \"$data\")"
    return 0
}

cmd_status() {
    local i pid up=0
    for i in $(all_nodes); do
        if pid=$(node_pid "$i"); then
            printf 'node %s: running (pid %s) on %s, controller port %s (data directory "%s")\n' \
                "$i" "$pid" "$(running_endpoint "$i")" "$(running_controller_port "$i")" "$(node_dir "$i")"
            up=$((up + 1))
        else
            printf 'node %s: stopped (%s, data directory "%s")\n' "$i" "$(running_endpoint "$i")" "$(node_dir "$i")"
        fi
    done
    ((up == nodes)) && return 0
    ((up == 0)) && return 3
    return 4
}

cmd_wait() {
    local i
    ensure_kcat
    for i in $(all_nodes); do
        node_pid "$i" >/dev/null || die "node $i is not running (data directory \"$data\")" \
            "start it with scripts/kafka-local.sh start"
    done
    wait_ready $((SECONDS + start_timeout)) $(all_nodes) || die "the cluster is not ready"
    say "ready: $(bootstrap_list)"
}

# any_running: fails with a hint when no node runs.
any_running() {
    local i
    for i in $(all_nodes); do node_pid "$i" >/dev/null && return 0; done
    die "not running (data directory \"$data\")" "start it with scripts/kafka-local.sh start"
}

cmd_topics() {
    local t info
    ensure_installed
    any_running
    ensure_topics $((SECONDS + start_timeout))
    for t in "${topics[@]}"; do
        info=$(topic_info "$t")
        read -r p r _ <<<"$info"
        printf '%s partitions=%s replicas=%s\n' "$t" "$p" "$r"
    done
}

cmd_leader() {
    local topic=$1 part=${2:-0} leader
    [[ $part =~ ^[0-9]+$ ]] || usage_error "invalid partition \"$part\""
    ensure_kcat
    any_running
    leader=$(metadata "$topic" | sed -n "s/^    partition $part, leader \(-\{0,1\}[0-9][0-9]*\),.*/\1/p" | head -n 1)
    [[ -n $leader && $leader != -1 ]] || die "partition $part of topic $topic has no leader"
    printf '%s\n' "$leader"
}

# node_arg N: validates a node number for the *-node commands.
node_arg() {
    [[ $1 =~ ^[1-9]$ ]] && (($1 <= nodes)) || usage_error "invalid node \"$1\" (the cluster has $nodes)"
    formatted || die "no cluster in \"$data\"" "start it first with scripts/kafka-local.sh start"
}

cmd_start_node() {
    node_arg "$1"
    ensure_installed
    start_node "$1"
    wait_ready $((SECONDS + start_timeout)) "$1" || die "node $1 did not rejoin the cluster"
    say "node $1 ready on $(running_endpoint "$1")"
}

cmd_stop_node() {
    node_arg "$1"
    stop_nodes "$1" || say "node $1 is not running"
    return 0
}

cmd_kill_node() {
    local pid
    node_arg "$1"
    if ! pid=$(node_pid "$1"); then
        say "node $1 is not running"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    while node_pid "$1" >/dev/null; do sleep 0.1; done
    rm -f -- "$(node_dir "$1")/kafka.pid"
    say "killed node $1 (pid $pid)"
}

cmd_tool() {
    local class=$1
    shift
    [[ $class == *.* ]] || class=org.apache.kafka.tools.$class
    ensure_java
    ensure_jars
    write_tools_log4j
    run_tool "$class" "$@"
}

main() {
    local nargs
    opt_nodes=
    while [[ $# -gt 0 ]]; do
        case $1 in
        --nodes)
            [[ $# -ge 2 ]] || usage_error "--nodes needs a value"
            [[ $2 =~ ^[1-5]$ ]] || usage_error "invalid value \"$2\" for --nodes (1 to 5)"
            opt_nodes=$2
            shift 2
            ;;
        --nodes=*)
            opt_nodes=${1#--nodes=}
            [[ $opt_nodes =~ ^[1-5]$ ]] || usage_error "invalid value \"$opt_nodes\" for --nodes (1 to 5)"
            shift
            ;;
        -h | --help | help)
            usage
            return 0
            ;;
        -*) usage_error "unknown option \"$1\"" ;;
        *) break ;;
        esac
    done
    cmd=${1:-}
    case $cmd in
    start | stop | status | wait | topics | bootstrap | cluster-id | install) nargs=0 ;;
    start-node | stop-node | kill-node) nargs=1 ;;
    tool) nargs=-1 ;;
    leader) nargs=2 ;;
    '') usage_error "missing command" ;;
    *) usage_error "unknown command \"$cmd\"" ;;
    esac
    shift
    if [[ $cmd == leader ]]; then
        [[ $# -ge 1 ]] || usage_error "leader needs a topic"
    elif [[ $nargs == 1 && $# -lt 1 ]]; then
        usage_error "$cmd needs a node number"
    fi
    [[ $cmd != tool || $# -ge 1 ]] || usage_error "tool needs a class name"
    ((nargs < 0 || $# <= nargs)) || usage_error "unexpected argument \"${*:nargs+1:1}\" for \"$cmd\""

    read_settings
    case $cmd in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    wait) cmd_wait ;;
    topics) cmd_topics ;;
    leader) cmd_leader "$@" ;;
    bootstrap) printf '%s\n' "$(bootstrap_list)" ;;
    cluster-id)
        formatted || die "no cluster in \"$data\"" "start it first with scripts/kafka-local.sh start"
        cluster_get cluster_id
        ;;
    start-node) cmd_start_node "$1" ;;
    stop-node) cmd_stop_node "$1" ;;
    kill-node) cmd_kill_node "$1" ;;
    install) cmd_install ;;
    tool) cmd_tool "$@" ;;
    esac
}

main "$@"
