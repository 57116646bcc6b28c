/* SPDX-License-Identifier: MIT */
/*
 * The debug checks of contract section 7 (debug builds; skipped otherwise):
 *  - calls that wait for callbacks (remove, read_begin, unregister,
 *    synchronize) or take the write lock (register, get, insert) made from
 *    inside a callback are reported, return -EDEADLK where they return an
 *    int, and do not deadlock;
 *  - a blocking call from a callback of a non-blockable range is reported
 *    (might_sleep).
 * Then the state is intact.
 */
#include "misuse.h"

static struct umn_mm *g_mm;
static struct m_sub other;          /* inserted, not intersecting */
static struct umn_notifier classic = { .ops = &m_classic_ops };
static int in_cb_runs, nb_runs;

/* Everything that must not be called from a callback. */
static void forbidden_calls(void)
{
	/* other does not intersect the running range: read_begin returns at
	 * once, but it is still reported. */
	EXPECT_WARNS(1, (void)umn_interval_read_begin(&other.sub));
	m_refused_in_callback(g_mm, &other, &classic);
	/* Allowed: a callback may unmap memory (a nested invalidation). */
	EXPECT_WARNS(0, umn_might_invalidate());
}

static bool cb_forbidden(struct umn_interval_notifier *sub,
			 const struct umn_notifier_range *range,
			 unsigned long cur_seq)
{
	forbidden_calls();
	in_cb_runs++;
	return m_invalidate(sub, range, cur_seq);
}

static const struct umn_interval_notifier_ops forbidden_ops = {
	.invalidate = cb_forbidden,
};

static int classic_cb_start(struct umn_notifier *n,
			    const struct umn_notifier_range *range)
{
	(void)n; (void)range;
	forbidden_calls();
	in_cb_runs++;
	return 0;
}

static const struct umn_notifier_ops classic_forbidden_ops = {
	.invalidate_range_start = classic_cb_start,
};

static struct umn_mm *lock_mm;

static bool cb_nonblock(struct umn_interval_notifier *sub,
			const struct umn_notifier_range *range,
			unsigned long cur_seq)
{
	if (!umn_notifier_range_blockable(range)) {
		CHECK(umn_in_nonblock());
		EXPECT_WARNS(1, umn_might_sleep());
		/* A lock of another address space: it may sleep. */
		EXPECT_WARNS(1, umn_mmap_read_lock(lock_mm));
		umn_mmap_read_unlock(lock_mm);
		nb_runs++;
	} else {
		CHECK(!umn_in_nonblock());
		EXPECT_WARNS(0, umn_might_sleep());
	}
	return m_invalidate(sub, range, cur_seq);
}

static const struct umn_interval_notifier_ops nonblock_ops = {
	.invalidate = cb_nonblock,
};

static void from_callbacks(void)
{
	struct m_sub s = { 0 };
	struct umn_notifier c2 = { .ops = &classic_forbidden_ops };

	g_mm = umn_mm_new();
	CHECK(g_mm);
	m_subscribe_three(g_mm, &other, &classic, &s, 0x1000,
			  &forbidden_ops);
	m_invalidate_range(g_mm, 0x1000, 0x2000);
	CHECK_EQ(in_cb_runs, 1);
	CHECK_EQ(s.calls, 1);
	CHECK(!umn_in_callback());
	/* From a classic callback too. */
	CHECK_EQ(umn_interval_notifier_remove(&s.sub), 0);
	CHECK_EQ(umn_notifier_register(&c2, g_mm), 0);
	m_invalidate_range(g_mm, 0x1000, 0x2000);
	CHECK_EQ(in_cb_runs, 2);
	CHECK_EQ(umn_notifier_unregister(&c2, g_mm), 0);
	/* Intact: the refused calls had no effect. */
	CHECK_EQ(umn_notifier_unregister(&classic, g_mm), 0);
	CHECK_EQ(umn_interval_notifier_remove(&other.sub), 0);
	m_sane(g_mm);
	CHECK_EQ(umn_mm_put(g_mm), 0);
}

static void might_sleep(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct m_sub s = { 0 };
	struct umn_notifier_range r;

	lock_mm = umn_mm_new();
	CHECK(mm && lock_mm);
	CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm, 0x1000, 0x1000,
					      &nonblock_ops), 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 0x10000);
	umn_mmap_read_lock(mm);
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), 0);
	umn_notifier_invalidate_range_end(&r);
	umn_mmap_read_unlock(mm);
	CHECK_EQ(nb_runs, 1);
	CHECK(!umn_in_nonblock());
	m_invalidate_range(mm, 0x1000, 0x2000); /* blockable: no report */
	CHECK_EQ(s.calls, 2);
	CHECK_EQ(umn_interval_notifier_remove(&s.sub), 0);
	m_sane(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
	CHECK_EQ(umn_mm_put(lock_mm), 0);
}

int main(void)
{
	if (!umn_debug_enabled()) {
		printf("# libumn built without debug checks: skip\n");
		return T_SKIP;
	}
	m_init();
	RUN(from_callbacks);
	RUN(might_sleep);
	printf("misuse debug: 2 passed, 0 failed\n");
	return 0;
}
