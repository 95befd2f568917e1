#!/usr/bin/env bash
# tests/integration/test_stream_flags.sh - ecom-stream's command line without
# any service: --help and --version, and bad flags exit 2 with an empty
# stdout and a specific message.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
stream=$bin/ecom-stream

expect_status "--help exits 0" 0 "$stream" --help
for section in "Usage:" "Kafka options:" "PostgreSQL options:" "Batching:" "Operation:" "Environment:"; do
    grep -q "$section" "$tmp/out" && ok "--help has $section" || not_ok "--help lacks $section"
done
expect_status "--version exits 0" 0 "$stream" --version
grep -Eq '^ecom-stream [0-9]+\.[0-9]+\.[0-9]+ \(librdkafka [0-9.]+, libpq [0-9]+\)$' "$tmp/out" \
    && ok "--version line" || not_ok "--version line: $(cat "$tmp/out")"

check_bad_flags "$stream" <<'CASES'
--bogus|invalid option "--bogus"
-z|invalid option "-z"
--flush-rows 0|invalid value "0" for option --flush-rows
--flush-ms abc|invalid value "abc" for option --flush-ms
-p 70000|invalid value "70000" for option -p/--metrics-port
--synchronous-commit maybe|invalid value "maybe" for option --synchronous-commit
--exit-when-idle -1|invalid value "-1" for option --exit-when-idle
-X nonsense|invalid value "nonsense" for option -X
-g|option -g requires a value
extra|unexpected argument "extra"
CASES

expect_status "STREAM_METRICS_PORT is validated" 2 env STREAM_METRICS_PORT=http "$stream"
expect_status "bad librdkafka property exits 1" 1 "$stream" -X no.such.property=1 -p 0
grep -q 'no.such.property' "$tmp/err" && ok "bad -X property named" || not_ok "bad -X property named"
finish
