#!/bin/bash
# The end-to-end scenario: a VM host in a box (docs/demo.md).
#
#   run.sh [--deb IMAGE.deb]           TAP: one line per assertion, then
#                                      "N passed, N failed, N skipped"
#   run.sh [--deb IMAGE.deb] --demo    the same scenario as a narrated
#                                      timeline and a verdict
#
# Boots build/kernel/bzImage in QEMU (two fake NUMA nodes, 2 GiB of hugetlb
# CMA each) with systemd as PID 1 on a Debian 12 root filesystem, gigapool
# installed by make install with gigapoold.socket enabled, and
# tests/e2e/scenario.sh run by gigapool-e2e.service.  Fails on a failed
# assertion, a guest that did not finish or printed no verdict, a kernel
# oops/BUG/WARNING line (tests/lib/console.sh), a unit systemd reports
# failed, or a timeout.  The
# console is kept in build/e2e/console.log.  Needs root (the root
# filesystem is made with mmdebstrap).
#
# With --deb, the host runs the kernel package of make kernel-deb instead,
# installed by apt into the root filesystem (tests/e2e/rootfs.sh), booted
# from a virtio disk with the initrd its postinst made, its modules loaded
# by udev; the test programs are built against the linux-libc-dev package
# beside it.  Debian's configuration has no KVM_X86_SW_PROTECTED_VM, the
# only VM type whose guest_memfd a machine without SEV-SNP or TDX can make,
# so the confidential VM holds memfd_secret only, and the scenario checks
# that kvm_amd, which calls the pool's exports, loaded as a module.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/console.sh"
. "$top/tests/lib/tap.sh"
src=$top/tests/e2e
out=$top/build/e2e
# TCG: the boot takes under a minute, faulting the confidential VM's 1.6 GiB in
# 4 KiB pages a few minutes.
timeout=${E2E_TIMEOUT:-1200}

mode=tap deb=''
while [ $# -gt 0 ]; do
	case $1 in
	--demo) mode=demo; shift ;;
	--deb) deb=${2:?run.sh: --deb needs IMAGE.deb}; shift 2 ;;
	*) echo "usage: run.sh [--deb IMAGE.deb] [--demo]" >&2; exit 2 ;;
	esac
done

need=("$top/daemon/build/gigapoold" "$top/daemon/build/gigapoolctl")
if [ -n "$deb" ]; then
	libc_dev=$(echo "$(dirname "$deb")"/linux-libc-dev_*.deb)
	need+=("$deb" "$libc_dev")
	targets='kernel-deb daemon'
else
	kernel=${KERNEL:-$top/build/kernel/bzImage}
	need+=("$kernel")
	targets='kernel daemon'
fi
for f in "${need[@]}"; do
	if [ ! -r "$f" ]; then
		echo "run.sh: $f is missing; build it first (make $targets)" >&2
		exit 1
	fi
done

# The test kernel's initramfs is two cpio archives one after the other,
# which the kernel unpacks in turn: the Debian root filesystem with systemd
# (tests/e2e/rootfs.sh, reused while unchanged) and the project installed
# on top the way an operator installs it: make install, the units enabled.
# The package's host gets the same installed into its tree.
if [ -n "$deb" ]; then
	"$src/rootfs.sh" --deb "$deb" "$out/host.tar"
	root=$out/host-root
	rm -rf "$root" "$out/libc-dev"
	mkdir -p "$root"
	tar -C "$root" -xpf "$out/host.tar"
	dpkg-deb -x "$libc_dev" "$out/libc-dev"
	headers=(-I "$out/libc-dev/usr/include" -I "$out/libc-dev/usr/include/x86_64-linux-gnu")
else
	"$src/rootfs.sh" "$out/base.cpio"
	root=$out/overlay
	rm -rf "$root"
	mkdir -p "$root"
	headers=(-I "$top/build/kernel/headers/include")
fi
make -s -C "$top/daemon" install DESTDIR="$root" PREFIX=/usr SYSCONFDIR=/etc
# Only the socket is enabled: the first query must start the daemon.
systemctl --root="$root" --quiet enable gigapoold.socket
install -m 644 "$src/policy.json" "$root/etc/gigapool/policy.json"
install -D -m 755 "$src/scenario.sh" "$root/usr/local/libexec/gigapool-e2e/scenario.sh"
install -D -m 644 "$src/gigapool-e2e.service" "$root/etc/systemd/system/gigapool-e2e.service"
systemctl --root="$root" --quiet enable gigapool-e2e.service
# The serial console belongs to the scenario, not to a login prompt; and
# the guest has no block devices for e2fsprogs' LVM snapshot reaper.
systemctl --root="$root" --quiet mask serial-getty@ttyS0.service getty.target \
	e2scrub_reap.service
mkdir -p "$root/usr/local/bin"
gcc -static -O2 -Wall -Werror "${headers[@]}" \
	-I "$top/include/uapi" -I "$top/tests/lib" \
	-o "$root/usr/local/bin/vm" "$src/vm.c" "$top/tests/lib/util.c"
if [ -n "$deb" ]; then
	mkdir -p "$root/etc/systemd/system/gigapool-e2e.service.d"
	printf '[Service]\nEnvironment=E2E_KERNEL=deb\n' \
		>"$root/etc/systemd/system/gigapool-e2e.service.d/deb.conf"
	kernel=$(echo "$root"/boot/vmlinuz-*)
	initrd=$(echo "$root"/boot/initrd.img-*)
	# A sparse image with room to spare; mke2fs copies the tree into it.
	rm -f "$out/host.img"
	mke2fs -q -t ext4 -d "$root" "$out/host.img" 4G
	boot=(--disk "$out/host.img" --append "root=/dev/vda rw numa=fake=2")
else
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
		cat "$out/base.cpio" - >"$out/initramfs.cpio"
	initrd=$out/initramfs.cpio
	boot=(--append "numa=fake=2")
fi

# render MODE: the console on stdin, as TAP (which tests/lib/tap.sh then
# counts) or as the demo with its own count; the last input line is
# "# host qemu-exit STATUS".  Exits 1 if anything failed.  The console is
# checked line by line as it streams, so the demo says at once what failed.
render() {
	awk -v mode="$1" -v console_trouble="$console_trouble" '
	function fail(what) {
		failed++
		if (mode == "tap")
			printf "not ok %d - %s\n", ++n, what
		else
			printf "!! FAILED: %s\n", what
		fflush()
	}
	function header(prefix) {
		printf "%s%-12s %4s %9s %9s %6s %9s %6s\n", prefix, "step", "node",
			"huge_free", "huge_used", "chunks", "pool_used", "splits"
	}
	function table(prefix,   i) {
		header(prefix)
		for (i = 1; i <= nrows; i++)
			print prefix rows[i]
	}
	# Drop carriage returns and the colours of the status lines of systemd.
	{ sub(/\r$/, ""); gsub(/\033\[[0-9;]*m/, "") }
	/^\[FAILED\] / { fail("systemd: " substr($0, 10)); next }

	$0 ~ console_trouble {
		fail("kernel console: " $0)
		next
	}
	/^# step / {
		text = $0; sub(/^# step [^ ]+ /, "", text)
		if (mode == "demo")
			printf "\n== %s\n", text
		else
			print "# " text
		next
	}
	/^# say / { sub(/^# say /, ""); print (mode == "demo" ? "   " : "# ") $0; next }
	/^# log / {
		sub(/^# log /, "")
		print (mode == "demo" ? "   | " : "# | ") $0
		next
	}
	/^# row / {
		row = sprintf("%-12s %4s %9s %9s %6s %9s %6s", $3, $4, $5, $6, $7, $8, $9)
		rows[++nrows] = row
		if (mode == "demo") {
			if (nrows == 1)
				header("   ")
			print "   " row
		}
		next
	}
	/^# check / {
		name = $0; sub(/^# check [a-z]+ /, "", name)
		if ($3 == "ok") {
			passed++
			if (mode == "tap")
				printf "ok %d - %s\n", ++n, name
			else
				print "   [ok] " name
			fflush()
		} else {
			fail(name)
		}
		next
	}
	/^# verdict / { verdict = substr($0, 11); next }
	/^# e2e done$/ { done = 1; next }
	/^# host qemu-exit / { qemu = $4; next }
	/^# host runtime / { runtime = $4; next }
	/^# guest / { print; next }
	# Errors of the programs the scenario runs.
	/^(vm|gigapoolctl|journalctl|systemctl|\/usr\/local\/libexec\/gigapool-e2e\/scenario\.sh): / { print (mode == "demo" ? "   " : "# ") $0; next }

	END {
		if (qemu == 124)
			fail("guest timed out")
		else if (qemu != 0)
			fail("qemu exited with status " qemu)
		if (!done)
			fail("guest did not finish the scenario")
		if (verdict == "")
			fail("guest printed no verdict")
		if (mode == "demo") {
			print "\n== timeline"
			table("")
			print "\nruntime: " runtime " s"
			if (verdict != "")
				print "VERDICT: " verdict
		} else {
			print "# timeline"
			table("# ")
			print "# runtime: " runtime " s"
			print "1.." n
		}
		if (mode == "demo")
			printf "%d passed, %d failed\n", passed, failed
		exit failed > 0
	}'
}

echo "# e2e: $kernel (console: $out/console.log)"
start=$(date +%s)
{
	rc=0
	timeout "$timeout" "$top/tests/lib/qemu.sh" --mem 12G --kernel "$kernel" \
		--initrd "$initrd" "${boot[@]}" </dev/null || rc=$?
	echo "# host qemu-exit $rc"
	echo "# host runtime $(($(date +%s) - start))"
} | tee "$out/console.log" | if [ "$mode" = tap ]; then render tap | tap_summary; else render demo; fi
