/* SPDX-License-Identifier: MIT */
/*
 * Chaining to a patcher that got there first, in the styles of Open MPI's
 * patcher / libfabric's memhooks (`movabs $hook,%r11; jmp *%r11`) and of
 * `jmp *0(%rip); .quad hook`.  Before umn starts, this program writes such
 * jumps over libc's shmdt, shmat and mremap entries (hooks that count and
 * make the raw system call).  umn must chain: both the previous hook and a
 * umn subscription see each call, the call still works.  mremap's site is
 * far from its entry (+0x29 in glibc 2.36): the foreign jump leaves its
 * bytes intact, so a site cache entry written by a clean process still
 * matches them there, and must not be used (self.chain_cached).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <umn/notifier.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif

/* volatile: changed inside shmat/shmdt, which glibc declares leaf */
static volatile int prev_shmdt_calls, prev_shmat_calls;
static unsigned long lo, hi;
static volatile int umn_events;	/* changed inside hooked calls */

static long raw3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

static volatile int prev_mremap_calls;

static long raw4(long nr, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c),
			 "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

/* flags 0 only (this test shrinks in place) */
static void *prev_mremap(void *old, size_t old_len, size_t new_len, int flags)
{
	long r = raw4(SYS_mremap, (long)old, (long)old_len, (long)new_len,
		      flags);

	prev_mremap_calls++;
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return MAP_FAILED;
	}
	return (void *)r;
}

static int prev_shmdt(const void *addr)
{
	long r = raw3(SYS_shmdt, (long)addr, 0, 0);

	prev_shmdt_calls++;
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

static void *prev_shmat(int id, const void *addr, int flags)
{
	long r = raw3(SYS_shmat, id, (long)addr, flags);

	prev_shmat_calls++;
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return (void *)-1;
	}
	return (void *)r;
}

static void write_entry(void *fn, const unsigned char *code, size_t n)
{
	unsigned long page = (unsigned long)fn & ~4095ul;

	CHECK_EQ(mprotect((void *)page, 8192, PROT_READ | PROT_WRITE | PROT_EXEC), 0);
	memcpy(fn, code, n);
	CHECK_EQ(mprotect((void *)page, 8192, PROT_READ | PROT_EXEC), 0);
}

static void install_foreign_patches(void)
{
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	unsigned char movabs[13] = { 0x49, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0,
				     0x41, 0xff, 0xe3 };
	unsigned char ripjmp[14] = { 0xff, 0x25, 0, 0, 0, 0 };
	void *dt, *at, *mr;
	unsigned long h;

	CHECK(libc != NULL);
	dt = dlsym(libc, "shmdt");
	at = dlsym(libc, "shmat");
	mr = dlsym(libc, "mremap");
	CHECK(dt && at && mr);
	h = (unsigned long)prev_mremap;
	memcpy(movabs + 2, &h, 8);
	write_entry(mr, movabs, sizeof(movabs));
	h = (unsigned long)prev_shmdt;
	memcpy(movabs + 2, &h, 8);
	write_entry(dt, movabs, sizeof(movabs));
	h = (unsigned long)prev_shmat;
	memcpy(ripjmp + 6, &h, 8);
	write_entry(at, ripjmp, sizeof(ripjmp));
	dlclose(libc);
}

static int watch_start(struct umn_notifier *s, const struct umn_notifier_range *r)
{
	(void)s;
	if (r->start < hi && r->end > lo && r->event == UMN_NOTIFY_UNMAP &&
	    r->origin == UMN_ORIGIN_PATCH)
		umn_events++;
	return 0;
}

static const struct umn_notifier_ops ops = { .invalidate_range_start = watch_start };

int main(void)
{
	struct umn_notifier sub = { .ops = &ops };
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	void *p, *q;

	if (id < 0) {
		printf("# skip: no System V shared memory here\n");
		return T_SKIP;
	}
	if (umn_self_sources()) {
		printf("# skip: umn was initialised before main\n");
		shmctl(id, IPC_RMID, NULL);
		return T_SKIP;
	}
	install_foreign_patches();
	CHECK(umn_self_init(UMN_SELF_PATCH) == 0);
	CHECK_EQ(umn_notifier_register(&sub, umn_mm_self()), 0);

	/* shmdt: movabs+jmp r11 chain */
	p = shmat(id, NULL, 0);
	CHECK(p != (void *)-1);
	CHECK_EQ(prev_shmat_calls, 1);
	lo = (unsigned long)p;
	hi = lo + 4096;
	CHECK_EQ(shmdt(p), 0);
	CHECK_EQ(prev_shmdt_calls, 1);
	CHECK_EQ(umn_events, 1);

	/* shmat(SHM_REMAP): jmp *0(%rip) chain */
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	lo = (unsigned long)p;
	hi = lo + 4096;
	umn_events = 0;
	q = shmat(id, p, SHM_REMAP);
	CHECK(q == p);
	CHECK_EQ(prev_shmat_calls, 2);
	CHECK_EQ(umn_events, 1);
	CHECK_EQ(shmdt(q), 0);
	CHECK_EQ(prev_shmdt_calls, 2);

	/* mremap: movabs+jmp r11 chain, its site far from the entry */
	p = mmap(NULL, 2 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	lo = (unsigned long)p + 4096;
	hi = lo + 4096;
	umn_events = 0;
	CHECK(mremap(p, 2 * 4096, 4096, 0) == p);
	CHECK_EQ(prev_mremap_calls, 1);
	CHECK_EQ(umn_events, 1);
	CHECK_EQ(munmap(p, 4096), 0);

	/* errors still come back through both */
	errno = 0;
	CHECK_EQ(shmdt((void *)4096), -1);
	CHECK_EQ(errno, EINVAL);

	CHECK_EQ(umn_notifier_unregister(&sub, umn_mm_self()), 0);
	shmctl(id, IPC_RMID, NULL);
	printf("ok - chained to movabs and jmp *0(%%rip) patches\n");
	return 0;
}
