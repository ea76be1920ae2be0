#!/bin/busybox sh
# shellcheck shell=dash
# Root's Status latency while gigapoold lends 8 chunks on the patched
# kernel, in the guest of bench/daemon.sh (run by init.sh as /bin/lend8):
#
#   lend8 RUNS SECONDS SOCKET
#
# gigapoold on SOCKET runs with bench/daemon/lend8.json: one free chunk on
# each node, up to 8 moves a cycle, no cooldown, no timer cycle.  Each run:
# gigapool-bench, one client, Status calls for SECONDS against the idle
# daemon; then two Reserves of 4 GiB, one on each node, which make the
# daemon lend 4 chunks on each (8 in all), and the same bench, started
# once the first of them is lent.  The two reservations are released, and
# their chunks reclaimed, before the next run.  Prints per run
#
#   # lend8 run=N state=idle p50=...us p99=...us max=...us throughput=... calls/s
#   # lend8 run=N state=lending p50=...
#   # lend8 run=N calls_idle=C calls_lending=C lends_before=L bench_start=L
#         bench_end=L after=L reserve_status=S0,S1 t_reserve=T t_bench_start=T
#         t_bench_end=T t_lent=T
#
# (one line; L: the lend counters of all nodes summed; T: seconds of
# /proc/uptime, 10 ms resolution; t_lent: when the later Reserve was
# answered, the daemon answering a Reserve once its moves are done).  The
# host checks them: 8 lends a run, the bench started after the first lend
# and ended before the last.  Exits non-zero if a step failed.
runs=$1
seconds=$2
sock=$3
# The root of sysfs: a fake pool's (daemon/build/fakepool.so) to try it on a host.
sysfs=${LEND8_SYSFS:-/sys}

ctl() { gigapoolctl --socket "$sock" "$@"; }
now() { cut -d' ' -f1 /proc/uptime; }
# A read of lends waits for a lend under way, so this counts finished lends.
lends() { cat "$sysfs"/devices/system/node/node*/unmapped_pool/lends | awk '{ s += $1 } END { print s }'; }
# bench: "CALLS p50=... p99=... max=... throughput=... calls/s".
bench() {
	gigapool-bench --socket "$sock" --clients 1 --requests 1000000 --seconds "$seconds" |
		awk '/^method=/ { for (i = 1; i <= NF; i++) if ($i ~ /^calls=/) c = substr($i, 7) }
		     /^p50=/ { print c, $0 }'
}
# reserve NODE: a Reserve of 4 GiB on NODE; /run/lend8.NODE gets "STATUS T".
reserve() {
	ctl reserve "bench$1" 4G --node "$1" >/dev/null
	echo "$? $(now)" >"/run/lend8.$1"
}

for _ in $(seq 600); do
	[ -S "$sock" ] && break
	sleep 0.1
done
# Settle to one free chunk per node; answered once the cycle's moves are done.
ctl rebalance >/dev/null || exit 1
failed=0
for run in $(seq "$runs"); do
	idle=$(bench)
	[ -n "$idle" ] || { echo "lend8: run $run: the idle bench failed" >&2; exit 1; }
	echo "# lend8 run=$run state=idle ${idle#* }"
	l0=$(lends)
	t0=$(now)
	rm -f /run/lend8.0 /run/lend8.1
	reserve 0 &
	r0=$!
	reserve 1 &
	r1=$!
	# The first lend, then the bench: it must run while the others do.
	for _ in $(seq 6000); do
		[ "$(lends)" -gt "$l0" ] && break
		sleep 0.01
	done
	l1=$(lends)
	b0=$(now)
	lending=$(bench)
	b1=$(now)
	l2=$(lends)
	wait "$r0"
	wait "$r1"
	l3=$(lends)
	read -r s0 e0 </run/lend8.0
	read -r s1 e1 </run/lend8.1
	[ -n "$lending" ] || { echo "lend8: run $run: the bench while lending failed" >&2; exit 1; }
	echo "# lend8 run=$run state=lending ${lending#* }"
	# The later answer is the end of the lends.
	e=$(echo "$e0 $e1" | awk '{ print ($1 > $2 ? $1 : $2) }')
	echo "# lend8 run=$run calls_idle=${idle%% *} calls_lending=${lending%% *}" \
		"lends_before=$l0 bench_start=$l1 bench_end=$l2 after=$l3" \
		"reserve_status=$s0,$s1 t_reserve=$t0 t_bench_start=$b0 t_bench_end=$b1 t_lent=$e"
	ctl release bench0 >/dev/null || failed=1
	ctl release bench1 >/dev/null || failed=1
done
exit "$failed"
