#!/bin/bash
# Emit the kernel changes as a `git format-patch` series for mailing-list
# review, in build/kernel-patches/: the hugetlb hooks, the new files of the
# pool, the free-path hook, the secretmem and guest_memfd consumers and the
# hibernation check, one commit each, on top of the pristine Debian 6.12
# tree.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
pristine=$top/build/kernel-src/stock
work=$top/build/kernel-series
out=$top/build/kernel-patches
[ -d "$pristine" ] || "$top/kernel/build.sh" stock --tree-only

rm -rf "$work" "$out"
cp -a "$pristine" "$work"
cd "$work"
rm -f .gigapool-key
git init -q
git config user.name "gigapool developers"
git config user.email "gigapool@localhost"
# Debian's .gitignore ignores the whole top level (it versions only
# debian/), so everything is added by force.
git add -A -f
git commit -q -m "Linux $(make -s kernelversion) as shipped by Debian"
base=$(git rev-parse HEAD)

git am -q "$top/kernel/patches/0001-"*.patch
cp -r "$top/kernel/tree/." .
cp "$top/include/uapi/linux/unmapped_pool.h" include/uapi/linux/
git add -A -f
git commit -q -F "$top/kernel/new-files.msg"
git am -q $(ls "$top"/kernel/patches/*.patch | grep -v /0001-)
git format-patch -q --cover-letter -o "$out" "$base"
ls "$out"
