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
# tests/e2e/scenario.sh run by gigapool-e2e.service.  tests/e2e/render.sh
# reads the output: the run fails on a failed assertion, results that are
# incomplete or disagree (no plan, fewer or more assertions than planned,
# a count line without its numbers), a verdict that does not say the
# scenario held, a guest that did not finish, a kernel oops/BUG/WARNING
# line (tests/lib/console.sh), a unit systemd reports failed, or a
# timeout.  The console is kept in build/e2e/console.log, the results the
# scenario wrote to the guest's second serial port, which nothing else
# writes to, in build/e2e/results.log.  Needs root (the root filesystem
# is made with mmdebstrap).
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

echo "# e2e: $kernel (console: $out/console.log, results: $out/results.log)"
rm -f "$out/results.log"
start=$(date +%s)
{
	rc=0
	timeout "$timeout" "$top/tests/lib/qemu.sh" --mem 12G --kernel "$kernel" \
		--initrd "$initrd" --results "$out/results.log" "${boot[@]}" </dev/null || rc=$?
	echo "# host qemu-exit $rc"
	echo "# host runtime $(($(date +%s) - start))"
} | tee "$out/console.log" | if [ "$mode" = tap ]; then
	"$src/render.sh" tap "$out/results.log" | tap_summary --plan
else
	"$src/render.sh" demo "$out/results.log"
fi
