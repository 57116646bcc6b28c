/* SPDX-License-Identifier: MIT */
/*
 * The measuring loop shared by the munmap + mmap benchmark's child
 * processes (bench_munmap: bare and UCX; bench_munmap_umn: umn).  A child
 * pins itself to CPU 0, warms up, then times `pairs` munmap + mmap pairs of
 * one 4 KiB anonymous page in 5 batches and prints the median ns per pair.
 * The page is never touched: the pair is two system calls with no fault,
 * which is where a hook's overhead shows the most.
 *
 * Placement: the page is mapped at a fixed hint (not MAP_FIXED, which the
 * hooks would report as an unmap of what it replaces) in an area nothing
 * else uses, so it is a VMA of its own in every mode.  Left to the kernel,
 * it lands next to whatever anonymous mapping each process happens to have
 * and may merge with it, so that munmap must split a VMA in one mode and not
 * in another: that alone moved the pair by 0.8 us between processes.
 */
#ifndef UMN_BENCH_MUNMAP_CHILD_H
#define UMN_BENCH_MUNMAP_CHILD_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "bench.h"

#define MUNMAP_BATCHES 5

static inline void *munmap_child_map(void)
{
	void *hint = (void *)0x3f0000000000ul;
	void *p = mmap(hint, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	if (p != hint) {
		fprintf(stderr, "munmap child: mapped at %p, not at the hint\n",
			p);
		exit(1);
	}
	return p;
}

static inline double munmap_child_measure(unsigned long pairs)
{
	double per[MUNMAP_BATCHES];
	unsigned long batch = pairs / MUNMAP_BATCHES;
	void *p;

	bench_pin(0);
	p = munmap_child_map();
	for (unsigned long i = 0; i < pairs / 10 + 100; i++) {	/* warm-up */
		munmap(p, 4096);
		p = munmap_child_map();
	}
	for (int b = 0; b < MUNMAP_BATCHES; b++) {
		uint64_t t0 = bench_now_ns();

		for (unsigned long i = 0; i < batch; i++) {
			munmap(p, 4096);
			p = munmap_child_map();
		}
		per[b] = (double)(bench_now_ns() - t0) / (double)batch;
	}
	munmap(p, 4096);
	return bench_median(per, MUNMAP_BATCHES);
}

#endif /* UMN_BENCH_MUNMAP_CHILD_H */
