#!/bin/bash
# Build build/guest/initramfs.cpio.gz for the test guest: busybox-static
# with a symlink per applet, tests/kernel/init.sh as /init, and every test
# program (tests/kernel/*.c) linked statically with tests/lib/util.c.
#
# The programs compile against the project's uAPI header and the uAPI of
# the gigapool kernel (`make kernel` installs it): guest_memfd is newer than
# Debian 12's linux-libc-dev.
#
# The image is rebuilt only when one of its inputs changed: the sources
# here, the uAPI headers the programs compile against, busybox, the compiler.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
src=$top/tests/kernel
lib=$top/tests/lib
out=$top/build/guest
busybox=${BUSYBOX:-/bin/busybox}
image=$out/initramfs.cpio.gz
headers=$top/build/kernel/headers/include
cflags=(-static -O2 -Wall -Werror -I "$top/include/uapi" -I "$headers" -I "$lib" -pthread)

if [ ! -r "$headers/linux/kvm.h" ]; then
	echo "mkinitramfs: $headers is missing: run 'make kernel' first" >&2
	exit 1
fi

mkdir -p "$out"
# Every installed uAPI header, not just the ones the programs name: they
# include each other (linux/kvm.h pulls in asm/kvm.h, linux/types.h...).
key=$( {
	sha256sum "$src"/*.c "$lib/util.c" "$lib/util.h" "$src/init.sh" "$src/mkinitramfs.sh" \
		"$top"/include/uapi/linux/*.h "$busybox"
	(cd "$headers" && find . -type f | LC_ALL=C sort | xargs -d '\n' sha256sum)
	gcc --version | head -n 1
} | sha256sum | cut -c1-16)
if [ -e "$image" ] && [ "$(cat "$out/initramfs.key" 2>/dev/null)" = "$key" ]; then
	exit 0
fi

root=$out/root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
# The kernel opens /dev/console for init before init can mount devtmpfs.
mknod -m 600 "$root/dev/console" c 5 1

for prog in "$src"/*.c; do
	name=$(basename "$prog" .c)
	echo "== cc $name"
	gcc "${cflags[@]}" -o "$root/bin/$name" "$prog" "$lib/util.c"
done
install -m 755 "$src/init.sh" "$root/init"

# Sorted and owned by root so that the same inputs give the same image.
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
	gzip -9n > "$image.tmp"
mv "$image.tmp" "$image"
echo "$key" > "$out/initramfs.key"
echo "== $image"
