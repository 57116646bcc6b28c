/* SPDX-License-Identifier: MIT */
/*
 * The safety net (UMN_SELF_SUD=1, set by ctest): system calls whose number
 * is in a register at a `syscall` instruction outside libc -- which site
 * discovery cannot patch -- are trapped by Syscall User Dispatch and
 * reported before they run: munmap, madvise(DONTNEED), mprotect, on the
 * main thread and on a thread created afterwards (armed at its first
 * hooked call: its mmap); other numbers (getppid, rt_sigprocmask) still
 * work.  Skips (77) where the kernel lacks it.
 */
#define SELF_LOG
#include <errno.h>
#include <pthread.h>
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

/* The number arrives in a register: no fixed-number site to discover. */
static long __attribute__((noinline)) reg_syscall(long nr, long a1, long a2,
						  long a3)
{
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3)
			 : "rcx", "r11", "memory");
	return r;
}

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
	CHECK_EQ(reg_syscall(SYS_madvise, (long)p, page, MADV_DONTNEED), 0);
	CHECK(log_find(UMN_NOTIFY_CLEAR, a, a + page) != NULL);
	log_reset();
	CHECK_EQ(reg_syscall(SYS_mprotect, (long)p + page, page, PROT_READ), 0);
	CHECK(log_find(UMN_NOTIFY_PROTECTION_VMA, a + page, a + 2 * page));
	log_reset();
	CHECK_EQ(reg_syscall(SYS_munmap, (long)p, 3 * page, 0), 0);
	{
		const struct log_ev *l = log_find(UMN_NOTIFY_UNMAP, a,
						  a + 3 * page);

		CHECK(l != NULL);
		CHECK(l->mapped); /* reported before the unmap ran */
	}
	/* other numbers run normally */
	CHECK_EQ(reg_syscall(SYS_getppid, 0, 0, 0), (long)getppid());
	CHECK_EQ(reg_syscall(SYS_rt_sigprocmask, SIG_BLOCK, (long)&set,
			     (long)&old), 0);
	CHECK_EQ(sigprocmask(SIG_SETMASK, NULL, &now), 0);
	CHECK(sigismember(&now, SIGUSR1));
	sigemptyset(&saved);
	memcpy(&saved, &old, sizeof(old));
	CHECK_EQ(sigprocmask(SIG_SETMASK, &saved, NULL), 0);
	return 0;
}

/* Does this kernel have Syscall User Dispatch?  (Tried in a child.) */
static bool prctl_sud_unavailable(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		static volatile char sel; /* ALLOW: nothing traps */

		_exit(prctl(59 /* PR_SET_SYSCALL_USER_DISPATCH */, 1, 0, 0,
			    &sel) ? 1 : 0);
	}
	return pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	       WEXITSTATUS(st) != 0;
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

	alarm(30);
	mm = umn_mm_self();
	CHECK(mm != NULL);
	if (!(umn_self_sources() & UMN_SELF_PATCH)) {
		printf("SKIP: the patch source is not active\n");
		return 77;
	}
	if (prctl_sud_unavailable()) {
		printf("SKIP: syscall user dispatch unavailable here\n");
		return 77;
	}
	CHECK_EQ(umn_notifier_register(&sub, mm), 0);
	calls_covered();
	CHECK_EQ(pthread_create(&t, NULL, thread_main, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	printf("ok - sud\n");
	return 0;
}
