#!/bin/bash
# The one TAP summary of every test runner and of make check's stage table.
#
#   COMMAND | tests/lib/tap.sh [--quiet] [--no-status] [--summary FILE]
#   . tests/lib/tap.sh; COMMAND | tap_summary [the same options]
#
# Passes the stream through and ends it with the closing line
# "N passed, N failed, N skipped", preceded by "# N todo ..." when there
# are known failures.  Exits 1 when a result failed.  --quiet prints only
# the closing line; --no-status always exits 0, for a runner whose verdict
# is not the plain count (tests/upstream/run.sh fails on regressions);
# --summary also writes the counts to FILE as "passed=N failed=N skipped=N
# todo=N".
#
# A result is a line "ok ..." or "not ok ...", also after a "[NAME] "
# prefix (tests/kernel/run.sh names its boots that way).  An "ok" with a
# "# SKIP" directive is skipped; a "not ok" with "# TODO" is a known
# failure that does not fail the run, as TAP defines it; every other
# "not ok" is a failure.  Plan lines (1..N) pass through unchecked.

tap_summary() {
	local quiet=0 status=1 summary=
	while [ $# -gt 0 ]; do
		case $1 in
		--quiet) quiet=1; shift ;;
		--no-status) status=0; shift ;;
		--summary) summary=${2:?}; shift 2 ;;
		*) echo "tap_summary: unknown argument '$1'" >&2; return 2 ;;
		esac
	done
	awk -v quiet="$quiet" -v status="$status" -v summary="$summary" '
	!quiet { print; fflush() }
	{ line = $0; sub(/^\[[^]]*\] /, "", line) }
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
		if (todo)
			printf "# %d todo (not ok # TODO: known, not counted as failures)\n", todo
		printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped
		if (summary != "")
			printf "passed=%d failed=%d skipped=%d todo=%d\n", passed, failed,
				skipped, todo >summary
		exit status && failed > 0
	}'
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	tap_summary "$@"
fi
