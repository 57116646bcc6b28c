/* SPDX-License-Identifier: MIT */
/*
 * End without a matching start: "reported and ignored" (<umn/notifier.h>,
 * contract 4 and invariant 8).  Ignored means no callback either: a classic
 * subscription must not see an invalidate_range / invalidate_range_end for a
 * pair it never started, and the interval state must not change.  Checked
 * with interval subscriptions only, with both kinds, and with classic
 * subscriptions only (no interval mode).
 */
#include "misuse.h"

/* "An end with no matching start is reported and ignored" (contract 4,
 * <umn/notifier.h>): no callback either. */
static void end_without_start(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct m_sub s = { 0 };
	struct umn_notifier c = { .ops = &m_classic_ops };
	struct umn_notifier_range r;
	int ends;

	CHECK(mm);
	/* Interval subscriptions only. */
	CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm, 0x1000, 0x1000,
					      &m_ops), 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 0x10000);
	EXPECT_WARNS(1, umn_notifier_invalidate_range_end(&r));
	EXPECT_WARNS(1, umn_notifier_invalidate_range_only_end(&r));
	CHECK_EQ(s.calls, 0);
	m_sane(mm);
	/* With a classic subscription too: still reported, and its end
	 * callback must not run for a pair it never started. */
	CHECK_EQ(umn_notifier_register(&c, mm), 0);
	ends = m_classic_ends;
	EXPECT_WARNS(1, umn_notifier_invalidate_range_end(&r));
	CHECK_EQ(m_classic_ends - ends, 0);
	CHECK_EQ(umn_notifier_unregister(&c, mm), 0);
	CHECK_EQ(umn_interval_notifier_remove(&s.sub), 0);
	m_sane(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
}

/* The same with classic subscriptions only (no interval mode). */
static void end_without_start_classic_only(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_notifier c = { .ops = &m_classic_ops };
	struct umn_notifier_range r;
	int ends;

	CHECK(mm);
	CHECK_EQ(umn_notifier_register(&c, mm), 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 0x10000);
	ends = m_classic_ends;
	EXPECT_WARNS(1, umn_notifier_invalidate_range_end(&r));
	CHECK_EQ(m_classic_ends - ends, 0);
	CHECK_EQ(umn_notifier_unregister(&c, mm), 0);
	m_sane(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
}

int main(void)
{
	m_init();
	RUN(end_without_start);
	RUN(end_without_start_classic_only);
	printf("misuse end without start: 2 passed, 0 failed\n");
	return 0;
}
