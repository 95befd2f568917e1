#!/usr/bin/env bash
# tests/integration/test_compose.sh - checks docker-compose.yml and .env
# without a Docker engine: the file must pass "docker-compose config", publish
# the documented host ports, define every documented service with a
# healthcheck (except the one-shot kafka-init), mention ZooKeeper nowhere
# (Kafka runs in KRaft mode), and every variable in .env (and every ${VAR}
# the compose file uses) must be set and non-empty. That its Kafka and Spark
# match the local scripts is test_compose_local.sh's part.
#
# Reads the resolved "docker-compose config" output with python3-yaml
# (/usr/bin/python3); ECOM_TEST_NO_YAML=1 reads it with awk and grep instead.
# scripts/deps.sh installs docker-compose and python3-yaml: a missing one is a
# failure, not a skip.
#
# Usage: tests/integration/test_compose.sh [BIN_DIR] (the repo: $ECOM_REPO or ../..)
# Exit status 0 when every check passed, 1 otherwise.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
lib_init "$@"
compose_file=$repo/docker-compose.yml
env_file=$repo/.env
services=(kafka kafka-ui spark-master spark-worker postgres simulator scheduler)
one_shot=(kafka-init)
# Kafka, Kafka UI, Spark master RPC and UI, PostgreSQL (README's port table).
host_ports=(9092 8080 7077 8082 5433)

if ! command -v docker-compose >/dev/null; then
    not_ok "docker-compose is installed (scripts/deps.sh installs it)"
    finish
fi
for f in "$compose_file" "$env_file"; do
    if [[ ! -f $f ]]; then
        not_ok "\"$f\" exists"
        finish
    fi
done

# 1. The file is valid and every variable it uses resolves.
if docker-compose -f "$compose_file" --project-directory "$repo" config \
    >"$tmp/config.yml" 2>"$tmp/config.err"; then
    ok "docker-compose config accepts docker-compose.yml"
else
    not_ok "docker-compose config rejects docker-compose.yml:"
    sed 's/^/    /' "$tmp/config.err"
    finish
fi
if grep -q 'variable is not set' "$tmp/config.err"; then
    not_ok "docker-compose config warns about unset variables:"
    sed 's/^/    /' "$tmp/config.err"
else
    ok "docker-compose config resolves every variable"
fi

# KRaft: no ZooKeeper service, image, setting or variable is left.
if grep -qi zookeeper "$tmp/config.yml" "$env_file"; then
    not_ok "ZooKeeper is still mentioned: $(grep -hi zookeeper "$tmp/config.yml" "$env_file" | head -n 3 | paste -sd ' ' -)"
else
    ok "no ZooKeeper in the resolved compose file or .env (KRaft)"
fi

# 2. Facts from the resolved config, one per line:
#    service NAME / port NAME PUBLISHED / health NAME
facts_yaml() {
    /usr/bin/python3 - "$tmp/config.yml" <<'PY'
import sys
import yaml

with open(sys.argv[1]) as f:
    config = yaml.safe_load(f)
for name, svc in (config.get("services") or {}).items():
    print("service", name)
    for port in svc.get("ports") or []:
        if isinstance(port, dict):
            published = port.get("published")
        else:
            # Short syntax: [IP:]HOST:CONTAINER[/PROTO]
            parts = str(port).split("/")[0].split(":")
            published = parts[-2] if len(parts) >= 2 else None
        if published is not None:
            print("port", name, published)
    hc = svc.get("healthcheck") or {}
    test = hc.get("test")
    if test and not hc.get("disable") and test not in (["NONE"], "NONE"):
        print("health", name)
PY
}

facts_grep() {
    awk '
        /^services:/ { in_services = 1; next }
        /^[^ ]/ { in_services = 0 }
        !in_services { next }
        /^  [A-Za-z0-9_.-]+:$/ { name = $1; sub(/:$/, "", name); print "service", name; next }
        /^    healthcheck:/ { print "health", name; next }
        /^    - published:/ { print "port", name, $3; next }
        /^    - .*:[0-9]+/ { p = $2; gsub(/"|'\''/, "", p); n = split(p, a, ":"); if (n >= 2) print "port", name, a[n - 1] }
    ' "$tmp/config.yml"
}

if [[ -n ${ECOM_TEST_NO_YAML:-} ]]; then
    echo "# ECOM_TEST_NO_YAML set, reading the config with awk"
    facts_grep >"$tmp/facts"
elif /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    echo "# reading the config with python3-yaml"
    facts_yaml >"$tmp/facts"
else
    not_ok "/usr/bin/python3 has python3-yaml (scripts/deps.sh installs it); reading the config with awk"
    facts_grep >"$tmp/facts"
fi
tr -d "'\"" <"$tmp/facts" >"$tmp/facts.clean"

for svc in "${services[@]}" "${one_shot[@]}"; do
    if grep -qx "service $svc" "$tmp/facts.clean"; then
        ok "service $svc is defined"
    else
        not_ok "service $svc is missing"
    fi
done

for port in "${host_ports[@]}"; do
    if grep -qE "^port [^ ]+ $port\$" "$tmp/facts.clean"; then
        ok "host port $port is published ($(awk -v p="$port" '$1 == "port" && $3 == p { print $2 }' "$tmp/facts.clean" | paste -sd, -))"
    else
        not_ok "host port $port is not published by any service"
    fi
done

while read -r _ svc; do
    [[ " ${one_shot[*]} " == *" $svc "* ]] && continue
    if grep -qx "health $svc" "$tmp/facts.clean"; then
        ok "service $svc has a healthcheck"
    else
        not_ok "service $svc has no healthcheck"
    fi
done < <(grep '^service ' "$tmp/facts.clean")

# 3. Every variable in .env is non-empty (same rules as common/config.c:
#    comments and blank lines skipped, "export " and quotes accepted).
declare -A env_vars=()
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    line=${line#"${line%%[![:space:]]*}"}
    [[ -z $line || $line == '#'* ]] && continue
    line=${line#export }
    if [[ ! $line =~ ^([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
        not_ok ".env:$lineno is not KEY=VALUE: \"$line\""
        continue
    fi
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    value=${value%"${value##*[![:space:]]}"}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
        value=${BASH_REMATCH[1]}
    else
        value=${value%%[[:space:]]#*}
    fi
    env_vars[$key]=$value
    if [[ -n $value ]]; then
        ok ".env sets $key"
    else
        not_ok ".env leaves $key empty"
    fi
done <"$env_file"
if ((${#env_vars[@]} == 0)); then
    not_ok ".env defines no variables"
fi

# 4. Every ${VAR} the compose file interpolates is one of them ($$ escapes
#    are the container shell's, not compose's).
while read -r var; do
    if [[ -n ${env_vars[$var]:-} ]]; then
        ok "docker-compose.yml variable $var is set in .env"
    else
        not_ok "docker-compose.yml uses \${$var} but .env does not set it"
    fi
done < <(sed 's/\$\$//g' "$compose_file" | grep -oE '\$\{?[A-Za-z_][A-Za-z0-9_]*' |
    sed 's/^\${\{0,1\}//' | sort -u)

finish
