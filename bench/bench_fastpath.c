/* SPDX-License-Identifier: MIT */
/*
 * 2. invalidate_range_start + _end on an address space nobody ever
 *    subscribed to (the inline fast path: notifier_subscriptions is NULL),
 *    against an uncontended pthread mutex lock + unlock pair.
 *    Target <= 0.05x.
 *
 * Per iteration the subject does what a primary MMU does around a change:
 * start (set BLOCKABLE in range.flags, one acquire load of
 * mm->notifier_subscriptions, a predicted branch), the change (here a
 * compiler barrier: the primary's page-table update, which makes the range
 * and the mm escape to memory as in real code), end (one load, a branch).
 * The barrier emits no instruction; it only stops the compiler from
 * merging iterations or deleting the loop.
 */
#include <pthread.h>
#include <stdio.h>
#include <umn/umn.h>
#include "bench.h"

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;

struct fast_arg {
	struct umn_mm *mm;
};

static void run_mutex(void *arg, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++) {
		pthread_mutex_lock(&mutex);
		pthread_mutex_unlock(&mutex);
	}
}

static void run_fast(void *arg, uint64_t iters)
{
	struct fast_arg *a = arg;
	struct umn_notifier_range range;

	umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP, 0, a->mm, 0x1000,
				0x2000);
	for (uint64_t i = 0; i < iters; i++) {
		umn_notifier_invalidate_range_start(&range);
		bench_barrier();	/* the change */
		umn_notifier_invalidate_range_end(&range);
		bench_barrier();
	}
}

int main(int argc, char **argv)
{
	struct fast_arg a;
	struct bench_case c[2] = {
		{ .label = "pthread mutex lock+unlock", .fn = run_mutex },
		{ .label = "umn start+end, never subscribed", .fn = run_fast,
		  .arg = &a },
	};

	bench_init(argc, argv);
	bench_pin(0);
	a.mm = umn_mm_new();
	if (!a.mm)
		return 1;
	printf("== 2. start + end, no subscriptions (inline fast path)\n");
	bench_interleave(c, 2, bench_rounds(), bench_quick() ? 5e6 : 20e6);
	bench_print_cases(stdout, c, 2);
	printf("  same-round ratio median %.4fx; has_notifiers=%d\n",
	       bench_round_ratio(&c[1], &c[0]), umn_mm_has_notifiers(a.mm));
	bench_emit(&(struct bench_row){
		.id = "2", .name = "start+end, address space never subscribed",
		.subject = c[1].label, .subject_val = c[1].median,
		.baseline = c[0].label, .baseline_val = c[0].median,
		.unit = "ns", .ratio = c[1].median / c[0].median,
		.target = "<= 0.05x", .target_max = 0.05,
		.note = "inline: one acquire load + branch per hook" });
	umn_mm_put(a.mm);
	return 0;
}
