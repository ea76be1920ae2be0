# gigapool top-level build.  `make demo` and `make check` are the two
# commands a new user needs; everything else is a step of those.

.PHONY: all deps kernel kernel-stock kernel-debug daemon install check \
	check-daemon check-kernel demo clean

all: daemon

deps:
	@scripts/deps.sh

kernel: deps
	kernel/build.sh gigapool

kernel-stock: deps
	kernel/build.sh stock

kernel-debug: deps
	kernel/build.sh gigapool debug

daemon: deps
	$(MAKE) -C daemon

install:
	$(MAKE) -C daemon install

check-daemon: deps
	$(MAKE) -C daemon check

check-kernel: kernel kernel-stock
	tests/guest/run.sh

check: check-daemon check-kernel

clean:
	$(MAKE) -C daemon clean
	rm -rf build/kernel build/kernel-stock build/kernel-debug build/guest
