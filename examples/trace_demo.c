/* SPDX-License-Identifier: MIT */
/*
 * trace_demo: something for `umn trace` to watch (the README's first
 * command):
 *
 *     umn trace -- ./build/examples/trace_demo
 *
 * It frees and reallocs large blocks (glibc maps blocks of 128 KiB and more
 * with mmap, moves them with mremap and returns them with munmap), trims
 * the heap, and starts threads (their stacks are mapped, guarded with
 * mprotect and given back with madvise/munmap).  It does not call umn at
 * all: the preload library `umn trace` injects does.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *worker(void *arg)
{
	size_t size = (size_t)arg;
	char *p = malloc(size);
	char *q;

	if (!p)
		return NULL;
	memset(p, 1, size);
	q = realloc(p, 4 * size); /* mremap of an mmapped block */
	if (q) {
		memset(q, 2, 4 * size);
		p = q;
	}
	free(p); /* munmap */
	return NULL;
}

int main(void)
{
	pthread_t t[3];
	char *small[1000];
	int i;

	/* large blocks in the main thread */
	worker((void *)(size_t)(1 << 20));

	/* threads: stacks are mapped, protected and released */
	for (i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, worker, (void *)(size_t)(256 << 10));
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);

	/* the heap grows with small blocks and shrinks back */
	for (i = 0; i < 1000; i++)
		small[i] = malloc(4000);
	for (i = 999; i >= 0; i--)
		free(small[i]);
	malloc_trim(0);

	printf("trace_demo: done\n");
	return 0;
}
