/* SPDX-License-Identifier: MIT */
/*
 * Hits, misses, covering lookups, the user data, stats, iteration, and many
 * regions (the start-address hash grows past its first table).
 */
#include <string.h>
#include "rc_common.h"

static void hit_miss_invalidate(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *a, *b, *c;
	struct umn_regcache_stats st;

	CHECK_EQ(umn_regcache_get(rc, BASE + 10, 2 * PAGE, &a), 0); /* miss */
	CHECK_EQ(a->start, BASE);
	CHECK_EQ(a->len, 3 * PAGE);
	CHECK(fresh(a));
	CHECK_EQ(umn_regcache_get(rc, BASE + PAGE, PAGE, &b), 0); /* covering */
	CHECK(a == b);
	CHECK_EQ(umn_regcache_get(rc, BASE, 3 * PAGE, &b), 0);	/* exact */
	CHECK(a == b);
	umn_regcache_put(rc, b);
	umn_regcache_put(rc, b);
	primary_unmap(1, 1);					/* hits a */
	CHECK_EQ(umn_regcache_get(rc, BASE + PAGE, PAGE, &c), 0); /* miss */
	CHECK(c != a);
	CHECK(fresh(c));
	CHECK(!fresh(a));	/* a is still held, invalid, not handed out */
	CHECK_EQ(deregs, 0);
	st = stats_of(rc);
	CHECK_EQ(st.pending_dereg, 1);
	CHECK_EQ(st.pending_bytes, 3 * PAGE);
	CHECK_EQ(st.regions, 2);
	umn_regcache_put(rc, a);	/* last ref of an invalid region: dereg */
	CHECK_EQ(deregs, 1);
	umn_regcache_put(rc, c);
	st = stats_of(rc);
	CHECK_EQ(st.hits, 2);
	CHECK_EQ(st.misses, 2);
	CHECK_EQ(st.invalidated, 1);
	CHECK_EQ(st.deferred, 0);
	CHECK_EQ(st.dereg, 1);
	CHECK_EQ(st.pending_dereg, 0);
	CHECK_EQ(st.regions, 1);
	CHECK_EQ(st.bytes, PAGE);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

static int count_cb(void *arg, const struct umn_regcache_region *r,
		    unsigned long users, unsigned int flags)
{
	unsigned long *c = arg;

	(void)r;
	c[0]++;
	c[1] += users;
	if (flags & UMN_REGCACHE_REGION_INVALID)
		c[2]++;
	return 0;
}

static int stop_cb(void *arg, const struct umn_regcache_region *r,
		   unsigned long users, unsigned int flags)
{
	(void)arg; (void)r; (void)users; (void)flags;
	return 42;
}

static void for_each_dump_flush(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r[4];
	unsigned long c[3] = { 0, 0, 0 };
	FILE *f = tmpfile();
	char line[256];
	int lines = 0;

	for (int i = 0; i < 4; i++)
		CHECK_EQ(umn_regcache_get(rc, BASE + 8 * i * PAGE, PAGE,
					  &r[i]), 0);
	umn_regcache_put(rc, r[0]);
	umn_regcache_put(rc, r[1]);
	primary_unmap(16, 1);		/* r[2], held: invalid */
	CHECK_EQ(umn_regcache_invalidate(rc, BASE, PAGE), 0); /* r[0] */
	CHECK_EQ(deregs, 1);
	CHECK_EQ(umn_regcache_flush(rc), 0);	/* r[1]: unused */
	CHECK_EQ(deregs, 2);
	CHECK_EQ(umn_regcache_for_each(rc, count_cb, c), 0);
	CHECK_EQ(c[0], 2);		/* r[3] cached, r[2] invalid */
	CHECK_EQ(c[1], 2);
	CHECK_EQ(c[2], 1);
	CHECK_EQ(umn_regcache_for_each(rc, stop_cb, NULL), 42);
	CHECK(f != NULL);
	umn_regcache_dump(rc, f);
	rewind(f);
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	CHECK_EQ(lines, 3);		/* stats, two regions */
	umn_regcache_put(rc, r[2]);
	umn_regcache_put(rc, r[3]);
	CHECK_EQ(stats_of(rc).evicted, 1);	/* the flush */
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/* An explicit invalidate of a region an unmap already killed (its callback
 * queued it, no get or put has drained it yet): counted and deregistered
 * once, not twice. */
static void invalidate_after_unmap(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;

	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	umn_regcache_put(rc, r);
	primary_unmap(0, 1);		/* the callback kills and queues it */
	CHECK_EQ(umn_regcache_invalidate(rc, BASE, PAGE), 0);
	flush_killed_once(rc);
}

/* Many regions: the hash grows, loses entries on invalidation, and every
 * lookup is counted exactly. */
static void many_regions(void)
{
	enum { N = 2000 };
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;
	struct umn_regcache_stats st;
	int invalidated = 0;

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned long i = 0; i < N; i++) {
			CHECK_EQ(umn_regcache_get(rc, BASE + 4 * i * PAGE,
						  2 * PAGE, &r), 0);
			CHECK_EQ(r->start, BASE + 4 * i * PAGE);
			CHECK(fresh(r));
			umn_regcache_put(rc, r);
		}
	}
	st = stats_of(rc);
	CHECK_EQ(st.misses, N);
	CHECK_EQ(st.hits, N);
	for (unsigned long i = 0; i < N; i += 3) {
		primary_unmap(4 * i + 1, 1);	/* second page */
		invalidated++;
	}
	for (unsigned long i = 0; i < N; i++) {
		CHECK_EQ(umn_regcache_get(rc, BASE + (4 * i + 1) * PAGE, 8,
					  &r), 0);
		CHECK(fresh(r));
		umn_regcache_put(rc, r);
	}
	st = stats_of(rc);
	CHECK_EQ(st.invalidated, invalidated);
	CHECK_EQ(st.misses, N + invalidated);
	CHECK_EQ(st.hits, 2 * N - invalidated);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/* alignment and region_size 0 (no user data) */
static int plain_regs;
static int plain_reg(void *ctx, struct umn_regcache_region *r)
{
	(void)ctx; (void)r;
	plain_regs++;
	return 0;
}
static void plain_dereg(void *ctx, struct umn_regcache_region *r)
{
	(void)ctx; (void)r;
	plain_regs--;
}
static const struct umn_regcache_ops plain_ops = { plain_reg, plain_dereg };

static void alignment(void)
{
	struct umn_regcache_params p = { .ops = &plain_ops,
					 .alignment = 64 * 1024 };
	struct umn_regcache *rc = umn_regcache_new(mm, &p);
	struct umn_regcache_region *r, *s;

	CHECK(rc != NULL);
	CHECK_EQ(umn_regcache_get(rc, BASE + 70000, 100, &r), 0);
	CHECK_EQ(r->start, BASE + 65536);
	CHECK_EQ(r->len, 65536);
	CHECK_EQ(umn_regcache_get(rc, BASE + 65536 + 5, 1, &s), 0);
	CHECK(r == s);
	umn_regcache_put(rc, r);
	umn_regcache_put(rc, s);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(plain_regs, 0);
}

/*
 * Node chunks go from a destroyed cache to the next one (the chunk pool),
 * whatever their node sizes: a cache whose nodes carry 2000 bytes of user
 * data (each written whole), then one of small nodes, which carves more of
 * a chunk's bytes (a chunk shorter than the new cache thinks is a heap
 * overflow under ASan, a corrupted neighbour otherwise), then one whose
 * single node is larger than a chunk (never pooled).
 */
static size_t big_user;
static int big_reg(void *ctx, struct umn_regcache_region *r)
{
	(void)ctx;
	memset(umn_regcache_region_data(r), 0xa5, big_user);
	plain_regs++;
	return 0;
}
static const struct umn_regcache_ops big_ops = { big_reg, plain_dereg };

static void pool_across_node_sizes(void)
{
	static const size_t users[] = { 2000, 0, 2000, 100000, 0 };

	for (unsigned int k = 0; k < sizeof(users) / sizeof(users[0]); k++) {
		struct umn_regcache_params p = {
			.ops = &big_ops,
			.region_size = sizeof(struct umn_regcache_region) +
				       users[k],
		};
		struct umn_regcache *rc;
		unsigned long n = users[k] > 50000 ? 4 : 500;

		big_user = users[k];
		rc = umn_regcache_new(mm, &p);
		CHECK(rc != NULL);
		for (unsigned long i = 0; i < n; i++) {
			struct umn_regcache_region *r;
			unsigned char *d;

			CHECK_EQ(umn_regcache_get(rc, BASE + i * PAGE, PAGE,
						  &r), 0);
			d = umn_regcache_region_data(r);
			if (big_user)
				CHECK(d[0] == 0xa5 && d[big_user - 1] == 0xa5);
			umn_regcache_put(rc, r);
		}
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		CHECK_EQ(plain_regs, 0);
	}
}

int main(void)
{
	rc_setup(60);
	/* first: while the chunk pool is empty (its chunks come from this
	 * test's caches, not from the others', which fill it up) */
	RUN(pool_across_node_sizes);
	RUN(hit_miss_invalidate);
	RUN(for_each_dump_flush);
	RUN(invalidate_after_unmap);
	RUN(many_regions);
	RUN(alignment);
	rc_teardown();
	return 0;
}
