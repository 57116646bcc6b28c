/* SPDX-License-Identifier: MIT */
/*
 * The registration-cache tests' world: a managed address space whose
 * "pages" carry a mapping generation.  reg() records the generations of the
 * pages it registers (in the region's user data); an invalidation sent
 * through umn changes them.  A region handed out must carry the current
 * generations (fresh()): the oracle is the generation array, not umn.
 */
#ifndef UMN_TESTS_RC_COMMON_H
#define UMN_TESTS_RC_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <umn/umn.h>
#include <umn/regcache.h>
#include "harness.h"

#define PAGE 4096ul
#define NPAGES 8192
#define BASE 0x40000000ul

static unsigned long gen[NPAGES];
static struct umn_mm *mm;
static int regs, deregs;
static int fail_reg;		/* the next reg() returns this */
static void (*in_reg_hook)(struct umn_regcache_region *r);

struct my_region {
	struct umn_regcache_region r;
	unsigned long *gens;	/* one per page, recorded by reg() */
	unsigned long magic;
};
#define MAGIC 0x5eedf00dul

static void primary_unmap_flags(unsigned long first, unsigned long n,
				bool deferrable)
{
	struct umn_notifier_range r;

	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP,
				deferrable ? UMN_NOTIFIER_RANGE_DEFERRABLE : 0,
				mm, BASE + first * PAGE,
				BASE + (first + n) * PAGE);
	umn_mmap_read_lock(mm);
	if (deferrable)
		CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), 0);
	else
		umn_notifier_invalidate_range_start(&r);
	for (unsigned long p = first; p < first + n; p++)
		__atomic_add_fetch(&gen[p], 1, __ATOMIC_RELEASE);
	umn_notifier_invalidate_range_end(&r);
	umn_mmap_read_unlock(mm);
}

static inline void primary_unmap(unsigned long first, unsigned long n)
{
	primary_unmap_flags(first, n, false);
}

static int my_reg(void *ctx, struct umn_regcache_region *region)
{
	struct my_region *m = (struct my_region *)region;
	unsigned long np = region->len / PAGE;

	(void)ctx;
	CHECK(umn_regcache_region_data(region) == &m->gens);
	if (fail_reg) {
		int e = fail_reg;

		fail_reg = 0;
		return e;
	}
	m->gens = calloc(np, sizeof(m->gens[0]));
	if (!m->gens)
		return -ENOMEM;
	for (unsigned long i = 0; i < np; i++)
		m->gens[i] = __atomic_load_n(
			&gen[(region->start - BASE) / PAGE + i],
			__ATOMIC_ACQUIRE);
	m->magic = MAGIC;
	if (in_reg_hook)
		in_reg_hook(region);
	__atomic_add_fetch(&regs, 1, __ATOMIC_RELAXED);
	return 0;
}

static void my_dereg(void *ctx, struct umn_regcache_region *region)
{
	struct my_region *m = (struct my_region *)region;

	(void)ctx;
	CHECK_EQ(m->magic, MAGIC);
	m->magic = 0;
	free(m->gens);
	m->gens = NULL;
	__atomic_add_fetch(&deregs, 1, __ATOMIC_RELAXED);
}

static const struct umn_regcache_ops my_ops = { my_reg, my_dereg };

/* Does r carry the current generation of every page? */
static inline bool fresh(struct umn_regcache_region *region)
{
	struct my_region *m = (struct my_region *)region;

	if (m->magic != MAGIC)
		return false;
	for (unsigned long i = 0; i < region->len / PAGE; i++)
		if (m->gens[i] != __atomic_load_n(
			    &gen[(region->start - BASE) / PAGE + i],
			    __ATOMIC_ACQUIRE))
			return false;
	return true;
}

static inline struct umn_regcache *new_cache(unsigned long max_regions,
				      unsigned long max_bytes,
				      unsigned int flags)
{
	struct umn_regcache_params p = {
		.ops = &my_ops,
		.region_size = sizeof(struct my_region),
		.max_regions = max_regions,
		.max_bytes = max_bytes,
		.flags = flags,
	};
	struct umn_regcache *rc = umn_regcache_new(mm, &p);

	CHECK(rc != NULL);
	regs = deregs = 0;
	return rc;
}

static inline struct umn_regcache_stats stats_of(struct umn_regcache *rc)
{
	struct umn_regcache_stats st;

	CHECK_EQ(umn_regcache_stats(rc, &st), 0);
	return st;
}

/* The cache's one region was killed: after a flush it was counted as
 * invalidated once and deregistered once, nothing is left; then destroy. */
static inline void flush_killed_once(struct umn_regcache *rc)
{
	struct umn_regcache_stats st;

	CHECK_EQ(umn_regcache_flush(rc), 0);
	st = stats_of(rc);
	CHECK_EQ(st.invalidated, 1);
	CHECK_EQ(st.pending_dereg, 0);
	CHECK_EQ(st.regions, 0);
	CHECK_EQ(deregs, regs);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(deregs, regs);
}

/* Reports: counted; unexpected ones fail the test at the end.  The
 * cache's one report that membarrier(2) failed after registration (its
 * scans' backup, made wherever the first scan needs a barrier) is counted
 * apart, in fence_warns, for the tests that deny it. */
static int warns, expect_warns, fence_warns;
static void on_warn(const char *f, const char *m, void *arg)
{
	(void)arg;
	fprintf(stderr, "# report: %s: %s\n", f, m);
	if (strstr(m, "membarrier failed"))
		__atomic_add_fetch(&fence_warns, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&warns, 1, __ATOMIC_RELAXED);
}

static void watchdog_fired(int sig)
{
	static const char msg[] = "watchdog: the test hung\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(2);
}

/* Start the world: a managed address space, the report counter and a
 * watchdog well before ctest's timeout. */
static void rc_setup(unsigned int seconds)
{
	signal(SIGALRM, watchdog_fired);
	alarm(seconds);
	umn_set_warn_handler(on_warn, NULL);
	mm = umn_mm_new();
	CHECK(mm != NULL);
}

static void rc_teardown(void)
{
	CHECK_EQ(warns, expect_warns);
	CHECK_EQ(fence_warns, 0);
	CHECK_EQ(umn_mm_put(mm), 0);
}

#endif /* UMN_TESTS_RC_COMMON_H */
