/* SPDX-License-Identifier: MIT */
/*
 * fork: the child's caches are empty (the parent's registrations belong to
 * the parent), it may use them and create new ones, regions it inherited
 * held may be put (never deregistered there), and a lock held by another
 * parent thread at fork time cannot hang it: a cache's lock (inside a
 * for_each walk), the chunk pool's or the list of caches' (inside
 * destroy, paused by a white-box hook: hook builds only).
 */
#include <malloc.h>
#include <sys/wait.h>
#include "rc_common.h"
#include "test_hook.h"

/* Bytes the allocator has handed out and not taken back: the sanitizers'
 * count in their builds, glibc's otherwise. */
extern size_t __sanitizer_get_current_allocated_bytes(void)
	__attribute__((weak));
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
extern void __lsan_ignore_object(const void *p) __attribute__((weak));

/* the parent's registrations own the test's per-region data (reg's
 * calloc); the child forgets them, so that data is the user's leak there,
 * by design: not what the child's leak check is about */
static void lsan_ignore_data(struct umn_regcache_region *r)
{
	if (__lsan_ignore_object)
		__lsan_ignore_object(((struct my_region *)r)->gens);
}

static size_t heap_in_use(void)
{
	if (__sanitizer_get_current_allocated_bytes)
		return __sanitizer_get_current_allocated_bytes();
	return mallinfo2().uordblks;
}

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

/*
 * The child reuses the parent's nodes instead of leaking them: 2000 misses
 * in the child after the parent cached 2000 regions allocate no node
 * memory (only the test's own per-region data, 32 B each), and destroy
 * gives the parent's chunks to the chunk pool, from which a new cache's
 * misses take them.  A node the parent held stays out of use.
 */
#define NPARENT 2000ul

static void child_reuses_parent_nodes(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *held, *r;
	pid_t pid;

	for (unsigned long i = 0; i < NPARENT; i++) {
		CHECK_EQ(umn_regcache_get(rc, BASE + i * PAGE, PAGE, &r), 0);
		lsan_ignore_data(r);
		umn_regcache_put(rc, r);
	}
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &held), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		size_t h0, h1, h2, h3;

		alarm(20);
		h0 = heap_in_use();
		for (unsigned long i = NPARENT; i < 2 * NPARENT; i++) {
			CHECK_EQ(umn_regcache_get(rc, BASE + i * PAGE, PAGE,
						  &r), 0);
			CHECK(fresh(r));
			umn_regcache_put(rc, r);
		}
		h1 = heap_in_use();
		fprintf(stderr, "# child: %lu misses grew the heap by %zu B\n",
			NPARENT, h1 - h0);
		/* leaked, each miss would carve a node of >= 200 B */
		CHECK(h1 - h0 < NPARENT * 100);
		/* the parent's regions were forgotten: no invalidation of
		 * them reaches the cache, and the reused nodes are fresh */
		primary_unmap(0, NPARENT);
		CHECK_EQ(stats_of(rc).invalidated, 0);
		CHECK_EQ(stats_of(rc).regions, NPARENT);
		umn_regcache_put(rc, held);	/* inherited */
		if (__lsan_do_recoverable_leak_check)
			CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		CHECK_EQ(deregs, (int)NPARENT);
		/* the parent's node chunks went too: to the chunk pool, so
		 * a new cache's NPARENT misses carve their nodes from them
		 * (leaked, each would need >= 200 B of new heap) */
		h2 = heap_in_use();
		rc = new_cache(0, 0, 0);
		for (unsigned long i = 0; i < NPARENT; i++) {
			CHECK_EQ(umn_regcache_get(rc, BASE + i * PAGE, PAGE,
						  &r), 0);
			umn_regcache_put(rc, r);
		}
		h3 = heap_in_use();
		fprintf(stderr, "# child: %lu misses in a new cache grew the "
			"heap by %zu B\n", NPARENT, h3 - h2);
		CHECK(h3 - h2 < NPARENT * 100);
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		_exit(0);
	}
	CHECK_EQ(child_status(pid), 0);
	umn_regcache_put(rc, held);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/*
 * Eviction in a fork child sweeps the parent's adopted chunks with the
 * child's own: the child's misses over max_regions evict only the child's
 * regions (never a parent's node, not even one held at fork and put in
 * the child: it is not the child's to deregister) and stay within the
 * limit.
 */
static void child_evicts_over_parent_nodes(void)
{
	enum { LIMIT = 100 };
	struct umn_regcache *rc = new_cache(LIMIT, 0, 0);
	struct umn_regcache_region *held, *r;
	pid_t pid;

	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &held), 0);
	lsan_ignore_data(held);
	for (unsigned long i = 1; i < 4 * LIMIT; i++) {
		CHECK_EQ(umn_regcache_get(rc, BASE + i * PAGE, PAGE, &r), 0);
		lsan_ignore_data(r);
		umn_regcache_put(rc, r);
	}
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(20);
		regs = deregs = 0;
		/* a first miss adopts the parent's nodes (the one held stays
		 * out of use); the put then leaves that node linked there,
		 * valid and unused, and still not the child's to evict */
		CHECK_EQ(umn_regcache_get(rc, BASE + 4 * LIMIT * PAGE, PAGE,
					  &r), 0);
		umn_regcache_put(rc, r);
		umn_regcache_put(rc, held);	/* inherited */
		for (unsigned long i = 0; i < 10 * LIMIT; i++) {
			unsigned long p = 4 * LIMIT + i % (3 * LIMIT);

			CHECK_EQ(umn_regcache_get(rc, BASE + p * PAGE, PAGE,
						  &r), 0);
			CHECK(fresh(r));
			umn_regcache_put(rc, r);
			CHECK(stats_of(rc).regions <= LIMIT);
		}
		CHECK(stats_of(rc).evicted > 0);
		/* only the child's own regions were deregistered */
		CHECK_EQ((unsigned long)deregs, stats_of(rc).evicted);
		CHECK_EQ(regs - deregs, (int)stats_of(rc).regions);
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		CHECK_EQ(regs, deregs);
		_exit(0);
	}
	CHECK_EQ(child_status(pid), 0);
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

#if UMN_TEST_HOOKS
/*
 * Another thread holds one of the process-wide locks, the chunk pool's
 * (destroy giving a chunk back) or the list of caches' (destroy taking its
 * cache off), paused there by the hook, when this one forks.
 * atfork_prepare takes both, so the fork waits for the other thread (its
 * pause ends after 1 s, or at once when fork has returned: only without
 * the prepare side does fork return first); the lock is then free in the
 * child, whose get, destroy (it gives its chunks to the pool and takes the
 * cache off the list) and new cache's miss (it takes chunks from the pool)
 * finish.  A child that inherits the lock held hangs: its watchdog and
 * the parent's bounded wait both report it.
 */
static __thread int lock_holder;
static int hold_point, held, forked;

static void pause_hook(int point, void *arg)
{
	(void)arg;
	if (point != hold_point || !lock_holder ||
	    __atomic_exchange_n(&held, 1, __ATOMIC_ACQ_REL))
		return;
	for (int i = 0; i < 1000; i++) {
		if (__atomic_load_n(&forked, __ATOMIC_ACQUIRE))
			break;
		usleep(1000);
	}
}

static void *destroyer(void *arg)
{
	lock_holder = 1;
	CHECK_EQ(umn_regcache_destroy(arg), 0);
	/* alive until the fork is done: a thread that finished before it
	 * would be an unjoined one in the child (ThreadSanitizer reports a
	 * thread leak at the child's exit) */
	while (!__atomic_load_n(&forked, __ATOMIC_ACQUIRE))
		usleep(1000);
	return NULL;
}

/* The child's status, or -1 (reported, the child killed) if it has not
 * exited within secs: a hung child fails the test, never hangs it. */
static int child_status_within(pid_t pid, int secs)
{
	for (int i = 0; i < secs * 100; i++) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);

		CHECK(r >= 0);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(10000);
	}
	fprintf(stderr, "WATCHDOG: the fork child hung for %d s\n", secs);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void fork_with_global_lock_held(int point)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache *other = new_cache(0, 0, 0);  /* the child's */
	struct umn_regcache_region *r;
	pthread_t t;
	pid_t pid;

	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	umn_regcache_put(rc, r);
	CHECK_EQ(umn_regcache_get(other, BASE + PAGE, PAGE, &r), 0);
	umn_regcache_put(other, r);
	hold_point = point;
	held = forked = 0;
	__atomic_store_n(&umn__test_hook, pause_hook, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_create(&t, NULL, destroyer, rc), 0);
	while (!__atomic_load_n(&held, __ATOMIC_ACQUIRE))
		usleep(100);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
		alarm(5);	/* a hang exits through the watchdog */
		CHECK_EQ(umn_regcache_get(other, BASE + 2 * PAGE, PAGE, &r),
			 0);
		umn_regcache_put(other, r);
		CHECK_EQ(umn_regcache_destroy(other), 0);
		other = new_cache(0, 0, 0);
		CHECK_EQ(umn_regcache_get(other, BASE, PAGE, &r), 0);
		umn_regcache_put(other, r);
		CHECK_EQ(umn_regcache_destroy(other), 0);
		_exit(0);
	}
	__atomic_store_n(&forked, 1, __ATOMIC_RELEASE);
	CHECK_EQ(child_status_within(pid, 10), 0);
	pthread_join(t, NULL);
	__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
	CHECK_EQ(umn_regcache_destroy(other), 0);
	CHECK_EQ(regs, deregs);
}

static void fork_with_pool_lock_held(void)
{
	fork_with_global_lock_held(UMNP_HOOK_RC_POOL_LOCKED);
}

static void fork_with_caches_lock_held(void)
{
	fork_with_global_lock_held(UMNP_HOOK_RC_CACHES_LOCKED);
}
#endif

int main(void)
{
	rc_setup(30);
	RUN(child_is_empty);
	RUN(child_reuses_parent_nodes);
	RUN(child_evicts_over_parent_nodes);
	RUN(fork_with_lock_held);
#if UMN_TEST_HOOKS
	RUN(fork_with_pool_lock_held);
	RUN(fork_with_caches_lock_held);
#else
	printf("# fork_with_pool_lock_held, fork_with_caches_lock_held need "
	       "-DUMN_TEST_HOOKS=ON: not run\n");
#endif
	rc_teardown();
	return 0;
}
