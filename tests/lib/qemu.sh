#!/bin/bash
# Boot a test kernel under QEMU's TCG the way every test and benchmark does:
#
#   tests/lib/qemu.sh --kernel BZIMAGE --initrd INITRD [--smp N] [--mem SIZE]
#                 [--cma SIZE] [--disk IMAGE] [--results FILE] [--append "..."]
#
# --disk gives the guest a raw image as its virtio disk (/dev/vda).
# --results gives it a second serial port, ttyS1, written to FILE: a
# channel for a test's results that the kernel's messages and systemd's
# status lines, which share the console, cannot interleave with.  The
# guest gets a serial console on stdout, a hugetlb CMA area of --cma SIZE
# (4G; the kernel splits it evenly over the NUMA nodes),
# panics end the run, and the host's TSC rate as tsc_early_khz: the guest
# reads the host's TSC, and its own calibration against the emulated PIT
# fails when the host is busy, which leaves KVM in the guest unable to
# enter any guest (see tests/lib/tsc-khz.c).  QEMU replaces this script,
# so a caller's timeout stops QEMU itself.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
kernel='' initrd='' smp=2 mem=8G cma=4G append='' disk=() serial=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=${2:?}; shift 2 ;;
	--initrd) initrd=${2:?}; shift 2 ;;
	--smp)    smp=${2:?}; shift 2 ;;
	--mem)    mem=${2:?}; shift 2 ;;
	--cma)    cma=${2:?}; shift 2 ;;
	--append) append=${2?}; shift 2 ;;
	--disk)   disk=(-drive "file=${2:?},format=raw,if=virtio"); shift 2 ;;
	# -nographic puts the first serial port on stdio only when no -serial
	# is given; with one, it is named, monitor and all.
	--results) serial=(-serial mon:stdio -serial "file:${2:?}"); shift 2 ;;
	*) echo "tests/lib/qemu.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
[ -n "$kernel" ] && [ -n "$initrd" ] || { echo "tests/lib/qemu.sh: --kernel and --initrd are needed" >&2; exit 2; }

tool=$top/build/host/tsc-khz
if [ ! -x "$tool" ] || [ "$top/tests/lib/tsc-khz.c" -nt "$tool" ]; then
	mkdir -p "$top/build/host"
	cc -O2 -Wall -Wextra -o "$tool.$$" "$top/tests/lib/tsc-khz.c"
	mv "$tool.$$" "$tool"
fi
khz=$("$tool")

# One core per socket: a kernel without ACPI (the test kernels had none
# before they built KVM_AMD_SEV) finds CPUs in SeaBIOS's MP table, which
# lists only the first CPU of each socket, so plain "-smp 2" (one socket of
# two cores) would boot a single CPU there.
exec qemu-system-x86_64 -accel tcg -cpu max \
	-smp "$smp,sockets=$smp,cores=1,threads=1" -m "$mem" \
	-nographic -no-reboot -kernel "$kernel" -initrd "$initrd" "${disk[@]}" "${serial[@]}" \
	-append "console=ttyS0 hugetlb_cma=$cma panic=-1 tsc_early_khz=$khz${append:+ $append}"
