#!/bin/bash
# The closing table of make check: one row per stage named on the command
# line, in that order, from the build/check/STAGE.tap-summary files that
# tests/lib/stage.sh wrote; a stage without one did not run.  It ends with
# the plain "N passed, N failed, N skipped" over every stage, in which a
# stage that failed without a failed result counts as one failure.
#
#   tests/lib/check-table.sh STAGE...
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/progress.sh"

cols='%-10s %7s %7s %8s %5s %9s'
fmt="$cols  %s\n"
echo
echo "== make check"
printf "$fmt" stage passed failed skipped todo time result
all_passed=0 all_failed=0 all_skipped=0 all_todo=0 all_seconds=0 stage_failures=0
failed_logs=()
for stage; do
	f=$top/build/check/$stage.tap-summary
	if [ ! -r "$f" ]; then
		printf "$fmt" "$stage" - - - - - "not run"
		continue
	fi
	passed=0 failed=0 skipped=0 todo=0 seconds=0 status=0
	# The file is "key=N" words, written by tests/lib/stage.sh only.
	for kv in $(cat "$f"); do
		case ${kv%%=*} in
		passed|failed|skipped|todo|seconds|status) declare "$kv" ;;
		esac
	done
	result=ok
	if [ "$status" -ne 0 ]; then
		result="FAILED (exit status $status)"
		failed_logs+=("build/check/$stage.log")
		# A stage that failed without a failed result (a build, a
		# missing plan) still counts once in the closing line.
		[ "$failed" -eq 0 ] && stage_failures=$((stage_failures + 1))
	fi
	printf "$fmt" "$stage" "$passed" "$failed" "$skipped" "$todo" "$(elapsed "$seconds")" "$result"
	all_passed=$((all_passed + passed)) all_failed=$((all_failed + failed))
	all_skipped=$((all_skipped + skipped)) all_todo=$((all_todo + todo))
	all_seconds=$((all_seconds + seconds))
done
printf "$cols\n" total "$all_passed" "$all_failed" "$all_skipped" "$all_todo" "$(elapsed "$all_seconds")"
for log in "${failed_logs[@]}"; do
	echo "the output of the failed stage: $log"
done
# The plain closing line that CI and people read last.
echo "$all_passed passed, $((all_failed + stage_failures)) failed, $all_skipped skipped"
