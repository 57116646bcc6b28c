/* SPDX-License-Identifier: MIT */
/*
 * The registration cache on a managed address space whose "pages" carry a
 * mapping generation: reg() records the generations of the pages it
 * registers; an invalidation changes them.  A region handed out must carry
 * the current generations (never a stale registration), every registration
 * must be deregistered exactly once, and nothing may leak.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <umn/umn.h>
#include "harness.h"
#include "regcache.h"

#define PAGE 4096ul
#define NPAGES 8192
#define BASE 0x40000000ul

static unsigned long gen[NPAGES];
static struct umn_mm *mm;
static int regs, deregs;
static int invalidate_in_reg;	/* the next reg() sees an unmap land */

struct handle {
	unsigned long start, len;
	unsigned long gens[];	/* one per page of the region */
};

static void primary_unmap(unsigned long first, unsigned long n,
			  bool deferrable)
{
	struct umn_notifier_range r;

	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP,
				deferrable ? UMN_NOTIFIER_RANGE_DEFERRABLE : 0,
				mm, BASE + first * PAGE,
				BASE + (first + n) * PAGE);
	umn_mmap_read_lock(mm);
	if (deferrable)
		CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), 0);
	else
		umn_notifier_invalidate_range_start(&r);
	for (unsigned long p = first; p < first + n; p++)
		__atomic_add_fetch(&gen[p], 1, __ATOMIC_RELEASE);
	umn_notifier_invalidate_range_end(&r);
	umn_mmap_read_unlock(mm);
}

static int my_reg(void *ctx, unsigned long start, unsigned long len,
		  void **out)
{
	struct handle *h = calloc(1, sizeof(*h) +
				  len / PAGE * sizeof(h->gens[0]));

	(void)ctx;
	if (!h)
		return -ENOMEM;
	h->start = start;
	h->len = len;
	for (unsigned long a = start; a < start + len; a += PAGE)
		h->gens[(a - start) / PAGE] =
			__atomic_load_n(&gen[(a - BASE) / PAGE],
					__ATOMIC_ACQUIRE);
	if (invalidate_in_reg) {
		invalidate_in_reg = 0;
		primary_unmap((start - BASE) / PAGE, 1, false);
	}
	__atomic_add_fetch(&regs, 1, __ATOMIC_RELAXED);
	*out = h;
	return 0;
}

static void my_dereg(void *ctx, void *handle)
{
	(void)ctx;
	__atomic_add_fetch(&deregs, 1, __ATOMIC_RELAXED);
	free(handle);
}

static const struct regcache_ops ops = { my_reg, my_dereg };

/* Does r carry the current generation of every page? */
static bool fresh(struct regcache_region *r)
{
	struct handle *h = r->handle;

	for (unsigned long a = h->start; a < h->start + h->len; a += PAGE) {
		unsigned long p = (a - BASE) / PAGE;

		if (h->gens[(a - h->start) / PAGE] !=
		    __atomic_load_n(&gen[p], __ATOMIC_ACQUIRE))
			return false;
	}
	return true;
}

static void hit_miss_invalidate(void)
{
	struct regcache *rc = regcache_new(mm, &ops, NULL);
	struct regcache_region *a, *b, *c;
	struct regcache_stats st;

	regs = deregs = 0;
	CHECK_EQ(regcache_get(rc, BASE + 10, 2 * PAGE, &a), 0);	/* miss */
	CHECK_EQ(a->start, BASE);
	CHECK_EQ(a->len, 3 * PAGE);
	CHECK_EQ(regcache_get(rc, BASE + PAGE, PAGE, &b), 0);	/* hit */
	CHECK(a == b);
	regcache_put(rc, b);
	primary_unmap(1, 1, false);				/* hits a */
	CHECK_EQ(regcache_get(rc, BASE + PAGE, PAGE, &c), 0);	/* miss */
	CHECK(c != a);
	CHECK(fresh(c));
	CHECK(!fresh(a));	/* a is still held, invalid, not handed out */
	CHECK_EQ(deregs, 0);
	regcache_put(rc, a);	/* last ref of an invalid region: dereg */
	CHECK_EQ(deregs, 1);
	regcache_put(rc, c);
	regcache_stats(rc, &st);
	CHECK_EQ(st.hits, 1);
	CHECK_EQ(st.misses, 2);
	CHECK_EQ(st.invalidated, 1);
	CHECK_EQ(regcache_get(rc, 0, 0, &a), -EINVAL);
	CHECK_EQ(regcache_get(rc, ~0ul, 2, &a), -EINVAL);
	regcache_destroy(rc);
	CHECK_EQ(regs, deregs);
}

/* An unmap lands while reg() runs (no cache lock held): the registration
 * is thrown away and redone, never published stale. */
static void unmap_during_registration(void)
{
	struct regcache *rc = regcache_new(mm, &ops, NULL);
	struct regcache_region *a;
	struct regcache_stats st;

	regs = deregs = 0;
	invalidate_in_reg = 1;
	CHECK_EQ(regcache_get(rc, BASE + 4 * PAGE, PAGE, &a), 0);
	CHECK(fresh(a));
	regcache_stats(rc, &st);
	CHECK_EQ(st.retries, 1);
	CHECK_EQ(regs, 2);
	CHECK_EQ(deregs, 1);	/* the stale one */
	regcache_put(rc, a);
	regcache_destroy(rc);
	CHECK_EQ(regs, deregs);
}

/*
 * Deferred invalidations: thread A hammers get/put (holding the cache lock
 * often) while B sends non-blockable deferrable unmaps, whose callbacks
 * refuse whenever A holds the lock.  After each unmap's end, A's next get
 * must be fresh: a refused (deferred) invalidation may not let a stale
 * region out.
 */
static volatile int round_ready, round_ack, stop;
static struct regcache *shared_rc;

static void *thread_a(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	int seen = 0;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct regcache_region *r;
		unsigned long p = t_rand(&rng) % 4;

		CHECK_EQ(regcache_get(shared_rc, BASE + p * PAGE, PAGE, &r), 0);
		regcache_put(shared_rc, r);
		if (__atomic_load_n(&round_ready, __ATOMIC_ACQUIRE) != seen) {
			seen = __atomic_load_n(&round_ready, __ATOMIC_ACQUIRE);
			for (p = 0; p < 4; p++) {
				CHECK_EQ(regcache_get(shared_rc, BASE + p * PAGE,
						      PAGE, &r), 0);
				if (!fresh(r)) {
					fprintf(stderr, "stale region handed "
						"out after a deferred unmap\n");
					abort();
				}
				regcache_put(shared_rc, r);
			}
			__atomic_store_n(&round_ack, seen, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

static void deferred_invalidations(void)
{
	pthread_t a;
	uint64_t rng = t_seed("regcache");
	struct regcache_stats st;
	double end = t_now() + t_stress_seconds(3.0) / 2;
	int rounds = 0;

	regs = deregs = 0;
	shared_rc = regcache_new(mm, &ops, NULL);
	stop = round_ready = round_ack = 0;
	pthread_create(&a, NULL, thread_a, (void *)(uintptr_t)(rng | 1));
	while (t_now() < end) {
		unsigned long p = t_rand(&rng) % 4;

		primary_unmap(p, 1 + t_rand(&rng) % 2, true);
		rounds++;
		__atomic_store_n(&round_ready, rounds, __ATOMIC_RELEASE);
		while (__atomic_load_n(&round_ack, __ATOMIC_ACQUIRE) != rounds)
			sched_yield();
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(a, NULL);
	regcache_stats(shared_rc, &st);
	printf("# %d unmaps: hits=%lu misses=%lu invalidated=%lu "
	       "deferred=%lu retries=%lu\n", rounds, st.hits, st.misses,
	       st.invalidated, st.deferred, st.retries);
	CHECK(rounds > 10);
	regcache_destroy(shared_rc);
	CHECK_EQ(regs, deregs);
}

/*
 * Many regions: the start-address hash in front of the tree grows past its
 * initial buckets, loses entries on invalidation, and every lookup is
 * counted exactly (a lookup not starting at a region's start goes through
 * the tree).
 */
static void many_regions(void)
{
	enum { N = 2000 };	/* > the hash's initial 1024 buckets */
	struct regcache *rc = regcache_new(mm, &ops, NULL);
	struct regcache_region *r;
	struct regcache_stats st;
	int invalidated = 0;

	regs = deregs = 0;
	/* two-page regions, two pages apart */
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned long i = 0; i < N; i++) {
			CHECK_EQ(regcache_get(rc, BASE + 4 * i * PAGE,
					      2 * PAGE, &r), 0);
			CHECK_EQ(r->start, BASE + 4 * i * PAGE);
			CHECK(fresh(r));
			regcache_put(rc, r);
		}
	}
	regcache_stats(rc, &st);
	CHECK_EQ(st.misses, N);
	CHECK_EQ(st.hits, N);
	for (unsigned long i = 0; i < N; i += 3) {
		primary_unmap(4 * i + 1, 1, false);	/* second page */
		invalidated++;
	}
	for (unsigned long i = 0; i < N; i++) {
		/* the second page: no region starts there, so the hash
		 * misses and the tree finds the covering region */
		CHECK_EQ(regcache_get(rc, BASE + (4 * i + 1) * PAGE, 8, &r), 0);
		CHECK(fresh(r));
		regcache_put(rc, r);
	}
	regcache_stats(rc, &st);
	CHECK_EQ(st.invalidated, invalidated);
	/* an invalidated region is re-registered as a one-page region */
	CHECK_EQ(st.misses, N + invalidated);
	CHECK_EQ(st.hits, 2 * N - invalidated);
	regcache_destroy(rc);
	CHECK_EQ(regs, deregs);
}

static bool warned;
static void on_warn(const char *f, const char *m, void *arg)
{
	(void)arg;
	fprintf(stderr, "unexpected report: %s: %s\n", f, m);
	warned = true;
}

int main(void)
{
	umn_set_warn_handler(on_warn, NULL);
	mm = umn_mm_new();
	CHECK(mm != NULL);
	RUN(hit_miss_invalidate);
	RUN(unmap_during_registration);
	RUN(deferred_invalidations);
	RUN(many_regions);
	CHECK(!warned);
	CHECK_EQ(umn_mm_put(mm), 0);
	return 0;
}
