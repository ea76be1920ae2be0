#!/bin/bash
# The libvirt hook (daemon/libvirt_hook.c) fed real domain XML documents
# (tests/daemon/libvirt/) exactly as libvirt calls a qemu.d hook: argv
# DOMAIN OPERATION SUB-OPERATION EXTRA, the domain XML on stdin.  A stub
# gigapoolctl (GIGAPOOLCTL) records each invocation, one argument a line,
# so that every case asserts the exact command or that none ran; the real
# gigapoolctl is run against a socket no daemon answers on.
# Usage: libvirt-hook.sh BUILD_DIR TOP_DIR
set -uo pipefail

B=$1
TOP=$2
HOOK=$B/gigapool-libvirt-hook
X=$TOP/tests/daemon/libvirt
W=$(mktemp -d /tmp/gigapool-hook.XXXXXX)
PASS=0
FAIL=0
trap 'rm -rf "$W"' EXIT

ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
ko() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
eq() {		# eq DESCRIPTION EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then ok "$1"; else ko "$1 (expected '$2', got '$3')"; fi
}

cat >"$W/stub" <<STUB
#!/bin/sh
# One argument a line, then a line with "--" after each call.
for a in "\$@"; do printf '%s\n' "\$a"; done >>"$W/calls"
echo -- >>"$W/calls"
[ -n "\${STUB_SLEEP:-}" ] && sleep "\$STUB_SLEEP"
exit \${STUB_EXIT:-0}
STUB
chmod +x "$W/stub"
printf 'HugePages_Total:       0\nHugepagesize:       2048 kB\n' >"$W/meminfo-2m"
printf 'HugePages_Total:       8\nHugepagesize:    1048576 kB\n' >"$W/meminfo-1g"

# hook DOMAIN OPERATION SUB-OPERATION XML: run it as libvirt does, with the
# stub; its exit status in $rc, its stderr in $W/err, the stub's calls in
# $calls (one call a line, its arguments after the program separated by
# blanks; empty: gigapoolctl was not run).
hook() {
	rm -f "$W/calls"
	GIGAPOOLCTL=$W/stub GIGAPOOL_MEMINFO=${MEMINFO:-$W/meminfo-2m} \
		"$HOOK" "$1" "$2" "$3" - <"$4" 2>"$W/err"
	rc=$?
	calls=$( [ -e "$W/calls" ] && tr '\n' ' ' <"$W/calls" | sed 's/ -- /\n/g; s/ --$//; s/ *$//')
}

echo "# prepare begin: the kind, size and node of each domain"
hook cvm-snp prepare begin "$X/cvm-snp.xml"
eq "SEV-SNP domain on node 1: confidential reservation of its memory there" \
	"reserve libvirt-cvm-snp 8589934592 --node 1 --kind confidential" "$calls"
eq "the hook exits 0" 0 "$rc"
grep -q "gigapool-libvirt-hook: cvm-snp: $W/stub reserve libvirt-cvm-snp" "$W/err"
eq "what it ran is logged" 0 $?
hook cvm-sev prepare begin "$X/cvm-sev-gib.xml"
eq "SEV domain without numatune, memory in GiB: no node" \
	"reserve libvirt-cvm-sev 4294967296 --kind confidential" "$calls"
hook web-1 prepare begin "$X/ordinary-1g.xml"
eq "1 GiB pages (size 1048576 KiB) on node 0: ordinary reservation" \
	"reserve libvirt-web-1 17179869184 --node 0 --kind ordinary" "$calls"
hook db-2 prepare begin "$X/ordinary-multinode.xml"
eq "1 GiB pages (size 1 G), memory in G, nodeset 0-1: no node" \
	"reserve libvirt-db-2 34359738368 --kind ordinary" "$calls"
hook plain prepare begin "$X/plain.xml"
eq "a plain domain: gigapoolctl is not run" "" "$calls"
eq "and the hook exits 0" 0 "$rc"
hook small-pages prepare begin "$X/hugepages-2m.xml"
eq "2 MiB huge pages: gigapoolctl is not run" "" "$calls"
hook default-pages prepare begin "$X/hugepages-default.xml"
eq "default huge pages on a host whose default is 2 MiB: not run" "" "$calls"
MEMINFO=$W/meminfo-1g hook default-pages prepare begin "$X/hugepages-default.xml"
eq "default huge pages on a host whose default is 1 GiB: ordinary; MB are 10^6 bytes; nodeset 1-2,^2 is node 1" \
	"reserve libvirt-default-pages 3000000000 --node 1 --kind ordinary" "$calls"
sed 's|<page size=.1048576. unit=.KiB./>|&<page size="2" unit="M" nodeset="1"/>|' \
	"$X/ordinary-1g.xml" >"$W/mixed.xml"
hook web-1 prepare begin "$W/mixed.xml"
eq "1 GiB and 2 MiB pages mixed: not run" "" "$calls"

echo "# reservation names"
hook "mail server (Zürich)" prepare begin "$X/odd-name.xml"
eq "a name gigapool refuses is replaced by the UUID; memory in bytes" \
	"reserve libvirt-44444444-5555-4666-8777-888888888888 1073741824 --kind confidential" \
	"$calls"
long=$(printf 'v%.0s' $(seq 57))
hook "$long" prepare begin "$X/cvm-snp.xml"
eq "a name too long with the prefix for max_owner_length 64 is replaced by the UUID" \
	"reserve libvirt-8d1f2c5e-3b4a-4f6e-9c1d-2a7b8e9f0a11 8589934592 --node 1 --kind confidential" \
	"$calls"
hook "${long%v}" prepare begin "$X/cvm-snp.xml"
eq "a name that just fits is kept" \
	"reserve libvirt-${long%v} 8589934592 --node 1 --kind confidential" "$calls"

echo "# release end and the other operations"
hook cvm-snp release end "$X/cvm-snp.xml"
eq "release end releases the domain's reservation" "release libvirt-cvm-snp" "$calls"
hook "mail server (Zürich)" release end "$X/odd-name.xml"
eq "under the same name as it was made" \
	"release libvirt-44444444-5555-4666-8777-888888888888" "$calls"
hook plain release end "$X/plain.xml"
eq "a plain domain's release runs nothing" "" "$calls"
for op in "start begin" "started begin" "stopped end" "prepare end" "release begin" \
	  "migrate begin" "restore begin" "reconnect begin" "attach begin"; do
	hook web-1 $op "$X/ordinary-1g.xml"
	eq "'$op' runs nothing and exits 0" " 0" "$calls $rc"
done

echo "# failures never stop the domain"
STUB_EXIT=3 hook web-1 prepare begin "$X/ordinary-1g.xml"
eq "gigapoolctl failing: the hook exits 0" 0 "$rc"
grep -q "reserve libvirt-web-1 17179869184 --node 0 --kind ordinary: exit status 3; the domain starts without a reservation" "$W/err"
eq "and logs the command and its status" 0 $?
t0=$(date +%s%N)
STUB_SLEEP=10 GIGAPOOL_HOOK_TIMEOUT_SEC=1 hook web-1 prepare begin "$X/ordinary-1g.xml"
ms=$((($(date +%s%N) - t0) / 1000000))
eq "a gigapoolctl that hangs is killed after the timeout: exit 0" 0 "$rc"
if [ "$ms" -lt 5000 ]; then ok "within the timeout (${ms} ms)"; else ko "took ${ms} ms"; fi
grep -q "no answer within the timeout, killed" "$W/err"
eq "and that is logged" 0 $?
echo 'not xml' >"$W/garbage"
hook web-1 prepare begin "$W/garbage"
eq "stdin that is not XML: nothing run, exit 0" " 0" "$calls $rc"
grep -q "stdin is not XML" "$W/err"
eq "and logged" 0 $?
sed 's|<memory unit=.KiB.>16777216</memory>|<memory unit="KiB">lots</memory>|' \
	"$X/ordinary-1g.xml" >"$W/badmem.xml"
hook web-1 prepare begin "$W/badmem.xml"
eq "a memory size it cannot read: nothing run, exit 0" " 0" "$calls $rc"
grep -q "memory 'lots' unit 'KiB' is not a size gigapool takes" "$W/err"
eq "and logged" 0 $?
hook web-1 release end "$W/badmem.xml"
eq "such a domain is still released" "release libvirt-web-1" "$calls"
"$HOOK" 2>"$W/err" </dev/null
eq "called with no arguments: exit 0" 0 $?

echo "# the real gigapoolctl, no daemon"
cat >"$W/real" <<REAL
#!/bin/sh
exec "$B/gigapoolctl" --socket "$W/no-daemon" "\$@"
REAL
chmod +x "$W/real"
GIGAPOOLCTL=$W/real "$HOOK" cvm-snp prepare begin - <"$X/cvm-snp.xml" 2>"$W/err"
eq "prepare with the daemon down: exit 0" 0 $?
grep -q "gigapool-libvirt-hook: cvm-snp: $W/real reserve libvirt-cvm-snp 8589934592 --node 1 --kind confidential: exit status [1-9]" "$W/err"
eq "and a log line naming the command and its status" 0 $?
GIGAPOOLCTL=$W/real "$HOOK" cvm-snp release end - <"$X/cvm-snp.xml" 2>"$W/err"
eq "release with the daemon down: exit 0" 0 $?
grep -q "gigapoolctl: cannot connect to $W/no-daemon" "$W/err"
eq "gigapoolctl's own message reaches the log" 0 $?
grep -q "release libvirt-cvm-snp: exit status 3; the reservation may be left behind" "$W/err"
eq "with its exit status 3 (unreachable)" 0 $?

echo "# $PASS passed, $FAIL failed"
echo "1..$((PASS + FAIL))"
[ "$FAIL" -eq 0 ]
