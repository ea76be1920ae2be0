#!/bin/bash
# The host-scale placement simulator (bench/sim/README.md).
#
#   bench/sim.sh           build it, run every configuration (100,000 VM creates and
#                          destroys each; SIM_EVENTS overrides), write the markdown
#                          fragment build/bench/sim.md and docs/bench/sim-*.png
#   bench/sim.sh --check   the bounded invariant run of make check: TAP lines, then
#                          tests/lib/tap.sh's "N passed, N failed, N skipped" (goals
#                          the simulation shows unmet are "not ok # TODO", counted
#                          apart, each with a regression bound that is a result
#                          of its own); exits non-zero on a failure
#
# Each run's command line and output are kept in build/bench/sim/runs/.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/bench/sim
runs=$out/runs
sim=build/bench/sim/gigapool-sim
# Debian's interpreter: python3-matplotlib is installed for it, not for
# whatever python3 comes first in PATH.
python=/usr/bin/python3
events=${SIM_EVENTS:-100000}
check_events=15000
# Compaction moves at most the policy's max_compact_pages_per_cycle pages
# per daemon cycle, as gigapoold does; host-1.5t.json leaves it at the
# default, 262144 (one chunk's worth).  The runs without compaction model
# a kernel that does not announce UNMAPPED_POOL_FEAT_COMPACT
# (--no-feat-compact).
# Static splits tried, 1 GiB pages kept for ordinary VMs; the best one in
# hindsight (fewest VMs failed) is the one reported.
splits=$(seq 1000 25 1250)

usage() {
	echo "usage: bench/sim.sh [--check]" >&2
	exit 2
}

check_mode=false
case "${1:-}" in
"") ;;
--check) check_mode=true ;;
*) usage ;;
esac

# The packages this script uses; the rest of gigapool's are scripts/deps.sh's.
missing=()
pkgs=(gcc make pkg-config libcjson-dev)
$check_mode || pkgs+=(python3 python3-matplotlib)
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench/sim.sh: missing Debian packages; run as root: apt-get install -y ${missing[*]}" >&2
	exit 1
fi

cd "$top"
make -s -C bench/sim

if $check_mode; then
	. "$top/tests/lib/tap.sh"
	n=0
	tap_line() {
		n=$((n + 1))
		echo "${1/#ok -/ok $n -}" | sed "s/^not ok -/not ok $n -/"
	}
	# check_run LABEL ARGS...: one run's TAP lines; its result line stays in $result.
	check_run() {
		local label=$1 output status=0
		shift
		output=$("$sim" --events "$check_events" --check --label "$label" "$@") || status=$?
		while IFS= read -r line; do
			case "$line" in "ok -"* | "not ok -"*) tap_line "$line" ;; esac
		done <<<"$output"
		[ "$status" -eq 0 ] || tap_line "not ok - $label: gigapool-sim exited with status $status"
		result=$(grep '^result ' <<<"$output" || true)
	}
	# expect WHAT [FIELD OP VALUE]...: one TAP line on the last run's result
	# fields, each compared with test(1)'s OP; a field missing fails.
	expect() {
		local what=$1 ok=ok got
		shift
		while [ $# -ge 3 ]; do
			got=$(tr ' ' '\n' <<<"$result" | sed -n "s/^$1=//p")
			[[ "$got" =~ ^[0-9]+$ ]] && test "$got" "$2" "$3" || ok="not ok"
			what+=" $1=${got:-missing} ($2 $3)"
			shift 3
		done
		tap_line "$ok - $what"
	}
	{
		echo "# placement simulator: $check_events VM creates and destroys per run, invariants only"
		for p in first-fit fullest-first; do
			check_run "$p" --placement "$p"
		done
		# The per-owner stranding goal is missed (its "not ok # TODO"
		# line); the regression bound fails the run when it gets worse.
		# Today's figures at 15,000 events: worst 7.769 per owner and
		# 398 moments over one for owner-affine, 5.000 and 82 with the
		# planner.  Without a planner the pool lends only once a request
		# failed, so an owner with blocks of its own often meets a pool
		# full but for the small owners' reserve, and takes from it.
		# The bounds are those plus 25 %, rounded up, except that
		# owner-affine keeps the bounds it had before small owners
		# shared blocks (8.5 and 422), which it still meets.
		check_run "owner-affine" --placement owner-affine \
			--max-per-owner 8.5 --max-over-goal 422
		check_run "planner" --placement owner-affine \
			--policy bench/sim/policies/host-1.5t.json --reserve \
			--max-per-owner 6.3 --max-over-goal 103 --no-feat-compact
		expect "planner: a kernel without UNMAPPED_POOL_FEAT_COMPACT: no compaction:" \
			compact_pages -eq 0 compactions -eq 0 compact_pages_moved -eq 0
		# Compaction's goal, met at 15,000 events: no ordinary VM fails
		# while free hugetlb + pool pages cover it (13 fail without
		# compaction); every move is checked against the model.
		check_run "compaction" --policy bench/sim/policies/host-1.5t.json \
			--reserve --max-covered 0
		expect "compaction: at most the policy's default max_compact_pages_per_cycle per cycle:" \
			compact_pages -eq 262144 compact_pages_cycle_max -le 262144 \
			compact_pages_moved -gt 0
		# The same run with the policy's max_compact_pages_per_cycle set:
		# 0 turns compaction off; a cap below what the stranded chunks hold
		# still compacts (chunks that fit it), never more than it a cycle.
		for cap in 0 65536; do
			policy=$out/host-1.5t.compact$cap.json
			sed "1a \"max_compact_pages_per_cycle\": $cap," \
				bench/sim/policies/host-1.5t.json >"$policy"
			check_run "compaction.cap$cap" --policy "$policy" --reserve
			if [ "$cap" -eq 0 ]; then
				expect "compaction.cap0: max_compact_pages_per_cycle 0: no compaction:" \
					compact_pages -eq 0 compactions -eq 0 compact_pages_moved -eq 0
			else
				expect "compaction.cap$cap: at most max_compact_pages_per_cycle $cap per cycle:" \
					compact_pages -eq "$cap" compact_pages_cycle_max -le "$cap" \
					compact_pages_moved -gt 0
			fi
		done
		echo "1..$n"
	} | tap_summary --plan
	exit
fi

rm -rf "$runs"
mkdir -p "$runs"
# run LABEL ARGS...: one simulation, its command line first in its output file.
run() {
	local label=$1 cmd
	shift
	cmd="$sim --events $events --label $label $*"
	echo "== $label"
	echo "command: $cmd" >"$runs/$label.out"
	$cmd | tee -a "$runs/$label.out" | grep '^result' | tr ' ' '\n' |
		grep -E '^(wall_s|stranded_mean|ordinary_failed|confidential_failed)=' | tr '\n' ' '
	echo
}

for p in first-fit fullest-first owner-affine; do
	run "place.$p" --placement "$p" --series "build/bench/sim/runs/place.$p.csv"
	run "nosecrets.$p" --placement "$p" --secrets 0
done
# The daemon's policies without compaction.
run policy.shipped --policy config/policy.json --no-feat-compact
run policy.shipped.reserve --policy config/policy.json --reserve --no-feat-compact
for name in host-1.5t wide-band; do
	run "policy.$name" --policy "bench/sim/policies/$name.json" --no-feat-compact
	run "policy.$name.reserve" --policy "bench/sim/policies/$name.json" --reserve --no-feat-compact
done
for mib in 0 1024; do
	run "react.$mib" --policy bench/sim/policies/host-1.5t.json --react-mib "$mib" --no-feat-compact
done
# Giving 1 GiB pages back to ordinary VMs: today's static split, and
# the daemon with every VM reserving before start (an ordinary VM's
# reservation holds its 1 GiB pages) without compaction (the run
# policy.host-1.5t.reserve above) and with it, also with confidential
# VMs whose pages may not move (SEV-SNP).
for n in $splits; do
	run "split.$n" --static-split "$n"
done
run compact --policy bench/sim/policies/host-1.5t.json --reserve
for share in 0.5 1; do
	run "compact.pinned$share" --policy bench/sim/policies/host-1.5t.json --reserve \
		--pinned "$share"
done

mkdir -p docs/bench
# The tree as measured, named before the report rewrites the tracked plots
# (make bench names it before any part runs).
BENCH_COMMIT=${BENCH_COMMIT:-$(git describe --always --dirty)} \
	"$python" bench/sim/report.py --runs "$runs" --md build/bench/sim.md --plots docs/bench
echo "wrote build/bench/sim.md, docs/bench/sim-stranded.png, docs/bench/sim-planner.png," \
	"docs/bench/sim-compaction.png"
