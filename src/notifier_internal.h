/* SPDX-License-Identifier: MIT */
/*
 * Internal: the per-address-space subscriptions object (kernel: struct
 * mmu_notifier_subscriptions) and the functions the core's files share.
 *
 * Lock nesting: mm->mmap_lock > subs->lock.  subs->lock is never held while
 * a callback runs.  For UMN_MM_SIGNAL_SAFE address spaces it is taken with
 * every signal blocked, so an invalidation from a signal handler cannot
 * find it held by the thread it interrupted.
 */
#ifndef UMN_SRC_NOTIFIER_INTERNAL_H
#define UMN_SRC_NOTIFIER_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <umn/interval.h>
#include <umn/interval_tree.h>
#include <umn/mm.h>
#include <umn/notifier.h>
#include "debug.h"
#include "wait.h"

/* Refused ranges an address space keeps (struct umn_subscriptions). */
#ifndef UMNP_DEFERRED_RANGES
#define UMNP_DEFERRED_RANGES 16
#endif
/* umn_interval_notifier.deferred_pending */
#define UMNP_DEFER_RANGE 1u	/* the range is in subs->deferred_ranges */
#define UMNP_DEFER_WHOLE 2u	/* the table was full: the whole interval */

/*
 * Laid out by who writes what: the first cache line is read-mostly (read by
 * every start; the seq it points to is in struct umn_mm, on a line of its
 * own, read by every read_begin), the second is written by every start
 * and end (lock, active count), the third by wake-ups.  Sharing a line made
 * an invalidator on unrelated ranges halve a reader's read_begin rate.
 */
#define UMNP_CACHELINE 64
struct umn_subscriptions {
	/*
	 * &mm->interval_seq.  Even: no invalidation touches an interval.
	 * Odd: full exclusion, the tree is frozen.  Written under `lock`,
	 * read locklessly by umn_interval_read_begin() (through sub->mm, on
	 * a line of its own in the address space) and the waiters.
	 */
	unsigned long *seq __attribute__((aligned(UMNP_CACHELINE)));
	/* Classic subscriptions: an RCU list; writers hold `lock`. */
	struct umn_notifier *list;
	/* Interval mode enabled; set once under the mmap write lock. */
	bool has_itree;
	bool signal_safe;
	pthread_mutex_t lock __attribute__((aligned(UMNP_CACHELINE)));
	/*
	 * start/end pairs open right now, in every mode (atomic): an end with
	 * none open is misuse, reported and ignored before any callback.
	 */
	unsigned long open_pairs;
	/* Invalidations between start and end (interval mode only). */
	unsigned long active_invalidate_ranges;
	struct umn_itree_root itree;
	/* Inserts and removes that arrived during full exclusion. */
	struct umn_interval_notifier *deferred_list;
	/*
	 * Refused deferrable ranges (under `lock`), one entry per
	 * subscription whose deferred_pending is UMNP_DEFER_RANGE; sub NULL:
	 * free.  Part of this object, so allocated by the first insert, where
	 * ENOMEM can be returned.  A refusal that finds it full marks the
	 * subscription UMNP_DEFER_WHOLE: the owner then drops the whole
	 * subscription's range (more than refused, never less).
	 */
	struct umnp_deferred_range {
		struct umn_interval_notifier *sub;
		unsigned long start, last;
	} deferred_ranges[UMNP_DEFERRED_RANGES];
	/* Woken by the end that makes the seq even. */
	struct umnp_waitq wq __attribute__((aligned(UMNP_CACHELINE)));
};

/* Interval subscription states (umn_interval_notifier.state). */
#define UMNP_ISUB_IN_TREE      0x756d6e54u /* "umnT" */
#define UMNP_ISUB_DEFER_INSERT 0x756d6e49u /* "umnI": waits for the end */
#define UMNP_ISUB_DEFER_REMOVE 0x756d6e52u /* "umnR": waits for the end */

static inline struct umn_subscriptions *umnp_subs(const struct umn_mm *mm)
{
	return __atomic_load_n(&mm->notifier_subscriptions, __ATOMIC_ACQUIRE);
}

/*
 * Non-zero (per thread) while the caller has blocked the asynchronous
 * signals itself: an event-source hook blocks them once around its whole
 * call (src/self/hooks.c) and increments this, so the subscriptions lock and
 * the mmap lock's slow path skip their own pthread_sigmask pairs (~250 ns a
 * pair on a VM).  Synchronous signals may stay unblocked: they cannot fire
 * inside the core's short critical sections.
 */
extern __thread int umnp_signals_blocked
	__attribute__((tls_model("initial-exec")));

static inline bool umnp_subs_need_mask(const struct umn_subscriptions *subs)
{
	return subs->signal_safe && !umnp_signals_blocked;
}

/*
 * The subscriptions lock; `saved` keeps the signal mask when blocked.  The
 * thread is in a critical section (umnp_crit_*) while it takes, holds and
 * releases it: a signal handler umn wrapped is deferred until it is out.
 */
static inline void umnp_subs_lock(struct umn_subscriptions *subs,
				  sigset_t *saved)
{
	if (umnp_subs_need_mask(subs)) {
		sigset_t all;

		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, saved);
	}
	umnp_crit_enter();
	pthread_mutex_lock(&subs->lock);
	if (__builtin_expect(__atomic_load_n(&umnp_test_sig_in_lock,
					     __ATOMIC_RELAXED), 0))
		umnp_test_fire();
}

static inline void umnp_subs_unlock(struct umn_subscriptions *subs,
				    sigset_t *saved)
{
	pthread_mutex_unlock(&subs->lock);
	umnp_crit_exit();
	if (umnp_subs_need_mask(subs))
		pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/*
 * notifier.c: register with subscription NULL enables interval mode.
 * *prealloc (may be NULL) is a subscriptions object allocated before the
 * write lock was taken; it is consumed if needed (set to NULL), else the
 * caller frees it after unlocking with umnp_subscriptions_destroy().
 * Nothing is allocated under the write lock when one is passed: a thread in
 * free() holding glibc's arena lock may be waiting on this lock (a hook).
 */
int umnp_register_locked(struct umn_notifier *sub, struct umn_mm *mm,
			 struct umn_subscriptions **prealloc);
struct umn_subscriptions *umnp_subscriptions_prealloc(struct umn_mm *mm);
void umnp_subscriptions_destroy(struct umn_subscriptions *subs);

/* interval.c: the interval half of start / end / release. */
int umnp_itree_invalidate(struct umn_subscriptions *subs,
			  const struct umn_notifier_range *range);
void umnp_itree_inv_end(struct umn_subscriptions *subs);
void umnp_itree_release(struct umn_subscriptions *subs, struct umn_mm *mm);

/* mm.c */
bool umnp_mm_torn_down(const struct umn_mm *mm);

#endif /* UMN_SRC_NOTIFIER_INTERNAL_H */
