/* SPDX-License-Identifier: MIT */
/*
 * The safety net (UMN_SELF_SUD=1) and threads that block every signal.  A
 * trap is a forced SIGSYS: on a thread that blocks SIGSYS the kernel
 * resets it to the default action and kills the process.  With the net on
 * umn keeps SIGSYS out of every mask that reaches the kernel through it, so
 * each case below blocks "all" signals and then makes munmap and
 * madvise(DONTNEED) with the number in a register: the process must
 * survive, both calls must trap and a subscriber must see both, and the
 * other signals must really be blocked (the kernel's mask, queried).
 *
 *   1. pthread_sigmask(SIG_BLOCK, all), in a thread (libc's site, patched)
 *   2. sigprocmask(SIG_SETMASK, all) (libc's sigprocmask calls the same)
 *   3. a raw rt_sigprocmask(SIG_BLOCK, all) from outside libc (trapped,
 *      emulated on the interrupted context's mask)
 *   4. a handler installed with sa_mask = all (the calls in the handler):
 *      SIGUSR1 (umn wraps its handler), SIGFPE (never wrapped: passed on),
 *      SIGUSR2 (installed before umn_mm_self(), so by the kernel's mask),
 *      SIGWINCH (installed by a raw rt_sigaction from outside libc: trapped)
 *   5. swapcontext to a context whose uc_sigmask is all; a raw
 *      rt_sigsuspend from outside libc whose mask is all but SIGUSR1 (the
 *      handler runs under that mask)
 *   6. a thread that blocked all signals before umn_mm_self(): its first
 *      hooked call (a libc mmap) arms it and unblocks SIGSYS
 *
 * Each case prints its name first: a process killed by SIGSYS shows which
 * one in the log.  Skips (77) where the kernel lacks Syscall User Dispatch
 * (< 5.11).  Watchdog: alarm(30).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <ucontext.h>
#include "sud_common.h"

static struct umn_notifier sub = { .ops = &sud_ev_ops };

/* rt_sigprocmask from outside libc: traps (not a map-changing number, so
 * never patched). */
static long raw_sigprocmask(long how, const uint64_t *set, uint64_t *old)
{
	register long r10 __asm__("r10") = 8;
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"((long)SYS_rt_sigprocmask), "D"(how), "S"(set),
			   "d"(old), "r"(r10)
			 : "rcx", "r11", "memory");
	return r;
}

/* rt_sigsuspend from outside libc: traps. */
static long raw_sigsuspend(const uint64_t *set)
{
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"((long)SYS_rt_sigsuspend), "D"(set), "S"(8l)
			 : "rcx", "r11", "memory");
	return r;
}

/* The kernel's struct sigaction (x86-64). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

/* rt_sigaction from outside libc: traps. */
static long raw_sigaction(int sig, const struct ksigaction *act,
			  struct ksigaction *old)
{
	register long r10 __asm__("r10") = 8;
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"((long)SYS_rt_sigaction), "D"((long)sig),
			   "S"(act), "d"(old), "r"(r10)
			 : "rcx", "r11", "memory");
	return r;
}

/* The kernel's mask now blocks SIGUSR1 and SIGTERM and not SIGSYS. */
static void expect_all_but_sigsys(void)
{
	sigset_t cur;

	EXPECT(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0);
	EXPECT(sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGTERM));
	EXPECT(!sigismember(&cur, SIGSYS));
}

static void case_start(const char *name)
{
	printf("case: %s\n", name);
	fflush(stdout);
	sud_pages_map();
	__atomic_store_n(&sud_nev, 0, __ATOMIC_SEQ_CST);
}

static void case_check(unsigned long traps_before)
{
	EXPECT(sud_munmap_ret == 0 && sud_madvise_ret == 0);
	EXPECT(umn__test_sud_traps(sud_reg_insn) - traps_before == 2);
	sud_expect_reported(true);
}

static void *block_pthread_sigmask(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	EXPECT(pthread_sigmask(SIG_BLOCK, &all, NULL) == 0);
	expect_all_but_sigsys();
	sud_reg_calls();
	return NULL;
}

static void *block_sigprocmask(void *arg)
{
	sigset_t all, old;

	(void)arg;
	sigfillset(&all);
	EXPECT(sigprocmask(SIG_SETMASK, &all, &old) == 0);
	expect_all_but_sigsys();
	sud_reg_calls();
	return NULL;
}

static void *block_raw(void *arg)
{
	uint64_t all = ~0ull, old = 0;

	(void)arg;
	EXPECT(raw_sigprocmask(SIG_BLOCK, &all, &old) == 0);
	expect_all_but_sigsys();
	sud_reg_calls();
	return NULL;
}

static void on_sig(int sig)
{
	(void)sig;
	sud_reg_calls();
}

static void handler_all(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sigfillset(&sa.sa_mask);
	EXPECT(sigaction(sig, &sa, NULL) == 0);
}

static void run_handler(const char *name, int sig)
{
	unsigned long traps = umn__test_sud_traps(sud_reg_insn);

	case_start(name);
	EXPECT(pthread_kill(pthread_self(), sig) == 0);
	case_check(traps);
}

static ucontext_t main_ctx, all_ctx;

static void in_all_ctx(void)
{
	expect_all_but_sigsys();
	sud_reg_calls();
} /* back to main_ctx through uc_link (setcontext) */

/* Case 6: blocks all before umn_mm_self(), waits, then a hooked call. */
static pthread_barrier_t early_go;
static volatile bool early_blocked;

static void *early_blocker(void *arg)
{
	sigset_t all;
	void *p;

	(void)arg;
	sigfillset(&all);
	EXPECT(pthread_sigmask(SIG_BLOCK, &all, NULL) == 0);
	early_blocked = true;
	pthread_barrier_wait(&early_go); /* the net is armed */
	pthread_barrier_wait(&early_go); /* the pages are mapped */
	/* hooked, and reports nothing: no lock of umn's is taken (whose
	 * mask restore would unblock SIGSYS by itself) */
	p = mmap(NULL, (size_t)sud_page, PROT_READ,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(p != MAP_FAILED);
	expect_all_but_sigsys();
	sud_reg_calls();
	EXPECT(munmap(p, (size_t)sud_page) == 0);
	return NULL;
}

static void run_thread(const char *name, void *(*fn)(void *))
{
	unsigned long traps = umn__test_sud_traps(sud_reg_insn);
	pthread_t t;

	case_start(name);
	EXPECT(pthread_create(&t, NULL, fn, NULL) == 0);
	EXPECT(pthread_join(t, NULL) == 0);
	case_check(traps);
}

int main(void)
{
	unsigned long traps;
	pthread_t early;
	sigset_t none;
	static char stack[64 << 10];

	sud_start();
	handler_all(SIGUSR2); /* before umn: the kernel's mask blocks SIGSYS */
	EXPECT(pthread_barrier_init(&early_go, NULL, 2) == 0);
	EXPECT(pthread_create(&early, NULL, early_blocker, NULL) == 0);
	while (!early_blocked)
		sched_yield();
	sud_subscribe(&sub); /* umn_mm_self(): the net is armed */

	run_thread("pthread_sigmask", block_pthread_sigmask);
	run_thread("sigprocmask", block_sigprocmask);
	run_thread("raw rt_sigprocmask", block_raw);

	handler_all(SIGUSR1);
	run_handler("SIGUSR1 handler with sa_mask all", SIGUSR1);
	handler_all(SIGFPE);
	run_handler("SIGFPE handler with sa_mask all", SIGFPE);
	run_handler("SIGUSR2 handler with sa_mask all, installed before",
		    SIGUSR2);
	{
		struct ksigaction k;

		/* libc's restorer, from SIGUSR1's action in the kernel */
		EXPECT(raw_sigaction(SIGUSR1, NULL, &k) == 0);
		k.handler = (void *)on_sig;
		k.flags &= ~(unsigned long)SA_SIGINFO;
		k.mask = ~0ull;
		EXPECT(raw_sigaction(SIGWINCH, &k, NULL) == 0);
		run_handler("SIGWINCH handler by a raw rt_sigaction, mask all",
			    SIGWINCH);
	}

	traps = umn__test_sud_traps(sud_reg_insn);
	case_start("swapcontext, uc_sigmask all");
	EXPECT(getcontext(&all_ctx) == 0);
	all_ctx.uc_stack.ss_sp = stack;
	all_ctx.uc_stack.ss_size = sizeof(stack);
	all_ctx.uc_link = &main_ctx;
	sigfillset(&all_ctx.uc_sigmask);
	makecontext(&all_ctx, in_all_ctx, 0);
	EXPECT(swapcontext(&main_ctx, &all_ctx) == 0);
	case_check(traps);
	sigemptyset(&none);
	EXPECT(sigprocmask(SIG_SETMASK, &none, NULL) == 0);

	{
		/* SIGUSR1 pending; sigsuspend lets it in, under its mask */
		uint64_t all_but = ~(1ull << (SIGUSR1 - 1));
		sigset_t usr1;
		long r;

		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		EXPECT(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);
		traps = umn__test_sud_traps(sud_reg_insn);
		case_start("raw rt_sigsuspend, all but SIGUSR1");
		EXPECT(pthread_kill(pthread_self(), SIGUSR1) == 0);
		r = raw_sigsuspend(&all_but);
		EXPECT(r == -EINTR);
		case_check(traps);
		EXPECT(sigprocmask(SIG_SETMASK, &none, NULL) == 0);
	}

	traps = umn__test_sud_traps(sud_reg_insn);
	pthread_barrier_wait(&early_go);
	case_start("blocked before the net was armed");
	pthread_barrier_wait(&early_go);
	EXPECT(pthread_join(early, NULL) == 0);
	case_check(traps);

	printf("ok - sud_sigmask\n");
	return 0;
}
