#!/bin/bash
# Run upstream's own 6.12 selftests (tests/upstream/tests.list) in QEMU on
# the gigapool kernel with the unmapped pool lent and in use, and on the
# stock kernel booted the same way, and compare.
#
#   run.sh                 both kernels, all tests of tests.list
#   run.sh TEST...         both kernels, only these tests (for debugging)
#
# Both guests boot with 1 GiB default huge pages and hugetlb_cma=4G; init
# lends UPSTREAM_LEND chunks (2; only the gigapool kernel has the pool), then
# reserves UPSTREAM_HUGE 1 GiB hugetlb pages (2) from what is left of the CMA
# area, and keeps UPSTREAM_SECRET MiB of memfd_secret faulted (64; from the
# pool on gigapool) while the tests run.
#
# A test passes when it exits 0 with no "not ok" TAP line; it is skipped when
# it exits 4 (KSFT_SKIP), reports only SKIP results, or tests.list marks it
# skip (the reason is printed); anything else, a timeout included, fails.
# The console of each boot is in build/upstream/NAME.log.  The exit status is
# non-zero when a test passes on stock but not on gigapool, when a console
# shows a kernel oops/BUG/WARNING (tests/lib/console.sh), or when a guest
# does not finish.  After the table, every test on each kernel is a TAP
# line, and the last line is tests/lib/tap.sh's "N passed, N failed,
# N skipped", counted over both kernels.
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

"$here/build.sh"

# The initramfs: busybox, the test binaries, init.sh as /init and the list.
# Rebuilt when one of those changed.
mkinitramfs() {
	local key root=$out/root applet
	key=$(sha256sum "$busybox" "$out"/bin/* "$here/init.sh" "$list" | sha256sum | cut -c1-16)
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

# parse LOG: one line per test of the list, "NAME RESULT PASS FAIL SKIP
# SECONDS" (PASS/FAIL/SKIP count its TAP results; RESULT is pass, fail,
# skip, timeout, or missing when the guest never printed its exit line),
# then "done" if the guest ended, then "console LINE" per kernel trouble line.
parse() {
	awk -v list="$list" '
	BEGIN {
		while ((getline line < list) > 0) {
			split(line, f, " ")
			if (f[1] == "" || f[1] ~ /^#/)
				continue
			order[++n] = f[1]
			limit[f[1]] = f[2]
		}
	}
	{ sub(/\r$/, "") }
	/^# test / { cur = $3; p[cur] = f_[cur] = s[cur] = 0; next }
	/^# exit / { rc[$3] = $4; secs[$3] = $5; cur = ""; next }
	/^# guest done/ { done = 1; next }
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
	limit=$(awk '!/^#/ && $2 ~ /^[0-9]+$/ { s += $2 } END { print s + 120 }' "$list")
	echo "== $name: $kernel ($guest_args$only), console in $log"
	timeout "$limit" "$top/tests/lib/qemu.sh" --kernel "$kernel" --initrd "$initrd" \
		--append "$guest_args$only" </dev/null >"$log" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || echo "== $name: qemu exited with status $rc (124: timed out after ${limit}s)"
	parse "$log" >"$out/$name.results"
	grep '^# \(state\|holdsecret\)' "$log" | sed "s/^/   $name /" || true
}

tests=("$@")
mkdir -p "$out"
mkinitramfs
start=$SECONDS
boot stock "$top/build/kernel-stock/bzImage"
boot gigapool "$top/build/kernel/bzImage"
echo "== both kernels in $((SECONDS - start)) s"

# The table, every result as a TAP line, and the verdict, from the two
# result files; tests/lib/tap.sh counts the results.  The verdict is the
# exit status of this awk, not the count: a test that fails on both
# kernels is counted failed, but it is not gigapool's regression.
verdict=0
awk -v list="$list" -v only=",$(IFS=,; echo "${tests[*]:-}")," '
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
		}
	}
	FNR == 1 { k = (FILENAME ~ /stock\.results$/) ? "stock" : "gigapool"; ran[k] = 1 }
	$1 == "console" { sub(/^console /, ""); trouble[k] = trouble[k] "   " k ": " $0 "\n"; next }
	$1 == "done" { done[k] = 1; next }
	{ res[k, $1] = $2; cnt[k, $1] = $3 "/" $4 "/" $5; secs[k, $1] = $6 }
	END {
		fmt = "%-34s %-9s %-9s %-11s %-14s %s\n"
		printf fmt, "test", "stock", "gigapool", "stock p/f/s", "gigapool p/f/s", "seconds s/g"
		for (i = 1; i <= n; i++) {
			t = order[i]
			for (kk = 0; kk < 2; kk++) {
				k = kk ? "gigapool" : "stock"
				r = ((k, t) in res) ? res[k, t] : "missing"
				if (r == "pass") tap[++ntap] = "ok - " k ": " t
				else if (r == "skip") tap[++ntap] = "ok - " k ": " t " # SKIP"
				else tap[++ntap] = "not ok - " k ": " t " (" r ")"
				R[k] = r
			}
			note = ""
			if (R["stock"] == "pass" && R["gigapool"] != "pass") { note = "  <- REGRESSION"; bad = 1 }
			printf fmt, t, R["stock"], R["gigapool"], cnt["stock", t], cnt["gigapool", t],
				secs["stock", t] "/" secs["gigapool", t] note
		}
		for (i = 1; i <= n; i++)
			if (order[i] in why)
				printf "skipped %s: %s\n", order[i], why[order[i]]
		for (i = 1; i <= ntap; i++)
			print tap[i]
		for (kk = 0; kk < 2; kk++) {
			k = kk ? "gigapool" : "stock"
			if (!done[k]) {
				printf "not ok - %s: the guest did not finish (see its log)\n", k
				bad = 1
			}
			if (trouble[k] != "") {
				printf "not ok - %s: kernel trouble on the console:\n%s", k, trouble[k]
				bad = 1
			}
		}
		exit bad
	}' "$out/stock.results" "$out/gigapool.results" >"$out/summary.tap" || verdict=$?
tap_summary --no-status <"$out/summary.tap"
exit "$verdict"
