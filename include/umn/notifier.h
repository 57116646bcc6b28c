/* SPDX-License-Identifier: MIT */
/*
 * umn notifiers: the primary-MMU side (ranges, events, the invalidate hooks)
 * and classic subscriptions (the kernel's struct mmu_notifier).
 *
 * A primary MMU (the code that changes a mapping) brackets every change:
 *
 *	struct umn_notifier_range range;
 *	umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP, 0, mm, start, end);
 *	umn_mmap_read_lock(mm);                 (or write)
 *	umn_notifier_invalidate_range_start(&range);
 *	... change the mapping of [start, end) ...
 *	umn_notifier_invalidate_range_end(&range);
 *	umn_mmap_read_unlock(mm);
 *
 * Classic callbacks run inside an RCU read-side section (liburcu, bulletproof
 * flavour) and never under a umn lock.  Interval subscriptions, the
 * collision-retry protocol and its state machine are in <umn/interval.h>.
 *
 * Callbacks: what every callback (interval invalidate(), every classic
 * umn_notifier_ops member) may and may not do.  This is the one list;
 * <umn/interval.h> and <umn/self.h> refer to it.
 *
 *  May:
 *   - take its own locks: blocking only if umn_notifier_range_blockable()
 *     says so; otherwise trylock, and refuse if it fails (below).  Of the
 *     callbacks without a range, release may block; clear_flush_young,
 *     clear_young, test_young, change_pte and invalidate_range may not
 *     (the primary calls them where it cannot sleep);
 *   - sleep, allocate, wait for its device, only on a blockable range;
 *   - refuse a non-blockable range: interval invalidate() returns false,
 *     classic invalidate_range_start() returns -EAGAIN.  The non-blocking
 *     start then fails with -EAGAIN, or, for a DEFERRABLE range (every range
 *     of umn_mm_self()), the change goes ahead anyway and the refusal is
 *     deferred (umn_interval_take_deferred()).  A blockable range must never
 *     be refused (reported and ignored);
 *   - call umn_interval_set_seq() (interval: required before dropping
 *     entries), umn_interval_check_retry(), umn_notifier_range_*(),
 *     umn_notifier_put(), umn_in_callback(), umn_might_sleep(), and read
 *     range, which is valid only during the call;
 *   - run concurrently with itself on other threads (several invalidations
 *     may run at once) and with the same subscription's other callbacks.
 *   - on umn_mm_self(), unmap, remap, discard or re-protect memory,
 *     directly or through free() of a large (mmapped) block: a nested
 *     invalidation, reported before the call returns to every subscriber,
 *     this one included as a non-blockable deferrable range (<umn/self.h>).
 *  May not (a deadlock or a use after free otherwise):
 *   - call umn_interval_read_begin(), umn_interval_notifier_insert() or
 *     _remove(), umn_notifier_register(), _unregister(), _get(),
 *     _synchronize(), umn_mm_put() or umn_notifier_release(): they wait for
 *     invalidations or take the mmap lock.  Every build reports them
 *     (umn_set_warn_handler()) and refuses: -EDEADLK (NULL with errno
 *     EDEADLK for get), read_begin returns a value read_retry() rejects,
 *     synchronize returns at once;
 *   - take the address space's mmap lock (umn_mmap_*): the primary may hold
 *     it, and a read holder may start invalidations (faults, COW);
 *   - on a model or other managed address space, start an invalidation of
 *     the same address space itself (umn_notifier_* start/end);
 *   - on umn_mm_self() (non-blockable): allocate or free with malloc (the
 *     hook may run inside free() holding glibc's arena lock; debug builds
 *     report it), block, or take a lock without trylock;
 *   - hold, around any call in the first item, a lock that a callback takes
 *     (the inversion: a TSan build of libumn reports it, see <umn/debug.h>).
 */
#ifndef UMN_NOTIFIER_H
#define UMN_NOTIFIER_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <umn/config.h>
#include <umn/mm.h>

UMN_EXTERN_C_BEGIN

/* Why a range is being invalidated (kernel: enum mmu_notifier_event). */
enum umn_notifier_event {
	UMN_NOTIFY_UNMAP = 0,      /* munmap, mremap moving away, teardown */
	UMN_NOTIFY_CLEAR,          /* discard, COW replacement, reclaim, merge */
	UMN_NOTIFY_PROTECTION_VMA, /* mprotect of a whole region */
	UMN_NOTIFY_PROTECTION_PAGE,/* per-page write protection (fork COW) */
	UMN_NOTIFY_SOFT_DIRTY,     /* soft-dirty tracking */
	UMN_NOTIFY_RELEASE,        /* address-space teardown */
	UMN_NOTIFY_MIGRATE,        /* pages moved; range.owner says by whom */
	UMN_NOTIFY_EXCLUSIVE,      /* a device takes exclusive access */
	UMN_NOTIFY_NR_EVENTS
};

/* Which event source reported a range (range.origin). */
enum umn_notifier_origin {
	UMN_ORIGIN_PRIMARY = 0, /* a primary MMU calling the hooks (model, VMM) */
	UMN_ORIGIN_PATCH,       /* libc entry-point patching (real process) */
	UMN_ORIGIN_INTERPOSE,   /* symbol interposition (real process) */
	UMN_ORIGIN_UFFD,        /* userfaultfd events (after the fact) */
	UMN_ORIGIN_EXPLICIT,    /* umn_self_invalidate() by the program */
	UMN_ORIGIN_NR
};

/* range.flags */
/* Callbacks may sleep; set by umn_notifier_invalidate_range_start(). */
#define UMN_NOTIFIER_RANGE_BLOCKABLE  (1u << 0)
/*
 * Not blockable, and the change cannot be called off (a real munmap inside
 * free(), a signal handler).  An interval callback may refuse (return false):
 * umn bumps the subscription's sequence so no reader commits a stale
 * mapping, records the range as deferred on the subscription (see
 * umn_interval_take_deferred()), and carries on.  Start never fails.
 */
#define UMN_NOTIFIER_RANGE_DEFERRABLE (1u << 1)
/*
 * The source learned of the change after it happened (userfaultfd): the
 * range may already have been reused by the time callbacks run.
 */
#define UMN_NOTIFIER_RANGE_AFTER      (1u << 2)

#if UMN_CONFIG_NOTIFIER

/* An invalidation (kernel: struct mmu_notifier_range). end is exclusive. */
struct umn_notifier_range {
	struct umn_mm *mm;
	unsigned long start;
	unsigned long end;
	unsigned int flags;
	enum umn_notifier_event event;
	void *owner;         /* who caused a MIGRATE/EXCLUSIVE (may be NULL) */
	unsigned int origin; /* enum umn_notifier_origin */
	/*
	 * PROTECTION_VMA: the protection the range will have after the change
	 * (PROT_READ | PROT_WRITE | PROT_EXEC bits of <sys/mman.h>), set by
	 * the primary (the model's mprotect, the self source's mprotect hook).
	 * 0 for other events.  Read it with
	 * umn_notifier_range_update_to_read_only().  (It fills what was
	 * padding: the structure's size and other offsets are unchanged.)
	 */
	unsigned int new_prot;
};

#else /* !UMN_CONFIG_NOTIFIER */

struct umn_notifier_range {
	unsigned long start;
	unsigned long end;
};

#endif

struct umn_notifier;

/*
 * Classic subscription callbacks, all optional (kernel: mmu_notifier_ops).
 * Every callback runs inside an RCU read-side section, without any umn lock
 * held; what it may do: "Callbacks" at the top of this file.
 */
struct umn_notifier_ops {
	/*
	 * release: the address space is being torn down, or this subscription
	 * is being unregistered while still live.  Called at most once per
	 * registration.  Must stop all secondary access to the address space.
	 */
	void (*release)(struct umn_notifier *sub, struct umn_mm *mm);
	/* Age pages (reclaim): return non-zero if any was young; results ORed. */
	int (*clear_flush_young)(struct umn_notifier *sub, struct umn_mm *mm,
				 unsigned long start, unsigned long end);
	int (*clear_young)(struct umn_notifier *sub, struct umn_mm *mm,
			   unsigned long start, unsigned long end);
	/* Return non-zero if the page at address is young (first wins). */
	int (*test_young)(struct umn_notifier *sub, struct umn_mm *mm,
			  unsigned long address);
	/* The page at address now maps pte (same-page merging), called
	 * between invalidate_range_start and _end. */
	void (*change_pte)(struct umn_notifier *sub, struct umn_mm *mm,
			   unsigned long address, unsigned long pte);
	/*
	 * Before the change.  Return 0, or -EAGAIN only when the range is not
	 * blockable.  A subscription whose start fails gets no end.
	 */
	int (*invalidate_range_start)(struct umn_notifier *sub,
				      const struct umn_notifier_range *range);
	/* After the change, once per successful start, with the same range. */
	void (*invalidate_range_end)(struct umn_notifier *sub,
				     const struct umn_notifier_range *range);
	/* Flush secondary TLBs for [start, end) (kernel: invalidate_range). */
	void (*invalidate_range)(struct umn_notifier *sub, struct umn_mm *mm,
				 unsigned long start, unsigned long end);
	/*
	 * For umn_notifier_get(): allocate a subscription for mm (fill in
	 * nothing; umn does).  Return NULL with errno set on failure.
	 */
	struct umn_notifier *(*alloc_notifier)(struct umn_mm *mm);
	/* For umn_notifier_put(): free it, after a grace period, exactly once. */
	void (*free_notifier)(struct umn_notifier *sub);
};

/* Private: storage for an RCU callback head (checked against liburcu). */
struct umn_rcu_head {
	void *private_[3];
};

/* A classic subscription (kernel: struct mmu_notifier).  Zero it, set ops. */
struct umn_notifier {
	struct umn_notifier *next;   /* private: RCU list link */
	struct umn_notifier **pprev; /* private: NULL while not on the list */
	const struct umn_notifier_ops *ops;
	struct umn_mm *mm;           /* set by register */
	struct umn_rcu_head rcu;     /* private */
	unsigned int users;          /* get/put references (private) */
	unsigned int state;          /* private */
};

/*
 * umn_notifier_register - subscribe sub (sub->ops set) to mm.
 * Takes mm's mmap lock for write, so the registration never lands inside a
 * running start/end pair; allocates the subscriptions object on first use.
 * Context: blockable; not from a callback.  Caller holds a users reference.
 * Returns 0; -EINVAL if sub/mm/ops is NULL or mm is torn down; -EBUSY if sub
 * is already registered; -ENOMEM; -EDEADLK (reported, every build) when
 * called from a notifier callback (nothing is registered).
 */
int umn_notifier_register(struct umn_notifier *sub, struct umn_mm *mm);

/*
 * umn_notifier_register_locked - as umn_notifier_register(), with mm's mmap
 * lock already held for write by the caller (kernel: __mmu_notifier_register).
 */
int umn_notifier_register_locked(struct umn_notifier *sub, struct umn_mm *mm);

/*
 * umn_notifier_unregister - if sub is still live call its release, unhash it,
 * then wait for a grace period: when it returns no callback of sub runs or
 * will run, and sub may be freed.  Drops the count reference taken by
 * register.
 * Context: blockable; must not be called from a callback nor inside an RCU
 * read-side section.  Takes the subscriptions lock briefly.
 * Returns 0; -EINVAL (reported) if sub is not registered (never registered,
 * already unregistered, or a get/put subscription); -EDEADLK (reported,
 * every build) when called from a notifier callback (sub stays registered).
 */
int umn_notifier_unregister(struct umn_notifier *sub, struct umn_mm *mm);

/*
 * umn_notifier_get - the one shared subscription for (ops, mm): take a
 * reference on the existing one, or make one with ops->alloc_notifier and
 * register it.  Takes mm's mmap lock for write.
 * Context: blockable; not from a callback.
 * Returns the subscription, or NULL with errno: EINVAL (bad arguments, ops
 * without alloc_notifier/free_notifier, torn-down mm), EOVERFLOW (reference
 * count saturated), ENOMEM, EDEADLK (reported, every build: called from a
 * notifier callback), or what alloc_notifier set.
 */
struct umn_notifier *umn_notifier_get(const struct umn_notifier_ops *ops,
				      struct umn_mm *mm);

/* umn_notifier_get_locked - as umn_notifier_get() with the write lock held. */
struct umn_notifier *umn_notifier_get_locked(const struct umn_notifier_ops *ops,
					     struct umn_mm *mm);

/*
 * umn_notifier_put - drop a reference from umn_notifier_get().  The last one
 * unhashes the subscription and queues ops->free_notifier to run after a
 * grace period (then drops its count reference on mm).  Never calls release.
 * Context: any thread, including callbacks; never blocks; takes the
 * subscriptions lock briefly.
 * Returns 0; -EINVAL (reported) on an unbalanced put or a subscription that
 * did not come from umn_notifier_get().
 */
int umn_notifier_put(struct umn_notifier *sub);

/*
 * umn_notifier_synchronize - wait until every free queued by
 * umn_notifier_put() has run (a barrier, not just a grace period).
 * Context: blockable; not from a callback or an RCU read-side section.  From
 * a notifier callback it is reported and returns without waiting (every
 * build).
 */
void umn_notifier_synchronize(void);

/* ---- primary-MMU side ---------------------------------------------------- */

#if UMN_CONFIG_NOTIFIER

/* Out-of-line slow paths: call the inline wrappers below instead. */
int umn__invalidate_range_start(struct umn_notifier_range *range);
void umn__invalidate_range_end(struct umn_notifier_range *range, bool only_end);
void umn__invalidate_range(struct umn_mm *mm, unsigned long start,
			   unsigned long end);
void umn__notifier_release(struct umn_mm *mm);
int umn__clear_flush_young(struct umn_mm *mm, unsigned long start,
			   unsigned long end);
int umn__clear_young(struct umn_mm *mm, unsigned long start, unsigned long end);
int umn__test_young(struct umn_mm *mm, unsigned long address);
void umn__change_pte(struct umn_mm *mm, unsigned long address,
		     unsigned long pte);
void umn__debug_invalidate_enter(bool blockable);
void umn__debug_invalidate_exit(void);

/*
 * umn_mm_has_notifiers - has anyone ever subscribed to mm?  One acquire load:
 * the whole cost of the hooks for an address space nobody watches.
 * Context: any, lock-free.
 */
static inline bool umn_mm_has_notifiers(const struct umn_mm *mm)
{
	return __builtin_expect(__atomic_load_n(&mm->notifier_subscriptions,
						__ATOMIC_ACQUIRE) != NULL, 0);
}

/*
 * umn_notifier_range_init - fill range.  flags: UMN_NOTIFIER_RANGE_*;
 * BLOCKABLE is set or cleared later by the start variant used.
 * Context: any.  Never fails (a start >= end range is empty: no callback).
 */
static inline void umn_notifier_range_init(struct umn_notifier_range *range,
					   enum umn_notifier_event event,
					   unsigned int flags, struct umn_mm *mm,
					   unsigned long start,
					   unsigned long end)
{
	range->mm = mm;
	range->start = start;
	range->end = end;
	range->flags = flags;
	range->event = event;
	range->owner = NULL;
	range->origin = UMN_ORIGIN_PRIMARY;
	range->new_prot = 0;
}

/* umn_notifier_range_init_owner - as above, for MIGRATE/EXCLUSIVE: owner lets
 * a device ignore invalidations it caused itself. */
static inline void umn_notifier_range_init_owner(
	struct umn_notifier_range *range, enum umn_notifier_event event,
	unsigned int flags, struct umn_mm *mm, unsigned long start,
	unsigned long end, void *owner)
{
	umn_notifier_range_init(range, event, flags, mm, start, end);
	range->owner = owner;
}

/* umn_notifier_range_blockable - may callbacks of this range sleep? */
static inline bool
umn_notifier_range_blockable(const struct umn_notifier_range *range)
{
	return (range->flags & UMN_NOTIFIER_RANGE_BLOCKABLE) != 0;
}

/*
 * umn_notifier_range_update_to_read_only - does this invalidation only take
 * write permission away?  True when the event is PROTECTION_VMA and the new
 * protection (range->new_prot) allows reading but not writing: a secondary
 * MMU may then keep its entries and only write-protect them instead of
 * dropping them.  False for every other event, and for a PROTECTION_VMA
 * range whose primary did not say (new_prot 0).
 * (kernel v5.8: mmu_notifier_range_update_to_read_only(); the kernel looks
 * only at the read bit of the VMA, umn also requires write to be gone.)
 * Context: any, from a callback.  Never fails.
 */
static inline bool
umn_notifier_range_update_to_read_only(const struct umn_notifier_range *range)
{
	return range->event == UMN_NOTIFY_PROTECTION_VMA &&
	       (range->new_prot & (PROT_READ | PROT_WRITE)) == PROT_READ;
}

/*
 * umn_notifier_invalidate_range_start - tell every subscriber that
 * [start, end) is about to change.  Blockable: callbacks may sleep and never
 * fail.  Interval subscriptions intersecting the range get invalidate()
 * exactly once; classic ones get invalidate_range_start().
 * Context: blockable, caller holds mm's mmap lock (read or write).  Takes the
 * subscriptions lock briefly; runs callbacks without it.
 * Must be followed by exactly one umn_notifier_invalidate_range_end() (or
 * _only_end) with the same range.
 */
static inline void
umn_notifier_invalidate_range_start(struct umn_notifier_range *range)
{
	if (UMN_DEBUG)
		umn__debug_invalidate_enter(true);
	range->flags |= UMN_NOTIFIER_RANGE_BLOCKABLE;
	if (umn_mm_has_notifiers(range->mm))
		(void)umn__invalidate_range_start(range);
	if (UMN_DEBUG)
		umn__debug_invalidate_exit();
}

/*
 * umn_notifier_invalidate_range_start_nonblock - the non-blocking start
 * (kernel: OOM reaper).  Callbacks must not sleep and may refuse.
 * Returns 0, after which exactly one end must follow; or -EAGAIN when a
 * subscriber refused: every subscriber whose start had succeeded has already
 * been sent its end, and the caller must not call end and must not make the
 * change.  With UMN_NOTIFIER_RANGE_DEFERRABLE set in range->flags, interval
 * refusals are deferred instead (see that flag) and the result is 0.
 * Context: any, including signal handlers for UMN_MM_SIGNAL_SAFE address
 * spaces.  Takes the subscriptions lock briefly.
 */
static inline int
umn_notifier_invalidate_range_start_nonblock(struct umn_notifier_range *range)
{
	int ret = 0;

	if (UMN_DEBUG)
		umn__debug_invalidate_enter(false);
	range->flags &= ~UMN_NOTIFIER_RANGE_BLOCKABLE;
	if (umn_mm_has_notifiers(range->mm))
		ret = umn__invalidate_range_start(range);
	if (UMN_DEBUG)
		umn__debug_invalidate_exit();
	return ret;
}

/*
 * umn_notifier_invalidate_range_end - the change of range is complete.
 * Calls classic invalidate_range (secondary TLB flush) then
 * invalidate_range_end; ends the interval invalidation (when the last
 * concurrent one ends: the sequence turns even, deferred inserts/removes
 * are applied, waiters wake).
 * Context: as the matching start.  An end with no matching start is
 * reported and ignored.
 */
static inline void
umn_notifier_invalidate_range_end(struct umn_notifier_range *range)
{
	if (umn_mm_has_notifiers(range->mm))
		umn__invalidate_range_end(range, false);
}

/*
 * umn_notifier_invalidate_range_only_end - as _end, but the caller already
 * called umn_notifier_invalidate_range() for this range, so classic
 * invalidate_range is not called again.
 */
static inline void
umn_notifier_invalidate_range_only_end(struct umn_notifier_range *range)
{
	if (umn_mm_has_notifiers(range->mm))
		umn__invalidate_range_end(range, true);
}

/*
 * umn_notifier_invalidate_range - flush secondary TLBs of [start, end) now
 * (between start and end, under the primary's page-table lock).
 * Context: any; must not sleep.
 */
static inline void umn_notifier_invalidate_range(struct umn_mm *mm,
						 unsigned long start,
						 unsigned long end)
{
	if (umn_mm_has_notifiers(mm))
		umn__invalidate_range(mm, start, end);
}

/*
 * umn_notifier_release - teardown notification: interval subscriptions get
 * an invalidate with event RELEASE over [0, ULONG_MAX) (blockable), then
 * classic subscriptions get release; all release callbacks have returned
 * (and a grace period has passed) before it returns.  Classic subscriptions
 * are unhashed; interval subscriptions stay until removed.
 * Called by the last umn_mm_put(); a primary may call it itself first.
 * Context: blockable, not from a callback.
 */
static inline void umn_notifier_release(struct umn_mm *mm)
{
	if (umn_mm_has_notifiers(mm))
		umn__notifier_release(mm);
}

/* umn_notifier_clear_flush_young - OR of every subscriber's answer. */
static inline int umn_notifier_clear_flush_young(struct umn_mm *mm,
						 unsigned long start,
						 unsigned long end)
{
	if (umn_mm_has_notifiers(mm))
		return umn__clear_flush_young(mm, start, end);
	return 0;
}

/* umn_notifier_clear_young - OR of every subscriber's answer. */
static inline int umn_notifier_clear_young(struct umn_mm *mm,
					   unsigned long start,
					   unsigned long end)
{
	if (umn_mm_has_notifiers(mm))
		return umn__clear_young(mm, start, end);
	return 0;
}

/* umn_notifier_test_young - non-zero at the first subscriber that says so. */
static inline int umn_notifier_test_young(struct umn_mm *mm,
					  unsigned long address)
{
	if (umn_mm_has_notifiers(mm))
		return umn__test_young(mm, address);
	return 0;
}

/* umn_notifier_change_pte - page at address now maps pte (inside start/end). */
static inline void umn_notifier_change_pte(struct umn_mm *mm,
					   unsigned long address,
					   unsigned long pte)
{
	if (umn_mm_has_notifiers(mm))
		umn__change_pte(mm, address, pte);
}

#else /* !UMN_CONFIG_NOTIFIER: the whole primary side costs nothing */

static inline bool umn_mm_has_notifiers(const struct umn_mm *mm)
{
	(void)mm;
	return false;
}

static inline void umn_notifier_range_init(struct umn_notifier_range *range,
					   enum umn_notifier_event event,
					   unsigned int flags, struct umn_mm *mm,
					   unsigned long start,
					   unsigned long end)
{
	(void)event; (void)flags; (void)mm;
	range->start = start;
	range->end = end;
}

static inline void umn_notifier_range_init_owner(
	struct umn_notifier_range *range, enum umn_notifier_event event,
	unsigned int flags, struct umn_mm *mm, unsigned long start,
	unsigned long end, void *owner)
{
	(void)owner;
	umn_notifier_range_init(range, event, flags, mm, start, end);
}

static inline bool
umn_notifier_range_blockable(const struct umn_notifier_range *range)
{
	(void)range;
	return true;
}

static inline bool
umn_notifier_range_update_to_read_only(const struct umn_notifier_range *range)
{
	(void)range;
	return false;
}

static inline void
umn_notifier_invalidate_range_start(struct umn_notifier_range *range)
{
	(void)range;
}

static inline int
umn_notifier_invalidate_range_start_nonblock(struct umn_notifier_range *range)
{
	(void)range;
	return 0;
}

static inline void
umn_notifier_invalidate_range_end(struct umn_notifier_range *range)
{
	(void)range;
}

static inline void
umn_notifier_invalidate_range_only_end(struct umn_notifier_range *range)
{
	(void)range;
}

static inline void umn_notifier_invalidate_range(struct umn_mm *mm,
						 unsigned long start,
						 unsigned long end)
{
	(void)mm; (void)start; (void)end;
}

static inline void umn_notifier_release(struct umn_mm *mm)
{
	(void)mm;
}

static inline int umn_notifier_clear_flush_young(struct umn_mm *mm,
						 unsigned long start,
						 unsigned long end)
{
	(void)mm; (void)start; (void)end;
	return 0;
}

static inline int umn_notifier_clear_young(struct umn_mm *mm,
					   unsigned long start,
					   unsigned long end)
{
	(void)mm; (void)start; (void)end;
	return 0;
}

static inline int umn_notifier_test_young(struct umn_mm *mm,
					  unsigned long address)
{
	(void)mm; (void)address;
	return 0;
}

static inline void umn_notifier_change_pte(struct umn_mm *mm,
					   unsigned long address,
					   unsigned long pte)
{
	(void)mm; (void)address; (void)pte;
}

#endif /* UMN_CONFIG_NOTIFIER */

UMN_EXTERN_C_END

#endif /* UMN_NOTIFIER_H */
