#!/bin/bash
# Regenerate kernel/patches/*.patch from an edited tree.
#
#   kernel/refresh-patches.sh [TREE]
#
# Edit the hooks in TREE (default build/kernel-src/gigapool, as prepared by
# `make kernel`), then run this: every patch keeps its header (subject and
# explanation) and gets its diff recomputed, file by file, against the
# pristine tree that `make kernel-stock` extracted.  Each hooked file
# belongs to exactly one patch, which keeps the series reviewable.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tree=${1:-$top/build/kernel-src/gigapool}
pristine=$top/build/kernel-src/stock
[ -d "$pristine" ] || { echo "refresh-patches: run 'make kernel-stock' first" >&2; exit 1; }

for p in "$top"/kernel/patches/*.patch; do
	files=$(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$p")
	new=$(mktemp)
	sed '/^---$/q' "$p" > "$new"
	for f in $files; do
		diff -u --label "a/$f" --label "b/$f" "$pristine/$f" "$tree/$f" >> "$new" || true
	done
	mv "$new" "$p"
done
echo "refreshed $(ls "$top"/kernel/patches/*.patch | wc -l) patches"
