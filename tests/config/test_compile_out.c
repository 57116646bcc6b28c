/* SPDX-License-Identifier: MIT */
/*
 * A primary MMU that calls every primary-side hook.  Built twice:
 *  - UMN_CONFIG_NOTIFIER=0, without libumn: the hooks are inline no-ops
 *    (range is just start/end, blockable is true, nobody is subscribed);
 *  - normally, with libumn, on an address space nobody subscribed to.
 * In both the primary's own work is done and gives the same result.
 */
#include <stdio.h>
#include <umn/umn.h>
#include "harness.h"

#define NPAGES 16
static unsigned long pages[NPAGES];

/* The primary MMU: change pages [first, first + n) under the hooks. */
static int primary_change(struct umn_mm *mm, unsigned long first,
			  unsigned long n)
{
	struct umn_notifier_range range;
	int young;

	umn_notifier_range_init(&range, UMN_NOTIFY_CLEAR, 0, mm, first * 4096,
				(first + n) * 4096);
	if (umn_notifier_invalidate_range_start_nonblock(&range))
		return -1;
	for (unsigned long i = first; i < first + n; i++)
		pages[i]++;
	umn_notifier_change_pte(mm, first * 4096, pages[first]);
	umn_notifier_invalidate_range(mm, range.start, range.end);
	umn_notifier_invalidate_range_only_end(&range);

	umn_notifier_range_init_owner(&range, UMN_NOTIFY_MIGRATE, 0, mm,
				      first * 4096, (first + n) * 4096, pages);
	umn_notifier_invalidate_range_start(&range);
	CHECK(umn_notifier_range_blockable(&range));
	umn_notifier_invalidate_range_end(&range);

	young = umn_notifier_clear_flush_young(mm, 0, NPAGES * 4096) |
		umn_notifier_clear_young(mm, 0, NPAGES * 4096) |
		umn_notifier_test_young(mm, 0);
	return young;
}

int main(void)
{
#if UMN_CONFIG_NOTIFIER
	struct umn_mm *mm = umn_mm_new();

	CHECK(mm != NULL);
	printf("# configuration: notifiers compiled in (libumn linked)\n");
#else
	struct umn_mm *mm = NULL;	/* no libumn: nothing to create */

	printf("# configuration: UMN_CONFIG_NOTIFIER=0 (no libumn)\n");
#endif
	CHECK(!umn_mm_has_notifiers(mm));
	CHECK_EQ(primary_change(mm, 2, 3), 0);
	CHECK_EQ(primary_change(mm, 3, 1), 0);
	CHECK_EQ(pages[2], 1);
	CHECK_EQ(pages[3], 2);
	CHECK_EQ(pages[4], 1);
	CHECK_EQ(pages[5], 0);
	umn_notifier_release(mm);
#if UMN_CONFIG_NOTIFIER
	CHECK_EQ(umn_mm_put(mm), 0);
#endif
	printf("ok - primary MMU ran against the %s hooks\n",
	       UMN_CONFIG_NOTIFIER ? "real" : "stub");
	return 0;
}
