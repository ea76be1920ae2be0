#!/bin/bash
# make bench: every benchmark of issue 6 in one run, and docs/BENCHMARKS.md
# made from their fragments with the machine and versions they ran on.
#
#   bench/run.sh
#
# The parts, each runnable alone: bench/kernel.sh (stock vs gigapool in
# QEMU), bench/sim.sh (host-scale placement simulation), bench/daemon.sh
# (gigapoold latency, idle wake-ups, watermark-to-lend time).  The plots go
# to docs/bench/.  A part that fails stops the run and leaves
# docs/BENCHMARKS.md as it was.  Figures no run remakes (comparisons with
# code gone from the tree, experiments run by hand) live in
# bench/PART/notes.md, each with its commit, and go in after the part.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
doc=docs/BENCHMARKS.md
start=$(date +%s)
# The tree as measured, for this page and every part's section: the parts
# rewrite the plots in docs/bench/, which would make it look modified by
# the time a later part or the page is written.
BENCH_COMMIT=$(git describe --always --dirty)
export BENCH_COMMIT

bench/kernel.sh
bench/sim.sh
bench/daemon.sh

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
{
	echo "# Benchmarks"
	echo
	echo "Made by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC') in"
	echo "$(( ($(date +%s) - start) / 60 )) minutes; every figure below is from that run."
	echo
	echo "| | |"
	echo "| --- | --- |"
	echo "| machine | $(nproc) CPUs ($cpu), $mem, load average at the end $(cut -d' ' -f1-3 /proc/loadavg) |"
	echo "| host | $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r) |"
	echo "| gigapool | $BENCH_COMMIT |"
	echo "| guest kernel | Debian linux-source-6.12 $(dpkg-query -W -f='${Version}' linux-source-6.12), tinyconfig + kernel/config/gigapool.config |"
	echo "| QEMU | $(qemu-system-x86_64 --version | head -n 1), TCG (no KVM on this host), -cpu max, 2 vCPUs |"
	echo "| compiler | $(gcc --version | head -n 1) |"
	echo "| libsystemd | $(dpkg-query -W -f='${Version}' libsystemd0) |"
	echo
	echo "Each section says how to run it alone."
	echo
	for part in kernel sim daemon; do
		cat "build/bench/$part.md"
		echo
		if [ -r "bench/$part/notes.md" ]; then
			cat "bench/$part/notes.md"
			echo
		fi
	done
} >"$doc.tmp"
mv "$doc.tmp" "$doc"
echo "== $doc"
