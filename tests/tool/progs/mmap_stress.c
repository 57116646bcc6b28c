/* SPDX-License-Identifier: MIT */
/*
 * mmap_stress [THREADS [ROUNDS]]: each thread maps 16 pages, touches them,
 * changes their protection and unmaps them, ROUNDS times (default 8
 * threads, 20000 rounds).  A benchmark workload for `umn trace --audit`.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static long rounds = 20000;

static void *worker(void *arg)
{
	size_t len = 16 * (size_t)sysconf(_SC_PAGESIZE);
	long i;

	(void)arg;
	for (i = 0; i < rounds; i++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("mmap");
			exit(1);
		}
		p[0] = 1;
		p[len - 1] = 1;
		mprotect(p, len, PROT_READ);
		munmap(p, len);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 8, i;
	pthread_t *t;

	if (argc > 2)
		rounds = atol(argv[2]);
	if (threads < 1 || threads > 1024 || rounds < 1) {
		fprintf(stderr, "usage: mmap_stress [THREADS [ROUNDS]]\n");
		return 2;
	}
	t = calloc((size_t)threads, sizeof(*t));
	for (i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, worker, NULL)) {
			perror("pthread_create");
			return 1;
		}
	for (i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("mmap_stress: %d threads x %ld rounds\n", threads, rounds);
	return 0;
}
