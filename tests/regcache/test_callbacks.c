/* SPDX-License-Identifier: MIT */
/*
 * Callbacks never block and never lose work.  Invalidations arrive on a
 * thread that holds the cache lock (a for_each walk whose function frees
 * memory, as free() inside the cache would) and from a signal handler; the
 * callback must not take the cache lock (the watchdog catches the
 * self-deadlock), and every region it marks must be deregistered at the
 * next get, put or flush.  The queue of invalidated-but-not-deregistered
 * regions is bounded by the registered regions (stats.pending_bound).
 */
#include "rc_common.h"

static struct umn_regcache *the_rc;

/* Runs under the cache lock: an unmap no one can defer. */
static int unmap_under_lock(void *arg, const struct umn_regcache_region *r,
			    unsigned long users, unsigned int flags)
{
	(void)users; (void)flags;
	if (arg == NULL)
		primary_unmap_flags((r->start - BASE) / PAGE, 1, true);
	return 0;
}

static void invalidation_under_cache_lock(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;
	struct umn_regcache_stats st;

	for (int i = 0; i < 8; i++) {
		CHECK_EQ(umn_regcache_get(rc, BASE + 2 * i * PAGE, PAGE, &r), 0);
		umn_regcache_put(rc, r);
	}
	CHECK_EQ(umn_regcache_for_each(rc, unmap_under_lock, NULL), 0);
	st = stats_of(rc);
	CHECK_EQ(st.invalidated, 8);
	CHECK_EQ(st.deferred, 8);
	CHECK_EQ(st.pending_dereg, 8);
	CHECK(st.pending_dereg <= st.pending_bound);
	CHECK_EQ(deregs, 0);
	/* the next get deregisters them all */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	CHECK(fresh(r));
	CHECK_EQ(deregs, 8);
	st = stats_of(rc);
	CHECK_EQ(st.pending_dereg, 0);
	CHECK_EQ(st.pending_bytes, 0);
	CHECK_EQ(st.regions, 1);
	umn_regcache_put(rc, r);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/* A signal handler's unmap, landing while the thread is inside reg()
 * (between read_begin and the publication) and again while it is idle. */
static volatile sig_atomic_t handler_page = -1;
static void on_usr1(int sig)
{
	(void)sig;
	if (handler_page >= 0)
		primary_unmap_flags((unsigned long)handler_page, 1, true);
}

static int raise_in_reg;
static void raise_hook(struct umn_regcache_region *r)
{
	if (raise_in_reg) {
		raise_in_reg = 0;
		handler_page = (sig_atomic_t)((r->start - BASE) / PAGE);
		raise(SIGUSR1);
	}
}

static void invalidation_from_signal_handler(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r, *s;

	signal(SIGUSR1, on_usr1);
	in_reg_hook = raise_hook;
	raise_in_reg = 1;
	CHECK_EQ(umn_regcache_get(rc, BASE + 40 * PAGE, PAGE, &r), 0);
	CHECK(fresh(r));
	CHECK_EQ(stats_of(rc).retries, 1);
	umn_regcache_put(rc, r);
	handler_page = 40;
	raise(SIGUSR1);			/* r: marked, queued */
	CHECK_EQ(stats_of(rc).pending_dereg, 1);
	CHECK_EQ(umn_regcache_get(rc, BASE + 40 * PAGE, PAGE, &s), 0);
	CHECK(fresh(s));
	CHECK_EQ(stats_of(rc).pending_dereg, 0);
	umn_regcache_put(rc, s);
	in_reg_hook = NULL;
	handler_page = -1;
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/* Bound: N invalidations with no get in between queue each region once,
 * even when the same range is invalidated again and again. */
static void queue_is_bounded(void)
{
	enum { N = 100 };
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;
	struct umn_regcache_stats st;

	for (unsigned long i = 0; i < N; i++) {
		CHECK_EQ(umn_regcache_get(rc, BASE + i * PAGE, PAGE, &r), 0);
		umn_regcache_put(rc, r);
	}
	for (int k = 0; k < 5; k++)
		primary_unmap_flags(0, N, true);
	st = stats_of(rc);
	CHECK_EQ(st.pending_dereg, N);
	CHECK_EQ(st.pending_bytes, N * PAGE);
	CHECK_EQ(st.pending_bound, N);
	CHECK_EQ(st.invalidated, N);
	CHECK_EQ(umn_regcache_flush(rc), 0);
	st = stats_of(rc);
	CHECK_EQ(st.pending_dereg, 0);
	CHECK_EQ(st.regions, 0);
	CHECK_EQ(deregs, N);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	(void)the_rc;
}

int main(void)
{
	rc_setup(30);
	RUN(invalidation_under_cache_lock);
	RUN(invalidation_from_signal_handler);
	RUN(queue_is_bounded);
	rc_teardown();
	return 0;
}
