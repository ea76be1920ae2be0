#!/bin/sh
# /init of the upstream-selftest guest (tests/upstream/run.sh).  Sets up the
# memory the tests need, then runs every test of /etc/tests.list, each
# framed by "# test NAME" and "# exit NAME STATUS SECONDS" lines, and reboots.
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
state() {
	if [ -d $pool ]; then
		echo "# state $1: pool nr_chunks=$(cat $pool/nr_chunks) used_pages=$(cat $pool/used_pages)" \
			"free_pages=$(cat $pool/free_pages) fallbacks=$(cat $pool/fallbacks)" \
			"hugetlb-1G nr=$(cat $hp/nr_hugepages) free=$(cat $hp/free_hugepages)"
	else
		echo "# state $1: no unmapped pool; hugetlb-1G nr=$(cat $hp/nr_hugepages) free=$(cat $hp/free_hugepages)"
	fi
}

echo "# guest kernel=$(uname -r) cpus=$(nproc)"
# Lend first, so that the hugetlb pages come from what the pool left of
# the CMA area, as they would on a host running both.
[ "$lend" -gt 0 ] && [ -d $pool ] && echo "$lend" > $pool/nr_chunks
[ "$huge" -gt 0 ] && echo "$huge" > $hp/nr_hugepages
holder=
if [ "$secret" -gt 0 ]; then
	holdsecret "$secret" >/tmp/holdsecret.out 2>&1 &
	holder=$!
	# Wait for its line: the tests must start with the pool in use.
	while [ ! -s /tmp/holdsecret.out ] && kill -0 $holder 2>/dev/null; do sleep 1; done
	cat /tmp/holdsecret.out
fi
# What upstream's run_vmtests.sh sets for hugepage-shm (its 256 MiB segment).
echo 268435456 > /proc/sys/kernel/shmmax
echo 4194304 > /proc/sys/kernel/shmall
state before

while read -r name timeout cmd; do
	case $name in ''|'#'*) continue ;; esac
	case $only in ''|*,$name,*) ;; *) continue ;; esac
	echo "# test $name"
	if [ "$timeout" = skip ]; then
		echo "# exit $name skip 0"
		continue
	fi
	start=$(date +%s)
	case $cmd in
	*-pool*) if [ ! -d $pool ]; then
			# KSFT_SKIP: the stock kernel has no pool flag to test.
			echo "1..0 # SKIP kernel without the unmapped pool"
			echo "# exit $name 4 0"
			continue
		fi ;;
	esac
	# -s KILL: nothing to ignore.  The absolute path: the KVM selftests
	# open their own ELF file by argv[0] to load guest code.
	timeout -s KILL "$timeout" /bin/$cmd </dev/null 2>&1
	rc=$?
	echo "# exit $name $rc $(( $(date +%s) - start ))"
done < /etc/tests.list

state after
[ -n "$holder" ] && kill $holder
echo "# guest done"
reboot -f
