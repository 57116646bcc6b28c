/* SPDX-License-Identifier: MIT */
/*
 * Child of bench_munmap for the umn modes (this executable links libumn,
 * whose event sources hook munmap; bench_munmap itself does not link it):
 *
 *   bench_munmap_umn self PAIRS      umn_mm_self() initialised, no subscription
 *   bench_munmap_umn self100k PAIRS  plus 100,000 interval subscriptions on
 *                                    umn_mm_self() (4 KiB each, inside a
 *                                    PROT_NONE reservation, so no munmap of
 *                                    the benchmark intersects them)
 *
 * Prints "ns_per_pair events" (events: invalidate() calls seen, expect 0 --
 * the sources report every munmap, but none intersects a subscription) and
 * the active sources on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <umn/umn.h>
#include "munmap_child.h"

#define NSUBS 100000ul

static unsigned long events;

static bool inv(struct umn_interval_notifier *s,
		const struct umn_notifier_range *r, unsigned long cur_seq)
{
	(void)r;
	umn_interval_set_seq(s, cur_seq);
	__atomic_add_fetch(&events, 1, __ATOMIC_RELAXED);
	return true;
}

static const struct umn_interval_notifier_ops sub_ops = { .invalidate = inv };

int main(int argc, char **argv)
{
	struct umn_mm *mm;
	struct umn_interval_notifier *subs = NULL;
	unsigned long pairs;
	char *region;
	double ns;

	if (argc != 3) {
		fprintf(stderr, "usage: %s self|self100k|self100k-nomask PAIRS\n", argv[0]);
		return 2;
	}
	pairs = strtoul(argv[2], NULL, 0);
	if (!strcmp(argv[1], "self100k-nomask"))	/* before the sources start */
		setenv("UMN_SELF_NOSIGMASK", "1", 1);
	mm = umn_mm_self();
	if (!mm) {
		perror("umn_mm_self");
		printf("-1 0\n");
		return 0;
	}
	if (!strncmp(argv[1], "self100k", 8)) {
		region = mmap(NULL, NSUBS * 4096, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			      0);
		subs = calloc(NSUBS, sizeof(*subs));
		if (region == MAP_FAILED || !subs)
			return 1;
		for (unsigned long i = 0; i < NSUBS; i++) {
			int ret = umn_interval_notifier_insert(&subs[i], mm,
				(unsigned long)region + i * 4096, 4096,
				&sub_ops);

			if (ret) {
				fprintf(stderr, "insert: %d\n", ret);
				return 1;
			}
		}
	}
	ns = munmap_child_measure(pairs);
	printf("%.3f %lu sources=0x%x has_notifiers=%d\n", ns, events,
	       umn_self_sources(), umn_mm_has_notifiers(mm));
	fflush(stdout);
	/* exit without removing: the process ends here */
	return 0;
}
