#!/bin/bash
# Boot test kernels in QEMU and check what the guest reports.
#
#   run.sh                      everything: the gigapool kernel (one node and
#                               numa=fake=2) and the stock comparison
#   run.sh [--kernel PATH] [--append "..."] [--smp N] [--mem SIZE] [--name NAME] [suite...]
#                               one boot of PATH (default build/kernel/bzImage)
#                               running the named suites of tests/kernel/init.sh
#
# The serial console of each boot goes to build/guest/NAME.log.  A boot fails
# on a "not ok" line of a test program or of KUnit, a missing result (a suite
# without its plan, its exit line or all its results, a guest that did not
# finish), a non-zero exit of a test program, a kernel oops/BUG/WARNING/KASAN
# line (tests/lib/console.sh), or a timeout.  KUnit suite unmapped_pool must
# be present whenever the kernel's config (next to its bzImage) enables it.
# Every result is a TAP line "[NAME] ok|not ok - ..."; the plan 1..N
# follows the last boot; the last line printed is tests/lib/tap.sh's
# "N passed, N failed, N skipped", and the exit status is non-zero on any
# failure.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/console.sh"
. "$top/tests/lib/tap.sh"
out=$top/build/guest
initrd=$out/initramfs.cpio.gz
# TCG is slow: faulting 1 GiB twice takes about a minute, a boot 3 s.
boot_timeout=${BOOT_TIMEOUT:-600}

usage() {
	echo "usage: run.sh [--kernel PATH] [--append \"...\"] [--smp N] [--mem SIZE] [--name NAME] [suite...]" >&2
	exit 2
}

# parse_log LOG "SUITES" REQUIRE_KUNIT: one line per result on stdout,
# "ok|fail|skip NAME" or "fail <what is missing or wrong>", then the
# guest's "# figure" lines as "figure ...", then a "fail kernel console:"
# line per line of kernel trouble.
parse_log() {
	awk -v suites="$2" -v require_kunit="$3" '
	{ sub(/\r$/, "") }

	# Kernel lines: KTAP from KUnit, which runs before /init.
	match($0, /^\[ *[0-9]+\.[0-9]+\] /) {
		msg = substr($0, RLENGTH + 1)
		if (msg ~ /^    # Subtest: /) {
			ksuite = substr(msg, 16)
		} else if (msg ~ /^(not )?ok [0-9]+ /) {
			# A suite result; its cases were counted one by one.
			name = msg; sub(/^(not )?ok [0-9]+ /, "", name); sub(/ # .*/, "", name)
			seen_kunit[name] = 1
			if (msg ~ /^not ok/)
				print "fail kunit suite " name
		} else if (msg ~ /^    (not )?ok [0-9]+ /) {
			name = msg; sub(/^    (not )?ok [0-9]+ /, "", name)
			tap_result(msg ~ /^    not ok/, "kunit " ksuite ": " name)
		}
		next
	}

	/^# suite / { cur = $3; started[cur] = 1; count[cur] = 0; next }
	/^(not )?ok [0-9]+ - / {
		name = $0; sub(/^(not )?ok [0-9]+ - /, "", name)
		tap_result($0 ~ /^not ok/, cur ": " name)
		count[cur]++
		next
	}
	/^1\.\.[0-9]+$/ { plan[cur] = substr($0, 4); next }
	/^Bail out!/ { print "fail " cur ": " $0; next }
	/^# exit / { status[$3] = $4; next }
	/^# figure / { sub(/^# figure /, ""); figures[++nfig] = $0; next }
	/^# guest done$/ { done = 1 }

	function tap_result(not_ok, name) {
		if (not_ok)
			print "fail " name
		else if (name ~ / # SKIP/)
			print "skip " name
		else
			print "ok " name
	}

	END {
		n = split(suites, want, " ")
		for (i = 1; i <= n; i++) {
			s = want[i]
			if (!(s in started))
				print "fail " s ": suite did not start"
			else if (!(s in status))
				print "fail " s ": suite did not finish"
			else if (status[s] != 0)
				print "fail " s ": exited with status " status[s]
			if (s in started && !(s in plan))
				print "fail " s ": no plan line"
			else if (s in started && plan[s] != count[s])
				print "fail " s ": plan 1.." plan[s] " but " count[s] " results"
		}
		if (require_kunit && !("unmapped_pool" in seen_kunit))
			print "fail kunit suite unmapped_pool: absent"
		if (!done)
			print "fail guest did not finish (see the log)"
		for (i = 1; i <= nfig; i++)
			print "figure " figures[i]
	}' "$1"
	console_check "$1" | sed 's/^/fail kernel console: /' || true
}

# result LINE: prints one TAP result and counts it for the plan that ends
# the run, printed once every boot is done: a run cut short has none.
results=0
result() {
	echo "$1"
	results=$((results + 1))
}

# boot NAME KERNEL APPEND SMP MEM [SUITE...]: one guest run, its results as
# TAP lines; its figure lines are appended to $out/NAME.figures.
boot() {
	local name=$1 kernel=$2 append=$3 smp=$4 mem=$5
	shift 5
	local suites="$*" log=$out/$name.log require_kunit=0 rc=0 kind rest

	: >"$out/$name.figures"
	if [ ! -r "$kernel" ]; then
		result "[$name] not ok - $kernel does not exist"
		return
	fi
	grep -qs '^CONFIG_UNMAPPED_POOL_KUNIT_TEST=y' "$(dirname "$kernel")/config" && require_kunit=1
	echo "== $name: $kernel${append:+ ($append)}, suites: ${suites:-none}"
	timeout "$boot_timeout" "$top/tests/lib/qemu.sh" --smp "$smp" --mem "$mem" \
		--kernel "$kernel" --initrd "$initrd" --append "gptests=${suites// /,} gpcpus=$smp $append" \
		</dev/null >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		if [ "$rc" -eq 124 ]; then
			result "[$name] not ok - timed out after ${boot_timeout}s"
		else
			result "[$name] not ok - qemu exited with status $rc"
		fi
	fi
	# A skipped result keeps its "# SKIP" directive in its name.
	while read -r kind rest; do
		case $kind in
		ok|skip) result "[$name] ok - $rest" ;;
		fail)    result "[$name] not ok - $rest" ;;
		figure)  echo "$name $rest" >>"$out/$name.figures" ;;
		esac
	done < <(parse_log "$log" "$suites" "$require_kunit")
	echo "== $name: console in $log"
}

# figures NAME...: the side-by-side table of the boots' secretfault figures.
figures() {
	local name
	for name in "$@"; do
		cat "$out/$name.figures" 2>/dev/null || true
	done >"$out/figures.all"
	# A boot that printed no figure (no secretfault) leaves the table alone.
	# Only secretfault measures the direct map; other suites' figures
	# (stress) stay in the .figures files.
	grep -qs ' secretfault ' "$out/figures.all" || return 0
	awk '
	BEGIN { printf "%-14s %-6s %5s %8s %8s %12s %8s %10s %12s %12s\n", "run", "MiB",
		"lent", "splits2", "splits3", "DirectMap1G", "CAL-IPIs", "tlb-remote",
		"ns/page", "memfd-ns/pg" }
	$2 == "secretfault" {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		split(f["dm1g"], dm, "/")
		dm1g = sprintf("%dG->%dG", dm[1] / 1048576, dm[2] / 1048576)
		printf "%-14s %-6s %5s %8s %8s %12s %8s %10s %12s %12s\n", $1, f["mib"],
			f["lent"], f["splits2"], f["splits3"], dm1g, f["ipis"], f["tlb_remote"],
			f["ns_per_page"], f["memfd_ns_per_page"]
	}' "$out/figures.all" >"$out/figures.txt"
	echo "== direct-map cost of memfd_secret (also in $out/figures.txt)"
	cat "$out/figures.txt"
}

# numa=fake=2 needs 12 GiB: with 8 GiB, node 0 (which holds the PCI hole
# and its NODE_DATA at the top) has no 1 GiB-aligned room for a CMA area.
kernel='' append='' smp=2 mem=8G name='' suites=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=${2:?}; shift 2 ;;
	--append) append=${2?}; shift 2 ;;
	--smp)    smp=${2:?}; shift 2 ;;
	--mem)    mem=${2:?}; shift 2 ;;
	--name)   name=${2:?}; shift 2 ;;
	-*)       usage ;;
	*)        suites+=("$1"); shift ;;
	esac
done

"$top/tests/kernel/mkinitramfs.sh"
mkdir -p "$out"
if [ -z "$kernel" ] && [ ${#suites[@]} -eq 0 ] && [ -z "$append$name" ]; then
	{
		boot gigapool "$top/build/kernel/bzImage" "" "$smp" 8G secretfault-pool pooltest compacttest gmemvm pooltest-poison
		# Two nodes, with HugeTLB vmemmap optimisation on: lending must undo it
		# and reclaim redo it, through hugetlb's own paths, with hugetlb's
		# counters right when surplus pages are about (pooltest-hugetlb,
		# first, on a node nothing used yet).
		boot gigapool-numa "$top/build/kernel/bzImage" "numa=fake=2 hugetlb_free_vmemmap=on" "$smp" 12G \
			pooltest-hugetlb pooltest-numa stress
		boot stock "$top/build/kernel-stock/bzImage" "" "$smp" 8G secretfault
		figures stock gigapool
		echo "1..$results"
	} | tap_summary --plan
else
	kernel=${kernel:-$top/build/kernel/bzImage}
	name=${name:-$(basename "$(dirname "$kernel")")}
	{
		boot "$name" "$kernel" "$append" "$smp" "$mem" "${suites[@]}"
		figures "$name"
		echo "1..$results"
	} | tap_summary --plan
fi
