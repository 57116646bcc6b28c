/* SPDX-License-Identifier: MIT */
/*
 * The registration cache; the contract is in <umn/regcache.h>.
 *
 * A region's life is one word, node->state, changed only by atomic
 * read-modify-writes so that a hit, a callback, an eviction and the last
 * put agree on who does what:
 *
 *   PUB       published by the miss that registered it (under the lock)
 *   DEAD      invalid: no hit takes a new reference (set by a callback, an
 *             explicit invalidate, an eviction, a merge, a flush)
 *   UNLINKED  out of the index (set under the lock): whoever then sees no
 *             user left -- the unlinker or the last put -- deregisters it
 *   COUNTING  the lock holder is counting its users (eviction, a put from
 *             another thread): hits take the locked path meanwhile
 *   CLAIMED   its deregistration is decided (under the lock)
 *   DEBT      puts on other threads lowered n->shared below 0 (under the
 *             lock): a lock-free put settles the count under the lock
 *
 * Its users are counted apart, per hit slot (see "references" below): a hit
 * or a put on one thread writes only that thread's counters, never a line
 * another core writes too, and with plain stores.  A hit: look the start
 * address up in the hash without a lock, increment the slot's counter for
 * the region, then load the state; if it is not PUB alone (or start and
 * len no longer match), drop the counter again and take the locked path.
 * A callback's fetch-or of DEAD and the later count of the users (after a
 * membarrier) are the other half: a region is never handed out once its
 * invalidation has started, and never deregistered while a hit holds it.
 *
 * Nodes are type-stable: a node is reused only as another node of the same
 * cache and released only by destroy (to the chunk pool, from which a later
 * cache carves its own nodes, or free), so a hit may read a node it found
 * in the hash even while it is being recycled (it validates state, start
 * and len after taking its reference, as with SLAB_TYPESAFE_BY_RCU).  The
 * hash's bucket array is one mapping reserved at create and grown in place
 * (see "the hash"): no table is ever replaced, a hit holding a stale size
 * reads a usable bucket and at worst misses into the locked path.  No grace
 * period, no RCU read-side section: the hit is a few loads and a plain
 * increment of a counter only its thread writes (no locked instruction:
 * the scans that must see it pay a membarrier instead, see "references").
 *
 * Groups: the regions of one aligned block of 2^block_shift bytes
 * (RC_BLOCK_SHIFT, 256 KiB, or the alignment if larger) share one interval
 * subscription over the whole block, in a struct rc_group; a region that
 * crosses a block boundary (a large one, a merged one) has a group of its
 * own range.  The address space's index so holds one entry per group, and
 * the cache's address lookups (lookup, merge, invalidate) walk it for the
 * groups and each group's list for its regions.  A group's list holds
 * every node ever carved for it, through gnext: a node is pushed with a
 * release store of the head, under the cache lock, and never leaves the
 * list, nor changes its gnext, while the group lives: when its region dies
 * it goes to the group's free nodes, and the next miss in the block takes
 * it back in place.  So a callback walks the list with no lock.  A group
 * whose last node goes free is taken out of the cache's hash of groups
 * (under the lock) and torn down from a blockable context (reclaim, the
 * drain, flush, destroy): its subscription removed, which waits for a
 * callback running on it, then its nodes go to the cache's free list.
 * Meanwhile a miss in the block makes a new group: two groups of one block
 * may both be in the index for a while, and both callbacks run.
 *
 * A callback (any context, never blocks, never refuses, no lock): set the
 * group's seq, group_order; if the group's mask (the 64ths of the block a
 * node in use may cover: set under the lock when a miss takes a node,
 * recomputed under it when nodes go free) has no bit where the range
 * lands, return; else for each node of the list: load its word;
 * unless it is DEAD (dead, or free), load its range, and if the
 * invalidated range meets it, fetch-or DEAD; if that made a published
 * region dead, push it on a lock-free stack (each region at most once).
 * Regions the range does not meet are left alone.  The next get, put,
 * invalidate or flush drains the stack under the cache lock, unlinks the
 * regions and deregisters the unused ones outside the lock.
 *
 * A miss: the block's group (found under the lock, or made with its
 * subscription inserted outside it; if another miss added one first, that
 * one is used and ours removed), a node of it with word 0; again:
 * group_order; seq = read_begin on the group; ops->reg without any lock;
 * lock; if read_retry or the word is no longer 0 (a callback made it DEAD),
 * unlock, dereg, reset the word with an exchange (which orders the
 * callback's set_seq before the next read_begin) and go again; else
 * compare-and-swap 0 -> PUB, take the miss's reference and link it in the
 * same critical section.  A miss on exactly the range of a dead region its
 * drain just claimed takes that node, in its group: dereg, exchange, the
 * same loop (get_reuse).
 *
 * Never stale.  Take an invalidation whose range meets the miss's region:
 * its callback on the group sets the seq, then group_order, then walks.
 * The miss wrote its node (word 0, range, place on the list, its bits in
 * the group's mask), then group_order, then reads the seq (read_begin,
 * then read_retry).  The two
 * group_orders are seq_cst read-modify-writes of one word: one is first.
 *  - The callback's: the miss's read_begin sees its seq; if that
 *    invalidation still runs, read_begin waits for its end.  The
 *    registration starts after it: nothing stale.
 *  - The miss's: the callback sees the node's bits in the mask, and its
 *    walk the node, its range and word 0 or later; it fetch-ors DEAD.  Before the compare-and-swap: that fails, the miss
 *    goes again.  After it: the callback kills the published region before
 *    its invalidation completes, as any cached region.
 * A walk may meet a node a miss is resetting (an old word or range): at
 * worst it kills a region it need not (a false invalidation: registered
 * again at the next get); by the above it never skips one it must kill.
 * The cost of one seq per block: any invalidation in the block during a
 * registration makes the miss go again (a false retry), not only one that
 * meets its region.
 *
 * Eviction: CLOCK over the cached regions (a referenced bit per region,
 * written by a hit only when it is clear), under the lock; the hand sweeps
 * the chunks' nodes in place, no ring through the linked ones.
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
#include "alloc.h"
#include "debug.h"
#include "interval_walk.h"
#include "regcache/regcache_block.h"
#include "regcache/regcache_fork.h"
#include "test_hook.h"

#define R_PUB      0x1u
#define R_DEAD     0x2u
#define R_UNLINKED 0x4u
#define R_COUNTING 0x8u		/* users being counted (lock held): no
				 * hit takes a reference meanwhile */
#define R_CLAIMED  0x10u	/* its deregistration is decided */
#define R_DEBT     0x20u	/* n->shared is below 0 (the lock): a put
				 * on a positive counter checks the sum */
/* a node on the free list */
#define R_FREE     (R_DEAD | R_UNLINKED)
/* what the last put of a region looks for */
#define R_LAST_MASK (R_PUB | R_DEAD | R_UNLINKED | R_CLAIMED)
#define R_LAST      (R_PUB | R_DEAD | R_UNLINKED)
/* what sends a lock-free put to put_settle */
#define R_SETTLE    (R_UNLINKED | R_DEBT)

#define HIT_SLOTS 64		/* per-thread hit counters, per cache */
/* slots 0 .. OWNED_SLOTS - 1 are each owned by one live thread, which alone
 * writes their counters; threads beyond them share the last one, with
 * atomic read-modify-writes (see "references") */
#define OWNED_SLOTS (HIT_SLOTS - 1)
#define SHARED_SLOT (HIT_SLOTS - 1)
/* The hash: one bucket array reserved for the cache's life (see "the
 * hash" below), grown in place by doubling */
#define HASH_MIN_BITS 8		/* buckets usable from the start */
#define HASH_MAX_BITS 24	/* the largest reservation: 128 MiB of
				 * address space, 2^24 buckets */
#define HASH_LOAD 1		/* grow when regions > HASH_LOAD * buckets */
#define HASH_WALK_MAX 16	/* a lock-free walk longer than this gives up */
#define CACHELINE 64

struct rc_group;

struct rc_node {
	/* the cold part, 32 bytes, no field overlaid: its group (see
	 * "groups"), and the group's list of every node carved for it, both
	 * fixed while the group lives and read by the group's callbacks
	 * without a lock; eviction needs no link of its own (the sweep walks
	 * the chunks, see evict_locked) */
	struct rc_group *group;
	struct rc_node *gnext;
	struct rc_node *lnext;			/* pending stack, free lists,
						 * reclaim batches */
	unsigned int shared;			/* references counted under
						 * the lock (see users_locked) */
	unsigned short epoch;			/* rc->epoch at allocation */
	unsigned char in_hash;			/* (the lock) */
	unsigned char linked;			/* in the index (the lock) */
	/* what a hit and a put touch, 32 bytes that never straddle a cache
	 * line (node_size is a multiple of 32 and chunks are line-aligned):
	 * the hash link, the word, the CLOCK bit, where the node's chunk is
	 * (its counters, its cache), then the public part; pending fills
	 * what would be padding (written once by a callback, never by a
	 * hit) */
	struct rc_node *hnext __attribute__((aligned(32)));
	unsigned int state;			/* R_*, atomic */
	unsigned char referenced;		/* CLOCK bit, atomic */
	unsigned char pending;			/* counted in pending_dereg */
	unsigned short off;			/* bytes from its chunk's
						 * start, fixed */
	struct umn_regcache_region pub;		/* last: user data follows */
};

_Static_assert(offsetof(struct rc_node, pub) -
	       offsetof(struct rc_node, hnext) == 16, "hot fields not packed");
_Static_assert(offsetof(struct rc_node, hnext) == 32 &&
	       sizeof(struct rc_node) == 64, "a node grew");

/*
 * A group: the regions of one aligned block of 2^block_shift bytes under
 * one interval subscription over the whole block, or one region that
 * crosses a block boundary under a subscription of its own range (own).
 * Its nodes stay its own while it lives: a node whose region dies goes to
 * the group's free nodes, not the cache's, so the list a callback walks
 * never loses or moves a node (see "groups" at the top).
 */
struct rc_group {
	struct umn_interval_notifier sub;	/* first: ops = rc->sub_ops */
	struct rc_node *nodes;			/* all its nodes, through
						 * gnext: pushed (release)
						 * under the lock, walked by
						 * callbacks without it */
	struct rc_node *free;			/* those not in use (lock),
						 * through lnext */
	struct rc_group *hnext;			/* group hash chain, dying
						 * and orphan lists (lock) */
	struct rc_group *snext;			/* stale masks (reclaim) */
	unsigned long first;			/* block (or range) start */
	unsigned long used;			/* nodes in use: regions and
						 * misses (lock) */
	/* bit i: the block's 64th number i may hold a node in use (a
	 * superset: set when a miss takes a node, recomputed when one goes
	 * free; written under the lock, read by callbacks) */
	unsigned long mask;
	unsigned short epoch;			/* rc->epoch at creation */
	unsigned char own;			/* a crossing region's: no mask */
	unsigned char inserted;			/* sub is inserted */
	unsigned char mask_stale;		/* a node went free (lock) */
	unsigned int order;			/* see group_order */
};

/* 4.5 B per region with 32 regions to a group (doc/regcache.md) */
_Static_assert(sizeof(struct rc_group) == 136, "a group grew");

/*
 * A full barrier between a miss's stores to its node (word, range, place
 * on the list) and its read of the group's seq, and between a callback's
 * set_seq and its reads of the nodes: a seq_cst read-modify-write of the
 * group's one word on both sides (a locked instruction on x86, and what
 * ThreadSanitizer understands, which a fence is not).  The two RMWs are
 * ordered: the later one reads the earlier's write and so sees every store
 * before it; either the callback sees the node, or the miss the seq.
 */
static inline void group_order(struct rc_group *g)
{
	(void)__atomic_fetch_add(&g->order, 0, __ATOMIC_SEQ_CST);
}

#define GROUP_HASH_MIN_BITS 6

_Static_assert(HIT_SLOTS <= 8 * sizeof(unsigned long) &&
	       !(HIT_SLOTS & (HIT_SLOTS - 1)), "slot masks");

/* Nodes are carved from chunks that live as long as the cache (they are
 * type-stable: see above); no per-node malloc overhead. */
#define CHUNK_BYTES (64ul * 1024)
struct rc_chunk {
	/* read by hits and puts (the lines a hit reads are written only
	 * when a slot's array is installed): the cache, for put's check */
	struct umn_regcache *rc;
	/* per hit slot: a counter per node, allocated on the slot's first
	 * reference in this chunk (see slot_ctr) */
	unsigned int *ctr[HIT_SLOTS];
	unsigned long ctr_mask;			/* bit s: ctr[s] may be set */
	struct rc_chunk *next;
	unsigned long used;			/* nodes carved */
	unsigned long cap;
} __attribute__((aligned(CACHELINE)));

/* a node's offset in its chunk fits n->off */
_Static_assert(CHUNK_BYTES <= 65536, "chunk offsets are 16 bits");

#define chunk_node(rc, c, i) ((struct rc_node *)(void *)((char *)((c) + 1) + \
					(i) * (rc)->node_size))
/* the chunk n was carved from */
#define node_chunk(rc, n) ((struct rc_chunk *)(void *)((char *)(n) - (n)->off))

struct hit_slot {
	unsigned long hits;
} __attribute__((aligned(CACHELINE)));

struct umn_regcache {
	/* read by every hit, written by misses and resizes only */
	struct rc_node **buckets;		/* fixed for the cache's life */
	unsigned long align_mask;
	unsigned int align_shift;
	unsigned int block_shift;		/* groups' blocks: 2^this */
	unsigned int gran_shift;		/* a 64th of a block */
	unsigned int flags;
	unsigned short epoch;			/* bumped in a fork child (its
						 * nodes keep 16 bits of it) */
	/* a thread whose tls_slot is at most this (an owned slot) changes
	 * its counters with plain stores: OWNED_SLOTS when the scans issue
	 * membarrier, else 0 (see "references") */
	unsigned short plain_max;
	unsigned int hshift;			/* 64 - log2(buckets in
						 * use); only shrinks, atomic */
	size_t node_size;
	/* every group's sub.ops points here: the group's cache */
	struct umn_interval_notifier_ops sub_ops;
	unsigned long idx_mul;			/* ceil(2^32 / node_size) */

	/* written by callbacks: its own line, read by every get and put */
	struct rc_node *pending __attribute__((aligned(CACHELINE)));

	pthread_mutex_t lock __attribute__((aligned(CACHELINE)));
	struct umn_mm *mm;			/* NULL: umn_mm_self() */
	const struct umn_regcache_ops *ops;
	void *ctx;
	unsigned long max_regions, max_bytes;
	/* the eviction sweep's hand: the next node it looks at is node
	 * hand_idx of hand_chunk (NULL: the first of rc->chunks) */
	struct rc_chunk *hand_chunk;
	unsigned long hand_idx;
	unsigned long ncarved;			/* nodes in rc->chunks */
	/* the bucket array: bytes usable (read-write) from buckets, and
	 * log2 of the most buckets it may reach; 0: calloc'd, not mapped */
	size_t hash_usable, hash_mapped;
	unsigned int hash_cap_bits;
	unsigned long nlinked, linked_bytes;
	/* every linked region lies in [span_first, span_last] (widened by
	 * link, reset when the cache empties): a walk of a range outside it
	 * is skipped without taking the address space's lock */
	unsigned long span_first, span_last;
	struct rc_chunk *chunks;		/* every node, newest first */
	struct rc_node *free_nodes;		/* in no group */
	/* the groups by block (own ones too, never found): a chained
	 * hash, 2^gbits buckets, doubled when ngroups passes them */
	struct rc_group **gtab;
	unsigned int gbits;
	unsigned long ngroups;
	/* in a fork child: the parent's groups, until adopt_orphans() */
	struct rc_group *orphan_groups;
	/* in a fork child: the parent's chunks, until adopt_orphans() takes
	 * their nodes back (written by atfork_child, then under the lock) */
	struct rc_chunk *orphans;
	struct umn_regcache *list_next;		/* all caches (fork) */

	/* counters other than hits: atomics, off the hit path */
	unsigned long misses, retries, invalidated, deferred, dereg, evicted,
		merged, regions, bytes, pending_dereg, pending_bytes;

	struct hit_slot slots[HIT_SLOTS];
};

/* The thread's slot + 1 if it owns it (1 .. OWNED_SLOTS), SHARED_SLOT + 1
 * + HIT_SLOTS if it shares the last one; 0: none yet. */
static __thread unsigned int tls_slot
	__attribute__((tls_model("initial-exec")));
static unsigned long slots_owned;	/* bit s: a live thread owns slot s */
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

/* ---- fork ---- */

static pthread_mutex_t caches_lock = PTHREAD_MUTEX_INITIALIZER;

/* the chunk pool (see pool_take) */
#define POOL_MAX 128		/* chunks: 8 MiB */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rc_chunk *pool;
static unsigned long pool_n;
static struct umn_regcache *caches;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* The self address space (weak: libumn may be built without it). */
extern struct umn_mm *umnp_self_mm __attribute__((weak));

/*
 * fork.  The child is one thread, the caller of fork; a lock another parent
 * thread held stays held in the child, with nobody to release it.  So:
 *   caches_lock, pool_lock: atfork_prepare takes them, so that the list of
 *     caches and the chunk pool are whole at fork (no thread half-way
 *     through a change) and no other thread holds them then; the child,
 *     the thread that took them, releases them as the parent does.  Not
 *     re-initialised: the lock checkers (ThreadSanitizer's deadlock
 *     detector) would go on seeing them held by this thread, and report an
 *     inversion at the child's next cache lock;
 *   each cache's lock: not taken here (a thread may hold one for long, in
 *     a for_each callback, and the caller of fork may hold one), so another
 *     thread may hold it at fork: the child re-initialises it and forgets
 *     everything it guards (atfork_child);
 *   the hit slots (slots_owned): only the caller's stays owned; slot_once
 *     and fork_once are pthread_once controls, which glibc resets in a
 *     child when a parent thread was inside one.
 * regcache.fork has a test for each lock held by another thread at fork.
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&caches_lock);
	pthread_mutex_lock(&pool_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&pool_lock);
	pthread_mutex_unlock(&caches_lock);
}

/* The child: every cache forgets the parent's regions without touching
 * them (their subscriptions live in an address space the child abandons,
 * their registrations in the parent's device context). */
static void atfork_child(void)
{
	/* taken by this very thread in atfork_prepare (see above) */
	pthread_mutex_unlock(&pool_lock);
	pthread_mutex_unlock(&caches_lock);
	/* only this thread lives on: the other owners' slots are free */
	__atomic_store_n(&slots_owned, tls_slot && tls_slot <= OWNED_SLOTS ?
			 1ul << (tls_slot - 1) : 0, __ATOMIC_RELAXED);
	for (struct umn_regcache *rc = caches; rc; rc = rc->list_next) {
		pthread_mutex_init(&rc->lock, NULL);
		memset(rc->buckets, 0,
		       (sizeof(rc->buckets[0]) << (64 - rc->hshift)));
		rc->pending = NULL;
		rc->hand_chunk = NULL;
		rc->hand_idx = rc->ncarved = 0;
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
		/* the parent's groups as well: adopt_orphans() removes their
		 * subscriptions (a callback on one returns at its epoch) */
		for (unsigned long b = 0; b < (1ul << rc->gbits); b++) {
			struct rc_group *g, *gn;

			for (g = rc->gtab[b]; g; g = gn) {
				gn = g->hnext;
				g->hnext = rc->orphan_groups;
				rc->orphan_groups = g;
			}
			rc->gtab[b] = NULL;
		}
		rc->ngroups = 0;
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

/* The same handlers for a fork umn makes itself (regcache_fork.h). */
void umnp_regcache_fork_prepare(void)
{
	atfork_prepare();
}

void umnp_regcache_fork_parent(void)
{
	atfork_parent();
}

void umnp_regcache_fork_child(void)
{
	atfork_child();
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

/* n's index in its chunk, for its counters (see idx_mul) */
static inline unsigned int node_idx(const struct umn_regcache *rc,
				    const struct rc_node *n)
{
	return (unsigned int)(((unsigned long)n->off -
			       sizeof(struct rc_chunk)) * rc->idx_mul >> 32);
}

static inline struct rc_group *sub_group(struct umn_interval_notifier *sub)
{
	return (struct rc_group *)(void *)sub;
}

/* A node of this cache in its index (a group's list also holds nodes a
 * miss has not linked yet, that wait for deregistration or are free, and
 * in a fork child the parent's). */
static inline bool mine_linked(const struct umn_regcache *rc,
			       const struct rc_node *n)
{
	return n->epoch == rc->epoch && n->linked;
}

/* The bucket of start among 2^(64 - shift): the top bits of a Fibonacci
 * hash (consecutive regions land in evenly spread buckets).  Doubling
 * splits bucket i into 2i and 2i + 1 (see hash_grow_locked). */
static inline unsigned long hash_idx(const struct umn_regcache *rc,
				     unsigned int shift, unsigned long start)
{
	return ((start >> rc->align_shift) * 0x9e3779b97f4a7c15ul) >> shift;
}

/* In a umn callback?  (Detected in libumn builds with debug checks.) */
static inline bool in_callback(const char *func)
{
	return umnp_dbg_in_callback(func);
}

/* A thread that owned a slot exits: the slot goes back (its counters stay
 * as they are: only their sums mean something). */
static void slot_release(void *arg)
{
	unsigned int s = (unsigned int)(unsigned long)arg - 1;

	tls_slot = 0;
	__atomic_fetch_and(&slots_owned, ~(1ul << s), __ATOMIC_RELEASE);
}

static void slot_key_create(void)
{
	if (pthread_key_create(&slot_key, slot_release))
		slot_key = (pthread_key_t)-1;
}

/* The lowest free slot, owned until the thread exits, so that the slots
 * in use (the counter arrays a count reads) follow the live threads, not
 * every thread there ever was; with all OWNED_SLOTS owned, the shared
 * one (its counters change by atomic read-modify-writes only). */
static __attribute__((noinline)) unsigned int slot_take(void)
{
	unsigned long m = __atomic_load_n(&slots_owned, __ATOMIC_RELAXED);
	unsigned int s;

	pthread_once(&slot_once, slot_key_create);
	while (~m && slot_key != (pthread_key_t)-1) {
		s = (unsigned int)__builtin_ctzl(~m);
		if (s >= OWNED_SLOTS)
			break;
		/* seq_cst: see fence_needed */
		if (__atomic_compare_exchange_n(&slots_owned, &m, m | 1ul << s,
						true, __ATOMIC_SEQ_CST,
						__ATOMIC_RELAXED)) {
			if (pthread_setspecific(slot_key,
						(void *)(unsigned long)(s + 1))) {
				__atomic_fetch_and(&slots_owned, ~(1ul << s),
						   __ATOMIC_RELEASE);
				break;
			}
			tls_slot = s + 1;
			return s;
		}
	}
	tls_slot = SHARED_SLOT + 1 + HIT_SLOTS;
	return SHARED_SLOT;
}

/* The calling thread's slot, 0 .. HIT_SLOTS - 1. */
static inline unsigned int slot_idx(void)
{
	unsigned int s = tls_slot;

	if (__builtin_expect(s == 0, 0))
		return slot_take();
	return (s - 1) & (HIT_SLOTS - 1);
}

static inline struct hit_slot *my_slot(struct umn_regcache *rc)
{
	return &rc->slots[slot_idx()];
}

/* ---- references ----
 *
 * Who holds a region: n->shared plus, for each hit slot, the slot's counter
 * for n in n's chunk (users_locked).  Only their sum means something: it is
 * the number of references held, plus hits that are about to drop the one
 * they just took.  The sum is taken modulo 2^32 (unsigned arithmetic), and
 * so may be each part: n->shared is an adjustment, not a count.
 *
 * Each counter has one writer.  A slot below OWNED_SLOTS belongs to one
 * live thread (slot_take), and only that thread writes its counters; the
 * threads beyond share SHARED_SLOT and change its counters by atomic
 * read-modify-writes.  n->shared changes under the cache lock only:
 * references taken there when a counter array cannot be allocated (+1),
 * and puts whose own counter is 0 because the get ran on another thread
 * (-1, put_locked: the unit stays on the getter's counter, which only the
 * getter may write).  A put decrements its own counter only when it is
 * positive, and put_locked only when the sum is: with every put matching a
 * get, the sum is never "below 0".  Counters belong to the node's storage,
 * not to one incarnation: they add up to 0 (not each 0) when it is reused.
 *
 * A chunk's ctr_mask says which slots have counter arrays there, so that a
 * count reads only those; a slot's bit is set (seq_cst RMW) before its
 * array is published, so a count that misses the bit comes before the
 * first increment on the array.
 *
 * The count is exact when it matters.  A scan (always under the cache
 * lock) reads the counters one after the other, so a reference taken and
 * dropped on two different counters during the scan could hide one that is
 * held.  Scans are therefore only done on a region no hit can take a new
 * reference on: DEAD (callback, invalidate, merge, eviction) or COUNTING
 * (set by the scanner itself, under the lock).  A hit increments its
 * counter, then loads the state; the scanner sets DEAD/COUNTING (an atomic
 * RMW), then loads the counters: either the hit sees the flag and drops its
 * unit again, or the scan sees the increment.  That store-then-load on both
 * sides needs a full barrier on both; it is made asymmetric (as liburcu's
 * and the kernel's membarrier users do): on an owned slot the hit's
 * increment is a plain load and store (no locked instruction) followed by
 * a compiler barrier only, and the scanner, between setting the flag and
 * reading the counters, calls membarrier(PRIVATE_EXPEDITED), which runs a
 * full barrier on every CPU that runs a thread of the process: a hit whose
 * store came before that barrier is seen by the scan, one whose state load
 * came after it sees the flag.  One call covers a whole batch of regions
 * (a drain, an invalidate's or a merge's walk, a flush), and none is made
 * when no other thread's plain-store counters exist in the region's chunk
 * (fence_needed: ctr_mask holds no owned slot but the caller's, so a
 * single-threaded process never makes one).  Without membarrier (old
 * kernel, a seccomp filter: fence_setup) every increment and decrement is
 * a seq_cst RMW and the state load follows it, as on the shared slot: on
 * x86 the locked RMW orders the load after the store.
 *
 * Then every reference held during the scan was taken before it and is
 * seen, and counters only go down except for such short-lived hits: the
 * sum read is never below the number of references held at the end of the
 * scan, and 0 means none.  Later scans of a region that stays DEAD need no
 * barrier of their own: the hits after the first one's all saw DEAD.
 *
 * The last reference of a dead region: whoever drops a unit lock-free
 * (store, then a compiler barrier; or an RMW) loads the state afterwards;
 * if it is UNLINKED, it counts under the lock (put_settle).  The unlinker
 * sets UNLINKED (seq_cst RMW), then the barrier as above, and counts, under
 * the lock.  One of the two sees the other; both may, and R_CLAIMED (under
 * the lock) lets only one of them deregister.
 *
 * get and put are not async-signal-safe (the locked path takes a mutex);
 * the plain increment relies on it too: a get and put in a signal handler
 * between the owner's load and store of its counter would be lost.
 */

/* ---- the scanner's barrier ---- */

#ifndef MEMBARRIER_CMD_PRIVATE_EXPEDITED
#define MEMBARRIER_CMD_QUERY 0
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED (1 << 3)
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)
#endif

/* membarrier(PRIVATE_EXPEDITED) registered for the process (fence_setup,
 * at the first cache's creation): caches created then on use plain
 * stores on owned slots */
static bool fence_ok;
static pthread_once_t fence_once = PTHREAD_ONCE_INIT;
static volatile char *fence_page;	/* for fence_backup */

#if UMN_TEST_HOOKS
/* white-box (hook builds): the number of barriers issued */
unsigned long umn__test_rc_fences;
#endif

static long sys_membarrier(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

static void fence_setup(void)
{
	long cmds = sys_membarrier(MEMBARRIER_CMD_QUERY);
	/* the system calls themselves: no interposer needs to see the
	 * backup's page */
	void *p = (void *)syscall(SYS_mmap, NULL,
				  (size_t)sysconf(_SC_PAGESIZE),
				  PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	/* ENOSYS (older than Linux 4.14), EPERM or EINVAL (a seccomp
	 * filter, a kernel without the command): atomic RMWs */
	if (p == MAP_FAILED)
		return;
	if (cmds <= 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) ||
	    sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)) {
		(void)syscall(SYS_munmap, p, (size_t)sysconf(_SC_PAGESIZE));
		return;
	}
	fence_page = p;
	fence_ok = true;
}

/*
 * If membarrier fails although it was registered (a seccomp filter added
 * since; the registration survives fork): a downgrade of a touched page's
 * protection, whose TLB shootdown interrupts every CPU that may run the
 * process, a full barrier on x86 (as .NET's FlushProcessWriteBuffers
 * does).  Reported once.
 */
static __attribute__((noinline, cold)) void fence_backup(void)
{
	static int warned;
	size_t sz = (size_t)sysconf(_SC_PAGESIZE);

	if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		umnp_warn("umn_regcache", "membarrier failed (errno %d): "
			  "scans use page protection changes instead", errno);
	fence_page[0] = 1;
	(void)syscall(SYS_mprotect, fence_page, sz, PROT_READ);
	(void)syscall(SYS_mprotect, fence_page, sz, PROT_READ | PROT_WRITE);
}

/* The full barrier on every thread of the process (cache lock held:
 * between setting DEAD, COUNTING or UNLINKED and counting users). */
static __attribute__((noinline)) void scan_fence(void)
{
#if UMN_TEST_HOOKS
	__atomic_add_fetch(&umn__test_rc_fences, 1, __ATOMIC_RELAXED);
#endif
	if (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		fence_backup();
}

/*
 * Does a scan of n need scan_fence (called after setting the flag)?  Not
 * without plain stores, and not when no live thread but the caller owns a
 * slot with counters in n's chunk: the shared slot's are RMWs, the caller's
 * own stores come before in its program order, and a slot whose thread
 * exited was handed back with a release after its last store.  A thread
 * that takes a slot after the load of slots_owned below does so with a
 * seq_cst RMW (slot_take) before its first hit, whose seq_cst state load
 * then sees the flag set before that load.
 */
static inline bool fence_needed(const struct umn_regcache *rc,
				const struct rc_node *n)
{
	unsigned long m;
	unsigned int s = tls_slot;

	if (!rc->plain_max)
		return false;
	m = __atomic_load_n(&node_chunk(rc, n)->ctr_mask, __ATOMIC_SEQ_CST) &
	    __atomic_load_n(&slots_owned, __ATOMIC_SEQ_CST) &
	    ~(1ul << SHARED_SLOT);
	if (s && s <= OWNED_SLOTS)
		m &= ~(1ul << (s - 1));
	return m != 0;
}

/* A new array of per-node counters for slot s of chunk c, or the one
 * another thread of the slot installed first; NULL if out of memory. */
static unsigned int *ctr_alloc(struct rc_chunk *c, unsigned int s)
{
	size_t bytes = (c->cap * sizeof(unsigned int) + CACHELINE - 1) &
		       ~(size_t)(CACHELINE - 1);
	unsigned int *a, *old = NULL;

	/* whole lines: no other slot's counters share them */
	if (umnp_fault_alloc() || posix_memalign((void **)&a, CACHELINE, bytes))
		return NULL;
	memset(a, 0, bytes);
	/* the bit before the array: a count that reads the mask before the
	 * bit is set comes before any increment on the array (see
	 * "references") */
	__atomic_fetch_or(&c->ctr_mask, 1ul << s, __ATOMIC_SEQ_CST);
	if (!__atomic_compare_exchange_n(&c->ctr[s], &old, a, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		free(a);
		a = old;
	}
	return a;
}

/* Slot s's counter for n; NULL if it has none (and alloc is false or
 * memory is short): the caller then counts in n->shared, under the lock. */
static inline unsigned int *slot_ctr(const struct umn_regcache *rc,
				     struct rc_node *n, unsigned int s,
				     bool alloc)
{
	unsigned int idx = node_idx(rc, n);
	struct rc_chunk *c = node_chunk(rc, n);
	unsigned int *a = __atomic_load_n(&c->ctr[s], __ATOMIC_SEQ_CST);

	if (__builtin_expect(a == NULL, 0)) {
		if (!alloc)
			return NULL;
		a = ctr_alloc(c, s);
		if (!a)
			return NULL;
	}
	return &a[idx];
}

/* The references held on n (cache lock held; exact only if n is DEAD or
 * COUNTING, see above). */
static unsigned int users_locked(const struct umn_regcache *rc,
				 const struct rc_node *n)
{
	const struct rc_chunk *c = node_chunk(rc, n);
	unsigned long m = __atomic_load_n(&c->ctr_mask, __ATOMIC_SEQ_CST);
	unsigned int sum = n->shared;

	for (; m; m &= m - 1) {
		unsigned int s = (unsigned int)__builtin_ctzl(m);
		unsigned int *a = __atomic_load_n(&c->ctr[s],
						  __ATOMIC_SEQ_CST);

		if (a)
			sum += __atomic_load_n(&a[node_idx(rc, n)],
					       __ATOMIC_SEQ_CST);
	}
	return sum;
}

/* Set COUNTING on n if it is valid, then the barrier if needed: the count
 * that follows is exact (cache lock held).  True if COUNTING was set. */
static bool count_start_locked(struct umn_regcache *rc, struct rc_node *n)
{
	unsigned int st = __atomic_load_n(&n->state, __ATOMIC_RELAXED);
	bool counting = (st & (R_PUB | R_DEAD)) == R_PUB;

	if (counting)
		__atomic_fetch_or(&n->state, R_COUNTING, __ATOMIC_SEQ_CST);
	if (fence_needed(rc, n))
		scan_fence();
	return counting;
}

/* n->shared went down, or n was published: mark n if it is in debt. */
static void debt_mark_locked(struct rc_node *n)
{
	if ((int)n->shared < 0)
		__atomic_fetch_or(&n->state, R_DEBT, __ATOMIC_RELAXED);
}

/* Take a reference under the lock: on slot s's counter, else shared. */
static void ref_locked(struct umn_regcache *rc, struct rc_node *n,
		       unsigned int s)
{
	unsigned int *c = slot_ctr(rc, n, s, true);

	if (c)
		__atomic_add_fetch(c, 1, __ATOMIC_SEQ_CST);
	else
		n->shared++;
}

/* ---- the hash (lock-free readers, writers under the lock) ---- */

/*
 * The hash.  The bucket array is reserved once, at create, for the most
 * buckets the cache may need (max_regions / HASH_LOAD, else
 * 2^HASH_MAX_BITS), with no access: address space only, no memory and no
 * commit charge (MAP_NORESERVE; pages made usable are charged).  A grow
 * makes the next pages read-write (untouched, they cost nothing until the
 * split writes them) and splits every bucket in place.  Nothing is ever
 * freed or made inaccessible before destroy, so a lock-free reader that
 * loaded any size reads a usable bucket.  Under an address-space limit
 * (ulimit -v) a smaller reservation is taken, reported once; if not even a
 * page can be mapped, a calloc'd array of 2^HASH_MIN_BITS buckets that
 * never grows.  Past the reservation, the load goes above HASH_LOAD:
 * longer chains, still correct (a hit walks at most HASH_WALK_MAX nodes,
 * then takes the locked path, which finds every region through the address
 * space's index).  Replaced tables used to be kept until destroy because a
 * hit might still read one: 10.4 B per region at 1e5.  Destroy keeps one
 * array for the next cache (see hash_pool).
 */
/*
 * One bucket array of a destroyed cache is kept for the next cache, as the
 * chunk pool keeps node chunks (see there: a first touch costs ~15 us a
 * page on this project's VMs, and row 8c creates a cache per round), with
 * at most HASH_POOL_KEEP bytes of it still usable and resident.  Only its
 * first 2^HASH_MIN_BITS buckets are cleared: a split writes both buckets it
 * makes, so what lies beyond the size in use is never read.  Under
 * pool_lock.
 */
#define HASH_POOL_KEEP (1ul << 20)
static struct rc_node **hash_pool;
static size_t hash_pool_mapped, hash_pool_usable;

static size_t page_round(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (n + page - 1) & ~(page - 1);
}

static int hash_init(struct umn_regcache *rc, unsigned long max_regions)
{
	unsigned int cap = HASH_MAX_BITS, want;
	size_t first = page_round(sizeof(rc->buckets[0]) << HASH_MIN_BITS);

	if (max_regions) {
		unsigned long nb = (max_regions + HASH_LOAD - 1) / HASH_LOAD;

		cap = nb <= 1ul << HASH_MIN_BITS ? HASH_MIN_BITS :
		      64 - (unsigned int)__builtin_clzl(nb - 1);
		if (cap > HASH_MAX_BITS)
			cap = HASH_MAX_BITS;
	}
	UMNP_HOOK(UMNP_HOOK_RC_HASH_RESERVE, &cap);
	want = cap;
	pthread_mutex_lock(&pool_lock);
	/* the same reservation only: a small cache would keep a large one's
	 * resident pages */
	if (hash_pool && cap >= HASH_MIN_BITS && hash_pool_mapped ==
	    page_round(sizeof(rc->buckets[0]) << cap)) {
		rc->buckets = hash_pool;
		rc->hash_mapped = hash_pool_mapped;
		rc->hash_usable = hash_pool_usable;
		hash_pool = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	if (rc->buckets)
		memset(rc->buckets, 0, sizeof(rc->buckets[0]) << HASH_MIN_BITS);
	for (; !rc->buckets && cap >= HASH_MIN_BITS; cap--) {
		size_t bytes = page_round(sizeof(rc->buckets[0]) << cap);
		/* the system calls themselves, as for the fence page: no
		 * interposer needs to see the cache's own mappings */
		void *p = (void *)syscall(SYS_mmap, NULL, bytes, PROT_NONE,
					  MAP_PRIVATE | MAP_ANONYMOUS |
					  MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			continue;
		if (syscall(SYS_mprotect, p, first, PROT_READ | PROT_WRITE)) {
			(void)syscall(SYS_munmap, p, bytes);
			continue;
		}
		rc->buckets = p;
		rc->hash_mapped = bytes;
		rc->hash_usable = first;
		break;
	}
	if (!rc->buckets) {
		rc->buckets = calloc(1ul << HASH_MIN_BITS,
				     sizeof(rc->buckets[0]));
		if (!rc->buckets)
			return -ENOMEM;
		cap = HASH_MIN_BITS;
	}
	if (cap < want) {
		static int warned;

		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			umnp_warn("umn_regcache_new", "the address space "
				  "limit leaves room for 2^%u hash buckets "
				  "(2^%u wanted): chains grow longer past "
				  "them", cap, want);
	}
	rc->hash_cap_bits = cap;
	rc->hshift = 64 - HASH_MIN_BITS;
	return 0;
}

/* The bucket array to the pool (see hash_pool), else unmapped or freed. */
static void hash_fini(struct umn_regcache *rc)
{
	if (!rc->hash_mapped) {
		free(rc->buckets);
		return;
	}
	if (rc->hash_usable > HASH_POOL_KEEP) {
		/* beyond what the pool keeps: a fresh reservation in place
		 * (its pages freed, no access) */
		void *tail = (char *)rc->buckets + HASH_POOL_KEEP;

		if ((void *)syscall(SYS_mmap, tail,
				    rc->hash_usable - HASH_POOL_KEEP,
				    PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
				    MAP_NORESERVE | MAP_FIXED, -1, 0) == tail)
			rc->hash_usable = HASH_POOL_KEEP;
	}
	pthread_mutex_lock(&pool_lock);
	if (!hash_pool && rc->hash_usable <= HASH_POOL_KEEP) {
		hash_pool = rc->buckets;
		hash_pool_mapped = rc->hash_mapped;
		hash_pool_usable = rc->hash_usable;
		rc->buckets = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	if (rc->buckets)
		(void)syscall(SYS_munmap, rc->buckets, rc->hash_mapped);
}

/*
 * Split bucket i of a table doubling from nb buckets into 2i and 2i + 1
 * (cache lock held; the buckets are split from the last down, so both
 * were split already and their heads are free to overwrite; bucket 0 is
 * read before it is written).  Readers may be walking the chain: every
 * link is only ever redirected to a node further down the same chain
 * (each half keeps the chain's order), so a walker never goes back, no
 * cycle can form, and a walk is no longer than the chain was.
 */
static void hash_split_locked(struct umn_regcache *rc, unsigned long i,
			      unsigned int shift)
{
	struct rc_node *n = rc->buckets[i];
	struct rc_node **half[2] = { &rc->buckets[2 * i],
				     &rc->buckets[2 * i + 1] };

	for (; n; n = n->hnext) {
		struct rc_node ***pp = &half[hash_idx(rc, shift,
						     n->pub.start) & 1];

		if (**pp != n)
			__atomic_store_n(*pp, n, __ATOMIC_RELEASE);
		*pp = &n->hnext;
	}
	for (int h = 0; h < 2; h++)
		if (*half[h])
			__atomic_store_n(half[h], NULL, __ATOMIC_RELEASE);
}

/*
 * Double the buckets in use when the load passes HASH_LOAD: make the next
 * pages usable, split every bucket from the last down, then publish the
 * new shift (release: a reader that loads it sees the split chains).  A
 * hit that loaded the old shift reads a bucket below nb, usable, which
 * may hold its old chain, a half of it or another bucket's half: at worst
 * it misses and takes the locked path (and waits for the grow to end).
 */
static void hash_grow_locked(struct umn_regcache *rc)
{
	unsigned int shift = rc->hshift - 1;
	unsigned long nb = 1ul << (63 - shift);
	size_t need = page_round(2 * nb * sizeof(rc->buckets[0]));

	if (64 - rc->hshift >= rc->hash_cap_bits)
		return;		/* at the cap: longer chains, still correct */
	UMNP_HOOK(UMNP_HOOK_RC_HASH_GROW, rc);
	if (need > rc->hash_usable) {
		if (syscall(SYS_mprotect, (char *)rc->buckets + rc->hash_usable,
			    need - rc->hash_usable, PROT_READ | PROT_WRITE))
			return;	/* ENOMEM: as at the cap */
		rc->hash_usable = need;
	}
	for (unsigned long i = nb; i-- > 0;)
		hash_split_locked(rc, i, shift);
	__atomic_store_n(&rc->hshift, shift, __ATOMIC_RELEASE);
}

static void hash_del_locked(struct umn_regcache *rc, struct rc_node *n)
{
	struct rc_node **pp = &rc->buckets[hash_idx(rc, rc->hshift,
						    n->pub.start)];

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
	unsigned long h = hash_idx(rc, rc->hshift, n->pub.start);

	STORE(n->hnext, rc->buckets[h]);
	__atomic_store_n(&rc->buckets[h], n, __ATOMIC_RELEASE);
	n->in_hash = 1;
}

/* One hashed region per start address: the largest valid one. */
static void hash_offer_locked(struct umn_regcache *rc, struct rc_node *n)
{
	struct rc_node *o;

	if (n->in_hash)
		return;
	for (o = rc->buckets[hash_idx(rc, rc->hshift, n->pub.start)]; o;
	     o = o->hnext)
		if (o->pub.start == n->pub.start)
			break;
	if (o) {
		if (o->pub.len >= n->pub.len &&
		    !(__atomic_load_n(&o->state, __ATOMIC_RELAXED) & R_DEAD))
			return;
		hash_del_locked(rc, o);
	}
	if (rc->nlinked > HASH_LOAD * (1ul << (64 - rc->hshift)))
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
	rc->nlinked++;
	rc->linked_bytes += n->pub.len;
	hash_offer_locked(rc, n);
}

/*
 * Claim a dead, unlinked region nobody holds for deregistration, once
 * (cache lock held).  The state is checked first: a region that has it
 * is not being recycled, so its epoch is stable.
 */
static bool claim_locked(struct umn_regcache *rc, struct rc_node *n)
{
	unsigned int st = __atomic_load_n(&n->state, __ATOMIC_SEQ_CST);

	if ((st & R_LAST_MASK) != R_LAST || n->epoch != rc->epoch ||
	    users_locked(rc, n) != 0)
		return false;
	__atomic_fetch_or(&n->state, R_CLAIMED, __ATOMIC_RELAXED);
	return true;
}

/*
 * Take a dead region out of the index and mark it UNLINKED; the caller then
 * claims it (after scan_fence if fence_needed) and deregisters it if no
 * user holds it; otherwise the last put will.
 */
static void unlink_locked(struct umn_regcache *rc, struct rc_node *n)
{
	if (n->in_hash)
		hash_del_locked(rc, n);
	n->linked = 0;
	rc->nlinked--;
	rc->linked_bytes -= n->pub.len;
	__atomic_fetch_or(&n->state, R_UNLINKED, __ATOMIC_SEQ_CST);
}

/* Regions just unlinked (a list through lnext, fence: one of them needed
 * the barrier): one barrier for them all, then those no user holds go on
 * *out for deregistration (cache lock held). */
static void claim_unlinked_locked(struct umn_regcache *rc,
				  struct rc_node *list, bool fence,
				  struct rc_node **out)
{
	struct rc_node *n, *next;

	if (fence)
		scan_fence();
	for (n = list; n; n = next) {
		next = n->lnext;
		if (claim_locked(rc, n)) {
			n->lnext = *out;
			*out = n;
		}
	}
}

/* Make an unused or used region dead (eviction, merge, explicit): true if
 * this call did it. */
static bool kill(struct rc_node *n)
{
	unsigned int v = __atomic_fetch_or(&n->state, R_DEAD, __ATOMIC_SEQ_CST);

	return !(v & R_DEAD);
}

/* Drain the callbacks' stack: unlink each region; unused ones go on *out
 * for deregistration outside the lock. */
static void drain_locked(struct umn_regcache *rc, struct rc_node **out)
{
	struct rc_node *n, *list;
	bool fence = false;

	if (!__atomic_load_n(&rc->pending, __ATOMIC_RELAXED))
		return;
	list = __atomic_exchange_n(&rc->pending, NULL, __ATOMIC_ACQUIRE);
	for (n = list; n; n = n->lnext) {
		unlink_locked(rc, n);
		fence |= fence_needed(rc, n);
	}
	claim_unlinked_locked(rc, list, fence, out);
}

/* ---- groups (their hash: cache lock held) ---- */

static struct umn_mm *rc_mm(struct umn_regcache *rc);

static inline unsigned long group_hash(const struct umn_regcache *rc,
				       unsigned long first)
{
	return ((first >> rc->block_shift) * 0x9e3779b97f4a7c15ul) >>
	       (64 - rc->gbits);
}

/* Does [start, end) lie in one block?  Else it gets a group of its own. */
static inline bool in_one_block(const struct umn_regcache *rc,
				unsigned long start, unsigned long end)
{
	return start >> rc->block_shift == (end - 1) >> rc->block_shift;
}

/* The bits of g->mask that [start, end) meets (it meets g's block). */
static inline unsigned long block_bits(const struct umn_regcache *rc,
				       const struct rc_group *g,
				       unsigned long start, unsigned long end)
{
	unsigned long last = g->first + (1ul << rc->block_shift) - 1;
	unsigned long lo, hi;

	if (start < g->first)
		start = g->first;
	if (end - 1 > last)
		end = last + 1;
	lo = (start - g->first) >> rc->gran_shift;
	hi = (end - 1 - g->first) >> rc->gran_shift;
	return (~0ul >> (63 - hi)) & (~0ul << lo);
}

/* g's mask from its nodes in use, after some went free (lock held). */
static void group_mask_locked(struct umn_regcache *rc, struct rc_group *g)
{
	unsigned long m = 0;

	for (struct rc_node *n = g->nodes; n; n = n->gnext)
		if (__atomic_load_n(&n->state, __ATOMIC_RELAXED) != R_FREE)
			m |= block_bits(rc, g, n->pub.start,
					n->pub.start + n->pub.len);
	__atomic_store_n(&g->mask, m, __ATOMIC_RELAXED);
	g->mask_stale = 0;
}

/* The live group of the block of [start, end), or NULL (always for a
 * range that crosses blocks). */
static struct rc_group *group_find_locked(struct umn_regcache *rc,
					  unsigned long start,
					  unsigned long end)
{
	unsigned long first = start & ~((1ul << rc->block_shift) - 1);
	struct rc_group *g;

	if (!in_one_block(rc, start, end))
		return NULL;
	for (g = rc->gtab[group_hash(rc, first)]; g; g = g->hnext)
		if (g->first == first && !g->own)
			return g;
	return NULL;
}

static void group_add_locked(struct umn_regcache *rc, struct rc_group *g)
{
	unsigned long h;

	if (rc->ngroups >= (1ul << rc->gbits)) {
		unsigned int bits = rc->gbits + 1;
		struct rc_group **t = calloc(1ul << bits, sizeof(*t));

		if (t) {		/* else longer chains */
			struct rc_group **old = rc->gtab;
			unsigned long n = 1ul << rc->gbits;

			rc->gtab = t;
			rc->gbits = bits;
			for (unsigned long i = 0; i < n; i++) {
				struct rc_group *o, *on;

				for (o = old[i]; o; o = on) {
					on = o->hnext;
					h = group_hash(rc, o->first);
					o->hnext = t[h];
					t[h] = o;
				}
			}
			free(old);
		}
	}
	h = group_hash(rc, g->first);
	g->hnext = rc->gtab[h];
	rc->gtab[h] = g;
	rc->ngroups++;
}

static void group_del_locked(struct umn_regcache *rc, struct rc_group *g)
{
	struct rc_group **pp = &rc->gtab[group_hash(rc, g->first)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == g) {
			*pp = g->hnext;
			rc->ngroups--;
			break;
		}
	}
	g->hnext = NULL;
}

/*
 * A node for a miss in g: one of g's free nodes, or a new one pushed on
 * g's list (NULL if out of memory).  The push is a release store of the
 * head after the node's gnext and group: a callback that loads the head
 * walks a whole list.
 */
static struct rc_node *node_alloc_locked(struct umn_regcache *rc);

static struct rc_node *group_node_locked(struct umn_regcache *rc,
					 struct rc_group *g)
{
	struct rc_node *n = g->free;

	if (n) {
		g->free = n->lnext;
	} else {
		n = node_alloc_locked(rc);
		if (!n)
			return NULL;
		n->group = g;
		n->gnext = g->nodes;
		__atomic_store_n(&g->nodes, n, __ATOMIC_RELEASE);
		UMNP_HOOK(UMNP_HOOK_RC_GROUP_PUSHED, &n->pub);
	}
	g->used++;
	return n;
}

/*
 * A new group for [start, end): its block's, or its own range if it
 * crosses blocks; subscription inserted (blockable, no lock held).  NULL
 * with *ret set on failure.
 */
static struct rc_group *group_new(struct umn_regcache *rc, unsigned long start,
				  unsigned long end, int *ret)
{
	struct rc_group *g;
	unsigned long bsize = 1ul << rc->block_shift;

	if (umnp_fault_alloc() || !(g = calloc(1, sizeof(*g)))) {
		*ret = -ENOMEM;
		return NULL;
	}
	g->epoch = rc->epoch;
	if (in_one_block(rc, start, end)) {
		g->first = start & ~(bsize - 1);
		*ret = umn_interval_notifier_insert(&g->sub, rc_mm(rc),
						    g->first, bsize,
						    &rc->sub_ops);
	} else {
		g->own = 1;
		g->first = start;
		*ret = umn_interval_notifier_insert(&g->sub, rc_mm(rc), start,
						    end - start, &rc->sub_ops);
	}
	if (*ret) {
		free(g);
		return NULL;
	}
	g->inserted = 1;
	return g;
}

/*
 * Tear down groups whose last node went free (taken out of the hash
 * already, a list through hnext; blockable, no lock held): remove the
 * subscription, which waits for a callback in progress on it (so none
 * walks the list any more), then give the nodes to the cache.
 */
static void groups_teardown(struct umn_regcache *rc, struct rc_group *dead)
{
	struct rc_group *g, *gn;

	for (g = dead; g; g = gn) {
		struct rc_node *n, *head = NULL, *tail = NULL;

		gn = g->hnext;
		UMNP_HOOK(UMNP_HOOK_RC_GROUP_TEARDOWN, g);
		if (g->inserted)
			umn_interval_notifier_remove(&g->sub);
		for (n = g->nodes; n; n = n->gnext) {
			n->group = NULL;
			n->lnext = head;
			head = n;
			if (!tail)
				tail = n;
		}
		if (head) {
			pthread_mutex_lock(&rc->lock);
			tail->lnext = rc->free_nodes;
			__atomic_store_n(&rc->free_nodes, head,
					 __ATOMIC_RELAXED);
			pthread_mutex_unlock(&rc->lock);
		}
		free(g);
	}
}

/* ---- deregistration (no cache lock held) ---- */

/* n goes free to its group; the group, if that was its last node in use,
 * out of the hash onto *dead for groups_teardown. */
static void node_free_locked(struct umn_regcache *rc, struct rc_node *n,
			     struct rc_group **dead)
{
	struct rc_group *g = n->group;

	__atomic_store_n(&n->state, R_FREE, __ATOMIC_RELEASE);
	n->lnext = g->free;
	g->free = n;
	g->mask_stale = !g->own;
	if (--g->used == 0) {
		group_del_locked(rc, g);
		g->hnext = *dead;
		*dead = g;
	}
}

/* Deregister and recycle a list of dead, unlinked, unused regions. */
static void reclaim(struct umn_regcache *rc, struct rc_node *list)
{
	struct rc_node *n, *next;
	struct rc_group *dead = NULL, *stale_groups = NULL, *g;
	bool stale;

	if (!list)
		return;
	for (n = list; n; n = n->lnext) {
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
		g = n->group;
		stale = g->mask_stale;
		node_free_locked(rc, n, &dead);
		if (!stale && g->mask_stale) {
			g->snext = stale_groups;
			stale_groups = g;
		}
	}
	/* once per group of the batch (one with no node in use left is on
	 * dead, to be torn down) */
	for (g = stale_groups; g; g = g->snext)
		if (g->used)
			group_mask_locked(rc, g);
	pthread_mutex_unlock(&rc->lock);
	groups_teardown(rc, dead);
}

/* The blockable housekeeping of get and put: drain and deregister (out
 * of line: the hit saves fewer registers). */
static __attribute__((noinline, cold)) void drain(struct umn_regcache *rc)
{
	struct rc_node *list = NULL;

	pthread_mutex_lock(&rc->lock);
	drain_locked(rc, &list);
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc, list);
}

/* ---- the callback ---- */

/* A callback's kill of n, a region its range intersects: DEAD, and if it
 * made a published region dead, n on the pending stack. */
static void region_invalidate(struct umn_regcache *rc, struct rc_node *n,
			      const struct umn_notifier_range *range)
{
	unsigned int old;

	old = __atomic_fetch_or(&n->state, R_DEAD, __ATOMIC_SEQ_CST);
	if ((old & (R_DEAD | R_PUB)) != R_PUB)
		return;		/* already dead, or a miss still owns it */
	ADD(rc->invalidated, 1);
	if (!umn_notifier_range_blockable(range))
		ADD(rc->deferred, 1);
	n->pending = 1;
	ADD(rc->pending_dereg, 1);
	ADD(rc->pending_bytes, n->pub.len);
	/* last write to n: once pushed, a drain may recycle it (in its
	 * group: its gnext does not change) */
	{
		struct rc_node *head = __atomic_load_n(&rc->pending,
						       __ATOMIC_RELAXED);

		do {
			n->lnext = head;
		} while (!__atomic_compare_exchange_n(&rc->pending, &head, n,
						      true, __ATOMIC_RELEASE,
						      __ATOMIC_RELAXED));
	}
}

/*
 * A group's callback: set the seq, then kill every region of the group
 * the range intersects.  No lock: the list only grows while the
 * subscription is inserted (see "groups" at the top).
 */
static bool group_invalidate(struct umn_interval_notifier *sub,
			     const struct umn_notifier_range *range,
			     unsigned long cur_seq)
{
	struct rc_group *g = sub_group(sub);
	struct umn_regcache *rc = (struct umn_regcache *)(void *)
		((char *)sub->ops - offsetof(struct umn_regcache, sub_ops));
	unsigned long last = range->end - 1;
	struct rc_node *n;

	umn_interval_set_seq(sub, cur_seq);
	/* a fork child still sees the parent's subscriptions on a managed
	 * address space: their groups are no longer the cache's */
	if (__builtin_expect(g->epoch != rc->epoch, 0))
		return true;
	/* the seq before the nodes, against a miss's node before its
	 * read_begin (see "groups") */
	group_order(g);
	/* no node in use where the range lands: nothing to walk */
	if (!g->own && !(__atomic_load_n(&g->mask, __ATOMIC_RELAXED) &
			 block_bits(rc, g, range->start, range->end)))
		return true;
	n = __atomic_load_n(&g->nodes, __ATOMIC_ACQUIRE);
	UMNP_HOOK(UMNP_HOOK_RC_GROUP_WALK, g);
	for (; n; n = n->gnext) {
		/* the word first: a node not dead has the range read next */
		unsigned int st = __atomic_load_n(&n->state, __ATOMIC_ACQUIRE);
		unsigned long start, len;

		if (st & R_DEAD)
			continue;	/* dead already, or free */
		start = LOAD(n->pub.start);
		len = LOAD(n->pub.len);
		if (start > last || start + len <= range->start)
			continue;
		region_invalidate(rc, n, range);
	}
	return true;
}

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
	rc->gbits = GROUP_HASH_MIN_BITS;
	rc->gtab = calloc(1ul << rc->gbits, sizeof(rc->gtab[0]));
	if (!rc->gtab || hash_init(rc, p->max_regions)) {
		free(rc->gtab);
		free(rc);
		errno = ENOMEM;
		return NULL;
	}
	if (&umnp_self_mm && mm == __atomic_load_n(&umnp_self_mm,
						   __ATOMIC_ACQUIRE)) {
		rc->mm = NULL;	/* follow umn_mm_self() across fork */
	} else {
		if (umn_mm_get(mm)) {
			hash_fini(rc);
			free(rc->gtab);
			free(rc);
			errno = EINVAL;
			return NULL;
		}
		rc->mm = mm;
	}
	rc->align_mask = align - 1;
	rc->align_shift = (unsigned int)__builtin_ctzl(align);
	/* a region of one granule always fits in a block */
	rc->block_shift = rc->align_shift > RC_BLOCK_SHIFT ? rc->align_shift :
			  RC_BLOCK_SHIFT;
	rc->gran_shift = rc->block_shift - 6;
	rc->flags = p->flags;
	rc->ops = p->ops;
	rc->ctx = p->ctx;
	rc->sub_ops.invalidate = group_invalidate;
	/* a multiple of 32: every node's hot 32 bytes stay in one line */
	rc->node_size = (offsetof(struct rc_node, pub) +
			 (p->region_size ? p->region_size :
			  sizeof(struct umn_regcache_region)) + 31) & ~31ul;
	/* n's index in its chunk is (off - header) / node_size, an exact
	 * multiple: times idx_mul, shifted by 32, is exact while index *
	 * (idx_mul * node_size - 2^32) < 2^32, i.e. index * node_size <
	 * 2^32: a chunk is 64 KiB */
	rc->idx_mul = ((1ul << 32) + rc->node_size - 1) / rc->node_size;
	rc->max_regions = p->max_regions;
	rc->max_bytes = p->max_bytes;
	pthread_once(&fence_once, fence_setup);
	rc->plain_max = fence_ok ? OWNED_SLOTS : 0;
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

static void put_node(struct umn_regcache *rc, struct rc_node *n);

/* Is n a valid region starting at start that covers up to end?  (Loaded
 * after the caller's reference: see "references".) */
static inline bool live(struct rc_node *n, unsigned long start,
			unsigned long end)
{
	unsigned int st = __atomic_load_n(&n->state, __ATOMIC_SEQ_CST);

	return (st & (R_PUB | R_DEAD | R_COUNTING)) == R_PUB &&
	       LOAD(n->pub.start) == start && start + LOAD(n->pub.len) >= end;
}

/* Locked (so n is linked): a reference on n if it is valid. */
static bool tryget_locked(struct umn_regcache *rc, struct rc_node *n,
			  unsigned int s)
{
	unsigned int *c = slot_ctr(rc, n, s, true);
	unsigned int st;

	if (c)
		__atomic_add_fetch(c, 1, __ATOMIC_SEQ_CST);
	else
		n->shared++;
	st = __atomic_load_n(&n->state, __ATOMIC_SEQ_CST);
	if ((st & (R_PUB | R_DEAD)) == R_PUB)
		return true;
	/* linked: not unlinked, so this was not the last reference; the
	 * counter is this thread's (or the shared slot's, atomic) */
	if (c)
		__atomic_sub_fetch(c, 1, __ATOMIC_SEQ_CST);
	else
		n->shared--;
	return false;
}

/* A walk of the index over [start, end) (cache lock held). */
struct rc_walk {
	struct umn_regcache *rc;
	unsigned long start, end;
	struct rc_node *found;		/* lookup */
	struct rc_node **out;		/* merge, invalidate */
	struct rc_node *unlinked;	/* merge, invalidate: to claim */
	bool fence;			/* one of them needs scan_fence */
	unsigned long first, last;	/* the regions the walk visits */
	bool (*fn)(struct rc_walk *w, struct rc_node *n);
};

/* A group the walk met: its linked regions that intersect [first, last],
 * until fn returns false (the cache lock orders the list's reads). */
static bool walk_group(void *arg, struct umn_interval_notifier *sub)
{
	struct rc_walk *w = arg;
	struct rc_group *g = sub_group(sub);

	if (g->epoch != w->rc->epoch)
		return true;	/* a fork child: the parent's */
	for (struct rc_node *n = g->nodes; n; n = n->gnext) {
		if (!mine_linked(w->rc, n) || n->pub.start > w->last ||
		    n->pub.start + n->pub.len - 1 < w->first)
			continue;
		if (!w->fn(w, n))
			return false;
	}
	return true;
}

/* The cache's address lookups: the address space's subscription tree
 * finds the groups (each a subscription), walk_group their regions. */
static void walk_locked(struct umn_regcache *rc, struct rc_walk *w,
			unsigned long first, unsigned long last,
			bool (*fn)(struct rc_walk *w, struct rc_node *n))
{
	if (!rc->nlinked || last < rc->span_first || first > rc->span_last)
		return;
	w->first = first;
	w->last = last;
	w->fn = fn;
	umnp_interval_walk(rc_mm(rc), first, last, &rc->sub_ops, walk_group,
			   w);
}

/* The first linked, valid region covering the walk's range; no reference
 * is taken here: the walk holds the address space's subscriptions lock,
 * under which a counter array may not be allocated (malloc may unmap, and
 * an unmap's invalidation takes that lock). */
static bool lookup_one(struct rc_walk *w, struct rc_node *n)
{
	unsigned int st;

	if (n->pub.start > w->start ||
	    n->pub.start + n->pub.len < w->end)
		return true;
	st = __atomic_load_n(&n->state, __ATOMIC_ACQUIRE);
	if ((st & (R_PUB | R_DEAD)) != R_PUB)
		return true;
	w->found = n;
	return false;
}

/* Locked: a valid region covering [start, end), with a reference. */
static struct rc_node *lookup_locked(struct umn_regcache *rc,
				     unsigned long start, unsigned long end)
{
	struct rc_walk w = { .rc = rc, .start = start, .end = end };

	/* a region found valid can die before its reference is taken (a
	 * callback does not take the cache lock): walk again then; each
	 * round skips the regions dead by then */
	for (;;) {
		w.found = NULL;
		walk_locked(rc, &w, start, end - 1, lookup_one);
		if (!w.found)
			return NULL;
		if (tryget_locked(rc, w.found, slot_idx())) {
			hash_offer_locked(rc, w.found);
			return w.found;
		}
	}
}

/* Retire the valid regions overlapping or touching [*start, *end) and
 * widen the range to their union (UMN_REGCACHE_MERGE). */
static bool merge_one(struct rc_walk *w, struct rc_node *n)
{
	struct umn_regcache *rc = w->rc;

	if (!kill(n))
		return true;	/* not ours, or dead already: queued */
	if (n->pub.start < w->start)
		w->start = n->pub.start;
	if (n->pub.start + n->pub.len > w->end)
		w->end = n->pub.start + n->pub.len;
	INC_LOCKED(rc->merged, 1);
	unlink_locked(rc, n);
	w->fence |= fence_needed(rc, n);
	n->lnext = w->unlinked;
	w->unlinked = n;
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
	claim_unlinked_locked(rc, w.unlinked, w.fence, out);
	*start = w.start;
	*end = w.end;
}

/*
 * Retiring an unused region (cache lock held), in two steps so that a
 * flush or an eviction batch issues one barrier for all: mark_counting sets
 * COUNTING on n if it is valid, so that hits from now on take the locked
 * path (true if set); then, after scan_fence if fence_needed,
 * retire_counted counts the users; if there are none, kills it, unlinks it
 * and queues it on *out for deregistration.  Only COUNTING is ever
 * cleared: a callback's DEAD stays.
 */
static bool mark_counting_locked(struct rc_node *n)
{
	unsigned int st = __atomic_load_n(&n->state, __ATOMIC_RELAXED);

	if ((st & (R_PUB | R_DEAD | R_COUNTING)) != R_PUB)
		return false;
	__atomic_fetch_or(&n->state, R_COUNTING, __ATOMIC_SEQ_CST);
	return true;
}

static void retire_counted_locked(struct umn_regcache *rc, struct rc_node *n,
				  struct rc_node **out)
{
	bool unused;

	unused = users_locked(rc, n) == 0;
	if (unused && !kill(n))
		unused = false;	/* a callback was first: its drain unlinks */
	__atomic_fetch_and(&n->state, ~R_COUNTING, __ATOMIC_RELEASE);
	if (!unused)
		return;
	INC_LOCKED(rc->evicted, 1);
	/* counted with COUNTING after the barrier: no user can have come
	 * since, so this count needs no barrier of its own */
	unlink_locked(rc, n);
	if (claim_locked(rc, n)) {
		n->lnext = *out;
		*out = n;
	}
}

#define EVICT_BATCH 64

static inline bool over_limits(const struct umn_regcache *rc,
			       unsigned long max_regions,
			       unsigned long max_bytes, unsigned long regions,
			       unsigned long bytes)
{
	return (rc->max_regions && regions > max_regions) ||
	       (rc->max_bytes && bytes > max_bytes);
}

#if UMN_TEST_HOOKS
/* white-box (hook builds): the nodes the eviction sweep looked at */
unsigned long umn__test_rc_sweep_visits;
#endif

/* The node under the sweep's hand, the hand moved past it (cache lock
 * held, at least one node carved).  The hand walks rc->chunks in list
 * order, each chunk's carved nodes in address order, and wraps; every
 * chunk on the list has a node carved (node_alloc_locked carves one as it
 * adds a chunk), and chunks leave the list only in destroy and in a fork
 * child (which resets the hand), so the hand's chunk stays valid. */
static struct rc_node *sweep_next_locked(struct umn_regcache *rc)
{
	struct rc_chunk *c = rc->hand_chunk;
	unsigned long i = rc->hand_idx;

	if (!c) {
		c = rc->chunks;
		i = 0;
	}
	while (i >= c->used) {
		c = c->next ? c->next : rc->chunks;
		i = 0;
	}
	rc->hand_chunk = c;
	rc->hand_idx = i + 1;
#if UMN_TEST_HOOKS
	__atomic_add_fetch(&umn__test_rc_sweep_visits, 1, __ATOMIC_RELAXED);
#endif
	return chunk_node(rc, c, i);
}

/*
 * CLOCK without a ring: evict unused regions until within the limits.  A
 * hand sweeps every node carved (sweep_next_locked), skipping those not
 * linked (free, owned by a miss, waiting for deregistration, a fork
 * parent's); a linked region with its referenced bit set loses the bit
 * (its second chance), one without it is a candidate.  A node linked
 * behind the hand waits a whole turn, one linked ahead of it is looked at
 * sooner; a miss usually takes the node an eviction just freed (the free
 * list is LIFO), which is behind the hand.
 *
 * The candidates are counted in batches, COUNTING set on each and one
 * barrier for all (it costs ~25 us while another thread runs, see
 * doc/regcache.md); a batch goes below the limits by a 16th of them (at
 * most EVICT_BATCH - 1 regions), so that the next misses need none.
 *
 * Work: at most 2 * ncarved + 1 nodes looked at per call (two turns: the
 * first clears every bit, the second finds every unused region), with
 * ncarved the most nodes the cache ever had at once (linked, held, being
 * registered or waiting for deregistration; in a fork child, with the
 * parent's adopted); a miss that needs an eviction looks at about
 * ncarved / (regions evicted per turn) nodes.
 */
static void evict_locked(struct umn_regcache *rc, struct rc_node **out)
{
	unsigned long budget = 2 * rc->ncarved + 1;
	unsigned long lo_regions = rc->max_regions -
		(rc->max_regions / 16 < EVICT_BATCH - 1 ?
		 rc->max_regions / 16 : EVICT_BATCH - 1);
	unsigned long lo_bytes = rc->max_bytes - rc->max_bytes / 16;

	while (rc->nlinked && budget &&
	       over_limits(rc, rc->max_regions, rc->max_bytes, rc->nlinked,
			   rc->linked_bytes)) {
		struct rc_node *batch[EVICT_BATCH];
		unsigned long regions = rc->nlinked, bytes = rc->linked_bytes;
		unsigned int nb = 0;
		bool fence = false;

		while (budget && nb < EVICT_BATCH &&
		       over_limits(rc, lo_regions, lo_bytes, regions,
				   bytes)) {
			struct rc_node *n = sweep_next_locked(rc);

			budget--;
			/* the state first: a node a miss owns (0) or that is
			 * free or unlinked may be written without the lock;
			 * one published and not unlinked is linked, its
			 * fields written before the lock's last release */
			if ((__atomic_load_n(&n->state, __ATOMIC_RELAXED) &
			     (R_PUB | R_UNLINKED)) != R_PUB ||
			    !mine_linked(rc, n))
				continue;
			if (LOAD(n->referenced)) {
				STORE(n->referenced, 0);
				continue;
			}
			/* a count read without the barrier is never over
			 * but for hits about to back out: a user seen is
			 * one (skipped, no barrier) */
			if (users_locked(rc, n) != 0 ||
			    !mark_counting_locked(n))
				continue;
			fence |= fence_needed(rc, n);
			batch[nb++] = n;
			regions--;
			bytes -= n->pub.len;
		}
		if (fence)
			scan_fence();
		/* (not through lnext: a callback may push a COUNTING
		 * region on its stack meanwhile) */
		for (unsigned int i = 0; i < nb; i++)
			retire_counted_locked(rc, batch[i], out);
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

/*
 * The chunk pool: node chunks of destroyed caches, kept for the next
 * cache's misses.  A fresh cache's misses spent most of their time on the
 * first touch of new node memory (on this project's VMs ~15 us per page
 * even after MADV_POPULATE_WRITE), and destroy gave that memory back (glibc
 * trims the top of the heap once the 64 KiB chunks coalesce), so the next
 * cache paid it again.  At most POOL_MAX chunks are kept; destroy frees
 * the rest.  pool_lock nests inside a cache lock, never the other way.
 *
 * Only chunks of exactly CHUNK_BYTES go to and come from the pool: all of
 * them unless one node is larger.
 */
static inline bool chunk_pooled(const struct umn_regcache *rc)
{
	return sizeof(struct rc_chunk) + rc->node_size <= CHUNK_BYTES;
}

/* A chunk from the pool (its pages already touched), or NULL. */
static struct rc_chunk *pool_take(void)
{
	struct rc_chunk *c;

	if (!__atomic_load_n(&pool, __ATOMIC_RELAXED))
		return NULL;
	pthread_mutex_lock(&pool_lock);
	UMNP_HOOK(UMNP_HOOK_RC_POOL_LOCKED, NULL);
	c = pool;
	if (c) {
		__atomic_store_n(&pool, c->next, __ATOMIC_RELAXED);
		pool_n--;
	}
	pthread_mutex_unlock(&pool_lock);
	return c;
}

/* Keep chunk c (no counter arrays left) for another cache, or free it. */
static void pool_give(struct rc_chunk *c)
{
	pthread_mutex_lock(&pool_lock);
	UMNP_HOOK(UMNP_HOOK_RC_POOL_LOCKED, c);
	if (pool_n < POOL_MAX) {
		c->next = pool;
		__atomic_store_n(&pool, c, __ATOMIC_RELAXED);
		pool_n++;
		c = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	free(c);
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
		if (!chunk_pooled(rc) || !(c = pool_take())) {
			size_t bytes = chunk_pooled(rc) ? CHUNK_BYTES :
				       sizeof(*c) + cap * rc->node_size;

			if (posix_memalign((void **)&c, CACHELINE, bytes))
				return NULL;
			chunk_prefault(c, bytes);
		}
		c->rc = rc;
		c->used = 0;
		c->cap = cap;
		memset(c->ctr, 0, sizeof(c->ctr));
		c->ctr_mask = 0;
		c->next = rc->chunks;
		rc->chunks = c;
	}
	n = chunk_node(rc, c, c->used);
	memset(n, 0, rc->node_size);
	__atomic_store_n(&n->state, R_FREE, __ATOMIC_RELAXED);
	n->off = (unsigned short)((char *)n - (char *)c);
	c->used++;
	rc->ncarved++;
	return n;
}

/* A miss gives up n (no lock held). */
static void node_release(struct umn_regcache *rc, struct rc_node *n)
{
	struct rc_group *dead = NULL, *g = n->group;

	pthread_mutex_lock(&rc->lock);
	node_free_locked(rc, n, &dead);
	if (g->mask_stale && g->used)
		group_mask_locked(rc, g);
	pthread_mutex_unlock(&rc->lock);
	groups_teardown(rc, dead);
}

/*
 * In a fork child: take the parent's nodes back (blockable, no lock held).
 * On a managed address space the parent's groups' subscriptions are still
 * in its tree (the child inherited it): remove them first, so that no
 * callback reaches a node once it is reused.  On umn_mm_self() they are in the parent's
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
	unsigned long carved = 0;
	struct rc_group *groups, *g, *gn;

	pthread_mutex_lock(&rc->lock);
	orphans = rc->orphans;
	rc->orphans = NULL;
	groups = rc->orphan_groups;
	rc->orphan_groups = NULL;
	pthread_mutex_unlock(&rc->lock);
	for (g = groups; g; g = gn) {
		gn = g->hnext;
		/* a group that failed to go stays (reported), its memory
		 * too: a callback may still walk it */
		if (rc->mm && g->inserted && g->sub.mm &&
		    umn_interval_notifier_remove(&g->sub))
			continue;
		free(g);
	}
	if (!orphans)
		return;
	for (c = orphans; c; last = c, c = c->next) {
		carved += c->used;
		for (unsigned long i = 0; i < c->used; i++) {
			struct rc_node *n = chunk_node(rc, c, i);
			unsigned int v = __atomic_load_n(&n->state,
							 __ATOMIC_ACQUIRE);

			if (v != R_FREE && users_locked(rc, n))
				continue;	/* held at fork time */
			__atomic_store_n(&n->state, R_FREE, __ATOMIC_RELEASE);
			n->group = NULL;
			n->lnext = freed;
			freed = n;
			if (!tail)
				tail = n;
		}
	}
	pthread_mutex_lock(&rc->lock);
	last->next = rc->chunks;
	rc->chunks = orphans;
	rc->ncarved += carved;
	if (freed) {
		tail->lnext = rc->free_nodes;
		__atomic_store_n(&rc->free_nodes, freed, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&rc->lock);
}

static int miss_register(struct umn_regcache *rc, struct rc_node *n,
			 unsigned long start, unsigned long end,
			 struct rc_node **out);

/* A node of g for a miss (cache lock held): its cold fields set here,
 * under the lock that orders a walk's reads of them. */
static struct rc_node *miss_node_locked(struct umn_regcache *rc,
					struct rc_group *g, unsigned long start,
					unsigned long end)
{
	struct rc_node *n = group_node_locked(rc, g);

	if (!n)
		return NULL;
	n->epoch = rc->epoch;
	n->pending = 0;
	n->in_hash = 0;
	n->linked = 0;
	STORE(n->referenced, 0);
	STORE(n->pub.start, start);
	STORE(n->pub.len, end - start);
	/* 0: owned by this miss; a callback can only add DEAD.  Under the
	 * lock, with the group's mask: group_mask_locked counts it */
	__atomic_store_n(&n->state, 0, __ATOMIC_RELEASE);
	if (!g->own)
		__atomic_store_n(&g->mask, g->mask |
				 block_bits(rc, g, start, end),
				 __ATOMIC_RELAXED);
	return n;
}

/*
 * A miss (no lock held) with n, a node of the block's group, or NULL when
 * there was no group: then a new one, its subscription inserted outside
 * the lock; if another miss added one of the same block meanwhile, that
 * one is used and ours removed.
 */
static int get_miss(struct umn_regcache *rc, struct rc_node *n,
		    unsigned long start, unsigned long end, struct rc_node **out)
{
	if (!n) {
		struct rc_group *g, *mine, *dead = NULL;
		int ret;

		mine = group_new(rc, start, end, &ret);
		if (!mine)
			return ret;
		pthread_mutex_lock(&rc->lock);
		g = group_find_locked(rc, start, end);
		if (!g) {
			g = mine;
			mine = NULL;
			group_add_locked(rc, g);
		}
		n = miss_node_locked(rc, g, start, end);
		if (!n && !g->used) {
			group_del_locked(rc, g);
			dead = g;
		}
		pthread_mutex_unlock(&rc->lock);
		if (mine)
			dead = mine;	/* never in the hash, no node */
		groups_teardown(rc, dead);
		if (!n)
			return -ENOMEM;
	}
	return miss_register(rc, n, start, end, out);
}

/*
 * A miss on exactly the range of a region the drain just took out (n: dead,
 * unlinked, claimed, no user): deregister it and register the same node
 * again, in its group (which its node keeps alive: the group's seq makes
 * the next read_begin wait for or see any invalidation since).  This is the
 * retry of get_miss's loop, and saves the node's trip through the free
 * nodes and, for a group of its own, the group's remove and insert.
 */
static int get_reuse(struct umn_regcache *rc, struct rc_node *n,
		     unsigned long start, unsigned long end,
		     struct rc_node **out)
{
	rc->ops->dereg(rc->ctx, &n->pub);
	if (n->pending) {
		n->pending = 0;
		SUB(rc->pending_dereg, 1);
		SUB(rc->pending_bytes, n->pub.len);
	}
	STORE(n->referenced, 0);
	/* an exchange, as in the retry: reads any callback's DEAD, so its
	 * set_seq is visible to the next read_begin */
	(void)__atomic_exchange_n(&n->state, 0, __ATOMIC_ACQ_REL);
	return miss_register(rc, n, start, end, out);
}

/* Register n (inserted, word 0) and publish it, again as long as an
 * invalidation hits it meanwhile (no lock held on entry). */
static int miss_register(struct umn_regcache *rc, struct rc_node *n,
			 unsigned long start, unsigned long end,
			 struct rc_node **out)
{
	struct rc_group *g = n->group;
	struct rc_node *list = NULL;
	unsigned long seq;
	int ret;

	for (;;) {
		unsigned int v = 0;

		/* n's word and range (and its place on the group's list)
		 * before the group's seq: a callback that sets the seq
		 * later than this fence reads them, one earlier is seen by
		 * read_begin or read_retry (see "groups") */
		group_order(g);
		seq = umn_interval_read_begin(&g->sub);
		ret = rc->ops->reg(rc->ctx, &n->pub);
		if (ret) {
			node_release(rc, n);
			return ret;
		}
		UMNP_HOOK(UMNP_HOOK_RC_MISS_REGISTERED, &n->pub);
		pthread_mutex_lock(&rc->lock);
		if (!umn_interval_read_retry(&g->sub, seq) &&
		    __atomic_compare_exchange_n(&n->state, &v, R_PUB, false,
						__ATOMIC_SEQ_CST,
						__ATOMIC_RELAXED))
			break;
		pthread_mutex_unlock(&rc->lock);
		/* an invalidation hit the range while we registered */
		ADD(rc->retries, 1);	/* (the lock is dropped: atomic) */
		rc->ops->dereg(rc->ctx, &n->pub);
		/* an exchange: reads the callback's DEAD, so its set_seq is
		 * visible to the next read_begin */
		(void)__atomic_exchange_n(&n->state, 0, __ATOMIC_ACQ_REL);
	}
	/* the miss's reference; any count of it is under this lock */
	ref_locked(rc, n, slot_idx());
	debt_mark_locked(n);	/* the node's storage may carry a debt */
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

/* Take from *list (regions to deregister) the one of exactly [start, end),
 * if any, for get_reuse; it is counted as deregistered now (lock held). */
static struct rc_node *take_same_locked(struct umn_regcache *rc,
					struct rc_node **list,
					unsigned long start, unsigned long end)
{
	for (struct rc_node **pp = list; *pp; pp = &(*pp)->lnext) {
		struct rc_node *n = *pp;

		if (n->pub.start != start || n->pub.len != end - start)
			continue;
		*pp = n->lnext;
		INC_LOCKED(rc->dereg, 1);
		INC_LOCKED(rc->regions, -1ul);
		INC_LOCKED(rc->bytes, -n->pub.len);
		return n;
	}
	return NULL;
}

static __attribute__((noinline)) int
get_slow(struct umn_regcache *rc, unsigned long start,
	 unsigned long end, struct rc_node **out)
{
	struct rc_node *n, *fresh = NULL, *reuse = NULL, *list = NULL;
	bool nomem = false;

	if (__builtin_expect(LOAD(rc->orphans) != NULL, 0))
		adopt_orphans(rc);
	pthread_mutex_lock(&rc->lock);
	drain_locked(rc, &list);
	n = lookup_locked(rc, start, end);
	if (!n) {
		if (rc->flags & UMN_REGCACHE_MERGE)
			merge_locked(rc, &start, &end, &list);
		else
			reuse = take_same_locked(rc, &list, start, end);
		if (!reuse) {
			struct rc_group *g = group_find_locked(rc, start, end);

			/* no group: get_miss makes one */
			if (g) {
				fresh = miss_node_locked(rc, g, start, end);
				nomem = !fresh;
			}
		}
	}
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc, list);
	if (n) {
		ADD(my_slot(rc)->hits, 1);
		*out = n;
		return 0;
	}
	if (reuse)
		return get_reuse(rc, reuse, start, end, out);
	if (nomem)
		return -ENOMEM;
	return get_miss(rc, fresh, start, end, out);
}

/* A get that the hit could not serve. */
static __attribute__((noinline)) int
get_locked_path(struct umn_regcache *rc, unsigned long start,
		unsigned long end, struct umn_regcache_region **out)
{
	struct rc_node *n;
	int ret = get_slow(rc, start, end, &n);

	if (ret == 0)
		*out = &n->pub;
	return ret;
}

/* get's checks, in order, when the hit's quick test failed them: bad
 * arguments or a call from a callback; a call they let through goes on by
 * the locked path. */
static __attribute__((noinline, cold)) int
get_checked(struct umn_regcache *rc, unsigned long addr, unsigned long len,
	    struct umn_regcache_region **out)
{
	unsigned long start, end;

	if (!rc || !out) {
		umnp_warn("umn_regcache_get", "NULL cache or out");
		return -EINVAL;
	}
	if (in_callback("umn_regcache_get"))
		return -EDEADLK;
	if (!range_ok(rc, "umn_regcache_get", addr, len, &start, &end))
		return -EINVAL;
	return get_locked_path(rc, start, end, out);
}

/* A hit found n no longer valid after counting itself: drop that unit
 * again (the last user of a dead region cleans up), take the locked path. */
static __attribute__((noinline, cold)) int
hit_failed(struct umn_regcache *rc, struct rc_node *n, unsigned long start,
	   unsigned long end, struct umn_regcache_region **out)
{
	put_node(rc, n);
	return get_locked_path(rc, start, end, out);
}

/* A hit that found the pending stack not empty. */
static __attribute__((noinline, cold)) int hit_drain(struct umn_regcache *rc)
{
	drain(rc);
	return 0;
}

/*
 * The hit is inline here and every other way out is a tail call, so that
 * it saves no register: look the start up in the hash without a lock,
 * take a unit on this thread's counter for the node, then check that the
 * node is still the valid region asked for (see "references").
 */
int umn_regcache_get(struct umn_regcache *rc, unsigned long addr,
		     unsigned long len, struct umn_regcache_region **out)
{
	unsigned long mask, e, start, end;
	struct rc_node **b;
	struct rc_node *n;
	unsigned int raw, slot, bad, idx, hshift, *c;

	if (__builtin_expect(!rc || !out || umnp_thr.callback_depth, 0))
		return get_checked(rc, addr, len, out);
	mask = rc->align_mask;
	/* len 0, or the aligned range wraps (two statements: the second
	 * sum reads the first's result) */
	bad = (unsigned int)(len == 0) |
	      (unsigned int)__builtin_add_overflow(addr, len, &e);
	bad |= (unsigned int)__builtin_add_overflow(e, mask, &e);
	if (__builtin_expect(bad, 0))
		return get_checked(rc, addr, len, out);
	start = addr & ~mask;
	end = e & ~mask;
	raw = tls_slot;
	if (__builtin_expect(raw == 0, 0))
		return get_locked_path(rc, start, end, out);
	slot = (raw - 1) & (HIT_SLOTS - 1);
	/* a shift that a grow has since made stale still indexes a usable
	 * bucket: the walk may miss and take the locked path */
	hshift = __atomic_load_n(&rc->hshift, __ATOMIC_ACQUIRE);
	b = rc->buckets;
	UMNP_HOOK(UMNP_HOOK_RC_HIT_SIZED, rc);
	n = __atomic_load_n(&b[hash_idx(rc, hshift, start)], __ATOMIC_ACQUIRE);
	for (int i = 0;; i++) {
		if (__builtin_expect(n == NULL || i == HASH_WALK_MAX, 0))
			return get_locked_path(rc, start, end, out);
		if (LOAD(n->pub.start) == start)
			break;
		n = __atomic_load_n(&n->hnext, __ATOMIC_ACQUIRE);
	}
	/* no counter array of this slot in n's chunk yet: the locked path
	 * makes one */
	idx = node_idx(rc, n);		/* n->off read once */
	c = __atomic_load_n(&node_chunk(rc, n)->ctr[slot], __ATOMIC_ACQUIRE);
	if (__builtin_expect(c == NULL, 0))
		return get_locked_path(rc, start, end, out);
	c += idx;
	/* the reference first, then the state: n may have been made dead,
	 * retired or recycled meanwhile */
	if (__builtin_expect(raw <= rc->plain_max, 1)) {
		/* this thread alone writes the counter: a plain increment,
		 * ordered before the state load for the compiler only (the
		 * scanner's membarrier does the rest, see "references") */
		unsigned int v = LOAD(*c);

		UMNP_HOOK(UMNP_HOOK_RC_HIT_LOADED, &n->pub);
		__atomic_store_n(c, v + 1, __ATOMIC_RELEASE);
		UMNP_HOOK(UMNP_HOOK_RC_HIT_COUNTED, &n->pub);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (__builtin_expect(!live(n, start, end), 0))
			return hit_failed(rc, n, start, end, out);
		STORE(rc->slots[slot].hits, LOAD(rc->slots[slot].hits) + 1);
	} else {
		/* the shared slot, or no membarrier: an RMW, which orders
		 * the state load after it */
		__atomic_add_fetch(c, 1, __ATOMIC_SEQ_CST);
		UMNP_HOOK(UMNP_HOOK_RC_HIT_COUNTED, &n->pub);
		if (__builtin_expect(!live(n, start, end), 0))
			return hit_failed(rc, n, start, end, out);
		if (raw <= OWNED_SLOTS)
			STORE(rc->slots[slot].hits,
			      LOAD(rc->slots[slot].hits) + 1);
		else
			ADD(rc->slots[slot].hits, 1);
	}
	if (!LOAD(n->referenced))
		STORE(n->referenced, 1);
	*out = &n->pub;
	if (__builtin_expect(LOAD(rc->pending) != NULL, 0))
		return hit_drain(rc);
	return 0;
}

/* ---- put ---- */

/*
 * A lock-free put dropped a unit of n on this thread's counter and then saw
 * R_SETTLE.  UNLINKED: the last reference of a dead region may have gone;
 * if so (and nobody else saw it first), deregister it.  DEBT: puts on other
 * threads left this thread's counter with units they dropped (n->shared
 * below 0), so the unit just dropped may not have been held at all: count
 * exactly, and if the sum went below 0, undo and report it; else move what
 * this thread's counter can pay of the debt into n->shared (this thread
 * alone writes its counter), and clear DEBT once it is paid.
 */
static __attribute__((noinline, cold)) void
put_settle(struct umn_regcache *rc, struct rc_node *n)
{
	bool last, bad = false;

	pthread_mutex_lock(&rc->lock);
	if (__atomic_load_n(&n->state, __ATOMIC_RELAXED) & R_DEBT) {
		bool counting = false;
		unsigned int raw = tls_slot;

		/* a read without the barrier may be short (see put_locked):
		 * only a negative one is read again, exactly */
		if ((int)users_locked(rc, n) < 0) {
			counting = count_start_locked(rc, n);
			bad = (int)users_locked(rc, n) < 0;
		}
		if (bad) {
			n->shared++;
		} else if (raw && raw <= OWNED_SLOTS) {
			unsigned int *c = slot_ctr(rc, n, raw - 1, false);
			unsigned int v = c ? LOAD(*c) : 0;
			unsigned int k = -n->shared < v ? -n->shared : v;

			if (k) {
				__atomic_store_n(c, v - k, __ATOMIC_RELEASE);
				n->shared += k;
			}
		}
		if (counting)
			__atomic_fetch_and(&n->state, ~R_COUNTING,
					   __ATOMIC_RELEASE);
		if ((int)n->shared >= 0)
			__atomic_fetch_and(&n->state, ~R_DEBT,
					   __ATOMIC_RELAXED);
	}
	last = !bad && claim_locked(rc, n);
	pthread_mutex_unlock(&rc->lock);
	if (bad)
		umnp_warn("umn_regcache_put", "region %#lx+%#lx is not held",
			  LOAD(n->pub.start), LOAD(n->pub.len));
	if (last) {
		n->lnext = NULL;
		reclaim(rc, n);
	}
}

/*
 * A put whose slot counter for n is 0: the reference was taken on another
 * thread (or counted in n->shared), or it is not held.  If the count is
 * positive, n->shared goes down by one: the unit stays on the counter it
 * was taken on, which only its thread writes.  Otherwise the region is not
 * held: report it and change nothing.
 *
 * A count read without stopping the hits may be short by references taken
 * and dropped on two counters during the read (see "references"), never
 * over but for hits about to back out: a positive one is trusted (no
 * barrier, the usual case); one that is not is read again exactly, with n
 * COUNTING if it is valid (DEAD otherwise) and the barrier after it: no
 * new reference is taken then, and the putter's own is in it (its get
 * happened before this put).
 */
static __attribute__((noinline, cold)) void
put_locked(struct umn_regcache *rc, struct rc_node *n)
{
	bool dropped, last;

	pthread_mutex_lock(&rc->lock);
	/* the sum modulo 2^32: "below 0" after puts that no get matched */
	dropped = (int)users_locked(rc, n) > 0;
	if (!dropped) {
		bool counting = count_start_locked(rc, n);

		dropped = (int)users_locked(rc, n) > 0;
		if (counting)
			__atomic_fetch_and(&n->state, ~R_COUNTING,
					   __ATOMIC_RELEASE);
	}
	if (dropped) {
		n->shared--;
		debt_mark_locked(n);
	}
	last = dropped && claim_locked(rc, n);
	pthread_mutex_unlock(&rc->lock);
	if (!dropped) {
		umnp_warn("umn_regcache_put", "region %#lx+%#lx is not held",
			  LOAD(n->pub.start), LOAD(n->pub.len));
		return;
	}
	if (last) {
		n->lnext = NULL;
		reclaim(rc, n);
	}
}

/* Drop a reference; the last one of an unlinked region deregisters it. */
static inline void put_node(struct umn_regcache *rc, struct rc_node *n)
{
	unsigned int *c = slot_ctr(rc, n, slot_idx(), false);
	unsigned int v;

	if (__builtin_expect(c != NULL, 1)) {
		/* a reference taken on this slot: drop it there */
		v = __atomic_load_n(c, __ATOMIC_RELAXED);
		while (v) {
			if (__atomic_compare_exchange_n(c, &v, v - 1, true,
							__ATOMIC_SEQ_CST,
							__ATOMIC_RELAXED)) {
				if (__builtin_expect(
					    __atomic_load_n(&n->state,
							    __ATOMIC_SEQ_CST) &
					    R_SETTLE, 0))
					put_settle(rc, n);
				return;
			}
		}
	}
	put_locked(rc, n);
}

/* put's other cases, out of the hit's way: bad arguments, a call from a
 * callback, a reference not on this thread's counter, a contended swap,
 * a last reference. */
static __attribute__((noinline)) void
put_checked(struct umn_regcache *rc, struct umn_regcache_region *region)
{
	struct rc_node *n;

	if (__builtin_expect(!rc || !region, 0)) {
		umnp_warn("umn_regcache_put", "NULL cache or region");
		return;
	}
	n = node_of(region);
	if (__builtin_expect(node_chunk(rc, n)->rc != rc, 0)) {
		umnp_warn("umn_regcache_put", "region %p is not from this "
			  "cache", (void *)region);
		return;
	}
	if (in_callback("umn_regcache_put"))
		return;		/* reported; the reference stays held */
	put_node(rc, n);
	if (__builtin_expect(LOAD(rc->pending) != NULL, 0))
		drain(rc);
}

/*
 * The common put: the reference was taken on this thread's counter and
 * nothing else needs doing.  One try of put_node's first step, inline;
 * anything else goes to put_checked, which checks everything again.
 */
void umn_regcache_put(struct umn_regcache *rc,
		      struct umn_regcache_region *region)
{
	unsigned int slot = tls_slot, idx, *c, v;
	struct rc_chunk *ch;
	struct rc_node *n;

	if (__builtin_expect(!rc || !region || !slot ||
			     umnp_thr.callback_depth, 0))
		goto other;
	/* the node's chunk names its cache: put's check without reading
	 * the node's cold part (a region of another cache has its own
	 * chunk) */
	n = node_of(region);
	ch = node_chunk(rc, n);
	if (__builtin_expect(ch->rc != rc, 0))
		goto other;
	idx = node_idx(rc, n);
	c = __atomic_load_n(&ch->ctr[(slot - 1) & (HIT_SLOTS - 1)],
			    __ATOMIC_ACQUIRE);
	if (__builtin_expect(c == NULL, 0))
		goto other;
	c += idx;
	v = __atomic_load_n(c, __ATOMIC_RELAXED);
	if (__builtin_expect(v == 0, 0))
		goto other;
	if (__builtin_expect(slot <= rc->plain_max, 1)) {
		/* this thread alone writes the counter: a plain decrement,
		 * ordered before the state load for the compiler only (the
		 * unlinker's membarrier does the rest, see "references") */
		__atomic_store_n(c, v - 1, __ATOMIC_RELEASE);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	} else if (__builtin_expect(
			   !__atomic_compare_exchange_n(c, &v, v - 1, false,
							__ATOMIC_SEQ_CST,
							__ATOMIC_RELAXED), 0)) {
		goto other;
	}
	/* dropped: as in put_node, the last user of an unlinked region
	 * counts under the lock */
	if (__builtin_expect(__atomic_load_n(&n->state, __ATOMIC_SEQ_CST) &
			     R_SETTLE, 0))
		put_settle(rc, n);
	if (__builtin_expect(LOAD(rc->pending) != NULL, 0))
		drain(rc);
	return;
other:
	put_checked(rc, region);
}

/* ---- invalidate, flush, destroy ---- */

static bool invalidate_one(struct rc_walk *w, struct rc_node *n)
{
	struct umn_regcache *rc = w->rc;

	if (!kill(n))
		return true;
	ADD(rc->invalidated, 1);
	n->pending = 1;
	ADD(rc->pending_dereg, 1);
	ADD(rc->pending_bytes, n->pub.len);
	unlink_locked(rc, n);
	w->fence |= fence_needed(rc, n);
	n->lnext = w->unlinked;
	w->unlinked = n;
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
	/* a callback may kill a linked region now: the walk leaves it to the
	 * callbacks' stack */
	UMNP_HOOK(UMNP_HOOK_RC_INVALIDATE_DRAINED, rc);
	if (rc->nlinked)
		walk_locked(rc, &w, start, end - 1, invalidate_one);
	claim_unlinked_locked(rc, w.unlinked, w.fence, &list);
	pthread_mutex_unlock(&rc->lock);
	reclaim(rc, list);
	return 0;
}

/* Kill and unlink every unused linked region (cache lock held): COUNTING
 * on every valid one, one barrier, then count them. */
static void flush_locked(struct umn_regcache *rc, struct rc_node **out)
{
	bool fence = false;

	drain_locked(rc, out);
	for (struct rc_chunk *c = rc->chunks; c && rc->nlinked; c = c->next)
		for (unsigned long i = 0; i < c->used; i++) {
			struct rc_node *n = chunk_node(rc, c, i);

			if (mine_linked(rc, n) && mark_counting_locked(n))
				fence |= fence_needed(rc, n);
		}
	if (fence)
		scan_fence();
	for (struct rc_chunk *c = rc->chunks; c && rc->nlinked; c = c->next)
		for (unsigned long i = 0; i < c->used; i++) {
			struct rc_node *n = chunk_node(rc, c, i);

			if (mine_linked(rc, n) &&
			    (__atomic_load_n(&n->state, __ATOMIC_RELAXED) &
			     R_COUNTING))
				retire_counted_locked(rc, n, out);
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
			if (n->epoch == rc->epoch && users_locked(rc, n))
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
	/* every region is gone, and with the last of each group the group
	 * (reclaim); none is left but what a bug would leave */
	for (unsigned long b = 0; b < (1ul << rc->gbits); b++) {
		struct rc_group *dead = NULL, *g, *gn;

		pthread_mutex_lock(&rc->lock);
		for (g = rc->gtab[b]; g; g = gn) {
			gn = g->hnext;
			group_del_locked(rc, g);
			g->hnext = dead;
			dead = g;
		}
		pthread_mutex_unlock(&rc->lock);
		groups_teardown(rc, dead);
	}

	pthread_mutex_lock(&caches_lock);
	UMNP_HOOK(UMNP_HOOK_RC_CACHES_LOCKED, rc);
	for (struct umn_regcache **pp = &caches; *pp; pp = &(*pp)->list_next) {
		if (*pp == rc) {
			*pp = rc->list_next;
			break;
		}
	}
	pthread_mutex_unlock(&caches_lock);
	for (struct rc_chunk *c = rc->chunks, *cn; c; c = cn) {
		cn = c->next;
		for (unsigned int s = 0; s < HIT_SLOTS; s++)
			free(c->ctr[s]);
		if (chunk_pooled(rc))
			pool_give(c);
		else
			free(c);
	}
	hash_fini(rc);
	free(rc->gtab);
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
			v = __atomic_load_n(&n->state, __ATOMIC_ACQUIRE);
			ret = fn(arg, &n->pub, users_locked(rc, n),
				 (v & R_DEAD) ? UMN_REGCACHE_REGION_INVALID :
				 0);
		}
	}
	for (struct rc_chunk *c = rc->chunks; c && !ret; c = c->next) {
		for (unsigned long i = 0; i < c->used && !ret; i++) {
			unsigned int v;

			n = chunk_node(rc, c, i);
			v = __atomic_load_n(&n->state, __ATOMIC_ACQUIRE);
			/* unlinked but not yet deregistered */
			if ((v & (R_PUB | R_UNLINKED)) ==
			    (R_PUB | R_UNLINKED) && n->epoch == rc->epoch)
				ret = fn(arg, &n->pub, users_locked(rc, n),
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
