/* SPDX-License-Identifier: MIT */
/*
 * 1. read_begin + read_retry, uncontended, against an uncontended pthread
 *    mutex lock + unlock pair.  Target <= 0.5x.
 *
 * The subject is the reader's whole collision check around building a
 * mapping: umn_interval_read_begin() (out of line: state checks, two
 * acquire loads) then umn_interval_read_retry() (inline, one load).  The
 * user lock that read_retry normally runs under is not included: it is the
 * subscriber's, and it is exactly what the baseline measures.
 */
#include <pthread.h>
#include <stdio.h>
#include <umn/umn.h>
#include "bench.h"

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static struct umn_interval_notifier sub;
static unsigned long sink;

static bool inv(struct umn_interval_notifier *s,
		const struct umn_notifier_range *r, unsigned long cur_seq)
{
	(void)r;
	umn_interval_set_seq(s, cur_seq);
	return true;
}

static const struct umn_interval_notifier_ops ops = { .invalidate = inv };

static void run_mutex(void *arg, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++) {
		pthread_mutex_lock(&mutex);
		pthread_mutex_unlock(&mutex);
	}
}

static void run_read(void *arg, uint64_t iters)
{
	unsigned long retries = 0;

	for (uint64_t i = 0; i < iters; i++) {
		unsigned long seq = umn_interval_read_begin(&sub);

		retries += umn_interval_read_retry(&sub, seq);
	}
	sink += retries;
}

int main(int argc, char **argv)
{
	struct umn_mm *mm;
	struct bench_case c[2] = {
		{ .label = "pthread mutex lock+unlock", .fn = run_mutex },
		{ .label = "umn read_begin+read_retry", .fn = run_read },
	};
	int ret;

	bench_init(argc, argv);
	bench_pin(0);
	mm = umn_mm_new();
	if (!mm)
		return 1;
	ret = umn_interval_notifier_insert(&sub, mm, 0x10000000ul, 1ul << 20,
					   &ops);
	if (ret) {
		fprintf(stderr, "insert: %d\n", ret);
		return 1;
	}
	printf("== 1. read_begin + read_retry (uncontended)\n");
	bench_interleave(c, 2, bench_rounds(), bench_quick() ? 5e6 : 20e6);
	bench_print_cases(stdout, c, 2);
	printf("  same-round ratio median %.3fx; retries seen: %lu (expect 0)\n",
	       bench_round_ratio(&c[1], &c[0]), sink);
	bench_emit(&(struct bench_row){
		.id = "1", .name = "read_begin+read_retry, uncontended",
		.subject = c[1].label, .subject_val = c[1].median,
		.baseline = c[0].label, .baseline_val = c[0].median,
		.unit = "ns", .ratio = c[1].median / c[0].median,
		.target = "<= 0.5x", .target_max = 0.5,
		.note = "per pair; medians of interleaved rounds" });
	umn_interval_notifier_remove(&sub);
	umn_mm_put(mm);
	return 0;
}
