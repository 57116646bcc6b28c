/* SPDX-License-Identifier: MIT */
/*
 * The calls glibc makes for the program: free() of large (mmapped) blocks,
 * realloc growing large blocks (mremap), heap shrinking and malloc_trim
 * (brk, madvise), thread creation and exit (stack mmap/mprotect/munmap and
 * the MADV_DONTNEED of an exiting thread's stack), and system() (a child
 * process and an exec'd shell).  From several threads.
 * Usage: alloc [THREADS] [ROUNDS]
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rounds = 3;

static void *grow_and_free(void *arg)
{
	size_t sz = 256 * 1024;
	int i, r;

	(void)arg;
	for (r = 0; r < rounds; r++) {
		char *big[8];
		char *p = malloc(sz);

		if (!p)
			return (void *)1;
		memset(p, 1, sz);
		for (i = 0; i < 5; i++) { /* realloc of an mmapped chunk: mremap */
			char *q = realloc(p, sz << (i + 1));

			if (!q) {
				free(p);
				return (void *)1;
			}
			p = q;
			memset(p, 2, sz << (i + 1));
		}
		free(p); /* munmap */
		for (i = 0; i < 8; i++) {
			big[i] = malloc((size_t)(i + 1) * 200 * 1024);
			if (big[i])
				memset(big[i], 3, (size_t)(i + 1) * 200 * 1024);
		}
		for (i = 0; i < 8; i++)
			free(big[i]);
	}
	return NULL;
}

static void *short_thread(void *arg)
{
	char buf[64 * 1024];

	memset(buf, (int)(long)arg, sizeof(buf)); /* dirty the stack */
	return (void *)(long)buf[100];
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 3, i, r;
	pthread_t t[64];
	pthread_attr_t attr;
	char *small[2000];

	if (argc > 2)
		rounds = atoi(argv[2]);
	if (threads > 64)
		threads = 64;
	for (i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, grow_and_free, NULL);
	grow_and_free(NULL);
	for (i = 0; i < threads; i++)
		pthread_join(t[i], NULL);

	/* short-lived threads: stacks are mapped, cached, trimmed, unmapped;
	 * an odd stack size defeats the stack cache */
	pthread_attr_init(&attr);
	for (r = 0; r < rounds; r++) {
		pthread_attr_setstacksize(&attr, (size_t)(256 + 64 * r) * 1024);
		for (i = 0; i < 4; i++)
			pthread_create(&t[i], &attr, short_thread, (void *)(long)i);
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
	}
	pthread_attr_destroy(&attr);

	/* the main heap: grow with many small blocks, free them all, trim */
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < 2000; i++) {
			small[i] = malloc(1000);
			if (small[i])
				memset(small[i], 4, 1000);
		}
		for (i = 1999; i >= 0; i--)
			free(small[i]);
		malloc_trim(0);
	}

	if (system("true") != 0)
		return 1;
	printf("alloc: done\n");
	return 0;
}
