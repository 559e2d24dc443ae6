#!/usr/bin/env bash
# `bun run test:stress [runs]`: the suite's own stress check. Runs the README's `bun test` `runs`
# times in a row (default 3) while a busy loop keeps one core busy, as on a loaded CI machine or
# next to another engineer's build. Prints each run's wall time and pass/fail/skip counts; exits
# non-zero if any run failed. Every process it starts is bounded in time and stopped at the end.
#   STRESS_RUN_TIMEOUT  seconds one run may take before it counts as failed (default 900)
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-${STRESS_RUNS:-3}}"
run_timeout="${STRESS_RUN_TIMEOUT:-900}"
logs=$(mktemp -d "${TMPDIR:-/tmp}/sensorflow-stress-XXXXXX")

# The busy core: a shell loop, pinned to the last CPU where taskset exists, and never outliving the
# longest the runs may take.
busy_for=$((runs * run_timeout + 60))
cpu=$(($(nproc) - 1))
if command -v taskset >/dev/null; then
  timeout "$busy_for" taskset -c "$cpu" sh -c 'while :; do :; done' &
  where="pinned to CPU $cpu"
else
  timeout "$busy_for" sh -c 'while :; do :; done' &
  where="not pinned (no taskset)"
fi
busy=$!
trap 'kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null' EXIT
echo "busy loop: pid $busy, $where, at most ${busy_for} s; logs in $logs"

count() { grep -Eo "^ *[0-9]+ $1\$" "$2" | tail -1 | grep -Eo '[0-9]+' || echo 0; }
failures=0
summary=()
for i in $(seq 1 "$runs"); do
  log="$logs/run-$i.log"
  started=$(date +%s)
  timeout --kill-after=30 "$run_timeout" bun test >"$log" 2>&1
  status=$?
  seconds=$(($(date +%s) - started))
  line="run $i: ${seconds} s, $(count pass "$log") passed, $(count fail "$log") failed, $(count skip "$log") skipped (exit $status)"
  [ "$status" = 124 ] && line="$line, stopped after ${run_timeout} s"
  echo "$line"
  summary+=("$line")
  if [ "$status" != 0 ]; then
    failures=$((failures + 1))
    grep -E '^\(fail\)' "$log" | sed 's/^/    /'
  fi
done

echo
echo "busy core: $where"
printf '%s\n' "${summary[@]}"
if [ "$failures" -gt 0 ]; then
  echo "$failures of $runs runs failed (logs in $logs)"
  exit 1
fi
echo "all $runs runs passed"
