/* SPDX-License-Identifier: MIT */
/*
 * Fires umn's USDT probes once each on a private address space: an
 * invalidation start/end with an interval callback and a classic one, a
 * read_retry that says retry, and a deferrable range that is refused and
 * deferred.  Run under a tracer by test_probes.sh; on its own it only
 * checks that the protocol did what the probes will report.
 */
#include <stdio.h>
#include <umn/umn.h>
#include "harness.h"

static bool refuse;

static bool invalidate(struct umn_interval_notifier *sub,
		       const struct umn_notifier_range *range,
		       unsigned long cur_seq)
{
	if (refuse && !umn_notifier_range_blockable(range))
		return false;
	umn_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct umn_interval_notifier_ops iops = {
	.invalidate = invalidate,
};

static int classic_start(struct umn_notifier *sub,
			 const struct umn_notifier_range *range)
{
	return 0;
}

static const struct umn_notifier_ops cops = {
	.invalidate_range_start = classic_start,
};

int main(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_interval_notifier sub = { 0 };
	struct umn_notifier classic = { .ops = &cops };
	struct umn_notifier_range range;
	unsigned long seq, s, l;

	CHECK(mm);
	CHECK_EQ(umn_notifier_register(&classic, mm), 0);
	CHECK_EQ(umn_interval_notifier_insert(&sub, mm, 0x10000, 0x10000,
					      &iops), 0);
	seq = umn_interval_read_begin(&sub);
	umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP, 0, mm, 0x10000,
				0x11000);
	umn_mmap_read_lock(mm);
	umn_notifier_invalidate_range_start(&range);
	umn_notifier_invalidate_range_end(&range);
	umn_mmap_read_unlock(mm);
	CHECK(umn_interval_read_retry(&sub, seq));       /* read_retry */

	refuse = true;                                    /* deferred */
	umn_notifier_range_init(&range, UMN_NOTIFY_CLEAR,
				UMN_NOTIFIER_RANGE_DEFERRABLE, mm, 0x12000,
				0x13000);
	umn_mmap_read_lock(mm);
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&range), 0);
	umn_notifier_invalidate_range_end(&range);
	umn_mmap_read_unlock(mm);
	CHECK_EQ(umn_interval_take_deferred(&sub, &s, &l), 1);
	CHECK_EQ(s, 0x12000);

	CHECK_EQ(umn_interval_notifier_remove(&sub), 0);
	CHECK_EQ(umn_notifier_unregister(&classic, mm), 0);
	CHECK_EQ(umn_mm_put(mm), 0);
	printf("probe_fire: done\n");
	return 0;
}
