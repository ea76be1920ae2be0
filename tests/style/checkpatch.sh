#!/bin/bash
# The kernel changes must pass the kernel's own style checker, strictly:
# every new file of the overlay and every patch of the series.  One TAP
# line per file, the plan 1..N, then tests/lib/tap.sh's "N passed,
# N failed, N skipped".
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
tree=$top/build/kernel-src/gigapool
"$top/kernel/build.sh" gigapool --tree-only
cd "$tree"
files=$(cd "$top/kernel/tree" && find . -type f -name '*.[ch]' | sed 's|^\./||' | sort)
n=0
check() {
	n=$((n + 1))
	if out=$(./scripts/checkpatch.pl --strict --no-tree --quiet "$@" 2>&1); then
		echo "ok - checkpatch $*"
	else
		echo "not ok - checkpatch $*"
		echo "$out" | sed 's/^/# /'
	fi
}
{
	for f in $files include/uapi/linux/unmapped_pool.h; do
		check -f "$f"
	done
	for p in "$top"/kernel/patches/*.patch; do
		check "$p"
	done
	echo "1..$n"
} | tap_summary --plan
