#!/bin/bash
# The harness checked against made-up input: every way a stream or a log
# can be wrong must fail its parser, and a good one must pass.  The
# parsers: tests/lib/tap.sh, and tests/e2e/render.sh, the end-to-end
# scenario's.  A parser
# that let a broken run through would let make check pass on it.
#
#   tests/lib/selftest.sh     TAP, one line per case, then tests/lib/tap.sh's
#                             closing line; exits non-zero on a failure
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
n=0

# expect WANT NAME COMMAND...: COMMAND, given the made-up input on stdin,
# must exit 0 (WANT pass) or non-zero (WANT fail).
expect() {
	local want=$1 name=$2 got=pass out
	local -A says=([pass]=passes [fail]=fails)
	shift 2
	out=$("$@" 2>&1) || got=fail
	n=$((n + 1))
	if [ "$got" = "$want" ]; then
		echo "ok $n - $name: ${says[$want]}"
	else
		echo "not ok $n - $name: ${says[$got]}, should ${want}"
		echo "$out" | sed 's/^/# /'
	fi
}

# tap WANT NAME [OPTION...] <<<STREAM: tap_summary on a made-up stream.
tap() {
	local want=$1 name=$2
	shift 2
	expect "$want" "tap.sh $name" tap_summary --quiet "$@"
}

{
	tap pass "leading plan" --plan <<<$'1..2\nok 1 - a\nok 2 - b'
	tap pass "trailing plan" --plan <<<$'ok 1 - a\nok 2 - b\n1..2'
	tap pass "plan of a named boot" --plan <<<$'[x] ok - a\n[x] ok - b\n1..2'
	tap pass "two streams, plans first and last" --plan \
		<<<$'1..2\nok 1 - a\nok 2 - b\n# ok - group\nok 1 - c\n1..1\n1..1\nok 1 - d'
	tap pass "an empty plan" --plan <<<$'1..0 # SKIP nothing to do'
	tap fail "short leading plan" <<<$'1..3\nok 1 - a\nok 2 - b'
	tap fail "short leading plan, another stream after it" \
		<<<$'1..3\nok 1 - a\nok 2 - b\n1..1\nok 1 - c'
	tap fail "short trailing plan" <<<$'ok 1 - a\nok 2 - b\n1..3'
	tap fail "more results than the plan" --plan <<<$'1..1\nok 1 - a\nok 2 - b'
	tap fail "more results than the trailing plan" <<<$'ok 1 - a\nok 2 - b\nok 3 - c\n1..2'
	tap fail "no plan where one is required" --plan <<<$'ok 1 - a\nok 2 - b'
	tap pass "no plan where none is required" <<<$'ok 1 - a\nok 2 - b'
	tap fail "results after the last stream" --plan <<<$'1..1\nok 1 - a\nok - stray'
	tap fail "not ok" --plan <<<$'1..2\nok 1 - a\nnot ok 2 - b'
	tap fail "not ok of a named boot" <<<$'[x] not ok - a'
	tap pass "not ok with a TODO directive" --plan <<<$'1..2\nok 1 - a\nnot ok 2 - b # TODO known'
	tap pass "ok with a SKIP directive" --plan <<<$'1..2\nok 1 - a\nok 2 - b # SKIP why'
	tap fail "not ok with a SKIP directive is still a failure" <<<$'not ok 1 - b # SKIP why'
	tap fail "Bail out!" <<<$'1..2\nok 1 - a\nBail out! no device'
	tap fail "a summary comment that says 1 failed" <<<$'ok 1 - a\n# 1 passed, 1 failed'
	tap fail "a closing line that says 2 failed" <<<$'ok 1 - a\n1 passed, 2 failed, 0 skipped'
	tap pass "a closing line that says 0 failed" <<<$'ok 1 - a\n1 passed, 0 failed, 0 skipped'
	tap fail "a FAILED verdict" <<<$'ok 1 - a\n# verdict FAILED: b'
	tap fail "what an inner summary found wrong" <<<$'ok 1 - a\n# tap: 2 results without a plan'
	expect pass "tap.sh --no-status passes a failure" tap_summary --quiet --no-status <<<'not ok 1 - a'

	# The end-to-end parser on made-up consoles and results channels.
	w=$(mktemp -d)
	trap 'rm -rf "$w"' EXIT
	good_console=$'# guest kernel=6.12\r\n# step boot the host boots\n# check ok a\n# check ok b\n# host qemu-exit 0'
	good_results=$'# plan 2\r\n# check ok a\n# check ok b\n# checks 2 failed 0\n# verdict scenario held: all of it\n# e2e done'
	# e2e NAME WANT CONSOLE RESULTS: render.sh in both modes.
	e2e() {
		printf '%s\n' "$4" >"$w/results"
		expect "$2" "e2e render.sh tap: $1" "$top/tests/e2e/render.sh" tap "$w/results" <<<"$3"
		expect "$2" "e2e render.sh demo: $1" "$top/tests/e2e/render.sh" demo "$w/results" <<<"$3"
	}
	e2e "a run that held" pass "$good_console" "$good_results"
	# The case that passed before: console interleaving put a message of
	# systemd in front of the failed assertion's line, and only the
	# verdict, which the parser did not read, said FAILED.
	e2e "a failed assertion whose console line was cut in two" fail \
		$'# check ok a\n[   12.345678] systemd-journald[97]: Received SIGTERM.# check fail b\n# verdict FAILED: b\n# e2e done\n# host qemu-exit 0' \
		$'# plan 2\n# check ok a\n# check fail b\n# checks 2 failed 1\n# verdict FAILED: b\n# e2e done'
	e2e "a FAILED verdict with no failed assertion" fail "$good_console" \
		"${good_results/scenario held: all of it/FAILED: b}"
	e2e "a verdict that says neither" fail "$good_console" "${good_results/scenario held/scenario ran}"
	e2e "no verdict" fail "$good_console" "${good_results/\# verdict scenario held: all of it/}"
	e2e "an assertion fewer than planned" fail "$good_console" "${good_results/\# check ok b/}"
	e2e "an assertion more than planned" fail "$good_console" "${good_results/\# plan 2/\# plan 1}"
	e2e "no plan" fail "$good_console" "${good_results/\# plan 2/}"
	e2e "no count line" fail "$good_console" "${good_results/\# checks 2 failed 0/}"
	e2e "a count line without its numbers" fail "$good_console" \
		"${good_results/\# checks 2 failed 0/\# checks  failed }"
	e2e "a count that disagrees" fail "$good_console" "${good_results/checks 2 failed 0/checks 3 failed 0}"
	e2e "a line cut in two on the results channel" fail "$good_console" \
		"${good_results/\# check ok b/\# check o}"
	e2e "a scenario that did not finish" fail "$good_console" "${good_results/\# e2e done/}"
	e2e "an empty results channel" fail "$good_console" ""
	expect fail "e2e render.sh tap: no results channel" \
		"$top/tests/e2e/render.sh" tap "$w/absent" <<<"$good_console"
	e2e "a kernel WARNING on the console" fail \
		$'[   3.1] WARNING: CPU: 0 PID: 1 at mm/x.c:1\n'"$good_console" "$good_results"
	e2e "a unit systemd reports failed" fail $'[FAILED] Failed to start x.service\n'"$good_console" \
		"$good_results"
	e2e "qemu timed out" fail "${good_console/qemu-exit 0/qemu-exit 124}" "$good_results"
	e2e "no qemu exit status" fail "${good_console/\# host qemu-exit 0/}" "$good_results"
	# An assertion the kernel cannot make (the guest_memfd one on the
	# kernel package) must count as skipped, never as passed.
	printf '%s\n' "${good_results/\# check ok b/\# check ok b \# SKIP why}" >"$w/results"
	expect pass "e2e render.sh tap: a skipped assertion counts as skipped" \
		bash -c '. "$1/tests/lib/tap.sh"; "$1/tests/e2e/render.sh" tap "$2" | tap_summary |
			grep -qx "1 passed, 0 failed, 1 skipped"' _ "$top" "$w/results" <<<"$good_console"

	echo "1..$n"
} | tap_summary --plan
