/* SPDX-License-Identifier: MIT */
/*
 * umn address spaces (the kernel's struct mm_struct) and their lock (the
 * kernel's mmap_lock API).
 *
 * An address space has two reference counts, as in the kernel:
 *   users  (umn_mm_get / umn_mm_put): holders that keep the *mappings* alive.
 *          The last put tears the address space down: interval release, then
 *          classic release (umn_notifier_release), then the owner's exit_mmap.
 *   count  (umn_mm_grab / umn_mm_drop): holders that keep the *object* alive.
 *          All users together hold one count.  Every subscription holds one.
 *          The last drop frees the object.
 *
 * Lock nesting (outermost first), for everything in libumn:
 *   umn_mm.mmap_lock  >  subscriptions lock  (never held across a callback)
 *   user locks taken in invalidate callbacks are *inside* the invalidation:
 *   never hold one while calling umn_interval_read_begin(),
 *   umn_interval_notifier_remove(), umn_notifier_unregister() or anything that
 *   can start an invalidation (debug builds report it, see <umn/debug.h>).
 */
#ifndef UMN_MM_H
#define UMN_MM_H

#include <stdbool.h>
#include <pthread.h>
#include <umn/config.h>

UMN_EXTERN_C_BEGIN

struct umn_mm;
struct umn_subscriptions; /* private to libumn */

/* What the primary MMU that owns an address space provides. */
struct umn_mm_owner_ops {
	/*
	 * Called once by the last umn_mm_put(), after umn_notifier_release()
	 * has run every release callback: the primary unmaps everything (the
	 * exit_mmap analogue).  It may still send UNMAP invalidations: interval
	 * subscriptions stay in the tree until removed.  Optional.
	 */
	void (*exit_mmap)(struct umn_mm *mm, void *owner);
};

/*
 * The reader-writer lock of an address space (kernel: mmap_lock).
 * Writer-preferring, with downgrade.  A thread that already holds it (read
 * or write) may take the read side again: the nested acquisition only
 * counts (needed by event sources that fire inside code holding it).
 * Private: use the umn_mmap_* functions.
 */
struct umn_mmap_lock {
	int word;            /* readers in bits 0-29, bit 30: writer holds it */
	int writers_waiting; /* writers queued: new readers wait behind them */
	pthread_mutex_t mutex;       /* slow paths only */
	pthread_cond_t readers_cv;
	pthread_cond_t writers_cv;
};

/*
 * Private layout, public only so that umn_mm_has_notifiers() is one inline
 * load.  Do not touch any field directly.
 */
struct umn_mm {
	/* Read locklessly (acquire) by the fast path; published once with a
	 * release store under the write lock, freed with the object. */
	struct umn_subscriptions *notifier_subscriptions;
	int users;
	int count;
	unsigned int flags;
	const struct umn_mm_owner_ops *owner_ops;
	void *owner;
	/* written by every lock operation: kept off the line above, which
	 * umn_mm_has_notifiers() reads on every hook */
	struct umn_mmap_lock mmap_lock __attribute__((aligned(64)));
	/* The interval subscriptions' sequence (see <umn/interval.h>):
	 * written under the subscriptions lock, read locklessly by the
	 * inline umn_interval_read_begin() through sub->mm.  A line of its
	 * own: every lock operation writes the lines above. */
	unsigned long interval_seq __attribute__((aligned(64)));
};

/* umn_mm.flags */
#define UMN_MM_SIGNAL_SAFE 0x1u /* internal locks block signals while held */
#define UMN_MM_TORN_DOWN   0x2u /* users reached zero (set under the lock) */

/*
 * umn_mm_new - create a managed address space: users = 1, count = 1.
 * Context: any thread, blockable.  Takes no lock.
 * Returns the address space, or NULL with errno = ENOMEM.
 */
struct umn_mm *umn_mm_new(void);

/*
 * umn_mm_new_flags - as umn_mm_new() with UMN_MM_* creation flags (only
 * UMN_MM_SIGNAL_SAFE is accepted: for address spaces whose invalidations can
 * arrive in signal handlers).
 * Returns NULL with errno = EINVAL for unknown flags, ENOMEM on allocation.
 */
struct umn_mm *umn_mm_new_flags(unsigned int flags);

/*
 * umn_mm_set_owner - attach the primary MMU (owner ops and cookie).
 * Context: before the address space is shared; takes no lock.
 * Returns 0, or -EINVAL if mm is NULL.
 */
int umn_mm_set_owner(struct umn_mm *mm, const struct umn_mm_owner_ops *ops,
		     void *owner);

/* umn_mm_owner - the cookie given to umn_mm_set_owner() (NULL if none). */
void *umn_mm_owner(const struct umn_mm *mm);

/*
 * umn_mm_get - take a users reference (kernel: mmget).
 * Context: any; lock-free.  The caller must already hold a users or count
 * reference.
 * Returns 0, or -EINVAL (reported) if the address space was torn down.
 */
int umn_mm_get(struct umn_mm *mm);

/*
 * umn_mm_get_not_zero - take a users reference unless users is zero
 * (kernel: mmget_not_zero).  Caller holds a count reference.
 * Returns true if a reference was taken.
 */
bool umn_mm_get_not_zero(struct umn_mm *mm);

/*
 * umn_mm_put - drop a users reference (kernel: mmput).  The last put tears
 * down: umn_notifier_release() (interval release, then classic release; all
 * release callbacks finish first), then the owner's exit_mmap, then drops
 * the users' count reference.
 * Context: blockable (the last put runs callbacks and waits for a grace
 * period); must not be called from a notifier callback.  Takes no umn lock
 * across callbacks.
 * Returns 0, or -EINVAL (reported) on an unbalanced put (users already 0).
 */
int umn_mm_put(struct umn_mm *mm);

/* umn_mm_grab - take a count reference (kernel: mmgrab).  Lock-free. */
void umn_mm_grab(struct umn_mm *mm);

/*
 * umn_mm_drop - drop a count reference (kernel: mmdrop); the last frees the
 * address space and its subscriptions object.  Lock-free, may free.
 * Dropping a reference the caller does not hold is undefined, as with
 * mmdrop: the drop that reached zero already freed the object.
 */
void umn_mm_drop(struct umn_mm *mm);

/* umn_mm_users / umn_mm_count - the current counts (for tests, racy). */
int umn_mm_users(const struct umn_mm *mm);
int umn_mm_count(const struct umn_mm *mm);

/*
 * The mmap lock API (kernel names).  All may block except the trylocks and
 * unlocks; none may be called from a non-blockable notifier callback.
 * trylock functions return true when the lock was taken.
 * umn_mmap_write_downgrade turns the caller's write hold into a read hold
 * without letting another writer in between.
 * umn_mmap_assert_locked / umn_mmap_assert_write_locked check that *this
 * thread* holds the lock (read or write / write); in debug builds a failed
 * assertion is reported through umn_warn(), in release builds they are no-ops.
 */
void umn_mmap_read_lock(struct umn_mm *mm);
bool umn_mmap_read_trylock(struct umn_mm *mm);
void umn_mmap_read_unlock(struct umn_mm *mm);
void umn_mmap_write_lock(struct umn_mm *mm);
bool umn_mmap_write_trylock(struct umn_mm *mm);
void umn_mmap_write_unlock(struct umn_mm *mm);
void umn_mmap_write_downgrade(struct umn_mm *mm);
void umn_mmap_assert_locked(struct umn_mm *mm);
void umn_mmap_assert_write_locked(struct umn_mm *mm);

/*
 * umn_mmap_held - how this thread holds mm's lock: 0 not held, 1 read,
 * 2 write.  Always available (used by event sources to avoid re-entry).
 */
int umn_mmap_held(const struct umn_mm *mm);

UMN_EXTERN_C_END

#endif /* UMN_MM_H */
