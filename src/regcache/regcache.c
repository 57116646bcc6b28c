/* SPDX-License-Identifier: MIT */
/*
 * The registration cache; the contract is in <umn/regcache.h>.
 *
 * A region's life is one word, node->refs: the count of users (low bits)
 * and four flags, changed only by atomic read-modify-writes so that a hit,
 * a callback, an eviction and the last put agree on who does what:
 *
 *   PUB       published by the miss that registered it (set together with
 *             the miss's own reference, under the cache lock)
 *   DEAD      invalid: no hit takes a new reference (set by a callback, an
 *             explicit invalidate, an eviction, a merge, a flush)
 *   UNLINKED  out of the index (set under the lock): whoever then sees the
 *             user count at zero -- the unlinker or the last put --
 *             deregisters it
 *
 * A hit: look the start address up in the hash without a lock, then
 * compare-and-swap users + 1 only while the word says PUB and not DEAD.  The
 * swap is the whole validity check: a callback's fetch-or of DEAD is
 * ordered before or after it, so a region is never handed out once its
 * invalidation has started.
 *
 * Nodes are type-stable: a node is reused only as another node of the same
 * cache and freed only by destroy, so a hit may read a node it found in the
 * hash even while it is being recycled (it validates start and len after
 * taking its reference, as with SLAB_TYPESAFE_BY_RCU).  Hash tables
 * replaced by a resize are freed by destroy too.  No grace period, no RCU
 * read-side section: the hit is a few loads and one atomic.
 *
 * A callback (any context, never blocks, never refuses): set the
 * subscription's seq, fetch-or DEAD; if it made a published region dead,
 * push it on a lock-free stack (each region at most once).  The next get,
 * put, invalidate or flush drains the stack under the cache lock, unlinks
 * the regions and deregisters the unused ones outside the lock.
 *
 * A miss: a node with refs 0, interval subscription inserted; again:
 * seq = read_begin; ops->reg without any lock; lock; if read_retry or the
 * word is no longer 0 (a callback made it DEAD), unlock, dereg, reset the
 * word with an exchange (which orders the callback's set_seq before the
 * next read_begin) and go again; else compare-and-swap 0 -> PUB | 1 and
 * link it in the same critical section.
 *
 * Eviction: CLOCK over the cached regions (a referenced bit per region,
 * written by a hit only when it is clear), under the lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <umn/interval.h>
#include <umn/regcache.h>
#include "debug.h"
#include "interval_walk.h"

#define R_USERS    0x0fffffffu
#define R_PUB      0x10000000u
#define R_DEAD     0x20000000u
#define R_UNLINKED 0x40000000u
/* a node on the free list */
#define R_FREE     (R_DEAD | R_UNLINKED)

#define HIT_SLOTS 64		/* per-thread hit counters, per cache */
#define HASH_MIN_BITS 8
#define HASH_WALK_MAX 16	/* a lock-free walk longer than this gives up */
#define CACHELINE 64

struct rc_node {
	/* first: a callback's sub is its node.  It is also the cache's
	 * address index: linked regions are found by walking the address
	 * space's subscription tree (umnp_interval_walk), no second tree */
	struct umn_interval_notifier sub;	/* the region's pages */
	struct rc_node *cnext, *cprev;		/* CLOCK ring while linked */
	struct rc_node *lnext;			/* pending stack, free list,
						 * reclaim batches */
	struct umn_regcache *rc;
	unsigned int epoch;			/* rc->epoch at allocation */
	unsigned char pending;			/* counted in pending_dereg */
	unsigned char in_hash;
	unsigned char linked;			/* in the index (the lock) */
	/* what a hit touches, 32 bytes that never straddle a cache line
	 * (nodes are allocated so that pub sits at 32 mod 64): the hash
	 * link, the word, the CLOCK bit, then the public part */
	struct rc_node *hnext __attribute__((aligned(32)));
	unsigned int refs;
	unsigned char referenced;		/* CLOCK bit, atomic */
	struct umn_regcache_region pub;		/* last: user data follows */
};

_Static_assert(offsetof(struct rc_node, pub) -
	       offsetof(struct rc_node, hnext) == 16, "hot fields not packed");

struct rc_table {
	unsigned int shift;			/* 64 - log2(buckets) */
	unsigned long nbuckets;
	struct rc_table *older;			/* replaced ones, for destroy */
	struct rc_node *b[];
};

/* Nodes are carved from chunks that live as long as the cache (they are
 * type-stable: see above); no per-node malloc overhead. */
#define CHUNK_BYTES (64ul * 1024)
struct rc_chunk {
	struct rc_chunk *next;
	unsigned long used;			/* nodes carved */
	unsigned long cap;
} __attribute__((aligned(CACHELINE)));

#define chunk_node(rc, c, i) ((struct rc_node *)(void *)((char *)((c) + 1) + \
					(i) * (rc)->node_size))

struct hit_slot {
	unsigned long hits;
} __attribute__((aligned(CACHELINE)));

struct umn_regcache {
	/* read by every hit, written by misses and resizes only */
	struct rc_table *table;
	unsigned long align_mask;
	unsigned int align_shift;
	unsigned int flags;
	unsigned int epoch;			/* bumped in a fork child */

	/* written by callbacks: its own line, read by every get and put */
	struct rc_node *pending __attribute__((aligned(CACHELINE)));

	pthread_mutex_t lock __attribute__((aligned(CACHELINE)));
	struct umn_mm *mm;			/* NULL: umn_mm_self() */
	const struct umn_regcache_ops *ops;
	void *ctx;
	size_t node_size;
	unsigned long max_regions, max_bytes;
	struct rc_node *hand;			/* CLOCK hand (ring) */
	unsigned long nlinked, linked_bytes;
	/* every linked region lies in [span_first, span_last] (widened by
	 * link, reset when the cache empties): a walk of a range outside it
	 * is skipped without taking the address space's lock */
	unsigned long span_first, span_last;
	struct rc_chunk *chunks;		/* every node, newest first */
	struct rc_node *free_nodes;
	/* in a fork child: the parent's chunks, until adopt_orphans() takes
	 * their nodes back (written by atfork_child, then under the lock) */
	struct rc_chunk *orphans;
	struct umn_regcache *list_next;		/* all caches (fork) */

	/* counters other than hits: atomics, off the hit path */
	unsigned long misses, retries, invalidated, deferred, dereg, evicted,
		merged, regions, bytes, pending_dereg, pending_bytes;

	struct hit_slot slots[HIT_SLOTS];
};

static __thread unsigned int tls_slot
	__attribute__((tls_model("initial-exec")));
static unsigned int next_slot;

/* ---- fork ---- */

static pthread_mutex_t caches_lock = PTHREAD_MUTEX_INITIALIZER;
static struct umn_regcache *caches;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* The self address space (weak: libumn may be built without it). */
extern struct umn_mm *umnp_self_mm __attribute__((weak));

static void atfork_prepare(void)
{
	pthread_mutex_lock(&caches_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&caches_lock);
}

/* The child: every cache forgets the parent's regions without touching
 * them (their subscriptions live in an address space the child abandons,
 * their registrations in the parent's device context).  Locks another
 * parent thread held are re-initialised, never taken. */
static void atfork_child(void)
{
	pthread_mutex_init(&caches_lock, NULL);
	for (struct umn_regcache *rc = caches; rc; rc = rc->list_next) {
		struct rc_table *t = rc->table;

		pthread_mutex_init(&rc->lock, NULL);
		memset(t->b, 0, t->nbuckets * sizeof(t->b[0]));
		rc->pending = NULL;
		rc->hand = NULL;
		rc->nlinked = rc->linked_bytes = 0;
		/* the parent's nodes wait for adopt_orphans(), which runs
		 * in a blockable context (a miss, destroy): it may have to
		 * remove their subscriptions */
		if (rc->chunks) {
			struct rc_chunk *c = rc->chunks;

			while (c->next)
				c = c->next;
			c->next = rc->orphans;
			rc->orphans = rc->chunks;
		}
		rc->chunks = NULL;
		rc->free_nodes = NULL;
		rc->epoch++;
		rc->misses = rc->retries = rc->invalidated = rc->deferred = 0;
		rc->dereg = rc->evicted = rc->merged = rc->regions = 0;
		rc->bytes = rc->pending_dereg = rc->pending_bytes = 0;
		memset(rc->slots, 0, sizeof(rc->slots));
	}
}

static void fork_setup(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- helpers ---- */

#define LOAD(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELAXED)
#define ADD(p, v) __atomic_add_fetch(&(p), (v), __ATOMIC_RELAXED)
#define SUB(p, v) __atomic_sub_fetch(&(p), (v), __ATOMIC_RELAXED)
/* a counter written only under the cache lock, read without it */
#define INC_LOCKED(p, v) STORE(p, (p) + (v))

static inline struct rc_node *node_of(struct umn_regcache_region *region)
{
	return (struct rc_node *)(void *)((char *)region -
					  offsetof(struct rc_node, pub));
}

static inline struct rc_node *sub_node(struct umn_interval_notifier *sub)
{
	return (struct rc_node *)(void *)sub;
}

/* A node of this cache in its index (a walk also meets other caches'
 * nodes, nodes a miss has not linked yet or that wait for deregistration,
 * and in a fork child the parent's). */
static inline bool mine_linked(const struct umn_regcache *rc,
			       const struct rc_node *n)
{
	return n->rc == rc && n->epoch == rc->epoch && n->linked;
}

static inline unsigned long hash_idx(const struct umn_regcache *rc,
				     const struct rc_table *t,
				     unsigned long start)
{
	return ((start >> rc->align_shift) * 0x9e3779b97f4a7c15ul) >> t->shift;
}

/* In a umn callback?  (Detected in libumn builds with debug checks.) */
static inline bool in_callback(const char *func)
{
	return umnp_dbg_in_callback(func);
}

static inline struct hit_slot *my_slot(struct umn_regcache *rc)
{
	unsigned int s = tls_slot;

	if (__builtin_expect(s == 0, 0)) {
		s = __atomic_add_fetch(&next_slot, 1, __ATOMIC_RELAXED);
		s = s % HIT_SLOTS + 1;
		tls_slot = s;
	}
	return &rc->slots[s - 1];
}

/* ---- the hash (lock-free readers, writers under the lock) ---- */

static struct rc_table *table_new(unsigned int bits)
{
	struct rc_table *t = calloc(1, sizeof(*t) +
				    (sizeof(t->b[0]) << bits));

	if (!t)
		return NULL;
	t->shift = 64 - bits;
	t->nbuckets = 1ul << bits;
	return t;
}

/* Double the buckets when the load passes 1.  Readers still on the old
 * table may miss (and take the locked path); the old table lives on until
 * destroy, so their loads stay valid. */
static void hash_grow_locked(struct umn_regcache *rc)
{
	struct rc_table *old = rc->table, *t;
	unsigned int bits = 64 - old->shift + 1;

	t = table_new(bits);
	if (!t)
		return;		/* longer chains; still correct */
	for (unsigned long i = 0; i < old->nbuckets; i++) {
		struct rc_node *n = old->b[i], *next;

		for (; n; n = next) {
			unsigned long h = hash_idx(rc, t, n->pub.start);

			next = n->hnext;
			STORE(n->hnext, t->b[h]);
			t->b[h] = n;
		}
	}
	t->older = old;
	__atomic_store_n(&rc->table, t, __ATOMIC_RELEASE);
}

static void hash_del_locked(struct umn_regcache *rc, struct rc_node *n)
{
	struct rc_table *t = rc->table;
	struct rc_node **pp = &t->b[hash_idx(rc, t, n->pub.start)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			/* n keeps its link: a reader standing on it goes on */
			__atomic_store_n(pp, n->hnext, __ATOMIC_RELEASE);
			break;
		}
	}
	n->in_hash = 0;
}

static void hash_add_locked(struct umn_regcache *rc, struct rc_node *n)
{
	struct rc_table *t = rc->table;
	unsigned long h = hash_idx(rc, t, n->pub.start);

	STORE(n->hnext, t->b[h]);
	__atomic_store_n(&t->b[h], n, __ATOMIC_RELEASE);
	n->in_hash = 1;
}

/* One hashed region per start address: the largest valid one. */
static void hash_offer_locked(struct umn_regcache *rc, struct rc_node *n)
{
	struct rc_table *t = rc->table;
	struct rc_node *o;

	if (n->in_hash)
		return;
	for (o = t->b[hash_idx(rc, t, n->pub.start)]; o; o = o->hnext)
		if (o->pub.start == n->pub.start)
			break;
	if (o) {
		if (o->pub.len >= n->pub.len &&
		    !(__atomic_load_n(&o->refs, __ATOMIC_RELAXED) & R_DEAD))
			return;
		hash_del_locked(rc, o);
	}
	if (rc->nlinked > t->nbuckets)
		hash_grow_locked(rc);
	hash_add_locked(rc, n);
}

/* ---- linking (cache lock held) ---- */

static void link_locked(struct umn_regcache *rc, struct rc_node *n)
{
	n->linked = 1;
	if (!rc->nlinked || n->pub.start < rc->span_first)
		rc->span_first = n->pub.start;
	if (!rc->nlinked || n->pub.start + n->pub.len - 1 > rc->span_last)
		rc->span_last = n->pub.start + n->pub.len - 1;
	if (rc->hand) {
		/* behind the hand: the last the CLOCK looks at */
		n->cnext = rc->hand;
		n->cprev = rc->hand->cprev;
		n->cprev->cnext = n;
		rc->hand->cprev = n;
	} else {
		n->cnext = n->cprev = n;
		rc->hand = n;
	}
	rc->nlinked++;
	rc->linked_bytes += n->pub.len;
	hash_offer_locked(rc, n);
}

/*
 * Take a dead region out of the index.  Returns true if no user holds it:
 * the caller deregisters it; otherwise the last put will.
 */
static bool unlink_locked(struct umn_regcache *rc, struct rc_node *n)
{
	unsigned int v;

	if (n->in_hash)
		hash_del_locked(rc, n);
	n->linked = 0;
	if (n->cnext == n) {
		rc->hand = NULL;
	} else {
		if (rc->hand == n)
			rc->hand = n->cnext;
		n->cprev->cnext = n->cnext;
		n->cnext->cprev = n->cprev;
	}
	n->cnext = n->cprev = NULL;
	rc->nlinked--;
	rc->linked_bytes -= n->pub.len;
	v = __atomic_or_fetch(&n->refs, R_UNLINKED, __ATOMIC_ACQ_REL);
	return (v & R_USERS) == 0;
}

/* Make an unused or used region dead (eviction, merge, explicit): true if
 * this call did it. */
static bool kill(struct rc_node *n)
{
	unsigned int v = __atomic_fetch_or(&n->refs, R_DEAD, __ATOMIC_ACQ_REL);

	return !(v & R_DEAD);
}

/* Drain the callbacks' stack: unlink each region; unused ones go on *out
 * for deregistration outside the lock. */
static void drain_locked(struct umn_regcache *rc, struct rc_node **out)
{
	struct rc_node *n, *next;

	if (!__atomic_load_n(&rc->pending, __ATOMIC_RELAXED))
		return;
	n = __atomic_exchange_n(&rc->pending, NULL, __ATOMIC_ACQUIRE);
	for (; n; n = next) {
		next = n->lnext;
		if (unlink_locked(rc, n)) {
			n->lnext = *out;
			*out = n;
		}
	}
}

/* ---- deregistration (no cache lock held) ---- */

static void node_free_locked(struct umn_regcache *rc, struct rc_node *n)
{
	__atomic_store_n(&n->refs, R_FREE, __ATOMIC_RELEASE);
	n->lnext = rc->free_nodes;
	__atomic_store_n(&rc->free_nodes, n, __ATOMIC_RELAXED);
}

/* Deregister and recycle a list of dead, unlinked, unused regions. */
static void reclaim(struct umn_regcache *rc, struct rc_node *list)
{
	struct rc_node *n, *next;

	if (!list)
		return;
	for (n = list; n; n = n->lnext) {
		umn_interval_notifier_remove(&n->sub);
		rc->ops->dereg(rc->ctx, &n->pub);
		if (n->pending) {
			n->pending = 0;
			SUB(rc->pending_dereg, 1);
			SUB(rc->pending_bytes, n->pub.len);
		}
	}
	pthread_mutex_lock(&rc->lock);
	for (n = list; n; n = next) {
		next = n->lnext;
		INC_LOCKED(rc->dereg, 1);
		INC_LOCKED(rc->regions, -1ul);
		INC_LOCKED(rc->bytes, -n->pub.len);
		node_free_locked(rc, n);
	}
	pthread_mutex_unlock(&rc->lock);
}

/* The blockable housekeeping of get and put: drain and deregister. */
static void drain(struct umn_regcache *rc)
{
	struct rc_node *list = NULL;

	pthread_mutex_lock(&rc->lock);
	drain_locked(rc, &list);
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc, list);
}

/* ---- the callback ---- */

static bool region_invalidate(struct umn_interval_notifier *sub,
			      const struct umn_notifier_range *range,
			      unsigned long cur_seq)
{
	struct rc_node *n = sub_node(sub);
	struct umn_regcache *rc = n->rc;
	unsigned int old;

	umn_interval_set_seq(sub, cur_seq);
	/* a fork child still sees the parent's subscriptions on a managed
	 * address space: their nodes are no longer the cache's */
	if (__builtin_expect(n->epoch != rc->epoch, 0))
		return true;
	old = __atomic_fetch_or(&n->refs, R_DEAD, __ATOMIC_ACQ_REL);
	if ((old & (R_DEAD | R_PUB)) != R_PUB)
		return true;	/* already dead, or a miss still owns it */
	ADD(rc->invalidated, 1);
	if (!umn_notifier_range_blockable(range))
		ADD(rc->deferred, 1);
	n->pending = 1;
	ADD(rc->pending_dereg, 1);
	ADD(rc->pending_bytes, n->pub.len);
	/* last touch of n: once pushed, a drain may recycle it (after the
	 * subscription's removal, which waits for this invalidation) */
	{
		struct rc_node *head = __atomic_load_n(&rc->pending,
						       __ATOMIC_RELAXED);

		do {
			n->lnext = head;
		} while (!__atomic_compare_exchange_n(&rc->pending, &head, n,
						      true, __ATOMIC_RELEASE,
						      __ATOMIC_RELAXED));
	}
	return true;
}

static const struct umn_interval_notifier_ops region_ops = {
	.invalidate = region_invalidate,
};

/* ---- new ---- */

struct umn_regcache *umn_regcache_new(struct umn_mm *mm,
				      const struct umn_regcache_params *p)
{
	struct umn_regcache *rc;
	unsigned long align;

	if (in_callback(__func__)) {
		errno = EDEADLK;
		return NULL;
	}
	if (!mm || !p || !p->ops || !p->ops->reg || !p->ops->dereg) {
		umnp_warn(__func__, "NULL mm, params, ops or op");
		errno = EINVAL;
		return NULL;
	}
	if (p->region_size && p->region_size < sizeof(struct umn_regcache_region)) {
		umnp_warn(__func__, "region_size %zu < sizeof(struct "
			  "umn_regcache_region)", p->region_size);
		errno = EINVAL;
		return NULL;
	}
	align = p->alignment ? p->alignment : (unsigned long)sysconf(_SC_PAGESIZE);
	if (align & (align - 1)) {
		umnp_warn(__func__, "alignment %lu is not a power of two", align);
		errno = EINVAL;
		return NULL;
	}
	if (p->flags & ~UMN_REGCACHE_MERGE) {
		umnp_warn(__func__, "unknown flags 0x%x", p->flags);
		errno = EINVAL;
		return NULL;
	}
	if (posix_memalign((void **)&rc, CACHELINE, sizeof(*rc))) {
		errno = ENOMEM;
		return NULL;
	}
	memset(rc, 0, sizeof(*rc));
	rc->table = table_new(HASH_MIN_BITS);
	if (!rc->table) {
		free(rc);
		errno = ENOMEM;
		return NULL;
	}
	if (&umnp_self_mm && mm == __atomic_load_n(&umnp_self_mm,
						   __ATOMIC_ACQUIRE)) {
		rc->mm = NULL;	/* follow umn_mm_self() across fork */
	} else {
		if (umn_mm_get(mm)) {
			free(rc->table);
			free(rc);
			errno = EINVAL;
			return NULL;
		}
		rc->mm = mm;
	}
	rc->align_mask = align - 1;
	rc->align_shift = (unsigned int)__builtin_ctzl(align);
	rc->flags = p->flags;
	rc->ops = p->ops;
	rc->ctx = p->ctx;
	/* a multiple of 32: every node's hot 32 bytes stay in one line */
	rc->node_size = (offsetof(struct rc_node, pub) +
			 (p->region_size ? p->region_size :
			  sizeof(struct umn_regcache_region)) + 31) & ~31ul;
	rc->max_regions = p->max_regions;
	rc->max_bytes = p->max_bytes;
	pthread_mutex_init(&rc->lock, NULL);
	pthread_once(&fork_once, fork_setup);
	pthread_mutex_lock(&caches_lock);
	rc->list_next = caches;
	caches = rc;
	pthread_mutex_unlock(&caches_lock);
	return rc;
}

static struct umn_mm *rc_mm(struct umn_regcache *rc)
{
	return rc->mm ? rc->mm : __atomic_load_n(&umnp_self_mm,
						 __ATOMIC_ACQUIRE);
}

/* ---- get ---- */

static bool range_ok(struct umn_regcache *rc, const char *func,
		     unsigned long addr, unsigned long len,
		     unsigned long *start, unsigned long *end)
{
	unsigned long e = addr + len;

	if (len == 0 || e < addr || e + rc->align_mask < e) {
		umnp_warn(func, "bad range [%#lx, +%#lx)", addr, len);
		return false;
	}
	*start = addr & ~rc->align_mask;
	*end = (e + rc->align_mask) & ~rc->align_mask;
	return true;
}

/* Take a user reference on n if it is published and valid. */
static inline bool tryget(struct rc_node *n)
{
	unsigned int v = __atomic_load_n(&n->refs, __ATOMIC_RELAXED);

	do {
		if ((v & (R_PUB | R_DEAD)) != R_PUB)
			return false;
	} while (!__atomic_compare_exchange_n(&n->refs, &v, v + 1, true,
					      __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

static void put_node(struct umn_regcache *rc, struct rc_node *n);

/* The lock-free hit: NULL if it must take the locked path. */
static inline struct rc_node *lookup_fast(struct umn_regcache *rc,
					  unsigned long start,
					  unsigned long end)
{
	struct rc_table *t = __atomic_load_n(&rc->table, __ATOMIC_ACQUIRE);
	struct rc_node *n = __atomic_load_n(&t->b[hash_idx(rc, t, start)],
					    __ATOMIC_ACQUIRE);

	for (int i = 0; n && i < HASH_WALK_MAX; i++) {
		if (LOAD(n->pub.start) == start)
			break;
		n = __atomic_load_n(&n->hnext, __ATOMIC_ACQUIRE);
	}
	if (!n || !tryget(n))
		return NULL;
	/* n may have been recycled before our reference: check again */
	if (__builtin_expect(LOAD(n->pub.start) != start ||
			     start + LOAD(n->pub.len) < end, 0)) {
		put_node(rc, n);
		return NULL;
	}
	return n;
}

/* A walk of the index over [start, end) (cache lock held). */
struct rc_walk {
	struct umn_regcache *rc;
	unsigned long start, end;
	struct rc_node *found;		/* lookup */
	struct rc_node **out;		/* merge, invalidate */
};

static void walk_locked(struct umn_regcache *rc, struct rc_walk *w,
			unsigned long first, unsigned long last,
			bool (*fn)(void *arg, struct umn_interval_notifier *sub))
{
	if (!rc->nlinked || last < rc->span_first || first > rc->span_last)
		return;
	umnp_interval_walk(rc_mm(rc), first, last, &region_ops, fn, w);
}

static bool lookup_one(void *arg, struct umn_interval_notifier *sub)
{
	struct rc_walk *w = arg;
	struct rc_node *n = sub_node(sub);

	if (!mine_linked(w->rc, n) || n->pub.start > w->start ||
	    n->pub.start + n->pub.len < w->end || !tryget(n))
		return true;
	w->found = n;
	return false;
}

/* Locked: a valid region covering [start, end), with a reference. */
static struct rc_node *lookup_locked(struct umn_regcache *rc,
				     unsigned long start, unsigned long end)
{
	struct rc_walk w = { .rc = rc, .start = start, .end = end };

	if (!rc->nlinked)
		return NULL;
	walk_locked(rc, &w, start, end - 1, lookup_one);
	if (w.found)
		hash_offer_locked(rc, w.found);
	return w.found;
}

/* Retire the valid regions overlapping or touching [*start, *end) and
 * widen the range to their union (UMN_REGCACHE_MERGE). */
static bool merge_one(void *arg, struct umn_interval_notifier *sub)
{
	struct rc_walk *w = arg;
	struct rc_node *n = sub_node(sub);
	struct umn_regcache *rc = w->rc;

	if (!mine_linked(rc, n) || !kill(n))
		return true;	/* not ours, or dead already: queued */
	if (n->pub.start < w->start)
		w->start = n->pub.start;
	if (n->pub.start + n->pub.len > w->end)
		w->end = n->pub.start + n->pub.len;
	INC_LOCKED(rc->merged, 1);
	if (unlink_locked(rc, n)) {
		n->lnext = *w->out;
		*w->out = n;
	}
	return true;
}

static void merge_locked(struct umn_regcache *rc, unsigned long *start,
			 unsigned long *end, struct rc_node **out)
{
	struct rc_walk w = { .rc = rc, .start = *start, .end = *end,
			     .out = out };

	if (!rc->nlinked)
		return;
	walk_locked(rc, &w, *start ? *start - 1 : 0, *end, merge_one);
	*start = w.start;
	*end = w.end;
}

/*
 * Evict n if it is valid and unused (cache lock held): kill it with one
 * compare-and-swap, which a hit racing us wins, then unlink it and queue it
 * on *out for deregistration.
 */
static void retire_unused_locked(struct umn_regcache *rc, struct rc_node *n,
				 struct rc_node **out)
{
	unsigned int v = R_PUB;

	if (!__atomic_compare_exchange_n(&n->refs, &v, R_PUB | R_DEAD, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return;
	INC_LOCKED(rc->evicted, 1);
	if (unlink_locked(rc, n)) {
		n->lnext = *out;
		*out = n;
	}
}

/* CLOCK: evict unused regions until within the limits. */
static void evict_locked(struct umn_regcache *rc, struct rc_node **out)
{
	unsigned long budget = 2 * rc->nlinked + 1;

	while (rc->hand && budget-- &&
	       ((rc->max_regions && rc->nlinked > rc->max_regions) ||
		(rc->max_bytes && rc->linked_bytes > rc->max_bytes))) {
		struct rc_node *n = rc->hand;

		rc->hand = n->cnext;
		if (LOAD(n->referenced)) {
			STORE(n->referenced, 0);
			continue;
		}
		retire_unused_locked(rc, n, out);
	}
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14 */
#endif

/*
 * Fault a new chunk's whole pages in with one system call instead of one
 * page fault per page as the misses reach them (a fresh cache's misses
 * spent about a fifth of their time in those faults).  Best effort: an
 * older kernel says EINVAL and the pages fault in one by one.
 */
static void chunk_prefault(void *p, size_t len)
{
	unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
	unsigned long a = ((unsigned long)p + page - 1) & ~(page - 1);
	unsigned long e = ((unsigned long)p + len) & ~(page - 1);

	/* the system call itself: populating changes no mapping, so no
	 * interposer (umn's own, a peer's) needs to see it */
	if (e > a)
		(void)syscall(SYS_madvise, a, e - a, MADV_POPULATE_WRITE);
}

/* A node from the free list, or carved from the current chunk (cache lock
 * held: the miss takes it in the same section as its locked lookup). */
static struct rc_node *node_alloc_locked(struct umn_regcache *rc)
{
	struct rc_chunk *c;
	struct rc_node *n;

	n = rc->free_nodes;
	if (n) {
		__atomic_store_n(&rc->free_nodes, n->lnext, __ATOMIC_RELAXED);
		return n;
	}
	c = rc->chunks;
	if (!c || c->used == c->cap) {
		unsigned long cap = (CHUNK_BYTES - sizeof(*c)) / rc->node_size;

		if (cap < 1)
			cap = 1;
		if (posix_memalign((void **)&c, CACHELINE,
				   sizeof(*c) + cap * rc->node_size))
			return NULL;
		chunk_prefault(c, sizeof(*c) + cap * rc->node_size);
		c->used = 0;
		c->cap = cap;
		c->next = rc->chunks;
		rc->chunks = c;
	}
	n = chunk_node(rc, c, c->used);
	memset(n, 0, rc->node_size);
	__atomic_store_n(&n->refs, R_FREE, __ATOMIC_RELAXED);
	c->used++;
	return n;
}

static void node_release(struct umn_regcache *rc, struct rc_node *n)
{
	pthread_mutex_lock(&rc->lock);
	node_free_locked(rc, n);
	pthread_mutex_unlock(&rc->lock);
}

/*
 * In a fork child: take the parent's nodes back (blockable, no lock held).
 * On a managed address space their subscriptions are still in its tree
 * (the child inherited it): remove them first, so that no callback reaches
 * a node once it is reused.  On umn_mm_self() they are in the parent's
 * address space, which the child abandoned untouched (its locks may be held
 * by threads that do not exist here): leave that tree alone, nothing walks
 * it.  A node some thread held at fork time stays out of use until destroy
 * (its put in the child only drops the count: the registration is the
 * parent's).  The chunks join the cache's own list, so destroy frees them.
 */
static void adopt_orphans(struct umn_regcache *rc)
{
	struct rc_chunk *orphans, *c, *last = NULL;
	struct rc_node *freed = NULL, *tail = NULL;

	pthread_mutex_lock(&rc->lock);
	orphans = rc->orphans;
	rc->orphans = NULL;
	pthread_mutex_unlock(&rc->lock);
	if (!orphans)
		return;
	for (c = orphans; c; last = c, c = c->next) {
		for (unsigned long i = 0; i < c->used; i++) {
			struct rc_node *n = chunk_node(rc, c, i);
			unsigned int v = __atomic_load_n(&n->refs,
							 __ATOMIC_ACQUIRE);

			if (rc->mm && n->sub.mm &&
			    umn_interval_notifier_remove(&n->sub))
				continue;	/* reported; stays unused */
			if (v != R_FREE && (v & R_USERS))
				continue;	/* held at fork time */
			__atomic_store_n(&n->refs, R_FREE, __ATOMIC_RELEASE);
			n->lnext = freed;
			freed = n;
			if (!tail)
				tail = n;
		}
	}
	pthread_mutex_lock(&rc->lock);
	last->next = rc->chunks;
	rc->chunks = orphans;
	if (freed) {
		tail->lnext = rc->free_nodes;
		__atomic_store_n(&rc->free_nodes, freed, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&rc->lock);
}

/* A miss with node n (from node_alloc_locked, no lock held now). */
static int get_miss(struct umn_regcache *rc, struct rc_node *n,
		    unsigned long start, unsigned long end, struct rc_node **out)
{
	struct rc_node *list = NULL;
	unsigned long seq;
	int ret;

	memset(&n->sub, 0, sizeof(n->sub));
	n->rc = rc;
	n->epoch = rc->epoch;
	n->pending = 0;
	n->in_hash = 0;
	n->linked = 0;
	STORE(n->referenced, 0);
	STORE(n->pub.start, start);
	STORE(n->pub.len, end - start);
	/* 0: owned by this miss; a callback can only add DEAD */
	__atomic_store_n(&n->refs, 0, __ATOMIC_RELEASE);
	ret = umn_interval_notifier_insert(&n->sub, rc_mm(rc), start,
					   end - start, &region_ops);
	if (ret) {
		node_release(rc, n);
		return ret;
	}
	for (;;) {
		unsigned int v = 0;

		seq = umn_interval_read_begin(&n->sub);
		ret = rc->ops->reg(rc->ctx, &n->pub);
		if (ret) {
			umn_interval_notifier_remove(&n->sub);
			node_release(rc, n);
			return ret;
		}
		pthread_mutex_lock(&rc->lock);
		if (!umn_interval_read_retry(&n->sub, seq) &&
		    __atomic_compare_exchange_n(&n->refs, &v, R_PUB | 1, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			break;
		pthread_mutex_unlock(&rc->lock);
		/* an invalidation hit the range while we registered */
		ADD(rc->retries, 1);	/* (the lock is dropped: atomic) */
		rc->ops->dereg(rc->ctx, &n->pub);
		/* an exchange: reads the callback's DEAD, so its set_seq is
		 * visible to the next read_begin */
		(void)__atomic_exchange_n(&n->refs, 0, __ATOMIC_ACQ_REL);
	}
	link_locked(rc, n);
	INC_LOCKED(rc->misses, 1);
	INC_LOCKED(rc->regions, 1);
	INC_LOCKED(rc->bytes, end - start);
	evict_locked(rc, &list);
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc, list);
	*out = n;
	return 0;
}

static int get_slow(struct umn_regcache *rc, unsigned long start,
		    unsigned long end, struct rc_node **out)
{
	struct rc_node *n, *fresh = NULL, *list = NULL;

	if (__builtin_expect(LOAD(rc->orphans) != NULL, 0))
		adopt_orphans(rc);
	pthread_mutex_lock(&rc->lock);
	drain_locked(rc, &list);
	n = lookup_locked(rc, start, end);
	if (!n) {
		if (rc->flags & UMN_REGCACHE_MERGE)
			merge_locked(rc, &start, &end, &list);
		fresh = node_alloc_locked(rc);
	}
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc, list);
	if (n) {
		struct hit_slot *s = my_slot(rc);

		STORE(s->hits, LOAD(s->hits) + 1);
		*out = n;
		return 0;
	}
	if (!fresh)
		return -ENOMEM;
	return get_miss(rc, fresh, start, end, out);
}

int umn_regcache_get(struct umn_regcache *rc, unsigned long addr,
		     unsigned long len, struct umn_regcache_region **out)
{
	unsigned long start, end;
	struct rc_node *n;
	int ret;

	if (__builtin_expect(!rc || !out, 0)) {
		umnp_warn(__func__, "NULL cache or out");
		return -EINVAL;
	}
	if (in_callback(__func__))
		return -EDEADLK;
	if (!range_ok(rc, __func__, addr, len, &start, &end))
		return -EINVAL;
	n = lookup_fast(rc, start, end);
	if (__builtin_expect(n != NULL, 1)) {
		struct hit_slot *s = my_slot(rc);

		STORE(s->hits, LOAD(s->hits) + 1);
		if (!LOAD(n->referenced))
			STORE(n->referenced, 1);
		if (__builtin_expect(LOAD(rc->pending) != NULL, 0))
			drain(rc);
		*out = &n->pub;
		return 0;
	}
	ret = get_slow(rc, start, end, &n);
	if (ret == 0)
		*out = &n->pub;
	return ret;
}

/* ---- put ---- */

/* Drop a reference; the last one of an unlinked region deregisters it. */
static void put_node(struct umn_regcache *rc, struct rc_node *n)
{
	unsigned int v = __atomic_load_n(&n->refs, __ATOMIC_RELAXED);

	do {
		if (!(v & R_USERS)) {
			umnp_warn("umn_regcache_put", "region %#lx+%#lx is not "
				  "held", n->pub.start, n->pub.len);
			return;
		}
	} while (!__atomic_compare_exchange_n(&n->refs, &v, v - 1, true,
					      __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	if (__builtin_expect(v - 1 == (R_PUB | R_DEAD | R_UNLINKED), 0) &&
	    n->epoch == rc->epoch) {
		n->lnext = NULL;
		reclaim(rc, n);
	}
}

void umn_regcache_put(struct umn_regcache *rc,
		      struct umn_regcache_region *region)
{
	struct rc_node *n;

	if (__builtin_expect(!rc || !region, 0)) {
		umnp_warn(__func__, "NULL cache or region");
		return;
	}
	n = node_of(region);
	if (__builtin_expect(n->rc != rc, 0)) {
		umnp_warn(__func__, "region %p is not from this cache",
			  (void *)region);
		return;
	}
	if (in_callback(__func__))
		return;		/* reported; the reference stays held */
	put_node(rc, n);
	if (__builtin_expect(LOAD(rc->pending) != NULL, 0))
		drain(rc);
}

/* ---- invalidate, flush, destroy ---- */

static bool invalidate_one(void *arg, struct umn_interval_notifier *sub)
{
	struct rc_walk *w = arg;
	struct rc_node *n = sub_node(sub);
	struct umn_regcache *rc = w->rc;

	if (!mine_linked(rc, n) || !kill(n))
		return true;
	ADD(rc->invalidated, 1);
	n->pending = 1;
	ADD(rc->pending_dereg, 1);
	ADD(rc->pending_bytes, n->pub.len);
	if (unlink_locked(rc, n)) {
		n->lnext = *w->out;
		*w->out = n;
	}
	return true;
}

int umn_regcache_invalidate(struct umn_regcache *rc, unsigned long addr,
			    unsigned long len)
{
	struct rc_node *list = NULL;
	struct rc_walk w = { .rc = rc, .out = &list };
	unsigned long start, end;

	if (!rc) {
		umnp_warn(__func__, "NULL cache");
		return -EINVAL;
	}
	if (in_callback(__func__))
		return -EDEADLK;
	if (!range_ok(rc, __func__, addr, len, &start, &end))
		return -EINVAL;
	pthread_mutex_lock(&rc->lock);
	drain_locked(rc, &list);
	if (rc->nlinked)
		walk_locked(rc, &w, start, end - 1, invalidate_one);
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc, list);
	return 0;
}

/* Kill and unlink every unused linked region (cache lock held). */
static void flush_locked(struct umn_regcache *rc, struct rc_node **out)
{
	drain_locked(rc, out);
	for (struct rc_chunk *c = rc->chunks; c && rc->nlinked; c = c->next)
		for (unsigned long i = 0; i < c->used; i++) {
			struct rc_node *n = chunk_node(rc, c, i);

			if (mine_linked(rc, n))
				retire_unused_locked(rc, n, out);
		}
}

int umn_regcache_flush(struct umn_regcache *rc)
{
	struct rc_node *list = NULL;

	if (!rc) {
		umnp_warn(__func__, "NULL cache");
		return -EINVAL;
	}
	if (in_callback(__func__))
		return -EDEADLK;
	pthread_mutex_lock(&rc->lock);
	flush_locked(rc, &list);
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc, list);
	return 0;
}

int umn_regcache_destroy(struct umn_regcache *rc)
{
	struct rc_node *list = NULL;
	struct rc_table *t, *older;
	unsigned long held = 0;

	if (!rc) {
		umnp_warn(__func__, "NULL cache");
		return -EINVAL;
	}
	if (in_callback(__func__))
		return -EDEADLK;
	adopt_orphans(rc);	/* a fork child's: their subscriptions */
	pthread_mutex_lock(&rc->lock);
	for (struct rc_chunk *c = rc->chunks; c; c = c->next)
		for (unsigned long i = 0; i < c->used; i++) {
			struct rc_node *n = chunk_node(rc, c, i);

			/* a node held in the parent at fork is not ours */
			if (n->epoch == rc->epoch &&
			    (__atomic_load_n(&n->refs, __ATOMIC_ACQUIRE) &
			     R_USERS))
				held++;
		}
	if (held) {
		pthread_mutex_unlock(&rc->lock);
		umnp_warn(__func__, "%lu regions still held", held);
		return -EBUSY;
	}
	flush_locked(rc, &list);
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc, list);

	pthread_mutex_lock(&caches_lock);
	for (struct umn_regcache **pp = &caches; *pp; pp = &(*pp)->list_next) {
		if (*pp == rc) {
			*pp = rc->list_next;
			break;
		}
	}
	pthread_mutex_unlock(&caches_lock);
	for (struct rc_chunk *c = rc->chunks, *cn; c; c = cn) {
		cn = c->next;
		free(c);
	}
	for (t = rc->table; t; t = older) {
		older = t->older;
		free(t);
	}
	if (rc->mm)
		umn_mm_put(rc->mm);
	pthread_mutex_destroy(&rc->lock);
	free(rc);
	return 0;
}

/* ---- stats, iteration ---- */

int umn_regcache_stats(struct umn_regcache *rc, struct umn_regcache_stats *o)
{
	unsigned long hits = 0;

	if (!rc || !o) {
		umnp_warn(__func__, "NULL cache or stats");
		return -EINVAL;
	}
	for (int i = 0; i < HIT_SLOTS; i++)
		hits += LOAD(rc->slots[i].hits);
	memset(o, 0, sizeof(*o));
	o->hits = hits;
	o->misses = LOAD(rc->misses);
	o->retries = LOAD(rc->retries);
	o->invalidated = LOAD(rc->invalidated);
	o->deferred = LOAD(rc->deferred);
	o->dereg = LOAD(rc->dereg);
	o->evicted = LOAD(rc->evicted);
	o->merged = LOAD(rc->merged);
	o->regions = LOAD(rc->regions);
	o->bytes = LOAD(rc->bytes);
	o->pending_dereg = LOAD(rc->pending_dereg);
	o->pending_bytes = LOAD(rc->pending_bytes);
	/* each region is queued at most once, and only registered ones */
	o->pending_bound = o->regions;
	return 0;
}

int umn_regcache_for_each(struct umn_regcache *rc,
			  int (*fn)(void *arg,
				    const struct umn_regcache_region *region,
				    unsigned long users, unsigned int flags),
			  void *arg)
{
	struct rc_node *n;
	int ret = 0;

	if (!rc || !fn) {
		umnp_warn(__func__, "NULL cache or fn");
		return -EINVAL;
	}
	if (in_callback(__func__))
		return -EDEADLK;
	pthread_mutex_lock(&rc->lock);
	for (struct rc_chunk *c = rc->chunks; c && !ret; c = c->next) {
		for (unsigned long i = 0; i < c->used && !ret; i++) {
			unsigned int v;

			n = chunk_node(rc, c, i);
			if (!mine_linked(rc, n))
				continue;
			v = __atomic_load_n(&n->refs, __ATOMIC_ACQUIRE);
			ret = fn(arg, &n->pub, v & R_USERS,
				 (v & R_DEAD) ? UMN_REGCACHE_REGION_INVALID :
				 0);
		}
	}
	for (struct rc_chunk *c = rc->chunks; c && !ret; c = c->next) {
		for (unsigned long i = 0; i < c->used && !ret; i++) {
			unsigned int v;

			n = chunk_node(rc, c, i);
			v = __atomic_load_n(&n->refs, __ATOMIC_ACQUIRE);
			/* unlinked but not yet deregistered */
			if ((v & (R_PUB | R_UNLINKED)) ==
			    (R_PUB | R_UNLINKED) && n->epoch == rc->epoch)
				ret = fn(arg, &n->pub, v & R_USERS,
					 UMN_REGCACHE_REGION_INVALID);
		}
	}
	pthread_mutex_unlock(&rc->lock);
	return ret;
}

static int dump_one(void *arg, const struct umn_regcache_region *r,
		    unsigned long users, unsigned int flags)
{
	fprintf(arg, "  [%#lx, %#lx) users %lu%s\n", r->start,
		r->start + r->len, users,
		(flags & UMN_REGCACHE_REGION_INVALID) ? " invalid" : "");
	return 0;
}

void umn_regcache_dump(struct umn_regcache *rc, FILE *f)
{
	struct umn_regcache_stats s;

	if (!rc || !f) {
		umnp_warn(__func__, "NULL cache or file");
		return;
	}
	if (umn_regcache_stats(rc, &s))
		return;
	fprintf(f, "regcache %p: %lu regions, %lu bytes; hits %lu misses %lu "
		"retries %lu invalidated %lu deferred %lu dereg %lu evicted %lu "
		"merged %lu pending %lu (%lu bytes, bound %lu)\n", (void *)rc,
		s.regions, s.bytes, s.hits, s.misses, s.retries, s.invalidated,
		s.deferred, s.dereg, s.evicted, s.merged, s.pending_dereg,
		s.pending_bytes, s.pending_bound);
	umn_regcache_for_each(rc, dump_one, f);
}

/* ---- mlock registration ---- */

static int mlock_reg(void *ctx, struct umn_regcache_region *region)
{
	(void)ctx;
	if (mlock((void *)region->start, region->len))
		return -errno;
	return 0;
}

static void mlock_dereg(void *ctx, struct umn_regcache_region *region)
{
	(void)ctx;
	(void)munlock((void *)region->start, region->len);
}

const struct umn_regcache_ops umn_regcache_mlock_ops = {
	.reg = mlock_reg,
	.dereg = mlock_dereg,
};
