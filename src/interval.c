/* SPDX-License-Identifier: MIT */
/*
 * Interval subscriptions and the collision-retry protocol (kernel:
 * mmu_interval_notifier).  The state machine is drawn in <umn/interval.h>:
 *
 *   idle               active == 0, seq even, deferred list empty
 *   partial exclusion  active  > 0, seq even: no running invalidation touches
 *                      an interval; inserts/removes change the tree directly
 *   full exclusion     active  > 0, seq odd: the tree is frozen (callbacks
 *                      walk it without the lock); inserts/removes queue on
 *                      the deferred list
 *
 * seq changes only under subs->lock, only by |= 1 (start, or an insert during
 * partial exclusion) or by +1 from odd to even (the end that brings active to
 * zero, which applies the deferred list in the same locked section).
 *
 * Where umn departs from the kernel: umn_interval_read_begin() takes no lock.
 * It loads the subscription's seq (acquire) and *then* the global seq; the
 * subscription's seq is written (release) by set_seq after the start made the
 * global seq odd, so seeing a subscription seq of an invalidation implies
 * seeing that invalidation's odd global seq.  The spin model in verify/spin
 * checks this order.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <umn/debug.h>
#include <umn/interval.h>
#include "debug.h"
#include "interval_tree_internal.h"
#include "interval_walk.h"
#include "notifier_internal.h"
#include "probes.h"
#include "test_hook.h"

_Static_assert(sizeof(struct umn_interval_notifier) == 64,
	       "the subscription is one cache line's worth");

#define to_isub(node) \
	((struct umn_interval_notifier *)(void *)((char *)(node) - \
		offsetof(struct umn_interval_notifier, it)))

static unsigned long seq_load(const struct umn_subscriptions *subs)
{
	return __atomic_load_n(subs->seq, __ATOMIC_ACQUIRE);
}

/* Under subs->lock. */
static void seq_store_locked(struct umn_subscriptions *subs, unsigned long seq)
{
	__atomic_store_n(subs->seq, seq, __ATOMIC_SEQ_CST);
}

/* Full exclusion.  An odd seq implies an active invalidation, so the idle
 * case is decided on this object's line, without loading the seq (which
 * lives in the address space). */
static bool itree_is_invalidating_locked(const struct umn_subscriptions *subs)
{
	return subs->active_invalidate_ranges && (*subs->seq & 1);
}

static unsigned int isub_state(const struct umn_interval_notifier *sub)
{
	return __atomic_load_n(&sub->state, __ATOMIC_ACQUIRE);
}

static void isub_set_state(struct umn_interval_notifier *sub, unsigned int st)
{
	__atomic_store_n(&sub->state, st, __ATOMIC_RELEASE);
}

static bool isub_live(unsigned int state)
{
	return state == UMNP_ISUB_IN_TREE || state == UMNP_ISUB_DEFER_INSERT ||
	       state == UMNP_ISUB_DEFER_REMOVE;
}

/* The address space's subscriptions while sub is inserted, else NULL. */
static struct umn_subscriptions *isub_subs(const struct umn_interval_notifier *sub)
{
	return sub->mm ? umnp_subs(sub->mm) : NULL;
}

/* Under subs->lock: sub's entry in the refused-range table, else NULL. */
static struct umnp_deferred_range *
deferred_find_locked(struct umn_subscriptions *subs,
		     const struct umn_interval_notifier *sub)
{
	for (unsigned int i = 0; i < UMNP_DEFERRED_RANGES; i++)
		if (subs->deferred_ranges[i].sub == sub)
			return &subs->deferred_ranges[i];
	return NULL;
}

/* Under subs->lock, when sub leaves the tree: free its entry, if any (a
 * pending mark stays; the next insert clears it). */
static void deferred_forget_locked(struct umn_subscriptions *subs,
				   const struct umn_interval_notifier *sub)
{
	struct umnp_deferred_range *d;

	if (sub->deferred_pending != UMNP_DEFER_RANGE)
		return;
	d = deferred_find_locked(subs, sub);
	if (d)
		d->sub = NULL;
}

/* ---- the invalidation side (called from notifier.c) ---- */

/* A deferrable range's refusal: remember it on sub, fail its readers. */
static void itree_defer_refusal(struct umn_subscriptions *subs,
				struct umn_interval_notifier *sub,
				const struct umn_notifier_range *range,
				unsigned long cur_seq)
{
	unsigned long start = range->start, last = range->end - 1;
	struct umnp_deferred_range *d;
	unsigned int pending;
	sigset_t saved;

	if (start < sub->it.start)
		start = sub->it.start;
	if (last > sub->it.last)
		last = sub->it.last;
	umnp_subs_lock(subs, &saved);
	pending = sub->deferred_pending;
	d = pending == UMNP_DEFER_RANGE ? deferred_find_locked(subs, sub) : NULL;
	if (d) {
		if (start < d->start)
			d->start = start;
		if (last > d->last)
			d->last = last;
	} else if (!pending) {
		/* a free entry, or (the table full) the whole interval: more
		 * than refused is dropped, never less */
		d = deferred_find_locked(subs, NULL);
		pending = UMNP_DEFER_WHOLE;
		if (d) {
			d->sub = sub;
			d->start = start;
			d->last = last;
			pending = UMNP_DEFER_RANGE;
		}
	} else {
		pending = UMNP_DEFER_WHOLE;
	}
	__atomic_store_n(&sub->deferred_pending, pending, __ATOMIC_SEQ_CST);
	umnp_yield();
	/*
	 * Without the user lock: a reader inside its critical section right
	 * now linearises before this invalidation; every later read_retry or
	 * lookup (which checks deferred_pending) sees it.
	 */
	umn_interval_set_seq(sub, cur_seq);
	UMN_PROBE4(deferred, sub, start, last, cur_seq);
	umnp_subs_unlock(subs, &saved);
}

static struct umn_itree_node *itree_inv_start_range(
	struct umn_subscriptions *subs, unsigned long start,
	unsigned long last, bool empty, unsigned long *cur_seq)
{
	struct umn_itree_node *node = NULL;
	sigset_t saved;

	umnp_yield();
	umnp_subs_lock(subs, &saved);
	subs->active_invalidate_ranges++;
	if (!empty)
		node = umn_itree_iter_first(&subs->itree, start, last);
	if (node)
		seq_store_locked(subs, *subs->seq | 1);
	*cur_seq = *subs->seq;
	umnp_subs_unlock(subs, &saved);
	return node;
}

/*
 * Start, interval half: count the invalidation as active; if it touches an
 * interval make seq odd (freezing the tree), then call each intersecting
 * subscription's invalidate() exactly once, without the lock.
 */
int umnp_itree_invalidate(struct umn_subscriptions *subs,
			  const struct umn_notifier_range *range)
{
	bool blockable = umn_notifier_range_blockable(range);
	bool deferrable = range->flags & UMN_NOTIFIER_RANGE_DEFERRABLE;
	bool empty = range->start >= range->end;
	struct umn_itree_node *node;
	unsigned long cur_seq;

	node = itree_inv_start_range(subs, range->start, range->end - 1, empty,
				     &cur_seq);
	for (; node; node = umn_itree_iter_next(node, range->start,
						 range->end - 1)) {
		struct umn_interval_notifier *sub = to_isub(node);
		bool ok;

		umnp_yield();
		umnp_dbg_callback_enter(blockable);
		ok = sub->ops->invalidate(sub, range, cur_seq);
		umnp_dbg_callback_exit(blockable);
		UMN_PROBE5(interval_invalidate, sub, range->start, range->end, cur_seq, ok);
		if (ok)
			continue;
		if (blockable) {
			umnp_warn(__func__, "invalidate() refused a blockable "
				  "range: ignored");
			continue;
		}
		if (deferrable) {
			itree_defer_refusal(subs, sub, range, cur_seq);
			continue;
		}
		/* The non-blocking caller will not call end: do it here. */
		umnp_itree_inv_end(subs);
		return -EAGAIN;
	}
	return 0;
}

/* Apply the inserts and removes queued during full exclusion. */
static void itree_apply_deferred_locked(struct umn_subscriptions *subs)
{
	struct umn_interval_notifier *sub = subs->deferred_list, *next;

	subs->deferred_list = NULL;
	for (; sub; sub = next) {
		next = sub->deferred_next;
		sub->deferred_next = NULL;
		if (isub_state(sub) == UMNP_ISUB_DEFER_INSERT) {
			/* reserved by insert_prepared */
			umn_itree_insert_reserved(&sub->it, &subs->itree);
			isub_set_state(sub, UMNP_ISUB_IN_TREE);
		} else {
			umn_itree_remove(&sub->it, &subs->itree);
			deferred_forget_locked(subs, sub);
			isub_set_state(sub, 0);
		}
	}
}

/*
 * End, interval half: the end that brings active to zero during full
 * exclusion makes seq even and applies the deferred list in the same locked
 * section, then wakes read_begin / remove waiters.
 */
void umnp_itree_inv_end(struct umn_subscriptions *subs)
{
	sigset_t saved;

	umnp_yield();
	umnp_subs_lock(subs, &saved);
	if (subs->active_invalidate_ranges == 0) {
		umnp_subs_unlock(subs, &saved);
		umnp_warn("umn_notifier_invalidate_range_end",
			  "end without a matching start: ignored");
		return;
	}
	if (--subs->active_invalidate_ranges ||
	    !(*subs->seq & 1)) {		/* active is 0 here */
		umnp_subs_unlock(subs, &saved);
		return;
	}
	seq_store_locked(subs, *subs->seq + 1);
	umnp_yield();	/* "even but not yet applied" must stay invisible */
	UMNP_HOOK(UMNP_HOOK_END_BEFORE_APPLY, subs);
	itree_apply_deferred_locked(subs);
	umnp_subs_unlock(subs, &saved);
	umnp_yield();
	umnp_wake_all(&subs->wq);
}

/* Teardown, interval half: RELEASE over everything, blockable. */
void umnp_itree_release(struct umn_subscriptions *subs, struct umn_mm *mm)
{
	struct umn_notifier_range range;
	struct umn_itree_node *node;
	unsigned long cur_seq;

	umn_notifier_range_init(&range, UMN_NOTIFY_RELEASE,
				UMN_NOTIFIER_RANGE_BLOCKABLE, mm, 0, ULONG_MAX);
	for (node = itree_inv_start_range(subs, 0, ULONG_MAX, false, &cur_seq);
	     node; node = umn_itree_iter_next(node, 0, ULONG_MAX)) {
		struct umn_interval_notifier *sub = to_isub(node);

		umnp_dbg_callback_enter(true);
		if (!sub->ops->invalidate(sub, &range, cur_seq))
			umnp_warn("umn_notifier_release",
				  "invalidate() refused RELEASE: ignored");
		umnp_dbg_callback_exit(true);
	}
	umnp_itree_inv_end(subs);
}

/* ---- subscriber side ---- */

static void itree_insert_locked(struct umn_subscriptions *subs,
				struct umn_interval_notifier *sub)
{
	if (subs->active_invalidate_ranges) {
		/*
		 * An invalidation is running and we cannot know which
		 * addresses it covers: the new subscription collides until
		 * the active count reaches zero.  During full exclusion the
		 * tree is frozen, so queue the insert for the last end.
		 */
		if (itree_is_invalidating_locked(subs)) {
			sub->deferred_next = subs->deferred_list;
			subs->deferred_list = sub;
			isub_set_state(sub, UMNP_ISUB_DEFER_INSERT);
		} else {
			seq_store_locked(subs, *subs->seq | 1);
			umn_itree_insert_reserved(&sub->it, &subs->itree);
			isub_set_state(sub, UMNP_ISUB_IN_TREE);
		}
		umn_interval_set_seq(sub, *subs->seq);
	} else {
		/* Odd, different from seq, and seq will not wrap to it soon. */
		umn_interval_set_seq(sub, *subs->seq - 1);
		umn_itree_insert_reserved(&sub->it, &subs->itree);
		isub_set_state(sub, UMNP_ISUB_IN_TREE);
	}
}

static int insert_checks(struct umn_interval_notifier *sub, struct umn_mm *mm,
			 unsigned long start, unsigned long length,
			 const struct umn_interval_notifier_ops *ops,
			 unsigned long *last, const char *func)
{
	if (!sub || !mm || !ops || !ops->invalidate)
		return -EINVAL;
	if (umnp_dbg_in_callback(func))
		return -EDEADLK;
	if (isub_live(isub_state(sub))) {
		umnp_warn(func, "subscription is already inserted");
		return -EBUSY;
	}
	if (length == 0 || __builtin_add_overflow(start, length - 1, last))
		return -EOVERFLOW;
	if (umnp_mm_torn_down(mm)) {
		umnp_warn(func, "address space is torn down");
		return -EINVAL;
	}
	return 0;
}

/*
 * Lock subs with one index insert promised (umnp_itree_promise), which the
 * insert - now, or deferred to the last end - uses without allocating.  The
 * index nodes that are missing are allocated with the lock dropped.
 * Returns 0 with the lock held, or -ENOMEM without it.
 */
static int subs_lock_reserved(struct umn_subscriptions *subs, sigset_t *saved)
{
	unsigned long short_by, nalloc;
	void *chunk;

	for (;;) {
		umnp_subs_lock(subs, saved);
		short_by = umnp_itree_shortfall(&subs->itree);
		if (!short_by) {
			umnp_itree_promise(&subs->itree);
			return 0;
		}
		nalloc = subs->itree.nalloc;
		umnp_subs_unlock(subs, saved);
		chunk = umnp_itree_chunk_new(short_by, nalloc);
		if (!chunk)
			return -ENOMEM;
		umnp_subs_lock(subs, saved);
		umnp_itree_chunk_add(&subs->itree, chunk);
		umnp_subs_unlock(subs, saved);
	}
}

static int insert_prepared(struct umn_interval_notifier *sub,
			   struct umn_mm *mm, unsigned long start,
			   unsigned long last,
			   const struct umn_interval_notifier_ops *ops)
{
	struct umn_subscriptions *subs = umnp_subs(mm);
	sigset_t saved;

	sub->mm = mm;
	sub->ops = ops;
	sub->it.start = start;
	sub->it.last = last;
	sub->deferred_next = NULL;
	sub->deferred_pending = 0;
	sub->it.leaf = NULL;
	umnp_yield();
	umnp_subs_lock(subs, &saved);
	/* idle, and the index has room: what itree_insert_locked does when
	 * idle, without the promise round trip */
	umn_interval_set_seq(sub, *subs->seq - 1);
	if (!subs->active_invalidate_ranges &&
	    umnp_itree_insert_now(&sub->it, &subs->itree)) {
		umn_mm_grab(mm);	/* pairs with the drop in remove */
		isub_set_state(sub, UMNP_ISUB_IN_TREE);
		umnp_subs_unlock(subs, &saved);
		return 0;
	}
	umnp_subs_unlock(subs, &saved);
	if (subs_lock_reserved(subs, &saved))
		return -ENOMEM;
	umn_mm_grab(mm);	/* pairs with the drop in remove */
	itree_insert_locked(subs, sub);
	umnp_subs_unlock(subs, &saved);
	return 0;
}

/*
 * Both inserts: the first insert on mm enables interval mode, which needs
 * the mmap write lock; `locked` says whether the caller holds it already
 * (then the subscriptions object, if any is needed, is allocated under it;
 * otherwise it is allocated before the lock is taken).
 */
static int insert_common(struct umn_interval_notifier *sub, struct umn_mm *mm,
			 unsigned long start, unsigned long length,
			 const struct umn_interval_notifier_ops *ops,
			 bool locked, const char *func)
{
	struct umn_subscriptions *subs, *prealloc = NULL;
	unsigned long last;
	int ret;

	ret = insert_checks(sub, mm, start, length, ops, &last, func);
	if (ret)
		return ret;
	if (locked)
		umn_mmap_assert_write_locked(mm);
	else
		umnp_dbg_might_sleep(func);
	subs = umnp_subs(mm);
	if (!subs || !__atomic_load_n(&subs->has_itree, __ATOMIC_ACQUIRE)) {
		if (!locked) {
			prealloc = umnp_subscriptions_prealloc(mm);
			umn_mmap_write_lock(mm);
		}
		ret = umnp_register_locked(NULL, mm, &prealloc);
		if (!locked)
			umn_mmap_write_unlock(mm);
		if (prealloc)
			umnp_subscriptions_destroy(prealloc);
		if (ret)
			return ret;
	}
	return insert_prepared(sub, mm, start, last, ops);
}

int umn_interval_notifier_insert_locked(
	struct umn_interval_notifier *sub, struct umn_mm *mm,
	unsigned long start, unsigned long length,
	const struct umn_interval_notifier_ops *ops)
{
	return insert_common(sub, mm, start, length, ops, true, __func__);
}

int umn_interval_notifier_insert(struct umn_interval_notifier *sub,
				 struct umn_mm *mm, unsigned long start,
				 unsigned long length,
				 const struct umn_interval_notifier_ops *ops)
{
	return insert_common(sub, mm, start, length, ops, false, __func__);
}

struct seq_wait {
	struct umn_subscriptions *subs;
	unsigned long seq;
};

/* remove's condition: reads seq under the lock (the kernel's 2022 fix). */
static bool seq_changed_locked(void *arg)
{
	struct seq_wait *w = arg;
	unsigned long seq;
	sigset_t saved;

	umnp_subs_lock(w->subs, &saved);
	seq = *w->subs->seq;
	umnp_subs_unlock(w->subs, &saved);
	return seq != w->seq;
}

static bool seq_changed(void *arg)
{
	struct seq_wait *w = arg;

	return seq_load(w->subs) != w->seq;
}

int umn_interval_notifier_remove(struct umn_interval_notifier *sub)
{
	struct umn_subscriptions *subs;
	struct umn_interval_notifier **pp;
	struct seq_wait w = { NULL, 0 };
	struct umn_mm *mm;
	unsigned int state;
	sigset_t saved;

	if (!sub)
		return -EINVAL;
	if (umnp_dbg_in_callback(__func__))
		return -EDEADLK;
	state = isub_state(sub);
	subs = isub_subs(sub);
	if (!isub_live(state) || !subs) {
		umnp_warn(__func__, "subscription is not inserted");
		return -EINVAL;
	}
	umnp_dbg_might_sleep(__func__);
	mm = sub->mm;

	umnp_subs_lock(subs, &saved);
	state = isub_state(sub);
	if (state == UMNP_ISUB_DEFER_REMOVE || !isub_live(state)) {
		umnp_subs_unlock(subs, &saved);
		umnp_warn(__func__, "subscription is already being removed");
		return -EINVAL;
	}
	if (itree_is_invalidating_locked(subs)) {
		if (state == UMNP_ISUB_DEFER_INSERT) {
			/* Inserted during this full exclusion: never in the
			 * tree, so no callback can see it.  Just unqueue. */
			for (pp = &subs->deferred_list; *pp;
			     pp = &(*pp)->deferred_next) {
				if (*pp == sub) {
					*pp = sub->deferred_next;
					break;
				}
			}
			sub->deferred_next = NULL;
			isub_set_state(sub, 0);
			umn_itree_unreserve(&subs->itree);
		} else {
			sub->deferred_next = subs->deferred_list;
			subs->deferred_list = sub;
			isub_set_state(sub, UMNP_ISUB_DEFER_REMOVE);
			w.subs = subs;
			w.seq = *subs->seq;
		}
	} else {
		umn_itree_remove(&sub->it, &subs->itree);
		deferred_forget_locked(subs, sub);
		isub_set_state(sub, 0);
	}
	umnp_subs_unlock(subs, &saved);

	/* Waiting for callbacks: the caller must not hold a lock they take. */
	umnp_lockmap_touch();
	umnp_yield();
	UMNP_HOOK(UMNP_HOOK_REMOVE_BEFORE_WAIT, sub);
	if (w.subs)
		umnp_wait_event(&subs->wq, seq_changed_locked, &w);
	sub->mm = NULL;
	umn_mm_drop(mm);	/* pairs with the grab in insert */
	return 0;
}

void umnp_interval_walk(struct umn_mm *mm, unsigned long start,
			unsigned long last,
			const struct umn_interval_notifier_ops *ops,
			bool (*fn)(void *arg, struct umn_interval_notifier *sub),
			void *arg)
{
	struct umn_subscriptions *subs = mm ? umnp_subs(mm) : NULL;
	struct umn_itree_node *node;
	sigset_t saved;

	if (!subs || !__atomic_load_n(&subs->has_itree, __ATOMIC_ACQUIRE))
		return;
	umnp_subs_lock(subs, &saved);
	for (node = umn_itree_iter_first(&subs->itree, start, last); node;
	     node = umn_itree_iter_next(node, start, last)) {
		struct umn_interval_notifier *sub = to_isub(node);

		if (sub->ops == ops && !fn(arg, sub))
			break;
	}
	umnp_subs_unlock(subs, &saved);
}

const int umn__debug_checks = UMN_LIB_DEBUG;

unsigned long umn__interval_read_begin(struct umn_interval_notifier *sub)
{
	struct umn_subscriptions *subs;
	struct seq_wait w;
	unsigned long seq;

	subs = sub ? isub_subs(sub) : NULL;
	if (!subs || !isub_live(isub_state(sub))) {
		umnp_warn(__func__, "subscription is not inserted");
		return sub ? __atomic_load_n(&sub->invalidate_seq,
					     __ATOMIC_RELAXED) : 0;
	}
	/*
	 * From a callback (every build; a colliding subscription always gets
	 * here, debug builds always do): waiting could be for the very
	 * invalidation that called us.  Return an even value, which
	 * read_retry always rejects (a subscription's seq is always odd).
	 */
	if (umnp_dbg_in_callback(__func__))
		return 0;
	umnp_dbg_might_sleep(__func__);
	umnp_lockmap_touch();
	/* Order matters: the subscription's seq first (see the top). */
	seq = __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE);
	umnp_yield();
	UMNP_HOOK(UMNP_HOOK_READ_BEGIN_LOADS, sub);
	if (seq != seq_load(subs))
		return seq;
	/* An invalidation covering sub is running: wait for its end. */
	UMN_PROBE2(read_begin_wait, sub, seq);
	w.subs = subs;
	w.seq = seq;
	umnp_wait_event(&subs->wq, seq_changed, &w);
	return seq;
}

int umn_interval_take_deferred(struct umn_interval_notifier *sub,
			       unsigned long *start, unsigned long *last)
{
	struct umn_subscriptions *subs;
	struct umnp_deferred_range *d;
	sigset_t saved;
	int taken = 0;

	if (!sub || !start || !last)
		return -EINVAL;
	subs = isub_subs(sub);
	if (!subs) {
		umnp_warn(__func__, "subscription is not inserted");
		return -EINVAL;
	}
	if (!umn_interval_deferred_pending(sub))
		return 0;
	umnp_subs_lock(subs, &saved);
	if (sub->deferred_pending) {
		/* the whole interval unless the table kept the range */
		*start = sub->it.start;
		*last = sub->it.last;
		d = sub->deferred_pending == UMNP_DEFER_RANGE ?
			deferred_find_locked(subs, sub) : NULL;
		if (d) {
			*start = d->start;
			*last = d->last;
			d->sub = NULL;
		}
		__atomic_store_n(&sub->deferred_pending, 0, __ATOMIC_RELEASE);
		taken = 1;
	}
	umnp_subs_unlock(subs, &saved);
	return taken;
}

void umn__interval_read_retry_hit(const struct umn_interval_notifier *sub,
				  unsigned long seq)
{
	UMN_PROBE3(read_retry, sub, seq,
		   __atomic_load_n(&sub->invalidate_seq, __ATOMIC_RELAXED));
}
