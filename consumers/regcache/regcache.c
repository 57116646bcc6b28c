/* SPDX-License-Identifier: MIT */
/*
 * A memory-registration cache on umn; see regcache.h.
 *
 * One lookup, top to bottom:   regcache_get
 *   lock; index_lookup (drops regions with a deferred invalidation); hit?
 *   miss: region_new -> umn_interval_notifier_insert
 *         again: seq = read_begin; reg() without the lock; lock;
 *                read_retry? -> unlock, dereg, again
 *                publish: index insert, valid; unlock
 * One unmap, top to bottom:    region_invalidate (umn callback)
 *   lock (trylock if not blockable: refuse -> umn defers the range);
 *   umn_interval_set_seq; out of the index, dropping the index's
 *   reference (the last reference queues it on the dead list); unlock
 *   ... dead regions are removed and deregistered by the next put/get/flush,
 *   outside the lock and outside any callback.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "regcache.h"

struct regcache {
	struct umn_mm *mm;
	const struct regcache_ops *ops;
	void *ctx;
	pthread_mutex_t lock;
	struct umn_itree_root index;	/* valid regions, by [start, end) */
	struct regcache_region **hash;	/* valid regions, by start */
	unsigned long hash_mask;	/* buckets - 1 (a power of two) */
	unsigned long nvalid;
	struct regcache_region *dead;	/* invalid and unused: to reclaim */
	unsigned long page;
	struct regcache_stats stats;
};

#define node_region(n) \
	((struct regcache_region *)(void *)((char *)(n) - \
		offsetof(struct regcache_region, node)))

#define HASH_MIN 1024ul

static unsigned long hash_start(const struct regcache *rc, unsigned long start)
{
	return ((start / rc->page) * 0x9e3779b97f4a7c15ul >> 20) & rc->hash_mask;
}

/* Double the buckets when the load passes 1 (cache lock held).  An
 * allocation failure only leaves the chains longer. */
static void hash_grow_locked(struct regcache *rc)
{
	unsigned long n = (rc->hash_mask + 1) * 2, old = rc->hash_mask + 1;
	struct regcache_region **nh = calloc(n, sizeof(*nh));

	if (!nh)
		return;
	rc->hash_mask = n - 1;
	for (unsigned long b = 0; b < old; b++) {
		struct regcache_region *r = rc->hash[b], *next;

		for (; r; r = next) {
			unsigned long h = hash_start(rc, r->start);

			next = r->hash_next;
			r->hash_next = nh[h];
			nh[h] = r;
		}
	}
	free(rc->hash);
	rc->hash = nh;
}

/* Publish a valid region in both indexes (cache lock held). */
static void index_insert_locked(struct regcache *rc, struct regcache_region *r)
{
	unsigned long h;

	umn_itree_insert(&r->node, &rc->index);
	if (++rc->nvalid > rc->hash_mask + 1)
		hash_grow_locked(rc);
	h = hash_start(rc, r->start);
	r->hash_next = rc->hash[h];
	rc->hash[h] = r;
}

static void index_remove_locked(struct regcache *rc, struct regcache_region *r)
{
	struct regcache_region **pp = &rc->hash[hash_start(rc, r->start)];

	umn_itree_remove(&r->node, &rc->index);
	rc->nvalid--;
	for (; *pp; pp = &(*pp)->hash_next) {
		if (*pp == r) {
			*pp = r->hash_next;
			break;
		}
	}
	r->hash_next = NULL;
}

/* Queue r for reclaim: its last reference is gone (cache lock held). */
static void region_dead_locked(struct regcache *rc, struct regcache_region *r)
{
	r->next_dead = rc->dead;
	rc->dead = r;
}

/*
 * Take region out of service (cache lock held): out of the index, and drop
 * the index's reference.  Users still holding it keep it alive; the last
 * put queues it.
 */
static void region_invalidate_locked(struct regcache *rc,
				     struct regcache_region *r)
{
	if (!r->valid)
		return;
	r->valid = false;
	index_remove_locked(rc, r);
	rc->stats.invalidated++;
	if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
		region_dead_locked(rc, r);
}

static bool region_invalidate(struct umn_interval_notifier *sub,
			      const struct umn_notifier_range *range,
			      unsigned long cur_seq)
{
	struct regcache_region *r = (struct regcache_region *)sub;
	struct regcache *rc = r->rc;

	if (umn_notifier_range_blockable(range))
		pthread_mutex_lock(&rc->lock);
	else if (pthread_mutex_trylock(&rc->lock))
		return false;	/* umn defers: see index_lookup */
	umn_interval_set_seq(sub, cur_seq);
	region_invalidate_locked(rc, r);
	pthread_mutex_unlock(&rc->lock);
	return true;
}

static const struct umn_interval_notifier_ops region_ops = {
	.invalidate = region_invalidate,
};

/* Remove, deregister and free every dead region (no lock held). */
static void reclaim(struct regcache *rc)
{
	struct regcache_region *r, *next;

	pthread_mutex_lock(&rc->lock);
	r = rc->dead;
	rc->dead = NULL;
	pthread_mutex_unlock(&rc->lock);
	for (; r; r = next) {
		next = r->next_dead;
		umn_interval_notifier_remove(&r->sub);
		if (r->handle)
			rc->ops->dereg(rc->ctx, r->handle);
		__atomic_add_fetch(&rc->stats.dereg, 1, __ATOMIC_RELAXED);
		free(r);
	}
}

/*
 * A valid region covering [start, end), with a reference; NULL if none.
 * A region whose invalidation was deferred (its callback refused) is taken
 * out of service here, before it could be handed out.
 */
/* Take a reference on r if it covers [start, end) and has no deferred
 * invalidation (dropping it if it has).  Cache lock held. */
static bool take_if_usable(struct regcache *rc, struct regcache_region *r,
			   unsigned long start, unsigned long end)
{
	unsigned long s, l;

	if (umn_interval_deferred_pending(&r->sub) &&
	    umn_interval_take_deferred(&r->sub, &s, &l) == 1) {
		rc->stats.deferred++;
		region_invalidate_locked(rc, r);
		return false;
	}
	if (r->start > start || r->start + r->len < end)
		return false;
	/* valid, so the index's reference keeps it >= 1 */
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
	return true;
}

static struct regcache_region *index_lookup(struct regcache *rc,
					    unsigned long start,
					    unsigned long end)
{
	struct umn_itree_node *n, *next;
	struct regcache_region *r, *rnext;

	/* the common case: a region that starts exactly here */
	for (r = rc->hash[hash_start(rc, start)]; r; r = rnext) {
		rnext = r->hash_next;
		if (r->start == start && take_if_usable(rc, r, start, end))
			return r;
	}

	for (n = umn_itree_iter_first(&rc->index, start, end - 1); n; n = next) {
		r = node_region(n);
		next = umn_itree_iter_next(n, start, end - 1);
		if (take_if_usable(rc, r, start, end))
			return r;
	}
	return NULL;
}

struct regcache *regcache_new(struct umn_mm *mm, const struct regcache_ops *ops,
			      void *ctx)
{
	struct regcache *rc;

	if (!mm || !ops || !ops->reg || !ops->dereg) {
		errno = EINVAL;
		return NULL;
	}
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return NULL;
	rc->hash = calloc(HASH_MIN, sizeof(*rc->hash));
	if (!rc->hash) {
		free(rc);
		return NULL;
	}
	rc->hash_mask = HASH_MIN - 1;
	rc->mm = mm;
	rc->ops = ops;
	rc->ctx = ctx;
	pthread_mutex_init(&rc->lock, NULL);
	umn_itree_init(&rc->index);
	rc->page = (unsigned long)sysconf(_SC_PAGESIZE);
	return rc;
}

static int region_miss(struct regcache *rc, unsigned long start,
		       unsigned long len, struct regcache_region **out)
{
	struct regcache_region *r = calloc(1, sizeof(*r));
	unsigned long seq, s, l;
	void *handle;
	int ret;

	if (!r)
		return -ENOMEM;
	r->rc = rc;
	r->start = start;
	r->len = len;
	ret = umn_interval_notifier_insert(&r->sub, rc->mm, start, len,
					   &region_ops);
	if (ret) {
		free(r);
		return ret;
	}
	for (;;) {
		seq = umn_interval_read_begin(&r->sub);
		ret = rc->ops->reg(rc->ctx, start, len, &handle);
		if (ret) {
			umn_interval_notifier_remove(&r->sub);
			free(r);
			return ret;
		}
		pthread_mutex_lock(&rc->lock);
		if (!umn_interval_read_retry(&r->sub, seq))
			break;
		/* An unmap hit the range while we registered: redo. */
		rc->stats.retries++;
		pthread_mutex_unlock(&rc->lock);
		rc->ops->dereg(rc->ctx, handle);
	}
	/* A refusal from before read_begin concerns an older mapping. */
	if (umn_interval_deferred_pending(&r->sub))
		(void)umn_interval_take_deferred(&r->sub, &s, &l);
	r->handle = handle;
	r->refs = 2;		/* the index's and the caller's */
	r->valid = true;
	r->node.start = start;
	r->node.last = start + len - 1;
	index_insert_locked(rc, r);
	rc->stats.misses++;
	pthread_mutex_unlock(&rc->lock);
	*out = r;
	return 0;
}

int regcache_get(struct regcache *rc, unsigned long addr, unsigned long len,
		 struct regcache_region **out)
{
	unsigned long start, end;
	struct regcache_region *r;
	bool dead;

	if (!rc || !out || len == 0 || addr + len < addr)
		return -EINVAL;
	start = addr & ~(rc->page - 1);
	end = (addr + len + rc->page - 1) & ~(rc->page - 1);
	if (end < start)
		return -EINVAL;
	pthread_mutex_lock(&rc->lock);
	r = index_lookup(rc, start, end);
	if (r)
		rc->stats.hits++;
	dead = rc->dead != NULL;
	pthread_mutex_unlock(&rc->lock);
	if (dead)
		reclaim(rc);
	if (r) {
		*out = r;
		return 0;
	}
	return region_miss(rc, start, end - start, out);
}

/*
 * One atomic decrement unless it is the last reference, which can only be
 * the last user of an invalidated region (a valid one still has the
 * index's): then queue and reclaim it.
 */
void regcache_put(struct regcache *rc, struct regcache_region *r)
{
	if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_lock(&rc->lock);
	region_dead_locked(rc, r);
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc);
}

void regcache_flush(struct regcache *rc)
{
	struct umn_itree_node *n, *next;

	pthread_mutex_lock(&rc->lock);
	for (n = umn_itree_iter_first(&rc->index, 0, ~0ul); n; n = next) {
		struct regcache_region *r = node_region(n);

		next = umn_itree_iter_next(n, 0, ~0ul);
		/* only the index's reference: no user holds it */
		if (__atomic_load_n(&r->refs, __ATOMIC_ACQUIRE) == 1)
			region_invalidate_locked(rc, r);
	}
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc);
}

void regcache_destroy(struct regcache *rc)
{
	if (!rc)
		return;
	regcache_flush(rc);
	pthread_mutex_destroy(&rc->lock);
	free(rc->hash);
	free(rc);
}

void regcache_stats(struct regcache *rc, struct regcache_stats *out)
{
	pthread_mutex_lock(&rc->lock);
	*out = rc->stats;
	out->dereg = __atomic_load_n(&rc->stats.dereg, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&rc->lock);
}
