#!/usr/bin/env bash
# scripts/deps.sh - installs, with apt-get, the Debian packages the project
# needs; does nothing for packages already installed. Uses sudo when not root.
#
# Usage: scripts/deps.sh [--build-only | --run]
#   --build-only  what scripts/build.sh needs to build every target
#   --run         that, plus what running the daemons and the README's
#                 commands need (PostgreSQL 15, psql, kcat, curl, and Java 17,
#                 Maven and python3-venv for the real Kafka and Spark):
#                 scripts/demo.sh and "Running one daemon by hand"
#   (default)     everything: that, plus what scripts/test.sh, the
#                 integration tests, scripts/fuzz.sh and bench/ run
set -euo pipefail

# scripts/build.sh: the compiler, CMake and the libraries' headers (cmocka
# too: the unit tests are targets of every build; libcurl: ecom-metrics).
build=(gcc make cmake pkg-config librdkafka-dev libpq-dev libjansson-dev
    uuid-dev libmicrohttpd-dev libcmocka-dev libdeflate-dev zlib1g-dev libcurl4-openssl-dev)
# The daemons and the commands around them: scripts/devstack.sh and
# pg-local.sh (PostgreSQL 15, psql), kcat, curl for /metrics and /health;
# Prometheus Alertmanager (ecom-alerts delivers to it);
# kafka-local.sh and spark-local.sh (Java 17 runs Kafka and Spark, Maven
# fetches their jars, python3-venv holds pyspark). Those scripts install a
# missing one of these themselves too, so they also work without deps.sh.
run=(postgresql-15 postgresql-client-15 kcat curl openjdk-17-jre-headless maven python3-venv
    prometheus-alertmanager)
# Tests and tools: valgrind tests; headless Chromium and python3-websocket
# (the dashboard test, tests/integration/browser.py); Prometheus (bench/metrics.sh);
# /usr/bin/python3 with kafka-python, PyYAML and snappy (test_broker.sh,
# test_compose.sh, lib.sh, bench/); docker-compose config (test_compose.sh);
# GNU time and procps (bench/); ip and nft for the network-fault tests;
# confluent-kafka's transactional producer (test_stream_faults.sh);
# clang and its libFuzzer runtime (scripts/fuzz.sh).
test=(valgrind chromium python3-websocket prometheus python3 python3-kafka python3-yaml python3-snappy python3-confluent-kafka
    docker-compose time procps iproute2 nftables clang libclang-rt-14-dev)

case ${1:-} in
--build-only) wanted=("${build[@]}") ;;
--run) wanted=("${build[@]}" "${run[@]}") ;;
"") wanted=("${build[@]}" "${run[@]}" "${test[@]}") ;;
*)
    echo "usage: scripts/deps.sh [--build-only | --run]" >&2
    exit 2
    ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != *'install ok installed'* ]]; then
        missing+=("$pkg")
    fi
done
((${#missing[@]} == 0)) && exit 0

sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "deps: installing ${missing[*]}" >&2
# Wait for a dpkg lock held by another apt (unattended-upgrades on a new
# machine) instead of failing at once.
apt=(apt-get -o DPkg::Lock::Timeout=300)
"${sudo[@]}" "${apt[@]}" update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >&2
