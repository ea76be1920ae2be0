// SPDX-License-Identifier: GPL-2.0
/*
 * pool_gmem.c - link-time shim that makes an unmodified KVM selftest
 * create every guest_memfd from the unmapped pool.  Linked with
 * -Wl,--wrap=ioctl, it sees each ioctl() of the test and of its lib and
 * adds GUEST_MEMFD_FLAG_UNMAPPED_POOL to KVM_CREATE_GUEST_MEMFD.
 *
 * Only for tests that never expect KVM_CREATE_GUEST_MEMFD to fail on a
 * flag (not guest_memfd_test, whose invalid-flag loop would then see a
 * different request than it made).
 */
#include <stdarg.h>
#include <linux/kvm.h>

int __real_ioctl(int fd, unsigned long request, ...);

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request == KVM_CREATE_GUEST_MEMFD && arg)
		((struct kvm_create_guest_memfd *)arg)->flags |= GUEST_MEMFD_FLAG_UNMAPPED_POOL;
	return __real_ioctl(fd, request, arg);
}
