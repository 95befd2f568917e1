#!/usr/bin/env bash
# scripts/fuzz.sh - fuzzes message validation and row building
# (stream/tests/fuzz_rows.c) with libFuzzer for SECONDS (default: 300).
# Configures build-fuzz/ with clang and -DECOM_FUZZ=ON and builds only the
# fuzz target (from its sources, so a broken file elsewhere does not stop
# it). Starts from the committed corpus stream/tests/fuzz-corpus/ and writes
# new inputs to build-fuzz/fuzz-new/, never into the committed corpus.
# Prints libFuzzer's final stats on stdout, everything else on stderr.
# Exit status: 0 no crash; 1 a crash or broken invariant, its input left in
# build-fuzz/fuzz-crashes/ (after the fix, copy it to
# stream/tests/fuzz-corpus/regressions/ under a name saying what it caught);
# 2 usage. Needs clang and libclang-rt-14-dev (scripts/deps.sh).
#
# Usage: scripts/fuzz.sh [SECONDS]
# Environment: FUZZ_JOBS parallel fuzzing processes (default: 1),
# FUZZ_BUILD_DIR build directory (default: build-fuzz).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-300}
jobs=${FUZZ_JOBS:-1}
dir=${FUZZ_BUILD_DIR:-$repo/build-fuzz}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
fi
if [[ $# -gt 1 || ! $seconds =~ ^[1-9][0-9]*$ || ! $jobs =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS] (SECONDS and FUZZ_JOBS: positive integers)" >&2
    exit 2
fi
command -v clang >/dev/null || { echo "fuzz: clang not found; run scripts/deps.sh" >&2; exit 1; }

CC=clang cmake -S "$repo" -B "$dir" -DECOM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" --target stream_fuzz_rows -j "$(nproc)" >&2

fuzzer=$dir/stream/tests/fuzz_rows
corpus=$repo/stream/tests/fuzz-corpus
new=$dir/fuzz-new
crashes=$dir/fuzz-crashes
log=$dir/fuzz.log
mkdir -p "$new" "$crashes"
touch "$dir/fuzz.start"
args=(-max_len=8192 -max_total_time="$seconds" -timeout=10 -print_final_stats=1
    -dict="$repo/stream/tests/fuzz_rows.dict" -artifact_prefix="$crashes/")
if ((jobs > 1)); then
    # Each job logs to fuzz-N.log in the current directory; libFuzzer copies
    # each log to its own stderr when the job ends.
    args+=(-jobs="$jobs" -workers="$jobs")
    cd "$dir"
fi

echo "fuzz: $fuzzer for $seconds s, $jobs job(s), corpus $corpus, new inputs in $new" >&2
status=0
"$fuzzer" "${args[@]}" "$new" "$corpus" 2>"$log" || status=$?

# Final stats on stdout: corpus sizes, the first and last status lines
# (coverage, features, corpus, exec/s) and libFuzzer's stat:: lines.
grep -a -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|^INFO: .*(seed corpus|files found)' "$log" || tail -n 5 "$log"
found=$(find "$crashes" -type f -newer "$dir/fuzz.start")
if ((status != 0)) || [[ -n $found ]]; then
    grep -a -E 'invariant broken|ERROR: (AddressSanitizer|libFuzzer)|runtime error|SUMMARY' "$log" >&2 || true
    echo "fuzz: crash found (exit $status); input(s) in $crashes:" >&2
    ls -l "$crashes" >&2
    echo "fuzz: reproduce with $fuzzer FILE (shrink: -minimize_crash=1 -runs=100000 FILE), or build/stream/tests/fuzz_replay FILE" >&2
    exit 1
fi
echo "fuzz: no crash in $seconds s; full log in $log" >&2
