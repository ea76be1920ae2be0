#!/bin/bash
# Root's Status latency and the daemon's memory under hostile clients, for
# the "Status under hostile clients" part of bench/daemon.sh (or alone):
#
#   bench/daemon/hostile.sh OUT_DIR [RUNS]
#
# gigapoold with the shipped policy (256 connections, 128 per uid) on
# OUT_DIR/S; two unprivileged uids (65534, 65533) hold 128 connections
# each, every slot unprivileged clients may take, with daemon/build/hostile:
# half pipeline Status calls and never read a reply, a quarter hold a
# message of max_message_bytes short of its end, a quarter trickle a byte
# every 100 ms.  Meanwhile root runs gigapool-bench with one client, RUNS
# (5) times.  OUT_DIR/hostile.txt: one line per run, "run p50 p99 max
# throughput" (us, calls/s); OUT_DIR/hostile-meta: the daemon's peak RSS
# ("hwm KIB"), its RSS at the end ("rss KIB") and what the hostile clients
# saw.  Needs root (setpriv).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
out=$1
runs=${2:-5}
B=daemon/build
. bench/daemon/lib.sh
seconds=$((runs * 3 + 6))

make -s -C daemon build/gigapoold build/hostile
make -s -C bench/daemon
rm -rf "$out/hostile" "$out/hostile.txt" "$out/hostile-meta"
mkdir -p "$out/hostile"
chmod 755 "$out/hostile"
spawn_daemon "$out/hostile/S" "$out/hostile/log" -- --policy config/policy.json \
	--state-dir "$out/hostile/state"
hostile=()
for u in 65534 65533; do
	setpriv --reuid=$u --regid=$u --clear-groups "$B/hostile" "$out/hostile/S" 128 "$seconds" \
		noread big noread trickle >"$out/hostile/clients.$u" &
	hostile+=($!)
done
sleep 3	# every connection made and the pipelines full
for run in $(seq "$runs"); do
	echo "$run $(bench_status "$out/hostile/S" 2000)" >>"$out/hostile.txt"
done
wait "${hostile[@]}"
{
	awk '/^VmHWM:/ { print "hwm", $2 } /^VmRSS:/ { print "rss", $2 }' /proc/$daemon/status
	echo "clients $(cat "$out"/hostile/clients.* | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')"
} >"$out/hostile-meta"
kill -TERM "$daemon"
wait "$daemon"
trap - EXIT
cat "$out/hostile.txt" "$out/hostile-meta"
