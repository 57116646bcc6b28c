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
	RUN(merge);
	rc_teardown();
	return 0;
}
