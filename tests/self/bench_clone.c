/* SPDX-License-Identifier: MIT */
/*
 * What the safety net's emulated clone costs (doc/sources.md): threads made
 * by a raw clone from outside libc (CLONE_VM|CLONE_THREAD..., a stack, no
 * TLS of their own) whose child exits at once, made and joined one after
 * the other.  Run with and without UMN_SELF_SUD=1.  Not a test.
 * Usage: bench_clone [THREADS]
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <umn/self.h>
#include "sud_common.h"

static volatile int ctid;

int main(int argc, char **argv)
{
	const long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			   CLONE_THREAD | CLONE_SYSVSEM | CLONE_CHILD_CLEARTID;
	int n = argc > 1 ? atoi(argv[1]) : 5000;
	size_t size = 64 << 10;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct timespec a, b;

	if (stack == MAP_FAILED || !umn_mm_self() || n <= 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++) {
		long t;

		ctid = 1;
		t = sud_raw_clone_exit(flags, stack + size, &ctid);
		if (t <= 0) {
			fprintf(stderr, "raw clone: %ld\n", t);
			return 1;
		}
		while (ctid)
			syscall(SYS_futex, &ctid, FUTEX_WAIT, 1, NULL, NULL, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%s: %.1f us per raw-clone thread (made, exited, joined)\n",
	       getenv("UMN_SELF_SUD") ? "net on" : "net off",
	       ((double)(b.tv_sec - a.tv_sec) * 1e9 +
		(double)(b.tv_nsec - a.tv_nsec)) / n / 1000);
	return 0;
}
