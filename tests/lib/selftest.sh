#!/bin/bash
# The harness checked against made-up input: every way a stream or a log
# can be wrong must fail its parser, and a good one must pass.  A parser
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

	echo "1..$n"
} | tap_summary --plan
