#!/bin/bash
# Run upstream's own 6.12 selftests (tests/upstream/tests.list) in QEMU on
# the gigapool kernel with the unmapped pool lent and in use, and on the
# stock kernel booted the same way, and compare.
#
#   run.sh                 both kernels, all tests of tests.list
#   run.sh TEST...         both kernels, only these tests (for debugging)
#   run.sh --logs STOCK.log GIGAPOOL.log [TEST...]
#                          no boot: the verdict on these two consoles
#
# Both guests boot with 1 GiB default huge pages and hugetlb_cma=4G; init
# lends UPSTREAM_LEND chunks (2; only the gigapool kernel has the pool), then
# reserves UPSTREAM_HUGE 1 GiB hugetlb pages (2) from what is left of the CMA
# area, and keeps UPSTREAM_SECRET MiB of memfd_secret faulted (64; from the
# pool on gigapool) while the tests run.  On gigapool, each KVM selftest that
# tests.list marks gmem: runs unmodified twice, with the pool's guest_memfd
# switch at prefer and at require (NAME@prefer, NAME@require), and once on
# stock.
#
# A test passes when it exits 0 with no "not ok" TAP line; it is skipped when
# it exits 4 (KSFT_SKIP), reports only SKIP results, or tests.list marks it
# skip (the reason is printed); anything else, a timeout included, fails.
# The console of each boot is in build/upstream/NAME.log.
#
# After the table, every test on each kernel and every assertion on the
# guests' state is a TAP line, and tests/lib/tap.sh's closing "N passed,
# N failed, N skipped" (over both kernels) is the verdict: the run fails
#  - when a test fails on gigapool, unless it fails on stock too (then it
#    is a "not ok # TODO", reported as "fails on stock too"), or passes on
#    stock and is skipped on gigapool;
#  - for each gmem: test and mode on gigapool, unless it ran with the
#    switch at that mode and, during the run, guest_memfd_pages rose (gmem:pool,
#    its memory came from the pool) or stayed (gmem:stock, a VM type the pool
#    does not serve; gmem:any, whether the test faults guest memory in at
#    all is up to a race, makes no claim), and at require nothing fell back;
#  - when a guest does not finish, its console shows a kernel oops/BUG/
#    WARNING (tests/lib/console.sh), or a setup step failed;
#  - unless, on both kernels, the hugetlb pages were reserved, holdsecret
#    held its memfd_secret from before to after the tests, and the
#    direct-map split counters exist; on gigapool, the chunks were lent
#    before and after the tests, holdsecret's memory came from the pool,
#    the tests gave every pool page back, nothing fell back to mapped
#    memory, the direct map was not split once from boot to the end and
#    the switch was at flag at boot and again at the end;
#    on stock, there is no pool and the direct map was split (memfd_secret
#    without the pool: the positive control of the split counters).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/console.sh"
. "$top/tests/lib/tap.sh"
here=$top/tests/upstream
out=$top/build/upstream
list=$here/tests.list
initrd=$out/initramfs.cpio.gz
busybox=${BUSYBOX:-/bin/busybox}
# tests/lib/qemu.sh gives the guest the host's TSC rate (tsc_early_khz), which
# the KVM selftests need: they assert that KVM_GET_TSC_KHZ is set.
guest_args="default_hugepagesz=1G uplend=${UPSTREAM_LEND:-2} uphuge=${UPSTREAM_HUGE:-2} upsecret=${UPSTREAM_SECRET:-64}"

# The initramfs: busybox, the test binaries, init.sh as /init and the list.
# Rebuilt when one of those changed.
mkinitramfs() {
	local key root=$out/root applet
	key=$(sha256sum "$here/run.sh" "$busybox" "$out"/bin/* "$here/init.sh" "$list" | sha256sum | cut -c1-16)
	[ -e "$initrd" ] && [ "$(cat "$out/initramfs.key" 2>/dev/null)" = "$key" ] && return
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,etc,proc,sys,tmp}
	cp "$busybox" "$root/bin/busybox"
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
	done
	cp "$out"/bin/* "$root/bin/"
	install -m 755 "$here/init.sh" "$root/init"
	cp "$list" "$root/etc/tests.list"
	# The kernel opens /dev/console for init before init mounts devtmpfs.
	mknod -m 600 "$root/dev/console" c 5 1
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
		gzip -9n >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	echo "$key" >"$out/initramfs.key"
}

# parse LOG KERNEL: one line per test of the list, "NAME RESULT PASS FAIL
# SKIP SECONDS" (PASS/FAIL/SKIP count its TAP results; RESULT is pass, fail,
# skip, timeout, or missing when the guest never printed its exit line; on
# KERNEL gigapool a gmem: test is two, NAME@prefer and NAME@require), then
# "gmem NAME PHASE KEY=VALUE..." per gmem line of init.sh, "state NAME
# KEY=VALUE..." per state line, "holdsecret MIB" when holdsecret faulted its
# memory, "setup TEXT" per failed setup step, "done" if the guest ended,
# and "console LINE" per kernel trouble line.
parse() {
	awk -v list="$list" -v kernel="$2" '
	BEGIN {
		while ((getline line < list) > 0) {
			split(line, f, " ")
			if (f[1] == "" || f[1] ~ /^#/)
				continue
			if (kernel == "gigapool" && f[3] ~ /^gmem:/) {
				order[++n] = f[1] "@prefer"
				limit[order[n]] = f[2]
				order[++n] = f[1] "@require"
			} else
				order[++n] = f[1]
			limit[order[n]] = f[2]
		}
	}
	{ sub(/\r$/, "") }
	/^# test / { cur = $3; p[cur] = f_[cur] = s[cur] = 0; next }
	/^# exit / { rc[$3] = $4; secs[$3] = $5; cur = ""; next }
	/^# guest done/ { done = 1; next }
	/^# state [a-z]+: / { line = $0; sub(/^# state /, "", line); sub(/:/, "", line); state[++ns] = line; next }
	/^# gmem [^ ]+ (before|after): / { line = $0; sub(/^# gmem /, "", line); sub(/:/, "", line); gmem[++ng] = line; next }
	/^# holdsecret: [0-9]+ MiB of memfd_secret faulted$/ { held = $3; next }
	/^# setup: / { line = $0; sub(/^# setup: /, "", line); setup[++nsetup] = line; next }
	cur != "" && /^(not )?ok [0-9]+/ {
		if ($0 ~ /^not ok/) f_[cur]++
		else if ($0 ~ /# *SKIP/) s[cur]++
		else p[cur]++
	}
	END {
		for (i = 1; i <= n; i++) {
			t = order[i]
			if (!(t in rc)) r = "missing"
			else if (rc[t] == "skip" || rc[t] == 4) r = "skip"
			else if (rc[t] == 0 && f_[t] == 0 && p[t] == 0 && s[t] > 0) r = "skip"
			else if (rc[t] == 0 && f_[t] == 0) r = "pass"
			else if (rc[t] == 137 && secs[t] >= limit[t]) r = "timeout"
			else r = "fail"
			printf "%s %s %d %d %d %s\n", t, r, p[t], f_[t], s[t], (t in secs) ? secs[t] : "-"
		}
		for (i = 1; i <= ng; i++)
			print "gmem " gmem[i]
		for (i = 1; i <= ns; i++)
			print "state " state[i]
		if (held != "")
			print "holdsecret " held
		for (i = 1; i <= nsetup; i++)
			print "setup " setup[i]
		if (done)
			print "done"
	}' "$1"
	console_check "$1" | sed 's/^/console /' || true
}

# boot NAME KERNEL: one guest run; its parsed results go to $out/NAME.results.
boot() {
	local name=$1 kernel=$2 log=$out/$1.log rc=0 limit only=
	if [ ! -r "$kernel" ]; then
		echo "== $name: $kernel does not exist"
		: >"$out/$name.results"
		return
	fi
	[ ${#tests[@]} -gt 0 ] && only=" uptests=$(IFS=,; echo "${tests[*]}")"
	# Room for every test to hit its timeout, plus boot and setup (faulting
	# the hugetlb reservation and the memfd_secret holder).
	# (gmem: tests run twice on gigapool).
	limit=$(awk '!/^#/ && $2 ~ /^[0-9]+$/ { s += $2 * ($3 ~ /^gmem:/ ? 2 : 1) } END { print s + 120 }' "$list")
	echo "== $name: $kernel ($guest_args$only), console in $log"
	timeout "$limit" "$top/tests/lib/qemu.sh" --kernel "$kernel" --initrd "$initrd" \
		--append "$guest_args$only" </dev/null >"$log" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || echo "== $name: qemu exited with status $rc (124: timed out after ${limit}s)"
	parse "$log" "$name" >"$out/$name.results"
	grep '^# \(state\|holdsecret\|setup\)' "$log" | sed "s/^/   $name /" || true
}

logs=()
if [ "${1-}" = --logs ]; then
	logs=("${2:?run.sh: --logs needs STOCK.log GIGAPOOL.log}" "${3:?run.sh: --logs needs STOCK.log GIGAPOOL.log}")
	shift 3
fi
tests=("$@")
mkdir -p "$out"
if [ ${#logs[@]} -gt 0 ]; then
	# Judge these consoles: a verdict from a made-up or an old console,
	# without booting.  Their results go next to them, not to build/.
	parse "${logs[0]}" stock >"${logs[0]}.results"
	parse "${logs[1]}" gigapool >"${logs[1]}.results"
	results=("${logs[0]}.results" "${logs[1]}.results")
	summary=${logs[1]}.summary.tap
else
	"$here/build.sh"
	mkinitramfs
	start=$SECONDS
	boot stock "$top/build/kernel-stock/bzImage"
	boot gigapool "$top/build/kernel/bzImage"
	echo "== both kernels in $((SECONDS - start)) s"
	results=("$out/stock.results" "$out/gigapool.results")
	summary=$out/summary.tap
fi

# The table, then every result and every assertion on the guests' state as
# a TAP line; tests/lib/tap.sh counts them, and its count is the verdict.
# A test that fails on gigapool is a "not ok" unless it fails on stock
# too: then it is a TODO (upstream's failure, not gigapool's), as is any
# failure on stock alone.
awk -v list="$list" -v only=",$(IFS=,; echo "${tests[*]:-}")," \
    -v lend="${UPSTREAM_LEND:-2}" -v huge="${UPSTREAM_HUGE:-2}" -v secret="${UPSTREAM_SECRET:-64}" '
	function check(ok, what) {
		tap[++ntap] = (ok ? "ok - " : "not ok - ") k ": " what
	}
	# The value of KEY in the state line NAME of kernel k, or "" without one.
	function st(name, key) {
		return ((k, name, key) in state) ? state[k, name, key] : ""
	}
	function failing(r) {
		return r == "fail" || r == "timeout"
	}
	# The value of KEY in the gmem line of run T, phase PHASE, on gigapool.
	function gm(t, phase, key) {
		return (("gigapool", t, phase, key) in gmem) ? gmem["gigapool", t, phase, key] : ""
	}
	# The rise of counter KEY during run T, or "" when a reading is missing.
	function rise(t, key) {
		if (gm(t, "before", key) !~ /^[0-9]+$/ || gm(t, "after", key) !~ /^[0-9]+$/)
			return ""
		return gm(t, "after", key) - gm(t, "before", key)
	}
	BEGIN {
		while ((getline line < list) > 0) {
			split(line, f, " ")
			if (f[1] == "" || f[1] ~ /^#/ || (only != ",," && index(only, "," f[1] ",") == 0))
				continue
			order[++n] = f[1]
			if (f[2] == "skip") {
				sub(/^[^ ]+ +skip +/, "", line)
				why[f[1]] = line
			}
			if (f[3] ~ /^gmem:/)
				expect[f[1]] = substr(f[3], 6)
		}
	}
	FNR == 1 { k = FILENAME == ARGV[1] ? "stock" : "gigapool" }
	$1 == "console" { sub(/^console /, ""); trouble[k] = trouble[k] "   " k ": " $0 "\n"; next }
	$1 == "done" { done[k] = 1; next }
	$1 == "state" {
		states[k] = states[k] " " $2
		for (i = 3; i <= NF; i++) {
			split($i, kv, "=")
			state[k, $2, kv[1]] = kv[2]
		}
		next
	}
	$1 == "gmem" {
		for (i = 4; i <= NF; i++) {
			split($i, kv, "=")
			gmem[k, $2, $3, kv[1]] = kv[2]
		}
		next
	}
	$1 == "holdsecret" { held[k] = $2; next }
	$1 == "setup" { sub(/^setup /, ""); setup[k] = setup[k] "\n" $0; next }
	{ res[k, $1] = $2; cnt[k, $1] = $3 "/" $4 "/" $5; secs[k, $1] = $6 }
	END {
		fmt = "%-38s %-9s %-9s %-11s %-14s %s\n"
		printf fmt, "test", "stock", "gigapool", "stock p/f/s", "gigapool p/f/s", "seconds s/g"
		for (i = 1; i <= n; i++) {
			t = order[i]
			R["stock"] = (("stock", t) in res) ? res["stock", t] : "missing"
			k = "stock"
			if (R[k] == "pass") tap[++ntap] = "ok - " k ": " t
			else if (R[k] == "skip") tap[++ntap] = "ok - " k ": " t " # SKIP"
			else tap[++ntap] = "not ok - " k ": " t " (" R[k] ") # TODO fails on stock"
			# A gmem: test runs on gigapool once per mode of the switch.
			nruns = split((t in expect) ? t "@prefer " t "@require" : t, runs, " ")
			for (j = 1; j <= nruns; j++) {
				g = runs[j]
				R["gigapool"] = (("gigapool", g) in res) ? res["gigapool", g] : "missing"
				note = ""
				k = "gigapool"
				if (R[k] == "pass")
					tap[++ntap] = "ok - " k ": " g
				else if (R[k] == "skip" && R["stock"] != "pass")
					tap[++ntap] = "ok - " k ": " g " # SKIP"
				else if (failing(R[k]) && failing(R["stock"])) {
					tap[++ntap] = "not ok - " k ": " g " (" R[k] ") # TODO fails on stock too"
					note = "  (fails on stock too)"
				} else {
					tap[++ntap] = "not ok - " k ": " g " (" R[k] "; stock: " R["stock"] ")"
					note = "  <- REGRESSION"
				}
				printf fmt, g, R["stock"], R[k], cnt["stock", t], cnt[k, g],
					secs["stock", t] "/" secs[k, g] note
				if (!(t in expect))
					continue
				# Where its guest memory came from, from the pool counters
				# before and after the run: no sampling while it runs.
				mode = substr(g, length(t) + 2)
				check(gm(g, "before", "mode") == mode,
				      g ": ran with the guest_memfd switch at " mode " (got " gm(g, "before", "mode") \
				      "; guest_memfd_pages +" rise(g, "guest_memfd_pages") ")")
				pages = rise(g, "guest_memfd_pages")
				if (expect[t] == "pool")
					check(pages != "" && pages > 0,
					      g ": its guest memory came from the pool (guest_memfd_pages +" pages ")")
				else if (expect[t] == "stock")
					check(pages != "" && pages == 0,
					      g ": none of its guest memory came from the pool, as its VM type is not one the pool serves (guest_memfd_pages +" pages ")")
				if (mode == "require")
					check(rise(g, "fallbacks") == "0",
					      g ": nothing fell back to ordinary memory (fallbacks +" rise(g, "fallbacks") ")")
			}
		}
		for (i = 1; i <= n; i++)
			if (order[i] in why)
				printf "skipped %s: %s\n", order[i], why[order[i]]
		for (i = 1; i <= ntap; i++)
			print tap[i]
		ntap = 0

		# What the tests rely on, asserted on both kernels from init.sh'"'"'s
		# state lines: "boot" before any setup, "before" and "after" the tests.
		for (kk = 0; kk < 2; kk++) {
			k = kk ? "gigapool" : "stock"
			check(done[k], "the guest finished (its console: build/upstream/" k ".log)")
			check(trouble[k] == "", "no kernel trouble on the console" (trouble[k] == "" ? "" : ":\n" trouble[k]))
			check(setup[k] == "", "every setup step succeeded" setup[k])
			check(states[k] == " boot before after", "init.sh printed its states boot, before and after (got:" states[k] ")")
			check(st("before", "hugetlb_nr") == huge, "the " huge " 1 GiB hugetlb pages were reserved before the tests (hugetlb_nr=" st("before", "hugetlb_nr") ")")
			if (secret > 0)
				check(held[k] == secret && st("before", "holdsecret") == "alive" && st("after", "holdsecret") == "alive",
				      "holdsecret kept " secret " MiB of memfd_secret faulted from before to after the tests (faulted: " held[k] " MiB, holder " st("before", "holdsecret") " before, " st("after", "holdsecret") " after)")
			split2 = st("after", "direct_map_level2_splits") - st("boot", "direct_map_level2_splits")
			split3 = st("after", "direct_map_level3_splits") - st("boot", "direct_map_level3_splits")
			counters = st("boot", "direct_map_level2_splits") ~ /^[0-9]+$/ && st("after", "direct_map_level2_splits") ~ /^[0-9]+$/ &&
				   st("boot", "direct_map_level3_splits") ~ /^[0-9]+$/ && st("after", "direct_map_level3_splits") ~ /^[0-9]+$/
			check(counters, "/proc/vmstat has direct_map_level2_splits and direct_map_level3_splits")
			if (k == "stock") {
				check(st("before", "nr_chunks") == "", "the stock kernel has no unmapped pool")
				# The positive control of the split check below: on
				# stock, memfd_secret splits the direct map.
				if (secret > 0)
					check(counters && split2 + split3 > 0, "the direct map was split (level2 +" split2 ", level3 +" split3 "), as memfd_secret does without the pool: the counters work")
				continue
			}
			check(st("before", "nr_chunks") == lend && st("after", "nr_chunks") == lend,
			      lend " chunks lent to the pool before and after the tests (nr_chunks " st("before", "nr_chunks") " before, " st("after", "nr_chunks") " after)")
			if (secret > 0)
				check(st("before", "used_pages") != "" && st("before", "used_pages") + 0 >= secret * 256, "holdsecret'"'"'s memfd_secret came from the pool (used_pages=" st("before", "used_pages") ", at least " secret * 256 ")")
			check(st("before", "used_pages") != "" && st("after", "used_pages") == st("before", "used_pages"),
			      "the tests gave every pool page back (used_pages " st("before", "used_pages") " before, " st("after", "used_pages") " after)")
			check(st("boot", "fallbacks") != "" && st("after", "fallbacks") == st("boot", "fallbacks"),
			      "no allocation fell back to mapped memory (fallbacks " st("boot", "fallbacks") " at boot, " st("after", "fallbacks") " after)")
			check(counters && split2 == 0 && split3 == 0,
			      "0 direct-map splits from boot to after the tests (level2 +" split2 ", level3 +" split3 ")")
			check(st("boot", "gmem_mode") == "flag" && st("after", "gmem_mode") == "flag",
			      "the guest_memfd switch was at flag at boot and is again after the tests (" st("boot", "gmem_mode") ", " st("after", "gmem_mode") ")")
		}
		for (i = 1; i <= ntap; i++)
			print tap[i]
	}' "${results[@]}" >"$summary"
# The plan: every result line above, so that a stream cut short fails.
echo "1..$(grep -cE '^(not )?ok' "$summary")" >>"$summary"
tap_summary <"$summary"
