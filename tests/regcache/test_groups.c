/* SPDX-License-Identifier: MIT */
/*
 * Groups (src/regcache/regcache.c, "groups"): the regions of one aligned
 * block share one interval subscription, whose callback walks the block's
 * regions without a lock.  These cases check what that must keep:
 *
 * - a callback kills exactly the regions its range intersects (the newest
 *   one, the head of the group's list, too); the others stay cached and
 *   hit;
 * - one subscription per block, one of its own for a region crossing a
 *   block boundary (a merged one too), none once a group's last region is
 *   gone (counted in the address space's references: every inserted
 *   subscription holds one);
 * - white-box (hook builds): an invalidation elsewhere in the block during
 *   a miss's registration makes it retry (the design's false retry), and
 *   the region is fresh; the teardown of a group waits for a callback in
 *   progress on it; a callback walking a group while a miss pushes a node
 *   on it, and a callback that finds a node just pushed, see a whole list;
 *   a callback walks only when its range lands where a node is in use.
 */
#include "rc_common.h"
#include "regcache/regcache_block.h"
#include "test_hook.h"
#include "watchdog.h"

#define BLOCK_PAGES ((1ul << RC_BLOCK_SHIFT) / PAGE)

_Static_assert(BASE % (1ul << RC_BLOCK_SHIFT) == 0, "BASE is a block");
_Static_assert(4 * BLOCK_PAGES <= NPAGES, "the world holds 4 blocks");

/* The address space's subscriptions, and the cache's: each inserted
 * subscription holds a reference on mm. */
static int mm_refs(void)
{
	return __atomic_load_n(&mm->count, __ATOMIC_ACQUIRE);
}

static void get_page(struct umn_regcache *rc, unsigned long page,
		     unsigned long n, struct umn_regcache_region **r)
{
	CHECK_EQ(umn_regcache_get(rc, BASE + page * PAGE, n * PAGE, r), 0);
	CHECK(fresh(*r));
}

static void touch(struct umn_regcache *rc, unsigned long page,
		  unsigned long n)
{
	struct umn_regcache_region *r;

	get_page(rc, page, n, &r);
	umn_regcache_put(rc, r);
}

/* get+put of [page, +n) is a hit: no registration, one more hit */
static void hit(struct umn_regcache *rc, unsigned long page, unsigned long n)
{
	int before = regs;
	unsigned long hits = stats_of(rc).hits;

	touch(rc, page, n);
	CHECK_EQ(regs, before);
	CHECK_EQ(stats_of(rc).hits, hits + 1);
}

/* get+put of [page, +n) registers it again */
static void missed(struct umn_regcache *rc, unsigned long page,
		   unsigned long n)
{
	int before = regs;

	touch(rc, page, n);
	CHECK_EQ(regs, before + 1);
}

static void exact_kills(void)
{
	int base = mm_refs();
	struct umn_regcache *rc = new_cache(0, 0, 0);

	touch(rc, 0, 1);
	touch(rc, 2, 1);
	touch(rc, 4, 1);
	touch(rc, 6, 1);
	touch(rc, 8, 2);	/* the newest: the head of the list */
	CHECK_EQ(mm_refs(), base + 1);	/* one block, one subscription */
	primary_unmap(4, 1);
	CHECK_EQ(stats_of(rc).invalidated, 1);
	hit(rc, 0, 1);
	hit(rc, 2, 1);
	hit(rc, 6, 1);
	hit(rc, 8, 2);
	missed(rc, 4, 1);
	/* the head */
	primary_unmap(9, 1);
	CHECK_EQ(stats_of(rc).invalidated, 2);
	hit(rc, 0, 1);
	missed(rc, 8, 2);
	/* a range over pages 1-2 kills the region of page 2, not 0 */
	primary_unmap(1, 2);
	CHECK_EQ(stats_of(rc).invalidated, 3);
	hit(rc, 0, 1);
	hit(rc, 4, 1);
	missed(rc, 2, 1);
	/* a range in the block that meets no region kills nothing */
	primary_unmap(BLOCK_PAGES - 1, 1);
	CHECK_EQ(stats_of(rc).invalidated, 3);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
	CHECK_EQ(mm_refs(), base);
}

static void crossing_region(void)
{
	int base = mm_refs();
	struct umn_regcache *rc = new_cache(0, 0, 0);
	unsigned long b = BLOCK_PAGES;

	touch(rc, b - 3, 1);	/* block 0 */
	touch(rc, b - 1, 2);	/* crosses into block 1: its own */
	touch(rc, b + 2, 1);	/* block 1 */
	CHECK_EQ(mm_refs(), base + 3);
	/* block 0's last page: the crossing region, not block 0's other */
	primary_unmap(b - 1, 1);
	CHECK_EQ(stats_of(rc).invalidated, 1);
	hit(rc, b - 3, 1);
	hit(rc, b + 2, 1);
	missed(rc, b - 1, 2);
	CHECK_EQ(mm_refs(), base + 3);	/* re-registered in its group */
	primary_unmap(b, 1);		/* block 1's first page: the same */
	CHECK_EQ(stats_of(rc).invalidated, 2);
	hit(rc, b + 2, 1);
	missed(rc, b - 1, 2);
	primary_unmap(b + 2, 1);
	CHECK_EQ(stats_of(rc).invalidated, 3);
	hit(rc, b - 1, 2);
	hit(rc, b - 3, 1);
	missed(rc, b + 2, 1);
	CHECK_EQ(umn_regcache_flush(rc), 0);
	CHECK_EQ(stats_of(rc).regions, 0);
	CHECK_EQ(mm_refs(), base);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/* UMN_REGCACHE_MERGE: the union of regions on both sides of a block
 * boundary crosses it, and gets a group of its own; the block groups of
 * the merged regions go with them. */
static void merge_across_blocks(void)
{
	int base = mm_refs();
	struct umn_regcache *rc = new_cache(0, 0, UMN_REGCACHE_MERGE);
	struct umn_regcache_region *r;
	unsigned long b = BLOCK_PAGES;

	touch(rc, b - 2, 2);	/* block 0's last two pages */
	touch(rc, b, 2);	/* block 1's first two: touches it */
	CHECK_EQ(mm_refs(), base + 1);	/* merged already: one region */
	get_page(rc, b - 2, 4, &r);
	CHECK_EQ(r->start, BASE + (b - 2) * PAGE);
	CHECK_EQ(r->len, 4 * PAGE);
	umn_regcache_put(rc, r);
	CHECK_EQ(stats_of(rc).regions, 1);
	/* a callback on either side kills it */
	primary_unmap(b + 1, 1);
	CHECK_EQ(stats_of(rc).invalidated, 1);
	missed(rc, b - 2, 4);
	primary_unmap(b - 2, 1);
	CHECK_EQ(stats_of(rc).invalidated, 2);
	/* dead, it merges with nothing: a region beside it is alone */
	missed(rc, b + 3, 1);
	CHECK_EQ(umn_regcache_flush(rc), 0);
	CHECK_EQ(mm_refs(), base);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

static void last_region_removes_subscription(void)
{
	int base = mm_refs();
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;

	touch(rc, 0, 1);
	touch(rc, 1, 1);
	touch(rc, BLOCK_PAGES, 1);
	CHECK_EQ(mm_refs(), base + 2);
	/* explicit: the group lives on with its other region */
	CHECK_EQ(umn_regcache_invalidate(rc, BASE, PAGE), 0);
	CHECK_EQ(mm_refs(), base + 2);
	CHECK_EQ(umn_regcache_invalidate(rc, BASE + PAGE, PAGE), 0);
	CHECK_EQ(mm_refs(), base + 1);
	/* a callback's kill: the next get's drain tears the group down */
	primary_unmap(BLOCK_PAGES, 1);
	CHECK_EQ(mm_refs(), base + 1);
	get_page(rc, 2 * BLOCK_PAGES, 1, &r);
	CHECK_EQ(mm_refs(), base + 1);	/* block 1's gone, block 2's new */
	/* held: the group stays until the last put */
	CHECK_EQ(umn_regcache_invalidate(rc, r->start, PAGE), 0);
	CHECK_EQ(mm_refs(), base + 1);
	umn_regcache_put(rc, r);
	CHECK_EQ(mm_refs(), base);
	/* a new group for block 0 */
	missed(rc, 0, 1);
	CHECK_EQ(mm_refs(), base + 1);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(mm_refs(), base);
	CHECK_EQ(regs, deregs);
}

#if UMN_TEST_HOOKS

enum { HK_NONE, HK_UNMAP_IN_REG, HK_TEARDOWN, HK_WALK_PUSH, HK_PUSH_WALK,
       HK_COUNT_WALKS };

static struct {
	int mode;
	int fired;
	unsigned long page;		/* what the hook unmaps */
	int walking, pushed, tearing, returned, observed, other_done;
	int walks;
} hk;

static void wait_flag(int *flag)
{
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		usleep(1000);
}

static void set_flag(int *flag)
{
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
}

static void hook(int point, void *arg)
{
	(void)arg;
	switch (__atomic_load_n(&hk.mode, __ATOMIC_ACQUIRE)) {
	case HK_UNMAP_IN_REG:
		if (point == UMNP_HOOK_RC_MISS_REGISTERED && !hk.fired) {
			hk.fired = 1;
			primary_unmap(hk.page, 1);
		}
		break;
	case HK_TEARDOWN:
		if (point == UMNP_HOOK_RC_GROUP_WALK && !hk.fired) {
			/* the unmapping thread, in the callback */
			hk.fired = 1;
			set_flag(&hk.walking);
			wait_flag(&hk.tearing);
			wait_flag(&hk.other_done);
			usleep(100 * 1000);
			/* the teardown is still waiting for us */
			hk.observed = !__atomic_load_n(&hk.returned,
						       __ATOMIC_ACQUIRE);
		} else if (point == UMNP_HOOK_RC_GROUP_TEARDOWN) {
			set_flag(&hk.tearing);
		}
		break;
	case HK_WALK_PUSH:
		if (point == UMNP_HOOK_RC_GROUP_WALK && !hk.fired) {
			/* the unmapping thread, its head loaded */
			hk.fired = 1;
			set_flag(&hk.walking);
			wait_flag(&hk.pushed);
		} else if (point == UMNP_HOOK_RC_GROUP_PUSHED) {
			set_flag(&hk.pushed);	/* the miss, cache lock held */
		}
		break;
	case HK_COUNT_WALKS:
		if (point == UMNP_HOOK_RC_GROUP_WALK)
			hk.walks++;
		break;
	case HK_PUSH_WALK:
		if (point == UMNP_HOOK_RC_GROUP_PUSHED && !hk.fired) {
			/* the miss, cache lock held: a callback on this
			 * thread walks the list with the new node at its
			 * head (range not set yet) */
			hk.fired = 1;
			primary_unmap(hk.page, 1);
		}
		break;
	}
}

static void hook_arm(int mode, unsigned long page)
{
	memset(&hk, 0, sizeof(hk));
	hk.page = page;
	__atomic_store_n(&hk.mode, mode, __ATOMIC_RELEASE);
	__atomic_store_n(&umn__test_hook, hook, __ATOMIC_RELEASE);
}

static void hook_disarm(void)
{
	__atomic_store_n(&umn__test_hook, NULL, __ATOMIC_RELEASE);
	__atomic_store_n(&hk.mode, HK_NONE, __ATOMIC_RELEASE);
}

static void false_retry(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_stats st;

	/* elsewhere in the block, on no region: the miss retries */
	hook_arm(HK_UNMAP_IN_REG, 20);
	touch(rc, 0, 1);
	CHECK_EQ(hk.fired, 1);
	st = stats_of(rc);
	CHECK_EQ(st.retries, 1);
	CHECK_EQ(st.invalidated, 0);
	CHECK_EQ(regs, 2);
	/* on the region's own page: retries, fresh */
	hook_arm(HK_UNMAP_IN_REG, 3);
	touch(rc, 3, 1);
	CHECK_EQ(stats_of(rc).retries, 2);
	/* in another block: no retry */
	hook_arm(HK_UNMAP_IN_REG, 30);
	touch(rc, BLOCK_PAGES + 1, 1);
	CHECK_EQ(hk.fired, 1);
	CHECK_EQ(stats_of(rc).retries, 2);
	hook_disarm();
	hit(rc, 0, 1);
	hit(rc, 3, 1);
	hit(rc, BLOCK_PAGES + 1, 1);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

/* A callback walks its group's list only if the range lands on a 64th of
 * the block where a node is in use (the group's mask), and the mask
 * forgets a region once its node is free. */
static void walks_only_where_live(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);

	touch(rc, 0, 1);
	touch(rc, 10, 2);
	hook_arm(HK_COUNT_WALKS, 0);
	primary_unmap(20, 4);		/* no region there */
	CHECK_EQ(hk.walks, 0);
	primary_unmap(11, 1);		/* the second region */
	CHECK_EQ(hk.walks, 1);
	CHECK_EQ(stats_of(rc).invalidated, 1);
	primary_unmap(11, 1);		/* dead, not yet deregistered */
	CHECK_EQ(hk.walks, 2);
	hit(rc, 0, 1);			/* the drain frees its node */
	CHECK_EQ(stats_of(rc).pending_dereg, 0);
	primary_unmap(10, 2);
	CHECK_EQ(hk.walks, 2);
	primary_unmap(0, 1);
	CHECK_EQ(hk.walks, 3);
	hook_disarm();
	CHECK_EQ(stats_of(rc).invalidated, 2);
	missed(rc, 10, 2);
	missed(rc, 0, 1);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

static void *unmap_thread(void *arg)
{
	primary_unmap((unsigned long)arg, 1);
	return NULL;
}

/* Another block's miss while the teardown waits for the callback: it must
 * not get the torn-down group's node, which the callback may still walk. */
static struct umn_regcache_region *other_region;
static void *other_miss_thread(void *arg)
{
	struct umn_regcache *rc = arg;

	wait_flag(&hk.tearing);
	usleep(50 * 1000);	/* the teardown is in its remove */
	get_page(rc, BLOCK_PAGES + 3, 1, &other_region);
	umn_regcache_put(rc, other_region);
	set_flag(&hk.other_done);
	return NULL;
}

static void teardown_waits_for_callback(void)
{
	int base = mm_refs();
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;
	pthread_t t, o;

	t_watchdog_arm(20, "teardown_waits_for_callback");
	get_page(rc, 0, 1, &r);
	umn_regcache_put(rc, r);
	touch(rc, BLOCK_PAGES, 1);	/* block 1's group exists */
	CHECK_EQ(mm_refs(), base + 2);
	/* a callback on block 0's region, paused before its walk */
	hook_arm(HK_TEARDOWN, 0);
	CHECK_EQ(pthread_create(&t, NULL, unmap_thread, (void *)0ul), 0);
	CHECK_EQ(pthread_create(&o, NULL, other_miss_thread, rc), 0);
	wait_flag(&hk.walking);
	/* the group's last region goes: its teardown must wait */
	CHECK_EQ(umn_regcache_invalidate(rc, BASE, PAGE), 0);
	set_flag(&hk.returned);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(pthread_join(o, NULL), 0);
	CHECK_EQ(hk.observed, 1);
	/* the other miss carved a node of its own */
	CHECK(other_region != r);
	hook_disarm();
	CHECK_EQ(mm_refs(), base + 1);
	CHECK_EQ(umn_regcache_flush(rc), 0);
	CHECK_EQ(mm_refs(), base);
	CHECK_EQ(stats_of(rc).invalidated, 1);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
	t_watchdog_disarm();
}

static void walk_while_push(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r;
	pthread_t t;

	t_watchdog_arm(20, "walk_while_push");
	touch(rc, 5, 1);
	/* a callback on page 5, paused with the list's head loaded, while
	 * a miss in the block pushes a node (then waits in read_begin for
	 * the invalidation to end) */
	hook_arm(HK_WALK_PUSH, 5);
	CHECK_EQ(pthread_create(&t, NULL, unmap_thread, (void *)5ul), 0);
	wait_flag(&hk.walking);
	get_page(rc, 9, 1, &r);
	CHECK_EQ(hk.pushed, 1);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(fresh(r));
	umn_regcache_put(rc, r);
	CHECK_EQ(stats_of(rc).invalidated, 1);
	hook_disarm();
	missed(rc, 5, 1);
	hit(rc, 9, 1);
	/* a callback that finds a node just pushed (its range not set):
	 * it kills region 5 only */
	hook_arm(HK_PUSH_WALK, 5);
	touch(rc, 12, 1);
	CHECK_EQ(hk.fired, 1);
	hook_disarm();
	CHECK_EQ(stats_of(rc).invalidated, 2);
	hit(rc, 9, 1);
	hit(rc, 12, 1);
	missed(rc, 5, 1);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
	t_watchdog_disarm();
}

#endif /* UMN_TEST_HOOKS */

int main(void)
{
	rc_setup(60);
	RUN(exact_kills);
	RUN(crossing_region);
	RUN(merge_across_blocks);
	RUN(last_region_removes_subscription);
#if UMN_TEST_HOOKS
	RUN(false_retry);
	RUN(walks_only_where_live);
	RUN(teardown_waits_for_callback);
	RUN(walk_while_push);
#else
	printf("# forced orderings need -DUMN_TEST_HOOKS=ON: not run\n");
#endif
	rc_teardown();
	return 0;
}
