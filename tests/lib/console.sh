#!/bin/bash
# The one console checker of every test and benchmark guest.  A kernel in
# trouble says so on its console (an oops, a BUG or WARNING, a panic, a
# KASAN report, a general protection fault, the call trace of any of
# them), and a run whose console shows such a line fails.
#
#   tests/lib/console.sh LOG...   prints every such line of the LOGs and
#                                 exits 1 when there is one
#   . tests/lib/console.sh        in a runner: console_check LOG..., the
#                                 same as a function, and $console_trouble,
#                                 the extended regular expression itself
#                                 for a parser that reads the console as
#                                 it streams (tests/e2e/render.sh)
#
# The patterns match anywhere in a line: a kernel message can land in the
# middle of a line a test program was writing.
console_trouble='(BUG:|WARNING:|Oops|Kernel panic|KASAN|general protection fault|Call Trace:)'

# console_check LOG...: prints each trouble line, carriage return dropped;
# fails when there is one.
console_check() {
	awk -v trouble="$console_trouble" '
	{ sub(/\r$/, "") }
	$0 ~ trouble { print; found = 1 }
	END { exit found }' "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	[ $# -gt 0 ] || { echo "usage: tests/lib/console.sh LOG..." >&2; exit 2; }
	console_check "$@"
fi
