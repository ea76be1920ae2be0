#!/bin/bash
# One stage of make check:
#
#   tests/lib/stage.sh NAME COMMAND [ARG...]
#
# Runs COMMAND with its output shown and kept in build/check/NAME.log, says
# every 30 s how many results the stage has so far and for how long it has
# run, and at its end writes build/check/NAME.tap-summary: its results as
# counted by tests/lib/tap.sh, its duration in seconds and COMMAND's exit
# status, which tests/lib/check-table.sh prints.  Exits with that status.
set -uo pipefail

name=${1:?usage: tests/lib/stage.sh NAME COMMAND [ARG...]}
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/scripts/progress.sh"
dir=$top/build/check
log=$dir/$name.log
summary=$dir/$name.tap-summary

mkdir -p "$dir"
rm -f "$summary"
: >"$log"
so_far() { tap_summary --quiet --no-status <"$log" | tail -n 1; }

echo "== stage $name: $*"
start=$(date +%s)
progress_start "stage $name" so_far
"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
progress_stop
seconds=$(($(date +%s) - start))
counts=$(tap_summary --quiet --no-status --summary "$summary" <"$log" | tail -n 1)
echo "seconds=$seconds status=$status" >>"$summary"
echo "== stage $name: $counts, $(elapsed "$seconds"), $([ "$status" -eq 0 ] && echo ok || echo "FAILED (exit status $status)")"
exit "$status"
