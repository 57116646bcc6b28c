/* SPDX-License-Identifier: MIT */
/*
 * The safety net (sud.c) and libc's clone() wrapper: clone(fn, stack,
 * flags, arg, ...) runs fn(arg) in the child on the stack it is given.
 * libc's `syscall` is inside the allowed range, so it does not trap, and
 * the kernel starts the child with Syscall User Dispatch cleared.
 * libumn.so's clone (interpose_thread.c) and umn trace's preload's call
 * umn__self_clone(), which with the net on hands libc's clone a start
 * function of umn's: it arms the net and calls fn(arg), whose value is
 * the child's exit status as before.
 *
 * fn and arg are written at the top of the child's stack, which the caller
 * gave the child and nothing uses until it runs (libc's clone writes its
 * own two words there too), and libc's clone is given the stack below
 * them: the block is in the child's memory whether or not it shares the
 * parent's (CLONE_VM), and needs no freeing and no malloc (clone() may be
 * called where malloc may not).  The start function touches no
 * thread-local: with CLONE_SETTLS the child's thread pointer may point at
 * a block umn's thread-locals know nothing of; without it the child shares
 * its parent's.  It arms with the process-wide selector byte through
 * libc's `syscall; ret` (umnp_self_sud_arm_notls), reads the block, and
 * calls fn.
 *
 * With the net off it calls libc's, counted as a creator in flight like
 * pthread_create (sud.c, sud_threads.c), so that an arming that starts
 * meanwhile lists the child.  A NULL fn or stack goes to libc's as it is
 * (EINVAL).  Not for a static program (libumn.a does not define clone).
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <umn/self.h>
#include "self_internal.h"

typedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);

static clone_fn libc_clone;

static clone_fn resolve(void)
{
	clone_fn f = __atomic_load_n(&libc_clone, __ATOMIC_ACQUIRE);
	void *h;

	if (f)
		return f;
	h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return NULL;
	*(void **)&f = dlvsym(h, "clone", "GLIBC_2.2.5");
	if (!f)
		*(void **)&f = dlsym(h, "clone");
	dlclose(h);
	__atomic_store_n(&libc_clone, f, __ATOMIC_RELEASE);
	return f;
}

/* Resolve from the loader, so that no clone() needs dlsym. */
void umnp_self_sud_clone_resolve(void)
{
	resolve();
}

#if defined(__x86_64__)

struct clone_start {
	int (*fn)(void *);
	void *arg;
};

static int sud_clone_start(void *p)
{
	const struct clone_start *s = p;

	umnp_self_sud_arm_notls(); /* before anything of the user's */
	umnp_self_sud_sigsys_unblock(); /* a parent not yet armed may block it */
	return s->fn(s->arg);
}

#endif

int umn__self_clone(int (*fn)(void *), void *stack, int flags, void *arg,
		    pid_t *ptid, void *tls, pid_t *ctid)
{
	clone_fn real = resolve();
	int r;

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if (!fn || !stack) /* libc's EINVAL */
		return real(fn, stack, flags, arg, ptid, tls, ctid);
#if defined(__x86_64__)
	if (!__atomic_load_n(&umnp_self_sud_on, __ATOMIC_ACQUIRE)) {
		/* a creator in flight (see umnp_self_sud_thread_create) */
		umnp_self_sud_creating_setup();
		__atomic_fetch_add(&umnp_self_sud_creating, 1,
				   __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&umnp_self_sud_on, __ATOMIC_SEQ_CST)) {
			r = real(fn, stack, flags, arg, ptid, tls, ctid);
			__atomic_fetch_sub(&umnp_self_sud_creating, 1,
					   __ATOMIC_SEQ_CST);
			return r;
		}
		__atomic_fetch_sub(&umnp_self_sud_creating, 1,
				   __ATOMIC_SEQ_CST);
	}
	{
		struct clone_start *s = (struct clone_start *)
			(((uintptr_t)stack - sizeof(*s)) & ~(uintptr_t)15);

		s->fn = fn;
		s->arg = arg;
		return real(sud_clone_start, s, flags, s, ptid, tls, ctid);
	}
#else
	(void)r;
	return real(fn, stack, flags, arg, ptid, tls, ctid);
#endif
}
