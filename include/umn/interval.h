/* SPDX-License-Identifier: MIT */
/*
 * Interval subscriptions and the collision-retry protocol (kernel:
 * struct mmu_interval_notifier).
 *
 * Each address space's subscriptions object holds an interval tree, an
 * active-invalidation count and a sequence number `seq`:
 *
 *   idle               no invalidation running, seq even
 *   partial exclusion  invalidations running, none touching an interval, seq
 *                      even: the tree may still change
 *   full exclusion     seq odd: the tree is frozen; inserts and removes are
 *                      queued on a deferred list, applied (under the lock, in
 *                      the same section that makes seq even) by the end that
 *                      brings the active count to zero.
 *
 * A secondary MMU mirrors [start, last] like this (two columns: what the
 * subscriber does, and what an invalidation does meanwhile):
 *
 *   subscriber                          invalidation of an overlapping range
 *   ----------                          ------------------------------------
 *   again:
 *    seq = umn_interval_read_begin(sub) (waits while one covering sub runs)
 *    build the mapping, no user lock     start: seq odd, cur = seq
 *                                          ops->invalidate(sub, range, cur):
 *                                            lock(user_lock)
 *                                            umn_interval_set_seq(sub, cur)
 *                                            drop mappings in range
 *                                            unlock(user_lock)
 *    lock(user_lock)
 *    if (umn_interval_read_retry(sub, seq))   -> true: sub's seq is cur now
 *        { unlock(user_lock); goto again; }
 *    publish the mapping
 *    unlock(user_lock)                   end: seq even, deferred ops applied
 *
 * A mapping published under user_lock after read_retry() said false is never
 * of a range whose invalidation had already started.
 */
#ifndef UMN_INTERVAL_H
#define UMN_INTERVAL_H

#include <stdbool.h>
#include <umn/config.h>
#include <umn/interval_tree.h>
#include <umn/mm.h>
#include <umn/notifier.h>

UMN_EXTERN_C_BEGIN

struct umn_interval_notifier;

struct umn_interval_notifier_ops {
	/*
	 * invalidate - [range->start, range->end) intersects this subscription
	 * and is about to change.  Take the lock that guards the mirror (a
	 * trylock if !umn_notifier_range_blockable(range)), call
	 * umn_interval_set_seq(sub, cur_seq), drop the mirrored entries of the
	 * range, unlock, return true.  Return false only when not blockable and
	 * the lock could not be taken.  Runs without any umn lock held; what
	 * it may and may not do: "Callbacks" at the top of <umn/notifier.h>.
	 */
	bool (*invalidate)(struct umn_interval_notifier *sub,
			   const struct umn_notifier_range *range,
			   unsigned long cur_seq);
};

/*
 * An interval subscription: 64 bytes.  Zero it before the first insert
 * (after a remove it may be inserted again).  Fields are private, except
 * that the kernel's `sub->mm` (the address space while inserted, NULL
 * otherwise) may be read.  A refused deferrable range is kept in a bounded
 * table of the address space (see umn_interval_take_deferred), not here.
 */
struct umn_interval_notifier {
	struct umn_itree_node it;        /* [start, last] and tree links */
	const struct umn_interval_notifier_ops *ops;
	struct umn_mm *mm;
	struct umn_interval_notifier *deferred_next;
	unsigned long invalidate_seq;    /* always odd */
	unsigned int state;
	/* refused invalidations of deferrable ranges, waiting for the owner */
	unsigned int deferred_pending;
};

/*
 * umn_interval_notifier_insert - subscribe to [start, start + length - 1] of
 * mm.  The first insert on mm enables interval mode, which takes mm's mmap
 * lock for write; later inserts take only the subscriptions lock.  If an
 * invalidation is running, the subscription counts as colliding (read_begin
 * waits, read_retry says retry) until the active count drops to zero.
 * Context: blockable; not from a callback.  Caller holds a users reference.
 * Returns 0; -EOVERFLOW if length is 0 or start + length - 1 overflows;
 * -EINVAL if an argument is NULL or mm is torn down; -EBUSY if sub is already
 * inserted; -ENOMEM; -EDEADLK (reported, every build) when called from a
 * notifier callback (nothing is inserted).
 */
int umn_interval_notifier_insert(struct umn_interval_notifier *sub,
				 struct umn_mm *mm, unsigned long start,
				 unsigned long length,
				 const struct umn_interval_notifier_ops *ops);

/* umn_interval_notifier_insert_locked - as above, mmap lock held for write. */
int umn_interval_notifier_insert_locked(
	struct umn_interval_notifier *sub, struct umn_mm *mm,
	unsigned long start, unsigned long length,
	const struct umn_interval_notifier_ops *ops);

/*
 * umn_interval_notifier_remove - unsubscribe.  If an invalidation is running
 * the removal is queued and this waits until it ends (the sequence is read
 * under the lock); when it returns no callback of sub runs or will run and
 * sub may be freed or inserted again.
 * Context: blockable; not from a callback, nor holding a lock a callback
 * takes (a ThreadSanitizer debug build reports the latter as a lock-order
 * inversion).
 * Returns 0; -EINVAL (reported) if sub is not inserted; -EDEADLK (reported,
 * every build) when called from a notifier callback: sub stays inserted
 * (removing it there would wait for the callback that is running).
 */
int umn_interval_notifier_remove(struct umn_interval_notifier *sub);

/* Out of line: the waiting (and debug-checking) read_begin. */
unsigned long umn__interval_read_begin(struct umn_interval_notifier *sub);
/* Non-zero when libumn was built with its debug checks. */
extern const int umn__debug_checks;

/*
 * umn_interval_read_begin - start a read of sub's range: returns the
 * sequence to pass to read_retry/check_retry.  Waits while an invalidation
 * covering sub is running.  When nothing collides it is two loads, inline:
 * the subscription's seq (acquire), then the address space's (through
 * sub->mm).
 * Context: blockable; not from a callback, nor holding a lock a callback
 * takes.  A subscription that is not inserted is reported (the return value
 * is then meaningless).  From a notifier callback (every build; a debug
 * build checks every call, others the calls that would wait, i.e. on a
 * subscription an invalidation covers) it is reported and returns at once
 * a value read_retry() always rejects (-EDEADLK in spirit: waiting there
 * could be for the invalidation that called the callback).
 */
static inline unsigned long
umn_interval_read_begin(struct umn_interval_notifier *sub)
{
	struct umn_mm *mm = sub ? sub->mm : 0;

	if (__builtin_expect(mm && !umn__debug_checks, 1)) {
		unsigned long seq = __atomic_load_n(&sub->invalidate_seq,
						    __ATOMIC_ACQUIRE);

		if (seq != __atomic_load_n(&mm->interval_seq,
					   __ATOMIC_ACQUIRE))
			return seq;
	}
	return umn__interval_read_begin(sub);
}

/* Out of line, called only when read_retry says retry: it holds the
 * read_retry USDT probe, so the inline "no retry" path costs nothing more. */
void umn__interval_read_retry_hit(const struct umn_interval_notifier *sub,
				  unsigned long seq);

/*
 * umn_interval_read_retry - under the user lock that invalidate() takes:
 * true if an invalidation of sub started since read_begin returned seq (the
 * work must be redone), false if the mapping may be published now.
 */
static inline bool
umn_interval_read_retry(const struct umn_interval_notifier *sub,
			unsigned long seq)
{
	if (__builtin_expect(__atomic_load_n(&sub->invalidate_seq,
					     __ATOMIC_RELAXED) != seq, 0)) {
		umn__interval_read_retry_hit(sub, seq);
		return true;
	}
	return false;
}

/*
 * umn_interval_check_retry - lock-free hint: true means read_retry will say
 * true (stop early); false means nothing yet.  Any context.
 */
static inline bool
umn_interval_check_retry(const struct umn_interval_notifier *sub,
			 unsigned long seq)
{
	return __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE) != seq;
}

/*
 * umn_interval_set_seq - from invalidate(), under the user lock: record the
 * invalidation so read_retry fails for every read that began before it.
 */
static inline void umn_interval_set_seq(struct umn_interval_notifier *sub,
					unsigned long cur_seq)
{
	__atomic_store_n(&sub->invalidate_seq, cur_seq, __ATOMIC_RELEASE);
}

/*
 * umn_interval_deferred_pending - did invalidate() refuse a deferrable range
 * whose entries still need dropping?  One load; call on the lookup path,
 * under the user lock, before handing a mirrored entry out.
 */
static inline bool
umn_interval_deferred_pending(const struct umn_interval_notifier *sub)
{
	/* seq_cst, pairing with the refusal's store: the refusal and every
	 * lookup are totally ordered (a plain load on x86) */
	return __atomic_load_n(&sub->deferred_pending, __ATOMIC_SEQ_CST) != 0;
}

/*
 * umn_interval_take_deferred - take the refused ranges (merged into one
 * covering [*start, *last]) so the caller can drop those entries now.  The
 * range may be wider than what was refused, up to the whole subscription:
 * the address space keeps the refused ranges of a bounded number of
 * subscriptions at a time, and a refusal that finds that table full is
 * delivered as the whole subscription.
 * Context: under the user lock; never blocks (takes the subscriptions lock
 * briefly).  Returns 1 if a range was taken, 0 if none was pending, -EINVAL
 * for a NULL argument or (reported) a subscription that is not inserted.
 */
int umn_interval_take_deferred(struct umn_interval_notifier *sub,
			       unsigned long *start, unsigned long *last);

/* umn_interval_start / _last - the subscription's inclusive bounds. */
static inline unsigned long
umn_interval_start(const struct umn_interval_notifier *sub)
{
	return sub->it.start;
}
static inline unsigned long
umn_interval_last(const struct umn_interval_notifier *sub)
{
	return sub->it.last;
}

UMN_EXTERN_C_END

#endif /* UMN_INTERVAL_H */
