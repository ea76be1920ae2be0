#!/bin/bash
# Make sure the Debian packages gigapool builds and tests with are present.
# As root, missing packages are installed with apt-get from Debian's archive;
# otherwise the exact apt-get command is printed and the script fails.
set -euo pipefail

pkgs=(
	# kernel build and in-guest tests
	linux-source-6.12 build-essential bc bison flex libelf-dev libssl-dev
	cpio xz-utils kmod patch ccache qemu-system-x86 busybox-static
	# upstream selftests (memfd_secret links libcap statically)
	libcap-dev
	# make kernel-deb (dwarves: pahole for the BTF in Debian's config;
	# debhelper and rsync: build dependencies of bindeb-pkg's
	# debian/control) and make kernel-patches
	linux-config-6.12 dwarves debhelper rsync git
	# daemon, its tests and fuzzers
	pkg-config libsystemd-dev libcjson-dev libnuma-dev libcmocka-dev clang
	systemd
	# the libvirt hook (libxml2, which libvirt links too); the independent
	# varlink client of the daemon's tests (Go and varlink/go)
	libxml2-dev golang-go golang-github-varlink-go-dev
	# end-to-end test: the Debian root filesystem of the guest (and with
	# make check-deb, its disk image)
	mmdebstrap e2fsprogs
	# benchmarks
	python3 python3-matplotlib
)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "gigapool: missing Debian packages: ${missing[*]}" >&2
	echo "gigapool: run as root: apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "gigapool: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
