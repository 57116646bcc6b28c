/* SPDX-License-Identifier: MIT */
/*
 * The edges the other tests leave out (found by the coverage stage): the
 * default warn sink, every primary entry point on an address space with no
 * subscriptions, refusals of blockable ranges and of RELEASE, a second
 * remove while the first waits, misuse of the mmap lock's nesting, register
 * and get on a torn-down address space, alloc_notifier failing.  Each case
 * checks the result and the exact number of reports.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <umn/umn.h>
#include "harness.h"
#include "notifier_internal.h"
#include "watchdog.h"

static unsigned long warns;

static void count_warn(const char *f, const char *m, void *a)
{
	(void)a;
	fprintf(stderr, "# warn: %s: %s\n", f, m);
	warns++;
}

#define EXPECT_WARNS(n)                                                      \
	do {                                                                 \
		CHECK_EQ(warns, (n));                                        \
		warns = 0;                                                   \
	} while (0)

static void default_warn_sink(void)
{
	struct umn_mm *mm = umn_mm_new();
	unsigned long before = umn_warn_count();

	umn_set_warn_handler(NULL, NULL);
	umn_mmap_read_unlock(mm);	/* reported on stderr */
	CHECK_EQ(umn_warn_count(), before + 1);
	umn_set_warn_handler(count_warn, NULL);
	CHECK_EQ(umn_mm_put(mm), 0);
	EXPECT_WARNS(0);
}

/* The out-of-line entry points, called directly on an address space that
 * nobody subscribed to (the inline wrappers never call them then). */
static void entry_points_without_subscriptions(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_notifier_range r;

	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP,
				UMN_NOTIFIER_RANGE_BLOCKABLE, mm, 0, 4096);
	CHECK_EQ(umn__invalidate_range_start(&r), 0);
	umn__invalidate_range_end(&r, false);
	umn__invalidate_range(mm, 0, 4096);
	umn__notifier_release(mm);
	CHECK_EQ(umn__clear_flush_young(mm, 0, 4096), 0);
	CHECK_EQ(umn__clear_young(mm, 0, 4096), 0);
	CHECK_EQ(umn__test_young(mm, 0), 0);
	umn__change_pte(mm, 0, 0);
	umn__debug_invalidate_enter(true);
	umn__debug_invalidate_exit();
	umn__debug_invalidate_enter(false);
	umn__debug_invalidate_exit();
	CHECK_EQ(umn_mm_put(mm), 0);
	EXPECT_WARNS(0);
}

/* ---- interval subscriptions that refuse ---- */

struct isub {
	struct umn_interval_notifier sub;
	int calls;
	bool refuse;
};

static bool isub_invalidate(struct umn_interval_notifier *sub,
			    const struct umn_notifier_range *range,
			    unsigned long cur_seq)
{
	struct isub *s = (struct isub *)sub;

	(void)range;
	s->calls++;
	if (s->refuse)
		return false;
	umn_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct umn_interval_notifier_ops isub_ops = {
	.invalidate = isub_invalidate,
};

/* A blockable range may not be refused: reported, ignored. */
static void interval_refuses_blockable_and_release(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct isub a = { .refuse = true };
	struct umn_notifier_range r;

	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0, 4096, &isub_ops),
		 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 4096);
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.calls, 1);
	EXPECT_WARNS(1);
	/* RELEASE too (the teardown): reported, ignored, still once */
	CHECK_EQ(umn_mm_put(mm), 0);
	CHECK_EQ(a.calls, 2);
	EXPECT_WARNS(1);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	EXPECT_WARNS(0);
}

struct remover {
	struct isub *a;
	int ret;
};

static void *remove_thread(void *p)
{
	struct remover *rm = p;

	rm->ret = umn_interval_notifier_remove(&rm->a->sub);
	return NULL;
}

/* A second remove while the first waits for the end: -EINVAL, reported. */
static void remove_while_removing(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct isub a = { 0 };
	struct remover rm = { &a, -1 };
	struct umn_notifier_range r;
	pthread_t t;
	double t0;

	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0, 4096, &isub_ops),
		 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 4096);
	umn_notifier_invalidate_range_start(&r);
	t_watchdog_arm(5, "remove waiting for an end");
	pthread_create(&t, NULL, remove_thread, &rm);
	t0 = t_now();
	while (__atomic_load_n(&a.sub.state, __ATOMIC_ACQUIRE) !=
	       UMNP_ISUB_DEFER_REMOVE && t_now() - t0 < 2.0)
		sched_yield();
	CHECK_EQ(a.sub.state, UMNP_ISUB_DEFER_REMOVE);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), -EINVAL);
	EXPECT_WARNS(1);
	umn_notifier_invalidate_range_end(&r);
	pthread_join(t, NULL);
	t_watchdog_disarm();
	CHECK_EQ(rm.ret, 0);
	CHECK_EQ(umn_mm_put(mm), 0);
	EXPECT_WARNS(0);
}

/* ---- classic ---- */

static int start_ret;

static int cstart(struct umn_notifier *n, const struct umn_notifier_range *r)
{
	(void)n; (void)r;
	return start_ret;
}

static const struct umn_notifier_ops cops = {
	.invalidate_range_start = cstart,
};

/* A classic start may fail only a non-blocking range, only with -EAGAIN:
 * anything else is reported and ignored. */
static void classic_start_errors_ignored(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_notifier c = { .ops = &cops };
	struct umn_notifier_range r;

	CHECK_EQ(umn_notifier_register(&c, mm), 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 4096);
	start_ret = -EAGAIN;		/* blockable: ignored */
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_invalidate_range_end(&r);
	EXPECT_WARNS(1);
	start_ret = -EINVAL;		/* non-blocking, not -EAGAIN: ignored */
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), 0);
	umn_notifier_invalidate_range_end(&r);
	EXPECT_WARNS(1);
	start_ret = -EAGAIN;		/* deferrable: ignored */
	r.flags |= UMN_NOTIFIER_RANGE_DEFERRABLE;
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), 0);
	umn_notifier_invalidate_range_end(&r);
	EXPECT_WARNS(1);
	start_ret = 0;
	CHECK_EQ(umn_notifier_unregister(&c, mm), 0);
	CHECK_EQ(umn_mm_put(mm), 0);
	EXPECT_WARNS(0);
}

static int alloc_errno;

static struct umn_notifier *failing_alloc(struct umn_mm *mm)
{
	(void)mm;
	errno = alloc_errno;
	return NULL;
}

static void never_free(struct umn_notifier *n)
{
	(void)n;
	CHECK(0);
}

static const struct umn_notifier_ops failing_get_ops = {
	.alloc_notifier = failing_alloc,
	.free_notifier = never_free,
};

/* alloc_notifier failing: its errno, or ENOMEM if it set none. */
static void get_alloc_fails(void)
{
	struct umn_mm *mm = umn_mm_new();

	alloc_errno = 0;
	CHECK(umn_notifier_get(&failing_get_ops, mm) == NULL);
	CHECK_EQ(errno, ENOMEM);
	alloc_errno = EPERM;
	CHECK(umn_notifier_get(&failing_get_ops, mm) == NULL);
	CHECK_EQ(errno, EPERM);
	umn_mmap_write_lock(mm);
	CHECK(umn_notifier_get_locked(&failing_get_ops, mm) == NULL);
	CHECK_EQ(errno, EPERM);
	umn_mmap_write_unlock(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
	EXPECT_WARNS(0);
}

static struct umn_notifier *plain_alloc(struct umn_mm *mm)
{
	(void)mm;
	return calloc(1, sizeof(struct umn_notifier));
}

static const struct umn_notifier_ops get_ops = {
	.alloc_notifier = plain_alloc,
	.free_notifier = never_free,
};

/* Register and get on a torn-down address space (kept by a grab). */
static void torn_down_register_get(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_notifier c = { .ops = &cops };
	struct isub a = { 0 };

	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0, 4096, &isub_ops),
		 0);
	CHECK_EQ(umn_mm_put(mm), 0);	/* teardown; a's grab keeps mm */
	CHECK_EQ(a.calls, 1);		/* RELEASE */
	CHECK_EQ(umn_notifier_register(&c, mm), -EINVAL);
	EXPECT_WARNS(1);
	CHECK(umn_notifier_get(&get_ops, mm) == NULL);
	CHECK_EQ(errno, EINVAL);
	EXPECT_WARNS(1);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	EXPECT_WARNS(0);
}

/* ---- mmap lock nesting misuse ---- */

static void mmap_lock_nesting_misuse(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_mm *many[17];

	/* read unlock of the outermost write hold: reported, kept */
	umn_mmap_write_lock(mm);
	umn_mmap_read_unlock(mm);
	EXPECT_WARNS(1);
	CHECK_EQ(umn_mmap_held(mm), 2);
	/* write unlock with a nested read hold: reported, kept */
	umn_mmap_read_lock(mm);		/* nested: depth 2 */
	umn_mmap_write_unlock(mm);
	EXPECT_WARNS(1);
	CHECK_EQ(umn_mmap_held(mm), 2);
	umn_mmap_read_unlock(mm);	/* back to depth 1 */
	umn_mmap_write_unlock(mm);
	CHECK_EQ(umn_mmap_held(mm), 0);
	EXPECT_WARNS(0);
	/* more address-space locks than the table tracks */
	for (int i = 0; i < 17; i++) {
		many[i] = umn_mm_new();
		umn_mmap_read_lock(many[i]);
	}
	EXPECT_WARNS(1);
	for (int i = 0; i < 17; i++) {
		umn_mmap_read_unlock(many[i]);
		CHECK_EQ(umn_mm_put(many[i]), 0);
	}
	EXPECT_WARNS(0);
	CHECK_EQ(umn_mm_put(mm), 0);
}

/* ---- more branches: optional callbacks missing, NULL arguments ---- */

static bool release_from_callback;

static bool isub_calls_release(struct umn_interval_notifier *sub,
			       const struct umn_notifier_range *range,
			       unsigned long cur_seq)
{
	if (release_from_callback)
		umn_notifier_release(range->mm);	/* reported, ignored */
	umn_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct umn_interval_notifier_ops release_ops = {
	.invalidate = isub_calls_release,
};

static int refuse_nonblock(struct umn_notifier *n,
			   const struct umn_notifier_range *r)
{
	(void)n;
	return umn_notifier_range_blockable(r) ? 0 : -EAGAIN;
}

static const struct umn_notifier_ops refuser_ops = {
	.invalidate_range_start = refuse_nonblock,
};

static const struct umn_notifier_ops no_free_ops = {
	.alloc_notifier = plain_alloc,
};

static void counted_free(struct umn_notifier *n)
{
	free(n);
}

static const struct umn_notifier_ops shared_ops = {
	.alloc_notifier = plain_alloc,
	.free_notifier = counted_free,
};

static const struct umn_mm_owner_ops owner_no_exit = { 0 };

static void optional_callbacks_and_null_arguments(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_notifier c = { .ops = &cops }, refuser = { .ops = &refuser_ops };
	struct umn_notifier *g, *g2;
	struct isub a = { 0 }, b = { 0 }, d = { 0 };
	struct umn_notifier_range r;
	unsigned long s, l;

	/* subscribers without young/change_pte/end callbacks */
	start_ret = 0;
	CHECK_EQ(umn_notifier_register(&refuser, mm), 0);
	CHECK_EQ(umn_notifier_register(&c, mm), 0);	/* first in the list */
	CHECK_EQ(umn_notifier_clear_flush_young(mm, 0, 4096), 0);
	CHECK_EQ(umn_notifier_clear_young(mm, 0, 4096), 0);
	CHECK_EQ(umn_notifier_test_young(mm, 0), 0);
	umn_notifier_change_pte(mm, 0, 0);
	/* the unwind after a refusal skips a subscription without an end */
	umn_notifier_range_init(&r, UMN_NOTIFY_CLEAR, 0, mm, 0, 4096);
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), -EAGAIN);
	/* a shared subscription is not one of these: get skips them */
	g = umn_notifier_get(&shared_ops, mm);
	CHECK(g != NULL);
	umn_mmap_write_lock(mm);
	g2 = umn_notifier_get_locked(&shared_ops, mm);	/* the same one */
	CHECK(umn_notifier_get_locked(NULL, mm) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(umn_notifier_register_locked(NULL, mm), -EINVAL);
	umn_mmap_write_unlock(mm);
	CHECK(g2 == g);
	CHECK(umn_notifier_get(&no_free_ops, mm) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(umn_notifier_unregister(NULL, mm), -EINVAL);
	CHECK_EQ(umn_notifier_unregister(&c, NULL), -EINVAL);
	CHECK_EQ(umn_notifier_put(g2), 0);
	EXPECT_WARNS(0);

	/* NULL and not-inserted arguments of the interval calls */
	CHECK_EQ(umn_interval_take_deferred(NULL, &s, &l), -EINVAL);
	CHECK_EQ(umn_interval_take_deferred(&a.sub, NULL, &l), -EINVAL);
	CHECK_EQ(umn_interval_take_deferred(&a.sub, &s, NULL), -EINVAL);
	EXPECT_WARNS(0);
	CHECK_EQ(umn_interval_take_deferred(&a.sub, &s, &l), -EINVAL);
	EXPECT_WARNS(1);	/* not inserted: reported */
	CHECK_EQ(umn__interval_read_begin(NULL), 0);
	EXPECT_WARNS(1);

	/* removing a queued insert that is not first on the deferred list */
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0, 4096,
					      &release_ops), 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 4096);
	umn_notifier_invalidate_range_start(&r);	/* full exclusion */
	CHECK_EQ(umn_interval_notifier_insert(&b.sub, mm, 0x10000, 4096,
					      &isub_ops), 0);
	CHECK_EQ(umn_interval_notifier_insert(&d.sub, mm, 0x20000, 4096,
					      &isub_ops), 0);
	CHECK_EQ(b.sub.state, UMNP_ISUB_DEFER_INSERT);
	CHECK_EQ(umn_interval_notifier_remove(&b.sub), 0);	/* second */
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(umnp_subs(mm)->itree.count, 2);		/* a and d */
	CHECK_EQ(umn_interval_notifier_remove(&d.sub), 0);

	/* umn_notifier_release from inside a callback: reported, ignored
	 * (debug builds; without the debug checks it recurses) */
	release_from_callback = UMN_LIB_DEBUG;
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_invalidate_range_end(&r);
	release_from_callback = false;
	EXPECT_WARNS(UMN_LIB_DEBUG ? 1 : 0);

	/* teardown: an owner without exit_mmap, a classic subscription
	 * without release, a shared one put after the teardown unhashed it */
	CHECK_EQ(umn_mm_set_owner(mm, &owner_no_exit, NULL), 0);
	CHECK_EQ(umn_mm_put(mm), 0);
	CHECK_EQ(umn_notifier_put(g), 0);
	umn_notifier_synchronize();
	CHECK_EQ(umn_notifier_unregister(&c, mm), 0);
	CHECK_EQ(umn_notifier_unregister(&refuser, mm), 0);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	EXPECT_WARNS(0);
}

struct unlocker {
	struct umn_mm *mm;
};

static void *read_unlock_other(void *p)
{
	umn_mmap_read_unlock(((struct unlocker *)p)->mm);
	return NULL;
}

/* A read unlock from a thread that holds nothing while a writer holds the
 * lock: reported, ignored. */
static void non_owner_read_unlock_of_write_lock(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct unlocker u = { mm };
	pthread_t t;

	umn_mmap_write_lock(mm);
	pthread_create(&t, NULL, read_unlock_other, &u);
	pthread_join(t, NULL);
	EXPECT_WARNS(1);
	CHECK_EQ(umn_mmap_held(mm), 2);
	umn_mmap_write_unlock(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
	EXPECT_WARNS(0);
}

int main(void)
{
	umn_set_warn_handler(count_warn, NULL);
	RUN(default_warn_sink);
	RUN(entry_points_without_subscriptions);
	RUN(interval_refuses_blockable_and_release);
	RUN(remove_while_removing);
	RUN(classic_start_errors_ignored);
	RUN(get_alloc_fails);
	RUN(torn_down_register_get);
	RUN(mmap_lock_nesting_misuse);
	RUN(optional_callbacks_and_null_arguments);
	RUN(non_owner_read_unlock_of_write_lock);
	return 0;
}
