#!/bin/bash
# The root filesystem of the end-to-end VM host: Debian 12 (minbase) with
# systemd as PID 1, made by mmdebstrap from Debian's archive only.
#
#   rootfs.sh OUT.cpio
#	for the test kernel: an uncompressed cpio archive for the kernel's
#	initramfs, with systemd as its /init
#   rootfs.sh --deb IMAGE.deb OUT.tar
#	for a host kernel package (make kernel-deb): IMAGE.deb installed by
#	apt, with kmod, udev and initramfs-tools as on a real host, so that
#	its postinst makes /boot/initrd.img-VERSION; a tar archive of the tree
#
# An archive depends only on this script (the package list and options
# below) and on IMAGE.deb, so it is rebuilt when they change and otherwise
# reused between runs on the same machine: build/e2e/base-HASH.cpio or
# build/e2e/host-HASH.tar.  Without it, it is made from scratch (about
# 30 s and 60 MB of packages for the cpio).  The project itself is not in
# it; tests/e2e/run.sh adds it the way an operator installs it.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
suite=bookworm
# systemd-sysv for /sbin/init; the libraries gigapoold and gigapoolctl link
# (libsystemd0 comes with systemd).
packages=systemd,systemd-sysv,libcjson1,libnuma1,libcap2

deb=''
if [ "${1-}" = --deb ]; then
	deb=$(realpath "${2:?rootfs.sh: --deb needs IMAGE.deb}")
	shift 2
fi
out=${1:?usage: rootfs.sh [--deb IMAGE.deb] OUT}

if [ "$(id -u)" -ne 0 ]; then
	echo "rootfs.sh: building the Debian root filesystem needs root (mmdebstrap, device nodes)" >&2
	exit 1
fi
command -v mmdebstrap >/dev/null || {
	echo "rootfs.sh: mmdebstrap is missing: apt-get install -y mmdebstrap" >&2
	exit 1
}

if [ -n "$deb" ]; then
	key=$(cat "$0" "$deb" | sha256sum | cut -c1-16)
	kind=host suffix=tar
	# A Debian host boots the package's vmlinuz with the initrd that
	# initramfs-tools makes for it, loads modules with kmod and udev.
	packages=$packages,kmod,udev,initramfs-tools
else
	key=$(sha256sum "$0" | cut -c1-16)
	kind=base suffix=cpio
fi
cached=$top/build/e2e/$kind-$key.$suffix
if [ ! -s "$cached" ]; then
	work=$top/build/e2e/rootfs-work
	rm -rf "$work"
	mkdir -p "$work/root"
	echo "# e2e: building the Debian $suite root filesystem with mmdebstrap${deb:+ and $(basename "$deb")}"
	# Documentation and translations are of no use to the test and make up
	# a third of the image.  The kernel package goes in last, with dpkg -i
	# as on a host that has initramfs-tools already: it does not depend on
	# it, and installed together with it, it may be set up first and get
	# no initrd.
	hooks=()
	if [ -n "$deb" ]; then
		name=$(basename "$deb")
		hooks=(--customize-hook="copy-in $deb /tmp"
			--customize-hook="chroot \"\$1\" dpkg -i /tmp/$name"
			--customize-hook="rm \"\$1/tmp/$name\"")
	fi
	mmdebstrap --quiet --variant=minbase --include="$packages" "${hooks[@]}" \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		"$suite" "$work/root.tar"
	rm -f "$top"/build/e2e/"$kind"-*."$suffix"
	if [ -n "$deb" ]; then
		mv "$work/root.tar" "$cached"
	else
		tar -C "$work/root" -xpf "$work/root.tar"
		# The kernel runs /init from an initramfs; here that is systemd.
		ln -sfn /lib/systemd/systemd "$work/root/init"
		(cd "$work/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$cached.tmp"
		mv "$cached.tmp" "$cached"
	fi
	rm -rf "$work"
fi
ln -sfn "$(basename "$cached")" "$out"
