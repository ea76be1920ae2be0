#!/bin/bash
# The parser of the end-to-end scenario's output (tests/e2e/run.sh):
#
#   tests/e2e/render.sh tap|demo RESULTS [CONSOLE]
#
# CONSOLE (default: stdin, read as it streams) is the guest's serial
# console followed by run.sh's "# host qemu-exit STATUS" line; RESULTS is
# what tests/e2e/scenario.sh wrote to the guest's second serial port: its
# plan, one line per assertion, their count, its verdict and its end.
# Prints TAP (which tests/lib/tap.sh then counts) or the demo's narrated
# timeline with its own count, and exits 1 if anything failed.
#
# The console is checked line by line as it streams, so the demo says at
# once what failed there: a kernel oops/BUG/WARNING line
# (tests/lib/console.sh) or a unit systemd reports failed.  Its "# check"
# lines are narrative only: the kernel and systemd write to the same port,
# and a line of theirs can cut one of the scenario's in two.  The results
# count from RESULTS, which nothing else writes to; the run fails unless
# they are complete and agree with each other: a plan, exactly as many
# assertions, none failed, a count line "# checks N failed M" whose
# numbers are there and match, a verdict that says the scenario held, and
# its end.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/console.sh"

mode=${1:-}
results=${2:-}
case $mode in
tap|demo) ;;
*) echo "usage: tests/e2e/render.sh tap|demo RESULTS [CONSOLE]" >&2; exit 2 ;;
esac
[ -n "$results" ] || { echo "usage: tests/e2e/render.sh tap|demo RESULTS [CONSOLE]" >&2; exit 2; }
shift 2

awk -v mode="$mode" -v results="$results" -v console_trouble="$console_trouble" '
function fail(what) {
	failed++
	if (mode == "tap")
		printf "not ok %d - %s\n", ++n, what
	else
		printf "!! FAILED: %s\n", what
	fflush()
}
# pass: the demo told of each assertion as the console showed it.
function pass(what) {
	passed++
	if (mode == "tap")
		printf "ok %d - %s\n", ++n, what
}
function header(prefix) {
	printf "%s%-12s %4s %9s %9s %6s %9s %6s\n", prefix, "step", "node",
		"huge_free", "huge_used", "chunks", "pool_used", "splits"
}
function table(prefix,   i) {
	header(prefix)
	for (i = 1; i <= nrows; i++)
		print prefix rows[i]
}
function number(s) { return s ~ /^[0-9]+$/ }
# read_results: the results channel, checked; each assertion a result.
function read_results(   line, name, what, nchecks, nfailed, plan, counted,
		cfailed, verdict, done, r) {
	while ((r = getline line < results) > 0) {
		sub(/\r$/, "", line)
		if (line ~ /^# plan /) {
			plan = substr(line, 8)
		} else if (line ~ /^# check (ok|fail) /) {
			name = line
			sub(/^# check [a-z]+ /, "", name)
			nchecks++
			if (line ~ /^# check ok /) {
				pass(name)
			} else {
				nfailed++
				fail(name)
			}
		} else if (line ~ /^# checks /) {
			split(substr(line, 10), what, " ")
			counted = what[1]
			cfailed = what[3]
			if (what[2] != "failed" || !number(counted) || !number(cfailed))
				fail("results: a count line without its numbers: " line)
		} else if (line ~ /^# verdict /) {
			verdict = substr(line, 11)
		} else if (line == "# e2e done") {
			done = 1
		} else if (line != "") {
			fail("results: not a result line: " line)
		}
	}
	if (r < 0) {
		fail("no results: " results " cannot be read")
		return
	}
	close(results)
	if (!number(plan))
		fail("results: no plan (\"# plan N\")")
	else if (nchecks != plan)
		fail(sprintf("results: plan %d but %d assertions", plan, nchecks))
	if (counted == "")
		fail("results: no count line (\"# checks N failed M\")")
	else if (number(counted) && number(cfailed) && (counted != nchecks || cfailed != nfailed))
		fail(sprintf("results: the scenario counted %d assertions and %d failed, the results have %d and %d",
			counted, cfailed, nchecks, nfailed))
	if (verdict == "")
		fail("results: no verdict")
	else if (verdict !~ /^scenario held/)
		fail("verdict: " verdict)
	else if (nfailed)
		fail("verdict: " verdict ", but " nfailed " assertions failed")
	if (!done)
		fail("results: the guest did not finish the scenario")
	final_verdict = verdict
}
# Drop carriage returns and the colours of the status lines of systemd.
{ sub(/\r$/, ""); gsub(/\033\[[0-9;]*m/, "") }
/^\[FAILED\] / { fail("systemd: " substr($0, 10)); next }

$0 ~ console_trouble {
	fail("kernel console: " $0)
	next
}
/^# step / {
	text = $0; sub(/^# step [^ ]+ /, "", text)
	if (mode == "demo")
		printf "\n== %s\n", text
	else
		print "# " text
	next
}
/^# say / { sub(/^# say /, ""); print (mode == "demo" ? "   " : "# ") $0; next }
/^# log / {
	sub(/^# log /, "")
	print (mode == "demo" ? "   | " : "# | ") $0
	next
}
/^# row / {
	row = sprintf("%-12s %4s %9s %9s %6s %9s %6s", $3, $4, $5, $6, $7, $8, $9)
	rows[++nrows] = row
	if (mode == "demo") {
		if (nrows == 1)
			header("   ")
		print "   " row
	}
	next
}
# Narrative only: the results count from the results channel.
/^# check (ok|fail) / {
	name = $0; sub(/^# check [a-z]+ /, "", name)
	if (mode == "demo")
		print ($3 == "ok" ? "   [ok] " : "   [not ok] ") name
	else
		print "# check " $3 " " name
	fflush()
	next
}
/^# (plan|checks|verdict) / || /^# e2e done$/ { next }
/^# host qemu-exit / { qemu = $4; next }
/^# host runtime / { runtime = $4; next }
/^# guest / { print; next }
# Errors of the programs the scenario runs.
/^(vm|gigapoolctl|journalctl|systemctl|\/usr\/local\/libexec\/gigapool-e2e\/scenario\.sh): / { print (mode == "demo" ? "   " : "# ") $0; next }

END {
	if (qemu == "")
		fail("no qemu exit status (\"# host qemu-exit\")")
	else if (qemu == 124)
		fail("guest timed out")
	else if (qemu != 0)
		fail("qemu exited with status " qemu)
	read_results()
	if (mode == "demo") {
		print "\n== timeline"
		table("")
		print "\nruntime: " runtime " s"
		if (final_verdict != "")
			print "VERDICT: " final_verdict
		printf "%d passed, %d failed\n", passed, failed
	} else {
		print "# timeline"
		table("# ")
		print "# runtime: " runtime " s"
		if (final_verdict != "")
			print "# verdict " final_verdict
		print "1.." n
	}
	exit failed > 0
}' "$@"
