#!/bin/bash
# Build statically, into build/upstream/bin, the upstream selftests that
# tests/upstream/tests.list names, plus holdsecret (keeps the pool in use
# while they run).
#
# A binary is rebuilt whenever one of its inputs changed: each has a key in
# build/upstream/keys/, the sha256 of this script (the compiler flags are
# in it), the compiler's version, the tree (its extraction key, which
# kernel/build.sh derives from the tarball), the uAPI headers and the
# project's own sources it is made of (holdsecret.c, tests/lib).
#
# Sources come from the pristine 6.12 tree (build/kernel-src/stock), so the
# tests are upstream's own; they compile against the patched tree's uAPI
# headers (build/kernel/headers/include), a superset of upstream's.
#   mm tests:  gcc -static straight from the (read-only) tree, with vm_util.c.
#   KVM tests: upstream's Makefile, which also builds its lib/, run in a copy
#              of tools/ and scripts/ under build/upstream/src because it
#              writes its objects next to the sources.
# memfd_secret links libcap: Debian package libcap-dev (libcap.a).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/upstream
tree=${UPSTREAM_TREE:-$top/build/kernel-src/stock}
hdrs=$top/build/kernel/headers/include
out=$top/build/upstream
bin=$out/bin
mm=$tree/tools/testing/selftests/mm
kvm=$out/src/tools/testing/selftests/kvm

for need in "$tree/tools/testing/selftests" "$hdrs/linux/kvm.h"; do
	[ -e "$need" ] || { echo "build.sh: $need missing (make kernel)" >&2; exit 1; }
done
mkdir -p "$bin" "$out/keys"

# What every binary depends on.  A tree that kernel/build.sh did not
# extract (UPSTREAM_TREE) has no key: then its tools/ and scripts/ are
# hashed, which takes a few seconds.
if [ -r "$tree/.gigapool-key" ]; then
	tree_key=$(cat "$tree/.gigapool-key")
else
	tree_key=$(cd "$tree" && find tools scripts -type f | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum)
fi
common=$( {
	sha256sum <"$0"
	gcc --version | head -n 1
	echo "tree $tree_key"
	(cd "$hdrs" && find . -type f | LC_ALL=C sort | xargs -d '\n' sha256sum)
} | sha256sum | cut -c1-16)

# key FILE...: the key of a binary made from the common inputs and FILEs;
# fresh NAME: binary NAME exists and was made from the inputs of $want.
key() {
	{ echo "$common"; [ $# -eq 0 ] || sha256sum "$@"; } | sha256sum | cut -c1-16
}
fresh() {
	[ -x "$bin/$1" ] && [ "$(cat "$out/keys/$1" 2>/dev/null)" = "$want" ]
}

# The KVM selftests' copy of the tree, made afresh when the common inputs
# changed: upstream's Makefile does not notice other headers or flags, so
# its objects go with the copy.
kvm_tree() {
	[ "$(cat "$out/src/.key" 2>/dev/null)" = "$common" ] && return
	rm -rf "$out/src" "$out/src.tmp"
	mkdir -p "$out/src.tmp"
	cp -a "$tree/tools" "$tree/scripts" "$out/src.tmp/"
	echo "$common" >"$out/src.tmp/.key"
	mv "$out/src.tmp" "$out/src"
}

# The distinct commands of tests.list (lines "NAME TIMEOUT [gmem:EXPECT]
# COMMAND ...").
commands=$(awk '!/^#/ && NF >= 3 && $2 != "skip" { print $3 ~ /^gmem:/ ? $4 : $3 }' \
	"$here/tests.list" | sort -u)
want=$(key)
for cmd in $commands; do
	fresh "$cmd" && continue
	if [ -e "$mm/$cmd.c" ]; then
		echo "== cc mm/$cmd"
		gcc -static -Wall -O2 -D_GNU_SOURCE= -I "$tree" -isystem "$hdrs" \
			-isystem "$tree/tools/include/uapi" \
			-o "$bin/$cmd" "$mm/$cmd.c" "$mm/vm_util.c" -lcap
		echo "$want" >"$out/keys/$cmd"
		continue
	fi
	kvm_tree
	rel=
	for d in "" x86_64/; do
		[ -e "$kvm/$d$cmd.c" ] && rel=$d$cmd
	done
	[ -n "$rel" ] || { echo "build.sh: no selftest source for $cmd" >&2; exit 1; }
	echo "== make kvm/$rel"
	# lib.mk sets OUTPUT only for a top-level make; under `make check`
	# (MAKELEVEL > 0) the tests' rules would not match without it.
	make -s -C "$kvm" -j"$(nproc)" EXTRA_CFLAGS=-static OUTPUT="$kvm" \
		KHDR_INCLUDES="-isystem $hdrs" "$kvm/$rel"
	cp "$kvm/$rel" "$bin/$cmd"
	echo "$want" >"$out/keys/$cmd"
done

want=$(key "$here/holdsecret.c" "$top/tests/lib/util.c" "$top/tests/lib/util.h" \
	"$top"/include/uapi/linux/*.h)
if ! fresh holdsecret; then
	echo "== cc holdsecret"
	# Shares tests/lib's helpers (secret_create, region_*) instead of
	# repeating them.
	gcc -static -O2 -Wall -Werror -I "$top/include/uapi" -I "$hdrs" -I "$top/tests/lib" \
		-o "$bin/holdsecret" "$here/holdsecret.c" "$top/tests/lib/util.c"
	echo "$want" >"$out/keys/holdsecret"
fi

# A binary of a test no longer listed would still go into the initramfs.
for file in "$bin"/*; do
	name=$(basename "$file")
	[ "$name" = holdsecret ] || grep -qx -- "$name" <<<"$commands" || rm -f "$file" "$out/keys/$name"
done
