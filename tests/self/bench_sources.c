/* SPDX-License-Identifier: MIT */
/*
 * What the event sources cost: mmap + touch + munmap of a 4 KiB page.
 *   self_bench_bare              no libumn at all (baseline)
 *   self_bench none              libumn linked, sources not installed
 *   self_bench patch             patch source, nobody subscribed
 *   self_bench interpose         interposition source, nobody subscribed
 *   self_bench patch-sub         patch source, a classic subscription and
 *                                an interval subscription elsewhere
 * Prints ns per pair (best of 5 runs of N pairs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#ifndef BENCH_BARE
#include <umn/interval.h>
#include <umn/notifier.h>
#include <umn/self.h>
#endif

#define N 100000

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double run(void)
{
	double t0 = now();

	for (int i = 0; i < N; i++) {
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			abort();
		p[0] = 1;
		if (munmap(p, 4096))
			abort();
	}
	return (now() - t0) / N;
}

#ifndef BENCH_BARE
static int nop_start(struct umn_notifier *s, const struct umn_notifier_range *r)
{
	(void)s;
	(void)r;
	return 0;
}

static const struct umn_notifier_ops nop_ops = { .invalidate_range_start = nop_start };

static bool nop_inv(struct umn_interval_notifier *s,
		    const struct umn_notifier_range *r, unsigned long seq)
{
	(void)r;
	umn_interval_set_seq(s, seq);
	return true;
}

static const struct umn_interval_notifier_ops nop_iops = { .invalidate = nop_inv };
#endif

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "bare";
	double best = 1e30;

#ifndef BENCH_BARE
	static struct umn_notifier sub = { .ops = &nop_ops };
	static struct umn_interval_notifier isub;

	if (!strcmp(mode, "patch") || !strcmp(mode, "patch-sub")) {
		if (umn_self_init(UMN_SELF_PATCH))
			return 77;
	} else if (!strcmp(mode, "interpose")) {
		if (umn_self_init(UMN_SELF_INTERPOSE))
			return 77;
	}
	if (!strcmp(mode, "patch-sub")) {
		if (umn_notifier_register(&sub, umn_mm_self()) ||
		    umn_interval_notifier_insert(&isub, umn_mm_self(), 4096,
						 4096, &nop_iops))
			return 1;
	}
#endif
	for (int r = 0; r < 5; r++) {
		double t = run();

		best = t < best ? t : best;
	}
	printf("%-10s %7.0f ns per mmap+touch+munmap of 4 KiB\n", mode, best);
	return 0;
}
