/* SPDX-License-Identifier: MIT */
/*
 * 10. Invalidation at 1e5 regions of the registration cache: umn_regcache
 *     holding n = 1e3 or 1e5 registered 4 KiB regions (8 KiB apart, on a
 *     umn_mm_new() address space, dummy registration), one unmap event over
 *     one pseudo-random region (a non-blockable deferrable start/end under
 *     the mmap read lock, what umn's sources deliver), then get + put of it
 *     (the dead region is deregistered, a new one registered), per round
 *     trip.  The two caches are measured in interleaved rounds; the row
 *     gives n = 1e5 against n = 1e3 of the same run (info: the event walks
 *     the interval index of the address space and the cache's own index,
 *     both of n regions).  10e: the event alone on a region already dead
 *     (its subscription still in the index until the next get).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <umn/umn.h>
#include <umn/regcache.h>
#include "bench.h"

#define RLEN	4096ul
#define SPAN	8192ul
#define BASE	0x200000000ul

struct rcspace {
	struct umn_mm *mm;
	struct umn_regcache *rc;
	unsigned long n;
	unsigned long rng;
};

static int dummy_reg(void *ctx, struct umn_regcache_region *r)
{
	(void)ctx;
	(void)r;
	return 0;
}

static void dummy_dereg(void *ctx, struct umn_regcache_region *r)
{
	(void)ctx;
	(void)r;
}

static const struct umn_regcache_ops ops = { dummy_reg, dummy_dereg };

static unsigned long next_rand(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void unmap_event(struct umn_mm *mm, unsigned long a)
{
	struct umn_notifier_range range;

	umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP,
				UMN_NOTIFIER_RANGE_DEFERRABLE, mm, a, a + RLEN);
	umn_mmap_read_lock(mm);
	if (umn_notifier_invalidate_range_start_nonblock(&range) == 0)
		umn_notifier_invalidate_range_end(&range);
	umn_mmap_read_unlock(mm);
}

static int get_put(struct umn_regcache *rc, unsigned long a)
{
	struct umn_regcache_region *r;
	int ret = umn_regcache_get(rc, a, RLEN, &r);

	if (ret)
		return ret;
	umn_regcache_put(rc, r);
	return 0;
}

static void run_roundtrip(void *arg, uint64_t iters)
{
	struct rcspace *sp = arg;

	for (uint64_t i = 0; i < iters; i++) {
		unsigned long a = BASE + (next_rand(&sp->rng) % sp->n) * SPAN;

		unmap_event(sp->mm, a);
		if (get_put(sp->rc, a))
			abort();
	}
}

static void run_event(void *arg, uint64_t iters)
{
	struct rcspace *sp = arg;

	for (uint64_t i = 0; i < iters; i++)
		unmap_event(sp->mm,
			    BASE + (next_rand(&sp->rng) % sp->n) * SPAN);
}

static int build(struct rcspace *sp, unsigned long n)
{
	struct umn_regcache_params p = { .ops = &ops };

	sp->n = n;
	sp->rng = 0x2545f4914f6cdd1dul ^ n;
	sp->mm = umn_mm_new();
	if (!sp->mm)
		return -ENOMEM;
	sp->rc = umn_regcache_new(sp->mm, &p);
	if (!sp->rc)
		return -errno;
	/* Register in a shuffled order, as a real cache fills. */
	for (unsigned long i = 0; i < n; i++) {
		unsigned long k = (i * 0x9e3779b1ul) % n;
		int ret = get_put(sp->rc, BASE + k * SPAN);

		if (ret)
			return ret;
	}
	return 0;
}

static void refill(struct rcspace *sp)
{
	for (unsigned long i = 0; i < sp->n; i++)
		if (get_put(sp->rc, BASE + i * SPAN))
			abort();
}

int main(int argc, char **argv)
{
	struct rcspace sp[2];
	struct bench_case c[2];
	static const char *labels[2] = { "1e3 regions", "1e5 regions" };
	static const unsigned long sizes[2] = { 1000, 100000 };
	struct umn_regcache_stats st;
	int ret;

	bench_init(argc, argv);
	bench_pin(0);
	printf("== 10. registration cache: invalidation at 1e5 regions\n");
	for (int i = 0; i < 2; i++) {
		ret = build(&sp[i], sizes[i]);
		if (ret) {
			fprintf(stderr, "building %s: %s\n", labels[i],
				strerror(-ret));
			return 1;
		}
		c[i] = (struct bench_case){ .label = labels[i],
					    .fn = run_roundtrip,
					    .arg = &sp[i] };
	}
	bench_interleave(c, 2, bench_rounds(), bench_quick() ? 10e6 : 30e6);
	bench_print_cases(stdout, c, 2);
	if (umn_regcache_stats(sp[1].rc, &st) == 0)
		printf("  1e5 cache: %lu regions, %lu invalidated, %lu misses\n",
		       st.regions, st.invalidated, st.misses);
	bench_emit(&(struct bench_row){
		.id = "10", .name = "regcache: unmap event + get, 1e5 regions",
		.subject = c[1].label, .subject_val = c[1].median,
		.baseline = c[0].label, .baseline_val = c[0].median,
		.unit = "ns", .ratio = c[1].median / c[0].median,
		.target_max = BENCH_NO_TARGET,
		.note = "one region of n: event, then get+put re-registers" });

	/* The event alone: every region dead once, then events on them. */
	for (int i = 0; i < 2; i++) {
		refill(&sp[i]);
		for (unsigned long k = 0; k < sp[i].n; k++)
			unmap_event(sp[i].mm, BASE + k * SPAN);
		c[i].fn = run_event;
	}
	bench_interleave(c, 2, bench_rounds(), bench_quick() ? 10e6 : 30e6);
	bench_print_cases(stdout, c, 2);
	bench_emit(&(struct bench_row){
		.id = "10e", .name = "regcache: unmap event alone, 1e5 regions",
		.subject = c[1].label, .subject_val = c[1].median,
		.baseline = c[0].label, .baseline_val = c[0].median,
		.unit = "ns", .ratio = c[1].median / c[0].median,
		.target_max = BENCH_NO_TARGET,
		.note = "start+end over one region already dead (k = 1 of n)" });
	for (int i = 0; i < 2; i++) {
		refill(&sp[i]);
		umn_regcache_destroy(sp[i].rc);
		umn_mm_put(sp[i].mm);
	}
	return 0;
}
