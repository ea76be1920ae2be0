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
# Pages compaction may move per daemon cycle: one chunk's worth.  A cap
# below what the emptiest stranded chunks hold moves nothing at all.
compact_pages=262144
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
	check_run() {
		local label=$1 output status=0
		shift
		output=$("$sim" --events "$check_events" --check --label "$label" "$@") || status=$?
		while IFS= read -r line; do
			case "$line" in "ok -"* | "not ok -"*) tap_line "$line" ;; esac
		done <<<"$output"
		[ "$status" -eq 0 ] || tap_line "not ok - $label: gigapool-sim exited with status $status"
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
			--max-per-owner 6.3 --max-over-goal 103
		# Compaction's goal, met at 15,000 events: no ordinary VM fails
		# while free hugetlb + pool pages cover it (13 fail without
		# compaction); every move is checked against the model.
		check_run "compaction" --policy bench/sim/policies/host-1.5t.json \
			--reserve --compact-pages "$compact_pages" --max-covered 0
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
run policy.shipped --policy config/policy.json
run policy.shipped.reserve --policy config/policy.json --reserve
for name in host-1.5t wide-band; do
	run "policy.$name" --policy "bench/sim/policies/$name.json"
	run "policy.$name.reserve" --policy "bench/sim/policies/$name.json" --reserve
done
for mib in 0 1024; do
	run "react.$mib" --policy bench/sim/policies/host-1.5t.json --react-mib "$mib"
done
# Giving 1 GiB pages back to ordinary VMs: today's static split, and
# the daemon with every VM reserving before start (an ordinary VM's
# reservation holds its 1 GiB pages) without compaction (the run
# policy.host-1.5t.reserve above) and with it, also with confidential
# VMs whose pages may not move (SEV-SNP).
for n in $splits; do
	run "split.$n" --static-split "$n"
done
run compact --policy bench/sim/policies/host-1.5t.json --reserve \
	--compact-pages "$compact_pages"
for share in 0.5 1; do
	run "compact.pinned$share" --policy bench/sim/policies/host-1.5t.json --reserve \
		--compact-pages "$compact_pages" --pinned "$share"
done

mkdir -p docs/bench
"$python" bench/sim/report.py --runs "$runs" --md build/bench/sim.md --plots docs/bench
echo "wrote build/bench/sim.md, docs/bench/sim-stranded.png, docs/bench/sim-planner.png," \
	"docs/bench/sim-compaction.png"
