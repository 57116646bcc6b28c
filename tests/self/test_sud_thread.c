/* SPDX-License-Identifier: MIT */
/*
 * The safety net (UMN_SELF_SUD=1) and threads made by pthread_create.  Its
 * clone runs inside libc's text, which does not trap, and the kernel starts
 * the thread with Syscall User Dispatch cleared; umn's pthread_create
 * starts the thread on a function that arms it before the start routine.
 * The thread's first instructions, before any malloc or other hooked call:
 * munmap and madvise(DONTNEED) with the number in a register (inline asm,
 * no fixed-number site to discover).  They must trap and a subscriber must
 * see both.  The same for a thread made through pthread_create@GLIBC_2.2.5
 * (what a program built against glibc < 2.34 calls), and for a thread made
 * by libc's clone() wrapper and the child of a fork-like clone() (its fn
 * makes the calls; libumn's clone arms the child first).  Also: the start
 * routine's value, pthread_exit's and cancellation reach pthread_join
 * unchanged, threads made by 4 threads at once get their own start and
 * argument, and a failing pthread_create returns libc's error.
 *
 * Built twice: self.sud_thread (linked with libumn, the subscriber checks)
 * and tool_prog_sudthread (no umn; run under `umn trace --audit` with
 * UMN_SELF_SUD=1 by tests/tool/audit_sud.sh: 0 missed).  Skips (77)
 * where the kernel lacks Syscall User Dispatch (< 5.11).  Watchdog:
 * alarm(30).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "sud_common.h"

/* pthread_create as a program built against glibc < 2.34 binds it */
int pthread_create_2_2_5(pthread_t *thread, const pthread_attr_t *attr,
			 void *(*start)(void *), void *arg);
__asm__(".symver pthread_create_2_2_5,pthread_create@GLIBC_2.2.5");

/* libc's clone(): the child's fn makes the two calls first */
static volatile pid_t clone_ctid;

static int clone_first_calls(void *arg)
{
	sud_reg_calls();
	return (int)(long)arg;
}

#ifndef SUD_NO_UMN
static unsigned long clone_traps_before;

/* A fork-like clone's child: its own copy of everything; exit 0 if both
 * calls trapped and went through. */
static int clone_fork_child(void *arg)
{
	(void)arg;
	sud_reg_calls();
	return umn__test_sud_traps(sud_reg_insn) - clone_traps_before == 2 &&
	       sud_munmap_ret == 0 && sud_madvise_ret == 0 ? 0 : 3;
}
#endif

#define THREAD_VALUE ((void *)0x5a5a)
#define EXIT_VALUE ((void *)0x7777)

/* First instructions of the thread: the two calls, nothing before. */
static void *first_calls(void *arg)
{
	sud_reg_calls();
	return arg;
}

static void *exits(void *arg)
{
	(void)arg;
	pthread_exit(EXIT_VALUE);
}

static void *cancelled(void *arg)
{
	(void)arg;
	for (;;)
		pause(); /* a cancellation point */
	return NULL;
}

/* Threads that make threads: the start blocks are pushed and reaped by
 * several creators at once. */
#define CREATORS 4
#define PER_CREATOR 50
static void *identity(void *arg)
{
	return arg;
}

static void *creator(void *arg)
{
	for (long i = 0; i < PER_CREATOR; i++) {
		pthread_t t;
		void *ret;

		EXPECT(pthread_create(&t, NULL, identity, (void *)(i + 1)) == 0);
		EXPECT(pthread_join(t, &ret) == 0 && ret == (void *)(i + 1));
	}
	return arg;
}

int main(void)
{
	pthread_attr_t attr;
	pthread_t t;
	void *ret;
	int r;

	sud_start();
#ifndef SUD_NO_UMN
	struct umn_notifier sub = { .ops = &sud_ev_ops };
	struct umn_mm *mm = sud_subscribe(&sub);
	unsigned long traps_before = umn__test_sud_traps(sud_reg_insn);
#endif
	sud_pages_map();

	/* the thread's first calls are register-number ones */
	EXPECT(pthread_create(&t, NULL, first_calls, THREAD_VALUE) == 0);
	EXPECT(pthread_join(t, &ret) == 0);
	EXPECT(ret == THREAD_VALUE);
	EXPECT(sud_munmap_ret == 0 && sud_madvise_ret == 0);
	EXPECT(sud_advise_page[0] == 0);
#ifndef SUD_NO_UMN
	printf("# %lu trap(s) at the register-number site\n",
	       umn__test_sud_traps(sud_reg_insn) - traps_before);
	EXPECT(umn__test_sud_traps(sud_reg_insn) - traps_before == 2);
	sud_expect_reported(false);
#endif
	EXPECT(!munmap(sud_advise_page, (size_t)sud_page));

	/* the same through pthread_create@GLIBC_2.2.5 (libumn exports it
	 * too; under `umn trace` the preload's unversioned one takes it) */
	sud_pages_map();
#ifndef SUD_NO_UMN
	traps_before = umn__test_sud_traps(sud_reg_insn);
	sud_nev = 0;
#endif
	EXPECT(pthread_create_2_2_5(&t, NULL, first_calls, THREAD_VALUE) == 0);
	EXPECT(pthread_join(t, &ret) == 0);
	EXPECT(ret == THREAD_VALUE);
	EXPECT(sud_munmap_ret == 0 && sud_madvise_ret == 0);
	EXPECT(sud_advise_page[0] == 0);
#ifndef SUD_NO_UMN
	if (umn__test_sud_traps(sud_reg_insn) - traps_before != 2)
		FAIL("a thread made by pthread_create@GLIBC_2.2.5 ran "
		     "unarmed: %lu trap(s)",
		     umn__test_sud_traps(sud_reg_insn) - traps_before);
	sud_expect_reported(false);
#endif
	EXPECT(!munmap(sud_advise_page, (size_t)sud_page));

	/* a thread made by libc's clone() (a stack of its own, the caller's
	 * thread pointer) */
	{
		size_t sz = 256 << 10;
		char *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1,
				 0);
		pid_t ptid = 0;
		int tid;

		EXPECT(stk != MAP_FAILED);
		sud_pages_map();
#ifndef SUD_NO_UMN
		traps_before = umn__test_sud_traps(sud_reg_insn);
		sud_nev = 0;
#endif
		clone_ctid = 1;
		tid = clone(clone_first_calls, stk + sz,
			    CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			    CLONE_THREAD | CLONE_SYSVSEM | CLONE_PARENT_SETTID |
			    CLONE_CHILD_CLEARTID, NULL, &ptid, NULL,
			    &clone_ctid);
		EXPECT(tid > 0 && ptid == tid);
		while (__atomic_load_n(&clone_ctid, __ATOMIC_SEQ_CST))
			sched_yield(); /* cleared when the thread exits */
		EXPECT(sud_munmap_ret == 0 && sud_madvise_ret == 0);
		EXPECT(sud_advise_page[0] == 0);
#ifndef SUD_NO_UMN
		if (umn__test_sud_traps(sud_reg_insn) - traps_before != 2)
			FAIL("a thread made by libc's clone() ran unarmed: "
			     "%lu trap(s)",
			     umn__test_sud_traps(sud_reg_insn) - traps_before);
		sud_expect_reported(false);
#endif
		EXPECT(!munmap(sud_advise_page, (size_t)sud_page));

#ifndef SUD_NO_UMN
		/* a fork-like clone (no CLONE_VM): the child's fn, on the
		 * stack given, traps both calls in its own copy */
		int st;

		sud_pages_map();
		clone_traps_before = umn__test_sud_traps(sud_reg_insn);
		tid = clone(clone_fork_child, stk + sz, SIGCHLD, NULL);
		EXPECT(tid > 0);
		EXPECT(waitpid(tid, &st, 0) == tid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			FAIL("the child of a fork-like clone() ran unarmed "
			     "(status %#x)", st);
		EXPECT(!munmap(sud_advise_page, (size_t)sud_page));
		EXPECT(!munmap(sud_unmap_page, (size_t)sud_page));
#endif
		EXPECT(!munmap(stk, sz));
	}

	/* pthread_exit's value and cancellation are the thread's own */
	EXPECT(pthread_create(&t, NULL, exits, NULL) == 0);
	EXPECT(pthread_join(t, &ret) == 0 && ret == EXIT_VALUE);
	EXPECT(pthread_create(&t, NULL, cancelled, NULL) == 0);
	EXPECT(pthread_cancel(t) == 0);
	EXPECT(pthread_join(t, &ret) == 0 && ret == PTHREAD_CANCELED);

	/* creators in parallel */
	{
		pthread_t c[CREATORS];

		for (long i = 0; i < CREATORS; i++)
			EXPECT(pthread_create(&c[i], NULL, creator,
					      (void *)(i + 100)) == 0);
		for (long i = 0; i < CREATORS; i++)
			EXPECT(pthread_join(c[i], &ret) == 0 &&
			       ret == (void *)(i + 100));
	}

	/* a stack that cannot be mapped: libc's error comes back */
	EXPECT(pthread_attr_init(&attr) == 0);
	EXPECT(pthread_attr_setstacksize(&attr, (size_t)1 << 46) == 0);
	r = pthread_create(&t, &attr, first_calls, NULL);
	EXPECT(r == EAGAIN || r == ENOMEM);
	EXPECT(pthread_attr_destroy(&attr) == 0);
#ifndef SUD_NO_UMN
	EXPECT(umn_notifier_unregister(&sub, mm) == 0);
#endif
	printf("ok - sud_thread\n");
	return 0;
}
