// SPDX-License-Identifier: GPL-2.0
/*
 * gmemvm - a VMM-shaped test of guest_memfd served from the unmapped pool.
 *
 * Creates a KVM_X86_SW_PROTECTED_VM, gives it a guest_memfd created with
 * GUEST_MEMFD_FLAG_UNMAPPED_POOL as private memory, and runs a tiny
 * real-mode guest that writes a pattern over every byte of that memory.
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
 *
 * Last, compaction: the VM's pages, scattered among memfd_secret pages of
 * other processes in a chunk of their own, are moved into a hole of a
 * fuller chunk, once with the vCPU stopped and once while it runs, and
 * the guest reads back every byte it wrote (compact_vm()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/unmapped_pool.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define CODE_GPA	0x1000UL	/* shared slot: code */
#define CODE_SIZE	0x10000UL
#define PRIV_GPA	0x20000UL	/* private slot: guest_memfd */
#define PRIV_SIZE	0x40000UL	/* 64 pages, all real mode can reach */
#define PRIV_PAGES	(PRIV_SIZE / PAGE_SIZE_4K)

/* The private memory as real-mode segments, one per 4 KiB page. */
#define PRIV_SEG_FIRST	0x2000
#define PRIV_SEG_END	0x6000
_Static_assert(PRIV_SEG_FIRST * 16 == PRIV_GPA &&
	       PRIV_SEG_END * 16 == PRIV_GPA + PRIV_SIZE, "segments of the private slot");

/* What the guest does, in bl; the pattern's seed is in cl. */
#define GUEST_WRITE	1	/* write the pattern over every private byte */
#define GUEST_VERIFY	2	/* then read every byte back */
#define GUEST_LOOP	4	/* then, until the stop byte is set, seed + 1, again */
/* Bytes of the code slot, at these offsets of the code segment. */
#define GUEST_STOP	0x800	/* set by the host: halt after this round */
#define GUEST_ROUNDS	0x802	/* 16 bits: rounds the guest completed */
/* The port of the guest's "out" when a byte read back is not the pattern. */
#define GUEST_BAD_PORT	0xf1
#define XSTR(x)		STR(x)
#define STR(x)		#x

/*
 * Real-mode guest, run from ip 0 of the code slot.  The pattern at offset
 * si of segment ax is (si & 0xff) ^ (si >> 8) ^ (ax >> 8) ^ seed: every
 * page differs from every other at each offset, so a page that was lost,
 * left zero or swapped with another does not read back.  A byte that does
 * not is reported by an "out" to GUEST_BAD_PORT, with ax:si its address,
 * dl what was written and bh what was read.
 */
extern const unsigned char guest_code[], guest_code_end[];
asm(".pushsection .rodata\n"
    "guest_code:\n"
    ".code16\n"
    ".intel_syntax noprefix\n"
    "1:	test bl, " XSTR(GUEST_WRITE) "\n"
    "	jz 4f\n"
    "	mov ax, " XSTR(PRIV_SEG_FIRST) "\n"
    "2:	mov ds, ax\n"
    "	xor si, si\n"
    "3:	mov dx, si\n"
    "	xor dl, dh\n"
    "	xor dl, ah\n"
    "	xor dl, cl\n"
    "	mov byte ptr [si], dl\n"
    "	inc si\n"
    "	cmp si, 0x1000\n"
    "	jne 3b\n"
    "	add ax, 0x100\n"
    "	cmp ax, " XSTR(PRIV_SEG_END) "\n"
    "	jne 2b\n"
    "4:	test bl, " XSTR(GUEST_VERIFY) "\n"
    "	jz 7f\n"
    "	mov ax, " XSTR(PRIV_SEG_FIRST) "\n"
    "5:	mov ds, ax\n"
    "	xor si, si\n"
    "6:	mov dx, si\n"
    "	xor dl, dh\n"
    "	xor dl, ah\n"
    "	xor dl, cl\n"
    "	cmp byte ptr [si], dl\n"
    "	jne 9f\n"
    "	inc si\n"
    "	cmp si, 0x1000\n"
    "	jne 6b\n"
    "	add ax, 0x100\n"
    "	cmp ax, " XSTR(PRIV_SEG_END) "\n"
    "	jne 5b\n"
    "7:	inc word ptr cs:[" XSTR(GUEST_ROUNDS) "]\n"
    "	test bl, " XSTR(GUEST_LOOP) "\n"
    "	jz 8f\n"
    "	cmp byte ptr cs:[" XSTR(GUEST_STOP) "], 0\n"
    "	jne 8f\n"
    "	inc cl\n"
    "	jmp 1b\n"
    "8:	hlt\n"
    "9:	mov bh, byte ptr [si]\n"
    "	out " XSTR(GUEST_BAD_PORT) ", al\n"
    "	hlt\n"
    ".att_syntax prefix\n"
    ".code64\n"
    "guest_code_end:\n"
    ".popsection\n");

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
	if (vm->code == MAP_FAILED || guest_code_end - guest_code > GUEST_STOP)
		return false;
	memcpy(vm->code, guest_code, guest_code_end - guest_code);
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
	return !ioctl(vm->vcpu, KVM_SET_SREGS, &sregs);
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
 * Runs the guest from its start to its hlt, doing what mode says with the
 * pattern of seed; false with the exit it took instead.  A guest that does
 * not get there in a minute (it takes about a second) is interrupted, so
 * that a hang fails this check with KVM's counters rather than the whole
 * boot on its timeout; with GUEST_LOOP, whoever sets the stop byte
 * interrupts it (vcpu_thread_stop()).  The seed of the guest's last round
 * goes to ret_seed if it is not NULL.
 */
static bool vm_run_seed(struct vm *vm, unsigned int mode, unsigned int seed,
			unsigned int *ret_seed)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct kvm_regs regs = { .rip = 0, .rflags = 2, .rbx = mode, .rcx = seed };
	int r;

	sigaction(SIGALRM, &sa, NULL);
	if (ioctl(vm->vcpu, KVM_SET_REGS, &regs)) {
		tap_diag("KVM_SET_REGS: %s", strerror(errno));
		return false;
	}
	if (!(mode & GUEST_LOOP))
		alarm(60);
	r = ioctl(vm->vcpu, KVM_RUN, 0);
	if (!(mode & GUEST_LOOP))
		alarm(0);
	if (r) {
		tap_diag("KVM_RUN: %s", strerror(errno));
		kvm_exit_counters();
		return false;
	}
	if (ioctl(vm->vcpu, KVM_GET_REGS, &regs))
		return false;
	if (vm->run->exit_reason == KVM_EXIT_IO && vm->run->io.port == GUEST_BAD_PORT) {
		tap_diag("guest read %#llx at %04llx:%04llx, wrote %#llx (seed %#llx)",
			 (regs.rbx >> 8) & 0xff, regs.rax & 0xffff, regs.rsi & 0xffff,
			 regs.rdx & 0xff, regs.rcx & 0xff);
		return false;
	}
	if (vm->run->exit_reason != KVM_EXIT_HLT) {
		tap_diag("guest exit reason %u", vm->run->exit_reason);
		return false;
	}
	if (ret_seed)
		*ret_seed = regs.rcx & 0xff;
	return true;
}

/* The guest writes its pattern over every private byte, and halts. */
static bool vm_run(struct vm *vm)
{
	return vm_run_seed(vm, GUEST_WRITE, 0x5a, NULL);
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

/* One chunk of node 0 in the debugfs chunk map. */
struct chunk_use {
	unsigned long long pfn;
	long long used, free_blocks;
};

/*
 * Node 0's chunks in the order of the map, exact (settled); their number,
 * at most max.  Each is printed as a diagnostic line, headed by what.
 */
static int chunk_uses(struct chunk_use *c, int max, const char *what)
{
	FILE *f = fopen("/sys/kernel/debug/unmapped_pool/chunks", "r");
	char line[256];
	int node, n = 0;

	pool_settle();
	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%d %llx %lld %lld", &node, &c[n].pfn, &c[n].used,
			   &c[n].free_blocks) == 4 && node == 0) {
			tap_diag("%s: chunk at pfn %#llx: %lld pages used, %lld free blocks",
				 what, c[n].pfn, c[n].used, c[n].free_blocks);
			n++;
		}
	}
	fclose(f);
	return n;
}

/* Pages in use of the chunk at pfn, or -1 if it is not in the pool. */
static long long chunk_used(unsigned long long pfn, const char *what)
{
	struct chunk_use c[4];
	int i, n = chunk_uses(c, 4, what);

	for (i = 0; i < n; i++)
		if (c[i].pfn == pfn)
			return c[i].used;
	return -1;
}

/* A process that holds a memfd_secret, every page written, until stopped. */
struct secret_child {
	pid_t pid;
	int release;	/* closing it lets the child exit */
};

static bool secret_child_start(struct secret_child *c, size_t pages)
{
	int ready[2], release[2], i;
	struct region r;
	bool ok;
	char x;

	c->pid = -1;
	c->release = -1;
	if (pipe(ready))
		return false;
	if (pipe(release)) {
		close(ready[0]);
		close(ready[1]);
		return false;
	}
	c->pid = fork();
	if (!c->pid) {
		/*
		 * Only its own ends: another child holding a copy of this
		 * one's release pipe would keep it from ever seeing EOF, and
		 * copies of the VM's files would keep them open.
		 */
		for (i = 3; i < 1024; i++)
			if (i != ready[1] && i != release[0])
				close(i);
		if (!region_map(&r, secret_create(), pages * PAGE_SIZE_4K) ||
		    region_fault(&r) < 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		/* EOF once the parent closes its end. */
		if (read(release[0], &x, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	c->release = release[1];
	ok = c->pid > 0 && read(ready[0], &x, 1) == 1;
	close(ready[0]);
	return ok;
}

/* Lets the child exit, which frees its secret; true if all went well. */
static bool secret_child_stop(struct secret_child *c)
{
	int status;

	if (c->release >= 0)
		close(c->release);
	c->release = -1;
	return c->pid > 0 && waitpid(c->pid, &status, 0) == c->pid &&
	       WIFEXITED(status) && !WEXITSTATUS(status);
}

/*
 * UNMAPPED_POOL_IOC_COMPACT of node 0 towards one empty chunk, moving at
 * most the VM's pages: 0, or the errno it failed with (EAGAIN: target not
 * reached); what it did goes to req.  With that budget only the VM's
 * chunk can be a source here, also when a vCPU's fault kept a page of it
 * busy and the VM's chunk kept a page: the secret's chunk holds more.
 */
static int pool_compact(struct unmapped_pool_compact_req *req)
{
	int err;

	*req = (struct unmapped_pool_compact_req){
		.node = 0, .target = 1, .max_pages = PRIV_PAGES,
	};
	err = ioctl(dev, UNMAPPED_POOL_IOC_COMPACT, req) ? errno : 0;
	tap_diag("compact to one empty chunk: %s; empty %llu, emptied %llu, moved %llu, "
		 "pinned %llu, no room %llu, over budget %llu, busy %llu",
		 err ? strerror(err) : "done", (unsigned long long)req->empty_chunks,
		 (unsigned long long)req->chunks_emptied, (unsigned long long)req->pages_moved,
		 (unsigned long long)req->pages_pinned, (unsigned long long)req->pages_no_room,
		 (unsigned long long)req->pages_over_budget, (unsigned long long)req->pages_busy);
	return err;
}

/* The vCPU of a VM running the guest in a loop on a thread of its own. */
struct vcpu_thread {
	struct vm *vm;
	pthread_t tid;
	unsigned int seed;	/* in: the first round's; out: the last round's */
	bool ok;
	volatile bool done;
};

static void *vcpu_thread_fn(void *arg)
{
	struct vcpu_thread *t = arg;

	t->ok = vm_run_seed(t->vm, GUEST_WRITE | GUEST_VERIFY | GUEST_LOOP, t->seed,
			    &t->seed);
	t->done = true;
	return NULL;
}

/* Rounds the guest completed, as it counts them in the code slot. */
static unsigned int guest_rounds(struct vm *vm)
{
	return *(volatile unsigned short *)((char *)vm->code + GUEST_ROUNDS);
}

/* Waits up to a minute until the guest completed rounds rounds in all. */
static bool guest_wait_rounds(struct vcpu_thread *t, unsigned int rounds)
{
	long long deadline = now_ns() + 60 * 1000000000LL;

	while ((unsigned short)(guest_rounds(t->vm) - rounds) > 0x8000 && !t->done &&
	       now_ns() < deadline)
		usleep(1000);
	return (unsigned short)(guest_rounds(t->vm) - rounds) <= 0x8000;
}

/*
 * Sets the stop byte and waits for the guest to halt; after a minute the
 * vCPU is interrupted.  True if the guest ran every round to its end.
 */
static bool vcpu_thread_stop(struct vcpu_thread *t)
{
	long long deadline = now_ns() + 60 * 1000000000LL;

	*((volatile char *)t->vm->code + GUEST_STOP) = 1;
	while (!t->done && now_ns() < deadline)
		usleep(1000);
	if (!t->done) {
		tap_diag("the guest did not halt: interrupting its vCPU");
		pthread_kill(t->tid, SIGALRM);
	}
	pthread_join(t->tid, NULL);
	return t->ok;
}

/* Secrets of other processes around the VM's pages, and the hole punched. */
#define SECRETS		3
#define SECRET_PAGES	100LL
#define HOLE_OFFSET	(512 * MIB)
#define HOLE_SIZE	(16 * MIB)
#define HOLE_PAGES	((long long)(HOLE_SIZE / PAGE_SIZE_4K))

/*
 * Compaction moves a SW_PROTECTED VM's private pages.  A filler
 * guest_memfd takes all of chunk A; chunk B then gets the pages of three
 * memfd_secret processes with the VM's guest_memfd pages between them, in
 * the small owners' shared block, and the guest writes its pattern over
 * them.  The processes exit and a hole is punched into the filler: B holds
 * nothing but the VM's pages, and A has room for them.  Compacting node 0
 * to one empty chunk must move them to A (B is the emptiest chunk), B ends
 * empty and the guest reads back every byte.
 *
 * Then the filler goes and a new secret process takes B, so that A, with
 * only the VM's pages, is the emptiest: compaction moves them back into B
 * while the vCPU writes and reads its memory in a loop, refaulting every
 * page the move invalidates.  Compaction may find a page busy while a
 * fault holds it, so it is tried again, up to 20 times.  A is reclaimed as
 * a free 1 GiB hugetlb page, and the guest reads its memory once more.
 */
static void compact_vm(const struct unmapped_pool_info *info)
{
	struct secret_child secrets[SECRETS], late;
	struct unmapped_pool_compact_req req;
	long long free_huge0, used, moved, busy;
	unsigned long long a, b;
	struct chunk_use c[4];
	struct vcpu_thread t;
	unsigned int rounds;
	int i, err, filler, tries;
	bool ok;
	struct vm vm;

	tap_ok(info->features & UNMAPPED_POOL_FEAT_COMPACT, "pool info advertises compaction");
	if (!(info->features & UNMAPPED_POOL_FEAT_COMPACT))
		return;
	if (!pool_set_chunks(0, 0) || !hugetlb_reserve(0, 2))
		tap_bail("cannot set up two 1 GiB hugetlb pages on node 0");
	free_huge0 = hugetlb_read(0, "free_hugepages");
	tap_ok(pool_set_chunks(0, 1), "compaction: lend chunk A");
	filler = pool_fill();
	tap_ok(pool_set_chunks(0, 2), "compaction: lend chunk B");
	if (!vm_create(&vm, GUEST_MEMFD_FLAG_UNMAPPED_POOL))
		tap_bail("cannot create a SW_PROTECTED VM with pool guest_memfd");

	/* Secret, half the VM's pages, secret, the other half, secret. */
	ok = true;
	for (i = 0; i < SECRETS; i++) {
		ok &= secret_child_start(&secrets[i], SECRET_PAGES);
		if (i < 2)
			ok &= !fallocate(vm.gmem, FALLOC_FL_KEEP_SIZE, i * PRIV_SIZE / 2,
					 PRIV_SIZE / 2);
	}
	tap_ok(ok, "the VM's pages come between the secrets of %d processes", SECRETS);
	tap_ok(vm_run_seed(&vm, GUEST_WRITE | GUEST_VERIFY, 0x11, NULL),
	       "the guest wrote its pattern over every private byte and read it back");
	if (chunk_uses(c, 4, "fragmented") != 2)
		tap_bail("node 0 does not have two chunks");
	i = c[0].used < c[1].used ? 0 : 1;
	a = c[!i].pfn;
	b = c[i].pfn;
	tap_eq(c[!i].used, CHUNK_PAGES, "chunk A is the filler's, full");
	tap_eq(c[i].used, PRIV_PAGES + SECRETS * SECRET_PAGES,
	       "chunk B holds the VM's pages and the secrets");

	ok = true;
	for (i = 0; i < SECRETS; i++)
		ok &= secret_child_stop(&secrets[i]);
	tap_ok(ok, "the secrets' processes exit");
	tap_eq(fallocate(filler, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, HOLE_OFFSET,
			 HOLE_SIZE), 0, "punch a %lu MiB hole into the filler", HOLE_SIZE / MIB);
	tap_eq(chunk_used(b, "holes"), PRIV_PAGES, "the VM's pages alone keep chunk B in use");
	tap_eq(chunk_used(a, "holes"), CHUNK_PAGES - HOLE_PAGES, "chunk A has the hole");
	tap_eq(pool_read(0, "empty_chunks"), 0, "no chunk is empty");

	used = pool_read(0, "used_pages");
	tap_eq(pool_compact(&req), 0,
	       "compacting node 0 to one empty chunk, at most %lu pages, succeeds", PRIV_PAGES);
	tap_eq(req.pages_moved, PRIV_PAGES, "it moved the VM's %lu pages", PRIV_PAGES);
	tap_eq(req.chunks_emptied, 1, "it emptied one chunk");
	tap_eq(chunk_used(b, "compacted"), 0, "chunk B, the VM's, is empty");
	tap_eq(chunk_used(a, "compacted"), CHUNK_PAGES - HOLE_PAGES + PRIV_PAGES,
	       "the VM's pages are in chunk A's hole");
	tap_eq(pool_read(0, "used_pages"), used, "the pool has as many pages in use as before");
	tap_eq(pool_read(0, "empty_chunks"), 1, "empty_chunks says one");
	tap_ok(vm_run_seed(&vm, GUEST_VERIFY, 0x11, NULL),
	       "the guest reads back every byte it wrote, from the pages they moved to");

	/* The other way, while the guest runs. */
	close(filler);
	tap_ok(secret_child_start(&late, SECRET_PAGES), "another process takes a secret");
	tap_eq(chunk_used(a, "refilled"), PRIV_PAGES,
	       "with the filler closed, the VM's pages alone keep chunk A in use");
	tap_eq(chunk_used(b, "refilled"), SECRET_PAGES, "the new secret is in chunk B");
	memset(&t, 0, sizeof(t));
	t.vm = &vm;
	t.seed = 0x21;
	rounds = guest_rounds(&vm);
	if (pthread_create(&t.tid, NULL, vcpu_thread_fn, &t))
		tap_bail("cannot start the vCPU thread");
	tap_ok(guest_wait_rounds(&t, rounds + 1), "the guest loops over its memory");
	moved = 0;
	busy = 0;
	err = EAGAIN;
	for (tries = 0; tries < 20 && err == EAGAIN && !t.done; tries++) {
		err = pool_compact(&req);
		moved += req.pages_moved;
		busy += req.pages_busy;
	}
	tap_eq(err, 0, "compaction empties a chunk while the vCPU runs (%d tries, %lld pages "
	       "found busy)", tries, busy);
	tap_eq(moved, PRIV_PAGES, "it moved the VM's %lu pages", PRIV_PAGES);
	rounds = guest_rounds(&vm);
	tap_ok(guest_wait_rounds(&t, rounds + 2),
	       "the guest completes two more rounds after the move");
	tap_ok(vcpu_thread_stop(&t),
	       "every round the guest wrote read back whole, before, during and after the moves");
	tap_eq(chunk_used(a, "compacted again"), 0, "chunk A is empty");
	tap_eq(chunk_used(b, "compacted again"), SECRET_PAGES + PRIV_PAGES,
	       "the VM's pages are in chunk B with the secret");
	tap_ok(pool_set_chunks(0, 1), "reclaim the emptied chunk");
	tap_eq(chunk_used(a, "reclaimed"), -1, "it is chunk A");
	tap_eq(hugetlb_read(0, "free_hugepages"), free_huge0 - 1,
	       "it is a free 1 GiB hugetlb page again");
	tap_ok(vm_run_seed(&vm, GUEST_VERIFY, t.seed, NULL),
	       "the guest reads back every byte of its last round (seed %#x)", t.seed);

	tap_ok(secret_child_stop(&late), "the secret's process exits");
	vm_destroy(&vm);
	tap_ok(pool_set_chunks(0, 0), "give chunk B back");
	tap_eq(hugetlb_read(0, "free_hugepages"), free_huge0,
	       "both chunks are free 1 GiB hugetlb pages again");
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

	compact_vm(&info);

	if (!mm_counters_read(&after))
		tap_bail("kernel counters missing");
	tap_eq(after.splits2 - before.splits2, 0, "no 2M direct-map splits");
	tap_eq(after.splits3 - before.splits3, 0, "no 1G direct-map splits");
	tap_eq(after.dm1g, before.dm1g, "DirectMap1G unchanged");
	return tap_done();
}
