#!/usr/bin/env bash
# tests/integration/test_simulator_flags.sh - ecom-simulator's command line
# without any service: --help and --version, bad flags exit 2 with an empty
# stdout and a specific message, --dump-catalog.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
sim=$bin/ecom-simulator

expect_status "--help exits 0" 0 "$sim" --help
grep -q '^Usage:' "$tmp/out" && ok "--help has Usage" || not_ok "--help has Usage"
for section in "Kafka options:" "Rates:" "Fault injection" "Environment:"; do
    grep -q "$section" "$tmp/out" && ok "--help has $section" || not_ok "--help lacks $section"
done
expect_status "--version exits 0" 0 "$sim" --version
grep -Eq '^ecom-simulator [0-9]+\.[0-9]+\.[0-9]+ \(librdkafka [0-9.]+\)$' "$tmp/out" \
    && ok "--version line" || not_ok "--version line: $(cat "$tmp/out")"

# bad flag cases: args | expected stderr pattern
check_bad_flags "$sim" <<'CASES'
--bogus|invalid option "--bogus"
-u abc|invalid value "abc" for option -u/--user-rate
-u -5|invalid value "-5" for option -u/--user-rate
-t 1e99|invalid value "1e99" for option -t/--transaction-rate
-n 12x|invalid value "12x" for option -n/--max-events
--duplicate 1.5|invalid value "1.5" for option --duplicate
-X nonsense|invalid value "nonsense" for option -X
-d|option -d requires a value
extra|unexpected argument "extra"
-u 0 -t 0 -i 0|every rate is 0
--malformed 0.6 --missing-field 0.6|must not exceed 1
CASES

expect_status "bad librdkafka property exits 1" 1 "$sim" -X no.such.property=1 -n 1
grep -q 'no.such.property' "$tmp/err" && ok "bad -X property named" || not_ok "bad -X property named"

expect_status "--dump-catalog exits 0" 0 "$sim" --dump-catalog
check "--dump-catalog lists 10 products" 10 "$(grep -c '^P0[0-9]*,"' "$tmp/out")"
check "--dump-catalog lists 1000 users" 1000 "$(grep -c '^U[0-9]' "$tmp/out")"

expect_status "SIMULATOR_USER_RATE is validated" 2 env SIMULATOR_USER_RATE=fast "$sim" -n 1
finish
