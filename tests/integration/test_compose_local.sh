#!/usr/bin/env bash
# tests/integration/test_compose_local.sh - checks that docker-compose.yml's
# Kafka and Spark are the local ones (scripts/kafka-local.sh,
# spark-local.sh, pg-local.sh), without a Docker engine:
#   - host ports: Kafka (compose's EXTERNAL listener and published port vs the
#     bootstrap kafka-local.sh listens on), Spark master RPC and UI (vs what
#     spark-local.sh status reports), PostgreSQL (vs pg-local.sh status),
#     Kafka UI (vs .env's KAFKA_UI_PORT);
#   - Kafka: the partition count of new topics and of the topic creator, the
#     topic names (kafka-init vs kafka-local.sh's default list vs the C
#     code's topic table, schema_topics[] in common/schema.c), the image's
#     release vs kafka-local.sh's default_version and scripts/kafka/pom.xml,
#     KRaft combined mode, no automatic topic creation, the heap;
#   - Spark: the image's major.minor vs spark-local.sh's pinned pyspark, the
#     worker's cores and memory and the daemons' heap;
#   - the in-network address that kafka-init, Kafka UI and the simulator use
#     is the INTERNAL listener Kafka advertises.
# Local values come from the scripts themselves (their status/bootstrap
# output with the repo's .env, or the .env value or script default they
# use), never from a second copy here. The same comparison then runs on
# copies of the tree with one value changed each (compose, script, pom,
# schema.c): each must be caught, so a check that cannot fail fails.
#
# Reads the resolved "docker-compose config" with python3-yaml
# (/usr/bin/python3); scripts/deps.sh installs both: missing is a failure.
#
# Usage: tests/integration/test_compose_local.sh [BIN_DIR] (the repo: $ECOM_REPO or ../..)
# Exit status 0 when every check passed, 1 otherwise.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
lib_init "$@"

if ! command -v docker-compose >/dev/null; then
    not_ok "docker-compose is installed (scripts/deps.sh installs it)"
    finish || exit 1
fi
if ! /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    not_ok "/usr/bin/python3 has python3-yaml (scripts/deps.sh installs it)"
    finish || exit 1
fi

# compose_facts CONFIG: KEY=VALUE lines from a resolved compose file.
compose_facts() {
    /usr/bin/python3 - "$1" <<'PY'
import re
import sys
import yaml

with open(sys.argv[1]) as f:
    services = yaml.safe_load(f).get("services") or {}

def svc(name):
    return services.get(name) or {}

def env(name):
    e = svc(name).get("environment") or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) if "=" in x else (x, "") for x in e)
    return {k: "" if v is None else str(v) for k, v in e.items()}

def tag(name):
    image = str(svc(name).get("image", ""))
    return image.rsplit(":", 1) if ":" in image else (image, "")

def published(name, target):
    for p in svc(name).get("ports") or []:
        if isinstance(p, dict):
            if str(p.get("target")) == str(target):
                return str(p.get("published", ""))
        else:
            parts = str(p).split("/")[0].split(":")
            if len(parts) >= 2 and parts[-1] == str(target):
                return parts[-2]
    return ""

def words(value):
    if isinstance(value, list):
        return [str(w) for w in value]
    return str(value or "").split()

def flag(argv, name):
    return argv[argv.index(name) + 1] if name in argv[:-1] else ""

def listeners(value):
    out = {}
    for item in value.split(","):
        m = re.match(r"\s*([A-Za-z_]+)://(.*?)\s*$", item)
        if m:
            out[m.group(1)] = m.group(2)
    return out

facts = {}
k = env("kafka")
repo_, facts["kafka_image_tag"] = tag("kafka")
facts["kafka_image"] = repo_
facts["kafka_init_image_tag"] = tag("kafka-init")[1]
adv = listeners(k.get("KAFKA_ADVERTISED_LISTENERS", ""))
lis = listeners(k.get("KAFKA_LISTENERS", ""))
facts["kafka_external"] = adv.get("EXTERNAL", "")
facts["kafka_internal"] = adv.get("INTERNAL", "")
ext_port = lis.get("EXTERNAL", "").rsplit(":", 1)[-1]
facts["kafka_published"] = published("kafka", ext_port) if ext_port else ""
facts["kafka_roles"] = ",".join(sorted(k.get("KAFKA_PROCESS_ROLES", "").split(",")))
facts["kafka_partitions"] = k.get("KAFKA_NUM_PARTITIONS", "")
facts["kafka_auto_create"] = k.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "")
m = re.search(r"-Xmx(\S+)", k.get("KAFKA_HEAP_OPTS", ""))
facts["kafka_heap"] = m.group(1) if m else ""

i = env("kafka-init")
facts["init_topics"] = " ".join(sorted(i.get("ECOM_KAFKA_TOPICS", "").split()))
facts["init_partitions"] = i.get("TOPIC_PARTITIONS", "")
script = " ".join(words(svc("kafka-init").get("entrypoint")) + words(svc("kafka-init").get("command")))
script = script.replace("$$", "$")
facts["init_uses_vars"] = "yes" if re.search(r"\bfor \w+ in \$\{?ECOM_KAFKA_TOPICS\b", script) and \
    re.search(r"--partitions \"?\$\{?TOPIC_PARTITIONS\b", script) else "no"
facts["init_bootstrap"] = ",".join(sorted(set(re.findall(r"--bootstrap-server\s+(\S+)", script))))

facts["ui_published"] = published("kafka-ui", 8080)
facts["ui_bootstrap"] = env("kafka-ui").get("KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS", "")
facts["simulator_bootstrap"] = env("simulator").get("KAFKA_BOOTSTRAP_SERVERS", "")

m_argv = words(svc("spark-master").get("command"))
w_argv = words(svc("spark-worker").get("command"))
facts["spark_image"], facts["spark_image_tag"] = tag("spark-master")
facts["spark_worker_image_tag"] = tag("spark-worker")[1]
facts["spark_master_class"] = next((a for a in m_argv if a.startswith("org.apache.spark.")), "")
facts["spark_worker_class"] = next((a for a in w_argv if a.startswith("org.apache.spark.")), "")
facts["spark_master_published"] = published("spark-master", flag(m_argv, "--port") or "7077")
facts["spark_ui_published"] = published("spark-master", flag(m_argv, "--webui-port") or "8080")
facts["spark_worker_master"] = w_argv[-1] if w_argv else ""
facts["spark_master_url"] = "spark://%s:%s" % (flag(m_argv, "--host"), flag(m_argv, "--port") or "7077")
facts["spark_worker_cores"] = flag(w_argv, "--cores") or env("spark-worker").get("SPARK_WORKER_CORES", "")
facts["spark_worker_memory"] = flag(w_argv, "--memory") or env("spark-worker").get("SPARK_WORKER_MEMORY", "")
facts["spark_master_daemon_memory"] = env("spark-master").get("SPARK_DAEMON_MEMORY", "")
facts["spark_worker_daemon_memory"] = env("spark-worker").get("SPARK_DAEMON_MEMORY", "")

facts["pg_published"] = published("postgres", 5432)

for key in sorted(facts):
    print("%s=%s" % (key, facts[key]))
PY
}

# env_get FILE KEY: KEY's value in an env file (config.c's rules, simplified:
# the last KEY=VALUE line, quotes stripped); empty if unset.
env_get() {
    sed -n "s/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}$2[[:space:]]*=[[:space:]]*//p" "$1" |
        tail -n 1 | sed 's/[[:space:]]\{1,\}#.*//; s/^"\(.*\)"$/\1/; s/^'\''\(.*\)'\''$/\1/'
}

# script_default SCRIPT VAR: the default in SCRIPT's ${VAR:-default}.
script_default() {
    sed -n "s/.*\${$2:-\([^}\$]*\)}.*/\1/p" "$1" | head -n 1
}

# local_setting DIR SCRIPT VAR: what SCRIPT uses for VAR with DIR's .env and
# an otherwise clean environment: .env's value, else the script's default.
local_setting() {
    local v
    v=$(env_get "$1/.env" "$3")
    [[ -n $v ]] || v=$(script_default "$1/scripts/$2" "$3")
    printf '%s' "$v"
}

# assignment FILE NAME: the value of a plain NAME=value line in a script.
assignment() {
    sed -n "s/^$2=\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$1" | head -n 1
}

# run_clean DIR SCRIPT ARGS...: runs DIR's script with only DIR's .env for
# settings and throwaway data directories; prints its stdout.
run_clean() {
    local dir=$1 script=$2
    shift 2
    env -i PATH="$PATH" HOME="${HOME:-$tmp}" ECOM_ENV_FILE="$dir/.env" \
        ECOM_KAFKA_DATA="$work/kafka-data" ECOM_KAFKA_CACHE="$work/kafka-cache" \
        ECOM_SPARK_DATA="$work/spark-data" ECOM_SPARK_CACHE="$work/spark-cache" \
        ECOM_PGDATA="$work/pgdata" \
        "$dir/scripts/$script" "$@" 2>>"$work/scripts.err" || true
}

# schema_topic_names FILE: the topic names of schema_topics[] in schema.c.
schema_topic_names() {
    awk '/schema_topics\[[A-Z_]*\][[:space:]]*=/ { on = 1; next }
         on && /^};/ { exit }
         on && match($0, /= *\{ *"[^"]+"/) { s = substr($0, RSTART, RLENGTH); sub(/^= *\{ *"/, "", s); sub(/"$/, "", s); print s }' "$1"
}

sorted_words() { tr -s ' \t' '\n' | sed '/^$/d' | sort | paste -sd ' ' -; }
major_minor() { sed -n 's/^\([0-9][0-9]*\.[0-9][0-9]*\)\..*/\1/p' <<<"$1"; }

# compare DIR OUT [CONFIG]: writes "KEY|WHAT|COMPOSE|LOCAL" lines to OUT for
# the tree in DIR (its compose file resolved by docker-compose config, or
# CONFIG, an already resolved one); returns 1 if the compose file does not
# resolve. Leaves the resolved file in $work/config.yml.
compare() {
    local dir=$1 out=$2 bootstrap spark_status pg_status v f
    local -A c=()

    work=$(mktemp -d "$tmp/work.XXXXXX")
    if [[ -n ${3:-} ]]; then
        cp -- "$3" "$work/config.yml"
    elif ! docker-compose -f "$dir/docker-compose.yml" --project-directory "$dir" config \
        >"$work/config.yml" 2>"$work/config.err"; then
        sed 's/^/    /' "$work/config.err"
        return 1
    fi
    while IFS='=' read -r f v; do c[$f]=$v; done < <(compose_facts "$work/config.yml")

    bootstrap=$(run_clean "$dir" kafka-local.sh bootstrap)
    spark_status=$(run_clean "$dir" spark-local.sh status)
    pg_status=$(run_clean "$dir" pg-local.sh status)
    local kafka_version pom_version topics schema_topics partitions
    kafka_version=$(env_get "$dir/.env" ECOM_KAFKA_VERSION)
    [[ -n $kafka_version ]] || kafka_version=$(assignment "$dir/scripts/kafka-local.sh" default_version)
    pom_version=$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$dir/scripts/kafka/pom.xml" | head -n 1)
    topics=$(env_get "$dir/.env" ECOM_KAFKA_TOPICS)
    [[ -n $topics ]] || topics=$(assignment "$dir/scripts/kafka-local.sh" default_topics)
    schema_topics=$(schema_topic_names "$dir/common/schema.c" | sorted_words)
    partitions=$(local_setting "$dir" kafka-local.sh TOPIC_PARTITIONS)
    local pyspark spark_tag_version master_port ui_port
    pyspark=$(env_get "$dir/.env" ECOM_PYSPARK_VERSION)
    [[ -n $pyspark ]] || pyspark=$(assignment "$dir/scripts/spark-local.sh" default_pyspark_version)
    spark_tag_version=$(sed -n 's/^\([0-9][0-9.]*[0-9]\).*/\1/p' <<<"${c[spark_image_tag]}")
    master_port=$(sed -n 's/.*(master spark:\/\/[^:]*:\([0-9]*\),.*/\1/p' <<<"$spark_status")
    ui_port=$(sed -n 's/.*, UI port \([0-9]*\),.*/\1/p' <<<"$spark_status")

    {
        # KEY|WHAT|COMPOSE|LOCAL
        echo "kafka_image|Kafka's image is apache/kafka|${c[kafka_image]}|apache/kafka"
        echo "kafka_version|Kafka's image tag is kafka-local.sh's Kafka release|${c[kafka_image_tag]}|$kafka_version"
        echo "kafka_pom|Kafka's image tag is scripts/kafka/pom.xml's kafka.version|${c[kafka_image_tag]}|$pom_version"
        echo "kafka_init_version|kafka-init runs Kafka's image|${c[kafka_init_image_tag]}|${c[kafka_image_tag]}"
        echo "kafka_roles|Kafka is one KRaft node, broker and controller|${c[kafka_roles]}|broker,controller"
        echo "kafka_external|Kafka's EXTERNAL listener is where kafka-local.sh listens|${c[kafka_external]}|$bootstrap"
        echo "kafka_published|Kafka's host port is kafka-local.sh's port|${c[kafka_published]}|${bootstrap##*:}"
        echo "kafka_partitions|Kafka's num.partitions is kafka-local.sh's TOPIC_PARTITIONS|${c[kafka_partitions]}|$partitions"
        echo "init_partitions|kafka-init's partitions are kafka-local.sh's TOPIC_PARTITIONS|${c[init_partitions]}|$partitions"
        echo "init_topics|kafka-init's topics are kafka-local.sh's topics|${c[init_topics]}|$(sorted_words <<<"$topics")"
        echo "schema_topics|kafka-init's topics are common/schema.c's schema_topics[]|${c[init_topics]}|$schema_topics"
        echo "init_uses_vars|kafka-init's command creates \$ECOM_KAFKA_TOPICS with \$TOPIC_PARTITIONS partitions|${c[init_uses_vars]}|yes"
        echo "init_bootstrap|kafka-init bootstraps from Kafka's INTERNAL listener|${c[init_bootstrap]}|${c[kafka_internal]}"
        echo "kafka_auto_create|automatic topic creation as in kafka-local.sh|${c[kafka_auto_create]}|$(sed -n 's/^auto\.create\.topics\.enable=//p' "$dir/scripts/kafka-local.sh" | head -n 1)"
        echo "kafka_heap|Kafka's heap is kafka-local.sh's|${c[kafka_heap]}|$(local_setting "$dir" kafka-local.sh ECOM_KAFKA_HEAP)"
        echo "ui_published|Kafka UI's host port is .env's KAFKA_UI_PORT|${c[ui_published]}|$(env_get "$dir/.env" KAFKA_UI_PORT)"
        echo "ui_bootstrap|Kafka UI bootstraps from Kafka's INTERNAL listener|${c[ui_bootstrap]}|${c[kafka_internal]}"
        echo "simulator_bootstrap|the simulator bootstraps from Kafka's INTERNAL listener|${c[simulator_bootstrap]}|${c[kafka_internal]}"
        echo "spark_image|Spark's image is apache/spark|${c[spark_image]}|apache/spark"
        echo "spark_version|Spark's image is spark-local.sh's Spark $pyspark (major.minor)|$(major_minor "$spark_tag_version")|$(major_minor "$pyspark")"
        echo "spark_worker_image|the worker runs the master's image|${c[spark_worker_image_tag]}|${c[spark_image_tag]}"
        echo "spark_master_class|spark-master runs the Master class|${c[spark_master_class]}|org.apache.spark.deploy.master.Master"
        echo "spark_worker_class|spark-worker runs the Worker class|${c[spark_worker_class]}|org.apache.spark.deploy.worker.Worker"
        echo "spark_worker_master|the worker registers with the master's URL|${c[spark_worker_master]}|${c[spark_master_url]}"
        echo "spark_master_published|Spark master's host port is spark-local.sh's|${c[spark_master_published]}|$master_port"
        echo "spark_ui_published|Spark master UI's host port is spark-local.sh's|${c[spark_ui_published]}|$ui_port"
        echo "spark_worker_cores|the worker offers spark-local.sh's cores|${c[spark_worker_cores]}|$(local_setting "$dir" spark-local.sh SPARK_WORKER_CORES)"
        echo "spark_worker_memory|the worker offers spark-local.sh's memory|${c[spark_worker_memory]}|$(local_setting "$dir" spark-local.sh SPARK_WORKER_MEMORY)"
        echo "spark_master_heap|the master's heap is spark-local.sh's|${c[spark_master_daemon_memory]}|$(local_setting "$dir" spark-local.sh SPARK_DAEMON_MEMORY)"
        echo "spark_worker_heap|the worker's heap is spark-local.sh's|${c[spark_worker_daemon_memory]}|$(local_setting "$dir" spark-local.sh SPARK_DAEMON_MEMORY)"
        echo "pg_published|PostgreSQL's host port is pg-local.sh's|${c[pg_published]}|$(sed -n 's/^stopped (port \([0-9]*\),.*/\1/p' <<<"$pg_status")"
    } >"$out"
}

# 1. The repo as it is: every pair must agree, and no local value may be
#    empty (a script that printed nothing must not pass as a match).
if ! compare "$repo" "$tmp/facts"; then
    not_ok "docker-compose config rejects docker-compose.yml"
    finish || exit 1
fi
cp -- "$work/config.yml" "$tmp/config.yml"
while IFS='|' read -r _ what compose local_value; do
    if [[ -z $local_value ]]; then
        not_ok "$what: no local value found (scripts said: $(tail -n 3 "$work/scripts.err" 2>/dev/null | paste -sd ' ' -))"
    else
        check "$what ($local_value)" "$local_value" "$compose"
    fi
done <"$tmp/facts"
spark_tag=$(awk -F'|' '$1 == "spark_worker_image" { print $4 }' "$tmp/facts")
pyspark=$(assignment "$repo/scripts/spark-local.sh" default_pyspark_version)
if [[ $spark_tag != "$pyspark"-* && $spark_tag != "$pyspark" ]]; then
    echo "# note: the Spark image ($spark_tag) is not spark-local.sh's exact pyspark $pyspark, only its minor"
fi

# 2. Each of these one-sided changes must be caught by the check named
#    first: "KEY|FILE|SED-EXPRESSION". FILE "resolved" is the resolved
#    compose file (as if docker-compose.yml said so: docker-compose config
#    takes about a second, so it runs again only for the one change made to
#    docker-compose.yml itself); the others are files of a copy of the tree.
port_of() { awk -F'|' -v k="$1" '$1 == k { print $3 }' "$tmp/facts"; }
kafka_port=$(port_of kafka_published)
ui_port=$(port_of spark_ui_published)
pg_port=$(port_of pg_published)
mutations=(
    "kafka_version|docker-compose.yml|s#image: apache/kafka:[^ ]*#image: apache/kafka:3.9.1#"
    "kafka_version|resolved|s#image: apache/kafka:.*#image: apache/kafka:3.9.1#"
    "kafka_pom|scripts/kafka/pom.xml|s#<kafka.version>[^<]*<#<kafka.version>3.9.1<#"
    "kafka_partitions|resolved|s#KAFKA_NUM_PARTITIONS: .*#KAFKA_NUM_PARTITIONS: '7'#"
    "init_uses_vars|resolved|s#\$\$TOPIC_PARTITIONS#3#"
    "init_topics|resolved|s#ECOM_KAFKA_TOPICS: .*#ECOM_KAFKA_TOPICS: user-events transactions#"
    "init_topics|scripts/kafka-local.sh|s#^default_topics=.*#default_topics=\"user-events transactions inventory\"#"
    "schema_topics|common/schema.c|s#{\"inventory-updates\"#{\"inventory\"#"
    "kafka_published|resolved|s#published: $kafka_port\$#published: $((kafka_port + 1))#"
    "spark_version|resolved|s#image: apache/spark:4\.[0-9]*\.[0-9]*-#image: apache/spark:3.5.8-#"
    "spark_version|scripts/spark-local.sh|s#^default_pyspark_version=.*#default_pyspark_version=3.5.8#"
    "spark_ui_published|resolved|s#published: $ui_port\$#published: $((ui_port + 2))#"
    "spark_worker_memory|resolved|/- --memory\$/{n;s#- .*#- 2g#}"
    "pg_published|resolved|s#published: $pg_port\$#published: $((pg_port + 1))#"
)
copy=$tmp/copy
# copy_tree: the files compare reads, copied to $copy.
copy_tree() {
    rm -rf -- "$copy"
    mkdir -p -- "$copy/scripts/kafka" "$copy/common" "$copy/sql"
    cp -- "$repo/docker-compose.yml" "$repo/.env" "$copy/"
    cp -- "$repo"/scripts/*.sh "$copy/scripts/"
    cp -- "$repo/scripts/kafka/pom.xml" "$copy/scripts/kafka/"
    cp -- "$repo/common/schema.c" "$copy/common/"
    cp -- "$repo/sql/init.sql" "$copy/sql/"
    cp -- "$tmp/config.yml" "$copy/resolved.yml"
}
for m in "${mutations[@]}"; do
    IFS='|' read -r key file expr <<<"$m"
    copy_tree
    if [[ $file == resolved ]]; then
        target=$copy/resolved.yml original=$tmp/config.yml file="resolved compose file"
    else
        target=$copy/$file original=$repo/$file
    fi
    sed -i -e "$expr" "$target"
    if cmp -s "$original" "$target"; then
        not_ok "the change of $file for $key changed nothing (\"$expr\")"
        continue
    fi
    resolved=$copy/resolved.yml
    [[ $file != docker-compose.yml ]] || resolved=
    if ! compare "$copy" "$tmp/mutated" ${resolved:+"$resolved"}; then
        not_ok "the change of $file for $key: docker-compose config rejects the copy"
        continue
    fi
    if awk -F'|' -v k="$key" '$1 == k && $3 != $4 { found = 1 } END { exit !found }' "$tmp/mutated"; then
        ok "a changed $file is caught by \"$key\""
    else
        not_ok "a changed $file (\"$expr\") is not caught by \"$key\""
    fi
done

# 3. The compose file follows .env, not a copy of today's values: with other
#    ports and partitions in .env, both sides move together (a port or the
#    partition count written into docker-compose.yml would stay behind).
copy_tree
shifted=(TOPIC_PARTITIONS=5 KAFKA_BOOTSTRAP_SERVERS=localhost:9192 KAFKA_PORT=9192
    KAFKA_UI_PORT=8180 SPARK_MASTER_PORT=7177 SPARK_UI_PORT=8182 PGPORT=5533 POSTGRES_PORT=5533)
for kv in "${shifted[@]}"; do
    sed -i "s#^${kv%%=*}=.*#$kv#" "$copy/.env"
done
if ! compare "$copy" "$tmp/shifted"; then
    not_ok "docker-compose config rejects docker-compose.yml with a changed .env"
else
    mismatches=$(awk -F'|' '$3 != $4 { printf "%s%s (compose %s, local %s)", sep, $1, $3, $4; sep = "; " }' "$tmp/shifted")
    moved=$(awk -F'|' '$1 == "kafka_partitions" || $1 == "kafka_external" || $1 == "ui_published" ||
        $1 == "spark_master_published" || $1 == "spark_ui_published" || $1 == "pg_published" { print $4 }' "$tmp/shifted" |
        paste -sd ' ' -)
    check "the local values follow the changed .env" "localhost:9192 5 8180 7177 8182 5533" "$moved"
    check "docker-compose.yml follows the changed .env" "" "$mismatches"
fi

finish
