/* SPDX-License-Identifier: MIT */
/*
 * fork: the child's caches are empty (the parent's registrations belong to
 * the parent), it may use them and create new ones, regions it inherited
 * held may be put (never deregistered there), and a cache lock held by
 * another parent thread at fork time cannot hang it.
 */
#include <sys/wait.h>
#include "rc_common.h"

static int count_cb(void *arg, const struct umn_regcache_region *r,
		    unsigned long users, unsigned int flags)
{
	(void)r; (void)users; (void)flags;
	++*(int *)arg;
	return 0;
}

static int child_status(pid_t pid)
{
	int status;

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void child_is_empty(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *held, *r;
	pid_t pid;

	for (int i = 0; i < 10; i++) {
		CHECK_EQ(umn_regcache_get(rc, BASE + 2 * i * PAGE, PAGE, &r), 0);
		umn_regcache_put(rc, r);
	}
	CHECK_EQ(umn_regcache_get(rc, BASE + 100 * PAGE, PAGE, &held), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct umn_regcache_stats st;
		int n = 0;

		alarm(10);
		CHECK_EQ(umn_regcache_for_each(rc, count_cb, &n), 0);
		CHECK_EQ(n, 0);
		st = stats_of(rc);
		CHECK_EQ(st.regions, 0);
		CHECK_EQ(st.hits + st.misses, 0);
		deregs = regs = 0;
		/* the parent's regions are still subscribed to this managed
		 * address space: their invalidation must not reach the cache */
		primary_unmap(0, 200);
		CHECK_EQ(stats_of(rc).invalidated, 0);
		umn_regcache_put(rc, held);	/* inherited: no dereg here */
		CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);	/* miss */
		CHECK_EQ(stats_of(rc).misses, 1);
		CHECK(fresh(r));
		umn_regcache_put(rc, r);
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		CHECK_EQ(regs, 1);
		CHECK_EQ(deregs, 1);
		rc = new_cache(0, 0, 0);	/* a new one works too */
		CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
		umn_regcache_put(rc, r);
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		_exit(0);
	}
	CHECK_EQ(child_status(pid), 0);
	/* the parent's cache is untouched */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	CHECK_EQ(stats_of(rc).hits, 1);
	umn_regcache_put(rc, r);
	umn_regcache_put(rc, held);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/* Another thread holds the cache lock (inside a for_each walk) at fork. */
static volatile int holding, release_it;

static int hold_cb(void *arg, const struct umn_regcache_region *r,
		   unsigned long users, unsigned int flags)
{
	(void)arg; (void)r; (void)users; (void)flags;
	__atomic_store_n(&holding, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&release_it, __ATOMIC_ACQUIRE))
		usleep(1000);
	return 1;
}

static void *holder(void *arg)
{
	CHECK_EQ(umn_regcache_for_each(arg, hold_cb, NULL), 1);
	return NULL;
}

static void fork_with_lock_held(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;
	pthread_t t;
	pid_t pid;

	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	umn_regcache_put(rc, r);
	pthread_create(&t, NULL, holder, rc);
	while (!__atomic_load_n(&holding, __ATOMIC_ACQUIRE))
		usleep(100);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(5);	/* a hang exits through the watchdog: 2 */
		CHECK_EQ(umn_regcache_get(rc, BASE + PAGE, PAGE, &r), 0);
		umn_regcache_put(rc, r);
		CHECK_EQ(umn_regcache_flush(rc), 0);
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		_exit(0);
	}
	CHECK_EQ(child_status(pid), 0);
	__atomic_store_n(&release_it, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

int main(void)
{
	rc_setup(30);
	RUN(child_is_empty);
	RUN(fork_with_lock_held);
	rc_teardown();
	return 0;
}
