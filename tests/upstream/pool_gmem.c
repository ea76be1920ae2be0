// SPDX-License-Identifier: GPL-2.0
/*
 * pool_gmem.c - link-time shim that makes an unmodified KVM selftest
 * create every guest_memfd from the unmapped pool.  Linked with
 * -Wl,--wrap=ioctl, it sees each ioctl() of the test and of its lib and
 * adds GUEST_MEMFD_FLAG_UNMAPPED_POOL to KVM_CREATE_GUEST_MEMFD.
 *
 * The test itself cannot tell where its memory came from, and passes just
 * as well without the flag, so the shim proves it: when the test exits it
 * prints two TAP lines, "ok" only if every guest_memfd was created with the
 * flag (and at least one was) and if the pool's used_pages rose above its
 * value at the test's first ioctl, sampled after every ioctl (the guest
 * faults its private memory in during KVM_RUN).  tests/upstream/run.sh
 * requires those lines: a pool variant that passes by its exit status
 * alone proves nothing.
 *
 * Only for tests that never expect KVM_CREATE_GUEST_MEMFD to fail on a
 * flag (not guest_memfd_test, whose invalid-flag loop would then see a
 * different request than it made).
 */
#include <stdarg.h>
#include <stdio.h>
#include <linux/kvm.h>

#define USED_PAGES "/sys/kernel/mm/unmapped_pool/used_pages"

int __real_ioctl(int fd, unsigned long request, ...);

static long baseline = -1, peak = -1;
static int pooled, unpooled;

/* The pool's used_pages, or -1 when it cannot be read. */
static long used_pages(void)
{
	FILE *f = fopen(USED_PAGES, "re");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int ret;
	long now;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (baseline < 0)
		baseline = peak = used_pages();
	if (request == KVM_CREATE_GUEST_MEMFD && arg)
		((struct kvm_create_guest_memfd *)arg)->flags |= GUEST_MEMFD_FLAG_UNMAPPED_POOL;
	ret = __real_ioctl(fd, request, arg);
	if (request == KVM_CREATE_GUEST_MEMFD && arg && ret >= 0) {
		if (((struct kvm_create_guest_memfd *)arg)->flags & GUEST_MEMFD_FLAG_UNMAPPED_POOL)
			pooled++;
		else
			unpooled++;
	}
	now = used_pages();
	if (now > peak)
		peak = now;
	return ret;
}

/* Runs when the test exits, whatever its status. */
static void __attribute__((destructor)) pool_gmem_report(void)
{
	printf("%s 1 pool_gmem: %d guest_memfd(s) created with GUEST_MEMFD_FLAG_UNMAPPED_POOL, %d without\n",
	       pooled > 0 && !unpooled ? "ok" : "not ok", pooled, unpooled);
	printf("%s 2 pool_gmem: the pool's used_pages rose from %ld to %ld while the test ran\n",
	       baseline >= 0 && peak > baseline ? "ok" : "not ok", baseline, peak);
	fflush(stdout);
}
