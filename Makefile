# gigapool top-level build.  `make demo` and `make check` are the two
# commands a new user needs; everything else is a step of those.

.PHONY: all deps kernel kernel-stock kernel-debug kernel-deb kernel-patches \
	daemon install check check-lib check-daemon check-style check-kernel check-upstream \
	check-e2e check-deb check-debug check-sim stress bench demo clean

all: daemon

deps:
	@scripts/deps.sh

kernel: deps
	kernel/build.sh gigapool

kernel-stock: deps
	kernel/build.sh stock

kernel-debug: deps
	kernel/build.sh gigapool debug

# Installable packages for a real host: Debian's config plus the pool.
kernel-deb: deps
	kernel/deb.sh

# A git format-patch series of all kernel changes, for review upstream.
kernel-patches: deps
	kernel/series.sh

daemon: deps
	$(MAKE) -C daemon

install:
	$(MAKE) -C daemon install

# The harness's own parsers on made-up streams and logs.
check-lib:
	tests/lib/selftest.sh

# CMocka's TAP output, which tests/lib/tap.sh counts for the table of make check.
check-daemon: deps
	CMOCKA_MESSAGE_OUTPUT=TAP $(MAKE) -C daemon check

check-style: deps
	tests/style/checkpatch.sh

check-kernel: kernel kernel-stock
	tests/kernel/run.sh

check-upstream: kernel kernel-stock
	tests/upstream/run.sh

check-e2e: kernel daemon
	tests/e2e/run.sh

# The same scenario on the host kernel package of make kernel-deb,
# installed by apt and booted from disk.  Not part of check: the packages
# take hours to build.
DEB_IMAGE = $(or $(wildcard build/deb/linux-image-*-gigapool_*.deb),build/deb/linux-image-VERSION-gigapool_VERSION_amd64.deb)

check-deb: daemon
	tests/e2e/run.sh --deb $(DEB_IMAGE)

# The placement simulator's bounded invariant run (never its speed).
check-sim: deps
	bench/sim.sh --check

# The debug kernel (KASAN, lockdep, DEBUG_VM) boots twice: the full
# pooltest, compacttest, gmemvm and pooltest's poison part (last, as it leaves a chunk
# lent for good) on one node, with init_on_alloc on as on Debian's hosts
# (KUnit checks that the pool zeroes what it hands out then), then the
# stress run and pooltest's per-node part on two nodes; the stress run is
# bounded in make check, longer with make stress (STRESS_SECONDS).
STRESS_SECONDS ?= 600
DEBUG_RUN = tests/kernel/run.sh --kernel build/kernel-debug/bzImage --mem 12G

check-debug: kernel-debug
	$(DEBUG_RUN) --name debug --append init_on_alloc=1 pooltest compacttest gmemvm pooltest-poison
	$(DEBUG_RUN) --name debug-numa --append "numa=fake=2 gpstress=60" stress pooltest-numa

stress: kernel-debug
	BOOT_TIMEOUT=$$(( $(STRESS_SECONDS) + 600 )) $(DEBUG_RUN) --name stress \
		--append "numa=fake=2 gpstress=$(STRESS_SECONDS)" stress

# Every stage in turn, each through tests/lib/stage.sh (its progress, its
# log and counts in build/check/), until one fails; then the table of all
# of them, also after a failure, which it names.
CHECK_STAGES = lib style daemon sim kernel debug upstream e2e

check:
	@rm -rf build/check
	@status=0; for stage in $(CHECK_STAGES); do \
		tests/lib/stage.sh $$stage $(MAKE) --no-print-directory check-$$stage || { status=1; break; }; \
	done; \
	tests/lib/check-table.sh $(CHECK_STAGES); \
	exit $$status

# Every benchmark of docs/BENCHMARKS.md, regenerated with its plots.
bench: kernel kernel-stock daemon
	bench/run.sh

# The main job: a VM host in a box, kernel pool and daemon together.
demo: kernel daemon
	tests/e2e/run.sh --demo

clean:
	$(MAKE) -C daemon clean
	rm -rf build/kernel build/kernel-stock build/kernel-debug build/guest build/check
