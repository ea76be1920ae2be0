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
git commit -q -F - <<'MSG'
mm: add an allocator of pages unmapped from the direct map

memfd_secret and guest_memfd need memory that the kernel itself cannot
reach.  Taking such pages out of the direct map one at a time splits its
1 GiB mappings down to 4 KiB for good and flushes every CPU's TLB per
page.

Add a per-node pool that borrows whole PUD-sized pages of hugetlb_cma=,
removes each from the direct map as one PUD with one TLB flush, and
serves pages of up to PMD order from it: unmapped_pool_alloc_pages()
and unmapped_pool_free_pages().  Placement keeps one owner's pages in
blocks of their own and fills the fullest chunk first, so that chunks
empty out and can go back to hugetlb.  Freed pages are wiped through a per-CPU temporary
mapping before the chunk is mapped again.

User interfaces: sysfs nr_chunks and counters under
/sys/kernel/mm/unmapped_pool/ and per node, /dev/unmapped_pool for a
management daemon (include/uapi/linux/unmapped_pool.h), a debugfs chunk
map, and KUnit tests.  The Kconfig option and the hook that returns
freed pages to the pool follow in the next patch.

Signed-off-by: gigapool developers <gigapool@localhost>
MSG
git am -q $(ls "$top"/kernel/patches/*.patch | grep -v /0001-)
git format-patch -q --cover-letter -o "$out" "$base"
ls "$out"
