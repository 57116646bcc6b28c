/* SPDX-License-Identifier: MIT */
/*
 * The notifier core: the subscriptions object, classic subscriptions (the
 * kernel's struct mmu_notifier, on an RCU list) and the primary-MMU side
 * (invalidate_range_start/end, release, young, change_pte) dispatching to
 * both classic and interval subscriptions.
 *
 * Classic helpers are grouped as hlist_*; the interval half lives in
 * interval.c behind umnp_itree_*.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <umn/debug.h>
#include <umn/notifier.h>
#include "debug.h"
#include "alloc.h"
#include "notifier_internal.h"
#include "probes.h"
#include "rcu.h"

/*
 * umn_notifier.state: a magic in the upper 24 bits says "registered with
 * umn" (so garbage or a never-registered subscription is recognised), flags
 * in the low byte.  Changed with atomic operations; the HASHED bit only
 * under the subscriptions lock.
 */
#define CLASSIC_MAGIC    0x756d6e00u
#define CLASSIC_MASK     0xffffff00u
#define CLASSIC_HASHED   0x01u /* on the list */
#define CLASSIC_GET      0x02u /* made by umn_notifier_get: put frees it */
#define CLASSIC_RELEASED 0x04u /* release has been called (claimed) */
#define CLASSIC_DEAD     0x08u /* last put done, free queued */

static unsigned int classic_state(const struct umn_notifier *sub)
{
	return __atomic_load_n(&sub->state, __ATOMIC_ACQUIRE);
}

static bool classic_registered(const struct umn_notifier *sub)
{
	return (classic_state(sub) & CLASSIC_MASK) == CLASSIC_MAGIC;
}

/* Whoever sets RELEASED first calls release: exactly once per registration. */
static bool classic_claim_release(struct umn_notifier *sub)
{
	return !(__atomic_fetch_or(&sub->state, CLASSIC_RELEASED,
				   __ATOMIC_ACQ_REL) & CLASSIC_RELEASED);
}

/* ---- the subscriptions object ---- */

static struct umn_subscriptions *subscriptions_alloc(struct umn_mm *mm)
{
	struct umn_subscriptions *subs;

	/* aligned: hot fields have cache lines of their own */
	if (umnp_posix_memalign((void **)&subs, _Alignof(struct umn_subscriptions),
			   sizeof(*subs)))
		return NULL;
	memset(subs, 0, sizeof(*subs));
	if (pthread_mutex_init(&subs->lock, NULL)) {
		umnp_free(subs);
		return NULL;
	}
	subs->signal_safe = (mm->flags & UMN_MM_SIGNAL_SAFE) != 0;
	/* the sequence lives in mm (umn_mm_new_flags sets it) */
	subs->seq = &mm->interval_seq;
	umn_itree_init(&subs->itree);
	umnp_waitq_init(&subs->wq);
	return subs;
}

/* A subscriptions object for mm if it has none yet (NULL otherwise). */
struct umn_subscriptions *umnp_subscriptions_prealloc(struct umn_mm *mm)
{
	return umnp_subs(mm) ? NULL : subscriptions_alloc(mm);
}

void umnp_subscriptions_destroy(struct umn_subscriptions *subs)
{
	umn_itree_destroy(&subs->itree);
	pthread_mutex_destroy(&subs->lock);
	umnp_free(subs);
}

/* ---- classic list (RCU: readers lock-free, writers hold subs->lock) ---- */

static void hlist_add_head_locked(struct umn_subscriptions *subs,
				  struct umn_notifier *sub)
{
	struct umn_notifier *first = subs->list;

	sub->next = first;
	sub->pprev = &subs->list;
	if (first)
		first->pprev = &sub->next;
	umnp_rcu_assign(subs->list, sub);
	__atomic_or_fetch(&sub->state, CLASSIC_HASHED, __ATOMIC_RELEASE);
}

/* Unlink sub; its next pointer stays valid for readers already on it. */
static void hlist_del_locked(struct umn_notifier *sub)
{
	struct umn_notifier *next = sub->next;

	umnp_rcu_assign(*sub->pprev, next);
	if (next)
		next->pprev = sub->pprev;
	sub->pprev = NULL;
	__atomic_and_fetch(&sub->state, ~CLASSIC_HASHED, __ATOMIC_RELEASE);
}

#define hlist_for_each_rcu(pos, subs)                                        \
	for ((pos) = umnp_rcu_deref((subs)->list); (pos);                    \
	     (pos) = umnp_rcu_deref((pos)->next))

static bool hlist_empty(const struct umn_subscriptions *subs)
{
	return __atomic_load_n(&subs->list, __ATOMIC_RELAXED) == NULL;
}

static bool has_itree(const struct umn_subscriptions *subs)
{
	return __atomic_load_n(&subs->has_itree, __ATOMIC_ACQUIRE);
}

/*
 * Classic start.  On the first refusal of a non-blockable, non-deferrable
 * range, stop, and send invalidate_range_end to every subscription that came
 * before the refusing one (their start succeeded and they expect an end);
 * the ones after it never saw a start.  The second walk stops at the
 * refusing subscription, or after as many steps as the first walk took (in
 * case it was unhashed meanwhile by a concurrent unregister).
 */
static int hlist_invalidate_start(struct umn_subscriptions *subs,
				  const struct umn_notifier_range *range)
{
	bool blockable = umn_notifier_range_blockable(range);
	bool deferrable = range->flags & UMN_NOTIFIER_RANGE_DEFERRABLE;
	struct umn_notifier *sub, *failed = NULL;
	unsigned long started = 0;

	umnp_rcu_read_lock();
	hlist_for_each_rcu(sub, subs) {
		const struct umn_notifier_ops *ops = sub->ops;
		int ret;

		umnp_yield();
		if (ops->invalidate_range_start) {
			umnp_dbg_callback_enter(blockable);
			ret = ops->invalidate_range_start(sub, range);
			umnp_dbg_callback_exit(blockable);
			UMN_PROBE4(classic_start, sub, range->start, range->end, ret);
			if (ret) {
				if (blockable || deferrable || ret != -EAGAIN) {
					umnp_warn(__func__,
						  "invalidate_range_start "
						  "failed (%d) on a %s range: "
						  "ignored", ret,
						  blockable ? "blockable" :
						  deferrable ? "deferrable" :
							       "non-blockable");
				} else {
					failed = sub;
					break;
				}
			}
		}
		started++;
	}
	if (failed) {
		umnp_yield();
		hlist_for_each_rcu(sub, subs) {
			if (sub == failed || started-- == 0)
				break;
			if (sub->ops->invalidate_range_end) {
				umnp_dbg_callback_enter(false);
				sub->ops->invalidate_range_end(sub, range);
				umnp_dbg_callback_exit(false);
			}
		}
	}
	umnp_rcu_read_unlock();
	return failed ? -EAGAIN : 0;
}

static void hlist_invalidate_end(struct umn_subscriptions *subs,
				 const struct umn_notifier_range *range,
				 bool only_end)
{
	bool blockable = umn_notifier_range_blockable(range);
	struct umn_notifier *sub;

	umnp_rcu_read_lock();
	hlist_for_each_rcu(sub, subs) {
		const struct umn_notifier_ops *ops = sub->ops;

		UMN_PROBE3(classic_end, sub, range->start, range->end);
		umnp_dbg_callback_enter(blockable);
		if (!only_end && ops->invalidate_range)
			ops->invalidate_range(sub, range->mm, range->start,
					      range->end);
		if (ops->invalidate_range_end)
			ops->invalidate_range_end(sub, range);
		umnp_dbg_callback_exit(blockable);
	}
	umnp_rcu_read_unlock();
}

/*
 * Teardown: every live subscription's release (once, see
 * classic_claim_release), then unhash them all, then a grace period so no
 * callback is still running when the teardown continues.
 */
static void hlist_release(struct umn_subscriptions *subs, struct umn_mm *mm)
{
	struct umn_notifier *sub;
	sigset_t saved;

	umnp_rcu_read_lock();
	hlist_for_each_rcu(sub, subs) {
		if (classic_claim_release(sub) && sub->ops->release) {
			umnp_dbg_callback_enter(true);
			sub->ops->release(sub, mm);
			umnp_dbg_callback_exit(true);
		}
	}
	umnp_subs_lock(subs, &saved);
	while (subs->list)
		hlist_del_locked(subs->list);
	umnp_subs_unlock(subs, &saved);
	umnp_rcu_read_unlock();
	umnp_rcu_synchronize();
}

/* ---- registration ---- */

/*
 * The kernel's __mmu_notifier_register: with sub == NULL it only enables
 * interval mode.  The mmap write lock excludes every start/end pair (the
 * primary holds the lock around them), so a new subscription never sees an
 * end without its start.
 */
int umnp_register_locked(struct umn_notifier *sub, struct umn_mm *mm,
			 struct umn_subscriptions **prealloc)
{
	struct umn_subscriptions *subs = umnp_subs(mm);
	sigset_t saved;

	umn_mmap_assert_write_locked(mm);
	if (umnp_mm_torn_down(mm))
		return -EINVAL;
	if (!subs) {
		if (prealloc && *prealloc) {
			subs = *prealloc;
			*prealloc = NULL;
		} else {
			subs = subscriptions_alloc(mm);
		}
		if (!subs)
			return -ENOMEM;
		/* Pairs with the acquire in umn_mm_has_notifiers(). */
		__atomic_store_n(&mm->notifier_subscriptions, subs,
				 __ATOMIC_RELEASE);
	}
	if (!sub) {
		__atomic_store_n(&subs->has_itree, true, __ATOMIC_RELEASE);
		return 0;
	}
	umn_mm_grab(mm);	/* dropped by unregister or the last put */
	sub->mm = mm;
	sub->users = 1;
	__atomic_store_n(&sub->state, CLASSIC_MAGIC, __ATOMIC_RELEASE);
	umnp_subs_lock(subs, &saved);
	hlist_add_head_locked(subs, sub);
	umnp_subs_unlock(subs, &saved);
	return 0;
}

static int register_checks(struct umn_notifier *sub, struct umn_mm *mm,
			   const char *func)
{
	if (!sub || !mm || !sub->ops)
		return -EINVAL;
	if (umnp_dbg_in_callback(func))
		return -EDEADLK;
	if (classic_registered(sub)) {
		umnp_warn(func, "subscription is already registered");
		return -EBUSY;
	}
	if (umnp_mm_torn_down(mm)) {
		umnp_warn(func, "address space is torn down");
		return -EINVAL;
	}
	return 0;
}

int umn_notifier_register_locked(struct umn_notifier *sub, struct umn_mm *mm)
{
	int ret = register_checks(sub, mm, __func__);

	return ret ? ret : umnp_register_locked(sub, mm, NULL);
}

int umn_notifier_register(struct umn_notifier *sub, struct umn_mm *mm)
{
	int ret = register_checks(sub, mm, __func__);

	struct umn_subscriptions *prealloc;

	if (ret)
		return ret;
	umnp_dbg_might_sleep(__func__);
	prealloc = umnp_subscriptions_prealloc(mm);
	umn_mmap_write_lock(mm);
	ret = umnp_register_locked(sub, mm, &prealloc);
	umn_mmap_write_unlock(mm);
	if (prealloc)
		umnp_subscriptions_destroy(prealloc);
	return ret;
}

int umn_notifier_unregister(struct umn_notifier *sub, struct umn_mm *mm)
{
	struct umn_subscriptions *subs;
	unsigned int state;
	sigset_t saved;

	if (!sub || !mm)
		return -EINVAL;
	if (umnp_dbg_in_callback(__func__))
		return -EDEADLK;
	state = classic_state(sub);
	if ((state & CLASSIC_MASK) != CLASSIC_MAGIC || sub->mm != mm) {
		umnp_warn(__func__, "subscription is not registered on this "
			  "address space");
		return -EINVAL;
	}
	if (state & CLASSIC_GET) {
		umnp_warn(__func__, "subscription came from umn_notifier_get(): "
			  "use umn_notifier_put()");
		return -EINVAL;
	}
	umnp_dbg_might_sleep(__func__);
	subs = umnp_subs(mm);
	if (state & CLASSIC_HASHED) {
		/* Still live: release it (unless the teardown already did). */
		umnp_rcu_read_lock();
		if (classic_claim_release(sub) && sub->ops->release) {
			umnp_dbg_callback_enter(true);
			sub->ops->release(sub, mm);
			umnp_dbg_callback_exit(true);
		}
		umnp_rcu_read_unlock();
		umnp_yield();
		umnp_subs_lock(subs, &saved);
		if (classic_state(sub) & CLASSIC_HASHED)
			hlist_del_locked(sub);
		umnp_subs_unlock(subs, &saved);
	}
	umnp_yield();
	/* No reader may still hold sub when we return (nor a concurrent
	 * teardown's release call). */
	umnp_rcu_synchronize();
	__atomic_store_n(&sub->state, 0, __ATOMIC_RELEASE);
	sub->mm = NULL;
	umn_mm_drop(mm);
	return 0;
}

/* ---- get / put: one shared subscription per (ops, mm) ---- */

/* The existing shared subscription for ops, with a new reference; NULL if
 * none (errno 0) or on overflow (errno EOVERFLOW). */
static struct umn_notifier *find_get(const struct umn_notifier_ops *ops,
				     struct umn_mm *mm)
{
	struct umn_subscriptions *subs = umnp_subs(mm);
	struct umn_notifier *sub;
	sigset_t saved;

	errno = 0;
	if (!subs)
		return NULL;
	umnp_subs_lock(subs, &saved);
	for (sub = subs->list; sub; sub = sub->next) {
		if (sub->ops != ops || !(classic_state(sub) & CLASSIC_GET))
			continue;
		if (sub->users == UINT_MAX) {
			umnp_subs_unlock(subs, &saved);
			umnp_warn("umn_notifier_get", "reference count saturated");
			errno = EOVERFLOW;
			return NULL;
		}
		sub->users++;
		umnp_subs_unlock(subs, &saved);
		return sub;
	}
	umnp_subs_unlock(subs, &saved);
	return NULL;
}

static int get_checks(const struct umn_notifier_ops *ops, struct umn_mm *mm,
		      const char *func)
{
	if (!ops || !mm || !ops->alloc_notifier || !ops->free_notifier)
		return EINVAL;
	if (umnp_dbg_in_callback(func))
		return EDEADLK;
	if (umnp_mm_torn_down(mm)) {
		umnp_warn(func, "address space is torn down");
		return EINVAL;
	}
	return 0;
}

/* alloc_notifier's result, or NULL with errno set. */
static struct umn_notifier *alloc_classic(const struct umn_notifier_ops *ops,
					  struct umn_mm *mm)
{
	struct umn_notifier *sub;

	errno = 0;
	sub = ops->alloc_notifier(mm);
	if (!sub && !errno)
		errno = ENOMEM;
	if (sub) {
		sub->ops = ops;
		sub->state = 0;
	}
	return sub;
}

/* Register fresh (write lock held); NULL with errno set on failure (the
 * caller frees fresh). */
static struct umn_notifier *register_fresh(struct umn_notifier *fresh,
					   struct umn_mm *mm,
					   struct umn_subscriptions **prealloc)
{
	int ret = umnp_register_locked(fresh, mm, prealloc);

	if (ret) {
		errno = -ret;
		return NULL;
	}
	__atomic_or_fetch(&fresh->state, CLASSIC_GET, __ATOMIC_RELEASE);
	return fresh;
}

struct umn_notifier *umn_notifier_get_locked(const struct umn_notifier_ops *ops,
					     struct umn_mm *mm)
{
	struct umn_notifier *sub, *fresh;
	int err = get_checks(ops, mm, __func__);

	if (err) {
		errno = err;
		return NULL;
	}
	umn_mmap_assert_write_locked(mm);
	sub = find_get(ops, mm);
	if (sub || errno)
		return sub;
	fresh = alloc_classic(ops, mm);
	if (!fresh)
		return NULL;
	sub = register_fresh(fresh, mm, NULL);
	if (!sub) {
		err = errno;
		fresh->ops->free_notifier(fresh);
		errno = err;
	}
	return sub;
}

/*
 * Unlike the kernel, alloc_notifier runs *before* the write lock is taken
 * (and the subscriptions object is allocated then too): nothing allocates
 * under the lock a hook inside free() may be waiting for.  If another
 * thread made the shared subscription meanwhile, ours is freed unused.
 */
struct umn_notifier *umn_notifier_get(const struct umn_notifier_ops *ops,
				      struct umn_mm *mm)
{
	struct umn_subscriptions *prealloc;
	struct umn_notifier *sub, *fresh;
	int err = get_checks(ops, mm, __func__);

	if (err) {
		errno = err;
		return NULL;
	}
	umnp_dbg_might_sleep(__func__);
	umn_mmap_write_lock(mm);
	sub = find_get(ops, mm);
	umn_mmap_write_unlock(mm);
	if (sub || errno)
		return sub;

	fresh = alloc_classic(ops, mm);
	if (!fresh)
		return NULL;
	prealloc = umnp_subscriptions_prealloc(mm);
	umn_mmap_write_lock(mm);
	sub = find_get(ops, mm);
	if (!sub && !errno && register_fresh(fresh, mm, &prealloc))
		sub = fresh;
	err = errno;
	umn_mmap_write_unlock(mm);
	if (sub != fresh)	/* lost the race, or failed: free unlocked */
		fresh->ops->free_notifier(fresh);
	if (prealloc)
		umnp_subscriptions_destroy(prealloc);
	errno = err;
	return sub;
}

static void classic_free_rcu(struct umn_rcu_head *head)
{
	struct umn_notifier *sub = (struct umn_notifier *)(void *)
		((char *)head - offsetof(struct umn_notifier, rcu));
	struct umn_mm *mm = sub->mm;

	sub->ops->free_notifier(sub);
	umn_mm_drop(mm);	/* pairs with the grab in register */
}

int umn_notifier_put(struct umn_notifier *sub)
{
	struct umn_subscriptions *subs;
	unsigned int state;
	sigset_t saved;

	if (!sub)
		return -EINVAL;
	state = classic_state(sub);
	if ((state & CLASSIC_MASK) != CLASSIC_MAGIC || !(state & CLASSIC_GET) ||
	    (state & CLASSIC_DEAD)) {
		umnp_warn(__func__, "not a live subscription from "
			  "umn_notifier_get()");
		return -EINVAL;
	}
	subs = umnp_subs(sub->mm);
	umnp_subs_lock(subs, &saved);
	if (sub->users == 0) {
		umnp_subs_unlock(subs, &saved);
		umnp_warn(__func__, "unbalanced put");
		return -EINVAL;
	}
	if (--sub->users) {
		umnp_subs_unlock(subs, &saved);
		return 0;
	}
	if (classic_state(sub) & CLASSIC_HASHED)
		hlist_del_locked(sub);
	__atomic_or_fetch(&sub->state, CLASSIC_DEAD, __ATOMIC_RELEASE);
	umnp_subs_unlock(subs, &saved);
	umnp_yield();
	umnp_rcu_call(&sub->rcu, classic_free_rcu);
	return 0;
}

void umn_notifier_synchronize(void)
{
	if (umnp_dbg_in_callback(__func__))
		return;
	umnp_dbg_might_sleep(__func__);
	umnp_rcu_barrier();
}

/* ---- primary-MMU side ---- */

int umn__invalidate_range_start(struct umn_notifier_range *range)
{
	struct umn_subscriptions *subs = umnp_subs(range->mm);
	bool blockable = umn_notifier_range_blockable(range);
	int ret = 0;

	if (!subs)
		return 0;
	UMN_PROBE5(invalidate_start, range->mm, range->start, range->end, range->event, range->flags);
	/*
	 * The lock map only for blockable ranges: a non-blockable callback
	 * may only trylock, which cannot deadlock, but TSan would still record
	 * an ordering edge from it.
	 */
	if (blockable)
		umnp_lockmap_acquire();
	__atomic_add_fetch(&subs->open_pairs, 1, __ATOMIC_RELAXED);
	if (has_itree(subs)) {
		ret = umnp_itree_invalidate(subs, range);
		if (ret)
			goto out;
	}
	umnp_yield();
	if (!hlist_empty(subs)) {
		ret = hlist_invalidate_start(subs, range);
		/*
		 * The caller will not call end after -EAGAIN: end the
		 * interval half here, or its active count would leak and
		 * read_begin would wait forever.
		 */
		if (ret && has_itree(subs))
			umnp_itree_inv_end(subs);
	}
out:
	if (ret)	/* no end will follow a refused start */
		__atomic_sub_fetch(&subs->open_pairs, 1, __ATOMIC_RELAXED);
	if (blockable)
		umnp_lockmap_release();
	return ret;
}

/* Close one open pair; false (nothing changed) if none is open. */
static bool close_pair(struct umn_subscriptions *subs)
{
	unsigned long open = __atomic_load_n(&subs->open_pairs, __ATOMIC_RELAXED);

	do {
		if (open == 0)
			return false;
	} while (!__atomic_compare_exchange_n(&subs->open_pairs, &open,
					      open - 1, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return true;
}

void umn__invalidate_range_end(struct umn_notifier_range *range, bool only_end)
{
	struct umn_subscriptions *subs = umnp_subs(range->mm);

	if (!subs)
		return;
	if (!close_pair(subs)) {
		umnp_warn("umn_notifier_invalidate_range_end",
			  "end without a matching start: ignored");
		return;
	}
	UMN_PROBE4(invalidate_end, range->mm, range->start, range->end, range->event);
	if (umn_notifier_range_blockable(range))
		umnp_lockmap_acquire();
	if (has_itree(subs))
		umnp_itree_inv_end(subs);
	if (!hlist_empty(subs))
		hlist_invalidate_end(subs, range, only_end);
	if (umn_notifier_range_blockable(range))
		umnp_lockmap_release();
}

void umn__invalidate_range(struct umn_mm *mm, unsigned long start,
			   unsigned long end)
{
	struct umn_subscriptions *subs = umnp_subs(mm);
	struct umn_notifier *sub;

	if (!subs || hlist_empty(subs))
		return;
	umnp_rcu_read_lock();
	hlist_for_each_rcu(sub, subs) {
		if (sub->ops->invalidate_range) {
			umnp_dbg_callback_enter(false);
			sub->ops->invalidate_range(sub, mm, start, end);
			umnp_dbg_callback_exit(false);
		}
	}
	umnp_rcu_read_unlock();
}

void umn__notifier_release(struct umn_mm *mm)
{
	struct umn_subscriptions *subs = umnp_subs(mm);

	if (!subs)
		return;
	if (umnp_dbg_in_callback("umn_notifier_release"))
		return;
	if (has_itree(subs))
		umnp_itree_release(subs, mm);
	if (!hlist_empty(subs))
		hlist_release(subs, mm);
}

/* clear_flush_young / clear_young: every subscriber's answer, ORed. */
static int hlist_clear_young(struct umn_mm *mm, unsigned long start,
			     unsigned long end, bool flush)
{
	struct umn_subscriptions *subs = umnp_subs(mm);
	struct umn_notifier *sub;
	int young = 0;

	if (!subs)
		return 0;
	umnp_rcu_read_lock();
	hlist_for_each_rcu(sub, subs) {
		int (*fn)(struct umn_notifier *, struct umn_mm *,
			  unsigned long, unsigned long) =
			flush ? sub->ops->clear_flush_young :
				sub->ops->clear_young;

		if (fn) {
			umnp_dbg_callback_enter(false);
			young |= fn(sub, mm, start, end);
			umnp_dbg_callback_exit(false);
		}
	}
	umnp_rcu_read_unlock();
	return young;
}

int umn__clear_flush_young(struct umn_mm *mm, unsigned long start,
			   unsigned long end)
{
	return hlist_clear_young(mm, start, end, true);
}

int umn__clear_young(struct umn_mm *mm, unsigned long start, unsigned long end)
{
	return hlist_clear_young(mm, start, end, false);
}

int umn__test_young(struct umn_mm *mm, unsigned long address)
{
	struct umn_subscriptions *subs = umnp_subs(mm);
	struct umn_notifier *sub;
	int young = 0;

	if (!subs)
		return 0;
	umnp_rcu_read_lock();
	hlist_for_each_rcu(sub, subs) {
		if (sub->ops->test_young) {
			umnp_dbg_callback_enter(false);
			young = sub->ops->test_young(sub, mm, address);
			umnp_dbg_callback_exit(false);
			if (young)
				break;
		}
	}
	umnp_rcu_read_unlock();
	return young;
}

void umn__change_pte(struct umn_mm *mm, unsigned long address,
		     unsigned long pte)
{
	struct umn_subscriptions *subs = umnp_subs(mm);
	struct umn_notifier *sub;

	if (!subs)
		return;
	umnp_rcu_read_lock();
	hlist_for_each_rcu(sub, subs) {
		if (sub->ops->change_pte) {
			umnp_dbg_callback_enter(false);
			sub->ops->change_pte(sub, mm, address, pte);
			umnp_dbg_callback_exit(false);
		}
	}
	umnp_rcu_read_unlock();
}
