/* SPDX-License-Identifier: MIT */
/*
 * 8. A memory-registration cache: umn's <umn/regcache.h> against UCX
 *    1.13's ucs_rcache, both with dummy (no-op) registration, in the same
 *    process and run.  Targets from issue 13: a hit at most 0.3x UCX's with
 *    1e3 regions and 0.5x with 1e5, a miss at most 1.0x, bytes per region
 *    at most UCX's.
 *
 *    8a/8b  get + put of a cached region (hit), N = 1e3 / 1e5 regions of
 *           4 KiB, 8 KiB apart, looked up in a pseudo-random order that is
 *           the same for both caches.
 *    8c     miss: get + put of a region never seen before (registration,
 *           index insert; for umn also the interval subscription insert),
 *           20k fresh regions per round, a fresh cache each round.
 *    8d     bytes per cached region: resident-set growth over the 99k
 *           regions added between 8a and 8b, divided by their number (UCX
 *           allocates from mmap'd pools as well as malloc, so RSS is used
 *           for both; the heap growth is printed too).
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <umn/umn.h>
#include "bench.h"
#include <umn/regcache.h>
#if BENCH_HAVE_UCX
#include "ucx_rcache.h"
#endif

#define SPAN 8192ul
#define MISSES 20000ul

static unsigned long area;		/* PROT_NONE reservation */
static unsigned long *order;		/* lookup order (indices) */
static unsigned long norder;

/* ---- umn ---- */

static int umn_reg(void *ctx, struct umn_regcache_region *region)
{
	(void)ctx; (void)region;
	return 0;
}

static void umn_dereg(void *ctx, struct umn_regcache_region *region)
{
	(void)ctx; (void)region;
}

static const struct umn_regcache_ops umn_ops = { umn_reg, umn_dereg };
static const struct umn_regcache_params umn_params = { .ops = &umn_ops };

struct umn_ctx {
	struct umn_regcache *rc;
	unsigned long n;
};

static void run_umn_hit(void *arg, uint64_t iters)
{
	struct umn_ctx *c = arg;

	for (uint64_t i = 0; i < iters; i++) {
		struct umn_regcache_region *r;
		unsigned long idx = order[i % norder] % c->n;

		if (umn_regcache_get(c->rc, area + idx * SPAN, 4096, &r))
			abort();
		umn_regcache_put(c->rc, r);
	}
}

static double umn_miss_round(struct umn_mm *mm)
{
	struct umn_regcache *rc = umn_regcache_new(mm, &umn_params);
	double t0, t1;

	t0 = bench_now_ns();
	for (unsigned long i = 0; i < MISSES; i++) {
		struct umn_regcache_region *r;

		if (umn_regcache_get(rc, area + i * SPAN, 4096, &r))
			abort();
		umn_regcache_put(rc, r);
	}
	t1 = bench_now_ns();
	umn_regcache_destroy(rc);
	return (t1 - t0) / MISSES;
}

/* ---- UCX ---- */
#if BENCH_HAVE_UCX

struct ucx_ctx {
	ucs_rcache_t *rc;
	unsigned long n;
};

static void run_ucx_hit(void *arg, uint64_t iters)
{
	struct ucx_ctx *c = arg;

	for (uint64_t i = 0; i < iters; i++) {
		ucs_rcache_region_t *r;
		unsigned long idx = order[i % norder] % c->n;

		if (ucs_rcache_get(c->rc, (void *)(area + idx * SPAN), 4096,
				   PROT_READ | PROT_WRITE, NULL, &r) != UCS_OK)
			abort();
		ucs_rcache_region_put(c->rc, r);
	}
}

static double ucx_miss_round(void)
{
	ucs_rcache_t *rc = bench_ucx_rcache_new();
	double t0, t1;

	if (!rc)
		return -1;
	t0 = bench_now_ns();
	for (unsigned long i = 0; i < MISSES; i++) {
		ucs_rcache_region_t *r;

		if (ucs_rcache_get(rc, (void *)(area + i * SPAN), 4096,
				   PROT_READ | PROT_WRITE, NULL, &r) != UCS_OK)
			abort();
		ucs_rcache_region_put(rc, r);
	}
	t1 = bench_now_ns();
	ucs_rcache_destroy(rc);
	return (t1 - t0) / MISSES;
}
#endif

/* bytes per region added by the last warm(): RSS and heap, umn and UCX */
static double umn_rss_per, umn_heap_per, ucx_rss_per = -1, ucx_heap_per = -1;

/* Fill both caches with regions 0..n-1 (each got and put once). */
static void warm(struct umn_ctx *u, void *x, unsigned long n)
{
	unsigned long added = n - u->n;
	size_t h0 = bench_heap_in_use(), r0 = bench_rss_bytes();

	u->n = n;
	for (unsigned long i = 0; i < n; i++) {
		struct umn_regcache_region *r;

		if (umn_regcache_get(u->rc, area + i * SPAN, 4096, &r))
			abort();
		umn_regcache_put(u->rc, r);
	}
	umn_heap_per = (double)(bench_heap_in_use() - h0) / added;
	umn_rss_per = (double)(bench_rss_bytes() - r0) / added;
#if BENCH_HAVE_UCX
	{
		struct ucx_ctx *c = x;

		h0 = bench_heap_in_use();
		r0 = bench_rss_bytes();
		c->n = n;
		for (unsigned long i = 0; i < n; i++) {
			ucs_rcache_region_t *r;

			if (ucs_rcache_get(c->rc, (void *)(area + i * SPAN),
					   4096, PROT_READ | PROT_WRITE, NULL,
					   &r) != UCS_OK)
				abort();
			ucs_rcache_region_put(c->rc, r);
		}
		ucx_heap_per = (double)(bench_heap_in_use() - h0) / added;
		ucx_rss_per = (double)(bench_rss_bytes() - r0) / added;
	}
#else
	(void)x;
#endif
}

static void hit_row(const char *id, const char *name, struct umn_ctx *u,
		    void *x, double target)
{
#if BENCH_HAVE_UCX
	struct bench_case c[2] = {
		{ .label = "UCX 1.13 ucs_rcache get+put", .fn = run_ucx_hit,
		  .arg = x },
		{ .label = "umn regcache get+put", .fn = run_umn_hit, .arg = u },
	};

	bench_interleave(c, 2, bench_rounds(), bench_quick() ? 5e6 : 20e6);
	bench_print_cases(stdout, c, 2);
	bench_emit(&(struct bench_row){
		.id = id, .name = name, .subject = c[1].label,
		.subject_val = c[1].median, .baseline = c[0].label,
		.baseline_val = c[0].median, .unit = "ns",
		.ratio = bench_round_ratio(&c[1], &c[0]),
		.target_max = target,
		.note = "dummy registration; same lookup order for both" });
#else
	(void)u; (void)x; (void)target;
	bench_emit(&(struct bench_row){
		.id = id, .name = name, .subject = "umn regcache get+put",
		.subject_val = -1, .baseline = "UCX: not available",
		.baseline_val = -1, .unit = "ns", .ratio = -1,
		.target_max = BENCH_NO_TARGET, .note = "" });
#endif
}

int main(int argc, char **argv)
{
	struct umn_mm *mm;
	struct umn_ctx u;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	double um[BENCH_MAX_ROUNDS], ux[BENCH_MAX_ROUNDS];
	int rounds;
#if BENCH_HAVE_UCX
	struct ucx_ctx x;
#endif
	void *xp = NULL;

	bench_init(argc, argv);
	area = (unsigned long)mmap(NULL, 100000 * SPAN, PROT_NONE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				   -1, 0);
	norder = 1 << 16;
	order = malloc(norder * sizeof(*order));
	mm = umn_mm_new();
	if (area == (unsigned long)MAP_FAILED || !order || !mm)
		return 1;
	for (unsigned long i = 0; i < norder; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		order[i] = rng;
	}
	printf("== 8. registration cache: umn regcache vs UCX ucs_rcache\n");
	u.rc = umn_regcache_new(mm, &umn_params);
	if (!u.rc)
		return 1;
#if BENCH_HAVE_UCX
	x.rc = bench_ucx_rcache_new();
	if (!x.rc) {
		fprintf(stderr, "ucs_rcache_create failed\n");
		return 1;
	}
	xp = &x;
#endif
	u.n = 0;
	warm(&u, xp, 1000);
	hit_row("8a", "regcache hit, 1e3 regions", &u, xp, 0.3);
	warm(&u, xp, 100000);
	printf("  bytes per region (99k added): umn RSS %.1f B heap %.1f B; "
	       "UCX RSS %.1f B heap %.1f B\n", umn_rss_per, umn_heap_per,
	       ucx_rss_per, ucx_heap_per);
	hit_row("8b", "regcache hit, 1e5 regions", &u, xp, 0.5);
	umn_regcache_destroy(u.rc);
#if BENCH_HAVE_UCX
	ucs_rcache_destroy(x.rc);
#endif

	rounds = bench_quick() ? 3 : bench_rounds();
	for (int r = 0; r < rounds; r++) {
#if BENCH_HAVE_UCX
		ux[r] = ucx_miss_round();
#else
		ux[r] = -1;
#endif
		um[r] = umn_miss_round(mm);
	}
	{
		double mu = bench_median(um, rounds), mx = bench_median(ux, rounds);

		printf("  miss: umn %.1f ns, UCX %.1f ns (medians of %d rounds of "
		       "%lu fresh regions)\n", mu, mx, rounds, MISSES);
		bench_emit(&(struct bench_row){
			.id = "8c", .name = "regcache miss (fresh region)",
			.subject = "umn regcache get+put of a new region",
			.subject_val = mu,
			.baseline = "UCX 1.13 ucs_rcache, same",
			.baseline_val = mx, .unit = "ns",
			.ratio = mx > 0 ? mu / mx : -1,
			.target_max = 1.0,
			.note = "umn: + one interval subscription insert" });
	}
	{
		char note[160];

		snprintf(note, sizeof(note), "RSS growth / 99k regions; heap: "
			 "umn %.1f B, UCX %.1f B", umn_heap_per, ucx_heap_per);
		bench_emit(&(struct bench_row){
			.id = "8d", .name = "regcache bytes per region",
			.subject = "umn regcache region (no user data)",
			.subject_val = umn_rss_per,
			.baseline = "UCX rcache region + page table",
			.baseline_val = ucx_rss_per, .unit = "B",
			.ratio = ucx_rss_per > 0 ? umn_rss_per / ucx_rss_per : -1,
			.target_max = 1.0, .note = note });
	}
	umn_mm_put(mm);
	free(order);
	return 0;
}
