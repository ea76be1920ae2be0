#!/bin/sh
# /init of the end-to-end guest: a VM host in a box.  gigapoold manages two
# NUMA nodes; ordinary VMs take 1 GiB hugetlb pages on node 0, a
# confidential VM is provisioned on node 1 through a reservation, exits, and
# the daemon is killed with a reservation held.
#
# Everything is reported as "# KIND ..." lines that tests/e2e/run.sh turns
# into the demo's narrative or into TAP:
#   # step NAME TEXT      a scenario step begins
#   # say TEXT            narrative
#   # log TEXT            a line gigapoold logged
#   # row STEP NODE HUGE_FREE HUGE_USED CHUNKS POOL_USED SPLITS
#   # check ok|fail NAME  one assertion
#   # verdict TEXT
#   # e2e done            the scenario ran to its end
#
# No `set -e`: init must never exit early (the kernel would panic), and a
# failed assertion must not stop the scenario.
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /run
mkdir -p /run/gigapool /var/lib/gigapool

sock=/run/gigapool/io.gigapool.Pool
daemon_log=/run/gigapoold.log
node_sys=/sys/devices/system/node
# The confidential VM: 1.5 GiB of memfd_secret plus 64 MiB of guest_memfd,
# two 1 GiB chunks once rounded up; cvm_pages counts them in 4 KiB pages.
cvm_secret_mib=1536
cvm_gmem_mib=64
cvm_pages=$(((cvm_secret_mib + cvm_gmem_mib) * 256))
failed=''

say() { echo "# say $*"; }
ctl() { gigapoolctl --socket "$sock" "$@"; }

# check NAME COMMAND...: one assertion, held when COMMAND succeeds.
check() {
	local name=$1
	shift
	if "$@"; then
		echo "# check ok $name"
	else
		echo "# check fail $name"
		failed="$failed${failed:+; }$name"
	fi
}

huge() { cat "$node_sys/node$1/hugepages/hugepages-1048576kB/$2"; }
pool() { cat "$node_sys/node$1/unmapped_pool/$2"; }
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
splits() { echo $(($(vmstat direct_map_level2_splits) + $(vmstat direct_map_level3_splits))); }

# The value of KEY in the Status reply: of node NODE's entry when NODE is
# given, else its first occurrence.  gigapoolctl --json prints one key per
# line, and a node's entry starts with its "node" key.
status_value() {
	ctl --json status | awk -v key="\"$1\":" -v node="${2-}" '
		$1 == "\"node\":" { cur = $2 + 0 }
		$1 == key && (node == "" || cur == node + 0) {
			sub(/,$/, "", $2); print $2; exit
		}'
}

# reservation KEY OWNER: KEY of OWNER's reservation, empty if it has none.
reservation() {
	ctl --json list | awk -v key="\"$1\":" -v owner="\"$2\"," '
		$1 == "\"owner\":" { cur = $2 }
		$1 == key && cur == owner { sub(/,$/, "", $2); print $2; exit }'
}

# Prints gigapoold's log lines written since the last call.
log_seen=0
daemon_news() {
	local n
	n=$(wc -l <"$daemon_log")
	tail -n "+$((log_seen + 1))" "$daemon_log" | head -n "$((n - log_seen))" |
		sed 's/^/# log /'
	log_seen=$n
}

# row STEP: the timeline, one row per node, from the kernel's counters.
row() {
	local node total free
	daemon_news
	for node in 0 1; do
		total=$(huge "$node" nr_hugepages)
		free=$(huge "$node" free_hugepages)
		echo "# row $1 $node $free $((total - free)) $(pool "$node" nr_chunks)" \
			"$(pool "$node" used_pages) $(splits)"
	done
}

# wait_for SECONDS COMMAND...: polls COMMAND once a second until it succeeds.
wait_for() {
	local left=$1
	shift
	until "$@"; do
		[ "$left" -gt 0 ] || return 1
		left=$((left - 1))
		sleep 1
	done
}

eq() { [ "$1" = "$2" ]; }
node_is() { [ "$(pool "$1" "$2")" = "$3" ]; }
huge_free_is() { [ "$(huge "$1" free_hugepages)" = "$2" ]; }
alive() { kill -0 "$1" 2>/dev/null; }
ready() { [ -e "$1" ] || ! alive "$2"; }

start_daemon() {
	gigapoold --policy /etc/gigapool/policy.json --socket "$sock" \
		--state-dir /var/lib/gigapool >>"$daemon_log" 2>&1 &
	daemon=$!
	wait_for 30 ctl status >/dev/null 2>&1
}

# start_vm NAME ARGS...: a vm(1) in the background; false unless it got
# all its memory.  Its pid is in $vm_pid.
start_vm() {
	local name=$1
	shift
	vm "$@" "/run/$name.ready" &
	vm_pid=$!
	wait_for 900 ready "/run/$name.ready" "$vm_pid" && [ -e "/run/$name.ready" ]
}

# stop_vm PID: a VM shut down by SIGTERM; its exit status must say so
# (128 + 15), not that it crashed or was gone already.
stop_vm() {
	kill "$1"
	wait "$1"
	[ $? -eq 143 ]
}

chunks_back() {
	node_is "$1" nr_chunks 0 && huge_free_is "$1" "$2"
}

echo "# guest kernel=$(uname -r) cpus=$(nproc) nodes=$(cat $node_sys/online)"

echo "# step boot host boots; the admin gives each node two 1 GiB hugetlb pages"
for node in 0 1; do
	echo 2 >"$node_sys/node$node/hugepages/hugepages-1048576kB/nr_hugepages"
done
splits_at_boot=$(splits)
: >"$daemon_log"
check "gigapoold answers on its socket" start_daemon
check "gigapoold runs in pool mode" eq "$(status_value mode)" '"pool"'
check "the demo policy lends nothing without a reservation" \
	eq "$(pool 0 nr_chunks) $(pool 1 nr_chunks)" "0 0"
ctl status | sed 's/^/# say   /'
row boot

echo "# step ordinary an ordinary VM starts on node 0 with 1 GiB of hugetlb memory"
check "ordinary VM got a 1 GiB hugetlb page on node 0" start_vm ordinary ordinary 0 1
ordinary_pid=$vm_pid
check "node 0 has one 1 GiB page in use, one free" huge_free_is 0 1
row ordinary

echo "# step reserve provisioning: reserve 1.5 GiB for confidential VM cvm-1 on node 1"
say "\$ gigapoolctl reserve cvm-1 1536M --node 1"
ctl reserve cvm-1 1536M --node 1 | sed 's/^/# say   /'
check "cvm-1's reservation is on node 1" eq "$(reservation node cvm-1)" 1
check "the daemon reports it satisfied" eq "$(reservation satisfied cvm-1)" true
check "the daemon lent node 1 two chunks for it" node_is 1 nr_chunks 2
check "node 0 lent nothing" node_is 0 nr_chunks 0
row reserve

echo "# step cvm-start confidential VM cvm-1 starts: ${cvm_secret_mib} MiB memfd_secret + ${cvm_gmem_mib} MiB guest_memfd, bound to node 1"
check "cvm-1 holds its memfd_secret and pool guest_memfd memory" \
	start_vm cvm-1 confidential 1 "$cvm_secret_mib" "$cvm_gmem_mib"
cvm_pid=$vm_pid
check "all of cvm-1's ${cvm_pages} pages came from node 1's pool" \
	node_is 1 used_pages "$cvm_pages"
check "nothing came from node 0's pool" node_is 0 used_pages 0
check "no allocation fell back outside the pool" \
	eq "$(cat /sys/kernel/mm/unmapped_pool/fallbacks)" 0
say "\$ gigapoolctl release cvm-1     (the VM holds its memory now)"
check "release cvm-1" ctl release cvm-1
check "no reservation is left" eq "$(status_value reservations)" 0
# Two safety-timer cycles with the reservation gone: chunks in use stay.
sleep 5
check "the daemon keeps the chunks cvm-1 uses" node_is 1 nr_chunks 2
row cvm-running

echo "# step cvm-exit cvm-1 shuts down; the daemon's timer gives node 1's chunks back"
check "cvm-1 exits" stop_vm "$cvm_pid"
check "cvm-1's pages went back to the pool" node_is 1 used_pages 0
check "within 30 s both chunks are 1 GiB hugetlb pages again" \
	wait_for 30 chunks_back 1 2
row cvm-exit

echo "# step restart cvm-2 reserves 1 GiB on node 1, then gigapoold is killed with SIGKILL and restarted"
ctl reserve cvm-2 1G --node 1 | sed 's/^/# say   /'
check "the daemon lent node 1 a chunk for cvm-2" node_is 1 nr_chunks 1
kill -9 "$daemon"
wait "$daemon"
say "gigapoold killed (status $?); restarting it"
check "gigapoold answers again after the restart" start_daemon
check "cvm-2's reservation survived (gigapoolctl list)" eq "$(reservation node cvm-2)" 1
ctl list | sed 's/^/# say   /'
ctl rebalance >/dev/null
check "the restarted daemon keeps cvm-2's chunk" node_is 1 nr_chunks 1
row restart

echo "# step teardown cvm-2 is cancelled, the ordinary VM stops"
check "release cvm-2" ctl release cvm-2
check "stop the ordinary VM" stop_vm "$ordinary_pid"
check "within 30 s every chunk is back in hugetlb on both nodes" \
	wait_for 30 eval 'chunks_back 0 2 && chunks_back 1 2'
check "gigapoold reported no failed move" eq "$(status_value failures 0) $(status_value failures 1)" "0 0"
check "0 direct-map splits since boot" eq "$(splits)" "$splits_at_boot"
row teardown
kill "$daemon"
wait "$daemon"
check "gigapoold exits 0 on SIGTERM" eq "$?" 0
daemon_news

if [ -z "$failed" ]; then
	echo "# verdict scenario held: confidential memory came from the pool on node 1, 0 direct-map splits, all chunks back in hugetlb"
else
	echo "# verdict FAILED: $failed"
fi
echo "# e2e done"
reboot -f
