#!/bin/bash
# Kernel benchmarks (issue 6), for the "## Kernel" section of
# docs/BENCHMARKS.md: the stock and the gigapool kernel booted in turn,
# KBENCH_BOOTS (3) fresh boots each, every boot running tests/kernel/kbench.c
# for KBENCH_ROUNDS (2) rounds of 1 GiB; plus one gigapool boot with HugeTLB
# vmemmap optimisation on, for the memory a lend costs then.
#
#   bench/kernel.sh
#
# Writes build/bench/kernel.md and docs/bench/kernel-stock-vs-gigapool.png;
# the consoles and figure lines stay in build/guest/kbench-*.  Every boot
# must pass its checks, else no fragment is written and the exit status is 1.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=build/bench/kernel
fragment=build/bench/kernel.md
plot=docs/bench/kernel-stock-vs-gigapool.png
boots=${KBENCH_BOOTS:-3}
rounds=${KBENCH_ROUNDS:-2}
# Debian's interpreter, which python3-matplotlib belongs to (not a pyenv one).
python=${PYTHON:-/usr/bin/python3}
# tsc=reliable: without it the guest falls back to jiffies (4 ms steps),
# too coarse for lending a chunk.
append="tsc=reliable gprounds=$rounds"

rm -f "$fragment"
mkdir -p "$out" docs/bench
: >"$out/figures.txt"
# run NAME KERNEL APPEND: one boot; its figure lines go to figures.txt.
run() {
	tests/kernel/run.sh --kernel "$2" --name "$1" --append "$3" kbench | tail -n 1 |
		tee "$out/$1.result"
	grep -q ' 0 failed, 0 skipped$' "$out/$1.result" || {
		echo "kernel.sh: boot $1 failed; see build/guest/$1.log" >&2
		exit 1
	}
	cat "build/guest/$1.figures" >>"$out/figures.txt"
}
for i in $(seq "$boots"); do
	run "kbench-stock-$i" build/kernel-stock/bzImage "$append"
	run "kbench-gigapool-$i" build/kernel/bzImage "$append"
done
run kbench-hvo-1 build/kernel/bzImage "tsc=reliable gprounds=1 hugetlb_free_vmemmap=on"

{
	echo "boots=$boots"
	echo "rounds=$rounds"
	echo "command=KBENCH_BOOTS=$boots KBENCH_ROUNDS=$rounds bench/kernel.sh"
	echo "when=$(date -u '+%Y-%m-%d %H:%M UTC') at commit ${BENCH_COMMIT:-$(git describe --always --dirty)}"
	# The chunk's bookkeeping as the kernel's own header lays it out.
	if [ -x build/bench/sim/chunk-size ]; then
		echo "chunk_bytes=$(build/bench/sim/chunk-size)"
	fi
} >"$out/meta.txt"
"$python" bench/kernel/report.py "$out/figures.txt" "$out/meta.txt" "$fragment" "$plot"
echo "== $fragment, $plot"
