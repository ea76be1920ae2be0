// SPDX-License-Identifier: GPL-2.0
/*
 * util.c - helpers shared by the in-guest test programs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/mempolicy.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Bits of a /proc/self/pagemap entry. */
#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)

#ifndef __NR_memfd_secret
#define __NR_memfd_secret	447	/* x86-64 */
#endif

static int tap_count, tap_failed;

static void tap_vline(bool pass, const char *directive, const char *fmt, va_list ap)
{
	printf("%sok %d - ", pass ? "" : "not ", ++tap_count);
	vprintf(fmt, ap);
	printf("%s\n", directive);
	fflush(stdout);
	if (!pass)
		tap_failed++;
}

void tap_ok(bool pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vline(pass, "", fmt, ap);
	va_end(ap);
}

bool tap_eq(long long got, long long want, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vline(got == want, "", fmt, ap);
	va_end(ap);
	if (got != want)
		tap_diag("got %lld, want %lld", got, want);
	return got == want;
}

void tap_skip(const char *why, const char *fmt, ...)
{
	char directive[256];
	va_list ap;

	snprintf(directive, sizeof(directive), " # SKIP %s", why);
	va_start(ap, fmt);
	tap_vline(true, directive, fmt, ap);
	va_end(ap);
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void tap_bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(2);
}

int tap_done(void)
{
	printf("1..%d\n", tap_count);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

long long proc_value(const char *file, const char *key)
{
	size_t len = strlen(key);
	long long val = -1;
	char line[512];
	FILE *f;

	f = fopen(file, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* The key must be followed by a separator, not more name. */
		if (strncmp(line, key, len) || (line[len] != ':' && line[len] != ' '))
			continue;
		val = strtoll(line + len + 1, NULL, 10);
		break;
	}
	fclose(f);
	return val;
}

long long irq_count(const char *row)
{
	long long sum = -1;
	char line[1024];
	FILE *f;

	f = fopen("/proc/interrupts", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " ");
		size_t len = strlen(row);
		char *end;

		if (strncmp(p, row, len) || p[len] != ':')
			continue;
		/* One count per CPU, then the description. */
		p += len + 1;
		for (sum = 0;; p = end) {
			long long n = strtoll(p, &end, 10);

			if (end == p)
				break;
			sum += n;
		}
		break;
	}
	fclose(f);
	return sum;
}

long long sysfs_read(const char *path)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

bool sysfs_write(const char *path, long long val)
{
	char buf[32];
	int fd, len;
	bool ok;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return false;
	len = snprintf(buf, sizeof(buf), "%lld\n", val);
	ok = write(fd, buf, len) == len;
	close(fd);
	return ok;
}

uint64_t sysfs_list(const char *path)
{
	uint64_t mask = 0;
	char buf[256], *p = buf;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	while (*p >= '0' && *p <= '9') {
		long first = strtol(p, &p, 10), last = first;

		if (*p == '-')
			last = strtol(p + 1, &p, 10);
		for (; first <= last && first < 64; first++)
			mask |= 1ULL << first;
		if (*p == ',')
			p++;
	}
	return mask;
}

static void node_path(char *buf, size_t len, int node, const char *dir, const char *file)
{
	if (node < 0)
		snprintf(buf, len, "/sys/kernel/mm/%s/%s", dir, file);
	else
		snprintf(buf, len, "/sys/devices/system/node/node%d/%s/%s", node, dir, file);
}

long long node_read(int node, const char *dir, const char *file)
{
	char path[256];

	node_path(path, sizeof(path), node, dir, file);
	return sysfs_read(path);
}

bool node_write(int node, const char *dir, const char *file, long long val)
{
	char path[256];

	node_path(path, sizeof(path), node, dir, file);
	return sysfs_write(path, val);
}

bool pool_settle(void)
{
	return sysfs_write("/sys/kernel/mm/" POOL_DIR "/settle", 1);
}

long long pool_read(int node, const char *file)
{
	pool_settle();
	return pool_read_raw(node, file);
}

bool pool_set_chunks(int node, long long chunks)
{
	return node_write(node, POOL_DIR, "nr_chunks", chunks) &&
	       pool_read(node, "nr_chunks") == chunks;
}

bool hugetlb_reserve(int node, long long n)
{
	if (hugetlb_read(node, "nr_hugepages") >= n)
		return true;
	return node_write(node, HUGETLB_DIR, "nr_hugepages", n) &&
	       hugetlb_read(node, "nr_hugepages") >= n;
}

bool mm_counters_read(struct mm_counters *c)
{
	c->splits2 = proc_value("/proc/vmstat", "direct_map_level2_splits");
	c->splits3 = proc_value("/proc/vmstat", "direct_map_level3_splits");
	c->tlb_remote = proc_value("/proc/vmstat", "nr_tlb_remote_flush");
	c->tlb_remote_recv = proc_value("/proc/vmstat", "nr_tlb_remote_flush_received");
	c->dm4k = proc_value("/proc/meminfo", "DirectMap4k");
	c->dm2m = proc_value("/proc/meminfo", "DirectMap2M");
	c->dm1g = proc_value("/proc/meminfo", "DirectMap1G");
	c->ipis = irq_count("CAL");
	return c->splits2 >= 0 && c->splits3 >= 0 && c->tlb_remote >= 0 &&
	       c->tlb_remote_recv >= 0 && c->dm4k >= 0 && c->dm2m >= 0 &&
	       c->dm1g >= 0 && c->ipis >= 0;
}

int secret_create(void)
{
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };

	if (setrlimit(RLIMIT_MEMLOCK, &unlimited))
		return -1;
	return syscall(__NR_memfd_secret, 0);
}

bool region_map(struct region *r, int fd, size_t size)
{
	r->fd = fd;
	r->size = size;
	r->addr = MAP_FAILED;
	if (fd >= 0 && !ftruncate(fd, size))
		r->addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->addr != MAP_FAILED)
		return true;
	if (fd >= 0)
		close(fd);
	return false;
}

long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long region_fault(struct region *r)
{
	long long start, elapsed;
	size_t off;

	start = now_ns();
	for (off = 0; off < r->size; off += PAGE_SIZE_4K)
		r->addr[off] = (char)(off / PAGE_SIZE_4K) | 1;
	elapsed = now_ns() - start;
	/* Outside the timing: every page must hold what was written. */
	for (off = 0; off < r->size; off += PAGE_SIZE_4K)
		if (r->addr[off] != ((char)(off / PAGE_SIZE_4K) | 1))
			return -1;
	return elapsed;
}

void region_unmap(struct region *r)
{
	munmap(r->addr, r->size);
	close(r->fd);
	r->addr = MAP_FAILED;
	r->fd = -1;
}

long long frag_fault(struct frag_owner *owners,
		     void (*fill)(struct frag_owner *owner, int id))
{
	long long total = 0, ns;
	int i;

	for (i = 0; i < FRAG_OWNERS; i++) {
		if (!region_map(&owners[i].r, secret_create(), FRAG_OWNER_SIZE)) {
			tap_diag("owner %d: memfd_secret: %s", i, strerror(errno));
			return -1;
		}
		owners[i].alive = true;
		if (fill && FRAG_SURVIVOR(i)) {
			fill(&owners[i], i);
			continue;
		}
		ns = region_fault(&owners[i].r);
		if (ns < 0)
			return -1;
		total += ns;
	}
	return total;
}

void frag_free_most(struct frag_owner *owners)
{
	int i;

	for (i = 0; i < FRAG_OWNERS; i++) {
		if (!FRAG_SURVIVOR(i)) {
			region_unmap(&owners[i].r);
			owners[i].alive = false;
		} else if (!FRAG_MAPPED(i)) {
			munmap(owners[i].r.addr, FRAG_OWNER_SIZE);
			owners[i].r.addr = MAP_FAILED;
		}
	}
}

void frag_release(struct frag_owner *owners)
{
	int i;

	for (i = 0; i < FRAG_OWNERS; i++) {
		if (!owners[i].alive)
			continue;
		if (owners[i].r.addr != MAP_FAILED)
			munmap(owners[i].r.addr, FRAG_OWNER_SIZE);
		close(owners[i].r.fd);
		owners[i].alive = false;
	}
}

long long pool_wait_wiped(int node, long long timeout_ms)
{
	long long deadline = now_ns() + timeout_ms * 1000000, dirty;

	while ((dirty = pool_read(node, "dirty_pages")) > 0 && now_ns() < deadline)
		usleep(10 * 1000);
	return dirty;
}

int protected_vm_create(void)
{
	int kvm, vm, err;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return -1;
	vm = ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	err = errno;
	/* The VM keeps KVM loaded; /dev/kvm itself is needed no more. */
	close(kvm);
	errno = err;
	return vm;
}

int guest_memfd_create(int vm, unsigned long long size, unsigned long long flags)
{
	struct kvm_create_guest_memfd args = { .size = size, .flags = flags };

	return ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);
}

uint64_t node_cpus(int node)
{
	char path[128];

	if (node < 0)
		return sysfs_list("/sys/devices/system/cpu/online");
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	return sysfs_list(path);
}

bool set_cpus(uint64_t cpus)
{
	cpu_set_t set;
	int cpu;

	CPU_ZERO(&set);
	for (cpu = 0; cpu < 64; cpu++)
		if (cpus & (1ULL << cpu))
			CPU_SET(cpu, &set);
	return !sched_setaffinity(0, sizeof(set), &set);
}

bool bind_memory(int node)
{
	unsigned long nodemask = 1UL << node;

	return !syscall(SYS_set_mempolicy, MPOL_BIND, &nodemask, sizeof(nodemask) * 8);
}

bool region_pfns(const struct region *r, unsigned long long *pfns)
{
	size_t len = r->size / PAGE_SIZE_4K * sizeof(*pfns), done = 0;
	off_t off = (uintptr_t)r->addr / PAGE_SIZE_4K * sizeof(*pfns);
	int f = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool ok = f >= 0;
	size_t i;
	ssize_t n;

	while (ok && done < len) {
		n = pread(f, (char *)pfns + done, len - done, off + done);
		ok = n > 0;
		done += ok ? n : 0;
	}
	if (f >= 0)
		close(f);
	for (i = 0; ok && i < len / sizeof(*pfns); i++) {
		ok = pfns[i] & PM_PRESENT;
		pfns[i] &= PM_PFN_MASK;
	}
	return ok;
}
