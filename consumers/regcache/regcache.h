/* SPDX-License-Identifier: MIT */
/*
 * A memory-registration cache on umn: what an RDMA or GPU stack keeps (UCX
 * rcache, libfabric MR cache, Open MPI grdma), done with interval
 * subscriptions and the collision-retry protocol.
 *
 * Each cached region is one interval subscription over its pages.  A miss
 * registers the region *without* the cache lock (registration is slow: it
 * pins pages, talks to a device) between read_begin and read_retry, so an
 * unmap that lands in that window is never lost: the registration is thrown
 * away and redone (the window libfabric and Open MPI lose, see peers.md).
 * An invalidation marks the region invalid and takes it out of the index at
 * once; it is deregistered when its last user puts it.  When the
 * invalidation comes from a context that cannot take the cache lock (free()
 * called by a thread that holds it, a signal handler), the region's callback
 * refuses and umn defers the range; the next lookup of that region sees the
 * deferral before handing it out.
 *
 * The index is the interval tree (any covering region) with a hash of
 * region start addresses in front of it: RDMA stacks mostly look up again
 * exactly the buffers they registered, and a hash hit costs one bucket
 * instead of a descent through a large tree.
 *
 * Lock order: cache lock > (umn) subscriptions lock.  Callbacks take the
 * cache lock (trylock when not blockable).  reg/dereg are called without it.
 */
#ifndef UMN_REGCACHE_H
#define UMN_REGCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <umn/umn.h>

struct regcache;

struct regcache_ops {
	/* Register [start, start + len): return 0 and a handle, or -errno. */
	int (*reg)(void *ctx, unsigned long start, unsigned long len,
		   void **handle);
	/* Deregister a handle returned by reg. */
	void (*dereg)(void *ctx, void *handle);
};

struct regcache_region {
	struct umn_interval_notifier sub;	/* first: the callback casts */
	struct umn_itree_node node;		/* in the cache's index */
	struct regcache *rc;
	unsigned long start, len;
	void *handle;
	/* atomic; the index holds one while valid, each user one more: the
	 * last reference of an invalidated region queues it for reclaim */
	int refs;
	bool valid;				/* in the index */
	struct regcache_region *next_dead;
	struct regcache_region *hash_next;	/* start-address hash chain */
};

struct regcache_stats {
	unsigned long hits, misses, retries, invalidated, deferred, dereg;
};

/*
 * regcache_new - a cache over mm's addresses (umn_mm_self() for the real
 * process, or a managed address space).  Returns NULL with errno set.
 */
struct regcache *regcache_new(struct umn_mm *mm, const struct regcache_ops *ops,
			      void *ctx);

/*
 * regcache_get - a registered region covering [addr, addr + len), taking a
 * reference.  Hit: the cache lock and an index lookup.  Miss: registers a
 * page-aligned region with the collision-retry protocol.
 * Context: blockable; not from a umn callback.
 * Returns 0 and *out, or -EINVAL (len 0 / overflow), -ENOMEM, or reg's error.
 */
int regcache_get(struct regcache *rc, unsigned long addr, unsigned long len,
		 struct regcache_region **out);

/* regcache_put - drop a reference; an invalidated region is deregistered
 * when its last reference goes.  Context: blockable. */
void regcache_put(struct regcache *rc, struct regcache_region *region);

/* regcache_flush - deregister every region no one holds.  Blockable. */
void regcache_flush(struct regcache *rc);

/* regcache_destroy - flush and free; every region must have been put. */
void regcache_destroy(struct regcache *rc);

void regcache_stats(struct regcache *rc, struct regcache_stats *out);

#endif /* UMN_REGCACHE_H */
