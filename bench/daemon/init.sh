#!/bin/busybox sh
# shellcheck shell=dash
# /init of the guest of bench/daemon.sh: gigapoold with
# bench/daemon/policy.json, then lowwater for the gplend_runs=N runs the
# kernel command line asks for.  Prints lowwater's "# lend ..." lines, then
# "# exit lowwater STATUS", gigapoold's log as "# log ..." lines and
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
read -r cmdline </proc/cmdline
for word in $cmdline; do
	case $word in
	gplend_runs=*) runs=${word#gplend_runs=} ;;
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
echo "# bench done"
reboot -f
