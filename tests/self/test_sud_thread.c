/* SPDX-License-Identifier: MIT */
/*
 * The safety net (UMN_SELF_SUD=1) and threads made by pthread_create.  Its
 * clone runs inside libc's text, which does not trap, and the kernel starts
 * the thread with Syscall User Dispatch cleared; umn's pthread_create
 * starts the thread on a function that arms it before the start routine.
 * The thread's first instructions, before any malloc or other hooked call:
 * munmap and madvise(DONTNEED) with the number in a register (inline asm,
 * no fixed-number site to discover).  They must trap and a subscriber must
 * see both.  Also: the start routine's value, pthread_exit's and
 * cancellation reach pthread_join unchanged, threads made by 4 threads at
 * once get their own start and argument, and a failing pthread_create
 * returns libc's error.
 *
 * Built twice: self.sud_thread (linked with libumn, the subscriber checks)
 * and tool_prog_sudthread (no umn; run under `umn trace --audit` with
 * UMN_SELF_SUD=1 by tests/tool/audit_sudthread.sh: 0 missed).  Skips (77)
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
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifndef SUD_THREAD_NO_UMN
#include <umn/notifier.h>
#include <umn/self.h>
#endif

#define FAIL(...)                                                            \
	do {                                                                 \
		fprintf(stderr, "FAIL: " __VA_ARGS__);                       \
		fputc('\n', stderr);                                         \
		exit(1);                                                     \
	} while (0)
#define EXPECT(c) \
	do { if (!(c)) FAIL("%s:%d: %s", __FILE__, __LINE__, #c); } while (0)

/* The number arrives in a register: no fixed-number site to discover. */
long st_reg_syscall(long nr, long a1, long a2, long a3);
extern const unsigned char st_reg_insn[];
__asm__(".text\n"
	".globl st_reg_syscall\n"
	".type st_reg_syscall,@function\n"
	"st_reg_syscall:\n"
	"	mov %rdi,%rax\n"
	"	mov %rsi,%rdi\n"
	"	mov %rdx,%rsi\n"
	"	mov %rcx,%rdx\n"
	".globl st_reg_insn\n"
	"st_reg_insn:\n"
	"	syscall\n"
	"	ret\n"
	".size st_reg_syscall,.-st_reg_syscall\n");

static long page;
static char *unmap_page, *advise_page;
static long munmap_ret = -1, madvise_ret = -1;

#define THREAD_VALUE ((void *)0x5a5a)
#define EXIT_VALUE ((void *)0x7777)

/* First instructions of the thread: the two calls, nothing before. */
static void *first_calls(void *arg)
{
	munmap_ret = st_reg_syscall(SYS_munmap, (long)unmap_page, page, 0);
	madvise_ret = st_reg_syscall(SYS_madvise, (long)advise_page, page,
				     MADV_DONTNEED);
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

#ifndef SUD_THREAD_NO_UMN
#define EV_MAX 64
static struct ev {
	unsigned long start, end;
	int event;
} evs[EV_MAX];
static int nev;

static int ev_start(struct umn_notifier *sub,
		    const struct umn_notifier_range *r)
{
	int i = __atomic_fetch_add(&nev, 1, __ATOMIC_RELAXED);

	(void)sub;
	if (i < EV_MAX)
		evs[i] = (struct ev){ r->start, r->end, r->event };
	return 0;
}

static const struct umn_notifier_ops ev_ops = {
	.invalidate_range_start = ev_start,
};

static bool ev_seen(int event, unsigned long s, unsigned long e)
{
	for (int i = 0; i < nev && i < EV_MAX; i++)
		if (evs[i].event == event && evs[i].start <= s &&
		    evs[i].end >= e)
			return true;
	return false;
}
#endif

static bool sud_unavailable(void)
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

int main(void)
{
	pthread_attr_t attr;
	pthread_t t;
	void *ret;
	int r;

	alarm(30);
	page = sysconf(_SC_PAGESIZE);
	if (sud_unavailable()) {
		printf("SKIP: syscall user dispatch unavailable here "
		       "(Linux >= 5.11)\n");
		return 77;
	}
#ifndef SUD_THREAD_NO_UMN
	struct umn_notifier sub = { .ops = &ev_ops };
	struct umn_mm *mm = umn_mm_self();
	unsigned long traps_before;

	EXPECT(mm != NULL);
	if (!(umn_self_sources() & UMN_SELF_PATCH)) {
		printf("SKIP: the patch source is not active\n");
		return 77;
	}
	EXPECT(umn_notifier_register(&sub, mm) == 0);
	traps_before = umn__test_sud_traps(st_reg_insn);
#endif
	unmap_page = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	advise_page = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(unmap_page != MAP_FAILED && advise_page != MAP_FAILED);
	memset(advise_page, 1, (size_t)page);

	/* the thread's first calls are register-number ones */
	EXPECT(pthread_create(&t, NULL, first_calls, THREAD_VALUE) == 0);
	EXPECT(pthread_join(t, &ret) == 0);
	EXPECT(ret == THREAD_VALUE);
	EXPECT(munmap_ret == 0 && madvise_ret == 0);
	EXPECT(advise_page[0] == 0);
#ifndef SUD_THREAD_NO_UMN
	printf("# %lu trap(s) at the register-number site\n",
	       umn__test_sud_traps(st_reg_insn) - traps_before);
	EXPECT(umn__test_sud_traps(st_reg_insn) - traps_before == 2);
	EXPECT(ev_seen(UMN_NOTIFY_UNMAP, (unsigned long)unmap_page,
		       (unsigned long)unmap_page + (unsigned long)page));
	EXPECT(ev_seen(UMN_NOTIFY_CLEAR, (unsigned long)advise_page,
		       (unsigned long)advise_page + (unsigned long)page));
#endif
	EXPECT(!munmap(advise_page, (size_t)page));

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
#ifndef SUD_THREAD_NO_UMN
	EXPECT(umn_notifier_unregister(&sub, mm) == 0);
#endif
	printf("ok - sud_thread\n");
	return 0;
}
