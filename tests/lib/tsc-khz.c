// SPDX-License-Identifier: GPL-2.0
/*
 * tsc-khz - print the host's TSC rate in kHz.
 *
 * A guest under QEMU's TCG reads the host's TSC, and Linux in the guest
 * calibrates it against the emulated PIT, which fails when the host is
 * busy: the guest then has no TSC rate, and KVM inside it never enters a
 * guest (it waits for a clock update that cannot come).  tests/lib/qemu.sh
 * passes the rate measured here as tsc_early_khz instead.
 *
 * The rate is the TSC ticks over CLOCK_MONOTONIC_RAW across 200 ms.  Each
 * end of the window is the tightest of several pairs of TSC reads around
 * a clock read, so that being preempted inside one does not count.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

/* A clock reading in ns and the TSC at that moment, within the tightest gap. */
static uint64_t sample(uint64_t *ret_tsc)
{
	uint64_t best_gap = UINT64_MAX, ns = 0;

	for (int i = 0; i < 16; i++) {
		struct timespec ts;
		uint64_t before = __rdtsc(), after;

		clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
		after = __rdtsc();
		if (after - before < best_gap) {
			best_gap = after - before;
			ns = (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
			*ret_tsc = before + best_gap / 2;
		}
	}
	return ns;
}

int main(void)
{
	const struct timespec window = { .tv_nsec = 200 * 1000 * 1000 };
	uint64_t tsc0, tsc1, ns0, ns1;

	ns0 = sample(&tsc0);
	nanosleep(&window, NULL);
	ns1 = sample(&tsc1);
	if (ns1 <= ns0 || tsc1 <= tsc0)
		return 1;
	printf("%llu\n", (unsigned long long)((tsc1 - tsc0) * 1000000 / (ns1 - ns0)));
	return 0;
}
