#!/bin/bash
# One stage of make check:
#
#   tests/lib/stage.sh NAME COMMAND [ARG...]
#
# Runs COMMAND with its output shown and kept in build/check/NAME.log, says
# every 30 s how many results the stage has so far and for how long it has
# run, and at its end writes build/check/NAME.tap-summary: its results as
# counted by tests/lib/tap.sh, its duration in seconds and its exit status,
# which tests/lib/check-table.sh prints.  Exits with that status.
#
# The stage fails when COMMAND fails, and also when its output fails
# tests/lib/tap.sh: a "not ok" that is no TODO, a plan that does not count
# its results, a result no plan covers, a summary or verdict that says
# something failed.  A runner that exits 0 on such a stream is wrong, and
# the stage does not take its word for it.  Every stage's producers print
# plans.
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
tap=$(tap_summary --quiet --plan --summary "$summary" <"$log")
tap_status=$?
counts=$(tail -n 1 <<<"$tap")
if [ "$tap_status" -ne 0 ]; then
	{
		echo "== stage $name: its TAP output fails tests/lib/tap.sh:"
		grep '^# tap: ' <<<"$tap"
		echo "$counts"
		[ "$status" -eq 0 ] && echo "== stage $name: its command exited 0 all the same"
	} | tee -a "$log"
	[ "$status" -eq 0 ] && status=1
fi
echo "seconds=$seconds status=$status" >>"$summary"
echo "== stage $name: $counts, $(elapsed "$seconds"), $([ "$status" -eq 0 ] && echo ok || echo "FAILED (exit status $status)")"
exit "$status"
