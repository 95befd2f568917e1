#!/usr/bin/env bash
# scripts/spark-local.sh - a private Apache Spark standalone cluster (one
# master, one worker) for development and tests, without Docker.
#
# Spark comes from the pyspark package on PyPI, pinned below and installed
# into a venv under the cache directory ($ECOM_SPARK_CACHE, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/spark, outside the clone so
# that a fresh clone on the same machine reuses it); its package directory is SPARK_HOME, whose
# bin/spark-class runs org.apache.spark.deploy.master.Master and
# org.apache.spark.deploy.worker.Worker. The Kafka connector
# (spark-sql-kafka-0-10 and the jars it needs that pyspark lacks) is copied
# from Maven Central by mvn dependency:copy-dependencies into the same cache
# and put on the driver's and executors' class path by "submit". Once both
# are cached, nothing is downloaded again.
#
# The daemons' logs, pid files, configuration and work directories live in
# $ECOM_SPARK_DATA (default <repo>/data/spark). Everything listens on
# 127.0.0.1 by default: master RPC 7077, master web UI 8082 (its /json/ is
# what the metrics collector reads), worker web UI 8083. Memory is bounded:
# 256 MiB heap per daemon, a worker offering 1 GiB and 2 cores, executors
# and drivers of 512 MiB. docker-compose.yml is the containerised equivalent.
#
# Settings: the repo's .env (or $ECOM_ENV_FILE) is read without overriding
# variables already set, so the environment wins. Test suites point
# ECOM_SPARK_DATA and the ports at a throwaway cluster. Runs as root or as
# any user; the daemons run as the caller.
set -euo pipefail

prog=spark-local
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quiet_var=ECOM_SPARK_QUIET
writable_hint="run this script as its owner or as root, or point ECOM_SPARK_DATA/ECOM_SPARK_CACHE elsewhere"
# shellcheck source=scripts/lib-local.sh
. "$repo/scripts/lib-local.sh"
# The pinned Spark: pyspark from PyPI and the Kafka connector of the same
# version from Maven Central (4.2.1 and 4.3.0 have no spark-sql-kafka-0-10 on
# Maven Central; 3.5.9 has none for Scala 2.12).
default_pyspark_version=4.2.0
dependency_plugin_version=3.8.1
# The plugin by its full coordinates: a bare "dependency:" prefix needs Maven
# to resolve plugin group metadata first.
dependency_plugin=org.apache.maven.plugins:maven-dependency-plugin:$dependency_plugin_version

usage() {
    cat <<EOF
$prog: start, stop and inspect a private Apache Spark standalone cluster
(one master, one worker) for ecom-pipeline.

Usage:
  scripts/spark-local.sh start          start the master and the worker (install
                                        pyspark and the Kafka connector first if
                                        they are not cached); wait until the
                                        master lists the worker as ALIVE
  scripts/spark-local.sh stop           stop them (SIGTERM, then SIGKILL after
                                        \$ECOM_SPARK_STOP_TIMEOUT s); harmless if
                                        stopped
  scripts/spark-local.sh status         print running/stopped, the master URL and
                                        the UI; exit 0 if running, 3 if not
  scripts/spark-local.sh submit ARGS    run spark-submit ARGS against the running
                                        master, with the Kafka connector on the
                                        class path (e.g. submit job.py)
  scripts/spark-local.sh install        only install pyspark and the connector

Environment (after the repo's .env, which never overrides it):
  ECOM_SPARK_DATA          logs, pid files, conf and work dirs (default: <repo>/data/spark)
  ECOM_SPARK_CACHE         venv, Maven repository, connector jars
                           (default: ${XDG_CACHE_HOME:-\$HOME/.cache}/ecom-pipeline/spark)
  ECOM_PYSPARK_VERSION     pyspark to install (default: $default_pyspark_version)
  ECOM_SPARK_PYTHON        python that creates the venv (default: /usr/bin/python3)
  SPARK_MASTER_HOST        master address (default: 127.0.0.1)
  SPARK_MASTER_PORT        master RPC port (default: 7077)
  SPARK_MASTER_WEBUI_PORT  master web UI port (default: \$SPARK_UI_PORT or 8082)
  SPARK_WORKER_WEBUI_PORT  worker web UI port (default: 8083)
  SPARK_LOCAL_IP           address the daemons and UIs bind to (default: 127.0.0.1)
  SPARK_DAEMON_MEMORY      heap of the master and of the worker (default: 256m)
  SPARK_WORKER_MEMORY      memory the worker offers to executors (default: 1g)
  SPARK_WORKER_CORES       cores the worker offers (default: 2)
  ECOM_SPARK_EXECUTOR_MEMORY  spark.executor.memory for submit (default: 512m)
  ECOM_SPARK_DRIVER_MEMORY    spark.driver.memory for submit (default: 512m)
  ECOM_SPARK_START_TIMEOUT seconds to wait for an ALIVE worker (default: 120)
  ECOM_SPARK_STOP_TIMEOUT  seconds to wait for each daemon to exit (default: 30)
  ECOM_SPARK_QUIET         1 to print only warnings and errors
  ECOM_ENV_FILE            env file to read instead of <repo>/.env
  JAVA_HOME                Java 17 or newer (default: the one "java" runs)
EOF
}

read_settings() {


    read_env

    data='' cache=''
    abspath data "${ECOM_SPARK_DATA:-$repo/data/spark}"
    abspath cache "${ECOM_SPARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/spark}"
    version=${ECOM_PYSPARK_VERSION:-$default_pyspark_version}
    [[ $version =~ ^[34]\.[0-9]+\.[0-9]+$ ]] ||
        die "invalid value \"$version\" for ECOM_PYSPARK_VERSION" "use a Spark 3.x or 4.x release such as $default_pyspark_version"
    # pyspark from PyPI is built for Scala 2.12 up to 3.5 and 2.13 from 4.0.
    if [[ $version == 3.* ]]; then scala=2.12; else scala=2.13; fi
    master_host=${SPARK_MASTER_HOST:-127.0.0.1}
    master_port=${SPARK_MASTER_PORT:-7077}
    webui_port=${SPARK_MASTER_WEBUI_PORT:-${SPARK_UI_PORT:-8082}}
    worker_webui_port=${SPARK_WORKER_WEBUI_PORT:-8083}
    worker_port=${SPARK_WORKER_PORT:-0}
    local_ip=${SPARK_LOCAL_IP:-127.0.0.1}
    daemon_memory=${SPARK_DAEMON_MEMORY:-256m}
    worker_memory=${SPARK_WORKER_MEMORY:-1g}
    worker_cores=${SPARK_WORKER_CORES:-2}
    executor_memory=${ECOM_SPARK_EXECUTOR_MEMORY:-512m}
    driver_memory=${ECOM_SPARK_DRIVER_MEMORY:-512m}
    start_timeout=${ECOM_SPARK_START_TIMEOUT:-120}
    stop_timeout=${ECOM_SPARK_STOP_TIMEOUT:-30}

    check_port SPARK_MASTER_PORT "$master_port"
    check_port SPARK_MASTER_WEBUI_PORT "$webui_port"
    check_port SPARK_WORKER_WEBUI_PORT "$worker_webui_port"
    check_port SPARK_WORKER_PORT "$worker_port" 0ok
    check_memory SPARK_DAEMON_MEMORY "$daemon_memory"
    check_memory SPARK_WORKER_MEMORY "$worker_memory"
    check_memory ECOM_SPARK_EXECUTOR_MEMORY "$executor_memory"
    check_memory ECOM_SPARK_DRIVER_MEMORY "$driver_memory"
    [[ $worker_cores =~ ^[1-9][0-9]{0,3}$ ]] ||
        die "invalid value \"$worker_cores\" for SPARK_WORKER_CORES" "use a whole number of cores"
    check_seconds ECOM_SPARK_START_TIMEOUT "$start_timeout"
    check_seconds ECOM_SPARK_STOP_TIMEOUT "$stop_timeout"
    [[ $master_port != "$webui_port" && $master_port != "$worker_webui_port" &&
        $webui_port != "$worker_webui_port" ]] ||
        die "SPARK_MASTER_PORT, SPARK_MASTER_WEBUI_PORT and SPARK_WORKER_WEBUI_PORT must differ"

    # The UIs are read where they bind: the loopback unless bound elsewhere.
    ui_host=$local_ip
    [[ $ui_host != 0.0.0.0 && $ui_host != '::' ]] || ui_host=127.0.0.1
    master_url=spark://$master_host:$master_port
    json_url=http://$ui_host:$webui_port/json/

    venv=$cache/pyspark-$version
    jars=$cache/kafka-jars-$version
    m2=$cache/m2
    conf=$data/conf
    master_pidfile=$data/master.pid
    worker_pidfile=$data/worker.pid
    master_log=$data/logs/master.log
    worker_log=$data/logs/worker.log
    statefile=$data/spark-local.state
}

# java_major JAVA: the feature version of a java binary (17 for 17.0.15).
java_major() {
    "$1" -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\).*/\1/p' | head -n 1
}

# ensure_java: JAVA_HOME set to a Java 17 or newer.
ensure_java() {
    local java major

    if [[ -n ${JAVA_HOME:-} ]]; then
        java=$JAVA_HOME/bin/java
        [[ -x $java ]] || die "JAVA_HOME=\"$JAVA_HOME\" has no bin/java"
    else
        if ! command -v java >/dev/null; then
            apt_install openjdk-17-jre-headless
        fi
        java=$(readlink -f "$(command -v java)")
        JAVA_HOME=${java%/bin/java}
    fi
    major=$(java_major "$java")
    [[ $major =~ ^[0-9]+$ ]] || major=0
    ((major >= 17)) ||
        die "Spark $version needs Java 17 or newer; \"$java\" is version \"${major:-unknown}\"" \
            "apt-get install openjdk-17-jre-headless, or point JAVA_HOME at a newer JDK"
    export JAVA_HOME
}

# find_spark_home: sets spark_home from an installed venv; 1 if none.
find_spark_home() {
    local d
    spark_home=
    [[ -f $venv/.ecom-installed ]] || return 1
    for d in "$venv"/lib/python3*/site-packages/pyspark; do
        [[ -x $d/bin/spark-class ]] && spark_home=$d
    done
    [[ -n $spark_home ]]
}

# ensure_pyspark: the venv with pyspark==$version, installed once.
ensure_pyspark() {
    local py=${ECOM_SPARK_PYTHON:-} log=$cache/pip-$version.log

    find_spark_home && return 0
    if [[ -z $py ]]; then
        py=/usr/bin/python3
        [[ -x $py ]] || py=$(command -v python3 || true)
        [[ -n $py ]] || apt_install python3 python3-venv
        py=${py:-/usr/bin/python3}
    fi
    if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
        [[ $py == /usr/bin/python3 ]] ||
            die "\"$py\" cannot create a venv (no venv/ensurepip module)" "set ECOM_SPARK_PYTHON to a python that can"
        apt_install python3-venv
    fi
    lock_cache "$cache"
    if find_spark_home; then
        unlock_cache
        return 0
    fi
    rm -rf -- "$venv"
    say "installing pyspark==$version from PyPI into \"$venv\""
    if ! "$py" -m venv "$venv" >"$log" 2>&1 ||
        ! "$venv/bin/python" -m pip install --no-cache-dir --disable-pip-version-check \
            --no-input "pyspark==$version" >>"$log" 2>&1; then
        tail -n 15 "$log" >&2 || true
        rm -rf -- "$venv"
        die "could not install pyspark==$version (log: \"$log\")" \
            "PyPI must be reachable; or set ECOM_PYSPARK_VERSION to a version it serves"
    fi
    printf 'pyspark %s\n' "$version" >"$venv/.ecom-installed"
    unlock_cache
    find_spark_home || die "pyspark installed, but \"$venv\" has no pyspark/bin/spark-class"
}

# ensure_kafka_jars: spark-sql-kafka-0-10 and its dependencies that pyspark
# lacks, copied from Maven Central once (a jar whose artifact pyspark already
# ships, such as lz4-java, is dropped so one version stays on the class path).
ensure_kafka_jars() {
    local work=$cache/kafka-jars-$version.tmp log=$cache/mvn-$version.log coords c name artifact

    [[ -f $jars/.ecom-installed ]] && return 0
    command -v mvn >/dev/null || apt_install maven
    lock_cache "$cache"
    if [[ -f $jars/.ecom-installed ]]; then
        unlock_cache
        return 0
    fi
    rm -rf -- "$work" "$jars"
    mkdir -p -- "$work/all" "$work/keep"
    cat >"$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/spark-local.sh: the Kafka connector of Spark $version. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ecom-pipeline</groupId>
  <artifactId>spark-kafka-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.spark</groupId>
      <artifactId>spark-sql-kafka-0-10_$scala</artifactId>
      <version>$version</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>$dependency_plugin_version</version>
      </plugin>
    </plugins>
  </build>
</project>
EOF
    say "fetching org.apache.spark:spark-sql-kafka-0-10_$scala:$version from Maven Central into \"$jars\""
    if ! mvn -B -q -f "$work/pom.xml" -Dmaven.repo.local="$m2" \
        "$dependency_plugin:copy-dependencies" -DincludeScope=runtime -DoutputDirectory="$work/all" \
        "$dependency_plugin:list" -DincludeScope=runtime -DoutputFile="$work/list.txt" >"$log" 2>&1; then
        grep -E 'ERROR' "$log" | head -n 5 >&2 || true
        die "could not fetch the Kafka connector (log: \"$log\")" \
            "Maven Central must serve org.apache.spark:spark-sql-kafka-0-10_$scala:$version"
    fi
    # list.txt: "   GROUP:ARTIFACT:TYPE[:CLASSIFIER]:VERSION:SCOPE[ -- module ...]".
    while read -r coords _; do
        IFS=: read -ra c <<<"$coords"
        case ${#c[@]} in
        5) artifact=${c[1]} name=${c[1]}-${c[3]}.${c[2]} ;;
        6) artifact=${c[1]} name=${c[1]}-${c[4]}-${c[3]}.${c[2]} ;;
        *) continue ;;
        esac
        [[ -f $work/all/$name ]] || continue
        compgen -G "$spark_home/jars/$artifact-[0-9]*.jar" >/dev/null && continue
        mv -- "$work/all/$name" "$work/keep/"
    done <"$work/list.txt"
    [[ -n $(compgen -G "$work/keep/spark-sql-kafka-0-10_*.jar") ]] ||
        die "the Kafka connector was not among the copied jars (see \"$work\")"
    mv -- "$work/keep" "$jars"
    cp -- "$work/pom.xml" "$jars/pom.xml"
    rm -rf -- "$work"
    printf 'spark-sql-kafka-0-10_%s %s\n' "$scala" "$version" >"$jars/.ecom-installed"
    unlock_cache
}

ensure_installed() {
    ensure_java
    ensure_pyspark
    ensure_kafka_jars
}

# classpath: the connector jars, colon-separated.
classpath() {
    local f cp=
    for f in "$jars"/*.jar; do cp+=${cp:+:}$f; done
    printf '%s' "$cp"
}

# write_conf: the configuration that follows the environment, rewritten on
# every start (edit the settings, not these files).
write_conf() {
    mkdir -p -- "$conf" "$data/logs" "$data/work" "$data/local"
    cat >"$conf/spark-defaults.conf" <<EOF
# Written by scripts/spark-local.sh on every start; set its variables instead.
spark.master                     $master_url
spark.executor.memory            $executor_memory
spark.driver.memory              $driver_memory
spark.driver.extraClassPath      $(classpath)
spark.executor.extraClassPath    $(classpath)
spark.pyspark.python             $venv/bin/python
EOF
    # Drivers and executors log warnings; the daemons (below) log info.
    cat >"$conf/log4j2.properties" <<'EOF'
# Written by scripts/spark-local.sh: warnings and errors on stderr.
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
# No native Hadoop library is expected here.
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = error
EOF
    sed 's/^rootLogger.level = warn/rootLogger.level = info/' "$conf/log4j2.properties" >"$conf/log4j2-daemon.properties"
}

# set_spark_env: fills spark_env with the environment of this cluster's
# Spark commands (to run as: env "${spark_env[@]}" CMD...).
set_spark_env() {
    spark_env=(-u PYSPARK_DRIVER_PYTHON -u SPARK_DIST_CLASSPATH -u SPARK_CLASSPATH
        SPARK_HOME="$spark_home" SPARK_CONF_DIR="$conf" JAVA_HOME="$JAVA_HOME"
        SPARK_LOCAL_IP="$local_ip" SPARK_LOCAL_DIRS="$data/local" PYSPARK_PYTHON="$venv/bin/python")
}

# daemon_pid CLASS PIDFILE: prints the pid of the running daemon, or fails.
daemon_pid() {
    local pid
    [[ -f $2 ]] || return 1
    pid=$(<"$2")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    # grep reads a process substitution, not a pipe: with pipefail, tr
    # killed by SIGPIPE once grep -q has its match would fail the test.
    grep -qF -- "$1" < <(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    # Ours, not another cluster's: started with this conf directory.
    grep -qxF -- "SPARK_CONF_DIR=$conf" < <(tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ") ||
        [[ ! -r /proc/$pid/environ ]] || return 1
    printf '%s' "$pid"
}

master_pid() { daemon_pid org.apache.spark.deploy.master.Master "$master_pidfile"; }
worker_pid() { daemon_pid org.apache.spark.deploy.worker.Worker "$worker_pidfile"; }

# port_in_use PORT [HOST]: 0 if something accepts connections on HOST:PORT
# (default host: the UI host).
port_in_use() {
    (exec 3<>"/dev/tcp/${2:-$ui_host}/$1") 2>/dev/null
}

# probe: "STATUS N" from the master's /json/, N the ALIVE workers whose UI
# is on our worker UI port; "none 0" when the master does not answer.
probe() {
    "$venv/bin/python" - "$json_url" "$worker_webui_port" 2>/dev/null <<'PY' || echo "none 0"
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        j = json.load(r)
except Exception:
    print("none 0")
    sys.exit()
port = ":" + sys.argv[2]
alive = [w for w in j.get("workers", [])
         if w.get("state") == "ALIVE" and str(w.get("webuiaddress", "")).endswith(port)]
print(j.get("status", "none"), len(alive))
PY
}

# spawn CLASS LOG PIDFILE ARGS...: starts a daemon detached, in its own session.
spawn() {
    local class=$1 log=$2 pidfile=$3 pid i
    shift 3
    printf '\n=== %s: starting %s %s\n' "$(date '+%F %T')" "$class" "$*" >>"$log"
    set_spark_env
    (
        cd "$data"
        exec setsid env "${spark_env[@]}" SPARK_DAEMON_MEMORY="$daemon_memory" \
            SPARK_DAEMON_JAVA_OPTS="-Dlog4j2.configurationFile=file:$conf/log4j2-daemon.properties -Dspark.port.maxRetries=0 -Dspark.master.rest.enabled=false" \
            SPARK_WORKER_DIR="$data/work" \
            "$spark_home/bin/spark-class" "$class" "$@" </dev/null >>"$log" 2>&1
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$pidfile"
    # Until the subshell has exec'd spark-class, its command line is ours and
    # daemon_pid would take the daemon for dead: wait for the exec (on a
    # loaded machine that took long enough for "the master exited").
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        grep -qF -- "$class" < <(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") && break
        sleep 0.05
    done
}

# wait_for WHAT DEADLINE PIDFILE CLASS LOG TEST: polls TEST (a function) until
# it succeeds, the daemon dies or the deadline (epoch seconds) passes.
wait_for() {
    local what=$1 deadline=$2 pidfile=$3 class=$4 log=$5 test=$6
    while ! "$test"; do
        if ! daemon_pid "$class" "$pidfile" >/dev/null; then
            warn "the $what exited; last lines of \"$log\":"
            tail -n 20 "$log" >&2 || true
            rm -f -- "$pidfile"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            warn "the $what is not ready after ${start_timeout}s; last lines of \"$log\":"
            tail -n 20 "$log" >&2 || true
            return 1
        fi
        sleep 0.5
    done
}

# The worker may start as soon as the master's RPC port accepts connections;
# the final wait (an ALIVE worker in /json/) also proves the master ALIVE.
master_ready() { port_in_use "$master_port" "$master_host"; }
worker_ready() { local p; p=$(probe); [[ $p == ALIVE\ * && ${p#ALIVE } -ge 1 ]]; }

write_state() {
    cat >"$statefile" <<EOF
master_url=$master_url
webui=http://$ui_host:$webui_port/
json_url=$json_url
worker_webui_port=$worker_webui_port
pyspark=$version
spark_home=$spark_home
EOF
}

state_get() {
    sed -n "s/^$1=//p" "$statefile" 2>/dev/null || true
}

cmd_install() {
    ensure_installed
    say "installed: pyspark $version in \"$venv\", Kafka connector jars in \"$jars\""
}

cmd_start() {
    local deadline mpid wpid p

    need_writable "$data"
    ensure_installed
    mkdir -p -- "$data"
    deadline=$((SECONDS + start_timeout))
    mpid=$(master_pid || true)
    wpid=$(worker_pid || true)
    if [[ -n $mpid ]]; then
        # The running cluster's addresses win over changed settings.
        p=$(state_get master_url)
        if [[ -n $p && $p != "$master_url" ]]; then
            warn "the master runs at $p, not $master_url; stop and start it to move it"
            master_url=$p
        fi
        p=$(state_get json_url)
        [[ -n $p ]] || { p=$(state_get webui); p=${p:+${p}json/}; }
        if [[ -n $p && $p != "$json_url" ]]; then
            warn "the master UI is $p, not $json_url; stop and start it to move it"
            json_url=$p
        fi
        if [[ -n $wpid ]]; then
            p=$(state_get worker_webui_port)
            worker_webui_port=${p:-$worker_webui_port}
        fi
        say "master already running (pid $mpid)"
    else
        if [[ -n $wpid ]]; then
            say "stopping the worker left without its master (pid $wpid)"
            stop_daemon worker "$wpid" "$worker_pidfile"
            wpid=
        fi
        port_in_use "$master_port" "$master_host" &&
            die "port $master_port on $master_host is already in use" "set SPARK_MASTER_PORT to another port"
        port_in_use "$webui_port" &&
            die "port $webui_port on $ui_host is already in use" "set SPARK_MASTER_WEBUI_PORT to another port"
        write_conf
        say "starting the master at $master_url (UI http://$ui_host:$webui_port/, data \"$data\")"
        spawn org.apache.spark.deploy.master.Master "$master_log" "$master_pidfile" \
            --host "$master_host" --port "$master_port" --webui-port "$webui_port"
        write_state
        wait_for master "$deadline" "$master_pidfile" org.apache.spark.deploy.master.Master \
            "$master_log" master_ready || die "the master did not start" "see \"$master_log\""
    fi
    if [[ -n $wpid ]]; then
        say "worker already running (pid $wpid)"
    else
        port_in_use "$worker_webui_port" &&
            die "port $worker_webui_port on $ui_host is already in use" "set SPARK_WORKER_WEBUI_PORT to another port"
        [[ -f $conf/spark-defaults.conf ]] || write_conf
        say "starting a worker ($worker_cores cores, $worker_memory; UI port $worker_webui_port)"
        spawn org.apache.spark.deploy.worker.Worker "$worker_log" "$worker_pidfile" \
            --host "$local_ip" --port "$worker_port" --webui-port "$worker_webui_port" \
            --cores "$worker_cores" --memory "$worker_memory" --work-dir "$data/work" "$master_url"
        sed -i "s/^worker_webui_port=.*/worker_webui_port=$worker_webui_port/" "$statefile" 2>/dev/null || true
    fi
    wait_for worker "$deadline" "$worker_pidfile" org.apache.spark.deploy.worker.Worker \
        "$worker_log" worker_ready || die "the worker did not register with the master" "see \"$worker_log\""
    say "ready: $master_url, UI ${json_url%json/} (json: $json_url)"
}

# stop_daemon NAME PID PIDFILE: SIGTERM, then SIGKILL after the deadline.
stop_daemon() {
    local name=$1 pid=$2 pidfile=$3 deadline=$((SECONDS + stop_timeout))
    kill -TERM "$pid" 2>/dev/null || true
    while [[ -e /proc/$pid ]] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            warn "the $name (pid $pid) did not exit within ${stop_timeout}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f -- "$pidfile"
}

cmd_stop() {
    local mpid wpid

    wpid=$(worker_pid || true)
    mpid=$(master_pid || true)
    if [[ -z $wpid && -z $mpid ]]; then
        rm -f -- "$master_pidfile" "$worker_pidfile"
        say "not running (data directory \"$data\")"
        return 0
    fi
    # The worker first: it kills its executors on the way out.
    [[ -z $wpid ]] || stop_daemon worker "$wpid" "$worker_pidfile"
    [[ -z $mpid ]] || stop_daemon master "$mpid" "$master_pidfile"
    say "stopped (data directory \"$data\")"
}

cmd_status() {
    local mpid wpid url ui

    mpid=$(master_pid || true)
    wpid=$(worker_pid || true)
    url=$(state_get master_url)
    ui=$(state_get webui)
    if [[ -n $mpid && -n $wpid ]]; then
        printf 'running: master %s (pid %s), UI %s, worker pid %s (data directory "%s")\n' \
            "${url:-$master_url}" "$mpid" "${ui:-?}" "$wpid" "$data"
        return 0
    fi
    if [[ -n $mpid || -n $wpid ]]; then
        printf 'partly running: master pid %s, worker pid %s (data directory "%s")\n' \
            "${mpid:-none}" "${wpid:-none}" "$data"
        return 3
    fi
    printf 'stopped (master %s, UI port %s, data directory "%s")\n' "$master_url" "$webui_port" "$data"
    return 3
}

cmd_submit() {
    local url

    master_pid >/dev/null ||
        die "the master is not running (data directory \"$data\")" "start it with scripts/spark-local.sh start"
    find_spark_home || die "pyspark is not installed in \"$venv\"" "run scripts/spark-local.sh start"
    [[ -f $jars/.ecom-installed ]] || die "the Kafka connector is not in \"$jars\"" "run scripts/spark-local.sh start"
    ensure_java
    url=$(state_get master_url)
    set_spark_env
    exec env "${spark_env[@]}" "$spark_home/bin/spark-submit" --master "${url:-$master_url}" "$@"
}

main() {
    local cmd=${1:-}

    case $cmd in
    -h | --help | help)
        usage
        return 0
        ;;
    start | stop | status | submit | install) shift ;;
    '')
        usage_error "missing command"
        ;;
    *)
        usage_error "unknown command \"$cmd\""
        ;;
    esac
    if [[ $cmd != submit && $# -gt 0 ]]; then
        usage_error "unexpected argument \"$1\" for \"$cmd\""
    fi
    if [[ $cmd == submit && $# -eq 0 ]]; then
        usage_error "submit needs spark-submit arguments (e.g. submit job.py)"
    fi

    read_settings
    case $cmd in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    submit) cmd_submit "$@" ;;
    install) cmd_install ;;
    esac
}

main "$@"
