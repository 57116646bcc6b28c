/* SPDX-License-Identifier: MIT */
/*
 * The memory-registration cache (what UCX calls rcache, libfabric an MR
 * cache, Open MPI grdma): a cache of registered address ranges that umn
 * keeps from going stale.
 *
 * The cached regions of one aligned 256 KiB block share one interval
 * subscription over the block (a region that crosses a block boundary has
 * one of its own).  A miss registers the region between
 * umn_interval_read_begin() on it and a check that no invalidation of the
 * block started meanwhile, without any cache lock, and redoes the
 * registration if one did: a region returned by get was registered after
 * the last change of its pages that a source reported, and no region is
 * handed out once an invalidation of it has started.
 *
 * A hit takes no lock and writes no line another thread writes: a lock-free
 * lookup of the region's start address, then one atomic increment of the
 * calling thread's own reference counter for the region, after which the
 * region's state is checked (an invalid one is dropped again and the
 * locked path taken).  A lookup by an address inside a region (not its
 * start) takes the cache lock and walks the address space's interval index,
 * where each block's subscription is, then the block's regions (the cache
 * keeps no tree of its own).
 *
 * Invalidation callbacks never block and never refuse: they mark each region
 * of the block that the range meets invalid with one atomic operation and
 * queue it.  Deregistration (ops->dereg, and the block's subscription's
 * removal with its last region) runs later, in a blockable context: at the
 * region's last put, or in the next get, put, invalidate or flush; a get of
 * exactly the range of such a region that no one holds deregisters it and
 * registers the same region again.  The
 * queue holds each region at most once, so the invalidated-but-not-yet-
 * deregistered regions are at most the regions the cache had registered
 * (stats.pending_bound).
 *
 * Locks: one mutex per cache, taken by misses, covering lookups,
 * evictions and the draining of the queue; never by a hit, a put on the
 * thread of its get that is not the last of an invalid region, or a
 * callback.  reg and dereg are
 * called without it.
 *
 * fork: in the child every cache is empty (the parent's registrations
 * belong to the parent) and usable, whatever other parent threads were
 * doing in it at fork; regions the child still holds may be put.  This is
 * done by pthread_atfork handlers, so it holds for libc's fork(), and by
 * umn itself for a fork-like raw fork, vfork, clone or clone3 system call
 * that the safety net runs (UMN_SELF_SUD=1, see <umn/self.h>).  A child
 * made by a raw system call that nothing of umn runs keeps the caches as
 * the parent had them (locks held by other threads included) and must not
 * use them.
 *
 * "Not from a umn callback": a call made inside any umn notifier callback
 * is refused with -EDEADLK and reported when libumn is built with its debug
 * checks (UMN_DEBUG); a release build cannot tell and the call may deadlock.
 */
#ifndef UMN_REGCACHE_H
#define UMN_REGCACHE_H

#include <stddef.h>
#include <stdio.h>
#include <umn/config.h>
#include <umn/mm.h>

UMN_EXTERN_C_BEGIN

struct umn_regcache;

/*
 * A cached region.  start and len (multiples of the cache's alignment) are
 * read-only for users.  The cache allocates params.region_size bytes for
 * it: embed it as the first member of your own struct and set region_size
 * to that struct's size; umn_regcache_region_data() points right after it.
 */
struct umn_regcache_region {
	unsigned long start;
	unsigned long len;
};

struct umn_regcache_ops {
	/*
	 * reg - register [region->start, region->start + region->len) with
	 * the device; keep handles in the region's user data.  Called without
	 * any cache lock, blockable, possibly more than once for one region
	 * (after a dereg, when an invalidation raced the registration).
	 * Returns 0 or -errno (get returns it, nothing is cached).
	 */
	int (*reg)(void *ctx, struct umn_regcache_region *region);
	/*
	 * dereg - undo a successful reg.  Called without any cache lock, in a
	 * blockable context, never from a umn callback.
	 */
	void (*dereg)(void *ctx, struct umn_regcache_region *region);
};

/* params.flags: a miss registers the union of the cached regions that
 * overlap or touch the requested range, and retires them (as UCX does). */
#define UMN_REGCACHE_MERGE 0x1u

struct umn_regcache_params {
	const struct umn_regcache_ops *ops;	/* required */
	void *ctx;				/* passed to ops */
	/* bytes per region, user data included; 0: sizeof(struct
	 * umn_regcache_region).  Smaller values are rejected. */
	size_t region_size;
	/* power of two, at least 1; 0: the page size.  Regions start and end
	 * on multiples of it. */
	unsigned long alignment;
	/* 0: unlimited.  Otherwise, after a miss, unused regions are evicted
	 * until the cache is within the limit (CLOCK: an approximation of
	 * least recently used; regions in use are never evicted). */
	unsigned long max_regions;
	unsigned long max_bytes;
	unsigned int flags;			/* UMN_REGCACHE_* */
};

/* Counters since umn_regcache_new() (or fork), and the current sizes. */
struct umn_regcache_stats {
	unsigned long hits;	   /* get found a valid region */
	unsigned long misses;	   /* get registered a new region */
	unsigned long retries;	   /* registrations redone: invalidated meanwhile */
	unsigned long invalidated; /* regions invalidated (sources, explicit) */
	unsigned long deferred;	   /* of those, from a non-blockable range */
	unsigned long dereg;	   /* ops->dereg calls */
	unsigned long evicted;	   /* regions evicted by the limits or flush */
	unsigned long merged;	   /* regions retired into a merged one */
	unsigned long regions;	   /* registered now (cached, held or pending) */
	unsigned long bytes;	   /* their total length */
	unsigned long pending_dereg; /* invalidated, not yet deregistered */
	unsigned long pending_bytes; /* their total length */
	unsigned long pending_bound; /* pending_dereg never exceeds this */
};

/*
 * umn_regcache_new - create a cache over mm's addresses (umn_mm_self() for
 * the calling process, or a managed address space).  The cache takes a
 * users reference on mm, dropped by umn_regcache_destroy().  It reserves
 * address space (no memory) for its start-address hash: 8 bytes per
 * max_regions, rounded up to a power of two (at least a page), or 128 MiB
 * when unlimited; under an address-space limit (ulimit -v) less (reported
 * once), with longer hash chains past it.
 * Context: blockable; not from a umn callback.
 * Returns the cache, or NULL with errno: EINVAL (reported: NULL mm, params
 * or ops->reg/dereg, region_size too small, alignment not a power of two,
 * unknown flags), EDEADLK (reported: from a umn callback), ENOMEM.
 */
struct umn_regcache *umn_regcache_new(struct umn_mm *mm,
				      const struct umn_regcache_params *params);

/*
 * umn_regcache_get - a registered region covering [addr, addr + len), with a
 * reference the caller drops with umn_regcache_put().  A hit is lock-free;
 * a miss registers [addr, addr + len) widened to the alignment (with
 * UMN_REGCACHE_MERGE, the union with the regions it overlaps or touches),
 * calling ops->reg without any lock, then may evict unused regions.
 * Context: blockable; not from a umn callback; not async-signal-safe (not
 * from a signal handler: a miss takes a mutex, and a hit's counter update
 * is not atomic with respect to a handler on the same thread); takes the
 * cache lock on a miss, which may also make a membarrier(2) call per batch
 * of regions it evicts or that were invalidated meanwhile (when other
 * threads hold counters near them; see doc/regcache.md).  Returns 0 and
 * *out; -EINVAL (reported) for len 0, a range that wraps, a NULL argument;
 * -EDEADLK (reported) from a umn callback; -ENOMEM; or ops->reg's error
 * (nothing cached).
 */
int umn_regcache_get(struct umn_regcache *rc, unsigned long addr,
		     unsigned long len, struct umn_regcache_region **out);

/*
 * umn_regcache_put - drop a reference taken by get, on the thread of the get
 * or any other.  Lock-free on the thread of the get unless this is the last
 * reference of an invalidated region, which is then deregistered here, or
 * the region's references were put on other threads before (then it takes
 * the cache lock to settle the count); on another thread it takes the cache
 * lock.  Under the lock it makes one membarrier(2) call only if the count
 * it reads there is not positive and other threads hold counters near the
 * region.  Any put also takes the lock to deregister regions invalidated
 * meanwhile (one membarrier(2) call for them all if other threads hold
 * counters near them).  Context: blockable; not from a umn callback
 * (reported, the reference is kept); not async-signal-safe, as get.  A
 * put of a region with no reference held is reported and ignored, as is
 * a NULL cache or region and a region get returned from another live
 * cache.  Undefined: a pointer get did not return (a stack or
 * heap address, one inside a region, a region of a destroyed cache), which
 * put reads below, at the node header and the header of its chunk (up to
 * 64 KiB lower), before it can tell: it may fault or drop another region's
 * reference; and one put too many of a region that other references still
 * hold, which drops one of theirs (a reference is not tied to its holder;
 * their last put is then reported).
 */
void umn_regcache_put(struct umn_regcache *rc,
		      struct umn_regcache_region *region);

/*
 * umn_regcache_invalidate - invalidate every cached region that intersects
 * [addr, addr + len), as a source would (for changes no source sees, e.g. a
 * device-side reset).  Unused regions are deregistered before it returns;
 * held ones at their last put.  Context: blockable; not from a umn callback;
 * takes the cache lock, and makes a membarrier(2) call (one for the regions
 * invalidated before, one for those it invalidates) if other threads hold
 * counters near them (doc/regcache.md).
 * Returns 0; -EINVAL (reported) for len 0 or a wrapping range; -EDEADLK
 * (reported) from a umn callback.
 */
int umn_regcache_invalidate(struct umn_regcache *rc, unsigned long addr,
			    unsigned long len);

/*
 * umn_regcache_flush - deregister every region no one holds (cached or
 * pending).  Context: blockable; not from a umn callback; takes the cache
 * lock, and makes a membarrier(2) call (one for the pending regions, one
 * for the cached ones) if other threads hold counters near them.  Returns
 * 0; -EINVAL (reported) for NULL; -EDEADLK (reported) from a umn callback.
 */
int umn_regcache_flush(struct umn_regcache *rc);

/*
 * umn_regcache_destroy - flush and free the cache, drop its mm reference.
 * Its region memory (64 KiB chunks) goes to a process-wide pool, up to
 * 8 MiB, from which caches created later take their regions; beyond that it
 * is freed, and the pool is never given back to the system.  A cache whose
 * regions (user data included) are too large for a 64 KiB chunk frees its
 * own (see doc/regcache.md, "Limits").
 * Context: blockable; not from a umn callback.
 * Returns 0; -EBUSY (reported) if regions are still held, and then nothing
 * is freed (put them and call again); -EDEADLK (reported) from a umn
 * callback; -EINVAL (reported) for NULL.
 */
int umn_regcache_destroy(struct umn_regcache *rc);

/*
 * umn_regcache_stats - copy the counters.  Hits are summed from 64
 * per-thread slots per cache without stopping the threads (a snapshot, not
 * an instant; beyond 63 live threads, the others share the last slot).
 * Context: any thread, also a umn callback; takes no lock, never blocks.
 * Returns 0 or -EINVAL (reported) for a NULL argument.
 */
int umn_regcache_stats(struct umn_regcache *rc,
		       struct umn_regcache_stats *out);

/* umn_regcache_for_each flags: the region is invalid (queued or held) */
#define UMN_REGCACHE_REGION_INVALID 0x1u

/*
 * umn_regcache_for_each - call fn for every registered region, the cached
 * ones first, then the invalid ones (in no address order), with its user
 * count and flags; a non-zero return stops the walk and is returned.  For
 * debugging:
 * runs under the cache lock, so fn must not call the cache.
 * Context: blockable; not from a umn callback.
 * Returns 0, fn's non-zero value, -EINVAL or -EDEADLK (reported).
 */
int umn_regcache_for_each(struct umn_regcache *rc,
			  int (*fn)(void *arg,
				    const struct umn_regcache_region *region,
				    unsigned long users, unsigned int flags),
			  void *arg);

/*
 * umn_regcache_dump - print the stats and every region to f, one line each
 * (umn_regcache_for_each's order).  Context: as umn_regcache_for_each.
 */
void umn_regcache_dump(struct umn_regcache *rc, FILE *f);

/* umn_regcache_region_data - the user's bytes after the public struct. */
static inline void *
umn_regcache_region_data(struct umn_regcache_region *region)
{
	return region + 1;
}

/*
 * A ready-made registration: mlock(2) on reg, munlock(2) on dereg, which
 * pins the pages as ibv_reg_mr does.  ctx is unused.  reg returns -ENOMEM
 * or -EPERM when RLIMIT_MEMLOCK forbids the lock, -ENOMEM for an unmapped
 * range.
 */
extern const struct umn_regcache_ops umn_regcache_mlock_ops;

UMN_EXTERN_C_END

#endif /* UMN_REGCACHE_H */
