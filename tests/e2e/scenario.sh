#!/bin/sh
# The provisioning job of the end-to-end VM host (gigapool-e2e.service),
# run by systemd once the Debian guest is up; gigapoold is the installed
# unit, started by its socket.  gigapoold manages two NUMA nodes; ordinary
# VMs take 1 GiB hugetlb pages on node 0, a confidential VM is provisioned
# on node 1 through a reservation and exits, and the daemon is restarted,
# killed and reloaded with a broken policy while a reservation is held.
#
# Everything is reported as "# KIND ..." lines on the console, which
# tests/e2e/render.sh turns into the demo's narrative or into TAP:
#   # step NAME TEXT      a scenario step begins
#   # say TEXT            narrative
#   # log TEXT            a line of gigapoold's journal
#   # row STEP NODE HUGE_FREE HUGE_USED CHUNKS POOL_USED SPLITS
#   # plan N              the number of assertions to come
#   # check ok|fail NAME  one assertion
#   # checks N failed M   how many there were, and failed
#   # verdict TEXT        "scenario held: ..." or "FAILED: ..."
#   # e2e done            the scenario ran to its end
# The last five kinds are the results, and go to the guest's second serial
# port as well (tests/lib/qemu.sh --results writes it to a file of the
# host), where render.sh reads them: on the console, the kernel's messages
# and systemd's status lines can land in the middle of a line.
#
# On the kernel package of make kernel-deb (E2E_KERNEL=deb, set by
# tests/e2e/run.sh --deb) the confidential VM has no guest_memfd: Debian's
# configuration has no KVM_X86_SW_PROTECTED_VM.  There KVM is a module, and
# the scenario checks that kvm_amd loaded.
#
# No `set -e`: a failed assertion must not stop the scenario.
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin

sock=/run/gigapool/io.gigapool.Pool
policy=/etc/gigapool/policy.json
node_sys=/sys/devices/system/node
# The confidential VM: 1.5 GiB of memfd_secret plus 64 MiB of guest_memfd,
# two 1 GiB chunks once rounded up; cvm_pages counts them in 4 KiB pages.
# Its guest_memfd has no pool flag, as no real VMM sets it: the policy's
# "guest_memfd": "prefer" has the kernel serve it from the pool.  The
# kernel package has no VM type that makes one on this machine: there the
# VM holds memfd_secret only, and the guest_memfd check is a skip.
cvm_secret_mib=1536
cvm_gmem_mib=64
cvm_memory="memfd_secret and guest_memfd"
cvm_sizes="$cvm_secret_mib MiB memfd_secret + $cvm_gmem_mib MiB guest_memfd without the pool flag"
cvm_verdict="confidential memory (guest_memfd without the pool flag, under the policy's prefer)"
if [ "${E2E_KERNEL-}" = deb ]; then
	cvm_gmem_mib=0
	cvm_memory="memfd_secret"
	cvm_sizes="$cvm_secret_mib MiB memfd_secret"
	cvm_verdict="confidential memory (memfd_secret; the package's KVM makes no guest_memfd)"
fi
cvm_pages=$(((cvm_secret_mib + cvm_gmem_mib) * 256))
# The assertions below, counted by hand (the loop over two nodes makes two):
# render.sh fails a run that reports more or fewer.  Two more on the
# kernel package.
plan=53
[ "${E2E_KERNEL-}" = deb ] && plan=$((plan + 2))
plan=$((plan + 16))	# the step held-pages
checks=0
failed=''
nfailed=0

if [ -c /dev/ttyS1 ]; then
	exec 3>>/dev/ttyS1
else
	echo "# say no /dev/ttyS1: the results have no channel of their own"
	exec 3>/dev/null
fi
# result LINE: a result line, on the console and on the results channel.
result() {
	echo "$*"
	echo "$*" >&3
}

say() { echo "# say $*"; }
ctl() { gigapoolctl --socket "$sock" "$@"; }

# check NAME COMMAND...: one assertion, held when COMMAND succeeds.
check() {
	local name=$1
	shift
	checks=$((checks + 1))
	if "$@"; then
		result "# check ok $name"
	else
		result "# check fail $name"
		failed="$failed${failed:+; }$name"
		nfailed=$((nfailed + 1))
	fi
}

# skip NAME WHY: an assertion of the plan that this kernel cannot make,
# reported as skipped (TAP's "# SKIP"), never as passed.
skip() {
	checks=$((checks + 1))
	result "# check ok $1 # SKIP $2"
}

huge() { cat "$node_sys/node$1/hugepages/hugepages-1048576kB/$2"; }
# pool NODE FILE: a counter made exact first: the counters do not drain the
# LRU batches where pages freed on another CPU may still count as used.
pool() {
	echo 1 > /sys/kernel/mm/unmapped_pool/settle
	cat "$node_sys/node$1/unmapped_pool/$2"
}
# splits: the kernel's direct-map splits so far (levels 2 and 3 together),
# or nothing when /proc/vmstat lacks either counter; the checks below need
# numbers, so an absent counter cannot compare equal with itself.
splits() {
	awk '$1 == "direct_map_level2_splits" || $1 == "direct_map_level3_splits" {
		n++; sum += $2 } END { if (n == 2) print sum }' /proc/vmstat
}
number() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }
same_number() { number "$1" && number "$2" && [ "$1" = "$2" ]; }

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

# Prints what the journal got of gigapoold since the last call: its own
# lines and systemd's about the unit.
daemon_news() {
	journalctl --quiet -u gigapoold.service -o cat \
		--cursor-file=/run/gigapool-e2e.cursor | sed 's/^/# log /'
}

# journal_says TEXT: gigapoold's journal since the scenario began has TEXT.
journal_says() {
	journalctl --quiet -u gigapoold.service -o cat --since "@$started" |
		grep -qF "$1"
}

unit() { systemctl show -p "$1" --value gigapoold.service; }
is_active() { [ "$(systemctl is-active "$1")" = active ]; }
# running_again OLD_PID: the unit is active with a main process other than OLD_PID.
running_again() { is_active gigapoold.service && [ "$(unit MainPID)" != "$1" ] && [ "$(unit MainPID)" != 0 ]; }

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
hibernation_offered() { grep -qw disk /sys/power/state; }
module_live() { [ "$(cat "/sys/module/$1/initstate" 2>/dev/null)" = live ]; }
ready() { [ -e "$1" ] || ! alive "$2"; }

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

echo "# guest kernel=$(uname -r) cpus=$(nproc) nodes=$(cat $node_sys/online) init=$(cat /proc/1/comm) $(systemctl --version | head -n 1)"
started=$(date +%s)
result "# plan $plan"

echo "# step boot host boots with systemd; the admin gives each node two 1 GiB hugetlb pages"
# A 1 GiB page comes from the node's CMA area, whose movable pages must
# migrate first; a page under I/O can refuse, and the write then gives
# fewer pages.  With the kernel package booted from its disk that happened
# in one of two boots (node 0 one page short; the other boot counted a
# failed cma_alloc as well), so the admin asks again, as a host's hugetlb
# setup would.
give_hugetlb() {
	echo "$2" >"$node_sys/node$1/hugepages/hugepages-1048576kB/nr_hugepages"
	[ "$(huge "$1" nr_hugepages)" = "$2" ]
}
for node in 0 1; do
	check "node $node has two 1 GiB hugetlb pages" wait_for 10 give_hugetlb "$node" 2
done
if [ "${E2E_KERNEL-}" = deb ]; then
	kernel_release=$(uname -r)
	root_dev=$(awk '$2 == "/" { print $1 }' /proc/mounts)
	say "the host runs the kernel package: $kernel_release, root on $root_dev"
	check "the kernel is the package's, booted with root on the virtio disk" \
		eq "${kernel_release##*-} $root_dev" "gigapool /dev/vda"
	check "udev loaded kvm_amd, a module that calls the pool's exports" \
		wait_for 60 module_live kvm_amd
	say "no guest_memfd for cvm-1: Debian's configuration has no KVM_X86_SW_PROTECTED_VM"
fi
check "the kernel counts direct-map splits (/proc/vmstat)" number "$(splits)"
check "gigapoold.socket is listening" is_active gigapoold.socket
check "gigapoold.service is not started before the first query" \
	eq "$(systemctl is-active gigapoold.service)" inactive
say "\$ gigapoolctl status     (the first query)"
ctl status | sed 's/^/# say   /'
check "the first query started gigapoold through its socket" is_active gigapoold.service
check "gigapoold runs in pool mode" eq "$(status_value mode)" '"pool"'
check "the policy set the kernel's guest_memfd switch to prefer" \
	eq "$(cat /sys/kernel/mm/unmapped_pool/guest_memfd)" "flag [prefer] require"
check "gigapoolctl status shows the kernel's guest_memfd mode" \
	eval 'ctl status | grep -qx "guest_memfd: prefer"'
check "the demo policy lends nothing without a reservation" \
	eq "$(pool 0 nr_chunks) $(pool 1 nr_chunks)" "0 0"
row boot

echo "# step ordinary an ordinary VM starts on node 0 with 1 GiB of hugetlb memory"
check "ordinary VM got a 1 GiB hugetlb page on node 0" start_vm ordinary ordinary 0 1
ordinary_pid=$vm_pid
check "node 0 has one 1 GiB page in use, one free" huge_free_is 0 1
row ordinary

echo "# step reserve provisioning: reserve 1.5 GiB for confidential VM cvm-1 on node 1"
# Splits are counted around the pool's work only.  Starting processes of
# the sandboxed unit (gigapoold, its ExecReload) splits the direct map now
# and then by itself, most likely set_memory_ro() of their BPF programs
# (seccomp filters, device policy); docs/demo.md has the figures.
splits_before=$(splits)
say "\$ gigapoolctl reserve cvm-1 1536M --node 1"
ctl reserve cvm-1 1536M --node 1 | sed 's/^/# say   /'
check "cvm-1's reservation is on node 1" eq "$(reservation node cvm-1)" 1
check "the daemon reports it satisfied" eq "$(reservation satisfied cvm-1)" true
check "the daemon lent node 1 two chunks for it" node_is 1 nr_chunks 2
check "node 0 lent nothing" node_is 0 nr_chunks 0
check "the kernel offers no hibernation while chunks are lent" eval '! hibernation_offered'
row reserve

echo "# step cvm-start confidential VM cvm-1 starts: $cvm_sizes, bound to node 1"
gmem_before=$(pool 1 guest_memfd_pages)
check "cvm-1 holds its $cvm_memory memory" \
	start_vm cvm-1 confidential 1 "$cvm_secret_mib" "$cvm_gmem_mib"
cvm_pid=$vm_pid
check "all of cvm-1's ${cvm_pages} pages came from node 1's pool" \
	node_is 1 used_pages "$cvm_pages"
if [ "$cvm_gmem_mib" -gt 0 ]; then
	check "node 1's pool handed cvm-1's guest_memfd its $((cvm_gmem_mib * 256)) pages (no flag, prefer)" \
		eq "$(($(pool 1 guest_memfd_pages) - gmem_before))" "$((cvm_gmem_mib * 256))"
else
	skip "node 1's pool handed cvm-1's guest_memfd its pages (no flag, prefer)" \
		"no guest_memfd on the kernel package (no KVM_X86_SW_PROTECTED_VM)"
fi
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
check "0 direct-map splits from the lend through cvm-1's life to the reclaim" \
	same_number "$(splits)" "$splits_before"
row cvm-exit

# Ordinary-VM reservations, a step of its own: node 1 has two free 1 GiB
# pages and no chunk before it and after it.
echo "# step held-pages web-1 reserves node 1's two 1 GiB pages for an ordinary VM; the pool gives a chunk back for it"
say "\$ gigapoolctl reserve cvm-3 1G --node 1"
ctl reserve cvm-3 1G --node 1 | sed 's/^/# say   /'
check "the daemon lent node 1 a chunk for cvm-3" node_is 1 nr_chunks 1
say "\$ gigapoolctl reserve web-1 2G --kind ordinary --node 1"
ctl reserve web-1 2G --kind ordinary --node 1 | sed 's/^/# say   /'
check "web-1's reservation is ordinary" eq "$(reservation kind web-1)" '"ordinary"'
check "with cvm-3's chunk held, 1 GiB of web-1 is pending" \
	eq "$(reservation satisfied web-1) $(reservation pending_bytes web-1)" "false 1073741824"
say "\$ gigapoolctl release cvm-3     (its chunk is empty: web-1 takes it back)"
check "release cvm-3" ctl release cvm-3
check "the release's cycle reclaimed the chunk: node 1 has two free 1 GiB pages" \
	eq "$(pool 1 nr_chunks) $(huge 1 free_hugepages)" "0 2"
check "web-1 is satisfied" eq "$(reservation satisfied web-1)" true
check "Status shows two held pages on node 1" eq "$(status_value ordinary_reserved_pages 1)" 2
check "metrics show the held bytes on node 1" \
	eval 'ctl metrics | grep -qx "gigapool_ordinary_reserved_bytes{node=\"1\"} 2147483648"'
ctl list | sed 's/^/# say   /'
say "\$ gigapoolctl reserve cvm-4 1G --node 1     (no lend may take web-1's pages)"
ctl reserve cvm-4 1G --node 1 | sed 's/^/# say   /'
check "no chunk was lent from web-1's pages" eq "$(pool 1 nr_chunks) $(huge 1 free_hugepages)" "0 2"
check "release cvm-4" ctl release cvm-4
check "systemctl restart gigapoold" systemctl restart gigapoold.service
check "web-1's reservation survived the restart as ordinary" eq "$(reservation kind web-1)" '"ordinary"'
check "ordinary VM web-1 got its two 1 GiB pages on node 1" start_vm web-1 ordinary 1 2
web_pid=$vm_pid
say "\$ gigapoolctl release web-1     (the VM holds its pages now)"
check "release web-1" ctl release web-1
row held-pages
check "web-1 stops" stop_vm "$web_pid"
check "node 1 has two free 1 GiB pages and no chunk again" chunks_back 1 2

echo "# step restart cvm-2 reserves 1 GiB on node 1; then systemctl restart, and kill -9"
say "\$ gigapoolctl reserve cvm-2 1G --node 1"
ctl reserve cvm-2 1G --node 1 | sed 's/^/# say   /'
check "the daemon lent node 1 a chunk for cvm-2" node_is 1 nr_chunks 1
pid=$(unit MainPID)
say "\$ systemctl restart gigapoold"
check "systemctl restart gigapoold" systemctl restart gigapoold.service
check "gigapoold runs again as a new process" running_again "$pid"
check "cvm-2's reservation survived the restart" eq "$(reservation node cvm-2)" 1
pid=$(unit MainPID)
say "\$ systemctl kill --signal=SIGKILL gigapoold     (pid $pid)"
systemctl kill --signal=SIGKILL gigapoold.service
check "systemd restarted gigapoold after SIGKILL (Restart=on-failure)" \
	wait_for 30 running_again "$pid"
check "gigapoold answers on its socket again" wait_for 30 ctl status
check "cvm-2's reservation survived kill -9 (gigapoolctl list)" eq "$(reservation node cvm-2)" 1
ctl list | sed 's/^/# say   /'
ctl rebalance >/dev/null
check "the restarted daemon keeps cvm-2's chunk" node_is 1 nr_chunks 1
row restart

echo "# step reload an admin reloads a broken policy; gigapoold keeps the old one"
cp "$policy" /run/policy.good
# A comma short: a syntax error the parser must place in the file.
sed 's/"interval_sec": 2,/"interval_sec": 2/' /run/policy.good >"$policy"
pid=$(unit MainPID)
say "\$ systemctl reload gigapoold     (policy.json has a syntax error)"
check "systemctl reload gigapoold" systemctl reload gigapoold.service
check "the journal says the broken policy was refused and why" \
	wait_for 10 journal_says "reload: keeping the old policy: $policy:"
check "gigapoold still runs, same process" eq "$(unit MainPID) $(systemctl is-active gigapoold.service)" "$pid active"
check "cvm-2's reservation is kept" eq "$(reservation node cvm-2)" 1
check "the old policy still holds cvm-2's chunk" node_is 1 nr_chunks 1
cp /run/policy.good "$policy"
check "after the fix, the reload is applied" systemctl reload gigapoold.service
check "the journal says the policy was applied" \
	wait_for 10 journal_says "reload: policy $policy applied"
row reload

echo "# step teardown cvm-2 is cancelled, the ordinary VM stops"
splits_before=$(splits)
check "release cvm-2" ctl release cvm-2
check "stop the ordinary VM" stop_vm "$ordinary_pid"
check "within 30 s every chunk is back in hugetlb on both nodes" \
	wait_for 30 eval 'chunks_back 0 2 && chunks_back 1 2'
check "gigapoold reported no failed move" eq "$(status_value failures 0) $(status_value failures 1)" "0 0"
check "0 direct-map splits while the chunks went back" same_number "$(splits)" "$splits_before"
check "with every chunk back, the kernel offers hibernation again" hibernation_offered
row teardown
check "systemctl stop gigapoold" systemctl stop gigapoold.service
check "gigapoold exited 0 on SIGTERM" eq "$(unit ExecMainStatus) $(unit Result)" "0 success"
check "no systemd unit failed" eq "$(systemctl list-units --state=failed --no-legend --plain | wc -l)" 0
systemctl list-units --state=failed --no-legend --plain | sed 's/^/# say failed unit: /'
daemon_news

result "# checks $checks failed $nfailed"
if [ -z "$failed" ]; then
	result "# verdict scenario held: $cvm_verdict came from the pool on node 1, 0 direct-map splits, all chunks back in hugetlb, reservations kept across restart, kill -9 and a broken reload"
else
	result "# verdict FAILED: $failed"
fi
result "# e2e done"
# Closing the port waits until the UART has sent it all; the unit resets
# the machine right after.
exec 3>&-
