/* SPDX-License-Identifier: MIT */
/*
 * The registration cache when a thread's reference-counter array cannot be
 * allocated (src/regcache/regcache.c, "references"): the hit falls over to
 * the locked path, the miss counts its reference under the lock, and the
 * counts still add up.  Each allocation the scenario reaches fails once
 * (SQLite-style, as test_alloc_fail.c); at every step get returns 0 or
 * -ENOMEM, a put on another thread than its get is accepted, a region
 * killed while held is not deregistered before its last put, every region
 * is deregistered exactly once, destroy does not say -EBUSY, nothing leaks
 * (ASan).  Needs a -DUMN_FAULT_INJECT=ON build; skips (77) otherwise.
 */
#include "harness.h"

#if !UMN_FAULT_INJECT
int main(void)
{
	printf("# needs -DUMN_FAULT_INJECT=ON: skipped\n");
	return T_SKIP;
}
#else
#include "../regcache/rc_common.h"
#include "alloc.h"

struct job {
	struct umn_regcache *rc;
	struct umn_regcache_region *put;	/* put this one */
	int got;				/* and get + put one */
};

static void *other_thread(void *p)
{
	struct job *j = p;
	struct umn_regcache_region *r;
	int ret = umn_regcache_get(j->rc, BASE, PAGE, &r);

	CHECK(ret == 0 || ret == -ENOMEM);
	if (ret == 0) {
		CHECK(fresh(r));
		umn_regcache_put(j->rc, r);
		j->got = 1;
	}
	if (j->put)
		umn_regcache_put(j->rc, j->put);
	return NULL;
}

static unsigned long fail_n, last_count;

static void scenario(void)
{
	struct umn_regcache *rc;
	struct umn_regcache_region *r, *s;
	struct job j = { 0 };
	unsigned long consumed = 0;
	pthread_t t;
	int ret;

	rc = new_cache(0, 0, 0);
	umn__fault_alloc_fail_at(fail_n);
	ret = umn_regcache_get(rc, BASE, PAGE, &r);		/* miss */
	CHECK(ret == 0 || ret == -ENOMEM);
	if (ret == 0) {
		CHECK(fresh(r));
		ret = umn_regcache_get(rc, BASE, PAGE, &s);	/* hit */
		CHECK(ret == 0 || ret == -ENOMEM);
		if (ret == 0) {
			CHECK(s == r);
			umn_regcache_put(rc, s);
		}
		/* still held (on a counter, or under the lock when its array
		 * could not be had): an unmap kills it, but the flush must not
		 * deregister it before its last put */
		{
			int before = deregs;

			/* (allocations here are not under test: injection
			 * paused, the count kept) */
			consumed = umn__fault_alloc_count();
			umn__fault_alloc_fail_at(0);
			primary_unmap(0, 1);
			CHECK_EQ(umn_regcache_flush(rc), 0);
			CHECK_EQ(deregs, before);
			umn__fault_alloc_fail_at(consumed < fail_n ?
						 fail_n - consumed : 0);
		}
		j.put = r;
	}
	/* another thread: a hit (its first counter array in this chunk)
	 * and the put of our reference */
	j.rc = rc;
	CHECK_EQ(pthread_create(&t, NULL, other_thread, &j), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	last_count = consumed + umn__fault_alloc_count();
	umn__fault_alloc_fail_at(0);
	primary_unmap(0, 1);
	CHECK_EQ(umn_regcache_flush(rc), 0);
	CHECK_EQ(stats_of(rc).pending_dereg, 0);
	CHECK_EQ(stats_of(rc).regions, 0);
	CHECK_EQ(regs, deregs);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
}

int main(void)
{
	unsigned long n;

	rc_setup(200);
	/* once without failures: the address space's first subscription
	 * allocates once for good; from here each run allocates the same */
	fail_n = 0;
	scenario();
	for (n = 1;; n++) {
		bool hit;

		fail_n = n;
		scenario();
		hit = last_count >= n;
		if (!hit)
			break;
		CHECK(n < 10000);
	}
	printf("# regcache counters: %lu allocations, each failed once\n",
	       n - 1);
	CHECK(n > 1);
	rc_teardown();
	return 0;
}
#endif
