#!/bin/sh
# /init of the upstream-selftest guest (tests/upstream/run.sh).  Sets up the
# memory the tests need, then runs every test of /etc/tests.list, each
# framed by "# test NAME" and "# exit NAME STATUS SECONDS" lines, and reboots.
# A test the list marks gmem:... runs, on a kernel with the pool's
# guest_memfd switch, once with the switch at prefer and once at require
# (as NAME@prefer and NAME@require), framed by "# gmem" lines with the
# pool's counters before and after it; the switch is at flag again before
# the next test.
#
# Kernel command line:
#   uplend=N      lend N chunks to the unmapped pool (only if the kernel has it)
#   uphuge=N      reserve N 1 GiB hugetlb pages, after lending
#   upsecret=MIB  keep MIB MiB of memfd_secret faulted during the tests
#   uptests=a,b   run only these tests of the list
#
# No `set -e`: init must never exit early (the kernel would panic), and a
# failing test must not stop the others.
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

lend=0 huge=0 secret=0 only=
for word in $(cat /proc/cmdline); do
	case $word in
	uplend=*)   lend=${word#uplend=} ;;
	uphuge=*)   huge=${word#uphuge=} ;;
	upsecret=*) secret=${word#upsecret=} ;;
	uptests=*)  only=,${word#uptests=}, ;;
	esac
done

pool=/sys/kernel/mm/unmapped_pool
hp=/sys/kernel/mm/hugepages/hugepages-1048576kB
holder=
# state NAME: one line "# state NAME: KEY=VALUE ..." that tests/upstream/run.sh
# asserts on: the pool's counters and the guest_memfd switch's mode (only
# on a kernel with the pool), the 1 GiB hugetlb pages, the direct-map split
# counters ("absent" when /proc/vmstat lacks them) and whether holdsecret
# still holds its memory.
state() {
	local line="# state $1:" key
	if [ -d $pool ]; then
		for key in nr_chunks used_pages free_pages fallbacks; do
			line="$line $key=$(cat $pool/$key)"
		done
		line="$line gmem_mode=$(gmem_mode)"
	fi
	line="$line hugetlb_nr=$(cat $hp/nr_hugepages) hugetlb_free=$(cat $hp/free_hugepages)"
	for key in direct_map_level2_splits direct_map_level3_splits; do
		line="$line $key=$(awk -v k=$key '$1 == k { v = $2 } END { print v == "" ? "absent" : v }' /proc/vmstat)"
	done
	if [ -z "$holder" ]; then
		line="$line holdsecret=none"
	elif kill -0 "$holder" 2>/dev/null; then
		line="$line holdsecret=alive"
	else
		line="$line holdsecret=gone"
	fi
	echo "$line"
}

# The guest_memfd switch's current mode: the word in brackets, or "none"
# on a kernel without the switch.
gmem_mode() {
	sed -n 's/.*\[\([a-z]*\)\].*/\1/p' $pool/guest_memfd 2>/dev/null | grep . || echo none
}

# gmem NAME before|after: one line "# gmem NAME PHASE: KEY=VALUE ..." with
# the switch's mode and the pool's counters that run.sh judges a run of a
# gmem: test on.
gmem() {
	local line="# gmem $1 $2: mode=$(gmem_mode)" key
	for key in guest_memfd_pages fallbacks alloc_failures; do
		line="$line $key=$(cat $pool/$key)"
	done
	echo "$line"
}

# run NAME TIMEOUT CMD: one test run, framed by its "# test" and "# exit"
# lines.  -s KILL: nothing to ignore.  The absolute path: the KVM selftests
# open their own ELF file by argv[0] to load guest code.
run() {
	local start rc
	echo "# test $1"
	start=$(date +%s)
	timeout -s KILL "$2" /bin/$3 </dev/null 2>&1
	rc=$?
	echo "# exit $1 $rc $(( $(date +%s) - start ))"
}

echo "# guest kernel=$(uname -r) cpus=$(nproc)"
# Before anything is set up: the split counters must not move from here on
# on gigapool.
state boot
# Lend first, so that the hugetlb pages come from what the pool left of
# the CMA area, as they would on a host running both.  A failed step is
# printed here; run.sh fails the run on the state it leaves.
if [ "$lend" -gt 0 ] && [ -d $pool ]; then
	echo "$lend" > $pool/nr_chunks || echo "# setup: lending $lend chunks failed"
fi
if [ "$huge" -gt 0 ]; then
	echo "$huge" > $hp/nr_hugepages || echo "# setup: reserving $huge 1 GiB hugetlb pages failed"
fi
if [ "$secret" -gt 0 ]; then
	holdsecret "$secret" >/tmp/holdsecret.out 2>&1 &
	holder=$!
	# Wait for its line: the tests must start with the pool in use.
	while [ ! -s /tmp/holdsecret.out ] && kill -0 $holder 2>/dev/null; do sleep 1; done
	# Its exit line may follow the first one.
	kill -0 $holder 2>/dev/null || wait $holder
	cat /tmp/holdsecret.out
fi
# What upstream's run_vmtests.sh sets for hugepage-shm (its 256 MiB segment).
echo 268435456 > /proc/sys/kernel/shmmax
echo 4194304 > /proc/sys/kernel/shmall
state before

while read -r name timeout cmd; do
	case $name in ''|'#'*) continue ;; esac
	case $only in ''|*,$name,*) ;; *) continue ;; esac
	if [ "$timeout" = skip ]; then
		echo "# test $name"
		echo "# exit $name skip 0"
		continue
	fi
	case $cmd in
	gmem:*) cmd=${cmd#* } ;;
	*) run "$name" "$timeout" "$cmd"; continue ;;
	esac
	# The stock kernel has no pool: the test runs once, as upstream's.
	if [ ! -e $pool/guest_memfd ]; then
		run "$name" "$timeout" "$cmd"
		continue
	fi
	for mode in prefer require; do
		if ! echo $mode > $pool/guest_memfd; then
			echo "# setup: setting the guest_memfd switch to $mode for $name failed"
			continue
		fi
		gmem "$name@$mode" before
		run "$name@$mode" "$timeout" "$cmd"
		gmem "$name@$mode" after
	done
	echo flag > $pool/guest_memfd || echo "# setup: setting the guest_memfd switch back to flag after $name failed"
done < /etc/tests.list

state after
[ -n "$holder" ] && kill $holder 2>/dev/null
echo "# guest done"
reboot -f
