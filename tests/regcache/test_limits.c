/* SPDX-License-Identifier: MIT */
/*
 * Limits and merge: max_regions and max_bytes evict unused regions in
 * CLOCK order (least recently used, approximately: a hit sets a
 * referenced bit, the hand clears it once before evicting); regions in use
 * are never evicted.  UMN_REGCACHE_MERGE registers the union of the regions
 * a miss overlaps or touches and retires them; a retired region is never
 * handed out again, and a held one is deregistered at its last put.
 */
#include "rc_common.h"

static struct umn_regcache_region *get(struct umn_regcache *rc,
				       unsigned long page, unsigned long n)
{
	struct umn_regcache_region *r;

	CHECK_EQ(umn_regcache_get(rc, BASE + page * PAGE, n * PAGE, &r), 0);
	CHECK(fresh(r));
	return r;
}

static bool cached(struct umn_regcache *rc, unsigned long page)
{
	unsigned long before = stats_of(rc).hits;
	struct umn_regcache_region *r = get(rc, page, 1);

	umn_regcache_put(rc, r);
	return stats_of(rc).hits == before + 1;
}

static void lru_max_regions(void)
{
	struct umn_regcache *rc = new_cache(3, 0, 0);

	umn_regcache_put(rc, get(rc, 0, 1));	/* A */
	umn_regcache_put(rc, get(rc, 2, 1));	/* B */
	umn_regcache_put(rc, get(rc, 4, 1));	/* C */
	umn_regcache_put(rc, get(rc, 0, 1));	/* A used again */
	umn_regcache_put(rc, get(rc, 6, 1));	/* D: evicts B */
	CHECK_EQ(stats_of(rc).evicted, 1);
	CHECK_EQ(deregs, 1);
	CHECK_EQ(stats_of(rc).regions, 3);
	CHECK(cached(rc, 0));
	CHECK(cached(rc, 4));
	CHECK(cached(rc, 6));
	CHECK(!cached(rc, 2));		/* B again: evicts one */
	CHECK_EQ(stats_of(rc).regions, 3);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

static void held_never_evicted(void)
{
	struct umn_regcache *rc = new_cache(2, 0, 0);
	struct umn_regcache_region *h[4];

	for (int i = 0; i < 4; i++)
		h[i] = get(rc, 2 * (unsigned long)i, 1);
	CHECK_EQ(stats_of(rc).evicted, 0);	/* all held */
	CHECK_EQ(stats_of(rc).regions, 4);
	for (int i = 0; i < 4; i++) {
		CHECK(fresh(h[i]));
		umn_regcache_put(rc, h[i]);
	}
	umn_regcache_put(rc, get(rc, 20, 1));	/* a miss evicts down to 2 */
	CHECK_EQ(stats_of(rc).regions, 2);
	CHECK_EQ(stats_of(rc).evicted, 3);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

static void lru_max_bytes(void)
{
	struct umn_regcache *rc = new_cache(0, 4 * PAGE, 0);

	umn_regcache_put(rc, get(rc, 0, 2));
	umn_regcache_put(rc, get(rc, 4, 2));
	CHECK_EQ(stats_of(rc).evicted, 0);
	umn_regcache_put(rc, get(rc, 8, 1));	/* 5 pages: evict the first */
	CHECK_EQ(stats_of(rc).evicted, 1);
	CHECK(stats_of(rc).bytes <= 4 * PAGE);
	CHECK(cached(rc, 4));
	CHECK(cached(rc, 8));
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/* The regions linked now, as a bit mask of page / 2 (pages 0 .. 126). */
static int collect(void *arg, const struct umn_regcache_region *r,
		   unsigned long users, unsigned int flags)
{
	unsigned long page = (r->start - BASE) / PAGE;

	(void)users;
	if (!(flags & UMN_REGCACHE_REGION_INVALID) && page < 128)
		*(unsigned long *)arg |= 1ul << (page / 2);
	return 0;
}

static unsigned long linked_set(struct umn_regcache *rc)
{
	unsigned long set = 0;

	CHECK_EQ(umn_regcache_for_each(rc, collect, &set), 0);
	return set;
}

#define PG(p) (1ul << ((p) / 2))

/*
 * The sweep's second chance: a region hit since the hand last passed it
 * survives that pass (losing its bit), an unreferenced one goes first even
 * when it lies after referenced ones; a referenced region not hit again is
 * evicted when the hand comes back.  Nodes lie in the chunk in the order
 * of the misses (A B C D E), the hand starts at the first.
 */
static void sweep_second_chance(void)
{
	struct umn_regcache *rc = new_cache(4, 0, 0);

	for (unsigned long p = 0; p < 8; p += 2)	/* A B C D */
		umn_regcache_put(rc, get(rc, p, 1));
	CHECK(cached(rc, 0));			/* A, B, C referenced */
	CHECK(cached(rc, 2));
	CHECK(cached(rc, 4));
	umn_regcache_put(rc, get(rc, 8, 1));	/* E: evicts D */
	CHECK_EQ(stats_of(rc).evicted, 1);
	CHECK_EQ(linked_set(rc), PG(0) | PG(2) | PG(4) | PG(8));
	/* F takes D's node; the hand is at E, not referenced */
	umn_regcache_put(rc, get(rc, 10, 1));
	CHECK_EQ(linked_set(rc), PG(0) | PG(2) | PG(4) | PG(10));
	/* G takes E's node; the hand wraps to A, whose bit the first pass
	 * cleared: A goes, though it was hit before B and C */
	umn_regcache_put(rc, get(rc, 12, 1));
	CHECK_EQ(linked_set(rc), PG(2) | PG(4) | PG(10) | PG(12));
	CHECK_EQ(stats_of(rc).evicted, 3);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

#if UMN_TEST_HOOKS
extern unsigned long umn__test_rc_sweep_visits;
#endif

static unsigned long sweep_visits(void)
{
#if UMN_TEST_HOOKS
	return __atomic_load_n(&umn__test_rc_sweep_visits, __ATOMIC_RELAXED);
#else
	return 0;
#endif
}

/*
 * The sweep over chunks that are mostly free nodes: 1024 regions held at
 * once (over max_regions 8: nothing to evict), then all but 8 of them,
 * spread over the chunks, invalidated.  2000 misses after that each stay
 * within the limit, and the sweep looks at no more than 2 * 1024 + 1 nodes
 * in any one miss, and one turn (1024) per eviction on average (about
 * 1024 / 8 in fact: the linked nodes are 8 among 1024).
 */
static void sweep_sparse(void)
{
	enum { HELD = 1024, KEEP = 8, MISSES = 2000 };
	struct umn_regcache *rc = new_cache(KEEP, 0, 0);
	struct umn_regcache_region **h = calloc(HELD, sizeof(*h));
	unsigned long v0, v, worst = 0, ev0;

	CHECK(h != NULL);
	for (unsigned long i = 0; i < HELD; i++)
		h[i] = get(rc, i, 1);
	CHECK_EQ(stats_of(rc).evicted, 0);
	CHECK_EQ(stats_of(rc).regions, HELD);
	for (unsigned long i = 0; i < HELD; i++)
		umn_regcache_put(rc, h[i]);
	for (unsigned long i = 0; i < HELD; i++)
		if (i % (HELD / KEEP))
			CHECK_EQ(umn_regcache_invalidate(rc, BASE + i * PAGE,
							 PAGE), 0);
	CHECK_EQ(stats_of(rc).regions, KEEP);
	ev0 = stats_of(rc).evicted;
	v0 = sweep_visits();
	for (unsigned long i = 0; i < MISSES; i++) {
		unsigned long before = sweep_visits();

		umn_regcache_put(rc, get(rc, HELD + i, 1));
		CHECK(stats_of(rc).regions <= KEEP);
		if (sweep_visits() - before > worst)
			worst = sweep_visits() - before;
	}
	v = sweep_visits() - v0;
	CHECK_EQ(stats_of(rc).evicted - ev0, MISSES);
#if UMN_TEST_HOOKS
	fprintf(stderr, "# sweep: %lu nodes looked at for %d evictions "
		"(%lu per eviction, at most %lu in one miss)\n", v, MISSES,
		v / MISSES, worst);
	CHECK(worst <= 2 * HELD + 1);
	CHECK(v <= (unsigned long)MISSES * HELD);
#else
	(void)v;
	fprintf(stderr, "# sweep: nodes looked at are counted with "
		"-DUMN_TEST_HOOKS=ON only\n");
#endif
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
	free(h);
}

static void merge(void)
{
	struct umn_regcache *rc = new_cache(0, 0, UMN_REGCACHE_MERGE);
	struct umn_regcache_region *a, *b, *held, *m;

	a = get(rc, 0, 2);			/* [0, 2) */
	umn_regcache_put(rc, a);
	held = get(rc, 4, 2);			/* [4, 6), kept */
	b = get(rc, 2, 2);			/* touches both: [0, 6) */
	CHECK_EQ(b->start, BASE);
	CHECK_EQ(b->len, 6 * PAGE);
	CHECK_EQ(stats_of(rc).merged, 2);
	CHECK_EQ(deregs, 1);			/* a: unused */
	/* the retired held region is never handed out again */
	m = get(rc, 4, 2);
	CHECK(m == b);
	CHECK(m != held);
	umn_regcache_put(rc, m);
	umn_regcache_put(rc, held);		/* its last put: dereg */
	CHECK_EQ(deregs, 2);
	/* overlapping, not touching at the edge */
	m = get(rc, 5, 3);			/* [5, 8) overlaps [0, 6) */
	CHECK_EQ(m->start, BASE);
	CHECK_EQ(m->len, 8 * PAGE);
	umn_regcache_put(rc, m);
	umn_regcache_put(rc, b);
	CHECK_EQ(stats_of(rc).merged, 3);
	CHECK_EQ(stats_of(rc).regions, 1);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

int main(void)
{
	rc_setup(30);
	RUN(lru_max_regions);
	RUN(held_never_evicted);
	RUN(lru_max_bytes);
	RUN(sweep_second_chance);
	RUN(sweep_sparse);
	RUN(merge);
	rc_teardown();
	return 0;
}
