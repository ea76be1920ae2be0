#!/bin/bash
# Root's Status latency while gigapoold lends chunks, for the "Status while
# chunks move" part of bench/daemon.sh (or alone):
#
#   bench/daemon/moving.sh OUT_DIR [RUNS]
#
# gigapoold on OUT_DIR/S against the fake pool of the integration tests
# (daemon/build/fakepool.so, a fake sysfs root in OUT_DIR/moving/root) in
# which every chunk lent takes DELAY_MS (500) ms, as a 1 GiB clear or a CMA
# migration can on a real host.  Each run: gigapool-bench with one client
# and 10,000 Status calls against the idle daemon; then a Reserve of 8 GiB
# that makes the daemon lend 8 chunks (4 s), and the same bench started
# once the first chunk is lent; a run whose moves end before the bench does
# fails.  The reservation is released and its chunks reclaimed between
# runs.  OUT_DIR/moving.txt: one line per measurement, "run idle|moving p50
# p99 max throughput" (us, calls/s); OUT_DIR/moving-meta: "delay_ms MS".
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
out=$1
runs=${2:-5}
delay_ms=${DELAY_MS:-500}
B=daemon/build
. bench/daemon/lib.sh
dir=$out/moving
root=$dir/root
pool=$root/sys/devices/system/node/node0/unmapped_pool

make -s -C daemon build/gigapoold build/gigapoolctl build/fakepool.so
make -s -C bench/daemon
rm -rf "$dir" "$out/moving.txt" "$out/moving-meta"
mkdir -p "$root/dev" "$pool" "$root/sys/devices/system/node/node0/hugepages/hugepages-1048576kB"
echo 0 >"$root/sys/devices/system/node/online"
mkfifo "$root/dev/unmapped_pool"
for f in nr_chunks free_pages used_pages lends reclaims alloc_failures fallbacks low_watermark; do
	echo 0 >"$pool/$f"
done
for f in nr_hugepages free_hugepages; do
	echo 32 >"$root/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/$f"
done
# A band of one to two free chunks, 8 moves a cycle, no cooldown, no timer cycle.
cat >"$dir/policy.json" <<JSON
{
	"defaults": { "keep_free_hugetlb": 1, "headroom_low": 1, "headroom_high": 2,
		      "max_pool_chunks": 32, "max_moves": 8, "cooldown_sec": 0 },
	"interval_sec": 3600
}
JSON
spawn_daemon "$dir/S" "$dir/log" FAKEPOOL_ROOT="$root" LD_PRELOAD="$B/fakepool.so" -- \
	--policy "$dir/policy.json" --state-dir "$dir/state" --sysfs-root "$root"
ctl() { "$B/gigapoolctl" --socket "$dir/S" "$@"; }
# wait_for FILE VALUE: until the fake pool's FILE reads VALUE (10 s at most).
wait_for() {
	for _ in $(seq 200); do
		[ "$(cat "$pool/$1")" = "$2" ] && return 0
		sleep 0.05
	done
	echo "moving.sh: $1 is $(cat "$pool/$1"), not $2; see $dir/log" >&2
	exit 1
}
bench() {	# bench RUN STATE: one gigapool-bench run, appended to moving.txt
	echo "$1 $2 $(bench_status "$dir/S" 10000)" >>"$out/moving.txt"
}
wait_for nr_chunks 2
echo "$delay_ms" >"$pool/fake_lend_delay_ms"
for run in $(seq "$runs"); do
	bench "$run" idle
	lends=$(cat "$pool/lends")
	ctl reserve bench 8G --node 0 >/dev/null &
	reserve=$!
	for _ in $(seq 200); do
		[ "$(cat "$pool/lends")" -gt "$lends" ] && break
		sleep 0.01
	done
	bench "$run" moving
	kill -0 "$reserve" 2>/dev/null ||
		{ echo "moving.sh: the moves ended before the bench did; raise DELAY_MS" >&2; exit 1; }
	wait "$reserve"
	[ "$(cat "$pool/lends")" -eq $((lends + 8)) ] ||
		{ echo "moving.sh: $(($(cat "$pool/lends") - lends)) chunks lent, not 8" >&2; exit 1; }
	ctl release bench >/dev/null
	wait_for nr_chunks 2
done
echo "delay_ms $delay_ms" >"$out/moving-meta"
kill -TERM "$daemon"
wait "$daemon"
trap - EXIT
cat "$out/moving.txt" "$out/moving-meta"
