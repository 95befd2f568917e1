#!/usr/bin/env bash
# scripts/deps.sh - installs, with apt-get, the Debian packages the project
# needs to build, run its demo and run its tests; does nothing for packages
# already installed. Uses sudo when not root.
#
# Usage: scripts/deps.sh [--build-only]
set -euo pipefail

build=(gcc make cmake pkg-config librdkafka-dev libpq-dev libjansson-dev
    uuid-dev libcurl4-openssl-dev libmicrohttpd-dev libcmocka-dev)
run=(postgresql-15 postgresql-client-15 kcat)
test=(valgrind python3 python3-kafka python3-confluent-kafka python3-yaml
    docker-compose time python3-snappy clang libclang-rt-14-dev procps)

case ${1:-} in
--build-only) wanted=("${build[@]}") ;;
"") wanted=("${build[@]}" "${run[@]}" "${test[@]}") ;;
*)
    echo "usage: scripts/deps.sh [--build-only]" >&2
    exit 2
    ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
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
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
