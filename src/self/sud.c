/* SPDX-License-Identifier: MIT */
/*
 * The safety net (opt-in: UMN_SELF_SUD=1): Syscall User Dispatch (Linux
 * >= 5.11, unprivileged) for the system calls site discovery cannot see --
 * a number held in a register (Go's syscall.Syscall), code generated at
 * run time.
 *
 * How.  prctl(PR_SET_SYSCALL_USER_DISPATCH) with libc's executable segment
 * as the allowed range and a process-wide selector byte set to BLOCK: a
 * `syscall` instruction anywhere else raises SIGSYS (si_code
 * SYS_USER_DISPATCH) instead of running.  Our handler runs it: a
 * map-changing number through umnp_self_call() (start, the call, end, as a
 * patched site would), any other number as is; the result goes into the
 * interrupted rax.  libc's wrappers (patched) and its signal return
 * trampoline are in the allowed range; umn's own raw system calls are made
 * by a `syscall; ret` instruction pair inside libc (found by decoding
 * getpid()), so they do not trap either.  rt_sigprocmask is applied to the
 * interrupted context's mask (the kernel restores that mask at sigreturn).
 *
 * Threads.  The setting is per thread and a new thread does not inherit
 * it: armed on the thread that installs the sources, and on every other
 * thread at its first hooked call (any patched wrapper, even a plain mmap
 * such as its first malloc arena's).  A thread that never enters a hook
 * is not armed.  fork keeps it, exec clears it.
 *
 * Not done (doc/sources.md): the sites it learns of are not patched (each
 * such call traps every time); clone, clone3, fork and vfork from outside
 * libc cannot be run from a signal handler and fail with ENOSYS; a program
 * that installs its own SIGSYS handler after umn replaces ours.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <umn/notifier.h>
#include "self_internal.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#endif
#define SUD_ALLOW 0
#define SUD_BLOCK 1
#define SI_SYS_USER_DISPATCH 2

#if defined(__x86_64__)

/* Where umn's raw system calls go while the net is armed (stack.c). */
__attribute__((visibility("hidden"))) uintptr_t umnp_self_sud_gadget;

static volatile char selector = SUD_ALLOW;
static uintptr_t sud_start, sud_len;
bool umnp_self_sud_on;
UMNP_SELF_TLS bool umnp_self_sud_armed;

/* This thread's first hook: arm it too (the setting is per thread and a
 * new thread does not inherit it).  Async-signal-safe. */
void umnp_self_sud_arm_thread(void)
{
	umnp_self_sud_armed = true;
	umnp_self_raw6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH,
		       PR_SYS_DISPATCH_ON, (long)sud_start, (long)sud_len,
		       (long)&selector, 0);
}
static struct sigaction prev_sigsys;

static void sigmask_emulate(ucontext_t *uc, long how, const uint64_t *set,
			    uint64_t *old, long *ret)
{
	uint64_t cur;

	memcpy(&cur, &uc->uc_sigmask, 8);
	if (old)
		*old = cur;
	if (set) {
		uint64_t s = *set & ~((1ull << (SIGKILL - 1)) |
				      (1ull << (SIGSTOP - 1)));

		if (how == SIG_BLOCK)
			cur |= s;
		else if (how == SIG_UNBLOCK)
			cur &= ~s;
		else if (how == SIG_SETMASK)
			cur = s;
		else {
			*ret = -EINVAL;
			return;
		}
		memcpy(&uc->uc_sigmask, &cur, 8);
	}
	*ret = 0;
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;
	long nr = si->si_syscall, r;
	const long a[6] = { g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10],
			    g[REG_R8], g[REG_R9] };

	if (si->si_code != SI_SYS_USER_DISPATCH) {
		/* a SIGSYS of someone else's (seccomp): theirs */
		if (prev_sigsys.sa_flags & SA_SIGINFO)
			prev_sigsys.sa_sigaction(sig, si, ctx);
		else if (prev_sigsys.sa_handler != SIG_DFL &&
			 prev_sigsys.sa_handler != SIG_IGN)
			prev_sigsys.sa_handler(sig);
		else
			umnp_self_raw6(SYS_kill, umnp_self_raw3(SYS_getpid, 0,
								 0, 0),
				       SIGKILL, 0, 0, 0, 0);
		return;
	}
	switch (nr) {
	case SYS_rt_sigprocmask:
		sigmask_emulate(uc, a[0], (const uint64_t *)a[1],
				(uint64_t *)a[2], &r);
		break;
	case SYS_clone: case SYS_clone3: case SYS_fork: case SYS_vfork:
	case SYS_rt_sigreturn:
		r = -ENOSYS;
		break;
	default:
		if (umnp_self_nr_interesting(nr))
			r = umnp_self_call(UMN_ORIGIN_PATCH, nr, a, NULL, NULL);
		else
			r = umnp_self_raw6(nr, a[0], a[1], a[2], a[3], a[4],
					   a[5]);
	}
	g[REG_RAX] = r;
}

int umnp_self_sud_init(void *libc_getpid, uintptr_t text_start,
		       size_t text_len)
{
	struct sigaction sa;
	uint8_t *gadget;

	gadget = umnp_self_find_syscall_ret(libc_getpid, 64);
	if (!gadget || (uintptr_t)gadget < text_start ||
	    (uintptr_t)gadget + 3 > text_start + text_len)
		return -ENOTSUP;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, &prev_sigsys))
		return -errno;
	__atomic_store_n(&umnp_self_sud_gadget, (uintptr_t)gadget,
			 __ATOMIC_SEQ_CST);
	selector = SUD_BLOCK;
	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, text_start,
		  text_len, &selector)) {
		int e = errno;

		selector = SUD_ALLOW;
		__atomic_store_n(&umnp_self_sud_gadget, 0, __ATOMIC_SEQ_CST);
		sigaction(SIGSYS, &prev_sigsys, NULL);
		return -e;
	}
	sud_start = text_start;
	sud_len = text_len;
	umnp_self_sud_armed = true;
	__atomic_store_n(&umnp_self_sud_on, true, __ATOMIC_RELEASE);
	return 0;
}

#else

bool umnp_self_sud_on;
UMNP_SELF_TLS bool umnp_self_sud_armed;

void umnp_self_sud_arm_thread(void)
{
}

int umnp_self_sud_init(void *libc_getpid, uintptr_t text_start,
		       size_t text_len)
{
	(void)libc_getpid; (void)text_start; (void)text_len;
	return -ENOTSUP;
}

#endif
