// SPDX-License-Identifier: GPL-2.0
/*
 * gmemvm - a VMM-shaped test of guest_memfd served from the unmapped pool.
 *
 * Creates a KVM_X86_SW_PROTECTED_VM, gives it a guest_memfd created with
 * GUEST_MEMFD_FLAG_UNMAPPED_POOL as private memory, and runs a tiny
 * real-mode guest that writes one byte into every page of that memory.
 * Checks that the pages came from the pool (used_pages, guest_memfd_pages,
 * placement in the debugfs chunk map), that punching holes and closing the
 * VM give them back, that the chunk goes back to hugetlb whole, that a full
 * pool fails the allocation rather than handing out mapped memory, and that
 * the direct map was never split.
 *
 * Then the same VM without the flag under each mode of the operator's
 * switch /sys/kernel/mm/unmapped_pool/guest_memfd: flag leaves it out of
 * the pool; prefer serves it from the pool and, with the pool full or
 * without chunks, from ordinary pages counted as fallbacks; require fails
 * it with ENOMEM, counted as an allocation failure that poll() reports,
 * when the pool is full or has no chunk.  The switch is back at flag at
 * the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/unmapped_pool.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

#define CODE_GPA	0x1000UL	/* shared slot: code */
#define CODE_SIZE	0x10000UL
#define PRIV_GPA	0x20000UL	/* private slot: guest_memfd */
#define PRIV_SIZE	0x40000UL	/* 64 pages, all real mode can reach */
#define PRIV_PAGES	(PRIV_SIZE / PAGE_SIZE_4K)

/*
 * Real-mode guest: for ds = 0x2000 .. 0x5f00 step 0x100 (one 4 KiB page
 * each), write 0x5a at ds:0, then hlt.
 */
static const unsigned char guest_code[] = {
	0xb8, 0x00, 0x20,		/* mov ax, 0x2000 */
	0x8e, 0xd8,			/* loop: mov ds, ax */
	0xc6, 0x06, 0x00, 0x00, 0x5a,	/* mov byte [0], 0x5a */
	0x05, 0x00, 0x01,		/* add ax, 0x100 */
	0x3d, 0x00, 0x60,		/* cmp ax, 0x6000 */
	0x75, 0xf1,			/* jne loop */
	0xf4,				/* hlt */
};

/*
 * The pool flag is for the VM types on the kernel's allow-list alone
 * (KVM_X86_SW_PROTECTED_VM, KVM_X86_SNP_VM): SEV and SEV-ES VMs, which
 * have no private memory, must get -EINVAL, and SEV-SNP VMs a guest_memfd.
 * Types the CPU cannot create (all of SEV's under TCG) are reported as
 * skipped, never as passed.
 */
static void check_sev_vm_types(int kvm)
{
	static const struct {
		unsigned long type;
		const char *name;
		int err;	/* what KVM_CREATE_GUEST_MEMFD must fail with */
	} types[] = {
		{ KVM_X86_SEV_VM, "SEV", EINVAL },
		{ KVM_X86_SEV_ES_VM, "SEV-ES", EINVAL },
		{ KVM_X86_SNP_VM, "SEV-SNP", 0 },
	};
	int supported = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);
	unsigned int i;
	int fd, gmem;

	tap_ok(supported > 0 && (supported & (1 << KVM_X86_SW_PROTECTED_VM)),
	       "KVM_CAP_VM_TYPES lists KVM_X86_SW_PROTECTED_VM (0x%x)", supported);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const char *what = types[i].err ? "refused" : "accepted";

		if (supported < 0 || !(supported & (1 << types[i].type))) {
			tap_skip("this CPU cannot create the type",
				 "pool flag %s for %s VMs", what, types[i].name);
			continue;
		}
		fd = ioctl(kvm, KVM_CREATE_VM, types[i].type);
		if (fd < 0) {
			tap_ok(false, "create a %s VM: %s", types[i].name, strerror(errno));
			continue;
		}
		gmem = guest_memfd_create(fd, PRIV_SIZE, GUEST_MEMFD_FLAG_UNMAPPED_POOL);
		tap_eq(gmem < 0 ? errno : 0, types[i].err, "pool flag %s for %s VMs",
		       what, types[i].name);
		if (gmem >= 0)
			close(gmem);
		close(fd);
	}
}

struct vm {
	int kvm, fd, gmem, vcpu;
	struct kvm_run *run;
	int run_size;
	void *code, *shared;
};

/*
 * Sets up the VM, its guest_memfd created with gmem_flags; false with a
 * diagnostic if KVM cannot do it here.
 */
static bool vm_create(struct vm *vm, unsigned long long gmem_flags)
{
	struct kvm_userspace_memory_region2 code = {
		.slot = 0, .guest_phys_addr = CODE_GPA, .memory_size = CODE_SIZE,
	};
	struct kvm_userspace_memory_region2 priv = {
		.slot = 1, .flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = PRIV_GPA, .memory_size = PRIV_SIZE,
	};
	struct kvm_memory_attributes attrs = {
		.address = PRIV_GPA, .size = PRIV_SIZE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = 0, .rflags = 2 };
	int types;

	vm->kvm = open("/dev/kvm", O_RDWR);
	if (vm->kvm < 0) {
		tap_diag("/dev/kvm: %s", strerror(errno));
		return false;
	}
	types = ioctl(vm->kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);
	if (types < 0 || !(types & (1 << KVM_X86_SW_PROTECTED_VM))) {
		tap_diag("KVM_X86_SW_PROTECTED_VM not supported (types %#x)", types);
		return false;
	}
	vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	if (vm->fd < 0) {
		tap_diag("KVM_CREATE_VM: %s", strerror(errno));
		return false;
	}
	vm->gmem = guest_memfd_create(vm->fd, PRIV_SIZE, gmem_flags);
	if (vm->gmem < 0) {
		tap_diag("KVM_CREATE_GUEST_MEMFD: %s", strerror(errno));
		return false;
	}
	vm->code = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (vm->code == MAP_FAILED)
		return false;
	memcpy(vm->code, guest_code, sizeof(guest_code));
	code.userspace_addr = (unsigned long)vm->code;
	priv.guest_memfd = vm->gmem;
	/* The private slot needs a shared alias too, which stays unused. */
	vm->shared = mmap(NULL, PRIV_SIZE, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (vm->shared == MAP_FAILED)
		return false;
	priv.userspace_addr = (unsigned long)vm->shared;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION2, &code) ||
	    ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION2, &priv) ||
	    ioctl(vm->fd, KVM_SET_MEMORY_ATTRIBUTES, &attrs)) {
		tap_diag("memory slots: %s", strerror(errno));
		return false;
	}
	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	vm->run_size = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu < 0 || vm->run_size <= 0)
		return false;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu, 0);
	if (vm->run == MAP_FAILED || ioctl(vm->vcpu, KVM_GET_SREGS, &sregs))
		return false;
	/* Real mode, code segment based at the code slot. */
	sregs.cs.base = CODE_GPA;
	sregs.cs.selector = CODE_GPA >> 4;
	return !ioctl(vm->vcpu, KVM_SET_SREGS, &sregs) &&
	       !ioctl(vm->vcpu, KVM_SET_REGS, &regs);
}

/* Drops every reference, so that the VM and its guest_memfd really go. */
static void vm_destroy(struct vm *vm)
{
	munmap(vm->run, vm->run_size);
	munmap(vm->code, CODE_SIZE);
	munmap(vm->shared, PRIV_SIZE);
	close(vm->vcpu);
	close(vm->gmem);
	close(vm->fd);
	close(vm->kvm);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* KVM's exit counters, summed over all VMs, as a diagnostic line. */
static void kvm_exit_counters(void)
{
	static const char *const names[] = {
		"exits", "irq_exits", "io_exits", "mmio_exits", "halt_exits",
		"request_irq_exits", "signal_exits", "irq_window_exits", "nested_run",
		"pf_taken", "pf_fixed", "pf_spurious", "pf_emulate", "insn_emulation",
	};
	char path[128], line[512] = "";
	size_t i, len = 0;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%s", names[i]);
		len += snprintf(line + len, sizeof(line) - len, " %s=%lld", names[i],
				sysfs_read(path));
	}
	tap_diag("KVM counters:%s", line);
}

/*
 * Runs the guest to its hlt; false with the exit it took instead.  A
 * guest that does not get there in a minute (it takes well under a second)
 * is interrupted, so that a hang fails this check with KVM's counters
 * rather than the whole boot on its timeout.
 */
static bool vm_run(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	int r;

	sigaction(SIGALRM, &sa, NULL);
	alarm(60);
	r = ioctl(vm->vcpu, KVM_RUN, 0);
	alarm(0);
	if (r) {
		tap_diag("KVM_RUN: %s", strerror(errno));
		kvm_exit_counters();
		return false;
	}
	if (vm->run->exit_reason != KVM_EXIT_HLT) {
		tap_diag("guest exit reason %u", vm->run->exit_reason);
		return false;
	}
	return true;
}

/*
 * Owners with blocks of their own, shared blocks and used chunks of node
 * 0's pool, from the debugfs chunk map.
 */
static void chunk_map(long long *ret_owners, long long *ret_shared,
		      long long *ret_used_chunks)
{
	FILE *f = fopen("/sys/kernel/debug/unmapped_pool/chunks", "r");
	long long used, owners, shared;
	char line[256];
	int node;

	*ret_owners = 0;
	*ret_shared = 0;
	*ret_used_chunks = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%d %*s %lld %*u %lld %lld", &node, &used, &owners,
			   &shared) != 4)
			continue;
		*ret_owners += owners;
		*ret_shared += shared;
		*ret_used_chunks += used > 0;
	}
	fclose(f);
}

#define SWITCH	"/sys/kernel/mm/unmapped_pool/guest_memfd"

/* The switch's text without its newline, or "" if it cannot be read. */
static const char *switch_text(void)
{
	static char text[64];
	FILE *f = fopen(SWITCH, "r");

	text[0] = 0;
	if (f) {
		if (!fgets(text, sizeof(text), f))
			text[0] = 0;
		fclose(f);
	}
	text[strcspn(text, "\n")] = 0;
	return text;
}

/* Writes word to the switch in one write(); 0 or the errno it failed with. */
static int switch_write(const char *word)
{
	int fd = open(SWITCH, O_WRONLY), err = 0;

	if (fd < 0)
		return errno;
	if (write(fd, word, strlen(word)) != (ssize_t)strlen(word))
		err = errno;
	close(fd);
	return err;
}

static void switch_set(const char *word)
{
	if (switch_write(word))
		tap_bail("cannot set %s to %s", SWITCH, word);
}

/* At exit, a bail-out included: the suites after this one expect flag. */
static void switch_reset(void)
{
	switch_write("flag");
}

/*
 * The pool device of this test, the node ids its snapshots cover and
 * node 0's flags in the last snapshot.
 */
static int dev;
static unsigned int nr_node_ids;

/* Takes a snapshot, which acknowledges every event; node 0's flags. */
static unsigned int pool_ack(void)
{
	struct unmapped_pool_node_stats st[nr_node_ids];
	struct unmapped_pool_stats s = {
		.nr_nodes = nr_node_ids, .nodes_ptr = (unsigned long)st,
	};

	if (ioctl(dev, UNMAPPED_POOL_IOC_STATS, &s))
		tap_bail("UNMAPPED_POOL_IOC_STATS: %s", strerror(errno));
	return st[0].flags;
}

/* Whether poll() reports an event not acknowledged yet. */
static bool pool_event(void)
{
	struct pollfd pfd = { .fd = dev, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/* The counters one step changes, read before and after it. */
struct gmem_counters {
	long long gmem_pages, used, fallbacks, failures;
};

static void gmem_counters(struct gmem_counters *c)
{
	c->gmem_pages = pool_read(0, "guest_memfd_pages");
	c->used = pool_read(0, "used_pages");
	c->fallbacks = pool_read(0, "fallbacks");
	c->failures = pool_read(0, "alloc_failures");
}

/*
 * The switch's interface: THP style, the default today's behaviour, one
 * word at a time.
 */
static void switch_interface(const struct unmapped_pool_info *info)
{
	/* What is written, and how the check names it. */
	static const char *const bad[][2] = {
		{ "\n", "a lone newline" }, { "always", "always" },
		{ "prefer require", "prefer require" }, { "Prefer\n", "Prefer\\n" },
		{ "prefer \n", "prefer \\n" }, { "1", "1" },
	};
	unsigned int i;

	tap_ok(info->features & UNMAPPED_POOL_FEAT_GUEST_MEMFD_MODE,
	       "pool info advertises the guest_memfd switch");
	tap_ok(!strcmp(switch_text(), "[flag] prefer require"),
	       "the switch reads \"[flag] prefer require\" at boot (got \"%s\")",
	       switch_text());
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		tap_eq(switch_write(bad[i][0]), EINVAL, "the switch refuses \"%s\"", bad[i][1]);
	tap_ok(!strcmp(switch_text(), "[flag] prefer require"),
	       "a refused word leaves the switch alone");
	tap_eq(switch_write("prefer\n"), 0, "the switch takes \"prefer\\n\"");
	tap_ok(!strcmp(switch_text(), "flag [prefer] require"),
	       "it reads \"flag [prefer] require\" (got \"%s\")", switch_text());
	tap_eq(switch_write("require"), 0, "the switch takes \"require\"");
	tap_ok(!strcmp(switch_text(), "flag prefer [require]"),
	       "it reads \"flag prefer [require]\" (got \"%s\")", switch_text());
	tap_eq(switch_write("flag\n"), 0, "the switch takes \"flag\\n\"");
}

/* Without the flag, at flag: ordinary memory, as on stock. */
static void switch_flag(void)
{
	struct gmem_counters c0, c1;
	struct vm vm;

	switch_set("flag");
	gmem_counters(&c0);
	if (!vm_create(&vm, 0))
		tap_bail("cannot create a SW_PROTECTED VM without the pool flag");
	tap_ok(vm_run(&vm), "flag: a guest_memfd without the flag runs the guest");
	gmem_counters(&c1);
	tap_eq(c1.gmem_pages - c0.gmem_pages, 0,
	       "flag: no page of it came from the pool (guest_memfd_pages)");
	tap_eq(c1.used - c0.used, 0, "flag: used_pages unchanged");
	vm_destroy(&vm);
}

/*
 * Without the flag, at prefer, with room in the pool: from the pool.  The
 * mode is the one the file was created with, whatever the switch says by
 * the time the guest runs; VM types that may not use the pool are not
 * touched.
 */
static void switch_prefer(void)
{
	static const char *const modes[] = { "prefer", "require" };
	struct gmem_counters c0, c1;
	int fd, gmem, kvm, i;
	struct vm vm;

	switch_set("prefer");
	gmem_counters(&c0);
	if (!vm_create(&vm, 0))
		tap_bail("cannot create a SW_PROTECTED VM without the pool flag");
	switch_set("flag");
	tap_ok(vm_run(&vm), "prefer: a guest_memfd without the flag runs the guest");
	gmem_counters(&c1);
	tap_eq(c1.gmem_pages - c0.gmem_pages, PRIV_PAGES,
	       "prefer: every page the guest touched came from the pool (guest_memfd_pages), "
	       "though the switch was back at flag before it ran");
	tap_eq(c1.used - c0.used, PRIV_PAGES, "prefer: used_pages rose by as much");
	tap_eq(c1.fallbacks - c0.fallbacks, 0, "prefer: nothing fell back");
	vm_destroy(&vm);
	tap_eq(pool_read(0, "used_pages"), c0.used, "prefer: closing the VM returned every page");

	/* A default VM has no private memory: untouched, at either mode. */
	kvm = open("/dev/kvm", O_RDWR);
	fd = kvm >= 0 ? ioctl(kvm, KVM_CREATE_VM, 0) : -1;
	if (fd < 0)
		tap_bail("cannot create a default VM: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		switch_set(modes[i]);
		gmem_counters(&c0);
		gmem = guest_memfd_create(fd, PRIV_SIZE, 0);
		tap_ok(gmem >= 0, "%s: a default VM creates a guest_memfd as on stock", modes[i]);
		tap_eq(gmem >= 0 ? fallocate(gmem, FALLOC_FL_KEEP_SIZE, 0, PRIV_SIZE) : -1, 0,
		       "%s: its memory can be allocated", modes[i]);
		gmem_counters(&c1);
		tap_eq(c1.gmem_pages - c0.gmem_pages, 0, "%s: none of it from the pool", modes[i]);
		tap_eq(c1.fallbacks - c0.fallbacks, 0, "%s: nor counted as a fallback", modes[i]);
		tap_eq(c1.failures - c0.failures, 0, "%s: nor as a failure", modes[i]);
		tap_eq(guest_memfd_create(fd, PRIV_SIZE, GUEST_MEMFD_FLAG_UNMAPPED_POOL) < 0 ?
		       errno : 0, EINVAL, "%s: the pool flag is still refused for it", modes[i]);
		close(gmem);
	}
	close(fd);
	close(kvm);
	switch_set("flag");
}

/*
 * Without the flag, with no room in the pool: at prefer from ordinary
 * pages, each counted as a fallback and, as for memfd_secret, as a failed
 * request of the pool when it has chunks (which poll() reports); at
 * require not at all: ENOMEM, a failure, the event.  full says whether the
 * pool has chunks, all in use, or none.
 */
static void switch_no_room(bool full)
{
	const char *how = full ? "full pool" : "pool without chunks";
	struct gmem_counters c0, c1;
	struct vm vm;
	int ret;

	switch_set("prefer");
	if (!vm_create(&vm, 0))
		tap_bail("cannot create a SW_PROTECTED VM without the pool flag");
	pool_ack();
	gmem_counters(&c0);
	tap_ok(vm_run(&vm), "prefer, %s: the guest runs on ordinary pages", how);
	gmem_counters(&c1);
	tap_eq(c1.fallbacks - c0.fallbacks, PRIV_PAGES,
	       "prefer, %s: every page it touched counted as a fallback", how);
	tap_eq(c1.failures - c0.failures, full ? PRIV_PAGES : 0,
	       "prefer, %s: %s", how, full ? "and as a failed request of the pool" :
	       "and not as a failure: there was no chunk to fail, as for memfd_secret");
	tap_eq(c1.gmem_pages - c0.gmem_pages, 0, "prefer, %s: none from the pool", how);
	tap_eq(pool_event(), full, "prefer, %s: poll() %s", how,
	       full ? "reports the failed requests" : "reports nothing");
	vm_destroy(&vm);

	switch_set("require");
	if (!vm_create(&vm, 0))
		tap_bail("cannot create a SW_PROTECTED VM without the pool flag");
	switch_set("flag");
	pool_ack();
	gmem_counters(&c0);
	errno = 0;
	ret = fallocate(vm.gmem, FALLOC_FL_KEEP_SIZE, 0, PAGE_SIZE_4K);
	tap_eq(ret < 0 ? errno : 0, ENOMEM, "require, %s: allocation fails with ENOMEM", how);
	gmem_counters(&c1);
	tap_eq(c1.failures - c0.failures, 1, "require, %s: alloc_failures rose by one", how);
	tap_eq(c1.fallbacks - c0.fallbacks, 0, "require, %s: nothing fell back", how);
	tap_ok(pool_event(), "require, %s: poll() reports the failure", how);
	tap_ok(pool_ack() & UNMAPPED_POOL_NODE_ALLOC_FAILED,
	       "require, %s: node 0's snapshot says UNMAPPED_POOL_NODE_ALLOC_FAILED", how);
	vm_destroy(&vm);
}

/* Fills node 0's single chunk with a flagged guest_memfd; its fd. */
static int pool_fill(void)
{
	long long free_pages = pool_read(0, "free_pages");
	int vm = protected_vm_create(), gmem;

	gmem = vm >= 0 ? guest_memfd_create(vm, free_pages * PAGE_SIZE_4K,
					    GUEST_MEMFD_FLAG_UNMAPPED_POOL) : -1;
	tap_eq(gmem >= 0 ? fallocate(gmem, FALLOC_FL_KEEP_SIZE, 0, free_pages * PAGE_SIZE_4K) : -1,
	       0, "fill the pool's %lld free pages with a flagged guest_memfd", free_pages);
	tap_eq(pool_read(0, "free_pages"), 0, "the pool is full");
	close(vm);
	return gmem;
}

int main(void)
{
	struct unmapped_pool_info info;
	struct mm_counters before, after;
	long long used0, free_huge0, owners, shared, used_chunks, gmem_pages0;
	struct gmem_counters c0, c1;
	struct vm vm;
	int fd, filler;

	dev = open(UNMAPPED_POOL_DEVICE, O_RDONLY);
	if (dev < 0 || ioctl(dev, UNMAPPED_POOL_IOC_INFO, &info))
		tap_bail("%s: %s", UNMAPPED_POOL_DEVICE, strerror(errno));
	nr_node_ids = info.nr_node_ids;
	atexit(switch_reset);
	tap_ok(info.features & UNMAPPED_POOL_FEAT_GUEST_MEMFD,
	       "pool info advertises guest_memfd support");
	switch_interface(&info);

	if (!pool_set_chunks(0, 0) || !hugetlb_reserve(0, 1))
		tap_bail("cannot set up 1 GiB hugetlb pages on node 0");
	free_huge0 = hugetlb_read(0, "free_hugepages");
	tap_ok(pool_set_chunks(0, 1), "lend one chunk of node 0");
	used0 = pool_read(0, "used_pages");
	gmem_pages0 = pool_read(0, "guest_memfd_pages");
	if (!mm_counters_read(&before))
		tap_bail("kernel counters missing");

	if (!vm_create(&vm, GUEST_MEMFD_FLAG_UNMAPPED_POOL))
		tap_bail("cannot create a SW_PROTECTED VM with pool guest_memfd");
	tap_ok(true, "SW_PROTECTED VM with a pool-backed guest_memfd");
	tap_eq(guest_memfd_create(vm.fd, PRIV_SIZE, 1ULL << 62) < 0 ? errno : 0,
	       EINVAL, "unknown guest_memfd flag refused");
	fd = ioctl(vm.kvm, KVM_CREATE_VM, 0);
	tap_eq(fd >= 0 && guest_memfd_create(fd, PRIV_SIZE,
				      GUEST_MEMFD_FLAG_UNMAPPED_POOL) < 0 ?
	       errno : 0, EINVAL,
	       "pool flag refused for a VM type without private memory");
	close(fd);
	check_sev_vm_types(vm.kvm);

	tap_ok(vm_run(&vm), "guest wrote its private memory and halted");
	tap_eq(pool_read(0, "used_pages") - used0, PRIV_PAGES,
	       "every private page the guest touched came from the pool");
	tap_eq(pool_read(0, "guest_memfd_pages") - gmem_pages0, PRIV_PAGES,
	       "guest_memfd_pages counted them");
	tap_eq(pool_read(-1, "guest_memfd_pages") - gmem_pages0, PRIV_PAGES,
	       "so did the global guest_memfd_pages");
	/* 256 KiB is a small owner's share: no block of its own yet. */
	chunk_map(&owners, &shared, &used_chunks);
	tap_eq(owners, 0, "the small guest_memfd has no block of its own");
	tap_eq(shared, 1, "its pages share one block");
	tap_eq(used_chunks, 1, "its pages sit in one chunk");

	tap_eq(fallocate(vm.gmem, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			 PRIV_SIZE / 2), 0, "punch a hole in half the memory");
	tap_eq(pool_read(0, "used_pages") - used0, PRIV_PAGES / 2,
	       "punched pages went back to the pool");
	tap_eq(fallocate(vm.gmem, FALLOC_FL_KEEP_SIZE, 0, PRIV_SIZE), 0,
	       "fallocate the whole guest_memfd again");
	tap_eq(pool_read(0, "used_pages") - used0, PRIV_PAGES,
	       "fallocated pages came from the pool");

	tap_eq(pool_read(0, "guest_memfd_pages") - gmem_pages0, PRIV_PAGES + PRIV_PAGES / 2,
	       "guest_memfd_pages never goes down: it counted those too");

	vm_destroy(&vm);
	tap_eq(pool_read(0, "used_pages"), used0,
	       "closing the VM returned every page");

	switch_flag();
	switch_prefer();
	filler = pool_fill();
	switch_no_room(true);
	close(filler);
	tap_eq(pool_read(0, "used_pages"), used0, "closing the filler emptied the pool again");

	/* A pool without room fails the allocation, never silently maps. */
	tap_ok(pool_set_chunks(0, 0), "give the chunk back");
	tap_eq(hugetlb_read(0, "free_hugepages"), free_huge0,
	       "the chunk is a free 1 GiB hugetlb page again");
	if (vm_create(&vm, GUEST_MEMFD_FLAG_UNMAPPED_POOL)) {
		pool_ack();
		gmem_counters(&c0);
		errno = 0;
		fd = fallocate(vm.gmem, FALLOC_FL_KEEP_SIZE, 0, PAGE_SIZE_4K);
		tap_eq(fd < 0 ? errno : 0, ENOMEM,
		       "empty pool: guest_memfd allocation fails with ENOMEM");
		gmem_counters(&c1);
		tap_eq(c1.failures - c0.failures, 1,
		       "empty pool: the failure is counted though the pool has no chunk");
		tap_ok(pool_event(), "empty pool: poll() reports it, so a daemon would lend");
		vm_destroy(&vm);
	} else {
		tap_ok(false, "second VM for the empty-pool check");
	}
	switch_no_room(false);
	switch_set("flag");
	tap_ok(!strcmp(switch_text(), "[flag] prefer require"),
	       "the switch is back at flag");

	if (!mm_counters_read(&after))
		tap_bail("kernel counters missing");
	tap_eq(after.splits2 - before.splits2, 0, "no 2M direct-map splits");
	tap_eq(after.splits3 - before.splits3, 0, "no 1G direct-map splits");
	tap_eq(after.dm1g, before.dm1g, "DirectMap1G unchanged");
	return tap_done();
}
