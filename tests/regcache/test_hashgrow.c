/* SPDX-License-Identifier: MIT */
/*
 * The start-address hash grows in place (src/regcache/regcache.c, "the
 * hash"): one reserved bucket array, each doubling splits bucket i into 2i
 * and 2i + 1 under the cache lock while hits walk the chains without it.
 * These cases check what that must keep:
 *
 * - hits paused after loading the size (white-box hook
 *   UMNP_HOOK_RC_HIT_SIZED), the table doubled under them, then resumed
 *   with the stale size: each returns its own region, those that missed
 *   (their bucket now holds another chain) through the locked path, with
 *   no new registration; at every doubling from 2^8 to 2^14 buckets.
 * - hits that start while a grow holds the lock, before the new buckets
 *   are usable (hook UMNP_HOOK_RC_HASH_GROW), at the doublings from 2^10
 *   to 2^13: they read only usable buckets and find their regions without
 *   the lock (the size is published last).
 * - hits on three threads while the main thread adds regions (seven
 *   doublings) and invalidates some: never a region of another start,
 *   never a deregistered one, no crash, every registration deregistered
 *   once.
 * - a reservation capped at 2^9 buckets (hook UMNP_HOOK_RC_HASH_RESERVE)
 *   and none at all (a calloc'd table that never grows): the load goes far
 *   above 1, chains longer than a hit walks, every get still right.
 * - a destroyed cache's bucket array and nodes taken by the next cache
 *   (only its first buckets cleared): none of the old regions found, every
 *   new one found, three times over.
 * - an address-space limit (ulimit -v) too low for the full reservation:
 *   a smaller one, reported once; gets right (not under sanitizers, whose
 *   shadow memory needs the address space).
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "rc_common.h"
#include "test_hook.h"
#include "watchdog.h"

/* Regions of one page anywhere above BASE; the user data is the start
 * address, cleared by dereg: a region handed out must carry its own. */
struct tagged {
	struct umn_regcache_region r;
	unsigned long tag;
};

static unsigned long t_regs, t_deregs;

static int tag_reg(void *ctx, struct umn_regcache_region *region)
{
	(void)ctx;
	((struct tagged *)region)->tag = region->start;
	__atomic_add_fetch(&t_regs, 1, __ATOMIC_RELAXED);
	return 0;
}

static void tag_dereg(void *ctx, struct umn_regcache_region *region)
{
	(void)ctx;
	CHECK_EQ(((struct tagged *)region)->tag, region->start);
	((struct tagged *)region)->tag = 0;
	__atomic_add_fetch(&t_deregs, 1, __ATOMIC_RELAXED);
}

static const struct umn_regcache_ops tag_ops = { tag_reg, tag_dereg };

static struct umn_regcache *tag_cache(void)
{
	struct umn_regcache_params p = {
		.ops = &tag_ops,
		.region_size = sizeof(struct tagged),
	};
	struct umn_regcache *rc = umn_regcache_new(mm, &p);

	CHECK(rc != NULL);
	t_regs = t_deregs = 0;
	return rc;
}

static unsigned long addr_of(unsigned long k)
{
	return BASE + k * PAGE;
}

/* get k's region, check it is k's, put it */
static void get_check_put(struct umn_regcache *rc, unsigned long k)
{
	struct umn_regcache_region *r;

	CHECK_EQ(umn_regcache_get(rc, addr_of(k), PAGE, &r), 0);
	CHECK_EQ(r->start, addr_of(k));
	CHECK(r->len >= PAGE);
	CHECK_EQ(__atomic_load_n(&((struct tagged *)r)->tag,
				 __ATOMIC_RELAXED), addr_of(k));
	umn_regcache_put(rc, r);
}

/* add regions k = *n .. to - 1 */
static void add_upto(struct umn_regcache *rc, unsigned long *n,
		     unsigned long to)
{
	for (; *n < to; (*n)++)
		get_check_put(rc, *n);
}

#if UMN_TEST_HOOKS
/* ---- hits paused with a stale size ---- */

enum { PAUSED = 32 };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct umn_regcache *rc;
	int paused, round, released, done, stop;
	int locked_path;	/* hits of this round that took the lock */
	int grows;		/* UMNP_HOOK_RC_HASH_GROW seen */
} sm = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* this thread: pause at the next hit once sized; its hit counted lock-free */
static __thread int pause_next, counted;

static void stale_hook(int point, void *arg)
{
	(void)arg;
	if (point == UMNP_HOOK_RC_HASH_GROW) {
		__atomic_add_fetch(&sm.grows, 1, __ATOMIC_RELAXED);
	} else if (point == UMNP_HOOK_RC_HIT_COUNTED) {
		counted = 1;
	} else if (point == UMNP_HOOK_RC_HIT_SIZED && pause_next) {
		pause_next = 0;
		pthread_mutex_lock(&sm.lock);
		int round = sm.round;

		sm.paused++;
		pthread_cond_broadcast(&sm.cv);
		while (sm.released != round)
			pthread_cond_wait(&sm.cv, &sm.lock);
		pthread_mutex_unlock(&sm.lock);
	}
}

static void *stale_hitter(void *arg)
{
	unsigned long k = (unsigned long)arg;
	struct umn_regcache_region *r;
	int round = 0;

	/* a slot of its own and a counter array in k's chunk */
	get_check_put(sm.rc, k);
	for (;;) {
		pthread_mutex_lock(&sm.lock);
		while (sm.round == round && !sm.stop)
			pthread_cond_wait(&sm.cv, &sm.lock);
		if (sm.stop) {
			pthread_mutex_unlock(&sm.lock);
			return NULL;
		}
		round = sm.round;
		pthread_mutex_unlock(&sm.lock);

		pause_next = 1;
		counted = 0;
		CHECK_EQ(umn_regcache_get(sm.rc, addr_of(k), PAGE, &r), 0);
		CHECK_EQ(pause_next, 0);
		CHECK_EQ(r->start, addr_of(k));
		CHECK_EQ(((struct tagged *)r)->tag, addr_of(k));
		umn_regcache_put(sm.rc, r);

		pthread_mutex_lock(&sm.lock);
		if (!counted)
			sm.locked_path++;
		sm.done++;
		pthread_cond_broadcast(&sm.cv);
		pthread_mutex_unlock(&sm.lock);
	}
}

static void stale_size_hits(void)
{
	pthread_t t[PAUSED];
	unsigned long n = 0, nb = 256;

	sm.rc = tag_cache();
	sm.round = sm.released = sm.stop = sm.grows = 0;
	add_upto(sm.rc, &n, PAUSED);
	for (unsigned long k = 0; k < PAUSED; k++)
		CHECK_EQ(pthread_create(&t[k], NULL, stale_hitter,
					(void *)k), 0);
	__atomic_store_n(&umn__test_hook, stale_hook, __ATOMIC_RELEASE);
	t_watchdog_arm(60, "hits paused across doublings");
	for (; nb < (1ul << 14); nb *= 2) {
		unsigned long regs_before;
		int grows = __atomic_load_n(&sm.grows, __ATOMIC_RELAXED);

		add_upto(sm.rc, &n, nb);	/* full: the next one grows */
		CHECK_EQ(__atomic_load_n(&sm.grows, __ATOMIC_RELAXED), grows);
		pthread_mutex_lock(&sm.lock);
		sm.paused = sm.done = sm.locked_path = 0;
		sm.round++;
		pthread_cond_broadcast(&sm.cv);
		while (sm.paused < PAUSED)
			pthread_cond_wait(&sm.cv, &sm.lock);
		pthread_mutex_unlock(&sm.lock);

		/* every hitter holds a size of nb buckets: double them */
		add_upto(sm.rc, &n, nb + 1);
		CHECK_EQ(__atomic_load_n(&sm.grows, __ATOMIC_RELAXED),
			 grows + 1);
		regs_before = __atomic_load_n(&t_regs, __ATOMIC_RELAXED);

		pthread_mutex_lock(&sm.lock);
		sm.released = sm.round;
		pthread_cond_broadcast(&sm.cv);
		while (sm.done < PAUSED)
			pthread_cond_wait(&sm.cv, &sm.lock);
		printf("# %lu -> %lu buckets: %d of %d stale hits took the "
		       "locked path\n", nb, 2 * nb, sm.locked_path, PAUSED);
		/* bucket i now holds half of bucket i / 2's old chain: a
		 * stale hit finds its region only in bucket 0 */
		CHECK(sm.locked_path > PAUSED / 2);
		pthread_mutex_unlock(&sm.lock);
		/* found again, not registered again */
		CHECK_EQ(__atomic_load_n(&t_regs, __ATOMIC_RELAXED),
			 regs_before);
	}
	pthread_mutex_lock(&sm.lock);
	sm.stop = 1;
	pthread_cond_broadcast(&sm.cv);
	pthread_mutex_unlock(&sm.lock);
	for (unsigned long k = 0; k < PAUSED; k++)
		CHECK_EQ(pthread_join(t[k], NULL), 0);
	t_watchdog_disarm();
	__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
	/* after the last doubling, every region is found without the lock */
	for (unsigned long k = 0; k < n; k++)
		get_check_put(sm.rc, k);
	CHECK_EQ(t_regs, n);
	CHECK_EQ(umn_regcache_destroy(sm.rc), 0);
	CHECK_EQ(t_regs, t_deregs);
}

/* ---- a hit while a grow holds the lock ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct umn_regcache *rc;
	unsigned long nregions;	/* regions 0 .. nregions - 1 to hit */
	int go, done, stop, grows;
	int strict;		/* every hit lock-free */
} gh = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static __thread int prober_counted;

static void *grow_prober(void *unused)
{
	int seen = 0;

	(void)unused;
	for (;;) {
		pthread_mutex_lock(&gh.lock);
		while (gh.go == seen && !gh.stop)
			pthread_cond_wait(&gh.cv, &gh.lock);
		if (gh.stop) {
			pthread_mutex_unlock(&gh.lock);
			return NULL;
		}
		seen = gh.go;
		pthread_mutex_unlock(&gh.lock);
		/* the grower holds the cache lock: a hit that missed would
		 * wait for it (and the watchdog fire) */
		for (unsigned long k = 0; k < gh.nregions; k++) {
			prober_counted = 0;
			get_check_put(gh.rc, k);
			CHECK(prober_counted || !gh.strict);
		}
		pthread_mutex_lock(&gh.lock);
		gh.done = seen;
		pthread_cond_broadcast(&gh.cv);
		pthread_mutex_unlock(&gh.lock);
	}
}

static void grow_hook(int point, void *arg)
{
	(void)arg;
	if (point == UMNP_HOOK_RC_HIT_COUNTED) {
		prober_counted = 1;
	} else if (point == UMNP_HOOK_RC_HASH_GROW) {
		/* lock held, the new buckets not usable yet: hit every
		 * region from another thread now */
		pthread_mutex_lock(&gh.lock);
		int go = ++gh.go;

		gh.grows++;
		pthread_cond_broadcast(&gh.cv);
		while (gh.done != go)
			pthread_cond_wait(&gh.cv, &gh.lock);
		pthread_mutex_unlock(&gh.lock);
	}
}

static void hit_during_grow(void)
{
	pthread_t t;
	/* from 2^10 buckets: each grow makes new pages usable (a stale
	 * reader past them would fault) */
	unsigned long n = 0, nb = 1024;

	gh.rc = tag_cache();
	gh.go = gh.done = gh.stop = gh.grows = 0;
	CHECK_EQ(pthread_create(&t, NULL, grow_prober, NULL), 0);
	t_watchdog_arm(20, "a hit during a grow");
	for (; nb < (1ul << 13); nb *= 2) {
		add_upto(gh.rc, &n, nb);
		/* the prober's counter arrays in every chunk: its hits
		 * need no lock */
		pthread_mutex_lock(&gh.lock);
		gh.nregions = n;
		gh.strict = 0;
		int go = ++gh.go;

		pthread_cond_broadcast(&gh.cv);
		while (gh.done != go)
			pthread_cond_wait(&gh.cv, &gh.lock);
		pthread_mutex_unlock(&gh.lock);
		gh.strict = 1;
		__atomic_store_n(&umn__test_hook, grow_hook,
				 __ATOMIC_RELEASE);
		add_upto(gh.rc, &n, nb + 1);
		__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
	}
	pthread_mutex_lock(&gh.lock);
	gh.stop = 1;
	pthread_cond_broadcast(&gh.cv);
	pthread_mutex_unlock(&gh.lock);
	CHECK_EQ(pthread_join(t, NULL), 0);
	t_watchdog_disarm();
	CHECK_EQ(gh.grows, 3);
	CHECK_EQ(umn_regcache_destroy(gh.rc), 0);
	CHECK_EQ(t_regs, t_deregs);
}
#endif /* UMN_TEST_HOOKS */

/* ---- hits on other threads while the table doubles ---- */

enum { STABLE = 64, HITTERS = 3, STRESS_REGIONS = 1ul << 15 };

static struct {
	struct umn_regcache *rc;
	unsigned long added;	/* regions 0 .. added - 1 exist */
	int stop;
	unsigned long hits[HITTERS];
} st;

#if UMN_TEST_HOOKS
/* widen the window between the size and the bucket now and then */
static void yield_hook(int point, void *arg)
{
	static __thread unsigned int n;

	(void)arg;
	if (point == UMNP_HOOK_RC_HIT_SIZED && !(++n & 7))
		sched_yield();
}
#endif

static void *stress_hitter(void *arg)
{
	unsigned long i = (unsigned long)arg, x = 0x9e3779b9ul * (i + 1);

	while (!__atomic_load_n(&st.stop, __ATOMIC_ACQUIRE)) {
		unsigned long added = __atomic_load_n(&st.added,
						      __ATOMIC_ACQUIRE);

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* mostly the stable regions, sometimes any added one */
		get_check_put(st.rc, x & 1 ? x % STABLE : x % added);
		st.hits[i]++;
	}
	return NULL;
}

static void hits_while_growing(void)
{
	pthread_t t[HITTERS];
	unsigned long n = 0;
	struct umn_regcache_stats s;

	st.rc = tag_cache();
	st.stop = 0;
	add_upto(st.rc, &n, STABLE);
	st.added = n;
#if UMN_TEST_HOOKS
	__atomic_store_n(&umn__test_hook, yield_hook, __ATOMIC_RELEASE);
#endif
	t_watchdog_arm(90, "hits while the table doubles");
	for (unsigned long i = 0; i < HITTERS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, stress_hitter,
					(void *)i), 0);
	while (n < STRESS_REGIONS) {
		get_check_put(st.rc, n);
		n++;
		__atomic_store_n(&st.added, n, __ATOMIC_RELEASE);
		/* deletions in the chains too */
		if (n % 7 == 0)
			CHECK_EQ(umn_regcache_invalidate(st.rc,
							 addr_of(n - 3),
							 PAGE), 0);
	}
	__atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
	for (unsigned long i = 0; i < HITTERS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	t_watchdog_disarm();
#if UMN_TEST_HOOKS
	__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
#endif
	CHECK_EQ(umn_regcache_stats(st.rc, &s), 0);
	printf("# %lu regions, hits on the threads: %lu %lu %lu; cache: "
	       "%lu hits %lu misses\n", n, st.hits[0], st.hits[1],
	       st.hits[2], s.hits, s.misses);
	for (unsigned long k = 0; k < n; k++)
		get_check_put(st.rc, k);
	CHECK_EQ(umn_regcache_destroy(st.rc), 0);
	CHECK_EQ(t_regs, t_deregs);
}

/* ---- past the reservation ---- */

#if UMN_TEST_HOOKS
static unsigned int cap_bits;
static int cap_grows;

static void cap_hook(int point, void *arg)
{
	if (point == UMNP_HOOK_RC_HASH_RESERVE)
		*(unsigned int *)arg = cap_bits;
	else if (point == UMNP_HOOK_RC_HASH_GROW)
		cap_grows++;
}

/* bits: the reservation (0: none, a calloc'd table); grows: how many
 * doublings that leaves from 2^8 buckets */
static void capped(unsigned int bits, int grows)
{
	enum { N = 8192 };
	struct umn_regcache *rc;
	unsigned long n = 0;
	struct umn_regcache_stats s;

	cap_bits = bits;
	cap_grows = 0;
	__atomic_store_n(&umn__test_hook, cap_hook, __ATOMIC_RELEASE);
	rc = tag_cache();
	add_upto(rc, &n, N);
	for (int pass = 0; pass < 2; pass++)
		for (unsigned long k = 0; k < N; k++)
			get_check_put(rc, k);
	__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
	CHECK_EQ(cap_grows, grows);
	s = stats_of(rc);
	CHECK_EQ(s.misses, N);
	CHECK_EQ(s.hits, 2 * N);
	CHECK_EQ(t_regs, N);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(t_regs, t_deregs);
}

static void capped_reservation(void)
{
	capped(9, 1);		/* 512 buckets, load 16 */
}

static void no_reservation(void)
{
	capped(0, 0);		/* 256 buckets, load 32 */
}
#endif

/* ---- a destroyed cache's bucket array reused ---- */

/* Cache A grows to 2^15 buckets and is destroyed; B takes its array (the
 * kept reservation; only the first buckets cleared) and its node chunks:
 * B must find none of A's regions, register each anew, and find its own
 * through every doubling.  Twice, so that the second B also reuses. */
static void reused_array(void)
{
	enum { N = 20000 };
	struct umn_regcache_stats s;

	for (int round = 0; round < 3; round++) {
		struct umn_regcache *rc = tag_cache();
		unsigned long n = 0;

		/* half the regions at other addresses each round */
		for (; n < N; n++) {
			unsigned long k = round && (n & 1) ? n + N * round : n;

			get_check_put(rc, k);
		}
		s = stats_of(rc);
		CHECK_EQ(s.misses, N);
		CHECK_EQ(s.hits, 0);
		CHECK_EQ(t_regs, N);
		for (n = 0; n < N; n++) {
			unsigned long k = round && (n & 1) ? n + N * round : n;

			get_check_put(rc, k);
		}
		s = stats_of(rc);
		CHECK_EQ(s.misses, N);
		CHECK_EQ(s.hits, N);
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		CHECK_EQ(t_regs, t_deregs);
	}
}

/* ---- an address-space limit ---- */

static unsigned long vm_size(void)
{
	char line[256];
	unsigned long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %lu kB", &kb) == 1)
			break;
	fclose(f);
	CHECK(kb > 0);
	return kb * 1024;
}

static void address_space_limit(void)
{
	pid_t pid;
	int status;

	if (T_ASAN || T_TSAN) {
		printf("# sanitizer shadow memory needs the address space: "
		       "not run\n");
		return;
	}
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* a destroyed cache's reservation, kept for the next cache,
		 * goes to this one */
		struct umn_regcache *rc, *rc0 = tag_cache();
		/* 32 MiB more: not the 128 MiB reservation */
		struct rlimit rl = { vm_size() + (32ul << 20),
				     vm_size() + (32ul << 20) };
		unsigned long n = 0;

		CHECK_EQ(setrlimit(RLIMIT_AS, &rl), 0);
		rc = tag_cache();
		CHECK_EQ(warns, 1);	/* the smaller reservation */
		add_upto(rc, &n, 4096);
		for (unsigned long k = 0; k < n; k++)
			get_check_put(rc, k);
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		/* reported once only */
		rc = tag_cache();
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		CHECK_EQ(umn_regcache_destroy(rc0), 0);
		CHECK_EQ(warns, 1);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	rc_setup(300);
#if UMN_TEST_HOOKS
	RUN(stale_size_hits);
	RUN(hit_during_grow);
	RUN(capped_reservation);
	RUN(no_reservation);
#else
	printf("# forced hit/grow orderings need -DUMN_TEST_HOOKS=ON: "
	       "not run\n");
#endif
	RUN(hits_while_growing);
	RUN(reused_array);
	RUN(address_space_limit);
	rc_teardown();
	return 0;
}
