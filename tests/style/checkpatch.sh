#!/bin/bash
# The kernel changes must pass the kernel's own style checker, strictly:
# every new file of the overlay and every patch of the series.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tree=$top/build/kernel-src/gigapool
"$top/kernel/build.sh" gigapool --tree-only
cd "$tree"
files=$(cd "$top/kernel/tree" && find . -type f -name '*.[ch]' | sed 's|^\./||' | sort)
passed=0 failed=0
check() {
	if out=$(./scripts/checkpatch.pl --strict --no-tree --quiet "$@" 2>&1); then
		echo "ok - checkpatch $*"
		passed=$((passed + 1))
	else
		echo "not ok - checkpatch $*"
		echo "$out" | sed 's/^/# /'
		failed=$((failed + 1))
	fi
}
for f in $files include/uapi/linux/unmapped_pool.h; do
	check -f "$f"
done
for p in "$top"/kernel/patches/*.patch; do
	check "$p"
done
echo "checkpatch: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
