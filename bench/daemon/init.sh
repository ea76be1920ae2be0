#!/bin/busybox sh
# shellcheck shell=dash
# /init of the guest of bench/daemon.sh: gigapoold with
# bench/daemon/policy.json, then lowwater for the gplend_runs=N runs the
# kernel command line asks for; then gigapoold afresh with
# bench/daemon/lend8.json and lend8 (bench/daemon/lend8.sh) for the
# gplend8_runs=N runs of gplend8_seconds=S.  Prints lowwater's "# lend ..."
# lines, then "# exit lowwater STATUS", lend8's "# lend8 ..." lines, then
# "# exit lend8 STATUS", each daemon's log as "# log ..." lines and
# "# bench done", and powers the guest off.
#
# No `set -e`: init must never exit early (the kernel would panic); the host
# fails the benchmark on a missing line or a non-zero status instead.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mkdir -p /run/gigapool /var/lib/gigapool

runs=1
lend8_runs=1
lend8_seconds=8
read -r cmdline </proc/cmdline
for word in $cmdline; do
	case $word in
	gplend_runs=*) runs=${word#gplend_runs=} ;;
	gplend8_runs=*) lend8_runs=${word#gplend8_runs=} ;;
	gplend8_seconds=*) lend8_seconds=${word#gplend8_seconds=} ;;
	esac
done

echo "# guest kernel=$(uname -r) cpus=$(nproc) nodes=$(cat /sys/devices/system/node/online)"
sock=/run/gigapool/io.gigapool.Pool
gigapoold --policy /etc/gigapool/policy.json --socket "$sock" \
	--state-dir /var/lib/gigapool 2>/run/gigapoold.log &
daemon=$!
lowwater --runs "$runs" --socket "$sock"
echo "# exit lowwater $?"
kill -TERM "$daemon"
wait "$daemon"
sed 's/^/# log /' /run/gigapoold.log
rm -f "$sock"
gigapoold --policy /etc/gigapool/lend8.json --socket "$sock" \
	--state-dir /var/lib/gigapool 2>/run/gigapoold-lend8.log &
daemon=$!
lend8 "$lend8_runs" "$lend8_seconds" "$sock"
echo "# exit lend8 $?"
kill -TERM "$daemon"
wait "$daemon"
sed 's/^/# log /' /run/gigapoold-lend8.log
echo "# bench done"
reboot -f
