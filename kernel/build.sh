#!/bin/bash
# Build a test-guest kernel from Debian's linux-source-6.12.
#
#   kernel/build.sh gigapool|stock [debug] [--tree-only]
#
# debug adds kernel/config/debug.config (KASAN, lockdep, DEBUG_VM);
# --tree-only prepares the patched source tree and stops.
#
# The source tree is extracted afresh whenever the project's kernel/ changes
# and is patched in a scratch directory that is only renamed into place once
# every patch applied, so a failed patch never leaves a half-patched tree.
# Object files live in a separate O= directory and the compiler runs under
# ccache, so rebuilding after a small change takes a minute, not three.
# A build from scratch takes minutes: every 30 s it says how many objects it
# compiled so far.
set -euo pipefail

variant=${1:?usage: kernel/build.sh gigapool|stock [debug] [--tree-only]}
shift
flavour=
tree_only=
for arg; do
	case $arg in
	debug) flavour=debug ;;
	--tree-only) tree_only=1 ;;
	*) echo "kernel/build.sh: unknown argument '$arg'" >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/progress.sh"
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
want_version=6.12
build=$top/build
jobs=${JOBS:-$(nproc)}

case $variant in
gigapool|stock) ;;
*) echo "kernel/build.sh: unknown variant '$variant' (gigapool or stock)" >&2; exit 2 ;;
esac
name=$variant${flavour:+-$flavour}

if [ ! -r "$tarball" ]; then
	echo "kernel/build.sh: $tarball is missing: apt-get install linux-source-6.12" >&2
	exit 1
fi

mkdir -p "$build"
# Two kernel builds at once on a two-core machine only slow each other down.
exec 9>"$build/.kernel-build.lock"
flock 9

# make_tree DIR: extract the tarball into DIR and, for gigapool, apply the
# patches and add the project's files.
make_tree() {
	local scratch=$1 version p
	tar -xf "$tarball" -C "$scratch" --strip-components=1
	version=$(make -s -C "$scratch" kernelversion)
	case $version in
	"$want_version".*) ;;
	*) echo "kernel/build.sh: $tarball holds Linux $version, gigapool is written for $want_version" >&2
	   return 1 ;;
	esac
	[ "$variant" = gigapool ] || return 0
	for p in "$top"/kernel/patches/*.patch; do
		[ -e "$p" ] || continue
		if ! patch -d "$scratch" -p1 -s --dry-run < "$p" >/dev/null; then
			echo "kernel/build.sh: $(basename "$p") does not apply to Linux $version" >&2
			return 1
		fi
		patch -d "$scratch" -p1 -s --no-backup-if-mismatch < "$p"
	done
	cp -r "$top/kernel/tree/." "$scratch/"
	cp "$top/include/uapi/linux/unmapped_pool.h" "$scratch/include/uapi/linux/"
}

# What the tree depends on: the tarball, how make_tree makes it (its code,
# without comments: declare -f drops them) and, for gigapool, every file
# the project puts into it.
key=$( {
	stat -c '%n %s %Y' "$tarball"
	declare -f make_tree
	if [ "$variant" = gigapool ]; then
		cd "$top"
		find kernel/tree kernel/patches include/uapi -type f | sort | xargs sha256sum
	fi
} | sha256sum | cut -c1-16)
src=$build/kernel-src/$variant
if [ "$(cat "$src/.gigapool-key" 2>/dev/null)" != "$key" ]; then
	echo "== extracting $tarball for $variant"
	scratch=$build/kernel-src/.$variant.new
	rm -rf "$scratch"
	mkdir -p "$scratch"
	# Called as a plain command so that set -e applies inside it; a
	# failure leaves no half-made tree behind.
	trap 'rm -rf "$scratch"' EXIT
	make_tree "$scratch"
	trap - EXIT
	echo "$key" > "$scratch/.gigapool-key"
	rm -rf "$src"
	mv "$scratch" "$src"
fi

[ -n "$tree_only" ] && exit 0

obj=$build/kernel-obj/$name
mkdir -p "$obj"
cc="gcc"
# ccache keeps its cache where it always does (~/.cache/ccache), so that
# later clones on the same machine reuse it; a cold cache only costs time.
command -v ccache >/dev/null && cc="ccache gcc"
# The whole tree is rebuilt from fresh timestamps after an extraction;
# ccache keys on content and compiler flags, so those rebuilds hit.
export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
# With O= kbuild names sources by absolute path; relative to the project
# they are the same in every clone, so a second clone of the project hits
# the cache the first one filled.
export CCACHE_BASEDIR=$top

frags=("$top/kernel/config/gigapool.config")
[ "$flavour" = debug ] && frags+=("$top/kernel/config/debug.config")
make -s -C "$src" O="$obj" CC="$cc" tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "${frags[@]}" >/dev/null
make -s -C "$src" O="$obj" CC="$cc" olddefconfig >/dev/null
# Fail early and clearly when an option the tests rely on did not stick
# (merge_config only warns).
for opt in $(grep -h '^CONFIG_.*=y' "${frags[@]}" | cut -d= -f1); do
	case $variant:$opt in
	stock:CONFIG_UNMAPPED_POOL*) continue ;;
	esac
	if ! grep -q "^$opt=y" "$obj/.config"; then
		echo "kernel/build.sh: $opt is not set in the $name configuration" >&2
		exit 1
	fi
done
echo "== building $name kernel (-j$jobs)"
start=$(date +%s)
progress_objects "building $name kernel" "$obj"
make -s -C "$src" O="$obj" CC="$cc" -j"$jobs" bzImage
progress_stop
# build/kernel, build/kernel-stock, build/kernel-debug: where the tests look.
case $name in
gigapool) out=$build/kernel ;;
gigapool-debug) out=$build/kernel-debug ;;
*) out=$build/kernel-$name ;;
esac
mkdir -p "$out"
cp "$obj/arch/x86/boot/bzImage" "$out/bzImage"
cp "$obj/.config" "$out/config"
# The in-guest tests need this kernel's uAPI (guest_memfd is newer than
# Debian 12's linux-libc-dev).
make -s -C "$src" O="$obj" headers_install INSTALL_HDR_PATH="$out/headers" >/dev/null
echo "== $out/bzImage ($(elapsed $(($(date +%s) - start))))"
