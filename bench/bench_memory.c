/* SPDX-License-Identifier: MIT */
/*
 * 7. Memory: bytes per interval subscription and per address space, beside
 *    UCX 1.13's registration cache.
 *
 *  7a  per subscription: umn allocates nothing per interval subscription
 *      (it is embedded in the subscriber's object); the figure is the
 *      subscriber object holding only a struct umn_interval_notifier,
 *      malloc'd one by one: heap bytes per object (sizeof + glibc's chunk
 *      overhead), measured over N = 100k.  Baseline: a ucs_rcache with N
 *      cached regions (dummy mem_reg/mem_dereg, 4 KiB regions 8 KiB apart so
 *      they never merge): (heap + resident-set growth) / N, which counts the
 *      region (sizeof(ucs_rcache_region_t) from its header) plus UCX's radix
 *      page table.  UCX allocates from malloc and from mmap'd pools, so
 *      the resident-set growth is used for both sides in the ratio.
 *  7b  per address space: umn_mm_new() plus the subscriptions object that
 *      the first interval insert allocates, averaged over 1000 address
 *      spaces.  Baseline: an empty ucs_rcache (ucs_rcache_create), the
 *      closest UCX object (UCX has one address space: the process).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <umn/umn.h>
#include "bench.h"
#if BENCH_HAVE_UCX
#include "ucx_rcache.h"
#endif

#define N 100000ul
#define NMM 1000

struct sub_only {
	struct umn_interval_notifier sub;
};

static bool inv(struct umn_interval_notifier *s,
		const struct umn_notifier_range *r, unsigned long cur_seq)
{
	(void)r;
	umn_interval_set_seq(s, cur_seq);
	return true;
}

static const struct umn_interval_notifier_ops sub_ops = { .invalidate = inv };

int main(int argc, char **argv)
{
	struct sub_only **subs = calloc(N, sizeof(*subs));
	struct umn_mm *mms[NMM];
	struct umn_interval_notifier *first = calloc(NMM, sizeof(*first));
	size_t h0, h1, r0, r1, mm_heap, subs_heap;
	double umn_heap_per, umn_rss_per, ucx_heap_per = -1, ucx_rss_per = -1;
	double ucx_rcache_bytes = -1;
	struct umn_mm *mm;
	char note[240];

	bench_init(argc, argv);
	if (!subs || !first)
		return 1;
	/* Arenas stay in the main heap; trim nothing in between. */
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	mallopt(M_MMAP_THRESHOLD, 1 << 30);
	printf("== 7. memory\n");
	printf("  sizeof(struct umn_interval_notifier) = %zu, sizeof(struct "
	       "umn_mm) = %zu\n", sizeof(struct umn_interval_notifier),
	       sizeof(struct umn_mm));

	/* 7a, umn */
	mm = umn_mm_new();
	if (!mm)
		return 1;
	memset(subs, 0, N * sizeof(*subs));	/* fault the pointer array in */
	h0 = bench_heap_in_use();
	r0 = bench_rss_bytes();
	for (unsigned long i = 0; i < N; i++) {
		subs[i] = calloc(1, sizeof(*subs[i]));
		if (!subs[i] || umn_interval_notifier_insert(&subs[i]->sub, mm,
				0x400000000ul + i * 8192, 4096, &sub_ops))
			return 1;
	}
	h1 = bench_heap_in_use();
	r1 = bench_rss_bytes();
	umn_heap_per = (double)(h1 - h0) / N;
	umn_rss_per = (double)(r1 - r0) / N;
	printf("  umn: %lu subscriptions: heap +%zu B (%.1f B each), RSS +%zu B "
	       "(%.1f B each); the first insert also allocated the "
	       "subscriptions object\n", N, h1 - h0, umn_heap_per, r1 - r0,
	       umn_rss_per);

	/* 7b, umn */
	h0 = bench_heap_in_use();
	for (int i = 0; i < NMM; i++)
		if (!(mms[i] = umn_mm_new()))
			return 1;
	h1 = bench_heap_in_use();
	mm_heap = h1 - h0;
	for (int i = 0; i < NMM; i++)
		if (umn_interval_notifier_insert(&first[i], mms[i], 0x1000,
						 4096, &sub_ops))
			return 1;
	subs_heap = bench_heap_in_use() - h1;
	printf("  umn: per address space: umn_mm_new %.1f B + subscriptions "
	       "object %.1f B (heap, incl. malloc overhead)\n",
	       (double)mm_heap / NMM, (double)subs_heap / NMM);

#if BENCH_HAVE_UCX
	{
		ucs_rcache_t *rc;
		char *area = mmap(NULL, N * 8192, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				  -1, 0);
		ucs_rcache_region_t *reg;
		size_t e0;

		printf("  UCX: sizeof(ucs_rcache_region_t) = %zu\n",
		       sizeof(ucs_rcache_region_t));
		e0 = bench_heap_in_use();
		rc = bench_ucx_rcache_new();
		if (rc && area != MAP_FAILED) {
			ucx_rcache_bytes = (double)(bench_heap_in_use() - e0);
			h0 = bench_heap_in_use();
			r0 = bench_rss_bytes();
			for (unsigned long i = 0; i < N; i++) {
				if (ucs_rcache_get(rc, area + i * 8192, 4096,
						   PROT_READ | PROT_WRITE, NULL,
						   &reg) != UCS_OK) {
					fprintf(stderr, "ucs_rcache_get failed\n");
					return 1;
				}
				ucs_rcache_region_put(rc, reg);
			}
			h1 = bench_heap_in_use();
			r1 = bench_rss_bytes();
			ucx_heap_per = (double)(h1 - h0) / N;
			ucx_rss_per = (double)(r1 - r0) / N;
			printf("  UCX: %lu cached regions: heap +%zu B (%.1f B "
			       "each), RSS +%zu B (%.1f B each); empty rcache "
			       "%.0f B of heap\n", N, h1 - h0, ucx_heap_per,
			       r1 - r0, ucx_rss_per, ucx_rcache_bytes);
		} else {
			printf("  UCX: ucs_rcache_create failed\n");
		}
	}
#else
	printf("  UCX: not available\n");
#endif
	snprintf(note, sizeof(note),
		 "RSS growth / N=100k; heap: umn %.1f B, UCX %.1f B; sizeof: "
		 "umn_interval_notifier %zu, ucs_rcache_region_t %s",
		 umn_heap_per, ucx_heap_per,
		 sizeof(struct umn_interval_notifier),
#if BENCH_HAVE_UCX
		 sizeof(ucs_rcache_region_t) == 80 ? "80" : "(see log)"
#else
		 "n/a (UCX: not available)"
#endif
		 );
	bench_emit(&(struct bench_row){
		.id = "7a", .name = "bytes per interval subscription",
		.subject = "umn subscription, malloc'd alone",
		.subject_val = umn_rss_per,
		.baseline = "UCX rcache region + page table",
		.baseline_val = ucx_rss_per, .unit = "B",
		.ratio = ucx_rss_per > 0 ? umn_rss_per / ucx_rss_per : -1,
		.target_max = BENCH_NO_TARGET, .note = note });
	snprintf(note, sizeof(note), "umn_mm %.0f B + subscriptions object "
		 "%.0f B (heap, incl. malloc overhead; avg of %d)",
		 (double)mm_heap / NMM, (double)subs_heap / NMM, NMM);
	bench_emit(&(struct bench_row){
		.id = "7b", .name = "bytes per address space",
		.subject = "umn_mm + subscriptions object",
		.subject_val = (double)(mm_heap + subs_heap) / NMM,
		.baseline = "empty ucs_rcache (heap)",
		.baseline_val = ucx_rcache_bytes, .unit = "B",
		.ratio = ucx_rcache_bytes > 0 ?
			 (double)(mm_heap + subs_heap) / NMM / ucx_rcache_bytes :
			 -1,
		.target_max = BENCH_NO_TARGET, .note = note });
	return 0;
}
