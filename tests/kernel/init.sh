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
	ipitrace)
		# Needs CONFIG_EVENT_TRACING (the debug kernel).  Every IPI
		# sent, with the stack that sent it, and the csd queued with
		# it and the work queued, summed per round and phase:
		# "# ipisum COUNT ROUND PHASE EVENT CALLSITE -> CALLBACK" and
		# "# ipistack COUNT ROUND PHASE STACK < caller < ...".
		t=/sys/kernel/tracing
		mount -t tracefs tracefs $t
		echo 16384 > $t/buffer_size_kb
		for e in ipi/ipi_send_cpu ipi/ipi_send_cpumask csd/csd_queue_cpu \
			workqueue/workqueue_queue_work; do
			echo 1 > $t/events/$e/enable || echo "# no event $e"
		done
		echo stacktrace > $t/events/ipi/ipi_send_cpu/trigger
		echo stacktrace > $t/events/ipi/ipi_send_cpumask/trigger
		cat /proc/interrupts
		ipitrace; rc=$?
		echo 0 > $t/tracing_on
		cat /proc/interrupts
		echo "# trace lines $(wc -l < $t/trace)"
		awk '
		function fn(s) { sub(/^[a-z_]+=/, "", s); sub(/\+0x.*/, "", s); return s }
		/tracing_mark_write: phase / { ph = $NF; if (ph == "lend") rnd++; stk = ""; next }
		/<stack trace>/ { instk = 1; stk = ""; next }
		instk && /^ => / { if (nf < 14) stk = stk " < " fn($2); nf++; next }
		instk { st[rnd " " ph " STACK" stk]++; instk = 0; nf = 0 }
		match($0, / ipi_send_cpu(mask)?: /) { k = substr($0, RSTART + 1, RLENGTH - 3); for (i = 1; i <= NF; i++) { if ($i ~ /^callsite=/) k = k " " fn($i); if ($i ~ /^callback=/) k = k " -> " fn($i) } c[rnd " " ph " " k]++ }
		/ csd_queue_cpu: / { k = "csd_queue_cpu"; for (i = 1; i <= NF; i++) { if ($i ~ /^callsite=/) k = k " " fn($i); if ($i ~ /^func=/) k = k " func=" fn($i) } c[rnd " " ph " " k]++ }
		/ workqueue_queue_work: / { k = "workqueue_queue_work"; for (i = 1; i <= NF; i++) { if ($i ~ /^function=/ || $i ~ /^workqueue=/ || $i ~ /^cpu=/) k = k " " $i } c[rnd " " ph " " k]++ }
		END { if (instk) st[rnd " " ph " STACK" stk]++
			for (k in c) print "# ipisum " c[k] " " k
			for (k in st) print "# ipistack " st[k] " " k }
		' $t/trace | sort -k4,4n -k5,5 -k2,2 -k3,3nr
		(exit $rc) ;;
	stress)           stress --seconds "${stress_seconds:-20}" ;;
	*)                echo "Bail out! unknown suite $suite"; false ;;
	esac
	echo "# exit $suite $?"
done
echo "# guest done"
reboot -f
