#!/bin/bash
# Daemon benchmarks (issue 6), for the "## Daemon" section of
# docs/BENCHMARKS.md:
#   - Status latency, p50 and p99, with 1, 10 and 100 concurrent clients:
#     build/bench/client/gigapool-bench (bench/daemon/client.c) against
#     gigapoold on this host;
#   - root's Status latency, and the daemon's peak RSS, while 256 hostile
#     unprivileged connections fill every slot (bench/daemon/hostile.sh);
#   - root's Status latency while the daemon lends 8 chunks, each made slow
#     in the fake pool of the tests, against the idle daemon
#     (bench/daemon/moving.sh);
#   - wake-ups of an idle gigapoold per minute with the shipped policy;
#   - time from a pool low-watermark event to the lend completing, in a QEMU
#     guest on the patched kernel (bench/daemon/init.sh and lowwater.c);
#   - in the same guest, root's Status latency while gigapoold lends 8
#     chunks of the real pool, against the same idle daemon
#     (bench/daemon/lend8.sh).
#
#   bench/daemon.sh [--guest-only]
#
# Writes build/bench/daemon.md and docs/bench/daemon-latency.png; raw
# results and the guest's console stay in build/bench/daemon/.  Environment:
# LATENCY_RUNS (7) runs per client count, IDLE_RUNS (3) idle daemons,
# LEND_RUNS (11) low-watermark runs and LEND8_RUNS (5) runs of 8 lends, each
# with LEND8_SECONDS (8) s of Status calls, in the guest.  Exits non-zero,
# and leaves no fragment, when a measurement failed.  --guest-only runs the
# guest alone, prints its Status figures and writes no fragment.
set -euo pipefail
guest_only=
case ${1-} in
--guest-only) guest_only=1 ;;
'') ;;
*) echo "usage: bench/daemon.sh [--guest-only]" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
# The command lines the fragment quotes are relative to the top of the tree.
cd "$top"
. tests/lib/console.sh
src=bench/daemon
out=build/bench/daemon
B=daemon/build
client=build/bench/client/gigapool-bench
fragment=build/bench/daemon.md
plot=docs/bench/daemon-latency.png
latency_runs=${LATENCY_RUNS:-7}
idle_runs=${IDLE_RUNS:-3}
lend_runs=${LEND_RUNS:-11}
lend8_runs=${LEND8_RUNS:-5}
lend8_seconds=${LEND8_SECONDS:-8}
idle_seconds=60
calls=10000		# Status calls per latency run, over all its clients
# TCG boots in seconds and a lend takes milliseconds; this only catches a hang.
lend_timeout=${LEND_TIMEOUT:-1200}
# Debian's interpreter, which python3-matplotlib belongs to (not a pyenv one).
python=${PYTHON:-/usr/bin/python3}

fail() {
	echo "daemon.sh: $*" >&2
	exit 1
}

rm -rf "$fragment" "$out"
mkdir -p "$out" docs/bench

# Processes started in the background and not yet reaped, killed on exit.
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
# reap PID: wait for PID, then forget it: its number may be reused.
reap() {
	local p keep=() rc=0

	wait "$1" || rc=$?
	for p in "${pids[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	pids=("${keep[@]}")
	return "$rc"
}

# note TEXT: a command line for the fragment; logged CMD...: note it, with
# the arguments that hold spaces quoted, and run it.
note() { printf '%s\n' "$*" >>"$out/commands"; }
logged() {
	local arg line=''

	for arg in "$@"; do
		[[ $arg == *' '* ]] && arg="'$arg'"
		line+="${line:+ }$arg"
	done
	note "$line"
	"$@"
}
load() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/load"; }

# start_daemon DIR POLICY: gigapoold on DIR/S in the background, pid in $daemon.
start_daemon() {
	local cmd=("$B/gigapoold" --policy "$2" --socket "$1/S" --state-dir "$1/state")

	mkdir -p "$1"
	note "${cmd[*]} &"
	"${cmd[@]}" 2>"$1/log" &
	daemon=$!
	pids+=("$daemon")
	for _ in $(seq 100); do
		[ -S "$1/S" ] && return 0
		sleep 0.05
	done
	fail "gigapoold did not come up, see $1/log"
}

stop_daemon() {
	kill -TERM "$1"
	reap "$1" || fail "gigapoold $1 did not exit cleanly"
}

# Status latency: runs interleaved over the client counts, so that a change
# of the machine's load hits all of them alike.  latency.txt: one line per
# run, "clients run p50 p99 max throughput" (us, calls/s).
latency() {
	local run c line

	start_daemon "$out/latency" config/policy.json
	load "latency start"
	note "for run in \$(seq $latency_runs); do for c in 1 10 100; do" \
		"$client --socket $out/latency/S --clients \$c --requests \$(($calls / c)); done; done"
	for run in $(seq "$latency_runs"); do
		for c in 1 10 100; do
			line=$("$client" --socket "$out/latency/S" --clients "$c" \
				--requests $((calls / c)) | tail -n 1)
			[[ $line =~ ^p50=([0-9.]+)us\ p99=([0-9.]+)us\ max=([0-9.]+)us\ throughput=([0-9]+)\ calls/s$ ]] ||
				fail "unexpected gigapool-bench output: $line"
			echo "$c $run ${BASH_REMATCH[*]:1}" >>"$out/latency.txt"
		done
	done
	load "latency end"
	stop_daemon "$daemon"
}

# ctxt PID: the voluntary and involuntary context switches of PID's threads.
ctxt() {
	awk '$1 == "voluntary_ctxt_switches:" { v += $2 }
	     $1 == "nonvoluntary_ctxt_switches:" { n += $2 }
	     END { print v, n }' /proc/"$1"/task/*/status
}

# idle_window PID...: context switches of each PID over idle_seconds, as
# "run voluntary involuntary milliseconds" lines.  Every voluntary switch
# of a single-threaded daemon is one sleep, so one wake-up follows it.
idle_window() {
	local pid before=() now t0 t1 i=0 v0 n0 v1 n1

	for pid in "$@"; do
		before+=("$(ctxt "$pid")")
	done
	t0=$(date +%s%N)
	sleep "$idle_seconds"
	t1=$(date +%s%N)
	for pid in "$@"; do
		now=$(ctxt "$pid")
		read -r v0 n0 <<<"${before[i]}"
		read -r v1 n1 <<<"$now"
		i=$((i + 1))
		echo "$i $((v1 - v0)) $((n1 - n0)) $(((t1 - t0) / 1000000))"
	done
}

# The guest: busybox, gigapoold, gigapoolctl and gigapool-bench with their
# libraries, lowwater, lend8, init.sh as /init.
guest_image() {
	local root=$out/root lib

	mkdir -p "$root"/{bin,dev,proc,sys,run,etc/gigapool,var/lib}
	cp /bin/busybox "$root/bin/busybox"
	# The kernel opens /dev/console for init before init can mount devtmpfs.
	mknod -m 600 "$root/dev/console" c 5 1
	install -m 755 "$B/gigapoold" "$B/gigapoolctl" "$client" "$root/bin/"
	ldd "$B/gigapoold" "$B/gigapoolctl" "$client" | grep -o '/[^ ]*\.so[.0-9]*' | sort -u |
		while read -r lib; do
			install -D -m 755 "$lib" "$root$lib"
		done
	logged gcc -static -O2 -Wall -Wextra -Werror -I include/uapi -I build/kernel/headers/include \
		-I tests/lib -o "$root/bin/lowwater" "$src/lowwater.c" tests/lib/util.c
	install -m 755 "$src/init.sh" "$root/init"
	install -m 755 "$src/lend8.sh" "$root/bin/lend8"
	install -m 644 "$src/policy.json" "$src/lend8.json" "$root/etc/gigapool/"
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
		gzip -1 >"$out/initramfs.cpio.gz"
}

# lend8_check: lend8.txt from the guest's "# lend8" lines, one line a run:
# "run idle_p50 idle_p99 idle_max idle_calls p50 p99 max calls lend_ms
# lends_in_window window_ms" (latencies in us); fails unless every run lent exactly 8 chunks and
# its bench started after the first lend was done and ended before the
# daemon answered the Reserves, that is before the last lend was done.
lend8_check() {
	"$python" - "$out/console.txt" "$lend8_runs" >"$out/lend8.txt" <<-'PY'
	import re, statistics, sys
	text, runs = open(sys.argv[1]).read(), int(sys.argv[2])
	lat = re.compile(r"^# lend8 run=(\d+) state=(idle|lending) p50=([0-9.]+)us "
	                 r"p99=([0-9.]+)us max=([0-9.]+)us throughput=\d+ calls/s$", re.M)
	done = re.compile(r"^# lend8 run=(\d+) (calls_idle=.*)$", re.M)
	b = {(int(m[1]), m[2]): m.groups()[2:] for m in lat.finditer(text)}
	w = {int(m[1]): dict(kv.split("=") for kv in m[2].split()) for m in done.finditer(text)}
	rows = []
	for r in range(1, runs + 1):
	    if (r, "idle") not in b or (r, "lending") not in b or r not in w:
	        sys.exit(f"run {r}: lines missing")
	    v = w[r]
	    n = {k: int(v[k]) for k in ("lends_before", "bench_start", "bench_end", "after")}
	    t = {k: float(v[k]) for k in ("t_reserve", "t_bench_start", "t_bench_end", "t_lent")}
	    if v["reserve_status"] != "0,0":
	        sys.exit(f"run {r}: a Reserve failed ({v['reserve_status']})")
	    if n["after"] - n["lends_before"] != 8:
	        sys.exit(f"run {r}: {n['after'] - n['lends_before']} chunks lent, not 8")
	    if n["bench_start"] == n["lends_before"]:
	        sys.exit(f"run {r}: the bench started before the first lend was done")
	    if t["t_bench_end"] >= t["t_lent"]:
	        sys.exit(f"run {r}: the lends ended before the bench did; lower LEND8_SECONDS")
	    print(r, *b[(r, "idle")], v["calls_idle"], *b[(r, "lending")], v["calls_lending"],
	          round((t["t_lent"] - t["t_reserve"]) * 1000), n["bench_end"] - n["bench_start"],
	          round((t["t_bench_end"] - t["t_bench_start"]) * 1000))
	    rows.append((b[(r, "idle")], b[(r, "lending")], t["t_lent"] - t["t_reserve"]))
	med = lambda v: statistics.median(float(x) for x in v)
	for i, state in ((0, "idle"), (1, "lending 8 chunks")):
	    print(f"guest Status {state}: p50 {med(x[i][0] for x in rows):.1f} us, "
	          f"p99 {med(x[i][1] for x in rows):.1f} us (worst {max(float(x[i][1]) for x in rows):.1f}), "
	          f"max {med(x[i][2] for x in rows):.1f} us (medians of {runs} runs)", file=sys.stderr)
	print(f"guest lends: 8 chunks in {med(x[2] for x in rows):.2f} s (median)", file=sys.stderr)
	PY
}

# Low watermark to lend: lend.txt has "source via run ms" lines; then Status
# while 8 chunks are lent (lend8_check).
lend() {
	local kernel=build/kernel/bzImage rc=0 want=$((lend_runs * 4)) got

	# Another job may be rebuilding the kernel: wait for it, then boot a copy.
	for _ in $(seq 360); do
		[ -r "$kernel" ] && [ -r build/kernel/headers/include/linux/kvm.h ] && break
		sleep 5
	done
	cp "$kernel" "$out/bzImage"
	guest_image
	load "guest start"
	# tsc=reliable: TCG's vCPUs look unsynchronised to the TSC check, and
	# without HPET or ACPI the fallback clock, jiffies, ticks every 4 ms.
	# 12 GiB of CMA: 6 chunks a node, for lend8's 4 reserved and 1 free and
	# one to spare.  Node 0 holds the 3 GiB below QEMU's PCI hole, and a CMA
	# area is contiguous: 10 GiB a node leaves it 7 GiB above the hole.
	logged timeout "$lend_timeout" tests/lib/qemu.sh --mem 20G --cma 12G --kernel "$out/bzImage" \
		--initrd "$out/initramfs.cpio.gz" \
		--append "numa=fake=2 tsc=reliable gplend_runs=$lend_runs gplend8_runs=$lend8_runs gplend8_seconds=$lend8_seconds" \
		</dev/null >"$out/console.log" 2>&1 || rc=$?
	load "guest end"
	tr -d '\r' <"$out/console.log" >"$out/console.txt"
	[ "$rc" -eq 0 ] || fail "qemu exited with status $rc, see $out/console.txt"
	console_check "$out/console.txt" >/dev/null || fail "kernel trouble in the guest, see $out/console.txt"
	# The kernel names every change of clock; the last must be to the TSC.
	[ "$(grep -o 'Switched to clocksource .*' "$out/console.txt" | tail -n 1)" = \
		"Switched to clocksource tsc" ] || fail "the guest's clock is not the TSC, see $out/console.txt"
	grep -q '^# exit lowwater 0$' "$out/console.txt" ||
		fail "lowwater failed in the guest, see $out/console.txt"
	grep -q '^# bench done$' "$out/console.txt" ||
		fail "the guest did not finish, see $out/console.txt"
	sed -n 's/^# lend source=\([a-z]*\) via=\([a-z]*\) run=\([0-9]*\) ms=\([0-9.]*\)$/\1 \2 \3 \4/p' \
		"$out/console.txt" >"$out/lend.txt"
	got=$(wc -l <"$out/lend.txt")
	[ "$got" -eq "$want" ] || fail "$got lends measured, $want expected, see $out/console.txt"
	grep -q '^# exit lend8 0$' "$out/console.txt" ||
		fail "lend8 failed in the guest, see $out/console.txt"
	lend8_check || fail "Status while lending 8 chunks: see $out/console.txt"
	grep '^# guest ' "$out/console.txt" | head -n 1 >"$out/guest"
}

make -s -C daemon build/gigapoold build/gigapoolctl
make -s -C bench/daemon
t_start=$(date +%s)
{
	echo "date $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit ${BENCH_COMMIT:-$(git describe --always --dirty)}"
	echo "cpu $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "cores $(nproc)"
	echo "calls $calls"
	echo "memory $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel $(uname -r)"
	echo "qemu $(qemu-system-x86_64 --version | head -n 1)"
} >"$out/meta"

if [ -n "$guest_only" ]; then
	lend
	echo "== $out/lend.txt, $out/lend8.txt ($(($(date +%s) - t_start)) s), no fragment"
	exit 0
fi
latency
load "hostile start"
logged bench/daemon/hostile.sh "$out" "$latency_runs" >/dev/null
load "hostile end"
load "moving start"
logged bench/daemon/moving.sh "$out" "$latency_runs" >/dev/null
load "moving end"

# The idle daemons sleep through the guest run: their wake-ups come from
# their own timers, not from how busy the CPUs are.
idle_pids=()
for i in $(seq "$idle_runs"); do
	start_daemon "$out/idle$i" config/policy.json
	idle_pids+=("$daemon")
done
# Past start-up: the first cycle and the connection that saw the socket.
sleep 1
note "grep ctxt_switches /proc/PID/task/*/status   # of each, 1 s after start and $idle_seconds s later"
idle_window "${idle_pids[@]}" >"$out/idle.txt" &
idle_job=$!
pids+=("$idle_job")

lend

reap "$idle_job" || fail "the idle measurement failed"
for p in "${idle_pids[@]}"; do
	stop_daemon "$p"
done
echo "wall $(($(date +%s) - t_start))" >>"$out/meta"

"$python" "$src/report.py" "$out" "$fragment.tmp" "$out/latency.png"
mv "$out/latency.png" "$plot"
mv "$fragment.tmp" "$fragment"
echo "== $fragment, $plot ($(($(date +%s) - t_start)) s)"
