/* SPDX-License-Identifier: MIT */
/*
 * The run-time cost of umn alone on a real program (doc/sources.md, "Cost
 * on real programs"): LD_PRELOAD=libself_bench_preload.so CMD subscribes to
 * the whole address space with a classic subscription whose callbacks only
 * count, and prints the count at exit when UMN_BENCH_PRELOAD_PRINT is set.
 * `umn trace` adds one send(2) to its supervisor per event on top of this.
 * Not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <umn/notifier.h>
#include <umn/self.h>

static unsigned long events;

static int count_start(struct umn_notifier *sub,
		       const struct umn_notifier_range *range)
{
	(void)sub;
	(void)range;
	__atomic_fetch_add(&events, 1, __ATOMIC_RELAXED);
	return 0;
}

static const struct umn_notifier_ops ops = {
	.invalidate_range_start = count_start,
};
static struct umn_notifier sub = { .ops = &ops };

static void report(void)
{
	fprintf(stderr, "bench_preload: %lu invalidations\n",
		__atomic_load_n(&events, __ATOMIC_RELAXED));
}

__attribute__((constructor)) static void bench_preload_init(void)
{
	struct umn_mm *mm = umn_mm_self();

	if (!mm || umn_notifier_register(&sub, mm))
		return;
	if (getenv("UMN_BENCH_PRELOAD_PRINT"))
		atexit(report);
}
