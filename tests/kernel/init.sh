#!/bin/sh
# /init of the test guest.  Runs the suites named by gptests=a,b,... on the
# kernel command line, each framed by "# suite NAME" and "# exit NAME STATUS"
# lines that run.sh checks, then powers the guest off.  gpcpus=N is the
# number of CPUs run.sh gave QEMU, which pooltest checks the guest sees.
#
# No `set -e`: init must never exit early (the kernel would panic), and a
# failing suite must not stop the others.  Failures are reported, not fatal.
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug

suites=
read -r cmdline </proc/cmdline
for word in $cmdline; do
	case $word in
	gptests=*) suites=$(echo "${word#gptests=}" | tr , ' ') ;;
	gpstress=*) stress_seconds=${word#gpstress=} ;;
	gprounds=*) kbench_rounds=${word#gprounds=} ;;
	gpcpus=*) cpus=${word#gpcpus=} ;;
	esac
done

echo "# guest kernel=$(uname -r) cpus=$(nproc) nodes=$(cat /sys/devices/system/node/online)"
for suite in $suites; do
	echo "# suite $suite"
	case $suite in
	secretfault)      secretfault --expect-splits ;;
	secretfault-pool) secretfault --lend 2 --expect-no-splits ;;
	pooltest)         pooltest ${cpus:+--cpus "$cpus"} ;;
	pooltest-numa)    pooltest ${cpus:+--cpus "$cpus"} --node 1 ;;
	pooltest-poison)  pooltest ${cpus:+--cpus "$cpus"} --poison ;;
	pooltest-hugetlb) pooltest ${cpus:+--cpus "$cpus"} --hugetlb 1 ;;
	compacttest)      compacttest ;;
	gmemvm)           gmemvm ;;
	kbench)           kbench --rounds "${kbench_rounds:-3}" ;;
	stress)           stress --seconds "${stress_seconds:-20}" ;;
	*)                echo "Bail out! unknown suite $suite"; false ;;
	esac
	echo "# exit $suite $?"
done
echo "# guest done"
reboot -f
