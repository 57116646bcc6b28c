/* SPDX-License-Identifier: MIT */
/*
 * Hits count their references per thread (src/regcache/regcache.c,
 * "references"); these cases check what that must keep:
 *
 * - a hit whose counter is incremented while an invalidation marks the
 *   region dead and counts its users (forced with the white-box hook
 *   UMNP_HOOK_RC_HIT_COUNTED, hook builds only): either the hit fails over
 *   to the locked path and registers again, or the count sees it; never a
 *   dead or deregistered region handed out.  The same with an eviction
 *   counting the users of the region being hit.
 * - a get on one thread and its put on another: the region is still
 *   deregistered exactly once after its invalidation, whether the put comes
 *   before or after it, and the node's counters stay right when it is
 *   reused.
 * - a put of a region not held, on the thread of the get or another one, is
 *   reported and changes nothing.
 * - more threads than hit slots (they share counters) hitting and
 *   invalidating the same regions: every registration deregistered once;
 *   threads that come and go (they hand their slots back) likewise.
 * - with membarrier, a hit on a slot its thread owns increments with a
 *   plain load and store, and the scans issue the barrier (hook builds):
 *   a hit paused after its store and before its state load while another
 *   thread invalidates and scans the region is counted (not deregistered
 *   under it), issues one barrier, and its drop then deregisters it once;
 *   a put on another thread while the owner is between its load and its
 *   store loses no count (it leaves the unit on the owner's counter and a
 *   debt in the node); a single-threaded invalidate issues no barrier
 *   (also after other threads that hit the regions exited); evicting
 *   misses with another thread alive issue one barrier per batch.
 *   What a test cannot show on x86: that the barrier is needed (a paused
 *   thread's store is already visible); it checks that it is issued where
 *   the protocol needs it and not elsewhere, and the exact counts.
 *
 * With --no-membarrier the process first denies itself membarrier(2)
 * (seccomp: ENOSYS, as an old kernel or a container says): caches fall
 * back to atomic read-modify-writes and issue no barrier; every case runs
 * again.  With --membarrier-then-deny the first cache registers it and
 * only then is it denied: scans must report that once and use the backup.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/membarrier.h>
#include "rc_common.h"
#include "test_hook.h"
#include "watchdog.h"

/* caches use plain stores on owned slots (membarrier registered) */
static int plain_mode;
/* membarrier denied after registration: scans use the backup */
static int deny_later;

static void deny_membarrier(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		printf("# cannot install a seccomp filter (%s): skipped\n",
		       strerror(errno));
		exit(77);
	}
}

/* What the library finds: membarrier's private expedited command. */
static int membarrier_usable(void)
{
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	return cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	       syscall(__NR_membarrier,
		       MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* ---- forced interleavings (hook builds) ---- */

#if UMN_TEST_HOOKS

enum { HK_CALLBACK, HK_INVALIDATE, HK_EVICT };

static struct {
	int mode;
	int fired;
	struct umn_regcache *rc;
	unsigned long page;
} hk;

static void hook(int point, void *arg)
{
	struct umn_regcache_region *o;

	(void)arg;
	if (point != UMNP_HOOK_RC_HIT_COUNTED || hk.fired)
		return;
	hk.fired = 1;
	switch (hk.mode) {
	case HK_CALLBACK:
		/* a source's event: the callback marks it dead; the flush
		 * unlinks it and counts its users */
		primary_unmap_flags(hk.page, 1, true);
		CHECK_EQ(umn_regcache_flush(hk.rc), 0);
		break;
	case HK_INVALIDATE:
		CHECK_EQ(umn_regcache_invalidate(hk.rc, BASE + hk.page * PAGE,
						 PAGE), 0);
		break;
	case HK_EVICT:
		/* a miss over max_regions 1 evicts the other region, unless
		 * it counts a user */
		CHECK_EQ(umn_regcache_get(hk.rc, BASE + (hk.page + 2) * PAGE,
					  PAGE, &o), 0);
		umn_regcache_put(hk.rc, o);
		break;
	}
}

static void hit_during(int mode, const char *what)
{
	struct umn_regcache *rc = new_cache(mode == HK_EVICT ? 1 : 0, 0, 0);
	struct umn_regcache_region *r;

	hk.mode = mode;
	hk.fired = 0;
	hk.rc = rc;
	hk.page = 10;
	CHECK_EQ(umn_regcache_get(rc, BASE + hk.page * PAGE, PAGE, &r), 0);
	umn_regcache_put(rc, r);
	CHECK_EQ(regs, 1);
	__atomic_store_n(&umn__test_hook, hook, __ATOMIC_RELEASE);
	t_watchdog_arm(5, what);
	CHECK_EQ(umn_regcache_get(rc, BASE + hk.page * PAGE, PAGE, &r), 0);
	t_watchdog_disarm();
	__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
	CHECK_EQ(hk.fired, 1);
	CHECK(fresh(r));
	if (mode == HK_EVICT) {
		/* the count saw the hit: the region stays, the hit wins, and
		 * the miss went over the limit rather than evict it */
		if (deregs != 0)
			fprintf(stderr, "a region was evicted while a hit "
				"held it\n");
		CHECK_EQ(regs, 2);
		CHECK_EQ(deregs, 0);
		CHECK_EQ(stats_of(rc).evicted, 0);
	} else {
		/* the hit saw DEAD, dropped its count (the last user: the
		 * old region deregistered once) and registered again */
		if (regs == 1)
			fprintf(stderr, "the hit returned the region whose "
				"invalidation had started\n");
		CHECK_EQ(regs, 2);
		CHECK_EQ(deregs, 1);
		CHECK_EQ(stats_of(rc).invalidated, 1);
		CHECK_EQ(stats_of(rc).pending_dereg, 0);
	}
	umn_regcache_put(rc, r);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

static void hit_races_callback(void)
{
	hit_during(HK_CALLBACK, "a hit racing a callback and a flush");
}

static void hit_races_invalidate(void)
{
	hit_during(HK_INVALIDATE, "a hit racing umn_regcache_invalidate");
}

static void hit_races_eviction(void)
{
	hit_during(HK_EVICT, "a hit racing an eviction");
}

/* An unmap's callback kills a region after umn_regcache_invalidate has
 * drained the callbacks' stack and before its walk reaches the region: the
 * walk must leave it to the stack (killed, counted and deregistered once). */
static unsigned long kill_page;

static void kill_in_invalidate(int point, void *arg)
{
	(void)arg;
	if (point == UMNP_HOOK_RC_INVALIDATE_DRAINED && !hk.fired) {
		hk.fired = 1;
		primary_unmap_flags(kill_page, 1, true);
	}
}

static void invalidate_races_callback(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;

	kill_page = 5;
	CHECK_EQ(umn_regcache_get(rc, BASE + kill_page * PAGE, PAGE, &r), 0);
	umn_regcache_put(rc, r);
	hk.fired = 0;
	umn__test_hook = kill_in_invalidate;
	CHECK_EQ(umn_regcache_invalidate(rc, BASE + kill_page * PAGE, PAGE),
		 0);
	umn__test_hook = NULL;
	CHECK_EQ(hk.fired, 1);
	flush_killed_once(rc);
}

/* ---- the plain-store window ---- */

extern unsigned long umn__test_rc_fences;

static unsigned long fences(void)
{
	return __atomic_load_n(&umn__test_rc_fences, __ATOMIC_ACQUIRE);
}

/* One thread pauses at one hook point, once, until released. */
static struct {
	int point;
	int armed, reached, go;
	pthread_t who;
} pz;

static void pause_hook(int point, void *arg)
{
	(void)arg;
	if (point != __atomic_load_n(&pz.point, __ATOMIC_ACQUIRE) ||
	    !__atomic_load_n(&pz.armed, __ATOMIC_ACQUIRE) ||
	    !pthread_equal(pthread_self(), pz.who))
		return;
	__atomic_store_n(&pz.armed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pz.reached, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&pz.go, __ATOMIC_ACQUIRE))
		usleep(100);
}

static void pause_reset(int point)
{
	pz.point = point;
	pz.armed = pz.reached = pz.go = 0;
	__atomic_store_n(&umn__test_hook, pause_hook, __ATOMIC_RELEASE);
}

static void pause_wait(void)
{
	while (!__atomic_load_n(&pz.reached, __ATOMIC_ACQUIRE))
		usleep(100);
}

struct window_job {
	struct umn_regcache *rc;
	unsigned long page;
	struct umn_regcache_region *held;	/* got before the pause */
	bool keep_first;
	bool got_fresh;
};

/* A's part: a first get (its slot and counter array; kept or put), then
 * the get that pauses, then its put. */
static void *window_thread(void *p)
{
	struct window_job *j = p;
	struct umn_regcache_region *r;

	CHECK_EQ(umn_regcache_get(j->rc, BASE + j->page * PAGE, PAGE, &r), 0);
	if (j->keep_first)
		__atomic_store_n(&j->held, r, __ATOMIC_RELEASE);
	else
		umn_regcache_put(j->rc, r);
	pz.who = pthread_self();
	__atomic_store_n(&pz.armed, 1, __ATOMIC_RELEASE);
	CHECK_EQ(umn_regcache_get(j->rc, BASE + j->page * PAGE, PAGE, &r), 0);
	j->got_fresh = fresh(r);
	umn_regcache_put(j->rc, r);
	return NULL;
}

static unsigned long users_of(struct umn_regcache *rc);

/*
 * A hit stops after its counter store, before its state load; meanwhile
 * this thread invalidates the region (kill, unlink, count): the count must
 * see A's unit (nothing deregistered under it), with one barrier when A's
 * counters are plain; A then sees DEAD, and its drop deregisters the old
 * region once before it registers a new one.
 */
static void hit_paused_while_scanned(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct window_job j = { .rc = rc, .page = 12 };
	struct umn_regcache_region *r;
	unsigned long f0;
	pthread_t a;

	CHECK_EQ(umn_regcache_get(rc, BASE + j.page * PAGE, PAGE, &r), 0);
	umn_regcache_put(rc, r);
	pause_reset(UMNP_HOOK_RC_HIT_COUNTED);
	t_watchdog_arm(10, "a hit paused while its region is scanned");
	CHECK_EQ(pthread_create(&a, NULL, window_thread, &j), 0);
	pause_wait();
	f0 = fences();
	CHECK_EQ(umn_regcache_invalidate(rc, BASE + j.page * PAGE, PAGE), 0);
	if (deregs != 0)
		fprintf(stderr, "the scan missed the paused hit's count\n");
	CHECK_EQ(deregs, 0);
	CHECK_EQ(users_of(rc), 1);
	CHECK_EQ(fences() - f0, plain_mode || deny_later ? 1ul : 0ul);
	__atomic_store_n(&pz.go, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(a, NULL), 0);
	t_watchdog_disarm();
	__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
	CHECK(j.got_fresh);
	CHECK_EQ(regs, 2);	/* the hit failed over: registered again */
	CHECK_EQ(deregs, 1);	/* the old one, once, by A's drop */
	CHECK_EQ(users_of(rc), 0);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/*
 * A holds a reference and hands it to this thread, then starts another
 * hit of the same region and stops between loading its counter and
 * storing it plus one (plain mode; after its RMW without membarrier).
 * This thread puts the handed reference: its own counter is 0, so the
 * unit must stay on A's counter (a debt in the node), never be taken from
 * A's counter, whose store would then overwrite it.  After A's put the
 * region is unused and an invalidation deregisters it at once.
 */
static void put_elsewhere_during_increment(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct window_job j = { .rc = rc, .page = 14, .keep_first = true };
	struct umn_regcache_region *r;
	pthread_t a;
	int w = warns;

	CHECK_EQ(umn_regcache_get(rc, BASE + j.page * PAGE, PAGE, &r), 0);
	umn_regcache_put(rc, r);
	pause_reset(plain_mode || deny_later ? UMNP_HOOK_RC_HIT_LOADED :
		    UMNP_HOOK_RC_HIT_COUNTED);
	t_watchdog_arm(10, "a put elsewhere during a plain increment");
	CHECK_EQ(pthread_create(&a, NULL, window_thread, &j), 0);
	pause_wait();
	r = __atomic_load_n(&j.held, __ATOMIC_ACQUIRE);
	umn_regcache_put(rc, r);		/* A's first reference */
	CHECK_EQ(users_of(rc), plain_mode || deny_later ? 0ul : 1ul);
	__atomic_store_n(&pz.go, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(a, NULL), 0);
	t_watchdog_disarm();
	__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
	CHECK(j.got_fresh);
	CHECK_EQ(warns, w);
	if (users_of(rc) != 0)
		fprintf(stderr, "a count was lost or doubled: %lu users\n",
			users_of(rc));
	CHECK_EQ(users_of(rc), 0);
	CHECK_EQ(umn_regcache_invalidate(rc, BASE + j.page * PAGE, PAGE), 0);
	CHECK_EQ(deregs, 1);
	CHECK_EQ(regs, 1);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
}

static struct umn_regcache *st_rc;

static void *hit_and_exit(void *arg)
{
	struct umn_regcache_region *r;

	(void)arg;
	for (unsigned long p = 20; p < 30; p++) {
		CHECK_EQ(umn_regcache_get(st_rc, BASE + p * PAGE, PAGE, &r),
			 0);
		umn_regcache_put(st_rc, r);
	}
	return NULL;
}

/* One thread, its own counters only (another thread hit the regions, its
 * counters are still there, but it exited): invalidate + get again issues
 * no barrier (rows 9e, 9f must not pay a system call per region). */
static void single_thread_no_barrier(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;
	unsigned long f0;
	pthread_t t;

	for (unsigned long p = 20; p < 30; p++) {
		CHECK_EQ(umn_regcache_get(rc, BASE + p * PAGE, PAGE, &r), 0);
		umn_regcache_put(rc, r);
	}
	st_rc = rc;
	CHECK_EQ(pthread_create(&t, NULL, hit_and_exit, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	f0 = fences();
	for (unsigned long p = 20; p < 30; p++) {
		CHECK_EQ(umn_regcache_invalidate(rc, BASE + p * PAGE, PAGE),
			 0);
		CHECK_EQ(umn_regcache_get(rc, BASE + p * PAGE, PAGE, &r), 0);
		CHECK(fresh(r));
		umn_regcache_put(rc, r);
	}
	primary_unmap(20, 10);		/* a callback's batch, drained */
	CHECK_EQ(umn_regcache_flush(rc), 0);
	CHECK_EQ(fences() - f0, 0);
	CHECK_EQ(regs, 20);
	CHECK_EQ(deregs, 20);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
}

/* A live thread with counters in the chunks: evicting misses over a limit
 * of 64 regions count their candidates in batches, a 16th (4 regions)
 * below the limit, one barrier per batch, not per region; a region held
 * by that thread is never evicted. */
static int ev_stop, ev_ready;

static void *hold_and_wait(void *arg)
{
	struct umn_regcache_region *r, *held;

	CHECK_EQ(umn_regcache_get(st_rc, BASE, PAGE, &held), 0);
	for (unsigned long p = 1; p < 64; p++) {
		CHECK_EQ(umn_regcache_get(st_rc, BASE + 2 * p * PAGE, PAGE,
					  &r), 0);
		umn_regcache_put(st_rc, r);
	}
	(void)arg;
	__atomic_store_n(&ev_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&ev_stop, __ATOMIC_ACQUIRE))
		usleep(1000);
	CHECK(fresh(held));
	umn_regcache_put(st_rc, held);
	return NULL;
}

static void eviction_batches(void)
{
	struct umn_regcache *rc = new_cache(64, 0, 0);
	struct umn_regcache_region *r;
	unsigned long f0, f;
	pthread_t t;

	st_rc = rc;
	ev_stop = ev_ready = 0;
	t_watchdog_arm(20, "evicting misses with a live thread");
	CHECK_EQ(pthread_create(&t, NULL, hold_and_wait, NULL), 0);
	while (!__atomic_load_n(&ev_ready, __ATOMIC_ACQUIRE))
		usleep(1000);
	f0 = fences();
	for (unsigned long p = 64; p < 104; p++) {
		CHECK_EQ(umn_regcache_get(rc, BASE + 2 * p * PAGE, PAGE, &r),
			 0);
		umn_regcache_put(rc, r);
	}
	f = fences() - f0;
	CHECK_EQ(stats_of(rc).evicted >= 40, 1);
	if (plain_mode && (f == 0 || f > 11))
		fprintf(stderr, "%lu barriers for %lu evictions\n", f,
			stats_of(rc).evicted);
	if (plain_mode || deny_later) {
		CHECK(f >= 1);
		CHECK(f <= 11);
	} else {
		CHECK_EQ(f, 0);
	}
	__atomic_store_n(&ev_stop, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(t, NULL), 0);
	t_watchdog_disarm();
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

#endif /* UMN_TEST_HOOKS */

/* ---- get and put on different threads ---- */

struct put_job {
	struct umn_regcache *rc;
	struct umn_regcache_region *r;
	int times;
};

static void *put_thread(void *p)
{
	struct put_job *j = p;

	for (int i = 0; i < j->times; i++)
		umn_regcache_put(j->rc, j->r);
	return NULL;
}

static void put_elsewhere(struct umn_regcache *rc,
			  struct umn_regcache_region *r, int times)
{
	struct put_job j = { rc, r, times };
	pthread_t t;

	CHECK_EQ(pthread_create(&t, NULL, put_thread, &j), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
}

static unsigned long users_of_first;
static int users_fn(void *arg, const struct umn_regcache_region *r,
		    unsigned long users, unsigned int flags)
{
	(void)arg; (void)r; (void)flags;
	users_of_first = users;
	return 1;
}

/* The users of the cache's one region (linked, or unlinked and waiting). */
static unsigned long users_of(struct umn_regcache *rc)
{
	users_of_first = ~0ul;
	umn_regcache_for_each(rc, users_fn, NULL);
	return users_of_first;
}

static void cross_thread_put(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r, *s;

	/* put elsewhere while valid, then invalidated: one dereg */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &s), 0);	/* a hit */
	CHECK(s == r);
	put_elsewhere(rc, r, 1);
	CHECK_EQ(umn_regcache_for_each(rc, users_fn, NULL), 1);
	CHECK_EQ(users_of_first, 1);
	put_elsewhere(rc, s, 1);
	CHECK_EQ(umn_regcache_for_each(rc, users_fn, NULL), 1);
	CHECK_EQ(users_of_first, 0);
	primary_unmap(0, 1);
	CHECK_EQ(umn_regcache_flush(rc), 0);
	CHECK_EQ(deregs, 1);

	/* the node is reused: its counters carry over and still add up */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	CHECK(fresh(r));
	CHECK_EQ(regs, 2);
	umn_regcache_put(rc, r);			/* same thread */
	CHECK_EQ(umn_regcache_for_each(rc, users_fn, NULL), 1);
	CHECK_EQ(users_of_first, 0);

	/* held here, invalidated, put elsewhere: that put deregisters */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	primary_unmap(0, 1);
	CHECK_EQ(umn_regcache_flush(rc), 0);
	CHECK_EQ(deregs, 1);			/* held: not yet */
	put_elsewhere(rc, r, 1);
	CHECK_EQ(deregs, 2);
	CHECK_EQ(stats_of(rc).pending_dereg, 0);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

static void double_put_reported(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;
	int w;

	/* same thread */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	umn_regcache_put(rc, r);
	w = warns;
	umn_regcache_put(rc, r);
	CHECK_EQ(warns - w, 1);
	expect_warns++;
	/* put twice on another thread */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	w = warns;
	put_elsewhere(rc, r, 2);
	CHECK_EQ(warns - w, 1);
	expect_warns++;
	/* the cache is intact: the region is unused and still there */
	CHECK_EQ(umn_regcache_for_each(rc, users_fn, NULL), 1);
	CHECK_EQ(users_of_first, 0);
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	CHECK_EQ(regs, 1);
	umn_regcache_put(rc, r);
	/* got here, put elsewhere (the unit stays on this thread's
	 * counter), put here again: reported, the count intact */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	put_elsewhere(rc, r, 1);
	w = warns;
	umn_regcache_put(rc, r);
	CHECK_EQ(warns - w, 1);
	expect_warns++;
	CHECK_EQ(users_of(rc), 0);
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	CHECK_EQ(users_of(rc), 1);
	umn_regcache_put(rc, r);
	CHECK_EQ(users_of(rc), 0);
	/* an invalidated, deregistered region put again: reported */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);
	umn_regcache_put(rc, r);
	CHECK_EQ(umn_regcache_invalidate(rc, BASE, PAGE), 0);
	CHECK_EQ(deregs, 1);
	w = warns;
	umn_regcache_put(rc, r);
	CHECK_EQ(warns - w, 1);
	expect_warns++;
	CHECK_EQ(deregs, 1);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/* ---- more threads than slots ---- */

#define NTHR 72			/* > HIT_SLOTS: some share a slot */
#define NREGIONS 16

static struct umn_regcache *many_rc;
static int many_stop;

static void *hitter(void *p)
{
	unsigned long x = (unsigned long)p * 2654435761ul + 1;

	for (int i = 0; i < 400; i++) {
		struct umn_regcache_region *r;
		unsigned long k;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = x % NREGIONS;
		CHECK_EQ(umn_regcache_get(many_rc, BASE + 2 * k * PAGE, PAGE,
					  &r), 0);
		CHECK_EQ(((struct my_region *)r)->magic, MAGIC);
		umn_regcache_put(many_rc, r);
	}
	return NULL;
}

static void *invalidator(void *p)
{
	unsigned long k = 0;

	(void)p;
	while (!__atomic_load_n(&many_stop, __ATOMIC_ACQUIRE)) {
		primary_unmap(2 * (k++ % NREGIONS), 1);
		usleep(100);
	}
	return NULL;
}

static void more_threads_than_slots(void)
{
	pthread_t t[NTHR], inv;
	struct umn_regcache_stats st;

	many_rc = new_cache(0, 0, 0);
	many_stop = 0;
	t_watchdog_arm(60, "72 threads hitting 16 regions");
	CHECK_EQ(pthread_create(&inv, NULL, invalidator, NULL), 0);
	for (long i = 0; i < NTHR; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, hitter, (void *)i), 0);
	for (int i = 0; i < NTHR; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	__atomic_store_n(&many_stop, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(inv, NULL), 0);
	t_watchdog_disarm();
	CHECK_EQ(umn_regcache_flush(many_rc), 0);
	st = stats_of(many_rc);
	CHECK_EQ(st.hits + st.misses, NTHR * 400ul);
	CHECK_EQ(st.regions, 0);
	CHECK_EQ(st.pending_dereg, 0);
	CHECK_EQ(regs, deregs);
	CHECK_EQ(umn_regcache_destroy(many_rc), 0);
}

/* Threads that come and go hand their slots back (the slots in use follow
 * the live threads); a reference taken on an exited thread's slot is still
 * counted and put. */
static struct umn_regcache *cg_rc;
static struct umn_regcache_region *cg_held;

static void *come_and_go(void *p)
{
	struct umn_regcache_region *r;
	unsigned long i = (unsigned long)p;

	CHECK_EQ(umn_regcache_get(cg_rc, BASE + 2 * (i % 4) * PAGE, PAGE, &r),
		 0);
	CHECK(fresh(r));
	if (i == 50)
		cg_held = r;	/* put by the main thread, later */
	else
		umn_regcache_put(cg_rc, r);
	return NULL;
}

static void threads_come_and_go(void)
{
	pthread_t t;

	cg_rc = new_cache(0, 0, 0);
	for (unsigned long i = 0; i < 3 * 64; i++) {
		CHECK_EQ(pthread_create(&t, NULL, come_and_go, (void *)i), 0);
		CHECK_EQ(pthread_join(t, NULL), 0);
	}
	CHECK_EQ(regs, 4);
	primary_unmap(0, 8);
	CHECK_EQ(umn_regcache_flush(cg_rc), 0);
	CHECK_EQ(deregs, 3);		/* one still held */
	umn_regcache_put(cg_rc, cg_held);
	CHECK_EQ(deregs, 4);
	CHECK_EQ(umn_regcache_destroy(cg_rc), 0);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--no-membarrier"))
		deny_membarrier();
	rc_setup(100);
	plain_mode = membarrier_usable();
	if (argc > 1 && !strcmp(argv[1], "--membarrier-then-deny")) {
		/* the first cache registers membarrier */
		CHECK_EQ(umn_regcache_destroy(new_cache(0, 0, 0)), 0);
		if (!plain_mode) {
			printf("# membarrier unavailable: skipped\n");
			return 77;
		}
		deny_membarrier();
		plain_mode = 0;
		deny_later = 1;
	}
	printf("# hits on owned slots: %s\n", plain_mode || deny_later ?
	       "plain stores (membarrier)" : "atomic RMWs (no membarrier)");
#if UMN_TEST_HOOKS
	RUN(hit_races_callback);
	RUN(hit_races_invalidate);
	RUN(hit_races_eviction);
	RUN(invalidate_races_callback);
	RUN(hit_paused_while_scanned);
	RUN(put_elsewhere_during_increment);
	RUN(single_thread_no_barrier);
	RUN(eviction_batches);
#else
	printf("# forced hit/invalidation orderings need "
	       "-DUMN_TEST_HOOKS=ON: not run\n");
#endif
	RUN(cross_thread_put);
	RUN(double_put_reported);
	RUN(more_threads_than_slots);
	RUN(threads_come_and_go);
	if (deny_later) {
		/* the backup reported itself once, whichever scan first
		 * needed a barrier (a forced ordering above, or a put on
		 * another thread in double_put_reported) */
		CHECK_EQ(fence_warns, 1);
		fence_warns = 0;
	}
	rc_teardown();
	return 0;
}
