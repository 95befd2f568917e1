#!/usr/bin/env bash
# scripts/test.sh - the whole test suite from a fresh Debian machine:
# installs what is missing (Debian packages; Kafka's jars and pyspark
# into their caches), builds twice (normal, and with ASan+UBSan),
# runs every test of the normal build (unit, valgrind, integration against
# the dev broker and a throwaway PostgreSQL), then the unit and integration
# tests again on the sanitizer build, except the valgrind tests and the slow
# end-to-end scenarios (label "e2e", tests/CMakeLists.txt). Exits non-zero
# if anything failed.
#
# Usage: scripts/test.sh [CTEST_ARGS...]   e.g. scripts/test.sh -L unit
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

scripts/deps.sh
# The real engines' artifacts (Maven Central, PyPI) before the tests that use
# them run side by side; cached after the first run.
scripts/kafka-local.sh install
scripts/spark-local.sh install
scripts/build.sh build
scripts/build.sh build-asan -DECOM_SANITIZE=ON

rc=0
echo "== tests (build/)"
(cd build && ctest --output-on-failure -j 2 "$@") || rc=1
echo "== tests under ASan+UBSan (build-asan/)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j 2 -LE 'valgrind|e2e' "$@") || rc=1
exit $rc
