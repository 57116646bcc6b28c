/* SPDX-License-Identifier: MIT */
/*
 * Never stale: a region returned by get was registered after the last
 * change of its pages, and a region is never handed out once an
 * invalidation of it started -- also before the cache got round to
 * unlinking it (a hit must check validity atomically with taking its
 * reference), and when the invalidation lands during reg().
 */
#include "rc_common.h"

/* An unmap lands while reg() runs (no cache lock held): the registration
 * is thrown away and redone, never published stale. */
static int unmap_in_reg;
static void unmap_hook(struct umn_regcache_region *r)
{
	if (unmap_in_reg) {
		unmap_in_reg--;
		primary_unmap((r->start - BASE) / PAGE, 1);
	}
}

static void unmap_during_registration(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *a;
	struct umn_regcache_stats st;

	in_reg_hook = unmap_hook;
	unmap_in_reg = 2;	/* twice in a row */
	CHECK_EQ(umn_regcache_get(rc, BASE + 4 * PAGE, PAGE, &a), 0);
	CHECK(fresh(a));
	st = stats_of(rc);
	CHECK_EQ(st.retries, 2);
	CHECK_EQ(st.misses, 1);
	CHECK_EQ(st.invalidated, 0);	/* never published */
	CHECK_EQ(regs, 3);
	CHECK_EQ(deregs, 2);		/* the stale ones */
	umn_regcache_put(rc, a);
	in_reg_hook = NULL;
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/*
 * A region invalidated and got again with the same range reuses its node
 * and its interval subscription (no remove + insert): the old registration
 * is deregistered before the new one is made, the new one is fresh, the
 * kept subscription still reports later changes, and an invalidation
 * landing during the new registration makes it retry.
 */
static void reget_reuses_subscription(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *a, *b, *c;
	struct umn_regcache_stats st;

	CHECK_EQ(umn_regcache_get(rc, BASE + 8 * PAGE, 2 * PAGE, &a), 0);
	umn_regcache_put(rc, a);
	primary_unmap(8, 2);
	CHECK_EQ(umn_regcache_get(rc, BASE + 8 * PAGE, 2 * PAGE, &b), 0);
	CHECK(b == a);		/* the same node */
	CHECK(fresh(b));
	st = stats_of(rc);
	CHECK_EQ(st.misses, 2);
	CHECK_EQ(st.invalidated, 1);
	CHECK_EQ(st.dereg, 1);
	CHECK_EQ(st.regions, 1);
	CHECK_EQ(st.pending_dereg, 0);
	CHECK_EQ(regs, 2);
	CHECK_EQ(deregs, 1);
	umn_regcache_put(rc, b);
	/* the subscription kept reports the next change */
	primary_unmap(9, 1);
	CHECK_EQ(stats_of(rc).invalidated, 2);
	/* a change during the new registration: thrown away, redone */
	in_reg_hook = unmap_hook;
	unmap_in_reg = 1;
	CHECK_EQ(umn_regcache_get(rc, BASE + 8 * PAGE, 2 * PAGE, &c), 0);
	CHECK(c == a);
	CHECK(fresh(c));
	st = stats_of(rc);
	CHECK_EQ(st.retries, 1);
	CHECK_EQ(st.misses, 3);
	CHECK_EQ(st.regions, 1);
	in_reg_hook = NULL;
	umn_regcache_put(rc, c);
	/* a different range is a new node */
	primary_unmap(8, 2);
	CHECK_EQ(umn_regcache_get(rc, BASE + 8 * PAGE, PAGE, &b), 0);
	CHECK(b != a);
	CHECK(fresh(b));
	umn_regcache_put(rc, b);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/*
 * A non-blockable invalidation only marks the region and queues it; the
 * region is still in the hash when the next get looks it up.  That get
 * must not hand it out (the hit's compare-and-swap sees DEAD), for every
 * region, held or not.
 */
static void hit_after_queued_invalidation(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *a, *b, *held;

	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &a), 0);
	umn_regcache_put(rc, a);
	CHECK_EQ(umn_regcache_get(rc, BASE + 2 * PAGE, PAGE, &held), 0);
	primary_unmap_flags(0, 3, true);	/* both, deferrable */
	CHECK_EQ(stats_of(rc).pending_dereg, 2);
	CHECK_EQ(stats_of(rc).deferred, 2);
	CHECK_EQ(deregs, 0);			/* nothing ran in the callback */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &b), 0);
	CHECK(fresh(b));
	CHECK(b != a || stats_of(rc).misses == 3);
	CHECK_EQ(stats_of(rc).hits, 0);
	CHECK_EQ(deregs, 1);			/* a, drained by that get */
	umn_regcache_put(rc, b);
	CHECK_EQ(umn_regcache_get(rc, BASE + 2 * PAGE, PAGE, &b), 0);
	CHECK(b != held);
	CHECK(fresh(b));
	CHECK(!fresh(held));
	umn_regcache_put(rc, b);
	umn_regcache_put(rc, held);
	CHECK_EQ(deregs, 2);
	CHECK_EQ(stats_of(rc).pending_dereg, 0);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/* The same through an explicit invalidate and a later covering lookup. */
static void explicit_invalidate(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *a, *b;

	CHECK_EQ(umn_regcache_get(rc, BASE, 4 * PAGE, &a), 0);
	CHECK_EQ(umn_regcache_invalidate(rc, BASE + 3 * PAGE, 1), 0);
	CHECK_EQ(stats_of(rc).pending_dereg, 1);
	CHECK_EQ(umn_regcache_get(rc, BASE + PAGE, PAGE, &b), 0);
	CHECK(b != a);
	CHECK_EQ(stats_of(rc).misses, 2);
	umn_regcache_put(rc, a);
	CHECK_EQ(stats_of(rc).pending_dereg, 0);
	umn_regcache_put(rc, b);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/*
 * Threads: A and B hammer get/put on four pages (hits, lock-free), the main
 * thread sends unmaps (deferrable or not).  After each unmap's end, every
 * get must be fresh.
 */
static volatile int round_ready, round_ack[2], stop;
static struct umn_regcache *shared_rc;

static void *hammer(void *arg)
{
	int id = (int)(uintptr_t)arg;
	uint64_t rng = 0x1234567ull * (uint64_t)(id + 1);
	int seen = 0;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct umn_regcache_region *r;
		unsigned long p = t_rand(&rng) % 4;
		int ready = __atomic_load_n(&round_ready, __ATOMIC_ACQUIRE);

		CHECK_EQ(umn_regcache_get(shared_rc, BASE + p * PAGE, PAGE,
					  &r), 0);
		if (ready != seen && !fresh(r)) {
			fprintf(stderr, "stale region handed out after "
				"unmap %d\n", ready);
			abort();
		}
		umn_regcache_put(shared_rc, r);
		if (ready != seen) {
			seen = ready;
			__atomic_store_n(&round_ack[id], seen,
					 __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

static void threads_and_unmaps(void)
{
	pthread_t t[2];
	uint64_t rng = t_seed("regcache.never_stale");
	struct umn_regcache_stats st;
	double end = t_now() + t_stress_seconds(2.0);
	int rounds = 0;

	shared_rc = new_cache(0, 0, 0);
	stop = round_ready = round_ack[0] = round_ack[1] = 0;
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)i);
	while (t_now() < end) {
		unsigned long p = t_rand(&rng) % 4;

		primary_unmap_flags(p, 1 + t_rand(&rng) % 2,
				    t_rand(&rng) & 1);
		rounds++;
		__atomic_store_n(&round_ready, rounds, __ATOMIC_RELEASE);
		for (int i = 0; i < 2; i++)
			while (__atomic_load_n(&round_ack[i],
					       __ATOMIC_ACQUIRE) != rounds)
				sched_yield();
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	st = stats_of(shared_rc);
	printf("# %d unmaps: hits=%lu misses=%lu invalidated=%lu "
	       "deferred=%lu retries=%lu pending=%lu\n", rounds, st.hits,
	       st.misses, st.invalidated, st.deferred, st.retries,
	       st.pending_dereg);
	CHECK(rounds > 10);
	CHECK(st.pending_dereg <= st.pending_bound);
	CHECK_EQ(umn_regcache_destroy(shared_rc), 0);
	CHECK_EQ(regs, deregs);
}

int main(void)
{
	rc_setup(60);
	RUN(unmap_during_registration);
	RUN(reget_reuses_subscription);
	RUN(hit_after_queued_invalidation);
	RUN(explicit_invalidate);
	RUN(threads_and_unmaps);
	rc_teardown();
	return 0;
}
