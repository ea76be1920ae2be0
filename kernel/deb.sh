#!/bin/bash
# Build installable Debian packages of the gigapool kernel for a real host:
# Debian's own amd64 configuration plus kernel/config/host.config, built
# with the kernel's bindeb-pkg target.  The packages land in build/deb/.
#
#   kernel/deb.sh [--config-only]
#
# --config-only prepares and checks the configuration without the long
# build (a full Debian configuration takes hours on two cores).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/progress.sh"
debconf=/usr/src/linux-config-6.12/config.amd64_none_amd64.xz
tree=$top/build/kernel-src/gigapool
src=$top/build/kernel-src/deb
obj=$top/build/kernel-obj/deb

[ -r "$debconf" ] || { echo "kernel/deb.sh: $debconf is missing: apt-get install linux-config-6.12" >&2; exit 1; }
# The patched tree is prepared (and checked) by the test-kernel build.  The
# packages build from a copy of it: their build takes hours, and a test
# kernel built meanwhile replaces the tree whenever kernel/ changes.  The
# copy is brought up to date by content, not by time stamps (a fresh
# extraction dates every patched file anew), so that make rebuilds only
# what really changed and an interrupted build resumes where it stopped.
"$top/kernel/build.sh" gigapool --tree-only
(
	flock 9
	if ! cmp -s "$tree/.gigapool-key" "$src/.gigapool-key"; then
		mkdir -p "$src"
		rsync -rlp --checksum --delete "$tree/" "$src/"
	fi
) 9>"$top/build/.kernel-build.lock"
mkdir -p "$obj"
xzcat "$debconf" > "$obj/.config"
"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$top/kernel/config/host.config" >/dev/null
make -s -C "$src" O="$obj" olddefconfig >/dev/null
for opt in $(grep -h '^CONFIG_.*=y' "$top/kernel/config/host.config" | cut -d= -f1); do
	grep -q "^$opt=y" "$obj/.config" || { echo "kernel/deb.sh: $opt did not stick" >&2; exit 1; }
done
echo "== configuration ready: $obj/.config"
[ "${1:-}" = --config-only ] && exit 0
# The build takes hours and its own output says little of how far it is.
start=$(date +%s)
progress_objects "building the Debian packages" "$obj"
# dpkg-buildpackage is run with -j1 by the kernel's Makefile.package, which
# makes the whole build serial; DPKG_FLAGS comes later and wins.
make -C "$src" O="$obj" -j"$(nproc)" DPKG_FLAGS=-j"$(nproc)" LOCALVERSION=-gigapool KDEB_PKGVERSION="$(make -s -C "$src" kernelversion)-1gigapool" bindeb-pkg
progress_stop
echo "== packages built in $(elapsed $(($(date +%s) - start)))"
# Only this build's packages: make check-deb takes the one image there is.
mkdir -p "$top/build/deb"
rm -f "$top"/build/deb/*.deb
mv "$top"/build/kernel-obj/*.deb "$top/build/deb/"
ls -l "$top/build/deb/"
