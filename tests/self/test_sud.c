/* SPDX-License-Identifier: MIT */
/*
 * The safety net (UMN_SELF_SUD=1, set by ctest): system calls whose number
 * is in a register at a `syscall` instruction outside libc -- which site
 * discovery cannot patch -- are trapped by Syscall User Dispatch and
 * reported before they run: munmap, madvise(DONTNEED), mprotect, on the
 * main thread and on a thread created afterwards (armed at its first
 * hooked call: its mmap); other numbers (getppid, rt_sigprocmask) still
 * work.  A fixed-number site in code generated at run time traps once
 * (the net patches it); a register-number site traps every time.  A raw
 * clone(CLONE_VM) with no stack from outside libc fails with ENOSYS (the
 * documented limit; the rest: self.sud_clone).  Skips (77) where the
 * kernel lacks it.
 */
#define SELF_LOG
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"
#include "sud_common.h"

static int calls_covered(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 3 * (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long a = (unsigned long)p;
	uint64_t set = 1ull << (SIGUSR1 - 1), old = 0;
	sigset_t now, saved;

	CHECK(p != MAP_FAILED);
	memset(p, 1, 3 * (size_t)page);
	log_reset();
	CHECK_EQ(sud_reg_syscall(SYS_madvise, (long)p, page, MADV_DONTNEED),
		 0);
	CHECK(log_find(UMN_NOTIFY_CLEAR, a, a + page) != NULL);
	log_reset();
	CHECK_EQ(sud_reg_syscall(SYS_mprotect, (long)p + page, page,
				 PROT_READ), 0);
	CHECK(log_find(UMN_NOTIFY_PROTECTION_VMA, a + page, a + 2 * page));
	log_reset();
	CHECK_EQ(sud_reg_syscall(SYS_munmap, (long)p, 3 * page, 0), 0);
	{
		const struct log_ev *l = log_find(UMN_NOTIFY_UNMAP, a,
						  a + 3 * page);

		CHECK(l != NULL);
		CHECK(l->mapped); /* reported before the unmap ran */
	}
	/* other numbers run normally */
	CHECK_EQ(sud_reg_syscall(SYS_getppid, 0, 0, 0), (long)getppid());
	CHECK_EQ(sud_reg_syscall(SYS_rt_sigprocmask, SIG_BLOCK, (long)&set,
				 (long)&old), 0);
	CHECK_EQ(sigprocmask(SIG_SETMASK, NULL, &now), 0);
	CHECK(sigismember(&now, SIGUSR1));
	sigemptyset(&saved);
	memcpy(&saved, &old, sizeof(old));
	CHECK_EQ(sigprocmask(SIG_SETMASK, &saved, NULL), 0);
	return 0;
}

/* The protection letters of the mapping holding a ("r-xp"), or "". */
static const char *perms_of(const void *a, char out[5])
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long s, e;
	char line[512];

	out[0] = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %4s", &s, &e, out) == 3 &&
		    (unsigned long)a >= s && (unsigned long)a < e)
			break;
		else
			out[0] = 0;
	if (f)
		fclose(f);
	return out;
}

/* One call of the generated munmap on a fresh page: done and reported. */
static void jit_unmap_reported(long (*fn)(void *, long), long page)
{
	char *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long a = (unsigned long)p;

	CHECK(p != MAP_FAILED);
	log_reset();
	CHECK_EQ(fn(p, page), 0);
	CHECK(log_find(UMN_NOTIFY_UNMAP, a, a + (unsigned long)page));
}

/*
 * Sites the net learns of.  Code generated after umn started, `mov
 * $SYS_munmap,%eax; syscall; ret` in an anonymous mapping (W^X: r-x, and a
 * JIT's rwx): the first call traps, its site is patched, the next ones do
 * not trap; every call is reported.  The register-number site traps on
 * every call.  The pages keep their protection.
 */
static void learned_sites(void)
{
	static const unsigned char code[8] = { 0xb8, SYS_munmap, 0, 0, 0,
					       0x0f, 0x05, 0xc3 };
	const int ncalls = 8;
	long page = sysconf(_SC_PAGESIZE);
	unsigned long reg_before = umn__test_sud_traps(sud_reg_insn);
	char perms[5];

	for (int k = 0; k < 2; k++) {
		int prot = k ? PROT_READ | PROT_WRITE | PROT_EXEC
			     : PROT_READ | PROT_EXEC;
		unsigned char *jit = mmap(NULL, (size_t)page,
					  PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		long (*fn)(void *, long);
		unsigned long before;

		CHECK(jit != MAP_FAILED);
		/* counts are per address: a page may reuse a freed one's */
		before = umn__test_sud_traps(jit + 5);
		memcpy(jit, code, sizeof(code));
		CHECK_EQ(mprotect(jit, (size_t)page, prot), 0);
		fn = (long (*)(void *, long))(void *)jit;
		for (int i = 0; i < ncalls; i++) {
			char *p;
			unsigned long a;

			jit_unmap_reported(fn, page);
			p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			a = (unsigned long)p;
			log_reset();
			CHECK_EQ(sud_reg_syscall(SYS_munmap, (long)p, page, 0),
				 0);
			CHECK(log_find(UMN_NOTIFY_UNMAP, a, a + (unsigned long)page));
		}
		printf("# generated code (%s): %lu trap(s) in %d calls\n",
		       k ? "rwx" : "r-x", umn__test_sud_traps(jit + 5) - before,
		       ncalls);
		CHECK_EQ(umn__test_sud_traps(jit + 5) - before, 1ul);
		CHECK_EQ(jit[0], 0xe9); /* the mov became a jump */
		CHECK(!strcmp(perms_of(jit, perms), k ? "rwxp" : "r-xp"));
		if (k)
			jit[100] = 0xcc; /* still writable */
		/* New code at the same address (the JIT unmapped the
		 * old): learned and patched again, one more trap. */
		CHECK_EQ(munmap(jit, (size_t)page), 0);
		CHECK(mmap(jit, (size_t)page, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		      jit);
		memcpy(jit, code, sizeof(code));
		CHECK_EQ(mprotect(jit, (size_t)page, prot), 0);
		for (int i = 0; i < ncalls; i++)
			jit_unmap_reported(fn, page);
		CHECK_EQ(umn__test_sud_traps(jit + 5) - before, 2ul);
		CHECK_EQ(jit[0], 0xe9);
		CHECK_EQ(munmap(jit, (size_t)page), 0);
	}
	printf("# register number: %lu trap(s) in %d calls\n",
	       umn__test_sud_traps(sud_reg_insn) - reg_before,
	       2 * ncalls);
	CHECK_EQ(umn__test_sud_traps(sud_reg_insn) - reg_before,
		 (unsigned long)(2 * ncalls));
}

#if UMN_TEST_HOOKS
#include <time.h>
#include "test_hook.h"

/*
 * A learned site at 16-byte-block offset 15, patched while another thread
 * runs it: the patch's first step makes the site's first byte int3; at
 * that point (white-box hook) thread B calls the site and must bounce on
 * the int3 until the jump is whole, then run through it (reported, result
 * 0), never through a mix of old and new bytes.
 */
static long (*off15_fn)(void *, long);
static char *b_page;
static volatile int b_go, b_done;
static long b_ret = -1;
static bool b_reported;

static void *off15_thread(void *arg)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long a = (unsigned long)b_page;

	(void)arg;
	while (!b_go)
		sched_yield();
	log_reset();
	b_ret = off15_fn(b_page, page);
	b_reported = log_find(UMN_NOTIFY_UNMAP, a, a + (unsigned long)page);
	b_done = 1;
	return NULL;
}

static void off15_hook(int point, void *arg)
{
	unsigned long before = umn__test_int3_retries();
	struct timespec t0, t;

	(void)arg;
	if (point != UMNP_HOOK_PATCH_INT3)
		return;
	b_go = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (umn__test_int3_retries() < before + 3) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5) {
			fprintf(stderr, "HANG: thread B never reached the "
					"int3 of the site being patched\n");
			_exit(1);
		}
	}
}

static void offset15_race(void)
{
	static const unsigned char code[8] = { 0xb8, SYS_munmap, 0, 0, 0,
					       0x0f, 0x05, 0xc3 };
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *jit = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;
	pthread_t t;

	CHECK(jit != MAP_FAILED);
	memset(jit, 0x90, 15); /* nops: the mov starts at offset 15 */
	memcpy(jit + 15, code, sizeof(code));
	CHECK_EQ(mprotect(jit, (size_t)page, PROT_READ | PROT_EXEC), 0);
	off15_fn = (long (*)(void *, long))(void *)jit;
	b_page = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(b_page != MAP_FAILED);
	CHECK_EQ(pthread_create(&t, NULL, off15_thread, NULL), 0);
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	__atomic_store_n(&umn__test_hook, off15_hook, __ATOMIC_RELEASE);
	log_reset();
	CHECK_EQ(off15_fn(p, page), 0); /* traps, learned, patched */
	CHECK(log_find(UMN_NOTIFY_UNMAP, (unsigned long)p,
		       (unsigned long)p + (unsigned long)page));
	__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(b_done);
	CHECK_EQ(b_ret, 0);
	CHECK(b_reported);
	CHECK_EQ(jit[15], 0xe9);
	CHECK_EQ(umn__test_sud_traps(jit + 20), 1ul);
	printf("# offset 15: thread B sent back %lu times by the int3\n",
	       umn__test_int3_retries());
}
#endif

/*
 * What the net refuses (doc/sources.md): a raw clone(CLONE_VM...) from
 * outside libc with no stack of its own and without CLONE_VFORK (two
 * threads on one stack) fails with ENOSYS.  Threads with a stack, clone3,
 * fork and vfork are run and start armed: self.sud_clone.  If this one
 * ever succeeds, the child exits at once and this fails.
 */
static void raw_clone_refused(void)
{
	const long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			   CLONE_THREAD | CLONE_SYSVSEM;
	long r = sud_raw_clone_exit(flags, NULL, NULL);

	printf("# raw clone(CLONE_VM, no stack) from outside libc: %ld\n", r);
	CHECK_EQ(r, -(long)ENOSYS);
}

static void *thread_main(void *arg)
{
	(void)arg;
	calls_covered();
	return NULL;
}

int main(void)
{
	struct umn_notifier sub = { .ops = &log_ops };
	struct umn_mm *mm;
	pthread_t t;

	sud_start();
	mm = sud_subscribe(&sub);
	calls_covered();
	CHECK_EQ(pthread_create(&t, NULL, thread_main, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	learned_sites();
	raw_clone_refused();
#if UMN_TEST_HOOKS
	offset15_race();
#else
	printf("# the offset-15 race needs -DUMN_TEST_HOOKS=ON: not run\n");
#endif
	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	printf("ok - sud\n");
	return 0;
}
