/* SPDX-License-Identifier: MIT */
/*
 * Signal safety without masking on every hooked call ("lazy masking").
 *
 * The hazard: a signal handler that unmaps memory interrupts a thread that
 * holds one of umn's own locks (the subscriptions lock, the mmap lock's
 * inner mutex, or the lock word while the per-thread table of held locks is
 * out of step with it).  The handler's munmap enters the hooks, which take
 * the same lock: deadlock.  Blocking asynchronous signals around each
 * hooked call avoids that but costs an rt_sigprocmask pair (~2 us on a VM).
 *
 * Instead umn owns the process's handlers: libc's sigaction (its
 * rt_sigaction site, patched like the other wrappers) installs umn's
 * wrapper in the kernel and records the application's action; sigaction
 * queries return the application's action; handlers installed before umn
 * started are wrapped at init.  The wrapper runs the application's handler
 * at once, unless the thread is inside one of umn's critical sections
 * (umnp_thr.crit, a TLS counter the locks maintain).  Then it adds the
 * signal to the interrupted context's signal mask (so it stays blocked when
 * the wrapper returns), re-queues it to the thread with the same siginfo
 * (rt_tgsigqueueinfo) and records it; when crit drops to zero,
 * umnp_crit_release() unblocks it (one system call, only then) and the
 * handler runs outside the lock, where its munmap is reported normally:
 * inside a user callback or a hook body it is a nested invalidation.
 *
 * Not wrapped: SIGKILL, SIGSTOP, and the synchronous signals (SEGV, BUS,
 * ILL, FPE, TRAP, SYS, ABRT), whose handlers must run at the faulting
 * instruction; they are not masked by the hooks either.  Handlers installed
 * with a raw rt_sigaction system call (not through libc) are not wrapped:
 * such a handler must not unmap memory (or set UMN_SELF_SIGMASK=1).
 * SA_RESETHAND is emulated (the kernel would reset the wrapper, not the
 * handler).  Signals with the default action or ignored are never touched:
 * SIGTERM and SIGINT with their default action kill the process whatever
 * umn is doing.
 *
 * Off (the hooks then block asynchronous signals around each call, as
 * before) when the sigaction site could not be patched (interposition, a
 * libc of another shape), in ThreadSanitizer builds (TSan queues handlers
 * to its own safe points), or with UMN_SELF_SIGMASK=1.  Even then, while
 * the site is patched, umn knows which signals have a handler
 * (umnp_self_caught) and the hooks block only those: a signal with the
 * default action (SIGTERM, SIGINT...) still stops a process whose callback
 * is stuck.  Where the site is not patched at all (interposition), or
 * handlers may be installed behind its back (ThreadSanitizer installs its
 * own with raw system calls), the hooks block every asynchronous signal
 * but SIGINT and SIGTERM at their default action, read from the kernel
 * (hooks.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../debug.h"
#include "self_internal.h"

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

#define BIT(sig) (1ull << ((sig) - 1))
#define NEVER_WRAPPED                                                        \
	(BIT(SIGKILL) | BIT(SIGSTOP) | BIT(SIGSEGV) | BIT(SIGBUS) |          \
	 BIT(SIGILL) | BIT(SIGFPE) | BIT(SIGTRAP) | BIT(SIGSYS) | BIT(SIGABRT))

bool umnp_self_lazy_signals;
/* Signals whose application action is a handler (valid when known). */
uint64_t umnp_self_caught;
bool umnp_self_caught_known;

/* The application's action per signal, valid while `wrapped` has its bit. */
static struct umnp_ksigaction app[65];
static const struct umnp_ksigaction sig_dfl = { .handler = (void *)SIG_DFL };
static uint64_t wrapped;
static int table_lock;

#define NO_TSAN __attribute__((no_sanitize("thread")))

static bool is_handler(const void *h)
{
	return h != (void *)SIG_DFL && h != (void *)SIG_IGN;
}

static void set_caught(int sig, bool caught)
{
	if (caught)
		__atomic_or_fetch(&umnp_self_caught, BIT(sig), __ATOMIC_RELEASE);
	else
		__atomic_and_fetch(&umnp_self_caught, ~BIT(sig),
				   __ATOMIC_RELEASE);
}

/* The table lock, with every signal blocked (a handler may call
 * sigaction). */
static void table_lock_take(uint64_t *saved)
{
	uint64_t all = ~0ull;

	umnp_self_raw6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&all, (long)saved,
		       8, 0, 0);
	while (__atomic_exchange_n(&table_lock, 1, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
}

static void table_lock_drop(const uint64_t *saved)
{
	__atomic_store_n(&table_lock, 0, __ATOMIC_RELEASE);
	umnp_self_raw6(SYS_rt_sigprocmask, SIG_SETMASK, (long)saved, 0, 8, 0,
		       0);
}

static void wrapper(int sig, siginfo_t *si, void *ucv);

/* What the kernel gets for the application's act: our wrapper. */
static struct umnp_ksigaction wrapped_action(const struct umnp_ksigaction *act)
{
	struct umnp_ksigaction k = *act;

	k.handler = (void *)wrapper;
	k.flags |= SA_SIGINFO;
	k.flags &= ~(unsigned long)SA_RESETHAND;
	return k;
}

/* The application's handler, run now (the thread is in no umn lock). */
NO_TSAN static void run_app(int sig, siginfo_t *si, void *ucv)
{
	struct umnp_ksigaction a;
	unsigned int internal;

	a.handler = __atomic_load_n(&app[sig].handler, __ATOMIC_ACQUIRE);
	a.flags = __atomic_load_n(&app[sig].flags, __ATOMIC_RELAXED);
	if (!is_handler(a.handler)) {
		/* Changed to SIG_IGN/SIG_DFL while this signal was queued. */
		if (a.handler == (void *)SIG_DFL) {
			umnp_self_raw_sigaction(sig, &sig_dfl, NULL);
			umnp_self_raw3(SYS_tgkill,
				       umnp_self_raw3(SYS_getpid, 0, 0, 0),
				       umnp_self_raw3(SYS_gettid, 0, 0, 0),
				       sig);
		}
		return;
	}
	if (a.flags & SA_RESETHAND) {
		__atomic_store_n(&app[sig].handler, (void *)SIG_DFL,
				 __ATOMIC_RELEASE);
		umnp_self_raw_sigaction(sig, &sig_dfl, NULL);
	}
	/* The handler's own calls are hooked (a nested invalidation if this
	 * thread was inside a hook). */
	internal = umnp_thr.internal;
	umnp_thr.internal = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (a.flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))a.handler)(sig, si, ucv);
	else
		((void (*)(int))a.handler)(sig);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	umnp_thr.internal = internal;
}

NO_TSAN static void wrapper(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	if (!umnp_thr.crit) {
		run_app(sig, si, ucv);
		return;
	}
	/* Inside a umn lock: later.  Blocked when we return, pending again,
	 * unblocked by umnp_crit_release() when the lock is dropped. */
	((uint64_t *)&uc->uc_sigmask)[0] |= BIT(sig);
	umnp_thr.deferred |= BIT(sig);
	if (umnp_self_is_err(umnp_self_raw6(SYS_rt_tgsigqueueinfo,
					    umnp_self_raw3(SYS_getpid, 0, 0, 0),
					    umnp_self_raw3(SYS_gettid, 0, 0, 0),
					    sig, (long)si, 0, 0)))
		umnp_self_raw3(SYS_tgkill, umnp_self_raw3(SYS_getpid, 0, 0, 0),
			       umnp_self_raw3(SYS_gettid, 0, 0, 0), sig);
}

/*
 * With the safety net (sud.c), a handler's mask never blocks SIGSYS: a
 * trap taken while the handler runs would kill the process.  act as the
 * kernel is to get it: buf, a copy without SIGSYS, when that differs.  A
 * bad pointer is passed on as it is (the kernel's EFAULT).
 */
static const struct umnp_ksigaction *
sigsys_free(const struct umnp_ksigaction *act, struct umnp_ksigaction *buf)
{
	if (!act || !__atomic_load_n(&umnp_self_sud_masking, __ATOMIC_ACQUIRE)
	    || !umnp_self_copy_in(buf, act, sizeof(*buf)) ||
	    !(buf->mask & BIT(SIGSYS)))
		return act;
	buf->mask &= ~BIT(SIGSYS);
	return buf;
}

/* A raw rt_sigaction the net trapped (sud.c): made as asked, but for
 * SIGSYS in the mask.  Not wrapped (as before the net: signals.c wraps
 * what goes through libc's sigaction).  The kernel-style result. */
long umnp_self_sigaction_trapped(const long a[6])
{
	struct umnp_ksigaction buf;

	return umnp_self_raw6(SYS_rt_sigaction, a[0],
			      a[3] == 8 ? (long)sigsys_free(
				      (const struct umnp_ksigaction *)a[1], &buf)
					: a[1],
			      a[2], a[3], a[4], a[5]);
}

/* The net is being armed: handlers installed before it stop blocking
 * SIGSYS (the kernel's copy only: app[] keeps what the program asked,
 * which sigaction queries return for a wrapped handler). */
void umnp_self_sigaction_unblock_sigsys(void)
{
	struct umnp_ksigaction k;
	uint64_t saved;

	table_lock_take(&saved);
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP ||
		    umnp_self_raw_sigaction(sig, NULL, &k) ||
		    !is_handler(k.handler) || !(k.mask & BIT(SIGSYS)))
			continue;
		k.mask &= ~BIT(SIGSYS);
		umnp_self_raw_sigaction(sig, &k, NULL);
	}
	table_lock_drop(&saved);
}

long umnp_self_sigaction(const long a[6])
{
	int sig = (int)a[0];
	const struct umnp_ksigaction *act = (const struct umnp_ksigaction *)a[1];
	struct umnp_ksigaction *oact = (struct umnp_ksigaction *)a[2];
	struct umnp_ksigaction k, kold, prev, buf;
	bool was_wrapped;
	uint64_t saved;
	long ret;

	/* Not under the table lock: a synchronous signal's handler may
	 * call sigaction.  (One installed while the net is being armed may
	 * keep SIGSYS in its mask.) */
	if (sig < 1 || sig > 64 || (BIT(sig) & NEVER_WRAPPED) || a[3] != 8)
		return umnp_self_sigaction_trapped(a);
	table_lock_take(&saved);
	if (!__atomic_load_n(&umnp_self_lazy_signals, __ATOMIC_ACQUIRE)) {
		ret = umnp_self_raw6(SYS_rt_sigaction, a[0],
				     (long)sigsys_free(act, &buf), a[2], a[3],
				     a[4], a[5]);
		if (!umnp_self_is_err(ret) && act)
			set_caught(sig, is_handler(act->handler));
		goto out;
	}
	prev = app[sig];
	was_wrapped = wrapped & BIT(sig);
	if (act) {
		k = *act;
		if (is_handler(k.handler)) {
			__atomic_store_n(&app[sig].flags, k.flags,
					 __ATOMIC_RELAXED);
			app[sig].restorer = k.restorer;
			app[sig].mask = k.mask;
			__atomic_store_n(&app[sig].handler, k.handler,
					 __ATOMIC_RELEASE);
			wrapped |= BIT(sig);
			k = wrapped_action(&k);
		} else {
			__atomic_store_n(&app[sig].handler, k.handler,
					 __ATOMIC_RELEASE);
			wrapped &= ~BIT(sig);
		}
		if (__atomic_load_n(&umnp_self_sud_masking, __ATOMIC_ACQUIRE))
			k.mask &= ~BIT(SIGSYS);
		ret = umnp_self_raw_sigaction(sig, &k, &kold);
		if (umnp_self_is_err(ret)) {
			app[sig] = prev;
			wrapped = was_wrapped ? wrapped | BIT(sig)
					      : wrapped & ~BIT(sig);
		}
	} else {
		ret = umnp_self_raw_sigaction(sig, NULL, &kold);
	}
	if (!umnp_self_is_err(ret) && oact) {
		if (kold.handler == (void *)wrapper && was_wrapped)
			*oact = prev;
		else
			*oact = kold;
	}
out:
	table_lock_drop(&saved);
	return ret;
}

/* caught_from_proc's line: SigCgt's mask, then stop. */
struct sigcgt {
	uint64_t mask;
	bool found;
};

static bool sigcgt_line(const char *line, const char *end, void *arg)
{
	struct sigcgt *c = arg;

	c->found = umnp_self_status_mask(line, end, "SigCgt:", &c->mask);
	return c->found;
}

/*
 * The signals that have a handler, from the SigCgt line of
 * /proc/self/status: one open, read and close instead of an rt_sigaction
 * query per signal (64 system calls, about 110 us on a VM: the largest
 * part of umn's start-up once the site cache is warm; doc/sources.md).
 * The kernel counts a signal as caught exactly when its handler is neither
 * SIG_DFL nor SIG_IGN, as is_handler() does.  false if /proc cannot be read
 * or the line is not there (or comes after a line longer than the reader's
 * buffer): the caller asks per signal then.
 */
static bool caught_from_proc(uint64_t *mask)
{
	struct sigcgt c = { .found = false };

	umnp_self_proc_lines("/proc/self/status", sigcgt_line, &c);
	if (!c.found)
		return false;
	*mask = c.mask;
	return true;
}

/* The same by asking the kernel for each signal's action. */
static uint64_t caught_by_query(void)
{
	uint64_t m = 0;

	for (int sig = 1; sig <= 64; sig++) {
		struct umnp_ksigaction old;

		if (!umnp_self_is_err(umnp_self_raw_sigaction(sig, NULL, &old)) &&
		    is_handler(old.handler))
			m |= BIT(sig);
	}
	return m;
}

int umnp_self_signals_init(void)
{
	const char *env = getenv("UMN_SELF_SIGMASK");
	const char *how = umnp_self_patch_describe("__libc_sigaction");
	bool mask_only = env && !strcmp(env, "1");
	uint64_t saved, caught;

	if (!how || !strstr(how, "site"))
		return -ENOTSUP;
	/* ThreadSanitizer delivers asynchronous signals itself (queued to
	 * its next intercepted call): a deferred one was seen never to run.
	 * Masking per call there, and without the list of caught signals:
	 * TSan installs its own handlers with raw system calls, which the
	 * patched sigaction never sees. */
	if (UMN_TSAN)
		return -ENOTSUP;
	/* From here on every sigaction is seen (it takes the table lock):
	 * know which signals have a handler, so that masking (hooks.c)
	 * spares the others, and wrap those handlers.  Only signals with a
	 * handler are touched: a process that has none (most, at start)
	 * costs one read of /proc/self/status. */
	table_lock_take(&saved);
	if (!caught_from_proc(&caught))
		caught = caught_by_query();
	__atomic_store_n(&umnp_self_caught, caught, __ATOMIC_RELEASE);
	__atomic_store_n(&umnp_self_caught_known, true, __ATOMIC_RELEASE);
	if (mask_only) {
		table_lock_drop(&saved);
		return -EPERM;
	}
	for (int sig = 1; sig <= 64; sig++) {
		struct umnp_ksigaction old, k;

		if (!(caught & BIT(sig)) || (BIT(sig) & NEVER_WRAPPED))
			continue;
		if (umnp_self_is_err(umnp_self_raw_sigaction(sig, NULL, &old)) ||
		    !is_handler(old.handler) || old.handler == (void *)wrapper)
			continue;
		app[sig] = old;
		k = wrapped_action(&old);
		if (!umnp_self_is_err(umnp_self_raw_sigaction(sig, &k, NULL)))
			wrapped |= BIT(sig);
	}
	__atomic_store_n(&umnp_self_lazy_signals, true, __ATOMIC_RELEASE);
	table_lock_drop(&saved);
	return 0;
}
