/* SPDX-License-Identifier: MIT */
/*
 * Misuse of interval subscriptions: bad ranges, double insert, insert on a
 * torn-down address space, remove of a never-inserted / already-removed
 * subscription, read_begin / take_deferred on one, NULL arguments.  Each:
 * the errno, the report (or none where the kernel returns quietly), then
 * the state is intact.
 */
#include "misuse.h"

static void bad_ranges(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct m_sub s = { 0 };

	CHECK(mm);
	/* Plain argument errors: an errno, no report (as the kernel). */
	EXPECT_WARNS(0, CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm,
			0x1000, 0, &m_ops), -EOVERFLOW));
	EXPECT_WARNS(0, CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm,
			ULONG_MAX, 2, &m_ops), -EOVERFLOW));
	EXPECT_WARNS(0, CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm,
			2, ULONG_MAX, &m_ops), -EOVERFLOW));
	EXPECT_WARNS(0, CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm,
			0, 0, &m_ops), -EOVERFLOW));
	umn_mmap_write_lock(mm);
	EXPECT_WARNS(0, CHECK_EQ(umn_interval_notifier_insert_locked(&s.sub,
			mm, ULONG_MAX - 10, 12, &m_ops), -EOVERFLOW));
	umn_mmap_write_unlock(mm);
	/* The edges that fit are fine: [0, ULONG_MAX] and [ULONG_MAX]. */
	CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm, 0, ULONG_MAX,
					      &m_ops), 0);
	CHECK_EQ(umn_interval_last(&s.sub), ULONG_MAX - 1);
	CHECK_EQ(umn_interval_notifier_remove(&s.sub), 0);
	CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm, ULONG_MAX, 1,
					      &m_ops), 0);
	m_invalidate_range(mm, ULONG_MAX - 1, ULONG_MAX);
	CHECK_EQ(s.calls, 0);	/* end is exclusive: ULONG_MAX not covered */
	m_invalidate_range(mm, 0, ULONG_MAX);
	CHECK_EQ(s.calls, 0);
	CHECK_EQ(umn_interval_notifier_remove(&s.sub), 0);
	m_sane(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
}

static void double_insert(void)
{
	struct umn_mm *mm = umn_mm_new(), *mm2 = umn_mm_new();
	struct m_sub s = { 0 };

	CHECK(mm && mm2);
	CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm, 0x1000, 0x1000,
					      &m_ops), 0);
	EXPECT_WARNS(1, CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm,
			0x1000, 0x1000, &m_ops), -EBUSY));
	EXPECT_WARNS(1, CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm2,
			0x5000, 0x1000, &m_ops), -EBUSY));
	umn_mmap_write_lock(mm);
	EXPECT_WARNS(1, CHECK_EQ(umn_interval_notifier_insert_locked(&s.sub,
			mm, 0x1000, 0x1000, &m_ops), -EBUSY));
	umn_mmap_write_unlock(mm);
	/* Still one subscription, in the first tree, with its range. */
	CHECK_EQ(umn_interval_start(&s.sub), 0x1000);
	m_invalidate_range(mm, 0, 0x10000);
	CHECK_EQ(s.calls, 1);
	m_invalidate_range(mm2, 0, 0x10000);
	CHECK_EQ(s.calls, 1);
	CHECK_EQ(umn_interval_notifier_remove(&s.sub), 0);
	m_sane(mm);
	m_sane(mm2);
	CHECK_EQ(umn_mm_put(mm), 0);
	CHECK_EQ(umn_mm_put(mm2), 0);
}

static void torn_down(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct m_sub s = { 0 }, t = { 0 };

	CHECK(mm);
	CHECK_EQ(umn_interval_notifier_insert(&t.sub, mm, 0x1000, 0x1000,
					      &m_ops), 0);
	umn_mm_grab(mm);
	CHECK_EQ(umn_mm_put(mm), 0); /* teardown: RELEASE to t */
	CHECK_EQ(t.calls, 1);
	EXPECT_WARNS(1, CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm,
			0x1000, 0x1000, &m_ops), -EINVAL));
	umn_mmap_write_lock(mm);
	EXPECT_WARNS(1, CHECK_EQ(umn_interval_notifier_insert_locked(&s.sub,
			mm, 0x1000, 0x1000, &m_ops), -EINVAL));
	umn_mmap_write_unlock(mm);
	/* t stays in the tree and still gets UNMAP (invariant 14). */
	m_invalidate_range(mm, 0x1000, 0x1001);
	CHECK_EQ(t.calls, 2);
	CHECK_EQ(umn_interval_notifier_remove(&t.sub), 0);
	/* s was never inserted: insertable elsewhere. */
	{
		struct umn_mm *mm2 = umn_mm_new();

		CHECK(mm2);
		CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm2, 0x1000,
						      0x1000, &m_ops), 0);
		CHECK_EQ(umn_interval_notifier_remove(&s.sub), 0);
		m_sane(mm2);
		CHECK_EQ(umn_mm_put(mm2), 0);
	}
	umn_mm_drop(mm);
}

static void bad_remove(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct m_sub s = { 0 };
	unsigned long a, b;

	CHECK(mm);
	EXPECT_WARNS(1, CHECK_EQ(umn_interval_notifier_remove(&s.sub),
				 -EINVAL));
	CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm, 0x1000, 0x1000,
					      &m_ops), 0);
	CHECK_EQ(umn_interval_notifier_remove(&s.sub), 0);
	EXPECT_WARNS(1, CHECK_EQ(umn_interval_notifier_remove(&s.sub),
				 -EINVAL));
	/* The removed one gets no callback. */
	m_invalidate_range(mm, 0, ULONG_MAX);
	CHECK_EQ(s.calls, 0);
	/* read_begin and take_deferred of a non-inserted subscription:
	 * reported. */
	EXPECT_WARNS(1, (void)umn_interval_read_begin(&s.sub));
	EXPECT_WARNS(1, CHECK_EQ(umn_interval_take_deferred(&s.sub, &a, &b),
				 -EINVAL));
	/* Re-insert after remove is allowed. */
	CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm, 0x1000, 0x1000,
					      &m_ops), 0);
	CHECK_EQ(umn_interval_take_deferred(&s.sub, &a, &b), 0);
	CHECK_EQ(umn_interval_notifier_remove(&s.sub), 0);
	m_sane(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
}

static void null_args(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct m_sub s = { 0 };
	static const struct umn_interval_notifier_ops no_cb = { 0 };
	unsigned long a;

	CHECK(mm);
	CHECK_EQ(umn_interval_notifier_insert(NULL, mm, 0, 1, &m_ops), -EINVAL);
	CHECK_EQ(umn_interval_notifier_insert(&s.sub, NULL, 0, 1, &m_ops),
		 -EINVAL);
	CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm, 0, 1, NULL), -EINVAL);
	CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm, 0, 1, &no_cb),
		 -EINVAL);
	CHECK_EQ(umn_interval_notifier_insert_locked(NULL, mm, 0, 1, &m_ops),
		 -EINVAL);
	CHECK_EQ(umn_interval_notifier_remove(NULL), -EINVAL);
	CHECK_EQ(umn_interval_take_deferred(NULL, &a, &a), -EINVAL);
	CHECK_EQ(umn_interval_take_deferred(&s.sub, NULL, &a), -EINVAL);
	EXPECT_WARNS(1, CHECK_EQ(umn_interval_read_begin(NULL), 0));
	CHECK_EQ(umn_mm_get(NULL), -EINVAL);
	CHECK_EQ(umn_mm_put(NULL), -EINVAL);
	CHECK_EQ(umn_mm_set_owner(NULL, NULL, NULL), -EINVAL);
	CHECK(umn_mm_owner(NULL) == NULL);
	errno = 0;
	CHECK(umn_mm_new_flags(0x80000000u) == NULL);
	CHECK_EQ(errno, EINVAL);
	m_sane(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
}

int main(void)
{
	m_init();
	RUN(bad_ranges);
	RUN(double_insert);
	RUN(torn_down);
	RUN(bad_remove);
	RUN(null_args);
	printf("misuse interval: 5 passed, 0 failed\n");
	return 0;
}
