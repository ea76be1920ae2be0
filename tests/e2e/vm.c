// SPDX-License-Identifier: GPL-2.0
/*
 * vm - stand-ins for the two kinds of VM of the end-to-end scenario.  They
 * hold guest memory the way a VMM does and nothing else:
 *
 *   vm ordinary NODE GIB READY
 *	faults GIB 1 GiB hugetlb pages on NODE, as QEMU with
 *	memory-backend-memfd,hugetlb=on,hugetlbsize=1G would;
 *   vm confidential NODE SECRET_MIB GMEM_MIB READY
 *	faults SECRET_MIB of memfd_secret and fallocates GMEM_MIB of a
 *	guest_memfd in a KVM_X86_SW_PROTECTED_VM, all bound to NODE
 *	(MPOL_BIND).  The guest_memfd is created as an unmodified VMM
 *	creates it, without GUEST_MEMFD_FLAG_UNMAPPED_POOL: the host's
 *	switch (/sys/kernel/mm/unmapped_pool/guest_memfd, set by the
 *	daemon's policy) decides whether it draws from the pool.
 *
 * Once all memory is in place the program creates the file READY, which
 * the scenario waits for, and sleeps until it is killed: the memory goes
 * back when the process exits, as when a VM is shut down.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

#define GIB	(1024UL * MIB)

static void die(const char *what)
{
	fprintf(stderr, "vm: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void ordinary(unsigned long gib)
{
	size_t size = gib * GIB, off;
	char *mem;

	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap of 1 GiB hugetlb pages");
	/* One write per 1 GiB page allocates it; the mmap only reserved it. */
	for (off = 0; off < size; off += GIB)
		mem[off] = 1;
}

/* The guest_memfd of a confidential VM; both fds stay open until exit. */
static void guest_memfd(unsigned long mib)
{
	int vm, gmem;

	vm = protected_vm_create();
	if (vm < 0)
		die("KVM_CREATE_VM(KVM_X86_SW_PROTECTED_VM)");
	gmem = guest_memfd_create(vm, mib * MIB, 0);
	if (gmem < 0)
		die("KVM_CREATE_GUEST_MEMFD");
	/*
	 * fallocate() allocates the private pages as a VM's first touch would;
	 * guest_memfd never changes its size, so only KEEP_SIZE is allowed.
	 */
	if (fallocate(gmem, FALLOC_FL_KEEP_SIZE, 0, mib * MIB))
		die("fallocate of the guest_memfd");
}

static void confidential(unsigned long secret_mib, unsigned long gmem_mib)
{
	struct region r;

	if (!region_map(&r, secret_create(), secret_mib * MIB))
		die("memfd_secret");
	if (region_fault(&r) < 0) {
		fprintf(stderr, "vm: memfd_secret lost data\n");
		exit(1);
	}
	if (gmem_mib)
		guest_memfd(gmem_mib);
}

static unsigned long number(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "vm: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *ready;
	int fd;

	if (argc == 5 && !strcmp(argv[1], "ordinary")) {
		ready = argv[4];
	} else if (argc == 6 && !strcmp(argv[1], "confidential")) {
		ready = argv[5];
	} else {
		fprintf(stderr, "usage: vm ordinary NODE GIB READY\n"
				"       vm confidential NODE SECRET_MIB GMEM_MIB READY\n");
		return 2;
	}
	if (!bind_memory(number(argv[2])))
		die("set_mempolicy(MPOL_BIND)");
	if (argc == 5)
		ordinary(number(argv[3]));
	else
		confidential(number(argv[3]), number(argv[4]));

	fd = open(ready, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		die(ready);
	close(fd);
	for (;;)
		pause();
}
