/* SPDX-License-Identifier: MIT */
/*
 * umn_mm_self(): this process's own address space, the choice of event
 * sources, the explicit source, and fork.
 *
 * The self address space is a umn_mm_new_flags(self_mm_flags()) made
 * once and never torn down.  fork: the child must start with no
 * subscriptions and must not hang on a lock some other parent thread held
 * at fork time (a hook holding the mmap lock, a callback inside the core).
 * The core has no "reset after fork" entry yet (requested), so the child
 * simply switches umn_mm_self() to a fresh address space prepared in
 * advance by the parent (no allocation in the child handler) and abandons
 * the inherited one untouched.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <umn/notifier.h>
#include "self_internal.h"

struct umn_mm *umnp_self_mm;
unsigned int umnp_self_active;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int init_flags; /* as requested (0 = default) */
static bool init_done;
/*
 * Set with init_done: 0, or the negative errno of the failed first
 * installation (no source, or no address space).  The failure is final,
 * and umn_mm_self() reports this same error on every call.
 */
static int init_err;
static struct umn_mm *spare_mm; /* the next fork child's address space */

/*
 * UMN_SELF_NOSIGMASK=1: the program promises its signal handlers never
 * unmap or remap memory (no munmap/free of large blocks/mremap... in a
 * handler).  Hooks then do not block signals (one rt_sigprocmask pair per
 * hooked call, ~250 ns on a VM) and the self address space's internal locks
 * do not either.  Broken promise: a handler's unmap during a hook is passed
 * through unreported, and one that interrupts a registration on the same
 * thread can deadlock.  Read once, at the first umn_self_init().
 */
bool umnp_self_nosigmask;

/*
 * The self address space's internal locks block signals only when the
 * handlers are not wrapped (signals.c: with them wrapped, a handler is
 * deferred while the thread holds a umn lock, at no cost otherwise).
 */
static unsigned int self_mm_flags(void)
{
	return umnp_self_nosigmask || umnp_self_lazy_signals ?
		0 : UMN_MM_SIGNAL_SAFE;
}

static void atfork_prepare(void)
{
	/* Runs in the parent before fork, in normal context: allocating
	 * here is safe.  Usually the spare exists already. */
	if (!__atomic_load_n(&spare_mm, __ATOMIC_ACQUIRE)) {
		struct umn_mm *mm = umn_mm_new_flags(self_mm_flags());
		struct umn_mm *expected = NULL;

		if (mm && !__atomic_compare_exchange_n(&spare_mm, &expected,
						       mm, false,
						       __ATOMIC_ACQ_REL,
						       __ATOMIC_ACQUIRE))
			umn_mm_put(mm);
	}
}

void umnp_self_fork_child(void)
{
	struct umn_mm *mm = __atomic_exchange_n(&spare_mm, NULL,
						__ATOMIC_ACQ_REL);

	/* The inherited address space may have locks held by threads that
	 * do not exist here: leave it alone (leaked, by design). */
	__atomic_store_n(&umnp_self_mm, mm, __ATOMIC_RELEASE);
	/* The lock was held by a thread of the parent: reset it. */
	pthread_mutex_init(&init_lock, NULL);
	umnp_self_uffd_atfork_child();
	umnp_self_stack_atfork_child(); /* discovered sites' stacks */
}

static void atfork_child(void)
{
	umnp_self_fork_child();
	/* The kernel clears Syscall User Dispatch in a fork child; this
	 * thread's "armed" flag was copied from the parent. */
	if (__atomic_load_n(&umnp_self_sud_on, __ATOMIC_ACQUIRE))
		umnp_self_sud_arm_thread();
}

static unsigned int flags_from_env(void)
{
	const char *s = getenv("UMN_SOURCES");
	unsigned int f = 0;

	if (!s || !*s)
		return 0;
	if (strstr(s, "patch"))
		f |= UMN_SELF_PATCH;
	if (strstr(s, "interpose"))
		f |= UMN_SELF_INTERPOSE;
	return f;
}

static unsigned int install(unsigned int flags, int *err)
{
	unsigned int active = 0;
	bool fallback = flags == 0;

	if (fallback)
		flags = UMN_SELF_PATCH | UMN_SELF_INTERPOSE;
	umnp_self_interpose_init();
	if (flags & UMN_SELF_PATCH) {
		int r = umnp_self_patch_install();

		if (r == 0)
			active |= UMN_SELF_PATCH;
		else
			*err = r;
	}
	/* Default: interpose only when patching failed. */
	if ((flags & UMN_SELF_INTERPOSE) && !(fallback && active)) {
		if (umnp_self_interpose_effective())
			active |= UMN_SELF_INTERPOSE;
		else if (!*err)
			*err = -ENOTSUP;
		if (fallback && umnp_self_env_on("UMN_SELF_DEBUG"))
			fprintf(stderr, "umn: patching failed (%s): %s\n",
				strerror(-*err),
				(active & UMN_SELF_INTERPOSE) ?
				"interposition instead" :
				"interposition not effective either");
	}
	return active;
}

int umn_self_init(unsigned int flags)
{
	int err = 0;

	if (flags & ~(UMN_SELF_PATCH | UMN_SELF_INTERPOSE))
		return -EINVAL;
	pthread_mutex_lock(&init_lock);
	if (init_done) {
		int ret = (flags && flags != init_flags &&
			   flags != umnp_self_active) ? -EALREADY : 0;

		if (!umnp_self_active)
			ret = -ENOTSUP;
		pthread_mutex_unlock(&init_lock);
		return ret;
	}
	if (!flags)
		flags = flags_from_env();
	{
		const char *nm = getenv("UMN_SELF_NOSIGMASK");

		if (!umnp_self_mm)
			umnp_self_nosigmask = nm && !strcmp(nm, "1");
	}
	{
		/* Never unload the hook code once libc jumps into it. */
		Dl_info info;

		if (dladdr((void *)umn_self_init, &info) && info.dli_fname)
			(void)dlopen(info.dli_fname,
				     RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
	}
	/* Sources first (hooks pass through until the address space is
	 * published), then the handlers, then the address space, whose lock
	 * flags depend on whether the handlers could be wrapped. */
	__atomic_store_n(&umnp_self_active, install(flags, &err),
			 __ATOMIC_RELEASE);
	if ((umnp_self_active & UMN_SELF_PATCH) && !umnp_self_nosigmask)
		(void)umnp_self_signals_init();
	if (!umnp_self_mm) {
		struct umn_mm *mm = umn_mm_new_flags(self_mm_flags());

		if (!mm) {
			init_flags = flags;
			init_err = -ENOMEM;	/* the sources stay installed */
			__atomic_store_n(&init_done, true, __ATOMIC_RELEASE);
			pthread_mutex_unlock(&init_lock);
			return -ENOMEM;
		}
		__atomic_store_n(&umnp_self_mm, mm, __ATOMIC_RELEASE);
		spare_mm = umn_mm_new_flags(self_mm_flags());
		pthread_atfork(atfork_prepare, NULL, atfork_child);
	}
	init_flags = flags;
	if (!umnp_self_active)
		init_err = err ? err : -ENOTSUP;
	__atomic_store_n(&init_done, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&init_lock);
	return init_err;
}

struct umn_mm *umn_mm_self(void)
{
	struct umn_mm *mm = __atomic_load_n(&umnp_self_mm, __ATOMIC_ACQUIRE);

	if (mm && __atomic_load_n(&init_done, __ATOMIC_ACQUIRE) && !init_err)
		return mm;
	/* First call: install.  Later: init_done is set and init_err final
	 * (the first call's reason, not umn_self_init()'s later -ENOTSUP). */
	(void)umn_self_init(0);
	if (init_err) {
		errno = -init_err;
		return NULL;
	}
	mm = __atomic_load_n(&umnp_self_mm, __ATOMIC_ACQUIRE);
	if (!mm)	/* a fork child whose parent had no spare for it */
		errno = ENOMEM;
	return mm;
}

unsigned int umn_self_sources(void)
{
	return __atomic_load_n(&umnp_self_active, __ATOMIC_ACQUIRE);
}

/* ---- the explicit source --------------------------------------------------- */

int umn_self_invalidate_start(struct umn_notifier_range *range,
			      enum umn_notifier_event event,
			      unsigned long start, unsigned long len)
{
	struct umn_mm *mm;

	if (!range || (unsigned int)event >= UMN_NOTIFY_NR_EVENTS || len == 0 ||
	    start + len < start)
		return -EINVAL;
	mm = __atomic_load_n(&umnp_self_mm, __ATOMIC_ACQUIRE);
	if (!mm) {
		mm = umn_mm_self();
		if (!mm) {
			/* No hooks, but the explicit source still works on
			 * the address space itself. */
			mm = __atomic_load_n(&umnp_self_mm, __ATOMIC_ACQUIRE);
			if (!mm)
				return -ENOMEM;
		}
	}
	umn_notifier_range_init(range, event, UMN_NOTIFIER_RANGE_DEFERRABLE, mm,
				start, start + len);
	range->origin = UMN_ORIGIN_EXPLICIT;
	umn_mmap_read_lock(mm);
	(void)umn_notifier_invalidate_range_start_nonblock(range);
	return 0;
}

void umn_self_invalidate_end(struct umn_notifier_range *range)
{
	if (!range || !range->mm)
		return;
	umn_notifier_invalidate_range_end(range);
	umn_mmap_read_unlock(range->mm);
}
