#!/usr/bin/env bash
# scripts/test.sh - the whole test suite from a fresh Debian machine:
# installs what is missing (Debian packages; Kafka's jars and pyspark
# into their caches), builds twice (normal, and with ASan+UBSan),
# runs every test of the normal build (unit, valgrind, integration against
# the dev broker and a throwaway PostgreSQL) and, at the same time, one at a
# time, the unit and integration tests again on the sanitizer build, except
# the valgrind tests and the slow end-to-end scenarios (label "e2e",
# tests/CMakeLists.txt). Exits non-zero if anything failed.
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
scripts/web-vendor.sh
scripts/build.sh build
scripts/build.sh build-asan -DECOM_SANITIZE=ON

# The sanitizer pass runs beside the normal one, one test at a time: its
# tests are short and mostly wait (rates, timeouts), so they fill the gaps
# the normal pass's two slots leave instead of adding their 2 to 3 minutes
# after it. Its output is shown once both are done.
rc=0 asan_rc=0
echo "== tests (build/), and under ASan+UBSan (build-asan/) beside them"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j 1 -LE 'valgrind|e2e' "$@" >ctest-asan.out 2>&1) &
asan_pid=$!
trap 'kill "$asan_pid" 2>/dev/null || true' EXIT
(cd build && ctest --output-on-failure -j 2 "$@") || rc=1
wait "$asan_pid" || asan_rc=$?
trap - EXIT
echo "== tests under ASan+UBSan (build-asan/)"
cat build-asan/ctest-asan.out
((asan_rc == 0)) || rc=1
exit $rc
