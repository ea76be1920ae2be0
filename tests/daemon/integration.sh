#!/bin/bash
# Integration tests: the real gigapoold and gigapoolctl against a fake sysfs
# root, with fakepool.so standing in for /dev/unmapped_pool.
# Usage: integration.sh BUILD_DIR TOP_DIR
set -uo pipefail

B=$1
TOP=$2
W=$(mktemp -d /tmp/gigapool-it.XXXXXX)
chmod 755 "$W"
PASS=0
FAIL=0
DPID=
PPC=262144		# 4 KiB pages per 1 GiB chunk

cleanup() {
	[ -n "${KEEP:-}" ] && return
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
ko() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() {	# check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else ko "$what"; fi
}
eq() {		# eq DESCRIPTION EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then ok "$1"; else ko "$1 (expected '$2', got '$3')"; fi
}
eventually() {	# eventually DESCRIPTION EXPECTED COMMAND...: eq, given up to 3 s to come true
	local what=$1 want=$2 got
	shift 2
	for _ in $(seq 60); do
		got=$("$@")
		[ "$got" = "$want" ] && break
		sleep 0.05
	done
	eq "$what" "$want" "$got"
}

# make_node ROOT NODE HUGETLB_TOTAL [CMA_CHUNKS]
make_node() {
	local d=$1/sys/devices/system/node/node$2
	mkdir -p "$d/hugepages/hugepages-1048576kB" "$d/unmapped_pool"
	echo "$3" >"$d/hugepages/hugepages-1048576kB/nr_hugepages"
	echo "$3" >"$d/hugepages/hugepages-1048576kB/free_hugepages"
	echo 0 >"$d/hugepages/hugepages-1048576kB/surplus_hugepages"
	for f in nr_chunks free_pages used_pages lends reclaims alloc_failures \
		 fallbacks tlb_flushes; do
		echo 0 >"$d/unmapped_pool/$f"
	done
	[ $# -ge 4 ] && echo "$4" >"$d/unmapped_pool/fake_cma_chunks"
	return 0
}

# make_root ROOT NODES WITH_POOL
make_root() {
	mkdir -p "$1/sys/devices/system/node" "$1/dev"
	echo "0-$(($2 - 1))" >"$1/sys/devices/system/node/online"
	[ "$3" = pool ] && mkfifo "$1/dev/unmapped_pool"
	return 0
}

# one_node ROOT HUGETLB_TOTAL MAX_MOVES COOLDOWN_SEC [MORE_POLICY_JSON]: a pool root
# with node 0 and ROOT/policy.json keeping the band [1, 2]
one_node() {
	make_root "$1" 1 pool
	make_node "$1" 0 "$2"
	cat >"$1/policy.json" <<EOF
{
	"defaults": { "keep_free_hugetlb": 1, "headroom_low": 1, "headroom_high": 2,
		      "max_pool_chunks": 16, "max_moves": $3, "cooldown_sec": $4 },
	"interval_sec": 3600${5:+,
	$5}
}
EOF
}

pool() { cat "$1/sys/devices/system/node/node$2/unmapped_pool/$3"; }
huge() { cat "$1/sys/devices/system/node/node$2/hugepages/hugepages-1048576kB/$3"; }

# start ROOT POLICY [extra gigapoold options]
start() {
	local root=$1 policy=$2
	shift 2
	rm -f "$root/S"
	FAKEPOOL_ROOT=$root LD_PRELOAD=$B/fakepool.so \
		"$B/gigapoold" --policy "$policy" --socket "$root/S" --state-dir "$root/state" \
		--sysfs-root "$root" "$@" 2>>"$root/log" &
	DPID=$!
	for _ in $(seq 100); do
		[ -S "$root/S" ] && return 0
		sleep 0.05
	done
	echo "gigapoold did not come up; log:"
	cat "$root/log"
	return 1
}

stop() {	# stop: SIGTERM must end the daemon within a second
	local t0=$(date +%s%N)
	# A daemon that is gone already failed the checks before: say so, and why.
	if ! kill -0 "$DPID" 2>/dev/null; then
		ko "the daemon was still running before SIGTERM; its log ends:"
		tail -n 5 "$R/log"
	fi
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID"
	local rc=$? ms=$((($(date +%s%N) - t0) / 1000000))
	DPID=
	eq "SIGTERM exits with status 0" 0 "$rc"
	check "SIGTERM exits within a second (${ms} ms)" [ "$ms" -lt 1000 ]
}

ctl() { "$B/gigapoolctl" --socket "$R/S" "$@"; }
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
jq_num() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
resv() { jq_num "[r for r in d['reservations'] if r['owner'] == '$1'][0]$2" <<<"$(ctl --json list)"; }

# ---------------------------------------------------------------- hugetlb-only
echo "# hugetlb-only mode (no pool device), shipped policy"
R=$W/plain
make_root "$R" 2 none
make_node "$R" 0 3
make_node "$R" 1 1
G=$R/sys/kernel/mm/hugepages/hugepages-1048576kB
mkdir -p "$G"
echo 4 >"$G/nr_hugepages"; echo 4 >"$G/free_hugepages"
echo 1 >"$G/resv_hugepages"; echo 0 >"$G/surplus_hugepages"
start "$R" "$TOP/config/policy.json" || exit 1

out=$(ctl call org.varlink.service.GetInfo)
check "GetInfo lists io.gigapool.Pool" grep -q '"io.gigapool.Pool"' <<<"$out"
out=$(ctl call org.varlink.service.GetInterfaceDescription '{"interface":"io.gigapool.Pool"}')
check "GetInterfaceDescription returns the IDL" grep -q 'method Reserve' <<<"$out"
out=$(ctl --json status)
eq "Status reports hugetlb-only mode" hugetlb-only "$(jq_num 'd["mode"]' <<<"$out")"
eq "Status reports node 0 hugetlb pages" 3 "$(jq_num 'd["nodes"][0]["hugetlb_total"]' <<<"$out")"
eq "Status reports two nodes" 2 "$(jq_num 'len(d["nodes"])' <<<"$out")"
eq "Status reports the global hugetlb reservations" 1 "$(jq_num 'd["hugetlb"]["reserved"]' <<<"$out")"
out=$(ctl status)
check "status prints a table" grep -q '^NODE .*FREE_1G' <<<"$out"
check "status table says hugetlb-only" grep -q 'hugetlb-only' <<<"$out"
ctl reserve vm1 2G >/dev/null 2>&1
eq "Reserve in hugetlb-only mode exits 6 (PoolUnavailable)" 6 $?
nobody "$B/gigapoolctl" --socket "$R/S" reserve vm1 2G >/dev/null 2>&1
eq "non-root Reserve exits 4 (PermissionDenied)" 4 $?
nobody "$B/gigapoolctl" --socket "$R/S" status >/dev/null
eq "non-root Status is allowed" 0 $?

# rawclient --hold keeps its end open: "[closed]" is the daemon closing
# the connection, "[timeout]" a connection it kept open without replying.
out=$(printf '{"method":"io.gigapool.Pool.Status"}\0' | "$B/rawclient" --hold "$R/S")
eq "a good call gets a reply on a connection kept open" \
	'1 [timeout]' "$(grep -c '"parameters"' <<<"$out") $(tail -n1 <<<"$out")"
out=$(printf 'garbage\0' | "$B/rawclient" --hold "$R/S")
eq "garbage gets the connection closed" "[closed]" "$out"
out=$(printf '{"method":"io.gigapool.Pool.Nope"}\0' | "$B/rawclient" "$R/S")
check "unknown method gets MethodNotFound" grep -q 'org.varlink.service.MethodNotFound' <<<"$out"
out=$(printf '{"method":"io.gigapool.Pool.Status","parameters":5}\0' | "$B/rawclient" --hold "$R/S")
eq "parameters of the wrong type close the connection" "[closed]" "$out"
out=$(head -c 300000 /dev/zero | tr '\0' 'x' | "$B/rawclient" --hold "$R/S")
eq "an oversized message closes the connection" "[closed]" "$(tail -n1 <<<"$out")"
out=$(printf '{"method":"io.gigapool.Pool.Status"}\0{"method":"org.varlink.service.GetInfo"}\0' |
	"$B/rawclient" "$R/S")
eq "two pipelined calls get two replies" 2 "$(grep -c '"parameters"' <<<"$out")"
out=$(for i in $(seq 1000); do printf '{"method":"io.gigapool.Pool.Status"}\0'; done | "$B/rawclient" "$R/S")
eq "1000 pipelined calls and a half-close get 1000 replies" 1000 "$(grep -c '"parameters"' <<<"$out")"
out=$(printf '{"method":"org.varlink.service.GetInfo","parameters":null}\0' | "$B/rawclient" "$R/S")
check 'GetInfo with "parameters": null is answered (varlink/go)' grep -q '"product":"gigapoold"' <<<"$out"
out=$(printf '{"method":"io.gigapool.Pool.Status","upgrade":false}\0{"method":"io.gigapool.Pool.Status","upgrade":true}\0' |
	"$B/rawclient" "$R/S")
eq '"upgrade": false is a plain call, true is refused' \
	'1 1' "$(grep -c '"mode"' <<<"$out") $(grep -c '"parameter":"upgrade"' <<<"$out")"
out=$(printf '{"method":"io.gigapool.Pool.Release","parameters":{"owner":"vm1\\u0000other"}}\0' |
	"$B/rawclient" "$R/S")
check "a NUL inside a string is refused with InvalidParameter" grep -q '"parameter":"owner"' <<<"$out"
out=$(printf '{"method":"io.gigapool.Pool.Status"} {"method":"io.gigapool.Pool.Status"}\0' |
	"$B/rawclient" --hold "$R/S")
eq "two objects in one message close the connection" "[closed]" "$out"
out=$(printf '{"method":"io.gigapool.Pool.Status","parameters":{"verbose":true}}\0' | "$B/rawclient" "$R/S")
check "an unknown parameter is refused by name" grep -q '"parameter":"verbose"' <<<"$out"
ctl status >/dev/null
eq "still serving after malformed input" 0 $?
ctl metrics >"$W/metrics"
check "metrics prints Prometheus text" grep -q '^gigapool_hugetlb_1g_pages{node="0"} 3$' "$W/metrics"
"$B/gigapoolctl" --socket "$W/nonexistent" status 2>/dev/null
eq "unreachable daemon exits 3" 3 $?
stop
check "SIGTERM is logged with its sender" grep -q "SIGTERM from pid $$ (.*), uid 0" "$R/log"

# ------------------------------------------------------------------ pool mode
echo "# pool mode with the fake device"
R=$W/pool
make_root "$R" 2 pool
make_node "$R" 0 4
make_node "$R" 1 2 4
P=$R/policy.json
cat >"$P" <<EOF
{
	"defaults": { "keep_free_hugetlb": 1, "headroom_low": 1, "headroom_high": 2,
		      "max_pool_chunks": 16, "max_moves": 8, "cooldown_sec": 0 },
	"interval_sec": 3600,
	"retry": { "attempts": 20, "backoff_ms": 50, "backoff_max_ms": 200 },
	"textfile": "$R/gigapool.prom",
	"limits": { "max_connections_per_uid": 2, "max_connections": 8, "idle_timeout_sec": 1,
		    "max_message_bytes": 1024 }
}
EOF
start "$R" "$P" || exit 1
eq "initial apply lends headroom_high on node 0" 2 "$(pool "$R" 0 nr_chunks)"
eq "node 0 lent from hugetlb" 2 "$(huge "$R" 0 free_hugepages)"
eq "node 1 reaches headroom_high" 2 "$(pool "$R" 1 nr_chunks)"
eq "node 1 keeps one free 1 GiB page (rest from CMA)" 1 "$(huge "$R" 1 free_hugepages)"
eq "node 1 CMA gave one chunk" 3 "$(pool "$R" 1 fake_cma_chunks)"
eq "low watermark set on node 0" $PPC "$(pool "$R" 0 low_watermark)"
check "textfile written" grep -q "^gigapool_pool_chunks{node=\"0\"} 2$" "$R/gigapool.prom"

out=$(ctl --json reserve vm1 3G --node 0)
eq "Reserve on node 0 succeeds" 0 $?
eq "reservation is satisfied" True "$(jq_num 'd["satisfied"]' <<<"$out")"
eq "node 0 pool grew to 3 chunks" 3 "$(pool "$R" 0 nr_chunks)"
ctl reserve vm1 1G >/dev/null 2>&1
eq "duplicate owner exits 7" 7 $?
ctl reserve 'bad owner!' 1G >/dev/null 2>&1
eq "invalid owner exits 7" 7 $?
for size in ' -1' -1 '' 1X 0 9007199254740992 8P; do
	ctl reserve vmx "$size" >/dev/null 2>&1
	eq "reserve refuses the size '$size' (exit 2)" 2 $?
done
for node in '' -1 ' 1' 1x 99999; do
	ctl reserve vmx 1G --node "$node" >/dev/null 2>&1
	eq "reserve refuses --node '$node' (exit 2)" 2 $?
done
ctl reserve small 4M --node 0 >/dev/null
check "a 4 MiB reservation is listed as 4.00M" grep -Eq '^small +confidential +0 +4.00M ' <<<"$(ctl list)"
ctl release small >/dev/null
out=$(ctl --json reserve vm2 1G)
eq "Reserve for any node picks one" 0 $?
check "state file holds both reservations" grep -q '"vm2"' "$R/state/reservations.json"

{ kill -9 "$DPID" && wait "$DPID"; } 2>/dev/null	# bash would report "Killed"
DPID=
start "$R" "$P" || exit 1
out=$(ctl --json list)
eq "reservations survive kill -9" 2 "$(jq_num 'len(d["reservations"])' <<<"$out")"
out=$(ctl list)
check "list prints a table" grep -q '^vm1 ' <<<"$out"

ctl release vm2 >/dev/null && ctl release vm1 >/dev/null
eq "Release succeeds" 0 $?
ctl release vm1 >/dev/null 2>&1
eq "releasing twice exits 7 (NoSuchReservation)" 7 $?
eq "surplus is reclaimed after release" 2 "$(pool "$R" 0 nr_chunks)"

echo "# partial success: CMA busy on node 1"
echo 0 >"$R/sys/devices/system/node/node1/unmapped_pool/fake_cma_chunks"
ctl reserve vm3 4G --node 1 >/dev/null
out=$(ctl --json status)
eq "failure reports requested chunks" 3 "$(jq_num 'd["nodes"][1]["last_failure"]["requested"]' <<<"$out")"
eq "failure reports achieved chunks" 0 "$(jq_num 'd["nodes"][1]["last_failure"]["achieved"]' <<<"$out")"
check "failure is logged with requested and achieved" \
	grep -q 'node 1: lend from CMA: requested 3, achieved 0: Cannot allocate memory' "$R/log"
sleep 0.4	# backoff 50, 100, 200 ms: at least two retries by now
echo 5 >"$R/sys/devices/system/node/node1/unmapped_pool/fake_cma_chunks"
sleep 1
eq "retry with backoff completes the reservation" 1 "$(($(pool "$R" 1 free_pages) / PPC >= 4))"
check "retries were logged" [ "$(grep -c 'lend from CMA: requested 3, achieved 0' "$R/log")" -ge 3 ]
ctl release vm3 >/dev/null

echo "# pool event"
chunks=$(pool "$R" 0 nr_chunks)
echo $((chunks * PPC - PPC / 2)) >"$R/sys/devices/system/node/node0/unmapped_pool/used_pages"
echo $((PPC / 2)) >"$R/sys/devices/system/node/node0/unmapped_pool/free_pages"
echo x >"$R/dev/unmapped_pool"
sleep 0.3
# Node 0 has two free 1 GiB pages and keeps one: one chunk can be lent.
eq "a pool event makes the daemon lend" $((chunks + 1)) "$(pool "$R" 0 nr_chunks)"
check "the event was acknowledged (FIFO drained)" \
	[ "$(timeout 0.2 cat "$R/dev/unmapped_pool" 2>/dev/null | wc -c)" = 0 ]

echo "# allocation failure"
chunks=$(pool "$R" 0 nr_chunks)
echo 0 >"$R/sys/devices/system/node/node0/unmapped_pool/used_pages"
echo $((PPC * chunks)) >"$R/sys/devices/system/node/node0/unmapped_pool/free_pages"
echo 2 >"$R/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/free_hugepages"
ctl rebalance >/dev/null	# reclaim the surplus: two free chunks (headroom_high)
chunks=$(pool "$R" 0 nr_chunks)
echo $PPC >"$R/sys/devices/system/node/node0/unmapped_pool/used_pages"
echo $(((chunks - 1) * PPC)) >"$R/sys/devices/system/node/node0/unmapped_pool/free_pages"
ctl rebalance >/dev/null
eq "one free chunk is inside the band: nothing moves" "$chunks" "$(pool "$R" 0 nr_chunks)"
echo 1 >"$R/sys/devices/system/node/node0/unmapped_pool/fake_alloc_failed"
echo x >"$R/dev/unmapped_pool"
sleep 0.3
check "an allocation failure is logged" grep -q 'node 0: the pool failed an allocation' "$R/log"
eq "an allocation failure refills the band to headroom_high" $((chunks + 1)) "$(pool "$R" 0 nr_chunks)"

echo 5 >"$R/sys/devices/system/node/node0/unmapped_pool/low_watermark"
ctl rebalance >/dev/null
check "a changed low watermark is noticed on read back" grep -q 'node 0: read back low watermark 5' "$R/log"
eq "and set again" $PPC "$(pool "$R" 0 low_watermark)"

out=$(for i in $(seq 40); do printf '{"method":"org.varlink.service.GetInfo"}\0'; done | "$B/rawclient" "$R/S")
eq "40 pipelined calls (more than max_message_bytes together) get 40 replies" 40 "$(grep -c '"parameters"' <<<"$out")"

echo "# reload"
cp "$P" "$P.good"
echo '{ "defaults": { "headroom_low": 3, }' >"$P"
kill -HUP "$DPID"
sleep 0.3
check "broken policy on reload is refused with file:line:column" \
	grep -q "keeping the old policy: $P:1:" "$R/log"
echo '{ "defaults": { "headroom_lo": 3 } }' >"$P"
kill -HUP "$DPID"
sleep 0.3
check "unknown key on reload is refused with its JSON path" grep -q '\$.defaults.headroom_lo: unknown key' "$R/log"
cp "$P.good" "$P"
kill -HUP "$DPID"
sleep 0.3
check "a good policy is applied on reload" grep -q "reload: policy $P applied" "$R/log"
ctl status >/dev/null
eq "still serving after reloads" 0 $?

echo "# limits"
fds_before=$(ls /proc/$DPID/fd | wc -l)
(sleep 3 | nobody "$B/rawclient" "$R/S" >/dev/null) &
h1=$!
(sleep 3 | nobody "$B/rawclient" "$R/S" >/dev/null) &
h2=$!
sleep 0.3
nobody "$B/gigapoolctl" --socket "$R/S" status >/dev/null 2>&1
eq "a third connection of one uid is refused" 3 $?
ctl status >/dev/null
eq "another uid is still served" 0 $?
sleep 1.2
eq "idle connections are closed" "$fds_before" "$(ls /proc/$DPID/fd | wc -l)"
wait $h1 $h2
stop

echo "# move budget and cooldown"
R=$W/budget
one_node "$R" 12 2 3600
Q=$R/policy.json
start "$R" "$Q" || exit 1
eq "the first cycle lends headroom_high" 2 "$(pool "$R" 0 nr_chunks)"
ctl reserve vm1 7G >/dev/null
# 7 reserved and headroom_low beyond: 6 chunks at 2 a cycle, and no pool event.
eventually "a reservation beyond the move budget is lent in cycles that follow at once" \
	8 pool "$R" 0 nr_chunks
check "the deferred moves are logged" grep -q 'the move budget leaves 5 chunks; next cycle in' "$R/log"
ctl release vm1 >/dev/null
eq "a surplus right after a lend is kept for the cooldown" 8 "$(pool "$R" 0 nr_chunks)"
sed -i 's/"max_pool_chunks": 16/"max_pool_chunks": 3/' "$Q"
kill -HUP "$DPID"
eventually "a lower cap is reclaimed 2 chunks a cycle, cooldown or not" 3 pool "$R" 0 nr_chunks
echo $((3 * PPC)) >"$R/sys/devices/system/node/node0/unmapped_pool/used_pages"
echo 0 >"$R/sys/devices/system/node/node0/unmapped_pool/free_pages"
sed -i 's/"max_pool_chunks": 3/"max_pool_chunks": 16/' "$Q"
kill -HUP "$DPID"
eventually "an empty pool is refilled right after a reclaim: the cooldown holds no lend" \
	5 pool "$R" 0 nr_chunks
stop

echo "# stranded free pages: a reclaim asks for empty chunks only"
R=$W/stranded
one_node "$R" 8 8 0 '"retry": { "attempts": 20, "backoff_ms": 50, "backoff_max_ms": 200 }'
S=$R/policy.json
# strand EMPTY: 6 chunks, one chunk's worth of pages in use and 5 free (3
# above headroom_high), spread so that only EMPTY chunks have no page in use.
strand() {
	local d=$R/sys/devices/system/node/node0
	echo 6 >"$d/unmapped_pool/nr_chunks"
	echo $((5 * PPC)) >"$d/unmapped_pool/free_pages"
	echo $PPC >"$d/unmapped_pool/used_pages"
	echo "$1" >"$d/unmapped_pool/empty_chunks"
	echo 2 >"$d/hugepages/hugepages-1048576kB/nr_hugepages"
	echo 2 >"$d/hugepages/hugepages-1048576kB/free_hugepages"
}
start "$R" "$S" || exit 1
strand 0
reclaims=$(pool "$R" 0 reclaims)
out=$(ctl --json rebalance)
eq "no reclaim is asked for when no chunk is empty" 0 "$(jq_num 'd["nodes"][0]["reclaim_requested"]' <<<"$out")"
eq "the cycle does not fall short" "last cycle (rebalance) ok" "$(jq_num 'd["result"]' <<<"$out")"
sleep 0.3	# a retry would come after 50 ms
eq "the kernel is asked for no reclaim" "$reclaims" "$(pool "$R" 0 reclaims)"
eq "no short reclaim is logged" 0 "$(grep -c 'reclaim: requested' "$R/log")"
out=$(ctl --json status)
eq "Status reports the empty chunks" 0 "$(jq_num 'd["nodes"][0]["pool_empty_chunks"]' <<<"$out")"
eq "Status reports no failure" 0 "$(jq_num 'd["nodes"][0]["failures"]' <<<"$out")"
check "status prints the empty chunks" grep -Eq '^0 +yes +2 +2 +6 +0 ' <<<"$(ctl status)"
check "metrics print the empty chunks" grep -q '^gigapool_pool_empty_chunks{node="0"} 0$' <<<"$(ctl metrics)"
echo 5 >"$R/sys/devices/system/node/node0/unmapped_pool/empty_chunks"
ctl rebalance >/dev/null
eq "once chunks are empty the surplus is reclaimed" 3 "$(pool "$R" 0 nr_chunks)"
eq "with three reclaims" $((reclaims + 3)) "$(pool "$R" 0 reclaims)"
eq "and no more" 2 "$(pool "$R" 0 empty_chunks)"
stop
# A kernel without empty_chunks: free pages bound the reclaim, as before.
strand 0
FAKEPOOL_OLD_KERNEL=1 start "$R" "$S" || exit 1
out=$(ctl --json status)
eq "an older kernel: free pages stand for empty chunks" 5 "$(jq_num 'd["nodes"][0]["pool_empty_chunks"]' <<<"$out")"
check "an older kernel: the reclaim falls short as before" \
	grep -q 'node 0: reclaim: requested 3, achieved 0: Device or resource busy' "$R/log"
stop

echo "# compaction: chunks emptied by moving pages, then reclaimed"
R=$W/compact
# A page budget of 3/4 of a chunk: one half-full chunk fits a cycle, two do not.
one_node "$R" 2 8 0 '"retry": { "attempts": 3, "backoff_ms": 50, "backoff_max_ms": 100 },
	"max_compact_pages_per_cycle": 196608'
# fragment: 6 chunks, three chunks' worth of pages in use spread over all
# of them (half of each), so none is empty; 2 free 1 GiB pages.
fragment() {
	local d=$R/sys/devices/system/node/node0
	echo 6 >"$d/unmapped_pool/nr_chunks"
	echo $((3 * PPC)) >"$d/unmapped_pool/free_pages"
	echo $((3 * PPC)) >"$d/unmapped_pool/used_pages"
	echo 0 >"$d/unmapped_pool/empty_chunks"
	echo 2 >"$d/hugepages/hugepages-1048576kB/nr_hugepages"
	echo 2 >"$d/hugepages/hugepages-1048576kB/free_hugepages"
}
stat() { jq_num "d['nodes'][0]['$1']" <<<"$(ctl --json status)"; }
fragment
start "$R" "$R/policy.json" || exit 1
eq "a pool inside its band with enough free 1 GiB pages is not compacted" \
	"0 0" "$(pool "$R" 0 fake_compact_calls 2>/dev/null || echo 0) $(stat compactions)"
eq "Status says the kernel can compact" True "$(jq_num 'd["compaction"]' <<<"$(ctl --json status)")"
out=$(ctl --json plan)
eq "nothing to compact in the plan" 0 "$(jq_num 'd["nodes"][0]["compact"]' <<<"$out")"
# 4 pages for web, 2 free, no empty chunk: 2 chunks to empty, 1 a cycle.
out=$(ctl --json reserve web 4G --kind ordinary --node 0)
# The reply comes right after the reservation's cycle, before the next one.
eq "the first cycle empties and reclaims the one chunk the page budget allows" \
	"False $((1 << 30))" "$(jq_num 'd["satisfied"], d["pending_bytes"]' <<<"$out" | tr -d '(),')"
check "what the budget left is logged once, with the pages" \
	grep -q 'node 0: compact 1 of 2 chunks, 131072 pages moved (reservation); 1 chunks not emptied: 131072 pages over the page budget' "$R/log"
eventually "the next cycle (100 ms later) empties the other: the reservation is satisfied" \
	True resv web '["satisfied"]'
eq "two chunks went back to hugetlb" "4 4" "$(pool "$R" 0 nr_chunks) $(huge "$R" 0 free_hugepages)"
eq "Status counts both compactions" 2 "$(stat compactions)"
eq "and the pages they moved, as the kernel counted them" "$(pool "$R" 0 compact_pages_moved)" \
	"$(stat compact_pages_moved)"
eq "and the chunks they emptied" 2 "$(stat compact_chunks_emptied)"
eq "and the pages the budget left" 131072 "$(stat compact_pages_over_budget)"
eq "a budget cut is no failure" 0 "$(stat failures)"
out=$(ctl metrics)
check "metrics count the compactions" grep -q '^gigapool_compactions_total{node="0"} 2$' <<<"$out"
check "metrics count the pages moved" \
	grep -q "^gigapool_compact_pages_moved_total{node=\"0\"} $(pool "$R" 0 compact_pages_moved)$" <<<"$out"
check "metrics give the stuck pages by reason" \
	grep -q '^gigapool_compact_stuck_pages_total{node="0",reason="over_budget"} 131072$' <<<"$out"
check "metrics say the kernel can compact" grep -q '^gigapool_compaction_supported 1$' <<<"$out"
out=$(ctl status)
check "status says the kernel can compact" grep -q '^compaction: supported$' <<<"$out"
check "status prints the compaction counters" grep -Eq '^0 +2 +[0-9]+ +2 +0 +0 +131072 +0$' <<<"$out"
ctl release web >/dev/null
# Every chunk in use holds a pinned page: nothing can be emptied.
fragment
echo 6 >"$R/sys/devices/system/node/node0/unmapped_pool/fake_pinned_chunks"
before=$(stat compactions)
ctl reserve web 4G --kind ordinary --node 0 >/dev/null
# Retries after 50, 100, 100 ms, then the daemon gives up: wait until the
# count has stopped rising (each cycle's moves run on the worker, so the
# retries may take longer than their delays), at most 5 s.
n=-1
for _ in $(seq 25); do
	sleep 0.2
	c=$(stat compactions)
	[ "$c" = "$n" ] && break
	n=$c
done
n=$((n - before))
check "pinned pages: the compaction is retried with backoff ($n times)" [ "$n" -ge 2 ]
eq "with one log line per compaction, not per page" "$n" \
	"$(grep -c 'compact 0 of 2 chunks, 0 pages moved (reservation); 2 chunks not emptied: 262144 pages pinned' "$R/log")"
eq "nothing is reclaimed" 2 "$(huge "$R" 0 free_hugepages)"
eq "the reservation stays pending" $((2 << 30)) "$(resv web '["pending_bytes"]')"
eq "Status sums the pinned pages" $((n * 262144)) "$(stat compact_pages_pinned)"
# Pages busy for the moment: the retry moves them.
echo 0 >"$R/sys/devices/system/node/node0/unmapped_pool/fake_pinned_chunks"
echo 7 >"$R/sys/devices/system/node/node0/unmapped_pool/fake_busy_pages"
ctl rebalance >/dev/null
check "busy pages are logged as such" grep -q '2 chunks not emptied: 7 pages busy' "$R/log"
eventually "and a retry moves them" True resv web '["satisfied"]'
eq "Status counts the busy pages" 7 "$(stat compact_pages_busy)"
ctl release web >/dev/null
# keep_free_hugetlb alone: 3 free 1 GiB pages wanted, 2 free.
fragment
sed -i 's/"keep_free_hugetlb": 1/"keep_free_hugetlb": 3/' "$R/policy.json"
kill -HUP "$DPID"
eventually "keep_free_hugetlb: one chunk is emptied and given back" 3 huge "$R" 0 free_hugepages
check "for hugetlb" grep -q 'node 0: compact 1 of 1 chunks, 131072 pages moved (hugetlb)' "$R/log"
sed -i 's/"keep_free_hugetlb": 3/"keep_free_hugetlb": 1/' "$R/policy.json"
stop
# A kernel without UNMAPPED_POOL_FEAT_COMPACT: the shortfall as before.
fragment
echo 0 >"$R/sys/devices/system/node/node0/unmapped_pool/fake_compact_calls"
FAKEPOOL_NO_COMPACT=1 start "$R" "$R/policy.json" || exit 1
out=$(ctl --json reserve web2 4G --kind ordinary --node 0)
eq "no compaction: the reservation is pending as before" $((2 << 30)) "$(jq_num 'd["pending_bytes"]' <<<"$out")"
eq "no COMPACT ioctl was tried" 0 "$(pool "$R" 0 fake_compact_calls)"
out=$(ctl --json plan)
eq "the plan has the shortfall and nothing to compact" "2 0" \
	"$(jq_num 'd["nodes"][0]["ordinary_shortfall"]' <<<"$out") $(jq_num 'd["nodes"][0]["compact"]' <<<"$out")"
eq "Status says the kernel cannot compact" False "$(jq_num 'd["compaction"]' <<<"$(ctl --json status)")"
check "status says so" grep -q '^compaction: not supported by the kernel$' <<<"$(ctl status)"
check "metrics say so" grep -q '^gigapool_compaction_supported 0$' <<<"$(ctl metrics)"
stop
# The policy can turn it off on a kernel that has it.
sed -i 's/"max_compact_pages_per_cycle": 196608/"max_compact_pages_per_cycle": 0/' "$R/policy.json"
start "$R" "$R/policy.json" || exit 1
ctl rebalance >/dev/null
eq "max_compact_pages_per_cycle 0: no compaction either" 0 "$(pool "$R" 0 fake_compact_calls)"
stop

echo "# ordinary-VM reservations: free 1 GiB pages held"
R=$W/ordinary
# 20 pages, no CMA, band [1, 2]; the cooldown keeps reclaims of choice out.
one_node "$R" 20 8 3600
start "$R" "$R/policy.json" || exit 1
ctl reserve cvm 8G --node 0 >/dev/null
eq "a confidential reservation is lent (from hugetlb)" 10 "$(pool "$R" 0 nr_chunks)"
eq "leaving 10 free 1 GiB pages" 10 "$(huge "$R" 0 free_hugepages)"
eq "a reservation without --kind is confidential" confidential "$(resv cvm '["kind"]')"
out=$(ctl --json reserve web-1 16G --kind ordinary --node 0)
eq "Reserve --kind ordinary succeeds" 0 $?
eq "the reply carries the kind" ordinary "$(jq_num 'd["kind"]' <<<"$out")"
# 6 pages short: of the 10 free chunks 8 are held by cvm, so 2 come back now.
eq "empty chunks not held by confidential reservations come back" 8 "$(pool "$R" 0 nr_chunks)"
eq "as free 1 GiB pages" 12 "$(huge "$R" 0 free_hugepages)"
eq "the reply says it is not yet satisfied" False "$(jq_num 'd["satisfied"]' <<<"$out")"
eq "and what is pending (4 GiB)" $((4 << 30)) "$(jq_num 'd["pending_bytes"]' <<<"$out")"
check "the pending pages are logged" \
	grep -q 'node 0: 4 free 1 GiB pages still pending for ordinary reservations' "$R/log"
out=$(ctl --json plan)
eq "Plan shows the pending pages" 4 "$(jq_num 'd["nodes"][0]["ordinary_shortfall"]' <<<"$out")"
eq "Plan shows the held pages" 16 "$(jq_num 'd["nodes"][0]["ordinary_reserved_pages"]' <<<"$out")"
check "list shows kind and pending" grep -Eq '^web-1 +ordinary +0 +16.00G +no +no +4.00G ' <<<"$(ctl list)"
ctl release cvm >/dev/null
eq "once chunks are free of confidential holds they come back" 16 "$(huge "$R" 0 free_hugepages)"
eq "web-1 is satisfied" True "$(resv web-1 '["satisfied"]')"
eq "nothing is pending" 0 "$(resv web-1 '["pending_bytes"]')"
eq "the pool keeps the rest" 4 "$(pool "$R" 0 nr_chunks)"
# A confidential reservation may not take the held pages (no CMA: shortfall).
ctl reserve cvm2 6G --node 0 >/dev/null
eq "no lend takes the held pages" 16 "$(huge "$R" 0 free_hugepages)"
eq "the confidential reservation waits" False "$(resv cvm2 '["satisfied"]')"
out=$(ctl --json status)
eq "Status shows ordinary bytes per node" $((16 << 30)) \
	"$(jq_num 'd["nodes"][0]["ordinary_reserved_bytes"]' <<<"$out")"
eq "Status shows ordinary pages per node" 16 \
	"$(jq_num 'd["nodes"][0]["ordinary_reserved_pages"]' <<<"$out")"
eq "Status keeps reserved_bytes for confidential ones" $((6 << 30)) \
	"$(jq_num 'd["nodes"][0]["reserved_bytes"]' <<<"$out")"
check "status prints the held pages" grep -Eq '^0 +yes +16 +16 .* 6.00G +16.00G ' <<<"$(ctl status)"
check "metrics carry the ordinary bytes" \
	grep -q "^gigapool_ordinary_reserved_bytes{node=\"0\"} $((16 << 30))$" <<<"$(ctl metrics)"
ctl reserve x 1G --kind secret >/dev/null 2>&1
eq "an unknown --kind exits 2" 2 $?
out=$(printf '{"method":"io.gigapool.Pool.Reserve","parameters":{"owner":"x","bytes":1,"kind":"secret"}}\0' |
	"$B/rawclient" "$R/S")
check "an unknown kind is refused with InvalidParameter" grep -q '"parameter":"kind"' <<<"$out"
out=$(printf '{"method":"io.gigapool.Pool.Reserve","parameters":{"owner":"x","bytes":1,"kind":null}}\0' |
	"$B/rawclient" "$R/S")
check '"kind": null is a confidential reservation' grep -q '"kind":"confidential"' <<<"$out"
ctl release x >/dev/null
out=$(ctl --json reserve web-2 2G --kind ordinary)
eq "an ordinary reservation for any node" 0 "$(jq_num 'd["node"]' <<<"$out")"
{ kill -9 "$DPID" && wait "$DPID"; } 2>/dev/null
DPID=
check "the state file names each kind" grep -q '"kind":.*"ordinary"' "$R/state/reservations.json"
start "$R" "$R/policy.json" || exit 1
eq "kinds survive kill -9" "ordinary confidential" "$(resv web-1 '["kind"]') $(resv cvm2 '["kind"]')"
eq "the held pages are still held" 16 "$(huge "$R" 0 free_hugepages)"
eq "and what cvm2 holds is not given to web-2" $((2 << 30)) "$(resv web-2 '["pending_bytes"]')"
stop
# A state file from before kinds existed.
echo '{"version":1,"reservations":[{"owner":"old","bytes":1073741824,"node":0,"any":false,"created":1}]}' \
	>"$R/state/reservations.json"
start "$R" "$R/policy.json" || exit 1
eq "a state file without kinds loads them as confidential" confidential "$(resv old '["kind"]')"
stop

echo "# the libvirt hook against the daemon"
R=$W/libvirt
make_root "$R" 2 pool
make_node "$R" 0 16
make_node "$R" 1 12
cat >"$R/policy.json" <<EOF
{
	"defaults": { "keep_free_hugetlb": 1, "headroom_low": 1, "headroom_high": 2,
		      "max_pool_chunks": 16, "max_moves": 16, "cooldown_sec": 3600 },
	"interval_sec": 3600
}
EOF
start "$R" "$R/policy.json" || exit 1
cat >"$W/ctl-libvirt" <<CTL
#!/bin/sh
exec "$B/gigapoolctl" --socket "$R/S" "\$@"
CTL
chmod +x "$W/ctl-libvirt"
# As libvirt runs it: DOMAIN OPERATION SUB-OPERATION EXTRA, the XML on stdin.
hook() { GIGAPOOLCTL=$W/ctl-libvirt "$B/gigapool-libvirt-hook" "$@" 2>>"$R/hook.log"; }
X=$TOP/tests/daemon/libvirt
hook web-1 prepare begin - <"$X/ordinary-1g.xml"
eq "the hook reserves an ordinary VM's 1 GiB pages on its node" "ordinary 0 True" \
	"$(resv libvirt-web-1 '["kind"]') $(resv libvirt-web-1 '["node"]') $(resv libvirt-web-1 '["satisfied"]')"
eq "node 0's chunks came back for it: 16 free 1 GiB pages" "16 0" \
	"$(huge "$R" 0 free_hugepages) $(pool "$R" 0 nr_chunks)"
hook cvm-snp prepare begin - <"$X/cvm-snp.xml"
eq "and a confidential VM's chunks on its node" "confidential 1 True" \
	"$(resv libvirt-cvm-snp '["kind"]') $(resv libvirt-cvm-snp '["node"]') $(resv libvirt-cvm-snp '["satisfied"]')"
hook web-1 release end - <"$X/ordinary-1g.xml"
hook cvm-snp release end - <"$X/cvm-snp.xml"
eq "release end releases both" 0 "$(jq_num 'len(d["reservations"])' <<<"$(ctl --json list)")"
stop

echo "# sizes of a node as shares of it"
R=$W/shares
make_root "$R" 1 pool
make_node "$R" 0 8
cat >"$R/policy.json" <<EOF
{
	"defaults": { "keep_free_hugetlb": "0%", "headroom_low": "25%", "headroom_high": "50%",
		      "max_pool_chunks": "62.5%", "max_moves": 8, "cooldown_sec": 0 },
	"interval_sec": 3600
}
EOF
start "$R" "$R/policy.json" || exit 1
eq "headroom_high of 50% lends half of the node's 8 pages" 4 "$(pool "$R" 0 nr_chunks)"
eq "the low watermark is 25% of them" $((2 * PPC)) "$(pool "$R" 0 low_watermark)"
ctl reserve cvm 8G --node 0 >/dev/null
eq "a cap of 62.5% stops the pool at 5 of the 8 pages, lent ones included" \
	5 "$(pool "$R" 0 nr_chunks)"
sed -i 's/"62.5%"/"100%"/' "$R/policy.json"
kill -HUP "$DPID"
eventually "with 100% the reservation gets all 8" 8 pool "$R" 0 nr_chunks
stop

echo "# the kernel's guest_memfd switch"
R=$W/gmem
one_node "$R" 8 8 0 '"guest_memfd": "prefer"'
GM=$R/sys/kernel/mm/unmapped_pool/guest_memfd
mkdir -p "$(dirname "$GM")"
echo 'flag [prefer] require' >"$GM.prefer"
echo '[flag] prefer require' >"$GM"
start "$R" "$R/policy.json" || exit 1
eq "the policy's guest_memfd is written at start" "$(cat "$GM.prefer")" "$(cat "$GM")"
check "and logged" grep -q 'guest_memfd set to prefer' "$R/log"
eq "Status shows the kernel's guest_memfd mode" prefer "$(ctl --json status | jq_num 'd["guest_memfd"]')"
check "status prints it" grep -qx 'guest_memfd: prefer' <<<"$(ctl status)"
check "metrics print it" grep -qx 'gigapool_guest_memfd_mode{mode="prefer"} 1' <<<"$(ctl metrics)"
out=$(ctl call org.varlink.service.GetInterfaceDescription '{"interface":"io.gigapool.Pool"}')
check "the interface description has it" grep -q 'guest_memfd: ?string' <<<"$out"
echo 'flag prefer [require]' >"$GM"	# someone else's write
ctl rebalance >/dev/null
eq "Status reads the mode back from the kernel, not from the policy" require \
	"$(ctl --json status | jq_num 'd["guest_memfd"]')"
sed -i 's/"prefer"/"flag"/' "$R/policy.json"
kill -HUP "$DPID"
eventually "a reload writes the new mode" '[flag] prefer require' cat "$GM"
sed -i 's/"guest_memfd": "flag"/"guest_memfd": "nope"/' "$R/policy.json"
kill -HUP "$DPID"
sleep 0.3
check "a mode the parser does not know is refused on reload" \
	grep -q 'keeping the old policy: .*\$.guest_memfd: must be null or flag, prefer or require' "$R/log"
echo 'flag prefer [require]' >"$GM"
sed -i 's/"guest_memfd": "nope"/"guest_memfd": null/' "$R/policy.json"
kill -HUP "$DPID"
sleep 0.3
eq "a policy without the mode leaves the kernel's alone" 'flag prefer [require]' "$(cat "$GM")"

echo "# fallbacks: memfd_secret, or guest_memfd under prefer, took ordinary memory"
chunks=$(pool "$R" 0 nr_chunks)
echo $(((chunks - 1) * PPC)) >"$R/sys/devices/system/node/node0/unmapped_pool/used_pages"
echo $PPC >"$R/sys/devices/system/node/node0/unmapped_pool/free_pages"
ctl rebalance >/dev/null
eq "one free chunk is inside the band: nothing moves" "$chunks" "$(pool "$R" 0 nr_chunks)"
echo 5 >"$R/sys/devices/system/node/node0/unmapped_pool/fallbacks"
ctl rebalance >/dev/null
check "the fallbacks are logged" \
	grep -q 'node 0: 5 allocations fell back to ordinary memory; refilling headroom' "$R/log"
eq "fallbacks refill the band to headroom_high" $((chunks + 1)) "$(pool "$R" 0 nr_chunks)"
ctl rebalance >/dev/null
eq "fallbacks already seen move nothing more" $((chunks + 1)) "$(pool "$R" 0 nr_chunks)"
stop
eq "fallbacks from before the daemon started are not logged" 1 \
	"$(grep -c 'fell back to ordinary memory' "$R/log")"
start "$R" "$R/policy.json" || exit 1
ctl rebalance >/dev/null
eq "nor acted on" 1 "$(grep -c 'fell back to ordinary memory' "$R/log")"
stop

# A kernel with the pool but without the switch, and one without the pool.
rm "$GM"
sed -i 's/"guest_memfd": null/"guest_memfd": "prefer"/' "$R/policy.json"
FAKEPOOL_ROOT=$R LD_PRELOAD=$B/fakepool.so timeout 10 "$B/gigapoold" --policy "$R/policy.json" \
	--socket "$R/S" --state-dir "$R/state" --sysfs-root "$R" 2>"$R/noswitch.log"
eq "a policy with guest_memfd stops the daemon on a kernel without the switch (exit 1)" 1 $?
check "naming the policy, the key and the fix" grep -q \
	"cannot start: policy $R/policy.json: guest_memfd: this kernel has no guest_memfd switch (no UNMAPPED_POOL_FEAT_GUEST_MEMFD_MODE from /dev/unmapped_pool); remove the key or boot a kernel that has it" \
	"$R/noswitch.log"
check "before it moved anything" [ "$(grep -c 'starting in' "$R/noswitch.log")" = 0 ]
rm "$R/dev/unmapped_pool"
timeout 10 "$B/gigapoold" --policy "$R/policy.json" --socket "$R/S" --state-dir "$R/state" \
	--sysfs-root "$R" 2>"$R/noswitch.log"
eq "and in hugetlb-only mode (exit 1)" 1 $?
check "saying why there is no switch" \
	grep -q 'has no guest_memfd switch (kernel has no /dev/unmapped_pool)' "$R/noswitch.log"
mkfifo "$R/dev/unmapped_pool"
sed -i 's/"guest_memfd": "prefer"/"guest_memfd": null/' "$R/policy.json"
start "$R" "$R/policy.json" || exit 1
eq "without the switch Status has no guest_memfd" None \
	"$(ctl --json status | jq_num 'd.get("guest_memfd")')"
sed -i 's/"guest_memfd": null/"guest_memfd": "require"/' "$R/policy.json"
kill -HUP "$DPID"
sleep 0.3
check "a reload that sets guest_memfd on a kernel without the switch keeps the old policy" \
	grep -q "reload: keeping the old policy: policy $R/policy.json: guest_memfd: this kernel has no guest_memfd switch" \
	"$R/log"
ctl status >/dev/null
eq "and the daemon goes on serving" 0 $?
stop
echo '[flag] prefer require' >"$GM"
start "$R" "$R/policy.json" --dry-run || exit 1
eq "a dry run does not write the switch" '[flag] prefer require' "$(cat "$GM")"
check "but says it would" grep -q 'dry run: would set guest_memfd to require' "$R/log"
stop

echo "# dry run"
R=$W/dry
make_root "$R" 1 pool
make_node "$R" 0 4
sed 's/"interval_sec": 3600,/"interval_sec": 3600, "control_group": "nogroup",/' "$P.good" >"$R/policy.json"
P=$R/policy.json
start "$R" "$P" --dry-run || exit 1
setpriv --reuid=65534 --regid=65534 --clear-groups "$B/gigapoolctl" --socket "$R/S" rebalance >/dev/null
eq "control_group member (primary group) may call Rebalance" 0 $?
setpriv --reuid=65534 --regid=100 --groups=65534 "$B/gigapoolctl" --socket "$R/S" rebalance >/dev/null
eq "control_group member (supplementary group) may call Rebalance" 0 $?
setpriv --reuid=65534 --regid=100 --clear-groups "$B/gigapoolctl" --socket "$R/S" rebalance >/dev/null 2>&1
eq "a user outside control_group may not" 4 $?
# One connection of a control_group member across a reload that drops the group.
{ printf '{"method":"io.gigapool.Pool.Rebalance"}\0'; sleep 1;
  printf '{"method":"io.gigapool.Pool.Rebalance"}\0'; } |
	setpriv --reuid=65534 --regid=65534 --clear-groups "$B/rawclient" --hold "$R/S" >"$R/across" &
across=$!
sleep 0.4
cp "$P" "$P.group"
sed 's/"control_group": "nogroup",//' "$P.group" >"$P"
kill -HUP "$DPID"
wait $across
eq "a reload that removes control_group takes privilege from open connections" \
	'1 1' "$(grep -c '"result"' "$R/across") $(grep -c PermissionDenied "$R/across")"
cp "$P.group" "$P"
kill -HUP "$DPID"
sleep 0.3
eq "dry run changes nothing" 0 "$(pool "$R" 0 nr_chunks)"
check "dry run logs the plan" grep -q 'dry run: would lend 2' "$R/log"
out=$(ctl plan)
check "plan prints the planned lend" grep -Eq '^0 +headroom +2 ' <<<"$out"
stop

echo "# moves run off the event loop"
R=$W/async
one_node "$R" 16 8 0
python3 "$TOP/tests/daemon/notify-listen.py" "$R/notify" "$R/notes" 120 LISTENED &
LPID=$!
for _ in $(seq 100); do [ -S "$R/notify" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$R/notify WATCHDOG_USEC=400000 start "$R" "$R/policy.json" || exit 1
eq "initial apply lends headroom_high" 2 "$(pool "$R" 0 nr_chunks)"
# From here every chunk lent takes half a second, as a 1 GiB clear can.
echo 500 >"$R/sys/devices/system/node/node0/unmapped_pool/fake_lend_delay_ms"
# batch_started LENDS: wait until the fake pool has lent more than LENDS chunks.
batch_started() {
	for _ in $(seq 200); do
		[ "$(pool "$R" 0 lends)" -gt "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
pings() { grep -c '^WATCHDOG=1$' "$R/notes"; }
ctl --json reserve slow 8G --node 0 >"$R/slow.out" &
RPID=$!
check "a Reserve of 8 chunks starts lending" batch_started 2
p0=$(pings)
ctl --json status >"$R/status.out"
lent=$(pool "$R" 0 lends)
# 8 chunks take 4 s: Status must not wait for them.
check "Status is answered while the slow lends run (lent $lent of 10)" \
	[ "$lent" -lt 10 -a "$(jq_num 'd["mode"]' <"$R/status.out")" = pool ]
check "and the Reserve is still waiting for them" kill -0 "$RPID"
sleep 1
p1=$(pings)
lent=$(pool "$R" 0 lends)
check "the watchdog is pinged while they run ($((p1 - p0)) pings in 1 s, lent $lent of 10)" \
	[ "$((p1 - p0))" -ge 2 -a "$lent" -lt 10 ]
# Reload and more mutating calls while the batch runs.
kill -HUP "$DPID"
ctl --json reserve second 2G --node 0 >"$R/second.out" &
SPID=$!
ctl --json rebalance >"$R/rebalance.out" &
BPID=$!
for _ in $(seq 40); do grep -q "reload: policy $R/policy.json applied" "$R/log" && break; sleep 0.05; done
check "a reload is applied while they run" grep -q "reload: policy $R/policy.json applied" "$R/log"
check "before the moves are done" kill -0 "$RPID"
wait "$RPID"
eq "the Reserve is answered once its moves are done" "True 0 10" \
	"$(jq_num 'd["satisfied"], d["pending_bytes"]' <"$R/slow.out" | tr '\n' ' ')$(pool "$R" 0 nr_chunks)"
wait "$SPID" "$BPID"
eq "a Reserve during the moves is answered after the cycle that follows them" "True 0" \
	"$(jq_num 'd["satisfied"], d["pending_bytes"]' <"$R/second.out" | tr '\n' ' ' | sed 's/ $//')"
check "the Rebalance during the moves is answered too" grep -q '"result"' "$R/rebalance.out"
check "the calls during the moves wait for one cycle after them" \
	grep -q 'cycle (reload) after the moves under way' "$R/log"
eq "no two moves ever overlap" 0 "$(cat "$R/fake_overlaps" 2>/dev/null | wc -l)"
eq "every chunk lent is in the pool" "$(pool "$R" 0 lends)" "$(pool "$R" 0 nr_chunks)"
# A reservation released while the moves it waits for run.
before=$(pool "$R" 0 lends)
ctl reserve gone 2G --node 0 >"$R/gone.out" 2>&1 &
GPID=$!
check "a Reserve of 2 more chunks starts lending" batch_started "$before"
ctl release gone
eq "a Release during the moves of its Reserve succeeds" 0 $?
wait "$GPID"
eq "and the Reserve answers NoSuchReservation (exit 7)" 7 $?
check "naming it" grep -q 'NoSuchReservation' "$R/gone.out"
# SIGTERM while chunks move: the moves finish, are read back and published.
ctl --json reserve last 2G --node 0 >"$R/last.out" &
RPID=$!
before=$(pool "$R" 0 lends)
check "another Reserve starts lending" batch_started "$before"
kill -TERM "$DPID"
wait "$DPID"
eq "SIGTERM during the moves exits with status 0" 0 $?
DPID=
wait "$RPID"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"LISTENED", sys.argv[1])' \
	"$R/notify"
check "after the moves, read back" grep -Eq 'node 0: lend [0-9]+ of [0-9]+ chunks' \
	<(sed -n '/stopping once the moves under way are done/,$p' "$R/log")
check "the Reserve under way got its reply" grep -q '"owner":[[:space:]]*"last"' "$R/last.out"
wait "$LPID"
last_status=$(grep '^STATUS=' "$R/notes" | tail -n1)
check "the last STATUS= counts every chunk lent ($last_status)" \
	grep -q "^STATUS=1 nodes, $(pool "$R" 0 nr_chunks) chunks lent" <<<"$last_status"
check "STOPPING=1 is sent" grep -q '^STOPPING=1$' "$R/notes"

echo "# systemd: socket activation and the notify protocol"
R=$W/sd
make_root "$R" 1 pool
make_node "$R" 0 4
python3 "$TOP/tests/daemon/notify-listen.py" "$R/notify" "$R/notes" 60 &
LPID=$!
for _ in $(seq 100); do [ -S "$R/notify" ] && break; sleep 0.05; done
# systemd-socket-activate passes on only the environment it is told to.
systemd-socket-activate -l "$R/activated" -E NOTIFY_SOCKET="$R/notify" -E WATCHDOG_USEC=400000 \
	-E FAKEPOOL_ROOT="$R" -E LD_PRELOAD="$B/fakepool.so" "$B/gigapoold" --policy "$P" \
	--socket "$R/unused" --state-dir "$R/state" --sysfs-root "$R" 2>>"$R/log" &
DPID=$!
for _ in $(seq 100); do [ -S "$R/activated" ] && break; sleep 0.05; done
out=$("$B/gigapoolctl" --socket "$R/activated" --json status)
eq "socket-activated daemon answers on the passed socket" pool "$(jq_num 'd["mode"]' <<<"$out")"
check "no socket of its own when activated" [ ! -e "$R/unused" ]
sleep 1
kill -HUP "$DPID"
sleep 0.3
stop
wait "$LPID"
first_ready=$(grep -n '^READY=1$' "$R/notes" | head -n1 | cut -d: -f1)
check "READY=1 is sent" [ -n "$first_ready" ]
applied=$(grep -n '^STATUS=1 nodes, 2 chunks lent' "$R/notes" | head -n1 | cut -d: -f1)
check "READY=1 comes after the initial apply" [ "${applied:-99999}" -lt "${first_ready:-0}" ]
check "EXTEND_TIMEOUT_USEC is sent while applying" grep -q '^EXTEND_TIMEOUT_USEC=' "$R/notes"
check "STATUS= carries a summary" grep -q '^STATUS=1 nodes, 2 chunks lent' "$R/notes"
check "watchdog pings are sent" [ "$(grep -c '^WATCHDOG=1$' "$R/notes")" -ge 2 ]
check "SIGHUP sends RELOADING=1 with MONOTONIC_USEC" grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9]' "$R/notes"
check "SIGTERM sends STOPPING=1" grep -q '^STOPPING=1$' "$R/notes"
out=$(systemd-analyze verify --man=no "$TOP/systemd/gigapoold.service" "$TOP/systemd/gigapoold.socket" 2>&1 |
	grep -v 'Command /usr/sbin/gigapoold is not executable')
eq "systemd-analyze verify finds nothing but the uninstalled binary" "" "$out"

echo "# integers exact to 2^53"
R=$W/exact
one_node "$R" 4 8 0
start "$R" "$R/policy.json" || exit 1
out=$(ctl call io.gigapool.Pool.Reserve '{"owner":"big","bytes":9007199254740991,"node":0}')
check "Reserve of 2^53-1 bytes answers them exactly" grep -q '"bytes":[[:space:]]*9007199254740991' <<<"$out"
check "and stores them exactly" grep -q '"bytes":[[:space:]]*9007199254740991' "$R/state/reservations.json"
{ kill -9 "$DPID" && wait "$DPID"; } 2>/dev/null
DPID=
start "$R" "$R/policy.json" || exit 1
check "and reads them back exactly after a restart" \
	grep -q '"bytes":[[:space:]]*9007199254740991' <<<"$(ctl --json list)"
out=$(ctl call io.gigapool.Pool.Reserve '{"owner":"bigger","bytes":9007199254740992,"node":0}' 2>&1)
check "2^53 bytes are refused (not exact as a double beyond)" grep -q '"parameter":[[:space:]]*"bytes"' <<<"$out"
ctl release big >/dev/null
eq "the exact reservation is released" 0 $?
stop

echo "# an independent varlink client: varlink/go calls every method"
R=$W/golang
one_node "$R" 4 8 0
start "$R" "$R/policy.json" || exit 1
# Each of its "ok - " and "not ok - " lines is one result here; its exit
# status another, so that a client that dies early fails too.
"$B/varlink-client" "$R/S" >"$R/go.out" 2>&1
rc=$?
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "varlink/go: ${line#ok - }" ;;
	"not ok - "*) ko "varlink/go: ${line#not ok - }" ;;
	*) echo "# $line" ;;
	esac
done <"$R/go.out"
eq "the varlink/go client exits 0" 0 "$rc"
stop

echo "# hostile clients"
R=$W/hostile
make_root "$R" 1 none
make_node "$R" 0 4
# The shipped connection limits (256, 128 per uid), messages of up to 1 MiB.
cat >"$R/policy.json" <<EOF
{ "interval_sec": 3600, "nodes": { "5": { "excluded": true } },
  "limits": { "max_message_bytes": 1048576, "idle_timeout_sec": 60 } }
EOF
start "$R" "$R/policy.json" || exit 1
check "a policy entry for a node the host lacks is warned about" \
	grep -q "node 5 does not exist on this host" "$R/log"
# Two uids fill every unprivileged slot: half never read the replies of
# the calls they pipeline, the others hold 1 MiB messages short of their
# end, or trickle.
hostile=()
for u in 65534 65533; do
	BIG_BYTES=1048576 setpriv --reuid=$u --regid=$u --clear-groups \
		"$B/hostile" "$R/S" 128 6 noread big noread trickle >"$R/hostile.$u" &
	hostile+=($!)
done
sleep 2
served=0
for _ in $(seq 10); do
	timeout 10 "$B/gigapoolctl" --socket "$R/S" status >/dev/null && served=$((served + 1))
done
eq "root's Status is answered while 256 hostile connections fill every slot" 10 "$served"
timeout 10 "$B/gigapoolctl" --socket "$R/S" rebalance >/dev/null
eq "root's Rebalance is answered too" 0 $?
setpriv --reuid=65532 --regid=65532 --clear-groups "$B/gigapoolctl" --socket "$R/S" status \
	>/dev/null 2>&1
eq "a third unprivileged uid finds no free slot (exit 3)" 3 $?
wait "${hostile[@]}"
hwm=$(awk '/^VmHWM:/ { print $2 }' /proc/$DPID/status)
check "the daemon's peak RSS stayed under 64 MiB (${hwm} kB)" [ "$hwm" -lt 65536 ]
eq "the hostile clients held every connection for the run" \
	"connections 128, closed by the daemon 0" "$(sort -u "$R"/hostile.* | tr '\n' ' ' | sed 's/ $//')"
stop

echo "# deadlines: a trickling client cannot hold its slot"
sed -i 's/"idle_timeout_sec": 60/"idle_timeout_sec": 1/' "$R/policy.json"
start "$R" "$R/policy.json" || exit 1
out=$(nobody "$B/hostile" "$R/S" 4 4 trickle big noread idle)
eq "trickling, unfinished, unread and idle connections are all closed" \
	"connections 4, closed by the daemon 4" "$out"
stop

echo "# one instance per state directory"
start "$R" "$R/policy.json" || exit 1
first=$DPID
# timeout: a daemon that wrongly starts must not hang the test.
timeout 10 "$B/gigapoold" --policy "$R/policy.json" --socket "$R/S" --state-dir "$R/state" \
	--sysfs-root "$R" 2>"$R/second.log"
eq "a second daemon on the same state directory exits 3" 3 $?
check "and says which daemon holds it" \
	grep -q "another gigapoold (pid $first) is running with state directory $R/state" "$R/second.log"
ctl status >/dev/null
eq "the first daemon stays reachable" 0 $?
timeout 10 "$B/gigapoold" --policy "$R/policy.json" --socket "$R/S" --state-dir "$R/state2" \
	--sysfs-root "$R" 2>"$R/second.log"
eq "a second daemon on another state directory but the same socket exits 3" 3 $?
check "and says the socket is served" grep -q "another gigapoold answers on $R/S" "$R/second.log"
check "before it started a cycle" [ "$(grep -c 'starting in' "$R/second.log")" = 0 ]
ctl status >/dev/null
eq "the first daemon is still reachable" 0 $?
{ kill -9 "$DPID" && wait "$DPID"; } 2>/dev/null
DPID=
check "a killed daemon leaves its socket behind" [ -S "$R/S" ]
"$B/gigapoold" --policy "$R/policy.json" --socket "$R/S" --state-dir "$R/state" \
	--sysfs-root "$R" 2>>"$R/log" &
DPID=$!
for _ in $(seq 100); do ctl status >/dev/null 2>&1 && break; sleep 0.05; done
ctl status >/dev/null
eq "a new daemon replaces the stale socket" 0 $?
stop
check "the daemon removed its own socket on exit" [ ! -e "$R/S" ]

echo "# state file errors"
echo '{"version":1,"reservations":[{"owner":"a"' >"$R/state/reservations.json"
"$B/gigapoold" --policy "$R/policy.json" --socket "$R/S" --state-dir "$R/state" \
	--sysfs-root "$R" 2>"$R/corrupt.log"
eq "a corrupt state file stops the daemon with exit 1" 1 $?
check "naming the file and the reason" \
	grep -q "cannot start: $R/state/reservations.json: not JSON" "$R/corrupt.log"
rm "$R/state/reservations.json"
mkdir "$R/state/reservations.json"
"$B/gigapoold" --policy "$R/policy.json" --socket "$R/S" --state-dir "$R/state" \
	--sysfs-root "$R" 2>"$R/corrupt.log"
check "an unreadable state file is named with the reason" \
	grep -q "cannot read $R/state/reservations.json: Is a directory" "$R/corrupt.log"
rmdir "$R/state/reservations.json"

echo "# policy checks"
"$B/gigapoold" --check-policy "$TOP/config/policy.json" >/dev/null
eq "shipped policy is valid" 0 $?
echo '{"limits": {"max_connections": "many"}}' >"$W/bad.json"
out=$("$B/gigapoolctl" check-policy "$W/bad.json" 2>&1)
eq "check-policy exits 5 on a bad policy" 5 $?
check "wrong type is reported with its path" grep -q '\$.limits.max_connections: must be an integer' <<<"$out"

echo "# install"
make -s -C "$TOP/daemon" install DESTDIR="$W/inst" PREFIX=/usr >/dev/null
for f in usr/sbin/gigapoold usr/bin/gigapoolctl usr/lib/systemd/system/gigapoold.service \
	 usr/lib/systemd/system/gigapoold.socket usr/lib/tmpfiles.d/gigapool.conf \
	 etc/gigapool/policy.json usr/share/man/man8/gigapoold.8 \
	 usr/share/man/man1/gigapoolctl.1 usr/share/man/man5/gigapool-policy.5; do
	check "install puts $f" [ -e "$W/inst/$f" ]
done
check "install puts the libvirt hook in qemu.d, linked to /usr/libexec/gigapool/libvirt-hook" \
	[ -x "$W/inst/usr/libexec/gigapool/libvirt-hook" -a \
	  "$(readlink "$W/inst/etc/libvirt/hooks/qemu.d/gigapool")" = /usr/libexec/gigapool/libvirt-hook ]
check "the installed hook runs the installed gigapoolctl" \
	grep -qa '/usr/bin/gigapoolctl' "$W/inst/usr/libexec/gigapool/libvirt-hook"
"$W/inst/usr/sbin/gigapoold" --check-policy "$W/inst/etc/gigapool/policy.json" >/dev/null
eq "installed policy is valid" 0 $?

echo "# $PASS passed, $FAIL failed"
# The plan comes last: a run that stopped early (a daemon that did not
# come up, an error of this script) has none, and make check fails it.
echo "1..$((PASS + FAIL))"
[ "$FAIL" -eq 0 ]
