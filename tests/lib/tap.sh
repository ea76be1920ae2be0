#!/bin/bash
# The one TAP summary of every test runner and of make check's stage table.
#
#   COMMAND | tests/lib/tap.sh [--quiet] [--no-status] [--plan] [--summary FILE]
#   . tests/lib/tap.sh; COMMAND | tap_summary [the same options]
#
# Passes the stream through and ends it with the closing line
# "N passed, N failed, N skipped", preceded by "# N todo ..." when there
# are known failures and by a "# tap: ..." line for each thing wrong with
# the stream as a whole.  Exits 1 when the stream failed.  --quiet prints
# only the closing line; --no-status always exits 0, for a runner whose
# verdict is not the plain count (tests/upstream/run.sh fails on
# regressions); --plan fails a result that no plan covers, for a stream
# whose producers all print one; --summary also writes the counts to FILE
# as "passed=N failed=N skipped=N todo=N".
#
# A result is a line "ok ..." or "not ok ...", also after a "[NAME] "
# prefix (tests/kernel/run.sh names its boots that way).  An "ok" with a
# "# SKIP" directive is skipped; a "not ok" with "# TODO" is a known
# failure that does not fail the run, as TAP defines it; every other
# "not ok" is a failure, and so is a "Bail out!" line.
#
# A stream may hold several TAP streams one after another (make -C daemon
# check runs one CMocka program after the other, each printing its plan
# first; bench/sim.sh --check prints its plan last).  A plan line 1..N
# that follows results not yet covered by a plan is their trailing plan;
# otherwise it is the leading plan of the results that follow, up to the
# next plan line or the end.  Either way the plan must count exactly as
# many results as it covers: fewer means a producer stopped early, more
# that something printed results it did not plan.
#
# A summary line that says something failed fails the stream as well, even
# when the results it counts are not in it: a runner's closing line
# "N passed, M failed..." (also as a "# " comment, as
# tests/daemon/integration.sh prints it) with M > 0, or a verdict line
# ("# verdict FAILED...", tests/e2e/run.sh), and so does a "# tap: ..."
# line, which an inner tap_summary printed about its own stream (make
# check counts the output of runners that count their own).

tap_summary() {
	local quiet=0 status=1 plan=0 summary=
	while [ $# -gt 0 ]; do
		case $1 in
		--quiet) quiet=1; shift ;;
		--no-status) status=0; shift ;;
		--plan) plan=1; shift ;;
		--summary) summary=${2:?}; shift 2 ;;
		*) echo "tap_summary: unknown argument '$1'" >&2; return 2 ;;
		esac
	done
	awk -v quiet="$quiet" -v status="$status" -v need_plan="$plan" -v summary="$summary" '
	function wrong(what) { problems[++nproblems] = what }
	# close_leading: the results after a leading plan end here.
	function close_leading() {
		if (leading != "" && covered != leading)
			wrong(sprintf("plan 1..%d before line %d, but %d results followed it",
				leading, leading_line, covered))
		leading = ""
		covered = 0
	}
	!quiet { print; fflush() }
	{ line = $0; sub(/\r$/, "", line); sub(/^\[[^]]*\] /, "", line) }
	line ~ /^1\.\.[0-9]+([ \t]|$)/ {
		n = line; sub(/^1\.\./, "", n); sub(/[ \t].*/, "", n)
		if (pending > 0) {
			# A trailing plan: the results since the last plan.
			if (pending != n + 0)
				wrong(sprintf("plan 1..%d at line %d, but %d results came before it",
					n, NR, pending))
			pending = 0
			close_leading()
		} else {
			close_leading()
			leading = n + 0
			leading_line = NR
		}
		plans++
		next
	}
	line ~ /^Bail out!/ { wrong("line " NR ": " line); next }
	line ~ /^(# )?[0-9]+ passed, [0-9]+ failed/ {
		m = line; sub(/^(# )?[0-9]+ passed, /, "", m); sub(/ failed.*/, "", m)
		if (m + 0 > 0)
			wrong("line " NR " says " m " failed: " line)
		next
	}
	line ~ /^#[ \t]*verdict:?[ \t]+FAIL/ { wrong("line " NR ": " line); next }
	# What an inner tap_summary found wrong with its stream.
	line ~ /^# tap: / { wrong("line " NR ": " substr(line, 8)); next }
	line ~ /^(not )?ok([ \t]|$)/ {
		if (leading != "" && covered < leading)
			covered++
		else
			pending++
	}
	line ~ /^not ok([ \t]|$)/ {
		if (line ~ /#[ \t]*[Tt][Oo][Dd][Oo]/)
			todo++
		else
			failed++
		next
	}
	line ~ /^ok([ \t]|$)/ {
		if (line ~ /#[ \t]*[Ss][Kk][Ii][Pp]/)
			skipped++
		else
			passed++
	}
	END {
		close_leading()
		if (pending > 0 && need_plan)
			wrong(sprintf("%d results without a plan%s", pending,
				plans ? " after the last plan" : ""))
		for (i = 1; i <= nproblems; i++)
			printf "# tap: %s\n", problems[i]
		if (todo)
			printf "# %d todo (not ok # TODO: known, not counted as failures)\n", todo
		printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped
		if (summary != "")
			printf "passed=%d failed=%d skipped=%d todo=%d\n", passed, failed,
				skipped, todo >summary
		exit status && (failed > 0 || nproblems > 0)
	}'
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	tap_summary "$@"
fi
