#!/bin/bash
# The root filesystem of the end-to-end VM host: Debian 12 (minbase) with
# systemd as PID 1, made by mmdebstrap from Debian's archive only, as an
# uncompressed cpio archive for the kernel's initramfs.
#
#   rootfs.sh OUT.cpio
#
# The archive depends only on this script (the package list and options
# below), so it is rebuilt when the script changes and otherwise reused
# between runs on the same machine: build/e2e/base-HASH.cpio.  Without it,
# it is made from scratch (about 30 s and 60 MB of packages).  The project
# itself is not in it; tests/e2e/run.sh appends it as a second archive.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
suite=bookworm
# systemd-sysv for /sbin/init; the libraries gigapoold and gigapoolctl link
# (libsystemd0 comes with systemd).
packages=systemd,systemd-sysv,libcjson1,libnuma1,libcap2

if [ "$(id -u)" -ne 0 ]; then
	echo "rootfs.sh: building the Debian root filesystem needs root (mmdebstrap, device nodes)" >&2
	exit 1
fi
command -v mmdebstrap >/dev/null || {
	echo "rootfs.sh: mmdebstrap is missing: apt-get install -y mmdebstrap" >&2
	exit 1
}

key=$(sha256sum "$0" | cut -c1-16)
cached=$top/build/e2e/base-$key.cpio
if [ ! -s "$cached" ]; then
	work=$top/build/e2e/rootfs-work
	rm -rf "$work"
	mkdir -p "$work/root"
	echo "# e2e: building the Debian $suite root filesystem with mmdebstrap"
	# Documentation and translations are of no use to the test and make up
	# a third of the image.
	mmdebstrap --quiet --variant=minbase --include="$packages" \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		"$suite" "$work/root.tar"
	tar -C "$work/root" -xpf "$work/root.tar"
	# The kernel runs /init from an initramfs; here that is systemd.
	ln -sfn /lib/systemd/systemd "$work/root/init"
	rm -f "$top"/build/e2e/base-*.cpio
	(cd "$work/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$cached.tmp"
	mv "$cached.tmp" "$cached"
	rm -rf "$work"
fi
ln -sfn "$(basename "$cached")" "$out"
